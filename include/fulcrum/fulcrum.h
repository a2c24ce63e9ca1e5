/* fulcrum.h — libfulcrum, the balancing engine: pools of servers, the algorithms
 * that spread requests over them, sticky cookies and real-client-IP resolution.
 * Depends on libc alone: time and randomness come in from the caller. */
#ifndef FULCRUM_FULCRUM_H
#define FULCRUM_FULCRUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FC_WEIGHT_MAX 1000
/* Share of full weight a server starts its slow-start ramp at (per mille). */
#define FC_SLOW_START_FLOOR_PERMILLE 100

/* ASLEEP: stopped on purpose while idle (the proxy's wake:), to be woken by
 * a request; skipped by picks like DEAD, panic mode included. */
enum fc_server_state {
	FC_SERVER_HEALTHY,
	FC_SERVER_LAME_DUCK,
	FC_SERVER_DEAD,
	FC_SERVER_DRAINING,
	FC_SERVER_ASLEEP,
};

struct fc_pool;
struct fc_server;
struct fc_algorithm;

/* ---------------------------------------------------------------- addresses */

/* An IP address without sockets: v4 uses bytes[0..3]; family 0 = none. */
struct fc_addr {
	int family; /* 4 or 6, 0 = none */
	uint8_t bytes[16];
};

/** Parses "1.2.3.4", "::1", "[::1]" (v4-mapped v6 "::ffff:1.2.3.4" becomes v4).
 * Accepts: s of len bytes (need not be NUL-terminated). Returns 0 or -EINVAL
 * (out then has family 0). Thread: any. */
int fc_addr_parse(const char *s, size_t len, struct fc_addr *out);

/** Formats a as text ("1.2.3.4", "2001:db8::1", "" for family 0) into buf of
 * len bytes, NUL-terminated and truncated if short. Returns the full strlen. */
size_t fc_addr_format(const struct fc_addr *a, char *buf, size_t len);

/** True when both addresses have the same family and bytes. */
bool fc_addr_equal(const struct fc_addr *a, const struct fc_addr *b);

/* ---------------------------------------------------------------- pools */

struct fc_pool_options {
	const char *name;       /* for messages */
	const char *algorithm;  /* registry name; NULL = "round_robin" */
	uint64_t slow_start_ns; /* 0 = off */
	double balance_factor;  /* consistent_hash bounded load c (>1), 0 = unbounded */
	/* sticky cookie */
	bool sticky; /* sticky: cookie */
	const uint8_t *sticky_secret;
	size_t sticky_secret_len; /* copied; empty secret is allowed but weak */
	uint64_t seed; /* for anything the pool randomises at creation (rr random start) */
	void (*server_free)(
	        void *user); /* called once when a server's last reference goes (may be NULL) */
	/* rebalance: length of one measuring window / step; 0 = 1 s. */
	uint64_t rebalance_window_ns;
	/* Panic mode (Envoy's): when fewer than panic_permille / 1000 of the
	 * servers with weight > 0 (asleep ones not counted) are healthy, picks
	 * spread over all of them whatever their state (dead and lame duck too,
	 * draining and asleep never), ignoring cooldowns, still honouring the
	 * avoid set. 0 = off; at most 1000. */
	unsigned panic_permille;
};

/** Creates a pool. Accepts: o (borrowed; strings and secret are copied).
 * Returns 0 and *out, -EINVAL with "pool NAME: unknown algorithm 'x' (known:
 * round_robin, random, ...)" (or another reason: balance_factor, panic_permille
 * above 1000) in err, or -ENOMEM.
 * Ownership: caller destroys with fc_pool_destroy. Thread: control. */
int fc_pool_create(const struct fc_pool_options *o, struct fc_pool **out, char *err, size_t errlen);

/** Destroys a pool: drops its references to its servers (servers still
 * referenced elsewhere live on). No pick or done may run concurrently or later.
 * Accepts NULL. Thread: control. */
void fc_pool_destroy(struct fc_pool *p);

struct fc_server_spec {
	const char *name;    /* unique in the pool; NULL = address */
	const char *address; /* opaque to the engine ("10.0.0.1:8080", a URL...) */
	unsigned weight;     /* 0..FC_WEIGHT_MAX */
	/* A server of another pool (or an earlier pool of the same name) whose
	 * state this new server takes over: health state, request and failure
	 * counts, latency EWMA, cooldown, slow-start ramp (none when it had
	 * finished), rebalance weight when the weight did not change. NULL:
	 * a fresh server. Used when a reload rebuilds a pool. The requests in
	 * flight on it count towards this server's max_conns when both have one
	 * (they share one count). */
	const struct fc_server *inherit;
	/* Most requests the server takes at once, across every thread picking
	 * (HAProxy's maxconn); 0 = no cap. A pick never returns a server at its
	 * cap: the slot is reserved atomically in fc_pool_pick and given back
	 * in fc_pool_done. */
	unsigned max_conns;
	/* Backup tier: 0 (the default) for the primary servers, 1.. for backups
	 * (DNS SRV priorities, `backup: true`). The rotation takes only the
	 * servers of the lowest tier that has a server able to take requests:
	 * a tier serves only while every lower tier is down, drained or cooling
	 * down. Every algorithm picks within it. */
	unsigned tier;
};

