/* registry.c — the algorithm registry: an array of ops tables looked up by
 * name (no switch), listing the known names when a config names an unknown one. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "balance/balance.h"
#include "balance/algos.h"

#define REGISTRY_MAX 32

static const struct fc_algorithm *builtin[] = {FC__BUILTIN_ALGORITHMS};
#define N_BUILTIN (sizeof builtin / sizeof builtin[0])

static const struct fc_algorithm *_Atomic extra[REGISTRY_MAX];
static _Atomic size_t n_extra;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

const struct fc_algorithm *fc_algorithm_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < N_BUILTIN; i++)
		if (strcmp(builtin[i]->name, name) == 0)
			return builtin[i];
	size_t n = atomic_load(&n_extra);
	for (size_t i = 0; i < n; i++) {
		const struct fc_algorithm *a = atomic_load(&extra[i]);
		if (a && strcmp(a->name, name) == 0)
			return a;
	}
	return NULL;
}

int fc_algorithm_register(const struct fc_algorithm *a)
{
	if (!a || !a->name || !a->name[0] || !a->init || !a->pick)
		return -EINVAL;
	int rc = 0;
	pthread_mutex_lock(&reg_mu);
	size_t n = atomic_load(&n_extra);
	if (fc_algorithm_find(a->name))
		rc = -EEXIST;
	else if (n == REGISTRY_MAX)
		rc = -ENOSPC;
	else {
		atomic_store(&extra[n], a);
		atomic_store(&n_extra, n + 1);
	}
	pthread_mutex_unlock(&reg_mu);
	return rc;
}

size_t fc_algorithm_list(char *buf, size_t len)
{
	size_t total = 0, n = atomic_load(&n_extra);
	if (buf && len)
		buf[0] = 0;
	for (size_t i = 0; i < N_BUILTIN + n; i++) {
		const struct fc_algorithm *a =
		        i < N_BUILTIN ? builtin[i] : atomic_load(&extra[i - N_BUILTIN]);
		const char *sep = i ? ", " : "";
		int w = snprintf(buf && total < len ? buf + total : NULL,
		                 buf && total < len ? len - total : 0, "%s%s", sep, a->name);
		total += (size_t)w;
	}
	return total;
}

const char *fc_algorithm_name(const struct fc_algorithm *a)
{
	return a ? a->name : NULL;
}
