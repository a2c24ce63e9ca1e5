/* health_grpc.c — the grpc check: grpc.health.v1.Health/Check over HTTP/2
 * (nghttp2 frames and parses; h2c with prior knowledge to http:// servers,
 * TLS with ALPN h2 to https:// ones), one connection and one stream per
 * check. It passes only for HTTP 200, grpc-status 0 and a
 * HealthCheckResponse that says SERVING; anything else a server sends
 * (another status, HTTP/1, garbage, a GOAWAY, a reset, too many bytes) is a
 * failed check with its reason. nghttp2's callbacks only take notes: the
 * verdict is handed back after nghttp2 returned, never from inside it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "health/grpc.h"
#include "health/health_internal.h"
#include "tls/tls.h"

#define CHECK_PATH  "/grpc.health.v1.Health/Check"
#define READ_MAX    65536u /* bytes a server may send during one check */
#define HEADERS_MAX 16384u /* response headers and trailers (RFC 9113 6.5.2 accounting) */
#define OUT_CHUNK   16384u /* bytes gathered from nghttp2 before a send */
#define OUT_MAX     65536u /* bytes nghttp2 may have waiting to be sent */

struct fc__health_grpc {
	struct fc_health_server *hs;
	nghttp2_session *ng;
	int32_t stream_id;
	size_t body_off; /* request body bytes handed to nghttp2 */
	uint8_t *out;    /* bytes nghttp2 produced that the stream did not take yet */
	size_t out_off, out_len, out_cap;
	uint8_t first[5]; /* the first bytes received, held back to tell HTTP/1 */
	size_t first_len;
	bool fed; /* first went to nghttp2 */
	size_t received;
	size_t header_bytes;
	int status;        /* :status of the final response; 0 before it */
	int grpc_status;   /* -1: none seen, -2: not a number */
	bool got_response; /* the response headers arrived */
	char content_type[64];
	char grpc_message[96];
	bool goaway;
	uint32_t goaway_code;
	char goaway_text[48];
	bool rst;
	uint32_t rst_code;
	const char *invalid; /* nghttp2's text for an invalid frame on our stream */
	char h2_err[112];    /* nghttp2's text for the first protocol error it saw */
	bool done;
	enum fc__health_verdict v;
	char text[128];
	struct fc__grpc_reader rd;
};

static void verdict(struct fc__health_grpc *g, enum fc__health_verdict v, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void verdict(struct fc__health_grpc *g, enum fc__health_verdict v, const char *fmt, ...)
{
	if (g->done)
		return; /* the first reason is the one that counts */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->text, sizeof(g->text), fmt, ap);
	va_end(ap);
	g->v = v;
	g->done = true;
}

/* Bytes from the server, made fit for a log line. */
static void printable(char *dst, size_t cap, const uint8_t *src, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < cap; i++)
		dst[o++] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
	dst[o] = 0;
}

static bool is(const uint8_t *name, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(name, lit, len) == 0;
}

static unsigned elapsed_ms(const struct fc_health_server *hs)
{
	return (unsigned)((fc_time_ns() - hs->ck.start_ns) / 1000000ull);
}

/* content-type application/grpc, or application/grpc+proto, ...;charset */
static bool is_grpc_type(const char *ct)
{
	static const char base[] = "application/grpc";
	if (strncasecmp(ct, base, sizeof(base) - 1) != 0)
		return false;
	char c = ct[sizeof(base) - 1];
	return c == 0 || c == '+' || c == ';';
}

