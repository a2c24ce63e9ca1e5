/* admin.c — the admin listener: non-blocking sockets on the control thread's
 * epoll loop, requests parsed by fulcrum's strict parser (h1.h), the client
 * side's limits (header timeout, keep-alive idle timeout, max header size;
 * bodies up to FC_ADMIN_MAX_BODY), keep-alive and Connection: close, at most
 * FC_ADMIN_MAX_CONNS connections. A request parked by ?wait=removable stops
 * its connection (not the listener) until it is answered. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin/admin_internal.h"
#include "core/log.h"
#include "http/h1_write.h"
#include "proxy/proxy.h"

enum conn_state {
	C_IDLE,   /* between requests (keep-alive) */
	C_HEAD,   /* a request head is arriving */
	C_BODY,   /* its body is arriving */
	C_PARKED, /* waiting for ?wait=removable */
	C_FLUSH,  /* the last response goes out, then close */
	C_LINGER, /* sent, write side shut: input is read and dropped until EOF */
};

#define LINGER_MS 2000 /* at most this long: a client still sending gets our answer first */

struct fc_admin_conn {
	struct fc_io io; /* first: the loop's pointer is the connection's */
	struct fc_timer timer;
	struct fc_admin *a;
	struct fc_admin_conn *next, *prev;
	enum conn_state state;
	struct fc_h1 parser;
	char *in;
	size_t in_len, in_cap;
	struct fc_json out; /* bytes to send */
	size_t out_off;
	/* the request being read (its head's bytes are gone once parsed: what
	 * is needed was copied) */
	char *body;
	size_t body_len;
	bool body_too_big, keep_alive, continue_sent;
	uint8_t method;
	char url[FC_ADMIN_MAX_URL + 1];
	size_t url_len;
	char auth[512];
	size_t auth_len;
	bool has_auth, head_method;
	/* parked */
	struct fc_admin_route wait_route;
	uint64_t wait_deadline_ms;
	bool eof;
};

static void conn_close(struct fc_admin_conn *c);
static void conn_run(struct fc_admin_conn *c);

/* ---------------------------------------------------------------- helpers */

double fc_admin_wall(uint64_t mono_ns)
{
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	double now = (double)rt.tv_sec + (double)rt.tv_nsec / 1e9;
	uint64_t mono = fc_time_ns();
	return now - (mono > mono_ns ? (double)(mono - mono_ns) / 1e9 : 0.0);
}

void fc_admin_rfc3339(double unix_s, char *buf, size_t len)
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

double fc_admin_pool_started(struct fc_admin *a, const char *name)
{
	for (size_t i = 0; i < a->n_seen; i++)
		if (strcmp(a->seen[i].name, name) == 0)
			return a->seen[i].started;
	struct fc_admin_pool_seen *v = realloc(a->seen, (a->n_seen + 1) * sizeof(*v));
	double now = fc_admin_wall(fc_time_ns());
	if (!v)
		return now;
	a->seen = v;
	if (!(v[a->n_seen].name = strdup(name)))
		return now;
	v[a->n_seen++].started = now;
	return now;
}

void fc_admin_error(struct fc_admin_resp *r, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->status = status;
	r->content_type = NULL;
	fc_json_fini(&r->body);
	fc_json_obj(&r->body);
	fc_json_kstr(&r->body, "error", msg);
	fc_json_obj_end(&r->body);
}

void fc_admin_current(struct fc_admin *a, struct fc_admin_view *v)
{
	memset(v, 0, sizeof(*v));
	a->hooks.view(a->hooks.arg, v);
	/* a reload brought a new config: its journal is the one on disk now */
	if (v->rt && v->rt->cfg != a->journal_cfg) {
		struct fc_journal j;
		char err[512];
		const char *text = v->rt->cfg->journal;
		if (!text) {
			fc_journal_fini(&a->journal);
		} else if (fc_journal_parse(text, strlen(text), &j, err, sizeof(err)) == 0) {
			fc_journal_fini(&a->journal);
			a->journal = j;
		} else {
			fc_error("admin: the journal of the running configuration: %s", err);
		}
		a->journal_cfg = v->rt->cfg;
	}
}

