/* test_h1.c — the HTTP/1.x codec against RFC 9112's edge cases: head
 * detection, header analysis, framing conflicts (smuggling), strictness,
 * connection semantics, bodies (chunked, Content-Length, close-delimited)
 * and responses without bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/h1.h"

static struct fc_h1_head hd; /* 4 KiB: not on the stack */
static struct fc_h1 h;
static const char *err;

/* Parses s[0..n) as one complete head; head_end must agree it is one. */
static int parse_n(bool response, bool head_request, const char *s, size_t n)
{
	fc_h1_init(&h, response);
	err = NULL;
	assert_int_equal(fc_h1_head_end(s, n, 0), n);
	int rc = fc_h1_parse_head(&h, s, n, &hd, head_request, &err);
	if (rc == FC_H1_ERROR)
		assert_non_null(err);
	return rc;
}

static int req(const char *s)
{
	return parse_n(false, false, s, strlen(s));
}

static int resp(const char *s)
{
	return parse_n(true, false, s, strlen(s));
}

/* Each of bad[0..n) must be refused, as a request or (response) a response. */
static void reject_each(bool response, const char *const *bad, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (parse_n(response, false, bad[i], strlen(bad[i])) != FC_H1_ERROR)
			fail_msg("accepted: %s", bad[i]);
}
#define REJECT_EACH(response, bad) reject_each(response, bad, sizeof(bad) / sizeof(bad[0]))

/* A POST head to parse with the header lines hdrs ("Name: value\r\n"...). */
static int post_with(const char *hdrs)
{
	static char buf[512];
	snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: a\r\n%s\r\n", hdrs);
	return req(buf);
}

static const struct fc_h1_header *find(const char *name)
{
	return fc_h1_find(&hd, name, strlen(name));
}

static void assert_value(const char *name, const char *value)
{
	const struct fc_h1_header *x = find(name);
	assert_non_null(x);
	if (x->value_len != strlen(value) || memcmp(x->value, value, x->value_len) != 0)
		fail_msg("%s: \"%.*s\", expected \"%s\"", name, (int)x->value_len, x->value, value);
}

/* ------------------------------------------------------------ requests */

static void test_simple_get(void **state)
{
	(void)state;
	const char *s = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\n"
	                "Accept: */*\r\n\r\n";
	assert_int_equal(req(s), FC_H1_COMPLETE);
	assert_int_equal(hd.method, HTTP_GET);
	assert_int_equal(hd.major, 1);
	assert_int_equal(hd.minor, 1);
	assert_int_equal(hd.url_len, 15);
	assert_memory_equal(hd.url, "/index.html?q=1", 15);
	assert_int_equal(hd.first_line_len, strlen("GET /index.html?q=1 HTTP/1.1"));
	assert_memory_equal(hd.first_line, "GET /index.html?q=1 HTTP/1.1", hd.first_line_len);
	assert_int_equal(hd.head_len, strlen(s));
	assert_int_equal(hd.n_headers, 3);
	assert_int_equal(hd.host, 0);
	assert_int_equal(hd.n_host, 1);
	assert_int_equal(hd.xff, -1);
	assert_int_equal(hd.ua, 1);
	assert_value("host", "example.com");
	assert_value("USER-AGENT", "t/1");
	assert_value("Accept", "*/*");
	assert_true(hd.keep_alive);
	assert_false(hd.has_body);
	assert_false(hd.has_cl);
	assert_false(hd.has_te);
	assert_false(hd.chunked);
	assert_false(hd.has_hop);
	assert_false(hd.conn_close);
	assert_false(hd.expect_continue);
	for (uint32_t i = 0; i < hd.n_headers; i++)
		assert_false(hd.h[i].hop);
	assert_true(fc_h1_method_idempotent(hd.method));
}

static void test_methods(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		uint8_t m;
		bool idem;
	} ok[] = {
	        {"HEAD", HTTP_HEAD, true},       {"POST", HTTP_POST, false},
	        {"PUT", HTTP_PUT, true},         {"DELETE", HTTP_DELETE, true},
	        {"OPTIONS", HTTP_OPTIONS, true}, {"PATCH", HTTP_PATCH, false},
	        {"TRACE", HTTP_TRACE, true},
	};
	char buf[128];
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(buf, sizeof(buf), "%s /x HTTP/1.1\r\nHost: a\r\n\r\n", ok[i].s);
		assert_int_not_equal(req(buf), FC_H1_ERROR);
		assert_int_equal(hd.method, ok[i].m);
		assert_int_equal(fc_h1_method_idempotent(hd.method), ok[i].idem);
	}
}

static void test_head_end_partial(void **state)
{
	(void)state;
	const char *s = "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
	size_t n = strlen(s);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(fc_h1_head_end(s, k, 0), 0);
	assert_int_equal(fc_h1_head_end(s, n, 0), n);
	/* incremental scans, resuming where the last one stopped */
	for (size_t step = 1; step <= 5; step++) {
		size_t prev = 0, got = 0, len;
		for (len = step; len < n + step; len += step) {
			size_t l = len > n ? n : len;
			got = fc_h1_head_end(s, l, prev);
			if (got)
				break;
			prev = l;
		}
		assert_int_equal(got, n);
	}
	/* bytes after the head (a body, the next request) are not part of it */
	const char *t = "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyGET / HTTP/1.1\r\n\r\n";
	assert_int_equal(fc_h1_head_end(t, strlen(t), 0), (size_t)(strstr(t, "body") - t));
}

static void test_head_end_line_endings(void **state)
{
	(void)state;
	static const char *const ends[] = {
	        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	        "GET / HTTP/1.1\nHost: a\n\n",
	        "GET / HTTP/1.1\r\nHost: a\n\r\n",
	        "GET / HTTP/1.1\r\nHost: a\r\n\n",
	};
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		size_t n = strlen(ends[i]);
		assert_int_equal(fc_h1_head_end(ends[i], n, 0), n);
		/* split just before the last byte, then resumed */
		assert_int_equal(fc_h1_head_end(ends[i], n - 1, 0), 0);
		assert_int_equal(fc_h1_head_end(ends[i], n, n - 1), n);
		assert_int_equal(fc_h1_head_end(ends[i], n, n - 2), n);
	}
	/* a lone CR is not a line end */
	const char *cr = "GET / HTTP/1.1\r\nHost: a\r\r\r\r";
	assert_int_equal(fc_h1_head_end(cr, strlen(cr), 0), 0);
}

