/* test_h1_write.c — heads rewritten for the next hop: exact bytes of typical
 * requests and responses, X-Forwarded-* and Via, framing re-stated,
 * overflow, the passthrough decision, and error responses that parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/h1.h"
#include "http/h1_write.h"

static struct fc_h1_head hd, hd2;
static struct fc_h1 h;
static const char *err;
static char out[8192];

static void parse(bool response, const char *s)
{
	size_t n = strlen(s);
	fc_h1_init(&h, response);
	assert_int_equal(fc_h1_head_end(s, n, 0), n);
	int rc = fc_h1_parse_head(&h, s, n, &hd, false, &err);
	if (rc == FC_H1_ERROR)
		fail_msg("parse: %s", err);
}

static const struct fc_h1_req_extra req_x = {
        .client_ip = "10.0.0.9", .client_ip_len = 8, .proto = "http"};

static void expect_bytes(const char *got, size_t n, const char *want)
{
	if (n != strlen(want) || memcmp(got, want, n) != 0)
		fail_msg("got (%zu):\n%.*s\nwant (%zu):\n%s", n, (int)n, got, strlen(want), want);
}

static size_t write_req(const struct fc_h1_req_extra *x)
{
	memset(out, 0x5a, sizeof(out));
	size_t n = fc_h1_write_request(out, sizeof(out), &hd, x);
	assert_true(n > 0);
	return n;
}

static void test_request_rewrite_typical(void **state)
{
	(void)state;
	parse(false, "POST /api?x=1 HTTP/1.1\r\n"
	             "Host: example.com\r\n"
	             "Connection: keep-alive, X-Secret\r\n"
	             "X-Secret: s\r\n"
	             "Keep-Alive: timeout=5\r\n"
	             "X-Forwarded-For: a, b\r\n"
	             "X-Forwarded-Proto: https\r\n"
	             "X-Forwarded-Host: evil.example\r\n"
	             "Content-Type: text/plain\r\n"
	             "Transfer-Encoding: chunked\r\n"
	             "TE: trailers\r\n"
	             "Proxy-Authorization: Basic eA==\r\n"
	             "Proxy-Connection: keep-alive\r\n"
	             "Upgrade: h2c\r\n"
	             "Trailer: X-Sum\r\n"
	             "Accept: */*\r\n"
	             "\r\n");
	size_t n = write_req(&req_x);
	expect_bytes(out, n,
	             "POST /api?x=1 HTTP/1.1\r\n"
	             "Host: example.com\r\n"
	             "Content-Type: text/plain\r\n"
	             "Accept: */*\r\n"
	             "Transfer-Encoding: chunked\r\n"
	             "X-Forwarded-For: a, b, 10.0.0.9\r\n"
	             "X-Forwarded-Proto: http\r\n"
	             "X-Forwarded-Host: example.com\r\n"
	             "Via: 1.1 fulcrum\r\n"
	             "\r\n");
	assert_int_equal((unsigned char)out[n], 0x5a); /* nothing written past the end */
}

static void test_request_rewrite_plain_get(void **state)
{
	(void)state;
	parse(false, "GET / HTTP/1.1\r\nHost: a:8080\r\nUser-Agent: t\r\n\r\n");
	size_t n = write_req(&req_x);
	expect_bytes(out, n,
	             "GET / HTTP/1.1\r\n"
	             "Host: a:8080\r\n"
	             "User-Agent: t\r\n"
	             "X-Forwarded-For: 10.0.0.9\r\n"
	             "X-Forwarded-Proto: http\r\n"
	             "X-Forwarded-Host: a:8080\r\n"
	             "Via: 1.1 fulcrum\r\n"
	             "\r\n");
}

