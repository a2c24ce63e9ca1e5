/* session.c — one client connection and the request it is serving: read the
 * head, route, pick a server, stream the body up, stream the response back,
 * then keep-alive. Every event runs the session's steps until none makes
 * progress ("pump"), so both directions move at once with backpressure: a
 * step that cannot move (buffer full, socket would block) just waits for the
 * next edge. Readiness is tracked by hand because epoll is edge-triggered. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sock.h"
#include "http/h1_write.h"
#include "proxy/proxy.h"
#include "proxy/reqinfo.h"

#define LINGER_MS 2000

static void finish_request(struct session *s);
static void upstream_failed(struct session *s, int err, bool connect_phase);
static void pick_and_connect(struct session *s);
static bool request_body(struct session *s);

static inline uint64_t now_ms(struct session *s)
{
	return s->w->loop.now_ms;
}

/* ---------------------------------------------------------------- timers */

static const struct fc_config_pool *req_pool_cfg(const struct request *r)
{
	return r->pool->cfg;
}

static uint64_t session_deadline(struct session *s)
{
	const struct fc_config *c = s->w->cfg;
	struct request *r = s->req;
	switch (s->state) {
	case S_IDLE:
		return s->phase_ms + (s->served ? c->client_idle_timeout_ms : c->header_timeout_ms);
	case S_HEAD:
		return s->phase_ms + c->header_timeout_ms;
	case S_ACTIVE:
		if (s->up && s->up->connecting)
			return r->phase_ms + req_pool_cfg(r)->connect_timeout_ms;
		if (r->sent_all && !r->resp_head_done)
			return r->phase_ms + req_pool_cfg(r)->response_timeout_ms;
		return s->active_ms + c->body_timeout_ms;
	default:
		return s->phase_ms + LINGER_MS;
	}
}

static void arm_timer(struct session *s)
{
	uint64_t d = session_deadline(s);
	if (!s->timer.slot || d < s->timer.when)
		fc_timer_set(&s->w->loop, &s->timer, d ? d : 1);
}

/* ---------------------------------------------------------------- output */

static bool out_reserve(struct session *s)
{
	if (!s->out) {
		s->out = fc_buf_take(&s->w->bufs);
		if (!s->out)
			return false;
	}
	if (fc_buf_room(s->out) < 512)
		fc_buf_compact(s->out);
	return true;
}

static void out_append(struct session *s, const char *p, size_t n)
{
	if (!out_reserve(s))
		return;
	if (n > fc_buf_room(s->out))
		n = fc_buf_room(s->out);
	memcpy(s->out->data + s->out->wpos, p, n);
	s->out->wpos += (uint32_t)n;
}

/* Becomes S_CLOSING: what is in s->out goes out, then the socket closes
 * gracefully (lingering so our last response is not lost to a reset). */
static void start_closing(struct session *s)
{
	s->state = S_CLOSING;
	s->phase_ms = now_ms(s);
	s->lingering = false;
	s->quick_close = false;
}

/* Ends the request: reports its outcome to the pool if a server is still
 * counted for it, writes its access log line once, gives its memory back. */
static void request_end(struct session *s, bool failed)
{
	struct fc_worker *w = s->w;
	struct request *r = s->req;
	if (r->server) {
		struct fc_outcome o = {.status = r->status,
		                       .failed = failed,
		                       .latency_ns =
		                               (r->up_head_ns ? r->up_head_ns : w->loop.now_ns) -
		                               r->up_start_ns};
		fc_pool_done(r->pool->pool, r->server, &o, w->loop.now_ns);
		r->server = NULL;
	}
	if (!r->logged)
		fc_accesslog_write(s, r, w->loop.now_ns);
	fc_buf_release(&w->bufs, r->head);
	fc_worker_release_request(w, r);
	s->req = NULL;
}

/* Releases what the request holds and ends it with an error response. */
static void end_with_error(struct session *s, int status, bool close)
{
	struct request *r = s->req;
	struct fc_worker *w = s->w;
	if (r) {
		if (!r->complete || r->close_after || w->draining)
			close = true; /* where the next request starts is unknown */
		if (s->up) {
			fc_upstream_close(s->up);
			s->up = NULL;
		}
	}
	char tmp[512];
	size_t n = fc_h1_write_error(tmp, sizeof(tmp), status, close);
	if (r) {
		r->status = status;
		r->bytes_out += n;
		if (s->in && !close)
			s->in->rpos = r->parsed;
		request_end(s, true);
	}
	out_append(s, tmp, n);
	if (close) {
		start_closing(s);
	} else {
		s->state = S_IDLE;
		s->served = true;
		s->phase_ms = now_ms(s);
	}
}

/* A head-level failure before any request state exists. */
static void reject(struct session *s, int status, const char *why)
{
	fc_debug("bad request: %d: %s", status, why);
	end_with_error(s, status, true);
}

/* ---------------------------------------------------------------- close */

