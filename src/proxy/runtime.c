/* runtime.c — the live pools of one configuration snapshot: a libfulcrum pool
 * per configured pool, with the proxy's per-server data (address, idle
 * connections per worker) hung on each server. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sock.h"
#include "health/health.h"
#include "proxy/proxy.h"
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

static void rt_server_free(void *user)
{
	free(user);
}

struct fc_rt_server *fc_rt_server_create(const struct fc_config_server *cs, uint32_t n_workers)
{
	/* the per-worker slots are cache-line aligned; the host's copy follows them */
	size_t host_at = sizeof(struct fc_rt_server) + n_workers * sizeof(struct fc_rt_idle);
	size_t size = (host_at + strlen(cs->host) + 1 + 63) & ~(size_t)63;
	struct fc_rt_server *rs = aligned_alloc(64, size);
	if (!rs)
		return NULL;
	memset(rs, 0, size);
	char *host = (char *)rs + host_at;
	memcpy(host, cs->host, strlen(cs->host) + 1);
	if (cs->tls)
		rs->tls_host = host;
	memcpy(&rs->addr, &cs->addr, sizeof(rs->addr));
	rs->addr_len = cs->addr_len;
	snprintf(rs->hostport, sizeof(rs->hostport), "%s:%u", cs->host, cs->port);
	rs->n_workers = n_workers;
	for (uint32_t i = 0; i < n_workers; i++)
		fc_link_init(&rs->idle[i].list);
	return rs;
}

static int open_access_log(const char *where)
{
	if (!where || strcmp(where, "off") == 0)
		return -1;
	if (strcmp(where, "stdout") == 0)
		return 1;
	if (strcmp(where, "stderr") == 0)
		return 2;
	return open(where, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int fc_runtime_create(struct fc_config *cfg, uint32_t n_workers, struct fc_health *health,
                      struct fc_runtime **out, char *err, size_t errlen)
{
	struct fc_runtime *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	rt->cfg = fc_config_ref(cfg);
	rt->n_workers = n_workers;
	rt->n_pools = cfg->n_pools;
	rt->access_fd = -1;
	rt->pools = calloc(cfg->n_pools ? cfg->n_pools : 1, sizeof(*rt->pools));
	if (!rt->pools)
		goto nomem;
	struct tls_report tr = {err, errlen, false};
	rt->tls = calloc(cfg->n_listeners ? cfg->n_listeners : 1, sizeof(*rt->tls));
	if (!rt->tls)
		goto nomem;
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].tls &&
		    !(rt->tls[i] = fc_tls_server_create(cfg, i, tls_report, &tr)))
			goto fail;
	uint64_t now = fc_time_ns();
	for (size_t i = 0; i < cfg->n_pools; i++) {
		const struct fc_config_pool *cp = &cfg->pools[i];
		struct fc_rt_pool *p = &rt->pools[i];
		p->cfg = cp;
		p->ctr = aligned_alloc(64, ((n_workers ? n_workers : 1) * sizeof(*p->ctr) + 63) &
		                                   ~(size_t)63);
		if (!p->ctr)
			goto nomem;
		memset(p->ctr, 0, (n_workers ? n_workers : 1) * sizeof(*p->ctr));
		if (cp->has_tls_servers &&
		    !(p->tls = fc_tls_client_create(cfg, i, tls_report, &tr)))
			goto fail;
		/* without a configured secret, a random one: cookies then hold
		 * for this process only (libfulcrum copies it) */
		uint8_t generated[32];
		const uint8_t *secret = (const uint8_t *)cp->sticky.secret;
		size_t secret_len = secret ? strlen(cp->sticky.secret) : 0;
		if (!secret) {
			if (getrandom(generated, sizeof(generated), 0) !=
			    (ssize_t)sizeof(generated))
				for (size_t k = 0; k < sizeof(generated); k++)
					generated[k] =
					        (uint8_t)((now ^ (uint64_t)i) >> (k % 8 * 8));
			secret = generated;
			secret_len = sizeof(generated);
		}
		uint64_t seed = 0;
		if (getrandom(&seed, sizeof(seed), 0) < 0)
			seed = now ^ (uint64_t)i;
		struct fc_pool_options o = {
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
		int rc = fc_pool_create(&o, &p->pool, err, errlen);
		if (rc < 0)
			goto fail;
		for (size_t k = 0; k < cp->n_servers; k++) {
			const struct fc_config_server *cs = &cp->servers[k];
			struct fc_server_spec spec = {
			        .name = cs->name, .address = cs->url, .weight = cs->weight};
			struct fc_server *srv = NULL;
			rc = fc_pool_upsert(p->pool, &spec, now, &srv);
			if (rc < 0 || !srv) {
				snprintf(err, errlen, "pool %s: server %s: %s", cp->name, cs->name,
				         strerror(rc < 0 ? -rc : EINVAL));
				goto fail;
			}
			struct fc_rt_server *rs = fc_rt_server_create(cs, n_workers);
			if (!rs)
				goto nomem;
			fc_server_set_user(srv, rs);
			if (cs->tls)
				rs->tls = p->tls;
			if (health) {
				rc = fc_health_add_server(health, p->pool, cp, cs, srv,
				                          (const struct sockaddr *)&cs->addr,
				                          cs->addr_len, &rs->health);
				if (rc < 0)
					goto nomem;
				if (cs->tls)
					fc_health_server_set_tls(rs->health, rs->tls, rs->tls_host);
				/* the admin API drained it (its journal says so) */
				if (cs->admin_state != FC_ADMIN_READY)
					fc_health_server_drain(rs->health, true, now);
			}
		}
	}
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
	rt->access_fd = open_access_log(cfg->access_log);
	if (rt->access_fd < 0 && cfg->access_log && strcmp(cfg->access_log, "off") != 0) {
		snprintf(err, errlen, "log.access: %s: %s", cfg->access_log, strerror(errno));
		goto fail;
	}
	*out = rt;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	fc_runtime_destroy(rt);
	return -EINVAL;
}

void fc_runtime_destroy(struct fc_runtime *rt)
{
	if (!rt)
		return;
	for (size_t i = 0; i < rt->n_pools; i++) {
		if (rt->pools[i].pool)
			fc_pool_destroy(rt->pools[i].pool);
		fc_tls_client_destroy(rt->pools[i].tls);
		free(rt->pools[i].ctr);
	}
	free(rt->pools);
	for (size_t i = 0; rt->tls && i < rt->cfg->n_listeners; i++)
		fc_tls_server_destroy(rt->tls[i]);
	free(rt->tls);
	free(rt->trusted);
	if (rt->access_fd > 2)
		close(rt->access_fd);
	fc_config_unref(rt->cfg);
	free(rt);
}

int fc_runtime_reopen_logs(struct fc_runtime *rt)
{
	if (rt->access_fd <= 2)
		return 0;
	int fd = open_access_log(rt->cfg->access_log);
	if (fd < 0)
		return -errno;
	/* workers keep writing to the same descriptor number, now the new file */
	int rc = dup3(fd, rt->access_fd, O_CLOEXEC) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

struct fc_rt_pool *fc_runtime_pool(struct fc_runtime *rt, const struct fc_config_pool *cp)
{
	size_t i = (size_t)(cp - rt->cfg->pools);
	return i < rt->n_pools ? &rt->pools[i] : NULL;
}

bool fc_runtime_is_trusted(const struct fc_runtime *rt, const struct fc_addr *a)
{
	for (size_t i = 0; i < rt->clientip.n_trusted; i++)
		if (fc_cidr_contains(&rt->trusted[i], a))
			return true;
	return false;
}
