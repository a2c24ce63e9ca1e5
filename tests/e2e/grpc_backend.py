"""A real gRPC server and client for the e2e tests, on python3-grpcio: run it
with /usr/bin/python3 (Debian's, which sees python3-grpcio); never imported by
the harness (standard library only; tests drive it through grpc_helpers.py).
No generated code: methods are registered with grpc's generic handlers and
bytes pass through unchanged; the two health messages are encoded by hand.

    grpc_backend.py server [--name NAME] [--port PORT] [--tls-cert PEM --tls-key PEM]
                           [--health SERVICE=STATE ...]
        Serves on 127.0.0.1:PORT (default 0: a kernel-picked port) and prints
        "grpc_backend NAME listening on 127.0.0.1:PORT". Service
        fulcrum.test.Echo (payloads are plain bytes, no protobuf):
          Echo   unary: the request back; initial metadata and trailers carry
                 x-server: NAME; request metadata x-foo comes back as trailer
                 x-got-x-foo
          Fail   unary: the request is "CODE [MESSAGE]": ends with that
                 status code and message (trailer x-server too)
          Count  server streaming: the request is "N [SIZE]": N messages
                 "0", "1", ... (padded with "." to SIZE bytes when given)
          Sum    client streaming: the decimal numbers sent, summed
          Chat   bidi: every message back as it came
        and grpc.health.v1.Health/Check (HealthCheckRequest{1: service},
        HealthCheckResponse{1: status}). Health states by service: "" and
        fulcrum.test.Echo start SERVING; others answer NOT_FOUND, as grpc's
        own health servicer does. --health SERVICE=STATE sets one at start
        ("-" is the empty service name).
        Commands on stdin, one a line, each answered by one line on stdout:
          health SERVICE STATE   SERVING | NOT_SERVING | SERVICE_UNKNOWN |
                                 UNKNOWN (0) | hang (never answer until the
                                 caller gives up) | code=N (end with grpc
                                 status N) | garbage (a response that is no
                                 protobuf) | remove; answers "ok"
          stats                  {"checks": {service: n}, "calls": {method: n},
                                  "check_metadata": {...the last check's},
                                  "check_deadline_ms": its deadline (or null)}
        EOF on stdin stops the server.
    grpc_backend.py call --target HOST:PORT --method METHOD [--data D ...]
                         [--service S] [--metadata K=V ...] [--timeout S]
                         [--authority A] [--tls-ca PEM [--tls-name NAME]]
                         [--repeat N]
        METHOD: Echo, Fail, Count, Sum, Chat (of fulcrum.test.Echo), Check
        (grpc.health.v1.Health; --service), or a full /pkg.Service/Method
        (unary). --data gives the request (each --data one message for Sum
        and Chat). Prints one JSON line per call: code (number), code_name,
        details, messages (text), sizes, initial_metadata,
        trailing_metadata, elapsed_ms, and for Check the status name.
        Exit status 0 when every call got a status (any status), else 1."""
import argparse
import json
import os
import sys
import threading
import time
from concurrent import futures

import grpc

ECHO_SERVICE = "fulcrum.test.Echo"
HEALTH_SERVICE = "grpc.health.v1.Health"
STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
STATUS_BY_NAME = {v: k for k, v in STATUS_NAMES.items()}
CODES = {c.value[0]: c for c in grpc.StatusCode}

_out_lock = threading.Lock()


def out(obj):
    with _out_lock:
        sys.stdout.write((obj if isinstance(obj, str) else json.dumps(obj)) + "\n")
        sys.stdout.flush()


# ------------------------------------------------------------------ protobuf by hand

def varint(n):
    b = bytearray()
    while True:
        c = n & 0x7F
        n >>= 7
        if n:
            b.append(c | 0x80)
        else:
            b.append(c)
            return bytes(b)


