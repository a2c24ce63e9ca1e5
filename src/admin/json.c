/* json.c — the admin API's JSON writer (see json.h). */
#include "admin/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fc_json_init(struct fc_json *j)
{
	memset(j, 0, sizeof(*j));
}

void fc_json_fini(struct fc_json *j)
{
	free(j->buf);
	memset(j, 0, sizeof(*j));
}

const char *fc_json_text(const struct fc_json *j)
{
	return j->buf ? j->buf : "";
}

bool fc_json_ok(const struct fc_json *j)
{
	return !j->oom && !j->bad && j->depth == 0 && !j->after_key;
}

static bool reserve(struct fc_json *j, size_t more)
{
	if (j->oom)
		return false;
	if (j->len + more + 1 <= j->cap)
		return true;
	size_t cap = j->cap ? j->cap : 256;
	while (cap < j->len + more + 1)
		cap *= 2;
	char *b = realloc(j->buf, cap);
	if (!b) {
		j->oom = true;
		return false;
	}
	j->buf = b;
	j->cap = cap;
	return true;
}

void fc_json_raw(struct fc_json *j, const char *s, size_t n)
{
	if (!reserve(j, n))
		return;
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = 0;
}

void fc_json_printf(struct fc_json *j, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0) {
		j->bad = true;
		return;
	}
	if ((size_t)n < sizeof(tmp)) {
		fc_json_raw(j, tmp, (size_t)n);
		return;
	}
	if (!reserve(j, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(j->buf + j->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	j->len += (size_t)n;
}

static void lit(struct fc_json *j, const char *s)
{
	fc_json_raw(j, s, strlen(s));
}

/* Before a value: the comma between array items; in an object only after a key. */
static void before_value(struct fc_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth > 0 && j->is_obj[j->depth]) {
		j->bad = true; /* a value without a key */
		return;
	}
	if (j->depth == 0 && j->len > 0) {
		j->bad = true; /* a second top-level value */
		return;
	}
	if (j->depth > 0 && !j->first[j->depth])
		lit(j, ",");
	j->first[j->depth] = false;
}

static void open_container(struct fc_json *j, bool obj)
{
	before_value(j);
	if (j->depth == FC_JSON_MAX_DEPTH) {
		j->bad = true;
		return;
	}
	lit(j, obj ? "{" : "[");
	j->depth++;
	j->first[j->depth] = true;
	j->is_obj[j->depth] = obj;
}

static void close_container(struct fc_json *j, bool obj)
{
	if (j->depth == 0 || j->is_obj[j->depth] != obj || j->after_key) {
		j->bad = true;
		return;
	}
	lit(j, obj ? "}" : "]");
	j->depth--;
}

void fc_json_obj(struct fc_json *j)
{
	open_container(j, true);
}

void fc_json_obj_end(struct fc_json *j)
{
	close_container(j, true);
}

void fc_json_arr(struct fc_json *j)
{
	open_container(j, false);
}

void fc_json_arr_end(struct fc_json *j)
{
	close_container(j, false);
}

size_t fc_utf8_seq(const unsigned char *s, size_t n)
{
	if (n == 0)
		return 0;
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	uint32_t cp, min;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return 0; /* a continuation byte, 0xc0/0xc1 (overlong), or 0xf5.. */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void string(struct fc_json *j, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	lit(j, "\"");
	size_t i = 0;
	while (i < n) {
		/* the longest run that needs no escaping goes in one copy */
		size_t run = i;
		while (run < n && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' &&
		       p[run] != '\\')
			run++;
		if (run > i) {
			fc_json_raw(j, s + i, run - i);
			i = run;
			continue;
		}
		unsigned char c = p[i];
		char esc[8];
		switch (c) {
		case '"':
			lit(j, "\\\"");
			break;
		case '\\':
			lit(j, "\\\\");
			break;
		case '\n':
			lit(j, "\\n");
			break;
		case '\r':
			lit(j, "\\r");
			break;
		case '\t':
			lit(j, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				fc_json_raw(j, esc, 6);
			} else {
				size_t k = fc_utf8_seq(p + i, n - i);
				if (k) {
					fc_json_raw(j, s + i, k);
					i += k;
					continue;
				}
				lit(j, "\\ufffd"); /* not UTF-8: one replacement per byte */
			}
		}
		i++;
	}
	lit(j, "\"");
}

void fc_json_key(struct fc_json *j, const char *key)
{
	if (j->depth == 0 || !j->is_obj[j->depth] || j->after_key) {
		j->bad = true;
		return;
	}
	if (!j->first[j->depth])
		lit(j, ",");
	j->first[j->depth] = false;
	string(j, key, strlen(key));
	lit(j, ":");
	j->after_key = true;
}

void fc_json_strn(struct fc_json *j, const char *s, size_t n)
{
	before_value(j);
	string(j, s, n);
}

void fc_json_str(struct fc_json *j, const char *s)
{
	if (!s)
		fc_json_null(j);
	else
		fc_json_strn(j, s, strlen(s));
}

void fc_json_uint(struct fc_json *j, uint64_t v)
{
	before_value(j);
	fc_json_printf(j, "%llu", (unsigned long long)v);
}

void fc_json_int(struct fc_json *j, int64_t v)
{
	before_value(j);
	fc_json_printf(j, "%lld", (long long)v);
}

void fc_json_double(struct fc_json *j, double v)
{
	if (!isfinite(v)) {
		fc_json_null(j);
		return;
	}
	before_value(j);
	/* integers print as integers; others with up to 15 significant digits */
	if (fabs(v) < 1e15 && v == (double)(int64_t)v)
		fc_json_printf(j, "%lld", (long long)v);
	else
		fc_json_printf(j, "%.15g", v);
}

void fc_json_bool(struct fc_json *j, bool v)
{
	before_value(j);
	lit(j, v ? "true" : "false");
}

void fc_json_null(struct fc_json *j)
{
	before_value(j);
	lit(j, "null");
}

void fc_json_kstr(struct fc_json *j, const char *key, const char *s)
{
	fc_json_key(j, key);
	fc_json_str(j, s);
}

void fc_json_kuint(struct fc_json *j, const char *key, uint64_t v)
{
	fc_json_key(j, key);
	fc_json_uint(j, v);
}

void fc_json_kdouble(struct fc_json *j, const char *key, double v)
{
	fc_json_key(j, key);
	fc_json_double(j, v);
}

void fc_json_kbool(struct fc_json *j, const char *key, bool v)
{
	fc_json_key(j, key);
	fc_json_bool(j, v);
}
