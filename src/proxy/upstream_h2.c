/* upstream_h2.c — HTTP/2 to servers (pools with protocol: h2, for gRPC):
 * each worker keeps its own connections to each server (nghttp2 client
 * sessions, h2c for http://, TLS with ALPN h2 for https://) and puts every
 * request on one as a stream, opening another connection when the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS is reached. A request is a struct
 * fc_upstream whose h2 names the connection: its response's DATA lands in
 * its in buffer (rparsed = wpos: nothing to validate), so the client side
 * reads it as it reads an HTTP/1.1 server's bytes. Its response fields and
 * trailers are kept for the client's response head and trailers.
 *
 * Flow control: a stream's window is the size of its buffer, and bytes go
 * back to the window (nghttp2_session_consume) only as the client side takes
 * them, so a slow client holds the server back instead of filling memory.
 * The connection's own events (connect, bytes, errors) run its pump, which
 * then wakes the requests whose state changed. */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include "core/log.h"
#include "http/h2.h"
#include "proxy/proxy.h"
#include "tls/tls.h"

#define CONN_WINDOW     (4u << 20) /* the connection's receive window */
#define STREAMS_DEFAULT 100        /* until the server's SETTINGS say */

struct fc_h2up {
	struct fc_stream s;    /* first: the loop's pointer is the connection's */
	struct fc_timer timer; /* idle, and deferred wake-ups */
	struct fc_worker *w;
	struct fc_rt_server *rs; /* referenced */
	nghttp2_session *sess;
	struct fc_buf *in, *out;
	struct fc_link link;  /* in the worker's h2_conns */
	struct fc_link users; /* requests on it (fc_upstream.h2_link) */
	struct fc_link wake;  /* requests whose state changed (fc_upstream.h2_wake) */
	uint32_t n_users;
	uint32_t idle_timeout_ms;
	struct fc_h2_pending pend; /* a frame's tail that did not fit out */
	int err;                   /* -errno once dead */
	bool connecting, ready, readable, writable, rdhup, dead, goaway, closed, in_session;
};

/* A response's fields: the head's, then the trailers'. */
struct fc_h2up_resp {
	uint32_t n_head, n_trail, len, cap;
	struct {
		uint32_t name, name_len, value, value_len;
	} f[FC_H1_MAX_HEADERS];
	char data[];
};

static void conn_run(struct fc_h2up *h);
static void conn_close(struct fc_h2up *h);

static inline struct fc_link *worker_conns(struct fc_worker *w)
{
	if (!w->h2_conns.next)
		fc_link_init(&w->h2_conns); /* a zeroed worker: first use */
	return &w->h2_conns;
}

static void wake(struct fc_upstream *u)
{
	if (fc_link_empty(&u->h2_wake))
		fc_link_push(u->h2->wake.prev, &u->h2_wake);
}

static void wake_all(struct fc_h2up *h)
{
	for (struct fc_link *l = h->users.next; l != &h->users; l = l->next)
		wake(fc_link_entry(l, struct fc_upstream, h2_link));
}

/* Runs the exchanges whose requests moved. */
static void run_woken(struct fc_h2up *h)
{
	while (!fc_link_empty(&h->wake)) {
		struct fc_upstream *u = fc_link_entry(h->wake.next, struct fc_upstream, h2_wake);
		fc_link_remove(&u->h2_wake);
		struct fc_exchange *x = u->x;
		if (!x)
			continue;
		if (x->h2s)
			fc_h2_ready(x);
		else
			fc_client_run(x->c);
	}
}

/* The connection failed: every request on it sees it. */
static void conn_fail(struct fc_h2up *h, int err, const char *why)
{
	if (h->dead)
		return;
	h->dead = true;
	h->err = err ? err : -ECONNRESET;
	if (why)
		fc_warn("server %s: HTTP/2: %s", h->rs->name, why);
	for (struct fc_link *l = h->users.next; l != &h->users; l = l->next) {
		struct fc_upstream *u = fc_link_entry(l, struct fc_upstream, h2_link);
		u->eof = true;
		if (!u->h2_end)
			u->reset = true;
		wake(u);
	}
	fc_link_remove(&h->link);
	fc_link_init(&h->link);
	/* the loop runs the rest (wake-ups, the close) on its next turn */
	fc_timer_set(&h->w->loop, &h->timer, h->w->loop.now_ms);
}

