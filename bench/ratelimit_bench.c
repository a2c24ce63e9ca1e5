/* ratelimit_bench.c — the rate limits' token buckets (src/proxy/ratelimit.c):
 * ns per take on 1 and 2 threads (one hot key shared by the threads, a
 * million distinct keys, refusals), and the bytes per key of a table holding
 * a million keys (the table's size, and the resident memory it took). Times
 * are the thread's CPU time; each single-thread figure is the fastest of
 * SEGMENTS timed slices. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/ratelimit.h"

#define SEGMENTS 10
#define KEYS     1000000u
#define SEC      1000000000ull

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

/* A thread's own CPU time: on a shared machine the other thread or a
 * build may hold the core, which wall time would count. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static long rss_kb(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static struct fc_ratelimit *table(uint32_t rate, uint32_t period_ms, uint32_t burst,
                                  uint32_t max_keys, uint32_t workers)
{
	struct fc_ratelimit_spec s = {.rate = rate,
	                              .period_ms = period_ms,
	                              .burst = burst,
	                              .max_keys = max_keys,
	                              .n_workers = workers,
	                              .seed = 1};
	struct fc_ratelimit *rl;
	if (fc_ratelimit_create(&s, &rl) != 0) {
		fprintf(stderr, "ratelimit_bench: cannot create a table\n");
		exit(1);
	}
	return rl;
}

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

enum mode { HOT, SPREAD, REFUSED };

struct run {
	struct fc_ratelimit *rl;
	enum mode mode;
	uint32_t worker;
	uint64_t iters;
	uint64_t clock0; /* the simulated clock's start */
	_Atomic int *go; /* threads start together */
	double ns;       /* per take */
	uint64_t allowed;
};

/* iters takes; the clock moves 1 us per take (no clock read in the loop) */
static void takes(struct run *r, uint64_t iters, uint64_t *clock, uint64_t *rng)
{
	struct fc_ratelimit_verdict v;
	uint64_t hot = fc_ratelimit_hash(r->rl, 0, "hot", 3);
	for (uint64_t i = 0; i < iters; i++) {
		uint64_t h = hot;
		if (r->mode == SPREAD) {
			uint64_t k = xorshift(rng) % KEYS;
			h = fc_ratelimit_hash(r->rl, 0, &k, sizeof(k));
		}
		r->allowed += fc_ratelimit_take(r->rl, h, *clock, r->worker, &v);
		*clock += 1000;
	}
}

static void *thread_main(void *arg)
{
	struct run *r = arg;
	uint64_t clock = r->clock0, rng = 0x9e3779b97f4a7c15ull ^ (r->worker + 1);
	while (!atomic_load(r->go))
		;
	uint64_t t0 = cpu_ns();
	takes(r, r->iters, &clock, &rng);
	r->ns = (double)(cpu_ns() - t0) / (double)r->iters;
	return NULL;
}

/* The fastest of SEGMENTS slices on this thread. */
static double single(struct fc_ratelimit *rl, enum mode mode, uint64_t iters, uint64_t clock0)
{
	struct run r = {.rl = rl, .mode = mode, .worker = 0};
	uint64_t clock = clock0, rng = 42;
	double best = 1e30;
	for (int s = 0; s < SEGMENTS; s++) {
		uint64_t t0 = cpu_ns();
		takes(&r, iters / SEGMENTS, &clock, &rng);
		double ns = (double)(cpu_ns() - t0) / (double)(iters / SEGMENTS);
		if (ns < best)
			best = ns;
	}
	return best;
}

/* Two threads at once: each one's ns per take. */
static void pair(struct fc_ratelimit *rl, enum mode mode, uint64_t iters, uint64_t clock0,
                 double ns[2])
{
	_Atomic int go = 0;
	struct run r[2];
	pthread_t th[2];
	for (int i = 0; i < 2; i++) {
		r[i] = (struct run){.rl = rl,
		                    .mode = mode,
		                    .worker = (uint32_t)i,
		                    .iters = iters,
		                    .clock0 = clock0,
		                    .go = &go};
		if (pthread_create(&th[i], NULL, thread_main, &r[i]) != 0)
			exit(1);
	}
	atomic_store(&go, 1);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		ns[i] = r[i].ns;
	}
}