static void test_request_xff_joined(void **state)
{
	(void)state;
	parse(false, "GET / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nHost: a\r\n"
	             "x-forwarded-for: 2.2.2.2, 3.3.3.3\r\nX-Forwarded-For:\r\n"
	             "X-Forwarded-For: 4.4.4.4\r\n\r\n");
	struct fc_h1_req_extra x = {.client_ip = "::1", .client_ip_len = 3, .proto = "https"};
	size_t n = write_req(&x);
	expect_bytes(out, n,
	             "GET / HTTP/1.1\r\n"
	             "Host: a\r\n"
	             "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 4.4.4.4, ::1\r\n"
	             "X-Forwarded-Proto: https\r\n"
	             "X-Forwarded-Host: a\r\n"
	             "Via: 1.1 fulcrum\r\n"
	             "\r\n");
}

static void test_request_http10_without_host(void **state)
{
	(void)state;
	parse(false, "GET /old HTTP/1.0\r\nAccept: */*\r\n\r\n");
	struct fc_h1_req_extra x = req_x;
	x.host = "localhost";
	x.host_len = 9;
	size_t n = write_req(&x);
	expect_bytes(out, n,
	             "GET /old HTTP/1.1\r\n"
	             "Accept: */*\r\n"
	             "X-Forwarded-For: 10.0.0.9\r\n"
	             "X-Forwarded-Proto: http\r\n"
	             "Via: 1.0 fulcrum\r\n"
	             "Host: localhost\r\n" /* last: a retry replaces it in place */
	             "\r\n");
	/* with a Host of its own, the extra one is not added */
	parse(false, "GET /old HTTP/1.0\r\nHost: b\r\nConnection: keep-alive\r\n\r\n");
	n = write_req(&x);
	expect_bytes(out, n,
	             "GET /old HTTP/1.1\r\n"
	             "Host: b\r\n"
	             "X-Forwarded-For: 10.0.0.9\r\n"
	             "X-Forwarded-Proto: http\r\n"
	             "X-Forwarded-Host: b\r\n"
	             "Via: 1.0 fulcrum\r\n"
	             "\r\n");
}

static void test_request_rewrite_round_trips(void **state)
{
	(void)state;
	parse(false, "PUT /x/y%20z HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n"
	             "Connection: X-A\r\nX-A: 1\r\nX-B: 2\r\n\r\n");
	size_t n = write_req(&req_x);
	struct fc_h1 h2;
	fc_h1_init(&h2, false);
	assert_int_equal(fc_h1_head_end(out, n, 0), n);
	assert_int_equal(fc_h1_parse_head(&h2, out, n, &hd2, false, &err), FC_H1_OK);
	assert_int_equal(hd2.method, HTTP_PUT);
	assert_int_equal(hd2.url_len, 8);
	assert_memory_equal(hd2.url, "/x/y%20z", 8);
	assert_int_equal(hd2.content_length, 12);
	assert_false(hd2.has_hop);
	assert_null(fc_h1_find(&hd2, "X-A", 3));
	assert_non_null(fc_h1_find(&hd2, "X-B", 3));
	assert_int_equal(hd2.n_host, 1);
}

static void test_request_overflow_returns_zero(void **state)
{
	(void)state;
	parse(false,
	      "GET /a/long/path HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 1.2.3.4\r\n"
	      "Cookie: a=b; c=d\r\n\r\n");
	size_t full = fc_h1_write_request(out, sizeof(out), &hd, &req_x);
	assert_true(full > 0);
	static char small[512];
	for (size_t cap = 0; cap < full; cap++) {
		memset(small, 0x5a, sizeof(small));
		assert_int_equal(fc_h1_write_request(small, cap, &hd, &req_x), 0);
		for (size_t i = cap; i < sizeof(small); i++)
			assert_int_equal((unsigned char)small[i], 0x5a);
	}
	assert_int_equal(fc_h1_write_request(small, full, &hd, &req_x), full);
	assert_memory_equal(small, out, full);
}

/* A transfer coding other than the final chunked must not vanish on the
 * way: "gzip, chunked" is marked chunked, its Transfer-Encoding header is
 * hop-by-hop and the writer re-states only "chunked", so the upstream gets
 * gzip bytes it believes are plain. Either the request is refused (bad_te,
 * 501) or the coding is relayed. */
