/* exchange.c — one request on its way through fulcrum: parse its head, route
 * it, gather what picking needs, pick a server, send the request, take the
 * response head and stream the response back, retry within the budget, and
 * report the outcome once, saying who is to blame. Its phase is one enum
 * (struct fc_exchange.phase) with one deadline per phase. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "health/health.h"
#include "http/h1_write.h"
#include "proxy/accesslog.h"
#include "proxy/proxy.h"
#include "tls/tls.h"
#include "proxy/reqinfo.h"
#include "proxy/retry.h"

#define NO_SERVER_LOG_MS 1000 /* at most one "no server" line per pool per second */

_Static_assert(FC_CONFIG_MAX_RETRIES + 1 <= FC_ACCESSLOG_MAX_REASONS,
               "the retries and the stale retry each have a reason in fc_exchange.retry_why");
_Static_assert(FC_RETRY_N <= 16, "a retry reason is 4 bits");

static void pick_and_connect(struct fc_exchange *x);
static void budget_release(struct fc_exchange *x);
static bool route(struct fc_exchange *x, const struct fc_h1_head *hd);
static void queue_leave(struct fc_exchange *x, uint64_t queued_ms);

static inline struct fc_worker *xw(const struct fc_exchange *x)
{
	return x->c->w;
}

static void set_phase(struct fc_exchange *x, enum fc_exchange_phase p)
{
	x->phase = (uint8_t)p;
	x->phase_ms = xw(x)->loop.now_ms;
}

/* ---------------------------------------------------------------- outcome */

/* The one place an attempt's outcome is reported: to libfulcrum (counters,
 * learning algorithms), to the server's health (passive detection), with
 * who is to blame, and to the metrics (kind: the failure when it is the
 * server's). Only FC_BLAME_SERVER counts as the server's failure. */
static void report(struct fc_exchange *x, enum fc_blame blame, int status, const char *what,
                   enum fc_fail_kind kind)
{
	struct fc_server *srv = x->server;
	if (!srv)
		return;
	struct fc_worker *w = xw(x);
	uint64_t now = w->loop.now_ns;
	struct fc_rt_server *rs = fc_server_user(srv);
	struct fc_outcome o = {
	        .status = status,
	        .failed = blame == FC_BLAME_SERVER,
	        .latency_ns = (x->up_head_ns ? x->up_head_ns : now) - x->up_start_ns,
	};
	struct fc_health_server *hs =
	        rs ? atomic_load_explicit(&rs->health, memory_order_acquire) : NULL;
	if (hs)
		fc_health_report(hs, blame, status, what, now);
	if (rs) {
		/* a final head came from this server: x->status is its answer */
		x->counted = x->up_head_ns != 0;
		fc_ctr_attempt(&rs->idle[w->id].ctr, x->counted, x->status,
		               blame == FC_BLAME_SERVER ? kind : FC_FAIL_NONE, now - x->start_ns);
	}
	struct fc_rt_queue *q = x->pool->queue;
	bool capped = q && fc_server_max_conns(srv) != 0; /* srv may go with the reference */
	fc_pool_done(x->pool->pool, srv, &o, now);        /* drops the pick's reference */
	x->server = NULL;
	if (capped)
		fc_queue_release(q); /* the slot goes to the oldest request waiting */
}

/* Ends the exchange: reports it if a server is still counted for it (blame
 * as given), writes its access log line once, gives its memory back. */
static void exchange_end(struct fc_exchange *x, enum fc_blame blame, const char *what,
                         enum fc_fail_kind kind)
{
	struct fc_client *c = x->c;
	struct fc_worker *w = c->w;
	if (x->phase == FC_X_QUEUED)
		queue_leave(x, x->phase_ms); /* timed out, or its client went away */
	report(x, blame, x->status, what, kind);
	if (!x->counted && x->pool)
		fc_ctr_unserved(&x->pool->ctr[w->id], x->status, w->loop.now_ns - x->start_ns);
	if (!x->logged)
		fc_accesslog_write(x, w->loop.now_ns);
	if (x->up) {
		fc_upstream_close(x->up);
		x->up = NULL;
	}
	if (x->pool) {
		budget_release(x);
		if (x->pool->ctr)
			fc_gauge_add(&x->pool->ctr[w->id].active, -1);
	}
	free(x->replay);
	x->replay = NULL;
	fc_buf_release(&w->bufs, x->head);
	if (x->h2s)
		fc_h2_stream_attach_end(x);
	else
		c->x = NULL;
	fc_worker_release_exchange(w, x);
}

/* Answers the request with a response of fulcrum's own (n bytes at resp). */
static void respond_local(struct fc_exchange *x, int status, bool close, const char *resp, size_t n,
                          enum fc_blame blame)
{
	struct fc_client *c = x->c;
	struct fc_h2_stream *s = x->h2s;
	x->status = status;
	x->bytes_out += n;
	if (s) {
		exchange_end(x, blame, fc_h1_reason(status), FC_FAIL_NONE);
		fc_h2_respond_local(s, resp, n);
		return;
	}
	if (c->in && !close)
		c->in->rpos = x->parsed;
	exchange_end(x, blame, fc_h1_reason(status), FC_FAIL_NONE);
	if (!n || !fc_client_out_append(c, resp, n)) {
		fc_client_close(c);
		return;
	}
	if (close)
		fc_client_start_closing(c); /* lingers: unread input may follow */
	else
		fc_client_exchange_done(c, false, false);
}

/* Whether the answer must close: where the next request starts is unknown. */
static bool must_close(const struct fc_exchange *x, bool close)
{
	return close || !x->complete || x->close_after || xw(x)->draining;
}

static void fail_with(struct fc_exchange *x, int status, bool close, unsigned retry_after,
                      enum fc_blame blame)
{
	close = must_close(x, close);
	if (x->up) {
		fc_upstream_close(x->up);
		x->up = NULL;
	}
	char tmp[512];
	size_t n = fc_h1_write_error_retry(tmp, sizeof(tmp), status, close, retry_after);
	respond_local(x, status, close, tmp, n, blame);
}

void fc_exchange_fail(struct fc_exchange *x, int status, bool close)
{
	fail_with(x, status, close, 0, FC_BLAME_CLIENT);
}

void fc_exchange_abandon(struct fc_exchange *x)
{
	if (!x->status)
		x->status = 499; /* the client went away first */
	exchange_end(x, FC_BLAME_CLIENT, "client closed", FC_FAIL_NONE);
}

/* The response cannot go on (its server failed, or time ran out): the
 * client sees a cut: HTTP/1, its connection closes; HTTP/2, its stream is
 * reset and the connection's other streams go on. */
static void cut_client(struct fc_exchange *x)
{
	struct fc_h2_stream *s = x->h2s;
	if (!s) {
		fc_client_close(x->c);
		return;
	}
	x->aborted = true;
	fc_exchange_abandon(x);
	fc_h2_reset(s);
}

void fc_exchange_end_tunnel(struct fc_exchange *x)
{
	struct fc_client *c = x->c;
	exchange_end(x, FC_BLAME_NONE, NULL, FC_FAIL_NONE);
	fc_client_close(c);
}

/* A head-level failure: the client sent something we refuse. */
static void reject(struct fc_exchange *x, int status, const char *why)
{
	fc_debug("bad request: %d: %s", status, why);
	fc_exchange_fail(x, status, true);
}