/* The response is complete (END_STREAM): what it says. */
static void judge(struct fc__health_grpc *g)
{
	struct fc__grpc_reader *rd = &g->rd;
	if (g->status != 200) {
		if (g->grpc_status >= 0)
			verdict(g, FC__HEALTH_FAIL, "grpc: HTTP %d (grpc-status %d)", g->status,
			        g->grpc_status);
		else
			verdict(g, FC__HEALTH_FAIL, "grpc: HTTP %d", g->status);
		return;
	}
	if (g->content_type[0] && !is_grpc_type(g->content_type)) {
		verdict(g, FC__HEALTH_FAIL, "grpc: content-type %s, not application/grpc",
		        g->content_type);
		return;
	}
	if (g->grpc_status == -1) {
		verdict(g, FC__HEALTH_FAIL, "grpc: no grpc-status in the response");
		return;
	}
	if (g->grpc_status == -2) {
		verdict(g, FC__HEALTH_FAIL, "grpc: grpc-status is not a number");
		return;
	}
	if (g->grpc_status != 0) {
		const char *name = fc__grpc_code_name(g->grpc_status);
		verdict(g, FC__HEALTH_FAIL, "grpc-status %d: %s%s%s", g->grpc_status,
		        name ? name : "(no such code)", g->grpc_message[0] ? ": " : "",
		        g->grpc_message);
		return;
	}
	if (fc__grpc_reader_end(rd) < 0) {
		verdict(g, FC__HEALTH_FAIL, "grpc: %s", rd->why);
		return;
	}
	if (rd->n_messages == 0) {
		verdict(g, FC__HEALTH_FAIL, "grpc: no response message");
		return;
	}
	uint32_t st;
	const char *why = NULL;
	if (fc__grpc_check_response(rd->msg, rd->want, &st, &why) < 0) {
		verdict(g, FC__HEALTH_FAIL, "grpc: malformed HealthCheckResponse (%s)", why);
		return;
	}
	const char *name = fc__grpc_serving_name(st);
	if (st == FC__GRPC_SERVING)
		verdict(g, FC__HEALTH_PASS, "grpc SERVING in %u ms", elapsed_ms(g->hs));
	else if (name)
		verdict(g, FC__HEALTH_FAIL, "grpc: %s", name);
	else
		verdict(g, FC__HEALTH_FAIL, "grpc: status %u (no such serving status)", st);
}

