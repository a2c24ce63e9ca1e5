"""Waking idle servers (docs/traffic.md, "Waking idle servers"): a pool
whose server is a real fulcrum-echo started by wake.command (wake_helper.py,
run by fulcrum without a shell) and stopped by stop_command; a server down
at start is asleep; the requests parked while it wakes are all answered, in
order; after idle_after the stop command runs and the next request wakes it
again; a browser waiting more than a second gets the starting-up page; a
wake whose command fails or hangs answers 503; a wake through an HTTP POST;
POST /api/pools/{pool}/wake; a server up at start is not woken."""
import http.server
import json
import os
import signal
import sys
import threading
import time

import harness as h

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wake_helper.py")
TOKEN = "wake-t0ken"


def yaml_list(items):
    return "[" + ", ".join(json.dumps(str(i)) for i in items) + "]"


class Sleeper:
    """The pool's server: a port nothing listens on until the wake command
    starts fulcrum-echo there; the pid file it writes; its log of runs."""

    def __init__(self):
        self.port = h.free_port()
        self.dir = h.tmpdir()
        self.pidfile = os.path.join(self.dir, "echo.pid")
        h._closers.append(self.kill)

    def start_cmd(self, delay=0):
        return [sys.executable, HELPER, "start", h.ECHO_BIN, self.port, self.pidfile] + (
            [delay] if delay else [])

    def stop_cmd(self):
        return [sys.executable, HELPER, "stop", self.pidfile]

    def runs(self):
        try:
            with open(self.pidfile + ".log") as f:
                return f.read().split()
        except OSError:
            return []

    def pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def running(self):
        pid = self.pid()
        if not pid:
            return False
        try:
            with open("/proc/%d/stat" % pid) as f:
                return not f.read().split(") ")[-1].startswith("Z")
        except OSError:
            return False

    def kill(self):
        pid = self.pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class Proxy:
    def __init__(self, sleeper, wake, pool_extra=None, workers=2, port=None):
        self.admin = h.free_port()
        self.port = port or h.free_port()
        d = h.tmpdir()
        tok = os.path.join(d, "token")
        with open(tok, "w") as f:
            f.write(TOKEN + "\n")
        pool = {"wake": wake}
        pool.update(pool_extra or {})
        text = h.config(self.port, [("http://127.0.0.1:%d" % sleeper.port, "sleeper", 1)],
                        workers=workers, pool_extra=pool, log_level="info",
                        top_extra="admin: {listen: 127.0.0.1:%d, token_file: %s}" % (self.admin, tok))
        self.f = h.Fulcrum.from_config(text, port=self.port)
        h.check(h.wait_port(self.admin, 10, self.f.proc), "the admin port listens")

    def pool(self):
        r = h.request(self.admin, "GET", "/api/pools/web")
        h.eq(r.status, 200, "GET /api/pools/web")
        return r.json()

    def wake_state(self):
        return self.pool()["wake"]["state"]

    def server_state(self):
        return self.pool()["servers"][0]["state"]

    def wait_state(self, st, timeout=10):
        h.wait_until(lambda: self.wake_state() == st, timeout=timeout,
                     what="wake state %s (now %s)" % (st, self.wake_state()))

    def log(self):
        return self.f.stderr_text()


def wake_map(cmd, stop=None, idle_after=None, timeout="10s", url=None):
    parts = []
    if cmd:
        parts.append("command: " + yaml_list(cmd))
    if url:
        parts.append("url: " + url)
    if stop:
        parts.append("stop_command: " + yaml_list(stop))
    if idle_after:
        parts.append("idle_after: " + idle_after)
    parts.append("timeout: " + timeout)
    return "{" + ", ".join(parts) + "}"


class Background:
    def __init__(self, port, path, headers=None):
        self.conn = h.Conn(port, timeout=40)
        self.path = path
        self.resp = self.err = None
        self.t0 = time.monotonic()
        self.done_at = None
        self.conn.send(h.build_request("GET", path, headers=headers))
        self.th = threading.Thread(target=self._read, daemon=True)
        self.th.start()

    def _read(self):
        try:
            self.resp = self.conn.read_response(timeout=40)
        except Exception as e:
            self.err = e
        self.done_at = time.monotonic()

    def result(self, timeout=40):
        self.th.join(timeout * h.SLOW)
        h.check(not self.th.is_alive(), "no answer to %s" % self.path)
        h.check(self.resp is not None, "%s: %r" % (self.path, self.err))
        return self.resp


