/* test_conformance.c — every registered algorithm through the same checks:
 * proportional distribution, avoid set, weight 0 and every state, changes
 * between picks, concurrent picks with a mutating control thread,
 * determinism with a seeded generator, NULL when nothing is eligible,
 * backup tiers. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "helpers.h"
#include "balance/balance.h" /* fc__pick_steps */

static char names[16][32];
static size_t n_algos;

static bool is_hash(const char *a)
{
	return strcmp(a, "ip_hash") == 0 || strcmp(a, "consistent_hash") == 0;
}

static void set_key(struct fc_pick_ctx *c, uint64_t *keybuf, uint64_t i)
{
	*keybuf = i * 0x9e3779b97f4a7c15ULL + 17;
	c->hash_key = keybuf;
	c->hash_key_len = sizeof *keybuf;
}

static int idx_of(struct fc_server *s)
{
	return s ? atoi(fc_server_name(s) + 1) : -1;
}

static unsigned w1234(unsigned i)
{
	return i + 1;
}
static unsigned w1(unsigned i)
{
	return 1;
}

static void distribution(void **st)
{
	for (size_t a = 0; a < n_algos; a++) {
		struct fc_pool *p = mkpool(names[a], NULL);
		add_many(p, 4, w1234);
		uint64_t rng = 42, key;
		struct fc_pick_ctx c;
		ctx_init(&c, &rng, 1000);
		unsigned cnt[4] = {0};
		const unsigned N = 20000;
		for (unsigned i = 0; i < N; i++) {
			if (is_hash(names[a]))
				set_key(&c, &key, i);
			int k = idx_of(pick_done(p, &c));
			assert_true(k >= 0 && k < 4);
			cnt[k]++;
		}
		double chi = 0;
		for (int k = 0; k < 4; k++) {
			double e = N * (k + 1) / 10.0;
			chi += (cnt[k] - e) * (cnt[k] - e) / e;
			if (is_hash(names[a])) /* a ring's shares are only statistically
			                          proportional */
				assert_true(cnt[k] > 0.6 * e && cnt[k] < 1.4 * e);
		}
		fprintf(stderr, "%-16s %5u %5u %5u %5u chi2=%.2f\n", names[a], cnt[0], cnt[1],
		        cnt[2], cnt[3], chi);
		if (!is_hash(names[a]))
			assert_true(chi < 16.27); /* df 3, p = 0.001 */
		fc_pool_destroy(p);
	}
}

static void avoid_set(void **st)
{
	for (size_t a = 0; a < n_algos; a++) {
		struct fc_pool *p = mkpool(names[a], NULL);
		add_many(p, 4, w1);
		struct fc_server *all[4];
		assert_int_equal(fc_pool_servers(p, all, 4), 4);
		uint64_t rng = 5, key;
		struct fc_pick_ctx c;
		ctx_init(&c, &rng, 1000);
		c.avoid = all;
		c.n_avoid = 2;
		unsigned seen[4] = {0};
		for (unsigned i = 0; i < 2000; i++) {
			set_key(&c, &key, i);
			int k = idx_of(pick_done(p, &c));
			assert_true(k >= 2 && k < 4);
			seen[k]++;
		}
		assert_true(seen[2] > 0 && seen[3] > 0);
		c.n_avoid = 4;
		assert_null(fc_pool_pick(p, &c));
		for (int i = 0; i < 4; i++)
			fc_server_unref(all[i]);
		fc_pool_destroy(p);
	}
}

/* fc_pool_pick_server: the same server again whatever the algorithm would
 * pick, counted active until done, cooldown ignored; NULL once it is dead,
 * draining, weighted 0 or removed. */
