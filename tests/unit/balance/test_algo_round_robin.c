/* test_algo_round_robin.c — smooth weighted round robin: nginx's order,
 * exact rotation for equal weights, large pools, skipping ineligible servers. */
#include "helpers.h"

static void order_5_1_1(void **st)
{
	struct fc_pool *p = mkpool("round_robin", NULL);
	add(p, "a", 5);
	add(p, "b", 1);
	add(p, "c", 1);
	uint64_t rng = 1;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 10);
	char got[64] = {0};
	for (int i = 0; i < 21; i++)
		got[i] = fc_server_name(pick_done(p, &c))[0];
	/* random start: the 7-long cycle "aabacaa" appears rotated */
	const char *cyc = "aabacaa";
	bool ok = false;
	for (int r = 0; r < 7 && !ok; r++) {
		ok = true;
		for (int i = 0; i < 21; i++)
			if (got[i] != cyc[(i + r) % 7])
				ok = false;
	}
	if (!ok)
		fprintf(stderr, "got %s\n", got);
	assert_true(ok);
	fc_pool_destroy(p);
}

static unsigned w3(unsigned i)
{
	return 3;
}
static unsigned w1to4(unsigned i)
{
	return 1 + i % 4;
}

static void equal_rotation(void **st)
{
	for (unsigned n = 3; n <= 8192; n *= 7) {
		struct fc_pool *p = mkpool("round_robin", NULL);
		add_many(p, n, w3);
		uint64_t rng = 7;
		struct fc_pick_ctx c;
		ctx_init(&c, &rng, 10);
		unsigned prev = 0;
		for (unsigned i = 0; i < 2 * n + 3; i++) {
			unsigned k = (unsigned)atoi(fc_server_name(pick_done(p, &c)) + 1);
			if (i > 0)
				assert_int_equal(k, (prev + 1) % n); /* a, b, c, a, b, c */
			prev = k;
		}
		fc_pool_destroy(p);
	}
}

static void large_weighted_proportions(void **st)
{
	struct fc_pool *p = mkpool("round_robin", NULL);
	unsigned n = 3000;
	add_many(p, n, w1to4);
	uint64_t rng = 7;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 10);
	static unsigned cnt[3000];
	unsigned period = 0;
	for (unsigned i = 0; i < n; i++)
		period += 1 + i % 4;
	for (unsigned i = 0; i < period; i++)
		cnt[atoi(fc_server_name(pick_done(p, &c)) + 1)]++;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(cnt[i], 1 + i % 4); /* exact over one period */
	fc_pool_destroy(p);
}

static void skips_avoided(void **st)
{
	struct fc_pool *p = mkpool("round_robin", NULL);
	struct fc_server *a = add(p, "a", 1);
	add(p, "b", 1);
	uint64_t rng = 3;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 10);
	struct fc_server *av[1] = {a};
	c.avoid = av;
	c.n_avoid = 1;
	for (int i = 0; i < 10; i++)
		assert_string_equal(fc_server_name(pick_done(p, &c)), "b");
	fc_pool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(order_5_1_1),
	        cmocka_unit_test(equal_rotation),
	        cmocka_unit_test(large_weighted_proportions),
	        cmocka_unit_test(skips_avoided),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