/* redirect: https — the same URL over TLS, for every request. */
static void redirect_https(struct fc_exchange *x, const char *host, size_t host_len,
                           const char *path, uint16_t port)
{
	const struct fc_h1_head *hd = &xw(x)->scratch;
	if (!host || host_len == 0) {
		reject(x, 400, "no Host to redirect to");
		return;
	}
	/* the host without its port: [v6]:port, name:port */
	const char *end = host + host_len;
	const char *colon = host[0] == '[' ? memchr(host, ']', host_len) : host;
	colon = colon ? memchr(colon, ':', (size_t)(end - colon)) : NULL;
	if (colon)
		host_len = (size_t)(colon - host);
	size_t target_len = (size_t)(hd->url + hd->url_len - path);
	bool close = must_close(x, false);
	char tmp[FC_H1_REDIRECT_MAX];
	size_t n = fc_h1_write_redirect_https(tmp, sizeof(tmp), host, host_len, port, path,
	                                      target_len, close);
	if (!n) {
		reject(x, 414, "URL too long to redirect");
		return;
	}
	respond_local(x, 308, close, tmp, n, FC_BLAME_NONE);
}

/* The route's or the pool's rate limit refused the request: 429, with
 * Retry-After and the RateLimit fields; no server sees it. */
static bool rate_limited(struct fc_exchange *x, const struct fc_h1_head *hd,
                         const struct fc_config_route *r)
{
	char tmp[768];
	size_t n = 0;
	bool close = must_close(x, false);
	unsigned by = fc_rate_limit_check(x, hd, r, close, tmp, sizeof(tmp), &n);
	if (!by)
		return false;
	x->limited_by = (uint8_t)by;
	respond_local(x, 429, close, tmp, n, FC_BLAME_NONE);
	return true;
}

/* ---------------------------------------------------------------- picking */

/* A bounded copy, NUL-terminated (no printf on the request path). */
static void copy_name(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = 0;
}

static void copy_key(struct fc_exchange *x, const char *p, size_t n)
{
	if (!p) {
		x->key_len = 0;
		x->has_key = false;
		return;
	}
	if (n > sizeof(x->key))
		n = sizeof(x->key);
	memcpy(x->key, p, n);
	x->key_len = (uint8_t)n;
	x->has_key = true;
}

/* The configured client-IP header's values, comma-joined, into buf. Returns
 * the length, or -1 when the header is absent. */
static long joined_header(const struct fc_h1_head *hd, const char *name, char *buf, size_t cap)
{
	size_t jl = 0, nl = strlen(name);
	bool any = false;
	for (uint32_t i = 0; i < hd->n_headers; i++) {
		const struct fc_h1_header *h = &hd->h[i];
		if (!fc_h1_name_is(h, name, nl))
			continue;
		if (any && jl + 2 < cap) {
			buf[jl++] = ',';
			buf[jl++] = ' ';
		}
		size_t k = h->value_len < cap - jl ? h->value_len : cap - jl;
		memcpy(buf + jl, h->value, k);
		jl += k;
		any = true;
	}
	return any ? (long)jl : -1;
}

/* Fills what picking needs from the head: real client IP, hash key, sticky value. */
static void pick_inputs(struct fc_exchange *x, const struct fc_h1_head *hd, const char *path,
                        size_t path_len)
{
	struct fc_client *c = x->c;
	struct fc_runtime *rt = x->rt;
	const struct fc_config *cfg = c->w->cfg;
	x->client = c->peer;
	if (cfg->client_ip.header) {
		char joined[1024];
		long jl = joined_header(hd, cfg->client_ip.header, joined, sizeof(joined));
		fc_clientip_resolve(&rt->clientip, &c->peer, jl >= 0 ? joined : NULL,
		                    jl >= 0 ? (size_t)jl : 0, &x->client);
	}
	const struct fc_config_pool *cp = x->pool->cfg;
	const struct fc_config_hash *hk = &cp->hash;
	size_t n = 0;
	const char *v = NULL;
	switch (hk->source) {
	case FC_HASH_CLIENT_IP:
		break;
	case FC_HASH_HEADER: {
		const struct fc_h1_header *h =
		        hk->name ? fc_h1_find(hd, hk->name, strlen(hk->name)) : NULL;
		if (h) {
			v = h->value;
			n = h->value_len;
		}
		break;
	}
	case FC_HASH_COOKIE:
		if (hk->name)
			v = fc_req_cookie(hd, hk->name, strlen(hk->name), &n);
		break;
	case FC_HASH_PATH:
		v = path;
		n = path_len;
		break;
	case FC_HASH_QUERY:
		if (hk->name)
			v = fc_req_query(hd->url, hd->url_len, hk->name, strlen(hk->name), &n);
		break;
	}
	copy_key(x, v, n);
	x->sticky_in_len = 0;
	if (cp->sticky.enabled) {
		const char *name = cp->sticky.cookie_name; /* never NULL: config default */
		const char *sv = fc_req_cookie(hd, name, strlen(name), &n);
		if (sv && n < sizeof(x->sticky_in)) { /* longer: not one of ours */
			memcpy(x->sticky_in, sv, n);
			x->sticky_in_len = (uint8_t)n;
			x->has_sticky_in = true;
		}
		/* Secure when a trusted proxy in front says the client came over
		 * TLS: anyone else could claim it */
		const struct fc_h1_header *xp = fc_h1_find(hd, "x-forwarded-proto", 17);
		x->secure = c->w->listeners[c->listener]->cfg->tls ||
		            (xp && xp->value_len == 5 && strncasecmp(xp->value, "https", 5) == 0 &&
		             fc_runtime_is_trusted(rt, &c->peer));
	}
}

/* Writes the upstream request head from the head just parsed (the worker's
 * scratch: only valid during fc_exchange_start, where the first pick
 * happens, or the request joins its pool's queue). An HTTP/1.0 request
 * without Host gets the server's host:port (hostport), as nginx's
 * proxy_pass would send, as its last header, so that a retry on another
 * server can replace it (set_host). False when it does not fit. */
static bool write_head(struct fc_exchange *x, const char *hostport)
{
	const struct fc_h1_head *hd = &xw(x)->scratch;
	char ip[64];
	size_t ipl = fc_req_format_ip(&x->c->peer, ip, sizeof(ip));
	struct fc_h1_req_extra e = {.client_ip = ip,
	                            .client_ip_len = ipl,
	                            .proto = xw(x)->listeners[x->c->listener]->cfg->tls ? "https"
	                                                                                : "http"};
	if (hd->host < 0) {
		e.host = hostport;
		e.host_len = strlen(hostport);
	}
	size_t hl = fc_h1_write_request(x->head->data, x->head->cap, hd, &e);
	x->head->wpos = (uint32_t)hl;
	if (hl && hd->host < 0)
		x->host_at = (uint32_t)(hl - 2 - (sizeof("Host: \r\n") - 1) - e.host_len);
	return hl > 0;
}

/* Re-points the Host fulcrum added at another server (a retry). */
static bool set_host(struct fc_exchange *x, struct fc_server *srv)
{
	const struct fc_rt_server *rs = fc_server_user(srv);
	size_t hl = strlen(rs->hostport);
	struct fc_buf *h = x->head;
	if (x->host_at + sizeof("Host: \r\n\r\n") - 1 + hl > h->cap)
		return false;
	char *p = h->data + x->host_at;
	memcpy(p, "Host: ", 6);
	memcpy(p + 6, rs->hostport, hl);
	memcpy(p + 6 + hl, "\r\n\r\n", 4);
	h->wpos = x->host_at + 6 + (uint32_t)hl + 4;
	return true;
}

/* No server could take the request: a fast 503 with Retry-After, and a line
 * in the error log (at most one per pool per second). why: what was
 * missing, NULL: no server was eligible. */
