/* test_config_retry.c — the YAML loader's pools.*.retry block: defaults (the
 * behaviour before it existed), every key, the older `retries:` spelling,
 * and every error message with its line:col. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "helpers.h"

/* Lines 1-4 the listener, 5 "pools:", 6 "  p:", 7 the servers, 8 on: the pool's keys. */
#define LISTEN_OK "listeners:\n  - address: 127.0.0.1:8080\n    routes:\n      - pool: p\n"
#define P1        LISTEN_OK "pools:\n  p:\n"
#define S1        "    servers: [http://127.0.0.1:3001]\n"
#define MINIMAL   P1 S1

static void test_defaults(void **state)
{
	(void)state;
	struct fc_config *cfg = load_ok(MINIMAL);
	const struct fc_config_retry *r = &cfg->pools[0].retry;
	assert_int_equal(r->attempts, 2);
	assert_int_equal(r->same_server, 0);
	assert_int_equal(r->on, FC_RETRY_ON_CONNECT_FAILURE | FC_RETRY_ON_REFUSED |
	                                FC_RETRY_ON_RESET | FC_RETRY_ON_TIMEOUT);
	assert_int_equal(r->per_try_timeout_ms, 0);
	assert_int_equal(r->backoff_base_ms, 0);
	assert_int_equal(r->backoff_max_ms, 0);
	assert_int_equal(r->budget_pct, 100); /* off */
	assert_int_equal(r->budget_min, 3);
	assert_int_equal(r->replay_buffer, 64 * 1024);
	assert_false(r->idempotency_key);
	fc_config_unref(cfg);
	/* the flags' pool has the same */
	const char *to[] = {"http://127.0.0.1:3001"};
	cfg = fc_config_from_args("127.0.0.1:8080", to, 1, NULL, 0, err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg->pools[0].retry.attempts, 2);
	assert_int_equal(cfg->pools[0].retry.budget_pct, 100);
	assert_int_equal(cfg->pools[0].retry.replay_buffer, 64 * 1024);
	fc_config_unref(cfg);
}

static void test_every_key(void **state)
{
	(void)state;
	struct fc_config *cfg = load_ok(MINIMAL "    response_timeout: 10s\n"
	                                        "    retry:\n"
	                                        "      attempts: 4\n"
	                                        "      same_server: 3\n"
	                                        "      on: [refused, 502, 503, 504, timeout]\n"
	                                        "      per_try_timeout: 2s\n"
	                                        "      backoff: {base: 25ms, max: 250ms}\n"
	                                        "      budget: 25%\n"
	                                        "      replay_buffer: 128k\n"
	                                        "      idempotency_key: true\n");
	const struct fc_config_retry *r = &cfg->pools[0].retry;
	assert_int_equal(r->attempts, 4);
	assert_int_equal(r->same_server, 3);
	assert_int_equal(r->on, FC_RETRY_ON_REFUSED | FC_RETRY_ON_502 | FC_RETRY_ON_503 |
	                                FC_RETRY_ON_504 | FC_RETRY_ON_TIMEOUT);
	assert_int_equal(r->per_try_timeout_ms, 2000);
	assert_int_equal(r->backoff_base_ms, 25);
	assert_int_equal(r->backoff_max_ms, 250);
	assert_int_equal(r->budget_pct, 25);
	assert_int_equal(r->budget_min, 3);
	assert_int_equal(r->replay_buffer, 128 * 1024);
	assert_true(r->idempotency_key);
	fc_config_unref(cfg);
}

