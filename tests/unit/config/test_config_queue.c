/* test_config_queue.c — the keys of docs/traffic.md's "Per-server limits and
 * the queue" and "Waking idle servers": max_conns (pool default, server
 * override), queue, wake; their defaults and their errors. */
#include "helpers.h"

#define HEAD                                                                                       \
	"listeners:\n"                                                                             \
	"  - address: 127.0.0.1:8080\n"                                                            \
	"    routes: [{pool: app}]\n"                                                              \
	"pools:\n"                                                                                 \
	"  app:\n"

static void test_defaults(void **state)
{
	struct fc_config *cfg = load_ok(HEAD "    servers: [http://127.0.0.1:9000]\n");
	const struct fc_config_pool *p = &cfg->pools[0];
	assert_int_equal(p->max_conns, 0);
	assert_int_equal(p->servers[0].max_conns, 0);
	assert_false(p->queue.enabled);
	assert_int_equal(p->queue.max, 1000);
	assert_int_equal(p->queue.timeout_ms, 5000);
	fc_config_unref(cfg);
}

static void test_max_conns_and_queue(void **state)
{
	struct fc_config *cfg =
	        load_ok(HEAD "    max_conns: 100\n"
	                     "    queue: {max: 50, timeout: 2s}\n"
	                     "    servers:\n"
	                     "      - http://127.0.0.1:9000\n"
	                     "      - {url: http://127.0.0.1:9001, max_conns: 3}\n"
	                     "      - {url: http://127.0.0.1:9002, max_conns: 0}\n");
	const struct fc_config_pool *p = &cfg->pools[0];
	assert_int_equal(p->max_conns, 100);
	assert_int_equal(p->servers[0].max_conns, 100); /* the pool's default */
	assert_int_equal(p->servers[1].max_conns, 3);
	assert_int_equal(p->servers[2].max_conns, 0); /* written: no cap */
	assert_true(p->queue.enabled);
	assert_int_equal(p->queue.max, 50);
	assert_int_equal(p->queue.timeout_ms, 2000);
	fc_config_unref(cfg);
	/* the queue's defaults; a cap on one server is enough */
	cfg = load_ok(HEAD "    queue: {}\n"
	                   "    servers: [{url: http://127.0.0.1:9000, max_conns: 1}]\n");
	assert_int_equal(cfg->pools[0].queue.max, 1000);
	assert_int_equal(cfg->pools[0].queue.timeout_ms, 5000);
	fc_config_unref(cfg);
}

static void test_errors(void **state)
{
	expect_error(
	        HEAD "    max_conns: -1\n    servers: [http://127.0.0.1:9000]\n",
	        "t.yaml:6:16: pools.app.max_conns: must be an integer 0..1000000 (got \"-1\")");
	expect_error(HEAD "    servers: [{url: http://127.0.0.1:9000, max_conns: lots}]\n",
	             "t.yaml:6:55: pools.app.servers[0].max_conns: must be an integer 0..1000000 "
	             "(got \"lots\")");
	expect_error(HEAD "    queue: {max: 10}\n    servers: [http://127.0.0.1:9000]\n",
	             "t.yaml:6:5: pools.app.queue: only used with max_conns (on the pool or one of "
	             "its servers): without a cap nothing waits");
	expect_error(HEAD "    max_conns: 1\n    queue: {max: 0}\n"
	                  "    servers: [http://127.0.0.1:9000]\n",
	             "t.yaml:7:18: pools.app.queue.max: must be 1..1000000 (got 0)");
	expect_error(HEAD "    max_conns: 1\n    queue: {timeout: 5}\n"
	                  "    servers: [http://127.0.0.1:9000]\n",
	             "t.yaml:7:22: pools.app.queue.timeout: needs a unit: write 5s or 5ms "
	             "(durations look like 10s, 500ms, 1m, 1h30m)");
	expect_error(HEAD "    max_conns: 1\n    queue: 100\n"
	                  "    servers: [http://127.0.0.1:9000]\n",
	             "t.yaml:7:12: pools.app.queue: must be a mapping (max, timeout), not a single "
	             "value");
	expect_error(HEAD "    max_conns: 1\n    queue: {maxx: 3}\n"
	                  "    servers: [http://127.0.0.1:9000]\n",
	             "t.yaml:7:13: pools.app.queue.maxx: unknown key (did you mean \"max\"?)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_max_conns_and_queue),
	        cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
