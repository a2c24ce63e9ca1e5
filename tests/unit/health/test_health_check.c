/* test_health_check.c — active checks against real servers on 127.0.0.1
 * (a thread of the test): HTTP 200 passes, 500 fails, silence times out,
 * a refused port fails, the body substring (also across chunks, bounded),
 * lame-duck statuses, TCP checks, the port override, and the exact request
 * sent (method, path, Host, User-Agent). Each wait is bounded. */
#include "helpers.h"

#define OK_RESPONSE "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
#define E500        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"

struct fix {
	struct fc_loop loop;
	struct fc_pool *pool;
	struct fc_health *h;
	struct fc_config_pool cp;
	struct fc_config_server cs;
	struct fc_server *srv;
	struct fc_health_server *hs;
	unsigned downs;
	uint64_t want_checks;
};

static void on_down(void *arg, struct fc_server *srv)
{
	struct fix *f = arg;
	(void)srv;
	f->downs++;
}

/* A fixture whose one server api-1 has address 127.0.0.1:port; hc is the
 * check config (fast: interval 300 ms, timeout 200 ms) the caller may edit
 * through edit before the server is registered. */
static struct fix *fix_new(uint16_t port, enum fc_health_type type, const char *path,
                           void (*edit)(struct fc_config_health *hc))
{
	struct fix *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(fc_loop_init(&f->loop), 0);
	f->pool = t_pool("api");
	f->cp.name = "api";
	t_passive_default(&f->cp.passive);
	struct fc_health_hooks hooks = {.server_down = on_down, .arg = f};
	assert_int_equal(fc_health_create(&f->loop, &hooks, &f->h), 0);
	f->srv = t_server(f->pool, "api-1");
	t_health_http(&f->cs.health, path);
	f->cs.health.type = type;
	f->cs.health.interval_ms = 300;
	f->cs.health.fast_interval_ms = 100;
	f->cs.health.timeout_ms = 200;
	f->cs.health.rise = 1;
	f->cs.health.fall = 1;
	if (edit)
		edit(&f->cs.health);
	f->cs.host = "127.0.0.1";
	f->cs.port = port;
	struct sockaddr_in a = t_addr(port);
	assert_int_equal(fc_health_add_server(f->h, f->pool, &f->cp, &f->cs, f->srv,
	                                      (struct sockaddr *)&a, sizeof a, &f->hs),
	                 0);
	assert_int_equal(fc_health_start(f->h), 0);
	return f;
}

static void fix_free(struct fix *f)
{
	fc_health_destroy(f->h);
	fc_pool_destroy(f->pool);
	fc_loop_fini(&f->loop);
	free(f);
}

static bool checks_done(void *arg)
{
	struct fix *f = arg;
	return f->hs->n_checks >= f->want_checks;
}

/* Runs the loop until n more checks completed (at most 3 s). */
static void run_checks(struct fix *f, uint64_t n)
{
	f->want_checks = f->hs->n_checks + n;
	assert_true(t_run(&f->loop, checks_done, f, 3000));
}

static void test_http_200_passes(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start(OK_RESPONSE);
	struct fix *f = fix_new(s->port, FC_HEALTH_HTTP, "/health", NULL);
	run_checks(f, 2);
	assert_int_equal(t_state(f->srv), FC_SERVER_HEALTHY);
	assert_int_equal(f->hs->checks_ok, 2);
	assert_int_equal(f->hs->checks_failed, 0);
	assert_non_null(strstr(f->hs->last_result, "HTTP 200 in "));
	struct fc_health_info in;
	fc_health_server_info(f->hs, &in);
	assert_true(in.last_check_ns > 0);
	assert_true(in.last_check_latency_ns > 0 && in.last_check_latency_ns < 200000000ull);
	/* what was sent, byte for byte */
	char req[2048], want[256];
	t_srv_last_request(s, req, sizeof req);
	snprintf(want, sizeof want,
	         "GET /health HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: fulcrum-health\r\n"
	         "Connection: close\r\n\r\n",
	         s->port);
	assert_string_equal(req, want);
	fix_free(f);
	t_srv_stop(s);
}

