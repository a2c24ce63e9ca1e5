/* test_algo_rebalance.c — weight moves toward the healthy servers in bounded
 * steps, shows in fc_server_stats, and rolls back when the favourite degrades
 * or the server set changes; moving weights never publishes a snapshot (so a
 * worker never waits for a grace period), and workers stepping concurrently
 * with a mutating control thread keep every weight within its bounds. */
#include <pthread.h>
#include <stdatomic.h>

#include "helpers.h"
#include "balance/balance.h" /* white box: the pool's snapshot generation */

#define MS 1000000ULL

static unsigned w10(unsigned i)
{
	return 10;
}

/* n picks at 1 ms apart; servers in `bad` fail with 502 */
static void traffic(struct fc_pool *p, struct fc_pick_ctx *c, unsigned n, const char *bad,
                    unsigned *count)
{
	for (unsigned i = 0; i < n; i++) {
		struct fc_server *s = fc_pool_pick(p, c);
		assert_non_null(s);
		int k = atoi(fc_server_name(s) + 1);
		if (count)
			count[k]++;
		bool fail = bad && strchr(bad, '0' + k);
		struct fc_outcome o = {fail ? 502 : 200, 2 * MS, false};
		fc_pool_done(p, s, &o, c->now_ns);
		c->now_ns += MS;
	}
}

static unsigned eff(struct fc_pool *p, const char *name)
{
	struct fc_server *s = fc_pool_find(p, name);
	struct fc_server_stats ss;
	fc_server_stats(s, 0, &ss);
	fc_server_unref(s);
	return ss.effective_weight;
}

static void moves_and_rolls_back(void **st)
{
	struct fc_pool_options o = {.rebalance_window_ns = 100 * MS};
	struct fc_pool *p = mkpool("rebalance", &o);
	add_many(p, 3, w10);
	uint64_t rng = 1;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1000 * MS);
	traffic(p, &c, 300, NULL, NULL);
	assert_int_equal(eff(p, "s0"), 10);
	/* s2 starts failing: weight leaves it, step by step, within bounds */
	traffic(p, &c, 4000, "2", NULL);
	fprintf(stderr, "eff %u %u %u\n", eff(p, "s0"), eff(p, "s1"), eff(p, "s2"));
	assert_int_equal(eff(p, "s2"), 1);   /* never below 1/10 of configured */
	assert_int_equal(eff(p, "s0"), 100); /* never above 10x */
	unsigned cnt[3] = {0};
	traffic(p, &c, 2000, "2", cnt);
	assert_true(cnt[2] < 2000 / 15);
	/* the favoured s0 degrades: back to configured weights */
	traffic(p, &c, 250, "0", NULL);
	assert_true(eff(p, "s0") <= 10); /* no longer favoured (and maybe demoted since) */
	assert_true(eff(p, "s2") >= 10); /* its demotion was undone */
	/* move again, then a server set change rolls back */
	traffic(p, &c, 800, "1", NULL);
	assert_true(eff(p, "s1") < 10);
	add(p, "s3", 10);
	assert_int_equal(eff(p, "s1"), 10);
	assert_int_equal(eff(p, "s0"), 10);
	/* all alike again: rollback */
	traffic(p, &c, 800, "1", NULL);
	assert_true(eff(p, "s1") < 10);
	/* a demoted server sees little traffic, so this takes a few windows */
	for (int k = 0; k < 100 && eff(p, "s1") != 10; k++)
		traffic(p, &c, 100, NULL, NULL);
	assert_int_equal(eff(p, "s1"), 10);
	fc_pool_destroy(p);
}

static uint64_t generation(struct fc_pool *p)
{
	return atomic_load(&p->view)->generation;
}

/* Weight moves are applied in place: no snapshot is published from a worker,
 * so no worker ever waits for other threads' picks; the rotation follows. */
