/* accesslog.c — one line per request, text or JSON, formatted by hand (the
 * date once per second per worker, integers and milliseconds without printf),
 * gathered per worker and written in whole lines once per loop turn (or when
 * 32 KiB are ready), so lines from several workers never mix and logging
 * costs no syscall per request under load. A pipe, terminal or socket is
 * written without blocking the loop: what it does not take waits, bounded
 * (see docs/architecture.md, Logs). */
#include "proxy/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/proxy.h"
#include "proxy/reqinfo.h"

#define ALOG_BATCH (32u * 1024)   /* written mid-turn once this much waits */
#define ALOG_MAX   (1024u * 1024) /* kept while the reader is slow; beyond, lines drop */
/* Pipes and sockets: a write of at most PIPE_BUF bytes goes in whole or not
 * at all, so writes are cut there at line ends and lines of several workers
 * sharing the pipe never mix. */
#define ALOG_CHUNK         PIPE_BUF
#define ALOG_RETRY_MS      20   /* after a write would block */
#define ALOG_FINAL_WAIT_MS 1000 /* at exit, for a reader that is behind */

enum alog_kind {
	ALOG_FILE,   /* regular file or block device: always ready, plain write() */
	ALOG_STREAM, /* pipe, terminal, character device: a private O_NONBLOCK description */
	ALOG_SOCKET, /* send(MSG_DONTWAIT): no flag changed on a shared description */
};

struct fc_accesslog {
	struct fc_worker *w;
	struct fc_timer retry; /* armed while a write would block */
	struct fc_log_clock clock;
	int fd;     /* where this worker writes; -1 after the last flush */
	int own_fd; /* the reopened description (ALOG_STREAM), or -1 */
	uint8_t kind;
	bool blocked;     /* the reader is behind: wait for the retry timer */
	uint64_t dropped; /* lines dropped since the last warning */
	uint64_t lost;    /* lines lost to write errors since the last warning */
	int lost_errno;
	struct fc_addr ip_of; /* the last client formatted (keep-alive: often the next) */
	char ip[64];
	size_t ip_len;      /* 0: none yet */
	uint64_t warned_ms; /* loop time of the last warning */
	uint32_t len;
	char buf[]; /* ALOG_MAX bytes (touched only as far as used) */
};

/* ------------------------------------------------------------ formatting */

static const char hex[] = "0123456789abcdef";

