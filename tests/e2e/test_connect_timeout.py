"""pools.*.connect_timeout: a server whose connect hangs is given up on after the
timeout; the request goes to the next server, or fails cleanly if there is none."""
import time

import harness as h


@h.test
def hanging_connect_fails_over():
    hole = h.Blackhole()
    good = h.Echo(name="good")
    f = h.start_proxy([(hole.url, "hole", 1), good],
                      pool_extra={"connect_timeout": "500ms", "retries": 2, "cooldown": "10s"})
    for i in range(4):
        t0 = time.monotonic()
        r = h.get(f.port, "/ct%d" % i, timeout=10)
        dt = time.monotonic() - t0
        h.eq((r.status, r.json()["name"]), (200, "good"), "request %d served by the good server" % i)
        h.check(dt < 0.5 + 1.5 * h.SLOW, "request %d took %.2f s (connect_timeout 500ms)" % (i, dt))


@h.test
def hanging_connect_only_server():
    hole = h.Blackhole()
    f = h.start_proxy([(hole.url, "hole", 1)], pool_extra={"connect_timeout": "500ms", "retries": 0})
    t0 = time.monotonic()
    r = h.get(f.port, "/", timeout=10)
    dt = time.monotonic() - t0
    h.check(r.status in (502, 503, 504), "clean 502/503/504 when connecting times out, got %d" % r.status)
    h.check(0.4 <= dt < 0.5 + 1.5 * h.SLOW, "answered after %.2f s (connect_timeout 500ms)" % dt)


h.main()
