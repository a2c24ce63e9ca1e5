/* fuzz_h2_session.c — libFuzzer target for the client side of HTTP/2: the
 * input is what a client sends after the connection preface (frames, or
 * anything), written to a real fulcrum worker (runtime, listener with
 * http2: prior_knowledge, client_h2.c over nghttp2, exchanges) over a
 * loopback connection; the pool's only server refuses connections, so every
 * stream that gets as far as a request is answered by fulcrum itself (502)
 * after a real pick and connect. Invariants: no crash or sanitizer report,
 * and the connection ends within a bound once the input ends (no hang, no
 * stream kept open forever). The worker runs for the whole fuzzing session;
 * the process's exit takes it down. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/log.h"
#include "fuzz_util.h"
#include "proxy/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
static uint16_t port;
static struct fc_worker *workers;
static atomic_uint conns;

static uint16_t free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		abort();
	close(fd);
	return ntohs(a.sin_port);
}

static void setup(void)
{
	char text[1024], err[4096];
	port = free_port();
	snprintf(text, sizeof(text),
	         "workers: 1\n"
	         "io_uring: off\n"
	         "log: {level: error, access: off}\n"
	         "client: {header_timeout: 1s, body_timeout: 1s, idle_timeout: 1s}\n"
	         "http2: {max_concurrent_streams: 16, max_glitches: 200}\n"
	         "listeners:\n"
	         "  - address: 127.0.0.1:%u\n"
	         "    http2: prior_knowledge\n"
	         "    routes: [{pool: p}]\n"
	         "pools:\n"
	         "  p: {servers: [http://127.0.0.1:1], retries: 0, connect_timeout: 1s}\n",
	         (unsigned)port);
	struct fc_config *cfg =
	        fc_config_load_string(text, strlen(text), "fuzz.yaml", err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "fuzz_h2_session: %s\n", err);
		abort();
	}
	fc_log_level = FC_LOG_LEVEL_ERROR; /* quiet: every input is some client's fault */
	struct fc_runtime *rt;
	if (fc_runtime_create(cfg, 1, NULL, &rt, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_h2_session: %s\n", err);
		abort();
	}
	fc_config_unref(cfg);
	fc_runtime_activate(rt, NULL);
	if (fc_workers_start(rt, &conns, &workers, 1, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_h2_session: %s\n", err);
		abort();
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!workers)
		setup();
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons(port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(fd >= 0);
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	/* the preface, then the input; fulcrum may close before it has all */
	(void)!send(fd, preface, sizeof(preface) - 1, MSG_NOSIGNAL);
	for (size_t off = 0; off < size;) {
		ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	/* the client's end ends the connection: fulcrum must close it soon
	 * (an exchange waiting on a refused connect ends within a second) */
	int64_t deadline = now_ms() + 5000;
	char buf[65536];
	for (;;) {
		int64_t left = deadline - now_ms();
		CHECK(left > 0); /* a hang */
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int rc = poll(&p, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		CHECK(rc > 0);
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break; /* closed (or reset) */
	}
	close(fd);
	return 0;
}