static void test_http_500_fails(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start(E500);
	struct fix *f = fix_new(s->port, FC_HEALTH_HTTP, "/health", NULL);
	run_checks(f, 1);
	assert_int_equal(t_state(f->srv), FC_SERVER_DEAD);
	assert_int_equal(f->downs, 1);
	struct fc_health_info in;
	fc_health_server_info(f->hs, &in);
	assert_non_null(
	        strstr(in.reason, "health check failed 1 time: HTTP 500 on GET /health in "));
	/* the server recovers: the next pass (rise 1) brings it back */
	t_srv_set(s, T_ANSWER, OK_RESPONSE);
	run_checks(f, 1);
	assert_int_equal(t_state(f->srv), FC_SERVER_HEALTHY);
	fc_health_server_info(f->hs, &in);
	assert_non_null(strstr(in.reason, "health check passed 1 time: HTTP 200 in "));
	fix_free(f);
	t_srv_stop(s);
}

static void test_silent_server_times_out(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start(NULL);
	t_srv_set(s, T_SILENT, NULL);
	struct fix *f = fix_new(s->port, FC_HEALTH_HTTP, "/health", NULL);
	uint64_t t0 = fc_time_ns();
	run_checks(f, 2);
	assert_true(fc_time_ns() - t0 >= 400000000ull); /* two checks of 200 ms each */
	assert_string_equal(f->hs->last_result, "timeout after 200 ms (connected, no answer)");
	assert_true(f->hs->last_check_latency_ns >= 200000000ull);
	assert_int_equal(t_state(f->srv), FC_SERVER_DEAD);
	/* one check at a time: no more connections than checks (+ the one running) */
	assert_true(t_srv_connections(s) <= f->hs->n_checks + 1);
	fix_free(f); /* with a check in flight: closed and freed (ASan watches) */
	t_srv_stop(s);
}

static void test_refused(void **state)
{
	(void)state;
	struct fix *f = fix_new(t_free_port(), FC_HEALTH_HTTP, "/health", NULL);
	run_checks(f, 1);
	assert_string_equal(f->hs->last_result, "connect refused");
	assert_int_equal(t_state(f->srv), FC_SERVER_DEAD);
	fix_free(f);
}

static void closed_mode(struct t_srv *s, struct fix *f, const char *want)
{
	t_srv_set(s, T_CLOSE, NULL);
	run_checks(f, 1);
	assert_string_equal(f->hs->last_result, want);
}

static void test_closed_without_answer(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start(NULL);
	struct fix *f = fix_new(s->port, FC_HEALTH_HTTP, "/health", NULL);
	closed_mode(s, f, "connection closed without an answer");
	t_srv_set(s, T_ANSWER, "HTTP/1.1 200 OK\r\nContent-Le");
	run_checks(f, 1);
	assert_string_equal(f->hs->last_result, "connection closed in the response head");
	t_srv_set(s, T_ANSWER, "HTTP/1.1 2x0 OK\r\n\r\n");
	run_checks(f, 1);
	assert_non_null(strstr(f->hs->last_result, "bad response head: "));
	fix_free(f);
	t_srv_stop(s);
}

static char *g_body = "all good";

static void edit_body(struct fc_config_health *hc)
{
	hc->body = g_body;
}

