"""Pipelined requests are answered in order, even when spread over backends and
when an earlier one is slow."""
import threading

import harness as h


@h.test
def pipelined_in_order():
    bs = h.echo_backends(3)
    f = h.start_proxy(bs)
    with h.Conn(f.port) as c:
        paths = ["/p%d" % i for i in range(20)]
        c.send(b"".join(h.build_request("GET", p) for p in paths))
        got = [c.read_response() for _ in paths]
        h.eq([r.status for r in got], [200] * len(paths), "statuses")
        h.eq([r.json()["path"] for r in got], paths, "order")


@h.test
def pipelined_slow_first():
    bs = h.echo_backends(3)
    f = h.start_proxy(bs)
    with h.Conn(f.port) as c:
        paths = ["/sleep/300", "/a", "/bytes/70000", "/sleep/50", "/b"]
        c.send(b"".join(h.build_request("GET", p) for p in paths))
        got = [c.read_response() for _ in paths]
        h.eq([r.status for r in got], [200] * 5, "statuses")
        h.eq(got[0].json()["path"], "/sleep/300", "1st")
        h.eq(got[1].json()["path"], "/a", "2nd")
        h.eq(got[2].body_len, 70000, "3rd")
        h.eq(got[3].json()["path"], "/sleep/50", "4th")
        h.eq(got[4].json()["path"], "/b", "5th")


@h.test
def pipelined_with_bodies():
    bs = h.echo_backends(2)
    f = h.start_proxy(bs)
    with h.Conn(f.port) as c:
        reqs = [h.build_request("POST", "/echo", body=b"one"),
                h.build_request("POST", "/echo", [("Transfer-Encoding", "chunked")], h.chunked(b"two", 2)),
                h.build_request("GET", "/three"),
                h.build_request("POST", "/sink", body=b"x" * 100000)]
        c.send(b"".join(reqs))
        got = [c.read_response() for _ in reqs]
        h.eq(got[0].body, b"one", "1st")
        h.eq(got[1].body, b"two", "2nd")
        h.eq(got[2].json()["path"], "/three", "3rd")
        h.eq(got[3].json()["body_bytes"], 100000, "4th")


@h.test
def many_pipelined_answered_by_fulcrum():
    """3,000 pipelined requests that fulcrum answers itself (404: no route)
    all get their answer: a connection with more work than one pump's step
    budget resumes on the next loop turn instead of stalling until the idle
    timeout (it used to answer 1,000 and stop)."""
    e = h.Echo()
    port = h.free_port()
    cfg = h.config(port, [e]).replace("- {pool: web}", "- {host: only.example, pool: web}")
    f = h.Fulcrum.from_config(cfg, port=port)
    n = 3000
    with h.Conn(f.port, timeout=20) as c:
        data = b"".join(h.build_request("GET", "/x%d" % i) for i in range(n))
        t = threading.Thread(target=c.send, args=(data,), daemon=True)
        t.start()
        got = [c.read_response(timeout=10) for _ in range(n)]
        t.join(10)
    h.eq(len(got), n, "answers")
    h.eq({r.status for r in got}, {404}, "statuses")


h.main()