static void test_request_transfer_coding_not_lost(void **state)
{
	(void)state;
	const char *s = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
	fc_h1_init(&h, false);
	int rc = fc_h1_parse_head(&h, s, strlen(s), &hd, false, &err);
	if (rc == FC_H1_ERROR) {
		assert_true(hd.bad_te);
		return;
	}
	size_t n = write_req(&req_x);
	out[n] = 0;
	if (!strstr(out, "gzip"))
		fail_msg("coding lost:\n%s", out);
}

/* ----------------------------------------------------------- responses */

static const char typical_resp[] = "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: text/html\r\n"
                                   "Connection: keep-alive\r\n"
                                   "Keep-Alive: timeout=5\r\n"
                                   "Transfer-Encoding: chunked\r\n"
                                   "Set-Cookie: a=1\r\n"
                                   "\r\n";

static size_t write_resp(const struct fc_h1_resp_extra *x)
{
	memset(out, 0x5a, sizeof(out));
	size_t n = fc_h1_write_response(out, sizeof(out), &hd, x);
	assert_true(n > 0);
	assert_int_equal((unsigned char)out[n], 0x5a);
	return n;
}

static void test_response_rewrite_close(void **state)
{
	(void)state;
	parse(true, typical_resp);
	struct fc_h1_resp_extra x = {.close = true};
	size_t n = write_resp(&x);
	expect_bytes(out, n,
	             "HTTP/1.1 200 OK\r\n"
	             "Content-Type: text/html\r\n"
	             "Set-Cookie: a=1\r\n"
	             "Transfer-Encoding: chunked\r\n"
	             "Connection: close\r\n"
	             "\r\n");
}

static void test_response_rewrite_keep_alive_dechunk_cookie(void **state)
{
	(void)state;
	parse(true, typical_resp);
	struct fc_h1_resp_extra x = {.keep_alive = true,
	                             .dechunk = true,
	                             .set_cookie = "fc=s1; Path=/",
	                             .set_cookie_len = 13};
	size_t n = write_resp(&x);
	expect_bytes(out, n,
	             "HTTP/1.1 200 OK\r\n"
	             "Content-Type: text/html\r\n"
	             "Set-Cookie: a=1\r\n"
	             "Set-Cookie: fc=s1; Path=/\r\n"
	             "Connection: keep-alive\r\n"
	             "\r\n");
	/* close wins over keep_alive */
	x.close = true;
	n = write_resp(&x);
	out[n] = 0;
	assert_non_null(strstr(out, "Connection: close\r\n"));
	assert_null(strstr(out, "keep-alive"));
}

static void test_response_rewrite_no_extras(void **state)
{
	(void)state;
	parse(true,
	      "HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\nConnection: X-Drop\r\nX-Drop: 1\r\n"
	      "Date: x\r\n\r\n");
	struct fc_h1_resp_extra x = {0};
	size_t n = write_resp(&x);
	expect_bytes(out, n, "HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\nDate: x\r\n\r\n");
	/* too small: 0 */
	for (size_t cap = 0; cap < n; cap++)
		assert_int_equal(fc_h1_write_response(out, cap, &hd, &x), 0);
}

static void test_response_transfer_coding_not_lost(void **state)
{
	(void)state;
	static const char *const s[] = {
	        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", /* close-delimited */
	};
	for (size_t i = 0; i < 2; i++) {
		parse(true, s[i]);
		struct fc_h1_resp_extra x = {.close = true};
		size_t n = write_resp(&x);
		out[n] = 0;
		if (!strstr(out, "gzip"))
			fail_msg("coding lost:\n%s", out);
	}
}

