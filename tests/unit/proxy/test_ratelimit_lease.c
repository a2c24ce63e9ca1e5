/* test_ratelimit_lease.c — the leases of global rate limits (ratelimit.h,
 * glimit.h): the batch for a limit, when a lease asks for a refill (once,
 * until its answer), a new key's first request on its own credit, a lease
 * with tokens still bounded by the instance's own bucket, refunds, grants
 * after the bucket went to another key, the retry delay of a key Redis had
 * no token for, and the counters of requests decided while Redis was down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/glimit.h"
#include "proxy/ratelimit.h"

#define SEC 1000000000ull
#define T0  (1000 * SEC)

static struct fc_ratelimit *make(uint32_t rate, uint32_t burst, uint32_t max_keys)
{
	struct fc_ratelimit_spec spec = {.rate = rate,
	                                 .period_ms = 1000,
	                                 .burst = burst,
	                                 .max_keys = max_keys,
	                                 .n_workers = 2,
	                                 .seed = 7,
	                                 .lease_batch =
	                                         fc_ratelimit_lease_batch_for(rate, 1000, burst),
	                                 .redis_key = "fulcrum:rl:g:"};
	struct fc_ratelimit *rl = NULL;
	assert_int_equal(fc_ratelimit_create(&spec, &rl), 0);
	return rl;
}

static uint64_t key(const struct fc_ratelimit *rl, uint64_t k)
{
	return fc_ratelimit_hash(rl, 0, &k, sizeof(k));
}

static void test_batch(void **state)
{
	(void)state;
	assert_int_equal(fc_ratelimit_lease_batch_for(100, 1000, 100), 5); /* 50 ms of tokens */
	assert_int_equal(fc_ratelimit_lease_batch_for(100, 1000, 8), 2);   /* a quarter of burst */
	assert_int_equal(fc_ratelimit_lease_batch_for(1, 1000, 1), 1);     /* at least one */
	assert_int_equal(fc_ratelimit_lease_batch_for(10, 60000, 100), 1); /* 10/m */
	assert_int_equal(fc_ratelimit_lease_batch_for(1000000, 1000, 1000000), 50000);
	assert_true(fc_ratelimit_lease_low(0, 1));
	assert_true(fc_ratelimit_lease_low(2, 5));
	assert_false(fc_ratelimit_lease_low(3, 5));
	assert_true(fc_ratelimit_lease_low(5, 10));
	assert_false(fc_ratelimit_lease_low(6, 10));
}

static void test_new_key_credit_then_refill(void **state)
{
	(void)state;
	struct fc_ratelimit *rl = make(100, 100, 64);
	assert_int_equal(fc_ratelimit_lease_batch(rl), 5);
	assert_string_equal(fc_ratelimit_redis_key(rl), "fulcrum:rl:g:");
	uint64_t h = key(rl, 1);
	struct fc_ratelimit_verdict v;
	bool refill = false;
	assert_int_equal(fc_ratelimit_lease_tokens(rl, h), -1); /* no bucket yet */
	/* the first request passes on the key's credit and asks for a lease */
	assert_true(fc_ratelimit_take_leased(rl, h, T0, 0, &v, &refill));
	assert_true(refill);
	assert_int_equal(fc_ratelimit_lease_tokens(rl, h), 0);
	/* until the answer: refused, asked once only, and the bucket keeps its token */
	for (int i = 0; i < 10; i++) {
		assert_false(fc_ratelimit_take_leased(rl, h, T0, 1, &v, &refill));
		assert_false(refill);
		assert_false(v.allowed);
	}
	struct fc_ratelimit_stats st;
	fc_ratelimit_stats(rl, &st);
	assert_int_equal(st.limited, 10);
	/* Redis granted 5: five pass; the refill is asked when 2 are left */
	fc_ratelimit_lease_grant(rl, h, 5);
	assert_int_equal(fc_ratelimit_lease_tokens(rl, h), 5);
	int asked = 0;
	for (int i = 0; i < 5; i++) {
		assert_true(fc_ratelimit_take_leased(rl, h, T0, 0, &v, &refill));
		if (refill) {
			asked++;
			assert_int_equal(fc_ratelimit_lease_tokens(rl, h), 2);
		}
	}
	assert_int_equal(asked, 1);
	assert_false(fc_ratelimit_take_leased(rl, h, T0, 0, &v, &refill));
	assert_false(refill);
	/* an answer with nothing ends the ask: the next take asks again */
	fc_ratelimit_lease_grant(rl, h, 0);
	assert_false(fc_ratelimit_take_leased(rl, h, T0, 0, &v, &refill));
	assert_true(refill);
	fc_ratelimit_unref(rl);
}

