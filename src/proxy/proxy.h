/* proxy.h — the proxy's internal structures: workers, client connections,
 * exchanges (one request each), upstream connections and the runtime (pools
 * built from a config snapshot).
 * Everything here belongs to one worker thread except struct fc_runtime and
 * the libfulcrum pools it holds. */
#ifndef FC_PROXY_H
#define FC_PROXY_H

#include <fulcrum/fulcrum.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/loop.h"
#include "core/mailbox.h"
#include "core/slab.h"
#include "core/stream.h"
#include "http/h1.h"
#include "proxy/counters.h"

struct fc_worker;
struct fc_client;
struct fc_exchange;
struct fc_upstream;
struct fc_listener;
struct fc_h2;        /* client_h2.c: an HTTP/2 client connection's session */
struct fc_h2up;      /* upstream_h2.c: an HTTP/2 connection to a server */
struct fc_h2up_resp; /* upstream_h2.c: a response's fields */
struct fc_h2_stream; /* client_h2.c: one of its streams */

/* Intrusive doubly-linked list. */
struct fc_link {
	struct fc_link *prev, *next;
};
static inline void fc_link_init(struct fc_link *l)
{
	l->prev = l->next = l;
}
static inline bool fc_link_empty(const struct fc_link *l)
{
	return l->next == l;
}
static inline void fc_link_push(struct fc_link *head, struct fc_link *l)
{
	l->next = head->next;
	l->prev = head;
	head->next->prev = l;
	head->next = l;
}
static inline void fc_link_remove(struct fc_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = l;
}
#define fc_link_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---------------------------------------------------------------- runtime */

struct fc_health;
struct fc_health_server;
struct fc_tls_server;
struct fc_tls_client;

/* What the proxy keeps per server: libfulcrum's server user data. It lives
 * as long as the server's identity (pool name, server name, URL): a reload
 * that keeps the server hands the same record to the new runtime's server,
 * so idle connections and per-worker counters carry over. Referenced by
 * every libfulcrum server that uses it and by every upstream connection. */
struct fc_rt_server {
	atomic_uint refs;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char hostport[64]; /* Host for HTTP/1.0 requests without one */
	char *url;         /* identity, with the pool's and the server's names */
	char *name;
	/* passive reports go here (the current runtime's health record); NULL: none */
	_Atomic(struct fc_health_server *) health;
	char *tls_host; /* https:// server: SNI and the name verified (the URL's host); else NULL */
	atomic_bool removed; /* the current runtime has no such server: close idle connections */
	uint32_t n_workers;
	/* one per worker, touched only by that worker; a cache line each or
	 * more, so that workers do not write to each other's lines */
	struct fc_rt_idle {
		struct fc_link list;        /* idle upstream connections, most recent first */
		struct fc_link active;      /* in the worker's purge list while n + used > 0 */
		uint32_t n;                 /* idle */
		uint32_t used;              /* taken by an exchange, not yet released or closed */
		uint32_t peak;              /* most used at once since the last purge */
		uint32_t need;              /* estimate of the recent need (see upstream.c) */
		struct fc_srv_counters ctr; /* metrics (counters.h) */
	} __attribute__((aligned(64))) idle[];
};
void fc_rt_server_ref(struct fc_rt_server *rs);
void fc_rt_server_unref(struct fc_rt_server *rs);

/* A server's proxy data for n_workers workers, from its config (the host is
 * copied: cs may go once this returns). Freed with free(). NULL: no memory. */
struct fc_rt_server *fc_rt_server_create(const struct fc_config_server *cs, uint32_t n_workers);

struct fc_rt_queue;

struct fc_rt_pool {
	struct fc_pool *pool;
	struct fc_rt_queue *queue; /* NULL: no queue: (full means 503 at once) */
	const struct fc_config_pool *cfg;
	struct fc_tls_client *tls;         /* NULL when it has no https:// server */
	uint64_t started_unix_ms;          /* when a pool of this name first ran in this process */
	_Atomic uint64_t no_server_log_ms; /* last "no server" log line */
	atomic_uint no_server_count;       /* 503s since then */
	struct fc_pool_counters *ctr;      /* one per worker (counters.h): stats->ctr */
	struct fc_rt_pool_stats *stats;    /* kept across reloads by the pool's name */
};

/* A pool's counters, shared by the runtimes that have a pool of that name. */
struct fc_rt_pool_stats {
	atomic_uint refs;
	/* exchanges of the pool on a retry now, all workers (the retry budget;
	 * written only when a retry starts or ends, so rarely shared) */
	atomic_uint retrying;
	char pad[56];
	/* what the servers taken out while serving had counted (live.c; the
	 * control thread only): the pool's totals stay monotonic */
	struct {
		uint64_t code[5];
		uint64_t hist[FC_HIST_BUCKETS];
		uint64_t sum_ns;
	} gone;
	struct fc_pool_counters ctr[]; /* one per worker */
};

/* A rate limit of the runtime (ratelimit.h): its buckets, shared by every
 * worker and kept by a reload that leaves the limit's definition as it was. */
struct fc_ratelimit;
struct fc_rt_limit {
	const struct fc_config_rate_limit *cfg;
	struct fc_ratelimit *rl; /* referenced */
	struct fc_cidr *exempt;  /* cfg->exempt parsed */
	size_t n_exempt;
};

/* A worker's use of a runtime: exchanges started on it and not yet ended.
 * Touched by that worker only (its own cache line). */
