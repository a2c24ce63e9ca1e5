/* config.c — the snapshot's life: defaults, loading from a file, a string or
 * command-line flags, environment overrides, reference counting, freeing. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_internal.h"

#define MAX_FILE_SIZE (16u << 20)

void fc__cfg_server_defaults(struct fc_config_server *s)
{
	memset(s, 0, sizeof(*s));
	s->port = 80;
	s->weight = 1;
}

void fc__cfg_pool_defaults(struct fc_config_pool *p)
{
	memset(p, 0, sizeof(*p));
	p->connect_timeout_ms = 3000;
	p->response_timeout_ms = 60000;
	p->idle_timeout_ms = 60000;
	p->max_idle = FC_CONFIG_MAX_IDLE_UNLIMITED;
	p->retry.attempts = 2;
	p->retry.on = FC_RETRY_ON_DEFAULT;
	p->retry.budget_pct = 100; /* off: every failure on lists is retried, as before */
	p->retry.budget_min = 3;
	p->retry.replay_buffer = 64 * 1024;
	p->cooldown_ms = 2000;
	p->slow_start_ms = 0;
	p->sticky.enabled = false;
	p->sticky.max_age_s = 86400;
	p->hash.source = FC_HASH_CLIENT_IP;
	p->hash.balance_factor = 1.25;
	fc__cfg_health_defaults(&p->health);
	p->passive.failures = 5;
	p->passive.eject_ms = 10000;
	p->passive.max_eject_ms = 300000;
	p->passive.max_ejected_pct = 50;
	p->panic_threshold_pct = 0;
	p->tls.verify = true;
	p->max_conns = 0;
	p->discover.interval_ms = 10000;
	p->discover.timeout_ms = 2000;
	p->resolve.interval_ms = 10000;
	p->resolve.timeout_ms = 2000;
	p->queue.max = 1000;
	p->queue.timeout_ms = 5000;
	p->wake.timeout_ms = 60000;
	p->wake.idle_after_ms = 0;
}

void fc__cfg_health_defaults(struct fc_config_health *h)
{
	memset(h, 0, sizeof(*h));
	h->type = FC_HEALTH_NONE;
	h->interval_ms = 2000;
	h->fast_interval_ms = 500;
	h->timeout_ms = 1000;
	h->rise = 2;
	h->fall = 3;
}

int fc__cfg_health_fill(struct fc_config_health *h)
{
	if (!h->path)
		h->path = strdup("/");
	if (!h->method)
		h->method = strdup("GET");
	if (!h->expect) {
		h->expect = malloc(sizeof(*h->expect));
		if (h->expect) {
			h->expect[0].lo = 200;
			h->expect[0].hi = 399;
			h->n_expect = 1;
		}
	}
	return h->path && h->method && h->expect ? 0 : -ENOMEM;
}

static int dup_ranges(struct fc_config_status_range **dst, const struct fc_config_status_range *src,
                      size_t n)
{
	*dst = NULL;
	if (!src)
		return 0;
	/* An explicitly empty list stays non-NULL, so it is not taken for "unset". */
	*dst = malloc(n ? n * sizeof(*src) : 1);
	if (!*dst)
		return -ENOMEM;
	if (n)
		memcpy(*dst, src, n * sizeof(*src));
	return 0;
}

static int dup_opt(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return !src || *dst ? 0 : -ENOMEM;
}

int fc__cfg_health_copy(struct fc_config_health *dst, const struct fc_config_health *src)
{
	*dst = *src;
	dst->path = dst->method = dst->host = dst->body = dst->service = NULL;
	dst->expect = dst->lame_duck = NULL;
	if (dup_opt(&dst->path, src->path) < 0 || dup_opt(&dst->method, src->method) < 0 ||
	    dup_opt(&dst->host, src->host) < 0 || dup_opt(&dst->body, src->body) < 0 ||
	    dup_opt(&dst->service, src->service) < 0 ||
	    dup_ranges(&dst->expect, src->expect, src->n_expect) < 0 ||
	    dup_ranges(&dst->lame_duck, src->lame_duck, src->n_lame_duck) < 0) {
		fc__cfg_health_fini(dst);
		return -ENOMEM;
	}
	return 0;
}

