"""max_conns and the queue (docs/traffic.md, "Per-server limits and the
queue"): a backend that counts its own concurrency never sees more than
max_conns at once, with two workers picking; waiting requests go to the
first server that frees up in the order they came (FIFO), over HTTP/1.1
and HTTP/2; a queue timeout and a full queue answer 503 with Retry-After;
a client that leaves the queue is dropped at once (its turn goes to the
next, the backend never sees it); without queue: a full pool answers 503
at once; the queue shows in the admin API and /metrics."""
import collections
import http.server
import json
import socket
import threading
import time

import harness as h


class CountingBackend:
    """An HTTP/1.1 server in this process that counts the requests it holds:
    from the moment a request arrives until just before its response is
    written (so a request fulcrum sends once the previous response is
    complete never overlaps it). /slow/MS sleeps MS ms; /hold/X waits until
    release(). seen lists the paths in the order they arrived."""

    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.inflight = 0
        self.peak = 0
        self.seen = []
        self.gate = threading.Event()
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                with backend.lock:
                    backend.inflight += 1
                    backend.peak = max(backend.peak, backend.inflight)
                    backend.seen.append(self.path)
                if self.path.startswith("/slow/"):
                    time.sleep(int(self.path[6:].split("?")[0]) / 1000.0)
                elif self.path.startswith("/hold/"):
                    backend.gate.wait(30)
                body = json.dumps({"name": backend.name, "path": self.path}).encode()
                with backend.lock:
                    backend.inflight -= 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Backend", backend.name)
                self.end_headers()
                self.wfile.write(body)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        h._closers.append(self.close)

    def release(self):
        self.gate.set()

    def paths(self, prefix):
        with self.lock:
            return [p for p in self.seen if p.startswith(prefix)]

    def close(self):
        self.gate.set()
        self.srv.shutdown()
        self.srv.server_close()


class Proxy:
    """fulcrum in front of CountingBackends, with an admin listener."""

    def __init__(self, backends, pool, workers=2, server_extra=None, listener_extra=""):
        self.admin = h.free_port()
        self.port = h.free_port()
        text = h.config(self.port, [(b.url, b.name, 1) for b in backends], workers=workers,
                        pool_extra=pool, server_extra=server_extra, listener_extra=listener_extra,
                        top_extra="admin: {listen: 127.0.0.1:%d}" % self.admin)
        self.f = h.Fulcrum.from_config(text, port=self.port)
        h.check(h.wait_port(self.admin, 10, self.f.proc), "the admin port listens")

    def pool(self):
        r = h.request(self.admin, "GET", "/api/pools/web")
        h.eq(r.status, 200, "GET /api/pools/web")
        return r.json()

    def queue_length(self):
        return self.pool()["queue"]["length"]

    def wait_queue(self, n, what):
        h.wait_until(lambda: self.queue_length() == n, timeout=10, what="%s (queue length %d)" % (what, n))

    def metrics(self):
        r = h.request(self.admin, "GET", "/metrics")
        h.eq(r.status, 200, "GET /metrics")
        return r.text()


def metric(text, name):
    """The value of a series of pool web, e.g. fulcrum_pool_queue_length."""
    for line in text.splitlines():
        if line.startswith(name + '{pool="web"}'):
            return float(line.split()[-1])
    h.fail("no %s for pool web in /metrics" % name)


class Background:
    """A request on its own connection, answered in a thread."""

    def __init__(self, port, path, timeout=30):
        self.conn = h.Conn(port, timeout=timeout)
        self.path = path
        self.resp = None
        self.err = None
        self.t0 = time.monotonic()
        self.elapsed = None
        self.conn.send(h.build_request("GET", path))
        self.th = threading.Thread(target=self._read, daemon=True)
        self.th.start()

    def _read(self):
        try:
            self.resp = self.conn.read_response(timeout=30)
        except Exception as e:  # the test looks at it
            self.err = e
        self.elapsed = time.monotonic() - self.t0

    def result(self, timeout=30):
        self.th.join(timeout * h.SLOW)
        h.check(not self.th.is_alive(), "no answer to %s" % self.path)
        h.check(self.resp is not None, "%s: %r" % (self.path, self.err))
        return self.resp


