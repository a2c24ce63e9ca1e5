"""Global rate limits through Redis (docs/cluster.md, "Global rate limits
(Redis)"): three fulcrum instances share one real redis-server (started here
on a kernel-picked port, no persistence, with a password so AUTH is sent);
(1) under concurrent load on all three for several seconds the requests
allowed in total stay within 10 % of burst + rate x seconds; (2) Redis killed
mid-run: each instance logs one line, /metrics shows fulcrum_redis_up 0,
on_redis_down: local counts per instance, deny answers 429, and no request
waits (each is answered well within timeout + a margin); Redis restarted on
the same port: each instance logs it up again, fulcrum_redis_up 1, and the
global limit holds again (the script is loaded again after NOSCRIPT); a
Redis that stops answering (SIGSTOP) is down after timeout, no request waits,
and it is up again after SIGCONT; (3)
fulcrum --check refuses scope: global without cluster.redis and an
unreadable password_file with a clear message."""
import os
import re
import signal
import threading
import time

import harness as h
from redis_helper import Redis, kernel_port, password_file

RATE = 100  # per second, every limit here
BURST = 100
TIMEOUT_MS = 50


def instance(redis, name, extra_limits=""):
    """A fulcrum (2 workers) with an admin listener, sharing redis: / counts
    in limit g (on_redis_down: local), /deny in limit d (deny)."""
    e = h.Echo(name=name)
    port, admin = kernel_port(), kernel_port()
    pw = password_file()
    top = """admin: {listen: 127.0.0.1:%d}
cluster:
  redis: {address: 127.0.0.1:%d, password_file: %s, timeout: %dms}
rate_limits:
  g: {key: client_ip, rate: %d/s, burst: %d, scope: global, on_redis_down: local}
  d: {key: client_ip, rate: %d/s, burst: %d, scope: global, on_redis_down: deny}""" % (
        admin, redis.port, pw, TIMEOUT_MS, RATE, BURST, RATE, BURST)
    text = h.config(port, [e], workers=2, top_extra=top, log_level="info")
    text = text.replace("      - {pool: web}\n",
                        "      - {path: /deny, pool: web, rate_limit: d}\n"
                        "      - {pool: web, rate_limit: g}\n")
    f = h.Fulcrum.from_config(text, port=port)
    f.admin = admin
    f.redis_line = "redis 127.0.0.1:%d: " % redis.port
    f.wait_for_log(f.redis_line + "up", timeout=10)
    return f