void fc__cfg_health_fini(struct fc_config_health *h)
{
	free(h->path);
	free(h->method);
	free(h->host);
	free(h->body);
	free(h->service);
	free(h->expect);
	free(h->lame_duck);
	h->path = h->method = h->host = h->body = h->service = NULL;
	h->expect = h->lame_duck = NULL;
	h->n_expect = h->n_lame_duck = 0;
}

int fc__cfg_pool_finish(struct fc_config_pool *p)
{
	static const uint16_t statuses[] = {502, 503, 504};
	size_t i;

	if (!p->sticky.cookie_name)
		p->sticky.cookie_name = strdup("fulcrum_sticky");
	if (!p->sticky.cookie_name)
		return -ENOMEM;
	if (!p->passive.statuses) {
		p->passive.statuses = malloc(sizeof(statuses));
		if (!p->passive.statuses)
			return -ENOMEM;
		memcpy(p->passive.statuses, statuses, sizeof(statuses));
		p->passive.n_statuses = 3;
	}
	if (fc__cfg_health_fill(&p->health) < 0)
		return -ENOMEM;
	/* A server without a health: of its own (path still NULL) checks as the pool does. */
	for (i = 0; i < p->n_servers; i++) {
		struct fc_config_health *h = &p->servers[i].health;

		if (!h->path) {
			fc__cfg_health_fini(h);
			if (fc__cfg_health_copy(h, &p->health) < 0)
				return -ENOMEM;
		} else if (fc__cfg_health_fill(h) < 0) {
			return -ENOMEM;
		}
	}
	return 0;
}

struct fc_config *fc__cfg_alloc(const char *source)
{
	struct fc_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	atomic_init(&cfg->refs, 1);
	cfg->source = strdup(source ? source : "");
	cfg->error_log = strdup("stderr");
	cfg->access_log = strdup("stdout");
	cfg->state_dir = strdup("/var/lib/fulcrum");
	if (!cfg->source || !cfg->error_log || !cfg->access_log || !cfg->state_dir) {
		fc_config_unref(cfg);
		return NULL;
	}
	cfg->workers = fc__cfg_cpu_count();
	cfg->shutdown_grace_ms = 10000;
	cfg->tunnel_timeout_ms = 3600000;
	cfg->log_level = FC_LOG_INFO;
	cfg->access_format = FC_ACCESS_TEXT;
	cfg->header_timeout_ms = 10000;
	cfg->client_idle_timeout_ms = 60000;
	cfg->body_timeout_ms = 60000;
	cfg->max_header_size = 16384;
	cfg->max_connections = 10000;
	cfg->cluster.redis.timeout_ms = 50;
	cfg->client_ip.recursive = false;
	cfg->http2 = (struct fc_config_http2){
	        .max_concurrent_streams = 100,
	        .initial_window_size = 65535,
	        .connection_window_size = 1024 * 1024,
	        .max_frame_size = 16384,
	        .max_header_list_size = 16384,
	        .max_glitches = 1000,
	};
	return cfg;
}

int fc__cfg_server_default_name(struct fc_config_server *srv)
{
	size_t n;

	if (srv->name)
		return 0;
	n = strlen(srv->host) + 16;
	srv->name = malloc(n);
	if (!srv->name)
		return -ENOMEM;
	if (strchr(srv->host, ':'))
		snprintf(srv->name, n, "[%s]:%u", srv->host, (unsigned)srv->port);
	else
		snprintf(srv->name, n, "%s:%u", srv->host, (unsigned)srv->port);
	return 0;
}

long fc__cfg_server_named(const struct fc_config_pool *p, size_t upto, const char *name)
{
	size_t i;

	for (i = 0; i < upto; i++)
		if (p->servers[i].name && strcmp(p->servers[i].name, name) == 0)
			return (long)i;
	return -1;
}

