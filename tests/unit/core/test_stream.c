/* test_stream.c — streams over real loopback TCP, each case on both loops
 * (epoll and io_uring): bytes in order through short reads, the end of
 * input, sends bounded by backpressure and resumed by EPOLLOUT, half-close
 * after queued bytes, close with operations in flight (released later),
 * connects that succeed and fail, level-triggered fds (add, del, add again),
 * more connections holding received bytes than the provided-buffer ring has
 * buffers (and than it has buffers at all), and accepts through the ring. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/sock.h"
#include "core/stream.h"

/* ---------------------------------------------------------------- helpers */

static bool want_uring(void **state)
{
	return *state != NULL;
}

static void loop_open(void **state, struct fc_loop *loop)
{
	if (want_uring(state)) {
		char why[200];
		int rc = fc_loop_init_uring(loop, 16384, why, sizeof(why));
		if (rc == -EPERM || rc == -ENOSYS) {
			/* refused by this kernel (sysctl, seccomp): nothing to test */
			print_message("io_uring refused here, case skipped: %s\n", why);
			skip();
		}
		if (rc < 0)
			fail_msg("io_uring is not usable here: %s", why);
	} else {
		assert_int_equal(fc_loop_init(loop), 0);
	}
}

/* A stream with its events counted. */
struct tstream {
	struct fc_stream s; /* first */
	int n_in, n_out, n_released;
	uint32_t last;
	bool stop_on_event;
};

static void t_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct tstream *t = (struct tstream *)io;
	t->last = ev;
	if (ev & FC_EV_RELEASED)
		t->n_released++;
	if (ev & EPOLLIN)
		t->n_in++;
	if (ev & EPOLLOUT)
		t->n_out++;
	if (t->stop_on_event)
		loop->stop = true;
}

/* Runs the loop for about ms (the loop may stop earlier when asked). */
static void stop_cb(struct fc_loop *loop, struct fc_timer *t)
{
	(void)t;
	loop->stop = true;
}

static void run_for(struct fc_loop *loop, uint32_t ms)
{
	struct fc_timer t = {.cb = stop_cb};
	fc_loop_update_time(loop);
	fc_timer_set(loop, &t, loop->now_ms + ms); /* 0: one turn that does not wait */
	loop->stop = false;
	fc_loop_run(loop);
	fc_timer_cancel(loop, &t);
	loop->stop = false;
}

/* Runs the loop until *flag is set by a handler, failing after 3 s. */
static void run_until(struct fc_loop *loop, int *counter, int at_least)
{
	for (int i = 0; i < 600 && *counter < at_least; i++)
		run_for(loop, 5);
	assert_true(*counter >= at_least);
}

/* A connected loopback TCP pair: *ours non-blocking, *peer blocking. */
static void tcp_pair(int *ours, int *peer)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 8), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	int s = accept(l, NULL, NULL);
	assert_true(s >= 0);
	close(l);
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	*ours = s;
	*peer = c;
}

static void t_open(struct fc_loop *loop, struct tstream *t, int fd)
{
	memset(t, 0, sizeof(*t));
	t->s.io.fd = fd;
	t->s.io.cb = t_event;
	assert_int_equal(fc_stream_open(loop, &t->s), 0);
}

/* A loop of the case's kind and one stream on a loopback pair. */
static void open_pair(void **state, struct fc_loop *loop, struct tstream *t, int *peer)
{
	int fd;
	loop_open(state, loop);
	tcp_pair(&fd, peer);
	t_open(loop, t, fd);
}

