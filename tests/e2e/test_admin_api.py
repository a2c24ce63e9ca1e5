"""The admin API (docs/operations.md, "Admin API"): the shapes and values of
pools and servers, servers added, re-weighted, drained, put in maintenance
and removed at run time (with a request in flight and ?wait=removable), every
bad input with its status, reads open and writes behind the token (403 when
none is configured), a state_dir that cannot be written changes nothing, and
the journal surviving a restart (with `fulcrum --check` saying what it
changes)."""
import collections
import json
import os
import re
import signal
import socket
import threading
import time

import harness as h

TOKEN = "t0ken-for-the-tests"
HEALTH = "{interval: 200ms, timeout: 150ms, rise: 1, fall: 1, path: /health}"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Admin:
    """A fulcrum with an admin: section, its config file, admin port and state dir."""

    def __init__(self, backends, token=True, state=None, workers=1, pool_extra=None, env=None,
                 client=None, config_path=None, port=None, admin_port=None, wait=True):
        d = h.tmpdir()
        self.state = state or os.path.join(d, "state")
        self.admin = admin_port or h.free_port()
        self.port = port or h.free_port()
        tok = ""
        if token:
            self.token_file = os.path.join(d, "token")
            with open(self.token_file, "w") as f:
                f.write(TOKEN + "\n")
            tok = ", token_file: %s" % self.token_file
        top = "state_dir: %s\nadmin: {listen: 127.0.0.1:%d%s}" % (self.state, self.admin, tok)
        pool = {"health": HEALTH}
        pool.update(pool_extra or {})
        pool = {k: v for k, v in pool.items() if v is not None}
        text = h.config(self.port, backends, workers=workers, pool_extra=pool, top_extra=top,
                        log_level="info", client=client)
        self.config_path = config_path or h.write_file(text)
        if config_path:
            with open(config_path, "w") as f:
                f.write(text)
        self.f = h.Fulcrum(["-c", self.config_path], port=self.port, env=env, wait=wait)
        if wait:
            h.check(h.wait_port(self.admin, 10, self.f.proc), "the admin port listens:\n" +
                    self.f.stderr_text()[-2000:])

    def call(self, method, path, body=None, token=TOKEN, headers=None):
        hs = list(headers or [])
        if token:
            hs.append(("Authorization", "Bearer " + token))
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        return h.request(self.admin, method, path, headers=hs, body=body)

    def get(self, path):
        r = self.call("GET", path, token=None)
        h.eq(r.status, 200, "GET %s: %s" % (path, r.body[:300]))
        h.eq(r.header("Content-Type"), "application/json", "GET %s content type" % path)
        return r.json()

    def server(self, name, pool="web"):
        return self.get("/api/pools/%s/servers/%s" % (pool, name))

    def names(self, pool="web"):
        return [s["name"] for s in self.get("/api/pools/" + pool)["servers"]]


def err(r, status, what, contains=None):
    """r is a JSON error with status."""
    h.eq(r.status, status, "%s: status (body %r)" % (what, r.body[:300]))
    h.eq(r.header("Content-Type"), "application/json", "%s: content type" % what)
    e = r.json()
    h.check(isinstance(e.get("error"), str) and e["error"], "%s: an error text: %r" % (what, e))
    if contains:
        h.check(contains in e["error"], "%s: %r in %r" % (what, contains, e["error"]))
    return e


def who(port, n, path="/"):
    return collections.Counter(h.get(port, "%s?i=%d" % (path, i)).header("X-Echo-Name") for i in range(n))


SERVER_KEYS = {"name", "url", "address", "state", "admin_state", "removing", "reason", "since", "weight",
               "effective_weight", "tier", "active", "max_conns", "idle", "requests", "failures", "latency_p50_ms",
               "latency_p99_ms", "last_check"}
POOL_KEYS = {"name", "algorithm", "status", "detail", "started", "uptime", "latency",
             "requests_by_protocol", "queue", "wake", "discover", "resolve", "servers"}


