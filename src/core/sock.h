/* sock.h — sockets: listeners with SO_REUSEPORT, non-blocking connects. */
#ifndef FC_SOCK_H
#define FC_SOCK_H

#include <stddef.h>
#include <sys/socket.h>

/* A non-blocking listening socket on addr with SO_REUSEPORT. Returns fd or -errno. */
int fc_sock_listen(const struct sockaddr *addr, socklen_t len, int backlog);
/* 0 when nothing is bound to addr (a bind without SO_REUSEPORT succeeds),
 * -EADDRINUSE when another socket (another process: SO_REUSEPORT would let
 * it share silently) holds it, another -errno otherwise. */
int fc_sock_probe_free(const struct sockaddr *addr, socklen_t len);
/* A non-blocking, close-on-exec TCP socket for addr's family, TCP_NODELAY
 * set. Returns fd or -errno. */
int fc_sock_tcp(const struct sockaddr *addr);
/* Starts a non-blocking TCP connect. Returns fd (connect may be in progress)
 * or -errno (e.g. -ECONNREFUSED when refused at once). */
int fc_sock_connect(const struct sockaddr *addr, socklen_t len);
/* The pending error of a connecting socket: 0 or -errno. */
int fc_sock_error(int fd);
/* "127.0.0.1:8080" / "[::1]:8080" into buf. Returns buf. */
char *fc_sock_format(const struct sockaddr *addr, char *buf, size_t len);
/* The address only, without port. Returns its length. */
size_t fc_sock_format_ip(const struct sockaddr *addr, char *buf, size_t len);

#endif
