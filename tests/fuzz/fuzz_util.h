/* fuzz_util.h — shared by the fuzz targets. */
#ifndef FC_FUZZ_UTIL_H
#define FC_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/h1.h"

/* A failed check is a crash the fuzzer reports (and the replay test fails). */
#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

/* True when p[0..n) lies inside buf[0..len) (an empty span anywhere). */
static inline bool fuzz_within(const char *p, size_t n, const char *buf, size_t len)
{
	return n == 0 || (p >= buf && p + n <= buf + len);
}

/* What every parsed head must satisfy, requests and responses alike: it is
 * the whole of buf[0..len), and every pointer into it stays inside. */
static inline void fuzz_check_head_bounds(const struct fc_h1_head *hd, const char *buf, size_t len)
{
	CHECK(hd->head_len == len);
	CHECK(hd->n_headers <= FC_H1_MAX_HEADERS);
	CHECK(fuzz_within(hd->first_line, hd->first_line_len, buf, len));
	for (uint32_t i = 0; i < hd->n_headers; i++) {
		CHECK(fuzz_within(hd->h[i].name, hd->h[i].name_len, buf, len));
		CHECK(fuzz_within(hd->h[i].value, hd->h[i].value_len, buf, len));
	}
}

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

/* Re-parses what fulcrum wrote, out[0..n) of a cap-byte buffer, as the peer
 * would (a response when response) into hd2. Returns the parse result, or
 * FC_H1_ERROR only when the re-read was refused for our own header limit
 * and a peer with the full limit could read it (nothing more to check);
 * any other refusal is a crash: the peer must understand us. */
static inline int fuzz_reparse(const char *out, size_t n, size_t cap, bool response,
                               bool head_request, struct fc_h1_head *hd2)
{
	CHECK(n > 0 && n <= cap);
	CHECK(fc_h1_head_end(out, n, 0) == n);
	struct fc_h1 h2;
	const char *err = NULL;
	fc_h1_init(&h2, response);
	int rc = fc_h1_parse_head(&h2, out, n, hd2, head_request, &err);
	if (rc == FC_H1_ERROR && hd2->too_many) {
		CHECK(fuzz_head_fits_full_limit(out, n));
		return FC_H1_ERROR;
	}
	CHECK(rc != FC_H1_ERROR);
	return rc;
}

#endif
