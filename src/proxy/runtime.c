/* runtime.c — the live pools of one configuration snapshot: a libfulcrum pool
 * per configured pool, with the proxy's per-server record (address, idle
 * connections per worker) hung on each server. A runtime built with a
 * previous one takes over, by identity (pool name, server name, URL), the
 * records, counters and health state of the servers it keeps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <fulcrum/fulcrum.h>

#include "core/log.h"
#include "core/sock.h"
#include "health/health.h"
#include "proxy/proxy.h"
#include "proxy/ratelimit.h"
#include "tls/tls.h"

/* TLS problems at start: warnings are logged, the first error is kept. */
struct tls_report {
	char *err;
	size_t errlen;
	bool failed;
};

static void tls_report(void *arg, bool warning, const char *msg)
{
	struct tls_report *r = arg;
	if (warning) {
		fc_warn("%s", msg);
	} else if (!r->failed) {
		r->failed = true;
		snprintf(r->err, r->errlen, "%s", msg);
	}
}

void fc_rt_server_ref(struct fc_rt_server *rs)
{
	atomic_fetch_add_explicit(&rs->refs, 1, memory_order_relaxed);
}

void fc_rt_server_unref(struct fc_rt_server *rs)
{
	if (!rs || atomic_fetch_sub_explicit(&rs->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(rs->url);
	free(rs->name);
	free(rs->tls_host);
	free(rs);
}

/* libfulcrum's server_free: the server's reference on its record. */
static void rt_server_free(void *user)
{
	fc_rt_server_unref(user);
}

struct fc_rt_server *fc_rt_server_create(const struct fc_config_server *cs, uint32_t n_workers)
{
	/* the per-worker slots are cache-line aligned */
	size_t size = (sizeof(struct fc_rt_server) + n_workers * sizeof(struct fc_rt_idle) + 63) &
	              ~(size_t)63;
	struct fc_rt_server *rs = aligned_alloc(64, size);
	if (!rs)
		return NULL;
	memset(rs, 0, size);
	atomic_init(&rs->refs, 1);
	memcpy(&rs->addr, &cs->addr, sizeof(rs->addr));
	rs->addr_len = cs->addr_len;
	snprintf(rs->hostport, sizeof(rs->hostport), "%s:%u", cs->host, cs->port);
	rs->url = strdup(cs->url);
	rs->name = strdup(cs->name);
	rs->tls_host = cs->tls ? strdup(cs->host) : NULL;
	rs->n_workers = n_workers;
	for (uint32_t i = 0; i < n_workers; i++) {
		fc_link_init(&rs->idle[i].list);
		fc_link_init(&rs->idle[i].active);
	}
	if (!rs->url || !rs->name || (cs->tls && !rs->tls_host)) {
		fc_rt_server_unref(rs);
		return NULL;
	}
	return rs;
}

/* The previous runtime's server with cs's identity (referenced), or NULL. */
static struct fc_server *prev_server(struct fc_rt_pool *pp, const struct fc_config_server *cs)
{
	if (!pp)
		return NULL;
	struct fc_server *srv = fc_pool_find(pp->pool, cs->name);
	struct fc_rt_server *rs = srv ? fc_server_user(srv) : NULL;
	if (srv &&
	    (strcmp(fc_server_address(srv), cs->url) != 0 || !rs || rs->addr_len != cs->addr_len ||
	     memcmp(&rs->addr, &cs->addr, cs->addr_len) != 0)) {
		/* another URL under the same name, or the name resolved elsewhere */
		fc_server_unref(srv);
		srv = NULL;
	}
	return srv;
}

/* The pool's sticky secret: the configured one, else one derived from the
 * process's secret and the pool's name (so cookies hold across reloads and,
 * with state_dir, restarts), else a random one. */
static void pool_secret(const struct fc_config_pool *cp, const struct fc_runtime_options *o,
                        uint8_t out[32], const uint8_t **secret, size_t *len)
{
	if (cp->sticky.secret) {
		*secret = (const uint8_t *)cp->sticky.secret;
		*len = strlen(cp->sticky.secret);
		return;
	}
	if (o && o->secret && o->secret_len) {
		fc_hmac_sha256(o->secret, o->secret_len, cp->name, strlen(cp->name), out);
	} else if (getrandom(out, 32, 0) != 32) {
		uint64_t now = fc_time_ns();
		for (size_t k = 0; k < 32; k++)
			out[k] = (uint8_t)((now >> (k % 8 * 8)) ^ k);
	}
	*secret = out;
	*len = 32;
}

static uint64_t realtime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One server of pool p: its record (kept from prev or new), libfulcrum's
 * server (inheriting the old one's state) and its health record. */
static int build_server(struct fc_runtime *rt, struct fc_rt_pool *p, struct fc_rt_pool *pp,
                        const struct fc_config_server *cs, uint64_t now, char *err, size_t errlen)
{
	const struct fc_config_pool *cp = p->cfg;
	if (cs->resolve && cs->addr_len == 0)
		return 0; /* a host name not resolved yet: discover.c adds it when it is */
	struct fc_server *old = prev_server(pp, cs);
	struct fc_rt_server *rs = old ? fc_server_user(old) : NULL;
	int rc = -ENOMEM;
	if (rs)
		fc_rt_server_ref(rs);
	else if (!(rs = fc_rt_server_create(cs, rt->n_workers)))
		goto nomem;
	struct fc_server_spec spec = {.name = cs->name,
	                              .address = cs->url,
	                              .weight = cs->weight,
	                              .inherit = old,
	                              .max_conns = cs->max_conns,
	                              .tier = cs->tier};
	struct fc_server *srv = NULL;
	rc = fc_pool_upsert(p->pool, &spec, now, &srv);
	if (rc < 0 || !srv) {
		fc_rt_server_unref(rs);
		snprintf(err, errlen, "pool %s: server %s: %s", cp->name, cs->name,
		         strerror(rc < 0 ? -rc : EINVAL));
		rc = -EINVAL;
		goto out;
	}
	fc_server_set_user(srv, rs); /* the server's reference */
	if (rt->health) {
		struct fc_health_server *hs = NULL;
		rc = fc_health_add_server(rt->health, p->pool, cp, cs, srv,
		                          (const struct sockaddr *)&cs->addr, cs->addr_len, &hs);
		if (rc < 0)
			goto nomem;
		if (cs->tls)
			fc_health_server_set_tls(hs, p->tls, rs->tls_host);
		struct fc_health_server *ohs = old ? atomic_load(&rs->health) : NULL;
		if (ohs)
			fc_health_server_inherit(hs, ohs);
		/* the admin API's drain or maint (its journal says so) wins */
		fc_health_server_drain(hs, cs->admin_state != FC_ADMIN_READY, now);
	}
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
out:
	if (old)
		fc_server_unref(old);
	return rc;
}

static int build_pool(struct fc_runtime *rt, size_t i, const struct fc_runtime_options *o,
                      struct tls_report *tr, char *err, size_t errlen)
{
	struct fc_config *cfg = rt->cfg;
	const struct fc_config_pool *cp = &cfg->pools[i];
	struct fc_rt_pool *p = &rt->pools[i];
	struct fc_rt_pool *pp = o && o->prev ? fc_runtime_pool_named(o->prev, cp->name) : NULL;
	uint64_t now = fc_time_ns();
	p->cfg = cp;
	p->started_unix_ms = pp ? pp->started_unix_ms : realtime_ms();
	if (pp) { /* the pool's counters go on */
		p->stats = pp->stats;
		atomic_fetch_add_explicit(&p->stats->refs, 1, memory_order_relaxed);
	} else {
		size_t n = rt->n_workers ? rt->n_workers : 1;
		size_t size = (sizeof(*p->stats) + n * sizeof(p->stats->ctr[0]) + 63) & ~(size_t)63;
		if (!(p->stats = aligned_alloc(64, size)))
			return -ENOMEM;
		memset(p->stats, 0, size);
		atomic_init(&p->stats->refs, 1);
	}
	p->ctr = p->stats->ctr;
	/* the waiting requests stay in it across reloads; wake: parks its
	 * requests there, so it has one even without queue: */
	if (cp->queue.enabled || cp->wake.enabled) {
		if (pp && pp->queue) {
			p->queue = pp->queue;
			fc_queue_ref(p->queue);
			if (fc_queue_set_max(p->queue, cp->queue.max) < 0)
				return -ENOMEM;
		} else if (!(p->queue = fc_queue_create(cp->name, cp->queue.max))) {
			return -ENOMEM;
		}
	}
	if (cp->has_tls_servers && !(p->tls = fc_tls_client_create(cfg, i, tls_report, tr)))
		return -EINVAL;
	uint8_t generated[32];
	const uint8_t *secret;
	size_t secret_len;
	pool_secret(cp, o, generated, &secret, &secret_len);
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof(seed), 0) < 0)
		seed = now ^ (uint64_t)i;
	struct fc_pool_options po = {
	        .name = cp->name,
	        .algorithm = cp->algorithm,
	        .slow_start_ns = (uint64_t)cp->slow_start_ms * 1000000ull,
	        .balance_factor = cp->hash.balance_factor,
	        .sticky = cp->sticky.enabled,
	        .sticky_secret = secret,
	        .sticky_secret_len = secret_len,
	        .seed = seed | 1,
	        .panic_permille = cp->panic_threshold_pct * 10,
	        .server_free = rt_server_free,
	};
	int rc = fc_pool_create(&po, &p->pool, err, errlen);
	for (size_t k = 0; rc == 0 && k < cp->n_servers; k++)
		rc = build_server(rt, p, pp, &cp->servers[k], now, err, errlen);
	return rc;
}

/* Whether two limits count the same keys the same way (their buckets can
 * go on from one configuration to the next). */
static bool same_key(const struct fc_config_rate_limit *a, const struct fc_config_rate_limit *b)
{
	return a->key == b->key &&
	       (a->key_name == b->key_name ||
	        (a->key_name && b->key_name && !strcmp(a->key_name, b->key_name)));
}

/* The rate limits' buckets: a limit of the previous runtime with the same
 * name, key, rate, burst and size keeps its table (so a reload does not
 * hand every client a fresh burst); any other gets a new one. */
static int build_limits(struct fc_runtime *rt, const struct fc_runtime_options *o, char *err,
                        size_t errlen)
{
	const struct fc_config *cfg = rt->cfg;
	if (!cfg->n_rate_limits)
		return 0;
	rt->limits = calloc(cfg->n_rate_limits, sizeof(*rt->limits));
	if (!rt->limits)
		goto nomem;
	rt->n_limits = cfg->n_rate_limits;
	for (size_t i = 0; i < cfg->n_rate_limits; i++) {
		const struct fc_config_rate_limit *c = &cfg->rate_limits[i];
		struct fc_rt_limit *l = &rt->limits[i];
		l->cfg = c;
		struct fc_ratelimit_spec spec = {
		        .rate = c->rate,
		        .period_ms = c->period_ms,
		        .burst = c->burst,
		        .max_keys = c->max_keys,
		        .n_workers = rt->n_workers ? rt->n_workers : 1,
		};
		char rkey[200];
		if (c->scope == FC_RATE_SCOPE_GLOBAL) {
			/* every instance hashes a key the same way: its Redis key is
			 * PREFIX rl:NAME:HASH */
			snprintf(rkey, sizeof(rkey), "%srl:%s:",
			         cfg->cluster.redis.key_prefix ? cfg->cluster.redis.key_prefix
			                                       : "fulcrum:",
			         c->name);
			spec.redis_key = rkey;
			spec.seed = fc_hash64_seeded(rkey, strlen(rkey), 0x676c6f62616cull) | 1;
			spec.lease_batch =
			        fc_ratelimit_lease_batch_for(c->rate, c->period_ms, c->burst);
		}
		const struct fc_runtime *prev = o ? o->prev : NULL;
		for (size_t k = 0; prev && k < prev->n_limits; k++) {
			const struct fc_rt_limit *pl = &prev->limits[k];
			if (!strcmp(pl->cfg->name, c->name) && same_key(pl->cfg, c) &&
			    fc_ratelimit_same(pl->rl, &spec)) {
				l->rl = pl->rl;
				fc_ratelimit_ref(l->rl);
				break;
			}
		}
		int rc = l->rl ? 0 : fc_ratelimit_create(&spec, &l->rl);
		if (rc < 0) {
			snprintf(err, errlen, "rate_limits.%s: %s", c->name,
			         rc == -ENOMEM ? "out of memory for its buckets" : "invalid");
			return rc;
		}
		if (c->n_exempt && !(l->exempt = calloc(c->n_exempt, sizeof(*l->exempt))))
			goto nomem;
		for (size_t k = 0; k < c->n_exempt; k++) {
			if (fc_cidr_parse(c->exempt[k], strlen(c->exempt[k]), &l->exempt[k]) < 0) {
				snprintf(err, errlen,
				         "rate_limits.%s.exempt[%zu]: invalid CIDR '%s'", c->name,
				         k, c->exempt[k]);
				return -EINVAL;
			}
			l->n_exempt++;
		}
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

int fc_runtime_create(struct fc_config *cfg, uint32_t n_workers, const struct fc_runtime_options *o,
                      struct fc_runtime **out, char *err, size_t errlen)
{
	struct fc_runtime *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	atomic_init(&rt->refs, 1);
	rt->cfg = fc_config_ref(cfg);
	rt->n_workers = n_workers;
	rt->n_pools = cfg->n_pools;
	rt->access_fd = o ? o->access_fd : -1;
	rt->conns = o && o->conns ? o->conns : &rt->own_conns;
	rt->generation = o && o->prev ? o->prev->generation + 1 : 1;
	rt->wake_mb = o ? o->wake_mb : NULL;
	rt->glimit_mb = o ? o->glimit_mb : NULL;
	size_t use_size = (n_workers ? n_workers : 1) * sizeof(*rt->use);
	rt->use = aligned_alloc(64, use_size);
	rt->pools = calloc(cfg->n_pools ? cfg->n_pools : 1, sizeof(*rt->pools));
	rt->tls = calloc(cfg->n_listeners ? cfg->n_listeners : 1, sizeof(*rt->tls));
	if (!rt->use || !rt->pools || !rt->tls)
		goto nomem;
	memset(rt->use, 0, use_size);
	if (o && o->loop && fc_health_create(o->loop, o->hooks, &rt->health) < 0)
		goto nomem;
	struct tls_report tr = {err, errlen, false};
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].tls &&
		    !(rt->tls[i] = fc_tls_server_create(cfg, i, tls_report, &tr)))
			goto fail;
	for (size_t i = 0; i < cfg->n_pools; i++)
		if (build_pool(rt, i, o, &tr, err, errlen) < 0)
			goto fail;
	if (build_limits(rt, o, err, errlen) < 0)
		goto fail;
	/* trusted proxies for the real client IP */
	const struct fc_config_client_ip *ci = &cfg->client_ip;
	if (ci->n_trusted) {
		rt->trusted = calloc(ci->n_trusted, sizeof(*rt->trusted));
		if (!rt->trusted)
			goto nomem;
		for (size_t i = 0; i < ci->n_trusted; i++) {
			if (fc_cidr_parse(ci->trusted[i], strlen(ci->trusted[i]), &rt->trusted[i]) <
			    0) {
				snprintf(err, errlen, "client.ip.trusted[%zu]: invalid CIDR '%s'",
				         i, ci->trusted[i]);
				goto fail;
			}
		}
	}
	rt->clientip.trusted = rt->trusted;
	rt->clientip.n_trusted = ci->n_trusted;
	rt->clientip.recursive = ci->recursive;
	*out = rt;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	fc_runtime_destroy(rt);
	return -EINVAL;
}

/* Calls fn on every server of rt's pools (a reference held meanwhile). */
static void each_server(struct fc_runtime *rt, void (*fn)(struct fc_server *srv))
{
	for (size_t i = 0; i < rt->n_pools; i++) {
		struct fc_pool *pool = rt->pools[i].pool;
		size_t cap = fc_pool_size(pool) + 16;
		struct fc_server **list = calloc(cap, sizeof(*list));
		if (!list) {
			fc_error("out of memory walking pool %s", rt->pools[i].cfg->name);
			continue;
		}
		size_t n = fc_pool_servers(pool, list, cap);
		for (size_t k = 0; k < n; k++) {
			fn(list[k]);
			fc_server_unref(list[k]);
		}
		free(list);
	}
}

static void mark_removed(struct fc_server *srv)
{
	struct fc_rt_server *rs = fc_server_user(srv);
	if (rs)
		atomic_store(&rs->removed, true);
}

static void mark_kept(struct fc_server *srv)
{
	struct fc_rt_server *rs = fc_server_user(srv);
	if (rs)
		atomic_store(&rs->removed, false);
}

static void publish_health(void *arg, struct fc_server *srv, struct fc_health_server *hs)
{
	(void)arg;
	struct fc_rt_server *rs = fc_server_user(srv);
	if (rs)
		atomic_store_explicit(&rs->health, hs, memory_order_release);
}

void fc_runtime_activate(struct fc_runtime *rt, struct fc_runtime *prev)
{
	if (prev) {
		if (prev->health)
			fc_health_stop(prev->health);
		each_server(prev, mark_removed);
	}
	each_server(rt, mark_kept);
	if (rt->health)
		fc_health_each(rt->health, publish_health, NULL);
}

void fc_runtime_ref(struct fc_runtime *rt)
{
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
}

void fc_runtime_unref(struct fc_runtime *rt)
{
	atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_release);
}

