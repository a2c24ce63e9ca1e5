/* health_check.c — active checks on the control thread's loop: a
 * non-blocking connect of our own, an HTTP/1.1 request with Connection:
 * close (or nothing, for tcp), the response head parsed with the h1 codec,
 * the body searched for health.body (grpc: the HTTP/2 exchange of
 * health_grpc.c); one check at a time per server, each bounded by
 * timeout_ms. The verdict goes to the state machine. */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sock.h"
#include "health/grpc.h"
#include "health/health_internal.h"
#include "tls/tls.h"

#define CHECK_OF_IO(io)                                                                            \
	((struct fc_health_server *)((char *)(io)-offsetof(struct fc_health_server, ck.s.io)))
#define CHECK_OF_NEXT(t)                                                                           \
	((struct fc_health_server *)((char *)(t)-offsetof(struct fc_health_server, ck.next)))
#define CHECK_OF_DEADLINE(t)                                                                       \
	((struct fc_health_server *)((char *)(t)-offsetof(struct fc_health_server, ck.deadline)))

static void on_io(struct fc_loop *loop, struct fc_io *io, uint32_t events);

/* A wake's probe of a server without checks has no timeout of its own. */
static uint32_t check_timeout_ms(const struct fc_health_server *hs)
{
	return hs->hc.type == FC_HEALTH_NONE || !hs->hc.timeout_ms ? 1000 : hs->hc.timeout_ms;
}
static void on_next(struct fc_loop *loop, struct fc_timer *t);
static void on_deadline(struct fc_loop *loop, struct fc_timer *t);

static unsigned elapsed_ms(const struct fc_health_server *hs)
{
	return (unsigned)((fc_time_ns() - hs->ck.start_ns) / 1000000ull);
}

static bool in_ranges(const struct fc_config_status_range *r, size_t n, int status)
{
	for (size_t i = 0; i < n; i++)
		if (status >= r[i].lo && status <= r[i].hi)
			return true;
	return false;
}

static bool status_expected(const struct fc_health_server *hs, int status)
{
	if (hs->hc.n_expect == 0)
		return status >= 200 && status <= 399;
	return in_ranges(hs->hc.expect, hs->hc.n_expect, status);
}

