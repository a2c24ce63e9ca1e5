/* api.c — the admin API's handlers: pools and servers as JSON, servers added,
 * changed and removed in the live pools (journaled first, then applied, so a
 * failed write changes nothing), waits until a server is removable, reload. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_internal.h"
#include "core/log.h"
#include "core/sock.h"
#include "health/health.h"
#include "proxy/discover.h"
#include "proxy/glimit.h"
#include "proxy/live.h"
#include "proxy/proxy.h"
#include "proxy/state.h"
#include "tls/tls.h"

/* ---------------------------------------------------------------- reading */

static struct fc_rt_pool *find_pool(const struct fc_admin_view *v, const char *name)
{
	for (size_t i = 0; v->rt && i < v->rt->n_pools; i++)
		if (strcmp(v->rt->pools[i].cfg->name, name) == 0)
			return &v->rt->pools[i];
	return NULL;
}

static long removal_index(const struct fc_admin *a, const char *pool, const char *server)
{
	for (size_t i = 0; i < a->n_removals; i++)
		if (strcmp(a->removals[i].pool, pool) == 0 &&
		    strcmp(a->removals[i].server, server) == 0)
			return (long)i;
	return -1;
}

static void write_time(struct fc_json *j, const char *key, double unix_s)
{
	char t[40];
	fc_admin_rfc3339(unix_s, t, sizeof(t));
	fc_json_kstr(j, key, t);
}

static void write_quantile(struct fc_json *j, const char *key, const uint64_t *hist, double q)
{
	double ms = fc_admin_hist_quantile_ms(hist, q);
	fc_json_key(j, key);
	if (ms < 0)
		fc_json_null(j);
	else
		fc_json_double(j, (double)(int64_t)(ms * 1000 + 0.5) / 1000);
}

static void write_server(struct fc_admin *a, struct fc_json *j, const struct fc_rt_pool *p,
                         struct fc_server *srv)
{
	uint64_t now = fc_time_ns();
	const char *pool = p->cfg->name, *name = fc_server_name(srv);
	struct fc_server_stats st;
	fc_server_stats(srv, now, &st);
	const struct fc_rt_server *rs = fc_server_user(srv);
	struct fc_health_info hi;
	struct fc_health_server *hs = rs ? atomic_load(&rs->health) : NULL;
	bool has_hi = hs != NULL;
	if (has_hi)
		fc_health_server_info(hs, &hi);
	struct fc_srv_totals t;
	fc_rt_server_totals(rs, &t);
	const struct fc_journal_override *o = fc_journal_find(&a->journal, pool, name);
	fc_json_obj(j);
	fc_json_kstr(j, "name", name);
	fc_json_kstr(j, "url", fc_server_address(srv));
	char addr[64] = "";
	if (rs)
		fc_sock_format((const struct sockaddr *)&rs->addr, addr, sizeof(addr));
	fc_json_kstr(j, "address", addr); /* what is connected to (the URL's host resolved) */
	fc_json_kstr(j, "state", fc_admin_server_states[st.state]);
	fc_json_kstr(j, "admin_state",
	             fc_admin_state_name(o && o->has_state ? o->state : FC_ADMIN_READY));
	fc_json_kbool(j, "removing", removal_index(a, pool, name) >= 0);
	fc_json_kstr(j, "reason", has_hi ? hi.reason : "");
	write_time(j, "since", has_hi ? fc_admin_wall(hi.since_ns) : a->started);
	fc_json_kuint(j, "weight", st.weight);
	fc_json_kuint(j, "effective_weight", st.effective_weight);
	fc_json_kuint(j, "tier", st.tier);
	fc_json_kuint(j, "active", st.active);
	fc_json_key(j, "max_conns");
	if (st.max_conns)
		fc_json_uint(j, st.max_conns);
	else
		fc_json_null(j);
	fc_json_kuint(j, "idle", t.idle);
	fc_json_kuint(j, "requests", st.requests);
	fc_json_key(j, "failures");
	fc_json_obj(j);
	fc_json_kuint(j, "connect", t.fail[FC_FAIL_CONNECT]);
	fc_json_kuint(j, "timeout", t.fail[FC_FAIL_TIMEOUT]);
	fc_json_kuint(j, "reset", t.fail[FC_FAIL_RESET]);
	fc_json_kuint(j, "bad_response", t.fail[FC_FAIL_BAD_RESPONSE]);
	fc_json_kuint(j, "status_5xx", t.fail[FC_FAIL_STATUS_5XX]);
	fc_json_obj_end(j);
	write_quantile(j, "latency_p50_ms", t.hist, 0.5);
	write_quantile(j, "latency_p99_ms", t.hist, 0.99);
	fc_json_key(j, "last_check");
	if (has_hi && hi.active && hi.last_check_ns) {
		fc_json_obj(j);
		write_time(j, "time", fc_admin_wall(hi.last_check_ns));
		fc_json_kstr(j, "result", hi.last_check_ok ? "ok" : "failed");
		fc_json_kdouble(j, "duration_ms",
		                (double)(hi.last_check_latency_ns / 1000) / 1000.0);
		fc_json_kstr(j, "detail", hi.last_result);
		fc_json_obj_end(j);
	} else {
		fc_json_null(j);
	}
	fc_json_obj_end(j);
}

