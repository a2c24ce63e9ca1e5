/* client_h2.c — HTTP/2 on a client connection (nghttp2's server session):
 * every stream is one exchange, balanced on its own and sent to its server
 * as an HTTP/1.1 request. nghttp2 parses frames, keeps the windows and checks
 * the messages (RFC 9113 §8: pseudo-headers, connection-specific headers,
 * te, names, values, content-length against DATA); this file adds what it
 * leaves to its user: :authority against host, the header list size, the
 * limits on suspicious frames ("glitches"), GOAWAY on shutdown and reload.
 *
 * nghttp2's callbacks only record what arrived (a stream's head, its body
 * bytes, its end or reset) and queue the stream; the pump then starts and
 * steps the queued streams' exchanges, so no exchange runs inside nghttp2.
 * Frames nghttp2 serializes are copied into the connection's output buffer
 * and written once per pump; a slow client fills it and nghttp2 is asked
 * for nothing more (its windows then hold the servers back).
 *
 * Flow control, request side: automatic WINDOW_UPDATEs are off; a stream's
 * body bytes are given back to the windows (nghttp2_session_consume) only
 * once they were sent to the server, so a stream never buffers more than
 * its window beyond what retry.replay_buffer keeps for a retry. Response side: DATA is read
 * from the upstream's buffer when nghttp2 may send it (the client's window
 * allows), which is what lets the upstream read again. */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "http/h1_write.h"
#include "http/h2.h"
#include "proxy/proxy.h"
#include "proxy/reqinfo.h"

/* Every stream's head is collected here until its exchange starts. */
struct h2_field {
	uint32_t name, name_len, value, value_len;
};
struct h2_head {
	uint32_t n, len, cap, list_size;
	struct h2_field f[FC_H1_MAX_REQUEST_HEADERS + 8]; /* pseudo-headers too */
	char data[];
};

struct fc_h2_stream {
	struct fc_link link;  /* in h->streams */
	struct fc_link ready; /* in h->ready while queued */
	struct fc_h2 *h;
	struct fc_exchange *x; /* NULL before the head is whole and once the exchange ended */
	int32_t id;
	uint32_t start_ms, active_ms; /* loop times cut to 32 bits */
	struct h2_head *head;         /* freed once the exchange started */
	/* request body bytes [0, body_len); the exchange's body_start, sent and
	 * parsed are offsets here */
	char *body;
	uint32_t body_len, body_cap;
	uint32_t consumed; /* body[0..consumed) was given back to the windows (kept for a retry) */
	/* chunked framing towards an HTTP/1.1 server (no content-length) */
	char chunk_hdr[16];
	uint8_t chunk_hdr_len, chunk_hdr_sent, chunk_crlf_sent;
	uint32_t chunk_left; /* payload bytes of the current chunk still to send */
	/* a response of fulcrum's own: its body */
	char *local;
	uint32_t local_len, local_off;
	uint16_t status;
	bool queued, head_done, started, end_stream, closed, deferred;
	bool too_big, chunked, in_chunk, last_sent, responded, eof_sent;
};

struct fc_h2 {
	nghttp2_session *sess;
	struct fc_link streams;
	struct fc_link ready;
	uint32_t n_streams;
	uint32_t idle_ms;          /* when the last stream ended */
	double glitches;           /* budget left (max_glitches, refilled a tenth per second) */
	struct fc_h2_pending pend; /* a frame's tail that did not fit c->out */
	uint64_t glitch_ms;
	bool in_session; /* inside nghttp2 (mem_recv or mem_send): the session stays */
	bool goaway, calm, failed;
	bool dead;          /* nghttp2 may not send any more (a raw GOAWAY went out) */
	bool out_frame_cut; /* c->out ends inside a frame (its tail in pend) */
};

static const char *const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN 24

static inline struct fc_h2 *h2_of(const struct fc_client *c)
{
	return c->h2;
}

static inline struct fc_client *client_of_session(void *ud)
{
	return ud;
}

/* ---------------------------------------------------------------- streams */

static void queue(struct fc_h2_stream *s)
{
	if (s->queued)
		return;
	s->queued = true;
	fc_link_push(s->h->ready.prev, &s->ready); /* at the tail: first come, first served */
}

static void stream_free(struct fc_h2 *h, struct fc_h2_stream *s)
{
	if (s->queued)
		fc_link_remove(&s->ready);
	fc_link_remove(&s->link);
	h->n_streams--;
	free(s->head);
	free(s->body);
	free(s->local);
	free(s);
}

/* A suspicious frame or event: one glitch. Over the budget the connection
 * ends with GOAWAY ENHANCE_YOUR_CALM. False then. */
static bool glitch(struct fc_client *c, const char *what)
{
	struct fc_h2 *h = h2_of(c);
	const struct fc_config_http2 *cfg = &c->w->cfg->http2;
	uint64_t now = c->w->loop.now_ms;
	h->glitches += (double)(now - h->glitch_ms) * cfg->max_glitches / 10000.0;
	if (h->glitches > cfg->max_glitches)
		h->glitches = cfg->max_glitches;
	h->glitch_ms = now;
	h->glitches -= 1;
	if (h->glitches >= 0)
		return true;
	if (!h->calm) {
		char ip[64];
		fc_req_format_ip(&c->peer, ip, sizeof(ip));
		fc_warn("HTTP/2 client %s: too many suspicious frames (last: %s): GOAWAY", ip,
		        what);
		h->calm = true;
		fc_ctr_inc(&c->w->ctr.h2_calm);
		nghttp2_session_terminate_session(h->sess, NGHTTP2_ENHANCE_YOUR_CALM);
	}
	return false;
}

/* ---------------------------------------------------------------- callbacks */

