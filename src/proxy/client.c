/* client.c — one client connection: read the request bytes, find each head
 * and hand it to an exchange, validate the request body, write the response
 * back, then keep-alive or close gracefully. Every event runs the
 * connection's steps until none makes progress ("pump"), so both directions
 * move at once with backpressure: a step that cannot move (buffer full,
 * socket would block) just waits for the next edge. Readiness is tracked by
 * hand because epoll is edge-triggered; the stream (core/stream.h) makes an
 * io_uring loop look the same. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"
#include "http/h1_write.h"
#include "proxy/proxy.h"
#include "tls/tls.h"

#define LINGER_MS 2000
/* Steps one pump may take before it lets other connections run; the rest
 * happens on the next loop turn (many pipelined requests in one read). */
#define PUMP_STEPS 1000

static inline uint64_t now_ms(struct fc_client *c)
{
	return c->w->loop.now_ms;
}

static inline uint64_t phase_start(const struct fc_client *c)
{
	return fc_client_time(c, c->phase_ms);
}

/* ---------------------------------------------------------------- timers */

static uint64_t client_deadline(struct fc_client *c)
{
	const struct fc_config *cfg = c->w->cfg;
	if (c->resume)
		return now_ms(c); /* more work waits: come back on the next turn */
	switch (c->state) {
	case FC_C_IDLE:
		if (!c->served && fc_tls_handshaking(&c->w->loop, &c->s))
			return phase_start(c) +
			       c->w->listeners[c->listener]->cfg->tls->handshake_timeout_ms;
		return phase_start(c) +
		       (c->served ? cfg->client_idle_timeout_ms : cfg->header_timeout_ms);
	case FC_C_HEAD:
		return phase_start(c) + cfg->header_timeout_ms;
	case FC_C_ACTIVE: {
		uint64_t d = fc_exchange_deadline(c->x);
		return d ? d : fc_client_time(c, c->active_ms) + cfg->body_timeout_ms;
	}
	default:
		return phase_start(c) + LINGER_MS;
	}
}

static void arm_timer(struct fc_client *c)
{
	uint64_t d = client_deadline(c);
	if (!c->timer.slot || d < c->timer.when)
		fc_timer_set(&c->w->loop, &c->timer, d ? d : 1);
}

/* ---------------------------------------------------------------- output */

bool fc_client_out_reserve(struct fc_client *c)
{
	if (!c->out) {
		c->out = fc_buf_take(&c->w->bufs);
		if (!c->out)
			return false;
	}
	if (fc_buf_room(c->out) < 512)
		fc_buf_compact(c->out);
	return true;
}

bool fc_client_out_append(struct fc_client *c, const char *p, size_t n)
{
	if (!fc_client_out_reserve(c))
		return false;
	if (n > fc_buf_room(c->out)) {
		fc_buf_compact(c->out);
		if (n > fc_buf_room(c->out)) {
			fc_warn("client output buffer full (%zu bytes more); closing", n);
			return false;
		}
	}
	memcpy(c->out->data + c->out->wpos, p, n);
	c->out->wpos += (uint32_t)n;
	return true;
}

void fc_client_start_closing(struct fc_client *c)
{
	c->state = FC_C_CLOSING;
	c->phase_ms = fc_client_now(c);
	c->lingering = false;
	c->quick_close = false;
}

void fc_client_exchange_done(struct fc_client *c, bool close, bool aborted)
{
	c->served = true;
	c->phase_ms = fc_client_now(c);
	if (!close) {
		c->state = FC_C_IDLE;
		return;
	}
	if (aborted) {
		fc_client_close(c);
		return;
	}
	fc_client_start_closing(c);
	/* the request was read whole and the socket drained: no need to linger
	 * (nginx does the same); otherwise drain before closing so unread input
	 * does not turn our FIN into a reset */
	c->quick_close = !c->readable && (!c->in || c->in->rpos == c->in->wpos);
}

