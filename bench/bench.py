#!/usr/bin/env python3
"""bench.py — the side-by-side benchmark behind `make bench` (GitHub issue #2).

fulcrum, HAProxy and nginx, one worker each, in front of the same three
fulcrum-echo backends, under the same wrk load, in alternating rounds:

  keep-alive  wrk -t1 -c64 --latency             (64 persistent connections)
  close       same with "Connection: close"      (a new connection per request)
  keepalive2k wrk -t1 -c2000 --latency           (2,000 persistent connections), also
              backend connections opened per request (fulcrum-echo /stats)
  idle        5,000 idle keep-alive client connections: RSS delta / 5,000
  tls_keepalive, tls_close
              the same two loads over TLS (https://, one ECDSA P-256 certificate
              made at start for all the proxies; wrk resumes sessions)
  tls_idle    5,000 idle TLS client connections (python ssl, full handshakes)
  idlews      10,000 idle WebSockets (fewer when the fd limit is lower): RSS delta / N
  h2_tls      HTTP/2 over TLS: h2load -c10 -m100 (10 connections x 100 concurrent
              streams) to a third listener offering ALPN h2; the proxies still speak
              HTTP/1.1 keep-alive to the backends

BENCH_PHASES picks a subset (default: all of them).

For each it records requests/s, p50/p99 latency, errors, the proxy's CPU time
per request (utime+stime from /proc/PID/stat, all the proxy's processes) and
RSS, and prints the medians per proxy and the fulcrum/haproxy, fulcrum/nginx
ratios. Raw data goes to bench/results/<timestamp>/.

Started by bench/run.sh (which raises the fd limit and is the last-resort
cleanup); every process started here is also killed here on exit.
Settings come from the environment, see bench/README.md.
"""
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from idle_conns import IdleConns  # noqa: E402
from idle_ws import IdleWebSockets  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PROXIES = ("fulcrum", "fulcrum-epoll", "fulcrum-log", "haproxy", "nginx")
PEERS = ("haproxy", "nginx")
# every phase, in the order a round runs them (strace comes before h2_tls)
PHASES = ("keepalive", "close", "tls_keepalive", "tls_close", "idle", "tls_idle", "idlews",
          "keepalive2k", "h2_tls")
IDLE_PHASES = ("idle", "tls_idle", "idlews")
LOAD_MODES = ("keepalive", "close", "keepalive2k", "tls_keepalive", "tls_close")
TLS_PHASES = ("tls_keepalive", "tls_close", "tls_idle")
# the h2load phases: not wrk modes (their own runner and summary), last in a
# round so that no earlier phase sees what HTTP/2 left in a proxy's allocator
H2_PHASES = ("h2_tls",)
TLS_NAME = "bench.test"   # the certificate's name (SAN and CN)

WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
"""


def env(name, default):
    v = os.environ.get(name, "")
    return v if v != "" else default


def log(msg):
    print(msg, flush=True)


def warn(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, build_dir):
        self.build = os.path.abspath(build_dir)
        self.duration = env("BENCH_DURATION", "10s")
        self.rounds = int(env("BENCH_ROUNDS", "5"))
        self.conns = int(env("BENCH_CONNS", "64"))
        self.warmup = env("BENCH_WARMUP", "2s")
        self.idle_n = int(env("BENCH_IDLE_CONNS", "5000"))
        self.pin = env("BENCH_PIN", "0") != "0"
        self.do_strace = env("BENCH_STRACE", "1") != "0"
        self.strace_secs = env("BENCH_STRACE_DURATION", "3s")
        self.many = int(env("BENCH_MANY_CONNS", "2000"))
        self.tls_idle_n = int(env("BENCH_TLS_IDLE_CONNS", "5000"))
        self.idle_ws = int(env("BENCH_IDLE_WS", "10000"))
        self.h2_conns = int(env("BENCH_H2_CONNS", "10"))
        self.h2_streams = int(env("BENCH_H2_STREAMS", "100"))
        self.h2_warmup = int(env("BENCH_H2_WARMUP_REQUESTS", "20000"))
        if env("BENCH_ONLY", ""):
            raise SystemExit("BENCH_ONLY is gone: BENCH_PHASES selects the phases"
                             f" (e.g. BENCH_PHASES=idlews; known: {','.join(PHASES)})")
        # BENCH_PHASES: which phases to run (default all). The older
        # BENCH_MODES (load modes only) still works when BENCH_PHASES is unset:
        # its modes plus the plain idle phase, as before TLS existed.
        if env("BENCH_PHASES", ""):
            wanted_ph = env("BENCH_PHASES", "").replace(",", " ").split()
        elif env("BENCH_MODES", ""):
            wanted_ph = env("BENCH_MODES", "").replace(",", " ").split() + ["idle"]
        else:
            wanted_ph = list(PHASES)
        unknown = [x for x in wanted_ph if x not in PHASES]
        if unknown:
            raise SystemExit(f"BENCH_PHASES: unknown phase(s) {' '.join(unknown)}"
                             f" (known: {','.join(PHASES)})")
        if self.idle_n <= 0 and "idle" in wanted_ph:
            wanted_ph.remove("idle")
        if self.tls_idle_n <= 0 and "tls_idle" in wanted_ph:
            wanted_ph.remove("tls_idle")
        if self.idle_ws <= 0 and "idlews" in wanted_ph:
            wanted_ph.remove("idlews")
        if "h2_tls" in wanted_ph and not shutil.which("h2load"):
            warn("h2load not found (make bench installs nghttp2-client): skipping h2_tls")
            wanted_ph = [x for x in wanted_ph if x != "h2_tls"]
        self.phases = [x for x in PHASES if x in wanted_ph]
        self.modes = [m for m in self.phases if m in LOAD_MODES]
        self.tls = any(x in TLS_PHASES for x in self.phases)
        self.idle_batch = int(env("BENCH_IDLE_BATCH", "1"))
        self.echo_threads = env("BENCH_ECHO_THREADS", "1")
        # BENCH_FULCRUM_ACCESS=file adds "fulcrum-log": the same fulcrum with
        # its access log on (to a file in the temp dir), run in the same rounds
        self.access = env("BENCH_FULCRUM_ACCESS", "off")
        if self.access not in ("off", "file"):
            raise SystemExit(f"BENCH_FULCRUM_ACCESS: off or file, not {self.access!r}")
        default = [p for p in PROXIES if p != "fulcrum-log" or self.access == "file"]
        wanted = env("BENCH_PROXIES", " ".join(default)).split()
        if self.access == "file" and "fulcrum" in wanted and "fulcrum-log" not in wanted:
            wanted.append("fulcrum-log")
        self.proxies = [p for p in PROXIES if p in wanted]
        self.tmp = env("BENCH_TMP", "") or tempfile.mkdtemp(prefix="fulcrum-bench-")
        os.makedirs(self.tmp, exist_ok=True)
        self.pidfile = os.path.join(self.tmp, "pids")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.out = os.path.join(HERE, "results", stamp)
        os.makedirs(self.out, exist_ok=True)
        self.procs = []          # every Popen we started, for cleanup
        self.backends = []       # ports
        self.backend_pids = []   # their processes (fulcrum-echo), for the noise check
        # a run is dropped when other work on the machine took more than this
        # share of a core during it
        self.noise_max = float(env("BENCH_NOISE_MAX", "0.10"))
        self.backend_kind = None
        self.results = {p: {"rounds": [], "start_errors": [], "strace": None, "strace_tls": None}
                        for p in self.proxies}
        soft, hard = __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)
        self.nofile = soft
        # Each proxied connection may need two fds; leave room for the rest.
        self.maxconn = max(1024, min(20000, (hard - 200) // 2))
        self.ncpu = os.cpu_count() or 1
        if self.ncpu < 2:
            self.pin = False
        # keepalive2k: wrk holds the client sockets, the proxy a client and a
        # backend socket per connection; all of them under this one limit.
        if "keepalive2k" in self.modes and self.nofile < 2 * self.many + 256:
            warn(f"keepalive2k needs about {2 * self.many + 256} fds, the limit is {self.nofile}"
                 " (ulimit -n): skipping it")
            self.modes.remove("keepalive2k")
            self.phases.remove("keepalive2k")
        # a proxied WebSocket holds two of the proxy's fds (client, backend)
        ws_cap = (self.nofile - 400) // 2
        if "idlews" in self.phases and self.idle_ws > ws_cap:
            warn(f"idlews: {self.idle_ws} WebSockets need about {2 * self.idle_ws + 400} fds in"
                 f" the proxy, the limit is {self.nofile} (ulimit -n): opening {ws_cap}")
            self.idle_ws = ws_cap
        self.ws_port = None  # the WebSocket backend (idle_ws.py serve)
        self.cert = None   # {"cert", "key", "pem"}: made by make_cert()

    # ---- processes -------------------------------------------------------

    def spawn(self, name, argv, cpu=None, **kw):
        if self.pin and cpu is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", str(cpu)] + argv
        logf = open(os.path.join(self.tmp, name + ".out"), "ab")
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True, **kw)
        logf.close()
        p.bench_name = name
        self.procs.append(p)
        with open(self.pidfile, "a") as f:
            f.write(f"{p.pid}\n")
        return p

    def stop(self, p, timeout=5.0):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        else:
            # the leader is gone; make sure nothing of its group stays
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if p in self.procs:
            self.procs.remove(p)

    def cleanup(self):
        for p in list(reversed(self.procs)):
            self.stop(p)

    def tail(self, name, n=8):
        path = os.path.join(self.tmp, name + ".out")
        try:
            with open(path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join("    " + l for l in lines[-n:])
        except OSError:
            return ""

    # ---- helpers ---------------------------------------------------------

    @staticmethod
    def free_port():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    @staticmethod
    def http_get(port, path, timeout):
        """One GET with Connection: close; the whole response, as bytes."""
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
                      % path.encode())
            data = b""
            while True:
                d = s.recv(65536)
                if not d:
                    return data
                data += d

    @classmethod
    def http_ok(cls, port, timeout=1.0):
        try:
            data = cls.http_get(port, "/", timeout)
            return data.startswith(b"HTTP/1.1 2") or data.startswith(b"HTTP/1.0 2")
        except OSError:
            return False

    @staticmethod
    def tls_context():
        """The client side of every TLS probe and idle connection: the defaults,
        without verification (the certificate is self-signed)."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    @classmethod
    def https_ok(cls, port, timeout=1.0):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
                with cls.tls_context().wrap_socket(raw, server_hostname=TLS_NAME) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                    data = b""
                    while True:
                        d = s.recv(65536)
                        if not d:
                            break
                        data += d
            return data.startswith(b"HTTP/1.1 2") or data.startswith(b"HTTP/1.0 2")
        except (OSError, ssl.SSLError):
            return False

    def wait_ready(self, port, procs, secs=10.0, tls=False):
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                return False
            if (self.https_ok if tls else self.http_ok)(port):
                return True
            time.sleep(0.05)
        return False

    def make_cert(self):
        """One ECDSA P-256 certificate for every proxy's TLS listener, made now
        in the temp dir (never kept): cert.pem, key.pem, and both in one file
        for HAProxy (crt wants them together)."""
        d = os.path.join(self.tmp, "tls")
        os.makedirs(d, exist_ok=True)
        c = {"cert": os.path.join(d, "cert.pem"), "key": os.path.join(d, "key.pem"),
             "pem": os.path.join(d, "haproxy.pem")}
        argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", c["key"], "-out", c["cert"],
                "-days", "2", "-subj", f"/CN={TLS_NAME}", "-addext", f"subjectAltName=DNS:{TLS_NAME}"]
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SystemExit(f"bench: could not make the TLS certificate ({e}); "
                             "install openssl, or leave the tls_* phases out of BENCH_PHASES")
        if r.returncode != 0:
            raise SystemExit("bench: openssl req failed:\n" + r.stderr)
        with open(c["pem"], "w") as out:
            for k in ("cert", "key"):
                with open(c[k]) as f:
                    out.write(f.read())
        self.cert = c
        return c

    def render(self, template, dst, values):
        with open(os.path.join(HERE, template)) as f:
            text = f.read()
        for k, v in values.items():
            text = text.replace("@" + k + "@", str(v))
        left = re.findall(r"@[A-Z0-9_]+@", text)
        if left:
            raise RuntimeError(f"{template}: unfilled placeholders {left}")
        with open(dst, "w") as f:
            f.write(text)
        return dst

    # ---- /proc -----------------------------------------------------------

    @staticmethod
    def children(pid):
        out = []
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(x) for x in f.read().split()]
        except OSError:
            pass
        return out

    @staticmethod
    def cpu_ticks(pids):
        total = 0
        for pid in pids:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            # fields[0] is field 3 (state): utime is field 14, stime field 15
            total += int(fields[11]) + int(fields[12])
        return total

    @staticmethod
    def machine_busy_ticks():
        """All CPUs' busy time (everything but idle and iowait), in ticks."""
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v) - v[3] - (v[4] if len(v) > 4 else 0)

    @staticmethod
    def rss_kb(pids):
        total = 0
        for pid in pids:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total

    # ---- backends --------------------------------------------------------

    def start_backends(self):
        echo = os.path.join(self.build, "fulcrum-echo")
        ports = [self.free_port() for _ in range(3)]
        if os.access(echo, os.X_OK) and env("BENCH_BACKEND", "echo") == "echo":
            procs = []
            for i, port in enumerate(ports):
                procs.append(self.spawn(f"echo{i + 1}", [echo, "-port", str(port), "-name",
                                                         f"b{i + 1}", "-threads",
                                                         self.echo_threads], cpu=0))
            ok = all(self.wait_ready(port, procs) for port in ports) and self.start_ws_backend()
            if ok:
                self.backends, self.backend_kind = ports, "fulcrum-echo"
                self.backend_pids = [pr.pid for pr in procs]
                return True
            warn("fulcrum-echo backends did not come up:\n" + self.tail("echo1"))
            for p in procs:
                self.stop(p)
            ports = [self.free_port() for _ in range(3)]
        else:
            warn(f"{echo} not found (or BENCH_BACKEND=nginx): using an nginx stand-in "
                 "backend (3 ports, one worker, small static JSON)")
        # Stand-in: one nginx worker serving a small JSON body on three ports.
        d = os.path.join(self.tmp, "backend-nginx")
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        servers = "".join(
            f"    server {{ listen 127.0.0.1:{p} backlog=4096; location / {{ default_type application/json;"
            f" return 200 '{{\"server\":\"b{i + 1}\",\"path\":\"$request_uri\"}}\\n'; }} }}\n"
            for i, p in enumerate(ports))
        conf = f"""daemon off; master_process on; worker_processes 1;
worker_rlimit_nofile {self.nofile}; pid {d}/nginx.pid; error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off; keepalive_timeout 120s; keepalive_requests 1000000;
    client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi; uwsgi_temp_path {d}/tmp/uwsgi; scgi_temp_path {d}/tmp/scgi;
{servers}}}
"""
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(conf)
        p = self.spawn("backend-nginx", ["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"),
                                         "-e", os.path.join(d, "error.log")], cpu=0)
        if all(self.wait_ready(port, [p]) for port in ports) and self.start_ws_backend():
            self.backends, self.backend_kind = ports, "nginx stand-in"
            return True
        warn("stand-in nginx backend did not start:\n" + self.tail("backend-nginx"))
        return False

    def start_ws_backend(self):
        """The WebSocket backend of the idlews phase (or a port nothing
        listens on when it does not run: the proxies' configs name it)."""
        self.ws_port = self.free_port()
        if "idlews" not in self.phases:
            return True
        p = self.spawn("wsbackend", [sys.executable, os.path.join(HERE, "idle_ws.py"), "serve",
                                     str(self.ws_port)], cpu=0)
        if self.wait_ready(self.ws_port, [p]):
            return True
        warn("WebSocket backend did not come up:\n" + self.tail("wsbackend"))
        return False

    def backend_connections(self):
        """Connections the fulcrum-echo backends accepted so far (their /stats),
        summed; None with the nginx stand-in. Each read is one connection too."""
        if self.backend_kind != "fulcrum-echo":
            return None
        total = 0
        for port in self.backends:
            data = self.http_get(port, "/stats", 5)
            body = data.split(b"\r\n\r\n", 1)[1]
            total += json.loads(body)["connections"]
        return total

    # ---- proxies ---------------------------------------------------------

    def start_proxy(self, name):
        """Returns (Popen, ports, pids-callable) or None with a message; ports:
        {"http": plain port, "tls": TLS port, "h2": TLS port offering ALPN h2}
        (every proxy always has all three)."""
        port, tls_port, h2_port = self.free_port(), self.free_port(), self.free_port()
        while tls_port == port:
            tls_port = self.free_port()
        while h2_port in (port, tls_port):
            h2_port = self.free_port()
        b1, b2, b3 = self.backends
        d = os.path.join(self.tmp, name)
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        c = self.cert or self.make_cert()
        vals = {"PORT": port, "TLS_PORT": tls_port, "H2_PORT": h2_port, "CERT": c["cert"], "KEY": c["key"],
                "PEM": c["pem"], "B1": b1, "B2": b2, "B3": b3, "DIR": d,
                "MAXCONN": self.maxconn, "NOFILE": self.nofile, "WS": self.ws_port,
                # nginx counts its backend connections in worker_connections too,
                # and once fewer than 1/16 of them are free it closes reusable
                # ones (new connections still waiting for their request): 16/15
                # of two per client connection; the fd limit stays the cap
                "WORKER_CONNECTIONS": 2 * self.maxconn * 16 // 15 + 100,
                # nginx's HTTP/2 upstream: room for a backend connection per
                # request h2load can have in flight
                "H2_KEEPALIVE": self.h2_conns * self.h2_streams}
        if name in ("fulcrum", "fulcrum-epoll", "fulcrum-log"):
            binary = os.path.join(self.build, "fulcrum")
            if not os.access(binary, os.X_OK):
                return None, f"{binary} not built yet: skipping {name}"
            vals["ACCESS"] = os.path.join(d, "access.log") if name == "fulcrum-log" else "off"
            # fulcrum-epoll: the same binary on its epoll fallback
            vals["IO_URING"] = "off" if name == "fulcrum-epoll" else "auto"
            cfg = self.render("fulcrum.yaml.in", os.path.join(d, "fulcrum.yaml"), vals)
            argv = [binary, "-c", cfg]
        elif name == "haproxy":
            if not shutil.which("haproxy"):
                return None, "haproxy not installed: skipping (make bench installs it)"
            cfg = self.render("haproxy.cfg.in", os.path.join(d, "haproxy.cfg"), vals)
            argv = ["haproxy", "-db", "-f", cfg]
        else:
            if not shutil.which("nginx"):
                return None, "nginx not installed: skipping (make bench installs it)"
            # HTTP/2: a listen parameter before 1.25.1, "http2 on;" since
            if nginx_version() >= (1, 25, 1):
                vals["H2_LISTEN"], vals["H2_ON"] = "", "http2 on;"
            else:
                vals["H2_LISTEN"], vals["H2_ON"] = "http2", "# (before 1.25.1: http2 is a listen parameter)"
            cfg = self.render("nginx.conf.in", os.path.join(d, "nginx.conf"), vals)
            argv = ["nginx", "-p", d, "-c", cfg, "-e", os.path.join(d, "error.log")]
        p = self.spawn(name, argv, cpu=1)
        bad = None
        if not self.wait_ready(port, [p]):
            bad = port
        elif not self.wait_ready(tls_port, [p], tls=True):
            bad = f"{tls_port} (TLS)"
        elif not self.wait_ready(h2_port, [p], tls=True):
            # an HTTP/1.1 probe (no ALPN): whether h2 is negotiated there is
            # what the h2_tls phase itself checks, and reports
            bad = f"{h2_port} (TLS, the h2 listener)"
        if bad is not None:
            msg = f"{name} did not start or does not answer 2xx on 127.0.0.1:{bad}"
            tail = self.tail(name)
            if name == "nginx":
                try:
                    with open(os.path.join(d, "error.log")) as f:
                        tail += "\n" + "".join("    " + l for l in f.readlines()[-5:])
                except OSError:
                    pass
            self.stop(p)
            return None, msg + (":\n" + tail if tail.strip() else "")

        if self.pin and shutil.which("taskset"):
            # taskset exec()s the proxy, so p.pid is the proxy itself
            pass

        def pids():
            if name == "nginx":
                return [p.pid] + self.children(p.pid)   # master + worker
            return [p.pid]

        return (p, {"http": port, "tls": tls_port, "h2": h2_port}, pids), None

    # ---- load ------------------------------------------------------------

    def wrk(self, ports, mode, duration, tag, conns=None):
        """One wrk run; ports is start_proxy's {"http", "tls"}: the tls_* modes
        go to the TLS port over https://."""
        lua = os.path.join(self.tmp, "report.lua")
        if not os.path.exists(lua):
            with open(lua, "w") as f:
                f.write(WRK_LUA)
        argv = ["wrk", "-t1", f"-c{conns or self.conns}", f"-d{duration}", "--latency",
                "-s", lua]
        if mode in ("close", "tls_close"):
            argv += ["-H", "Connection: close"]
        if mode == "keepalive2k":
            argv += ["--timeout", "10s"]
        if mode.startswith("tls_"):
            argv.append(f"https://127.0.0.1:{ports['tls']}/")
        else:
            argv.append(f"http://127.0.0.1:{ports['http']}/")
        if self.pin and shutil.which("taskset"):
            argv = ["taskset", "-c", "0"] + argv
        r = subprocess.run(argv, capture_output=True, text=True)
        with open(os.path.join(self.out, f"wrk-{tag}.txt"), "w") as f:
            f.write("$ " + " ".join(argv) + "\n" + r.stdout + r.stderr)
        m = re.search(r"^WRKJSON (\{.*\})$", r.stdout, re.M)
        if r.returncode != 0 or not m:
            raise RuntimeError(f"wrk failed (rc {r.returncode}): {r.stderr.strip()[:300]}")
        w = json.loads(m.group(1))
        w["rps"] = w["requests"] / (w["duration_us"] / 1e6) if w["duration_us"] else 0.0
        w["socket_errors"] = w["connect"] + w["read"] + w["write"] + w["timeout"]
        w["errors"] = w["socket_errors"] + w["status"]
        return w

    def measure_load(self, name, ports, pids, mode, tag):
        conns = self.many if mode == "keepalive2k" else None
        if conns:
            # its own warm-up right before, at the same connection count: the
            # other proxies' runs since the shared warm-up let idle pools age
            self.wrk(ports, mode, self.warmup, tag + "-warmup", conns=conns)
        c0 = self.backend_connections() if conns else None
        ps = pids()
        t0 = self.cpu_ticks(ps)
        m0, b0, e0 = self.machine_busy_ticks(), self.cpu_ticks(self.backend_pids), time.monotonic()
        r0s, r0c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        w = self.wrk(ports, mode, self.duration, tag, conns=conns)
        m1, b1, e1 = self.machine_busy_ticks(), self.cpu_ticks(self.backend_pids), time.monotonic()
        r1s, r1c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        ps2 = pids()
        if c0 is not None:
            # minus our own /stats connection to each backend
            w["backend_opened"] = self.backend_connections() - c0 - len(self.backends)
            w["opened_per_req"] = w["backend_opened"] / w["requests"] if w["requests"] else float("nan")
        if set(ps2) != set(ps):
            warn(f"{name}: process set changed during the run ({ps} -> {ps2})")
        t1 = self.cpu_ticks(ps2)
        w["cpu_s"] = (t1 - t0) / CLK_TCK
        # other work: the machine's busy time minus the proxy's, the backends',
        # wrk's (a waited-for child) and this script's, as a share of a core
        ours = ((t1 - t0) + (b1 - b0)) / CLK_TCK
        for a, b in ((r0s, r1s), (r0c, r1c)):
            ours += (b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime)
        w["other_cores"] = max(0.0, (m1 - m0) / CLK_TCK - ours) / max(e1 - e0, 1e-3)
        w["cpu_us_per_req"] = w["cpu_s"] * 1e6 / w["requests"] if w["requests"] else float("nan")
        w["rss_kb"] = self.rss_kb(ps2)
        return w

    def h2load(self, ports, duration, tag, log_file=None, requests=None):
        """One h2load run over TLS to the h2 listener: -t1 (one thread, like
        wrk), BENCH_H2_CONNS connections, BENCH_H2_STREAMS concurrent streams
        each, for `duration` (-D: the requests still in flight at the end are
        abandoned, their streams reset), or until `requests` are done (-n,
        duration None: every request finishes). Returns what its report says: the application
        protocol it negotiated, requests done/succeeded/failed/errored/timed
        out, status classes, the measured time; with log_file, also the
        per-request times it wrote there (one line per finished request: start
        in us since the epoch, status or -1, us to the end of the response)."""
        argv = ["h2load", "-t1", f"-c{self.h2_conns}", f"-m{self.h2_streams}"]
        argv += ["-D", duration] if duration else ["-n", str(requests)]
        if log_file:
            try:
                os.unlink(log_file)   # h2load appends to it
            except FileNotFoundError:
                pass
            argv.append(f"--log-file={log_file}")
        argv.append(f"https://127.0.0.1:{ports['h2']}/")
        if self.pin and shutil.which("taskset"):
            argv = ["taskset", "-c", "0"] + argv
        try:
            # bounded: h2load itself gives up on nothing (-n waits for every answer)
            r = subprocess.run(argv, capture_output=True, text=True,
                               timeout=(parse_secs(duration) if duration else 0) + 120)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"h2load did not finish in time: {' '.join(argv)}")
        out = r.stdout + r.stderr
        with open(os.path.join(self.out, f"h2load-{tag}.txt"), "w") as f:
            # without the progress lines
            f.write("$ " + " ".join(argv) + "\n"
                    + "".join(l for l in out.splitlines(True) if not l.startswith("progress:")))
        h = {"rc": r.returncode}
        m = re.search(r"^Application protocol: (\S+)", out, re.M)
        h["protocol"] = m.group(1) if m else None
        m = re.search(r"^finished in ([0-9.]+)(us|ms|s),", out, re.M)
        req = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded,"
                        r" (\d+) failed, (\d+) errored, (\d+) timeout", out, re.M)
        st = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out, re.M)
        if not (m and req and st):
            # no report at all: h2load could not run (bad option, no TLS...)
            last = " / ".join(out.strip().splitlines()[-3:])
            raise RuntimeError(f"h2load gave no report (rc {r.returncode}): {last[:300]}")
        h["duration_us"] = float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
        for k, v in zip(("total", "started", "requests", "succeeded", "streams_failed", "errored",
                         "timeout"), req.groups()):
            h[k] = int(v)
        for k, v in zip(("s2xx", "s3xx", "s4xx", "s5xx"), st.groups()):
            h[k] = int(v)
        h["rps"] = h["requests"] / (h["duration_us"] / 1e6) if h["duration_us"] else 0.0
        # h2load's "failed" is every finished request but the 2xx ones
        # ("succeeded"): the non-2xx answers, and the streams reset, errored or
        # timed out ("errored" and "timeout" are kinds of "failed")
        h["status"] = h["s3xx"] + h["s4xx"] + h["s5xx"]
        h["errors"] = h["streams_failed"]
        if log_file:
            times = []
            try:
                with open(log_file) as f:
                    for line in f:
                        cols = line.split("\t")
                        if len(cols) >= 3 and cols[1] != "-1":
                            times.append(int(cols[2]))
                os.unlink(log_file)   # hundreds of thousands of lines: not kept
            except (OSError, ValueError) as e:
                raise RuntimeError(f"h2load --log-file unreadable: {e}")
            times.sort()
            h["logged"] = len(times)
            for k, q in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p999", 0.999)):
                # nearest rank
                h[k] = float(times[max(0, math.ceil(q * len(times)) - 1)]) if times else float("nan")
            h["max"] = float(times[-1]) if times else float("nan")
        return h

    def measure_h2(self, name, ports, pids, tag):
        """The h2_tls phase for one proxy: an h2load warm-up (-n, BENCH_H2_WARMUP_REQUESTS),
        which also tells whether h2 was negotiated at all, then the measured
        run, measured like measure_load: the proxy's utime+stime over the run
        / requests done, other work, RSS after. p50/p99 from h2load's
        per-request log. A proxy that did not negotiate h2 gets a record with
        "failed" (the reason) and no numbers, rather than HTTP/1.1's."""
        # -n: the warm-up lets every request finish, so that no stream is
        # reset at its end and each proxy starts the measured run with the
        # backend connections the warm-up left it (a reset stream costs its
        # backend connection, in nginx at least)
        wu = self.h2load(ports, None, tag + "-warmup", requests=self.h2_warmup)
        if wu["protocol"] != "h2":
            got = wu["protocol"] or "none"
            return {"failed": f"h2 not negotiated (h2load: application protocol {got})",
                    "protocol": wu["protocol"]}
        log_file = os.path.join(self.tmp, "h2load-requests.tsv")
        c0 = self.backend_connections()
        ps = pids()
        t0 = self.cpu_ticks(ps)
        m0, b0, e0 = self.machine_busy_ticks(), self.cpu_ticks(self.backend_pids), time.monotonic()
        r0s, r0c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        h = self.h2load(ports, self.duration, tag, log_file=log_file)
        m1, b1, e1 = self.machine_busy_ticks(), self.cpu_ticks(self.backend_pids), time.monotonic()
        r1s, r1c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        ps2 = pids()
        if c0 is not None:
            # minus our own /stats connection to each backend
            h["backend_opened"] = self.backend_connections() - c0 - len(self.backends)
            h["opened_per_req"] = h["backend_opened"] / h["requests"] if h["requests"] else float("nan")
        if set(ps2) != set(ps):
            warn(f"{name}: process set changed during the run ({ps} -> {ps2})")
        t1 = self.cpu_ticks(ps2)
        h["cpu_s"] = (t1 - t0) / CLK_TCK
        ours = ((t1 - t0) + (b1 - b0)) / CLK_TCK
        for a, b in ((r0s, r1s), (r0c, r1c)):
            ours += (b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime)
        h["other_cores"] = max(0.0, (m1 - m0) / CLK_TCK - ours) / max(e1 - e0, 1e-3)
        h["cpu_us_per_req"] = h["cpu_s"] * 1e6 / h["requests"] if h["requests"] else float("nan")
        h["rss_kb"] = self.rss_kb(ps2)
        if h["protocol"] != "h2":
            h["failed"] = f"h2 not negotiated (h2load: application protocol {h['protocol'] or 'none'})"
        elif h["errors"]:
            h["failed"] = (f"{h['errors']} errors (h2load's failed: {h['status']} non-2xx,"
                           f" {h['errored']} errored, {h['timeout']} timeout)")
        return h

    def measure_idle(self, name, ports, pids, tls=False, ws=False):
        """idle, tls_idle (tls) or idlews (ws: WebSockets to /ws, each
        upgraded with a 101, then silent): RSS delta over n idle connections.
        Also the proxy's CPU while they were opened, per connection (for
        tls_idle: a full handshake and one request each, the client resumes
        nothing)."""
        n = self.tls_idle_n if tls else self.idle_ws if ws else self.idle_n
        ps = pids()
        # let the proxy settle after the load runs
        time.sleep(0.5)
        before = self.rss_kb(ps)
        ic = IdleWebSockets() if ws else IdleConns()
        t0, c0 = time.monotonic(), self.cpu_ticks(ps)
        if tls:
            ic.open_tls("127.0.0.1", ports["tls"], n, self.tls_context(), TLS_NAME)
        elif ws:
            # batches of 256 handshakes in flight (open()'s default)
            ic.open("127.0.0.1", ports["http"], n, timeout=120.0)
        else:
            ic.open("127.0.0.1", ports["http"], n, batch=self.idle_batch)
        opened, c1 = time.monotonic() - t0, self.cpu_ticks(pids())
        time.sleep(1.0)
        after = self.rss_kb(pids())
        alive = ic.still_open()
        ic.close()
        res = {"n": n, "ok": ic.ok, "failed": ic.failed, "alive": alive, "tls": tls, "ws": ws,
               "rss_before_kb": before, "rss_after_kb": after, "open_s": round(opened, 2),
               "cpu_us_per_conn": (c1 - c0) / CLK_TCK * 1e6 / ic.ok if ic.ok else float("nan"),
               "bytes_per_conn": (after - before) * 1024 / ic.ok if ic.ok else float("nan")}
        if ic.errors:
            res["first_errors"] = ic.errors[:3]
        time.sleep(1.0 if ws else 0.5)   # let the proxy see the closes before the next run
        return res

    def strace_run(self, name, ports, pids, mode="keepalive"):
        """Syscalls per request: strace -c -f on the proxy (worker) during a short
        keep-alive run (mode keepalive or tls_keepalive). strace slows the proxy
        a lot; this is a count, not a speed."""
        ps = pids()
        if name == "nginx":
            ps = [x for x in ps if x != ps[0]] or ps   # the worker does the work
        tids = []
        for pid in ps:
            tids += os.listdir(f"/proc/{pid}/task")
        outf = os.path.join(self.out, f"strace-{name}{'-tls' if mode.startswith('tls') else ''}.txt")
        argv = ["strace", "-c", "-f", "-o", outf]
        for t in tids:
            argv += ["-p", t]
        st = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
        self.procs.append(st)
        time.sleep(1.0)   # attach
        try:
            w = self.wrk(ports, mode, self.strace_secs,
                         f"{name}-strace{'-tls' if mode.startswith('tls') else ''}")
        finally:
            time.sleep(0.2)
            st.send_signal(signal.SIGINT)
            try:
                st.wait(10)
            except subprocess.TimeoutExpired:
                st.kill()
                st.wait()
            self.procs.remove(st)
        calls, by_name = None, {}
        try:
            with open(outf) as f:
                for line in f:
                    # % time, seconds, usecs/call, calls, [errors], syscall
                    parts = line.split()
                    if len(parts) < 5 or not parts[3].isdigit():
                        continue
                    if parts[-1] == "total":
                        calls = int(parts[3])
                    else:
                        by_name[parts[-1]] = int(parts[3])
        except (OSError, ValueError):
            pass
        if calls is None or not w["requests"]:
            return None
        top = sorted(by_name.items(), key=lambda kv: -kv[1])[:4]
        return {"calls": calls, "requests": w["requests"],
                "per_req": calls / w["requests"], "file": os.path.basename(outf),
                "top": [(k, v / w["requests"]) for k, v in top]}

    # ---- the benchmark ---------------------------------------------------

    def one_round(self, rnd, order):
        """One round: start every proxy, then run each phase (warm-up, each load
        mode, idle, strace) across all of them in `order`, so that the runs being
        compared are seconds apart, not minutes; then stop them all."""
        live = {}   # name -> (Popen, ports, pids, record)
        for name in order:
            try:
                started, err = self.start_proxy(name)
            except Exception as e:  # noqa: BLE001
                started, err = None, f"{name}: could not start: {e}"
            if not started:
                warn(err)
                self.results[name]["start_errors"].append(err)
                continue
            p, ports, pids = started
            live[name] = (p, ports, pids, {"round": rnd, "pids": pids()})

        def phase(what, fn):
            for name in order:
                if name not in live:
                    continue
                p, ports, pids, rec = live[name]
                try:
                    fn(name, ports, pids, rec)
                    if p.poll() is not None:
                        raise RuntimeError(f"exited (status {p.returncode})")
                except Exception as e:  # noqa: BLE001 - report and go on with the others
                    warn(f"{name}, round {rnd}, {what}: {e}\n" + self.tail(name))
                    self.results[name]["start_errors"].append(f"round {rnd}, {what}: {e}")
                    self.finish(name, rnd, live.pop(name))

        def warmup(mode):
            def fn(name, ports, pids, rec):
                self.wrk(ports, mode, self.warmup, f"{name}-r{rnd}-warmup"
                         + ("-tls" if mode.startswith("tls") else ""))
            return fn

        def load(mode):
            def fn(name, ports, pids, rec):
                w = rec[mode] = self.measure_load(name, ports, pids, mode, f"{name}-r{rnd}-{mode}")
                opened = (f"  backend conns opened {w['backend_opened']}"
                          f" ({w['opened_per_req'] * 100:.3f}% of requests)"
                          if "backend_opened" in w else "")
                log(f"  {name:13} {mode:13} {w['rps']:9.0f} req/s  p50 {fmt_us(w['p50']):>8}"
                    f"  p99 {fmt_us(w['p99']):>8}  cpu {w['cpu_us_per_req']:6.2f} us/req"
                    f"  rss {w['rss_kb'] / 1024:6.1f} MB  errors {w['errors']}{opened}"
                    f"  other work {w['other_cores'] * 100:.0f}% of a core"
                    + ("  (noisy: left out)" if w["other_cores"] > self.noise_max else ""))
            return fn

        def idle(what):
            def fn(name, ports, pids, rec):
                i = rec[what] = self.measure_idle(name, ports, pids, tls=what == "tls_idle",
                                                  ws=what == "idlews")
                if what == "idlews":
                    log(f"  {name:13} {what:13} {i['ok']} WebSockets held ({i['failed']} failed,"
                        f" {i['alive']} still open) in {i['open_s']:.1f}s,"
                        f" cpu {i['cpu_us_per_conn']:.0f} us/ws"
                        f"  rss {i['rss_before_kb'] / 1024:.1f} -> {i['rss_after_kb'] / 1024:.1f} MB"
                        f"  {i['bytes_per_conn']:.0f} bytes/WebSocket")
                    return
                log(f"  {name:13} {what:13} {i['ok']} conns held ({i['failed']} failed)"
                    f" in {i['open_s']:.1f}s, cpu {i['cpu_us_per_conn']:.0f} us/conn"
                    f"  rss {i['rss_before_kb'] / 1024:.1f} -> {i['rss_after_kb'] / 1024:.1f} MB"
                    f"  {i['bytes_per_conn']:.0f} bytes/conn")
            return fn

        def h2(what):
            def fn(name, ports, pids, rec):
                h = rec[what] = self.measure_h2(name, ports, pids, f"{name}-r{rnd}-{what}")
                if "rps" not in h:
                    log(f"  {name:13} {what:13} FAILED: {h['failed']}")
                    return
                log(f"  {name:13} {what:13} {h['rps']:9.0f} req/s  p50 {fmt_us(h['p50']):>8}"
                    f"  p99 {fmt_us(h['p99']):>8}  cpu {h['cpu_us_per_req']:6.2f} us/req"
                    f"  rss {h['rss_kb'] / 1024:6.1f} MB  errors {h['errors']}"
                    + (f"  backend conns opened {h['backend_opened']}" if "backend_opened" in h else "")
                    + f"  other work {h['other_cores'] * 100:.0f}% of a core"
                    + ("  (noisy: left out)" if h["other_cores"] > self.noise_max else "")
                    + (f"  FAILED: {h['failed']}" if h.get("failed") else ""))
            return fn

        def strace(mode):
            key = "strace_tls" if mode.startswith("tls") else "strace"

            def fn(name, ports, pids, rec):
                self.results[name][key] = st = self.strace_run(name, ports, pids, mode)
                if st:
                    log(f"  {name:13} {key:13} {st['per_req']:.1f} syscalls/req")
            return fn

        # the plain phases; idlews alone gets the keep-alive warm-up (as in a
        # full run, the proxy has served requests before its baseline RSS) but
        # no strace run: its table has no syscalls column
        plain = [x for x in self.phases
                 if x not in TLS_PHASES and x not in H2_PHASES and x != "idlews"]
        tls_loads = [m for m in self.modes if m in TLS_PHASES]
        try:
            if plain or "idlews" in self.phases:
                phase("warm-up", warmup("keepalive"))
            for mode in self.modes:
                if mode in ("keepalive", "close"):
                    phase(mode, load(mode))
            if tls_loads:
                phase("TLS warm-up", warmup("tls_keepalive"))
            for mode in tls_loads:
                phase(mode, load(mode))
            # before the 2,000-connection run: its buffers stay in each
            # proxy's allocator and would hide what an idle connection costs
            for what in IDLE_PHASES:
                if what in self.phases:
                    phase(what, idle(what))
            if "keepalive2k" in self.modes:
                phase("keepalive2k", load("keepalive2k"))
            if self.do_strace and rnd == self.rounds and shutil.which("strace"):
                if plain:
                    phase("strace", strace("keepalive"))
                if tls_loads or "tls_idle" in self.phases:
                    phase("strace (TLS)", strace("tls_keepalive"))
            # last, after strace: what HTTP/2 leaves in a proxy (its buffers
            # in the allocator) is then seen by no other phase or count, which
            # run exactly as before h2_tls existed (it has its own warm-up)
            for what in H2_PHASES:
                if what in self.phases:
                    phase(what, h2(what))
        finally:
            for name in list(live):
                self.finish(name, rnd, live.pop(name))

    def finish(self, name, rnd, entry):
        p, _port, _pids, rec = entry
        self.stop(p)
        if any(k in rec for k in self.modes + list(IDLE_PHASES) + list(H2_PHASES)):
            self.results[name]["rounds"].append(rec)
        # keep the proxy's own output next to the results
        src = os.path.join(self.tmp, name + ".out")
        if os.path.exists(src):
            shutil.copy(src, os.path.join(self.out, f"{name}-r{rnd}.log"))
            open(src, "w").close()
        alog = os.path.join(self.tmp, name, "access.log")
        if os.path.exists(alog):
            # a round writes tens of MB: keep the size and the last lines only
            rec["access_log_bytes"] = os.path.getsize(alog)
            with open(alog, "rb") as f:
                f.seek(max(0, rec["access_log_bytes"] - 4096))
                tail = f.read()
            with open(os.path.join(self.out, f"{name}-r{rnd}-access-tail.log"), "wb") as f:
                f.write(tail)
            os.unlink(alog)

    def run(self):
        log(f"bench: results in {os.path.relpath(self.out)}")
        if not self.start_backends():
            return 1
        log(f"bench: backends ({self.backend_kind}) on 127.0.0.1:"
            f"{','.join(map(str, self.backends))}; wrk -t1 -c{self.conns} -d{self.duration};"
            f" {self.rounds} rounds; pinning "
            + ("proxy on CPU 1, wrk + backends on CPU 0" if self.pin else "off"))
        for rnd in range(1, self.rounds + 1):
            k = (rnd - 1) % len(self.proxies) if self.proxies else 0
            order = self.proxies[k:] + self.proxies[:k]
            log(f"round {rnd}/{self.rounds}: {' -> '.join(order)}")
            self.one_round(rnd, order)
        summary = self.summarize()
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump({"settings": self.settings(), "proxies": self.results,
                       "summary": summary["data"]}, f, indent=1, default=str)
        with open(os.path.join(self.out, "summary.txt"), "w") as f:
            f.write(summary["text"])
        latest = os.path.join(HERE, "results", "latest")
        try:
            if os.path.islink(latest):
                os.unlink(latest)
            os.symlink(os.path.basename(self.out), latest)
        except OSError:
            pass
        log("")
        log(summary["text"])
        return 0 if any(self.results[p]["rounds"] for p in self.proxies) else 1

    def settings(self):
        return {"duration": self.duration, "rounds": self.rounds, "conns": self.conns,
                "idle_conns": self.idle_n, "tls_idle_conns": self.tls_idle_n,
                "idle_websockets": self.idle_ws if "idlews" in self.phases else 0,
                "phases": self.phases, "pin": self.pin, "modes": self.modes,
                "h2_conns": self.h2_conns, "h2_streams": self.h2_streams,
                "tls_certificate": "ECDSA P-256, self-signed, made at start" if self.cert else None,
                "backends": self.backend_kind, "maxconn": self.maxconn,
                "nofile": self.nofile, "cpus": self.ncpu,
                "versions": versions(self.build), "kernel": os.uname().release}

    def summarize(self):
        data = {}
        for name in self.proxies:
            rounds = self.results[name]["rounds"]
            if not rounds:
                continue
            d = {"rounds": len(rounds)}
            for mode in self.modes:
                every = [r[mode] for r in rounds if mode in r]
                rs = [r for r in every if r.get("other_cores", 0.0) <= self.noise_max]
                if not rs:
                    rs = every  # all noisy: keep them, and say so
                if not rs:
                    continue
                d[mode] = {k: med([r[k] for r in rs]) for k in
                           ("rps", "p50", "p99", "cpu_us_per_req", "rss_kb")}
                cpus = [r["cpu_us_per_req"] for r in rs]
                d[mode]["cpu_spread"] = (max(cpus) - min(cpus)) / d[mode]["cpu_us_per_req"] \
                    if d[mode]["cpu_us_per_req"] else float("nan")
                d[mode]["p99_range"] = (min(r["p99"] for r in rs), max(r["p99"] for r in rs))
                d[mode]["errors"] = sum(r["errors"] for r in rs)
                d[mode]["status_errors"] = sum(r["status"] for r in rs)
                d[mode]["socket_errors"] = sum(r["socket_errors"] for r in rs)
                d[mode]["requests"] = sum(r["requests"] for r in rs)
                d[mode]["dropped"] = len(every) - len(rs) if rs is not every else 0
                d[mode]["all_noisy"] = rs is every and any(
                    r.get("other_cores", 0.0) > self.noise_max for r in every)
                if all("opened_per_req" in r for r in rs):
                    d[mode]["opened_per_req"] = med([r["opened_per_req"] for r in rs])
                    d[mode]["opened_range"] = (min(r["backend_opened"] for r in rs),
                                               max(r["backend_opened"] for r in rs))
            for what in ("idle", "tls_idle"):
                idles = [r[what] for r in rounds if what in r]
                if idles:
                    d[what] = {"bytes_per_conn": med([i["bytes_per_conn"] for i in idles]),
                               "cpu_us_per_conn": med([i.get("cpu_us_per_conn", float("nan"))
                                                       for i in idles]),
                               "held": min(i["ok"] for i in idles),
                               "failed": max(i["failed"] for i in idles)}
            wss = [r["idlews"] for r in rounds if "idlews" in r]
            if wss:
                d["idlews"] = {"bytes_per_ws": med([i["bytes_per_conn"] for i in wss]),
                               "cpu_us_per_ws": med([i["cpu_us_per_conn"] for i in wss]),
                               "held": min(i["ok"] for i in wss),
                               "failed": max(i["failed"] for i in wss),
                               "alive": min(i["alive"] for i in wss)}
            for what in H2_PHASES:
                h = self.summarize_h2([(r["round"], r[what]) for r in rounds if what in r])
                if h:
                    d[what] = h
            for key, pre in (("strace", ""), ("strace_tls", "tls_")):
                st = self.results[name].get(key)
                if st:
                    d[pre + "syscalls_per_req"] = st["per_req"]
                    d[pre + "syscalls_top"] = st["top"]
            data[name] = d

        L = []
        L.append(f"fulcrum bench — {self.ncpu} CPUs, backends: {self.backend_kind}, "
                 f"wrk -t1 -c{self.conns} -d{self.duration}, median of {self.rounds} rounds, "
                 + ("proxy pinned to CPU 1, wrk+backends to CPU 0" if self.pin else "no pinning"))
        for mode in self.modes:
            title = {"keepalive": f"keep-alive ({self.conns} connections)",
                     "close": "new connection per request (Connection: close)",
                     "keepalive2k": f"keep-alive ({self.many} connections); backend connections"
                                    " opened per request (median; range of counts per run)",
                     "tls_keepalive": f"TLS keep-alive ({self.conns} connections, https://)",
                     "tls_close": "TLS, new connection per request (Connection: close;"
                                  " wrk resumes the session: an abbreviated handshake each)",
                     }.get(mode, mode)
            L.append("")
            L.append(title)
            L.append(f"  {'proxy':13} {'req/s':>9} {'p50':>9} {'p99':>9} {'CPU us/req':>11}"
                     f" {'(spread)':>8} {'RSS MB':>7} {'errors':>7}"
                     + ("   backend conns/req" if mode == "keepalive2k" else ""))
            for name in self.proxies:
                m = data.get(name, {}).get(mode)
                if not m:
                    L.append(f"  {name:13} {'(not run: ' + self.why(name) + ')'}")
                    continue
                err = f"{m['errors']}" if not m["errors"] else \
                    f"{m['errors']} ({m['status_errors']} non-2xx, {m['socket_errors']} socket)"
                opened = ""
                if mode == "keepalive2k":
                    opened = (f"   {m['opened_per_req'] * 100:.3f}%"
                              f" ({m['opened_range'][0]}..{m['opened_range'][1]})"
                              if "opened_per_req" in m else "   n/a (stand-in backend)")
                noise = (f"  ({m['dropped']} noisy run(s) dropped)" if m["dropped"] else
                         "  (every run noisy: none dropped)" if m["all_noisy"] else "")
                L.append(f"  {name:13} {m['rps']:9.0f} {fmt_us(m['p50']):>9} {fmt_us(m['p99']):>9}"
                         f" {m['cpu_us_per_req']:11.2f} {m['cpu_spread'] * 100:7.0f}%"
                         f" {m['rss_kb'] / 1024:7.1f} {err:>7}{opened}{noise}")
        for what in ("idle", "tls_idle"):
            if what not in self.phases:
                continue
            tls = what == "tls_idle"
            pre = "tls_" if tls else ""
            n = self.tls_idle_n if tls else self.idle_n
            L.append("")
            if tls:
                L.append(f"idle TLS client connections ({n}, each a full handshake and one request):"
                         " RSS delta / connections; the proxy's CPU while opening them")
                L.append(f"  {'proxy':13} {'bytes/conn':>10} {'held':>6} {'CPU us/conn':>11}"
                         "   syscalls/req (strace, TLS keep-alive)")
            else:
                L.append(f"idle keep-alive client connections ({n}): RSS delta / connections")
                L.append(f"  {'proxy':13} {'bytes/conn':>10} {'held':>6}   syscalls/req (strace, keep-alive)")
            for name in self.proxies:
                i = data.get(name, {}).get(what)
                if not i:
                    L.append(f"  {name:13} {'(not run: ' + self.why(name) + ')'}")
                    continue
                sc = data[name].get(pre + "syscalls_per_req")
                scs = f"{sc:.1f}" if sc is not None else ("skipped" if not self.do_strace else "n/a")
                if sc is not None:
                    scs += "  (" + ", ".join(f"{k} {v:.2f}" for k, v in data[name][pre + "syscalls_top"]) + ")"
                cpu = f" {i['cpu_us_per_conn']:11.0f}" if tls else ""
                L.append(f"  {name:13} {i['bytes_per_conn']:10.0f} {i['held']:6}{cpu}   {scs}")
        if "idlews" in self.phases:
            L.append("")
            L.append(f"idle WebSockets ({self.idle_ws}, upgraded through the proxy, then silent):"
                     " RSS delta / WebSockets held")
            L.append(f"  {'proxy':13} {'bytes/ws':>10} {'held':>6} {'open':>6} {'failed':>6}"
                     f" {'CPU us/ws':>10}")
            for name in self.proxies:
                i = data.get(name, {}).get("idlews")
                if not i:
                    L.append(f"  {name:13} {'(not run: ' + self.why(name) + ')'}")
                    continue
                L.append(f"  {name:13} {i['bytes_per_ws']:10.0f} {i['held']:6} {i['alive']:6}"
                         f" {i['failed']:6} {i['cpu_us_per_ws']:10.0f}")

        for what in H2_PHASES:
            if what not in self.phases:
                continue
            L.append("")
            L.append(f"HTTP/2 over TLS (h2load -t1 -c{self.h2_conns} -m{self.h2_streams}:"
                     f" {self.h2_conns} connections x {self.h2_streams} concurrent streams;"
                     " HTTP/1.1 keep-alive to the backends)")
            L.append(f"  {'proxy':13} {'req/s':>9} {'p50':>9} {'p99':>9} {'CPU us/req':>11}"
                     f" {'(spread)':>8} {'RSS MB':>7} {'errors':>7}   backend conns/req")
            for name in self.proxies:
                h = data.get(name, {}).get(what)
                if not h:
                    L.append(f"  {name:13} {'(not run: ' + self.why(name) + ')'}")
                    continue
                fail = f"  FAILED: {h['failed']}" if h["failed"] else ""
                if "rps" not in h:
                    L.append(f"  {name:13} FAILED: {h['failed']}")
                    continue
                err = f"{h['errors']}" if not h["errors"] else \
                    f"{h['errors']} ({h['status']} non-2xx)"
                noise = (f"  ({h['dropped']} noisy run(s) dropped)" if h["dropped"] else
                         "  (every run noisy: none dropped)" if h["all_noisy"] else "")
                opened = (f"   {h['opened_per_req'] * 100:.3f}%" if "opened_per_req" in h
                          else "   n/a (stand-in backend)")
                L.append(f"  {name:13} {h['rps']:9.0f} {fmt_us(h['p50']):>9} {fmt_us(h['p99']):>9}"
                         f" {h['cpu_us_per_req']:11.2f} {h['cpu_spread'] * 100:7.0f}%"
                         f" {h['rss_kb'] / 1024:7.1f} {err:>7}{opened}{noise}{fail}")

        # ratios
        L.append("")
        pairs = [("fulcrum", "haproxy"), ("fulcrum", "nginx"), ("fulcrum-epoll", "haproxy"),
                 ("fulcrum-epoll", "nginx"), ("fulcrum", "fulcrum-epoll"), ("fulcrum-log", "fulcrum")]
        if "fulcrum" not in data:
            pairs = [("haproxy", "nginx")]
            L.append("ratios (fulcrum not run; haproxy/nginx instead):")
        else:
            L.append("ratios (lower is better for CPU, p99, bytes/conn; higher for req/s):")
        for a, b in pairs:
            if a not in data or b not in data:
                continue
            parts = []
            for mode, short in (("keepalive", "ka"), ("close", "close"), ("keepalive2k", "ka2k"),
                                ("tls_keepalive", "tls-ka"), ("tls_close", "tls-close")):
                if mode in data[a] and mode in data[b]:
                    ma, mb = data[a][mode], data[b][mode]
                    parts.append(f"CPU/req[{short}] {ratio(ma['cpu_us_per_req'], mb['cpu_us_per_req'])}")
                    parts.append(f"p99[{short}] {ratio(ma['p99'], mb['p99'])}")
                    parts.append(f"req/s[{short}] {ratio(ma['rps'], mb['rps'])}")
            for what, label in (("idle", "idle bytes/conn"), ("tls_idle", "TLS idle bytes/conn")):
                if what in data[a] and what in data[b]:
                    parts.append(f"{label} "
                                 + ratio(data[a][what]["bytes_per_conn"], data[b][what]["bytes_per_conn"]))
            if "idlews" in data[a] and "idlews" in data[b]:
                parts.append("idle bytes/WebSocket "
                             + ratio(data[a]["idlews"]["bytes_per_ws"], data[b]["idlews"]["bytes_per_ws"]))
            for what, short in (("h2_tls", "h2"),):
                ha, hb = data[a].get(what), data[b].get(what)
                if not ha or not hb:
                    continue
                if "rps" not in ha or "rps" not in hb:
                    parts.append(f"{short}: n/a ({a if 'rps' not in ha else b} failed)")
                    continue
                flag = " (failed)" if ha["failed"] or hb["failed"] else ""
                parts.append(f"CPU/req[{short}] {ratio(ha['cpu_us_per_req'], hb['cpu_us_per_req'])}{flag}")
                parts.append(f"p99[{short}] {ratio(ha['p99'], hb['p99'])}{flag}")
                parts.append(f"req/s[{short}] {ratio(ha['rps'], hb['rps'])}{flag}")
            L.append(f"  {a}/{b}: " + ", ".join(parts))

        # against the better of HAProxy and nginx, row by row
        best_lines = []
        for a in ("fulcrum", "fulcrum-epoll"):
            if a not in data:
                continue
            parts = []
            for mode, short in (("keepalive", "ka"), ("close", "close"), ("keepalive2k", "ka2k"),
                                ("tls_keepalive", "tls-ka"), ("tls_close", "tls-close")):
                bp = best_peer(data, mode, "cpu_us_per_req")
                if bp and mode in data[a]:
                    parts.append(f"CPU/req[{short}] "
                                 f"{ratio(data[a][mode]['cpu_us_per_req'], data[bp][mode]['cpu_us_per_req'])}"
                                 f" ({bp})")
            for what, label in (("idle", "idle bytes/conn"), ("tls_idle", "TLS idle bytes/conn")):
                bp = best_peer(data, what, "bytes_per_conn")
                if bp and what in data[a]:
                    parts.append(f"{label} "
                                 f"{ratio(data[a][what]['bytes_per_conn'], data[bp][what]['bytes_per_conn'])}"
                                 f" ({bp})")
            bp = best_peer(data, "idlews", "bytes_per_ws")
            if bp and "idlews" in data[a]:
                parts.append("idle bytes/WebSocket "
                             f"{ratio(data[a]['idlews']['bytes_per_ws'], data[bp]['idlews']['bytes_per_ws'])}"
                             f" ({bp})")
            for what, short in (("h2_tls", "h2"),):
                h = data[a].get(what)
                if not h:
                    continue
                if "rps" not in h:
                    parts.append(f"{short}: FAILED ({h['failed']})")
                    continue
                flag = f" FAILED ({h['failed']})" if h["failed"] else ""
                for key, label in (("cpu_us_per_req", "CPU/req"), ("p99", "p99")):
                    bp = best_peer(data, what, key, ok=lambda x: "rps" in x and not x["failed"])
                    if bp:
                        parts.append(f"{label}[{short}] {ratio(h[key], data[bp][what][key])} ({bp})")
                    else:
                        parts.append(f"{label}[{short}] n/a (no peer without a failure)")
                parts[-1] += flag
            if parts:
                best_lines.append(f"  {a}/best: " + ", ".join(parts))
        if best_lines:
            L.append("")
            L.append("against the better peer of each row (haproxy or nginx, named):")
            L += best_lines

        # the bar from issue #2
        if "fulcrum" in data:
            f, h, n = data["fulcrum"], data.get("haproxy"), data.get("nginx")
            checks = []
            if h and "keepalive" in f and "keepalive" in h:
                a, b = f["keepalive"]["cpu_us_per_req"], h["keepalive"]["cpu_us_per_req"]
                checks.append((f"CPU/req (keep-alive) <= haproxy's: {a:.2f} vs {b:.2f} us", a <= b))
                a, b = f["keepalive"]["p99"], h["keepalive"]["p99"]
                fr, hr = f["keepalive"]["p99_range"], h["keepalive"]["p99_range"]
                checks.append((f"p99 (keep-alive) <= haproxy's: {fmt_us(a)} vs {fmt_us(b)}"
                               f" (rounds: {fmt_us(fr[0])}..{fmt_us(fr[1])} vs"
                               f" {fmt_us(hr[0])}..{fmt_us(hr[1])})", a <= b))
            if "keepalive2k" in f and "opened_per_req" in f["keepalive2k"]:
                a = f["keepalive2k"]["opened_per_req"]
                checks.append((f"backend connections opened at {self.many} keep-alive clients"
                               f" < 0.1% of requests: {a * 100:.3f}%", a < 0.001))
            errs = sum(f[m]["errors"] for m in self.modes if m in f and m not in TLS_PHASES)
            checks.append((f"zero errors: {errs}", errs == 0))
            if n and "idle" in f and "idle" in n:
                a, b = f["idle"]["bytes_per_conn"], n["idle"]["bytes_per_conn"]
                checks.append((f"idle bytes/conn < nginx's: {a:.0f} vs {b:.0f}", a < b))
            if not any(m in f for m in ("keepalive", "close", "keepalive2k", "idle")):
                checks = []   # a TLS-only run: no plain rows to judge
            if checks:
                L.append("")
                L.append("the bar (issue #2):")
            for what, ok in checks:
                L.append(f"  {'PASS' if ok else 'FAIL'}  {what}")
            # the bar for TLS: CPU per request at most the best peer's (the
            # crypto is OpenSSL's in all three), idle TLS memory below nginx's
            checks = []
            for mode, label in (("tls_keepalive", "TLS keep-alive"), ("tls_close", "TLS new connection")):
                bp = best_peer(data, mode, "cpu_us_per_req")
                if bp and mode in f:
                    a, b = f[mode]["cpu_us_per_req"], data[bp][mode]["cpu_us_per_req"]
                    checks.append((f"CPU/req ({label}) <= the best peer's ({bp}): {a:.2f} vs {b:.2f} us"
                                   f" = {ratio(a, b)}", a <= b))
            if n and "tls_idle" in f and "tls_idle" in n:
                a, b = f["tls_idle"]["bytes_per_conn"], n["tls_idle"]["bytes_per_conn"]
                checks.append((f"idle TLS bytes/conn < nginx's: {a:.0f} vs {b:.0f} = {ratio(a, b)}", a < b))
            tls_modes = [m for m in self.modes if m in TLS_PHASES and m in f]
            if tls_modes or "tls_idle" in f:
                errs = sum(f[m]["errors"] for m in tls_modes)
                fails = f.get("tls_idle", {}).get("failed", 0)
                checks.append((f"zero TLS errors: {errs} (wrk), {fails} (idle connections failed)",
                               errs == 0 and fails == 0))
            if checks:
                L.append("")
                L.append("the bar (TLS):")
                for what, ok in checks:
                    L.append(f"  {'PASS' if ok else 'FAIL'}  {what}")
            # HTTP/2: negotiated and error-free first, then against the best peer
            h = f.get("h2_tls")
            if h:
                checks = [(f"h2 negotiated, zero errors: "
                           + (h["failed"] or f"0 errors in {h['requests']} requests"), not h["failed"])]
                if "rps" in h:
                    for key, label in (("cpu_us_per_req", "CPU/req"), ("p99", "p99")):
                        bp = best_peer(data, "h2_tls", key, ok=lambda x: "rps" in x and not x["failed"])
                        if bp:
                            a, b = h[key], data[bp]["h2_tls"][key]
                            shown = (f"{a:.2f} vs {b:.2f} us" if key == "cpu_us_per_req"
                                     else f"{fmt_us(a)} vs {fmt_us(b)}")
                            checks.append((f"{label} (HTTP/2) <= the best peer's ({bp}): {shown}"
                                           f" = {ratio(a, b)}", a <= b))
                L.append("")
                L.append("HTTP/2 (h2_tls):")
                for what, ok in checks:
                    L.append(f"  {'PASS' if ok else 'FAIL'}  {what}")
        for name in self.proxies:
            for e in dict.fromkeys(self.results[name]["start_errors"]):
                L.append(f"note: {name}: {e.splitlines()[0].rstrip(':')}")
        L.append("")
        L.append(f"raw results: {os.path.relpath(self.out)}/ (results.json, wrk-*.txt, h2load-*.txt, strace-*.txt)")
        return {"text": "\n".join(L) + "\n", "data": data}

    def summarize_h2(self, recs):
        """The medians of an h2load phase over (round, record) pairs, like the
        wrk rows', plus "failed": why the row failed (h2 not negotiated,
        errors: any round), or None. No numbers when no round negotiated h2."""
        if not recs:
            return None
        why = {}
        for rnd, h in recs:
            if h.get("failed"):
                why.setdefault(h["failed"] if "rps" not in h or h["protocol"] != "h2"
                               else "errors", []).append(rnd)
        measured = [h for _, h in recs if "rps" in h and h.get("protocol") == "h2"]
        rs = [h for h in measured if h["other_cores"] <= self.noise_max] or measured
        d = {"runs": len(recs), "measured": len(measured),
             "failed": "; ".join(f"{w} (round{'s' if len(r) > 1 else ''} {', '.join(map(str, r))})"
                                 for w, r in why.items()) or None}
        # errors from every measured run, noisy or not: any fails the row
        for k in ("errors", "streams_failed", "errored", "timeout", "status", "requests"):
            d[k] = sum(h[k] for h in measured)
        if not rs:
            return d
        for k in ("rps", "p50", "p99", "cpu_us_per_req", "rss_kb"):
            d[k] = med([h[k] for h in rs])
        cpus = [h["cpu_us_per_req"] for h in rs]
        d["cpu_spread"] = (max(cpus) - min(cpus)) / d["cpu_us_per_req"] \
            if d["cpu_us_per_req"] else float("nan")
        d["p99_range"] = (min(h["p99"] for h in rs), max(h["p99"] for h in rs))
        d["dropped"] = len(measured) - len(rs) if rs is not measured else 0
        d["all_noisy"] = rs is measured and any(h["other_cores"] > self.noise_max for h in measured)
        if all("opened_per_req" in h for h in rs):
            d["opened_per_req"] = med([h["opened_per_req"] for h in rs])
        return d

    def why(self, name):
        errs = self.results[name]["start_errors"]
        return errs[0].splitlines()[0].rstrip(":") if errs else "not selected"


