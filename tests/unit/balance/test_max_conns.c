/* test_max_conns.c — a server's max_conns across every algorithm: a pick
 * never returns a server at its cap, fc_pool_done gives the slot back,
 * ctx->full says when the cap is what is missing, sticky clients move on,
 * a reload's inherit shares the count, and threads picking at once never
 * exceed it (run under ThreadSanitizer by `make test`). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "helpers.h"

static char names[16][32];
static size_t n_algos;

static void set_key(struct fc_pick_ctx *c, uint64_t *keybuf, uint64_t i)
{
	*keybuf = i * 0x9e3779b97f4a7c15ULL + 17;
	c->hash_key = keybuf;
	c->hash_key_len = sizeof *keybuf;
}

static struct fc_server *add_capped(struct fc_pool *p, const char *name, unsigned w, unsigned max)
{
	struct fc_server_spec sp = {.name = name, .address = name, .weight = w, .max_conns = max};
	struct fc_server *s = NULL;
	assert_int_equal(fc_pool_upsert(p, &sp, 1, &s), 0);
	return s;
}

static uint32_t conns_of(struct fc_server *s)
{
	struct fc_server_stats st;
	fc_server_stats(s, 0, &st);
	return st.conns;
}

/* Two servers capped at 2 and 3: five picks fill them, the sixth is NULL
 * with full set; one done frees exactly that server's slot. */
static void cap_then_full(void **st)
{
	for (size_t a = 0; a < n_algos; a++) {
		struct fc_pool *p = mkpool(names[a], NULL);
		struct fc_server *s0 = add_capped(p, "a", 1, 2);
		struct fc_server *s1 = add_capped(p, "b", 3, 3);
		uint64_t rng = 7, key = 0;
		struct fc_pick_ctx c;
		struct fc_server *held[5];
		unsigned on0 = 0, on1 = 0;
		for (int i = 0; i < 5; i++) {
			ctx_init(&c, &rng, 1000);
			set_key(&c, &key, (uint64_t)i);
			held[i] = fc_pool_pick(p, &c);
			assert_non_null(held[i]);
			assert_false(c.full);
			on0 += held[i] == s0;
			on1 += held[i] == s1;
		}
		assert_int_equal(on0, 2);
		assert_int_equal(on1, 3);
		assert_int_equal(conns_of(s0), 2);
		assert_int_equal(conns_of(s1), 3);
		ctx_init(&c, &rng, 1000);
		set_key(&c, &key, 99);
		assert_null(fc_pool_pick(p, &c));
		assert_true(c.full);
		/* the slot of the server whose request ended is the one free */
		for (int i = 0; i < 5; i++)
			if (held[i] == s0) {
				fc_pool_done(p, held[i], NULL, 1000);
				held[i] = NULL;
				break;
			}
		assert_int_equal(conns_of(s0), 1);
		ctx_init(&c, &rng, 1000);
		set_key(&c, &key, 100);
		struct fc_server *again = fc_pool_pick(p, &c);
		assert_ptr_equal(again, s0);
		fc_pool_done(p, again, NULL, 1000);
		for (int i = 0; i < 5; i++)
			fc_pool_done(p, held[i], NULL, 1000);
		assert_int_equal(conns_of(s0), 0);
		assert_int_equal(conns_of(s1), 0);
		fc_pool_destroy(p);
	}
}

/* full only when the cap is what is missing: a dead pool is not "full",
 * nor is one whose only free server is in the avoid set... unless another
 * server is capped and full. */
