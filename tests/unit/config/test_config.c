/* test_config.c — the YAML loader: defaults, every key, every error message
 * with its line:col, and the shipped examples. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "config/config.h"
#include "helpers.h"
#include "fulcrum/fulcrum.h"

/* Skips the calling test while libfulcrum does not register name (yet). */
static void need_algorithm(const char *name)
{
	if (!fc_algorithm_find(name)) {
		print_message("skipped: algorithm %s is not registered in libfulcrum\n", name);
		skip();
	}
}

/* Like expect_error, for a line that starts with want. */
static void expect_error_prefix(const char *text, const char *want)
{
	struct fc_config *cfg = load(text);
	const char *p = strstr(err, want);

	if (cfg || !p || (p != err && p[-1] != '\n')) {
		print_error("config:\n%s\nwanted a line starting: %s\ngot:\n%s\n", text, want, err);
		fc_config_unref(cfg);
		fail();
	}
}

#define POOL_OK   "pools:\n  p:\n    servers: [http://127.0.0.1:3001]\n"
#define LISTEN_OK "listeners:\n  - address: 127.0.0.1:8080\n    routes:\n      - pool: p\n"
#define MINIMAL   LISTEN_OK POOL_OK

static void test_defaults(void **state)
{
	struct fc_config *cfg = load(MINIMAL);
	const struct fc_config_pool *p;
	const struct sockaddr_in *in;

	assert_non_null(cfg);
	assert_string_equal(err, "");
	assert_int_equal(atomic_load(&cfg->refs), 1);
	assert_string_equal(cfg->source, "t.yaml");
	assert_int_equal(cfg->workers,
	                 sysconf(_SC_NPROCESSORS_ONLN) > 256 ? 256 : sysconf(_SC_NPROCESSORS_ONLN));
	assert_int_equal(cfg->shutdown_grace_ms, 10000);
	assert_int_equal(cfg->tunnel_timeout_ms, 3600000);
	assert_int_equal(cfg->log_level, FC_LOG_INFO);
	assert_string_equal(cfg->error_log, "stderr");
	assert_string_equal(cfg->access_log, "stdout");
	assert_int_equal(cfg->access_format, FC_ACCESS_TEXT);
	assert_int_equal(cfg->header_timeout_ms, 10000);
	assert_int_equal(cfg->client_idle_timeout_ms, 60000);
	assert_int_equal(cfg->body_timeout_ms, 60000);
	assert_int_equal(cfg->max_header_size, 16384);
	assert_int_equal(cfg->max_connections, 10000);
	assert_null(cfg->client_ip.header);
	assert_int_equal(cfg->client_ip.n_trusted, 0);
	assert_false(cfg->client_ip.recursive);

	assert_int_equal(cfg->n_listeners, 1);
	assert_string_equal(cfg->listeners[0].name, "127.0.0.1:8080");
	assert_string_equal(cfg->listeners[0].address, "127.0.0.1:8080");
	in = (const struct sockaddr_in *)&cfg->listeners[0].addr;
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), 8080);
	assert_int_equal(ntohl(in->sin_addr.s_addr), 0x7f000001);
	assert_int_equal(cfg->listeners[0].addr_len, sizeof(struct sockaddr_in));
	assert_int_equal(cfg->listeners[0].n_routes, 1);
	assert_null(cfg->listeners[0].routes[0].host);
	assert_string_equal(cfg->listeners[0].routes[0].path, "/");
	assert_string_equal(cfg->listeners[0].routes[0].pool, "p");
	assert_ptr_equal(cfg->listeners[0].routes[0].pool_ref, &cfg->pools[0]);

	assert_int_equal(cfg->n_pools, 1);
	p = &cfg->pools[0];
	assert_string_equal(p->name, "p");
	assert_string_equal(p->algorithm, "round_robin");
	assert_int_equal(p->connect_timeout_ms, 3000);
	assert_int_equal(p->response_timeout_ms, 60000);
	assert_int_equal(p->idle_timeout_ms, 60000);
	assert_int_equal(p->max_idle, FC_CONFIG_MAX_IDLE_UNLIMITED); /* the purge sizes pools */
	assert_int_equal(p->retry.attempts, 2);
	assert_int_equal(p->cooldown_ms, 2000);
	assert_int_equal(p->slow_start_ms, 0);
	assert_false(p->sticky.enabled);
	assert_string_equal(p->sticky.cookie_name, "fulcrum_sticky");
	assert_int_equal(p->sticky.max_age_s, 86400);
	assert_null(p->sticky.secret);
	assert_int_equal(p->hash.source, FC_HASH_CLIENT_IP);
	assert_null(p->hash.name);
	assert_true(p->hash.balance_factor == 1.25);
	assert_int_equal(p->n_servers, 1);
	assert_string_equal(p->servers[0].name, "127.0.0.1:3001");
	assert_string_equal(p->servers[0].url, "http://127.0.0.1:3001");
	assert_string_equal(p->servers[0].host, "127.0.0.1");
	assert_int_equal(p->servers[0].port, 3001);
	assert_int_equal(p->servers[0].weight, 1);
	assert_int_equal(p->servers[0].addr.ss_family, AF_INET);
	assert_ptr_equal(fc_config_pool_find(cfg, "p"), p);
	assert_null(fc_config_pool_find(cfg, "q"));
	fc_config_unref(cfg);
}

static const char FULL[] = "workers: 3\n"
                           "shutdown_grace: 1m30s\n"
                           "tunnel_timeout: 2h\n"
                           "log:\n"
                           "  level: debug\n"
                           "  error: /var/log/fulcrum/error.log\n"
                           "  access: \"off\"\n"
                           "  access_format: json\n"
                           "client:\n"
                           "  header_timeout: 5s\n"
                           "  idle_timeout: 2m\n"
                           "  body_timeout: 500ms\n"
                           "  max_header_size: 32kb\n"
                           "  max_connections: 20000\n"
                           "  ip:\n"
                           "    header: X-Forwarded-For\n"
                           "    trusted: [10.0.0.0/8, 127.0.0.1, 'fd00::/8', '::1']\n"
                           "    recursive: true\n"
                           "listeners:\n"
                           "  - name: web\n"
                           "    address: '[::1]:8080'\n"
                           "    routes:\n"
                           "      - host: API.example.com\n"
                           "        path: /api\n"
                           "        pool: api\n"
                           "      - host: '*.example.com'\n"
                           "        pool: web\n"
                           "      - pool: web\n"
                           "  - address: :9090\n"
                           "    routes: [{pool: api}]\n"
                           "pools:\n"
                           "  api:\n"
                           "    algorithm: least_conn\n"
                           "    servers:\n"
                           "      - url: http://127.0.0.1:3001\n"
                           "        weight: 5\n"
                           "        name: api-1\n"
                           "      - http://127.0.0.1:3002/\n"
                           "      - url: http://[::1]:3003\n"
                           "        weight: 0\n"
                           "      - http://localhost\n"
                           "    connect_timeout: 1s\n"
                           "    response_timeout: 2h\n"
                           "    idle_timeout: 30s\n"
                           "    max_idle: 0\n"
                           "    retries: 0\n"
                           "    cooldown: 0\n"
                           "    slow_start: 30s\n"
                           "    sticky:\n"
                           "      cookie: srv\n"
                           "      max_age: 1h\n"
                           "      secret: 0123456789abcdef-secret\n"
                           "  web:\n"
                           "    algorithm: consistent_hash\n"
                           "    servers: [http://127.0.0.1:3004]\n"
                           "    sticky: cookie\n"
                           "    hash:\n"
                           "      key: header\n"
                           "      name: X-User\n"
                           "      balance_factor: 0\n";