void fc_session_close(struct session *s)
{
	if (s->closed)
		return;
	struct fc_worker *w = s->w;
	s->closed = true;
	if (s->req) {
		if (!s->req->status)
			s->req->status = 499; /* the client went away first */
		request_end(s, false);
	}
	if (s->up) {
		fc_upstream_close(s->up);
		s->up = NULL;
	}
	fc_timer_cancel(&w->loop, &s->timer);
	close(s->io.fd); /* also leaves the epoll set: the fd is never duplicated */
	s->io.fd = -1;
	fc_buf_release(&w->bufs, s->in);
	fc_buf_release(&w->bufs, s->out);
	s->in = s->out = NULL;
	link_remove(&s->link);
	w->n_sessions--;
	fc_worker_conn_closed(w);
	fc_worker_defer_free(w, s);
}

/* ---------------------------------------------------------------- client I/O */

/* Moves unread client bytes to the front of the buffer. */
static void shift_in(struct session *s, uint32_t k)
{
	struct fc_buf *b = s->in;
	if (k == 0)
		return;
	memmove(b->data, b->data + k, b->wpos - k);
	b->wpos -= k;
	b->rpos -= k;
	if (s->req) {
		s->req->body_start -= k;
		s->req->sent -= k;
		s->req->parsed -= k;
	}
}

static bool make_room(struct session *s)
{
	struct fc_buf *b = s->in;
	struct request *r = s->req;
	if (s->state != S_ACTIVE || !r) {
		if (b->rpos == 0)
			return false;
		shift_in(s, b->rpos); /* s->scan counts from rpos: unchanged */
		return true;
	}
	if (b->rpos > 0) {
		shift_in(s, b->rpos);
		return true;
	}
	/* full from the body start: give up replay to make room */
	if (r->sent > r->body_start) {
		r->replayable = false;
		b->rpos = r->sent;
		r->body_start = r->sent;
		shift_in(s, b->rpos);
		return true;
	}
	return false;
}

static bool client_read(struct session *s)
{
	if (!s->readable || s->eof || s->closed)
		return false;
	struct fc_worker *w = s->w;
	if (!s->in) {
		s->in = fc_buf_take(&w->bufs);
		if (!s->in) {
			fc_warn("out of memory for a client buffer");
			fc_session_close(s);
			return true;
		}
	}
	struct fc_buf *b = s->in;
	if (s->state == S_CLOSING) {
		/* lingering: read and drop */
		b->rpos = b->wpos = 0;
	} else if (fc_buf_room(b) == 0 && !make_room(s)) {
		return false;
	}
	size_t room = fc_buf_room(b);
	ssize_t n = read(s->io.fd, b->data + b->wpos, room);
	if (n > 0) {
		b->wpos += (uint32_t)n;
		if ((size_t)n < room) {
			s->readable = false;
			if (s->rdhup)
				s->eof = true;
		}
		s->active_ms = now_ms(s);
		if (s->state == S_CLOSING)
			b->rpos = b->wpos = 0;
		return true;
	}
	if (n == 0) {
		s->eof = true;
		s->readable = false;
		return true;
	}
	if (errno == EINTR)
		return true;
	s->readable = false;
	if (errno == EAGAIN)
		return false;
	s->eof = true;
	return true;
}

static void client_flushed(struct session *s)
{
	if (s->state == S_CLOSING && s->quick_close) {
		/* nothing unread: a plain close sends FIN, not RST */
		fc_session_close(s);
		return;
	}
	if (s->state == S_CLOSING && !s->lingering) {
		/* everything is out: half-close and drain what the client still sends */
		shutdown(s->io.fd, SHUT_WR);
		s->lingering = true;
		s->phase_ms = now_ms(s);
		if (s->eof)
			fc_session_close(s);
	}
}

static bool client_write(struct session *s)
{
	if (s->closed)
		return false;
	struct iovec iov[2];
	int n = 0;
	size_t from_out = 0, from_up = 0;
	if (s->out && fc_buf_len(s->out)) {
		from_out = fc_buf_len(s->out);
		iov[n++] = (struct iovec){s->out->data + s->out->rpos, from_out};
	}
	struct upstream *u = s->up;
	struct request *r = s->req;
	if (r && r->resp_head_done && u && u->in && u->rparsed > u->in->rpos) {
		from_up = u->rparsed - u->in->rpos;
		iov[n++] = (struct iovec){u->in->data + u->in->rpos, from_up};
	}
	if (n == 0) {
		if (s->state == S_CLOSING)
			client_flushed(s);
		return false;
	}
	if (!s->writable)
		return false;
	ssize_t wr = writev(s->io.fd, iov, n);
	if (wr < 0) {
		if (errno == EAGAIN) {
			s->writable = false;
			return false;
		}
		if (errno == EINTR)
			return true;
		fc_session_close(s); /* the client is gone */
		return true;
	}
	size_t left = (size_t)wr;
	if ((size_t)wr < from_out + from_up)
		s->writable = false;
	if (from_out) {
		size_t k = left < from_out ? left : from_out;
		s->out->rpos += (uint32_t)k;
		left -= k;
		if (r)
			r->bytes_out += k;
		if (fc_buf_len(s->out) == 0) {
			fc_buf_release(&s->w->bufs, s->out);
			s->out = NULL;
		}
	}
	if (left) {
		u->in->rpos += (uint32_t)left;
		r->bytes_out += left;
		if (u->in->rpos == u->in->wpos && u->rparsed == u->in->wpos)
			u->in->rpos = u->in->wpos = u->rparsed = 0;
	}
	s->active_ms = now_ms(s);
	return true;
}