struct fc_rt_use {
	uint32_t exchanges;
	char pad[60];
};

/* The live state built from one config snapshot: immutable once published,
 * shared by all workers, reference-counted (the control thread holds one
 * while it is current, each worker one while it is that worker's current
 * runtime or has exchanges on it). A reload publishes a new one; requests in
 * flight finish on the one they started on. */
struct fc_runtime {
	atomic_uint refs;
	struct fc_config *cfg;
	struct fc_rt_pool *pools; /* parallel to cfg->pools */
	size_t n_pools;
	struct fc_tls_server **tls; /* per listener (parallel to cfg->listeners); NULL: plain */
	struct fc_cidr *trusted;    /* client_ip.trusted parsed */
	struct fc_clientip_options clientip;
	struct fc_health *health; /* NULL: none (tests) */
	uint32_t n_workers;
	atomic_uint *conns;    /* client connections, all workers, all runtimes (the process's) */
	int access_fd;         /* -1: off; the process's (control.c), not closed with the runtime */
	atomic_uint own_conns; /* conns when no process counter was given */
	struct fc_rt_use *use; /* per worker */
	uint64_t generation;   /* 1 for the first, +1 per reload */
	struct fc_mailbox *wake_mb; /* the control thread's wake requests (wake.c); NULL: none */
	struct fc_rt_limit *limits; /* parallel to cfg->rate_limits */
	size_t n_limits;
	struct fc_mailbox *glimit_mb; /* global limits' lease refills (glimit.c); NULL: none */
};

/* How a runtime is built: all optional (NULL options: no health checks, no
 * previous runtime, random sticky secrets). */
struct fc_runtime_options {
	struct fc_loop *loop;                /* the control loop: health checks run there */
	const struct fc_health_hooks *hooks; /* for the health module */
	struct fc_runtime *prev;             /* the running one: state carries over by identity */
	const uint8_t *secret;               /* the process's sticky secret (state_dir) */
	size_t secret_len;
	atomic_uint *conns;           /* NULL: the runtime's own counter */
	int access_fd;                /* -1: off */
	struct fc_mailbox *wake_mb;   /* wake.c's, for pools with wake: (NULL: never woken) */
	struct fc_mailbox *glimit_mb; /* glimit.c's, for scope: global limits (NULL: none) */
};

/* Builds pools and servers from cfg (takes a reference): with o->prev,
 * servers of the same identity keep their records, counters and health
 * state; nothing of prev changes until fc_runtime_activate. Returns 0 or
 * -errno with a message in err. */
int fc_runtime_create(struct fc_config *cfg, uint32_t n_workers, const struct fc_runtime_options *o,
                      struct fc_runtime **out, char *err, size_t errlen);
/* Makes rt the running one in place of prev (may be NULL): prev's health
 * checks stop, rt's start, servers prev had and rt has not are marked
 * removed. Thread: control, before the workers are told. */
void fc_runtime_activate(struct fc_runtime *rt, struct fc_runtime *prev);
void fc_runtime_ref(struct fc_runtime *rt);
/* Drops a reference; the last one frees it. Thread: the control thread
 * frees (workers only drop references the control thread then sees at 0:
 * fc_runtime_unused). */
void fc_runtime_unref(struct fc_runtime *rt);
/* Frees rt (its last reference is gone, or it never ran). */
void fc_runtime_destroy(struct fc_runtime *rt);
/* The pool behind a route. */
struct fc_rt_pool *fc_runtime_pool(struct fc_runtime *rt, const struct fc_config_pool *cp);
/* The pool called name, or NULL. */
struct fc_rt_pool *fc_runtime_pool_named(struct fc_runtime *rt, const char *name);
/* True when a is one of client.ip.trusted. */
bool fc_runtime_is_trusted(const struct fc_runtime *rt, const struct fc_addr *a);

/* ---------------------------------------------------------------- queue */

/* One waiting request. */
struct fc_rt_queue_entry {
	struct fc_exchange *x;
	struct fc_worker *w; /* x's: the message goes to its mailbox */
	uint32_t seq;        /* x->qseq: order, and how a late message is told apart */
	bool asleep;         /* it waits for the pool to wake */
};

/* A pool's queue (queue.c, docs/traffic.md): the requests that found every
 * server at its max_conns (or the pool asleep), oldest first, shared by all
 * workers and kept across reloads by the pool's name. A slot given back on
 * one of the pool's capped servers goes to the oldest: it is taken out (it
 * is "handed") and its worker is told through its mailbox to pick again. */
struct fc_rt_queue {
	atomic_uint refs;
	_Atomic uint32_t waiting; /* len + handing, read without the lock */
	_Atomic uint32_t max;     /* queue.max of the newest configuration */
	pthread_mutex_t mu;
	struct fc_rt_queue_entry *ring; /* cap entries, len of them from head */
	uint32_t cap, head, len;
	uint32_t handing; /* taken out, their message not yet received */
	char *name;       /* the pool's */
	/* wake: (wake.c): the pool's state, written by the control thread; a
	 * worker's request for a wake (one in flight) */
	_Atomic uint8_t wake_state; /* enum fc_wake_state */
	atomic_bool wake_posting;
	struct fc_msg wake_msg;
};

