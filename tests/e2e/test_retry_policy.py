"""The retry policy (pools.*.retry, docs/traffic.md "Retries") with real
backends: each failure retry.on can name (refused, connect_failure, reset,
timeout, 502/503/504) retried when listed and not when not; attempts on the
same server counted at the backends; a 503 with Retry-After moving on and
judged once by passive health; the budget stopping a retry storm when every
server fails; a POST never retried once its body reached a server, an
idempotent PUT retried with its body replayed (checked at the second
server), an Idempotency-Key, a body over replay_buffer not retried; the
backoff's spacing measured; per_try_timeout; HTTP/2 clients and protocol: h2
pools; the older retries: key."""
import json
import os
import socket
import subprocess
import threading
import time

import harness as h

H2_BACKEND = os.path.join(os.path.dirname(os.path.abspath(__file__)), "h2_backend.py")
SYS_PYTHON = "/usr/bin/python3"


class Backend:
    """An HTTP/1.1 backend in threads that reads each request whole (head and
    body, Content-Length or chunked), records it (arrival time, method, path,
    headers, body), then: "status" answers `status` (Retry-After: 1 when
    retry_after) and closes; "reset" resets the connection; "hang" never
    answers."""

    def __init__(self, mode, status=503, retry_after=False, name="py"):
        self.mode, self.status, self.retry_after, self.name = mode, status, retry_after, name
        self.requests = []  # (monotonic time, method, path, headers dict, body)
        self.lock = threading.Lock()
        self.conns = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self._accept, daemon=True).start()
        h._closers.append(self.close)

    @property
    def hits(self):
        with self.lock:
            return len(self.requests)

    def times(self):
        with self.lock:
            return [r[0] for r in self.requests]

    def bodies(self):
        with self.lock:
            return [r[4] for r in self.requests]

    def backend(self):
        return (self.url, self.name, 1)

    def close(self):
        for s in [self.sock] + self.conns:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = bytearray()
        c.settimeout(30)

        def fill():
            d = c.recv(65536)
            if not d:
                raise EOFError
            buf.extend(d)

        try:
            while b"\r\n\r\n" not in buf:
                fill()
            t = time.monotonic()
            i = buf.index(b"\r\n\r\n")
            lines = bytes(buf[:i]).decode("latin-1").split("\r\n")
            del buf[: i + 4]
            method, path = lines[0].split(" ")[:2]
            hdrs = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            if "chunked" in hdrs.get("transfer-encoding", ""):
                while not buf.endswith(b"0\r\n\r\n"):
                    fill()
                body, raw = b"", bytes(buf)
                while True:
                    j = raw.index(b"\r\n")
                    n = int(raw[:j].split(b";")[0], 16)
                    if n == 0:
                        break
                    body += raw[j + 2: j + 2 + n]
                    raw = raw[j + 4 + n:]
            else:
                n = int(hdrs.get("content-length", "0"))
                while len(buf) < n:
                    fill()
                body = bytes(buf[:n])
            with self.lock:
                self.requests.append((t, method, path, hdrs, body))
            if self.mode == "status":
                text = b"%d from %s\n" % (self.status, self.name.encode())
                extra = b"Retry-After: 1\r\n" if self.retry_after else b""
                c.sendall(b"HTTP/1.1 %d Oops\r\nX-Server: %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n"
                          % (self.status, self.name.encode(), extra, len(text)) + text)
            elif self.mode == "reset":
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            elif self.mode == "hang":
                while True:
                    fill()
        except (EOFError, OSError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass


def proxy(backends, retry=None, workers=1, admin=False, http2=False, **pool):
    """fulcrum in front of backends with the JSON access log on stdout; retry:
    the retry block's flow mapping text; pool: other pool keys."""
    extra = dict(pool)
    if retry is not None:
        extra["retry"] = retry
    top = ""
    ap = None
    if admin:
        ap = h.free_port()
        top = "admin: {listen: 127.0.0.1:%d}" % ap
    port = h.free_port()
    text = h.config(port, backends, workers=workers, pool_extra=extra, access="stdout", access_format="json",
                    top_extra=top, listener_extra="    http2: prior_knowledge" if http2 else "")
    f = h.Fulcrum.from_config(text, port=port)
    if admin:
        h.check(h.wait_port(ap, 10, f.proc), "admin port")
    f.admin = ap
    return f


def logs(f, n=None):
    """The access log's lines (JSON); waits until there are n of them."""
    def read():
        out = [json.loads(l) for l in f.stdout_text().splitlines() if l.startswith("{")]
        return out if n is None or len(out) >= n else None
    return h.wait_until(read, what="%s access log lines" % n) if n else read()


def metric(f, name, **labels):
    text = h.get(f.admin, "/metrics").text()
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            got = line[len(name):].rsplit(" ", 1)
            lab = ",".join(sorted(got[0].strip("{}").split(","))) if got[0] else ""
            if lab == want:
                return float(got[1])
    h.fail("no sample %s{%s}" % (name, want))


def echo_hits(bs):
    return [b.requests() for b in bs]


# ---------------------------------------------------------------- each condition in on


@h.test
def refused_retried_only_when_listed():
    dead = ("http://127.0.0.1:%d" % h.refused_port(), "dead", 1)
    e = h.Echo(name="live")
    f = proxy([dead, e], cooldown=0)
    for i in range(10):
        h.eq(h.get(f.port, "/r%d" % i).status, 200, "request %d: the refused connect is retried (default on)" % i)
    retried = [o for o in logs(f, 10) if o["retries"]]
    h.check(retried, "some requests met the refusing server first")
    for o in retried:
        h.eq(o["retry_reasons"], ["connect_refused"], "the reason")
    f.stop()
    f = proxy([dead, e], retry="{on: [reset, timeout, connect_failure]}", cooldown=0)
    got = [h.get(f.port, "/n%d" % i).status for i in range(10)]
    h.check(502 in got and 200 in got, "refused is not in on: those that met it first got 502 (%r)" % got)
    h.check(all(o["retries"] == 0 for o in logs(f, 10)), "no retry at all")


@h.test
def connect_failure_retried_only_when_listed():
    # a port that needs a route that does not exist: EHOSTUNREACH/ENETUNREACH
    # is not available on loopback; a TLS handshake that fails is a
    # connect_failure too: an https:// server that speaks plain HTTP
    e = h.Echo(name="live")
    plain = h.Echo(name="plain")
    tls_bad = ("https://127.0.0.1:%d" % plain.port, "nottls", 1)
    f = proxy([tls_bad, e], passive="off", tls="{verify: false}")
    for i in range(6):
        h.eq(h.get(f.port, "/t%d" % i).status, 200, "request %d: the failed handshake is retried" % i)
    reasons = [o["retry_reasons"] for o in logs(f, 6) if o["retries"]]
    h.check(reasons and all(r == ["tls_handshake"] for r in reasons), "tls_handshake retries: %r" % reasons)
    f.stop()
    f = proxy([tls_bad, e], retry="{on: [refused, reset, timeout]}", passive="off", tls="{verify: false}")
    got = [h.get(f.port, "/u%d" % i).status for i in range(6)]
    h.check(502 in got and 200 in got, "connect_failure not listed: 502 for those that met it (%r)" % got)


@h.test
def reset_retried_only_when_listed():
    bad = Backend("reset", name="resetter")
    e = h.Echo(name="live")
    f = proxy([bad.backend(), e], passive="off")
    for i in range(8):
        h.eq(h.get(f.port, "/g%d" % i).status, 200, "GET %d: the reset is retried (default on)" % i)
    h.check(bad.hits >= 3, "the resetter got its share (%d)" % bad.hits)
    reasons = [o["retry_reasons"] for o in logs(f, 8) if o["retries"]]
    h.eq(len(reasons), bad.hits, "one retry per reset")
    h.check(all(r == ["reset"] for r in reasons), "the reason: %r" % reasons)
    f.stop()
    f = proxy([bad.backend(), e], retry="{on: [refused]}", passive="off")
    got = [h.get(f.port, "/n%d" % i).status for i in range(8)]
    h.check(got.count(502) >= 3 and 200 in got, "reset not in on: 502 (%r)" % got)


@h.test
def per_try_timeout_retries_a_hung_attempt():
    hung = h.FakeBackend("hang", name="hung")
    e = h.Echo(name="live")
    f = proxy([(hung.url, "hung", 1), e], retry="{per_try_timeout: 300ms}", response_timeout="5s", passive="off")
    for i in range(4):
        t0 = time.monotonic()
        r = h.get(f.port, "/p%d" % i)
        took = time.monotonic() - t0
        h.eq(r.status, 200, "GET %d answered by the live server" % i)
        h.check(took < 2 * h.SLOW, "well before response_timeout (%.2fs)" % took)
    slow = [o for o in logs(f, 4) if o["retries"]]
    h.check(len(slow) == 2, "every other request met the hung server first: %r" % slow)
    for o in slow:
        h.eq(o["retry_reasons"], ["timeout"], "the reason")
        h.check(o["total_ms"] >= 290, "it waited per_try_timeout first (%.0f ms)" % o["total_ms"])
    f.stop()
    # without per_try_timeout: response_timeout is final, as it always was
    f = proxy([(hung.url, "hung", 1), e], response_timeout="400ms", passive="off")
    got = [h.get(f.port, "/q%d" % i).status for i in range(4)]
    h.eq(sorted(got), [200, 200, 504, 504], "the hung server's requests end 504, not retried")
    # timeout not in on: per_try_timeout still ends the attempt, no retry
    f.stop()
    f = proxy([(hung.url, "hung", 1), e], retry="{per_try_timeout: 300ms, on: [reset]}", passive="off")
    got = [h.get(f.port, "/s%d" % i).status for i in range(4)]
    h.eq(sorted(got), [200, 200, 504, 504], "timeout not listed: 504 after per_try_timeout")
    # every attempt hangs: 504 after (1 + attempts) x per_try_timeout
    f.stop()
    hung2 = h.FakeBackend("hang", name="hung2")
    f = proxy([(hung.url, "hung", 1), (hung2.url, "hung2", 1)], retry="{attempts: 1, per_try_timeout: 200ms}",
              passive="off")
    before = hung.heads + hung2.heads
    t0 = time.monotonic()
    r = h.get(f.port, "/all")
    took = time.monotonic() - t0
    h.eq(r.status, 504, "every attempt timed out")
    h.check(0.39 < took < 1.5 * h.SLOW, "two attempts of 200 ms (%.2fs)" % took)
    h.eq(hung.heads + hung2.heads - before, 2, "one attempt on each server")


@h.test
def statuses_retried_only_when_listed():
    for code in (502, 503, 504):
        bs = h.echo_backends(3, prefix="s%d" % code)
        f = proxy(bs, retry="{on: [%d]}" % code)
        r = h.get(f.port, "/status/%d" % code)
        h.eq(r.status, code, "%d everywhere: the last attempt's answer" % code)
        h.check(r.header("X-Echo-Name") in [b.name for b in bs], "the server's own answer, forwarded")
        h.eq(sum(echo_hits(bs)), 3, "%d: the first attempt and 2 retries reached the servers" % code)
        o = logs(f, 1)[0]
        h.eq((o["retries"], o["retry_reasons"]), (2, ["status_%d" % code] * 2), "the reasons")
        # another status of the three is not retried: only what on lists
        other = 503 if code != 503 else 502
        before = sum(echo_hits(bs))
        h.eq(h.get(f.port, "/status/%d" % other).status, other, "%d is not listed" % other)
        h.eq(sum(echo_hits(bs)) - before, 1, "%d: one attempt" % other)
        f.stop()
    # default on: no status is retried
    bs = h.echo_backends(2, prefix="d")
    f = proxy(bs)
    h.eq(h.get(f.port, "/status/503").status, 503, "default: forwarded")
    h.eq(sum(echo_hits(bs)), 1, "default: one attempt")
    f.stop()
    # one server answers 502, the other is fine: every client gets 200
    bad = Backend("status", status=502, name="bad")
    e = h.Echo(name="good")
    f = proxy([bad.backend(), e], retry="{on: [502]}", passive="off")
    for i in range(6):
        r = h.get(f.port, "/m%d" % i)
        h.eq((r.status, r.header("X-Echo-Name")), (200, "good"), "request %d" % i)
    h.eq(bad.hits, 3, "the 502 server got every other first attempt")


@h.test
def statuses_only_for_requests_safe_to_repeat():
    bs = h.echo_backends(3, prefix="k")
    f = proxy(bs, retry="{on: [503]}")
    r = h.request(f.port, "POST", "/status/503", body=b"x")
    h.eq(r.status, 503, "a POST's 503 is forwarded")
    h.eq(sum(echo_hits(bs)), 1, "a POST is not repeated")
    r = h.request(f.port, "POST", "/status/503", body=b"x", headers={"Idempotency-Key": "k1"})
    h.eq(sum(echo_hits(bs)), 2, "an Idempotency-Key means nothing without retry.idempotency_key")
    f.stop()
    f = proxy(bs, retry="{on: [503], idempotency_key: true}")
    before = sum(echo_hits(bs))
    r = h.request(f.port, "POST", "/status/503", body=b"x", headers={"Idempotency-Key": "k2"})
    h.eq(r.status, 503, "the last answer")
    h.eq(sum(echo_hits(bs)) - before, 3, "with idempotency_key: true the keyed POST is retried")
    before = sum(echo_hits(bs))
    h.request(f.port, "POST", "/status/503", body=b"x")
    h.eq(sum(echo_hits(bs)) - before, 1, "a POST without the header still is not")


# ---------------------------------------------------------------- same server, Retry-After


@h.test
def same_server_attempts_counted_at_the_backends():
    bs = h.echo_backends(2, prefix="ss")
    f = proxy(bs, retry="{attempts: 3, same_server: 1, on: [503]}", passive="off")
    for i in range(3):
        h.eq(h.get(f.port, "/status/503").status, 503, "request %d" % i)
    h.eq(echo_hits(bs), [6, 6], "each request: twice on its first server, twice on the other")
    f.stop()
    bs = h.echo_backends(3, prefix="sa")
    f = proxy(bs, retry="{attempts: 3, same_server: 3, on: [503]}", passive="off")
    h.eq(h.get(f.port, "/status/503").status, 503, "one request")
    h.eq(sorted(echo_hits(bs)), [0, 0, 4], "all four attempts on the same server")
    o = logs(f, 1)[0]
    h.eq(o["retry_reasons"], ["status_503"] * 3, "three retries")
    f.stop()
    # the tutorial balancer's way: a refusing server tried again (its
    # cooldown ignored) before moving on
    dead = ("http://127.0.0.1:%d" % h.refused_port(), "dead", 1)
    e = h.Echo(name="live")
    f = proxy([dead, e], retry="{attempts: 3, same_server: 2, backoff: {base: 10ms}}", cooldown="30s")
    for i in range(4):
        h.eq(h.get(f.port, "/c%d" % i).status, 200, "request %d" % i)
    retried = [o for o in logs(f, 4) if o["retries"]]
    h.eq(len(retried), 1, "after the first, the cooldown keeps the dead server out of first picks")
    h.eq(retried[0]["retry_reasons"], ["connect_refused"] * 3, "refused three times, then the live server")
    h.eq(retried[0]["server"], "live", "the final server")


@h.test
def retry_after_moves_on_and_counts_once():
    bs = h.echo_backends(2, prefix="ra")
    # passive health ejects after 2 faults: a 503 judged twice would eject
    f = proxy(bs, retry="{attempts: 3, same_server: 2, on: [503]}", admin=True, workers=2,
              passive="{failures: 2, eject: 30s}")
    r = h.get(f.port, "/status/503?retry_after=1")
    h.eq(r.status, 503, "both servers said 503 with Retry-After: the last answer")
    h.eq(r.header("Retry-After"), "1", "forwarded as the server sent it")
    h.eq(echo_hits(bs), [1, 1], "Retry-After: no second attempt on the same server, each server once")
    o = logs(f, 1)[0]
    h.eq(o["retry_reasons"], ["status_503"], "one retry, to the other server")
    for b in bs:
        h.eq(metric(f, "fulcrum_requests_total", pool="web", server=b.name, code="5xx"), 1,
             "%s: its one answer counted once" % b.name)
        h.eq(metric(f, "fulcrum_server_failures_total", pool="web", server=b.name, kind="status_5xx"), 1,
             "%s: one fault" % b.name)
    time.sleep(0.3)
    st = h.get(f.admin, "/api/pools/web/servers").json()["servers"]
    h.eq([s["state"] for s in st], ["healthy", "healthy"], "one fault each: nobody ejected (failures: 2)")
    # a second round: the second fault reaches failures: 2 (and the pool's
    # max_ejected, 50 %, lets one of the two go)
    r = h.get(f.port, "/status/503?retry_after=1")
    h.wait_until(lambda: any(s["state"] != "healthy"
                             for s in h.get(f.admin, "/api/pools/web/servers").json()["servers"]),
                 what="an ejection after the second fault")
    f.stop()
    # without Retry-After the same server is tried again: three answers from one server
    bs = h.echo_backends(2, prefix="rb")
    f = proxy(bs, retry="{attempts: 3, same_server: 2, on: [503]}", passive="off")
    h.get(f.port, "/status/503")
    h.eq(sorted(echo_hits(bs)), [1, 3], "without Retry-After: three on its first server (same_server: 2), "
         "then the other")


# ---------------------------------------------------------------- the budget


@h.test(timeout=120)
def budget_stops_a_retry_storm():
    n = h.sized(60, 30)

    def storm(retry):
        bs = [h.Echo(name="st%d" % i, latency="300ms") for i in range(3)]
        f = proxy(bs, retry=retry, workers=2, admin=True, passive="off")
        got = []
        lock = threading.Lock()
        go = threading.Event()

        def one(i):
            go.wait()
            try:
                st = h.request(f.port, "GET", "/status/503?i=%d" % i, timeout=20 * h.SLOW).status
            except Exception as ex:  # counted below
                st = repr(ex)
            with lock:
                got.append(st)

        ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
        for t in ts:
            t.start()
        go.set()
        for t in ts:
            t.join(30 * h.SLOW)
        h.eq(got.count(503), n, "every client got the servers' 503")
        hits = sum(echo_hits(bs))
        exhausted = metric(f, "fulcrum_retry_budget_exhausted_total", pool="web")
        f.stop()
        for b in bs:
            b.stop()
        return hits, exhausted

    hits, exhausted = storm("{attempts: 2, on: [503], budget: off}")
    h.eq((hits, exhausted), (3 * n, 0), "no budget: every request tried 3 times")
    hits, exhausted = storm("{attempts: 2, on: [503], budget: 20%}")
    # at most max(3, 20 % of n) requests retry at once, each keeping its slot
    # for its second retry; a few more once the first ones have finished
    print("budget 20%%: %d attempts for %d requests (%d without a budget), %d retries refused"
          % (hits, n, 3 * n, exhausted))
    h.check(hits <= n + 2 * max(3, n // 5) + 6, "the budget held the storm down: %d attempts" % hits)
    h.check(hits > n, "some retries were made (%d)" % hits)
    h.check(exhausted >= n - hits // 2, "the refused retries are counted (%d)" % exhausted)


# ---------------------------------------------------------------- bodies


@h.test
def post_never_retried_after_its_body_reached_a_server():
    bad = Backend("reset", name="resetter")
    e = h.Echo(name="live")
    f = proxy([bad.backend(), e], passive="off", retry="{attempts: 3}")
    got = []
    for i in range(6):
        r = h.request(f.port, "POST", "/echo", body=b"post-%d" % i)
        got.append(r.status)
        if r.status == 200:
            h.eq(r.body, b"post-%d" % i, "the live server's echo")
    h.eq(sorted(got), [200] * 3 + [502] * 3, "the POSTs that met the resetter end 502")
    h.eq(sorted(bad.bodies()), sorted(b"post-%d" % i for i in range(6) if got[i] == 502),
         "their bodies had reached it")
    h.eq(e.requests(), 3, "and none went to the live server")
    h.check(all(o["retries"] == 0 for o in logs(f, 6)), "no retry logged")


@h.test
def idempotent_put_retried_with_its_body_replayed():
    bad = Backend("reset", name="resetter")
    e = h.Echo(name="live")
    f = proxy([bad.backend(), e], passive="off", retry="{replay_buffer: 1m}")
    sizes = [8 * 1024, 200 * 1024, 700 * 1024]  # three, twice: round robin sends each size to both
    for i, size in enumerate(sizes * 2):
        body = os.urandom(size)
        r = h.request(f.port, "PUT", "/echo", body=body, timeout=20)
        h.eq((r.status, len(r.body)), (200, size), "PUT %d (%d bytes)" % (i, size))
        h.check(r.body == body, "PUT %d: the live server got the body whole, byte for byte" % i)
    bodies = bad.bodies()
    h.eq(sorted(len(b) for b in bodies), sorted(sizes), "every size reached the resetter once, whole")
    # chunked: the body as the client framed it
    for i in range(2):
        body = os.urandom(100 * 1024)
        c = h.Conn(f.port)
        c.send(h.build_request("PUT", "/echo", headers={"Transfer-Encoding": "chunked"}, body=h.chunked(body, 7000)))
        r = c.read_response("PUT", timeout=20)
        c.close()
        h.eq(r.status, 200, "chunked PUT %d" % i)
        h.check(r.body == body, "chunked PUT %d: replayed whole" % i)
    h.check(any(len(b) == 100 * 1024 for b in bad.bodies()), "a chunked body reached the resetter first")


@h.test
def body_over_replay_buffer_not_retried():
    bad = Backend("reset", name="resetter")
    e = h.Echo(name="live")
    f = proxy([bad.backend(), e], passive="off", retry="{replay_buffer: 16k}")
    got = []
    for i in range(4):
        r = h.request(f.port, "PUT", "/echo", body=b"b" * 100000, timeout=20)
        got.append(r.status)
    h.eq(sorted(got), [200, 200, 502, 502], "100 kB over a 16k replay_buffer: those on the resetter end 502")
    h.eq([len(b) for b in bad.bodies()], [100000, 100000], "it had the bodies")
    h.eq(e.requests(), 2, "not repeated elsewhere")
    got = []
    for i in range(2):  # chunked: the length is known once more than 16k came
        c = h.Conn(f.port)
        c.send(h.build_request("PUT", "/echo", headers={"Transfer-Encoding": "chunked"},
                               body=h.chunked(b"c" * 100000, 8000)))
        got.append(c.read_response("PUT", timeout=20).status)
        c.close()
    h.eq(sorted(got), [200, 502], "chunked over the buffer: not retried either")
    got = [h.request(f.port, "PUT", "/echo", body=b"s" * 4000).status for i in range(4)]
    h.eq(got, [200] * 4, "4 kB fits: retried")
    f.stop()
    # replay_buffer: 0 keeps nothing: no body is ever sent twice
    f = proxy([bad.backend(), e], passive="off", retry="{replay_buffer: 0}")
    got = [h.request(f.port, "PUT", "/echo", body=b"z" * 10).status for i in range(4)]
    h.eq(sorted(got), [200, 200, 502, 502], "replay_buffer: 0")
    got = [h.get(f.port, "/g%d" % i).status for i in range(4)]
    h.eq(got, [200] * 4, "a GET without a body is still retried")


@h.test
def idempotency_key_makes_a_post_safe():
    bad = Backend("reset", name="resetter")
    e = h.Echo(name="live")
    f = proxy([bad.backend(), e], passive="off", retry="{idempotency_key: true}")
    for i in range(4):
        r = h.request(f.port, "POST", "/echo", body=b"pay-%d" % i, headers={"Idempotency-Key": "order-%d" % i})
        h.eq((r.status, r.body), (200, b"pay-%d" % i), "keyed POST %d" % i)
    h.eq(bad.hits, 2, "two of them met the resetter first and were repeated")
    h.eq([r[3].get("idempotency-key") for r in bad.requests], ["order-0", "order-2"] if bad.requests[0][4] == b"pay-0"
         else ["order-1", "order-3"], "the header went along")
    got = [h.request(f.port, "POST", "/echo", body=b"x").status for i in range(4)]
    h.eq(sorted(got), [200, 200, 502, 502], "without the header: not retried")


# ---------------------------------------------------------------- backoff


@h.test
def backoff_spacing_measured():
    bad = Backend("status", status=503, name="busy")
    f = proxy([bad.backend()], passive="off",
              retry="{attempts: 3, same_server: 3, on: [503], backoff: {base: 100ms, max: 300ms}}")
    for k in range(3):
        before = bad.hits
        t0 = time.monotonic()
        h.eq(h.get(f.port, "/b%d" % k).status, 503, "the last answer")
        took = time.monotonic() - t0
        t = bad.times()[before:]
        h.eq(len(t), 4, "four attempts")
        gaps = [(t[i + 1] - t[i]) * 1000 for i in range(3)]
        print("backoff gaps (ms): %s" % ", ".join("%.1f" % g for g in gaps))
        for g, d in zip(gaps, (100, 200, 300)):
            h.check(d / 2 - 5 <= g <= d + 80 * h.SLOW, "a wait of [%d, %d] ms (plus the attempt): %.1f ms"
                    % (d // 2, d, g))
        h.check(took < 1.5 * h.SLOW, "the request took %.2fs" % took)
    f.stop()
    f = proxy([bad.backend()], passive="off", retry="{attempts: 3, same_server: 3, on: [503]}")
    before = bad.hits
    h.get(f.port, "/nb")
    t = bad.times()[before:]
    h.check(max(t[i + 1] - t[i] for i in range(3)) < 0.05 * h.SLOW, "no backoff: at once")


# ---------------------------------------------------------------- HTTP/2 clients and h2 pools


def h2_put(port, path, body, tmp):
    src = os.path.join(tmp, "body")
    with open(src, "wb") as fh:
        fh.write(body)
    out = os.path.join(tmp, "out")
    r = h.curl("--http2-prior-knowledge", "-X", "PUT", "--data-binary", "@" + src, "-o", out, "-w", "%{http_code}",
               "http://127.0.0.1:%d%s" % (port, path))
    h.eq(r.returncode, 0, "curl: %s" % r.stderr)
    with open(out, "rb") as fh:
        return int(r.stdout), fh.read()


@h.test
def http2_clients():
    if not h.shutil.which("curl"):
        print("SKIP: no curl")
        return
    tmp = h.tmpdir()
    bad = Backend("reset", name="resetter")
    e = h.Echo(name="live")
    f = proxy([bad.backend(), e], passive="off", retry="{replay_buffer: 1m}", http2=True)
    sizes = [10, 300 * 1024, 50 * 1024]
    for i, size in enumerate(sizes * 2):
        body = os.urandom(size)
        st, got = h2_put(f.port, "/echo", body, tmp)
        h.eq((st, len(got)), (200, size), "HTTP/2 PUT %d" % i)
        h.check(got == body, "HTTP/2 PUT %d replayed whole" % i)
    h.eq(sorted(len(b) for b in bad.bodies()), sorted(sizes), "the resetter had one of each, whole")
    f.stop()
    f = proxy([bad.backend(), e], passive="off", retry="{replay_buffer: 16k}", http2=True)
    got = [h2_put(f.port, "/echo", b"q" * 100000, tmp)[0] for i in range(4)]
    h.eq(sorted(got), [200, 200, 502, 502], "HTTP/2, a body over replay_buffer: not retried")
    f.stop()
    bs = h.echo_backends(3, prefix="h2s")
    f = proxy(bs, retry="{on: [503]}", http2=True)
    r = h.curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
               "http://127.0.0.1:%d/status/503" % f.port)
    h.eq(r.stdout, "503", "HTTP/2 client: the last 503")
    h.eq(sum(echo_hits(bs)), 3, "three attempts")


class H2Backend:
    """h2_backend.py under /usr/bin/python3 (python3-h2)."""

    def __init__(self, name, status=0, retry_after=False):
        args = [SYS_PYTHON, H2_BACKEND, "--name", name]
        if status:
            args += ["--status", str(status)]
        if retry_after:
            args.append("--retry-after")
        self.name = name
        self.proc = h.spawn(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = h._read_line(self.proc.stdout, 30 * h.SLOW) or ""
        h.check(" listening on " in line, "h2_backend did not start: %r" % line)
        self.url = "http://127.0.0.1:%s" % line.rsplit(":", 1)[1]

    def stats(self):
        self.proc.stdin.write(b"stats\n")
        self.proc.stdin.flush()
        return json.loads(h._read_line(self.proc.stdout, 10 * h.SLOW))


def have_h2():
    try:
        return subprocess.run([SYS_PYTHON, "-c", "import h2"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@h.test
def h2_pools():
    if not have_h2():
        print("SKIP: python3-h2 is not installed for %s (scripts/deps.sh installs it)" % SYS_PYTHON)
        return
    tmp = h.tmpdir()
    bad = H2Backend("bad", status=503)
    good = H2Backend("good")
    f = proxy([(bad.url, "bad", 1), (good.url, "good", 1)], retry="{on: [503], replay_buffer: 1m}", protocol="h2",
              passive="off",
              http2=True)
    sizes = [10, 100 * 1024, 30 * 1024]
    for i, size in enumerate(sizes * 2):
        body = os.urandom(size)
        st, got = h2_put(f.port, "/p%d" % i, body, tmp)
        h.eq((st, got == body), (200, True), "h2 pool PUT %d (%d bytes): retried after the 503, body whole" % (i, size))
    h.eq(sorted(bad.stats()["bodies"]), sorted(sizes), "the 503 server had one of each, whole")
    h.eq(sorted(good.stats()["bodies"]), sorted(sizes * 2), "the good server had them all")
    reasons = [o["retry_reasons"] for o in logs(f, 6) if o["retries"]]
    h.eq(reasons, [["status_503"]] * 3, "the reasons")
    f.stop()
    # the default replay_buffer (64k) keeps no 100 kB body: its 503 is the answer
    f = proxy([(bad.url, "bad", 1), (good.url, "good", 1)], retry="{on: [503]}", protocol="h2", passive="off",
              http2=True)
    got = sorted(h2_put(f.port, "/big%d" % i, b"w" * 100 * 1024, tmp)[0] for i in range(2))
    h.eq(got, [200, 503], "over replay_buffer on an h2 pool: the server's 503")
    f.stop()
    # connect refused on an h2 pool: retried (a POST too: nothing was sent)
    dead = ("http://127.0.0.1:%d" % h.refused_port(), "dead", 1)
    f = proxy([dead, (good.url, "good", 1)], protocol="h2", http2=True, cooldown=0)
    for i in range(4):
        r = h.curl("--http2-prior-knowledge", "-d", "p%d" % i, "http://127.0.0.1:%d/x" % f.port)
        h.eq(r.stdout, "p%d" % i, "POST %d over an h2 pool, past the refusing server" % i)


# ---------------------------------------------------------------- the older key


@h.test
def older_retries_key_still_works():
    dead = ("http://127.0.0.1:%d" % h.refused_port(), "dead", 1)
    e = h.Echo(name="live")
    f = proxy([dead, e], retries=0, cooldown=0)
    got = [h.get(f.port, "/a%d" % i).status for i in range(6)]
    h.eq(sorted(got), [200] * 3 + [502] * 3, "retries: 0: no retry")
    f.stop()
    f = proxy([dead, e], retries=2, cooldown=0)
    got = [h.get(f.port, "/b%d" % i).status for i in range(6)]
    h.eq(got, [200] * 6, "retries: 2")
    f.stop()
    path = h.write_file(h.config(h.free_port(), [dead, e], pool_extra={"retries": 1, "retry": "{attempts: 2}"}))
    r = h.run_fulcrum(["--check", "-c", path])
    h.check(r.returncode != 0 and "pools.web.retries: is the older name of retry.attempts, which is written too"
            in r.stderr, "both written: an error (%r)" % r.stderr)


h.main()
