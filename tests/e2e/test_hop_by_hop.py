"""Hop-by-hop headers are not forwarded: Connection, Keep-Alive, Proxy-Connection,
TE, Trailer, Upgrade, and the headers named in Connection; end-to-end ones are."""
import harness as h


@h.test
def request_hop_by_hop_removed():
    e = h.Echo()
    f = h.start_proxy([e])
    r = h.get(f.port, "/hop", headers=[
        ("Connection", "keep-alive, X-Secret"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "gzip"),
        ("Trailer", "X-Foo"),
        ("Upgrade", "foo/2"),
        ("X-Secret", "hop-only"),
        ("X-Kept", "end-to-end"),
    ])
    h.eq(r.status, 200, "status")
    hs = r.json()["headers"]
    for name in ("keep-alive", "proxy-connection", "trailer", "upgrade", "x-secret"):
        h.check(name not in hs, "%s must not reach the backend (got %r)" % (name, hs.get(name)))
    h.check(hs.get("te") in (None, "trailers"), "client TE must not reach the backend: %r" % hs.get("te"))
    conn = hs.get("connection", "").lower()
    h.check("x-secret" not in conn, "client Connection value must not reach the backend: %r" % conn)
    h.eq(hs.get("x-kept"), "end-to-end", "end-to-end header kept")


@h.test
def connection_named_headers_removed_case_insensitive():
    e = h.Echo()
    f = h.start_proxy([e])
    r = h.get(f.port, "/hop", headers=[("Connection", "X-A , x-b"), ("x-a", "1"), ("X-B", "2"), ("X-C", "3")])
    hs = r.json()["headers"]
    h.check("x-a" not in hs and "x-b" not in hs, "headers named in Connection removed: %r" % hs)
    h.eq(hs.get("x-c"), "3", "others kept")


@h.test
def transfer_encoding_is_framing_only():
    e = h.Echo()
    f = h.start_proxy([e])
    r = h.request(f.port, "POST", "/", headers=[("Transfer-Encoding", "chunked")], body=h.chunked(b"12345", 2))
    h.eq(r.status, 200, "status")
    j = r.json()
    h.eq(j["body_bytes"], 5, "body arrives whole")
    te = j["headers"].get("transfer-encoding")
    cl = j["headers"].get("content-length")
    h.check((te == "chunked") != (cl is not None), "backend sees exactly one framing: te=%r cl=%r" % (te, cl))


@h.test
def response_hop_by_hop_removed():
    e = h.Echo()
    f = h.start_proxy([e])
    with h.Conn(f.port) as c:
        r = c.request("GET", "/close")  # backend says Connection: close
        h.eq(r.status, 200, "status")
        h.check((r.header("connection") or "").lower() != "close", "backend's Connection: close is hop-by-hop")
        h.eq(c.request("GET", "/again").status, 200, "client connection still usable")


h.main()
