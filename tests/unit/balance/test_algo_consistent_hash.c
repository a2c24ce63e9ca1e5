/* test_algo_consistent_hash.c — removing one of N servers moves about 1/N of
 * the keys, only the removed server's; the bounded-load cap is never exceeded. */
#include "helpers.h"

static unsigned w1(unsigned i)
{
	return 1;
}

static struct fc_server *pick_key(struct fc_pool *p, uint64_t k, bool done)
{
	uint64_t rng = 1;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 10);
	c.hash_key = &k;
	c.hash_key_len = sizeof k;
	struct fc_server *s = fc_pool_pick(p, &c);
	if (s && done)
		fc_pool_done(p, s, NULL, 10);
	return s;
}

static void removal_moves_one_nth(void **st)
{
	struct fc_pool *p = mkpool("consistent_hash", NULL);
	add_many(p, 10, w1);
	enum { K = 10000 };
	static char before[K][8];
	for (uint64_t k = 0; k < K; k++)
		snprintf(before[k], 8, "%s", fc_server_name(pick_key(p, k, true)));
	assert_int_equal(fc_pool_remove(p, "s3"), 0);
	unsigned moved = 0;
	for (uint64_t k = 0; k < K; k++) {
		const char *now = fc_server_name(pick_key(p, k, true));
		if (strcmp(now, before[k]) != 0) {
			moved++;
			assert_string_equal(before[k], "s3"); /* only the removed server's keys */
		}
	}
	fprintf(stderr, "moved %u of %u\n", moved, K);
	assert_true(moved >= K / 10 / 2 && moved <= K / 10 * 3 / 2);
	/* back again: the same keys return */
	struct fc_server_spec sp = {.name = "s3", .address = "s3", .weight = 1};
	assert_int_equal(fc_pool_upsert(p, &sp, 10, NULL), 0);
	for (uint64_t k = 0; k < K; k++)
		assert_string_equal(fc_server_name(pick_key(p, k, true)), before[k]);
	fc_pool_destroy(p);
}

static void state_change_moves_only_its_keys(void **st)
{
	struct fc_pool *p = mkpool("consistent_hash", NULL);
	add_many(p, 10, w1);
	enum { K = 5000 };
	static char before[K][8];
	for (uint64_t k = 0; k < K; k++)
		snprintf(before[k], 8, "%s", fc_server_name(pick_key(p, k, true)));
	assert_int_equal(fc_pool_set_state(p, "s5", FC_SERVER_DEAD, 10), 0);
	for (uint64_t k = 0; k < K; k++) {
		const char *now = fc_server_name(pick_key(p, k, true));
		if (strcmp(before[k], "s5") != 0)
			assert_string_equal(now, before[k]);
		else
			assert_string_not_equal(now, "s5");
	}
	/* lame duck keeps its own keys */
	assert_int_equal(fc_pool_set_state(p, "s5", FC_SERVER_LAME_DUCK, 10), 0);
	for (uint64_t k = 0; k < K; k++)
		assert_string_equal(fc_server_name(pick_key(p, k, true)), before[k]);
	fc_pool_destroy(p);
}

static void bounded_load(void **st)
{
	struct fc_pool_options o = {.balance_factor = 1.25};
	struct fc_pool *p = mkpool("consistent_hash", &o);
	add_many(p, 8, w1);
	struct fc_server *all[8];
	assert_int_equal(fc_pool_servers(p, all, 8), 8);
	enum { N = 2000 };
	static struct fc_server *held[N];
	for (unsigned i = 0; i < N; i++) {
		/* a skewed key set: half the requests share one key */
		held[i] = pick_key(p, i % 2 ? 7 : i, false);
		assert_non_null(held[i]);
		uint64_t total = i + 1, cap = (125 * total + 8 * 100 - 1) / (8 * 100);
		for (int k = 0; k < 8; k++) {
			struct fc_server_stats ss;
			fc_server_stats(all[k], 10, &ss);
			assert_true(ss.active <= cap);
		}
	}
	for (unsigned i = 0; i < N; i++)
		fc_pool_done(p, held[i], NULL, 10);
	for (int k = 0; k < 8; k++)
		fc_server_unref(all[k]);
	fc_pool_destroy(p);
}

static void bad_factor_rejected(void **st)
{
	struct fc_pool_options o = {
	        .name = "api", .algorithm = "consistent_hash", .balance_factor = 0.5};
	struct fc_pool *p = NULL;
	char err[200];
	assert_int_equal(fc_pool_create(&o, &p, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "pool api"));
	o.algorithm = "bogus";
	o.balance_factor = 0;
	assert_int_equal(fc_pool_create(&o, &p, err, sizeof err), -EINVAL);
	assert_non_null(
	        strstr(err, "unknown algorithm 'bogus' (known: round_robin, random, least_conn"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(removal_moves_one_nth),
	        cmocka_unit_test(state_change_moves_only_its_keys),
	        cmocka_unit_test(bounded_load),
	        cmocka_unit_test(bad_factor_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
