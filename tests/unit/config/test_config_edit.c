/* test_config_edit.c — servers added to and removed from a loaded config
 * (the admin API's journal): checked as a servers: entry of the file, with
 * the pool's health settings, the TLS flag kept up to date. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

static struct fc_config *load(void)
{
	static const char yaml[] =
	        "listeners: [{address: 127.0.0.1:18080, routes: [{pool: web}]}]\n"
	        "pools:\n"
	        "  web:\n"
	        "    health: {path: /hc, interval: 3s}\n"
	        "    servers: [{url: http://127.0.0.1:9001, name: a}]\n";
	char err[1024];
	struct fc_config *cfg =
	        fc_config_load_string(yaml, sizeof(yaml) - 1, "t.yaml", err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	return cfg;
}

static void test_parse_like_the_file(void **state)
{
	(void)state;
	struct fc_config *cfg = load();
	struct fc_config_pool *cp = &cfg->pools[0];
	struct fc_config_server cs;
	char err[512];
	assert_int_equal(
	        fc_config_server_parse(cp, "http://127.0.0.1:9002", NULL, 3, &cs, err, sizeof(err)),
	        0);
	assert_string_equal(cs.name, "127.0.0.1:9002"); /* the file's default name */
	assert_int_equal(cs.port, 9002);
	assert_int_equal(cs.weight, 3);
	assert_false(cs.tls);
	assert_string_equal(cs.health.path, "/hc"); /* the pool's checks */
	assert_int_equal(cs.health.interval_ms, 3000);
	assert_int_equal(fc_config_pool_add_server(cp, &cs), 0);
	assert_null(cs.name); /* moved */
	assert_int_equal(cp->n_servers, 2);
	assert_int_equal(fc_config_server_index(cp, "127.0.0.1:9002"), 1);

	assert_int_equal(
	        fc_config_server_parse(cp, "https://localhost:9443", "t", 1, &cs, err, sizeof(err)),
	        0);
	assert_true(cs.tls);
	assert_int_equal(fc_config_pool_add_server(cp, &cs), 0);
	assert_true(cp->has_tls_servers);
	assert_int_equal(fc_config_pool_remove_server(cp, "t"), 0);
	assert_false(cp->has_tls_servers); /* no https:// server is left */
	assert_int_equal(fc_config_pool_remove_server(cp, "t"), -ENOENT);
	assert_int_equal(fc_config_pool_remove_server(cp, "a"), 0);
	assert_int_equal(cp->n_servers, 1);
	assert_string_equal(cp->servers[0].name, "127.0.0.1:9002");
	fc_config_unref(cfg);
}

static void test_refusals(void **state)
{
	(void)state;
	struct fc_config *cfg = load();
	struct fc_config_pool *cp = &cfg->pools[0];
	struct fc_config_server cs;
	char err[512];
	static const struct {
		const char *url, *name, *why;
		unsigned weight;
	} bad[] = {
	        {"ftp://127.0.0.1:9", NULL, "http://host:port", 1},
	        {"http://127.0.0.1:9/x", NULL, "path", 1},
	        {"http://127.0.0.1:0", NULL, "port", 1},
	        {"http://user@127.0.0.1:9", NULL, "user", 1},
	        {"", NULL, "url is required", 1},
	        {NULL, NULL, "url is required", 1},
	        {"http://127.0.0.1:9", "a b", "name", 1},
	        {"http://127.0.0.1:9", "a/b", "name", 1},
	        {"http://127.0.0.1:9", "", "name", 1},
	        {"http://127.0.0.1:9", NULL, "0..1000", 1001},
	        {"http://no-such-host.invalid:9", NULL, "resolve", 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		int rc = fc_config_server_parse(cp, bad[i].url, bad[i].name, bad[i].weight, &cs,
		                                err, sizeof(err));
		if (rc != -EINVAL || !strstr(err, bad[i].why))
			fail_msg("%s / %s: rc %d, err \"%s\" (want \"%s\")",
			         bad[i].url ? bad[i].url : "NULL",
			         bad[i].name ? bad[i].name : "NULL", rc, err, bad[i].why);
		assert_null(cs.name); /* nothing left to free */
		assert_null(cs.url);
	}
	assert_int_equal(cp->n_servers, 1);
	fc_config_unref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_like_the_file),
	        cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