static bool is_wildcard(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)a)->sin6_addr);
}

static uint16_t port_of(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_port;
	return ((const struct sockaddr_in6 *)a)->sin6_port;
}

static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	              &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

/* Same family and port, and the same address or either one a wildcard: with
 * SO_REUSEPORT both would bind and split connections silently. */
bool fc__cfg_addr_overlap(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return a->ss_family == b->ss_family && port_of(a) == port_of(b) &&
	       (same_ip(a, b) || is_wildcard(a) || is_wildcard(b));
}

long fc__cfg_listener_conflict(const struct fc_config *cfg, size_t idx)
{
	const struct sockaddr_storage *a = &cfg->listeners[idx].addr;
	size_t i;

	for (i = 0; i < idx; i++) {
		const struct sockaddr_storage *b = &cfg->listeners[i].addr;

		if (cfg->listeners[i].address && fc__cfg_addr_overlap(a, b))
			return (long)i;
	}
	return -1;
}

static void free_pool(struct fc_config_pool *p)
{
	size_t i;

	for (i = 0; i < p->n_servers; i++) {
		free(p->servers[i].name);
		free(p->servers[i].url);
		free(p->servers[i].host);
		fc__cfg_health_fini(&p->servers[i].health);
	}
	free(p->servers);
	free(p->name);
	free(p->algorithm);
	free(p->sticky.cookie_name);
	free(p->sticky.secret);
	free(p->hash.name);
	fc__cfg_health_fini(&p->health);
	free(p->passive.statuses);
	free(p->tls.ca);
	free(p->tls.client.cert);
	free(p->tls.client.key);
	for (i = 0; i < p->wake.n_command; i++)
		free(p->wake.command[i]);
	free(p->wake.command);
	for (i = 0; i < p->wake.n_stop_command; i++)
		free(p->wake.stop_command[i]);
	free(p->wake.stop_command);
	free(p->wake.url);
	free(p->wake.url_host);
	free(p->wake.url_path);
	free(p->discover.name);
	for (i = 0; i < p->discover.n_resolvers; i++)
		free(p->discover.resolvers[i]);
	free(p->discover.resolvers);
	for (i = 0; i < p->resolve.n_resolvers; i++)
		free(p->resolve.resolvers[i]);
	free(p->resolve.resolvers);
}

static void free_rate_limit(struct fc_config_rate_limit *rl)
{
	for (size_t i = 0; i < rl->n_exempt; i++)
		free(rl->exempt[i]);
	free(rl->exempt);
	free(rl->name);
	free(rl->key_name);
}

static void free_config(struct fc_config *cfg)
{
	size_t i, j;

	for (i = 0; i < cfg->n_listeners; i++) {
		struct fc_config_listener *l = &cfg->listeners[i];

		for (j = 0; j < l->n_routes; j++) {
			free(l->routes[j].host);
			free(l->routes[j].path);
			free(l->routes[j].pool);
		}
		free(l->routes);
		free(l->name);
		free(l->address);
		if (l->tls) {
			for (j = 0; j < l->tls->n_certs; j++) {
				free(l->tls->certs[j].cert);
				free(l->tls->certs[j].key);
			}
			free(l->tls->certs);
			free(l->tls);
		}
	}
	free(cfg->listeners);
	for (i = 0; i < cfg->n_pools; i++)
		free_pool(&cfg->pools[i]);
	free(cfg->pools);
	for (i = 0; i < cfg->n_rate_limits; i++)
		free_rate_limit(&cfg->rate_limits[i]);
	free(cfg->rate_limits);
	for (i = 0; i < cfg->client_ip.n_trusted; i++)
		free(cfg->client_ip.trusted[i]);
	free(cfg->client_ip.trusted);
	free(cfg->client_ip.header);
	free(cfg->source);
	free(cfg->error_log);
	free(cfg->access_log);
	free(cfg->state_dir);
	free(cfg->pid_file);
	free(cfg->admin.listen);
	free(cfg->admin.token_file);
	free(cfg->cluster.redis.address);
	free(cfg->cluster.redis.password_file);
	if (cfg->cluster.redis.password) {
		memset(cfg->cluster.redis.password, 0, strlen(cfg->cluster.redis.password));
		free(cfg->cluster.redis.password);
	}
	free(cfg->cluster.redis.key_prefix);
	free(cfg->journal);
	free(cfg);
}

