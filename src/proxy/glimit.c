/* glimit.c — global rate limits on the control thread (glimit.h). A worker
 * posts (limit, key hash) when a key's lease runs low; this asks Redis for a
 * batch with EVALSHA (EVAL after a NOSCRIPT: a restarted Redis lost the
 * script), adds what it granted to the lease, and asks again later for a key
 * Redis had no token for (when its next token is due). While Redis is down
 * every ask ends at once with nothing: workers then follow on_redis_down. */
#include "proxy/glimit.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/redis.h"
#include "core/log.h"
#include "proxy/ratelimit.h"

#define entry_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* The shared bucket, GCRA in microseconds of Redis's clock: KEYS[1] holds the
 * time the bucket is full again (tat). ARGV: rate, period_ms, burst, wanted.
 * Grants min(wanted, tokens there); none: {0, microseconds until one is}.
 * The key expires once the bucket is full again (nothing to remember). */
static const char script[] =
        "local t = redis.call('TIME')\n"
        "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
        "local rate, period, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]),\n"
        "  tonumber(ARGV[3]), tonumber(ARGV[4])\n"
        "local iv = period * 1000 / rate\n"
        "local tat = tonumber(redis.call('GET', KEYS[1]) or now)\n"
        "if tat < now then tat = now end\n"
        "local avail = math.floor(burst - (tat - now) / iv + 1e-9)\n"
        "if avail < 1 then\n"
        "  return {0, math.ceil(tat - now - (burst - 1) * iv)}\n"
        "end\n"
        "local n = math.min(avail, want)\n"
        "tat = tat + n * iv\n"
        "redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX',\n"
        "  math.ceil((tat - now) / 1000) + 1000)\n"
        "return {n, 0}\n";

static atomic_bool redis_up;

/* A worker's ask; then the command in flight or the retry waiting. */
struct want {
	struct fc_msg m;
	struct fc_glimits *g;
	struct fc_ratelimit *rl; /* referenced */
	uint64_t h;
	uint64_t due_ms; /* a retry's */
	bool eval;       /* sent as EVAL (after a NOSCRIPT) */
	struct want *next;
};

struct fc_glimits {
	struct fc_loop *loop;
	struct fc_mailbox mb;
	struct fc_redis *redis; /* NULL: no cluster.redis */
	char *host, *password;
	uint16_t port;
	uint32_t timeout_ms;
	char sha[41]; /* of the script, from SCRIPT LOAD; "": not known yet */
	struct want *retries;
	struct fc_timer retry;
	uint64_t asks, granted, empty;
};

uint32_t fc_glimits_retry_ms(int64_t wait_us)
{
	int64_t ms = (wait_us + 999) / 1000;
	return ms < 1 ? 1 : ms > 1000 ? 1000 : (uint32_t)ms;
}

bool fc_glimits_up(void)
{
	return atomic_load_explicit(&redis_up, memory_order_relaxed);
}

static void end_want(struct want *w, uint32_t granted)
{
	fc_ratelimit_lease_grant(w->rl, w->h, granted);
	fc_ratelimit_unref(w->rl);
	free(w);
}

static void on_answer(void *arg, redisReply *r);

