/* test_health_state.c — the per-server state machine with a fake clock (no
 * check runs; verdicts and reports are fed by hand): rise/fall, lame duck,
 * passive ejection with its backoff and cap, max_ejected, the end of an
 * ejection with and without active checks, draining, blame, and the exact
 * log lines an operator reads. */
#include "helpers.h"

#define SEC 1000000000ull

struct fix {
	struct fc_loop loop;
	struct fc_pool *pool;
	struct fc_health *h;
	struct fc_config_pool cp;
	struct fc_config_server cs[4];
	struct fc_server *srv[4];
	struct fc_health_server *hs[4];
	unsigned n;
	unsigned downs[4];               /* server_down calls per server */
	unsigned woke[4], found_down[4]; /* server_woke calls per server, up and down */
	char log[16384];
};

static void on_down(void *arg, struct fc_server *srv)
{
	struct fix *f = arg;
	for (unsigned i = 0; i < f->n; i++)
		if (f->srv[i] == srv)
			f->downs[i]++;
}

static void on_woke(void *arg, struct fc_pool *pool, struct fc_server *srv, bool up)
{
	struct fix *f = arg;
	assert_ptr_equal(pool, f->pool);
	for (unsigned i = 0; i < f->n; i++)
		if (f->srv[i] == srv)
			(up ? f->woke : f->found_down)[i]++;
}

/* n servers api-1..api-n; active http checks on those whose bit is in
 * active_mask; passive defaults. */
static unsigned fix_panic_permille; /* the next fix_new's pool.panic_permille */

static struct fix *fix_new(unsigned n, unsigned active_mask)
{
	struct fix *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(fc_loop_init(&f->loop), 0);
	f->pool = t_pool_panic("api", fix_panic_permille);
	f->n = n;
	f->cp.name = "api";
	t_passive_default(&f->cp.passive);
	struct fc_health_hooks hooks = {.server_down = on_down, .server_woke = on_woke, .arg = f};
	assert_int_equal(fc_health_create(&f->loop, &hooks, &f->h), 0);
	for (unsigned i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof name, "api-%u", i + 1);
		f->srv[i] = t_server(f->pool, name);
		if (active_mask & (1u << i))
			t_health_http(&f->cs[i].health, "/health");
		struct sockaddr_in a = t_addr(9); /* never connected: checks are not started */
		assert_int_equal(fc_health_add_server(f->h, f->pool, &f->cp, &f->cs[i], f->srv[i],
		                                      (struct sockaddr *)&a, sizeof a, &f->hs[i]),
		                 0);
	}
	t_log_start();
	return f;
}

static void fix_free(struct fix *f)
{
	fc_health_destroy(f->h);
	fc_pool_destroy(f->pool);
	fc_loop_fini(&f->loop);
	t_log_stop();
	free(f);
}

static const char *take_log(struct fix *f)
{
	return t_log_take(f->log, sizeof f->log);
}

static void check_fail(struct fix *f, unsigned i, uint64_t now)
{
	fc__health_on_check(f->hs[i], FC__HEALTH_FAIL, "HTTP 500 on GET /health in 2 ms", 2000000,
	                    now);
}

static void check_pass(struct fix *f, unsigned i, uint64_t now)
{
	fc__health_on_check(f->hs[i], FC__HEALTH_PASS, "HTTP 200 in 1 ms", 1000000, now);
}

static void faults(struct fix *f, unsigned i, unsigned n, uint64_t now)
{
	for (unsigned k = 0; k < n; k++)
		fc_health_report(f->hs[i], FC_BLAME_SERVER, 0, "connect refused", now);
}

static struct fc_health_info info(struct fix *f, unsigned i)
{
	struct fc_health_info in;
	fc_health_server_info(f->hs[i], &in);
	return in;
}

