"""Routing: host exact and *.suffix, longest path prefix wins, default route."""
import harness as h

POOLS = ["api", "apiroot", "wild", "static", "img", "default"]


def start():
    bs = {p: h.Echo(name="be-" + p) for p in POOLS}
    port = h.free_port()
    lines = [
        "workers: 1",
        "log: {level: warn, access: off}",
        "listeners:",
        "  - name: web",
        "    address: 127.0.0.1:%d" % port,
        "    routes:",
        "      - {host: api.example.com, path: /api, pool: api}",
        "      - {host: api.example.com, pool: apiroot}",
        "      - {host: \"*.example.org\", pool: wild}",
        "      - {path: /static, pool: static}",
        "      - {path: /static/img, pool: img}",
        "      - {pool: default}",
        "pools:",
    ]
    for p in POOLS:
        lines += ["  %s:" % p, "    servers:", "      - {url: %s, name: %s}" % (bs[p].url, bs[p].name)]
    h.Fulcrum.from_config("\n".join(lines) + "\n", port=port)
    return port


def who(port, host, path):
    r = h.get(port, path, host=host)
    h.eq(r.status, 200, "status for %s%s" % (host, path))
    j = r.json()
    h.eq(j["path"], path, "path forwarded unchanged")
    return j["name"][3:]


@h.test
def host_exact():
    port = start()
    h.eq(who(port, "api.example.com", "/api/users"), "api", "host exact + path")
    h.eq(who(port, "api.example.com", "/other"), "apiroot", "host exact, no path")
    h.eq(who(port, "api.example.com:8080", "/api"), "api", "host with port")
    h.eq(who(port, "API.Example.COM", "/api/x"), "api", "host is case-insensitive")
    h.eq(who(port, "other.example.com", "/api/x"), "default", "other host falls to default")


@h.test
def host_wildcard_suffix():
    port = start()
    h.eq(who(port, "foo.example.org", "/"), "wild", "*.example.org matches foo.example.org")
    h.eq(who(port, "bar.example.org", "/x"), "wild", "*.example.org matches bar.example.org")
    h.eq(who(port, "notexample.org", "/"), "default", "suffix must start at a dot")


@h.test
def longest_path_prefix_wins():
    port = start()
    h.eq(who(port, "x.test", "/static/css/a.css"), "static", "/static prefix")
    h.eq(who(port, "x.test", "/static/img/a.png"), "img", "longest prefix /static/img wins")
    h.eq(who(port, "x.test", "/static"), "static", "exact prefix")


@h.test
def default_route():
    port = start()
    h.eq(who(port, "x.test", "/"), "default", "default route")
    h.eq(who(port, "x.test", "/anything/else?q=1"), "default", "default route with query")


h.main()
