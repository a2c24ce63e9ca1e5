"""The status page (GET / on the admin listener) in headless Chromium: it is
the repository's src/admin/status.html, served with a Content-Security-Policy
naming its inline script and style by hash; once its script has run it shows
every server of the pool with the state the API reports; a backend killed
under active health checks turns dead on the page within seconds, without a
reload; the request counters and the requests/s chart follow real traffic;
the page asks nothing of any other origin; with a token its buttons drain,
ready and re-weight through PATCH, and a refused change shows the API's error;
a fulcrum that stops answering brings up 'Connection lost — retrying'; with
cluster.redis one line shows the Redis state (up, then down once it is
killed); a pool's discover: and resolve: lookups show in its facts.
Screenshots go to <build>/test-artifacts/ (printed)."""
import base64
import hashlib
import json
import os
import re
import threading
import time

import cdp
import harness as h
import redis_helper

HEALTH = "{path: /health, interval: 200ms, timeout: 100ms, rise: 2, fall: 2}"
TOKEN = "status-page-test-token-0123456789"
PAGE = os.path.join(h.ROOT, "src", "admin", "status.html")
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(h.FULCRUM_BIN)), "test-artifacts")
LOOP = "-epoll" if os.environ.get("FULCRUM_IO_URING") == "off" else ""

# What the page shows of each server row, read from the rendered DOM: the
# data- attributes and the text a person sees.
ROWS_JS = """JSON.stringify([...document.querySelectorAll('tr[data-server]')].map(r => ({
  pool: r.dataset.pool, server: r.dataset.server, state: r.dataset.state,
  admin: r.dataset.adminState, badge: r.querySelector('.state').innerText.trim(),
  name: r.querySelector('.sname').innerText, reason: r.children[2].firstChild.innerText,
  weight: r.children[3].firstChild.innerText, requests: r.children[5].innerText,
  rps: r.querySelector('td:nth-child(7) path').getAttribute('d') || ''})))"""
POOL_JS = """JSON.stringify([...document.querySelectorAll('section.pool')].map(s => ({
  pool: s.dataset.pool, status: s.dataset.status, badge: s.querySelector('.ph .badge').innerText,
  detail: s.querySelector('.ph .detail').innerText})))"""
POLLS_JS = "document.body ? +(document.body.dataset.polls || 0) : 0"
BADGE = {"healthy": "healthy", "lame_duck": "lame duck", "dead": "dead", "draining": "draining"}


def start(names, pool_extra=None):
    bs = [h.Echo(name=n) for n in names]
    port, aport = h.free_port(), h.free_port()
    while aport == port:
        aport = h.free_port()
    text = h.config(port, bs, pool_extra=dict({"health": HEALTH}, **(pool_extra or {})), log_level="info",
                    top_extra="state_dir: %s\nadmin: {listen: 127.0.0.1:%d}"
                    % (os.path.join(h.tmpdir(), "state"), aport))
    f = h.Fulcrum.from_config(text, port=port, env={"FULCRUM_ADMIN_TOKEN": TOKEN})
    h.check(h.wait_port(aport, 10, f.proc), "the admin listener on %d: %s" % (aport, f.stderr_text()[-2000:]))
    return bs, f, aport


def api(aport):
    r = h.get(aport, "/api/pools")
    h.eq(r.status, 200, "GET /api/pools")
    return r.json()["pools"]


def api_servers(aport):
    return {(p["name"], s["name"]): s for p in api(aport) for s in p["servers"]}


def rows(b):
    return {(r["pool"], r["server"]): r for r in json.loads(b.evaluate(ROWS_JS))}


def wait_polls(b, more, timeout=10):
    """Waits until the page has rendered `more` further successful polls."""
    n = b.evaluate(POLLS_JS)
    b.wait("%s >= %d" % (POLLS_JS, n + more), timeout, "%d more polls of the API" % more)


