/* live.h — servers added, changed and removed in a running pool without a
 * reload: the admin API and DNS discovery both go through here, so a server
 * has its proxy data, its health checks and its place in the pool's totals
 * whoever brought it. Thread: control. */
#ifndef FC_PROXY_LIVE_H
#define FC_PROXY_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "proxy/counters.h"

struct fc_runtime;
struct fc_rt_pool;
struct fc_rt_server;
struct fc_server;
struct fc_worker;

/* What a live change touches: the running runtime and the workers. */
struct fc_live {
	struct fc_runtime *rt;
	struct fc_worker *ws; /* NULL before the workers run */
	uint32_t n_workers;
};

/* A server's counters summed over the workers. */
struct fc_srv_totals {
	uint64_t code[5];
	uint64_t fail[FC_FAIL_KINDS];
	uint64_t hist[FC_HIST_BUCKETS];
	uint64_t sum_ns;
	uint32_t idle;
};
/* Zeroes t when rs is NULL. */
void fc_rt_server_totals(const struct fc_rt_server *rs, struct fc_srv_totals *t);

/* Puts cs into the live pool p: the libfulcrum server (weight 0 until its
 * proxy data is on it, so that no worker picks it bare), its per-worker data,
 * its health checks, then cs->weight. The server (borrowed: valid while it is
 * in the pool), or NULL with err on failure (nothing left behind). */
struct fc_server *fc_live_add(const struct fc_live *l, struct fc_rt_pool *p,
                              const struct fc_config_server *cs, char *err, size_t errlen);

/* Applies an admin state: ready takes requests as its health allows, drain
 * and maint none (maint also closes its idle connections). */
void fc_live_state(const struct fc_live *l, struct fc_rt_pool *p, struct fc_server *srv,
                   enum fc_admin_state s);

/* Takes srv out of p now (its requests in flight are the caller's to wait
 * for): what it counted stays in the pool's totals, its idle connections
 * close, its health checks stop. */
void fc_live_remove(const struct fc_live *l, struct fc_rt_pool *p, struct fc_server *srv);

/* The server called name leaves p once no request is in flight on it (a
 * drained server's last step): 1 removed now, 0 not in p (nothing to do),
 * -1 requests still in flight (ask again later). */
int fc_live_remove_idle(const struct fc_live *l, struct fc_rt_pool *p, const char *name);

#endif
