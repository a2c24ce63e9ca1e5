"""algorithm: p2c (power of two choices): with 8 concurrent clients, a backend
that takes 200 ms per request piles up requests in flight and so loses almost
every comparison against the fast ones; round robin, for contrast, gives it a
third."""
import harness as h

CLIENTS = 8
SECONDS = h.sized(3.0, 1.5)  # x SLOW (3 under sanitizers)


def setup(algorithm):
    slow = h.Echo(name="slow", latency="200ms", threads=4)
    fast = [h.Echo(name="fast-%d" % i, threads=2) for i in (1, 2)]
    f = h.start_proxy([slow] + fast, algorithm=algorithm, workers=2)
    return f


@h.test
def slow_backend_gets_few_requests():
    f = setup("p2c")
    cnt = h.backend_counts(f.port, CLIENTS, SECONDS)
    total = sum(cnt.values())
    h.check(total >= 100, "too few requests to judge: %r" % cnt)
    share = cnt["slow"] / float(total)
    # round robin: exactly 1/3; p2c: the slow one nearly always has more in flight
    h.check(share < 0.12, "p2c sent %.1f%% to the 200 ms backend (%r); want < 12%%" % (share * 100, cnt))
    h.check(cnt["fast-1"] > 0 and cnt["fast-2"] > 0, "both fast servers used: %r" % cnt)
    h.check(abs(cnt["fast-1"] - cnt["fast-2"]) < 0.3 * total, "fast servers share evenly: %r" % cnt)


@h.test
def round_robin_contrast():
    # the same setup under round robin: the slow backend gets its third of the
    # picks, so the p2c bound above really measures p2c
    f = setup("round_robin")
    cnt = h.backend_counts(f.port, CLIENTS, h.sized(2.0, 1.0))
    total = sum(cnt.values())
    share = cnt["slow"] / float(total)
    h.check(0.25 <= share <= 0.42, "round robin share of the slow backend %.3f (%r)" % (share, cnt))


h.main()
