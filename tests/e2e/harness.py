"""End-to-end test harness for fulcrum: start fulcrum-echo backends and fulcrum on
free loopback ports, talk raw HTTP/1.x over sockets, and always clean up.

Standard library only. Every test file does:

    import harness as h

    @h.test
    def round_robin_order():
        ...

    h.main()

Environment (set by CTest, defaults for running a file by hand from the repo):
  FULCRUM_BIN, FULCRUM_ECHO_BIN   absolute paths of the binaries (default build/...)
  FULCRUM_SANITIZED               "1" under ASan/UBSan: use smaller sizes and counts
  FULCRUM_E2E_TIMEOUT             seconds for the whole file (default 220)
  FULCRUM_E2E_VERBOSE             "1": echo fulcrum's stderr at the end of each test

Nothing can hang: each test has an alarm (default 60 s), the whole file has a
watchdog thread, and every process started is killed on test end, on exit, on
SIGTERM/SIGINT, and (PR_SET_PDEATHSIG) if this Python process dies.
"""

import atexit
import collections
import ctypes
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FULCRUM_BIN = os.environ.get("FULCRUM_BIN") or os.path.join(ROOT, "build", "fulcrum")
ECHO_BIN = os.environ.get("FULCRUM_ECHO_BIN") or os.path.join(ROOT, "build", "fulcrum-echo")
SANITIZED = os.environ.get("FULCRUM_SANITIZED", "0").strip().lower() in ("1", "on", "true", "yes")
FILE_TIMEOUT = float(os.environ.get("FULCRUM_E2E_TIMEOUT", "220"))
VERBOSE = os.environ.get("FULCRUM_E2E_VERBOSE", "0") == "1"

# Under sanitizers everything is a few times slower.
SLOW = 3.0 if SANITIZED else 1.0


class TestFailure(AssertionError):
    pass


class TestTimeout(Exception):
    pass


class HTTPTimeout(Exception):
    pass


# ---------------------------------------------------------------------------
# process bookkeeping and cleanup

_procs = []  # every Popen we started
_fulcrums = []  # Fulcrum objects of the current test
_tmpdirs = []
_closers = []  # in-process fakes to close at test end
_lock = threading.Lock()


def _pdeathsig():
    # Runs in the child between fork and exec: die with the test runner.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def spawn(args, **kw):
    """Popen that is registered for cleanup and dies with us."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(args, preexec_fn=_pdeathsig, **kw)
    with _lock:
        _procs.append(p)
    return p


def kill_all():
    with _lock:
        procs = list(_procs)
        _procs.clear()
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in procs:
        try:
            p.wait(timeout=5)
        except Exception:
            pass
        for f in (p.stdout, p.stderr):
            try:
                if f:
                    f.close()
            except Exception:
                pass


def _cleanup_all():
    kill_all()
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)
    _tmpdirs.clear()


atexit.register(_cleanup_all)


def _on_signal(signum, frame):
    _cleanup_all()
    os._exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def _watchdog():
    sys.stdout.write("TIMEOUT: the whole file took more than %.0f s; killing everything\n" % FILE_TIMEOUT)
    sys.stdout.flush()
    _cleanup_all()
    os._exit(3)


_wd = threading.Timer(FILE_TIMEOUT, _watchdog)
_wd.daemon = True
_wd.start()


def tmpdir():
    d = tempfile.mkdtemp(prefix="fulcrum-e2e-")
    _tmpdirs.append(d)
    return d


# ---------------------------------------------------------------------------
# assertions


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def eq(got, want, what="value"):
    if got != want:
        raise TestFailure("%s: got %r, want %r" % (what, got, want))


def fail(msg):
    raise TestFailure(msg)


# ---------------------------------------------------------------------------
# ports


def free_port():
    """A loopback port that is free now, below the ephemeral range (so it does not
    collide with outgoing connections), chosen at random so parallel test files
    rarely pick the same one."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port found")


def refused_port():
    """A port with nothing listening on it (connect is refused)."""
    return free_port()


