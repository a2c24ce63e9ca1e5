/* config.h — the configuration snapshot: YAML (or command-line flags) turned
 * into one immutable, reference-counted tree that workers read without locks. */
#ifndef FC_CONFIG_H
#define FC_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Durations are milliseconds, sizes are bytes. */

/* max_conns: at most this many requests at once per server. */
#define FC_CONFIG_MAX_CONNS 1000000

/* retry.attempts: the first attempt and the retries fit the proxy's 8 tries. */
#define FC_CONFIG_MAX_RETRIES 7
/* retry.backoff: the longest wait between two attempts (the exchange keeps it
 * in 16 bits). */
#define FC_CONFIG_MAX_BACKOFF_MS 60000

enum fc_log_level { FC_LOG_DEBUG, FC_LOG_INFO, FC_LOG_WARN, FC_LOG_ERROR };
enum fc_access_format { FC_ACCESS_TEXT, FC_ACCESS_JSON };
/* io_uring: auto uses it when the kernel lets us, on requires it, off: epoll. */
enum fc_io_uring_mode { FC_IO_URING_AUTO, FC_IO_URING_ON, FC_IO_URING_OFF };

/* Where the hash key of ip_hash / consistent_hash comes from. */
enum fc_hash_source {
	FC_HASH_CLIENT_IP,
	FC_HASH_HEADER,
	FC_HASH_COOKIE,
	FC_HASH_PATH,
	FC_HASH_QUERY,
};

/* An HTTP status range, inclusive: "200-399" or one code "204" (lo == hi). */
struct fc_config_status_range {
	uint16_t lo, hi;
};

enum fc_health_type { FC_HEALTH_NONE, FC_HEALTH_HTTP, FC_HEALTH_TCP, FC_HEALTH_GRPC };

/* Active health checks (health:), run from the control thread. A pool's
 * health: is the default for its servers; a server's own health: overrides
 * the keys it names. fc_config_server.health holds the merged result. */
struct fc_config_health {
	enum fc_health_type type;              /* none when health: is absent; http when given */
	char *path;                            /* default "/" */
	char *method;                          /* default "GET" */
	char *host;                            /* Host header; NULL: the server's host:port */
	struct fc_config_status_range *expect; /* default one range 200-399 */
	size_t n_expect;
	char *body;                               /* substring the body must contain; NULL: any */
	struct fc_config_status_range *lame_duck; /* statuses that mean lame duck; default none */
	size_t n_lame_duck;
	char *service;        /* grpc: HealthCheckRequest.service; NULL: "" (the whole server) */
	uint32_t interval_ms; /* default 2000 */
	uint32_t fast_interval_ms; /* while a server is changing state, default interval / 4 */
	uint32_t timeout_ms;       /* default 1000; must be <= interval */
	uint32_t rise;             /* passes before a down server is up, default 2 */
	uint32_t fall;             /* failures before an up server is down, default 3 */
	uint16_t port;             /* 0: the server's port */
};

/* Passive outlier detection (passive:) from what the workers see. */
struct fc_config_passive {
	uint32_t failures;        /* consecutive server faults; 0 = off; default 5 */
	uint32_t eject_ms;        /* first ejection, doubles each time, default 10000 */
	uint32_t max_eject_ms;    /* default 300000 */
	uint32_t max_ejected_pct; /* never more than this share of a pool, default 50 */
	uint16_t *statuses;       /* server-fault statuses, default 502, 503, 504 */
	size_t n_statuses;
};

/* Where a value is written in the file (1-based; 0: nowhere, e.g. flags). */
struct fc_config_pos {
	unsigned line, col;
};

/* A certificate (PEM, may hold its chain) and its private key (PEM). */
struct fc_config_cert {
	char *cert, *key;
	struct fc_config_pos cert_at, key_at;
};

/* listeners[].tls: TLS termination. */
struct fc_config_listener_tls {
	struct fc_config_cert *certs; /* at least one; the first is the default */
	size_t n_certs;
	int min_version;               /* 12 or 13 (TLS 1.2 / 1.3), default 12 */
	uint32_t handshake_timeout_ms; /* default 10000 */
};

