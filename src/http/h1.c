/* h1.c — HTTP/1.x head parsing and body framing with llhttp, plus the
 * semantic checks llhttp leaves to us (Host, hop-by-hop headers, RFC 9112). */
#include "http/h1.h"

#include <string.h>
#include <strings.h>

struct exec_ctx {
	struct fc_h1 *h1;
	const char *base; /* start of the bytes given to llhttp_execute */
	struct fc_h1_head *head;
	fc_h1_body_fn on_body;
	void *body_ctx;
	bool in_head;
	bool head_request;
	bool field_open; /* inside a field name */
	bool value_open; /* inside a field value */
	bool headers_done;
};

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct exec_ctx *x = p->data;
	if (!x->in_head)
		return 0;
	if (x->head->url && x->head->url + x->head->url_len == at)
		x->head->url_len += (uint32_t)len;
	else {
		x->head->url = at;
		x->head->url_len = (uint32_t)len;
	}
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct exec_ctx *x = p->data;
	if (!x->in_head) {
		x->h1->tval_end = 0; /* trailers: forwarded raw */
		return 0;
	}
	struct fc_h1_head *hd = x->head;
	if (x->field_open) {
		hd->h[hd->n_headers - 1].name_len += (uint32_t)len;
		return 0;
	}
	uint32_t max =
	        p->type == HTTP_REQUEST ? FC_H1_MAX_REQUEST_HEADERS : FC_H1_MAX_RESPONSE_HEADERS;
	if (hd->n_headers >= max) {
		hd->too_many = true;
		llhttp_set_error_reason(p, "too many headers");
		return HPE_USER;
	}
	struct fc_h1_header *h = &hd->h[hd->n_headers++];
	h->name = at;
	h->name_len = (uint32_t)len;
	h->value = at + len;
	h->value_len = 0;
	h->hop = false;
	x->field_open = true;
	return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
	struct exec_ctx *x = p->data;
	x->field_open = false;
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct exec_ctx *x = p->data;
	if (!x->in_head) {
		/* trailers are forwarded raw: they must be as strict as heads */
		for (size_t i = 0; i < len; i++)
			if (at[i] == '\r' || at[i] == '\n' || at[i] == 0) {
				llhttp_set_error_reason(p, "invalid trailer value");
				return HPE_USER;
			}
		/* llhttp reports an obs-fold as more value after the line ended:
		 * a split read continues where the last piece ended, a fold skips
		 * the CRLF (RFC 9112 §5.2) */
		uint64_t off = x->h1->fed + (uint64_t)(at - x->base);
		if (x->h1->tval_end && off != x->h1->tval_end) {
			llhttp_set_error_reason(p, "folded trailer");
			return HPE_USER;
		}
		x->h1->tval_end = off + len;
		return 0;
	}
	struct fc_h1_header *h = &x->head->h[x->head->n_headers - 1];
	if (!x->value_open) {
		h->value = at;
		h->value_len = (uint32_t)len;
		x->value_open = true;
	} else {
		h->value_len = (uint32_t)(at + len - h->value);
	}
	return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
	struct exec_ctx *x = p->data;
	if (!x->in_head)
		x->h1->tval_end = 0;
	if (x->in_head && x->value_open) {
		/* RFC 9112 §5: trailing whitespace is not part of the value */
		struct fc_h1_header *h = &x->head->h[x->head->n_headers - 1];
		while (h->value_len &&
		       (h->value[h->value_len - 1] == ' ' || h->value[h->value_len - 1] == '\t'))
			h->value_len--;
	}
	x->value_open = false;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct exec_ctx *x = p->data;
	if (x->in_head && x->head) {
		x->head->keep_alive = llhttp_should_keep_alive(p);
		x->headers_done = true;
	}
	if (p->type == HTTP_RESPONSE) {
		unsigned st = p->status_code;
		/* RFC 9110 §6.4.1, §15.2: no body after HEAD, 1xx (101 too: what
		 * follows it is not HTTP, and upgrades are not relayed yet), 204,
		 * 304, whatever the framing headers say (a 304 may carry
		 * Content-Length) */
		if (x->head_request || (st >= 100 && st < 200) || st == 204 || st == 304)
			return 1;
	}
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct exec_ctx *x = p->data;
	if (x->on_body)
		x->on_body(x->body_ctx, at, len);
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	(void)p;
	return HPE_PAUSED; /* stop exactly at the message boundary */
}

