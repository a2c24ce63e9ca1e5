#!/usr/bin/env python3
"""idle_ws.py — idle WebSockets for bench/bench.py: a backend that accepts
WebSocket upgrades (RFC 6455 handshake: 101 with Sec-WebSocket-Accept) and
then just holds each connection, and a client side that opens N WebSockets
through a proxy and keeps them all open and idle. Standard library only.

    python3 bench/idle_ws.py serve PORT                 # the backend
    python3 bench/idle_ws.py open HOST PORT N           # holds until Ctrl-C

bench.py measures a proxy's RSS before and after the N are open: bytes per
idle WebSocket = (after - before) / N.
"""
import base64
import errno
import hashlib
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idle_conns import IdleConns  # noqa: E402

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = base64.b64encode(b"fulcrum-bench-ws").decode()
REQUEST = ("GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % KEY).encode()


def accept_value(key):
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def serve(port):
    """One thread, epoll: answer each upgrade with a 101, then hold the
    connection (reading and dropping whatever comes) until the peer closes."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(4096)
    ls.setblocking(False)
    ep = select.epoll()
    ep.register(ls.fileno(), select.EPOLLIN)
    conns = {}  # fd -> [sock, head bytes or None once upgraded]
    print("idle_ws backend listening on 127.0.0.1:%d" % port, flush=True)
    while True:
        for fd, _ev in ep.poll():
            if fd == ls.fileno():
                while True:
                    try:
                        c, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:
                        if e.errno in (errno.EMFILE, errno.ENFILE):
                            break
                        raise
                    c.setblocking(False)
                    conns[c.fileno()] = [c, b""]
                    ep.register(c.fileno(), select.EPOLLIN)
                continue
            ent = conns.get(fd)
            if ent is None:
                continue
            try:
                data = ent[0].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                ep.unregister(fd)
                ent[0].close()
                del conns[fd]
                continue
            if ent[1] is None:
                continue  # upgraded: frames are dropped
            ent[1] += data
            if b"\r\n\r\n" not in ent[1]:
                continue
            key = b""
            for line in ent[1].split(b"\r\n"):
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"sec-websocket-key":
                    key = v.strip()
            if key:
                resp = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_value(key) +
                        b"\r\n\r\n")
            else:  # a plain request (a readiness probe): answer it and close
                resp = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
            ent[0].sendall(resp)
            ent[1] = None
            if not key:
                ep.unregister(fd)
                ent[0].close()
                del conns[fd]


def upgraded(buf):
    """(done, good) for the answer to REQUEST: a 101 with the right accept value."""
    if b"\r\n\r\n" not in buf:
        return False, False
    want = b"sec-websocket-accept: " + accept_value(KEY.encode()).lower()
    return True, buf.startswith(b"HTTP/1.1 101 ") and want in buf.lower()


class IdleWebSockets(IdleConns):
    """N WebSockets through a proxy, each upgraded, then left idle."""

    def __init__(self):
        super().__init__(REQUEST, upgraded)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
        return 0
    if len(sys.argv) == 5 and sys.argv[1] == "open":
        ws = IdleWebSockets()
        ws.open(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), timeout=120.0)
        print("idle_ws: %d open and idle, %d failed; pid %d, Ctrl-C to close"
              % (ws.ok, ws.failed, os.getpid()), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        ws.close()
        return 0
    print("usage: idle_ws.py serve PORT | open HOST PORT N", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