static void test_fall_rise(void **state)
{
	(void)state;
	struct fix *f = fix_new(3, 0x7);
	check_fail(f, 1, 1 * SEC);
	check_fail(f, 1, 2 * SEC);
	assert_int_equal(t_state(f->srv[1]), FC_SERVER_HEALTHY);
	assert_true(fc__health_is_changing(f->hs[1]));
	assert_string_equal(take_log(f), "");
	check_fail(f, 1, 3 * SEC);
	assert_int_equal(t_state(f->srv[1]), FC_SERVER_DEAD);
	assert_int_equal(info(f, 1).state, FC_SERVER_DEAD);
	assert_int_equal(info(f, 1).since_ns, 3 * SEC);
	assert_int_equal(f->downs[1], 1);
	assert_false(fc__health_is_changing(f->hs[1]));
	const char *log = take_log(f);
	assert_non_null(strstr(log, " warn pool api: server api-2 is down (health check failed 3 "
	                            "times: HTTP 500 on GET /health in 2 ms); 2/3 servers are "
	                            "healthy\n"));
	assert_int_equal(t_count(log, "\n"), 1);
	assert_string_equal(info(f, 1).reason,
	                    "health check failed 3 times: HTTP 500 on GET /health in 2 ms");

	/* more failures: no new line; a pass then a failure restarts rise */
	check_fail(f, 1, 4 * SEC);
	check_pass(f, 1, 5 * SEC);
	assert_true(fc__health_is_changing(f->hs[1]));
	check_fail(f, 1, 6 * SEC);
	check_pass(f, 1, 7 * SEC);
	assert_int_equal(t_state(f->srv[1]), FC_SERVER_DEAD);
	assert_string_equal(take_log(f), "");
	check_pass(f, 1, 8 * SEC);
	assert_int_equal(t_state(f->srv[1]), FC_SERVER_HEALTHY);
	assert_int_equal(f->downs[1], 1);
	assert_non_null(strstr(take_log(f), " info pool api: server api-2 is up (health check "
	                                    "passed 2 times: HTTP 200 in 1 ms); 3/3 servers are "
	                                    "healthy\n"));
	uint32_t healthy, total;
	fc_health_pool_summary(f->h, f->pool, &healthy, &total);
	assert_int_equal(healthy, 3);
	assert_int_equal(total, 3);
	assert_int_equal(info(f, 1).last_check_ns, 8 * SEC);
	assert_int_equal(info(f, 1).last_check_latency_ns, 1000000);
	fix_free(f);
}

static void test_no_server_healthy(void **state)
{
	(void)state;
	struct fix *f = fix_new(3, 0x7);
	for (unsigned i = 0; i < 3; i++)
		for (int k = 0; k < 3; k++)
			check_fail(f, i, SEC);
	const char *log = take_log(f);
	assert_int_equal(t_count(log, "is down"), 3);
	assert_non_null(strstr(log, "server api-3 is down (health check failed 3 times: HTTP 500 "
	                            "on GET /health in 2 ms); 0/3 servers are healthy\n"));
	assert_int_equal(t_count(log, " warn pool api: no server is healthy (0/3)\n"), 1);
	/* the line follows the change that caused it */
	assert_true(strstr(log, "no server") > strstr(log, "api-3 is down"));
	fix_free(f);
}

static void test_lame_duck(void **state)
{
	(void)state;
	struct fix *f = fix_new(3, 0x7);
	fc__health_on_check(f->hs[0], FC__HEALTH_LAME, "HTTP 404", 1000000, SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_LAME_DUCK);
	assert_int_equal(f->downs[0], 0); /* lame duck keeps its connections */
	assert_non_null(strstr(take_log(f), " warn pool api: server api-1 is lame duck (health "
	                                    "check answered HTTP 404: no new clients); 2/3 "
	                                    "servers are healthy\n"));
	/* still lame: no line; a failure is not a way out */
	fc__health_on_check(f->hs[0], FC__HEALTH_LAME, "HTTP 404", 1000000, 2 * SEC);
	check_fail(f, 0, 3 * SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_LAME_DUCK);
	assert_string_equal(take_log(f), "");
	check_pass(f, 0, 4 * SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_HEALTHY);
	assert_non_null(strstr(take_log(f), " info pool api: server api-1 is up (health check "
	                                    "answered normally again: HTTP 200 in 1 ms); 3/3 "
	                                    "servers are healthy\n"));
	/* lame duck, then down by fall, then up again lands in the last verdict's state */
	fc__health_on_check(f->hs[0], FC__HEALTH_LAME, "HTTP 404", 1000000, 5 * SEC);
	for (int k = 0; k < 3; k++)
		check_fail(f, 0, 6 * SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_DEAD);
	assert_int_equal(f->downs[0], 1);
	check_pass(f, 0, 7 * SEC);
	check_pass(f, 0, 8 * SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_HEALTHY);
	fix_free(f);
}