static void no_server(struct fc_exchange *x, const char *why)
{
	struct fc_rt_pool *p = x->pool;
	uint64_t now = xw(x)->loop.now_ms;
	uint64_t last = atomic_load_explicit(&p->no_server_log_ms, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->no_server_count, 1, memory_order_relaxed);
	if (now >= last + NO_SERVER_LOG_MS &&
	    atomic_compare_exchange_strong(&p->no_server_log_ms, &last, now)) {
		uint32_t healthy = 0, total = 0;
		fc_pool_health_counts(p->pool, &healthy, &total);
		unsigned n = atomic_exchange(&p->no_server_count, 0);
		if (why)
			fc_warn("pool %s: %s: %u request%s answered 503", p->cfg->name, why, n,
			        n == 1 ? "" : "s");
		else
			fc_warn("pool %s: no server can take requests (%u/%u servers are "
			        "healthy): %u request%s answered 503",
			        p->cfg->name, healthy, total, n, n == 1 ? "" : "s");
	}
	fail_with(x, 503, false, 1, FC_BLAME_NONE);
}

/* ---------------------------------------------------------------- the queue */

/* x joins its pool's queue (docs/traffic.md) as waiting since since_ms.
 * 1: it waits; 0: it is first in line and picks once more (a slot may have
 * been given back before it was in the queue); -1: it was answered (the
 * queue is full). */
static int queue_wait(struct fc_exchange *x, bool asleep, uint64_t since_ms)
{
	struct fc_worker *w = xw(x);
	struct fc_rt_pool *p = x->pool;
	/* the head is written now, from the request's fields: the worker's
	 * scratch is gone by the time the request is picked again; Host for a
	 * 1.0 request is set then (set_host) */
	if (x->head->wpos == 0 && !write_head(x, "")) {
		reject(x, 431, "head too large after rewrite");
		return -1;
	}
	enum fc_queue_add rc = fc_queue_add(p->queue, w, x, asleep);
	switch (rc) {
	case FC_QUEUE_FULL:
		if (p->ctr)
			fc_ctr_inc(&p->ctr[w->id].qfull);
		no_server(x, asleep ? "the pool is asleep and its queue is full"
		                    : "every server is at max_conns and the queue is full");
		return -1;
	case FC_QUEUE_NOMEM:
		fail_with(x, 503, false, 1, FC_BLAME_NONE);
		return -1;
	case FC_QUEUE_ADDED:
	case FC_QUEUE_FIRST:
		break;
	}
	if (asleep)
		x->q_asleep = true;
	x->phase = FC_X_QUEUED;
	x->phase_ms = since_ms;
	return rc == FC_QUEUE_FIRST ? 0 : 1;
}

/* x leaves its pool's queue (for a server, a timeout, its client gone): out
 * of the ring, its wait measured. */
static void queue_leave(struct fc_exchange *x, uint64_t queued_ms)
{
	struct fc_worker *w = xw(x);
	fc_queue_remove(x->pool->queue, x);
	x->q_asleep = false;
	if (x->pool->ctr)
		fc_hist_observe(&x->pool->ctr[w->id].qwait,
		                (w->loop.now_ms - queued_ms) * 1000000ull);
	set_phase(x, FC_X_PICK);
}

/* A browser waiting for a wake gets the starting-up page after this. */
#define STARTING_PAGE_MS 1000

/* The deadline of a waiting request: queue.timeout; one waiting for a wake
 * waits for the wake (which answers it when it fails), queue.timeout more
 * at most, a browser a second. */
static uint64_t queue_deadline(const struct fc_exchange *x)
{
	const struct fc_config_pool *cp = x->pool->cfg;
	if (!x->q_asleep)
		return x->phase_ms + cp->queue.timeout_ms;
	if (x->q_html)
		return x->phase_ms + STARTING_PAGE_MS;
	return x->phase_ms + cp->wake.timeout_ms + cp->queue.timeout_ms;
}

static void queue_timeout(struct fc_exchange *x)
{
	struct fc_worker *w = xw(x);
	bool page = x->q_asleep && x->q_html;
	bool asleep = x->q_asleep;
	queue_leave(x, x->phase_ms);
	if (page) {
		/* 503 with Retry-After: 1 and a page that reloads itself */
		bool close = must_close(x, false);
		char tmp[1024];
		size_t n = fc_h1_write_starting(tmp, sizeof(tmp), close);
		respond_local(x, 503, close, tmp, n, FC_BLAME_NONE);
		return;
	}
	if (x->pool->ctr)
		fc_ctr_inc(&x->pool->ctr[w->id].qtimeouts);
	no_server(x, asleep ? "waited for the pool to wake longer than wake.timeout"
	                    : "every server is at max_conns: waited queue.timeout");
}

/* A request that waited through a reload goes on with the newest
 * configuration's pool of the same name (its servers are the ones health
 * and wake: look after now) if that one shares the queue. Only before any
 * attempt: nothing of the old pool is held. */
static void follow_reload(struct fc_exchange *x)
{
	struct fc_worker *w = xw(x);
	struct fc_runtime *old = x->rt;
	if (old == w->rt || x->attempts || x->server)
		return;
	struct fc_rt_pool *np = fc_runtime_pool_named(w->rt, x->pool->cfg->name);
	if (!np || np->queue != x->pool->queue)
		return;
	x->rt = w->rt;
	x->pool = np;
	x->rt->use[w->id].exchanges++;
	/* as fc_worker_release_exchange does: the last exchange lets it go */
	if (--old->use[w->id].exchanges == 0)
		fc_runtime_unref(old);
}

void fc_exchange_dequeued(struct fc_exchange *x, bool fail)
{
	struct fc_client *c = x->c;
	struct fc_h2_stream *s = x->h2s;
	if (fail) {
		queue_leave(x, x->phase_ms);
		no_server(x, "the wake failed");
	} else {
		follow_reload(x);
		pick_and_connect(x); /* from the queue: it may wait again, at its place */
	}
	if (c->closed)
		return;
	if (s && fc_h2_stream_exchange(s) == x)
		fc_h2_ready(x);
	else
		fc_client_run(c);
}

/* ---------------------------------------------------------------- retries */

/* The pool's retry budget (retry.budget): every worker's requests of the
 * pool in flight, summed when a retry asks (each worker writes its own
 * gauge, so counting costs the request path no shared write), and the
 * retries in flight, one counter for all workers, written only by retries.
 * Takes a slot for x, which keeps it for its further retries until its
 * response head arrives or it ends. False (counted): over the budget. */
static bool budget_take(struct fc_exchange *x)
{
	const struct fc_config_retry *rc = &x->pool->cfg->retry;
	struct fc_rt_pool_stats *st = x->pool->stats;
	if (x->budget_held || rc->budget_pct >= 100 || !st)
		return true;
	uint64_t active = 0;
	for (uint32_t i = 0; i < x->rt->n_workers; i++)
		active += atomic_load_explicit(&st->ctr[i].active, memory_order_relaxed);
	uint32_t max = fc_retry_budget_max(active, rc->budget_pct, rc->budget_min);
	uint32_t n = atomic_fetch_add_explicit(&st->retrying, 1, memory_order_relaxed) + 1;
	if (n > max) {
		atomic_fetch_sub_explicit(&st->retrying, 1, memory_order_relaxed);
		fc_ctr_inc(&x->pool->ctr[xw(x)->id].budget_exhausted);
		fc_debug("pool %s: retry budget spent (%u retries in flight, %llu requests): no "
		         "retry",
		         x->pool->cfg->name, n - 1, (unsigned long long)active);
		return false;
	}
	x->budget_held = true;
	return true;
}

static void budget_release(struct fc_exchange *x)
{
	if (!x->budget_held)
		return;
	x->budget_held = false;
	atomic_fetch_sub_explicit(&x->pool->stats->retrying, 1, memory_order_relaxed);
}

/* Whether a server the request has not tried may take it: healthy ones
 * beyond those it tried (or, in panic mode, any beyond them). A guess, for
 * keeping a server's answer rather than retrying into nothing. */