/* ---------------------------------------------------------------- callbacks */

static struct fc_upstream *stream_user(nghttp2_session *sess, int32_t id)
{
	return nghttp2_session_get_stream_user_data(sess, id);
}

static int on_begin_headers(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	(void)ud;
	struct fc_upstream *u = stream_user(sess, f->hd.stream_id);
	if (!u || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (f->headers.cat == NGHTTP2_HCAT_HEADERS && u->h2_head)
		u->h2_in_trailers = true;
	return 0;
}

static int on_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	(void)flags;
	struct fc_h2up *h = ud;
	struct fc_upstream *u = stream_user(sess, f->hd.stream_id);
	if (!u || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		unsigned st = 0;
		for (size_t i = 0; i < valuelen && i < 3; i++)
			st = st * 10 + (unsigned)(value[i] - '0');
		u->h2_status = (uint16_t)st;
		if (st < 200 && u->resp)
			u->resp->n_head = u->resp->len = 0; /* an interim answer: dropped */
		return 0;
	}
	if (u->h2_status && u->h2_status < 200 && !u->h2_in_trailers)
		return 0; /* an interim response's fields */
	struct fc_h2up_resp *r = u->resp;
	if (!r) {
		uint32_t cap = 2 * h->w->cfg->max_header_size;
		r = u->resp = malloc(sizeof(*r) + cap);
		if (!r)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		r->n_head = r->n_trail = r->len = 0;
		r->cap = cap;
	}
	uint32_t n = r->n_head + r->n_trail;
	if (n >= FC_H1_MAX_RESPONSE_HEADERS || r->len + namelen + valuelen > r->cap) {
		fc_warn("server %s: HTTP/2 response fields too large", h->rs->name);
		u->h2_bad = true;
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
	}
	r->f[n].name = r->len;
	r->f[n].name_len = (uint32_t)namelen;
	memcpy(r->data + r->len, name, namelen);
	r->len += (uint32_t)namelen;
	r->f[n].value = r->len;
	r->f[n].value_len = (uint32_t)valuelen;
	memcpy(r->data + r->len, value, valuelen);
	r->len += (uint32_t)valuelen;
	if (u->h2_in_trailers)
		r->n_trail++;
	else
		r->n_head++;
	return 0;
}

static int on_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct fc_h2up *h = ud;
	if (f->hd.type == NGHTTP2_GOAWAY) {
		h->goaway = true; /* no new streams here; the open ones end as it says */
		return 0;
	}
	struct fc_upstream *u = f->hd.stream_id ? stream_user(sess, f->hd.stream_id) : NULL;
	if (!u)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && u->h2_status >= 200 && !u->h2_in_trailers)
		u->h2_head = true;
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		u->h2_end = true;
	wake(u);
	return 0;
}

