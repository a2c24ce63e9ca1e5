"""A 1 GB upload streams through with flat memory (fulcrum's RSS sampled during the
transfer stays within a bound of its RSS at start); also chunked, and echo both ways."""
import threading

import harness as h

SIZE = h.sized(1 << 30, 256 << 20)
BOUND_KB = h.sized(64 * 1024, 160 * 1024)


def upload(port, pid, path, total, headers, encode, timeout=120):
    peak = [0]
    result = {}
    with h.Conn(port, timeout=timeout) as c:
        c.send(h.build_request("POST", path, headers))

        head = []

        def keep_head(b):  # keep the first kB (the /sink JSON), count the rest
            if sum(map(len, head)) < 1024:
                head.append(b)

        def reader():
            try:
                r = c.read_response(sink=keep_head, timeout=timeout)
                r.body = b"".join(head)
                result["r"] = r
            except Exception as ex:
                result["err"] = ex

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        chunk = b"u" * (1 << 20)
        for i in range(total >> 20):
            c.send(encode(chunk))
            if i % 8 == 0:
                peak[0] = max(peak[0], h.rss_kb(pid))
        c.send(encode(None))
        t.join(timeout)
    if "err" in result:
        raise result["err"]
    h.check("r" in result, "no response to the upload")
    return result["r"], peak[0]


@h.test(timeout=150)
def upload_content_length_flat_memory():
    _, f = h.warm_proxy()
    rss0 = f.rss_kb()
    r, peak = upload(f.port, f.pid, "/sink", SIZE, [("Content-Length", str(SIZE))],
                     lambda b: b if b is not None else b"")
    h.eq(r.status, 200, "status")
    h.eq(r.json()["body_bytes"], SIZE, "backend received every byte")
    h.check(peak - rss0 < BOUND_KB, "fulcrum RSS grew by %d kB during a %d MB upload (bound %d kB)"
            % (peak - rss0, SIZE >> 20, BOUND_KB))


@h.test(timeout=150)
def upload_chunked_flat_memory():
    _, f = h.warm_proxy()
    rss0 = f.rss_kb()
    size = SIZE // 4
    r, peak = upload(f.port, f.pid, "/sink", size, [("Transfer-Encoding", "chunked")],
                     lambda b: (b"%x\r\n" % len(b) + b + b"\r\n") if b is not None else b"0\r\n\r\n")
    h.eq(r.status, 200, "status")
    h.eq(r.json()["body_bytes"], size, "backend received every byte")
    h.check(peak - rss0 < BOUND_KB, "fulcrum RSS grew by %d kB during a chunked upload" % (peak - rss0))


@h.test(timeout=150)
def echo_both_ways_flat_memory():
    _, f = h.warm_proxy()
    rss0 = f.rss_kb()
    size = SIZE // 4
    r, peak = upload(f.port, f.pid, "/echo", size, [("Content-Length", str(size))],
                     lambda b: b if b is not None else b"")
    h.eq(r.status, 200, "status")
    h.eq(r.body_len, size, "echoed every byte")
    h.check(peak - rss0 < BOUND_KB, "fulcrum RSS grew by %d kB during echo" % (peak - rss0))


h.main()