/* One CRLF before the request line is ignored (RFC 9112 §2.2). */
static void test_leading_crlf_ignored(void **state)
{
	(void)state;
	assert_int_equal(req("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), FC_H1_COMPLETE);
	assert_int_equal(hd.method, HTTP_GET);
	assert_int_equal(hd.first_line_len, 14);
	assert_memory_equal(hd.first_line, "GET / HTTP/1.1", 14);
}

/* Two empty lines before a request: fc_h1_head_end stops at the second, and
 * the parser must not report that "head" (no request line, no headers) as
 * a parsed request with a body to follow. Either the scan skips leading
 * empty lines and the request parses, or the parse fails. */
static void test_leading_empty_lines_are_not_a_head(void **state)
{
	(void)state;
	const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t n = strlen(s);
	size_t end = fc_h1_head_end(s, n, 0);
	assert_true(end > 0);
	fc_h1_init(&h, false);
	int rc = fc_h1_parse_head(&h, s, end, &hd, false, &err);
	if (rc != FC_H1_ERROR) {
		assert_int_equal(rc, FC_H1_COMPLETE);
		assert_int_equal(hd.method, HTTP_GET);
		assert_int_equal(hd.url_len, 1);
		assert_int_equal(end, n);
	}
	/* the same for a response parser: "\n\n" is no status line */
	fc_h1_init(&h, true);
	rc = fc_h1_parse_head(&h, "\n\n", 2, &hd, false, &err);
	assert_int_equal(rc, FC_H1_ERROR);
}

static void test_data_after_head_rejected(void **state)
{
	(void)state;
	/* the caller passes more than the head of a body-less request */
	const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n";
	fc_h1_init(&h, false);
	assert_int_equal(fc_h1_parse_head(&h, s, strlen(s), &hd, false, &err), FC_H1_ERROR);
	assert_non_null(err);
}

static void test_empty_header_values(void **state)
{
	(void)state;
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Spaces:    \r\n"
	                     "X-Tab:\t\r\nX-Last: v\r\n\r\n"),
	                 FC_H1_COMPLETE);
	assert_int_equal(hd.n_headers, 5);
	assert_value("X-Empty", "");
	assert_value("X-Spaces", "");
	assert_value("X-Tab", "");
	assert_value("X-Last", "v");
	assert_int_equal(hd.h[1].name_len, 7);
	assert_memory_equal(hd.h[1].name, "X-Empty", 7);
}

/* RFC 9112 §5: field-line = field-name ":" OWS field-value OWS — the
 * value excludes whitespace on both sides. */
static void test_header_value_trailing_whitespace_trimmed(void **state)
{
	(void)state;
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a \r\nX: v \t \r\n"
	                     "Expect: 100-continue \r\nContent-Length: 1\r\n\r\n"),
	                 FC_H1_OK);
	assert_value("X", "v");
	assert_value("Host", "a");
	assert_true(hd.expect_continue);
}

static void build_headers(char *buf, size_t cap, int n)
{
	size_t len = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 1; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "X-H%d: %d\r\n", i, i);
	snprintf(buf + len, cap - len, "\r\n");
}

static void test_many_headers_limit(void **state)
{
	(void)state;
	static char buf[16384];
	/* requests keep room for the headers the proxy adds */
	build_headers(buf, sizeof(buf), FC_H1_MAX_REQUEST_HEADERS);
	assert_int_equal(req(buf), FC_H1_COMPLETE);
	assert_int_equal(hd.n_headers, FC_H1_MAX_REQUEST_HEADERS);
	assert_false(hd.too_many);
	assert_value("X-H119", "119");
	build_headers(buf, sizeof(buf), FC_H1_MAX_REQUEST_HEADERS + 1);
	assert_int_equal(req(buf), FC_H1_ERROR);
	/* the caller tells "too many" (431) from other errors by this */
	assert_true(hd.too_many);
	build_headers(buf, sizeof(buf), 1000);
	assert_int_equal(req(buf), FC_H1_ERROR);
	assert_true(hd.too_many);
}

static void test_host_missing(void **state)
{
	(void)state;
	assert_int_equal(req("GET / HTTP/1.1\r\nX: y\r\n\r\n"), FC_H1_COMPLETE);
	assert_int_equal(hd.host, -1);
	assert_int_equal(hd.n_host, 0);
}

static void test_host_duplicate(void **state)
{
	(void)state;
	assert_int_equal(req("GET / HTTP/1.1\r\nX: y\r\nHost: a\r\nhOsT: b\r\n\r\n"),
	                 FC_H1_COMPLETE);
	assert_int_equal(hd.host, 1);
	assert_int_equal(hd.n_host, 2);
	assert_int_equal(hd.h[hd.host].value_len, 1);
	assert_memory_equal(hd.h[hd.host].value, "a", 1);
	/* same value twice is still two */
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), FC_H1_COMPLETE);
	assert_int_equal(hd.n_host, 2);
}

static void test_cl_and_te_rejected(void **state)
{
	(void)state;
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	                     "Transfer-Encoding: chunked\r\n\r\n"),
	                 FC_H1_ERROR);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	                     "Content-Length: 5\r\n\r\n"),
	                 FC_H1_ERROR);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
	                     "Transfer-Encoding: chunked\r\n\r\n"),
	                 FC_H1_ERROR);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	                      "Transfer-Encoding: chunked\r\n\r\n"),
	                 FC_H1_ERROR);
}

