"""Access log: one line per request, text and JSON, with the fields and the right
server name."""
import json
import os
import re
import time

import harness as h

TEXT_RE = re.compile(r'^(\S+) (\S+) "(\S+) (\S+) (HTTP/1\.[01])" (\d{3}) (\d+) pool=(\S+) server=(\S+) '
                     r'upstream_ms=([\d.]+|-) total_ms=([\d.]+)$')


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
    h.eq(int(json.loads(lines[0])["status"]), r.status, "logged status")


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
