"""client.ip: the real client address. Without it the client is the socket peer
(127.0.0.1): the backend's X-Forwarded-For is "<given>, 127.0.0.1" and the
access log says 127.0.0.1. With a header and trusted peers, the access log's
client is the forwarded address (last one; with recursive: the first untrusted
one from the right); untrusted peers, malformed values and a missing header
give the socket address; IPv6 works."""
import json
import os
import time

import harness as h


def proxy(client_ip=None):
    e = h.Echo(name="ci")
    log = os.path.join(h.tmpdir(), "access.json")
    kw = {"client": {"ip": client_ip}} if client_ip else {}
    f = h.start_proxy([e], access=log, access_format="json", **kw)
    f.access_path = log
    return f


def log_entries(f, paths):
    """{path: client} from the JSON access log once every path is in it."""
    want = set(paths)
    deadline = time.monotonic() + 5 * h.SLOW
    while True:
        got = {}
        try:
            with open(f.access_path) as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        e = json.loads(line)
                    except ValueError:
                        h.fail("access log line is not JSON: %r" % line)
                    got[e.get("path")] = e.get("client")
        except OSError:
            pass
        if want <= set(got) or time.monotonic() > deadline:
            missing = want - set(got)
            h.check(not missing, "access log lacks %r; has %r" % (sorted(missing)[:5], sorted(got)[:10]))
            return got


def run_cases(f, cases):
    """cases: [(header value or None, expected client)]; one request each."""
    paths = []
    for i, (xff, _) in enumerate(cases):
        path = "/case%d" % i
        hs = [("X-Forwarded-For", xff)] if xff is not None else []
        r = h.get(f.port, path, headers=hs)
        h.eq(r.status, 200, "status for X-Forwarded-For %r" % xff)
        paths.append(path)
    got = log_entries(f, paths)
    bad = [(xff, got[p], want) for p, (xff, want) in zip(paths, cases) if got[p] != want]
    h.check(not bad, "access log client (header, got, want): %r" % bad)


@h.test
def without_config_peer_is_client():
    f = proxy()
    r = h.get(f.port, "/xff", headers=[("X-Forwarded-For", "198.51.100.9")])
    h.eq(r.status, 200, "status")
    h.eq(r.json()["headers"].get("x-forwarded-for"), "198.51.100.9, 127.0.0.1", "X-Forwarded-For upstream")
    r = h.get(f.port, "/noxff")
    h.eq(r.json()["headers"].get("x-forwarded-for"), "127.0.0.1", "X-Forwarded-For upstream without one")
    got = log_entries(f, ["/xff", "/noxff"])
    h.eq(got["/xff"], "127.0.0.1", "access log client with a spoofable header and no client.ip")
    h.eq(got["/noxff"], "127.0.0.1", "access log client")


@h.test
def trusted_peer_forwarded_address():
    f = proxy("{header: X-Forwarded-For, trusted: [127.0.0.1/32]}")
    run_cases(f, [
        ("198.51.100.9", "198.51.100.9"),
        ("203.0.113.7, 10.0.0.2", "10.0.0.2"),  # not recursive: the last address
        ("203.0.113.7,198.51.100.1", "198.51.100.1"),
        (None, "127.0.0.1"),  # no header: the peer
    ])


@h.test
def recursive_skips_trusted_hops():
    f = proxy("{header: X-Forwarded-For, trusted: [127.0.0.1/32, 10.0.0.0/8], recursive: true}")
    run_cases(f, [
        ("203.0.113.7, 10.0.0.2", "203.0.113.7"),
        ("198.51.100.1, 203.0.113.7, 10.9.8.7, 10.0.0.2", "203.0.113.7"),
        ("203.0.113.7", "203.0.113.7"),
    ])


@h.test
def untrusted_peer_uses_socket_address():
    f = proxy("{header: X-Forwarded-For, trusted: [10.0.0.0/8]}")
    run_cases(f, [
        ("198.51.100.9", "127.0.0.1"),
        ("203.0.113.7, 10.0.0.2", "127.0.0.1"),
    ])


@h.test
def ipv6_forwarded_addresses():
    f = proxy("{header: X-Forwarded-For, trusted: [127.0.0.1/32]}")
    run_cases(f, [
        ("2001:db8::7", "2001:db8::7"),
        ("198.51.100.1, 2001:db8:0:0:0:0:0:42", "2001:db8::42"),
    ])
    g = proxy("{header: X-Forwarded-For, trusted: [127.0.0.1/32, \"2001:db8:ffff::/48\"], recursive: true}")
    run_cases(g, [
        ("2001:db8::7, 2001:db8:ffff::1", "2001:db8::7"),
    ])


@h.test
def malformed_header_uses_socket_address():
    f = proxy("{header: X-Forwarded-For, trusted: [127.0.0.1/32]}")
    run_cases(f, [
        ("not-an-ip", "127.0.0.1"),
        ("999.1.1.1", "127.0.0.1"),
        ("1.2.3", "127.0.0.1"),
        ("", "127.0.0.1"),
        ("198.51.100.1, <script>", "127.0.0.1"),
    ])


@h.test
def other_header_name():
    f = proxy("{header: X-Real-IP, trusted: [127.0.0.1]}")
    r = h.get(f.port, "/real", headers=[("X-Real-IP", "192.0.2.55"), ("X-Forwarded-For", "198.51.100.9")])
    h.eq(r.status, 200, "status")
    h.eq(log_entries(f, ["/real"])["/real"], "192.0.2.55", "client from X-Real-IP, not X-Forwarded-For")


h.main()