/* Takes one more reference; returns cfg. */
struct fc_config *fc_config_ref(struct fc_config *cfg)
{
	if (cfg)
		atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
	return cfg;
}

/* Drops one reference; the last one frees the whole snapshot. NULL is a no-op. */
void fc_config_unref(struct fc_config *cfg)
{
	if (!cfg)
		return;
	if (atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1)
		free_config(cfg);
}

/* Finds a rate limit by name (case-sensitive). */
const struct fc_config_rate_limit *fc_config_rate_limit_find(const struct fc_config *cfg,
                                                             const char *name)
{
	for (size_t i = 0; i < cfg->n_rate_limits; i++)
		if (cfg->rate_limits[i].name && strcmp(cfg->rate_limits[i].name, name) == 0)
			return &cfg->rate_limits[i];
	return NULL;
}

/* Finds a pool by name (case-sensitive). */
const struct fc_config_pool *fc_config_pool_find(const struct fc_config *cfg, const char *name)
{
	size_t i;

	if (!cfg || !name)
		return NULL;
	for (i = 0; i < cfg->n_pools; i++)
		if (strcmp(cfg->pools[i].name, name) == 0)
			return &cfg->pools[i];
	return NULL;
}

/* Parses a log level name. */
int fc_config_parse_io_uring(const char *s, enum fc_io_uring_mode *out)
{
	static const struct {
		const char *name;
		enum fc_io_uring_mode mode;
	} modes[] = {
	        {"auto", FC_IO_URING_AUTO}, {"on", FC_IO_URING_ON},   {"true", FC_IO_URING_ON},
	        {"yes", FC_IO_URING_ON},    {"off", FC_IO_URING_OFF}, {"false", FC_IO_URING_OFF},
	        {"no", FC_IO_URING_OFF},
	};
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(s, modes[i].name) == 0) {
			*out = modes[i].mode;
			return 0;
		}
	return -EINVAL;
}

int fc_config_parse_log_level(const char *s, enum fc_log_level *out)
{
	static const struct {
		const char *name;
		enum fc_log_level level;
	} levels[] = {
	        {"debug", FC_LOG_DEBUG},
	        {"info", FC_LOG_INFO},
	        {"warn", FC_LOG_WARN},
	        {"error", FC_LOG_ERROR},
	};
	size_t i;

	if (!s)
		return -EINVAL;
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcmp(s, levels[i].name) == 0) {
			*out = levels[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

/* Loads a YAML text; errors are "name:line:col: path: message" lines. */
struct fc_config *fc_config_load_string(const char *text, size_t len, const char *name, char *err,
                                        size_t errlen)
{
	struct fc__cfg_errs errs;
	struct fc_config *cfg;

	memset(&errs, 0, sizeof(errs));
	errs.source = name ? name : "config";
	if (err && errlen)
		err[0] = '\0';
	if (!text) {
		text = "";
		len = 0;
	}
	cfg = fc__cfg_load_yaml(text, len, errs.source, &errs);
	if (errs.total > 0) {
		fc_config_unref(cfg);
		cfg = NULL;
	}
	if (!cfg && errs.total == 0)
		fc__cfg_err(&errs, 0, 0, NULL, "out of memory");
	fc__cfg_errs_flush(&errs, err, errlen);
	return cfg;
}

/* Reads the whole file (at most 16 MiB) into a NUL-terminated buffer. */
static int read_file(const char *path, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t used = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto close_fd;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto close_fd;
	}
	buf = malloc(MAX_FILE_SIZE + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto close_fd;
	}
	for (;;) {
		ssize_t n = read(fd, buf + used, MAX_FILE_SIZE + 1 - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto free_buf;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > MAX_FILE_SIZE) {
			rc = -EFBIG;
			goto free_buf;
		}
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	goto close_fd;
free_buf:
	free(buf);
close_fd:
	close(fd);
	return rc;
}

/* Loads and validates a YAML file. */
struct fc_config *fc_config_load_file(const char *path, char *err, size_t errlen)
{
	struct fc_config *cfg;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!path) {
		if (err && errlen)
			snprintf(err, errlen, "no configuration file given");
		return NULL;
	}
	rc = read_file(path, &text, &len);
	if (rc < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path,
			         rc == -EFBIG ? "larger than 16 MiB" : strerror(-rc));
		return NULL;
	}
	cfg = fc_config_load_string(text, len, path, err, errlen);
	free(text);
	return cfg;
}