static void test_every_key(void **state)
{
	const struct fc_config_pool *api, *web;
	const struct fc_config_listener *l;
	const struct sockaddr_in6 *in6;
	const struct sockaddr_in *in;
	struct fc_config *cfg;

	need_algorithm("least_conn");
	need_algorithm("consistent_hash");
	cfg = load(FULL);

	if (!cfg)
		print_error("%s\n", err);
	assert_non_null(cfg);
	assert_int_equal(cfg->workers, 3);
	assert_int_equal(cfg->shutdown_grace_ms, 90000);
	assert_int_equal(cfg->tunnel_timeout_ms, 7200000);
	assert_int_equal(cfg->log_level, FC_LOG_DEBUG);
	assert_string_equal(cfg->error_log, "/var/log/fulcrum/error.log");
	assert_string_equal(cfg->access_log, "off");
	assert_int_equal(cfg->access_format, FC_ACCESS_JSON);
	assert_int_equal(cfg->header_timeout_ms, 5000);
	assert_int_equal(cfg->client_idle_timeout_ms, 120000);
	assert_int_equal(cfg->body_timeout_ms, 500);
	assert_int_equal(cfg->max_header_size, 32768);
	assert_int_equal(cfg->max_connections, 20000);
	assert_string_equal(cfg->client_ip.header, "X-Forwarded-For");
	assert_int_equal(cfg->client_ip.n_trusted, 4);
	assert_string_equal(cfg->client_ip.trusted[0], "10.0.0.0/8");
	assert_string_equal(cfg->client_ip.trusted[3], "::1");
	assert_true(cfg->client_ip.recursive);

	assert_int_equal(cfg->n_listeners, 2);
	l = &cfg->listeners[0];
	assert_string_equal(l->name, "web");
	in6 = (const struct sockaddr_in6 *)&l->addr;
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 8080);
	assert_true(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
	assert_int_equal(l->n_routes, 3);
	assert_string_equal(l->routes[0].host, "api.example.com"); /* lower-cased */
	assert_string_equal(l->routes[0].path, "/api");
	assert_string_equal(l->routes[1].host, "*.example.com");
	assert_null(l->routes[2].host);
	l = &cfg->listeners[1];
	assert_string_equal(l->name, ":9090");
	in = (const struct sockaddr_in *)&l->addr;
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(in->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(ntohs(in->sin_port), 9090);

	api = fc_config_pool_find(cfg, "api");
	web = fc_config_pool_find(cfg, "web");
	assert_non_null(api);
	assert_non_null(web);
	assert_ptr_equal(cfg->listeners[0].routes[0].pool_ref, api);
	assert_ptr_equal(cfg->listeners[0].routes[1].pool_ref, web);
	assert_string_equal(api->algorithm, "least_conn");
	assert_int_equal(api->n_servers, 4);
	assert_string_equal(api->servers[0].name, "api-1");
	assert_int_equal(api->servers[0].weight, 5);
	assert_string_equal(api->servers[1].name, "127.0.0.1:3002");
	assert_string_equal(api->servers[1].url, "http://127.0.0.1:3002/");
	assert_string_equal(api->servers[2].name, "[::1]:3003");
	assert_string_equal(api->servers[2].host, "::1");
	assert_int_equal(api->servers[2].weight, 0);
	assert_int_equal(api->servers[2].addr.ss_family, AF_INET6);
	assert_string_equal(api->servers[3].name, "localhost:80");
	assert_int_equal(api->servers[3].port, 80);
	assert_int_equal(api->servers[3].addr.ss_family, AF_INET); /* IPv4 preferred */
	assert_int_equal(api->connect_timeout_ms, 1000);
	assert_int_equal(api->response_timeout_ms, 7200000);
	assert_int_equal(api->idle_timeout_ms, 30000);
	assert_int_equal(api->max_idle, 0);
	assert_int_equal(api->retry.attempts, 0);
	assert_int_equal(api->cooldown_ms, 0);
	assert_int_equal(api->slow_start_ms, 30000);
	assert_true(api->sticky.enabled);
	assert_string_equal(api->sticky.cookie_name, "srv");
	assert_int_equal(api->sticky.max_age_s, 3600);
	assert_string_equal(api->sticky.secret, "0123456789abcdef-secret");

	assert_string_equal(web->algorithm, "consistent_hash");
	assert_true(web->sticky.enabled);
	assert_string_equal(web->sticky.cookie_name, "fulcrum_sticky");
	assert_int_equal(web->sticky.max_age_s, 86400);
	assert_int_equal(web->hash.source, FC_HASH_HEADER);
	assert_string_equal(web->hash.name, "X-User");
	assert_true(web->hash.balance_factor == 0);
	fc_config_unref(cfg);
}

static void test_small_variants(void **state)
{
	struct fc_config *cfg;

	/* workers: auto and 0 both mean the CPU count */
	cfg = load("workers: auto\n" MINIMAL);
	assert_non_null(cfg);
	assert_true(cfg->workers >= 1);
	fc_config_unref(cfg);
	cfg = load("workers: 0\n" MINIMAL);
	assert_non_null(cfg);
	assert_true(cfg->workers >= 1);
	fc_config_unref(cfg);
	/* explicit nulls keep defaults; "access:" empty means off */
	cfg = load("shutdown_grace:\nlog:\n  access:\n" MINIMAL);
	assert_non_null(cfg);
	assert_int_equal(cfg->shutdown_grace_ms, 10000);
	assert_string_equal(cfg->access_log, "off");
	fc_config_unref(cfg);
	/* a pool may be defined after the listener that uses it; * means all interfaces */
	cfg = load("listeners:\n  - address: '*:8081'\n    routes: [{pool: late}]\n"
	           "pools:\n  late: {servers: [http://127.0.0.1:1]}\n");
	assert_non_null(cfg);
	fc_config_unref(cfg);
	/* empty documents marker and comments */
	cfg = load("---\n# comment\n" MINIMAL "...\n");
	assert_non_null(cfg);
	fc_config_unref(cfg);

	need_algorithm("ip_hash");
	/* sticky: off, trusted as a single value, hash client_ip */
	cfg = load(LISTEN_OK "client:\n  ip:\n    header: X-Real-IP\n    trusted: 10.1.0.0/16\n"
	                     "pools:\n  p:\n    algorithm: ip_hash\n    sticky: off\n"
	                     "    servers: [http://127.0.0.1:3001]\n    hash: {key: path}\n");
	if (!cfg)
		print_error("%s\n", err);
	assert_non_null(cfg);
	assert_false(cfg->pools[0].sticky.enabled);
	assert_int_equal(cfg->client_ip.n_trusted, 1);
	assert_int_equal(cfg->pools[0].hash.source, FC_HASH_PATH);
	fc_config_unref(cfg);
}

static void test_refcount(void **state)
{
	struct fc_config *cfg = load(MINIMAL);

	assert_non_null(cfg);
	assert_ptr_equal(fc_config_ref(cfg), cfg);
	assert_int_equal(atomic_load(&cfg->refs), 2);
	fc_config_unref(cfg);
	assert_int_equal(atomic_load(&cfg->refs), 1);
	fc_config_unref(cfg);
	fc_config_unref(NULL);
	assert_null(fc_config_ref(NULL));
}

static void test_errors_top(void **state)
{
	expect_error("", "t.yaml: listeners: at least one listener is required (- address: "
	                 "127.0.0.1:8080)");
	expect_error("- a\n- b\n", "t.yaml:1:1: the top level must be a mapping (workers:, "
	                           "listeners:, pools:, ...), not a list");
	expect_error("listener: []\n" MINIMAL,
	             "t.yaml:1:1: listener: unknown key (did you mean \"listeners\"?)");
	expect_error(
	        "frobnicate: 1\n" MINIMAL,
	        "t.yaml:1:1: frobnicate: unknown key (expected one of: workers, shutdown_grace, "
	        "log, client, listeners, pools, io_uring, tunnel_timeout, state_dir, pid_file, "
	        "watch, admin, http2, rate_limits, cluster)");
	expect_error("workers: 2\nworkers: 3\n" MINIMAL,
	             "t.yaml:2:1: workers: duplicate key (first at line 1)");
	expect_error("workers: 257\n" MINIMAL, "t.yaml:1:10: workers: must be auto or 1..256 (got "
	                                       "\"257\")");
	expect_error("workers: [1]\n" MINIMAL,
	             "t.yaml:1:10: workers: must be auto or a number, not a list");
	expect_error("shutdown_grace: 10\n" MINIMAL,
	             "t.yaml:1:17: shutdown_grace: needs a unit: write 10s or 10ms (durations look "
	             "like 10s, 500ms, 1m, 1h30m)");
	expect_error("shutdown_grace: 10 s\n" MINIMAL,
	             "t.yaml:1:17: shutdown_grace: must be a duration such as 10s, 500ms, 1m or "
	             "1h30m (got \"10 s\")");
	expect_error("shutdown_grace: 2d\n" MINIMAL,
	             "t.yaml:1:17: shutdown_grace: must be 0..1d (got 2d)");
	expect_error(MINIMAL "---\nworkers: 1\n", "t.yaml:8:1: only one YAML document is allowed");
	expect_error("[1, 2\n", "t.yaml:2:1: YAML: did not find expected ',' or ']' while parsing "
	                        "a flow sequence (line 1)");
	expect_error("a: b: c\n", "t.yaml:1:5: YAML: mapping values are not allowed in this "
	                          "context");
	expect_error(
	        "a: \"x\\0y\"\n",
	        "t.yaml:1:1: a: unknown key (expected one of: workers, "
	        "shutdown_grace, log, client, listeners, pools, io_uring, "
	        "tunnel_timeout, state_dir, pid_file, watch, admin, http2, rate_limits, cluster)");
	expect_error("log:\n  error: \"a\\0b\"\n" MINIMAL,
	             "t.yaml:2:10: log.error: must not contain NUL characters");
	expect_error("? [a]\n: 1\n" MINIMAL, "t.yaml:1:3: keys must be plain names, not a list");
}

static void test_errors_log_client(void **state)
{
	expect_error("log: stderr\n" MINIMAL,
	             "t.yaml:1:6: log: must be a mapping (key: value), not a single value");
	expect_error(
	        "log:\n  level: verbose\n" MINIMAL,
	        "t.yaml:2:10: log.level: must be debug, info, warn or error (got \"verbose\")");
	expect_error("log:\n  error: off\n" MINIMAL,
	             "t.yaml:2:10: log.error: must be stderr, stdout or a file path (errors are "
	             "always logged)");
	expect_error("log:\n  access: ''\n" MINIMAL,
	             "t.yaml:2:11: log.access: must be stdout, stderr, off or a file path");
	expect_error("log:\n  access_format: xml\n" MINIMAL,
	             "t.yaml:2:18: log.access_format: must be text or json (got \"xml\")");
	expect_error("log:\n  acess: off\n" MINIMAL,
	             "t.yaml:2:3: log.acess: unknown key (did you mean \"access\"?)");
	expect_error("client:\n  header_timeout: 0\n" MINIMAL,
	             "t.yaml:2:19: client.header_timeout: must be 1ms..1d (got 0)");
	expect_error("client:\n  max_header_size: 512\n" MINIMAL,
	             "t.yaml:2:20: client.max_header_size: must be 1k..1m (got 512)");
	expect_error("client:\n  max_header_size: 16q\n" MINIMAL,
	             "t.yaml:2:20: client.max_header_size: must be a size such as 16k, 1m or 512 "
	             "(bytes) (got \"16q\")");
	expect_error("client:\n  max_connections: -1\n" MINIMAL,
	             "t.yaml:2:20: client.max_connections: must be an integer 1..10000000 (got "
	             "\"-1\")");
	expect_error("client:\n  max_connections: 0\n" MINIMAL,
	             "t.yaml:2:20: client.max_connections: must be 1..10000000 (got 0)");
	expect_error("client:\n  ip:\n    header: 'X Forwarded'\n    trusted: [1.2.3.4]\n" MINIMAL,
	             "t.yaml:3:13: client.ip.header: must be a header name such as X-Forwarded-For "
	             "(got \"X Forwarded\")");
	expect_error("client:\n  ip:\n    header: X-Forwarded-For\n" MINIMAL,
	             "t.yaml:3:5: client.ip.header: needs trusted: the proxies allowed to set it "
	             "(0.0.0.0/0 and ::/0 trust anyone)");
	expect_error(
	        "client:\n  ip:\n    trusted: [10.0.0.0/8]\n" MINIMAL,
	        "t.yaml:3:5: client.ip.trusted: only used with header (the header that carries "
	        "the client address)");
	expect_error("client:\n  ip:\n    header: X-Real-IP\n    trusted: [10.0.0.0/8, 10.0.0.300, "
	             "'::1/129']\n" MINIMAL,
	             "t.yaml:4:27: client.ip.trusted[1]: must be an address or CIDR such as "
	             "10.0.0.0/8, 127.0.0.1 or fd00::/8 (got \"10.0.0.300\")");
	expect_error("client:\n  ip:\n    header: X-Real-IP\n    trusted: [10.0.0.0/8, 10.0.0.300, "
	             "'::1/129']\n" MINIMAL,
	             "t.yaml:4:39: client.ip.trusted[2]: prefix length must be 0..128 (got "
	             "\"::1/129\")");
	expect_error(
	        "client:\n  ip:\n    header: X-Real-IP\n    trusted: [1.1.1.1]\n    recursive: "
	        "maybe\n" MINIMAL,
	        "t.yaml:5:16: client.ip.recursive: must be true or false (got \"maybe\")");
}

static void test_errors_listeners(void **state)
{
	expect_error(POOL_OK, "t.yaml:1:1: listeners: at least one listener is required (- "
	                      "address: 127.0.0.1:8080)");
	expect_error("listeners: []\n" POOL_OK, "t.yaml:1:12: listeners: at least one listener is "
	                                        "required (- address: 127.0.0.1:8080)");
	expect_error("listeners: {a: 1}\n" POOL_OK,
	             "t.yaml:1:12: listeners: must be a list of listeners, not a mapping");
	expect_error(
	        "listeners:\n  - routes: [{pool: p}]\n" POOL_OK,
	        "t.yaml:2:5: listeners[0].address: is required (e.g. 127.0.0.1:8080 or :8080)");
	expect_error(
	        "listeners:\n  - address: 127.0.0.1:8080\n" POOL_OK,
	        "t.yaml:2:5: listeners[0].routes: a listener needs at least one route (- pool: "
	        "NAME)");
	expect_error("listeners:\n  - address: 127.0.0.1:8080\n    routes: []\n" POOL_OK,
	             "t.yaml:3:13: listeners[0].routes: a listener needs at least one route (- "
	             "pool: NAME)");
	expect_error("listeners:\n  - address: 8080\n    routes: [{pool: p}]\n" POOL_OK,
	             "t.yaml:2:14: listeners[0].address: must be host:port, [ipv6]:port or :port; "
	             "did you mean \":8080\"?");
	expect_error("listeners:\n  - address: 127.0.0.1:99999\n    routes: [{pool: p}]\n" POOL_OK,
	             "t.yaml:2:14: listeners[0].address: port must be 1..65535 (got \"99999\")");
	expect_error("listeners:\n  - address: '::1:80'\n    routes: [{pool: p}]\n" POOL_OK,
	             "t.yaml:2:14: listeners[0].address: must be host:port, [ipv6]:port or :port "
	             "(got \"::1:80\")");
	expect_error("listeners:\n  - address: 127.0.0.1:8080\n    routes: [{pool: p}]\n"
	             "  - address: 127.0.0.1:8080\n    routes: [{pool: p}]\n" POOL_OK,
	             "t.yaml:4:14: listeners[1].address: 127.0.0.1:8080 overlaps listeners[0] "
	             "(127.0.0.1:8080)");
	expect_error("listeners:\n  - address: 127.0.0.1:8080\n    routes: [{pool: p}]\n"
	             "  - address: :8080\n    routes: [{pool: p}]\n" POOL_OK,
	             "t.yaml:4:14: listeners[1].address: :8080 overlaps listeners[0] "
	             "(127.0.0.1:8080)");
	expect_error(
	        "listeners:\n  - {name: a, address: 127.0.0.1:1, routes: [{pool: p}]}\n"
	        "  - {name: a, address: 127.0.0.1:2, routes: [{pool: p}]}\n" POOL_OK,
	        "t.yaml:3:12: listeners[1].name: duplicate listener name \"a\" (listeners[0])");
	expect_error("listeners:\n  - {name: 'a b', address: 127.0.0.1:1, routes: [{pool: "
	             "p}]}\n" POOL_OK,
	             "t.yaml:2:12: listeners[0].name: must be 1..128 printable characters without "
	             "spaces, quotes or '/' (got \"a b\")");
	expect_error("listeners:\n  - address: 127.0.0.1:1\n    port: 3\n    routes: [{pool: "
	             "p}]\n" POOL_OK,
	             "t.yaml:3:5: listeners[0].port: unknown key (expected one of: name, address, "
	             "routes, tls, redirect, redirect_port, http2)");
}

static void test_errors_routes(void **state)
{
#define L1 "listeners:\n  - address: 127.0.0.1:8080\n    routes:\n"
	expect_error(L1 "      - pool: nope\n" POOL_OK,
	             "t.yaml:4:15: listeners[0].routes[0].pool: unknown pool \"nope\" (pools: p)");
	expect_error(
	        L1 "      - pool: nope\n",
	        "t.yaml:4:15: listeners[0].routes[0].pool: unknown pool \"nope\" (no pools are "
	        "defined)");
	expect_error(L1 "      - path: /\n" POOL_OK,
	             "t.yaml:4:9: listeners[0].routes[0].pool: is required (the pool this route "
	             "sends to)");
	expect_error(L1 "      - {pool: p, path: api}\n" POOL_OK,
	             "t.yaml:4:25: listeners[0].routes[0].path: must start with / (got \"api\")");
	expect_error(
	        L1 "      - {pool: p, path: '/a?b'}\n" POOL_OK,
	        "t.yaml:4:25: listeners[0].routes[0].path: must be a path prefix without spaces, "
	        "'?' or '#' (got \"/a?b\")");
	expect_error(
	        L1 "      - {pool: p, host: 'a.com:80'}\n" POOL_OK,
	        "t.yaml:4:25: listeners[0].routes[0].host: must not include a port (the port is "
	        "ignored when matching) (got \"a.com:80\")");
	expect_error(L1 "      - {pool: p, host: '*'}\n" POOL_OK,
	             "t.yaml:4:25: listeners[0].routes[0].host: omit host to match any host (got "
	             "\"*\")");
	expect_error(L1 "      - {pool: p, host: 'a.*.com'}\n" POOL_OK,
	             "t.yaml:4:25: listeners[0].routes[0].host: a wildcard is only allowed as a "
	             "leading \"*.\", as in *.example.com (got \"a.*.com\")");
	expect_error(L1 "      - {pool: p, host: 'a..com'}\n" POOL_OK,
	             "t.yaml:4:25: listeners[0].routes[0].host: must be a host name such as "
	             "api.example.com or *.example.com (got \"a..com\")");
	expect_error(L1 "      - {pool: p, path: /x}\n      - {pool: p, path: /x}\n" POOL_OK,
	             "t.yaml:5:9: listeners[0].routes[1]: same host and path as routes[0], so it "
	             "could never match");
	expect_error(L1 "      - ~\n" POOL_OK,
	             "t.yaml:4:9: listeners[0].routes[0]: must be a mapping with pool (and host, "
	             "path)");
#undef L1
}

#define P1 LISTEN_OK "pools:\n  p:\n"
#define S1 "    servers: [http://127.0.0.1:3001]\n"
/* max_idle: a hard cap when given, unlimited by name or by default. */
static void test_max_idle(void **state)
{
	(void)state;
	struct fc_config *cfg = load_ok(P1 S1 "    max_idle: unlimited\n");
	assert_int_equal(cfg->pools[0].max_idle, FC_CONFIG_MAX_IDLE_UNLIMITED);
	fc_config_unref(cfg);
	cfg = load_ok(P1 S1 "    max_idle: 2\n");
	assert_int_equal(cfg->pools[0].max_idle, 2);
	fc_config_unref(cfg);
	cfg = load_ok(P1 S1 "    max_idle: 100000\n");
	assert_int_equal(cfg->pools[0].max_idle, 100000);
	fc_config_unref(cfg);
}

static void test_errors_pools(void **state)
{
	char known[512], want[700];

	expect_error(LISTEN_OK "pools: [a]\n",
	             "t.yaml:5:8: pools: must be a mapping of pool name to pool, not a list");
	expect_error(LISTEN_OK "pools:\n  p:\n",
	             "t.yaml:6:3: pools.p: a pool needs at least one server (servers: "
	             "[http://host:port])");
	expect_error(
	        P1 "    algorithm: round_robin\n",
	        "t.yaml:6:3: pools.p.servers: a pool needs at least one server (or discover: to "
	        "find them in DNS)");
	expect_error(
	        P1 "    servers: []\n",
	        "t.yaml:7:14: pools.p.servers: a pool needs at least one server (or discover: to "
	        "find them in DNS)");
	expect_error(P1 "    servers: http://127.0.0.1:1\n",
	             "t.yaml:7:14: pools.p.servers: must be a list of servers, not a single value");
	expect_error(P1 S1 "  p:\n" S1,
	             "t.yaml:8:3: pools.p: duplicate pool name (first at line 6)");
	expect_error(LISTEN_OK "pools:\n  'a b':\n" S1,
	             "t.yaml:6:3: pools.a b: pool names may use letters, digits, '_', '-' and '.' "
	             "(1..64)");
	fc_algorithm_list(known, sizeof(known));
	snprintf(want, sizeof(want),
	         "t.yaml:8:16: pools.p.algorithm: unknown algorithm \"rr\" (known: %s)", known);
	expect_error(P1 S1 "    algorithm: rr\n", want);
	expect_error(P1 S1 "    algoritm: random\n",
	             "t.yaml:8:5: pools.p.algoritm: unknown key (did you mean \"algorithm\"?)");
	expect_error(P1 S1 "    retries: 8\n",
	             "t.yaml:8:14: pools.p.retries: must be 0..7 (got 8)");
	expect_error(
	        P1 S1 "    max_idle: lots\n",
	        "t.yaml:8:15: pools.p.max_idle: must be an integer 0..100000 or unlimited (got "
	        "\"lots\")");
	expect_error(
	        P1 S1 "    max_idle: 100001\n",
	        "t.yaml:8:15: pools.p.max_idle: must be an integer 0..100000 or unlimited (got "
	        "\"100001\")");
	expect_error(
	        P1 S1 "    connect_timeout: 3\n",
	        "t.yaml:8:22: pools.p.connect_timeout: needs a unit: write 3s or 3ms (durations "
	        "look like 10s, 500ms, 1m, 1h30m)");
	expect_error(P1 S1 "    response_timeout: 0s\n",
	             "t.yaml:8:23: pools.p.response_timeout: must be 1ms..1d (got 0s)");
	expect_error(P1 S1 "    cooldown: 2h\n",
	             "t.yaml:8:15: pools.p.cooldown: must be 0..1h (got 2h)");
	expect_error(
	        P1 S1 "    slow_start: fast\n",
	        "t.yaml:8:17: pools.p.slow_start: must be a duration such as 10s, 500ms, 1m or "
	        "1h30m (got \"fast\")");
}

/* listeners[].tls, redirect, pools.*.tls and https:// servers. */
static void test_http2_keys(void **state)
{
	struct fc_config *cfg;

	(void)state;
	/* defaults: on with tls, off without; the limits */
	cfg = load_ok("listeners:\n"
	              "  - address: 127.0.0.1:8443\n"
	              "    tls: {certificates: [{cert: a.pem, key: a.key}]}\n"
	              "    routes: [{pool: p}]\n"
	              "  - address: 127.0.0.1:8080\n"
	              "    routes: [{pool: p}]\n"
	              "pools:\n  p: {servers: [http://127.0.0.1:3001]}\n");
	assert_int_equal(cfg->listeners[0].http2, FC_HTTP2_ON);
	assert_int_equal(cfg->listeners[1].http2, FC_HTTP2_OFF);
	assert_int_equal(cfg->http2.max_concurrent_streams, 100);
	assert_int_equal(cfg->http2.initial_window_size, 65535);
	assert_int_equal(cfg->http2.connection_window_size, 1024 * 1024);
	assert_int_equal(cfg->http2.max_frame_size, 16384);
	assert_int_equal(cfg->http2.max_header_list_size, 16384);
	assert_int_equal(cfg->http2.max_glitches, 1000);
	assert_int_equal(cfg->pools[0].protocol, FC_POOL_HTTP1);
	fc_config_unref(cfg);
	cfg = load_ok("http2: {max_concurrent_streams: 10, initial_window_size: 16k, "
	              "connection_window_size: 2m, max_frame_size: 32k, max_header_list_size: 8k, "
	              "max_glitches: 50}\n"
	              "listeners:\n"
	              "  - address: 127.0.0.1:8443\n"
	              "    tls: {certificates: [{cert: a.pem, key: a.key}]}\n"
	              "    http2: off\n"
	              "    routes: [{pool: p}]\n"
	              "  - address: 127.0.0.1:8080\n"
	              "    http2: prior_knowledge\n"
	              "    routes: [{pool: p}]\n"
	              "pools:\n  p: {protocol: h2, servers: [http://127.0.0.1:3001]}\n");
	assert_int_equal(cfg->listeners[0].http2, FC_HTTP2_OFF);
	assert_int_equal(cfg->listeners[1].http2, FC_HTTP2_PRIOR_KNOWLEDGE);
	assert_int_equal(cfg->http2.max_concurrent_streams, 10);
	assert_int_equal(cfg->http2.initial_window_size, 16384);
	assert_int_equal(cfg->http2.connection_window_size, 2 * 1024 * 1024);
	assert_int_equal(cfg->http2.max_frame_size, 32768);
	assert_int_equal(cfg->http2.max_header_list_size, 8192);
	assert_int_equal(cfg->http2.max_glitches, 50);
	assert_int_equal(cfg->pools[0].protocol, FC_POOL_H2);
	fc_config_unref(cfg);
	expect_error("listeners:\n  - address: 127.0.0.1:8080\n    http2: on\n"
	             "    routes: [{pool: p}]\npools:\n  p: {servers: [http://127.0.0.1:3001]}\n",
	             "t.yaml:3:12: listeners[0].http2: a plain listener speaks HTTP/2 only to "
	             "clients that start with it: write prior_knowledge (or add tls:)");
	expect_error("listeners:\n  - address: 127.0.0.1:8443\n"
	             "    tls: {certificates: [{cert: a.pem, key: a.key}]}\n"
	             "    http2: prior_knowledge\n"
	             "    routes: [{pool: p}]\npools:\n  p: {servers: [http://127.0.0.1:3001]}\n",
	             "t.yaml:4:12: listeners[0].http2: a TLS listener negotiates HTTP/2 by ALPN: "
	             "write on (the default) or off");
	expect_error("listeners:\n  - address: 127.0.0.1:8080\n    http2: maybe\n"
	             "    routes: [{pool: p}]\npools:\n  p: {servers: [http://127.0.0.1:3001]}\n",
	             "t.yaml:3:12: listeners[0].http2: must be on, off or prior_knowledge (got "
	             "\"maybe\")");
	expect_error("listeners:\n  - address: 127.0.0.1:8080\n    redirect: https\n"
	             "    http2: prior_knowledge\n",
	             "t.yaml:4:12: listeners[0].http2: a redirect: https listener answers HTTP/1.1 "
	             "only");
	expect_error("http2: {max_frame_size: 1k}\n" MINIMAL,
	             "t.yaml:1:25: http2.max_frame_size: must be 16k..8m (got 1k)");
	expect_error("http2: {max_concurrent_streams: 0}\n" MINIMAL,
	             "t.yaml:1:33: http2.max_concurrent_streams: must be 1..10000 (got 0)");
	expect_error("http2: [1]\n" MINIMAL,
	             "t.yaml:1:8: http2: must be a mapping (max_concurrent_streams: 100, ...), not "
	             "a list");
	expect_error("http2: {max_header_list_size: 32k}\n" MINIMAL,
	             "t.yaml:1:31: http2.max_header_list_size: 32768 is more than "
	             "client.max_header_size (16384): raise that too");
	cfg = load_ok(
	        "client: {max_header_size: 64k}\nhttp2: {max_header_list_size: 64k}\n" MINIMAL);
	assert_int_equal(cfg->http2.max_header_list_size, 65536);
	fc_config_unref(cfg);
	expect_error("http2: {max_glitch: 1}\n" MINIMAL,
	             "t.yaml:1:9: http2.max_glitch: unknown key (did you mean \"max_glitches\"?)");
	expect_error("listeners:\n  - address: 127.0.0.1:8080\n    routes: [{pool: p}]\n"
	             "pools:\n  p: {protocol: h3, servers: [http://127.0.0.1:3001]}\n",
	             "t.yaml:5:17: pools.p.protocol: must be http1 or h2 (got \"h3\")");
}

static void test_tls_keys(void **state)
{
	struct fc_config *cfg;
	const struct fc_config_listener_tls *t;

	(void)state;
	cfg = load("listeners:\n"
	           "  - address: 127.0.0.1:8443\n"
	           "    tls:\n"
	           "      certificates:\n"
	           "        - {cert: a.pem, key: a.key}\n"
	           "        - {cert: b.pem, key: b.key}\n"
	           "      min_version: \"1.3\"\n"
	           "      handshake_timeout: 3s\n"
	           "    routes: [{pool: p}]\n"
	           "  - address: 127.0.0.1:8080\n"
	           "    redirect: https\n"
	           "    redirect_port: 8443\n"
	           "pools:\n  p:\n    servers: [http://127.0.0.1:3001, https://127.0.0.1:3443, "
	           "https://127.0.0.1]\n"
	           "    tls: {ca: ca.pem, cert: c.pem, key: c.key}\n");
	assert_non_null(cfg);
	t = cfg->listeners[0].tls;
	assert_non_null(t);
	assert_int_equal(t->n_certs, 2);
	assert_string_equal(t->certs[1].cert, "b.pem");
	assert_string_equal(t->certs[1].key, "b.key");
	assert_int_equal(t->certs[1].cert_at.line, 6);
	assert_int_equal(t->certs[1].cert_at.col, 18);
	assert_int_equal(t->min_version, 13);
	assert_int_equal(t->handshake_timeout_ms, 3000);
	assert_null(cfg->listeners[1].tls);
	assert_true(cfg->listeners[1].redirect_https);
	assert_int_equal(cfg->listeners[1].redirect_port, 8443);
	assert_int_equal(cfg->listeners[1].n_routes, 0);
	assert_false(cfg->pools[0].servers[0].tls);
	assert_true(cfg->pools[0].servers[1].tls);
	assert_int_equal(cfg->pools[0].servers[1].port, 3443);
	assert_int_equal(cfg->pools[0].servers[2].port, 443);
	assert_true(cfg->pools[0].has_tls_servers);
	assert_string_equal(cfg->pools[0].tls.ca, "ca.pem");
	assert_string_equal(cfg->pools[0].tls.client.cert, "c.pem");
	assert_true(cfg->pools[0].tls.verify);
	fc_config_unref(cfg);

	/* defaults */
	cfg = load("listeners:\n  - address: 127.0.0.1:8443\n    tls: {certificates: [{cert: a, "
	           "key: b}]}\n    routes: [{pool: p}]\n" POOL_OK);
	assert_non_null(cfg);
	assert_int_equal(cfg->listeners[0].tls->min_version, 12);
	assert_int_equal(cfg->listeners[0].tls->handshake_timeout_ms, 10000);
	assert_false(cfg->pools[0].has_tls_servers);
	assert_true(cfg->pools[0].tls.verify);
	fc_config_unref(cfg);

	expect_error(
	        "listeners:\n  - address: 127.0.0.1:1\n    tls: {certificates: []}\n    routes: "
	        "[{pool: p}]\n" POOL_OK,
	        "t.yaml:3:25: listeners[0].tls.certificates: TLS needs at least one "
	        "certificate (- { cert: FILE, key: FILE })");
	expect_error("listeners:\n  - address: 127.0.0.1:1\n    tls: {certificates: [{key: k}]}\n"
	             "    routes: [{pool: p}]\n" POOL_OK,
	             "t.yaml:3:26: listeners[0].tls.certificates[0].cert: is required (the "
	             "certificate's PEM file)");
	expect_error(
	        "listeners:\n  - address: 127.0.0.1:1\n    tls: {certificates: [{cert: a, key: "
	        "b}], min_version: 1.1}\n    routes: [{pool: p}]\n" POOL_OK,
	        "t.yaml:3:59: listeners[0].tls.min_version: must be \"1.2\" or \"1.3\" (older "
	        "versions are not offered; got \"1.1\")");
	expect_error(
	        "listeners:\n  - address: 127.0.0.1:1\n    redirect: https\n    routes: [{pool: "
	        "p}]\n" POOL_OK,
	        "t.yaml:3:15: listeners[0].redirect: answers every request with a redirect: "
	        "remove routes (or redirect)");
	expect_error("listeners:\n  - address: 127.0.0.1:1\n    redirect_port: 8443\n    routes: "
	             "[{pool: p}]\n" POOL_OK,
	             "t.yaml:3:20: listeners[0].redirect_port: is only used with redirect: https");
	expect_error(LISTEN_OK "pools:\n  p:\n    servers: [https://127.0.0.1:1]\n    tls: "
	                       "{verify: false, ca: x}\n",
	             "t.yaml:8:30: pools.p.tls.ca: is not used with verify: false (remove one of "
	             "them)");
	expect_error(LISTEN_OK "pools:\n  p:\n    servers: [https://127.0.0.1:1]\n    tls: {cert: "
	                       "x}\n",
	             "t.yaml:8:10: pools.p.tls.key: is required (the private key's PEM file)");
}

static void test_errors_servers(void **state)
{
#define SV P1 "    servers:\n"
	expect_error(SV "      - http://127.0.0.1:3001\n      - url: http://127.0.0.1:3002\n"
	                "      - url: ftp://127.0.0.1:3003\n",
	             "t.yaml:10:14: pools.p.servers[2].url: must be http://host:port or "
	             "https://host:port");
	expect_error(
	        SV "      - https://127.0.0.1:3001/x\n",
	        "t.yaml:8:9: pools.p.servers[0]: must be http://host:port or https://host:port (a "
	        "path is not supported: \"/x\")");
	expect_error(SV "      - http://127.0.0.1:3001/api\n",
	             "t.yaml:8:9: pools.p.servers[0]: must be http://host:port or "
	             "https://host:port (a path is not "
	             "supported: \"/api\")");
	expect_error(SV "      - http://user@127.0.0.1:3001\n",
	             "t.yaml:8:9: pools.p.servers[0]: must be http://host:port or "
	             "https://host:port (no user, query or "
	             "fragment)");
	expect_error(SV "      - http://127.0.0.1:0\n",
	             "t.yaml:8:9: pools.p.servers[0]: port must be 1..65535 (got \"0\")");
	expect_error(SV "      - 'http://127.0.0.1:'\n",
	             "t.yaml:8:9: pools.p.servers[0]: port must be 1..65535 (got \"\")");
	expect_error(
	        SV "      - 'http://[::1'\n",
	        "t.yaml:8:9: pools.p.servers[0]: must be http://host:port or https://host:port");
	/* The resolver's reason varies (no network: "Temporary failure ..."). */
	expect_error_prefix(SV "      - http://no-such-host.invalid:80\n",
	                    "t.yaml:8:9: pools.p.servers[0]: cannot resolve host "
	                    "\"no-such-host.invalid\": ");
	expect_error(SV "      - http://bad_host!:80\n",
	             "t.yaml:8:9: pools.p.servers[0]: must be http://host:port or "
	             "https://host:port (invalid host "
	             "\"bad_host!\")");
	expect_error(SV "      - url: http://127.0.0.1:1\n        weight: 1001\n",
	             "t.yaml:9:17: pools.p.servers[0].weight: must be 0..1000 (got 1001)");
	expect_error(SV "      - url: http://127.0.0.1:1\n        weight: 1.5\n",
	             "t.yaml:9:17: pools.p.servers[0].weight: must be an integer 0..1000 (got "
	             "\"1.5\")");
	expect_error(SV "      - weight: 2\n",
	             "t.yaml:8:9: pools.p.servers[0].url: is required (http://host:port)");
	expect_error(SV "      - url:\n",
	             "t.yaml:8:9: pools.p.servers[0].url: is required (http://host:port)");
	expect_error(SV "      - [http://127.0.0.1:1]\n",
	             "t.yaml:8:9: pools.p.servers[0]: must be a mapping (key: value), not a list");
	expect_error(SV "      - http://127.0.0.1:1\n      - http://127.0.0.1:1\n",
	             "t.yaml:9:9: pools.p.servers[1]: duplicate server name \"127.0.0.1:1\" "
	             "(servers[0] has it; give each a distinct name)");
	expect_error(
	        SV "      - {url: http://127.0.0.1:1, name: a}\n"
	           "      - {url: http://127.0.0.1:2, name: a}\n",
	        "t.yaml:9:41: pools.p.servers[1].name: duplicate server name \"a\" (servers[0] "
	        "has it; give each a distinct name)");
	expect_error(SV "      - {url: http://127.0.0.1:1, name: 'a/b'}\n",
	             "t.yaml:8:41: pools.p.servers[0].name: must be 1..128 printable characters "
	             "without spaces, quotes or '/' (got \"a/b\")");
	expect_error(
	        SV "      - {url: http://127.0.0.1:1, wieght: 2}\n",
	        "t.yaml:8:35: pools.p.servers[0].wieght: unknown key (did you mean \"weight\"?)");
#undef SV
}

static void test_errors_sticky_hash(void **state)
{
	expect_error(P1 S1 "    sticky: yes-please\n",
	             "t.yaml:8:13: pools.p.sticky: must be cookie, off, or a mapping with cookie, "
	             "max_age, secret (got \"yes-please\")");
	expect_error(
	        P1 S1 "    sticky:\n      cookie: 'a b'\n",
	        "t.yaml:9:15: pools.p.sticky.cookie: must be a cookie name: letters, digits and "
	        "!#$%&'*+-.^_`|~ (got \"a b\")");
	expect_error(P1 S1 "    sticky:\n      max_age: 1500ms\n",
	             "t.yaml:9:16: pools.p.sticky.max_age: must be whole seconds (cookies count in "
	             "seconds)");
	expect_error(P1 S1 "    sticky:\n      secret: short\n",
	             "t.yaml:9:15: pools.p.sticky.secret: must be at least 16 characters (it signs "
	             "the cookie)");
	expect_error(
	        P1 S1 "    hash: {key: path}\n",
	        "t.yaml:8:5: pools.p.hash: only used with algorithm ip_hash or consistent_hash "
	        "(this pool uses round_robin)");
#define CH P1 S1 "    algorithm: consistent_hash\n"
	expect_error(
	        CH "    hash: {key: body}\n",
	        "t.yaml:9:17: pools.p.hash.key: must be client_ip, header, cookie, path or query "
	        "(got \"body\")");
	expect_error(CH "    hash: {key: header}\n",
	             "t.yaml:9:11: pools.p.hash.name: is required with key header");
	expect_error(CH "    hash: {key: path, name: x}\n",
	             "t.yaml:9:23: pools.p.hash.name: only used with key header, cookie or query");
	expect_error(CH "    hash: {key: header, name: 'X User'}\n",
	             "t.yaml:9:31: pools.p.hash.name: must be a header name (got \"X User\")");
	expect_error(
	        CH "    hash: {key: query, name: 'a=b'}\n",
	        "t.yaml:9:30: pools.p.hash.name: must be a query parameter name (got \"a=b\")");
	expect_error(CH "    hash: {balance_factor: 1}\n",
	             "t.yaml:9:28: pools.p.hash.balance_factor: must be 0 (unbounded) or a number "
	             "above 1 and at most 100, such as 1.25 (got \"1\")");
	expect_error(CH "    hash: {balance_factor: nan}\n",
	             "t.yaml:9:28: pools.p.hash.balance_factor: must be 0 (unbounded) or a number "
	             "above 1 and at most 100, such as 1.25 (got \"nan\")");
#undef CH
}

static void test_errors_sorted_and_many(void **state)
{
	struct fc_config *cfg;
	char big[64 * 1024];
	size_t used = 0;
	int i;

	/* Errors come out in file order even though pools are read first. */
	cfg = load("workers: x\n" LISTEN_OK "pools:\n  p:\n    servers: []\n");
	assert_null(cfg);
	assert_non_null(strstr(err, "t.yaml:1:10: "));
	assert_non_null(strstr(err, "t.yaml:8:14: "));
	assert_true(strstr(err, "t.yaml:1:10: ") < strstr(err, "t.yaml:8:14: "));

	used += (size_t)snprintf(big + used, sizeof(big) - used, LISTEN_OK POOL_OK "client:\n");
	for (i = 0; i < 80; i++)
		used += (size_t)snprintf(big + used, sizeof(big) - used, "  bad%d: 1\n", i);
	cfg = load(big);
	assert_null(cfg);
	assert_non_null(strstr(err, "(30 more errors not shown)"));
	assert_int_not_equal(err[strlen(err) - 1], '\n');

	/* A tiny buffer is truncated, never overflowed. */
	{
		char tiny[8];

		memset(tiny, 'x', sizeof(tiny));
		assert_null(fc_config_load_string("nope: 1\n", 8, "t.yaml", tiny, sizeof(tiny)));
		assert_int_equal(strlen(tiny), 7);
		assert_null(fc_config_load_string("nope: 1\n", 8, "t.yaml", NULL, 0));
	}
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/fulcrum-test-XXXXXX";
	struct fc_config *cfg;
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(MINIMAL "workers: x\n", f);
	fclose(f);
	cfg = fc_config_load_file(path, err, sizeof(err));
	assert_null(cfg);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ":8:10: workers: must be auto or 1..256 (got \"x\")"));
	f = fopen(path, "w");
	fputs(MINIMAL, f);
	fclose(f);
	cfg = fc_config_load_file(path, err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(cfg->source, path);
	fc_config_unref(cfg);
	unlink(path);

	cfg = fc_config_load_file("/nonexistent/fulcrum.yaml", err, sizeof(err));
	assert_null(cfg);
	assert_string_equal(err,
	                    "/nonexistent/fulcrum.yaml: cannot read: No such file or directory");
	cfg = fc_config_load_file("/tmp", err, sizeof(err));
	assert_null(cfg);
	assert_string_equal(err, "/tmp: cannot read: Is a directory");
}