/* A pool's wake: state (wake.c). */
enum fc_wake_state {
	FC_WAKE_AWAKE,    /* its servers run (or it has no wake:) */
	FC_WAKE_PROBING,  /* at start: are they up? requests wait for the answer */
	FC_WAKE_ASLEEP,   /* stopped: the next request wakes it */
	FC_WAKE_WAKING,   /* the command runs, or the checks have not passed yet */
	FC_WAKE_STOPPING, /* idle_after passed: stop_command runs */
};
const char *fc_wake_state_name(enum fc_wake_state st);
/* wake.c's handler of wake_msg (the control thread's mailbox, arg its
 * struct fc_wakes). */
void fc_wake_on_msg(struct fc_msg *m, void *arg);
/* Asks the control thread (mb: fc_runtime.wake_mb) to wake q's pool; one
 * message at a time. Thread: any worker. */
void fc_queue_want_wake(struct fc_rt_queue *q, struct fc_mailbox *mb);
/* The pool is not awake (asleep, waking, probing, stopping). */
static inline bool fc_queue_sleeping(const struct fc_rt_queue *q)
{
	return atomic_load_explicit(&((struct fc_rt_queue *)q)->wake_state, memory_order_acquire) !=
	       FC_WAKE_AWAKE;
}

enum fc_queue_add {
	FC_QUEUE_ADDED, /* in the queue; a freed slot will come to it */
	FC_QUEUE_FIRST, /* in the queue, first in line: pick once more (a slot may have
	                   been freed while it was not in the queue yet) */
	FC_QUEUE_FULL,  /* queue.max requests wait already: answer 503 */
	FC_QUEUE_NOMEM,
};

/* A queue for the pool called name with room for max. NULL: no memory. */
struct fc_rt_queue *fc_queue_create(const char *name, uint32_t max);
void fc_queue_ref(struct fc_rt_queue *q);
void fc_queue_unref(struct fc_rt_queue *q);
/* A reload's queue.max (the ring only grows). 0 or -ENOMEM. Thread: control. */
int fc_queue_set_max(struct fc_rt_queue *q, uint32_t max);
/* Adds x of worker w: at the end (x->qseq == 0: it gets its number), or,
 * woken but beaten to the slot (x->qseq set), back at its place. */
enum fc_queue_add fc_queue_add(struct fc_rt_queue *q, struct fc_worker *w, struct fc_exchange *x,
                               bool asleep);
/* x leaves (timeout, client gone, a server of its own): out of the ring if
 * it is there (a message on its way finds x->qseq changed). Clears x->qseq. */
void fc_queue_remove(struct fc_rt_queue *q, struct fc_exchange *x);
/* A slot of a capped server of the pool was given back (fc_pool_done): the
 * oldest waiting request gets it. Cheap when nobody waits. Thread: any. */
void fc_queue_release(struct fc_rt_queue *q);
/* Every waiting request picks again (the pool woke); fail: those waiting
 * for a wake answer 503 instead (it failed). Thread: any. */
void fc_queue_kick(struct fc_rt_queue *q, bool fail);
/* Requests waiting now (the metrics' queue length). */
static inline uint32_t fc_queue_waiting(const struct fc_rt_queue *q)
{
	return atomic_load_explicit(&((struct fc_rt_queue *)q)->waiting, memory_order_relaxed);
}

/* ---------------------------------------------------------------- upstream */

/* A connection to a server: its socket, its readiness, the response bytes
 * and the response parser. Owned by an exchange while in use, by the
 * worker's idle pool for its server otherwise. */
struct fc_upstream {
	struct fc_stream s;    /* first: the loop's pointer is the upstream's */
	struct fc_timer timer; /* idle timeout while pooled */
	struct fc_worker *w;
	struct fc_exchange *x;   /* owner while in use */
	struct fc_rt_server *rs; /* referenced until it closes */
	struct fc_buf *in;
	struct fc_h1 parser; /* response parser */
	struct fc_link idle_link;
	uint32_t rparsed; /* in->data[rpos..rparsed) is validated, forwardable */
	bool connecting, readable, writable, rdhup, eof, reset, reused, closed;
	/* protocol h2 (upstream_h2.c): this is one stream of the connection h2;
	 * s is unused, in holds the response's DATA */
	struct fc_h2up *h2;
	struct fc_link h2_link, h2_wake; /* in h2's users; in its wake-up list */
	struct fc_h2up_resp *resp;       /* the response's fields and trailers */
	int32_t h2_id;                   /* 0: not submitted yet */
	uint32_t h2_seen;                /* DATA bytes the exchange has looked at */
	uint16_t h2_status;
	bool h2_req; /* true: all of the above applies */
	bool h2_head, h2_end, h2_in_trailers, h2_closed, h2_refused, h2_bad, h2_deferred;
};

/* The worker's idle-pool purge: one timer per worker, and the list of its
 * per-server pools that hold connections (struct fc_rt_idle.active). Zero
 * (as in a calloc'ed worker) is a valid empty state. */
struct fc_upstream_purge {
	struct fc_timer timer;
	struct fc_link pools;
};
#define FC_UPSTREAM_PURGE_MS 1000 /* the purge period */

/* The purge arithmetic for one server's pool in one worker, once a period:
 * idle and used connections now, peak = most used at once during the period
 * that ends, *need = the estimate kept from earlier periods (updated).
 * Returns how many idle connections to close now (at most idle). Pure. */
uint32_t fc_upstream_purge_count(uint32_t idle, uint32_t used, uint32_t peak, uint32_t *need);

/* Pops an idle connection to server (checked alive) or starts a new connect.
 * Returns NULL with *err = -errno when the connect failed at once. */
