/* algo_ewma.c — peak-EWMA load balancing (Finagle's PeakEwma, Linkerd): two
 * weighted random choices, cost = peak-EWMA latency x (active + 1); the EWMA
 * jumps up to a slower sample at once and decays (tau 10 s) toward faster
 * ones and, while unobserved, toward zero, so a slow server is probed again. */
#include "balance/balance.h"

static double cost(const struct fc_server *s, uint64_t now)
{
	/* unmeasured: cost 0, the neutral "try it" value, so new servers get measured */
	return (double)fc_server_ewma_ns(s, now) * (fc_server_active(s) + 1);
}

static struct fc_server *ewma_pick(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	struct fc_server *a, *b;
	if (fc__two_choices(v, ctx, &a, &b) < 2)
		return a;
	double ca = cost(a, ctx->now_ns), cb = cost(b, ctx->now_ns);
	/* the draws were already weighted; ties go to the first draw so an idle
	 * pool spreads by weight */
	return cb < ca ? b : a;
}

const struct fc_algorithm fc_algo_ewma = {
        .name = "ewma",
        .init = fc__init_stateless,
        .build = fc__alias_view_build,
        .view_free = fc__alias_view_free,
        .pick = ewma_pick,
};
