/* counters.h — what the metrics are summed from: counters each written by one
 * worker only (per server and worker in struct fc_rt_idle, per worker in
 * struct fc_worker, per pool and worker in struct fc_rt_pool), read by the
 * control thread when /metrics is scraped. No counter here is written by
 * every worker: a single writer increments with a relaxed load and a relaxed
 * store (a plain add on x86, no lock prefix; TSan still sees atomics).
 * Building with -DFULCRUM_NO_METRICS compiles the increments out (to measure
 * what they cost). */
#ifndef FC_COUNTERS_H
#define FC_COUNTERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy/accesslog.h"

/* Request duration buckets (upper bounds, seconds: 0.005 ... 10, then +Inf). */
#define FC_HIST_FINITE  11
#define FC_HIST_BUCKETS (FC_HIST_FINITE + 1)
static const uint64_t fc_hist_bounds_ns[FC_HIST_FINITE] = {
        5000000ull,   10000000ull,   25000000ull,   50000000ull,   100000000ull,   250000000ull,
        500000000ull, 1000000000ull, 2500000000ull, 5000000000ull, 10000000000ull,
};

/* One histogram: counts per bucket (not cumulative), the sum of durations. */
struct fc_hist {
	_Atomic uint64_t b[FC_HIST_BUCKETS];
	_Atomic uint64_t sum_ns;
};

/* Why an attempt on a server failed (its fault: FC_BLAME_SERVER). */
enum fc_fail_kind {
	FC_FAIL_NONE,
	FC_FAIL_CONNECT,      /* refused or failed connect, TLS handshake */
	FC_FAIL_TIMEOUT,      /* connect or response timeout */
	FC_FAIL_RESET,        /* closed or reset before the response was complete */
	FC_FAIL_BAD_RESPONSE, /* malformed or oversized response head, stray 101 */
	FC_FAIL_STATUS_5XX,   /* answered 500..599 */
	FC_FAIL_KINDS,
};

/* Per server and worker (struct fc_rt_idle.ctr): responses the server gave
 * by class (1xx..5xx), its failures by kind, the duration of the requests it
 * answered (from the request head to the end of the response). */
struct fc_srv_counters {
	_Atomic uint64_t code[5];
	_Atomic uint64_t fail[FC_FAIL_KINDS];
	struct fc_hist dur;
};

/* The protocol a client spoke, for the metrics. */
enum fc_proto { FC_PROTO_H1, FC_PROTO_H2, FC_PROTO_N };

/* Per pool and worker: requests of the pool no server answered (no server
 * to pick, every attempt failed, the client left first), by the class of
 * the status the client got, and their duration; and all its requests by
 * the protocol their client spoke. */
struct fc_pool_counters {
	_Atomic uint64_t code[5];
	_Atomic uint64_t proto[FC_PROTO_N]; /* every request routed here, by client protocol */
	struct fc_hist dur;
	_Atomic uint64_t budget_exhausted; /* retries the retry budget refused */
	/* requests of the pool in flight on this worker (a gauge, kept even
	 * with FULCRUM_NO_METRICS: the retry budget is a share of their sum) */
	_Atomic uint64_t active;
	/* its queue (docs/traffic.md): time each request waited there, requests
	 * that waited queue.timeout, requests refused because it was full */
	struct fc_hist qwait;
	_Atomic uint64_t qtimeouts, qfull;
} __attribute__((aligned(64))); /* one cache line or more per worker */

/* Per worker (struct fc_worker.ctr). */
struct fc_worker_counters {
	_Atomic uint64_t retries[FC_RETRY_N];  /* by enum fc_retry_why (accesslog.h) */
	_Atomic uint64_t requests[FC_PROTO_N]; /* requests started, by client protocol */
	_Atomic uint64_t h2_connections;       /* client connections that spoke HTTP/2 */
	_Atomic uint64_t h2_calm;              /* ... ended for too many glitches */
};

static inline void fc_ctr_add(_Atomic uint64_t *c, uint64_t n)
{
#ifndef FULCRUM_NO_METRICS
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
#else
	(void)c;
	(void)n;
#endif
}

static inline void fc_ctr_inc(_Atomic uint64_t *c)
{
	fc_ctr_add(c, 1);
}

/* The single writer moves a gauge by d (+1 or -1); never compiled out. */
static inline void fc_gauge_add(_Atomic uint64_t *g, int64_t d)
{
	atomic_store_explicit(g, atomic_load_explicit(g, memory_order_relaxed) + (uint64_t)d,
	                      memory_order_relaxed);
}

/* A relaxed read for the control thread. */
static inline uint64_t fc_ctr_get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

/* The bucket of a duration. */
static inline unsigned fc_hist_bucket(uint64_t ns)
{
	unsigned i = 0;
	while (i < FC_HIST_FINITE && ns > fc_hist_bounds_ns[i])
		i++;
	return i;
}

static inline void fc_hist_observe(struct fc_hist *h, uint64_t ns)
{
#ifndef FULCRUM_NO_METRICS
	fc_ctr_inc(&h->b[fc_hist_bucket(ns)]);
	fc_ctr_add(&h->sum_ns, ns);
#else
	(void)h;
	(void)ns;
#endif
}

/* Adds one worker's histogram h to counts and *sum_ns (the control thread,
 * summing every worker's). sum_ns may be NULL. */
static inline void fc_hist_sum(const struct fc_hist *h, uint64_t counts[FC_HIST_BUCKETS],
                               uint64_t *sum_ns)
{
	for (int k = 0; k < FC_HIST_BUCKETS; k++)
		counts[k] += fc_ctr_get(&h->b[k]);
	if (sum_ns)
		*sum_ns += fc_ctr_get(&h->sum_ns);
}

/* The class index (0 = 1xx ... 4 = 5xx) of a status, or -1. */
static inline int fc_status_class(int status)
{
	return status >= 100 && status <= 599 ? status / 100 - 1 : -1;
}

/* One attempt on a server ended. answered: the server sent a final response
 * head with this status; kind: the failure (FC_FAIL_NONE: none); dur_ns:
 * since the request head arrived. Thread: the worker owning c. */
static inline void fc_ctr_attempt(struct fc_srv_counters *c, bool answered, int status,
                                  enum fc_fail_kind kind, uint64_t dur_ns)
{
	if (answered) {
		int k = fc_status_class(status);
		if (k >= 0)
			fc_ctr_inc(&c->code[k]);
		if (k == 4)
			fc_ctr_inc(&c->fail[FC_FAIL_STATUS_5XX]);
		fc_hist_observe(&c->dur, dur_ns);
	}
	if (kind != FC_FAIL_NONE)
		fc_ctr_inc(&c->fail[kind]);
}

/* A request of the pool ended without a server's answer. */
static inline void fc_ctr_unserved(struct fc_pool_counters *c, int status, uint64_t dur_ns)
{
	int k = fc_status_class(status);
	if (k >= 0)
		fc_ctr_inc(&c->code[k]);
	fc_hist_observe(&c->dur, dur_ns);
}

#endif