static void full_flag(void **st)
{
	struct fc_pool *p = mkpool("round_robin", NULL);
	struct fc_server *s0 = add_capped(p, "a", 1, 1);
	add_capped(p, "b", 1, 1);
	uint64_t rng = 3;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1000);
	struct fc_server *x = fc_pool_pick(p, &c), *y = fc_pool_pick(p, &c);
	assert_non_null(x);
	assert_non_null(y);
	assert_null(fc_pool_pick(p, &c));
	assert_true(c.full);
	fc_pool_done(p, x, NULL, 1000);
	fc_pool_done(p, y, NULL, 1000);
	/* both dead: NULL, and not for want of a slot */
	fc_pool_set_state(p, "a", FC_SERVER_DEAD, 1000);
	fc_pool_set_state(p, "b", FC_SERVER_DEAD, 1000);
	ctx_init(&c, &rng, 1000);
	assert_null(fc_pool_pick(p, &c));
	assert_false(c.full);
	/* one back and busy, the other avoided: full (a slot may free up) */
	fc_pool_set_state(p, "a", FC_SERVER_HEALTHY, 1000);
	ctx_init(&c, &rng, 1000);
	x = fc_pool_pick(p, &c);
	assert_ptr_equal(x, s0);
	ctx_init(&c, &rng, 1000);
	assert_null(fc_pool_pick(p, &c));
	assert_true(c.full);
	/* the full one avoided (a retry that tried it): nothing to wait for */
	struct fc_server *avoid[1] = {s0};
	ctx_init(&c, &rng, 1000);
	c.avoid = avoid;
	c.n_avoid = 1;
	assert_null(fc_pool_pick(p, &c));
	assert_false(c.full);
	fc_pool_done(p, x, NULL, 1000);
	fc_pool_destroy(p);
}

/* A sticky client whose server is at its cap goes to another server. */
static void sticky_moves_when_full(void **st)
{
	struct fc_pool_options o = {
	        .sticky = true, .sticky_secret = (const uint8_t *)"k", .sticky_secret_len = 1};
	struct fc_pool *p = mkpool("round_robin", &o);
	struct fc_server *s0 = add_capped(p, "a", 1, 1);
	struct fc_server *s1 = add_capped(p, "b", 1, 5);
	char cookie[64];
	assert_true(fc_sticky_encode((const uint8_t *)"k", 1, fc_server_id(s0), cookie,
	                             sizeof cookie) > 0);
	uint64_t rng = 5;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1000);
	c.sticky_value = cookie;
	c.sticky_len = strlen(cookie);
	struct fc_server *first = fc_pool_pick(p, &c);
	assert_ptr_equal(first, s0);
	assert_false(c.sticky_set); /* it kept its server */
	struct fc_server *second = fc_pool_pick(p, &c);
	assert_ptr_equal(second, s1);
	assert_true(c.sticky_set); /* moved: a new cookie */
	fc_pool_done(p, first, NULL, 1000);
	fc_pool_done(p, second, NULL, 1000);
	fc_pool_destroy(p);
}

/* max_conns changes in place between non-zero values; on <-> off is -EBUSY. */
static void upsert_changes(void **st)
{
	struct fc_pool *p = mkpool("least_conn", NULL);
	struct fc_server *s = add_capped(p, "a", 1, 1);
	uint64_t rng = 3;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1000);
	struct fc_server *x = fc_pool_pick(p, &c);
	assert_ptr_equal(x, s);
	assert_null(fc_pool_pick(p, &c));
	struct fc_server_spec sp = {.name = "a", .address = "a", .weight = 1, .max_conns = 2};
	assert_int_equal(fc_pool_upsert(p, &sp, 1, NULL), 0);
	assert_int_equal(fc_server_max_conns(s), 2);
	struct fc_server *y = fc_pool_pick(p, &c);
	assert_ptr_equal(y, s);
	assert_int_equal(conns_of(s), 2);
	sp.max_conns = 0;
	assert_int_equal(fc_pool_upsert(p, &sp, 1, NULL), -EBUSY);
	struct fc_server_spec plain = {.name = "b", .address = "b", .weight = 1};
	assert_int_equal(fc_pool_upsert(p, &plain, 1, NULL), 0);
	plain.max_conns = 4;
	assert_int_equal(fc_pool_upsert(p, &plain, 1, NULL), -EBUSY);
	fc_pool_done(p, x, NULL, 1000);
	fc_pool_done(p, y, NULL, 1000);
	assert_int_equal(conns_of(s), 0);
	fc_pool_destroy(p);
}

/* A reload: the new pool's server inherits the old one and shares its
 * count, so requests still running on the old server hold slots of the new. */