static void test_content_length_duplicate_or_invalid_rejected(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "Content-Length: 5\r\nContent-Length: 5\r\n",
	        "Content-Length: 5\r\nContent-Length: 6\r\n",
	        "Content-Length: 5, 5\r\n",
	        "Content-Length: 5,6\r\n",
	        "Content-Length: -1\r\n",
	        "Content-Length: +5\r\n",
	        "Content-Length: 0x5\r\n",
	        "Content-Length: 5 5\r\n",
	        "Content-Length: five\r\n",
	        "Content-Length: 99999999999999999999999\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (post_with(bad[i]) != FC_H1_ERROR)
			fail_msg("accepted: %s", bad[i]);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n"),
	                 FC_H1_OK);
	assert_int_equal(hd.content_length, 7);
	assert_true(hd.has_cl);
	assert_true(hd.has_body);
}

static void test_te_not_chunked_rejected_with_bad_te(void **state)
{
	(void)state;
	/* RFC 9112 §6.3: chunked missing, repeated or not final -> 400 */
	static const char *const bad[] = {
	        "Transfer-Encoding: gzip\r\n",
	        "Transfer-Encoding: identity\r\n",
	        "Transfer-Encoding: chunked, gzip\r\n",
	        "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
	        "Transfer-Encoding: chunked, chunked\r\n",
	};
	/* §6.1: a coding we cannot relay before the final chunked -> 501 */
	static const char *const unsupported[] = {
	        "Transfer-Encoding: gzip, chunked\r\n",
	        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (post_with(bad[i]) != FC_H1_ERROR)
			fail_msg("accepted: %s", bad[i]);
		if (hd.bad_te)
			fail_msg("bad_te (501) set for a framing error (400): %s", bad[i]);
	}
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
		if (post_with(unsupported[i]) != FC_H1_ERROR)
			fail_msg("accepted: %s", unsupported[i]);
		if (!hd.bad_te)
			fail_msg("bad_te not set: %s(err: %s)", unsupported[i], err);
	}
}

static void test_te_chunked_accepted(void **state)
{
	(void)state;
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
	                 FC_H1_OK);
	assert_true(hd.chunked);
	assert_true(hd.has_te);
	assert_true(hd.has_body);
	assert_false(hd.bad_te);
	assert_true(find("Transfer-Encoding")->hop); /* re-stated by the writer */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n"),
	                 FC_H1_OK);
	assert_true(hd.chunked);
}

static void test_obs_fold_rejected(void **state)
{
	(void)state;
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"), FC_H1_ERROR);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n"), FC_H1_ERROR);
	/* a fold that would smuggle a Transfer-Encoding */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX: a\r\n"
	                     " Transfer-Encoding: chunked\r\n\r\n"),
	                 FC_H1_ERROR);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n"),
	                 FC_H1_ERROR);
	/* a header line that starts with whitespace right after the request line */
	assert_int_equal(req("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), FC_H1_ERROR);
}

static void test_bare_lf_rejected(void **state)
{
	(void)state;
	assert_int_equal(req("GET / HTTP/1.1\nHost: a\n\n"), FC_H1_ERROR);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"), FC_H1_ERROR);
	assert_int_equal(resp("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), FC_H1_ERROR);
	/* a bare CR inside a value */
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), FC_H1_ERROR);
}

/* The empty line that ends the head is a line like the others: "\r\n\n"
 * ends it with a bare LF, which strict parsing refuses (RFC 9112 §2.2 lets a
 * recipient accept it, but a proxy that does and forwards raw bytes after it
 * disagrees with strict upstreams about where the head ends). */
static void test_bare_lf_ending_head_rejected(void **state)
{
	(void)state;
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\n\n"), FC_H1_ERROR);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\n"), FC_H1_ERROR);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n"), FC_H1_ERROR);
}

static void test_nul_rejected(void **state)
{
	(void)state;
	static const char v[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
	assert_int_equal(parse_n(false, false, v, sizeof(v) - 1), FC_H1_ERROR);
	static const char n[] = "GET / HTTP/1.1\r\nHost: a\r\nX\0Y: ab\r\n\r\n";
	assert_int_equal(parse_n(false, false, n, sizeof(n) - 1), FC_H1_ERROR);
	static const char u[] = "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(parse_n(false, false, u, sizeof(u) - 1), FC_H1_ERROR);
	static const char hv[] = "GET / HTTP/1.1\r\nHost: a\0.evil\r\n\r\n";
	assert_int_equal(parse_n(false, false, hv, sizeof(hv) - 1), FC_H1_ERROR);
}

static void test_invalid_header_names_rejected(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "GET / HTTP/1.1\r\nHost: a\r\nX Y: b\r\n\r\n",
	        "GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n",
	        "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n",
	        "GET / HTTP/1.1\r\nHost: a\r\nX(: b\r\n\r\n",
	        "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
	        "GET / HTTP/1.1\r\nHost: a\r\nX\x01: b\r\n\r\n",
	        "GET / HTTP/1.1\r\nHost: a\r\nX: b\x7f\r\n\r\n",
	};
	REJECT_EACH(false, bad);
}

static void test_invalid_method_rejected(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "get / HTTP/1.1\r\nHost: a\r\n\r\n",    "GETT / HTTP/1.1\r\nHost: a\r\n\r\n",
	        "FOO / HTTP/1.1\r\nHost: a\r\n\r\n",    " GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	        "G\xc3T / HTTP/1.1\r\nHost: a\r\n\r\n", "/ HTTP/1.1\r\nHost: a\r\n\r\n",
	};
	REJECT_EACH(false, bad);
}

