"""slow_start: a server that comes back ramps from a tenth of its weight to all
of it over slow_start. Servers cannot be added at run time yet, so "comes back"
is a backend that was killed (refused connections put it in cool-down) and
restarted on the same port: once the cool-down is over, in its first second
back it gets clearly less than its fair half of the traffic; after the ramp,
its full half. The control: without slow_start it gets its half at once.

Timeline (slow_start 3s, cooldown 1s): both servers ramp at fulcrum's start, so
wait that out; kill b; requests find it refusing (cool-down); restart b; wait
for the cool-down to pass; measure b's share in [0, 1 s) and in [3.5 s, 5 s)."""
import collections
import threading
import time

import harness as h

RAMP_S = 3
COOLDOWN_S = 1


def stream(port, seconds):
    """Back-to-back requests from 2 clients: [(t, name)]."""
    out = []
    errors = []
    lock = threading.Lock()
    t0 = time.monotonic()
    stop = t0 + seconds

    def run(i):
        n = 0
        try:
            with h.Conn(port) as c:
                while time.monotonic() < stop:
                    r = c.request("GET", "/s?c=%d&n=%d" % (i, n), timeout=10)
                    n += 1
                    h.eq(r.status, 200, "status")
                    with lock:
                        out.append((time.monotonic() - t0, r.header("X-Echo-Name")))
                    time.sleep(0.003)
        except Exception as e:
            errors.append(repr(e))

    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(seconds + 30)
    h.check(not errors, "client errors: %r" % errors[:3])
    return out


def share_b(tl, t0, t1):
    sel = [n for t, n in tl if t0 <= t < t1]
    h.check(len(sel) >= 40, "too few requests in [%.1f, %.1f): %d" % (t0, t1, len(sel)))
    c = collections.Counter(sel)
    return c["b"] / float(len(sel)), c


def comeback(slow_start):
    a, b = h.Echo(name="a"), h.Echo(name="b")
    pool = {"cooldown": "%ds" % COOLDOWN_S, "retries": 2}
    if slow_start:
        pool["slow_start"] = "%ds" % RAMP_S
    f = h.start_proxy([a, b], algorithm="round_robin", pool_extra=pool)
    time.sleep(RAMP_S + 0.5 if slow_start else 0)  # the start-up ramp of both
    before = share_b(stream(f.port, 0.6), 0, 0.6)[0]
    h.check(0.4 <= before <= 0.6, "before: b has half: %.2f" % before)
    b.kill()
    for i in range(6):
        h.eq(h.get(f.port, "/dead%d" % i).status, 200, "b dead: a answers")
    t_dead = time.monotonic()
    b.start(b.port)
    time.sleep(max(0, t_dead + COOLDOWN_S + 0.1 - time.monotonic()))  # cool-down over
    tl = stream(f.port, RAMP_S + 2.0)
    return share_b(tl, 0, 1.0), share_b(tl, RAMP_S + 0.5, RAMP_S + 2.0)


@h.test(timeout=40)
def ramps_after_coming_back():
    (early, c1), (late, c2) = comeback(True)
    # share of weight at t: 0.1 + 0.9 t/3 -> about 0.1..0.4 in the first second,
    # i.e. b gets roughly 10-30% of requests instead of 50%
    h.check(early <= 0.35, "first second back: b got %.0f%% (%r); slow_start should hold it well under "
            "its fair 50%%" % (early * 100, c1))
    h.check(0.4 <= late <= 0.6, "after the ramp b has its half: %.2f (%r)" % (late, c2))


@h.test(timeout=40)
def control_without_slow_start():
    (early, c1), (late, c2) = comeback(False)
    h.check(0.4 <= early <= 0.6, "without slow_start b has its half at once: %.2f (%r)" % (early, c1))
    h.check(0.4 <= late <= 0.6, "and later: %.2f (%r)" % (late, c2))


h.main()
