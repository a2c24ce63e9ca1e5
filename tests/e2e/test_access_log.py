"""Access log: one line per request, text and JSON, with the fields and the right
server name; the connect and response-head times, the retries and their
reasons, the user agent (escaped), the same in both formats."""
import json
import os
import re
import time

import harness as h

TEXT_RE = re.compile(r'^(\S+) (\S+) "(\S+) (\S+) (HTTP/1\.[01])" (\d{3}) (\d+) pool=(\S+) server=(\S+) '
                     r'upstream_ms=([\d.]+) total_ms=([\d.]+) connect_ms=(?P<connect>[\d.]+|-) '
                     r'head_ms=(?P<head>[\d.]+|-) retries=(?P<retries>\d+) retry_reasons=(?P<reasons>[a-z0-9_,]+|-) '
                     r'user_agent=(?P<ua>"[^"]*"|-)(?: bytes_in=(?P<bytes_in>\d+))?$')
JSON_KEYS = ["time", "client", "method", "path", "proto", "status", "bytes", "pool", "server", "upstream_ms",
             "total_ms", "connect_ms", "head_ms", "retries", "retry_reasons", "user_agent"]


def unescape_text(s):
    """A text field's \\xHH escapes back to the bytes, as a latin-1 string (what
    json.loads makes of the JSON line's \\u00HH)."""
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), s)


def parse_text(line):
    """A text line as the dict its JSON line would be."""
    m = TEXT_RE.match(line)
    h.check(m, "text line format: %r" % line)
    g = m.groups()
    ms = lambda v: None if v == "-" else float(v)
    return {"time": g[0], "client": g[1], "method": g[2], "path": unescape_text(g[3]), "proto": g[4],
            "status": int(g[5]), "bytes": int(g[6]), "pool": g[7], "server": g[8],
            "upstream_ms": float(g[9]), "total_ms": float(g[10]), "connect_ms": ms(m.group("connect")),
            "head_ms": ms(m.group("head")), "retries": int(m.group("retries")),
            "retry_reasons": [] if m.group("reasons") == "-" else m.group("reasons").split(","),
            "user_agent": None if m.group("ua") == "-" else unescape_text(m.group("ua")[1:-1])}


def parse_json(line):
    try:
        o = json.loads(line)
    except ValueError:
        h.fail("not JSON: %r" % line)
    h.eq([k for k in o if k != "bytes_in"], JSON_KEYS, "JSON keys, in order")
    return o


def log_lines(f, n, fmt):
    """The first n lines fulcrum logged (stops it), raw and parsed."""
    f.wait_for_output(lambda t: t.count("\n") >= n, timeout=5)
    f.stop()
    lines = [l for l in f.stdout_text().split("\n") if l.strip()]
    h.eq(len(lines), n, "one line per request: %r" % lines)
    for l in lines:
        h.check(not any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in l), "a raw control byte: %r" % l)
    return lines, [parse_json(l) if fmt == "json" else parse_text(l) for l in lines]


def run(fmt, n=6):
    bs = h.echo_backends(2, prefix="srv")
    f = h.start_proxy(bs, access="stdout", access_format=fmt)
    sent = []
    for i in range(n):
        r = h.get(f.port, "/log/%d?q=%d" % (i, i))
        h.eq(r.status, 200, "status")
        sent.append((r.json()["name"], r.body_len))
    r = h.request(f.port, "POST", "/status/404", body=b"xyz")
    sent.append(("srv-?", r.body_len))
    text = f.wait_for_output(lambda t: t.count("\n") >= n + 1, timeout=5)
    f.stop()
    text = f.stdout_text()
    lines = [l for l in text.split("\n") if l.strip()]
    return lines, sent


