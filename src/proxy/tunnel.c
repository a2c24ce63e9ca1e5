/* tunnel.c — an upgraded connection (WebSocket and the other protocols a 101
 * switches to): the client's and the server's streams spliced. Bytes go both
 * ways through the buffers the connections already have (the client's in
 * buffer towards the server, the upstream's towards the client), each taken
 * from the worker's pool when bytes arrive and given back once empty, so an
 * idle tunnel holds none; a side that cannot take more stops the reads from
 * the other (TCP backpressure, as for bodies). Each direction ends on its
 * own: an EOF, once what came before it is passed on, becomes a half-close
 * (fc_stream_shutdown_write) of the other side. The tunnel ends when both
 * directions did, on an error either side, or after tunnel_timeout without a
 * byte either way. Only stream calls: a TLS stream tunnels the same. */
#include <errno.h>
#include <sys/uio.h>

#include "proxy/proxy.h"

static void release_if_empty(struct fc_worker *w, struct fc_buf **b)
{
	if (*b && fc_buf_len(*b) == 0) {
		fc_buf_release(&w->bufs, *b);
		*b = NULL;
	}
}

void fc_tunnel_start(struct fc_exchange *x)
{
	struct fc_client *c = x->c;
	struct fc_worker *w = c->w;
	struct fc_upstream *u = x->up;
	x->phase = FC_X_TUNNEL;
	x->phase_ms = w->loop.now_ms;
	x->up_reusable = false; /* what follows is not HTTP: never pooled */
	x->replayable = false;
	x->complete = true; /* no more request body to validate: bytes pass raw */
	fc_buf_release(&w->bufs, x->head);
	x->head = NULL;
	/* the client's bytes after the request (sent early, before the 101) and
	 * the server's after the 101 head are the tunnel's first */
	if (c->in)
		c->in->rpos = x->sent;
	if (u->in)
		u->rparsed = u->in->rpos;
	release_if_empty(w, &c->in);
	release_if_empty(w, &u->in);
	c->active_ms = fc_client_now(c);
}

/* Client -> c->in. 1 on progress (EOF included), 0 when there is nothing
 * to read or no room, -errno when the connection failed. */
static int client_pull(struct fc_client *c)
{
	if (!c->readable || c->eof)
		return 0;
	if (!c->in && !(c->in = fc_buf_take(&c->w->bufs)))
		return -ENOMEM;
	struct fc_buf *b = c->in;
	if (fc_buf_room(b) == 0) {
		if (b->rpos == 0)
			return 0; /* the server is slower than the client: wait */
		fc_buf_compact(b);
	}
	size_t room = fc_buf_room(b);
	ssize_t n = fc_stream_recv(&c->w->loop, &c->s, b->data + b->wpos, room);
	if (n > 0) {
		b->wpos += (uint32_t)n;
		if ((size_t)n < room) {
			c->readable = false;
			if (c->rdhup)
				c->eof = true;
		}
		return 1;
	}
	c->readable = false;
	if (n == 0) {
		c->eof = true;
		return 1;
	}
	return n == -EAGAIN ? 0 : (int)n;
}

/* c->in -> server. 1 on progress, 0 when blocked or empty, -errno. */
static int upstream_push(struct fc_exchange *x)
{
	struct fc_client *c = x->c;
	struct fc_buf *b = c->in;
	if (!b || fc_buf_len(b) == 0)
		return 0;
	struct iovec iov = {b->data + b->rpos, fc_buf_len(b)};
	ssize_t wr = fc_upstream_send(x->up, &iov, 1);
	if (wr <= 0)
		return (int)wr;
	b->rpos += (uint32_t)wr;
	x->bytes_in += (uint64_t)wr;
	release_if_empty(c->w, &c->in);
	return 1;
}

/* c->out (the 101 head, until it is out) then u->in -> client. 1 on
 * progress, 0 when blocked or empty, -errno. */
static int client_push(struct fc_exchange *x)
{
	struct fc_client *c = x->c;
	struct fc_upstream *u = x->up;
	struct fc_buf *bufs[2];
	struct iovec iov[2];
	int n = 0;
	if (c->out && fc_buf_len(c->out))
		bufs[n++] = c->out;
	if (u->in && fc_buf_len(u->in))
		bufs[n++] = u->in;
	if (n == 0 || !c->writable)
		return 0;
	size_t want = 0;
	for (int i = 0; i < n; i++) {
		iov[i] = (struct iovec){bufs[i]->data + bufs[i]->rpos, fc_buf_len(bufs[i])};
		want += iov[i].iov_len;
	}
	ssize_t wr = fc_stream_send(&c->w->loop, &c->s, iov, n);
	if (wr == -EAGAIN) {
		c->writable = false;
		return 0;
	}
	if (wr < 0)
		return (int)wr;
	if ((size_t)wr < want)
		c->writable = false;
	x->bytes_out += (uint64_t)wr;
	size_t left = (size_t)wr;
	for (int i = 0; i < n && left; i++) {
		size_t k = left < iov[i].iov_len ? left : iov[i].iov_len;
		bufs[i]->rpos += (uint32_t)k;
		left -= k;
	}
	if (u->in)
		u->rparsed = u->in->rpos; /* fc_upstream_recv's compaction counts from it */
	release_if_empty(c->w, &c->out);
	release_if_empty(c->w, &u->in);
	return 1;
}

/* Passes each side's EOF on, once everything before it is: a half-close
 * of the other side. 1 when it did, 0 when not yet, -errno. */
static int pass_eof(struct fc_exchange *x)
{
	struct fc_client *c = x->c;
	struct fc_upstream *u = x->up;
	struct fc_loop *loop = &c->w->loop;
	int rc = 0;
	if (!x->tun_up_shut && c->eof && !c->in) {
		x->tun_up_shut = true;
		rc = fc_stream_shutdown_write(loop, &u->s);
		if (rc < 0)
			return rc;
		rc = 1;
	}
	if (!x->tun_c_shut && u->eof && !u->in && !c->out) {
		x->tun_c_shut = true;
		rc = fc_stream_shutdown_write(loop, &c->s);
		if (rc < 0)
			return rc;
		rc = 1;
	}
	return rc;
}

bool fc_tunnel_step(struct fc_exchange *x)
{
	struct fc_client *c = x->c;
	struct fc_upstream *u = x->up;
	struct fc_worker *w = c->w;
	int moved = 0, rc;
	if ((rc = client_pull(c)) < 0)
		goto end;
	moved |= rc;
	if ((rc = upstream_push(x)) < 0)
		goto end;
	moved |= rc;
	if ((rc = fc_upstream_recv(u)) < 0 || u->reset)
		goto end;
	moved |= rc;
	if ((rc = client_push(x)) < 0)
		goto end;
	moved |= rc;
	/* a readable edge that found nothing took a buffer: give it back */
	release_if_empty(w, &c->in);
	release_if_empty(w, &u->in);
	if ((rc = pass_eof(x)) < 0)
		goto end;
	moved |= rc;
	if (x->tun_up_shut && x->tun_c_shut)
		goto end; /* both directions ended */
	if (moved)
		c->active_ms = fc_client_now(c);
	return moved != 0;
end:
	fc_exchange_end_tunnel(x);
	return true;
}
