"""gRPC through fulcrum: real gRPC clients and servers (grpc_backend.py on
python3-grpcio) on both sides of a pool with protocol: h2. Unary, server
streaming, client streaming and bidi calls pass with their metadata and
trailers; error statuses and messages pass through; calls on one client
connection are balanced over the servers; a large stream goes through the
windows; TLS on both sides (ALPN h2); an HTTP/1.1 request to the pool gets
505; a dead server's calls go to the other; the access log names HTTP/2."""
import os
import subprocess

import harness as h
from grpc_helpers import GrpcBackend, grpc_call


def config(port, backends, listener_tls=None, pool_extra="", access="off"):
    lines = ["workers: 1", "shutdown_grace: 2s",
             "log: {level: info, error: stderr, access: %s}" % access,
             "state_dir: %s" % h.tmpdir(),
             "listeners:",
             "  - address: 127.0.0.1:%d" % port]
    if listener_tls:
        lines += ["    tls: {certificates: [{cert: %s, key: %s}]}" % listener_tls]
    else:
        lines += ["    http2: prior_knowledge"]
    lines += ["    routes: [{pool: grpc}]",
              "pools:",
              "  grpc:",
              "    protocol: h2",
              "    servers:"]
    for b in backends:
        lines.append("      - {url: %s, name: %s}" % (b.url, b.name))
    if pool_extra:
        lines.append(pool_extra)
    return "\n".join(lines) + "\n"


def start(backends, **kw):
    port = h.free_port()
    return h.Fulcrum.from_config(config(port, backends, **kw), port=port)


def trailer(res, key):
    return dict((k, v) for k, v in res["trailing_metadata"]).get(key) if isinstance(
        res["trailing_metadata"], list) else res["trailing_metadata"].get(key)


_CERT = {}


def cert():
    """A certificate for localhost (and its key): the listener's, and the
    TLS backend's."""
    if not _CERT:
        d = h.tmpdir()
        c, k = os.path.join(d, "c.pem"), os.path.join(d, "c.key")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-keyout", k, "-out", c, "-days", "2",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                       check=True, capture_output=True)
        _CERT.update(cert=c, key=k)
    return _CERT


@h.test(timeout=120)
def unary_balanced_with_metadata():
    a, b = GrpcBackend("ga"), GrpcBackend("gb")
    f = start([a, b])
    res = grpc_call(f.port, "Echo", data=["hello"], metadata={"x-foo": "bar"}, repeat=10)
    for r in res:
        h.eq(r["code"], 0, "status")
        h.eq(r["messages"], ["hello"], "the request back")
        h.eq(trailer(r, "x-got-x-foo"), "bar", "request metadata reached the server")
    servers = {trailer(r, "x-server") for r in res}
    h.eq(servers, {"ga", "gb"}, "calls on one connection spread over both servers")
    h.eq(a.stats()["calls"].get("Echo", 0) + b.stats()["calls"].get("Echo", 0), 10, "calls")


@h.test(timeout=120)
def errors_pass_through():
    a = GrpcBackend("ga")
    f = start([a])
    r = grpc_call(f.port, "Fail", data=["7 not for you"])
    h.eq(r["code"], 7, "grpc-status PERMISSION_DENIED passes through")
    h.eq(r["details"], "not for you", "grpc-message passes through")
    h.eq(trailer(r, "x-server"), "ga", "the error's trailers too")
    r = grpc_call(f.port, "Fail", data=["5"])
    h.eq(r["code"], 5, "NOT_FOUND")
    r = grpc_call(f.port, "/fulcrum.test.Echo/NoSuchMethod", data=["x"])
    h.eq(r["code"], 12, "UNIMPLEMENTED from the server (a trailers-only answer)")


@h.test(timeout=120)
def streaming_calls():
    a = GrpcBackend("ga")
    f = start([a])
    r = grpc_call(f.port, "Count", data=["50 100"])
    h.eq(r["code"], 0, "server streaming status")
    h.eq(len(r["messages"]), 50, "50 messages")
    h.eq(r["messages"][49].rstrip("."), "49", "in order")
    h.eq(trailer(r, "x-count"), "50", "trailers after the stream")
    r = grpc_call(f.port, "Sum", data=[str(i) for i in range(1, 101)])
    h.eq(r["code"], 0, "client streaming status")
    h.eq(r["messages"], ["5050"], "the sum of 100 messages")
    r = grpc_call(f.port, "Chat", data=["one", "two", "three"])
    h.eq(r["code"], 0, "bidi status")
    h.eq(r["messages"], ["one", "two", "three"], "bidi messages back")


@h.test(timeout=120)
def large_stream_through_the_windows():
    """8 MB of messages: far beyond both windows and every buffer."""
    a = GrpcBackend("ga")
    f = start([a])
    n, size = 2 if h.SANITIZED else 512, 16384
    r = grpc_call(f.port, "Count", data=["%d %d" % (n, size)], timeout=60)
    h.eq(r["code"], 0, "status")
    h.eq(len(r["messages"]), n, "messages")
    h.check(all(s == size for s in r["sizes"]), "every message whole")


@h.test(timeout=120)
def tls_both_sides():
    c = cert()
    a = GrpcBackend("gtls", tls=(c["cert"], c["key"]))
    port = h.free_port()
    text = config(port, [a], listener_tls=(c["cert"], c["key"]),
                  pool_extra="    tls: {ca: %s}" % c["cert"])
    text = text.replace("url: https://127.0.0.1:", "url: https://localhost:")
    f = h.Fulcrum.from_config(text, port=port)
    r = grpc_call(f.port, "Echo", data=["secret"], tls_ca=c["cert"], tls_name="localhost",
                  host="localhost")
    h.eq(r["code"], 0, "a call over TLS on both sides")
    h.eq(r["messages"], ["secret"], "message")
    h.eq(trailer(r, "x-server"), "gtls", "trailers")


@h.test
def http1_request_gets_505():
    a = GrpcBackend("ga")
    f = start([a])
    r = h.get(f.port, "/fulcrum.test.Echo/Echo")
    h.eq(r.status, 505, "an HTTP/1.1 request to a protocol: h2 pool")
    h.eq(a.stats()["calls"].get("Echo", 0), 0, "the server saw nothing")


@h.test(timeout=120)
def dead_server_calls_go_elsewhere():
    a, b = GrpcBackend("ga"), GrpcBackend("gb")
    f = start([a, b])
    h.eq(grpc_call(f.port, "Echo", data=["x"])["code"], 0, "warm")
    a.kill()
    res = grpc_call(f.port, "Echo", data=["x"], repeat=6)
    h.check(all(r["code"] == 0 for r in res), "every call answered: %r" % [r["code"] for r in res])
    h.eq({trailer(r, "x-server") for r in res}, {"gb"}, "by the live server")
    h.check(f.alive(), "fulcrum runs")


@h.test(timeout=120)
def access_log_says_http2():
    a = GrpcBackend("ga")
    f = start([a], access="stdout")
    grpc_call(f.port, "Echo", data=["x"])
    f.wait_for_output(lambda t: "/fulcrum.test.Echo/Echo HTTP/2.0" in t, timeout=5 * h.SLOW)
    line = [l for l in f.stdout_text().splitlines() if "/fulcrum.test.Echo/Echo" in l][0]
    h.check('"POST /fulcrum.test.Echo/Echo HTTP/2.0" 200' in line, line)
    h.check("server=ga" in line, line)


h.main()
