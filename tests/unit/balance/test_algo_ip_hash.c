/* test_algo_ip_hash.c — the same client goes to the same server while the pool
 * is stable, and moves on (not fails) when that server is ineligible. */
#include "helpers.h"

static unsigned w1(unsigned i)
{
	return 1;
}

static struct fc_server *pick_ip(struct fc_pool *p, const char *ip)
{
	uint64_t rng = 1;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 10);
	assert_int_equal(fc_addr_parse(ip, strlen(ip), &c.client), 0);
	return pick_done(p, &c);
}

static void stable_and_moves(void **st)
{
	struct fc_pool *p = mkpool("ip_hash", NULL);
	add_many(p, 5, w1);
	struct fc_server *home = pick_ip(p, "192.0.2.7");
	for (int i = 0; i < 20; i++)
		assert_ptr_equal(pick_ip(p, "192.0.2.7"), home);
	/* v4-mapped v6 is the same client */
	assert_ptr_equal(pick_ip(p, "::ffff:192.0.2.7"), home);
	assert_int_equal(fc_pool_set_state(p, fc_server_name(home), FC_SERVER_DEAD, 10), 0);
	struct fc_server *other = pick_ip(p, "192.0.2.7");
	assert_non_null(other);
	assert_ptr_not_equal(other, home);
	for (int i = 0; i < 20; i++)
		assert_ptr_equal(pick_ip(p, "192.0.2.7"), other);
	assert_int_equal(fc_pool_set_state(p, fc_server_name(home), FC_SERVER_HEALTHY, 10), 0);
	assert_ptr_equal(pick_ip(p, "192.0.2.7"), home);
	/* many clients spread over every server */
	unsigned seen[5] = {0};
	char ip[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(ip, sizeof ip, "10.%d.%d.1", i / 256, i % 256);
		seen[atoi(fc_server_name(pick_ip(p, ip)) + 1)]++;
	}
	for (int i = 0; i < 5; i++)
		assert_true(seen[i] > 120);
	fc_pool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(stable_and_moves)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