/* ---------------------------------------------------------------- request */

/* A bounded copy, NUL-terminated (no printf on the request path). */
static void copy_name(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = 0;
}

static void copy_key(struct request *r, const char *p, size_t n)
{
	if (!p) {
		r->key_len = 0;
		r->has_key = false;
		return;
	}
	if (n > sizeof(r->key))
		n = sizeof(r->key);
	memcpy(r->key, p, n);
	r->key_len = (uint8_t)n;
	r->has_key = true;
}

/* Fills what picking needs from the head: real client IP, hash key, sticky value. */
static void request_pick_inputs(struct session *s, struct request *r, const struct fc_h1_head *hd,
                                const char *path, size_t path_len)
{
	struct fc_runtime *rt = s->w->rt;
	const struct fc_config *c = s->w->cfg;
	r->client = s->peer;
	if (c->client_ip.header) {
		char joined[1024];
		size_t jl = 0;
		size_t nl = strlen(c->client_ip.header);
		bool any = false;
		for (uint32_t i = 0; i < hd->n_headers; i++) {
			const struct fc_h1_header *h = &hd->h[i];
			if (!fc_h1_name_is(h, c->client_ip.header, nl))
				continue;
			if (any && jl + 2 < sizeof(joined)) {
				joined[jl++] = ',';
				joined[jl++] = ' ';
			}
			size_t k = h->value_len < sizeof(joined) - jl ? h->value_len
			                                              : sizeof(joined) - jl;
			memcpy(joined + jl, h->value, k);
			jl += k;
			any = true;
		}
		fc_clientip_resolve(&rt->clientip, &s->peer, any ? joined : NULL, jl, &r->client);
	}
	const struct fc_config_pool *cp = r->pool->cfg;
	const struct fc_config_hash *hk = &cp->hash;
	size_t n = 0;
	const char *v = NULL;
	switch (hk->source) {
	case FC_HASH_CLIENT_IP:
		break;
	case FC_HASH_HEADER: {
		const struct fc_h1_header *h =
		        hk->name ? fc_h1_find(hd, hk->name, strlen(hk->name)) : NULL;
		if (h) {
			v = h->value;
			n = h->value_len;
		}
		break;
	}
	case FC_HASH_COOKIE:
		if (hk->name)
			v = fc_req_cookie(hd, hk->name, strlen(hk->name), &n);
		break;
	case FC_HASH_PATH:
		v = path;
		n = path_len;
		break;
	case FC_HASH_QUERY:
		if (hk->name)
			v = fc_req_query(hd->url, hd->url_len, hk->name, strlen(hk->name), &n);
		break;
	}
	copy_key(r, v, n);
	r->sticky_in_len = 0;
	if (cp->sticky.enabled) {
		const char *name = cp->sticky.cookie_name; /* never NULL: config default */
		const char *sv = fc_req_cookie(hd, name, strlen(name), &n);
		if (sv && n < sizeof(r->sticky_in)) {
			memcpy(r->sticky_in, sv, n);
			r->sticky_in_len = (uint8_t)n;
			r->has_sticky_in = true;
		}
		/* Secure when the client came over TLS (or a trusted proxy says so) */
		const struct fc_h1_header *xp = fc_h1_find(hd, "x-forwarded-proto", 17);
		r->secure = xp && xp->value_len == 5 && strncasecmp(xp->value, "https", 5) == 0;
	}
}

