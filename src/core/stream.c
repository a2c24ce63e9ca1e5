/* stream.c — TCP streams: on epoll the plain system calls, on io_uring the
 * completion-driven versions in loop_uring.c; a layer (TLS) goes first. */
#include "core/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop_uring.h"
#include "core/sock.h"

int fc_stream_set_layer(struct fc_loop *loop, struct fc_stream *s, struct fc_stream_layer *layer)
{
	uint32_t fd = (uint32_t)s->io.fd;
	if (!layer) {
		if (s->io.layered)
			loop->layers[fd] = NULL;
		s->io.layered = 0;
		return 0;
	}
	if (fd >= loop->cap_layers) {
		uint32_t cap = loop->cap_layers ? loop->cap_layers : 64;
		while (cap <= fd)
			cap *= 2;
		struct fc_stream_layer **t = realloc(loop->layers, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		memset(t + loop->cap_layers, 0, (cap - loop->cap_layers) * sizeof(*t));
		loop->layers = t;
		loop->cap_layers = cap;
	}
	loop->layers[fd] = layer;
	s->io.layered = 1;
	return 0;
}

int fc_stream_open(struct fc_loop *loop, struct fc_stream *s)
{
	if (loop->ring)
		return fc__uring_open(loop, s);
	return fc_loop_add(loop, &s->io);
}

int fc_stream_connect(struct fc_loop *loop, struct fc_stream *s, const struct sockaddr *addr,
                      socklen_t len)
{
	return fc_stream_connect_layer(loop, s, addr, len, NULL);
}

int fc_stream_connect_layer(struct fc_loop *loop, struct fc_stream *s, const struct sockaddr *addr,
                            socklen_t len, struct fc_stream_layer *layer)
{
	int fd = loop->ring ? fc_sock_tcp(addr) : fc_sock_connect(addr, len);
	if (fd < 0)
		return fd;
	s->io.fd = fd;
	int rc = layer ? fc_stream_set_layer(loop, s, layer) : 0;
	if (rc == 0)
		rc = loop->ring ? fc__uring_connect(loop, s, addr, len) : fc_loop_add(loop, &s->io);
	if (rc < 0) {
		fc_stream_set_layer(loop, s, NULL);
		close(fd);
		s->io.fd = -1;
	}
	return rc;
}

int fc_stream_connect_result(struct fc_loop *loop, struct fc_stream *s)
{
	if (s->io.layered)
		return loop->layers[s->io.fd]->ops->connect_result(loop, s);
	return fc_stream_tcp_connect_result(loop, s);
}

int fc_stream_tcp_connect_result(struct fc_loop *loop, struct fc_stream *s)
{
	if (loop->ring)
		return fc__uring_connect_result(loop, s);
	return fc_sock_error(s->io.fd);
}

void fc_stream_connected(struct fc_loop *loop, struct fc_stream *s)
{
	if (!s->io.layered) /* a layer did it when its own connect was over */
		fc_stream_tcp_connected(loop, s);
}

void fc_stream_tcp_connected(struct fc_loop *loop, struct fc_stream *s)
{
	if (loop->ring)
		fc__uring_connected(loop, s);
}

ssize_t fc_stream_recv(struct fc_loop *loop, struct fc_stream *s, char *dst, size_t room)
{
	if (s->io.layered)
		return loop->layers[s->io.fd]->ops->recv(loop, s, dst, room);
	return fc_stream_tcp_recv(loop, s, dst, room);
}

ssize_t fc_stream_tcp_recv(struct fc_loop *loop, struct fc_stream *s, char *dst, size_t room)
{
	if (loop->ring)
		return fc__uring_recv(loop, s, dst, room);
	for (;;) {
		ssize_t n = read(s->io.fd, dst, room);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

ssize_t fc_stream_send(struct fc_loop *loop, struct fc_stream *s, const struct iovec *iov, int n)
{
	if (s->io.layered)
		return loop->layers[s->io.fd]->ops->send(loop, s, iov, n);
	return fc_stream_tcp_send(loop, s, iov, n);
}

ssize_t fc_stream_tcp_send(struct fc_loop *loop, struct fc_stream *s, const struct iovec *iov,
                           int n)
{
	if (loop->ring)
		return fc__uring_send(loop, s, iov, n);
	for (;;) {
		ssize_t wr = writev(s->io.fd, iov, n);
		if (wr >= 0)
			return wr;
		if (errno != EINTR)
			return -errno;
	}
}

bool fc_stream_flushed(struct fc_loop *loop, struct fc_stream *s)
{
	if (s->io.layered)
		return loop->layers[s->io.fd]->ops->flushed(loop, s);
	return fc_stream_tcp_flushed(loop, s);
}

bool fc_stream_tcp_flushed(struct fc_loop *loop, struct fc_stream *s)
{
	return loop->ring ? fc__uring_flushed(loop, s) : true;
}

int fc_stream_shutdown_write(struct fc_loop *loop, struct fc_stream *s)
{
	if (s->io.layered)
		return loop->layers[s->io.fd]->ops->shutdown_write(loop, s);
	return fc_stream_tcp_shutdown_write(loop, s);
}

int fc_stream_tcp_shutdown_write(struct fc_loop *loop, struct fc_stream *s)
{
	if (loop->ring)
		return fc__uring_shutdown_write(loop, s);
	return shutdown(s->io.fd, SHUT_WR) < 0 ? -errno : 0;
}

bool fc_stream_close(struct fc_loop *loop, struct fc_stream *s)
{
	if (s->io.layered)
		loop->layers[s->io.fd]->ops->close(loop, s);
	if (loop->ring)
		return fc__uring_close(loop, s);
	if (s->io.fd >= 0)
		close(s->io.fd); /* also leaves the epoll set: the fd is never duplicated */
	s->io.fd = -1;
	return true;
}
