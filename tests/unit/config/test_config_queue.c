/* test_config_queue.c — the keys of docs/traffic.md's "Per-server limits and
 * the queue" and "Waking idle servers": max_conns (pool default, server
 * override), queue, wake; their defaults and their errors. */
#include <sys/socket.h>

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
	             "its servers) or wake: without them nothing waits");
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

static void test_wake(void **state)
{
	struct fc_config *cfg = load_ok(HEAD "    servers: [http://127.0.0.1:9000]\n"
	                                     "    wake:\n"
	                                     "      command: [systemctl, start, app]\n"
	                                     "      stop_command: [systemctl, stop, app]\n"
	                                     "      idle_after: 15m\n"
	                                     "      timeout: 30s\n");
	const struct fc_config_wake *wk = &cfg->pools[0].wake;
	assert_true(wk->enabled);
	assert_int_equal(wk->n_command, 3);
	assert_string_equal(wk->command[0], "systemctl");
	assert_string_equal(wk->command[2], "app");
	assert_null(wk->command[3]); /* argv ends with NULL */
	assert_int_equal(wk->n_stop_command, 3);
	assert_string_equal(wk->stop_command[1], "stop");
	assert_null(wk->url);
	assert_int_equal(wk->idle_after_ms, 15 * 60 * 1000);
	assert_int_equal(wk->timeout_ms, 30000);
	assert_false(cfg->pools[0].queue.enabled); /* the runtime gives it one all the same */
	fc_config_unref(cfg);
	/* a URL instead; the defaults: never stopped, 60 s */
	cfg = load_ok(HEAD "    servers: [http://127.0.0.1:9000]\n"
	                   "    wake: {url: \"http://127.0.0.1:2375/containers/app/start?t=1\"}\n"
	                   "    queue: {max: 5}\n");
	wk = &cfg->pools[0].wake;
	assert_null(wk->command);
	assert_string_equal(wk->url_host, "127.0.0.1:2375");
	assert_string_equal(wk->url_path, "/containers/app/start?t=1");
	assert_int_equal(wk->url_addr.ss_family, AF_INET);
	assert_int_equal(wk->idle_after_ms, 0);
	assert_int_equal(wk->timeout_ms, 60000);
	assert_null(wk->stop_command);
	assert_int_equal(cfg->pools[0].queue.max, 5); /* queue: with wake: and no cap */
	fc_config_unref(cfg);
	cfg = load_ok(HEAD "    servers: [http://127.0.0.1:9000]\n"
	                   "    wake: {url: http://127.0.0.1:2375}\n");
	assert_string_equal(cfg->pools[0].wake.url_path, "/");
	fc_config_unref(cfg);
}

static void test_wake_errors(void **state)
{
	expect_error(HEAD "    servers: [http://127.0.0.1:9000]\n    wake: {timeout: 5s}\n",
	             "t.yaml:7:11: pools.app.wake: needs command (the program to run: [program, "
	             "args...]) or url (an HTTP POST to http://host:port/path), one of them");
	expect_error(HEAD "    servers: [http://127.0.0.1:9000]\n"
	                  "    wake: {command: [a], url: http://127.0.0.1:1/}\n",
	             "t.yaml:7:26: pools.app.wake: needs command (the program to run: [program, "
	             "args...]) or url (an HTTP POST to http://host:port/path), one of them");
	expect_error(HEAD "    servers: [http://127.0.0.1:9000]\n"
	                  "    wake: {command: \"systemctl start app\"}\n",
	             "t.yaml:7:21: pools.app.wake.command: must be a list: the program and its "
	             "arguments, e.g. [systemctl, start, app] (run without a shell)");
	expect_error(HEAD "    servers: [http://127.0.0.1:9000]\n"
	                  "    wake: {command: [start, \"\"]}\n",
	             "t.yaml:7:29: pools.app.wake.command[1]: must not be empty");
	expect_error(HEAD "    servers: [http://127.0.0.1:9000]\n"
	                  "    wake: {url: \"https://127.0.0.1:1/x\"}\n",
	             "t.yaml:7:17: pools.app.wake.url: must be http://host:port/path (got "
	             "\"https://127.0.0.1:1/x\")");
	expect_error(HEAD "    servers: [http://127.0.0.1:9000]\n"
	                  "    wake: {command: [a], idle_after: 10}\n",
	             "t.yaml:7:38: pools.app.wake.idle_after: needs a unit: write 10s or 10ms "
	             "(durations look like 10s, 500ms, 1m, 1h30m)");
	expect_error(
	        HEAD "    servers: [http://127.0.0.1:9000]\n"
	             "    wake: {command: [a], stop: [b]}\n",
	        "t.yaml:7:26: pools.app.wake.stop: unknown key (expected one of: command, url, "
	        "stop_command, idle_after, timeout)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_max_conns_and_queue),
	        cmocka_unit_test(test_errors),      cmocka_unit_test(test_wake),
	        cmocka_unit_test(test_wake_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
