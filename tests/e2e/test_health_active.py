"""Active health checks: a server whose /health fails stops getting traffic
within fall x interval + timeout and comes back after rise passes (ramping
with slow start); a server that accepts and never answers is marked down by
the timeout; TCP checks; a flapping server changes state no faster than
rise/fall allow; the checks send what the configuration says."""
import collections
import signal
import time

import harness as h

HEALTH = "{path: /health, interval: 200ms, timeout: 100ms, rise: 2, fall: 2}"


def proxy(bs, health=HEALTH, **kw):
    pool = dict(kw.pop("pool_extra", {}))
    pool["health"] = health
    return h.start_proxy(bs, pool_extra=pool, log_level="info", **kw)


def spread(port, n=60, path="/"):
    got = collections.Counter()
    for i in range(n):
        r = h.get(port, "%s?i=%d" % (path, i))
        h.eq(r.status, 200, "status of request %d" % i)
        got[r.header("X-Echo-Name")] += 1
    return got



@h.test
def failing_health_stops_traffic_and_returns():
    bs = [h.Echo(name="hc-%d" % i, extra=["-health-fail", "500"]) for i in range(3)]
    f = proxy(bs, pool_extra={"slow_start": "2s"})
    h.eq(set(spread(f.port)), {"hc-0", "hc-1", "hc-2"}, "all three serve at first")
    time.sleep(2.1)  # every server ramps up at start: let that end before measuring shares
    t0 = time.monotonic()
    bs[0].proc.send_signal(signal.SIGUSR1)  # /health answers 500, everything else 200
    f.wait_for_log("server hc-0 is down", timeout=3)
    took = time.monotonic() - t0
    # fall x interval + timeout = 0.5 s; the check that started the streak may
    # have been up to one interval away
    h.check(took < (0.2 * 2 + 0.1 + 0.2 + 0.5) * h.SLOW, "marked down after %.2f s" % took)
    err = f.stderr_text()
    h.check("health check failed 2 times: HTTP 500" in err, "the reason names the check: %s" % err)
    h.check("2/3 servers are healthy" in err, "the pool summary: %s" % err)
    got = spread(f.port, 60)
    h.eq(got.get("hc-0", 0), 0, "no traffic to the down server: %r" % got)
    h.check(abs(got["hc-1"] - got["hc-2"]) <= 6, "the other two share its load: %r" % got)
    # its other paths still work: only /health failed
    h.eq(h.get(bs[0].port, "/x").status, 200, "hc-0 itself still answers")
    bs[0].proc.send_signal(signal.SIGUSR2)
    f.wait_for_log("server hc-0 is up", timeout=3)
    h.check("3/3 servers are healthy" in f.stderr_text(), "summary after recovery")
    # slow start: right after recovery it gets less than its third
    early = spread(f.port, 60)
    h.check(early.get("hc-0", 0) < 15, "ramping after recovery: %r" % early)
    time.sleep(2.2)
    late = spread(f.port, 90)
    h.check(late.get("hc-0", 0) >= 20, "full share once ramped: %r" % late)


@h.test
def hanging_health_marked_down_by_timeout():
    bs = [h.Echo(name="hang-0", extra=["-health-fail", "hang"]), h.Echo(name="hang-1")]
    f = proxy(bs)
    bs[0].proc.send_signal(signal.SIGUSR1)  # /health accepts and never answers
    f.wait_for_log("server hang-0 is down", timeout=3)
    err = f.stderr_text()
    h.check("timeout" in err, "the reason says timeout: %s" % err)
    got = spread(f.port, 20)
    h.eq(set(got), {"hang-1"}, "only the other serves: %r" % got)


@h.test
def tcp_check_follows_the_listener():
    bs = [h.Echo(name="tcp-0"), h.Echo(name="tcp-1")]
    f = proxy(bs, health="{type: tcp, interval: 200ms, timeout: 100ms, rise: 2, fall: 2}")
    port = bs[0].port
    bs[0].stop()
    f.wait_for_log("server tcp-0 is down", timeout=3)
    got = spread(f.port, 20)
    h.eq(set(got), {"tcp-1"}, "traffic only to the live one: %r" % got)
    bs[0].start(port)
    f.wait_for_log("server tcp-0 is up", timeout=3)
    h.check("tcp-0" in spread(f.port, 30), "back in rotation")


@h.test
def flapping_health_is_held_by_rise_and_fall():
    """/health alternates every 400 ms; with rise and fall of 10 checks at
    100 ms no streak is ever long enough: no state change at all. The same
    backend flapping every 2 s does change state (a check that can fail)."""
    fast = h.Echo(name="flap-fast", extra=["-health-flap", "400ms"])
    slow = h.Echo(name="flap-slow", extra=["-health-flap", "2s"])
    other = h.Echo(name="flap-other")
    f = proxy([fast, slow, other], health="{path: /health, interval: 100ms, fast_interval: 100ms, "
                                          "timeout: 80ms, rise: 10, fall: 10}")
    time.sleep(5)
    err = f.stderr_text()
    h.check("flap-fast is down" not in err and "flap-fast is up" not in err,
            "flapping faster than fall x interval changes nothing: %s" % err)
    h.check("flap-slow is down" in err, "a streak of 10 failures does: %s" % err)


@h.test
def check_request_is_what_the_config_says():
    """method, path, Host, port and User-Agent of the check, seen by a fake
    backend that records what it got."""
    fake = h.FakeBackend("ok")
    e = h.Echo(name="rec-main")
    health = ("{method: HEAD, path: /ready, host: api.internal, port: %d, interval: 200ms, "
              "timeout: 100ms}" % fake.port)
    f = proxy([e], health=health)
    h.wait_until(lambda: fake.requests, timeout=3, what="a health check on the check port")
    head = fake.requests[0]
    h.check(head.startswith(b"HEAD /ready HTTP/1.1\r\n"), "request line: %r" % head)
    low = head.lower()
    h.check(b"\r\nhost: api.internal\r\n" in low, "Host: %r" % head)
    h.check(b"\r\nuser-agent: fulcrum-health\r\n" in low, "User-Agent: %r" % head)
    h.eq(e.stats().get("health", 0), 0, "nothing checked on the serving port")
    f.stop()


h.main()
