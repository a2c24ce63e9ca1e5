/* metrics.c — /metrics in the Prometheus text format 0.0.4 (counters summed
 * over the workers at scrape time, the pools' histograms the sums of their
 * servers' and of the requests no server answered, process metrics from
 * /proc/self) and /lb-metrics, the seed balancer's JSON. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "admin/admin_internal.h"
#include "health/health.h"
#include "proxy/discover.h"
#include "proxy/glimit.h"
#include "proxy/proxy.h"
#include "proxy/ratelimit.h"

static const char *const code_names[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const fail_names[FC_FAIL_KINDS] = {
        [FC_FAIL_CONNECT] = "connect",       [FC_FAIL_TIMEOUT] = "timeout",
        [FC_FAIL_RESET] = "reset",           [FC_FAIL_BAD_RESPONSE] = "bad_response",
        [FC_FAIL_STATUS_5XX] = "status_5xx",
};
static const char *const check_names[FC_HEALTH_RESULTS] = {
        [FC_HEALTH_RESULT_OK] = "ok",
        [FC_HEALTH_RESULT_FAILED] = "failed",
        [FC_HEALTH_RESULT_TIMEOUT] = "timeout",
        [FC_HEALTH_RESULT_LAME_DUCK] = "lame_duck",
};
const char *const fc_admin_server_states[5] = {
        [FC_SERVER_HEALTHY] = "healthy", [FC_SERVER_LAME_DUCK] = "lame_duck",
        [FC_SERVER_DEAD] = "dead",       [FC_SERVER_DRAINING] = "draining",
        [FC_SERVER_ASLEEP] = "asleep",
};

/* A label value: backslash, double quote and newline escaped. */
static void label(struct fc_json *o, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\\')
			fc_json_raw(o, "\\\\", 2);
		else if (*p == '"')
			fc_json_raw(o, "\\\"", 2);
		else if (*p == '\n')
			fc_json_raw(o, "\\n", 2);
		else
			fc_json_raw(o, p, 1);
	}
}