/* The servers of a pool, referenced (the caller unrefs them), in a malloc'ed array. */
static struct fc_server **pool_servers(struct fc_rt_pool *p, size_t *n)
{
	size_t cap = fc_pool_size(p->pool) + 16;
	struct fc_server **v = malloc(cap * sizeof(*v));
	*n = v ? fc_pool_servers(p->pool, v, cap) : 0;
	return v;
}

static void unref_all(struct fc_server **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fc_server_unref(v[i]);
	free(v);
}

/* A pool's "resolve" (its servers' host names) or "discover" (its DNS
 * name) object, or null when the pool has none. */
static void write_discovery(struct fc_admin *a, struct fc_json *j, const struct fc_rt_pool *p,
                            bool resolve)
{
	struct fc_discovery_info di;
	fc_json_key(j, resolve ? "resolve" : "discover");
	if (!fc_discovery_info(a->hooks.discovery, p->cfg->name, resolve, &di)) {
		fc_json_null(j);
		return;
	}
	fc_json_obj(j);
	if (resolve) {
		fc_json_kuint(j, "names", di.names);
		fc_json_kuint(j, "resolved", di.servers);
	} else {
		fc_json_kstr(j, "dns", di.dns);
		fc_json_kstr(j, "type", di.type);
		fc_json_kuint(j, "servers", di.servers);
	}
	fc_json_kstr(j, "last_result", di.last_result);
	fc_json_kstr(j, "last_error", di.last_error);
	if (di.last_ok_ns) {
		write_time(j, "last_answer", fc_admin_wall(di.last_ok_ns));
	} else {
		fc_json_key(j, "last_answer");
		fc_json_null(j);
	}
	fc_json_kuint(j, "lookups_ok", di.ok);
	if (!resolve)
		fc_json_kuint(j, "lookups_empty", di.empty);
	fc_json_kuint(j, "lookups_failed", di.failed);
	fc_json_obj_end(j);
}

