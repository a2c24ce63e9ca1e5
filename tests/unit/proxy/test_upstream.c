/* test_upstream.c — the idle-pool purge arithmetic: what recent traffic used
 * is kept, the surplus goes a half (rounded up) each period, the estimate of
 * the need decays towards the latest peak and keeps one connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proxy/proxy.h"

/* One period of a pool with idle + used connections, peak used in it. */
static uint32_t tick(uint32_t *idle, uint32_t used, uint32_t peak, uint32_t *need)
{
	uint32_t k = fc_upstream_purge_count(*idle, used, peak, need);
	assert_true(k <= *idle);
	*idle -= k;
	return k;
}

static void test_steady_keeps_all(void **state)
{
	(void)state;
	/* 2,000 connections, all of them used at the busiest moment of each period */
	uint32_t idle = 1500, need = 0;
	for (int i = 0; i < 20; i++)
		assert_int_equal(tick(&idle, 500, 2000, &need), 0);
	assert_int_equal(idle, 1500);
	assert_int_equal(need, 2000);
}

static void test_busy_are_never_counted_out(void **state)
{
	(void)state;
	/* more in use than the estimate: only idle ones may close */
	uint32_t need = 0;
	assert_int_equal(fc_upstream_purge_count(0, 50, 50, &need), 0);
	assert_int_equal(fc_upstream_purge_count(3, 50, 50, &need), 2);
	need = 100;
	assert_int_equal(fc_upstream_purge_count(10, 200, 0, &need), 10);
}

static void test_burst_then_quiet_shrinks_gradually(void **state)
{
	(void)state;
	/* a burst used 64 at once, then nothing */
	uint32_t idle = 64, need = 0;
	assert_int_equal(tick(&idle, 0, 64, &need), 0); /* the burst's own period */
	assert_int_equal(need, 64);
	uint32_t prev = idle, steps = 0;
	for (int i = 0; i < 40 && idle > 1; i++) {
		uint32_t k = tick(&idle, 0, 0, &need);
		/* never all at once: at most half of what is left, rounded up */
		assert_true(k <= (prev + 1) / 2);
		if (k)
			steps++;
		prev = idle;
	}
	assert_true(steps >= 4);
	/* the last connection stays (idle_timeout closes it) */
	assert_int_equal(idle, 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(tick(&idle, 0, 0, &need), 0);
	assert_int_equal(need, 1);
}

static void test_shrinks_to_the_new_need(void **state)
{
	(void)state;
	/* 40 were needed, now 8 at the busiest: the pool settles at 8 */
	uint32_t idle = 40, need = 40;
	for (int i = 0; i < 30; i++) {
		tick(&idle, 0, 8, &need);
		assert_true(idle >= 8);
	}
	assert_int_equal(idle, 8);
	assert_int_equal(need, 8);
}

static void test_estimate_decays(void **state)
{
	(void)state;
	uint32_t need = 100;
	fc_upstream_purge_count(0, 0, 0, &need);
	assert_int_equal(need, 50);
	fc_upstream_purge_count(0, 0, 70, &need); /* never below the latest peak */
	assert_int_equal(need, 70);
	fc_upstream_purge_count(0, 0, 10, &need);
	assert_int_equal(need, 40);
	need = UINT32_MAX; /* no overflow */
	fc_upstream_purge_count(UINT32_MAX, UINT32_MAX, UINT32_MAX, &need);
	assert_int_equal(need, UINT32_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_steady_keeps_all),
	        cmocka_unit_test(test_busy_are_never_counted_out),
	        cmocka_unit_test(test_burst_then_quiet_shrinks_gradually),
	        cmocka_unit_test(test_shrinks_to_the_new_need),
	        cmocka_unit_test(test_estimate_decays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