/** Adds a server, or updates the weight, tier and max_conns of the server with the
 * same identity (name + address), keeping its counters. A same-named server
 * with another address is replaced (fresh counters). A new server starts its
 * slow start at now_ns. max_conns changes in place between non-zero values;
 * turning it on or off for a server already in the pool is -EBUSY (remove
 * and add it again: its in-flight requests were not counted). Returns 0,
 * -EINVAL (no name/address), -ERANGE (weight > 1000), -EBUSY, -ENOMEM.
 * *out (may be NULL) receives a borrowed pointer, valid while the server is in
 * the pool. Thread: control (serialised internally; workers may pick meanwhile). */
int fc_pool_upsert(struct fc_pool *p, const struct fc_server_spec *s, uint64_t now_ns,
                   struct fc_server **out);

/** fc_pool_upsert for n specs at once, publishing one snapshot (use it to load
 * large pools: O(n) instead of O(n^2)). out (may be NULL) has n slots. On error
 * nothing is added. Thread: control. */
int fc_pool_upsert_many(struct fc_pool *p, const struct fc_server_spec *specs, size_t n,
                        uint64_t now_ns, struct fc_server **out);

/** Removes the server called name. Picks in flight finish normally; the server
 * lives while references remain. Returns 0 or -ENOENT. Thread: control. */
int fc_pool_remove(struct fc_pool *p, const char *name);

/** Sets the configured weight. Returns 0, -ENOENT, -ERANGE over 1000. Thread: control. */
int fc_pool_set_weight(struct fc_pool *p, const char *name, unsigned weight);

/** Sets the state; going back to HEALTHY from another state starts slow start
 * at now_ns. Returns 0, -ENOENT, -EINVAL (bad state). Thread: control. */
int fc_pool_set_state(struct fc_pool *p, const char *name, enum fc_server_state st,
                      uint64_t now_ns);

/** Number of servers in the pool (any state). Thread: any. */
size_t fc_pool_size(const struct fc_pool *p);

/** Health summary of the current snapshot: *healthy = servers in state
 * HEALTHY (any weight, cooldowns not counted), *total = all servers. Either
 * pointer may be NULL. Thread: any. */
void fc_pool_health_counts(const struct fc_pool *p, uint32_t *healthy, uint32_t *total);

/** True when the current snapshot is in panic mode (see panic_permille): fewer
 * than panic_permille / 1000 of the servers with weight > 0 are HEALTHY.
 * Always false when panic_permille is 0. Thread: any. */
bool fc_pool_in_panic(const struct fc_pool *p);

/** Upkeep the control thread runs on a timer, about every 100 ms, with now_ns
 * on the clock of fc_pick_ctx.now_ns and fc_server_cooldown. It rebuilds the
 * snapshot when a pick met a server cooling down inside the pick structures
 * (so picks stop probing it), when a cooldown the last rebuild left out has
 * ended (so the server comes back), or when an algorithm asked with
 * fc_pool_request_rebuild. It waits for a grace period only when it rebuilds.
 * Once a pool has been maintained, rebuilds leave servers cooling down out of
 * the pick structures and done no longer rebuilds on a worker, so keep calling
 * it: a server left out comes back at the first call after its cooldown ends.
 * A pool never maintained keeps cooling servers in its structures and picks
 * around them (an O(n) scan when most are cooling). Thread: control. */
void fc_pool_maintain(struct fc_pool *p, uint64_t now_ns);

/** Snapshot for status pages: fills up to max servers into out, each with a
 * reference the caller drops with fc_server_unref. Returns how many were
 * filled. Thread: any. */
size_t fc_pool_servers(struct fc_pool *p, struct fc_server **out, size_t max);

/** Finds a server by name; returns it with a reference (caller unrefs) or NULL. */
struct fc_server *fc_pool_find(struct fc_pool *p, const char *name);

/** The pool's name and its algorithm's registry name (owned by the pool). */
const char *fc_pool_name(const struct fc_pool *p);
const char *fc_pool_algorithm(const struct fc_pool *p);

/* ---------------------------------------------------------------- picking */

