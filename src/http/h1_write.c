/* h1_write.c — building heads for the next hop. Plain memcpy into a buffer:
 * no allocation, no formatting on the common path. */
#include "http/h1_write.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct out {
	char *p, *end;
	bool overflow;
};

static inline void put(struct out *o, const char *s, size_t n)
{
	if ((size_t)(o->end - o->p) < n) {
		o->overflow = true;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}
#define PUT_LIT(o, lit) put((o), lit, sizeof(lit) - 1)

static void put_header(struct out *o, const struct fc_h1_header *h)
{
	put(o, h->name, h->name_len);
	PUT_LIT(o, ": ");
	put(o, h->value, h->value_len);
	PUT_LIT(o, "\r\n");
}

/* Upgrade and Connection: upgrade for the next hop (RFC 9110 §7.8): the
 * protocols fulcrum tunnels, in the client's order (h2c left out). */
static void put_upgrade(struct out *o, const struct fc_h1_head *hd)
{
	PUT_LIT(o, "Upgrade: ");
	bool first = true;
	struct fc_h1_tokens it = {0};
	const char *t;
	size_t tl;
	while (fc_h1_tokens_next(hd, "upgrade", 7, &it, &t, &tl)) {
		if (!fc_h1_upgrade_token_ok(t, tl))
			continue;
		if (!first)
			PUT_LIT(o, ", ");
		put(o, t, tl);
		first = false;
	}
	PUT_LIT(o, "\r\nConnection: upgrade\r\n");
}

static bool replaced_on_request(const struct fc_h1_header *h)
{
	return FC_H1_NAME_IS(h, "x-forwarded-for") || FC_H1_NAME_IS(h, "x-forwarded-proto") ||
	       FC_H1_NAME_IS(h, "x-forwarded-host");
}

size_t fc_h1_write_request(char *buf, size_t cap, const struct fc_h1_head *hd,
                           const struct fc_h1_req_extra *x)
{
	struct out o = {buf, buf + cap, false};
	const char *m = llhttp_method_name((llhttp_method_t)hd->method);
	put(&o, m, strlen(m));
	PUT_LIT(&o, " ");
	put(&o, hd->url, hd->url_len);
	PUT_LIT(&o, " HTTP/1.1\r\n");
	for (uint32_t i = 0; i < hd->n_headers; i++) {
		const struct fc_h1_header *h = &hd->h[i];
		if (h->hop || replaced_on_request(h))
			continue;
		put_header(&o, h);
	}
	if (hd->chunked)
		PUT_LIT(&o, "Transfer-Encoding: chunked\r\n");
	if (hd->upgrade)
		put_upgrade(&o, hd);
	/* X-Forwarded-For: every earlier value, then this client */
	PUT_LIT(&o, "X-Forwarded-For: ");
	for (uint32_t i = (uint32_t)(hd->xff < 0 ? (int)hd->n_headers : hd->xff); i < hd->n_headers;
	     i++) {
		const struct fc_h1_header *h = &hd->h[i];
		if (!FC_H1_NAME_IS(h, "x-forwarded-for") || h->value_len == 0)
			continue;
		put(&o, h->value, h->value_len);
		PUT_LIT(&o, ", ");
	}
	put(&o, x->client_ip, x->client_ip_len);
	PUT_LIT(&o, "\r\nX-Forwarded-Proto: ");
	put(&o, x->proto, strlen(x->proto));
	PUT_LIT(&o, "\r\n");
	if (hd->host >= 0) {
		PUT_LIT(&o, "X-Forwarded-Host: ");
		put(&o, hd->h[hd->host].value, hd->h[hd->host].value_len);
		PUT_LIT(&o, "\r\n");
	}
	if (hd->major == 1 && hd->minor == 0)
		PUT_LIT(&o, "Via: 1.0 fulcrum\r\n");
	else
		PUT_LIT(&o, "Via: 1.1 fulcrum\r\n");
	/* last, so that a retry on another server can replace it in place */
	if (hd->host < 0 && x->host) {
		PUT_LIT(&o, "Host: ");
		put(&o, x->host, x->host_len);
		PUT_LIT(&o, "\r\n");
	}
	PUT_LIT(&o, "\r\n");
	return o.overflow ? 0 : (size_t)(o.p - buf);
}

/* True when the value is "keep-alive" tokens only ("keep-alive", "Keep-Alive,
 * keep-alive"): such a Connection header names no other header and says
 * what the rewrite would say. */
static bool only_keepalive(const struct fc_h1_header *h)
{
	const char *p = h->value, *end = h->value + h->value_len;
	bool any = false;
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p == end)
			return any;
		const char *t = p;
		while (p < end && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if (p - t != 10 || strncasecmp(t, "keep-alive", 10) != 0)
			return false;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && *p != ',')
			return false;
		any = true;
	}
}