@h.test(timeout=90)
def max_conns_never_exceeded():
    """Three backends capped at 2 (the pool's max_conns); 40 requests at
    once from two workers: no backend ever holds more than its cap, all are
    answered, and the caps were reached."""
    bs = [CountingBackend("b%d" % i) for i in range(3)]
    p = Proxy(bs, {"max_conns": 2, "queue": "{max: 100, timeout: 20s}"}, workers=2)
    reqs = [Background(p.port, "/slow/150?i=%d" % i) for i in range(40)]
    for r in reqs:
        h.eq(r.result().status, 200, "queued requests are answered")
    for b in bs:
        h.check(b.peak <= 2, "%s held %d requests at once (max_conns 2)" % (b.name, b.peak))
    h.check(max(b.peak for b in bs) == 2, "the cap was reached: peaks %r" % [b.peak for b in bs])
    h.eq(sum(len(b.paths("/slow/")) for b in bs), 40, "every request reached a backend once")
    m = p.metrics()
    h.eq(metric(m, "fulcrum_pool_queue_length"), 0, "nothing waits at the end")
    h.check(metric(m, "fulcrum_pool_queue_wait_seconds_count") > 0, "queue waits were measured")
    h.check('fulcrum_server_max_conns{pool="web",server="b0"} 2' in m, "max_conns in /metrics")
    s = p.pool()["servers"]
    h.eq([x["max_conns"] for x in s], [2, 2, 2], "max_conns in the admin API")


@h.test(timeout=90)
def no_request_is_forgotten():
    """20 clients, 300 short requests, one server capped at 2, two workers:
    every request is answered well before queue.timeout (a slot given back
    while a request was joining the queue is never lost), none over the cap."""
    b = CountingBackend("busy")
    p = Proxy([b], {"max_conns": 2, "queue": "{max: 1000, timeout: 30s}"}, workers=2)
    statuses, slowest = [], [0.0]
    lock = threading.Lock()

    def client(k):
        for i in range(15):
            t0 = time.monotonic()
            r = h.get(p.port, "/slow/3?c=%d&i=%d" % (k, i), timeout=40)
            with lock:
                statuses.append(r.status)
                slowest[0] = max(slowest[0], time.monotonic() - t0)

    ths = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(20)]
    t0 = time.monotonic()
    for t in ths:
        t.start()
    for t in ths:
        t.join(60 * h.SLOW)
    h.eq(statuses.count(200), 300, "all answered 200 (%r)" % collections.Counter(statuses))
    h.check(slowest[0] < 10 * h.SLOW, "no request waited for a timeout: slowest %.2fs" % slowest[0])
    h.eq(b.peak, 2, "the cap held (and was reached)")
    print("300 requests through max_conns 2 in %.2fs, slowest %.2fs" % (time.monotonic() - t0, slowest[0]))
    p.wait_queue(0, "nothing left waiting")


@h.test(timeout=60)
def server_max_conns_overrides_pool():
    """A server's own max_conns wins over the pool's."""
    b = CountingBackend("solo")
    p = Proxy([b], {"max_conns": 5, "queue": "{max: 100, timeout: 20s}"}, workers=2,
              server_extra="max_conns: 1")
    reqs = [Background(p.port, "/slow/100?i=%d" % i) for i in range(8)]
    for r in reqs:
        h.eq(r.result().status, 200, "answered")
    h.eq(b.peak, 1, "the server's own max_conns 1 held")
    h.eq(p.pool()["servers"][0]["max_conns"], 1, "max_conns 1 in the admin API")


@h.test(timeout=60)
def fifo_order():
    """max_conns 1: one request holds the server, five wait, each queued once
    the one before is; released, they reach the backend in the order they
    came, whatever worker they are on."""
    b = CountingBackend("one")
    p = Proxy([b], {"max_conns": 1, "queue": "{max: 10, timeout: 20s}"}, workers=2)
    first = Background(p.port, "/hold/0")
    h.wait_until(lambda: b.paths("/hold/"), timeout=5, what="the first request at the backend")
    waiting = []
    for i in range(1, 6):
        waiting.append(Background(p.port, "/hold/%d" % i))
        p.wait_queue(i, "request %d queued" % i)
    h.eq(b.paths("/hold/"), ["/hold/0"], "nothing passed the queue")
    b.release()
    for r in [first] + waiting:
        h.eq(r.result().status, 200, "answered")
    h.eq(b.paths("/hold/"), ["/hold/%d" % i for i in range(6)], "first come, first served")
    h.eq(b.peak, 1, "one at a time")
    p.wait_queue(0, "the queue is empty")


