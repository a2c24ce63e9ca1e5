/* test_config_rate_limit.c — the YAML loader's rate_limits: and the
 * rate_limit: of routes and pools: defaults (burst from the rate), every
 * key form, and each error with its line:col. */
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

/* Line 1 "rate_limits:", 2 the limit's name, 3.. its keys; the listener and
 * pool follow (TAIL). */
#define TAIL                                                                                       \
	"listeners:\n  - address: 127.0.0.1:8080\n    routes:\n      - pool: p\n"                  \
	"pools:\n  p:\n    servers: [http://127.0.0.1:3001]\n"
#define ONE(body) "rate_limits:\n  per_client:\n" body TAIL

static void test_defaults(void **state)
{
	(void)state;
	struct fc_config *cfg = load_ok(ONE("    rate: 100/s\n"));
	assert_int_equal(cfg->n_rate_limits, 1);
	const struct fc_config_rate_limit *rl = &cfg->rate_limits[0];
	assert_string_equal(rl->name, "per_client");
	assert_int_equal(rl->key, FC_RATE_KEY_CLIENT_IP);
	assert_null(rl->key_name);
	assert_int_equal(rl->rate, 100);
	assert_int_equal(rl->period_ms, 1000);
	assert_int_equal(rl->burst, 100);
	assert_int_equal(rl->max_keys, 100000);
	assert_int_equal(rl->n_exempt, 0);
	assert_int_equal(rl->at.line, 2);
	/* defined but attached nowhere */
	assert_null(cfg->pools[0].rate_limit);
	assert_null(cfg->listeners[0].routes[0].rate_limit);
	assert_ptr_equal(fc_config_rate_limit_find(cfg, "per_client"), rl);
	assert_null(fc_config_rate_limit_find(cfg, "other"));
	fc_config_unref(cfg);
}

static void test_default_burst_rounds_up(void **state)
{
	(void)state;
	static const struct {
		const char *rate;
		uint32_t rate_n, period_ms, burst;
	} cases[] = {
	        {"30/m", 30, 60000, 1},
	        {"90/m", 90, 60000, 2},
	        {"600/m", 600, 60000, 10},
	        {"1/h", 1, 3600000, 1},
	        {"7200/h", 7200, 3600000, 2},
	        {"1/s", 1, 1000, 1},
	        {"1000000/s", 1000000, 1000, 1000000},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024];
		snprintf(text, sizeof(text), ONE("    rate: %s\n"), cases[i].rate);
		struct fc_config *cfg = load_ok(text);
		const struct fc_config_rate_limit *rl = &cfg->rate_limits[0];
		assert_int_equal(rl->rate, cases[i].rate_n);
		assert_int_equal(rl->period_ms, cases[i].period_ms);
		assert_int_equal(rl->burst, cases[i].burst);
		fc_config_unref(cfg);
	}
}

