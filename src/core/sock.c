/* sock.c — socket helpers. */
#include "core/sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int fc_sock_listen(const struct sockaddr *addr, socklen_t len, int backlog)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (addr->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, addr, len) < 0)
		goto fail;
	if (listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:;
	int err = -errno;
	close(fd);
	return err;
}

int fc_sock_tcp(const struct sockaddr *addr)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int fc_sock_connect(const struct sockaddr *addr, socklen_t len)
{
	int fd = fc_sock_tcp(addr);
	if (fd < 0)
		return fd;
	if (connect(fd, addr, len) < 0 && errno != EINPROGRESS) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int fc_sock_error(int fd)
{
	int err = 0;
	socklen_t l = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		return -errno;
	return -err;
}

size_t fc_sock_format_ip(const struct sockaddr *addr, char *buf, size_t len)
{
	buf[0] = 0;
	if (addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, buf,
		          (socklen_t)len);
	else if (addr->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			inet_ntop(AF_INET, &a6->s6_addr[12], buf, (socklen_t)len);
		else
			inet_ntop(AF_INET6, a6, buf, (socklen_t)len);
	}
	return strlen(buf);
}

char *fc_sock_format(const struct sockaddr *addr, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	fc_sock_format_ip(addr, ip, sizeof(ip));
	if (addr->sa_family == AF_INET6 && strchr(ip, ':'))
		snprintf(buf, len, "[%s]:%u", ip,
		         ntohs(((const struct sockaddr_in6 *)addr)->sin6_port));
	else if (addr->sa_family == AF_INET6) /* v4-mapped, shown as IPv4 */
		snprintf(buf, len, "%s:%u", ip,
		         ntohs(((const struct sockaddr_in6 *)addr)->sin6_port));
	else if (addr->sa_family == AF_INET)
		snprintf(buf, len, "%s:%u", ip,
		         ntohs(((const struct sockaddr_in *)addr)->sin_port));
	else
		snprintf(buf, len, "?");
	return buf;
}

int fc_sock_probe_free(const struct sockaddr *addr, socklen_t len)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	/* TIME_WAIT leftovers do not count; a socket bound by anyone does,
	 * SO_REUSEPORT ones too, since this one does not ask to share */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	int rc = bind(fd, addr, len) < 0 ? -errno : 0;
	close(fd);
	return rc;
}
