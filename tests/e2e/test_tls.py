"""TLS termination: TLS 1.2 and 1.3 handshakes (curl, openssl s_client, Python's
ssl), certificates picked by SNI, ALPN, TLS 1.1 refused, session resumption
across workers, redirect: https, what goes upstream, and bad input on a TLS
port: plain HTTP, garbage, a truncated ClientHello, a silent client. The
certificates are made by the test with the openssl CLI."""
import hashlib
import os
import socket
import ssl
import subprocess
import time

import harness as h
import ws_helpers as ws

OPENSSL = "openssl"


def make_cert(d, name, cn, sans=None, ec=True, days=2, expired=False):
    """A self-signed certificate and key; returns (cert, key) paths."""
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    args = [OPENSSL, "req", "-x509", "-nodes", "-keyout", key, "-out", cert, "-subj", "/CN=" + cn]
    args += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if ec else ["-newkey", "rsa:2048"]
    if sans:
        args += ["-addext", "subjectAltName=" + ",".join("DNS:" + s for s in sans)]
    if expired:
        # a CSR signed with a validity that ended long ago
        csr = os.path.join(d, name + ".csr")
        subprocess.run([OPENSSL, "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-keyout", key, "-out", csr, "-subj", "/CN=" + cn],
                       check=True, capture_output=True)
        cfg = os.path.join(d, name + ".cnf")
        db = os.path.join(d, name + ".db")
        open(db, "w").close()
        with open(cfg, "w") as f:
            f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s\nnew_certs_dir=%s\nserial=%s\n"
                    "default_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n" % (db, d, os.path.join(d, name + ".srl")))
        with open(os.path.join(d, name + ".srl"), "w") as f:
            f.write("01\n")
        subprocess.run([OPENSSL, "ca", "-batch", "-config", cfg, "-selfsign", "-keyfile", key, "-in", csr,
                        "-out", cert, "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
                        "-notext"], check=True, capture_output=True)
        return cert, key
    args += ["-days", str(days)]
    subprocess.run(args, check=True, capture_output=True)
    return cert, key


CERTS = {}


def certs():
    if not CERTS:
        d = h.tmpdir()
        CERTS["a"] = make_cert(d, "a", "a.test", ["a.test", "*.wild.test"])
        CERTS["b"] = make_cert(d, "b", "b.test", ec=False)  # RSA, CN only
        CERTS["dir"] = d
    return CERTS


def tls_config(port, backends, plain_port=None, workers=1, extra="", pool_extra="", routes=None,
               handshake_timeout=None, min_version=None, http2=None):
    c = certs()
    lines = ["workers: %d" % workers, "shutdown_grace: 2s",
             "log: {level: debug, error: stderr, access: off}",
             "client: {header_timeout: 10s}", extra,
             "listeners:",
             "  - address: 127.0.0.1:%d" % port,
             "    tls:",
             "      certificates:",
             "        - {cert: %s, key: %s}" % c["a"],
             "        - {cert: %s, key: %s}" % c["b"]]
    if handshake_timeout:
        lines.append("      handshake_timeout: %s" % handshake_timeout)
    if min_version:
        lines.append("      min_version: \"%s\"" % min_version)
    if http2 is not None:
        lines.append("    http2: %s" % http2)
    lines.append("    routes:")
    for r in routes or ["{pool: web}"]:
        lines.append("      - " + r)
    if plain_port:
        lines += ["  - address: 127.0.0.1:%d" % plain_port, "    redirect: https", "    redirect_port: %d" % port]
    lines += ["pools:", "  web:", "    servers:"]
    for b in backends:
        lines.append("      - {url: %s, name: %s}" % (b.url, b.name))
    if pool_extra:
        lines.append(pool_extra)
    return "\n".join(lines) + "\n"


def start(backends=None, **kw):
    bs = backends or [h.Echo()]
    port = h.free_port()
    f = h.Fulcrum.from_config(tls_config(port, bs, **kw), port=port)
    return f, bs


