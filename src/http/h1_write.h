/* h1_write.h — rewriting heads for the next hop (RFC 9110 §7.6): hop-by-hop
 * headers dropped, X-Forwarded-* and Via added, framing re-stated. */
#ifndef FC_H1_WRITE_H
#define FC_H1_WRITE_H

#include "http/h1.h"

struct fc_h1_req_extra {
	const char *client_ip; /* appended to X-Forwarded-For */
	size_t client_ip_len;
	const char *proto; /* X-Forwarded-Proto: "http" or "https" */
	const char *host;  /* Host to add when the client sent none (HTTP/1.0): the last header */
	size_t host_len;
};

struct fc_h1_resp_extra {
	bool close;             /* tell the client we close after this response */
	bool keep_alive;        /* HTTP/1.0 client keeps the connection: say so */
	bool dechunk;           /* body is de-chunked for an HTTP/1.0 client */
	bool upgrade;           /* a 101: keep Upgrade, say Connection: upgrade */
	const char *set_cookie; /* a Set-Cookie value to add, or NULL */
	size_t set_cookie_len;
};

/* Writes the upstream request head into out[0..cap). Returns its length, or
 * 0 when it does not fit. */
size_t fc_h1_write_request(char *out, size_t cap, const struct fc_h1_head *hd,
                           const struct fc_h1_req_extra *x);

/* Writes the client response head into out[0..cap). Returns its length, or 0
 * when it does not fit. */
size_t fc_h1_write_response(char *out, size_t cap, const struct fc_h1_head *hd,
                            const struct fc_h1_resp_extra *x);

/* True when the response head can go to the client byte for byte: nothing
 * to add (close, de-chunking, a cookie), and no hop-by-hop header but
 * Transfer-Encoding and a Connection that says keep-alive only. x->keep_alive
 * (an HTTP/1.0 client that keeps the connection) passes only when the server
 * sent that Connection: keep-alive itself. */
bool fc_h1_response_passthrough(const struct fc_h1_head *hd, const struct fc_h1_resp_extra *x);

#define FC_H1_REDIRECT_MAX 9000 /* the longest redirect response (an 8 KiB target) */
/* A 308 Permanent Redirect to https://host[:port]target (port 0: none),
 * with a short body. host is the request's Host without its port. 0 when
 * it does not fit. */
size_t fc_h1_write_redirect_https(char *out, size_t cap, const char *host, size_t host_len,
                                  uint16_t port, const char *target, size_t target_len, bool close);
/* A 503 with Retry-After: 1 and a small HTML page that reloads itself after
 * a second: a browser waiting for a pool to wake (docs/traffic.md). Returns
 * its length (0: no room). */
size_t fc_h1_write_starting(char *out, size_t cap, bool close);

/* Writes a complete short plain-text error response. Returns its length. */
size_t fc_h1_write_error(char *out, size_t cap, int status, bool close);
/* The same with Retry-After: retry_after_s (0: none), for a 503 when no
 * server can take the request. */
size_t fc_h1_write_error_retry(char *out, size_t cap, int status, bool close,
                               unsigned retry_after_s);

/* The same with more header lines (extra: complete "Name: value\r\n"
 * lines, or NULL). */
size_t fc_h1_write_error_headers(char *out, size_t cap, int status, bool close,
                                 unsigned retry_after_s, const char *extra);

/* A rate limit's refusal, as draft-ietf-httpapi-ratelimit-headers-11 says
 * it: RateLimit-Policy: "name";q=burst;w=window_s and RateLimit:
 * "name";r=remaining;t=reset_s. name is a token (no escaping needed). */
struct fc_h1_rate_limited {
	const char *name;
	uint32_t burst, window_s; /* the bucket's size, the seconds it fills in */
	uint32_t remaining;       /* tokens left */
	uint32_t reset_s;         /* until the next token: Retry-After and t */
};
/* A complete 429 Too Many Requests with Retry-After and both fields. Its
 * length, 0 when it does not fit. */
size_t fc_h1_write_rate_limited(char *out, size_t cap, bool close,
                                const struct fc_h1_rate_limited *rl);

/* Reason phrase of a status code. */
const char *fc_h1_reason(int status);

#endif
