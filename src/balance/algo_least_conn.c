/* algo_least_conn.c — weighted least connections (nginx/HAProxy leastconn),
 * exact across workers: a segment tree over active/weight, kept under a per-pool
 * spinlock, finds the minimum in O(log n) and breaks ties at random by weight. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balance/balance.h"

#define NONE UINT32_MAX

struct lc_tree {
	size_t n, size;            /* leaves used / leaves allocated (power of two) */
	struct fc_server **srv;    /* leaf i = v->servers[i] */
	uint32_t *w;               /* configured weight if healthy, else 0 */
	uint8_t *off;              /* excluded for the current pick (avoid, cooldown) */
	uint32_t *min;             /* node: leaf with the smallest active/weight, NONE */
	uint32_t *nact, *nw;       /* node: that leaf's active count and weight (no pointer chasing) */
	uint32_t *act;             /* leaf: mirror of the server's active count, changed under the lock */
	uint64_t *tie;             /* node: total weight of leaves equal to that minimum */
	uint32_t *map;             /* server pointer -> leaf, open addressing */
	size_t map_mask;
};

static size_t ptr_hash(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	return (size_t)((x >> 4) * 0x9e3779b97f4a7c15ULL >> 20);
}

struct lc_state {
	fc__spin lock;
	struct lc_tree *tree; /* current tree, replaced under lock by build */
	struct lc_tree *retired;
};

/* active/weight of nodes x and y compared by cross-multiplication; -1, 0, 1 */
static int cmp_nodes(const struct lc_tree *t, size_t x, size_t y)
{
	uint64_t l = (uint64_t)t->nact[x] * t->nw[y], r = (uint64_t)t->nact[y] * t->nw[x];
	return l < r ? -1 : l > r;
}

static void copy_node(struct lc_tree *t, size_t to, size_t from)
{
	t->min[to] = t->min[from];
	t->nact[to] = t->nact[from];
	t->nw[to] = t->nw[from];
	t->tie[to] = t->tie[from];
}

static void pull(struct lc_tree *t, size_t node)
{
	size_t l = 2 * node, r = l + 1;
	if (t->min[l] == NONE || t->min[r] == NONE) {
		copy_node(t, node, t->min[l] == NONE ? r : l);
		return;
	}
	int c = cmp_nodes(t, l, r);
	copy_node(t, node, c <= 0 ? l : r);
	if (c == 0)
		t->tie[node] = t->tie[l] + t->tie[r];
}

static void set_leaf(struct lc_tree *t, uint32_t i)
{
	size_t node = t->size + i;
	bool on = t->w[i] && !t->off[i];
	t->min[node] = on ? i : NONE;
	t->tie[node] = on ? t->w[i] : 0;
	t->nact[node] = t->act[i];
	t->nw[node] = t->w[i];
	for (node >>= 1; node; node >>= 1) {
		uint32_t m = t->min[node], a = t->nact[node], w = t->nw[node];
		uint64_t tie = t->tie[node];
		pull(t, node);
		if (m == t->min[node] && a == t->nact[node] && w == t->nw[node] && tie == t->tie[node])
			break; /* unchanged here, so unchanged above */
	}
}

static void tree_free(struct lc_tree *t)
{
	if (!t)
		return;
	free(t->srv);
	free(t->w);
	free(t->off);
	free(t->min);
	free(t->tie);
	free(t->map);
	free(t->nact);
	free(t->nw);
	free(t->act);
	free(t);
}

static struct lc_tree *tree_new(const struct fc_view *v)
{
	struct lc_tree *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->n = v->n;
	t->size = 1;
	while (t->size < v->n)
		t->size <<= 1;
	t->srv = calloc(t->size, sizeof *t->srv);
	t->w = calloc(t->size, sizeof *t->w);
	t->off = calloc(t->size, 1);
	t->min = malloc(2 * t->size * sizeof *t->min);
	t->tie = calloc(2 * t->size, sizeof *t->tie);
	t->map_mask = 2 * t->size * 2 - 1;
	t->map = malloc((t->map_mask + 1) * sizeof *t->map);
	t->nact = calloc(2 * t->size, sizeof *t->nact);
	t->nw = calloc(2 * t->size, sizeof *t->nw);
	t->act = calloc(t->size, sizeof *t->act);
	if (!t->srv || !t->w || !t->off || !t->min || !t->tie || !t->map || !t->nact || !t->nw || !t->act) {
		tree_free(t);
		return NULL;
	}
	memset(t->min, 0xff, 2 * t->size * sizeof *t->min);
	memset(t->map, 0xff, (t->map_mask + 1) * sizeof *t->map);
	for (size_t i = 0; i < v->n; i++) {
		t->srv[i] = v->servers[i];
		if (fc_server_state(v->servers[i]) == FC_SERVER_HEALTHY)
			t->w[i] = fc_server_weight(v->servers[i]);
		t->min[t->size + i] = t->w[i] ? (uint32_t)i : NONE;
		t->tie[t->size + i] = t->w[i];
		t->nw[t->size + i] = t->w[i];
		size_t h = ptr_hash(v->servers[i]) & t->map_mask;
		while (t->map[h] != NONE)
			h = (h + 1) & t->map_mask;
		t->map[h] = (uint32_t)i;
	}
	return t;
}

