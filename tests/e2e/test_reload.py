"""Reload: SIGHUP, fulcrum --reload and watch: true load the file again and run
new requests on it without dropping anything; a broken file changes nothing;
listeners are kept, opened and closed; servers keep their state by identity;
a second fulcrum on the same address is refused; sticky cookies survive
restarts through state_dir; new certificates are read on reload."""
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import harness as h


def cfg_text(port, backends, state_dir, extra="", pool_extra="", listeners_extra="", workers=2):
    lines = [
        "workers: %d" % workers,
        "shutdown_grace: 5s",
        "state_dir: %s" % state_dir,
        "pid_file: %s/fulcrum.pid" % state_dir,
        "log: {level: info, error: stderr, access: off}",
    ]
    if extra:
        lines.append(extra.rstrip("\n"))
    lines += [
        "listeners:",
        "  - name: web",
        "    address: 127.0.0.1:%d" % port,
        "    routes: [{pool: web}]",
    ]
    if listeners_extra:
        lines.append(listeners_extra.rstrip("\n"))
    lines += ["pools:", "  web:", "    servers:"]
    for b, w in backends:
        lines.append("      - {url: %s, name: %s, weight: %d}" % (b.url, b.name, w))
    if pool_extra:
        lines.append(pool_extra.rstrip("\n"))
    return "\n".join(lines) + "\n"


class Setup:
    def __init__(self, backends, workers=2, extra="", pool_extra=""):
        self.dir = h.tmpdir()
        self.port = h.free_port()
        self.backends = backends
        self.path = os.path.join(self.dir, "fulcrum.yaml")
        self.write(backends, workers=workers, extra=extra, pool_extra=pool_extra)
        self.f = h.Fulcrum(["-c", self.path], port=self.port, config_path=self.path)

    def write(self, backends, **kw):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(cfg_text(self.port, backends, self.dir, **kw))
        os.rename(tmp, self.path)

    def reloads(self):
        return self.f.stderr_text().count("reload: " + self.path)

    def hup_and_wait(self, timeout=10):
        n = self.reloads()
        self.f.send_signal(signal.SIGHUP)
        end = time.time() + timeout
        while time.time() < end:
            if self.reloads() > n:
                return
            time.sleep(0.01)
        h.fail("no reload logged:\n" + self.f.stderr_text()[-2000:])


def names(port, n):
    seen = []
    with h.Conn(port) as c:
        for i in range(n):
            r = c.request("GET", "/n%d" % i)
            h.eq(r.status, 200, "status")
            seen.append(r.header("X-Echo-Name"))
    return seen


@h.test(timeout=120)
def hundred_reloads_under_keepalive_load():
    bs = h.echo_backends(2)
    s = Setup([(b, 1) for b in bs])
    stop = threading.Event()
    errors = []
    counts = [0] * 20

    def client(k):
        try:
            with h.Conn(s.port) as c:
                i = 0
                while not stop.is_set():
                    r = c.request("GET", "/k%d/%d" % (k, i))
                    if r.status != 200 or r.header("X-Echo-Name") not in ("echo-1", "echo-2"):
                        errors.append("conn %d request %d: %d" % (k, i, r.status))
                        return
                    if r.header("Connection", "").lower() == "close":
                        errors.append("conn %d request %d: Connection: close" % (k, i))
                        return
                    counts[k] += 1
                    i += 1
        except Exception as e:  # a reset, an EOF, a timeout
            errors.append("conn %d: %r" % (k, e))

    ts = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(20)]
    for t in ts:
        t.start()
    time.sleep(0.3)
    for i in range(100):
        # alternate weights so every reload really rebuilds the pools
        s.write([(bs[0], 1 + i % 3), (bs[1], 1)])
        s.hup_and_wait()
    time.sleep(0.3)
    stop.set()
    for t in ts:
        t.join(10)
    h.check(not errors, "failed requests during reloads: %s" % errors[:5])
    h.check(min(counts) > 0, "every connection made requests: %r" % counts)
    h.eq(s.reloads(), 100, "reloads logged")
    h.check(s.f.alive(), "still running")


@h.test(timeout=120)
def streaming_download_survives_twenty_reloads():
    b = h.Echo(name="big")
    s = Setup([(b, 1)])
    size = 64 * 1024 * 1024 if not h.SANITIZED else 16 * 1024 * 1024
    got = [0]
    done = threading.Event()
    result = {}

    def download():
        try:
            with socket.create_connection(("127.0.0.1", s.port), timeout=20) as c:
                c.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
                buf = b""
                while b"\r\n\r\n" not in buf:
                    buf += c.recv(65536)
                head, rest = buf.split(b"\r\n\r\n", 1)
                result["head"] = head
                got[0] = len(rest)
                while got[0] < size:
                    d = c.recv(65536)
                    if not d:
                        break
                    got[0] += len(d)
                    time.sleep(0.002)  # a slow reader: the download spans the reloads
        except Exception as e:
            result["error"] = repr(e)
        done.set()

    t = threading.Thread(target=download, daemon=True)
    t.start()
    for i in range(20):
        s.write([(b, 1 + i % 2)])
        s.hup_and_wait()
        time.sleep(0.05)
    h.check(not done.is_set() or got[0] == size, "the download was still running during the reloads")
    done.wait(90)
    h.check("error" not in result, "download failed: %s" % result.get("error"))
    h.check(result.get("head", b"").startswith(b"HTTP/1.1 200"), "status: %r" % result.get("head", b"")[:40])
    h.eq(got[0], size, "bytes received")