/* ---------------------------------------------------------------- responses */

/* Queues r as the response on c (close: Connection: close, then close). */
static void queue_response(struct fc_admin_conn *c, struct fc_admin_resp *r, bool close)
{
	struct fc_json *o = &c->out;
	if (!fc_json_ok(&r->body) && r->body.len) {
		/* the writer ran out of memory or was misused: no half answer */
		fc_admin_error(r, 500, "the answer could not be written");
	}
	if (!r->content_type && r->body.len)
		fc_json_raw(&r->body, "\n", 1);
	fc_json_printf(o, "HTTP/1.1 %d %s\r\n", r->status, fc_h1_reason(r->status));
	fc_json_printf(o, "Content-Type: %s\r\n",
	               r->content_type ? r->content_type : "application/json");
	fc_json_printf(o, "Content-Length: %zu\r\n", r->body.len);
	fc_json_printf(o, "Cache-Control: no-store\r\n");
	if (r->csp)
		fc_json_printf(o, "Content-Security-Policy: %s\r\n", r->csp);
	if (r->allow)
		fc_json_printf(o, "Allow: %s\r\n", r->allow);
	if (r->www_authenticate)
		fc_json_printf(o, "WWW-Authenticate: Bearer realm=\"fulcrum admin\"\r\n");
	if (close)
		fc_json_printf(o, "Connection: close\r\n");
	fc_json_raw(o, "\r\n", 2);
	if (!c->head_method)
		fc_json_raw(o, fc_json_text(&r->body), r->body.len);
	fc_json_fini(&r->body);
	if (close)
		c->state = C_FLUSH;
}