static int on_begin_headers(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct fc_client *c = client_of_session(ud);
	struct fc_h2 *h = h2_of(c);
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* trailers: not forwarded to HTTP/1.1 servers */
	if (h->calm)
		return 0; /* going away: nothing more is started */
	struct fc_h2_stream *s = calloc(1, sizeof(*s));
	uint32_t cap = c->w->cfg->http2.max_header_list_size + 512;
	struct h2_head *hh = s ? malloc(sizeof(*hh) + cap) : NULL;
	if (!hh) {
		free(s);
		fc_warn("out of memory for an HTTP/2 stream");
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
	}
	hh->n = hh->len = hh->list_size = 0;
	hh->cap = cap;
	s->head = hh;
	s->h = h;
	s->id = f->hd.stream_id;
	s->start_ms = s->active_ms = fc_client_now(c);
	fc_link_push(h->streams.prev, &s->link);
	h->n_streams++;
	nghttp2_session_set_stream_user_data(sess, s->id, s);
	return 0;
}

static int on_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	(void)flags;
	struct fc_client *c = client_of_session(ud);
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct fc_h2_stream *s = nghttp2_session_get_stream_user_data(sess, f->hd.stream_id);
	if (!s || !s->head)
		return 0;
	if (s->too_big) {
		/* every field past the limit counts: an HPACK bomb's references
		 * cost nothing to send and each is decoded */
		glitch(c, "header list too large");
		return 0;
	}
	struct h2_head *hh = s->head;
	/* RFC 9113 §6.5.2: each field counts its name, value and 32 */
	hh->list_size += (uint32_t)(namelen + valuelen + 32);
	if (hh->list_size > c->w->cfg->http2.max_header_list_size ||
	    hh->n >= sizeof(hh->f) / sizeof(hh->f[0]) || hh->len + namelen + valuelen > hh->cap) {
		s->too_big = true; /* answered 431 once the head is over */
		glitch(c, "header list too large");
		return 0;
	}
	struct h2_field *fl = &hh->f[hh->n++];
	fl->name = hh->len;
	fl->name_len = (uint32_t)namelen;
	memcpy(hh->data + hh->len, name, namelen);
	hh->len += (uint32_t)namelen;
	fl->value = hh->len;
	fl->value_len = (uint32_t)valuelen;
	memcpy(hh->data + hh->len, value, valuelen);
	hh->len += (uint32_t)valuelen;
	return 0;
}

/* A field nghttp2 finds invalid (RFC 9113 §8.2.1: CR, LF, NUL, edge
 * whitespace...): the stream is refused, never forwarded. */
static int on_invalid_header(nghttp2_session *sess, const nghttp2_frame *f, const uint8_t *name,
                             size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                             void *ud)
{
	(void)name;
	(void)namelen;
	(void)value;
	(void)valuelen;
	(void)flags;
	fc_debug("HTTP/2 stream %d: invalid header field: refused", f->hd.stream_id);
	glitch(client_of_session(ud), "invalid header");
	nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_PROTOCOL_ERROR);
	return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int on_begin_frame(nghttp2_session *sess, const nghttp2_frame_hd *hd, void *ud)
{
	(void)sess;
	struct fc_client *c = client_of_session(ud);
	/* every CONTINUATION counts: a flood of them never ends a head
	 * (CVE-2024-27316) */
	if (hd->type == NGHTTP2_CONTINUATION)
		glitch(c, "CONTINUATION");
	return 0;
}

static int on_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
	(void)flags;
	struct fc_client *c = client_of_session(ud);
	struct fc_h2_stream *s = nghttp2_session_get_stream_user_data(sess, id);
	if (!s || (s->started && !s->x) || s->too_big) {
		/* nobody wants it (answered already): the window goes back at once */
		nghttp2_session_consume(sess, id, len);
		return 0;
	}
	if (s->body_len + len > s->body_cap) {
		/* at most the stream's window is unconsumed: the buffer grows to that */
		uint32_t cap = s->body_cap ? s->body_cap : 4096;
		while (cap < s->body_len + len)
			cap *= 2;
		char *nb = realloc(s->body, cap);
		if (!nb) {
			fc_warn("out of memory for an HTTP/2 request body");
			nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, id,
			                          NGHTTP2_INTERNAL_ERROR);
			nghttp2_session_consume(sess, id, len);
			return 0;
		}
		s->body = nb;
		s->body_cap = cap;
	}
	memcpy(s->body + s->body_len, data, len);
	s->body_len += (uint32_t)len;
	s->active_ms = fc_client_now(c);
	if (s->x)
		s->x->parsed = s->body_len;
	queue(s);
	return 0;
}