static void pick_same_server(void **st)
{
	for (size_t a = 0; a < n_algos; a++) {
		struct fc_pool *p = mkpool(names[a], NULL);
		add_many(p, 4, w1);
		uint64_t rng = 11;
		struct fc_pick_ctx c;
		ctx_init(&c, &rng, 1000);
		struct fc_server *s2 = fc_pool_find(p, "s2");
		fc_server_cooldown(s2, 5000);
		c.avoid = &s2;
		c.n_avoid = 1;
		for (int i = 0; i < 20; i++) {
			struct fc_server *s = fc_pool_pick_server(p, s2, &c);
			assert_ptr_equal(s, s2);
			struct fc_server_stats ss;
			fc_server_stats(s, c.now_ns, &ss);
			assert_int_equal(ss.active, 1);
			fc_pool_done(p, s, NULL, c.now_ns);
			fc_server_stats(s2, c.now_ns, &ss);
			assert_int_equal(ss.active, 0);
		}
		assert_int_equal(fc_pool_set_state(p, "s2", FC_SERVER_LAME_DUCK, 1), 0);
		struct fc_server *s = fc_pool_pick_server(p, s2, &c);
		assert_ptr_equal(s, s2);
		fc_pool_done(p, s, NULL, c.now_ns);
		assert_int_equal(fc_pool_set_state(p, "s2", FC_SERVER_DEAD, 1), 0);
		assert_null(fc_pool_pick_server(p, s2, &c));
		assert_int_equal(fc_pool_set_state(p, "s2", FC_SERVER_HEALTHY, 1), 0);
		assert_int_equal(fc_pool_set_weight(p, "s2", 0), 0);
		assert_null(fc_pool_pick_server(p, s2, &c));
		assert_int_equal(fc_pool_set_weight(p, "s2", 1), 0);
		assert_int_equal(fc_pool_set_state(p, "s2", FC_SERVER_DRAINING, 1), 0);
		assert_null(fc_pool_pick_server(p, s2, &c));
		assert_int_equal(fc_pool_set_state(p, "s2", FC_SERVER_HEALTHY, 1), 0);
		assert_non_null((s = fc_pool_pick_server(p, s2, &c)));
		fc_pool_done(p, s, NULL, c.now_ns);
		assert_int_equal(fc_pool_remove(p, "s2"), 0);
		assert_null(fc_pool_pick_server(p, s2, &c));
		fc_server_unref(s2);
		fc_pool_destroy(p);
	}
}

static void states_and_weight0(void **st)
{
	for (size_t a = 0; a < n_algos; a++) {
		struct fc_pool *p = mkpool(names[a], NULL);
		add_many(p, 6, w1);
		assert_int_equal(fc_pool_set_weight(p, "s0", 0), 0);
		assert_int_equal(fc_pool_set_state(p, "s1", FC_SERVER_DEAD, 1), 0);
		assert_int_equal(fc_pool_set_state(p, "s2", FC_SERVER_DRAINING, 1), 0);
		assert_int_equal(fc_pool_set_state(p, "s3", FC_SERVER_LAME_DUCK, 1), 0);
		struct fc_server *s5 = fc_pool_find(p, "s5");
		fc_server_cooldown(s5, 5000);
		uint64_t rng = 9, key;
		struct fc_pick_ctx c;
		ctx_init(&c, &rng, 1000);
		unsigned seen[6] = {0};
		for (unsigned i = 0; i < 3000; i++) {
			set_key(&c, &key, i);
			int k = idx_of(pick_done(p, &c));
			assert_true(k >= 0);
			seen[k]++;
		}
		assert_int_equal(seen[0] + seen[1] + seen[2] + seen[5], 0);
		if (!is_hash(names[a]))
			assert_int_equal(seen[3], 0); /* lame duck: nothing new */
		assert_true(seen[4] > 0);
		/* cooldown over: s5 comes back */
		c.now_ns = 6000;
		memset(seen, 0, sizeof seen);
		for (unsigned i = 0; i < 3000; i++) {
			set_key(&c, &key, i);
			seen[idx_of(pick_done(p, &c))]++;
		}
		assert_true(seen[5] > 0);
		fc_server_unref(s5);
		/* nothing eligible -> NULL */
		assert_int_equal(fc_pool_set_state(p, "s4", FC_SERVER_DEAD, 1), 0);
		assert_int_equal(fc_pool_set_state(p, "s5", FC_SERVER_DRAINING, 1), 0);
		assert_int_equal(fc_pool_set_state(p, "s3", FC_SERVER_DEAD, 1), 0);
		assert_null(fc_pool_pick(p, &c));
		fc_pool_destroy(p);
		struct fc_pool *e = mkpool(names[a], NULL);
		assert_null(fc_pool_pick(e, &c));
		fc_pool_destroy(e);
	}
}

