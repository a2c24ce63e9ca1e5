/* accesslog.h — the access log's line formatting, by hand (no printf, no
 * floating point), exposed for the unit tests; the worker side
 * (fc_accesslog_write, fc_accesslog_flush) is declared in proxy.h. */
#ifndef FC_ACCESSLOG_H
#define FC_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why an exchange tried again: the failure of the attempt before. Named in
 * the log by fc_accesslog_retry_name. */
enum fc_retry_why {
	FC_RETRY_NONE,
	FC_RETRY_CONNECT_REFUSED, /* nothing listens (at once or after the SYN) */
	FC_RETRY_CONNECT_FAILED,  /* another connect error (unreachable, no memory...) */
	FC_RETRY_CONNECT_TIMEOUT, /* connect_timeout passed */
	FC_RETRY_TLS_HANDSHAKE,   /* an https:// server's handshake failed */
	FC_RETRY_TLS,             /* a TLS error after the handshake, before the response head */
	FC_RETRY_RESET,           /* reset (or another socket error) before the response head */
	FC_RETRY_EOF,             /* the server closed before the end of the response head */
	FC_RETRY_STALE,           /* a kept-alive connection the server had closed: a fresh one */
	FC_RETRY_TIMEOUT,         /* no response head within retry.per_try_timeout */
	FC_RETRY_STATUS_502,      /* the server answered 502 (retry.on lists it) */
	FC_RETRY_STATUS_503,      /* ... 503 (with Retry-After or not) */
	FC_RETRY_STATUS_504,      /* ... 504 */
	FC_RETRY_N
};
/* Retry reasons a line lists, in order (4 bits each in a uint32_t): enough
 * for every retry an exchange makes (at most retry.attempts, 7, and one on a
 * fresh connection after a stale one). */
#define FC_ACCESSLOG_MAX_REASONS 8

/* The name of a reason as the log writes it ("connect_refused"). */
const char *fc_accesslog_retry_name(enum fc_retry_why why);

/* What one line says. Borrowed for the call. */
struct fc_accesslog_fields {
	const char *time; /* FC_LOG_TIMESTAMP_LEN bytes */
	const char *client;
	size_t client_len;
	const char *line; /* "METHOD TARGET PROTO" as the client sent it */
	size_t line_len;
	int status;
	uint64_t bytes;
	const char *pool, *server;
	size_t pool_len, server_len;
	uint64_t upstream_ns, total_ns;
	uint64_t connect_ns; /* the final attempt's connect (has_connect) */
	uint64_t head_ns;    /* from the request head to the response head (has_head) */
	bool has_connect, has_head;
	uint8_t retries;    /* attempts after the first */
	uint32_t retry_why; /* enum fc_retry_why of each, 4 bits each, the first lowest */
	const char *ua;     /* the User-Agent, NULL when the request had none */
	size_t ua_len;
	bool tunnel;            /* an upgraded connection: bytes_in is written too */
	uint64_t bytes_in;      /* bytes the client sent through the tunnel */
	const char *rate_limit; /* the rate limit that refused it (429), else NULL */
	size_t rate_limit_len;
};

/* Bytes fc_accesslog_format_line may write for f, at most. */
size_t fc_accesslog_line_max(const struct fc_accesslog_fields *f);

/* Writes f's line (text, or JSON when json) with its newline into out, which
 * holds fc_accesslog_line_max(f) bytes. Returns the length. Byte for byte
 * what the printf formats did ("%.3f" of ns / 1e6 included). */
size_t fc_accesslog_format_line(char *out, bool json, const struct fc_accesslog_fields *f);

/* Writes ns as milliseconds with three decimals ("0.123"), rounded as
 * printf("%.3f", ns / 1e6) rounds (exactly so below 2^53 ns, 104 days;
 * above, the exact decimal rounded half up). Returns the length (<= 24). */
size_t fc_accesslog_format_ms(char *out, uint64_t ns);

/* Writes v in decimal. Returns the length (<= 20). */
size_t fc_accesslog_format_u64(char *out, uint64_t v);

#endif
