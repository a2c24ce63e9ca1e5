"""fulcrum-echo itself (the backend every other test relies on), and the harness."""
import signal
import time

import harness as h


@h.test
def describe_json():
    e = h.Echo(name="e1")
    r = h.get(e.port, "/x?y=1", headers=[("X-A", "1"), ("X-A", "2"), ("X-Q", 'a"b\\c')])
    h.eq(r.status, 200, "status")
    h.eq(r.header("content-type"), "application/json", "content-type")
    h.eq(r.header("x-echo-name"), "e1", "X-Echo-Name")
    j = r.json()
    h.eq(j["name"], "e1", "name")
    h.eq(j["method"], "GET", "method")
    h.eq(j["path"], "/x?y=1", "path")
    h.eq(j["proto"], "HTTP/1.1", "proto")
    h.eq(j["headers"]["x-a"], "1, 2", "joined header")
    h.eq(j["headers"]["x-q"], 'a"b\\c', "escaped header")
    h.eq(j["headers"]["host"], "localhost", "host")
    h.eq(j["body_bytes"], 0, "body_bytes")


@h.test
def endpoints():
    e = h.Echo()
    h.eq(h.get(e.port, "/health").body, b"ok", "/health")
    r = h.get(e.port, "/status/204")
    h.eq((r.status, r.body), (204, b""), "/status/204")
    r = h.get(e.port, "/status/418")
    h.eq((r.status, r.body), (418, b"418\n"), "/status/418")
    h.eq(h.get(e.port, "/status/101").status, 400, "1xx refused")
    r = h.get(e.port, "/bytes/100000")
    h.eq(r.body_len, 100000, "/bytes length")
    h.check(r.body[:28] == b"abcdefghijklmnopqrstuvwxyzab", "pattern")
    h.check(all(r.body[i] == 97 + i % 26 for i in range(0, 100000, 997)), "pattern continues")
    r = h.get(e.port, "/bytes/300000?chunked=1")
    h.check(r.chunked and r.body_len == 300000, "chunked bytes")
    r = h.get(e.port, "/bytes/1000?close=1")
    h.check(r.header("content-length") is None and r.body_len == 1000, "close-delimited")
    r = h.get(e.port, "/trailers")
    h.eq(r.trailer("x-trailer"), "yes", "trailer")
    r = h.request(e.port, "POST", "/sink", body=b"x" * 12345)
    h.eq(r.json()["body_bytes"], 12345, "/sink count")
    t0 = time.monotonic()
    r = h.get(e.port, "/sleep/300")
    h.check(time.monotonic() - t0 >= 0.29, "/sleep waits")
    st = e.stats()
    h.check(st["requests"] >= 9, "stats counted: %r" % st)


@h.test
def echo_body_and_continue():
    e = h.Echo()
    r = h.request(e.port, "POST", "/echo", body=b"hello world")
    h.eq(r.body, b"hello world", "echo content-length")
    r = h.request(e.port, "POST", "/echo", headers=[("Transfer-Encoding", "chunked")],
                  body=h.chunked(b"hello chunked", 4))
    h.check(r.chunked, "echo of chunked is chunked")
    h.eq(r.body, b"hello chunked", "echo chunked")
    with h.Conn(e.port) as c:
        c.send(h.build_request("POST", "/echo", [("Expect", "100-continue"), ("Content-Length", "5")]))
        r1 = c.read_interim(timeout=2)  # the 100 arrives first
        h.eq(r1.status, 100, "100 Continue before body")
        c.send(b"abcde")
        r = c.read_response()
        h.eq((r.status, r.body), (200, b"abcde"), "echo after 100")


@h.test
def pipelining_and_keepalive():
    e = h.Echo()
    with h.Conn(e.port) as c:
        c.send(h.build_request("GET", "/a") + h.build_request("GET", "/sleep/100") +
               h.build_request("GET", "/bytes/5") + h.build_request("POST", "/echo", body=b"abc") +
               h.build_request("GET", "/c"))
        got = [c.read_response() for _ in range(5)]
        h.eq([r.status for r in got], [200] * 5, "statuses")
        h.eq(got[0].json()["path"], "/a", "order 1")
        h.eq(got[1].json()["path"], "/sleep/100", "order 2")
        h.eq(got[2].body, b"abcde", "order 3")
        h.eq(got[3].body, b"abc", "order 4")
        h.eq(got[4].json()["path"], "/c", "order 5")
    r = h.request(e.port, "GET", "/", proto="HTTP/1.0", host=None)
    h.eq(r.header("connection"), "close", "1.0 closes")
    h.eq(r.json()["proto"], "HTTP/1.0", "1.0 proto")


@h.test
def bad_requests():
    e = h.Echo()
    before = e.requests()
    for raw in [
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"GARBAGE\r\n\r\n",
    ]:
        data, closed = h.send_raw(e.port, raw)
        h.check(data.startswith(b"HTTP/1.1 400"), "400 for %r: %r" % (raw[:40], data[:60]))
        h.check(closed, "closed after 400")
    data, closed = h.send_raw(e.port, b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 40000 + b"\r\n\r\n")
    h.check(data.startswith(b"HTTP/1.1 431"), "431: %r" % data[:40])
    h.eq(e.requests(), before, "bad requests not counted")


@h.test
def fail_latency_and_signals():
    e = h.Echo(fail=True, latency="200ms")
    t0 = time.monotonic()
    h.eq(h.get(e.port, "/").status, 500, "-fail")
    h.check(time.monotonic() - t0 >= 0.19, "-latency delays")
    h.eq(h.get(e.port, "/health").status, 200, "-fail spares /health")
    h.eq(e.stop(signal.SIGINT), 0, "exit code on SIGINT")
    e2 = h.Echo()
    h.eq(e2.stop(signal.SIGTERM), 0, "exit code on SIGTERM")