static void inherit_shares_count(void **st)
{
	struct fc_pool *old = mkpool("round_robin", NULL);
	struct fc_server *os = add_capped(old, "a", 1, 2);
	uint64_t rng = 3;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1000);
	struct fc_server *x = fc_pool_pick(old, &c);
	assert_ptr_equal(x, os);
	struct fc_pool *nw = mkpool("round_robin", NULL);
	struct fc_server_spec sp = {
	        .name = "a", .address = "a", .weight = 1, .max_conns = 2, .inherit = os};
	struct fc_server *ns = NULL;
	assert_int_equal(fc_pool_upsert(nw, &sp, 1, &ns), 0);
	assert_int_equal(conns_of(ns), 1);
	struct fc_server *y = fc_pool_pick(nw, &c);
	assert_ptr_equal(y, ns);
	ctx_init(&c, &rng, 1000);
	assert_null(fc_pool_pick(nw, &c)); /* 1 old + 1 new = the cap */
	assert_true(c.full);
	fc_pool_done(old, x, NULL, 1000); /* the old request ends: a slot of the new */
	fc_pool_destroy(old);
	struct fc_server *z = fc_pool_pick(nw, &c);
	assert_ptr_equal(z, ns);
	fc_pool_done(nw, y, NULL, 1000);
	fc_pool_done(nw, z, NULL, 1000);
	assert_int_equal(conns_of(ns), 0);
	fc_pool_destroy(nw);
}

/* A retry on the same server (fc_pool_pick_server) takes a slot too. */
static void pick_server_honours_the_cap(void **st)
{
	struct fc_pool *p = mkpool("round_robin", NULL);
	struct fc_server *s0 = add_capped(p, "a", 1, 1);
	uint64_t rng = 3;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 1000);
	struct fc_server *x = fc_pool_pick(p, &c);
	assert_ptr_equal(x, s0);
	ctx_init(&c, &rng, 1000);
	assert_null(fc_pool_pick_server(p, s0, &c));
	assert_true(c.full);
	fc_pool_done(p, x, NULL, 1000);
	struct fc_server *y = fc_pool_pick_server(p, s0, &c);
	assert_ptr_equal(y, s0);
	assert_false(c.full);
	assert_int_equal(conns_of(s0), 1);
	assert_null(fc_pool_pick(p, &c)); /* the slot is the retry's */
	fc_pool_done(p, y, NULL, 1000);
	assert_int_equal(conns_of(s0), 0);
	fc_pool_destroy(p);
}

/* ---- threads ---- */

#define N_THREADS 4
#define N_SERVERS 6
#define CAP       3

struct shared {
	struct fc_pool *p;
	struct fc_server *srv[N_SERVERS];
	_Atomic uint32_t now[N_SERVERS]; /* requests each server holds right now */
	_Atomic uint32_t peak[N_SERVERS];
	_Atomic uint32_t over;    /* times a server held more than CAP */
	_Atomic uint32_t strange; /* a pick returned a server not in the pool */
	_Atomic bool stop;
	_Atomic uint32_t rounds; /* picks tried, all threads */
};

struct worker {
	struct shared *sh;
	uint64_t seed;
	unsigned picks, nulls;
};

static int index_of(const struct shared *sh, const struct fc_server *s)
{
	for (int i = 0; i < N_SERVERS; i++)
		if (sh->srv[i] == s)
			return i;
	return -1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint64_t rng = w->seed, key = 0;
	struct fc_server *held[4] = {0};
	unsigned k = 0;
	while (!atomic_load(&sh->stop)) {
		struct fc_pick_ctx c;
		ctx_init(&c, &rng, 1000 + k);
		set_key(&c, &key, fc_rng_next(&rng));
		/* each thread holds up to 4 requests at once: 16 wanted, 18 slots
		 * with some servers going dead, so picks race for the last ones */
		unsigned slot = k++ % 4;
		atomic_fetch_add_explicit(&sh->rounds, 1, memory_order_relaxed);
		if (held[slot]) {
			int i = index_of(sh, held[slot]);
			atomic_fetch_sub(&sh->now[i], 1);
			struct fc_outcome o = {200, 1000, false};
			fc_pool_done(sh->p, held[slot], &o, c.now_ns);
			held[slot] = NULL;
		}
		struct fc_server *s = fc_pool_pick(sh->p, &c);
		if (!s) {
			w->nulls++;
			continue;
		}
		w->picks++;
		int i = index_of(sh, s);
		if (i < 0) { /* no cmocka assertion off the main thread */
			atomic_fetch_add(&sh->strange, 1);
			fc_pool_done(sh->p, s, NULL, c.now_ns);
			continue;
		}
		uint32_t n = atomic_fetch_add(&sh->now[i], 1) + 1;
		if (n > CAP)
			atomic_fetch_add(&sh->over, 1);
		uint32_t pk = atomic_load(&sh->peak[i]);
		while (n > pk && !atomic_compare_exchange_weak(&sh->peak[i], &pk, n))
			;
		held[slot] = s;
	}
	for (unsigned slot = 0; slot < 4; slot++)
		if (held[slot]) {
			atomic_fetch_sub(&sh->now[index_of(sh, held[slot])], 1);
			fc_pool_done(sh->p, held[slot], NULL, 2000);
		}
	return NULL;
}

