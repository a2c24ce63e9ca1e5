/* fuzz_util.h — shared by the head fuzz targets. */
#ifndef FC_FUZZ_UTIL_H
#define FC_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "http/h1.h"

/* Our read limits keep room for the headers fulcrum adds, so re-reading a
 * rewritten head may be refused for too many headers; a peer with the full
 * limit must still be able to read it. True when out[0..n) has at most
 * FC_H1_MAX_HEADERS header lines. */
static inline bool fuzz_head_fits_full_limit(const char *out, size_t n)
{
	size_t lines = 0;
	for (size_t i = 0; i < n; i++)
		lines += out[i] == '\n';
	return lines >= 2 && lines - 2 <= FC_H1_MAX_HEADERS;
}

#endif
