/* discover.c — DNS service discovery (discover.h). One c-ares channel per
 * pool and purpose (discover:, resolve:), its sockets in an epoll set of
 * their own (level-triggered, the directions c-ares asks for) that the
 * control loop watches as one fd, its retransmissions on a loop timer. A
 * lookup goes: SRV query, then each target's addresses (c-ares getaddrinfo,
 * /etc/hosts first); or one A / AAAA query; or (resolve:) each written
 * server's host name, as an SRV target is. The whole answer is then applied
 * to the pool at once. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sock.h"
#include "proxy/discover.h"
#include "proxy/dns_ttl.h"
#include "proxy/live.h"
#include "proxy/proxy.h"

#define DRAIN_TICK_MS  100  /* vanished servers are removed once idle, checked this often */
#define RETRY_AFTER_MS 2000 /* after a failed lookup, at most this long to the next */
#define NAME_LEN       129  /* a server name: 1..128 characters (fc__cfg_is_label) */
#define URL_LEN        80   /* https://[IPv6]:port */
#define SRV_WEIGHT_MAX 1000 /* a server's weight is 0..1000 */
#define MAX_RECORDS    1024 /* SRV: more records than this in one answer are left out */
#define MAX_ADDRS      256  /* A / AAAA: the same for addresses */
#define MIN_TTL_MS     1000 /* records with a TTL below 1 s are looked up every second */

/* One record of the answer being put together. */
struct found {
	char name[NAME_LEN];
	char url[URL_LEN];
	char target[256]; /* SRV: the target looked up; "" for A / AAAA */
	unsigned weight, prio, tier;
	uint16_t port;
	bool resolved;
	struct sockaddr_storage addr; /* resolved: the address url names */
	socklen_t addr_len;
	char why[80]; /* not resolved: the reason */
};

/* A server this pool has from DNS. */
struct cur {
	char name[NAME_LEN];
	char url[URL_LEN];
	unsigned weight, tier;
	bool draining; /* gone from DNS: removed once it has no request in flight */
	bool seen;     /* in the answer being applied */
	bool failing;  /* resolve: its host name did not resolve the last time */
};

struct dpool {
	struct fc_discovery *d;
	struct dpool *next;
	char *pool;
	/* the pool's discover: (what identifies a running lookup) */
	char *dns;
	char *servers_csv; /* resolvers for ares_set_servers_ports_csv; NULL: resolv.conf */
	enum fc_discover_type type; /* FC_DISCOVER_HOSTS: the pool's resolve: */
	uint32_t interval_ms, timeout_ms;
	uint16_t port;
	bool tls;
	ares_channel ch;
	int epfd;
	struct fc_io io;
	struct fc_timer next_lookup, ares_tmo;
	bool busy;       /* a lookup is under way */
	bool dying;      /* being destroyed: callbacks only free what they own */
	uint32_t ttl_ms; /* the lowest TTL of the lookup's records (floor MIN_TTL_MS) */
	struct found *f;
	size_t n_f, waiting;
	struct cur *cur;
	size_t n_cur;
	uint64_t ok, empty, failed, last_ok_ns;
	char last_error[160];
	const char *last_result;
};

struct fc_discovery {
	struct fc_loop *loop;
	struct fc_live live;
	struct dpool *pools;
	struct fc_timer drain;
	bool inited; /* ares_library_init done */
};

static const char *type_name(enum fc_discover_type t)
{
	return t == FC_DISCOVER_A       ? "a"
	       : t == FC_DISCOVER_AAAA  ? "aaaa"
	       : t == FC_DISCOVER_HOSTS ? "hosts"
	                                : "srv";
}

/* ---------------------------------------------------------------- the channel's I/O */

static void arm_timeout(struct dpool *dp)
{
	struct timeval tv, *t = ares_timeout(dp->ch, NULL, &tv);
	struct fc_loop *loop = dp->d->loop;
	if (!t) {
		fc_timer_cancel(loop, &dp->ares_tmo);
		return;
	}
	uint64_t ms = (uint64_t)t->tv_sec * 1000 + (uint64_t)(t->tv_usec + 999) / 1000;
	fc_timer_set(loop, &dp->ares_tmo, loop->now_ms + (ms ? ms : 1));
}