static void test_variants(void **state)
{
	(void)state;
	/* retries: the older spelling, still read */
	struct fc_config *cfg = load_ok(MINIMAL "    retries: 5\n");
	assert_int_equal(cfg->pools[0].retry.attempts, 5);
	fc_config_unref(cfg);
	/* ... with a retry: block that does not set attempts */
	cfg = load_ok(MINIMAL "    retries: 4\n    retry: {same_server: 4}\n");
	assert_int_equal(cfg->pools[0].retry.attempts, 4);
	assert_int_equal(cfg->pools[0].retry.same_server, 4);
	fc_config_unref(cfg);
	/* one failure, not a list; an empty list: nothing is retried */
	cfg = load_ok(MINIMAL "    retry: {on: 503}\n");
	assert_int_equal(cfg->pools[0].retry.on, FC_RETRY_ON_503);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    retry: {on: []}\n");
	assert_int_equal(cfg->pools[0].retry.on, 0);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    retry:\n      on:\n");
	assert_int_equal(cfg->pools[0].retry.on, 0);
	fc_config_unref(cfg);
	/* backoff: max defaults to 10 x base, capped at 1m; off */
	cfg = load_ok(MINIMAL "    retry: {backoff: {base: 10ms}}\n");
	assert_int_equal(cfg->pools[0].retry.backoff_base_ms, 10);
	assert_int_equal(cfg->pools[0].retry.backoff_max_ms, 100);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    retry: {backoff: {base: 10s}}\n");
	assert_int_equal(cfg->pools[0].retry.backoff_max_ms, 60000);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    retry: {backoff: off}\n");
	assert_int_equal(cfg->pools[0].retry.backoff_base_ms, 0);
	fc_config_unref(cfg);
	/* budget: off, a bare number, a mapping */
	cfg = load_ok(MINIMAL "    retry: {budget: 20%}\n    retries: 1\n");
	assert_int_equal(cfg->pools[0].retry.budget_pct, 20);
	assert_int_equal(cfg->pools[0].retry.budget_min, 3);
	assert_int_equal(cfg->pools[0].retry.attempts, 1);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    retry: {budget: off}\n");
	assert_int_equal(cfg->pools[0].retry.budget_pct, 100);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    retry: {budget: 50}\n");
	assert_int_equal(cfg->pools[0].retry.budget_pct, 50);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    retry: {budget: {percent: 10%, min: 0}}\n");
	assert_int_equal(cfg->pools[0].retry.budget_pct, 10);
	assert_int_equal(cfg->pools[0].retry.budget_min, 0);
	fc_config_unref(cfg);
	/* no body replay at all; an empty block keeps the defaults */
	cfg = load_ok(MINIMAL "    retry: {replay_buffer: 0}\n");
	assert_int_equal(cfg->pools[0].retry.replay_buffer, 0);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    retry:\n");
	assert_int_equal(cfg->pools[0].retry.attempts, 2);
	fc_config_unref(cfg);
	/* per_try_timeout up to response_timeout */
	cfg = load_ok(MINIMAL "    response_timeout: 2s\n    retry: {per_try_timeout: 2s}\n");
	assert_int_equal(cfg->pools[0].retry.per_try_timeout_ms, 2000);
	fc_config_unref(cfg);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error(MINIMAL "    retries: 1\n    retry: {attempts: 2}\n",
	             "t.yaml:8:5: pools.p.retries: is the older name of retry.attempts, which is "
	             "written too (line 9): keep one");
	expect_error(MINIMAL "    retry: {attempts: 8}\n",
	             "t.yaml:8:23: pools.p.retry.attempts: must be 0..7 (got 8)");
	expect_error(MINIMAL "    retries: 9\n",
	             "t.yaml:8:14: pools.p.retries: must be 0..7 (got 9)");
	expect_error(MINIMAL "    retry: {attempts: 2, same_server: 3}\n",
	             "t.yaml:8:39: pools.p.retry.same_server: must be at most attempts (2): the "
	             "attempts count them too");
	expect_error(MINIMAL "    retry: {on: [refused, 500]}\n",
	             "t.yaml:8:27: pools.p.retry.on[1]: must be connect_failure, refused, reset, "
	             "timeout, 502, 503 or 504 (got \"500\")");
	expect_error(MINIMAL "    retry: {on: [reset, reset]}\n",
	             "t.yaml:8:25: pools.p.retry.on[1]: duplicate: reset is listed twice");
	expect_error(MINIMAL "    retry: {on: {reset: 1}}\n",
	             "t.yaml:8:17: pools.p.retry.on: must be a list such as [connect_failure, "
	             "refused, reset, timeout, 502, 503, 504]");
	expect_error(MINIMAL "    retry: {per_try_timeout: 2m}\n",
	             "t.yaml:8:30: pools.p.retry.per_try_timeout: must be at most the pool's "
	             "response_timeout (1m)");
	expect_error(MINIMAL "    retry: {per_try_timeout: 2}\n",
	             "t.yaml:8:30: pools.p.retry.per_try_timeout: needs a unit: write 2s or 2ms "
	             "(durations look like 10s, 500ms, 1m, 1h30m)");
	expect_error(MINIMAL "    retry: {backoff: 25ms}\n",
	             "t.yaml:8:22: pools.p.retry.backoff: must be off or a mapping such as {base: "
	             "25ms, max: 250ms} (got \"25ms\")");
	expect_error(MINIMAL "    retry: {backoff: {max: 1s}}\n",
	             "t.yaml:8:22: pools.p.retry.backoff: needs base: (the first wait, such as "
	             "25ms)");
	expect_error(MINIMAL "    retry: {backoff: {base: 100ms, max: 50ms}}\n",
	             "t.yaml:8:41: pools.p.retry.backoff.max: must be at least base (100ms)");
	expect_error(MINIMAL "    retry: {backoff: {base: 2m}}\n",
	             "t.yaml:8:29: pools.p.retry.backoff.base: must be 1ms..1m (got 2m)");
	expect_error(MINIMAL "    retry: {budget: 120%}\n",
	             "t.yaml:8:21: pools.p.retry.budget: must be a percentage 0%..100% such as 50% "
	             "(got \"120%\")");
	expect_error(MINIMAL "    retry: {budget: {percent: 20%, floor: 3}}\n",
	             "t.yaml:8:36: pools.p.retry.budget.floor: unknown key (expected one of: "
	             "percent, min)");
	expect_error(MINIMAL "    retry: {replay_buffer: 1g}\n",
	             "t.yaml:8:28: pools.p.retry.replay_buffer: must be 0k..16m (got 1g)");
	expect_error(MINIMAL "    retry: {idempotency_key: maybe}\n",
	             "t.yaml:8:30: pools.p.retry.idempotency_key: must be true or false (got "
	             "\"maybe\")");
	expect_error(
	        MINIMAL "    retry: {attemps: 2}\n",
	        "t.yaml:8:13: pools.p.retry.attemps: unknown key (did you mean \"attempts\"?)");
	expect_error(
	        MINIMAL "    retry: 3\n",
	        "t.yaml:8:12: pools.p.retry: must be a mapping (key: value), not a single value");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_every_key),
	        cmocka_unit_test(test_variants),
	        cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
