/* test_slow_start.c — a new or recovered server ramps linearly from 10% to full
 * weight over slow_start, for every algorithm, hashing included. */
#include "helpers.h"

#define S 1000000000ULL

static unsigned w1(unsigned i)
{
	return 1;
}

static void ramp_shape(void **st)
{
	struct fc_pool_options o = {.slow_start_ns = 10 * S};
	struct fc_pool *p = mkpool("round_robin", &o);
	struct fc_server_spec sp = {.name = "a", .address = "a", .weight = 100};
	struct fc_server *a;
	assert_int_equal(fc_pool_upsert(p, &sp, 100 * S, &a), 0);
	struct fc_server_stats ss;
	unsigned want[] = {100, 190, 280, 370, 460, 550, 640, 730, 820, 910, 1000, 1000};
	for (int i = 0; i <= 11; i++) {
		fc_server_stats(a, 100 * S + (uint64_t)i * S, &ss);
		assert_true(ss.slow_start_permille + 2 >= want[i] &&
		            ss.slow_start_permille <= want[i] + 1);
	}
	fc_server_stats(a, 105 * S, &ss);
	assert_true(ss.effective_weight >= 54 && ss.effective_weight <= 55);
	/* dead then healthy again: ramps again from now */
	assert_int_equal(fc_pool_set_state(p, "a", FC_SERVER_DEAD, 200 * S), 0);
	assert_int_equal(fc_pool_set_state(p, "a", FC_SERVER_HEALTHY, 300 * S), 0);
	fc_server_stats(a, 300 * S, &ss);
	assert_true(ss.slow_start_permille <= 101);
	fc_pool_destroy(p);
}

static void traffic_follows_ramp(void **st)
{
	char list[256];
	fc_algorithm_list(list, sizeof list);
	for (char *alg = strtok(list, ", "); alg; alg = strtok(NULL, ", ")) {
		struct fc_pool_options o = {.slow_start_ns = 10 * S};
		struct fc_pool *p = mkpool(alg, &o);
		add_many(p, 4, w1); /* at t = 1 ns: ramped by t = 20 s */
		struct fc_server_spec sp = {.name = "new", .address = "new", .weight = 1};
		assert_int_equal(fc_pool_upsert(p, &sp, 20 * S, NULL), 0);
		uint64_t rng = 3, key;
		struct fc_pick_ctx c;
		ctx_init(&c, &rng, 20 * S);
		unsigned got[3] = {0};
		uint64_t at[3] = {20 * S, 25 * S, 40 * S}; /* share 10%, 55%, 100% */
		for (int phase = 0; phase < 3; phase++) {
			c.now_ns = at[phase];
			for (unsigned i = 0; i < 5000; i++) {
				key = i * 7919 + 13;
				c.hash_key = &key;
				c.hash_key_len = sizeof key;
				got[phase] += strcmp(fc_server_name(pick_done(p, &c)), "new") == 0;
			}
		}
		/* full share is 1/5 = 1000 of 5000 */
		fprintf(stderr, "%-16s new: %u %u %u\n", alg, got[0], got[1], got[2]);
		assert_true(got[0] < 350);
		assert_true(got[1] > got[0] && got[1] < got[2] + 100);
		assert_true(got[2] > 600);
		fc_pool_destroy(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ramp_shape),
	        cmocka_unit_test(traffic_follows_ramp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