/* pools.*.tls: how https:// servers are reached. */
struct fc_config_pool_tls {
	char *ca;                     /* PEM bundle; NULL: the system's CAs */
	bool verify;                  /* default true; false only when written */
	struct fc_config_cert client; /* client certificate (mTLS); cert NULL: none */
	struct fc_config_pos ca_at;
};

/* What the admin API set for a server (the journal keeps it). */
enum fc_admin_state {
	FC_ADMIN_READY, /* takes requests as its health allows */
	FC_ADMIN_DRAIN, /* no new requests; those in flight finish */
	FC_ADMIN_MAINT, /* the same, and its idle connections are closed */
};

struct fc_config_server {
	char *name;                   /* default: "host:port" of url */
	char *url;                    /* as written: http://host:port or https://host:port */
	char *host;                   /* host part of url (numeric or name) */
	uint16_t port;                /* default 80, 443 for https */
	bool tls;                     /* https:// */
	struct sockaddr_storage addr; /* resolved at load time */
	socklen_t addr_len;
	unsigned weight;                 /* 0..1000, default 1 */
	uint32_t max_conns;              /* requests at once, all workers; 0: no cap; default
	                                    the pool's max_conns */
	struct fc_config_health health;  /* the pool's health: with this server's overrides */
	unsigned tier;                   /* backup tier: 0, 1 with backup: true, DNS SRV
	                                    priorities 0.. (fc_server_spec.tier) */
	enum fc_admin_state admin_state; /* from the journal, default ready */
	bool journal_added;              /* the journal added it (not in the file) */
	bool discovered;                 /* DNS brought it (discover:), not the file */
	bool resolve; /* url's host is a name resolved at run time (the pool's resolve:);
	                 addr_len is 0 until then (a reload carries the last address) */
};

struct fc_config_sticky {
	bool enabled;       /* sticky: cookie */
	char *cookie_name;  /* default "fulcrum_sticky"; never NULL */
	uint32_t max_age_s; /* default 86400 */
	char *secret;       /* NULL: generated at start */
};

struct fc_config_hash {
	enum fc_hash_source source; /* default client IP */
	char *name;                 /* header, cookie or query parameter name */
	double balance_factor;      /* bounded load c; 0 = unbounded; default 1.25 */
};

/* max_idle: no fixed cap (the per-worker purge keeps what recent traffic used). */
#define FC_CONFIG_MAX_IDLE_UNLIMITED UINT32_MAX

/* pools.*.protocol: how its servers are spoken to. */
enum fc_pool_protocol {
	FC_POOL_HTTP1, /* HTTP/1.1 (the default) */
	FC_POOL_H2,    /* HTTP/2: h2c for http://, ALPN h2 for https:// (gRPC) */
};

/* pools.*.queue: requests that find every server at its max_conns wait here
 * (docs/traffic.md). */
struct fc_config_queue {
	bool enabled;        /* queue: written */
	uint32_t max;        /* requests waiting at once, default 1000 */
	uint32_t timeout_ms; /* the longest wait, default 5000 -> 503 */
};

/* pools.*.wake: servers started on demand and stopped when idle
 * (docs/traffic.md, "Waking idle servers"). */
struct fc_config_wake {
	bool enabled;   /* wake: written */
	char **command; /* argv, run without a shell (PATH searched); NULL: url */
	size_t n_command;
	char *url;                        /* http://host:port/path POSTed to; NULL: command */
	char *url_host;                   /* its Host header (host[:port]) */
	char *url_path;                   /* its target, "/" when none */
	struct sockaddr_storage url_addr; /* resolved at load */
	socklen_t url_addr_len;
	char **stop_command; /* argv run after idle_after; NULL: none */
	size_t n_stop_command;
	uint32_t idle_after_ms; /* 0: never stop (default) */
	uint32_t timeout_ms; /* for a wake (the command and the checks) and a stop, default 60000 */
};

/* pools.*.discover: the servers come from DNS (docs/cluster.md, "Servers
 * from DNS"), queried from the control thread. */