static void test_body(void **state)
{
	(void)state;
	struct t_srv *s =
	        t_srv_start("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nstatus: all good!!!");
	struct fix *f = fix_new(s->port, FC_HEALTH_HTTP, "/health", edit_body);
	run_checks(f, 1);
	assert_non_null(strstr(f->hs->last_result, "HTTP 200 in "));
	assert_int_equal(t_state(f->srv), FC_SERVER_HEALTHY);

	t_srv_set(s, T_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nstatus: bad!");
	run_checks(f, 1);
	assert_string_equal(f->hs->last_result,
	                    "body does not contain \"all good\" (HTTP 200 on GET /health)");
	assert_int_equal(t_state(f->srv), FC_SERVER_DEAD);

	/* split over chunks: found across the boundary */
	t_srv_set(s, T_ANSWER,
	          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	          "6\r\nxx all\r\n1\r\n \r\n5\r\ngood.\r\n0\r\n\r\n");
	run_checks(f, 1);
	assert_non_null(strstr(f->hs->last_result, "HTTP 200 in "));
	assert_int_equal(t_state(f->srv), FC_SERVER_HEALTHY);

	/* close-delimited body */
	t_srv_set(s, T_ANSWER, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nyes, all good");
	run_checks(f, 1);
	assert_non_null(strstr(f->hs->last_result, "HTTP 200 in "));

	/* a status outside expect is a failure before any body is read */
	t_srv_set(s, T_ANSWER, "HTTP/1.1 503 No\r\nContent-Length: 8\r\n\r\nall good");
	run_checks(f, 1);
	assert_non_null(strstr(f->hs->last_result, "HTTP 503 on GET /health in "));

	/* only the first 64 KiB are searched */
	static char big[79000];
	int n = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nContent-Length: 70008\r\n\r\n");
	memset(big + n, 'x', 70000);
	memcpy(big + n + 70000, "all good", 8);
	big[n + 70008] = 0;
	t_srv_set(s, T_ANSWER, big);
	run_checks(f, 1);
	assert_string_equal(f->hs->last_result,
	                    "body does not contain \"all good\" (HTTP 200 on GET /health)");
	fix_free(f);
	t_srv_stop(s);
}

static struct fc_config_status_range g_lame[] = {{404, 404}};

static void edit_lame(struct fc_config_health *hc)
{
	hc->lame_duck = g_lame;
	hc->n_lame_duck = 1;
}

static void test_lame_duck_status(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
	struct fix *f = fix_new(s->port, FC_HEALTH_HTTP, "/health", edit_lame);
	run_checks(f, 1);
	assert_int_equal(t_state(f->srv), FC_SERVER_LAME_DUCK);
	struct fc_health_info in;
	fc_health_server_info(f->hs, &in);
	assert_string_equal(in.reason, "health check answered HTTP 404: no new clients");
	assert_int_equal(f->downs, 0);
	t_srv_set(s, T_ANSWER, OK_RESPONSE);
	run_checks(f, 1);
	assert_int_equal(t_state(f->srv), FC_SERVER_HEALTHY);
	fix_free(f);
	t_srv_stop(s);
}

static void test_tcp(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start(NULL);
	t_srv_set(s, T_SILENT, NULL); /* a TCP check needs nothing but the accept */
	struct fix *f = fix_new(s->port, FC_HEALTH_TCP, "/", NULL);
	run_checks(f, 2);
	assert_non_null(strstr(f->hs->last_result, "TCP connect in "));
	assert_int_equal(t_state(f->srv), FC_SERVER_HEALTHY);
	fix_free(f);
	t_srv_stop(s);

	f = fix_new(t_free_port(), FC_HEALTH_TCP, "/", NULL);
	run_checks(f, 1);
	assert_string_equal(f->hs->last_result, "connect refused");
	assert_int_equal(t_state(f->srv), FC_SERVER_DEAD);
	fix_free(f);
}

static uint16_t g_port;

static void edit_port(struct fc_config_health *hc)
{
	hc->port = g_port;
}

static void edit_request(struct fc_config_health *hc)
{
	hc->method = "HEAD";
	hc->path = "/status?full=1";
	hc->host = "api.example";
}

static void test_port_override_and_request(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start(OK_RESPONSE);
	g_port = s->port;
	uint16_t traffic = t_free_port(); /* the traffic port refuses */
	struct fix *f = fix_new(traffic, FC_HEALTH_HTTP, "/health", edit_port);
	run_checks(f, 1);
	assert_non_null(strstr(f->hs->last_result, "HTTP 200 in "));
	char req[2048], want[64];
	t_srv_last_request(s, req, sizeof req);
	snprintf(want, sizeof want, "\r\nHost: 127.0.0.1:%u\r\n", traffic); /* the server's */
	assert_non_null(strstr(req, want));
	fix_free(f);

	t_srv_set(s, T_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
	f = fix_new(s->port, FC_HEALTH_HTTP, "/health", edit_request);
	run_checks(f, 1);
	assert_non_null(strstr(f->hs->last_result, "HTTP 200 in ")); /* HEAD: no body read */
	t_srv_last_request(s, req, sizeof req);
	assert_string_equal(req, "HEAD /status?full=1 HTTP/1.1\r\nHost: api.example\r\n"
	                         "User-Agent: fulcrum-health\r\nConnection: close\r\n\r\n");
	fix_free(f);
	t_srv_stop(s);
}

static struct fc_config_status_range g_expect[] = {{204, 204}, {301, 302}};

static void edit_expect(struct fc_config_health *hc)
{
	hc->expect = g_expect;
	hc->n_expect = 2;
}

static void test_expect_ranges(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	struct fix *f = fix_new(s->port, FC_HEALTH_HTTP, "/", edit_expect);
	run_checks(f, 1);
	assert_non_null(strstr(f->hs->last_result, "HTTP 200 on GET / in "));
	t_srv_set(s, T_ANSWER, "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n");
	run_checks(f, 1);
	assert_non_null(strstr(f->hs->last_result, "HTTP 302 in "));
	t_srv_set(s, T_ANSWER, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
	run_checks(f, 1);
	assert_non_null(strstr(f->hs->last_result, "HTTP 204 in "));
	fix_free(f);
	t_srv_stop(s);
}

/* A listener that never accepts, its accept queue filled: the kernel drops
 * further SYNs, so a connect neither succeeds nor fails. */
static void test_connect_timeout(void **state)
{
	(void)state;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = t_addr(0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(lfd, 0), 0);
	socklen_t al = sizeof a;
	getsockname(lfd, (struct sockaddr *)&a, &al);
	int fill[4];
	for (int i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		connect(fill[i], (struct sockaddr *)&a, sizeof a);
	}
	usleep(50000);
	struct fix *f = fix_new(ntohs(a.sin_port), FC_HEALTH_HTTP, "/health", NULL);
	run_checks(f, 1);
	assert_string_equal(f->hs->last_result, "timeout after 200 ms (connecting)");
	fix_free(f);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
}

static void edit_rise2(struct fc_config_health *hc)
{
	hc->rise = 2;
	hc->fall = 3;
	hc->interval_ms = 1000; /* slow, so the fast pace after the ejection shows */
	hc->fast_interval_ms = 100;
}

static bool is_healthy(void *arg)
{
	struct fix *f = arg;
	return t_state(f->srv) == FC_SERVER_HEALTHY;
}

/* Passive ejection on a running loop, with active checks passing: the
 * ejection lasts its 300 ms whatever the checks say, then two checks at the
 * fast interval (100 ms, not 1 s) bring the server back. */
static void test_ejection_end_with_live_checks(void **state)
{
	(void)state;
	struct t_srv *s = t_srv_start(OK_RESPONSE);
	struct fix *f = fix_new(s->port, FC_HEALTH_HTTP, "/health", edit_rise2);
	f->hs->hp->passive.eject_ms = 300;
	f->hs->hp->passive.max_eject_ms = 300;
	f->hs->hp->passive.max_ejected_pct = 100;
	run_checks(f, 1);
	uint64_t t0 = fc_time_ns();
	for (int k = 0; k < 5; k++)
		fc_health_report(f->hs, FC_BLAME_SERVER, 0, "response timeout", t0);
	fc_mailbox_drain(&f->h->mb);
	assert_int_equal(t_state(f->srv), FC_SERVER_DEAD);
	assert_int_equal(f->downs, 1);
	uint64_t checks = f->hs->n_checks;
	assert_true(t_run(&f->loop, is_healthy, f, 2000));
	uint64_t took_ms = (fc_time_ns() - t0) / 1000000ull;
	printf("ejected for 300 ms, back after %llu ms and %llu checks\n",
	       (unsigned long long)took_ms, (unsigned long long)(f->hs->n_checks - checks));
	assert_true(took_ms >= 300);
	assert_true(took_ms < 900); /* 300 ms + two fast checks, not the 1 s interval */
	assert_true(f->hs->n_checks - checks >= 2);
	struct fc_health_info in;
	fc_health_server_info(f->hs, &in);
	assert_non_null(strstr(in.reason, "health check passed 2 times: HTTP 200 in "));
	fix_free(f);
	t_srv_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_http_200_passes),
	        cmocka_unit_test(test_http_500_fails),
	        cmocka_unit_test(test_silent_server_times_out),
	        cmocka_unit_test(test_refused),
	        cmocka_unit_test(test_closed_without_answer),
	        cmocka_unit_test(test_body),
	        cmocka_unit_test(test_lame_duck_status),
	        cmocka_unit_test(test_tcp),
	        cmocka_unit_test(test_port_override_and_request),
	        cmocka_unit_test(test_expect_ranges),
	        cmocka_unit_test(test_connect_timeout),
	        cmocka_unit_test(test_ejection_end_with_live_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