static int on_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
	(void)flags;
	struct fc_h2up *h = ud;
	struct fc_upstream *u = stream_user(sess, id);
	if (!u) {
		nghttp2_session_consume(sess, id, len);
		return 0;
	}
	struct fc_buf *b = u->in;
	if (!b && !(b = u->in = fc_buf_take(&h->w->bufs))) {
		nghttp2_session_consume(sess, id, len);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	if (fc_buf_room(b) < len) {
		fc_buf_compact(b);
		u->rparsed = b->wpos;
	}
	if (fc_buf_room(b) < len) {
		/* the window is the buffer: a server sending more broke it */
		nghttp2_session_consume(sess, id, len);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	memcpy(b->data + b->wpos, data, len);
	b->wpos += (uint32_t)len;
	u->rparsed = b->wpos;
	wake(u);
	return 0;
}

static int on_stream_close(nghttp2_session *sess, int32_t id, uint32_t code, void *ud)
{
	(void)ud;
	struct fc_upstream *u = stream_user(sess, id);
	if (!u)
		return 0;
	u->h2_closed = true;
	if (!u->h2_end) {
		u->reset = true; /* reset before the end: cut */
		u->eof = true;
		/* a stream the server refused (or left after GOAWAY) never ran */
		u->h2_refused = code == NGHTTP2_REFUSED_STREAM;
	}
	wake(u);
	return 0;
}

/* The request body from the client's stream. */
static ssize_t read_body(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	(void)sess;
	(void)id;
	(void)ud;
	struct fc_upstream *u = src->ptr;
	struct fc_exchange *x = u->x;
	if (!x || !x->h2s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	size_t avail = 0;
	const char *p = fc_h2_body_peek(x, &avail);
	size_t n = avail < length ? avail : length;
	if (n) {
		memcpy(buf, p, n);
		fc_h2_body_sent(x, n);
	}
	if (x->complete && x->sent == x->parsed) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		return (ssize_t)n;
	}
	if (!n) {
		u->h2_deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

/* ---------------------------------------------------------------- I/O */

/* Writes what nghttp2 has to send. False when the connection failed. */
static bool conn_flush(struct fc_h2up *h)
{
	struct fc_loop *loop = &h->w->loop;
	if (h->dead || !h->ready || h->in_session)
		return !h->dead;
	for (int i = 0; i < 64; i++) {
		if (!h->out && !(h->out = fc_buf_take(&h->w->bufs))) {
			conn_fail(h, -ENOMEM, "out of memory");
			return false;
		}
		h->in_session = true;
		ssize_t n = fc_h2_fill(h->sess, &h->pend, h->out);
		h->in_session = false;
		if (n < 0) {
			conn_fail(h, -EPROTO, nghttp2_strerror((int)n));
			return false;
		}
		if (!fc_buf_len(h->out)) {
			fc_buf_release(&h->w->bufs, h->out);
			h->out = NULL;
			return true;
		}
		if (!h->writable)
			return true; /* EPOLLOUT brings it back */
		struct iovec iov = {h->out->data + h->out->rpos, fc_buf_len(h->out)};
		ssize_t wr = fc_stream_send(loop, &h->s, &iov, 1);
		if (wr == -EAGAIN) {
			h->writable = false;
			return true;
		}
		if (wr < 0) {
			conn_fail(h, (int)wr, NULL);
			return false;
		}
		h->out->rpos += (uint32_t)wr;
		if ((size_t)wr < iov.iov_len) {
			h->writable = false;
			return true;
		}
		h->out->rpos = h->out->wpos = 0;
		if (n == 0 && !h->pend.n)
			break;
	}
	return true;
}

static bool conn_start_session(struct fc_h2up *h)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	if (nghttp2_session_callbacks_new(&cb))
		return false;
	if (nghttp2_option_new(&opt)) {
		nghttp2_session_callbacks_del(cb);
		return false;
	}
	nghttp2_session_callbacks_set_send_callback(cb, fc_h2_no_send);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_max_outbound_ack(opt, 100);
	int rc = nghttp2_session_client_new2(&h->sess, cb, h, opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	if (rc)
		return false;
	nghttp2_settings_entry iv[] = {
	        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, h->w->bufs.size},
	        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 2 * h->w->cfg->max_header_size},
	};
	return nghttp2_submit_settings(h->sess, NGHTTP2_FLAG_NONE, iv,
	                               sizeof(iv) / sizeof(iv[0])) == 0 &&
	       nghttp2_session_set_local_window_size(h->sess, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW) ==
	               0;
}

static void conn_read(struct fc_h2up *h)
{
	struct fc_loop *loop = &h->w->loop;
	while (h->readable && !h->dead) {
		if (!h->in && !(h->in = fc_buf_take(&h->w->bufs))) {
			conn_fail(h, -ENOMEM, "out of memory");
			return;
		}
		ssize_t n = fc_stream_recv(loop, &h->s, h->in->data, h->in->cap);
		if (n == -EAGAIN) {
			h->readable = false;
			break;
		}
		if (n <= 0) {
			const char *why = fc_tls_failure(loop, &h->s);
			conn_fail(h, n == 0 ? -ECONNRESET : (int)n,
			          why          ? why
			          : h->n_users ? "connection closed"
			                       : NULL);
			return;
		}
		if ((size_t)n < h->in->cap && h->rdhup)
			h->readable = false;
		h->in_session = true;
		ssize_t k =
		        nghttp2_session_mem_recv(h->sess, (const uint8_t *)h->in->data, (size_t)n);
		h->in_session = false;
		if (k < 0) {
			conn_fail(h, -EPROTO, nghttp2_strerror((int)k));
			return;
		}
		if ((size_t)n < h->in->cap)
			h->readable = false;
	}
	fc_buf_release(&h->w->bufs, h->in);
	h->in = NULL;
}

static void conn_idle_check(struct fc_h2up *h)
{
	if (h->closed)
		return;
	if (h->dead && !h->n_users) {
		conn_close(h);
		return;
	}
	if (!h->n_users && !h->timer.slot)
		fc_timer_set(&h->w->loop, &h->timer,
		             h->w->loop.now_ms + (h->idle_timeout_ms ? h->idle_timeout_ms : 1));
}

static void conn_run(struct fc_h2up *h)
{
	struct fc_loop *loop = &h->w->loop;
	if (h->connecting && h->writable) {
		int e = fc_stream_connect_result(loop, &h->s);
		if (e) {
			const char *why = fc_tls_failure(loop, &h->s);
			h->connecting = false;
			conn_fail(h, e, why);
		} else {
			fc_stream_connected(loop, &h->s);
			h->connecting = false;
			if (h->rs->tls_host && !fc_tls_alpn_h2(loop, &h->s)) {
				conn_fail(h, -EPROTO, "the server did not accept h2 (ALPN)");
			} else if (!conn_start_session(h)) {
				conn_fail(h, -ENOMEM, "out of memory");
			} else {
				h->ready = true;
				h->readable = true;
				wake_all(h);
			}
		}
	}
	if (h->ready && !h->dead) {
		conn_read(h);
		conn_flush(h);
		if (!h->dead && !nghttp2_session_want_read(h->sess) &&
		    !nghttp2_session_want_write(h->sess))
			conn_fail(h, -ECONNRESET, NULL); /* GOAWAY'd and done */
	}
	run_woken(h);
	conn_idle_check(h);
}

static void conn_on_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct fc_h2up *h = (struct fc_h2up *)io;
	(void)loop;
	if (ev & FC_EV_RELEASED) {
		fc_worker_defer_free(h->w, h);
		return;
	}
	if (h->closed)
		return;
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		h->readable = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		h->rdhup = true;
	if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		h->writable = true;
	conn_run(h);
}

