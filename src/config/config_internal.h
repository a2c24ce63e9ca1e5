/* config_internal.h — what the files of src/config share: the error collector,
 * value parsers (durations, sizes, URLs, addresses, CIDRs) and the snapshot's
 * allocation helpers. Not for use outside src/config. */
#ifndef FC_CONFIG_INTERNAL_H
#define FC_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define FC__CFG_MAX_ERRORS  50 /* kept; more are counted, not stored */
#define FC__CFG_WORKERS_MAX 256

/* One collected error; line/col are 1-based, 0 when there is no position. */
struct fc__cfg_error {
	unsigned line, col;
	size_t seq; /* order of discovery, keeps the sort stable */
	char *text; /* "subject: message" */
};

struct fc__cfg_errs {
	const char *source; /* prefix of positioned lines; NULL: none */
	struct fc__cfg_error items[FC__CFG_MAX_ERRORS];
	size_t n;     /* stored */
	size_t total; /* reported, stored or not */
};

/* Records an error at line:col (1-based, 0 = no position) about subject. */
void fc__cfg_err(struct fc__cfg_errs *e, unsigned line, unsigned col, const char *subject,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Writes the errors, sorted by position, one per line into err; frees them. */
void fc__cfg_errs_flush(struct fc__cfg_errs *e, char *err, size_t errlen);
void fc__cfg_errs_fini(struct fc__cfg_errs *e);

/* Value parsers: 0 or -EINVAL (with *why set to a static message) or -ENOMEM. */
int fc__cfg_parse_uint(const char *s, uint64_t *out);
int fc__cfg_parse_bool(const char *s, bool *out);
int fc__cfg_parse_double(const char *s, double *out);

/* "http://host[:port][/]" into srv->url/host/port/addr (allocates url and
 * host). why gets a message on -EINVAL. later: a host name is not resolved
 * now but at run time (pools.*.resolve: srv->resolve set, addr_len 0). */
int fc__cfg_parse_upstream(const char *s, struct fc_config_server *srv, bool later, char *why,
                           size_t whylen);
/* "host:port", "[v6]:port", ":port", "*:port" into addr. */
int fc__cfg_parse_listen(const char *s, struct sockaddr_storage *addr, socklen_t *addr_len,
                         char *why, size_t whylen);
/* cluster.redis.address: "host:port" or "[v6]:port", resolved now (once, at
 * load) into a numeric host (NUL-terminated, at most hostlen) and a port. */
int fc__cfg_parse_redis_address(const char *s, char *host, size_t hostlen, uint16_t *port,
                                char *why, size_t whylen);
/* "10.0.0.0/8", "127.0.0.1", "fd00::/8". */
int fc__cfg_check_cidr(const char *s, const char **why);
/* A route host: "api.example.com" or "*.example.com"; *lower gets a
 * lower-cased copy. */
int fc__cfg_check_route_host(const char *s, char **lower, const char **why);
int fc__cfg_check_route_path(const char *s, const char **why);
/* Pool names: letters, digits, '_', '-', '.'. */
bool fc__cfg_is_name(const char *s);
/* Server/listener display names: printable, no spaces, quotes or '/'. */
bool fc__cfg_is_label(const char *s);
/* RFC 9110 token (header and cookie names). */
bool fc__cfg_is_token(const char *s);
/* 0 if the algorithm is registered, else -EINVAL with the known names in why. */
int fc__cfg_check_algorithm(const char *name, char *why, size_t whylen);

/* Lifecycle helpers. */
struct fc_config *fc__cfg_alloc(const char *source);
void fc__cfg_pool_defaults(struct fc_config_pool *p);
void fc__cfg_server_defaults(struct fc_config_server *s);
/* Health defaults without allocation (type none, intervals, rise, fall). */
void fc__cfg_health_defaults(struct fc_config_health *h);
/* Allocates the string and list defaults still NULL (path "/", method "GET",
 * expect 200-399); 0 or -ENOMEM. */
int fc__cfg_health_fill(struct fc_config_health *h);
/* Deep copy into dst (whose old contents are not freed); on -ENOMEM dst owns
 * nothing. */
int fc__cfg_health_copy(struct fc_config_health *dst, const struct fc_config_health *src);
/* Frees what h owns and NULLs the pointers. */
void fc__cfg_health_fini(struct fc_config_health *h);
/* Fills the defaults that need allocating (sticky cookie name, passive
 * statuses, health strings) and gives every server without a health: of its
 * own a copy of the pool's; idempotent; -ENOMEM. */
int fc__cfg_pool_finish(struct fc_config_pool *p);
/* Gives srv a default name "host:port" if it has none; -ENOMEM. */
int fc__cfg_server_default_name(struct fc_config_server *srv);
uint32_t fc__cfg_cpu_count(void);
/* Index of the first server in p->servers[0..upto) named name, or -1. */
long fc__cfg_server_named(const struct fc_config_pool *p, size_t upto, const char *name);
/* Index of a listener before idx whose address collides with listener idx, or -1. */
long fc__cfg_listener_conflict(const struct fc_config *cfg, size_t idx);
/* True when a and b are the same port with the same or a wildcard address. */
bool fc__cfg_addr_overlap(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* The YAML loader proper (config_yaml.c). */
struct fc_config *fc__cfg_load_yaml(const char *text, size_t len, const char *name,
                                    struct fc__cfg_errs *errs);

#endif