static void start_request(struct session *s, size_t head_len)
{
	struct fc_worker *w = s->w;
	struct fc_buf *b = s->in;
	struct fc_h1_head *hd = &w->scratch;
	struct request *r = fc_worker_take_request(w);
	if (!r) {
		fc_warn("out of memory for a request");
		fc_session_close(s);
		return;
	}
	s->req = r;
	s->state = S_ACTIVE;
	r->start_ns = w->loop.now_ns;
	r->parsed = b->rpos + (uint32_t)head_len;
	r->complete = true; /* until we know a body follows */
	const char *err = NULL;
	int rc = fc_h1_parse_head(&s->parser, b->data + b->rpos, head_len, hd, false, &err);
	/* the request line, for the access log */
	size_t ll = hd->first_line_len < REQ_LINE_MAX ? hd->first_line_len : REQ_LINE_MAX;
	if (hd->first_line)
		memcpy(r->line, hd->first_line, ll);
	r->line_len = (uint16_t)ll;
	if (rc == FC_H1_ERROR) {
		reject(s, hd->too_many ? 431 : hd->bad_te ? 501 : 400, err ? err : "malformed");
		return;
	}
	r->method = hd->method;
	r->idempotent = fc_h1_method_idempotent(hd->method);
	r->client_10 = hd->major == 1 && hd->minor == 0;
	r->client_keepalive = hd->keep_alive;
	r->complete = rc == FC_H1_COMPLETE;
	if (hd->major != 1) {
		reject(s, 505, "version");
		return;
	}
	if (hd->n_host > 1 || (!r->client_10 && hd->n_host != 1)) {
		reject(s, 400, "missing or duplicate Host");
		return;
	}
	if (hd->method == HTTP_CONNECT) {
		reject(s, 405, "CONNECT");
		return;
	}
	if (hd->host >= 0) {
		const struct fc_h1_header *h = &hd->h[hd->host];
		for (uint32_t i = 0; i < h->value_len; i++) {
			unsigned char c = (unsigned char)h->value[i];
			if (c <= ' ' || c == '/' || c == '\\' || c == '@' || c == 0x7f) {
				reject(s, 400, "invalid Host");
				return;
			}
		}
	}
	const char *host = hd->host >= 0 ? hd->h[hd->host].value : NULL;
	size_t host_len = hd->host >= 0 ? hd->h[hd->host].value_len : 0;
	const char *path;
	size_t path_len;
	fc_req_target(hd, &host, &host_len, &path, &path_len);
	const struct fc_config_route *route =
	        fc_config_route_match(s->l->cfg, host, host_len, path, path_len);
	if (!route) {
		end_with_error(s, 404, false); /* closes if a body follows */
		return;
	}
	r->pool = fc_runtime_pool(w->rt, route->pool_ref);
	request_pick_inputs(s, r, hd, path, path_len);
	r->head = fc_buf_take(&w->bufs);
	if (!r->head) {
		end_with_error(s, 503, true);
		return;
	}
	r->head->wpos = 0; /* written after the first pick: it may need the server's name */
	r->head_sent = 0;
	r->close_after = !r->client_keepalive || w->draining;
	b->rpos += (uint32_t)head_len;
	r->body_start = r->sent = b->rpos;
	r->parsed = b->rpos;
	r->replayable = true;
	s->scan = 0;
	/* validate the body bytes already here before any server sees the
	 * request: a malformed chunked body is refused without forwarding */
	if (!r->complete && r->parsed < b->wpos) {
		request_body(s);
		if (s->closed || s->req != r)
			return;
	}
	pick_and_connect(s);
}

static bool handle_head(struct session *s)
{
	if (s->closed || (s->state != S_IDLE && s->state != S_HEAD))
		return false;
	struct fc_buf *b = s->in;
	size_t len = b ? fc_buf_len(b) : 0;
	if (len == 0) {
		if (s->eof) {
			fc_session_close(s);
			return true;
		}
		if (b && s->state == S_IDLE && !s->out) {
			fc_buf_release(&s->w->bufs, b);
			s->in = NULL;
		}
		return false;
	}
	if (s->state == S_IDLE) {
		s->state = S_HEAD;
		if (s->served)
			s->phase_ms = now_ms(s);
	}
	uint32_t max = s->w->cfg->max_header_size;
	size_t end = fc_h1_head_end(b->data + b->rpos, len, s->scan);
	if (!end) {
		s->scan = (uint32_t)len;
		if (len >= max || (fc_buf_room(b) == 0 && b->rpos == 0)) {
			end_with_error(s, 431, true);
			return true;
		}
		if (s->eof) {
			fc_session_close(s);
			return true;
		}
		return false;
	}
	if (end > max) {
		end_with_error(s, 431, true);
		return true;
	}
	start_request(s, end);
	return true;
}

static bool request_body(struct session *s)
{
	struct request *r = s->req;
	if (s->closed || s->state != S_ACTIVE || !r || r->complete)
		return false;
	struct fc_buf *b = s->in;
	if (!b || r->parsed >= b->wpos) {
		if (s->eof) {
			/* the client went away in the middle of its body */
			fc_session_close(s);
			return true;
		}
		return false;
	}
	size_t consumed = 0;
	const char *err = NULL;
	int rc = fc_h1_body(&s->parser, b->data + r->parsed, b->wpos - r->parsed, &consumed, NULL,
	                    NULL, &err);
	if (rc == FC_H1_ERROR) {
		fc_debug("bad request body: %s", err ? err : "?");
		if (!r->resp_started)
			end_with_error(s, 400, true);
		else
			fc_session_close(s);
		return true;
	}
	r->parsed += (uint32_t)consumed;
	if (rc == FC_H1_COMPLETE)
		r->complete = true;
	return consumed > 0 || rc == FC_H1_COMPLETE;
}

/* ---------------------------------------------------------------- upstream side */

/* Writes the upstream request head from the head just parsed (the worker's
 * scratch: only valid during start_request, where the first pick happens).
 * An HTTP/1.0 request without Host gets the server's host:port, as nginx's
 * proxy_pass would send. Returns false when the rewritten head does not fit. */
