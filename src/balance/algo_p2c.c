/* algo_p2c.c — the power of two random choices (Mitzenmacher 2001; Envoy's and
 * Finagle's P2C): two distinct weighted draws, the one with fewer active
 * requests per unit of weight wins. O(1), no shared writes but the counters. */
#include "balance/balance.h"

/* Two distinct eligible, admitted servers drawn by weight; *b may be NULL when
 * only one could be found. Returns the number found (0..2). */
int fc__two_choices(const struct fc_view *v, struct fc_pick_ctx *ctx, struct fc_server **a,
                    struct fc_server **b)
{
	const struct fc__alias *al = v->algo;
	*a = *b = NULL;
	for (int tries = 0; tries < 24 && !*b; tries++) {
		uint32_t i = fc__alias_draw(al, ctx->rng);
		if (i == UINT32_MAX)
			break;
		struct fc_server *s = v->servers[i];
		if (s == *a || !fc__eligible_at(v, i, ctx, false) || !fc_server_admit(s, ctx))
			continue;
		if (!*a)
			*a = s;
		else
			*b = s;
	}
	if (!*a)
		*a = fc__view_fallback(v, ctx);
	return (*a != NULL) + (*b != NULL);
}

static struct fc_server *p2c_pick(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	struct fc_server *a, *b;
	if (fc__two_choices(v, ctx, &a, &b) < 2)
		return a;
	/* a_active / a_weight <= b_active / b_weight, cross-multiplied; the first
	 * draw wins ties so an idle pool spreads by weight */
	uint64_t aa = fc_server_active(a), ba = fc_server_active(b);
	uint64_t aw = fc_server_weight(a), bw = fc_server_weight(b);
	return ba * aw < aa * bw ? b : a;
}

const struct fc_algorithm fc_algo_p2c = {
        .name = "p2c",
        .init = fc__init_stateless,
        .build = fc__alias_view_build,
        .view_free = fc__alias_view_free,
        .pick = p2c_pick,
};
