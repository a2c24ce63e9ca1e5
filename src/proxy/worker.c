/* worker.c — a worker thread: its loop (io_uring or epoll), its SO_REUSEPORT listeners, the
 * client connections it accepted, its mailbox from the control thread, and
 * graceful draining on shutdown. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sock.h"
#include "proxy/proxy.h"

#define ACCEPT_RETRY_MS 50

void fc_worker_defer_free(struct fc_worker *w, void *p)
{
	if (w->n_deferred == w->cap_deferred) {
		uint32_t cap = w->cap_deferred ? w->cap_deferred * 2 : 64;
		void **d = realloc(w->deferred, cap * sizeof(*d));
		if (!d) {
			/* cannot defer: leaking beats a use-after-free */
			fc_error("out of memory deferring a free");
			return;
		}
		w->deferred = d;
		w->cap_deferred = cap;
	}
	w->deferred[w->n_deferred++] = p;
}

static void free_deferred(struct fc_worker *w)
{
	for (uint32_t i = 0; i < w->n_deferred; i++)
		free(w->deferred[i]);
	w->n_deferred = 0;
	fc_slab_collect(&w->clients);
}

struct fc_exchange *fc_worker_take_exchange(struct fc_worker *w)
{
	struct fc_exchange *x = w->free_exchanges;
	if (x)
		w->free_exchanges = x->next_free;
	else if ((x = malloc(sizeof(*x))))
		fc_h1_init(&x->parser, false);
	else
		return NULL;
	/* everything but the big byte arrays starts zeroed */
	memset(x, 0, offsetof(struct fc_exchange, key));
	x->server_name[0] = 0;
	x->line_len = 0;
	x->qseq = 0; /* not in a queue (these are after the memset's end) */
	x->q_asleep = x->q_html = false;
	x->rt = w->rt;
	w->rt->use[w->id].exchanges++;
	return x;
}

void fc_worker_release_exchange(struct fc_worker *w, struct fc_exchange *x)
{
	struct fc_runtime *rt = x->rt;
	/* the last exchange on a snapshot a reload replaced lets it go */
	if (--rt->use[w->id].exchanges == 0 && rt != w->rt)
		fc_runtime_unref(rt);
	x->rt = NULL;
	x->next_free = w->free_exchanges;
	w->free_exchanges = x;
}

/* Starts or stops taking connections from l: on epoll by watching its
 * socket, on io_uring with the accepts it keeps in flight. */
static void listener_watch(struct fc_worker *w, struct fc_listener *l)
{
	if (!l->slots) {
		fc_loop_add_level(&w->loop, &l->io);
		return;
	}
	for (int i = 0; i < FC_ACCEPTS_IN_FLIGHT; i++)
		fc_loop_accept(&w->loop, &l->slots[i].a);
}

static void listener_unwatch(struct fc_worker *w, struct fc_listener *l)
{
	if (!l->slots) {
		fc_loop_del(&w->loop, &l->io);
		return;
	}
	for (int i = 0; i < FC_ACCEPTS_IN_FLIGHT; i++)
		fc_loop_accept_cancel(&w->loop, &l->slots[i].a);
}

/* Stops accepting on l for good (drain, or a reload removed it). */
static void listener_close(struct fc_worker *w, struct fc_listener *l)
{
	if (l->io.fd < 0)
		return;
	if (!l->paused)
		listener_unwatch(w, l);
	close(l->io.fd);
	l->io.fd = -1;
}

static void listener_pause(struct fc_worker *w, struct fc_listener *l)
{
	if (l->paused || l->io.fd < 0)
		return;
	listener_unwatch(w, l);
	l->paused = true;
	if (!w->accept_retry.slot)
		fc_timer_set(&w->loop, &w->accept_retry, w->loop.now_ms + ACCEPT_RETRY_MS);
}

static void listeners_resume(struct fc_worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++) {
		struct fc_listener *l = w->listeners[i];
		if (l && l->paused && l->io.fd >= 0 && !w->draining) {
			l->paused = false;
			listener_watch(w, l);
		}
	}
}