static int on_frame_recv(nghttp2_session *sess, const nghttp2_frame *f, void *ud)
{
	struct fc_client *c = client_of_session(ud);
	struct fc_h2_stream *s =
	        f->hd.stream_id ? nghttp2_session_get_stream_user_data(sess, f->hd.stream_id)
	                        : NULL;
	bool ok = true; /* false: over the glitch budget (GOAWAY is queued) */
	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if (s && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
			s->head_done = true;
			queue(s);
		}
		break;
	case NGHTTP2_DATA:
		/* an empty DATA frame that does not end the stream carries nothing */
		if (f->hd.length == 0 && !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
			ok = glitch(c, "empty DATA");
		break;
	case NGHTTP2_PING:
		if (!(f->hd.flags & NGHTTP2_FLAG_ACK))
			ok = glitch(c, "PING");
		break;
	case NGHTTP2_SETTINGS:
		if (!(f->hd.flags & NGHTTP2_FLAG_ACK))
			ok = glitch(c, "SETTINGS");
		break;
	case NGHTTP2_PRIORITY:
		ok = glitch(c, "PRIORITY");
		break;
	case NGHTTP2_RST_STREAM:
		/* a client cancelling a request it made is fine now and then;
		 * thousands of them are the rapid reset attack (CVE-2023-44487) */
		if (!s || !s->eof_sent)
			ok = glitch(c, "RST_STREAM");
		break;
	default:
		break;
	}
	if (s && (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		s->end_stream = true;
		if (s->x) {
			s->x->complete = true;
			fc_exchange_check_sent(s->x);
		}
		queue(s);
	}
	(void)ok; /* the rest of this read is looked at, no more is read */
	return 0;
}

static int on_stream_close(nghttp2_session *sess, int32_t id, uint32_t code, void *ud)
{
	(void)code;
	(void)ud;
	struct fc_h2_stream *s = nghttp2_session_get_stream_user_data(sess, id);
	if (!s)
		return 0;
	nghttp2_session_set_stream_user_data(sess, id, NULL);
	s->closed = true;
	queue(s); /* the pump ends its exchange and frees it */
	return 0;
}

/* ---------------------------------------------------------------- responses */

/* An HTTP/2 server's trailers (grpc-status...) follow the last DATA. */
static void send_trailers(nghttp2_session *sess, int32_t id, struct fc_upstream *u, uint32_t *flags)
{
	if (!u || !u->h2)
		return;
	nghttp2_nv nv[FC_H1_MAX_HEADERS];
	size_t n = fc_h2up_trailers(u, nv, sizeof(nv) / sizeof(nv[0]));
	if (n && nghttp2_submit_trailer(sess, id, nv, n) == 0)
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
}

/* DATA of a response from its server: what the upstream parsed is copied
 * out as nghttp2 asks for it. */
static ssize_t read_upstream(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t length,
                             uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct fc_client *c = client_of_session(ud);
	struct fc_h2_stream *s = src->ptr;
	struct fc_exchange *x = s->x;
	if (!x) { /* ended after every byte was taken */
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		s->eof_sent = true;
		goto eof;
	}
	struct fc_upstream *u = x->up;
	size_t avail = u && u->in ? u->rparsed - u->in->rpos : 0;
	if (avail == 0) {
		if (x->phase != FC_X_DONE) {
			s->deferred = true;
			return NGHTTP2_ERR_DEFERRED;
		}
		if (x->aborted)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM: cut */
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		s->eof_sent = true;
		send_trailers(sess, id, u, flags);
		queue(s);
		goto eof;
	}
	size_t n = avail < length ? avail : length;
	memcpy(buf, u->in->data + u->in->rpos, n);
	u->in->rpos += (uint32_t)n;
	x->bytes_out += n;
	if (u->in->rpos == u->in->wpos && u->rparsed == u->in->wpos)
		u->in->rpos = u->in->wpos = u->rparsed = 0;
	if (u->h2)
		fc_h2up_consumed(u, n);
	if (n == avail && x->phase == FC_X_DONE && !x->aborted) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		s->eof_sent = true;
		send_trailers(sess, id, u, flags);
	}
	s->active_ms = fc_client_now(c);
	queue(s); /* the upstream has room again; the exchange may be done */
	if (!(*flags & NGHTTP2_DATA_FLAG_EOF))
		return (ssize_t)n;
	if (!s->end_stream) /* RFC 9113 §8.1: the rest of the request is not needed */
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
	return (ssize_t)n;
eof:
	if (!s->end_stream)
		nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
	return 0;
}

/* DATA of a response of fulcrum's own. */
static ssize_t read_local(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t length,
                          uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	(void)ud;
	struct fc_h2_stream *s = src->ptr;
	size_t n = s->local_len - s->local_off;
	if (n > length)
		n = length;
	memcpy(buf, s->local + s->local_off, n);
	s->local_off += (uint32_t)n;
	if (s->local_off == s->local_len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		s->eof_sent = true;
		if (!s->end_stream)
			nghttp2_submit_rst_stream(sess, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
	}
	return (ssize_t)n;
}

/* The response head's fields for nghttp2: :status, then the server's
 * end-to-end headers with their names lowercased in place (the head's bytes
 * are consumed once it is handled), plus extra (a Set-Cookie). */
static size_t response_nv(nghttp2_nv *nv, size_t cap, char *status, const struct fc_h1_head *hd,
                          const char *cookie, size_t cookie_len)
{
	size_t n = 0;
	snprintf(status, 4, "%03u", (unsigned)(hd->status % 1000));
	nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
	for (uint32_t i = 0; i < hd->n_headers && n + 1 < cap; i++) {
		const struct fc_h1_header *h = &hd->h[i];
		if (h->hop)
			continue;
		char *name = (char *)h->name;
		for (uint32_t k = 0; k < h->name_len; k++)
			if (name[k] >= 'A' && name[k] <= 'Z')
				name[k] = (char)(name[k] + 32);
		nv[n++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)h->value, h->name_len,
		                       h->value_len, NGHTTP2_NV_FLAG_NONE};
	}
	if (cookie && n < cap)
		nv[n++] = (nghttp2_nv){(uint8_t *)"set-cookie", (uint8_t *)cookie, 10, cookie_len,
		                       NGHTTP2_NV_FLAG_NONE};
	return n;
}

bool fc_h2_respond(struct fc_exchange *x, const struct fc_h1_head *hd, const char *cookie,
                   size_t cookie_len, bool no_body)
{
	struct fc_h2_stream *s = x->h2s;
	if (s->closed)
		return false;
	nghttp2_nv nv[FC_H1_MAX_HEADERS + 2];
	char status[4];
	size_t n = response_nv(nv, sizeof(nv) / sizeof(nv[0]), status, hd, cookie, cookie_len);
	nghttp2_data_provider prd = {.source = {.ptr = s}, .read_callback = read_upstream};
	int rc = nghttp2_submit_response(s->h->sess, s->id, nv, n, no_body ? NULL : &prd);
	if (rc != 0) {
		fc_warn("HTTP/2 stream %d: response refused: %s", s->id, nghttp2_strerror(rc));
		return false;
	}
	s->responded = true;
	s->status = hd->status;
	if (no_body) {
		s->eof_sent = true;
		if (!s->end_stream)
			nghttp2_submit_rst_stream(s->h->sess, NGHTTP2_FLAG_NONE, s->id,
			                          NGHTTP2_NO_ERROR);
	}
	return true;
}

