"""/metrics and /lb-metrics (docs/operations.md, "Metrics"): after real
traffic the text passes `promtool check metrics`, and the values are the
traffic's: responses per server and class, the histograms' counts (a pool's
is its servers' plus the requests no server answered), failures and retries
after a refused server, health checks by result, the client connections
gauge; /lb-metrics has the seed balancer's shape and the same totals."""
import collections
import os
import re
import time

import harness as h

HEALTH = "{interval: 100ms, timeout: 100ms, rise: 1, fall: 1, path: /health}"


def proxy(backends, pool_extra=None, workers=2):
    ap = h.free_port()
    top = "state_dir: %s\nadmin: {listen: 127.0.0.1:%d}" % (os.path.join(h.tmpdir(), "state"), ap)
    port = h.free_port()
    f = h.Fulcrum.from_config(h.config(port, backends, workers=workers, pool_extra=pool_extra,
                                       top_extra=top), port=port)
    h.check(h.wait_port(ap, 10, f.proc), "admin port")
    f.admin = ap
    return f


def scrape(f):
    r = h.get(f.admin, "/metrics")
    h.eq(r.status, 200, "GET /metrics")
    h.eq(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8", "content type")
    return r.text()


def samples(text):
    """{(name, frozenset(labels)): value}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        h.check(m, "a sample line: %r" % line)
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def val(s, name, **labels):
    key = (name, frozenset(labels.items()))
    h.check(key in s, "no sample %s%r" % (name, labels))
    return s[key]


promtool = h.promtool


@h.test
def traffic_counts_and_promtool():
    bs = h.echo_backends(2, prefix="mt")
    f = proxy(bs, pool_extra={"health": HEALTH})
    for i in range(10):
        h.eq(h.get(f.port, "/m%d" % i).status, 200, "traffic")
    for i in range(4):
        h.eq(h.get(f.port, "/status/503?i=%d" % i).status, 503, "5xx traffic")
    time.sleep(0.3)  # a few health checks
    text = scrape(f)
    promtool(text)
    s = samples(text)
    for b in bs:
        h.eq(val(s, "fulcrum_requests_total", pool="web", server=b.name, code="2xx"), 5, "2xx of " + b.name)
        h.eq(val(s, "fulcrum_requests_total", pool="web", server=b.name, code="5xx"), 2, "5xx of " + b.name)
        h.eq(val(s, "fulcrum_requests_total", pool="web", server=b.name, code="4xx"), 0, "4xx of " + b.name)
        h.eq(val(s, "fulcrum_server_request_duration_seconds_count", pool="web", server=b.name), 7,
             "histogram count of " + b.name)
        h.eq(val(s, "fulcrum_server_request_duration_seconds_bucket", pool="web", server=b.name, le="+Inf"), 7,
             "+Inf bucket")
        h.check(val(s, "fulcrum_server_request_duration_seconds_bucket", pool="web", server=b.name, le="1") == 7,
                "all within a second")
        h.check(val(s, "fulcrum_server_request_duration_seconds_sum", pool="web", server=b.name) > 0, "sum")
        h.eq(val(s, "fulcrum_server_failures_total", pool="web", server=b.name, kind="status_5xx"), 2,
             "status_5xx failures")
        h.eq(val(s, "fulcrum_server_failures_total", pool="web", server=b.name, kind="connect"), 0, "connect")
        h.eq(val(s, "fulcrum_server_up", pool="web", server=b.name), 1, "up")
        h.eq(val(s, "fulcrum_server_state", pool="web", server=b.name, state="healthy"), 1, "healthy")
        h.eq(val(s, "fulcrum_server_state", pool="web", server=b.name, state="dead"), 0, "not dead")
        h.eq(val(s, "fulcrum_server_active_requests", pool="web", server=b.name), 0, "active")
        h.check(val(s, "fulcrum_health_checks_total", pool="web", server=b.name, result="ok") >= 2,
                "health checks counted")
        h.eq(val(s, "fulcrum_health_checks_total", pool="web", server=b.name, result="failed"), 0, "no failed check")
    h.eq(val(s, "fulcrum_pool_requests_total", pool="web", code="2xx"), 10, "pool 2xx")
    h.eq(val(s, "fulcrum_pool_requests_total", pool="web", code="5xx"), 4, "pool 5xx")
    h.eq(val(s, "fulcrum_pool_request_duration_seconds_count", pool="web"), 14, "pool histogram count")
    h.eq(val(s, "fulcrum_pool_servers", pool="web"), 2, "pool servers")
    h.eq(val(s, "fulcrum_pool_healthy_servers", pool="web"), 2, "healthy servers")
    h.eq(val(s, "fulcrum_client_connections"), 0, "no client connection open")
    h.eq(val(s, "fulcrum_reloads_total", result="success"), 0, "reloads")
    h.check(abs(val(s, "fulcrum_config_last_reload_success_timestamp_seconds") - time.time()) < 60,
            "last load is the start")
    h.check(val(s, "process_resident_memory_bytes") > 1e6, "rss")
    h.check(val(s, "process_open_fds") > 5, "open fds")
    h.check(val(s, "process_max_fds") >= val(s, "process_open_fds"), "max fds")
    h.check(abs(val(s, "process_start_time_seconds") - time.time()) < 120, "start time")
    h.check(val(s, "process_cpu_seconds_total") >= 0, "cpu")
    # a server going down: its health checks fail, state and up follow
    bs[0].kill()
    h.wait_until(lambda: val(samples(scrape(f)), "fulcrum_server_up", pool="web", server="mt-1") == 0,
                 timeout=3, what="mt-1 down in the metrics")
    s = samples(scrape(f))
    h.eq(val(s, "fulcrum_server_state", pool="web", server="mt-1", state="dead"), 1, "dead")
    h.check(val(s, "fulcrum_health_checks_total", pool="web", server="mt-1", result="failed") >= 1, "failed checks")
    h.eq(val(s, "fulcrum_pool_healthy_servers", pool="web"), 1, "one healthy")


@h.test
def client_connections_gauge():
    f = proxy(h.echo_backends(1, prefix="cc"))
    conns = [h.Conn(f.port) for _ in range(3)]
    for c in conns:
        h.eq(c.request("GET", "/").status, 200, "keep-alive request")
    h.eq(val(samples(scrape(f)), "fulcrum_client_connections"), 3, "three open")
    for c in conns:
        c.close()
    h.wait_until(lambda: val(samples(scrape(f)), "fulcrum_client_connections") == 0, timeout=3,
                 what="the gauge back to 0")


@h.test
def failures_and_retries_after_a_refused_server():
    good = h.Echo(name="rt-good")
    refused = ("http://127.0.0.1:%d" % h.refused_port(), "rt-refused", 1)
    f = proxy([refused, good], pool_extra={"retries": 2}, workers=1)
    got = collections.Counter(h.get(f.port, "/r%d" % i).header("X-Echo-Name") for i in range(10))
    h.eq(got, collections.Counter({"rt-good": 10}), "every request answered by the good server")
    text = scrape(f)
    promtool(text)
    s = samples(text)
    fails = val(s, "fulcrum_server_failures_total", pool="web", server="rt-refused", kind="connect")
    h.check(fails >= 1, "the refused connect counted: %r" % fails)
    h.eq(val(s, "fulcrum_retries_total", reason="connect_refused"), fails, "one retry per refused connect")
    for other in ("connect_failed", "connect_timeout", "reset", "eof", "stale"):
        h.eq(val(s, "fulcrum_retries_total", reason=other), 0, "no %s retry" % other)
    h.eq(val(s, "fulcrum_requests_total", pool="web", server="rt-good", code="2xx"), 10, "good 2xx")
    h.eq(val(s, "fulcrum_requests_total", pool="web", server="rt-refused", code="2xx"), 0, "refused 2xx")
    h.eq(val(s, "fulcrum_pool_requests_total", pool="web", code="2xx"), 10, "pool")
    # no server left: fulcrum's own 503s are the pool's, no server's
    good.kill()
    time.sleep(2.2)  # the refused server's cooldown ends
    for i in range(3):
        h.check(h.get(f.port, "/x%d" % i).status in (502, 503), "no server")
    s = samples(scrape(f))
    h.eq(val(s, "fulcrum_pool_requests_total", pool="web", code="5xx"), 3, "pool 5xx")
    h.eq(val(s, "fulcrum_pool_request_duration_seconds_count", pool="web"), 13, "pool histogram: 10 + 3")
    h.eq(val(s, "fulcrum_server_request_duration_seconds_count", pool="web", server="rt-good"), 10,
         "the good server's histogram")
    # the lb-metrics summary agrees
    lb = h.get(f.admin, "/lb-metrics").json()
    h.eq(set(lb), {"uptime_seconds", "total_requests", "success_requests", "failed_requests",
                   "retry_attempts", "avg_latency_ms", "healthy_backends", "total_backends", "backends"},
         "lb-metrics keys")
    h.eq((lb["total_requests"], lb["success_requests"], lb["failed_requests"]), (13, 10, 3), "totals")
    h.check(lb["retry_attempts"] >= fails, "retries")
    h.eq(lb["total_backends"], 2, "backends")


@h.test
def lb_metrics_shape_and_values():
    bs = h.echo_backends(2, prefix="lb")
    f = proxy(bs, pool_extra={"health": HEALTH})
    for i in range(8):
        h.get(f.port, "/l%d" % i)
    h.wait_until(lambda: all(b["last_checked"] for b in h.get(f.admin, "/lb-metrics").json()["backends"]),
                 timeout=3, what="checks of both")
    r = h.get(f.admin, "/lb-metrics")
    h.eq(r.header("Content-Type"), "application/json", "content type")
    lb = r.json()
    h.check(isinstance(lb["uptime_seconds"], (int, float)) and 0 <= lb["uptime_seconds"] < 60, "uptime")
    h.eq((lb["total_requests"], lb["success_requests"], lb["failed_requests"], lb["retry_attempts"]),
         (8, 8, 0, 0), "totals")
    h.check(lb["avg_latency_ms"] > 0, "average latency")
    h.eq((lb["healthy_backends"], lb["total_backends"]), (2, 2), "backends")
    h.eq(sorted(b["url"] for b in lb["backends"]), sorted(b.url for b in bs), "urls")
    for b in lb["backends"]:
        h.eq(set(b), {"pool", "name", "url", "state", "active_connections", "total_requests",
                      "total_failures", "last_checked"}, "backend keys")
        h.eq((b["state"], b["active_connections"], b["total_requests"], b["total_failures"]),
             ("healthy", 0, 4, 0), "backend values")
        h.check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", b["last_checked"]), "last_checked")


h.main()
