"""algorithm: least_conn, in the spirit of nginx-tests upstream_least_conn.t: while
a slow request (/sleep/1500) holds one server, the next requests go to the
others; two held requests land on two different servers; idle, the weights
decide (3:1)."""
import collections
import threading
import time

import harness as h

HOLD_MS = int(1500 * h.SLOW)


class Held:
    """A slow request in a thread; .name is the server that answered."""

    def __init__(self, port, ms=HOLD_MS):
        self.name = None
        self.status = None
        self.until = time.monotonic() + ms / 1000.0
        self.err = None
        self.t = threading.Thread(target=self._run, args=(port, ms), daemon=True)
        self.t.start()

    def _run(self, port, ms):
        try:
            r = h.get(port, "/sleep/%d" % ms, timeout=15)
            self.status, self.name = r.status, r.header("X-Echo-Name")
        except Exception as e:  # reported by join()
            self.err = repr(e)

    def join(self):
        self.t.join(20 * h.SLOW)
        h.check(self.err is None, "held request failed: %s" % self.err)
        h.eq(self.status, 200, "held request status")
        return self.name


def quick(port, n, tag, until):
    """Up to n requests one after another, stopping well before `until` (when
    the first held request ends); at least 4 must fit."""
    out = []
    for i in range(n):
        if time.monotonic() > until - 0.4 * h.SLOW:
            break
        r = h.get(port, "/%s%d" % (tag, i))
        h.eq(r.status, 200, "quick request status")
        out.append(r.header("X-Echo-Name"))
    h.check(len(out) >= 4, "only %d quick requests fit in the hold time; the test cannot judge" % len(out))
    return out


@h.test
def busy_server_avoided():
    bs = h.echo_backends(2, prefix="lc", threads=2)
    f = h.start_proxy(bs, algorithm="least_conn")
    held = Held(f.port)
    time.sleep(0.3 * h.SLOW)
    seq = quick(f.port, 10, "q", held.until)
    busy = held.join()
    h.check(busy in ("lc-1", "lc-2"), "held request server %r" % busy)
    h.check(busy not in seq, "requests went to %s while it held a slow request: %r" % (busy, seq))


@h.test
def two_held_on_two_servers_third_gets_the_rest():
    bs = h.echo_backends(3, prefix="lc", threads=2)
    f = h.start_proxy(bs, algorithm="least_conn")
    h1 = Held(f.port)
    time.sleep(0.3 * h.SLOW)
    h2 = Held(f.port)
    time.sleep(0.3 * h.SLOW)
    seq = quick(f.port, 12, "q", h1.until)
    n1, n2 = h1.join(), h2.join()
    h.check(n1 != n2, "two slow requests on the same server %s (the other two were idle)" % n1)
    free = ({"lc-1", "lc-2", "lc-3"} - {n1, n2}).pop()
    h.eq(set(seq), {free}, "quick requests while %s and %s were busy: %r" % (n1, n2, seq))


@h.test
def weights_when_idle():
    a, b = h.Echo(name="a"), h.Echo(name="b")
    f = h.start_proxy([(a.url, "a", 3), (b.url, "b", 1)], algorithm="least_conn")
    n = h.sized(400, 200)
    cnt = collections.Counter()
    with h.Conn(f.port) as c:
        for i in range(n):
            r = c.request("GET", "/i%d" % i)
            h.eq(r.status, 200, "status")
            cnt[r.header("X-Echo-Name")] += 1
    share = cnt["a"] / float(n)
    h.check(0.66 <= share <= 0.84, "idle least_conn 3:1: a's share %.3f (%r)" % (share, cnt))


@h.test
def weighted_busy_ratio():
    # weights 2 and 1: the first two slow requests take one server each (an
    # idle server is always least loaded); then a is at 1/2 and b at 1/1, so
    # everything else goes to a
    a, b = h.Echo(name="a", threads=4), h.Echo(name="b", threads=4)
    f = h.start_proxy([(a.url, "a", 2), (b.url, "b", 1)], algorithm="least_conn")
    held = [Held(f.port)]
    time.sleep(0.3 * h.SLOW)
    held.append(Held(f.port))
    time.sleep(0.3 * h.SLOW)
    seq = quick(f.port, 8, "q", held[0].until)
    got = sorted(x.join() for x in held)
    h.eq(got, ["a", "b"], "the first two slow requests (one per server: 0/2 then 0/1 is least)")
    h.eq(set(seq), {"a"}, "a (1 of weight 2) is less loaded than b (1 of weight 1): %r" % seq)


h.main()
