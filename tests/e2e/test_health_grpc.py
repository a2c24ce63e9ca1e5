"""gRPC health checks (health: {type: grpc}) against real gRPC servers
(grpc_backend.py on python3-grpcio): a server flipped to NOT_SERVING goes
down after fall checks and comes back after rise; the service name is what
is asked for; every other answer (a grpc-status, garbage, a hang,
SERVICE_UNKNOWN) fails with its reason; a killed server is down and comes
back; gRPC calls through fulcrum (a protocol: h2 pool) go only to servers
the checks hold up; an HTTP/1.1 server (fulcrum-echo) is down with a clear
reason; over TLS the check needs ALPN h2; misbehaving HTTP/2 servers
(garbage, GOAWAY, a huge message) are failed checks while fulcrum keeps
serving; --check refuses the HTTP keys with type grpc. Server states are
read from the admin API and the log."""
import json
import os
import socket
import ssl
import struct
import subprocess
import threading
import time

import harness as h
from grpc_helpers import GrpcBackend, grpc_call

FAST = "interval: 200ms, timeout: 150ms"


class Proxy:
    """fulcrum with one pool web (servers: (url, name, extra) tuples, extra a
    server's own YAML keys or ""), health, and an admin listener to read
    server states from."""

    def __init__(self, servers, health):
        self.port = h.free_port()
        self.admin = h.free_port()
        lines = ["workers: 1", "log: {level: info, error: stderr, access: off}",
                 "state_dir: %s" % h.tmpdir(), "admin: {listen: 127.0.0.1:%d}" % self.admin,
                 "listeners:", "  - address: 127.0.0.1:%d" % self.port, "    routes: [{pool: web}]",
                 "pools:", "  web:", "    passive: off", "    health: {%s}" % health,
                 "    servers:"]
        for url, name, extra in servers:
            lines.append("      - {url: %s, name: %s%s}" % (url, name, ", " + extra if extra else ""))
        self.f = h.Fulcrum.from_config("\n".join(lines) + "\n", port=self.port)
        h.check(h.wait_port(self.admin, 10, self.f.proc), "the admin port listens")

    def server(self, name):
        r = h.request(self.admin, "GET", "/api/pools/web/servers/" + name)
        h.eq(r.status, 200, "admin GET server %s" % name)
        return r.json()

    def detail(self, name):
        lc = self.server(name)["last_check"]
        return lc["detail"] if lc else None

    def wait_detail(self, name, want, timeout=4):
        """Until the last check of name says want (a prefix); returns it."""
        got = [None]

        def ok():
            got[0] = self.detail(name)
            return got[0] is not None and got[0].startswith(want)

        try:
            h.wait_until(ok, timeout=timeout * h.SLOW, what="last check of %s" % name)
        except h.TestFailure:
            h.fail("last check of %s: %r, want %r...; log:\n%s"
                   % (name, got[0], want, self.f.stderr_text()[-2000:]))
        return got[0]

    def state(self, name):
        return self.server(name)["state"]


def srv(g, extra=""):
    return (g.url, g.name, extra)


@h.test
def not_serving_is_down_after_fall_and_up_after_rise():
    gs = [GrpcBackend("g-0"), GrpcBackend("g-1")]
    p = Proxy([srv(g) for g in gs], "type: grpc, %s, rise: 2, fall: 2" % FAST)
    for g in gs:
        p.wait_detail(g.name, "grpc SERVING in ")
        h.eq(p.state(g.name), "healthy", "%s at first" % g.name)
    before = gs[0].checks()
    t0 = time.monotonic()
    gs[0].set_health("", "NOT_SERVING")
    p.f.wait_for_log("server g-0 is down (health check failed 2 times: grpc: NOT_SERVING)",
                     timeout=4)
    took = time.monotonic() - t0
    # fall x interval + timeout, plus up to one interval before the first
    h.check(took < (2 * 0.2 + 0.15 + 0.2 + 0.5) * h.SLOW, "down after %.2f s" % took)
    h.check(gs[0].checks() - before >= 2, "at least fall checks: %d" % (gs[0].checks() - before))
    h.eq(p.state("g-0"), "dead", "g-0 after NOT_SERVING")
    h.eq(p.state("g-1"), "healthy", "the other one")
    h.check("1/2 servers are healthy" in p.f.stderr_text(), "the pool summary")
    h.eq(p.detail("g-0"), "grpc: NOT_SERVING", "the last check's text")
    before = gs[0].checks()
    gs[0].set_health("", "SERVING")
    p.f.wait_for_log("server g-0 is up (health check passed 2 times: grpc SERVING in ", timeout=4)
    h.check(gs[0].checks() - before >= 2, "at least rise checks")
    h.eq(p.state("g-0"), "healthy", "g-0 back")
    h.check("2/2 servers are healthy" in p.f.stderr_text(), "summary after recovery")