def client_ctx(**kw):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def https_get(port, path="/", sni="localhost", ctx=None, session=None, headers=()):
    """One GET over a fresh TLS connection: (status, headers, body, ssl socket info).
    sni None sends no SNI."""
    ctx = ctx or client_ctx()
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=sni, session=session)
    try:
        extra = "".join("%s: %s\r\n" % hv for hv in headers)
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n"
                   % (path, sni or "localhost", extra)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hs.setdefault(k.strip().lower(), []).append(v.strip())
        info = {"version": s.version(), "reused": s.session_reused, "session": s.session,
                "alpn": s.selected_alpn_protocol(),
                "cert": hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()}
        return status, hs, body, info
    finally:
        s.close()


def fingerprint(path):
    out = subprocess.run([OPENSSL, "x509", "-in", path, "-outform", "DER"], capture_output=True, check=True).stdout
    return hashlib.sha256(out).hexdigest()


def curl(args, timeout=15):
    return subprocess.run(["curl", "-sk", "--max-time", "10"] + args, capture_output=True, text=True,
                          timeout=timeout)


@h.test
def tls12_and_tls13_with_curl():
    f, _ = start()
    for flags, want in ((["--tlsv1.2", "--tls-max", "1.2"], "TLSv1.2"), (["--tlsv1.3"], "TLSv1.3")):
        r = curl(flags + ["-v", "https://127.0.0.1:%d/hello" % f.port])
        h.eq(r.returncode, 0, "curl %s: %s" % (flags, r.stderr[-500:]))
        h.check("SSL connection using " + want in r.stderr, "negotiated %s: %s" % (want, r.stderr[-800:]))
        h.check('"path":"/hello"' in r.stdout, "the backend answered: %r" % r.stdout[:200])
        h.check('"x-forwarded-proto":"https"' in r.stdout, "X-Forwarded-Proto: https upstream")


@h.test
def openssl_s_client_both_versions():
    f, _ = start()
    for v in ("-tls1_2", "-tls1_3"):
        p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % f.port, v, "-servername", "a.test",
                            "-ign_eof"], input=b"GET /s HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
                           capture_output=True, timeout=15)
        out = p.stdout.decode(errors="replace")
        h.check("HTTP/1.1 200 OK" in out, "s_client %s got a response: %s" % (v, out[-600:]))
        h.check(("Protocol  : TLSv1.%s" % v[-1]) in out or ("TLSv1.%s" % v[-1]) in out, "version %s" % v)


@h.test
def tls11_refused():
    f, _ = start()
    p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % f.port, "-tls1_1", "-cipher",
                        "DEFAULT@SECLEVEL=0"], input=b"", capture_output=True, timeout=15)
    out = (p.stdout + p.stderr).decode(errors="replace")
    h.check(p.returncode != 0, "TLS 1.1 handshake must fail: %s" % out[-400:])
    h.check("protocol version" in out or "no protocols available" in out or "alert" in out,
            "refused for its version: %s" % out[-400:])
    # and the listener still serves TLS 1.2
    h.eq(https_get(f.port)[0], 200, "TLS 1.2+ still served")


@h.test
def min_version_13():
    f, _ = start(min_version="1.3")
    ctx12 = client_ctx(maximum_version=ssl.TLSVersion.TLSv1_2)
    try:
        https_get(f.port, ctx=ctx12)
        h.fail("a TLS 1.2 client was accepted with min_version 1.3")
    except (ssl.SSLError, OSError):
        pass
    st, _, _, info = https_get(f.port)
    h.eq((st, info["version"]), (200, "TLSv1.3"), "TLS 1.3 served")


@h.test
def sni_picks_certificates():
    f, _ = start()
    c = certs()
    fa, fb = fingerprint(c["a"][0]), fingerprint(c["b"][0])
    for sni, want in (("a.test", fa), ("b.test", fb), ("x.wild.test", fa), ("B.TEST", fb),
                      ("deep.x.wild.test", fa), ("other.test", fa), (None, fa)):
        st, _, _, info = https_get(f.port, sni=sni)
        h.eq(st, 200, "status for SNI %r" % sni)
        h.eq(info["cert"], want, "certificate for SNI %r" % sni)


