/* test_config_health.c — the YAML loader's health:, passive: and
 * panic_threshold keys: defaults, every key, the server-over-pool merge and
 * every error message with its line:col. */
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

/* Lines 1-4 the listener, 5 "pools:", 6 "  p:", 7 the servers. */
#define LISTEN_OK "listeners:\n  - address: 127.0.0.1:8080\n    routes:\n      - pool: p\n"
#define P1        LISTEN_OK "pools:\n  p:\n"
#define S1        "    servers: [http://127.0.0.1:3001]\n"
#define MINIMAL   P1 S1

static void assert_default_checks(const struct fc_config_health *h, enum fc_health_type type)
{
	assert_int_equal(h->type, type);
	assert_string_equal(h->path, "/");
	assert_string_equal(h->method, "GET");
	assert_null(h->host);
	assert_int_equal(h->n_expect, 1);
	assert_int_equal(h->expect[0].lo, 200);
	assert_int_equal(h->expect[0].hi, 399);
	assert_null(h->body);
	assert_int_equal(h->n_lame_duck, 0);
	assert_int_equal(h->interval_ms, 2000);
	assert_int_equal(h->fast_interval_ms, 500);
	assert_int_equal(h->timeout_ms, 1000);
	assert_int_equal(h->rise, 2);
	assert_int_equal(h->fall, 3);
	assert_int_equal(h->port, 0);
}

static void assert_default_passive(const struct fc_config_passive *ps)
{
	assert_int_equal(ps->failures, 5);
	assert_int_equal(ps->eject_ms, 10000);
	assert_int_equal(ps->max_eject_ms, 300000);
	assert_int_equal(ps->max_ejected_pct, 50);
	assert_int_equal(ps->n_statuses, 3);
	assert_int_equal(ps->statuses[0], 502);
	assert_int_equal(ps->statuses[1], 503);
	assert_int_equal(ps->statuses[2], 504);
}

static void test_defaults(void **state)
{
	struct fc_config *cfg = load_ok(P1 "    servers: [http://127.0.0.1:3001, "
	                                   "http://127.0.0.1:3002]\n");
	const struct fc_config_pool *p = &cfg->pools[0];

	assert_default_checks(&p->health, FC_HEALTH_NONE);
	assert_default_checks(&p->servers[0].health, FC_HEALTH_NONE);
	assert_default_checks(&p->servers[1].health, FC_HEALTH_NONE);
	/* every server owns its copy */
	assert_ptr_not_equal(p->servers[0].health.path, p->health.path);
	assert_ptr_not_equal(p->servers[0].health.expect, p->servers[1].health.expect);
	assert_default_passive(&p->passive);
	assert_int_equal(p->panic_threshold_pct, 0);
	fc_config_unref(cfg);

	/* explicit nulls and off keep the defaults */
	cfg = load_ok(MINIMAL "    health:\n    passive:\n    panic_threshold:\n");
	assert_default_checks(&cfg->pools[0].health, FC_HEALTH_NONE);
	assert_default_passive(&cfg->pools[0].passive);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    health: off\n");
	assert_default_checks(&cfg->pools[0].health, FC_HEALTH_NONE);
	assert_default_checks(&cfg->pools[0].servers[0].health, FC_HEALTH_NONE);
	fc_config_unref(cfg);
}

static void test_empty_health_is_http(void **state)
{
	struct fc_config *cfg = load_ok(MINIMAL "    health: {}\n");

	assert_default_checks(&cfg->pools[0].health, FC_HEALTH_HTTP);
	assert_default_checks(&cfg->pools[0].servers[0].health, FC_HEALTH_HTTP);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    health: on\n");
	assert_default_checks(&cfg->pools[0].health, FC_HEALTH_HTTP);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    health: {type: tcp}\n");
	assert_default_checks(&cfg->pools[0].health, FC_HEALTH_TCP);
	assert_default_checks(&cfg->pools[0].servers[0].health, FC_HEALTH_TCP);
	fc_config_unref(cfg);
}

