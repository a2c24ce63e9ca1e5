/* accesslog.c — one line per request, text or JSON, gathered per worker and
 * written in whole lines once per loop iteration (or when 4 KiB are ready),
 * so lines from several workers never mix and logging costs no syscall per
 * request under load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/proxy.h"
#include "proxy/reqinfo.h"

#define ALOG_FLUSH 4096

void fc_accesslog_flush(struct fc_worker *w)
{
	int fd = w->rt->access_fd;
	uint32_t off = 0;
	while (off < w->alog_len && fd >= 0) {
		ssize_t n = write(fd, w->alog + off, w->alog_len - off);
		if (n <= 0)
			break;
		off += (uint32_t)n;
	}
	w->alog_len = 0;
}

static const char hex[] = "0123456789abcdef";

/* A JSON string body: quotes, backslashes and control bytes escaped. The
 * request line is whatever the client sent, so nothing is trusted. */
static size_t json_escape(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 7 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 15];
			o += 6;
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

/* The text format's quoted field: quotes, backslashes, control and non-ASCII
 * bytes become \xHH (as nginx does), so a line never carries a terminal
 * escape or breaks its quoting. */
static size_t text_escape(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

static void split_line(const struct fc_exchange *r, const char **m, int *ml, const char **p,
                       int *pl, const char **v, int *vl)
{
	const char *s = r->line, *end = r->line + r->line_len;
	const char *sp1 = memchr(s, ' ', r->line_len);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
	if (!sp1 || !sp2) {
		*m = "-";
		*ml = 1;
		*p = r->line_len ? r->line : "-";
		*pl = r->line_len ? (int)r->line_len : 1;
		*v = "-";
		*vl = 1;
		return;
	}
	*m = s;
	*ml = (int)(sp1 - s);
	*p = sp1 + 1;
	*pl = (int)(sp2 - sp1 - 1);
	*v = sp2 + 1;
	*vl = (int)(end - sp2 - 1);
}

void fc_accesslog_write(struct fc_exchange *r, uint64_t now_ns)
{
	struct fc_client *s = r->c;
	struct fc_worker *w = s->w;
	r->logged = true;
	if (w->rt->access_fd < 0)
		return;
	if (w->alog_cap == 0) {
		w->alog = malloc(ALOG_FLUSH * 2);
		if (!w->alog)
			return;
		w->alog_cap = ALOG_FLUSH * 2;
	}
	if (w->alog_len > ALOG_FLUSH)
		fc_accesslog_flush(w);
	char ts[32], client[64];
	fc_log_timestamp(ts);
	fc_req_format_ip(r->client.family ? &r->client : &s->peer, client, sizeof(client));
	const char *m, *p, *v;
	int ml, pl, vl;
	split_line(r, &m, &ml, &p, &pl, &v, &vl);
	double total_ms = (double)(now_ns - r->start_ns) / 1e6;
	double up_ms = r->up_start_ns ? (double)(now_ns - r->up_start_ns) / 1e6 : 0.0;
	const char *pool = r->pool ? r->pool->cfg->name : "-";
	const char *server = r->server_name[0] ? r->server_name : "-";
	char *out = w->alog + w->alog_len;
	size_t cap = w->alog_cap - w->alog_len;
	int n;
	bool json = w->cfg->access_format == FC_ACCESS_JSON;
	size_t (*esc)(char *, size_t, const char *, size_t) = json ? json_escape : text_escape;
	char em[64], ep[FC_EXCHANGE_LINE_MAX * 6 + 8], ev[64];
	int eml = (int)esc(em, sizeof(em), m, (size_t)ml);
	int epl = (int)esc(ep, sizeof(ep), p, (size_t)pl);
	int evl = (int)esc(ev, sizeof(ev), v, (size_t)vl);
	if (json) {
		n = snprintf(
		        out, cap,
		        "{\"time\":\"%s\",\"client\":\"%s\",\"method\":\"%.*s\",\"path\":\"%.*s\","
		        "\"proto\":\"%.*s\",\"status\":%d,\"bytes\":%llu,\"pool\":\"%s\","
		        "\"server\":\"%s\",\"upstream_ms\":%.3f,\"total_ms\":%.3f}\n",
		        ts, client, eml, em, epl, ep, evl, ev, r->status,
		        (unsigned long long)r->bytes_out, pool, server, up_ms, total_ms);
	} else {
		n = snprintf(out, cap,
		             "%s %s \"%.*s %.*s %.*s\" %d %llu pool=%s server=%s upstream_ms=%.3f "
		             "total_ms=%.3f\n",
		             ts, client, eml, em, epl, ep, evl, ev, r->status,
		             (unsigned long long)r->bytes_out, pool, server, up_ms, total_ms);
	}
	if (n > 0 && (size_t)n < cap)
		w->alog_len += (uint32_t)n;
}
