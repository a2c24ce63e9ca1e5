/* loop_uring.c — the io_uring loop and its streams (docs/architecture.md,
 * "The two loops").
 * A loop turn: run the handlers of every completion, the due timers, the
 * before-wait hook; then prepare the sends the turn queued and submit them
 * with everything else it prepared, waiting for the next completions in the
 * same system call. Under load one turn serves many connections, so a
 * request costs well under one system call.
 * Operations carry their owner in user_data: the fc_io pointer (8-aligned)
 * with a tag in the low bits; 0 marks results nobody waits for (cancel,
 * close, shutdown). An owner closed while operations are in flight stays
 * allocated until they complete (FC_EV_RELEASED). */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/loop_uring.h"

#define SQ_ENTRIES    1024
#define CQ_ENTRIES    16384
#define RX_BUFS       2048  /* receive buffers per loop, at most (a power of two) */
#define RX_BUF        16384 /* bytes each; fits the stream's 16-bit offsets */
#define RX_TARGET_MIN 16    /* buffers offered to the kernel at least */
#define RX_GROUP      1     /* the buffer group id */
#define REAP_BATCH    256   /* completions copied out of the ring at once */

enum {
	TAG_POLL = 1,
	TAG_RECV = 2,
	TAG_SEND = 3,
	TAG_CONN = 4,
	TAG_LINGER = 5,
	TAG_ACCEPT = 6,
	TAG_MASK = 7
};

/* A stream closed with bytes still to send keeps sending them this long. */
#define CLOSE_LINGER_S 10

/* fc_io.st bits */
enum {
	ST_POLL_WANT = 1u << 0,  /* a level io that wants input events */
	ST_POLL_ARMED = 1u << 1, /* its multishot poll is in the kernel */
	ST_RX_ARMED = 1u << 2,   /* a receive is in flight */
	ST_RX_HAVE = 1u << 3,    /* a received buffer is held (rx_bid) */
	ST_RX_EOF = 1u << 4,     /* the peer ended its side (or an error was reported) */
	ST_RX_RETRY = 1u << 5,   /* arm the receive at the end of the turn */
	ST_TX_INFLIGHT = 1u << 6,
	ST_LISTED = 1u << 7,   /* in the pending list */
	ST_WANT_OUT = 1u << 8, /* the owner waits for room or for the flush */
	ST_CLOSED = 1u << 9,
	ST_CONNECTING = 1u << 10,
	ST_SHUT_WANTED = 1u << 11,    /* half-close once the sends are flushed */
	ST_CLOSE_AFTER_TX = 1u << 12, /* closed: the fd closes once the sends are done */
	ST_LINGER_ARMED = 1u << 13,   /* the bound on that is in the kernel */
	ST_LINGER_OVER = 1u << 14,    /* and it passed */
	ST_RX_STARVED = 1u << 15,     /* waits for a buffer to come back (starved list) */
	/* an accept (struct fc_accept, never a polled io) is in flight */
	ST_ACCEPT_ARMED = ST_POLL_ARMED,
};

struct fc_uring {
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	char *rx_mem;
	/* Receive buffers: the ring offers the kernel rx_target of them; the
	 * rest wait on a LIFO stack, so the buffers that cycle are the few most
	 * recently used (their pages stay warm, and an idle loop's footprint is
	 * rx_target buffers, not all of them). rx_target grows by one for each
	 * receive that found the ring empty. */
	uint16_t *rx_free;
	uint32_t n_rx_free, rx_in_ring, rx_target;
	struct fc_buf_pool tx_bufs;
	struct fc_stream **pending; /* streams with work for the end of the turn */
	uint32_t n_pending, cap_pending;
	/* streams whose receive found every buffer held by other streams: they
	 * are re-armed as buffers come back, not every turn */
	struct fc_stream **starved;
	uint32_t starved_head, n_starved, cap_starved;
	uint32_t inflight; /* operations in the kernel, all owners */
	bool enabled, draining;
};

/* ---------------------------------------------------------------- set-up */