static bool write_upstream_head(struct session *s, struct fc_server *srv)
{
	struct request *r = s->req;
	const struct fc_h1_head *hd = &s->w->scratch;
	char ip[64];
	size_t ipl = fc_req_format_ip(&s->peer, ip, sizeof(ip));
	struct fc_h1_req_extra x = {.client_ip = ip, .client_ip_len = ipl, .proto = "http"};
	if (hd->host < 0) {
		const struct rt_server *rs = fc_server_user(srv);
		x.host = rs->hostport;
		x.host_len = strlen(rs->hostport);
	}
	size_t hl = fc_h1_write_request(r->head->data, r->head->cap, hd, &x);
	r->head->wpos = (uint32_t)hl;
	return hl > 0;
}

static void pick_and_connect(struct session *s)
{
	struct fc_worker *w = s->w;
	struct request *r = s->req;
	const struct fc_config_pool *cp = r->pool->cfg;
	for (;;) {
		if (r->attempts > cp->retries || r->n_tried >= REQ_MAX_TRIES) {
			end_with_error(s, r->timed_out ? 504 : 502, false);
			return;
		}
		struct fc_pick_ctx ctx = {
		        .now_ns = w->loop.now_ns,
		        .rng = &w->rng,
		        .client = r->client,
		        .hash_key = r->has_key ? r->key : NULL,
		        .hash_key_len = r->key_len,
		        .sticky_value = r->has_sticky_in ? r->sticky_in : NULL,
		        .sticky_len = r->sticky_in_len,
		        .avoid = r->tried,
		        .n_avoid = r->n_tried,
		};
		struct fc_server *srv = fc_pool_pick(r->pool->pool, &ctx);
		if (!srv) {
			if (r->attempts == 0)
				end_with_error(s, 503, false);
			else
				end_with_error(s, r->timed_out ? 504 : 502, false);
			return;
		}
		r->attempts++;
		r->server = srv;
		copy_name(r->server_name, sizeof(r->server_name), fc_server_name(srv));
		r->tried[r->n_tried++] = srv;
		if (ctx.sticky_set) {
			r->sticky_set = true;
			memcpy(r->sticky, ctx.sticky_out, sizeof(r->sticky));
		}
		if (r->head->wpos == 0 && !write_upstream_head(s, srv)) {
			struct fc_outcome o = {.status = 431};
			fc_pool_done(r->pool->pool, srv, &o, w->loop.now_ns);
			r->server = NULL;
			reject(s, 431, "head too large after rewrite");
			return;
		}
		r->up_start_ns = w->loop.now_ns;
		r->phase_ms = w->loop.now_ms;
		r->head_sent = 0;
		r->sent = r->body_start;
		r->sent_all = false;
		int err = 0;
		struct upstream *u = fc_upstream_get(w, srv, &err);
		if (!u) {
			fc_warn("pool %s: server %s: connect: %s", cp->name, fc_server_name(srv),
			        strerror(-err));
			fc_server_cooldown(srv,
			                   w->loop.now_ns + (uint64_t)cp->cooldown_ms * 1000000ull);
			struct fc_outcome o = {.status = 0, .failed = true};
			fc_pool_done(r->pool->pool, srv, &o, w->loop.now_ns);
			r->server = NULL;
			continue;
		}
		s->up = u;
		u->s = s;
		return;
	}
}

static void upstream_failed(struct session *s, int err, bool connect_phase)
{
	struct fc_worker *w = s->w;
	struct request *r = s->req;
	struct upstream *u = s->up;
	const struct fc_config_pool *cp = r->pool->cfg;
	bool nothing_back = !u->in || (u->in->wpos == 0 && !r->resp_started);
	bool stale = u->reused && !connect_phase && nothing_back && !r->timed_out && !r->no_retry;
	struct fc_server *srv = r->server;
	if (connect_phase && err != -ETIMEDOUT)
		fc_server_cooldown(srv, w->loop.now_ns + (uint64_t)cp->cooldown_ms * 1000000ull);
	if (!stale)
		fc_warn("pool %s: server %s: %s%s", cp->name, fc_server_name(srv),
		        connect_phase ? "connect: " : "", strerror(-err));
	struct fc_outcome o = {
	        .status = 0, .failed = !stale, .latency_ns = w->loop.now_ns - r->up_start_ns};
	fc_pool_done(r->pool->pool, srv, &o, w->loop.now_ns);
	r->server = NULL;
	fc_upstream_close(u);
	s->up = NULL;
	if (stale && !r->stale_retry_used) {
		/* a kept-alive connection the server had closed: same server, fresh socket */
		r->stale_retry_used = true;
		r->n_tried--;
		r->attempts--;
	}
	bool may_retry = !r->resp_started && !r->no_retry && r->replayable &&
	                 (connect_phase || stale || (r->idempotent && !r->timed_out));
	if (may_retry) {
		pick_and_connect(s);
		return;
	}
	if (!r->resp_started)
		end_with_error(s, r->timed_out ? 504 : 502, false);
	else
		fc_session_close(s); /* mid-response: the client sees a cut */
}