static void changes_between_picks(void **st)
{
	for (size_t a = 0; a < n_algos; a++) {
		struct fc_pool *p = mkpool(names[a], NULL);
		add_many(p, 3, w1);
		uint64_t rng = 11, key;
		struct fc_pick_ctx c;
		ctx_init(&c, &rng, 1000);
		for (unsigned round = 0; round < 20; round++) {
			char nm[16];
			snprintf(nm, sizeof nm, "n%u", round);
			add(p, nm, 1 + round % 3);
			assert_int_equal(fc_pool_remove(p, round % 2 ? "s1" : "nonexistent"),
			                 round % 2 ? (round == 1 ? 0 : -ENOENT) : -ENOENT);
			assert_int_equal(fc_pool_set_weight(p, "s2", round % 4), 0);
			bool saw_new = false;
			for (unsigned i = 0; i < 400; i++) {
				set_key(&c, &key, i * 31 + round);
				struct fc_server *s = pick_done(p, &c);
				assert_non_null(s);
				if (round >= 1)
					assert_string_not_equal(fc_server_name(s), "s1");
				if (round % 4 == 0)
					assert_string_not_equal(fc_server_name(s), "s2");
				saw_new |= strcmp(fc_server_name(s), nm) == 0;
			}
			assert_true(saw_new);
		}
		fc_pool_destroy(p);
	}
}

static void determinism(void **st)
{
	for (size_t a = 0; a < n_algos; a++) {
		char seq[2][600];
		for (int run = 0; run < 2; run++) {
			struct fc_pool_options o = {.seed = 1234};
			struct fc_pool *p = mkpool(names[a], &o);
			add_many(p, 5, w1234);
			uint64_t rng = 77, key;
			struct fc_pick_ctx c;
			ctx_init(&c, &rng, 1000);
			struct fc_server *held = NULL;
			for (int i = 0; i < 500; i++) {
				set_key(&c, &key, (uint64_t)i);
				struct fc_server *s = fc_pool_pick(p, &c);
				seq[run][i] = (char)('0' + idx_of(s));
				/* release every other one a pick later, so active counts matter */
				struct fc_server *end = s;
				if (i % 2 == 0) {
					end = held;
					held = s;
				}
				if (end) {
					struct fc_outcome out = {
					        200, (uint64_t)(1000 + 100 * idx_of(end)), false};
					fc_pool_done(p, end, &out, c.now_ns);
				}
				c.now_ns += 1000;
			}
			fc_pool_done(p, held, NULL, c.now_ns);
			seq[run][500] = 0;
			fc_pool_destroy(p);
		}
		assert_string_equal(seq[0], seq[1]);
	}
}

/* ---- an out server's share spreads over the others by weight ---- */

/* OUT_RETRY: a pick that lands on the "out" server (failing without a
 * cooldown: a 502, a reset) is retried at once avoiding it, the proxy's
 * pattern; only the retries are counted: they must not all go to one
 * neighbour (round_robin used to send them all to the next in its order) */
enum out_how { OUT_DEAD, OUT_COOLDOWN, OUT_AVOID, OUT_RETRY };
static const char *const how_name[] = {"dead", "cooldown", "avoid", "retry"};

/* Three servers of weights w[0..2], server `out` out in the way `how`.
 * Non-hashing: N picks, cnt[k] = picks of server k. Hashing: N distinct keys,
 * cnt[k] = how many of the out server's keys (its keys with nothing out) went
 * to k; every other key must stay at home. Returns the chi-square of the two
 * others against their weights (df 1). */
static double spread_out(const char *algo, const unsigned w[3], int out, enum out_how how,
                         unsigned N, unsigned cnt[3])
{
	struct fc_pool *p = mkpool(algo, NULL);
	struct fc_server *sv[3];
	char nm[3][4] = {"s0", "s1", "s2"};
	for (int k = 0; k < 3; k++)
		sv[k] = add(p, nm[k], w[k]);
	uint64_t rng = 2024, key;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1000);
	bool hash = is_hash(algo);
	signed char *home = NULL;
	if (hash) {
		home = malloc(N);
		for (unsigned i = 0; i < N; i++) {
			set_key(&c, &key, i);
			home[i] = (signed char)idx_of(pick_done(p, &c));
		}
	}
	if (how == OUT_DEAD)
		assert_int_equal(fc_pool_set_state(p, nm[out], FC_SERVER_DEAD, 1000), 0);
	else if (how == OUT_COOLDOWN)
		fc_server_cooldown(sv[out], UINT64_MAX / 2);
	struct fc_server *av[1] = {sv[out]};
	if (how == OUT_AVOID) {
		c.avoid = av;
		c.n_avoid = 1;
	}
	memset(cnt, 0, 3 * sizeof *cnt);
	for (unsigned i = 0; i < N; i++) {
		if (hash)
			set_key(&c, &key, i);
		if (how == OUT_RETRY) {
			c.n_avoid = 0;
			if (idx_of(pick_done(p, &c)) != out)
				continue;
			c.avoid = av;
			c.n_avoid = 1;
		}
		int k = idx_of(pick_done(p, &c));
		assert_true(k >= 0 && k < 3 && k != out);
		if (!hash) {
			cnt[k]++;
			continue;
		}
		if (home[i] == out || how == OUT_RETRY)
			cnt[k]++;
		else
			assert_int_equal(k, home[i]); /* only the out server's keys move */
	}
	free(home);
	double tot = 0, wsum = 0, chi = 0;
	for (int k = 0; k < 3; k++)
		if (k != out) {
			tot += cnt[k];
			wsum += w[k];
		}
	for (int k = 0; k < 3; k++)
		if (k != out) {
			double e = tot * w[k] / wsum;
			chi += (cnt[k] - e) * (cnt[k] - e) / e;
		}
	fc_pool_destroy(p);
	return chi;
}

