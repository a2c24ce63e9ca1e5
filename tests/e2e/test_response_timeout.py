"""pools.*.response_timeout: a backend slower than the timeout gives 504 in time;
faster ones pass."""
import time

import harness as h


@h.test
def slow_response_504():
    e = h.Echo()
    f = h.start_proxy([e], pool_extra={"response_timeout": "1s", "retries": 0})
    t0 = time.monotonic()
    r = h.get(f.port, "/sleep/3000", timeout=10)
    dt = time.monotonic() - t0
    h.eq(r.status, 504, "status")
    h.check(0.9 <= dt <= 1.0 + 1.0 * h.SLOW, "504 after %.2f s (response_timeout 1s)" % dt)


@h.test
def fast_enough_passes():
    e = h.Echo()
    f = h.start_proxy([e], pool_extra={"response_timeout": "1s"})
    r = h.get(f.port, "/sleep/300", timeout=10)
    h.eq(r.status, 200, "a 300 ms answer within a 1 s timeout")


@h.test
def proxy_usable_after_504():
    e = h.Echo()
    f = h.start_proxy([e], pool_extra={"response_timeout": "500ms", "retries": 0})
    with h.Conn(f.port) as c:
        r = c.request("GET", "/sleep/2000", timeout=10)
        h.eq(r.status, 504, "status")
        if (r.header("connection") or "").lower() != "close" and c.is_open():
            h.eq(c.request("GET", "/next").status, 200, "same client connection usable after 504")
    h.eq(h.get(f.port, "/fresh").status, 200, "new connections served after 504")


@h.test
def hanging_backend_504():
    fake = h.FakeBackend("hang")
    f = h.start_proxy([(fake.url, "hang", 1)], pool_extra={"response_timeout": "1s", "retries": 0})
    t0 = time.monotonic()
    r = h.get(f.port, "/", timeout=10)
    h.eq(r.status, 504, "status")
    h.check(time.monotonic() - t0 <= 1.0 + 1.0 * h.SLOW, "in time")


h.main()