@h.test
def alpn():
    # http2 on (the default): h2 first, http/1.1 for those that offer only it
    f, _ = start()
    raw = socket.create_connection(("127.0.0.1", f.port), timeout=10)
    s = alpn_ctx(["h2", "http/1.1"]).wrap_socket(raw, server_hostname="localhost")
    h.eq(s.selected_alpn_protocol(), "h2", "ALPN picks h2 from h2,http/1.1")
    s.close()
    _, _, _, info = https_get(f.port, ctx=alpn_ctx(["http/1.1"]))
    h.eq(info["alpn"], "http/1.1", "ALPN picks http/1.1 when only it is offered")
    f.stop()
    # http2: off offers http/1.1 alone
    f, _ = start(http2="off")
    _, _, _, info = https_get(f.port, ctx=alpn_ctx(["h2", "http/1.1"]))
    h.eq(info["alpn"], "http/1.1", "ALPN picks http/1.1 from h2,http/1.1")
    _, _, _, info = https_get(f.port)
    h.eq(info["alpn"], None, "no ALPN offered, none chosen")
    try:
        https_get(f.port, ctx=alpn_ctx(["h2"]))
        h.fail("a client offering only h2 must be refused (no_application_protocol)")
    except (ssl.SSLError, OSError) as e:
        h.check("NO_APPLICATION_PROTOCOL" in str(e).upper() or isinstance(e, ssl.SSLError), str(e))


def alpn_ctx(protos):
    ctx = client_ctx()
    ctx.set_alpn_protocols(protos)
    return ctx


@h.test
def session_resumption_across_workers():
    f, _ = start(workers=2)
    for maxv in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(maximum_version=maxv)
        _, _, _, first = https_get(f.port, ctx=ctx)
        h.check(not first["reused"], "the first handshake is full")
        sess = first["session"]
        h.check(sess is not None and sess.has_ticket, "a session ticket was issued (%s)" % maxv)
        reused = 0
        for _ in range(12):  # SO_REUSEPORT spreads these over both workers
            st, _, _, info = https_get(f.port, ctx=ctx, session=sess)
            h.eq(st, 200, "status")
            reused += info["reused"]
        h.eq(reused, 12, "resumed handshakes out of 12 (%s)" % maxv)
        # a chain, as wrk and browsers do it: each connection resumes with the
        # session the one before it ended with (TLS 1.3 tickets are used once,
        # so a resumption must hand out a new ticket)
        reused = 0
        for _ in range(6):
            st, _, _, info = https_get(f.port, ctx=ctx, session=sess)
            reused += info["reused"]
            sess = info["session"]
        h.eq(reused, 6, "resumed handshakes in a chain of 6 (%s)" % maxv)
    # TLS 1.3 tickets are for one use (RFC 8446 C.4; wrk and browsers do not
    # offer one twice): a resumed handshake must hand out a new ticket
    d = h.tmpdir()
    sess = os.path.join(d, "s.pem")

    def s_client(*extra):
        return subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % f.port, "-tls1_3", "-msg",
                               "-ign_eof"] + list(extra),
                              input=b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                              capture_output=True, timeout=15).stdout.decode(errors="replace")

    out = s_client("-sess_out", sess)
    h.check("NewSessionTicket" in out, "a ticket after the full handshake")
    out = s_client("-sess_in", sess)
    h.check("Reused, TLSv1.3" in out, "resumed: %s" % out[-300:])
    h.check("NewSessionTicket" in out, "a new ticket after the resumed handshake")


@h.test
def redirect_https():
    plain = h.free_port()
    f, _ = start(plain_port=plain)
    h.wait_port(plain)
    r = h.get(plain, "/a/b?c=1", host="example.com:%d" % plain)
    h.eq(r.status, 308, "redirect status")
    h.eq(r.header("location"), "https://example.com:%d/a/b?c=1" % f.port, "Location")
    r = h.get(plain, "/x", host="[::1]:80")
    h.eq(r.header("location"), "https://[::1]:%d/x" % f.port, "Location for an IPv6 Host")
    # keep-alive works across redirects
    with h.Conn(plain) as c:
        for i in range(3):
            h.eq(c.request("GET", "/k%d" % i, host="h.test").status, 308, "redirect %d" % i)


@h.test
def sticky_cookie_is_secure():
    f, _ = start(pool_extra="    sticky: {cookie: fulcrum_sticky}")
    st, hs, _, _ = https_get(f.port)
    h.eq(st, 200, "status")
    cookie = (hs.get("set-cookie") or [""])[0]
    h.check("fulcrum_sticky=" in cookie and "Secure" in cookie, "Secure sticky cookie: %r" % cookie)


