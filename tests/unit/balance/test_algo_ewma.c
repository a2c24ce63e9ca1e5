/* test_algo_ewma.c — peak EWMA: traffic shifts off a server that turns slow
 * and comes back to it once its cost has decayed. */
#include "helpers.h"

#define MS 1000000ULL
#define S  1000000000ULL

static unsigned w1(unsigned i)
{
	return 1;
}

static unsigned share_of_s0(struct fc_pool *p, struct fc_pick_ctx *c, unsigned n, uint64_t lat0)
{
	unsigned hits = 0;
	for (unsigned i = 0; i < n; i++) {
		struct fc_server *s = fc_pool_pick(p, c);
		bool slow = strcmp(fc_server_name(s), "s0") == 0;
		hits += slow;
		struct fc_outcome o = {200, slow ? lat0 : 5 * MS, false};
		fc_pool_done(p, s, &o, c->now_ns);
		c->now_ns += MS;
	}
	return hits;
}

static void shifts_and_returns(void **st)
{
	struct fc_pool *p = mkpool("ewma", NULL);
	add_many(p, 4, w1);
	uint64_t rng = 5;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1 * S);
	unsigned even = share_of_s0(p, &c, 2000, 5 * MS);
	assert_true(even > 350 && even < 650);              /* about 1/4 */
	unsigned slow = share_of_s0(p, &c, 2000, 500 * MS); /* s0 became 100x slower */
	fprintf(stderr, "even %u slow %u\n", even, slow);
	assert_true(slow < 60);
	/* nothing for a minute: the peak decays toward zero, s0 is tried again */
	c.now_ns += 60 * S;
	unsigned back = share_of_s0(p, &c, 400, 5 * MS);
	fprintf(stderr, "back %u\n", back);
	assert_true(back > 50);
	struct fc_server *s0 = fc_pool_find(p, "s0");
	struct fc_server_stats ss;
	fc_server_stats(s0, c.now_ns, &ss);
	assert_true(ss.ewma_latency_ns > 0 && ss.ewma_latency_ns < 100 * MS);
	fc_server_unref(s0);
	fc_pool_destroy(p);
}

static void unmeasured_gets_tried(void **st)
{
	struct fc_pool *p = mkpool("ewma", NULL);
	add_many(p, 3, w1);
	uint64_t rng = 5;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1 * S);
	share_of_s0(p, &c, 300, 5 * MS);
	struct fc_server_spec sp = {.name = "new", .address = "new", .weight = 1};
	assert_int_equal(fc_pool_upsert(p, &sp, c.now_ns, NULL), 0);
	unsigned got = 0;
	for (int i = 0; i < 50; i++) {
		struct fc_server *s = pick_done(p, &c);
		got += strcmp(fc_server_name(s), "new") == 0;
	}
	assert_true(got > 0);
	fc_pool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(shifts_and_returns),
	        cmocka_unit_test(unmeasured_gets_tried),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