/* An error before any exchange exists (the head is too large or too slow):
 * answer it, then close. */
static void client_error(struct fc_client *c, int status)
{
	char tmp[512];
	size_t n = fc_h1_write_error(tmp, sizeof(tmp), status, true);
	if (!fc_client_out_append(c, tmp, n)) {
		fc_client_close(c);
		return;
	}
	fc_client_start_closing(c);
}

/* ---------------------------------------------------------------- close */

void fc_client_close(struct fc_client *c)
{
	if (c->closed)
		return;
	struct fc_worker *w = c->w;
	c->closed = true;
	if (c->is_h2)
		fc_h2_close(c);
	else if (c->x)
		fc_exchange_abandon(c->x);
	fc_timer_cancel(&w->loop, &c->timer);
	bool now = fc_stream_close(&w->loop, &c->s);
	fc_buf_release(&w->bufs, c->in);
	fc_buf_release(&w->bufs, c->out);
	c->in = c->out = NULL;
	w->n_clients--;
	w->listeners[c->listener]->n_clients--;
	/* later events of this batch may still point at c: it stays as it is
	 * (closed) until the batch is over, or until the loop released it */
	if (now && !fc_slab_defer_free(&w->clients, c))
		fc_error("out of memory deferring a free");
	fc_worker_conn_closed(w);
}

/* ---------------------------------------------------------------- input */

/* Moves unread client bytes to the front of the buffer. */
static void shift_in(struct fc_client *c, uint32_t k)
{
	struct fc_buf *b = c->in;
	if (k == 0)
		return;
	memmove(b->data, b->data + k, b->wpos - k);
	b->wpos -= k;
	b->rpos -= k;
	if (!c->is_h2 && c->x) {
		c->x->body_start -= k;
		c->x->sent -= k;
		c->x->parsed -= k;
	}
}

static bool make_room(struct fc_client *c)
{
	struct fc_buf *b = c->in;
	struct fc_exchange *x = c->is_h2 ? NULL : c->x;
	if (c->state != FC_C_ACTIVE || !x) {
		if (b->rpos == 0)
			return false;
		shift_in(c, b->rpos); /* c->scan counts from rpos: unchanged */
		return true;
	}
	if (b->rpos > 0) {
		shift_in(c, b->rpos);
		return true;
	}
	/* full from the body start: what was sent leaves the buffer, kept for a
	 * retry up to retry.replay_buffer (or the request is no longer replayable) */
	if (x->sent > x->body_start) {
		fc_exchange_replay_keep(x);
		b->rpos = x->sent;
		x->body_start = x->sent;
		shift_in(c, b->rpos);
		return true;
	}
	return false;
}

bool fc_client_read(struct fc_client *c)
{
	if (!c->readable || c->eof || c->closed)
		return false;
	struct fc_worker *w = c->w;
	if (!c->in) {
		c->in = fc_buf_take(&w->bufs);
		if (!c->in) {
			fc_warn("out of memory for a client buffer");
			fc_client_close(c);
			return true;
		}
	}
	struct fc_buf *b = c->in;
	if (c->state == FC_C_CLOSING) {
		/* lingering: read and drop */
		b->rpos = b->wpos = 0;
	} else if (fc_buf_room(b) == 0 && !make_room(c)) {
		return false;
	}
	size_t room = fc_buf_room(b);
	ssize_t n = fc_stream_recv(&w->loop, &c->s, b->data + b->wpos, room);
	if (n > 0) {
		b->wpos += (uint32_t)n;
		if ((size_t)n < room) {
			c->readable = false;
			if (c->rdhup)
				c->eof = true;
		}
		c->active_ms = fc_client_now(c);
		if (c->state == FC_C_CLOSING)
			b->rpos = b->wpos = 0;
		return true;
	}
	if (n == 0) {
		c->eof = true;
		c->readable = false;
		return true;
	}
	c->readable = false;
	if (n == -EAGAIN)
		return false;
	const char *tls_why = fc_tls_failure(&w->loop, &c->s);
	if (tls_why)
		fc_debug("TLS: %s", tls_why); /* every port scanner does it: not a warning */
	c->eof = true;
	return true;
}

