"""HTTP/2 requests that must be refused (RFC 9113 section 8: RST_STREAM
PROTOCOL_ERROR or a 400, never forwarded, the connection still serving the
next stream), and attacks on the h2 layer (rapid reset, CONTINUATION flood,
SETTINGS, PING and empty DATA floods, HPACK bomb, too many streams): each ends
with a GOAWAY within bounded time while another client's requests go on
unhurt, and fulcrum serves afterwards. The malformed requests and the attacks
come from h2_peer.py (python3-h2 with its own checks off, or frames written by
hand) under /usr/bin/python3."""
import time

import harness as h
import h2_helpers as hh
from h2_helpers import req

hh.skip_unless_tools()


def base(path, method="GET", authority="localhost"):
    return [[":method", method], [":scheme", "http"], [":authority", authority], [":path", path]]


def without(hdrs, name):
    return [hv for hv in hdrs if hv[0] != name]


def run_cases(cases, valid=(), refusals=(400,), **start_kw):
    """cases: {name: (header list, body or None)} refused (RST_STREAM
    PROTOCOL_ERROR or a status in refusals); valid: the same, served. Each on
    its own connection, followed there by a valid stream. All cases are
    checked; the failures are reported together."""
    rec = hh.RecordingBackend()
    f = hh.start([(rec.url, "rec", 1)], **start_kw)
    names = list(cases) + list(valid)
    batch = []
    for name in names:
        hdrs, body = cases[name] if name in cases else valid[name]
        bad = {"op": "request", "name": "bad", "raw": hdrs}
        if body is not None:
            bad["body"] = body
        batch.append(hh.client(f.port, [bad, {"op": "wait", "names": ["bad"], "timeout": 5},
                                        req("next", "/next/" + name), {"op": "wait", "names": ["next"], "timeout": 5}],
                               timeout=20))
    results = hh.peer({"batch": batch}, timeout=30 + 5 * len(batch))
    time.sleep(0.2)
    problems = []
    for name, res in zip(names, results):
        why = []
        if not res.get("ok"):
            problems.append("%s: peer error %s" % (name, res.get("error")))
            continue
        st, nx = res["streams"]["bad"], res["streams"]["next"]
        seen = [r for r in rec.requests if ("x-case", name) in [(k.lower(), v) for k, v in r.headers]]
        if name in cases:
            if not (st["reset"] == hh.PROTOCOL_ERROR or st["status"] in refusals):
                why.append("refused with RST_STREAM PROTOCOL_ERROR or %s, got status=%s reset=%s"
                           % (refusals, st["status"], st["reset"]))
            whole = [r for r in seen if r.complete]
            if whole:
                why.append("the server got it: %r" % [r.raw_head for r in whole])
            elif seen and not name.startswith("cl_"):
                why.append("the server got its head: %r" % [r.raw_head for r in seen])
        else:
            if st["status"] != 200 or len(seen) != 1:
                why.append("served: status=%s reset=%s, the server saw it %d times" % (st["status"], st["reset"],
                                                                                       len(seen)))
        if nx["status"] != 200:
            why.append("the next stream on the connection: status=%s reset=%s" % (nx["status"], nx["reset"]))
        if res.get("h2_error"):
            why.append("h2 error %s" % res["h2_error"])
        if why:
            problems.append("%s: %s\n    %s" % (name, "; ".join(why), hh.describe(res, 12).replace("\n", "\n  ")))
    h.check(not problems, "%d of %d cases wrong:\n%s" % (len(problems), len(names), "\n".join(problems)))
    return rec


def case(name, extra=(), method="GET", hdrs=None, body=None):
    """The header list of a case, tagged x-case: name (last, after everything)."""
    hs = hdrs if hdrs is not None else base("/bad/" + name, method) + [list(x) for x in extra]
    return hs + [["x-case", name]], body


@hh.test
def connection_specific_headers():
    run_cases({
        "connection": case("connection", [("connection", "keep-alive")]),
        "connection_close": case("connection_close", [("connection", "close")]),
        "keep_alive": case("keep_alive", [("keep-alive", "timeout=5")]),
        "proxy_connection": case("proxy_connection", [("proxy-connection", "keep-alive")]),
        "transfer_encoding": case("transfer_encoding", [("transfer-encoding", "chunked")], "POST", body="5\r\nhello"),
        "upgrade": case("upgrade", [("upgrade", "websocket")]),
    })


