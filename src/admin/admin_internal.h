/* admin_internal.h — what the files of src/admin share: the path router, the
 * token, the admin's own state (connections, pools' first appearance,
 * servers being removed, the journal in memory) and the handlers. Tests
 * include it for the pure parts (router, token, quantiles). */
#ifndef FC_ADMIN_INTERNAL_H
#define FC_ADMIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/admin.h"
#include "admin/journal.h"
#include "admin/json.h"
#include "core/loop.h"
#include "http/h1.h"
#include "proxy/counters.h"
#include "proxy/live.h"

#define FC_ADMIN_MAX_BODY        65536 /* request bodies over this: 413 */
#define FC_ADMIN_MAX_CONNS       64    /* admin connections at once; more are closed at accept */
#define FC_ADMIN_MAX_URL         2048  /* request targets over this: 414 */
#define FC_ADMIN_WAIT_MAX_MS     (5u * 60u * 1000u) /* ?wait=removable&timeout= at most */
#define FC_ADMIN_WAIT_DEFAULT_MS 30000u
#define FC_ADMIN_TICK_MS         20 /* parked waits and removals are looked at this often */
#define FC_ADMIN_NAME_MAX        160

/* ---------------------------------------------------------------- router */

enum fc_admin_route_id {
	FC_ADMIN_R_INDEX,   /* / */
	FC_ADMIN_R_METRICS, /* /metrics */
	FC_ADMIN_R_LB,      /* /lb-metrics */
	FC_ADMIN_R_POOLS,   /* /api/pools */
	FC_ADMIN_R_POOL,    /* /api/pools/{pool} */
	FC_ADMIN_R_SERVERS, /* /api/pools/{pool}/servers */
	FC_ADMIN_R_SERVER,  /* /api/pools/{pool}/servers/{server} */
	FC_ADMIN_R_RELOAD,  /* /api/reload */
	FC_ADMIN_R_WAKE,    /* /api/pools/{pool}/wake */
	FC_ADMIN_ROUTES,
};

/* Methods as bits, for the routes' Allow. */
#define FC_ADMIN_M_GET    1u
#define FC_ADMIN_M_HEAD   2u
#define FC_ADMIN_M_POST   4u
#define FC_ADMIN_M_PATCH  8u
#define FC_ADMIN_M_DELETE 16u

struct fc_admin_route {
	enum fc_admin_route_id id;
	char pool[FC_ADMIN_NAME_MAX]; /* percent-decoded path segments */
	char server[FC_ADMIN_NAME_MAX];
	/* the query: wait= and timeout= (the only parameters there are) */
	bool has_wait, has_timeout;
	char wait[32];
	char timeout[32];
};

enum fc_admin_route_rc {
	FC_ADMIN_ROUTE_OK = 0,
	FC_ADMIN_ROUTE_NOT_FOUND = -1, /* 404 */
	FC_ADMIN_ROUTE_BAD = -2,       /* 400: bad percent-encoding, bad query */
};

/** Matches the request target url[0..len) (path and query). Returns
 * FC_ADMIN_ROUTE_OK with *out filled, or NOT_FOUND / BAD with a short reason
 * in *why (static). Pure. */
/* A server's state as the API and the metrics name it, by enum fc_server_state
 * ("healthy", "lame_duck", "dead", "draining"). */
extern const char *const fc_admin_server_states[5];

int fc_admin_route(const char *url, size_t len, struct fc_admin_route *out, const char **why);

/** The methods route id answers (FC_ADMIN_M_* bits) and its Allow text. */
unsigned fc_admin_route_methods(enum fc_admin_route_id id);
const char *fc_admin_route_allow(enum fc_admin_route_id id);

/** FC_ADMIN_M_* of an llhttp method, 0 for any other. */
unsigned fc_admin_method_bit(uint8_t method);

/* ---------------------------------------------------------------- token */

struct fc_admin_token {
	bool set;
	uint8_t digest[32]; /* SHA-256 of the token */
	char source[160];   /* "admin.token_file /etc/fulcrum/token" or "FULCRUM_ADMIN_TOKEN" */
};

/** Reads the token: admin.token_file when set (its contents, trailing CR
 * and LF removed; unreadable or empty is an error naming the file), else
 * the FULCRUM_ADMIN_TOKEN environment variable (when not empty), else none
 * (t->set false). 0 or -errno with err. */
int fc_admin_token_load(const struct fc_config *cfg, struct fc_admin_token *t, char *err,
                        size_t errlen);

