/* fuzz_health_grpc.c — libFuzzer target for the grpc health check: the
 * input is what a server answers once the check connected (frames after its
 * preface, or anything), written over a loopback connection to a real check
 * (health_check.c, health_grpc.c over nghttp2) on an epoll loop, then the
 * server's side is shut. Invariants: no crash or sanitizer report; the check
 * ends with a verdict within a bound once the input ends (no hang); a pass
 * has "grpc SERVING" as its text, a failure some text. One health state
 * with one server is kept for the whole session. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "fuzz_util.h"
#include "health/health_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fc_loop loop;
static struct fc_pool *pool;
static struct fc_health *health;
static struct fc_health_server *hs;
static int lfd = -1;

/* The server's side of one check, moved by a 1 ms tick. */
static struct {
	struct fc_timer tick;
	const uint8_t *data;
	size_t size, off;
	int fd;
	bool shut;
	uint64_t want_checks, deadline_ms;
	bool timed_out;
} srv;

static void on_tick(struct fc_loop *l, struct fc_timer *t)
{
	if (hs->n_checks >= srv.want_checks) {
		l->stop = true;
		return;
	}
	if (l->now_ms >= srv.deadline_ms) {
		srv.timed_out = true;
		l->stop = true;
		return;
	}
	if (srv.fd < 0)
		srv.fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (srv.fd >= 0) {
		char sink[4096];
		while (recv(srv.fd, sink, sizeof(sink), 0) > 0) /* what the check sends */
			;
		while (srv.off < srv.size) {
			ssize_t n =
			        send(srv.fd, srv.data + srv.off, srv.size - srv.off, MSG_NOSIGNAL);
			if (n <= 0)
				break;
			srv.off += (size_t)n;
		}
		if ((srv.off == srv.size || errno == EPIPE || errno == ECONNRESET) && !srv.shut) {
			shutdown(srv.fd, SHUT_WR);
			srv.shut = true;
		}
	}
	fc_timer_set(l, t, l->now_ms + 1);
}

static void setup(void)
{
	fc_log_level = FC_LOG_LEVEL_ERROR; /* quiet: every input is some server's fault */
	CHECK(fc_loop_init(&loop) == 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 16) == 0);
	CHECK(getsockname(lfd, (struct sockaddr *)&a, &al) == 0);

	struct fc_pool_options o = {.name = "g", .algorithm = "round_robin", .seed = 1};
	char err[256];
	CHECK(fc_pool_create(&o, &pool, err, sizeof(err)) == 0);
	struct fc_server_spec sp = {.name = "g-1", .address = "g-1", .weight = 1};
	struct fc_server *s = NULL;
	CHECK(fc_pool_upsert(pool, &sp, 1, &s) == 0);
	CHECK(fc_health_create(&loop, NULL, &health) == 0);

	static struct fc_config_status_range expect[] = {{200, 399}};
	struct fc_config_pool cp = {.name = "g"};
	struct fc_config_server cs = {.host = "127.0.0.1", .port = ntohs(a.sin_port)};
	cs.health = (struct fc_config_health){
	        .type = FC_HEALTH_GRPC,
	        .path = "/",
	        .method = "GET",
	        .expect = expect,
	        .n_expect = 1,
	        .service = "fuzz.Svc",
	        .interval_ms = 60000, /* the target starts every check itself */
	        .fast_interval_ms = 60000,
	        .timeout_ms = 1000,
	        .rise = 1,
	        .fall = 1,
	};
	CHECK(fc_health_add_server(health, pool, &cp, &cs, s, (struct sockaddr *)&a, sizeof(a),
	                           &hs) == 0);
	fc_server_unref(s); /* the pool and health hold theirs */
	CHECK(fc_health_start(health) == 0);
	srv.tick.cb = on_tick;
	srv.fd = -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (lfd < 0)
		setup();
	fc_loop_update_time(&loop);
	srv.data = data;
	srv.size = size;
	srv.off = 0;
	srv.shut = false;
	srv.timed_out = false;
	srv.want_checks = hs->n_checks + 1;
	/* the timeout (1 s) ends a check the input leaves hanging: a little more */
	srv.deadline_ms = loop.now_ms + 3000;
	fc_timer_set(&loop, &hs->ck.next, loop.now_ms + 1);
	fc_timer_set(&loop, &srv.tick, loop.now_ms + 1);
	loop.stop = false;
	fc_loop_run(&loop);
	fc_timer_cancel(&loop, &srv.tick);
	fc_timer_cancel(&loop, &hs->ck.next);
	if (srv.fd >= 0)
		close(srv.fd);
	srv.fd = -1;
	CHECK(!srv.timed_out);
	CHECK(hs->ck.phase == FC__CHECK_IDLE && hs->ck.grpc == NULL);
	CHECK(hs->last_result[0] != 0);
	if (hs->last_ok)
		CHECK(strncmp(hs->last_result, "grpc SERVING in ", 16) == 0);
	return 0;
}