struct fc_upstream *fc_upstream_get(struct fc_worker *w, struct fc_server *server,
                                    struct fc_tls_client *tls, int *err);
/* Pools u if it may be reused (and fewer than max_idle are idle), otherwise
 * closes it. Surplus idle connections are closed later by the purge. */
void fc_upstream_release(struct fc_upstream *u, bool reusable, uint32_t max_idle,
                         uint32_t idle_timeout_ms);
void fc_upstream_close(struct fc_upstream *u);
/* Closes every idle pooled connection of this worker (shutdown). */
void fc_upstream_close_idle(struct fc_worker *w);
/* Closes this worker's idle connections to servers the running
 * configuration no longer has (after a reload). */
void fc_upstream_close_removed(struct fc_worker *w);
/* Closes this worker's idle connections to one server (it went down). */
void fc_upstream_close_idle_server(struct fc_worker *w, struct fc_rt_server *rs);

/* I/O. Each returns > 0 on progress, 0 when it would block (or has no room),
 * < 0 (-errno) when the connection failed. */
/* A connect in progress finished: 1 connected, 0 not yet, -errno failed. */
int fc_upstream_connected(struct fc_upstream *u);
ssize_t fc_upstream_send(struct fc_upstream *u, const struct iovec *iov, int n);
/* Reads into u->in (taking a buffer when needed). EOF sets u->eof and
 * counts as progress; a reset also sets u->reset. */
int fc_upstream_recv(struct fc_upstream *u);

enum fc_upstream_head {
	FC_UP_HEAD_AGAIN,    /* not all there yet */
	FC_UP_HEAD_OK,       /* *hd parsed, head of *len bytes at in->rpos; a body follows */
	FC_UP_HEAD_COMPLETE, /* the same, and the response has no body */
	FC_UP_HEAD_EMPTY,    /* EOF before any byte: the server closed */
	FC_UP_HEAD_CUT,      /* EOF inside the head */
	FC_UP_HEAD_TOO_BIG,  /* the head does not fit the buffer */
	FC_UP_HEAD_BAD,      /* malformed (*err says why) */
};
/* Looks for and parses the response head (head_request: the request was
 * HEAD). The head's bytes stay in u->in until the caller consumes them. */
enum fc_upstream_head fc_upstream_parse_head(struct fc_upstream *u, bool head_request,
                                             struct fc_h1_head *hd, size_t *len, const char **err);

enum fc_upstream_body {
	FC_UP_BODY_AGAIN,    /* nothing new */
	FC_UP_BODY_MORE,     /* more bytes validated (u->rparsed moved) */
	FC_UP_BODY_COMPLETE, /* the response ended; *extra: bytes nobody asked for were dropped */
	FC_UP_BODY_BAD,      /* malformed: what was valid is forwardable, then cut */
	FC_UP_BODY_CUT,      /* EOF or reset before the end */
};
/* Validates response body bytes (de-chunking in place when dechunk).
 * close_delimited: the body ends at EOF. */
enum fc_upstream_body fc_upstream_parse_body(struct fc_upstream *u, bool dechunk,
                                             bool close_delimited, bool *extra, const char **err);

/* ---------------------------------------------------------------- upstream_h2 */

/* A request on an HTTP/2 connection of this worker to server (one with
 * room for a stream, or a new one). NULL with *err = -errno. */
struct fc_upstream *fc_h2up_get(struct fc_worker *w, struct fc_server *server,
                                struct fc_tls_client *tls, uint32_t idle_timeout_ms, int *err);
/* As fc_upstream_connected: 1 once the connection is up. */
int fc_h2up_connected(struct fc_upstream *u);
/* Submits the request (first call) and moves its body: > 0 progress, 0
 * none, -errno failed. */
ssize_t fc_h2up_send(struct fc_upstream *u, struct fc_exchange *x);
/* The response head as an fc_h1_head (fields in u's storage). */
enum fc_upstream_head fc_h2up_parse_head(struct fc_upstream *u, struct fc_h1_head *hd);
enum fc_upstream_body fc_h2up_parse_body(struct fc_upstream *u);
/* The client side took n bytes of u->in: the server may send n more. */
void fc_h2up_consumed(struct fc_upstream *u, size_t n);
/* The response's trailers into nv, an array of cap nghttp2_nv (valid while
 * u is). Their count. */
size_t fc_h2up_trailers(const struct fc_upstream *u, void *nv, size_t cap);
/* Ends the request (its stream is reset if still open). */
void fc_h2up_close(struct fc_upstream *u);
/* Closes this worker's HTTP/2 connections without requests (to rs only,
 * or to removed servers only). */
void fc_h2up_close_idle(struct fc_worker *w, struct fc_rt_server *rs, bool only_removed);

/* ---------------------------------------------------------------- exchange */

#define FC_EXCHANGE_MAX_TRIES 8
/* fc_exchange.qseq: queue numbers (queue.c) have this many bits. */
#define FC_QUEUE_SEQ_BITS 30
_Static_assert(FC_CONFIG_MAX_RETRIES + 1 <= FC_EXCHANGE_MAX_TRIES,
               "every configured retry must have a slot in fc_exchange.tried");
#define FC_EXCHANGE_LINE_MAX 256
/* The User-Agent bytes kept for the access log (the rest is cut). With the
 * sticky values at their real size this keeps struct fc_exchange at 1,016
 * bytes, one 1,024-byte malloc chunk. */
