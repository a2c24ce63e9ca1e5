/* test_stream_tls.c — the TLS layer of a stream, a server stream and a client
 * stream talking over loopback TCP in one loop, each case on both loops
 * (epoll and io_uring): the handshake and bytes both ways, megabytes through
 * small socket buffers (backpressure and resume), close_notify as the end of
 * input, a failed verification (the reason is kept), and garbage from a
 * plain TCP client. The certificate is made by the openssl command. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/stream.h"
#include "tls/tls.h"

static char dir[] = "/tmp/fulcrum-tls-unit-XXXXXX";
static struct fc_config *cfg;
static struct fc_tls_server *server_ctx;
static struct fc_tls_client *client_ctx;

static void report(void *arg, bool warning, const char *msg)
{
	(void)arg;
	print_message("%s: %s\n", warning ? "warning" : "error", msg);
}

static int setup_all(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "
	         "%s/k.pem -out %s/c.pem -days 2 -subj /CN=localhost -addext "
	         "subjectAltName=DNS:localhost >/dev/null 2>&1",
	         dir, dir);
	if (system(cmd) != 0)
		return -1;
	char text[2048], err[2048];
	snprintf(text, sizeof(text),
	         "listeners:\n  - address: 127.0.0.1:1\n    tls: {certificates: [{cert: %s/c.pem, "
	         "key: %s/k.pem}]}\n    routes: [{pool: p}]\npools:\n  p:\n    servers: "
	         "[https://127.0.0.1:2]\n    tls: {ca: %s/c.pem}\n",
	         dir, dir, dir);
	cfg = fc_config_load_string(text, strlen(text), "t.yaml", err, sizeof(err));
	if (!cfg) {
		print_error("%s\n", err);
		return -1;
	}
	server_ctx = fc_tls_server_create(cfg, 0, report, NULL);
	client_ctx = fc_tls_client_create(cfg, 0, report, NULL);
	return server_ctx && client_ctx ? 0 : -1;
}

static int teardown_all(void **state)
{
	(void)state;
	fc_tls_server_destroy(server_ctx);
	fc_tls_client_destroy(client_ctx);
	fc_config_unref(cfg);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- helpers */

static void loop_open(void **state, struct fc_loop *loop)
{
	if (*state) {
		char why[200];
		int rc = fc_loop_init_uring(loop, 16384, why, sizeof(why));
		if (rc == -EPERM || rc == -ENOSYS) {
			print_message("io_uring refused here, case skipped: %s\n", why);
			skip();
		}
		if (rc < 0)
			fail_msg("io_uring is not usable here: %s", why);
	} else {
		assert_int_equal(fc_loop_init(loop), 0);
	}
}

struct tstream {
	struct fc_stream s; /* first */
	int n_in, n_out, n_released;
};

static void t_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	(void)loop;
	struct tstream *t = (struct tstream *)io;
	if (ev & FC_EV_RELEASED)
		t->n_released++;
	if (ev & EPOLLIN)
		t->n_in++;
	if (ev & EPOLLOUT)
		t->n_out++;
}

static void stop_cb(struct fc_loop *loop, struct fc_timer *t)
{
	(void)t;
	loop->stop = true;
}

static void run_for(struct fc_loop *loop, uint32_t ms)
{
	struct fc_timer t = {.cb = stop_cb};
	fc_loop_update_time(loop);
	fc_timer_set(loop, &t, loop->now_ms + ms);
	loop->stop = false;
	fc_loop_run(loop);
	fc_timer_cancel(loop, &t);
	loop->stop = false;
}

static void run_until(struct fc_loop *loop, int *counter, int at_least)
{
	for (int i = 0; i < 600 && *counter < at_least; i++)
		run_for(loop, 5);
	assert_true(*counter >= at_least);
}

static int listener(struct sockaddr_in *a)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(l >= 0);
	*a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(*a);
	assert_int_equal(bind(l, (struct sockaddr *)a, sizeof(*a)), 0);
	assert_int_equal(listen(l, 8), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)a, &al), 0);
	return l;
}