/* An error before or while reading the request: answer it and close. */
static void fail_request(struct fc_admin_conn *c, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void fail_request(struct fc_admin_conn *c, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct fc_admin_resp r = {0};
	fc_admin_error(&r, status, "%s", msg);
	queue_response(c, &r, true);
}

/* ---------------------------------------------------------------- dispatch */

static bool method_write(unsigned m)
{
	return m & (FC_ADMIN_M_POST | FC_ADMIN_M_PATCH | FC_ADMIN_M_DELETE);
}

static void dispatch(struct fc_admin_conn *c, struct fc_admin_resp *r)
{
	struct fc_admin *a = c->a;
	struct fc_admin_req req = {0};
	const char *why = NULL;
	int rc = fc_admin_route(c->url, c->url_len, &req.route, &why);
	if (rc == FC_ADMIN_ROUTE_NOT_FOUND) {
		fc_admin_error(r, 404, "no such endpoint: %.200s", why ? why : "");
		return;
	}
	if (rc == FC_ADMIN_ROUTE_BAD) {
		fc_admin_error(r, 400, "bad URL: %s", why ? why : "malformed");
		return;
	}
	req.method = fc_admin_method_bit(c->method);
	if (!(req.method & fc_admin_route_methods(req.route.id))) {
		r->allow = fc_admin_route_allow(req.route.id);
		fc_admin_error(r, 405, "%s is not allowed here (allowed: %s)",
		               llhttp_method_name((llhttp_method_t)c->method), r->allow);
		return;
	}
	if (method_write(req.method)) {
		if (!a->token.set) {
			fc_admin_error(r, 403,
			               "the admin API is read-only: no token is configured "
			               "(admin.token_file or FULCRUM_ADMIN_TOKEN)");
			return;
		}
		if (!fc_admin_token_check(&a->token, c->auth, c->has_auth ? c->auth_len : 0)) {
			r->www_authenticate = true;
			fc_admin_error(r, 401,
			               c->has_auth ? "wrong token"
			                           : "this needs Authorization: Bearer <token>");
			return;
		}
		req.authorized = true;
	}
	req.has_auth = c->has_auth;
	req.body = c->body ? c->body : "";
	req.body_len = c->body_len;
	switch (req.route.id) {
	case FC_ADMIN_R_INDEX:
		fc_admin_status_page(r);
		return;
	case FC_ADMIN_R_METRICS:
		fc_admin_metrics(a, r);
		return;
	case FC_ADMIN_R_LB:
		fc_admin_lb_metrics(a, r);
		return;
	default:
		fc_admin_api(a, &req, r);
		return;
	}
}

/* Drops n bytes from the front of the input. */
static void consume(struct fc_admin_conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* The request is all there: answer it (or park it). */
static void handle(struct fc_admin_conn *c)
{
	struct fc_admin_resp r = {0};
	dispatch(c, &r);
	free(c->body);
	c->body = NULL;
	c->body_len = 0;
	if (r.park) {
		/* the route is kept: the answer comes from the tick */
		fc_admin_route(c->url, c->url_len, &c->wait_route, &(const char *){NULL});
		c->wait_deadline_ms = r.park_deadline_ms;
		c->state = C_PARKED;
		fc_json_fini(&r.body);
		fc_timer_cancel(c->a->loop, &c->timer);
		if (!c->a->tick.slot)
			fc_timer_set(c->a->loop, &c->a->tick,
			             c->a->loop->now_ms + FC_ADMIN_TICK_MS);
		return;
	}
	c->state = C_IDLE;
	queue_response(c, &r, !c->keep_alive);
}

/* Decoded body bytes. */
static void on_body(void *ctx, const char *at, size_t len)
{
	struct fc_admin_conn *c = ctx;
	if (c->body_too_big)
		return;
	if (c->body_len + len > FC_ADMIN_MAX_BODY) {
		c->body_too_big = true;
		return;
	}
	char *b = realloc(c->body, c->body_len + len + 1);
	if (!b) {
		c->body_too_big = true;
		return;
	}
	memcpy(b + c->body_len, at, len);
	c->body = b;
	c->body_len += len;
	c->body[c->body_len] = 0;
}

static void arm(struct fc_admin_conn *c, uint32_t ms)
{
	fc_timer_set(c->a->loop, &c->timer, c->a->loop->now_ms + ms);
}

static const struct fc_config *limits(struct fc_admin *a)
{
	struct fc_admin_view v;
	a->hooks.view(a->hooks.arg, &v);
	return v.rt->cfg;
}

/* Looks at the head once it is all there; false when the connection is
 * answered and closing. */
static bool take_head(struct fc_admin_conn *c, size_t head_len)
{
	struct fc_h1_head *hd = &c->a->scratch;
	const char *err = NULL;
	int rc = fc_h1_parse_head(&c->parser, c->in, head_len, hd, false, &err);
	if (rc == FC_H1_ERROR) {
		fail_request(c,
		             hd->too_many ? 431
		             : hd->bad_te ? 501
		                          : 400,
		             "malformed request: %s", err ? err : "?");
		return false;
	}
	if (hd->major != 1) {
		fail_request(c, 505, "HTTP/1.x only");
		return false;
	}
	if (hd->url_len > FC_ADMIN_MAX_URL) {
		fail_request(c, 414, "the request target is longer than %d bytes",
		             FC_ADMIN_MAX_URL);
		return false;
	}
	c->method = hd->method;
	c->head_method = hd->method == HTTP_HEAD;
	memcpy(c->url, hd->url, hd->url_len);
	c->url[hd->url_len] = 0;
	c->url_len = hd->url_len;
	c->keep_alive = hd->keep_alive;
	c->has_auth = false;
	c->auth_len = 0;
	const struct fc_h1_header *au = fc_h1_find(hd, "authorization", 13);
	if (au) {
		c->has_auth = true;
		c->auth_len = au->value_len < sizeof(c->auth) ? au->value_len : 0;
		memcpy(c->auth, au->value, c->auth_len);
	}
	c->body_len = 0;
	c->body_too_big = false;
	c->continue_sent = false;
	bool has_cl = hd->has_cl, expect = hd->expect_continue;
	uint64_t cl = hd->content_length;
	consume(c, head_len); /* hd points into it no more from here */
	if (rc == FC_H1_COMPLETE) {
		handle(c);
		return true;
	}
	if (has_cl && cl > FC_ADMIN_MAX_BODY) {
		fail_request(c, 413, "request bodies are limited to %d bytes", FC_ADMIN_MAX_BODY);
		return false;
	}
	if (expect && c->in_len == 0) {
		fc_json_raw(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		c->continue_sent = true;
	}
	c->state = C_BODY;
	arm(c, limits(c->a)->body_timeout_ms);
	return true;
}

/* Works through what is in the input buffer. */
static void process(struct fc_admin_conn *c)
{
	struct fc_admin *a = c->a;
	while (c->state == C_IDLE || c->state == C_HEAD || c->state == C_BODY) {
		if (c->out.len > c->out_off)
			return; /* one answer at a time: the next request waits for the flush */
		if (c->state == C_BODY) {
			size_t avail = c->in_len, consumed = 0;
			if (avail == 0) {
				if (c->eof)
					conn_close(c);
				return;
			}
			const char *err = NULL;
			int rc = fc_h1_body(&c->parser, c->in, avail, &consumed, on_body, c, &err);
			consume(c, consumed);
			if (rc == FC_H1_ERROR) {
				fail_request(c, 400, "malformed body: %s", err ? err : "?");
				return;
			}
			if (c->body_too_big) {
				fail_request(c, 413, "request bodies are limited to %d bytes",
				             FC_ADMIN_MAX_BODY);
				return;
			}
			if (rc != FC_H1_COMPLETE)
				continue;
			handle(c);
			if (c->state == C_IDLE)
				arm(c, limits(a)->client_idle_timeout_ms);
			continue;
		}
		if (c->in_len == 0) {
			if (c->eof)
				conn_close(c);
			return;
		}
		if (c->state == C_IDLE) {
			c->state = C_HEAD;
			arm(c, limits(a)->header_timeout_ms);
		}
		size_t end = fc_h1_head_end(c->in, c->in_len, 0);
		if (end == 0) {
			if (c->in_len > limits(a)->max_header_size)
				fail_request(c, 431, "the request head is larger than %u bytes",
				             limits(a)->max_header_size);
			else if (c->eof)
				conn_close(c);
			return;
		}
		if (end > limits(a)->max_header_size) {
			fail_request(c, 431, "the request head is larger than %u bytes",
			             limits(a)->max_header_size);
			return;
		}
		if (!take_head(c, end))
			return;
		if (c->state == C_IDLE)
			arm(c, limits(a)->client_idle_timeout_ms);
	}
}

/* Reads and drops input; closes at EOF. False when closed. */
static bool linger(struct fc_admin_conn *c)
{
	char drop[4096];
	for (;;) {
		ssize_t r = recv(c->io.fd, drop, sizeof(drop), 0);
		if (r > 0)
			continue;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		conn_close(c);
		return false;
	}
}

/* Sends what is queued. False when the connection was closed. */
static bool flush(struct fc_admin_conn *c)
{
	while (c->out.len > c->out_off) {
		ssize_t w = send(c->io.fd, c->out.buf + c->out_off, c->out.len - c->out_off,
		                 MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (w <= 0) {
			conn_close(c);
			return false;
		}
		c->out_off += (size_t)w;
	}
	c->out.len = c->out_off = 0;
	if (c->state == C_FLUSH) {
		/* everything went out: the peer sees the end; what it still sends is
		 * read and dropped for a while, so that closing with unread input
		 * does not reset the connection before the answer is read */
		shutdown(c->io.fd, SHUT_WR);
		c->state = C_LINGER;
		arm(c, LINGER_MS);
		return linger(c);
	}
	return true;
}

static bool fill(struct fc_admin_conn *c)
{
	size_t cap_max = limits(c->a)->max_header_size + FC_ADMIN_MAX_BODY + 8192;
	for (;;) {
		if (c->in_cap - c->in_len < 4096) {
			if (c->in_cap >= cap_max)
				return true; /* full: process() decides (431, 413) */
			size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
			if (cap > cap_max)
				cap = cap_max;
			char *b = realloc(c->in, cap);
			if (!b) {
				conn_close(c);
				return false;
			}
			c->in = b;
			c->in_cap = cap;
		}
		ssize_t r = recv(c->io.fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (r <= 0) {
			c->eof = true;
			return true;
		}
		c->in_len += (size_t)r;
	}
}

/* Reads, answers, sends, until nothing moves (edge-triggered: a full input
 * buffer is read again once requests made room in it). */
static void conn_run(struct fc_admin_conn *c)
{
	for (int turn = 0; turn < 1000; turn++) {
		if (c->state == C_LINGER) {
			linger(c);
			return;
		}
		if (c->state == C_FLUSH) {
			flush(c);
			return;
		}
		size_t in_before = c->in_len;
		if (!fill(c))
			return;
		if (c->state == C_PARKED) {
			/* a parked request's client that went away is not waited for */
			if (c->eof)
				conn_close(c);
			return;
		}
		size_t in_read = c->in_len;
		enum conn_state st = c->state;
		process(c);
		if (!c->io.cb)
			return; /* closed */
		if (!flush(c))
			return;
		if (c->out.len > c->out_off)
			return; /* the socket is full: EPOLLOUT brings us back */
		if (c->in_len == in_read && c->state == st && in_read == in_before)
			break; /* nothing moved */
	}
	if (c->eof && c->state == C_IDLE && c->in_len == 0)
		conn_close(c);
}

static void on_conn_io(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	(void)loop;
	(void)ev;
	conn_run((struct fc_admin_conn *)io);
}

static void on_conn_timer(struct fc_loop *loop, struct fc_timer *t)
{
	(void)loop;
	struct fc_admin_conn *c =
	        (struct fc_admin_conn *)((char *)t - offsetof(struct fc_admin_conn, timer));
	switch (c->state) {
	case C_HEAD:
		fail_request(c, 408, "the request head did not arrive in time");
		flush(c);
		return;
	case C_BODY:
		fail_request(c, 408, "the request body did not arrive in time");
		flush(c);
		return;
	case C_PARKED:
		return;
	default:
		conn_close(c); /* idle keep-alive, or a reader that stopped reading */
		return;
	}
}

static void conn_close(struct fc_admin_conn *c)
{
	struct fc_admin *a = c->a;
	if (!c->io.cb)
		return; /* closed already */
	fc_timer_cancel(a->loop, &c->timer);
	fc_loop_del(a->loop, &c->io);
	close(c->io.fd);
	c->io.cb = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	a->n_conns--;
	/* freed once the current events are over: callers up the stack may
	 * still look at c (c->io.cb NULL says it is closed) */
	c->next = a->dead;
	a->dead = c;
	if (!a->reap.slot)
		fc_timer_set(a->loop, &a->reap, a->loop->now_ms ? a->loop->now_ms : 1);
}

static void free_dead(struct fc_admin *a)
{
	while (a->dead) {
		struct fc_admin_conn *c = a->dead;
		a->dead = c->next;
		fc_json_fini(&c->out);
		free(c->in);
		free(c->body);
		free(c);
	}
}

static void on_reap(struct fc_loop *loop, struct fc_timer *t)
{
	(void)loop;
	free_dead((struct fc_admin *)((char *)t - offsetof(struct fc_admin, reap)));
}

/* ---------------------------------------------------------------- tick */

/* Parked waits and pending removals, every FC_ADMIN_TICK_MS while there are any. */
static void on_tick(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_admin *a = (struct fc_admin *)((char *)t - offsetof(struct fc_admin, tick));
	bool more = false;
	/* waits first: a wait for a server being removed is answered before it goes */
	for (struct fc_admin_conn *c = a->conns, *next; c; c = next) {
		next = c->next;
		if (c->state != C_PARKED)
			continue;
		struct fc_admin_resp r = {0};
		if (!fc_admin_api_wait_done(a, &c->wait_route, c->wait_deadline_ms, &r)) {
			more = true;
			continue;
		}
		c->state = C_IDLE;
		queue_response(c, &r, !c->keep_alive);
		if (c->state == C_IDLE)
			arm(c, limits(a)->client_idle_timeout_ms);
		if (flush(c) && c->state == C_IDLE && c->in_len)
			conn_run(c); /* requests that came meanwhile */
	}
	more |= fc_admin_api_removals(a);
	if (more)
		fc_timer_set(loop, t, loop->now_ms + FC_ADMIN_TICK_MS);
}

/* ---------------------------------------------------------------- listener */

static void on_accept(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	(void)ev;
	struct fc_admin *a = (struct fc_admin *)((char *)io - offsetof(struct fc_admin, listen));
	for (;;) {
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fc_warn("admin %s: accept: %s", a->listen_addr, strerror(errno));
			return;
		}
		if (a->n_conns >= FC_ADMIN_MAX_CONNS) {
			static const char busy[] =
			        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
			        "application/json\r\n"
			        "Content-Length: 43\r\nConnection: close\r\n\r\n"
			        "{\"error\": \"too many admin connections\"}\r\n\r\n";
			ssize_t w = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
			(void)w;
			close(fd);
			continue;
		}
		struct fc_admin_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->a = a;
		c->io.fd = fd;
		c->io.cb = on_conn_io;
		c->timer.cb = on_conn_timer;
		c->state = C_IDLE;
		fc_h1_init(&c->parser, false);
		if (fc_loop_add(loop, &c->io) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = a->conns;
		if (a->conns)
			a->conns->prev = c;
		a->conns = c;
		a->n_conns++;
		/* the first request head must come within header_timeout */
		c->state = C_HEAD;
		arm(c, limits(a)->header_timeout_ms);
		conn_run(c);
	}
}

int fc_admin_check_config(const struct fc_config *cfg, char *err, size_t errlen)
{
	struct fc_admin_token t;
	if (!cfg->admin.enabled)
		return 0;
	return fc_admin_token_load(cfg, &t, err, errlen);
}

int fc_admin_create(struct fc_loop *loop, const struct fc_config *cfg,
                    const struct fc_admin_hooks *hooks, struct fc_admin **out, char *err,
                    size_t errlen)
{
	struct fc_admin *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "admin: out of memory");
		return -ENOMEM;
	}
	a->loop = loop;
	a->hooks = *hooks;
	a->listen.fd = -1;
	a->tick.cb = on_tick;
	a->reap.cb = on_reap;
	a->started_ns = fc_time_ns();
	a->started = fc_admin_wall(a->started_ns);
	snprintf(a->listen_addr, sizeof(a->listen_addr), "%s", cfg->admin.listen);
	int rc = fc_admin_token_load(cfg, &a->token, err, errlen);
	if (rc < 0)
		goto fail;
	const struct sockaddr *sa = (const struct sockaddr *)&cfg->admin.addr;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "admin.listen %s: socket: %s", a->listen_addr,
		         strerror(errno));
		goto fail;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, sa, cfg->admin.addr_len) < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		snprintf(err, errlen, "admin.listen %s: %s", a->listen_addr, strerror(errno));
		close(fd);
		goto fail;
	}
	a->listen.fd = fd;
	a->listen.cb = on_accept;
	rc = fc_loop_add_level(loop, &a->listen);
	if (rc < 0) {
		snprintf(err, errlen, "admin.listen %s: %s", a->listen_addr, strerror(-rc));
		goto fail;
	}
	/* the pools there are now were there from the start */
	struct fc_admin_view v;
	fc_admin_current(a, &v);
	for (size_t i = 0; v.rt && i < v.rt->n_pools; i++)
		fc_admin_pool_started(a, v.rt->pools[i].cfg->name);
	for (size_t i = 0; i < a->n_seen; i++)
		a->seen[i].started = a->started;
	fc_info("admin API on %s (%s)", a->listen_addr,
	        a->token.set ? a->token.source : "read-only: no token configured");
	*out = a;
	return 0;
fail:
	fc_admin_destroy(a);
	return rc;
}

void fc_admin_destroy(struct fc_admin *a)
{
	if (!a)
		return;
	while (a->conns)
		conn_close(a->conns);
	free_dead(a);
	fc_timer_cancel(a->loop, &a->reap);
	fc_timer_cancel(a->loop, &a->tick);
	if (a->listen.fd >= 0) {
		if (a->listen.cb)
			fc_loop_del(a->loop, &a->listen);
		close(a->listen.fd);
	}
	for (size_t i = 0; i < a->n_seen; i++)
		free(a->seen[i].name);
	free(a->seen);
	free(a->removals);
	fc_journal_fini(&a->journal);
	free(a);
}
