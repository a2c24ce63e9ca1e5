"""Host names in url: resolved at run time (pools.*.resolve, docs/cluster.md,
"Host names that move"): a real dnsmasq on a free loopback port answers for
app.test, which this machine's own resolver does not know. --check and the
start do not need the names; a server enters the pool once its name
resolves, moves when its address changes (requests follow it), keeps its
last address while the resolver is down, and a reload keeps the servers
without waiting for DNS. The admin API, /metrics and the log report it."""
import json
import os
import signal
import threading
import time

import harness as h
from dnsmasq import Dns

TOKEN = "res0lve"


def start(dns, servers):
    d = h.tmpdir()
    port, admin = h.free_port(), h.free_port()
    with open(os.path.join(d, "token"), "w") as f:
        f.write(TOKEN + "\n")
    text = ("workers: 2\nshutdown_grace: 2s\nlog: {level: info, error: stderr, access: off}\n"
            "state_dir: %s\nadmin: {listen: 127.0.0.1:%d, token_file: %s}\n"
            "listeners:\n  - {name: web, address: 127.0.0.1:%d, routes: [{pool: web}]}\n"
            "pools:\n  web:\n    connect_timeout: 2s\n    retries: 0\n"
            "    resolve: {resolvers: [127.0.0.1:%d], interval: 30s, timeout: 300ms}\n"
            "    servers:\n%s"
            % (os.path.join(d, "state"), admin, os.path.join(d, "token"), port, dns.port,
               "".join("      - %s\n" % s for s in servers)))
    path = h.write_file(text)
    r = h.run_fulcrum(["-c", path, "--check"])
    h.eq(r.returncode, 0, "--check does not resolve the names: %s" % r.stderr)
    h.check("pool web: %d servers with a host name: resolved at run time (resolve:), not now"
            % len(servers) in r.stderr, "--check says so: %r" % r.stderr)
    f = h.Fulcrum(["-c", path], port=port)
    h.check(h.wait_port(admin, 10, f.proc), "the admin port listens")
    f.admin = admin
    f.path = path
    return f


def api(f, path):
    r = h.request(f.admin, "GET", path, headers=[("Authorization", "Bearer " + TOKEN)])
    h.eq(r.status, 200, "GET %s" % path)
    return r


def patch(f, name, body):
    r = h.request(f.admin, "PATCH", "/api/pools/web/servers/" + name,
                  headers=[("Authorization", "Bearer " + TOKEN), ("Content-Type", "application/json")],
                  body=json.dumps(body).encode())
    h.eq(r.status, 200, "PATCH %s %r: %s" % (name, body, r.body))


def pool(f):
    return [p for p in api(f, "/api/pools").json()["pools"] if p["name"] == "web"][0]


def servers(f):
    return {s["name"]: s for s in pool(f)["servers"]}


def wait_for(what, cond, timeout=8):
    deadline = time.time() + timeout * h.SLOW
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    h.fail("timed out waiting for " + what)


def names(f, n):
    seen = {}
    for _ in range(n):
        r = h.request(f.port, "GET", "/", timeout=5 * h.SLOW)
        h.eq(r.status, 200, "GET /")
        name = r.header("x-echo-name")
        seen[name] = seen.get(name, 0) + 1
    return seen