static void test_invalid_version_rejected(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "GET / HTTP/1.2\r\nHost: a\r\n\r\n",   "GET / HTTP/11\r\nHost: a\r\n\r\n",
	        "GET / HTTP/1.\r\nHost: a\r\n\r\n",    "GET / HTTP/1\r\nHost: a\r\n\r\n",
	        "GET / http/1.1\r\nHost: a\r\n\r\n",   "GET / HTTPS/1.1\r\nHost: a\r\n\r\n",
	        "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",  "GET / HTTP/a.b\r\nHost: a\r\n\r\n",
	        "GET / HTTP/1.1.1\r\nHost: a\r\n\r\n",
	};
	REJECT_EACH(false, bad);
	static const char *const bad_resp[] = {
	        "HTTP/1.2 200 OK\r\n\r\n",
	        "HTTP/1.1 2000 OK\r\n\r\n",
	        "HTTP/1.1 abc OK\r\n\r\n",
	        "HTTX/1.1 200 OK\r\n\r\n",
	};
	REJECT_EACH(true, bad_resp);
	/* an HTTP/0.9-style line is either refused or not 1.x (the caller
	 * answers 505 to major != 1) */
	if (req("GET /\r\nHost: a\r\n\r\n") != FC_H1_ERROR)
		assert_int_not_equal(hd.major, 1);
}

/* status-code = 3DIGIT (RFC 9112 §4). llhttp 8.1 takes "20" and "0"; the
 * proxy then treats a status below 200 as an interim 1xx response, relays it
 * and waits for another head. */
static void test_status_code_must_have_three_digits(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
	        "HTTP/1.1 0 OK\r\nContent-Length: 0\r\n\r\n",
	        "HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (resp(bad[i]) != FC_H1_ERROR)
			fail_msg("accepted (status %u): %s", hd.status, bad[i]);
}

static void test_http10_keep_alive(void **state)
{
	(void)state;
	assert_int_equal(req("GET / HTTP/1.0\r\n\r\n"), FC_H1_COMPLETE);
	assert_int_equal(hd.major, 1);
	assert_int_equal(hd.minor, 0);
	assert_false(hd.keep_alive);
	assert_false(hd.conn_keepalive);
	assert_int_equal(hd.n_host, 0);

	assert_int_equal(req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), FC_H1_COMPLETE);
	assert_true(hd.keep_alive);
	assert_true(hd.conn_keepalive);
	assert_true(find("Connection")->hop);

	assert_int_equal(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), FC_H1_COMPLETE);
	assert_true(hd.keep_alive);

	/* a body framed by Content-Length keeps an HTTP/1.0 connection too */
	assert_int_equal(
	        req("POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n"),
	        FC_H1_OK);
	assert_true(hd.keep_alive);
}

static void test_connection_close(void **state)
{
	(void)state;
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
	                 FC_H1_COMPLETE);
	assert_true(hd.conn_close);
	assert_false(hd.keep_alive);
	assert_true(hd.has_hop);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo ,CLOSE\r\n\r\n"),
	                 FC_H1_COMPLETE);
	assert_true(hd.conn_close);
	assert_false(hd.keep_alive);
	/* HTTP/1.1 keeps the connection by default */
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\n\r\n"),
	                 FC_H1_COMPLETE);
	assert_true(hd.keep_alive);
	assert_false(hd.conn_close);
	/* "Connection: closed" is not close */
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"),
	                 FC_H1_COMPLETE);
	assert_false(hd.conn_close);
}

/* Whenever the head says "close" (conn_close), keep_alive must be false:
 * llhttp's verdict misses "close" followed by a tab and lets
 * "keep-alive, close" keep an HTTP/1.0 connection. On a response, a wrong
 * keep_alive puts a connection the server is closing back into the pool. */
static void test_connection_close_always_wins(void **state)
{
	(void)state;
	static const char *const reqs[] = {
	        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\t\r\n\r\n",
	        "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo ,CLOSE\t\r\n\r\n",
	        "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
	        "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		assert_int_equal(req(reqs[i]), FC_H1_COMPLETE);
		assert_true(hd.conn_close);
		if (hd.keep_alive)
			fail_msg("keep_alive with close: %s", reqs[i]);
	}
	assert_int_equal(
	        resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\t\r\n\r\n"),
	        FC_H1_COMPLETE);
	assert_true(hd.conn_close);
	assert_false(hd.keep_alive);
}

/* The upgrade decision (RFC 9110 §7.8): Upgrade naming a protocol other than
 * h2c, and Connection naming upgrade, in an HTTP/1.1 request. */
static void test_upgrade_decision(void **state)
{
	(void)state;
	static const struct {
		const char *head;
		bool upgrade;
	} cases[] = {
	        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	         true},
	        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, UPGRADE\r\nupgrade: "
	         "WebSocket\r\n\r\n",
	         true},
	        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, websocket\r\nConnection: "
	         "upgrade\r\n\r\n",
	         true},
	        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, "
	         "HTTP2-Settings\r\n"
	         "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
	         false},
	        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: H2C/1\r\nConnection: upgrade\r\n\r\n",
	         false},
	        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", false},
	        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: "
	         "keep-alive\r\n\r\n",
	         false},
	        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", false},
	        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: ,\r\nConnection: upgrade\r\n\r\n", false},
	        {"GET / HTTP/1.0\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
	         false},
	        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgraded\r\nUpgrade: websocket\r\n\r\n",
	         false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (req(cases[i].head) == FC_H1_ERROR)
			fail_msg("parse: %s\n%s", err, cases[i].head);
		if (hd.upgrade != cases[i].upgrade)
			fail_msg("upgrade %d, want %d:\n%s", hd.upgrade, cases[i].upgrade,
			         cases[i].head);
		const struct fc_h1_header *u = fc_h1_find(&hd, "upgrade", 7);
		if (u && !u->hop) /* never copied as is: written anew when forwarded */
			fail_msg("Upgrade not hop-by-hop:\n%s", cases[i].head);
	}
	/* a 101 says so too */
	assert_int_equal(resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                      "Connection: Upgrade\r\n\r\n"),
	                 FC_H1_COMPLETE);
	assert_true(hd.upgrade);
	assert_int_equal(hd.status, 101);
}

