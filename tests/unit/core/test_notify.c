/* test_notify.c — sd_notify by hand: datagrams to a path and an abstract
 * socket, nothing when NOTIFY_SOCKET is unset, a logged error (never a
 * crash) for a socket that is not there or a name that cannot be one, a
 * full queue that fails instead of blocking, and RELOADING=1 with the
 * monotonic clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "core/notify.h"

static char dir[64], logpath[96];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fc_test_notify.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/error.log", dir);
	return fc_log_open(logpath) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	char sock[96];
	fc_log_close();
	unlink(logpath);
	snprintf(sock, sizeof(sock), "%s/notify", dir);
	unlink(sock);
	rmdir(dir);
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

/* A bound datagram socket; name "@x" is abstract. Returns the fd. */
static int bind_dgram(const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	return fd;
}

/* The next datagram on fd (already there: the send is synchronous). */
static void recv_text(int fd, char *buf, size_t size)
{
	ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);
	assert_true(n >= 0);
	buf[n] = '\0';
}

static void log_text(char *buf, size_t size)
{
	FILE *f = fopen(logpath, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void test_path_socket(void **state)
{
	(void)state;
	char path[96], got[256];
	snprintf(path, sizeof(path), "%s/notify", dir);
	int fd = bind_dgram(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(fc_notify("READY=1"), 0);
	recv_text(fd, got, sizeof(got));
	assert_string_equal(got, "READY=1");
	assert_int_equal(fc_notify("STOPPING=1\nSTATUS=draining"), 0);
	recv_text(fd, got, sizeof(got));
	assert_string_equal(got, "STOPPING=1\nSTATUS=draining");
	close(fd);
	unlink(path);
}

static void test_abstract_socket(void **state)
{
	(void)state;
	char name[64], got[256];
	snprintf(name, sizeof(name), "@fc_test_notify.%ld", (long)getpid());
	int fd = bind_dgram(name);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(fc_notify("READY=1"), 0);
	recv_text(fd, got, sizeof(got));
	assert_string_equal(got, "READY=1");
	close(fd);
}

static void test_unset_or_empty_is_a_no_op(void **state)
{
	(void)state;
	char text[1024];
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(fc_notify("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(fc_notify("READY=1"), 0);
	assert_int_equal(fc_notify_reloading(), 0);
	log_text(text, sizeof(text));
	assert_string_equal(text, "");
}

static void test_bad_sockets_are_logged(void **state)
{
	(void)state;
	char path[96], text[4096], longname[200];

	snprintf(path, sizeof(path), "%s/nobody-here", dir);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(fc_notify("READY=1"), -ENOENT);

	setenv("NOTIFY_SOCKET", "run/notify", 1); /* relative: not systemd's */
	assert_int_equal(fc_notify("READY=1"), -EAFNOSUPPORT);

	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longname, 1);
	assert_int_equal(fc_notify("STOPPING=1"), -ENAMETOOLONG);

	/* a stream socket is there, but datagrams cannot go to it */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	assert_true(fc_notify("READY=1") < 0);
	close(fd);
	unlink(sa.sun_path);

	log_text(text, sizeof(text));
	char want[256];
	snprintf(want, sizeof(want), "NOTIFY_SOCKET=%s: cannot send READY=1: No such file", path);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "NOTIFY_SOCKET=run/notify: not a socket path or @abstract "
	                             "name; systemd is not told READY=1"));
	assert_non_null(strstr(text, "longer than 107 bytes; systemd is not told STOPPING=1"));
	snprintf(want, sizeof(want), "NOTIFY_SOCKET=%s: cannot send READY=1: ", sa.sun_path);
	assert_non_null(strstr(text, want));
}

/* systemd not reading: the queue fills and the send fails, it never blocks */
static void test_full_queue_fails_without_blocking(void **state)
{
	(void)state;
	char path[96], text[4096];
	snprintf(path, sizeof(path), "%s/notify", dir);
	int fd = bind_dgram(path);
	setenv("NOTIFY_SOCKET", path, 1);
	int rc = 0, i;
	for (i = 0; i < 100000 && rc == 0; i++)
		rc = fc_notify("STATUS=filling the queue");
	assert_int_equal(rc, -EAGAIN);
	assert_true(i > 1);
	log_text(text, sizeof(text));
	assert_non_null(strstr(text, "cannot send STATUS=filling the queue: Resource temporarily"));
	close(fd);
	unlink(path);
}

static void test_reloading_carries_the_monotonic_clock(void **state)
{
	(void)state;
	char path[96], got[256];
	struct timespec t0, t1;
	unsigned long long usec = 0;
	snprintf(path, sizeof(path), "%s/notify", dir);
	int fd = bind_dgram(path);
	setenv("NOTIFY_SOCKET", path, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(fc_notify_reloading(), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	recv_text(fd, got, sizeof(got));
	assert_int_equal(sscanf(got, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
	assert_int_equal(strncmp(got, "RELOADING=1\nMONOTONIC_USEC=", 27), 0);
	assert_null(strchr(got + 27, '\n'));
	unsigned long long lo = (unsigned long long)t0.tv_sec * 1000000 + t0.tv_nsec / 1000;
	unsigned long long hi = (unsigned long long)t1.tv_sec * 1000000 + t1.tv_nsec / 1000;
	assert_true(usec >= lo && usec <= hi);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_path_socket),
	        cmocka_unit_test(test_abstract_socket),
	        cmocka_unit_test(test_unset_or_empty_is_a_no_op),
	        cmocka_unit_test(test_bad_sockets_are_logged),
	        cmocka_unit_test(test_full_queue_fails_without_blocking),
	        cmocka_unit_test(test_reloading_carries_the_monotonic_clock),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