static void write_pool(struct fc_admin *a, struct fc_json *j, struct fc_rt_pool *p,
                       uint32_t n_workers)
{
	size_t n;
	struct fc_server **v = pool_servers(p, &n);
	uint64_t now = fc_time_ns();
	uint32_t healthy = 0, measured = 0;
	double lat = 0;
	for (size_t i = 0; i < n; i++) {
		struct fc_server_stats st;
		fc_server_stats(v[i], now, &st);
		healthy += st.state == FC_SERVER_HEALTHY;
		if (st.ewma_latency_ns) {
			lat += (double)st.ewma_latency_ns / 1e6;
			measured++;
		}
	}
	double started = fc_admin_pool_started(a, p->cfg->name);
	fc_json_obj(j);
	fc_json_kstr(j, "name", p->cfg->name);
	fc_json_kstr(j, "algorithm", fc_pool_algorithm(p->pool));
	fc_json_kstr(j, "status", n && healthy == n ? "healthy" : healthy ? "degraded" : "down");
	char detail[80];
	snprintf(detail, sizeof(detail), "%u/%zu server%s %s healthy", healthy, n,
	         n == 1 ? "" : "s", n == 1 ? "is" : "are");
	fc_json_kstr(j, "detail", detail);
	write_time(j, "started", started);
	fc_json_kdouble(j, "uptime", (double)(int64_t)(fc_admin_wall(now) - started));
	fc_json_key(j, "latency");
	if (measured)
		fc_json_double(j, (double)(int64_t)(lat / measured * 1000 + 0.5) / 1000);
	else
		fc_json_null(j);
	uint64_t proto[FC_PROTO_N] = {0};
	for (uint32_t w = 0; p->ctr && w < n_workers; w++)
		for (int k = 0; k < FC_PROTO_N; k++)
			proto[k] += fc_ctr_get(&p->ctr[w].proto[k]);
	fc_json_key(j, "requests_by_protocol");
	fc_json_obj(j);
	fc_json_kuint(j, "http/1.1", proto[FC_PROTO_H1]);
	fc_json_kuint(j, "h2", proto[FC_PROTO_H2]);
	fc_json_obj_end(j);
	fc_json_key(j, "queue");
	if (p->queue) {
		uint64_t timeouts = 0, full = 0, wait[FC_HIST_BUCKETS] = {0};
		for (uint32_t w = 0; p->ctr && w < n_workers; w++) {
			timeouts += fc_ctr_get(&p->ctr[w].qtimeouts);
			full += fc_ctr_get(&p->ctr[w].qfull);
			fc_hist_sum(&p->ctr[w].qwait, wait, NULL);
		}
		fc_json_obj(j);
		fc_json_kuint(j, "length", fc_queue_waiting(p->queue));
		fc_json_kuint(j, "max", atomic_load_explicit(&p->queue->max, memory_order_relaxed));
		fc_json_kuint(j, "timeouts", timeouts);
		fc_json_kuint(j, "full", full);
		/* how long the requests that left the queue waited */
		write_quantile(j, "wait_p50_ms", wait, 0.5);
		write_quantile(j, "wait_p99_ms", wait, 0.99);
		fc_json_obj_end(j);
	} else {
		fc_json_null(j);
	}
	fc_json_key(j, "wake");
	if (p->cfg->wake.enabled && p->queue) {
		fc_json_obj(j);
		fc_json_kstr(j, "state", fc_wake_state_name(atomic_load(&p->queue->wake_state)));
		fc_json_obj_end(j);
	} else {
		fc_json_null(j);
	}
	write_discovery(a, j, p, true);
	write_discovery(a, j, p, false);
	fc_json_key(j, "servers");
	fc_json_arr(j);
	for (size_t i = 0; i < n; i++)
		write_server(a, j, p, v[i]);
	fc_json_arr_end(j);
	fc_json_obj_end(j);
	unref_all(v, n);
}

/* ---------------------------------------------------------------- input */

/* The body as a JSON object with only the keys listed (NULL-terminated);
 * NULL after answering 400. */