@h.test
def big_transfer_flat_memory():
    e = h.Echo()
    n = h.sized(256 << 20, 64 << 20)
    rss0 = h.rss_kb(e.proc.pid)
    r = h.get(e.port, "/bytes/%d" % n, sink=lambda b: None, timeout=60)
    h.eq(r.body_len, n, "download size")
    with h.Conn(e.port) as c:
        c.send(h.build_request("POST", "/echo", [("Content-Length", str(n))]))
        got = [0]
        import threading
        def rd():
            got.append(c.read_response(sink=lambda b: None, timeout=60))
        t = threading.Thread(target=rd)
        t.start()
        chunk = b"z" * (1 << 20)
        peak = 0
        for i in range(n >> 20):
            c.send(chunk)
            if i % 16 == 0:
                peak = max(peak, h.rss_kb(e.proc.pid))
        t.join(60)
        h.eq(got[-1].body_len, n, "echo size")
    h.check(peak - rss0 < 32 * 1024, "echo RSS grew by %d kB" % (peak - rss0))


def _mode(e):
    return e.stats()["health_mode"]


def _wait_mode(e, mode, timeout=5):
    h.wait_until(lambda: _mode(e) == mode, timeout=timeout, what="health_mode %s" % mode)


@h.test
def health_switches_by_signal():
    e = h.Echo(extra=["-health-fail", "503"])
    h.eq(h.get(e.port, "/health").status, 200, "ok at start")
    h.eq(_mode(e), "ok", "health_mode at start")
    e.proc.send_signal(signal.SIGUSR1)
    _wait_mode(e, "503")
    r = h.get(e.port, "/health")
    h.eq((r.status, r.body), (503, b"503\n"), "failing with -health-fail 503")
    e.proc.send_signal(signal.SIGUSR1)  # idempotent: still failing
    h.eq(h.get(e.port, "/health").status, 503, "SIGUSR1 twice")
    h.eq(h.get(e.port, "/x").status, 200, "other endpoints unaffected")
    e.proc.send_signal(signal.SIGUSR2)
    _wait_mode(e, "ok")
    h.eq(h.get(e.port, "/health").body, b"ok", "ok after SIGUSR2")
    e.proc.send_signal(signal.SIGUSR2)
    h.eq(h.get(e.port, "/health").status, 200, "SIGUSR2 twice")
    st = e.stats()
    h.eq(st["health"], 5, "/health counted apart: %r" % st)
    h.eq(st["requests"], 1, "/health not in requests: %r" % st)


@h.test
def health_fail_and_hang():
    e = h.Echo(extra=["-health", "fail"])
    r = h.get(e.port, "/health")
    h.eq(r.status, 500, "-health fail")
    h.check(b"health fail" in r.body, "fail body: %r" % r.body)
    e.proc.send_signal(signal.SIGUSR2)
    _wait_mode(e, "ok")
    e.proc.send_signal(signal.SIGUSR1)  # the -health mode is the failure mode
    _wait_mode(e, "fail")

    g = h.Echo(extra=["-health", "hang"])
    req = h.build_request("GET", "/health")
    data, closed = h.send_raw(g.port, req, timeout=0.5)
    h.eq((data, closed), (b"", False), "hang: read, never answered, kept open")
    data, closed = h.send_raw(g.port, req + h.build_request("GET", "/x"), timeout=0.3)
    h.eq(data, b"", "nothing answered after a hanging /health")
    h.check(g.stats()["health"] == 2, "hanging requests were read")
    # a hanging connection is closed when the client goes (only /stats is open)
    h.wait_until(lambda: g.stats()["open"] == 1, what="hung connections closed")
    h.eq(h.get(g.port, "/x").status, 200, "other endpoints answer while /health hangs")
    g.proc.send_signal(signal.SIGUSR2)
    _wait_mode(g, "ok")
    h.eq(h.get(g.port, "/health").status, 200, "ok after SIGUSR2")
    g.proc.send_signal(signal.SIGUSR1)
    _wait_mode(g, "hang")

    s = h.Echo(extra=["-health", "status:204"])
    r = h.get(s.port, "/health")
    h.eq((r.status, r.body), (204, b""), "-health status:204")


@h.test
def health_fail_after_and_flap():
    e = h.Echo(extra=["-health-fail-after", "1s", "-health-fail", "hang"])
    t0 = time.monotonic()
    h.eq(h.get(e.port, "/health").status, 200, "ok before -health-fail-after")
    _wait_mode(e, "hang", timeout=10)
    h.check(time.monotonic() - t0 >= 0.9, "switched after the delay")
    data, closed = h.send_raw(e.port, h.build_request("GET", "/health"), timeout=0.3)
    h.eq((data, closed), (b"", False), "hangs after the delay")

    f = h.Echo(extra=["-health-flap", "200ms"])
    seen, last, changes = set(), None, 0
    deadline = time.monotonic() + 2 * h.SLOW
    while time.monotonic() < deadline and changes < 4:
        r = h.get(f.port, "/health")
        h.check(r.status in (200, 500), "flap status %d" % r.status)
        seen.add(r.status)
        if last is not None and r.status != last:
            changes += 1
        last = r.status
        time.sleep(0.02)
    h.eq(seen, {200, 500}, "flap shows both")
    h.check(changes >= 2, "flap alternates (%d changes)" % changes)


h.main(only_echo=True)
