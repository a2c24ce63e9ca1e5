"""Graceful shutdown on SIGTERM/SIGINT: stop accepting (new connects refused),
finish in-flight requests within the grace period, then exit 0."""
import signal
import threading
import time

import harness as h


def in_flight_then_signal(sig):
    e = h.Echo()
    f = h.start_proxy([e])
    result = {}

    def slow():
        try:
            result["r"] = h.get(f.port, "/sleep/1000", timeout=10)
        except Exception as ex:
            result["err"] = ex

    t = threading.Thread(target=slow, daemon=True)
    t.start()
    h.wait_until(lambda: e.requests() >= 1, timeout=3, what="the slow request to reach the backend")
    t0 = time.monotonic()
    f.send_signal(sig)
    time.sleep(0.3)
    h.check(h.port_refuses(f.port), "new connections refused after the signal")
    t.join(10 * h.SLOW)
    h.check("err" not in result, "in-flight request failed: %r" % result.get("err"))
    h.eq(result["r"].status, 200, "in-flight /sleep/1000 completes")
    rc = f.wait(8)
    h.eq(rc, 0, "exit code after graceful shutdown")
    h.check(time.monotonic() - t0 < 5 * h.SLOW, "exited well within the 5 s grace")


@h.test
def sigterm_finishes_in_flight():
    in_flight_then_signal(signal.SIGTERM)


@h.test
def sigint_finishes_in_flight():
    in_flight_then_signal(signal.SIGINT)


@h.test
def idle_keepalive_does_not_delay_exit():
    e = h.Echo()
    f = h.start_proxy([e])
    conns = [h.Conn(f.port) for _ in range(5)]
    for c in conns:
        h.eq(c.request("GET", "/").status, 200, "status")
    t0 = time.monotonic()
    f.send_signal(signal.SIGTERM)
    rc = f.wait(8)
    h.eq(rc, 0, "exit code")
    h.check(time.monotonic() - t0 < 2.5 * h.SLOW, "idle keep-alive connections are closed at once, not "
            "waited for (%.2f s)" % (time.monotonic() - t0))
    for c in conns:
        h.check(c.wait_closed(2), "idle client connection closed")
        c.close()


@h.test
def grace_period_bounds_exit():
    e = h.Echo()
    port = h.free_port()
    text = h.config(port, [e]).replace("shutdown_grace: 5s", "shutdown_grace: 1s")
    f = h.Fulcrum.from_config(text, port=port)
    c = h.Conn(f.port)
    c.send(h.build_request("GET", "/sleep/10000"))
    h.wait_until(lambda: e.requests() >= 1, timeout=3, what="request at the backend")
    t0 = time.monotonic()
    f.send_signal(signal.SIGTERM)
    rc = f.wait(8)
    dt = time.monotonic() - t0
    h.check(rc is not None, "fulcrum exits after the grace period even with a request in flight")
    h.check(dt < 1.0 + 2.0 * h.SLOW, "exit %.2f s after SIGTERM with shutdown_grace 1s" % dt)
    c.close()


h.main()
