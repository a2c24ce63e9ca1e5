/* upstream.c — a connection to a server: connecting, sending, receiving,
 * parsing the response it sends back; and each worker's idle keep-alive pool
 * per server. An idle connection stays registered with the loop (on io_uring,
 * with a receive in flight): any input on it (the server closed it, or sent
 * stray bytes) closes it at once, so reuse rarely meets a stale socket; the
 * exchange retries when it does.
 * Pools have no small fixed size: a per-worker timer closes, a share each
 * period, the idle connections beyond what recent traffic used (the idea of
 * HAProxy's pool-purge-delay; docs/architecture.md, "Idle upstream pools"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sock.h"
#include "proxy/proxy.h"
#include "tls/tls.h"

static void on_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct fc_upstream *u = (struct fc_upstream *)io;
	(void)loop;
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		u->readable = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		u->rdhup = true;
	if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		u->writable = true;
	if (u->x && u->x->h2s)
		fc_h2_ready(u->x);
	else if (u->x)
		fc_client_run(u->x->c);
}

static void idle_on_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct fc_upstream *u = (struct fc_upstream *)io;
	if (ev == EPOLLOUT)
		return; /* writable edge only: still fine */
	/* Bytes, the end or an error close it; a TLS record that carries no
	 * data (a late session ticket) leaves it as it was. */
	char b[64];
	if (!(ev & (EPOLLHUP | EPOLLERR)) && fc_stream_recv(loop, &u->s, b, sizeof(b)) == -EAGAIN)
		return;
	fc_upstream_close(u);
}

static void idle_on_timeout(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_upstream *u = fc_link_entry(t, struct fc_upstream, timer);
	(void)loop;
	fc_upstream_close(u);
}

/* A closed connection: nothing but the loop's release reaches it. */
static void closed_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct fc_upstream *u = (struct fc_upstream *)io;
	(void)loop;
	if (ev & FC_EV_RELEASED)
		fc_worker_defer_free(u->w, u);
}

/* ---------------------------------------------------------------- pools */

uint32_t fc_upstream_purge_count(uint32_t idle, uint32_t used, uint32_t peak, uint32_t *need)
{
	/* Keep what the last period used at its busiest, or what earlier periods
	 * did (the estimate), whichever is more; close half of the rest (rounded
	 * up), so a pool shrinks over a few periods, not at once. */
	uint64_t keep = peak > *need ? peak : *need;
	uint64_t total = (uint64_t)idle + used;
	uint64_t excess = total > keep ? total - keep : 0;
	uint64_t close = excess / 2 + excess % 2;
	if (close > idle)
		close = idle;
	/* The estimate halves towards the latest peak but never below it, nor
	 * below one once it was one: a pool that served anything keeps a
	 * connection until idle_timeout (a request every few seconds must not
	 * pay a connect each time). */
	uint64_t decayed = ((uint64_t)*need + peak) / 2;
	if (decayed < peak)
		decayed = peak;
	if (decayed == 0 && *need)
		decayed = 1;
	*need = (uint32_t)decayed;
	return (uint32_t)close;
}

static void purge_on_timer(struct fc_loop *loop, struct fc_timer *t);

/* The pool of (w, idle) gained its first connection: the purge watches it. */
static void pool_join(struct fc_worker *w, struct fc_rt_idle *idle)
{
	struct fc_upstream_purge *p = &w->upurge;
	if (!p->pools.next)
		fc_link_init(&p->pools); /* a zeroed worker: first use */
	fc_link_push(&p->pools, &idle->active);
	if (!p->timer.slot && !w->draining) {
		p->timer.cb = purge_on_timer;
		fc_timer_set(&w->loop, &p->timer, w->loop.now_ms + FC_UPSTREAM_PURGE_MS);
	}
}

/* One connection of (w, idle) was closed: a pool with none left is forgotten
 * (the server may be freed once no connection references it). */
static void pool_shrank(struct fc_rt_idle *idle)
{
	if (idle->n + idle->used == 0) {
		fc_link_remove(&idle->active);
		idle->peak = 0;
		idle->need = 0;
	}
}