struct fc_pick_ctx {
	uint64_t now_ns;
	uint64_t *rng;            /* the calling worker's generator state, never 0 */
	struct fc_addr client;    /* real client IP (may be family 0) */
	const void *hash_key;     /* ip_hash/consistent_hash key bytes chosen by the caller; */
	size_t hash_key_len;      /* NULL => use client addr */
	const char *sticky_value; /* cookie value from the request, NULL if none */
	size_t sticky_len;
	struct fc_server *const *avoid; /* servers already tried by this request */
	size_t n_avoid;
	/* outputs */
	bool panic;          /* set by fc_pool_pick: the pool picked in panic mode */
	bool full;           /* NULL only because every server otherwise eligible is at
	                        its max_conns: a slot may free up (the caller may wait) */
	bool asleep;         /* NULL, and a server of the pool is asleep (waking it may help) */
	bool sticky_set;     /* response must carry Set-Cookie with sticky_out */
	char sticky_out[96]; /* NUL-terminated cookie value when sticky_set */
};

/** Picks an eligible server (healthy, weight > 0, not cooling down, not in
 * ctx->avoid, below its max_conns; lame duck only to keep a sticky or hashed
 * client), counts it active, reserves one of its max_conns slots and returns
 * it with a reference held, or NULL (caller answers 503, or waits for a slot
 * when ctx->full says that is what is missing). A sticky client whose server
 * is at its cap goes to another server, as if its server were out.
 * In panic mode (ctx->panic is set) any server with weight > 0 that is not
 * draining, not asleep and not in ctx->avoid is eligible. ctx->asleep says
 * a NULL pick's pool has a server asleep. NULL only when nothing is
 * eligible. The share of a server that is out goes to the others in
 * proportion to their weights (docs/balancing.md).
 * Every pick must be ended with fc_pool_done. Takes no global lock: the server
 * set is an immutable snapshot read under a grace-period counter; least_conn
 * and round_robin's fallback take a per-pool spinlock around an O(log n) step.
 * A server at its max_conns is skipped like one cooling down: picks stay O(1)
 * while few are full and fall back to an O(n) scan when most are; a NULL
 * from a pool with capped servers costs one O(n) scan to set ctx->full.
 * Two threads racing for a server's last slot: the loser picks again (the
 * reservation is one compare-and-swap, so the cap holds exactly).
 * Thread: any worker, concurrently. */
struct fc_server *fc_pool_pick(struct fc_pool *p, struct fc_pick_ctx *ctx);

/** Picks s again, for a retry on the server that just failed (a proxy's
 * retry.same_server): counts it active and returns it with a reference held,
 * as fc_pool_pick does (a max_conns slot reserved), or NULL when s is no
 * longer in p, takes no new requests (dead, draining, asleep, weight 0; in
 * panic mode only draining and asleep) or is at its max_conns (ctx->full
 * set). Its
 * cooldown and ctx->avoid are ignored: the retry is meant for this server.
 * s is borrowed and may have been removed since (it is compared, not
 * dereferenced, until it is found among p's servers). ctx->panic is set as
 * by fc_pool_pick; the sticky outputs are cleared. Every pick must be ended
 * with fc_pool_done. O(servers). Thread: any worker, concurrently. */
struct fc_server *fc_pool_pick_server(struct fc_pool *p, const struct fc_server *s,
                                      struct fc_pick_ctx *ctx);

struct fc_outcome {
	int status; /* HTTP status, or 0 for a connect/IO failure */
	uint64_t latency_ns;
	bool failed; /* connection-level failure */
};
/* fc_outcome.status the pool gives an owns_active algorithm's done for a pick
 * it took back unused (the server's last max_conns slot went to another
 * thread): undo the count, learn nothing. Never passed to fc_pool_done. */
#define FC_OUTCOME_CANCELLED (-1)

/** Ends a pick: decrements active, counts the request (and a failure when
 * o->failed or status >= 500), feeds learning algorithms, releases the pick's
 * reference. o may be NULL (counted as success without latency). Thread: any worker. */
void fc_pool_done(struct fc_pool *p, struct fc_server *s, const struct fc_outcome *o,
                  uint64_t now_ns);

/* ---------------------------------------------------------------- servers */

/** The proxy does not pick s until until_ns (after a refused connection); with
 * slow start, s ramps up again from until_ns. Picks skip s at once; on a pool
 * the control thread maintains (fc_pool_maintain) the next rebuild takes s out
 * of the pick structures until its cooldown ends. Thread: any. */
