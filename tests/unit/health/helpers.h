/* helpers.h — shared by the health unit tests: pools and configs built by
 * hand, the error log captured to a file, a loop run with a deadline, and a
 * small HTTP server on 127.0.0.1 (kernel-picked port) in its own thread that
 * answers a canned response, stays silent, or closes, and records what it got. */
#ifndef FC_TEST_HEALTH_HELPERS_H
#define FC_TEST_HEALTH_HELPERS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "core/loop.h"
#include "fulcrum/fulcrum.h"
#include "health/health.h"
#include "health/health_internal.h"

/* ---------------------------------------------------------------- pools, configs */

static inline struct fc_pool *t_pool_panic(const char *name, unsigned panic_permille)
{
	struct fc_pool_options o = {.name = name,
	                            .algorithm = "round_robin",
	                            .seed = 1,
	                            .panic_permille = panic_permille};
	struct fc_pool *p = NULL;
	char err[256];
	assert_int_equal(fc_pool_create(&o, &p, err, sizeof err), 0);
	return p;
}

static inline struct fc_pool *t_pool(const char *name)
{
	return t_pool_panic(name, 0);
}

static inline struct fc_server *t_server(struct fc_pool *p, const char *name)
{
	struct fc_server_spec sp = {.name = name, .address = name, .weight = 1};
	struct fc_server *s = NULL;
	assert_int_equal(fc_pool_upsert(p, &sp, 1, &s), 0);
	return s;
}

static inline enum fc_server_state t_state(struct fc_server *s)
{
	struct fc_server_stats st;
	fc_server_stats(s, 0, &st);
	return st.state;
}

static struct fc_config_status_range t_expect_default[] = {{200, 399}};
static uint16_t t_statuses_default[] = {502, 503, 504};

/* The defaults the parser gives, for a pool with health: type http. */
static inline void t_health_http(struct fc_config_health *hc, const char *path)
{
	*hc = (struct fc_config_health){
	        .type = FC_HEALTH_HTTP,
	        .path = (char *)path,
	        .method = "GET",
	        .expect = t_expect_default,
	        .n_expect = 1,
	        .interval_ms = 2000,
	        .fast_interval_ms = 500,
	        .timeout_ms = 1000,
	        .rise = 2,
	        .fall = 3,
	};
}

static inline void t_passive_default(struct fc_config_passive *pc)
{
	*pc = (struct fc_config_passive){
	        .failures = 5,
	        .eject_ms = 10000,
	        .max_eject_ms = 300000,
	        .max_ejected_pct = 50,
	        .statuses = t_statuses_default,
	        .n_statuses = 3,
	};
}