void fc_h2_data_ready(struct fc_exchange *x)
{
	struct fc_h2_stream *s = x->h2s;
	if (!s->deferred)
		return;
	struct fc_upstream *u = x->up;
	if (x->phase == FC_X_DONE || (u && u->in && u->rparsed > u->in->rpos)) {
		s->deferred = false;
		nghttp2_session_resume_data(s->h->sess, s->id);
	}
}

void fc_h2_respond_local(struct fc_h2_stream *s, const char *resp, size_t n)
{
	if (s->closed || s->responded)
		return;
	/* the same bytes an HTTP/1.1 client gets, turned into fields */
	struct fc_h1 p;
	struct fc_h1_head *hd = malloc(sizeof(*hd));
	char *copy = malloc(n ? n : 1);
	const char *err = NULL;
	if (!hd || !copy) {
		free(hd);
		free(copy);
		nghttp2_submit_rst_stream(s->h->sess, NGHTTP2_FLAG_NONE, s->id,
		                          NGHTTP2_INTERNAL_ERROR);
		return;
	}
	memcpy(copy, resp, n);
	fc_h1_init(&p, true);
	size_t end = fc_h1_head_end(copy, n, 0);
	int rc = end ? fc_h1_parse_head(&p, copy, end, hd, false, &err) : FC_H1_ERROR;
	if (rc == FC_H1_ERROR) {
		fc_error("HTTP/2 stream %d: a local response did not parse: %s", s->id,
		         err ? err : "no head");
		nghttp2_submit_rst_stream(s->h->sess, NGHTTP2_FLAG_NONE, s->id,
		                          NGHTTP2_INTERNAL_ERROR);
		free(hd);
		free(copy);
		return;
	}
	nghttp2_nv nv[FC_H1_MAX_HEADERS + 2];
	char status[4];
	size_t nn = response_nv(nv, sizeof(nv) / sizeof(nv[0]), status, hd, NULL, 0);
	s->local_len = (uint32_t)(n - end);
	s->local_off = 0;
	s->local = malloc(s->local_len ? s->local_len : 1);
	if (s->local)
		memcpy(s->local, copy + end, s->local_len);
	else
		s->local_len = 0;
	nghttp2_data_provider prd = {.source = {.ptr = s}, .read_callback = read_local};
	/* nghttp2 copies the fields */
	if (nghttp2_submit_response(s->h->sess, s->id, nv, nn, s->local_len ? &prd : NULL) == 0) {
		s->responded = true;
		s->status = hd->status;
		if (!s->local_len) {
			s->eof_sent = true;
			if (!s->end_stream)
				nghttp2_submit_rst_stream(s->h->sess, NGHTTP2_FLAG_NONE, s->id,
				                          NGHTTP2_NO_ERROR);
		}
	}
	free(hd);
	free(copy);
}

void fc_h2_stream_done(struct fc_h2_stream *s, bool aborted)
{
	if (aborted && !s->closed && !s->eof_sent)
		nghttp2_submit_rst_stream(s->h->sess, NGHTTP2_FLAG_NONE, s->id,
		                          NGHTTP2_INTERNAL_ERROR);
	else if (s->deferred && !s->closed) {
		s->deferred = false; /* read_upstream says EOF now */
		nghttp2_session_resume_data(s->h->sess, s->id);
	}
	queue(s);
}

void fc_h2_reset(struct fc_h2_stream *s)
{
	if (!s->closed)
		nghttp2_submit_rst_stream(s->h->sess, NGHTTP2_FLAG_NONE, s->id,
		                          NGHTTP2_INTERNAL_ERROR);
	queue(s);
}

/* ---------------------------------------------------------------- request body */

/* Gives body bytes the server took back to the windows; frees the ones no
 * retry needs. While the body so far fits retry.replay_buffer it stays
 * whole for a retry (its sent bytes still open the windows, so the client
 * is never held back by what fulcrum keeps); once it is longer and a byte
 * of it went out, the request cannot be repeated. */
static void body_release(struct fc_exchange *x)
{
	struct fc_h2_stream *s = x->h2s;
	uint32_t k = x->sent;
	if (k == 0)
		return;
	if (x->replayable) {
		uint32_t rb = x->pool ? x->pool->cfg->retry.replay_buffer : 0;
		if (s->body_len <= rb) {
			if (k > s->consumed) {
				if (!s->closed)
					nghttp2_session_consume(s->h->sess, s->id, k - s->consumed);
				s->consumed = k;
			}
			return;
		}
		x->replayable = false;
	}
	uint32_t done = s->consumed < k ? s->consumed : k;
	memmove(s->body, s->body + k, s->body_len - k);
	s->body_len -= k;
	x->body_start = x->body_start > k ? x->body_start - k : 0;
	x->sent -= k;
	x->parsed -= k;
	if (!s->closed && k > done)
		nghttp2_session_consume(s->h->sess, s->id, k - done);
	s->consumed -= done;
}

