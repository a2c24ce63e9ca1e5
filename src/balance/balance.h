/* balance.h — libfulcrum internals shared across src/balance files: the server
 * and pool structs, the grace-period reader counters, the weighted RR sequence. */
#ifndef FC_BALANCE_INTERNAL_H
#define FC_BALANCE_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <limits.h>
#include <stdatomic.h>

#include "fulcrum/fulcrum.h"

#define FC__STICKY_LEN 31 /* "<8 hex id>.<22 base64url tag>" */

/* A server's max_conns count: slots taken now. A server that inherits a
 * capped one shares its count (a reload: the requests still running on the
 * old server are the new one's too). On a cache line of its own: every pick
 * and done of the server writes it. */
struct fc__slots {
	_Atomic uint32_t used;
	_Atomic uint32_t refs;
	char pad[56];
};

struct fc_server {
	_Atomic uint32_t refs;
	char *name;
	char *address;
	uint32_t id;
	uint64_t ramp_ns; /* pool's slow start length, copied */
	void (*free_fn)(void *user);
	_Atomic(void *) user;
	_Atomic unsigned weight;
	_Atomic unsigned eff_weight; /* rebalance; = weight otherwise */
	_Atomic int state;
	_Atomic uint32_t max_conns; /* 0: no cap; never 0 while slots is set */
	_Atomic unsigned tier;      /* backup tier (fc_server_spec.tier) */
	struct fc__slots *slots;    /* NULL: no cap (fixed for the server's life) */
	_Atomic uint32_t active;
	_Atomic uint64_t requests;
	_Atomic uint64_t failures;
	_Atomic uint64_t ewma_bits; /* double ns, peak EWMA at ewma_ts */
	_Atomic uint64_t ewma_ts;
	_Atomic uint64_t cooldown_until;
	_Atomic uint64_t ramp_start; /* 0 = not ramping */
	_Atomic uint32_t slot;
	/* rebalance's measuring window */
	_Atomic uint64_t win_requests;
	_Atomic uint64_t win_errors;
	_Atomic uint64_t win_latency; /* sum, ns */
	/* the pool's sticky cookie value for this server ("" when not sticky):
	 * it depends only on the pool secret and id, so it is made once here
	 * instead of an HMAC-SHA256 on every pick */
	char sticky[FC__STICKY_LEN + 1];
};

/* Grace-period reader counters (SRCU-like): readers bump cnt[idx]; a writer
 * flips idx and waits for the old counter to drain before freeing a snapshot. */
struct fc__gp {
	_Atomic unsigned idx;
	_Atomic long cnt[2];
};

struct fc_pool {
	char *name;
	const struct fc_algorithm *algo;
	void *algo_state;
	struct fc_algo_config cfg;
	bool sticky;
	uint8_t *secret;
	size_t secret_len;
	void (*server_free)(void *user);
	pthread_mutex_t mu; /* control operations */
	_Atomic(struct fc_view *) view;
	struct fc__gp gp;
	_Atomic size_t size;
	_Atomic bool rebuild_wanted;
	uint64_t generation;
	unsigned panic_permille;
	/* fc_pool_maintain: maint_now (under mu) is its last now_ns, the time a
	 * rebuild judges cooldowns by; cool_seen is set by a pick that met a
	 * server cooling down inside its structure */
	_Atomic bool maintained;
	uint64_t maint_now;
	_Atomic bool cool_seen;
};

struct fc_server *fc__server_create(const char *name, const char *address, unsigned weight,
                                    unsigned max_conns, uint64_t ramp_ns, void (*free_fn)(void *));
char *fc__dupstr(const char *s);
/* s (new, not yet published) takes over from's state (fc_server_spec.inherit). */
void fc__server_inherit(struct fc_server *s, const struct fc_server *from);

/* At its max_conns now (false for a server without one). */
static inline bool fc__server_full(const struct fc_server *s)
{
	return s->slots && atomic_load_explicit(&s->slots->used, memory_order_relaxed) >=
	                           atomic_load_explicit(&((struct fc_server *)s)->max_conns,
	                                                memory_order_relaxed);
}
/* The compare-and-swaps behind the two calls below (server.c). */
bool fc__slots_take(struct fc_server *s);
void fc__slots_release(struct fc_server *s);
/* Takes one of s's slots: true, or false when s is at its cap (a server
 * without a cap always has one). One compare-and-swap: two threads never
 * both take the last. */
static inline bool fc__server_slot_take(struct fc_server *s)
{
	return !s->slots || fc__slots_take(s);
}
/* Gives back a slot fc__server_slot_take took. */
static inline void fc__server_slot_release(struct fc_server *s)
{
	if (s->slots)
		fc__slots_release(s);
}
/* fc_server_is_eligible without the max_conns check and without counting a
 * pick step. */
bool fc__server_eligible_uncapped(const struct fc_server *s, const struct fc_pick_ctx *ctx,
                                  bool allow_lame);

/* Parses the id of a sticky value without verifying its tag. 0 or -EINVAL. */
int fc__sticky_id(const char *value, size_t len, uint32_t *id);

/* A request that failed: connection-level, no status, or a 5xx. */
static inline bool fc__outcome_failed(const struct fc_outcome *o)
{
	return o->failed || o->status == 0 || o->status >= 500;
}

