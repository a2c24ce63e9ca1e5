/* algo_consistent_hash.c — a hash ring with virtual nodes (Karger et al. 1997)
 * and bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018; Skipper's balance
 * factor): a key walks clockwise past servers that are ineligible or already
 * carry ceil(c x (active + 1) x weight / total weight) requests. */
#include <errno.h>
#include <stdlib.h>

#include "balance/balance.h"

#define VNODES     160
#define POINTS_MAX (1u << 19)

struct ring_point {
	uint64_t hash;
	uint32_t idx;
};

struct ring {
	struct ring_point *pt;
	size_t len;
	uint64_t weight; /* total weight of healthy servers */
};

struct ch_state {
	uint64_t c_milli;        /* balance factor x 1000; 0 = unbounded */
	_Atomic uint64_t active; /* all requests in flight on this pool */
};

static int ch_init(const struct fc_algo_config *cfg, void **state)
{
	struct ch_state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	st->c_milli = cfg->balance_factor > 1.0 ? (uint64_t)(cfg->balance_factor * 1000 + 0.5) : 0;
	*state = st;
	return 0;
}

static void ch_fini(void *state)
{
	free(state);
}

static void ch_view_free(void *state, void *algo_view)
{
	struct ring *r = algo_view;
	if (r)
		free(r->pt);
	free(r);
}

static int pt_cmp(const void *a, const void *b)
{
	const struct ring_point *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int ch_build(void *state, struct fc_view *next)
{
	struct ring *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	next->algo = r;
	unsigned wmax = 0;
	size_t m = 0;
	for (size_t i = 0; i < next->n; i++) {
		unsigned w = fc_server_weight(next->servers[i]);
		if (w) {
			m++;
			wmax = w > wmax ? w : wmax;
		}
	}
	r->weight = next->total_weight;
	if (!m)
		return 0;
	/* points of a server depend only on its id and weight share, so removing
	 * one server moves only the keys it owned */
	uint64_t per = VNODES;
	if (per * m > POINTS_MAX)
		per = POINTS_MAX / m ? POINTS_MAX / m : 1;
	size_t cap = 0;
	for (size_t i = 0; i < next->n; i++) {
		unsigned w = fc_server_weight(next->servers[i]);
		if (w)
			cap += (size_t)((per * w + wmax / 2) / wmax) + 1;
	}
	r->pt = malloc(cap * sizeof *r->pt);
	if (!r->pt)
		return -ENOMEM;
	for (size_t i = 0; i < next->n; i++) {
		unsigned w = fc_server_weight(next->servers[i]);
		if (!w)
			continue;
		uint64_t k = (per * w + wmax / 2) / wmax;
		if (!k)
			k = 1;
		uint32_t id = fc_server_id(next->servers[i]);
		for (uint64_t j = 0; j < k; j++)
			r->pt[r->len++] = (struct ring_point){fc_hash64_seeded(&j, sizeof j, id),
			                                      (uint32_t)i};
	}
	qsort(r->pt, r->len, sizeof *r->pt, pt_cmp);
	return 0;
}

static struct fc_server *ch_pick(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	struct ch_state *st = state;
	const struct ring *r = v->algo;
	if (!r || !r->len)
		return NULL;
	uint64_t h = fc_pick_key_hash(ctx);
	size_t lo = 0, hi = r->len;
	while (lo < hi) { /* first point at or after h */
		size_t mid = lo + (hi - lo) / 2;
		if (r->pt[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint64_t total = atomic_load_explicit(&st->active, memory_order_relaxed);
	struct fc_server *fallback = NULL, *ramping = NULL, *prev = NULL, *s = NULL;
	bool home = true;
	for (size_t k = 0; k < r->len; k++) {
		struct fc_server *c = v->servers[r->pt[(lo + k) % r->len].idx];
		if (c == prev)
			continue;
		prev = c;
		bool first = home;
		home = false;
		/* the key's own server keeps it while lame duck; others take no newcomers */
		if (!fc_server_is_eligible(c, ctx, first))
			continue;
		if (!fc_server_admit_key(c, h, ctx->now_ns)) {
			if (!ramping)
				ramping = c; /* everyone ramping still beats a 503 */
			continue;
		}
		if (!fallback)
			fallback = c;
		if (st->c_milli && r->weight) {
			uint64_t w = fc_server_weight(c);
			uint64_t num = st->c_milli * (total + 1) * w, den = 1000 * r->weight;
			uint64_t cap = (num + den - 1) / den;
			if (fc_server_active(c) >= cap)
				continue; /* full: the next server on the ring */
		}
		s = c;
		break;
	}
	if (!s)
		s = fallback ? fallback : ramping; /* everyone eligible is full or ramping */
	if (s) {
		fc_server_active_add(s, 1);
		atomic_fetch_add_explicit(&st->active, 1, memory_order_relaxed);
	}
	return s;
}

static void ch_acquire(void *state, const struct fc_view *v, struct fc_server *s)
{
	struct ch_state *st = state;
	fc_server_active_add(s, 1);
	atomic_fetch_add_explicit(&st->active, 1, memory_order_relaxed);
}

static void ch_done(void *state, const struct fc_view *v, struct fc_server *s,
                    const struct fc_outcome *o, uint64_t now_ns)
{
	struct ch_state *st = state;
	fc_server_active_add(s, -1);
	uint64_t cur = atomic_load_explicit(&st->active, memory_order_relaxed);
	while (cur &&
	       !atomic_compare_exchange_weak_explicit(&st->active, &cur, cur - 1,
	                                              memory_order_relaxed, memory_order_relaxed))
		;
}

const struct fc_algorithm fc_algo_consistent_hash = {
        .name = "consistent_hash",
        .init = ch_init,
        .fini = ch_fini,
        .build = ch_build,
        .view_free = ch_view_free,
        .pick = ch_pick,
        .done = ch_done,
        .owns_active = true,
        .acquire = ch_acquire,
        .keeps_lame_duck = true,
};
