/* config_value.c — the scalar syntaxes of the configuration: durations, sizes,
 * integers, booleans, upstream URLs, listen addresses, CIDRs, names; and the
 * error collector every parser writes into. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/config_internal.h"

#include <fulcrum/fulcrum.h>

/* ---- errors ---- */

void fc__cfg_err(struct fc__cfg_errs *e, unsigned line, unsigned col, const char *subject,
                 const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	struct fc__cfg_error *it;
	int n;

	e->total++;
	if (e->n >= FC__CFG_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	it = &e->items[e->n];
	n = subject && *subject ? snprintf(NULL, 0, "%s: %s", subject, msg)
	                        : snprintf(NULL, 0, "%s", msg);
	if (n < 0)
		return;
	it->text = malloc((size_t)n + 1);
	if (!it->text)
		return; /* the total still counts it */
	if (subject && *subject)
		snprintf(it->text, (size_t)n + 1, "%s: %s", subject, msg);
	else
		snprintf(it->text, (size_t)n + 1, "%s", msg);
	it->line = line;
	it->col = col;
	it->seq = e->n;
	e->n++;
}

static int error_cmp(const void *a, const void *b)
{
	const struct fc__cfg_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Appends to err without overflowing; the buffer stays NUL-terminated. */
static void append(char *err, size_t errlen, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || errlen == 0 || *used >= errlen - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(err + *used, errlen - *used, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	*used += (size_t)n;
	if (*used > errlen - 1)
		*used = errlen - 1;
}

void fc__cfg_errs_flush(struct fc__cfg_errs *e, char *err, size_t errlen)
{
	size_t used = 0, i;

	if (err && errlen)
		err[0] = '\0';
	qsort(e->items, e->n, sizeof(e->items[0]), error_cmp);
	for (i = 0; i < e->n; i++) {
		const struct fc__cfg_error *it = &e->items[i];

		if (it->line && e->source)
			append(err, errlen, &used, "%s:%u:%u: %s\n", e->source, it->line, it->col,
			       it->text);
		else if (e->source)
			append(err, errlen, &used, "%s: %s\n", e->source, it->text);
		else
			append(err, errlen, &used, "%s\n", it->text);
	}
	if (e->total > e->n)
		append(err, errlen, &used, "(%zu more errors not shown)\n", e->total - e->n);
	/* Drop the last newline: callers print the text with their own. */
	if (used > 0 && err[used - 1] == '\n')
		err[used - 1] = '\0';
	fc__cfg_errs_fini(e);
}

void fc__cfg_errs_fini(struct fc__cfg_errs *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->items[i].text);
	e->n = 0;
}

/* ---- numbers ---- */

int fc__cfg_parse_uint(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int fc__cfg_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	size_t i;

	for (i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

int fc__cfg_parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end || errno || !isfinite(v))
		return -EINVAL;
	/* strtod also reads hex floats and "infinity": accept digits only. */
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && *s != '.' && *s != '-' && *s != '+')
			return -EINVAL;
	*out = v;
	return 0;
}

/* Parses "10s", "500ms", "1m", "2h", "1d", "1h30m"; "0" alone. Milliseconds. */
int fc_config_parse_duration(const char *s, uint64_t *ms)
{
	uint64_t total = 0;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	while (*p) {
		uint64_t n = 0, unit;
		const char *start = p;

		while (*p >= '0' && *p <= '9') {
			if (n > 1000000000000ULL)
				return -ERANGE;
			n = n * 10 + (uint64_t)(*p - '0');
			p++;
		}
		if (p == start)
			return -EINVAL;
		if (p[0] == 'm' && p[1] == 's') {
			unit = 1;
			p += 2;
		} else if (*p == 's') {
			unit = 1000;
			p++;
		} else if (*p == 'm') {
			unit = 60000;
			p++;
		} else if (*p == 'h') {
			unit = 3600000;
			p++;
		} else if (*p == 'd') {
			unit = 86400000;
			p++;
		} else {
			return -EINVAL; /* a number without a unit, or an unknown unit */
		}
		if (n > UINT64_MAX / unit || total > UINT64_MAX - n * unit)
			return -ERANGE;
		total += n * unit;
		if (total > 1000000000000000ULL)
			return -ERANGE;
	}
	*ms = total;
	return 0;
}

/* Parses "16k", "16kb", "1m", "1mb", "1g", plain bytes; k = 1024. */
int fc_config_parse_size(const char *s, uint64_t *bytes)
{
	uint64_t n = 0, unit = 1;
	const char *p = s;

	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	while (*p >= '0' && *p <= '9') {
		if (n > 1000000000000000ULL)
			return -ERANGE;
		n = n * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (*p) {
		switch (tolower((unsigned char)*p)) {
		case 'b':
			unit = 1;
			break;
		case 'k':
			unit = 1024;
			break;
		case 'm':
			unit = 1024 * 1024;
			break;
		case 'g':
			unit = 1024 * 1024 * 1024;
			break;
		default:
			return -EINVAL;
		}
		p++;
		if (unit > 1 && (*p == 'b' || *p == 'B'))
			p++;
		if (*p)
			return -EINVAL;
	}
	if (n > UINT64_MAX / unit)
		return -ERANGE;
	*bytes = n * unit;
	return 0;
}

/* Parses "auto" (CPU count) or 1..256. */
int fc_config_parse_workers(const char *s, uint32_t *out)
{
	uint64_t v;

	if (!s)
		return -EINVAL;
	if (strcmp(s, "auto") == 0) {
		*out = fc__cfg_cpu_count();
		return 0;
	}
	if (fc__cfg_parse_uint(s, &v) < 0 || v < 1 || v > FC__CFG_WORKERS_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

uint32_t fc__cfg_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	if (n > FC__CFG_WORKERS_MAX)
		return FC__CFG_WORKERS_MAX;
	return (uint32_t)n;
}

/* ---- names ---- */

bool fc__cfg_is_name(const char *s)
{
	if (!s || !*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

bool fc__cfg_is_label(const char *s)
{
	if (!s || !*s || strlen(s) > 128)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '/' || c == '\\')
			return false;
	}
	return true;
}

bool fc__cfg_is_token(const char *s)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

static bool is_host_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

/* ---- addresses ---- */

/* Resolves host:port; prefers the first IPv4 answer (backends that listen on
 * 127.0.0.1 only are common, and "localhost" may answer ::1 first). */
static int resolve(const char *host, uint16_t port, int flags, struct sockaddr_storage *addr,
                   socklen_t *addr_len, char *why, size_t whylen)
{
	struct addrinfo hints, *res = NULL, *ai, *pick = NULL;
	char portstr[8];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | flags;
	snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(why, whylen, "cannot resolve host \"%s\": %s", host,
		         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (!pick || (ai->ai_family == AF_INET && pick->ai_family != AF_INET))
			pick = ai;
		if (pick->ai_family == AF_INET)
			break;
	}
	if (!pick || pick->ai_addrlen > sizeof(*addr)) {
		freeaddrinfo(res);
		snprintf(why, whylen, "host \"%s\" has no IPv4 or IPv6 address", host);
		return -EINVAL;
	}
	memset(addr, 0, sizeof(*addr));
	memcpy(addr, pick->ai_addr, pick->ai_addrlen);
	*addr_len = (socklen_t)pick->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Splits "host:port" / "[v6]:port" / ":port" at the port. host gets a
 * bracket-free copy (may be empty); bracketed tells whether it was [v6]. */
static int split_host_port(const char *s, char *host, size_t hostlen, bool *bracketed,
                           const char **port)
{
	const char *colon;
	size_t n;

	*bracketed = false;
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		n = (size_t)(close - s - 1);
		if (n == 0 || n >= hostlen)
			return -EINVAL;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		*bracketed = true;
		*port = close + 2;
		return 0;
	}
	colon = strrchr(s, ':');
	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - s);
	if (n >= hostlen || memchr(s, ':', n))
		return -EINVAL; /* an IPv6 address must be bracketed */
	memcpy(host, s, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
}

static int parse_port(const char *s, uint16_t *port)
{
	uint64_t v;

	if (fc__cfg_parse_uint(s, &v) < 0 || v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static bool valid_host(const char *h, bool bracketed)
{
	unsigned char buf[sizeof(struct in6_addr)];
	const char *p;

	if (bracketed)
		return inet_pton(AF_INET6, h, buf) == 1;
	if (!*h || strlen(h) > 253)
		return false;
	for (p = h; *p; p++)
		if (!is_host_char(*p))
			return false;
	return true;
}

int fc__cfg_parse_listen(const char *s, struct sockaddr_storage *addr, socklen_t *addr_len,
                         char *why, size_t whylen)
{
	static const char usage[] = "must be host:port, [ipv6]:port or :port";
	char host[256];
	const char *portstr;
	bool bracketed;
	uint16_t port;
	uint64_t v;

	if (fc__cfg_parse_uint(s, &v) == 0) {
		snprintf(why, whylen, "%s; did you mean \":%s\"?", usage, s);
		return -EINVAL;
	}
	if (split_host_port(s, host, sizeof(host), &bracketed, &portstr) < 0) {
		snprintf(why, whylen, "%s (got \"%.64s\")", usage, s);
		return -EINVAL;
	}
	if (parse_port(portstr, &port) < 0) {
		snprintf(why, whylen, "port must be 1..65535 (got \"%s\")", portstr);
		return -EINVAL;
	}
	if (!*host || strcmp(host, "*") == 0) {
		/* All interfaces, as nginx's "listen 8080": IPv4 any. */
		struct sockaddr_in *in = (struct sockaddr_in *)addr;

		memset(addr, 0, sizeof(*addr));
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		in->sin_addr.s_addr = htonl(INADDR_ANY);
		*addr_len = sizeof(*in);
		return 0;
	}
	if (!valid_host(host, bracketed)) {
		snprintf(why, whylen, "invalid host \"%s\"", host);
		return -EINVAL;
	}
	return resolve(host, port, AI_PASSIVE | (bracketed ? AI_NUMERICHOST : 0), addr, addr_len,
	               why, whylen);
}

int fc__cfg_parse_redis_address(const char *s, char *host, size_t hostlen, uint16_t *port,
                                char *why, size_t whylen)
{
	char name[256];
	const char *portstr;
	bool bracketed;
	struct sockaddr_storage addr;
	socklen_t addr_len;

	if (split_host_port(s, name, sizeof(name), &bracketed, &portstr) < 0 || !*name) {
		snprintf(why, whylen, "must be host:port or [ipv6]:port (got \"%.64s\")", s);
		return -EINVAL;
	}
	if (parse_port(portstr, port) < 0) {
		snprintf(why, whylen, "port must be 1..65535 (got \"%s\")", portstr);
		return -EINVAL;
	}
	if (!valid_host(name, bracketed)) {
		snprintf(why, whylen, "invalid host \"%s\"", name);
		return -EINVAL;
	}
	int rc =
	        resolve(name, *port, bracketed ? AI_NUMERICHOST : 0, &addr, &addr_len, why, whylen);
	if (rc < 0)
		return rc;
	const void *a = addr.ss_family == AF_INET6
	                        ? (const void *)&((struct sockaddr_in6 *)&addr)->sin6_addr
	                        : (const void *)&((struct sockaddr_in *)&addr)->sin_addr;
	if (!inet_ntop(addr.ss_family, a, host, (socklen_t)hostlen)) {
		snprintf(why, whylen, "cannot print the address of \"%s\"", name);
		return -EINVAL;
	}
	return 0;
}

int fc__cfg_parse_upstream(const char *s, struct fc_config_server *srv, bool later, char *why,
                           size_t whylen)
{
	static const char usage[] = "must be http://host:port or https://host:port";
	char auth[300], host[300];
	const char *p, *slash, *portstr;
	bool bracketed = false, tls = false;
	size_t n;
	uint16_t port = 80;

	if (strncasecmp(s, "https://", 8) == 0) {
		tls = true;
		port = 443;
		p = s + 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		p = s + 7;
	} else {
		snprintf(why, whylen, "%s", usage);
		return -EINVAL;
	}
	slash = strchr(p, '/');
	n = slash ? (size_t)(slash - p) : strlen(p);
	if (slash && slash[1] != '\0') {
		snprintf(why, whylen, "%s (a path is not supported: \"%s\")", usage, slash);
		return -EINVAL;
	}
	if (n == 0 || n >= sizeof(auth)) {
		snprintf(why, whylen, "%s", usage);
		return -EINVAL;
	}
	memcpy(auth, p, n);
	auth[n] = '\0';
	if (strpbrk(auth, "@?#")) {
		snprintf(why, whylen, "%s (no user, query or fragment)", usage);
		return -EINVAL;
	}
	if (auth[0] == '[' && !strstr(auth, "]:")) {
		/* [v6] without a port */
		if (auth[n - 1] != ']' || n - 2 >= sizeof(host) || n < 3) {
			snprintf(why, whylen, "%s", usage);
			return -EINVAL;
		}
		memcpy(host, auth + 1, n - 2);
		host[n - 2] = '\0';
		bracketed = true;
	} else if (strchr(auth, ':')) {
		if (split_host_port(auth, host, sizeof(host), &bracketed, &portstr) < 0) {
			snprintf(why, whylen, "%s", usage);
			return -EINVAL;
		}
		if (parse_port(portstr, &port) < 0) {
			snprintf(why, whylen, "port must be 1..65535 (got \"%s\")", portstr);
			return -EINVAL;
		}
	} else {
		snprintf(host, sizeof(host), "%s", auth);
	}
	if (!valid_host(host, bracketed)) {
		snprintf(why, whylen, "%s (invalid host \"%s\")", usage, host);
		return -EINVAL;
	}
	if (resolve(host, port, bracketed || later ? AI_NUMERICHOST : 0, &srv->addr, &srv->addr_len,
	            why, whylen) < 0) {
		if (!later)
			return -EINVAL;
		/* a name: its address comes from DNS at run time */
		memset(&srv->addr, 0, sizeof(srv->addr));
		srv->addr_len = 0;
		srv->resolve = true;
	}
	srv->url = strdup(s);
	srv->host = strdup(host);
	srv->port = port;
	srv->tls = tls;
	if (!srv->url || !srv->host)
		return -ENOMEM;
	return 0;
}

int fc__cfg_check_cidr(const char *s, const char **why)
{
	char ip[INET6_ADDRSTRLEN + 1];
	unsigned char buf[sizeof(struct in6_addr)];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max;
	uint64_t bits;

	*why = "must be an address or CIDR such as 10.0.0.0/8, 127.0.0.1 or fd00::/8";
	if (n == 0 || n >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, buf) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, ip, buf) == 1)
		max = 128;
	else
		return -EINVAL;
	if (!slash)
		return 0;
	if (fc__cfg_parse_uint(slash + 1, &bits) < 0 || bits > max) {
		*why = max == 32 ? "prefix length must be 0..32" : "prefix length must be 0..128";
		return -EINVAL;
	}
	return 0;
}

int fc__cfg_check_route_host(const char *s, char **lower, const char **why)
{
	const char *p = s;
	size_t i, n;

	*lower = NULL;
	if (strcmp(s, "*") == 0) {
		*why = "omit host to match any host";
		return -EINVAL;
	}
	if (strncmp(s, "*.", 2) == 0)
		p = s + 2;
	if (strchr(p, ':')) {
		*why = "must not include a port (the port is ignored when matching)";
		return -EINVAL;
	}
	if (strchr(p, '*')) {
		*why = "a wildcard is only allowed as a leading \"*.\", as in *.example.com";
		return -EINVAL;
	}
	if (!*p || *p == '.' || p[strlen(p) - 1] == '.' || strstr(p, "..") ||
	    !valid_host(p, false)) {
		*why = "must be a host name such as api.example.com or *.example.com";
		return -EINVAL;
	}
	n = strlen(s);
	*lower = malloc(n + 1);
	if (!*lower)
		return -ENOMEM;
	for (i = 0; i <= n; i++)
		(*lower)[i] = (char)tolower((unsigned char)s[i]);
	return 0;
}

int fc__cfg_check_route_path(const char *s, const char **why)
{
	if (s[0] != '/') {
		*why = "must start with /";
		return -EINVAL;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || c == '?' || c == '#') {
			*why = "must be a path prefix without spaces, '?' or '#'";
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- algorithms ---- */

int fc__cfg_check_algorithm(const char *name, char *why, size_t whylen)
{
	char known[512];

	if (fc_algorithm_find(name))
		return 0;
	known[0] = '\0';
	fc_algorithm_list(known, sizeof(known));
	snprintf(why, whylen, "unknown algorithm \"%.64s\" (known: %s)", name, known);
	return -EINVAL;
}