static void conn_on_timer(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_h2up *h = fc_link_entry(t, struct fc_h2up, timer);
	(void)loop;
	if (!h->dead && !h->n_users) {
		conn_close(h); /* idle for idle_timeout */
		return;
	}
	run_woken(h);
	conn_idle_check(h);
}

static void conn_close(struct fc_h2up *h)
{
	if (h->closed)
		return;
	struct fc_worker *w = h->w;
	h->closed = true;
	fc_link_remove(&h->link);
	fc_timer_cancel(&w->loop, &h->timer);
	while (!fc_link_empty(&h->users)) {
		/* requests still on it are cut */
		struct fc_upstream *u = fc_link_entry(h->users.next, struct fc_upstream, h2_link);
		fc_link_remove(&u->h2_link);
		fc_link_init(&u->h2_link);
		u->h2 = NULL;
		u->eof = u->reset = true;
	}
	if (h->sess)
		nghttp2_session_del(h->sess);
	h->sess = NULL;
	fc_buf_release(&w->bufs, h->in);
	fc_buf_release(&w->bufs, h->out);
	h->in = h->out = NULL;
	bool now = fc_stream_close(&w->loop, &h->s);
	fc_rt_server_unref(h->rs);
	h->rs = NULL;
	if (now)
		fc_worker_defer_free(w, h);
}