@h.test
def the_service_named_is_the_one_asked():
    g = GrpcBackend("svc-0", health={"fulcrum.test.Echo": "SERVING", "": "NOT_SERVING"})
    p = Proxy([srv(g)], "type: grpc, service: fulcrum.test.Echo, %s, rise: 1, fall: 1" % FAST)
    p.wait_detail("svc-0", "grpc SERVING")
    st = g.stats()
    h.check(st["checks"].get("fulcrum.test.Echo", 0) >= 1, "checks ask for the service: %r" % st)
    h.eq(st["checks"].get("", 0), 0, "never for the whole server")
    h.eq(st["check_metadata"].get("user-agent"), "fulcrum-health", "user agent")
    # grpc-timeout carries the check's timeout: the server's deadline
    h.check(st["check_deadline_ms"] is not None and 0 < st["check_deadline_ms"] <= 150,
            "the server's deadline: %r" % st["check_deadline_ms"])
    h.eq(p.state("svc-0"), "healthy", "the whole server NOT_SERVING does not matter")
    g.set_health("fulcrum.test.Echo", "SERVICE_UNKNOWN")
    p.f.wait_for_log("server svc-0 is down (health check failed 1 time: grpc: SERVICE_UNKNOWN)")
    g.set_health("fulcrum.test.Echo", "remove")  # grpc's servicer: NOT_FOUND
    p.wait_detail("svc-0", "grpc-status 5: not_found: unknown service")
    g.set_health("fulcrum.test.Echo", "SERVING")
    p.f.wait_for_log("server svc-0 is up")


@h.test
def every_failure_says_why():
    g, other = GrpcBackend("why-0"), GrpcBackend("why-1")
    p = Proxy([srv(g), srv(other)], "type: grpc, %s, rise: 1, fall: 1" % FAST)
    p.wait_detail("why-0", "grpc SERVING")
    cases = [
        ("code=12", "grpc-status 12: unimplemented: health check failed as asked"),
        ("code=14", "grpc-status 14: unavailable: health check failed as asked"),
        ("garbage", "grpc: malformed HealthCheckResponse (bad wire type)"),
        ("UNKNOWN", "grpc: UNKNOWN"),
        # the check's deadline goes to the server as grpc-timeout: a loaded
        # machine may let the server's own DEADLINE_EXCEEDED arrive first
        ("hang", ("timeout after 150 ms (connected, no response headers)",
                  "grpc-status 4: deadline_exceeded")),
        ("SERVING", "grpc SERVING in "),
    ]
    for state, want in cases:
        g.set_health("", state)
        p.wait_detail("why-0", want)
        h.eq(p.state("why-0"), "healthy" if state == "SERVING" else "dead", "after %s" % state)
    h.eq(p.state("why-1"), "healthy", "the other one all along")
    h.check("why-1 is down" not in p.f.stderr_text(), "the other one never went down")


@h.test
def an_http1_server_is_down_with_a_clear_reason():
    e = h.Echo(name="h1")
    g = GrpcBackend("g")
    p = Proxy([(e.url, "h1", ""), srv(g)], "type: grpc, %s, rise: 1, fall: 2" % FAST)
    p.f.wait_for_log('server h1 is down (health check failed 2 times: not HTTP/2: the server '
                     'answered in HTTP/1 ("HTTP/1.1 400 Bad Request"))', timeout=4)
    h.eq(p.state("g"), "healthy", "the gRPC server")
    h.eq(p.state("h1"), "dead", "the HTTP/1.1 one")


@h.test
def a_killed_server_is_down_and_back_when_restarted():
    gs = [GrpcBackend("k-0"), GrpcBackend("k-1")]
    p = Proxy([srv(g) for g in gs], "type: grpc, %s, rise: 2, fall: 2" % FAST)
    p.wait_detail("k-0", "grpc SERVING")
    port = gs[0].port
    gs[0].kill()
    p.f.wait_for_log("server k-0 is down (health check failed 2 times: connect refused)",
                     timeout=4)
    h.eq(p.state("k-1"), "healthy", "the other one")
    gs[0].start(port)
    p.f.wait_for_log("server k-0 is up (health check passed 2 times: grpc SERVING", timeout=6)


