/* upstream.c — connections to servers and each worker's idle keep-alive pool
 * per server. An idle connection stays registered with epoll: any event on
 * it (the server closed it, or sent stray bytes) closes it at once, so reuse
 * rarely meets a stale socket; the session retries when it does. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sock.h"
#include "proxy/proxy.h"

static void idle_on_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct upstream *u = (struct upstream *)io;
	(void)loop;
	if (ev == EPOLLOUT)
		return; /* writable edge only: still fine */
	fc_upstream_close(u);
}

static void idle_on_timeout(struct fc_loop *loop, struct fc_timer *t)
{
	struct upstream *u = link_entry(t, struct upstream, timer);
	(void)loop;
	fc_upstream_close(u);
}

static void noop_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	(void)loop;
	(void)io;
	(void)ev;
}

struct upstream *fc_upstream_get(struct fc_worker *w, struct fc_server *server, int *err)
{
	struct rt_server *rs = fc_server_user(server);
	struct rt_idle *idle = &rs->idle[w->id];
	if (!link_empty(&idle->list)) {
		struct upstream *u = link_entry(idle->list.next, struct upstream, idle_link);
		link_remove(&u->idle_link);
		idle->n--;
		fc_timer_cancel(&w->loop, &u->timer);
		u->io.cb = fc_upstream_on_event;
		u->reused = true;
		u->readable = false;
		u->rdhup = false;
		u->eof = false;
		u->writable = true;
		/* the server reference held by the pool moves to the caller's use */
		return u;
	}
	int fd = fc_sock_connect((const struct sockaddr *)&rs->addr, rs->addr_len);
	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	struct upstream *u = calloc(1, sizeof(*u));
	if (!u) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	u->io.fd = fd;
	u->io.cb = fc_upstream_on_event;
	u->timer.cb = idle_on_timeout;
	u->w = w;
	u->rs = rs;
	u->server = server;
	fc_server_ref(server);
	link_init(&u->idle_link);
	u->connecting = true;
	fc_h1_init(&u->parser, true);
	int rc = fc_loop_add(&w->loop, &u->io);
	if (rc < 0) {
		close(fd);
		fc_server_unref(server);
		free(u);
		*err = rc;
		return NULL;
	}
	return u;
}

void fc_upstream_close(struct upstream *u)
{
	if (u->closed)
		return;
	struct fc_worker *w = u->w;
	u->closed = true;
	if (!link_empty(&u->idle_link)) {
		link_remove(&u->idle_link);
		u->rs->idle[w->id].n--;
	}
	fc_timer_cancel(&w->loop, &u->timer);
	close(u->io.fd); /* also leaves the epoll set */
	u->io.fd = -1;
	u->io.cb = noop_event;
	fc_buf_release(&w->bufs, u->in);
	u->in = NULL;
	if (u->server)
		fc_server_unref(u->server);
	u->server = NULL;
	u->s = NULL;
	fc_worker_defer_free(w, u);
}

void fc_upstream_release(struct upstream *u, bool reusable, uint32_t max_idle,
                         uint32_t idle_timeout_ms)
{
	struct fc_worker *w = u->w;
	struct rt_idle *idle = &u->rs->idle[w->id];
	u->s = NULL;
	if (!reusable || u->eof || u->rdhup || w->draining || idle->n >= max_idle ||
	    (u->in && fc_buf_len(u->in) > 0)) {
		fc_upstream_close(u);
		return;
	}
	fc_buf_release(&w->bufs, u->in);
	u->in = NULL;
	u->rparsed = 0;
	u->io.cb = idle_on_event;
	link_push(&idle->list, &u->idle_link);
	idle->n++;
	fc_timer_set(&w->loop, &u->timer, w->loop.now_ms + (idle_timeout_ms ? idle_timeout_ms : 1));
}

void fc_upstream_on_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct upstream *u = (struct upstream *)io;
	(void)loop;
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		u->readable = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		u->rdhup = true;
	if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		u->writable = true;
	if (u->s)
		fc_session_run(u->s);
}

void fc_upstream_close_idle(struct fc_worker *w)
{
	struct fc_runtime *rt = w->rt;
	for (size_t i = 0; i < rt->n_pools; i++) {
		size_t cap = fc_pool_size(rt->pools[i].pool) + 16;
		struct fc_server **list = calloc(cap, sizeof(*list));
		if (!list) {
			fc_error("out of memory closing idle connections");
			continue;
		}
		size_t n = fc_pool_servers(rt->pools[i].pool, list, cap);
		for (size_t k = 0; k < n; k++) {
			struct rt_server *rs = fc_server_user(list[k]);
			if (rs) {
				struct rt_idle *idle = &rs->idle[w->id];
				while (!link_empty(&idle->list))
					fc_upstream_close(link_entry(idle->list.next,
					                             struct upstream, idle_link));
			}
			fc_server_unref(list[k]);
		}
		free(list);
	}
}
