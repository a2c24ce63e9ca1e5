"""WebSocket and other upgrades: Upgrade + Connection: upgrade reach the server,
a 101 turns the connection into a tunnel (bytes both ways, half-close, its own
tunnel_timeout), anything else stays HTTP. Real WebSockets on both ends
(ws_peer.py on python3-websockets, run with /usr/bin/python3), raw sockets
for the byte-level cases."""
import socket
import threading
import time

import harness as h
from ws_helpers import Holder, WsServer, ws_client

class RawBackend:
    """A loopback server whose connections are handled by handler(sock) in a thread."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.handler = handler
        self.errors = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        try:
            c.settimeout(20)
            self.handler(c)
        except Exception as e:  # reported by the test
            self.errors.append(repr(e))
        finally:
            c.close()

    def close(self):
        self.sock.close()


def read_until(sock, marker, limit=1 << 20):
    data = b""
    while marker not in data:
        d = sock.recv(65536)
        if not d:
            break
        data += d
        h.check(len(data) < limit, "too much before %r" % marker)
    return data


def read_all(sock):
    data = b""
    while True:
        d = sock.recv(65536)
        if not d:
            return data
        data += d


UPGRADE = b"GET /raw HTTP/1.1\r\nHost: t\r\nUpgrade: foo/1\r\nConnection: Upgrade\r\n\r\n"


@h.test
def messages_through_the_tunnel():
    # text, binary, 1 MiB of each, fragments both ways, ping/pong, close handshake
    s = WsServer("a")
    f = h.start_proxy([s.backend()], access="stdout")
    res = ws_client(f.port, "basic")
    h.eq(res["close_code"], 1000, "clean close")
    line = f.wait_for_output(lambda out: " 101 " in out)
    h.check(" 101 " in line, "a 101 line in the access log once the tunnel ended")
    tun = [l for l in f.stdout_text().splitlines() if " 101 " in l][0]
    h.check('"GET /frag HTTP/1.1" 101 ' in tun, "request line and status: %r" % tun)
    got_out = int(tun.split(" 101 ")[1].split()[0])
    got_in = int(tun.rsplit("bytes_in=", 1)[1])
    # each way: 2 MiB of payload plus frames and heads
    h.check(2 << 20 < got_out < (2 << 20) + 4096, "bytes to the client: %d" % got_out)
    h.check(2 << 20 < got_in < (2 << 20) + 4096, "bytes from the client: %d" % got_in)


@h.test(timeout=120)
def many_concurrent():
    s = WsServer("a")
    f = h.start_proxy([s.backend()], workers=2)
    res = ws_client(f.port, "many", 200, timeout=100)
    h.eq(res["n"], 200, "WebSockets that echoed")


@h.test
def half_close_and_early_bytes():
    # the client's bytes sent right after its request head (before the 101) and
    # the server's right after the 101 head are not lost; the client's EOF
    # reaches the server as EOF while the server still sends
    seen = {}

    def backend(c):
        head = read_until(c, b"\r\n\r\n")
        seen["head"], rest = head.split(b"\r\n\r\n", 1)
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo/1\r\nConnection: Upgrade\r\n"
                  b"\r\nserver-first|")
        seen["from_client"] = rest + read_all(c)  # until the client's half-close
        c.sendall(b"after-your-eof|" + b"z" * 300000)
        c.shutdown(socket.SHUT_WR)

    b = RawBackend(backend)
    f = h.start_proxy([(b.url, "raw", 1)])
    c = socket.create_connection(("127.0.0.1", f.port), timeout=20 * h.SLOW)
    c.sendall(UPGRADE + b"early|")
    got = read_until(c, b"server-first|")
    h.check(got.startswith(b"HTTP/1.1 101 "), "101 first: %r" % got[:60])
    h.check(b"\r\nConnection: upgrade\r\n" in got and b"\r\nUpgrade: foo/1\r\n" in got,
            "the 101 keeps Upgrade and Connection: %r" % got)
    c.sendall(b"late" * 50000)
    c.shutdown(socket.SHUT_WR)
    got += read_all(c)
    c.close()
    h.check(got.endswith(b"after-your-eof|" + b"z" * 300000), "the server's bytes after the client's EOF")
    h.eq(b.errors, [], "backend errors")
    h.eq(seen.get("from_client"), b"early|" + b"late" * 50000, "client bytes, early ones first")
    hd = seen["head"].lower()
    h.check(b"\r\nupgrade: foo/1\r\n" in hd and b"\r\nconnection: upgrade\r\n" in hd,
            "Upgrade and Connection: upgrade forwarded: %r" % hd)
    b.close()


@h.test
def idle_outlives_http_timeouts_then_tunnel_timeout():
    s = WsServer("a")
    f = h.start_proxy([s.backend()], top_extra="tunnel_timeout: 4s",
                      client={"idle_timeout": "1s", "body_timeout": "1s", "header_timeout": "1s"},
                      pool_extra={"response_timeout": "1s"})
    res = ws_client(f.port, "idle", 2.5)  # idle past every HTTP timeout, then an echo
    dt = res["closed_after"]
    h.check(3.0 <= dt <= 4.0 * h.SLOW + 3, "closed %.2f s after the last byte (tunnel_timeout 4s)" % dt)


@h.test
def refused_upgrade_stays_http():
    e = h.Echo()
    f = h.start_proxy([e])
    up = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
          ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]
    with h.Conn(f.port) as c:
        r = c.request("GET", "/", headers=up)
        h.eq(r.status, 200, "a server that does not switch answers as usual")
        hs = r.json()["headers"]
        h.eq(hs.get("upgrade"), "websocket", "Upgrade forwarded")
        h.eq(hs.get("connection", "").lower(), "upgrade", "Connection: upgrade forwarded")
        h.eq(c.request("GET", "/status/426", headers=up).status, 426, "refused upgrade")
        r = c.request("GET", "/after")
        h.eq(r.status, 200, "the connection is still HTTP")
        h.eq(r.json()["path"], "/after", "the next request")


@h.test
def h2c_not_forwarded():
    e = h.Echo()
    f = h.start_proxy([e])
    with h.Conn(f.port) as c:
        r = c.request("GET", "/", headers=[("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings"),
                                           ("HTTP2-Settings", "AAMAAABkAAQAAP__")])
        h.eq(r.status, 200, "status")
        hs = r.json()["headers"]
        for name in ("upgrade", "http2-settings"):
            h.check(name not in hs, "%s reached the backend: %r" % (name, hs))
        h.check("upgrade" not in hs.get("connection", "").lower(), "Connection: %r" % hs.get("connection"))
        h.eq(c.request("GET", "/again").status, 200, "still HTTP/1.1")


@h.test
def upgrade_without_connection_upgrade_dropped():
    e = h.Echo()
    f = h.start_proxy([e])
    r = h.get(f.port, "/", headers=[("Upgrade", "websocket")])
    h.eq(r.status, 200, "status")
    h.check("upgrade" not in r.json()["headers"], "Upgrade alone is hop-by-hop: %r" % r.json()["headers"])


@h.test
def unasked_101_is_502():
    def backend(c):
        read_until(c, b"\r\n\r\n")
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo/1\r\nConnection: Upgrade\r\n\r\nxx")
        time.sleep(0.5)

    b = RawBackend(backend)
    f = h.start_proxy([(b.url, "raw", 1)], pool_extra={"retries": 0})
    h.eq(h.get(f.port, "/").status, 502, "a 101 nobody asked for")
    b.close()


@h.test
def least_conn_counts_the_tunnel():
    a, b = WsServer("a"), WsServer("b")
    f = h.start_proxy([a.backend(), b.backend()], algorithm="least_conn")
    hold = Holder(f.port)
    other = "b" if hold.server == "a" else "a"
    names = [h.get(f.port, "/plain").text() for _ in range(10)]
    h.eq(names, [other] * 10, "while the tunnel to %s is open, requests go to %s" % (hold.server, other))
    hold.close()
    time.sleep(0.3 * h.SLOW)
    names = [h.get(f.port, "/plain").text() for _ in range(10)]
    h.check(hold.server in names, "once it closed, %s takes requests again: %r" % (hold.server, names))


@h.test
def shutdown_grace_closes_tunnels():
    s = WsServer("a")
    port = h.free_port()
    cfg = h.config(port, [s.backend()]).replace("shutdown_grace: 5s", "shutdown_grace: 1s")
    f = h.Fulcrum.from_config(cfg, port=port)
    hold = Holder(f.port)
    t0 = time.monotonic()
    f.send_signal(15)
    res = hold.result(timeout=10)
    h.check(res["closed_by_peer"], "the tunnel was closed by fulcrum: %r" % res)
    dt = time.monotonic() - t0
    h.check(0.8 <= dt <= 4 * h.SLOW, "closed %.2f s after SIGTERM (shutdown_grace 1s)" % dt)
    h.eq(f.wait(5 * h.SLOW), 0, "fulcrum exits 0")


h.main()