@hh.test
def te_other_than_trailers():
    rec = run_cases({
        "te_gzip": case("te_gzip", [("te", "gzip")]),
        "te_trailers_and_more": case("te_trailers_and_more", [("te", "trailers, deflate")]),
    }, valid={"te_trailers": case("te_trailers", [("te", "trailers")])})
    r = rec.find("/bad/te_trailers")[0]
    h.check(r.all("te") in ([], ["trailers"]), "te: trailers forwarded as is or dropped: %r" % r.raw_head)


@hh.test
def bad_names_and_values():
    run_cases({
        "name_uppercase": case("name_uppercase", [("X-Upper", "1")]),
        "name_space": case("name_space", [("x bad", "1")]),
        "name_colon": case("name_colon", [("x:bad", "1")]),
        "name_empty": case("name_empty", [("", "1")]),
        "value_cr": case("value_cr", [("x-v", "a\rb")]),
        "value_lf": case("value_lf", [("x-v", "a\nb")]),
        "value_crlf_injection": case("value_crlf_injection", [("x-v", "a\r\nx-injected: yes")]),
        "value_nul": case("value_nul", [("x-v", "a\x00b")]),
        "value_leading_space": case("value_leading_space", [("x-v", " a")]),
        "value_trailing_space": case("value_trailing_space", [("x-v", "a ")]),
        "value_leading_tab": case("value_leading_tab", [("x-v", "\ta")]),
        "value_trailing_tab": case("value_trailing_tab", [("x-v", "a\t")]),
    }, valid={"value_inner_space": case("value_inner_space", [("x-v", "a b\tc")]),
              "value_uppercase": case("value_uppercase", [("x-v", "ABC")])})


@hh.test
def bad_pseudo_headers():
    b = base("/bad/x")

    def p(name, hs):
        return case(name, hdrs=[[k, v.replace("/bad/x", "/bad/" + name)] for k, v in hs])
    run_cases({
        "missing_method": p("missing_method", without(b, ":method")),
        "missing_path": p("missing_path", without(b, ":path")),
        "missing_scheme": p("missing_scheme", without(b, ":scheme")),
        "empty_path": p("empty_path", without(b, ":path") + [[":path", ""]]),
        "repeated_method": p("repeated_method", b[:1] + [[":method", "POST"]] + b[1:]),
        "repeated_path": p("repeated_path", b + [[":path", "/bad/x/2"]]),
        "repeated_scheme": p("repeated_scheme", b + [[":scheme", "https"]]),
        "repeated_authority": p("repeated_authority", b + [[":authority", "other.example"]]),
        "pseudo_after_regular": p("pseudo_after_regular", without(b, ":path") + [["x-a", "1"], [":path", "/bad/x"]]),
        "unknown_pseudo": p("unknown_pseudo", b + [[":foo", "bar"]]),
        "status_in_request": p("status_in_request", b + [[":status", "200"]]),
        "protocol_without_connect": p("protocol_without_connect", b + [[":protocol", "websocket"]]),
    })


@hh.test
def content_length_disagrees_with_data():
    run_cases({
        "cl_more": case("cl_more", [("content-length", "10")], "POST", body="x" * 20),
        "cl_less": case("cl_less", [("content-length", "100")], "POST", body="x" * 50),
        "cl_no_data": case("cl_no_data", [("content-length", "5")], "POST"),
        "cl_two_values": case("cl_two_values", [("content-length", "5"), ("content-length", "6")], "POST",
                              body="hello"),
        "cl_not_a_number": case("cl_not_a_number", [("content-length", "5x")], "POST", body="hello"),
    }, valid={"cl_right": case("cl_right", [("content-length", "5")], "POST", body="hello")})


@hh.test
def authority_and_host_disagree():
    rec = run_cases({
        "host_differs": case("host_differs", [("host", "other.example")]),
    }, valid={"host_agrees": case("host_agrees", [("host", "localhost")]),
              "host_only": case("host_only", hdrs=without(base("/bad/host_only"), ":authority") +
                                [["host", "only.example"]])})
    h.eq(rec.find("/bad/host_agrees")[0].all("host"), ["localhost"], "one Host")
    h.eq(rec.find("/bad/host_only")[0].all("host"), ["only.example"], "Host without :authority")


