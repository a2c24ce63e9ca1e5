/* loop_uring.h — what stream.c and loop.c call in loop_uring.c (core only). */
#ifndef FC_LOOP_URING_H
#define FC_LOOP_URING_H

#include "core/stream.h"

/* loop.c: the timers both ways of waiting share */
int fc__loop_next_timeout(struct fc_loop *loop);
void fc__loop_run_timers(struct fc_loop *loop);

void fc__uring_fini(struct fc_loop *loop);
void fc__uring_run(struct fc_loop *loop);
void fc__uring_drain(struct fc_loop *loop, uint32_t timeout_ms);
int fc__uring_add_poll(struct fc_loop *loop, struct fc_io *io);
void fc__uring_del_poll(struct fc_loop *loop, struct fc_io *io);

int fc__uring_open(struct fc_loop *loop, struct fc_stream *s);
int fc__uring_connect(struct fc_loop *loop, struct fc_stream *s, const struct sockaddr *addr,
                      socklen_t len);
int fc__uring_connect_result(struct fc_loop *loop, struct fc_stream *s);
void fc__uring_connected(struct fc_loop *loop, struct fc_stream *s);
ssize_t fc__uring_recv(struct fc_loop *loop, struct fc_stream *s, char *dst, size_t room);
ssize_t fc__uring_send(struct fc_loop *loop, struct fc_stream *s, const struct iovec *iov, int n);
bool fc__uring_flushed(struct fc_loop *loop, struct fc_stream *s);
int fc__uring_shutdown_write(struct fc_loop *loop, struct fc_stream *s);
bool fc__uring_close(struct fc_loop *loop, struct fc_stream *s);

#endif