static int setup_ring(struct fc_uring *u, char *why, size_t whylen)
{
	/* the fastest set-up first, then what older kernels know */
	static const unsigned flag_sets[] = {
	        IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
	                IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
	                IORING_SETUP_R_DISABLED,
	        IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
	        IORING_SETUP_CQSIZE,
	};
	int rc = -EINVAL;
	for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = flag_sets[i];
		p.cq_entries = CQ_ENTRIES;
		rc = io_uring_queue_init_params(SQ_ENTRIES, &u->ring, &p);
		if (rc == 0) {
			u->enabled = !(p.flags & IORING_SETUP_R_DISABLED);
			unsigned need =
			        IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG | IORING_FEAT_FAST_POLL;
			if ((p.features & need) != need) {
				io_uring_queue_exit(&u->ring);
				snprintf(why, whylen,
				         "the kernel's io_uring lacks features fulcrum uses "
				         "(needs Linux 5.19 or later)");
				return -ENOTSUP;
			}
			return 0;
		}
		if (rc != -EINVAL)
			break;
	}
	snprintf(why, whylen, "io_uring_setup: %s%s", strerror(-rc),
	         rc == -EPERM || rc == -ENOSYS
	                 ? " (disabled by kernel.io_uring_disabled or a seccomp filter)"
	                 : "");
	return rc;
}

static int check_ops(struct fc_uring *u, char *why, size_t whylen)
{
	static const int ops[] = {
	        IORING_OP_RECV,        IORING_OP_SEND,    IORING_OP_POLL_ADD,
	        IORING_OP_POLL_REMOVE, IORING_OP_CLOSE,   IORING_OP_ASYNC_CANCEL,
	        IORING_OP_SHUTDOWN,    IORING_OP_TIMEOUT, IORING_OP_TIMEOUT_REMOVE};
	struct io_uring_probe *probe = io_uring_get_probe_ring(&u->ring);
	if (!probe) {
		snprintf(why, whylen, "cannot probe io_uring operations");
		return -ENOTSUP;
	}
	int rc = 0;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!io_uring_opcode_supported(probe, ops[i])) {
			snprintf(why, whylen, "the kernel's io_uring lacks operation %d", ops[i]);
			rc = -ENOTSUP;
			break;
		}
	io_uring_free_probe(probe);
	return rc;
}

/* Offers the kernel buffers from the stack until it has rx_target. */
static void rx_refill(struct fc_uring *u)
{
	int k = 0;
	while (u->rx_in_ring < u->rx_target && u->n_rx_free > 0) {
		uint16_t bid = u->rx_free[--u->n_rx_free];
		io_uring_buf_ring_add(u->br, u->rx_mem + (size_t)bid * RX_BUF, RX_BUF, bid,
		                      io_uring_buf_ring_mask(RX_BUFS), k++);
		u->rx_in_ring++;
	}
	if (k)
		io_uring_buf_ring_advance(u->br, k);
}

static void list_pending(struct fc_uring *u, struct fc_stream *s);

/* Re-arms (at the end of the turn) as many starved receives as the kernel
 * has buffers on offer. */
static void wake_starved(struct fc_uring *u)
{
	uint32_t room = u->rx_in_ring;
	while (u->n_starved > 0 && room > 0) {
		struct fc_stream *s = u->starved[u->starved_head++];
		u->n_starved--;
		s->io.st &= ~ST_RX_STARVED;
		s->io.st |= ST_RX_RETRY;
		list_pending(u, s); /* a closed one is released there */
		s->io.ops--;        /* its starved-list entry */
		room--;
	}
	if (u->n_starved == 0)
		u->starved_head = 0;
}

static void give_back(struct fc_uring *u, uint16_t bid)
{
	u->rx_free[u->n_rx_free++] = bid;
	rx_refill(u);
	if (u->n_starved)
		wake_starved(u);
}

/* Every buffer is held: s waits on the starved list (an operation, so a
 * closed stream is not released under it). */
static void starve(struct fc_uring *u, struct fc_stream *s)
{
	if (u->starved_head + u->n_starved == u->cap_starved) {
		if (u->starved_head > 0) {
			memmove(u->starved, u->starved + u->starved_head,
			        u->n_starved * sizeof(*u->starved));
			u->starved_head = 0;
		} else {
			uint32_t cap = u->cap_starved ? u->cap_starved * 2 : 256;
			struct fc_stream **p = realloc(u->starved, cap * sizeof(*p));
			if (!p) { /* retry every turn instead, as before */
				s->io.st |= ST_RX_RETRY;
				list_pending(u, s);
				return;
			}
			u->starved = p;
			u->cap_starved = cap;
		}
	}
	u->starved[u->starved_head + u->n_starved++] = s;
	s->io.st |= ST_RX_STARVED;
	s->io.ops++;
}