int fc_h2_body_iov(struct fc_exchange *x, struct iovec *iov)
{
	struct fc_h2_stream *s = x->h2s;
	int n = 0;
	if (!s->chunked) {
		if (x->parsed > x->sent)
			iov[n++] = (struct iovec){s->body + x->sent, x->parsed - x->sent};
		return n;
	}
	if (!s->in_chunk) {
		if (x->parsed > x->sent) {
			s->chunk_left = x->parsed - x->sent;
			s->chunk_hdr_len = (uint8_t)snprintf(s->chunk_hdr, sizeof(s->chunk_hdr),
			                                     "%x\r\n", s->chunk_left);
		} else if (x->complete && !s->last_sent) {
			s->chunk_left = 0;
			memcpy(s->chunk_hdr, "0\r\n\r\n", 5);
			s->chunk_hdr_len = 5;
		} else {
			return 0;
		}
		s->in_chunk = true;
		s->chunk_hdr_sent = 0;
		s->chunk_crlf_sent = 0;
	}
	if (s->chunk_hdr_sent < s->chunk_hdr_len)
		iov[n++] = (struct iovec){s->chunk_hdr + s->chunk_hdr_sent,
		                          (size_t)(s->chunk_hdr_len - s->chunk_hdr_sent)};
	if (s->chunk_left)
		iov[n++] = (struct iovec){s->body + x->sent, s->chunk_left};
	if (s->chunk_hdr_len != 5 || s->chunk_hdr[0] != '0')
		iov[n++] = (struct iovec){(char *)"\r\n" + s->chunk_crlf_sent,
		                          (size_t)(2 - s->chunk_crlf_sent)};
	return n;
}

void fc_h2_body_sent(struct fc_exchange *x, size_t k)
{
	struct fc_h2_stream *s = x->h2s;
	if (!s->chunked) {
		x->sent += (uint32_t)k;
	} else if (s->in_chunk) {
		size_t a = s->chunk_hdr_len - s->chunk_hdr_sent;
		a = a < k ? a : k;
		s->chunk_hdr_sent += (uint8_t)a;
		k -= a;
		a = s->chunk_left < k ? s->chunk_left : k;
		s->chunk_left -= (uint32_t)a;
		x->sent += (uint32_t)a;
		k -= a;
		bool last = s->chunk_hdr_len == 5 && s->chunk_hdr[0] == '0';
		if (!last) {
			s->chunk_crlf_sent += (uint8_t)k;
			if (s->chunk_crlf_sent == 2)
				s->in_chunk = false;
		} else if (s->chunk_hdr_sent == s->chunk_hdr_len) {
			s->in_chunk = false;
			s->last_sent = true;
		}
	}
	body_release(x);
}

const char *fc_h2_body_peek(struct fc_exchange *x, size_t *n)
{
	struct fc_h2_stream *s = x->h2s;
	*n = x->parsed - x->sent;
	return s->body + x->sent;
}

void fc_h2_body_raw(struct fc_exchange *x)
{
	x->h2s->chunked = false;
}

bool fc_h2_eof_sent(const struct fc_h2_stream *s)
{
	return s->eof_sent;
}

bool fc_h2_body_done(const struct fc_exchange *x)
{
	const struct fc_h2_stream *s = x->h2s;
	return !s->chunked || s->last_sent;
}

void fc_h2_body_rewind(struct fc_exchange *x)
{
	struct fc_h2_stream *s = x->h2s;
	s->in_chunk = false;
	s->last_sent = false;
}

/* ---------------------------------------------------------------- starting */

static bool field_is(const struct h2_head *hh, const struct h2_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->name_len == n && memcmp(hh->data + f->name, name, n) == 0;
}

/* The HTTP methods llhttp knows (what an HTTP/1.1 client may send), by name. */
static const struct {
	const char *name;
	uint8_t len, num;
} methods[] = {
#define FC_METHOD(NUM, NAME, STRING) {#STRING, sizeof(#STRING) - 1, NUM},
        HTTP_METHOD_MAP(FC_METHOD)
#undef FC_METHOD
};

static int method_of(const char *m, size_t n)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].len == n && memcmp(methods[i].name, m, n) == 0)
			return methods[i].num;
	return -1;
}

/* The stream's head as an HTTP/1.1 head in the worker's scratch, pointing
 * into hh (which gains the joined Cookie and the access log's line). 0, or
 * the status to answer. */