enum fc_discover_type {
	FC_DISCOVER_NONE,  /* no discover: */
	FC_DISCOVER_SRV,   /* SRV records (the default): target, port, weight, priority */
	FC_DISCOVER_A,     /* A records: every address on discover.port */
	FC_DISCOVER_AAAA,  /* AAAA records, the same */
	FC_DISCOVER_HOSTS, /* pools.*.resolve: the host names written in servers' url: */
};
#define FC_CONFIG_MAX_RESOLVERS 8
struct fc_config_discover {
	enum fc_discover_type type;
	char *name;       /* dns: the name queried (required) */
	char **resolvers; /* "IP:port" / "[IPv6]:port"; NULL: those of /etc/resolv.conf */
	size_t n_resolvers;
	uint32_t interval_ms; /* between queries, at most (a shorter TTL comes first); 10000 */
	uint32_t timeout_ms;  /* one query's wait for an answer, default 2000 */
	uint16_t port;        /* A / AAAA: the servers' port, default 80 (443 with https) */
	bool tls;             /* scheme: https */
	struct fc_config_pos at;
};

/* pools.*.retry.on: the failures that are tried again (bits). */
enum fc_retry_on {
	FC_RETRY_ON_CONNECT_FAILURE = 1u << 0, /* connect failed (not refused), TLS handshake */
	FC_RETRY_ON_REFUSED = 1u << 1,         /* connect refused */
	FC_RETRY_ON_RESET = 1u << 2,   /* reset, closed, TLS error before the response head */
	FC_RETRY_ON_TIMEOUT = 1u << 3, /* connect_timeout, per_try_timeout */
	FC_RETRY_ON_502 = 1u << 4,     /* the server answered 502 */
	FC_RETRY_ON_503 = 1u << 5,
	FC_RETRY_ON_504 = 1u << 6,
};
#define FC_RETRY_ON_DEFAULT                                                                        \
	(FC_RETRY_ON_CONNECT_FAILURE | FC_RETRY_ON_REFUSED | FC_RETRY_ON_RESET |                   \
	 FC_RETRY_ON_TIMEOUT)

/* pools.*.retry: when and how a failed attempt is tried again. */
struct fc_config_retry {
	uint32_t attempts;           /* extra attempts beyond the first, default 2 (`retries:`) */
	uint32_t same_server;        /* of them, on the same server before moving on, default 0 */
	uint32_t on;                 /* enum fc_retry_on bits, default FC_RETRY_ON_DEFAULT */
	uint32_t per_try_timeout_ms; /* each attempt's wait for the response head; 0 (default):
	                                response_timeout, and a response timeout is final */
	uint32_t backoff_base_ms;    /* first wait between attempts; 0 (default): none */
	uint32_t backoff_max_ms;     /* the longest wait, default 10 x base */
	uint32_t budget_pct;         /* retries in flight <= this share of the pool's active
	                                requests; 100 (default): no budget */
	uint32_t budget_min;         /* ... but always this many at once, default 3 */
	uint32_t replay_buffer;      /* request body bytes kept to be sent again, default 64k */
	bool idempotency_key;        /* an Idempotency-Key header makes a request safe to repeat */
};

/* rate_limits: how many (an exchange names the one that refused it in a byte). */
#define FC_CONFIG_MAX_RATE_LIMITS 250

/* rate_limits.NAME.key: what a bucket is kept per (docs/traffic.md). */
enum fc_rate_key {
	FC_RATE_KEY_CLIENT_IP, /* the client.ip result (the default) */
	FC_RATE_KEY_HEADER,    /* header:NAME's value; without one, the client IP */
	FC_RATE_KEY_COOKIE,    /* cookie:NAME's value; without one, the client IP */
};

/* rate_limits.NAME.scope: counted by this instance or by all that share
 * cluster.redis (docs/cluster.md, "Global rate limits"). */
enum fc_rate_scope {
	FC_RATE_SCOPE_LOCAL,  /* the default */
	FC_RATE_SCOPE_GLOBAL, /* tokens leased from Redis */
};