@h.test(timeout=90)
def wakes_on_request_parked_in_order():
    """Down at start: asleep. Five requests park while the command starts
    fulcrum-echo (listening half a second after the command exits); the
    command runs once, its output is in the error log, and with max_conns 1
    the parked requests are served one at a time in the order they came."""
    s = Sleeper()
    p = Proxy(s, wake_map(s.start_cmd(delay=0.5), s.stop_cmd()), {"max_conns": 1})
    p.wait_state("asleep")
    h.eq(p.server_state(), "asleep", "the server found down at start is asleep")
    h.eq(s.runs(), [], "nothing ran before a request came")
    reqs = []
    for i in range(5):
        reqs.append(Background(p.port, "/sleep/80?i=%d" % i))
        h.wait_until(lambda: p.pool()["queue"]["length"] == i + 1, timeout=10,
                     what="request %d parked" % i)
    for r in reqs:
        res = r.result()
        h.eq(res.status, 200, "a parked request is answered")
        h.eq(res.header("X-Echo-Name"), "sleeper", "by the woken server")
    order = sorted(range(5), key=lambda i: reqs[i].done_at)
    h.eq(order, list(range(5)), "served in the order they came")
    h.eq(s.runs(), ["start"], "the wake command ran once")
    h.eq(p.wake_state(), "awake", "awake now")
    h.eq(p.server_state(), "healthy", "the server is healthy")
    log = p.log()
    h.check("started fulcrum-echo on port %d" % s.port in log, "the command's output is in the log:\n" + log[-2000:])
    h.check("second line of output" in log, "line by line")
    h.check("awake after" in log, "the log says when it woke")
    h.eq(h.get(p.port, "/after").status, 200, "served normally once awake")


@h.test(timeout=90)
def stops_when_idle_and_wakes_again():
    """After idle_after without a request stop_command runs (the echo process
    goes away) and the server is asleep; the next request wakes it again."""
    s = Sleeper()
    p = Proxy(s, wake_map(s.start_cmd(), s.stop_cmd(), idle_after="2s"))
    p.wait_state("asleep")
    h.eq(h.get(p.port, "/first", timeout=20).status, 200, "woken by the first request")
    h.check(s.running(), "the echo runs")
    t0 = time.monotonic()
    p.wait_state("asleep", timeout=15)
    h.check(time.monotonic() - t0 >= 1.5, "not before idle_after")
    h.wait_until(lambda: not s.running(), timeout=10, what="stop_command stopped the echo")
    h.eq(p.server_state(), "asleep", "the server is asleep, not dead")
    h.eq(s.runs(), ["start", "stop"], "the stop command ran once")
    h.check("stopped pid" in p.log(), "its output is in the log")
    r = h.get(p.port, "/again", timeout=20)
    h.eq(r.status, 200, "the next request wakes it again")
    h.eq(s.runs(), ["start", "stop", "start"], "woken a second time")


@h.test(timeout=60)
def browser_gets_the_starting_page():
    """While the pool wakes (its server listens 2.5 s after the command),
    a browser (Accept: text/html) gets, after a second, 503 with Retry-After: 1
    and a page that reloads itself; another client simply waits for the answer."""
    s = Sleeper()
    p = Proxy(s, wake_map(s.start_cmd(delay=2.5), s.stop_cmd(), timeout="20s"))
    p.wait_state("asleep")
    browser = Background(p.port, "/page", headers=[("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")])
    api = Background(p.port, "/api", headers=[("Accept", "application/json")])
    r = browser.result()
    waited = browser.done_at - browser.t0
    h.eq(r.status, 503, "the starting-up page")
    h.eq(r.header("Retry-After"), "1", "Retry-After: 1")
    h.check(r.header("Content-Type", "").startswith("text/html"), "an HTML page")
    h.check('<meta http-equiv="refresh" content="1">' in r.text(), "it reloads itself: %r" % r.text())
    h.check(0.8 <= waited <= 2.3, "after about a second (%.2fs)" % waited)
    a = api.result()
    h.eq(a.status, 200, "the other client waited and got its answer")
    h.check(api.done_at - api.t0 >= 2.0, "after the server came up")
    h.eq(h.get(p.port, "/page", headers=[("Accept", "text/html")]).status, 200,
         "the reload finds it awake")


