/* config_route.c — picking a listener's route for a request's Host and path:
 * longest path prefix first, then the most specific host. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "config/config_internal.h"

/* Host without its port and trailing dot: "Api.Example.com:8080" ->
 * "Api.Example.com", "[::1]:8080" -> "[::1]". */
static size_t host_strip(const char *host, size_t len)
{
	size_t i;

	if (len > 0 && host[0] == '[') {
		for (i = 1; i < len; i++)
			if (host[i] == ']')
				return i + 1;
		return len;
	}
	for (i = 0; i < len; i++)
		if (host[i] == ':') {
			len = i;
			break;
		}
	if (len > 0 && host[len - 1] == '.')
		len--;
	return len;
}

/* How well route host pattern matches: 0 no match; for a match, more is more
 * specific (exact beats any wildcard, a longer wildcard beats a shorter one). */
static size_t host_score(const char *pattern, const char *host, size_t len)
{
	size_t plen = strlen(pattern);

	if (pattern[0] == '*' && pattern[1] == '.') {
		const char *suffix = pattern + 1; /* ".example.com" */
		size_t slen = plen - 1;

		/* At least one label before the suffix: *.example.com is not example.com. */
		if (len <= slen || strncasecmp(host + len - slen, suffix, slen) != 0)
			return 0;
		return slen;
	}
	if (plen != len || strncasecmp(pattern, host, len) != 0)
		return 0;
	return (size_t)-1;
}

/* Picks the route for host/path: the longest matching path prefix; among
 * equal prefixes a route with a host beats a hostless one; then file order. */
const struct fc_config_route *fc_config_route_match(const struct fc_config_listener *l,
                                                    const char *host, size_t host_len,
                                                    const char *path, size_t path_len)
{
	const struct fc_config_route *best = NULL;
	size_t best_plen = 0, best_hscore = 0, i;

	if (!l)
		return NULL;
	if (!host)
		host_len = 0;
	else
		host_len = host_strip(host, host_len);
	if (!path) {
		path = "/";
		path_len = 1;
	}
	for (i = 0; i < l->n_routes; i++) {
		const struct fc_config_route *r = &l->routes[i];
		const char *rp = r->path ? r->path : "/";
		size_t rplen = strlen(rp), hscore = 0;

		if (rplen > path_len || memcmp(rp, path, rplen) != 0)
			continue;
		if (r->host) {
			if (host_len == 0)
				continue;
			hscore = host_score(r->host, host, host_len);
			if (hscore == 0)
				continue;
		}
		if (!best || rplen > best_plen || (rplen == best_plen && hscore > best_hscore)) {
			best = r;
			best_plen = rplen;
			best_hscore = hscore;
		}
	}
	return best;
}