static int lc_init(const struct fc_algo_config *cfg, void **state)
{
	struct lc_state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	atomic_flag_clear(&st->lock.f);
	*state = st;
	return 0;
}

static void lc_fini(void *state)
{
	struct lc_state *st = state;
	tree_free(st->tree);
	tree_free(st->retired);
	free(st);
}

static int lc_build(void *state, struct fc_view *next)
{
	struct lc_state *st = state;
	struct lc_tree *t = tree_new(next);
	if (!t)
		return -ENOMEM;
	/* leaves read live active counts, which change only under the lock: build
	 * the inner nodes under it too, then swap. The old tree is unreachable
	 * once swapped (every access holds the lock), so it can go. */
	fc__spin_lock(&st->lock);
	for (size_t i = 0; i < t->n; i++)
		t->nact[t->size + i] = t->act[i] = fc_server_active(t->srv[i]);
	for (size_t node = t->size - 1; node >= 1; node--)
		pull(t, node);
	struct lc_tree *old = st->tree;
	st->tree = t;
	fc__spin_unlock(&st->lock);
	tree_free(old);
	return 0;
}

/* Weighted random leaf among those tied at the root's minimum: O(log n). */
static uint32_t tie_draw(const struct lc_tree *t, uint64_t *rng)
{
	uint64_t r = fc_rng_below(rng, t->tie[1]);
	size_t node = 1;
	while (node < t->size) {
		size_t l = 2 * node;
		if (t->min[l] != NONE && cmp_nodes(t, l, 1) == 0) {
			if (r < t->tie[l]) {
				node = l;
				continue;
			}
			r -= t->tie[l];
		}
		node = l + 1;
	}
	return (uint32_t)(node - t->size);
}

static bool tree_has(const struct lc_tree *t, const struct fc_server *s, uint32_t *slot)
{
	/* the tree's own map: a server's slot field already points into the
	 * snapshot being built while this tree is still the current one */
	if (!t)
		return false;
	uint32_t fast = fc_server_slot(s);
	if (fast < t->n && t->srv[fast] == s) {
		*slot = fast;
		return true;
	}
	for (size_t h = ptr_hash(s) & t->map_mask;; h = (h + 1) & t->map_mask) {
		uint32_t i = t->map[h];
		if (i == NONE)
			return false;
		if (t->srv[i] == s) {
			*slot = i;
			return true;
		}
	}
}

static struct fc_server *lc_pick(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	struct lc_state *st = state;
	uint32_t excluded[16];
	size_t nex = 0;
	struct fc_server *s = NULL;
	fc__spin_lock(&st->lock);
	struct lc_tree *t = st->tree;
	while (t && t->min[1] != NONE) {
		uint32_t i = tie_draw(t, ctx->rng);
		struct fc_server *c = t->srv[i];
		if (fc_server_is_eligible(c, ctx, false) && fc_server_admit(c, ctx)) {
			s = c;
			break;
		}
		if (nex == 16)
			break;
		/* take it out of this pick and look again */
		t->off[i] = 1;
		set_leaf(t, i);
		excluded[nex++] = i;
	}
	for (size_t k = 0; k < nex; k++) {
		t->off[excluded[k]] = 0;
		set_leaf(t, excluded[k]);
	}
	uint32_t slot;
	if (!s && nex == 16)
		s = fc_view_scan(v, ctx, false); /* may be outside this tree during a swap: counted all the same */
	if (s) {
		fc_server_active_add(s, 1);
		if (tree_has(t, s, &slot)) {
			t->act[slot]++;
			set_leaf(t, slot);
		}
	}
	fc__spin_unlock(&st->lock);
	return s;
}

static void lc_count(struct lc_state *st, struct fc_server *s, int delta)
{
	uint32_t slot;
	fc__spin_lock(&st->lock);
	fc_server_active_add(s, delta);
	if (tree_has(st->tree, s, &slot)) {
		st->tree->act[slot] = fc_server_active(s);
		set_leaf(st->tree, slot);
	}
	fc__spin_unlock(&st->lock);
}

static void lc_acquire(void *state, const struct fc_view *v, struct fc_server *s) { lc_count(state, s, 1); }

static void lc_done(void *state, const struct fc_view *v, struct fc_server *s, const struct fc_outcome *o,
		    uint64_t now_ns)
{
	lc_count(state, s, -1);
}

const struct fc_algorithm fc_algo_least_conn = {
	.name = "least_conn",
	.init = lc_init,
	.fini = lc_fini,
	.build = lc_build,
	.pick = lc_pick,
	.done = lc_done,
	.owns_active = true,
	.acquire = lc_acquire,
};
