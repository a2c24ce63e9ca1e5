/* test_algo_rebalance.c — weight moves toward the healthy servers in bounded
 * steps, shows in fc_server_stats, and rolls back when the favourite degrades
 * or the server set changes. */
#include "helpers.h"

#define MS 1000000ULL

static unsigned w10(unsigned i) { return 10; }

/* n picks at 1 ms apart; servers in `bad` fail with 502 */
static void traffic(struct fc_pool *p, struct fc_pick_ctx *c, unsigned n, const char *bad, unsigned *count)
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

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(moves_and_rolls_back)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