static bool upstream_write(struct session *s)
{
	struct upstream *u = s->up;
	struct request *r = s->req;
	if (s->closed || !u || !r)
		return false;
	if (u->connecting) {
		if (!u->writable)
			return false;
		int e = fc_sock_error(u->io.fd);
		if (e) {
			upstream_failed(s, e, true);
			return true;
		}
		u->connecting = false;
		r->phase_ms = now_ms(s);
	}
	if (!u->writable)
		return false;
	struct iovec iov[2];
	int n = 0;
	size_t from_head = r->head->wpos - r->head_sent;
	size_t from_body = r->parsed - r->sent;
	if (from_head)
		iov[n++] = (struct iovec){r->head->data + r->head_sent, from_head};
	if (from_body)
		iov[n++] = (struct iovec){s->in->data + r->sent, from_body};
	if (n == 0)
		return false;
	ssize_t wr = writev(u->io.fd, iov, n);
	if (wr < 0) {
		if (errno == EAGAIN) {
			u->writable = false;
			return false;
		}
		if (errno == EINTR)
			return true;
		upstream_failed(s, -errno, false);
		return true;
	}
	size_t left = (size_t)wr;
	if (left < from_head + from_body)
		u->writable = false;
	size_t k = left < from_head ? left : from_head;
	r->head_sent += (uint32_t)k;
	left -= k;
	r->sent += (uint32_t)left;
	if (r->complete && r->head_sent == r->head->wpos && r->sent == r->parsed && !r->sent_all) {
		r->sent_all = true;
		r->phase_ms = now_ms(s);
	}
	s->active_ms = now_ms(s);
	return true;
}

static bool upstream_read(struct session *s)
{
	struct upstream *u = s->up;
	if (s->closed || !u || u->connecting || !u->readable || u->eof)
		return false;
	if (!u->in) {
		u->in = fc_buf_take(&s->w->bufs);
		if (!u->in) {
			fc_session_close(s);
			return true;
		}
	}
	struct fc_buf *b = u->in;
	if (fc_buf_room(b) == 0) {
		if (b->rpos == 0)
			return false; /* the client is slower than the server: wait */
		u->rparsed -= b->rpos;
		fc_buf_compact(b);
	}
	size_t room = fc_buf_room(b);
	ssize_t n = read(u->io.fd, b->data + b->wpos, room);
	if (n > 0) {
		b->wpos += (uint32_t)n;
		if ((size_t)n < room) {
			u->readable = false;
			if (u->rdhup)
				u->eof = true;
		}
		s->active_ms = now_ms(s);
		return true;
	}
	if (n == 0) {
		u->eof = true;
		u->readable = false;
		return true;
	}
	if (errno == EINTR)
		return true;
	u->readable = false;
	if (errno == EAGAIN)
		return false;
	u->eof = true;
	u->reset = true;
	return true;
}

struct dechunk {
	char *dst;
};

static void dechunk_body(void *ctx, const char *at, size_t len)
{
	struct dechunk *d = ctx;
	memmove(d->dst, at, len);
	d->dst += len;
}

