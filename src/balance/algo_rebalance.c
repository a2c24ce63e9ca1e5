/* algo_rebalance.c — oxy's rebalancer (vulcand/oxy roundrobin/rebalancer.go),
 * reworked: smooth weighted round robin over effective weights; each window the
 * done() outcomes give every server an error rate and mean latency, and weight
 * moves in bounded steps (1/10x..10x of configured) toward the better servers;
 * it rolls back to configured weights when a favoured server degrades, when all
 * are alike again, or when the server set changes. */
#include <errno.h>
#include <stdlib.h>

#include "balance/balance.h"

#define MAX_FACTOR 10
#define MIN_REQUESTS 10 /* per server per window before its numbers count */

struct rb_state {
	uint64_t seed;
	uint64_t window_ns;
	_Atomic uint64_t window_start;
	_Atomic bool moved; /* effective weights differ from configured */
};

static int rb_init(const struct fc_algo_config *cfg, void **state)
{
	struct rb_state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	st->seed = cfg->seed;
	st->window_ns = cfg->rebalance_window_ns ? cfg->rebalance_window_ns : 1000000000ULL;
	*state = st;
	return 0;
}

static void rb_fini(void *state) { free(state); }

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
}

/* the server set changed: measurements compare different things now */
static void rb_changed(void *state, struct fc_view *next, struct fc_server *s) { rollback(state, next); }

static int rb_build(void *state, struct fc_view *next)
{
	struct rb_state *st = state;
	unsigned *w = calloc(next->n ? next->n : 1, sizeof *w);
	if (!w)
		return -ENOMEM;
	for (size_t i = 0; i < next->n; i++)
		if (fc_server_state(next->servers[i]) == FC_SERVER_HEALTHY && fc_server_weight(next->servers[i]))
			w[i] = fc_server_effective_weight(next->servers[i]);
	bool empty;
	next->algo = fc__wrr_build(next, w, st->seed, &empty);
	free(w);
	return next->algo || empty ? 0 : -ENOMEM;
}

static void rb_view_free(void *state, void *algo_view) { fc__wrr_free(algo_view); }

static struct fc_server *rb_pick(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	return fc__wrr_pick(v->algo, v, ctx);
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
		 * best rate, or more than twice the best latency */
		bool b = (m[i].err >= best_err + 0.05 && m[i].err >= 2 * best_err) ||
			 (best_lat < 1e300 && m[i].lat > 2 * best_lat);
		if (b) {
			is_bad[i] = true;
			bad++;
			if (fc_server_effective_weight(v->servers[i]) > fc_server_weight(v->servers[i]))
				bad_favoured++;
		}
	}
	bool changed = false;
	if (pending && !bad_favoured) {
		/* a demoted server has not been judged yet: hold everything */
	} else if (bad == 0 || bad == measured || bad_favoured) {
		/* nothing to prefer, or the favourite degraded: back to configured */
		if (atomic_load(&st->moved)) {
			rollback(st, v);
			changed = true;
		}
	} else {
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
		if (changed)
			atomic_store(&st->moved, true);
	}
	free(is_bad);
	if (changed)
		fc_pool_request_rebuild(v->pool);
out:
	free(m);
}

static void rb_done(void *state, const struct fc_view *v, struct fc_server *s, const struct fc_outcome *o,
		    uint64_t now_ns)
{
	struct rb_state *st = state;
	bool failed = o->failed || o->status == 0 || o->status >= 500;
	atomic_fetch_add_explicit(&s->win_requests, 1, memory_order_relaxed);
	if (failed)
		atomic_fetch_add_explicit(&s->win_errors, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&s->win_latency, o->latency_ns, memory_order_relaxed);
	uint64_t start = atomic_load_explicit(&st->window_start, memory_order_relaxed);
	if (start == 0) {
		atomic_compare_exchange_strong(&st->window_start, &start, now_ns ? now_ns : 1);
		return;
	}
	/* whoever moves the window start forward runs the step; the others go on */
	if (now_ns >= start + st->window_ns && atomic_compare_exchange_strong(&st->window_start, &start, now_ns))
		step(st, v);
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