static void family(struct fc_json *o, const char *name, const char *type, const char *help)
{
	fc_json_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{pool="p"[,server="s"]<extra> */
static void series(struct fc_json *o, const char *name, const char *pool, const char *server)
{
	fc_json_printf(o, "%s{pool=\"", name);
	label(o, pool);
	if (server) {
		fc_json_raw(o, "\",server=\"", 10);
		label(o, server);
	}
	fc_json_raw(o, "\"", 1);
}

/* One server of one pool, as the families need it. */
struct srv_row {
	const char *pool, *name, *url;
	struct fc_server_stats st;
	struct fc_srv_totals t;
	struct fc_health_info hi;
	bool has_hi;
};

struct pool_row {
	const char *name;
	uint64_t code[5];
	uint64_t hist[FC_HIST_BUCKETS];
	uint64_t sum_ns;
	uint32_t n_servers, healthy;
	/* its queue (has_queue: it has one) */
	bool has_queue;
	uint32_t qlen, qmax;
	uint64_t qhist[FC_HIST_BUCKETS], qsum_ns, qtimeouts, qfull;
	uint64_t budget_exhausted; /* retries the budget refused */
	uint32_t retrying;         /* requests on a retry now */
};

/* One rate limit (its buckets' counters, kept across reloads with them). */
struct limit_row {
	const char *name;
	bool global; /* scope: global */
	struct fc_ratelimit_stats st;
};

struct snapshot {
	struct srv_row *s;
	size_t n;
	struct pool_row *p;
	size_t np;
	struct limit_row *l;
	size_t nl;
	uint64_t retries[FC_RETRY_N];
	uint64_t requests[FC_PROTO_N];
	uint64_t h2_conns, h2_calm;
	uint64_t conns;
	struct fc_glimits_stats redis;
};

static void snapshot_free(struct snapshot *sn)
{
	free(sn->s);
	free(sn->p);
	free(sn->l);
}

static int take_snapshot(struct fc_admin *a, struct snapshot *sn)
{
	struct fc_admin_view v;
	memset(sn, 0, sizeof(*sn));
	fc_admin_current(a, &v);
	if (!v.rt)
		return 0;
	uint64_t now = fc_time_ns();
	size_t cap = 0;
	for (size_t i = 0; i < v.rt->n_pools; i++)
		cap += fc_pool_size(v.rt->pools[i].pool) + 16;
	sn->s = calloc(cap ? cap : 1, sizeof(*sn->s));
	sn->p = calloc(v.rt->n_pools ? v.rt->n_pools : 1, sizeof(*sn->p));
	struct fc_server **tmp = malloc((cap ? cap : 1) * sizeof(*tmp));
	if (!sn->s || !sn->p || !tmp) {
		free(tmp);
		snapshot_free(sn);
		return -ENOMEM;
	}
	for (size_t i = 0; i < v.rt->n_pools; i++) {
		struct fc_rt_pool *p = &v.rt->pools[i];
		struct pool_row *pr = &sn->p[sn->np++];
		pr->name = p->cfg->name;
		size_t n = fc_pool_servers(p->pool, tmp, cap - sn->n);
		for (size_t k = 0; k < n; k++) {
			struct srv_row *r = &sn->s[sn->n++];
			const struct fc_rt_server *rs = fc_server_user(tmp[k]);
			r->pool = p->cfg->name;
			/* the name stays valid: the pool holds the server during the scrape */
			r->name = fc_server_name(tmp[k]);
			r->url = fc_server_address(tmp[k]);
			fc_server_stats(tmp[k], now, &r->st);
			fc_rt_server_totals(rs, &r->t);
			struct fc_health_server *hs = rs ? atomic_load(&rs->health) : NULL;
			r->has_hi = hs != NULL;
			if (r->has_hi)
				fc_health_server_info(hs, &r->hi);
			for (int c = 0; c < 5; c++)
				pr->code[c] += r->t.code[c];
			for (int b = 0; b < FC_HIST_BUCKETS; b++)
				pr->hist[b] += r->t.hist[b];
			pr->sum_ns += r->t.sum_ns;
			pr->n_servers++;
			pr->healthy += r->st.state == FC_SERVER_HEALTHY;
			fc_server_unref(tmp[k]);
		}
		if (p->stats) { /* servers taken out while serving */
			for (int c = 0; c < 5; c++)
				pr->code[c] += p->stats->gone.code[c];
			for (int b = 0; b < FC_HIST_BUCKETS; b++)
				pr->hist[b] += p->stats->gone.hist[b];
			pr->sum_ns += p->stats->gone.sum_ns;
		}
		for (uint32_t w = 0; p->ctr && w < v.rt->n_workers; w++) {
			const struct fc_pool_counters *pc = &p->ctr[w];
			for (int c = 0; c < 5; c++)
				pr->code[c] += fc_ctr_get(&pc->code[c]);
			fc_hist_sum(&pc->dur, pr->hist, &pr->sum_ns);
			fc_hist_sum(&pc->qwait, pr->qhist, &pr->qsum_ns);
			pr->budget_exhausted += fc_ctr_get(&pc->budget_exhausted);
			pr->qtimeouts += fc_ctr_get(&pc->qtimeouts);
			pr->qfull += fc_ctr_get(&pc->qfull);
		}
		if (p->queue) {
			pr->has_queue = true;
			pr->qlen = fc_queue_waiting(p->queue);
			pr->qmax = atomic_load_explicit(&p->queue->max, memory_order_relaxed);
		}
		if (p->stats)
			pr->retrying =
			        atomic_load_explicit(&p->stats->retrying, memory_order_relaxed);
	}
	free(tmp);
	for (uint32_t w = 0; v.ws && w < v.n_workers; w++) {
		const struct fc_worker_counters *wc = &v.ws[w].ctr;
		for (int k = 1; k < FC_RETRY_N; k++)
			sn->retries[k] += fc_ctr_get(&wc->retries[k]);
		for (int k = 0; k < FC_PROTO_N; k++)
			sn->requests[k] += fc_ctr_get(&wc->requests[k]);
		sn->h2_conns += fc_ctr_get(&wc->h2_connections);
		sn->h2_calm += fc_ctr_get(&wc->h2_calm);
	}
	sn->conns = atomic_load_explicit(v.rt->conns, memory_order_relaxed);
	if (v.rt->n_limits && !(sn->l = calloc(v.rt->n_limits, sizeof(*sn->l)))) {
		snapshot_free(sn);
		return -ENOMEM;
	}
	for (size_t i = 0; i < v.rt->n_limits; i++) {
		sn->l[sn->nl].name = v.rt->limits[i].cfg->name;
		sn->l[sn->nl].global = v.rt->limits[i].cfg->scope == FC_RATE_SCOPE_GLOBAL;
		fc_ratelimit_stats(v.rt->limits[i].rl, &sn->l[sn->nl++].st);
	}
	fc_glimits_stats(v.glimits, &sn->redis);
	return 0;
}

static void histogram(struct fc_json *o, const char *name, const char *pool, const char *server,
                      const uint64_t *hist, uint64_t sum_ns)
{
	uint64_t cum = 0;
	for (int b = 0; b < FC_HIST_BUCKETS; b++) {
		cum += hist[b];
		char le[32];
		if (b == FC_HIST_FINITE)
			snprintf(le, sizeof(le), "+Inf");
		else
			snprintf(le, sizeof(le), "%g", (double)fc_hist_bounds_ns[b] / 1e9);
		char n[96];
		snprintf(n, sizeof(n), "%s_bucket", name);
		series(o, n, pool, server);
		fc_json_printf(o, ",le=\"%s\"} %llu\n", le, (unsigned long long)cum);
	}
	char n[96];
	snprintf(n, sizeof(n), "%s_sum", name);
	series(o, n, pool, server);
	fc_json_printf(o, "} %.9g\n", (double)sum_ns / 1e9);
	snprintf(n, sizeof(n), "%s_count", name);
	series(o, n, pool, server);
	fc_json_printf(o, "} %llu\n", (unsigned long long)cum);
}

/* /proc/self: cpu seconds, resident bytes, start time (Unix seconds). */
static bool proc_stat(double *cpu, double *rss, double *start)
{
	char buf[2048];
	FILE *f = fopen("/proc/self/stat", "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return false;
	/* fields from 3 (state) on */
	unsigned long long v[40] = {0};
	int k = 0;
	for (char *tok = strtok(p + 2, " "); tok && k < 40; tok = strtok(NULL, " "))
		v[k++] = strtoull(tok, NULL, 10);
	if (k < 22)
		return false;
	double hz = (double)sysconf(_SC_CLK_TCK);
	/* field i is v[i - 3] */
	*cpu = (double)(v[14 - 3] + v[15 - 3]) / hz;
	*rss = (double)v[24 - 3] * (double)sysconf(_SC_PAGESIZE);
	double btime = 0;
	f = fopen("/proc/stat", "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "btime ", 6) == 0)
				btime = strtod(line + 6, NULL);
		fclose(f);
	}
	*start = btime + (double)v[22 - 3] / hz;
	return true;
}

static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* not the one opendir holds */
}

void fc_admin_metrics(struct fc_admin *a, struct fc_admin_resp *r)
{
	struct snapshot sn;
	if (take_snapshot(a, &sn) < 0) {
		fc_admin_error(r, 500, "out of memory");
		return;
	}
	struct fc_json *o = &r->body;
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";

	family(o, "fulcrum_requests_total", "counter",
	       "Responses servers gave, by server and status class.");
	for (size_t i = 0; i < sn.n; i++)
		for (int c = 0; c < 5; c++) {
			series(o, "fulcrum_requests_total", sn.s[i].pool, sn.s[i].name);
			fc_json_printf(o, ",code=\"%s\"} %llu\n", code_names[c],
			               (unsigned long long)sn.s[i].t.code[c]);
		}
	family(o, "fulcrum_pool_requests_total", "counter",
	       "Requests of each pool by the status class the client got, servers' answers and "
	       "fulcrum's own (no server, every attempt failed).");
	for (size_t i = 0; i < sn.np; i++)
		for (int c = 0; c < 5; c++) {
			series(o, "fulcrum_pool_requests_total", sn.p[i].name, NULL);
			fc_json_printf(o, ",code=\"%s\"} %llu\n", code_names[c],
			               (unsigned long long)sn.p[i].code[c]);
		}
	family(o, "fulcrum_server_request_duration_seconds", "histogram",
	       "Duration of the requests a server answered, from the request head to the end of "
	       "the response.");
	for (size_t i = 0; i < sn.n; i++)
		histogram(o, "fulcrum_server_request_duration_seconds", sn.s[i].pool, sn.s[i].name,
		          sn.s[i].t.hist, sn.s[i].t.sum_ns);
	family(o, "fulcrum_pool_request_duration_seconds", "histogram",
	       "Duration of every request of a pool (its servers' and those no server answered).");
	for (size_t i = 0; i < sn.np; i++)
		histogram(o, "fulcrum_pool_request_duration_seconds", sn.p[i].name, NULL,
		          sn.p[i].hist, sn.p[i].sum_ns);
	family(o, "fulcrum_server_failures_total", "counter",
	       "Attempts that failed by the server's fault, by kind.");
	for (size_t i = 0; i < sn.n; i++)
		for (int k = 1; k < FC_FAIL_KINDS; k++) {
			series(o, "fulcrum_server_failures_total", sn.s[i].pool, sn.s[i].name);
			fc_json_printf(o, ",kind=\"%s\"} %llu\n", fail_names[k],
			               (unsigned long long)sn.s[i].t.fail[k]);
		}
	family(o, "fulcrum_server_up", "gauge",
	       "1 when the server takes new requests (healthy or lame duck), else 0.");
	for (size_t i = 0; i < sn.n; i++) {
		series(o, "fulcrum_server_up", sn.s[i].pool, sn.s[i].name);
		enum fc_server_state st = sn.s[i].st.state;
		fc_json_printf(o, "} %d\n",
		               st == FC_SERVER_HEALTHY || st == FC_SERVER_LAME_DUCK ? 1 : 0);
	}
	family(o, "fulcrum_server_state", "gauge", "1 for the server's current state, else 0.");
	for (size_t i = 0; i < sn.n; i++)
		for (int k = 0; k < 5; k++) {
			series(o, "fulcrum_server_state", sn.s[i].pool, sn.s[i].name);
			fc_json_printf(o, ",state=\"%s\"} %d\n", fc_admin_server_states[k],
			               (int)sn.s[i].st.state == k);
		}
	family(o, "fulcrum_server_active_requests", "gauge", "Requests in flight on the server.");
	for (size_t i = 0; i < sn.n; i++) {
		series(o, "fulcrum_server_active_requests", sn.s[i].pool, sn.s[i].name);
		fc_json_printf(o, "} %u\n", sn.s[i].st.active);
	}
	family(o, "fulcrum_server_max_conns", "gauge",
	       "The server's max_conns (servers that have one), and the slots taken now.");
	for (size_t i = 0; i < sn.n; i++) {
		if (!sn.s[i].st.max_conns)
			continue;
		series(o, "fulcrum_server_max_conns", sn.s[i].pool, sn.s[i].name);
		fc_json_printf(o, "} %u\n", sn.s[i].st.max_conns);
	}
	family(o, "fulcrum_server_idle_connections", "gauge",
	       "Idle keep-alive connections to the server, all workers.");
	for (size_t i = 0; i < sn.n; i++) {
		series(o, "fulcrum_server_idle_connections", sn.s[i].pool, sn.s[i].name);
		fc_json_printf(o, "} %u\n", sn.s[i].t.idle);
	}
	family(o, "fulcrum_server_weight", "gauge", "The server's configured weight.");
	for (size_t i = 0; i < sn.n; i++) {
		series(o, "fulcrum_server_weight", sn.s[i].pool, sn.s[i].name);
		fc_json_printf(o, "} %u\n", sn.s[i].st.weight);
	}
	family(o, "fulcrum_server_effective_weight", "gauge",
	       "The server's weight after slow start and rebalancing.");
	for (size_t i = 0; i < sn.n; i++) {
		series(o, "fulcrum_server_effective_weight", sn.s[i].pool, sn.s[i].name);
		fc_json_printf(o, "} %u\n", sn.s[i].st.effective_weight);
	}
	family(o, "fulcrum_health_checks_total", "counter", "Active health checks by result.");
	for (size_t i = 0; i < sn.n; i++) {
		if (!sn.s[i].has_hi || !sn.s[i].hi.active)
			continue;
		for (int k = 0; k < FC_HEALTH_RESULTS; k++) {
			series(o, "fulcrum_health_checks_total", sn.s[i].pool, sn.s[i].name);
			fc_json_printf(o, ",result=\"%s\"} %llu\n", check_names[k],
			               (unsigned long long)sn.s[i].hi.results[k]);
		}
	}
	family(o, "fulcrum_pool_servers", "gauge", "Servers in the pool.");
	for (size_t i = 0; i < sn.np; i++) {
		series(o, "fulcrum_pool_servers", sn.p[i].name, NULL);
		fc_json_printf(o, "} %u\n", sn.p[i].n_servers);
	}
	family(o, "fulcrum_pool_healthy_servers", "gauge", "Healthy servers in the pool.");
	for (size_t i = 0; i < sn.np; i++) {
		series(o, "fulcrum_pool_healthy_servers", sn.p[i].name, NULL);
		fc_json_printf(o, "} %u\n", sn.p[i].healthy);
	}
	/* pools whose servers come from DNS (discover:) */
	family(o, "fulcrum_discovery_lookups_total", "counter",
	       "DNS lookups of a pool's discover: name, by result (ok; empty: no record, "
	       "and failed: the servers of the last answer stay).");
	for (size_t i = 0; i < sn.np; i++) {
		struct fc_discovery_info di;
		if (!fc_discovery_info(a->hooks.discovery, sn.p[i].name, false, &di))
			continue;
		const uint64_t n[3] = {di.ok, di.empty, di.failed};
		static const char *const results[3] = {"ok", "empty", "failed"};
		for (int k = 0; k < 3; k++) {
			series(o, "fulcrum_discovery_lookups_total", sn.p[i].name, NULL);
			fc_json_printf(o, ",result=\"%s\"} %llu\n", results[k],
			               (unsigned long long)n[k]);
		}
	}
	family(o, "fulcrum_discovery_servers", "gauge",
	       "Servers of the pool that DNS brought (draining ones not counted).");
	for (size_t i = 0; i < sn.np; i++) {
		struct fc_discovery_info di;
		if (!fc_discovery_info(a->hooks.discovery, sn.p[i].name, false, &di))
			continue;
		series(o, "fulcrum_discovery_servers", sn.p[i].name, NULL);
		fc_json_printf(o, "} %zu\n", di.servers);
	}
	/* pools whose servers' host names are resolved at run time (resolve:) */
	family(o, "fulcrum_resolve_lookups_total", "counter",
	       "Rounds of lookups of a pool's servers' host names (resolve:), by result (ok: "
	       "every name resolved; failed: one did not, and its server kept its last "
	       "address or stayed out).");
	for (size_t i = 0; i < sn.np; i++) {
		struct fc_discovery_info di;
		if (!fc_discovery_info(a->hooks.discovery, sn.p[i].name, true, &di))
			continue;
		const uint64_t n[2] = {di.ok, di.failed};
		static const char *const results[2] = {"ok", "failed"};
		for (int k = 0; k < 2; k++) {
			series(o, "fulcrum_resolve_lookups_total", sn.p[i].name, NULL);
			fc_json_printf(o, ",result=\"%s\"} %llu\n", results[k],
			               (unsigned long long)n[k]);
		}
	}
	family(o, "fulcrum_resolve_unresolved_servers", "gauge",
	       "Servers of the pool written with a host name that has not resolved yet (not "
	       "in the pool).");
	for (size_t i = 0; i < sn.np; i++) {
		struct fc_discovery_info di;
		if (!fc_discovery_info(a->hooks.discovery, sn.p[i].name, true, &di))
			continue;
		series(o, "fulcrum_resolve_unresolved_servers", sn.p[i].name, NULL);
		fc_json_printf(o, "} %zu\n", di.names - di.servers);
	}
	family(o, "fulcrum_pool_queue_length", "gauge",
	       "Requests waiting in the pool's queue for a server slot (or for the pool to "
	       "wake).");
	for (size_t i = 0; i < sn.np; i++) {
		if (!sn.p[i].has_queue)
			continue;
		series(o, "fulcrum_pool_queue_length", sn.p[i].name, NULL);
		fc_json_printf(o, "} %u\n", sn.p[i].qlen);
	}
	family(o, "fulcrum_pool_queue_max", "gauge", "The pool's queue.max.");
	for (size_t i = 0; i < sn.np; i++) {
		if (!sn.p[i].has_queue)
			continue;
		series(o, "fulcrum_pool_queue_max", sn.p[i].name, NULL);
		fc_json_printf(o, "} %u\n", sn.p[i].qmax);
	}
	family(o, "fulcrum_pool_queue_wait_seconds", "histogram",
	       "How long requests waited in the pool's queue, whatever came of them.");
	for (size_t i = 0; i < sn.np; i++)
		if (sn.p[i].has_queue)
			histogram(o, "fulcrum_pool_queue_wait_seconds", sn.p[i].name, NULL,
			          sn.p[i].qhist, sn.p[i].qsum_ns);
	family(o, "fulcrum_pool_queue_timeouts_total", "counter",
	       "Requests answered 503 after waiting queue.timeout.");
	for (size_t i = 0; i < sn.np; i++) {
		if (!sn.p[i].has_queue)
			continue;
		series(o, "fulcrum_pool_queue_timeouts_total", sn.p[i].name, NULL);
		fc_json_printf(o, "} %llu\n", (unsigned long long)sn.p[i].qtimeouts);
	}
	family(o, "fulcrum_pool_queue_full_total", "counter",
	       "Requests answered 503 at once because queue.max requests were waiting.");
	for (size_t i = 0; i < sn.np; i++) {
		if (!sn.p[i].has_queue)
			continue;
		series(o, "fulcrum_pool_queue_full_total", sn.p[i].name, NULL);
		fc_json_printf(o, "} %llu\n", (unsigned long long)sn.p[i].qfull);
	}
	family(o, "fulcrum_retries_total", "counter", "Requests sent again, by reason.");
	for (int k = 1; k < FC_RETRY_N; k++)
		fc_json_printf(o, "fulcrum_retries_total{reason=\"%s\"} %llu\n",
		               fc_accesslog_retry_name((enum fc_retry_why)k),
		               (unsigned long long)sn.retries[k]);
	family(o, "fulcrum_retry_budget_exhausted_total", "counter",
	       "Retries not made because the pool's retry budget was spent (the failure was "
	       "answered instead).");
	for (size_t i = 0; i < sn.np; i++) {
		series(o, "fulcrum_retry_budget_exhausted_total", sn.p[i].name, NULL);
		fc_json_printf(o, "} %llu\n", (unsigned long long)sn.p[i].budget_exhausted);
	}
	family(o, "fulcrum_pool_retries_in_flight", "gauge",
	       "Requests of the pool on a retry now, all workers (what the retry budget counts).");
	for (size_t i = 0; i < sn.np; i++) {
		series(o, "fulcrum_pool_retries_in_flight", sn.p[i].name, NULL);
		fc_json_printf(o, "} %u\n", sn.p[i].retrying);
	}
	family(o, "fulcrum_rate_limited_total", "counter",
	       "Requests a rate limit answered 429 (never sent to a server).");
	for (size_t i = 0; i < sn.nl; i++) {
		fc_json_raw(o, "fulcrum_rate_limited_total{limit=\"", 34);
		label(o, sn.l[i].name);
		fc_json_printf(o, "\"} %llu\n", (unsigned long long)sn.l[i].st.limited);
	}
	family(o, "fulcrum_rate_limit_early_evictions_total", "counter",
	       "Buckets given to a new key before they were full again (max_keys too small "
	       "for the clients of one refill time).");
	for (size_t i = 0; i < sn.nl; i++) {
		fc_json_raw(o, "fulcrum_rate_limit_early_evictions_total{limit=\"", 48);
		label(o, sn.l[i].name);
		fc_json_printf(o, "\"} %llu\n", (unsigned long long)sn.l[i].st.evicted_early);
	}
	if (sn.redis.configured) {
		const struct fc_glimits_stats *rs = &sn.redis;
		const struct {
			const char *name, *type, *help;
			uint64_t v;
		} one[] = {
		        {"fulcrum_redis_up", "gauge",
		         "Whether the Redis of cluster.redis answers (1) or not (0).", rs->up},
		        {"fulcrum_redis_requests_total", "counter",
		         "Commands sent to Redis (lease refills of global rate limits).",
		         rs->requests},
		        {"fulcrum_redis_errors_total", "counter",
		         "Redis failures: refused connects, lost connections, answers later than "
		         "cluster.redis.timeout, error replies.",
		         rs->errors},
		        {"fulcrum_redis_state_changes_total", "counter",
		         "Changes between up and down of the Redis connection.", rs->state_changes},
		        {"fulcrum_rate_limit_leased_tokens_total", "counter",
		         "Tokens of global rate limits Redis granted to this instance.",
		         rs->tokens_granted},
		};
		for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
			family(o, one[i].name, one[i].type, one[i].help);
			fc_json_printf(o, "%s %llu\n", one[i].name, (unsigned long long)one[i].v);
		}
		family(o, "fulcrum_rate_limit_redis_down_total", "counter",
		       "Requests a global rate limit decided while Redis was down (by "
		       "on_redis_down), by result.");
		for (size_t i = 0; i < sn.nl; i++) {
			if (!sn.l[i].global)
				continue;
			fc_json_raw(o, "fulcrum_rate_limit_redis_down_total{limit=\"", 43);
			label(o, sn.l[i].name);
			fc_json_printf(o, "\",result=\"allowed\"} %llu\n",
			               (unsigned long long)sn.l[i].st.down_allowed);
			fc_json_raw(o, "fulcrum_rate_limit_redis_down_total{limit=\"", 43);
			label(o, sn.l[i].name);
			fc_json_printf(o, "\",result=\"refused\"} %llu\n",
			               (unsigned long long)sn.l[i].st.down_refused);
		}
	}
	family(o, "fulcrum_client_requests_total", "counter",
	       "Requests clients made, by the protocol they spoke.");
	fc_json_printf(o, "fulcrum_client_requests_total{protocol=\"http/1.1\"} %llu\n",
	               (unsigned long long)sn.requests[FC_PROTO_H1]);
	fc_json_printf(o, "fulcrum_client_requests_total{protocol=\"h2\"} %llu\n",
	               (unsigned long long)sn.requests[FC_PROTO_H2]);
	family(o, "fulcrum_http2_connections_total", "counter",
	       "Client connections that spoke HTTP/2.");
	fc_json_printf(o, "fulcrum_http2_connections_total %llu\n",
	               (unsigned long long)sn.h2_conns);
	family(o, "fulcrum_http2_calm_goaways_total", "counter",
	       "HTTP/2 client connections ended with GOAWAY ENHANCE_YOUR_CALM (too many "
	       "glitches).");
	fc_json_printf(o, "fulcrum_http2_calm_goaways_total %llu\n",
	               (unsigned long long)sn.h2_calm);
	family(o, "fulcrum_client_connections", "gauge", "Open client connections, all workers.");
	fc_json_printf(o, "fulcrum_client_connections %llu\n", (unsigned long long)sn.conns);
	const struct fc_reload_stats *rl = a->hooks.reload_stats;
	if (rl) {
		family(o, "fulcrum_reloads_total", "counter", "Configuration reloads by result.");
		fc_json_printf(o, "fulcrum_reloads_total{result=\"success\"} %llu\n",
		               (unsigned long long)rl->ok);
		fc_json_printf(o, "fulcrum_reloads_total{result=\"failure\"} %llu\n",
		               (unsigned long long)rl->failed);
		family(o, "fulcrum_config_last_reload_success_timestamp_seconds", "gauge",
		       "When the configuration was last loaded successfully (the start counts).");
		fc_json_printf(o, "fulcrum_config_last_reload_success_timestamp_seconds %.3f\n",
		               rl->last_success);
	}
	family(o, "fulcrum_build_info", "gauge", "fulcrum's version (always 1).");
	fc_json_printf(o, "fulcrum_build_info{version=\"%s\"} 1\n", FULCRUM_VERSION);
	double cpu, rss, start;
	if (proc_stat(&cpu, &rss, &start)) {
		family(o, "process_cpu_seconds_total", "counter",
		       "Total user and system CPU time spent in seconds.");
		fc_json_printf(o, "process_cpu_seconds_total %.2f\n", cpu);
		family(o, "process_resident_memory_bytes", "gauge",
		       "Resident memory size in bytes.");
		fc_json_printf(o, "process_resident_memory_bytes %.0f\n", rss);
		family(o, "process_start_time_seconds", "gauge",
		       "Start time of the process since unix epoch in seconds.");
		fc_json_printf(o, "process_start_time_seconds %.2f\n", start);
	}
	long fds = open_fds();
	if (fds >= 0) {
		family(o, "process_open_fds", "gauge", "Number of open file descriptors.");
		fc_json_printf(o, "process_open_fds %ld\n", fds);
	}
	struct rlimit rlim;
	if (getrlimit(RLIMIT_NOFILE, &rlim) == 0) {
		family(o, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
		fc_json_printf(o, "process_max_fds %llu\n", (unsigned long long)rlim.rlim_cur);
	}
	snapshot_free(&sn);
}

void fc_admin_lb_metrics(struct fc_admin *a, struct fc_admin_resp *r)
{
	struct snapshot sn;
	if (take_snapshot(a, &sn) < 0) {
		fc_admin_error(r, 500, "out of memory");
		return;
	}
	uint64_t total = 0, failed = 0, sum_ns = 0, retries = 0;
	uint32_t healthy = 0;
	for (size_t i = 0; i < sn.np; i++) {
		for (int c = 0; c < 5; c++)
			total += sn.p[i].code[c];
		failed += sn.p[i].code[4];
		sum_ns += sn.p[i].sum_ns;
		healthy += sn.p[i].healthy;
	}
	for (int k = 1; k < FC_RETRY_N; k++)
		retries += sn.retries[k];
	struct fc_json *o = &r->body;
	r->status = 200;
	fc_json_obj(o);
	fc_json_kdouble(o, "uptime_seconds",
	                (double)(int64_t)((double)(fc_time_ns() - a->started_ns) / 1e9));
	fc_json_kuint(o, "total_requests", total);
	fc_json_kuint(o, "success_requests", total - failed);
	fc_json_kuint(o, "failed_requests", failed);
	fc_json_kuint(o, "retry_attempts", retries);
	fc_json_kdouble(o, "avg_latency_ms",
	                total ? (double)(int64_t)((double)sum_ns / (double)total / 1e3 + 0.5) / 1e3
	                      : 0.0);
	fc_json_kuint(o, "healthy_backends", healthy);
	fc_json_kuint(o, "total_backends", sn.n);
	fc_json_key(o, "backends");
	fc_json_arr(o);
	for (size_t i = 0; i < sn.n; i++) {
		const struct srv_row *s = &sn.s[i];
		fc_json_obj(o);
		fc_json_kstr(o, "pool", s->pool);
		fc_json_kstr(o, "name", s->name);
		fc_json_kstr(o, "url", s->url);
		fc_json_kstr(o, "state", fc_admin_server_states[s->st.state]);
		fc_json_kuint(o, "active_connections", s->st.active);
		fc_json_kuint(o, "total_requests", s->st.requests);
		fc_json_kuint(o, "total_failures", s->st.failures);
		fc_json_key(o, "last_checked");
		if (s->has_hi && s->hi.last_check_ns) {
			char t[40];
			fc_admin_rfc3339(fc_admin_wall(s->hi.last_check_ns), t, sizeof(t));
			fc_json_str(o, t);
		} else {
			fc_json_null(o);
		}
		fc_json_obj_end(o);
	}
	fc_json_arr_end(o);
	fc_json_obj_end(o);
	snapshot_free(&sn);
}