static void out_share_spreads(void **st)
{
	static const unsigned eq[3] = {1, 1, 1}, w123[3] = {1, 2, 3};
	for (size_t a = 0; a < n_algos; a++)
		for (int how = OUT_DEAD; how <= OUT_RETRY; how++)
			for (int wi = 0; wi < 2; wi++) {
				const unsigned *w = wi ? w123 : eq;
				const int out = 2;
				unsigned cnt[3];
				double chi =
				        spread_out(names[a], w, out, (enum out_how)how, 30000, cnt);
				double tot = cnt[0] + cnt[1], f0 = tot ? cnt[0] / tot : 0;
				double want = wi ? 1.0 / 3 : 0.5;
				fprintf(stderr,
				        "%-16s %-8s w=%s  s0 %5u s1 %5u  (s0 %.3f, want %.3f) "
				        "chi2=%.2f\n",
				        names[a], how_name[how], wi ? "1,2,3" : "1,1,1", cnt[0],
				        cnt[1], f0, want, chi);
				if (getenv("FC_SOFT"))
					continue;
				if (strcmp(names[a], "consistent_hash") == 0)
					/* the ring sends an out server's arcs to the servers
					 * after its 160 points: proportional only statistically */
					assert_true(f0 > want - 0.1 && f0 < want + 0.1);
				else
					assert_true(chi < 10.83); /* df 1, p = 0.001 */
			}
}

/* ---- many servers out: picks stay bounded ---- */

/* Picks n times; returns the mean probes per pick (fc__pick_steps) and the
 * largest, and that every pick found a server of the allowed range. */
static double probes_per_pick(struct fc_pool *p, struct fc_pick_ctx *c, unsigned n, uint64_t *worst,
                              unsigned live_from)
{
	uint64_t key, total = 0;
	*worst = 0;
	for (unsigned i = 0; i < n; i++) {
		set_key(c, &key, i);
		uint64_t before = fc__pick_steps;
		struct fc_server *s = fc_pool_pick(p, c);
		uint64_t d = fc__pick_steps - before;
		assert_non_null(s);
		assert_true((unsigned)idx_of(s) >= live_from);
		fc_pool_done(p, s, NULL, c->now_ns);
		total += d;
		*worst = d > *worst ? d : *worst;
	}
	return (double)total / n;
}