/* ---------------------------------------------------------------- requests */

static struct fc_h2up *conn_new(struct fc_worker *w, struct fc_rt_server *rs,
                                struct fc_tls_client *tls, uint32_t idle_timeout_ms, int *err)
{
	struct fc_h2up *h = calloc(1, sizeof(*h));
	if (!h) {
		*err = -ENOMEM;
		return NULL;
	}
	h->s.io.cb = conn_on_event;
	h->timer.cb = conn_on_timer;
	h->w = w;
	h->rs = rs;
	h->idle_timeout_ms = idle_timeout_ms;
	fc_link_init(&h->users);
	fc_link_init(&h->wake);
	const struct sockaddr *sa = (const struct sockaddr *)&rs->addr;
	int rc = rs->tls_host && tls
	                 ? fc_tls_connect(&w->loop, &h->s, sa, rs->addr_len, tls, rs->tls_host)
	                 : fc_stream_connect(&w->loop, &h->s, sa, rs->addr_len);
	if (rc < 0) {
		free(h);
		*err = rc;
		return NULL;
	}
	fc_rt_server_ref(rs);
	h->connecting = true;
	fc_link_push(worker_conns(w), &h->link);
	return h;
}

struct fc_upstream *fc_h2up_get(struct fc_worker *w, struct fc_server *server,
                                struct fc_tls_client *tls, uint32_t idle_timeout_ms, int *err)
{
	struct fc_rt_server *rs = fc_server_user(server);
	struct fc_link *head = worker_conns(w);
	struct fc_h2up *h = NULL;
	for (struct fc_link *l = head->next; l != head; l = l->next) {
		struct fc_h2up *c = fc_link_entry(l, struct fc_h2up, link);
		if (c->rs != rs || c->dead || c->goaway)
			continue;
		uint32_t max = c->ready ? nghttp2_session_get_remote_settings(
		                                  c->sess, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
		                        : STREAMS_DEFAULT;
		if (c->n_users < max) {
			h = c;
			break;
		}
	}
	if (!h && !(h = conn_new(w, rs, tls, idle_timeout_ms, err)))
		return NULL;
	struct fc_upstream *u = calloc(1, sizeof(*u));
	if (!u) {
		*err = -ENOMEM;
		conn_idle_check(h);
		return NULL;
	}
	u->s.io.fd = -1;
	u->h2_req = true;
	u->w = w;
	u->rs = rs;
	fc_rt_server_ref(rs);
	fc_link_init(&u->idle_link);
	fc_link_init(&u->h2_wake);
	u->h2 = h;
	fc_link_push(&h->users, &u->h2_link);
	h->n_users++;
	fc_timer_cancel(&w->loop, &h->timer);
	u->connecting = !h->ready;
	u->reused = h->ready; /* a kept connection: if it turns out dead, retry */
	u->writable = true;
	return u;
}

int fc_h2up_connected(struct fc_upstream *u)
{
	struct fc_h2up *h = u->h2;
	if (!h || h->dead)
		return h ? h->err : -ECONNRESET;
	if (!h->ready)
		return 0;
	u->connecting = false;
	return 1;
}

/* The fields of the request head fulcrum wrote for HTTP/1.1 (x->head: the
 * same rewriting for both protocols), as HTTP/2 fields. */
static int submit(struct fc_upstream *u, struct fc_exchange *x)
{
	struct fc_h2up *h = u->h2;
	struct fc_h1 p;
	struct fc_h1_head *hd = &x->c->w->scratch;
	const char *err = NULL;
	fc_h1_init(&p, false);
	/* names are lowercased in a copy: x->head stays as it is for a retry */
	char *copy = malloc(x->head->wpos);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, x->head->data, x->head->wpos);
	if (fc_h1_parse_head(&p, copy, x->head->wpos, hd, false, &err) == FC_H1_ERROR) {
		fc_error("HTTP/2 request to %s: the rewritten head did not parse: %s", h->rs->name,
		         err ? err : "?");
		free(copy);
		return -EINVAL;
	}
	nghttp2_nv nv[FC_H1_MAX_HEADERS + 6];
	size_t n = 0;
	const char *method = llhttp_method_name((llhttp_method_t)hd->method);
	const char *scheme = h->rs->tls_host ? "https" : "http";
	const struct fc_h1_header *host = hd->host >= 0 ? &hd->h[hd->host] : NULL;
#define NV(nm, nl, v, vl)                                                                          \
	nv[n++] = (nghttp2_nv){(uint8_t *)(nm), (uint8_t *)(v), (nl), (vl), NGHTTP2_NV_FLAG_NONE}
	NV(":method", 7, method, strlen(method));
	NV(":scheme", 7, scheme, strlen(scheme));
	if (host)
		NV(":authority", 10, host->value, host->value_len);
	else
		NV(":authority", 10, h->rs->hostport, strlen(h->rs->hostport));
	NV(":path", 5, hd->url, hd->url_len);
	for (uint32_t i = 0; i < hd->n_headers && n + 1 < sizeof(nv) / sizeof(nv[0]); i++) {
		struct fc_h1_header *f = &hd->h[i];
		if (f->hop || (int)i == hd->host || FC_H1_NAME_IS(f, "transfer-encoding"))
			continue;
		char *name = (char *)f->name;
		for (uint32_t k = 0; k < f->name_len; k++)
			if (name[k] >= 'A' && name[k] <= 'Z')
				name[k] = (char)(name[k] + 32);
		NV(name, f->name_len, f->value, f->value_len);
	}
	/* gRPC servers want it; fulcrum takes trailers and passes them on */
	NV("te", 2, "trailers", 8);
#undef NV
	bool body = !x->complete || x->parsed > x->body_start;
	nghttp2_data_provider prd = {.source = {.ptr = u}, .read_callback = read_body};
	int32_t id = nghttp2_submit_request(h->sess, NULL, nv, n, body ? &prd : NULL, u);
	free(copy);
	if (id < 0) {
		if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE)
			h->goaway = true; /* out of stream ids: a new connection next time */
		return -ECONNRESET;
	}
	u->h2_id = id;
	return 0;
}