static void test_every_key(void **state)
{
	(void)state;
	struct fc_config *cfg = load_ok("rate_limits:\n"
	                                "  api:\n"
	                                "    key: header:X-Api-Key\n"
	                                "    rate: 1000/h\n"
	                                "    burst: 50\n"
	                                "    exempt: [10.0.0.0/8, 192.168.1.7, \"fd00::/8\"]\n"
	                                "    max_keys: 5000\n"
	                                "  session:\n"
	                                "    key: cookie:session\n"
	                                "    rate: 10/s\n"
	                                "    exempt: 127.0.0.1/32\n"
	                                "  ip: {key: client_ip, rate: 5/m}\n"
	                                "listeners:\n"
	                                "  - address: 127.0.0.1:8080\n"
	                                "    routes:\n"
	                                "      - { path: /api, pool: p, rate_limit: api }\n"
	                                "      - { path: /, pool: q }\n"
	                                "pools:\n"
	                                "  p:\n"
	                                "    servers: [http://127.0.0.1:3001]\n"
	                                "    rate_limit: ip\n"
	                                "  q:\n"
	                                "    servers: [http://127.0.0.1:3002]\n");
	assert_int_equal(cfg->n_rate_limits, 3);
	const struct fc_config_rate_limit *api = &cfg->rate_limits[0], *ses = &cfg->rate_limits[1],
	                                  *ip = &cfg->rate_limits[2];
	assert_int_equal(api->key, FC_RATE_KEY_HEADER);
	assert_string_equal(api->key_name, "X-Api-Key");
	assert_int_equal(api->rate, 1000);
	assert_int_equal(api->period_ms, 3600000);
	assert_int_equal(api->burst, 50);
	assert_int_equal(api->max_keys, 5000);
	assert_int_equal(api->n_exempt, 3);
	assert_string_equal(api->exempt[0], "10.0.0.0/8");
	assert_string_equal(api->exempt[1], "192.168.1.7");
	assert_string_equal(api->exempt[2], "fd00::/8");
	assert_int_equal(ses->key, FC_RATE_KEY_COOKIE);
	assert_string_equal(ses->key_name, "session");
	assert_int_equal(ses->burst, 10);
	assert_int_equal(ses->n_exempt, 1);
	assert_string_equal(ses->exempt[0], "127.0.0.1/32");
	assert_int_equal(ip->key, FC_RATE_KEY_CLIENT_IP);
	assert_int_equal(ip->burst, 1);
	const struct fc_config_listener *l = &cfg->listeners[0];
	/* routes keep their order: /api first */
	assert_ptr_equal(l->routes[0].rate_limit, api);
	assert_null(l->routes[1].rate_limit);
	assert_ptr_equal(cfg->pools[0].rate_limit, ip);
	assert_null(cfg->pools[1].rate_limit);
	fc_config_unref(cfg);
}

static void test_names_defined_later_are_found(void **state)
{
	(void)state;
	/* rate_limits written after listeners and pools */
	struct fc_config *cfg =
	        load_ok("listeners:\n"
	                "  - address: 127.0.0.1:8080\n"
	                "    routes:\n"
	                "      - { pool: p, rate_limit: late }\n"
	                "pools:\n"
	                "  p: {servers: [http://127.0.0.1:3001], rate_limit: late}\n"
	                "rate_limits:\n"
	                "  late: {rate: 1/s}\n");
	assert_ptr_equal(cfg->listeners[0].routes[0].rate_limit, &cfg->rate_limits[0]);
	assert_ptr_equal(cfg->pools[0].rate_limit, &cfg->rate_limits[0]);
	fc_config_unref(cfg);
}

static void test_unknown_names(void **state)
{
	(void)state;
	expect_error("rate_limits:\n"
	             "  a: {rate: 1/s}\n"
	             "  b: {rate: 2/s}\n"
	             "listeners:\n"
	             "  - address: 127.0.0.1:8080\n"
	             "    routes:\n"
	             "      - { pool: p, rate_limit: nope }\n"
	             "pools:\n"
	             "  p: {servers: [http://127.0.0.1:3001]}\n",
	             "t.yaml:7:32: listeners[0].routes[0].rate_limit: unknown rate limit \"nope\" "
	             "(rate_limits: a, b)");
	expect_error("listeners:\n"
	             "  - address: 127.0.0.1:8080\n"
	             "    routes:\n"
	             "      - pool: p\n"
	             "pools:\n"
	             "  p:\n"
	             "    servers: [http://127.0.0.1:3001]\n"
	             "    rate_limit: per_client\n",
	             "t.yaml:8:17: pools.p.rate_limit: unknown rate limit \"per_client\" (no "
	             "rate_limits are defined)");
}