void fc_runtime_destroy(struct fc_runtime *rt)
{
	if (!rt)
		return;
	/* health first: its records reference the pools' servers */
	fc_health_destroy(rt->health);
	for (size_t i = 0; rt->pools && i < rt->n_pools; i++) {
		if (rt->pools[i].pool)
			fc_pool_destroy(rt->pools[i].pool);
		fc_tls_client_destroy(rt->pools[i].tls);
		fc_queue_unref(rt->pools[i].queue);
		struct fc_rt_pool_stats *st = rt->pools[i].stats;
		if (st && atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1)
			free(st);
	}
	free(rt->pools);
	for (size_t i = 0; rt->tls && i < rt->cfg->n_listeners; i++)
		fc_tls_server_destroy(rt->tls[i]);
	free(rt->tls);
	free(rt->trusted);
	for (size_t i = 0; rt->limits && i < rt->n_limits; i++) {
		fc_ratelimit_unref(rt->limits[i].rl);
		free(rt->limits[i].exempt);
	}
	free(rt->limits);
	free(rt->use);
	fc_config_unref(rt->cfg);
	free(rt);
}

struct fc_rt_pool *fc_runtime_pool(struct fc_runtime *rt, const struct fc_config_pool *cp)
{
	size_t i = (size_t)(cp - rt->cfg->pools);
	return i < rt->n_pools ? &rt->pools[i] : NULL;
}

struct fc_rt_pool *fc_runtime_pool_named(struct fc_runtime *rt, const char *name)
{
	for (size_t i = 0; i < rt->n_pools; i++)
		if (strcmp(rt->pools[i].cfg->name, name) == 0)
			return &rt->pools[i];
	return NULL;
}

bool fc_runtime_is_trusted(const struct fc_runtime *rt, const struct fc_addr *a)
{
	for (size_t i = 0; i < rt->clientip.n_trusted; i++)
		if (fc_cidr_contains(&rt->trusted[i], a))
			return true;
	return false;
}