static int build_head(struct fc_h2_stream *s, struct fc_h1_head *hd)
{
	struct h2_head *hh = s->head;
	const struct h2_field *method = NULL, *path = NULL, *authority = NULL, *scheme = NULL;
	memset(hd, 0, offsetof(struct fc_h1_head, h));
	hd->host = hd->xff = hd->ua = -1;
	hd->major = 1;
	hd->minor = 1;
	hd->keep_alive = true;
	int cookie_first = -1;
	uint32_t cookie_len = 0, n_cookies = 0;
	for (uint32_t i = 0; i < hh->n; i++) {
		const struct h2_field *f = &hh->f[i];
		const char *name = hh->data + f->name;
		if (name[0] == ':') {
			/* nghttp2 let only these through, once each, before the rest */
			if (field_is(hh, f, ":method"))
				method = f;
			else if (field_is(hh, f, ":path"))
				path = f;
			else if (field_is(hh, f, ":authority"))
				authority = f;
			else if (field_is(hh, f, ":scheme"))
				scheme = f;
			continue;
		}
		if (field_is(hh, f, "cookie")) {
			/* RFC 9113 §8.2.3: joined with "; " for HTTP/1.1 */
			cookie_len += f->value_len + (n_cookies ? 2 : 0);
			if (cookie_first < 0)
				cookie_first = (int)i;
			n_cookies++;
			continue;
		}
		if (hd->n_headers >= FC_H1_MAX_REQUEST_HEADERS) {
			hd->too_many = true;
			return 431;
		}
		struct fc_h1_header *h = &hd->h[hd->n_headers];
		h->name = name;
		h->name_len = f->name_len;
		h->value = hh->data + f->value;
		h->value_len = f->value_len;
		h->hop = false;
		if (field_is(hh, f, "host")) {
			if (hd->host >= 0)
				return 400; /* two Host fields */
			hd->host = (int)hd->n_headers;
			hd->n_host = 1;
		} else if (field_is(hh, f, "x-forwarded-for")) {
			if (hd->xff < 0)
				hd->xff = (int)hd->n_headers;
		} else if (field_is(hh, f, "user-agent")) {
			if (hd->ua < 0)
				hd->ua = (int)hd->n_headers;
		} else if (field_is(hh, f, "content-length")) {
			hd->has_cl = true;
		} else if (field_is(hh, f, "te")) {
			h->hop = true; /* "trailers" (nghttp2 allows no other): HTTP/1.1 hop */
			hd->has_hop = true;
		} else if (field_is(hh, f, "expect")) {
			/* answered here: the client gets its 100 at once */
			h->hop = true;
			hd->has_hop = true;
			hd->expect_continue = h->value_len == 12 &&
			                      strncasecmp(h->value, "100-continue", 12) == 0;
		}
		hd->n_headers++;
	}
	if (!method || !scheme || !path)
		return 400; /* nghttp2 checks it; kept for a head that bypasses it */
	int m = method_of(hh->data + method->value, method->value_len);
	if (m < 0)
		return 501;
	hd->method = (uint8_t)m;
	if (m == HTTP_CONNECT)
		return 405;
	if (authority) {
		const char *a = hh->data + authority->value;
		if (hd->host >= 0) {
			const struct fc_h1_header *h = &hd->h[hd->host];
			/* RFC 9113 §8.3.1: they must name the same thing */
			if (h->value_len != authority->value_len ||
			    strncasecmp(h->value, a, h->value_len) != 0)
				return 400;
		} else {
			if (hd->n_headers >= FC_H1_MAX_REQUEST_HEADERS)
				return 431;
			struct fc_h1_header *h = &hd->h[hd->n_headers];
			h->name = "Host";
			h->name_len = 4;
			h->value = a;
			h->value_len = authority->value_len;
			h->hop = false;
			hd->host = (int)hd->n_headers++;
			hd->n_host = 1;
		}
	}
	if (hd->host < 0)
		return 400; /* no :authority and no host */
	/* what is added lives after the fields in hh */
	uint32_t line_len = method->value_len + 1 + path->value_len + 9;
	if (hh->len + cookie_len + line_len > hh->cap)
		return 431;
	if (n_cookies) {
		if (hd->n_headers >= FC_H1_MAX_REQUEST_HEADERS)
			return 431;
		char *p = hh->data + hh->len;
		uint32_t k = 0;
		for (uint32_t i = (uint32_t)cookie_first; i < hh->n; i++) {
			const struct h2_field *f = &hh->f[i];
			if (!field_is(hh, f, "cookie"))
				continue;
			if (k) {
				p[k++] = ';';
				p[k++] = ' ';
			}
			memcpy(p + k, hh->data + f->value, f->value_len);
			k += f->value_len;
		}
		struct fc_h1_header *h = &hd->h[hd->n_headers++];
		h->name = "Cookie";
		h->name_len = 6;
		h->value = p;
		h->value_len = k;
		h->hop = false;
		hh->len += k;
	}
	hd->url = hh->data + path->value;
	hd->url_len = path->value_len;
	char *line = hh->data + hh->len;
	memcpy(line, hh->data + method->value, method->value_len);
	line[method->value_len] = ' ';
	memcpy(line + method->value_len + 1, hd->url, hd->url_len);
	memcpy(line + method->value_len + 1 + hd->url_len, " HTTP/2.0", 9);
	hd->first_line = line;
	hd->first_line_len = line_len;
	hh->len += line_len;
	/* a body of unknown length goes to HTTP/1.1 servers chunked */
	hd->has_body = !s->end_stream || s->body_len > 0;
	hd->chunked = hd->has_body && !hd->has_cl;
	s->chunked = hd->chunked;
	return 0;
}

/* The stream's head is whole: its exchange starts (or it is answered). */
static void stream_start(struct fc_client *c, struct fc_h2_stream *s)
{
	struct fc_h1_head *hd = &c->w->scratch;
	s->started = true;
	int status = s->too_big ? 431 : build_head(s, hd);
	if (!status && hd->expect_continue && !s->end_stream) {
		nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)"100", 7, 3,
		                 NGHTTP2_NV_FLAG_NONE};
		nghttp2_submit_headers(s->h->sess, NGHTTP2_FLAG_NONE, s->id, NULL, &nv, 1, NULL);
	}
	fc_exchange_start_h2(c, s, hd, status);
	free(s->head);
	s->head = NULL;
}

struct fc_exchange *fc_h2_stream_exchange(struct fc_h2_stream *s)
{
	return s->x;
}

void fc_h2_stream_attach_end(struct fc_exchange *x)
{
	struct fc_h2_stream *s = x->h2s;
	s->x = NULL;
	x->h2s = NULL;
	if (s->body_len > s->consumed && !s->closed) /* what the server did not need */
		nghttp2_session_consume(s->h->sess, s->id, s->body_len - s->consumed);
	s->consumed = 0;
	free(s->body);
	s->body = NULL;
	s->body_len = s->body_cap = 0;
	queue(s); /* its end runs: the rest of the body is dropped, the window given back */
}

void fc_h2_stream_refuse(struct fc_h2_stream *s)
{
	nghttp2_submit_rst_stream(s->h->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_REFUSED_STREAM);
	queue(s);
}

void fc_h2_stream_attach(struct fc_h2_stream *s, struct fc_exchange *x)
{
	s->x = x;
	x->h2s = s;
	x->complete = s->end_stream;
	x->body_start = x->sent = 0;
	x->parsed = s->body_len;
}

/* ---------------------------------------------------------------- the pump */

static uint64_t stream_deadline(struct fc_client *c, struct fc_h2_stream *s)
{
	const struct fc_config *cfg = c->w->cfg;
	if (!s->started)
		return fc_client_time(c, s->start_ms) + cfg->header_timeout_ms;
	if (!s->x)
		return fc_client_time(c, s->active_ms) + cfg->body_timeout_ms;
	uint64_t d = fc_exchange_deadline(s->x);
	return d ? d : fc_client_time(c, s->active_ms) + cfg->body_timeout_ms;
}

static void arm_for(struct fc_client *c, uint64_t d)
{
	if (!c->timer.slot || d < c->timer.when)
		fc_timer_set(&c->w->loop, &c->timer, d ? d : 1);
}