@h.test(timeout=60)
def parked_requests_bounded_by_queue_max():
    """Parked requests count against queue.max: with two waiting, the third
    is answered 503 at once; the two are served once the pool is awake."""
    s = Sleeper()
    p = Proxy(s, wake_map(s.start_cmd(delay=1.5), s.stop_cmd()), {"queue": "{max: 2}"})
    p.wait_state("asleep")
    parked = []
    for i in range(2):
        parked.append(Background(p.port, "/p%d" % i))
        h.wait_until(lambda: p.pool()["queue"]["length"] == i + 1, timeout=10,
                     what="request %d parked" % i)
    t0 = time.monotonic()
    r = h.get(p.port, "/third", timeout=10)
    h.eq(r.status, 503, "the queue is full")
    h.check(r.header("Retry-After"), "with Retry-After")
    h.check(time.monotonic() - t0 < 1.0, "at once")
    for b in parked:
        h.eq(b.result().status, 200, "the parked ones are served")
    h.check("the pool is asleep and its queue is full" in p.log(), "the log says why")


@h.test(timeout=60)
def failed_wake_answers_503():
    """A command that exits 1: the parked requests get 503 with Retry-After
    and the log says why; the next request tries again."""
    s = Sleeper()
    p = Proxy(s, wake_map([sys.executable, HELPER, "fail"]))
    p.wait_state("asleep")
    t0 = time.monotonic()
    reqs = [Background(p.port, "/x%d" % i) for i in range(3)]
    for r in reqs:
        res = r.result()
        h.eq(res.status, 503, "the wake failed")
        h.check(res.header("Retry-After"), "with Retry-After")
    h.check(time.monotonic() - t0 < 5, "answered when it failed, not at a timeout")
    log = p.log()
    h.check("the wake failed: the command exited with status 1" in log, "the log says why:\n" + log[-2000:])
    h.check("cannot start the service: no such unit" in log, "the command's output is in the log")
    h.eq(p.wake_state(), "asleep", "still asleep")
    h.eq(h.get(p.port, "/y").status, 503, "the next request tries again (and fails again)")
    h.check(p.log().count("the wake failed") >= 2, "a second attempt")


@h.test(timeout=60)
def hanging_wake_times_out():
    """A command that does not finish within wake.timeout is killed; the
    parked requests get 503."""
    s = Sleeper()
    p = Proxy(s, wake_map([sys.executable, HELPER, "hang", s.pidfile], timeout="1s"))
    p.wait_state("asleep")
    t0 = time.monotonic()
    r = h.get(p.port, "/slow", timeout=20)
    took = time.monotonic() - t0
    h.eq(r.status, 503, "timed out")
    h.check(0.8 <= took <= 5, "after about wake.timeout (%.2fs)" % took)
    h.check("did not finish within 1.0 s (killed)" in p.log(), "the log says why:\n" + p.log()[-2000:])
    h.wait_until(lambda: not s.running(), timeout=5, what="the hanging command was killed")


@h.test(timeout=60)
def servers_that_never_come_up():
    """A command that succeeds but starts nothing: no server passes its check
    within wake.timeout, the parked request gets 503 and the log says so."""
    s = Sleeper()
    p = Proxy(s, wake_map(["true"], timeout="1s"))
    p.wait_state("asleep")
    t0 = time.monotonic()
    r = h.get(p.port, "/never", timeout=20)
    h.eq(r.status, 503, "the wake failed")
    h.check(0.8 <= time.monotonic() - t0 <= 5, "after about wake.timeout")
    h.check("no server passed its health checks within 1.0 s" in p.log(), "the log says why:\n" + p.log()[-2000:])
    h.eq(p.server_state(), "asleep", "still asleep, not dead")


