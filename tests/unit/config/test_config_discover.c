/* test_config_discover.c — the keys of docs/cluster.md's "Servers from DNS"
 * (pools.*.discover, pools.*.resolve) and a server's backup: their defaults
 * and their errors. */
#include "helpers.h"

#define HEAD                                                                                       \
	"listeners:\n"                                                                             \
	"  - address: 127.0.0.1:8080\n"                                                            \
	"    routes: [{pool: app}]\n"                                                              \
	"pools:\n"                                                                                 \
	"  app:\n"

static void test_defaults(void **state)
{
	struct fc_config *cfg = load_ok(HEAD "    discover: {dns: _http._tcp.app.example.com}\n");
	const struct fc_config_pool *p = &cfg->pools[0];
	assert_int_equal(p->n_servers, 0); /* servers: is not needed */
	assert_int_equal(p->discover.type, FC_DISCOVER_SRV);
	assert_string_equal(p->discover.name, "_http._tcp.app.example.com");
	assert_int_equal(p->discover.n_resolvers, 0); /* /etc/resolv.conf */
	assert_int_equal(p->discover.interval_ms, 10000);
	assert_int_equal(p->discover.timeout_ms, 2000);
	assert_false(p->discover.tls);
	assert_int_equal(p->discover.at.line, 6);
	fc_config_unref(cfg);
	cfg = load_ok(HEAD "    servers: [http://127.0.0.1:9000]\n");
	assert_int_equal(cfg->pools[0].discover.type, FC_DISCOVER_NONE);
	assert_int_equal(cfg->pools[0].servers[0].tier, 0);
	fc_config_unref(cfg);
}

static void test_every_key(void **state)
{
	struct fc_config *cfg =
	        load_ok(HEAD "    servers:\n"
	                     "      - http://127.0.0.1:9000\n"
	                     "      - {url: http://127.0.0.1:9001, backup: true}\n"
	                     "    discover:\n"
	                     "      dns: app.internal\n"
	                     "      type: AAAA\n"
	                     "      resolvers: [10.0.0.2, 10.0.0.3:5353, \"[fd00::2]\", "
	                     "\"[::1]:8600\"]\n"
	                     "      interval: 30s\n"
	                     "      timeout: 500ms\n"
	                     "      port: 8443\n"
	                     "      scheme: https\n");
	const struct fc_config_pool *p = &cfg->pools[0];
	assert_int_equal(p->n_servers, 2);
	assert_int_equal(p->servers[0].tier, 0);
	assert_int_equal(p->servers[1].tier, 1);
	assert_int_equal(p->discover.type, FC_DISCOVER_AAAA);
	assert_int_equal(p->discover.n_resolvers, 4);
	assert_string_equal(p->discover.resolvers[0], "10.0.0.2:53");
	assert_string_equal(p->discover.resolvers[1], "10.0.0.3:5353");
	assert_string_equal(p->discover.resolvers[2], "[fd00::2]:53");
	assert_string_equal(p->discover.resolvers[3], "[::1]:8600");
	assert_int_equal(p->discover.interval_ms, 30000);
	assert_int_equal(p->discover.timeout_ms, 500);
	assert_int_equal(p->discover.port, 8443);
	assert_true(p->discover.tls);
	assert_true(p->has_tls_servers); /* a TLS context for what DNS brings */
	fc_config_unref(cfg);
	/* a and aaaa: port 80, 443 with https */
	cfg = load_ok(HEAD "    discover: {dns: app.internal, type: a}\n");
	assert_int_equal(cfg->pools[0].discover.type, FC_DISCOVER_A);
	assert_int_equal(cfg->pools[0].discover.port, 80);
	fc_config_unref(cfg);
	cfg = load_ok(HEAD "    discover: {dns: app.internal, type: a, scheme: https}\n");
	assert_int_equal(cfg->pools[0].discover.port, 443);
	fc_config_unref(cfg);
}