def wait_page_matches_api(b, aport, timeout=6):
    """Waits until every server row shows what the API says now (state, badge,
    admin state, requests, weight, reason) and returns (rows, servers)."""
    deadline = time.monotonic() + timeout * h.SLOW
    while True:
        want = api_servers(aport)
        got = rows(b)
        bad = []
        if set(got) != set(want):
            bad.append("rows %s, API servers %s" % (sorted(got), sorted(want)))
        for k, s in want.items():
            r = got.get(k)
            if not r:
                continue
            if r["state"] != s["state"] or r["badge"] != BADGE[s["state"]]:
                bad.append("%s: page %s/%r, API %s" % (k[1], r["state"], r["badge"], s["state"]))
            if r["admin"] != s["admin_state"]:
                bad.append("%s: admin state %s, API %s" % (k[1], r["admin"], s["admin_state"]))
            if r["requests"].replace(",", "") != str(s["requests"]):
                bad.append("%s: requests %r, API %s" % (k[1], r["requests"], s["requests"]))
            if r["weight"].replace(",", "") != str(s["weight"]):
                bad.append("%s: weight %r, API %s" % (k[1], r["weight"], s["weight"]))
            if r["reason"] != (s["reason"] or "—"):
                bad.append("%s: reason %r, API %r" % (k[1], r["reason"], s["reason"]))
            if r["name"] != s["name"]:
                bad.append("%s: shown as %r" % (k[1], r["name"]))
        if not bad:
            return got, want
        if time.monotonic() > deadline:
            h.fail("the page does not show the API's state: %s" % "; ".join(bad))
        time.sleep(0.2)


def open_page(aport):
    b = cdp.Browser(width=1500, height=760)
    for domain in ("Network", "Runtime", "Log", "Page"):
        b.call(domain + ".enable")
    b.call("Page.navigate", url="http://127.0.0.1:%d/" % aport)
    b.wait("%s >= 2" % POLLS_JS, 15, "the page's script to render two polls")
    return b


def problems(b, refused_requests=False):
    """Script exceptions, console errors and CSP violations the page caused;
    refused_requests: an API answer of 4xx (Chromium logs each) is expected."""
    out = []
    for e in b.events:
        m, p = e["method"], e["params"]
        if m == "Runtime.exceptionThrown":
            out.append("exception: %s" % json.dumps(p["exceptionDetails"])[:400])
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console.%s: %s" % (p["type"], json.dumps(p.get("args"))[:400]))
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            if refused_requests and p["entry"].get("source") == "network" and " status of 4" in p["entry"]["text"]:
                continue
            out.append("log: %s" % p["entry"].get("text"))
    return out


def requested_urls(b):
    return [e["params"]["request"]["url"] for e in b.events if e["method"] == "Network.requestWillBeSent"]


def shot(b, name):
    path = b.screenshot(os.path.join(ARTIFACTS, "%s%s.png" % (name, LOOP)))
    print("screenshot: %s" % path)
    return path


