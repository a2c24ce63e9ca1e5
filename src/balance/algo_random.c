/* algo_random.c — weighted random choice by an alias table (Walker 1977,
 * Vose 1991): O(1) per pick, stateless, nothing shared between workers. */
#include <errno.h>
#include <stdlib.h>

#include "balance/balance.h"

static int rnd_init(const struct fc_algo_config *cfg, void **state)
{
	*state = NULL;
	return 0;
}

/* Shared by random, p2c and ewma: an alias table over healthy weights. */

int fc__alias_view_build(struct fc_view *next)
{
	struct fc__alias *a = calloc(1, sizeof *a);
	unsigned *w = calloc(next->n ? next->n : 1, sizeof *w);
	if (!a || !w) {
		free(a);
		free(w);
		return -ENOMEM;
	}
	for (size_t i = 0; i < next->n; i++)
		if (fc_server_state(next->servers[i]) == FC_SERVER_HEALTHY)
			w[i] = fc_server_weight(next->servers[i]);
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

static int rnd_build(void *state, struct fc_view *next)
{
	return fc__alias_view_build(next);
}

static struct fc_server *rnd_pick(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	const struct fc__alias *a = v->algo;
	for (int tries = 0; tries < 16; tries++) {
		uint32_t i = fc__alias_draw(a, ctx->rng);
		if (i == UINT32_MAX)
			return NULL;
		struct fc_server *s = v->servers[i];
		if (fc_server_is_eligible(s, ctx, false) && fc_server_admit(s, ctx))
			return s;
	}
	return fc_view_scan(v, ctx, false);
}

const struct fc_algorithm fc_algo_random = {
        .name = "random",
        .init = rnd_init,
        .build = rnd_build,
        .view_free = fc__alias_view_free,
        .pick = rnd_pick,
};