static void many_out(void **st)
{
	enum { N = 1000, OUT = 990 };
	for (size_t a = 0; a < n_algos; a++) {
		struct fc_pool *p = mkpool(names[a], NULL);
		add_many(p, N, w1);
		char nm[16];
		for (unsigned i = 0; i < OUT; i++) {
			snprintf(nm, sizeof nm, "s%u", i);
			assert_int_equal(fc_pool_set_state(p, nm, FC_SERVER_DEAD, 1), 0);
		}
		uint64_t rng = 99, worst;
		struct fc_pick_ctx c;
		ctx_init(&c, &rng, 1000);
		double mean = probes_per_pick(p, &c, 5000, &worst, OUT);
		fprintf(stderr, "%-16s %u of %u dead: %.2f probes per pick, worst %llu\n", names[a],
		        OUT, N, mean, (unsigned long long)worst);
		/* dead servers are not in the structures: a scan would be ~1000 */
		assert_true(mean <= 4);
		assert_true(worst <= 2 * FC__PROBES);

		/* the same servers back, then cooling down: fc_pool_maintain takes
		 * them out of the structures, and puts them back when it ends */
		for (unsigned i = 0; i < OUT; i++) {
			snprintf(nm, sizeof nm, "s%u", i);
			assert_int_equal(fc_pool_set_state(p, nm, FC_SERVER_HEALTHY, 1), 0);
		}
		struct fc_server **all = calloc(N, sizeof *all);
		assert_int_equal(fc_pool_servers(p, all, N), N);
		fc_pool_maintain(p, 1000);
		for (unsigned i = 0; i < N; i++)
			if ((unsigned)idx_of(all[i]) < OUT)
				fc_server_cooldown(all[i], 2000000);
		/* before the control thread's next call: picked around (scans allowed) */
		mean = probes_per_pick(p, &c, 200, &worst, OUT);
		fprintf(stderr, "%-16s %u cooling, not yet rebuilt: %.2f probes per pick\n",
		        names[a], OUT, mean);
		fc_pool_maintain(p, 1100); /* a pick met a cooling server: rebuild */
		mean = probes_per_pick(p, &c, 5000, &worst, OUT);
		fprintf(stderr, "%-16s %u cooling, rebuilt: %.2f probes per pick, worst %llu\n",
		        names[a], OUT, mean, (unsigned long long)worst);
		assert_true(mean <= 4);
		assert_true(worst <= 2 * FC__PROBES);
		/* cooldowns over: the next maintain puts them back */
		c.now_ns = 3000000;
		fc_pool_maintain(p, 3000000);
		unsigned back = 0;
		for (unsigned i = 0; i < 2000; i++) {
			uint64_t key;
			set_key(&c, &key, i);
			back += (unsigned)idx_of(pick_done(p, &c)) < OUT;
		}
		assert_true(back > 1500); /* 99 % of the servers again */
		for (unsigned i = 0; i < N; i++)
			fc_server_unref(all[i]);
		free(all);
		fc_pool_destroy(p);
	}
}

/* ---- panic mode ---- */

static void panic_mode(void **st)
{
	for (size_t a = 0; a < n_algos; a++) {
		struct fc_pool_options o = {.panic_permille = 500};
		struct fc_pool *p = mkpool(names[a], &o);
		add_many(p, 5, w1);
		assert_int_equal(fc_pool_set_weight(p, "s4", 0), 0); /* not counted */
		assert_false(fc_pool_in_panic(p));
		assert_int_equal(fc_pool_set_state(p, "s1", FC_SERVER_DEAD, 1), 0);
		assert_int_equal(fc_pool_set_state(p, "s2", FC_SERVER_LAME_DUCK, 1), 0);
		assert_int_equal(fc_pool_set_state(p, "s3", FC_SERVER_DRAINING, 1), 0);
		uint32_t healthy, total;
		fc_pool_health_counts(p, &healthy, &total);
		assert_int_equal(healthy, 2); /* s0, and s4 (weight 0) */
		assert_int_equal(total, 5);
		/* 1 healthy of 4 weighted = 250 per mille < 500: panic */
		assert_true(fc_pool_in_panic(p));
		uint64_t rng = 17, key;
		struct fc_pick_ctx c;
		ctx_init(&c, &rng, 1000);
		unsigned seen[5] = {0};
		for (unsigned i = 0; i < 3000; i++) {
			set_key(&c, &key, i);
			struct fc_server *s = fc_pool_pick(p, &c);
			assert_non_null(s);
			assert_true(c.panic);
			seen[idx_of(s)]++;
			fc_pool_done(p, s, NULL, c.now_ns);
		}
		fprintf(stderr, "%-16s panic: %u %u %u %u %u\n", names[a], seen[0], seen[1],
		        seen[2], seen[3], seen[4]);
		assert_true(seen[0] > 600 && seen[1] > 600 && seen[2] > 600); /* ~1000 each */
		assert_int_equal(seen[3] + seen[4], 0); /* draining and weight 0: never */
		/* the avoid set still holds */
		struct fc_server *s1 = fc_pool_find(p, "s1");
		struct fc_server *av[1] = {s1};
		c.avoid = av;
		c.n_avoid = 1;
		for (unsigned i = 0; i < 300; i++) {
			set_key(&c, &key, i);
			assert_true(idx_of(pick_done(p, &c)) != 1);
		}
		c.n_avoid = 0;
		fc_server_unref(s1);
		/* 2 healthy of 4 = 500 per mille: at the threshold, no panic */
		assert_int_equal(fc_pool_set_state(p, "s2", FC_SERVER_HEALTHY, 1), 0);
		assert_false(fc_pool_in_panic(p));
		memset(seen, 0, sizeof seen);
		for (unsigned i = 0; i < 3000; i++) {
			set_key(&c, &key, i);
			struct fc_server *s = fc_pool_pick(p, &c);
			assert_false(c.panic);
			seen[idx_of(s)]++;
			fc_pool_done(p, s, NULL, c.now_ns);
		}
		assert_int_equal(seen[1] + seen[3] + seen[4], 0);
		assert_true(seen[0] > 0 && seen[2] > 0);
		fc_pool_destroy(p);
		/* off by default: never panics, NULL when nothing is healthy */
		p = mkpool(names[a], NULL);
		add_many(p, 2, w1);
		assert_int_equal(fc_pool_set_state(p, "s0", FC_SERVER_DEAD, 1), 0);
		assert_int_equal(fc_pool_set_state(p, "s1", FC_SERVER_DEAD, 1), 0);
		assert_false(fc_pool_in_panic(p));
		assert_null(fc_pool_pick(p, &c));
		fc_pool_destroy(p);
	}
	struct fc_pool_options bad = {.panic_permille = 1001};
	struct fc_pool *p = NULL;
	char err[128];
	assert_int_equal(fc_pool_create(&bad, &p, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "panic_permille"));
}

