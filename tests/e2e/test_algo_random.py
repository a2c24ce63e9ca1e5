"""algorithm: random (weighted): weights 3:1 give a 3:1 share over a few hundred
requests, without round robin's fixed rotation; a weight-0 server is never picked."""
import collections

import harness as h

N = h.sized(600, 240)


def names(port, n, tag):
    seq = []
    with h.Conn(port) as c:
        for i in range(n):
            r = c.request("GET", "/%s%d" % (tag, i))
            h.eq(r.status, 200, "status of request %d" % i)
            seq.append(r.header("X-Echo-Name"))
    return seq


@h.test
def weighted_3_1_share():
    a, b = h.Echo(name="a"), h.Echo(name="b")
    f = h.start_proxy([(a.url, "a", 3), (b.url, "b", 1)], algorithm="random")
    seq = names(f.port, N, "w")
    cnt = collections.Counter(seq)
    h.eq(set(cnt), {"a", "b"}, "both servers used")
    share = cnt["a"] / float(N)
    # expected 0.75, sd ~0.018 at 600 (~0.028 at 240): +-0.08 is > 2.8 sd, while
    # an unweighted pick (0.5) is far outside
    h.check(0.67 <= share <= 0.83, "a's share %.3f (%r) not within 0.75 +- 0.08" % (share, cnt))
    # random, not a rotation: round robin would give the same pattern every 4
    rot = all(seq[i] == seq[i % 4] for i in range(len(seq)))
    h.check(not rot, "the sequence is an exact period-4 rotation: that is round robin, not random")
    runs = max(len(r) for r in "".join(seq).split("a")) if "a" in seq else 0
    h.check("aaaaaa" in "".join(seq) or runs >= 2,
            "random picks should show runs (aaaaaa or bb) over %d picks: %s" % (N, "".join(seq[:80])))


@h.test
def weight_zero_never_picked():
    a, b, z = h.Echo(name="a"), h.Echo(name="b"), h.Echo(name="z")
    f = h.start_proxy([(a.url, "a", 1), (b.url, "b", 1), (z.url, "z", 0)], algorithm="random")
    cnt = collections.Counter(names(f.port, N // 2, "z"))
    h.eq(cnt.get("z", 0), 0, "weight-0 server picked: %r" % cnt)
    h.eq(z.requests(), 0, "the weight-0 backend saw requests")
    h.check(cnt["a"] > N // 8 and cnt["b"] > N // 8, "a and b share: %r" % cnt)


h.main()
