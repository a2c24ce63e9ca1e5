"""Passive outlier detection: a server answering 5xx (listed in
passive.statuses) or refusing connections is ejected after `failures`
consecutive faults, ejections back off, max_ejected is honoured, and a client
that sends broken bodies or hangs up never ejects a server."""
import collections
import socket
import time

import harness as h


def proxy(bs, passive, **kw):
    pool = dict(kw.pop("pool_extra", {}))
    pool["passive"] = passive
    pool.setdefault("retries", 0)
    return h.start_proxy(bs, pool_extra=pool, log_level="info", **kw)


def names(port, n, path="/"):
    got = collections.Counter()
    for i in range(n):
        r = h.get(port, "%s?i=%d" % (path, i))
        got[(r.header("X-Echo-Name"), r.status)] += 1
    return got


@h.test
def failing_server_is_ejected():
    bad = h.Echo(name="p-bad", fail=True)  # 500 to everything but /health
    good = [h.Echo(name="p-good-%d" % i) for i in range(2)]
    f = proxy([bad] + good, "{failures: 3, eject: 30s, statuses: [500]}")
    names(f.port, 30)  # ten go to p-bad: three in a row are enough
    f.wait_for_log("server p-bad is ejected", timeout=3)
    err = f.stderr_text()
    h.check("3 consecutive failures" in err and "HTTP 500" in err, "the reason: %s" % err)
    h.check("2/3 servers are healthy" in err, "the summary: %s" % err)
    got = names(f.port, 40)
    h.eq(sum(v for (n, _), v in got.items() if n == "p-bad"), 0, "no traffic while ejected: %r" % got)
    h.eq({s for (_, s) in got}, {200}, "everyone else answers: %r" % got)


@h.test
def default_statuses_are_502_503_504_and_refusals():
    """A 500 is not in the default list; a refused connection is always a fault."""
    e500 = h.Echo(name="d-500", fail=True)
    ok = h.Echo(name="d-ok")
    f = proxy([e500, ok], "{failures: 3, eject: 30s}")
    names(f.port, 20)
    time.sleep(0.3)
    h.check("d-500 is ejected" not in f.stderr_text(), "500 is no default server fault")
    # a 502 is: every answer to /status/502 counts against its server
    bs = [h.Echo(name="d502-%d" % i) for i in range(2)]
    g = proxy(bs, "{failures: 3, eject: 30s}")
    names(g.port, 12, path="/status/502")
    g.wait_for_log("is ejected", timeout=3)
    h.check("HTTP 502" in g.stderr_text(), "the reason names the status: %s" % g.stderr_text())
    h.check(g.stderr_text().count("is ejected") == 1, "one of two (max_ejected 50%%): %s" % g.stderr_text())
    dead = "http://127.0.0.1:%d" % h.refused_port()
    g = proxy([(dead, "d-dead", 1), ok], "{failures: 2, eject: 30s}", pool_extra={"cooldown": "0s"})
    names(g.port, 12)
    g.wait_for_log("d-dead is ejected", timeout=3)
    h.check("connect refused" in g.stderr_text(), "the reason: %s" % g.stderr_text())


@h.test
def ejections_back_off():
    """Without active checks the server comes back when its ejection ends; it
    fails again and is ejected for twice as long."""
    bad = h.Echo(name="bo-bad", fail=True)
    good = h.Echo(name="bo-good")
    f = proxy([bad, good], "{failures: 2, eject: 400ms, max_eject: 10s, statuses: [500]}")
    deadline = time.monotonic() + 8 * h.SLOW
    while time.monotonic() < deadline and f.stderr_text().count("bo-bad is ejected") < 2:
        names(f.port, 4)
        time.sleep(0.05)
    err = f.stderr_text()
    h.check("bo-bad is ejected for 400ms" in err, "first ejection 400 ms: %s" % err)
    h.check("bo-bad is ejected for 800ms" in err, "second ejection 800 ms: %s" % err)
    h.check("bo-bad is up" in err or "bo-bad is back" in err, "back in between: %s" % err)


@h.test
def max_ejected_is_honoured():
    """Two of three servers fail; max_ejected 34 % allows one ejection."""
    bs = [h.Echo(name="mx-bad-0", fail=True), h.Echo(name="mx-bad-1", fail=True),
          h.Echo(name="mx-good")]
    f = proxy(bs, "{failures: 2, eject: 30s, max_ejected: 34%, statuses: [500]}")
    names(f.port, 40)
    f.wait_for_log("is not ejected", timeout=3)
    err = f.stderr_text()
    ejected = [n for n in ("mx-bad-0", "mx-bad-1") if ("server %s is ejected" % n) in err]
    h.eq(len(ejected), 1, "exactly one ejected: %s" % err)
    got = names(f.port, 30)
    h.check(any(n not in ejected + ["mx-good"] for (n, _) in got),
            "the other failing server still takes traffic: %r" % got)


@h.test
def client_faults_never_eject():
    """Broken chunked bodies (400), bodies that stop half way, clients hanging
    up: none of it is the server's fault."""
    bs = [h.Echo(name="cf-%d" % i) for i in range(2)]
    f = proxy(bs, "{failures: 2, eject: 30s}", pool_extra={"retries": 0})
    for i in range(10):
        # a malformed chunk after the first one reached a server
        with h.Conn(f.port) as c:
            c.send(b"POST /sink HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n")
            time.sleep(0.02)
            c.send(b"zz\r\nbroken\r\n")
            c.wait_closed(2)
        # a body that stops half way, then the client leaves
        s = socket.create_connection(("127.0.0.1", f.port))
        s.sendall(b"POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
        time.sleep(0.02)
        s.close()
        # the client hangs up before the answer
        s = socket.create_connection(("127.0.0.1", f.port))
        s.sendall(b"GET /sleep/200 HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.02)
        s.close()
    time.sleep(0.5)
    err = f.stderr_text()
    h.check("ejected" not in err, "a client's faults ejected a server: %s" % err)
    got = names(f.port, 20)
    h.eq({n for (n, _) in got}, {"cf-0", "cf-1"}, "both still serve: %r" % got)


h.main()
