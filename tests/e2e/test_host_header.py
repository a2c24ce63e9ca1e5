"""Missing or duplicate Host on HTTP/1.1 -> 400, connection closed, backend never
sees the request."""
import harness as h


def expect_400(port, e, raw):
    before = e.requests()
    data, closed = h.send_raw(port, raw, timeout=3)
    h.check(data.startswith(b"HTTP/1.1 400") or data.startswith(b"HTTP/1.0 400"),
            "400 for %r, got %r" % (raw[:60], data[:80]))
    h.check(closed, "connection closed after 400")
    h.eq(e.requests(), before, "backend request count unchanged")


@h.test
def missing_host_http11():
    e = h.Echo()
    f = h.start_proxy([e])
    expect_400(f.port, e, b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n")


@h.test
def duplicate_host():
    e = h.Echo()
    f = h.start_proxy([e])
    expect_400(f.port, e, b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n")


@h.test
def host_value_list():
    e = h.Echo()
    f = h.start_proxy([e])
    expect_400(f.port, e, b"GET / HTTP/1.1\r\nHost: a.example, b.example\r\n\r\n")


@h.test
def valid_host_still_works():
    e = h.Echo()
    f = h.start_proxy([e])
    h.eq(h.get(f.port, "/").status, 200, "normal request")


h.main()