static void test_grpc(void **state)
{
	struct fc_config *cfg = load_ok(MINIMAL "    health: {type: grpc}\n");
	const struct fc_config_health *h = &cfg->pools[0].health;

	assert_int_equal(h->type, FC_HEALTH_GRPC);
	assert_null(h->service); /* "": the server as a whole */
	assert_null(h->host);
	assert_int_equal(h->interval_ms, 2000);
	assert_int_equal(h->timeout_ms, 1000);
	assert_int_equal(h->rise, 2);
	assert_int_equal(h->fall, 3);
	assert_int_equal(cfg->pools[0].servers[0].health.type, FC_HEALTH_GRPC);
	fc_config_unref(cfg);

	cfg = load_ok(P1 "    servers:\n"
	                 "      - http://127.0.0.1:9001\n"
	                 "      - {url: http://127.0.0.1:9002, health: {service: other.Svc}}\n"
	                 "      - {url: http://127.0.0.1:9003, health: {type: http, path: /h}}\n"
	                 "    health:\n"
	                 "      type: grpc\n"
	                 "      service: fulcrum.test.Echo\n"
	                 "      host: grpc.internal:50051\n"
	                 "      interval: 1s\n"
	                 "      timeout: 300ms\n"
	                 "      rise: 1\n"
	                 "      fall: 5\n"
	                 "      port: 50052\n");
	const struct fc_config_pool *p = &cfg->pools[0];
	h = &p->health;
	assert_int_equal(h->type, FC_HEALTH_GRPC);
	assert_string_equal(h->service, "fulcrum.test.Echo");
	assert_string_equal(h->host, "grpc.internal:50051");
	assert_int_equal(h->interval_ms, 1000);
	assert_int_equal(h->timeout_ms, 300);
	assert_int_equal(h->rise, 1);
	assert_int_equal(h->fall, 5);
	assert_int_equal(h->port, 50052);
	/* copies, and a server's own service */
	assert_string_equal(p->servers[0].health.service, "fulcrum.test.Echo");
	assert_ptr_not_equal(p->servers[0].health.service, h->service);
	assert_int_equal(p->servers[1].health.type, FC_HEALTH_GRPC);
	assert_string_equal(p->servers[1].health.service, "other.Svc");
	assert_int_equal(p->servers[1].health.port, 50052);
	/* a server may switch to http: the inherited service is no error there */
	assert_int_equal(p->servers[2].health.type, FC_HEALTH_HTTP);
	assert_string_equal(p->servers[2].health.path, "/h");
	fc_config_unref(cfg);

	cfg = load_ok(MINIMAL "    health: {type: grpc, service: \"\"}\n");
	assert_string_equal(cfg->pools[0].health.service, "");
	fc_config_unref(cfg);
}

static const char FULL[] = P1 "    servers:\n"
                              "      - http://127.0.0.1:9001\n"
                              "      - { url: \"http://127.0.0.1:9002\", health: { port: 8082, "
                              "path: /ready } }\n"
                              "      - { url: \"http://127.0.0.1:9003\", health: off }\n"
                              "    health:\n"
                              "      type: http\n"
                              "      path: /health?full=1\n"
                              "      method: HEAD\n"
                              "      host: api.internal:8080\n"
                              "      expect: [200, 204-299, \"300-304\"]\n"
                              "      body: \"ok\"\n"
                              "      lame_duck: [404, 420-429]\n"
                              "      interval: 3s\n"
                              "      fast_interval: 250ms\n"
                              "      timeout: 1500ms\n"
                              "      rise: 4\n"
                              "      fall: 100\n"
                              "      port: 8081\n"
                              "    passive:\n"
                              "      failures: 1000\n"
                              "      eject: 30s\n"
                              "      max_eject: 1h\n"
                              "      max_ejected: 100%\n"
                              "      statuses: [500, 599]\n"
                              "    panic_threshold: 25%\n";

