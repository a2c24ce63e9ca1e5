/* test_ratelimit.c — the rate limits' token buckets: the refill arithmetic
 * (burst, steady rate, slow rates, the wait until the next token), the table
 * (keys apart, refunds, memory fixed by max_keys with a million keys, idle
 * buckets given away before busy ones), and several threads on one bucket
 * and on many (run under ThreadSanitizer too). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/ratelimit.h"

#define MS  1000000ull
#define SEC 1000000000ull
#define T0  (1000 * SEC) /* a monotonic clock well past 0 */

static struct fc_ratelimit *make(uint32_t rate, uint32_t period_ms, uint32_t burst,
                                 uint32_t max_keys, uint32_t workers)
{
	struct fc_ratelimit_spec spec = {.rate = rate,
	                                 .period_ms = period_ms,
	                                 .burst = burst,
	                                 .max_keys = max_keys,
	                                 .n_workers = workers,
	                                 .seed = 42};
	struct fc_ratelimit *rl = NULL;
	assert_int_equal(fc_ratelimit_create(&spec, &rl), 0);
	return rl;
}

static uint64_t key(const struct fc_ratelimit *rl, uint64_t k)
{
	return fc_ratelimit_hash(rl, 0, &k, sizeof(k));
}

static bool take(struct fc_ratelimit *rl, uint64_t k, uint64_t now, struct fc_ratelimit_verdict *v)
{
	return fc_ratelimit_take(rl, key(rl, k), now, 0, v);
}

/* ---------------------------------------------------------------- arithmetic */

static void test_burst_then_rate(void **state)
{
	(void)state;
	/* 10/s, burst 3: three at once, then one every 100 ms */
	const uint64_t t = 100 * MS;
	uint64_t tat = 0;
	struct fc_ratelimit_verdict v;
	for (uint32_t i = 0; i < 3; i++) {
		assert_true(fc_ratelimit_decide(&tat, T0, t, 3, &v));
		assert_int_equal(v.remaining, 2 - i);
		assert_int_equal(v.wait_ns, 0);
	}
	assert_false(fc_ratelimit_decide(&tat, T0, t, 3, &v));
	assert_int_equal(v.remaining, 0);
	assert_int_equal(v.wait_ns, t); /* the next token, 100 ms away */
	uint64_t before = tat;
	assert_false(fc_ratelimit_decide(&tat, T0 + t - 1, t, 3, &v));
	assert_int_equal(v.wait_ns, 1);
	assert_int_equal(tat, before); /* a refusal changes nothing */
	assert_true(fc_ratelimit_decide(&tat, T0 + t, t, 3, &v));
	assert_int_equal(v.remaining, 0);
	assert_false(fc_ratelimit_decide(&tat, T0 + t, t, 3, &v));
	/* idle for a long time: full again, never more than the burst */
	for (uint32_t i = 0; i < 3; i++)
		assert_true(fc_ratelimit_decide(&tat, T0 + 3600 * SEC, t, 3, &v));
	assert_false(fc_ratelimit_decide(&tat, T0 + 3600 * SEC, t, 3, &v));
}

static void test_burst_one(void **state)
{
	(void)state;
	uint64_t tat = 0;
	struct fc_ratelimit_verdict v;
	assert_true(fc_ratelimit_decide(&tat, T0, SEC, 1, &v));
	assert_int_equal(v.remaining, 0);
	assert_false(fc_ratelimit_decide(&tat, T0 + SEC / 2, SEC, 1, &v));
	assert_int_equal(v.wait_ns, SEC / 2);
	assert_true(fc_ratelimit_decide(&tat, T0 + SEC, SEC, 1, &v));
}

/* A client asking every step_ns for span_ns: how many pass. */
static uint64_t hammer(struct fc_ratelimit *rl, uint64_t k, uint64_t from, uint64_t span_ns,
                       uint64_t step_ns)
{
	uint64_t n = 0;
	struct fc_ratelimit_verdict v;
	for (uint64_t now = from; now < from + span_ns; now += step_ns)
		n += take(rl, k, now, &v);
	return n;
}

