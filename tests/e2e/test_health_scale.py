"""1,000 servers checked every second from one control thread: the backend
behind all of them sees about 1,000 checks a second, spread over the second
(not in one burst), and fulcrum keeps serving meanwhile."""
import time

import harness as h


@h.test
def thousand_servers_every_second():
    e = h.Echo(name="scale", threads=2)
    n = 1000
    servers = [(e.url, "s%04d" % i, 1) for i in range(n)]
    f = h.start_proxy(servers, pool_extra={"health": "{path: /health, interval: 1s, timeout: 500ms}"},
                      log_level="warn")
    time.sleep(2.5)  # the first round is spread over the first interval
    samples = []
    t_prev, c_prev = time.monotonic(), e.stats()["health"]
    for _ in range(8):
        time.sleep(0.5)
        t, c = time.monotonic(), e.stats()["health"]
        samples.append((c - c_prev) / (t - t_prev))
        t_prev, c_prev = t, c
    rate = sum(samples) / len(samples)
    print("checks per second: mean %.0f, per half second: %s" % (rate, ", ".join("%.0f" % s for s in samples)))
    lo, hi = (0.6, 1.3) if h.SANITIZED else (0.85, 1.15)
    h.check(lo * n <= rate <= hi * n, "about %d checks a second, got %.0f" % (n, rate))
    # spread, not bursts: every half second sees a good part of them
    h.check(min(samples) >= 0.5 * n, "checks spread over the second: %r" % samples)
    h.check("is down" not in f.stderr_text(), "no server marked down: %s" % f.stderr_text()[-2000:])
    r = h.get(f.port, "/still")
    h.eq(r.status, 200, "serving meanwhile")


h.main()