static void test_every_key(void **state)
{
	struct fc_config *cfg = load_ok(FULL);
	const struct fc_config_pool *p = &cfg->pools[0];
	const struct fc_config_health *h = &p->health, *s;

	assert_int_equal(h->type, FC_HEALTH_HTTP);
	assert_string_equal(h->path, "/health?full=1");
	assert_string_equal(h->method, "HEAD");
	assert_string_equal(h->host, "api.internal:8080");
	assert_int_equal(h->n_expect, 3);
	assert_int_equal(h->expect[0].lo, 200);
	assert_int_equal(h->expect[0].hi, 200);
	assert_int_equal(h->expect[1].lo, 204);
	assert_int_equal(h->expect[1].hi, 299);
	assert_int_equal(h->expect[2].lo, 300);
	assert_int_equal(h->expect[2].hi, 304);
	assert_string_equal(h->body, "ok");
	assert_int_equal(h->n_lame_duck, 2);
	assert_int_equal(h->lame_duck[0].lo, 404);
	assert_int_equal(h->lame_duck[0].hi, 404);
	assert_int_equal(h->lame_duck[1].lo, 420);
	assert_int_equal(h->lame_duck[1].hi, 429);
	assert_int_equal(h->interval_ms, 3000);
	assert_int_equal(h->fast_interval_ms, 250);
	assert_int_equal(h->timeout_ms, 1500);
	assert_int_equal(h->rise, 4);
	assert_int_equal(h->fall, 100);
	assert_int_equal(h->port, 8081);

	/* servers[0] has no health: of its own: the pool's, as a copy */
	s = &p->servers[0].health;
	assert_int_equal(s->type, FC_HEALTH_HTTP);
	assert_string_equal(s->path, "/health?full=1");
	assert_ptr_not_equal(s->path, h->path);
	assert_string_equal(s->host, "api.internal:8080");
	assert_string_equal(s->body, "ok");
	assert_int_equal(s->n_lame_duck, 2);
	assert_int_equal(s->port, 8081);
	/* servers[1] overrides port and path only */
	s = &p->servers[1].health;
	assert_int_equal(s->type, FC_HEALTH_HTTP);
	assert_string_equal(s->path, "/ready");
	assert_int_equal(s->port, 8082);
	assert_string_equal(s->method, "HEAD");
	assert_string_equal(s->host, "api.internal:8080");
	assert_int_equal(s->n_expect, 3);
	assert_int_equal(s->expect[1].lo, 204);
	assert_string_equal(s->body, "ok");
	assert_int_equal(s->n_lame_duck, 2);
	assert_int_equal(s->interval_ms, 3000);
	assert_int_equal(s->fast_interval_ms, 250);
	assert_int_equal(s->timeout_ms, 1500);
	assert_int_equal(s->rise, 4);
	assert_int_equal(s->fall, 100);
	/* servers[2] is left out of the checks */
	assert_int_equal(p->servers[2].health.type, FC_HEALTH_NONE);
	assert_string_equal(p->servers[2].health.path, "/health?full=1");

	assert_int_equal(p->passive.failures, 1000);
	assert_int_equal(p->passive.eject_ms, 30000);
	assert_int_equal(p->passive.max_eject_ms, 3600000);
	assert_int_equal(p->passive.max_ejected_pct, 100);
	assert_int_equal(p->passive.n_statuses, 2);
	assert_int_equal(p->passive.statuses[0], 500);
	assert_int_equal(p->passive.statuses[1], 599);
	assert_int_equal(p->panic_threshold_pct, 25);
	fc_config_unref(cfg);
}

