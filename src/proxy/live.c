/* live.c — servers put into and taken out of a running pool (live.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "health/health.h"
#include "proxy/live.h"
#include "proxy/proxy.h"
#include "tls/tls.h"

void fc_rt_server_totals(const struct fc_rt_server *rs, struct fc_srv_totals *t)
{
	memset(t, 0, sizeof(*t));
	if (!rs)
		return;
	for (uint32_t w = 0; w < rs->n_workers; w++) {
		const struct fc_rt_idle *i = &rs->idle[w];
		for (int k = 0; k < 5; k++)
			t->code[k] += fc_ctr_get(&i->ctr.code[k]);
		for (int k = 0; k < FC_FAIL_KINDS; k++)
			t->fail[k] += fc_ctr_get(&i->ctr.fail[k]);
		fc_hist_sum(&i->ctr.dur, t->hist, &t->sum_ns);
		/* written by its worker as a plain integer; an atomic read of it is
		 * the best the control thread can do without making it atomic */
		t->idle += __atomic_load_n(&i->n, __ATOMIC_RELAXED);
	}
}

static void tls_report(void *arg, bool warning, const char *msg)
{
	if (warning)
		fc_warn("%s", msg);
	else
		snprintf(arg, 512, "%s", msg);
}

struct fc_server *fc_live_add(const struct fc_live *l, struct fc_rt_pool *p,
                              const struct fc_config_server *cs, char *err, size_t errlen)
{
	uint64_t now = fc_time_ns();
	if (cs->tls && !p->tls) {
		/* the pool had no https:// server: its TLS settings get a context now */
		char why[512] = "";
		p->tls = fc_tls_client_create(l->rt->cfg, (size_t)(p - l->rt->pools), tls_report,
		                              why);
		if (!p->tls) {
			snprintf(err, errlen, "pool %s: TLS: %s", p->cfg->name, why);
			return NULL;
		}
	}
	struct fc_server_spec spec = {.name = cs->name,
	                              .address = cs->url,
	                              .weight = 0,
	                              .max_conns = cs->max_conns,
	                              .tier = cs->tier};
	struct fc_server *srv = NULL;
	int rc = fc_pool_upsert(p->pool, &spec, now, &srv);
	if (rc < 0 || !srv) {
		snprintf(err, errlen, "pool %s: server %s: %s", p->cfg->name, cs->name,
		         strerror(rc < 0 ? -rc : EINVAL));
		return NULL;
	}
	struct fc_rt_server *rs = fc_rt_server_create(cs, l->rt->n_workers);
	if (!rs)
		goto nomem;
	fc_server_set_user(srv, rs);
	if (l->rt->health) {
		struct fc_health_server *hs = NULL;
		rc = fc_health_add_server(l->rt->health, p->pool, p->cfg, cs, srv,
		                          (const struct sockaddr *)&cs->addr, cs->addr_len, &hs);
		if (rc < 0)
			goto nomem;
		if (cs->tls)
			fc_health_server_set_tls(hs, p->tls, rs->tls_host);
		atomic_store_explicit(&rs->health, hs, memory_order_release);
	}
	fc_pool_set_weight(p->pool, cs->name, cs->weight);
	return srv;
nomem:
	fc_pool_remove(p->pool, cs->name); /* frees rs with the server */
	snprintf(err, errlen, "out of memory");
	return NULL;
}

void fc_live_state(const struct fc_live *l, struct fc_rt_pool *p, struct fc_server *srv,
                   enum fc_admin_state s)
{
	struct fc_rt_server *rs = fc_server_user(srv);
	uint64_t now = fc_time_ns();
	struct fc_health_server *hs = rs ? atomic_load(&rs->health) : NULL;
	if (hs)
		fc_health_server_drain(hs, s != FC_ADMIN_READY, now);
	else
		fc_pool_set_state(p->pool, fc_server_name(srv),
		                  s != FC_ADMIN_READY ? FC_SERVER_DRAINING : FC_SERVER_HEALTHY,
		                  now);
	if (s == FC_ADMIN_MAINT && l->ws)
		fc_workers_server_down(l->ws, l->n_workers, srv);
}

void fc_live_remove(const struct fc_live *l, struct fc_rt_pool *p, struct fc_server *srv)
{
	struct fc_rt_server *rs = fc_server_user(srv);
	/* the pool's totals stay monotonic (Prometheus counters) when a server goes */
	struct fc_srv_totals t;
	fc_rt_server_totals(rs, &t);
	struct fc_rt_pool_stats *st = p->stats;
	for (int k = 0; st && k < 5; k++)
		st->gone.code[k] += t.code[k];
	for (int k = 0; st && k < FC_HIST_BUCKETS; k++)
		st->gone.hist[k] += t.hist[k];
	if (st)
		st->gone.sum_ns += t.sum_ns;
	if (l->ws)
		fc_workers_server_down(l->ws, l->n_workers, srv);
	struct fc_health_server *hs = rs ? atomic_load(&rs->health) : NULL;
	if (hs) {
		atomic_store(&rs->health, NULL);
		fc_health_remove_server(hs);
	}
	fc_pool_remove(p->pool, fc_server_name(srv));
}

int fc_live_remove_idle(const struct fc_live *l, struct fc_rt_pool *p, const char *name)
{
	struct fc_server *srv = fc_pool_find(p->pool, name);
	if (!srv)
		return 0;
	struct fc_server_stats st;
	fc_server_stats(srv, fc_time_ns(), &st);
	int rc = st.active > 0 ? -1 : 1;
	if (rc > 0)
		fc_live_remove(l, p, srv);
	fc_server_unref(srv);
	return rc;
}
