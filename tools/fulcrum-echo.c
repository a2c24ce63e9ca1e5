/* fulcrum-echo: the test and demo backend. An epoll HTTP/1.1 server (llhttp) that
 * tells what it received as JSON, streams bodies in both directions with flat
 * memory, and has endpoints to provoke every behaviour the proxy must handle.
 *
 * Endpoints: /health, /echo, /bytes/N[?chunked=1|?close=1], /sink, /status/NNN[?retry_after=1],
 * /sleep/MS, /close, /trailers, /stats, anything else = JSON description.
 * /stats counts requests (all but /stats and /health, which are counted apart so
 * that health checks do not disturb tests), accepted and open connections, and
 * shows how /health answers now ("health_mode"); it is exempt from -fail and
 * -latency.
 *
 * Health switches, for health-check tests. /health answers "ok" (200) or, while
 * failing, in the failure mode: fail (500), hang (read the request, never
 * answer; the connection stays open until the client closes it) or a status
 * NNN (200..599, e.g. 503 for a lame duck). -health MODE is how it answers at
 * start (ok, fail, hang or NNN); -health-fail MODE the failure mode the
 * switches use (default: the -health mode if that is one, else fail).
 * SIGUSR1 starts failing, SIGUSR2 answers ok again (both idempotent);
 * -health-fail-after D starts failing D after start; -health-flap P alternates
 * every P. The main thread applies them (sigtimedwait); workers read one atomic. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#define IBUF_SIZE  32768
#define HBUF_SIZE  32768
#define MAX_HDRS   256
#define OUT_HIGH   (1u << 20)
#define GEN_CHUNK  65536
#define LINGER_MS  2000
#define MAX_EVENTS 256

enum route {
	R_DEFAULT,
	R_HEALTH,
	R_ECHO,
	R_BYTES,
	R_SINK,
	R_STATUS,
	R_SLEEP,
	R_CLOSE,
	R_TRAILERS,
	R_STATS,
	R_FAIL,
	R_BAD,
};

enum timer_kind { T_NONE, T_RESPOND, T_ECHO_HEAD, T_LINGER };

struct buf {
	char *p;
	size_t len, off, cap;
};

struct hdr {
	uint32_t noff, nlen, voff, vlen;
};

struct worker;

struct conn {
	int fd, tfd;
	struct worker *w;
	struct conn *next_dead;
	uint32_t mask;
	bool dead, eof, stop, paused, linger;
	enum timer_kind timer;
	llhttp_t p;
	size_t ipos, ilen;
	struct buf out;
	/* the request being parsed */
	size_t hlen, url_len;
	int nhdrs, hstate;
	struct hdr hdrs[MAX_HDRS];
	enum route route;
	uint64_t arg, body_bytes;
	bool q_chunked, q_close, q_retry_after, is_head, keep_alive, head_started, echo_chunked;
	bool echo_close, overflow;
	bool hung; /* a hanging /health: drain input, never answer, close on EOF */
	/* /bytes generator */
	bool gen_active, gen_chunked;
	uint64_t gen_rem, gen_pos;
	char hbuf[HBUF_SIZE];
	char ibuf[IBUF_SIZE];
};

struct worker {
	int ep, lfd;
	pthread_t thr;
	struct conn *dead;
	struct buf scratch;
};

static const char *opt_name;
static const char *opt_host = "127.0.0.1";
static int opt_port = -1;
static int opt_threads = 2;
static bool opt_fail;
static uint64_t opt_latency_ns;

/* How /health answers: HM_OK, HM_FAIL (500), HM_HANG, or a status 200..599. */
#define HM_OK   0
#define HM_FAIL (-1)
#define HM_HANG (-2)
static int opt_health = HM_OK;      /* at start */
static int opt_health_fail = HM_OK; /* failure mode of the switches; HM_OK: not given */
static uint64_t opt_health_fail_after_ns, opt_health_flap_ns;
static atomic_int health_mode; /* now; written by the main thread only */

static atomic_ullong stat_requests, stat_connections, stat_health;
static atomic_llong stat_open;
static llhttp_settings_t settings;
static char pattern[GEN_CHUNK + 26];

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fulcrum-echo: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* ---- buffers ---- */

static void buf_reserve(struct buf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return;
	if (b->off > 0 && b->off == b->len) {
		b->off = b->len = 0;
		if (n <= b->cap)
			return;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		die("out of memory");
	b->p = p;
	b->cap = cap;
}

static void buf_add(struct buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Formats straight into the spare room; only a too-long result formats twice. */
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	buf_reserve(b, 128);
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* Appends s JSON-escaped, without the quotes. */
static void buf_json_esc(struct buf *b, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch != 0x7f && ch != '"' && ch != '\\')
			continue;
		buf_add(b, s + run, i - run);
		run = i + 1;
		if (ch == '"' || ch == '\\') {
			char e[2] = {'\\', (char)ch};
			buf_add(b, e, 2);
		} else {
			buf_printf(b, "\\u%04x", ch);
		}
	}
	buf_add(b, s + run, n - run);
}

