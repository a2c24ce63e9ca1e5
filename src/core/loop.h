/* loop.h — one thread's event loop: a timer heap, a cached clock, and one of
 * two ways to wait for I/O:
 *  - epoll, edge-triggered: every fd is registered once for both directions
 *    (no epoll_ctl on the hot path); handlers read/write until EAGAIN or until
 *    they choose to stop, and resume themselves later;
 *  - io_uring (loop_uring.c): connections go through struct fc_stream
 *    (stream.h), whose receives and sends are completions; every operation a
 *    loop turn prepares is submitted with the wait, in one system call.
 * Handlers see the same events (EPOLL* bits) either way. */
#ifndef FC_LOOP_H
#define FC_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct fc_loop;
struct fc_io;
struct fc_timer;

typedef void (*fc_io_fn)(struct fc_loop *loop, struct fc_io *io, uint32_t events);
typedef void (*fc_timer_fn)(struct fc_loop *loop, struct fc_timer *t);

/* An fd watched by the loop. Embedded in its owner; events are EPOLL* bits
 * (and FC_EV_RELEASED). st and ops belong to the loop (zero when unused). */
struct fc_io {
	int fd;
	uint16_t st;     /* io_uring: FC__IO_* state bits */
	uint8_t ops;     /* io_uring: operations in flight or queued for this io */
	uint8_t layered; /* stream.h: a layer (TLS) is in the loop's table for fd */
	fc_io_fn cb;
};

/* io_uring only: a stream closed while operations were in flight stays
 * allocated until the last one completes; then its handler gets this event,
 * alone, and may free its owner. */
#define FC_EV_RELEASED (1u << 26)

struct fc_uring;
struct fc_stream_layer;

/* A one-shot deadline. Embedded in its owner; when == 0 means not armed. */
struct fc_timer {
	uint64_t when; /* ms, monotonic */
	uint32_t slot; /* heap index + 1, 0 when not in the heap */
	fc_timer_fn cb;
};

struct fc_loop {
	int epfd;              /* -1 when the loop runs on io_uring */
	struct fc_uring *ring; /* NULL when the loop runs on epoll */
	bool stop;
	uint64_t now_ms; /* cached monotonic time, refreshed each iteration */
	uint64_t now_ns;
	struct fc_timer **heap;
	uint32_t n_timers, cap_timers;
	void (*before_wait)(struct fc_loop *loop, void *arg); /* flush hooks */
	void *before_wait_arg;
	struct fc_stream_layer **layers; /* stream.c: by fd, for layered streams */
	uint32_t cap_layers;
};

/* Creates an epoll loop. Returns 0 or -errno. */
int fc_loop_init(struct fc_loop *loop);
/* Creates an io_uring loop whose streams buffer up to buf_size bytes per
 * receive and per send. Returns 0, or -errno with the reason in why (the
 * caller then falls back to fc_loop_init). The ring is set up for one thread:
 * the thread that runs the loop calls fc_loop_run (or fc_loop_drain), and no
 * other thread submits to it; fds may be added before that thread starts. */
int fc_loop_init_uring(struct fc_loop *loop, uint32_t buf_size, char *why, size_t whylen);
void fc_loop_fini(struct fc_loop *loop);
static inline bool fc_loop_is_uring(const struct fc_loop *loop)
{
	return loop->ring != NULL;
}
/* io_uring: operations in the kernel now (a multishot poll counts once);
 * always 0 on epoll. */
uint32_t fc_loop_ops_in_flight(const struct fc_loop *loop);
/* "io_uring" or "epoll". */
const char *fc_loop_kind(const struct fc_loop *loop);

/* Watches io->fd for input, output and hang-up, edge-triggered. 0 or -errno.
 * (Connections on an io_uring loop use fc_stream_open instead.) */
int fc_loop_add(struct fc_loop *loop, struct fc_io *io);
/* Watches an fd for input only (listeners, eventfds): the handler is called
 * when input arrives and must take all of it (or come back by itself). */
int fc_loop_add_level(struct fc_loop *loop, struct fc_io *io);
/* Stops watching io (before its fd is closed). io stays valid until the loop
 * ends. */
void fc_loop_del(struct fc_loop *loop, struct fc_io *io);

/* Arms (or re-arms) t to fire at loop time when_ms. 0 disarms. */
void fc_timer_set(struct fc_loop *loop, struct fc_timer *t, uint64_t when_ms);
static inline void fc_timer_cancel(struct fc_loop *loop, struct fc_timer *t)
{
	if (t->slot)
		fc_timer_set(loop, t, 0);
}

/* io_uring only: one accept in flight on a listening socket (io.fd), so a
 * new connection costs no system call. When it completed, the handler gets
 * EPOLLIN with res = the new connection's fd (non-blocking, close-on-exec)
 * and addr its peer, or res = -errno (-ECANCELED after a cancel). Arm it
 * again for the next connection. */
struct fc_accept {
	struct fc_io io;
	int res;
	socklen_t addr_len;
	struct sockaddr_storage addr;
};
/* Arms a (nothing when it is armed already). 0 or -errno (-EOPNOTSUPP on
 * epoll: there the owner polls the socket and calls accept4 itself). */
int fc_loop_accept(struct fc_loop *loop, struct fc_accept *a);
void fc_loop_accept_cancel(struct fc_loop *loop, struct fc_accept *a);
bool fc_loop_accept_armed(const struct fc_accept *a);

/* Runs until loop->stop is set. */
void fc_loop_run(struct fc_loop *loop);
/* After fc_loop_run returned and every stream was closed: waits (at most
 * timeout_ms) until no operation is in flight, delivering FC_EV_RELEASED,
 * so owners are freed before fc_loop_fini. Nothing to do on epoll. */
void fc_loop_drain(struct fc_loop *loop, uint32_t timeout_ms);
/* Refreshes the cached clock. */
void fc_loop_update_time(struct fc_loop *loop);

/* Monotonic time, uncached. */
uint64_t fc_time_ns(void);

#endif
