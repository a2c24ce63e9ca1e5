/* redis.h — a Redis client for the control thread: hiredis's asynchronous
 * API driven by an fc_loop (an adapter in redis.c), with AUTH on connect, a
 * deadline on every answer, reconnects with backoff and one log line per
 * change between up and down. It never blocks and never runs on a worker
 * (docs/cluster.md, "Global rate limits"). */
#ifndef FC_REDIS_H
#define FC_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

struct fc_redis;
struct redisReply;

/* An answer: r is the reply (borrowed for the call; it may be an error
 * reply), or NULL when none came (the connection failed or was closed, or
 * the answer was later than the timeout). Thread: control. */
typedef void (*fc_redis_reply_fn)(void *arg, struct redisReply *r);

struct fc_redis_options {
	const char *host; /* numeric address */
	uint16_t port;
	const char *password;    /* NULL: no AUTH */
	uint32_t timeout_ms;     /* connect and each answer; >= 1 */
	uint32_t backoff_min_ms; /* first wait before a reconnect (0: 100) */
	uint32_t backoff_max_ms; /* doubling up to this (0: 5000) */
	/* the connection went up (Redis answered AUTH, or PING without a
	 * password) or down; may be NULL */
	void (*on_state)(void *arg, bool up);
	void *arg;
};

struct fc_redis_stats {
	bool up;
	uint64_t commands;      /* sent */
	uint64_t errors;        /* failed connects, lost connections, timeouts, error replies */
	uint64_t state_changes; /* up <-> down */
	uint64_t connects;      /* connections that came up */
};

/** Creates the client and starts connecting (options are copied). 0 or
 * -ENOMEM. Thread: control (loop's). */
int fc_redis_create(struct fc_loop *loop, const struct fc_redis_options *o, struct fc_redis **out);
/** Closes the connection (commands in flight are answered NULL) and frees
 * r. NULL: nothing. */
void fc_redis_destroy(struct fc_redis *r);
bool fc_redis_is_up(const struct fc_redis *r);
/** Queues a command (argv[i] of argvlen[i] bytes, copied); fn is called
 * exactly once with its answer. 0, or -ENOTCONN (down: fn is not called)
 * or -ENOMEM. Sent when the loop is about to wait (fc_redis_flush). */
int fc_redis_command(struct fc_redis *r, int argc, const char **argv, const size_t *argvlen,
                     fc_redis_reply_fn fn, void *arg);
/** Writes what commands queued (the control loop's before-wait hook). */
void fc_redis_flush(struct fc_redis *r);
/** "127.0.0.1:6379". */
const char *fc_redis_address(const struct fc_redis *r);
void fc_redis_stats(const struct fc_redis *r, struct fc_redis_stats *st);
/** Counts an error reply that a caller handled itself (NOSCRIPT aside). */
void fc_redis_count_error(struct fc_redis *r);

#endif