static void buf_json(struct buf *b, const char *s, size_t n)
{
	buf_reserve(b, n + 2);
	b->p[b->len++] = '"';
	buf_json_esc(b, s, n);
	buf_add(b, "\"", 1);
}

/* Starts a JSON answer in b: {"name":"...". */
static void json_open(struct buf *b)
{
	b->len = b->off = 0;
	buf_str(b, "{\"name\":");
	buf_json(b, opt_name, strlen(opt_name));
}

static size_t out_pending(const struct conn *c)
{
	return c->out.len - c->out.off;
}

/* ---- small helpers ---- */

static bool parse_u64(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;
	if (n == 0 || n > 13)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > max)
		return false;
	*v = x;
	return true;
}

static bool query_has(const char *q, size_t n, const char *kv)
{
	size_t k = strlen(kv);
	for (size_t i = 0; i + k <= n; i++) {
		if ((i == 0 || q[i - 1] == '&') && memcmp(q + i, kv, k) == 0 &&
		    (i + k == n || q[i + k] == '&'))
			return true;
	}
	return false;
}

static const char *reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 408:
		return "Request Timeout";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Status";
	}
}

static bool hdr_is(const struct conn *c, const struct hdr *h, const char *name)
{
	size_t n = strlen(name);
	return h->nlen == n && strncasecmp(c->hbuf + h->noff, name, n) == 0;
}

static bool name_eq(const struct conn *c, const struct hdr *a, const struct hdr *b)
{
	return a->nlen == b->nlen &&
	       strncasecmp(c->hbuf + a->noff, c->hbuf + b->noff, a->nlen) == 0;
}

static bool has_token(const char *s, size_t n, const char *tok)
{
	size_t k = strlen(tok);
	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp(s + i, tok, k) == 0)
			return true;
	return false;
}

/* ---- timers and epoll ---- */

static void conn_set_mask(struct conn *c, uint32_t mask)
{
	if (c->mask == mask)
		return;
	struct epoll_event ev = {.events = mask, .data.ptr = c};
	epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->mask = mask;
}

static void conn_timer(struct conn *c, enum timer_kind kind, uint64_t ns)
{
	if (c->tfd < 0) {
		c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (c->tfd < 0)
			die("timerfd_create: %s", strerror(errno));
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = (char *)c + 1};
		epoll_ctl(c->w->ep, EPOLL_CTL_ADD, c->tfd, &ev);
	}
	if (ns == 0)
		ns = 1;
	struct itimerspec its = {.it_value = {.tv_sec = (time_t)(ns / 1000000000u),
	                                      .tv_nsec = (long)(ns % 1000000000u)}};
	timerfd_settime(c->tfd, 0, &its, NULL);
	c->timer = kind;
}

static void conn_close(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	atomic_fetch_sub_explicit(&stat_open, 1, memory_order_relaxed);
	if (c->tfd >= 0)
		close(c->tfd);
	close(c->fd);
	c->next_dead = c->w->dead;
	c->w->dead = c;
}

/* ---- responses ---- */

static void resp_head(struct conn *c, int code, const char *extra)
{
	buf_printf(&c->out, "HTTP/1.1 %d %s\r\nX-Echo-Name: %s\r\n", code, reason(code), opt_name);
	if (!c->keep_alive)
		buf_str(&c->out, "Connection: close\r\n");
	else if (c->p.http_major == 1 && c->p.http_minor == 0)
		buf_str(&c->out, "Connection: keep-alive\r\n");
	if (extra)
		buf_str(&c->out, extra);
	buf_str(&c->out, "\r\n");
}

