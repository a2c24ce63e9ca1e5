"""client.max_header_size: a larger request head gets 431 (and is not forwarded)."""
import harness as h


def proxy():
    e = h.Echo()
    return e, h.start_proxy([e], client={"max_header_size": "8k"})


def expect_refused(f, e, raw, statuses=(b"HTTP/1.1 431",)):
    """raw gets one of statuses, the connection is closed, the backend sees nothing."""
    before = e.requests()
    data, closed = h.send_raw(f.port, raw)
    h.check(data[:12] in statuses, "want %s, got %r" % (" or ".join(s[9:].decode() for s in statuses), data[:80]))
    h.check(closed, "connection closed")
    h.eq(e.requests(), before, "not forwarded")


@h.test
def big_header_431():
    e, f = proxy()
    expect_refused(f, e, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")


@h.test
def many_headers_431():
    e, f = proxy()
    hs = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 40) for i in range(400))
    expect_refused(f, e, b"GET / HTTP/1.1\r\nHost: x\r\n" + hs + b"\r\n")


@h.test
def long_url_rejected():
    e, f = proxy()
    expect_refused(f, e, b"GET /" + b"u" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                   (b"HTTP/1.1 431", b"HTTP/1.1 414"))


@h.test
def just_under_limit_ok():
    e, f = proxy()
    r = h.get(f.port, "/", headers=[("X-Big", "a" * 6000)])
    h.eq(r.status, 200, "a 6 kB header under an 8 kB limit passes")
    h.eq(len(r.json()["headers"]["x-big"]), 6000, "forwarded whole")


h.main()
