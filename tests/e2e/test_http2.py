"""HTTP/2 to clients: ALPN h2 over TLS and h2c with prior knowledge (HTTP/1.1
still served on both ports, and only HTTP/1.1 where http2 is off), the
SETTINGS a configuration gives, each stream one exchange balanced on its own,
what an HTTP/1.1 server receives for an h2 request, 100 concurrent streams,
5 MiB each way through a small client window with bounded memory, a client's
RST_STREAM, GOAWAY on SIGTERM and on reload, h2load. Real clients: curl,
nghttp, h2load and h2_peer.py (python3-h2 under /usr/bin/python3)."""
import collections
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import harness as h
import h2_helpers as hh
from h2_helpers import req

hh.skip_unless_tools()

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def pattern_sha(n):
    """sha256 of fulcrum-echo's /bytes/N body ('a' + i % 26)."""
    unit = bytes(range(97, 123)) * 2521  # 65546 bytes: whole units of 26
    step = len(unit) // 26 * 26
    s = hashlib.sha256()
    while n > 0:
        s.update(unit[: min(n, step)])
        n -= step
    return s.hexdigest()


def curl_version(r):
    """curl -w '\\n%{http_version}': (body, version)."""
    body, _, ver = r.stdout.rpartition("\n")
    return body, ver.strip()


def ok_stream(res, name, status=200):
    st = res["streams"][name]
    h.check(st["status"] == status and st["ended"] and st["reset"] is None,
            "stream %s: want %d and END_STREAM:\n  %s" % (name, status, hh.describe(res)))
    return st


def no_protocol_error(res):
    h.check(res.get("ok"), "peer: %s" % res.get("error"))
    h.check(res["h2_error"] is None, "python3-h2 found a protocol error in fulcrum's frames: %s\n  %s"
            % (res["h2_error"], hh.describe(res)))


# ---------------------------------------------------------------- negotiation