static void test_blame(void **state)
{
	(void)state;
	struct fix *f = fix_new(3, 0);
	struct fc_health_server *hs = f->hs[0];
	assert_true(fc_health_status_is_fault(hs, 503));
	assert_false(fc_health_status_is_fault(hs, 500));
	fc_health_report(hs, FC_BLAME_SERVER, 0, "connect refused", SEC);
	fc_health_report(hs, FC_BLAME_NONE, 502, NULL, SEC);
	assert_int_equal(atomic_load(&hs->streak), 2);
	fc_health_report(hs, FC_BLAME_CLIENT, 0, "client gone", SEC);
	fc_health_report(hs, FC_BLAME_CONNECTION, 0, "reused connection closed", SEC);
	assert_int_equal(atomic_load(&hs->streak), 2);
	fc_health_report(hs, FC_BLAME_NONE, 500, NULL, SEC); /* not listed: a success */
	assert_int_equal(atomic_load(&hs->streak), 0);
	/* five faults in a row, last a 503 without text: the reason names it */
	faults(f, 0, 4, SEC);
	fc_health_report(hs, FC_BLAME_NONE, 503, NULL, SEC);
	assert_int_equal(fc_mailbox_drain(&f->h->mb), 1);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_DEAD);
	assert_non_null(strstr(take_log(f),
	                       "server api-1 is ejected for 10s (5 consecutive "
	                       "failures, last: HTTP 503); 2/3 servers are healthy\n"));
	fix_free(f);
}

static void test_passive_backoff(void **state)
{
	(void)state;
	struct fix *f = fix_new(3, 0);
	struct fc_health_server *hs = f->hs[2];
	uint64_t now = 100 * SEC;
	faults(f, 2, 4, now);
	fc_health_report(hs, FC_BLAME_NONE, 200, NULL, now);
	faults(f, 2, 4, now);
	assert_int_equal(fc_mailbox_drain(&f->h->mb), 0);
	assert_int_equal(t_state(f->srv[2]), FC_SERVER_HEALTHY);
	faults(f, 2, 1, now);
	assert_int_equal(fc_mailbox_drain(&f->h->mb), 1);
	assert_int_equal(t_state(f->srv[2]), FC_SERVER_DEAD);
	assert_true(info(f, 2).ejected);
	assert_int_equal(info(f, 2).ejections, 1);
	assert_int_equal(f->downs[2], 1);
	assert_non_null(strstr(take_log(f), " warn pool api: server api-3 is ejected for 10s (5 "
	                                    "consecutive failures, last: connect refused); 2/3 "
	                                    "servers are healthy\n"));
	assert_string_equal(info(f, 2).reason,
	                    "ejected for 10s (5 consecutive failures, last: connect refused)");
	/* reports while out are ignored: no streak, no message */
	faults(f, 2, 20, now);
	assert_int_equal(atomic_load(&hs->streak), 0);
	assert_int_equal(fc_mailbox_drain(&f->h->mb), 0);

	/* no active checks: the end of the ejection brings it back */
	now += 10 * SEC;
	fc__health_eject_end(hs, now);
	assert_int_equal(t_state(f->srv[2]), FC_SERVER_HEALTHY);
	assert_false(info(f, 2).ejected);
	assert_non_null(strstr(take_log(f), " info pool api: server api-3 is up (ejection of 10s "
	                                    "ended); 3/3 servers are healthy\n"));

	/* each new ejection doubles, up to max_eject */
	const char *want[] = {"20s", "40s", "1m20s", "2m40s", "5m", "5m"};
	uint32_t ms[] = {20000, 40000, 80000, 160000, 300000, 300000};
	for (unsigned k = 0; k < 6; k++) {
		now += SEC;
		faults(f, 2, 5, now);
		assert_int_equal(fc_mailbox_drain(&f->h->mb), 1);
		char line[96];
		snprintf(line, sizeof line, "server api-3 is ejected for %s (", want[k]);
		assert_non_null(strstr(take_log(f), line));
		assert_int_equal(hs->eject_cur_ms, ms[k]);
		now += (uint64_t)ms[k] * 1000000ull;
		fc__health_eject_end(hs, now);
		assert_int_equal(t_state(f->srv[2]), FC_SERVER_HEALTHY);
	}
	/* in service for max_eject (5 minutes): the backoff starts over */
	now += 300 * SEC;
	faults(f, 2, 5, now);
	assert_int_equal(fc_mailbox_drain(&f->h->mb), 1);
	assert_non_null(strstr(take_log(f), "server api-3 is ejected for 10s ("));
	assert_int_equal(info(f, 2).ejections, 8);
	fix_free(f);
}

