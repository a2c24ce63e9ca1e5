"""HTTP/1.0 clients work (with and without keep-alive), and get no chunked framing."""
import harness as h


@h.test
def http10_get_without_host():
    e = h.Echo()
    f = h.start_proxy([e])
    with h.Conn(f.port) as c:
        r = c.request("GET", "/ten", proto="HTTP/1.0", host=None)
        h.eq(r.status, 200, "status")
        h.check(r.proto in ("HTTP/1.0", "HTTP/1.1"), "proto %r" % r.proto)
        h.eq(r.json()["path"], "/ten", "path")
        # the server still gets a Host: its own host:port, as nginx's proxy_pass sends
        h.eq(r.json()["headers"].get("host"), e.url[len("http://"):], "Host given to the server")
        h.check(c.wait_closed(3), "HTTP/1.0 without keep-alive: connection closed after response")


@h.test
def http10_without_host_retried_elsewhere():
    """A Host-less HTTP/1.0 request whose first server refuses is retried on
    another server, and that server gets its own host:port as Host, not the
    first server's (it used to keep the first one's)."""
    e = h.Echo()
    dead = "http://127.0.0.1:%d" % h.refused_port()
    # no cooldown: round robin keeps offering the dead server first every other time
    f = h.start_proxy([(dead, "dead", 1), e], pool_extra={"cooldown": "0s", "passive": "off"})
    want = e.url[len("http://"):]
    for i in range(6):
        r = h.request(f.port, "GET", "/r%d" % i, proto="HTTP/1.0", host=None)
        h.eq(r.status, 200, "request %d status" % i)
        h.eq(r.json()["headers"].get("host"), want, "request %d: Host given to the server" % i)


@h.test
def http10_post_body():
    e = h.Echo()
    f = h.start_proxy([e])
    r = h.request(f.port, "POST", "/echo", body=b"x" * 5000, proto="HTTP/1.0", host=None)
    h.eq(r.status, 200, "status")
    h.eq(r.body, b"x" * 5000, "echoed body")


@h.test
def http10_keep_alive():
    e = h.Echo()
    f = h.start_proxy([e])
    with h.Conn(f.port) as c:
        r = c.request("GET", "/a", headers=[("Connection", "keep-alive")], proto="HTTP/1.0", host=None)
        h.eq(r.status, 200, "first status")
        if (r.header("connection") or "").lower() == "keep-alive":
            r = c.request("GET", "/b", headers=[("Connection", "keep-alive")], proto="HTTP/1.0", host=None)
            h.eq((r.status, r.json()["path"]), (200, "/b"), "second request on kept-alive 1.0 connection")
        else:
            h.check(c.wait_closed(3), "without Connection: keep-alive in the answer, it must close")


@h.test
def http10_client_gets_no_chunked():
    e = h.Echo()
    f = h.start_proxy([e])
    with h.Conn(f.port) as c:
        r = c.request("GET", "/bytes/100000?chunked=1", proto="HTTP/1.0", host=None)
        h.eq(r.status, 200, "status")
        h.check(not r.chunked, "no chunked framing to an HTTP/1.0 client: %r" % r.headers)
        h.eq(r.body_len, 100000, "body length")
        h.check(r.body[:26] == b"abcdefghijklmnopqrstuvwxyz", "body content")
    with h.Conn(f.port) as c:
        r = c.request("GET", "/trailers", proto="HTTP/1.0", host=None)
        h.check(not r.chunked, "no chunked framing to an HTTP/1.0 client (trailers)")
        h.eq(r.body, b"trailers\n", "body")


h.main()
