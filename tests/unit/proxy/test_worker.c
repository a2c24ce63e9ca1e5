/* test_worker.c — starting workers: a listener that cannot bind fails the
 * start with a clear message and undoes everything, closing only what it
 * opened (it used to close fd 0 once per worker that never started). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "proxy/proxy.h"

/* A port taken by a plain (non-SO_REUSEPORT) listener of this test. */
static int take_port(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	socklen_t l = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_failed_start_closes_only_its_own(void **state)
{
	(void)state;
	/* fd 0 is a pipe of ours: it must still be that pipe afterwards */
	int p[2];
	assert_int_equal(pipe(p), 0);
	int saved0 = dup(0);
	assert_true(dup2(p[0], 0) == 0);
	struct stat before, after;
	assert_int_equal(fstat(0, &before), 0);

	uint16_t busy, free_port;
	int busy_fd = take_port(&busy);
	int free_fd = take_port(&free_port);
	close(free_fd); /* a port nobody holds now, for the listener that binds */
	char yaml[1024];
	snprintf(yaml, sizeof(yaml),
	         "workers: 3\n"
	         "log: {access: off}\n"
	         "listeners:\n"
	         "  - {name: a, address: 127.0.0.1:%u, routes: [{pool: p}]}\n"
	         "  - {name: b, address: 127.0.0.1:%u, routes: [{pool: p}]}\n"
	         "pools:\n"
	         "  p: {servers: [http://127.0.0.1:9]}\n",
	         free_port, busy);
	char err[512] = "";
	struct fc_config *cfg =
	        fc_config_load_string(yaml, strlen(yaml), "t.yaml", err, sizeof(err));
	assert_non_null(cfg);
	struct fc_runtime *rt = NULL;
	assert_int_equal(fc_runtime_create(cfg, 3, NULL, &rt, err, sizeof(err)), 0);
	struct fc_worker *ws = NULL;
	atomic_uint conns = 0;
	int rc = fc_workers_start(rt, &conns, &ws, 3, err, sizeof(err));
	assert_true(rc < 0);
	assert_non_null(strstr(err, "listener b: 127.0.0.1:"));
	assert_non_null(strstr(err, "already in use by another process"));

	assert_int_equal(fstat(0, &after), 0); /* still open ... */
	assert_true(before.st_ino == after.st_ino && before.st_dev == after.st_dev); /* ... ours */
	assert_int_equal(fcntl(busy_fd, F_GETFD) >= 0, 1);

	fc_runtime_destroy(rt);
	fc_config_unref(cfg);
	close(busy_fd);
	dup2(saved0, 0);
	close(saved0);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_failed_start_closes_only_its_own),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