static void test_steady_rate_is_exact(void **state)
{
	(void)state;
	/* 100/s, burst 10, asked every 1 ms (and every 7 ms, every 333 us) for 10 s */
	struct fc_ratelimit *rl = make(100, 1000, 10, 1000, 1);
	assert_int_equal(hammer(rl, 1, T0, 10 * SEC, MS), 10 + 1000 - 1);
	assert_int_equal(hammer(rl, 2, T0, 10 * SEC, 7 * MS), 10 + 1000 - 1);
	uint64_t n = hammer(rl, 3, T0, 10 * SEC, 333000);
	assert_true(n >= 1008 && n <= 1010);
	fc_ratelimit_unref(rl);
}

static void test_slow_rates(void **state)
{
	(void)state;
	/* 30/m: one every 2 s; the default burst of such a rate is 1 */
	struct fc_ratelimit *rl = make(30, 60000, 1, 1000, 1);
	assert_int_equal(fc_ratelimit_window_s(rl), 2);
	assert_int_equal(hammer(rl, 1, T0, 60 * SEC, 10 * MS), 30);
	fc_ratelimit_unref(rl);
	/* 1000/h, burst 50: 50 at once, then one every 3.6 s */
	rl = make(1000, 3600000, 50, 1000, 1);
	assert_int_equal(fc_ratelimit_window_s(rl), 180);
	assert_int_equal(hammer(rl, 1, T0, 3600 * SEC, 100 * MS), 50 + 1000 - 1);
	struct fc_ratelimit_verdict v;
	assert_true(take(rl, 1, T0 + 3600 * SEC, &v)); /* the 1,000th token is due */
	assert_false(take(rl, 1, T0 + 3600 * SEC, &v));
	assert_int_equal(v.wait_ns, 3600 * MS);
	fc_ratelimit_unref(rl);
	/* 3/s does not divide a second: 3 a second all the same */
	rl = make(3, 1000, 1, 1000, 1);
	assert_int_equal(hammer(rl, 1, T0, 100 * SEC, MS), 300);
	fc_ratelimit_unref(rl);
}

static void test_window(void **state)
{
	(void)state;
	struct fc_ratelimit *rl = make(100, 1000, 200, 1000, 1);
	assert_int_equal(fc_ratelimit_burst(rl), 200);
	assert_int_equal(fc_ratelimit_window_s(rl), 2); /* 200 tokens at 100/s */
	fc_ratelimit_unref(rl);
	rl = make(1000, 1000, 10, 1000, 1);
	assert_int_equal(fc_ratelimit_window_s(rl), 1); /* 10 ms, said as 1 s */
	fc_ratelimit_unref(rl);
}

static void test_bad_specs(void **state)
{
	(void)state;
	struct fc_ratelimit *rl = NULL;
	struct fc_ratelimit_spec s = {
	        .rate = 0, .period_ms = 1000, .burst = 1, .max_keys = 10, .n_workers = 1};
	assert_int_equal(fc_ratelimit_create(&s, &rl), -22);
	s.rate = 10;
	s.burst = 0;
	assert_int_equal(fc_ratelimit_create(&s, &rl), -22);
	s.burst = 1;
	s.n_workers = 0;
	assert_int_equal(fc_ratelimit_create(&s, &rl), -22);
}

/* ---------------------------------------------------------------- the table */

static void test_keys_are_apart(void **state)
{
	(void)state;
	struct fc_ratelimit *rl = make(1, 1000, 2, 1000, 1);
	struct fc_ratelimit_verdict v;
	assert_true(take(rl, 1, T0, &v));
	assert_true(take(rl, 1, T0, &v));
	assert_false(take(rl, 1, T0, &v));
	/* another client is not touched */
	assert_true(take(rl, 2, T0, &v));
	assert_int_equal(v.remaining, 1);
	/* the same bytes in another key space are another key */
	uint64_t k = 1;
	assert_true(fc_ratelimit_take(rl, fc_ratelimit_hash(rl, 1, &k, sizeof(k)), T0, 0, &v));
	struct fc_ratelimit_stats st;
	fc_ratelimit_stats(rl, &st);
	assert_int_equal(st.limited, 1);
	assert_int_equal(fc_ratelimit_active(rl, T0), 3);
	fc_ratelimit_unref(rl);
}