static const llhttp_settings_t settings_req = {
        .on_url = on_url,
        .on_header_field = on_header_field,
        .on_header_value = on_header_value,
        .on_header_field_complete = on_header_field_complete,
        .on_header_value_complete = on_header_value_complete,
        .on_headers_complete = on_headers_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
};

void fc_h1_init(struct fc_h1 *h, bool response)
{
	llhttp_init(&h->p, response ? HTTP_RESPONSE : HTTP_REQUEST, &settings_req);
}

size_t fc_h1_head_end(const char *buf, size_t len, size_t from)
{
	size_t i = from > 3 ? from - 3 : 0;
	/* empty lines before a request line are ignored (RFC 9112 §2.2): the
	 * terminator is only looked for after them */
	size_t lead = 0;
	while (lead < len && (buf[lead] == '\r' || buf[lead] == '\n'))
		lead++;
	if (lead == len)
		return 0;
	if (i < lead)
		i = lead;
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		if (!nl)
			return 0;
		size_t k = (size_t)(nl - buf);
		if (k + 1 < len && buf[k + 1] == '\n')
			return k + 2;
		if (k + 2 < len && buf[k + 1] == '\r' && buf[k + 2] == '\n')
			return k + 3;
		i = k + 1;
	}
	return 0;
}

bool fc_h1_name_is(const struct fc_h1_header *hd, const char *name, size_t len)
{
	return hd->name_len == len && strncasecmp(hd->name, name, len) == 0;
}

const struct fc_h1_header *fc_h1_find(const struct fc_h1_head *hd, const char *name, size_t len)
{
	for (uint32_t i = 0; i < hd->n_headers; i++)
		if (fc_h1_name_is(&hd->h[i], name, len))
			return &hd->h[i];
	return NULL;
}

bool fc_h1_method_idempotent(uint8_t m)
{
	return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS || m == HTTP_TRACE ||
	       m == HTTP_PUT || m == HTTP_DELETE;
}

bool fc_h1_next_token(const char **s, const char *end, const char **tok, size_t *tlen)
{
	const char *p = *s;
	while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
		p++;
	if (p >= end)
		return false;
	const char *t = p;
	while (p < end && *p != ',')
		p++;
	const char *e = p;
	while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*tok = t;
	*tlen = (size_t)(e - t);
	*s = p;
	return true;
}

static bool token_is(const char *t, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(t, lit, len) == 0;
}

bool fc_h1_upgrade_token_ok(const char *tok, size_t len)
{
	/* "h2c" alone or with a version ("h2c/1"): RFC 9110 §7.8 protocol/version */
	return len > 0 &&
	       !(len >= 3 && strncasecmp(tok, "h2c", 3) == 0 && (len == 3 || tok[3] == '/'));
}

bool fc_h1_tokens_next(const struct fc_h1_head *hd, const char *name, size_t len,
                       struct fc_h1_tokens *it, const char **tok, size_t *tlen)
{
	for (;;) {
		if (it->s && fc_h1_next_token(&it->s, it->end, tok, tlen))
			return true;
		while (it->i < hd->n_headers && !fc_h1_name_is(&hd->h[it->i], name, len))
			it->i++;
		if (it->i >= hd->n_headers)
			return false;
		const struct fc_h1_header *h = &hd->h[it->i++];
		it->s = h->value;
		it->end = h->value + h->value_len;
	}
}

