/* router.c — the admin API's paths and query, the token check and the
 * quantiles of a histogram: the pure parts of the admin, unit-tested. */
#include <errno.h>
#include <fcntl.h>
#include <fulcrum/fulcrum.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hex.h"
#include "admin/admin_internal.h"

/* ---------------------------------------------------------------- router */

/* Percent-decodes s[0..n) into out (cap bytes with the NUL). Refuses bad
 * escapes, NUL and '/' once decoded, and anything that does not fit.
 * plus: '+' means a space (query values). */
static int decode(const char *s, size_t n, char *out, size_t cap, bool plus, const char **why)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '%') {
			int hi = i + 2 < n ? fc_hex_digit(s[i + 1]) : -1;
			int lo = i + 2 < n ? fc_hex_digit(s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				*why = "bad percent-encoding";
				return FC_ADMIN_ROUTE_BAD;
			}
			ch = (char)(hi * 16 + lo);
			i += 2;
			if (ch == 0 || ch == '/') {
				*why = "an encoded NUL or '/' in a name";
				return FC_ADMIN_ROUTE_BAD;
			}
		} else if (plus && ch == '+') {
			ch = ' ';
		}
		if (k + 1 >= cap) {
			*why = "a name too long";
			return FC_ADMIN_ROUTE_NOT_FOUND;
		}
		out[k++] = ch;
	}
	out[k] = 0;
	return FC_ADMIN_ROUTE_OK;
}

static int query(const char *q, size_t n, struct fc_admin_route *out, const char **why)
{
	size_t i = 0;
	while (i < n) {
		size_t end = i;
		while (end < n && q[end] != '&')
			end++;
		const char *eq = memchr(q + i, '=', end - i);
		if (end > i) {
			char key[32], val[32];
			size_t kl = eq ? (size_t)(eq - (q + i)) : end - i;
			int rc = decode(q + i, kl, key, sizeof(key), true, why);
			if (rc == FC_ADMIN_ROUTE_OK && eq)
				rc = decode(eq + 1, (size_t)(q + end - eq - 1), val, sizeof(val),
				            true, why);
			else
				val[0] = 0;
			if (rc != FC_ADMIN_ROUTE_OK) {
				*why = rc == FC_ADMIN_ROUTE_NOT_FOUND ? "a query value too long"
				                                      : *why;
				return FC_ADMIN_ROUTE_BAD;
			}
			bool known = out->id == FC_ADMIN_R_SERVER;
			if (known && strcmp(key, "wait") == 0 && !out->has_wait) {
				out->has_wait = true;
				memcpy(out->wait, val, sizeof(val));
			} else if (known && strcmp(key, "timeout") == 0 && !out->has_timeout) {
				out->has_timeout = true;
				memcpy(out->timeout, val, sizeof(val));
			} else {
				*why = "unknown or repeated query parameter";
				return FC_ADMIN_ROUTE_BAD;
			}
		}
		i = end + 1;
	}
	return FC_ADMIN_ROUTE_OK;
}