static bool another_server(const struct fc_exchange *x)
{
	uint32_t healthy = 0, total = 0;
	fc_pool_health_counts(x->pool->pool, &healthy, &total);
	return healthy > x->n_tried || (fc_pool_in_panic(x->pool->pool) && total > x->n_tried);
}

/* Whether the attempt that just failed is tried again (retry.*): on is the
 * failure's retry.on bit, reached says the request may have reached the
 * server (then only a request safe to repeat is), move_on forbids the same
 * server (a 503 with Retry-After), keep says there is an answer to forward
 * instead (then a retry needs a server to go to). Sets where the next
 * attempt goes (x->retry_same) and takes a budget slot when it says yes. */
static bool may_retry(struct fc_exchange *x, uint32_t on, bool reached, bool move_on, bool keep)
{
	const struct fc_config_retry *rc = &x->pool->cfg->retry;
	if (x->resp_started || x->no_retry || !x->replayable || !(rc->on & on))
		return false;
	if (reached && !x->idempotent)
		return false; /* the server may have acted on it */
	if (x->attempts > rc->attempts || x->n_tried >= FC_EXCHANGE_MAX_TRIES)
		return false;
	bool same = !move_on && x->same_tries < rc->same_server;
	if (keep && !same && !another_server(x))
		return false;
	if (!budget_take(x))
		return false;
	x->retry_same = same;
	if (same)
		x->same_tries++;
	else
		x->same_tries = 0;
	return true;
}

/* Starts the retry may_retry allowed (or the stale connection's): nothing
 * of the next attempt is sent yet; after the jittered backoff when wait and
 * retry.backoff is set, else at once. */
static void retry_start(struct fc_exchange *x, bool wait)
{
	const struct fc_config_retry *rc = &x->pool->cfg->retry;
	x->head_sent = 0;
	x->sent = x->body_start;
	if (x->replay)
		x->replay->sent = 0;
	uint32_t ms = wait ? fc_retry_backoff_ms(rc->backoff_base_ms, rc->backoff_max_ms,
	                                         (unsigned)x->retries + 1u, &xw(x)->rng)
	                   : 0;
	if (ms) {
		x->backoff_ms = (uint16_t)ms;
		set_phase(x, FC_X_BACKOFF); /* fc_exchange_timeout goes on */
		return;
	}
	pick_and_connect(x);
}

/* ---------------------------------------------------------------- connecting */

static void pick_and_connect(struct fc_exchange *x)
{
	struct fc_worker *w = xw(x);
	const struct fc_config_pool *cp = x->pool->cfg;
	struct fc_rt_queue *q = x->pool->queue;
	/* where x stands with its pool's queue: not in it; handed a slot (its
	 * turn came: it is out of the ring); in the ring, first in line */
	enum { Q_OUT, Q_HANDED, Q_IN } qs = x->phase == FC_X_QUEUED ? Q_HANDED : Q_OUT;
	uint64_t queued_ms = x->phase_ms;
	set_phase(x, FC_X_PICK);
	/* a new request does not pass those waiting */
	if (qs == Q_OUT && x->attempts == 0 && q && fc_queue_waiting(q)) {
		bool asleep = fc_queue_sleeping(q);
		if (asleep)
			fc_queue_want_wake(q, x->rt->wake_mb);
		int rc = queue_wait(x, asleep, w->loop.now_ms);
		if (rc != 0)
			return;
		qs = Q_IN;
		queued_ms = x->phase_ms;
	}
	if (x->attempts > cp->retry.attempts || x->n_tried >= FC_EXCHANGE_MAX_TRIES) {
		if (qs != Q_OUT)
			queue_leave(x, queued_ms);
		fail_with(x, x->timed_out ? 504 : 502, false, 0, FC_BLAME_NONE);
		return;
	}
	struct fc_pick_ctx ctx = {
	        .now_ns = w->loop.now_ns,
	        .rng = &w->rng,
	        .client = x->client,
	        .hash_key = x->has_key ? x->key : NULL,
	        .hash_key_len = x->key_len,
	        .sticky_value = x->has_sticky_in ? x->sticky_in : NULL,
	        .sticky_len = x->sticky_in_len,
	        .avoid = x->tried,
	        .n_avoid = x->n_tried,
	};
	struct fc_server *srv = NULL;
	bool again = x->retry_same && x->n_tried; /* the server that just failed */
	x->retry_same = false;
	if (again)
		srv = fc_pool_pick_server(x->pool->pool, x->tried[x->n_tried - 1], &ctx);
	if (!srv) {
		again = false;
		x->same_tries = 0;
		srv = fc_pool_pick(x->pool->pool, &ctx);
	}
	if (!srv && (ctx.full || ctx.asleep) && q) {
		/* full: a slot will free up; asleep: the pool wakes (asked now) */
		if (ctx.asleep)
			fc_queue_want_wake(q, x->rt->wake_mb);
		if (qs != Q_IN) {
			int rc = queue_wait(x, ctx.asleep,
			                    qs == Q_HANDED ? queued_ms : w->loop.now_ms);
			if (rc != 0)
				return;
			/* first in line: a slot may have been given back meanwhile */
			qs = Q_IN;
			queued_ms = x->phase_ms;
			srv = fc_pool_pick(x->pool->pool, &ctx);
		}
		if (!srv && (ctx.full || ctx.asleep)) {
			/* still nothing: it waits for its turn */
			x->phase = FC_X_QUEUED;
			x->phase_ms = queued_ms;
			return;
		}
	}
	if (qs != Q_OUT)
		queue_leave(x, queued_ms); /* a server, or nothing to wait for */
	if (!srv) {
		if (x->attempts == 0)
			no_server(x, ctx.full ? "every server is at max_conns (no queue)" : NULL);
		else
			fail_with(x, x->timed_out ? 504 : 502, false, 0, FC_BLAME_NONE);
		return;
	}
	x->attempts++;
	if (x->h2s)
		fc_h2_body_rewind(x);
	if (x->fail_why) { /* this attempt retries the one that failed */
		fc_ctr_inc(&w->ctr.retries[x->fail_why]);
		if (x->retries < FC_ACCESSLOG_MAX_REASONS)
			x->retry_why |= (uint32_t)x->fail_why << (4 * x->retries);
		x->retries++;
		x->fail_why = FC_RETRY_NONE;
	}
	x->server = srv;
	copy_name(x->server_name, sizeof(x->server_name), fc_server_name(srv));
	if (!again)
		x->tried[x->n_tried++] = srv;
	if (ctx.sticky_set) {
		x->sticky_set = true;
		copy_name(x->sticky, sizeof(x->sticky), ctx.sticky_out);
	}
	const struct fc_rt_server *rs = fc_server_user(srv);
	bool head_ok = x->head->wpos == 0 ? write_head(x, rs->hostport)
	                                  : (!x->host_at || set_host(x, srv));
	if (!head_ok) {
		x->status = 431;
		report(x, FC_BLAME_CLIENT, 431, "head too large after rewrite", FC_FAIL_NONE);
		reject(x, 431, "head too large after rewrite");
		return;
	}
	x->up_start_ns = w->loop.now_ns;
	x->up_conn_ns = 0;
	x->head_sent = 0;
	x->sent = x->body_start;
	if (x->replay)
		x->replay->sent = 0;
	int err = 0;
	struct fc_upstream *u =
	        cp->protocol == FC_POOL_H2
	                ? fc_h2up_get(w, srv, x->pool->tls, cp->idle_timeout_ms, &err)
	                : fc_upstream_get(w, srv, x->pool->tls, &err);
	if (!u) {
		fc_warn("pool %s: server %s: connect: %s", cp->name, fc_server_name(srv),
		        strerror(-err));
		fc_server_cooldown(srv, w->loop.now_ns + (uint64_t)cp->cooldown_ms * 1000000ull);
		bool refused = err == -ECONNREFUSED;
		report(x, FC_BLAME_SERVER, 0, refused ? "connect refused" : "connect failed",
		       FC_FAIL_CONNECT);
		x->fail_why = refused ? FC_RETRY_CONNECT_REFUSED : FC_RETRY_CONNECT_FAILED;
		if (may_retry(x, refused ? FC_RETRY_ON_REFUSED : FC_RETRY_ON_CONNECT_FAILURE, false,
		              false, false))
			retry_start(x, true);
		else
			fail_with(x, x->timed_out ? 504 : 502, false, 0, FC_BLAME_NONE);
		return;
	}
	x->up = u;
	u->x = x;
	if (!u->connecting)
		x->up_conn_ns = x->up_start_ns; /* a kept-alive connection: no connect */
	set_phase(x, u->connecting ? FC_X_CONNECT : FC_X_SEND);
}

