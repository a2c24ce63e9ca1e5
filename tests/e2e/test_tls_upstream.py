"""TLS to servers: https:// server URLs verified against the pool's CA, with
keep-alive; expired and wrong-name certificates fail that server (retried
elsewhere, 502 when nothing is left) with the reason in the log; verify: false;
client certificates (mTLS); health checks over TLS (HTTP and tcp: the
handshake is part of the check, a stalled one times out, a plain server behind
an https:// URL fails); --check of pool tls files. The CA and the
certificates are made by the test with the openssl CLI; the servers are
Python's http.server over ssl."""
import http.server
import os
import re
import socket
import socketserver
import ssl
import subprocess
import threading

import harness as h

OPENSSL = "openssl"
PKI = {}


def run(*args):
    subprocess.run(list(args), check=True, capture_output=True)


def pki():
    """A CA; server certificates signed by it: good (localhost, 127.0.0.1),
    expired, wrong name; a client certificate."""
    if PKI:
        return PKI
    d = h.tmpdir()
    p = lambda n: os.path.join(d, n)
    run(OPENSSL, "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2", "-subj", "/CN=fulcrum test CA")
    with open(p("ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s\nnew_certs_dir=%s\nserial=%s\ndefault_md=sha256\n"
                "policy=pol\ncopy_extensions=copy\nunique_subject=no\n[pol]\ncommonName=supplied\n"
                % (p("index"), d, p("serial")))
    open(p("index"), "w").close()
    with open(p("serial"), "w") as f:
        f.write("01\n")

    def leaf(name, cn, san, start=None, end=None):
        run(OPENSSL, "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-keyout", p(name + ".key"), "-out", p(name + ".csr"), "-subj", "/CN=" + cn,
            "-addext", "subjectAltName=" + san)
        dates = ["-startdate", start, "-enddate", end] if start else ["-days", "2"]
        run(OPENSSL, "ca", "-batch", "-config", p("ca.cnf"), "-cert", p("ca.pem"), "-keyfile", p("ca.key"),
            "-in", p(name + ".csr"), "-out", p(name + ".pem"), "-notext", *dates)
        PKI[name] = (p(name + ".pem"), p(name + ".key"))

    leaf("good", "localhost", "DNS:localhost,IP:127.0.0.1")
    leaf("expired", "localhost", "DNS:localhost,IP:127.0.0.1", "20200101000000Z", "20200102000000Z")
    leaf("wrong", "other.test", "DNS:other.test")
    leaf("client", "fulcrum client", "DNS:client.test")
    PKI["ca"] = p("ca.pem")
    return PKI


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/health"):
            self.server.health += 1
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, name, cert, require_client=False):
        super().__init__(("127.0.0.1", 0), Handler)
        self.name = name
        self.connections = 0
        self.health = 0  # /health requests: checks that got through the handshake
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*cert)
        if require_client:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(pki()["ca"])
        self.ctx = ctx
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()
        h._closers.append(self.close)

    def close(self):
        self.shutdown()
        self.server_close()

    def get_request(self):
        sock, addr = self.socket.accept()
        self.connections += 1
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        pass  # failed handshakes are what some cases are about


def start(servers, pool_tls="", health="", retries=2):
    port = h.free_port()
    lines = ["workers: 1", "log: {level: info, error: stderr, access: off}",
             "listeners:", "  - address: 127.0.0.1:%d" % port, "    routes: [{pool: p}]",
             "pools:", "  p:", "    retries: %d" % retries, "    passive: off", "    servers:"]
    for name, url in servers:
        lines.append("      - {url: %s, name: %s}" % (url, name))
    if pool_tls:
        lines.append("    tls: " + pool_tls)
    if health:
        lines.append("    health: " + health)
    return h.Fulcrum.from_config("\n".join(lines) + "\n", port=port)


def url(s, host="localhost"):
    return "https://%s:%d" % (host, s.port)