/* True when some Upgrade header names a protocol fulcrum tunnels. */
static bool upgrade_wanted(const struct fc_h1_head *hd)
{
	struct fc_h1_tokens it = {0};
	const char *t;
	size_t tl;
	while (fc_h1_tokens_next(hd, "upgrade", 7, &it, &t, &tl))
		if (fc_h1_upgrade_token_ok(t, tl))
			return true;
	return false;
}

static bool is_fixed_hop(const struct fc_h1_header *h)
{
	/* "Close" is a reserved field name (RFC 9110 §18.4): it would read as
	 * hop-by-hop next to Connection: close, so it never passes */
	return FC_H1_NAME_IS(h, "connection") || FC_H1_NAME_IS(h, "keep-alive") ||
	       FC_H1_NAME_IS(h, "close") || FC_H1_NAME_IS(h, "proxy-connection") ||
	       FC_H1_NAME_IS(h, "te") || FC_H1_NAME_IS(h, "trailer") ||
	       FC_H1_NAME_IS(h, "upgrade") || FC_H1_NAME_IS(h, "transfer-encoding") ||
	       FC_H1_NAME_IS(h, "proxy-authorization") || FC_H1_NAME_IS(h, "proxy-authenticate");
}

/* Marks hop-by-hop headers and extracts what the proxy acts on. */
static int analyze(struct fc_h1_head *hd, bool response, const char **err)
{
	hd->host = -1;
	hd->xff = -1;
	hd->ua = -1;
	for (uint32_t i = 0; i < hd->n_headers; i++) {
		struct fc_h1_header *h = &hd->h[i];
		/* field values must not carry CR/LF (obs-fold) or NUL */
		for (uint32_t k = 0; k < h->value_len; k++) {
			char c = h->value[k];
			if (c == '\r' || c == '\n' || c == 0) {
				*err = "invalid header value";
				return FC_H1_ERROR;
			}
		}
		if (h->name_len == 0) {
			*err = "empty header name";
			return FC_H1_ERROR;
		}
		h->hop = is_fixed_hop(h);
		if (h->hop)
			hd->has_hop = true;
		if (!response && FC_H1_NAME_IS(h, "host")) {
			if (hd->host < 0)
				hd->host = (int)i;
			hd->n_host++;
		} else if (!response && hd->xff < 0 && FC_H1_NAME_IS(h, "x-forwarded-for")) {
			hd->xff = (int)i;
		} else if (!response && hd->ua < 0 && FC_H1_NAME_IS(h, "user-agent")) {
			hd->ua = (int)i;
		} else if (FC_H1_NAME_IS(h, "content-length")) {
			hd->has_cl = true;
		} else if (FC_H1_NAME_IS(h, "transfer-encoding")) {
			hd->has_te = true;
		} else if (!response && FC_H1_NAME_IS(h, "expect")) {
			if (h->value_len == 12 && strncasecmp(h->value, "100-continue", 12) == 0)
				hd->expect_continue = true;
		}
	}
	/* Connection: options and the headers it names */
	struct fc_h1_tokens it = {0};
	const char *t;
	size_t tl;
	while (fc_h1_tokens_next(hd, "connection", 10, &it, &t, &tl)) {
		if (token_is(t, tl, "close"))
			hd->conn_close = true;
		else if (token_is(t, tl, "keep-alive"))
			hd->conn_keepalive = true;
		else if (token_is(t, tl, "upgrade"))
			hd->conn_upgrade = true;
		for (uint32_t j = 0; j < hd->n_headers; j++) {
			struct fc_h1_header *o = &hd->h[j];
			if (!o->hop && o->name_len == tl && strncasecmp(o->name, t, tl) == 0) {
				/* never let a client strip what framing depends on */
				if (FC_H1_NAME_IS(o, "content-length") || FC_H1_NAME_IS(o, "host"))
					continue;
				o->hop = true;
				hd->has_hop = true;
			}
		}
	}
	/* RFC 9110 §7.8: a server ignores Upgrade in an HTTP/1.0 request */
	hd->upgrade = hd->conn_upgrade && (response || hd->minor >= 1) && upgrade_wanted(hd);
	return FC_H1_OK;
}

