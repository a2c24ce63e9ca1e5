/* health.c — the health module's entry points: registering servers (their
 * check config copied), starting checks, the workers' passive reports (one
 * CAS winner posts the ejection to the control thread's mailbox) and the
 * read side for status pages. */
#include "health/health.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "health/health_internal.h"

#define SERVER_OF_MSG(m)                                                                           \
	((struct fc_health_server *)((char *)(m)-offsetof(struct fc_health_server, eject_msg)))
#define SERVER_OF_EJECT(t)                                                                         \
	((struct fc_health_server *)((char *)(t)-offsetof(struct fc_health_server, eject_timer)))

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void *dup_mem(const void *p, size_t n)
{
	if (!p || !n)
		return NULL;
	void *q = malloc(n);
	if (q)
		memcpy(q, p, n);
	return q;
}

int fc_health_create(struct fc_loop *loop, const struct fc_health_hooks *hooks,
                     struct fc_health **out)
{
	struct fc_health *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->loop = loop;
	if (hooks)
		h->hooks = *hooks;
	h->rng = fc_time_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)h;
	if (!h->rng)
		h->rng = 1;
	int rc = fc_mailbox_init(&h->mb, loop, h);
	if (rc < 0) {
		free(h);
		return rc;
	}
	h->mb_open = true;
	*out = h;
	return 0;
}

static void free_config(struct fc_config_health *hc)
{
	free(hc->path);
	free(hc->method);
	free(hc->host);
	free(hc->expect);
	free(hc->body);
	free(hc->lame_duck);
	free(hc->service);
}

void fc_health_destroy(struct fc_health *h)
{
	if (!h)
		return;
	h->closing = true;
	if (h->mb_open)
		fc_mailbox_fini(&h->mb);
	for (size_t i = 0; i < h->n_servers; i++) {
		struct fc_health_server *hs = h->servers[i];
		fc__health_check_stop(hs);
		fc_timer_cancel(h->loop, &hs->eject_timer);
		if (!hs->removed)
			fc_server_unref(hs->srv);
		free_config(&hs->hc);
		free(hs->request);
		free(hs->authority);
		free(hs->ck.carry);
		free(hs);
	}
	free(h->servers);
	while (h->pools) {
		struct fc__health_pool *hp = h->pools;
		h->pools = hp->next;
		free(hp->name);
		free(hp->passive.statuses);
		free(hp);
	}
	free(h);
}

static struct fc__health_pool *pool_get(struct fc_health *h, struct fc_pool *pool,
                                        const struct fc_config_pool *cp)
{
	for (struct fc__health_pool *hp = h->pools; hp; hp = hp->next)
		if (hp->pool == pool)
			return hp;
	struct fc__health_pool *hp = calloc(1, sizeof(*hp));
	if (!hp)
		return NULL;
	const char *name = fc_pool_name(pool);
	if ((!name || !name[0]) && cp)
		name = cp->name;
	hp->name = strdup(name ? name : "?");
	hp->pool = pool;
	if (cp) {
		hp->passive = cp->passive;
		hp->passive.statuses =
		        dup_mem(cp->passive.statuses, cp->passive.n_statuses * sizeof(uint16_t));
		if (cp->passive.n_statuses && !hp->passive.statuses)
			hp->passive.n_statuses = 0;
	}
	if (!hp->name) {
		free(hp->passive.statuses);
		free(hp);
		return NULL;
	}
	hp->next = h->pools;
	h->pools = hp;
	return hp;
}

static int copy_health(struct fc_config_health *dst, const struct fc_config_health *src)
{
	*dst = *src;
	dst->path = dst->method = dst->host = dst->body = dst->service = NULL;
	dst->expect = dst->lame_duck = NULL;
	if (src->type == FC_HEALTH_NONE) {
		dst->n_expect = dst->n_lame_duck = 0;
		return 0;
	}
	dst->path = strdup(src->path && src->path[0] ? src->path : "/");
	dst->method = strdup(src->method && src->method[0] ? src->method : "GET");
	dst->host = dup_or_null(src->host);
	dst->body = src->body && src->body[0] ? strdup(src->body) : NULL;
	dst->expect = dup_mem(src->expect, src->n_expect * sizeof(*src->expect));
	dst->lame_duck = dup_mem(src->lame_duck, src->n_lame_duck * sizeof(*src->lame_duck));
	dst->service = strdup(src->service ? src->service : "");
	if (!dst->path || !dst->method || !dst->service || (src->host && !dst->host) ||
	    (src->body && src->body[0] && !dst->body) || (src->n_expect && !dst->expect) ||
	    (src->n_lame_duck && !dst->lame_duck))
		return -ENOMEM;
	fc__health_config_defaults(dst);
	return 0;
}

