"""Expect: 100-continue and 1xx: the client gets 100 Continue before sending the
body, then the final response; a client that does not wait still works."""
import os
import time

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


@h.test
def flood_of_1xx_to_a_slow_reader():
    """A lying backend sends 50,000 interim responses while the client reads
    nothing. fulcrum relays what fits and, when its output buffer is full,
    closes the connection: the client sees whole interim responses and then
    either the final answer or the end, never a response cut in its middle
    (the output buffer used to drop the bytes that did not fit)."""
    fake = h.FakeBackend("flood_1xx")
    f = h.start_proxy([(fake.url, "flood", 1)], pool_extra={"retries": 0})
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", f.port))
    s.sendall(h.build_request("GET", "/flood"))
    time.sleep(1.5 * h.SLOW)  # let fulcrum's output back up
    s.settimeout(10 * h.SLOW)
    data = bytearray()
    final = b"HTTP/1.1 200 OK\r\n"
    while True:  # until fulcrum closes, or the whole final answer is there
        i = data.find(final)
        if i >= 0 and data.endswith(b"\r\n\r\nok"):
            break
        try:
            d = s.recv(1 << 20)
        except socket.timeout:
            h.fail("no end after %d bytes" % len(data))
        if not d:
            break
        data += d
    s.close()
    one = b"HTTP/1.1 100 Continue\r\n\r\n"
    n = 0
    while data.startswith(one, n * len(one)):
        n += 1
    rest = bytes(data[n * len(one):])
    h.check(rest == b"" or rest.startswith(b"HTTP/1.1 200 OK\r\n"),
            "after %d whole interim responses: %r" % (n, rest[:80]))


h.main()