/* rate_limits.NAME.on_redis_down: a global limit while Redis is unreachable. */
enum fc_rate_down {
	FC_RATE_DOWN_LOCAL, /* counted by this instance alone (the default) */
	FC_RATE_DOWN_ALLOW, /* not limited */
	FC_RATE_DOWN_DENY,  /* every request refused (429) */
};

/* rate_limits.NAME: a token bucket per key, shared by every worker. */
struct fc_config_rate_limit {
	char *name;
	enum fc_rate_key key;
	char *key_name;     /* the header or cookie name; NULL for client_ip */
	uint32_t rate;      /* tokens per period, 1..1000000 (required) */
	uint32_t period_ms; /* 1000 (N/s), 60000 (N/m) or 3600000 (N/h) */
	uint32_t burst;     /* bucket size; default rate per second rounded up, at least 1 */
	char **exempt;      /* CIDRs that are never counted */
	size_t n_exempt;
	uint32_t max_keys; /* buckets kept at most, default 100000 */
	enum fc_rate_scope scope;
	enum fc_rate_down on_redis_down;
	struct fc_config_pos at;
};

struct fc_config_pool {
	char *name;
	char *algorithm; /* default "round_robin" */
	enum fc_pool_protocol protocol;
	struct fc_config_server *servers;
	size_t n_servers;
	uint32_t connect_timeout_ms;  /* default 3000 */
	uint32_t response_timeout_ms; /* upstream response head, default 60000 -> 504 */
	uint32_t idle_timeout_ms;     /* upstream keep-alive idle, default 60000 */
	uint32_t max_idle;            /* idle upstream conns per server per worker, a hard cap;
	                                 default FC_CONFIG_MAX_IDLE_UNLIMITED (the purge sizes it) */
	struct fc_config_retry retry; /* `retries: N` is retry.attempts */
	uint32_t cooldown_ms;         /* skip a refusing server this long, default 2000 */
	uint32_t slow_start_ms;       /* default 0 (off) */
	struct fc_config_sticky sticky;
	struct fc_config_hash hash;
	struct fc_config_health health;   /* the pool's default (type none: no active checks) */
	struct fc_config_passive passive; /* on by default */
	uint32_t panic_threshold_pct;     /* 0 = off: below this share healthy, use all */
	struct fc_config_pool_tls tls;    /* for its https:// servers */
	bool has_tls_servers;
	struct fc_config_rate_limit *rate_limit; /* rate_limit: NAME, resolved; NULL: none */
	uint32_t max_conns;           /* its servers' default max_conns, 0 = no cap (default) */
	struct fc_config_queue queue; /* off unless written (wake: has one all the same) */
	struct fc_config_wake wake;   /* off unless written */
	struct fc_config_discover discover; /* type none unless written */
	struct fc_config_discover resolve;  /* resolve: type hosts when on (name, port,
	                                       tls unused), else none */
};

struct fc_config_route {
	char *host;                      /* NULL: any host; "*.example.com" matches subdomains */
	char *path;                      /* path prefix, default "/" */
	char *pool;                      /* pool name */
	struct fc_config_pool *pool_ref; /* resolved */
	struct fc_config_pos host_at;
	struct fc_config_rate_limit *rate_limit; /* rate_limit: NAME, resolved; NULL: none */
};

/* listeners[].http2: whether a listener speaks HTTP/2 (docs/http2.md). */
enum fc_http2_mode {
	FC_HTTP2_OFF, /* HTTP/1.1 only */
	FC_HTTP2_ON,  /* TLS: ALPN offers h2 before http/1.1 (a TLS listener's default) */
	FC_HTTP2_PRIOR_KNOWLEDGE, /* plain: a connection opening with the HTTP/2 preface is h2c */
};

/* http2: the limits of every HTTP/2 client connection. */
struct fc_config_http2 {
	uint32_t max_concurrent_streams; /* default 100 */
	uint32_t initial_window_size;    /* a stream's receive window, default 65535 */
	uint32_t connection_window_size; /* the connection's receive window, default 1 MiB */
	uint32_t max_frame_size;         /* default 16384 */
	uint32_t max_header_list_size;   /* decoded (RFC 9113 §6.5.2), default 32768 */
	uint32_t max_glitches;           /* suspicious frames allowed at once, default 1000 */
};