@h.test
def reload_adds_and_removes_servers():
    a, b2 = h.Echo(name="a"), h.Echo(name="b")
    s = Setup([(a, 1)], workers=1)
    h.eq(set(names(s.port, 4)), {"a"}, "before")
    s.write([(a, 1), (b2, 1)])
    t0 = time.time()
    s.hup_and_wait()
    seen = set()
    while time.time() - t0 < 1.0 and "b" not in seen:
        seen |= set(names(s.port, 2))
    h.check("b" in seen, "the added server took requests within a second of the reload")
    s.write([(b2, 1)])
    s.hup_and_wait()
    h.eq(set(names(s.port, 6)), {"b"}, "after removing a")
    h.check("1 added" in s.f.stderr_text() and "1 removed" in s.f.stderr_text(), "the log says what changed")


@h.test
def broken_file_changes_nothing():
    a, b2 = h.Echo(name="a"), h.Echo(name="b")
    s = Setup([(a, 1)], workers=1)
    with open(s.path, "w") as fh:
        fh.write(cfg_text(s.port, [(b2, 1)], s.dir).replace("weight: 1", "weight: 5000"))
    s.f.send_signal(signal.SIGHUP)
    s.f.wait_for_log("reload failed", timeout=5)
    err = s.f.stderr_text()
    h.check("fulcrum.yaml:" in err and "weight" in err, "the error names file:line:col: %s" % err[-600:])
    h.eq(set(names(s.port, 4)), {"a"}, "still the old configuration")
    # fulcrum --reload checks the file first and says why it refuses
    r = h.run_fulcrum(["--reload", "-c", s.path])
    h.eq(r.returncode, 1, "--reload of a broken file fails")
    h.check("weight" in r.stderr, "--reload says why: %r" % r.stderr)
    # and reports a good one
    s.write([(b2, 1)])
    r = h.run_fulcrum(["--reload", "-c", s.path])
    h.eq(r.returncode, 0, "--reload of a good file: %r %r" % (r.stdout, r.stderr))
    h.check("reloaded" in r.stdout, "--reload says so: %r" % r.stdout)
    h.eq(set(names(s.port, 4)), {"b"}, "the new configuration runs")


@h.test
def reload_failing_at_run_time_is_reported():
    """Valid YAML, but a new listener's port is taken: --reload exits 1, nothing changes."""
    a = h.Echo(name="a")
    s = Setup([(a, 1)], workers=1)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    bport = busy.getsockname()[1]
    with open(s.path, "w") as fh:
        fh.write(cfg_text(s.port, [(a, 1)], s.dir, listeners_extra=(
            "  - {name: extra, address: 127.0.0.1:%d, routes: [{pool: web}]}" % bport)))
    r = h.run_fulcrum(["--reload", "-c", s.path])
    busy.close()
    h.eq(r.returncode, 1, "reload refused")
    h.check("already in use" in r.stderr, "says why: %r" % r.stderr)
    h.eq(set(names(s.port, 2)), {"a"}, "still serving")


@h.test
def listeners_added_and_removed():
    a = h.Echo(name="a")
    s = Setup([(a, 1)], workers=2)
    p2 = h.free_port()
    with open(s.path, "w") as fh:
        fh.write(cfg_text(s.port, [(a, 1)], s.dir, listeners_extra=(
            "  - {name: second, address: 127.0.0.1:%d, routes: [{pool: web}]}" % p2)))
    # a client idle on the first listener stays connected across the reloads
    keep = h.Conn(s.port)
    h.eq(keep.request("GET", "/1").status, 200, "first request")
    s.hup_and_wait()
    h.eq(h.get(p2, "/new").status, 200, "the new listener answers")
    h.eq(keep.request("GET", "/2").status, 200, "the kept listener's connection still works")
    # now drop the first listener, while a client there is half way through a head
    half = h.Conn(s.port)
    half.send(b"GET /half HTTP/1.1\r\nHo")
    time.sleep(0.1)
    p_old = s.port
    s.port = p2
    with open(s.path, "w") as fh:
        fh.write(cfg_text(p2, [(a, 1)], s.dir))
    s.hup_and_wait()
    time.sleep(0.2)
    half.send(b"st: x\r\n\r\n")
    r = half.read_response()
    h.eq(r.status, 503, "a request that arrives on a removed listener is refused")
    h.eq(r.header("Connection", "").lower(), "close", "and the connection closes")
    half.close()
    # each worker closes its socket at its next turn after the reload
    end = time.time() + 3
    while time.time() < end and not h.port_refuses(p_old):
        time.sleep(0.02)
    h.check(h.port_refuses(p_old), "the removed listener stopped accepting")
    h.eq(h.get(p2, "/still").status, 200, "the kept one still answers")
    keep.close()