@h.test
def reads_have_the_documented_shapes():
    bs = h.echo_backends(2, prefix="rd")
    a = Admin(bs, workers=2)
    for i in range(6):
        h.eq(h.get(a.port, "/r%d" % i).status, 200, "traffic")
    h.wait_until(lambda: all(s["last_check"] for s in a.get("/api/pools/web")["servers"]),
                 timeout=3, what="a health check of each server")
    pools = a.get("/api/pools")
    h.eq(list(pools), ["pools"], "top level")
    h.eq(len(pools["pools"]), 1, "one pool")
    p = pools["pools"][0]
    h.eq(set(p), POOL_KEYS, "pool keys")
    h.eq(p["name"], "web", "name")
    h.eq(p["algorithm"], "round_robin", "algorithm")
    h.eq(p["status"], "healthy", "status")
    h.eq(p["detail"], "2/2 servers are healthy", "detail")
    h.check(RFC3339.match(p["started"]), "started is RFC 3339: %r" % p["started"])
    h.check(isinstance(p["uptime"], (int, float)) and 0 <= p["uptime"] < 60, "uptime %r" % p["uptime"])
    h.check(isinstance(p["latency"], (int, float)) and p["latency"] > 0, "latency %r" % p["latency"])
    alone = a.get("/api/pools/web")
    h.eq((set(alone), alone["name"], len(alone["servers"])), (POOL_KEYS, "web", 2), "the pool alone")
    for s in p["servers"]:
        h.eq(set(s), SERVER_KEYS, "server keys")
        h.check(s["name"] in ("rd-1", "rd-2"), "name %r" % s["name"])
        h.eq(s["url"], [b.url for b in bs if b.name == s["name"]][0], "url")
        h.eq(s["state"], "healthy", "state")
        h.eq(s["admin_state"], "ready", "admin state")
        h.eq(s["removing"], False, "removing")
        h.eq((s["weight"], s["effective_weight"]), (1, 1), "weights")
        h.eq(s["active"], 0, "active")
        h.eq(s["requests"], 3, "requests (round robin over 6)")
        h.eq(s["failures"], {"connect": 0, "timeout": 0, "reset": 0, "bad_response": 0,
                             "status_5xx": 0}, "failures")
        h.check(isinstance(s["latency_p50_ms"], (int, float)) and s["latency_p50_ms"] > 0, "p50")
        h.check(s["latency_p99_ms"] >= s["latency_p50_ms"], "p99 >= p50")
        h.check(RFC3339.match(s["since"]), "since %r" % s["since"])
        lc = s["last_check"]
        h.eq(set(lc), {"time", "result", "duration_ms", "detail"}, "last_check keys")
        h.eq(lc["result"], "ok", "last check result")
        h.check("HTTP 200" in lc["detail"], "detail %r" % lc["detail"])
        one = a.server(s["name"])
        h.eq(one["name"], s["name"], "the server alone")
        h.eq(one["requests"], 3, "the server alone: requests")
    h.eq([s["name"] for s in a.get("/api/pools/web/servers")["servers"]], [s["name"] for s in p["servers"]],
         "the servers list")
    # idle connections, in every worker: the 6 requests left some
    h.check(sum(s["idle"] for s in p["servers"]) >= 1, "idle connections counted")
    # a server taken down shows dead, with the reason; the pool is degraded
    bs[0].kill()
    h.wait_until(lambda: a.server("rd-1")["state"] == "dead", timeout=3, what="rd-1 dead")
    s = a.server("rd-1")
    h.check("health check failed" in s["reason"], "reason %r" % s["reason"])
    h.eq(s["last_check"]["result"], "failed", "last check failed")
    p = a.get("/api/pools/web")
    h.eq((p["status"], p["detail"]), ("degraded", "1/2 servers are healthy"), "degraded")
    # HEAD answers like GET without a body
    r = a.call("HEAD", "/api/pools", token=None)
    h.eq((r.status, r.body), (200, b""), "HEAD")
    h.check(int(r.header("Content-Length")) > 10, "HEAD has the length of the GET")
    # / is the status page
    r = a.call("GET", "/", token=None)
    h.eq((r.status, r.header("Content-Type")), (200, "text/html; charset=utf-8"), "the status page")


