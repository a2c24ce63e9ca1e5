"""Keep-alive to backends: connections are reused (backend /stats shows far fewer
connections than requests), and reuse is checked for staleness: a backend that
closes connections (/close, or killed and restarted on the same port) causes no
client error."""
import time

import harness as h


def totals(bs):
    st = [b.stats() for b in bs]
    return sum(s["requests"] for s in st), sum(s["connections"] for s in st)


@h.test
def backend_connections_reused():
    bs = h.echo_backends(3)
    f = h.start_proxy(bs, workers=2)
    req0, conn0 = totals(bs)
    n = 90
    with h.Conn(f.port) as c:
        for i in range(n):
            h.eq(c.request("GET", "/r%d" % i).status, 200, "status")
    for i in range(30):  # and from fresh client connections
        h.eq(h.get(f.port, "/f%d" % i).status, 200, "status")
    req1, conn1 = totals(bs)
    h.eq(req1 - req0, n + 30, "backend requests")
    used = conn1 - conn0 - len(bs)  # minus our own /stats connections
    h.check(used <= 12, "backend connections for %d requests: %d (want <= 12)" % (n + 30, used))


@h.test
def backend_close_is_no_client_error():
    bs = h.echo_backends(2)
    f = h.start_proxy(bs)
    with h.Conn(f.port) as c:
        for i in range(20):
            path = "/close" if i % 2 == 0 else "/after%d" % i
            r = c.request("GET", path)
            h.eq(r.status, 200, "status of %s" % path)
        h.check(c.is_open(), "backend's Connection: close does not close the client connection")


@h.test
def backend_restart_same_port_get():
    e = h.Echo(name="solo")
    f = h.start_proxy([e], pool_extra={"retries": 2})
    with h.Conn(f.port) as c:
        for i in range(5):
            h.eq(c.request("GET", "/warm").status, 200, "warm-up")
        e.kill()
        e.start(e.port)
        time.sleep(0.2)
        for i in range(5):
            r = c.request("GET", "/after-restart-%d" % i)
            h.eq(r.status, 200, "GET after backend restart (stale pooled connection) #%d" % i)


@h.test
def backend_restart_same_port_post():
    e = h.Echo(name="solo")
    f = h.start_proxy([e], pool_extra={"retries": 2})
    with h.Conn(f.port) as c:
        for i in range(5):
            h.eq(c.request("POST", "/echo", body=b"warm").status, 200, "warm-up")
        e.kill()
        e.start(e.port)
        time.sleep(0.2)
        r = c.request("POST", "/echo", body=b"payload")
        h.eq((r.status, r.body), (200, b"payload"), "POST after restart: a closed idle connection must not be reused")


@h.test
def upstream_idle_timeout_closes_pooled():
    e = h.Echo()
    f = h.start_proxy([e], pool_extra={"idle_timeout": "1s"})
    for i in range(5):
        h.eq(h.get(f.port, "/").status, 200, "status")
    h.check(e.stats()["open"] >= 2, "a pooled connection is open (plus ours)")
    h.wait_until(lambda: e.stats()["open"] == 1, timeout=4, what="fulcrum to close the idle upstream connection")


h.main()
