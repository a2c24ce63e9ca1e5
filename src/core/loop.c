/* loop.c — the loop's timers (a binary min-heap) and clock, and the epoll
 * way of waiting; the io_uring way is in loop_uring.c. */
#include "core/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "core/loop_uring.h"

uint64_t fc_time_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void fc_loop_update_time(struct fc_loop *loop)
{
	loop->now_ns = fc_time_ns();
	loop->now_ms = loop->now_ns / 1000000ull;
}

int fc_loop_init(struct fc_loop *loop)
{
	*loop = (struct fc_loop){0};
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return -errno;
	fc_loop_update_time(loop);
	return 0;
}

const char *fc_loop_kind(const struct fc_loop *loop)
{
	return loop->ring ? "io_uring" : "epoll";
}

void fc_loop_fini(struct fc_loop *loop)
{
	if (loop->ring)
		fc__uring_fini(loop);
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
	free(loop->heap);
	loop->heap = NULL;
	loop->n_timers = loop->cap_timers = 0;
	free(loop->layers);
	loop->layers = NULL;
	loop->cap_layers = 0;
}

int fc_loop_add(struct fc_loop *loop, struct fc_io *io)
{
	if (loop->ring)
		return -EOPNOTSUPP; /* completions, not readiness: use fc_stream_open */
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
	                         .data.ptr = io};
	return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0 ? -errno : 0;
}

int fc_loop_add_level(struct fc_loop *loop, struct fc_io *io)
{
	if (loop->ring)
		return fc__uring_add_poll(loop, io);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = io};
	return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0 ? -errno : 0;
}

void fc_loop_del(struct fc_loop *loop, struct fc_io *io)
{
	if (loop->ring) {
		fc__uring_del_poll(loop, io);
		return;
	}
	if (io->fd >= 0)
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

/* heap helpers: slot = index + 1 */
static void heap_place(struct fc_loop *loop, uint32_t i, struct fc_timer *t)
{
	loop->heap[i] = t;
	t->slot = i + 1;
}

static void sift_up(struct fc_loop *loop, uint32_t i)
{
	struct fc_timer *t = loop->heap[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (loop->heap[parent]->when <= t->when)
			break;
		heap_place(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_place(loop, i, t);
}

static void sift_down(struct fc_loop *loop, uint32_t i)
{
	struct fc_timer *t = loop->heap[i];
	uint32_t n = loop->n_timers;
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && loop->heap[c + 1]->when < loop->heap[c]->when)
			c++;
		if (t->when <= loop->heap[c]->when)
			break;
		heap_place(loop, i, loop->heap[c]);
		i = c;
	}
	heap_place(loop, i, t);
}

static void heap_remove(struct fc_loop *loop, struct fc_timer *t)
{
	uint32_t i = t->slot - 1;
	struct fc_timer *last = loop->heap[--loop->n_timers];
	t->slot = 0;
	if (last == t)
		return;
	heap_place(loop, i, last);
	sift_up(loop, i);
	sift_down(loop, last->slot - 1);
}

void fc_timer_set(struct fc_loop *loop, struct fc_timer *t, uint64_t when_ms)
{
	if (when_ms == 0) {
		if (t->slot)
			heap_remove(loop, t);
		t->when = 0;
		return;
	}
	if (t->slot) {
		uint64_t old = t->when;
		t->when = when_ms;
		if (when_ms < old)
			sift_up(loop, t->slot - 1);
		else if (when_ms > old)
			sift_down(loop, t->slot - 1);
		return;
	}
	if (loop->n_timers == loop->cap_timers) {
		uint32_t cap = loop->cap_timers ? loop->cap_timers * 2 : 256;
		struct fc_timer **h = realloc(loop->heap, cap * sizeof(*h));
		if (!h)
			return; /* the owner's other deadlines still bound it; logged by caller's
			           absence */
		loop->heap = h;
		loop->cap_timers = cap;
	}
	t->when = when_ms;
	heap_place(loop, loop->n_timers++, t);
	sift_up(loop, t->slot - 1);
}

int fc__loop_next_timeout(struct fc_loop *loop)
{
	if (loop->n_timers == 0)
		return 1000;
	uint64_t w = loop->heap[0]->when;
	if (w <= loop->now_ms)
		return 0;
	uint64_t d = w - loop->now_ms;
	return d > 1000 ? 1000 : (int)d;
}

void fc__loop_run_timers(struct fc_loop *loop)
{
	/* only as many as were armed when the pass began: a callback that
	 * re-arms for "now" runs again next iteration, not forever */
	uint32_t budget = loop->n_timers;
	while (budget-- > 0 && loop->n_timers > 0 && loop->heap[0]->when <= loop->now_ms) {
		struct fc_timer *t = loop->heap[0];
		heap_remove(loop, t);
		t->when = 0;
		t->cb(loop, t);
	}
}

void fc_loop_run(struct fc_loop *loop)
{
	if (loop->ring) {
		fc__uring_run(loop);
		return;
	}
	struct epoll_event evs[256];
	while (!loop->stop) {
		if (loop->before_wait)
			loop->before_wait(loop, loop->before_wait_arg);
		int n = epoll_wait(loop->epfd, evs, 256, fc__loop_next_timeout(loop));
		fc_loop_update_time(loop);
		for (int i = 0; i < n; i++) {
			struct fc_io *io = evs[i].data.ptr;
			io->cb(loop, io, evs[i].events);
		}
		fc__loop_run_timers(loop);
	}
}

void fc_loop_drain(struct fc_loop *loop, uint32_t timeout_ms)
{
	if (loop->ring)
		fc__uring_drain(loop, timeout_ms);
}
