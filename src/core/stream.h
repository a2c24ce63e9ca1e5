/* stream.h — a connection's transport (TCP, or TLS over TCP), the same for
 * both loops.
 * The owner reads and sends through these calls and reacts to its handler's
 * events (EPOLLIN: bytes or the end may be there, EPOLLOUT: it may send
 * again); it never learns which loop runs it.
 *  - On epoll they are read(2), writev(2), shutdown(2) and close(2).
 *  - On io_uring the stream owns its receive buffers: one receive is in
 *    flight at a time, into a buffer the kernel takes from the loop's
 *    provided-buffer ring only when bytes arrive (an idle connection holds
 *    none); fc_stream_recv copies from it and re-arms. Sends are copied into
 *    one per-stream buffer and submitted once per loop turn; a full buffer is
 *    backpressure (a short count), so a slow reader never queues more.
 * Every call returns what the matching system call would: bytes, 0 at the
 * end of input, -EAGAIN when it would block (an event follows), or -errno. */
#ifndef FC_STREAM_H
#define FC_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/buf.h"
#include "core/loop.h"

struct fc_stream_layer;

struct fc_stream {
	struct fc_io io;   /* first: fd and the handler (the layer's, when there is one) */
	struct fc_buf *tx; /* io_uring: bytes taken, not yet sent */
	uint16_t rx_bid;   /* io_uring: the received buffer held, */
	uint16_t rx_off;   /* its next unread byte */
	uint16_t rx_len;   /* and its length */
	int16_t rx_err;    /* io_uring: -errno of a failed connect, send or receive */
};
/* A plain connection costs only this: a layer (TLS) is not a field here but
 * an entry of its loop's table, by fd (io.layered says there is one). */

/* A layer over the TCP stream (TLS): every call below goes to it, and it
 * reaches the socket through the fc_stream_tcp_* calls. It owns io.cb while
 * it is there and hands the owner its own events (handler). */
struct fc_stream_ops {
	ssize_t (*recv)(struct fc_loop *loop, struct fc_stream *s, char *dst, size_t room);
	ssize_t (*send)(struct fc_loop *loop, struct fc_stream *s, const struct iovec *iov, int n);
	bool (*flushed)(struct fc_loop *loop, struct fc_stream *s);
	int (*shutdown_write)(struct fc_loop *loop, struct fc_stream *s);
	/* drops the layer (fc_stream_set_layer NULL, io.cb = handler); the TCP
	 * close follows */
	void (*close)(struct fc_loop *loop, struct fc_stream *s);
	int (*connect_result)(struct fc_loop *loop, struct fc_stream *s);
};
struct fc_stream_layer {
	const struct fc_stream_ops *ops;
	fc_io_fn handler; /* the owner's */
};

/* The layer of s, or NULL for plain TCP. */
static inline struct fc_stream_layer *fc_stream_layer(const struct fc_loop *loop,
                                                      const struct fc_stream *s)
{
	return s->io.layered ? loop->layers[s->io.fd] : NULL;
}
/* Puts layer on s (an open or connecting stream with its fd), or takes it
 * off (NULL). 0 or -ENOMEM. */
int fc_stream_set_layer(struct fc_loop *loop, struct fc_stream *s, struct fc_stream_layer *layer);

/* Sets the owner's handler (the layer's when there is one, else io.cb). */
static inline void fc_stream_set_handler(struct fc_loop *loop, struct fc_stream *s, fc_io_fn cb)
{
	struct fc_stream_layer *l = fc_stream_layer(loop, s);
	if (l)
		l->handler = cb;
	else
		s->io.cb = cb;
}

/* Registers a connected fd (accepted, or connected: see fc_stream_connected).
 * s->io.fd and s->io.cb are set, the rest zero. 0 or -errno. */
int fc_stream_open(struct fc_loop *loop, struct fc_stream *s);
/* Opens a TCP connection to addr (which must stay valid until the stream is
 * closed) into s (s->io.cb set, the rest zero): a non-blocking connect(2)
 * on epoll, an IORING_OP_CONNECT on io_uring. EPOLLOUT comes when it
 * finished, either way; the owner then asks fc_stream_connect_result and,
 * on success, calls fc_stream_connected. 0, or -errno when it failed at
 * once (then there is no fd to close). */
int fc_stream_connect(struct fc_loop *loop, struct fc_stream *s, const struct sockaddr *addr,
                      socklen_t len);
/* The same with layer put on s before the connect starts (layer->handler
 * set, io.cb the layer's). */
int fc_stream_connect_layer(struct fc_loop *loop, struct fc_stream *s, const struct sockaddr *addr,
                            socklen_t len, struct fc_stream_layer *layer);
/* After that EPOLLOUT: 0 connected, -errno failed (-ECONNREFUSED, ...). */
int fc_stream_connect_result(struct fc_loop *loop, struct fc_stream *s);
void fc_stream_connected(struct fc_loop *loop, struct fc_stream *s);

ssize_t fc_stream_recv(struct fc_loop *loop, struct fc_stream *s, char *dst, size_t room);
/* Takes as many bytes of iov as it can: the count, or -EAGAIN when none. */
ssize_t fc_stream_send(struct fc_loop *loop, struct fc_stream *s, const struct iovec *iov, int n);
/* True when every byte taken was handed to the kernel. When false, an
 * EPOLLOUT event follows once it is. */
bool fc_stream_flushed(struct fc_loop *loop, struct fc_stream *s);
/* Half-closes the sending side (after what was taken). 0 or -errno. */
int fc_stream_shutdown_write(struct fc_loop *loop, struct fc_stream *s);
/* Closes. As with close(2), bytes already taken still go out (on io_uring
 * for at most 10 s, then the socket closes anyway); no event but
 * FC_EV_RELEASED reaches the owner afterwards. Returns true when the owner
 * may free the stream once the current batch of events is over, false when
 * FC_EV_RELEASED comes first (io_uring, operations still in flight). */
bool fc_stream_close(struct fc_loop *loop, struct fc_stream *s);

/* The TCP calls under any layer (what the calls above do without one). */
ssize_t fc_stream_tcp_recv(struct fc_loop *loop, struct fc_stream *s, char *dst, size_t room);
ssize_t fc_stream_tcp_send(struct fc_loop *loop, struct fc_stream *s, const struct iovec *iov,
                           int n);
bool fc_stream_tcp_flushed(struct fc_loop *loop, struct fc_stream *s);
int fc_stream_tcp_shutdown_write(struct fc_loop *loop, struct fc_stream *s);
int fc_stream_tcp_connect_result(struct fc_loop *loop, struct fc_stream *s);
void fc_stream_tcp_connected(struct fc_loop *loop, struct fc_stream *s);

#endif
