"""Rate limits: a client over its limit gets 429 with Retry-After and the
RateLimit-Policy / RateLimit fields (draft-ietf-httpapi-ratelimit-headers-11)
and its request never reaches a server, while another client (127.0.0.2, or
another address behind a trusted proxy) goes on; with 2 workers and 50
connections (h2load) the allowed rate holds within 5 %; exempt addresses
never count; a limit keyed by a header (and by the client address without
it); an HTTP/2 client gets its 429 too; a route's and a pool's limit both
apply; a reload keeps the buckets of an unchanged limit; the access log and
/metrics name the limit."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import harness as h


class ConnFrom(h.Conn):
    """A client connection from another loopback address (127.0.0.2)."""

    def __init__(self, port, source, timeout=10):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False


def get_from(port, source, path="/", headers=None):
    """One request on a fresh connection from source (None: 127.0.0.1)."""
    if source is None:
        return h.get(port, path, headers=headers)
    with ConnFrom(port, source, timeout=10 * h.SLOW) as c:
        return c.request("GET", path, headers)


def limited_proxy(limits, backends=None, route_limit=None, pool_limit=None, workers=2,
                  routes=None, pools_extra="", client=None, listener_extra="", access=None,
                  access_format="text", admin=False):
    """fulcrum with rate_limits (YAML lines, indented by 2) in front of one
    echo (pool web); route_limit/pool_limit attach one; routes replaces the
    route list (YAML lines indented by 6)."""
    e = backends or [h.Echo(name="rl")]
    port = h.free_port()
    top = "rate_limits:\n" + limits.rstrip("\n")
    if admin:
        f_admin = h.free_port()
        top += "\nadmin: {listen: 127.0.0.1:%d}" % f_admin
    text = h.config(port, e, workers=workers, top_extra=top, client=client,
                    listener_extra=listener_extra, access=access or "off",
                    access_format=access_format,
                    pool_extra={"rate_limit": pool_limit} if pool_limit else None)
    if route_limit:
        text = text.replace("      - {pool: web}", "      - {pool: web, rate_limit: %s}" % route_limit)
    if routes:
        text = text.replace("      - {pool: web}\n", routes.rstrip("\n") + "\n")
    if pools_extra:
        text = text.rstrip("\n") + "\n" + pools_extra.rstrip("\n") + "\n"
    f = h.Fulcrum.from_config(text, port=port)
    f.echoes = e
    if admin:
        h.check(h.wait_port(f_admin, 10, f.proc), "admin port")
        f.admin = f_admin
    return f


def check_429(r, name, q, w):
    """A rate limit's 429: Retry-After and the draft's two fields."""
    h.eq(r.status, 429, "status over the limit")
    ra = r.header("retry-after")
    h.check(ra is not None and ra.isdigit() and int(ra) >= 1, "Retry-After: %r" % ra)
    h.eq(r.header("ratelimit-policy"), '"%s";q=%d;w=%d' % (name, q, w), "RateLimit-Policy")
    h.eq(r.header("ratelimit"), '"%s";r=0;t=%s' % (name, ra), "RateLimit (t = Retry-After)")
    h.eq(r.header("cache-control"), "no-store", "Cache-Control")
    return int(ra)


def metric(f, name, limit):
    text = h.get(f.admin, "/metrics").text()
    m = re.search(r'^%s\{limit="%s"\} (\d+)$' % (re.escape(name), re.escape(limit)), text, re.M)
    h.check(m, "%s{limit=%r} in /metrics:\n%s" % (name, limit, text[-1500:]))
    return int(m.group(1))


@h.test
def over_the_limit_429_other_client_goes_on():
    # 2/s, burst 3: three pass at once, the fourth is refused; each request
    # on its own connection, so both workers see this client
    f = limited_proxy("  per_client: {rate: 2/s, burst: 3}", route_limit="per_client", admin=True)
    e = f.echoes[0]
    for i in range(3):
        h.eq(get_from(f.port, None, "/ok%d" % i).status, 200, "request %d within the burst" % i)
    r = get_from(f.port, None, "/over")
    ra = check_429(r, "per_client", 3, 2)  # 3 tokens at 2/s fill in 1.5 s: w=2
    h.eq(r.header("content-type"), "text/plain", "Content-Type")
    h.check(r.body == b"429 Too Many Requests\n", "body %r" % r.body)
    h.eq(e.requests(), 3, "the refused request never reached the server")
    # another client address has its own bucket
    for i in range(3):
        h.eq(get_from(f.port, "127.0.0.2", "/other%d" % i).status, 200, "127.0.0.2, request %d" % i)
    h.eq(get_from(f.port, "127.0.0.2", "/other-over").status, 429, "127.0.0.2 over its own limit")
    h.eq(get_from(f.port, None, "/still-over").status, 429, "127.0.0.1 still over")
    h.eq(metric(f, "fulcrum_rate_limited_total", "per_client"), 3, "429s counted in /metrics")
    # after Retry-After there is a token again
    time.sleep(ra + 0.05)
    h.eq(get_from(f.port, None, "/after").status, 200, "after Retry-After")
    h.eq(e.requests(), 7, "forwarded requests")


@h.test
def behind_a_trusted_proxy_the_forwarded_address_is_the_key():
    f = limited_proxy("  per_client: {rate: 1/m, burst: 2}", route_limit="per_client",
                      client={"ip": "{header: X-Forwarded-For, trusted: [127.0.0.1/32]}"})
    for ip in ("198.51.100.1", "198.51.100.2"):
        xff = [("X-Forwarded-For", ip)]
        h.eq(h.get(f.port, "/", headers=xff).status, 200, ip + " first")
        h.eq(h.get(f.port, "/", headers=xff).status, 200, ip + " second")
        check_429(h.get(f.port, "/", headers=xff), "per_client", 2, 120)
    # the proxy itself (no header) is a client of its own
    h.eq(h.get(f.port, "/").status, 200, "the proxy's own address")


@h.test(timeout=120)
def two_workers_fifty_connections_hold_the_rate():
    if not shutil.which("h2load"):
        print("SKIP two_workers_fifty_connections_hold_the_rate: h2load (nghttp2-client) missing")
        return
    rate = 500
    f = limited_proxy("  per_client: {rate: %d/s, burst: 20}" % rate, route_limit="per_client",
                      backends=[h.Echo(name="rl", threads=2)])
    e = f.echoes[0]
    seconds = 6
    p = h.spawn(["h2load", "--h1", "-c", "50", "-D", str(seconds), "-t", "1",
                 "http://127.0.0.1:%d/load" % f.port],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # measure in the middle, away from the burst and the connections' start
    time.sleep(1.5)
    t1, n1 = time.monotonic(), e.requests()
    time.sleep(3.0)
    t2, n2 = time.monotonic(), e.requests()
    out, _ = p.communicate(timeout=seconds + 60)
    out = out.decode(errors="replace")
    got = (n2 - n1) / (t2 - t1)
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    h.check(m, "h2load output:\n" + out[-1500:])
    ok, refused = int(m.group(1)), int(m.group(3))
    print("rate limit %d/s: %.1f/s forwarded over %.2f s (h2load: %d 2xx, %d 4xx)"
          % (rate, got, t2 - t1, ok, refused))
    h.check(refused > ok, "the load asked for more than the limit (%d 2xx, %d 4xx)" % (ok, refused))
    h.check(abs(got - rate) <= rate * 0.05,
            "forwarded %.1f/s with a limit of %d/s (more than 5 %% off)" % (got, rate))


@h.test
def exempt_addresses_never_count():
    f = limited_proxy("  per_client: {rate: 1/m, burst: 2, exempt: [127.0.0.2/32, 10.0.0.0/8]}",
                      route_limit="per_client", admin=True)
    for i in range(10):
        h.eq(get_from(f.port, "127.0.0.2", "/x%d" % i).status, 200, "exempt address, request %d" % i)
    h.eq(metric(f, "fulcrum_rate_limited_total", "per_client"), 0, "nothing refused")
    h.eq(get_from(f.port, None).status, 200, "127.0.0.1 first")
    h.eq(get_from(f.port, None).status, 200, "127.0.0.1 second")
    check_429(get_from(f.port, None), "per_client", 2, 120)


@h.test
def keyed_by_a_header():
    f = limited_proxy("  api: {key: header:X-Api-Key, rate: 1/m, burst: 2}", route_limit="api")
    for key in ("alpha", "beta"):
        hs = [("X-Api-Key", key)]
        h.eq(h.get(f.port, "/", headers=hs).status, 200, key + " first")
        h.eq(h.get(f.port, "/", headers=hs).status, 200, key + " second")
        check_429(h.get(f.port, "/", headers=hs), "api", 2, 120)
    # no header (or an empty one): the client's address is the key
    h.eq(h.get(f.port, "/").status, 200, "no header, first")
    h.eq(h.get(f.port, "/", headers=[("X-Api-Key", "")]).status, 200, "empty header, second")
    h.eq(h.get(f.port, "/").status, 429, "no header, third")
    # ... whose bucket is not the one of a key equal to the address
    h.eq(h.get(f.port, "/", headers=[("X-Api-Key", "127.0.0.1")]).status, 200, "key 127.0.0.1")


@h.test
def keyed_by_a_cookie():
    f = limited_proxy("  sess: {key: cookie:session, rate: 1/m, burst: 1}", route_limit="sess")
    a = [("Cookie", "theme=dark; session=aaa")]
    b = [("Cookie", "session=bbb")]
    h.eq(h.get(f.port, "/", headers=a).status, 200, "session aaa")
    h.eq(h.get(f.port, "/", headers=a).status, 429, "session aaa again")
    h.eq(h.get(f.port, "/", headers=b).status, 200, "session bbb")


@h.test
def http2_client_gets_429():
    f = limited_proxy("  per_client: {rate: 1/m, burst: 2}", route_limit="per_client",
                      listener_extra="    http2: prior_knowledge")
    url = "http://127.0.0.1:%d/h2" % f.port
    for i in range(2):
        r = h.curl("--http2-prior-knowledge", "-i", url)
        h.eq(r.returncode, 0, "curl: %s" % r.stderr)
        h.check(r.stdout.startswith("HTTP/2 200"), r.stdout[:200])
    r = h.curl("--http2-prior-knowledge", "-i", url)
    h.eq(r.returncode, 0, "curl: %s" % r.stderr)
    h.check(r.stdout.startswith("HTTP/2 429"), r.stdout[:400])
    h.check(re.search(r'^ratelimit-policy: "per_client";q=2;w=120\r?$', r.stdout, re.M), r.stdout)
    h.check(re.search(r'^ratelimit: "per_client";r=0;t=\d+\r?$', r.stdout, re.M), r.stdout)
    h.check(re.search(r"^retry-after: \d+\r?$", r.stdout, re.M), r.stdout)
    h.check(r.stdout.endswith("429 Too Many Requests\n"), r.stdout)
    if shutil.which("nghttp"):
        # more streams of one connection: each refused on its own, the
        # connection goes on
        p = subprocess.run(["nghttp", "-ns", url + "?1", url + "?2"], capture_output=True,
                           text=True, timeout=20 * h.SLOW)
        codes = sorted(re.findall(r"^\s*\d+\s+\S+\s+\S+\s+\S+\s+(\d{3})\s", p.stdout, re.M))
        h.eq(codes, ["429", "429"], "nghttp's two streams:\n" + p.stdout[-600:])
    h.eq(f.echoes[0].requests(), 2, "the refused streams never reached the server")


@h.test
def route_and_pool_limits_both_apply():
    # /a: route limit A (burst 3) to pool web (pool limit B, burst 2);
    # /c: route limit A to pool other (no limit); /b: no route limit, pool web
    other = h.Echo(name="other")
    routes = ("      - {path: /a, pool: web, rate_limit: A}\n"
              "      - {path: /b, pool: web}\n"
              "      - {path: /c, pool: other, rate_limit: A}")
    pools = "  other:\n    servers: [%s]" % other.url
    f = limited_proxy("  A: {rate: 1/m, burst: 3}\n  B: {rate: 1/m, burst: 2}",
                      pool_limit="B", routes=routes, pools_extra=pools)
    h.eq(h.get(f.port, "/a").status, 200, "/a first")
    h.eq(h.get(f.port, "/a").status, 200, "/a second")
    check_429(h.get(f.port, "/a"), "B", 2, 120)  # the pool's limit is spent
    check_429(h.get(f.port, "/b"), "B", 2, 120)
    # A let the refused request pass but took nothing for it: one token left
    h.eq(h.get(f.port, "/c").status, 200, "/c: A's last token")
    check_429(h.get(f.port, "/c"), "A", 3, 180)
    h.eq(f.echoes[0].requests(), 2, "pool web's server")
    h.eq(other.requests(), 1, "pool other's server")


@h.test
def reload_keeps_unchanged_buckets():
    e = h.Echo(name="rl")
    port = h.free_port()
    path = os.path.join(h.tmpdir(), "fulcrum.yaml")

    def write(limit, timeout="3s"):
        top = "rate_limits:\n  per_client: {%s}" % limit
        text = h.config(port, [e], workers=2, top_extra=top, log_level="info",
                        pool_extra={"connect_timeout": timeout})
        text = text.replace("      - {pool: web}", "      - {pool: web, rate_limit: per_client}")
        with open(path + ".tmp", "w") as fh:
            fh.write(text)
        os.rename(path + ".tmp", path)

    def reload():
        n = f.stderr_text().count("reload: ")
        f.send_signal(signal.SIGHUP)
        h.wait_until(lambda: f.stderr_text().count("reload: ") > n, timeout=10, what="reload")

    write("rate: 1/m, burst: 2")
    f = h.Fulcrum(["-c", path], port=port, config_path=path)
    h.eq(h.get(port, "/").status, 200, "first")
    h.eq(h.get(port, "/").status, 200, "second")
    h.eq(h.get(port, "/").status, 429, "third")
    # another pool setting: the limit is the same, its buckets go on
    write("rate: 1/m, burst: 2", timeout="4s")
    reload()
    h.eq(h.get(port, "/").status, 429, "still over the limit after a reload")
    # the limit itself changed: new buckets
    write("rate: 1/m, burst: 3")
    reload()
    # each worker takes the new configuration from its mailbox just after
    # the log line: a request that comes first still meets the old bucket
    # (a refusal writes nothing, so waiting costs the new one no token)
    h.wait_until(lambda: h.get(port, "/").status == 200, timeout=2,
                 what="a changed limit starts full")


@h.test
def access_log_names_the_limit():
    for fmt in ("text", "json"):
        log = os.path.join(h.tmpdir(), "access-%s.log" % fmt)
        f = limited_proxy("  per_client: {rate: 1/m, burst: 1}", route_limit="per_client",
                          access=log, access_format=fmt, workers=1)
        h.eq(h.get(f.port, "/first").status, 200, "first")
        h.eq(h.get(f.port, "/second").status, 429, "second")

        def lines():
            try:
                with open(log) as fh:
                    return [ln for ln in fh.read().splitlines() if ln.strip()]
            except OSError:
                return []

        h.wait_until(lambda: len(lines()) >= 2, timeout=5, what="two access log lines")
        first, second = lines()[:2]
        if fmt == "text":
            h.check(" 200 " in first and "rate_limit=" not in first, first)
            h.check('"GET /second HTTP/1.1" 429 ' in second, second)
            h.check(second.endswith(" rate_limit=per_client"), second)
            h.check(" server=- " in second, second)
        else:
            a, b = json.loads(first), json.loads(second)
            h.check("rate_limit" not in a, first)
            h.eq(b["status"], 429, "JSON status")
            h.eq(b["rate_limit"], "per_client", "JSON rate_limit")
            h.eq(b["server"], "-", "JSON server")
        f.stop()


@h.test
def unknown_limit_is_an_error():
    text = ("rate_limits:\n  a: {rate: 1/s}\n"
            "listeners:\n  - address: 127.0.0.1:%d\n    routes:\n      - {pool: p, rate_limit: b}\n"
            "pools:\n  p: {servers: [http://127.0.0.1:1]}\n" % h.free_port())
    path = h.write_file(text)
    r = h.run_fulcrum(["--check", "-c", path])
    h.eq(r.returncode, 1, "--check of an unknown rate limit")
    h.check("fulcrum.yaml:6:31: listeners[0].routes[0].rate_limit: unknown rate limit \"b\" "
            "(rate_limits: a)" in r.stderr, r.stderr)


if __name__ == "__main__":
    h.main()
