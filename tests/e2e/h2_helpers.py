"""Shared by test_http2.py and test_http2_attacks.py (standard library only):
the skip check, h2_peer.py runs, fulcrum with an h2c prior-knowledge listener
(and a TLS one), a backend that records every request it receives, a client
measuring its latency while an attack goes on, and readable summaries of what
the h2 peer saw for failure messages."""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import harness as h

PY = "/usr/bin/python3"  # Debian's: it sees python3-h2
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "h2_peer.py")

PROTOCOL_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 1, 7, 8, 9, 11
MAX_ID = (1 << 31) - 1
CODE_NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
              "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR",
              "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]


def code_name(code):
    return CODE_NAMES[code] if 0 <= code < len(CODE_NAMES) else "0x%x" % code


def skip_unless_tools():
    """Exit with SKIP (status 0) when what the tests drive is missing here."""
    why = []
    try:
        r = subprocess.run([PY, "-c", "import h2, hpack"], capture_output=True, timeout=20)
        if r.returncode != 0:
            why.append("%s cannot import h2 (apt-get install python3-h2)" % PY)
    except (OSError, subprocess.TimeoutExpired) as e:
        why.append("%s: %s" % (PY, e))
    for tool in ("nghttp", "h2load"):
        if not shutil.which(tool):
            why.append("%s missing (apt-get install nghttp2-client)" % tool)
    if why:
        print("SKIP %s: %s" % (os.path.basename(sys.argv[0]), "; ".join(why)))
        sys.exit(0)


def test(fn=None, timeout=60):
    """harness.test, and the test fails first of all when a fulcrum it started
    died of a signal (a crash outside ASan leaves no report otherwise) or wrote
    a sanitizer report (the harness shows those only for tests that passed)."""

    def reg(f):
        def run():
            try:
                f()
            finally:
                for x in h._fulcrums:
                    rc = x.proc.poll()
                    if rc is not None and rc < 0:
                        h.fail("fulcrum died of signal %d during the test; its log ends:\n%s"
                               % (-rc, x.stderr_text()[-1500:]))
                    rep = h.sanitizer_report(x.stderr_text())
                    if rep:
                        h.fail("sanitizer report from fulcrum:\n%s" % rep)

        run.__name__ = f.__name__
        return h.test(run, timeout=timeout)

    if fn is not None:
        return reg(fn)
    return reg


