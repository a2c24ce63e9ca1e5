/* algo_rebalance.c — oxy's rebalancer (vulcand/oxy roundrobin/rebalancer.go),
 * reworked: smooth weighted round robin over effective weights; each window the
 * done() outcomes give every server an error rate and mean latency, and weight
 * moves in bounded steps (1/10x..10x of configured) toward the better servers;
 * it rolls back to configured weights when a favoured server degrades, when all
 * are alike again, or when the server set changes.
 *
 * The request path never waits on another thread. Effective weights are
 * atomics on the servers; each snapshot owns one rotation buffer of fixed
 * capacity (struct rb_order) holding a period of the smooth order over them.
 * When a step changes effective weights it bumps the pool's weight epoch and
 * rewrites the current snapshot's buffer in place, under a try-lock (a worker
 * that finds it taken goes on; the next done whose snapshot's buffer is behind
 * the epoch does it). Every entry of the buffer is at all times a valid index
 * into its snapshot, so a pick racing a rewrite takes a server of the old
 * order or of the new one, both correct; nothing is swapped, so nothing waits
 * for readers before being freed: a buffer goes with its snapshot, after the
 * snapshot's grace period, on the control thread. Memory: one buffer per
 * live snapshot, at most min(sum of 10 x weight, max(4096, 16 n), 2^20) + n
 * entries. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balance/balance.h"

/* latency differences below this are jitter, not a slower server */
#define REBALANCE_LAT_MARGIN_NS 5e6

#define MAX_FACTOR   10
#define MIN_REQUESTS 10 /* per server per window before its numbers count */

#define TARGET_MIN        4096u
#define TARGET_PER_SERVER 16u
#define TARGET_MAX        (1u << 20)

struct rb_state {
	uint64_t seed;
	uint64_t window_ns;
	_Atomic uint64_t window_start;
	_Atomic bool moved;     /* effective weights differ from configured */
	_Atomic uint64_t epoch; /* bumped after every change of effective weights */
	atomic_flag writing;    /* try-lock: one worker rewrites an order at a time */
};

/* One snapshot's rotation (v->algo). seq[0..cap) always holds indices < v->n. */
struct rb_order {
	_Alignas(64) _Atomic uint64_t cursor; /* every pick bumps it: a line of its own */
	_Alignas(64) _Atomic uint64_t epoch;  /* weight epoch seq was made from */
	_Atomic uint32_t len;                 /* period in use; 0 = nothing in rotation */
	uint32_t cap;                         /* entries allocated: target + n */
	uint32_t target;                      /* periods above are scaled down to about this */
	_Atomic uint32_t seq[];
};

static int rb_init(const struct fc_algo_config *cfg, void **state)
{
	struct rb_state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	st->seed = cfg->seed;
	st->window_ns = cfg->rebalance_window_ns; /* the pool applied the 1 s default */
	atomic_flag_clear(&st->writing);
	*state = st;
	return 0;
}

static void rb_fini(void *state)
{
	free(state);
}

static void rollback(struct rb_state *st, const struct fc_view *v)
{
	for (size_t i = 0; i < v->n; i++) {
		struct fc_server *s = v->servers[i];
		fc_server_set_effective_weight(s, fc_server_weight(s));
		/* judge everyone afresh from here */
		atomic_store(&s->win_requests, 0);
		atomic_store(&s->win_errors, 0);
		atomic_store(&s->win_latency, 0);
	}
	atomic_store(&st->moved, false);
	atomic_fetch_add_explicit(&st->epoch, 1, memory_order_release);
}

/* the server set changed: measurements compare different things now */
static void rb_changed(void *state, struct fc_view *next, struct fc_server *s)
{
	rollback(state, next);
}

/* Writes one period of the smooth order over the current effective weights of
 * v's healthy weighted servers into o (divided by their gcd, then scaled to fit), then its length
 * and the epoch it reflects. Readers may be walking o meanwhile. Returns false (o untouched) when
 * out of memory. */