/* ---- concurrency: 4 workers pick/done while a control thread mutates ---- */

struct worker {
	struct fc_pool *p;
	uint64_t seed;
	_Atomic bool *stop;
	unsigned picks;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = w->seed, key;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1000);
	for (unsigned i = 0; i < 20000 || !atomic_load(w->stop); i++) {
		set_key(&c, &key, i);
		c.now_ns += 1000;
		struct fc_server *s = fc_pool_pick(w->p, &c);
		if (s) {
			/* (its state may have changed since the pick, but until done
			 * the pick itself keeps it active) */
			assert_true(fc_server_active(s) >= 1);
			struct fc_outcome o = {i % 17 ? 200 : 502, 1000 + i % 5000, false};
			fc_pool_done(w->p, s, &o, c.now_ns);
			w->picks++;
		}
		if (i > 200000)
			break;
	}
	return NULL;
}

static void concurrent(void **st)
{
	for (size_t a = 0; a < n_algos; a++) {
		struct fc_pool_options o = {
		        .rebalance_window_ns = 100000, .slow_start_ns = 1000000, .sticky = false};
		struct fc_pool *p = mkpool(names[a], &o);
		add_many(p, 8, w1234);
		_Atomic bool stop = false;
		struct worker w[4];
		pthread_t th[4];
		for (int i = 0; i < 4; i++) {
			w[i] = (struct worker){p, (uint64_t)i + 1, &stop, 0};
			assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
		}
		for (unsigned r = 0; r < 300; r++) {
			char nm[16];
			snprintf(nm, sizeof nm, "x%u", r % 5);
			add(p, nm, 1 + r % 7);
			fc_pool_set_weight(p, "s3", r % 5);
			fc_pool_set_state(p, "s2", (enum fc_server_state)(r % 5), r);
			snprintf(nm, sizeof nm, "x%u", (r + 3) % 5);
			fc_pool_remove(p, nm);
		}
		atomic_store(&stop, true);
		for (int i = 0; i < 4; i++)
			assert_int_equal(pthread_join(th[i], NULL), 0);
		/* every pick was ended: nothing is left active */
		struct fc_server *all[32];
		size_t n = fc_pool_servers(p, all, 32);
		for (size_t i = 0; i < n; i++) {
			struct fc_server_stats ss;
			fc_server_stats(all[i], 0, &ss);
			assert_int_equal(ss.active, 0);
			fc_server_unref(all[i]);
		}
		fprintf(stderr, "%-16s picks %u %u %u %u\n", names[a], w[0].picks, w[1].picks,
		        w[2].picks, w[3].picks);
		fc_pool_destroy(p);
	}
}

/* ASLEEP (the proxy's wake:): never picked, in panic mode neither, not
 * counted for panic; a NULL pick says a server is asleep. */
