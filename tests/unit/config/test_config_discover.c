/* test_config_discover.c — the keys of docs/cluster.md's "Servers from DNS"
 * (pools.*.discover) and a server's backup: their defaults and their errors. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_every_key),
	        cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