static bool response_head(struct session *s)
{
	struct fc_worker *w = s->w;
	struct upstream *u = s->up;
	struct request *r = s->req;
	struct fc_buf *b = u->in;
	size_t len = b ? fc_buf_len(b) : 0;
	if (len == 0) {
		if (u->eof) {
			upstream_failed(s, -ECONNRESET, false);
			return true;
		}
		return false;
	}
	size_t end = fc_h1_head_end(b->data + b->rpos, len, 0);
	if (!end) {
		if (u->eof || fc_buf_room(b) == 0) {
			fc_warn("pool %s: server %s: %s", r->pool->cfg->name,
			        fc_server_name(r->server),
			        u->eof ? "closed in the middle of a response head"
			               : "response head too large");
			r->no_retry = !u->eof; /* it answered, badly */
			upstream_failed(s, -EPROTO, false);
			return true;
		}
		return false;
	}
	struct fc_h1_head *hd = &w->scratch;
	const char *err = NULL;
	int rc = fc_h1_parse_head(&u->parser, b->data + b->rpos, end, hd, r->method == HTTP_HEAD,
	                          &err);
	if (rc == FC_H1_ERROR || hd->status == 101) {
		fc_warn("pool %s: server %s: bad response: %s", r->pool->cfg->name,
		        fc_server_name(r->server), err ? err : "101 without upgrade");
		r->no_retry = true; /* it did answer: no retry */
		upstream_failed(s, -EPROTO, false);
		return true;
	}
	if (hd->status < 200) {
		/* 1xx: relay to HTTP/1.1 clients, then wait for the final answer */
		if (!r->client_10) {
			out_append(s, b->data + b->rpos, end);
			r->resp_started = true;
		}
		b->rpos += (uint32_t)end;
		u->rparsed = b->rpos;
		return true;
	}
	r->up_reusable = hd->keep_alive && !hd->close_delimited;
	if (hd->close_delimited || !r->complete || w->draining)
		r->close_after = true;
	r->resp_dechunk = r->client_10 && hd->chunked;
	if (r->resp_dechunk)
		r->close_after = true;
	char cookie[256];
	struct fc_h1_resp_extra x = {
	        .close = r->close_after,
	        .keep_alive = r->client_10 && !r->close_after,
	        .dechunk = r->resp_dechunk,
	};
	if (r->sticky_set) {
		const struct fc_config_sticky *st = &r->pool->cfg->sticky;
		int n = snprintf(cookie, sizeof(cookie),
		                 "%s=%s; Path=/; Max-Age=%u; HttpOnly; SameSite=Lax%s",
		                 st->cookie_name, r->sticky, st->max_age_s,
		                 r->secure ? "; Secure" : "");
		if (n > 0 && (size_t)n < sizeof(cookie)) {
			x.set_cookie = cookie;
			x.set_cookie_len = (size_t)n;
		}
	}
	if (!s->out && fc_h1_response_passthrough(hd, &x)) {
		u->rparsed = b->rpos + (uint32_t)end;
	} else {
		if (!out_reserve(s)) {
			fc_session_close(s);
			return true;
		}
		fc_buf_compact(s->out);
		size_t n = fc_h1_write_response(s->out->data + s->out->wpos, fc_buf_room(s->out),
		                                hd, &x);
		if (n == 0) {
			fc_warn("pool %s: server %s: response head too large", r->pool->cfg->name,
			        fc_server_name(r->server));
			r->no_retry = true;
			upstream_failed(s, -EPROTO, false);
			return true;
		}
		s->out->wpos += (uint32_t)n;
		b->rpos += (uint32_t)end;
		u->rparsed = b->rpos;
	}
	r->status = hd->status;
	r->resp_head_done = true;
	r->resp_started = true;
	r->up_head_ns = w->loop.now_ns;
	if (rc == FC_H1_COMPLETE)
		r->resp_complete = true;
	r->resp_close_delimited = hd->close_delimited;
	return true;
}

static bool response_body(struct session *s)
{
	struct upstream *u = s->up;
	struct request *r = s->req;
	struct fc_buf *b = u->in;
	if (b && u->rparsed < b->wpos) {
		size_t consumed = 0;
		const char *err = NULL;
		char *start = b->data + u->rparsed;
		struct dechunk d = {.dst = start};
		int rc = fc_h1_body(&u->parser, start, b->wpos - u->rparsed, &consumed,
		                    r->resp_dechunk ? dechunk_body : NULL, &d, &err);
		if (rc == FC_H1_ERROR) {
			fc_warn("pool %s: server %s: bad response body: %s", r->pool->cfg->name,
			        fc_server_name(r->server), err ? err : "?");
			r->up_reusable = false;
			r->close_after = true;
			r->resp_complete = true;
			r->aborted = true;
			b->wpos = u->rparsed; /* forward what was valid, then close */
			return true;
		}
		if (r->resp_dechunk) {
			/* keep only decoded bytes; unparsed tail follows them */
			uint32_t tail = b->wpos - (u->rparsed + (uint32_t)consumed);
			memmove(d.dst, start + consumed, tail);
			u->rparsed = (uint32_t)(d.dst - b->data);
			b->wpos = u->rparsed + tail;
		} else {
			u->rparsed += (uint32_t)consumed;
		}
		if (rc == FC_H1_COMPLETE) {
			r->resp_complete = true;
			if (u->rparsed < b->wpos) {
				r->up_reusable = false; /* bytes nobody asked for */
				b->wpos = u->rparsed;
			}
		}
		return consumed > 0 || rc == FC_H1_COMPLETE;
	}
	if (u->eof) {
		if (r->resp_close_delimited && !u->reset &&
		    fc_h1_eof(&u->parser) == FC_H1_COMPLETE) {
			r->resp_complete = true;
		} else {
			/* cut in the middle: pass on what we have, then cut the client too */
			r->resp_complete = true;
			r->aborted = true;
		}
		r->up_reusable = false;
		r->close_after = true;
		return true;
	}
	return false;
}

static bool response(struct session *s)
{
	if (s->closed || !s->up || !s->req || s->up->connecting)
		return false;
	bool progress = false;
	if (!s->req->resp_head_done) {
		progress = response_head(s);
		if (s->closed || !s->up || !s->req || !s->req->resp_head_done)
			return progress;
	}
	/* parse the body bytes that came with the head now, so head and body
	 * leave in one write */
	if (!s->req->resp_complete)
		progress |= response_body(s);
	return progress;
}

/* The exchange is over once the response is complete and fully written. */
static bool maybe_finish(struct session *s)
{
	struct request *r = s->req;
	if (s->closed || !r || !r->resp_complete)
		return false;
	if (s->out && fc_buf_len(s->out))
		return false;
	struct upstream *u = s->up;
	if (u && u->in && u->rparsed > u->in->rpos)
		return false;
	finish_request(s);
	return true;
}