static void test_response_passthrough_decision(void **state)
{
	(void)state;
	struct fc_h1_resp_extra none = {0};
	parse(true, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n");
	assert_true(fc_h1_response_passthrough(&hd, &none));
	/* any extra forces a rewrite */
	struct fc_h1_resp_extra x = {.close = true};
	assert_false(fc_h1_response_passthrough(&hd, &x));
	x = (struct fc_h1_resp_extra){.keep_alive = true};
	assert_false(fc_h1_response_passthrough(&hd, &x));
	x = (struct fc_h1_resp_extra){.dechunk = true};
	assert_false(fc_h1_response_passthrough(&hd, &x));
	x = (struct fc_h1_resp_extra){.set_cookie = "a=b", .set_cookie_len = 3};
	assert_false(fc_h1_response_passthrough(&hd, &x));
	/* chunked alone is kept as is */
	parse(true, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	assert_true(hd.has_hop);
	assert_true(fc_h1_response_passthrough(&hd, &none));
	/* any other hop-by-hop header must go */
	parse(true, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nKeep-Alive: t=1\r\n\r\n");
	assert_false(fc_h1_response_passthrough(&hd, &none));
	parse(true, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
	assert_false(fc_h1_response_passthrough(&hd, &none));
	parse(true, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: X-A\r\nX-A: 1\r\n\r\n");
	assert_false(fc_h1_response_passthrough(&hd, &none));

	parse(true, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive, X-A\r\n\r\n");
	assert_false(fc_h1_response_passthrough(&hd, &none));
}

/* Only "Connection: keep-alive" would change: forwarded as it is when that is
 * right (RFC 9112 §9.3: keep-alive is 1.1's default; a 1.0 client that keeps
 * the connection needs the header, which is then already there). */
static void test_response_passthrough_keepalive(void **state)
{
	(void)state;
	struct fc_h1_resp_extra none = {0}, ka10 = {.keep_alive = true};
	static const char *const same[] = {
	        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive , "
	        "KEEP-ALIVE\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
	        "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		parse(true, same[i]);
		assert_true(hd.has_hop && hd.conn_keepalive);
		if (!fc_h1_response_passthrough(&hd, &none))
			fail_msg("1.1 client, not passed through:\n%s", same[i]);
		if (!fc_h1_response_passthrough(&hd, &ka10))
			fail_msg("1.0 keep-alive client, not passed through:\n%s", same[i]);
	}
	/* a 1.0 client that keeps the connection needs the header: added */
	parse(true, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
	assert_true(fc_h1_response_passthrough(&hd, &none));
	assert_false(fc_h1_response_passthrough(&hd, &ka10));
	/* closing, a cookie, de-chunking, or anything else hop-by-hop: rewritten */
	parse(true, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
	struct fc_h1_resp_extra x = {.close = true};
	assert_false(fc_h1_response_passthrough(&hd, &x));
	x = (struct fc_h1_resp_extra){.keep_alive = true, .set_cookie = "a=b", .set_cookie_len = 3};
	assert_false(fc_h1_response_passthrough(&hd, &x));
	static const char *const rewrite[] = {
	        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: "
	        "timeout=5\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, close\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nConnection: "
	        "close\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, X-A\r\nX-A: "
	        "1\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive;x\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive x\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alivex\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: ,\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection:\r\n\r\n",
	        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nUpgrade: "
	        "h2c\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(rewrite) / sizeof(rewrite[0]); i++) {
		parse(true, rewrite[i]);
		if (fc_h1_response_passthrough(&hd, &none) ||
		    fc_h1_response_passthrough(&hd, &ka10))
			fail_msg("passed through:\n%s", rewrite[i]);
	}
}

/* An upgrade request keeps Upgrade (without h2c) and says Connection:
 * upgrade; the other headers Connection names still go. */
static void test_request_upgrade_forwarded(void **state)
{
	(void)state;
	parse(false, "GET /chat HTTP/1.1\r\n"
	             "Host: a\r\n"
	             "Connection: keep-alive, Upgrade, X-Hop\r\n"
	             "X-Hop: 1\r\n"
	             "Upgrade: h2c, websocket\r\n"
	             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	             "Sec-WebSocket-Version: 13\r\n"
	             "Upgrade: foo/2\r\n"
	             "\r\n");
	size_t n = write_req(&req_x);
	expect_bytes(out, n,
	             "GET /chat HTTP/1.1\r\n"
	             "Host: a\r\n"
	             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	             "Sec-WebSocket-Version: 13\r\n"
	             "Upgrade: websocket, foo/2\r\n"
	             "Connection: upgrade\r\n"
	             "X-Forwarded-For: 10.0.0.9\r\n"
	             "X-Forwarded-Proto: http\r\n"
	             "X-Forwarded-Host: a\r\n"
	             "Via: 1.1 fulcrum\r\n"
	             "\r\n");
	/* h2c alone: no upgrade, both headers dropped as before */
	parse(false, "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
	             "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");
	n = write_req(&req_x);
	expect_bytes(out, n,
	             "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.9\r\n"
	             "X-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\nVia: 1.1 fulcrum\r\n\r\n");
}

static void test_response_101_upgrade(void **state)
{
	(void)state;
	parse(true, "HTTP/1.1 101 Switching Protocols\r\n"
	            "Upgrade: websocket\r\n"
	            "Connection: Upgrade\r\n"
	            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	            "\r\n");
	struct fc_h1_resp_extra x = {.upgrade = true, .close = true};
	assert_false(fc_h1_response_passthrough(&hd, &x));
	size_t n = write_resp(&x);
	expect_bytes(out, n,
	             "HTTP/1.1 101 Switching Protocols\r\n"
	             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	             "Upgrade: websocket\r\n"
	             "Connection: upgrade\r\n"
	             "\r\n");
}

static void test_error_responses_parse_back(void **state)
{
	(void)state;
	static const int statuses[] = {200, 400, 404, 405, 408, 413, 414, 431,
	                               500, 501, 502, 503, 504, 505, 418, 599};
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		for (int close = 0; close <= 1; close++) {
			int st = statuses[i];
			size_t n = fc_h1_write_error(out, sizeof(out), st, close);
			assert_true(n > 0);
			size_t end = fc_h1_head_end(out, n, 0);
			assert_true(end > 0 && end < n);
			struct fc_h1 p;
			fc_h1_init(&p, true);
			int rc = fc_h1_parse_head(&p, out, end, &hd, false, &err);
			if (st < 200) {
				/* an interim status has no body: what follows is not ours */
				assert_int_equal(rc, FC_H1_COMPLETE);
				continue;
			}
			assert_int_equal(rc, FC_H1_OK);
			assert_int_equal(hd.status, st);
			assert_true(hd.has_cl);
			assert_int_equal(hd.content_length, n - end);
			assert_int_equal(hd.conn_close, close);
			assert_int_equal(hd.keep_alive, !close);
			/* the body is exactly Content-Length bytes */
			size_t consumed = 0;
			assert_int_equal(
			        fc_h1_body(&p, out + end, n - end, &consumed, NULL, NULL, &err),
			        FC_H1_COMPLETE);
			assert_int_equal(consumed, n - end);
			char want[64];
			snprintf(want, sizeof(want), "%d %s\n", st, fc_h1_reason(st));
			assert_int_equal(n - end, strlen(want));
			assert_memory_equal(out + end, want, n - end);
			/* the status line says the same */
			char line[64];
			int ll = snprintf(line, sizeof(line), "HTTP/1.1 %d %s", st,
			                  fc_h1_reason(st));
			assert_int_equal(hd.first_line_len, ll);
			assert_memory_equal(hd.first_line, line, (size_t)ll);
		}
	}
}

static void test_error_response_too_small(void **state)
{
	(void)state;
	size_t full = fc_h1_write_error(out, sizeof(out), 502, true);
	assert_true(full > 0);
	for (size_t cap = 0; cap <= full; cap++) {
		memset(out, 0x5a, sizeof(out));
		assert_int_equal(fc_h1_write_error(out, cap, 502, true), 0);
		if (cap > 0)
			assert_int_equal(out[cap - 1], 0); /* snprintf's terminator */
		assert_int_equal((unsigned char)out[cap], 0x5a);
	}
	assert_int_equal(fc_h1_write_error(out, full + 1, 502, true), full);
}

static void test_reason_phrases(void **state)
{
	(void)state;
	assert_string_equal(fc_h1_reason(502), "Bad Gateway");
	assert_string_equal(fc_h1_reason(504), "Gateway Timeout");
	assert_string_equal(fc_h1_reason(431), "Request Header Fields Too Large");
	assert_string_equal(fc_h1_reason(413), "Content Too Large");
	assert_string_equal(fc_h1_reason(777), "Error");
}

/* A rate limit's 429: Retry-After, RateLimit-Policy and RateLimit (draft
 * -11's forms), parsing back as a complete response. */
static void test_rate_limited(void **state)
{
	(void)state;
	struct fc_h1_rate_limited rl = {
	        .name = "per_client", .burst = 200, .window_s = 2, .remaining = 0, .reset_s = 3};
	for (int close = 0; close <= 1; close++) {
		size_t n = fc_h1_write_rate_limited(out, sizeof(out), close, &rl);
		assert_true(n > 0);
		const char *want = "HTTP/1.1 429 Too Many Requests\r\n"
		                   "Content-Type: text/plain\r\n"
		                   "Content-Length: 22\r\n"
		                   "Cache-Control: no-store\r\n"
		                   "Retry-After: 3\r\n"
		                   "RateLimit-Policy: \"per_client\";q=200;w=2\r\n"
		                   "RateLimit: \"per_client\";r=0;t=3\r\n";
		assert_memory_equal(out, want, strlen(want));
		const char *tail = close ? "Connection: close\r\n\r\n429 Too Many Requests\n"
		                         : "\r\n429 Too Many Requests\n";
		assert_int_equal(n, strlen(want) + strlen(tail));
		assert_memory_equal(out + strlen(want), tail, strlen(tail));
		size_t end = fc_h1_head_end(out, n, 0);
		struct fc_h1 p;
		fc_h1_init(&p, true);
		assert_int_equal(fc_h1_parse_head(&p, out, end, &hd, false, &err), FC_H1_OK);
		assert_int_equal(hd.status, 429);
		assert_int_equal(hd.content_length, n - end);
		assert_int_equal(hd.conn_close, close);
	}
	/* too small a buffer: nothing */
	assert_int_equal(fc_h1_write_rate_limited(out, 100, false, &rl), 0);
	assert_string_equal(fc_h1_reason(429), "Too Many Requests");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_request_rewrite_typical),
	        cmocka_unit_test(test_request_rewrite_plain_get),
	        cmocka_unit_test(test_request_xff_joined),
	        cmocka_unit_test(test_request_http10_without_host),
	        cmocka_unit_test(test_request_rewrite_round_trips),
	        cmocka_unit_test(test_request_overflow_returns_zero),
	        cmocka_unit_test(test_request_transfer_coding_not_lost),
	        cmocka_unit_test(test_response_rewrite_close),
	        cmocka_unit_test(test_response_rewrite_keep_alive_dechunk_cookie),
	        cmocka_unit_test(test_response_rewrite_no_extras),
	        cmocka_unit_test(test_response_transfer_coding_not_lost),
	        cmocka_unit_test(test_response_passthrough_decision),
	        cmocka_unit_test(test_response_passthrough_keepalive),
	        cmocka_unit_test(test_request_upgrade_forwarded),
	        cmocka_unit_test(test_response_101_upgrade),
	        cmocka_unit_test(test_error_responses_parse_back),
	        cmocka_unit_test(test_error_response_too_small),
	        cmocka_unit_test(test_reason_phrases),
	        cmocka_unit_test(test_rate_limited),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