/* The attempt on the current server failed (err: -errno). Retries when that
 * is allowed (retry.*), otherwise answers 502/504 or cuts the client. */
static void upstream_failed(struct fc_exchange *x, int err)
{
	struct fc_worker *w = xw(x);
	struct fc_upstream *u = x->up;
	const struct fc_config_pool *cp = x->pool->cfg;
	bool connect_phase = x->phase == FC_X_CONNECT;
	bool timeout = err == -ETIMEDOUT; /* this attempt's: fc_exchange_timeout */
	bool nothing_back = !u->in || (u->in->wpos == 0 && !x->resp_started);
	bool stale = u->reused && !connect_phase && nothing_back && !timeout && !x->no_retry;
	struct fc_server *srv = x->server;
	if (connect_phase && !timeout)
		fc_server_cooldown(srv, w->loop.now_ns + (uint64_t)cp->cooldown_ms * 1000000ull);
	const char *tls_why = fc_tls_failure(&w->loop, &u->s);
	const char *what = connect_phase    ? (timeout                ? "connect timeout"
	                                       : err == -ECONNREFUSED ? "connect refused"
	                                       : tls_why              ? "TLS handshake failed"
	                                                              : "connect failed")
	                   : timeout        ? "response timeout"
	                   : err == -EPROTO ? "bad response"
	                                    : "closed before a complete response";
	if (!stale && tls_why)
		fc_warn("pool %s: server %s: %s%s", cp->name, fc_server_name(srv),
		        connect_phase ? "TLS handshake: " : "TLS: ", tls_why);
	else if (!stale)
		fc_warn("pool %s: server %s: %s%s", cp->name, fc_server_name(srv),
		        connect_phase ? "connect: " : "", strerror(-err));
	/* for the access log, should this lead to a retry */
	x->fail_why = stale                 ? FC_RETRY_STALE
	              : connect_phase       ? (timeout                ? FC_RETRY_CONNECT_TIMEOUT
	                                       : err == -ECONNREFUSED ? FC_RETRY_CONNECT_REFUSED
	                                       : tls_why              ? FC_RETRY_TLS_HANDSHAKE
	                                                              : FC_RETRY_CONNECT_FAILED)
	              : timeout             ? FC_RETRY_TIMEOUT
	              : tls_why             ? FC_RETRY_TLS
	              : u->eof && !u->reset ? FC_RETRY_EOF
	                                    : FC_RETRY_RESET;
	enum fc_fail_kind kind = connect_phase    ? (timeout ? FC_FAIL_TIMEOUT : FC_FAIL_CONNECT)
	                         : timeout        ? FC_FAIL_TIMEOUT
	                         : err == -EPROTO ? FC_FAIL_BAD_RESPONSE
	                                          : FC_FAIL_RESET;
	/* a kept-alive connection the server had closed is nobody's fault for sure */
	report(x, stale ? FC_BLAME_CONNECTION : FC_BLAME_SERVER, 0, what, kind);
	fc_upstream_close(u);
	x->up = NULL;
	if (stale && !x->stale_retry_used) {
		/* the same server on a fresh socket, at once: not one of the
		 * attempts, nor the budget's */
		x->stale_retry_used = true;
		if (!x->resp_started && !x->no_retry && x->replayable) {
			x->attempts--;
			x->retry_same = true;
			retry_start(x, false);
			return;
		}
	} else {
		/* a response timeout is tried again only with a per_try_timeout:
		 * without one, response_timeout is the request's, as it always was */
		uint32_t on = connect_phase ? (timeout                ? FC_RETRY_ON_TIMEOUT
		                               : err == -ECONNREFUSED ? FC_RETRY_ON_REFUSED
		                                                      : FC_RETRY_ON_CONNECT_FAILURE)
		              : timeout ? (cp->retry.per_try_timeout_ms ? FC_RETRY_ON_TIMEOUT : 0)
		                        : FC_RETRY_ON_RESET;
		if (on && may_retry(x, on, !connect_phase && !stale, false, false)) {
			retry_start(x, true);
			return;
		}
	}
	if (!x->resp_started)
		fail_with(x, x->timed_out ? 504 : 502, false, 0, FC_BLAME_NONE);
	else
		cut_client(x); /* mid-response: the client sees a cut */
}

/* A 502, 503 or 504 that retry.on lists, for a request safe to repeat with
 * an attempt left: its head is not forwarded; the attempt is reported once,
 * as the server's answer (passive health judges its status as it judges
 * any answer, and nothing else counts it), and the request goes on, to
 * another server after a 503 with Retry-After. False: the answer goes to
 * the client (the last attempt's, or one no retry may follow). */
static bool status_retry(struct fc_exchange *x, const struct fc_h1_head *hd)
{
	uint32_t on = fc_retry_on_status(hd->status);
	if (!on)
		return false;
	bool retry_after = hd->status == 503 && fc_h1_find(hd, "retry-after", 11);
	if (!may_retry(x, on, true, retry_after, true))
		return false;
	fc_debug("pool %s: server %s: %d%s: retried", x->pool->cfg->name, fc_server_name(x->server),
	         hd->status, retry_after ? " with Retry-After" : "");
	x->status = hd->status;
	x->up_head_ns = xw(x)->loop.now_ns;
	report(x, FC_BLAME_NONE, hd->status, NULL, FC_FAIL_NONE);
	x->counted = false; /* the request's answer is still to come */
	x->up_head_ns = 0;
	x->status = 0;
	fc_upstream_close(x->up); /* its body is not wanted */
	x->up = NULL;
	x->fail_why = hd->status == 502   ? FC_RETRY_STATUS_502
	              : hd->status == 503 ? FC_RETRY_STATUS_503
	                                  : FC_RETRY_STATUS_504;
	retry_start(x, true);
	return true;
}

/* ---------------------------------------------------------------- start */

