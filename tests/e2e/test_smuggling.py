"""Request smuggling and strict parsing: each ambiguous or malformed request gets
400, the connection is closed, and the backend never sees it (its request count
is unchanged, so neither the request nor anything hidden in its body reached it)."""
import harness as h

CASES = {
    "cl_and_te": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_and_cl_smuggled_get": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"),
    "conflicting_content_lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
    "content_length_list": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nabcdef",
    "content_length_not_a_number": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nabcde",
    "content_length_negative": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "chunked_not_last": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "unknown_transfer_coding": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\nabc",
    "malformed_chunk_size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "chunk_missing_crlf": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX\r\n0\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: first\r\n  folded\r\n\r\n",
    "bare_lf": b"GET / HTTP/1.1\nHost: x\n\n",
    "bare_lf_in_headers": b"GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nabcde",
    "bad_request_line": b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad_version": b"GET / HTTP/9.7\r\nHost: x\r\n\r\n",
    "nul_in_header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
}

def proxy():
    e = h.Echo()
    f = h.start_proxy([e])
    return e, f


def make(name, raw):
    def t():
        e, f = proxy()
        before = e.requests()
        data, closed = h.send_raw(f.port, raw, timeout=3)
        h.check(data.startswith(b"HTTP/1.1 400") or data.startswith(b"HTTP/1.0 400"),
                "%s: want 400, got %r" % (name, data[:100]))
        h.eq(data.count(b"HTTP/1."), 1, "%s: exactly one response" % name)
        h.check(closed, "%s: connection closed after 400" % name)
        after = e.requests()
        h.eq(after, before, "%s: backend request count (the backend saw it)" % name)
        h.eq(h.get(f.port, "/ok").status, 200, "proxy still serves")
    t.__name__ = name
    return t


for _name, _raw in CASES.items():
    h.test(make(_name, _raw))


@h.test
def smuggled_after_valid_request():
    # a valid request followed on the same connection by an ambiguous one: the
    # first is answered, the second gets 400, the hidden GET never arrives
    e, f = proxy()
    before = e.requests()
    raw = (b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n" + CASES["te_and_cl_smuggled_get"])
    data, closed = h.send_raw(f.port, raw, timeout=3)
    rs = h.parse_responses(data)
    h.eq([r.status for r in rs], [200, 400], "responses")
    h.check(closed, "closed after 400")
    h.eq(e.requests() - before, 1, "backend saw only /first")


h.main()