void fc_server_cooldown(struct fc_server *s, uint64_t until_ns);
/** Takes / drops a reference. The last unref calls the pool's server_free(user). Thread: any. */
void fc_server_ref(struct fc_server *s);
void fc_server_unref(struct fc_server *s);
/** The proxy's per-server data (not owned unless server_free is set). Thread: any. */
void fc_server_set_user(struct fc_server *s, void *user);
void *fc_server_user(const struct fc_server *s);
/** Identity strings, owned by the server, constant for its life. */
const char *fc_server_name(const struct fc_server *s);
const char *fc_server_address(const struct fc_server *s);
/** Stable id derived from identity (hash of name + address), used in sticky cookies. */
uint32_t fc_server_id(const struct fc_server *s);
/** The server's max_conns (0: no cap). Thread: any. */
unsigned fc_server_max_conns(const struct fc_server *s);

struct fc_server_stats {
	unsigned weight; /* configured */
	enum fc_server_state state;
	uint32_t active;
	uint64_t requests, failures;
	uint64_t ewma_latency_ns; /* peak EWMA, decayed to now_ns; 0 = unmeasured */
	bool in_cooldown;
	unsigned effective_weight;    /* weight after slow start and rebalance */
	unsigned slow_start_permille; /* 1000 = full weight */
	uint32_t max_conns;           /* 0: no cap */
	uint32_t conns;               /* max_conns slots taken now (0 without a cap) */
	unsigned tier;                /* backup tier (fc_server_spec.tier) */
};
/** Fills out with a consistent-enough snapshot of s's counters. Thread: any. */
void fc_server_stats(const struct fc_server *s, uint64_t now_ns, struct fc_server_stats *out);

/* ---------------------------------------------------------------- registry */

/** The algorithm registered as name, or NULL. Thread: any. */
const struct fc_algorithm *fc_algorithm_find(const char *name);
/** Writes "round_robin, random, least_conn, ..." into buf (truncated, NUL-
 * terminated); returns the full length. Thread: any. */
size_t fc_algorithm_list(char *buf, size_t len);
/** Name of an algorithm table. */
const char *fc_algorithm_name(const struct fc_algorithm *a);

/* ---------------------------------------------------------------- client IP */

struct fc_cidr {
	struct fc_addr addr;
	unsigned bits;
};
/** Parses "10.0.0.0/8", "::1/128", or a bare address (a host). Host bits are
 * cleared. Returns 0 or -EINVAL. */
int fc_cidr_parse(const char *s, size_t len, struct fc_cidr *out);
/** True when a lies inside c (same family after v4-mapped normalisation). */
bool fc_cidr_contains(const struct fc_cidr *c, const struct fc_addr *a);

struct fc_clientip_options {
	const struct fc_cidr *trusted;
	size_t n_trusted;
	bool recursive;
};
/** Real client IP (GoDoxy's header/from/recursive). peer: socket address.
 * header_value: the configured header's value (comma-joined if repeated) or NULL.
 * Uses the header only when peer is trusted; recursive walks X-Forwarded-For
 * right to left skipping trusted hops (all trusted: the leftmost), otherwise
 * takes the rightmost element. Malformed -> peer. out may alias peer. Thread: any. */
void fc_clientip_resolve(const struct fc_clientip_options *o, const struct fc_addr *peer,
                         const char *header_value, size_t len, struct fc_addr *out);

/* ---------------------------------------------------------------- hashing, sticky */

/** 64-bit hash of bytes (wyhash-like mixing, stable across builds and hosts). */
uint64_t fc_hash64(const void *data, size_t len);
/** fc_hash64 with a seed. */
uint64_t fc_hash64_seeded(const void *data, size_t len, uint64_t seed);
/** Next value of a xorshift64* generator; *state must be non-zero. */
uint64_t fc_rng_next(uint64_t *state);
/** Uniform value in [0, n) (n > 0) from *state. */
uint64_t fc_rng_below(uint64_t *state, uint64_t n);

/** HMAC-SHA256 (RFC 2104 / FIPS 180-4) of msg under key into out[32]. */
void fc_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    uint8_t out[32]);
/** SHA-256 of msg into out[32]. */
void fc_sha256(const void *msg, size_t len, uint8_t out[32]);

/** Encodes a sticky value "<8 hex id>.<22 base64url tag>" (HMAC-SHA256 of the id
 * under secret, truncated to 128 bits) into out (>= 32 bytes). Returns strlen or
 * -ENOSPC. The value depends only on secret and id. */
int fc_sticky_encode(const uint8_t *secret, size_t secret_len, uint32_t id, char *out,
                     size_t outlen);
/** Decodes and verifies (constant-time tag compare). Returns 0 and *id, or -EINVAL. */
int fc_sticky_decode(const uint8_t *secret, size_t secret_len, const char *value, size_t len,
                     uint32_t *id);

#ifdef __cplusplus
}
#endif

#include "fulcrum/algorithm.h"

#endif
