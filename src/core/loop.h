/* loop.h — one worker's event loop: edge-triggered epoll, a timer heap and a
 * cached clock. Every fd is registered once for both directions (no epoll_ctl
 * on the hot path); handlers read/write until EAGAIN or until they choose to
 * stop, and resume themselves later. */
#ifndef FC_LOOP_H
#define FC_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct fc_loop;
struct fc_io;
struct fc_timer;

typedef void (*fc_io_fn)(struct fc_loop *loop, struct fc_io *io, uint32_t events);
typedef void (*fc_timer_fn)(struct fc_loop *loop, struct fc_timer *t);

/* An fd watched by the loop. Embedded in its owner; events are EPOLL* bits. */
struct fc_io {
	int fd;
	fc_io_fn cb;
};

/* A one-shot deadline. Embedded in its owner; when == 0 means not armed. */
struct fc_timer {
	uint64_t when; /* ms, monotonic */
	uint32_t slot; /* heap index + 1, 0 when not in the heap */
	fc_timer_fn cb;
};

struct fc_loop {
	int epfd;
	bool stop;
	uint64_t now_ms; /* cached monotonic time, refreshed each iteration */
	uint64_t now_ns;
	struct fc_timer **heap;
	uint32_t n_timers, cap_timers;
	void (*before_wait)(struct fc_loop *loop, void *arg); /* flush hooks */
	void *before_wait_arg;
};

/* Creates the epoll fd. Returns 0 or -errno. */
int fc_loop_init(struct fc_loop *loop);
void fc_loop_fini(struct fc_loop *loop);

/* Watches io->fd for input, output and hang-up, edge-triggered. 0 or -errno. */
int fc_loop_add(struct fc_loop *loop, struct fc_io *io);
/* Watches a level-triggered fd for input only (listeners, eventfds). */
int fc_loop_add_level(struct fc_loop *loop, struct fc_io *io);
void fc_loop_del(struct fc_loop *loop, struct fc_io *io);

/* Arms (or re-arms) t to fire at loop time when_ms. 0 disarms. */
void fc_timer_set(struct fc_loop *loop, struct fc_timer *t, uint64_t when_ms);
static inline void fc_timer_cancel(struct fc_loop *loop, struct fc_timer *t)
{
	if (t->slot)
		fc_timer_set(loop, t, 0);
}

/* Runs until loop->stop is set. */
void fc_loop_run(struct fc_loop *loop);
/* Refreshes the cached clock. */
void fc_loop_update_time(struct fc_loop *loop);

/* Monotonic time, uncached. */
uint64_t fc_time_ns(void);

#endif