def wait_port(port, timeout=10.0, proc=None):
    """Wait until something accepts on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
            s.close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def port_refuses(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.close()
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return True


# ---------------------------------------------------------------------------
# fulcrum-echo backends


class Echo:
    """A fulcrum-echo backend. port=0 lets it pick a free port itself (no race)."""

    def __init__(self, name=None, port=0, fail=False, latency=None, threads=1, extra=()):
        self.name = name
        self.port = port
        self.fail_mode = fail
        self.latency = latency
        self.threads = threads
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self, port=None):
        if port is not None:
            self.port = port
        args = [ECHO_BIN, "-port", str(self.port), "-threads", str(self.threads)]
        if self.name:
            args += ["-name", self.name]
        if self.fail_mode:
            args.append("-fail")
        if self.latency:
            args += ["-latency", str(self.latency)]
        args += self.extra
        last_err = ""
        for attempt in range(20):  # restarting on the same port may need a moment
            self.proc = spawn(args, stdout=subprocess.PIPE)
            line = _read_line(self.proc.stdout, 10 * SLOW)
            m = re.match(r"fulcrum-echo (\S+) listening on [\d.]+:(\d+)", line or "")
            if m:
                if not self.name:
                    self.name = m.group(1)
                self.port = int(m.group(2))
                return self
            last_err = line
            self.proc.kill()
            self.proc.wait()
            time.sleep(0.1)
        raise RuntimeError("fulcrum-echo did not start: %r" % last_err)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=5):
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start(self.port)

    def stats(self):
        """/stats straight from the backend (one extra connection, not a request)."""
        r = request(self.port, "GET", "/stats", timeout=5)
        eq(r.status, 200, "backend /stats status")
        return r.json()

    def requests(self):
        return self.stats()["requests"]

    def connections(self):
        return self.stats()["connections"]


def _read_line(f, timeout):
    """Read one line from a pipe with a deadline (None on timeout/EOF)."""
    fd = f.fileno()
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def echo_backends(n, prefix="echo", **kw):
    return [Echo(name="%s-%d" % (prefix, i + 1), **kw) for i in range(n)]


class Blackhole:
    """A port where connect() hangs: a listener whose accept queue is full, so the
    kernel drops further SYNs (for connect timeouts)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", free_port()))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fill = []
        for _ in range(3):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.port))
            except (BlockingIOError, OSError):
                pass
            self.fill.append(s)
        time.sleep(0.05)
        _closers.append(self.close)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def close(self):
        for s in self.fill + [self.sock]:
            try:
                s.close()
            except OSError:
                pass


class FakeBackend:
    """A misbehaving HTTP backend in a thread. mode:
      close_after_head  read the request head, then close without answering
      reset_after_head  same, with a TCP reset
      hang              read the request head and never answer
      garbage           answer with bytes that are not HTTP
      partial           send a head with Content-Length 1000, 10 body bytes, close
      ok                answer 200 "ok" and close (a recording health endpoint)
      flood_1xx         answer 50,000 "100 Continue" heads, then a 200, then close
    .accepted counts connections, .heads counts request heads read, .requests
    holds the request heads as received."""

    def __init__(self, mode, name="fake"):
        self.mode = mode
        self.name = name
        self.accepted = 0
        self.heads = 0
        self.requests = []
        self.conns = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        _closers.append(self.close)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        self.conns.append(c)
        data = b""
        try:
            c.settimeout(30)
            while b"\r\n\r\n" not in data:
                d = c.recv(65536)
                if not d:
                    c.close()
                    return
                data += d
            self.heads += 1
            self.requests.append(data)
            if self.mode == "ok":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                c.close()
            elif self.mode == "flood_1xx":
                one = b"HTTP/1.1 100 Continue\r\n\r\n"
                for _ in range(50):
                    c.sendall(one * 1000)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                c.close()
            elif self.mode == "close_after_head":
                c.close()
            elif self.mode == "reset_after_head":
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                c.close()
            elif self.mode == "garbage":
                c.sendall(b"this is not http\r\n\r\n")
                time.sleep(0.2)
                c.close()
            elif self.mode == "partial":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
                time.sleep(0.2)
                c.close()
            elif self.mode == "hang":
                while not self.stopped:
                    d = c.recv(65536)
                    if not d:
                        break
        except OSError:
            pass

    def close(self):
        self.stopped = True
        for s in self.conns + [self.sock]:
            try:
                s.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------