size_t fc_accesslog_format_u64(char *out, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static size_t format_int(char *out, int v)
{
	if (v >= 0)
		return fc_accesslog_format_u64(out, (uint64_t)v);
	out[0] = '-';
	return 1 + fc_accesslog_format_u64(out + 1, (uint64_t)0 - (uint64_t)(int64_t)v);
}

/* ns % 1000 == 500 is a tie at three decimals of milliseconds. printf saw the
 * double nearest ns / 1e6, which lies above the tie (1), below it (-1) or on
 * it (0, then printf rounds to even). Worked out by long division in
 * binary, as the FPU rounds: the 53-bit quotient, then the remainder. */
static int tie_side(uint64_t ns)
{
	const uint64_t b = 1000000;
	uint64_t m = ns / b, r = ns % b;
	while (m < (1ull << 52)) {
		m <<= 1;
		r <<= 1;
		if (r >= b) {
			r -= b;
			m |= 1;
		}
	}
	if (r == 0)
		return 0;
	if (2 * r != b)
		return 2 * r > b ? 1 : -1;
	return (m & 1) ? 1 : -1; /* the division itself tied: to even */
}

size_t fc_accesslog_format_ms(char *out, uint64_t ns)
{
	/* Below 2^53 the double differs from ns / 1e6 by less than the distance
	 * from any non-tie value to a rounding boundary, so only ties need the
	 * double's side. */
	uint64_t us = ns / 1000;
	unsigned rem = (unsigned)(ns % 1000);
	if (rem > 500) {
		us++;
	} else if (rem == 500) {
		int side = ns < (1ull << 53) ? tie_side(ns) : 1;
		if (side > 0 || (side == 0 && (us & 1)))
			us++;
	}
	size_t n = fc_accesslog_format_u64(out, us / 1000);
	unsigned frac = (unsigned)(us % 1000);
	out[n] = '.';
	out[n + 1] = (char)('0' + frac / 100);
	out[n + 2] = (char)('0' + frac / 10 % 10);
	out[n + 3] = (char)('0' + frac % 10);
	return n + 4;
}

/* Bytes both formats copy as they are: printable ASCII but quote and
 * backslash. */
static inline bool plain(unsigned char c)
{
	return (unsigned char)(c - 0x20) < 0x5f && c != '"' && c != '\\';
}

/* Copies the clean prefix of s[0..n), at most max bytes, to out: most
 * request lines need no escaping at all. */
static size_t copy_plain(char *out, const char *s, size_t n, size_t max)
{
	size_t i = 0;
	if (n > max)
		n = max;
	while (i < n && plain((unsigned char)s[i])) {
		out[i] = s[i];
		i++;
	}
	return i;
}

/* A JSON string body: quotes, backslashes and control bytes escaped. The
 * request line is whatever the client sent, so nothing is trusted. Stops
 * where the old fixed buffers of cap bytes did (a byte is written while
 * o + 7 < cap). */
static size_t json_escape(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = copy_plain(out, s, n, cap - 8);
	for (size_t i = o; i < n && o + 7 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 15];
			o += 6;
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

/* The text format's quoted field: quotes, backslashes, control and non-ASCII
 * bytes become \xHH (as nginx does), so a line never carries a terminal
 * escape or breaks its quoting. Cut as json_escape is (o + 5 < cap). */
static size_t text_escape(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = copy_plain(out, s, n, cap - 6);
	for (size_t i = o; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!plain(c)) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

/* The method and protocol were escaped into 64-byte buffers: the same cut. */
#define ESC_SHORT 64

struct parts {
	const char *m, *p, *v;
	size_t ml, pl, vl;
};

static struct parts split_line(const char *s, size_t len)
{
	const char *end = s + len;
	const char *sp1 = memchr(s, ' ', len);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
	if (!sp1 || !sp2)
		return (struct parts){"-", len ? s : "-", "-", 1, len ? len : 1, 1};
	return (struct parts){s,
	                      sp1 + 1,
	                      sp2 + 1,
	                      (size_t)(sp1 - s),
	                      (size_t)(sp2 - sp1 - 1),
	                      (size_t)(end - sp2 - 1)};
}

size_t fc_accesslog_line_max(const struct fc_accesslog_fields *f)
{
	/* fixed text, numbers and retry reasons: under 700 bytes (under 400
	 * before the fields after total_ms); escaping: at most 6 per byte */
	return 740 + f->client_len + 6 * (f->line_len + f->ua_len) + f->pool_len + f->server_len +
	       (f->rate_limit ? 20 + f->rate_limit_len : 0);
}

struct put {
	char *p;
};

static inline void put(struct put *o, const char *s, size_t n)
{
	memcpy(o->p, s, n);
	o->p += n;
}

/* What goes before each field of a line, and after its last: the text
 * format, then JSON. Both write the same fields in the same order. */
#define SEP(lit)                                                                                   \
	{                                                                                          \
		lit, sizeof(lit) - 1                                                               \
	}
static const struct sep {
	const char *s;
	uint8_t n;
} seps[2][17] = {
        {SEP(""), SEP(" "), SEP(" \""), SEP(" "), SEP(" "), SEP("\" "), SEP(" "), SEP(" pool="),
         SEP(" server="), SEP(" upstream_ms="), SEP(" total_ms="), SEP(" connect_ms="),
         SEP(" head_ms="), SEP(" retries="), SEP(" retry_reasons="), SEP(" user_agent="),
         SEP("\n")},
        {SEP("{\"time\":\""), SEP("\",\"client\":\""), SEP("\",\"method\":\""),
         SEP("\",\"path\":\""), SEP("\",\"proto\":\""), SEP("\",\"status\":"), SEP(",\"bytes\":"),
         SEP(",\"pool\":\""), SEP("\",\"server\":\""), SEP("\",\"upstream_ms\":"),
         SEP(",\"total_ms\":"), SEP(",\"connect_ms\":"), SEP(",\"head_ms\":"), SEP(",\"retries\":"),
         SEP(",\"retry_reasons\":["), SEP(",\"user_agent\":"), SEP("}\n")},
};

static const struct sep tunnel_sep[2] = {SEP(" bytes_in="), SEP(",\"bytes_in\":")};
static const struct sep limit_sep[2] = {SEP(" rate_limit="), SEP(",\"rate_limit\":\"")};

/* The names of enum fc_retry_why. */
static const struct sep reasons[FC_RETRY_N] = {
        SEP("-"),
        SEP("connect_refused"),
        SEP("connect_failed"),
        SEP("connect_timeout"),
        SEP("tls_handshake"),
        SEP("tls"),
        SEP("reset"),
        SEP("eof"),
        SEP("stale"),
        SEP("timeout"),
        SEP("status_502"),
        SEP("status_503"),
        SEP("status_504"),
};

const char *fc_accesslog_retry_name(enum fc_retry_why why)
{
	return (unsigned)why < FC_RETRY_N ? reasons[why].s : "-";
}

/* A field with no value: "-" in text, null in JSON. */
static const struct sep none[2] = {SEP("-"), SEP("null")};

/* A duration that may be missing. */
static void put_ms(struct put *o, bool json, bool has, uint64_t ns)
{
	if (has)
		o->p += fc_accesslog_format_ms(o->p, ns);
	else
		put(o, none[json].s, none[json].n);
}

/* The retry reasons: connect_refused,stale in text ("-" for none), a JSON
 * array's strings (its "[" is the separator's). */
static void put_reasons(struct put *o, bool json, uint8_t retries, uint32_t why)
{
	unsigned n = retries < FC_ACCESSLOG_MAX_REASONS ? retries : FC_ACCESSLOG_MAX_REASONS;
	if (n == 0 && !json)
		put(o, "-", 1);
	for (unsigned i = 0; i < n; i++) {
		unsigned r = (why >> (4 * i)) & 15;
		const struct sep *name = &reasons[r < FC_RETRY_N ? r : FC_RETRY_NONE];
		if (i)
			put(o, ",", 1);
		if (json)
			put(o, "\"", 1);
		put(o, name->s, name->n);
		if (json)
			put(o, "\"", 1);
	}
	if (json)
		put(o, "]", 1);
}

size_t fc_accesslog_format_line(char *out, bool json, const struct fc_accesslog_fields *f)
{
	struct put o = {out};
	struct parts s = split_line(f->line, f->line_len);
	size_t (*esc)(char *, size_t, const char *, size_t) = json ? json_escape : text_escape;
	const struct sep *k = seps[json];
	put(&o, k[0].s, k[0].n);
	put(&o, f->time, FC_LOG_TIMESTAMP_LEN);
	put(&o, k[1].s, k[1].n);
	put(&o, f->client, f->client_len);
	put(&o, k[2].s, k[2].n);
	o.p += esc(o.p, ESC_SHORT, s.m, s.ml);
	put(&o, k[3].s, k[3].n);
	o.p += esc(o.p, 6 * s.pl + 8, s.p, s.pl);
	put(&o, k[4].s, k[4].n);
	o.p += esc(o.p, ESC_SHORT, s.v, s.vl);
	put(&o, k[5].s, k[5].n);
	o.p += format_int(o.p, f->status);
	put(&o, k[6].s, k[6].n);
	o.p += fc_accesslog_format_u64(o.p, f->bytes);
	put(&o, k[7].s, k[7].n);
	put(&o, f->pool, f->pool_len);
	put(&o, k[8].s, k[8].n);
	put(&o, f->server, f->server_len);
	put(&o, k[9].s, k[9].n);
	o.p += fc_accesslog_format_ms(o.p, f->upstream_ns);
	put(&o, k[10].s, k[10].n);
	o.p += fc_accesslog_format_ms(o.p, f->total_ns);
	put(&o, k[11].s, k[11].n);
	put_ms(&o, json, f->has_connect, f->connect_ns);
	put(&o, k[12].s, k[12].n);
	put_ms(&o, json, f->has_head, f->head_ns);
	put(&o, k[13].s, k[13].n);
	o.p += fc_accesslog_format_u64(o.p, f->retries);
	put(&o, k[14].s, k[14].n);
	put_reasons(&o, json, f->retries, f->retry_why);
	put(&o, k[15].s, k[15].n);
	if (f->ua) { /* quoted in both formats, escaped as the request line is */
		put(&o, "\"", 1);
		o.p += esc(o.p, 6 * f->ua_len + 8, f->ua, f->ua_len);
		put(&o, "\"", 1);
	} else {
		put(&o, none[json].s, none[json].n);
	}
	if (f->tunnel) { /* the other direction of a tunnel, last: the one optional field */
		put(&o, tunnel_sep[json].s, tunnel_sep[json].n);
		o.p += fc_accesslog_format_u64(o.p, f->bytes_in);
	}
	if (f->rate_limit) { /* a 429 of a rate limit (never a tunnel): its name */
		put(&o, limit_sep[json].s, limit_sep[json].n);
		put(&o, f->rate_limit, f->rate_limit_len);
		if (json)
			put(&o, "\"", 1);
	}
	put(&o, k[16].s, k[16].n);
	return (size_t)(o.p - out);
}

/* --------------------------------------------------------------- writing */

static void on_retry(struct fc_loop *loop, struct fc_timer *t);

/* The worker's log state, set up on its first line: where and how it writes. */
static struct fc_accesslog *alog_create(struct fc_worker *w)
{
	struct fc_accesslog *a = malloc(sizeof(*a) + ALOG_MAX);
	if (!a)
		return NULL;
	memset(a, 0, sizeof(*a));
	a->w = w;
	a->retry.cb = on_retry;
	fc_log_clock_init(&a->clock);
	a->fd = w->rt->access_fd;
	a->own_fd = -1;
	a->kind = ALOG_FILE;
	struct stat st;
	if (fstat(a->fd, &st) < 0 || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		return a;
	if (S_ISSOCK(st.st_mode)) {
		a->kind = ALOG_SOCKET;
		return a;
	}
	/* A pipe or terminal is often shared (stdout of a shell, 2>&1 with the
	 * error log): setting O_NONBLOCK on it would make other writers fail
	 * with EAGAIN. Opening it again through /proc gives this worker its own
	 * description of the same pipe, whose flags are its own. */
	char path[40];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", a->fd);
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fc_warn("access log: cannot open %s without blocking (%s): writes may block the "
		        "worker",
		        path, strerror(errno));
		return a;
	}
	a->kind = ALOG_STREAM;
	a->fd = a->own_fd = fd;
	return a;
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t k = 0;
	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
		k++;
	return k;
}

/* Writes what the reader takes. Returns false when the rest would block. */
static bool alog_write(struct fc_accesslog *a)
{
	uint32_t off = 0;
	bool ok = true;
	while (off < a->len) {
		const char *p = a->buf + off;
		size_t n = a->len - off;
		if (a->kind != ALOG_FILE && n > ALOG_CHUNK) {
			const char *nl = memrchr(p, '\n', ALOG_CHUNK);
			if (!nl) /* a line longer than PIPE_BUF: whole, not atomic */
				nl = memchr(p, '\n', n);
			n = nl ? (size_t)(nl - p) + 1 : n;
		}
		ssize_t k = a->kind == ALOG_SOCKET ? send(a->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL)
		                                   : write(a->fd, p, n);
		if (k > 0) {
			off += (uint32_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ok = false;
			break;
		}
		/* the reader is gone, the disk is full...: these lines are lost */
		a->lost += count_lines(p, a->len - off);
		a->lost_errno = k < 0 ? errno : EIO;
		off = a->len;
	}
	if (off && off < a->len)
		memmove(a->buf, a->buf + off, a->len - off);
	a->len -= off;
	return ok;
}

static void alog_warn(struct fc_accesslog *a, bool now)
{
	uint64_t t = a->w->loop.now_ms;
	if (!(a->dropped || a->lost) || (!now && a->warned_ms && t - a->warned_ms < 1000))
		return;
	a->warned_ms = t ? t : 1;
	if (a->dropped)
		fc_warn("access log: %llu lines dropped (the log reader is too slow)",
		        (unsigned long long)a->dropped);
	if (a->lost)
		fc_warn("access log: %llu lines lost: %s", (unsigned long long)a->lost,
		        strerror(a->lost_errno));
	a->dropped = a->lost = 0;
}

/* Writes; when the reader is behind, tries again after ALOG_RETRY_MS (not on
 * every turn: a busy worker would spend a failing write per turn). */
static void alog_flush(struct fc_accesslog *a)
{
	if (a->len && !alog_write(a)) {
		a->blocked = true;
		fc_timer_set(&a->w->loop, &a->retry, a->w->loop.now_ms + ALOG_RETRY_MS);
	}
	alog_warn(a, false);
}

static void on_retry(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_accesslog *a =
	        (struct fc_accesslog *)(void *)((char *)t - offsetof(struct fc_accesslog, retry));
	(void)loop;
	a->blocked = false;
	alog_flush(a);
}

/* The worker stops: give a reader that is behind a moment, then close. */
static void alog_final(struct fc_accesslog *a)
{
	fc_timer_cancel(&a->w->loop, &a->retry);
	uint64_t until = fc_time_ns() + (uint64_t)ALOG_FINAL_WAIT_MS * 1000000;
	while (a->len && !alog_write(a)) {
		uint64_t now = fc_time_ns();
		if (now >= until)
			break;
		struct pollfd pfd = {.fd = a->fd, .events = POLLOUT};
		if (poll(&pfd, 1, (int)((until - now) / 1000000) + 1) <= 0)
			break;
	}
	a->dropped += count_lines(a->buf, a->len);
	a->len = 0;
	alog_warn(a, true);
	if (a->own_fd >= 0)
		close(a->own_fd);
	a->own_fd = a->fd = -1;
}

void fc_accesslog_flush(struct fc_worker *w)
{
	struct fc_accesslog *a = w->alog;
	if (!a || a->fd < 0)
		return;
	if (w->loop.stop)
		alog_final(a); /* after the loop: the worker's last flush */
	else if (!a->blocked)
		alog_flush(a);
}

void fc_accesslog_write(struct fc_exchange *r, uint64_t now_ns)
{
	struct fc_client *s = r->c;
	struct fc_worker *w = s->w;
	r->logged = true;
	if (w->rt->access_fd < 0)
		return;
	struct fc_accesslog *a = w->alog;
	if (!a) {
		a = w->alog = alog_create(w);
		if (!a)
			return;
	}
	if (a->fd < 0)
		return;
	if (a->len > ALOG_BATCH && !a->blocked)
		alog_flush(a);
	char ts[FC_LOG_TIMESTAMP_LEN];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	fc_log_format_time(&a->clock, (int64_t)now.tv_sec, (uint32_t)(now.tv_nsec / 1000000), ts);
	const struct fc_addr *ip = r->client.family ? &r->client : &s->peer;
	if (!a->ip_len || memcmp(ip, &a->ip_of, sizeof(*ip)) != 0) {
		fc_req_format_ip(ip, a->ip, sizeof(a->ip));
		a->ip_len = strlen(a->ip);
		a->ip_of = *ip;
	}
	const char *pool = r->pool ? r->pool->cfg->name : "-";
	const char *server = r->server_name[0] ? r->server_name : "-";
	const char *limit = r->limited_by && r->limited_by <= r->rt->n_limits
	                            ? r->rt->limits[r->limited_by - 1].cfg->name
	                            : NULL;
	struct fc_accesslog_fields f = {
	        .time = ts,
	        .client = a->ip,
	        .client_len = a->ip_len,
	        .line = r->line,
	        .line_len = r->line_len,
	        .status = r->status,
	        .bytes = r->bytes_out,
	        .pool = pool,
	        .pool_len = strlen(pool),
	        .server = server,
	        .server_len = strlen(server),
	        .upstream_ns = r->up_start_ns ? now_ns - r->up_start_ns : 0,
	        .total_ns = now_ns - r->start_ns,
	        .connect_ns = r->up_conn_ns - r->up_start_ns,
	        .has_connect = r->up_conn_ns != 0,
	        .head_ns = r->up_head_ns - r->start_ns,
	        .has_head = r->up_head_ns != 0,
	        .retries = r->retries,
	        .retry_why = r->retry_why,
	        .ua = r->has_ua ? r->ua : NULL,
	        .ua_len = r->ua_len,
	        .tunnel = r->phase == FC_X_TUNNEL,
	        .bytes_in = r->bytes_in,
	        .rate_limit = limit,
	        .rate_limit_len = limit ? strlen(limit) : 0,
	};
	size_t need = fc_accesslog_line_max(&f);
	if (need > ALOG_MAX - a->len) {
		a->dropped++; /* the reader is that far behind: the whole line goes */
		return;
	}
	a->len += (uint32_t)fc_accesslog_format_line(a->buf + a->len,
	                                             w->cfg->access_format == FC_ACCESS_JSON, &f);
}
