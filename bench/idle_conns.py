#!/usr/bin/env python3
"""idle_conns.py — open N keep-alive client connections to a proxy, send one
complete GET on each, read the whole response, and keep them all open (idle).
With --tls, the connections are TLS (python's ssl module, its default client
context without verification; each a full handshake: no session is reused).

Used by bench/bench.py to measure a proxy's memory per idle client connection
(RSS after minus RSS before, divided by N). Can also run alone:

    python3 bench/idle_conns.py 127.0.0.1 8080 5000         # holds until Ctrl-C
    python3 bench/idle_conns.py --tls 127.0.0.1 8443 2000
"""
import errno
import os
import select
import socket
import ssl
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: fulcrum-bench-idle\r\n\r\n"


class IdleConns:
    """N connections that each completed one request and now sit idle.
    request: the bytes sent on each; check(buf) -> (done, good) says when its
    answer is complete and whether it counts (bench/idle_ws.py passes an
    upgrade and a 101 check)."""

    def __init__(self, request=None, check=None):
        self.request = request or REQUEST
        self.check = check or response_complete
        self.socks = []
        self.ok = 0        # connections whose response was a complete 2xx
        self.failed = 0    # connect errors, non-2xx, early close, timeout
        self.errors = []   # the first few reasons (TLS only)

    def open(self, host, port, n, timeout=60.0, batch=256):
        """Opens n connections in batches of at most `batch` in flight.
        Returns the number of connections that got a complete 2xx response."""
        ep = select.epoll()
        deadline = time.monotonic() + timeout
        pending = {}   # fd -> [sock, state, buf]; state 0 connecting, 1 reading
        started = 0
        try:
            while (started < n or pending) and time.monotonic() < deadline:
                while started < n and len(pending) < batch:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    rc = s.connect_ex((host, port))
                    started += 1
                    if rc not in (0, errno.EINPROGRESS):
                        s.close()
                        self.failed += 1
                        continue
                    pending[s.fileno()] = [s, 0, b""]
                    ep.register(s.fileno(), select.EPOLLOUT)
                for fd, ev in ep.poll(0.5):
                    ent = pending.get(fd)
                    if ent is None:
                        continue
                    s = ent[0]
                    if ent[1] == 0:
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            self._fail(ep, pending, fd)
                            continue
                        try:
                            s.send(self.request)
                        except OSError:
                            self._fail(ep, pending, fd)
                            continue
                        ent[1] = 1
                        ep.modify(fd, select.EPOLLIN)
                        continue
                    try:
                        data = s.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        self._fail(ep, pending, fd)
                        continue
                    if not data:
                        self._fail(ep, pending, fd)
                        continue
                    ent[2] += data
                    done, good = self.check(ent[2])
                    if done:
                        ep.unregister(fd)
                        del pending[fd]
                        if good:
                            self.socks.append(s)
                            self.ok += 1
                        else:
                            s.close()
                            self.failed += 1
            for fd in list(pending):
                self._fail(ep, pending, fd)
        finally:
            ep.close()
        return self.ok

    def open_tls(self, host, port, n, ctx, server_hostname, timeout=60.0):
        """Opens n TLS connections one after the other (so at most one handshake
        and one request are in flight: what stays is what an idle TLS connection
        keeps): handshake, one GET, the whole response (which also reads the
        session tickets a TLS 1.3 server sends), then the connection stays open.
        A fresh SSL object each time and no session given: full handshakes.
        Returns the number that got a complete 2xx response."""
        deadline = time.monotonic() + timeout
        for _ in range(n):
            if time.monotonic() >= deadline:
                self.failed += 1
                continue
            s = None
            try:
                raw = socket.create_connection((host, port), timeout=10)
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s = ctx.wrap_socket(raw, server_hostname=server_hostname)
                s.sendall(REQUEST)
                buf = b""
                while True:
                    d = s.recv(65536)
                    if not d:
                        raise ConnectionError("closed before the whole response")
                    buf += d
                    done, good = response_complete(buf)
                    if done:
                        break
                if not good:
                    raise ConnectionError("not a 2xx: " + buf[:40].decode("latin-1", "replace"))
                # non-blocking from now on, like open()'s sockets: a socket
                # with a timeout polls for up to that long before each recv,
                # even with MSG_DONTWAIT (still_open would wait 10 s per socket)
                s.setblocking(False)
                self.socks.append(s)
                self.ok += 1
            except (OSError, ssl.SSLError, ValueError) as e:
                self.failed += 1
                if len(self.errors) < 5:
                    self.errors.append(str(e))
                if s is not None:
                    s.close()
        return self.ok

    def _fail(self, ep, pending, fd):
        ent = pending.pop(fd)
        try:
            ep.unregister(fd)
        except OSError:
            pass
        ent[0].close()
        self.failed += 1

    def still_open(self):
        """How many of the held connections the proxy has not closed."""
        alive = 0
        for s in self.socks:
            try:
                # the plain socket's recv, also under an SSLSocket: peeks at
                # the TCP stream (a TLS alert counts as open but unexpected)
                data = socket.socket.recv(s, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                if data:
                    alive += 1   # unexpected bytes, but open
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        return alive

    def close(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        self.socks = []


def response_complete(buf):
    """(done, good) for one HTTP/1.1 response in buf (Content-Length or chunked)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False, False
    head = buf[:end].decode("latin-1")
    lines = head.split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return True, False
    body = buf[end + 4:]
    clen = None
    chunked = False
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k == "content-length":
            clen = int(v.strip())
        elif k == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
    if chunked:
        if not body.endswith(b"0\r\n\r\n"):
            return False, False
    elif clen is not None and len(body) < clen:
        return False, False
    return True, 200 <= status < 300


def main():
    args = sys.argv[1:]
    tls = bool(args) and args[0] == "--tls"
    if tls:
        args = args[1:]
    if len(args) != 3:
        print("usage: idle_conns.py [--tls] HOST PORT N", file=sys.stderr)
        return 2
    ic = IdleConns()
    t0 = time.monotonic()
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ic.open_tls(args[0], int(args[1]), int(args[2]), ctx, "bench.test")
    else:
        ic.open(args[0], int(args[1]), int(args[2]))
    print(f"idle_conns: {ic.ok} open and idle, {ic.failed} failed "
          f"({time.monotonic() - t0:.1f}s); pid {os.getpid()}, Ctrl-C to close", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    ic.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
