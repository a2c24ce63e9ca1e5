/* glimit.h — global rate limits (rate_limits.NAME.scope: global, docs/cluster.md,
 * "Global rate limits (Redis)"): the control thread's side. Workers decide
 * every request from the key's lease (ratelimit.h); when a lease runs low they
 * post the key here, and the control thread asks Redis (cluster.redis, the
 * client in cluster/redis.h) for a batch of tokens with a Lua script that runs
 * the shared token bucket atomically. No request waits for Redis. */
#ifndef FC_PROXY_GLIMIT_H
#define FC_PROXY_GLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/loop.h"
#include "core/mailbox.h"

struct fc_glimits;
struct fc_ratelimit;

/* The process's global limits on the control loop, with the mailbox workers
 * post their lease refills to. 0 or -errno. */
int fc_glimits_create(struct fc_loop *loop, struct fc_glimits **out);
/* Closes the Redis connection (asks in flight end with nothing granted) and
 * frees it. Accepts NULL. Thread: control, after the workers stopped. */
void fc_glimits_destroy(struct fc_glimits *g);
/* The mailbox for fc_runtime_options.glimit_mb. */
struct fc_mailbox *fc_glimits_mailbox(struct fc_glimits *g);
/* Follows cfg->cluster.redis (the start, a reload): connects, or reconnects
 * when the address, password or timeout changed, or closes when it is gone.
 * 0 or -ENOMEM. Thread: control. */
int fc_glimits_configure(struct fc_glimits *g, const struct fc_config *cfg);
/* Writes what asks were queued (the control loop's before_wait hook). */
void fc_glimits_flush(struct fc_loop *loop, void *arg);

/* Whether Redis is up now: workers read it on the request path (one
 * relaxed load). Thread: any. */
bool fc_glimits_up(void);
/* Asks for h's lease in rl to be refilled (fc_ratelimit_take_leased said
 * so); mb NULL or out of memory: the ask ends at once with nothing. Never
 * blocks. Thread: any (a worker). */
void fc_glimits_want(struct fc_mailbox *mb, struct fc_ratelimit *rl, uint64_t h);

struct fc_glimits_stats {
	bool configured; /* cluster.redis is set */
	bool up;
	char address[80];
	uint64_t requests;       /* commands sent to Redis */
	uint64_t errors;         /* failed connects, lost connections, timeouts, error replies */
	uint64_t state_changes;  /* up <-> down */
	uint64_t asks;           /* lease refills asked by workers */
	uint64_t tokens_granted; /* tokens Redis granted */
	uint64_t empty;          /* asks Redis answered with no token (the key is at its limit) */
};
void fc_glimits_stats(const struct fc_glimits *g, struct fc_glimits_stats *st);

/* The script's answer {granted, wait_us} as the control thread reads it:
 * tokens to add to the lease, and when a key with none granted is asked
 * again (ms, 1..1000). Pure: tests. */
uint32_t fc_glimits_retry_ms(int64_t wait_us);

#endif