/* Builds the one-listener, one-pool configuration of the file-less mode. */
struct fc_config *fc_config_from_args(const char *listen, const char *const *to, size_t n_to,
                                      const char *algorithm, uint32_t workers, char *err,
                                      size_t errlen)
{
	struct fc__cfg_errs errs;
	struct fc_config *cfg;
	struct fc_config_listener *l;
	struct fc_config_pool *p;
	char why[512], subject[32];
	size_t i;
	long dup;

	memset(&errs, 0, sizeof(errs));
	errs.source = NULL;
	if (err && errlen)
		err[0] = '\0';
	cfg = fc__cfg_alloc("command line");
	if (!cfg)
		goto oom;

	if (workers > FC__CFG_WORKERS_MAX)
		fc__cfg_err(&errs, 0, 0, "--workers", "must be auto or 1..%d (got %u)",
		            FC__CFG_WORKERS_MAX, workers);
	else if (workers > 0)
		cfg->workers = workers;

	cfg->pools = calloc(1, sizeof(*cfg->pools));
	if (!cfg->pools)
		goto oom;
	p = &cfg->pools[0];
	fc__cfg_pool_defaults(p);
	cfg->n_pools = 1;
	p->name = strdup("default");
	p->algorithm = strdup(algorithm ? algorithm : "round_robin");
	if (!p->name || !p->algorithm)
		goto oom;
	if (fc__cfg_check_algorithm(p->algorithm, why, sizeof(why)) < 0)
		fc__cfg_err(&errs, 0, 0, "--algorithm", "%s", why);

	if (n_to == 0 || !to)
		fc__cfg_err(&errs, 0, 0, "--to",
		            "at least one upstream is required (--to http://host:port)");
	if (n_to > 0 && to) {
		p->servers = calloc(n_to, sizeof(*p->servers));
		if (!p->servers)
			goto oom;
	}
	for (i = 0; to && i < n_to; i++) {
		struct fc_config_server *s = &p->servers[p->n_servers];
		int rc;

		snprintf(subject, sizeof(subject), "--to[%zu]", i);
		fc__cfg_server_defaults(s);
		if (!to[i]) {
			fc__cfg_err(&errs, 0, 0, subject, "must be http://host:port");
			continue;
		}
		p->n_servers++;
		rc = fc__cfg_parse_upstream(to[i], s, false, why, sizeof(why));
		if (rc == -ENOMEM)
			goto oom;
		if (rc < 0) {
			fc__cfg_err(&errs, 0, 0, subject, "%s", why);
			continue;
		}
		if (fc__cfg_server_default_name(s) < 0)
			goto oom;
		dup = fc__cfg_server_named(p, p->n_servers - 1, s->name);
		if (dup >= 0)
			fc__cfg_err(&errs, 0, 0, subject,
			            "duplicate upstream %s (same as --to[%ld])", s->name, dup);
	}
	/* After the servers: each gets its copy of the pool's health defaults. */
	if (fc__cfg_pool_finish(p) < 0)
		goto oom;

	cfg->listeners = calloc(1, sizeof(*cfg->listeners));
	if (!cfg->listeners)
		goto oom;
	l = &cfg->listeners[0];
	cfg->n_listeners = 1;
	if (!listen || !*listen) {
		fc__cfg_err(&errs, 0, 0, "--listen", "is required (e.g. --listen 127.0.0.1:8080)");
	} else if (fc__cfg_parse_listen(listen, &l->addr, &l->addr_len, why, sizeof(why)) < 0) {
		fc__cfg_err(&errs, 0, 0, "--listen", "%s", why);
	}
	l->address = strdup(listen && *listen ? listen : "");
	l->name = strdup(listen && *listen ? listen : "");
	l->routes = calloc(1, sizeof(*l->routes));
	if (!l->address || !l->name || !l->routes)
		goto oom;
	l->n_routes = 1;
	l->routes[0].path = strdup("/");
	l->routes[0].pool = strdup("default");
	l->routes[0].pool_ref = p;
	if (!l->routes[0].path || !l->routes[0].pool)
		goto oom;

	if (errs.total > 0) {
		fc__cfg_errs_flush(&errs, err, errlen);
		fc_config_unref(cfg);
		return NULL;
	}
	fc__cfg_errs_fini(&errs);
	return cfg;
oom:
	fc__cfg_errs_fini(&errs);
	fc_config_unref(cfg);
	if (err && errlen)
		snprintf(err, errlen, "out of memory");
	return NULL;
}