static int setup_buffers(struct fc_uring *u, char *why, size_t whylen)
{
	u->br_bytes = RX_BUFS * sizeof(struct io_uring_buf);
	void *br =
	        mmap(NULL, u->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED) {
		snprintf(why, whylen, "buffer ring: %s", strerror(errno));
		return -errno;
	}
	u->br = br;
	/* pages are touched only where bytes land: small requests use one page
	 * of each buffer */
	void *mem = mmap(NULL, (size_t)RX_BUFS * RX_BUF, PROT_READ | PROT_WRITE,
	                 MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (mem == MAP_FAILED) {
		snprintf(why, whylen, "receive buffers: %s", strerror(errno));
		return -errno;
	}
	u->rx_mem = mem;
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uintptr_t)br;
	reg.ring_entries = RX_BUFS;
	reg.bgid = RX_GROUP;
	int rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (rc < 0) {
		snprintf(why, whylen, "provided buffer rings: %s (needs Linux 5.19 or later)",
		         strerror(-rc));
		return rc;
	}
	io_uring_buf_ring_init(u->br);
	u->rx_free = malloc(RX_BUFS * sizeof(*u->rx_free));
	if (!u->rx_free) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < RX_BUFS; i++) /* buffer 0 on top */
		u->rx_free[i] = (uint16_t)(RX_BUFS - 1 - i);
	u->n_rx_free = RX_BUFS;
	u->rx_target = RX_TARGET_MIN;
	rx_refill(u);
	return 0;
}

static void uring_free(struct fc_uring *u, bool ring_up)
{
	if (ring_up)
		io_uring_queue_exit(&u->ring);
	if (u->br)
		munmap(u->br, u->br_bytes);
	if (u->rx_mem)
		munmap(u->rx_mem, (size_t)RX_BUFS * RX_BUF);
	fc_buf_pool_fini(&u->tx_bufs);
	free(u->rx_free);
	free(u->starved);
	free(u->pending);
	free(u);
}

int fc_loop_init_uring(struct fc_loop *loop, uint32_t buf_size, char *why, size_t whylen)
{
	struct fc_uring *u = calloc(1, sizeof(*u));
	if (!u) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	int rc = setup_ring(u, why, whylen);
	if (rc < 0) {
		free(u);
		return rc;
	}
	rc = check_ops(u, why, whylen);
	if (rc == 0)
		rc = setup_buffers(u, why, whylen);
	if (rc < 0) {
		uring_free(u, true);
		return rc;
	}
	fc_buf_pool_init(&u->tx_bufs, buf_size, 256);
	*loop = (struct fc_loop){0};
	loop->epfd = -1;
	loop->ring = u;
	fc_loop_update_time(loop);
	return 0;
}

uint32_t fc_loop_ops_in_flight(const struct fc_loop *loop)
{
	return loop->ring ? loop->ring->inflight : 0;
}

void fc__uring_fini(struct fc_loop *loop)
{
	uring_free(loop->ring, true);
	loop->ring = NULL;
}

/* ---------------------------------------------------------------- submissions */

static struct io_uring_sqe *get_sqe(struct fc_uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (!sqe && u->enabled) {
		io_uring_submit(&u->ring); /* the ring is full: hand the kernel what it holds */
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

static void track(struct fc_uring *u, struct io_uring_sqe *sqe, struct fc_io *io, int tag)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)io | (uint64_t)tag);
	io->ops++;
	u->inflight++;
}

/* A result nobody waits for. */
static void untracked(struct io_uring_sqe *sqe)
{
	io_uring_sqe_set_data64(sqe, 0);
}

/* Puts s on the list the turn's end works through (a list entry counts as an
 * operation, so a closed stream is not released under it). */
static void list_pending(struct fc_uring *u, struct fc_stream *s)
{
	if (s->io.st & ST_LISTED)
		return;
	if (u->n_pending == u->cap_pending) {
		uint32_t cap = u->cap_pending ? u->cap_pending * 2 : 256;
		struct fc_stream **p = realloc(u->pending, cap * sizeof(*p));
		if (!p)
			return; /* the stream's next call or event tries again */
		u->pending = p;
		u->cap_pending = cap;
	}
	u->pending[u->n_pending++] = s;
	s->io.st |= ST_LISTED;
	s->io.ops++;
}