static void test_server_merge(void **state)
{
	struct fc_config *cfg;
	const struct fc_config_pool *p;

	/* a server turns on checks the pool does not have */
	cfg = load_ok(P1 "    servers:\n"
	                 "      - http://127.0.0.1:9001\n"
	                 "      - {url: http://127.0.0.1:9002, health: {port: 81}}\n");
	p = &cfg->pools[0];
	assert_int_equal(p->health.type, FC_HEALTH_NONE);
	assert_int_equal(p->servers[0].health.type, FC_HEALTH_NONE);
	assert_int_equal(p->servers[1].health.type, FC_HEALTH_HTTP);
	assert_int_equal(p->servers[1].health.port, 81);
	assert_string_equal(p->servers[1].health.path, "/");
	fc_config_unref(cfg);

	/* type is inherited (tcp), or switched by the server; lists replace, not append */
	cfg = load_ok(P1 "    servers:\n"
	                 "      - {url: http://127.0.0.1:9001, health: {rise: 1}}\n"
	                 "      - {url: http://127.0.0.1:9002, health: {type: http, expect: 204}}\n"
	                 "    health: {type: tcp, interval: 10s, fall: 7}\n");
	p = &cfg->pools[0];
	assert_int_equal(p->servers[0].health.type, FC_HEALTH_TCP);
	assert_int_equal(p->servers[0].health.rise, 1);
	assert_int_equal(p->servers[0].health.fall, 7);
	assert_int_equal(p->servers[1].health.type, FC_HEALTH_HTTP);
	assert_string_equal(p->servers[1].health.path, "/");
	assert_int_equal(p->servers[1].health.n_expect, 1);
	assert_int_equal(p->servers[1].health.expect[0].lo, 204);
	assert_int_equal(p->servers[1].health.expect[0].hi, 204);
	assert_int_equal(p->servers[1].health.interval_ms, 10000);
	assert_int_equal(p->servers[1].health.fall, 7);
	fc_config_unref(cfg);

	/* unset fast_interval and timeout follow the interval in force */
	cfg = load_ok(P1 "    servers:\n"
	                 "      - http://127.0.0.1:9001\n"
	                 "      - {url: http://127.0.0.1:9002, health: {interval: 400ms}}\n"
	                 "    health: {interval: 8s}\n");
	p = &cfg->pools[0];
	assert_int_equal(p->health.fast_interval_ms, 2000);
	assert_int_equal(p->health.timeout_ms, 1000);
	assert_int_equal(p->servers[0].health.fast_interval_ms, 2000);
	assert_int_equal(p->servers[1].health.interval_ms, 400);
	assert_int_equal(p->servers[1].health.fast_interval_ms, 100);
	assert_int_equal(p->servers[1].health.timeout_ms, 400);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    health: {interval: 3ms}\n");
	assert_int_equal(cfg->pools[0].health.fast_interval_ms, 1);
	assert_int_equal(cfg->pools[0].health.timeout_ms, 3);
	fc_config_unref(cfg);

	/* set ones are inherited as they are */
	cfg = load_ok(P1 "    servers:\n"
	                 "      - {url: http://127.0.0.1:9002, health: {interval: 5s}}\n"
	                 "    health: {interval: 2s, fast_interval: 1s, timeout: 2s}\n");
	p = &cfg->pools[0];
	assert_int_equal(p->servers[0].health.interval_ms, 5000);
	assert_int_equal(p->servers[0].health.fast_interval_ms, 1000);
	assert_int_equal(p->servers[0].health.timeout_ms, 2000);
	fc_config_unref(cfg);

	/* health: on at a server of a pool without checks, and health: {} */
	cfg = load_ok(P1 "    servers:\n"
	                 "      - {url: http://127.0.0.1:9001, health: on}\n"
	                 "      - {url: http://127.0.0.1:9002, health: {}}\n"
	                 "    health: {path: /hc}\n");
	p = &cfg->pools[0];
	assert_int_equal(p->servers[0].health.type, FC_HEALTH_HTTP);
	assert_string_equal(p->servers[0].health.path, "/hc");
	assert_string_equal(p->servers[1].health.path, "/hc");
	fc_config_unref(cfg);
}

static void test_passive_and_percentages(void **state)
{
	struct fc_config *cfg;

	cfg = load_ok(MINIMAL "    passive: off\n");
	assert_int_equal(cfg->pools[0].passive.failures, 0);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    passive: {failures: 0}\n");
	assert_int_equal(cfg->pools[0].passive.failures, 0);
	assert_int_equal(cfg->pools[0].passive.eject_ms, 10000);
	fc_config_unref(cfg);
	cfg = load_ok(MINIMAL "    passive: on\n");
	assert_default_passive(&cfg->pools[0].passive);
	fc_config_unref(cfg);
	/* a bare number is a percentage too; one status without brackets */
	cfg = load_ok(MINIMAL "    passive: {max_ejected: 0, statuses: 503}\n"
	                      "    panic_threshold: 100\n");
	assert_int_equal(cfg->pools[0].passive.max_ejected_pct, 0);
	assert_int_equal(cfg->pools[0].passive.n_statuses, 1);
	assert_int_equal(cfg->pools[0].passive.statuses[0], 503);
	assert_int_equal(cfg->pools[0].panic_threshold_pct, 100);
	fc_config_unref(cfg);
	/* an empty list: only connection-level faults count */
	cfg = load_ok(MINIMAL "    passive: {statuses: []}\n    panic_threshold: 0%\n");
	assert_int_equal(cfg->pools[0].passive.n_statuses, 0);
	assert_non_null(cfg->pools[0].passive.statuses);
	assert_int_equal(cfg->pools[0].panic_threshold_pct, 0);
	fc_config_unref(cfg);
	/* eject may equal max_eject */
	cfg = load_ok(MINIMAL "    passive: {eject: 1m, max_eject: 1m}\n");
	assert_int_equal(cfg->pools[0].passive.max_eject_ms, 60000);
	fc_config_unref(cfg);
}

