/* test_config_cluster.c — the YAML loader's cluster.redis and the scope and
 * on_redis_down of rate_limits (docs/configuration.md): defaults, the
 * password read at load, FULCRUM_REDIS_ADDRESS, and each error with its
 * line:col. */
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

#include "config/config.h"
#include "helpers.h"

#define TAIL                                                                                       \
	"listeners:\n  - address: 127.0.0.1:8080\n    routes:\n      - pool: p\n"                  \
	"pools:\n  p:\n    servers: [http://127.0.0.1:3001]\n"

static void test_off_by_default(void **state)
{
	(void)state;
	struct fc_config *cfg = load_ok("rate_limits:\n  g: {rate: 5/s}\n" TAIL);
	assert_false(cfg->cluster.redis.enabled);
	assert_null(cfg->cluster.redis.address);
	assert_int_equal(cfg->rate_limits[0].scope, FC_RATE_SCOPE_LOCAL);
	assert_int_equal(cfg->rate_limits[0].on_redis_down, FC_RATE_DOWN_LOCAL);
	fc_config_unref(cfg);
}

static void test_defaults(void **state)
{
	(void)state;
	struct fc_config *cfg = load_ok("cluster:\n  redis: {address: 127.0.0.1:6380}\n"
	                                "rate_limits:\n  g: {rate: 5/s, scope: global}\n" TAIL);
	const struct fc_config_redis *rd = &cfg->cluster.redis;
	assert_true(rd->enabled);
	assert_string_equal(rd->address, "127.0.0.1:6380");
	assert_string_equal(rd->host, "127.0.0.1");
	assert_int_equal(rd->port, 6380);
	assert_null(rd->password_file);
	assert_null(rd->password);
	assert_int_equal(rd->timeout_ms, 50);
	assert_string_equal(rd->key_prefix, "fulcrum:");
	assert_int_equal(rd->at.line, 2);
	assert_int_equal(cfg->rate_limits[0].scope, FC_RATE_SCOPE_GLOBAL);
	assert_int_equal(cfg->rate_limits[0].on_redis_down, FC_RATE_DOWN_LOCAL);
	fc_config_unref(cfg);
}

static void test_every_key(void **state)
{
	(void)state;
	char path[] = "/tmp/fulcrum-test-redis-pw-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret\r\nignored\n", 16), 16);
	close(fd);
	char text[1024];
	snprintf(text, sizeof(text),
	         "cluster:\n  redis:\n    address: \"[::1]:7000\"\n    password_file: %s\n"
	         "    timeout: 250ms\n    key_prefix: \"app1:\"\n"
	         "rate_limits:\n  a: {rate: 5/s, scope: global, on_redis_down: allow}\n"
	         "  b: {rate: 5/s, scope: global, on_redis_down: deny}\n"
	         "  c: {rate: 5/s, scope: local}\n" TAIL,
	         path);
	struct fc_config *cfg = load_ok(text);
	unlink(path);
	const struct fc_config_redis *rd = &cfg->cluster.redis;
	assert_string_equal(rd->host, "::1");
	assert_int_equal(rd->port, 7000);
	assert_string_equal(rd->password_file, path);
	assert_string_equal(rd->password, "s3cret"); /* the first line */
	assert_int_equal(rd->timeout_ms, 250);
	assert_string_equal(rd->key_prefix, "app1:");
	assert_int_equal(cfg->rate_limits[0].on_redis_down, FC_RATE_DOWN_ALLOW);
	assert_int_equal(cfg->rate_limits[1].on_redis_down, FC_RATE_DOWN_DENY);
	assert_int_equal(cfg->rate_limits[2].scope, FC_RATE_SCOPE_LOCAL);
	fc_config_unref(cfg);
}