/* Runs one queued stream: starts it, steps its exchange, ends it. */
static void stream_step(struct fc_client *c, struct fc_h2_stream *s)
{
	struct fc_h2 *h = h2_of(c);
	if (s->head_done && !s->started && !s->closed)
		stream_start(c, s);
	for (int i = 0; i < 64 && s->x && !c->closed; i++) {
		struct fc_exchange *x = s->x;
		bool p = false;
		p |= fc_exchange_send(x);
		if (s->x == x && !c->closed)
			p |= fc_exchange_receive(x);
		if (s->x == x && !c->closed)
			fc_h2_data_ready(x);
		if (s->x == x && !c->closed)
			p |= fc_exchange_maybe_finish(x);
		if (!p)
			break;
	}
	if (c->closed)
		return;
	if (s->closed) {
		if (s->x)
			fc_exchange_abandon(s->x); /* reset by the client, or cut */
		stream_free(h, s);
		if (!h->n_streams)
			h->idle_ms = fc_client_now(c);
		return;
	}
	arm_for(c, stream_deadline(c, s));
}

static bool run_streams(struct fc_client *c)
{
	struct fc_h2 *h = h2_of(c);
	bool progress = false;
	while (!c->closed && !fc_link_empty(&h->ready)) {
		struct fc_link *l = h->ready.next;
		struct fc_h2_stream *s = fc_link_entry(l, struct fc_h2_stream, ready);
		fc_link_remove(l);
		s->queued = false;
		stream_step(c, s);
		progress = true;
	}
	return progress;
}

/* A GOAWAY written by hand, for a session nghttp2 will not send on any
 * more; what it had queued is dropped. */
static void raw_goaway(struct fc_client *c, uint32_t code)
{
	struct fc_h2 *h = h2_of(c);
	int32_t last = nghttp2_session_get_last_proc_stream_id(h->sess);
	uint8_t f[17] = {0, 0, 8, NGHTTP2_GOAWAY, 0, 0, 0, 0, 0};
	f[9] = (uint8_t)(last >> 24 & 0x7f);
	f[10] = (uint8_t)(last >> 16);
	f[11] = (uint8_t)(last >> 8);
	f[12] = (uint8_t)last;
	f[13] = (uint8_t)(code >> 24);
	f[14] = (uint8_t)(code >> 16);
	f[15] = (uint8_t)(code >> 8);
	f[16] = (uint8_t)code;
	h->dead = true;
	/* after a frame cut in its middle nothing can follow: just the close */
	if (!h->out_frame_cut && !fc_client_out_append(c, (const char *)f, sizeof(f)))
		fc_client_close(c);
}

/* Feeds what the client sent to nghttp2. */
static bool feed(struct fc_client *c)
{
	struct fc_h2 *h = h2_of(c);
	struct fc_buf *b = c->in;
	if (!b || b->rpos == b->wpos || h->failed || h->calm)
		return false;
	h->in_session = true;
	ssize_t n = nghttp2_session_mem_recv(h->sess, (const uint8_t *)b->data + b->rpos,
	                                     b->wpos - b->rpos);
	h->in_session = false;
	fc_buf_release(&c->w->bufs, b); /* an idle connection holds no buffer */
	c->in = NULL;
	if (n < 0) {
		fc_debug("HTTP/2: %s", nghttp2_strerror((int)n));
		h->failed = true;
		if (n == NGHTTP2_ERR_BAD_CLIENT_MAGIC || n == NGHTTP2_ERR_NOMEM) {
			fc_client_close(c); /* not HTTP/2 at all, or no memory */
			return true;
		}
		/* nghttp2 gave up on the session without a word (its flood and
		 * CONTINUATION limits): fulcrum says why itself, then closes */
		bool calm = n == NGHTTP2_ERR_FLOODED || n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
		if (calm) {
			char ip[64];
			fc_req_format_ip(&c->peer, ip, sizeof(ip));
			fc_warn("HTTP/2 client %s: %s: GOAWAY", ip, nghttp2_strerror((int)n));
			fc_ctr_inc(&c->w->ctr.h2_calm);
		}
		raw_goaway(c, calm ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_INTERNAL_ERROR);
	}
	return true;
}

/* Moves what nghttp2 has to send into the output buffer and writes it; a
 * client that does not read leaves the rest with nghttp2 (and the tail of
 * one frame in h->pend). */
static bool flush(struct fc_client *c)
{
	struct fc_h2 *h = h2_of(c);
	bool progress = false;
	for (int i = 0; i < 64; i++) {
		if (!fc_client_out_reserve(c)) {
			fc_client_close(c);
			return true;
		}
		ssize_t n = 0;
		if (!h->dead) {
			h->in_session = true;
			n = fc_h2_fill(h->sess, &h->pend, c->out);
			h->in_session = false;
			h->out_frame_cut = h->pend.n > 0;
		}
		if (n < 0) {
			fc_debug("HTTP/2: %s", nghttp2_strerror((int)n));
			h->failed = true;
		}
		if (!fc_buf_len(c->out)) {
			fc_buf_release(&c->w->bufs, c->out);
			c->out = NULL;
			break;
		}
		bool wrote = fc_client_write(c);
		if (c->closed)
			return true;
		progress |= wrote || n > 0;
		if (!wrote || (n <= 0 && !h->pend.n))
			break;
	}
	return progress;
}