/* FULCRUM_LOG_LEVEL, FULCRUM_WORKERS and FULCRUM_IO_URING override the
 * loaded values; an empty variable counts as unset. Nothing changes when a
 * value is bad. */
int fc_config_apply_env(struct fc_config *cfg, char *err, size_t errlen)
{
	const char *level = getenv("FULCRUM_LOG_LEVEL");
	const char *workers = getenv("FULCRUM_WORKERS");
	const char *uring = getenv("FULCRUM_IO_URING");
	enum fc_log_level lv = cfg->log_level;
	uint32_t w = cfg->workers;
	enum fc_io_uring_mode um = cfg->io_uring;

	if (err && errlen)
		err[0] = '\0';
	if (level && *level && fc_config_parse_log_level(level, &lv) < 0) {
		if (err && errlen)
			snprintf(err, errlen,
			         "FULCRUM_LOG_LEVEL: must be debug, info, warn or error (got "
			         "\"%.64s\")",
			         level);
		return -EINVAL;
	}
	if (workers && *workers && fc_config_parse_workers(workers, &w) < 0) {
		if (err && errlen)
			snprintf(err, errlen,
			         "FULCRUM_WORKERS: must be auto or 1..%d (got \"%.64s\")",
			         FC__CFG_WORKERS_MAX, workers);
		return -EINVAL;
	}
	if (uring && *uring && fc_config_parse_io_uring(uring, &um) < 0) {
		if (err && errlen)
			snprintf(err, errlen,
			         "FULCRUM_IO_URING: must be auto, on or off (got \"%.64s\")",
			         uring);
		return -EINVAL;
	}
	const char *redis = getenv("FULCRUM_REDIS_ADDRESS");
	struct fc_config_redis *rd = &cfg->cluster.redis;
	char host[sizeof(rd->host)], why[300];
	uint16_t port = 0;
	char *addr = NULL;
	if (redis && *redis) {
		if (!rd->enabled) {
			if (err && errlen)
				snprintf(err, errlen,
				         "FULCRUM_REDIS_ADDRESS: the configuration has no "
				         "cluster.redis section to override");
			return -EINVAL;
		}
		if (fc__cfg_parse_redis_address(redis, host, sizeof(host), &port, why,
		                                sizeof(why)) < 0) {
			if (err && errlen)
				snprintf(err, errlen, "FULCRUM_REDIS_ADDRESS: %s", why);
			return -EINVAL;
		}
		if (!(addr = strdup(redis))) {
			if (err && errlen)
				snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		free(rd->address);
		rd->address = addr;
		memcpy(rd->host, host, sizeof(host));
		rd->port = port;
	}
	cfg->log_level = lv;
	cfg->workers = w;
	cfg->io_uring = um;
	return 0;
}
