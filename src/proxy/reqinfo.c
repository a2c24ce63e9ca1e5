/* reqinfo.c — what the proxy reads out of a request head besides routing:
 * cookies, query parameters, the host and path of the target, and the client
 * address as text. Small pure functions, unit-tested on their own. */
#include <string.h>
#include <strings.h>

#include "proxy/reqinfo.h"

/* The value of cookie name in the Cookie headers, or NULL. */
const char *fc_req_cookie(const struct fc_h1_head *hd, const char *name, size_t name_len,
                          size_t *len)
{
	for (uint32_t i = 0; i < hd->n_headers; i++) {
		const struct fc_h1_header *h = &hd->h[i];
		if (!FC_H1_NAME_IS(h, "cookie"))
			continue;
		const char *p = h->value, *end = h->value + h->value_len;
		while (p < end) {
			while (p < end && (*p == ' ' || *p == ';'))
				p++;
			const char *eq = memchr(p, '=', (size_t)(end - p));
			if (!eq)
				break;
			const char *semi = memchr(eq, ';', (size_t)(end - eq));
			if (!semi)
				semi = end;
			if ((size_t)(eq - p) == name_len && memcmp(p, name, name_len) == 0) {
				*len = (size_t)(semi - eq - 1);
				return eq + 1;
			}
			p = semi;
		}
	}
	return NULL;
}

/* The value of query parameter name in url, or NULL. */
const char *fc_req_query(const char *url, size_t url_len, const char *name, size_t name_len,
                         size_t *len)
{
	const char *q = memchr(url, '?', url_len);
	if (!q)
		return NULL;
	const char *p = q + 1, *end = url + url_len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		if (!amp)
			amp = end;
		const char *eq = memchr(p, '=', (size_t)(amp - p));
		const char *kend = eq ? eq : amp;
		if ((size_t)(kend - p) == name_len && memcmp(p, name, name_len) == 0) {
			*len = eq ? (size_t)(amp - eq - 1) : 0;
			return eq ? eq + 1 : amp;
		}
		p = amp + 1;
	}
	return NULL;
}

/* The client address for X-Forwarded-For; IPv4 without printf (every request). */
size_t fc_req_format_ip(const struct fc_addr *a, char *buf, size_t len)
{
	if (a->family != 4)
		return fc_addr_format(a, buf, len);
	char *p = buf;
	for (int i = 0; i < 4; i++) {
		unsigned v = a->bytes[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		if (i < 3)
			*p++ = '.';
	}
	*p = 0;
	return (size_t)(p - buf);
}

/* Splits the request target into host (absolute-form only) and path. */
void fc_req_target(const struct fc_h1_head *hd, const char **host, size_t *host_len,
                   const char **path, size_t *path_len)
{
	const char *u = hd->url;
	size_t n = hd->url_len;
	if (n > 7 && (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0)) {
		size_t skip = u[4] == ':' ? 7 : 8;
		const char *h = u + skip;
		const char *slash = memchr(h, '/', n - skip);
		*host = h;
		*host_len = slash ? (size_t)(slash - h) : n - skip;
		u = slash ? slash : "/";
		n = slash ? (size_t)(hd->url + hd->url_len - slash) : 1;
	}
	const char *q = memchr(u, '?', n);
	*path = u;
	*path_len = q ? (size_t)(q - u) : n;
}