static void test_rate_errors(void **state)
{
	(void)state;
	expect_error(ONE("    rate: 100\n"),
	             "t.yaml:3:11: rate_limits.per_client.rate: must be a count per second, "
	             "minute or hour: 100/s, 30/m, 1000/h (got \"100\")");
	expect_error(ONE("    rate: 100/d\n"),
	             "t.yaml:3:11: rate_limits.per_client.rate: must be a count per second, "
	             "minute or hour: 100/s, 30/m, 1000/h (got \"100/d\")");
	expect_error(ONE("    rate: x/s\n"),
	             "t.yaml:3:11: rate_limits.per_client.rate: must be a count per second, "
	             "minute or hour: 100/s, 30/m, 1000/h (got \"x/s\")");
	expect_error(ONE("    rate: 0/s\n"),
	             "t.yaml:3:11: rate_limits.per_client.rate: the count must be 1..1000000 (got "
	             "0/s)");
	expect_error(ONE("    rate: 1000001/m\n"),
	             "t.yaml:3:11: rate_limits.per_client.rate: the count must be 1..1000000 (got "
	             "1000001/m)");
	expect_error(ONE("    burst: 5\n"),
	             "t.yaml:3:5: rate_limits.per_client.rate: is required (such as 100/s, 30/m or "
	             "1000/h)");
	expect_error("rate_limits:\n  per_client:\n" TAIL,
	             "t.yaml:2:3: rate_limits.per_client: a rate limit needs a rate (rate: 100/s)");
}

static void test_other_errors(void **state)
{
	(void)state;
	expect_error(ONE("    rate: 1/s\n    key: ip\n"),
	             "t.yaml:4:10: rate_limits.per_client.key: must be client_ip, header:NAME or "
	             "cookie:NAME (got \"ip\")");
	expect_error(ONE("    rate: 1/s\n    key: \"header:X Y\"\n"),
	             "t.yaml:4:10: rate_limits.per_client.key: must name a header: letters, digits "
	             "and !#$%&'*+-.^_`|~ (got \"header:X Y\")");
	expect_error(ONE("    rate: 1/s\n    key: \"cookie:\"\n"),
	             "t.yaml:4:10: rate_limits.per_client.key: must name a cookie: letters, digits "
	             "and !#$%&'*+-.^_`|~ (got \"cookie:\")");
	expect_error(ONE("    rate: 1/s\n    burst: 0\n"),
	             "t.yaml:4:12: rate_limits.per_client.burst: must be 1..1000000 (got 0)");
	expect_error(
	        ONE("    rate: 1/s\n    max_keys: 10\n"),
	        "t.yaml:4:15: rate_limits.per_client.max_keys: must be 100..16777216 (got 10)");
	expect_error(ONE("    rate: 1/s\n    exempt: [10.0.0.0/8, 300.1.1.1]\n"),
	             "t.yaml:4:26: rate_limits.per_client.exempt[1]: must be an address or CIDR "
	             "such as 10.0.0.0/8, 127.0.0.1 or fd00::/8 (got \"300.1.1.1\")");
	expect_error(
	        ONE("    rate: 1/s\n    burts: 3\n"),
	        "t.yaml:4:5: rate_limits.per_client.burts: unknown key (did you mean \"burst\"?)");
	expect_error("rate_limits:\n  a: {rate: 1/s}\n  a: {rate: 2/s}\n" TAIL,
	             "t.yaml:3:3: rate_limits.a: duplicate rate limit name (first at line 2)");
	expect_error("rate_limits:\n  \"a b\": {rate: 1/s}\n" TAIL,
	             "t.yaml:2:3: rate_limits.a b: rate limit names may use letters, digits, '_', "
	             "'-' and '.' (1..64)");
	expect_error("rate_limits: [a]\n" TAIL,
	             "t.yaml:1:14: rate_limits: must be a mapping of limit name to limit "
	             "(per_client: {rate: 100/s}), not a list");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_default_burst_rounds_up),
	        cmocka_unit_test(test_every_key),
	        cmocka_unit_test(test_names_defined_later_are_found),
	        cmocka_unit_test(test_unknown_names),
	        cmocka_unit_test(test_rate_errors),
	        cmocka_unit_test(test_other_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
