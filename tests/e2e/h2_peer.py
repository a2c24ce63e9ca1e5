"""The HTTP/2 client of the e2e tests, on python3-h2: run it with /usr/bin/python3
(Debian's, which sees python3-h2), never imported by the harness (standard
library only there).

    h2_peer.py SCENARIO_JSON        (or "-": the scenario on stdin)

prints one JSON line with what happened; exit status 0 unless the scenario
itself could not run (a refused connect is reported, not raised). A scenario
is an object; {"batch": [s1, s2, ...]} runs several one after the other and
prints a list.

Common keys: "port", "tls" (ALPN h2, certificate not verified), "timeout"
(seconds for the whole scenario), "mode": "client" (default) or one of the
attacks below.

mode client: python3-h2's H2Connection with header validation and
normalisation of what it sends turned off (so a test can send malformed
requests) and validation of what it receives on (so the proxy's answers are
checked). GOAWAY frames are taken out of the byte stream before h2 sees them
(h2 4.1 treats any GOAWAY as the end and refuses the frames of streams still
finishing), so a graceful GOAWAY is recorded and in-flight streams go on.
  "settings": {"initial_window_size": 16384, ...}  our SETTINGS (h2 enforces
      the stream windows we announce: a proxy overrunning them is an error)
  "ack_delay": s     acknowledge received DATA (WINDOW_UPDATE) only s seconds
                     after it arrived: a slow reader
  "keep_body": n     keep at most n bytes of each response body (default 1 MiB)
  "authority":       default "localhost"
  "steps": list of
    {"op": "request", "name": N, "method", "path", "headers": [[k, v], ...]
        (after the pseudo-headers), or "raw": [[k, v], ...] (the whole list,
        as is), "body": str | "body_random": n | "body_len": n ('a'+i%26),
        "frames": [n1, n2, ...] (DATA frame sizes), "end": true (END_STREAM
        after the body), "trailers": [[k, v]]}
    {"op": "data", "name", "body", "end"}          more body later
    {"op": "reset", "name", "code"}                RST_STREAM from us
    {"op": "wait", "names": [...] (default all), "timeout"}   until ended or reset
    {"op": "wait_body", "name", "bytes", "timeout"}
    {"op": "wait_goaway", "final": bool, "timeout"}  final: a GOAWAY whose
        last stream id is not 2^31-1 (a shutdown notice)
    {"op": "wait_closed", "timeout"}
    {"op": "sleep", "s"}                            I/O goes on meanwhile
    {"op": "signal", "pid", "sig"}                  os.kill, timed with the rest
    {"op": "ping"}
  Result: "streams": {name: {id, status, headers, body (latin-1, up to
  keep_body), body_len, sha256, trailers, ended, reset (RST_STREAM code from
  the proxy), sent_body, sent_sha256, send_error, t_headers, t_end}},
  "goaways": [{last_stream_id, error_code, debug, t}], "closed", "t_closed",
  "h2_error" (python3-h2 found the proxy breaking the protocol), "frames"
  (count per type), "log" (the frames received other than DATA and
  WINDOW_UPDATE: [t, type, stream, flags, length, error code]), "settings"
  (the proxy's), "alpn".

attack modes (raw frames written by hand, a reader thread records what comes
back; each runs until a GOAWAY or the end of the connection, "max" units or
"max_time" s, then waits "linger" s for the GOAWAY and the close):
  rapid_reset            HEADERS + RST_STREAM(CANCEL) pairs, "path" prefix
  continuation_flood     HEADERS without END_HEADERS then CONTINUATION frames
                         of "size" bytes of header fields (0: empty ones)
  settings_flood         SETTINGS frames
  ping_flood             PING frames
  empty_data_flood       one POST stream, then empty DATA frames
  hpack_bomb             a "size"-byte header put into the HPACK table once,
                         then requests that repeat its 1-byte index "repeat"
                         times
  too_many_streams       "hold" requests to "path" (slow), then more streams
                         beyond the limit
  Result: "sent" (units), "bytes_sent", "goaways", "closed", "t_closed",
  "frames", "rst" {code: count}, "statuses" {status: count}, "write_stalled"
  (the proxy stopped reading), "log", "stream_rst" {stream id: code} for the
  first streams, "stream_status" likewise.
"""
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack

FRAME_NAMES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS", 5: "PUSH_PROMISE",
               6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION"}
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_ID = (1 << 31) - 1
LOG_MAX = 400


def connect(sc):
    sock = socket.create_connection(("127.0.0.1", sc["port"]), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    alpn = None
    if sc.get("tls"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_hostname=sc.get("sni", "localhost"))
        alpn = sock.selected_alpn_protocol()
    return sock, alpn


def b(s):
    return s.encode("latin-1") if isinstance(s, str) else s


def pattern(n):
    unit = bytes(range(97, 123))
    return (unit * (n // 26 + 1))[:n]


class Splitter:
    """Cuts a byte stream into frames: (type, flags, stream, payload, raw)."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 9:
            n = int.from_bytes(self.buf[0:3], "big")
            if len(self.buf) < 9 + n:
                break
            raw = bytes(self.buf[: 9 + n])
            del self.buf[: 9 + n]
            sid = int.from_bytes(raw[5:9], "big") & MAX_ID
            out.append((raw[3], raw[4], sid, raw[9:], raw))
        return out


class Recorder:
    """What the proxy sent: counts, GOAWAYs, a log of the control frames."""

    def __init__(self, t0):
        self.t0 = t0
        self.frames = {}
        self.goaways = []
        self.log = []
        self.closed = False
        self.t_closed = None
        self.lock = threading.Lock()

    def now(self):
        return round(time.monotonic() - self.t0, 4)

    def note(self, ftype, flags, sid, payload):
        name = FRAME_NAMES.get(ftype, str(ftype))
        with self.lock:
            self.frames[name] = self.frames.get(name, 0) + 1
            code = None
            if ftype == RST_STREAM and len(payload) >= 4:
                code = int.from_bytes(payload[:4], "big")
            if ftype == GOAWAY and len(payload) >= 8:
                last = int.from_bytes(payload[:4], "big") & MAX_ID
                code = int.from_bytes(payload[4:8], "big")
                self.goaways.append({"last_stream_id": last, "error_code": code,
                                     "debug": payload[8:200].decode("latin-1"), "t": self.now()})
            if ftype not in (DATA, WINDOW_UPDATE) and len(self.log) < LOG_MAX:
                self.log.append([self.now(), name, sid, flags, len(payload), code])

    def close(self):
        with self.lock:
            if not self.closed:
                self.closed = True
                self.t_closed = self.now()

    def result(self):
        return {"goaways": self.goaways, "closed": self.closed, "t_closed": self.t_closed,
                "frames": self.frames, "log": self.log}


# ---------------------------------------------------------------- client mode


class Stream:
    def __init__(self, name, sid):
        self.name = name
        self.id = sid
        self.status = None
        self.headers = []
        self.interim = []
        self.trailers = []
        self.body = bytearray()
        self.body_len = 0
        self.sha = hashlib.sha256()
        self.ended = False
        self.reset = None
        self.reset_sent = None
        self.pending = memoryview(b"")
        self.frames = []  # sizes of the DATA frames still to send
        self.end_after = True
        self.trailers_out = None
        self.sent_body = 0
        self.sent_sha = hashlib.sha256()
        self.send_error = None
        self.t_start = None
        self.t_headers = None
        self.t_end = None

    def done(self):
        return self.ended or self.reset is not None or self.reset_sent is not None

    def result(self, keep):
        return {"id": self.id, "status": self.status,
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
                "interim": self.interim,
                "trailers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.trailers],
                "body": bytes(self.body[:keep]).decode("latin-1"), "body_len": self.body_len,
                "sha256": self.sha.hexdigest(), "ended": self.ended, "reset": self.reset,
                "reset_sent": self.reset_sent, "sent_body": self.sent_body,
                "sent_sha256": self.sent_sha.hexdigest(), "send_error": self.send_error,
                "t_start": self.t_start, "t_headers": self.t_headers, "t_end": self.t_end}


class Client:
    def __init__(self, sc):
        self.sc = sc
        self.t0 = time.monotonic()
        self.rec = Recorder(self.t0)
        self.keep = sc.get("keep_body", 1 << 20)
        self.ack_delay = sc.get("ack_delay", 0)
        self.sock, self.alpn = connect(sc)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding=None,
                                        validate_outbound_headers=False,
                                        normalize_outbound_headers=False,
                                        validate_inbound_headers=sc.get("validate_inbound", True))
        self.conn = h2.connection.H2Connection(cfg)
        init = {h2.settings.SettingCodes.ENABLE_PUSH: 0}
        for k, v in sc.get("settings", {}).items():
            init[h2.settings.SettingCodes[k.upper()]] = v
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values=init)
        self.conn.initiate_connection()
        self.split = Splitter()
        self.streams = {}
        self.by_id = {}
        self.acks = []  # [due, n, stream id]
        self.h2_error = None
        self.write_error = None
        self.remote_settings = None
        self.pings = []
        self.marks = {}
        self.flush()

    def now(self):
        return round(time.monotonic() - self.t0, 4)

    # -- I/O
    def flush(self):
        data = self.conn.data_to_send()
        if data and not self.rec.closed and not self.write_error:
            try:
                self.sock.settimeout(10)
                self.sock.sendall(data)
            except OSError as e:
                # what the proxy sent before it closed is still to be read
                self.write_error = repr(e)

    def read_once(self, wait):
        if self.rec.closed:
            time.sleep(max(0.0, min(wait, 0.05)))
            return
        try:
            self.sock.settimeout(max(wait, 0.001))
            data = self.sock.recv(262144)
        except (socket.timeout, ssl.SSLWantReadError):
            return
        except OSError:
            data = b""
        if not data:
            self.rec.close()
            return
        for ftype, flags, sid, payload, raw in self.split.feed(data):
            self.rec.note(ftype, flags, sid, payload)
            if ftype == GOAWAY or self.h2_error:
                continue
            try:
                events = self.conn.receive_data(raw)
            except h2.exceptions.H2Error as e:
                self.h2_error = "%s: %s (frame %s on stream %d)" % (type(e).__name__, e,
                                                                    FRAME_NAMES.get(ftype, ftype), sid)
                self.flush()
                continue
            for ev in events:
                self.handle(ev)
        self.flush()

    def handle(self, ev):
        st = self.by_id.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived) and st:
            st.headers = list(ev.headers)
            st.status = int(dict(ev.headers).get(b":status", b"0"))
            st.t_headers = self.now()
        elif isinstance(ev, h2.events.InformationalResponseReceived) and st:
            st.interim.append(int(dict(ev.headers).get(b":status", b"0")))
        elif isinstance(ev, h2.events.TrailersReceived) and st:
            st.trailers = list(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            if st:
                st.body_len += len(ev.data)
                st.sha.update(ev.data)
                if len(st.body) < self.keep:
                    st.body += ev.data[: self.keep - len(st.body)]
            if ev.flow_controlled_length:
                if self.ack_delay:
                    self.acks.append([time.monotonic() + self.ack_delay, ev.flow_controlled_length, ev.stream_id])
                else:
                    self.ack(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded) and st:
            st.ended = True
            st.t_end = self.now()
        elif isinstance(ev, h2.events.StreamReset) and st:
            if ev.remote_reset:
                st.reset = ev.error_code
            st.t_end = self.now()
            st.pending = memoryview(b"")
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            self.remote_settings = {str(k.name if hasattr(k, "name") else k): v.new_value
                                    for k, v in ev.changed_settings.items()}
        elif isinstance(ev, h2.events.PingAckReceived):
            self.pings.append(self.now())

    def ack(self, n, sid):
        try:
            self.conn.acknowledge_received_data(n, sid)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
            # the stream is gone: the connection window still needs its bytes back
            try:
                self.conn.increment_flow_control_window(n)
            except h2.exceptions.H2Error:
                pass

    def run_acks(self):
        now = time.monotonic()
        due = [a for a in self.acks if a[0] <= now]
        if due:
            self.acks = [a for a in self.acks if a[0] > now]
            for _, n, sid in due:
                self.ack(n, sid)
            self.flush()

    def pump_send(self):
        for st in self.streams.values():
            while len(st.pending) and not st.send_error and st.reset is None and not self.rec.closed:
                try:
                    win = self.conn.local_flow_control_window(st.id)
                except h2.exceptions.H2Error as e:
                    st.send_error = repr(e)
                    break
                size = min(win, self.conn.max_outbound_frame_size, len(st.pending))
                if st.frames:
                    size = min(size, st.frames[0])
                if size <= 0:
                    break
                chunk = st.pending[:size]
                last = len(chunk) == len(st.pending)
                try:
                    self.conn.send_data(st.id, bytes(chunk), end_stream=last and st.end_after and not st.trailers_out)
                    if last and st.trailers_out:
                        self.conn.send_headers(st.id, st.trailers_out, end_stream=True)
                except h2.exceptions.H2Error as e:
                    st.send_error = repr(e)
                    break
                st.sent_body += size
                st.sent_sha.update(chunk)
                st.pending = st.pending[size:]
                if st.frames:
                    st.frames[0] -= size
                    if st.frames[0] <= 0:
                        st.frames.pop(0)
                self.flush()

    def run_until(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while True:
            self.pump_send()
            self.flush()
            if pred():
                return True
            left = deadline - time.monotonic()
            if left <= 0 or (self.rec.closed and not self.acks):
                return pred()
            wait = min(left, 0.05)
            if self.acks:
                wait = max(0.0, min(wait, min(a[0] for a in self.acks) - time.monotonic()))
            self.read_once(wait)
            self.run_acks()

    # -- steps
    def step(self, s):
        op = s["op"]
        if op == "request":
            self.request(s)
        elif op == "data":
            st = self.streams[s["name"]]
            st.pending = memoryview(bytes(st.pending) + b(s.get("body", "")))
            st.end_after = s.get("end", True)
            if not len(st.pending) and st.end_after:
                self.conn.end_stream(st.id)
                self.flush()
        elif op == "reset":
            st = self.streams[s["name"]]
            try:
                self.conn.reset_stream(st.id, s.get("code", 8))
            except h2.exceptions.H2Error as e:
                st.send_error = repr(e)
            st.reset_sent = s.get("code", 8)
            st.pending = memoryview(b"")
            self.flush()
        elif op == "wait":
            names = s.get("names") or list(self.streams)
            ok = self.run_until(lambda: all(self.streams[n].done() for n in names), s.get("timeout", 10))
            self.marks.setdefault("wait_timeouts", [])
            if not ok:
                self.marks["wait_timeouts"].append([n for n in names if not self.streams[n].done()])
        elif op == "wait_body":
            st = self.streams[s["name"]]
            self.run_until(lambda: st.body_len >= s["bytes"] or st.done(), s.get("timeout", 10))
        elif op == "wait_goaway":
            final = s.get("final", False)
            self.run_until(lambda: any(not final or g["last_stream_id"] != MAX_ID for g in self.rec.goaways),
                           s.get("timeout", 10))
        elif op == "wait_closed":
            self.run_until(lambda: self.rec.closed, s.get("timeout", 10))
        elif op == "sleep":
            self.run_until(lambda: False, s["s"])
        elif op == "signal":
            os.kill(s["pid"], s["sig"])
            self.marks["signal"] = self.now()
        elif op == "ping":
            self.conn.ping(b"12345678")
            self.flush()
        elif op == "mark":
            self.marks[s["name"]] = self.now()
        else:
            raise ValueError("unknown op %r" % op)

    def request(self, s):
        if self.rec.closed:
            self.streams[s["name"]] = st = Stream(s["name"], None)
            st.send_error = "connection closed"
            return
        sid = self.conn.get_next_available_stream_id()
        st = Stream(s["name"], sid)
        self.streams[s["name"]] = st
        self.by_id[sid] = st
        if "raw" in s:
            hdrs = [(b(k), b(v)) for k, v in s["raw"]]
        else:
            hdrs = [(b":method", b(s.get("method", "GET"))), (b":scheme", b"https" if self.sc.get("tls") else b"http"),
                    (b":authority", b(s.get("authority", self.sc.get("authority", "localhost")))),
                    (b":path", b(s.get("path", "/")))]
            hdrs += [(b(k), b(v)) for k, v in s.get("headers", [])]
        if "body" in s:
            body = b(s["body"])
        elif "body_random" in s:
            body = os.urandom(s["body_random"])
        elif "body_len" in s:
            body = pattern(s["body_len"])
        else:
            body = b""
        st.end_after = s.get("end", True)
        st.trailers_out = [(b(k), b(v)) for k, v in s["trailers"]] if s.get("trailers") else None
        st.frames = list(s.get("frames", []))
        st.t_start = self.now()
        try:
            self.conn.send_headers(sid, hdrs, end_stream=not body and st.end_after and not st.trailers_out)
            if not body and st.trailers_out:
                self.conn.send_headers(sid, st.trailers_out, end_stream=True)
        except h2.exceptions.H2Error as e:
            st.send_error = repr(e)
        st.pending = memoryview(body)
        self.flush()

    def run(self):
        if self.sc.get("wait_settings", True):
            self.run_until(lambda: self.remote_settings is not None, 5)
        deadline = time.monotonic() + self.sc.get("timeout", 60)
        for s in self.sc.get("steps", []):
            if time.monotonic() > deadline:
                self.marks["timeout"] = True
                break
            self.step(s)
        res = {"ok": True, "alpn": self.alpn, "settings": self.remote_settings, "h2_error": self.h2_error,
               "write_error": self.write_error,
               "pings": self.pings, "marks": self.marks,
               "streams": {n: st.result(self.keep) for n, st in self.streams.items()}}
        res.update(self.rec.result())
        try:
            self.sock.close()
        except OSError:
            pass
        return res


# ---------------------------------------------------------------- raw frames


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid & MAX_ID) + payload


def settings_frame(values=()):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in values))


def hp_int(value, bits, flags):
    top = (1 << bits) - 1
    if value < top:
        return bytes([flags | value])
    out = [flags | top]
    value -= top
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def hp_str(s):
    return hp_int(len(s), 7, 0) + s


def hp_literal(name, value, index=False):
    """A field with a literal name: without indexing, or with incremental indexing."""
    return (b"\x40" if index else b"\x00") + hp_str(b(name)) + hp_str(b(value))


def hp_indexed(i):
    return hp_int(i, 7, 0x80)


def request_block(path, method="GET", authority="localhost", extra=()):
    """A header block that leaves the HPACK table alone (every field literal,
    without indexing): the same bytes serve every stream."""
    out = hp_literal(":method", method) + hp_literal(":scheme", "http") + hp_literal(":path", path)
    out += hp_literal(":authority", authority)
    for k, v in extra:
        out += hp_literal(k, v)
    return out


class Attack:
    def __init__(self, sc):
        self.sc = sc
        self.t0 = time.monotonic()
        self.rec = Recorder(self.t0)
        self.sock, _ = connect(sc)
        self.wlock = threading.Lock()
        self.sent = 0
        self.bytes_sent = 0
        self.write_stalled = False
        self.write_error = None
        self.rst = {}
        self.statuses = {}
        self.stream_rst = {}
        self.stream_status = {}
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 30
        self.block = {}  # stream -> header block being collected
        self.data_in = 0
        self.reader = threading.Thread(target=self.read_loop, daemon=True)
        self.send(PREFACE + settings_frame([(2, 0)]))  # ENABLE_PUSH 0
        self.reader.start()

    def stop_now(self):
        return self.rec.closed or bool(self.rec.goaways) or self.write_stalled or bool(self.write_error)

    def send(self, data):
        if self.rec.closed or self.write_error:
            return False
        with self.wlock:
            try:
                self.sock.settimeout(self.sc.get("stall", 5))
                self.sock.sendall(data)
                self.bytes_sent += len(data)
                return True
            except socket.timeout:
                self.write_stalled = True
            except OSError as e:
                # the reader still takes what the proxy sent before closing
                self.write_error = repr(e)
        return False

    def read_loop(self):
        split = Splitter()
        while True:
            try:
                data = self.sock.recv(262144)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            if not data:
                self.rec.close()
                return
            acks = []
            for ftype, flags, sid, payload, raw in split.feed(data):
                self.rec.note(ftype, flags, sid, payload)
                if ftype == SETTINGS and not flags & ACK:
                    acks.append(frame(SETTINGS, ACK, 0))
                elif ftype == DATA and payload:
                    self.data_in += len(payload)
                    acks.append(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(payload))))
                elif ftype == RST_STREAM:
                    code = int.from_bytes(payload[:4], "big")
                    self.rst[code] = self.rst.get(code, 0) + 1
                    if len(self.stream_rst) < 2000:
                        self.stream_rst[sid] = code
                elif ftype in (HEADERS, CONTINUATION):
                    frag = payload
                    if ftype == HEADERS:
                        pad = 0
                        if flags & 0x8:
                            pad = frag[0]
                            frag = frag[1:]
                        if flags & 0x20:
                            frag = frag[5:]
                        if pad:
                            frag = frag[:-pad]
                    self.block[sid] = self.block.get(sid, b"") + frag
                    if flags & END_HEADERS:
                        self.got_headers(sid, self.block.pop(sid))
            if acks:
                self.send(b"".join(acks))

    def got_headers(self, sid, block):
        try:
            hdrs = self.decoder.decode(block, raw=True)
        except Exception as e:
            self.statuses["hpack error %s" % type(e).__name__] = 1
            return
        st = dict(hdrs).get(b":status")
        if st is not None:
            st = st.decode()
            self.statuses[st] = self.statuses.get(st, 0) + 1
            if len(self.stream_status) < 2000:
                self.stream_status[sid] = int(st)

    def flood(self, unit, batch):
        """Send unit(i) (bytes) batch at a time until the proxy reacts or a limit."""
        limit = self.sc.get("max", 100000)
        end = self.t0 + self.sc.get("max_time", 15)
        i = 0
        while i < limit and not self.stop_now() and time.monotonic() < end:
            n = min(batch, limit - i)
            if not self.send(b"".join(unit(i + k) for k in range(n))):
                break
            i += n
            self.sent = i
            if self.sc.get("pace"):
                time.sleep(self.sc["pace"])

    def run(self):
        kind = self.sc["mode"]
        time.sleep(0.05)  # let the proxy's SETTINGS arrive
        path = self.sc.get("path", "/attack")
        if kind == "rapid_reset":
            blk = request_block(path)

            def unit(i):
                sid = 1 + 2 * i
                return (frame(HEADERS, END_STREAM | END_HEADERS, sid, blk)
                        + frame(RST_STREAM, 0, sid, struct.pack(">I", 8)))
            self.flood(unit, 50)
        elif kind == "continuation_flood":
            size = self.sc.get("size", 16384)
            self.send(frame(HEADERS, END_STREAM, 1, request_block(path)))
            field = hp_literal("x-flood", "v" * 1000)
            payload = (field * (size // len(field) + 1))[:size] if size else b""
            self.flood(lambda i: frame(CONTINUATION, 0, 1, payload), 8 if size else 200)
        elif kind == "settings_flood":
            self.flood(lambda i: settings_frame([(4, 65535)]), 100)
        elif kind == "ping_flood":
            self.flood(lambda i: frame(PING, 0, 0, struct.pack(">Q", i)), 100)
        elif kind == "empty_data_flood":
            self.send(frame(HEADERS, END_HEADERS, 1, request_block(path, "POST")))
            self.flood(lambda i: frame(DATA, 0, 1), 200)
        elif kind == "hpack_bomb":
            size = self.sc.get("size", 4000)
            seed = request_block(path + "-seed", extra=()) + hp_literal("x-bomb", "b" * size, index=True)
            self.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, seed))
            time.sleep(0.2)
            rep = self.sc.get("repeat", 16000)

            def unit(i):
                blk = request_block("%s/%d" % (path, i)) + hp_indexed(62) * rep
                fs = self.sc.get("frame", 16384)
                sid = 3 + 2 * i
                parts = [blk[k:k + fs] for k in range(0, len(blk), fs)]
                out = frame(HEADERS, END_STREAM | (END_HEADERS if len(parts) == 1 else 0), sid, parts[0])
                for k, p in enumerate(parts[1:]):
                    out += frame(CONTINUATION, END_HEADERS if k == len(parts) - 2 else 0, sid, p)
                return out
            self.flood(unit, 1)
        elif kind == "too_many_streams":
            hold = self.sc.get("hold", 100)
            blk = request_block(path)
            self.send(b"".join(frame(HEADERS, END_STREAM | END_HEADERS, 1 + 2 * i, blk) for i in range(hold)))
            time.sleep(self.sc.get("settle", 0.3))
            more = request_block(self.sc.get("extra_path", "/extra"))
            self.flood(lambda i: frame(HEADERS, END_STREAM | END_HEADERS, 1 + 2 * (hold + i), more), 20)
        else:
            raise ValueError("unknown mode %r" % kind)
        t_stop = self.rec.now()
        end = time.monotonic() + self.sc.get("linger", 5)
        while time.monotonic() < end and not self.rec.closed:
            if self.rec.goaways and self.sc.get("close_after_goaway", 1.0) is not None:
                # a GOAWAY is the answer; give the proxy a moment to close, then stop
                g = self.rec.goaways[-1]["t"]
                if self.rec.now() - g > self.sc.get("close_after_goaway", 1.0):
                    break
            time.sleep(0.02)
        res = {"ok": True, "mode": kind, "sent": self.sent, "bytes_sent": self.bytes_sent, "t_stop": t_stop,
               "write_stalled": self.write_stalled, "write_error": self.write_error,
               "rst": {str(k): v for k, v in self.rst.items()},
               "statuses": self.statuses, "data_in": self.data_in,
               "stream_rst": {str(k): v for k, v in sorted(self.stream_rst.items())[:300]},
               "stream_status": {str(k): v for k, v in sorted(self.stream_status.items())[:300]}}
        res.update(self.rec.result())
        try:
            self.sock.close()
        except OSError:
            pass
        return res


def run_one(sc):
    try:
        if sc.get("mode", "client") == "client":
            return Client(sc).run()
        return Attack(sc).run()
    except (ConnectionRefusedError, socket.timeout, ssl.SSLError) as e:
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}


def main():
    arg = sys.argv[1]
    sc = json.loads(sys.stdin.read() if arg == "-" else arg)
    if "batch" in sc:
        out = [run_one(s) for s in sc["batch"]]
    else:
        out = run_one(sc)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
