"""Expect: 100-continue and 1xx: the client gets 100 Continue before sending the
body, then the final response; a client that does not wait still works."""
import os

import harness as h


@h.test
def waits_for_100():
    e = h.Echo()
    f = h.start_proxy([e])
    body = os.urandom(50000)
    with h.Conn(f.port) as c:
        c.send(h.build_request("POST", "/echo", [("Expect", "100-continue"), ("Content-Length", str(len(body)))]))
        r1 = c.read_interim(timeout=3)
        h.eq(r1.status, 100, "interim status before the body is sent")
        c.send(body)
        r = c.read_response()
        h.eq(r.status, 200, "final status")
        h.check(r.body == body, "body")
        if (r.header("connection") or "").lower() == "close":
            h.check(c.wait_closed(3), "Connection: close announced, so it must close")
        else:
            h.eq(c.request("GET", "/after").status, 200, "connection usable afterwards")


@h.test
def body_sent_without_waiting():
    e = h.Echo()
    f = h.start_proxy([e])
    with h.Conn(f.port) as c:
        c.send(h.build_request("POST", "/echo", [("Expect", "100-continue")], body=b"abc"))
        r = c.read_response()
        h.eq((r.status, r.body), (200, b"abc"), "final response (interim %r)" % [i.status for i in r.interim])
        h.check(all(i.status == 100 for i in r.interim), "only 100 interim responses")
        h.eq(c.request("GET", "/after").status, 200, "connection usable afterwards")


@h.test
def curl_expect():
    e = h.Echo()
    f = h.start_proxy([e])
    path = os.path.join(h.tmpdir(), "body")
    with open(path, "wb") as fh:
        fh.write(b"q" * 2000000)
    p = h.curl("-H", "Expect: 100-continue", "--data-binary", "@" + path, "-o", "/dev/null",
               "-w", "%{http_code} %{size_download}", "http://127.0.0.1:%d/echo" % f.port)
    h.eq(p.stdout.strip(), "200 2000000", "curl upload with Expect (stderr %r)" % p.stderr)


h.main()