@h.test(timeout=90)
def names_resolve_move_and_keep_their_address():
    dns = Dns()
    one = h.Echo(name="one")
    two = h.Echo(name="two")
    # the same port on another loopback address: where api-1 moves to
    moved = h.Echo(name="moved", port=one.port, extra=["-host", "127.0.0.2"])
    dns.set(a=[("api-1.app.test", "127.0.0.1")])  # api-2 has no record yet
    n1, n2 = "api-1.app.test:%d" % one.port, "api-2.app.test:%d" % two.port
    f = start(dns, ["http://api-1.app.test:%d" % one.port,
                    "{url: http://api-2.app.test:%d, weight: 1}" % two.port])

    # the name that resolves is in the pool; the other stays out, said once
    got = wait_for("api-1 in the pool", lambda: servers(f).get(n1))
    h.eq(got["address"], "127.0.0.1:%d" % one.port, "connected at the resolved address")
    h.eq(got["url"], "http://api-1.app.test:%d" % one.port, "the URL as written")
    h.check(n2 not in servers(f), "a name without a record is not in the pool")
    h.eq(names(f, 6), {"one": 6}, "requests go to the resolved server")
    rv = wait_for("a failed round", lambda: pool(f)["resolve"]
                  if pool(f)["resolve"]["last_result"] == "failed" else None)
    h.eq((rv["names"], rv["resolved"]), (2, 1), "one of two names resolved: %r" % rv)
    h.check("api-2.app.test" in rv["last_error"], "the failing name is named: %r" % rv)
    m = api(f, "/metrics").text()
    h.check('fulcrum_resolve_unresolved_servers{pool="web"} 1' in m, "the metric counts it")
    h.check('fulcrum_resolve_lookups_total{pool="web",result="failed"}' in m, m[-2000:])
    time.sleep(2.5 * h.SLOW)  # retried every 2 s: still one log line
    h.eq(f.stderr_text().count("cannot resolve api-2.app.test"), 1,
         "the failing name is logged once: %s" % f.stderr_text()[-1500:])
    h.check("it stays out of the pool until the name resolves" in f.stderr_text(), "why")

    # its record appears: the server joins
    dns.set(a=[("api-1.app.test", "127.0.0.1"), ("api-2.app.test", "127.0.0.1")])
    wait_for("api-2 in the pool", lambda: servers(f).get(n2))
    h.eq(names(f, 8), {"one": 4, "two": 4}, "both servers take requests")
    h.check("api-2.app.test resolves again" in f.stderr_text(), "the recovery is logged")
    h.eq(pool(f)["resolve"]["resolved"], 2, "both resolved")

    # api-1 moves to 127.0.0.2 while a request is in flight on each server:
    # the server is replaced, the request finishes, new requests follow
    out = []

    def slow():
        out.append(h.request(f.port, "GET", "/sleep/3000", timeout=10 * h.SLOW))
    slows = [threading.Thread(target=slow) for _ in range(2)]
    for t in slows:
        t.start()
        time.sleep(0.1)
    patch(f, n1, {"weight": 3})  # set through the admin API: kept by the move
    dns.set(a=[("api-1.app.test", "127.0.0.2"), ("api-2.app.test", "127.0.0.1")])
    wait_for("api-1 at its new address",
             lambda: servers(f)[n1]["address"] == "127.0.0.2:%d" % one.port)
    h.check(all(t.is_alive() for t in slows), "the move came while the requests were in flight")
    h.eq(servers(f)[n1]["weight"], 3, "the moved server keeps the weight the API set")
    patch(f, n1, {"weight": 1})
    for t in slows:
        t.join()
    h.eq(sorted((r.status, r.header("x-echo-name")) for r in out), [(200, "one"), (200, "two")],
         "the request in flight on the old address finishes there")
    h.eq(names(f, 8), {"moved": 4, "two": 4}, "requests go to the new address")
    h.check("api-1.app.test moved from 127.0.0.1:%d to 127.0.0.2:%d" % (one.port, one.port)
            in f.stderr_text(), "the move is logged")
    one.stop()

    # the resolver goes: the servers keep their addresses, logged once each
    dns.stop()
    wait_for("a failed round", lambda: pool(f)["resolve"]["last_result"] == "failed")
    time.sleep(2.5 * h.SLOW)
    h.eq(names(f, 8), {"moved": 4, "two": 4}, "serving on the last addresses")
    h.eq(f.stderr_text().count("cannot resolve api-1.app.test"), 1, "logged once")
    h.check("it keeps its last address" in f.stderr_text(), "what happens is said")

    # a reload while DNS is down keeps both servers where they are: no gap
    with open(f.path) as fh:
        text = fh.read()
    with open(f.path, "w") as fh:
        fh.write(text.replace("connect_timeout: 2s", "connect_timeout: 3s"))
    f.send_signal(signal.SIGHUP)
    f.wait_for_log("reload:", timeout=10 * h.SLOW)
    got = servers(f)
    h.eq(sorted(got), sorted([n1, n2]), "a reload keeps the resolved servers")
    h.eq(got[n1]["address"], "127.0.0.2:%d" % one.port, "at their last address")
    h.check("(0 added, 0 removed)" in f.stderr_text(), "the reload changes no server")
    h.eq(names(f, 4), {"moved": 2, "two": 2}, "serving right after the reload")
    f.stop()
    for e in (two, moved):
        e.stop()


@h.test(timeout=30)
def check_reports_resolve_errors():
    path = h.write_file("listeners: [{address: 127.0.0.1:%d, routes: [{pool: web}]}]\n"
                        "pools:\n  web:\n    resolve: {resolvers: [dns.google]}\n"
                        "    servers: [http://api.app.test:80]\n" % h.free_port())
    r = h.run_fulcrum(["-c", path, "--check"])
    h.eq(r.returncode, 1, "--check fails")
    h.check("pools.web.resolve.resolvers[0]: must be an IP address" in r.stderr, r.stderr)
    # without resolve:, a name is resolved when the file is loaded
    path = h.write_file("listeners: [{address: 127.0.0.1:%d, routes: [{pool: web}]}]\n"
                        "pools:\n  web:\n    servers: [http://api.app.test:80]\n"
                        % h.free_port())
    r = h.run_fulcrum(["-c", path, "--check"])
    h.eq(r.returncode, 1, "--check fails")
    h.check('cannot resolve host "api.app.test"' in r.stderr, r.stderr)
    # resolve: on a pool whose servers are all addresses: nothing to resolve, said
    path = h.write_file("listeners: [{address: 127.0.0.1:%d, routes: [{pool: web}]}]\n"
                        "pools:\n  web:\n    resolve: true\n"
                        "    servers: [http://127.0.0.1:80]\n" % h.free_port())
    r = h.run_fulcrum(["-c", path, "--check"])
    h.eq(r.returncode, 0, "still a valid configuration")
    h.check(":4: pool web: resolve: no server's url has a host name; nothing is resolved "
            "(warning)" in r.stderr, r.stderr)


h.main()