ssize_t fc_h2up_send(struct fc_upstream *u, struct fc_exchange *x)
{
	struct fc_h2up *h = u->h2;
	if (!h || h->dead)
		return h ? h->err : -ECONNRESET;
	bool progress = false;
	if (!u->h2_id) {
		int rc = submit(u, x);
		if (rc < 0)
			return rc;
		x->head_sent = x->head->wpos;
		progress = true;
	} else if (u->h2_deferred && (x->parsed > x->sent || x->complete)) {
		u->h2_deferred = false;
		nghttp2_session_resume_data(h->sess, u->h2_id);
		progress = true;
	}
	uint32_t sent = x->sent;
	if (!conn_flush(h))
		return h->err;
	return progress || x->sent != sent ? 1 : 0;
}

enum fc_upstream_head fc_h2up_parse_head(struct fc_upstream *u, struct fc_h1_head *hd)
{
	if (!u->h2_head) {
		if (u->h2_bad)
			return FC_UP_HEAD_BAD;
		if (u->eof || u->reset || !u->h2)
			return u->h2_refused || !u->h2_status ? FC_UP_HEAD_EMPTY : FC_UP_HEAD_CUT;
		return FC_UP_HEAD_AGAIN;
	}
	if (!u->in && !(u->in = fc_buf_take(&u->w->bufs)))
		return FC_UP_HEAD_TOO_BIG;
	memset(hd, 0, offsetof(struct fc_h1_head, h));
	hd->status = u->h2_status;
	hd->major = 2;
	hd->host = hd->xff = hd->ua = -1;
	hd->keep_alive = true;
	struct fc_h2up_resp *r = u->resp;
	for (uint32_t i = 0; r && i < r->n_head; i++) {
		struct fc_h1_header *f = &hd->h[hd->n_headers++];
		f->name = r->data + r->f[i].name;
		f->name_len = r->f[i].name_len;
		f->value = r->data + r->f[i].value;
		f->value_len = r->f[i].value_len;
		f->hop = false;
		if (FC_H1_NAME_IS(f, "content-length"))
			hd->has_cl = true;
	}
	bool no_body = u->h2_end && !(r && r->n_trail) && fc_buf_len(u->in) == 0;
	hd->has_body = !no_body;
	return no_body ? FC_UP_HEAD_COMPLETE : FC_UP_HEAD_OK;
}

