/* ratelimit.h — token buckets per client key, one table per configured
 * limit, shared by every worker (docs/traffic.md, "Rate limits"). A bucket
 * is one 64-bit word, the time at which it is full again (the token bucket
 * in its virtual-scheduling form, GCRA: ITU-T I.371): tokens are derived
 * from it, so a take is one compare-and-swap and a refusal writes nothing.
 * The table is set-associative: a key hashes to one set of five buckets in
 * one 64-byte cache line; a new key takes an empty or full (idle) bucket of
 * its set, else the one closest to full, so memory is fixed by max_keys. */
#ifndef FC_RATELIMIT_H
#define FC_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Buckets per set (a cache line: a lock word, five fingerprints, five states). */
#define FC_RATELIMIT_WAYS 5

struct fc_ratelimit;

/* What a table is made of. Two tables with the same spec (the seed aside)
 * are the same limit: a reload keeps the buckets (fc_ratelimit_same). */
struct fc_ratelimit_spec {
	uint32_t rate;      /* tokens per period, >= 1 */
	uint32_t period_ms; /* >= 1 */
	uint32_t burst;     /* bucket size, >= 1 */
	uint32_t max_keys;  /* buckets (rounded up to whole sets) */
	uint32_t n_workers; /* counter slots: callers pass 0..n_workers-1 */
	uint64_t seed;      /* hash seed; 0: a random one */
	/* leased (a global limit, docs/cluster.md): tokens are asked from Redis
	 * lease_batch at a time; 0: a local limit. redis_key (copied) is the
	 * prefix of its keys there. */
	uint32_t lease_batch;
	const char *redis_key;
};

/* One take's outcome. */
struct fc_ratelimit_verdict {
	bool allowed;
	uint32_t remaining; /* whole tokens left after this request (0 when refused) */
	uint64_t wait_ns;   /* refused: until the next token; allowed: 0 */
};

/* Counters summed over the workers, and the table's size. */
struct fc_ratelimit_stats {
	uint64_t limited;       /* takes refused */
	uint64_t evicted_early; /* buckets given to a new key before they were full */
	uint64_t down_allowed;  /* leased: requests let through while Redis was down */
	uint64_t down_refused;  /* leased: requests refused while Redis was down */
	uint64_t capacity;      /* buckets */
	uint64_t bytes;         /* the table and its counters */
};

/** Creates a table (refs = 1). 0, -EINVAL (a spec field out of range) or
 * -ENOMEM. Thread: any. */
int fc_ratelimit_create(const struct fc_ratelimit_spec *spec, struct fc_ratelimit **out);
void fc_ratelimit_ref(struct fc_ratelimit *rl);
/** Drops a reference; the last frees the table. NULL: nothing. */
void fc_ratelimit_unref(struct fc_ratelimit *rl);
/** True when rl was made from a spec equal to spec (seed aside). */
bool fc_ratelimit_same(const struct fc_ratelimit *rl, const struct fc_ratelimit_spec *spec);

/** The key's hash in rl (seeded): kind separates key spaces (an address, a
 * header value) that could have the same bytes. */
uint64_t fc_ratelimit_hash(const struct fc_ratelimit *rl, unsigned kind, const void *key,
                           size_t len);

/** Takes a token from the bucket of the key whose hash is h, at now_ns (a
 * monotonic clock, the same for every caller). Fills *v and returns
 * v->allowed. worker: the caller's counter slot (< n_workers), written by
 * that caller only. Thread: any, concurrently; lock-free unless the key is
 * new to the table (then its set's lock is taken, briefly). */
bool fc_ratelimit_take(struct fc_ratelimit *rl, uint64_t h, uint64_t now_ns, uint32_t worker,
                       struct fc_ratelimit_verdict *v);

/** Gives back the token a take of h took (another limit refused the
 * request). Nothing if the bucket has gone meanwhile. Thread: any. */