static void take_one(struct fc_rt_idle *idle)
{
	idle->used++;
	if (idle->used > idle->peak)
		idle->peak = idle->used;
}

static void purge_on_timer(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_worker *w = fc_link_entry(t, struct fc_worker, upurge.timer);
	struct fc_link *head = &w->upurge.pools;
	struct fc_link *it = head->next;
	while (it != head) {
		struct fc_rt_idle *idle = fc_link_entry(it, struct fc_rt_idle, active);
		it = it->next; /* closing may unlink this pool, never the next one */
		uint32_t k = fc_upstream_purge_count(idle->n, idle->used, idle->peak, &idle->need);
		idle->peak = idle->used;
		/* the oldest go: reuse takes the most recent (list head) */
		while (k-- > 0)
			fc_upstream_close(
			        fc_link_entry(idle->list.prev, struct fc_upstream, idle_link));
	}
	if (!fc_link_empty(head) && !w->draining)
		fc_timer_set(loop, t, loop->now_ms + FC_UPSTREAM_PURGE_MS);
}

/* ---------------------------------------------------------------- connections */

struct fc_upstream *fc_upstream_get(struct fc_worker *w, struct fc_server *server,
                                    struct fc_tls_client *tls, int *err)
{
	struct fc_rt_server *rs = fc_server_user(server);
	struct fc_rt_idle *idle = &rs->idle[w->id];
	if (!fc_link_empty(&idle->list)) {
		struct fc_upstream *u =
		        fc_link_entry(idle->list.next, struct fc_upstream, idle_link);
		fc_link_remove(&u->idle_link);
		idle->n--;
		take_one(idle);
		fc_timer_cancel(&w->loop, &u->timer);
		fc_stream_set_handler(&w->loop, &u->s, on_event);
		u->reused = true;
		u->readable = false;
		u->rdhup = false;
		u->eof = false;
		u->writable = true;
		/* the record's reference held by the pool moves to the caller's use */
		return u;
	}
	struct fc_upstream *u = calloc(1, sizeof(*u));
	if (!u) {
		*err = -ENOMEM;
		return NULL;
	}
	u->s.io.cb = on_event;
	u->timer.cb = idle_on_timeout;
	u->w = w;
	u->rs = rs;
	fc_rt_server_ref(rs);
	fc_link_init(&u->idle_link);
	u->connecting = true;
	fc_h1_init(&u->parser, true);
	/* rs->addr outlives the connection: the record is referenced until it closes */
	const struct sockaddr *sa = (const struct sockaddr *)&rs->addr;
	int rc = rs->tls_host && tls
	                 ? fc_tls_connect(&w->loop, &u->s, sa, rs->addr_len, tls, rs->tls_host)
	                 : fc_stream_connect(&w->loop, &u->s, sa, rs->addr_len);
	if (rc < 0) { /* e.g. refused at once */
		fc_rt_server_unref(rs);
		free(u);
		*err = rc;
		return NULL;
	}
	take_one(idle);
	if (idle->n + idle->used == 1)
		pool_join(w, idle);
	return u;
}

void fc_upstream_close(struct fc_upstream *u)
{
	if (u->closed)
		return;
	if (u->h2_req) {
		fc_h2up_close(u); /* a stream of an HTTP/2 connection */
		return;
	}
	struct fc_worker *w = u->w;
	struct fc_rt_idle *idle = &u->rs->idle[w->id];
	u->closed = true;
	if (!fc_link_empty(&u->idle_link)) {
		fc_link_remove(&u->idle_link);
		idle->n--;
	} else {
		idle->used--;
	}
	pool_shrank(idle);
	fc_timer_cancel(&w->loop, &u->timer);
	bool now = fc_stream_close(&w->loop, &u->s);
	u->s.io.cb = closed_event;
	fc_buf_release(&w->bufs, u->in);
	u->in = NULL;
	u->x = NULL;
	if (now)
		fc_worker_defer_free(w, u);
	/* the purge list may hold idle's links: unlinked above when it emptied */
	if (u->rs)
		fc_rt_server_unref(u->rs);
	u->rs = NULL;
}