static void test_max_ejected(void **state)
{
	(void)state;
	/* 4 servers, api-1 with active checks; 50 %: at most 2 down */
	struct fix *f = fix_new(4, 0x1);
	for (int k = 0; k < 3; k++)
		check_fail(f, 0, SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_DEAD);
	take_log(f);
	faults(f, 1, 5, 2 * SEC);
	fc_mailbox_drain(&f->h->mb);
	assert_int_equal(t_state(f->srv[1]), FC_SERVER_DEAD); /* 2/4 down: allowed */
	take_log(f);
	faults(f, 2, 5, 3 * SEC);
	fc_mailbox_drain(&f->h->mb);
	assert_int_equal(t_state(f->srv[2]), FC_SERVER_HEALTHY); /* 3/4 would be too many */
	assert_false(info(f, 2).ejected);
	assert_int_equal(f->downs[2], 0);
	assert_non_null(strstr(take_log(f),
	                       " warn pool api: server api-3 is not ejected (5 consecutive "
	                       "failures, last: connect refused): 3/4 servers would be down, over "
	                       "max_ejected 50%; 2/4 servers are healthy\n"));
	/* the refusal starts a fresh streak: four more faults are not a crossing */
	faults(f, 2, 4, 4 * SEC);
	assert_int_equal(fc_mailbox_drain(&f->h->mb), 0);
	faults(f, 2, 1, 4 * SEC);
	assert_int_equal(fc_mailbox_drain(&f->h->mb), 1);
	assert_int_equal(t_count(take_log(f), "is not ejected"), 1);
	/* api-1 back up: now api-3 may go */
	check_pass(f, 0, 5 * SEC);
	check_pass(f, 0, 5 * SEC);
	faults(f, 2, 5, 6 * SEC);
	fc_mailbox_drain(&f->h->mb);
	assert_int_equal(t_state(f->srv[2]), FC_SERVER_DEAD);
	fix_free(f);

	/* one server alone is never ejected at 50 % */
	struct fix *g = fix_new(1, 0);
	faults(g, 0, 5, SEC);
	fc_mailbox_drain(&g->h->mb);
	assert_int_equal(t_state(g->srv[0]), FC_SERVER_HEALTHY);
	assert_non_null(strstr(take_log(g), "1/1 servers would be down"));
	fix_free(g);
}

