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
	uint32_t id; /* the server's: ties are broken by identity, not list order */
};

/* The sorted points of every weighted server, whatever its state. They depend
 * only on the servers (identity, weight, position in the snapshot), so a
 * snapshot that changes only states or cooldowns shares its predecessor's. */
struct points {
	_Atomic uint32_t refs;
	struct ring_point *pt;
	size_t len;
	size_t n;               /* servers it was made for */
	struct fc_server **srv; /* ... and which, */
	unsigned *w;            /* ... with which weights */
};

struct ring {
	struct points *pts;
	/* next[i]: the first position at or after i (clockwise) whose server is
	 * in the rotation, UINT32_MAX if none; NULL when all are */
	uint32_t *next;
	size_t live;     /* points in the rotation */
	uint64_t weight; /* rotation weight (bounded load) */
};

struct ch_state {
	uint64_t c_milli;        /* balance factor x 1000; 0 = unbounded */
	_Atomic uint64_t active; /* all requests in flight on this pool */
	struct points *last;     /* control thread: the latest points, for reuse */
};

static void points_unref(struct points *p)
{
	if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	free(p->pt);
	free(p->srv);
	free(p->w);
	free(p);
}

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
	struct ch_state *st = state;
	points_unref(st->last);
	free(st);
}

static void ch_view_free(void *state, void *algo_view)
{
	struct ring *r = algo_view;
	if (r) {
		points_unref(r->pts);
		free(r->next);
	}
	free(r);
}

static int pt_cmp(const void *a, const void *b)
{
	const struct ring_point *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool points_fit(const struct points *p, const struct fc_view *v)
{
	if (!p || p->n != v->n)
		return false;
	for (size_t i = 0; i < v->n; i++)
		if (p->srv[i] != v->servers[i] || p->w[i] != fc_server_weight(v->servers[i]))
			return false;
	return true;
}

static struct points *points_make(const struct fc_view *next)
{
	struct points *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	atomic_init(&p->refs, 1);
	p->n = next->n;
	p->srv = malloc((next->n ? next->n : 1) * sizeof *p->srv);
	p->w = malloc((next->n ? next->n : 1) * sizeof *p->w);
	if (!p->srv || !p->w)
		goto fail;
	unsigned wmax = 0;
	size_t m = 0;
	for (size_t i = 0; i < next->n; i++) {
		unsigned w = p->w[i] = fc_server_weight(next->servers[i]);
		p->srv[i] = next->servers[i];
		if (w) {
			m++;
			wmax = w > wmax ? w : wmax;
		}
	}
	if (!m)
		return p;
	/* points of a server depend only on its id and weight share, so removing
	 * one server moves only the keys it owned */
	uint64_t per = VNODES;
	if (per * m > POINTS_MAX)
		per = POINTS_MAX / m ? POINTS_MAX / m : 1;
	size_t cap = 0;
	for (size_t i = 0; i < next->n; i++)
		if (p->w[i])
			cap += (size_t)((per * p->w[i] + wmax / 2) / wmax) + 1;
	p->pt = malloc(cap * sizeof *p->pt);
	if (!p->pt)
		goto fail;
	for (size_t i = 0; i < next->n; i++) {
		if (!p->w[i])
			continue;
		uint64_t k = (per * p->w[i] + wmax / 2) / wmax;
		if (!k)
			k = 1;
		uint32_t id = fc_server_id(next->servers[i]);
		for (uint64_t j = 0; j < k; j++)
			p->pt[p->len++] = (struct ring_point){fc_hash64_seeded(&j, sizeof j, id),
			                                      (uint32_t)i, id};
	}
	qsort(p->pt, p->len, sizeof *p->pt, pt_cmp);
	return p;
fail:
	points_unref(p);
	return NULL;
}

static int ch_build(void *state, struct fc_view *next)
{
	struct ch_state *st = state;
	struct ring *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	if (!points_fit(st->last, next)) {
		struct points *p = points_make(next);
		if (!p) {
			free(r);
			return -ENOMEM;
		}
		points_unref(st->last);
		st->last = p;
	}
	r->pts = st->last;
	atomic_fetch_add(&r->pts->refs, 1);
	next->algo = r;
	r->weight = next->rotation_weight;
	const struct ring_point *pt = r->pts->pt;
	size_t len = r->pts->len;
	for (size_t i = 0; i < len; i++)
		r->live += next->rot[pt[i].idx] != 0;
	if (r->live == len)
		return 0;
	/* the walk past servers out of the rotation is one jump: next[] */
	r->next = malloc((len ? len : 1) * sizeof *r->next);
	if (!r->next)
		return -ENOMEM; /* view_free releases r */
	uint32_t nx = UINT32_MAX;
	for (size_t pass = 0; pass < 2; pass++) /* twice round: the ring wraps */
		for (size_t i = len; i-- > 0;) {
			if (next->rot[pt[i].idx])
				nx = (uint32_t)i;
			r->next[i] = nx;
		}
	return 0;
}

static struct fc_server *ch_pick(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	struct ch_state *st = state;
	const struct ring *r = v->algo;
	if (!r || !r->pts->len)
		return NULL;
	const struct ring_point *pt = r->pts->pt;
	const size_t len = r->pts->len;
	uint64_t h = fc_pick_key_hash(ctx);
	size_t lo = 0, hi = len;
	while (lo < hi) { /* first point at or after h */
		size_t mid = lo + (hi - lo) / 2;
		if (pt[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint64_t total = atomic_load_explicit(&st->active, memory_order_relaxed);
	struct fc_server *fallback = NULL, *ramping = NULL, *prev = NULL, *s = NULL;
	/* The key's home is the first point after it, whatever its server's
	 * state. From there it walks clockwise over points of the rotation only
	 * (one jump past a run of out servers' points): an out server's keys go
	 * to the servers after each of its 160 x weight / max weight points, so
	 * they spread over many servers. Each rotation point is met once. */
	size_t pos = lo % len;
	for (size_t met = 0; met <= r->live; met++) {
		if (met && r->next) {
			pos = r->next[pos];
			if (pos == UINT32_MAX)
				break;
		}
		uint32_t i = pt[pos].idx;
		pos = (pos + 1) % len;
		struct fc_server *c = v->servers[i];
		if (c == prev)
			continue;
		prev = c;
		/* the key's own server keeps it while lame duck; others take no newcomers */
		if (!fc__eligible_at(v, i, ctx, met == 0))
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
	if (!s && ctx->now_ns >= v->cooldown_next)
		s = fc_view_scan(v, ctx, false); /* a server left out cooling may be back */
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
