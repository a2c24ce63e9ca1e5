/* retry.c — the retry policy's arithmetic: the budget, the backoff with
 * jitter, the statuses retry.on names (see retry.h). */
#include "proxy/retry.h"

#include <fulcrum/fulcrum.h>

#include "config/config.h"

uint32_t fc_retry_budget_max(uint64_t active, uint32_t pct, uint32_t min)
{
	if (pct >= 100)
		return UINT32_MAX;
	uint64_t n = active * pct / 100;
	if (n < min)
		n = min;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

uint32_t fc_retry_backoff_ms(uint32_t base, uint32_t max, unsigned n, uint64_t *rng)
{
	if (base == 0)
		return 0;
	if (max < base)
		max = base;
	uint64_t d = base;
	for (unsigned i = 1; i < n && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	uint64_t lo = d / 2;
	return (uint32_t)(lo + fc_rng_below(rng, d - lo + 1));
}

uint32_t fc_retry_on_status(int status)
{
	switch (status) {
	case 502:
		return FC_RETRY_ON_502;
	case 503:
		return FC_RETRY_ON_503;
	case 504:
		return FC_RETRY_ON_504;
	default:
		return 0;
	}
}