static void test_env_address(void **state)
{
	(void)state;
	struct fc_config *cfg = load_ok("cluster:\n  redis: {address: 127.0.0.1:6380}\n" TAIL);
	setenv("FULCRUM_REDIS_ADDRESS", "127.0.0.2:7001", 1);
	assert_int_equal(fc_config_apply_env(cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->cluster.redis.address, "127.0.0.2:7001");
	assert_string_equal(cfg->cluster.redis.host, "127.0.0.2");
	assert_int_equal(cfg->cluster.redis.port, 7001);
	setenv("FULCRUM_REDIS_ADDRESS", "127.0.0.2", 1);
	assert_int_equal(fc_config_apply_env(cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "FULCRUM_REDIS_ADDRESS: must be host:port"));
	assert_int_equal(cfg->cluster.redis.port, 7001); /* unchanged */
	fc_config_unref(cfg);
	/* nothing to override without cluster.redis */
	cfg = load_ok(TAIL);
	setenv("FULCRUM_REDIS_ADDRESS", "127.0.0.2:7001", 1);
	assert_int_equal(fc_config_apply_env(cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no cluster.redis section"));
	unsetenv("FULCRUM_REDIS_ADDRESS");
	fc_config_unref(cfg);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("cluster: 5\n" TAIL,
	             "t.yaml:1:10: cluster: must be a mapping (redis: {address: "
	             "127.0.0.1:6379}), not a single value");
	expect_error("cluster:\n  other: 1\n" TAIL,
	             "t.yaml:2:3: cluster.other: unknown key (expected one of: redis)");
	expect_error("cluster:\n  redis: {timeout: 5ms}\n" TAIL,
	             "t.yaml:2:10: cluster.redis.address: is required (such as 127.0.0.1:6379)");
	expect_error("cluster:\n  redis: {address: 127.0.0.1}\n" TAIL,
	             "t.yaml:2:20: cluster.redis.address: must be host:port or [ipv6]:port (got "
	             "\"127.0.0.1\")");
	expect_error("cluster:\n  redis: {address: 127.0.0.1:6379, timeout: 0ms}\n" TAIL,
	             "t.yaml:2:45: cluster.redis.timeout: must be 1ms..1m (got 0ms)");
	expect_error("cluster:\n  redis: {address: 127.0.0.1:6379, key_prefix: \"a b\"}\n" TAIL,
	             "t.yaml:2:48: cluster.redis.key_prefix: must be at most 64 printable "
	             "characters without spaces (got \"a b\")");
	expect_error("cluster:\n  redis: {address: 127.0.0.1:6379, bogus: 1}\n" TAIL,
	             "t.yaml:2:36: cluster.redis.bogus: unknown key (expected one of: address, "
	             "password_file, timeout, key_prefix)");
	expect_error(
	        "cluster:\n  redis: {address: 127.0.0.1:6379, password_file: /nonexistent}\n" TAIL,
	        "t.yaml:2:51: cluster.redis.password_file: cannot read /nonexistent: No such "
	        "file or directory");
	expect_error("rate_limits:\n  g: {rate: 1/s, scope: glob}\n" TAIL,
	             "t.yaml:2:25: rate_limits.g.scope: must be local or global (got \"glob\")");
	expect_error("rate_limits:\n  g: {rate: 1/s, scope: global}\n" TAIL,
	             "t.yaml:2:25: rate_limits.g.scope: global needs cluster.redis (cluster: "
	             "{redis: {address: host:port}}): the instances share their counts through it");
	expect_error("cluster:\n  redis: {address: 127.0.0.1:6379}\n"
	             "rate_limits:\n  g: {rate: 1/s, scope: global, on_redis_down: maybe}\n" TAIL,
	             "t.yaml:4:48: rate_limits.g.on_redis_down: must be local, allow or deny (got "
	             "\"maybe\")");
	expect_error("rate_limits:\n  g: {rate: 1/s, on_redis_down: deny}\n" TAIL,
	             "t.yaml:2:33: rate_limits.g.on_redis_down: only used with scope: global");
}

static void test_empty_password_file(void **state)
{
	(void)state;
	char path[] = "/tmp/fulcrum-test-redis-pw-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char text[512], want[512];
	snprintf(text, sizeof(text),
	         "cluster:\n  redis: {address: 127.0.0.1:6379, password_file: %s}\n" TAIL, path);
	snprintf(want, sizeof(want),
	         "t.yaml:2:51: cluster.redis.password_file: %s: the file is empty (its first line "
	         "is the password)",
	         path);
	expect_error(text, want);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_off_by_default), cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_every_key),      cmocka_unit_test(test_env_address),
	        cmocka_unit_test(test_errors),         cmocka_unit_test(test_empty_password_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