static void arm_recv(struct fc_uring *u, struct fc_stream *s)
{
	if (u->draining)
		return;
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe) {
		s->io.st |= ST_RX_RETRY;
		list_pending(u, s);
		return;
	}
	io_uring_prep_recv(sqe, s->io.fd, NULL, 0, 0); /* length 0: the whole buffer */
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = RX_GROUP;
	track(u, sqe, &s->io, TAG_RECV);
	s->io.st |= ST_RX_ARMED;
}

static void submit_send(struct fc_uring *u, struct fc_stream *s)
{
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe) {
		list_pending(u, s);
		return;
	}
	struct fc_buf *b = s->tx;
	io_uring_prep_send(sqe, s->io.fd, b->data + b->rpos, fc_buf_len(b), MSG_NOSIGNAL);
	track(u, sqe, &s->io, TAG_SEND);
	s->io.st |= ST_TX_INFLIGHT;
}

/* A half-close is a plain shutdown(2), not an IORING_OP_SHUTDOWN: the kernel
 * always hands that op to a worker thread, which looks the fd up only when
 * it runs; by then the stream may be closed and its fd number given to the
 * next accepted connection, whose write side it then shut (the new client
 * saw its connection end before any byte, and fulcrum's sends EPIPE). */
static void submit_shutdown(struct fc_uring *u, struct fc_stream *s)
{
	(void)u;
	s->io.st &= ~ST_SHUT_WANTED;
	shutdown(s->io.fd, SHUT_WR);
}

static void arm_poll(struct fc_uring *u, struct fc_io *io)
{
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe)
		return; /* cannot happen with a submitted ring; the owner's next add retries */
	io_uring_prep_poll_multishot(sqe, io->fd, POLLIN);
	track(u, sqe, io, TAG_POLL);
	io->st |= ST_POLL_ARMED;
}

int fc__uring_add_poll(struct fc_loop *loop, struct fc_io *io)
{
	io->st |= ST_POLL_WANT;
	if (!(io->st & ST_POLL_ARMED))
		arm_poll(loop->ring, io);
	return 0;
}

void fc__uring_del_poll(struct fc_loop *loop, struct fc_io *io)
{
	struct fc_uring *u = loop->ring;
	io->st &= ~ST_POLL_WANT;
	if (!(io->st & ST_POLL_ARMED))
		return;
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe)
		return;
	io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)io | TAG_POLL);
	untracked(sqe);
}

/* ---------------------------------------------------------------- accepts */

int fc_loop_accept(struct fc_loop *loop, struct fc_accept *a)
{
	struct fc_uring *u = loop->ring;
	if (!u)
		return -EOPNOTSUPP;
	if (a->io.st & ST_ACCEPT_ARMED)
		return 0;
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe)
		return -EBUSY;
	a->addr_len = sizeof(a->addr);
	io_uring_prep_accept(sqe, a->io.fd, (struct sockaddr *)&a->addr, &a->addr_len,
	                     SOCK_NONBLOCK | SOCK_CLOEXEC);
	track(u, sqe, &a->io, TAG_ACCEPT);
	a->io.st |= ST_ACCEPT_ARMED;
	return 0;
}

void fc_loop_accept_cancel(struct fc_loop *loop, struct fc_accept *a)
{
	if (!loop->ring || !(a->io.st & ST_ACCEPT_ARMED))
		return;
	struct io_uring_sqe *sqe = get_sqe(loop->ring);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)a | TAG_ACCEPT, 0);
	untracked(sqe);
}

bool fc_loop_accept_armed(const struct fc_accept *a)
{
	return (a->io.st & ST_ACCEPT_ARMED) != 0;
}

static void on_accept(struct fc_loop *loop, struct fc_accept *a, int res)
{
	a->io.st &= ~ST_ACCEPT_ARMED;
	if (loop->ring->draining) {
		if (res >= 0)
			close(res);
		return;
	}
	a->res = res;
	a->io.cb(loop, &a->io, EPOLLIN);
}

/* ---------------------------------------------------------------- streams */

static void stream_reset(struct fc_stream *s)
{
	s->io.st = 0;
	s->io.ops = 0;
	s->tx = NULL;
	s->rx_err = 0;
}

int fc__uring_open(struct fc_loop *loop, struct fc_stream *s)
{
	stream_reset(s);
	arm_recv(loop->ring, s);
	return 0;
}

