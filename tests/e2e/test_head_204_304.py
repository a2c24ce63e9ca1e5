"""Responses without bodies: HEAD, 204, 304 (the connection stays in sync)."""
import harness as h


@h.test
def head_has_no_body():
    e = h.Echo()
    f = h.start_proxy([e])
    with h.Conn(f.port) as c:
        r = c.request("HEAD", "/bytes/1000")
        h.eq(r.status, 200, "status")
        h.eq(r.header("content-length"), "1000", "Content-Length of what GET would send")
        r = c.request("HEAD", "/")
        h.eq(r.status, 200, "status")
        r = c.request("GET", "/next")
        h.eq((r.status, r.json()["path"]), (200, "/next"), "next response not polluted by a HEAD body")
        h.eq(r.json()["method"], "GET", "method")


@h.test
def status_204_and_304():
    e = h.Echo()
    f = h.start_proxy([e])
    with h.Conn(f.port) as c:
        for code in (204, 304, 204):
            r = c.request("GET", "/status/%d" % code)
            h.eq((r.status, r.body), (code, b""), "status %d without body" % code)
        r = c.request("GET", "/next")
        h.eq((r.status, r.json()["path"]), (200, "/next"), "connection in sync")


@h.test
def other_statuses_pass_through():
    e = h.Echo()
    f = h.start_proxy([e])
    with h.Conn(f.port) as c:
        for code in (201, 404, 418, 500, 503):
            r = c.request("GET", "/status/%d" % code)
            h.eq((r.status, r.body), (code, b"%d\n" % code), "status %d passes through" % code)


h.main()
