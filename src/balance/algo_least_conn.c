/* algo_least_conn.c — weighted least connections (nginx/HAProxy leastconn),
 * exact across workers: a 4-ary tournament tree over active/weight, kept under
 * a per-pool spinlock, finds the minimum in O(log4 n) and breaks ties at random
 * by weight.
 *
 * Layout, for cache friendliness: every node is one packed 16-byte record
 * {active, weight, tie weight} of the best leaf below it, and the LC_ARITY
 * children of a node are contiguous and aligned, so they share one 64-byte
 * cache line. Recomputing a node reads exactly one line, and a walk from a
 * leaf to the root touches depth + 1 lines (7 at 8,192 servers, against 14
 * lines x 4 parallel arrays for the binary tree this replaces). Keys are
 * compared by cross-multiplication, never divided. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balance/balance.h"

#define NONE     UINT32_MAX
#define LC_ARITY 4 /* 4 x 16-byte nodes = one cache line */
#define LC_LINE  64

/* The best (smallest active/weight) leaf of a subtree: its key, and the total
 * weight of the leaves of the subtree tied at that key. tie == 0: nothing
 * eligible below. A leaf keeps its weight in w while masked out (tie = 0). */
struct lc_node {
	uint32_t act; /* active count of the best leaf (leaf: mirror of the server's) */
	uint32_t w;   /* its weight (leaf: configured weight if in the rotation, else 0) */
	uint64_t tie; /* total weight of the leaves tied at act/w; 0 = none */
};
_Static_assert(sizeof(struct lc_node) * LC_ARITY == LC_LINE,
               "a node's children fill one cache line");

struct lc_tree {
	size_t n;               /* leaves used */
	size_t inner;           /* internal nodes; leaf i is node inner + i */
	struct lc_node *nd;     /* nd[0] root; children of k: nd[ARITY*k + 1 .. ARITY*k + ARITY] */
	void *mem;              /* allocation behind nd (aligned so child groups are lines) */
	struct fc_server **srv; /* leaf i = v->servers[i] */
	uint32_t *map;          /* server pointer -> leaf, open addressing */
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
};

/* Recomputes node k from its children (one cache line). */
static inline struct lc_node combine(const struct lc_tree *t, size_t k)
{
	const struct lc_node *c = &t->nd[LC_ARITY * k + 1];
	struct lc_node best = {0, 0, 0};
	for (int j = 0; j < LC_ARITY; j++) {
		if (!c[j].tie)
			continue;
		if (!best.tie) {
			best = c[j];
			continue;
		}
		/* c.act / c.w vs best.act / best.w, by cross-multiplication */
		uint64_t l = (uint64_t)c[j].act * best.w, r = (uint64_t)best.act * c[j].w;
		if (l < r)
			best = c[j];
		else if (l == r)
			best.tie += c[j].tie;
	}
	return best;
}

static inline bool node_eq(const struct lc_node *a, const struct lc_node *b)
{
	return a->act == b->act && a->w == b->w && a->tie == b->tie;
}

/* Node k changed: recompute its ancestors from their children, stopping
 * where nothing changes. */
static void recompute_above(struct lc_tree *t, size_t k)
{
	while (k) {
		k = (k - 1) / LC_ARITY;
		struct lc_node nn = combine(t, k);
		if (node_eq(&nn, &t->nd[k]))
			return; /* unchanged here, so unchanged above */
		t->nd[k] = nn;
	}
}

/* Sets leaf i to `act` active and in (on) or out of the running, and fixes
 * its ancestors incrementally: each ancestor is adjusted from its own record
 * and the leaf's old and new key alone, without reading its children, unless
 * the leaf was the last of the ancestor's tied leaves and leaves the minimum
 * (then that ancestor and those above are recomputed from their children).
 * A pick of one of many idle servers or the done of a request therefore
 * touches one node per level and no siblings. */
static void set_leaf(struct lc_tree *t, uint32_t i, uint32_t act, bool on)
{
	size_t k = t->inner + i;
	struct lc_node *leaf = &t->nd[k];
	const uint32_t w = leaf->w, a0 = leaf->act;
	const bool was = leaf->tie != 0;
	leaf->act = act;
	leaf->tie = on ? w : 0;
	const bool now = leaf->tie != 0;
	while (k) {
		k = (k - 1) / LC_ARITY;
		struct lc_node *nd = &t->nd[k];
		/* the leaf was among this subtree's tied minimum (its key cannot
		 * have been below the minimum) */
		bool in_old = was && nd->tie && (uint64_t)a0 * nd->w == (uint64_t)nd->act * w;
		if (now) {
			uint64_t l = (uint64_t)act * nd->w, r = (uint64_t)nd->act * w;
			if (!nd->tie || l < r) {
				*nd = (struct lc_node){act, w, w}; /* a new, lone minimum */
				continue;
			}
			if (l == r) {
				if (in_old)
					return; /* still tied at the minimum: nothing changes from
					           here up */
				nd->tie += w;   /* joins the tie */
				continue;
			}
		}
		/* now above the minimum (or out) */
		if (!in_old)
			return; /* was not at the minimum either: nothing changes from here up */
		nd->tie -= w;
		if (!nd->tie) {
			/* it was the last one at the minimum: the minimum moves up */
			*nd = combine(t, k);
			recompute_above(t, k);
			return;
		}
	}
}

static void tree_free(struct lc_tree *t)
{
	if (!t)
		return;
	free(t->srv);
	free(t->map);
	free(t->mem);
	free(t);
}