@h.test
def large_bodies_both_ways():
    f, _ = start()
    r = curl(["-o", "/dev/null", "-w", "%{http_code} %{size_download}", "https://127.0.0.1:%d/bytes/8388608" % f.port])
    h.eq(r.stdout.strip(), "200 8388608", "8 MiB download over TLS")
    body = os.path.join(h.tmpdir(), "up.bin")
    with open(body, "wb") as fp:
        fp.write(os.urandom(4 << 20))
    r = curl(["--data-binary", "@" + body, "-H", "Content-Type: application/octet-stream",
              "https://127.0.0.1:%d/echo" % f.port, "-o", "/dev/null", "-w", "%{http_code} %{size_download}"])
    h.eq(r.stdout.strip(), "200 %d" % (4 << 20), "4 MiB upload echoed over TLS")


@h.test
def keepalive_many_requests_one_connection():
    f, _ = start()
    ctx = client_ctx()
    raw = socket.create_connection(("127.0.0.1", f.port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="a.test")
    try:
        for i in range(100):
            s.sendall(b"GET /k%d HTTP/1.1\r\nHost: a.test\r\n\r\n" % i)
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
            while len(rest) < n:
                rest += s.recv(65536)
            h.check(head.startswith(b"HTTP/1.1 200"), "request %d" % i)
            h.check(b'"path":"/k%d"' % i in rest, "body %d" % i)
    finally:
        s.close()


def closed_within(sock, seconds):
    """True when the peer closes (EOF or reset) within seconds; bytes are drained."""
    sock.settimeout(seconds)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            d = sock.recv(4096)
            if not d:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


@h.test
def plain_http_on_tls_port():
    f, _ = start()
    s = socket.create_connection(("127.0.0.1", f.port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    h.check(closed_within(s, 5), "a plain HTTP request on a TLS port is closed")
    s.close()
    h.check(f.wait_for_log("TLS: ", 3), "the failed handshake is logged at debug")
    h.eq(https_get(f.port)[0], 200, "TLS still served")
    h.check(f.alive(), "fulcrum alive")


@h.test
def garbage_and_truncated_client_hello():
    f, _ = start(handshake_timeout="1s")
    s = socket.create_connection(("127.0.0.1", f.port), timeout=5)
    s.sendall(os.urandom(3000))
    h.check(closed_within(s, 5), "garbage bytes are closed")
    s.close()
    # a real ClientHello, cut short: the handshake timeout closes it
    hello = client_hello_bytes()
    s = socket.create_connection(("127.0.0.1", f.port), timeout=5)
    s.sendall(hello[: len(hello) // 2])
    t0 = time.monotonic()
    h.check(closed_within(s, 5), "a truncated ClientHello is closed")
    dt = time.monotonic() - t0
    h.check(0.7 <= dt <= 3.5 * h.SLOW, "closed by the 1 s handshake timeout (after %.2f s)" % dt)
    s.close()
    h.eq(https_get(f.port)[0], 200, "TLS still served")


@h.test
def silent_client_gets_the_handshake_timeout():
    # header_timeout is 10 s: the 1 s handshake timeout must be what closes it
    f, _ = start(handshake_timeout="1s")
    socks = [socket.create_connection(("127.0.0.1", f.port), timeout=5) for _ in range(20)]
    t0 = time.monotonic()
    for s in socks:
        h.check(closed_within(s, 5), "a silent TLS client is closed")
    dt = time.monotonic() - t0
    h.check(dt <= 3.5 * h.SLOW, "all closed by the handshake timeout (%.2f s)" % dt)
    for s in socks:
        s.close()
    h.check(f.wait_for_log("TLS handshake timeout", 3), "logged at debug")
    h.eq(https_get(f.port)[0], 200, "TLS still served")


def client_hello_bytes():
    """The first flight of a real TLS client (Python's, through memory BIOs)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(inc, out, server_hostname="a.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


@h.test
def check_reports_certificate_problems():
    c = certs()
    d = h.tmpdir()
    expired = make_cert(d, "old", "old.test", expired=True)
    port = h.free_port()
    good = "        - {cert: %s, key: %s}\n" % c["a"]

    def cfg(certs_lines, routes="      - {pool: web}\n"):
        return ("listeners:\n  - address: 127.0.0.1:%d\n    tls:\n      certificates:\n%s    routes:\n%s"
                "pools:\n  web:\n    servers: [http://127.0.0.1:9]\n" % (port, certs_lines, routes))

    def check(text):
        return h.run_fulcrum(["-c", h.write_file(text), "--check"])

    r = check(cfg(good))
    h.eq(r.returncode, 0, "a good certificate: %s" % r.stderr)
    r = check(cfg("        - {cert: /nonexistent.pem, key: %s}\n" % c["a"][1]))
    h.eq(r.returncode, 1, "an unreadable certificate fails --check")
    h.check(":5:18: listeners[0].tls.certificates[0].cert: cannot read /nonexistent.pem: No such file" in r.stderr,
            r.stderr)
    r = check(cfg("        - {cert: %s, key: %s}\n" % (c["a"][0], c["b"][1])))
    h.eq(r.returncode, 1, "a key of another certificate fails --check")
    h.check("listeners[0].tls.certificates[0].key: %s does not match the certificate in %s" % (c["b"][1], c["a"][0])
            in r.stderr, r.stderr)
    r = check(cfg("        - {cert: %s, key: %s}\n" % (c["a"][1], c["a"][1])))
    h.eq(r.returncode, 1, "a key file given as the certificate fails")
    h.check("is not a usable PEM certificate" in r.stderr, r.stderr)
    r = check(cfg("        - {cert: %s, key: %s}\n" % expired))
    h.eq(r.returncode, 0, "an expired certificate is a warning: %s" % r.stderr)
    h.check("certificates[0].cert: the certificate in %s expired on 2020-01-02" % expired[0] in r.stderr
            and "(warning)" in r.stderr, r.stderr)
    r = check(cfg(good, "      - {pool: web}\n      - {host: api.example.com, pool: web}\n"))
    h.eq(r.returncode, 0, "an uncovered host is a warning")
    h.check(":8:16: listeners[0].routes[1].host: no certificate of this listener covers api.example.com" in r.stderr,
            r.stderr)
    r = check(cfg(good, "      - {host: x.wild.test, pool: web}\n      - {host: a.test, pool: web}\n"))
    h.eq((r.returncode, "covers" in r.stderr), (0, False), "covered hosts: no warning: %s" % r.stderr)
    # the same problems stop a start, with the same message
    r = h.run_fulcrum(["-c", h.write_file(cfg("        - {cert: /nonexistent.pem, key: %s}\n" % c["a"][1]))])
    h.eq(r.returncode, 1, "fulcrum does not start with an unreadable certificate")
    h.check("cannot read /nonexistent.pem" in r.stderr, r.stderr)


@h.test(timeout=120)
def websocket_over_tls():
    # wss: the tunnel runs over the TLS layer as over TCP (text, binary,
    # 1 MiB messages, fragments, ping/pong, close handshake; then 50 at once)
    s = ws.WsServer("wss-backend")
    port = h.free_port()
    f = h.Fulcrum.from_config(tls_config(port, [WsBackend(s)]), port=port)
    res = ws.ws_client(f.port, "basic", tls=True)
    h.eq(res["close_code"], 1000, "clean close over wss")
    ws.ws_client(f.port, "many", 50, tls=True, timeout=90)
    h.check(f.alive(), "fulcrum alive")


class WsBackend:
    def __init__(self, s):
        self.url, self.name = s.url, s.name


@h.test
def config_errors():
    c = certs()
    cases = [
        ("    tls: {}\n", "listeners[0].tls.certificates: TLS needs at least one certificate"),
        ("    tls: {certificates: [{cert: %s}]}\n" % c["a"][0], "listeners[0].tls.certificates[0].key: is required"),
        ("    tls: {certificates: [{cert: %s, key: %s}], min_version: \"1.1\"}\n" % c["a"],
         "listeners[0].tls.min_version: must be \"1.2\" or \"1.3\""),
        ("    redirect: http\n", "listeners[0].redirect: must be https"),
    ]
    for listener_extra, want in cases:
        text = ("listeners:\n  - address: 127.0.0.1:1\n%s    routes: [{pool: web}]\n"
                "pools:\n  web:\n    servers: [http://127.0.0.1:9]\n" % listener_extra)
        r = h.run_fulcrum(["-c", h.write_file(text), "--check"])
        h.eq(r.returncode, 1, "exit status for %r" % listener_extra)
        h.check(want in r.stderr, "%r in %r" % (want, r.stderr))


h.main()
