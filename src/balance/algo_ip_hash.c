/* algo_ip_hash.c — client address (or caller's key) hashing in the spirit of
 * nginx's ip_hash: a weighted, deterministically shuffled slot table; a key
 * whose server is ineligible moves to the next slot. O(1); the table depends
 * only on the servers and weights, so every instance maps a key the same way. */
#include <errno.h>
#include <stdlib.h>

#include "balance/balance.h"

#define TABLE_MAX (1u << 20)

struct iph_view {
	uint32_t *slot; /* server index per slot */
	size_t len;
};

static void iph_view_free(void *state, void *algo_view)
{
	struct iph_view *t = algo_view;
	if (t)
		free(t->slot);
	free(t);
}

static int iph_build(void *state, struct fc_view *next)
{
	/* every weighted server gets slots whatever its state: a dead server's keys
	 * move to the next slot and come back, the others' keys do not move */
	uint64_t total = 0;
	size_t m = 0;
	for (size_t i = 0; i < next->n; i++)
		if (fc_server_weight(next->servers[i])) {
			total += fc_server_weight(next->servers[i]);
			m++;
		}
	struct iph_view *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	next->algo = t;
	if (!m)
		return 0;
	size_t len = 64;
	while (len < 64 * m && len < TABLE_MAX)
		len <<= 1;
	/* largest remainder would be exact; floor plus one keeps every server on the table */
	size_t used = 0;
	t->slot = malloc((len + m) * sizeof *t->slot);
	if (!t->slot)
		return -ENOMEM;
	for (size_t i = 0; i < next->n; i++) {
		unsigned w = fc_server_weight(next->servers[i]);
		if (!w)
			continue;
		uint64_t k = (uint64_t)w * len / total;
		if (!k)
			k = 1;
		for (uint64_t j = 0; j < k; j++)
			t->slot[used++] = (uint32_t)i;
	}
	t->len = used;
	/* Fisher-Yates with a fixed seed derived from the identities, not the pool seed */
	uint64_t seed = 0x243f6a8885a308d3ULL;
	for (size_t i = 0; i < next->n; i++)
		seed ^= fc_server_id(next->servers[i]) * 0x9e3779b97f4a7c15ULL + (seed << 6) +
		        (seed >> 2);
	for (size_t i = used; i > 1; i--) {
		size_t j = (size_t)fc_rng_below(&seed, i);
		uint32_t x = t->slot[i - 1];
		t->slot[i - 1] = t->slot[j];
		t->slot[j] = x;
	}
	return 0;
}

static struct fc_server *iph_pick(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	const struct iph_view *t = v->algo;
	if (!t || !t->len)
		return NULL;
	uint64_t h = fc_pick_key_hash(ctx);
	size_t pos = (size_t)(((__uint128_t)h * t->len) >> 64);
	for (int k = 0; k < 32; k++) {
		struct fc_server *s = v->servers[t->slot[(pos + (size_t)k) % t->len]];
		/* the key's own server keeps it while lame duck; others take no newcomers */
		if (fc_server_is_eligible(s, ctx, k == 0) && fc_server_admit_key(s, h, ctx->now_ns))
			return s;
	}
	return fc_view_scan(v, ctx, false);
}

const struct fc_algorithm fc_algo_ip_hash = {
        .name = "ip_hash",
        .init = fc__init_stateless,
        .build = iph_build,
        .view_free = iph_view_free,
        .pick = iph_pick,
        .keeps_lame_duck = true,
};