int fc__uring_connect(struct fc_loop *loop, struct fc_stream *s, const struct sockaddr *addr,
                      socklen_t len)
{
	stream_reset(s);
	struct io_uring_sqe *sqe = get_sqe(loop->ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_connect(sqe, s->io.fd, addr, len);
	track(loop->ring, sqe, &s->io, TAG_CONN);
	s->io.st |= ST_CONNECTING;
	return 0;
}

int fc__uring_connect_result(struct fc_loop *loop, struct fc_stream *s)
{
	(void)loop;
	if (s->io.st & ST_CONNECTING)
		return -EINPROGRESS;
	return s->rx_err;
}

void fc__uring_connected(struct fc_loop *loop, struct fc_stream *s)
{
	if (!(s->io.st & (ST_RX_ARMED | ST_RX_HAVE | ST_RX_EOF | ST_CLOSED | ST_CONNECTING)))
		arm_recv(loop->ring, s);
}

ssize_t fc__uring_recv(struct fc_loop *loop, struct fc_stream *s, char *dst, size_t room)
{
	struct fc_uring *u = loop->ring;
	if (room == 0)
		return -EAGAIN; /* read(2) would say 0, which means the end */
	if (s->io.st & ST_RX_HAVE) {
		size_t n = (size_t)(s->rx_len - s->rx_off);
		if (n > room)
			n = room;
		memcpy(dst, u->rx_mem + (size_t)s->rx_bid * RX_BUF + s->rx_off, n);
		s->rx_off = (uint16_t)(s->rx_off + n);
		if (s->rx_off == s->rx_len) {
			give_back(u, s->rx_bid);
			s->io.st &= ~ST_RX_HAVE;
			arm_recv(u, s); /* submitted with the turn: ready for what comes next */
		}
		return (ssize_t)n;
	}
	if (s->rx_err) {
		int e = s->rx_err;
		s->rx_err = 0;
		s->io.st |= ST_RX_EOF;
		return e;
	}
	if (s->io.st & ST_RX_EOF)
		return 0;
	if (!(s->io.st & (ST_RX_ARMED | ST_RX_RETRY | ST_RX_STARVED | ST_CONNECTING | ST_CLOSED)))
		arm_recv(u, s);
	return -EAGAIN;
}

ssize_t fc__uring_send(struct fc_loop *loop, struct fc_stream *s, const struct iovec *iov, int n)
{
	struct fc_uring *u = loop->ring;
	if (s->io.st & ST_CLOSED)
		return -EBADF;
	if (s->rx_err && !(s->io.st & ST_RX_HAVE))
		return s->rx_err;
	struct fc_buf *b = s->tx;
	if (!b) {
		b = s->tx = fc_buf_take(&u->tx_bufs);
		if (!b)
			return -ENOMEM;
	} else if (!(s->io.st & ST_TX_INFLIGHT) && b->rpos) {
		fc_buf_compact(b); /* nothing of it is in the kernel's hands */
	}
	size_t want = 0, took = 0;
	for (int i = 0; i < n; i++) {
		want += iov[i].iov_len;
		size_t k = iov[i].iov_len;
		if (k > fc_buf_room(b))
			k = fc_buf_room(b);
		memcpy(b->data + b->wpos, iov[i].iov_base, k);
		b->wpos += (uint32_t)k;
		took += k;
	}
	if (took < want)
		s->io.st |= ST_WANT_OUT;
	if (took == 0) {
		if (fc_buf_len(b) == 0) { /* nothing asked for */
			fc_buf_release(&u->tx_bufs, b);
			s->tx = NULL;
			return 0;
		}
		return -EAGAIN;
	}
	if (!(s->io.st & ST_TX_INFLIGHT))
		list_pending(u, s);
	return (ssize_t)took;
}

bool fc__uring_flushed(struct fc_loop *loop, struct fc_stream *s)
{
	(void)loop;
	if (!s->tx)
		return true;
	s->io.st |= ST_WANT_OUT;
	return false;
}

int fc__uring_shutdown_write(struct fc_loop *loop, struct fc_stream *s)
{
	if (s->tx) {
		s->io.st |= ST_SHUT_WANTED; /* after the bytes already taken */
		return 0;
	}
	submit_shutdown(loop->ring, s);
	return 0;
}

static void cancel_op(struct fc_uring *u, struct fc_stream *s, int tag)
{
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe)
		return; /* the close below still ends the socket's operations */
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)s | (uint64_t)tag, 0);
	untracked(sqe);
}

