/* test_retry.c — the retry policy's arithmetic: the budget's share of the
 * active requests with its floor, the backoff's exponential growth, cap and
 * jitter bounds (and that the jitter does spread), the statuses retry.on
 * names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config/config.h"
#include "proxy/retry.h"

static void test_budget(void **state)
{
	(void)state;
	/* Envoy's numbers: 20 %, at least 3 */
	assert_int_equal(fc_retry_budget_max(0, 20, 3), 3);
	assert_int_equal(fc_retry_budget_max(1, 20, 3), 3);
	assert_int_equal(fc_retry_budget_max(15, 20, 3), 3);
	assert_int_equal(fc_retry_budget_max(19, 20, 3), 3);
	assert_int_equal(fc_retry_budget_max(20, 20, 3), 4);
	assert_int_equal(fc_retry_budget_max(24, 20, 3), 4); /* rounded down */
	assert_int_equal(fc_retry_budget_max(100, 20, 3), 20);
	assert_int_equal(fc_retry_budget_max(1000000, 20, 3), 200000);
	/* no floor: a quiet pool retries nothing at 0 % */
	assert_int_equal(fc_retry_budget_max(50, 0, 0), 0);
	assert_int_equal(fc_retry_budget_max(50, 0, 2), 2);
	assert_int_equal(fc_retry_budget_max(9, 10, 0), 0);
	assert_int_equal(fc_retry_budget_max(10, 10, 0), 1);
	/* 100 %: no budget at all */
	assert_int_equal(fc_retry_budget_max(0, 100, 0), UINT32_MAX);
	assert_int_equal(fc_retry_budget_max(5, 100, 3), UINT32_MAX);
	/* no overflow with absurd counts */
	assert_int_equal(fc_retry_budget_max(UINT64_MAX / 100, 99, 3),
	                 UINT32_MAX); /* more than 32 bits hold: saturates */
}

/* Every wait of retry n within [d/2, d], d = min(max, base * 2^(n-1)), and
 * both ends of the range reached (or nearly, for a wide one) in many draws. */
static void check_range(uint32_t base, uint32_t max, unsigned n, uint32_t d)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull + n;
	uint32_t lo = UINT32_MAX, hi = 0;
	for (int i = 0; i < 20000; i++) {
		uint32_t ms = fc_retry_backoff_ms(base, max, n, &rng);
		assert_true(ms >= d / 2 && ms <= d);
		lo = ms < lo ? ms : lo;
		hi = ms > hi ? ms : hi;
	}
	if (d - d / 2 < 500) { /* a range this small has both ends drawn */
		assert_int_equal(lo, d / 2);
		assert_int_equal(hi, d);
	} else { /* a wide one comes close to both */
		assert_true(lo < d / 2 + (d - d / 2) / 100 && hi > d - (d - d / 2) / 100);
	}
}

static void test_backoff(void **state)
{
	(void)state;
	uint64_t rng = 1;
	/* none */
	assert_int_equal(fc_retry_backoff_ms(0, 0, 1, &rng), 0);
	assert_int_equal(fc_retry_backoff_ms(0, 250, 3, &rng), 0);
	/* 25 ms doubling up to 250 ms */
	check_range(25, 250, 1, 25);
	check_range(25, 250, 2, 50);
	check_range(25, 250, 3, 100);
	check_range(25, 250, 4, 200);
	check_range(25, 250, 5, 250);
	check_range(25, 250, 8, 250);
	check_range(25, 250, 1000, 250); /* no shift overflow */
	/* n = 0 is treated as the first */
	check_range(25, 250, 0, 25);
	/* the longest the config allows */
	check_range(60000, 60000, 7, 60000);
	/* a max below base is base */
	check_range(40, 10, 3, 40);
	/* 1 ms: 0 or 1 */
	check_range(1, 1, 1, 1);
	/* the jitter spreads: 1,000 first retries at 100 ms do not all wait the same */
	uint32_t seen[101] = {0};
	unsigned distinct = 0;
	for (int i = 0; i < 1000; i++) {
		uint32_t ms = fc_retry_backoff_ms(100, 1000, 1, &rng);
		assert_true(ms >= 50 && ms <= 100);
		if (!seen[ms - 50]++)
			distinct++;
	}
	assert_true(distinct > 40);
}

static void test_statuses(void **state)
{
	(void)state;
	assert_int_equal(fc_retry_on_status(502), FC_RETRY_ON_502);
	assert_int_equal(fc_retry_on_status(503), FC_RETRY_ON_503);
	assert_int_equal(fc_retry_on_status(504), FC_RETRY_ON_504);
	assert_int_equal(fc_retry_on_status(500), 0);
	assert_int_equal(fc_retry_on_status(200), 0);
	assert_int_equal(fc_retry_on_status(0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_budget),
	        cmocka_unit_test(test_backoff),
	        cmocka_unit_test(test_statuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