static void test_upgrade_tokens(void **state)
{
	(void)state;
	assert_true(fc_h1_upgrade_token_ok("websocket", 9));
	assert_true(fc_h1_upgrade_token_ok("h2", 2));
	assert_true(fc_h1_upgrade_token_ok("h2cx", 4));
	assert_true(fc_h1_upgrade_token_ok("foo/2", 5));
	assert_false(fc_h1_upgrade_token_ok("h2c", 3));
	assert_false(fc_h1_upgrade_token_ok("H2C", 3));
	assert_false(fc_h1_upgrade_token_ok("h2c/1.0", 7));
	assert_false(fc_h1_upgrade_token_ok("", 0));
	const char *v = " a ,, b\t, c d ,", *end = v + strlen(v), *t;
	size_t tl;
	const char *want[] = {"a", "b", "c d"};
	for (size_t i = 0; i < 3; i++) {
		assert_true(fc_h1_next_token(&v, end, &t, &tl));
		assert_int_equal(tl, strlen(want[i]));
		assert_memory_equal(t, want[i], tl);
	}
	assert_false(fc_h1_next_token(&v, end, &t, &tl));
}

static void test_hop_by_hop_marking(void **state)
{
	(void)state;
	const char *s = "GET / HTTP/1.1\r\n"
	                "Host: a\r\n"
	                "Connection: X-Foo, close, Content-Length, Host, keep-alive\r\n"
	                "X-Foo: 1\r\n"
	                "Keep-Alive: timeout=5\r\n"
	                "TE: trailers\r\n"
	                "Trailer: X-T\r\n"
	                "Upgrade: h2c\r\n"
	                "Proxy-Authorization: Basic x\r\n"
	                "Proxy-Connection: keep-alive\r\n"
	                "Content-Length: 0\r\n"
	                "x-foo: 2\r\n"
	                "X-Bar: 3\r\n"
	                "X-Foo-Not: 4\r\n"
	                "Connection: x-baz\r\n"
	                "X-Baz: 5\r\n"
	                "\r\n";
	static const struct {
		const char *name;
		bool hop;
	} want[] = {
	        {"Host", false},
	        {"Connection", true},
	        {"X-Foo", true},
	        {"Keep-Alive", true},
	        {"TE", true},
	        {"Trailer", true},
	        {"Upgrade", true},
	        {"Proxy-Authorization", true},
	        {"Proxy-Connection", true},
	        {"Content-Length", false},
	        {"x-foo", true},
	        {"X-Bar", false},
	        {"X-Foo-Not", false},
	        {"Connection", true},
	        {"X-Baz", true},
	};
	assert_int_equal(req(s), FC_H1_COMPLETE);
	assert_int_equal(hd.n_headers, sizeof(want) / sizeof(want[0]));
	for (uint32_t i = 0; i < hd.n_headers; i++) {
		assert_int_equal(hd.h[i].name_len, strlen(want[i].name));
		assert_memory_equal(hd.h[i].name, want[i].name, hd.h[i].name_len);
		if (hd.h[i].hop != want[i].hop)
			fail_msg("%s: hop=%d", want[i].name, hd.h[i].hop);
	}
	assert_true(hd.has_hop);
	assert_true(hd.conn_close);
	assert_true(hd.conn_keepalive);
	assert_int_equal(hd.host, 0);
	assert_true(hd.has_cl);
}

static void test_connection_cannot_strip_framing(void **state)
{
	(void)state;
	/* naming Content-Length / Host in Connection leaves them in place */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
	                     "Connection: content-length, HOST\r\n\r\n"),
	                 FC_H1_OK);
	assert_false(find("Content-Length")->hop);
	assert_false(find("Host")->hop);
	assert_int_equal(hd.content_length, 3);
	/* naming Transfer-Encoding changes nothing: it is hop-by-hop anyway and
	 * re-stated */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	                     "Connection: transfer-encoding\r\n\r\n"),
	                 FC_H1_OK);
	assert_true(hd.chunked);
}

static void test_expect_100_continue(void **state)
{
	(void)state;
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
	                     "Content-Length: 3\r\n\r\n"),
	                 FC_H1_OK);
	assert_true(hd.expect_continue);
	assert_false(find("Expect")->hop);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
	                     "Content-Length: 3\r\n\r\n"),
	                 FC_H1_OK);
	assert_true(hd.expect_continue);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n"
	                     "Content-Length: 3\r\n\r\n"),
	                 FC_H1_OK);
	assert_false(hd.expect_continue);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"), FC_H1_OK);
	assert_false(hd.expect_continue);
}

static void test_x_forwarded_for_index(void **state)
{
	(void)state;
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-forwarded-for: 1.1.1.1\r\n"
	                     "X-Forwarded-For: 2.2.2.2\r\n\r\n"),
	                 FC_H1_COMPLETE);
	assert_int_equal(hd.xff, 2);
	assert_int_equal(hd.ua, -1);
}

/* The first User-Agent, for the access log; responses have none. */
static void test_user_agent_index(void **state)
{
	(void)state;
	assert_int_equal(
	        req("GET / HTTP/1.1\r\nHost: a\r\nuser-agent: one\r\nUser-Agent: two\r\n\r\n"),
	        FC_H1_COMPLETE);
	assert_int_equal(hd.ua, 1);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nUser-Agents: x\r\n\r\n"),
	                 FC_H1_COMPLETE);
	assert_int_equal(hd.ua, -1);
	assert_int_equal(resp("HTTP/1.1 204 No Content\r\nUser-Agent: x\r\n\r\n"), FC_H1_COMPLETE);
	assert_int_equal(hd.ua, -1);
}

/* ------------------------------------------------------------- bodies */

struct collect {
	char data[1024];
	size_t len;
	int calls;
};

static void collect_cb(void *ctx, const char *at, size_t len)
{
	struct collect *c = ctx;
	assert_true(c->len + len <= sizeof(c->data));
	memcpy(c->data + c->len, at, len);
	c->len += len;
	c->calls++;
}

static const char chunked_head[] =
        "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
static const char chunked_body[] = "5\r\nhello\r\n"
                                   "1;name=value\r\n,\r\n"
                                   "A\r\n0123456789\r\n"
                                   "0\r\n"
                                   "X-Trailer: t\r\n"
                                   "Y: u\r\n"
                                   "\r\n";