static void test_refund(void **state)
{
	(void)state;
	struct fc_ratelimit *rl = make(1, 1000, 2, 1000, 1);
	struct fc_ratelimit_verdict v;
	assert_true(take(rl, 1, T0, &v));
	assert_true(take(rl, 1, T0, &v));
	fc_ratelimit_refund(rl, key(rl, 1));
	assert_true(take(rl, 1, T0, &v));
	assert_false(take(rl, 1, T0, &v));
	fc_ratelimit_refund(rl, key(rl, 99)); /* not there: nothing */
	fc_ratelimit_unref(rl);
}

static void test_same_spec(void **state)
{
	(void)state;
	struct fc_ratelimit *rl = make(100, 1000, 10, 1000, 2);
	struct fc_ratelimit_spec s = {.rate = 100,
	                              .period_ms = 1000,
	                              .burst = 10,
	                              .max_keys = 1000,
	                              .n_workers = 2,
	                              .seed = 7};
	assert_true(fc_ratelimit_same(rl, &s));
	s.burst = 11;
	assert_false(fc_ratelimit_same(rl, &s));
	s.burst = 10;
	s.period_ms = 60000;
	assert_false(fc_ratelimit_same(rl, &s));
	fc_ratelimit_unref(rl);
}

static void test_million_keys_bounded(void **state)
{
	(void)state;
	/* room for 10,000 buckets; a million clients, each asking once, 10
	 * new ones a millisecond: memory never grows, every first request passes */
	struct fc_ratelimit *rl = make(10, 1000, 10, 10000, 1);
	struct fc_ratelimit_stats st;
	fc_ratelimit_stats(rl, &st);
	uint64_t bytes = st.bytes;
	assert_true(st.capacity >= 10000 && st.capacity < 10000 + FC_RATELIMIT_WAYS);
	assert_true(st.bytes < 10000 * 13 + 4096);
	struct fc_ratelimit_verdict v;
	for (uint64_t k = 0; k < 1000000; k++)
		assert_true(take(rl, k, T0 + k / 10 * MS, &v));
	fc_ratelimit_stats(rl, &st);
	assert_int_equal(st.bytes, bytes);
	assert_true(fc_ratelimit_active(rl, T0 + 10 * SEC) <= st.capacity);
	/* a bucket of 10 at 10/s is full 100 ms after its take: 1,000 keys
	 * come in 100 ms, so nearly every bucket given away was idle (a set
	 * of five sees six keys in 100 ms now and then) */
	assert_true(st.evicted_early < 1000000 / 1000);
	fc_ratelimit_unref(rl);
}

static void test_idle_buckets_go_first(void **state)
{
	(void)state;
	/* 100 buckets; a client empties its own, then 10,000 others pass
	 * through at the same moment: the busy one is kept, its refusal too */
	struct fc_ratelimit *rl = make(1, 1000, 10, 100, 1);
	struct fc_ratelimit_verdict v;
	for (int i = 0; i < 10; i++)
		assert_true(take(rl, 7, T0, &v));
	assert_false(take(rl, 7, T0, &v));
	for (uint64_t k = 1000; k < 11000; k++)
		take(rl, k, T0, &v);
	assert_false(take(rl, 7, T0, &v));
	/* the others were closer to full: those were given away */
	struct fc_ratelimit_stats st;
	fc_ratelimit_stats(rl, &st);
	assert_true(st.evicted_early > 0);
	/* later, once every bucket is full again, none is given away early */
	uint64_t early = st.evicted_early;
	for (uint64_t k = 20000; k < 30000; k++)
		assert_true(take(rl, k, T0 + 3600 * SEC + (k - 20000) * SEC, &v));
	fc_ratelimit_stats(rl, &st);
	assert_int_equal(st.evicted_early, early);
	fc_ratelimit_unref(rl);
}

/* ---------------------------------------------------------------- threads */

#define THREADS 4

struct shared {
	struct fc_ratelimit *rl;
	_Atomic uint64_t now;  /* the clock, moved by thread 0 */
	_Atomic uint64_t done; /* threads that finished */
	uint64_t rounds;
};

struct worker {
	struct shared *sh;
	uint32_t id;
	uint64_t allowed, allowed_own;
};