static void test_fileless_defaults(void **state)
{
	const char *to[] = {"http://127.0.0.1:3001", "http://127.0.0.1:3002"};
	struct fc_config *cfg =
	        fc_config_from_args("127.0.0.1:8080", to, 2, NULL, 0, err, sizeof(err));

	assert_non_null(cfg);
	assert_default_checks(&cfg->pools[0].health, FC_HEALTH_NONE);
	assert_default_checks(&cfg->pools[0].servers[1].health, FC_HEALTH_NONE);
	assert_default_passive(&cfg->pools[0].passive);
	assert_int_equal(cfg->pools[0].panic_threshold_pct, 0);
	fc_config_unref(cfg);
}

#define H P1 S1 "    health:\n"

static void test_errors_health(void **state)
{
	/* line 8 is "    health:", line 9 its first key */
	expect_error(H "      rise: 0\n",
	             "t.yaml:9:13: pools.p.health.rise: must be 1..100 (got 0)");
	expect_error(H "      fall: 101\n",
	             "t.yaml:9:13: pools.p.health.fall: must be 1..100 (got 101)");
	expect_error(H "      port: 0\n",
	             "t.yaml:9:13: pools.p.health.port: must be 1..65535 (got 0)");
	expect_error(H "      interval: 2\n",
	             "t.yaml:9:17: pools.p.health.interval: needs a unit: write 2s or 2ms "
	             "(durations look like 10s, 500ms, 1m, 1h30m)");
	expect_error(H "      interval: 2h\n",
	             "t.yaml:9:17: pools.p.health.interval: must be 1ms..1h (got 2h)");
	expect_error(H "      timeout: 0\n",
	             "t.yaml:9:16: pools.p.health.timeout: must be 1ms..1h (got 0)");
	expect_error(H "      interval: 1s\n      timeout: 1500ms\n",
	             "t.yaml:10:16: pools.p.health.timeout: must be at most interval (1s)");
	expect_error(H "      timeout: 3s\n",
	             "t.yaml:9:16: pools.p.health.timeout: must be at most interval (2s)");
	expect_error(H "      fast_interval: 3s\n",
	             "t.yaml:9:22: pools.p.health.fast_interval: must be at most interval (2s)");
	expect_error(H "      typo: 1\n",
	             "t.yaml:9:7: pools.p.health.typo: unknown key (did you mean \"type\"?)");
	expect_error(H "      intervall: 1s\n",
	             "t.yaml:9:7: pools.p.health.intervall: unknown key (did you mean "
	             "\"interval\"?)");
	expect_error(H "      type: udp\n",
	             "t.yaml:9:13: pools.p.health.type: must be http, tcp or grpc (got \"udp\")");
	expect_error(H "      type: none\n",
	             "t.yaml:9:13: pools.p.health.type: must be http, tcp or grpc (to turn checks "
	             "off, write health: off)");
	expect_error(H "      path: health\n",
	             "t.yaml:9:13: pools.p.health.path: must be a path starting with /, without "
	             "spaces or control characters (got \"health\")");
	expect_error(H "      path: /a b\n",
	             "t.yaml:9:13: pools.p.health.path: must be a path starting with /, without "
	             "spaces or control characters (got \"/a b\")");
	expect_error(H "      method: \"GET /\"\n",
	             "t.yaml:9:15: pools.p.health.method: must be an HTTP method such as GET or "
	             "HEAD (got \"GET /\")");
	expect_error(H "      host: a b\n",
	             "t.yaml:9:13: pools.p.health.host: must be a host name (or host:port) "
	             "without spaces, quotes or / (got \"a b\")");
	expect_error(H "      body: \"\"\n",
	             "t.yaml:9:13: pools.p.health.body: must be 1..1024 characters (got \"\")");
	expect_error(H "      expect: [200, 299-200]\n",
	             "t.yaml:9:21: pools.p.health.expect[1]: must be low-high with low <= high "
	             "(got 299-200)");
	expect_error(H "      expect: 600\n",
	             "t.yaml:9:15: pools.p.health.expect: must be 100..599 (got 600)");
	expect_error(H "      expect: \"99-200\"\n",
	             "t.yaml:9:15: pools.p.health.expect: must be 100..599 (got 99-200)");
	expect_error(H "      expect: [2xx]\n",
	             "t.yaml:9:16: pools.p.health.expect[0]: must be a status such as 200 or a "
	             "range such as 200-399 (got \"2xx\")");
	expect_error(H "      expect: []\n",
	             "t.yaml:9:15: pools.p.health.expect: needs at least one status or range "
	             "(such as 200-399)");
	expect_error(H "      expect: {200: ok}\n",
	             "t.yaml:9:15: pools.p.health.expect: must be a status, a range such as "
	             "200-399, or a list of them");
	expect_error(H "      lame_duck: [[503]]\n",
	             "t.yaml:9:19: pools.p.health.lame_duck[0]: must be a status or a range such "
	             "as 200-399, not a list");
	/* http-only keys with a tcp check */
	expect_error(H "      type: tcp\n      body: ok\n",
	             "t.yaml:10:7: pools.p.health.body: only used with type http (this check is "
	             "tcp)");
	expect_error(H "      type: tcp\n      path: /\n",
	             "t.yaml:10:7: pools.p.health.path: only used with type http (this check is "
	             "tcp)");
	expect_error(H "      type: tcp\n      lame_duck: [503]\n",
	             "t.yaml:10:7: pools.p.health.lame_duck: only used with type http (this check "
	             "is tcp)");
	expect_error(H "      type: tcp\n      host: a.example\n",
	             "t.yaml:10:7: pools.p.health.host: only used with type http or grpc (this "
	             "check is tcp)");
	/* grpc: the HTTP request keys are refused, service only goes with grpc */
	expect_error(H "      type: grpc\n      path: /health\n",
	             "t.yaml:10:7: pools.p.health.path: only used with type http (this check is "
	             "grpc)");
	expect_error(H "      type: grpc\n      method: GET\n",
	             "t.yaml:10:7: pools.p.health.method: only used with type http (this check is "
	             "grpc)");
	expect_error(H "      type: grpc\n      expect: 200\n",
	             "t.yaml:10:7: pools.p.health.expect: only used with type http (this check is "
	             "grpc)");
	expect_error(H "      type: grpc\n      body: ok\n",
	             "t.yaml:10:7: pools.p.health.body: only used with type http (this check is "
	             "grpc)");
	expect_error(H "      type: grpc\n      lame_duck: [404]\n",
	             "t.yaml:10:7: pools.p.health.lame_duck: only used with type http (this check "
	             "is grpc)");
	expect_error(H "      service: foo.Bar\n",
	             "t.yaml:9:7: pools.p.health.service: only used with type grpc (this check is "
	             "http)");
	expect_error(H "      type: tcp\n      service: foo.Bar\n",
	             "t.yaml:10:7: pools.p.health.service: only used with type grpc (this check is "
	             "tcp)");
	expect_error(H "      type: grpc\n      service: \"foo Bar\"\n",
	             "t.yaml:10:16: pools.p.health.service: must be a gRPC service name of at most "
	             "1024 characters, without spaces or control characters (got \"foo Bar\")");
	expect_error(H "      type: grpc\n      service: [a]\n",
	             "t.yaml:10:16: pools.p.health.service: must be a gRPC service name, not a "
	             "list");
	expect_error(H "      type: gRPC\n",
	             "t.yaml:9:13: pools.p.health.type: must be http, tcp or grpc (got \"gRPC\")");
	expect_error(P1 S1 "    health: sometimes\n",
	             "t.yaml:8:13: pools.p.health: must be off, on, or a mapping (type, path, "
	             "interval, ...) (got \"sometimes\")");
	expect_error(P1 S1 "    health: [http]\n",
	             "t.yaml:8:13: pools.p.health: must be a mapping (key: value), not a list");
}