@h.test(timeout=60)
def new_requests_do_not_pass_the_queue():
    """While requests wait, a new one joins the end, even when it arrives
    just as a slot frees: three wait behind a held request; the hold ends
    and new requests come at once, on both workers; the three go first."""
    b = CountingBackend("one")
    p = Proxy([b], {"max_conns": 1, "queue": "{max: 50, timeout: 20s}"}, workers=2)
    hold = Background(p.port, "/hold/0")
    h.wait_until(lambda: b.paths("/hold/"), timeout=5, what="the first request at the backend")
    waiting = []
    for i in range(1, 4):
        waiting.append(Background(p.port, "/slow/40?w=%d" % i))
        p.wait_queue(i, "request %d queued" % i)
    b.release()
    late = [Background(p.port, "/slow/40?n=%d" % i) for i in range(4)]
    for r in [hold] + waiting + late:
        h.eq(r.result().status, 200, "answered")
    got = b.paths("/slow/")
    h.eq(got[:3], ["/slow/40?w=1", "/slow/40?w=2", "/slow/40?w=3"],
         "those waiting went first, in order: %r" % got)
    h.eq(len(got), 7, "every request reached the backend once")
    h.eq(b.peak, 1, "one at a time")


@h.test(timeout=60)
def queue_timeout_503():
    """A request that waits queue.timeout gets 503 with Retry-After; the
    timeout is counted."""
    b = CountingBackend("one")
    p = Proxy([b], {"max_conns": 1, "queue": "{max: 10, timeout: 600ms}"}, workers=1)
    hold = Background(p.port, "/hold/0")
    h.wait_until(lambda: b.paths("/hold/"), timeout=5, what="the first request at the backend")
    late = Background(p.port, "/hold/1")
    r = late.result()
    h.eq(r.status, 503, "timed out in the queue")
    h.check(r.header("Retry-After"), "503 with Retry-After")
    h.check(0.45 <= late.elapsed <= 3 * h.SLOW, "answered after about 600 ms (%.2fs)" % late.elapsed)
    h.eq(metric(p.metrics(), "fulcrum_pool_queue_timeouts_total"), 1, "the timeout counted")
    q = p.pool()["queue"]
    h.eq(q["timeouts"], 1, "the timeout in the admin API")
    # one wait of ~600 ms measured (a histogram: its quantiles fall in the bucket)
    h.check(q["wait_p99_ms"] is not None and 250 <= q["wait_p99_ms"] <= 1000,
            "the wait in the admin API: %r" % q)
    b.release()
    h.eq(hold.result().status, 200, "the held request completes")
    h.eq(b.paths("/hold/"), ["/hold/0"], "the timed-out request never reached the backend")
    h.check("waited queue.timeout" in p.f.stderr_text(), "the error log says why")


@h.test(timeout=60)
def queue_full_503():
    """queue.max requests waiting: the next one gets 503 with Retry-After at once."""
    b = CountingBackend("one")
    p = Proxy([b], {"max_conns": 1, "queue": "{max: 2, timeout: 20s}"}, workers=2)
    hold = Background(p.port, "/hold/0")
    h.wait_until(lambda: b.paths("/hold/"), timeout=5, what="the first request at the backend")
    q1 = Background(p.port, "/hold/1")
    p.wait_queue(1, "one waiting")
    q2 = Background(p.port, "/hold/2")
    p.wait_queue(2, "two waiting")
    t0 = time.monotonic()
    r = h.get(p.port, "/hold/3")
    h.eq(r.status, 503, "the queue is full")
    h.check(r.header("Retry-After"), "503 with Retry-After")
    h.check(time.monotonic() - t0 < 2 * h.SLOW, "answered at once")
    h.eq(metric(p.metrics(), "fulcrum_pool_queue_full_total"), 1, "counted")
    q = p.pool()["queue"]
    h.eq((q["length"], q["max"], q["full"]), (2, 2, 1), "the admin API's queue")
    h.eq((q["wait_p50_ms"], q["wait_p99_ms"]), (None, None), "no wait measured before anyone left")
    b.release()
    for x in (hold, q1, q2):
        h.eq(x.result().status, 200, "the others are served")
    h.eq(b.paths("/hold/"), ["/hold/0", "/hold/1", "/hold/2"], "in order; the refused one never came")


