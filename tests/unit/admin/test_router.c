/* test_router.c — the admin API's pure parts: the path router (segments,
 * percent-decoding, the query), methods and Allow, the token (file, env,
 * Bearer parsing, constant-time digest compare) and quantiles from the
 * duration histogram's buckets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "admin/admin_internal.h"

static int route(const char *url, struct fc_admin_route *r)
{
	const char *why = NULL;
	int rc = fc_admin_route(url, strlen(url), r, &why);
	if (rc != FC_ADMIN_ROUTE_OK)
		assert_non_null(why); /* a refusal always says why */
	return rc;
}

static void test_routes(void **state)
{
	(void)state;
	struct fc_admin_route r;
	assert_int_equal(route("/", &r), 0);
	assert_int_equal(r.id, FC_ADMIN_R_INDEX);
	assert_int_equal(route("/metrics", &r), 0);
	assert_int_equal(r.id, FC_ADMIN_R_METRICS);
	assert_int_equal(route("/lb-metrics", &r), 0);
	assert_int_equal(r.id, FC_ADMIN_R_LB);
	assert_int_equal(route("/api/pools", &r), 0);
	assert_int_equal(r.id, FC_ADMIN_R_POOLS);
	assert_int_equal(route("/api/reload", &r), 0);
	assert_int_equal(r.id, FC_ADMIN_R_RELOAD);
	assert_int_equal(route("/api/pools/web", &r), 0);
	assert_int_equal(r.id, FC_ADMIN_R_POOL);
	assert_string_equal(r.pool, "web");
	assert_int_equal(route("/api/pools/web/servers", &r), 0);
	assert_int_equal(r.id, FC_ADMIN_R_SERVERS);
	assert_int_equal(route("/api/pools/web/servers/127.0.0.1:8080", &r), 0);
	assert_int_equal(r.id, FC_ADMIN_R_SERVER);
	assert_string_equal(r.pool, "web");
	assert_string_equal(r.server, "127.0.0.1:8080");
	/* names are percent-decoded */
	assert_int_equal(route("/api/pools/w%65b/servers/%5B%3A%3A1%5D%3A80", &r), 0);
	assert_string_equal(r.pool, "web");
	assert_string_equal(r.server, "[::1]:80");
	assert_false(r.has_wait);
}