bool fc_h1_response_passthrough(const struct fc_h1_head *hd, const struct fc_h1_resp_extra *x)
{
	if (x->close || x->dechunk || x->set_cookie || x->upgrade)
		return false;
	/* keep-alive is the default in HTTP/1.1 (RFC 9112 §9.3): a server's
	 * "Connection: keep-alive" may reach a 1.1 client as it is; a 1.0 client
	 * that keeps the connection needs it (x->keep_alive), so then it must be
	 * there already */
	if (x->keep_alive && !(hd->conn_keepalive && !hd->conn_close))
		return false;
	if (!hd->has_hop)
		return true;
	/* Transfer-Encoding is framing we keep as the server sent it;
	 * Connection may stay when it says keep-alive and nothing else */
	for (uint32_t i = 0; i < hd->n_headers; i++) {
		const struct fc_h1_header *h = &hd->h[i];
		if (!h->hop || FC_H1_NAME_IS(h, "transfer-encoding"))
			continue;
		if (FC_H1_NAME_IS(h, "connection") && only_keepalive(h))
			continue;
		return false;
	}
	return true;
}

size_t fc_h1_write_response(char *buf, size_t cap, const struct fc_h1_head *hd,
                            const struct fc_h1_resp_extra *x)
{
	struct out o = {buf, buf + cap, false};
	put(&o, hd->first_line, hd->first_line_len);
	PUT_LIT(&o, "\r\n");
	for (uint32_t i = 0; i < hd->n_headers; i++) {
		const struct fc_h1_header *h = &hd->h[i];
		if (h->hop)
			continue;
		put_header(&o, h);
	}
	if (hd->has_te && !x->dechunk) {
		/* the server's codings as it sent them (gzip, chunked...) */
		for (uint32_t i = 0; i < hd->n_headers; i++)
			if (FC_H1_NAME_IS(&hd->h[i], "transfer-encoding"))
				put_header(&o, &hd->h[i]);
	}
	if (x->set_cookie) {
		PUT_LIT(&o, "Set-Cookie: ");
		put(&o, x->set_cookie, x->set_cookie_len);
		PUT_LIT(&o, "\r\n");
	}
	if (x->upgrade) {
		/* a 101: the protocols as the server named them */
		for (uint32_t i = 0; i < hd->n_headers; i++)
			if (FC_H1_NAME_IS(&hd->h[i], "upgrade"))
				put_header(&o, &hd->h[i]);
		PUT_LIT(&o, "Connection: upgrade\r\n");
	} else if (x->close)
		PUT_LIT(&o, "Connection: close\r\n");
	else if (x->keep_alive)
		PUT_LIT(&o, "Connection: keep-alive\r\n");
	PUT_LIT(&o, "\r\n");
	return o.overflow ? 0 : (size_t)(o.p - buf);
}

const char *fc_h1_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

size_t fc_h1_write_error(char *out, size_t cap, int status, bool close)
{
	return fc_h1_write_error_retry(out, cap, status, close, 0);
}

size_t fc_h1_write_error_retry(char *out, size_t cap, int status, bool close,
                               unsigned retry_after_s)
{
	return fc_h1_write_error_headers(out, cap, status, close, retry_after_s, NULL);
}

size_t fc_h1_write_error_headers(char *out, size_t cap, int status, bool close,
                                 unsigned retry_after_s, const char *extra)
{
	const char *r = fc_h1_reason(status);
	char retry[40] = "";
	if (retry_after_s)
		snprintf(retry, sizeof(retry), "Retry-After: %u\r\n", retry_after_s);
	int n = snprintf(out, cap,
	                 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
	                 "Cache-Control: no-store\r\n%s%s%s\r\n%d %s\n",
	                 status, r, strlen(r) + 5, retry, extra ? extra : "",
	                 close ? "Connection: close\r\n" : "", status, r);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

size_t fc_h1_write_starting(char *out, size_t cap, bool close)
{
	static const char page[] =
	        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	        "<meta http-equiv=\"refresh\" content=\"1\"><title>Starting up</title></head>\n"
	        "<body><p>Starting up&hellip; this page reloads itself.</p></body></html>\n";
	int n = snprintf(out, cap,
	                 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html; "
	                 "charset=utf-8\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
	                 "Retry-After: 1\r\n%s\r\n%s",
	                 sizeof(page) - 1, close ? "Connection: close\r\n" : "", page);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

size_t fc_h1_write_rate_limited(char *out, size_t cap, bool close,
                                const struct fc_h1_rate_limited *rl)
{
	char extra[320];
	int n = snprintf(extra, sizeof(extra),
	                 "RateLimit-Policy: \"%.64s\";q=%u;w=%u\r\n"
	                 "RateLimit: \"%.64s\";r=%u;t=%u\r\n",
	                 rl->name, rl->burst, rl->window_s, rl->name, rl->remaining, rl->reset_s);
	if (n < 0 || (size_t)n >= sizeof(extra))
		return 0;
	return fc_h1_write_error_headers(out, cap, 429, close, rl->reset_s, extra);
}

size_t fc_h1_write_redirect_https(char *out, size_t cap, const char *host, size_t host_len,
                                  uint16_t port, const char *target, size_t target_len, bool close)
{
	char portstr[8] = "";
	if (port && port != 443)
		snprintf(portstr, sizeof(portstr), ":%u", port);
	int n = snprintf(out, cap,
	                 "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://%.*s%s%.*s\r\n"
	                 "Content-Type: text/plain\r\nContent-Length: 23\r\n%s\r\n"
	                 "308 Permanent Redirect\n",
	                 (int)host_len, host, portstr, (int)target_len, target,
	                 close ? "Connection: close\r\n" : "");
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}
