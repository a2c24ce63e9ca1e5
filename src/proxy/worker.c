/* worker.c — a worker thread: its epoll loop, its SO_REUSEPORT listeners, the
 * sessions it accepted, and graceful draining on shutdown. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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
}

struct request *fc_worker_take_request(struct fc_worker *w)
{
	struct request *r = w->free_reqs;
	if (r)
		w->free_reqs = r->next_free;
	else if (!(r = malloc(sizeof(*r))))
		return NULL;
	/* everything but the big byte arrays starts zeroed */
	memset(r, 0, offsetof(struct request, key));
	r->server_name[0] = 0;
	r->line_len = 0;
	return r;
}

void fc_worker_release_request(struct fc_worker *w, struct request *r)
{
	r->next_free = w->free_reqs;
	w->free_reqs = r;
}

static void listener_pause(struct fc_worker *w, struct listener *l)
{
	if (l->paused || l->io.fd < 0)
		return;
	fc_loop_del(&w->loop, &l->io);
	l->paused = true;
	if (!w->accept_retry.slot)
		fc_timer_set(&w->loop, &w->accept_retry, w->loop.now_ms + ACCEPT_RETRY_MS);
}

static void listeners_resume(struct fc_worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++) {
		struct listener *l = &w->listeners[i];
		if (l->paused && l->io.fd >= 0 && !w->draining) {
			l->paused = false;
			fc_loop_add_level(&w->loop, &l->io);
		}
	}
}

static void on_accept(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct listener *l = (struct listener *)io;
	struct fc_worker *w = l->w;
	struct fc_runtime *rt = w->rt;
	(void)loop;
	(void)ev;
	for (int i = 0; i < 64; i++) {
		if (atomic_load_explicit(&rt->conns, memory_order_relaxed) >=
		    w->cfg->max_connections) {
			/* leave the rest in the kernel's backlog, as HAProxy's maxconn does */
			listener_pause(w, l);
			return;
		}
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->io.fd, (struct sockaddr *)&ss, &sl,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				fc_warn("listener %s: accept: %s (pausing)", l->cfg->name,
				        strerror(errno));
				listener_pause(w, l);
			}
			return;
		}
		atomic_fetch_add_explicit(&rt->conns, 1, memory_order_relaxed);
		fc_session_accept(w, l, fd, (struct sockaddr *)&ss);
	}
}

static void on_accept_retry(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_worker *w = link_entry(t, struct fc_worker, accept_retry);
	(void)loop;
	if (atomic_load(&w->rt->conns) < w->cfg->max_connections)
		listeners_resume(w);
	else
		fc_timer_set(&w->loop, &w->accept_retry, w->loop.now_ms + ACCEPT_RETRY_MS);
}

void fc_worker_conn_closed(struct fc_worker *w)
{
	unsigned before = atomic_fetch_sub_explicit(&w->rt->conns, 1, memory_order_relaxed);
	if (before >= w->cfg->max_connections)
		listeners_resume(w);
	if (w->draining && w->n_sessions == 0)
		w->loop.stop = true;
}

static void on_grace(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_worker *w = link_entry(t, struct fc_worker, grace);
	if (w->n_sessions)
		fc_warn("worker %u: grace period over, closing %u connections", w->id,
		        w->n_sessions);
	while (!link_empty(&w->sessions))
		fc_session_close(link_entry(w->sessions.next, struct session, link));
	loop->stop = true;
}

static void start_draining(struct fc_worker *w)
{
	if (w->draining)
		return;
	w->draining = true;
	for (size_t i = 0; i < w->n_listeners; i++) {
		struct listener *l = &w->listeners[i];
		if (l->io.fd >= 0) {
			if (!l->paused)
				fc_loop_del(&w->loop, &l->io);
			close(l->io.fd);
			l->io.fd = -1;
		}
	}
	fc_timer_cancel(&w->loop, &w->accept_retry);
	struct link *it = w->sessions.next;
	while (it != &w->sessions) {
		struct link *next = it->next;
		fc_session_shutdown(link_entry(it, struct session, link));
		it = next;
	}
	fc_upstream_close_idle(w);
	if (w->n_sessions == 0)
		w->loop.stop = true;
}