static void asleep_state(void **st)
{
	for (size_t a = 0; a < n_algos; a++) {
		struct fc_pool_options o = {.panic_permille = 500};
		struct fc_pool *p = mkpool(names[a], &o);
		add_many(p, 4, w1);
		assert_int_equal(fc_pool_set_state(p, "s1", FC_SERVER_ASLEEP, 1), 0);
		assert_false(fc_pool_in_panic(p)); /* 3 healthy of 3 counted */
		uint64_t rng = 5, key;
		struct fc_pick_ctx c;
		ctx_init(&c, &rng, 1000);
		unsigned seen[4] = {0};
		for (unsigned i = 0; i < 2000; i++) {
			set_key(&c, &key, i);
			struct fc_server *s = pick_done(p, &c);
			assert_non_null(s);
			seen[idx_of(s)]++;
		}
		assert_int_equal(seen[1], 0);
		assert_true(seen[0] > 0 && seen[2] > 0 && seen[3] > 0);
		/* s0 healthy, s2 s3 dead, s1 asleep: 1 of 3 counted is healthy:
		 * panic over s0, s2, s3, never s1 */
		assert_int_equal(fc_pool_set_state(p, "s2", FC_SERVER_DEAD, 1), 0);
		assert_int_equal(fc_pool_set_state(p, "s3", FC_SERVER_DEAD, 1), 0);
		assert_true(fc_pool_in_panic(p));
		memset(seen, 0, sizeof seen);
		for (unsigned i = 0; i < 2000; i++) {
			set_key(&c, &key, i);
			struct fc_server *s = pick_done(p, &c);
			assert_non_null(s);
			seen[idx_of(s)]++;
		}
		assert_int_equal(seen[1], 0);
		assert_true(seen[2] > 0 && seen[3] > 0);
		/* everyone asleep: NULL, and it says why; not panic (none counted) */
		for (int i = 0; i < 4; i++) {
			char nm[8];
			snprintf(nm, sizeof nm, "s%d", i);
			assert_int_equal(fc_pool_set_state(p, nm, FC_SERVER_ASLEEP, 1), 0);
		}
		assert_false(fc_pool_in_panic(p));
		ctx_init(&c, &rng, 1000);
		assert_null(fc_pool_pick(p, &c));
		assert_true(c.asleep);
		assert_false(c.full);
		/* one awake again: picked, and a NULL elsewhere says nothing of sleep */
		assert_int_equal(fc_pool_set_state(p, "s2", FC_SERVER_HEALTHY, 1), 0);
		assert_int_equal(idx_of(pick_done(p, &c)), 2);
		fc_pool_destroy(p);
		struct fc_pool *e = mkpool(names[a], NULL);
		add_many(e, 1, w1);
		assert_int_equal(fc_pool_set_state(e, "s0", FC_SERVER_DEAD, 1), 0);
		assert_null(fc_pool_pick(e, &c));
		assert_false(c.asleep);
		fc_pool_destroy(e);
	}
}

/* ---- a plug-in algorithm asking for a rebuild from done ---- */

static _Atomic unsigned n_builds;
static _Atomic bool want_rebuild;

static int plug_init(const struct fc_algo_config *cfg, void **state)
{
	*state = NULL;
	return 0;
}
static int plug_build(void *state, struct fc_view *next)
{
	atomic_fetch_add(&n_builds, 1);
	return 0;
}
static struct fc_server *plug_pick(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	return fc_view_scan(v, ctx, false);
}
static void plug_done(void *state, const struct fc_view *v, struct fc_server *s,
                      const struct fc_outcome *o, uint64_t now_ns)
{
	if (atomic_exchange(&want_rebuild, false))
		fc_pool_request_rebuild(v->pool);
}
static const struct fc_algorithm plug = {
        .name = "test_rebuild",
        .init = plug_init,
        .build = plug_build,
        .pick = plug_pick,
        .done = plug_done,
};

static void requested_rebuild(void **st)
{
	assert_int_equal(fc_algorithm_register(&plug), 0);
	assert_int_equal(fc_algorithm_register(&plug), -EEXIST);
	struct fc_pool *p = mkpool("test_rebuild", NULL);
	add_many(p, 3, w1);
	unsigned b0 = atomic_load(&n_builds);
	uint64_t rng = 3;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1000);
	assert_non_null(pick_done(p, &c));
	assert_int_equal(atomic_load(&n_builds), b0); /* nobody asked */
	atomic_store(&want_rebuild, true);
	assert_non_null(pick_done(p, &c));
	assert_int_equal(atomic_load(&n_builds), b0 + 1); /* rebuilt from that done */
	assert_non_null(pick_done(p, &c));
	assert_int_equal(atomic_load(&n_builds), b0 + 1); /* once */
	/* maintained: the control thread rebuilds, a worker's done never does */
	fc_pool_maintain(p, 1000);
	unsigned b1 = atomic_load(&n_builds);
	atomic_store(&want_rebuild, true);
	assert_non_null(pick_done(p, &c));
	assert_non_null(pick_done(p, &c));
	assert_int_equal(atomic_load(&n_builds), b1);
	fc_pool_maintain(p, 1100);
	assert_int_equal(atomic_load(&n_builds), b1 + 1);
	fc_pool_maintain(p, 1200);
	assert_int_equal(atomic_load(&n_builds), b1 + 1); /* nothing to do */
	fc_pool_destroy(p);
}

