"""Keep-alive to clients: many requests on one connection; the client idle timeout
closes an idle connection (not before, and not much after); a lingering close
(half-close, then drain) never reaches the next connection given the same fd."""
import threading
import time

import harness as h


@h.test
def many_requests_one_connection():
    bs = h.echo_backends(2)
    f = h.start_proxy(bs)
    with h.Conn(f.port) as c:
        for i in range(50):
            r = c.request("GET", "/k%d" % i)
            h.eq(r.status, 200, "status %d" % i)
            h.eq(r.json()["path"], "/k%d" % i, "path %d" % i)
            h.check((r.header("connection") or "").lower() != "close", "no Connection: close")
        h.check(c.is_open(), "connection still open")


@h.test
def idle_timeout_closes():
    e = h.Echo()
    f = h.start_proxy([e], client={"idle_timeout": "1s"})
    with h.Conn(f.port) as c:
        h.eq(c.request("GET", "/").status, 200, "status")
        t0 = time.monotonic()
        h.check(not c.wait_closed(0.5 / h.SLOW), "still open after 0.5 s of idleness")
        h.check(c.wait_closed(3), "closed after the 1 s idle timeout")
        dt = time.monotonic() - t0
        h.check(0.8 <= dt <= 3.0 * h.SLOW, "closed after %.2f s (idle_timeout 1s)" % dt)
        h.eq(bytes(c.buf), b"", "closed silently between requests")


@h.test
def idle_timeout_not_before_first_request():
    # a connection that never sends anything is cut by header_timeout/idle_timeout
    e = h.Echo()
    f = h.start_proxy([e], client={"idle_timeout": "1s", "header_timeout": "1s"})
    with h.Conn(f.port) as c:
        h.check(c.wait_closed(4), "a silent connection is closed")


@h.test(timeout=120)
def lingering_close_spares_the_next_connection():
    """Connection: close with a pipelined request behind it: fulcrum answers,
    half-closes and drains (a lingering close). The client then closes and
    opens the next connection at once, which often gets the same fd number.
    The half-close was once an io_uring op that a kernel worker ran late, on
    the fd number as it was by then: the next connection's write side, so
    that client saw its connection end before any byte."""
    e = h.Echo()
    f = h.start_proxy([e])
    bad = []

    def run(k):
        for i in range(h.sized(300, 60)):
            try:
                with h.Conn(f.port) as c:
                    c.send(h.build_request("GET", "/bytes/20000?k=%d&i=%d" % (k, i), headers={"Connection": "close"})
                           + h.build_request("GET", "/never-read"))
                    r = c.read_response("GET", timeout=10)
                if r.status != 200 or len(r.body) != 20000:
                    bad.append("%d/%d: status %d, %d bytes" % (k, i, r.status, len(r.body)))
            except Exception as ex:
                bad.append("%d/%d: %s" % (k, i, ex))

    ts = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(100)
    h.check(not bad, "%d connections ended early, e.g. %s" % (len(bad), bad[:3]))


h.main()
