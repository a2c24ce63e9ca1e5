"""Idle backend pools have no small fixed cap: after a burst of N parallel
keep-alive clients the idle connections rise to what the burst used, then the
per-worker purge (every second) closes them gradually, not all at once, never
below what traffic still uses, and keeps the last one (idle_timeout closes
it). max_idle is still a hard cap. (Stale idle connections closed by the
server are retried: test_upstream_keepalive.py.)"""
import threading
import time

import harness as h

BURST = h.sized(16, 8)
LATENCY = "20ms"  # each request holds its backend connection this long


def pooled(e):
    return e.stats()["open"] - 1  # minus our /stats connection


def burst(port, clients, seconds):
    h.keepalive_load(port, clients, seconds, lambda t, r: None)


def sample(e, seconds, interval=0.1):
    out = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        out.append((time.monotonic() - t0, pooled(e)))
        time.sleep(interval)
    return out


@h.test(timeout=90)
def burst_then_quiet_shrinks_gradually():
    e = h.Echo(latency=LATENCY)
    f = h.start_proxy([e])
    burst(f.port, BURST, 1.5)
    start = pooled(e)
    h.check(BURST // 2 <= start <= BURST,
            "after %d parallel clients %d backend connections are pooled" % (BURST, start))
    seen = sample(e, 16 * h.SLOW)
    vals = [v for _, v in seen]
    # what the last period used is kept for at least one more period
    early = [v for t, v in seen if t < 0.8]
    h.eq(min(early), start, "pooled connections just after the burst (%s)" % vals[:10])
    # then gradually: at most half (rounded up) of the surplus per purge
    levels = [start]
    for v in vals:
        h.check(v <= levels[-1], "the pool never grows while quiet: %s" % vals)
        if v < levels[-1]:
            h.check(levels[-1] - v <= (levels[-1] + 1) // 2 + 1,
                    "not all at once: %d -> %d (%s)" % (levels[-1], v, levels))
            levels.append(v)
    h.check(len(levels) >= 4, "shrinks over several purges: %s" % levels)
    # the last connection stays for idle_timeout (60 s)
    h.eq(levels[-1], 1, "pooled at the end (levels %s)" % levels)
    h.eq(vals[-1], 1, "pooled at the end")


@h.test(timeout=90)
def steady_load_keeps_what_it_uses():
    e = h.Echo(latency=LATENCY)
    f = h.start_proxy([e])
    burst(f.port, BURST, 1.5)
    start = pooled(e)
    steady = 3
    out = {}

    def keep_busy():
        h.keepalive_load(f.port, steady, 9 * h.SLOW, lambda t, r: None)

    t = threading.Thread(target=keep_busy, daemon=True)
    t.start()
    time.sleep(6 * h.SLOW)
    c0 = e.connections()
    late = sample(e, 2.5 * h.SLOW, interval=0.2)
    # minus our own /stats connections (one per sample, and this one)
    out["opened"] = e.connections() - c0 - len(late) - 1
    t.join(30 * h.SLOW)
    vals = [v for _, v in late]
    h.check(max(vals) < start, "the surplus of the burst (%d) was closed: %s" % (start, vals))
    h.check(min(vals) >= steady - 1,
            "%d clients keep using about %d connections: %s" % (steady, steady, vals))
    h.check(out["opened"] <= 2,
            "steady traffic reuses its connections: %d opened in %.1f s"
            % (out["opened"], 2.5 * h.SLOW))


@h.test
def max_idle_still_caps():
    e = h.Echo(latency=LATENCY)
    f = h.start_proxy([e], pool_extra={"max_idle": 2})
    burst(f.port, 8, 1.0)
    h.wait_until(lambda: pooled(e) <= 2, timeout=2, what="at most max_idle (2) pooled")
    h.eq(pooled(e), 2, "max_idle: 2 keeps two")


h.main()
