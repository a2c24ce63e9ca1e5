"""algorithm: ip_hash. Many clients are simulated with X-Forwarded-For from the
trusted 127.0.0.1 (client.ip): one client address always reaches the same
server; different addresses spread over all servers; when a client's server is
killed, that client gets 200 from another server (not 503) and stays there,
while clients of the other servers keep theirs."""
import collections

import harness as h

CLIENT_IP = {"ip": "{header: X-Forwarded-For, trusted: [127.0.0.1/32]}"}
IPS = ["198.51.100.%d" % i for i in range(1, 41)] + ["2001:db8::%x" % i for i in range(1, 11)]


def ask(port, ip, path="/"):
    r = h.get(port, path, headers=[("X-Forwarded-For", ip)])
    h.eq(r.status, 200, "status for client %s" % ip)
    return r.header("X-Echo-Name")


def proxy(bs, **kw):
    return h.start_proxy(bs, algorithm="ip_hash", client=CLIENT_IP, **kw)


@h.test
def same_ip_same_server():
    bs = h.echo_backends(3, prefix="ih")
    f = proxy(bs)
    for ip in IPS[:20] + IPS[-3:]:
        got = {ask(f.port, ip, "/r%d" % i) for i in range(5)}
        h.eq(len(got), 1, "client %s reached several servers: %r" % (ip, got))


@h.test
def different_ips_spread():
    bs = h.echo_backends(3, prefix="ih")
    f = proxy(bs)
    where = {ip: ask(f.port, ip) for ip in IPS}
    cnt = collections.Counter(where.values())
    # 50 addresses over 3 servers: each should get a fair part (P(< 5) is tiny)
    h.eq(set(cnt), {"ih-1", "ih-2", "ih-3"}, "servers used by 50 client addresses: %r" % cnt)
    h.check(min(cnt.values()) >= 5, "spread of 50 client addresses: %r" % cnt)


@h.test
def socket_peer_without_trust():
    # control: without client.ip every request comes from 127.0.0.1, so the
    # forwarded addresses make no difference and one server gets everything
    bs = h.echo_backends(3, prefix="ih")
    f = h.start_proxy(bs, algorithm="ip_hash")
    got = collections.Counter(ask(f.port, ip) for ip in IPS[:20])
    h.eq(len(got), 1, "one client (127.0.0.1) reaches one server: %r" % got)


@h.test
def killed_server_client_moves():
    bs = h.echo_backends(3, prefix="ih")
    f = proxy(bs, pool_extra={"retries": 2, "cooldown": "30s"})
    where = {ip: ask(f.port, ip) for ip in IPS}
    victim_name = collections.Counter(where.values()).most_common(1)[0][0]
    victim = [b for b in bs if b.name == victim_name][0]
    victim.kill()
    moved = {}
    for ip in IPS:
        r = h.get(f.port, "/after", headers=[("X-Forwarded-For", ip)])
        h.eq(r.status, 200, "client %s after %s was killed (its server: %s)" % (ip, victim_name, where[ip]))
        n = r.header("X-Echo-Name")
        if where[ip] == victim_name:
            h.check(n != victim_name, "answered by the killed server?")
            moved[ip] = n
        else:
            h.eq(n, where[ip], "client %s of a live server moved" % ip)
    h.check(moved, "some clients were on the killed server")
    # the moved clients are stable on their new server
    for ip, n in moved.items():
        for i in range(3):
            h.eq(ask(f.port, ip, "/again%d" % i), n, "client %s after moving" % ip)


h.main()
