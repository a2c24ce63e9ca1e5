"""algorithm: ewma (peak-EWMA latency x load over two random choices): a backend
that answers in 150 ms gets a small share under 8 concurrent clients, where
round robin gives it an even third; and unlike p2c it is avoided even by a
single sequential client, since its latency alone makes it cost more."""
import harness as h

CLIENTS = 8
SECONDS = h.sized(3.0, 1.5)  # x SLOW (3 under sanitizers)


def setup(algorithm):
    slow = h.Echo(name="slow", latency="150ms", threads=4)
    fast = [h.Echo(name="fast-%d" % i, threads=2) for i in (1, 2)]
    return h.start_proxy([slow] + fast, algorithm=algorithm, workers=2)


@h.test
def slow_backend_small_share_concurrent():
    f = setup("ewma")
    cnt = h.backend_counts(f.port, CLIENTS, SECONDS)
    total = sum(cnt.values())
    h.check(total >= 100, "too few requests to judge: %r" % cnt)
    share = cnt["slow"] / float(total)
    h.check(share < 0.10, "ewma sent %.1f%% to the 150 ms backend (%r); want < 10%%" % (share * 100, cnt))
    h.check(cnt["fast-1"] > 0.2 * total and cnt["fast-2"] > 0.2 * total, "both fast servers used: %r" % cnt)


@h.test
def round_robin_even_share_same_setup():
    f = setup("round_robin")
    cnt = h.backend_counts(f.port, CLIENTS, h.sized(2.0, 1.0))
    total = sum(cnt.values())
    share = cnt["slow"] / float(total)
    h.check(0.25 <= share <= 0.42, "round robin: the slow backend's share %.3f (%r), want about 1/3" % (share, cnt))


@h.test
def slow_backend_avoided_sequentially():
    # one client, one request at a time: nothing is ever in flight when picking,
    # so only latency can tell the servers apart (p2c would give slow a third)
    f = setup("ewma")
    cnt = h.backend_counts(f.port, 1, h.sized(2.0, 1.0))
    total = sum(cnt.values())
    h.check(total >= 30, "too few requests to judge: %r" % cnt)
    h.check(cnt["slow"] <= max(3, total // 20),
            "ewma sent %d of %d sequential requests to the 150 ms backend (%r)" % (cnt["slow"], total, cnt))


h.main()