static void on_wake(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct fc_worker *w = link_entry(io, struct fc_worker, wake);
	uint64_t v;
	(void)loop;
	(void)ev;
	if (read(io->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	if (atomic_load(&w->stop_requested)) {
		fc_timer_set(&w->loop, &w->grace, w->loop.now_ms + (w->grace_ms ? w->grace_ms : 1));
		start_draining(w);
	}
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
	while (!link_empty(&w->sessions))
		fc_session_close(link_entry(w->sessions.next, struct session, link));
	fc_upstream_close_idle(w);
	fc_timer_cancel(&w->loop, &w->grace);
	free_deferred(w);
	fc_accesslog_flush(w);
	return NULL;
}

static int worker_init(struct fc_worker *w, struct fc_runtime *rt, uint32_t id, char *err,
                       size_t errlen)
{
	const struct fc_config *c = rt->cfg;
	w->id = id;
	w->rt = rt;
	w->cfg = c;
	link_init(&w->sessions);
	w->wake.fd = -1;
	int rc = fc_loop_init(&w->loop);
	if (rc < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(-rc));
		return rc;
	}
	w->loop.before_wait = before_wait;
	w->loop.before_wait_arg = w;
	uint32_t bufsize = c->max_header_size + 1024;
	if (bufsize < 16384)
		bufsize = 16384;
	fc_buf_pool_init(&w->bufs, bufsize, 1024);
	w->accept_retry.cb = on_accept_retry;
	w->grace.cb = on_grace;
	if (getrandom(&w->rng, sizeof(w->rng), 0) < 0)
		w->rng = fc_time_ns();
	w->rng ^= (uint64_t)(id + 1) * 0x9E3779B97F4A7C15ull;
	if (!w->rng)
		w->rng = 1;
	w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake.fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -errno;
	}
	w->wake.cb = on_wake;
	fc_loop_add_level(&w->loop, &w->wake);
	w->n_listeners = c->n_listeners;
	w->listeners = calloc(c->n_listeners ? c->n_listeners : 1, sizeof(*w->listeners));
	if (!w->listeners) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n_listeners; i++) {
		struct listener *l = &w->listeners[i];
		l->w = w;
		l->cfg = &c->listeners[i];
		l->io.cb = on_accept;
		int fd = fc_sock_listen((const struct sockaddr *)&l->cfg->addr, l->cfg->addr_len,
		                        4096);
		l->io.fd = fd;
		if (fd < 0) {
			snprintf(err, errlen, "listener %s: cannot listen on %s: %s", l->cfg->name,
			         l->cfg->address, strerror(-fd));
			return fd;
		}
		fc_loop_add_level(&w->loop, &l->io);
	}
	return 0;
}

static void worker_fini(struct fc_worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++)
		if (w->listeners && w->listeners[i].io.fd >= 0)
			close(w->listeners[i].io.fd);
	free(w->listeners);
	if (w->wake.fd >= 0)
		close(w->wake.fd);
	while (w->free_reqs) {
		struct request *r = w->free_reqs;
		w->free_reqs = r->next_free;
		free(r);
	}
	free(w->deferred);
	free(w->alog);
	fc_buf_pool_fini(&w->bufs);
	fc_loop_fini(&w->loop);
}

int fc_workers_start(struct fc_runtime *rt, struct fc_worker **out, uint32_t n, char *err,
                     size_t errlen)
{
	struct fc_worker *ws = calloc(n, sizeof(*ws));
	if (!ws) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	uint32_t started = 0;
	int rc = 0;
	for (uint32_t i = 0; i < n; i++) {
		rc = worker_init(&ws[i], rt, i, err, errlen);
		if (rc < 0)
			goto fail;
	}
	for (; started < n; started++) {
		rc = -pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]);
		if (rc < 0) {
			snprintf(err, errlen, "cannot start worker thread: %s", strerror(-rc));
			goto fail;
		}
	}
	*out = ws;
	return 0;
fail:
	for (uint32_t i = 0; i < started; i++) {
		atomic_store(&ws[i].stop_requested, true);
		uint64_t one = 1;
		if (write(ws[i].wake.fd, &one, sizeof(one)) < 0)
			fc_error("cannot wake worker %u", i);
		pthread_join(ws[i].thread, NULL);
	}
	for (uint32_t i = 0; i < n; i++)
		worker_fini(&ws[i]);
	free(ws);
	return rc;
}

void fc_workers_stop(struct fc_worker *ws, uint32_t n, uint32_t grace_ms)
{
	for (uint32_t i = 0; i < n; i++) {
		struct fc_worker *w = &ws[i];
		/* the grace timer is armed by the worker itself below; set the
		 * deadline first so it is in place when the wake-up lands */
		w->grace_ms = grace_ms;
		atomic_store(&w->stop_requested, true);
		uint64_t one = 1;
		if (write(w->wake.fd, &one, sizeof(one)) < 0)
			fc_error("cannot wake worker %u: %s", i, strerror(errno));
	}
	for (uint32_t i = 0; i < n; i++)
		pthread_join(ws[i].thread, NULL);
	for (uint32_t i = 0; i < n; i++)
		worker_fini(&ws[i]);
	free(ws);
}