static void send_want(struct fc_glimits *g, struct want *w)
{
	if (!g->redis || !fc_redis_is_up(g->redis)) {
		end_want(w, 0);
		return;
	}
	char key[256], a[4][24];
	const char *name = fc_ratelimit_redis_key(w->rl);
	int kl = snprintf(key, sizeof(key), "%s%016llx", name, (unsigned long long)w->h);
	size_t al[4];
	al[0] = (size_t)snprintf(a[0], sizeof(a[0]), "%u", fc_ratelimit_rate(w->rl));
	al[1] = (size_t)snprintf(a[1], sizeof(a[1]), "%u", fc_ratelimit_period_ms(w->rl));
	al[2] = (size_t)snprintf(a[2], sizeof(a[2]), "%u", fc_ratelimit_burst(w->rl));
	al[3] = (size_t)snprintf(a[3], sizeof(a[3]), "%u", fc_ratelimit_lease_batch(w->rl));
	bool eval = w->eval || !g->sha[0];
	const char *argv[] = {eval ? "EVAL" : "EVALSHA",
	                      eval ? script : g->sha,
	                      "1",
	                      key,
	                      a[0],
	                      a[1],
	                      a[2],
	                      a[3]};
	size_t lens[] = {eval ? 4 : 7,
	                 eval ? sizeof(script) - 1 : strlen(g->sha),
	                 1,
	                 kl < 0 ? 0 : (size_t)kl,
	                 al[0],
	                 al[1],
	                 al[2],
	                 al[3]};
	if (fc_redis_command(g->redis, 8, argv, lens, on_answer, w) < 0)
		end_want(w, 0);
}

static void arm_retry(struct fc_glimits *g)
{
	uint64_t when = 0;
	for (struct want *w = g->retries; w; w = w->next)
		if (!when || w->due_ms < when)
			when = w->due_ms;
	if (!when)
		fc_timer_cancel(g->loop, &g->retry);
	else
		fc_timer_set(g->loop, &g->retry, when);
}

static void on_retry(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_glimits *g = entry_of(t, struct fc_glimits, retry);
	struct want *due = NULL, **p = &g->retries;
	while (*p) {
		struct want *w = *p;
		if (w->due_ms <= loop->now_ms) {
			*p = w->next;
			w->next = due;
			due = w;
		} else {
			p = &w->next;
		}
	}
	while (due) {
		struct want *w = due;
		due = w->next;
		w->next = NULL;
		send_want(g, w);
	}
	arm_retry(g);
}

static void on_answer(void *arg, redisReply *r)
{
	struct want *w = arg;
	struct fc_glimits *g = w->g;
	if (!r) { /* the connection went: the redis client logged it */
		end_want(w, 0);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8) && !w->eval) {
		w->eval = true; /* a restarted Redis: EVAL loads the script again */
		send_want(g, w);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER) {
		if (r->type != REDIS_REPLY_ERROR)
			fc_redis_count_error(g->redis);
		fc_debug("redis: rate limit script: unexpected answer%s%.200s",
		         r->type == REDIS_REPLY_ERROR ? ": " : "",
		         r->type == REDIS_REPLY_ERROR ? r->str : "");
		end_want(w, 0);
		return;
	}
	w->eval = false;
	long long n = r->element[0]->integer;
	if (n > 0) {
		g->granted += (uint64_t)n;
		end_want(w, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
		return;
	}
	/* none there: the lease stays asked for, and is asked again when the
	 * next token is due (requests meanwhile are refused by the empty lease) */
	g->empty++;
	w->due_ms = g->loop->now_ms + fc_glimits_retry_ms(r->element[1]->integer);
	w->next = g->retries;
	g->retries = w;
	if (!g->retry.slot || g->retry.when > w->due_ms)
		fc_timer_set(g->loop, &g->retry, w->due_ms);
}

static void on_msg(struct fc_msg *m, void *arg)
{
	struct fc_glimits *g = arg;
	struct want *w = entry_of(m, struct want, m);
	w->g = g;
	g->asks++;
	send_want(g, w);
}

void fc_glimits_want(struct fc_mailbox *mb, struct fc_ratelimit *rl, uint64_t h)
{
	struct want *w = mb ? calloc(1, sizeof(*w)) : NULL;
	if (!w) {
		fc_ratelimit_lease_grant(rl, h, 0);
		return;
	}
	fc_ratelimit_ref(rl);
	w->rl = rl;
	w->h = h;
	w->m.fn = on_msg;
	fc_mailbox_post(mb, &w->m);
}

