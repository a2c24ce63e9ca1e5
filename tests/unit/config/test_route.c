/* test_route.c — fc_config_route_match: longest prefix, host specificity,
 * wildcards on a label boundary, ports and case ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

static char err[4096];
static struct fc_config *cfg;

static const char ROUTES[] = "listeners:\n"
                             "  - address: 127.0.0.1:8080\n"
                             "    routes:\n"
                             "      - {pool: r0}\n"                                    /* 0 */
                             "      - {path: /api, pool: r1}\n"                        /* 1 */
                             "      - {host: api.example.com, path: /api, pool: r2}\n" /* 2 */
                             "      - {host: '*.example.com', pool: r3}\n"             /* 3 */
                             "      - {host: '*.b.example.com', pool: r4}\n"           /* 4 */
                             "      - {host: a.b.example.com, pool: r5}\n"             /* 5 */
                             "      - {path: /api/v2, pool: r6}\n"                     /* 6 */
                             "      - {host: '*.example.com', path: /api, pool: r7}\n" /* 7 */
                             "  - address: 127.0.0.1:8081\n"
                             "    routes:\n"
                             "      - {host: only.example.com, path: /x, pool: r0}\n"
                             "pools:\n"
                             "  r0: {servers: [http://127.0.0.1:1]}\n"
                             "  r1: {servers: [http://127.0.0.1:1]}\n"
                             "  r2: {servers: [http://127.0.0.1:1]}\n"
                             "  r3: {servers: [http://127.0.0.1:1]}\n"
                             "  r4: {servers: [http://127.0.0.1:1]}\n"
                             "  r5: {servers: [http://127.0.0.1:1]}\n"
                             "  r6: {servers: [http://127.0.0.1:1]}\n"
                             "  r7: {servers: [http://127.0.0.1:1]}\n";

static int setup(void **state)
{
	cfg = fc_config_load_string(ROUTES, strlen(ROUTES), "routes.yaml", err, sizeof(err));
	if (!cfg)
		print_error("%s\n", err);
	return cfg ? 0 : -1;
}

static int teardown(void **state)
{
	fc_config_unref(cfg);
	return 0;
}

/* The pool name the route for host/path goes to, or "-". */
static const char *match(size_t listener, const char *host, const char *path)
{
	const struct fc_config_route *r =
	        fc_config_route_match(&cfg->listeners[listener], host, host ? strlen(host) : 0,
	                              path, path ? strlen(path) : 0);

	return r ? r->pool : "-";
}

static void test_path_prefix(void **state)
{
	assert_string_equal(match(0, "other.org", "/"), "r0");
	assert_string_equal(match(0, "other.org", "/index.html"), "r0");
	assert_string_equal(match(0, "other.org", "/api"), "r1");
	assert_string_equal(match(0, "other.org", "/api/x"), "r1");
	assert_string_equal(match(0, "other.org", "/apix"), "r1"); /* plain prefix, like nginx */
	assert_string_equal(match(0, "other.org", "/ap"), "r0");
	assert_string_equal(match(0, "other.org", "/api/v2/users"), "r6");
	assert_string_equal(match(0, "other.org", "/api/v2"), "r6");
	assert_string_equal(match(0, "other.org", "/api/v"), "r1");
	assert_string_equal(match(0, NULL, "/api?x=1"), "r1");
	assert_string_equal(match(0, NULL, NULL), "r0");
	assert_string_equal(match(0, NULL, ""), "-");
}

static void test_hosts(void **state)
{
	/* exact host beats the wildcard and the hostless route at equal length */
	assert_string_equal(match(0, "api.example.com", "/api/users"), "r2");
	assert_string_equal(match(0, "API.Example.COM", "/api"), "r2");
	assert_string_equal(match(0, "api.example.com:8080", "/api"), "r2");
	assert_string_equal(match(0, "api.example.com.", "/api"), "r2");
	/* a wildcard with a path beats the hostless /api */
	assert_string_equal(match(0, "www.example.com", "/api"), "r7");
	/* longest prefix first: hostless /api/v2 beats host routes with /api */
	assert_string_equal(match(0, "api.example.com", "/api/v2/x"), "r6");
	/* wildcard on a label boundary, never the bare domain */
	assert_string_equal(match(0, "www.example.com", "/"), "r3");
	assert_string_equal(match(0, "x.y.example.com", "/"), "r3");
	assert_string_equal(match(0, "example.com", "/"), "r0");
	assert_string_equal(match(0, "badexample.com", "/"), "r0");
	assert_string_equal(match(0, "example.com.evil.org", "/"), "r0");
	/* longer wildcard beats shorter; exact beats both */
	assert_string_equal(match(0, "c.b.example.com", "/"), "r4");
	assert_string_equal(match(0, "a.b.example.com", "/"), "r5");
	assert_string_equal(match(0, "A.B.example.com:443", "/"), "r5");
	/* no host: only hostless routes */
	assert_string_equal(match(0, NULL, "/"), "r0");
	assert_string_equal(match(0, "", "/api"), "r1");
	assert_string_equal(match(0, "[::1]:8080", "/api"), "r1");
}

static void test_no_match(void **state)
{
	assert_string_equal(match(1, "only.example.com", "/x/y"), "r0");
	assert_string_equal(match(1, "only.example.com:80", "/x"), "r0");
	assert_string_equal(match(1, "only.example.com", "/"), "-");
	assert_string_equal(match(1, "other.example.com", "/x"), "-");
	assert_string_equal(match(1, NULL, "/x"), "-");
	assert_null(fc_config_route_match(NULL, "a", 1, "/", 1));
}

static void test_lengths_not_nul_terminated(void **state)
{
	const char host[] = "api.example.comXXXX";
	const char path[] = "/api/v2";
	const struct fc_config_route *r;

	/* Only len bytes count: "/api/" with host "api.example.com". */
	r = fc_config_route_match(&cfg->listeners[0], host, 15, path, 5);
	assert_non_null(r);
	assert_string_equal(r->pool, "r2");
	r = fc_config_route_match(&cfg->listeners[0], host, 3, path, 3);
	assert_non_null(r);
	assert_string_equal(r->pool, "r0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_path_prefix),
	        cmocka_unit_test(test_hosts),
	        cmocka_unit_test(test_no_match),
	        cmocka_unit_test(test_lengths_not_nul_terminated),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
