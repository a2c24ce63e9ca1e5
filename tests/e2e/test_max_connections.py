"""client.max_connections: connections beyond the limit are not served; once one
closes, a new one is."""
import time

import harness as h


@h.test
def over_limit_not_served():
    e = h.Echo()
    f = h.start_proxy([e], client={"max_connections": 4})
    held = []
    for i in range(4):
        c = h.Conn(f.port)
        h.eq(c.request("GET", "/held%d" % i).status, 200, "connection %d within limit" % i)
        held.append(c)
    served_extra = False
    try:
        with h.Conn(f.port, timeout=3) as c:
            c.send(h.build_request("GET", "/extra"))
            try:
                r = c.read_response(timeout=2)
                served_extra = r.status == 200
            except (h.HTTPTimeout, ConnectionError, h.TestFailure):
                pass
    except OSError:
        pass
    h.check(not served_extra, "a 5th connection must not be served with max_connections 4")
    held.pop().close()
    time.sleep(0.3)
    r = h.wait_until(lambda: _try(f.port), timeout=5, what="a connection after one was freed")
    h.eq(r.status, 200, "served after a slot was freed")
    for c in held:
        h.check(c.request("GET", "/still").status == 200, "held connections keep working")
        c.close()


def _try(port):
    try:
        r = h.get(port, "/freed", timeout=1)
        return r if r.status == 200 else None
    except Exception:
        return None


h.main()