static void on_script(void *arg, redisReply *r)
{
	struct fc_glimits *g = arg;
	if (r && r->type == REDIS_REPLY_STRING && r->len < sizeof(g->sha)) {
		memcpy(g->sha, r->str, r->len);
		g->sha[r->len] = 0;
	}
}

static void on_state(void *arg, bool up)
{
	struct fc_glimits *g = arg;
	atomic_store_explicit(&redis_up, up, memory_order_relaxed);
	if (!up)
		return;
	const char *argv[] = {"SCRIPT", "LOAD", script};
	size_t lens[] = {6, 4, sizeof(script) - 1};
	fc_redis_command(g->redis, 3, argv, lens, on_script, g);
}

int fc_glimits_create(struct fc_loop *loop, struct fc_glimits **out)
{
	struct fc_glimits *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->loop = loop;
	g->retry.cb = on_retry;
	int rc = fc_mailbox_init(&g->mb, loop, g);
	if (rc < 0) {
		free(g);
		return rc;
	}
	*out = g;
	return 0;
}

static void wipe_free(char *s)
{
	if (s) {
		memset(s, 0, strlen(s));
		free(s);
	}
}

static void close_redis(struct fc_glimits *g)
{
	fc_redis_destroy(g->redis); /* asks in flight end with nothing */
	g->redis = NULL;
	atomic_store_explicit(&redis_up, false, memory_order_relaxed);
	free(g->host);
	wipe_free(g->password);
	g->host = g->password = NULL;
	g->sha[0] = 0;
}

void fc_glimits_destroy(struct fc_glimits *g)
{
	if (!g)
		return;
	fc_mailbox_fini(&g->mb); /* the asks still queued go to Redis's close */
	close_redis(g);
	fc_timer_cancel(g->loop, &g->retry);
	while (g->retries) {
		struct want *w = g->retries;
		g->retries = w->next;
		end_want(w, 0);
	}
	free(g);
}

struct fc_mailbox *fc_glimits_mailbox(struct fc_glimits *g)
{
	return g ? &g->mb : NULL;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

int fc_glimits_configure(struct fc_glimits *g, const struct fc_config *cfg)
{
	const struct fc_config_redis *rd = &cfg->cluster.redis;
	if (g->redis && rd->enabled && same_str(g->host, rd->host) && g->port == rd->port &&
	    same_str(g->password, rd->password) && g->timeout_ms == rd->timeout_ms)
		return 0;
	if (g->redis)
		close_redis(g);
	if (!rd->enabled)
		return 0;
	g->host = strdup(rd->host);
	g->password = rd->password ? strdup(rd->password) : NULL;
	if (!g->host || (rd->password && !g->password)) {
		close_redis(g);
		return -ENOMEM;
	}
	g->port = rd->port;
	g->timeout_ms = rd->timeout_ms;
	struct fc_redis_options o = {
	        .host = g->host,
	        .port = g->port,
	        .password = g->password,
	        .timeout_ms = g->timeout_ms,
	        .on_state = on_state,
	        .arg = g,
	};
	int rc = fc_redis_create(g->loop, &o, &g->redis);
	if (rc < 0) {
		g->redis = NULL;
		close_redis(g);
	}
	return rc;
}

void fc_glimits_flush(struct fc_loop *loop, void *arg)
{
	(void)loop;
	struct fc_glimits *g = arg;
	if (g->redis)
		fc_redis_flush(g->redis);
}

void fc_glimits_stats(const struct fc_glimits *g, struct fc_glimits_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!g)
		return;
	st->asks = g->asks;
	st->tokens_granted = g->granted;
	st->empty = g->empty;
	if (!g->redis)
		return;
	struct fc_redis_stats rs;
	fc_redis_stats(g->redis, &rs);
	st->configured = true;
	st->up = rs.up;
	snprintf(st->address, sizeof(st->address), "%s", fc_redis_address(g->redis));
	st->requests = rs.commands;
	st->errors = rs.errors;
	st->state_changes = rs.state_changes;
}
