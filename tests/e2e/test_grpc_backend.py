"""grpc_backend.py itself (the gRPC server and client later tests rely on),
straight, without fulcrum: every method of fulcrum.test.Echo with its
metadata and trailers, errors with their status and message, the health
service flipped at run time, TLS, and a restart on the same port."""
import os
import subprocess

import harness as h
from grpc_helpers import GrpcBackend, grpc_call


@h.test
def unary_and_errors():
    g = GrpcBackend("b1")
    r = grpc_call(g.port, "Echo", ["hello"], metadata={"x-foo": "bar"})
    h.eq((r["code"], r["messages"]), (0, ["hello"]), "Echo")
    h.eq(r["initial_metadata"].get("x-server"), "b1", "initial metadata")
    h.eq(r["trailing_metadata"].get("x-server"), "b1", "trailer")
    h.eq(r["trailing_metadata"].get("x-got-x-foo"), "bar", "request metadata came back")
    r = grpc_call(g.port, "Fail", ["12 not here"])
    h.eq((r["code"], r["code_name"], r["details"]), (12, "UNIMPLEMENTED", "not here"), "Fail")
    h.eq(r["trailing_metadata"].get("x-server"), "b1", "trailer of an error")
    r = grpc_call(g.port, "Fail", ["3"])
    h.eq((r["code"], r["details"]), (3, "failed as asked"), "Fail without a message")
    r = grpc_call(g.port, "/fulcrum.test.Echo/Nope")
    h.eq(r["code_name"], "UNIMPLEMENTED", "an unknown method")
    rs = grpc_call(g.port, "Echo", ["again"], repeat=3)
    h.eq([x["messages"] for x in rs], [["again"]] * 3, "three calls on one channel")
    h.eq(g.stats()["calls"], {"Echo": 4, "Fail": 2}, "calls counted")


@h.test
def streaming():
    g = GrpcBackend("b2")
    r = grpc_call(g.port, "Count", ["4"])
    h.eq((r["code"], r["messages"]), (0, ["0", "1", "2", "3"]), "Count")
    h.eq(r["trailing_metadata"].get("x-count"), "4", "Count trailer")
    r = grpc_call(g.port, "Count", ["3 1000"])
    h.eq(r["sizes"], [1000] * 3, "Count with a size")
    r = grpc_call(g.port, "Count", ["0"])
    h.eq((r["code"], r["messages"]), (0, []), "no message at all")
    r = grpc_call(g.port, "Sum", ["1", "2", "39"])
    h.eq((r["code"], r["messages"]), (0, ["42"]), "Sum")
    h.eq(r["trailing_metadata"].get("x-count"), "3", "Sum trailer")
    r = grpc_call(g.port, "Chat", ["a", "bb", "ccc"])
    h.eq((r["code"], r["messages"]), (0, ["a", "bb", "ccc"]), "Chat")


@h.test
def health_flips():
    g = GrpcBackend("b3", health={"extra.Svc": "NOT_SERVING"})
    h.eq(grpc_call(g.port, "Check")["status"], "SERVING", "the server at start")
    h.eq(grpc_call(g.port, "Check", service="fulcrum.test.Echo")["status"], "SERVING", "Echo")
    h.eq(grpc_call(g.port, "Check", service="extra.Svc")["status"], "NOT_SERVING", "--health")
    r = grpc_call(g.port, "Check", service="nope")
    h.eq((r["code_name"], r["details"]), ("NOT_FOUND", "unknown service"), "unknown service")
    g.set_health("", "NOT_SERVING")
    h.eq(grpc_call(g.port, "Check")["status"], "NOT_SERVING", "flipped")
    g.set_health("", "SERVICE_UNKNOWN")
    h.eq(grpc_call(g.port, "Check")["status"], "SERVICE_UNKNOWN", "flipped again")
    g.set_health("", "code=14")
    h.eq(grpc_call(g.port, "Check")["code_name"], "UNAVAILABLE", "a status code")
    g.set_health("", "garbage")
    h.check(grpc_call(g.port, "Check")["status"].startswith("malformed"), "garbage")
    g.set_health("", "hang")
    r = grpc_call(g.port, "Check", timeout=0.3)
    h.eq(r["code_name"], "DEADLINE_EXCEEDED", "hang")
    h.check(g.stats()["check_deadline_ms"] <= 300 * h.SLOW, "the deadline is seen")
    g.set_health("", "SERVING")
    h.eq(grpc_call(g.port, "Check")["status"], "SERVING", "back")
    h.check(g.checks("") >= 7, "checks counted: %r" % g.stats()["checks"])


@h.test
def tls_and_restart():
    d = h.tmpdir()
    cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    g = GrpcBackend("b4", tls=(cert, key))
    h.check(g.url.startswith("https://"), "an https URL")
    r = grpc_call(g.port, "Echo", ["over tls"], tls_ca=cert, tls_name="localhost")
    h.eq(r["messages"], ["over tls"], "Echo over TLS")
    port = g.port
    g.kill()
    h.check(h.port_refuses(port), "killed")
    g.start(port)
    h.eq(g.port, port, "the same port again")
    r = grpc_call(g.port, "Echo", ["again"], tls_ca=cert, tls_name="localhost")
    h.eq(r["messages"], ["again"], "after the restart")
    g.stop()
    h.check(not g.alive(), "EOF on stdin stops it")


h.main(only_echo=True)
