"""A real redis-server for the e2e tests of global rate limits
(test_cluster_redis.py, test_status_page.py): on 127.0.0.1, a port the kernel
picked, no persistence, in a temp dir, with a password (so fulcrum sends
AUTH); registered with the harness, so it is killed with everything else."""
import os
import shutil
import socket
import subprocess
import time

import harness as h

PASSWORD = "redis-pass-for-the-e2e-test"


def kernel_port():
    """A port the kernel picked as free now (bind to port 0)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Redis:
    """redis-server on 127.0.0.1, no persistence, in a temp dir."""

    def __init__(self):
        self.dir = h.tmpdir()
        self.bin = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = None
        self.proc = None
        for _ in range(5):
            self.port = kernel_port()
            if self.start():
                return
        h.fail("redis-server did not start: %s" % self.log()[-2000:])

    def start(self):
        self.out = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = h.spawn([self.bin, "--port", str(self.port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", self.dir,
                             "--requirepass", PASSWORD],
                            stdout=self.out, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + 10 * h.SLOW
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.ping():
                return True
            time.sleep(0.05)
        return False

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"AUTH %s\r\nPING\r\n" % PASSWORD.encode())
                buf = b""
                while b"PONG" not in buf:
                    d = s.recv(100)
                    if not d:
                        return False
                    buf += d
                return True
        except OSError:
            return False

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


def password_file():
    """A file holding PASSWORD, for cluster.redis.password_file."""
    path = os.path.join(h.tmpdir(), "redis.password")
    with open(path, "w") as f:
        f.write(PASSWORD + "\n")
    return path