static void moves_without_new_snapshot(void **st)
{
	struct fc_pool_options o = {.rebalance_window_ns = 100 * MS};
	struct fc_pool *p = mkpool("rebalance", &o);
	add_many(p, 3, w10);
	uint64_t rng = 1;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1000 * MS);
	uint64_t g0 = generation(p);
	traffic(p, &c, 4000, "2", NULL);
	assert_int_equal(eff(p, "s2"), 1);
	assert_int_equal(eff(p, "s0"), 100);
	assert_int_equal(generation(p), g0);
	/* the rotation is the smooth order over 100, 100, 1: exactly 1 in 201 */
	unsigned cnt[3] = {0};
	traffic(p, &c, 201 * 4, "2", cnt);
	assert_int_equal(cnt[2], 4);
	assert_int_equal(cnt[0], 400);
	/* rollback (favourite degrades) is in place too */
	traffic(p, &c, 250, "0", NULL);
	assert_true(eff(p, "s2") >= 10);
	assert_int_equal(generation(p), g0);
	/* a control change still publishes, and starts from configured weights */
	assert_int_equal(fc_pool_set_weight(p, "s1", 20), 0);
	assert_true(generation(p) > g0);
	assert_int_equal(eff(p, "s0"), 10);
	assert_int_equal(eff(p, "s1"), 20);
	memset(cnt, 0, sizeof cnt);
	traffic(p, &c, 40 * 3, NULL, cnt);
	assert_int_equal(cnt[1], 60);
	fc_pool_destroy(p);
}

struct worker {
	struct fc_pool *p;
	uint64_t seed;
	_Atomic bool *stop;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = w->seed;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1000 * MS);
	/* on past the control thread's last change, so steps run among workers alone */
	for (unsigned i = 0, after = 0; after < 5000; i++) {
		if (atomic_load(w->stop))
			after++;
		c.now_ns += 10000; /* 10 µs: a window every 100 picks per worker */
		struct fc_server *s = fc_pool_pick(w->p, &c);
		if (!s)
			continue;
		const char *nm = fc_server_name(s);
		bool fail = nm[0] == 's' && (nm[1] == '0' || (nm[1] == '3' && i % 3 == 0));
		struct fc_outcome o = {fail ? 503 : 200, (nm[1] == '1' ? 9 : 1) * MS, false};
		fc_pool_done(w->p, s, &o, c.now_ns);
	}
	return NULL;
}

static void concurrent_steps(void **st)
{
	struct fc_pool_options o = {.rebalance_window_ns = 1000000};
	struct fc_pool *p = mkpool("rebalance", &o);
	add_many(p, 10, w10); /* s0 fails, s1 is slow, s3 fails a third of the time */
	_Atomic bool stop = false;
	struct worker w[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){p, (uint64_t)i + 1, &stop};
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned r = 0; r < 200; r++) {
		char nm[16];
		snprintf(nm, sizeof nm, "x%u", r % 3);
		add(p, nm, 1 + r % 7);
		fc_pool_set_weight(p, "s5", 1 + r % 9);
		fc_pool_set_state(p, "s6", r % 2 ? FC_SERVER_HEALTHY : FC_SERVER_DEAD, 0);
		snprintf(nm, sizeof nm, "x%u", (r + 1) % 3);
		fc_pool_remove(p, nm);
	}
	atomic_store(&stop, true);
	/* weights do move while the workers run on alone */
	unsigned moved = 0, polls = 0;
	for (; polls < 1000000 && moved < 100; polls++)
		if (eff(p, "s0") < 10 || eff(p, "s2") > 10)
			moved++;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	fprintf(stderr, "moved in %u of %u polls; eff s0 %u s1 %u s2 %u s3 %u\n", moved, polls,
	        eff(p, "s0"), eff(p, "s1"), eff(p, "s2"), eff(p, "s3"));
	assert_true(moved > 0);
	struct fc_server *all[16];
	size_t n = fc_pool_servers(p, all, 16);
	for (size_t i = 0; i < n; i++) {
		struct fc_server_stats ss;
		fc_server_stats(all[i], 0, &ss);
		assert_int_equal(ss.active, 0);
		assert_true(ss.effective_weight >= (ss.weight + 9) / 10 &&
		            ss.effective_weight <= 10 * ss.weight);
		fc_server_unref(all[i]);
	}
	fc_pool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(moves_and_rolls_back),
	        cmocka_unit_test(moves_without_new_snapshot),
	        cmocka_unit_test(concurrent_steps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