void fc_exchange_start(struct fc_client *c, size_t head_len)
{
	struct fc_worker *w = c->w;
	struct fc_buf *b = c->in;
	struct fc_h1_head *hd = &w->scratch;
	struct fc_exchange *x = fc_worker_take_exchange(w);
	if (!x) {
		fc_warn("out of memory for a request");
		fc_client_close(c);
		return;
	}
	c->x = x;
	x->c = c;
	c->state = FC_C_ACTIVE;
	x->start_ns = w->loop.now_ns;
	fc_ctr_inc(&w->ctr.requests[FC_PROTO_H1]);
	x->parsed = b->rpos + (uint32_t)head_len;
	x->complete = true; /* until we know a body follows */
	const char *err = NULL;
	int rc = fc_h1_parse_head(&x->parser, b->data + b->rpos, head_len, hd, false, &err);
	/* the request line, for the access log */
	size_t ll = hd->first_line_len < FC_EXCHANGE_LINE_MAX ? hd->first_line_len
	                                                      : FC_EXCHANGE_LINE_MAX;
	if (hd->first_line)
		memcpy(x->line, hd->first_line, ll);
	x->line_len = (uint16_t)ll;
	if (rc != FC_H1_ERROR && hd->ua >= 0) {
		const struct fc_h1_header *h = &hd->h[hd->ua];
		size_t n = h->value_len < FC_EXCHANGE_UA_MAX ? h->value_len : FC_EXCHANGE_UA_MAX;
		memcpy(x->ua, h->value, n);
		x->ua_len = (uint8_t)n;
		x->has_ua = true;
	}
	if (rc == FC_H1_ERROR) {
		reject(x, hd->too_many ? 431 : hd->bad_te ? 501 : 400, err ? err : "malformed");
		return;
	}
	x->method = hd->method;
	x->idempotent = fc_h1_method_idempotent(hd->method);
	x->client_10 = hd->major == 1 && hd->minor == 0;
	x->client_keepalive = hd->keep_alive;
	x->upgrade = hd->upgrade;
	x->complete = rc == FC_H1_COMPLETE;
	if (hd->major != 1) {
		reject(x, 505, "version");
		return;
	}
	if (hd->n_host > 1 || (!x->client_10 && hd->n_host != 1)) {
		reject(x, 400, "missing or duplicate Host");
		return;
	}
	if (hd->method == HTTP_CONNECT) {
		reject(x, 405, "CONNECT");
		return;
	}
	if (!route(x, hd))
		return;
	b->rpos += (uint32_t)head_len;
	x->body_start = x->sent = b->rpos;
	x->parsed = b->rpos;
	c->scan = 0;
	/* validate the body bytes already here before any server sees the
	 * request: a malformed chunked body is refused without forwarding */
	if (!x->complete && x->parsed < b->wpos) {
		fc_client_request_body(c);
		if (c->closed || c->x != x)
			return;
	}
	pick_and_connect(x);
}

/* What the start of an exchange has in common for both protocols: the
 * Host, the route, the pool, the pick inputs. False when it was answered. */
static bool route(struct fc_exchange *x, const struct fc_h1_head *hd)
{
	struct fc_client *c = x->c;
	struct fc_worker *w = c->w;
	if (hd->host >= 0) {
		const struct fc_h1_header *h = &hd->h[hd->host];
		for (uint32_t i = 0; i < h->value_len; i++) {
			unsigned char ch = (unsigned char)h->value[i];
			if (ch <= ' ' || ch == '/' || ch == '\\' || ch == '@' || ch == 0x7f) {
				reject(x, 400, "invalid Host");
				return false;
			}
		}
	}
	const char *host = hd->host >= 0 ? hd->h[hd->host].value : NULL;
	size_t host_len = hd->host >= 0 ? hd->h[hd->host].value_len : 0;
	const char *path;
	size_t path_len;
	fc_req_target(hd, &host, &host_len, &path, &path_len);
	if (w->listeners[c->listener]->removed) {
		/* a reload removed this listener: its routes are gone with it */
		fail_with(x, 503, true, 0, FC_BLAME_NONE);
		return false;
	}
	const struct fc_config_listener *lc = w->listeners[c->listener]->cfg;
	if (lc->redirect_https) {
		redirect_https(x, host, host_len, path, lc->redirect_port);
		return false;
	}
	const struct fc_config_route *rt =
	        fc_config_route_match(lc, host, host_len, path, path_len);
	if (!rt) {
		fc_exchange_fail(x, 404, false); /* closes if a body follows */
		return false;
	}
	x->pool = fc_runtime_pool(x->rt, rt->pool_ref);
	if (x->pool->ctr) {
		fc_ctr_inc(&x->pool->ctr[w->id].proto[x->h2s ? FC_PROTO_H2 : FC_PROTO_H1]);
		fc_gauge_add(&x->pool->ctr[w->id].active, 1); /* the retry budget's base */
	}
	const struct fc_config_retry *rc = &x->pool->cfg->retry;
	if (!x->idempotent && rc->idempotency_key && fc_h1_find(hd, "idempotency-key", 15))
		x->idempotent = true; /* the client says a repeat is safe (IETF draft) */
	x->body_big = !x->h2s && hd->has_cl && hd->content_length > rc->replay_buffer;
	if (x->pool->cfg->protocol == FC_POOL_H2) {
		if (!x->h2s) {
			/* HTTP/2 to the server keeps what HTTP/1.1 cannot carry
			 * (trailers): only an HTTP/2 client's request goes there */
			reject(x, 505, "pool speaks HTTP/2: HTTP/1.1 requests are not forwarded");
			return false;
		}
		fc_h2_body_raw(x);
	}
	pick_inputs(x, hd, path, path_len);
	if ((rt->rate_limit || x->pool->cfg->rate_limit) && rate_limited(x, hd, rt))
		return false;
	if (x->pool->cfg->wake.enabled) {
		/* a browser waiting for a wake gets a page that reloads itself */
		const struct fc_h1_header *acc = fc_h1_find(hd, "accept", 6);
		if (acc && memmem(acc->value, acc->value_len, "text/html", 9))
			x->q_html = true;
	}
	x->head = fc_buf_take(&w->bufs);
	if (!x->head) {
		fail_with(x, 503, true, 0, FC_BLAME_NONE);
		return false;
	}
	x->head->wpos = 0; /* written after the first pick: it may need the server's name */
	x->head_sent = 0;
	x->close_after = !x->client_keepalive || w->draining;
	x->replayable = true;
	return true;
}

void fc_exchange_start_h2(struct fc_client *c, struct fc_h2_stream *s, struct fc_h1_head *hd,
                          int status)
{
	struct fc_worker *w = c->w;
	struct fc_exchange *x = fc_worker_take_exchange(w);
	if (!x) {
		fc_warn("out of memory for a request");
		fc_h2_stream_refuse(s);
		return;
	}
	x->c = c;
	fc_h2_stream_attach(s, x);
	x->start_ns = w->loop.now_ns;
	fc_ctr_inc(&w->ctr.requests[FC_PROTO_H2]);
	size_t ll = hd->first_line_len < FC_EXCHANGE_LINE_MAX ? hd->first_line_len
	                                                      : FC_EXCHANGE_LINE_MAX;
	if (hd->first_line)
		memcpy(x->line, hd->first_line, ll);
	x->line_len = (uint16_t)ll;
	if (!status && hd->ua >= 0) {
		const struct fc_h1_header *h = &hd->h[hd->ua];
		size_t n = h->value_len < FC_EXCHANGE_UA_MAX ? h->value_len : FC_EXCHANGE_UA_MAX;
		memcpy(x->ua, h->value, n);
		x->ua_len = (uint8_t)n;
		x->has_ua = true;
	}
	if (status) {
		reject(x, status, "bad HTTP/2 request");
		return;
	}
	x->method = hd->method;
	x->idempotent = fc_h1_method_idempotent(hd->method);
	x->client_keepalive = true;
	set_phase(x, FC_X_PICK);
	if (route(x, hd))
		pick_and_connect(x);
}

/* ---------------------------------------------------------------- sending */

/* HTTP/1: once a byte of the body went out, a body known to be longer than
 * retry.replay_buffer (its Content-Length, or what came so far) cannot be
 * sent again whole: no retry after that. (HTTP/2: body_release, client_h2.c.) */
static void replay_check(struct fc_exchange *x)
{
	if (!x->replayable)
		return;
	uint32_t kept = x->replay ? x->replay->len : 0;
	bool some_sent = x->sent > x->body_start || (x->replay && x->replay->sent);
	uint64_t have = (uint64_t)kept + (x->parsed - x->body_start);
	if (some_sent && (x->body_big || have > x->pool->cfg->retry.replay_buffer))
		x->replayable = false;
}