enum fc_upstream_body fc_h2up_parse_body(struct fc_upstream *u)
{
	if (u->h2_end)
		return FC_UP_BODY_COMPLETE;
	if (u->h2_bad)
		return FC_UP_BODY_BAD;
	if (u->reset || u->eof || !u->h2)
		return FC_UP_BODY_CUT;
	uint32_t seen = u->in ? u->in->wpos : 0;
	if (seen != u->h2_seen) {
		u->h2_seen = seen;
		return FC_UP_BODY_MORE;
	}
	return FC_UP_BODY_AGAIN;
}

void fc_h2up_consumed(struct fc_upstream *u, size_t n)
{
	struct fc_h2up *h = u->h2;
	u->h2_seen = u->in ? u->in->wpos : 0;
	if (!h || h->dead || !u->h2_id || u->h2_closed)
		return;
	nghttp2_session_consume(h->sess, u->h2_id, n);
	conn_flush(h); /* the WINDOW_UPDATE */
}

size_t fc_h2up_trailers(const struct fc_upstream *u, void *out, size_t cap)
{
	nghttp2_nv *nv = out;
	const struct fc_h2up_resp *r = u->resp;
	size_t n = 0;
	for (uint32_t i = 0; r && i < r->n_trail && n < cap; i++) {
		uint32_t k = r->n_head + i;
		nv[n++] = (nghttp2_nv){(uint8_t *)r->data + r->f[k].name,
		                       (uint8_t *)r->data + r->f[k].value, r->f[k].name_len,
		                       r->f[k].value_len, NGHTTP2_NV_FLAG_NONE};
	}
	return n;
}

void fc_h2up_close(struct fc_upstream *u)
{
	if (u->closed)
		return;
	struct fc_worker *w = u->w;
	struct fc_h2up *h = u->h2;
	u->closed = true;
	if (h) {
		if (u->h2_id && !h->dead) {
			nghttp2_session_set_stream_user_data(h->sess, u->h2_id, NULL);
			if (!u->h2_closed) {
				nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, u->h2_id,
				                          NGHTTP2_CANCEL);
				conn_flush(h);
			}
		}
		fc_link_remove(&u->h2_link);
		if (!fc_link_empty(&u->h2_wake))
			fc_link_remove(&u->h2_wake);
		h->n_users--;
		conn_idle_check(h);
	}
	fc_buf_release(&w->bufs, u->in);
	u->in = NULL;
	u->x = NULL;
	free(u->resp);
	u->resp = NULL;
	fc_rt_server_unref(u->rs);
	u->rs = NULL;
	fc_worker_defer_free(w, u);
}

void fc_h2up_close_idle(struct fc_worker *w, struct fc_rt_server *rs, bool only_removed)
{
	struct fc_link *head = worker_conns(w);
	struct fc_link *l = head->next;
	while (l != head) {
		struct fc_h2up *h = fc_link_entry(l, struct fc_h2up, link);
		l = l->next;
		if (h->n_users || (rs && h->rs != rs) ||
		    (only_removed && !atomic_load(&h->rs->removed)))
			continue;
		conn_close(h);
	}
}
