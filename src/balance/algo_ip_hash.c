/* algo_ip_hash.c — client address (or caller's key) hashing in the spirit of
 * nginx's ip_hash: a weighted, deterministically shuffled slot table. A key
 * whose server is out moves to a stand-in: it rehashes into the same table
 * (a hash of the key and the try) until it meets a server that is up. Every
 * try is a draw by weight, so an out server's share spreads over the others
 * by weight, and the tries do not depend on which servers are out, so a moved
 * client keeps its stand-in while that one stays up, also when the snapshot
 * is rebuilt. While at least half the weight is in the rotation that takes
 * two tries on average; in a larger outage keys rehash into a second table
 * holding only the rotation (O(1) however many are out; a moved key may then
 * move once more when the snapshot changes). The tables depend only on the
 * servers, weights and states, so every instance maps a key the same way. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balance/balance.h"

#define TABLE_MAX (1u << 20)

struct iph_table {
	uint32_t *slot; /* server index per slot */
	size_t len;
};

struct iph_view {
	struct iph_table home; /* every weighted server, whatever its state */
	struct iph_table live; /* the rotation only (slot == home.slot when the same) */
	bool walk_home;        /* at least half the weight is in the rotation */
};

static void iph_view_free(void *state, void *algo_view)
{
	struct iph_view *t = algo_view;
	if (t) {
		if (t->live.slot != t->home.slot)
			free(t->live.slot);
		free(t->home.slot);
	}
	free(t);
}

/* Servers in identity order: by id, then name and address (ids are 32-bit
 * hashes and may collide), so the table does not depend on the order the
 * servers were listed, added or removed in. */
struct ident {
	uint32_t id, idx;
	const char *name, *address;
};

static int by_identity(const void *a, const void *b)
{
	const struct ident *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->address, y->address);
}

/* Slots in proportion to weights[i] for next->servers[i], laid out and
 * shuffled by the servers' identities alone (not the pool seed, not their
 * order), so every instance with the same servers builds the same table.
 * 0 or -ENOMEM. */
static int table_build(struct iph_table *t, const struct fc_view *next, const unsigned *weights)
{
	uint64_t total = 0;
	size_t m = 0;
	for (size_t i = 0; i < next->n; i++)
		if (weights[i]) {
			total += weights[i];
			m++;
		}
	t->slot = NULL;
	t->len = 0;
	if (!m)
		return 0;
	size_t len = 64;
	while (len < 64 * m && len < TABLE_MAX)
		len <<= 1;
	/* largest remainder would be exact; floor plus one keeps every server on the table */
	size_t used = 0;
	struct ident *order = malloc(m * sizeof *order);
	t->slot = malloc((len + m) * sizeof *t->slot);
	if (!t->slot || !order) {
		free(order);
		free(t->slot);
		t->slot = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0, r = 0; i < next->n; i++)
		if (weights[i]) {
			const struct fc_server *s = next->servers[i];
			order[r++] = (struct ident){fc_server_id(s), (uint32_t)i, fc_server_name(s),
			                            fc_server_address(s)};
		}
	qsort(order, m, sizeof *order, by_identity);
	uint64_t seed = 0x243f6a8885a308d3ULL;
	for (size_t r = 0; r < m; r++) {
		uint32_t i = order[r].idx;
		uint64_t k = (uint64_t)weights[i] * len / total;
		if (!k)
			k = 1;
		for (uint64_t j = 0; j < k; j++)
			t->slot[used++] = i;
		seed ^= fc_server_id(next->servers[i]) * 0x9e3779b97f4a7c15ULL + (seed << 6) +
		        (seed >> 2);
	}
	free(order);
	t->len = used;
	for (size_t i = used; i > 1; i--) {
		size_t j = (size_t)fc_rng_below(&seed, i);
		uint32_t x = t->slot[i - 1];
		t->slot[i - 1] = t->slot[j];
		t->slot[j] = x;
	}
	return 0;
}

static int iph_build(void *state, struct fc_view *next)
{
	/* every weighted server has home slots whatever its state: a key keeps
	 * its home while the server set and weights stay, and comes back to it */
	struct iph_view *t = calloc(1, sizeof *t);
	unsigned *w = calloc(next->n ? next->n : 1, sizeof *w);
	unsigned *live = fc__rotation_weights(next);
	int rc = -ENOMEM;
	if (!t || !w || !live)
		goto fail;
	bool same = true;
	uint64_t all = 0, in = 0;
	for (size_t i = 0; i < next->n; i++) {
		w[i] = fc_server_weight(next->servers[i]);
		same &= w[i] == live[i];
		all += w[i];
		in += live[i];
	}
	t->walk_home = 2 * in >= all;
	if ((rc = table_build(&t->home, next, w)) < 0)
		goto fail;
	if (same)
		t->live = t->home;
	else if ((rc = table_build(&t->live, next, live)) < 0)
		goto fail;
	free(w);
	free(live);
	next->algo = t;
	return 0;
fail:
	iph_view_free(state, t);
	free(w);
	free(live);
	return rc;
}

static struct fc_server *iph_pick(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	const struct iph_view *t = v->algo;
	if (!t || !t->home.len)
		return NULL;
	uint64_t h = fc_pick_key_hash(ctx);
	uint32_t i = t->home.slot[((__uint128_t)h * t->home.len) >> 64];
	/* the key's own server keeps it while lame duck; others take no newcomers */
	if (fc__eligible_at(v, i, ctx, true) && fc_server_admit_key(v->servers[i], h, ctx->now_ns))
		return v->servers[i];
	/* Its home is out: rehash the key into the home table, so the stand-in
	 * depends on the key alone, not on which other servers are out. */
	const struct iph_table *tab = t->walk_home ? &t->home : &t->live;
	for (uint64_t k = 1; tab->len && k <= FC__PROBES; k++) {
		uint64_t h2 = fc_hash64_seeded(&h, sizeof h, k);
		i = tab->slot[((__uint128_t)h2 * tab->len) >> 64];
		if (fc__eligible_at(v, i, ctx, false) &&
		    fc_server_admit_key(v->servers[i], h, ctx->now_ns))
			return v->servers[i];
	}
	return fc__view_fallback(v, ctx);
}

const struct fc_algorithm fc_algo_ip_hash = {
        .name = "ip_hash",
        .init = fc__init_stateless,
        .build = iph_build,
        .view_free = iph_view_free,
        .pick = iph_pick,
        .keeps_lame_duck = true,
};
