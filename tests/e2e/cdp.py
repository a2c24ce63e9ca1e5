"""Headless Chromium driven over the DevTools protocol, standard library only:
Browser starts Debian's /usr/bin/chromium on a fresh profile with
--remote-debugging-port=0, reads the port from DevToolsActivePort and talks
to the page target over a WebSocket (the few lines of RFC 6455 a client
needs). Every wait has a deadline; close() kills Chromium and its profile."""
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.request

import harness as h

CHROMIUM = os.environ.get("FULCRUM_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--no-default-browser-check",
         "--disable-features=Translate,MediaRouter,OptimizationHints",
         "--remote-debugging-port=0"]


class CdpError(Exception):
    pass


class WebSocket:
    """A client WebSocket: text frames out (masked), whole messages in."""

    def __init__(self, host, port, path, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        # no Origin header: Chromium refuses DevTools WebSockets from web origins only
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           % (path, host, port, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                raise CdpError("DevTools closed the WebSocket handshake")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise CdpError("DevTools refused the WebSocket: %r" % head[:200])

    def send(self, text):
        data = text.encode()
        n = len(data)
        hdr = bytes([0x81])  # FIN, text
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exact(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(1 << 16)
            if not d:
                raise CdpError("DevTools closed the WebSocket")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self, timeout):
        """The next whole text message (socket.timeout when none within timeout)."""
        self.sock.settimeout(timeout)
        parts = []
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._exact(8))[0]
            mask = self._exact(4) if b1 & 0x80 else None
            data = self._exact(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            op = b0 & 0x0F
            if op == 8:
                raise CdpError("DevTools closed the WebSocket")
            if op == 9:  # ping: answer, keep reading
                self.sock.sendall(bytes([0x8A, 0x80]) + os.urandom(4))
                continue
            if op in (0, 1, 2):
                parts.append(data)
                if b0 & 0x80:
                    return b"".join(parts).decode()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Browser:
    """One headless Chromium with one page. events: every DevTools event seen
    (dicts with method and params), in order."""

    def __init__(self, width=1440, height=900, timeout=30):
        if not os.access(CHROMIUM, os.X_OK):
            h.fail("%s not found: the status page test needs Debian's chromium (scripts/deps.sh installs it)"
                   % CHROMIUM)
        self.profile = h.tmpdir()
        self.proc = h.spawn([CHROMIUM] + FLAGS + ["--user-data-dir=" + self.profile,
                                                  "--window-size=%d,%d" % (width, height), "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        h._closers.append(self.close)  # at the end of the test, passed or not
        self.ws = None
        self.events = []
        self.next_id = 0
        try:
            self._connect(timeout * h.SLOW)
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    def _connect(self, timeout):
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        port = None
        while port is None:
            if self.proc.poll() is not None:
                h.fail("chromium exited with %s before DevTools was up" % self.proc.returncode)
            if time.monotonic() > deadline:
                h.fail("chromium wrote no DevToolsActivePort within %.0f s" % timeout)
            try:
                with open(port_file) as f:
                    lines = f.read().split("\n")
                if len(lines) >= 2 and lines[0].strip().isdigit():
                    port = int(lines[0])
            except OSError:
                pass
            time.sleep(0.1)
        page = None
        while page is None:
            if time.monotonic() > deadline:
                h.fail("chromium shows no page target within %.0f s" % timeout)
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5) as r:
                    targets = json.loads(r.read())
                page = next((t for t in targets if t.get("type") == "page"), None)
            except OSError:
                pass
            if page is None:
                time.sleep(0.1)
        path = page["webSocketDebuggerUrl"].split("%d" % port, 1)[1]
        self.ws = WebSocket("127.0.0.1", port, path, timeout)

    def call(self, method, timeout=20, **params):
        """Sends one command and returns its result; events that arrive meanwhile
        are appended to self.events. A protocol error raises CdpError."""
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.monotonic() + timeout * h.SLOW
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                h.fail("DevTools: no answer to %s within %.0f s" % (method, timeout * h.SLOW))
            try:
                msg = json.loads(self.ws.recv(left))
            except socket.timeout:
                h.fail("DevTools: no answer to %s within %.0f s" % (method, timeout * h.SLOW))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise CdpError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (JSON-able values).
        An exception in it fails the test."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            h.fail("page script error in %r: %s" % (expression[:80], json.dumps(r["exceptionDetails"])[:600]))
        return r.get("result", {}).get("value")

    def wait(self, expression, timeout, what):
        """Polls expression every 100 ms until it is truthy; returns its value,
        or fails the test after timeout seconds (times SLOW) with the last value."""
        deadline = time.monotonic() + timeout * h.SLOW
        last = None
        while time.monotonic() < deadline:
            last = self.evaluate(expression)
            if last:
                return last
            time.sleep(0.1)
        h.fail("timed out after %.0f s waiting for %s (last value %r)" % (timeout * h.SLOW, what, last))

    def screenshot(self, path):
        r = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        return path

    def close(self):
        if self.ws:
            self.ws.close()
            self.ws = None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own group: the renderers too
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        shutil.rmtree(self.profile, ignore_errors=True)