@h.test
def retries_and_their_reasons():
    """One server of two refuses: requests that met it first were retried on
    the other, and say so (retries=1, connect_refused); the others say 0.
    The final attempt's connect time: the first connection to the live
    server was made (> 0), later requests reused it (0)."""
    for fmt in ("text", "json"):
        dead = h.refused_port()
        live = h.Echo(name="live")
        f = h.start_proxy([("http://127.0.0.1:%d" % dead, "dead", 1), live], access="stdout", access_format=fmt,
                          pool_extra={"retries": 2, "cooldown": 0, "passive": "off"})
        n = 8
        for i in range(n):
            r = h.get(f.port, "/r%d" % i)
            h.eq((r.status, r.json()["name"]), (200, "live"), "%s: request %d served by the live server" % (fmt, i))
        _, logs = log_lines(f, n, fmt)
        retried = [o for o in logs if o["retries"]]
        h.check(retried, "%s: some requests met the refusing server first: %r" % (fmt, logs))
        h.check(len(retried) < n, "%s: some did not" % fmt)
        for o in logs:
            h.eq(o["server"], "live", "%s: the server of the final attempt" % fmt)
            want = ["connect_refused"] * o["retries"]
            h.eq((o["retries"], o["retry_reasons"]), (len(want) and 1, want), "%s: retries and reasons" % fmt)
            h.check(o["connect_ms"] is not None and 0 <= o["connect_ms"] <= o["upstream_ms"] <= o["total_ms"],
                    "%s: connect_ms of the final attempt: %r" % (fmt, o))
            h.check(o["head_ms"] is not None and o["connect_ms"] <= o["head_ms"] <= o["total_ms"],
                    "%s: head_ms: %r" % (fmt, o))
        h.check(logs[0]["connect_ms"] > 0, "%s: the first request connected: %r" % (fmt, logs[0]))
        h.check(any(o["connect_ms"] == 0 for o in logs[1:]),
                "%s: a reused connection says 0: %r" % (fmt, [o["connect_ms"] for o in logs]))


@h.test
def retry_reasons_after_connect():
    """Other reasons, one per misbehaving first server (the other one
    answers): a reset after the request head, a close without an answer, a
    connect that never completes (connect_timeout)."""
    for kind, reason in (("reset_after_head", "reset"), ("close_after_head", "eof"),
                         ("blackhole", "connect_timeout")):
        bad = h.Blackhole() if kind == "blackhole" else h.FakeBackend(kind)
        good = h.Echo(name="good")
        f = h.start_proxy([(bad.url, "bad", 1), good], access="stdout", access_format="json",
                          pool_extra={"retries": 2, "passive": "off", "connect_timeout": "100ms"})
        n = 4
        for i in range(n):
            r = h.get(f.port, "/g%d" % i)
            h.eq((r.status, r.json()["name"]), (200, "good"), "%s: request %d retried on the good server" % (kind, i))
        _, logs = log_lines(f, n, "json")
        retried = [o for o in logs if o["retries"]]
        h.check(retried, "%s: some requests met the bad server first: %r" % (kind, logs))
        for o in logs:
            h.eq(o["retry_reasons"], [reason] * o["retries"], "%s: the reason" % kind)
            h.eq(o["server"], "good", "%s: the final attempt's server" % kind)
        if kind == "blackhole":
            for o in retried:
                h.check(o["total_ms"] >= 100, "%s: the retry waited for connect_timeout: %r" % (kind, o))


@h.test
def connect_and_head_times():
    """A new connection per request (max_idle: 0) and a server that sends its
    response head after 200 ms: connect_ms is there and small, head_ms at
    least 200 and at most total_ms."""
    for fmt in ("text", "json"):
        e = h.Echo(name="slow")
        f = h.start_proxy([e], access="stdout", access_format=fmt, pool_extra={"max_idle": 0})
        for path in ("/sleep/200", "/fast"):
            h.eq(h.get(f.port, path).status, 200, "status")
        _, (slow, fast) = log_lines(f, 2, fmt)
        for o in (slow, fast):
            h.check(o["connect_ms"] is not None and 0 < o["connect_ms"] < 1000 * h.SLOW,
                    "%s: connect_ms of a new loopback connection: %r" % (fmt, o))
            h.check(o["head_ms"] is not None and o["connect_ms"] <= o["head_ms"] <= o["total_ms"],
                    "%s: connect <= head <= total: %r" % (fmt, o))
            h.eq((o["retries"], o["retry_reasons"]), (0, []), "%s: no retry" % fmt)
        h.check(200 <= slow["head_ms"] < 200 + 2000 * h.SLOW, "%s: head after the 200 ms delay: %r" % (fmt, slow))
        h.check(fast["head_ms"] < slow["head_ms"], "%s: no delay: %r" % (fmt, fast))


