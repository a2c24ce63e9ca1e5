"""gRPC peers for the e2e tests: grpc_backend.py (python3-grpcio, run under
/usr/bin/python3) as a backend whose health can be flipped while it runs,
and as a client making unary and streaming calls (through fulcrum or not).
The test files themselves stay standard library only."""
import json
import os
import subprocess

import harness as h

BACKEND = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grpc_backend.py")
SYS_PYTHON = "/usr/bin/python3"


def have_grpc():
    """Why gRPC tests cannot run here (no python3-grpcio for /usr/bin/python3),
    or None."""
    try:
        r = subprocess.run([SYS_PYTHON, "-c", "import grpc"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if r.returncode == 0 else r.stderr.decode(errors="replace").strip()[-200:]


class GrpcBackend:
    """grpc_backend.py server on a kernel-picked loopback port. health:
    {service: state} at start ("" is the server as a whole); tls: (cert, key)
    paths to serve TLS (ALPN h2)."""

    def __init__(self, name="grpc", health=None, tls=None):
        self.name = name
        self.health = dict(health or {})
        self.tls = tls
        self.proc = None
        self.port = 0
        self.start()

    def start(self, port=None):
        """Starts it (again: on port, e.g. its old one)."""
        if port is not None:
            self.port = port
        args = [SYS_PYTHON, BACKEND, "server", "--name", self.name, "--port", str(self.port)]
        for svc, state in self.health.items():
            args.append("--health=%s=%s" % (svc or "-", state))  # "-=...": not an option
        if self.tls:
            args += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        self.proc = h.spawn(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = h._read_line(self.proc.stdout, 30 * h.SLOW) or ""
        h.check(" listening on " in line, "grpc_backend did not start: %r" % line)
        self.port = int(line.rsplit(":", 1)[1])
        return self

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def backend(self):
        """(url, name, weight) for harness.config."""
        return (self.url, self.name, 1)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _command(self, line):
        h.check(self.alive(), "grpc_backend %s is not running" % self.name)
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        got = h._read_line(self.proc.stdout, 10 * h.SLOW)
        h.check(got is not None, "grpc_backend %s did not answer %r" % (self.name, line))
        return got

    def set_health(self, service, state):
        """state: SERVING, NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN, hang,
        garbage, code=N, remove. Returns once it took effect."""
        got = self._command("health %s %s" % (service or "-", state))
        h.eq(got, "ok", "grpc_backend health %s %s" % (service, state))

    def stats(self):
        return json.loads(self._command("stats"))

    def checks(self, service=""):
        return self.stats()["checks"].get(service, 0)

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=5)

    def stop(self):
        """Closes its stdin, which stops it."""
        if self.alive():
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10 * h.SLOW)
            except subprocess.TimeoutExpired:
                self.kill()


def grpc_call(port, method, data=(), service=None, metadata=None, timeout=10, authority=None,
              tls_ca=None, tls_name=None, repeat=1, host="127.0.0.1"):
    """One grpc_backend.py call (repeat: that many on one channel) to
    host:port. Returns its JSON result (a list of them when repeat > 1):
    code, code_name, details, messages, sizes, initial_metadata,
    trailing_metadata, elapsed_ms (and status for Check)."""
    args = [SYS_PYTHON, BACKEND, "call", "--target", "%s:%d" % (host, port), "--method", method,
            "--timeout", str(timeout * h.SLOW), "--repeat", str(repeat)]
    for d in data:
        args += ["--data", str(d)]
    if service is not None:
        args += ["--service", service]
    for k, v in (metadata or {}).items():
        args += ["--metadata", "%s=%s" % (k, v)]
    if authority:
        args += ["--authority", authority]
    if tls_ca:
        args += ["--tls-ca", tls_ca]
    if tls_name:
        args += ["--tls-name", tls_name]
    p = h.spawn(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=(timeout * repeat + 30) * h.SLOW)
    except subprocess.TimeoutExpired:
        p.kill()
        h.fail("grpc_backend call %s timed out" % method)
    h.check(p.returncode == 0, "grpc_backend call %s failed (%r): %s"
            % (method, p.returncode, err.decode(errors="replace")[-1500:]))
    res = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    h.eq(len(res), repeat, "results of grpc_backend call %s" % method)
    return res[0] if repeat == 1 else res