/* The repository root, from this file's path. */
static void repo_root(char *buf, size_t len)
{
	const char *marker = strstr(__FILE__, "tests/unit/config/");
	size_t n = marker ? (size_t)(marker - __FILE__) : 0;

	if (n == 0) {
		snprintf(buf, len, ".");
		return;
	}
	snprintf(buf, len, "%.*s", (int)n, __FILE__);
}

/* True if the file has an "algorithm: NAME" line libfulcrum does not know. */
static bool names_unregistered_algorithm(const char *path)
{
	char line[512], name[64];
	bool found = false;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " algorithm: %63[a-z_0-9]", name) == 1 && !fc_algorithm_find(name))
			found = true;
	fclose(f);
	return found;
}

static void test_examples_are_valid(void **state)
{
	char root[1024], dir[1100], path[1400];
	struct dirent *de;
	int count = 0;
	bool quickstart = false;
	DIR *d;

	repo_root(root, sizeof(root));
	snprintf(dir, sizeof(dir), "%s/examples", root);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		struct fc_config *cfg;

		if (n < 6 || strcmp(de->d_name + n - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (names_unregistered_algorithm(path)) {
			print_message("skipped %s: algorithm not registered yet\n", de->d_name);
			count++;
			continue;
		}
		cfg = fc_config_load_file(path, err, sizeof(err));
		if (!cfg)
			print_error("%s\n", err);
		assert_non_null(cfg);
		if (strcmp(de->d_name, "quickstart.yaml") == 0) {
			quickstart = true;
			assert_int_equal(cfg->n_pools, 1);
			assert_int_equal(cfg->pools[0].n_servers, 3);
			assert_string_equal(cfg->listeners[0].address, "127.0.0.1:8080");
			assert_string_equal(cfg->pools[0].servers[2].url, "http://127.0.0.1:3003");
		}
		fc_config_unref(cfg);
		count++;
	}
	closedir(d);
	assert_true(quickstart);
	assert_true(count >= 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_every_key),
	        cmocka_unit_test(test_tls_keys),
	        cmocka_unit_test(test_http2_keys),
	        cmocka_unit_test(test_small_variants),
	        cmocka_unit_test(test_refcount),
	        cmocka_unit_test(test_max_idle),
	        cmocka_unit_test(test_errors_top),
	        cmocka_unit_test(test_errors_log_client),
	        cmocka_unit_test(test_errors_listeners),
	        cmocka_unit_test(test_errors_routes),
	        cmocka_unit_test(test_errors_pools),
	        cmocka_unit_test(test_errors_servers),
	        cmocka_unit_test(test_errors_sticky_hash),
	        cmocka_unit_test(test_errors_sorted_and_many),
	        cmocka_unit_test(test_load_file),
	        cmocka_unit_test(test_examples_are_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