def peer(scenario, timeout=60):
    """Runs h2_peer.py with this scenario (dict, or {"batch": [...]}) and returns
    its JSON answer."""
    p = h.spawn([PY, PEER, "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(json.dumps(scenario).encode(), timeout=timeout * h.SLOW)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        h.fail("h2_peer did not finish within %ds; stderr:\n%s" % (timeout * h.SLOW, err.decode()[-2000:]))
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        h.fail("h2_peer said no JSON (exit %d): %r\nstderr:\n%s" % (p.returncode, out[-500:], err.decode()[-3000:]))


def peer_start(scenario):
    """h2_peer.py in the background: returns a function that waits for its answer."""
    p = h.spawn([PY, PEER, "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(json.dumps(scenario).encode())
    p.stdin.close()
    box = {}

    def run():
        box["out"], box["err"] = p.stdout.read(), p.stderr.read()

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def wait(timeout=60):
        t.join(timeout * h.SLOW)
        if t.is_alive():
            p.kill()
            t.join(5)
            h.fail("h2_peer did not finish within %ds" % (timeout * h.SLOW))
        p.wait()
        try:
            return json.loads(box["out"].decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            h.fail("h2_peer said no JSON: %r\nstderr:\n%s" % (box["out"][-500:], box["err"].decode()[-3000:]))

    return wait


def client(port, steps, **kw):
    """A client-mode scenario on 127.0.0.1:port."""
    sc = {"port": port, "steps": steps}
    sc.update(kw)
    return sc


def req(name, path="/", method="GET", **kw):
    s = {"op": "request", "name": name, "path": path, "method": method}
    s.update(kw)
    return s


def header(st, name):
    for k, v in st["headers"]:
        if k == name:
            return v
    return None


def describe(res, limit=40):
    """What the peer saw, for a failure message: streams, GOAWAYs, frames."""
    if not res.get("ok", False):
        return "peer error: %s" % res.get("error")
    parts = []
    for name, st in res.get("streams", {}).items():
        parts.append("%s(stream %s): status=%s ended=%s reset=%s body_len=%d send_error=%s"
                     % (name, st["id"], st["status"], st["ended"], st["reset"], st["body_len"], st["send_error"]))
    for k in ("goaways", "closed", "t_closed", "h2_error", "write_error", "frames", "sent", "rst", "statuses",
              "write_stalled"):
        if k in res:
            parts.append("%s=%s" % (k, res[k]))
    log = res.get("log", [])
    parts.append("frames received [t, type, stream, flags, length, code]: %s%s"
                 % (log[:limit], " ..." if len(log) > limit else ""))
    return "\n  ".join(parts)


# ---------------------------------------------------------------- certificates

_CERT = {}


def cert_pair():
    """A self-signed EC certificate for localhost, made once per file."""
    if not _CERT:
        d = h.tmpdir()
        cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-keyout", key, "-out", cert, "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost", "-days", "2"], check=True, capture_output=True)
        _CERT["pair"] = (cert, key)
    return _CERT["pair"]


# ---------------------------------------------------------------- fulcrum


def config_text(port, backends, tls_port=None, h1_port=None, tls_http2=None, http2=None, **kw):
    """harness.config with `http2: prior_knowledge` on the listener `web`,
    optionally a TLS listener (ALPN h2 by default; tls_http2 sets its http2:)
    and a plain listener without http2: (h1 only), and an http2: section."""
    more = []
    if tls_port:
        cert, key = cert_pair()
        more += ["  - name: tls", "    address: 127.0.0.1:%d" % tls_port,
                 "    tls: {certificates: [{cert: %s, key: %s}]}" % (cert, key)]
        if tls_http2 is not None:
            more.append("    http2: %s" % tls_http2)
        more.append("    routes: [{pool: web}]")
    if h1_port:
        more += ["  - name: h1only", "    address: 127.0.0.1:%d" % h1_port, "    routes: [{pool: web}]"]
    top = kw.pop("top_extra", "")
    if http2:
        top += "\nhttp2: {%s}" % ", ".join("%s: %s" % kv for kv in http2.items())
    return h.config(port, backends, listener_extra="    http2: prior_knowledge", more_listeners="\n".join(more),
                    top_extra=top, **kw)


def start(backends, tls=False, h1only=False, **kw):
    """fulcrum in front of backends; .port is the h2c prior-knowledge (and h1)
    listener, .tls_port the TLS one, .h1_port the h1-only one."""
    port = h.free_port()
    tls_port = h.free_port() if tls else None
    h1_port = h.free_port() if h1only else None
    f = h.Fulcrum.from_config(config_text(port, backends, tls_port=tls_port, h1_port=h1_port, **kw), port=port)
    for p in (tls_port, h1_port):
        if p and not h.wait_port(p, 10, f.proc):
            h.fail("fulcrum is not listening on %d:\n%s" % (p, f.stderr_text()[-2000:]))
    f.tls_port, f.h1_port = tls_port, h1_port
    return f


# ---------------------------------------------------------------- recording backend


class Recorded:
    def __init__(self, method, target, version, headers, raw_head):
        self.method, self.target, self.version = method, target, version
        self.headers = headers  # [(name, value)] in order, as received
        self.raw_head = raw_head
        self.body = b""
        self.chunked = False
        self.trailers = []
        self.complete = False

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name]

    def __repr__(self):
        return "<%s %s %s complete=%s body=%d>" % (self.method, self.target, self.version, self.complete,
                                                   len(self.body))


class RecordingBackend:
    """An HTTP/1.1 server that records every request it receives (head as it
    came, body de-chunked, whether it arrived whole) and answers 200 with a
    JSON summary. /sleep/MS waits first. Keep-alive."""

    def __init__(self, name="rec"):
        self.name = name
        self.requests = []
        self.connections = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()
        h._closers.append(self.close)

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def close(self):
        for s in [self.sock] + self.conns:
            try:
                s.close()
            except OSError:
                pass

    def paths(self, prefix=""):
        with self.lock:
            return [r.target for r in self.requests if r.target.startswith(prefix)]

    def find(self, prefix):
        with self.lock:
            return [r for r in self.requests if r.target.startswith(prefix)]

    def _serve(self, c):
        buf = bytearray()
        c.settimeout(30)

        def fill():
            d = c.recv(65536)
            if not d:
                raise EOFError
            buf.extend(d)

        def line():
            while b"\r\n" not in buf:
                fill()
            i = buf.index(b"\r\n")
            out = bytes(buf[:i])
            del buf[: i + 2]
            return out

        def exact(n):
            while len(buf) < n:
                fill()
            out = bytes(buf[:n])
            del buf[:n]
            return out

        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    fill()
                i = buf.index(b"\r\n\r\n")
                raw = bytes(buf[: i + 4])
                del buf[: i + 4]
                lines = raw[:-4].split(b"\r\n")
                parts = lines[0].decode("latin-1").split(" ")
                hdrs = []
                for ln in lines[1:]:
                    k, _, v = ln.decode("latin-1").partition(":")
                    hdrs.append((k, v.strip(" \t")))
                r = Recorded(parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else "",
                             hdrs, raw)
                with self.lock:
                    self.requests.append(r)
                te = ",".join(r.all("transfer-encoding")).lower()
                if "chunked" in te:
                    r.chunked = True
                    body = b""
                    while True:
                        size = int(line().split(b";")[0].strip(), 16)
                        if size == 0:
                            break
                        body += exact(size)
                        exact(2)
                    while True:
                        ln = line()
                        if not ln:
                            break
                        k, _, v = ln.decode("latin-1").partition(":")
                        r.trailers.append((k, v.strip()))
                    r.body = body
                elif r.all("content-length"):
                    r.body = exact(int(r.all("content-length")[0]))
                r.complete = True
                if r.target.startswith("/sleep/"):
                    time.sleep(int(r.target[7:].split("?")[0]) / 1000.0)
                out = json.dumps({"name": self.name, "method": r.method, "target": r.target, "version": r.version,
                                  "headers": r.headers, "body_len": len(r.body),
                                  "body_sha256": hashlib.sha256(r.body).hexdigest(),
                                  "chunked": r.chunked, "trailers": r.trailers}).encode()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Echo-Name: %s\r\n"
                          b"Content-Length: %d\r\n\r\n" % (self.name.encode(), len(out)) + out)
        except (EOFError, OSError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass


# ---------------------------------------------------------------- a client beside an attack


class Victim:
    """An HTTP/1.1 keep-alive client doing GETs back to back in a thread while
    something else goes on: its latencies and failures."""

    def __init__(self, port, path="/victim"):
        self.port = port
        self.path = path
        self.lat = []
        self.errors = []
        self.stopped = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        c = None
        i = 0
        while not self.stopped.is_set():
            try:
                if c is None:
                    c = h.Conn(self.port, timeout=10)
                t0 = time.monotonic()
                r = c.request("GET", "%s/%d" % (self.path, i), timeout=10)
                self.lat.append(time.monotonic() - t0)
                if r.status != 200:
                    self.errors.append("request %d: status %d" % (i, r.status))
                if (r.header("Connection") or "").lower() == "close":
                    c.close()
                    c = None
            except Exception as e:
                self.errors.append("request %d: %r" % (i, e))
                if c:
                    c.close()
                c = None
                time.sleep(0.05)
            i += 1
        if c:
            c.close()

    def stop(self):
        self.stopped.set()
        self.t.join(15)
        return self

    def p99(self):
        if not self.lat:
            return float("inf")
        s = sorted(self.lat)
        return s[min(len(s) - 1, int(len(s) * 0.99))]

    def check(self, bound=1.0, what="during the attack"):
        h.check(not self.errors, "the other client failed %s: %s" % (what, self.errors[:5]))
        h.check(len(self.lat) >= 5, "the other client made only %d requests %s" % (len(self.lat), what))
        p = self.p99()
        h.check(p < bound * h.SLOW, "the other client's p99 latency %s was %.3f s (max %.3f s, %d requests); "
                "bound %.1f s" % (what, p, max(self.lat), len(self.lat), bound * h.SLOW))


def rss_sampler(pid, interval=0.02):
    """Samples a process' RSS in a thread: returns (stop() -> peak kB)."""
    box = {"peak": h.rss_kb(pid), "stop": False}

    def run():
        while not box["stop"]:
            try:
                box["peak"] = max(box["peak"], h.rss_kb(pid))
            except OSError:
                return
            time.sleep(interval)

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def stop():
        box["stop"] = True
        t.join(2)
        return box["peak"]

    return stop
