/* h1.h — HTTP/1.x codec around llhttp (strict). A head is parsed in one shot
 * once its terminator is in the buffer, into a scratch struct the caller
 * provides (one per worker), so a connection only keeps the 80-byte llhttp
 * state between reads. Bodies are validated by the same parser and forwarded
 * raw; fc_h1_body reports where the message ends. */
#ifndef FC_H1_H
#define FC_H1_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FC_H1_MAX_HEADERS 128
/* Headers a head may bring: fewer than FC_H1_MAX_HEADERS, so that what the
 * proxy adds (X-Forwarded-*, Via, Host; Set-Cookie, Connection) still fits
 * in a head a peer with the same limit accepts. */
#define FC_H1_MAX_REQUEST_HEADERS  (FC_H1_MAX_HEADERS - 8)
#define FC_H1_MAX_RESPONSE_HEADERS (FC_H1_MAX_HEADERS - 4)

struct fc_h1_header {
	const char *name, *value;
	uint32_t name_len, value_len;
	bool hop; /* hop-by-hop: never forwarded as is */
};

/* What a parsed head says. Pointers point into the caller's buffer. */
struct fc_h1_head {
	const char *url;
	uint32_t url_len;
	const char *first_line; /* request line or status line, without CRLF */
	uint32_t first_line_len;
	uint32_t head_len; /* bytes of the head including the final CRLF */
	uint8_t method;    /* enum llhttp_method */
	uint8_t major, minor;
	uint16_t status;
	uint32_t n_headers;

	/* analysis */
	int host; /* index of Host, -1 if none */
	int n_host;
	int xff; /* first X-Forwarded-For index, -1 */
	int ua;  /* first User-Agent index (requests; for the access log), -1 */
	bool conn_close, conn_keepalive;
	bool chunked; /* Transfer-Encoding: chunked (final coding) */
	bool has_te;  /* any Transfer-Encoding */
	bool has_cl;
	uint64_t content_length;
	bool expect_continue;
	bool has_body;        /* a body follows the head (framed by CL, chunked or close) */
	bool close_delimited; /* response body ends at EOF */
	bool keep_alive;      /* llhttp's verdict for this message */
	bool bad_te;          /* a Transfer-Encoding we do not relay */
	bool has_hop;         /* some header is hop-by-hop (rewrite needed) */
	bool too_many;        /* more headers than the limit (the caller answers 431) */
	bool conn_upgrade;    /* Connection names "upgrade" */
	/* Upgrade (RFC 9110 §7.8) with Connection: upgrade, naming a protocol
	 * fulcrum forwards (not h2c), in an HTTP/1.1 request or any response */
	bool upgrade;

	struct fc_h1_header h[FC_H1_MAX_HEADERS]; /* last: the reset stops here */
};

/* Per-connection parser state. */
struct fc_h1 {
	llhttp_t p;
	uint64_t fed;      /* body bytes fed so far: stream offsets for trailers */
	uint64_t tval_end; /* stream offset where the open trailer value ends, 0: none */
	uint32_t tail;     /* the last four body bytes fed */
};

enum fc_h1_result {
	FC_H1_OK = 0,       /* consumed all, message not complete */
	FC_H1_COMPLETE = 1, /* message complete at *consumed */
	FC_H1_ERROR = -1,   /* malformed */
};

/* Prepares h to parse requests (response=false) or responses. */
void fc_h1_init(struct fc_h1 *h, bool response);

/* Looks for the end of a head in buf[0..len), starting the scan at from
 * (pass the previous len to avoid rescanning). Returns the head length
 * including the terminating empty line, or 0 if not there yet. */
size_t fc_h1_head_end(const char *buf, size_t len, size_t from);

/* Parses a complete head buf[0..len) (len from fc_h1_head_end) into out.
 * For a response, head_request says the request was HEAD (no body follows).
 * Returns FC_H1_OK (a body follows), FC_H1_COMPLETE (no body) or FC_H1_ERROR
 * with *err set to a short reason. */
int fc_h1_parse_head(struct fc_h1 *h, const char *buf, size_t len, struct fc_h1_head *out,
                     bool head_request, const char **err);

/* Callback for decoded body bytes (used to de-chunk for HTTP/1.0 clients). */
typedef void (*fc_h1_body_fn)(void *ctx, const char *at, size_t len);

/* Runs body bytes buf[0..len) through the parser. *consumed is how many
 * bytes belong to this message (all of them unless it completes). When
 * on_body is set, decoded body bytes are passed to it. */
int fc_h1_body(struct fc_h1 *h, const char *buf, size_t len, size_t *consumed,
               fc_h1_body_fn on_body, void *ctx, const char **err);

/* Ends a close-delimited body at EOF. Returns FC_H1_COMPLETE or FC_H1_ERROR
 * (EOF in the middle of a framed body). */
int fc_h1_eof(struct fc_h1 *h);

/* The next comma-separated token of a header value [*s, end), blanks
 * trimmed; *s moves past it. False when none is left. */
bool fc_h1_next_token(const char **s, const char *end, const char **tok, size_t *len);

/* Where fc_h1_tokens_next is: start from {0}. */
struct fc_h1_tokens {
	uint32_t i;          /* the next header to look at */
	const char *s, *end; /* what is left of the current one's value */
};
/* The next token of every header named name[0..len) (case-insensitive),
 * headers in order, each value as fc_h1_next_token splits it. False at the
 * end. */
bool fc_h1_tokens_next(const struct fc_h1_head *hd, const char *name, size_t len,
                       struct fc_h1_tokens *it, const char **tok, size_t *tlen);

/* True when an Upgrade token names a protocol fulcrum tunnels: anything but
 * h2c (HTTP/2 over cleartext is not spliced; the request goes on as 1.1). */
bool fc_h1_upgrade_token_ok(const char *tok, size_t len);

/* Header name comparison, case-insensitive. */
bool fc_h1_name_is(const struct fc_h1_header *hd, const char *name, size_t len);
#define FC_H1_NAME_IS(hd, lit) fc_h1_name_is((hd), lit, sizeof(lit) - 1)

/* True for GET, HEAD, OPTIONS, TRACE, PUT, DELETE. */
bool fc_h1_method_idempotent(uint8_t method);

/* Finds the value of a header by name, or NULL. */
const struct fc_h1_header *fc_h1_find(const struct fc_h1_head *hd, const char *name, size_t len);

#endif