# fulcrum


class Fulcrum:
    """A running fulcrum. stdout (access log by default) and stderr (error log) go
    to files in a temp dir; read them with .stdout_text() / .stderr_text()."""

    def __init__(self, args, port=None, env=None, wait=True, config_path=None, wrapper=()):
        self.dir = tmpdir()
        self.port = port
        self.config_path = config_path
        self.out_path = os.path.join(self.dir, "stdout.log")
        self.err_path = os.path.join(self.dir, "stderr.log")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        if env:
            for k, v in env.items():
                if v is None:
                    e.pop(k, None)
                else:
                    e[k] = v
        self.args = list(wrapper) + [FULCRUM_BIN] + list(args)
        self.proc = spawn(self.args, stdout=self._out, stderr=self._err, env=e, cwd=self.dir)
        _fulcrums.append(self)
        if wait and port is not None:
            if not wait_port(port, 15, self.proc):
                fail(
                    "fulcrum did not start listening on %d (exit %r)\nargs: %s\nstderr:\n%s"
                    % (port, self.proc.poll(), " ".join(self.args), self.stderr_text()[-3000:])
                )

    @classmethod
    def from_config(cls, yaml_text, port=None, extra_args=(), env=None, wait=True, wrapper=()):
        """wrapper: a command fulcrum runs under (it execs its arguments)."""
        d = tmpdir()
        path = os.path.join(d, "fulcrum.yaml")
        with open(path, "w") as f:
            f.write(yaml_text)
        return cls(["-c", path] + list(extra_args), port=port, env=env, wait=wait, config_path=path,
                   wrapper=wrapper)

    @classmethod
    def fileless(cls, port, servers, algorithm=None, workers=None, extra_args=(), env=None, wait=True):
        args = ["--listen", "127.0.0.1:%d" % port]
        for s in servers:
            args += ["--to", s.url if isinstance(s, Echo) else s]
        if algorithm:
            args += ["--algorithm", algorithm]
        if workers:
            args += ["--workers", str(workers)]
        return cls(args + list(extra_args), port=port, env=env, wait=wait)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def rss_kb(self):
        return rss_kb(self.proc.pid)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=5):
        if self.alive():
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def _read(self, path):
        for f in (self._out, self._err):
            try:
                f.flush()
            except Exception:
                pass
        try:
            with open(path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stdout_text(self):
        return self._read(self.out_path)

    def stderr_text(self):
        return self._read(self.err_path)

    def wait_for_output(self, pred, timeout=5, which="stdout"):
        """Poll stdout/stderr until pred(text) is true; returns the text."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            text = self.stdout_text() if which == "stdout" else self.stderr_text()
            if pred(text) or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def wait_for_log(self, needle, timeout=5):
        """Waits until fulcrum's error log (stderr) contains needle; fails the
        test with the log when it does not within timeout (times SLOW)."""
        text = self.wait_for_output(lambda t: needle in t, timeout=timeout, which="stderr")
        if needle not in text:
            fail("fulcrum never logged %r; its log:\n%s" % (needle, text[-3000:]))
        return text


def sanitizer_report(text):
    m = re.search(r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|ThreadSanitizer)", text)
    if not m:
        return None
    return text[max(0, m.start() - 200) : m.start() + 3000]


def run_fulcrum(args, timeout=10, env=None, input_text=None):
    """Run fulcrum to completion (--check, --version, ...): CompletedProcess."""
    e = dict(os.environ)
    if env:
        for k, v in env.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
    p = spawn(
        [FULCRUM_BIN] + list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=e,
        cwd=tmpdir(),
    )
    try:
        out, err = p.communicate(timeout=timeout * SLOW)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        fail("fulcrum %s did not finish within %ss" % (" ".join(args), timeout))
    return subprocess.CompletedProcess(p.args, p.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def promtool(text):
    """promtool check metrics must pass on text (a /metrics answer); a clear
    skip when it is not installed."""
    tool = shutil.which("promtool")
    if not tool:
        print("SKIP promtool check: promtool is not installed (Debian: apt-get install prometheus)")
        return
    p = subprocess.run([tool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    eq(p.returncode, 0, "promtool check metrics: %s %s" % (p.stdout.decode(), p.stderr.decode()))
    eq((p.stdout + p.stderr).decode().strip(), "", "promtool has nothing to say")


def write_file(text, name="fulcrum.yaml"):
    path = os.path.join(tmpdir(), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def config(port, backends, algorithm="round_robin", workers=1, pool_extra=None, client=None,
           log_level="warn", access="off", access_format="text", top_extra="", server_extra=None,
           listener_extra="", more_listeners=""):
    """A one-listener, one-pool configuration. backends: Echo objects or
    (url, name, weight) tuples. pool_extra/client: dicts of extra settings.
    listener_extra: YAML lines added to the listener (indented by 4, e.g.
    "    http2: prior_knowledge"); more_listeners: further items of the
    listeners list (indented by 2, "  - name: ...")."""
    lines = [
        "workers: %d" % workers,
        "shutdown_grace: 5s",
        "log: {level: %s, error: stderr, access: %s, access_format: %s}" % (log_level, access, access_format),
    ]
    if client:
        lines.append("client: {%s}" % ", ".join("%s: %s" % kv for kv in client.items()))
    if "state_dir:" not in top_extra:  # each fulcrum its own: sticky secret, admin journal
        lines.append("state_dir: %s" % tmpdir())
    if top_extra:
        lines.append(top_extra.rstrip("\n"))
    lines += [
        "listeners:",
        "  - name: web",
        "    address: 127.0.0.1:%d" % port,
    ]
    if listener_extra:
        lines.append(listener_extra.rstrip("\n"))
    lines += [
        "    routes:",
        "      - {pool: web}",
    ]
    if more_listeners:
        lines.append(more_listeners.rstrip("\n"))
    lines += [
        "pools:",
        "  web:",
        "    algorithm: %s" % algorithm,
        "    servers:",
    ]
    for b in backends:
        if isinstance(b, Echo):
            url, name, weight = b.url, b.name, 1
        else:
            url, name, weight = b
        extra = (", " + server_extra) if server_extra else ""
        lines.append("      - {url: %s, name: %s, weight: %d%s}" % (url, name, weight, extra))
    for k, v in (pool_extra or {}).items():
        lines.append("    %s: %s" % (k, v))
    return "\n".join(lines) + "\n"


def start_proxy(backends, **kw):
    """Free port + config(...) + Fulcrum.from_config: the common case."""
    port = free_port()
    extra_args = kw.pop("extra_args", ())
    env = kw.pop("env", None)
    return Fulcrum.from_config(config(port, backends, **kw), port=port, extra_args=extra_args, env=env)


def warm_proxy(**kw):
    """One fulcrum-echo behind fulcrum (start_proxy(**kw)), after one request
    went through: take RSS or fd baselines after this. Returns (echo, fulcrum)."""
    e = Echo()
    f = start_proxy([e], **kw)
    eq(get(f.port, "/").status, 200, "warm-up")
    return e, f


# ---------------------------------------------------------------------------
# /proc


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


# ---------------------------------------------------------------------------
# raw HTTP client


class Response:
    def __init__(self):
        self.proto = ""
        self.status = 0
        self.reason = ""
        self.headers = []  # [(name, value)] as received
        self.body = b""
        self.body_len = 0
        self.trailers = []
        self.interim = []  # 1xx responses before this one
        self.chunked = False
        self.raw_head = b""
        self.elapsed = 0.0

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def trailer(self, name, default=None):
        name = name.lower()
        for k, v in self.trailers:
            if k.lower() == name:
                return v
        return default

    def text(self):
        return self.body.decode(errors="replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            fail("response body is not JSON: %r (status %d)" % (self.body[:300], self.status))

    def __repr__(self):
        return "<Response %s %d %s, %d body bytes>" % (self.proto, self.status, self.reason, self.body_len)


def build_request(method="GET", path="/", headers=None, body=None, proto="HTTP/1.1", host="localhost"):
    """Bytes of a request. headers: list of (name, value) or dict. Host is added
    unless host is None or given in headers; Content-Length is added for a bytes
    body unless Transfer-Encoding/Content-Length is given."""
    hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hs}
    if host is not None and "host" not in names:
        hs.insert(0, ("Host", host))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        hs.append(("Content-Length", str(len(body))))
    head = "%s %s %s\r\n" % (method, path, proto)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in hs)
    head += "\r\n"
    return head.encode("latin-1") + (body or b"")


def chunked(data, size=None):
    """Encode bytes in chunked transfer coding (no trailers)."""
    out = b""
    size = size or max(1, len(data))
    for i in range(0, len(data), size):
        piece = data[i : i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


class Conn:
    """A client connection with a read buffer and deadlines."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.port = port
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method="GET", path="/", headers=None, body=None, proto="HTTP/1.1", host="localhost",
                timeout=10, sink=None):
        self.send(build_request(method, path, headers, body, proto, host))
        return self.read_response(method, timeout=timeout, sink=sink)

    def _fill(self, deadline):
        """Read more into buf. False on EOF; raises HTTPTimeout."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise HTTPTimeout("timed out waiting for data")
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(262144)
        except socket.timeout:
            raise HTTPTimeout("timed out waiting for data")
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def _line(self, deadline, limit=1 << 20):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[: i + 1])
                del self.buf[: i + 1]
                return line
            if len(self.buf) > limit:
                raise TestFailure("line too long")
            if not self._fill(deadline):
                raise ConnectionError("connection closed while reading a line (have %r)" % bytes(self.buf[:200]))

    def _exact(self, n, deadline, out):
        while n > 0:
            if not self.buf and not self._fill(deadline):
                raise ConnectionError("connection closed with %d body bytes missing" % n)
            take = min(n, len(self.buf))
            out(self.buf[:take])
            del self.buf[:take]
            n -= take

    def read_head(self, deadline):
        """Status line and headers: (proto, status, reason, headers, raw)."""
        raw = b""
        line = self._line(deadline)
        raw += line
        parts = line.rstrip(b"\r\n").split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise TestFailure("bad status line %r" % line)
        proto = parts[0].decode()
        status = int(parts[1])
        reason = parts[2].decode(errors="replace") if len(parts) > 2 else ""
        headers = []
        while True:
            line = self._line(deadline)
            raw += line
            if line in (b"\r\n", b"\n"):
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers.append((k, v.strip()))
        return proto, status, reason, headers, raw

    def read_interim(self, timeout=5):
        """Read one response head that must be 1xx (e.g. 100 Continue)."""
        r = Response()
        deadline = time.monotonic() + timeout * SLOW
        r.proto, r.status, r.reason, r.headers, r.raw_head = self.read_head(deadline)
        return r

    def read_response(self, method="GET", timeout=10, sink=None):
        """One response. sink(bytes) receives the body instead of keeping it.
        1xx responses are collected in .interim."""
        t0 = time.monotonic()
        deadline = t0 + timeout * SLOW
        r = Response()
        while True:
            proto, status, reason, headers, raw = self.read_head(deadline)
            if 100 <= status < 200 and status != 101:
                ir = Response()
                ir.proto, ir.status, ir.reason, ir.headers, ir.raw_head = proto, status, reason, headers, raw
                r.interim.append(ir)
                continue
            break
        r.proto, r.status, r.reason, r.headers, r.raw_head = proto, status, reason, headers, raw
        parts = []

        def out(b):
            r.body_len += len(b)
            if sink:
                sink(bytes(b))
            else:
                parts.append(bytes(b))

        te = r.header("transfer-encoding")
        cl = r.header("content-length")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            pass
        elif te is not None and "chunked" in te.lower():
            r.chunked = True
            while True:
                line = self._line(deadline)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                self._exact(size, deadline, out)
                crlf = self._line(deadline)
                if crlf not in (b"\r\n", b"\n"):
                    raise TestFailure("bad chunk end %r" % crlf)
            while True:
                line = self._line(deadline)
                if line in (b"\r\n", b"\n"):
                    break
                k, _, v = line.decode("latin-1").partition(":")
                r.trailers.append((k, v.strip()))
        elif cl is not None:
            self._exact(int(cl), deadline, out)
        else:
            while True:
                if self.buf:
                    out(self.buf)
                    self.buf = bytearray()
                if not self._fill(deadline):
                    break
        r.body = b"".join(parts)
        r.elapsed = time.monotonic() - t0
        return r

    def wait_closed(self, timeout=5):
        """True if the peer closes (EOF or reset) within timeout; data that
        arrives meanwhile is kept in .buf."""
        deadline = time.monotonic() + timeout * SLOW
        try:
            while self._fill(deadline):
                pass
            return True
        except HTTPTimeout:
            return False
        except OSError:
            return True

    def is_open(self, wait=0.2):
        """False if the peer has closed the connection (checked without blocking long)."""
        return not self.wait_closed(wait / SLOW)


def request(port, method="GET", path="/", headers=None, body=None, proto="HTTP/1.1", host="localhost",
            timeout=10, sink=None):
    """One request on a fresh connection, then close it."""
    with Conn(port, timeout=timeout * SLOW) as c:
        return c.request(method, path, headers, body, proto, host, timeout, sink)


def get(port, path="/", **kw):
    return request(port, "GET", path, **kw)


def send_raw(port, data, timeout=5):
    """Send bytes, then read everything until the peer closes or timeout.
    Returns (bytes_received, closed)."""
    with Conn(port, timeout=timeout * SLOW) as c:
        c.send(data)
        closed = c.wait_closed(timeout)
        return bytes(c.buf), closed


def parse_responses(data):
    """Split a byte string into Responses (for pipelining checks)."""
    class _Fake(Conn):
        def __init__(self, b):
            self.buf = bytearray(b)
            self.eof = True

    c = _Fake(data)
    out = []
    while c.buf:
        out.append(c.read_response(timeout=1))
    return out


# ---------------------------------------------------------------------------
# curl


def curl(*args, timeout=20):
    """Run curl -sS with args; returns CompletedProcess (text)."""
    if not shutil.which("curl"):
        fail("curl not installed")
    p = spawn(["curl", "-sS", "--max-time", str(int(timeout * SLOW))] + list(args),
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout * SLOW + 5)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return subprocess.CompletedProcess(p.args, p.returncode, out.decode(errors="replace"),
                                       err.decode(errors="replace"))


# ---------------------------------------------------------------------------
# small helpers


def wait_until(pred, timeout=5, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    fail("timed out waiting for %s" % what)


def need_binaries(echo_only=False):
    bins = [ECHO_BIN] if echo_only else [ECHO_BIN, FULCRUM_BIN]
    for b in bins:
        if not os.access(b, os.X_OK):
            fail("binary not found: %s (build first, or set FULCRUM_BIN/FULCRUM_ECHO_BIN)" % b)


def keepalive_load(port, clients, seconds, each, path="/", pause=0.0, want_200=True):
    """clients threads, each sending requests back to back on its own keep-alive
    connection for `seconds` (wall time); each(elapsed, response) is called under
    a lock for every response. A non-200 (when want_200) or any client error
    fails the test."""
    errors = []
    lock = threading.Lock()
    t0 = time.monotonic()
    stop = t0 + seconds

    def run(i):
        c = None
        n = 0
        try:
            while time.monotonic() < stop:
                if c is None:
                    c = Conn(port)
                r = c.request("GET", "%s?c=%d&n=%d" % (path, i, n), timeout=10)
                n += 1
                if want_200 and r.status != 200:
                    raise AssertionError("status %d" % r.status)
                with lock:
                    each(time.monotonic() - t0, r)
                if (r.header("Connection") or "").lower() == "close":
                    c.close()
                    c = None
                if pause:
                    time.sleep(pause)
        except Exception as e:
            errors.append("client %d: %r" % (i, e))
        finally:
            if c:
                c.close()

    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(seconds + 30)
    check(not errors, "client errors: %s" % errors[:3])


def backend_counts(port, clients, seconds, path="/"):
    """Counter of X-Echo-Name over keepalive_load(port, clients, seconds x SLOW)."""
    cnt = collections.Counter()
    keepalive_load(port, clients, seconds * SLOW, lambda t, r: cnt.update([r.header("X-Echo-Name")]), path=path)
    return cnt


def sized(normal, sanitized):
    """Pick a size or count: smaller under ASan."""
    return sanitized if SANITIZED else normal


# ---------------------------------------------------------------------------
# test runner

_tests = []


def test(fn=None, timeout=60):
    """Decorator: register a test. @h.test or @h.test(timeout=120)."""

    def reg(f):
        f._timeout = timeout
        _tests.append(f)
        return f

    if fn is not None:
        return reg(fn)
    return reg


def _alarm(signum, frame):
    raise TestTimeout("test took longer than its time limit")


def _finish_test():
    """Stop fulcrums (gracefully, to let sanitizers speak), kill everything else;
    returns a sanitizer report if any fulcrum produced one."""
    report = None
    for f in _fulcrums:
        try:
            if f.alive():
                f.stop(signal.SIGTERM, timeout=3)
        except Exception:
            pass
        text = f.stderr_text()
        rep = sanitizer_report(text)
        if rep and not report:
            report = rep
        if VERBOSE and text.strip():
            sys.stdout.write("---- fulcrum stderr (%s)\n%s\n" % (" ".join(f.args[1:]), text[-4000:]))
    _fulcrums.clear()
    kill_all()
    while _closers:
        try:
            _closers.pop()()
        except Exception:
            pass
    return report


def io_uring_refused():
    """Why this kernel refuses io_uring (a seccomp filter, the sysctl, no
    support), or None when io_uring_setup works."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
    fd = libc.syscall(425, 1, params)  # io_uring_setup: the same number everywhere
    if fd < 0:
        return os.strerror(ctypes.get_errno())
    os.close(fd)
    return None