#define FC_EXCHANGE_UA_MAX 112
_Static_assert(FC_EXCHANGE_UA_MAX <= UINT8_MAX, "fc_exchange.ua_len is a byte");
/* A sticky cookie value and its NUL ("<8 hex>.<22 base64url>", fulcrum.h's
 * fc_sticky_encode): a longer cookie cannot be valid. */
#define FC_EXCHANGE_STICKY_MAX 32

/* Where an exchange is on its way to the server and back. The one deadline
 * of each phase: QUEUED the pool's queue.timeout, BACKOFF the wait it drew,
 * CONNECT connect_timeout, SEND body_timeout of inactivity, WAIT
 * retry.per_try_timeout (default response_timeout), RESPOND body_timeout of
 * inactivity, TUNNEL tunnel_timeout of inactivity. */
enum fc_exchange_phase {
	FC_X_PICK,    /* no server connection (before the pick, between retries) */
	FC_X_QUEUED,  /* waiting in its pool's queue (queue.c): queue.timeout */
	FC_X_BACKOFF, /* waiting retry.backoff before the next attempt (no server held) */
	FC_X_CONNECT, /* connecting to the server */
	FC_X_SEND,    /* sending the request; no response head yet */
	FC_X_WAIT,    /* request sent whole, waiting for the response head */
	FC_X_RESPOND, /* response head forwarded, body streaming */
	FC_X_DONE,    /* response complete (may still be flushing to the client) */
	FC_X_TUNNEL,  /* a 101 turned the connections into a tunnel (tunnel.c) */
};

/* An HTTP/1 request body's first bytes kept for a retry once they had to
 * leave the client's input buffer (at most retry.replay_buffer): data[0..len)
 * are the body's first len bytes (as the client framed them), sent how many
 * of them the current attempt has sent. malloc'ed; the exchange owns it. */
struct fc_replay {
	uint32_t len, sent, cap;
	char data[];
};

/* One request: routing, picking, retries, the upstream connection, the
 * outcome. From a per-worker free list. */
struct fc_exchange {
	struct fc_exchange *next_free;
	struct fc_runtime *rt; /* the snapshot it started on (counted in rt->use) */
	struct fc_client *c;
	struct fc_upstream *up;
	struct fc_rt_pool *pool;
	struct fc_h2_stream *h2s; /* HTTP/2: the client stream it answers; NULL: HTTP/1 */
	struct fc_server *server; /* the current pick (counted active) */
	struct fc_server *tried[FC_EXCHANGE_MAX_TRIES];
	uint8_t n_tried;
	uint8_t attempts; /* upstream attempts so far */
	uint8_t phase;    /* enum fc_exchange_phase */
	uint8_t retries;  /* attempts after the first (for the access log) */
	uint8_t fail_why; /* enum fc_retry_why of the attempt that failed, until the next one */
	uint8_t ua_len;
	uint16_t line_len;
	/* the request head complete; the current attempt's pick, its
	 * connection ready (0: none yet; its pick time when reused), the
	 * response head */
	uint64_t start_ns, up_start_ns, up_conn_ns, up_head_ns;
	uint64_t phase_ms;        /* start of the current phase */
	struct fc_buf *head;      /* the rewritten request head */
	struct fc_replay *replay; /* HTTP/1: body bytes kept for a retry (NULL: none) */
	uint32_t head_sent;
	uint32_t host_at;    /* head offset of the Host line fulcrum added (0: none) */
	uint32_t body_start; /* client in-buffer index where the body begins */
	uint32_t sent;       /* client bytes [body_start, sent) written upstream */
	uint32_t parsed;     /* client bytes up to here are validated */
	uint32_t retry_why;  /* why each retry was made: 4 bits each, the first lowest */
	uint64_t bytes_out;  /* bytes sent to the client */
	uint64_t bytes_in;   /* tunnel: client bytes sent to the server after the head */
	int status;
	uint8_t method;
	/* safe to repeat once it may have reached a server: an idempotent
	 * method, or an Idempotency-Key with retry.idempotency_key */
	bool idempotent;
	bool replayable, complete;
	bool resp_started, resp_dechunk, resp_close_delimited;
	bool aborted;
	bool client_10, client_keepalive, close_after, up_reusable;
	/* set once or seldom: bits (this keeps the exchange in its chunk) */
	bool stale_retry_used : 1, timed_out : 1, logged : 1, no_retry : 1;
	bool has_key : 1, has_sticky_in : 1, sticky_set : 1, secure : 1;
	bool counted : 1; /* metrics: a server's answer was counted */
	bool upgrade : 1; /* the request asks for an upgrade (forwarded) */
	bool has_ua : 1;  /* the request has a User-Agent (ua) */
	/* tunnel: write side shut towards the server, the client */
	bool tun_up_shut : 1, tun_c_shut : 1;
	bool budget_held : 1; /* counted in the pool's retries in flight (stats->retrying) */
	bool body_big : 1;    /* its Content-Length is over retry.replay_buffer */
	bool retry_same : 1;  /* the next attempt goes to the server that just failed */
	uint8_t key_len, sticky_in_len;
	uint8_t same_tries; /* attempts on the current server after its first (retry.same_server) */
	uint8_t limited_by; /* the rate limit that answered 429: its index + 1 in rt->limits */
	uint16_t backoff_ms;                    /* FC_X_BACKOFF: the wait */
	struct fc_addr client;                  /* the real client IP */
	char key[128];                          /* hash key bytes (copied: retries pick again) */
	char sticky_in[FC_EXCHANGE_STICKY_MAX]; /* the sticky cookie the client sent */
	char sticky[FC_EXCHANGE_STICKY_MAX];    /* the sticky cookie value to set */
	char server_name[64];                   /* for the access log */
	char line[FC_EXCHANGE_LINE_MAX];        /* "METHOD PATH PROTO" for the access log */
	char ua[FC_EXCHANGE_UA_MAX]; /* the User-Agent's first bytes, for the access log */
	/* its place in its pool's queue while QUEUED (queue.c), 0 otherwise: a
	 * message handing it a slot carries it, so one for an exchange that
	 * left (or for an earlier request of this memory) is told apart; and
	 * how it waits there (bits: this keeps the exchange in its chunk) */
	unsigned qseq : FC_QUEUE_SEQ_BITS;
	unsigned q_asleep : 1; /* it waits for the pool to wake (not for a slot) */
	unsigned q_html : 1;   /* a browser (Accept: text/html): a starting-up page after 1 s */
	/* the request parser: initialised once when the exchange is first
	 * allocated; fc_h1_parse_head resets it for every head */
	struct fc_h1 parser;
};
_Static_assert(sizeof(struct fc_exchange) <= 1016,
               "one 1,024-byte malloc chunk per request in flight, see docs/architecture.md");