static void resp_simple(struct conn *c, int code, const char *ctype, const char *body, size_t n)
{
	char extra[160];
	snprintf(extra, sizeof extra, "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype, n);
	resp_head(c, code, extra);
	if (!c->is_head)
		buf_add(&c->out, body, n);
	if (!c->keep_alive)
		c->stop = true;
}

static void resp_error(struct conn *c, int code, const char *msg)
{
	c->keep_alive = false;
	c->is_head = false;
	resp_simple(c, code, "text/plain", msg, strlen(msg));
}

static void json_describe(struct conn *c, struct buf *b)
{
	const char *url = c->hbuf;
	json_open(b);
	buf_str(b, ",\"method\":");
	const char *m = llhttp_method_name((llhttp_method_t)c->p.method);
	buf_json(b, m, strlen(m));
	buf_str(b, ",\"path\":");
	buf_json(b, url, c->url_len);
	buf_printf(b, ",\"proto\":\"HTTP/%d.%d\",\"headers\":{", c->p.http_major, c->p.http_minor);
	bool first = true;
	for (int i = 0; i < c->nhdrs; i++) {
		const struct hdr *h = &c->hdrs[i];
		bool seen = false;
		for (int j = 0; j < i && !seen; j++)
			seen = name_eq(c, &c->hdrs[j], h);
		if (seen)
			continue;
		if (!first)
			buf_add(b, ",", 1);
		first = false;
		char lname[256];
		size_t ln = h->nlen < sizeof lname ? h->nlen : sizeof lname;
		for (size_t k = 0; k < ln; k++)
			lname[k] = (char)tolower((unsigned char)c->hbuf[h->noff + k]);
		buf_json(b, lname, ln);
		buf_add(b, ":", 1);
		bool repeated = false;
		for (int j = i + 1; j < c->nhdrs && !repeated; j++)
			repeated = name_eq(c, &c->hdrs[j], h);
		if (!repeated) {
			buf_json(b, c->hbuf + h->voff, h->vlen);
			continue;
		}
		/* repeated headers: one string, the values joined with ", " */
		buf_add(b, "\"", 1);
		for (int j = i; j < c->nhdrs; j++) {
			if (!name_eq(c, &c->hdrs[j], h))
				continue;
			if (j > i)
				buf_add(b, ", ", 2);
			buf_json_esc(b, c->hbuf + c->hdrs[j].voff, c->hdrs[j].vlen);
		}
		buf_add(b, "\"", 1);
	}
	buf_printf(b, "},\"body_bytes\":%" PRIu64 "}\n", c->body_bytes);
}

static void resp_json(struct conn *c, int code, struct buf *body)
{
	resp_simple(c, code, "application/json", body->p, body->len);
}

static void gen_start(struct conn *c)
{
	char extra[160];
	bool http10 = c->p.http_major == 1 && c->p.http_minor == 0;
	if (c->q_close || (c->q_chunked && http10)) {
		c->keep_alive = false;
		resp_head(c, 200, "Content-Type: application/octet-stream\r\n");
		c->gen_chunked = false;
	} else if (c->q_chunked) {
		resp_head(
		        c, 200,
		        "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n");
		c->gen_chunked = true;
	} else {
		snprintf(extra, sizeof extra,
		         "Content-Type: application/octet-stream\r\nContent-Length: %" PRIu64
		         "\r\n",
		         c->arg);
		resp_head(c, 200, extra);
		c->gen_chunked = false;
	}
	if (c->is_head) {
		if (!c->keep_alive)
			c->stop = true;
		return;
	}
	c->gen_active = true;
	c->gen_rem = c->arg;
	c->gen_pos = 0;
	c->paused = true;
}

static void gen_done(struct conn *c)
{
	if (c->gen_chunked)
		buf_str(&c->out, "0\r\n\r\n");
	c->gen_active = false;
	c->paused = false;
	if (!c->keep_alive)
		c->stop = true;
}

static void health_mode_name(int mode, char *buf, size_t len)
{
	if (mode == HM_OK)
		snprintf(buf, len, "ok");
	else if (mode == HM_FAIL)
		snprintf(buf, len, "fail");
	else if (mode == HM_HANG)
		snprintf(buf, len, "hang");
	else
		snprintf(buf, len, "%d", mode);
}

static void health_respond(struct conn *c)
{
	int mode = atomic_load_explicit(&health_mode, memory_order_relaxed);
	char tmp[64];
	int n;

	if (mode == HM_OK) {
		resp_simple(c, 200, "text/plain", "ok", 2);
	} else if (mode == HM_FAIL) {
		n = snprintf(tmp, sizeof tmp, "health fail from %.40s\n", opt_name);
		resp_simple(c, 500, "text/plain", tmp, (size_t)n);
	} else if (mode == HM_HANG) {
		c->hung = true;
		c->paused = true; /* no further (pipelined) request is answered either */
	} else if (mode == 204 || mode == 304) {
		resp_head(c, mode, NULL);
		if (!c->keep_alive)
			c->stop = true;
	} else {
		n = snprintf(tmp, sizeof tmp, "%d\n", mode);
		resp_simple(c, mode, "text/plain", tmp, (size_t)n);
	}
}

/* Answers the request whose body has been fully read. */
static void respond(struct conn *c)
{
	struct buf *s = &c->w->scratch;
	char tmp[64];
	switch (c->route) {
	case R_HEALTH:
		health_respond(c);
		break;
	case R_STATS:
		json_open(s);
		health_mode_name(atomic_load(&health_mode), tmp, sizeof tmp);
		buf_printf(s,
		           ",\"requests\":%llu,\"connections\":%llu,\"open\":%lld,\"health\":%llu,"
		           "\"health_mode\":\"%s\"}\n",
		           atomic_load(&stat_requests), atomic_load(&stat_connections),
		           atomic_load(&stat_open), atomic_load(&stat_health), tmp);
		resp_json(c, 200, s);
		break;
	case R_SINK:
		json_open(s);
		buf_printf(s, ",\"body_bytes\":%" PRIu64 "}\n", c->body_bytes);
		resp_json(c, 200, s);
		break;
	case R_STATUS: {
		int code = (int)c->arg;
		int n = snprintf(tmp, sizeof tmp, "%d\n", code);
		if (code == 204 || code == 304) {
			resp_head(c, code, NULL);
			if (!c->keep_alive)
				c->stop = true;
		} else if (c->q_retry_after) {
			char extra[160];
			snprintf(extra, sizeof extra,
			         "Retry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: "
			         "%d\r\n",
			         n);
			resp_head(c, code, extra);
			if (!c->is_head)
				buf_add(&c->out, tmp, (size_t)n);
			if (!c->keep_alive)
				c->stop = true;
		} else {
			resp_simple(c, code, "text/plain", tmp, (size_t)n);
		}
		break;
	}
	case R_BYTES:
		gen_start(c);
		break;
	case R_CLOSE:
		c->keep_alive = false;
		json_describe(c, s);
		resp_json(c, 200, s);
		break;
	case R_TRAILERS:
		if (c->p.http_major == 1 && c->p.http_minor == 0) {
			resp_simple(c, 200, "text/plain", "trailers\n", 9);
		} else {
			resp_head(c, 200,
			          "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
			          "Trailer: X-Trailer\r\n");
			if (!c->is_head)
				buf_str(&c->out, "9\r\ntrailers\n\r\n0\r\nX-Trailer: yes\r\n\r\n");
			if (!c->keep_alive)
				c->stop = true;
		}
		break;
	case R_FAIL: {
		int n = snprintf(tmp, sizeof tmp, "500 fail from %.40s\n", opt_name);
		resp_simple(c, 500, "text/plain", tmp, (size_t)n);
		break;
	}
	case R_BAD:
		resp_error(c, 400, "bad request\n");
		break;
	case R_ECHO: /* answered while streaming */
		break;
	case R_DEFAULT:
	case R_SLEEP:
		json_describe(c, s);
		resp_json(c, 200, s);
		break;
	}
}

static void echo_start(struct conn *c)
{
	char extra[160];
	bool http10 = c->p.http_major == 1 && c->p.http_minor == 0;
	c->head_started = true;
	if (c->p.flags & F_CHUNKED) {
		if (http10) {
			c->echo_close = true;
			c->keep_alive = false;
			resp_head(c, 200, "Content-Type: application/octet-stream\r\n");
		} else {
			c->echo_chunked = true;
			resp_head(c, 200,
			          "Content-Type: application/octet-stream\r\n"
			          "Transfer-Encoding: chunked\r\n");
		}
	} else {
		uint64_t n = (c->p.flags & F_CONTENT_LENGTH) ? c->p.content_length : 0;
		snprintf(extra, sizeof extra,
		         "Content-Type: application/octet-stream\r\nContent-Length: %" PRIu64
		         "\r\n",
		         n);
		resp_head(c, 200, extra);
	}
}

/* ---- llhttp callbacks ---- */

static int on_message_begin(llhttp_t *p)
{
	struct conn *c = p->data;
	c->hlen = c->url_len = 0;
	c->nhdrs = c->hstate = 0;
	c->route = R_DEFAULT;
	c->arg = c->body_bytes = 0;
	c->q_chunked = c->q_close = c->q_retry_after = c->is_head = c->head_started = false;
	c->echo_chunked = c->echo_close = c->overflow = false;
	c->keep_alive = true;
	return 0;
}

static int hbuf_add(struct conn *c, const char *at, size_t n)
{
	if (c->hlen + n > HBUF_SIZE) {
		c->overflow = true;
		return -1;
	}
	memcpy(c->hbuf + c->hlen, at, n);
	c->hlen += n;
	return 0;
}

static int too_large(struct conn *c)
{
	resp_error(c, 431, "request header fields too large\n");
	return -1;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	if (hbuf_add(c, at, n) < 0)
		return too_large(c);
	c->url_len += n;
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	if (c->hstate != 1) {
		if (c->nhdrs == MAX_HDRS)
			return too_large(c);
		struct hdr *h = &c->hdrs[c->nhdrs++];
		h->noff = h->voff = (uint32_t)c->hlen;
		h->nlen = h->vlen = 0;
		c->hstate = 1;
	}
	if (hbuf_add(c, at, n) < 0)
		return too_large(c);
	c->hdrs[c->nhdrs - 1].nlen += (uint32_t)n;
	c->hdrs[c->nhdrs - 1].voff = (uint32_t)c->hlen;
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	struct hdr *h = &c->hdrs[c->nhdrs - 1];
	if (c->hstate != 2) {
		h->voff = (uint32_t)c->hlen;
		c->hstate = 2;
	}
	if (hbuf_add(c, at, n) < 0)
		return too_large(c);
	h->vlen += (uint32_t)n;
	return 0;
}

static void route_request(struct conn *c)
{
	const char *u = c->hbuf;
	size_t n = c->url_len, plen = n;
	const char *q = memchr(u, '?', n);
	if (q)
		plen = (size_t)(q - u);
	const char *query = q ? q + 1 : "";
	size_t qlen = q ? n - plen - 1 : 0;
#define IS(lit)     (plen == sizeof(lit) - 1 && memcmp(u, lit, plen) == 0)
#define PREFIX(lit) (plen > sizeof(lit) - 1 && memcmp(u, lit, sizeof(lit) - 1) == 0)
	if (IS("/health")) {
		c->route = R_HEALTH;
	} else if (IS("/stats")) {
		c->route = R_STATS;
	} else if (IS("/echo")) {
		c->route = c->is_head ? R_DEFAULT : R_ECHO;
	} else if (IS("/sink")) {
		c->route = R_SINK;
	} else if (IS("/close")) {
		c->route = R_CLOSE;
	} else if (IS("/trailers")) {
		c->route = R_TRAILERS;
	} else if (PREFIX("/bytes/")) {
		c->route = parse_u64(u + 7, plen - 7, 1000000000000ull, &c->arg) ? R_BYTES : R_BAD;
		c->q_chunked = query_has(query, qlen, "chunked=1");
		c->q_close = query_has(query, qlen, "close=1");
	} else if (PREFIX("/status/")) {
		c->route = parse_u64(u + 8, plen - 8, 599, &c->arg) && c->arg >= 200 ? R_STATUS
		                                                                     : R_BAD;
		c->q_retry_after = query_has(query, qlen, "retry_after=1");
	} else if (PREFIX("/sleep/")) {
		c->route = parse_u64(u + 7, plen - 7, 3600000, &c->arg) ? R_SLEEP : R_BAD;
	}
#undef IS
#undef PREFIX
	if (opt_fail && c->route != R_HEALTH && c->route != R_STATS)
		c->route = R_FAIL;
}

static int on_headers_complete(llhttp_t *p)
{
	struct conn *c = p->data;
	c->is_head = p->method == HTTP_HEAD;
	c->keep_alive = llhttp_should_keep_alive(p);
	route_request(c);
	if (c->route == R_STATS)
		;
	else if (c->route == R_HEALTH)
		atomic_fetch_add_explicit(&stat_health, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&stat_requests, 1, memory_order_relaxed);
	if (p->http_major == 1 && p->http_minor >= 1) {
		for (int i = 0; i < c->nhdrs; i++) {
			const struct hdr *h = &c->hdrs[i];
			if (hdr_is(c, h, "expect") &&
			    has_token(c->hbuf + h->voff, h->vlen, "100-continue"))
				buf_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
		}
	}
	if (c->route == R_ECHO) {
		if (opt_latency_ns) {
			conn_timer(c, T_ECHO_HEAD, opt_latency_ns);
			c->paused = true;
			return HPE_PAUSED;
		}
		echo_start(c);
	}
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	c->body_bytes += n;
	if (c->route == R_ECHO) {
		if (c->echo_chunked)
			buf_printf(&c->out, "%zx\r\n", n);
		buf_add(&c->out, at, n);
		if (c->echo_chunked)
			buf_add(&c->out, "\r\n", 2);
	}
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct conn *c = p->data;
	c->keep_alive = c->keep_alive && llhttp_should_keep_alive(p);
	if (c->route == R_ECHO) {
		if (c->echo_chunked)
			buf_str(&c->out, "0\r\n\r\n");
		if (!c->keep_alive || c->echo_close) {
			c->stop = true;
			return HPE_PAUSED;
		}
		return 0;
	}
	uint64_t delay = c->route == R_STATS ? 0 : opt_latency_ns;
	if (c->route == R_SLEEP)
		delay += c->arg * 1000000u;
	if (delay) {
		conn_timer(c, T_RESPOND, delay);
		c->paused = true;
		return HPE_PAUSED;
	}
	respond(c);
	return (c->paused || c->stop) ? HPE_PAUSED : 0;
}

/* ---- connection driver ---- */

static void bad_request(struct conn *c)
{
	if (c->stop)
		return; /* a callback already answered (431) */
	if (c->head_started) {
		/* in the middle of a streamed response: all we can do is cut */
		c->out.len = c->out.off = 0;
		c->stop = true;
		return;
	}
	resp_error(c, 400, "bad request\n");
}

static void conn_parse(struct conn *c)
{
	while (c->ipos < c->ilen && !c->paused && !c->stop) {
		const char *start = c->ibuf + c->ipos;
		llhttp_errno_t e = llhttp_execute(&c->p, start, c->ilen - c->ipos);
		if (e == HPE_OK) {
			c->ipos = c->ilen;
			break;
		}
		if (e == HPE_PAUSED) {
			c->ipos += (size_t)(llhttp_get_error_pos(&c->p) - start);
			llhttp_resume(&c->p);
			continue;
		}
		if (e == HPE_PAUSED_UPGRADE) {
			c->ipos += (size_t)(llhttp_get_error_pos(&c->p) - start);
			if (c->p.method == HTTP_CONNECT) {
				c->stop = true;
				break;
			}
			llhttp_init(&c->p, HTTP_REQUEST, &settings);
			c->p.data = c;
			continue;
		}
		bad_request(c);
		break;
	}
	if (c->ipos == c->ilen)
		c->ipos = c->ilen = 0;
}

static int conn_flush(struct conn *c)
{
	for (;;) {
		if (out_pending(c)) {
			ssize_t n =
			        send(c->fd, c->out.p + c->out.off, out_pending(c), MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return errno == EAGAIN ? 0 : -1;
			}
			c->out.off += (size_t)n;
			if (c->out.off == c->out.len) {
				c->out.off = c->out.len = 0;
				if (c->out.cap > 4 * OUT_HIGH) {
					free(c->out.p);
					c->out.p = NULL;
					c->out.cap = 0;
				}
			}
			continue;
		}
		if (!c->gen_active)
			return 0;
		if (c->gen_rem == 0) {
			gen_done(c);
			continue;
		}
		size_t k = c->gen_rem < GEN_CHUNK ? (size_t)c->gen_rem : GEN_CHUNK;
		const char *src = pattern + c->gen_pos % 26;
		if (c->gen_chunked) {
			buf_printf(&c->out, "%zx\r\n", k);
			buf_add(&c->out, src, k);
			buf_add(&c->out, "\r\n", 2);
			c->gen_rem -= k;
			c->gen_pos += k;
			continue;
		}
		ssize_t n = send(c->fd, src, k, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -1;
		}
		c->gen_rem -= (uint64_t)n;
		c->gen_pos += (uint64_t)n;
	}
}

static void conn_run(struct conn *c)
{
	if (c->dead)
		return;
	for (;;) {
		if (!c->paused && !c->stop && c->ipos < c->ilen)
			conn_parse(c);
		if (conn_flush(c) < 0) {
			conn_close(c);
			return;
		}
		if (!c->paused && !c->stop && c->ipos < c->ilen)
			continue;
		break;
	}
	bool busy = out_pending(c) || c->gen_active;
	if (c->hung && !busy) {
		/* only EOF (or an error) ends it; conn_readable drains what comes */
		if (c->eof)
			conn_close(c);
		else
			conn_set_mask(c, EPOLLIN);
		return;
	}
	if (!busy && c->stop && !c->linger) {
		shutdown(c->fd, SHUT_WR);
		c->linger = true;
		conn_timer(c, T_LINGER, (uint64_t)LINGER_MS * 1000000u);
	}
	if (!busy && c->eof && !c->paused) {
		conn_close(c);
		return;
	}
	uint32_t mask = 0;
	if (c->linger ||
	    (!c->stop && !c->eof && !c->paused && c->ilen < IBUF_SIZE && out_pending(c) < OUT_HIGH))
		mask |= EPOLLIN;
	if (busy)
		mask |= EPOLLOUT;
	conn_set_mask(c, mask);
}

static void conn_readable(struct conn *c)
{
	if (c->linger || c->hung) {
		char sink[16384];
		for (;;) {
			ssize_t n = recv(c->fd, sink, sizeof sink, 0);
			if (n > 0)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			conn_close(c);
			return;
		}
	}
	if (c->ipos > 0 && c->ipos < c->ilen) {
		memmove(c->ibuf, c->ibuf + c->ipos, c->ilen - c->ipos);
		c->ilen -= c->ipos;
		c->ipos = 0;
	}
	if (c->ilen == IBUF_SIZE) {
		conn_run(c);
		return;
	}
	ssize_t n = recv(c->fd, c->ibuf + c->ilen, IBUF_SIZE - c->ilen, 0);
	if (n > 0) {
		c->ilen += (size_t)n;
	} else if (n == 0) {
		c->eof = true;
	} else if (errno == EAGAIN || errno == EINTR) {
		return;
	} else {
		conn_close(c);
		return;
	}
	conn_run(c);
}

static void conn_timer_fired(struct conn *c)
{
	uint64_t ticks;
	if (read(c->tfd, &ticks, sizeof ticks) < 0)
		return;
	enum timer_kind kind = c->timer;
	c->timer = T_NONE;
	switch (kind) {
	case T_RESPOND:
		c->paused = false;
		respond(c); /* may pause again for a generator */
		break;
	case T_ECHO_HEAD:
		c->paused = false;
		echo_start(c);
		break;
	case T_LINGER:
		conn_close(c);
		return;
	case T_NONE:
		return;
	}
	conn_run(c);
}

static void accept_all(struct worker *w)
{
	for (;;) {
		int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				struct timespec ts = {0, 1000000};
				nanosleep(&ts, NULL);
			}
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct conn *c = malloc(sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		memset(c, 0, offsetof(struct conn, hbuf));
		c->fd = fd;
		c->tfd = -1;
		c->w = w;
		llhttp_init(&c->p, HTTP_REQUEST, &settings);
		c->p.data = c;
		c->mask = EPOLLIN;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		atomic_fetch_add_explicit(&stat_connections, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&stat_open, 1, memory_order_relaxed);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(w->ep, evs, MAX_EVENTS, -1);
		for (int i = 0; i < n; i++) {
			void *ptr = evs[i].data.ptr;
			uint32_t e = evs[i].events;
			if (ptr == NULL) {
				accept_all(w);
				continue;
			}
			if ((uintptr_t)ptr & 1) {
				struct conn *c = (struct conn *)((char *)ptr - 1);
				if (!c->dead)
					conn_timer_fired(c);
				continue;
			}
			struct conn *c = ptr;
			if (c->dead)
				continue;
			if (e & EPOLLERR) {
				conn_close(c);
				continue;
			}
			if (e & EPOLLOUT)
				conn_run(c);
			if (!c->dead && (e & (EPOLLIN | EPOLLHUP)))
				conn_readable(c);
		}
		while (w->dead) {
			struct conn *c = w->dead;
			w->dead = c->next_dead;
			free(c->out.p);
			free(c);
		}
	}
	return NULL;
}

/* ---- command line ---- */

static uint64_t parse_duration(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v < 0)
		die("bad duration '%s' (use 50ms, 1s, 1.5s, 100us)", s);
	double mul;
	if (strcmp(end, "ns") == 0)
		mul = 1;
	else if (strcmp(end, "us") == 0 || strcmp(end, "\xc2\xb5s") == 0)
		mul = 1e3;
	else if (strcmp(end, "ms") == 0 || *end == 0)
		mul = 1e6;
	else if (strcmp(end, "s") == 0)
		mul = 1e9;
	else if (strcmp(end, "m") == 0)
		mul = 60e9;
	else
		die("bad duration '%s' (use 50ms, 1s, 1.5s, 100us)", s);
	return (uint64_t)(v * mul);
}