static void test_errors(void **state)
{
	expect_error(HEAD "    discover: {type: a}\n",
	             "t.yaml:6:15: pools.app.discover.dns: is required: the name to look up, e.g. "
	             "_http._tcp.app.example.com");
	expect_error(HEAD "    discover: {dns: \"a b\"}\n",
	             "t.yaml:6:21: pools.app.discover.dns: must be a DNS name: labels of letters, "
	             "digits, '-' and '_' joined by dots (got \"a b\")");
	expect_error(HEAD "    discover: {dns: a..b}\n",
	             "t.yaml:6:21: pools.app.discover.dns: must be a DNS name: labels of letters, "
	             "digits, '-' and '_' joined by dots (got \"a..b\")");
	expect_error(HEAD "    discover: {dns: a.b, type: mx}\n",
	             "t.yaml:6:32: pools.app.discover.type: must be srv, a or aaaa (got \"mx\")");
	expect_error(HEAD "    discover: {dns: a.b, resolvers: [dns.google]}\n",
	             "t.yaml:6:38: pools.app.discover.resolvers[0]: must be an IP address with an "
	             "optional port: 10.0.0.2, 10.0.0.2:53 or [fd00::2]:53 (got \"dns.google\")");
	expect_error(HEAD "    discover: {dns: a.b, resolvers: [\"10.0.0.1:0\"]}\n",
	             "t.yaml:6:38: pools.app.discover.resolvers[0]: must be an IP address with an "
	             "optional port: 10.0.0.2, 10.0.0.2:53 or [fd00::2]:53 (got \"10.0.0.1:0\")");
	expect_error(HEAD "    discover: {dns: a.b, resolvers: []}\n",
	             "t.yaml:6:37: pools.app.discover.resolvers: must be a list of 1..8 DNS "
	             "servers, e.g. [127.0.0.1:53, \"[::1]:5353\"]");
	expect_error(HEAD "    discover: {dns: a.b, port: 80}\n",
	             "t.yaml:6:26: pools.app.discover.port: only used with type a or aaaa (SRV "
	             "records carry the port)");
	expect_error(HEAD "    discover: {dns: a.b, type: a, port: 70000}\n",
	             "t.yaml:6:41: pools.app.discover.port: must be 1..65535 (got 70000)");
	expect_error(HEAD "    discover: {dns: a.b, scheme: ftp}\n",
	             "t.yaml:6:34: pools.app.discover.scheme: must be http or https (got \"ftp\")");
	expect_error(HEAD "    discover: {dns: a.b, interval: 100ms}\n",
	             "t.yaml:6:36: pools.app.discover.interval: must be 1s..1d (got 100ms)");
	expect_error(HEAD "    discover: {dns: a.b, tries: 3}\n",
	             "t.yaml:6:26: pools.app.discover.tries: unknown key (expected one of: dns, "
	             "type, resolvers, interval, timeout, port, scheme)");
	expect_error(HEAD "    discover: a.b\n",
	             "t.yaml:6:15: pools.app.discover: must be a mapping (dns, type, resolvers, "
	             "interval, timeout, port, scheme), not a single value");
	expect_error(HEAD "    servers: []\n",
	             "t.yaml:6:14: pools.app.servers: a pool needs at least one server (or "
	             "discover: to find them in DNS)");
	expect_error(
	        HEAD "    servers: [{url: http://127.0.0.1:1, backup: 1x}]\n",
	        "t.yaml:6:49: pools.app.servers[0].backup: must be true or false (got \"1x\")");
}

