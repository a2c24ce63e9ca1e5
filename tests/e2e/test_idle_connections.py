"""Many idle keep-alive client connections: 5,000 (1,000 under ASan), each
after one request, all stay open, and each still serves a request afterwards;
what an idle connection costs in fulcrum's RSS stays small (the client object
from the worker's slab, no parser, no buffer)."""
import resource
import socket
import time

import harness as h

REQUEST = b"GET /idle%d HTTP/1.1\r\nHost: localhost\r\n\r\n"


def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            h.fail("need %d fds, the hard limit is %d" % (want, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def one_request(s, i):
    """Sends one GET on s and reads its whole (Content-Length) response."""
    s.sendall(REQUEST % i)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            h.fail("connection %d closed before a response" % i)
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    clen = 0
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        if k.strip().lower() == b"content-length":
            clen = int(v.strip())
    while len(body) < clen:
        d = s.recv(65536)
        if not d:
            h.fail("connection %d closed inside a response" % i)
        body += d
    h.eq(status, 200, "status on connection %d" % i)
    h.check(len(body) == clen, "nothing after the response on connection %d" % i)
    return body


def is_open(s):
    s.setblocking(False)  # with a timeout, Python would wait for input first
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.settimeout(10)


def open_idle(port, n):
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
        one_request(s, i)
    return socks


@h.test(timeout=180)
def all_stay_alive_and_work():
    n = h.sized(5000, 1000)
    raise_fd_limit(n)
    e = h.Echo()
    f = h.start_proxy([e], workers=2, client={"max_connections": n + 100})
    socks = open_idle(f.port, n)
    try:
        time.sleep(1.0)
        alive = sum(1 for s in socks if is_open(s))
        h.eq(alive, n, "idle connections still open")
        # each still works, in another order than they were opened
        for i in range(n - 1, -1, -1):
            body = one_request(socks[i], i)
            h.check(b"/idle%d" % i in body, "connection %d reached the backend" % i)
        h.eq(sum(1 for s in socks if is_open(s)), n, "open after their second request")
    finally:
        for s in socks:
            s.close()
    # closing them all is seen (and the slab reused for new ones)
    h.eq(h.get(f.port, "/after").status, 200, "a new connection after the idle ones")


@h.test(timeout=120)
def idle_bytes_per_connection():
    if h.SANITIZED:
        return  # ASan's allocator and shadow memory make RSS meaningless
    n = 5000
    raise_fd_limit(n)
    e, f = h.warm_proxy(client={"max_connections": n + 100})
    for i in range(20):
        h.eq(h.get(f.port, "/warm%d" % i).status, 200, "warm-up")
    time.sleep(0.2)
    before = f.rss_kb()
    socks = open_idle(f.port, n)
    try:
        time.sleep(0.2)
        per_conn = (f.rss_kb() - before) * 1024.0 / n
        h.eq(sum(1 for s in socks if is_open(s)), n, "idle connections still open")
    finally:
        for s in socks:
            s.close()
    # 120-byte client + its timer heap slot; it was 272 + malloc's header
    h.check(per_conn <= 220, "%.0f bytes per idle connection (want <= 220)" % per_conn)
    print("idle: %.0f bytes per connection" % per_conn)


h.main()
