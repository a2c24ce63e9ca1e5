/* notify.c — sd_notify(3) by hand: the protocol is one datagram of
 * "KEY=VALUE" lines to an AF_UNIX socket, which is all fulcrum needs, so the
 * binary does not link libsystemd. */
#include "core/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

/* The first line of state, for the log ("READY=1"). */
static int first_line_len(const char *state)
{
	size_t n = strcspn(state, "\n");
	return n > 64 ? 64 : (int)n;
}

int fc_notify(const char *state)
{
	const char *where = getenv("NOTIFY_SOCKET");
	if (!where || !where[0])
		return 0;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(where);
	int rc;
	if (where[0] != '/' && where[0] != '@') {
		fc_warn("NOTIFY_SOCKET=%.200s: not a socket path or @abstract name; systemd is not "
		        "told %.*s",
		        where, first_line_len(state), state);
		return -EAFNOSUPPORT;
	}
	if (n >= sizeof(sa.sun_path)) {
		fc_warn("NOTIFY_SOCKET=%.200s: longer than %zu bytes; systemd is not told %.*s",
		        where, sizeof(sa.sun_path) - 1, first_line_len(state), state);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, where, n);
	/* an abstract name starts with a NUL and its length is exact; a path
	 * is counted with its NUL */
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if (where[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto say_why;
	}
	/* a reader that does not read fills the queue: fail (EAGAIN), never
	 * block the control thread */
	size_t size = strlen(state);
	ssize_t sent =
	        sendto(fd, state, size, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, len);
	rc = sent < 0 ? -errno : (size_t)sent == size ? 0 : -EMSGSIZE;
	close(fd);
	if (rc == 0)
		return 0;
say_why:
	fc_warn("NOTIFY_SOCKET=%.200s: cannot send %.*s: %s", where, first_line_len(state), state,
	        strerror(-rc));
	return rc;
}

int fc_notify_reloading(void)
{
	struct timespec ts;
	char state[64];
	clock_gettime(CLOCK_MONOTONIC, &ts);
	unsigned long long usec = (unsigned long long)ts.tv_sec * 1000000;
	usec += (unsigned long long)ts.tv_nsec / 1000;
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu", usec);
	return fc_notify(state);
}