static bool at_max_connections(struct fc_worker *w)
{
	return atomic_load_explicit(w->conns, memory_order_relaxed) >= w->cfg->max_connections;
}

/* An accept failed with errno e: false when the listener pauses. */
static bool accept_error(struct fc_worker *w, struct fc_listener *l, int e)
{
	if (e == EAGAIN || e == EINTR || e == ECONNABORTED)
		return true;
	fc_warn("listener %s: accept: %s (pausing)", l->cfg->name, strerror(e));
	listener_pause(w, l);
	return false;
}

/* epoll: the listening socket is readable. */
static void on_accept(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct fc_listener *l = (struct fc_listener *)io;
	struct fc_worker *w = l->w;
	(void)loop;
	(void)ev;
	for (int i = 0; i < 64; i++) {
		if (at_max_connections(w)) {
			/* leave the rest in the kernel's backlog, as HAProxy's maxconn does */
			listener_pause(w, l);
			return;
		}
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->io.fd, (struct sockaddr *)&ss, &sl,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			accept_error(w, l, errno); /* pauses only on a real failure */
			return;
		}
		atomic_fetch_add_explicit(w->conns, 1, memory_order_relaxed);
		fc_client_accept(w, l, fd, (struct sockaddr *)&ss);
	}
}

/* io_uring: one of the listener's accepts completed. */
static void on_accepted(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct fc_accept_slot *sl = (struct fc_accept_slot *)io;
	struct fc_listener *l = sl->l;
	struct fc_worker *w = l->w;
	int fd = sl->a.res;
	(void)ev;
	if (fd == -ECANCELED)
		return; /* paused or draining */
	if (fd >= 0) {
		if (w->draining || l->io.fd < 0) {
			close(fd); /* accepted while the listener was being closed */
			return;
		}
		atomic_fetch_add_explicit(w->conns, 1, memory_order_relaxed);
		fc_client_accept(w, l, fd, (struct sockaddr *)&sl->a.addr);
		if (at_max_connections(w)) {
			listener_pause(w, l); /* the rest wait in the backlog */
			return;
		}
	} else if (!accept_error(w, l, -fd)) {
		return;
	}
	if (!l->paused && !w->draining && l->io.fd >= 0)
		fc_loop_accept(loop, &sl->a);
}

static void on_accept_retry(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_worker *w = fc_link_entry(t, struct fc_worker, accept_retry);
	(void)loop;
	if (atomic_load(w->conns) < w->cfg->max_connections)
		listeners_resume(w);
	else
		fc_timer_set(&w->loop, &w->accept_retry, w->loop.now_ms + ACCEPT_RETRY_MS);
}

void fc_worker_conn_closed(struct fc_worker *w)
{
	unsigned before = atomic_fetch_sub_explicit(w->conns, 1, memory_order_relaxed);
	if (before >= w->cfg->max_connections)
		listeners_resume(w);
	if (w->draining && w->n_clients == 0)
		w->loop.stop = true;
}

static void close_client(void *c, void *arg)
{
	(void)arg;
	fc_client_close(c);
}

static void shutdown_client(void *c, void *arg)
{
	(void)arg;
	fc_client_shutdown(c);
}

static void on_grace(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_worker *w = fc_link_entry(t, struct fc_worker, grace);
	if (w->n_clients)
		fc_warn("worker %u: grace period over, closing %u connections", w->id,
		        w->n_clients);
	fc_slab_foreach(&w->clients, close_client, NULL);
	loop->stop = true;
}

static void start_draining(struct fc_worker *w)
{
	if (w->draining)
		return;
	w->draining = true;
	for (size_t i = 0; i < w->n_listeners; i++)
		if (w->listeners[i])
			listener_close(w, w->listeners[i]);
	fc_timer_cancel(&w->loop, &w->accept_retry);
	fc_slab_foreach(&w->clients, shutdown_client, NULL);
	fc_upstream_close_idle(w);
	if (w->n_clients == 0)
		w->loop.stop = true;
}

/* Messages from the control thread. The stop message lives in the worker, so
 * stopping never needs memory. */