static bool handle_head(struct fc_client *c)
{
	if (c->closed || (c->state != FC_C_IDLE && c->state != FC_C_HEAD))
		return false;
	struct fc_buf *b = c->in;
	size_t len = b ? fc_buf_len(b) : 0;
	if (len == 0) {
		if (c->eof) {
			fc_client_close(c);
			return true;
		}
		if (b && c->state == FC_C_IDLE && !c->out) {
			fc_buf_release(&c->w->bufs, b);
			c->in = NULL;
		}
		return false;
	}
	if (c->state == FC_C_IDLE && !c->served && c->w->listeners[c->listener]->cfg->http2) {
		/* HTTP/2: ALPN chose it, or a prior_knowledge client starts with
		 * the preface (a part of it waits for the rest) */
		enum fc_http2_mode m = c->w->listeners[c->listener]->cfg->http2;
		bool whole = true;
		if (m == FC_HTTP2_ON ? fc_tls_alpn_h2(&c->w->loop, &c->s)
		                     : fc_h2_preface(b->data + b->rpos, len, &whole)) {
			if (!whole) {
				if (c->eof)
					fc_client_close(c);
				return false;
			}
			if (!fc_h2_start(c))
				fc_client_close(c);
			return true;
		}
	}
	if (c->state == FC_C_IDLE) {
		c->state = FC_C_HEAD;
		if (c->served)
			c->phase_ms = fc_client_now(c);
	}
	uint32_t max = c->w->cfg->max_header_size;
	size_t end = fc_h1_head_end(b->data + b->rpos, len, c->scan);
	if (!end) {
		c->scan = (uint32_t)len;
		if (len >= max || (fc_buf_room(b) == 0 && b->rpos == 0))
			goto too_large;
		if (c->eof) {
			fc_client_close(c);
			return true;
		}
		return false;
	}
	if (end > max)
		goto too_large;
	if (c->out && fc_buf_len(c->out) > c->out->cap / 2)
		return false; /* pipelined answers wait to be taken: read on once they are */
	fc_exchange_start(c, end);
	return true;
too_large:
	client_error(c, 431);
	return true;
}

bool fc_client_request_body(struct fc_client *c)
{
	struct fc_exchange *x = c->x;
	if (c->closed || c->state != FC_C_ACTIVE || !x || x->complete)
		return false;
	struct fc_buf *b = c->in;
	if (!b || x->parsed >= b->wpos) {
		if (c->eof) {
			/* the client went away in the middle of its body */
			fc_client_close(c);
			return true;
		}
		return false;
	}
	size_t consumed = 0;
	const char *err = NULL;
	int rc = fc_h1_body(&x->parser, b->data + x->parsed, b->wpos - x->parsed, &consumed, NULL,
	                    NULL, &err);
	if (rc == FC_H1_ERROR) {
		fc_debug("bad request body: %s", err ? err : "?");
		if (!x->resp_started)
			fc_exchange_fail(x, 400, true);
		else
			fc_client_close(c);
		return true;
	}
	x->parsed += (uint32_t)consumed;
	if (rc == FC_H1_COMPLETE) {
		x->complete = true;
		fc_exchange_check_sent(x); /* the last bytes may already be out */
	}
	return consumed > 0 || rc == FC_H1_COMPLETE;
}

/* ---------------------------------------------------------------- output */