static void test_not_found(void **state)
{
	(void)state;
	struct fc_admin_route r;
	static const char *const paths[] = {
	        "/api",
	        "/api/",
	        "/api/pools/",
	        "/api/pools//servers",
	        "/api/pools/web/",
	        "/api/pools/web/x",
	        "/api/pools/web/servers/a/b",
	        "/metrics/",
	        "/metricsx",
	        "/nope",
	        "//",
	        "/api/pools/web/servers/",
	        "/a/b/c/d/e/f/g/h",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (route(paths[i], &r) != FC_ADMIN_ROUTE_NOT_FOUND)
			fail_msg("%s is not a route", paths[i]);
	/* a name longer than any name is no server */
	char longname[400] = "/api/pools/";
	memset(longname + strlen(longname), 'a', 300);
	assert_int_equal(route(longname, &r), FC_ADMIN_ROUTE_NOT_FOUND);
}

static void test_bad_urls(void **state)
{
	(void)state;
	struct fc_admin_route r;
	static const char *const bad[] = {
	        "/api/pools/w%zzb",   /* not hex */
	        "/api/pools/w%6",     /* cut */
	        "/api/pools/w%",      /* cut */
	        "/api/pools/a%2Fb",   /* an encoded slash */
	        "/api/pools/a%00b",   /* an encoded NUL */
	        "*",                  /* not a path */
	        "http://x/api/pools", /* absolute form */
	        "/api/pools?x=1",     /* no parameters here */
	        "/api/pools/web/servers/a?wait=removable&x=1",
	        "/api/pools/web/servers/a?wait=a&wait=b", /* repeated */
	        "/api/pools/web/servers/a?wait=%zz",
	        "/api/pools#frag",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (route(bad[i], &r) != FC_ADMIN_ROUTE_BAD)
			fail_msg("%s must be refused as a bad URL", bad[i]);
}

static void test_query(void **state)
{
	(void)state;
	struct fc_admin_route r;
	assert_int_equal(route("/api/pools/web/servers/a?wait=removable&timeout=30s", &r), 0);
	assert_true(r.has_wait);
	assert_string_equal(r.wait, "removable");
	assert_true(r.has_timeout);
	assert_string_equal(r.timeout, "30s");
	assert_int_equal(route("/api/pools/web/servers/a?timeout=1m", &r), 0);
	assert_false(r.has_wait);
	assert_int_equal(route("/api/pools/web/servers/a?", &r), 0); /* an empty query */
	assert_false(r.has_wait);
	assert_int_equal(route("/api/pools/web/servers/a?wait", &r), 0);
	assert_true(r.has_wait);
	assert_string_equal(r.wait, "");
}

static void test_methods(void **state)
{
	(void)state;
	assert_true(fc_admin_route_methods(FC_ADMIN_R_POOLS) & FC_ADMIN_M_GET);
	assert_false(fc_admin_route_methods(FC_ADMIN_R_POOLS) & FC_ADMIN_M_POST);
	assert_true(fc_admin_route_methods(FC_ADMIN_R_SERVERS) & FC_ADMIN_M_POST);
	assert_true(fc_admin_route_methods(FC_ADMIN_R_SERVER) & FC_ADMIN_M_PATCH);
	assert_true(fc_admin_route_methods(FC_ADMIN_R_SERVER) & FC_ADMIN_M_DELETE);
	assert_false(fc_admin_route_methods(FC_ADMIN_R_SERVER) & FC_ADMIN_M_POST);
	assert_int_equal(fc_admin_route_methods(FC_ADMIN_R_RELOAD), FC_ADMIN_M_POST);
	assert_string_equal(fc_admin_route_allow(FC_ADMIN_R_SERVER), "GET, HEAD, PATCH, DELETE");
	assert_string_equal(fc_admin_route_allow(FC_ADMIN_R_RELOAD), "POST");
	assert_int_equal(fc_admin_method_bit(HTTP_PUT), 0);
	assert_int_equal(fc_admin_method_bit(HTTP_DELETE), FC_ADMIN_M_DELETE);
}

static struct fc_config *admin_cfg(const char *token_file)
{
	char yaml[1024];
	snprintf(yaml, sizeof(yaml),
	         "admin: {listen: 127.0.0.1:9901%s%s}\n"
	         "listeners: [{address: 127.0.0.1:18080, routes: [{pool: p}]}]\n"
	         "pools: {p: {servers: [http://127.0.0.1:9]}}\n",
	         token_file ? ", token_file: " : "", token_file ? token_file : "");
	char err[1024];
	struct fc_config *cfg =
	        fc_config_load_string(yaml, strlen(yaml), "t.yaml", err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	return cfg;
}

static void test_token_file_and_env(void **state)
{
	(void)state;
	char dir[] = "/tmp/fulcrum-token-XXXXXX", path[128], err[512];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	FILE *f = fopen(path, "w");
	fputs("s3cret\r\n", f);
	fclose(f);
	struct fc_admin_token t;
	struct fc_config *cfg = admin_cfg(path);
	setenv("FULCRUM_ADMIN_TOKEN", "from-env", 1);
	assert_int_equal(fc_admin_token_load(cfg, &t, err, sizeof(err)), 0);
	assert_true(t.set);
	/* the file wins over the environment; its trailing CR LF is not the token's */
	assert_true(fc_admin_token_check(&t, "Bearer s3cret", 13));
	assert_true(fc_admin_token_check(&t, "bearer   s3cret ", 16));
	assert_false(fc_admin_token_check(&t, "Bearer from-env", 15));
	assert_false(fc_admin_token_check(&t, "Bearer s3cre", 12));
	assert_false(fc_admin_token_check(&t, "Bearer s3cret\r", 14));
	assert_false(fc_admin_token_check(&t, "Basic s3cret", 12));
	assert_false(fc_admin_token_check(&t, "s3cret", 6));
	assert_false(fc_admin_token_check(&t, "Bearer ", 7));
	assert_false(fc_admin_token_check(&t, "", 0));
	fc_config_unref(cfg);

	/* an empty file is an error naming it, with where it is configured */
	f = fopen(path, "w");
	fputs("\n", f);
	fclose(f);
	cfg = admin_cfg(path);
	assert_int_equal(fc_admin_token_load(cfg, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "t.yaml:1:"));
	assert_non_null(strstr(err, "empty"));
	fc_config_unref(cfg);
	unlink(path);
	/* so is a missing one */
	cfg = admin_cfg(path);
	assert_int_equal(fc_admin_token_load(cfg, &t, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	fc_config_unref(cfg);
	rmdir(dir);

	/* no file: the environment; neither: read-only */
	cfg = admin_cfg(NULL);
	assert_int_equal(fc_admin_token_load(cfg, &t, err, sizeof(err)), 0);
	assert_true(t.set);
	assert_true(fc_admin_token_check(&t, "Bearer from-env", 15));
	unsetenv("FULCRUM_ADMIN_TOKEN");
	assert_int_equal(fc_admin_token_load(cfg, &t, err, sizeof(err)), 0);
	assert_false(t.set);
	assert_false(fc_admin_token_check(&t, "Bearer ", 7));
	fc_config_unref(cfg);
}

static void test_digest_equal(void **state)
{
	(void)state;
	uint8_t a[32], b[32];
	for (int i = 0; i < 32; i++)
		a[i] = b[i] = (uint8_t)(i * 7);
	assert_true(fc_admin_digest_equal(a, b));
	for (int i = 0; i < 32; i++) {
		b[i] ^= 1; /* a difference anywhere counts */
		assert_false(fc_admin_digest_equal(a, b));
		b[i] ^= 1;
	}
}

static void test_quantiles(void **state)
{
	(void)state;
	uint64_t h[FC_HIST_BUCKETS] = {0};
	assert_true(fc_admin_hist_quantile_ms(h, 0.5) < 0); /* empty */
	/* 100 requests all in the first bucket (0..5 ms): linear inside it */
	h[0] = 100;
	assert_float_equal(fc_admin_hist_quantile_ms(h, 0.5), 2.5, 1e-9);
	assert_float_equal(fc_admin_hist_quantile_ms(h, 0.99), 4.95, 1e-9);
	/* 50 in 0..5 ms, 50 in 50..100 ms */
	h[0] = 50;
	h[4] = 50;
	assert_float_equal(fc_admin_hist_quantile_ms(h, 0.5), 5.0, 1e-9);
	assert_float_equal(fc_admin_hist_quantile_ms(h, 0.99), 50 + 50 * 0.98, 1e-9);
	/* beyond the last bound: the last bound */
	memset(h, 0, sizeof(h));
	h[FC_HIST_FINITE] = 3;
	assert_float_equal(fc_admin_hist_quantile_ms(h, 0.5), 10000.0, 1e-9);
	/* the buckets a duration falls in */
	assert_int_equal(fc_hist_bucket(0), 0);
	assert_int_equal(fc_hist_bucket(5000000), 0);
	assert_int_equal(fc_hist_bucket(5000001), 1);
	assert_int_equal(fc_hist_bucket(10000000001ull), FC_HIST_FINITE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_routes),       cmocka_unit_test(test_not_found),
	        cmocka_unit_test(test_bad_urls),     cmocka_unit_test(test_query),
	        cmocka_unit_test(test_methods),      cmocka_unit_test(test_token_file_and_env),
	        cmocka_unit_test(test_digest_equal), cmocka_unit_test(test_quantiles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