def main(only_echo=False):
    """Run the registered tests (or those named in argv) and exit."""
    need_binaries(echo_only=only_echo)
    if os.environ.get("FULCRUM_IO_URING") == "on" and not only_echo:
        why = io_uring_refused()
        if why:
            # the io_uring pass cannot run here; the e2e_epoll_ pass still does
            print("SKIP %s on io_uring: this kernel refuses io_uring_setup (%s)"
                  % (os.path.basename(sys.argv[0]), why))
            sys.exit(0)
    signal.signal(signal.SIGALRM, _alarm)
    selected = _tests
    if len(sys.argv) > 1:
        selected = [t for t in _tests if t.__name__ in sys.argv[1:]]
    passed = failed = 0
    failures = []
    name = os.path.basename(sys.argv[0])
    for t in selected:
        t0 = time.monotonic()
        err = None
        signal.alarm(int(t._timeout * SLOW))
        try:
            t()
        except TestTimeout:
            err = "TIMEOUT after %ds\n%s" % (int(t._timeout * SLOW), traceback.format_exc(limit=6))
        except TestFailure as e:
            err = "%s\n%s" % (e, traceback.format_exc(limit=4))
        except Exception as e:
            err = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
        finally:
            signal.alarm(0)
        try:
            rep = _finish_test()
        except Exception as e:
            rep = "cleanup error: %s" % e
        if rep and not err:
            err = "sanitizer report from fulcrum:\n%s" % rep
        dt = time.monotonic() - t0
        if err:
            failed += 1
            failures.append(t.__name__)
            sys.stdout.write("FAIL %s (%.1fs): %s\n" % (t.__name__, dt, err.rstrip()))
        else:
            passed += 1
            sys.stdout.write("PASS %s (%.1fs)\n" % (t.__name__, dt))
        sys.stdout.flush()
    _cleanup_all()
    if failures:
        sys.stdout.write("%s: failed: %s\n" % (name, ", ".join(failures)))
    sys.stdout.write("%d passed, %d failed\n" % (passed, failed))
    sys.stdout.flush()
    sys.exit(1 if failed or not selected else 0)