static const char pipelined[] = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";

static void start_chunked(void)
{
	assert_int_equal(parse_n(false, false, chunked_head, sizeof(chunked_head) - 1), FC_H1_OK);
	assert_true(hd.chunked);
}

static void test_chunked_byte_by_byte_with_trailers(void **state)
{
	(void)state;
	char all[256];
	size_t blen = sizeof(chunked_body) - 1;
	memcpy(all, chunked_body, blen);
	memcpy(all + blen, pipelined, sizeof(pipelined));
	start_chunked();
	struct collect c = {.len = 0};
	for (size_t i = 0; i < blen; i++) {
		size_t consumed = 99;
		/* each call sees the byte and everything after it */
		int rc = fc_h1_body(&h, all + i, i + 1 < blen ? 1 : strlen(all + i), &consumed,
		                    collect_cb, &c, &err);
		if (i + 1 < blen) {
			if (rc != FC_H1_OK)
				fail_msg("byte %zu: rc %d (%s)", i, rc, err ? err : "");
			assert_int_equal(consumed, 1);
		} else {
			assert_int_equal(rc, FC_H1_COMPLETE);
			assert_int_equal(consumed, 1); /* not one byte of the next request */
		}
	}
	assert_int_equal(c.len, 16);
	assert_memory_equal(c.data, "hello,0123456789", 16);
}

static void test_chunked_one_shot_stops_at_end(void **state)
{
	(void)state;
	char all[256];
	size_t blen = sizeof(chunked_body) - 1;
	memcpy(all, chunked_body, blen);
	memcpy(all + blen, pipelined, sizeof(pipelined));
	start_chunked();
	size_t consumed = 0;
	assert_int_equal(fc_h1_body(&h, all, strlen(all), &consumed, NULL, NULL, &err),
	                 FC_H1_COMPLETE);
	assert_int_equal(consumed, blen);
	/* every split point gives the same end */
	for (size_t k = 0; k <= blen; k++) {
		start_chunked();
		size_t c1 = 0, c2 = 0;
		int rc = fc_h1_body(&h, all, k, &c1, NULL, NULL, &err);
		if (rc == FC_H1_COMPLETE) {
			assert_int_equal(k, blen);
			assert_int_equal(c1, blen);
			continue;
		}
		assert_int_equal(rc, FC_H1_OK);
		assert_int_equal(c1, k);
		rc = fc_h1_body(&h, all + k, strlen(all + k), &c2, NULL, NULL, &err);
		assert_int_equal(rc, FC_H1_COMPLETE);
		assert_int_equal(k + c2, blen);
	}
}

static void expect_chunked_error(const char *body)
{
	start_chunked();
	size_t consumed = 7;
	err = NULL;
	int rc = fc_h1_body(&h, body, strlen(body), &consumed, NULL, NULL, &err);
	if (rc != FC_H1_ERROR)
		fail_msg("accepted chunked body: \"%s\" rc %d", body, rc);
	assert_non_null(err);
	assert_int_equal(consumed, 0);
}

static void test_chunk_size_malformed(void **state)
{
	(void)state;
	expect_chunked_error("zz\r\n");
	expect_chunked_error("-1\r\n");
	expect_chunked_error("0x5\r\nhello\r\n0\r\n\r\n");
	expect_chunked_error("\r\n");
	expect_chunked_error("+5\r\nhello\r\n0\r\n\r\n");
	expect_chunked_error("5\nhello\r\n0\r\n\r\n"); /* bare LF after size */
	expect_chunked_error("5\r\nhello\n0\r\n\r\n"); /* bare LF after data */
	expect_chunked_error("5\r\nhelloXX0\r\n\r\n"); /* data longer than said */
	expect_chunked_error("5\r\nhello\r\n0\r\nBad Trailer: a\r\n\r\n");
	expect_chunked_error("5\r\nhello\r\n0\r\nX: a\nY: b\r\n\r\n");
	expect_chunked_error("5\r\nhello\r\n0\r\r\n\r\n");
	expect_chunked_error("5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n");
}

/* Trailers are forwarded raw, so the parser is all that stands between a
 * client and the upstream: an obs-fold in a trailer (RFC 9112 §5.2: reject
 * or replace) and a bare LF ending the trailer section must be refused like
 * in the head. Otherwise fulcrum ends the request where a strict upstream
 * does not, and the next request on the pooled connection is read as the
 * previous one's trailer. */
static void test_chunked_trailer_strictness(void **state)
{
	(void)state;
	expect_chunked_error("5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n");
	expect_chunked_error("5\r\nhello\r\n0\r\n\n");
	expect_chunked_error("5\r\nhello\r\n0\r\nX: a\r\n\n");
}

static void test_chunk_size_overflow(void **state)
{
	(void)state;
	expect_chunked_error("10000000000000000\r\n");
	expect_chunked_error("fffffffffffffffff\r\n");
	expect_chunked_error("00000000000000000000000000000000010000000000000000\r\n");
	/* the largest size is not an error by itself: its data follows */
	start_chunked();
	size_t consumed;
	assert_int_equal(fc_h1_body(&h, "ffffffffffffffff\r\nab", 20, &consumed, NULL, NULL, &err),
	                 FC_H1_OK);
	assert_int_equal(consumed, 20);
}

static void test_content_length_split_everywhere(void **state)
{
	(void)state;
	const char *head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n";
	const char *all = "hello worldGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t total = strlen(all);
	for (size_t k = 0; k <= total; k++) {
		assert_int_equal(req(head), FC_H1_OK);
		assert_int_equal(hd.content_length, 11);
		struct collect c = {.len = 0};
		size_t c1 = 0, c2 = 0;
		int rc = fc_h1_body(&h, all, k, &c1, collect_cb, &c, &err);
		if (k < 11) {
			assert_int_equal(rc, FC_H1_OK);
			assert_int_equal(c1, k);
			rc = fc_h1_body(&h, all + k, total - k, &c2, collect_cb, &c, &err);
			assert_int_equal(rc, FC_H1_COMPLETE);
			assert_int_equal(c1 + c2, 11);
		} else {
			assert_int_equal(rc, FC_H1_COMPLETE);
			assert_int_equal(c1, 11);
		}
		assert_int_equal(c.len, 11);
		assert_memory_equal(c.data, "hello world", 11);
	}
}