static void on_eject_timer(struct fc_loop *loop, struct fc_timer *t)
{
	fc__health_eject_end(SERVER_OF_EJECT(t), loop->now_ns);
}

void fc_health_server_set_tls(struct fc_health_server *hs, struct fc_tls_client *tls,
                              const char *host)
{
	hs->tls = tls;
	hs->tls_host = host;
}

int fc_health_add_server(struct fc_health *h, struct fc_pool *pool, const struct fc_config_pool *cp,
                         const struct fc_config_server *cs, struct fc_server *srv,
                         const struct sockaddr *addr, socklen_t addr_len,
                         struct fc_health_server **out)
{
	if (addr_len > sizeof(struct sockaddr_storage))
		return -EINVAL;
	if (h->n_servers == h->cap_servers) {
		size_t cap = h->cap_servers ? h->cap_servers * 2 : 16;
		struct fc_health_server **v = realloc(h->servers, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->servers = v;
		h->cap_servers = cap;
	}
	struct fc__health_pool *hp = pool_get(h, pool, cp);
	if (!hp)
		return -ENOMEM;
	struct fc_health_server *hs = calloc(1, sizeof(*hs));
	if (!hs)
		return -ENOMEM;
	hs->h = h;
	hs->hp = hp;
	hs->srv = srv;
	hs->name = fc_server_name(srv);
	hs->ck.s.io.fd = -1;
	hs->eject_timer.cb = on_eject_timer;
	atomic_init(&hs->streak, 0);
	atomic_init(&hs->out, false);
	atomic_init(&hs->posting, false);
	int rc = cs ? copy_health(&hs->hc, &cs->health) : 0;
	if (rc == 0) {
		memcpy(&hs->addr, addr, addr_len);
		hs->addr_len = addr_len;
		if (hs->hc.port && addr->sa_family == AF_INET)
			((struct sockaddr_in *)&hs->addr)->sin_port = htons(hs->hc.port);
		else if (hs->hc.port && addr->sa_family == AF_INET6)
			((struct sockaddr_in6 *)&hs->addr)->sin6_port = htons(hs->hc.port);
		rc = fc__health_check_prepare(hs, cs);
	}
	if (rc < 0) {
		free_config(&hs->hc);
		free(hs->request);
		free(hs->authority);
		free(hs->ck.carry);
		free(hs);
		return rc;
	}
	fc_server_ref(srv);

	/* servers start up (libfulcrum creates them healthy); one an admin
	 * already drains stays draining */
	struct fc_server_stats st;
	fc_server_stats(srv, 0, &st);
	if (st.state == FC_SERVER_DRAINING) {
		hs->draining = true;
		hs->state = FC_SERVER_DRAINING;
		atomic_store(&hs->out, true);
	} else {
		hs->state = FC_SERVER_HEALTHY;
		if (st.state != FC_SERVER_HEALTHY)
			fc_pool_set_state(pool, hs->name, FC_SERVER_HEALTHY, h->loop->now_ns);
		hp->n_healthy++;
	}
	hp->n_servers++;
	hs->since_ns = h->loop->now_ns;
	snprintf(hs->reason, sizeof(hs->reason), "registered");
	h->servers[h->n_servers++] = hs;
	if (h->started && hs->hc.type != FC_HEALTH_NONE)
		fc__health_check_schedule_first(hs); /* added at run time */
	if (out)
		*out = hs;
	return 0;
}

int fc_health_start(struct fc_health *h)
{
	if (h->started)
		return 0;
	h->started = true;
	fc_loop_update_time(h->loop);
	for (size_t i = 0; i < h->n_servers; i++)
		if (h->servers[i]->hc.type != FC_HEALTH_NONE)
			fc__health_check_schedule_first(h->servers[i]);
	return 0;
}

bool fc_health_status_is_fault(const struct fc_health_server *hs, int status)
{
	const struct fc_config_passive *pc = &hs->hp->passive;
	for (size_t i = 0; i < pc->n_statuses; i++)
		if (pc->statuses[i] == status)
			return true;
	return false;
}

static void on_eject_msg(struct fc_msg *m, void *arg)
{
	struct fc_health *h = arg;
	struct fc_health_server *hs = SERVER_OF_MSG(m);
	if (h->closing || hs->removed) {
		atomic_store_explicit(&hs->posting, false, memory_order_release);
		return;
	}
	hs->eject_msgs++;
	fc__health_eject(hs, hs->fault, hs->fault_streak, hs->fault_ns);
}

void fc_health_report(struct fc_health_server *hs, enum fc_blame blame, int status,
                      const char *what, uint64_t now_ns)
{
	const struct fc_config_passive *pc = &hs->hp->passive;
	if (pc->failures == 0)
		return;
	bool fault;
	if (blame == FC_BLAME_SERVER)
		fault = true;
	else if (blame == FC_BLAME_NONE)
		fault = fc_health_status_is_fault(hs, status);
	else
		return; /* the client's or nobody's fault: no news about the server */
	if (!fault) {
		/* the common case: read, and write only when there is a streak */
		if (atomic_load_explicit(&hs->streak, memory_order_relaxed))
			atomic_store_explicit(&hs->streak, 0, memory_order_relaxed);
		return;
	}
	if (atomic_load_explicit(&hs->out, memory_order_acquire))
		return; /* already out: late news */
	/* the crossing is one value of the streak, so one worker sees it;
	 * posting keeps a second crossing (after a success reset the streak)
	 * from reusing the message while the first is still queued */
	uint32_t n = atomic_fetch_add_explicit(&hs->streak, 1, memory_order_relaxed) + 1;
	if (n != pc->failures)
		return;
	bool expected = false;
	if (!atomic_compare_exchange_strong_explicit(&hs->posting, &expected, true,
	                                             memory_order_acquire, memory_order_relaxed))
		return; /* the last crossing's message is still queued: it covers this one */
	if (atomic_load_explicit(&hs->out, memory_order_relaxed)) {
		/* the control thread ejected the server while this streak grew:
		 * it sets out before it releases posting, and the CAS above
		 * acquired that release, so this check cannot miss it */
		atomic_store_explicit(&hs->posting, false, memory_order_release);
		return;
	}
	if (what && what[0])
		snprintf(hs->fault, sizeof(hs->fault), "%s", what);
	else if (status)
		snprintf(hs->fault, sizeof(hs->fault), "HTTP %d", status);
	else
		snprintf(hs->fault, sizeof(hs->fault), "server fault");
	hs->fault_ns = now_ns;
	hs->fault_streak = n;
	hs->eject_msg.fn = on_eject_msg;
	fc_mailbox_post(&hs->h->mb, &hs->eject_msg);
}

void fc_health_server_info(const struct fc_health_server *hs, struct fc_health_info *out)
{
	*out = (struct fc_health_info){
	        .state = hs->state,
	        .ejected = hs->ejected,
	        .since_ns = hs->since_ns,
	        .checks_ok = hs->checks_ok,
	        .checks_failed = hs->checks_failed,
	        .last_check_ns = hs->last_check_ns,
	        .last_check_latency_ns = hs->last_check_latency_ns,
	        .ejections = hs->ejections,
	        .active = hs->hc.type != FC_HEALTH_NONE,
	        .last_check_ok = hs->last_ok,
	};
	snprintf(out->reason, sizeof(out->reason), "%s", hs->reason);
	snprintf(out->last_result, sizeof(out->last_result), "%s", hs->last_result);
	memcpy(out->results, hs->results, sizeof(out->results));
}

void fc_health_remove_server(struct fc_health_server *hs)
{
	if (hs->removed)
		return;
	/* reports return early from now on; a queued ejection is dropped */
	atomic_store_explicit(&hs->out, true, memory_order_release);
	hs->removed = true;
	fc__health_check_stop(hs);
	fc_timer_cancel(hs->h->loop, &hs->eject_timer);
	struct fc__health_pool *hp = hs->hp;
	hp->n_servers--;
	if (hs->state == FC_SERVER_HEALTHY)
		hp->n_healthy--;
	else if (hs->state == FC_SERVER_DEAD)
		hp->n_dead--;
	fc_server_unref(hs->srv);
	hs->srv = NULL;
	hs->name = "(removed)";
}

void fc_health_pool_summary(const struct fc_health *h, const struct fc_pool *pool,
                            uint32_t *healthy, uint32_t *total)
{
	*healthy = *total = 0;
	for (const struct fc__health_pool *hp = h->pools; hp; hp = hp->next)
		if (hp->pool == pool) {
			*healthy = hp->n_healthy;
			*total = hp->n_servers;
			return;
		}
}

void fc_health_stop(struct fc_health *h)
{
	if (!h || h->closing)
		return;
	h->closing = true; /* queued and later ejections are dropped */
	for (size_t i = 0; i < h->n_servers; i++) {
		fc__health_check_stop(h->servers[i]);
		fc_timer_cancel(h->loop, &h->servers[i]->eject_timer);
	}
}

void fc_health_each(struct fc_health *h,
                    void (*fn)(void *arg, struct fc_server *srv, struct fc_health_server *hs),
                    void *arg)
{
	for (size_t i = 0; i < h->n_servers; i++)
		if (!h->servers[i]->removed)
			fn(arg, h->servers[i]->srv, h->servers[i]);
}
