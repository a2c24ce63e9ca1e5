/* algorithm.h — the plug-in table of a balancing algorithm (h2o's vtable,
 * HAProxy's lb hooks) and the helpers algorithms use; embedders may register their own. */
#ifndef FULCRUM_ALGORITHM_H
#define FULCRUM_ALGORITHM_H

#include "fulcrum/fulcrum.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An immutable snapshot of a pool's servers, swapped atomically by the control
 * thread and reclaimed after a grace period. An algorithm reads it during pick
 * and done; `algo` holds what its build hook made for this snapshot. */
struct fc_view {
	struct fc_server **servers; /* every server of the pool, any state, in insertion order */
	size_t n;
	size_t n_healthy;      /* healthy with weight > 0 */
	uint64_t total_weight; /* sum of configured weights of healthy servers */
	bool panic;            /* the pool is in panic mode in this snapshot */
	/* The rotation: the servers a pick structure should hold, rot[i] != 0 for
	 * v->servers[i]. Weight > 0 and healthy (in panic: any state but
	 * draining), of the snapshot's tier, minus, on a maintained pool, those cooling down when
	 * the snapshot was made (cooldown_next: the earliest end of those cooldowns, UINT64_MAX for
	 * none). */
	const uint8_t *rot;
	size_t n_rotation;
	uint64_t rotation_weight; /* sum of configured weights in the rotation */
	uint64_t cooldown_next;
	/* The backup tier the rotation is made of (fc_server_spec.tier): the
	 * lowest with a healthy server out of cooldown. A server of a higher
	 * tier is not picked from this snapshot, nor, while a tier serves, one of
	 * a lower tier (fc__eligible_at); UINT_MAX: no server is left out by
	 * its tier (the rotation is empty, or every server is of one tier). */
	unsigned tier;
	void *algo; /* algorithm's per-snapshot data (build/view_free) */
	struct fc_pool *pool;
	uint64_t generation; /* increases with every snapshot */
	/* private to the pool */
	uint32_t *id_slots;
	size_t id_mask;
	uint32_t n_healthy_any; /* state HEALTHY, any weight */
	uint32_t n_capped;      /* servers with a max_conns */
	uint32_t n_asleep;      /* servers in state ASLEEP */
};

/* What an algorithm learns at init from its pool. */
struct fc_algo_config {
	const char *pool_name;
	uint64_t seed;
	uint64_t slow_start_ns;
	double balance_factor;
	uint64_t rebalance_window_ns;
};

/* Hooks; all but name/init/pick may be NULL. "control" hooks run on the thread
 * mutating the pool, serialised by the pool's mutex. Built-in algorithms never
 * run them from a worker (rebalance rewrites its order in place, see
 * docs/balancing.md); fc_pool_request_rebuild is the way for others to. */
struct fc_algorithm {
	const char *name;
	/* control: make per-pool state. Returns 0 or -errno. */
	int (*init)(const struct fc_algo_config *cfg, void **state);
	/* control: free per-pool state (no pick/done runs). */
	void (*fini)(void *state);
	/* control: notifications about the snapshot `next` being prepared. */
	void (*add)(void *state, struct fc_view *next, struct fc_server *s);
	void (*remove)(void *state, struct fc_view *next, struct fc_server *s);
	void (*update_weight)(void *state, struct fc_view *next, struct fc_server *s);
	void (*update_state)(void *state, struct fc_view *next, struct fc_server *s);
	/* control: build next->algo before next is published. Returns 0 or -errno. */
	int (*build)(void *state, struct fc_view *next);
	/* control: free a snapshot's data after its grace period (or a failed build). */
	void (*view_free)(void *state, void *algo_view);
	/* worker: choose an eligible server of v or NULL; no reference taken. */
	struct fc_server *(*pick)(void *state, const struct fc_view *v, struct fc_pick_ctx *ctx);
	/* worker: a pick ended (active already decremented unless owns_active).
	 * With owns_active it also takes back a pick the pool could not use
	 * (o->status == FC_OUTCOME_CANCELLED: the server's last max_conns slot
	 * went to another thread): undo the count, learn nothing. */
	void (*done)(void *state, const struct fc_view *v, struct fc_server *s,
	             const struct fc_outcome *o, uint64_t now_ns);
	/* When true, pick counts the returned server active itself, done
	 * decrements it, and acquire counts a server the pool chose itself (sticky). */
	bool owns_active;
	void (*acquire)(void *state, const struct fc_view *v, struct fc_server *s);
	/* Hashing algorithms keep lame-duck servers for the keys they own. */
	bool keeps_lame_duck;
};

