"""X-Forwarded-For appended, X-Forwarded-Proto, X-Forwarded-Host and Via, as the
backend sees them."""
import harness as h


def seen(port, headers, host="app.example.com"):
    r = h.get(port, "/fwd", headers=headers, host=host)
    h.eq(r.status, 200, "status")
    return r.json()["headers"]


@h.test
def x_forwarded_for_set():
    e = h.Echo()
    f = h.start_proxy([e])
    hs = seen(f.port, [])
    h.eq(hs.get("x-forwarded-for"), "127.0.0.1", "X-Forwarded-For without a previous value")


@h.test
def x_forwarded_for_appended():
    e = h.Echo()
    f = h.start_proxy([e])
    hs = seen(f.port, [("X-Forwarded-For", "203.0.113.7")])
    h.eq(hs.get("x-forwarded-for"), "203.0.113.7, 127.0.0.1", "X-Forwarded-For appended")
    hs = seen(f.port, [("X-Forwarded-For", "203.0.113.7, 198.51.100.2")])
    h.eq(hs.get("x-forwarded-for"), "203.0.113.7, 198.51.100.2, 127.0.0.1", "appended to a list")


@h.test
def x_forwarded_proto_and_host():
    e = h.Echo()
    f = h.start_proxy([e])
    hs = seen(f.port, [], host="app.example.com")
    h.eq(hs.get("x-forwarded-proto"), "http", "X-Forwarded-Proto")
    h.eq(hs.get("x-forwarded-host"), "app.example.com", "X-Forwarded-Host")
    h.eq(hs.get("host"), "app.example.com", "Host passed unchanged")


@h.test
def via_added():
    e = h.Echo()
    f = h.start_proxy([e])
    hs = seen(f.port, [])
    via = hs.get("via", "")
    h.check(via.startswith("1.1 ") and len(via) > 4, "Via: 1.1 <name> expected, got %r" % via)
    hs = seen(f.port, [("Via", "1.0 upstream-cache")])
    via = hs.get("via", "")
    h.check(via.startswith("1.0 upstream-cache, 1.1 "), "Via appended to the client's: %r" % via)


h.main()
