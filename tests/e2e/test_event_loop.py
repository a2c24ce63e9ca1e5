"""Which event loop runs: io_uring by default, epoll with `io_uring: off` or
FULCRUM_IO_URING=off (the variable wins over the file), epoll with a warning
that says why when the kernel refuses io_uring (a seccomp filter, as in
containers), and a clean start-up error when `io_uring: on` demands it.
Every other e2e test runs on both loops (CTest's e2e_ and e2e_epoll_ names);
this one checks the choice itself."""
import os
import sys

import harness as h

NO_URING = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "no_io_uring.py")]


def proxy(top_extra="", env=None, wrapper=(), wait=True):
    e = h.Echo()
    port = h.free_port()
    cfg = h.config(port, [e], log_level="info", top_extra=top_extra)
    env = dict(env or {})
    env.setdefault("FULCRUM_IO_URING", None)  # the suite's own choice must not leak in
    return h.Fulcrum.from_config(cfg, port=port, env=env, wrapper=wrapper, wait=wait)


def serves(f, n=20):
    with h.Conn(f.port) as c:  # one keep-alive connection, many requests
        for i in range(n):
            c.send(h.build_request("GET", "/loop%d" % i))
            r = c.read_response()
            h.eq(r.status, 200, "request %d" % i)
            h.eq(r.json()["path"], "/loop%d" % i, "path of request %d" % i)
    h.eq(h.get(f.port, "/new").status, 200, "a request on a new connection")


@h.test
def io_uring_by_default():
    f = proxy()
    why = h.io_uring_refused()
    if why:  # auto falls back, and says why
        f.wait_for_log("event loop: epoll, because io_uring cannot be used")
    else:
        f.wait_for_log("event loop: io_uring")
    serves(f)


@h.test
def off_in_the_file_or_the_environment():
    f = proxy(top_extra="io_uring: off")
    f.wait_for_log("event loop: epoll (io_uring: off)")
    serves(f)
    f.stop()
    g = proxy(env={"FULCRUM_IO_URING": "off"})
    g.wait_for_log("event loop: epoll (io_uring: off)")
    serves(g)
    g.stop()
    # the variable overrides the file
    if not h.io_uring_refused():
        k = proxy(top_extra="io_uring: off", env={"FULCRUM_IO_URING": "on"})
        k.wait_for_log("event loop: io_uring")
        serves(k)


@h.test
def refused_by_the_kernel_falls_back_to_epoll():
    f = proxy(wrapper=NO_URING)
    text = f.wait_for_log("event loop: epoll, because io_uring cannot be used")
    h.check("io_uring_setup: Operation not permitted" in text, "the reason is given:\n" + text[-800:])
    serves(f)


@h.test
def required_but_refused_is_a_start_up_error():
    f = proxy(top_extra="io_uring: on", wrapper=NO_URING, wait=False)
    rc = f.wait(10)
    h.check(rc is not None and rc != 0, "fulcrum exits with an error (got %r)" % rc)
    err = f.stderr_text()
    h.check("io_uring: on, but io_uring cannot be used: io_uring_setup: Operation not permitted" in err,
            "the error says why:\n" + err[-800:])


@h.test
def bad_values_are_refused():
    path = h.write_file(h.config(h.free_port(), [("http://127.0.0.1:9", "x", 1)], top_extra="io_uring: maybe"))
    r = h.run_fulcrum(["-c", path, "--check"], env={"FULCRUM_IO_URING": None})
    h.check(r.returncode != 0, "--check fails")
    h.check('io_uring: must be auto, on or off (got "maybe")' in r.stderr, r.stderr)
    good = h.write_file(h.config(h.free_port(), [("http://127.0.0.1:9", "x", 1)]))
    r = h.run_fulcrum(["-c", good, "--check"], env={"FULCRUM_IO_URING": "sometimes"})
    h.check(r.returncode != 0, "a bad FULCRUM_IO_URING fails --check")
    h.check('FULCRUM_IO_URING: must be auto, on or off (got "sometimes")' in r.stderr, r.stderr)


h.main()
