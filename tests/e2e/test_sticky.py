"""sticky: cookie stickiness end to end. A curl cookie jar keeps a client on one
server; the Set-Cookie attributes; the value names no address or port; a
tampered cookie or one for a killed server falls back to the algorithm and
gets a new cookie; two instances with the same secret honour each other's
cookies (and an instance with another secret does not)."""
import collections
import os
import re

import harness as h

SECRET = "e2e-sticky-secret-0123456789"


def sticky_proxy(bs, sticky='{cookie: SRV, secret: "%s"}' % SECRET, **kw):
    pool = dict(kw.pop("pool_extra", {}))
    pool["sticky"] = sticky
    return h.start_proxy(bs, algorithm=kw.pop("algorithm", "round_robin"), pool_extra=pool, **kw)


def set_cookie(r, name):
    for v in r.header_all("Set-Cookie"):
        if v.startswith(name + "="):
            return v
    return None


def cookie_value(sc):
    return sc.split(";", 1)[0].split("=", 1)[1]


def attrs(sc):
    return [a.strip() for a in sc.split(";")[1:]]


def get_cookie(port, name="SRV", headers=None):
    r = h.get(port, "/first", headers=headers)
    h.eq(r.status, 200, "first request")
    sc = set_cookie(r, name)
    h.check(sc, "first response sets the %s cookie: %r" % (name, r.headers))
    return r.header("X-Echo-Name"), cookie_value(sc), sc


def with_cookie(port, name, value, path="/"):
    return h.get(port, path, headers=[("Cookie", "a=b; %s=%s" % (name, value))])


@h.test
def curl_cookie_jar_sticks():
    bs = h.echo_backends(3, prefix="st")
    f = sticky_proxy(bs, sticky="cookie")
    jar = os.path.join(h.tmpdir(), "jar.txt")
    seen = []
    for i in range(20):
        p = h.curl("-c", jar, "-b", jar, "-D", "-", "http://127.0.0.1:%d/s%d" % (f.port, i))
        h.eq(p.returncode, 0, "curl exit (%s)" % p.stderr.strip())
        m = re.search(r'"name":"([^"]+)"', p.stdout)
        h.check(m, "echo answer: %r" % p.stdout[-300:])
        seen.append(m.group(1))
        if i == 0:
            h.check(re.search(r"(?im)^set-cookie: fulcrum_sticky=", p.stdout), "default cookie name: %r" % p.stdout)
    h.eq(len(set(seen)), 1, "20 requests with the cookie jar: %r" % seen)
    with open(jar) as fh:
        h.check("fulcrum_sticky" in fh.read(), "curl stored the cookie")
    # without the jar, round robin rotates: stickiness is the cookie's doing
    others = {h.get(f.port, "/nojar%d" % i).header("X-Echo-Name") for i in range(6)}
    h.eq(len(others), 3, "without the cookie the algorithm (round robin) rotates: %r" % others)


@h.test
def set_cookie_attributes():
    bs = h.echo_backends(2, prefix="st")
    f = sticky_proxy(bs, sticky="cookie")
    _, value, sc = get_cookie(f.port, "fulcrum_sticky")
    a = attrs(sc)
    for want in ("Path=/", "Max-Age=86400", "HttpOnly", "SameSite=Lax"):
        h.check(want in a, "%s in %r" % (want, sc))
    h.check("Secure" not in a, "no Secure on plain http: %r" % sc)
    # X-Forwarded-Proto from a peer nobody trusts says nothing
    _, _, sc1 = get_cookie(f.port, "fulcrum_sticky", headers=[("X-Forwarded-Proto", "https")])
    h.check("Secure" not in attrs(sc1), "no Secure from an untrusted X-Forwarded-Proto: %r" % sc1)
    # from a trusted proxy in front (client.ip.trusted) it does
    t = sticky_proxy(bs, sticky="cookie",
                     client={"ip": {"header": "X-Forwarded-For", "trusted": ["127.0.0.1"]}})
    _, _, sc2 = get_cookie(t.port, "fulcrum_sticky", headers=[("X-Forwarded-Proto", "https")])
    h.check("Secure" in attrs(sc2), "Secure with a trusted X-Forwarded-Proto: https: %r" % sc2)
    for want in ("Path=/", "Max-Age=86400", "HttpOnly", "SameSite=Lax"):
        h.check(want in attrs(sc2), "%s in %r" % (want, sc2))
    # the value is opaque: no address, port or name of the server
    for b in bs:
        for leak in (str(b.port), "127.0.0.1", "7f000001", "%04x" % b.port, b.name):
            h.check(leak not in value, "cookie value %r contains %r (server %s)" % (value, leak, b.url))
    h.check(re.match(r"^[A-Za-z0-9._~-]+$", value), "cookie value is a plain token: %r" % value)
    # a custom name and max_age
    g = sticky_proxy(bs, sticky='{cookie: SRV, max_age: 1h, secret: "%s"}' % SECRET)
    _, _, sc3 = get_cookie(g.port, "SRV")
    h.check("Max-Age=3600" in attrs(sc3), "max_age 1h: %r" % sc3)