int main(int argc, char **argv)
{
	uint64_t iters = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ull;
	uint64_t clock0 = 1000 * SEC;

	/* a million distinct keys in a table sized for a million */
	long rss0 = rss_kb();
	struct fc_ratelimit *rl = table(100, 1000, 100, KEYS, 2);
	struct fc_ratelimit_verdict v;
	uint64_t t0 = now_ns();
	for (uint64_t k = 0; k < KEYS; k++) {
		uint64_t h = fc_ratelimit_hash(rl, 0, &k, sizeof(k));
		fc_ratelimit_take(rl, h, clock0, 0, &v);
	}
	double fill_ns = (double)(now_ns() - t0) / KEYS;
	long rss1 = rss_kb();
	struct fc_ratelimit_stats st;
	fc_ratelimit_stats(rl, &st);
	uint64_t active = fc_ratelimit_active(rl, clock0);
	printf("table: max_keys %u -> %llu buckets, %llu bytes: %.1f bytes per bucket\n", KEYS,
	       (unsigned long long)st.capacity, (unsigned long long)st.bytes,
	       (double)st.bytes / (double)st.capacity);
	printf("a million distinct keys at once (first take each, %.0f ns): %llu kept, %llu "
	       "given away early (sets of %d full), resident memory +%ld kB = %.1f bytes per "
	       "key\n",
	       fill_ns, (unsigned long long)active, (unsigned long long)st.evicted_early,
	       FC_RATELIMIT_WAYS, rss1 - rss0, (double)(rss1 - rss0) * 1024.0 / KEYS);
	/* again, a million more keys: the memory stays */
	for (uint64_t k = KEYS; k < 2 * KEYS; k++) {
		uint64_t h = fc_ratelimit_hash(rl, 0, &k, sizeof(k));
		fc_ratelimit_take(rl, h, clock0 + 10 * SEC, 0, &v);
	}
	printf("a million more keys 10 s later: resident memory +%ld kB since the first\n",
	       rss_kb() - rss1);

	/* how full a table may be: keys all busy at once (none full again) */
	for (uint32_t pct = 25; pct <= 100; pct *= 2) {
		struct fc_ratelimit *t = table(1, 3600000, 10, KEYS, 1);
		uint64_t n = (uint64_t)KEYS * pct / 100;
		for (uint64_t k = 0; k < n; k++) {
			uint64_t h = fc_ratelimit_hash(t, 0, &k, sizeof(k));
			fc_ratelimit_take(t, h, clock0, 0, &v);
		}
		struct fc_ratelimit_stats ts;
		fc_ratelimit_stats(t, &ts);
		printf("%3u%% of max_keys busy at once: %.2f%% of them given a bucket another "
		       "busy key had\n",
		       pct, 100.0 * (double)ts.evicted_early / (double)n);
		fc_ratelimit_unref(t);
	}

	/* takes over the million keys (mostly found; some inserted) */
	double s1 = single(rl, SPREAD, iters, clock0 + 20 * SEC);
	double p1[2];
	pair(rl, SPREAD, iters, clock0 + 40 * SEC, p1);
	fc_ratelimit_unref(rl);

	/* one hot key: allowed (1M/s, each take 1 us later) */
	rl = table(1000000, 1000, 1000, 1000, 2);
	double s2 = single(rl, HOT, iters, clock0);
	double p2[2];
	pair(rl, HOT, iters, clock0 + 100 * SEC, p2);
	fc_ratelimit_unref(rl);

	/* one hot key over its limit: refusals write nothing */
	rl = table(1, 3600000, 1, 1000, 2);
	double s3 = single(rl, REFUSED, iters, clock0);
	double p3[2];
	pair(rl, REFUSED, iters, clock0, p3);
	fc_ratelimit_unref(rl);

	printf("\nns per take          1 thread   2 threads (each)\n");
	printf("1M keys, random       %7.1f    %7.1f %7.1f\n", s1, p1[0], p1[1]);
	printf("one key, allowed      %7.1f    %7.1f %7.1f\n", s2, p2[0], p2[1]);
	printf("one key, refused      %7.1f    %7.1f %7.1f\n", s3, p3[0], p3[1]);
	printf("(thread CPU time per take, the key's hash included; 2 threads: both at once on "
	       "the same table)\n");
	return 0;
}