@h.test
def added_server_gets_traffic_at_once():
    bs = h.echo_backends(1, prefix="ad")
    a = Admin(bs, workers=2)
    new = h.Echo(name="ad-new")
    r = a.call("POST", "/api/pools/web/servers", {"url": new.url, "name": "ad-new", "weight": 2})
    h.eq(r.status, 201, "created: %r" % r.body)
    s = r.json()
    h.eq(set(s), SERVER_KEYS, "the answer is the server")
    h.eq((s["name"], s["url"], s["weight"], s["state"]), ("ad-new", new.url, 2, "healthy"), "server")
    t0 = time.monotonic()
    h.wait_until(lambda: h.get(a.port, "/x").header("X-Echo-Name") == "ad-new", timeout=1,
                 interval=0.01, what="a request on the new server")
    h.check(time.monotonic() - t0 < 1.0, "within a second")
    got = who(a.port, 30)
    h.eq(got, collections.Counter({"ad-new": 20, "ad-1": 10}), "weight 2 against 1")
    # without a name: host:port, as in the file; weight 1
    other = h.Echo(name="ad-other")
    r = a.call("POST", "/api/pools/web/servers", {"url": other.url})
    h.eq(r.status, 201, "created without a name")
    h.eq((r.json()["name"], r.json()["weight"]), ("127.0.0.1:%d" % other.port, 1), "default name")
    h.eq(a.names(), ["ad-1", "ad-new", "127.0.0.1:%d" % other.port], "three servers")
    # an https:// server in a pool that had none: the pool gets its TLS
    # context (weight 0: no traffic to this plain-HTTP backend)
    r = a.call("POST", "/api/pools/web/servers", {"url": "https://127.0.0.1:%d" % other.port,
                                                 "name": "ad-tls", "weight": 0})
    h.eq((r.status, r.json()["url"]), (201, "https://127.0.0.1:%d" % other.port), "an https:// server")
    h.eq(a.call("DELETE", "/api/pools/web/servers/ad-tls").status, 202, "and away again")
    h.wait_until(lambda: "ad-tls" not in a.names(), timeout=2, what="ad-tls removed")
    # health checks run on added servers too
    h.wait_until(lambda: a.server("ad-new")["last_check"], timeout=3, what="a check of ad-new")
    new.kill()
    h.wait_until(lambda: a.server("ad-new")["state"] == "dead", timeout=3, what="ad-new down")


@h.test
def patch_weight_drain_maint_ready():
    bs = h.echo_backends(2, prefix="pt")
    # no active checks: their connections would blur the count of open ones
    a = Admin(bs, pool_extra={"idle_timeout": "60s", "health": None})
    r = a.call("PATCH", "/api/pools/web/servers/pt-1", {"weight": 3})
    h.eq(r.status, 200, "patch weight: %r" % r.body)
    h.eq(r.json()["weight"], 3, "weight in the answer")
    h.eq(who(a.port, 40), collections.Counter({"pt-1": 30, "pt-2": 10}), "3:1")
    # drain: no new requests; the state says so
    r = a.call("PATCH", "/api/pools/web/servers/pt-2", {"state": "drain"})
    h.eq(r.status, 200, "drain")
    h.eq((r.json()["state"], r.json()["admin_state"]), ("draining", "drain"), "draining")
    before = bs[1].requests()
    h.eq(who(a.port, 20), collections.Counter({"pt-1": 20}), "a drained server gets nothing")
    h.eq(bs[1].requests(), before, "not one request reached pt-2")
    # ready: back
    r = a.call("PATCH", "/api/pools/web/servers/pt-2", {"state": "ready"})
    h.eq((r.status, r.json()["admin_state"]), (200, "ready"), "ready")
    h.eq(a.server("pt-2")["state"], "healthy", "pt-2 healthy again")
    h.check(who(a.port, 20)["pt-2"] > 0, "pt-2 takes requests again")
    # maint: no requests and its idle connections closed
    conns = [h.Conn(a.port) for _ in range(4)]
    for c in conns:
        for i in range(4):
            c.request("GET", "/warm%d" % i)
    # (the /stats request is one of the open ones)
    h.wait_until(lambda: bs[1].stats()["open"] >= 2, timeout=2, what="idle connections to pt-2")
    r = a.call("PATCH", "/api/pools/web/servers/pt-2", {"state": "maint", "weight": 5})
    h.eq((r.status, r.json()["admin_state"], r.json()["weight"]), (200, "maint", 5), "maint")
    # the one left open is the /stats request's own
    h.wait_until(lambda: bs[1].stats()["open"] <= 1, timeout=2, what="pt-2's idle connections closed")
    h.eq(who(a.port, 10), collections.Counter({"pt-1": 10}), "nothing to a server in maintenance")
    for c in conns:
        c.close()


def slow_request(port, path, out):
    try:
        out.append(h.get(port, path, timeout=20))
    except Exception as e:
        out.append(e)