struct fc_config_listener {
	char *name;    /* default: the address */
	char *address; /* "127.0.0.1:8080", "[::1]:8080", ":8080" */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct fc_config_route *routes; /* in file order; matching picks longest path prefix */
	size_t n_routes;
	struct fc_config_listener_tls *tls; /* NULL: plain HTTP */
	bool redirect_https;                /* redirect: https (then no routes) */
	uint16_t redirect_port;             /* redirect_port:, 0: the https default (443) */
	enum fc_http2_mode http2;           /* default on with tls:, off without */
};

struct fc_config_client_ip {
	char *header;   /* NULL: use the socket peer; e.g. "X-Forwarded-For" */
	char **trusted; /* CIDR strings */
	size_t n_trusted;
	bool recursive; /* walk X-Forwarded-For right to left skipping trusted hops */
};

/* admin: the admin API's own listener. Off unless the section is written. */
struct fc_config_admin {
	bool enabled;
	char *listen; /* default 127.0.0.1:9901 */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char *token_file; /* NULL: FULCRUM_ADMIN_TOKEN, else read-only */
	struct fc_config_pos token_file_at;
};

/* cluster.redis: the Redis that global rate limits share. Off unless written. */
struct fc_config_redis {
	bool enabled;
	char *address;       /* as written: "127.0.0.1:6379" */
	char host[64];       /* the resolved numeric address */
	uint16_t port;       /* of address */
	char *password_file; /* NULL: no AUTH */
	char *password;      /* the file's first line, read at load; NULL: none */
	uint32_t timeout_ms; /* a connect or a reply later than this: down; default 50 */
	char *key_prefix;    /* before every key fulcrum writes, default "fulcrum:" */
	struct fc_config_pos at;
};

struct fc_config_cluster {
	struct fc_config_redis redis;
};

struct fc_config {
	atomic_int refs;
	char *source;                   /* file path, or "command line" */
	uint32_t workers;               /* 0 in the file means: CPU count (resolved at load) */
	uint32_t shutdown_grace_ms;     /* default 10000 */
	enum fc_io_uring_mode io_uring; /* default auto */
	uint32_t tunnel_timeout_ms;     /* an upgraded connection's inactivity, default 3600000 */

	/* log */
	enum fc_log_level log_level;         /* default info */
	char *error_log;                     /* "stderr" (default), "stdout", or a path */
	char *access_log;                    /* "stdout" (default), "stderr", "off", or a path */
	enum fc_access_format access_format; /* default text */

	/* client side, applies to every listener */
	uint32_t header_timeout_ms;      /* request head must arrive within, default 10000 -> 408 */
	uint32_t client_idle_timeout_ms; /* keep-alive idle, default 60000 */
	uint32_t body_timeout_ms;        /* inactivity while a body moves, default 60000 */
	uint32_t max_header_size;        /* default 16384 -> 431 */
	uint32_t max_connections;        /* client connections, all workers, default 10000 */
	struct fc_config_client_ip client_ip;
	struct fc_config_http2 http2;

	struct fc_config_listener *listeners;
	size_t n_listeners;
	struct fc_config_pool *pools;
	size_t n_pools;
	struct fc_config_rate_limit *rate_limits; /* rate_limits:, in file order */
	size_t n_rate_limits;

	/* running as a service (docs/operations.md) */
	char *state_dir; /* default /var/lib/fulcrum (a fallback when not writable) */
	char *pid_file;  /* NULL: none */
	bool watch;      /* reload when the file changes (inotify), default false */
	struct fc_config_admin admin;
	struct fc_config_cluster cluster;
	char *journal; /* the admin journal applied (JSON text, see admin/journal.h); NULL: none */
};

/* Loads and validates a YAML file. On error returns NULL and writes
 * "file:line:col: key.path: message" lines into err. Caller owns the result
 * (refs = 1) and releases it with fc_config_unref. */