/* True when some LF in buf[0..len) is not preceded by CR. Empty lines before
 * a request line are skipped by the caller's terminator search, not here. */
static bool has_bare_lf(const char *buf, size_t len)
{
	size_t i = 0;
	while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
		i++;
	for (;;) {
		const char *nl = memchr(buf + i, '\n', len - i);
		if (!nl)
			return false;
		size_t k = (size_t)(nl - buf);
		if (k == 0 || buf[k - 1] != '\r')
			return true;
		i = k + 1;
	}
}

/* The transfer-codings of all Transfer-Encoding headers, in order. */
struct te_codings {
	int n_chunked, n_other;
	bool last_chunked;
};

static struct te_codings te_scan(const struct fc_h1_head *hd)
{
	struct te_codings c = {0};
	struct fc_h1_tokens it = {0};
	const char *t;
	size_t tl;
	while (fc_h1_tokens_next(hd, "transfer-encoding", 17, &it, &t, &tl)) {
		c.last_chunked = token_is(t, tl, "chunked");
		if (c.last_chunked)
			c.n_chunked++;
		else
			c.n_other++;
	}
	return c;
}

/* Request codings (RFC 9112 §6.1): 0 when the only coding is one final
 * chunked; 400 when chunked is missing, repeated or not last; 501 when a
 * coding we do not relay (gzip...) precedes the final chunked. */
static int te_check(const struct te_codings *c)
{
	if (c->n_chunked != 1 || !c->last_chunked)
		return 400;
	return c->n_other ? 501 : 0;
}

int fc_h1_parse_head(struct fc_h1 *h, const char *buf, size_t len, struct fc_h1_head *out,
                     bool head_request, const char **err)
{
	llhttp_t *p = &h->p;
	llhttp_reset(p);
	memset(out, 0, offsetof(struct fc_h1_head, h));
	struct exec_ctx x = {.h1 = h, .head = out, .in_head = true, .head_request = head_request};
	h->fed = 0;
	h->tval_end = 0;
	p->data = &x;
	*err = NULL;
	out->head_len = (uint32_t)len;
	/* the first line, for logs and for the status line of responses */
	const char *s = buf;
	while (s < buf + len && (*s == '\r' || *s == '\n'))
		s++;
	const char *eol = memchr(s, '\n', (size_t)(buf + len - s));
	out->first_line = s;
	out->first_line_len = eol ? (uint32_t)(eol - s) : 0;
	if (out->first_line_len && s[out->first_line_len - 1] == '\r')
		out->first_line_len--;

	enum llhttp_errno e = llhttp_execute(p, buf, len);
	int rc = FC_H1_OK;
	if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
		if (e == HPE_PAUSED)
			llhttp_resume(p);
		else
			llhttp_resume_after_upgrade(p);
		rc = FC_H1_COMPLETE;
		if ((size_t)(llhttp_get_error_pos(p) - buf) != len) {
			*err = "data after head";
			return FC_H1_ERROR;
		}
	} else if (e != HPE_OK) {
		*err = llhttp_get_error_reason(p) ? llhttp_get_error_reason(p)
		                                  : llhttp_errno_name(e);
		p->data = NULL;
		return FC_H1_ERROR;
	}
	p->data = NULL;
	if (!x.headers_done) {
		*err = "incomplete head";
		return FC_H1_ERROR;
	}
	/* strict line endings: every line ends with CRLF (llhttp 8 lets a bare
	 * LF through in places, e.g. after a status line) */
	if (len < 4 || memcmp(buf + len - 4, "\r\n\r\n", 4) != 0 || has_bare_lf(buf, len)) {
		*err = "line not ended by CRLF";
		return FC_H1_ERROR;
	}
	if (p->type == HTTP_RESPONSE && (p->status_code < 100 || p->status_code > 999)) {
		*err = "invalid status code";
		return FC_H1_ERROR;
	}
	out->method = p->method;
	out->major = p->http_major;
	out->minor = p->http_minor;
	out->status = p->status_code;
	out->content_length = p->content_length;
	bool response = p->type == HTTP_RESPONSE;
	if (analyze(out, response, err) != FC_H1_OK)
		return FC_H1_ERROR;
	if (out->conn_close)
		out->keep_alive = false; /* whatever llhttp made of the rest */
	out->chunked = (p->flags & F_CHUNKED) != 0;
	struct te_codings te = {0};
	if (out->has_te)
		te = te_scan(out);
	if (out->has_te && !out->chunked && te.n_chunked) {
		/* llhttp did not frame it as chunked ("chunked" with odd
		 * whitespace...) but the next hop would: refuse the ambiguity */
		*err = "ambiguous transfer-encoding";
		return FC_H1_ERROR;
	}
	if (!response && out->has_te) {
		int bad = te_check(&te);
		if (bad) {
			/* we relay chunked only: another coding would reach the
			 * server with nobody to decode it (nginx answers 501 too) */
			*err = bad == 501 ? "unsupported transfer-coding"
			                  : "invalid transfer-encoding";
			out->bad_te = bad == 501;
			return FC_H1_ERROR;
		}
	}
	out->has_body = rc == FC_H1_OK;
	if (response && out->has_body && !out->chunked && !out->has_cl)
		out->close_delimited = true;
	return rc;
}