@h.test
def delete_waits_for_requests_in_flight():
    bs = h.echo_backends(2, prefix="dl", threads=2)
    a = Admin(bs, workers=2)
    # a slow request on whichever server it lands on
    res = []
    t = threading.Thread(target=slow_request, args=(a.port, "/sleep/1500", res), daemon=True)
    t.start()
    busy = h.wait_until(lambda: [s["name"] for s in a.get("/api/pools/web")["servers"] if s["active"] == 1],
                        timeout=2, what="the slow request in flight")[0]
    idle = "dl-1" if busy == "dl-2" else "dl-2"
    # a short wait times out with 409 while it is busy
    t0 = time.monotonic()
    r = a.call("GET", "/api/pools/web/servers/%s?wait=removable&timeout=200ms" % busy, token=None)
    err(r, 409, "wait timeout", "in flight")
    h.check(0.15 < time.monotonic() - t0 < 1.2, "answered after the timeout")
    # an idle server is removable at once
    r = a.call("GET", "/api/pools/web/servers/%s?wait=removable" % idle, token=None)
    h.eq((r.status, r.json()["name"]), (200, idle), "idle: removable at once")
    # DELETE answers 202 at once, the server drains
    t0 = time.monotonic()
    r = a.call("DELETE", "/api/pools/web/servers/" + busy)
    h.eq(r.status, 202, "delete: %r" % r.body)
    h.check(time.monotonic() - t0 < 0.5, "at once")
    h.eq((r.json()["removing"], r.json()["state"], r.json()["active"]), (True, "draining", 1), "removing")
    # the wait parks; meanwhile the admin listener keeps answering
    waited = []
    wt = threading.Thread(target=lambda: waited.append(
        a.call("GET", "/api/pools/web/servers/%s?wait=removable&timeout=10s" % busy, token=None)), daemon=True)
    t0 = time.monotonic()
    wt.start()
    time.sleep(0.2)
    h.check(not waited, "the wait is parked")
    t1 = time.monotonic()
    h.eq(a.get("/api/pools/web")["name"], "web", "other requests are served meanwhile")
    h.check(time.monotonic() - t1 < 0.5, "promptly")
    for i in range(6):
        h.eq(h.get(a.port, "/n%d" % i).header("X-Echo-Name"), idle, "no new request to the removed server")
    wt.join(10)
    h.check(waited, "the wait answered")
    r = waited[0]
    h.eq(r.status, 200, "removable: %r" % r.body)
    h.eq((r.json()["name"], r.json()["active"]), (busy, 0), "no request in flight")
    h.check(time.monotonic() - t0 > 0.8, "it waited for the slow request")
    t.join(10)
    h.eq(res[0].status, 200, "the request in flight finished normally")
    h.eq(res[0].header("X-Echo-Name"), busy, "on the server being removed")
    h.wait_until(lambda: a.names() == [idle], timeout=2, what="the server removed")
    err(a.call("GET", "/api/pools/web/servers/" + busy, token=None), 404, "gone")
    # deleting twice: the second is 404
    err(a.call("DELETE", "/api/pools/web/servers/" + busy), 404, "deleted twice")