static void test_request_without_body_complete_at_head(void **state)
{
	(void)state;
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
	                 FC_H1_COMPLETE);
	assert_false(hd.has_body);
	/* a request without framing has no body (RFC 9112 §6.3 rule 7) */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\n\r\n"), FC_H1_COMPLETE);
	assert_false(hd.has_body);
	assert_false(hd.close_delimited);
}

/* ----------------------------------------------------------- responses */

static void test_response_204_304_no_body(void **state)
{
	(void)state;
	assert_int_equal(resp("HTTP/1.1 204 No Content\r\n\r\n"), FC_H1_COMPLETE);
	assert_int_equal(hd.status, 204);
	assert_false(hd.has_body);
	assert_false(hd.close_delimited);
	assert_true(hd.keep_alive);
	assert_int_equal(resp("HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n"), FC_H1_COMPLETE);
	assert_int_equal(hd.status, 304);
	assert_false(hd.has_body);
	assert_true(hd.keep_alive);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), FC_H1_COMPLETE);
	assert_false(hd.has_body);
	assert_int_equal(hd.first_line_len, 15);
	assert_memory_equal(hd.first_line, "HTTP/1.1 200 OK", 15);
}

/* RFC 9112 §6.3 rule 1: 1xx, 204 and 304 responses end at the head whatever
 * their Content-Length / Transfer-Encoding say. A 304 carrying the
 * Content-Length of the representation (RFC 9110 §8.6 allows it) must not
 * make the proxy wait for a body that never comes, nor read the next
 * response on the connection as that body. llhttp leaves this to the
 * caller (node's http client returns 1 from on_headers_complete for them). */
static void test_response_no_body_statuses_ignore_framing(void **state)
{
	(void)state;
	static const char *const s[] = {
	        "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\nETag: x\r\n\r\n",
	        "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
	        "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
	        "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
	        "HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n",
	        "HTTP/1.1 103 Early Hints\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		int rc = resp(s[i]);
		if (rc != FC_H1_COMPLETE || hd.has_body)
			fail_msg("rc %d has_body %d: %s", rc, hd.has_body, s[i]);
	}
}

static void test_response_to_head_has_no_body(void **state)
{
	(void)state;
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
	assert_int_equal(parse_n(true, true, s, strlen(s)), FC_H1_COMPLETE);
	assert_false(hd.has_body);
	assert_true(hd.keep_alive);
	assert_int_equal(hd.content_length, 100);
	s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	assert_int_equal(parse_n(true, true, s, strlen(s)), FC_H1_COMPLETE);
	assert_false(hd.has_body);
	assert_true(hd.keep_alive);
	s = "HTTP/1.1 200 OK\r\n\r\n";
	assert_int_equal(parse_n(true, true, s, strlen(s)), FC_H1_COMPLETE);
	assert_false(hd.close_delimited);
	/* the same head for a GET has a body */
	s = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
	assert_int_equal(parse_n(true, false, s, strlen(s)), FC_H1_OK);
	assert_true(hd.has_body);
}

static void test_response_close_delimited(void **state)
{
	(void)state;
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"), FC_H1_OK);
	assert_true(hd.has_body);
	assert_true(hd.close_delimited);
	assert_false(hd.keep_alive);
	struct collect c = {.len = 0};
	size_t consumed;
	assert_int_equal(fc_h1_body(&h, "some ", 5, &consumed, collect_cb, &c, &err), FC_H1_OK);
	assert_int_equal(consumed, 5);
	assert_int_equal(fc_h1_body(&h, "bytes\r\n\r\n0\r\n", 13, &consumed, collect_cb, &c, &err),
	                 FC_H1_OK);
	assert_int_equal(consumed, 13);
	assert_int_equal(fc_h1_eof(&h), FC_H1_COMPLETE);
	assert_int_equal(c.len, 18);
	assert_memory_equal(c.data, "some bytes\r\n\r\n0\r\n", 18);
	/* HTTP/1.0 without a length as well */
	assert_int_equal(resp("HTTP/1.0 200 OK\r\n\r\n"), FC_H1_OK);
	assert_true(hd.close_delimited);
	assert_int_equal(fc_h1_eof(&h), FC_H1_COMPLETE);
}

static void test_response_eof_inside_framed_body(void **state)
{
	(void)state;
	size_t consumed;
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"), FC_H1_OK);
	assert_false(hd.close_delimited);
	assert_int_equal(fc_h1_body(&h, "12345", 5, &consumed, NULL, NULL, &err), FC_H1_OK);
	assert_int_equal(fc_h1_eof(&h), FC_H1_ERROR);

	assert_int_equal(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), FC_H1_OK);
	assert_true(hd.chunked);
	assert_false(hd.close_delimited);
	assert_int_equal(fc_h1_body(&h, "5\r\nab", 5, &consumed, NULL, NULL, &err), FC_H1_OK);
	assert_int_equal(fc_h1_eof(&h), FC_H1_ERROR);
}

static void test_response_1xx_then_final(void **state)
{
	(void)state;
	assert_int_equal(resp("HTTP/1.1 100 Continue\r\n\r\n"), FC_H1_COMPLETE);
	assert_int_equal(hd.status, 100);
	assert_false(hd.has_body);
	/* the same parser goes on with the final response */
	const char *fin = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
	assert_int_equal(fc_h1_parse_head(&h, fin, strlen(fin), &hd, false, &err), FC_H1_OK);
	assert_int_equal(hd.status, 200);
	size_t consumed;
	assert_int_equal(fc_h1_body(&h, "okHTTP", 6, &consumed, NULL, NULL, &err), FC_H1_COMPLETE);
	assert_int_equal(consumed, 2);

	assert_int_equal(resp("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"),
	                 FC_H1_COMPLETE);
	assert_int_equal(hd.status, 103);
	assert_value("Link", "</s.css>; rel=preload");
}

