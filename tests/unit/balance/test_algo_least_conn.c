/* test_algo_least_conn.c — a held request steers the next ones elsewhere
 * (nginx-tests upstream_least_conn.t), weights scale the count, ties are fair,
 * and every pick is the exact minimum (brute-force oracle). */
#include "helpers.h"

static unsigned w1(unsigned i)
{
	return 1;
}

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

/* Exactness against a brute-force oracle: random picks (with avoid sets and
 * cooldowns), random dones, weight and state changes, over pool sizes that
 * give trees of 1 to 4 levels. Every pick must have the smallest active/weight
 * of the eligible servers. */
static unsigned wmix(unsigned i)
{
	return (i * 7 + 3) % 6;
} /* 0..5, some weight 0 */

static void exact_against_oracle(void **st)
{
	static const unsigned sizes[] = {1, 2, 3, 4, 5, 16, 17, 64, 65, 100};
	for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
		unsigned n = sizes[z];
		struct fc_pool *p = mkpool("least_conn", NULL);
		add_many(p, n, wmix);
		struct fc_server **all = calloc(n, sizeof *all);
		assert_int_equal(fc_pool_servers(p, all, n), n);
		uint64_t rng = 7 + n, drv = 0x1234567ULL + n;
		struct fc_pick_ctx c;
		ctx_init(&c, &rng, 1000);
		struct fc_server *held[256];
		unsigned nheld = 0;
		for (unsigned step = 0; step < 6000; step++) {
			unsigned op = (unsigned)fc_rng_below(&drv, 100);
			if (op < 2) {
				char nm[16];
				snprintf(nm, sizeof nm, "s%u", (unsigned)fc_rng_below(&drv, n));
				fc_pool_set_weight(p, nm, (unsigned)fc_rng_below(&drv, 6));
				continue;
			}
			if (op < 4) {
				char nm[16];
				snprintf(nm, sizeof nm, "s%u", (unsigned)fc_rng_below(&drv, n));
				fc_pool_set_state(p, nm,
				                  fc_rng_below(&drv, 3) ? FC_SERVER_HEALTHY
				                                        : FC_SERVER_DEAD,
				                  1);
				continue;
			}
			if (op < 6) {
				fc_server_cooldown(all[fc_rng_below(&drv, n)],
				                   c.now_ns + fc_rng_below(&drv, 3) * 10);
				continue;
			}
			if ((op < 50 && nheld) || nheld == 256) {
				unsigned k = (unsigned)fc_rng_below(&drv, nheld);
				fc_pool_done(p, held[k], NULL, c.now_ns);
				held[k] = held[--nheld];
				continue;
			}
			struct fc_server *avoid[3];
			c.avoid = avoid;
			c.n_avoid = (size_t)fc_rng_below(&drv, 4);
			for (size_t a = 0; a < c.n_avoid; a++)
				avoid[a] = all[fc_rng_below(&drv, n)];
			c.now_ns++;
			/* the oracle: smallest active/weight among eligible servers */
			bool any = false;
			uint64_t ba = 0, bw = 1;
			for (unsigned i = 0; i < n; i++) {
				struct fc_server_stats ss;
				fc_server_stats(all[i], c.now_ns, &ss);
				if (ss.state != FC_SERVER_HEALTHY || !ss.weight || ss.in_cooldown ||
				    fc_pick_avoids(&c, all[i]))
					continue;
				if (!any || (uint64_t)ss.active * bw < ba * ss.weight) {
					ba = ss.active;
					bw = ss.weight;
				}
				any = true;
			}
			struct fc_server *s = fc_pool_pick(p, &c);
			c.n_avoid = 0;
			if (!any) {
				assert_null(s);
				continue;
			}
			assert_non_null(s);
			struct fc_server_stats ss;
			fc_server_stats(s, c.now_ns, &ss);
			assert_int_equal(ss.state, FC_SERVER_HEALTHY);
			assert_false(ss.in_cooldown);
			/* counted already: its key before the pick was (active - 1) / weight */
			assert_true((uint64_t)(ss.active - 1) * bw == ba * ss.weight);
			held[nheld++] = s;
		}
		while (nheld)
			fc_pool_done(p, held[--nheld], NULL, c.now_ns);
		for (unsigned i = 0; i < n; i++) {
			assert_int_equal(fc_server_active(all[i]), 0);
			fc_server_unref(all[i]);
		}
		free(all);
		fc_pool_destroy(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(held_request_steers),
	        cmocka_unit_test(weighted_counts),
	        cmocka_unit_test(ties_fair),
	        cmocka_unit_test(exact_against_oracle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