/** True when the Authorization header value v[0..n) is "Bearer <token>" with
 * the right token. The comparison of the SHA-256 digests takes the same time
 * wherever they differ. */
bool fc_admin_token_check(const struct fc_admin_token *t, const char *v, size_t n);

/** Constant-time equality of two 32-byte digests. */
bool fc_admin_digest_equal(const uint8_t a[32], const uint8_t b[32]);

/* ---------------------------------------------------------------- quantiles */

/** The q-quantile (0 < q < 1) in milliseconds of a histogram of counts per
 * bucket (FC_HIST_BUCKETS, bounds fc_hist_bounds_ns, not cumulative), by
 * linear interpolation inside the bucket as Prometheus' histogram_quantile
 * does; a quantile in the +Inf bucket is the last finite bound. Returns -1
 * when the histogram is empty. Pure. */
double fc_admin_hist_quantile_ms(const uint64_t counts[FC_HIST_BUCKETS], double q);

/* ---------------------------------------------------------------- state */

struct fc_admin_conn;

/* A pool seen by the API, by name: when it first appeared in this process. */
struct fc_admin_pool_seen {
	char *name;
	double started; /* Unix time */
};

/* A server being removed: drained, removed once no request is in flight. */
struct fc_admin_removal {
	char pool[FC_ADMIN_NAME_MAX];
	char server[FC_ADMIN_NAME_MAX];
};

struct fc_admin {
	struct fc_loop *loop;
	struct fc_admin_hooks hooks;
	struct fc_io listen;
	struct fc_timer tick;
	struct fc_admin_token token;
	char listen_addr[128];
	struct fc_admin_conn *conns; /* all open connections */
	struct fc_admin_conn *dead;  /* closed, freed by the reap timer */
	struct fc_timer reap;
	uint32_t n_conns;
	struct fc_h1_head scratch; /* the head being looked at (one thread) */
	struct fc_admin_pool_seen *seen;
	size_t n_seen;
	struct fc_admin_removal *removals;
	size_t n_removals;
	/* the journal as last written or loaded, and the config it came with
	 * (a reload brings a new one: the journal is taken from it again) */
	struct fc_journal journal;
	const struct fc_config *journal_cfg;
	double started; /* Unix time the admin started */
	uint64_t started_ns;
};

/* A request, as the handlers see it. */
struct fc_admin_req {
	unsigned method; /* FC_ADMIN_M_* */
	struct fc_admin_route route;
	const char *body;
	size_t body_len;
	bool authorized; /* a valid Bearer token came with it */
	bool has_auth;   /* an Authorization header came with it */
};

/* A response being built. */
struct fc_admin_resp {
	int status;
	const char *content_type; /* NULL: application/json */
	const char *csp;          /* Content-Security-Policy, or NULL */
	const char *allow;        /* for 405 */
	bool www_authenticate;    /* for 401 */
	struct fc_json body;
	/* parked: the connection waits (GET ...?wait=removable) */
	bool park;
	uint64_t park_deadline_ms;
};

/* Writes {"error": msg} with status. */
void fc_admin_error(struct fc_admin_resp *r, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* The current view, with the journal brought up to date after a reload. */
void fc_admin_current(struct fc_admin *a, struct fc_admin_view *v);

/* api.c: the /api handlers. */
void fc_admin_api(struct fc_admin *a, const struct fc_admin_req *req, struct fc_admin_resp *r);
/* The parked request's answer, if it is due (now or timed out): true when r
 * is filled. */
bool fc_admin_api_wait_done(struct fc_admin *a, const struct fc_admin_route *route,
                            uint64_t deadline_ms, struct fc_admin_resp *r);
/* Removes the servers being removed that have no request in flight. True
 * while some are left. */
bool fc_admin_api_removals(struct fc_admin *a);
/* Wall time (Unix seconds) of a monotonic fc_time_ns() stamp. */
double fc_admin_wall(uint64_t mono_ns);
/* "2026-12-02T13:22:52Z" */
void fc_admin_rfc3339(double unix_s, char *buf, size_t len);
/* The first appearance of pool name (recorded now when it is new). */
double fc_admin_pool_started(struct fc_admin *a, const char *name);

/* status_page.c: GET /, the status page (text/html) with its CSP. */
void fc_admin_status_page(struct fc_admin_resp *r);

/* metrics.c */
void fc_admin_metrics(struct fc_admin *a, struct fc_admin_resp *r);
void fc_admin_lb_metrics(struct fc_admin *a, struct fc_admin_resp *r);

#endif
