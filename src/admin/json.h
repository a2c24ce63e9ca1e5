/* json.h — a small JSON writer for the admin API's answers: objects, arrays,
 * strings (control characters escaped, bytes that are not UTF-8 replaced by
 * U+FFFD), integers, doubles (NaN and infinities become null), nesting up to
 * FC_JSON_MAX_DEPTH. Commas and colons are placed by the writer. Input JSON
 * is parsed with jansson, not here. */
#ifndef FC_ADMIN_JSON_H
#define FC_ADMIN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_JSON_MAX_DEPTH 32

/* A growing text buffer with the writer's state. Zero it, or fc_json_init. */
struct fc_json {
	char *buf;
	size_t len, cap;
	bool oom; /* an allocation failed: the text is incomplete */
	bool bad; /* misuse (too deep, a value where a key belongs, ...) */
	uint32_t depth;
	bool first[FC_JSON_MAX_DEPTH + 1]; /* nothing written yet at this level */
	bool is_obj[FC_JSON_MAX_DEPTH + 1];
	bool after_key; /* a key was written: the value comes without a comma */
};

void fc_json_init(struct fc_json *j);
/* Frees the buffer. */
void fc_json_fini(struct fc_json *j);
/* The text so far (NUL-terminated; "" when empty). Borrowed. */
const char *fc_json_text(const struct fc_json *j);
/* True when the text is complete and well formed: every container closed,
 * no misuse, no failed allocation. */
bool fc_json_ok(const struct fc_json *j);

void fc_json_obj(struct fc_json *j);
void fc_json_obj_end(struct fc_json *j);
void fc_json_arr(struct fc_json *j);
void fc_json_arr_end(struct fc_json *j);
/* The key of the next member (inside an object). */
void fc_json_key(struct fc_json *j, const char *key);

/* Values. */
void fc_json_str(struct fc_json *j, const char *s); /* NULL writes null */
void fc_json_strn(struct fc_json *j, const char *s, size_t n);
void fc_json_uint(struct fc_json *j, uint64_t v);
void fc_json_int(struct fc_json *j, int64_t v);
void fc_json_double(struct fc_json *j, double v);
void fc_json_bool(struct fc_json *j, bool v);
void fc_json_null(struct fc_json *j);

/* key + value in one call. */
void fc_json_kstr(struct fc_json *j, const char *key, const char *s);
void fc_json_kuint(struct fc_json *j, const char *key, uint64_t v);
void fc_json_kdouble(struct fc_json *j, const char *key, double v);
void fc_json_kbool(struct fc_json *j, const char *key, bool v);

/* Appends raw bytes / formatted text (no JSON structure: for the Prometheus
 * text format, which shares the buffer). */
void fc_json_raw(struct fc_json *j, const char *s, size_t n);
void fc_json_printf(struct fc_json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The length of the valid UTF-8 sequence at s[0..n), or 0 when s does not
 * start with one (overlong forms, surrogates and code points above U+10FFFF
 * are not valid). */
size_t fc_utf8_seq(const unsigned char *s, size_t n);

#endif