void fc_upstream_release(struct fc_upstream *u, bool reusable, uint32_t max_idle,
                         uint32_t idle_timeout_ms)
{
	struct fc_worker *w = u->w;
	if (u->h2_req) {
		fc_h2up_close(u); /* a stream of an HTTP/2 connection */
		return;
	}
	struct fc_rt_idle *idle = &u->rs->idle[w->id];
	u->x = NULL;
	if (!reusable || u->eof || u->rdhup || w->draining || idle->n >= max_idle ||
	    atomic_load_explicit(&u->rs->removed, memory_order_relaxed) ||
	    (u->in && fc_buf_len(u->in) > 0) || !fc_stream_flushed(&w->loop, &u->s)) {
		fc_upstream_close(u);
		return;
	}
	fc_buf_release(&w->bufs, u->in);
	u->in = NULL;
	u->rparsed = 0;
	fc_stream_set_handler(&w->loop, &u->s, idle_on_event);
	fc_link_push(&idle->list, &u->idle_link);
	idle->used--;
	idle->n++;
	fc_timer_set(&w->loop, &u->timer, w->loop.now_ms + (idle_timeout_ms ? idle_timeout_ms : 1));
}

/* Closes the idle connections of every pool in w's purge list that match. */
static void close_idle_where(struct fc_worker *w, bool only_removed)
{
	struct fc_link *head = &w->upurge.pools;
	if (!head->next)
		return; /* never used */
	struct fc_link *it = head->next;
	while (it != head) {
		struct fc_rt_idle *idle = fc_link_entry(it, struct fc_rt_idle, active);
		it = it->next; /* closing may unlink this pool, never the next one */
		if (only_removed) {
			struct fc_upstream *u =
			        fc_link_empty(&idle->list)
			                ? NULL
			                : fc_link_entry(idle->list.next, struct fc_upstream,
			                                idle_link);
			if (!u || !atomic_load(&u->rs->removed))
				continue;
		}
		while (!fc_link_empty(&idle->list))
			fc_upstream_close(
			        fc_link_entry(idle->list.next, struct fc_upstream, idle_link));
	}
}

void fc_upstream_close_idle(struct fc_worker *w)
{
	fc_timer_cancel(&w->loop, &w->upurge.timer);
	close_idle_where(w, false);
	fc_h2up_close_idle(w, NULL, false);
}

void fc_upstream_close_removed(struct fc_worker *w)
{
	close_idle_where(w, true);
	fc_h2up_close_idle(w, NULL, true);
}

void fc_upstream_close_idle_server(struct fc_worker *w, struct fc_rt_server *rs)
{
	fc_h2up_close_idle(w, rs, false);
	struct fc_rt_idle *idle = &rs->idle[w->id];
	while (!fc_link_empty(&idle->list))
		fc_upstream_close(fc_link_entry(idle->list.next, struct fc_upstream, idle_link));
}

/* ---------------------------------------------------------------- I/O */

int fc_upstream_connected(struct fc_upstream *u)
{
	if (u->h2_req)
		return fc_h2up_connected(u);
	if (!u->connecting)
		return 1;
	if (!u->writable)
		return 0;
	int e = fc_stream_connect_result(&u->w->loop, &u->s);
	if (e)
		return e;
	u->connecting = false;
	fc_stream_connected(&u->w->loop, &u->s);
	return 1;
}

ssize_t fc_upstream_send(struct fc_upstream *u, const struct iovec *iov, int n)
{
	if (!u->writable)
		return 0;
	size_t want = 0;
	for (int i = 0; i < n; i++)
		want += iov[i].iov_len;
	ssize_t wr = fc_stream_send(&u->w->loop, &u->s, iov, n);
	if (wr >= 0) {
		if ((size_t)wr < want)
			u->writable = false;
		return wr;
	}
	if (wr == -EAGAIN) {
		u->writable = false;
		return 0;
	}
	return wr;
}