@h.test
def grpc_calls_through_fulcrum_go_where_health_allows():
    """A protocol: h2 pool behind an h2c listener: unary and streaming calls
    through fulcrum reach both servers; once one says NOT_SERVING every call
    goes to the other, and both serve again after it recovers."""
    gs = [GrpcBackend("c-0"), GrpcBackend("c-1")]
    port, admin = h.free_port(), h.free_port()
    text = "\n".join([
        "workers: 2", "log: {level: info, error: stderr, access: off}",
        "state_dir: %s" % h.tmpdir(), "admin: {listen: 127.0.0.1:%d}" % admin,
        "listeners:", "  - address: 127.0.0.1:%d" % port, "    http2: prior_knowledge",
        "    routes: [{pool: web}]",
        "pools:", "  web:", "    protocol: h2", "    passive: off",
        "    health: {type: grpc, %s, rise: 2, fall: 2}" % FAST, "    servers:"]
        + ["      - {url: %s, name: %s}" % (g.url, g.name) for g in gs]) + "\n"
    f = h.Fulcrum.from_config(text, port=port)
    h.check(h.wait_port(admin, 10, f.proc), "the admin port listens")

    def servers_of(n):
        rs = grpc_call(port, "Echo", ["hi"], repeat=n)
        for r in rs:
            h.eq((r["code_name"], r["messages"]), ("OK", ["hi"]), "Echo through fulcrum: %r" % r)
        return {r["trailing_metadata"].get("x-server") for r in rs}

    h.eq(servers_of(8), {"c-0", "c-1"}, "both serve")
    r = grpc_call(port, "Count", ["5"])
    h.eq((r["code"], r["messages"]), (0, ["0", "1", "2", "3", "4"]), "server streaming")
    r = grpc_call(port, "Sum", ["20", "22"])
    h.eq((r["code"], r["messages"]), (0, ["42"]), "client streaming")
    r = grpc_call(port, "Chat", ["a", "b", "c"])
    h.eq((r["code"], r["messages"]), (0, ["a", "b", "c"]), "bidi")
    r = grpc_call(port, "Fail", ["7 no entry"])
    h.eq((r["code_name"], r["details"]), ("PERMISSION_DENIED", "no entry"), "an error passes")
    gs[0].set_health("", "NOT_SERVING")
    f.wait_for_log("server c-0 is down (health check failed 2 times: grpc: NOT_SERVING)")
    h.eq(servers_of(8), {"c-1"}, "only the serving one")
    r = grpc_call(port, "Count", ["3"])
    h.eq((r["messages"], r["trailing_metadata"].get("x-server")), (["0", "1", "2"], "c-1"),
         "streams too")
    gs[0].set_health("", "SERVING")
    f.wait_for_log("server c-0 is up")
    h.eq(servers_of(8), {"c-0", "c-1"}, "both again")


# ------------------------------------------------------------------ TLS

def tls_cert():
    d = h.tmpdir()
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


class TLSPeer:
    """A TLS server (Python's ssl) that offers alpn (a list, or None: no
    ALPN at all) and then reads until the client closes."""

    def __init__(self, cert, alpn):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(*cert)
        if alpn:
            self.ctx.set_alpn_protocols(alpn)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.chosen = []
        threading.Thread(target=self._run, daemon=True).start()
        h._closers.append(self.sock.close)

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(5)
        try:
            with self.ctx.wrap_socket(c, server_side=True) as t:
                self.chosen.append(t.selected_alpn_protocol())
                while t.recv(4096):
                    pass
        except (OSError, ssl.SSLError):
            pass


@h.test
def tls_servers_are_checked_with_alpn_h2():
    cert = tls_cert()
    g = GrpcBackend("tls-g", tls=cert)
    h1 = TLSPeer(cert, ["http/1.1"])  # no h2: agrees on nothing with fulcrum's offer
    mute = TLSPeer(cert, ["http/1.1", "h2"])  # agrees on h2, then says nothing
    servers = [("https://127.0.0.1:%d" % g.port, "tls-g", ""),
               ("https://127.0.0.1:%d" % h1.port, "tls-h1", ""),
               ("https://127.0.0.1:%d" % mute.port, "tls-mute", "")]
    port, admin = h.free_port(), h.free_port()
    text = "\n".join([
        "workers: 1", "log: {level: info, error: stderr, access: off}",
        "state_dir: %s" % h.tmpdir(), "admin: {listen: 127.0.0.1:%d}" % admin,
        "listeners:", "  - address: 127.0.0.1:%d" % port, "    routes: [{pool: web}]",
        "pools:", "  web:", "    tls: {ca: %s}" % cert[0],
        "    health: {type: grpc, %s, rise: 1, fall: 1}" % FAST, "    servers:"]
        + ["      - {url: %s, name: %s}" % (u, n) for u, n, _ in servers]) + "\n"
    f = h.Fulcrum.from_config(text, port=port)
    p = Proxy.__new__(Proxy)
    p.f, p.port, p.admin = f, port, admin
    h.check(h.wait_port(admin, 10, f.proc), "the admin port listens")
    p.wait_detail("tls-g", "grpc SERVING in ")
    p.wait_detail("tls-h1", "TLS: the server chose no protocol in ALPN, not h2")
    p.wait_detail("tls-mute", "timeout after 150 ms (connected, no answer)")
    h.eq([p.state(n) for n in ("tls-g", "tls-h1", "tls-mute")], ["healthy", "dead", "dead"],
         "states")
    h.check(h1.chosen and set(h1.chosen) == {None}, "no protocol in common: %r" % h1.chosen)
    h.check(mute.chosen and set(mute.chosen) == {"h2"}, "h2 agreed on: %r" % mute.chosen)


