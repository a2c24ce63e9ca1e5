"""algorithm: consistent_hash with hash: {key: header, name: X-User}: a key maps
to one server, stably; killing one of 4 servers (cool-down makes it
ineligible) moves only that server's keys, the others keep their server; with
balance_factor 1.25 many concurrent slow requests for one key spill over to
other servers, with balance_factor 0 they all stay on the key's server."""
import collections
import threading

import harness as h

KEYS = ["user-%d" % i for i in range(h.sized(120, 60))]


def hash_pool(extra=""):
    return {"hash": "{key: header, name: X-User%s}" % extra}


def ask(port, key, path="/"):
    r = h.get(port, path, headers=[("X-User", key)])
    h.eq(r.status, 200, "status for key %s" % key)
    return r.header("X-Echo-Name")


def mapping(port, tag):
    return {k: ask(port, k, "/%s" % tag) for k in KEYS}


@h.test
def stable_mapping_and_spread():
    bs = h.echo_backends(4, prefix="ch")
    f = h.start_proxy(bs, algorithm="consistent_hash", pool_extra=hash_pool())
    m1 = mapping(f.port, "one")
    m2 = mapping(f.port, "two")
    diff = [k for k in KEYS if m1[k] != m2[k]]
    h.check(not diff, "keys changed server between rounds: %r" % [(k, m1[k], m2[k]) for k in diff[:5]])
    cnt = collections.Counter(m1.values())
    h.eq(len(cnt), 4, "all 4 servers own keys: %r" % cnt)
    h.check(min(cnt.values()) >= len(KEYS) // 12, "keys spread over the ring: %r" % cnt)
    # a second proxy with the same servers maps keys the same way (the ring
    # depends on the servers, not on the instance)
    g = h.start_proxy(bs, algorithm="consistent_hash", pool_extra=hash_pool())
    m3 = mapping(g.port, "three")
    h.eq(sum(1 for k in KEYS if m3[k] != m1[k]), 0, "keys mapped differently by a second instance")


@h.test
def removing_one_server_moves_only_its_keys():
    bs = h.echo_backends(4, prefix="ch")
    f = h.start_proxy(bs, algorithm="consistent_hash", pool_extra=dict(hash_pool(), retries=2, cooldown="30s"))
    before = mapping(f.port, "before")
    victim = collections.Counter(before.values()).most_common(1)[0][0]
    [b for b in bs if b.name == victim][0].kill()
    after = mapping(f.port, "after")  # the first key of the victim finds it refusing
    kept = [k for k in KEYS if before[k] != victim]
    moved_wrongly = [(k, before[k], after[k]) for k in kept if after[k] != before[k]]
    h.check(not moved_wrongly, "keys of live servers moved when %s died: %r" % (victim, moved_wrongly[:8]))
    orphans = [k for k in KEYS if before[k] == victim]
    h.check(all(after[k] != victim for k in orphans), "keys still on the dead server")
    # the orphans spread over the remaining servers (not all onto one neighbour
    # necessarily, but onto live ones), and stay put
    again = mapping(f.port, "again")
    h.eq([k for k in KEYS if again[k] != after[k]], [], "mapping after the removal is stable")


def concurrent_same_key(port, n, ms):
    names = []
    errs = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(10)
            r = h.get(port, "/sleep/%d?i=%d" % (ms, i), headers=[("X-User", "hot-key")], timeout=20)
            with lock:
                names.append((r.status, r.header("X-Echo-Name")))
        except Exception as e:
            errs.append(repr(e))

    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30 * h.SLOW)
    h.check(not errs, "errors: %r" % errs[:3])
    h.eq(sorted(set(s for s, _ in names)), [200], "statuses")
    return collections.Counter(n for _, n in names)


@h.test
def bounded_load_spills_hot_key():
    bs = h.echo_backends(4, prefix="ch", threads=8)
    f = h.start_proxy(bs, algorithm="consistent_hash", workers=2,
                      pool_extra=hash_pool(", balance_factor: 1.25"))
    home = ask(f.port, "hot-key")
    cnt = concurrent_same_key(f.port, 16, 1000)
    # no server above ceil(1.25 x (in flight + 1) / 4) = 6 for 16 in flight
    h.check(len(cnt) >= 3, "16 concurrent requests for one key stayed on %r" % cnt)
    h.check(max(cnt.values()) <= 7, "bounded load: at most about 1.25 x average per server: %r" % cnt)
    h.check(cnt[home] >= 1, "the key's own server %s takes its share: %r" % (home, cnt))


@h.test
def unbounded_hot_key_stays():
    bs = h.echo_backends(4, prefix="ch", threads=8)
    f = h.start_proxy(bs, algorithm="consistent_hash", workers=2,
                      pool_extra=hash_pool(", balance_factor: 0"))
    home = ask(f.port, "hot-key")
    cnt = concurrent_same_key(f.port, 16, 500)
    h.eq(dict(cnt), {home: 16}, "balance_factor 0: every request for the key on its server")


h.main()