static bool order_fill(struct rb_state *st, const struct fc_view *v, struct rb_order *o)
{
	uint64_t epoch =
	        atomic_load_explicit(&st->epoch, memory_order_acquire); /* before the weights */
	unsigned *w = malloc((v->n ? v->n : 1) * sizeof *w);
	if (!w)
		return false;
	uint64_t sum = 0;
	unsigned g = 0;
	for (size_t i = 0; i < v->n; i++) {
		struct fc_server *s = v->servers[i];
		w[i] = v->rot[i] ? fc_server_effective_weight(s) : 0;
		g = (unsigned)fc__gcd(g, w[i]);
	}
	for (size_t i = 0; g > 1 && i < v->n; i++)
		w[i] /= g;
	for (size_t i = 0; i < v->n; i++)
		sum += w[i];
	if (sum > o->target) /* keep the period within the buffer: every server keeps a slot */
		for (size_t i = 0; i < v->n; i++)
			if (w[i]) {
				uint64_t x = (uint64_t)w[i] * o->target / sum;
				w[i] = (unsigned)(x ? x : 1);
			}
	bool empty;
	struct fc__wrr *r = fc__wrr_build(v, w, st->seed, &empty);
	free(w);
	if (!r && !empty)
		return false;
	uint32_t len = 0;
	if (r) {
		len = r->len < o->cap ? (uint32_t)r->len : o->cap; /* fits: period <= target + n */
		for (uint32_t k = 0; k < len; k++)
			atomic_store_explicit(&o->seq[k], r->seq[k], memory_order_relaxed);
		fc__wrr_free(r);
	}
	atomic_store_explicit(&o->len, len, memory_order_release);
	atomic_store_explicit(&o->epoch, epoch, memory_order_release);
	return true;
}

static int rb_build(void *state, struct fc_view *next)
{
	struct rb_state *st = state;
	next->algo = NULL;
	if (!next->n)
		return 0;
	/* exact whenever every effective weight is within its 10x bound */
	uint64_t top = 0;
	for (size_t i = 0; i < next->n; i++)
		top += 10ull * fc_server_weight(next->servers[i]);
	uint64_t target = (uint64_t)TARGET_PER_SERVER * next->n;
	if (target < TARGET_MIN)
		target = TARGET_MIN;
	if (target > TARGET_MAX)
		target = TARGET_MAX;
	if (target > top)
		target = top ? top : 1;
	uint64_t cap = target + next->n;
	if (cap > UINT32_MAX)
		return -ENOMEM;
	size_t bytes = sizeof(struct rb_order) + cap * sizeof(_Atomic uint32_t);
	bytes = (bytes + 63) / 64 * 64;
	struct rb_order *o = aligned_alloc(64, bytes);
	if (!o)
		return -ENOMEM;
	memset(o, 0, bytes); /* entry 0 = server 0: valid before the first fill */
	o->cap = (uint32_t)cap;
	o->target = (uint32_t)target;
	uint64_t rs = st->seed ^ 0x6a09e667f3bcc909ULL ^ next->generation * 0x9e3779b97f4a7c15ULL;
	atomic_init(&o->cursor, fc_rng_next(&rs)); /* random start (Skipper) */
	if (!order_fill(st, next, o)) {
		free(o);
		return -ENOMEM;
	}
	next->algo = o;
	return 0;
}

static void rb_view_free(void *state, void *algo_view)
{
	free(algo_view);
}

/* A worker: bring v's order up to the weight epoch, unless another worker is
 * rewriting one right now (then a later done does it). Never waits. */
static void order_refresh(struct rb_state *st, const struct fc_view *v)
{
	struct rb_order *o = v->algo;
	if (!o || atomic_load_explicit(&o->epoch, memory_order_relaxed) ==
	                  atomic_load_explicit(&st->epoch, memory_order_relaxed))
		return;
	if (atomic_flag_test_and_set_explicit(&st->writing, memory_order_acquire))
		return;
	order_fill(st, v, o);
	atomic_flag_clear_explicit(&st->writing, memory_order_release);
}

static struct fc_server *rb_pick(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	struct rb_order *o = v->algo;
	uint32_t len = o ? atomic_load_explicit(&o->len, memory_order_acquire) : 0;
	if (!len)
		return fc__view_fallback(v, ctx);
	/* as fc__wrr_pick: one step of the rotation, then random positions of
	 * the period (never the next entry), so an out server's share spreads
	 * by effective weight */
	uint64_t c = ctx->n_avoid ? fc_rng_below(ctx->rng, len) /* a retry: no step */
	                          : atomic_fetch_add_explicit(&o->cursor, 1, memory_order_relaxed);
	uint32_t i = atomic_load_explicit(&o->seq[c % len], memory_order_relaxed);
	for (int tries = 0;; tries++) {
		if (fc__eligible_at(v, i, ctx, false) && fc_server_admit(v->servers[i], ctx))
			return v->servers[i];
		if (tries == FC__PROBES)
			return fc__view_fallback(v, ctx);
		i = atomic_load_explicit(&o->seq[fc_rng_below(ctx->rng, len)],
		                         memory_order_relaxed);
	}
}

struct meas {
	double err, lat;
	bool ok;
};

