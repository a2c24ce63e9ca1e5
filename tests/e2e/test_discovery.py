"""Servers from DNS (docs/cluster.md, "Servers from DNS"): a real dnsmasq on a
free loopback port serves SRV and A records; fulcrum's pool follows them. SRV
weights share the requests; a higher SRV priority is a backup tier that takes
requests only while the lower one is down; records added and removed while
serving (a removed server drains; the servers that stay keep their counters);
a resolver that stops answering, or an answer with no record, keeps the
last servers; record TTLs shorten the interval; A records on discover.port;
a reload with the same discover: keeps the servers; the admin
API and /metrics report the lookups."""
import collections
import http.client
import json
import os
import signal
import time

import harness as h
from dnsmasq import Dns

TOKEN = "disc0very"


def start(dns, discover, extra_pool="", top=""):
    d = h.tmpdir()
    port, admin = h.free_port(), h.free_port()
    with open(os.path.join(d, "token"), "w") as f:
        f.write(TOKEN + "\n")
    text = ("workers: 2\nshutdown_grace: 2s\nlog: {level: info, error: stderr, access: off}\n"
            "state_dir: %s\nadmin: {listen: 127.0.0.1:%d, token_file: %s}\n%s"
            "listeners:\n  - {name: web, address: 127.0.0.1:%d, routes: [{pool: web}]}\n"
            "pools:\n  web:\n    connect_timeout: 2s\n    discover: {%s, resolvers: [127.0.0.1:%d], "
            "interval: 30s, timeout: 300ms}\n%s"
            % (os.path.join(d, "state"), admin, os.path.join(d, "token"), top, port, discover,
               dns.port, extra_pool))
    path = h.write_file(text)
    r = h.run_fulcrum(["-c", path, "--check"])
    h.eq(r.returncode, 0, "--check: %s" % r.stderr)
    f = h.Fulcrum(["-c", path], port=port)
    h.check(h.wait_port(admin, 10, f.proc), "the admin port listens")
    f.admin = admin
    f.path = path
    return f


def api(f, path):
    r = h.request(f.admin, "GET", path, headers=[("Authorization", "Bearer " + TOKEN)])
    h.eq(r.status, 200, "GET %s" % path)
    return r.json()


def pool(f):
    return [p for p in api(f, "/api/pools")["pools"] if p["name"] == "web"][0]


def servers(f):
    return {s["name"]: s for s in pool(f)["servers"]}


def wait_servers(f, names, timeout=10):
    deadline = time.time() + timeout * h.SLOW
    got = None
    while time.time() < deadline:
        got = servers(f)
        if set(got) == set(names):
            return got
        time.sleep(0.1)
    h.fail("servers %s, wanted %s" % (sorted(got or ()), sorted(names)))


def spread(port, n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10 * h.SLOW)
    seen = collections.Counter()
    for _ in range(n):
        c.request("GET", "/")
        r = c.getresponse()
        r.read()
        h.eq(r.status, 200, "GET /")
        seen[r.getheader("X-Echo-Name")] += 1
    c.close()
    return seen