static void on_stop(struct fc_msg *m, void *arg)
{
	struct fc_worker *w = arg;
	(void)m;
	fc_timer_set(&w->loop, &w->grace, w->loop.now_ms + (w->grace_ms ? w->grace_ms : 1));
	start_draining(w);
}

struct server_down_msg {
	struct fc_msg m;       /* first */
	struct fc_server *srv; /* referenced */
};

static void on_server_down(struct fc_msg *m, void *arg)
{
	struct fc_worker *w = arg;
	struct server_down_msg *sd = (struct server_down_msg *)m;
	struct fc_rt_server *rs = fc_server_user(sd->srv);
	if (rs)
		fc_upstream_close_idle_server(w, rs);
	fc_server_unref(sd->srv);
	free(sd);
}

static void before_wait(struct fc_loop *loop, void *arg)
{
	struct fc_worker *w = arg;
	(void)loop;
	free_deferred(w);
	fc_accesslog_flush(w);
}

static void *worker_main(void *arg)
{
	struct fc_worker *w = arg;
	fc_loop_update_time(&w->loop);
	fc_loop_run(&w->loop);
	/* drained or forced: close what is left */
	fc_slab_foreach(&w->clients, close_client, NULL);
	fc_upstream_close_idle(w);
	fc_timer_cancel(&w->loop, &w->grace);
	fc_mailbox_drain(&w->mailbox); /* a late server-down message holds a reference */
	/* io_uring: the closed connections' last operations complete (cancelled)
	 * and release them */
	fc_loop_drain(&w->loop, 1000);
	free_deferred(w);
	fc_accesslog_flush(w);
	return NULL;
}

/* The loop: io_uring unless the config says off or the kernel refuses it
 * (then epoll, unless the config says on). The first worker says which. */
static int init_loop(struct fc_worker *w, const struct fc_config *c, uint32_t bufsize, char *err,
                     size_t errlen)
{
	char why[200] = "";
	if (c->io_uring != FC_IO_URING_OFF) {
		int rc = fc_loop_init_uring(&w->loop, bufsize, why, sizeof(why));
		if (rc == 0) {
			if (w->id == 0)
				fc_info("event loop: io_uring");
			return 0;
		}
		if (c->io_uring == FC_IO_URING_ON) {
			snprintf(err, errlen, "io_uring: on, but io_uring cannot be used: %s", why);
			return rc;
		}
	}
	int rc = fc_loop_init(&w->loop);
	if (rc < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(-rc));
		return rc;
	}
	if (w->id == 0) {
		if (c->io_uring == FC_IO_URING_OFF)
			fc_info("event loop: epoll (io_uring: off)");
		else
			fc_warn("event loop: epoll, because io_uring cannot be used: %s", why);
	}
	return 0;
}

/* Sets up worker w (id) for rt. Everything it opens is undone by
 * worker_fini, also after a failure half way (descriptors start at -1). */
/* A listener on fd (taken over, closed on failure) for cfg, in a free slot
 * or a new one, taking connections at once. False when out of memory. */
static struct fc_listener *listener_add(struct fc_worker *w, const struct fc_config_listener *cfg,
                                        int fd)
{
	size_t at = w->n_listeners;
	for (size_t i = 0; i < w->n_listeners; i++) {
		struct fc_listener *o = w->listeners[i];
		if (!o || (o->removed && o->n_clients == 0)) {
			at = i;
			break;
		}
	}
	struct fc_listener *l = calloc(1, sizeof(*l));
	if (!l || at > UINT16_MAX)
		goto fail;
	if (at == w->n_listeners) {
		struct fc_listener **v = realloc(w->listeners, (at + 1) * sizeof(*v));
		if (!v)
			goto fail;
		w->listeners = v;
		v[at] = NULL;
		w->n_listeners++;
	}
	l->w = w;
	l->cfg = cfg;
	l->io.fd = fd;
	l->io.cb = on_accept;
	l->index = (uint16_t)at;
	if (fc_loop_is_uring(&w->loop)) {
		l->slots = calloc(FC_ACCEPTS_IN_FLIGHT, sizeof(*l->slots));
		if (!l->slots)
			goto fail;
		for (int k = 0; k < FC_ACCEPTS_IN_FLIGHT; k++) {
			l->slots[k].a.io.fd = fd;
			l->slots[k].a.io.cb = on_accepted;
			l->slots[k].l = l;
		}
	}
	struct fc_listener *old = w->listeners[at];
	if (old) { /* a removed one without clients: kept until the end */
		old->next_retired = w->retired_listeners;
		w->retired_listeners = old;
	}
	w->listeners[at] = l;
	if (w->draining)
		listener_close(w, l);
	else
		listener_watch(w, l);
	return l;
fail:
	if (l)
		free(l->slots);
	free(l);
	close(fd);
	return NULL;
}