#define SV P1 "    servers:\n"

static void test_errors_server_health(void **state)
{
	expect_error(SV "      - {url: http://127.0.0.1:1, health: {rise: 0}}\n",
	             "t.yaml:8:50: pools.p.servers[0].health.rise: must be 1..100 (got 0)");
	expect_error(SV "      - {url: http://127.0.0.1:1, health: {prot: 81}}\n",
	             "t.yaml:8:44: pools.p.servers[0].health.prot: unknown key (did you mean "
	             "\"port\"?)");
	expect_error(SV "      - {url: http://127.0.0.1:1, heath: off}\n",
	             "t.yaml:8:35: pools.p.servers[0].heath: unknown key (did you mean "
	             "\"health\"?)");
	/* the merged result is checked, at the key this server set */
	expect_error(SV "      - {url: http://127.0.0.1:1, health: {interval: 500ms}}\n"
	                "    health: {timeout: 1s}\n",
	             "t.yaml:8:54: pools.p.servers[0].health.interval: must be at least timeout "
	             "(1s)");
	expect_error(SV "      - {url: http://127.0.0.1:1, health: {path: /x}}\n"
	                "    health: {type: tcp}\n",
	             "t.yaml:8:44: pools.p.servers[0].health.path: only used with type http (this "
	             "check is tcp)");
	/* a pool-level error is reported once, not again for each server */
	{
		struct fc_config *cfg =
		        load(SV "      - {url: http://127.0.0.1:1, health: {rise: 1}}\n"
		                "    health: {interval: 1s, timeout: 2s}\n");

		assert_null(cfg);
		assert_string_equal(err, "t.yaml:9:37: pools.p.health.timeout: must be at most "
		                         "interval (1s)");
	}
}