static void track_tail(struct fc_h1 *h, const char *buf, size_t n)
{
	size_t from = n > 4 ? n - 4 : 0;
	for (size_t i = from; i < n; i++)
		h->tail = h->tail << 8 | (uint8_t)buf[i];
}

int fc_h1_body(struct fc_h1 *h, const char *buf, size_t len, size_t *consumed,
               fc_h1_body_fn on_body_fn, void *ctx, const char **err)
{
	llhttp_t *p = &h->p;
	struct exec_ctx x = {.h1 = h, .base = buf, .on_body = on_body_fn, .body_ctx = ctx};
	p->data = &x;
	enum llhttp_errno e = llhttp_execute(p, buf, len);
	p->data = NULL;
	if (e == HPE_OK) {
		*consumed = len;
		h->fed += len;
		track_tail(h, buf, len);
		return FC_H1_OK;
	}
	if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
		*consumed = (size_t)(llhttp_get_error_pos(p) - buf);
		track_tail(h, buf, *consumed);
		h->fed = 0;
		h->tval_end = 0;
		/* llhttp 8 lets a bare LF end the trailer section; a chunked
		 * message always ends with CRLF CRLF (RFC 9112 §7.1) */
		if ((p->flags & F_CHUNKED) && h->tail != 0x0d0a0d0au) {
			*consumed = 0;
			*err = "chunked message not ended by CRLF";
			return FC_H1_ERROR;
		}
		if (e == HPE_PAUSED)
			llhttp_resume(p);
		else
			llhttp_resume_after_upgrade(p);
		return FC_H1_COMPLETE;
	}
	*consumed = 0;
	*err = llhttp_get_error_reason(p) ? llhttp_get_error_reason(p) : llhttp_errno_name(e);
	return FC_H1_ERROR;
}

int fc_h1_eof(struct fc_h1 *h)
{
	struct exec_ctx x = {.h1 = h};
	h->p.data = &x;
	enum llhttp_errno e = llhttp_finish(&h->p);
	h->p.data = NULL;
	if (e == HPE_OK || e == HPE_PAUSED)
		return FC_H1_COMPLETE;
	return FC_H1_ERROR;
}
