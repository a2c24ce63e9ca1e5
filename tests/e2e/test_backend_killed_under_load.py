"""A backend killed mid-load: GETs over keep-alive connections from several
threads see zero failures (h2o's "a dead backend and zero failed requests")."""
import http.client
import threading
import time

import harness as h

THREADS = 8
DURATION = h.sized(6.0, 6.0)


@h.test(timeout=90)
def kill_one_of_three_zero_failures():
    bs = h.echo_backends(3)
    f = h.start_proxy(bs, workers=2, pool_extra={"retries": 2, "cooldown": "2s", "connect_timeout": "1s"})
    stop = threading.Event()
    ok = [0] * THREADS
    failures = []

    def worker(i):
        conn = http.client.HTTPConnection("127.0.0.1", f.port, timeout=10 * h.SLOW)
        n = 0
        while not stop.is_set():
            n += 1
            try:
                conn.request("GET", "/load/%d/%d" % (i, n))
                r = conn.getresponse()
                body = r.read()
                if r.status != 200:
                    failures.append("status %d: %r" % (r.status, body[:100]))
                else:
                    ok[i] += 1
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", f.port, timeout=10 * h.SLOW)
            except Exception as ex:
                failures.append("%s: %s" % (type(ex).__name__, ex))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", f.port, timeout=10 * h.SLOW)
        conn.close()

    ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in ts:
        t.start()
    time.sleep(DURATION / 3)
    before_kill = sum(ok)
    bs[1].kill()
    time.sleep(DURATION * 2 / 3)
    stop.set()
    for t in ts:
        t.join(15 * h.SLOW)
    total = sum(ok)
    h.check(before_kill > 50 and total - before_kill > 50, "load ran before and after the kill (%d, %d)"
            % (before_kill, total - before_kill))
    h.check(not failures, "%d failed requests of %d, e.g. %s" % (len(failures), total + len(failures), failures[:5]))
    survivors = bs[0].requests() + bs[2].requests()
    h.check(survivors >= total - before_kill, "the survivors took over")


h.main()