@h.test
def user_agent_escaped():
    """Quotes, a backslash, a tab (the one control byte a header value may
    carry) and non-ASCII bytes: escaped as \\xHH in the text line's quotes,
    JSON-escaped in JSON, and what was sent once decoded; cut at 128 bytes;
    "-"/null without one, "" when empty."""
    ua = 'Mozilla/5.0 "quoted" back\\slash\ttab \xc3\xa9\xff'  # bytes, sent as latin-1
    long_ua = "L" * 100 + "x" * 200
    cases = [[("User-Agent", ua)], [("User-Agent", long_ua)], [], [("User-Agent", "")],
             [("User-Agent", "first"), ("User-Agent", "second")]]
    want = [ua, long_ua[:112], None, "", "first"]
    for fmt in ("text", "json"):
        e = h.Echo()
        f = h.start_proxy([e], access="stdout", access_format=fmt)
        for hs in cases:
            r = h.get(f.port, "/ua", headers=hs)
            h.eq(r.status, 200, "status")
            if hs == cases[0]:
                got = json.loads(r.body.decode("latin-1"))["headers"].get("user-agent")  # raw bytes in its JSON
                h.eq(got, ua, "the server got the user agent as sent")
        raw, logs = log_lines(f, len(cases), fmt)
        h.eq([o["user_agent"] for o in logs], want, "%s: user agents, decoded" % fmt)
        if fmt == "text":
            h.check(raw[0].endswith(' user_agent="Mozilla/5.0 \\x22quoted\\x22 back\\x5cslash\\x09tab '
                                    '\\xc3\\xa9\\xff"'), "text: escaped inside one quoted field: %r" % raw[0])
            h.check(raw[2].endswith(" user_agent=-"), "text: no user agent: %r" % raw[2])
        else:
            h.check('"user_agent":"Mozilla/5.0 \\"quoted\\" back\\\\slash\\u0009tab \\u00c3\\u00a9\\u00ff"}'
                    in raw[0], "json: escaped: %r" % raw[0])
            h.check(raw[2].endswith(',"user_agent":null}'), "json: no user agent: %r" % raw[2])


@h.test
def text_format():
    lines, sent = run("text")
    h.eq(len(lines), len(sent), "one line per request: %r" % lines)
    for i, line in enumerate(lines[:-1]):
        m = TEXT_RE.match(line)
        h.check(m, "text line format: %r" % line)
        h.eq(m.group(2), "127.0.0.1", "client")
        h.eq((m.group(3), m.group(4), m.group(5)), ("GET", "/log/%d?q=%d" % (i, i), "HTTP/1.1"), "request")
        h.eq(m.group(6), "200", "status")
        h.check(int(m.group(7)) >= sent[i][1], "bytes %s < body bytes %d" % (m.group(7), sent[i][1]))
        h.eq(m.group(8), "web", "pool")
        h.eq(m.group(9), sent[i][0], "server name")
        h.check(float(m.group(11)) >= 0, "total_ms")
    m = TEXT_RE.match(lines[-1])
    h.check(m, "text line format: %r" % lines[-1])
    h.eq((m.group(3), m.group(6)), ("POST", "404"), "method and status of the last")


@h.test
def json_format():
    lines, sent = run("json")
    h.eq(len(lines), len(sent), "one line per request: %r" % lines)
    keys = {"time", "client", "method", "path", "proto", "status", "bytes", "pool", "server",
            "upstream_ms", "total_ms"}
    for i, line in enumerate(lines):
        try:
            o = json.loads(line)
        except ValueError:
            h.fail("not JSON: %r" % line)
        h.check(keys <= set(o), "keys missing: %s in %r" % (keys - set(o), line))
        h.eq(o["client"], "127.0.0.1", "client")
        h.eq(int(o["status"]), 200 if i < len(lines) - 1 else 404, "status")
        h.eq(o["pool"], "web", "pool")
        if i < len(lines) - 1:
            h.eq(o["path"], "/log/%d?q=%d" % (i, i), "path")
            h.eq(o["method"], "GET", "method")
            h.eq(o["server"], sent[i][0], "server name")
            h.check(int(o["bytes"]) >= sent[i][1], "bytes %r < body bytes %d" % (o["bytes"], sent[i][1]))
        h.eq(o["proto"], "HTTP/1.1", "proto")
        h.check(float(o["total_ms"]) >= float(o["upstream_ms"] or 0) >= 0, "timings: %r" % line)