static inline struct sockaddr_in t_addr(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* ---------------------------------------------------------------- log capture */

static char t_log_path[64];

static inline void t_log_start(void)
{
	snprintf(t_log_path, sizeof t_log_path, "/tmp/fc_health_log.XXXXXX");
	int fd = mkstemp(t_log_path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fc_log_open(t_log_path), 0);
}

/* The log so far, NUL-terminated, into buf; then empties the file. */
static inline const char *t_log_take(char *buf, size_t cap)
{
	FILE *f = fopen(t_log_path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = 0;
	fclose(f);
	assert_int_equal(truncate(t_log_path, 0), 0);
	return buf;
}

static inline void t_log_stop(void)
{
	fc_log_close();
	unlink(t_log_path);
}

static inline int t_count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* ---------------------------------------------------------------- running a loop */

struct t_until {
	struct fc_timer t;
	bool (*pred)(void *);
	void *arg;
	uint64_t deadline_ms;
	bool timed_out;
};

static inline void t_until_tick(struct fc_loop *loop, struct fc_timer *t)
{
	struct t_until *u = (struct t_until *)t;
	if (u->pred && u->pred(u->arg)) {
		loop->stop = true;
		return;
	}
	if (loop->now_ms >= u->deadline_ms) {
		u->timed_out = !!u->pred;
		loop->stop = true;
		return;
	}
	fc_timer_set(loop, t, loop->now_ms + 5);
}

/* Runs loop until pred(arg) holds (checked every 5 ms) or max_ms passed.
 * Returns true when pred held (always false with pred NULL: runs max_ms). */
static inline bool t_run(struct fc_loop *loop, bool (*pred)(void *), void *arg, uint64_t max_ms)
{
	fc_loop_update_time(loop);
	struct t_until u = {.t.cb = t_until_tick, .pred = pred, .arg = arg};
	u.deadline_ms = loop->now_ms + max_ms;
	fc_timer_set(loop, &u.t, loop->now_ms + 1);
	loop->stop = false;
	fc_loop_run(loop);
	fc_timer_cancel(loop, &u.t);
	loop->stop = false;
	return pred && !u.timed_out && pred(arg);
}

/* ---------------------------------------------------------------- test HTTP server */

enum t_mode { T_ANSWER, T_SILENT, T_CLOSE };

/* After answering: close at once (T_CLOSE_NOW), or read what else comes
 * until the client closes, with the sending side shut (T_SHUT_AND_DRAIN,
 * the client sees the end) or open (T_HOLD_AND_DRAIN). */
enum t_after { T_CLOSE_NOW, T_SHUT_AND_DRAIN, T_HOLD_AND_DRAIN };

#define T_MAX_SILENT 64

struct t_srv {
	int lfd;
	uint16_t port;
	int stop_pipe[2];
	pthread_t th;
	pthread_mutex_t mu;
	enum t_mode mode;     /* under mu */
	char response[80000]; /* under mu */
	size_t response_len;
	char last_request[2048]; /* under mu */
	unsigned connections;    /* under mu */
	enum t_after after;      /* under mu */
	char raw[8192];          /* under mu: every byte of the last connection, NULs too */
	size_t raw_len;
	unsigned finished; /* under mu: connections served to their end */
	int silent[T_MAX_SILENT];
	unsigned n_silent;
	/* optional: called with each request head (under mu) */
	void (*on_request)(struct t_srv *s, const char *req, size_t len);
	void *user;
};

static inline void t_srv_set(struct t_srv *s, enum t_mode mode, const char *response)
{
	pthread_mutex_lock(&s->mu);
	s->mode = mode;
	s->response_len = response ? strlen(response) : 0;
	if (response)
		memcpy(s->response, response, s->response_len);
	pthread_mutex_unlock(&s->mu);
}

/* Answers the bytes data[0..len) (NULs allowed), then does what after says. */
static inline void t_srv_set_bytes(struct t_srv *s, const void *data, size_t len,
                                   enum t_after after)
{
	pthread_mutex_lock(&s->mu);
	assert_true(len <= sizeof s->response);
	s->mode = T_ANSWER;
	s->after = after;
	memcpy(s->response, data, len);
	s->response_len = len;
	pthread_mutex_unlock(&s->mu);
}

static inline unsigned t_srv_finished(struct t_srv *s)
{
	pthread_mutex_lock(&s->mu);
	unsigned n = s->finished;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static inline void t_srv_last_request(struct t_srv *s, char *out, size_t cap)
{
	pthread_mutex_lock(&s->mu);
	snprintf(out, cap, "%s", s->last_request);
	pthread_mutex_unlock(&s->mu);
}

static inline unsigned t_srv_connections(struct t_srv *s)
{
	pthread_mutex_lock(&s->mu);
	unsigned n = s->connections;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static inline void t_srv_serve(struct t_srv *s, int fd)
{
	pthread_mutex_lock(&s->mu);
	enum t_mode mode = s->mode;
	s->connections++;
	pthread_mutex_unlock(&s->mu);
	if (mode == T_SILENT) {
		if (s->n_silent < T_MAX_SILENT)
			s->silent[s->n_silent++] = fd;
		else
			close(fd);
		return;
	}
	/* blocking read of the request head, bounded by a receive timeout */
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char req[2048];
	size_t len = 0;
	while (len < sizeof req - 1) {
		ssize_t n = recv(fd, req + len, sizeof req - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		req[len] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[len] = 0;
	if (mode == T_CLOSE) { /* read the request, then a clean close: FIN, no answer */
		close(fd);
		return;
	}
	pthread_mutex_lock(&s->mu);
	snprintf(s->last_request, sizeof s->last_request, "%s", req);
	memcpy(s->raw, req, len);
	s->raw_len = len;
	if (s->on_request)
		s->on_request(s, req, len);
	size_t off = 0;
	while (off < s->response_len) {
		ssize_t n = send(fd, s->response + off, s->response_len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	enum t_after after = s->after;
	pthread_mutex_unlock(&s->mu);
	if (after == T_SHUT_AND_DRAIN)
		shutdown(fd, SHUT_WR);
	while (after != T_CLOSE_NOW) {
		char more[2048];
		ssize_t n = recv(fd, more, sizeof more, 0);
		if (n <= 0)
			break;
		pthread_mutex_lock(&s->mu);
		size_t room = sizeof s->raw - s->raw_len;
		size_t take = (size_t)n < room ? (size_t)n : room;
		memcpy(s->raw + s->raw_len, more, take);
		s->raw_len += take;
		pthread_mutex_unlock(&s->mu);
	}
	close(fd);
	pthread_mutex_lock(&s->mu);
	s->finished++;
	pthread_mutex_unlock(&s->mu);
}

static inline void *t_srv_main(void *arg)
{
	struct t_srv *s = arg;
	for (;;) {
		struct pollfd p[2] = {{s->lfd, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		for (;;) {
			int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				break;
			t_srv_serve(s, fd);
		}
	}
	return NULL;
}

/* Starts a server answering response (mode T_ANSWER). */
static inline struct t_srv *t_srv_start(const char *response)
{
	struct t_srv *s = calloc(1, sizeof *s);
	assert_non_null(s);
	pthread_mutex_init(&s->mu, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	struct sockaddr_in a = t_addr(0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s->lfd, 4096), 0);
	socklen_t al = sizeof a;
	getsockname(s->lfd, (struct sockaddr *)&a, &al);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pipe(s->stop_pipe), 0);
	t_srv_set(s, T_ANSWER, response);
	assert_int_equal(pthread_create(&s->th, NULL, t_srv_main, s), 0);
	return s;
}

static inline void t_srv_stop(struct t_srv *s)
{
	ssize_t w = write(s->stop_pipe[1], "x", 1);
	(void)w;
	pthread_join(s->th, NULL);
	for (unsigned i = 0; i < s->n_silent; i++)
		close(s->silent[i]);
	close(s->lfd);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* A port nothing listens on: bound, then closed. */
static inline uint16_t t_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = t_addr(0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t al = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &al);
	close(fd);
	return ntohs(a.sin_port);
}

#endif