static void close_conn(struct fc_health_server *hs)
{
	struct fc__health_check *ck = &hs->ck;
	if (ck->s.io.fd >= 0) {
		/* reset rather than FIN: a check every second to the same server
		 * would otherwise pile up TIME_WAIT sockets on our side */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(ck->s.io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		fc_stream_close(hs->h->loop, &ck->s); /* epoll: close(2) leaves the set */
		ck->s.io.fd = -1;
	}
	fc__health_grpc_end(hs);
	fc_timer_cancel(hs->h->loop, &ck->deadline);
	free(ck->buf);
	ck->buf = NULL;
	ck->phase = FC__CHECK_IDLE;
}

/* Ends the running check with a verdict, feeds the machine and arms the
 * next one, interval (or fast_interval) after this one began. */
static void finish(struct fc_health_server *hs, enum fc__health_verdict v, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void finish(struct fc_health_server *hs, enum fc__health_verdict v, const char *fmt, ...)
{
	struct fc_loop *loop = hs->h->loop;
	char text[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	uint64_t latency = fc_time_ns() - hs->ck.start_ns;
	uint64_t started_ms = hs->ck.start_ns / 1000000ull;
	close_conn(hs);
	fc__health_on_check(hs, v, text, latency, loop->now_ns);
	uint64_t when = started_ms + fc__health_next_gap_ms(hs);
	/* the loop clock and fc_time_ns are the same monotonic clock */
	if (when <= loop->now_ms)
		when = loop->now_ms + 1;
	fc_timer_set(loop, &hs->ck.next, when);
}

static void errno_text(const char *what, int err, char *buf, size_t cap)
{
	if (err == ECONNREFUSED)
		snprintf(buf, cap, "connect refused");
	else if (err == ECONNRESET)
		snprintf(buf, cap, "connection reset during %s", what);
	else
		snprintf(buf, cap, "%s failed: %s", what, strerror(err));
}

static void fail_errno(struct fc_health_server *hs, const char *what, int err)
{
	char text[128];
	errno_text(what, err, text, sizeof(text));
	finish(hs, FC__HEALTH_FAIL, "%s", text);
}

void fc__health_check_io_text(struct fc_health_server *hs, const char *what, int err, char *buf,
                              size_t cap)
{
	const char *why = fc_tls_failure(hs->h->loop, &hs->ck.s);
	if (why)
		snprintf(buf, cap, "TLS: %s", why);
	else
		errno_text(what, err, buf, cap);
}

/* A failed connect, send or receive: TLS says why when it was TLS. */
static void fail_io(struct fc_health_server *hs, const char *what, int err)
{
	char text[128];
	fc__health_check_io_text(hs, what, err, text, sizeof(text));
	finish(hs, FC__HEALTH_FAIL, "%s", text);
}

static void begin(struct fc_health_server *hs)
{
	struct fc__health_check *ck = &hs->ck;
	struct fc_loop *loop = hs->h->loop;
	ck->start_ns = fc_time_ns();
	ck->connected_ns = 0;
	ck->len = 0;
	ck->body_seen = 0;
	ck->body_found = false;
	ck->carry_len = 0;
	ck->status = 0;
	ck->req_off = 0;
	ck->phase = FC__CHECK_CONNECTING;
	enum fc_health_type type = fc__health_check_type(hs);
	if (type == FC_HEALTH_HTTP || type == FC_HEALTH_GRPC) {
		ck->buf = malloc(FC__HEALTH_HEAD_MAX);
		if (!ck->buf) {
			finish(hs, FC__HEALTH_FAIL, "out of memory");
			return;
		}
		fc_h1_init(&ck->h1, true);
	}
	const struct sockaddr *sa = (const struct sockaddr *)&hs->addr;
	memset(&ck->s, 0, sizeof(ck->s));
	ck->s.io.fd = -1;
	ck->s.io.cb = on_io;
	/* over TLS a check offers in ALPN what it speaks: h2 alone for grpc
	 * (gRPC servers want it), http/1.1 for http, also in a pool whose
	 * requests go in HTTP/2; tcp the pool's offer */
	const char *alpn = hs->hc.type == FC_HEALTH_GRPC   ? "h2"
	                   : hs->hc.type == FC_HEALTH_HTTP ? "http/1.1"
	                                                   : NULL;
	int rc = hs->tls ? fc_tls_connect_alpn(loop, &ck->s, sa, hs->addr_len, hs->tls,
	                                       hs->tls_host, alpn)
	                 : fc_stream_connect(loop, &ck->s, sa, hs->addr_len);
	if (rc < 0) {
		ck->s.io.fd = -1;
		fail_errno(hs, "connect", -rc);
		return;
	}
	/* from the real start, rounded up: the loop's cached clock may lag */
	fc_timer_set(loop, &ck->deadline, ck->start_ns / 1000000ull + check_timeout_ms(hs) + 1);
}

static void on_next(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_health_server *hs = CHECK_OF_NEXT(t);
	if (hs->ck.phase != FC__CHECK_IDLE)
		return;
	if (hs->asleep && !hs->waking) {
		/* stopped on purpose: not checked, looked at again later */
		if (hs->hc.type != FC_HEALTH_NONE)
			fc_timer_set(loop, t, loop->now_ms + hs->hc.interval_ms);
		return;
	}
	if (fc__health_check_type(hs) == FC_HEALTH_NONE)
		return; /* a wake's probe that ended */
	begin(hs);
}

static void on_deadline(struct fc_loop *loop, struct fc_timer *t)
{
	(void)loop;
	struct fc_health_server *hs = CHECK_OF_DEADLINE(t);
	const char *where;
	switch (hs->ck.phase) {
	case FC__CHECK_CONNECTING: {
		/* over TLS this phase is the connect and the handshake: say which
		 * one stalled (a connected socket has a peer) */
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		bool tcp_up = hs->tls &&
		              getpeername(hs->ck.s.io.fd, (struct sockaddr *)&peer, &plen) == 0;
		where = tcp_up ? "connected, TLS handshake not finished" : "connecting";
		break;
	}
	case FC__CHECK_SENDING:
		where = "connected, request not sent";
		break;
	case FC__CHECK_HEAD:
		where = hs->ck.len ? "connected, response head incomplete" : "connected, no answer";
		break;
	case FC__CHECK_BODY:
		where = "reading the body";
		break;
	case FC__CHECK_GRPC:
		where = fc__health_grpc_where(hs);
		break;
	default:
		return;
	}
	hs->ck.timed_out = true;
	finish(hs, FC__HEALTH_FAIL, "timeout after %u ms (%s)", check_timeout_ms(hs), where);
	hs->ck.timed_out = false;
}

/* Decoded body bytes: looks for hc.body, across reads too (carry keeps the
 * last strlen(body)-1 bytes), in the first FC__HEALTH_BODY_MAX bytes. */
static void on_body(void *ctx, const char *at, size_t len)
{
	struct fc_health_server *hs = ctx;
	struct fc__health_check *ck = &hs->ck;
	if (ck->body_found || ck->body_seen >= FC__HEALTH_BODY_MAX)
		return;
	if (len > FC__HEALTH_BODY_MAX - ck->body_seen)
		len = FC__HEALTH_BODY_MAX - ck->body_seen;
	ck->body_seen += len;
	const char *needle = hs->hc.body;
	size_t blen = strlen(needle), keep = blen - 1;
	if (memmem(at, len, needle, blen)) {
		ck->body_found = true;
		return;
	}
	if (keep == 0)
		return;
	size_t take = len < keep ? len : keep;
	memcpy(ck->carry + ck->carry_len, at, take);
	size_t wl = ck->carry_len + take;
	if (memmem(ck->carry, wl, needle, blen)) {
		ck->body_found = true;
		return;
	}
	if (len >= keep) {
		memcpy(ck->carry, at + len - keep, keep);
		ck->carry_len = keep;
	} else if (wl > keep) {
		memmove(ck->carry, ck->carry + wl - keep, keep);
		ck->carry_len = keep;
	} else {
		ck->carry_len = wl;
	}
}

static void body_missing(struct fc_health_server *hs)
{
	finish(hs, FC__HEALTH_FAIL, "body does not contain \"%s\" (HTTP %d on %s %s)", hs->hc.body,
	       hs->ck.status, hs->hc.method, hs->hc.path);
}

/* Feeds body bytes; returns true when the check finished. */
static bool feed_body(struct fc_health_server *hs, const char *data, size_t n)
{
	struct fc__health_check *ck = &hs->ck;
	const char *err = NULL;
	size_t consumed = 0;
	int r = fc_h1_body(&ck->h1, data, n, &consumed, on_body, hs, &err);
	if (ck->body_found) {
		finish(hs, FC__HEALTH_PASS, "HTTP %d in %u ms", ck->status, elapsed_ms(hs));
		return true;
	}
	if (r == FC_H1_ERROR) {
		finish(hs, FC__HEALTH_FAIL, "bad response body: %s", err ? err : "?");
		return true;
	}
	if (r == FC_H1_COMPLETE || ck->body_seen >= FC__HEALTH_BODY_MAX) {
		body_missing(hs);
		return true;
	}
	return false;
}

/* A complete response head in buf[0..hl). Returns true when the check finished. */
static bool on_head(struct fc_health_server *hs, size_t hl)
{
	struct fc__health_check *ck = &hs->ck;
	struct fc_h1_head *head = &hs->h->scratch;
	const char *err = NULL;
	bool head_req = strcmp(hs->hc.method, "HEAD") == 0;
	int r = fc_h1_parse_head(&ck->h1, ck->buf, hl, head, head_req, &err);
	if (r == FC_H1_ERROR) {
		finish(hs, FC__HEALTH_FAIL, "bad response head: %s", err ? err : "?");
		return true;
	}
	int st = head->status;
	if (st < 200) {
		/* an interim response (100, 103): the real one follows */
		memmove(ck->buf, ck->buf + hl, ck->len - hl);
		ck->len -= hl;
		fc_h1_init(&ck->h1, true);
		return false;
	}
	ck->status = st;
	if (hs->hc.n_lame_duck && in_ranges(hs->hc.lame_duck, hs->hc.n_lame_duck, st)) {
		finish(hs, FC__HEALTH_LAME, "HTTP %d", st);
		return true;
	}
	if (!status_expected(hs, st)) {
		finish(hs, FC__HEALTH_FAIL, "HTTP %d on %s %s in %u ms", st, hs->hc.method,
		       hs->hc.path, elapsed_ms(hs));
		return true;
	}
	if (!hs->hc.body || !hs->hc.body[0]) {
		finish(hs, FC__HEALTH_PASS, "HTTP %d in %u ms", st, elapsed_ms(hs));
		return true;
	}
	if (r == FC_H1_COMPLETE) {
		body_missing(hs);
		return true;
	}
	ck->phase = FC__CHECK_BODY;
	size_t rest = ck->len - hl;
	ck->len = 0;
	return rest && feed_body(hs, ck->buf + hl, rest);
}

/* Reads until EAGAIN or a verdict. The head accumulates in the buffer; body
 * bytes are looked at (feed_body) and dropped. */
static void do_read(struct fc_health_server *hs)
{
	struct fc__health_check *ck = &hs->ck;
	while (ck->phase == FC__CHECK_HEAD || ck->phase == FC__CHECK_BODY) {
		bool head = ck->phase == FC__CHECK_HEAD;
		if (head && ck->len == FC__HEALTH_HEAD_MAX) {
			finish(hs, FC__HEALTH_FAIL, "response head over %u bytes",
			       FC__HEALTH_HEAD_MAX);
			return;
		}
		size_t from = head ? ck->len : 0;
		ssize_t n = fc_stream_recv(hs->h->loop, &ck->s, ck->buf + from,
		                           FC__HEALTH_HEAD_MAX - from);
		if (n < 0) {
			if (n != -EAGAIN)
				fail_io(hs, "read", (int)-n);
			return;
		}
		if (n == 0) {
			if (head)
				finish(hs, FC__HEALTH_FAIL, "%s",
				       ck->len ? "connection closed in the response head"
				               : "connection closed without an answer");
			else if (fc_h1_eof(&ck->h1) != FC_H1_COMPLETE)
				finish(hs, FC__HEALTH_FAIL, "connection closed in the body");
			else
				body_missing(hs);
			return;
		}
		if (!head) {
			if (feed_body(hs, ck->buf, (size_t)n))
				return;
			continue;
		}
		ck->len += (size_t)n;
		size_t hl;
		while (ck->phase == FC__CHECK_HEAD &&
		       (hl = fc_h1_head_end(ck->buf, ck->len, from)) > 0) {
			if (on_head(hs, hl))
				return;
			from = 0;
		}
	}
}

/* A grpc check's connection is up: HTTP/2 from here on (over TLS only if
 * the server chose h2: an HTTP/1.1 server behind https:// chooses nothing
 * or refuses the handshake). */
static void start_grpc(struct fc_health_server *hs)
{
	/* h2 was the only protocol offered: the server chose it or nothing */
	if (hs->tls && !fc_tls_alpn_h2(hs->h->loop, &hs->ck.s)) {
		finish(hs, FC__HEALTH_FAIL, "TLS: the server chose no protocol in ALPN, not h2");
		return;
	}
	hs->ck.phase = FC__CHECK_GRPC;
	enum fc__health_verdict v;
	char text[128];
	if (fc__health_grpc_start(hs, &v, text, sizeof(text)))
		finish(hs, v, "%s", text);
}

static void on_io(struct fc_loop *loop, struct fc_io *io, uint32_t events)
{
	struct fc_health_server *hs = CHECK_OF_IO(io);
	struct fc__health_check *ck = &hs->ck;
	if (ck->phase == FC__CHECK_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int err = fc_stream_connect_result(loop, &ck->s);
		if (err < 0) {
			fail_io(hs, "connect", -err);
			return;
		}
		fc_stream_connected(loop, &ck->s);
		if (!(events & EPOLLOUT)) {
			finish(hs, FC__HEALTH_FAIL, "connection closed while connecting");
			return;
		}
		ck->connected_ns = fc_time_ns();
		if (fc__health_check_type(hs) == FC_HEALTH_TCP) {
			finish(hs, FC__HEALTH_PASS, "TCP connect in %u ms", elapsed_ms(hs));
			return;
		}
		if (hs->hc.type == FC_HEALTH_GRPC) {
			start_grpc(hs);
			return;
		}
		ck->phase = FC__CHECK_SENDING;
	}
	if (ck->phase == FC__CHECK_GRPC) {
		enum fc__health_verdict v;
		char text[128];
		if (fc__health_grpc_io(hs, events, &v, text, sizeof(text)))
			finish(hs, v, "%s", text);
		return;
	}
	if (ck->phase == FC__CHECK_SENDING) {
		while (ck->req_off < hs->request_len) {
			struct iovec v = {hs->request + ck->req_off, hs->request_len - ck->req_off};
			ssize_t n = fc_stream_send(loop, &ck->s, &v, 1);
			if (n == -EAGAIN || n == 0)
				return;
			if (n < 0) {
				fail_io(hs, "send", (int)-n);
				return;
			}
			ck->req_off += (size_t)n;
		}
		ck->phase = FC__CHECK_HEAD;
	}
	if (ck->phase == FC__CHECK_HEAD || ck->phase == FC__CHECK_BODY)
		do_read(hs);
}

int fc__health_check_prepare(struct fc_health_server *hs, const struct fc_config_server *cs)
{
	hs->ck.s.io.fd = -1;
	hs->ck.s.io.cb = on_io;
	hs->ck.next.cb = on_next;
	hs->ck.deadline.cb = on_deadline;
	if (hs->hc.type != FC_HEALTH_HTTP && hs->hc.type != FC_HEALTH_GRPC)
		return 0;
	char hostport[300];
	if (hs->hc.host && hs->hc.host[0]) {
		snprintf(hostport, sizeof(hostport), "%s", hs->hc.host);
	} else if (cs && cs->host && cs->host[0]) {
		bool v6 = strchr(cs->host, ':') != NULL && cs->host[0] != '[';
		snprintf(hostport, sizeof(hostport), v6 ? "[%s]:%u" : "%s:%u", cs->host,
		         (unsigned)(cs->port ? cs->port : 80));
	} else {
		/* no host name: the traffic address (before any health port override) */
		fc_sock_format(cs ? (const struct sockaddr *)&cs->addr
		                  : (const struct sockaddr *)&hs->addr,
		               hostport, sizeof(hostport));
	}
	if (hs->hc.type == FC_HEALTH_GRPC) {
		/* :authority as the Host header would be; the framed HealthCheckRequest */
		const char *svc = hs->hc.service ? hs->hc.service : "";
		size_t cap = FC__GRPC_CHECK_REQUEST_MAX(strlen(svc));
		hs->authority = strdup(hostport);
		hs->request = malloc(cap);
		if (!hs->authority || !hs->request)
			return -ENOMEM;
		hs->request_len = fc__grpc_check_request(svc, (uint8_t *)hs->request, cap);
		return 0;
	}
	int n = snprintf(NULL, 0,
	                 "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: fulcrum-health\r\n"
	                 "Connection: close\r\n\r\n",
	                 hs->hc.method, hs->hc.path, hostport);
	hs->request = malloc((size_t)n + 1);
	if (!hs->request)
		return -ENOMEM;
	snprintf(hs->request, (size_t)n + 1,
	         "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: fulcrum-health\r\n"
	         "Connection: close\r\n\r\n",
	         hs->hc.method, hs->hc.path, hostport);
	hs->request_len = (size_t)n;
	if (hs->hc.body && strlen(hs->hc.body) > 1) {
		hs->ck.carry = malloc(2 * strlen(hs->hc.body));
		if (!hs->ck.carry)
			return -ENOMEM;
	}
	return 0;
}

void fc__health_check_schedule_first(struct fc_health_server *hs)
{
	struct fc_loop *loop = hs->h->loop;
	uint64_t off = fc_rng_below(&hs->h->rng, hs->hc.interval_ms);
	fc_timer_set(loop, &hs->ck.next, loop->now_ms + off + 1);
}

void fc__health_check_soon(struct fc_health_server *hs)
{
	if (!hs->h->started || hs->hc.type == FC_HEALTH_NONE)
		return;
	if (hs->ck.phase != FC__CHECK_IDLE)
		return; /* the running check arms the next one at the fast pace */
	struct fc_loop *loop = hs->h->loop;
	uint64_t when = loop->now_ms + hs->hc.fast_interval_ms;
	if (!hs->ck.next.slot || hs->ck.next.when > when)
		fc_timer_set(loop, &hs->ck.next, when);
}

void fc__health_check_now(struct fc_health_server *hs)
{
	if (!hs->h->started || hs->ck.phase != FC__CHECK_IDLE)
		return; /* a running one gives its verdict first */
	struct fc_loop *loop = hs->h->loop;
	fc_timer_set(loop, &hs->ck.next, loop->now_ms + 1);
}

enum fc_health_type fc__health_check_type(const struct fc_health_server *hs)
{
	if (hs->hc.type == FC_HEALTH_NONE && hs->waking)
		return FC_HEALTH_TCP;
	return hs->hc.type;
}

void fc__health_check_stop(struct fc_health_server *hs)
{
	close_conn(hs); /* a server without checks may have a wake's probe running */
	fc_timer_cancel(hs->h->loop, &hs->ck.next);
}