static void client_flushed(struct fc_client *c)
{
	if (!fc_stream_flushed(&c->w->loop, &c->s))
		return; /* an io_uring send is still out: EPOLLOUT comes when it is done */
	if (c->state == FC_C_CLOSING && c->quick_close) {
		/* nothing unread: a plain close sends FIN, not RST */
		fc_client_close(c);
		return;
	}
	if (c->state == FC_C_CLOSING && !c->lingering) {
		/* everything is out: half-close and drain what the client still sends */
		fc_stream_shutdown_write(&c->w->loop, &c->s);
		c->lingering = true;
		c->phase_ms = fc_client_now(c);
		if (c->eof)
			fc_client_close(c);
	}
}

bool fc_client_write(struct fc_client *c)
{
	if (c->closed)
		return false;
	struct iovec iov[2];
	int n = 0;
	size_t from_out = 0, from_up = 0;
	if (c->out && fc_buf_len(c->out)) {
		from_out = fc_buf_len(c->out);
		iov[n++] = (struct iovec){c->out->data + c->out->rpos, from_out};
	}
	struct fc_exchange *x = c->is_h2 ? NULL : c->x;
	struct fc_upstream *u = x ? x->up : NULL;
	if (x && x->phase >= FC_X_RESPOND && u && u->in && u->rparsed > u->in->rpos) {
		from_up = u->rparsed - u->in->rpos;
		iov[n++] = (struct iovec){u->in->data + u->in->rpos, from_up};
	}
	if (n == 0) {
		if (c->state == FC_C_CLOSING)
			client_flushed(c);
		return false;
	}
	if (!c->writable)
		return false;
	ssize_t wr = fc_stream_send(&c->w->loop, &c->s, iov, n);
	if (wr < 0) {
		if (wr == -EAGAIN) {
			c->writable = false;
			return false;
		}
		fc_client_close(c); /* the client is gone */
		return true;
	}
	size_t left = (size_t)wr;
	if ((size_t)wr < from_out + from_up)
		c->writable = false;
	if (from_out) {
		size_t k = left < from_out ? left : from_out;
		c->out->rpos += (uint32_t)k;
		left -= k;
		if (x)
			x->bytes_out += k;
		if (fc_buf_len(c->out) == 0) {
			fc_buf_release(&c->w->bufs, c->out);
			c->out = NULL;
		}
	}
	if (left) {
		u->in->rpos += (uint32_t)left;
		x->bytes_out += left;
		if (u->in->rpos == u->in->wpos && u->rparsed == u->in->wpos)
			u->in->rpos = u->in->wpos = u->rparsed = 0;
	}
	c->active_ms = fc_client_now(c);
	return true;
}

/* ---------------------------------------------------------------- driver */

static void client_timeout(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_client *c = fc_link_entry(t, struct fc_client, timer);
	if (c->is_h2) {
		fc_h2_timeout(c);
		return;
	}
	if (c->resume) {
		c->resume = false;
		fc_client_run(c);
		return;
	}
	uint64_t d = client_deadline(c);
	if (loop->now_ms < d) {
		fc_timer_set(loop, t, d);
		return;
	}
	switch (c->state) {
	case FC_C_IDLE:
		if (!c->served && fc_tls_handshaking(loop, &c->s))
			fc_debug("TLS handshake timeout");
		fc_client_close(c);
		return;
	case FC_C_HEAD:
		fc_debug("request head timeout");
		client_error(c, 408);
		break;
	case FC_C_ACTIVE:
		fc_exchange_timeout(c->x);
		break;
	default:
		fc_client_close(c);
		return;
	}
	if (!c->closed)
		fc_client_run(c);
}