int fc_admin_route(const char *url, size_t len, struct fc_admin_route *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	*why = NULL;
	const char *qm = memchr(url, '?', len);
	size_t plen = qm ? (size_t)(qm - url) : len;
	if (plen == 0 || url[0] != '/') {
		*why = "the target must be a path";
		return FC_ADMIN_ROUTE_BAD;
	}
	if (memchr(url, '#', len)) {
		*why = "a fragment in the target";
		return FC_ADMIN_ROUTE_BAD;
	}
	/* split the path into at most 6 segments */
	const char *seg[6];
	size_t seglen[6], n = 0;
	for (size_t i = 1; i <= plen;) {
		size_t end = i;
		while (end < plen && url[end] != '/')
			end++;
		if (n == 6) {
			*why = "too deep";
			return FC_ADMIN_ROUTE_NOT_FOUND;
		}
		seg[n] = url + i;
		seglen[n++] = end - i;
		i = end + 1;
	}
#define SEG(k, lit) (seglen[k] == sizeof(lit) - 1 && memcmp(seg[k], lit, sizeof(lit) - 1) == 0)
	/* an empty segment anywhere but "/" itself is no route */
	for (size_t k = 0; k < n; k++)
		if (seglen[k] == 0 && !(n == 1 && plen == 1)) {
			*why = "an empty path segment";
			return FC_ADMIN_ROUTE_NOT_FOUND;
		}
	int rc = FC_ADMIN_ROUTE_OK;
	if (n == 1 && plen == 1)
		out->id = FC_ADMIN_R_INDEX;
	else if (n == 1 && SEG(0, "metrics"))
		out->id = FC_ADMIN_R_METRICS;
	else if (n == 1 && SEG(0, "lb-metrics"))
		out->id = FC_ADMIN_R_LB;
	else if (n == 2 && SEG(0, "api") && SEG(1, "pools"))
		out->id = FC_ADMIN_R_POOLS;
	else if (n == 2 && SEG(0, "api") && SEG(1, "reload"))
		out->id = FC_ADMIN_R_RELOAD;
	else if (n == 4 && SEG(0, "api") && SEG(1, "pools") && SEG(3, "wake")) {
		rc = decode(seg[2], seglen[2], out->pool, sizeof(out->pool), false, why);
		out->id = FC_ADMIN_R_WAKE;
	} else if (n >= 3 && SEG(0, "api") && SEG(1, "pools") &&
	           (n == 3 || (SEG(3, "servers") && n <= 5))) {
		rc = decode(seg[2], seglen[2], out->pool, sizeof(out->pool), false, why);
		out->id = n == 3   ? FC_ADMIN_R_POOL
		          : n == 4 ? FC_ADMIN_R_SERVERS
		                   : FC_ADMIN_R_SERVER;
		if (rc == FC_ADMIN_ROUTE_OK && n == 5)
			rc = decode(seg[4], seglen[4], out->server, sizeof(out->server), false,
			            why);
	} else {
		*why = "unknown path";
		return FC_ADMIN_ROUTE_NOT_FOUND;
	}
#undef SEG
	if (rc != FC_ADMIN_ROUTE_OK)
		return rc;
	if (qm)
		return query(qm + 1, len - plen - 1, out, why);
	return FC_ADMIN_ROUTE_OK;
}

unsigned fc_admin_route_methods(enum fc_admin_route_id id)
{
	const unsigned get = FC_ADMIN_M_GET | FC_ADMIN_M_HEAD;
	switch (id) {
	case FC_ADMIN_R_SERVERS:
		return get | FC_ADMIN_M_POST;
	case FC_ADMIN_R_SERVER:
		return get | FC_ADMIN_M_PATCH | FC_ADMIN_M_DELETE;
	case FC_ADMIN_R_RELOAD:
	case FC_ADMIN_R_WAKE:
		return FC_ADMIN_M_POST;
	default:
		return get;
	}
}

const char *fc_admin_route_allow(enum fc_admin_route_id id)
{
	switch (id) {
	case FC_ADMIN_R_SERVERS:
		return "GET, HEAD, POST";
	case FC_ADMIN_R_SERVER:
		return "GET, HEAD, PATCH, DELETE";
	case FC_ADMIN_R_RELOAD:
	case FC_ADMIN_R_WAKE:
		return "POST";
	default:
		return "GET, HEAD";
	}
}

unsigned fc_admin_method_bit(uint8_t method)
{
	switch (method) {
	case HTTP_GET:
		return FC_ADMIN_M_GET;
	case HTTP_HEAD:
		return FC_ADMIN_M_HEAD;
	case HTTP_POST:
		return FC_ADMIN_M_POST;
	case HTTP_PATCH:
		return FC_ADMIN_M_PATCH;
	case HTTP_DELETE:
		return FC_ADMIN_M_DELETE;
	default:
		return 0;
	}
}

