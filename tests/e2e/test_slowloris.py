"""client.header_timeout against slowloris: a request head that trickles in is cut
with 408 within the timeout plus a margin, even though bytes keep arriving."""
import time

import harness as h


@h.test
def trickling_head_gets_408():
    e = h.Echo()
    f = h.start_proxy([e], client={"header_timeout": "1s"})
    before = e.requests()
    with h.Conn(f.port) as c:
        t0 = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        closed_at = None
        for i in range(60):  # one header line every 100 ms, never finishing
            try:
                c.send(b"X-Slow-%d: a\r\n" % i)
            except OSError:
                break
            if not c.is_open(0.1):
                break
        closed = c.wait_closed(3)
        dt = time.monotonic() - t0
        h.check(closed, "connection closed")
        h.check(dt <= 1.0 + 1.5 * h.SLOW, "cut after %.2f s with header_timeout 1s" % dt)
        h.check(bytes(c.buf).startswith(b"HTTP/1.1 408"), "408 sent: %r" % bytes(c.buf[:80]))
    h.eq(e.requests(), before, "nothing forwarded")


@h.test
def idle_after_connect_gets_closed():
    e = h.Echo()
    f = h.start_proxy([e], client={"header_timeout": "1s"})
    with h.Conn(f.port) as c:
        c.send(b"GE")
        t0 = time.monotonic()
        h.check(c.wait_closed(4), "closed")
        h.check(time.monotonic() - t0 <= 1.0 + 1.5 * h.SLOW, "within the timeout")


@h.test
def many_slow_clients_do_not_block_others():
    e = h.Echo()
    f = h.start_proxy([e], client={"header_timeout": "2s"})
    slow = [h.Conn(f.port) for _ in range(50)]
    for c in slow:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    h.eq(h.get(f.port, "/fast").status, 200, "a normal client is served while 50 slow ones wait")
    h.check(time.monotonic() - t0 < 2.0 * h.SLOW, "served promptly")
    for c in slow:
        c.close()


h.main()