void fc_ratelimit_refund(struct fc_ratelimit *rl, uint64_t h);

/** The bucket's size and the seconds it takes to fill from empty (at least
 * 1), as RateLimit-Policy says them. */
uint32_t fc_ratelimit_burst(const struct fc_ratelimit *rl);
uint32_t fc_ratelimit_window_s(const struct fc_ratelimit *rl);

/** Counters and sizes (relaxed reads: a scrape). */
void fc_ratelimit_stats(const struct fc_ratelimit *rl, struct fc_ratelimit_stats *st);

/** Buckets in use that are not full at now_ns (a walk of the whole table:
 * for tests and the benchmark, not the request path). */
uint64_t fc_ratelimit_active(const struct fc_ratelimit *rl, uint64_t now_ns);

/* ---- leased tables (spec.lease_batch > 0): each bucket also holds the
 * tokens this instance leased from Redis and has not used, and whether a
 * refill is on its way (docs/cluster.md, "Global rate limits"). */

/* A new key's first request passes on this many tokens of its own (no
 * request waits for Redis); its lease is asked for at once. */
#define FC_RATELIMIT_LEASE_CREDIT 1

/** Takes a token from the key's bucket (the instance's own count, as
 * fc_ratelimit_take) and one from its lease; refused when either has none
 * (then neither is used). *refill is set when the caller must ask for the
 * key's lease to be refilled (fc_glimits_want): its tokens fell to half a
 * batch and no refill was asked for yet (this call marked it asked).
 * Thread: any, as fc_ratelimit_take. */
bool fc_ratelimit_take_leased(struct fc_ratelimit *rl, uint64_t h, uint64_t now_ns, uint32_t worker,
                              struct fc_ratelimit_verdict *v, bool *refill);
/** Gives back what a take_leased of h took (another limit refused). */
void fc_ratelimit_refund_leased(struct fc_ratelimit *rl, uint64_t h);
/** Adds tokens granted by Redis to h's lease (at most 2^30 held) and ends
 * its refill (granted may be 0: the ask is over, nothing came). Nothing
 * when h's bucket has gone to another key. Thread: control. */
void fc_ratelimit_lease_grant(struct fc_ratelimit *rl, uint64_t h, uint32_t granted);
/** Tokens h holds in its lease now (tests, the admin API); -1: no bucket. */
int64_t fc_ratelimit_lease_tokens(const struct fc_ratelimit *rl, uint64_t h);
/** A leased table's parameters: batch, Redis key prefix, rate, period. */
uint32_t fc_ratelimit_lease_batch(const struct fc_ratelimit *rl);
const char *fc_ratelimit_redis_key(const struct fc_ratelimit *rl);
uint32_t fc_ratelimit_rate(const struct fc_ratelimit *rl);
uint32_t fc_ratelimit_period_ms(const struct fc_ratelimit *rl);
/** Counts a request a leased limit decided without Redis (down); limited:
 * also in stats.limited (a refusal no bucket counted). */
void fc_ratelimit_count_down(struct fc_ratelimit *rl, uint32_t worker, bool allowed, bool limited);

/** The lease's batch for a limit of rate per period_ms and burst: 50 ms of
 * tokens, at least 1, at most a quarter of burst (pure). */
uint32_t fc_ratelimit_lease_batch_for(uint32_t rate, uint32_t period_ms, uint32_t burst);
/** Whether a lease holding tokens after a take asks for a refill: at half a
 * batch or less (pure). */
bool fc_ratelimit_lease_low(uint32_t tokens, uint32_t batch);

/** The arithmetic of one take, pure: a bucket full again at *tat (0: new),
 * interval t_ns between tokens, burst tokens. Updates *tat when allowed. */
bool fc_ratelimit_decide(uint64_t *tat, uint64_t now_ns, uint64_t t_ns, uint32_t burst,
                         struct fc_ratelimit_verdict *v);

#endif