/* ---------------------------------------------------------------- token */

bool fc_admin_digest_equal(const uint8_t a[32], const uint8_t b[32])
{
	volatile uint8_t diff = 0;
	for (size_t i = 0; i < 32; i++)
		diff |= (uint8_t)(a[i] ^ b[i]);
	return diff == 0;
}

bool fc_admin_token_check(const struct fc_admin_token *t, const char *v, size_t n)
{
	if (!t->set || n < 7 || strncasecmp(v, "bearer ", 7) != 0)
		return false;
	size_t i = 7;
	while (i < n && v[i] == ' ')
		i++;
	size_t end = n;
	while (end > i && (v[end - 1] == ' ' || v[end - 1] == '\t'))
		end--;
	if (end == i)
		return false;
	uint8_t d[32];
	fc_sha256(v + i, end - i, d);
	return fc_admin_digest_equal(d, t->digest);
}

int fc_admin_token_load(const struct fc_config *cfg, struct fc_admin_token *t, char *err,
                        size_t errlen)
{
	memset(t, 0, sizeof(*t));
	const char *file = cfg->admin.token_file;
	if (file) {
		const struct fc_config_pos *at = &cfg->admin.token_file_at;
		char where[600];
		if (at->line)
			snprintf(where, sizeof(where), "%s:%u:%u: admin.token_file %s", cfg->source,
			         at->line, at->col, file);
		else
			snprintf(where, sizeof(where), "admin.token_file %s", file);
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			snprintf(err, errlen, "%s: %s", where, strerror(e));
			return -e;
		}
		char buf[4097];
		size_t n = 0;
		for (;;) {
			ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				int e = errno;
				close(fd);
				snprintf(err, errlen, "%s: %s", where, strerror(e));
				return -e;
			}
			if (r == 0 || n + (size_t)r == sizeof(buf) - 1) {
				n += (size_t)r;
				break;
			}
			n += (size_t)r;
		}
		close(fd);
		if (n == sizeof(buf) - 1) {
			snprintf(err, errlen, "%s: longer than 4096 bytes", where);
			return -EINVAL;
		}
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		if (n == 0) {
			snprintf(err, errlen, "%s: the file is empty (it holds the admin token)",
			         where);
			return -EINVAL;
		}
		fc_sha256(buf, n, t->digest);
		memset(buf, 0, sizeof(buf));
		t->set = true;
		snprintf(t->source, sizeof(t->source), "token from %.140s", file);
		return 0;
	}
	const char *env = getenv("FULCRUM_ADMIN_TOKEN");
	if (env && env[0]) {
		fc_sha256(env, strlen(env), t->digest);
		t->set = true;
		snprintf(t->source, sizeof(t->source), "token from FULCRUM_ADMIN_TOKEN");
	}
	return 0;
}

/* ---------------------------------------------------------------- quantiles */

double fc_admin_hist_quantile_ms(const uint64_t counts[FC_HIST_BUCKETS], double q)
{
	uint64_t total = 0;
	for (size_t i = 0; i < FC_HIST_BUCKETS; i++)
		total += counts[i];
	if (total == 0)
		return -1;
	double rank = q * (double)total, cum = 0;
	for (size_t i = 0; i < FC_HIST_BUCKETS; i++) {
		double before = cum;
		cum += (double)counts[i];
		if (cum < rank || counts[i] == 0)
			continue;
		if (i == FC_HIST_FINITE)
			return (double)fc_hist_bounds_ns[FC_HIST_FINITE - 1] / 1e6;
		double lo = i ? (double)fc_hist_bounds_ns[i - 1] : 0.0;
		double hi = (double)fc_hist_bounds_ns[i];
		return (lo + (hi - lo) * (rank - before) / (double)counts[i]) / 1e6;
	}
	return (double)fc_hist_bounds_ns[FC_HIST_FINITE - 1] / 1e6;
}
