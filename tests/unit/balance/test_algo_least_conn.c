/* test_algo_least_conn.c — a held request steers the next ones elsewhere
 * (nginx-tests upstream_least_conn.t), weights scale the count, ties are fair. */
#include "helpers.h"

static unsigned w1(unsigned i) { return 1; }

static void held_request_steers(void **st)
{
	struct fc_pool *p = mkpool("least_conn", NULL);
	add_many(p, 3, w1);
	uint64_t rng = 3;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 10);
	struct fc_server *held = fc_pool_pick(p, &c); /* a slow request */
	assert_non_null(held);
	for (int i = 0; i < 200; i++)
		assert_ptr_not_equal(pick_done(p, &c), held);
	/* two more held: each goes to an idle server */
	struct fc_server *h2 = fc_pool_pick(p, &c), *h3 = fc_pool_pick(p, &c);
	assert_ptr_not_equal(h2, held);
	assert_ptr_not_equal(h3, held);
	assert_ptr_not_equal(h2, h3);
	fc_pool_done(p, held, NULL, 10);
	/* now only `held` is idle */
	for (int i = 0; i < 50; i++)
		assert_ptr_equal(pick_done(p, &c), held);
	fc_pool_done(p, h2, NULL, 10);
	fc_pool_done(p, h3, NULL, 10);
	fc_pool_destroy(p);
}

static void weighted_counts(void **st)
{
	struct fc_pool *p = mkpool("least_conn", NULL);
	struct fc_server *a = add(p, "a", 3);
	struct fc_server *b = add(p, "b", 1);
	uint64_t rng = 3;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 10);
	struct fc_server *held[40];
	for (int i = 0; i < 40; i++)
		held[i] = fc_pool_pick(p, &c);
	struct fc_server_stats sa, sb;
	fc_server_stats(a, 10, &sa);
	fc_server_stats(b, 10, &sb);
	assert_int_equal(sa.active, 30); /* a_active * b_weight == b_active * a_weight */
	assert_int_equal(sb.active, 10);
	for (int i = 0; i < 40; i++)
		fc_pool_done(p, held[i], NULL, 10);
	fc_server_stats(a, 10, &sa);
	assert_int_equal(sa.active, 0);
	fc_pool_destroy(p);
}

static void ties_fair(void **st)
{
	struct fc_pool *p = mkpool("least_conn", NULL);
	add_many(p, 5, w1);
	uint64_t rng = 99;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 10);
	unsigned cnt[5] = {0};
	for (int i = 0; i < 5000; i++)
		cnt[atoi(fc_server_name(pick_done(p, &c)) + 1)]++;
	for (int i = 0; i < 5; i++)
		assert_true(cnt[i] > 850 && cnt[i] < 1150);
	fc_pool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(held_request_steers),
		cmocka_unit_test(weighted_counts),
		cmocka_unit_test(ties_fair),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