/* A client TLS stream connected to a server TLS stream, handshake done. */
static void tls_pair(struct fc_loop *loop, struct tstream *cl, struct tstream *sv, const char *host,
                     int bufsize)
{
	struct sockaddr_in a;
	int l = listener(&a);
	memset(cl, 0, sizeof(*cl));
	memset(sv, 0, sizeof(*sv));
	cl->s.io.cb = t_event;
	assert_int_equal(
	        fc_tls_connect(loop, &cl->s, (struct sockaddr *)&a, sizeof(a), client_ctx, host),
	        0);
	/* on io_uring the connect is submitted when the loop turns */
	fcntl(l, F_SETFL, fcntl(l, F_GETFL) | O_NONBLOCK);
	int fd = -1;
	for (int i = 0; i < 500 && fd < 0; i++) {
		run_for(loop, 2);
		fd = accept(l, NULL, NULL);
	}
	assert_true(fd >= 0);
	close(l);
	if (bufsize) {
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
		setsockopt(cl->s.io.fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	sv->s.io.fd = fd;
	sv->s.io.cb = t_event;
	assert_int_equal(fc_tls_accept(loop, &sv->s, server_ctx), 0);
	assert_true(fc_tls_handshaking(loop, &sv->s));
	char b[1];
	assert_int_equal(fc_stream_recv(loop, &sv->s, b, 1), -EAGAIN); /* starts the handshake */
	run_until(loop, &cl->n_out, 1);
}

static void close_both(struct fc_loop *loop, struct tstream *a, struct tstream *b)
{
	fc_stream_close(loop, &a->s);
	fc_stream_close(loop, &b->s);
	fc_loop_drain(loop, 1000);
	fc_loop_fini(loop);
}

static size_t recv_some(struct fc_loop *loop, struct tstream *t, char *dst, size_t n)
{
	size_t got = 0;
	for (int i = 0; i < 3000 && got < n; i++) {
		ssize_t k = fc_stream_recv(loop, &t->s, dst + got, n - got);
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

static void test_handshake_and_bytes_both_ways(void **state)
{
	struct fc_loop loop;
	struct tstream cl, sv;
	loop_open(state, &loop);
	tls_pair(&loop, &cl, &sv, "localhost", 0);
	assert_int_equal(fc_stream_connect_result(&loop, &cl.s), 0);
	fc_stream_connected(&loop, &cl.s);
	assert_string_equal(fc_tls_version(&loop, &cl.s), "TLSv1.3");
	assert_null(fc_tls_failure(&loop, &cl.s));

	struct iovec iov[2] = {{(void *)"GET / ", 6}, {(void *)"HTTP/1.1\r\n\r\n", 12}};
	assert_int_equal(fc_stream_send(&loop, &cl.s, iov, 2), 18);
	char buf[64];
	assert_int_equal(recv_some(&loop, &sv, buf, 18), 18);
	assert_memory_equal(buf, "GET / HTTP/1.1\r\n\r\n", 18);
	assert_false(fc_tls_handshaking(&loop, &sv.s));

	struct iovec r = {(void *)"HTTP/1.1 200 OK\r\n", 17};
	assert_int_equal(fc_stream_send(&loop, &sv.s, &r, 1), 17);
	assert_int_equal(recv_some(&loop, &cl, buf, 17), 17);
	assert_memory_equal(buf, "HTTP/1.1 200 OK\r\n", 17);
	assert_int_equal(fc_stream_recv(&loop, &cl.s, buf, sizeof(buf)), -EAGAIN);
	close_both(&loop, &cl, &sv);
}

/* 8 MiB through 16 KiB socket buffers: sends are cut short, EPOLLOUT
 * resumes them, and every byte arrives once, in order. */
static void test_megabytes_with_backpressure(void **state)
{
	struct fc_loop loop;
	struct tstream cl, sv;
	loop_open(state, &loop);
	tls_pair(&loop, &cl, &sv, "localhost", 16384);
	const size_t total = 8u << 20;
	char *src = malloc(total), *dst = malloc(total);
	for (size_t i = 0; i < total; i++)
		src[i] = (char)(i * 7 + (i >> 11));
	size_t sent = 0, got = 0;
	int shorts = 0;
	for (int i = 0; i < 200000 && got < total; i++) {
		if (sent < total) {
			size_t n = total - sent < 100000 ? total - sent : 100000;
			struct iovec v = {src + sent, n};
			ssize_t k = fc_stream_send(&loop, &cl.s, &v, 1);
			if (k > 0)
				sent += (size_t)k;
			if (k < (ssize_t)n)
				shorts++;
			assert_true(k > 0 || k == -EAGAIN);
		}
		ssize_t k = fc_stream_recv(&loop, &sv.s, dst + got, 30000);
		if (k > 0)
			got += (size_t)k;
		else
			assert_int_equal(k, -EAGAIN);
		if (k <= 0)
			run_for(&loop, 1);
	}
	assert_int_equal(got, total);
	assert_memory_equal(src, dst, total);
	assert_true(shorts > 0); /* the buffers did push back */
	for (int i = 0; i < 100 && !fc_stream_flushed(&loop, &cl.s); i++)
		run_for(&loop, 2);
	assert_true(fc_stream_flushed(&loop, &cl.s));
	free(src);
	free(dst);
	close_both(&loop, &cl, &sv);
}

/* shutdown_write sends close_notify after the bytes: the other side reads
 * them, then the end. */
static void test_close_notify_is_the_end(void **state)
{
	struct fc_loop loop;
	struct tstream cl, sv;
	loop_open(state, &loop);
	tls_pair(&loop, &cl, &sv, "localhost", 0);
	struct iovec v = {(void *)"bye", 3};
	assert_int_equal(fc_stream_send(&loop, &cl.s, &v, 1), 3);
	assert_int_equal(fc_stream_shutdown_write(&loop, &cl.s), 0);
	char buf[8];
	assert_int_equal(recv_some(&loop, &sv, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "bye", 3);
	assert_int_equal(fc_stream_recv(&loop, &sv.s, buf, sizeof(buf)), 0);
	/* the other direction still works */
	v = (struct iovec){(void *)"ok", 2};
	assert_int_equal(fc_stream_send(&loop, &sv.s, &v, 1), 2);
	assert_int_equal(recv_some(&loop, &cl, buf, 2), 2);
	close_both(&loop, &cl, &sv);
}

/* A name the certificate does not cover: the connect fails with -EPROTO,
 * and the reason says so. */
static void test_verify_failure_has_a_reason(void **state)
{
	struct fc_loop loop;
	struct tstream cl, sv;
	loop_open(state, &loop);
	tls_pair(&loop, &cl, &sv, "other.test", 0);
	assert_int_equal(fc_stream_connect_result(&loop, &cl.s), -EPROTO);
	const char *why = fc_tls_failure(&loop, &cl.s);
	assert_non_null(why);
	assert_non_null(strstr(why, "hostname mismatch"));
	close_both(&loop, &cl, &sv);
}

/* Garbage from a plain TCP client fails the server's handshake: an error
 * from recv (never -EAGAIN forever), with a reason. */
static void test_garbage_fails_the_handshake(void **state)
{
	struct fc_loop loop;
	loop_open(state, &loop);
	struct sockaddr_in a;
	int l = listener(&a);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	int fd = accept(l, NULL, NULL);
	close(l);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	struct tstream sv;
	memset(&sv, 0, sizeof(sv));
	sv.s.io.fd = fd;
	sv.s.io.cb = t_event;
	assert_int_equal(fc_tls_accept(&loop, &sv.s, server_ctx), 0);
	assert_int_equal(write(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 27);
	char buf[16];
	ssize_t k = -EAGAIN;
	for (int i = 0; i < 500 && k == -EAGAIN; i++) {
		k = fc_stream_recv(&loop, &sv.s, buf, sizeof(buf));
		if (k == -EAGAIN)
			run_for(&loop, 2);
	}
	assert_true(k < 0 && k != -EAGAIN);
	assert_non_null(fc_tls_failure(&loop, &sv.s));
	fc_stream_close(&loop, &sv.s);
	close(c);
	fc_loop_drain(&loop, 1000);
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
	        BOTH(test_handshake_and_bytes_both_ways), BOTH(test_megabytes_with_backpressure),
	        BOTH(test_close_notify_is_the_end),       BOTH(test_verify_failure_has_a_reason),
	        BOTH(test_garbage_fails_the_handshake),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