def med(xs):
    xs = [x for x in xs if x == x]   # drop NaN
    return statistics.median(xs) if xs else float("nan")


def best_peer(data, row, key, ok=lambda _row: True):
    """The peer (haproxy or nginx) with the lower `key` in `row`, or None;
    only rows for which ok(row) holds compete (h2_tls: measured, not failed)."""
    have = [p for p in PEERS if p in data and row in data[p] and ok(data[p][row])
            and data[p][row][key] == data[p][row][key]]
    return min(have, key=lambda p: data[p][row][key]) if have else None


def ratio(a, b):
    if not b or a != a or b != b:
        return "n/a"
    return f"{a / b:.2f}"


def fmt_us(us):
    if us != us:
        return "n/a"
    if us >= 1e6:
        return f"{us / 1e6:.2f}s"
    if us >= 1000:
        return f"{us / 1000:.2f}ms"
    return f"{us:.0f}us"


def parse_secs(d):
    """A wrk/h2load duration ("10s", "500ms", "2m", "1h", "10") in seconds."""
    m = re.fullmatch(r"([0-9.]+)(ms|s|m|h)?", d.strip())
    if not m:
        raise SystemExit(f"bench: cannot read the duration {d!r}")
    return float(m.group(1)) * {"ms": 1e-3, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


def nginx_version():
    """nginx's version as a tuple, from `nginx -v` (it prints to stderr);
    (0,) when it cannot tell."""
    try:
        r = subprocess.run(["nginx", "-v"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return (0,)
    m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", r.stdout + r.stderr)
    return tuple(int(x) for x in m.groups()) if m else (0,)


def versions(build):
    v = {}
    for name, argv in (("haproxy", ["haproxy", "-v"]), ("nginx", ["nginx", "-v"]),
                       ("wrk", ["wrk", "--version"]), ("h2load", ["h2load", "--version"]),
                       ("fulcrum", [os.path.join(build, "fulcrum"), "--version"])):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            v[name] = (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else ""
        except (OSError, subprocess.TimeoutExpired):
            v[name] = None
    return v


def main():
    if len(sys.argv) != 2:
        print("usage: bench.py BUILD_DIR", file=sys.stderr)
        return 2
    b = Bench(sys.argv[1])

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    try:
        return b.run()
    except KeyboardInterrupt:
        warn("interrupted; stopping everything")
        return 130
    finally:
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
