"""Clients that go away mid-request or mid-download: fulcrum releases the
connections (its open file descriptors return to the baseline) and keeps serving."""
import socket
import struct
import time

import harness as h


def proxy():
    """(echo, fulcrum, fulcrum's open fds after one request)."""
    e, f = h.warm_proxy(pool_extra={"idle_timeout": "1s"})
    return e, f, h.open_fds(f.pid)


def settle_fds(f, baseline, slack=4):
    try:
        h.wait_until(lambda: h.open_fds(f.pid) <= baseline + slack, timeout=5, what="fds")
    except h.TestFailure:
        h.fail("fulcrum's fds did not return to %d (+%d): now %d" % (baseline, slack, h.open_fds(f.pid)))


@h.test
def abort_while_waiting_for_backend():
    _, f, base = proxy()
    for i in range(20):
        c = h.Conn(f.port)
        c.send(h.build_request("GET", "/sleep/300"))
        c.close()
    time.sleep(0.5)
    settle_fds(f, base)
    h.eq(h.get(f.port, "/after").status, 200, "still serving")


@h.test
def abort_mid_download():
    _, f, base = proxy()
    for i in range(10):
        c = h.Conn(f.port)
        c.send(h.build_request("GET", "/bytes/100000000"))
        c._fill(time.monotonic() + 5)
        if i % 2:  # half of them with a reset
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    settle_fds(f, base)
    h.eq(h.get(f.port, "/after").status, 200, "still serving")


@h.test
def abort_mid_upload():
    e, f, base = proxy()
    for i in range(10):
        c = h.Conn(f.port)
        c.send(h.build_request("POST", "/sink", [("Content-Length", "100000000")]))
        c.send(b"x" * 200000)
        c.close()
    settle_fds(f, base)
    try:
        h.wait_until(lambda: e.stats()["open"] <= 3, timeout=5, what="backend connections")
    except h.TestFailure:
        h.fail("backend connections of aborted uploads did not close (backend /stats %r)" % e.stats())
    h.eq(h.get(f.port, "/after").status, 200, "still serving")


h.main()