def big(name, n):
    return case(name, [("x-big-%d" % i, "v" * 1000) for i in range(n)])


@hh.test
def header_list_beyond_max_header_list_size():
    # 20 fields of 1000 bytes: beyond the default 16384 (in CONTINUATION
    # frames); 12 kB passes
    rec = run_cases({"too_big": big("too_big", 20)}, refusals=(400, 431),
                    valid={"fits_12k": big("fits_12k", 12)})
    h.eq(len(rec.find("/bad/fits_12k")[0].all("x-big-11")), 1, "a 12 kB header list passes")


@hh.test
def header_list_raised_with_max_header_size():
    # raised together with client.max_header_size: 40 kB passes, 70 kB does not
    rec = run_cases({"too_big": big("too_big", 70)}, refusals=(400, 431),
                    valid={"fits_40k": big("fits_40k", 40)},
                    client={"max_header_size": "64k"}, http2={"max_header_list_size": "64k"})
    h.eq(len(rec.find("/bad/fits_40k")[0].all("x-big-39")), 1, "a 40 kB header list passes")


@hh.test
def header_list_limit_from_the_configuration():
    rec = run_cases({"over_8k": big("over_8k", 9)}, refusals=(400, 431),
                    valid={"under_8k": big("under_8k", 6)}, http2={"max_header_list_size": 8192})
    h.eq(len(rec.find("/bad/under_8k")[0].all("x-big-5")), 1, "a 6 kB header list passes")


# ---------------------------------------------------------------- attacks

GOAWAY_BOUND = 5.0  # seconds from the first frame of the attack to the GOAWAY


def attack(mode, codes=(hh.ENHANCE_YOUR_CALM, hh.PROTOCOL_ERROR), http2=None, rss_bound_mb=h.sized(48, 256),
           more=None, **params):
    """Runs the attack beside a Victim, then checks (all of them, reported
    together): the victim's latency and errors, the GOAWAY (code, time), the
    close, fulcrum's memory, that it still serves, and more(res, echo, victim)
    (a list of problems)."""
    e = h.Echo()
    f = hh.start([e], http2=http2)
    h.eq(h.get(f.port, "/warm").status, 200, "warm-up")
    v = hh.Victim(f.port)
    time.sleep(0.3)
    rss0 = f.rss_kb()
    stop = hh.rss_sampler(f.pid)
    bound = GOAWAY_BOUND * h.SLOW
    sc = {"port": f.port, "mode": mode, "linger": 5 * h.SLOW, "close_after_goaway": 2 * h.SLOW,
          "max_time": bound + 1}
    sc.update(params)
    res = hh.peer(sc, timeout=60)
    time.sleep(0.3)
    peak = stop()
    v.stop()
    h.check(res.get("ok"), "attack peer: %s" % res.get("error"))
    problems = []
    try:
        v.check(what="during the %s" % mode)
    except h.TestFailure as ex:
        problems.append(str(ex))
    if not res["goaways"]:
        problems.append("no GOAWAY (%d units sent in %.2f s)" % (res["sent"], res["t_stop"]))
    else:
        g = res["goaways"][0]
        if g["error_code"] not in codes:
            problems.append("the GOAWAY's error code is %s, want %s" % (hh.code_name(g["error_code"]),
                                                                          " or ".join(map(hh.code_name, codes))))
        if g["t"] > bound:
            problems.append("GOAWAY after %.2f s (bound %.1f s)" % (g["t"], bound))
        if not res["closed"]:
            problems.append("the connection is still open %.1f s after the GOAWAY" % (2 * h.SLOW))
    if peak - rss0 > rss_bound_mb * 1024:
        problems.append("fulcrum's RSS grew by %d kB (bound %d MB)" % (peak - rss0, rss_bound_mb))
    after = hh.peer(hh.client(f.port, [req("a", "/after"), {"op": "wait"}]))
    if not (after.get("ok") and after["streams"]["a"]["status"] == 200):
        problems.append("fulcrum does not serve h2 after the attack: %s" % hh.describe(after))
    try:
        h.eq(h.get(f.port, "/after-h1").status, 200, "HTTP/1.1 after the attack")
    except Exception as ex:
        problems.append("fulcrum does not serve HTTP/1.1 after the attack: %r" % ex)
    if more:
        problems += more(res, e, v)
    h.check(not problems, "%s:\n  - %s\n  what the attacker saw:\n  %s"
            % (mode, "\n  - ".join(problems), hh.describe(res, 16)))
    return res