@h.test
def verified_server_and_keepalive():
    c = pki()
    s = TLSServer("good", c["good"])
    f = start([("a", url(s))], pool_tls="{ca: %s}" % c["ca"])
    with h.Conn(f.port) as conn:
        for i in range(30):
            r = conn.request("GET", "/k%d" % i)
            h.eq((r.status, r.body), (200, b"good"), "request %d" % i)
    h.check(s.connections <= 2, "kept alive: %d TLS connections for 30 requests" % s.connections)
    # one client connection per request: the upstream TLS connection still
    # goes back to the idle pool and is reused
    before = s.connections
    for i in range(20):
        r = h.get(f.port, "/n%d" % i)
        h.eq((r.status, r.body), (200, b"good"), "new client connection %d" % i)
    h.check(s.connections - before <= 1, "idle TLS connections reused across clients: %d new for "
            "20 requests" % (s.connections - before))
    # an IP address in the URL is verified against the certificate's IP SAN
    s2 = TLSServer("ip", c["good"])
    f2 = start([("b", url(s2, "127.0.0.1"))], pool_tls="{ca: %s}" % c["ca"])
    h.eq(h.get(f2.port, "/").status, 200, "verified by IP")


@h.test
def bad_certificates_fail_over_with_a_reason():
    c = pki()
    good = TLSServer("good", c["good"])
    expired = TLSServer("expired", c["expired"])
    wrong = TLSServer("wrong", c["wrong"])
    f = start([("old", url(expired)), ("name", url(wrong)), ("ok", url(good))],
              pool_tls="{ca: %s}" % c["ca"])
    for i in range(6):
        r = h.get(f.port, "/r%d" % i)
        h.eq((r.status, r.body), (200, b"good"), "retried on the good server (%d)" % i)
    h.check(f.wait_for_log("server old: TLS handshake: certificate verify failed: certificate has expired", 5),
            "the log says the certificate expired")
    h.check(f.wait_for_log("server name: TLS handshake: certificate verify failed: hostname mismatch", 5),
            "the log says the name does not match")
    # nothing good left: 502
    f2 = start([("old", url(expired))], pool_tls="{ca: %s}" % c["ca"], retries=0)
    h.eq(h.get(f2.port, "/").status, 502, "an expired certificate and no other server")
    # without the CA, the system's CAs do not know ours
    f3 = start([("ok", url(good))], retries=0)
    h.eq(h.get(f3.port, "/").status, 502, "an unknown CA fails")
    h.check(f3.wait_for_log("certificate verify failed: unable to get local issuer certificate", 5)
            or f3.wait_for_log("certificate verify failed: self", 1), "the log says the CA is unknown")


@h.test
def verify_false_accepts_anything():
    c = pki()
    wrong = TLSServer("wrong", c["wrong"])
    f = start([("w", url(wrong))], pool_tls="{verify: false}")
    r = h.get(f.port, "/")
    h.eq((r.status, r.body), (200, b"wrong"), "verify: false")


@h.test
def client_certificates():
    c = pki()
    s = TLSServer("mtls", c["good"], require_client=True)
    f = start([("m", url(s))], pool_tls="{ca: %s}" % c["ca"], retries=0)
    h.eq(h.get(f.port, "/").status, 502, "a server asking for a client certificate, none given")
    f2 = start([("m", url(s))], pool_tls="{ca: %s, cert: %s, key: %s}" % ((c["ca"],) + c["client"]))
    r = h.get(f2.port, "/")
    h.eq((r.status, r.body), (200, b"mtls"), "with the client certificate")


@h.test(timeout=90)
def health_checks_over_tls():
    c = pki()
    good = TLSServer("good", c["good"])
    expired = TLSServer("expired", c["expired"])
    f = start([("ok", url(good)), ("old", url(expired))], pool_tls="{ca: %s}" % c["ca"],
              health="{path: /health, interval: 200ms, timeout: 150ms, rise: 1, fall: 1}")
    h.check(f.wait_for_log("server old", 10), "the expired server's state is logged")
    h.check(f.wait_for_log("TLS: certificate verify failed: certificate has expired", 10),
            "the health log says why")
    for i in range(6):
        r = h.get(f.port, "/h%d" % i)
        h.eq((r.status, r.body), (200, b"good"), "only the good server gets requests (%d)" % i)
    h.wait_until(lambda: good.health >= 2, timeout=5 * h.SLOW, what="checks of the good server over TLS")
    h.eq(expired.health, 0, "no check request went to the expired server")
    h.check("server ok" not in f.stderr_text() or "down" not in
            [l for l in f.stderr_text().splitlines() if "server ok" in l][-1], "the good server is up")