@h.test(timeout=60)
def reload_keeps_the_state():
    """A reload keeps the pool asleep (no new probe, nothing runs); a request
    parked while the server comes up, across a reload, is answered by it."""
    s = Sleeper()
    p = Proxy(s, wake_map(s.start_cmd(delay=1.5), s.stop_cmd(), timeout="20s"))
    p.wait_state("asleep")
    p.f.send_signal(signal.SIGHUP)
    h.wait_until(lambda: "configuration 2" in p.log(), timeout=10, what="the reload")
    h.eq(p.wake_state(), "asleep", "still asleep after the reload")
    h.eq(s.runs(), [], "nothing ran")
    parked = Background(p.port, "/across")
    h.wait_until(lambda: s.runs() == ["start"], timeout=10, what="the wake command")
    p.f.send_signal(signal.SIGHUP)  # while it wakes
    h.wait_until(lambda: "configuration 3" in p.log(), timeout=10, what="the second reload")
    r = parked.result()
    h.eq(r.status, 200, "served once the server came up")
    h.eq(r.header("X-Echo-Name"), "sleeper", "by the woken server")
    h.eq(p.wake_state(), "awake", "awake")
    h.eq(p.server_state(), "healthy", "its server healthy in the new configuration")
    h.eq(s.runs(), ["start"], "woken once")


@h.test(timeout=60)
def wake_by_http_post():
    """wake.url: fulcrum POSTs there (a small server in the test that starts
    the echo); then it waits for the server to accept."""
    s = Sleeper()
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            seen.append((self.command, self.path, self.headers.get("Content-Length")))
            os.spawnv(os.P_WAIT, sys.executable, [str(a) for a in s.start_cmd()])
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    h._closers.append(lambda: (srv.shutdown(), srv.server_close()))
    url = "http://127.0.0.1:%d/containers/sleeper/start" % srv.server_address[1]
    p = Proxy(s, wake_map(None, url=url))
    p.wait_state("asleep")
    r = h.get(p.port, "/via-post", timeout=20)
    h.eq(r.status, 200, "woken through the POST")
    h.eq(seen, [("POST", "/containers/sleeper/start", "0")], "one POST to the URL's path")


@h.test(timeout=60)
def admin_api_wakes_by_hand():
    """POST /api/pools/{pool}/wake wakes it without a request; it needs the
    token; a pool without wake: answers 409."""
    s = Sleeper()
    p = Proxy(s, wake_map(s.start_cmd(), s.stop_cmd()))
    p.wait_state("asleep")
    r = h.request(p.admin, "POST", "/api/pools/web/wake")
    h.check(r.status in (401, 403), "a write needs the token (got %d)" % r.status)
    h.eq(s.runs(), [], "nothing ran")
    r = h.request(p.admin, "POST", "/api/pools/web/wake", headers=[("Authorization", "Bearer " + TOKEN)])
    h.eq(r.status, 202, "accepted: %r" % r.body)
    h.eq(r.json(), {"pool": "web", "wake": "waking"}, "the answer")
    p.wait_state("awake")
    h.eq(p.server_state(), "healthy", "awake without a request")
    h.eq(s.runs(), ["start"], "the command ran")
    r = h.request(p.admin, "POST", "/api/pools/web/wake", headers=[("Authorization", "Bearer " + TOKEN)])
    h.eq((r.status, r.json()["wake"]), (202, "awake"), "awake already: nothing runs")
    h.eq(s.runs(), ["start"], "not twice")
    h.eq(h.request(p.admin, "GET", "/api/pools/web/wake").status, 405, "POST only")
    h.eq(h.request(p.admin, "POST", "/api/pools/nope/wake",
                   headers=[("Authorization", "Bearer " + TOKEN)]).status, 404, "no such pool")


@h.test(timeout=60)
def up_at_start_is_awake():
    """A server that answers at start is awake: requests go to it and the
    wake command never runs."""
    s = Sleeper()
    e = h.Echo(name="already", port=s.port)
    p = Proxy(s, wake_map(s.start_cmd(), s.stop_cmd()))
    p.wait_state("awake")
    r = h.get(p.port, "/now")
    h.eq((r.status, r.header("X-Echo-Name")), (200, "already"), "served by the running server")
    h.eq(s.runs(), [], "the wake command never ran")
    e.stop()


h.main()
