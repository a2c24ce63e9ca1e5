"""Round robin rotates exactly: weights 1,1,1 -> a cycle of the three names (from
a random start); weights 3,1 -> the smooth 3:1 pattern a a b a (a rotation of it)."""
import harness as h


def sequence(port, n, fresh=False):
    seq = []
    with h.Conn(port) as c:
        for i in range(n):
            r = h.get(port, "/rr%d" % i) if fresh else c.request("GET", "/rr%d" % i)
            h.eq(r.status, 200, "status")
            seq.append(r.json()["name"])
    return seq


def is_cycle(seq, period):
    return all(seq[i] == seq[i % period] for i in range(len(seq)))


@h.test
def equal_weights_exact_cycle():
    bs = h.echo_backends(3)
    f = h.start_proxy(bs, workers=1)
    seq = sequence(f.port, 30)
    h.eq(sorted(seq[:3]), ["echo-1", "echo-2", "echo-3"], "first three are the three servers: %r" % seq[:6])
    h.check(is_cycle(seq, 3), "exact rotation: %r" % seq)


@h.test
def equal_weights_across_connections():
    bs = h.echo_backends(3)
    f = h.start_proxy(bs, workers=1)
    seq = sequence(f.port, 24, fresh=True)
    h.eq(sorted(seq[:3]), ["echo-1", "echo-2", "echo-3"], "first three: %r" % seq[:6])
    h.check(is_cycle(seq, 3), "exact rotation across new connections: %r" % seq)


@h.test
def smooth_weighted_3_1():
    a, b = h.Echo(name="a"), h.Echo(name="b")
    f = h.start_proxy([(a.url, "a", 3), (b.url, "b", 1)], workers=1)
    seq = sequence(f.port, 40)
    s = "".join(seq)
    h.eq(s.count("a"), 30, "3:1 share: %s" % s)
    smooth = ["aaba", "abaa", "baaa", "aaab"]
    h.check(is_cycle(seq, 4) and s[:4] in smooth, "smooth weighted pattern (a a b a rotated): %s" % s)
    h.check("aaaa" not in s, "smooth: never four a in a row: %s" % s)


@h.test
def smooth_weighted_5_1_1():
    # nginx's smooth weighted round robin: a a b a c a a (for 5,1,1), rotated
    bs = [h.Echo(name=n) for n in "abc"]
    f = h.start_proxy([(bs[0].url, "a", 5), (bs[1].url, "b", 1), (bs[2].url, "c", 1)], workers=1)
    seq = sequence(f.port, 35)
    s = "".join(seq)
    h.eq((s.count("a"), s.count("b"), s.count("c")), (25, 5, 5), "5:1:1 share: %s" % s)
    h.check(is_cycle(seq, 7), "period 7: %s" % s)
    h.check(s[:7] in ("aabacaa" * 2)[:13] or s[:7] in ("aacabaa" * 2), "smooth pattern: %s" % s)


h.main()
