"""File-less mode: fulcrum --listen ADDR --to URL --to URL ... balances over them."""
import collections

import harness as h


@h.test
def fileless_round_robin_balances():
    bs = h.echo_backends(3)
    port = h.free_port()
    f = h.Fulcrum.fileless(port, bs, algorithm="round_robin", workers=1)
    names = []
    with h.Conn(port) as c:
        for i in range(30):
            r = c.request("GET", "/n%d" % i)
            h.eq(r.status, 200, "status")
            names.append(r.json()["name"])
    count = collections.Counter(names)
    h.eq(sorted(count), ["echo-1", "echo-2", "echo-3"], "every server used")
    h.eq(sorted(count.values()), [10, 10, 10], "equal share with round_robin: %r" % dict(count))


@h.test
def fileless_default_algorithm_uses_all():
    bs = h.echo_backends(2)
    port = h.free_port()
    h.Fulcrum.fileless(port, bs)
    names = set()
    for i in range(40):
        r = h.get(port, "/")
        h.eq(r.status, 200, "status")
        names.add(r.json()["name"])
    h.eq(names, {"echo-1", "echo-2"}, "both servers used")


@h.test
def fileless_log_level_flag_accepted():
    e = h.Echo()
    port = h.free_port()
    h.Fulcrum.fileless(port, [e], extra_args=["--log-level", "debug"])
    h.eq(h.get(port, "/").status, 200, "status")


h.main()
