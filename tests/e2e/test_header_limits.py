"""client.max_header_size: a larger request head gets 431 (and is not forwarded)."""
import harness as h


@h.test
def big_header_431():
    e = h.Echo()
    f = h.start_proxy([e], client={"max_header_size": "8k"})
    before = e.requests()
    data, closed = h.send_raw(f.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    h.check(data.startswith(b"HTTP/1.1 431"), "want 431, got %r" % data[:80])
    h.check(closed, "connection closed")
    h.eq(e.requests(), before, "not forwarded")


@h.test
def many_headers_431():
    e = h.Echo()
    f = h.start_proxy([e], client={"max_header_size": "8k"})
    hs = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 40) for i in range(400))
    data, closed = h.send_raw(f.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + hs + b"\r\n")
    h.check(data.startswith(b"HTTP/1.1 431"), "want 431, got %r" % data[:80])


@h.test
def long_url_rejected():
    e = h.Echo()
    f = h.start_proxy([e], client={"max_header_size": "8k"})
    data, closed = h.send_raw(f.port, b"GET /" + b"u" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    h.check(data[:12] in (b"HTTP/1.1 431", b"HTTP/1.1 414"), "want 431 or 414, got %r" % data[:80])


@h.test
def just_under_limit_ok():
    e = h.Echo()
    f = h.start_proxy([e], client={"max_header_size": "8k"})
    r = h.get(f.port, "/", headers=[("X-Big", "a" * 6000)])
    h.eq(r.status, 200, "a 6 kB header under an 8 kB limit passes")
    h.eq(len(r.json()["headers"]["x-big"]), 6000, "forwarded whole")


h.main()