def metric(f, name, labels=""):
    text = h.get(f.admin, "/metrics").text()
    m = re.search(r"^%s%s (\d+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    h.check(m, "%s%s in /metrics:\n%s" % (name, labels, text[-2000:]))
    return int(m.group(1))


def load(insts, seconds, path="/", threads_per=2):
    """Requests back to back from 127.0.0.1 on every instance for seconds:
    ({status: count}, the slowest answer in seconds)."""
    counts, slowest, lock = {}, [0.0], threading.Lock()
    stop = time.monotonic() + seconds
    errors = []

    def run(port):
        mine, worst = {}, 0.0
        try:
            c = h.Conn(port, timeout=10 * h.SLOW)
            while time.monotonic() < stop:
                t0 = time.monotonic()
                r = c.request("GET", path)
                worst = max(worst, time.monotonic() - t0)
                mine[r.status] = mine.get(r.status, 0) + 1
                if r.header("connection", "").lower() == "close":
                    c.close()
                    c = h.Conn(port, timeout=10 * h.SLOW)
            c.close()
        except Exception as ex:  # reported below
            errors.append(repr(ex))
        with lock:
            for k, v in mine.items():
                counts[k] = counts.get(k, 0) + v
            slowest[0] = max(slowest[0], worst)

    ts = [threading.Thread(target=run, args=(f.port,)) for f in insts for _ in range(threads_per)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    h.check(not errors, "load: %s" % errors[:3])
    return counts, slowest[0]


def within(allowed, seconds, what):
    want = BURST + RATE * seconds
    print("%s: %d allowed in %.1f s, want %d (burst + rate x seconds): %+.1f %%"
          % (what, allowed, seconds, want, (allowed - want) * 100.0 / want))
    h.check(abs(allowed - want) <= 0.10 * want,
            "%s: %d allowed, not within 10 %% of %d" % (what, allowed, want))


@h.test(timeout=60)
def global_limit_holds_across_three():
    redis = Redis()
    insts = [instance(redis, "g%d" % i) for i in range(3)]
    seconds = 5.0
    counts, _ = load(insts, seconds)
    within(counts.get(200, 0), seconds, "three instances, one Redis")
    h.check(counts.get(429, 0) > counts.get(200, 0), "the load was over the limit: %r" % counts)
    h.check(set(counts) <= {200, 429}, "only 200 and 429: %r" % counts)
    for f in insts:
        h.eq(metric(f, "fulcrum_redis_up"), 1, "fulcrum_redis_up")
        h.check(metric(f, "fulcrum_rate_limit_leased_tokens_total") > 0, "tokens leased")
        h.eq(metric(f, "fulcrum_redis_errors_total"), 0, "no Redis errors")
    h.promtool(h.get(insts[0].admin, "/metrics").text())
    api = h.get(insts[0].admin, "/api/pools").json()["redis"]
    h.eq((api["address"], api["state"]), ("127.0.0.1:%d" % redis.port, "up"), "GET /api/pools: redis")
    h.check(api["leased_tokens"] > 0, "the admin API counts the leased tokens: %r" % api)


@h.test(timeout=40)
def slow_redis_is_down():
    """A Redis that stops answering (SIGSTOP) is down after timeout: no request
    waits, deny refuses; when it answers again (SIGCONT) the instance reconnects."""
    redis = Redis()
    f = instance(redis, "slow")
    counts, _ = load([f], 0.3, path="/deny")
    h.check(counts.get(200, 0) > 0, "up: allowed: %r" % counts)
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        counts, slowest = load([f], 1.0, path="/deny")
        limit_s = (TIMEOUT_MS / 1000.0 + 0.25) * h.SLOW
        h.check(slowest < limit_s, "slowest answer with Redis stopped: %.3f s" % slowest)
        f.wait_for_log(f.redis_line + "down: no answer within %d ms" % TIMEOUT_MS, timeout=5)
        h.eq(metric(f, "fulcrum_redis_up"), 0, "fulcrum_redis_up with Redis stopped")
        counts, _ = load([f], 0.3, path="/deny")
        h.check(counts.get(429, 0) > 0 and counts.get(200, 0) == 0, "deny: all 429: %r" % counts)
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
    h.wait_until(lambda: f.stderr_text().count(f.redis_line + "up") == 2, timeout=10,
                 what="reconnected after SIGCONT")
    h.eq(metric(f, "fulcrum_redis_up"), 1, "fulcrum_redis_up after SIGCONT")


@h.test(timeout=60)
def redis_down_then_back():
    redis = Redis()
    insts = [instance(redis, "r%d" % i) for i in range(3)]
    counts, _ = load(insts, 1.0)
    h.check(counts.get(200, 0) >= BURST * 0.9, "allowed while Redis is up: %r" % counts)

    # killed mid-run: requests go on while the instances find out
    res = {}
    t = threading.Thread(target=lambda: res.update(zip(("c", "s"), load(insts, 1.5))))
    t.start()
    time.sleep(0.3)
    redis.kill()
    t.join()
    limit_s = (TIMEOUT_MS / 1000.0 + 0.25) * h.SLOW
    h.check(res["s"] < limit_s, "slowest answer while Redis died: %.3f s" % res["s"])
    for f in insts:
        f.wait_for_log(f.redis_line + "down", timeout=5)
    time.sleep(1.0)  # a few reconnects fail meanwhile (100 ms, 200 ms, ...)
    # local: each instance counts alone, at the full rate
    seconds = 2.0
    counts, slowest = load(insts, seconds)
    allowed = counts.get(200, 0)
    print("Redis down, on_redis_down local: %d allowed in %.0f s over three instances" %
          (allowed, seconds))
    h.check(allowed > 1.5 * (BURST + RATE * seconds),
            "local: each instance counts alone (%d allowed, a global limit is %d)"
            % (allowed, BURST + RATE * seconds))
    h.check(slowest < limit_s, "no request waits for Redis: slowest %.3f s" % slowest)
    # deny: every request refused
    counts, slowest = load(insts, 0.5, path="/deny")
    h.check(counts.get(429, 0) > 0 and counts.get(200, 0) == 0, "deny: all 429: %r" % counts)
    h.check(slowest < limit_s, "no request waits for Redis: slowest %.3f s" % slowest)
    for f in insts:
        h.eq(metric(f, "fulcrum_redis_up"), 0, "fulcrum_redis_up while down")
        h.check(metric(f, "fulcrum_redis_errors_total") >= 2, "errors counted (reconnects)")
        h.check(metric(f, "fulcrum_rate_limit_redis_down_total",
                       '{limit="d",result="refused"}') > 0, "deny counted in /metrics")
        h.check(metric(f, "fulcrum_rate_limit_redis_down_total",
                       '{limit="g",result="allowed"}') > 0, "local counted in /metrics")
        log = f.stderr_text()
        h.eq(log.count(f.redis_line + "down"), 1, "one log line for up -> down:\n" + log[-2000:])

    # back on the same port: reconnects (backoff at most 5 s), the script is
    # loaded again, the limit is global again
    h.check(redis.start(), "redis-server restarted on %d" % redis.port)
    for f in insts:
        h.wait_until(lambda: f.stderr_text().count(f.redis_line + "up") == 2, timeout=10,
                     what="reconnected")
        h.eq(metric(f, "fulcrum_redis_up"), 1, "fulcrum_redis_up after the restart")
    time.sleep(1.2)  # the instances' own buckets, drained while down, fill again
    seconds = 4.0
    counts, _ = load(insts, seconds)
    within(counts.get(200, 0), seconds, "after Redis restarted")
    for f in insts:
        log = f.stderr_text()
        h.eq(log.count(f.redis_line + "down"), 1, "still one down line:\n" + log[-2000:])


@h.test(timeout=30)
def bad_configs_fail_check():
    d = h.tmpdir()
    e = h.Echo(name="bad")
    port = kernel_port()
    base = h.config(port, [e])

    def check_fails(top, needles, what):
        path = h.write_file(top + "\n" + base)
        p = h.run_fulcrum(["--check", "-c", path])
        h.check(p.returncode != 0, "%s: --check must fail:\n%s%s" % (what, p.stdout, p.stderr))
        out = p.stdout + p.stderr
        for n in needles:
            h.check(n in out, "%s: %r in:\n%s" % (what, n, out))

    check_fails("rate_limits:\n  g: {rate: 10/s, burst: 10, scope: global}",
                ["fulcrum.yaml:2:", "rate_limits.g.scope", "cluster.redis"],
                "scope: global without cluster.redis")
    missing = os.path.join(d, "no-such-password")
    check_fails("cluster:\n  redis: {address: 127.0.0.1:6379, password_file: %s}" % missing,
                ["fulcrum.yaml:2:", "cluster.redis.password_file", "cannot read " + missing,
                 "No such file"],
                "missing password_file")
    check_fails("cluster:\n  redis: {address: 127.0.0.1:6379, password_file: %s}" % d,
                ["cluster.redis.password_file", "cannot read " + d], "a directory as password_file")
    check_fails("cluster:\n  redis: {password_file: %s}" % d, ["cluster.redis.address", "required"],
                "no address")
    check_fails("rate_limits:\n  g: {rate: 10/s, burst: 10, on_redis_down: deny}",
                ["rate_limits.g.on_redis_down", "scope: global"], "on_redis_down on a local limit")
    # and the good one passes
    pw = os.path.join(d, "pw")
    with open(pw, "w") as f:
        f.write("secret\n")
    path = h.write_file("cluster:\n  redis: {address: 127.0.0.1:6379, password_file: %s, "
                        "timeout: 20ms, key_prefix: \"app1:\"}\n"
                        "rate_limits:\n  g: {rate: 10/s, burst: 10, scope: global, "
                        "on_redis_down: allow}\n" % pw + base)
    p = h.run_fulcrum(["--check", "-c", path])
    h.eq(p.returncode, 0, "a good cluster.redis passes --check: %s%s" % (p.stdout, p.stderr))


h.main()
