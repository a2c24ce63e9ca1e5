"""Bodies both ways: Content-Length, chunked (with trailers), close-delimited."""
import os

import harness as h


@h.test
def content_length_upload():
    e = h.Echo()
    f = h.start_proxy([e])
    body = os.urandom(300000)
    r = h.request(f.port, "POST", "/echo", body=body)
    h.eq(r.status, 200, "status")
    h.check(r.body == body, "echoed body identical (%d bytes)" % r.body_len)


@h.test
def chunked_upload():
    e = h.Echo()
    f = h.start_proxy([e])
    body = os.urandom(200000)
    r = h.request(f.port, "POST", "/echo", headers=[("Transfer-Encoding", "chunked")],
                  body=h.chunked(body, 7000))
    h.eq(r.status, 200, "status")
    h.check(r.body == body, "chunked upload echoed identical (%d bytes)" % r.body_len)


@h.test
def chunked_upload_with_trailers():
    e = h.Echo()
    f = h.start_proxy([e])
    raw = b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n"
    with h.Conn(f.port) as c:
        r = c.request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")], body=raw)
        h.eq((r.status, r.body), (200, b"hello world"), "body")
        h.eq(c.request("GET", "/next").status, 200, "connection usable after trailers")


@h.test
def chunked_download_and_trailers():
    e = h.Echo()
    f = h.start_proxy([e])
    with h.Conn(f.port) as c:
        r = c.request("GET", "/bytes/500000?chunked=1")
        h.eq((r.status, r.body_len), (200, 500000), "chunked download")
        h.check(all(r.body[i] == 97 + i % 26 for i in range(0, 500000, 4999)), "content")
        r = c.request("GET", "/trailers")
        h.eq(r.status, 200, "status")
        h.check(r.chunked, "trailers need chunked framing")
        h.eq(r.body, b"trailers\n", "body")
        h.eq(r.trailer("x-trailer"), "yes", "trailer forwarded: %r" % r.trailers)


@h.test
def close_delimited_download():
    e = h.Echo()
    f = h.start_proxy([e])
    with h.Conn(f.port) as c:
        r = c.request("GET", "/bytes/777777?close=1")
        h.eq((r.status, r.body_len), (200, 777777), "close-delimited body passes whole")
        h.check(all(r.body[i] == 97 + i % 26 for i in range(0, 777777, 7777)), "content")
        if r.chunked or r.header("content-length") is not None:
            h.eq(c.request("GET", "/next").status, 200, "re-framed: connection still usable")


@h.test
def empty_bodies():
    e = h.Echo()
    f = h.start_proxy([e])
    with h.Conn(f.port) as c:
        r = c.request("POST", "/echo", body=b"")
        h.eq((r.status, r.body), (200, b""), "empty POST")
        r = c.request("GET", "/bytes/0")
        h.eq((r.status, r.body), (200, b""), "empty response")


h.main()