static json_t *body_object(const struct fc_admin_req *req, struct fc_admin_resp *r,
                           const char *const *keys)
{
	json_error_t je;
	json_t *o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		fc_admin_error(r, 400, "malformed JSON: line %d column %d: %s", je.line, je.column,
		               je.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		fc_admin_error(r, 400, "the body must be a JSON object");
		return NULL;
	}
	const char *k;
	json_t *val;
	json_object_foreach(o, k, val)
	{
		bool known = false;
		for (const char *const *p = keys; *p; p++)
			known |= strcmp(*p, k) == 0;
		if (!known) {
			char list[128] = "";
			for (const char *const *p = keys; *p; p++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				         p == keys ? "" : ", ", *p);
			fc_admin_error(r, 400, "unknown key \"%.64s\" (known: %s)", k, list);
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* weight: an integer 0..1000. False after answering 400. */
static bool get_weight(json_t *v, unsigned *out, struct fc_admin_resp *r)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > FC_WEIGHT_MAX) {
		if (json_is_integer(v))
			fc_admin_error(r, 400, "weight must be 0..%d (got %lld)", FC_WEIGHT_MAX,
			               (long long)json_integer_value(v));
		else
			fc_admin_error(r, 400, "weight must be an integer 0..%d", FC_WEIGHT_MAX);
		return false;
	}
	*out = (unsigned)json_integer_value(v);
	return true;
}

/* ---------------------------------------------------------------- writing */

/* Writes the journal changed by change(); on success it becomes the
 * admin's. 0, or -errno after answering 500. */
static int journal_commit(struct fc_admin *a, const struct fc_admin_view *v,
                          struct fc_journal *next, struct fc_admin_resp *r)
{
	char err[4400];
	const char *dir = fc_state_dir(v->rt->cfg);
	int rc = dir ? fc_journal_save(dir, next, err, sizeof(err)) : -EROFS;
	if (!dir)
		snprintf(
		        err, sizeof(err),
		        "the journal cannot be written: state_dir %s (and its fallbacks) cannot be "
		        "created or written",
		        v->rt->cfg->state_dir);
	if (rc < 0) {
		fc_journal_fini(next);
		fc_error("admin: %s", err);
		fc_admin_error(r, 500, "nothing was changed: %s", err);
		return rc;
	}
	fc_journal_fini(&a->journal);
	a->journal = *next;
	return 0;
}

/* The live change's view of v. */
static struct fc_live live_of(const struct fc_admin_view *v)
{
	return (struct fc_live){.rt = v->rt, .ws = v->ws, .n_workers = v->n_workers};
}

static void add_server(struct fc_admin *a, const struct fc_admin_view *v, struct fc_rt_pool *p,
                       const struct fc_admin_req *req, struct fc_admin_resp *r)
{
	static const char *const keys[] = {"url", "name", "weight", NULL};
	json_t *o = body_object(req, r, keys);
	if (!o)
		return;
	json_t *url = json_object_get(o, "url"), *name = json_object_get(o, "name"),
	       *weight = json_object_get(o, "weight");
	unsigned w = 1;
	struct fc_config_server cs;
	char err[600];
	if (!json_is_string(url)) {
		fc_admin_error(r, 400, "url is required (a string: http://host:port)");
		goto out;
	}
	if (name && !json_is_string(name)) {
		fc_admin_error(r, 400, "name must be a string");
		goto out;
	}
	if (weight && !get_weight(weight, &w, r))
		goto out;
	if (fc_config_server_parse(p->cfg, json_string_value(url),
	                           name ? json_string_value(name) : NULL, w, &cs, err,
	                           sizeof(err)) < 0) {
		fc_admin_error(r, 400, "%s", err);
		goto out;
	}
	struct fc_server *dup = fc_pool_find(p->pool, cs.name);
	if (dup || removal_index(a, p->cfg->name, cs.name) >= 0) {
		if (dup)
			fc_server_unref(dup);
		fc_admin_error(r, 409, "pool %s already has a server called %s", p->cfg->name,
		               cs.name);
		goto fini;
	}
	struct fc_journal next, before;
	if (fc_journal_copy(&before, &a->journal) < 0 || fc_journal_copy(&next, &a->journal) < 0 ||
	    fc_journal_add(&next, p->cfg->name, cs.name, cs.url, cs.weight) < 0) {
		fc_journal_fini(&before);
		fc_journal_fini(&next);
		fc_admin_error(r, 500, "out of memory");
		goto fini;
	}
	if (journal_commit(a, v, &next, r) < 0) {
		fc_journal_fini(&before);
		goto fini;
	}
	struct fc_live l = live_of(v);
	struct fc_server *srv = fc_live_add(&l, p, &cs, err, sizeof(err));
	if (!srv) {
		/* the journal goes back to what it was: nothing changed */
		struct fc_admin_resp ignored = {0};
		if (journal_commit(a, v, &before, &ignored) < 0)
			fc_json_fini(&ignored.body);
		fc_admin_error(r, 500, "%s", err);
		goto fini;
	}
	fc_journal_fini(&before);
	fc_info("admin: pool %s: server %s (%s, weight %u) added", p->cfg->name, cs.name, cs.url,
	        cs.weight);
	r->status = 201;
	write_server(a, &r->body, p, srv);
fini:
	fc_config_server_fini(&cs);
out:
	json_decref(o);
}

static void patch_server(struct fc_admin *a, const struct fc_admin_view *v, struct fc_rt_pool *p,
                         struct fc_server *srv, const struct fc_admin_req *req,
                         struct fc_admin_resp *r)
{
	static const char *const keys[] = {"weight", "state", NULL};
	const char *name = fc_server_name(srv);
	if (removal_index(a, p->cfg->name, name) >= 0) {
		fc_admin_error(r, 409, "pool %s: server %s is being removed", p->cfg->name, name);
		return;
	}
	json_t *o = body_object(req, r, keys);
	if (!o)
		return;
	json_t *weight = json_object_get(o, "weight"), *state = json_object_get(o, "state");
	unsigned w = 0;
	enum fc_admin_state s = FC_ADMIN_READY;
	if (!weight && !state) {
		fc_admin_error(r, 400, "nothing to change: give weight and/or state");
		goto out;
	}
	if (weight && !get_weight(weight, &w, r))
		goto out;
	if (state &&
	    (!json_is_string(state) || fc_admin_state_parse(json_string_value(state), &s) < 0)) {
		fc_admin_error(r, 400, "state must be \"ready\", \"drain\" or \"maint\"");
		goto out;
	}
	struct fc_journal next;
	if (fc_journal_copy(&next, &a->journal) < 0 ||
	    fc_journal_set(&next, p->cfg->name, name, weight != NULL, w, state != NULL, s) < 0) {
		fc_journal_fini(&next);
		fc_admin_error(r, 500, "out of memory");
		goto out;
	}
	if (journal_commit(a, v, &next, r) < 0)
		goto out;
	if (weight)
		fc_pool_set_weight(p->pool, name, w);
	if (state) {
		struct fc_live l = live_of(v);
		fc_live_state(&l, p, srv, s);
	}
	char what[64] = "";
	if (weight)
		snprintf(what, sizeof(what), " weight %u", w);
	if (state)
		snprintf(what + strlen(what), sizeof(what) - strlen(what), " state %s",
		         fc_admin_state_name(s));
	fc_info("admin: pool %s: server %s:%s", p->cfg->name, name, what);
	r->status = 200;
	write_server(a, &r->body, p, srv);
out:
	json_decref(o);
}

static void delete_server(struct fc_admin *a, const struct fc_admin_view *v, struct fc_rt_pool *p,
                          struct fc_server *srv, struct fc_admin_resp *r)
{
	const char *name = fc_server_name(srv);
	if (removal_index(a, p->cfg->name, name) < 0) {
		struct fc_admin_removal *rv =
		        realloc(a->removals, (a->n_removals + 1) * sizeof(*rv));
		if (!rv) {
			fc_admin_error(r, 500, "out of memory");
			return;
		}
		a->removals = rv;
		struct fc_journal next;
		if (fc_journal_copy(&next, &a->journal) < 0 ||
		    fc_journal_remove(&next, p->cfg->name, name) < 0) {
			fc_journal_fini(&next);
			fc_admin_error(r, 500, "out of memory");
			return;
		}
		if (journal_commit(a, v, &next, r) < 0)
			return;
		struct fc_admin_removal *e = &a->removals[a->n_removals++];
		snprintf(e->pool, sizeof(e->pool), "%s", p->cfg->name);
		snprintf(e->server, sizeof(e->server), "%s", name);
		struct fc_live l = live_of(v);
		fc_live_state(&l, p, srv, FC_ADMIN_DRAIN);
		fc_info("admin: pool %s: server %s drains; removed once no request is in flight",
		        p->cfg->name, name);
		if (!a->tick.slot)
			fc_timer_set(a->loop, &a->tick, a->loop->now_ms + FC_ADMIN_TICK_MS);
	}
	r->status = 202;
	write_server(a, &r->body, p, srv);
}

/* ---------------------------------------------------------------- waiting */

static void wait_server(struct fc_admin *a, struct fc_rt_pool *p, struct fc_server *srv,
                        const struct fc_admin_route *route, struct fc_admin_resp *r)
{
	if (strcmp(route->wait, "removable") != 0) {
		fc_admin_error(r, 400, "wait must be \"removable\"");
		return;
	}
	uint64_t ms = FC_ADMIN_WAIT_DEFAULT_MS;
	if (route->has_timeout &&
	    (fc_config_parse_duration(route->timeout, &ms) < 0 || ms > FC_ADMIN_WAIT_MAX_MS)) {
		fc_admin_error(r, 400, "timeout must be a duration up to 5m (\"30s\"), got \"%s\"",
		               route->timeout);
		return;
	}
	struct fc_server_stats st;
	fc_server_stats(srv, fc_time_ns(), &st);
	if (st.active == 0) {
		r->status = 200;
		write_server(a, &r->body, p, srv);
		return;
	}
	r->park = true;
	r->park_deadline_ms = a->loop->now_ms + ms;
}

bool fc_admin_api_wait_done(struct fc_admin *a, const struct fc_admin_route *route,
                            uint64_t deadline_ms, struct fc_admin_resp *r)
{
	struct fc_admin_view v;
	fc_admin_current(a, &v);
	struct fc_rt_pool *p = find_pool(&v, route->pool);
	struct fc_server *srv = p ? fc_pool_find(p->pool, route->server) : NULL;
	if (!srv) {
		fc_admin_error(r, 404, "pool %s has no server %s any more", route->pool,
		               route->server);
		return true;
	}
	struct fc_server_stats st;
	fc_server_stats(srv, fc_time_ns(), &st);
	bool done = true;
	if (st.active == 0) {
		r->status = 200;
		write_server(a, &r->body, p, srv);
	} else if (a->loop->now_ms >= deadline_ms) {
		fc_admin_error(r, 409, "pool %s: server %s still has %u request%s in flight",
		               route->pool, route->server, st.active, st.active == 1 ? "" : "s");
	} else {
		done = false;
	}
	fc_server_unref(srv);
	return done;
}

bool fc_admin_api_removals(struct fc_admin *a)
{
	struct fc_admin_view v;
	fc_admin_current(a, &v);
	for (size_t i = 0; i < a->n_removals;) {
		struct fc_admin_removal *e = &a->removals[i];
		struct fc_rt_pool *p = find_pool(&v, e->pool);
		struct fc_live l = live_of(&v);
		int rc = p ? fc_live_remove_idle(&l, p, e->server) : 0;
		if (rc < 0) {
			i++;
			continue;
		}
		if (rc > 0)
			fc_info("admin: pool %s: server %s removed", e->pool, e->server);
		memmove(e, e + 1, (a->n_removals - i - 1) * sizeof(*e));
		a->n_removals--;
	}
	return a->n_removals > 0;
}

/* ---------------------------------------------------------------- dispatch */

static void reload(struct fc_admin *a, struct fc_admin_resp *r)
{
	if (!a->hooks.reload) {
		fc_admin_error(r, 501, "reload is not available");
		return;
	}
	char err[4096] = "";
	int rc = a->hooks.reload(a->hooks.arg, err, sizeof(err));
	if (rc == 0) {
		r->status = 200;
		fc_json_obj(&r->body);
		fc_json_kbool(&r->body, "reloaded", true);
		fc_json_obj_end(&r->body);
		return;
	}
	/* several lines of errors become one message */
	size_t n = strlen(err);
	while (n && err[n - 1] == '\n')
		err[--n] = 0;
	fc_admin_error(r, rc == -EINVAL ? 400 : 500, "%s", err[0] ? err : strerror(-rc));
}

/* POST /api/pools/{pool}/wake */
static void wake(struct fc_admin *a, struct fc_rt_pool *p, struct fc_admin_resp *r)
{
	const char *state = NULL;
	if (!a->hooks.wake) {
		fc_admin_error(r, 501, "wake is not available");
		return;
	}
	if (!p->cfg->wake.enabled || a->hooks.wake(a->hooks.arg, p->cfg->name, &state) < 0) {
		fc_admin_error(r, 409, "pool %s has no wake: in its configuration", p->cfg->name);
		return;
	}
	fc_info("admin: pool %s: wake asked (%s)", p->cfg->name, state);
	r->status = 202;
	fc_json_obj(&r->body);
	fc_json_kstr(&r->body, "pool", p->cfg->name);
	fc_json_kstr(&r->body, "wake", state);
	fc_json_obj_end(&r->body);
}

/* "redis": cluster.redis's state (global rate limits), when it is set. */
static void write_redis(struct fc_json *o, const struct fc_glimits *g)
{
	struct fc_glimits_stats st;
	fc_glimits_stats(g, &st);
	if (!st.configured)
		return;
	fc_json_key(o, "redis");
	fc_json_obj(o);
	fc_json_kstr(o, "address", st.address);
	fc_json_kstr(o, "state", st.up ? "up" : "down");
	fc_json_kuint(o, "requests", st.requests);
	fc_json_kuint(o, "errors", st.errors);
	fc_json_kuint(o, "state_changes", st.state_changes);
	fc_json_kuint(o, "leased_tokens", st.tokens_granted);
	fc_json_obj_end(o);
}

void fc_admin_api(struct fc_admin *a, const struct fc_admin_req *req, struct fc_admin_resp *r)
{
	struct fc_admin_view v;
	fc_admin_current(a, &v);
	const struct fc_admin_route *rt = &req->route;
	if (rt->id == FC_ADMIN_R_RELOAD) {
		reload(a, r);
		return;
	}
	if (rt->id == FC_ADMIN_R_POOLS) {
		r->status = 200;
		fc_json_obj(&r->body);
		fc_json_key(&r->body, "pools");
		fc_json_arr(&r->body);
		for (size_t i = 0; v.rt && i < v.rt->n_pools; i++)
			write_pool(a, &r->body, &v.rt->pools[i], v.rt->n_workers);
		fc_json_arr_end(&r->body);
		write_redis(&r->body, v.glimits);
		fc_json_obj_end(&r->body);
		return;
	}
	struct fc_rt_pool *p = find_pool(&v, rt->pool);
	if (!p) {
		fc_admin_error(r, 404, "no pool called %s", rt->pool);
		return;
	}
	if (rt->id == FC_ADMIN_R_POOL) {
		r->status = 200;
		write_pool(a, &r->body, p, v.rt->n_workers);
		return;
	}
	if (rt->id == FC_ADMIN_R_WAKE) {
		wake(a, p, r);
		return;
	}
	if (rt->id == FC_ADMIN_R_SERVERS) {
		if (req->method == FC_ADMIN_M_POST) {
			add_server(a, &v, p, req, r);
			return;
		}
		size_t n;
		struct fc_server **sv = pool_servers(p, &n);
		r->status = 200;
		fc_json_obj(&r->body);
		fc_json_key(&r->body, "servers");
		fc_json_arr(&r->body);
		for (size_t i = 0; i < n; i++)
			write_server(a, &r->body, p, sv[i]);
		fc_json_arr_end(&r->body);
		fc_json_obj_end(&r->body);
		unref_all(sv, n);
		return;
	}
	/* FC_ADMIN_R_SERVER */
	struct fc_server *srv = fc_pool_find(p->pool, rt->server);
	if (!srv) {
		fc_admin_error(r, 404, "pool %s has no server called %s", rt->pool, rt->server);
		return;
	}
	if (req->method == FC_ADMIN_M_PATCH)
		patch_server(a, &v, p, srv, req, r);
	else if (req->method == FC_ADMIN_M_DELETE)
		delete_server(a, &v, p, srv, r);
	else if (rt->has_wait || rt->has_timeout)
		wait_server(a, p, srv, rt, r);
	else {
		r->status = 200;
		write_server(a, &r->body, p, srv);
	}
	fc_server_unref(srv);
}