static void finish_request(struct session *s)
{
	struct fc_worker *w = s->w;
	struct request *r = s->req;
	struct upstream *u = s->up;
	const struct fc_config_pool *cp = r->pool->cfg;
	if (u) {
		bool reuse = r->up_reusable && r->complete && r->sent_all && !r->aborted;
		fc_upstream_release(u, reuse, cp->max_idle, cp->idle_timeout_ms);
		s->up = NULL;
	}
	bool close = r->close_after || r->aborted || !r->complete || w->draining;
	bool aborted = r->aborted;
	if (s->in && !close)
		s->in->rpos = r->parsed;
	request_end(s, false);
	s->served = true;
	s->phase_ms = now_ms(s);
	if (close) {
		if (aborted) {
			fc_session_close(s);
			return;
		}
		start_closing(s);
		/* the request was read whole and the socket drained: no need to
		 * linger (nginx does the same); otherwise drain before closing so
		 * unread input does not turn our FIN into a reset */
		s->quick_close = !s->readable && (!s->in || s->in->rpos == s->in->wpos);
		return;
	}
	s->state = S_IDLE;
}

/* ---------------------------------------------------------------- driver */

static void session_timeout(struct fc_loop *loop, struct fc_timer *t)
{
	struct session *s = link_entry(t, struct session, timer);
	uint64_t d = session_deadline(s);
	if (loop->now_ms < d) {
		fc_timer_set(loop, t, d);
		return;
	}
	switch (s->state) {
	case S_IDLE:
		fc_session_close(s);
		return;
	case S_HEAD:
		fc_debug("request head timeout");
		end_with_error(s, 408, true);
		break;
	case S_ACTIVE: {
		struct request *r = s->req;
		if (s->up && s->up->connecting) {
			r->timed_out = true;
			upstream_failed(s, -ETIMEDOUT, true);
		} else if (r->sent_all && !r->resp_head_done) {
			r->timed_out = true;
			upstream_failed(s, -ETIMEDOUT, false);
		} else if (!r->resp_started) {
			/* the client stopped sending its body */
			end_with_error(s, 408, true);
		} else {
			fc_session_close(s);
			return;
		}
		break;
	}
	default:
		fc_session_close(s);
		return;
	}
	fc_session_run(s);
}

void fc_session_run(struct session *s)
{
	if (s->in_run) {
		s->rerun = true;
		return;
	}
	s->in_run = true;
	do {
		s->rerun = false;
		for (int guard = 0; guard < 1000 && !s->closed; guard++) {
			bool p = false;
			p |= client_read(s);
			if (!s->closed)
				p |= handle_head(s);
			if (!s->closed)
				p |= request_body(s);
			if (!s->closed)
				p |= upstream_write(s);
			if (!s->closed)
				p |= upstream_read(s);
			if (!s->closed)
				p |= response(s);
			if (!s->closed)
				p |= client_write(s);
			if (!s->closed)
				p |= maybe_finish(s);
			if (!p)
				break;
		}
	} while (s->rerun && !s->closed);
	s->in_run = false;
	if (!s->closed) {
		if (s->state == S_CLOSING && s->lingering && s->eof)
			fc_session_close(s);
		else if (s->w->draining && s->state == S_IDLE && (!s->in || !fc_buf_len(s->in)))
			fc_session_close(s);
		else
			arm_timer(s);
	}
}

void fc_session_on_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct session *s = (struct session *)io;
	(void)loop;
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		s->readable = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		s->rdhup = true;
	if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		s->writable = true;
	fc_session_run(s);
}

void fc_session_accept(struct fc_worker *w, struct listener *l, int fd, const struct sockaddr *peer)
{
	struct session *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		fc_worker_conn_closed(w);
		return;
	}
	s->io.fd = fd;
	s->io.cb = fc_session_on_event;
	s->timer.cb = session_timeout;
	s->w = w;
	s->l = l;
	s->state = S_IDLE;
	s->phase_ms = s->active_ms = w->loop.now_ms;
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)peer;
		s->peer.family = 4;
		memcpy(s->peer.bytes, &a->sin_addr, 4);
	} else if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)peer;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			s->peer.family = 4;
			memcpy(s->peer.bytes, &a->sin6_addr.s6_addr[12], 4);
		} else {
			s->peer.family = 6;
			memcpy(s->peer.bytes, &a->sin6_addr, 16);
		}
	}
	fc_h1_init(&s->parser, false);
	link_push(&w->sessions, &s->link);
	w->n_sessions++;
	if (fc_loop_add(&w->loop, &s->io) < 0) {
		link_remove(&s->link);
		w->n_sessions--;
		close(fd);
		fc_worker_conn_closed(w);
		free(s);
		return;
	}
	/* the request is often there already: try before waiting for an edge */
	s->readable = true;
	s->writable = true;
	fc_session_run(s);
}

void fc_session_shutdown(struct session *s)
{
	if (s->state == S_IDLE && (!s->in || !fc_buf_len(s->in)) && !s->out) {
		fc_session_close(s);
		return;
	}
	if (s->req)
		s->req->close_after = true;
}
