"""hash keys other than the client address: a cookie, the path (without the
query) and a query parameter each map one key value to one server, stably,
whatever else in the request changes; different values spread over servers;
a request without the key is still served."""
import collections

import harness as h

VALUES = ["k%d" % i for i in range(30)]


def check_key(bs, algorithm, hash_cfg, make):
    """make(value, i) -> (path, headers). Each value 4 times with varying
    extras: one server per value; all servers used over the values."""
    f = h.start_proxy(bs, algorithm=algorithm, pool_extra={"hash": hash_cfg})
    where = {}
    for v in VALUES:
        got = set()
        for i in range(4):
            path, headers = make(v, i)
            r = h.get(f.port, path, headers=headers)
            h.eq(r.status, 200, "status for key %s" % v)
            got.add(r.header("X-Echo-Name"))
        h.eq(len(got), 1, "key %s (%s) reached several servers: %r" % (v, hash_cfg, got))
        where[v] = got.pop()
    cnt = collections.Counter(where.values())
    h.eq(len(cnt), len(bs), "30 key values over %d servers (%s): %r" % (len(bs), hash_cfg, cnt))
    return f, where


@h.test
def cookie_key():
    bs = h.echo_backends(3, prefix="hk")
    f, where = check_key(bs, "consistent_hash", "{key: cookie, name: uid}",
                         lambda v, i: ("/c/%d?x=%d" % (i, i),
                                       [("Cookie", "a=%d; uid=%s; z=%d" % (i, v, i) if i % 2 else "uid=%s" % v)]))
    # the value decides, not the rest of the Cookie header: the same mapping
    # as a cookie header with only that cookie, or split over two headers
    for v in VALUES[:10]:
        r = h.get(f.port, "/c", headers=[("Cookie", "other=1"), ("Cookie", "uid=%s" % v)])
        h.eq(r.header("X-Echo-Name"), where[v], "uid=%s in a second Cookie header" % v)
    r = h.get(f.port, "/nocookie")
    h.eq(r.status, 200, "request without the cookie")


@h.test
def path_key():
    bs = h.echo_backends(3, prefix="hk")
    f, where = check_key(bs, "consistent_hash", "{key: path}",
                         lambda v, i: ("/p/%s?noise=%d" % (v, i * 7919), [("X-Noise", str(i))]))
    h.eq(h.get(f.port, "/p/k1").header("X-Echo-Name"), where["k1"], "path without a query")


@h.test
def query_key():
    bs = h.echo_backends(3, prefix="hk")
    f, where = check_key(bs, "consistent_hash", "{key: query, name: user}",
                         lambda v, i: ("/q/%d/%d?a=%d&user=%s&b=%d" % (i, i * 31, i, v, i) if i % 2
                                       else "/other%d?user=%s" % (i, v), []))
    r = h.get(f.port, "/q?nouser=1")
    h.eq(r.status, 200, "request without the parameter")


@h.test
def header_key_ip_hash():
    # ip_hash accepts the same hash keys: here a header
    bs = h.echo_backends(3, prefix="hk")
    check_key(bs, "ip_hash", "{key: header, name: X-Tenant}",
              lambda v, i: ("/t%d" % i, [("X-Tenant", v)]))


h.main()