# ------------------------------------------------------------------ misbehaving HTTP/2 servers

def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def literal(name, value):
    return bytes([0, len(name)]) + name + bytes([len(value)]) + value


SETTINGS = frame(4, 0, 0)
RESPONSE = frame(1, 4, 1, literal(b":status", b"200") + literal(b"content-type", b"application/grpc"))
ANSWERS = {
    "garbage": bytes(range(256)) * 4,
    "goaway": SETTINGS + frame(7, 0, 0, struct.pack(">II", 0, 1) + b"nope"),
    "huge": SETTINGS + RESPONSE + frame(0, 0, 1, b"\x00\xff\xff\xff\xff"),
    "truncated": SETTINGS + RESPONSE + frame(0, 0, 1, b"\x00\x00\x00\x00\x02\x08"),
}
REASONS = {
    "garbage": "HTTP/2: the server's first frame is not SETTINGS",
    "goaway": 'GOAWAY from the server (PROTOCOL_ERROR: "nope")',
    "huge": "grpc: response message of 4294967295 bytes, over 16384",
    "truncated": "connection closed in the response",
}


class BadH2:
    """Sends ANSWERS[mode] on every connection; for truncated it then closes,
    else it reads until the client closes."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._run, daemon=True).start()
        h._closers.append(self.sock.close)

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(5)
        try:
            c.recv(4096)
            c.sendall(ANSWERS[self.mode])
            if self.mode == "truncated":
                c.shutdown(socket.SHUT_WR)
            while c.recv(4096):
                pass
        except OSError:
            pass
        finally:
            c.close()


@h.test
def misbehaving_http2_servers_fail_their_checks_and_nothing_else():
    bad = {m: BadH2(m) for m in ANSWERS}
    e = h.Echo(name="web-ok")
    servers = [("http://127.0.0.1:%d" % b.port, m, "") for m, b in bad.items()]
    # the HTTP/1.1 server that takes the traffic is checked over HTTP/1.1
    servers.append((e.url, "web-ok", "health: {type: http, path: /health}"))
    p = Proxy(servers, "type: grpc, %s, rise: 1, fall: 1" % FAST)
    for m in ANSWERS:
        p.wait_detail(m, REASONS[m])
    h.eq(p.state("web-ok"), "healthy", "the HTTP server")
    for i in range(20):
        r = h.get(p.port, "/x%d" % i)
        h.eq((r.status, r.header("X-Echo-Name")), (200, "web-ok"), "request %d" % i)
    time.sleep(0.6)  # a few more checks of each
    for m, b in bad.items():
        h.check(b.connections >= 3, "%s checked again and again: %d" % (m, b.connections))
        h.eq(p.state(m), "dead", m)
    h.check(p.f.alive(), "fulcrum still runs")


# ------------------------------------------------------------------ configuration

@h.test
def check_refuses_http_keys_with_grpc():
    base = ("listeners:\n  - address: 127.0.0.1:%d\n    routes: [{pool: g}]\n"
            "pools:\n  g:\n    servers: [http://127.0.0.1:50051]\n" % h.free_port())
    good = h.write_file(base + "    health: {type: grpc, service: grpc.health.v1.Health, "
                               "host: grpc.internal, port: 50052, interval: 1s, rise: 3}\n")
    r = h.run_fulcrum(["--check", "-c", good])
    h.eq(r.returncode, 0, "a grpc check passes --check: %s %s" % (r.stdout, r.stderr))
    for key, val in (("path", "/health"), ("method", "GET"), ("expect", "200"), ("body", "ok"),
                     ("lame_duck", "[404]")):
        bad = h.write_file(base + "    health: {type: grpc, %s: %s}\n" % (key, val))
        r = h.run_fulcrum(["--check", "-c", bad])
        h.eq(r.returncode, 1, "--check with %s" % key)
        want = ("fulcrum.yaml:7:26: pools.g.health.%s: only used with type http (this check is "
                "grpc)" % key)
        h.check(want in r.stderr + r.stdout, "the error for %s: %s" % (key, r.stderr))
    bad = h.write_file(base + "    health: {service: x}\n")
    r = h.run_fulcrum(["--check", "-c", bad])
    h.check(r.returncode == 1 and "pools.g.health.service: only used with type grpc (this check "
            "is http)" in r.stderr + r.stdout, "service with http: %s" % r.stderr)


h.main()