@h.test(timeout=60)
def srv_weights_priorities_and_changes():
    dns = Dns()
    a1, a2, b1, a3 = (h.Echo(name=n) for n in ("a1", "a2", "b1", "a3"))
    dns.set(srv=[("a1.app.test", a1.port, 10, 10), ("a2.app.test", a2.port, 10, 30),
                 ("b1.app.test", b1.port, 20, 10)])
    f = start(dns, "dns: _http._tcp.app.test")
    n1, n2, nb = ("a1.app.test:%d" % a1.port, "a2.app.test:%d" % a2.port,
                  "b1.app.test:%d" % b1.port)
    got = wait_servers(f, [n1, n2, nb])
    h.eq(got[n1]["url"], "http://127.0.0.1:%d" % a1.port, "the SRV target's address")
    h.eq((got[n1]["weight"], got[n2]["weight"], got[nb]["weight"]), (10, 30, 10), "SRV weights")
    h.eq((got[n1]["tier"], got[n2]["tier"], got[nb]["tier"]), (0, 0, 1),
         "the higher priority is backup tier 1")
    seen = spread(f.port, 400)
    h.eq(seen["b1"], 0, "the backup takes nothing while the primaries serve: %r" % seen)
    h.check(70 <= seen["a1"] <= 130 and seen["a2"] == 400 - seen["a1"],
            "10:30 weights share 400 requests about 100:300: %r" % seen)
    # both primaries down: the backup tier serves, at once
    a1.kill()
    a2.kill()
    deadline = time.time() + 10 * h.SLOW
    while time.time() < deadline:
        try:
            if spread(f.port, 10)["b1"] == 10:
                break
        except AssertionError:
            pass
        time.sleep(0.1)
    h.eq(spread(f.port, 20)["b1"], 20, "the backup serves while the primaries are down")
    # a record added, one removed, one changed weight; counters of those that stay are kept
    before = servers(f)[nb]["requests"]
    n3 = "a3.app.test:%d" % a3.port
    dns.set(srv=[("a3.app.test", a3.port, 10, 5), ("b1.app.test", b1.port, 20, 7)])
    got = wait_servers(f, [n3, nb])
    h.eq(got[nb]["weight"], 7, "the new weight, in place")
    h.check(got[nb]["requests"] >= before, "b1 kept its counters: %r" % got[nb])
    h.eq(spread(f.port, 20)["a3"], 20, "the new primary takes every request")
    # a target at another address: the same name, the server replaced
    dns.set(srv=[("a3.app.test", a3.port, 10, 5), ("b1.app.test", b1.port, 20, 7)],
            a=[("b1.app.test", "127.0.0.2")])
    deadline = time.time() + 5 * h.SLOW
    while time.time() < deadline and servers(f)[nb]["url"] != "http://127.0.0.2:%d" % b1.port:
        time.sleep(0.1)
    h.eq(servers(f)[nb]["url"], "http://127.0.0.2:%d" % b1.port, "the moved target's new address")
    info = pool(f)["discover"]
    h.eq((info["dns"], info["type"], info["servers"], info["last_result"]),
         ("_http._tcp.app.test", "srv", 2, "ok"), "the admin API's discover: %r" % info)
    h.check("discover: pool web: _http._tcp.app.test: 2 servers" in f.stderr_text(),
            "the change is logged")
    # the resolver stops answering: the servers stay, one line says so
    dns.stop()
    deadline = time.time() + 10 * h.SLOW
    while time.time() < deadline and pool(f)["discover"]["last_result"] != "failed":
        time.sleep(0.2)
    info = pool(f)["discover"]
    h.eq(info["last_result"], "failed", "the lookup fails: %r" % info)
    time.sleep(2.5)
    h.eq(set(servers(f)), {n3, nb}, "the last answer's servers stay")
    h.eq(spread(f.port, 10)["a3"], 10, "and serve")
    h.eq(f.stderr_text().count("looking up _http._tcp.app.test failed"), 1,
         "one log line for the failure, not one per lookup")
    m = h.request(f.admin, "GET", "/metrics").text()
    h.check('fulcrum_discovery_lookups_total{pool="web",result="failed"}' in m and
            'fulcrum_discovery_servers{pool="web"} 2' in m, "metrics: %s" %
            [l for l in m.splitlines() if "discovery" in l])
    dns.start()
    deadline = time.time() + 10 * h.SLOW
    while time.time() < deadline and pool(f)["discover"]["last_result"] != "ok":
        time.sleep(0.2)
    h.check("_http._tcp.app.test answers again" in f.stderr_text(), "recovery is logged")
    f.stop()
    dns.stop()


