/* alias.c — Walker's alias method with Vose's stable construction: O(n) build,
 * O(1) weighted draw. Used by random, p2c and ewma to sample by weight. */
#include <errno.h>
#include <stdlib.h>

#include "balance/balance.h"

int fc__alias_build(struct fc__alias *a, const struct fc_view *v, const unsigned *weights)
{
	size_t n = 0;
	uint64_t total = 0;
	a->idx = a->alias = a->prob = NULL;
	a->n = 0;
	for (size_t i = 0; i < v->n; i++)
		if (weights[i]) {
			n++;
			total += weights[i];
		}
	if (!n)
		return 0;
	a->idx = malloc(n * sizeof *a->idx);
	a->alias = malloc(n * sizeof *a->alias);
	a->prob = malloc(n * sizeof *a->prob);
	uint64_t *scaled = malloc(n * sizeof *scaled);
	uint32_t *small = malloc(n * sizeof *small), *large = malloc(n * sizeof *large);
	if (!a->idx || !a->alias || !a->prob || !scaled || !small || !large) {
		free(scaled);
		free(small);
		free(large);
		fc__alias_free(a);
		return -ENOMEM;
	}
	/* integer arithmetic: column mass is `total`, weight i scaled by n */
	size_t k = 0, ns = 0, nl = 0;
	for (size_t i = 0; i < v->n; i++)
		if (weights[i]) {
			a->idx[k] = (uint32_t)i;
			scaled[k] = (uint64_t)weights[i] * n;
			if (scaled[k] < total)
				small[ns++] = (uint32_t)k;
			else
				large[nl++] = (uint32_t)k;
			k++;
		}
	while (ns && nl) {
		uint32_t s = small[--ns], l = large[nl - 1];
		a->prob[s] = (uint32_t)(((__uint128_t)scaled[s] << 32) / total);
		a->alias[s] = l;
		scaled[l] -= total - scaled[s];
		if (scaled[l] < total) {
			nl--;
			small[ns++] = l;
		}
	}
	while (nl)
		a->prob[large[--nl]] = UINT32_MAX;
	while (ns)
		a->prob[small[--ns]] = UINT32_MAX; /* rounding leftovers are full columns */
	for (size_t i = 0; i < n; i++)
		if (a->prob[i] == UINT32_MAX)
			a->alias[i] = (uint32_t)i;
	/* alias holds column numbers while building; store server indices */
	for (size_t i = 0; i < n; i++)
		a->alias[i] = a->idx[a->alias[i]];
	a->n = n;
	free(scaled);
	free(small);
	free(large);
	return 0;
}

void fc__alias_free(struct fc__alias *a)
{
	free(a->idx);
	free(a->alias);
	free(a->prob);
	a->idx = a->alias = a->prob = NULL;
	a->n = 0;
}

uint32_t fc__alias_draw(const struct fc__alias *a, uint64_t *rng)
{
	if (!a->n)
		return UINT32_MAX;
	uint64_t r = fc_rng_next(rng);
	size_t col = (size_t)(((__uint128_t)(r >> 32) * a->n) >> 32);
	return (uint32_t)r < a->prob[col] ? a->idx[col] : a->alias[col];
}