bool fc_h2_run(struct fc_client *c)
{
	struct fc_h2 *h = h2_of(c);
	bool progress = false;
	if (c->closed)
		return false;
	for (int steps = 0; steps < 1000 && !c->closed; steps++) {
		bool p = false;
		p |= fc_client_read(c);
		if (!c->closed)
			p |= feed(c);
		if (!c->closed)
			p |= run_streams(c);
		if (!c->closed)
			p |= flush(c);
		if (!c->closed)
			p |= run_streams(c); /* what sending DATA let move */
		progress |= p;
		if (!p)
			break;
	}
	if (c->closed)
		return progress;
	bool out_empty = (!c->out || !fc_buf_len(c->out)) && (h->dead || !h->pend.n);
	if (c->eof ||
	    (out_empty && ((h->failed || h->calm) || (!nghttp2_session_want_read(h->sess) &&
	                                              !nghttp2_session_want_write(h->sess))))) {
		fc_client_close(c);
		return true;
	}
	if (!h->n_streams) {
		uint32_t t = c->w->draining ? 0 : c->w->cfg->client_idle_timeout_ms;
		arm_for(c, fc_client_time(c, h->idle_ms) + t);
	}
	return progress;
}

void fc_h2_timeout(struct fc_client *c)
{
	struct fc_h2 *h = h2_of(c);
	uint64_t now = c->w->loop.now_ms, next = 0;
	if (!h->n_streams) {
		if (now >= fc_client_time(c, h->idle_ms) + c->w->cfg->client_idle_timeout_ms ||
		    c->w->draining) {
			fc_h2_goaway(c);
			if (!nghttp2_session_want_write(h->sess)) {
				fc_client_close(c);
				return;
			}
		}
	}
	struct fc_link *l = h->streams.next;
	while (l != &h->streams && !c->closed) {
		struct fc_h2_stream *s = fc_link_entry(l, struct fc_h2_stream, link);
		l = l->next;
		uint64_t d = stream_deadline(c, s);
		if (now < d) {
			next = next && next < d ? next : d;
			continue;
		}
		if (s->x) {
			fc_exchange_timeout(s->x);
		} else if (!s->closed) {
			fc_debug("HTTP/2 stream %d: timeout", s->id);
			nghttp2_submit_rst_stream(h->sess, NGHTTP2_FLAG_NONE, s->id,
			                          s->started ? NGHTTP2_INTERNAL_ERROR
			                                     : NGHTTP2_PROTOCOL_ERROR);
			s->active_ms = fc_client_now(c); /* once */
		}
		queue(s);
	}
	if (c->closed)
		return;
	if (next)
		fc_timer_set(&c->w->loop, &c->timer, next);
	fc_client_run(c);
}

void fc_h2_ready(struct fc_exchange *x)
{
	queue(x->h2s);
	fc_client_run(x->c);
}

/* ---------------------------------------------------------------- life */

bool fc_h2_preface(const char *p, size_t n, bool *whole)
{
	size_t k = n < PREFACE_LEN ? n : PREFACE_LEN;
	*whole = n >= PREFACE_LEN;
	return memcmp(p, preface, k) == 0;
}

bool fc_h2_start(struct fc_client *c)
{
	const struct fc_config_http2 *cfg = &c->w->cfg->http2;
	struct fc_h2 *h = calloc(1, sizeof(*h));
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_option *opt = NULL;
	if (!h || nghttp2_session_callbacks_new(&cb) || nghttp2_option_new(&opt))
		goto oom;
	nghttp2_session_callbacks_set_send_callback(cb, fc_h2_no_send);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_invalid_header_callback(cb, on_invalid_header);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_max_outbound_ack(opt, 100);
	nghttp2_option_set_max_continuations(opt, 16);
	/* nghttp2's own rapid-reset limit ends with INTERNAL_ERROR: it stays
	 * above the glitch budget, which says ENHANCE_YOUR_CALM first */
	nghttp2_option_set_stream_reset_rate_limit(opt, 2ull * cfg->max_glitches + 100,
	                                           cfg->max_glitches / 5 + 10);
	int rc = nghttp2_session_server_new2(&h->sess, cb, c, opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	cb = NULL;
	opt = NULL;
	if (rc)
		goto oom;
	nghttp2_settings_entry iv[] = {
	        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->max_concurrent_streams},
	        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cfg->initial_window_size},
	        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, cfg->max_frame_size},
	        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->max_header_list_size},
	        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	};
	if (nghttp2_submit_settings(h->sess, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) ||
	    nghttp2_session_set_local_window_size(h->sess, NGHTTP2_FLAG_NONE, 0,
	                                          (int32_t)cfg->connection_window_size))
		goto oom;
	fc_link_init(&h->streams);
	fc_link_init(&h->ready);
	h->glitches = cfg->max_glitches;
	h->glitch_ms = c->w->loop.now_ms;
	h->idle_ms = fc_client_now(c);
	c->h2 = h;
	c->is_h2 = true;
	c->state = FC_C_ACTIVE;
	c->served = true;
	fc_ctr_inc(&c->w->ctr.h2_connections);
	return true;
oom:
	if (cb)
		nghttp2_session_callbacks_del(cb);
	if (opt)
		nghttp2_option_del(opt);
	if (h && h->sess)
		nghttp2_session_del(h->sess);
	free(h);
	fc_warn("out of memory for an HTTP/2 connection");
	return false;
}

void fc_h2_goaway(struct fc_client *c)
{
	struct fc_h2 *h = h2_of(c);
	if (h->goaway)
		return;
	h->goaway = true;
	/* the streams it took finish; later ones are refused */
	nghttp2_submit_goaway(h->sess, NGHTTP2_FLAG_NONE,
	                      nghttp2_session_get_last_proc_stream_id(h->sess), NGHTTP2_NO_ERROR,
	                      NULL, 0);
	if (!c->in_run)
		fc_client_run(c);
}

void fc_h2_close(struct fc_client *c)
{
	struct fc_h2 *h = h2_of(c);
	while (!fc_link_empty(&h->streams)) {
		struct fc_h2_stream *s = fc_link_entry(h->streams.next, struct fc_h2_stream, link);
		if (s->x)
			fc_exchange_abandon(s->x);
		stream_free(h, s);
	}
	nghttp2_session_del(h->sess);
	free(h);
	c->h2 = NULL;
}