static struct lc_tree *tree_new(const struct fc_view *v)
{
	struct lc_tree *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->n = v->n;
	size_t leaves = 1;
	while (leaves < v->n)
		leaves *= LC_ARITY;
	t->inner = (leaves - 1) / (LC_ARITY - 1);
	/* node k lives at mem[k + ARITY - 1]: child groups start at multiples of ARITY */
	size_t bytes = (t->inner + leaves + LC_ARITY - 1) * sizeof(struct lc_node);
	bytes = (bytes + LC_LINE - 1) / LC_LINE * LC_LINE;
	t->mem = aligned_alloc(LC_LINE, bytes);
	t->srv = calloc(v->n ? v->n : 1, sizeof *t->srv);
	t->map_mask = 8;
	while (t->map_mask < 2 * v->n)
		t->map_mask <<= 1;
	t->map_mask--;
	t->map = malloc((t->map_mask + 1) * sizeof *t->map);
	if (!t->mem || !t->srv || !t->map) {
		tree_free(t);
		return NULL;
	}
	memset(t->mem, 0, bytes); /* tie 0: every node empty */
	t->nd = (struct lc_node *)t->mem + (LC_ARITY - 1);
	memset(t->map, 0xff, (t->map_mask + 1) * sizeof *t->map);
	for (size_t i = 0; i < v->n; i++) {
		struct fc_server *s = v->servers[i];
		struct lc_node *leaf = &t->nd[t->inner + i];
		t->srv[i] = s;
		if (v->rot[i])
			leaf->w = fc_server_weight(s);
		leaf->tie = leaf->w;
		size_t h = ptr_hash(s) & t->map_mask;
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
	 * once swapped (every access holds the lock), so it can go. Only the
	 * inner nodes above used leaves are computed; the rest stay empty. */
	size_t last = t->n ? t->inner + t->n - 1 : 0;
	fc__spin_lock(&st->lock);
	for (size_t i = 0; i < t->n; i++)
		t->nd[t->inner + i].act = fc_server_active(t->srv[i]);
	if (last > 0) /* else the root is the only leaf */
		for (size_t k = (last - 1) / LC_ARITY + 1; k-- > 0;)
			t->nd[k] = combine(t, k);
	struct lc_tree *old = st->tree;
	st->tree = t;
	fc__spin_unlock(&st->lock);
	tree_free(old);
	return 0;
}

/* Weighted random leaf among those tied at the root's key: one line per level. */
static uint32_t tie_draw(const struct lc_tree *t, uint64_t *rng)
{
	const struct lc_node root = t->nd[0];
	uint64_t r = fc_rng_below(rng, root.tie);
	size_t k = 0;
	while (k < t->inner) {
		const struct lc_node *c = &t->nd[LC_ARITY * k + 1];
		size_t next = SIZE_MAX;
		for (int j = 0; j < LC_ARITY; j++) {
			if (!c[j].tie || (uint64_t)c[j].act * root.w != (uint64_t)root.act * c[j].w)
				continue;
			next = LC_ARITY * k + 1 + (size_t)j;
			if (r < c[j].tie)
				break;
			r -= c[j].tie;
		}
		if (next == SIZE_MAX)
			return NONE; /* cannot happen: a node's tie is its tied children's sum */
		k = next;            /* the sums add up, so the last tied child is only a guard */
	}
	return (uint32_t)(k - t->inner);
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
	uint32_t slot = NONE;
	fc__spin_lock(&st->lock);
	struct lc_tree *t = st->tree;
	while (t && t->nd[0].tie) {
		uint32_t i = tie_draw(t, ctx->rng);
		if (i == NONE)
			break;
		struct fc_server *c = t->srv[i];
		if (fc_server_is_eligible(c, ctx, false) && fc_server_admit(c, ctx)) {
			s = c;
			slot = i;
			break;
		}
		/* a leaf in the tree cooling down: ask for a rebuild without it */
		if (!ctx->panic &&
		    ctx->now_ns < atomic_load_explicit(&c->cooldown_until, memory_order_relaxed))
			fc__note_cooldown(v->pool);
		if (nex == 16)
			break;
		/* take it out of this pick and look again */
		set_leaf(t, i, t->nd[t->inner + i].act, false);
		excluded[nex++] = i;
	}
	for (size_t k = 0; k < nex; k++)
		set_leaf(t, excluded[k], t->nd[t->inner + excluded[k]].act, true);
	/* sixteen masked, or an empty tree while a cooldown the rebuild left out
	 * may have ended: the scan (its server may be outside this tree during a
	 * swap: counted all the same) */
	if (!s && (nex == 16 || ctx->now_ns >= v->cooldown_next)) {
		s = fc__view_fallback(v, ctx);
		if (s && !tree_has(t, s, &slot))
			slot = NONE;
	}
	if (s) {
		fc_server_active_add(s, 1);
		if (slot != NONE) {
			const struct lc_node *leaf = &t->nd[t->inner + slot];
			set_leaf(t, slot, leaf->act + 1, leaf->w != 0);
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
	struct lc_tree *t = st->tree;
	if (tree_has(t, s, &slot))
		set_leaf(t, slot, fc_server_active(s), t->nd[t->inner + slot].w != 0);
	fc__spin_unlock(&st->lock);
}

static void lc_acquire(void *state, const struct fc_view *v, struct fc_server *s)
{
	lc_count(state, s, 1);
}

static void lc_done(void *state, const struct fc_view *v, struct fc_server *s,
                    const struct fc_outcome *o, uint64_t now_ns)
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
