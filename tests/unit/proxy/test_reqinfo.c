/* test_reqinfo.c — cookies, query parameters, request targets, addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/reqinfo.h"

static struct fc_h1_head head;
static struct fc_h1 parser;

static void parse(const char *req)
{
	const char *err = NULL;
	fc_h1_init(&parser, false);
	size_t end = fc_h1_head_end(req, strlen(req), 0);
	assert_true(end > 0);
	assert_true(fc_h1_parse_head(&parser, req, end, &head, false, &err) >= 0);
}

static void expect_cookie(const char *name, const char *want)
{
	size_t n = 0;
	const char *v = fc_req_cookie(&head, name, strlen(name), &n);
	if (!want) {
		assert_null(v);
		return;
	}
	assert_non_null(v);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(v, want, n);
}

static void test_cookie(void **state)
{
	(void)state;
	parse("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; fulcrum_sticky=abc.def; b=\r\n"
	      "Cookie: late=9\r\n\r\n");
	expect_cookie("a", "1");
	expect_cookie("fulcrum_sticky", "abc.def");
	expect_cookie("b", "");
	expect_cookie("late", "9");
	expect_cookie("fulcrum", NULL); /* a prefix is not a match */
	expect_cookie("sticky", NULL);  /* nor a suffix */
	expect_cookie("missing", NULL);
}

static void test_cookie_none(void **state)
{
	(void)state;
	parse("GET / HTTP/1.1\r\nHost: a\r\nCookie: novalue\r\n\r\n");
	expect_cookie("novalue", NULL);
	parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	expect_cookie("a", NULL);
}

static void expect_query(const char *url, const char *name, const char *want)
{
	size_t n = 0;
	const char *v = fc_req_query(url, strlen(url), name, strlen(name), &n);
	if (!want) {
		assert_null(v);
		return;
	}
	assert_non_null(v);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(v, want, n);
}

static void test_query(void **state)
{
	(void)state;
	expect_query("/p?user=42&x=1", "user", "42");
	expect_query("/p?user=42&x=1", "x", "1");
	expect_query("/p?flag&x=1", "flag", "");
	expect_query("/p?users=1", "user", NULL);
	expect_query("/p", "user", NULL);
	expect_query("/p?", "user", NULL);
	expect_query("/p?a=1&&b=2", "b", "2");
}

static void expect_target(const char *req, const char *host, const char *path)
{
	parse(req);
	const char *h = head.host >= 0 ? head.h[head.host].value : NULL;
	size_t hl = head.host >= 0 ? head.h[head.host].value_len : 0;
	const char *p;
	size_t pl;
	fc_req_target(&head, &h, &hl, &p, &pl);
	assert_int_equal(hl, strlen(host));
	assert_memory_equal(h, host, hl);
	assert_int_equal(pl, strlen(path));
	assert_memory_equal(p, path, pl);
}

static void test_target(void **state)
{
	(void)state;
	expect_target("GET /a/b?c=d HTTP/1.1\r\nHost: x.example\r\n\r\n", "x.example", "/a/b");
	expect_target("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "x", "/");
	/* absolute-form: the target's host wins (RFC 9112 §3.2.2) */
	expect_target("GET http://other.example/z?q HTTP/1.1\r\nHost: x\r\n\r\n", "other.example",
	              "/z");
	expect_target("GET http://bare.example HTTP/1.1\r\nHost: x\r\n\r\n", "bare.example", "/");
}

static void expect_ip(const char *text)
{
	struct fc_addr a;
	char buf[64];
	assert_int_equal(fc_addr_parse(text, strlen(text), &a), 0);
	size_t n = fc_req_format_ip(&a, buf, sizeof(buf));
	assert_int_equal(n, strlen(text));
	assert_string_equal(buf, text);
}

static void test_format_ip(void **state)
{
	(void)state;
	expect_ip("127.0.0.1");
	expect_ip("0.0.0.0");
	expect_ip("255.255.255.255");
	expect_ip("10.20.100.9");
	expect_ip("2001:db8::1");
	expect_ip("::1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_cookie),    cmocka_unit_test(test_cookie_none),
	        cmocka_unit_test(test_query),     cmocka_unit_test(test_target),
	        cmocka_unit_test(test_format_ip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