static void test_eject_end_with_active_checks(void **state)
{
	(void)state;
	struct fix *f = fix_new(3, 0x7);
	struct fc_health_server *hs = f->hs[0];
	check_pass(f, 0, SEC); /* active checks pass throughout */
	faults(f, 0, 5, 2 * SEC);
	fc_mailbox_drain(&f->h->mb);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_DEAD);
	check_pass(f, 0, 3 * SEC); /* passes during the ejection do not shorten it */
	take_log(f);
	fc__health_eject_end(hs, 12 * SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_DEAD);
	assert_true(fc__health_is_changing(hs)); /* checked at the fast interval */
	assert_non_null(strstr(take_log(f), " info pool api: server api-1: ejection of 10s ended; "
	                                    "up again after 2 passing health checks\n"));
	/* reports are still ignored: the server is out */
	faults(f, 0, 5, 12 * SEC);
	assert_int_equal(fc_mailbox_drain(&f->h->mb), 0);
	check_pass(f, 0, 13 * SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_DEAD);
	check_pass(f, 0, 14 * SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_HEALTHY);
	assert_false(fc__health_is_changing(hs));
	assert_non_null(strstr(take_log(f), "server api-1 is up (health check passed 2 times: "
	                                    "HTTP 200 in 1 ms); 3/3 servers are healthy\n"));
	/* a failure right after the ejection: simply down, normal pace */
	faults(f, 0, 5, 15 * SEC);
	fc_mailbox_drain(&f->h->mb);
	fc__health_eject_end(hs, 40 * SEC);
	check_fail(f, 0, 41 * SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_DEAD);
	assert_false(fc__health_is_changing(hs));
	fix_free(f);
}

static void test_draining(void **state)
{
	(void)state;
	struct fix *f = fix_new(3, 0x7);
	fc_health_server_drain(f->hs[1], true, SEC);
	assert_int_equal(t_state(f->srv[1]), FC_SERVER_DRAINING);
	assert_int_equal(f->downs[1], 1);
	assert_non_null(strstr(take_log(f), " warn pool api: server api-2 is draining (drained by "
	                                    "the admin API); 2/3 servers are healthy\n"));
	/* checks and reports never move a draining server */
	for (int k = 0; k < 5; k++)
		check_fail(f, 1, 2 * SEC);
	fc__health_on_check(f->hs[1], FC__HEALTH_LAME, "HTTP 404", 1, 3 * SEC);
	faults(f, 1, 10, 3 * SEC);
	assert_int_equal(fc_mailbox_drain(&f->h->mb), 0);
	assert_int_equal(t_state(f->srv[1]), FC_SERVER_DRAINING);
	assert_string_equal(take_log(f), "");
	/* the drain ends: what the checks said applies */
	fc_health_server_drain(f->hs[1], false, 4 * SEC);
	assert_int_equal(t_state(f->srv[1]), FC_SERVER_DEAD);
	assert_non_null(strstr(take_log(f), "server api-2 is down (drain ended); 2/3 servers"));
	check_pass(f, 1, 5 * SEC);
	check_pass(f, 1, 6 * SEC);
	assert_int_equal(t_state(f->srv[1]), FC_SERVER_HEALTHY);
	fix_free(f);
}

/* wake: puts servers asleep (a state of their own, below draining, above
 * everything the checks say), and a wake takes them out once their checks
 * pass (rise of them; one connect for a server without checks); a probe's
 * first verdict decides. */
