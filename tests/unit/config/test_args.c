/* test_args.c — the file-less mode (fc_config_from_args) and the environment
 * overrides (fc_config_apply_env). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "config/config.h"
#include "fulcrum/fulcrum.h"

static char err[4096];

static void test_from_args(void **state)
{
	const char *to[] = {"http://127.0.0.1:3001", "http://127.0.0.1:3002", "http://[::1]:3003"};
	struct fc_config *cfg;
	const struct sockaddr_in *in;
	const struct fc_config_route *r;

	cfg = fc_config_from_args("127.0.0.1:8080", to, 3, NULL, 0, err, sizeof(err));
	if (!cfg)
		print_error("%s\n", err);
	assert_non_null(cfg);
	assert_int_equal(atomic_load(&cfg->refs), 1);
	assert_string_equal(cfg->source, "command line");
	assert_true(cfg->workers >= 1);
	assert_int_equal(cfg->shutdown_grace_ms, 10000);
	assert_int_equal(cfg->max_header_size, 16384);
	assert_string_equal(cfg->access_log, "stdout");
	assert_int_equal(cfg->n_listeners, 1);
	assert_string_equal(cfg->listeners[0].address, "127.0.0.1:8080");
	in = (const struct sockaddr_in *)&cfg->listeners[0].addr;
	assert_int_equal(ntohs(in->sin_port), 8080);
	assert_int_equal(cfg->n_pools, 1);
	assert_string_equal(cfg->pools[0].name, "default");
	assert_string_equal(cfg->pools[0].algorithm, "round_robin");
	assert_int_equal(cfg->pools[0].connect_timeout_ms, 3000);
	assert_false(cfg->pools[0].sticky.enabled);
	assert_string_equal(cfg->pools[0].sticky.cookie_name, "fulcrum_sticky");
	assert_int_equal(cfg->pools[0].n_servers, 3);
	assert_string_equal(cfg->pools[0].servers[0].name, "127.0.0.1:3001");
	assert_string_equal(cfg->pools[0].servers[2].name, "[::1]:3003");
	assert_int_equal(cfg->pools[0].servers[2].port, 3003);
	assert_int_equal(cfg->pools[0].servers[1].weight, 1);
	assert_int_equal(cfg->listeners[0].n_routes, 1);
	r = fc_config_route_match(&cfg->listeners[0], "any.host", 8, "/x", 2);
	assert_non_null(r);
	assert_ptr_equal(r->pool_ref, &cfg->pools[0]);
	assert_string_equal(r->path, "/");
	fc_config_unref(cfg);

	cfg = fc_config_from_args(":8080", to, 1, "round_robin", 4, err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(cfg->pools[0].algorithm, "round_robin");
	assert_int_equal(cfg->workers, 4);
	fc_config_unref(cfg);
}

static void test_from_args_errors(void **state)
{
	const char *to[] = {"http://127.0.0.1:3001", "http://127.0.0.1:3001", "ftp://x:1",
	                    "127.0.0.1:3004"};
	struct fc_config *cfg;
	char known[512], want[1024];

	fc_algorithm_list(known, sizeof(known));
	snprintf(want, sizeof(want),
	         "--workers: must be auto or 1..256 (got 300)\n"
	         "--algorithm: unknown algorithm \"fastest\" (known: %s)\n"
	         "--to[1]: duplicate upstream 127.0.0.1:3001 (same as --to[0])\n"
	         "--to[2]: must be http://host:port or https://host:port\n"
	         "--to[3]: must be http://host:port or https://host:port",
	         known);
	cfg = fc_config_from_args("127.0.0.1:8080", to, 4, "fastest", 300, err, sizeof(err));
	assert_null(cfg);
	assert_string_equal(err, want);

	cfg = fc_config_from_args("8080", to, 1, NULL, 0, err, sizeof(err));
	assert_null(cfg);
	assert_string_equal(err, "--listen: must be host:port, [ipv6]:port or :port; did you mean "
	                         "\":8080\"?");
	cfg = fc_config_from_args(NULL, to, 0, NULL, 0, err, sizeof(err));
	assert_null(cfg);
	assert_string_equal(err, "--to: at least one upstream is required (--to http://host:port)\n"
	                         "--listen: is required (e.g. --listen 127.0.0.1:8080)");
	cfg = fc_config_from_args("127.0.0.1:1", (const char *[]){"http://no-such.invalid:1"}, 1,
	                          NULL, 0, err, sizeof(err));
	assert_null(cfg);
	assert_ptr_equal(strstr(err, "--to[0]: cannot resolve host \"no-such.invalid\": "), err);
}

static void test_env(void **state)
{
	const char *to[] = {"http://127.0.0.1:3001"};
	struct fc_config *cfg =
	        fc_config_from_args("127.0.0.1:8080", to, 1, NULL, 2, err, sizeof(err));

	assert_non_null(cfg);
	unsetenv("FULCRUM_LOG_LEVEL");
	unsetenv("FULCRUM_WORKERS");
	assert_int_equal(fc_config_apply_env(cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->log_level, FC_LOG_INFO);
	assert_int_equal(cfg->workers, 2);

	setenv("FULCRUM_LOG_LEVEL", "debug", 1);
	setenv("FULCRUM_WORKERS", "7", 1);
	assert_int_equal(fc_config_apply_env(cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->log_level, FC_LOG_DEBUG);
	assert_int_equal(cfg->workers, 7);

	setenv("FULCRUM_WORKERS", "auto", 1);
	assert_int_equal(fc_config_apply_env(cfg, err, sizeof(err)), 0);
	assert_true(cfg->workers >= 1);

	/* empty counts as unset */
	setenv("FULCRUM_LOG_LEVEL", "", 1);
	setenv("FULCRUM_WORKERS", "", 1);
	cfg->workers = 3;
	assert_int_equal(fc_config_apply_env(cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->log_level, FC_LOG_DEBUG);
	assert_int_equal(cfg->workers, 3);

	/* a bad value changes nothing */
	setenv("FULCRUM_LOG_LEVEL", "loud", 1);
	setenv("FULCRUM_WORKERS", "1", 1);
	assert_int_equal(fc_config_apply_env(cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
	                    "FULCRUM_LOG_LEVEL: must be debug, info, warn or error (got \"loud\")");
	assert_int_equal(cfg->workers, 3);
	setenv("FULCRUM_LOG_LEVEL", "warn", 1);
	setenv("FULCRUM_WORKERS", "0", 1);
	assert_int_equal(fc_config_apply_env(cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "FULCRUM_WORKERS: must be auto or 1..256 (got \"0\")");
	assert_int_equal(cfg->log_level, FC_LOG_DEBUG);
	unsetenv("FULCRUM_LOG_LEVEL");
	unsetenv("FULCRUM_WORKERS");
	fc_config_unref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_from_args),
	        cmocka_unit_test(test_from_args_errors),
	        cmocka_unit_test(test_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