@h.test
def error_responses_logged():
    f = h.start_proxy([("http://127.0.0.1:%d" % h.refused_port(), "dead", 1)], access="stdout",
                      access_format="json", pool_extra={"retries": 0})
    r = h.get(f.port, "/nothing")
    h.check(r.status in (502, 503), "status")
    text = f.wait_for_output(lambda t: "\n" in t, timeout=5)
    lines = [l for l in text.split("\n") if l.strip()]
    h.eq(len(lines), 1, "one line for the failed request: %r" % lines)
    o = parse_json(lines[0])
    h.eq(int(o["status"]), r.status, "logged status")
    h.eq((o["connect_ms"], o["head_ms"], o["retries"], o["retry_reasons"]), (None, None, 0, []),
         "no connection, no response head, no retry (retries: 0): %r" % lines[0])


@h.test
def hostile_request_line_escaped():
    """A request line with a quote, a backslash and terminal escapes: the JSON
    line stays valid JSON, the text line stays one quoted field, and no raw
    control byte reaches the log (fails without the escaping)."""
    bad = b'GET /q"x\\y\x1b[31mred\x7f HTTP/1.1\r\nHost: a\r\n\r\n'
    for fmt in ("json", "text"):
        e = h.Echo()
        f = h.start_proxy([e], access="stdout", access_format=fmt)
        h.send_raw(f.port, bad, timeout=2)
        f.wait_for_output(lambda t: "\n" in t, timeout=5)
        f.stop()
        text = f.stdout_text()
        lines = [l for l in text.split("\n") if l.strip()]
        h.eq(len(lines), 1, "%s: one line: %r" % (fmt, lines))
        line = lines[0]
        h.check(not any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in line),
                "%s: a raw control byte in the log line: %r" % (fmt, line))
        if fmt == "json":
            try:
                o = json.loads(line)
            except ValueError:
                h.fail("not JSON: %r" % line)
            h.eq(o["path"], '/q"x\\y\x1b[31mred\x7f', "the path, decoded, is what was sent")
        else:
            h.check('"GET /q\\x22x\\x5cy\\x1b[31mred\\x7f HTTP/1.1"' in line,
                    "text: escaped as \\xHH inside one quoted field: %r" % line)


@h.test
def access_log_to_file():
    e = h.Echo()
    path = h.tmpdir() + "/access.log"
    f = h.start_proxy([e], access=path)
    for i in range(3):
        h.get(f.port, "/file%d" % i)
    f.stop()
    with open(path) as fh:
        lines = [l for l in fh.read().split("\n") if l.strip()]
    h.eq(len(lines), 3, "three lines in the access log file")


def read_fifo(fd, quiet=0.5, limit=20):
    """Reads what is in the FIFO until nothing came for quiet seconds."""
    data, last, start = bytearray(), time.monotonic(), time.monotonic()
    while time.monotonic() - last < quiet * h.SLOW and time.monotonic() - start < limit:
        try:
            b = os.read(fd, 1 << 16)
        except BlockingIOError:
            time.sleep(0.02)
            continue
        if not b:
            break
        data += b
        last = time.monotonic()
    return bytes(data)


@h.test(timeout=120)
def slow_reader_never_blocks_the_worker():
    """The access log is a pipe whose reader does not read: requests are still
    answered (fails on the code before, whose write() blocked the worker once
    the pipe was full), at most 1 MiB waits per worker, whole lines are
    dropped beyond it and counted in the error log, and every line that does
    arrive is whole."""
    e = h.Echo()
    fifo = h.tmpdir() + "/access.fifo"
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads
    f = h.start_proxy([e], access=fifo)
    n, path = h.sized(5000, 2500), "/" + "x" * 200
    with h.Conn(f.port) as c:
        for i in range(n):
            r = c.request("GET", "%s?%d" % (path, i), timeout=5)
            h.eq(r.status, 200, "request %d answered" % i)
    if n * 330 > (1 << 20) + 65536:
        f.wait_for_log("lines dropped (the log reader is too slow)", timeout=5)
    data = read_fifo(rfd)
    f.stop()
    data += read_fifo(rfd, quiet=0.2)
    os.close(rfd)
    lines = data.decode().split("\n")
    h.eq(lines[-1], "", "the log ends with a whole line")
    lines = lines[:-1]
    for l in lines:
        h.check(TEXT_RE.match(l), "a whole line: %r" % l[:120])
    dropped = sum(int(m) for m in re.findall(r"access log: (\d+) lines dropped", f.stderr_text()))
    h.eq(len(lines) + dropped, n, "lines written + lines dropped (%d + %d)" % (len(lines), dropped))
    h.check(len(lines) >= 1000, "the pipe and the 1 MiB buffer were used: %d lines" % len(lines))


h.main()