/* ---------------------------------------------------------------- nghttp2 callbacks */

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
	(void)ng;
	(void)flags;
	struct fc__health_grpc *g = user;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != g->stream_id)
		return 0;
	g->header_bytes += namelen + valuelen + 32;
	if (g->header_bytes > HEADERS_MAX) {
		verdict(g, FC__HEALTH_FAIL, "response headers over %u bytes", HEADERS_MAX);
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	if (is(name, namelen, ":status")) {
		int st = 0;
		for (size_t i = 0; i < valuelen && i < 3; i++)
			st = st * 10 + (value[i] - '0'); /* nghttp2 checked: 3 digits */
		if (st >= 200)
			g->status = st; /* 1xx: an interim response, the real one follows */
	} else if (is(name, namelen, "content-type")) {
		printable(g->content_type, sizeof(g->content_type), value, valuelen);
	} else if (is(name, namelen, "grpc-status")) {
		int st = valuelen && valuelen <= 3 ? 0 : -2;
		for (size_t i = 0; st >= 0 && i < valuelen; i++)
			st = value[i] >= '0' && value[i] <= '9' ? st * 10 + (value[i] - '0') : -2;
		g->grpc_status = st;
	} else if (is(name, namelen, "grpc-message")) {
		fc__grpc_message_decode((const char *)value, valuelen, g->grpc_message,
		                        sizeof(g->grpc_message));
	}
	return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
	(void)ng;
	struct fc__health_grpc *g = user;
	switch (frame->hd.type) {
	case NGHTTP2_GOAWAY:
		g->goaway = true;
		g->goaway_code = frame->goaway.error_code;
		printable(g->goaway_text, sizeof(g->goaway_text), frame->goaway.opaque_data,
		          frame->goaway.opaque_data_len);
		return 0;
	case NGHTTP2_RST_STREAM:
		if (frame->hd.stream_id == g->stream_id) {
			g->rst = true;
			g->rst_code = frame->rst_stream.error_code;
		}
		return 0;
	case NGHTTP2_HEADERS:
	case NGHTTP2_DATA:
		if (frame->hd.stream_id != g->stream_id)
			return 0;
		if (frame->hd.type == NGHTTP2_HEADERS && g->status >= 200 && !g->got_response) {
			g->got_response = true;
			/* not a gRPC answer: judged now, the body (an error page) is not read */
			if (g->status != 200 ||
			    (g->content_type[0] && !is_grpc_type(g->content_type))) {
				judge(g);
				return 0;
			}
		}
		if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
			judge(g);
		return 0;
	default:
		return 0;
	}
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t stream_id, const uint8_t *data,
                   size_t len, void *user)
{
	(void)ng;
	(void)flags;
	struct fc__health_grpc *g = user;
	if (stream_id != g->stream_id || g->done)
		return 0;
	if (fc__grpc_reader_feed(&g->rd, data, len) < 0) {
		verdict(g, FC__HEALTH_FAIL, "grpc: %s", g->rd.why);
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static void goaway_verdict(struct fc__health_grpc *g)
{
	verdict(g, FC__HEALTH_FAIL, "GOAWAY from the server (%s%s%s%s)",
	        nghttp2_http2_strerror(g->goaway_code), g->goaway_text[0] ? ": \"" : "",
	        g->goaway_text, g->goaway_text[0] ? "\"" : "");
}

static int on_stream_close(nghttp2_session *ng, int32_t stream_id, uint32_t error_code, void *user)
{
	(void)ng;
	struct fc__health_grpc *g = user;
	if (stream_id != g->stream_id || g->done)
		return 0;
	if (g->rst)
		verdict(g, FC__HEALTH_FAIL, "stream reset by the server (%s)",
		        nghttp2_http2_strerror(g->rst_code));
	else if (g->h2_err[0])
		verdict(g, FC__HEALTH_FAIL, "HTTP/2: %s", g->h2_err);
	else if (g->invalid)
		verdict(g, FC__HEALTH_FAIL, "invalid HTTP/2 response: %s", g->invalid);
	else if (g->goaway)
		goaway_verdict(g);
	else if (error_code)
		verdict(g, FC__HEALTH_FAIL, "stream closed (%s)",
		        nghttp2_http2_strerror(error_code));
	else
		verdict(g, FC__HEALTH_FAIL, "stream closed before the response ended");
	return 0;
}

static int on_invalid_frame(nghttp2_session *ng, const nghttp2_frame *frame, int lib_error_code,
                            void *user)
{
	(void)ng;
	struct fc__health_grpc *g = user;
	if (frame->hd.stream_id == g->stream_id && !g->invalid)
		g->invalid = nghttp2_strerror(lib_error_code);
	return 0;
}

static int on_error(nghttp2_session *ng, int lib_error_code, const char *msg, size_t len,
                    void *user)
{
	(void)ng;
	struct fc__health_grpc *g = user;
	if (g->h2_err[0])
		return 0;
	if (lib_error_code == NGHTTP2_ERR_SETTINGS_EXPECTED) /* nghttp2's text is long */
		snprintf(g->h2_err, sizeof(g->h2_err),
		         "the server's first frame is not SETTINGS (no HTTP/2 server?)");
	else
		printable(g->h2_err, sizeof(g->h2_err), (const uint8_t *)msg, len);
	return 0;
}

/* nghttp2 ends the session with a GOAWAY of its own on a connection error:
 * its code and text say what the server did wrong. */
static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
	(void)ng;
	struct fc__health_grpc *g = user;
	if (frame->hd.type != NGHTTP2_GOAWAY || g->h2_err[0])
		return 0;
	char why[64];
	printable(why, sizeof(why), frame->goaway.opaque_data, frame->goaway.opaque_data_len);
	snprintf(g->h2_err, sizeof(g->h2_err), "%s%s%s",
	         nghttp2_http2_strerror(frame->goaway.error_code), why[0] ? ": " : "", why);
	return 0;
}

static ssize_t read_body(nghttp2_session *ng, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user)
{
	(void)ng;
	(void)stream_id;
	(void)source;
	struct fc__health_grpc *g = user;
	const struct fc_health_server *hs = g->hs;
	size_t n = hs->request_len - g->body_off;
	if (n > length)
		n = length;
	memcpy(buf, hs->request + g->body_off, n);
	g->body_off += n;
	if (g->body_off == hs->request_len)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* ---------------------------------------------------------------- moving bytes */

static void io_failed(struct fc__health_grpc *g, const char *what, int err)
{
	char text[128];
	fc__health_check_io_text(g->hs, what, err, text, sizeof(text));
	verdict(g, FC__HEALTH_FAIL, "%s", text);
}

/* Sends what nghttp2 has to send until the stream takes no more. */
static void flush(struct fc__health_grpc *g)
{
	struct fc_health_server *hs = g->hs;
	while (!g->done) {
		if (g->out_off == g->out_len) {
			g->out_off = g->out_len = 0;
			while (g->out_len < OUT_CHUNK) {
				const uint8_t *data;
				ssize_t n = nghttp2_session_mem_send(g->ng, &data);
				if (n < 0) {
					verdict(g, FC__HEALTH_FAIL, "HTTP/2: %s",
					        nghttp2_strerror((int)n));
					return;
				}
				if (n == 0)
					break;
				if (g->out_len + (size_t)n > g->out_cap) {
					size_t cap = g->out_len + (size_t)n;
					if (cap > OUT_MAX) {
						verdict(g, FC__HEALTH_FAIL,
						        "HTTP/2: over %u bytes to send", OUT_MAX);
						return;
					}
					cap = cap < OUT_CHUNK ? OUT_CHUNK : cap;
					uint8_t *p = realloc(g->out, cap);
					if (!p) {
						verdict(g, FC__HEALTH_FAIL, "out of memory");
						return;
					}
					g->out = p;
					g->out_cap = cap;
				}
				memcpy(g->out + g->out_len, data, (size_t)n);
				g->out_len += (size_t)n;
			}
			if (g->out_len == 0)
				return;
		}
		struct iovec v = {g->out + g->out_off, g->out_len - g->out_off};
		ssize_t n = fc_stream_send(hs->h->loop, &hs->ck.s, &v, 1);
		if (n == -EAGAIN || n == 0)
			return; /* EPOLLOUT follows */
		if (n < 0) {
			io_failed(g, "send", (int)-n);
			return;
		}
		g->out_off += (size_t)n;
	}
}

static void mem_recv(struct fc__health_grpc *g, const uint8_t *p, size_t n)
{
	ssize_t rv = nghttp2_session_mem_recv(g->ng, p, n);
	if (rv < 0)
		verdict(g, FC__HEALTH_FAIL, "HTTP/2: %s",
		        g->h2_err[0] ? g->h2_err : nghttp2_strerror((int)rv));
}

/* Bytes from the server. The first five are held back until they say
 * whether this is HTTP/2 at all: an HTTP/1 server answers "HTTP/". */
static void feed(struct fc__health_grpc *g, const uint8_t *p, size_t n)
{
	g->received += n;
	if (g->received > READ_MAX) {
		verdict(g, FC__HEALTH_FAIL, "response over %u bytes", READ_MAX);
		return;
	}
	if (!g->fed) {
		size_t take = sizeof(g->first) - g->first_len;
		if (take > n)
			take = n;
		memcpy(g->first + g->first_len, p, take);
		g->first_len += take;
		p += take;
		n -= take;
		if (g->first_len < sizeof(g->first))
			return;
		g->fed = true;
		if (memcmp(g->first, "HTTP/", 5) == 0) {
			size_t line = 0;
			while (line < n && line < 40 && p[line] != '\r' && p[line] != '\n')
				line++;
			char rest[48];
			printable(rest, sizeof(rest), p, line);
			verdict(g, FC__HEALTH_FAIL,
			        "not HTTP/2: the server answered in HTTP/1 (\"HTTP/%s\")", rest);
			return;
		}
		mem_recv(g, g->first, sizeof(g->first));
	}
	if (n && !g->done)
		mem_recv(g, p, n);
}

/* The server closed its side before the verdict. */
static void on_eof(struct fc__health_grpc *g)
{
	if (g->received == 0)
		verdict(g, FC__HEALTH_FAIL, "connection closed without an answer");
	else if (!g->fed)
		verdict(g, FC__HEALTH_FAIL, "connection closed after %zu bytes (not HTTP/2)",
		        g->received);
	else if (g->h2_err[0])
		verdict(g, FC__HEALTH_FAIL, "HTTP/2: %s", g->h2_err);
	else if (g->goaway)
		goaway_verdict(g);
	else if (!g->got_response)
		verdict(g, FC__HEALTH_FAIL, "connection closed before the response headers");
	else
		verdict(g, FC__HEALTH_FAIL, "connection closed in the response");
}

static int result(struct fc__health_grpc *g, enum fc__health_verdict *v, char *text, size_t cap)
{
	if (!g->done && !nghttp2_session_want_read(g->ng) && !nghttp2_session_want_write(g->ng)) {
		/* nghttp2 ended the session (and sent its GOAWAY) */
		if (g->h2_err[0])
			verdict(g, FC__HEALTH_FAIL, "HTTP/2: %s", g->h2_err);
		else if (g->goaway)
			goaway_verdict(g);
		else
			verdict(g, FC__HEALTH_FAIL, "HTTP/2 session ended before the response");
	}
	if (!g->done)
		return 0;
	*v = g->v;
	snprintf(text, cap, "%s", g->text);
	return 1;
}

int fc__health_grpc_io(struct fc_health_server *hs, uint32_t events, enum fc__health_verdict *v,
                       char *text, size_t cap)
{
	(void)events; /* edge-triggered: try both ways whatever came */
	struct fc__health_grpc *g = hs->ck.grpc;
	if (!g)
		return 0;
	/* sends first: nghttp2 takes an answer only to a request it sent */
	flush(g);
	while (!g->done) {
		ssize_t n = fc_stream_recv(hs->h->loop, &hs->ck.s, hs->ck.buf, FC__HEALTH_HEAD_MAX);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			io_failed(g, "read", (int)-n);
		else if (n == 0)
			on_eof(g);
		else
			feed(g, (const uint8_t *)hs->ck.buf, (size_t)n);
	}
	flush(g);
	return result(g, v, text, cap);
}

int fc__health_grpc_start(struct fc_health_server *hs, enum fc__health_verdict *v, char *text,
                          size_t cap)
{
	struct fc__health_grpc *g = calloc(1, sizeof(*g));
	if (!g) {
		*v = FC__HEALTH_FAIL;
		snprintf(text, cap, "out of memory");
		return 1;
	}
	hs->ck.grpc = g;
	g->hs = hs;
	g->grpc_status = -1;
	fc__grpc_reader_init(&g->rd);

	nghttp2_session_callbacks *cb = NULL;
	int rc = nghttp2_session_callbacks_new(&cb);
	if (rc == 0) {
		nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
		nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
		nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
		nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
		nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
		nghttp2_session_callbacks_set_error_callback2(cb, on_error);
		nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
		rc = nghttp2_session_client_new(&g->ng, cb, g);
		nghttp2_session_callbacks_del(cb);
	}
	if (rc != 0) {
		g->ng = NULL;
		verdict(g, FC__HEALTH_FAIL, "HTTP/2: %s", nghttp2_strerror(rc));
		return result(g, v, text, cap);
	}
	/* no pushes; the headers we accept, as a hint (the limit is ours) */
	nghttp2_settings_entry iv[] = {
	        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, HEADERS_MAX},
	};
	char timeout[24];
	snprintf(timeout, sizeof(timeout), "%um", hs->hc.timeout_ms);
	const char *scheme = hs->tls ? "https" : "http";
#define NV(n, val)                                                                                 \
	{(uint8_t *)(n), (uint8_t *)(val), sizeof(n) - 1, strlen(val), NGHTTP2_NV_FLAG_NONE}
	nghttp2_nv nv[] = {
	        NV(":method", "POST"),
	        NV(":scheme", scheme),
	        NV(":path", CHECK_PATH),
	        NV(":authority", hs->authority),
	        NV("content-type", "application/grpc"),
	        NV("te", "trailers"),
	        NV("user-agent", "fulcrum-health"),
	        NV("grpc-timeout", timeout),
	};
#undef NV
	nghttp2_data_provider body = {.source.ptr = g, .read_callback = read_body};
	rc = nghttp2_submit_settings(g->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
	if (rc == 0) {
		g->stream_id = nghttp2_submit_request(g->ng, NULL, nv, sizeof(nv) / sizeof(nv[0]),
		                                      &body, NULL);
		rc = g->stream_id < 0 ? g->stream_id : 0;
	}
	if (rc != 0) {
		verdict(g, FC__HEALTH_FAIL, "HTTP/2: %s", nghttp2_strerror(rc));
		return result(g, v, text, cap);
	}
	/* sends, and reads what a server may have sent already (its SETTINGS) */
	return fc__health_grpc_io(hs, 0, v, text, cap);
}

const char *fc__health_grpc_where(const struct fc_health_server *hs)
{
	const struct fc__health_grpc *g = hs->ck.grpc;
	if (!g || g->received == 0)
		return "connected, no answer";
	if (!g->got_response)
		return "connected, no response headers";
	return "reading the response";
}

void fc__health_grpc_end(struct fc_health_server *hs)
{
	struct fc__health_grpc *g = hs->ck.grpc;
	if (!g)
		return;
	g->done = true; /* callbacks nghttp2_session_del may run change nothing */
	nghttp2_session_del(g->ng);
	free(g->out);
	free(g);
	hs->ck.grpc = NULL;
}