@h.test(timeout=60)
def client_leaving_the_queue():
    """A waiting client that closes its connection leaves the queue at once;
    the slot goes to the next and the backend never sees the one that left."""
    b = CountingBackend("one")
    p = Proxy([b], {"max_conns": 1, "queue": "{max: 10, timeout: 20s}"}, workers=2)
    hold = Background(p.port, "/hold/0")
    h.wait_until(lambda: b.paths("/hold/"), timeout=5, what="the first request at the backend")
    gone = h.Conn(p.port)
    gone.send(h.build_request("GET", "/hold/gone"))
    p.wait_queue(1, "the leaving one waits")
    stays = Background(p.port, "/hold/stays")
    p.wait_queue(2, "both wait")
    gone.close()
    p.wait_queue(1, "the one that left is dropped")
    b.release()
    h.eq(hold.result().status, 200, "first")
    h.eq(stays.result().status, 200, "the next one got the slot")
    h.eq(b.paths("/hold/"), ["/hold/0", "/hold/stays"], "the backend never saw the one that left")


@h.test(timeout=60)
def http2_waits_and_leaves():
    """HTTP/2 streams wait in the same queue: one queued is served when the
    slot frees; one whose client gives up leaves the queue."""
    b = CountingBackend("one")
    p = Proxy([b], {"max_conns": 1, "queue": "{max: 10, timeout: 20s}"}, workers=2,
              listener_extra="    http2: prior_knowledge")
    hold = Background(p.port, "/hold/0")
    h.wait_until(lambda: b.paths("/hold/"), timeout=5, what="the first request at the backend")
    url = "http://127.0.0.1:%d/hold/" % p.port
    # gives up after 1 s: its connection closes while it waits
    quitter = h.curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
                     "--max-time", "1", url + "quit", timeout=5)
    h.check(quitter.returncode != 0, "curl gave up: %r" % quitter.stdout)
    p.wait_queue(0, "the HTTP/2 stream that left is dropped")
    res = {}

    def served():
        res["r"] = h.curl("--http2-prior-knowledge", "-sS", "-w", "\n%{http_code} %{http_version}",
                          url + "h2", timeout=20)

    th = threading.Thread(target=served, daemon=True)
    th.start()
    p.wait_queue(1, "the HTTP/2 request waits")
    b.release()
    th.join(20 * h.SLOW)
    h.eq(hold.result().status, 200, "first")
    h.check("r" in res and res["r"].stdout.strip().endswith("200 2"),
            "the HTTP/2 request was served from the queue: %r" % (res.get("r"),))
    h.eq(b.paths("/hold/"), ["/hold/0", "/hold/h2"], "the one that left never reached the backend")


@h.test(timeout=60)
def http2_queue_timeout():
    """An HTTP/2 stream that waits queue.timeout gets the 503 with Retry-After too."""
    b = CountingBackend("one")
    p = Proxy([b], {"max_conns": 1, "queue": "{max: 10, timeout: 500ms}"}, workers=1,
              listener_extra="    http2: prior_knowledge")
    hold = Background(p.port, "/hold/0")
    h.wait_until(lambda: b.paths("/hold/"), timeout=5, what="the first request at the backend")
    r = h.curl("--http2-prior-knowledge", "-sS", "-D", "-", "-o", "/dev/null",
               "http://127.0.0.1:%d/hold/1" % p.port, timeout=10)
    head = r.stdout.lower()
    h.check(head.startswith("http/2 503"), "503 over HTTP/2: %r" % r.stdout)
    h.check("retry-after:" in head, "with Retry-After: %r" % r.stdout)
    b.release()
    h.eq(hold.result().status, 200, "the held request completes")


@h.test(timeout=60)
def no_queue_full_pool_503_at_once():
    """Without queue: a pool whose servers are all at max_conns answers 503
    with Retry-After at once."""
    b = CountingBackend("one")
    p = Proxy([b], {"max_conns": 1}, workers=1)
    hold = Background(p.port, "/hold/0")
    h.wait_until(lambda: b.paths("/hold/"), timeout=5, what="the first request at the backend")
    t0 = time.monotonic()
    r = h.get(p.port, "/hold/1")
    h.eq(r.status, 503, "full")
    h.check(r.header("Retry-After"), "with Retry-After")
    h.check(time.monotonic() - t0 < 2 * h.SLOW, "at once")
    h.eq(p.pool()["queue"], None, "no queue in the admin API")
    b.release()
    h.eq(hold.result().status, 200, "the held request completes")
    h.check("every server is at max_conns" in p.f.stderr_text(), "the error log says why")


h.main()
