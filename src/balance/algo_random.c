/* algo_random.c — weighted random choice by an alias table (Walker 1977,
 * Vose 1991): O(1) per pick, stateless, nothing shared between workers. */
#include <errno.h>
#include <stdlib.h>

#include "balance/balance.h"

/* Shared by random, p2c and ewma: an alias table over the rotation's weights. */

int fc__alias_view_build(void *state, struct fc_view *next)
{
	(void)state;
	struct fc__alias *a = calloc(1, sizeof *a);
	unsigned *w = fc__rotation_weights(next);
	if (!a || !w) {
		free(a);
		free(w);
		return -ENOMEM;
	}
	int rc = fc__alias_build(a, next, w);
	free(w);
	if (rc < 0) {
		free(a);
		return rc;
	}
	next->algo = a;
	return 0;
}

void fc__alias_view_free(void *state, void *algo_view)
{
	fc__alias_free(algo_view);
	free(algo_view);
}

static struct fc_server *rnd_pick(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	const struct fc__alias *a = v->algo;
	/* a redraw after an ineligible server is a fresh weighted draw, so the
	 * out server's share goes to the others by weight */
	for (int tries = 0; tries < FC__PROBES; tries++) {
		uint32_t i = fc__alias_draw(a, ctx->rng);
		if (i == UINT32_MAX)
			break;
		struct fc_server *s = v->servers[i];
		if (fc__eligible_at(v, i, ctx, false) && fc_server_admit(s, ctx))
			return s;
	}
	return fc__view_fallback(v, ctx);
}

const struct fc_algorithm fc_algo_random = {
        .name = "random",
        .init = fc__init_stateless,
        .build = fc__alias_view_build,
        .view_free = fc__alias_view_free,
        .pick = rnd_pick,
};