void fc_client_run(struct fc_client *c)
{
	if (c->in_run) {
		c->rerun = true;
		return;
	}
	c->in_run = true;
	int steps = 0;
	if (c->is_h2)
		goto h2;
	do {
		c->rerun = false;
		for (; steps < PUMP_STEPS && !c->closed; steps++) {
			if (c->x && c->x->phase == FC_X_TUNNEL) {
				if (!fc_tunnel_step(c->x))
					break;
				continue;
			}
			bool p = false;
			p |= fc_client_read(c);
			if (!c->closed)
				p |= handle_head(c);
			if (c->is_h2)
				break; /* the connection turned HTTP/2 */
			if (!c->closed)
				p |= fc_client_request_body(c);
			if (!c->closed && c->x)
				p |= fc_exchange_send(c->x);
			if (!c->closed && c->x)
				p |= fc_exchange_receive(c->x);
			if (!c->closed)
				p |= fc_client_write(c);
			if (!c->closed && c->x)
				p |= fc_exchange_maybe_finish(c->x);
			if (!p)
				break;
		}
		/* out of steps with work left: finish it on the next loop turn */
		if (steps >= PUMP_STEPS && !c->closed) {
			c->resume = true;
			c->rerun = false;
		}
	} while (c->rerun && !c->closed && !c->is_h2);
	if (c->is_h2) {
	h2:
		do {
			c->rerun = false;
			fc_h2_run(c);
		} while (c->rerun && !c->closed);
		c->in_run = false;
		return;
	}
	c->in_run = false;
	if (!c->closed) {
		if (c->state == FC_C_CLOSING && c->lingering && c->eof)
			fc_client_close(c);
		else if (c->w->draining && c->state == FC_C_IDLE && (!c->in || !fc_buf_len(c->in)))
			fc_client_close(c);
		else
			arm_timer(c);
	}
}

static void client_on_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct fc_client *c = (struct fc_client *)io;
	(void)loop;
	if (ev & FC_EV_RELEASED) {
		/* closed earlier; the loop's last operation on it is over */
		if (!fc_slab_defer_free(&c->w->clients, c))
			fc_error("out of memory deferring a free");
		return;
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		c->readable = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		c->rdhup = true;
	if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		c->writable = true;
	fc_client_run(c);
}

static void peer_addr(const struct sockaddr *peer, struct fc_addr *out)
{
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)peer;
		out->family = 4;
		memcpy(out->bytes, &a->sin_addr, 4);
	} else if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)peer;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			out->family = 4;
			memcpy(out->bytes, &a->sin6_addr.s6_addr[12], 4);
		} else {
			out->family = 6;
			memcpy(out->bytes, &a->sin6_addr, 16);
		}
	}
}

void fc_client_accept(struct fc_worker *w, struct fc_listener *l, int fd,
                      const struct sockaddr *peer)
{
	struct fc_client *c = fc_slab_alloc(&w->clients);
	if (!c) {
		close(fd);
		fc_worker_conn_closed(w);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->s.io.fd = fd;
	c->s.io.cb = client_on_event;
	c->timer.cb = client_timeout;
	c->w = w;
	c->listener = l->index;
	l->n_clients++;
	c->state = FC_C_IDLE;
	c->phase_ms = c->active_ms = fc_client_now(c);
	peer_addr(peer, &c->peer);
	w->n_clients++;
	struct fc_tls_server *tls = w->rt->tls[l->cfg - w->rt->cfg->listeners];
	if ((tls ? fc_tls_accept(&w->loop, &c->s, tls) : fc_stream_open(&w->loop, &c->s)) < 0) {
		w->n_clients--;
		l->n_clients--;
		close(fd);
		fc_slab_free(&w->clients, c);
		fc_worker_conn_closed(w);
		return;
	}
	/* the request is often there already: try before waiting for an edge */
	c->readable = true;
	c->writable = true;
	fc_client_run(c);
}

void fc_client_shutdown(struct fc_client *c)
{
	if (c->closed)
		return; /* waits for the loop to release it */
	if (c->is_h2) {
		fc_h2_goaway(c);
		return;
	}
	if (c->state == FC_C_IDLE && (!c->in || !fc_buf_len(c->in)) && !c->out) {
		fc_client_close(c);
		return;
	}
	if (c->x)
		c->x->close_after = true;
}