/* queue.c says: the exchange was handed a server slot (or the pool woke):
 * it picks again; fail: the pool's wake failed, it answers 503. Then its
 * client runs. */
void fc_exchange_dequeued(struct fc_exchange *x, bool fail);

/* Starts an exchange for the head of head_len bytes at the client's
 * in->rpos: parses it, routes, picks, connects (or answers an error). */
void fc_exchange_start(struct fc_client *c, size_t head_len);
/* Steps of the client's pump; each returns true on progress. */
bool fc_exchange_send(struct fc_exchange *x);
bool fc_exchange_receive(struct fc_exchange *x);
/* Ends the exchange once the response is complete and flushed. */
bool fc_exchange_maybe_finish(struct fc_exchange *x);
/* The phase's deadline (ms), or 0 when the client's own applies. */
uint64_t fc_exchange_deadline(const struct fc_exchange *x);
/* The deadline passed. */
void fc_exchange_timeout(struct fc_exchange *x);
/* Ends the exchange with an error response (close: then close the client). */
void fc_exchange_fail(struct fc_exchange *x, int status, bool close);
/* The client went away: ends the exchange without a response. */
void fc_exchange_abandon(struct fc_exchange *x);
/* The client's input buffer is full: the body bytes x sent from it
 * ([body_start, sent)) must leave it. They are kept in x->replay while the
 * request may still be repeated and the body fits retry.replay_buffer;
 * otherwise (or without memory) the request can no longer be repeated. The
 * caller then drops them from the buffer. */
void fc_exchange_replay_keep(struct fc_exchange *x);
/* Moves a sending exchange to waiting once everything is written upstream
 * (the response timeout starts then). */
void fc_exchange_check_sent(struct fc_exchange *x);
/* True once the rewritten head and every body byte were written upstream. */
bool fc_h2_body_done(const struct fc_exchange *x);
static inline bool fc_exchange_sent_all(const struct fc_exchange *x)
{
	return x->complete && x->head && x->head_sent == x->head->wpos && x->sent == x->parsed &&
	       (!x->replay || x->replay->sent == x->replay->len) && (!x->h2s || fc_h2_body_done(x));
}
/* Starts the exchange of an HTTP/2 stream whose head hd was built from its
 * fields (status: what to answer at once instead, 0: none). */
void fc_exchange_start_h2(struct fc_client *c, struct fc_h2_stream *s, struct fc_h1_head *hd,
                          int status);

/* Ends a tunnel: reports the server's outcome (101, no blame), writes the
 * access log line, closes the upstream connection (never pooled) and the
 * client. */
void fc_exchange_end_tunnel(struct fc_exchange *x);

/* ---------------------------------------------------------------- ratelimit */

/* The rate limits of route r and of x's pool, for the request whose head is
 * hd (x->client is its real client): 0 when it may go on; else the limit
 * that refused it (its index + 1 in x->rt->limits), with its 429 response
 * (close: it says Connection: close) in out[0..*n). A limit that let the
 * request pass gives its token back when another refuses it. */
unsigned fc_rate_limit_check(struct fc_exchange *x, const struct fc_h1_head *hd,
                             const struct fc_config_route *r, bool close, char *out, size_t cap,
                             size_t *n);

/* ---------------------------------------------------------------- tunnel */

/* Turns x into a tunnel after its 101 head was queued for the client: from
 * now on the client's pump runs fc_tunnel_step. Client bytes after the
 * request (c->in from x->sent) and server bytes after the 101 (u->in) are
 * the tunnel's first bytes. */
void fc_tunnel_start(struct fc_exchange *x);
/* One step of the tunnel: bytes both ways through the client's and the
 * upstream's buffers (taken on demand, released when empty), each EOF
 * passed on as a half-close; ends it when both directions ended or on an
 * error. True on progress. */
bool fc_tunnel_step(struct fc_exchange *x);

/* ---------------------------------------------------------------- client */

enum fc_client_state { FC_C_IDLE, FC_C_HEAD, FC_C_ACTIVE, FC_C_CLOSING };