/* Four threads picking and ending at once while the control thread moves a
 * server in and out: no server ever holds more than its cap, every slot
 * comes back, least_conn's and consistent_hash's active counts too (a pick
 * that lost a slot race is taken back). */
static void threads_never_exceed(void **st)
{
	for (size_t a = 0; a < n_algos; a++) {
		static struct shared sh;
		memset(&sh, 0, sizeof sh);
		sh.p = mkpool(names[a], NULL);
		for (int i = 0; i < N_SERVERS; i++) {
			char nm[8];
			snprintf(nm, sizeof nm, "s%d", i);
			sh.srv[i] = add_capped(sh.p, nm, 1 + (unsigned)i % 3, CAP);
		}
		struct worker w[N_THREADS];
		pthread_t th[N_THREADS];
		for (int i = 0; i < N_THREADS; i++) {
			w[i] = (struct worker){&sh, (uint64_t)i * 7919 + 1, 0, 0};
			assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
		}
		/* the control thread moves a server in and out while they pick,
		 * until they tried 200,000 picks between them */
		for (unsigned r = 0; atomic_load(&sh.rounds) < 200000; r++) {
			fc_pool_set_state(sh.p, "s1", r % 2 ? FC_SERVER_DEAD : FC_SERVER_HEALTHY,
			                  r);
			fc_pool_set_weight(sh.p, "s2", 1 + r % 3);
			sched_yield();
		}
		atomic_store(&sh.stop, true);
		for (int i = 0; i < N_THREADS; i++)
			assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(atomic_load(&sh.over), 0);
		assert_int_equal(atomic_load(&sh.strange), 0);
		unsigned picks = 0, nulls = 0, peak = 0;
		for (int i = 0; i < N_THREADS; i++) {
			picks += w[i].picks;
			nulls += w[i].nulls;
		}
		for (int i = 0; i < N_SERVERS; i++) {
			struct fc_server_stats ss;
			fc_server_stats(sh.srv[i], 0, &ss);
			assert_int_equal(ss.conns, 0);
			assert_int_equal(ss.active, 0);
			assert_true(atomic_load(&sh.peak[i]) <= CAP);
			if (atomic_load(&sh.peak[i]) > peak)
				peak = atomic_load(&sh.peak[i]);
		}
		assert_true(picks > 100000);
		fprintf(stderr, "%-16s picks %u, NULL %u, highest concurrency %u (cap %u)\n",
		        names[a], picks, nulls, peak, CAP);
		fc_pool_destroy(sh.p);
	}
}

int main(void)
{
	char list[512];
	fc_algorithm_list(list, sizeof list);
	for (char *tok = strtok(list, ", "); tok && n_algos < 16; tok = strtok(NULL, ", "))
		snprintf(names[n_algos++], sizeof names[0], "%s", tok);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(cap_then_full),
	        cmocka_unit_test(full_flag),
	        cmocka_unit_test(sticky_moves_when_full),
	        cmocka_unit_test(upsert_changes),
	        cmocka_unit_test(inherit_shares_count),
	        cmocka_unit_test(pick_server_honours_the_cap),
	        cmocka_unit_test(threads_never_exceed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