@h.test
def no_new_cookie_when_honoured():
    bs = h.echo_backends(3, prefix="st")
    f = sticky_proxy(bs)
    name, value, _ = get_cookie(f.port)
    for i in range(8):
        r = with_cookie(f.port, "SRV", value, "/h%d" % i)
        h.eq((r.status, r.header("X-Echo-Name")), (200, name), "request %d with the cookie" % i)
        h.check(set_cookie(r, "SRV") is None, "no new cookie while the old one is honoured: %r" % r.headers)


@h.test
def tampered_cookie_falls_back():
    bs = h.echo_backends(3, prefix="st")
    f = sticky_proxy(bs)
    name, value, _ = get_cookie(f.port)
    variants = [
        value[:-1] + ("A" if value[-1] != "A" else "B"),  # tag changed
        ("0" if value[0] != "0" else "1") + value[1:],  # server id changed, tag kept
        value + "x",
        "garbage",
        "",
    ]
    seen = collections.Counter()
    for v in variants:
        for i in range(3):
            r = with_cookie(f.port, "SRV", v, "/t%d" % i)
            h.eq(r.status, 200, "status with tampered cookie %r" % v)
            sc = set_cookie(r, "SRV")
            h.check(sc, "a new cookie is issued instead of %r" % v)
            nv = cookie_value(sc)
            h.check(nv != v, "re-issued the tampered value %r" % v)
            seen[r.header("X-Echo-Name")] += 1
            # the new cookie is valid: it sticks
            r2 = with_cookie(f.port, "SRV", nv)
            h.eq(r2.header("X-Echo-Name"), r.header("X-Echo-Name"), "new cookie %r sticks" % nv)
    # a tampered cookie is ignored, so the algorithm (round robin) spreads them
    h.check(len(seen) >= 2, "tampered cookies were not all honoured as %s: %r" % (name, seen))


@h.test
def cookie_for_killed_server_falls_back():
    bs = h.echo_backends(3, prefix="st")
    f = sticky_proxy(bs, pool_extra={"retries": 2, "cooldown": "30s"})
    name, value, _ = get_cookie(f.port)
    for b in bs:
        if b.name == name:
            b.kill()
    for i in range(4):
        r = with_cookie(f.port, "SRV", value, "/k%d" % i)
        h.eq(r.status, 200, "request %d with a cookie for the killed %s" % (i, name))
        h.check(r.header("X-Echo-Name") != name, "answered by a killed server?")
        sc = set_cookie(r, "SRV")
        h.check(sc, "a new cookie is issued when %s is gone (request %d): %r" % (name, i, r.headers))
        nv = cookie_value(sc)
        h.check(nv != value, "a different cookie value")
    # and the new cookie sticks to the new server
    new_name = r.header("X-Echo-Name")
    for i in range(5):
        r2 = with_cookie(f.port, "SRV", nv, "/n%d" % i)
        h.eq(r2.header("X-Echo-Name"), new_name, "the re-issued cookie sticks")


@h.test
def shared_secret_across_instances():
    bs = h.echo_backends(4, prefix="st")
    f1 = sticky_proxy(bs)
    f2 = sticky_proxy(bs)  # same servers, same secret, another process
    f3 = sticky_proxy(bs, sticky='{cookie: SRV, secret: "another-secret-abcdefghijk"}')
    pairs = []
    for i in range(4):  # round robin on f1: cookies for 4 different servers
        r = h.get(f1.port, "/one%d" % i)
        pairs.append((r.header("X-Echo-Name"), cookie_value(set_cookie(r, "SRV"))))
    h.eq(len({n for n, _ in pairs}), 4, "cookies for every server: %r" % pairs)
    for name, value in pairs:
        for i in range(3):
            r = with_cookie(f2.port, "SRV", value, "/two%d" % i)
            h.eq(r.header("X-Echo-Name"), name, "instance 2 honours instance 1's cookie")
            h.check(set_cookie(r, "SRV") is None, "no new cookie for a valid one: %r" % r.headers)
    # a different secret does not accept them
    rejected = 0
    for name, value in pairs:
        r = with_cookie(f3.port, "SRV", value)
        h.eq(r.status, 200, "status with a foreign cookie")
        sc = set_cookie(r, "SRV")
        h.check(sc is not None and cookie_value(sc) != value, "another secret re-issues the cookie")
        rejected += 1
    h.eq(rejected, 4, "foreign cookies")


h.main()