static void usage(FILE *f)
{
	fputs("usage: fulcrum-echo -port N [-name S] [-host ADDR] [-threads N] [-fail] "
	      "[-latency D]\n"
	      "                    [-health MODE] [-health-fail MODE] [-health-fail-after D]\n"
	      "                    [-health-flap P]\n"
	      "  -port N      port to listen on (0 = pick a free one and print it)\n"
	      "  -name S      name reported in answers (default echo-PORT)\n"
	      "  -host ADDR   address to bind (default 127.0.0.1)\n"
	      "  -threads N   worker threads, each with its own SO_REUSEPORT socket (default 2)\n"
	      "  -fail        answer 500 to everything but /health and /stats\n"
	      "  -latency D   delay every response (but /stats) by D: 50ms, 1s\n"
	      "health switches (/health answers ok, or while failing in the failure mode):\n"
	      "  -health MODE            how /health answers at start: ok (default), fail (500),\n"
	      "                          hang (read the request, never answer), a status NNN\n"
	      "                          (or status:NNN)\n"
	      "  -health-fail MODE       the failure mode: fail, hang or NNN (default: the "
	      "-health\n"
	      "                          mode if it is not ok, else fail)\n"
	      "  -health-fail-after D    start failing D after start (e.g. 3s)\n"
	      "  -health-flap P          alternate ok / failing every P (e.g. 1s), from -health\n"
	      "  SIGUSR1 starts failing, SIGUSR2 answers ok again; /stats shows health_mode\n"
	      "endpoints: /health /echo /bytes/N[?chunked=1|?close=1] /sink "
	      "/status/NNN[?retry_after=1]\n"
	      "           /sleep/MS /close /trailers /stats, anything else: JSON description\n",
	      f);
}