static void test_sleep_and_wake(void **state)
{
	(void)state;
	struct fix *f = fix_new(3, 0x1); /* api-1 has active checks, the others none */
	fc_health_server_sleep(f->hs[0], true, "no request for 15m", SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_ASLEEP);
	assert_int_equal(info(f, 0).state, FC_SERVER_ASLEEP);
	assert_true(fc_health_server_asleep(f->hs[0]));
	assert_int_equal(f->downs[0], 1); /* its idle connections close */
	const char *log = take_log(f);
	assert_non_null(strstr(log, " info pool api: server api-1 is asleep (no request for 15m); "
	                            "2/3 servers are healthy\n"));
	assert_null(strstr(log, "warn"));
	/* asleep: reports and failing checks change nothing */
	faults(f, 0, 10, 2 * SEC);
	assert_int_equal(fc_mailbox_drain(&f->h->mb), 0);
	for (int k = 0; k < 4; k++)
		check_fail(f, 0, 2 * SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_ASLEEP);
	/* the wake: rise (2) passes, then up; the hook says so */
	fc_health_server_wake(f->hs[0], false, 3 * SEC);
	check_fail(f, 0, 3 * SEC);
	check_pass(f, 0, 4 * SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_ASLEEP);
	assert_int_equal(f->woke[0], 0);
	check_pass(f, 0, 5 * SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_HEALTHY);
	assert_int_equal(f->woke[0], 1);
	assert_false(fc_health_server_asleep(f->hs[0]));
	assert_non_null(strstr(take_log(f), "server api-1 is up (woken: HTTP 200 in 1 ms); 3/3"));
	/* without checks: one connect wakes it */
	fc_health_server_sleep(f->hs[1], true, "idle", 6 * SEC);
	fc_health_server_wake(f->hs[1], false, 6 * SEC);
	fc__health_on_check(f->hs[1], FC__HEALTH_FAIL, "connect refused", 1, 6 * SEC);
	assert_int_equal(t_state(f->srv[1]), FC_SERVER_ASLEEP);
	fc__health_on_check(f->hs[1], FC__HEALTH_PASS, "TCP connect in 0 ms", 1, 7 * SEC);
	assert_int_equal(t_state(f->srv[1]), FC_SERVER_HEALTHY);
	assert_int_equal(f->woke[1], 1);
	/* a probe: the first verdict decides, a failure is reported too */
	fc_health_server_sleep(f->hs[2], true, "probing it at start", 8 * SEC);
	fc_health_server_wake(f->hs[2], true, 8 * SEC);
	fc__health_on_check(f->hs[2], FC__HEALTH_FAIL, "connect refused", 1, 8 * SEC);
	assert_int_equal(t_state(f->srv[2]), FC_SERVER_ASLEEP);
	assert_int_equal(f->found_down[2], 1);
	assert_non_null(
	        strstr(take_log(f), "server api-3 is asleep (found down: connect refused)"));
	/* a wake of a server not asleep does nothing */
	fc_health_server_wake(f->hs[0], false, 9 * SEC);
	assert_int_equal(t_state(f->srv[0]), FC_SERVER_HEALTHY);
	/* draining wins over asleep, and asleep comes back after it */
	fc_health_server_drain(f->hs[2], true, 10 * SEC);
	assert_int_equal(t_state(f->srv[2]), FC_SERVER_DRAINING);
	fc_health_server_drain(f->hs[2], false, 11 * SEC);
	assert_int_equal(t_state(f->srv[2]), FC_SERVER_ASLEEP);
	/* out of sleep by hand: what its checks say (none: healthy) */
	fc_health_server_sleep(f->hs[2], false, "wake: was removed", 12 * SEC);
	assert_int_equal(t_state(f->srv[2]), FC_SERVER_HEALTHY);
	fix_free(f);
}

/* The states health sets drive the pool's panic mode (libfulcrum counts the
 * healthy servers; panic starts strictly below the threshold). */
static void test_panic_threshold(void **state)
{
	(void)state;
	struct fix *f = fix_new(4, 0xf);
	for (int k = 0; k < 9; k++)
		check_fail(f, k / 3, SEC);
	assert_false(fc_pool_in_panic(f->pool)); /* off by default */
	fix_free(f);
	fix_panic_permille = 500;
	f = fix_new(4, 0xf);
	fix_panic_permille = 0;
	for (int k = 0; k < 3; k++)
		check_fail(f, 0, SEC);
	assert_false(fc_pool_in_panic(f->pool)); /* 3/4 healthy */
	for (int k = 0; k < 3; k++)
		check_fail(f, 1, SEC);
	assert_false(fc_pool_in_panic(f->pool)); /* 2/4: not below 50 % */
	for (int k = 0; k < 3; k++)
		check_fail(f, 2, SEC);
	assert_true(fc_pool_in_panic(f->pool)); /* 1/4 */
	check_pass(f, 2, SEC);
	check_pass(f, 2, SEC);
	assert_false(fc_pool_in_panic(f->pool));
	fix_free(f);
}