/* c-ares opens, changes and closes its sockets through this */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dpool *dp = data;
	struct epoll_event ev = {.events = (readable ? EPOLLIN : 0u) | (writable ? EPOLLOUT : 0u),
	                         .data.fd = fd};
	if (!readable && !writable) {
		epoll_ctl(dp->epfd, EPOLL_CTL_DEL, fd, NULL);
		return;
	}
	if (epoll_ctl(dp->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT &&
	    epoll_ctl(dp->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		fc_error("discover: pool %s: cannot watch a DNS socket: %s", dp->pool,
		         strerror(errno));
}

static void on_io(struct fc_loop *loop, struct fc_io *io, uint32_t events)
{
	struct dpool *dp = fc_link_entry(io, struct dpool, io);
	struct epoll_event evs[16];
	(void)loop;
	(void)events;
	int n = epoll_wait(dp->epfd, evs, 16, 0);
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		uint32_t e = evs[i].events;
		ares_process_fd(dp->ch, e & (EPOLLIN | EPOLLERR | EPOLLHUP) ? fd : ARES_SOCKET_BAD,
		                e & EPOLLOUT ? fd : ARES_SOCKET_BAD);
	}
	arm_timeout(dp);
}

static void on_ares_timeout(struct fc_loop *loop, struct fc_timer *t)
{
	struct dpool *dp = fc_link_entry(t, struct dpool, ares_tmo);
	(void)loop;
	ares_process_fd(dp->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	arm_timeout(dp);
}

/* ---------------------------------------------------------------- applying an answer */

static long cur_find(const struct dpool *dp, const char *name)
{
	for (size_t i = 0; i < dp->n_cur; i++)
		if (strcmp(dp->cur[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* Puts the record into the live pool. 0, or -1 (logged). */
static int add_live(struct dpool *dp, struct fc_rt_pool *p, const struct found *f)
{
	struct fc_config_server cs;
	char err[600];
	if (fc_config_server_parse(p->cfg, f->url, f->name, f->weight, &cs, err, sizeof(err)) < 0) {
		fc_error("discover: pool %s: server %s (%s): %s", dp->pool, f->name, f->url, err);
		return -1;
	}
	cs.tier = f->tier;
	cs.discovered = true;
	struct fc_server *srv = fc_live_add(&dp->d->live, p, &cs, err, sizeof(err));
	fc_config_server_fini(&cs);
	if (!srv) {
		fc_error("discover: pool %s: %s", dp->pool, err);
		return -1;
	}
	return 0; /* srv is borrowed */
}

static void drain_soon(struct fc_discovery *d)
{
	if (!d->drain.slot)
		fc_timer_set(d->loop, &d->drain, d->loop->now_ms + DRAIN_TICK_MS);
}

static size_t n_serving(const struct dpool *dp)
{
	size_t n = 0;
	for (size_t i = 0; i < dp->n_cur; i++)
		n += !dp->cur[i].draining;
	return n;
}

/* The pool takes the answer dp->f: new records added, changed ones updated
 * in place (a new address: the server replaced), vanished ones drained. */
static void apply(struct dpool *dp)
{
	struct fc_rt_pool *p =
	        dp->d->live.rt ? fc_runtime_pool_named(dp->d->live.rt, dp->pool) : NULL;
	if (!p)
		return;
	size_t added = 0, changed = 0, removed = 0;
	for (size_t i = 0; i < dp->n_cur; i++)
		dp->cur[i].seen = false;
	for (size_t i = 0; i < dp->n_f; i++) {
		const struct found *f = &dp->f[i];
		if (!f->resolved)
			continue;
		long k = cur_find(dp, f->name);
		struct fc_server *srv = fc_pool_find(p->pool, f->name);
		if (k < 0 && srv) {
			/* a server of the file (or the admin API) has this name: it stays */
			fc_debug("discover: pool %s: %s is a configured server; the DNS record is "
			         "left out",
			         dp->pool, f->name);
			fc_server_unref(srv);
			continue;
		}
		if (k >= 0 && dp->cur[k].seen) {
			if (srv)
				fc_server_unref(srv);
			continue; /* the same record twice */
		}
		if (k < 0) {
			struct cur *v = realloc(dp->cur, (dp->n_cur + 1) * sizeof(*v));
			if (!v) {
				fc_error("discover: pool %s: out of memory", dp->pool);
				break;
			}
			dp->cur = v;
			k = (long)dp->n_cur;
			struct cur *c = &dp->cur[dp->n_cur];
			memset(c, 0, sizeof(*c));
			snprintf(c->name, sizeof(c->name), "%s", f->name);
			if (add_live(dp, p, f) < 0)
				continue;
			dp->n_cur++;
			added++;
		} else if (!srv || strcmp(dp->cur[k].url, f->url) != 0) {
			/* taken out (admin API) or moved to another address: put back */
			if (srv)
				fc_live_remove(&dp->d->live, p, srv);
			if (add_live(dp, p, f) < 0) {
				dp->cur[k].draining = true; /* gone: forgotten at the next tick */
				drain_soon(dp->d);
				if (srv)
					fc_server_unref(srv);
				continue;
			}
			changed++;
		} else {
			struct cur *c = &dp->cur[k];
			if (c->draining) {
				fc_live_state(&dp->d->live, p, srv, FC_ADMIN_READY);
				changed++;
			}
			if (c->weight != f->weight || c->tier != f->tier) {
				struct fc_server_spec spec = {.name = f->name,
				                              .address = f->url,
				                              .weight = f->weight,
				                              .max_conns = p->cfg->max_conns,
				                              .tier = f->tier};
				if (fc_pool_upsert(p->pool, &spec, fc_time_ns(), NULL) < 0)
					fc_error("discover: pool %s: server %s: out of memory",
					         dp->pool, f->name);
				changed += !c->draining;
			}
		}
		if (srv)
			fc_server_unref(srv);
		struct cur *c = &dp->cur[k];
		snprintf(c->url, sizeof(c->url), "%s", f->url);
		c->weight = f->weight;
		c->tier = f->tier;
		c->draining = false;
		c->seen = true;
	}
	for (size_t i = 0; i < dp->n_cur; i++) {
		struct cur *c = &dp->cur[i];
		if (c->seen || c->draining)
			continue;
		c->draining = true;
		removed++;
		struct fc_server *srv = fc_pool_find(p->pool, c->name);
		if (srv) {
			fc_live_state(&dp->d->live, p, srv, FC_ADMIN_DRAIN);
			fc_server_unref(srv);
		}
		drain_soon(dp->d);
	}
	if (added || changed || removed) {
		size_t n = n_serving(dp);
		fc_info("discover: pool %s: %s: %zu server%s (%zu added, %zu changed, %zu "
		        "draining to be removed)",
		        dp->pool, dp->dns, n, n == 1 ? "" : "s", added, changed, removed);
	}
}

/* The cur entry called name, added when there is none (NULL: out of memory). */
static struct cur *cur_get(struct dpool *dp, const char *name)
{
	long k = cur_find(dp, name);
	if (k >= 0)
		return &dp->cur[k];
	struct cur *v = realloc(dp->cur, (dp->n_cur + 1) * sizeof(*v));
	if (!v)
		return NULL;
	dp->cur = v;
	struct cur *c = &dp->cur[dp->n_cur++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	return c;
}

/* resolve: one written server's host name answered with f->addr: the server
 * goes into the pool (its first address) or, at a new address, replaces the
 * one there; the same address changes nothing. */
static void place_host(struct dpool *dp, struct fc_rt_pool *p, const struct fc_config_server *t,
                       const struct found *f)
{
	struct fc_server *srv = fc_pool_find(p->pool, t->name);
	struct fc_rt_server *rs = srv ? fc_server_user(srv) : NULL;
	if (rs && rs->addr_len == f->addr_len && memcmp(&rs->addr, &f->addr, f->addr_len) == 0) {
		fc_server_unref(srv);
		return;
	}
	char was[URL_LEN] = "";
	enum fc_admin_state state = t->admin_state;
	struct fc_config_server cs = *t; /* borrowed strings: fc_live_add copies them */
	if (srv) {
		/* in-flight requests finish on the old address; new ones go to the
		 * new, with the weight and drain the admin API may have set */
		fc_sock_format((const struct sockaddr *)&rs->addr, was, sizeof(was));
		if (fc_server_state(srv) == FC_SERVER_DRAINING)
			state = FC_ADMIN_DRAIN;
		cs.weight = fc_server_weight(srv);
		fc_live_remove(&dp->d->live, p, srv);
		fc_server_unref(srv);
	}
	cs.addr = f->addr;
	cs.addr_len = f->addr_len;
	char err[600];
	struct fc_server *added = fc_live_add(&dp->d->live, p, &cs, err, sizeof(err));
	if (!added) {
		fc_error("resolve: pool %s: server %s: %s", dp->pool, t->name, err);
		return;
	}
	if (state != FC_ADMIN_READY)
		fc_live_state(&dp->d->live, p, added, state);
	char now[URL_LEN];
	fc_sock_format((const struct sockaddr *)&f->addr, now, sizeof(now));
	if (was[0])
		fc_info("resolve: pool %s: server %s: %s moved from %s to %s", dp->pool, t->name,
		        t->host, was, now);
	else
		fc_info("resolve: pool %s: server %s: %s is %s; the server is in the pool",
		        dp->pool, t->name, t->host, now);
}

/* resolve: the answer for every written host name. A name that did not
 * resolve keeps its server's last address (or stays out of the pool until
 * it resolves); each change is logged once. Ok when every name resolved. */
static bool apply_hosts(struct dpool *dp)
{
	struct fc_rt_pool *p =
	        dp->d->live.rt ? fc_runtime_pool_named(dp->d->live.rt, dp->pool) : NULL;
	bool all = true;
	dp->last_error[0] = '\0';
	for (size_t i = 0; p && i < dp->n_f; i++) {
		const struct found *f = &dp->f[i];
		long ti = fc_config_server_index(p->cfg, f->name);
		const struct fc_config_server *t = ti >= 0 ? &p->cfg->servers[ti] : NULL;
		if (!t || !t->resolve)
			continue; /* gone from the configuration (the admin API) */
		struct cur *c = cur_get(dp, f->name);
		if (!c) {
			fc_error("resolve: pool %s: out of memory", dp->pool);
			return false;
		}
		if (!f->resolved) {
			all = false;
			if (!dp->last_error[0])
				snprintf(dp->last_error, sizeof(dp->last_error), "%s: %s", t->host,
				         f->why);
			if (!c->failing) {
				struct fc_server *srv = fc_pool_find(p->pool, t->name);
				fc_warn("resolve: pool %s: server %s: cannot resolve %s: %s; %s",
				        dp->pool, t->name, t->host, f->why,
				        srv ? "it keeps its last address"
				            : "it stays out of the pool until the name resolves");
				if (srv)
					fc_server_unref(srv);
			}
			c->failing = true;
			continue;
		}
		if (c->failing)
			fc_info("resolve: pool %s: server %s: %s resolves again", dp->pool, t->name,
			        t->host);
		c->failing = false;
		place_host(dp, p, t, f);
	}
	return all;
}

/* Servers gone from DNS leave once no request is in flight on them. */
static void on_drain(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_discovery *d = fc_link_entry(t, struct fc_discovery, drain);
	bool more = false;
	(void)loop;
	for (struct dpool *dp = d->pools; dp; dp = dp->next) {
		struct fc_rt_pool *p =
		        d->live.rt ? fc_runtime_pool_named(d->live.rt, dp->pool) : NULL;
		for (size_t i = 0; i < dp->n_cur;) {
			struct cur *c = &dp->cur[i];
			int rc = c->draining && p ? fc_live_remove_idle(&d->live, p, c->name) : 0;
			if (!c->draining || rc < 0) {
				more |= rc < 0;
				i++;
				continue;
			}
			if (rc > 0)
				fc_info("discover: pool %s: server %s removed (no longer in %s)",
				        dp->pool, c->name, dp->dns);
			memmove(c, c + 1, (dp->n_cur - i - 1) * sizeof(*c));
			dp->n_cur--;
		}
	}
	if (more)
		fc_timer_set(d->loop, &d->drain, d->loop->now_ms + DRAIN_TICK_MS);
}

/* ---------------------------------------------------------------- lookups */

static void schedule(struct dpool *dp, uint32_t ms)
{
	struct fc_loop *loop = dp->d->loop;
	fc_timer_set(loop, &dp->next_lookup, loop->now_ms + (ms ? ms : 1));
}

/* A record's TTL (seconds) lowers the wait before the next lookup. */
static void note_ttl(struct dpool *dp, uint64_t ttl_s)
{
	uint64_t ms = ttl_s * 1000;
	if (ms < MIN_TTL_MS)
		ms = MIN_TTL_MS;
	if (ms < dp->ttl_ms)
		dp->ttl_ms = (uint32_t)ms;
}

/* The lookup is over: the next one in ms (at most interval). */
static void end_lookup(struct dpool *dp, uint32_t ms)
{
	dp->busy = false;
	free(dp->f);
	dp->f = NULL;
	dp->n_f = 0;
	schedule(dp, ms < dp->interval_ms ? ms : dp->interval_ms);
}

/* The lookup ends without servers to apply: it failed (why), or the name
 * has no record (why NULL). Either way the last answer's servers stay; a
 * change of state is logged once. */
static void finish_kept(struct dpool *dp, const char *why)
{
	const char *was = dp->last_result;
	size_t n = n_serving(dp);
	if (why) {
		dp->failed++;
		dp->last_result = "failed";
		snprintf(dp->last_error, sizeof(dp->last_error), "%s", why);
		if (strcmp(was, "failed") != 0)
			fc_error("discover: pool %s: looking up %s failed: %s; keeping the %zu "
			         "server%s of the last answer",
			         dp->pool, dp->dns, why, n, n == 1 ? "" : "s");
	} else {
		dp->empty++;
		dp->last_result = "empty";
		dp->last_error[0] = '\0';
		if (strcmp(was, "empty") != 0)
			fc_warn("discover: pool %s: %s has no record; keeping the %zu server%s of "
			        "the last answer",
			        dp->pool, dp->dns, n, n == 1 ? "" : "s");
	}
	/* a negative answer's TTL is not read: the next lookup after interval */
	end_lookup(dp, why ? RETRY_AFTER_MS : dp->interval_ms);
}

static int by_prio(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

/* The answer is complete: SRV priorities become tiers (the rank of each
 * distinct priority, lowest first), then the pool takes it. */
static void finish(struct dpool *dp)
{
	if (dp->type == FC_DISCOVER_HOSTS) {
		bool ok = apply_hosts(dp);
		dp->ok += ok;
		dp->failed += !ok;
		dp->last_result = ok ? "ok" : "failed";
		if (ok)
			dp->last_ok_ns = fc_time_ns();
		end_lookup(dp, ok ? dp->ttl_ms : RETRY_AFTER_MS);
		return;
	}
	unsigned prios[MAX_RECORDS];
	size_t np = 0;
	for (size_t i = 0; i < dp->n_f; i++)
		if (dp->f[i].resolved)
			prios[np++] = dp->f[i].prio;
	if (!np) {
		finish_kept(dp, dp->n_f ? "no SRV target has an address" : NULL);
		return;
	}
	size_t resolved = np;
	qsort(prios, np, sizeof(prios[0]), by_prio);
	size_t nd = 1; /* the distinct priorities, in order */
	for (size_t k = 1; k < np; k++)
		if (prios[k] != prios[nd - 1])
			prios[nd++] = prios[k];
	for (size_t i = 0; i < dp->n_f; i++) {
		unsigned tier = 0;
		while (tier < nd && prios[tier] < dp->f[i].prio)
			tier++;
		dp->f[i].tier = tier;
	}
	dp->last_ok_ns = fc_time_ns();
	dp->last_error[0] = '\0';
	dp->ok++;
	if (strcmp(dp->last_result, "failed") == 0 || strcmp(dp->last_result, "empty") == 0)
		fc_info("discover: pool %s: %s answers again (%zu record%s)", dp->pool, dp->dns,
		        resolved, resolved == 1 ? "" : "s");
	dp->last_result = "ok";
	apply(dp);
	/* the next lookup when the records expire, at most interval from now */
	end_lookup(dp, dp->ttl_ms);
}

/* "http://1.2.3.4:80" / "https://[::1]:443" and "1.2.3.4:80" from an address. */
static void url_of(const struct dpool *dp, int family, const void *addr, uint16_t port, char *url,
                   size_t ulen, char *hostport, size_t hlen)
{
	char ip[INET6_ADDRSTRLEN] = "";
	inet_ntop(family, addr, ip, sizeof(ip));
	bool v6 = family == AF_INET6;
	snprintf(url, ulen, "%s://%s%s%s:%u", dp->tls ? "https" : "http", v6 ? "[" : "", ip,
	         v6 ? "]" : "", port);
	snprintf(hostport, hlen, "%s%s%s:%u", v6 ? "[" : "", ip, v6 ? "]" : "", port);
}

/* One SRV target's address lookup (a lookup ends only once every one of
 * them has called back, so none outlives its lookup). */
struct target_req {
	struct dpool *dp;
	size_t i;
};

static void on_target(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct target_req *r = arg;
	struct dpool *dp = r->dp;
	(void)timeouts;
	if (dp->dying) {
		ares_freeaddrinfo(res);
		free(r);
		return;
	}
	struct found *f = &dp->f[r->i];
	struct ares_addrinfo_node *a = status == ARES_SUCCESS && res ? res->nodes : NULL,
	                          *pick = NULL;
	for (; a; a = a->ai_next) {
		if (a->ai_ttl >= 0)
			note_ttl(dp, (uint64_t)a->ai_ttl);
		/* the first IPv4 address, else the first IPv6 one (as the loader picks) */
		if ((a->ai_family == AF_INET && (!pick || pick->ai_family != AF_INET)) ||
		    (a->ai_family == AF_INET6 && !pick))
			pick = a;
	}
	if (pick && pick->ai_addrlen <= sizeof(f->addr)) {
		char hostport[NAME_LEN];
		const void *ip =
		        pick->ai_family == AF_INET6
		                ? (const void *)&((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr
		                : (const void *)&((struct sockaddr_in *)pick->ai_addr)->sin_addr;
		url_of(dp, pick->ai_family, ip, f->port, f->url, sizeof(f->url), hostport,
		       sizeof(hostport));
		memcpy(&f->addr, pick->ai_addr, pick->ai_addrlen);
		f->addr_len = (socklen_t)pick->ai_addrlen;
		/* SRV: ares leaves the port 0 */
		if (pick->ai_family == AF_INET6)
			((struct sockaddr_in6 *)&f->addr)->sin6_port = htons(f->port);
		else
			((struct sockaddr_in *)&f->addr)->sin_port = htons(f->port);
		f->resolved = true;
		/* named after the record (target:port) when that is a valid name;
		 * resolve: the written server's name, set before */
		if (dp->type != FC_DISCOVER_HOSTS &&
		    (size_t)snprintf(f->name, sizeof(f->name), "%s:%u", f->target, f->port) >=
		            sizeof(f->name))
			snprintf(f->name, sizeof(f->name), "%s", hostport);
	}
	if (!f->resolved) {
		snprintf(f->why, sizeof(f->why), "%s",
		         status == ARES_SUCCESS ? "no IPv4 or IPv6 address"
		                                : ares_strerror(status));
		if (dp->type != FC_DISCOVER_HOSTS)
			fc_warn("discover: pool %s: SRV target %s: %s", dp->pool, f->target,
			        f->why);
	}
	ares_freeaddrinfo(res);
	free(r);
	if (--dp->waiting == 0)
		finish(dp);
}

/* Keeps the name a server name can be: printable, no spaces, quotes, '/'. */
static bool target_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f || *s == '"' ||
		    *s == '\'' || *s == '/')
			return false;
	return true;
}

/* A query's status (or its answer's, parsed): true when the lookup ends with
 * it — the channel is going away, the name has no record (an answer: empty),
 * or it failed. */
static bool settled(struct dpool *dp, int status)
{
	if (dp->dying || status == ARES_EDESTRUCTION || status == ARES_ECANCELLED)
		return true;
	if (status == ARES_ENOTFOUND || status == ARES_ENODATA)
		finish_kept(dp, NULL);
	else if (status != ARES_SUCCESS)
		finish_kept(dp, ares_strerror(status));
	return status != ARES_SUCCESS;
}

/* Every target's address (dp->f[0..n_f), n_f > 0); the last answer
 * finishes the lookup. */
static void look_up_targets(struct dpool *dp)
{
	dp->waiting = dp->n_f;
	size_t count = dp->n_f;
	for (size_t i = 0; i < count; i++) {
		struct target_req *r = malloc(sizeof(*r));
		if (!r) {
			snprintf(dp->f[i].why, sizeof(dp->f[i].why), "out of memory");
			if (--dp->waiting == 0)
				finish(dp);
			continue;
		}
		*r = (struct target_req){.dp = dp, .i = i};
		struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC};
		ares_getaddrinfo(dp->ch, dp->f[i].target, NULL, &hints, on_target, r);
	}
}

static void on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dpool *dp = arg;
	(void)timeouts;
	struct ares_srv_reply *srv = NULL;
	if (settled(dp, status) || settled(dp, ares_parse_srv_reply(abuf, alen, &srv)))
		return;
	note_ttl(dp, fc_dns_answer_min_ttl(abuf, alen > 0 ? (size_t)alen : 0));
	size_t n = 0;
	for (struct ares_srv_reply *s = srv; s; s = s->next)
		n++;
	if (n > MAX_RECORDS) {
		fc_warn("discover: pool %s: %s has %zu records; the first %d are used", dp->pool,
		        dp->dns, n, MAX_RECORDS);
		n = MAX_RECORDS;
	}
	dp->f = calloc(n ? n : 1, sizeof(*dp->f));
	if (!dp->f) {
		ares_free_data(srv);
		finish_kept(dp, "out of memory");
		return;
	}
	for (struct ares_srv_reply *s = srv; s && dp->n_f < n; s = s->next) {
		struct found *f = &dp->f[dp->n_f];
		if (!target_ok(s->host) || strcmp(s->host, ".") == 0 || s->port == 0)
			continue; /* "." is RFC 2782's "no service here" */
		snprintf(f->target, sizeof(f->target), "%s", s->host);
		size_t tl = strlen(f->target);
		if (tl > 1 && f->target[tl - 1] == '.')
			f->target[tl - 1] = '\0';
		f->port = s->port;
		f->prio = s->priority;
		/* RFC 2782: weight 0 is picked rarely when others have weight */
		f->weight = s->weight == 0               ? 1
		            : s->weight > SRV_WEIGHT_MAX ? SRV_WEIGHT_MAX
		                                         : s->weight;
		dp->n_f++;
	}
	ares_free_data(srv);
	if (dp->n_f == 0) {
		finish(dp);
		return;
	}
	look_up_targets(dp);
}

static void on_addrs(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dpool *dp = arg;
	(void)timeouts;
	struct ares_addrttl a4[MAX_ADDRS];
	struct ares_addr6ttl a6[MAX_ADDRS];
	int n = MAX_ADDRS;
	if (settled(dp, status) ||
	    settled(dp, dp->type == FC_DISCOVER_A
	                        ? ares_parse_a_reply(abuf, alen, NULL, a4, &n)
	                        : ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n)))
		return;
	dp->f = calloc(n > 0 ? (size_t)n : 1, sizeof(*dp->f));
	if (!dp->f) {
		finish_kept(dp, "out of memory");
		return;
	}
	for (int i = 0; i < n; i++) {
		struct found *f = &dp->f[dp->n_f++];
		int family = dp->type == FC_DISCOVER_A ? AF_INET : AF_INET6;
		const void *ip = family == AF_INET ? (const void *)&a4[i].ipaddr
		                                   : (const void *)&a6[i].ip6addr;
		url_of(dp, family, ip, dp->port, f->url, sizeof(f->url), f->name, sizeof(f->name));
		f->port = dp->port;
		f->weight = 1;
		f->resolved = true;
		int ttl = family == AF_INET ? a4[i].ttl : a6[i].ttl;
		note_ttl(dp, ttl > 0 ? (uint64_t)ttl : 0);
	}
	finish(dp);
}

/* resolve: the pool's written servers with a host name, looked up as SRV
 * targets are. */
static void look_up_hosts(struct dpool *dp)
{
	struct fc_rt_pool *p =
	        dp->d->live.rt ? fc_runtime_pool_named(dp->d->live.rt, dp->pool) : NULL;
	const struct fc_config_pool *cp = p ? p->cfg : NULL;
	size_t n = 0;
	for (size_t i = 0; cp && i < cp->n_servers; i++)
		n += cp->servers[i].resolve;
	if (n && !(dp->f = calloc(n, sizeof(*dp->f))))
		fc_error("resolve: pool %s: out of memory", dp->pool);
	for (size_t i = 0; dp->f && i < cp->n_servers; i++) {
		const struct fc_config_server *cs = &cp->servers[i];
		if (!cs->resolve)
			continue;
		struct found *f = &dp->f[dp->n_f++];
		snprintf(f->name, sizeof(f->name), "%s", cs->name);
		snprintf(f->target, sizeof(f->target), "%s", cs->host);
		f->port = cs->port;
	}
	if (!dp->n_f) {
		end_lookup(dp, dp->interval_ms);
		return;
	}
	look_up_targets(dp);
}

static void on_next_lookup(struct fc_loop *loop, struct fc_timer *t)
{
	struct dpool *dp = fc_link_entry(t, struct dpool, next_lookup);
	(void)loop;
	if (dp->busy)
		return;
	dp->busy = true;
	free(dp->f);
	dp->f = NULL;
	dp->n_f = 0;
	dp->waiting = 0;
	dp->ttl_ms = UINT32_MAX;
	if (dp->type == FC_DISCOVER_HOSTS)
		look_up_hosts(dp);
	else if (dp->type == FC_DISCOVER_SRV)
		ares_query(dp->ch, dp->dns, ns_c_in, ns_t_srv, on_srv, dp);
	else
		ares_query(dp->ch, dp->dns, ns_c_in, dp->type == FC_DISCOVER_A ? ns_t_a : ns_t_aaaa,
		           on_addrs, dp);
	arm_timeout(dp);
}

/* ---------------------------------------------------------------- pools */

/* The resolvers as c-ares takes them: "1.2.3.4:53,[::1]:5353". */
static char *resolvers_csv(const struct fc_config_discover *c)
{
	if (!c->n_resolvers)
		return NULL;
	size_t len = 1;
	for (size_t i = 0; i < c->n_resolvers; i++)
		len += strlen(c->resolvers[i]) + 1;
	char *s = calloc(1, len);
	for (size_t i = 0; s && i < c->n_resolvers; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, c->resolvers[i]);
	}
	return s;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The lookups a pool asks for: its discover: or its resolve:. */
static const struct fc_config_discover *wanted(const struct fc_config_pool *cp, bool hosts)
{
	return hosts ? &cp->resolve : &cp->discover;
}

/* The running lookup is the one c asks for (interval aside). */
static bool same_lookup(const struct dpool *dp, const struct fc_config_discover *c)
{
	char *csv = resolvers_csv(c);
	bool same = c->type == dp->type && str_eq(c->name, dp->dns) &&
	            str_eq(csv, dp->servers_csv) && c->port == dp->port && c->tls == dp->tls &&
	            c->timeout_ms == dp->timeout_ms;
	free(csv);
	return same;
}

static void dpool_destroy(struct dpool *dp)
{
	struct fc_loop *loop = dp->d->loop;
	dp->dying = true;
	fc_timer_cancel(loop, &dp->next_lookup);
	fc_timer_cancel(loop, &dp->ares_tmo);
	if (dp->ch)
		ares_destroy(dp->ch); /* callbacks run now, with dying set */
	if (dp->epfd >= 0) {
		fc_loop_del(loop, &dp->io);
		close(dp->epfd);
	}
	free(dp->f);
	free(dp->cur);
	free(dp->pool);
	free(dp->dns);
	free(dp->servers_csv);
	free(dp);
}

static struct dpool *dpool_create(struct fc_discovery *d, const struct fc_config_pool *cp,
                                  const struct fc_config_discover *c)
{
	struct dpool *dp = calloc(1, sizeof(*dp));
	if (!dp)
		return NULL;
	dp->d = d;
	dp->epfd = -1;
	dp->type = c->type;
	dp->interval_ms = c->interval_ms;
	dp->timeout_ms = c->timeout_ms;
	dp->port = c->port;
	dp->tls = c->tls;
	dp->last_result = "pending";
	dp->next_lookup.cb = on_next_lookup;
	dp->ares_tmo.cb = on_ares_timeout;
	dp->pool = strdup(cp->name);
	dp->dns = c->name ? strdup(c->name) : NULL;
	dp->servers_csv = resolvers_csv(c);
	if (!dp->pool || (c->name && !dp->dns) || (c->n_resolvers && !dp->servers_csv))
		goto fail;
	dp->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (dp->epfd < 0)
		goto fail;
	dp->io.fd = dp->epfd;
	dp->io.cb = on_io;
	if (fc_loop_add_level(d->loop, &dp->io) < 0) {
		close(dp->epfd);
		dp->epfd = -1;
		goto fail;
	}
	struct ares_options o = {
	        .timeout = (int)c->timeout_ms,
	        .tries = 2,
	        .sock_state_cb = on_sock_state,
	        .sock_state_cb_data = dp,
	};
	int st = ares_init_options(&dp->ch, &o,
	                           ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB);
	if (st != ARES_SUCCESS) {
		fc_error("discover: pool %s: %s", cp->name, ares_strerror(st));
		dp->ch = NULL;
		goto fail;
	}
	if (dp->servers_csv &&
	    (st = ares_set_servers_ports_csv(dp->ch, dp->servers_csv)) != ARES_SUCCESS) {
		fc_error("discover: pool %s: resolvers %s: %s", cp->name, dp->servers_csv,
		         ares_strerror(st));
		goto fail;
	}
	return dp;
fail:
	dpool_destroy(dp);
	return NULL;
}

int fc_discovery_create(struct fc_loop *loop, struct fc_discovery **out)
{
	struct fc_discovery *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->drain.cb = on_drain;
	*out = d;
	return 0;
}

void fc_discovery_destroy(struct fc_discovery *d)
{
	if (!d)
		return;
	while (d->pools) {
		struct dpool *dp = d->pools;
		d->pools = dp->next;
		dpool_destroy(dp);
	}
	fc_timer_cancel(d->loop, &d->drain);
	if (d->inited)
		ares_library_cleanup();
	free(d);
}

static struct dpool *find_dpool(const struct fc_discovery *d, const char *pool, bool hosts)
{
	for (struct dpool *dp = d->pools; dp; dp = dp->next)
		if ((dp->type == FC_DISCOVER_HOSTS) == hosts && strcmp(dp->pool, pool) == 0)
			return dp;
	return NULL;
}

/* resolve: next's servers written with a host name that the running pool
 * has under the same name and URL keep the address they have there, so the
 * new runtime takes them over without waiting for a lookup. */
static void carry_hosts(const struct fc_discovery *d, struct fc_config_pool *cp)
{
	struct fc_rt_pool *p = d->live.rt ? fc_runtime_pool_named(d->live.rt, cp->name) : NULL;
	for (size_t k = 0; p && k < cp->n_servers; k++) {
		struct fc_config_server *cs = &cp->servers[k];
		struct fc_server *srv = cs->resolve ? fc_pool_find(p->pool, cs->name) : NULL;
		struct fc_rt_server *rs = srv ? fc_server_user(srv) : NULL;
		if (rs && strcmp(rs->url, cs->url) == 0) {
			cs->addr = rs->addr;
			cs->addr_len = rs->addr_len;
		}
		if (srv)
			fc_server_unref(srv);
	}
}

int fc_discovery_carry(struct fc_discovery *d, struct fc_config *next)
{
	for (size_t i = 0; d && i < next->n_pools; i++) {
		struct fc_config_pool *cp = &next->pools[i];
		if (cp->resolve.type != FC_DISCOVER_NONE)
			carry_hosts(d, cp);
		struct dpool *dp = cp->discover.type != FC_DISCOVER_NONE
		                           ? find_dpool(d, cp->name, false)
		                           : NULL;
		if (!dp || !same_lookup(dp, &cp->discover))
			continue;
		for (size_t k = 0; k < dp->n_cur; k++) {
			const struct cur *c = &dp->cur[k];
			struct fc_config_server cs;
			char err[600];
			if (c->draining || fc_config_server_index(cp, c->name) >= 0)
				continue;
			if (fc_config_server_parse(cp, c->url, c->name, c->weight, &cs, err,
			                           sizeof(err)) < 0) {
				fc_warn("discover: pool %s: server %s: %s", cp->name, c->name, err);
				continue;
			}
			cs.tier = c->tier;
			cs.discovered = true;
			if (fc_config_pool_add_server(cp, &cs) < 0) {
				fc_config_server_fini(&cs);
				return -ENOMEM;
			}
			cp->has_tls_servers |= dp->tls;
		}
	}
	return 0;
}

void fc_discovery_update(struct fc_discovery *d, const struct fc_live *l)
{
	d->live = *l;
	const struct fc_config *cfg = l->rt->cfg;
	/* lookups the configuration no longer has, or asks for differently */
	for (struct dpool **pp = &d->pools; *pp;) {
		struct dpool *dp = *pp;
		bool hosts = dp->type == FC_DISCOVER_HOSTS;
		const struct fc_config_pool *cp = fc_config_pool_find(cfg, dp->pool);
		const struct fc_config_discover *c = cp ? wanted(cp, hosts) : NULL;
		if (c && c->type != FC_DISCOVER_NONE && same_lookup(dp, c)) {
			dp->interval_ms = c->interval_ms;
			/* what was draining stayed in the old runtime; resolve: the names
			 * the file no longer has are forgotten */
			size_t w = 0;
			for (size_t i = 0; i < dp->n_cur; i++) {
				long k = hosts ? fc_config_server_index(cp, dp->cur[i].name) : 0;
				if (!dp->cur[i].draining && k >= 0 &&
				    (!hosts || cp->servers[k].resolve))
					dp->cur[w++] = dp->cur[i];
			}
			dp->n_cur = w;
			if (hosts && !dp->busy)
				schedule(dp, 0); /* names new to the file resolve now */
			pp = &dp->next;
			continue;
		}
		*pp = dp->next;
		dpool_destroy(dp);
	}
	for (size_t i = 0; i < 2 * cfg->n_pools; i++) {
		const struct fc_config_pool *cp = &cfg->pools[i / 2];
		bool hosts = i % 2;
		const struct fc_config_discover *c = wanted(cp, hosts);
		if (c->type == FC_DISCOVER_NONE || find_dpool(d, cp->name, hosts))
			continue;
		if (!d->inited) {
			int st = ares_library_init(ARES_LIB_INIT_ALL);
			if (st != ARES_SUCCESS) {
				fc_error("discover: %s", ares_strerror(st));
				return;
			}
			d->inited = true;
		}
		struct dpool *dp = dpool_create(d, cp, c);
		if (!dp) {
			fc_error("%s: pool %s: cannot start looking up %s",
			         hosts ? "resolve" : "discover", cp->name,
			         hosts ? "its servers' host names" : c->name);
			continue;
		}
		dp->next = d->pools;
		d->pools = dp;
		if (hosts)
			fc_info("resolve: pool %s: servers' host names looked up at least every %u "
			        "ms",
			        cp->name, c->interval_ms);
		else
			fc_info("discover: pool %s: servers from %s records of %s, at least every "
			        "%u ms",
			        cp->name, type_name(c->type), c->name, c->interval_ms);
		schedule(dp, 0);
	}
}

bool fc_discovery_info(const struct fc_discovery *d, const char *pool, bool resolve,
                       struct fc_discovery_info *out)
{
	const struct dpool *dp = d ? find_dpool(d, pool, resolve) : NULL;
	if (!dp)
		return false;
	memset(out, 0, sizeof(*out));
	out->dns = dp->dns;
	out->type = type_name(dp->type);
	out->servers = n_serving(dp);
	if (resolve) {
		struct fc_rt_pool *p =
		        d->live.rt ? fc_runtime_pool_named(d->live.rt, dp->pool) : NULL;
		out->servers = 0;
		for (size_t i = 0; p && i < p->cfg->n_servers; i++) {
			const struct fc_config_server *cs = &p->cfg->servers[i];
			struct fc_server *srv =
			        cs->resolve ? fc_pool_find(p->pool, cs->name) : NULL;
			out->names += cs->resolve;
			out->servers += srv != NULL;
			if (srv)
				fc_server_unref(srv);
		}
	}
	out->ok = dp->ok;
	out->empty = dp->empty;
	out->failed = dp->failed;
	out->last_result = dp->last_result;
	out->last_error = dp->last_error;
	out->last_ok_ns = dp->last_ok_ns;
	return true;
}