static void close_fd(struct fc_uring *u, struct fc_stream *s)
{
	if (s->io.fd < 0)
		return;
	/* in-flight operations hold the socket until they are cancelled */
	struct io_uring_sqe *sqe = get_sqe(u);
	if (sqe) {
		io_uring_prep_close(sqe, s->io.fd);
		untracked(sqe);
	} else {
		close(s->io.fd);
	}
	s->io.fd = -1;
}

bool fc__uring_close(struct fc_loop *loop, struct fc_stream *s)
{
	static struct __kernel_timespec linger = {.tv_sec = CLOSE_LINGER_S};
	struct fc_uring *u = loop->ring;
	if (s->io.st & ST_CLOSED)
		return s->io.ops == 0;
	s->io.st |= ST_CLOSED;
	if (s->io.st & ST_RX_HAVE) {
		give_back(u, s->rx_bid);
		s->io.st &= ~ST_RX_HAVE;
	}
	if (s->io.st & ST_RX_ARMED)
		cancel_op(u, s, TAG_RECV);
	if (s->io.st & ST_CONNECTING)
		cancel_op(u, s, TAG_CONN);
	if (s->tx && fc_buf_len(s->tx) > 0 && !s->rx_err && !u->draining) {
		/* as with close(2), the bytes taken still go out (for a while);
		 * then the socket closes */
		s->io.st |= ST_CLOSE_AFTER_TX;
		if (!(s->io.st & ST_TX_INFLIGHT))
			submit_send(u, s);
		struct io_uring_sqe *sqe = get_sqe(u);
		if (sqe) {
			io_uring_prep_timeout(sqe, &linger, 0, 0);
			track(u, sqe, &s->io, TAG_LINGER);
			s->io.st |= ST_LINGER_ARMED;
		}
		return false;
	}
	if (s->io.st & ST_TX_INFLIGHT)
		cancel_op(u, s, TAG_SEND);
	else if (s->tx) {
		fc_buf_release(&u->tx_bufs, s->tx);
		s->tx = NULL;
	}
	close_fd(u, s);
	return s->io.ops == 0;
}

/* ---------------------------------------------------------------- completions */

static void released_maybe(struct fc_loop *loop, struct fc_stream *s)
{
	if ((s->io.st & ST_CLOSED) && s->io.ops == 0)
		s->io.cb(loop, &s->io, FC_EV_RELEASED);
}

static void on_recv(struct fc_loop *loop, struct fc_stream *s, int res, uint32_t flags)
{
	struct fc_uring *u = loop->ring;
	s->io.st &= ~ST_RX_ARMED;
	if (flags & IORING_CQE_F_BUFFER)
		u->rx_in_ring--;
	if ((s->io.st & ST_CLOSED) || u->draining) {
		if (flags & IORING_CQE_F_BUFFER)
			give_back(u, (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT));
		released_maybe(loop, s);
		return;
	}
	if (res > 0) {
		s->rx_bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
		s->rx_off = 0;
		s->rx_len = (uint16_t)res;
		s->io.st |= ST_RX_HAVE;
		s->io.cb(loop, &s->io, EPOLLIN);
		return;
	}
	if (res == 0) {
		s->io.st |= ST_RX_EOF;
		s->io.cb(loop, &s->io, EPOLLIN | EPOLLRDHUP);
		return;
	}
	if (res == -ENOBUFS || res == -EINTR || res == -EAGAIN || res == -ECANCELED) {
		if (res == -ENOBUFS && u->rx_target < RX_BUFS) {
			/* more arrived at once than the kernel was offered buffers:
			 * offer one more for each receive that found none (a burst of
			 * k such completions grows the offer by k, not 2^k) */
			u->rx_target++;
			rx_refill(u);
		}
		if (res == -ENOBUFS && u->rx_in_ring == 0) {
			starve(u, s); /* all held by others: wait until one comes back */
			return;
		}
		/* try again at the end of the turn, when buffers were given back */
		s->io.st |= ST_RX_RETRY;
		list_pending(u, s);
		return;
	}
	s->rx_err = (int16_t)res;
	s->io.cb(loop, &s->io, EPOLLIN | EPOLLERR | EPOLLHUP);
}