static int worker_init(struct fc_worker *w, struct fc_runtime *rt, uint32_t id, char *err,
                       size_t errlen)
{
	const struct fc_config *c = rt->cfg;
	w->id = id;
	w->rt = rt;
	w->cfg = c;
	fc_slab_init(&w->clients, sizeof(struct fc_client));
	w->mailbox.io.fd = -1;
	w->loop.epfd = -1;
	uint32_t bufsize = c->max_header_size + 1024;
	if (bufsize < 16384)
		bufsize = 16384;
	int rc = init_loop(w, c, bufsize, err, errlen);
	if (rc < 0)
		return rc;
	w->loop.before_wait = before_wait;
	w->loop.before_wait_arg = w;
	fc_buf_pool_init(&w->bufs, bufsize, 1024);
	w->accept_retry.cb = on_accept_retry;
	w->grace.cb = on_grace;
	if (getrandom(&w->rng, sizeof(w->rng), 0) < 0)
		w->rng = fc_time_ns();
	w->rng ^= (uint64_t)(id + 1) * 0x9E3779B97F4A7C15ull;
	if (!w->rng)
		w->rng = 1;
	rc = fc_mailbox_init(&w->mailbox, &w->loop, w);
	if (rc < 0) {
		snprintf(err, errlen, "mailbox: %s", strerror(-rc));
		return rc;
	}
	if (c->n_listeners > UINT16_MAX) { /* a client keeps its listener's index in 16 bits */
		snprintf(err, errlen, "too many listeners (%zu, at most %u)", c->n_listeners,
		         (unsigned)UINT16_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_listeners; i++) {
		int fd = fc_sock_listen((const struct sockaddr *)&c->listeners[i].addr,
		                        c->listeners[i].addr_len, 4096);
		if (fd < 0) {
			snprintf(err, errlen, "listener %s: cannot listen on %s: %s",
			         c->listeners[i].name, c->listeners[i].address, strerror(-fd));
			return fd;
		}
		if (!listener_add(w, &c->listeners[i], fd)) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}

/* Undoes worker_init, however far it got. */
static void listener_free(struct fc_listener *l)
{
	if (l->io.fd >= 0)
		close(l->io.fd);
	fc_config_unref(l->cfg_ref);
	free(l->slots);
	free(l);
}

static void worker_fini(struct fc_worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++)
		if (w->listeners[i])
			listener_free(w->listeners[i]);
	while (w->retired_listeners) {
		struct fc_listener *l = w->retired_listeners;
		w->retired_listeners = l->next_retired;
		listener_free(l);
	}
	free(w->listeners);
	if (w->mailbox.io.fd >= 0)
		fc_mailbox_fini(&w->mailbox);
	while (w->free_exchanges) {
		struct fc_exchange *x = w->free_exchanges;
		w->free_exchanges = x->next_free;
		free(x);
	}
	free_deferred(w);
	free(w->deferred);
	fc_slab_fini(&w->clients);
	free(w->alog);
	if (w->rt)
		fc_runtime_unref(w->rt);
	w->rt = NULL;
	if (w->loop.epfd >= 0 || fc_loop_is_uring(&w->loop)) {
		fc_buf_pool_fini(&w->bufs);
		fc_loop_fini(&w->loop);
	}
}

/* Asks w to drain within grace_ms (its mailbox orders the write before the
 * read). */
static void post_stop(struct fc_worker *w, uint32_t grace_ms)
{
	w->grace_ms = grace_ms;
	w->stop_msg.fn = on_stop;
	fc_mailbox_post(&w->mailbox, &w->stop_msg);
}

/* A listener address another process holds: SO_REUSEPORT would make the two
 * share it silently, each taking part of the traffic. */
static int probe_listener(const struct fc_config_listener *l, char *err, size_t errlen)
{
	int rc = fc_sock_probe_free((const struct sockaddr *)&l->addr, l->addr_len);
	if (rc == -EADDRINUSE)
		snprintf(err, errlen,
		         "listener %s: %s is already in use by another process (another fulcrum "
		         "running with this configuration?); refusing to share it",
		         l->name, l->address);
	else if (rc < 0)
		snprintf(err, errlen, "listener %s: cannot listen on %s: %s", l->name, l->address,
		         strerror(-rc));
	return rc;
}

int fc_workers_start(struct fc_runtime *rt, atomic_uint *conns, struct fc_worker **out, uint32_t n,
                     char *err, size_t errlen)
{
	for (size_t i = 0; i < rt->cfg->n_listeners; i++) {
		int rc = probe_listener(&rt->cfg->listeners[i], err, errlen);
		if (rc < 0)
			return rc;
	}
	struct fc_worker *ws = calloc(n, sizeof(*ws));
	if (!ws) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	uint32_t inited = 0;
	int rc = 0;
	for (; inited < n; inited++) {
		ws[inited].conns = conns;
		fc_runtime_ref(rt);
		rc = worker_init(&ws[inited], rt, inited, err, errlen);
		if (rc < 0) {
			inited++; /* partly: its fini undoes what it did */
			goto fail;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		rc = -pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
		if (rc < 0) {
			snprintf(err, errlen, "cannot start worker thread: %s", strerror(-rc));
			goto fail;
		}
		ws[i].started = true;
	}
	*out = ws;
	return 0;
fail:
	for (uint32_t i = 0; i < n; i++) {
		if (!ws[i].started)
			continue;
		post_stop(&ws[i], 0);
		pthread_join(ws[i].thread, NULL);
	}
	for (uint32_t i = 0; i < inited; i++)
		worker_fini(&ws[i]);
	free(ws);
	return rc;
}

void fc_workers_stop(struct fc_worker *ws, uint32_t n, uint32_t grace_ms)
{
	for (uint32_t i = 0; i < n; i++)
		post_stop(&ws[i], grace_ms);
	for (uint32_t i = 0; i < n; i++)
		pthread_join(ws[i].thread, NULL);
	for (uint32_t i = 0; i < n; i++)
		worker_fini(&ws[i]);
	free(ws);
}

void fc_workers_server_down(struct fc_worker *ws, uint32_t n, struct fc_server *srv)
{
	for (uint32_t i = 0; i < n; i++) {
		struct server_down_msg *m = calloc(1, sizeof(*m));
		if (!m) {
			fc_error("out of memory telling worker %u that server %s is down", i,
			         fc_server_name(srv));
			continue;
		}
		m->m.fn = on_server_down;
		fc_server_ref(srv);
		m->srv = srv;
		fc_mailbox_post(&ws[i].mailbox, &m->m);
	}
}

/* ---------------------------------------------------------------- reload */

static bool same_address(const struct fc_config_listener *a, const struct fc_config_listener *b)
{
	return a->addr_len == b->addr_len && memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}

static const struct fc_config_listener *find_listener(const struct fc_config *cfg,
                                                      const struct fc_config_listener *l)
{
	for (size_t i = 0; cfg && i < cfg->n_listeners; i++)
		if (same_address(&cfg->listeners[i], l))
			return &cfg->listeners[i];
	return NULL;
}

int fc_workers_listen(const struct fc_config *cfg, const struct fc_config *prev, uint32_t n,
                      int **out, char *err, size_t errlen)
{
	size_t nl = cfg->n_listeners;
	int *fds = malloc((n * nl > 0 ? n * nl : 1) * sizeof(*fds));
	if (!fds) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t k = 0; k < n * nl; k++)
		fds[k] = -1;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < nl; i++) {
		const struct fc_config_listener *l = &cfg->listeners[i];
		if (find_listener(prev, l))
			continue; /* kept: the workers' sockets stay */
		rc = probe_listener(l, err, errlen);
		for (uint32_t w = 0; rc == 0 && w < n; w++) {
			int fd = fc_sock_listen((const struct sockaddr *)&l->addr, l->addr_len,
			                        4096);
			if (fd < 0) {
				snprintf(err, errlen, "listener %s: cannot listen on %s: %s",
				         l->name, l->address, strerror(-fd));
				rc = fd;
			} else {
				fds[w * nl + i] = fd;
			}
		}
	}
	if (rc < 0) {
		for (size_t k = 0; k < n * nl; k++)
			if (fds[k] >= 0)
				close(fds[k]);
		free(fds);
		return rc;
	}
	*out = fds;
	return 0;
}

