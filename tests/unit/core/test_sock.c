/* test_sock.c — listeners, non-blocking connects, pending errors and address
 * formatting. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/sock.h"

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

static struct sockaddr_in6 v6(const char *ip, uint16_t port)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
	return a;
}

static bool is_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_NONBLOCK);
}

static bool is_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	return fl >= 0 && (fl & FD_CLOEXEC);
}

static void test_listen_and_connect_loopback(void **state)
{
	(void)state;
	struct sockaddr_in a = v4("127.0.0.1", 0);
	int lfd = fc_sock_listen((struct sockaddr *)&a, sizeof(a), 16);
	assert_true(lfd >= 0);
	assert_true(is_nonblocking(lfd));
	assert_true(is_cloexec(lfd));
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	assert_int_not_equal(ntohs(a.sin_port), 0);

	/* nothing to accept yet: non-blocking */
	assert_int_equal(accept(lfd, NULL, NULL), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);

	int cfd = fc_sock_connect((struct sockaddr *)&a, sizeof(a));
	assert_true(cfd >= 0);
	assert_true(is_nonblocking(cfd));
	assert_true(is_cloexec(cfd));
	struct pollfd pfd = {.fd = cfd, .events = POLLOUT};
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(fc_sock_error(cfd), 0);

	pfd = (struct pollfd){.fd = lfd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	int sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);
	assert_int_equal(write(cfd, "ping", 4), 4);
	char buf[8];
	pfd = (struct pollfd){.fd = sfd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(read(sfd, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
	close(sfd);
	close(cfd);
	close(lfd);
}

static void test_reuseport_allows_two_listeners(void **state)
{
	(void)state;
	struct sockaddr_in a = v4("127.0.0.1", 0);
	int l1 = fc_sock_listen((struct sockaddr *)&a, sizeof(a), 16);
	assert_true(l1 >= 0);
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(l1, (struct sockaddr *)&a, &len), 0);
	int l2 = fc_sock_listen((struct sockaddr *)&a, sizeof(a), 16);
	assert_true(l2 >= 0);
	close(l2);
	close(l1);
}

static void test_listen_errors(void **state)
{
	(void)state;
	/* an address this host does not have */
	struct sockaddr_in a = v4("192.0.2.1", 0);
	assert_int_equal(fc_sock_listen((struct sockaddr *)&a, sizeof(a), 16), -EADDRNOTAVAIL);
	/* a bad family */
	struct sockaddr bad = {.sa_family = 12345};
	assert_true(fc_sock_listen(&bad, sizeof(bad), 16) < 0);
}

static void test_connect_refused(void **state)
{
	(void)state;
	/* a port that was just free: listen, learn the port, close */
	struct sockaddr_in a = v4("127.0.0.1", 0);
	int lfd = fc_sock_listen((struct sockaddr *)&a, sizeof(a), 16);
	assert_true(lfd >= 0);
	socklen_t len = sizeof(a);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	close(lfd);

	int fd = fc_sock_connect((struct sockaddr *)&a, sizeof(a));
	if (fd < 0) {
		assert_int_equal(fd, -ECONNREFUSED);
		return;
	}
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(fc_sock_error(fd), -ECONNREFUSED);
	/* the pending error is consumed by reading it */
	assert_int_equal(fc_sock_error(fd), 0);
	close(fd);
}

static void test_sock_error_not_a_socket(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fc_sock_error(fds[0]), -ENOTSOCK);
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(fc_sock_error(fds[0]), -EBADF);
}

static void test_listen_v6(void **state)
{
	(void)state;
	struct sockaddr_in6 a = v6("::1", 0);
	int lfd = fc_sock_listen((struct sockaddr *)&a, sizeof(a), 16);
	if (lfd == -EADDRNOTAVAIL || lfd == -EAFNOSUPPORT)
		skip(); /* no IPv6 loopback in this sandbox */
	assert_true(lfd >= 0);
	int on = 0;
	socklen_t l = sizeof(on);
	assert_int_equal(getsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &on, &l), 0);
	assert_int_equal(on, 1);
	close(lfd);
}

static void test_format_v4(void **state)
{
	(void)state;
	char buf[64];
	struct sockaddr_in a = v4("127.0.0.1", 8080);
	assert_string_equal(fc_sock_format((struct sockaddr *)&a, buf, sizeof(buf)),
	                    "127.0.0.1:8080");
	a = v4("255.255.255.255", 65535);
	assert_string_equal(fc_sock_format((struct sockaddr *)&a, buf, sizeof(buf)),
	                    "255.255.255.255:65535");
	a = v4("10.0.0.1", 0);
	assert_string_equal(fc_sock_format((struct sockaddr *)&a, buf, sizeof(buf)), "10.0.0.1:0");
	assert_int_equal(fc_sock_format_ip((struct sockaddr *)&a, buf, sizeof(buf)), 8);
	assert_string_equal(buf, "10.0.0.1");
}

static void test_format_v6(void **state)
{
	(void)state;
	char buf[64];
	struct sockaddr_in6 a = v6("::1", 8080);
	assert_string_equal(fc_sock_format((struct sockaddr *)&a, buf, sizeof(buf)), "[::1]:8080");
	a = v6("2001:db8::1:0:0:1", 443);
	assert_string_equal(fc_sock_format((struct sockaddr *)&a, buf, sizeof(buf)),
	                    "[2001:db8::1:0:0:1]:443");
	assert_int_equal(fc_sock_format_ip((struct sockaddr *)&a, buf, sizeof(buf)), 17);
	assert_string_equal(buf, "2001:db8::1:0:0:1");
	/* a v4-mapped address is shown as the IPv4 address it is */
	a = v6("::ffff:192.0.2.7", 80);
	assert_int_equal(fc_sock_format_ip((struct sockaddr *)&a, buf, sizeof(buf)), 9);
	assert_string_equal(buf, "192.0.2.7");
}

/* A v4-mapped peer formatted with its port must be "1.2.3.4:80" (what the
 * IP alone says it is); "[192.0.2.7]:80" is neither an IPv4 nor an IPv6
 * literal. */
static void test_format_v4_mapped_with_port(void **state)
{
	(void)state;
	char buf[64];
	struct sockaddr_in6 a = v6("::ffff:192.0.2.7", 80);
	assert_string_equal(fc_sock_format((struct sockaddr *)&a, buf, sizeof(buf)),
	                    "192.0.2.7:80");
}

static void test_format_unknown_and_truncated(void **state)
{
	(void)state;
	char buf[64];
	struct sockaddr u = {.sa_family = AF_UNIX};
	assert_string_equal(fc_sock_format(&u, buf, sizeof(buf)), "?");
	assert_int_equal(fc_sock_format_ip(&u, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	/* a short buffer truncates, NUL-terminated, and never overruns */
	char small[8];
	memset(small, 'Z', sizeof(small));
	struct sockaddr_in a = v4("127.0.0.1", 8080);
	fc_sock_format((struct sockaddr *)&a, small, 6);
	assert_string_equal(small, "127.0");
	assert_int_equal(small[6], 'Z');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_listen_and_connect_loopback),
	        cmocka_unit_test(test_reuseport_allows_two_listeners),
	        cmocka_unit_test(test_listen_errors),
	        cmocka_unit_test(test_connect_refused),
	        cmocka_unit_test(test_sock_error_not_a_socket),
	        cmocka_unit_test(test_listen_v6),
	        cmocka_unit_test(test_format_v4),
	        cmocka_unit_test(test_format_v6),
	        cmocka_unit_test(test_format_v4_mapped_with_port),
	        cmocka_unit_test(test_format_unknown_and_truncated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
