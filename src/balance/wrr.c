/* wrr.c — the weighted rotation shared by round_robin and rebalance: a
 * precomputed period of nginx's smooth weighted round robin (exact order) or,
 * when that is too costly to compute, stride scheduling / EDF order (Waldspurger
 * & Weihl 1995) made with a heap. Picks walk it with one atomic counter: O(1). */
#include <stdlib.h>

#include "balance/balance.h"

#define PERIOD_MAX    (1u << 20)   /* entries in one period */
#define SMOOTH_BUDGET (1ull << 21) /* period x servers steps for the exact nginx order */

struct heap_item {
	uint64_t num; /* key = num / den: the deadline (2k+1)/(2w) */
	uint64_t den;
	uint32_t idx; /* position in v->servers; also the tie-break */
	uint32_t w;
};

static bool item_less(const struct heap_item *a, const struct heap_item *b)
{
	/* exact rational compare: a.num/a.den < b.num/b.den */
	__uint128_t l = (__uint128_t)a->num * b->den, r = (__uint128_t)b->num * a->den;
	return l < r || (l == r && a->idx < b->idx);
}

static void sift_down(struct heap_item *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && item_less(&h[l], &h[m]))
			m = l;
		if (l + 1 < n && item_less(&h[l + 1], &h[m]))
			m = l + 1;
		if (m == i)
			return;
		struct heap_item t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

struct fc__wrr *fc__wrr_build(const struct fc_view *v, const unsigned *weights, uint64_t seed,
                              bool *empty)
{
	*empty = false;
	size_t m = 0;
	uint64_t g = 0, period = 0;
	for (size_t i = 0; i < v->n; i++)
		if (weights[i]) {
			m++;
			g = fc__gcd(g, weights[i]);
		}
	if (m == 0) {
		*empty = true;
		return NULL;
	}
	uint32_t *w = malloc(v->n * sizeof *w);
	struct fc__wrr *r = calloc(1, sizeof *r);
	if (!w || !r)
		goto fail;
	for (size_t i = 0; i < v->n; i++)
		period += (w[i] = (uint32_t)(weights[i] / g));
	if (period > PERIOD_MAX) {
		/* scale down; every server keeps at least one slot (error <= m / PERIOD_MAX) */
		uint64_t np = 0;
		for (size_t i = 0; i < v->n; i++)
			if (w[i]) {
				uint64_t x = (uint64_t)w[i] * PERIOD_MAX / period;
				np += (w[i] = (uint32_t)(x ? x : 1));
			}
		period = np;
	}
	r->seq = malloc(period * sizeof *r->seq);
	if (!r->seq)
		goto fail;
	r->len = period;
	if (period == m) {
		/* equal weights: nginx's order is the plain rotation a, b, c */
		size_t k = 0;
		for (size_t i = 0; i < v->n; i++)
			if (w[i])
				r->seq[k++] = (uint32_t)i;
	} else if (period * m <= SMOOTH_BUDGET) {
		/* nginx smooth WRR: add weights, take the first maximum, subtract the total */
		int64_t *cur = calloc(v->n, sizeof *cur);
		if (!cur)
			goto fail;
		for (size_t t = 0; t < period; t++) {
			size_t best = SIZE_MAX;
			for (size_t i = 0; i < v->n; i++) {
				if (!w[i])
					continue;
				cur[i] += w[i];
				if (best == SIZE_MAX || cur[i] > cur[best])
					best = i;
			}
			cur[best] -= (int64_t)period;
			r->seq[t] = (uint32_t)best;
		}
		free(cur);
	} else {
		struct heap_item *h = malloc(m * sizeof *h);
		if (!h)
			goto fail;
		size_t k = 0;
		for (size_t i = 0; i < v->n; i++)
			if (w[i])
				h[k++] = (struct heap_item){1, 2ull * w[i], (uint32_t)i, w[i]};
		for (size_t i = m / 2 + 1; i-- > 0;)
			sift_down(h, m, i);
		for (size_t t = 0; t < period; t++) {
			r->seq[t] = h[0].idx;
			h[0].num += 2; /* next deadline (2k+3)/(2w) */
			sift_down(h, m, 0);
		}
		free(h);
	}
	free(w);
	/* random start (Skipper): pools do not all hit the first server together */
	uint64_t st = seed ^ 0x6a09e667f3bcc909ULL ^ v->generation * 0x9e3779b97f4a7c15ULL;
	atomic_init(&r->cursor, fc_rng_below(&st, period));
	return r;
fail:
	free(w);
	if (r)
		free(r->seq);
	free(r);
	return NULL;
}

void fc__wrr_free(struct fc__wrr *r)
{
	if (!r)
		return;
	free(r->seq);
	free(r);
}

struct fc_server *fc__wrr_pick(struct fc__wrr *r, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	if (!r)
		return fc__view_fallback(v, ctx);
	/* One step of the rotation per pick. An avoided / cooling / ramping-
	 * rejected entry is not followed by the next one (that would hand its
	 * share, e.g. every retry away from it, to its neighbour in the order)
	 * but by draws at random positions of the period: each lands on a server
	 * with probability weight / total, so the share spreads by weight. The
	 * cursor moves once per pick, so with nothing out the rotation is exact.
	 * A retry (an avoid set) does not take a step at all: right after the
	 * failed pick the cursor points just past the server it avoids, so the
	 * step would send every retry away from a server to its neighbour. */
	uint32_t i;
	if (ctx->n_avoid)
		i = r->seq[fc_rng_below(ctx->rng, r->len)];
	else
		i = r->seq[atomic_fetch_add_explicit(&r->cursor, 1, memory_order_relaxed) % r->len];
	for (int tries = 0;; tries++) {
		if (fc__eligible_at(v, i, ctx, false) && fc_server_admit(v->servers[i], ctx))
			return v->servers[i];
		if (tries == FC__PROBES)
			return fc__view_fallback(v, ctx);
		i = r->seq[fc_rng_below(ctx->rng, r->len)];
	}
}
