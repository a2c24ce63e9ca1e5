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

static struct fc_server *pick_ip_at(struct fc_pool *p, const char *ip, uint64_t now)
{
	uint64_t rng = 1;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, now);
	assert_int_equal(fc_addr_parse(ip, strlen(ip), &c.client), 0);
	return pick_done(p, &c);
}

/* A server refuses and cools down; the control thread then rebuilds the
 * snapshot without it (fc_pool_maintain). Its clients move once, before the
 * rebuild, and stay where they moved after it (they used to move again). */
static void moved_clients_stay_across_rebuild(void **st)
{
	struct fc_pool *p = mkpool("ip_hash", NULL);
	add_many(p, 3, w1);
	fc_pool_maintain(p, 1000);
	struct fc_server *victim = pick_ip_at(p, "198.51.100.1", 1000);
	char ip[32];
	struct fc_server *moved[400];
	const char *ips[400];
	char store[400][32];
	unsigned n = 0;
	for (int i = 0; i < 3000 && n < 400; i++) {
		snprintf(ip, sizeof ip, "198.51.%d.%d", 100 + i / 256, i % 256);
		if (pick_ip_at(p, ip, 1000) != victim)
			continue;
		snprintf(store[n], sizeof store[n], "%s", ip);
		ips[n] = store[n];
		n++;
	}
	fc_server_cooldown(victim, 1000000000);
	for (unsigned i = 0; i < n; i++) {
		moved[i] = pick_ip_at(p, ips[i], 2000);
		assert_ptr_not_equal(moved[i], victim);
	}
	assert_true(n > 100);
	fc_pool_maintain(p, 3000); /* a pick met the cooling server: rebuild */
	for (unsigned i = 0; i < n; i++)
		assert_ptr_equal(pick_ip_at(p, ips[i], 4000), moved[i]);
	fc_pool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(stable_and_moves),
	                                   cmocka_unit_test(moved_clients_stay_across_rebuild)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