/* One step, run by the single worker that closed the window. */
static void step(struct rb_state *st, const struct fc_view *v)
{
	size_t n = v->n;
	struct meas *m = calloc(n ? n : 1, sizeof *m);
	if (!m)
		return;
	double best_err = 1e300, best_lat = 1e300;
	size_t measured = 0, pending = 0;
	for (size_t i = 0; i < n; i++) {
		struct fc_server *s = v->servers[i];
		if (fc_server_state(s) != FC_SERVER_HEALTHY || !fc_server_weight(s))
			continue;
		if (atomic_load(&s->win_requests) < MIN_REQUESTS) {
			/* too few to judge (a demoted server sees little traffic): its
			 * window stays open; while a demoted server is unjudged, wait */
			if (fc_server_effective_weight(s) < fc_server_weight(s))
				pending++;
			continue;
		}
		uint64_t req = atomic_exchange(&s->win_requests, 0);
		uint64_t err = atomic_exchange(&s->win_errors, 0);
		uint64_t lat = atomic_exchange(&s->win_latency, 0);
		m[i].ok = true;
		m[i].err = (double)err / (double)req;
		m[i].lat = req > err ? (double)lat / (double)(req - err) : 0;
		measured++;
		if (m[i].err < best_err)
			best_err = m[i].err;
		if (m[i].lat > 0 && m[i].lat < best_lat)
			best_lat = m[i].lat;
	}
	if (measured < 2)
		goto out;
	size_t bad = 0, bad_favoured = 0;
	bool *is_bad = calloc(n, sizeof *is_bad);
	if (!is_bad)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (!m[i].ok)
			continue;
		/* worse by a margin, not by noise: +5 points of errors and twice the
		 * best rate, or more than twice the best latency and 5 ms more
		 * (sub-millisecond servers differ by 2x from jitter alone) */
		bool b = (m[i].err >= best_err + 0.05 && m[i].err >= 2 * best_err) ||
		         (best_lat < 1e300 && m[i].lat > 2 * best_lat &&
		          m[i].lat > best_lat + REBALANCE_LAT_MARGIN_NS);
		if (b) {
			is_bad[i] = true;
			bad++;
			if (fc_server_effective_weight(v->servers[i]) >
			    fc_server_weight(v->servers[i]))
				bad_favoured++;
		}
	}
	if (pending && !bad_favoured) {
		/* a demoted server has not been judged yet: hold everything */
	} else if (bad == 0 || bad == measured || bad_favoured) {
		/* nothing to prefer, or the favourite degraded: back to configured */
		if (atomic_load(&st->moved))
			rollback(st, v);
	} else {
		bool changed = false;
		for (size_t i = 0; i < n; i++) {
			if (!m[i].ok)
				continue;
			struct fc_server *s = v->servers[i];
			unsigned w = fc_server_weight(s), e = fc_server_effective_weight(s), ne;
			if (is_bad[i]) {
				unsigned lo = (w + MAX_FACTOR - 1) / MAX_FACTOR;
				ne = e / 2 > lo ? e / 2 : lo;
			} else {
				unsigned hi = w * MAX_FACTOR;
				ne = e * 2 < hi ? e * 2 : hi;
			}
			if (ne != e) {
				fc_server_set_effective_weight(s, ne);
				changed = true;
			}
		}
		if (changed) {
			atomic_store(&st->moved, true);
			atomic_fetch_add_explicit(&st->epoch, 1,
			                          memory_order_release); /* after the weights */
		}
	}
	free(is_bad);
out:
	free(m);
}

static void rb_done(void *state, const struct fc_view *v, struct fc_server *s,
                    const struct fc_outcome *o, uint64_t now_ns)
{
	struct rb_state *st = state;
	atomic_fetch_add_explicit(&s->win_requests, 1, memory_order_relaxed);
	if (fc__outcome_failed(o))
		atomic_fetch_add_explicit(&s->win_errors, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&s->win_latency, o->latency_ns, memory_order_relaxed);
	uint64_t start = atomic_load_explicit(&st->window_start, memory_order_relaxed);
	if (start == 0) {
		atomic_compare_exchange_strong(&st->window_start, &start, now_ns ? now_ns : 1);
		return;
	}
	/* whoever moves the window start forward runs the step; the others go on */
	if (now_ns >= start + st->window_ns &&
	    atomic_compare_exchange_strong(&st->window_start, &start, now_ns))
		step(st, v);
	/* new effective weights (from that step, or one another worker ran while
	 * this snapshot was being published): rewrite the order in place */
	order_refresh(st, v);
}

const struct fc_algorithm fc_algo_rebalance = {
        .name = "rebalance",
        .init = rb_init,
        .fini = rb_fini,
        .add = rb_changed,
        .remove = rb_changed,
        .update_weight = rb_changed,
        .build = rb_build,
        .view_free = rb_view_free,
        .pick = rb_pick,
        .done = rb_done,
};
