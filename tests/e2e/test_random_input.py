"""Bad input of any kind never crashes fulcrum: seeded random mutations of
valid requests (bytes flipped, inserted, cut; sent in random pieces; the
connection dropped at random) from clients, and of valid responses from a
hostile backend. Afterwards fulcrum still answers correctly, its memory has
not grown without bound, and (in the ASan build) stopping it shows no
sanitizer report (the harness checks fulcrum's stderr when it stops)."""
import random
import socket
import threading
import time

import harness as h

SEED = 20261121
N_CLIENT = 240 if h.SANITIZED else 480
N_BACKEND = 120 if h.SANITIZED else 240
THREADS = 8

REQUESTS = [
    b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
    b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
    b"PUT /sink HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /c HTTP/1.1\r\nHost: h\r\nConnection: X-A, close\r\nX-A: 1\r\nCookie: a=b; c=d\r\n\r\n",
]

RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nclose delimited body",
    b"HTTP/1.1 302 Found\r\nLocation: /x\r\nConnection: close, X-B\r\nX-B: 2\r\nContent-Length: 0\r\n\r\n",
]


def mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randrange(len(b) + 1)
        if op < 0.3 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif op < 0.5:
            b[pos:pos] = bytes(rng.choice([b"\r\n", b"\n", b" ", b"\x00", b":", b"0", b"ffffffffffffffffff",
                                           b"\r\n\r\n", b"Content-Length: 7\r\n",
                                           b"Transfer-Encoding: chunked\r\n"]))
        elif op < 0.7 and b:
            del b[pos:pos + rng.randint(1, 8)]
        elif op < 0.85:
            b = b[:pos]
        else:
            b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(b)


def send_pieces(rng, sock, data):
    i = 0
    while i < len(data):
        n = rng.choice([1, 2, 7, 64, len(data)])
        sock.sendall(data[i:i + n])
        i += n
        if rng.random() < 0.1:
            time.sleep(0.001)


def client_round(rng, port):
    data = mutate(rng, rng.choice(REQUESTS)) if rng.random() < 0.9 else rng.choice(REQUESTS)
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        send_pieces(rng, s, data)
        if rng.random() < 0.3:
            return  # drop the connection at once
        if rng.random() < 0.2:
            s.shutdown(socket.SHUT_WR)
        s.settimeout(0.15)
        try:
            while s.recv(65536):
                pass
        except (socket.timeout, OSError):
            pass
    except OSError:
        pass
    finally:
        s.close()


class HostileBackend:
    """Answers each request head with a mutated response, seeded."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.stopped = False
        threading.Thread(target=self.run, daemon=True).start()
        h._closers.append(self.close)

    def close(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass

    def run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        c.settimeout(2)
        buf = b""
        try:
            while not self.stopped:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
                while b"\r\n\r\n" in buf:
                    buf = buf.split(b"\r\n\r\n", 1)[1]
                    with self.lock:
                        resp = mutate(self.rng, self.rng.choice(RESPONSES))
                        close = self.rng.random() < 0.3
                    c.sendall(resp)
                    if close:
                        return
        except OSError:
            pass
        finally:
            c.close()


@h.test(timeout=150)
def random_clients_and_backend():
    rng = random.Random(SEED)
    good = h.Echo(name="good")
    bad = HostileBackend(SEED + 1)
    f = h.start_proxy([(bad.url, "hostile", 1), good], pool_extra={"retries": 1},
                      client={"header_timeout": "1s", "body_timeout": "1s"})
    rss0 = h.rss_kb(f.proc.pid)
    # several clients at once, each with its own seeded stream
    def worker(k, n):
        r = random.Random(SEED * 31 + k)
        for _ in range(n):
            client_round(r, f.port)
    threads = [threading.Thread(target=worker, args=(k, N_CLIENT // THREADS)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # the hostile backend answers: requests that reach it see mutated responses
    def via_backend(k, n):
        for i in range(n):
            try:
                h.get(f.port, "/r%d-%d" % (k, i), timeout=1)
            except Exception:
                pass  # a cut or stalled response is fine; a crash is not (checked below)
    threads = [threading.Thread(target=via_backend, args=(k, N_BACKEND // THREADS)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    h.check(f.proc.poll() is None, "fulcrum is still running")
    # still correct: the good server answers
    ok = 0
    for i in range(20):
        try:
            r = h.get(f.port, "/ok%d" % i, timeout=3)
            ok += r.status == 200 and r.json()["name"] == "good"
        except Exception:
            pass
    h.check(ok >= 5, "fulcrum still serves correctly after the storm (%d/20 from good)" % ok)
    rss1 = h.rss_kb(f.proc.pid)
    h.check(rss1 - rss0 < 64 * 1024, "memory stayed bounded: %d -> %d kB" % (rss0, rss1))
    f.stop()
    h.eq(f.proc.returncode, 0, "clean exit after SIGTERM")


if __name__ == "__main__":
    h.main()