static void test_resolve(void **state)
{
	/* without resolve:, a name that does not resolve fails the load */
	assert_null(load(HEAD "    servers: [http://no-such-host.invalid:80]\n"));
	assert_non_null(strstr(err, "cannot resolve host \"no-such-host.invalid\""));
	struct fc_config *cfg = load_ok(HEAD "    resolve: true\n"
	                                     "    servers:\n"
	                                     "      - http://no-such-host.invalid:8080\n"
	                                     "      - {url: https://api.invalid, weight: 5}\n"
	                                     "      - http://127.0.0.1:9000\n");
	const struct fc_config_pool *p = &cfg->pools[0];
	assert_int_equal(p->resolve.type, FC_DISCOVER_HOSTS);
	assert_int_equal(p->resolve.n_resolvers, 0); /* /etc/resolv.conf */
	assert_int_equal(p->resolve.interval_ms, 10000);
	assert_int_equal(p->resolve.timeout_ms, 2000);
	assert_int_equal(p->resolve.at.line, 6);
	assert_int_equal(p->discover.type, FC_DISCOVER_NONE);
	/* names wait for run time, with what was written */
	assert_true(p->servers[0].resolve);
	assert_int_equal(p->servers[0].addr_len, 0);
	assert_string_equal(p->servers[0].host, "no-such-host.invalid");
	assert_int_equal(p->servers[0].port, 8080);
	assert_string_equal(p->servers[0].name, "no-such-host.invalid:8080");
	assert_true(p->servers[1].resolve);
	assert_true(p->servers[1].tls);
	assert_int_equal(p->servers[1].port, 443);
	assert_int_equal(p->servers[1].weight, 5);
	assert_true(p->has_tls_servers);
	/* a numeric host is an address already */
	assert_false(p->servers[2].resolve);
	assert_int_not_equal(p->servers[2].addr_len, 0);
	fc_config_unref(cfg);
	cfg = load_ok(HEAD "    resolve: {resolvers: [127.0.0.1:5353], interval: 30s, timeout: "
	                   "300ms}\n"
	                   "    servers: [http://app.internal:80]\n");
	p = &cfg->pools[0];
	assert_int_equal(p->resolve.type, FC_DISCOVER_HOSTS);
	assert_int_equal(p->resolve.n_resolvers, 1);
	assert_string_equal(p->resolve.resolvers[0], "127.0.0.1:5353");
	assert_int_equal(p->resolve.interval_ms, 30000);
	assert_int_equal(p->resolve.timeout_ms, 300);
	assert_true(p->servers[0].resolve);
	fc_config_unref(cfg);
	cfg = load_ok(HEAD "    resolve: false\n    servers: [http://127.0.0.1:80]\n");
	assert_int_equal(cfg->pools[0].resolve.type, FC_DISCOVER_NONE);
	fc_config_unref(cfg);
	expect_error(HEAD "    resolve: maybe\n    servers: [http://127.0.0.1:80]\n",
	             "t.yaml:6:14: pools.app.resolve: must be true, false or a mapping "
	             "(resolvers, interval, timeout), got \"maybe\"");
	expect_error(HEAD "    resolve: [1]\n    servers: [http://127.0.0.1:80]\n",
	             "t.yaml:6:14: pools.app.resolve: must be true, false or a mapping "
	             "(resolvers, interval, timeout), not a list");
	expect_error(HEAD "    resolve: {resolvers: [dns.google]}\n"
	                  "    servers: [http://127.0.0.1:80]\n",
	             "t.yaml:6:27: pools.app.resolve.resolvers[0]: must be an IP address with an "
	             "optional port: 10.0.0.2, 10.0.0.2:53 or [fd00::2]:53 (got \"dns.google\")");
	expect_error(HEAD "    resolve: {interval: 1ms}\n    servers: [http://127.0.0.1:80]\n",
	             "t.yaml:6:25: pools.app.resolve.interval: must be 1s..1d (got 1ms)");
	expect_error(HEAD "    resolve: {port: 80}\n    servers: [http://127.0.0.1:80]\n",
	             "t.yaml:6:15: pools.app.resolve.port: unknown key (expected one of: "
	             "resolvers, interval, timeout)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_every_key),
	        cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_resolve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