def attack_requests(e, v, extra=0):
    """Requests the server got from the attacker: all but the victim's, the
    warm-up, the check afterwards and `extra`."""
    return e.requests() - len(v.lat) - len(v.errors) - 3 - extra


@hh.test(timeout=90)
def rapid_reset():
    # CVE-2023-44487: HEADERS + RST_STREAM pairs as fast as the socket takes them
    def more(res, e, v):
        got = attack_requests(e, v)
        out = []
        if got >= 2000:
            out.append("the server got %d of the %d reset requests" % (got, res["sent"]))
        if res["sent"] <= 1000:
            out.append("only %d streams were sent before the GOAWAY: the budget is 1000" % res["sent"])
        return out
    attack("rapid_reset", max=h.sized(20000, 10000), path="/rr", more=more)


def none_forwarded(extra=0):
    def more(res, e, v):
        got = attack_requests(e, v, extra)
        return ["%d requests of the attack reached the server" % got] if got else []
    return more


@hh.test(timeout=90)
def continuation_flood():
    # CVE-2024-27316: a header block that never ends, 16 KiB of fields per frame
    def more(res, e, v):
        out = none_forwarded()(res, e, v)
        if res["bytes_sent"] >= 64 << 20:
            out.append("fulcrum took %d bytes of one header block" % res["bytes_sent"])
        return out
    attack("continuation_flood", codes=(hh.ENHANCE_YOUR_CALM, hh.PROTOCOL_ERROR, hh.COMPRESSION_ERROR),
           size=16384, max=20000, path="/flood", more=more)


@hh.test(timeout=90)
def empty_continuation_flood():
    attack("continuation_flood", size=0, max=200000, path="/flood", more=none_forwarded())


@hh.test(timeout=90)
def settings_flood():
    attack("settings_flood", codes=(hh.ENHANCE_YOUR_CALM,), max=200000)


@hh.test(timeout=90)
def ping_flood():
    attack("ping_flood", codes=(hh.ENHANCE_YOUR_CALM,), max=200000)


@hh.test(timeout=90)
def empty_data_flood():
    attack("empty_data_flood", max=200000, path="/sink")


@hh.test(timeout=90)
def hpack_bomb():
    # one 4000-byte field in the HPACK table, then requests of 16000 one-byte
    # references to it: 64 MB each once decoded, far beyond max_header_list_size
    def more(res, e, v):
        out = none_forwarded(extra=1)(res, e, v)  # the request seeding the table passes
        bad = {k: s for k, s in res["stream_status"].items() if k != "1" and s != 431}
        if bad:
            out.append("bomb streams answered other than 431 (or reset): %s" % bad)
        return out
    attack("hpack_bomb", codes=(hh.ENHANCE_YOUR_CALM, hh.PROTOCOL_ERROR, hh.COMPRESSION_ERROR),
           size=4000, repeat=16000, max=5000, path="/bomb", more=more)


@hh.test(timeout=90)
def too_many_concurrent_streams():
    # 10 slow streams fill max_concurrent_streams: 10, then more streams
    hold = 10

    def more(res, e, v):
        out = []
        got = attack_requests(e, v)
        if got != hold:
            out.append("the server got %d requests, want the %d allowed and none beyond" % (got, hold))
        first_extra = 1 + 2 * hold
        code = res["stream_rst"].get(str(first_extra))
        g = res["goaways"][0] if res["goaways"] else None
        if not (code in (hh.REFUSED_STREAM, hh.PROTOCOL_ERROR) or (
                g and g["last_stream_id"] < first_extra and g["error_code"] == hh.PROTOCOL_ERROR)):
            out.append("stream %d (the 11th) is not refused with RST_STREAM REFUSED_STREAM/PROTOCOL_ERROR or "
                       "GOAWAY PROTOCOL_ERROR" % first_extra)
        held = [res["stream_rst"].get(str(1 + 2 * i)) for i in range(hold)]
        if hh.REFUSED_STREAM in held:
            out.append("allowed streams refused: %s" % held)
        return out
    attack("too_many_streams", http2={"max_concurrent_streams": hold}, hold=hold, path="/sleep/30000",
           extra_path="/extra", max=20000, more=more)


h.main()
