/* retry.h — the arithmetic of a pool's retry policy (pools.*.retry), pure
 * and unit-tested: how many retries the budget lets fly at once, how long to
 * wait before the next attempt, which statuses retry.on can name. The
 * decisions themselves are the exchange's (exchange.c). */
#ifndef FC_RETRY_H
#define FC_RETRY_H

#include <stdint.h>

/* The most retries a pool may have in flight at once with active requests
 * in flight (the retrying ones included): pct percent of active, rounded
 * down, but never fewer than min (Envoy's retry budget). pct >= 100: no
 * limit (UINT32_MAX). */
uint32_t fc_retry_budget_max(uint64_t active, uint32_t pct, uint32_t min);

/* The wait before retry n (1 for the first) with backoff base and max (ms):
 * exponential, d = min(max, base * 2^(n-1)), jittered uniformly over
 * [d/2, d] from *rng (the worker's generator, never 0), so waits of many
 * requests do not line up and the wait is never much shorter than asked.
 * 0 when base is 0 (no backoff). */
uint32_t fc_retry_backoff_ms(uint32_t base, uint32_t max, unsigned n, uint64_t *rng);

/* The retry.on bit (enum fc_retry_on, config.h) of a response status, 0 for
 * a status it cannot name. */
uint32_t fc_retry_on_status(int status);

#endif
