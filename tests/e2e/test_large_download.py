"""A 1 GB download streams through with flat memory; a slow reader is met with
backpressure (fulcrum does not buffer what the backend sends)."""
import time

import harness as h

SIZE = h.sized(1 << 30, 256 << 20)
BOUND_KB = h.sized(64 * 1024, 160 * 1024)


class Sampler:
    def __init__(self, pid):
        self.pid = pid
        self.n = 0
        self.bytes = 0
        self.peak = 0
        self.first = b""

    def __call__(self, b):
        if len(self.first) < 52:
            self.first += b[: 52 - len(self.first)]
        self.bytes += len(b)
        self.n += 1
        if self.n % 64 == 0:
            self.peak = max(self.peak, h.rss_kb(self.pid))


@h.test(timeout=150)
def download_content_length_flat_memory():
    _, f = h.warm_proxy()
    rss0 = f.rss_kb()
    s = Sampler(f.pid)
    r = h.get(f.port, "/bytes/%d" % SIZE, sink=s, timeout=120)
    h.eq((r.status, r.body_len), (200, SIZE), "download")
    h.check(s.peak > 0, "fulcrum's RSS was sampled during the download")
    h.eq(s.first, b"abcdefghijklmnopqrstuvwxyz" * 2, "content")
    h.check(s.peak - rss0 < BOUND_KB, "fulcrum RSS grew by %d kB during a %d MB download (bound %d kB)"
            % (s.peak - rss0, SIZE >> 20, BOUND_KB))


@h.test(timeout=150)
def download_chunked_flat_memory():
    _, f = h.warm_proxy()
    rss0 = f.rss_kb()
    s = Sampler(f.pid)
    size = SIZE // 4
    r = h.get(f.port, "/bytes/%d?chunked=1" % size, sink=s, timeout=120)
    h.eq((r.status, r.body_len), (200, size), "chunked download")
    h.check(s.peak > 0, "fulcrum's RSS was sampled during the download")
    h.check(s.peak - rss0 < BOUND_KB, "fulcrum RSS grew by %d kB during a chunked download" % (s.peak - rss0))


@h.test(timeout=60)
def slow_reader_backpressure():
    _, f = h.warm_proxy()
    rss0 = f.rss_kb()
    size = 512 << 20
    with h.Conn(f.port, timeout=30) as c:
        c.sock.setsockopt(h.socket.SOL_SOCKET, h.socket.SO_RCVBUF, 65536)
        c.send(h.build_request("GET", "/bytes/%d" % size))
        c._fill(time.monotonic() + 5)  # the head and some body arrive
        time.sleep(2.0 * h.SLOW)  # then the client stalls
        grown = f.rss_kb() - rss0
        h.check(grown < 32 * 1024, "with a stalled client fulcrum RSS grew by %d kB: it must stop reading "
                "from the backend" % grown)
    h.eq(h.get(f.port, "/after").status, 200, "proxy fine after the client went away")


h.main()