static void test_own_bucket_still_bounds(void **state)
{
	(void)state;
	struct fc_ratelimit *rl = make(10, 3, 64);
	uint64_t h = key(rl, 2);
	struct fc_ratelimit_verdict v;
	bool refill;
	assert_true(fc_ratelimit_take_leased(rl, h, T0, 0, &v, &refill));
	fc_ratelimit_lease_grant(rl, h, 100);
	/* the instance's own bucket (burst 3) has 2 tokens left */
	assert_true(fc_ratelimit_take_leased(rl, h, T0, 0, &v, &refill));
	assert_true(fc_ratelimit_take_leased(rl, h, T0, 0, &v, &refill));
	assert_false(fc_ratelimit_take_leased(rl, h, T0, 0, &v, &refill));
	assert_int_equal(fc_ratelimit_lease_tokens(rl, h), 98); /* the lease is not spent */
	/* a tenth of a second later the bucket has one more */
	assert_true(fc_ratelimit_take_leased(rl, h, T0 + SEC / 10, 0, &v, &refill));
	assert_int_equal(fc_ratelimit_lease_tokens(rl, h), 97);
	/* a refund gives both back */
	fc_ratelimit_refund_leased(rl, h);
	assert_int_equal(fc_ratelimit_lease_tokens(rl, h), 98);
	assert_true(fc_ratelimit_take_leased(rl, h, T0 + SEC / 10, 0, &v, &refill));
	fc_ratelimit_unref(rl);
}

static void test_grant_bounds_and_gone_keys(void **state)
{
	(void)state;
	struct fc_ratelimit *rl = make(1000000, 1000000, 8); /* one set of 8 */
	struct fc_ratelimit_verdict v;
	bool refill;
	uint64_t h = key(rl, 3);
	assert_true(fc_ratelimit_take_leased(rl, h, T0, 0, &v, &refill));
	fc_ratelimit_lease_grant(rl, h, UINT32_MAX);
	fc_ratelimit_lease_grant(rl, h, UINT32_MAX);
	assert_int_equal(fc_ratelimit_lease_tokens(rl, h), 1 << 30); /* capped */
	/* other keys take every bucket: h's lease goes with its bucket */
	for (uint64_t k = 100; k < 200; k++)
		fc_ratelimit_take_leased(rl, key(rl, k), T0 + 10 * SEC, 0, &v, &refill);
	if (fc_ratelimit_lease_tokens(rl, h) < 0) {
		fc_ratelimit_lease_grant(rl, h, 5); /* a late answer: nothing happens */
		assert_int_equal(fc_ratelimit_lease_tokens(rl, h), -1);
	}
	fc_ratelimit_unref(rl);
}

static void test_same_and_down_counters(void **state)
{
	(void)state;
	struct fc_ratelimit *rl = make(100, 100, 64);
	struct fc_ratelimit_spec s = {.rate = 100,
	                              .period_ms = 1000,
	                              .burst = 100,
	                              .max_keys = 64,
	                              .n_workers = 2,
	                              .lease_batch = 5,
	                              .redis_key = "fulcrum:rl:g:"};
	assert_true(fc_ratelimit_same(rl, &s));
	s.redis_key = "other:rl:g:";
	assert_false(fc_ratelimit_same(rl, &s));
	s.redis_key = "fulcrum:rl:g:";
	s.lease_batch = 0; /* local now */
	assert_false(fc_ratelimit_same(rl, &s));
	fc_ratelimit_count_down(rl, 0, true, false);
	fc_ratelimit_count_down(rl, 1, true, false);
	fc_ratelimit_count_down(rl, 1, false, false); /* its bucket counted it */
	fc_ratelimit_count_down(rl, 0, false, true);  /* deny */
	struct fc_ratelimit_stats st;
	fc_ratelimit_stats(rl, &st);
	assert_int_equal(st.down_allowed, 2);
	assert_int_equal(st.down_refused, 2);
	assert_int_equal(st.limited, 1);
	assert_int_equal(fc_ratelimit_rate(rl), 100);
	assert_int_equal(fc_ratelimit_period_ms(rl), 1000);
	fc_ratelimit_unref(rl);
}

static void test_retry_delay(void **state)
{
	(void)state;
	assert_int_equal(fc_glimits_retry_ms(-5), 1);
	assert_int_equal(fc_glimits_retry_ms(0), 1);
	assert_int_equal(fc_glimits_retry_ms(1), 1);
	assert_int_equal(fc_glimits_retry_ms(1500), 2);
	assert_int_equal(fc_glimits_retry_ms(10000), 10);
	assert_int_equal(fc_glimits_retry_ms(5000000), 1000);
	assert_false(fc_glimits_up()); /* no Redis in this process */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_batch),
	        cmocka_unit_test(test_new_key_credit_then_refill),
	        cmocka_unit_test(test_own_bucket_still_bounds),
	        cmocka_unit_test(test_grant_bounds_and_gone_keys),
	        cmocka_unit_test(test_same_and_down_counters),
	        cmocka_unit_test(test_retry_delay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