@h.test
def tcp_checks_include_the_handshake():
    c = pki()
    good = TLSServer("good", c["good"])
    wrong = TLSServer("wrong", c["wrong"])
    f = start([("ok", url(good)), ("name", url(wrong))], pool_tls="{ca: %s}" % c["ca"],
              health="{type: tcp, interval: 300ms, timeout: 300ms, rise: 1, fall: 2}")
    err = f.wait_for_log("server name is down", 5)
    h.check("health check failed 2 times: TLS: certificate verify failed: hostname mismatch" in err,
            "a tcp check of an https:// server verifies the certificate: %s" % err)
    h.wait_until(lambda: good.connections >= 2, timeout=5 * h.SLOW, what="tcp checks of the good server")
    h.check("server ok is down" not in f.stderr_text(), "the good server stays up: %s" % f.stderr_text())


@h.test
def checks_of_servers_that_do_not_speak_tls():
    """A server that accepts and never answers the ClientHello: the check
    times out in the handshake. A plain HTTP server behind an https:// URL:
    the handshake fails and the log says TLS."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    h._closers.append(silent.close)
    plain = h.Echo(name="plain")
    f = start([("silent", "https://127.0.0.1:%d" % silent.getsockname()[1]),
               ("plain", "https://127.0.0.1:%d" % plain.port)], pool_tls="{verify: false}",
              health="{path: /health, interval: 300ms, timeout: 200ms, rise: 1, fall: 2}")
    err = f.wait_for_log("server silent is down", 5)
    h.check(re.search(r"server silent is down \(health check failed 2 times: timeout after 200 ms "
                      r"\(connected, TLS handshake not finished\)", err),
            "a stalled handshake times out: %s" % err)
    err = f.wait_for_log("server plain is down", 5)
    h.check(re.search(r"server plain is down \(health check failed 2 times: TLS: ", err),
            "a plain server fails the handshake: %s" % err)
    h.eq(plain.stats().get("health", 0), 0, "no /health request reached the plain server")


@h.test
def check_reports_pool_tls_files():
    c = pki()
    text = ("listeners:\n  - address: 127.0.0.1:1\n    routes: [{pool: p}]\npools:\n  p:\n"
            "    servers: [https://127.0.0.1:9]\n    tls: {ca: /nonexistent/ca.pem, cert: %s, key: %s}\n"
            % (c["good"][0], c["client"][1]))
    r = h.run_fulcrum(["-c", h.write_file(text), "--check"])
    h.eq(r.returncode, 1, "--check fails")
    h.check(":7:15: pools.p.tls.ca: cannot read /nonexistent/ca.pem" in r.stderr, r.stderr)
    h.check("pools.p.tls.key: %s does not match the certificate in %s" % (c["client"][1], c["good"][0])
            in r.stderr, r.stderr)
    garbage = h.write_file("not a key\n", "garbage.key")
    for key, want in (("/nonexistent/client.key", "cannot read /nonexistent/client.key"),
                      (garbage, "%s is not a usable PEM private key" % garbage)):
        text = ("listeners:\n  - address: 127.0.0.1:1\n    routes: [{pool: p}]\npools:\n  p:\n"
                "    servers: [https://127.0.0.1:9]\n    tls: {cert: %s, key: %s}\n" % (c["client"][0], key))
        path = h.write_file(text)
        r = h.run_fulcrum(["-c", path, "--check"])
        h.eq(r.returncode, 1, "--check fails for key %s" % key)
        m = re.search(re.escape(path) + r":7:(\d+): pools\.p\.tls\.key: ", r.stderr)
        h.check(m and want in r.stderr, "FILE:7:col: pools.p.tls.key: %s: %r" % (want, r.stderr))


h.main()