/* Small socket buffers on both ends, so backpressure comes soon. */
static void small_buffers(struct tstream *t, int peer, int bytes)
{
	setsockopt(t->s.io.fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
	setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

/* n bytes that show where a byte went missing or came twice. */
static char *pattern(size_t n, unsigned mul)
{
	char *p = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(i * mul + (i >> 9));
	return p;
}

/* Reads from our stream until n bytes arrived (or the end). Returns count. */
static size_t recv_all(struct fc_loop *loop, struct tstream *t, char *dst, size_t n, size_t room)
{
	size_t got = 0;
	for (int i = 0; i < 2000 && got < n; i++) {
		ssize_t k = fc_stream_recv(loop, &t->s, dst + got, room < n - got ? room : n - got);
		if (k > 0) {
			got += (size_t)k;
			continue;
		}
		if (k == 0)
			break;
		assert_int_equal(k, -EAGAIN);
		run_for(loop, 2);
	}
	return got;
}

/* ---------------------------------------------------------------- cases */

static void test_bytes_in_order_through_short_reads(void **state)
{
	struct fc_loop loop;
	struct tstream t;
	int peer;
	open_pair(state, &loop, &t, &peer);
	enum { N = 100000 };
	char *out = pattern(N, 7), *in = malloc(N);
	assert_int_equal(write(peer, out, N), N);
	/* reads of 97 bytes: many per received buffer */
	assert_int_equal(recv_all(&loop, &t, in, N, 97), N);
	assert_memory_equal(in, out, N);
	/* nothing more: would block, and an event comes with the next bytes */
	assert_int_equal(fc_stream_recv(&loop, &t.s, in, 10), -EAGAIN);
	int before = t.n_in;
	assert_int_equal(write(peer, "x", 1), 1);
	run_until(&loop, &t.n_in, before + 1);
	assert_int_equal(fc_stream_recv(&loop, &t.s, in, 10), 1);
	assert_int_equal(in[0], 'x');
	/* the peer's end arrives as 0 */
	close(peer);
	run_until(&loop, &t.n_in, before + 2);
	assert_int_equal(fc_stream_recv(&loop, &t.s, in, 10), 0);
	assert_int_equal(fc_stream_recv(&loop, &t.s, in, 10), 0);
	/* nothing in flight after the end: freed at once, no release event */
	assert_true(fc_stream_close(&loop, &t.s));
	run_for(&loop, 5);
	assert_int_equal(t.n_released, 0);
	free(out);
	free(in);
	fc_loop_fini(&loop);
}

static void test_send_backpressure_then_resume(void **state)
{
	struct fc_loop loop;
	struct tstream t;
	int peer;
	open_pair(state, &loop, &t, &peer);
	small_buffers(&t, peer, 65536);
	enum { N = 4 << 20 };
	char *out = pattern(N, 3), *in = malloc(N);
	/* the peer does not read: the stream takes a bounded amount, then says
	 * -EAGAIN (never queues the whole 4 MiB) */
	size_t taken = 0;
	for (int round = 0; round < 50; round++) {
		for (;;) {
			struct iovec iov = {out + taken, N - taken};
			ssize_t k = fc_stream_send(&loop, &t.s, &iov, 1);
			if (k == -EAGAIN)
				break;
			assert_true(k > 0);
			taken += (size_t)k;
			if (taken == N)
				break;
		}
		run_for(&loop, 1);
	}
	assert_true(taken < (1u << 20)); /* kernel buffers plus one stream buffer */
	/* the peer reads everything, the stream sends the rest on EPOLLOUT */
	fcntl(peer, F_SETFL, fcntl(peer, F_GETFL) | O_NONBLOCK);
	size_t got = 0;
	for (int i = 0; i < 200000 && got < N; i++) {
		bool moved = false;
		ssize_t r = read(peer, in + got, N - got);
		if (r > 0) {
			got += (size_t)r;
			moved = true;
		}
		if (taken < N) {
			struct iovec iov = {out + taken, N - taken};
			ssize_t k = fc_stream_send(&loop, &t.s, &iov, 1);
			if (k > 0) {
				taken += (size_t)k;
				moved = true;
			} else {
				assert_int_equal(k, -EAGAIN);
			}
		}
		run_for(&loop, moved ? 0 : 1);
	}
	assert_int_equal(got, N);
	assert_memory_equal(in, out, N);
	assert_true(t.n_out >= 1 || !want_uring(state));
	for (int i = 0; i < 100 && !fc_stream_flushed(&loop, &t.s); i++)
		run_for(&loop, 1);
	assert_true(fc_stream_flushed(&loop, &t.s));
	fc_stream_close(&loop, &t.s);
	run_for(&loop, 5);
	close(peer);
	free(out);
	free(in);
	fc_loop_fini(&loop);
}

static void test_shutdown_write_after_queued_bytes(void **state)
{
	struct fc_loop loop;
	struct tstream t;
	int peer;
	open_pair(state, &loop, &t, &peer);
	struct iovec iov[2] = {{"hello, ", 7}, {"world", 5}};
	assert_int_equal(fc_stream_send(&loop, &t.s, iov, 2), 12);
	/* asked before the bytes went out: the half-close waits for them */
	assert_int_equal(fc_stream_shutdown_write(&loop, &t.s), 0);
	run_for(&loop, 5);
	char buf[64];
	size_t got = 0;
	for (;;) {
		ssize_t r = read(peer, buf + got, sizeof(buf) - got);
		assert_true(r >= 0);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	assert_int_equal(got, 12);
	assert_memory_equal(buf, "hello, world", 12);
	/* the other direction still works */
	assert_int_equal(write(peer, "back", 4), 4);
	char in[8];
	assert_int_equal(recv_all(&loop, &t, in, 4, sizeof(in)), 4);
	assert_memory_equal(in, "back", 4);
	fc_stream_close(&loop, &t.s);
	run_for(&loop, 5);
	close(peer);
	fc_loop_fini(&loop);
}

static void test_close_with_operations_in_flight(void **state)
{
	struct fc_loop loop;
	struct tstream t;
	int peer;
	open_pair(state, &loop, &t, &peer);
	run_for(&loop, 2); /* on io_uring a receive is now waiting in the kernel */
	bool now = fc_stream_close(&loop, &t.s);
	assert_int_equal(now, !want_uring(state));
	assert_int_equal(t.s.io.fd, -1);
	run_for(&loop, 10);
	/* released once, and no other event after the close */
	assert_int_equal(t.n_released, want_uring(state) ? 1 : 0);
	assert_int_equal(t.n_in, 0);
	/* the peer sees the end (FIN), not a hang */
	char c;
	assert_int_equal(read(peer, &c, 1), 0);
	close(peer);
	fc_loop_fini(&loop);
}

static void test_close_still_sends_what_was_taken(void **state)
{
	struct fc_loop loop;
	struct tstream t;
	int peer;
	open_pair(state, &loop, &t, &peer);
	small_buffers(&t, peer, 4096);
	enum { N = 256 << 10 };
	char *out = pattern(N, 13), *in = malloc(N + 1);
	size_t taken = 0;
	for (int i = 0; i < 20; i++) {
		struct iovec iov = {out + taken, N - taken};
		ssize_t k = fc_stream_send(&loop, &t.s, &iov, 1);
		if (k > 0)
			taken += (size_t)k;
		run_for(&loop, 1);
	}
	assert_true(taken > 0);
	/* closed while the peer reads nothing: like close(2), what was taken
	 * still arrives, then the end */
	fc_stream_close(&loop, &t.s);
	size_t got = 0;
	fcntl(peer, F_SETFL, fcntl(peer, F_GETFL) | O_NONBLOCK);
	for (int i = 0; i < 3000; i++) {
		ssize_t r = read(peer, in + got, N + 1 - got);
		if (r == 0)
			break;
		if (r > 0)
			got += (size_t)r;
		run_for(&loop, r > 0 ? 0 : 1);
	}
	assert_int_equal(got, taken);
	assert_memory_equal(in, out, taken);
	fc_loop_drain(&loop, 1000);
	assert_int_equal(t.n_released, want_uring(state) ? 1 : 0);
	close(peer);
	free(out);
	free(in);
	fc_loop_fini(&loop);
}

static void test_peer_reset_is_an_error_then_the_end(void **state)
{
	struct fc_loop loop;
	struct tstream t;
	int peer;
	open_pair(state, &loop, &t, &peer);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(peer); /* RST */
	run_until(&loop, &t.n_in, 1);
	char buf[8];
	ssize_t k = fc_stream_recv(&loop, &t.s, buf, sizeof(buf));
	assert_true(k == -ECONNRESET || k == 0);
	assert_int_equal(fc_stream_recv(&loop, &t.s, buf, sizeof(buf)), 0);
	fc_stream_close(&loop, &t.s);
	run_for(&loop, 5);
	fc_loop_fini(&loop);
}

static void test_connect_ok_and_refused(void **state)
{
	struct fc_loop loop;
	loop_open(state, &loop);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 8), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);

	struct tstream t;
	memset(&t, 0, sizeof(t));
	t.s.io.cb = t_event;
	assert_int_equal(fc_stream_connect(&loop, &t.s, (struct sockaddr *)&a, sizeof(a)), 0);
	run_until(&loop, &t.n_out, 1);
	assert_int_equal(fc_stream_connect_result(&loop, &t.s), 0);
	fc_stream_connected(&loop, &t.s);
	int peer = accept(l, NULL, NULL);
	assert_true(peer >= 0);
	assert_int_equal(write(peer, "hi", 2), 2);
	char buf[4];
	assert_int_equal(recv_all(&loop, &t, buf, 2, sizeof(buf)), 2);
	assert_memory_equal(buf, "hi", 2);
	fc_stream_close(&loop, &t.s);
	close(peer);

	/* nobody listens any more: the connect fails, the owner learns it (at
	 * once, or with the event) */
	close(l);
	memset(&t, 0, sizeof(t));
	t.s.io.cb = t_event;
	int rc = fc_stream_connect(&loop, &t.s, (struct sockaddr *)&a, sizeof(a));
	if (rc == 0) {
		run_until(&loop, &t.n_out, 1);
		assert_int_equal(fc_stream_connect_result(&loop, &t.s), -ECONNREFUSED);
		fc_stream_close(&loop, &t.s);
	} else {
		assert_int_equal(rc, -ECONNREFUSED);
	}
	run_for(&loop, 5);
	fc_loop_fini(&loop);
}

struct level {
	struct fc_io io;
	int n;
};

static void level_cb(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct level *lv = (struct level *)io;
	uint64_t v;
	(void)loop;
	assert_true(ev & EPOLLIN);
	while (read(io->fd, &v, sizeof(v)) == sizeof(v))
		lv->n++;
}

static void test_level_fd_add_del_add(void **state)
{
	struct fc_loop loop;
	loop_open(state, &loop);
	struct level lv = {.io = {.fd = eventfd(0, EFD_NONBLOCK), .cb = level_cb}};
	uint64_t one = 1;
	assert_int_equal(fc_loop_add_level(&loop, &lv.io), 0);
	for (int k = 1; k <= 3; k++) {
		assert_int_equal(write(lv.io.fd, &one, 8), 8);
		run_until(&loop, &lv.n, k);
		/* one multishot poll, however many times it fired */
		assert_int_equal(fc_loop_ops_in_flight(&loop), want_uring(state) ? 1 : 0);
	}
	fc_loop_del(&loop, &lv.io);
	run_for(&loop, 2);
	assert_int_equal(write(lv.io.fd, &one, 8), 8);
	run_for(&loop, 10);
	assert_int_equal(lv.n, 3); /* not watched */
	assert_int_equal(fc_loop_add_level(&loop, &lv.io), 0);
	run_until(&loop, &lv.n, 4); /* watched again: the pending input is seen */
	assert_int_equal(write(lv.io.fd, &one, 8), 8);
	run_until(&loop, &lv.n, 5);
	fc_loop_del(&loop, &lv.io);
	fc_loop_drain(&loop, 100);
	assert_int_equal(fc_loop_ops_in_flight(&loop), 0);
	close(lv.io.fd);
	fc_loop_fini(&loop);
}

/* More streams holding received bytes than the loop has receive buffers:
 * the kernel runs out, the streams wait, and each gets its bytes once the
 * others give theirs back. */
static void test_more_streams_than_receive_buffers(void **state)
{
	enum { N = 700 };
	struct fc_loop loop;
	loop_open(state, &loop);
	struct tstream *t = calloc(N, sizeof(*t));
	int *peer = calloc(N, sizeof(int));
	for (int i = 0; i < N; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
		t_open(&loop, &t[i], sv[0]);
		peer[i] = sv[1];
	}
	run_for(&loop, 5);
	for (int i = 0; i < N; i++) {
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "m%05d", i);
		assert_int_equal(write(peer[i], msg, (size_t)n), n);
	}
	/* nobody reads for a while: at most one buffer per stream is held */
	run_for(&loop, 30);
	for (int i = 0; i < N; i++) {
		char buf[16], want[16];
		int n = snprintf(want, sizeof(want), "m%05d", i);
		assert_int_equal(recv_all(&loop, &t[i], buf, (size_t)n, sizeof(buf)), n);
		assert_memory_equal(buf, want, (size_t)n);
	}
	for (int i = 0; i < N; i++) {
		fc_stream_close(&loop, &t[i].s);
		close(peer[i]);
	}
	fc_loop_drain(&loop, 1000);
	for (int i = 0; i < N; i++)
		assert_int_equal(t[i].n_released, want_uring(state) ? 1 : 0);
	free(t);
	free(peer);
	fc_loop_fini(&loop);
}

