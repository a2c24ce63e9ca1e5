"""WebSocket peers for the e2e tests: ws_peer.py (python3-websockets, under
/usr/bin/python3) as an echo backend, as a client running a scenario, and as
a client holding one WebSocket open."""
import json
import os
import subprocess

import harness as h

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ws_peer.py")
SYS_PYTHON = "/usr/bin/python3"


class WsServer:
    """ws_peer.py server: a WebSocket echo backend on a kernel-picked port."""

    def __init__(self, name="ws"):
        self.name = name
        self.proc = h.spawn([SYS_PYTHON, PEER, "server", "--name", name], stdout=subprocess.PIPE)
        line = h._read_line(self.proc.stdout, 20 * h.SLOW) or ""
        h.check(" listening on " in line, "ws_peer did not start: %r" % line)
        self.port = int(line.rsplit(":", 1)[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def backend(self):
        return (self.url, self.name, 1)


def ws_client(port, scenario, *args, timeout=60, tls=False):
    """Runs a ws_peer.py client scenario; returns its JSON result (checked ok).
    tls: through wss:// (the certificate is not verified)."""
    env = dict(os.environ, WS_TLS="1") if tls else None
    p = h.spawn([SYS_PYTHON, PEER, "client", scenario, str(port)] + [str(a) for a in args],
                stdout=subprocess.PIPE, env=env)
    try:
        out, _ = p.communicate(timeout=timeout * h.SLOW)
    except subprocess.TimeoutExpired:
        p.kill()
        h.fail("ws_peer client %s timed out" % scenario)
    res = json.loads(out.decode().strip().splitlines()[-1])
    h.check(res.get("ok") and p.returncode == 0, "ws_peer client %s: %r" % (scenario, res))
    return res


class Holder:
    """ws_peer.py client hold: one open WebSocket until close() (or the far end closes)."""

    def __init__(self, port):
        self.proc = h.spawn([SYS_PYTHON, PEER, "client", "hold", str(port)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = h._read_line(self.proc.stdout, 20 * h.SLOW) or "{}"
        self.server = json.loads(line).get("open")
        h.check(self.server, "hold: no WebSocket opened: %r" % line)

    def result(self, timeout=10):
        line = h._read_line(self.proc.stdout, timeout * h.SLOW)
        h.check(line, "hold: no result")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        return self.result()
