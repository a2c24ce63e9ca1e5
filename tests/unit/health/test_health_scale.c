/* test_health_scale.c — 1,000 servers checked every second from one loop.
 * All point at one local listener; each has its own path /h/<i>, and the
 * listener records when each path was asked for. After ~5.5 s every server
 * must have been checked about every second: the gaps between two checks of
 * one server are printed (min/median/max) and must all lie in 0.5..2 s. */
#include "helpers.h"

#define N       1000
#define RUN_MS  5500
#define MAX_HIT 16

struct hits {
	uint64_t at[N][MAX_HIT]; /* ms, monotonic */
	unsigned n[N];
	unsigned bad; /* requests whose path was not /h/<i> */
};

static void on_request(struct t_srv *s, const char *req, size_t len)
{
	struct hits *h = s->user;
	(void)len;
	unsigned i;
	if (sscanf(req, "GET /h/%u HTTP/1.1", &i) != 1 || i >= N) {
		h->bad++;
		return;
	}
	if (h->n[i] < MAX_HIT)
		h->at[i][h->n[i]] = fc_time_ns() / 1000000ull;
	h->n[i]++;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_thousand_servers(void **state)
{
	(void)state;
	static struct hits hits;
	struct t_srv *s = t_srv_start("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	s->user = &hits;
	pthread_mutex_lock(&s->mu);
	s->on_request = on_request;
	pthread_mutex_unlock(&s->mu);

	struct fc_loop loop;
	assert_int_equal(fc_loop_init(&loop), 0);
	struct fc_pool *pool = t_pool("big");
	struct fc_health *h;
	assert_int_equal(fc_health_create(&loop, NULL, &h), 0);
	struct fc_config_pool cp = {.name = "big"};
	t_passive_default(&cp.passive);
	static struct fc_config_server cs[N];
	static char paths[N][16];
	static struct fc_health_server *hs[N];
	struct fc_server_spec *specs = calloc(N, sizeof *specs);
	static char names[N][16];
	struct fc_server **srv = calloc(N, sizeof *srv);
	for (unsigned i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "b-%u", i);
		specs[i] =
		        (struct fc_server_spec){.name = names[i], .address = names[i], .weight = 1};
	}
	assert_int_equal(fc_pool_upsert_many(pool, specs, N, 1, srv), 0);
	struct sockaddr_in a = t_addr(s->port);
	for (unsigned i = 0; i < N; i++) {
		snprintf(paths[i], sizeof paths[i], "/h/%u", i);
		t_health_http(&cs[i].health, paths[i]);
		cs[i].health.interval_ms = 1000;
		cs[i].health.fast_interval_ms = 250;
		cs[i].health.timeout_ms = 1000;
		cs[i].host = "127.0.0.1";
		cs[i].port = s->port;
		assert_int_equal(fc_health_add_server(h, pool, &cp, &cs[i], srv[i],
		                                      (struct sockaddr *)&a, sizeof a, &hs[i]),
		                 0);
	}
	assert_int_equal(fc_health_start(h), 0);
	t_run(&loop, NULL, NULL, RUN_MS);

	pthread_mutex_lock(&s->mu);
	uint64_t *gaps = calloc(N * MAX_HIT, sizeof *gaps);
	size_t n_gaps = 0;
	unsigned min_checks = UINT32_MAX, failed = 0;
	uint64_t first_max = 0, t_start = UINT64_MAX;
	for (unsigned i = 0; i < N; i++)
		if (hits.n[i] && hits.at[i][0] < t_start)
			t_start = hits.at[i][0];
	for (unsigned i = 0; i < N; i++) {
		unsigned n = hits.n[i] < MAX_HIT ? hits.n[i] : MAX_HIT;
		min_checks = n < min_checks ? n : min_checks;
		if (n && hits.at[i][0] - t_start > first_max)
			first_max = hits.at[i][0] - t_start;
		for (unsigned k = 1; k < n; k++)
			gaps[n_gaps++] = hits.at[i][k] - hits.at[i][k - 1];
		failed += hs[i]->checks_failed;
	}
	unsigned bad = hits.bad;
	pthread_mutex_unlock(&s->mu);
	qsort(gaps, n_gaps, sizeof *gaps, cmp_u64);
	uint32_t healthy, total;
	fc_health_pool_summary(h, pool, &healthy, &total);
	printf("1000 servers, interval 1 s, %.1f s: %zu gaps between checks of one server: "
	       "min %llu ms, median %llu ms, p99 %llu ms, max %llu ms; fewest checks of a "
	       "server %u; first checks spread over %llu ms; failed checks %u; %u/%u healthy\n",
	       RUN_MS / 1000.0, n_gaps, (unsigned long long)gaps[0],
	       (unsigned long long)gaps[n_gaps / 2], (unsigned long long)gaps[n_gaps * 99 / 100],
	       (unsigned long long)gaps[n_gaps - 1], min_checks, (unsigned long long)first_max,
	       failed, healthy, total);
	assert_int_equal(bad, 0);
	assert_true(min_checks >= 4);
	assert_true(first_max >= 800);         /* the first checks spread over the interval */
	assert_true(gaps[0] >= 500);           /* never twice within half an interval */
	assert_true(gaps[n_gaps - 1] <= 2000); /* never skipped */
	assert_true(gaps[n_gaps / 2] >= 900 && gaps[n_gaps / 2] <= 1100);
	assert_int_equal(healthy, N);

	free(gaps);
	fc_health_destroy(h);
	fc_pool_destroy(pool);
	fc_loop_fini(&loop);
	free(srv);
	free(specs);
	t_srv_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_thousand_servers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