/* Picks 2000 keys; seen[k] counts server sk. */
static void pick_counts(struct fc_pool *p, unsigned *seen, size_t n)
{
	uint64_t rng = 21, key;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1000);
	memset(seen, 0, n * sizeof *seen);
	for (unsigned i = 0; i < 2000; i++) {
		set_key(&c, &key, i);
		int k = idx_of(pick_done(p, &c));
		assert_true(k >= 0 && (size_t)k < n);
		seen[k]++;
	}
}

/* s0, s1: tier 0; s2, s3: tier 1; s4: tier 2. A tier takes requests only
 * while no lower tier has a server that can; panic does not send requests
 * to dead primaries while a backup is healthy. */
static void backup_tiers(void **st)
{
	static const unsigned tiers[5] = {0, 0, 1, 1, 2};
	for (size_t a = 0; a < n_algos; a++) {
		struct fc_pool_options o = {.panic_permille = 500};
		struct fc_pool *p = mkpool(names[a], &o);
		for (unsigned i = 0; i < 5; i++) {
			char nm[8];
			snprintf(nm, sizeof nm, "s%u", i);
			struct fc_server_spec sp = {
			        .name = nm, .address = nm, .weight = 1, .tier = tiers[i]};
			assert_int_equal(fc_pool_upsert(p, &sp, 1, NULL), 0);
		}
		unsigned seen[5];
		pick_counts(p, seen, 5);
		assert_true(seen[0] > 0 && seen[1] > 0);
		assert_int_equal(seen[2] + seen[3] + seen[4], 0);
		/* one primary left: it takes everything */
		assert_int_equal(fc_pool_set_state(p, "s0", FC_SERVER_DEAD, 1), 0);
		pick_counts(p, seen, 5);
		assert_int_equal(seen[1], 2000);
		/* no primary: the first backup tier (panic would pick dead s0) */
		assert_int_equal(fc_pool_set_state(p, "s1", FC_SERVER_DRAINING, 1), 0);
		pick_counts(p, seen, 5);
		assert_int_equal(seen[0] + seen[1] + seen[4], 0);
		assert_true(seen[2] > 0 && seen[3] > 0);
		assert_int_equal(fc_pool_set_state(p, "s2", FC_SERVER_DEAD, 1), 0);
		assert_int_equal(fc_pool_set_state(p, "s3", FC_SERVER_DEAD, 1), 0);
		pick_counts(p, seen, 5);
		assert_int_equal(seen[4], 2000);
		/* a primary back: the backups stop at once */
		assert_int_equal(fc_pool_set_state(p, "s0", FC_SERVER_HEALTHY, 1), 0);
		pick_counts(p, seen, 5);
		assert_int_equal(seen[0], 2000);
		struct fc_server_stats ss;
		struct fc_server *s4 = fc_pool_find(p, "s4");
		fc_server_stats(s4, 1, &ss);
		assert_int_equal(ss.tier, 2);
		fc_server_unref(s4);
		/* an upsert moves s4 to tier 0 in place */
		struct fc_server_spec sp = {.name = "s4", .address = "s4", .weight = 1};
		assert_int_equal(fc_pool_upsert(p, &sp, 1, NULL), 0);
		pick_counts(p, seen, 5);
		assert_true(seen[0] > 0 && seen[4] > 0);
		assert_int_equal(seen[0] + seen[4], 2000);
		fc_pool_destroy(p);
	}
}

int main(void)
{
	char list[512];
	fc_algorithm_list(list, sizeof list);
	for (char *tok = strtok(list, ", "); tok && n_algos < 16; tok = strtok(NULL, ", "))
		snprintf(names[n_algos++], sizeof names[0], "%s", tok);
	assert_true(n_algos >= 8);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(distribution),       cmocka_unit_test(avoid_set),
	        cmocka_unit_test(states_and_weight0), cmocka_unit_test(changes_between_picks),
	        cmocka_unit_test(determinism),        cmocka_unit_test(concurrent),
	        cmocka_unit_test(requested_rebuild),  cmocka_unit_test(out_share_spreads),
	        cmocka_unit_test(many_out),           cmocka_unit_test(panic_mode),
	        cmocka_unit_test(pick_same_server),   cmocka_unit_test(asleep_state),
	        cmocka_unit_test(backup_tiers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