static inline uint64_t fc__gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* init hook of algorithms without per-pool state */
int fc__init_stateless(const struct fc_algo_config *cfg, void **state);

/* weights[i] = configured weight of v->servers[i] if in v's rotation, else 0;
 * NULL on ENOMEM */
unsigned *fc__rotation_weights(const struct fc_view *v);

/* Probes of pick paths on this thread: every fc_server_is_eligible call counts
 * one (tests read it to check that picks stay bounded). */
extern _Thread_local uint64_t fc__pick_steps;

/* Random re-probes of a pick structure before the fallback scan. */
#define FC__PROBES 16

/* A pick met a server cooling down inside its structure (a plain load first:
 * no store, so no shared line written, once the flag is up). */
static inline void fc__note_cooldown(struct fc_pool *p)
{
	if (!atomic_load_explicit(&p->cool_seen, memory_order_relaxed))
		atomic_store_explicit(&p->cool_seen, true, memory_order_relaxed);
}

/* Not of the tier v serves (a backup while a lower tier serves, or a server of
 * a lower tier that is out: in panic it would be picked before a healthy
 * backup). A server coming back rebuilds the snapshot (a new tier). */
static inline bool fc__off_tier(const struct fc_view *v, const struct fc_server *s)
{
	return v->tier != UINT_MAX && atomic_load_explicit(&((struct fc_server *)s)->tier,
	                                                   memory_order_relaxed) != v->tier;
}

/* fc_server_is_eligible for v->servers[i] met in a pick structure (and of the
 * snapshot's tier); a server
 * in the rotation found cooling down asks the control thread for a rebuild
 * that leaves it out (fc_pool_maintain). */
static inline bool fc__eligible_at(const struct fc_view *v, size_t i, const struct fc_pick_ctx *ctx,
                                   bool allow_lame)
{
	struct fc_server *s = v->servers[i];
	if (fc__off_tier(v, s))
		return false; /* a backup while a lower tier serves */
	if (fc_server_is_eligible(s, ctx, allow_lame))
		return true;
	if (!ctx->panic && v->rot[i] &&
	    ctx->now_ns < atomic_load_explicit(&s->cooldown_until, memory_order_relaxed))
		fc__note_cooldown(v->pool);
	return false;
}

/* After the O(1) probes failed: NULL at once when nothing can be eligible (an
 * empty rotation and every server left out still cooling down), else
 * fc_view_scan. */
struct fc_server *fc__view_fallback(const struct fc_view *v, struct fc_pick_ctx *ctx);

/* Weighted smooth sequence shared by round_robin and rebalance: indices into
 * v->servers, nginx's smooth order when cheap to precompute, else EDF order. */
struct fc__wrr {
	uint32_t *seq;
	size_t len;
	_Atomic uint64_t cursor;
};
/* weights[i] for v->servers[i] (0 = not in rotation). Returns NULL on ENOMEM
 * or when every weight is 0 (then *empty = true). */
struct fc__wrr *fc__wrr_build(const struct fc_view *v, const unsigned *weights, uint64_t seed,
                              bool *empty);
void fc__wrr_free(struct fc__wrr *w);
struct fc_server *fc__wrr_pick(struct fc__wrr *w, const struct fc_view *v, struct fc_pick_ctx *ctx);

/* Walker/Vose alias table over weights (for random, p2c, ewma). */
struct fc__alias {
	uint32_t *idx;   /* server index per column */
	uint32_t *alias; /* alternative column's server index */
	uint32_t *prob;  /* threshold in 1/2^32 */
	size_t n;
};
int fc__alias_build(struct fc__alias *a, const struct fc_view *v, const unsigned *weights);
void fc__alias_free(struct fc__alias *a);
/* one weighted draw; UINT32_MAX when empty */
uint32_t fc__alias_draw(const struct fc__alias *a, uint64_t *rng);

/* Alias table over healthy weights as a view's algo data: the build and
 * view_free hooks of random, p2c and ewma. */
int fc__alias_view_build(void *state, struct fc_view *next);
void fc__alias_view_free(void *state, void *algo_view);
/* Two distinct eligible admitted weighted draws (p2c, ewma); returns how many. */
int fc__two_choices(const struct fc_view *v, struct fc_pick_ctx *ctx, struct fc_server **a,
                    struct fc_server **b);
/* Feeds a latency sample into s's peak EWMA. */
void fc__server_observe(struct fc_server *s, uint64_t latency_ns, uint64_t now_ns);

/* exp(-x) for x >= 0 without libm. */
double fc__exp_neg(double x);

/* A simple test-and-set spinlock for O(log n) critical sections. */
typedef struct {
	atomic_flag f;
} fc__spin;
static inline void fc__spin_lock(fc__spin *l)
{
	unsigned spins = 0;
	while (atomic_flag_test_and_set_explicit(&l->f, memory_order_acquire))
		if (++spins % 64 == 0)
			sched_yield(); /* the holder may be preempted */
}
static inline void fc__spin_unlock(fc__spin *l)
{
	atomic_flag_clear_explicit(&l->f, memory_order_release);
}

#endif