@hh.test
def tls_alpn_h2_and_http11():
    e = h.Echo(name="echo-1")
    f = hh.start([e], tls=True)
    url = "https://127.0.0.1:%d/alpn?x=1" % f.tls_port
    r = h.curl("-k", "--http2", "-w", "\n%{http_version}", url)
    h.eq(r.returncode, 0, "curl --http2 exit status (%s)" % r.stderr)
    body, ver = curl_version(r)
    h.eq(ver, "2", "curl --http2 over TLS speaks HTTP/2 (ALPN h2)")
    j = json.loads(body)
    h.eq((j["path"], j["proto"]), ("/alpn?x=1", "HTTP/1.1"), "what the echo saw")
    h.eq(j["headers"].get("x-forwarded-proto"), "https", "x-forwarded-proto")
    r = h.curl("-k", "--http1.1", "-w", "\n%{http_version}", url)
    h.eq(curl_version(r)[1], "1.1", "curl --http1.1 on the same TLS port")
    # nghttp: its own ALPN and framing
    p = h.spawn(["nghttp", "-nv", "-t", "10", url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.communicate(timeout=20 * h.SLOW)[0].decode(errors="replace")
    h.eq(p.returncode, 0, "nghttp exit status:\n%s" % out[-2000:])
    h.check("The negotiated protocol: h2" in out, "nghttp negotiated h2:\n%s" % out[-2000:])
    h.check(re.search(r":status: 200", out), "nghttp got a 200:\n%s" % out[-2000:])
    res = hh.peer(hh.client(f.tls_port, [req("a", "/peer"), {"op": "wait"}], tls=True))
    no_protocol_error(res)
    h.eq(res["alpn"], "h2", "ALPN seen by python")
    ok_stream(res, "a")


@hh.test
def prior_knowledge_and_http11_on_one_port():
    e = h.Echo(name="echo-1")
    f = hh.start([e])
    url = "http://127.0.0.1:%d/pk" % f.port
    r = h.curl("--http2-prior-knowledge", "-w", "\n%{http_version}", url)
    h.eq(r.returncode, 0, "curl --http2-prior-knowledge exit status (%s)" % r.stderr)
    body, ver = curl_version(r)
    h.eq(ver, "2", "prior knowledge: HTTP/2")
    h.eq(json.loads(body)["path"], "/pk", "path the echo saw")
    r = h.curl("-w", "\n%{http_version}", url)
    h.eq((r.returncode, curl_version(r)[1]), (0, "1.1"), "plain HTTP/1.1 on the same port")
    # curl --http2 on http:// asks for an h2c upgrade: fulcrum answers, in HTTP/1.1
    # (no h2c upgrade) or HTTP/2, but answers
    r = h.curl("--http2", "-w", "\n%{http_version}", "-o", "/dev/null", url)
    h.eq(r.returncode, 0, "curl --http2 (Upgrade: h2c) exit status (%s)" % r.stderr)
    with h.Conn(f.port) as c:
        for i in range(3):
            rr = c.request("GET", "/ka/%d" % i)
            h.eq((rr.status, rr.header("X-Echo-Name")), (200, "echo-1"), "HTTP/1.1 keep-alive request %d" % i)
    p = h.spawn(["nghttp", "-nv", "-t", "10", url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.communicate(timeout=20 * h.SLOW)[0].decode(errors="replace")
    h.eq(p.returncode, 0, "nghttp (prior knowledge) exit status:\n%s" % out[-2000:])
    h.check(":status: 200" in out, "nghttp got a 200:\n%s" % out[-2000:])


@hh.test
def http11_only_where_http2_is_off():
    e = h.Echo(name="echo-1")
    f = hh.start([e], tls=True, tls_http2="off", h1only=True)
    # a listener without http2: the preface is a bad HTTP/1.1 request: 4xx/5xx or a close, at once
    t0 = time.monotonic()
    data, closed = h.send_raw(f.h1_port, PREFACE, timeout=3)
    dt = time.monotonic() - t0
    h.check(data.startswith(b"HTTP/1.1 4") or data.startswith(b"HTTP/1.1 5") or (closed and not data),
            "the preface on an HTTP/1.1-only listener: got %r (closed=%s)" % (data[:200], closed))
    h.check(closed or data, "an answer or a close, not a hang (%.1f s)" % dt)
    r = h.curl("--http2-prior-knowledge", "-o", "/dev/null", "http://127.0.0.1:%d/" % f.h1_port, timeout=10)
    h.check(r.returncode != 0, "curl --http2-prior-knowledge on an h1-only listener fails")
    h.eq(h.get(f.h1_port, "/h1").status, 200, "HTTP/1.1 on the h1-only listener")
    # TLS with http2: off: ALPN picks http/1.1
    r = h.curl("-k", "--http2", "-w", "\n%{http_version}", "https://127.0.0.1:%d/" % f.tls_port)
    h.eq((r.returncode, curl_version(r)[1]), (0, "1.1"), "curl --http2 on a TLS listener with http2: off")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", f.tls_port), timeout=10),
                         server_hostname="localhost") as s:
        h.check(s.selected_alpn_protocol() in (None, "http/1.1"), "ALPN: %r" % s.selected_alpn_protocol())


@hh.test
def settings_from_the_configuration():
    e = h.Echo()
    f = hh.start([e], http2={"max_concurrent_streams": 37, "initial_window_size": 40000,
                             "connection_window_size": 2097152, "max_header_list_size": 12000})
    p = h.spawn(["nghttp", "-nv", "-t", "10", "http://127.0.0.1:%d/" % f.port], stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT)
    out = p.communicate(timeout=20 * h.SLOW)[0].decode(errors="replace")
    h.eq(p.returncode, 0, "nghttp exit status:\n%s" % out[-2000:])
    first = out.split("recv SETTINGS frame", 1)[1].split("recv", 1)[0] if "recv SETTINGS frame" in out else ""
    for name, want in (("MAX_CONCURRENT_STREAMS", 37), ("INITIAL_WINDOW_SIZE", 40000),
                       ("MAX_HEADER_LIST_SIZE", 12000)):
        m = re.search(r"SETTINGS_%s\(0x[0-9a-f]+\):(\d+)" % name, first)
        h.check(m and int(m.group(1)) == want, "fulcrum's SETTINGS has %s=%d:\n%s" % (name, want, out[:3000]))
    m = re.search(r"recv WINDOW_UPDATE frame <length=4, flags=0x00, stream_id=0>\s*\(window_size_increment=(\d+)\)",
                  out)
    h.check(m and int(m.group(1)) == 2097152 - 65535,
            "a WINDOW_UPDATE on stream 0 opens the connection window to 2 MiB:\n%s" % out[:3000])


# ---------------------------------------------------------------- streams


@hh.test
def each_stream_balanced_on_its_own():
    bs = h.echo_backends(3)
    f = hh.start(bs)
    steps = [req("c%d" % i, "/conc/%d" % i) for i in range(30)] + [{"op": "wait", "timeout": 20}]
    for i in range(30):
        steps += [req("s%d" % i, "/seq/%d" % i), {"op": "wait", "names": ["s%d" % i]}]
    res = hh.peer(hh.client(f.port, steps))
    no_protocol_error(res)
    conc = collections.Counter(hh.header(ok_stream(res, "c%d" % i), "x-echo-name") for i in range(30))
    h.eq(dict(conc), {"echo-1": 10, "echo-2": 10, "echo-3": 10}, "30 concurrent streams of one connection")
    seq = [hh.header(ok_stream(res, "s%d" % i), "x-echo-name") for i in range(30)]
    h.check(len(set(seq[:3])) == 3 and all(seq[i] == seq[i - 3] for i in range(3, 30)),
            "30 streams one after the other rotate over the 3 servers: %s" % seq)
    for i in range(30):
        body = json.loads(res["streams"]["s%d" % i]["body"])
        h.eq(body["path"], "/seq/%d" % i, "the answer of stream s%d is its own" % i)
    h.eq(sum(b.requests() for b in bs), 60, "requests the servers got")


@hh.test
def what_the_http11_server_receives():
    rec = hh.RecordingBackend()
    f = hh.start([(rec.url, "rec", 1)])
    cookies = [["cookie", "a=1"], ["cookie", "b=2"], ["cookie", "c=3"]]
    steps = [
        req("chunked", "/rec/a?q=1", "POST", authority="example.test",
            headers=cookies + [["x-custom", "one"], ["user-agent", "h2-peer"]], body="hello world", frames=[6, 5]),
        req("length", "/rec/b", "POST", headers=[["content-length", "11"]], body="hello world"),
        req("get", "/rec/c", headers=[["x-empty", ""]]),
        req("te", "/rec/d", headers=[["te", "trailers"]]),
        {"op": "wait"},
    ]
    res = hh.peer(hh.client(f.port, steps))
    no_protocol_error(res)
    for n in ("chunked", "length", "get", "te"):
        st = ok_stream(res, n)
        h.eq(hh.header(st, "x-echo-name"), "rec", "stream %s answered by the backend" % n)
    got = {r.target.split("?")[0]: r for r in rec.requests}
    h.eq(sorted(got), ["/rec/a", "/rec/b", "/rec/c", "/rec/d"], "requests the backend got")
    a = got["/rec/a"]
    h.eq((a.method, a.target, a.version), ("POST", "/rec/a?q=1", "HTTP/1.1"), "request line from the pseudo-headers")
    h.eq(a.all("host"), ["example.test"], "one Host, from :authority")
    h.eq(a.all("cookie"), ["a=1; b=2; c=3"], "the cookie fields joined with '; ' into one Cookie")
    h.eq(a.all("x-custom"), ["one"], "a regular header passes")
    names = [k.lower() for k, _ in a.headers]
    h.check(not [k for k in names if k.startswith(":")], "no pseudo-header as a header line: %s" % names)
    for k in ("keep-alive", "proxy-connection", "upgrade", "http2-settings"):
        h.check(k not in names, "no %s header: %s" % (k, a.raw_head))
    for v in a.all("connection"):
        h.check(v.lower() in ("keep-alive", "close"), "Connection: %r" % v)
    h.check(a.chunked and not a.all("content-length"), "a body without content-length goes chunked: %s" % a.raw_head)
    h.check(a.complete and a.body == b"hello world", "the body, from two DATA frames: %r" % a.body)
    h.eq(a.all("x-forwarded-proto"), ["http"], "x-forwarded-proto")
    b = got["/rec/b"]
    h.check(b.all("content-length") == ["11"] and not b.chunked and b.body == b"hello world",
            "content-length kept, no chunking: %s %r" % (b.raw_head, b.body))
    c = got["/rec/c"]
    h.check(not c.all("transfer-encoding") and c.all("content-length") in ([], ["0"]) and c.body == b"",
            "a GET without a body has none: %s" % c.raw_head)
    h.eq(c.all("host"), ["localhost"], "Host from :authority")
    h.eq(c.all("x-empty"), [""], "an empty value passes")
    h.check(got["/rec/d"].all("te") in ([], ["trailers"]), "te: trailers: %s" % got["/rec/d"].raw_head)


@hh.test
def hundred_concurrent_streams():
    bs = h.echo_backends(2)
    f = hh.start(bs)
    steps = []
    for k in range(100):
        if k % 2:
            steps.append(req("s%d" % k, "/bytes/%d" % (1000 + 37 * k)))
        else:
            steps.append(req("s%d" % k, "/echo", "POST", body_random=1 + 97 * k))
    steps.append({"op": "wait", "timeout": 30})
    res = hh.peer(hh.client(f.port, steps, keep_body=0), timeout=90)
    no_protocol_error(res)
    h.eq(res["settings"].get("MAX_CONCURRENT_STREAMS"), 100, "the default max_concurrent_streams announced")
    for k in range(100):
        st = ok_stream(res, "s%d" % k)
        if k % 2:
            n = 1000 + 37 * k
            h.check(st["body_len"] == n and st["sha256"] == pattern_sha(n), "stream s%d: /bytes/%d intact (%d bytes)"
                    % (k, n, st["body_len"]))
        else:
            h.check(st["body_len"] == st["sent_body"] == 1 + 97 * k and st["sha256"] == st["sent_sha256"],
                    "stream s%d: its own body echoed (%d of %d bytes)" % (k, st["body_len"], 1 + 97 * k))
    h.eq(sum(b.requests() for b in bs), 100, "requests the servers got")


SIZE = 5 << 20
RSS_BOUND_KB = h.sized(3 * 1024, 96 * 1024)  # ASan's quarantine keeps freed memory


def big_transfer(steps, check):
    e = h.Echo()
    f = hh.start([e])
    # warm up the paths the big transfer takes, then take the baseline
    warm = [req("w1", "/bytes/262144"), req("w2", "/echo", "POST", body_random=262144),
            req("w3", "/sink", "POST", body_random=262144), {"op": "wait"}]
    res = hh.peer(hh.client(f.port, warm, settings={"initial_window_size": 16384}, keep_body=0))
    no_protocol_error(res)
    time.sleep(0.2)
    rss0 = f.rss_kb()
    stop = hh.rss_sampler(f.pid)
    t0 = time.monotonic()
    res = hh.peer(hh.client(f.port, steps + [{"op": "wait", "timeout": 100}], settings={"initial_window_size": 16384},
                            ack_delay=0.002, keep_body=4096, timeout=110), timeout=120)
    dt = time.monotonic() - t0
    peak = stop()
    no_protocol_error(res)
    check(res)
    h.check(peak - rss0 < RSS_BOUND_KB, "fulcrum's RSS grew by %d kB during a %d MiB transfer through a 16 KiB "
            "window (bound %d kB, %.1f s)" % (peak - rss0, SIZE >> 20, RSS_BOUND_KB, dt))


@hh.test(timeout=150)
def five_mib_download_small_window():
    def check(res):
        st = ok_stream(res, "d")
        h.check(st["body_len"] == SIZE and st["sha256"] == pattern_sha(SIZE),
                "5 MiB download intact (%d bytes)" % st["body_len"])
    big_transfer([req("d", "/bytes/%d" % SIZE)], check)


@hh.test(timeout=150)
def five_mib_upload():
    def check(res):
        st = ok_stream(res, "u")
        h.eq(st["sent_body"], SIZE, "bytes sent")
        h.eq(json.loads(st["body"] if st["body"] else "{}").get("body_bytes"), SIZE, "bytes the server got")
    e_steps = [req("u", "/sink", "POST", body_random=SIZE)]
    big_transfer(e_steps, check)


@hh.test(timeout=150)
def five_mib_echoed_through_a_slow_reader():
    # the server echoes while it reads: the client's slow reading must hold the
    # upload back too, through the server, with fulcrum buffering neither
    def check(res):
        st = ok_stream(res, "x")
        h.check(st["body_len"] == SIZE and st["sha256"] == st["sent_sha256"],
                "5 MiB echoed intact (%d of %d bytes)" % (st["body_len"], st["sent_body"]))
    big_transfer([req("x", "/echo", "POST", body_random=SIZE)], check)


@hh.test
def client_reset_leaves_other_streams_alone():
    e = h.Echo()
    f = hh.start([e])
    steps = [req("big", "/bytes/%d" % (64 << 20)), req("slow", "/sleep/300"),
             req("echo", "/echo", "POST", body="c-body" * 3000),
             {"op": "wait_body", "name": "big", "bytes": 200000, "timeout": 10},
             {"op": "reset", "name": "big", "code": hh.CANCEL},
             {"op": "wait", "names": ["slow", "echo"], "timeout": 10},
             req("after", "/after"), {"op": "wait", "names": ["after"], "timeout": 10},
             {"op": "sleep", "s": 0.5}]
    res = hh.peer(hh.client(f.port, steps, keep_body=1 << 20))
    no_protocol_error(res)
    big = res["streams"]["big"]
    h.check(big["reset_sent"] == hh.CANCEL and 200000 <= big["body_len"] < 64 << 20,
            "the big stream was cut by our RST_STREAM after %d bytes" % big["body_len"])
    ok_stream(res, "slow")
    h.eq(ok_stream(res, "echo")["body"], "c-body" * 3000, "the echo stream's body")
    h.eq(json.loads(ok_stream(res, "after")["body"])["path"], "/after", "a new stream after the reset")
    h.check(not res["goaways"] and not res["closed"], "the connection stays open:\n  %s" % hh.describe(res))
    # fulcrum stops pulling the cancelled response: the server's connection for it is closed
    h.wait_until(lambda: e.stats()["open"] <= 3, timeout=5, what="the cancelled exchange's server connection to close")


@hh.test
def head_and_bodiless_answers():
    e = h.Echo()
    f = hh.start([e])
    steps = [req("head", "/bytes/1000", "HEAD"), req("204", "/status/204"), req("304", "/status/304"),
             req("404", "/status/404"), req("chunked", "/bytes/100000?chunked=1"), req("close", "/bytes/70000?close=1"),
             {"op": "wait"}]
    res = hh.peer(hh.client(f.port, steps))
    no_protocol_error(res)
    st = ok_stream(res, "head")
    h.check(st["body_len"] == 0 and hh.header(st, "content-length") == "1000", "HEAD: content-length, no body: %s"
            % st["headers"])
    for n in ("204", "304"):
        h.eq(ok_stream(res, n, int(n))["body_len"], 0, "%s: no body" % n)
    h.eq(ok_stream(res, "404", 404)["body"], "404\n", "404's body")
    for n, size in (("chunked", 100000), ("close", 70000)):
        st = ok_stream(res, n)
        h.check(st["body_len"] == size and st["sha256"] == pattern_sha(size), "%s response intact (%d bytes)"
                % (n, st["body_len"]))


@hh.test
def access_log_says_http2():
    e = h.Echo()
    f = hh.start([e], access="stdout")
    res = hh.peer(hh.client(f.port, [req("a", "/logged/h2"), {"op": "wait"}]))
    ok_stream(res, "a")
    out = f.wait_for_output(lambda t: "/logged/h2" in t)
    h.check('"GET /logged/h2 HTTP/2.0" 200' in out, "access log line of an h2 request: %r" % out[-500:])


# ---------------------------------------------------------------- GOAWAY


def goaway_checks(res, inflight, late, what):
    no_protocol_error(res)
    finals = [g for g in res["goaways"] if g["last_stream_id"] != hh.MAX_ID]
    h.check(finals, "a GOAWAY after %s:\n  %s" % (what, hh.describe(res)))
    g = finals[0]
    h.eq(g["error_code"], 0, "GOAWAY's error code (NO_ERROR) after %s" % what)
    ids = [res["streams"][n]["id"] for n in inflight]
    h.check(g["last_stream_id"] >= max(ids), "GOAWAY's last stream %d covers the streams in flight %s"
            % (g["last_stream_id"], ids))
    lt = res["streams"][late]
    h.check(lt["id"] is None or lt["id"] > g["last_stream_id"], "the late stream is beyond GOAWAY's last id")
    h.check(lt["status"] is None, "a stream opened after the GOAWAY is not served:\n  %s" % hh.describe(res))
    for n in inflight:
        ok_stream(res, n)
    h.check(res["closed"], "fulcrum closes the connection once the streams in flight are done:\n  %s"
            % hh.describe(res))
    h.check(res["t_closed"] - res["streams"][inflight[-1]]["t_end"] < 3 * h.SLOW, "closed soon after the last stream")


@hh.test
def goaway_on_sigterm():
    e = h.Echo()
    f = hh.start([e])
    inflight = ["s%d" % i for i in range(3)]
    steps = [req(n, "/sleep/800?%s" % n) for n in inflight]
    steps += [{"op": "sleep", "s": 0.3}, {"op": "signal", "pid": f.pid, "sig": signal.SIGTERM},
              {"op": "wait_goaway", "final": True, "timeout": 5}, req("late", "/late"),
              {"op": "wait", "names": inflight, "timeout": 10}, {"op": "wait", "names": ["late"], "timeout": 1},
              {"op": "wait_closed", "timeout": 5}]
    res = hh.peer(hh.client(f.port, steps))
    goaway_checks(res, inflight, "late", "SIGTERM")
    h.check(res["goaways"][0]["t"] - res["marks"]["signal"] < 1 * h.SLOW, "GOAWAY at once after the signal")
    h.eq(f.wait(8), 0, "fulcrum's exit status")
    h.check(h.port_refuses(f.port), "no new connections")
    h.eq(e.requests(), 3, "the server got the 3 streams in flight, not the late one")


@hh.test
def goaway_on_reload():
    e1, e2 = h.Echo(name="echo-1"), h.Echo(name="echo-2")
    state = h.tmpdir()
    port = h.free_port()
    f = h.Fulcrum.from_config(hh.config_text(port, [e1], top_extra="state_dir: %s" % state), port=port)
    with open(f.config_path + ".tmp", "w") as fh:
        fh.write(hh.config_text(port, [e2], top_extra="state_dir: %s" % state))
    os.rename(f.config_path + ".tmp", f.config_path)
    steps = [req("a", "/sleep/800"), {"op": "sleep", "s": 0.3}, {"op": "signal", "pid": f.pid, "sig": signal.SIGHUP},
             {"op": "wait_goaway", "final": True, "timeout": 5}, req("late", "/late"),
             {"op": "wait", "names": ["a"], "timeout": 10}, {"op": "wait", "names": ["late"], "timeout": 1},
             {"op": "wait_closed", "timeout": 5}]
    res = hh.peer(hh.client(port, steps))
    goaway_checks(res, ["a"], "late", "a reload")
    h.eq(hh.header(res["streams"]["a"], "x-echo-name"), "echo-1", "the stream in flight finished on the old server")
    res = hh.peer(hh.client(port, [req("new", "/new"), {"op": "wait"}]))
    h.eq(hh.header(ok_stream(res, "new"), "x-echo-name"), "echo-2", "a new connection runs on the new configuration")
    h.eq(e1.requests(), 1, "the old server got only the stream in flight")


# ---------------------------------------------------------------- load


def h2load(args, timeout=120):
    p = h.spawn(["h2load"] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out = p.communicate(timeout=timeout * h.SLOW)[0].decode(errors="replace")
    except subprocess.TimeoutExpired:
        p.kill()
        h.fail("h2load did not finish: %s" % p.communicate()[0].decode(errors="replace")[-2000:])
    return p.returncode, out


def h2load_clean(out, n, what):
    h.check("Application protocol: h2" in out, "%s: h2 spoken:\n%s" % (what, out[-2000:]))
    want = "requests: %d total, %d started, %d done, %d succeeded, 0 failed, 0 errored, 0 timeout" % (n, n, n, n)
    h.check(want in out, "%s: %s:\n%s" % (what, want, out[-2000:]))
    h.check(re.search(r"status codes: %d 2xx, 0 3xx, 0 4xx, 0 5xx" % n, out), "%s: all 2xx:\n%s"
            % (what, out[-2000:]))


@hh.test(timeout=150)
def h2load_over_tls_and_h2c():
    bs = h.echo_backends(3)
    f = hh.start(bs, tls=True)
    rc, out = h2load(["-n", "2000", "-c", "10", "-m", "10", "https://127.0.0.1:%d/" % f.tls_port])
    h.eq(rc, 0, "h2load exit status")
    h2load_clean(out, 2000, "h2load over TLS")
    counts = [b.requests() for b in bs]
    h.eq(sum(counts), 2000, "requests the servers got")
    h.check(min(counts) >= 600, "spread over the 3 servers: %s" % counts)
    rc, out = h2load(["-n", "1000", "-c", "4", "-m", "25", "http://127.0.0.1:%d/" % f.port])
    h.eq(rc, 0, "h2load (h2c) exit status")
    h2load_clean(out, 1000, "h2load h2c prior knowledge")


@hh.test
def protocol_counted_in_api_and_metrics():
    """The admin API's pool and /metrics count requests by client protocol."""
    e = h.Echo()
    admin = h.free_port()
    f = hh.start([e], top_extra="admin: {listen: 127.0.0.1:%d}" % admin)
    h.wait_port(admin, 10, f.proc)
    for _ in range(2):
        h.eq(h.get(f.port, "/").status, 200, "HTTP/1.1")
    for _ in range(3):
        r = h.curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version}",
                   "http://127.0.0.1:%d/" % f.port)
        h.eq(r.stdout, "2", "curl spoke HTTP/2")
    pools = json.loads(h.curl("http://127.0.0.1:%d/api/pools" % admin).stdout)
    h.eq(pools["pools"][0]["requests_by_protocol"], {"http/1.1": 2, "h2": 3}, "the pool's counts")
    m = h.curl("http://127.0.0.1:%d/metrics" % admin).stdout
    h.check('fulcrum_client_requests_total{protocol="http/1.1"} 2' in m, "h1 counted:\n" + m[-1500:])
    h.check('fulcrum_client_requests_total{protocol="h2"} 3' in m, "h2 counted")
    h.check("fulcrum_http2_connections_total 3" in m, "three HTTP/2 connections")


h.main()