void fc_exchange_replay_keep(struct fc_exchange *x)
{
	struct fc_replay *rp = x->replay;
	uint32_t n = x->sent - x->body_start;
	uint32_t kept = rp ? rp->len : 0;
	uint32_t rb = x->pool ? x->pool->cfg->retry.replay_buffer : 0;
	/* what leaves the buffer was sent, and everything kept before it too */
	if (x->replayable && (uint64_t)kept + n <= rb) {
		if (!rp || rp->cap < kept + n) {
			uint64_t cap = rp ? (uint64_t)rp->cap * 2 : 16384;
			if (cap < (uint64_t)kept + n)
				cap = (uint64_t)kept + n;
			if (cap > rb)
				cap = rb;
			struct fc_replay *nr = realloc(rp, sizeof(*nr) + cap);
			if (!nr) {
				fc_warn("out of memory keeping a request body for a retry");
				goto drop;
			}
			if (!rp)
				nr->len = nr->sent = 0;
			nr->cap = (uint32_t)cap;
			x->replay = rp = nr;
		}
		memcpy(rp->data + rp->len, x->c->in->data + x->body_start, n);
		rp->len += n;
		rp->sent += n;
		return;
	}
drop:
	x->replayable = false;
	free(x->replay);
	x->replay = NULL;
}

void fc_exchange_check_sent(struct fc_exchange *x)
{
	if (x->phase == FC_X_SEND && fc_exchange_sent_all(x))
		set_phase(x, FC_X_WAIT);
}

bool fc_exchange_send(struct fc_exchange *x)
{
	struct fc_upstream *u = x->up;
	struct fc_client *c = x->c;
	if (x->phase == FC_X_QUEUED) {
		/* waiting in the queue: a client that went away leaves it at once
		 * (HTTP/2: its stream's reset does) */
		if (!x->h2s && c->eof) {
			fc_client_close(c);
			return true;
		}
		return false;
	}
	if (!u)
		return false;
	if (x->phase == FC_X_CONNECT) {
		int rc = fc_upstream_connected(u);
		if (rc == 0)
			return false;
		if (rc < 0) {
			upstream_failed(x, rc);
			return true;
		}
		x->up_conn_ns = xw(x)->loop.now_ns;
		set_phase(x, FC_X_SEND);
	}
	if (u->h2_req) {
		ssize_t r = fc_h2up_send(u, x);
		if (r < 0) {
			upstream_failed(x, (int)r);
			return true;
		}
		fc_exchange_check_sent(x);
		if (r > 0)
			c->active_ms = fc_client_now(c);
		return r > 0;
	}
	struct iovec iov[4];
	int n = 0;
	struct fc_replay *rp = x->replay;
	size_t from_head = x->head->wpos - x->head_sent;
	size_t from_replay = rp ? rp->len - rp->sent : 0; /* a retry: the body's kept start */
	size_t from_body = x->parsed - x->sent;
	if (from_head)
		iov[n++] = (struct iovec){x->head->data + x->head_sent, from_head};
	if (from_replay)
		iov[n++] = (struct iovec){rp->data + rp->sent, from_replay};
	if (x->h2s)
		n += fc_h2_body_iov(x, iov + n);
	else if (from_body)
		iov[n++] = (struct iovec){c->in->data + x->sent, from_body};
	if (n == 0)
		return false;
	ssize_t wr = fc_upstream_send(u, iov, n);
	if (wr == 0)
		return false;
	if (wr < 0) {
		upstream_failed(x, (int)wr);
		return true;
	}
	size_t left = (size_t)wr;
	size_t k = left < from_head ? left : from_head;
	x->head_sent += (uint32_t)k;
	left -= k;
	k = left < from_replay ? left : from_replay;
	if (k)
		rp->sent += (uint32_t)k;
	left -= k;
	if (x->h2s)
		fc_h2_body_sent(x, left);
	else
		x->sent += (uint32_t)left;
	if (!x->h2s && wr > 0)
		replay_check(x);
	fc_exchange_check_sent(x);
	c->active_ms = fc_client_now(c);
	return true;
}

/* ---------------------------------------------------------------- response */

static bool response_head(struct fc_exchange *x)
{
	struct fc_client *c = x->c;
	struct fc_worker *w = c->w;
	struct fc_upstream *u = x->up;
	struct fc_h1_head *hd = &w->scratch;
	const char *err = NULL;
	size_t end = 0;
	const char *pool = x->pool->cfg->name, *srv = fc_server_name(x->server);
	enum fc_upstream_head rc =
	        u->h2_req ? fc_h2up_parse_head(u, hd)
	                  : fc_upstream_parse_head(u, x->method == HTTP_HEAD, hd, &end, &err);
	switch (rc) {
	case FC_UP_HEAD_AGAIN:
		return false;
	case FC_UP_HEAD_EMPTY:
		upstream_failed(x, -ECONNRESET);
		return true;
	case FC_UP_HEAD_CUT:
		fc_warn("pool %s: server %s: closed in the middle of a response head", pool, srv);
		upstream_failed(x, -EPROTO);
		return true;
	case FC_UP_HEAD_TOO_BIG:
		fc_warn("pool %s: server %s: response head too large", pool, srv);
		x->no_retry = true; /* it answered, badly */
		upstream_failed(x, -EPROTO);
		return true;
	case FC_UP_HEAD_BAD:
		fc_warn("pool %s: server %s: bad response: %s", pool, srv, err ? err : "malformed");
		x->no_retry = true; /* it did answer: no retry */
		upstream_failed(x, -EPROTO);
		return true;
	case FC_UP_HEAD_OK:
	case FC_UP_HEAD_COMPLETE:
		break;
	}
	struct fc_buf *b = u->in;
	/* a 101 to a request that asked for it, naming its protocol, once the
	 * whole request head is with the server: the connection becomes a tunnel */
	bool tunnel = hd->status == 101 && x->upgrade && fc_h1_find(hd, "upgrade", 7) &&
	              x->head_sent == x->head->wpos;
	if (hd->status == 101 && !tunnel) {
		fc_warn("pool %s: server %s: bad response: 101 without upgrade", pool, srv);
		x->no_retry = true;
		upstream_failed(x, -EPROTO);
		return true;
	}
	if (hd->status < 200 && !tunnel) {
		/* 1xx: relay to HTTP/1.1 clients, then wait for the final answer
		 * (an HTTP/2 client had its 100 from fulcrum) */
		if (!x->client_10 && !x->h2s) {
			if (!fc_client_out_append(c, b->data + b->rpos, end)) {
				/* interim responses faster than the client takes them */
				fc_warn("pool %s: server %s: too many interim responses; closing",
				        pool, srv);
				/* the whole interim responses queued still go out, then
				 * the end: never one cut in its middle */
				x->status = 502;
				exchange_end(x, FC_BLAME_SERVER, "too many interim responses",
				             FC_FAIL_BAD_RESPONSE);
				fc_client_start_closing(c);
				return true;
			}
			x->resp_started = true;
		}
		b->rpos += (uint32_t)end;
		u->rparsed = b->rpos;
		return true;
	}
	if (!tunnel && status_retry(x, hd))
		return true;
	x->up_reusable = hd->keep_alive && !hd->close_delimited;
	if (hd->close_delimited || !x->complete || w->draining)
		x->close_after = true;
	/* HTTP/2 frames the body itself: DATA carries it de-chunked */
	x->resp_dechunk = (x->client_10 || x->h2s) && hd->chunked;
	if (x->resp_dechunk)
		x->close_after = true;
	char cookie[256];
	struct fc_h1_resp_extra e = {
	        .close = x->close_after,
	        .keep_alive = x->client_10 && !x->close_after,
	        .dechunk = x->resp_dechunk,
	        .upgrade = tunnel,
	};
	if (x->sticky_set) {
		const struct fc_config_sticky *st = &x->pool->cfg->sticky;
		int n = snprintf(cookie, sizeof(cookie),
		                 "%s=%s; Path=/; Max-Age=%u; HttpOnly; SameSite=Lax%s",
		                 st->cookie_name, x->sticky, st->max_age_s,
		                 x->secure ? "; Secure" : "");
		if (n > 0 && (size_t)n < sizeof(cookie)) {
			e.set_cookie = cookie;
			e.set_cookie_len = (size_t)n;
		}
	}
	if (x->h2s) {
		if (!fc_h2_respond(x, hd, e.set_cookie, e.set_cookie_len,
		                   rc == FC_UP_HEAD_COMPLETE)) {
			cut_client(x);
			return true;
		}
		if (!u->h2_req) { /* an HTTP/2 server's DATA is all body */
			b->rpos += (uint32_t)end;
			u->rparsed = b->rpos;
		}
	} else if (!c->out && fc_h1_response_passthrough(hd, &e)) {
		u->rparsed = b->rpos + (uint32_t)end;
	} else {
		if (!fc_client_out_reserve(c)) {
			fc_client_close(c);
			return true;
		}
		fc_buf_compact(c->out);
		size_t n = fc_h1_write_response(c->out->data + c->out->wpos, fc_buf_room(c->out),
		                                hd, &e);
		if (n == 0) {
			fc_warn("pool %s: server %s: response head too large", pool, srv);
			x->no_retry = true;
			upstream_failed(x, -EPROTO);
			return true;
		}
		c->out->wpos += (uint32_t)n;
		b->rpos += (uint32_t)end;
		u->rparsed = b->rpos;
	}
	x->status = hd->status;
	x->resp_started = true;
	x->up_head_ns = w->loop.now_ns;
	budget_release(x); /* a retry that got its answer is no longer in flight */
	x->resp_close_delimited = hd->close_delimited;
	if (tunnel)
		fc_tunnel_start(x);
	else /* no body at all: HEAD, 204, 304, Content-Length: 0 */
		set_phase(x, rc == FC_UP_HEAD_COMPLETE ? FC_X_DONE : FC_X_RESPOND);
	return true;
}