/* More streams holding a received buffer than the loop has buffers at all:
 * the rest wait without spinning (no receive is retried every turn) and get
 * their bytes as the others give buffers back. */
static void test_all_buffers_held_no_spin(void **state)
{
	enum { N = 2300 }; /* the loop has 2,048 */
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 2 * N + 64) {
		rl.rlim_cur = rl.rlim_max < 2 * N + 64 ? rl.rlim_max : 2 * N + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < 2 * N + 64)
			skip(); /* cannot open enough descriptors here */
	}
	struct fc_loop loop;
	loop_open(state, &loop);
	struct tstream *t = calloc(N, sizeof(*t));
	int *peer = calloc(N, sizeof(int));
	for (int i = 0; i < N; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
		t_open(&loop, &t[i], sv[0]);
		peer[i] = sv[1];
	}
	for (int i = 0; i < N; i++) {
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "s%05d", i);
		assert_int_equal(write(peer[i], msg, (size_t)n), n);
	}
	run_for(&loop, 100); /* every buffer ends up held, and the offer has grown */
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	run_for(&loop, 300);
	getrusage(RUSAGE_SELF, &r1);
	double used = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
	              (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
	              (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
	              (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	assert_true(used < 0.15); /* waiting, not retrying: a spin would use ~0.3 s */
	for (int i = 0; i < N; i++) {
		char buf[16], want[16];
		int n = snprintf(want, sizeof(want), "s%05d", i);
		assert_int_equal(recv_all(&loop, &t[i], buf, (size_t)n, sizeof(buf)), n);
		assert_memory_equal(buf, want, (size_t)n);
	}
	for (int i = 0; i < N; i++) {
		fc_stream_close(&loop, &t[i].s);
		close(peer[i]);
	}
	fc_loop_drain(&loop, 1000);
	assert_int_equal(fc_loop_ops_in_flight(&loop), 0);
	free(t);
	free(peer);
	fc_loop_fini(&loop);
}

struct acc {
	struct fc_accept a; /* first */
	int n;
};

static void acc_cb(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	(void)loop;
	assert_true(ev & EPOLLIN);
	((struct acc *)io)->n++;
}

static void test_accept_through_the_ring(void **state)
{
	struct fc_loop loop;
	loop_open(state, &loop);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 8), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
	struct acc ac = {.a.io = {.fd = l, .cb = acc_cb}};
	if (!want_uring(state)) {
		/* epoll: the owner polls and calls accept4 itself */
		assert_int_equal(fc_loop_accept(&loop, &ac.a), -EOPNOTSUPP);
		close(l);
		fc_loop_fini(&loop);
		return;
	}
	assert_int_equal(fc_loop_accept(&loop, &ac.a), 0);
	assert_true(fc_loop_accept_armed(&ac.a));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	run_until(&loop, &ac.n, 1);
	assert_false(fc_loop_accept_armed(&ac.a));
	assert_true(ac.a.res >= 0);
	/* the peer is the connecting socket, and the new fd is non-blocking */
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	assert_int_equal(getsockname(c, (struct sockaddr *)&me, &ml), 0);
	const struct sockaddr_in *peer = (const struct sockaddr_in *)&ac.a.addr;
	assert_int_equal(peer->sin_family, AF_INET);
	assert_int_equal(peer->sin_port, me.sin_port);
	assert_true(fcntl(ac.a.res, F_GETFL) & O_NONBLOCK);
	close(ac.a.res);
	close(c);
	/* cancelled before anyone connects: the handler learns it */
	assert_int_equal(fc_loop_accept(&loop, &ac.a), 0);
	run_for(&loop, 2);
	fc_loop_accept_cancel(&loop, &ac.a);
	run_until(&loop, &ac.n, 2);
	assert_int_equal(ac.a.res, -ECANCELED);
	assert_int_equal(fc_loop_ops_in_flight(&loop), 0);
	close(l);
	fc_loop_fini(&loop);
}

static void test_kind(void **state)
{
	struct fc_loop loop;
	loop_open(state, &loop);
	assert_string_equal(fc_loop_kind(&loop), want_uring(state) ? "io_uring" : "epoll");
	assert_int_equal(fc_loop_is_uring(&loop), want_uring(state));
	fc_loop_fini(&loop);
}

static int on_epoll(void **state)
{
	*state = NULL;
	return 0;
}

static int on_uring(void **state)
{
	*state = (void *)1;
	return 0;
}

#define BOTH(fn) cmocka_unit_test_setup(fn, on_epoll), cmocka_unit_test_setup(fn, on_uring)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        BOTH(test_kind),
	        BOTH(test_bytes_in_order_through_short_reads),
	        BOTH(test_send_backpressure_then_resume),
	        BOTH(test_shutdown_write_after_queued_bytes),
	        BOTH(test_close_with_operations_in_flight),
	        BOTH(test_close_still_sends_what_was_taken),
	        BOTH(test_peer_reset_is_an_error_then_the_end),
	        BOTH(test_connect_ok_and_refused),
	        BOTH(test_level_fd_add_del_add),
	        BOTH(test_more_streams_than_receive_buffers),
	        BOTH(test_accept_through_the_ring),
	        BOTH(test_all_buffers_held_no_spin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