/* Every thread asks for the same key as fast as it can (and, between, for
 * keys of its own, which land in the same sets): the allowed total is the
 * burst plus one per interval, however the takes interleave. */
static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct shared *sh = wk->sh;
	struct fc_ratelimit_verdict v;
	uint64_t shared_key = key(sh->rl, 1);
	for (uint64_t i = 0; i < sh->rounds; i++) {
		uint64_t now = atomic_load(&sh->now);
		if (wk->id == 0 && i % 4 == 0)
			atomic_store(&sh->now, now + MS / 4); /* 250 us a step */
		wk->allowed += fc_ratelimit_take(sh->rl, shared_key, now, wk->id, &v);
		uint64_t own = 1000 + wk->id * 1000000 + i % 5000;
		wk->allowed_own += fc_ratelimit_take(sh->rl, key(sh->rl, own), now, wk->id, &v);
	}
	atomic_fetch_add(&sh->done, 1);
	return NULL;
}

static void test_threads_share_one_bucket(void **state)
{
	(void)state;
	/* 1000/s, burst 20, in a small table (own keys evict each other) */
	struct shared sh = {.rl = make(1000, 1000, 20, 2000, THREADS), .rounds = 200000};
	atomic_init(&sh.now, T0);
	atomic_init(&sh.done, 0);
	struct worker wk[THREADS];
	pthread_t th[THREADS];
	for (uint32_t i = 0; i < THREADS; i++) {
		wk[i] = (struct worker){.sh = &sh, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &wk[i]), 0);
	}
	uint64_t allowed = 0;
	for (uint32_t i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		allowed += wk[i].allowed;
	}
	/* the clock moved 200,000 / 4 steps of 250 us: 12.5 s, 12,500 tokens */
	uint64_t span_ms = (atomic_load(&sh.now) - T0) / MS;
	uint64_t most = 20 + span_ms;
	if (allowed > most || allowed + span_ms / 100 < most)
		fail_msg("allowed %llu, want %llu (within 1%%) over %llu ms",
		         (unsigned long long)allowed, (unsigned long long)most,
		         (unsigned long long)span_ms);
	struct fc_ratelimit_stats st;
	fc_ratelimit_stats(sh.rl, &st);
	assert_true(st.limited > 0);
	fc_ratelimit_unref(sh.rl);
}

static void *frozen_main(void *arg)
{
	struct worker *wk = arg;
	struct fc_ratelimit_verdict v;
	uint64_t h = key(wk->sh->rl, 5);
	for (uint64_t i = 0; i < wk->sh->rounds; i++)
		wk->allowed += fc_ratelimit_take(wk->sh->rl, h, T0, wk->id, &v);
	return NULL;
}

static void test_threads_frozen_clock(void **state)
{
	(void)state;
	/* with the clock stopped, exactly the burst passes: never a token twice */
	struct shared sh = {.rl = make(10, 1000, 1000, 1000, THREADS), .rounds = 100000};
	struct worker wk[THREADS];
	pthread_t th[THREADS];
	for (uint32_t i = 0; i < THREADS; i++) {
		wk[i] = (struct worker){.sh = &sh, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, frozen_main, &wk[i]), 0);
	}
	uint64_t allowed = 0;
	for (uint32_t i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		allowed += wk[i].allowed;
	}
	assert_int_equal(allowed, 1000);
	struct fc_ratelimit_stats st;
	fc_ratelimit_stats(sh.rl, &st);
	assert_int_equal(st.limited, THREADS * 100000 - 1000);
	fc_ratelimit_unref(sh.rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_burst_then_rate),
	        cmocka_unit_test(test_burst_one),
	        cmocka_unit_test(test_steady_rate_is_exact),
	        cmocka_unit_test(test_slow_rates),
	        cmocka_unit_test(test_window),
	        cmocka_unit_test(test_bad_specs),
	        cmocka_unit_test(test_keys_are_apart),
	        cmocka_unit_test(test_refund),
	        cmocka_unit_test(test_same_spec),
	        cmocka_unit_test(test_million_keys_bounded),
	        cmocka_unit_test(test_idle_buckets_go_first),
	        cmocka_unit_test(test_threads_share_one_bucket),
	        cmocka_unit_test(test_threads_frozen_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