static void test_response_status_and_reason(void **state)
{
	(void)state;
	assert_int_equal(resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
	                 FC_H1_COMPLETE);
	assert_int_equal(hd.status, 404);
	assert_int_equal(resp("HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n"), FC_H1_COMPLETE);
	assert_int_equal(hd.status, 599);
	assert_int_equal(resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), FC_H1_COMPLETE);
	assert_int_equal(hd.status, 200);
	assert_int_equal(hd.first_line_len, 12);
	/* Host is a request header: responses never count it */
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
	                 FC_H1_COMPLETE);
	assert_int_equal(hd.n_host, 0);
	assert_int_equal(hd.host, -1);
}

static void test_dechunk_via_on_body(void **state)
{
	(void)state;
	static const char body[] = "3\r\nabc\r\n"
	                           "10\r\n0123456789abcdef\r\n"
	                           "1;ext\r\n\n\r\n"
	                           "2\r\n\r\n\r\n"
	                           "0\r\nTrailer-A: 1\r\n\r\n";
	static const char want[] = "abc0123456789abcdef\n\r\n";
	size_t blen = sizeof(body) - 1;
	for (size_t piece = 1; piece <= blen; piece++) {
		assert_int_equal(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
		                 FC_H1_OK);
		struct collect c = {.len = 0};
		size_t off = 0;
		int rc = FC_H1_OK;
		while (off < blen && rc == FC_H1_OK) {
			size_t n = blen - off < piece ? blen - off : piece, consumed = 0;
			rc = fc_h1_body(&h, body + off, n, &consumed, collect_cb, &c, &err);
			assert_int_not_equal(rc, FC_H1_ERROR);
			off += consumed;
		}
		assert_int_equal(rc, FC_H1_COMPLETE);
		assert_int_equal(off, blen);
		assert_int_equal(c.len, sizeof(want) - 1);
		assert_memory_equal(c.data, want, c.len);
	}
}

static void test_find_and_name_is(void **state)
{
	(void)state;
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX-Abc: 1\r\nX-Abc: 2\r\n\r\n"),
	                 FC_H1_COMPLETE);
	const struct fc_h1_header *x = fc_h1_find(&hd, "x-abc", 5);
	assert_ptr_equal(x, &hd.h[1]);
	assert_null(fc_h1_find(&hd, "x-ab", 4));
	assert_null(fc_h1_find(&hd, "x-abcd", 6));
	assert_true(FC_H1_NAME_IS(x, "X-ABC"));
	assert_false(FC_H1_NAME_IS(x, "X-AB"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_simple_get),
	        cmocka_unit_test(test_methods),
	        cmocka_unit_test(test_head_end_partial),
	        cmocka_unit_test(test_head_end_line_endings),
	        cmocka_unit_test(test_leading_crlf_ignored),
	        cmocka_unit_test(test_leading_empty_lines_are_not_a_head),
	        cmocka_unit_test(test_data_after_head_rejected),
	        cmocka_unit_test(test_empty_header_values),
	        cmocka_unit_test(test_header_value_trailing_whitespace_trimmed),
	        cmocka_unit_test(test_many_headers_limit),
	        cmocka_unit_test(test_host_missing),
	        cmocka_unit_test(test_host_duplicate),
	        cmocka_unit_test(test_cl_and_te_rejected),
	        cmocka_unit_test(test_content_length_duplicate_or_invalid_rejected),
	        cmocka_unit_test(test_te_not_chunked_rejected_with_bad_te),
	        cmocka_unit_test(test_te_chunked_accepted),
	        cmocka_unit_test(test_obs_fold_rejected),
	        cmocka_unit_test(test_bare_lf_rejected),
	        cmocka_unit_test(test_bare_lf_ending_head_rejected),
	        cmocka_unit_test(test_nul_rejected),
	        cmocka_unit_test(test_invalid_header_names_rejected),
	        cmocka_unit_test(test_invalid_method_rejected),
	        cmocka_unit_test(test_invalid_version_rejected),
	        cmocka_unit_test(test_status_code_must_have_three_digits),
	        cmocka_unit_test(test_http10_keep_alive),
	        cmocka_unit_test(test_connection_close),
	        cmocka_unit_test(test_connection_close_always_wins),
	        cmocka_unit_test(test_hop_by_hop_marking),
	        cmocka_unit_test(test_connection_cannot_strip_framing),
	        cmocka_unit_test(test_expect_100_continue),
	        cmocka_unit_test(test_x_forwarded_for_index),
	        cmocka_unit_test(test_user_agent_index),
	        cmocka_unit_test(test_chunked_byte_by_byte_with_trailers),
	        cmocka_unit_test(test_chunked_one_shot_stops_at_end),
	        cmocka_unit_test(test_chunk_size_malformed),
	        cmocka_unit_test(test_chunked_trailer_strictness),
	        cmocka_unit_test(test_chunk_size_overflow),
	        cmocka_unit_test(test_content_length_split_everywhere),
	        cmocka_unit_test(test_request_without_body_complete_at_head),
	        cmocka_unit_test(test_response_204_304_no_body),
	        cmocka_unit_test(test_response_no_body_statuses_ignore_framing),
	        cmocka_unit_test(test_response_to_head_has_no_body),
	        cmocka_unit_test(test_response_close_delimited),
	        cmocka_unit_test(test_response_eof_inside_framed_body),
	        cmocka_unit_test(test_response_1xx_then_final),
	        cmocka_unit_test(test_response_status_and_reason),
	        cmocka_unit_test(test_dechunk_via_on_body),
	        cmocka_unit_test(test_find_and_name_is),
	        cmocka_unit_test(test_upgrade_decision),
	        cmocka_unit_test(test_upgrade_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