static void on_send(struct fc_loop *loop, struct fc_stream *s, int res)
{
	struct fc_uring *u = loop->ring;
	struct fc_buf *b = s->tx;
	s->io.st &= ~ST_TX_INFLIGHT;
	if (s->io.st & ST_CLOSED) {
		if (res > 0 && (s->io.st & ST_CLOSE_AFTER_TX)) {
			b->rpos += (uint32_t)res;
			if (fc_buf_len(b) > 0 && !(s->io.st & ST_LINGER_OVER)) {
				submit_send(u, s);
				return;
			}
		}
		fc_buf_release(&u->tx_bufs, b);
		s->tx = NULL;
		if (s->io.st & ST_CLOSE_AFTER_TX) {
			s->io.st &= ~ST_CLOSE_AFTER_TX;
			if (s->io.st & ST_LINGER_ARMED) {
				struct io_uring_sqe *sqe = get_sqe(u);
				if (sqe) {
					io_uring_prep_timeout_remove(
					        sqe, (uint64_t)(uintptr_t)s | TAG_LINGER, 0);
					untracked(sqe);
				}
			}
			close_fd(u, s);
		}
		released_maybe(loop, s);
		return;
	}
	if (res > 0) {
		b->rpos += (uint32_t)res;
	} else if (res != -EINTR && res != -EAGAIN) {
		/* the peer is gone: what is left cannot be sent */
		s->rx_err = (int16_t)(res < 0 ? res : -EPIPE);
		fc_buf_release(&u->tx_bufs, b);
		s->tx = NULL;
		s->io.st &= ~(ST_WANT_OUT | ST_SHUT_WANTED);
		s->io.cb(loop, &s->io, EPOLLOUT | EPOLLERR | EPOLLHUP);
		return;
	}
	if (fc_buf_len(b) > 0) {
		submit_send(u, s);
	} else {
		fc_buf_release(&u->tx_bufs, b);
		s->tx = NULL;
		if (s->io.st & ST_SHUT_WANTED)
			submit_shutdown(u, s);
	}
	if (s->io.st & ST_WANT_OUT) {
		s->io.st &= ~ST_WANT_OUT;
		s->io.cb(loop, &s->io, EPOLLOUT);
	}
}

static void on_connect(struct fc_loop *loop, struct fc_stream *s, int res)
{
	s->io.st &= ~ST_CONNECTING;
	if (s->io.st & ST_CLOSED) {
		released_maybe(loop, s);
		return;
	}
	uint32_t ev = EPOLLOUT;
	if (res < 0) {
		s->rx_err = (int16_t)res; /* fc_stream_connect_result reports it */
		ev |= EPOLLERR | EPOLLHUP | EPOLLIN;
	}
	s->io.cb(loop, &s->io, ev);
}

/* The bound on a closed stream's last sends passed (or was removed). */
static void on_linger(struct fc_loop *loop, struct fc_stream *s)
{
	s->io.st &= ~ST_LINGER_ARMED;
	if (s->io.st & ST_TX_INFLIGHT) {
		s->io.st |= ST_LINGER_OVER;
		cancel_op(loop->ring, s, TAG_SEND);
	}
	released_maybe(loop, s);
}

static void on_poll(struct fc_loop *loop, struct fc_io *io, int res, uint32_t flags)
{
	struct fc_uring *u = loop->ring;
	if (!(flags & IORING_CQE_F_MORE)) {
		io->st &= ~ST_POLL_ARMED;
		/* the poll ended (removed, or the kernel stopped it): still wanted? */
		if ((io->st & ST_POLL_WANT) && !u->draining && (res >= 0 || res == -ECANCELED))
			arm_poll(u, io);
	}
	if (!(io->st & ST_POLL_WANT) || u->draining)
		return;
	if (res > 0)
		io->cb(loop, io, (uint32_t)res);
	else if (res < 0 && res != -ECANCELED)
		io->cb(loop, io, EPOLLIN | EPOLLERR);
}

static void dispatch(struct fc_loop *loop, uint64_t ud, int res, uint32_t flags)
{
	struct fc_uring *u = loop->ring;
	struct fc_io *io = (struct fc_io *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);
	if (!io)
		return;
	if (!(flags & IORING_CQE_F_MORE)) { /* the operation's last completion */
		io->ops--;
		u->inflight--;
	}
	switch ((int)(ud & TAG_MASK)) {
	case TAG_RECV:
		on_recv(loop, (struct fc_stream *)io, res, flags);
		break;
	case TAG_SEND:
		on_send(loop, (struct fc_stream *)io, res);
		break;
	case TAG_CONN:
		on_connect(loop, (struct fc_stream *)io, res);
		break;
	case TAG_LINGER:
		on_linger(loop, (struct fc_stream *)io);
		break;
	case TAG_ACCEPT:
		on_accept(loop, (struct fc_accept *)io, res);
		break;
	default:
		on_poll(loop, io, res, flags);
		break;
	}
}