struct fc_config *fc_config_load_file(const char *path, char *err, size_t errlen);

/* Same, from a string; name is used in messages in place of the file path. */
struct fc_config *fc_config_load_string(const char *text, size_t len, const char *name, char *err,
                                        size_t errlen);

/* File-less mode: --listen ADDR, --to URL (n_to of them), optional algorithm
 * (NULL: round_robin) and workers (0: CPU count). */
struct fc_config *fc_config_from_args(const char *listen, const char *const *to, size_t n_to,
                                      const char *algorithm, uint32_t workers, char *err,
                                      size_t errlen);

/* Applies environment overrides (FULCRUM_LOG_LEVEL, FULCRUM_WORKERS,
 * FULCRUM_IO_URING, FULCRUM_REDIS_ADDRESS) in place.
 * Returns 0 or -EINVAL with a message in err. */
int fc_config_apply_env(struct fc_config *cfg, char *err, size_t errlen);

/* Parses "debug|info|warn|error". Returns 0 or -EINVAL. */
int fc_config_parse_log_level(const char *s, enum fc_log_level *out);

struct fc_config *fc_config_ref(struct fc_config *cfg);
void fc_config_unref(struct fc_config *cfg);

/* The route for host (may be NULL) and path on listener l, or NULL. Host is
 * matched case-insensitively without its port. */
const struct fc_config_route *fc_config_route_match(const struct fc_config_listener *l,
                                                    const char *host, size_t host_len,
                                                    const char *path, size_t path_len);

/* Added by the config layer (not in the first contract): */

/* "10s", "500ms", "1m", "2h", "1d", "1h30m", or "0" -> milliseconds.
 * Returns 0, -EINVAL (syntax, including a number without a unit) or -ERANGE. */
int fc_config_parse_duration(const char *s, uint64_t *ms);

/* "16k", "16kb", "1m", "1mb", "1g", or plain bytes (k = 1024) -> bytes.
 * Returns 0, -EINVAL or -ERANGE. */
int fc_config_parse_size(const char *s, uint64_t *bytes);

/* "auto" (online CPUs, capped at 256) or 1..256. Returns 0 or -EINVAL. */
int fc_config_parse_workers(const char *s, uint32_t *out);
/* "auto", "on" or "off" (also true/false, yes/no). 0 or -EINVAL. */
int fc_config_parse_io_uring(const char *s, enum fc_io_uring_mode *out);

/* The rate limit named name in cfg, or NULL. Borrowed from cfg. */
const struct fc_config_rate_limit *fc_config_rate_limit_find(const struct fc_config *cfg,
                                                             const char *name);

/* The pool named name in cfg, or NULL. Borrowed from cfg. */
const struct fc_config_pool *fc_config_pool_find(const struct fc_config *cfg, const char *name);

/* ---- changes to a config not yet shared (config_edit.c): the admin API and
 * its journal add and remove servers exactly as the file would have them. */

/* Validates and resolves one server of pool cp as a servers: entry of the
 * file: url (http:// or https://host:port, resolved now), name (NULL: the
 * default host:port; else 1..128 printable characters without spaces,
 * quotes or '/'), weight 0..1000; the pool's health settings are copied.
 * Does not look for duplicates. Returns 0 with *out filled (release with
 * fc_config_server_fini), -EINVAL with the reason in err, or -ENOMEM. */
int fc_config_server_parse(const struct fc_config_pool *cp, const char *url, const char *name,
                           unsigned weight, struct fc_config_server *out, char *err, size_t errlen);
/* Frees what a server owns. */
void fc_config_server_fini(struct fc_config_server *cs);
/* Index of the server called name in cp, or -1. */
long fc_config_server_index(const struct fc_config_pool *cp, const char *name);
/* Appends *cs to cp's servers (cs's contents move: *cs is zeroed). 0 or -ENOMEM. */
int fc_config_pool_add_server(struct fc_config_pool *cp, struct fc_config_server *cs);
/* Removes (and frees) the server called name. 0 or -ENOENT. */
int fc_config_pool_remove_server(struct fc_config_pool *cp, const char *name);

#endif
