/* algo_round_robin.c — smooth weighted round robin (nginx's 2012 smooth WRR,
 * "a a b a c a a" for 5,1,1) with a random start per snapshot (Skipper),
 * precomputed per snapshot so a pick is one atomic increment: O(1). */
#include <errno.h>
#include <stdlib.h>

#include "balance/balance.h"

struct rr_state {
	uint64_t seed;
};

static int rr_init(const struct fc_algo_config *cfg, void **state)
{
	struct rr_state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	st->seed = cfg->seed;
	*state = st;
	return 0;
}

static void rr_fini(void *state)
{
	free(state);
}

static int rr_build(void *state, struct fc_view *next)
{
	struct rr_state *st = state;
	unsigned *w = fc__rotation_weights(next);
	if (!w)
		return -ENOMEM;
	bool empty;
	next->algo = fc__wrr_build(next, w, st->seed, &empty);
	free(w);
	return next->algo || empty ? 0 : -ENOMEM;
}

static void rr_view_free(void *state, void *algo_view)
{
	fc__wrr_free(algo_view);
}

static struct fc_server *rr_pick(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	return fc__wrr_pick(v->algo, v, ctx);
}

const struct fc_algorithm fc_algo_round_robin = {
        .name = "round_robin",
        .init = rr_init,
        .fini = rr_fini,
        .build = rr_build,
        .view_free = rr_view_free,
        .pick = rr_pick,
};