static void reap(struct fc_loop *loop)
{
	struct fc_uring *u = loop->ring;
	struct {
		uint64_t ud;
		int32_t res;
		uint32_t flags;
	} batch[REAP_BATCH];
	for (;;) {
		unsigned head, n = 0;
		struct io_uring_cqe *cqe;
		io_uring_for_each_cqe(&u->ring, head, cqe)
		{
			batch[n].ud = cqe->user_data;
			batch[n].res = cqe->res;
			batch[n].flags = cqe->flags;
			if (++n == REAP_BATCH)
				break;
		}
		if (n == 0)
			return;
		io_uring_cq_advance(&u->ring, n); /* the kernel may reuse the slots now */
		for (unsigned i = 0; i < n; i++)
			dispatch(loop, batch[i].ud, batch[i].res, batch[i].flags);
		if (n < REAP_BATCH)
			return;
	}
}

/* The end of the turn: sends queued during it, receives to re-arm. */
static void run_pending(struct fc_loop *loop)
{
	struct fc_uring *u = loop->ring;
	uint32_t n = u->n_pending;
	for (uint32_t i = 0; i < n; i++) {
		struct fc_stream *s = u->pending[i];
		s->io.st &= ~ST_LISTED;
		s->io.ops--;
		if (s->io.st & ST_CLOSED) {
			released_maybe(loop, s);
			continue;
		}
		if (s->io.st & ST_RX_RETRY) {
			s->io.st &= ~ST_RX_RETRY;
			if (!(s->io.st & (ST_RX_ARMED | ST_RX_HAVE | ST_RX_EOF)))
				arm_recv(u, s);
		}
		if (s->tx && fc_buf_len(s->tx) && !(s->io.st & ST_TX_INFLIGHT))
			submit_send(u, s);
	}
	/* what was listed meanwhile waits for the next turn */
	if (u->n_pending > n)
		memmove(u->pending, u->pending + n, (u->n_pending - n) * sizeof(*u->pending));
	u->n_pending -= n;
}

static void enable(struct fc_uring *u)
{
	if (u->enabled)
		return;
	/* the ring was made disabled on the thread that set the worker up; the
	 * thread that enables it is its only submitter from now on */
	/* (liburing 2.3 declares io_uring_enable_rings but does not export it) */
	syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	u->enabled = true;
}

static void wait_turn(struct fc_loop *loop, int timeout_ms)
{
	struct fc_uring *u = loop->ring;
	struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
	                               .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
	struct io_uring_cqe *cqe;
	/* submits what the turn prepared and waits, one system call */
	io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
	fc_loop_update_time(loop);
}

void fc__uring_run(struct fc_loop *loop)
{
	struct fc_uring *u = loop->ring;
	enable(u);
	while (!loop->stop) {
		if (loop->before_wait)
			loop->before_wait(loop, loop->before_wait_arg);
		run_pending(loop);
		wait_turn(loop, fc__loop_next_timeout(loop));
		reap(loop);
		fc__loop_run_timers(loop);
	}
}

void fc__uring_drain(struct fc_loop *loop, uint32_t timeout_ms)
{
	struct fc_uring *u = loop->ring;
	enable(u);
	u->draining = true;
	/* no buffer will be waited for any more */
	while (u->n_starved > 0) {
		struct fc_stream *s = u->starved[u->starved_head++];
		u->n_starved--;
		s->io.st &= ~ST_RX_STARVED;
		s->io.ops--;
		released_maybe(loop, s);
	}
	u->starved_head = 0;
	struct io_uring_sqe *sqe = get_sqe(u);
	if (sqe) {
		io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
		untracked(sqe);
	}
	uint64_t end = loop->now_ms + timeout_ms;
	while ((u->inflight > 0 || u->n_pending > 0) && loop->now_ms < end) {
		run_pending(loop);
		wait_turn(loop, 10);
		reap(loop);
	}
	run_pending(loop);
}
