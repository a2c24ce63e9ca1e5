/* fuzz_tls_accept.c — libFuzzer target for the TLS-facing path of a listener:
 * the input is what a client sends on a new connection (a ClientHello, more
 * records, or anything), fed to a server stream with fulcrum's TLS layer
 * (tls/stream_tls.c: the BIO over the stream, the handshake inside the
 * layer, the SNI callback picking a certificate, ALPN) on an epoll loop.
 * Invariants: a receive never reports more bytes than asked, the layer
 * never hangs (the input's end is EOF: the stream ends, or fails with a
 * reason kept), and close frees everything (ASan/LSan check that). The
 * certificates are made at start with the openssl command, two of them so
 * SNI has a choice. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "core/loop.h"
#include "core/stream.h"
#include "fuzz_util.h"
#include "tls/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fc_tls_server *server;
static struct fc_loop loop;
static char dir[] = "/tmp/fulcrum-fuzz-tls-XXXXXX";

static void report(void *arg, bool warning, const char *msg)
{
	(void)arg;
	if (!warning)
		fprintf(stderr, "fuzz_tls_accept: %s\n", msg);
}

static void cleanup(void)
{
	fc_tls_server_destroy(server);
	fc_loop_fini(&loop);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_tls_accept: cannot remove %s\n", dir);
}

static void setup(void)
{
	if (!mkdtemp(dir))
		abort();
	char cmd[1024];
	const char *names[2][2] = {{"a", "a.example"}, {"b", "*.b.example"}};
	for (int i = 0; i < 2; i++) {
		snprintf(cmd, sizeof(cmd),
		         "openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		         "-keyout %s/%s.key -out %s/%s.pem -days 2 -subj /CN=%s -addext "
		         "subjectAltName=DNS:%s >/dev/null 2>&1",
		         dir, names[i][0], dir, names[i][0], names[i][1], names[i][1]);
		if (system(cmd) != 0)
			abort();
	}
	char text[2048], err[2048];
	snprintf(text, sizeof(text),
	         "listeners:\n  - address: 127.0.0.1:1\n    tls:\n      certificates:\n"
	         "        - {cert: %s/a.pem, key: %s/a.key}\n"
	         "        - {cert: %s/b.pem, key: %s/b.key}\n"
	         "    routes: [{pool: p}]\npools:\n  p: {servers: [http://127.0.0.1:2]}\n",
	         dir, dir, dir, dir);
	struct fc_config *cfg =
	        fc_config_load_string(text, strlen(text), "t.yaml", err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	server = fc_tls_server_create(cfg, 0, report, NULL);
	fc_config_unref(cfg);
	if (!server || fc_loop_init(&loop) < 0)
		abort();
	atexit(cleanup);
}

struct conn {
	struct fc_stream s; /* first */
	bool released;
};

static void on_event(struct fc_loop *l, struct fc_io *io, uint32_t ev)
{
	(void)l;
	if (ev & FC_EV_RELEASED)
		((struct conn *)io)->released = true;
}

static void stop_cb(struct fc_loop *l, struct fc_timer *t)
{
	(void)t;
	l->stop = true;
}

/* One turn of the loop (events delivered, sends flushed). */
static void turn(void)
{
	struct fc_timer t = {.cb = stop_cb};
	fc_loop_update_time(&loop);
	fc_timer_set(&loop, &t, loop.now_ms);
	loop.stop = false;
	fc_loop_run(&loop);
	fc_timer_cancel(&loop, &t);
	loop.stop = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!server)
		setup();
	if (size > 65536)
		return 0;
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	int big = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	size_t off = 0;
	while (off < size) {
		ssize_t w = write(sv[1], data + off, size - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	shutdown(sv[1], SHUT_WR); /* the input's end is the client's EOF */
	struct conn c;
	memset(&c, 0, sizeof(c));
	c.s.io.fd = sv[0];
	c.s.io.cb = on_event;
	CHECK(fc_tls_accept(&loop, &c.s, server) == 0);
	char buf[4096], sink[65536];
	bool ended = false;
	for (int i = 0; i < 200 && !ended; i++) {
		ssize_t n = fc_stream_recv(&loop, &c.s, buf, sizeof(buf));
		CHECK(n <= (ssize_t)sizeof(buf));
		if (n == 0 || (n < 0 && n != -EAGAIN))
			ended = true; /* EOF, or the handshake or a record failed */
		/* a failure always says why (the access and error logs show it) */
		if (n < 0 && n != -EAGAIN)
			CHECK(fc_tls_failure(&loop, &c.s) != NULL);
		/* what the server answers goes nowhere */
		while (read(sv[1], sink, sizeof(sink)) > 0)
			;
		if (!ended)
			turn();
	}
	/* the client's input ended: the layer must have come to an end too */
	CHECK(ended);
	if (!fc_stream_close(&loop, &c.s))
		fc_loop_drain(&loop, 1000);
	close(sv[1]);
	return 0;
}