/** Registers an algorithm table (borrowed, must outlive its use). Returns 0,
 * -EEXIST (name taken), -ENOSPC (registry full), -EINVAL. Thread: before pools use it. */
int fc_algorithm_register(const struct fc_algorithm *a);

/* ---- helpers for algorithms (all thread-safe, lock-free) ---- */

/** Configured weight / state / active count. */
unsigned fc_server_weight(const struct fc_server *s);
enum fc_server_state fc_server_state(const struct fc_server *s);
uint32_t fc_server_active(const struct fc_server *s);
/** Adjust the shared active count (for owns_active algorithms). */
void fc_server_active_add(struct fc_server *s, int delta);
/** Effective weight used by rebalance (defaults to the configured weight). */
unsigned fc_server_effective_weight(const struct fc_server *s);
void fc_server_set_effective_weight(struct fc_server *s, unsigned w);
/** Slow-start share in 1/65536 at now_ns (65536 = full). */
uint32_t fc_server_share_q16(const struct fc_server *s, uint64_t now_ns);
/** Peak-EWMA latency in ns decayed to now_ns; 0 = unmeasured. */
uint64_t fc_server_ewma_ns(const struct fc_server *s, uint64_t now_ns);
/** Index of s in the snapshot most recently made (set before build runs, so
 * it may already point into a snapshot not yet published). */
uint32_t fc_server_slot(const struct fc_server *s);

/** True if s is in ctx->avoid. */
bool fc_pick_avoids(const struct fc_pick_ctx *ctx, const struct fc_server *s);
/** True if s may take a new request now: healthy (or lame duck when
 * allow_lame), weight > 0, not cooling down, not avoided, below its
 * max_conns. Ignores slow start. When ctx->panic: weight > 0, not draining
 * or asleep, not avoided, below its max_conns. */
bool fc_server_is_eligible(const struct fc_server *s, const struct fc_pick_ctx *ctx,
                           bool allow_lame);
/** Slow start by rejection: true with probability share (always when ramped). */
bool fc_server_admit(const struct fc_server *s, struct fc_pick_ctx *ctx);
/** Slow start for hashing: deterministic per key (the same key keeps its answer while the share
 * grows). */
bool fc_server_admit_key(const struct fc_server *s, uint64_t key_hash, uint64_t now_ns);
/** The hash of ctx's key (hash_key bytes, or the client address). */
uint64_t fc_pick_key_hash(const struct fc_pick_ctx *ctx);
/** Fallback: a weighted choice among eligible servers of v by an O(n) scan
 * (used when an O(1) structure found nothing after a few tries). */
struct fc_server *fc_view_scan(const struct fc_view *v, struct fc_pick_ctx *ctx, bool allow_lame);
/** Ask the pool to rebuild its snapshot soon. Never waits itself. On a pool
 * the control thread maintains (fc_pool_maintain), the rebuild runs there, at
 * its next call. Otherwise it runs from the next done, which then waits for
 * in-flight picks of other threads to finish, so a learning algorithm should
 * call this rarely (the built-in ones do not). Thread: any. */
void fc_pool_request_rebuild(struct fc_pool *p);

#ifdef __cplusplus
}
#endif

#endif