@h.test
def reload_cannot_grow_the_head_buffers():
    """client.max_header_size above what the workers' buffers hold: refused, named."""
    a = h.Echo(name="a")
    s = Setup([(a, 1)], workers=1)
    with open(s.path, "w") as fh:
        fh.write(cfg_text(s.port, [(a, 1)], s.dir, extra="client: {max_header_size: 64k}"))
    r = h.run_fulcrum(["--reload", "-c", s.path])
    h.eq(r.returncode, 1, "reload refused")
    h.check("max_header_size" in r.stderr and "restart" in r.stderr, "says why: %r" % r.stderr)
    h.eq(set(names(s.port, 2)), {"a"}, "still serving")


@h.test
def second_instance_is_refused():
    a = h.Echo(name="a")
    s = Setup([(a, 1)], workers=1)
    other = h.tmpdir()
    path = os.path.join(other, "fulcrum.yaml")
    with open(path, "w") as fh:
        fh.write(cfg_text(s.port, [(a, 1)], other))
    r = h.run_fulcrum(["-c", path], timeout=10)
    h.eq(r.returncode, 1, "the second instance exits")
    h.check("already in use by another process" in r.stderr, "and says why: %r" % r.stderr[-500:])
    h.eq(set(names(s.port, 2)), {"a"}, "the first one is untouched")


@h.test
def health_state_and_counters_survive_reload():
    a, dead = h.Echo(name="a"), h.Echo(name="dead")
    dead.stop()
    pool_extra = "    health: {type: http, path: /health, interval: 200ms, fall: 1, rise: 100}"
    s = Setup([(a, 1), (dead, 1)], workers=1, pool_extra=pool_extra)
    s.f.wait_for_log("server dead is down", timeout=5)
    s.write([(a, 1), (dead, 1)], pool_extra=pool_extra)
    s.hup_and_wait()
    time.sleep(0.5)
    h.eq(set(names(s.port, 6)), {"a"}, "the dead server stays dead after the reload")
    h.check("server dead is healthy" not in s.f.stderr_text(), "it was never back")


@h.test
def sticky_cookie_survives_restart():
    bs = h.echo_backends(3)
    s = Setup([(b, 1) for b in bs], workers=1, pool_extra="    sticky: {cookie: fc}")
    r = h.get(s.port, "/")
    cookie = r.header("Set-Cookie").split(";")[0]
    first = r.header("X-Echo-Name")
    s.f.stop()
    f2 = h.Fulcrum(["-c", s.path], port=s.port, config_path=s.path)
    for i in range(5):
        r = h.get(f2.port, "/again%d" % i, headers=[("Cookie", cookie)])
        h.eq(r.header("X-Echo-Name"), first, "the cookie still picks its server after a restart")
    h.check(os.path.exists(os.path.join(s.dir, "sticky.secret")), "the secret is kept in state_dir")
    f2.stop()


@h.test
def watch_reloads_on_change():
    a, b2 = h.Echo(name="a"), h.Echo(name="b")
    s = Setup([(a, 1)], workers=1, extra="watch: true")
    h.eq(set(names(s.port, 2)), {"a"}, "before")
    s.write([(b2, 1)], extra="watch: true")
    end = time.time() + 5
    while time.time() < end and s.reloads() == 0:
        time.sleep(0.05)
    h.eq(s.reloads(), 1, "the change was picked up")
    h.eq(set(names(s.port, 2)), {"b"}, "after")


def make_cert(d, name, cn):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    return crt, key


def tls_request(sock, path):
    """One request on a TLS keep-alive socket; the whole response's status line."""
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        h.check(d, "the connection closed")
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        d = sock.recv(65536)
        h.check(d, "the connection closed mid-body")
        body += d
    return head.split(b"\r\n")[0]


def peer_cn(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as t:
            der = t.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der,
                         capture_output=True, check=True).stdout.decode()
    return out.strip().split("CN")[-1].strip(" =")


@h.test
def reload_reads_new_certificates():
    a = h.Echo(name="a")
    d = h.tmpdir()
    crt, key = make_cert(d, "site", "first")
    s = Setup([(a, 1)], workers=1)
    tls = "    tls: {certificates: [{cert: %s, key: %s}]}" % (crt, key)
    with open(s.path, "w") as fh:
        fh.write(cfg_text(s.port, [(a, 1)], s.dir, listeners_extra=tls))
    s.hup_and_wait()
    h.eq(peer_cn(s.port), "first", "the first certificate")
    # a TLS keep-alive connection made before the renewal
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    old = ctx.wrap_socket(socket.create_connection(("127.0.0.1", s.port), timeout=5),
                          server_hostname="localhost")
    h.eq(tls_request(old, "/keep"), b"HTTP/1.1 200 OK", "the old connection works")
    make_cert(d, "site", "second")  # the same paths, new files (renewal)
    s.hup_and_wait()
    h.eq(peer_cn(s.port), "second", "the renewed certificate after a reload")
    h.eq(tls_request(old, "/keep2"), b"HTTP/1.1 200 OK", "the connection made before still works")
    old.close()


h.main()