/* A client connection: its socket, buffers, keep-alive and closing. From the
 * worker's slab; an idle one is just this (the request parser lives in the
 * exchange, buffers are released), so it is kept small. */
struct fc_client {
	struct fc_stream s; /* first: the loop's pointer is the client's */
	struct fc_timer timer;
	struct fc_worker *w;
	struct fc_buf *in;  /* from the client */
	struct fc_buf *out; /* to the client, before upstream bytes */
	union {
		struct fc_exchange *x; /* HTTP/1: the request in progress, or NULL */
		struct fc_h2 *h2;      /* HTTP/2 (is_h2): the session, whose streams have theirs */
	};
	struct fc_addr peer;
	uint32_t scan;      /* head terminator scan position */
	uint32_t phase_ms;  /* start of the idle/head/closing phase (fc_client_time) */
	uint32_t active_ms; /* last progress (fc_client_time) */
	uint16_t listener;  /* index in w->listeners */
	uint8_t state;
	/* plain bools, not bit-fields: they are written on every event, and
	 * bit-fields cost ~40 instructions a request (measured) to save bytes
	 * that are padding anyway */
	bool readable, writable, rdhup, eof, closed, in_run, rerun, resume;
	bool served, lingering, quick_close, is_h2;
};
_Static_assert(sizeof(struct fc_client) <= 136, "an idle connection costs this, see docs");

void fc_client_accept(struct fc_worker *w, struct fc_listener *l, int fd,
                      const struct sockaddr *peer);
/* Lets the client make progress after its exchange or upstream changed. */
void fc_client_run(struct fc_client *c);
void fc_client_close(struct fc_client *c);
/* Called by the worker on shutdown: idle clients close now, busy ones after
 * their current response. */
void fc_client_shutdown(struct fc_client *c);
/* Queues bytes for the client ahead of upstream bytes. False when there is
 * no buffer or no room (the caller then fails the connection). */
bool fc_client_out_append(struct fc_client *c, const char *p, size_t n);
/* A buffer for output (taken on demand, compacted). False when none. */
bool fc_client_out_reserve(struct fc_client *c);
/* Sends what is queued, then closes gracefully (lingering). */
void fc_client_start_closing(struct fc_client *c);
/* The exchange ended: close, linger or wait for the next request. */
void fc_client_exchange_done(struct fc_client *c, bool close, bool aborted);
/* Validates request body bytes for the exchange. */
bool fc_client_request_body(struct fc_client *c);
/* Reads into c->in; writes c->out (and, HTTP/1, the response bytes of its
 * exchange). True on progress. */
bool fc_client_read(struct fc_client *c);
bool fc_client_write(struct fc_client *c);

/* ---------------------------------------------------------------- client_h2 */

/* Whether p[0..n) starts like the HTTP/2 connection preface (*whole: all
 * 24 bytes of it are there). */
bool fc_h2_preface(const char *p, size_t n, bool *whole);
/* Makes c an HTTP/2 connection (ALPN h2, or the preface on a
 * prior_knowledge listener); c->in holds its first bytes. False: no memory. */
bool fc_h2_start(struct fc_client *c);
/* The pump of an HTTP/2 connection (fc_client_run's). True on progress. */
bool fc_h2_run(struct fc_client *c);
/* The connection's timer fired. */
void fc_h2_timeout(struct fc_client *c);
/* GOAWAY: streams open now finish, later ones are refused; the connection
 * closes once the last one ended. */
void fc_h2_goaway(struct fc_client *c);
/* Frees the session (fc_client_close's): open exchanges are abandoned. */
void fc_h2_close(struct fc_client *c);
/* The exchange's upstream moved: its stream runs. */
void fc_h2_ready(struct fc_exchange *x);
/* The exchange sets up its stream (fc_exchange_start_h2), ends (the
 * stream forgets it), or could not be had (the stream is reset). */
void fc_h2_stream_attach(struct fc_h2_stream *s, struct fc_exchange *x);
void fc_h2_stream_attach_end(struct fc_exchange *x);
void fc_h2_stream_refuse(struct fc_h2_stream *s);
/* The stream's exchange, or NULL once it ended. */
struct fc_exchange *fc_h2_stream_exchange(struct fc_h2_stream *s);
/* The request body for the server: up to 3 iovecs (chunk framing when the
 * client gave no content-length), then how many bytes of them were sent. */
int fc_h2_body_iov(struct fc_exchange *x, struct iovec *iov);
void fc_h2_body_sent(struct fc_exchange *x, size_t n);
/* The body bytes not yet sent (an HTTP/2 server's DATA: no chunk framing). */
const char *fc_h2_body_peek(struct fc_exchange *x, size_t *n);
void fc_h2_body_raw(struct fc_exchange *x);
/* The response's end (EOF) went to nghttp2. */
bool fc_h2_eof_sent(const struct fc_h2_stream *s);
/* A new attempt sends the body from its start. */
void fc_h2_body_rewind(struct fc_exchange *x);
/* The response head from the server (no_body: nothing follows). False:
 * the stream is gone. */
bool fc_h2_respond(struct fc_exchange *x, const struct fc_h1_head *hd, const char *cookie,
                   size_t cookie_len, bool no_body);
/* Response bytes were parsed (or it ended): DATA may go on. */
void fc_h2_data_ready(struct fc_exchange *x);
/* After the exchange ended: a response of fulcrum's own (an HTTP/1.1
 * response's bytes, turned into fields), the end of a response (aborted:
 * RST_STREAM), a cut. */