static void test_next_gap(void **state)
{
	(void)state;
	struct fix *f = fix_new(1, 0x1);
	struct fc_health_server *hs = f->hs[0];
	uint32_t lo = UINT32_MAX, hi = 0;
	for (int k = 0; k < 2000; k++) {
		uint32_t g = fc__health_next_gap_ms(hs);
		lo = g < lo ? g : lo;
		hi = g > hi ? g : hi;
	}
	assert_true(lo >= 1800 && hi <= 2200);
	assert_true(hi - lo > 300); /* really jittered */
	check_fail(f, 0, SEC);
	for (int k = 0; k < 200; k++) {
		uint32_t g = fc__health_next_gap_ms(hs);
		assert_true(g >= 450 && g <= 550);
	}
	fix_free(f);
}

/* What the metrics read: checks by result, the last one's verdict and text;
 * and a server the admin API removed: out of its pool's counts, reports and
 * drains ignored, its reference dropped once (destroy does not drop it again). */
static void test_results_and_remove(void **state)
{
	(void)state;
	struct fix *f = fix_new(3, 0x7);
	check_fail(f, 0, SEC);
	check_pass(f, 0, 2 * SEC);
	fc__health_on_check(f->hs[0], FC__HEALTH_LAME, "HTTP 503 on GET /health in 1 ms", 1,
	                    3 * SEC);
	f->hs[0]->ck.timed_out = true; /* as on_deadline sets it */
	check_fail(f, 0, 4 * SEC);
	f->hs[0]->ck.timed_out = false;
	struct fc_health_info in = info(f, 0);
	assert_true(in.active);
	assert_int_equal(in.results[FC_HEALTH_RESULT_OK], 1);
	assert_int_equal(in.results[FC_HEALTH_RESULT_FAILED], 1);
	assert_int_equal(in.results[FC_HEALTH_RESULT_LAME_DUCK], 1);
	assert_int_equal(in.results[FC_HEALTH_RESULT_TIMEOUT], 1);
	assert_false(in.last_check_ok);
	assert_string_equal(in.last_result, "HTTP 500 on GET /health in 2 ms");
	check_pass(f, 0, 5 * SEC);
	assert_true(info(f, 0).last_check_ok);

	uint32_t healthy = 0, total = 0;
	fc_health_pool_summary(f->h, f->pool, &healthy, &total);
	assert_int_equal(total, 3);
	fc_health_remove_server(f->hs[2]);
	fc_health_remove_server(f->hs[2]); /* twice is once */
	fc_health_pool_summary(f->h, f->pool, &healthy, &total);
	assert_int_equal(total, 2);
	assert_int_equal(healthy, 2);
	faults(f, 2, 10, 6 * SEC);
	assert_int_equal(fc_mailbox_drain(&f->h->mb), 0); /* no ejection posted */
	fc_health_server_drain(f->hs[2], true, 7 * SEC);
	assert_int_equal(t_state(f->srv[2]), FC_SERVER_HEALTHY); /* nothing moves it */
	take_log(f);
	fix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fall_rise),
	        cmocka_unit_test(test_no_server_healthy),
	        cmocka_unit_test(test_lame_duck),
	        cmocka_unit_test(test_blame),
	        cmocka_unit_test(test_passive_backoff),
	        cmocka_unit_test(test_max_ejected),
	        cmocka_unit_test(test_eject_end_with_active_checks),
	        cmocka_unit_test(test_draining),
	        cmocka_unit_test(test_sleep_and_wake),
	        cmocka_unit_test(test_panic_threshold),
	        cmocka_unit_test(test_next_gap),
	        cmocka_unit_test(test_results_and_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