struct swap_msg {
	struct fc_msg m;       /* first */
	struct fc_runtime *rt; /* referenced for the worker */
	int *fds;              /* this worker's new sockets, per rt->cfg listener; -1: kept */
};

static void shutdown_removed(void *p, void *arg)
{
	struct fc_client *c = p;
	struct fc_listener *l = arg;
	if (c->w->listeners[c->listener] == l)
		fc_client_shutdown(c);
}

/* After a reload an HTTP/2 connection is told to go away (its open streams
 * finish): the client's next connection gets the new listener's settings
 * and certificates, as an HTTP/1.1 client's next connection does. */
static void goaway_h2(void *p, void *arg)
{
	struct fc_client *c = p;
	(void)arg;
	if (c->is_h2 && !c->closed)
		fc_h2_goaway(c);
}

/* The worker's half of a reload: listeners kept (pointed at the new
 * config), opened, or removed (no more accepts; their clients finish the
 * request they are on and close); new requests on the new runtime; idle
 * connections to servers that are gone closed. */
static void on_swap(struct fc_msg *m, void *arg)
{
	struct fc_worker *w = arg;
	struct swap_msg *sm = (struct swap_msg *)m;
	const struct fc_config *nc = sm->rt->cfg;
	struct fc_runtime *old = w->rt;
	size_t n_old = w->n_listeners;
	for (size_t k = 0; k < n_old; k++) {
		struct fc_listener *l = w->listeners[k];
		if (!l || l->removed)
			continue;
		const struct fc_config_listener *nl = find_listener(nc, l->cfg);
		if (nl) {
			l->cfg = nl;
			continue;
		}
		listener_close(w, l);
		l->removed = true;
		l->cfg_ref = fc_config_ref(old->cfg);
		fc_slab_foreach(&w->clients, shutdown_removed, l);
	}
	for (size_t i = 0; i < nc->n_listeners; i++) {
		if (sm->fds[i] < 0)
			continue;
		if (!listener_add(w, &nc->listeners[i], sm->fds[i]))
			fc_error("worker %u: out of memory adding listener %s", w->id,
			         nc->listeners[i].name);
	}
	w->rt = sm->rt;
	w->cfg = nc;
	if (old->use[w->id].exchanges == 0)
		fc_runtime_unref(old);
	fc_upstream_close_removed(w);
	fc_slab_foreach(&w->clients, goaway_h2, NULL);
	free(sm);
}

void fc_workers_swap(struct fc_worker *ws, uint32_t n, struct fc_runtime *rt, int *fds)
{
	size_t nl = rt->cfg->n_listeners;
	for (uint32_t i = 0; i < n; i++) {
		struct swap_msg *m = malloc(sizeof(*m) + (nl ? nl : 1) * sizeof(int));
		if (!m) {
			/* the worker stays on its runtime: better than a half reload */
			fc_error("worker %u: out of memory for the reload; it keeps the previous "
			         "configuration",
			         i);
			for (size_t k = 0; k < nl; k++)
				if (fds[i * nl + k] >= 0)
					close(fds[i * nl + k]);
			continue;
		}
		m->m.fn = on_swap;
		m->rt = rt;
		m->fds = (int *)(m + 1);
		memcpy(m->fds, fds + i * nl, nl * sizeof(int));
		fc_runtime_ref(rt);
		fc_mailbox_post(&ws[i].mailbox, &m->m);
	}
}