def read_varint(data, i):
    n = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        c = data[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return n, i


def fields(data):
    """(field number, wire type, value) of a message; unknown types raise."""
    i = 0
    while i < len(data):
        key, i = read_varint(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(data, i)
        elif wt == 1:
            v, i = data[i:i + 8], i + 8
        elif wt == 2:
            n, i = read_varint(data, i)
            v, i = data[i:i + n], i + n
        elif wt == 5:
            v, i = data[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        if i > len(data):
            raise ValueError("truncated field %d" % num)
        yield num, wt, v


def health_request(service):
    s = service.encode()
    return b"\x0a" + varint(len(s)) + s if s else b""


def health_request_service(data):
    service = ""
    for num, wt, v in fields(data):
        if num == 1 and wt == 2:
            service = bytes(v).decode()
    return service


def health_response(status):
    return b"\x08" + varint(status) if status else b""


def health_response_status(data):
    status = 0
    for num, wt, v in fields(data):
        if num == 1 and wt == 0:
            status = v
    return status


# ------------------------------------------------------------------ server

class Backend:
    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.health = {"": "SERVING", ECHO_SERVICE: "SERVING"}
        self.checks = {}
        self.calls = {}
        self.check_metadata = {}
        self.check_deadline_ms = None

    def count(self, method):
        with self.lock:
            self.calls[method] = self.calls.get(method, 0) + 1

    def name_md(self):
        return (("x-server", self.name),)

    # fulcrum.test.Echo

    def echo(self, request, context):
        self.count("Echo")
        context.send_initial_metadata(self.name_md())
        got = tuple(("x-got-" + k, v) for k, v in context.invocation_metadata()
                    if k.startswith("x-") and not k.endswith("-bin"))
        context.set_trailing_metadata(self.name_md() + got)
        return request

    def fail(self, request, context):
        self.count("Fail")
        text = request.decode(errors="replace")
        code_s, _, message = text.partition(" ")
        code = CODES.get(int(code_s) if code_s.isdigit() else 2, grpc.StatusCode.UNKNOWN)
        context.set_trailing_metadata(self.name_md())
        context.abort(code, message or "failed as asked")

    def count_stream(self, request, context):
        self.count("Count")
        parts = request.decode(errors="replace").split()
        n = int(parts[0]) if parts else 0
        size = int(parts[1]) if len(parts) > 1 else 0
        context.send_initial_metadata(self.name_md())
        context.set_trailing_metadata(self.name_md() + (("x-count", str(n)),))
        for i in range(n):
            m = str(i).encode()
            yield m.ljust(size, b".") if size else m

    def sum(self, request_iterator, context):
        self.count("Sum")
        total = n = 0
        for m in request_iterator:
            total += int(m.decode() or 0)
            n += 1
        context.set_trailing_metadata(self.name_md() + (("x-count", str(n)),))
        return str(total).encode()

    def chat(self, request_iterator, context):
        self.count("Chat")
        context.send_initial_metadata(self.name_md())
        context.set_trailing_metadata(self.name_md())
        for m in request_iterator:
            yield m

    # grpc.health.v1.Health

    def check(self, request, context):
        try:
            service = health_request_service(request)
        except (ValueError, UnicodeDecodeError) as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad HealthCheckRequest: %s" % e)
        with self.lock:
            self.checks[service] = self.checks.get(service, 0) + 1
            self.check_metadata = {k: v for k, v in context.invocation_metadata()
                                   if not k.endswith("-bin")}
            left = context.time_remaining()
            self.check_deadline_ms = None if left is None else int(left * 1000)
            state = self.health.get(service)
        deadline = time.monotonic() + 60
        while state == "hang" and context.is_active() and time.monotonic() < deadline:
            time.sleep(0.01)
            with self.lock:
                state = self.health.get(service)
        if state == "hang":
            return b""  # the caller gave up
        if state is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        if state.startswith("code="):
            context.abort(CODES.get(int(state[5:]), grpc.StatusCode.UNKNOWN),
                          "health check failed as asked")
        if state == "garbage":
            return b"\x0f\xff\xff"  # wire type 7: no protobuf message
        return health_response(STATUS_BY_NAME[state])

    def command(self, line):
        words = line.split()
        if not words:
            return
        if words[0] == "health" and len(words) == 3:
            service = "" if words[1] == "-" else words[1]
            state = words[2]
            ok = (state in STATUS_BY_NAME or state in ("hang", "garbage", "remove")
                  or (state.startswith("code=") and state[5:].isdigit()))
            if not ok:
                out("error: unknown state %s" % state)
                return
            with self.lock:
                if state == "remove":
                    self.health.pop(service, None)
                else:
                    self.health[service] = state
            out("ok")
        elif words[0] == "stats":
            with self.lock:
                out({"checks": self.checks, "calls": self.calls,
                     "check_metadata": self.check_metadata,
                     "check_deadline_ms": self.check_deadline_ms})
        else:
            out("error: unknown command %s" % words[0])


def serve(args):
    b = Backend(args.name)
    for spec in args.health:
        service, _, state = spec.partition("=")
        b.health["" if service == "-" else service] = state
    raw = dict(request_deserializer=None, response_serializer=None)
    echo = grpc.method_handlers_generic_handler(ECHO_SERVICE, {
        "Echo": grpc.unary_unary_rpc_method_handler(b.echo, **raw),
        "Fail": grpc.unary_unary_rpc_method_handler(b.fail, **raw),
        "Count": grpc.unary_stream_rpc_method_handler(b.count_stream, **raw),
        "Sum": grpc.stream_unary_rpc_method_handler(b.sum, **raw),
        "Chat": grpc.stream_stream_rpc_method_handler(b.chat, **raw),
    })
    health = grpc.method_handlers_generic_handler(HEALTH_SERVICE, {
        "Check": grpc.unary_unary_rpc_method_handler(b.check, **raw),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32), handlers=(echo, health),
                         options=(("grpc.so_reuseport", 0),))
    if args.tls_cert:
        with open(args.tls_key, "rb") as f:
            key = f.read()
        with open(args.tls_cert, "rb") as f:
            cert = f.read()
        port = server.add_secure_port("127.0.0.1:%d" % args.port,
                                      grpc.ssl_server_credentials([(key, cert)]))
    else:
        port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    if not port:
        raise SystemExit("grpc_backend %s: cannot listen on 127.0.0.1:%d" % (args.name, args.port))
    server.start()
    out("grpc_backend %s listening on 127.0.0.1:%d" % (args.name, port))
    for line in sys.stdin:
        b.command(line)
    server.stop(0)


# ------------------------------------------------------------------ client

def channel(args):
    opts = []
    if args.authority:
        opts.append(("grpc.default_authority", args.authority))
    if args.tls_ca:
        with open(args.tls_ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        if args.tls_name:
            opts.append(("grpc.ssl_target_name_override", args.tls_name))
        return grpc.secure_channel(args.target, creds, options=opts)
    return grpc.insecure_channel(args.target, options=opts)


def md_dict(md):
    d = {}
    for k, v in md or ():
        d[k] = v if isinstance(v, str) else v.hex()
    return d


def one_call(ch, args):
    method = args.method
    data = [d.encode() for d in args.data]
    if method == "Check":
        path, kind, data = "/%s/Check" % HEALTH_SERVICE, "uu", [health_request(args.service)]
    elif method.startswith("/"):
        path, kind = method, "uu"
    else:
        kinds = {"Echo": "uu", "Fail": "uu", "Count": "us", "Sum": "su", "Chat": "ss"}
        if method not in kinds:
            raise SystemExit("unknown method %s" % method)
        path, kind = "/%s/%s" % (ECHO_SERVICE, method), kinds[method]
    md = tuple(tuple(kv.split("=", 1)) for kv in args.metadata)
    raw = dict(request_serializer=None, response_deserializer=None)
    t0 = time.monotonic()
    messages, call = [], None
    try:
        if kind == "uu":
            resp, call = ch.unary_unary(path, **raw).with_call(
                data[0] if data else b"", timeout=args.timeout, metadata=md)
            messages = [resp]
        elif kind == "su":
            resp, call = ch.stream_unary(path, **raw).with_call(
                iter(data), timeout=args.timeout, metadata=md)
            messages = [resp]
        else:
            if kind == "us":
                call = ch.unary_stream(path, **raw)(data[0] if data else b"", timeout=args.timeout,
                                                    metadata=md)
            else:
                call = ch.stream_stream(path, **raw)(iter(data), timeout=args.timeout, metadata=md)
            for m in call:
                messages.append(m)
    except grpc.RpcError as e:
        call = e
    res = {
        "code": call.code().value[0],
        "code_name": call.code().name,
        "details": call.details() or "",
        "messages": [m.decode(errors="replace") for m in messages],
        "sizes": [len(m) for m in messages],
        "initial_metadata": md_dict(call.initial_metadata()),
        "trailing_metadata": md_dict(call.trailing_metadata()),
        "elapsed_ms": int((time.monotonic() - t0) * 1000),
    }
    if method == "Check" and res["code"] == 0:
        try:
            res["status"] = STATUS_NAMES.get(health_response_status(messages[0]), "?")
        except ValueError as e:
            res["status"] = "malformed: %s" % e
    return res


def call(args):
    ch = channel(args)
    try:
        for _ in range(args.repeat):
            out(one_call(ch, args))
    finally:
        ch.close()


def main():
    ap = argparse.ArgumentParser(description="gRPC test backend and client")
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--name", default="grpc")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--tls-cert")
    s.add_argument("--tls-key")
    s.add_argument("--health", action="append", default=[])
    c = sub.add_parser("call")
    c.add_argument("--target", required=True)
    c.add_argument("--method", required=True)
    c.add_argument("--data", action="append", default=[])
    c.add_argument("--service", default="")
    c.add_argument("--metadata", action="append", default=[])
    c.add_argument("--timeout", type=float, default=10)
    c.add_argument("--authority")
    c.add_argument("--tls-ca")
    c.add_argument("--tls-name")
    c.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    if args.mode == "server":
        serve(args)
    else:
        call(args)
    sys.stdout.flush()
    os._exit(0)  # grpc's threads may linger


if __name__ == "__main__":
    main()