@h.test
def bad_inputs_get_their_status():
    bs = h.echo_backends(2, prefix="bd")
    a = Admin(bs, client={"header_timeout": "500ms"})
    srv = "/api/pools/web/servers"
    cases = [
        # method, path, body, token, status, text in the error
        ("POST", srv, b"{\"url\": ", TOKEN, 400, "malformed JSON"),
        ("POST", srv, b"[1, 2]", TOKEN, 400, "object"),
        ("POST", srv, {"url": "http://127.0.0.1:9", "nope": 1}, TOKEN, 400, "unknown key"),
        ("POST", "/api/pools/nope/servers", {"url": "http://127.0.0.1:9"}, TOKEN, 404, "nope"),
        ("POST", srv, {"url": "ftp://127.0.0.1:9"}, TOKEN, 400, "http://host:port"),
        ("POST", srv, {"url": "http://127.0.0.1:99999"}, TOKEN, 400, "port"),
        ("POST", srv, {"url": "http://127.0.0.1:9/path"}, TOKEN, 400, "path"),
        ("POST", srv, {"name": "x"}, TOKEN, 400, "url is required"),
        ("POST", srv, {"url": "http://127.0.0.1:9", "name": "a b"}, TOKEN, 400, "name"),
        ("POST", srv, {"url": "http://127.0.0.1:9", "weight": 1001}, TOKEN, 400, "0..1000"),
        ("POST", srv, {"url": "http://127.0.0.1:9", "weight": -1}, TOKEN, 400, "0..1000"),
        ("POST", srv, {"url": "http://127.0.0.1:9", "weight": "3"}, TOKEN, 400, "integer"),
        ("POST", srv, {"url": "http://127.0.0.1:9", "name": "bd-1"}, TOKEN, 409, "already"),
        ("POST", srv, {"url": "http://127.0.0.1:9"}, None, 401, "Bearer"),
        ("POST", srv, {"url": "http://127.0.0.1:9"}, "wrong", 401, "wrong token"),
        ("PATCH", srv + "/bd-1", {"weight": 1001}, TOKEN, 400, "0..1000"),
        ("PATCH", srv + "/bd-1", {"state": "off"}, TOKEN, 400, "state"),
        ("PATCH", srv + "/bd-1", {"state": "drain", "weight": 1001}, TOKEN, 400, "0..1000"),
        ("PATCH", srv + "/bd-1", {}, TOKEN, 400, "nothing to change"),
        ("PATCH", srv + "/bd-1", b"", TOKEN, 400, "malformed JSON"),
        ("PATCH", srv + "/nope", {"weight": 2}, TOKEN, 404, "nope"),
        ("PATCH", "/api/pools/nope/servers/bd-1", {"weight": 2}, TOKEN, 404, "nope"),
        ("DELETE", srv + "/nope", None, TOKEN, 404, "nope"),
        ("DELETE", srv + "/bd-1", None, None, 401, "Bearer"),
        ("GET", "/api/pools/nope", None, None, 404, "nope"),
        ("GET", srv + "/nope", None, None, 404, "nope"),
        ("GET", "/api/nothing", None, None, 404, "no such endpoint"),
        ("GET", "/api/pools/web/", None, None, 404, "no such endpoint"),
        ("GET", "/api/pools/w%zz", None, None, 400, "bad URL"),
        ("GET", "/api/pools?x=1", None, None, 400, "bad URL"),
        ("GET", srv + "/bd-1?wait=soon", None, None, 400, "removable"),
        ("GET", srv + "/bd-1?wait=removable&timeout=10m", None, None, 400, "5m"),
        ("GET", srv + "/bd-1?wait=removable&timeout=abc", None, None, 400, "timeout"),
    ]
    for method, path, body, token, status, text in cases:
        err(a.call(method, path, body, token=token), status, "%s %s %r" % (method, path, body), text)
    # wrong methods: 405 with Allow
    for method, path, allow in [("PUT", "/api/pools", "GET, HEAD"), ("DELETE", "/api/pools", "GET, HEAD"),
                                ("POST", srv + "/bd-1", "GET, HEAD, PATCH, DELETE"),
                                ("GET", "/api/reload", "POST"), ("PATCH", srv, "GET, HEAD, POST")]:
        r = a.call(method, path, b"{}" if method != "GET" else None)
        err(r, 405, "%s %s" % (method, path))
        h.eq(r.header("Allow"), allow, "Allow of %s" % path)
    r = a.call("POST", srv, None, token=None)
    h.eq(r.header("WWW-Authenticate", "")[:6], "Bearer", "401 says how to authenticate")
    # a body over 64 KiB: 413 (announced by Content-Length, or sent chunked)
    big = json.dumps({"url": "http://127.0.0.1:9", "name": "x" * 70000}).encode()
    err(a.call("POST", srv, big), 413, "a big body")
    r = a.call("POST", srv, h.chunked(big, 4096), headers=[("Transfer-Encoding", "chunked")])
    err(r, 413, "a big chunked body")
    # a malformed request and a head that never ends
    data, closed = h.send_raw(a.admin, b"GET /api/pools HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    h.check(data.startswith(b"HTTP/1.1 400"), "malformed head: %r" % data[:60])
    h.check(closed, "closed after a malformed head")
    t0 = time.monotonic()
    data, closed = h.send_raw(a.admin, b"GET /api/pools HTTP/1.1\r\nHost: x\r\n", timeout=5)
    h.check(data.startswith(b"HTTP/1.1 408") and closed, "header timeout: %r" % data[:60])
    h.check(time.monotonic() - t0 < 3, "within header_timeout")
    data, closed = h.send_raw(a.admin, b"GET /api/pools HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
    h.check(data.startswith(b"HTTP/1.1 431") and closed, "too large a head: %r" % data[:60])
    # nothing changed, nothing crashed: two servers, both serve
    h.eq(a.names(), ["bd-1", "bd-2"], "the pool is as it was")
    s = a.server("bd-1")
    h.eq((s["weight"], s["admin_state"], s["state"]), (1, "ready", "healthy"),
         "no PATCH was half applied")
    h.check(not os.path.exists(os.path.join(a.state, "journal.json")), "no journal written")
    h.eq(set(who(a.port, 4)), {"bd-1", "bd-2"}, "traffic as before")
    h.check(a.f.alive(), "fulcrum is running")


@h.test
def keep_alive_and_connection_close():
    a = Admin(h.echo_backends(1, prefix="ka"))
    with h.Conn(a.admin) as c:
        for i in range(3):
            r = c.request("GET", "/api/pools/web")
            h.eq(r.status, 200, "request %d on one connection" % i)
        # pipelined: two at once, two answers in order
        c.send(h.build_request("GET", "/api/pools") + h.build_request("GET", "/nope"))
        h.eq(c.read_response().status, 200, "pipelined 1")
        h.eq(c.read_response().status, 404, "pipelined 2")
        r = c.request("GET", "/api/pools", headers=[("Connection", "close")])
        h.eq((r.status, r.header("Connection")), (200, "close"), "Connection: close")
        h.check(c.wait_closed(2), "closed after Connection: close")


@h.test
def reads_open_writes_403_without_a_token():
    bs = h.echo_backends(1, prefix="ro")
    a = Admin(bs, token=False, env={"FULCRUM_ADMIN_TOKEN": None})
    h.eq(a.names(), ["ro-1"], "reads work without any token")
    for method, path, body in [("POST", "/api/pools/web/servers", {"url": "http://127.0.0.1:9"}),
                               ("PATCH", "/api/pools/web/servers/ro-1", {"weight": 2}),
                               ("DELETE", "/api/pools/web/servers/ro-1", None),
                               ("POST", "/api/reload", None)]:
        err(a.call(method, path, body), 403, "%s %s" % (method, path), "read-only")
    h.eq(a.server("ro-1")["weight"], 1, "nothing changed")
    h.check(not os.path.exists(os.path.join(a.state, "journal.json")), "no journal written")
    a.f.stop()
    # the token from the environment
    b = Admin(bs, token=False, env={"FULCRUM_ADMIN_TOKEN": "from-env"})
    err(b.call("PATCH", "/api/pools/web/servers/ro-1", {"weight": 2}), 401, "the file's token is not set")
    r = b.call("PATCH", "/api/pools/web/servers/ro-1", {"weight": 2}, token="from-env")
    h.eq((r.status, r.json()["weight"]), (200, 2), "FULCRUM_ADMIN_TOKEN works")


@h.test
def token_file_problems_stop_the_start():
    bs = h.echo_backends(1, prefix="tk")
    d = h.tmpdir()
    empty = os.path.join(d, "empty")
    open(empty, "w").close()
    for path, why in [(empty, "empty"), (os.path.join(d, "missing"), "No such file")]:
        port, ap = h.free_port(), h.free_port()
        text = h.config(port, bs, top_extra="admin: {listen: 127.0.0.1:%d, token_file: %s}" % (ap, path))
        cfg = h.write_file(text)
        r = h.run_fulcrum(["--check", "-c", cfg])
        h.eq(r.returncode, 1, "--check fails: %s" % r.stdout)
        h.check(path in r.stderr and why in r.stderr, "--check names the file: %r" % r.stderr)
        f = h.Fulcrum(["-c", cfg], port=port, wait=False)
        h.check(f.wait(10) == 1, "fulcrum exits 1")
        h.check(path in f.stderr_text() and why in f.stderr_text(), "the log names the file: %r"
                % f.stderr_text()[-500:])


@h.test
def unwritable_state_dir_changes_nothing():
    bs = h.echo_backends(1, prefix="sd")
    d = h.tmpdir()
    blocker = os.path.join(d, "file")
    open(blocker, "w").close()
    # state_dir's fallbacks ($XDG_STATE_HOME/fulcrum, ~/.local/state/fulcrum) blocked too
    saved = {k: os.environ.get(k) for k in ("HOME", "XDG_STATE_HOME")}
    os.environ["HOME"] = blocker
    os.environ["XDG_STATE_HOME"] = blocker
    try:
        a = Admin(bs, state=os.path.join(blocker, "state"))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    new = h.Echo(name="sd-new")
    e = err(a.call("POST", "/api/pools/web/servers", {"url": new.url, "name": "sd-new"}), 500,
            "journal cannot be written", "nothing was changed")
    h.check(blocker in e["error"], "the error names the directory: %r" % e["error"])
    err(a.call("PATCH", "/api/pools/web/servers/sd-1", {"weight": 7}), 500, "patch", "nothing was changed")
    err(a.call("DELETE", "/api/pools/web/servers/sd-1"), 500, "delete", "nothing was changed")
    h.eq(a.names(), ["sd-1"], "no server added or removed")
    s = a.server("sd-1")
    h.eq((s["weight"], s["admin_state"], s["state"]), (1, "ready", "healthy"), "nothing applied")
    h.eq(who(a.port, 4), collections.Counter({"sd-1": 4}), "traffic as before")


@h.test
def journal_survives_a_restart():
    bs = h.echo_backends(3, prefix="jr")
    cfg = h.write_file("")
    a = Admin(bs, config_path=cfg)
    port, admin, state = a.port, a.admin, a.state
    new = h.Echo(name="jr-new")
    h.eq(a.call("POST", "/api/pools/web/servers", {"url": new.url, "name": "jr-new", "weight": 2}).status,
         201, "add")
    h.eq(a.call("PATCH", "/api/pools/web/servers/jr-1", {"weight": 3}).status, 200, "weight")
    h.eq(a.call("PATCH", "/api/pools/web/servers/jr-2", {"state": "drain"}).status, 200, "drain")
    h.eq(a.call("DELETE", "/api/pools/web/servers/jr-3").status, 202, "delete")
    h.wait_until(lambda: "jr-3" not in a.names(), timeout=2, what="jr-3 removed")
    with open(os.path.join(state, "journal.json")) as f:
        j = json.load(f)
    h.eq(j, {"version": 1, "pools": {"web": {
        "added": [{"name": "jr-new", "url": new.url, "weight": 2}],
        "removed": ["jr-3"],
        "servers": {"jr-1": {"weight": 3}, "jr-2": {"state": "drain"}}}}}, "the journal")
    h.check(not os.path.exists(os.path.join(state, "journal.json.tmp")), "no temp file left")
    h.eq(oct(os.stat(state).st_mode & 0o777), "0o750", "state_dir created 0750")
    a.f.stop()
    # --check says what the journal changes
    r = h.run_fulcrum(["--check", "-c", cfg])
    h.eq(r.returncode, 0, "--check: %s %s" % (r.stdout, r.stderr))
    line = "journal %s/journal.json: pool web: removes server jr-3, adds server jr-new (%s, weight 2), " \
           "sets jr-1 weight 3, drains jr-2" % (state, new.url)
    h.check(line in r.stdout, "--check prints the journal's changes:\n%s" % r.stdout)
    # the same file and state_dir: the API's changes are there
    b = Admin(bs, config_path=cfg, port=port, admin_port=admin, state=state)
    h.eq(b.names(), ["jr-1", "jr-2", "jr-new"], "servers after the restart")
    h.eq(b.server("jr-1")["weight"], 3, "jr-1's weight")
    h.eq((b.server("jr-2")["admin_state"], b.server("jr-2")["state"]), ("drain", "draining"), "jr-2 drained")
    h.eq(b.server("jr-new")["weight"], 2, "jr-new's weight")
    h.check("journal %s/journal.json: pool web:" % state in b.f.stderr_text(), "the log says it")
    got = who(b.port, 30)
    h.eq(got, collections.Counter({"jr-1": 18, "jr-new": 12}), "traffic as the journal says")
    # the file edited on purpose: jr-new now in the file wins, the journal drops it
    b.f.stop()
    c = Admin(bs + [new], config_path=cfg, port=port, admin_port=admin, state=state)
    c.f.wait_for_log("server jr-new is in the file now", timeout=3)
    with open(os.path.join(state, "journal.json")) as f:
        j = json.load(f)
    h.eq(j["pools"]["web"]["added"], [], "the dropped entry is gone from the journal")
    h.eq(c.server("jr-new")["weight"], 1, "the file's jr-new")


@h.test
def garbage_and_connection_floods_do_not_hurt():
    """Random bytes, cut requests and more connections than the admin takes:
    the admin answers or closes, fulcrum keeps serving traffic and the API."""
    import random
    rnd = random.Random(7)
    a = Admin(h.echo_backends(1, prefix="gb"))
    pieces = [b"GET ", b"POST ", b"PATCH ", b"/api/pools", b"/web", b"/servers/gb-1", b"?wait=removable",
              b" HTTP/1.1\r\n", b"Host: x\r\n", b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n",
              b"Authorization: Bearer " + TOKEN.encode() + b"\r\n", b"\r\n", b"{\"weight\": 2}", b"\x00\xff",
              b"%zz", b"5\r\nhello\r\n0\r\n\r\n", b"\n", b" "]
    for i in range(150):
        data = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 12)))
        if rnd.random() < 0.3:
            data = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 200)))
        try:
            with h.Conn(a.admin, timeout=5) as c:
                c.send(data)
                c.sock.shutdown(socket.SHUT_WR)
                c.wait_closed(3)
        except OSError:
            pass
        h.check(a.f.alive(), "fulcrum alive after input %d: %r" % (i, data[:80]))
    # more connections than FC_ADMIN_MAX_CONNS (64): the extra ones get 503 and close
    held = [h.Conn(a.admin) for _ in range(64)]
    extra = h.Conn(a.admin)
    h.check(extra.wait_closed(3), "the 65th connection is closed")
    h.check(bytes(extra.buf).startswith(b"HTTP/1.1 503"), "with a 503: %r" % bytes(extra.buf[:40]))
    extra.close()
    for c in held:
        c.close()
    h.wait_until(lambda: a.call("GET", "/api/pools", token=None).status == 200, timeout=3,
                 what="the API answers again")
    h.eq(h.get(a.port, "/").status, 200, "traffic is served")
    h.eq(a.names(), ["gb-1"], "the pool is intact")