/* ok | fail | hang | NNN (200..599); ok only when ok_allowed. */
static int parse_health_mode(const char *s, bool ok_allowed)
{
	uint64_t code;

	if (ok_allowed && strcmp(s, "ok") == 0)
		return HM_OK;
	if (strcmp(s, "fail") == 0)
		return HM_FAIL;
	if (strcmp(s, "hang") == 0)
		return HM_HANG;
	if (strncmp(s, "status:", 7) == 0)
		s += 7;
	if (parse_u64(s, strlen(s), 599, &code) && code >= 200)
		return (int)code;
	die("bad health mode '%s' (%sfail, hang or a status 200..599)", s,
	    ok_allowed ? "ok, " : "");
	return HM_OK;
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-')
			die("unexpected argument '%s'", a);
		a += a[1] == '-' ? 2 : 1;
		char key[32];
		const char *val = NULL;
		const char *eq = strchr(a, '=');
		size_t kl = eq ? (size_t)(eq - a) : strlen(a);
		if (kl >= sizeof key)
			die("unknown flag '%s'", argv[i]);
		memcpy(key, a, kl);
		key[kl] = 0;
		if (eq)
			val = eq + 1;
		if (strcmp(key, "h") == 0 || strcmp(key, "help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(key, "fail") == 0) {
			opt_fail = !val || strcmp(val, "true") == 0 || strcmp(val, "1") == 0;
			continue;
		}
		if (!val) {
			if (i + 1 >= argc)
				die("flag -%s needs a value", key);
			val = argv[++i];
		}
		if (strcmp(key, "port") == 0) {
			char *end;
			long v = strtol(val, &end, 10);
			if (*end || v < 0 || v > 65535)
				die("bad port '%s'", val);
			opt_port = (int)v;
		} else if (strcmp(key, "name") == 0) {
			opt_name = val;
		} else if (strcmp(key, "host") == 0) {
			opt_host = val;
		} else if (strcmp(key, "threads") == 0) {
			opt_threads = atoi(val);
			if (opt_threads < 1 || opt_threads > 64)
				die("bad thread count '%s'", val);
		} else if (strcmp(key, "latency") == 0) {
			opt_latency_ns = parse_duration(val);
		} else if (strcmp(key, "health") == 0) {
			opt_health = parse_health_mode(val, true);
		} else if (strcmp(key, "health-fail") == 0) {
			opt_health_fail = parse_health_mode(val, false);
		} else if (strcmp(key, "health-fail-after") == 0) {
			opt_health_fail_after_ns = parse_duration(val);
		} else if (strcmp(key, "health-flap") == 0) {
			opt_health_flap_ns = parse_duration(val);
			if (opt_health_flap_ns == 0)
				die("bad -health-flap '%s' (a period above 0)", val);
		} else {
			usage(stderr);
			die("unknown flag '%s'", argv[i]);
		}
	}
	if (opt_port < 0) {
		usage(stderr);
		die("-port is required");
	}
	if (opt_health_fail == HM_OK)
		opt_health_fail = opt_health != HM_OK ? opt_health : HM_FAIL;
	atomic_init(&health_mode, opt_health);
}