@h.test(timeout=60)
def a_records_reload_and_a_draining_removal():
    dns = Dns()
    e1 = h.Echo(name="e1")
    e2 = h.Echo(name="e2", latency=1500)
    # two addresses of one name on one port: 127.0.0.2 reaches e1's port too
    port = e1.port
    dns.set(a=[("web.app.test", "127.0.0.1")])
    f = start(dns, "dns: web.app.test, type: a, port: %d" % port)
    got = wait_servers(f, ["127.0.0.1:%d" % port])
    h.eq(got["127.0.0.1:%d" % port]["tier"], 0, "an A record is a primary")
    h.eq(spread(f.port, 5)["e1"], 5, "A records on discover.port")
    # a reload with the same discover: keeps the server and its counters
    n = servers(f)["127.0.0.1:%d" % port]["requests"]
    with open(f.path) as fh:
        text = fh.read()
    with open(f.path, "w") as fh:
        fh.write(text.replace("connect_timeout: 2s", "connect_timeout: 3s"))
    r = h.run_fulcrum(["-c", f.path, "--check"])
    h.eq(r.returncode, 0, "--check after the edit")
    f.send_signal(signal.SIGHUP)
    f.wait_for_log("reload:", timeout=10 * h.SLOW)
    got = servers(f)
    h.eq(list(got), ["127.0.0.1:%d" % port], "the discovered server is still there after a reload")
    h.check(got["127.0.0.1:%d" % port]["requests"] >= n, "with its counters: %r" % got)
    h.check("(0 added, 0 removed)" in f.stderr_text(), "the reload adds and removes nothing")
    f.stop()
    # a slow request on a server whose record goes: it drains, then leaves
    dns.set(a=[("web.app.test", "127.0.0.1")])
    f = start(dns, "dns: web.app.test, type: a, port: %d" % e2.port)
    name = "127.0.0.1:%d" % e2.port
    wait_servers(f, [name])
    import threading
    out = {}

    def slow():
        out["r"] = h.request(f.port, "GET", "/", timeout=10 * h.SLOW)
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    # the record moves to another address: the old server drains, then goes
    moved = "127.0.0.2:%d" % e2.port
    dns.set(a=[("web.app.test", "127.0.0.2")])
    deadline = time.time() + 5 * h.SLOW
    while time.time() < deadline and servers(f).get(name, {}).get("state") != "draining":
        time.sleep(0.05)
    h.eq(servers(f).get(name, {}).get("state"), "draining",
         "the old server drains while its request is in flight (TTL 1 s, interval 30 s)")
    t.join()
    h.eq(out["r"].status, 200, "the request in flight finishes")
    wait_servers(f, [moved], timeout=5)
    h.check("server %s removed (no longer in web.app.test)" % name in f.stderr_text(),
            "the removal is logged")
    # no record at all: the last answer's server stays, one line says so
    dns.set(a=[])
    deadline = time.time() + 5 * h.SLOW
    while time.time() < deadline and pool(f)["discover"]["last_result"] != "empty":
        time.sleep(0.1)
    h.eq(pool(f)["discover"]["last_result"], "empty", "NXDOMAIN is an empty answer")
    time.sleep(2.2)
    h.eq(list(servers(f)), [moved], "an empty answer keeps the last servers")
    h.eq(f.stderr_text().count("web.app.test has no record; keeping the 1 server"), 1,
         "logged once")
    f.stop()
    dns.stop()


@h.test(timeout=30)
def check_reports_discover_errors():
    path = h.write_file("listeners: [{address: 127.0.0.1:%d, routes: [{pool: web}]}]\n"
                        "pools:\n  web:\n    discover: {dns: \"bad name\", resolvers: [dns.google]}\n"
                        % h.free_port())
    r = h.run_fulcrum(["-c", path, "--check"])
    h.eq(r.returncode, 1, "--check fails")
    h.check(":4:21: pools.web.discover.dns: must be a DNS name" in r.stderr and
            "pools.web.discover.resolvers[0]: must be an IP address" in r.stderr, r.stderr)


h.main()