static bool response_body(struct fc_exchange *x)
{
	struct fc_upstream *u = x->up;
	bool extra = false;
	const char *err = NULL;
	enum fc_upstream_body rc =
	        u->h2_req ? fc_h2up_parse_body(u)
	                  : fc_upstream_parse_body(u, x->resp_dechunk, x->resp_close_delimited,
	                                           &extra, &err);
	switch (rc) {
	case FC_UP_BODY_AGAIN:
		return false;
	case FC_UP_BODY_MORE:
		return true;
	case FC_UP_BODY_COMPLETE:
		if (extra || x->resp_close_delimited)
			x->up_reusable = false;
		if (x->resp_close_delimited)
			x->close_after = true;
		set_phase(x, FC_X_DONE);
		return true;
	case FC_UP_BODY_BAD:
		fc_warn("pool %s: server %s: bad response body: %s", x->pool->cfg->name,
		        fc_server_name(x->server), err ? err : "?");
		break;
	case FC_UP_BODY_CUT:
		break;
	}
	/* cut or malformed: pass on what was valid, then cut the client too */
	x->up_reusable = false;
	x->close_after = true;
	x->aborted = true;
	set_phase(x, FC_X_DONE);
	return true;
}

bool fc_exchange_receive(struct fc_exchange *x)
{
	struct fc_upstream *u = x->up;
	if (!u || x->phase == FC_X_CONNECT || x->phase == FC_X_PICK)
		return false;
	int rc = u->h2_req ? 0 : fc_upstream_recv(u); /* HTTP/2: its connection reads */
	if (rc < 0) {
		cut_client(x); /* out of memory */
		return true;
	}
	bool progress = rc > 0;
	if (rc > 0)
		x->c->active_ms = fc_client_now(x->c);
	struct fc_client *c = x->c;
	if (x->phase < FC_X_RESPOND) {
		struct fc_h2_stream *s = x->h2s;
		progress |= response_head(x);
		if (c->closed || (s ? fc_h2_stream_exchange(s) != x : c->x != x) ||
		    x->phase < FC_X_RESPOND)
			return progress;
	}
	/* parse the body bytes that came with the head now, so head and body
	 * leave in one write */
	if (x->phase == FC_X_RESPOND)
		progress |= response_body(x);
	return progress;
}

/* ---------------------------------------------------------------- finish */

bool fc_exchange_maybe_finish(struct fc_exchange *x)
{
	struct fc_client *c = x->c;
	if (x->phase != FC_X_DONE)
		return false;
	if (!x->h2s && c->out && fc_buf_len(c->out))
		return false;
	if (x->h2s && !x->aborted && !fc_h2_eof_sent(x->h2s)) {
		fc_h2_data_ready(x); /* its end (and trailers) go out first */
		return false;
	}
	struct fc_upstream *u = x->up;
	if (u && u->in && u->rparsed > u->in->rpos)
		return false;
	struct fc_worker *w = c->w;
	const struct fc_config_pool *cp = x->pool->cfg;
	if (u) {
		bool reuse = x->up_reusable && fc_exchange_sent_all(x) && !x->aborted;
		x->up = NULL;
		fc_upstream_release(u, reuse, cp->max_idle, cp->idle_timeout_ms);
	}
	bool close = x->close_after || x->aborted || !x->complete || w->draining;
	bool aborted = x->aborted;
	struct fc_h2_stream *s = x->h2s;
	if (!s && c->in && !close)
		c->in->rpos = x->parsed;
	/* a response cut or malformed is the server's doing */
	exchange_end(x, aborted ? FC_BLAME_SERVER : FC_BLAME_NONE,
	             aborted ? "response cut or malformed" : NULL,
	             aborted ? FC_FAIL_RESET : FC_FAIL_NONE);
	if (s)
		fc_h2_stream_done(s, aborted);
	else
		fc_client_exchange_done(c, close, aborted);
	return true;
}

/* ---------------------------------------------------------------- time */

uint64_t fc_exchange_deadline(const struct fc_exchange *x)
{
	const struct fc_config_pool *cp = x->pool ? x->pool->cfg : NULL;
	switch (x->phase) {
	case FC_X_QUEUED:
		return queue_deadline(x);
	case FC_X_BACKOFF:
		return x->phase_ms + x->backoff_ms;
	case FC_X_CONNECT:
		return x->phase_ms + cp->connect_timeout_ms;
	case FC_X_WAIT:
		return x->phase_ms + (cp->retry.per_try_timeout_ms ? cp->retry.per_try_timeout_ms
		                                                   : cp->response_timeout_ms);
	case FC_X_TUNNEL:
		return fc_client_time(x->c, x->c->active_ms) + xw(x)->cfg->tunnel_timeout_ms;
	default:
		return 0; /* inactivity: the client's body_timeout */
	}
}

void fc_exchange_timeout(struct fc_exchange *x)
{
	switch (x->phase) {
	case FC_X_QUEUED:
		queue_timeout(x);
		return;
	case FC_X_BACKOFF:
		pick_and_connect(x); /* the wait is over: the next attempt */
		return;
	case FC_X_CONNECT:
	case FC_X_WAIT:
		x->timed_out = true;
		upstream_failed(x, -ETIMEDOUT);
		return;
	case FC_X_TUNNEL:
		fc_exchange_end_tunnel(x); /* nothing moved either way for tunnel_timeout */
		return;
	default:
		if (!x->resp_started)
			fc_exchange_fail(x, 408, true); /* the client stopped sending its body */
		else
			cut_client(x);
		return;
	}
}