@h.test
def served_page_is_the_file_with_its_policy():
    bs, f, aport = start(["sp-a", "sp-b"])
    r = h.get(aport, "/")
    h.eq(r.status, 200, "GET / status")
    with open(PAGE, "rb") as fp:
        page = fp.read()
    h.check(r.body == page, "GET / serves src/admin/status.html byte for byte (%d bytes, file %d)"
            % (len(r.body), len(page)))
    h.check(len(page) < 22 * 1024, "the page is small: %d bytes" % len(page))
    h.eq((r.header("Content-Type") or "").lower().replace(" ", ""), "text/html;charset=utf-8", "Content-Type")
    h.check("no-store" in (r.header("Cache-Control") or ""), "Cache-Control: %r" % r.header("Cache-Control"))
    csp = r.header("Content-Security-Policy") or ""
    h.check(csp, "a Content-Security-Policy header")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    h.eq(directives.get("default-src"), ["'none'"], "default-src")
    h.eq(directives.get("connect-src"), ["'self'"], "connect-src: fetches go to the admin origin only")
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        m = re.findall(rb"<%s>(.*?)</%s>" % (tag.encode(), tag.encode()), page, re.S)
        h.eq(len(m), 1, "inline <%s> elements" % tag)
        want = "'sha256-%s'" % base64.b64encode(hashlib.sha256(m[0]).digest()).decode()
        h.eq(directives.get(directive), [want], "%s: the hash of the inline %s" % (directive, tag))
    h.check("unsafe-inline" not in csp and "unsafe-eval" not in csp, "no unsafe-*: %s" % csp)
    # nothing in the page points anywhere: no absolute URLs, no src= or
    # href= other than the data: favicon
    text = page.decode()
    h.eq(re.findall(r"https?:|//[a-z0-9]", text, re.I), [], "absolute URLs in the page")
    h.eq(re.findall(r"""\b(?:src|href)\s*=\s*(?!["']?data:)[^\s>]*""", text, re.I), [], "src/href attributes")
    h.eq(re.findall(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", text), [],
         "HTML sinks in the script (the page inserts API data as text only)")
    # a HEAD of the page and an unknown path are not the page
    h.eq(h.request(aport, "HEAD", "/").status, 200, "HEAD /")
    h.check(h.get(aport, "/no-such-page").status == 404, "an unknown path is 404")


@h.test(timeout=150)
def page_shows_real_state_and_a_killed_server_goes_dead():
    names = ["sp-0", "sp-1", "sp-2"]
    bs, f, aport = start(names)
    b = open_page(aport)
    got, want = wait_page_matches_api(b, aport)
    h.eq(sorted(k[1] for k in got), names, "one row per configured server")
    h.eq({r["state"] for r in got.values()}, {"healthy"}, "all three start healthy on the page")
    pools = json.loads(b.evaluate(POOL_JS))
    a = api(aport)[0]
    h.eq([(p["pool"], p["status"], p["badge"], p["detail"]) for p in pools],
         [("web", a["status"], a["status"], a["detail"])], "the pool's heading")
    h.eq(a["status"], "healthy", "API pool status")

    # real traffic, 10 requests a second for 3 s: the counters on the page
    # follow it, the rate chart rises
    for i in range(30):
        h.eq(h.get(f.port, "/x?i=%d" % i).status, 200, "request %d through the proxy" % i)
        time.sleep(0.1)
    got, want = wait_page_matches_api(b, aport)
    h.eq(sum(s["requests"] for s in want.values()), 30, "requests counted by the API")
    wait_polls(b, 2)
    charts = {k[1]: [float(y) for y in re.findall(r"[ML][\d.]+ ([\d.]+)", r["rps"])] for k, r in rows(b).items()}
    risen = [n for n, ys in charts.items() if ys and min(ys) < 12]
    h.check(risen, "the requests/s chart of some server shows the traffic: %r" % charts)

    shot(b, "status-page-healthy")
    # a backend dies: active checks take it down, the open page follows
    t0 = time.monotonic()
    bs[1].kill()
    f.wait_for_log("server sp-1 is down", timeout=5)
    b.wait("(document.querySelector('tr[data-server=\"sp-1\"]') || {dataset: {}}).dataset.state === 'dead'",
           5, "the page to show sp-1 dead")
    took = time.monotonic() - t0
    got, want = wait_page_matches_api(b, aport)
    h.eq(got[("web", "sp-1")]["badge"], "dead", "sp-1's badge")
    h.check(got[("web", "sp-1")]["reason"] not in ("", "—"), "the reason is shown: %r" % got[("web", "sp-1")])
    h.eq({k[1]: r["state"] for k, r in got.items()}, {"sp-0": "healthy", "sp-1": "dead", "sp-2": "healthy"},
         "states on the page")
    a = api(aport)[0]
    pools = json.loads(b.evaluate(POOL_JS))
    h.eq([(p["status"], p["detail"]) for p in pools], [(a["status"], a["detail"])], "the pool's heading")
    h.eq(a["status"], "degraded", "API pool status with one server dead")
    print("sp-1 shown dead %.1f s after the kill" % took)
    shot(b, "status-page")

    h.eq(problems(b), [], "script errors, console errors, CSP violations")
    origin = "http://127.0.0.1:%d/" % aport
    urls = requested_urls(b)
    h.check(origin in urls and origin + "api/pools" in urls, "the page and the API were loaded: %r" % urls[:5])
    foreign = sorted({u for u in urls if not u.startswith(origin) and not u.startswith("data:")})
    h.eq(foreign, [], "requests to anywhere but the admin origin")
    h.eq(sorted({u for u in urls if u.startswith(origin)}), [origin, origin + "api/pools"],
         "what the page requested of the admin origin")

    # fulcrum stops: the page says so and keeps retrying
    f.stop()
    text = b.wait("!document.getElementById('conn-lost').hidden && document.getElementById('conn-lost').innerText",
                  6, "the connection-lost banner")
    h.check(text.startswith("Connection lost — retrying"), "banner text: %r" % text)
    shot(b, "status-page-lost")


@h.test(timeout=120)
def token_buttons_drain_ready_and_weight():
    names = ["sp-0", "sp-1", "sp-<i>2"]  # a name with markup in it is shown as text
    bs, f, aport = start(names)
    b = open_page(aport)
    wait_page_matches_api(b, aport)
    h.eq(b.evaluate("document.querySelectorAll('main i').length"), 0, "no element made from a server name")
    h.eq(b.evaluate("getComputedStyle(document.querySelector('td.act')).display"), "none",
         "no action buttons without a token")

    def use_token(tok):
        b.evaluate("document.getElementById('token-clear').click(); document.getElementById('token').value = %s;"
                   "document.getElementById('token-use').click(); 1" % json.dumps(tok))

    def click(server, act):
        sel = "tr[data-server=%s] button[data-act=%s]" % (json.dumps(server), act)
        h.check(b.evaluate("!!document.querySelector(%s) && !document.querySelector(%s).disabled"
                           % (json.dumps(sel), json.dumps(sel))), "button %s of %s is there and enabled" % (act, server))
        b.evaluate("document.querySelector(%s).click(); 1" % json.dumps(sel))

    def message():
        return b.wait("!document.getElementById('action-msg').hidden && "
                      "[document.getElementById('action-msg').className, document.getElementById('action-text').innerText]",
                      5, "the action's message")

    # a wrong token: the API refuses, the page shows the API's own words
    use_token("not-the-token")
    h.eq(b.evaluate("getComputedStyle(document.querySelector('td.act')).display"), "table-cell", "buttons shown")
    h.eq(b.evaluate("sessionStorage.getItem('fulcrum.admin.token')"), "not-the-token", "kept in sessionStorage")
    refused = h.request(aport, "PATCH", "/api/pools/web/servers/sp-1", body=b'{"state": "drain"}',
                        headers={"Authorization": "Bearer not-the-token", "Content-Type": "application/json"})
    h.check(refused.status in (401, 403), "the API refuses a wrong token: %d" % refused.status)
    err = refused.json()["error"]
    click("sp-1", "drain")
    cls, text = message()
    h.check("err" in cls and err in text, "the refusal on the page %r names the API's error %r" % (text, err))
    h.eq(api_servers(aport)[("web", "sp-1")]["admin_state"], "ready", "nothing changed")

    # the right token: drain, then ready again
    use_token(TOKEN)
    click("sp-1", "drain")
    h.wait_until(lambda: api_servers(aport)[("web", "sp-1")]["admin_state"] == "drain", 5, what="drain in the API")
    got, want = wait_page_matches_api(b, aport)
    h.eq(got[("web", "sp-1")]["state"], want[("web", "sp-1")]["state"], "state after drain")
    h.eq(want[("web", "sp-1")]["state"], "draining", "the API's state after drain")
    shot(b, "status-page-draining")
    click("sp-1", "ready")
    h.wait_until(lambda: api_servers(aport)[("web", "sp-1")]["admin_state"] == "ready", 5, what="ready in the API")
    h.wait_until(lambda: api_servers(aport)[("web", "sp-1")]["state"] == "healthy", 5, what="sp-1 healthy again")
    wait_page_matches_api(b, aport)

    # the weight of the server with markup in its name (its URL path is escaped)
    odd = names[2]
    b.evaluate("(() => { const i = document.querySelector('tr[data-server=%s] td.act input');"
               "i.value = '7'; i.form.requestSubmit(); return 1; })()" % json.dumps(odd))
    h.wait_until(lambda: api_servers(aport)[("web", odd)]["weight"] == 7, 5, what="weight 7 in the API")
    got, _ = wait_page_matches_api(b, aport)
    h.eq(got[("web", odd)]["weight"], "7", "the weight on the page")
    h.eq(got[("web", odd)]["name"], odd, "the name shown as text")
    # a weight the API refuses: its error on the page
    b.evaluate("(() => { const i = document.querySelector('tr[data-server=\"sp-0\"] td.act input');"
               "i.value = '1000000'; i.form.requestSubmit(); return 1; })()")
    cls, text = b.wait("document.getElementById('action-msg').className.includes('err') && "
                       "[document.getElementById('action-msg').className, document.getElementById('action-text').innerText]",
                       5, "the refused weight's message")
    h.check("1000000" in text and "failed" in text, "refused weight message: %r" % text)
    h.eq(api_servers(aport)[("web", "sp-0")]["weight"], 1, "weight unchanged")
    h.eq(problems(b, refused_requests=True), [], "script errors, console errors, CSP violations")


FACTS_JS = "((document.querySelector('section.pool .ph .facts') || {}).innerText || '')"
ACTIVE_JS = "(document.querySelector('tr[data-server=\"q-0\"]') || {children: []}).children[4].innerText"


@h.test(timeout=90)
def queue_and_max_conns_on_the_page():
    """A pool with max_conns and a queue: the pool's facts show the queue's
    length, its max and how long requests waited, the server's row its cap."""
    bs, f, aport = start(["q-0"], pool_extra={"max_conns": 1, "queue": "{max: 5, timeout: 2s}"})
    b = open_page(aport)
    facts = b.wait("%s.includes('queue 0 / 5') && %s" % (FACTS_JS, FACTS_JS), 6, "the queue in the pool's facts")
    h.check("wait" not in facts, "no wait shown before anyone waited: %r" % facts)
    h.check(" of 1 " in b.evaluate(ACTIVE_JS), "the server's cap: %r" % b.evaluate(ACTIVE_JS))
    # one request holds the only slot, two wait: the page shows them waiting
    held = []
    for i in range(3):
        t = threading.Thread(target=lambda i=i: held.append(h.get(f.port, "/sleep/%d" % (3000 if i == 0 else 10),
                                                                 timeout=10).status))
        t.start()
        held.append(t)
        if i == 0:  # the slow one holds the slot before the others come
            h.wait_until(lambda: api(aport)[0]["servers"][0]["active"] == 1, timeout=3,
                         what="the first request at the server")
    b.wait("%s.includes('queue 2 / 5')" % FACTS_JS, 3, "two requests waiting on the page")
    for t in [x for x in held if isinstance(x, threading.Thread)]:
        t.join()
    statuses = sorted(x for x in held if isinstance(x, int))
    h.eq(statuses, [200, 503, 503], "the two waiting requests timed out after 2 s")
    facts = b.wait("%s.includes('queue 0 / 5, wait p99') && %s" % (FACTS_JS, FACTS_JS), 6,
                   "the wait in the pool's facts")
    a = api(aport)[0]["queue"]
    h.check(a["wait_p99_ms"] is not None, "the API's wait: %r" % a)
    shot(b, "status-page-queue")
    h.eq(problems(b), [], "script errors, console errors, CSP violations")


@h.test(timeout=60)
def dns_discovery_on_the_page():
    """A pool with discover: whose resolver does not answer: the pool's facts
    say so, with the reason, and the written server still serves."""
    dead = h.refused_port()
    bs, f, aport = start(["d-0"], pool_extra={
        "discover": "{dns: app.test, type: a, resolvers: [127.0.0.1:%d], timeout: 100ms}" % dead})
    b = open_page(aport)
    facts = b.wait("%s.includes('last lookup failed') && %s" % (FACTS_JS, FACTS_JS), 10,
                   "the failed lookup in the pool's facts")
    h.check("DNS a app.test: 0 servers, last lookup failed (" in facts, "the facts: %r" % facts)
    h.eq(api(aport)[0]["discover"]["last_result"], "failed", "the API agrees")
    h.eq(h.get(f.port, "/").status, 200, "the written server serves")
    h.eq(problems(b), [], "script errors, console errors, CSP violations")


@h.test(timeout=60)
def resolve_on_the_page():
    """A pool with resolve: whose resolver does not answer: a server written by
    host name stays out, the pool's facts say why, the written IP serves."""
    dead = h.refused_port()
    e = h.Echo(name="r-0")
    port, aport = h.free_port(), h.free_port()
    while aport == port:
        aport = h.free_port()
    text = h.config(port, [e, ("http://nowhere.app.test:%d" % e.port, "nowhere", 1)],
                    pool_extra={"resolve": "{resolvers: [127.0.0.1:%d], timeout: 100ms}" % dead},
                    top_extra="state_dir: %s\nadmin: {listen: 127.0.0.1:%d}"
                    % (os.path.join(h.tmpdir(), "state"), aport))
    f = h.Fulcrum.from_config(text, port=port, env={"FULCRUM_ADMIN_TOKEN": TOKEN})
    h.check(h.wait_port(aport, 10, f.proc), "the admin listener: %s" % f.stderr_text()[-2000:])
    b = open_page(aport)
    facts = b.wait("%s.includes('last lookup failed') && %s" % (FACTS_JS, FACTS_JS), 10,
                   "the failed lookup in the pool's facts")
    h.check("host names: 0/1 resolved, last lookup failed (nowhere.app.test: " in facts,
            "the facts: %r" % facts)
    pool = api(aport)[0]
    h.eq((pool["resolve"]["names"], pool["resolve"]["resolved"]), (1, 0), "the API agrees")
    h.eq([s["name"] for s in pool["servers"]], ["r-0"], "the unresolved server is not in the pool")
    h.eq(h.get(f.port, "/").status, 200, "the written address serves")
    h.eq(problems(b), [], "script errors, console errors, CSP violations")


REDIS_JS = "((document.getElementById('redis') || {}).textContent || '')"


@h.test(timeout=60)
def redis_state_on_the_page():
    """cluster.redis set: one line with the address and state, following the
    API's "redis" object; no line without cluster.redis (the other tests)."""
    redis = redis_helper.Redis()
    e = h.Echo(name="rd-0")
    port, aport = redis_helper.kernel_port(), redis_helper.kernel_port()
    top = ("state_dir: %s\nadmin: {listen: 127.0.0.1:%d}\n"
           "cluster:\n  redis: {address: 127.0.0.1:%d, password_file: %s}\n"
           "rate_limits:\n  g: {rate: 100/s, scope: global}"
           % (os.path.join(h.tmpdir(), "state"), aport, redis.port, redis_helper.password_file()))
    f = h.Fulcrum.from_config(h.config(port, [e], log_level="info", top_extra=top), port=port)
    h.check(h.wait_port(aport, 10, f.proc), "the admin listener")
    where = "127.0.0.1:%d" % redis.port
    f.wait_for_log("redis %s: up" % where, timeout=10)
    b = open_page(aport)
    line = b.wait("%s.includes('Redis %s: up') && %s" % (REDIS_JS, where, REDIS_JS), 6,
                  "the Redis line says up")
    h.check("0 errors" in line, "no errors yet: %r" % line)
    h.eq(h.get(aport, "/api/pools").json()["redis"]["state"], "up", "the API's redis state")
    shot(b, "status-page-redis-up")
    redis.kill()
    f.wait_for_log("redis %s: down" % where, timeout=5)
    b.wait("%s.includes('Redis %s: down — global rate limits follow on_redis_down')"
           % (REDIS_JS, where), 6, "the Redis line says down")
    shot(b, "status-page-redis-down")
    h.eq(problems(b), [], "no script errors")


h.main()