int fc_upstream_recv(struct fc_upstream *u)
{
	if (u->connecting || !u->readable || u->eof)
		return 0;
	if (!u->in) {
		u->in = fc_buf_take(&u->w->bufs);
		if (!u->in)
			return -ENOMEM;
	}
	struct fc_buf *b = u->in;
	if (fc_buf_room(b) == 0) {
		if (b->rpos == 0)
			return 0; /* the client is slower than the server: wait */
		u->rparsed -= b->rpos;
		fc_buf_compact(b);
	}
	size_t room = fc_buf_room(b);
	ssize_t n = fc_stream_recv(&u->w->loop, &u->s, b->data + b->wpos, room);
	if (n > 0) {
		b->wpos += (uint32_t)n;
		if ((size_t)n < room) {
			u->readable = false;
			if (u->rdhup)
				u->eof = true;
		}
		return 1;
	}
	if (n == 0) {
		u->eof = true;
		u->readable = false;
		return 1;
	}
	u->readable = false;
	if (n == -EAGAIN)
		return 0;
	u->eof = true;
	u->reset = true;
	return 1;
}

/* ---------------------------------------------------------------- response */

enum fc_upstream_head fc_upstream_parse_head(struct fc_upstream *u, bool head_request,
                                             struct fc_h1_head *hd, size_t *len, const char **err)
{
	struct fc_buf *b = u->in;
	size_t have = b ? fc_buf_len(b) : 0;
	if (have == 0)
		return u->eof ? FC_UP_HEAD_EMPTY : FC_UP_HEAD_AGAIN;
	size_t end = fc_h1_head_end(b->data + b->rpos, have, 0);
	if (!end) {
		if (u->eof)
			return FC_UP_HEAD_CUT;
		return fc_buf_room(b) == 0 ? FC_UP_HEAD_TOO_BIG : FC_UP_HEAD_AGAIN;
	}
	*err = NULL;
	int rc = fc_h1_parse_head(&u->parser, b->data + b->rpos, end, hd, head_request, err);
	if (rc == FC_H1_ERROR)
		return FC_UP_HEAD_BAD;
	*len = end;
	return rc == FC_H1_COMPLETE ? FC_UP_HEAD_COMPLETE : FC_UP_HEAD_OK;
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

enum fc_upstream_body fc_upstream_parse_body(struct fc_upstream *u, bool dechunk,
                                             bool close_delimited, bool *extra, const char **err)
{
	struct fc_buf *b = u->in;
	*extra = false;
	if (b && u->rparsed < b->wpos) {
		size_t consumed = 0;
		char *start = b->data + u->rparsed;
		struct dechunk d = {.dst = start};
		*err = NULL;
		int rc = fc_h1_body(&u->parser, start, b->wpos - u->rparsed, &consumed,
		                    dechunk ? dechunk_body : NULL, &d, err);
		if (rc == FC_H1_ERROR) {
			b->wpos = u->rparsed; /* forward what was valid, then close */
			return FC_UP_BODY_BAD;
		}
		if (dechunk) {
			/* keep only decoded bytes; the unparsed tail follows them */
			uint32_t tail = b->wpos - (u->rparsed + (uint32_t)consumed);
			memmove(d.dst, start + consumed, tail);
			u->rparsed = (uint32_t)(d.dst - b->data);
			b->wpos = u->rparsed + tail;
		} else {
			u->rparsed += (uint32_t)consumed;
		}
		if (rc == FC_H1_COMPLETE) {
			if (u->rparsed < b->wpos) {
				*extra = true; /* bytes nobody asked for */
				b->wpos = u->rparsed;
			}
			return FC_UP_BODY_COMPLETE;
		}
		return consumed > 0 ? FC_UP_BODY_MORE : FC_UP_BODY_AGAIN;
	}
	if (u->eof) {
		if (close_delimited && !u->reset && fc_h1_eof(&u->parser) == FC_H1_COMPLETE)
			return FC_UP_BODY_COMPLETE;
		return FC_UP_BODY_CUT;
	}
	return FC_UP_BODY_AGAIN;
}