#define PS P1 S1 "    passive:\n"

static void test_errors_passive(void **state)
{
	expect_error(PS "      failures: 1001\n",
	             "t.yaml:9:17: pools.p.passive.failures: must be 0..1000 (got 1001)");
	expect_error(PS "      eject: 0\n",
	             "t.yaml:9:14: pools.p.passive.eject: must be 1ms..1d (got 0)");
	/* eject against the default max_eject, and both given: blamed on max_eject */
	expect_error(PS "      eject: 10m\n",
	             "t.yaml:9:14: pools.p.passive.eject: must be at most max_eject (5m)");
	expect_error(PS "      eject: 10m\n      max_eject: 5m\n",
	             "t.yaml:10:18: pools.p.passive.max_eject: must be at least eject (10m)");
	expect_error(PS "      max_eject: 5s\n",
	             "t.yaml:9:18: pools.p.passive.max_eject: must be at least eject (10s)");
	expect_error(PS "      max_ejected: 101%\n",
	             "t.yaml:9:20: pools.p.passive.max_ejected: must be a percentage 0%..100% such "
	             "as 50% (got \"101%\")");
	expect_error(PS "      max_ejected: half\n",
	             "t.yaml:9:20: pools.p.passive.max_ejected: must be a percentage 0%..100% such "
	             "as 50% (got \"half\")");
	expect_error(PS "      statuses: [502, 404]\n",
	             "t.yaml:9:23: pools.p.passive.statuses[1]: must be a status 500..599 (got "
	             "\"404\")");
	expect_error(PS "      statuses: [502, 502]\n",
	             "t.yaml:9:23: pools.p.passive.statuses[1]: duplicate status 502");
	expect_error(PS "      statuses: [500-599]\n",
	             "t.yaml:9:18: pools.p.passive.statuses[0]: must be a status 500..599 (got "
	             "\"500-599\")");
	expect_error(PS "      failure: 3\n",
	             "t.yaml:9:7: pools.p.passive.failure: unknown key (did you mean "
	             "\"failures\"?)");
	expect_error(P1 S1 "    passive: sometimes\n",
	             "t.yaml:8:14: pools.p.passive: must be off, on, or a mapping (failures, "
	             "eject, max_eject, max_ejected, statuses) (got \"sometimes\")");
	expect_error(P1 S1 "    panic_threshold: 50.5%\n",
	             "t.yaml:8:22: pools.p.panic_threshold: must be a percentage 0%..100% such as "
	             "50% (got \"50.5%\")");
	expect_error(P1 S1 "    panic_treshold: 50%\n",
	             "t.yaml:8:5: pools.p.panic_treshold: unknown key (did you mean "
	             "\"panic_threshold\"?)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_empty_health_is_http),
	        cmocka_unit_test(test_every_key),
	        cmocka_unit_test(test_grpc),
	        cmocka_unit_test(test_server_merge),
	        cmocka_unit_test(test_passive_and_percentages),
	        cmocka_unit_test(test_fileless_defaults),
	        cmocka_unit_test(test_errors_health),
	        cmocka_unit_test(test_errors_server_health),
	        cmocka_unit_test(test_errors_passive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