static int listen_on(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)sa, sizeof *sa) < 0)
		die("bind %s:%d: %s", opt_host, ntohs(sa->sin_port), strerror(errno));
	if (listen(fd, 4096) < 0)
		die("listen: %s", strerror(errno));
	return fd;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The main thread: applies SIGUSR1/SIGUSR2 and the timed health switches
 * until SIGINT or SIGTERM. */
static void health_switches(const sigset_t *set)
{
	uint64_t start = now_ns();
	uint64_t fail_at = opt_health_fail_after_ns ? start + opt_health_fail_after_ns : 0;
	uint64_t flip_at = opt_health_flap_ns ? start + opt_health_flap_ns : 0;

	for (;;) {
		uint64_t now = now_ns(), next = fail_at;
		if (flip_at && (!next || flip_at < next))
			next = flip_at;
		int sig;
		if (next) {
			uint64_t wait = next > now ? next - now : 0;
			struct timespec ts = {.tv_sec = (time_t)(wait / 1000000000u),
			                      .tv_nsec = (long)(wait % 1000000000u)};
			sig = sigtimedwait(set, NULL, &ts);
		} else {
			sig = sigwaitinfo(set, NULL);
		}
		if (sig == SIGINT || sig == SIGTERM)
			return;
		if (sig == SIGUSR1)
			atomic_store(&health_mode, opt_health_fail);
		else if (sig == SIGUSR2)
			atomic_store(&health_mode, HM_OK);
		if (sig >= 0)
			continue;
		now = now_ns();
		if (fail_at && now >= fail_at) {
			atomic_store(&health_mode, opt_health_fail);
			fail_at = 0;
		}
		if (flip_at && now >= flip_at) {
			int was = atomic_load(&health_mode);
			atomic_store(&health_mode, was == HM_OK ? opt_health_fail : HM_OK);
			flip_at += opt_health_flap_ns;
		}
	}
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	for (size_t i = 0; i < sizeof pattern; i++)
		pattern[i] = (char)('a' + i % 26);
	llhttp_settings_init(&settings);
	settings.on_message_begin = on_message_begin;
	settings.on_url = on_url;
	settings.on_header_field = on_header_field;
	settings.on_header_value = on_header_value;
	settings.on_headers_complete = on_headers_complete;
	settings.on_body = on_body;
	settings.on_message_complete = on_message_complete;

	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port)};
	if (inet_pton(AF_INET, opt_host, &sa.sin_addr) != 1)
		die("bad host '%s' (an IPv4 address)", opt_host);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct worker *ws = calloc((size_t)opt_threads, sizeof *ws);
	if (!ws)
		die("out of memory");
	for (int i = 0; i < opt_threads; i++) {
		ws[i].lfd = listen_on(&sa);
		if (i == 0 && opt_port == 0) {
			socklen_t len = sizeof sa;
			getsockname(ws[i].lfd, (struct sockaddr *)&sa, &len);
			opt_port = ntohs(sa.sin_port);
		}
		ws[i].ep = epoll_create1(EPOLL_CLOEXEC);
		if (ws[i].ep < 0)
			die("epoll_create1: %s", strerror(errno));
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
		epoll_ctl(ws[i].ep, EPOLL_CTL_ADD, ws[i].lfd, &ev);
	}
	static char defname[32];
	if (!opt_name) {
		snprintf(defname, sizeof defname, "echo-%d", opt_port);
		opt_name = defname;
	}
	for (int i = 0; i < opt_threads; i++)
		if (pthread_create(&ws[i].thr, NULL, worker_main, &ws[i]) != 0)
			die("pthread_create failed");
	printf("fulcrum-echo %s listening on %s:%d\n", opt_name, opt_host, opt_port);
	fflush(stdout);

	health_switches(&set);
	fflush(stdout);
	_exit(0);
}
