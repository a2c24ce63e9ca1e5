"""Instances that agree without talking (docs/cluster.md): three fulcrum
processes in front of the same servers, listed in a different order in each
configuration and with servers added and removed through each admin API in a
different order, send every one of 1,000 keys to the same server with
consistent_hash and with ip_hash (the real client address from
X-Forwarded-For), also while a server is down; a sticky cookie issued by one
instance is honoured by the others when they share sticky.secret (or the
same sticky.secret file in their state_dir), and is not (the client is
treated as new: a new cookie is issued) when they do not, which
`fulcrum --check` warns about."""
import http.client
import os

import harness as h

TOKEN = "t0ken-for-the-instance-tests"
SECRET = "a-shared-sticky-secret-0123456789"
KEYS = 1000


class Instance:
    def __init__(self, backends, algorithm, pool_extra=None, client=None, state_secret=None,
                 state_dir=None):
        d = h.tmpdir()
        if state_secret:  # the state directory's secret, copied in before the start
            os.makedirs(os.path.join(d, "state"), mode=0o750)
            with open(os.path.join(d, "state", "sticky.secret"), "wb") as f:
                f.write(state_secret)
        self.admin = h.free_port()
        self.port = h.free_port()
        with open(os.path.join(d, "token"), "w") as f:
            f.write(TOKEN + "\n")
        top = "state_dir: %s\nadmin: {listen: 127.0.0.1:%d, token_file: %s}" % (
            state_dir or os.path.join(d, "state"), self.admin, os.path.join(d, "token"))
        text = h.config(self.port, backends, algorithm=algorithm, workers=2, pool_extra=pool_extra,
                        client=client, top_extra=top)
        self.path = h.write_file(text)
        self.f = h.Fulcrum(["-c", self.path], port=self.port)
        h.check(h.wait_port(self.admin, 10, self.f.proc), "the admin port listens")
        self.conn = None

    def call(self, method, path, body=None):
        hs = [("Authorization", "Bearer " + TOKEN)]
        if body is not None:
            import json
            body = json.dumps(body).encode()
        return h.request(self.admin, method, path, headers=hs, body=body)

    def get(self, path, headers):
        """GET over one kept-alive connection: (served by, Set-Cookie)."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10 * h.SLOW)
            try:
                self.conn.request("GET", path, headers=dict(headers))
                r = self.conn.getresponse()
                r.read()
                h.eq(r.status, 200, "GET %s on :%d" % (path, self.port))
                return r.getheader("X-Echo-Name"), r.getheader("Set-Cookie")
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def close(self):
        if self.conn:
            self.conn.close()


def key_headers(algorithm, k):
    if algorithm == "ip_hash":
        return [("X-Forwarded-For", "10.%d.%d.%d" % (k // 62500, k // 250 % 250, k % 250))]
    return [("X-User", "user-%d" % k)]


def owners(inst, algorithm):
    return [inst.get("/k%d" % k, key_headers(algorithm, k))[0] for k in range(KEYS)]


def agreement(algorithm, pool_extra=None, client=None):
    bs = [h.Echo(name="%s-%d" % (algorithm[:4], i)) for i in range(4)]
    extra_server = h.Echo(name="%s-x" % algorithm[:4])
    # each instance lists the servers in its own order
    orders = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]]
    insts = [Instance([bs[i] for i in o], algorithm, pool_extra, client) for o in orders]
    try:
        want = owners(insts[0], algorithm)
        h.check(len(set(want)) == 4, "the keys spread over every server: %r" % sorted(set(want)))
        for n, inst in enumerate(insts[1:], 1):
            got = owners(inst, algorithm)
            same = sum(a == b for a, b in zip(want, got))
            h.eq(same, KEYS, "%s: instance %d agrees with instance 0 on %d of %d keys"
                 % (algorithm, n, same, KEYS))
        # servers added and removed at run time, in another order on each:
        # 0 adds x; 1 removes its 2 and adds x and 2 back; 2 adds x then
        # removes 0 and adds it back
        spec = lambda b: {"url": b.url, "name": b.name, "weight": 1}
        def add(inst, b):
            h.eq(inst.call("POST", "/api/pools/web/servers", spec(b)).status, 201, "add %s" % b.name)
        def remove(inst, b):
            r = inst.call("DELETE", "/api/pools/web/servers/%s" % b.name)
            h.check(r.status in (200, 202), "remove %s: %d %r" % (b.name, r.status, r.body[:200]))
            h.wait_until(lambda: b.name not in [s["name"] for s in
                                                inst.call("GET", "/api/pools/web").json()["servers"]],
                         timeout=10, what="%s gone" % b.name)
        add(insts[0], extra_server)
        remove(insts[1], bs[2])
        add(insts[1], extra_server)
        add(insts[1], bs[2])
        add(insts[2], extra_server)
        remove(insts[2], bs[0])
        add(insts[2], bs[0])
        h.wait_until(lambda: all(len(i.call("GET", "/api/pools/web").json()["servers"]) == 5
                                 for i in insts), timeout=5, what="five servers on every instance")
        want = owners(insts[0], algorithm)
        h.check(extra_server.name in want, "the added server takes keys")
        for n, inst in enumerate(insts[1:], 1):
            got = owners(inst, algorithm)
            same = sum(a == b for a, b in zip(want, got))
            h.eq(same, KEYS, "%s after adds and removes: instance %d agrees on %d of %d keys"
                 % (algorithm, n, same, KEYS))
        # a server down everywhere: its keys go to the same stand-ins
        bs[1].kill()
        for inst in insts:
            inst.f.wait_for_log("server %s is down" % bs[1].name, timeout=5)
        want = owners(insts[0], algorithm)
        h.check(bs[1].name not in want, "nothing goes to the dead server")
        for n, inst in enumerate(insts[1:], 1):
            got = owners(inst, algorithm)
            same = sum(a == b for a, b in zip(want, got))
            h.eq(same, KEYS, "%s with a server down: instance %d agrees on %d of %d keys"
                 % (algorithm, n, same, KEYS))
    finally:
        for i in insts:
            i.close()


HEALTH = "{path: /health, interval: 200ms, timeout: 150ms, rise: 1, fall: 1}"


@h.test(timeout=120)
def consistent_hash_agrees():
    agreement("consistent_hash", {"hash": "{key: header, name: X-User}", "health": HEALTH})


@h.test(timeout=120)
def ip_hash_agrees():
    agreement("ip_hash", {"health": HEALTH},
              client={"ip": "{header: X-Forwarded-For, trusted: [127.0.0.1]}"})


def sticky(secret, state_secret=None):
    bs = [h.Echo(name="st-%d" % i) for i in range(3)]
    sticky = "{cookie: fsticky, secret: %s}" % secret if secret else "cookie"
    insts = [Instance(bs if n == 0 else bs[::-1], "round_robin", {"sticky": sticky},
                      state_secret=state_secret) for n in range(3)]
    try:
        served, cookie = insts[0].get("/", [])
        h.check(cookie, "the first answer sets the cookie")
        value = cookie.split(";")[0]
        results = []
        for inst in insts:
            for i in range(6):
                results.append(inst.get("/", [("Cookie", value)]))
        return served, results
    finally:
        for i in insts:
            i.close()


@h.test(timeout=60)
def sticky_cookie_honoured_by_every_instance():
    served, results = sticky(SECRET)
    h.eq({r[0] for r in results}, {served}, "every instance sends the cookie to %s" % served)
    h.eq([r[1] for r in results if r[1]], [], "and none issues a new cookie")


@h.test(timeout=60)
def the_same_state_secret_file_is_shared_too():
    served, results = sticky(None, state_secret=bytes(range(32)))
    h.eq({r[0] for r in results}, {served}, "every instance sends the cookie to %s" % served)
    h.eq([r[1] for r in results if r[1]], [], "and none issues a new cookie")


@h.test(timeout=60)
def without_a_shared_secret_cookies_stay_local():
    served, results = sticky(None)
    others = results[6:]
    h.check(all(r[1] for r in others[::6]),
            "the other instances do not accept the cookie and issue their own: %r" % others[::6])
    # --check says so
    r = h.run_fulcrum(["-c", h.write_file(h.config(h.free_port(), [h.Echo(name="c")],
                                                   pool_extra={"sticky": "cookie"})), "--check"])
    h.eq(r.returncode, 0, "still a valid configuration")
    h.check("sticky cookies will not be shared with other instances" in r.stderr,
            "--check warns: %r" % r.stderr)


@h.test(timeout=60)
def a_shared_state_dir_is_warned_and_its_journal_stays_whole():
    """Two instances given one state_dir: the second says so at start; admin
    API changes made on both at once all succeed (each journal write has a
    temporary file of its own) and the journal left is whole JSON."""
    import json
    import threading
    bs = [h.Echo(name="sd-%d" % i) for i in range(2)]
    shared = os.path.join(h.tmpdir(), "state")
    a = Instance(bs, "round_robin", state_dir=shared)
    b = Instance(bs, "round_robin", state_dir=shared)
    b.f.wait_for_log("state_dir: %s is in use by another running fulcrum" % shared,
                     timeout=5 * h.SLOW)
    h.check("in use by another" not in a.f.stderr_text(), "the first instance is not warned")
    statuses = []

    def storm(inst):
        for i in range(40):
            r = inst.call("PATCH", "/api/pools/web/servers/sd-%d" % (i % 2), {"weight": 1 + i % 5})
            statuses.append((r.status, r.body[:200]))
    ts = [threading.Thread(target=storm, args=(inst,)) for inst in (a, b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    bad = [x for x in statuses if x[0] != 200]
    h.eq((len(statuses), bad), (80, []), "every PATCH on both instances succeeds")
    with open(os.path.join(shared, "journal.json")) as f:
        json.load(f)
    h.eq(sorted(n for n in os.listdir(shared) if n.endswith(".tmp")), [], "no temporary file left")


h.main()