@h.test
def api_reload_and_the_journal_on_reload():
    """POST /api/reload reloads the file (a broken one: 400 with file:line:col,
    nothing changed); a server added through the API stays after a reload,
    and the reload counters say how it went."""
    bs = h.echo_backends(2, prefix="rl")
    cfg = h.write_file("")
    a = Admin(bs[:1], config_path=cfg)
    new = h.Echo(name="rl-api")
    h.eq(a.call("POST", "/api/pools/web/servers", {"url": new.url, "name": "rl-api"}).status, 201, "add")
    good = open(cfg).read()
    for i in range(10):
        h.eq(h.get(a.port, "/c%d" % i).status, 200, "traffic before")
    before = a.server("rl-1")["requests"]
    h.check(before >= 1, "rl-1 counted requests: %d" % before)
    # the file gains rl-2 and another algorithm; the journal's rl-api is applied on top
    with open(cfg, "w") as f:
        f.write(good.replace("    servers:\n", "    servers:\n      - {url: %s, name: rl-2, weight: 1}\n"
                             % bs[1].url, 1).replace("algorithm: round_robin", "algorithm: least_conn"))
    r = a.call("POST", "/api/reload")
    h.eq(r.status, 200, "reload: %s" % r.body)
    h.eq(sorted(a.names()), ["rl-1", "rl-2", "rl-api"], "file and journal after the reload")
    h.eq(a.get("/api/pools/web")["algorithm"], "least_conn", "the new algorithm runs")
    h.check(a.server("rl-1")["requests"] >= before, "the rebuilt pool kept rl-1's counters")
    with open(cfg, "w") as f:
        f.write(good.replace("weight: 1", "weight: 1001", 1))
    r = a.call("POST", "/api/reload")
    e = err(r, 400, "broken reload", "weight")
    h.check(cfg + ":" in e["error"], "the error names the file: %r" % e["error"])
    h.eq(sorted(a.names()), ["rl-1", "rl-2", "rl-api"], "nothing changed")
    m = h.request(a.admin, "GET", "/metrics").body.decode()
    h.check('fulcrum_reloads_total{result="success"} 1' in m, "one good reload counted")
    h.check('fulcrum_reloads_total{result="failure"} 1' in m, "one failed reload counted")
    h.eq(a.call("POST", "/api/reload", token=None).status, 401, "reload needs the token")


h.main()