void fc_h2_respond_local(struct fc_h2_stream *s, const char *resp, size_t n);
void fc_h2_stream_done(struct fc_h2_stream *s, bool aborted);
void fc_h2_reset(struct fc_h2_stream *s);

/* ---------------------------------------------------------------- worker */

/* io_uring: accepts kept in flight per listener and worker. */
#define FC_ACCEPTS_IN_FLIGHT 8

struct fc_accept_slot {
	struct fc_accept a; /* first: the loop's pointer is the slot's */
	struct fc_listener *l;
};

/* One listening socket of a worker. Kept across reloads while its address
 * stays (cfg then points into the new configuration); a listener a reload
 * removed stops accepting, its clients finish their request and close, and
 * its slot is reused once they are gone. */
struct fc_listener {
	struct fc_io io; /* the listening socket; epoll watches it; -1 once removed */
	struct fc_worker *w;
	const struct fc_config_listener *cfg;
	struct fc_config *cfg_ref;    /* removed: a reference on the config cfg points into */
	struct fc_accept_slot *slots; /* io_uring: FC_ACCEPTS_IN_FLIGHT of them; else NULL */
	struct fc_listener *next_retired;
	uint32_t n_clients; /* client connections accepted here and still open */
	uint16_t index;     /* in w->listeners (fc_client.listener) */
	bool paused, removed;
};

struct fc_worker {
	uint32_t id;
	pthread_t thread;
	struct fc_loop loop;
	struct fc_runtime *rt;
	const struct fc_config *cfg;
	struct fc_buf_pool bufs;
	struct fc_h1_head scratch;      /* the head being looked at right now */
	struct fc_listener **listeners; /* slots; a removed one stays while it has clients */
	size_t n_listeners;
	struct fc_listener *retired_listeners; /* freed with the worker (io_uring may still
	                                          complete their cancelled accepts) */
	atomic_uint *conns;                    /* client connections, all workers */
	struct fc_timer accept_retry;
	struct fc_timer grace;
	struct fc_mailbox mailbox; /* from the control thread */
	struct fc_msg stop_msg;    /* posted once to stop */
	uint32_t grace_ms;         /* written before stop_msg is posted */
	uint64_t rng;
	struct fc_slab clients; /* every client connection of this worker */
	uint32_t n_clients;
	void **deferred; /* freed after the current batch of events */
	uint32_t n_deferred, cap_deferred;
	struct fc_exchange *free_exchanges;
	struct fc_upstream_purge upurge; /* upstream.c */
	struct fc_link h2_conns;         /* upstream_h2.c: HTTP/2 connections to servers */
	struct fc_accesslog *alog;       /* lines waiting for the flush (accesslog.c); free() */
	struct fc_worker_counters ctr;   /* metrics (counters.h) */
	bool draining;
	bool started; /* its thread runs */
};

/* Client timestamps are the loop's millisecond clock cut to 32 bits. */
static inline uint32_t fc_client_now(const struct fc_client *c)
{
	return (uint32_t)c->w->loop.now_ms;
}
/* The full loop time of a stamp taken less than 49 days ago (wrap-safe). */
static inline uint64_t fc_client_time(const struct fc_client *c, uint32_t stamp)
{
	uint64_t now = c->w->loop.now_ms;
	return now - (uint32_t)((uint32_t)now - stamp);
}

/* Creates n workers (listeners bound) for rt, each holding a reference on
 * it; conns counts client connections across all of them. Returns 0 or
 * -errno with err. */
int fc_workers_start(struct fc_runtime *rt, atomic_uint *conns, struct fc_worker **out, uint32_t n,
                     char *err, size_t errlen);
/* The listening sockets a reload to cfg needs, for n workers: fds[w * n_listeners + i]
 * is a new socket for cfg->listeners[i], or -1 where a listener of prev (same
 * address) is kept. 0, or -errno with err (nothing left open). Thread: control. */
int fc_workers_listen(const struct fc_config *cfg, const struct fc_config *prev, uint32_t n,
                      int **fds, char *err, size_t errlen);
/* Tells every worker to run new requests on rt (a reference is taken for
 * each) with the listening sockets fds (from fc_workers_listen, taken over).
 * Returns at once; each worker switches at its next turn. Thread: control. */
void fc_workers_swap(struct fc_worker *ws, uint32_t n, struct fc_runtime *rt, int *fds);
/* Asks every worker to drain: stop accepting, finish in-flight requests
 * within grace_ms, then exit; joins them. */
void fc_workers_stop(struct fc_worker *ws, uint32_t n, uint32_t grace_ms);
/* Tells every worker (through its mailbox) to close its idle connections to
 * srv, which takes no new requests. Thread: control. */
void fc_workers_server_down(struct fc_worker *ws, uint32_t n, struct fc_server *srv);

/* Frees p after the current batch of events (the loop may still hold a
 * pointer to it). */
void fc_worker_defer_free(struct fc_worker *w, void *p);
void fc_worker_conn_closed(struct fc_worker *w);
struct fc_exchange *fc_worker_take_exchange(struct fc_worker *w);
void fc_worker_release_exchange(struct fc_worker *w, struct fc_exchange *x);

/* ---------------------------------------------------------------- control */

/* Appends one access log line for the finished exchange. */
void fc_accesslog_write(struct fc_exchange *x, uint64_t now_ns);
void fc_accesslog_flush(struct fc_worker *w);

#endif
