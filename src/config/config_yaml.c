/* config_yaml.c — YAML (libyaml's document API) to struct fc_config: walks the
 * tree against the schema, rejects unknown keys, and names every error's place
 * as "file:line:col: key.path: message". */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "config/config_internal.h"

#define SEC         1000ull
#define MIN         (60 * SEC)
#define HOUR        (60 * MIN)
#define DAY         (24 * HOUR)
#define TIMEOUT_MAX DAY

struct walk {
	yaml_document_t *doc;
	struct fc__cfg_errs *errs;
	struct fc_config *cfg;
	char path[512];
	size_t plen;
	bool oom;
	/* Which derived health keys the pool being parsed set itself; its
	 * servers' health: mappings start from the pool's. */
	struct health_set {
		bool fast_interval, timeout;
	} pool_health_set;
	yaml_node_t *h2_list_size; /* http2.max_header_list_size as written, or NULL */
};

/* A key of a mapping the schema knows; key/val stay NULL when absent, val is
 * also NULL for an explicit null ("key:" or "key: ~"). */
struct field {
	const char *name;
	yaml_node_t *key;
	yaml_node_t *val;
};

#define F(name)                                                                                    \
	{                                                                                          \
		name, NULL, NULL                                                                   \
	}

/* ---- errors and paths ---- */

static void werr(struct walk *w, const yaml_node_t *n, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void werr(struct walk *w, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fc__cfg_err(w->errs, n ? (unsigned)n->start_mark.line + 1 : 0,
	            n ? (unsigned)n->start_mark.column + 1 : 0, w->path, "%s", msg);
}

/* Appends to the key path; returns the old length for pop(). */
static size_t push(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t push(struct walk *w, const char *fmt, ...)
{
	size_t old = w->plen;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(w->path + old, sizeof(w->path) - old, fmt, ap);
	va_end(ap);
	if (n > 0)
		w->plen = old + (size_t)n < sizeof(w->path) ? old + (size_t)n : sizeof(w->path) - 1;
	return old;
}

static size_t push_key(struct walk *w, const char *key)
{
	return push(w, "%s%s", w->plen ? "." : "", key);
}

static size_t push_index(struct walk *w, size_t i)
{
	return push(w, "[%zu]", i);
}

static void pop(struct walk *w, size_t old)
{
	w->plen = old;
	w->path[old] = '\0';
}

/* strdup that remembers failure; the walk then ends as out of memory. */
static char *wdup(struct walk *w, const char *s)
{
	char *d = strdup(s);

	if (!d)
		w->oom = true;
	return d;
}

static void set_string(struct walk *w, char **slot, const char *s)
{
	char *d = wdup(w, s);

	if (!d)
		return;
	free(*slot);
	*slot = d;
}

/* ---- nodes ---- */

static yaml_node_t *node(struct walk *w, int index)
{
	return yaml_document_get_node(w->doc, index);
}

static const char *kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a single value";
	}
}

static bool is_null(const yaml_node_t *n)
{
	const char *v;

	if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

/* The text of a scalar node, or NULL after reporting what was there instead. */
static const char *want_scalar(struct walk *w, const yaml_node_t *n, const char *what)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE) {
		werr(w, n, "must be %s, not %s", what, kind(n));
		return NULL;
	}
	v = (const char *)n->data.scalar.value;
	if (strlen(v) != n->data.scalar.length) {
		werr(w, n, "must not contain NUL characters");
		return NULL;
	}
	return v;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[65];

	if (la > 64 || lb > 64)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static void unknown_key(struct walk *w, const yaml_node_t *k, const char *key,
                        const struct field *f, size_t nf)
{
	char expected[512];
	size_t i, used = 0, best = 0, best_d = 99;
	size_t old = push_key(w, key);

	for (i = 0; i < nf; i++) {
		size_t d = edit_distance(key, f[i].name);

		if (d < best_d) {
			best_d = d;
			best = i;
		}
	}
	if (best_d <= 2 && best_d < strlen(key)) {
		werr(w, k, "unknown key (did you mean \"%s\"?)", f[best].name);
	} else {
		expected[0] = '\0';
		for (i = 0; i < nf; i++) {
			int n = snprintf(expected + used, sizeof(expected) - used, "%s%s",
			                 i ? ", " : "", f[i].name);
			if (n < 0 || (size_t)n >= sizeof(expected) - used)
				break;
			used += (size_t)n;
		}
		werr(w, k, "unknown key (expected one of: %s)", expected);
	}
	pop(w, old);
}

/* Fills f from mapping n, reporting unknown, duplicate and non-scalar keys.
 * Returns false (after reporting) if n is not a mapping. */
static bool get_fields(struct walk *w, yaml_node_t *n, struct field *f, size_t nf)
{
	yaml_node_pair_t *pair;
	size_t i;

	if (n->type != YAML_MAPPING_NODE) {
		werr(w, n, "must be a mapping (key: value), not %s", kind(n));
		return false;
	}
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = node(w, pair->key), *v = node(w, pair->value);
		const char *key;

		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			werr(w, k, "keys must be plain names, not %s", kind(k));
			continue;
		}
		key = (const char *)k->data.scalar.value;
		for (i = 0; i < nf; i++)
			if (strlen(key) == k->data.scalar.length && strcmp(key, f[i].name) == 0)
				break;
		if (i == nf) {
			unknown_key(w, k, key, f, nf);
			continue;
		}
		if (f[i].key) {
			size_t old = push_key(w, key);

			werr(w, k, "duplicate key (first at line %zu)",
			     f[i].key->start_mark.line + 1);
			pop(w, old);
			continue;
		}
		f[i].key = k;
		f[i].val = is_null(v) ? NULL : v;
	}
	return true;
}

/* ---- typed values; each pushes its key for its messages ---- */

static const char *field_scalar(struct walk *w, const struct field *f, const char *what)
{
	return want_scalar(w, f->val, what);
}

static void get_uint(struct walk *w, const struct field *f, uint64_t min, uint64_t max,
                     uint32_t *out)
{
	const char *v;
	uint64_t n;
	size_t old;
	int rc;

	if (!f->val)
		return;
	old = push_key(w, f->name);
	v = field_scalar(w, f, "an integer");
	if (!v)
		goto pop_key;
	rc = fc__cfg_parse_uint(v, &n);
	if (rc == -EINVAL) {
		werr(w, f->val, "must be an integer %llu..%llu (got \"%.64s\")",
		     (unsigned long long)min, (unsigned long long)max, v);
		goto pop_key;
	}
	if (rc < 0 || n < min || n > max) {
		werr(w, f->val, "must be %llu..%llu (got %.64s)", (unsigned long long)min,
		     (unsigned long long)max, v);
		goto pop_key;
	}
	*out = (uint32_t)n;
pop_key:
	pop(w, old);
}

/* max_idle: an integer 0..100000, or unlimited (the default). */
static void get_max_idle(struct walk *w, const struct field *f, uint32_t *out)
{
	const char *v;
	uint64_t n;
	size_t old;

	if (!f->val)
		return;
	old = push_key(w, f->name);
	v = field_scalar(w, f, "an integer or unlimited");
	if (!v)
		goto pop_key;
	if (strcmp(v, "unlimited") == 0) {
		*out = FC_CONFIG_MAX_IDLE_UNLIMITED;
		goto pop_key;
	}
	if (fc__cfg_parse_uint(v, &n) < 0 || n > 100000) {
		werr(w, f->val, "must be an integer 0..100000 or unlimited (got \"%.64s\")", v);
		goto pop_key;
	}
	*out = (uint32_t)n;
pop_key:
	pop(w, old);
}

static void format_duration(uint64_t ms, char *buf, size_t len)
{
	static const struct {
		uint64_t ms;
		const char *unit;
	} units[] = {{DAY, "d"}, {HOUR, "h"}, {MIN, "m"}, {SEC, "s"}, {1, "ms"}};
	size_t i, used = 0;

	if (ms == 0) {
		snprintf(buf, len, "0");
		return;
	}
	buf[0] = '\0';
	for (i = 0; i < 5 && ms; i++) {
		int n;

		if (ms < units[i].ms)
			continue;
		n = snprintf(buf + used, len - used, "%llu%s",
		             (unsigned long long)(ms / units[i].ms), units[i].unit);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
		ms %= units[i].ms;
	}
}

static bool get_duration(struct walk *w, const struct field *f, uint64_t min, uint64_t max,
                         uint64_t *out)
{
	const char *v;
	uint64_t ms, n;
	char lo[32], hi[32];
	bool ok = false;
	size_t old;
	int rc;

	if (!f->val)
		return false;
	old = push_key(w, f->name);
	v = field_scalar(w, f, "a duration");
	if (!v)
		goto pop_key;
	format_duration(min, lo, sizeof(lo));
	format_duration(max, hi, sizeof(hi));
	rc = fc_config_parse_duration(v, &ms);
	if (rc == -EINVAL && fc__cfg_parse_uint(v, &n) == 0) {
		werr(w, f->val,
		     "needs a unit: write %.32ss or %.32sms (durations look like 10s, "
		     "500ms, 1m, 1h30m)",
		     v, v);
		goto pop_key;
	}
	if (rc == -EINVAL) {
		werr(w, f->val,
		     "must be a duration such as 10s, 500ms, 1m or 1h30m (got \"%.64s\")", v);
		goto pop_key;
	}
	if (rc < 0 || ms < min || ms > max) {
		werr(w, f->val, "must be %s..%s (got %.64s)", lo, hi, v);
		goto pop_key;
	}
	*out = ms;
	ok = true;
pop_key:
	pop(w, old);
	return ok;
}

static void get_duration_ms(struct walk *w, const struct field *f, uint64_t min, uint64_t max,
                            uint32_t *out)
{
	uint64_t ms;

	if (get_duration(w, f, min, max, &ms))
		*out = (uint32_t)ms;
}

static void get_size(struct walk *w, const struct field *f, uint64_t min, uint64_t max,
                     uint32_t *out)
{
	const char *v;
	uint64_t n;
	size_t old;
	int rc;

	if (!f->val)
		return;
	old = push_key(w, f->name);
	v = field_scalar(w, f, "a size");
	if (!v)
		goto pop_key;
	rc = fc_config_parse_size(v, &n);
	if (rc == -EINVAL) {
		werr(w, f->val, "must be a size such as 16k, 1m or 512 (bytes) (got \"%.64s\")", v);
		goto pop_key;
	}
	if (rc < 0 || n < min || n > max) {
		werr(w, f->val, "must be %lluk..%llum (got %.64s)",
		     (unsigned long long)(min / 1024), (unsigned long long)(max / (1024 * 1024)),
		     v);
		goto pop_key;
	}
	*out = (uint32_t)n;
pop_key:
	pop(w, old);
}

static void get_bool(struct walk *w, const struct field *f, bool *out)
{
	const char *v;
	size_t old;

	if (!f->val)
		return;
	old = push_key(w, f->name);
	v = field_scalar(w, f, "true or false");
	if (v && fc__cfg_parse_bool(v, out) < 0)
		werr(w, f->val, "must be true or false (got \"%.64s\")", v);
	pop(w, old);
}

/* "50%" or "50", 0..100. */
static void get_percent(struct walk *w, const struct field *f, uint32_t *out)
{
	char num[32];
	const char *v;
	uint64_t n;
	size_t old, len;

	if (!f->val)
		return;
	old = push_key(w, f->name);
	v = field_scalar(w, f, "a percentage");
	if (!v)
		goto pop_key;
	len = strlen(v);
	if (len && v[len - 1] == '%')
		len--;
	if (len == 0 || len >= sizeof(num)) {
		n = 101;
	} else {
		memcpy(num, v, len);
		num[len] = '\0';
		if (fc__cfg_parse_uint(num, &n) < 0)
			n = 101;
	}
	if (n > 100) {
		werr(w, f->val, "must be a percentage 0%%..100%% such as 50%% (got \"%.64s\")", v);
		goto pop_key;
	}
	*out = (uint32_t)n;
pop_key:
	pop(w, old);
}

/* The items of a value that may be one scalar or a list of them. */
static size_t items_count(const yaml_node_t *n)
{
	if (n->type == YAML_SEQUENCE_NODE)
		return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	return 1;
}

static yaml_node_t *item_at(struct walk *w, yaml_node_t *n, size_t i, size_t *old)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return n;
	*old = push_index(w, i);
	return node(w, n->data.sequence.items.start[i]);
}

static void item_done(struct walk *w, const yaml_node_t *n, size_t old)
{
	if (n->type == YAML_SEQUENCE_NODE)
		pop(w, old);
}

/* "200" or "200-399" within 100..599 into r; reports and returns false if not. */
static bool parse_status_range(struct walk *w, yaml_node_t *e, struct fc_config_status_range *r)
{
	const char *v = want_scalar(w, e, "a status or a range such as 200-399");
	char lo[8], hi[8];
	const char *dash;
	uint64_t a, b;

	if (!v)
		return false;
	dash = strchr(v, '-');
	if (dash ? (size_t)(dash - v) >= sizeof(lo) || strlen(dash + 1) >= sizeof(hi)
	         : strlen(v) >= sizeof(lo))
		goto syntax;
	if (dash) {
		memcpy(lo, v, (size_t)(dash - v));
		lo[dash - v] = '\0';
		strcpy(hi, dash + 1);
	} else {
		strcpy(lo, v);
		strcpy(hi, v);
	}
	if (fc__cfg_parse_uint(lo, &a) < 0 || fc__cfg_parse_uint(hi, &b) < 0)
		goto syntax;
	if (a < 100 || a > 599 || b < 100 || b > 599) {
		werr(w, e, "must be 100..599 (got %.64s)", v);
		return false;
	}
	if (a > b) {
		werr(w, e, "must be low-high with low <= high (got %.64s)", v);
		return false;
	}
	r->lo = (uint16_t)a;
	r->hi = (uint16_t)b;
	return true;
syntax:
	werr(w, e, "must be a status such as 200 or a range such as 200-399 (got \"%.64s\")", v);
	return false;
}

/* expect: / lame_duck: — one status or range, or a list of them; replaces
 * *out. An empty list is an error unless empty_ok. */
static void get_status_ranges(struct walk *w, const struct field *f, bool empty_ok,
                              struct fc_config_status_range **out, size_t *n_out)
{
	struct fc_config_status_range *r;
	size_t old, count, i, n = 0;

	if (!f->val)
		return;
	old = push_key(w, f->name);
	if (f->val->type == YAML_MAPPING_NODE) {
		werr(w, f->val, "must be a status, a range such as 200-399, or a list of them");
		goto pop_key;
	}
	count = items_count(f->val);
	if (count == 0 && !empty_ok) {
		werr(w, f->val, "needs at least one status or range (such as 200-399)");
		goto pop_key;
	}
	r = malloc(count ? count * sizeof(*r) : 1);
	if (!r) {
		w->oom = true;
		goto pop_key;
	}
	for (i = 0; i < count; i++) {
		size_t old_i = 0;
		yaml_node_t *e = item_at(w, f->val, i, &old_i);

		if (e && parse_status_range(w, e, &r[n]))
			n++;
		item_done(w, f->val, old_i);
	}
	free(*out);
	*out = r;
	*n_out = n;
pop_key:
	pop(w, old);
}

/* passive.statuses: server-fault statuses 500..599, one or a list. */
static void get_fault_statuses(struct walk *w, const struct field *f, struct fc_config_passive *ps)
{
	uint16_t *st;
	size_t old, count, i, j, n = 0;

	if (!f->val)
		return;
	old = push_key(w, f->name);
	if (f->val->type == YAML_MAPPING_NODE) {
		werr(w, f->val, "must be a list of statuses 500..599, such as [502, 503, 504]");
		goto pop_key;
	}
	count = items_count(f->val);
	st = malloc(count ? count * sizeof(*st) : 1);
	if (!st) {
		w->oom = true;
		goto pop_key;
	}
	for (i = 0; i < count; i++) {
		size_t old_i = 0;
		yaml_node_t *e = item_at(w, f->val, i, &old_i);
		const char *v = e ? want_scalar(w, e, "a status 500..599") : NULL;
		uint64_t code;

		if (v && (fc__cfg_parse_uint(v, &code) < 0 || code < 500 || code > 599)) {
			werr(w, e, "must be a status 500..599 (got \"%.64s\")", v);
		} else if (v) {
			for (j = 0; j < n && st[j] != code; j++)
				;
			if (j < n)
				werr(w, e, "duplicate status %u", (unsigned)code);
			else
				st[n++] = (uint16_t)code;
		}
		item_done(w, f->val, old_i);
	}
	free(ps->statuses);
	ps->statuses = st;
	ps->n_statuses = n;
pop_key:
	pop(w, old);
}

/* A string value checked by ok(); replaces *slot. */
static void get_string(struct walk *w, const struct field *f, const char *what,
                       bool (*ok)(const char *), const char *bad, char **slot)
{
	const char *v;
	size_t old;

	if (!f->val)
		return;
	old = push_key(w, f->name);
	v = field_scalar(w, f, what);
	if (v && !ok(v))
		werr(w, f->val, "%s (got \"%.64s\")", bad, v);
	else if (v)
		set_string(w, slot, v);
	pop(w, old);
}

static bool is_check_path(const char *s)
{
	if (s[0] != '/' || strlen(s) > 1024)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool is_method(const char *s)
{
	return strlen(s) <= 32 && fc__cfg_is_token(s);
}

/* A gRPC service name as the health protocol names it ("" is the whole
 * server, else usually package.Service): printable, no spaces. */
static bool is_service_name(const char *s)
{
	if (strlen(s) > 1024)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

static bool is_body_text(const char *s)
{
	return *s && strlen(s) <= 1024;
}

/* Reports small <= big broken: at the value this mapping set (at big's when
 * it set both and blame_big), naming the other key and its value. */
static void check_order(struct walk *w, const struct field *fs, uint32_t small,
                        const struct field *fb, uint32_t big, bool blame_big)
{
	char buf[32];
	size_t old;

	if (small <= big)
		return;
	if (fs->val && !(blame_big && fb->val)) {
		old = push_key(w, fs->name);
		format_duration(big, buf, sizeof(buf));
		werr(w, fs->val, "must be at most %s (%s)", fb->name, buf);
	} else if (fb->val) {
		old = push_key(w, fb->name);
		format_duration(small, buf, sizeof(buf));
		werr(w, fb->val, "must be at least %s (%s)", fs->name, buf);
	} else {
		return;
	}
	pop(w, old);
}

/* health: of a pool (base: the defaults) or of a server (base: its pool's).
 * h ends up a deep copy of base with this node's keys applied; set says
 * which derived keys were given here or in base. */
static void parse_health(struct walk *w, struct fc_config_health *h, yaml_node_t *n,
                         const struct fc_config_health *base, const struct health_set *base_set,
                         struct health_set *set)
{
	enum {
		H_TYPE,
		H_PATH,
		H_METHOD,
		H_HOST,
		H_EXPECT,
		H_BODY,
		H_LAME_DUCK,
		H_INTERVAL,
		H_FAST_INTERVAL,
		H_TIMEOUT,
		H_RISE,
		H_FALL,
		H_PORT,
		H_SERVICE,
		H_N
	};
	struct field f[] = {F("type"),          F("path"),    F("method"),    F("host"),
	                    F("expect"),        F("body"),    F("lame_duck"), F("interval"),
	                    F("fast_interval"), F("timeout"), F("rise"),      F("fall"),
	                    F("port"),          F("service")};
	static const char *const type_names[] = {
	        [FC_HEALTH_NONE] = "none",
	        [FC_HEALTH_HTTP] = "http",
	        [FC_HEALTH_TCP] = "tcp",
	        [FC_HEALTH_GRPC] = "grpc",
	};
	uint32_t port = 0;
	const char *v;
	size_t old, i;
	bool on;

	fc__cfg_health_fini(h);
	if (fc__cfg_health_copy(h, base) < 0) {
		w->oom = true;
		return;
	}
	*set = *base_set;
	if (n->type == YAML_SCALAR_NODE) {
		v = want_scalar(w, n, "off or a mapping");
		if (v && fc__cfg_parse_bool(v, &on) == 0) {
			if (!on)
				h->type = FC_HEALTH_NONE;
			else if (h->type == FC_HEALTH_NONE)
				h->type = FC_HEALTH_HTTP;
		} else if (v) {
			werr(w, n,
			     "must be off, on, or a mapping (type, path, interval, ...) "
			     "(got \"%.64s\")",
			     v);
		}
		goto fill;
	}
	if (!get_fields(w, n, f, H_N))
		goto fill;
	if (h->type == FC_HEALTH_NONE)
		h->type = FC_HEALTH_HTTP; /* giving health: at all turns checks on */
	if (f[H_TYPE].val) {
		old = push_key(w, "type");
		v = field_scalar(w, &f[H_TYPE], "http, tcp or grpc");
		if (v && strcmp(v, "http") == 0)
			h->type = FC_HEALTH_HTTP;
		else if (v && strcmp(v, "tcp") == 0)
			h->type = FC_HEALTH_TCP;
		else if (v && strcmp(v, "grpc") == 0)
			h->type = FC_HEALTH_GRPC;
		else if (v && (strcmp(v, "none") == 0 || fc__cfg_parse_bool(v, &on) == 0))
			werr(w, f[H_TYPE].val,
			     "must be http, tcp or grpc (to turn checks off, write "
			     "health: off)");
		else if (v)
			werr(w, f[H_TYPE].val, "must be http, tcp or grpc (got \"%.64s\")", v);
		pop(w, old);
	}
	/* Keys of one type given in a mapping whose check is of another: an
	 * error where the key is (a value inherited from the pool is no error). */
	for (i = H_PATH; i < H_N; i++) {
		bool for_http = i <= H_LAME_DUCK;              /* host too: the Host header */
		bool for_grpc = i == H_HOST || i == H_SERVICE; /* host: :authority */
		if (!f[i].key || (!for_http && !for_grpc) ||
		    (for_http && h->type == FC_HEALTH_HTTP) ||
		    (for_grpc && h->type == FC_HEALTH_GRPC))
			continue;
		old = push_key(w, f[i].name);
		werr(w, f[i].key, "only used with type %s (this check is %s)",
		     for_http && for_grpc ? "http or grpc"
		     : for_http           ? "http"
		                          : "grpc",
		     type_names[h->type]);
		pop(w, old);
		f[i].val = NULL;
	}
	get_string(w, &f[H_PATH], "a path", is_check_path,
	           "must be a path starting with /, without spaces or control characters",
	           &h->path);
	get_string(w, &f[H_METHOD], "a method", is_method,
	           "must be an HTTP method such as GET or HEAD", &h->method);
	get_string(w, &f[H_HOST], "a host name", fc__cfg_is_label,
	           "must be a host name (or host:port) without spaces, quotes or /", &h->host);
	get_status_ranges(w, &f[H_EXPECT], false, &h->expect, &h->n_expect);
	get_string(w, &f[H_BODY], "a string", is_body_text, "must be 1..1024 characters", &h->body);
	get_status_ranges(w, &f[H_LAME_DUCK], true, &h->lame_duck, &h->n_lame_duck);
	get_string(w, &f[H_SERVICE], "a gRPC service name", is_service_name,
	           "must be a gRPC service name of at most 1024 characters, without spaces or "
	           "control characters",
	           &h->service);
	get_duration_ms(w, &f[H_INTERVAL], 1, HOUR, &h->interval_ms);
	get_duration_ms(w, &f[H_FAST_INTERVAL], 1, HOUR, &h->fast_interval_ms);
	get_duration_ms(w, &f[H_TIMEOUT], 1, HOUR, &h->timeout_ms);
	get_uint(w, &f[H_RISE], 1, 100, &h->rise);
	get_uint(w, &f[H_FALL], 1, 100, &h->fall);
	get_uint(w, &f[H_PORT], 1, 65535, &port);
	if (port)
		h->port = (uint16_t)port;
	set->fast_interval |= f[H_FAST_INTERVAL].val != NULL;
	set->timeout |= f[H_TIMEOUT].val != NULL;
	/* Unset derived keys follow the interval in force here. */
	if (!set->fast_interval)
		h->fast_interval_ms = h->interval_ms / 4 ? h->interval_ms / 4 : 1;
	if (!set->timeout)
		h->timeout_ms = h->interval_ms < 1000 ? h->interval_ms : 1000;
	check_order(w, &f[H_TIMEOUT], h->timeout_ms, &f[H_INTERVAL], h->interval_ms, false);
	check_order(w, &f[H_FAST_INTERVAL], h->fast_interval_ms, &f[H_INTERVAL], h->interval_ms,
	            false);
fill:
	if (fc__cfg_health_fill(h) < 0)
		w->oom = true;
}

static void parse_passive(struct walk *w, struct fc_config_passive *ps, yaml_node_t *n)
{
	struct field f[] = {F("failures"), F("eject"), F("max_eject"), F("max_ejected"),
	                    F("statuses")};
	const char *v;
	bool on;

	if (n->type == YAML_SCALAR_NODE) {
		v = want_scalar(w, n, "off or a mapping");
		if (v && fc__cfg_parse_bool(v, &on) == 0) {
			if (!on)
				ps->failures = 0;
		} else if (v) {
			werr(w, n,
			     "must be off, on, or a mapping (failures, eject, max_eject, "
			     "max_ejected, statuses) (got \"%.64s\")",
			     v);
		}
		return;
	}
	if (!get_fields(w, n, f, 5))
		return;
	get_uint(w, &f[0], 0, 1000, &ps->failures);
	get_duration_ms(w, &f[1], 1, DAY, &ps->eject_ms);
	get_duration_ms(w, &f[2], 1, DAY, &ps->max_eject_ms);
	get_percent(w, &f[3], &ps->max_ejected_pct);
	get_fault_statuses(w, &f[4], ps);
	check_order(w, &f[1], ps->eject_ms, &f[2], ps->max_eject_ms, true);
}

/* ---- sections ---- */

static void parse_log(struct walk *w, yaml_node_t *n)
{
	struct field f[] = {F("level"), F("error"), F("access"), F("access_format")};
	struct fc_config *cfg = w->cfg;
	const char *v;
	size_t old;

	if (!get_fields(w, n, f, 4))
		return;
	if (f[0].val) {
		old = push_key(w, "level");
		v = field_scalar(w, &f[0], "a log level");
		if (v && fc_config_parse_log_level(v, &cfg->log_level) < 0)
			werr(w, f[0].val, "must be debug, info, warn or error (got \"%.64s\")", v);
		pop(w, old);
	}
	if (f[1].val) {
		old = push_key(w, "error");
		v = field_scalar(w, &f[1], "stderr, stdout or a file path");
		if (v && (!*v || strcmp(v, "off") == 0))
			werr(w, f[1].val,
			     "must be stderr, stdout or a file path (errors are always "
			     "logged)");
		else if (v)
			set_string(w, &cfg->error_log, v);
		pop(w, old);
	}
	if (f[2].val) {
		old = push_key(w, "access");
		v = field_scalar(w, &f[2], "stdout, stderr, off or a file path");
		if (v && !*v)
			werr(w, f[2].val, "must be stdout, stderr, off or a file path");
		else if (v)
			set_string(w, &cfg->access_log, v);
		pop(w, old);
	} else if (f[2].key) {
		/* "access:" with no value reads naturally as "no access log". */
		set_string(w, &cfg->access_log, "off");
	}
	if (f[3].val) {
		old = push_key(w, "access_format");
		v = field_scalar(w, &f[3], "text or json");
		if (v && strcmp(v, "text") == 0)
			cfg->access_format = FC_ACCESS_TEXT;
		else if (v && strcmp(v, "json") == 0)
			cfg->access_format = FC_ACCESS_JSON;
		else if (v)
			werr(w, f[3].val, "must be text or json (got \"%.64s\")", v);
		pop(w, old);
	}
}

static void parse_client_ip(struct walk *w, yaml_node_t *n)
{
	struct field f[] = {F("header"), F("trusted"), F("recursive")};
	struct fc_config_client_ip *ip = &w->cfg->client_ip;
	size_t old, i, count;
	bool bad_trusted = false;
	const char *v;

	if (!get_fields(w, n, f, 3))
		return;
	if (f[0].val) {
		old = push_key(w, "header");
		v = field_scalar(w, &f[0], "a header name");
		if (v && !fc__cfg_is_token(v))
			werr(w, f[0].val,
			     "must be a header name such as X-Forwarded-For (got \"%.64s\")", v);
		else if (v)
			set_string(w, &ip->header, v);
		pop(w, old);
	}
	get_bool(w, &f[2], &ip->recursive);
	if (f[1].val) {
		yaml_node_item_t *item;
		yaml_node_t *t = f[1].val;

		old = push_key(w, "trusted");
		count = t->type == YAML_SEQUENCE_NODE ? (size_t)(t->data.sequence.items.top -
		                                                 t->data.sequence.items.start)
		                                      : 1;
		ip->trusted = calloc(count ? count : 1, sizeof(*ip->trusted));
		if (!ip->trusted) {
			w->oom = true;
			pop(w, old);
			return;
		}
		for (i = 0; i < count; i++) {
			yaml_node_t *e = t;
			const char *why;
			size_t old_i = old;

			if (t->type == YAML_SEQUENCE_NODE) {
				item = t->data.sequence.items.start + i;
				e = node(w, *item);
				old_i = push_index(w, i);
			}
			if (!e)
				continue;
			v = want_scalar(w, e, "an address or CIDR");
			if (!v)
				bad_trusted = true;
			if (v && fc__cfg_check_cidr(v, &why) < 0) {
				werr(w, e, "%s (got \"%.64s\")", why, v);
				bad_trusted = true;
			} else if (v && (ip->trusted[ip->n_trusted] = wdup(w, v)))
				ip->n_trusted++;
			if (t->type == YAML_SEQUENCE_NODE)
				pop(w, old_i);
		}
		pop(w, old);
	}
	if (!ip->header) {
		old = push_key(w, f[1].key ? "trusted" : "recursive");
		if (f[1].key || f[2].key)
			werr(w, f[1].key ? f[1].key : f[2].key,
			     "only used with header (the header that carries the client address)");
		pop(w, old);
	} else if (ip->n_trusted == 0 && f[0].val && !bad_trusted) {
		old = push_key(w, "header");
		werr(w, f[0].key,
		     "needs trusted: the proxies allowed to set it (0.0.0.0/0 and ::/0 trust "
		     "anyone)");
		pop(w, old);
	}
}

static void parse_client(struct walk *w, yaml_node_t *n)
{
	struct field f[] = {F("header_timeout"),  F("idle_timeout"),    F("body_timeout"),
	                    F("max_header_size"), F("max_connections"), F("ip")};
	struct fc_config *cfg = w->cfg;

	if (!get_fields(w, n, f, 6))
		return;
	get_duration_ms(w, &f[0], 1, TIMEOUT_MAX, &cfg->header_timeout_ms);
	get_duration_ms(w, &f[1], 1, TIMEOUT_MAX, &cfg->client_idle_timeout_ms);
	get_duration_ms(w, &f[2], 1, TIMEOUT_MAX, &cfg->body_timeout_ms);
	get_size(w, &f[3], 1024, 1024 * 1024, &cfg->max_header_size);
	get_uint(w, &f[4], 1, 10000000, &cfg->max_connections);
	if (f[5].val) {
		size_t old = push_key(w, "ip");

		parse_client_ip(w, f[5].val);
		pop(w, old);
	}
}

static void parse_sticky(struct walk *w, struct fc_config_pool *p, yaml_node_t *n)
{
	struct field f[] = {F("cookie"), F("max_age"), F("secret")};
	const char *v;
	uint64_t ms;
	size_t old;
	bool on;

	if (n->type == YAML_SCALAR_NODE) {
		v = want_scalar(w, n, "cookie");
		if (v && strcmp(v, "cookie") == 0)
			p->sticky.enabled = true;
		else if (v && fc__cfg_parse_bool(v, &on) == 0 && !on)
			p->sticky.enabled = false;
		else if (v)
			werr(w, n,
			     "must be cookie, off, or a mapping with cookie, max_age, secret "
			     "(got \"%.64s\")",
			     v);
		return;
	}
	if (!get_fields(w, n, f, 3))
		return;
	p->sticky.enabled = true;
	if (f[0].val) {
		old = push_key(w, "cookie");
		v = field_scalar(w, &f[0], "a cookie name");
		if (v && !fc__cfg_is_token(v))
			werr(w, f[0].val,
			     "must be a cookie name: letters, digits and !#$%%&'*+-.^_`|~ "
			     "(got \"%.64s\")",
			     v);
		else if (v)
			set_string(w, &p->sticky.cookie_name, v);
		pop(w, old);
	}
	if (get_duration(w, &f[1], 0, 3650 * DAY, &ms)) {
		if (ms % 1000) {
			old = push_key(w, "max_age");
			werr(w, f[1].val, "must be whole seconds (cookies count in seconds)");
			pop(w, old);
		}
		p->sticky.max_age_s = (uint32_t)(ms / 1000);
	}
	if (f[2].val) {
		old = push_key(w, "secret");
		v = field_scalar(w, &f[2], "a string");
		if (v && strlen(v) < 16)
			werr(w, f[2].val, "must be at least 16 characters (it signs the cookie)");
		else if (v)
			set_string(w, &p->sticky.secret, v);
		pop(w, old);
	}
}

static void parse_hash(struct walk *w, struct fc_config_pool *p, yaml_node_t *n)
{
	static const struct {
		const char *name;
		enum fc_hash_source source;
	} keys[] = {{"client_ip", FC_HASH_CLIENT_IP},
	            {"header", FC_HASH_HEADER},
	            {"cookie", FC_HASH_COOKIE},
	            {"path", FC_HASH_PATH},
	            {"query", FC_HASH_QUERY}};
	struct field f[] = {F("key"), F("name"), F("balance_factor")};
	bool named;
	const char *v;
	size_t old, i;
	double d;

	if (!get_fields(w, n, f, 3))
		return;
	if (f[0].val) {
		old = push_key(w, "key");
		v = field_scalar(w, &f[0], "a hash key source");
		for (i = 0; v && i < 5; i++)
			if (strcmp(v, keys[i].name) == 0)
				break;
		if (v && i == 5)
			werr(w, f[0].val,
			     "must be client_ip, header, cookie, path or query (got \"%.64s\")", v);
		else if (v)
			p->hash.source = keys[i].source;
		pop(w, old);
	}
	named = p->hash.source == FC_HASH_HEADER || p->hash.source == FC_HASH_COOKIE ||
	        p->hash.source == FC_HASH_QUERY;
	old = push_key(w, "name");
	if (f[1].val && !named) {
		werr(w, f[1].key, "only used with key header, cookie or query");
	} else if (f[1].val) {
		v = field_scalar(w, &f[1], "a name");
		if (v &&
		    (p->hash.source == FC_HASH_QUERY ? !fc__cfg_is_label(v) || strpbrk(v, "&=#")
		                                     : !fc__cfg_is_token(v)))
			werr(w, f[1].val, "must be a %s name (got \"%.64s\")",
			     p->hash.source == FC_HASH_HEADER   ? "header"
			     : p->hash.source == FC_HASH_COOKIE ? "cookie"
			                                        : "query parameter",
			     v);
		else if (v)
			set_string(w, &p->hash.name, v);
	} else if (named && f[0].val) {
		werr(w, n, "is required with key %s", (const char *)f[0].val->data.scalar.value);
	}
	pop(w, old);
	if (f[2].val) {
		old = push_key(w, "balance_factor");
		v = field_scalar(w, &f[2], "a number");
		if (v && (fc__cfg_parse_double(v, &d) < 0 || (d != 0 && (d <= 1 || d > 100))))
			werr(w, f[2].val,
			     "must be 0 (unbounded) or a number above 1 and at most 100, such as "
			     "1.25 "
			     "(got \"%.64s\")",
			     v);
		else if (v)
			p->hash.balance_factor = d;
		pop(w, old);
	}
}

static void parse_server(struct walk *w, struct fc_config_pool *p, yaml_node_t *n)
{
	struct field f[] = {F("url"),    F("weight"),    F("name"),
	                    F("health"), F("max_conns"), F("backup")};
	struct fc_config_server *s = &p->servers[p->n_servers];
	yaml_node_t *url_node = n, *name_node = NULL;
	const char *url, *v;
	char why[512];
	size_t old;
	long dup;
	int rc;

	fc__cfg_server_defaults(s);
	s->max_conns = p->max_conns;
	p->n_servers++;
	if (n->type == YAML_SCALAR_NODE) {
		url = want_scalar(w, n, "http://host:port or a mapping with url");
		if (!url)
			return;
	} else {
		if (!get_fields(w, n, f, 6))
			return;
		get_uint(w, &f[1], 0, 1000, &s->weight);
		get_uint(w, &f[4], 0, FC_CONFIG_MAX_CONNS, &s->max_conns);
		bool backup = false;
		get_bool(w, &f[5], &backup);
		s->tier = backup ? 1 : 0;
		if (f[3].val) {
			struct health_set set;

			old = push_key(w, "health");
			parse_health(w, &s->health, f[3].val, &p->health, &w->pool_health_set,
			             &set);
			pop(w, old);
		}
		if (f[2].val) {
			old = push_key(w, "name");
			v = field_scalar(w, &f[2], "a name");
			if (v && !fc__cfg_is_label(v))
				werr(w, f[2].val,
				     "must be 1..128 printable characters without spaces, "
				     "quotes or '/' (got \"%.64s\")",
				     v);
			else if (v)
				set_string(w, &s->name, v);
			name_node = f[2].val;
			pop(w, old);
		}
		if (!f[0].val) {
			old = push_key(w, "url");
			werr(w, f[0].key ? f[0].key : n, "is required (http://host:port)");
			pop(w, old);
			return;
		}
		url_node = f[0].val;
		old = push_key(w, "url");
		url = want_scalar(w, url_node, "http://host:port");
		pop(w, old);
		if (!url)
			return;
	}
	old = n->type == YAML_SCALAR_NODE ? w->plen : push_key(w, "url");
	rc = fc__cfg_parse_upstream(url, s, p->resolve.type != FC_DISCOVER_NONE, why, sizeof(why));
	if (rc == -ENOMEM)
		w->oom = true;
	else if (rc < 0)
		werr(w, url_node, "%s", why);
	pop(w, old);
	if (rc < 0)
		return;
	if (fc__cfg_server_default_name(s) < 0) {
		w->oom = true;
		return;
	}
	dup = fc__cfg_server_named(p, p->n_servers - 1, s->name);
	if (dup >= 0) {
		old = name_node || n->type != YAML_SCALAR_NODE
		              ? push_key(w, name_node ? "name" : "url")
		              : w->plen;
		werr(w, name_node ? name_node : url_node,
		     "duplicate server name \"%s\" (servers[%ld] has it; give each a distinct "
		     "name)",
		     s->name, dup);
		pop(w, old);
	}
}

/* A list that must have at least one item: reports a missing (at where),
 * non-list or empty value and returns 0, or returns the number of items. */
static size_t list_count(struct walk *w, const yaml_node_t *n, const yaml_node_t *where,
                         const char *what, const char *empty)
{
	if (!n) {
		werr(w, where, "%s", empty);
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		werr(w, n, "must be a list of %s, not %s", what, kind(n));
		return 0;
	}
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count == 0)
		werr(w, n, "%s", empty);
	return count;
}

/* Hands each non-null item of list n to each(), the key path extended by [i]. */
static void list_each(struct walk *w, const yaml_node_t *n, const char *null_item,
                      void (*each)(struct walk *w, void *ctx, yaml_node_t *e), void *ctx)
{
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	yaml_node_item_t *item = n->data.sequence.items.start;
	for (size_t i = 0; i < count; i++, item++) {
		yaml_node_t *e = node(w, *item);
		size_t old_i = push_index(w, i);

		if (e && is_null(e))
			werr(w, e, "%s", null_item);
		else if (e)
			each(w, ctx, e);
		pop(w, old_i);
	}
}

static void each_server(struct walk *w, void *ctx, yaml_node_t *e)
{
	parse_server(w, ctx, e);
}

static void parse_servers(struct walk *w, struct fc_config_pool *p, const struct field *f,
                          const yaml_node_t *pool_key)
{
	size_t old = push_key(w, "servers");
	size_t count;
	if (p->discover.type != FC_DISCOVER_NONE && !f->val)
		count = 0; /* discover: brings them */
	else if (p->discover.type != FC_DISCOVER_NONE && f->val->type == YAML_SEQUENCE_NODE)
		count = (size_t)(f->val->data.sequence.items.top -
		                 f->val->data.sequence.items.start);
	else
		count = list_count(w, f->val, f->key ? f->key : pool_key, "servers",
		                   "a pool needs at least one server (or discover: to find them in "
		                   "DNS)");
	if (count && !(p->servers = calloc(count, sizeof(*p->servers))))
		w->oom = true;
	if (p->servers)
		list_each(w, f->val, "must be http://host:port or a mapping with url", each_server,
		          p);
	pop(w, old);
}

/* ---- tls ---- */

static bool is_file_name(const char *s)
{
	return s[0] != '\0' && strlen(s) < 4096;
}

static void set_pos(struct fc_config_pos *at, const yaml_node_t *n)
{
	at->line = (unsigned)n->start_mark.line + 1;
	at->col = (unsigned)n->start_mark.column + 1;
}

/* A file name field, with its position. */
static void get_file(struct walk *w, const struct field *f, char **slot, struct fc_config_pos *at)
{
	get_string(w, f, "a file name", is_file_name, "must be a file name", slot);
	if (f->val)
		set_pos(at, f->val);
}

/* cert: and key: of a mapping (both or, when optional, neither). */
static void get_cert_pair(struct walk *w, yaml_node_t *n, const struct field *cert,
                          const struct field *key, struct fc_config_cert *c, bool optional)
{
	get_file(w, cert, &c->cert, &c->cert_at);
	get_file(w, key, &c->key, &c->key_at);
	if (optional && !cert->val && !key->val)
		return;
	if (!cert->val) {
		size_t old = push_key(w, "cert");
		werr(w, cert->key ? cert->key : n, "is required (the certificate's PEM file)");
		pop(w, old);
	}
	if (!key->val) {
		size_t old = push_key(w, "key");
		werr(w, key->key ? key->key : n, "is required (the private key's PEM file)");
		pop(w, old);
	}
}

static void each_certificate(struct walk *w, void *ctx, yaml_node_t *e)
{
	struct fc_config_listener_tls *t = ctx;
	struct field f[] = {F("cert"), F("key")};
	struct fc_config_cert *c = &t->certs[t->n_certs++];

	if (e->type != YAML_MAPPING_NODE) {
		werr(w, e, "must be a mapping with cert and key, not %s", kind(e));
		return;
	}
	if (!get_fields(w, e, f, 2))
		return;
	get_cert_pair(w, e, &f[0], &f[1], c, false);
}

static void parse_listener_tls(struct walk *w, struct fc_config_listener *l, yaml_node_t *n)
{
	struct field f[] = {F("certificates"), F("min_version"), F("handshake_timeout")};
	struct fc_config_listener_tls *t;
	size_t old, count;
	const char *v;

	if (n->type != YAML_MAPPING_NODE) {
		werr(w, n, "must be a mapping with certificates (and min_version), not %s",
		     kind(n));
		return;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		w->oom = true;
		return;
	}
	l->tls = t;
	t->min_version = 12;
	t->handshake_timeout_ms = 10000;
	if (!get_fields(w, n, f, 3))
		return;
	old = push_key(w, "certificates");
	count = list_count(w, f[0].val, f[0].key ? f[0].key : n, "certificates",
	                   "TLS needs at least one certificate (- { cert: FILE, key: FILE })");
	if (count && !(t->certs = calloc(count, sizeof(*t->certs))))
		w->oom = true;
	if (t->certs)
		list_each(w, f[0].val, "must be a mapping with cert and key", each_certificate, t);
	pop(w, old);
	if (f[1].val) {
		old = push_key(w, "min_version");
		v = field_scalar(w, &f[1], "\"1.2\" or \"1.3\"");
		if (v && strcmp(v, "1.2") == 0)
			t->min_version = 12;
		else if (v && strcmp(v, "1.3") == 0)
			t->min_version = 13;
		else if (v)
			werr(w, f[1].val,
			     "must be \"1.2\" or \"1.3\" (older versions are not offered; got "
			     "\"%.64s\")",
			     v);
		pop(w, old);
	}
	get_duration_ms(w, &f[2], 1, TIMEOUT_MAX, &t->handshake_timeout_ms);
}

static void parse_pool_tls(struct walk *w, struct fc_config_pool *p, yaml_node_t *n)
{
	struct field f[] = {F("ca"), F("verify"), F("cert"), F("key")};

	if (n->type != YAML_MAPPING_NODE) {
		werr(w, n, "must be a mapping (ca, verify, cert, key), not %s", kind(n));
		return;
	}
	if (!get_fields(w, n, f, 4))
		return;
	get_file(w, &f[0], &p->tls.ca, &p->tls.ca_at);
	get_bool(w, &f[1], &p->tls.verify);
	get_cert_pair(w, n, &f[2], &f[3], &p->tls.client, true);
	if (!p->tls.verify && p->tls.ca) {
		size_t old = push_key(w, "ca");
		werr(w, f[0].val, "is not used with verify: false (remove one of them)");
		pop(w, old);
	}
}

/* queue: { max, timeout } */
static void parse_queue(struct walk *w, struct fc_config_pool *p, yaml_node_t *n)
{
	struct field f[] = {F("max"), F("timeout")};

	if (n->type != YAML_MAPPING_NODE) {
		werr(w, n, "must be a mapping (max, timeout), not %s", kind(n));
		return;
	}
	p->queue.enabled = true;
	if (!get_fields(w, n, f, 2))
		return;
	get_uint(w, &f[0], 1, 1000000, &p->queue.max);
	get_duration_ms(w, &f[1], 1, TIMEOUT_MAX, &p->queue.timeout_ms);
}

/* A command: a non-empty list of non-empty strings (argv, no shell). */
static void get_argv(struct walk *w, const struct field *f, char ***out, size_t *n_out)
{
	if (!f->val)
		return;
	size_t old = push_key(w, f->name);
	yaml_node_t *n = f->val;
	if (n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.top == n->data.sequence.items.start) {
		werr(w, n,
		     "must be a list: the program and its arguments, e.g. [systemctl, start, app] "
		     "(run without a shell)");
		goto pop_key;
	}
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	char **v = calloc(count + 1, sizeof(*v));
	if (!v) {
		w->oom = true;
		goto pop_key;
	}
	*out = v;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *e = node(w, n->data.sequence.items.start[i]);
		size_t oi = push_index(w, i);
		const char *s = e ? want_scalar(w, e, "a string") : NULL;
		if (s && !s[0])
			werr(w, e, "must not be empty");
		else if (s && !(v[*n_out] = wdup(w, s)))
			;
		else if (s)
			(*n_out)++;
		pop(w, oi);
	}
pop_key:
	pop(w, old);
}

/* wake.url: http://host:port/path, resolved now. */
static void get_wake_url(struct walk *w, const struct field *f, struct fc_config_wake *wk)
{
	if (!f->val)
		return;
	size_t old = push_key(w, f->name);
	const char *v = field_scalar(w, f, "http://host:port/path");
	char auth[512], why[512];
	if (!v)
		goto pop_key;
	const char *rest = strncasecmp(v, "http://", 7) == 0 ? v + 7 : NULL;
	const char *slash = rest ? strchr(rest, '/') : NULL;
	size_t alen = rest ? (slash ? (size_t)(slash - rest) : strlen(rest)) : 0;
	if (!rest || alen == 0 || alen + 8 > sizeof(auth)) {
		werr(w, f->val, "must be http://host:port/path (got \"%.64s\")", v);
		goto pop_key;
	}
	for (const char *c = slash; c && *c; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f) {
			werr(w, f->val, "must be a URL without spaces or control characters");
			goto pop_key;
		}
	snprintf(auth, sizeof(auth), "http://%.*s", (int)alen, rest);
	struct fc_config_server tmp;
	fc__cfg_server_defaults(&tmp);
	int rc = fc__cfg_parse_upstream(auth, &tmp, false, why, sizeof(why));
	if (rc == -ENOMEM)
		w->oom = true;
	else if (rc < 0)
		werr(w, f->val, "%s", why);
	if (rc == 0) {
		memcpy(&wk->url_addr, &tmp.addr, sizeof(wk->url_addr));
		wk->url_addr_len = tmp.addr_len;
		set_string(w, &wk->url, v);
		char hostport[400];
		snprintf(hostport, sizeof(hostport), "%.*s", (int)alen, rest);
		set_string(w, &wk->url_host, hostport);
		set_string(w, &wk->url_path, slash ? slash : "/");
	}
	free(tmp.url);
	free(tmp.host);
pop_key:
	pop(w, old);
}

/* wake: { command | url, stop_command, idle_after, timeout } */
static void parse_wake(struct walk *w, struct fc_config_pool *p, yaml_node_t *n)
{
	struct field f[] = {F("command"), F("url"), F("stop_command"), F("idle_after"),
	                    F("timeout")};
	struct fc_config_wake *wk = &p->wake;

	if (n->type != YAML_MAPPING_NODE) {
		werr(w, n,
		     "must be a mapping (command or url, stop_command, idle_after, timeout), "
		     "not %s",
		     kind(n));
		return;
	}
	wk->enabled = true;
	if (!get_fields(w, n, f, 5))
		return;
	if (!f[0].val == !f[1].val)
		werr(w, f[0].key && f[1].key ? f[1].key : n,
		     "needs command (the program to run: [program, args...]) or url (an HTTP "
		     "POST to http://host:port/path), one of them");
	get_argv(w, &f[0], &wk->command, &wk->n_command);
	get_wake_url(w, &f[1], wk);
	get_argv(w, &f[2], &wk->stop_command, &wk->n_stop_command);
	get_duration_ms(w, &f[3], 0, 7 * DAY, &wk->idle_after_ms);
	get_duration_ms(w, &f[4], 1, HOUR, &wk->timeout_ms);
}

/* The keys of pools.* that decide how many requests a server takes and what
 * waits (docs/traffic.md): max_conns before the servers (their default),
 * queue and wake after them (a queue needs a cap somewhere, or wake:). */
static void parse_pool_limits(struct walk *w, struct fc_config_pool *p, const struct field *max,
                              const struct field *queue, const struct field *wake, bool after)
{
	if (!after) {
		get_uint(w, max, 0, FC_CONFIG_MAX_CONNS, &p->max_conns);
		return;
	}
	if (wake->val) {
		size_t old = push_key(w, "wake");
		parse_wake(w, p, wake->val);
		pop(w, old);
	}
	if (!queue->val)
		return;
	size_t old = push_key(w, "queue");
	parse_queue(w, p, queue->val);
	bool capped = false;
	for (size_t i = 0; i < p->n_servers; i++)
		capped |= p->servers[i].max_conns > 0;
	if (!capped && !p->wake.enabled && p->n_servers)
		werr(w, queue->key,
		     "only used with max_conns (on the pool or one of its servers) or wake: "
		     "without them nothing waits");
	pop(w, old);
}

/* ---- rate limits ---- */

/* The key of an entry of a name -> value mapping (pools, rate_limits), what
 * it names ("pool"): its text, or NULL (reported) when it is no scalar. */
static const char *entry_name(struct walk *w, yaml_node_t *k, const char *what)
{
	if (k->type != YAML_SCALAR_NODE) {
		werr(w, k, "%s names must be plain names, not %s", what, kind(k));
		return NULL;
	}
	return (const char *)k->data.scalar.value;
}

static size_t first_key_line(struct walk *w, yaml_node_t *n, const char *name);

/* Whether that name, under its pushed key, may be used: a plain name (1..64
 * of letters, digits, '_', '-', '.') not taken earlier in map. */
static bool entry_name_ok(struct walk *w, yaml_node_t *map, yaml_node_t *k, const char *name,
                          const char *what, bool taken)
{
	if (strlen(name) != k->data.scalar.length || !fc__cfg_is_name(name)) {
		werr(w, k, "%s names may use letters, digits, '_', '-' and '.' (1..64)", what);
		return false;
	}
	if (taken) {
		werr(w, k, "duplicate %s name (first at line %zu)", what,
		     first_key_line(w, map, name));
		return false;
	}
	return true;
}

/* "100/s", "30/m", "1000/h" into rate and period. */
static void get_rate(struct walk *w, const struct field *f, struct fc_config_rate_limit *rl)
{
	size_t old = push_key(w, "rate");
	const char *v = field_scalar(w, f, "a rate such as 100/s");
	const char *slash = v ? strchr(v, '/') : NULL;
	char num[24];
	uint64_t n = 0;
	uint32_t period = 0;

	if (slash && strcmp(slash, "/s") == 0)
		period = 1000;
	else if (slash && strcmp(slash, "/m") == 0)
		period = 60 * 1000;
	else if (slash && strcmp(slash, "/h") == 0)
		period = 3600 * 1000;
	if (v && period && (size_t)(slash - v) < sizeof(num)) {
		memcpy(num, v, (size_t)(slash - v));
		num[slash - v] = '\0';
		if (fc__cfg_parse_uint(num, &n) < 0)
			period = 0;
	}
	if (v && !period)
		werr(w, f->val,
		     "must be a count per second, minute or hour: 100/s, 30/m, 1000/h "
		     "(got \"%.64s\")",
		     v);
	else if (v && (n < 1 || n > 1000000))
		werr(w, f->val, "the count must be 1..1000000 (got %.64s)", v);
	else if (v) {
		rl->rate = (uint32_t)n;
		rl->period_ms = period;
	}
	pop(w, old);
}

/* "client_ip", "header:NAME" or "cookie:NAME". */
static void get_rate_key(struct walk *w, const struct field *f, struct fc_config_rate_limit *rl)
{
	size_t old = push_key(w, "key");
	const char *v = field_scalar(w, f, "client_ip, header:NAME or cookie:NAME");
	const char *name = NULL;

	if (!v)
		goto out;
	if (strcmp(v, "client_ip") == 0) {
		rl->key = FC_RATE_KEY_CLIENT_IP;
		goto out;
	}
	if (strncmp(v, "header:", 7) == 0) {
		rl->key = FC_RATE_KEY_HEADER;
		name = v + 7;
	} else if (strncmp(v, "cookie:", 7) == 0) {
		rl->key = FC_RATE_KEY_COOKIE;
		name = v + 7;
	}
	if (!name)
		werr(w, f->val, "must be client_ip, header:NAME or cookie:NAME (got \"%.64s\")", v);
	else if (!fc__cfg_is_token(name))
		werr(w, f->val,
		     "must name a %s: letters, digits and !#$%%&'*+-.^_`|~ (got \"%.64s\")",
		     rl->key == FC_RATE_KEY_HEADER ? "header" : "cookie", v);
	else
		set_string(w, &rl->key_name, name);
out:
	pop(w, old);
}

static void parse_rate_limit(struct walk *w, struct fc_config_rate_limit *rl, yaml_node_t *key,
                             yaml_node_t *n)
{
	struct field f[] = {F("key"),      F("rate"),  F("burst"),        F("exempt"),
	                    F("max_keys"), F("scope"), F("on_redis_down")};
	size_t old;

	if (!n) {
		werr(w, key, "a rate limit needs a rate (rate: 100/s)");
		return;
	}
	if (!get_fields(w, n, f, sizeof(f) / sizeof(f[0])))
		return;
	if (f[5].val) {
		old = push_key(w, "scope");
		const char *v = field_scalar(w, &f[5], "local or global");
		if (v && strcmp(v, "global") == 0)
			rl->scope = FC_RATE_SCOPE_GLOBAL;
		else if (v && strcmp(v, "local") != 0)
			werr(w, f[5].val, "must be local or global (got \"%.64s\")", v);
		if (rl->scope == FC_RATE_SCOPE_GLOBAL && !w->cfg->cluster.redis.enabled)
			werr(w, f[5].val,
			     "global needs cluster.redis (cluster: {redis: {address: host:port}}): "
			     "the instances share their counts through it");
		pop(w, old);
	}
	if (f[6].val) {
		old = push_key(w, "on_redis_down");
		const char *v = field_scalar(w, &f[6], "local, allow or deny");
		if (v && strcmp(v, "allow") == 0)
			rl->on_redis_down = FC_RATE_DOWN_ALLOW;
		else if (v && strcmp(v, "deny") == 0)
			rl->on_redis_down = FC_RATE_DOWN_DENY;
		else if (v && strcmp(v, "local") != 0)
			werr(w, f[6].val, "must be local, allow or deny (got \"%.64s\")", v);
		if (v && rl->scope != FC_RATE_SCOPE_GLOBAL)
			werr(w, f[6].val, "only used with scope: global");
		pop(w, old);
	}
	if (f[0].val)
		get_rate_key(w, &f[0], rl);
	if (f[1].val) {
		get_rate(w, &f[1], rl);
	} else {
		old = push_key(w, "rate");
		werr(w, f[1].key ? f[1].key : n, "is required (such as 100/s, 30/m or 1000/h)");
		pop(w, old);
	}
	if (rl->rate) /* a token a second at least: the rate per second rounded up */
		rl->burst =
		        (uint32_t)(((uint64_t)rl->rate * 1000 + rl->period_ms - 1) / rl->period_ms);
	get_uint(w, &f[2], 1, 1000000, &rl->burst);
	get_uint(w, &f[4], 100, 16777216, &rl->max_keys);
	if (f[3].val) {
		yaml_node_t *t = f[3].val;
		size_t count = items_count(t);

		old = push_key(w, "exempt");
		rl->exempt = calloc(count ? count : 1, sizeof(*rl->exempt));
		if (!rl->exempt)
			w->oom = true;
		for (size_t i = 0; rl->exempt && i < count; i++) {
			size_t old_i = 0;
			yaml_node_t *e = item_at(w, t, i, &old_i);
			const char *v = e ? want_scalar(w, e, "an address or CIDR") : NULL;
			const char *why;

			if (v && fc__cfg_check_cidr(v, &why) < 0)
				werr(w, e, "%s (got \"%.64s\")", why, v);
			else if (v && (rl->exempt[rl->n_exempt] = wdup(w, v)))
				rl->n_exempt++;
			if (e)
				item_done(w, t, old_i);
		}
		pop(w, old);
	}
}

static void parse_rate_limits(struct walk *w, yaml_node_t *n)
{
	struct fc_config *cfg = w->cfg;
	yaml_node_pair_t *pair;
	size_t count;

	if (n->type != YAML_MAPPING_NODE) {
		werr(w, n,
		     "must be a mapping of limit name to limit (per_client: {rate: 100/s}), not %s",
		     kind(n));
		return;
	}
	count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (count == 0)
		return;
	if (count > FC_CONFIG_MAX_RATE_LIMITS) {
		werr(w, n, "at most %d rate limits", FC_CONFIG_MAX_RATE_LIMITS);
		return;
	}
	cfg->rate_limits = calloc(count, sizeof(*cfg->rate_limits));
	if (!cfg->rate_limits) {
		w->oom = true;
		return;
	}
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = node(w, pair->key), *v = node(w, pair->value);
		const char *name;
		size_t old;

		if (!k || !v)
			continue;
		if (!(name = entry_name(w, k, "rate limit")))
			continue;
		old = push_key(w, name);
		if (entry_name_ok(w, n, k, name, "rate limit",
		                  fc_config_rate_limit_find(cfg, name) != NULL)) {
			struct fc_config_rate_limit *rl = &cfg->rate_limits[cfg->n_rate_limits++];

			memset(rl, 0, sizeof(*rl));
			rl->key = FC_RATE_KEY_CLIENT_IP;
			rl->max_keys = 100000;
			set_pos(&rl->at, k);
			rl->name = wdup(w, name);
			if (rl->name)
				parse_rate_limit(w, rl, k, is_null(v) ? NULL : v);
		}
		pop(w, old);
	}
}

/* rate_limit: NAME on a route or a pool: one of rate_limits. */
static void get_rate_limit_ref(struct walk *w, const struct field *f,
                               struct fc_config_rate_limit **out)
{
	const struct fc_config *cfg = w->cfg;
	char names[512];
	size_t used = 0;
	size_t old;
	const char *v;

	if (!f->val)
		return;
	old = push_key(w, "rate_limit");
	v = field_scalar(w, f, "a rate limit name");
	if (v && !(*out = (struct fc_config_rate_limit *)fc_config_rate_limit_find(cfg, v))) {
		names[0] = '\0';
		for (size_t i = 0; i < cfg->n_rate_limits; i++) {
			int k = snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
			                 cfg->rate_limits[i].name);
			if (k < 0 || (size_t)k >= sizeof(names) - used)
				break;
			used += (size_t)k;
		}
		if (cfg->n_rate_limits)
			werr(w, f->val, "unknown rate limit \"%.64s\" (rate_limits: %s)", v, names);
		else
			werr(w, f->val, "unknown rate limit \"%.64s\" (no rate_limits are defined)",
			     v);
	}
	pop(w, old);
}

/* retry.on: the failures that are tried again, one or a list. */
static void get_retry_on(struct walk *w, const struct field *f, uint32_t *out)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} names[] = {
	        {"connect_failure", FC_RETRY_ON_CONNECT_FAILURE},
	        {"refused", FC_RETRY_ON_REFUSED},
	        {"reset", FC_RETRY_ON_RESET},
	        {"timeout", FC_RETRY_ON_TIMEOUT},
	        {"502", FC_RETRY_ON_502},
	        {"503", FC_RETRY_ON_503},
	        {"504", FC_RETRY_ON_504},
	};
	size_t old, count, i, k;
	uint32_t on = 0;

	if (!f->key)
		return;
	old = push_key(w, f->name);
	if (!f->val) { /* on: (nothing) = on: [] */
		*out = 0;
		goto pop_key;
	}
	if (f->val->type == YAML_MAPPING_NODE) {
		werr(w, f->val,
		     "must be a list such as [connect_failure, refused, reset, timeout, 502, 503, "
		     "504]");
		goto pop_key;
	}
	count = items_count(f->val);
	for (i = 0; i < count; i++) {
		size_t old_i = 0;
		yaml_node_t *e = item_at(w, f->val, i, &old_i);
		const char *v = e ? want_scalar(w, e, "a failure name") : NULL;

		for (k = 0; v && k < sizeof(names) / sizeof(names[0]); k++)
			if (strcmp(v, names[k].name) == 0)
				break;
		if (v && k == sizeof(names) / sizeof(names[0]))
			werr(w, e,
			     "must be connect_failure, refused, reset, timeout, 502, 503 or 504 "
			     "(got \"%.64s\")",
			     v);
		else if (v && (on & names[k].bit))
			werr(w, e, "duplicate: %s is listed twice", v);
		else if (v)
			on |= names[k].bit;
		item_done(w, f->val, old_i);
	}
	*out = on;
pop_key:
	pop(w, old);
}

/* retry.backoff: off, or {base, max} (max defaults to 10 x base). */
static void parse_backoff(struct walk *w, struct fc_config_retry *r, const struct field *fb)
{
	struct field f[] = {F("base"), F("max")};
	yaml_node_t *n = fb->val;
	const char *v;
	bool on;
	size_t old;

	if (!n)
		return;
	old = push_key(w, fb->name);
	if (n->type == YAML_SCALAR_NODE) {
		v = want_scalar(w, n, "off or a mapping");
		if (v && fc__cfg_parse_bool(v, &on) == 0 && !on)
			r->backoff_base_ms = r->backoff_max_ms = 0;
		else if (v)
			werr(w, n,
			     "must be off or a mapping such as {base: 25ms, max: 250ms} (got "
			     "\"%.64s\")",
			     v);
		goto pop_key;
	}
	if (!get_fields(w, n, f, 2))
		goto pop_key;
	if (!f[0].val) {
		werr(w, n, "needs base: (the first wait, such as 25ms)");
		goto pop_key;
	}
	get_duration_ms(w, &f[0], 1, FC_CONFIG_MAX_BACKOFF_MS, &r->backoff_base_ms);
	r->backoff_max_ms = r->backoff_base_ms * 10 > FC_CONFIG_MAX_BACKOFF_MS
	                            ? FC_CONFIG_MAX_BACKOFF_MS
	                            : r->backoff_base_ms * 10;
	get_duration_ms(w, &f[1], 1, FC_CONFIG_MAX_BACKOFF_MS, &r->backoff_max_ms);
	check_order(w, &f[0], r->backoff_base_ms, &f[1], r->backoff_max_ms, true);
pop_key:
	pop(w, old);
}

/* retry.budget: a percentage, off, or {percent, min}. */
static void parse_budget(struct walk *w, struct fc_config_retry *r, const struct field *fb)
{
	struct field f[] = {F("percent"), F("min")};
	yaml_node_t *n = fb->val;
	const char *v;
	bool on;
	size_t old;

	if (!n)
		return;
	if (n->type == YAML_SCALAR_NODE) {
		v = (const char *)n->data.scalar.value;
		if (fc__cfg_parse_bool(v, &on) == 0 && !on) {
			r->budget_pct = 100;
			return;
		}
		get_percent(w, fb, &r->budget_pct);
		return;
	}
	old = push_key(w, fb->name);
	if (get_fields(w, n, f, 2)) {
		get_percent(w, &f[0], &r->budget_pct);
		get_uint(w, &f[1], 0, 100000, &r->budget_min);
	}
	pop(w, old);
}

/* A pool's retry: block; retries (the older spelling of retry.attempts) was
 * read before it. */
static void parse_retry(struct walk *w, struct fc_config_pool *p, const struct field *fr,
                        const struct field *fold)
{
	struct field f[] = {F("attempts"),        F("same_server"),    F("on"),
	                    F("per_try_timeout"), F("backoff"),        F("budget"),
	                    F("replay_buffer"),   F("idempotency_key")};
	struct fc_config_retry *r = &p->retry;
	yaml_node_t *n = fr->val;
	size_t old;

	if (!n)
		return;
	old = push_key(w, fr->name);
	if (!get_fields(w, n, f, sizeof(f) / sizeof(f[0])))
		goto pop_key;
	get_uint(w, &f[0], 0, FC_CONFIG_MAX_RETRIES, &r->attempts);
	get_uint(w, &f[1], 0, FC_CONFIG_MAX_RETRIES, &r->same_server);
	if (f[1].val && r->same_server > r->attempts) {
		size_t o2 = push_key(w, "same_server");
		werr(w, f[1].val, "must be at most attempts (%u): the attempts count them too",
		     r->attempts);
		pop(w, o2);
	}
	get_retry_on(w, &f[2], &r->on);
	get_duration_ms(w, &f[3], 1, TIMEOUT_MAX, &r->per_try_timeout_ms);
	if (f[3].val && r->per_try_timeout_ms > p->response_timeout_ms) {
		char buf[32];
		size_t o2 = push_key(w, "per_try_timeout");
		format_duration(p->response_timeout_ms, buf, sizeof(buf));
		werr(w, f[3].val, "must be at most the pool's response_timeout (%s)", buf);
		pop(w, o2);
	}
	parse_backoff(w, r, &f[4]);
	parse_budget(w, r, &f[5]);
	get_size(w, &f[6], 0, 16u << 20, &r->replay_buffer);
	get_bool(w, &f[7], &r->idempotency_key);
pop_key:
	pop(w, old);
	if (fold->key && f[0].key) {
		old = push_key(w, fold->name);
		werr(w, fold->key,
		     "is the older name of retry.attempts, which is written too (line %zu): keep "
		     "one",
		     f[0].key->start_mark.line + 1);
		pop(w, old);
	}
}

/* ---- discover ---- */

/* A DNS name: dot-separated labels of letters, digits, '-' and '_' (SRV
 * names start with _service._proto), at most 253 characters. */
static bool is_dns_name(const char *s)
{
	size_t len = strlen(s), label = 0;
	if (len == 0 || len > 254 || (len == 254 && s[253] != '.'))
		return false;
	for (const char *c = s; *c; c++) {
		if (*c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*c) || *c == '-' || *c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* A resolver: "IP", "IP:port", "[IPv6]" or "[IPv6]:port" (port 53 when not
 * written); the canonical "IP:port" / "[IPv6]:port" into out. */
static int resolver_canon(const char *v, char *out, size_t len)
{
	char host[64];
	const char *port = NULL;
	struct in6_addr a6;
	struct in_addr a4;
	if (v[0] == '[') {
		const char *end = strchr(v, ']');
		if (!end || (size_t)(end - v - 1) >= sizeof(host))
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(end - v - 1), v + 1);
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return -EINVAL;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1])
			return -EINVAL;
	} else {
		const char *colon = strchr(v, ':');
		size_t hl = colon ? (size_t)(colon - v) : strlen(v);
		if (hl >= sizeof(host))
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)hl, v);
		if (inet_pton(AF_INET, host, &a4) != 1)
			return -EINVAL;
		port = colon ? colon + 1 : NULL;
	}
	uint64_t n = 53;
	if (port && (fc__cfg_parse_uint(port, &n) < 0 || n < 1 || n > 65535))
		return -EINVAL;
	snprintf(out, len, v[0] == '[' ? "[%s]:%llu" : "%s:%llu", host, (unsigned long long)n);
	return 0;
}

static void get_resolvers(struct walk *w, const struct field *f, struct fc_config_discover *d)
{
	if (!f->val)
		return;
	size_t old = push_key(w, f->name);
	yaml_node_t *n = f->val;
	size_t count = n->type == YAML_SEQUENCE_NODE
	                       ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
	                       : 0;
	if (count == 0 || count > FC_CONFIG_MAX_RESOLVERS) {
		werr(w, n,
		     "must be a list of 1..%d DNS servers, e.g. [127.0.0.1:53, \"[::1]:5353\"]",
		     FC_CONFIG_MAX_RESOLVERS);
		goto pop_key;
	}
	if (!(d->resolvers = calloc(count, sizeof(*d->resolvers)))) {
		w->oom = true;
		goto pop_key;
	}
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *e = node(w, n->data.sequence.items.start[i]);
		size_t oi = push_index(w, i);
		const char *s = e ? want_scalar(w, e, "IP:port") : NULL;
		char canon[96];
		if (s && resolver_canon(s, canon, sizeof(canon)) < 0)
			werr(w, e,
			     "must be an IP address with an optional port: 10.0.0.2, 10.0.0.2:53 "
			     "or "
			     "[fd00::2]:53 (got \"%.64s\")",
			     s);
		else if (s && (d->resolvers[d->n_resolvers] = wdup(w, canon)))
			d->n_resolvers++;
		pop(w, oi);
	}
pop_key:
	pop(w, old);
}

/* discover: { dns, type, resolvers, interval, timeout, port, scheme } */
static void parse_discover(struct walk *w, struct fc_config_pool *p, yaml_node_t *n)
{
	struct field f[] = {F("dns"),     F("type"), F("resolvers"), F("interval"),
	                    F("timeout"), F("port"), F("scheme")};
	struct fc_config_discover *d = &p->discover;
	size_t old;
	const char *v;

	d->type = FC_DISCOVER_SRV; /* written: servers: is not needed, even when it is wrong */
	if (n->type != YAML_MAPPING_NODE) {
		werr(w, n,
		     "must be a mapping (dns, type, resolvers, interval, timeout, port, scheme), "
		     "not %s",
		     kind(n));
		return;
	}
	set_pos(&d->at, n);
	if (!get_fields(w, n, f, sizeof(f) / sizeof(f[0])))
		return;
	if (!f[0].val) {
		old = push_key(w, "dns");
		werr(w, f[0].key ? f[0].key : n,
		     "is required: the name to look up, e.g. _http._tcp.app.example.com");
		pop(w, old);
	}
	get_string(w, &f[0], "a DNS name", is_dns_name,
	           "must be a DNS name: labels of letters, digits, '-' and '_' joined by dots",
	           &d->name);
	if (f[1].val) {
		old = push_key(w, "type");
		v = field_scalar(w, &f[1], "srv, a or aaaa");
		if (v && strcasecmp(v, "srv") == 0)
			d->type = FC_DISCOVER_SRV;
		else if (v && strcasecmp(v, "a") == 0)
			d->type = FC_DISCOVER_A;
		else if (v && strcasecmp(v, "aaaa") == 0)
			d->type = FC_DISCOVER_AAAA;
		else if (v)
			werr(w, f[1].val, "must be srv, a or aaaa (got \"%.64s\")", v);
		pop(w, old);
	}
	get_resolvers(w, &f[2], d);
	get_duration_ms(w, &f[3], 1000, DAY, &d->interval_ms);
	get_duration_ms(w, &f[4], 100, 60000, &d->timeout_ms);
	if (f[6].val) {
		old = push_key(w, "scheme");
		v = field_scalar(w, &f[6], "http or https");
		if (v && strcmp(v, "https") == 0)
			d->tls = true;
		else if (v && strcmp(v, "http") != 0)
			werr(w, f[6].val, "must be http or https (got \"%.64s\")", v);
		pop(w, old);
	}
	if (f[5].val && d->type == FC_DISCOVER_SRV) {
		old = push_key(w, "port");
		werr(w, f[5].key, "only used with type a or aaaa (SRV records carry the port)");
		pop(w, old);
	} else {
		uint32_t port = d->tls ? 443 : 80;
		get_uint(w, &f[5], 1, 65535, &port);
		d->port = (uint16_t)port;
	}
	if (d->tls)
		p->has_tls_servers = true;
}

/* resolve: true / false / { resolvers, interval, timeout }: the host names
 * of the servers' url: are looked up at run time (docs/cluster.md). */
static void parse_resolve(struct walk *w, struct fc_config_pool *p, const struct field *rf)
{
	struct field f[] = {F("resolvers"), F("interval"), F("timeout")};
	struct fc_config_discover *r = &p->resolve;
	yaml_node_t *n = rf->val;
	size_t old = push_key(w, "resolve");

	set_pos(&r->at, n);
	if (n->type == YAML_SCALAR_NODE) {
		bool on = false;
		const char *v = want_scalar(w, n, "true, false or a mapping");
		if (v && fc__cfg_parse_bool(v, &on) < 0)
			werr(w, n,
			     "must be true, false or a mapping (resolvers, interval, timeout), "
			     "got \"%.64s\"",
			     v);
		r->type = on ? FC_DISCOVER_HOSTS : FC_DISCOVER_NONE;
	} else if (n->type != YAML_MAPPING_NODE) {
		werr(w, n,
		     "must be true, false or a mapping (resolvers, interval, timeout), not %s",
		     kind(n));
	} else if (get_fields(w, n, f, sizeof(f) / sizeof(f[0]))) {
		r->type = FC_DISCOVER_HOSTS;
		get_resolvers(w, &f[0], r);
		get_duration_ms(w, &f[1], 1000, DAY, &r->interval_ms);
		get_duration_ms(w, &f[2], 100, 60000, &r->timeout_ms);
	}
	pop(w, old);
}

static void parse_pool(struct walk *w, struct fc_config_pool *p, yaml_node_t *key, yaml_node_t *n)
{
	struct field f[] = {F("algorithm"),
	                    F("servers"),
	                    F("connect_timeout"),
	                    F("response_timeout"),
	                    F("idle_timeout"),
	                    F("max_idle"),
	                    F("retries"),
	                    F("cooldown"),
	                    F("slow_start"),
	                    F("sticky"),
	                    F("hash"),
	                    F("health"),
	                    F("passive"),
	                    F("panic_threshold"),
	                    F("tls"),
	                    F("protocol"),
	                    F("rate_limit"),
	                    F("retry"),
	                    F("max_conns"),
	                    F("queue"),
	                    F("wake"),
	                    F("discover"),
	                    F("resolve")};
	char why[512];
	size_t old;
	const char *v;

	if (!n) {
		werr(w, key, "a pool needs at least one server (servers: [http://host:port])");
		return;
	}
	if (!get_fields(w, n, f, sizeof(f) / sizeof(f[0])))
		return;
	if (f[15].val) {
		old = push_key(w, "protocol");
		v = field_scalar(w, &f[15], "http1 or h2");
		if (v && strcmp(v, "h2") == 0)
			p->protocol = FC_POOL_H2;
		else if (v && strcmp(v, "http1") == 0)
			p->protocol = FC_POOL_HTTP1;
		else if (v)
			werr(w, f[15].val, "must be http1 or h2 (got \"%.64s\")", v);
		pop(w, old);
	}
	if (f[0].val) {
		old = push_key(w, "algorithm");
		v = field_scalar(w, &f[0], "an algorithm name");
		if (v && fc__cfg_check_algorithm(v, why, sizeof(why)) < 0)
			werr(w, f[0].val, "%s", why);
		/* Kept even when unknown: later checks (hash) then judge what was meant. */
		if (v)
			set_string(w, &p->algorithm, v);
		pop(w, old);
	}
	/* Health before servers: a server's health: starts from the pool's. */
	memset(&w->pool_health_set, 0, sizeof(w->pool_health_set));
	if (f[11].val) {
		struct fc_config_health base = p->health; /* defaults: owns nothing yet */
		const struct health_set none = {false, false};

		old = push_key(w, "health");
		memset(&p->health, 0, sizeof(p->health));
		parse_health(w, &p->health, f[11].val, &base, &none, &w->pool_health_set);
		pop(w, old);
	}
	parse_pool_limits(w, p, &f[18], &f[19], &f[20], false);
	if (f[21].val) {
		old = push_key(w, "discover");
		parse_discover(w, p, f[21].val);
		pop(w, old);
	}
	if (f[22].val)
		parse_resolve(w, p, &f[22]);
	parse_servers(w, p, &f[1], key);
	parse_pool_limits(w, p, &f[18], &f[19], &f[20], true);
	get_duration_ms(w, &f[2], 1, TIMEOUT_MAX, &p->connect_timeout_ms);
	get_duration_ms(w, &f[3], 1, TIMEOUT_MAX, &p->response_timeout_ms);
	get_duration_ms(w, &f[4], 1, TIMEOUT_MAX, &p->idle_timeout_ms);
	get_max_idle(w, &f[5], &p->max_idle);
	get_uint(w, &f[6], 0, FC_CONFIG_MAX_RETRIES, &p->retry.attempts);
	get_duration_ms(w, &f[7], 0, HOUR, &p->cooldown_ms);
	get_duration_ms(w, &f[8], 0, TIMEOUT_MAX, &p->slow_start_ms);
	if (f[9].val) {
		old = push_key(w, "sticky");
		parse_sticky(w, p, f[9].val);
		pop(w, old);
	}
	if (f[10].val) {
		old = push_key(w, "hash");
		if (strcmp(p->algorithm, "ip_hash") != 0 &&
		    strcmp(p->algorithm, "consistent_hash") != 0)
			werr(w, f[10].key,
			     "only used with algorithm ip_hash or consistent_hash (this pool uses "
			     "%s)",
			     p->algorithm);
		else
			parse_hash(w, p, f[10].val);
		pop(w, old);
	}
	if (f[12].val) {
		old = push_key(w, "passive");
		parse_passive(w, &p->passive, f[12].val);
		pop(w, old);
	}
	get_percent(w, &f[13], &p->panic_threshold_pct);
	if (f[14].val) {
		old = push_key(w, "tls");
		parse_pool_tls(w, p, f[14].val);
		pop(w, old);
	}
	parse_retry(w, p, &f[17], &f[6]);
	for (size_t i = 0; i < p->n_servers; i++)
		p->has_tls_servers |= p->servers[i].tls;
	get_rate_limit_ref(w, &f[16], &p->rate_limit);
}

/* Line of the first key of mapping n spelled name (1-based). */
static size_t first_key_line(struct walk *w, yaml_node_t *n, const char *name)
{
	yaml_node_pair_t *pair;

	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = node(w, pair->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, name) == 0)
			return k->start_mark.line + 1;
	}
	return 0;
}

static void parse_pools(struct walk *w, yaml_node_t *n)
{
	struct fc_config *cfg = w->cfg;
	yaml_node_pair_t *pair;
	size_t count;

	if (n->type != YAML_MAPPING_NODE) {
		werr(w, n, "must be a mapping of pool name to pool, not %s", kind(n));
		return;
	}
	count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (count == 0)
		return;
	cfg->pools = calloc(count, sizeof(*cfg->pools));
	if (!cfg->pools) {
		w->oom = true;
		return;
	}
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = node(w, pair->key), *v = node(w, pair->value);
		struct fc_config_pool *p;
		const char *name;
		size_t old;

		if (!k || !v)
			continue;
		if (!(name = entry_name(w, k, "pool")))
			continue;
		old = push_key(w, name);
		if (entry_name_ok(w, n, k, name, "pool", fc_config_pool_find(cfg, name) != NULL)) {
			p = &cfg->pools[cfg->n_pools++];
			fc__cfg_pool_defaults(p);
			p->name = wdup(w, name);
			p->algorithm = wdup(w, "round_robin");
			if (p->name && p->algorithm)
				parse_pool(w, p, k, is_null(v) ? NULL : v);
			if (fc__cfg_pool_finish(p) < 0)
				w->oom = true;
		}
		pop(w, old);
	}
}

static void pool_names(const struct fc_config *cfg, char *buf, size_t len)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < cfg->n_pools; i++) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", cfg->pools[i].name);

		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

static void parse_route(struct walk *w, struct fc_config_listener *l, yaml_node_t *n)
{
	struct field f[] = {F("host"), F("path"), F("pool"), F("rate_limit")};
	struct fc_config_route *r = &l->routes[l->n_routes];
	const char *v, *why;
	char names[512];
	size_t old, i;

	memset(r, 0, sizeof(*r));
	l->n_routes++;
	if (!get_fields(w, n, f, 4))
		return;
	get_rate_limit_ref(w, &f[3], &r->rate_limit);
	if (f[0].val) {
		old = push_key(w, "host");
		set_pos(&r->host_at, f[0].val);
		v = field_scalar(w, &f[0], "a host name");
		if (v) {
			int rc = fc__cfg_check_route_host(v, &r->host, &why);

			if (rc == -ENOMEM)
				w->oom = true;
			else if (rc < 0)
				werr(w, f[0].val, "%s (got \"%.64s\")", why, v);
		}
		pop(w, old);
	}
	if (f[1].val) {
		old = push_key(w, "path");
		v = field_scalar(w, &f[1], "a path prefix");
		if (v && fc__cfg_check_route_path(v, &why) < 0)
			werr(w, f[1].val, "%s (got \"%.64s\")", why, v);
		else if (v)
			set_string(w, &r->path, v);
		pop(w, old);
	}
	if (!r->path)
		r->path = wdup(w, "/");
	old = push_key(w, "pool");
	if (!f[2].val) {
		werr(w, f[2].key ? f[2].key : n, "is required (the pool this route sends to)");
	} else if ((v = field_scalar(w, &f[2], "a pool name"))) {
		r->pool = wdup(w, v);
		r->pool_ref = (struct fc_config_pool *)fc_config_pool_find(w->cfg, v);
		if (!r->pool_ref) {
			pool_names(w->cfg, names, sizeof(names));
			if (w->cfg->n_pools)
				werr(w, f[2].val, "unknown pool \"%.64s\" (pools: %s)", v, names);
			else
				werr(w, f[2].val, "unknown pool \"%.64s\" (no pools are defined)",
				     v);
		}
	}
	pop(w, old);
	if (!r->path)
		return;
	for (i = 0; i + 1 < l->n_routes; i++) {
		const struct fc_config_route *o = &l->routes[i];

		if (o->path && strcmp(o->path, r->path) == 0 &&
		    ((!o->host && !r->host) || (o->host && r->host && !strcmp(o->host, r->host)))) {
			werr(w, n, "same host and path as routes[%zu], so it could never match", i);
			break;
		}
	}
}

static void each_route(struct walk *w, void *ctx, yaml_node_t *e)
{
	parse_route(w, ctx, e);
}

static void parse_listener(struct walk *w, yaml_node_t *n)
{
	struct field f[] = {F("name"),     F("address"),       F("routes"), F("tls"),
	                    F("redirect"), F("redirect_port"), F("http2")};
	struct fc_config *cfg = w->cfg;
	struct fc_config_listener *l = &cfg->listeners[cfg->n_listeners];
	size_t old, i, count;
	const char *v;
	char why[512];
	long other;

	memset(l, 0, sizeof(*l));
	cfg->n_listeners++;
	if (!get_fields(w, n, f, 7))
		return;
	if (f[3].val) {
		old = push_key(w, "tls");
		parse_listener_tls(w, l, f[3].val);
		pop(w, old);
	}
	l->http2 = l->tls ? FC_HTTP2_ON : FC_HTTP2_OFF;
	if (f[6].val) {
		bool b;

		old = push_key(w, "http2");
		v = field_scalar(w, &f[6], "on, off or prior_knowledge");
		if (v && strcmp(v, "prior_knowledge") == 0) {
			if (l->tls)
				werr(w, f[6].val,
				     "a TLS listener negotiates HTTP/2 by ALPN: write on (the "
				     "default) or off");
			else
				l->http2 = FC_HTTP2_PRIOR_KNOWLEDGE;
		} else if (v && fc__cfg_parse_bool(v, &b) == 0) {
			if (b && !l->tls)
				werr(w, f[6].val,
				     "a plain listener speaks HTTP/2 only to clients that start "
				     "with it: write prior_knowledge (or add tls:)");
			else
				l->http2 = b ? FC_HTTP2_ON : FC_HTTP2_OFF;
		} else if (v) {
			werr(w, f[6].val, "must be on, off or prior_knowledge (got \"%.64s\")", v);
		}
		pop(w, old);
	}
	if (f[4].val) {
		old = push_key(w, "redirect");
		v = field_scalar(w, &f[4], "https");
		if (v && strcmp(v, "https") == 0)
			l->redirect_https = true;
		else if (v)
			werr(w, f[4].val, "must be https (got \"%.64s\")", v);
		if (l->redirect_https && l->tls)
			werr(w, f[4].val, "a TLS listener cannot redirect to https (it is https)");
		if (l->redirect_https && f[2].val)
			werr(w, f[4].val,
			     "answers every request with a redirect: remove routes (or redirect)");
		pop(w, old);
	}
	if (l->redirect_https && l->http2 != FC_HTTP2_OFF) {
		old = push_key(w, "http2");
		werr(w, f[6].val, "a redirect: https listener answers HTTP/1.1 only");
		pop(w, old);
	}
	if (f[5].val) {
		uint32_t port = 0;

		get_uint(w, &f[5], 1, 65535, &port);
		l->redirect_port = (uint16_t)port;
		if (!f[4].val) {
			old = push_key(w, "redirect_port");
			werr(w, f[5].val, "is only used with redirect: https");
			pop(w, old);
		}
	}
	old = push_key(w, "address");
	if (!f[1].val) {
		werr(w, f[1].key ? f[1].key : n, "is required (e.g. 127.0.0.1:8080 or :8080)");
	} else if ((v = field_scalar(w, &f[1], "an address"))) {
		if (fc__cfg_parse_listen(v, &l->addr, &l->addr_len, why, sizeof(why)) < 0) {
			werr(w, f[1].val, "%s", why);
		} else {
			l->address = wdup(w, v);
			other = l->address ? fc__cfg_listener_conflict(cfg, cfg->n_listeners - 1)
			                   : -1;
			if (other >= 0)
				werr(w, f[1].val, "%s overlaps listeners[%ld] (%s)", v, other,
				     cfg->listeners[other].address);
		}
	}
	pop(w, old);
	if (f[0].val) {
		old = push_key(w, "name");
		v = field_scalar(w, &f[0], "a name");
		if (v && !fc__cfg_is_label(v))
			werr(w, f[0].val,
			     "must be 1..128 printable characters without spaces, quotes "
			     "or '/' (got \"%.64s\")",
			     v);
		else if (v)
			set_string(w, &l->name, v);
		pop(w, old);
	}
	if (!l->name && l->address)
		l->name = wdup(w, l->address);
	for (i = 0; l->name && i + 1 < cfg->n_listeners; i++) {
		if (cfg->listeners[i].name && strcmp(cfg->listeners[i].name, l->name) == 0) {
			old = push_key(w, "name");
			werr(w, f[0].val ? f[0].val : n,
			     "duplicate listener name \"%s\" (listeners[%zu])", l->name, i);
			pop(w, old);
			break;
		}
	}
	if (l->redirect_https)
		return;
	old = push_key(w, "routes");
	count = list_count(w, f[2].val, f[2].key ? f[2].key : n, "routes",
	                   "a listener needs at least one route (- pool: NAME)");
	if (count && !(l->routes = calloc(count, sizeof(*l->routes))))
		w->oom = true;
	if (l->routes)
		list_each(w, f[2].val, "must be a mapping with pool (and host, path)", each_route,
		          l);
	pop(w, old);
}

static void each_listener(struct walk *w, void *ctx, yaml_node_t *e)
{
	(void)ctx;
	parse_listener(w, e);
}

static void parse_listeners(struct walk *w, const struct field *f, yaml_node_t *root)
{
	struct fc_config *cfg = w->cfg;
	size_t old = push_key(w, "listeners");
	size_t count = list_count(w, f->val, f->key ? f->key : root, "listeners",
	                          "at least one listener is required (- address: 127.0.0.1:8080)");
	if (count && !(cfg->listeners = calloc(count, sizeof(*cfg->listeners))))
		w->oom = true;
	if (cfg->listeners)
		list_each(w, f->val, "must be a mapping with address and routes", each_listener,
		          NULL);
	pop(w, old);
}

static bool is_abs_path(const char *s)
{
	return s[0] == '/' && is_file_name(s);
}

/* http2: the limits of HTTP/2 client connections. */
static void parse_http2(struct walk *w, yaml_node_t *n)
{
	struct field f[] = {F("max_concurrent_streams"), F("initial_window_size"),
	                    F("connection_window_size"), F("max_frame_size"),
	                    F("max_header_list_size"),   F("max_glitches")};
	struct fc_config_http2 *h = &w->cfg->http2;

	if (n->type != YAML_MAPPING_NODE) {
		werr(w, n, "must be a mapping (max_concurrent_streams: 100, ...), not %s", kind(n));
		return;
	}
	get_fields(w, n, f, sizeof(f) / sizeof(f[0]));
	get_uint(w, &f[0], 1, 10000, &h->max_concurrent_streams);
	/* within RFC 9113 §6.5.2's bounds (windows up to 2^31-1, frames
	 * 16 KiB..16 MiB-1), in round sizes */
	get_size(w, &f[1], 1024, 1024 * 1024 * 1024, &h->initial_window_size);
	get_size(w, &f[2], 65535, 1024 * 1024 * 1024, &h->connection_window_size);
	get_size(w, &f[3], 16384, 8 * 1024 * 1024, &h->max_frame_size);
	get_size(w, &f[4], 1024, 1024 * 1024, &h->max_header_list_size);
	w->h2_list_size = f[4].val;
	get_uint(w, &f[5], 1, 1000000, &h->max_glitches);
}

/* The first line of a secret's file (a password), read now: 0, or an error
 * at the file's key. */
static void read_secret_file(struct walk *w, const struct field *f, const char *path, char **out)
{
	size_t old = push_key(w, f->name);
	char buf[4097];
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		werr(w, f->val, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			werr(w, f->val, "cannot read %s: %s", path, strerror(errno));
			close(fd);
			goto out;
		}
		n += (size_t)r;
		if (r == 0 || n == sizeof(buf) - 1)
			break;
	}
	close(fd);
	buf[n] = '\0';
	if (n == sizeof(buf) - 1) {
		werr(w, f->val, "%s: longer than 4096 bytes", path);
		goto wipe;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0])
		werr(w, f->val, "%s: the file is empty (its first line is the password)", path);
	else
		set_string(w, out, buf);
wipe:
	memset(buf, 0, sizeof(buf));
out:
	pop(w, old);
}

static bool is_key_prefix(const char *s)
{
	if (strlen(s) > 64)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* cluster: redis: {address, password_file, timeout, key_prefix}. */
static void parse_cluster(struct walk *w, yaml_node_t *n)
{
	struct field f[] = {F("redis")};
	struct field r[] = {F("address"), F("password_file"), F("timeout"), F("key_prefix")};
	struct fc_config_redis *rd = &w->cfg->cluster.redis;
	char why[300];

	if (n->type != YAML_MAPPING_NODE) {
		werr(w, n, "must be a mapping (redis: {address: 127.0.0.1:6379}), not %s", kind(n));
		return;
	}
	get_fields(w, n, f, 1);
	if (!f[0].val)
		return;
	size_t old = push_key(w, "redis");
	if (!get_fields(w, f[0].val, r, sizeof(r) / sizeof(r[0])))
		goto out;
	rd->enabled = true;
	set_pos(&rd->at, f[0].key);
	set_string(w, &rd->key_prefix, "fulcrum:");
	if (!r[0].val) {
		size_t o2 = push_key(w, "address");
		werr(w, r[0].key ? r[0].key : f[0].val, "is required (such as 127.0.0.1:6379)");
		pop(w, o2);
	} else {
		size_t o2 = push_key(w, "address");
		const char *v = field_scalar(w, &r[0], "host:port");
		if (v && fc__cfg_parse_redis_address(v, rd->host, sizeof(rd->host), &rd->port, why,
		                                     sizeof(why)) < 0)
			werr(w, r[0].val, "%s", why);
		else if (v)
			set_string(w, &rd->address, v);
		pop(w, o2);
	}
	get_string(w, &r[1], "a file name", is_file_name, "must be a file name",
	           &rd->password_file);
	if (rd->password_file)
		read_secret_file(w, &r[1], rd->password_file, &rd->password);
	get_duration_ms(w, &r[2], 1, 60000, &rd->timeout_ms);
	get_string(w, &r[3], "a key prefix", is_key_prefix,
	           "must be at most 64 printable characters without spaces", &rd->key_prefix);
out:
	pop(w, old);
}

/* admin: listen, token_file. */
static void parse_admin(struct walk *w, yaml_node_t *n)
{
	struct field f[] = {F("listen"), F("token_file")};
	struct fc_config_admin *a = &w->cfg->admin;
	char why[160];

	if (n->type != YAML_MAPPING_NODE) {
		werr(w, n, "must be a mapping (listen: 127.0.0.1:9901, token_file: ...), not %s",
		     kind(n));
		return;
	}
	get_fields(w, n, f, sizeof(f) / sizeof(f[0]));
	a->enabled = true;
	const char *v = "127.0.0.1:9901";
	size_t old = push_key(w, "listen");
	if (f[0].val)
		v = field_scalar(w, &f[0], "an address");
	if (v && fc__cfg_parse_listen(v, &a->addr, &a->addr_len, why, sizeof(why)) < 0)
		werr(w, f[0].val ? f[0].val : n, "%s", why);
	else if (v)
		set_string(w, &a->listen, v);
	pop(w, old);
	get_file(w, &f[1], &a->token_file, &a->token_file_at);
}

static void parse_root(struct walk *w, yaml_node_t *root)
{
	struct field f[] = {F("workers"),   F("shutdown_grace"), F("log"),      F("client"),
	                    F("listeners"), F("pools"),          F("io_uring"), F("tunnel_timeout"),
	                    F("state_dir"), F("pid_file"),       F("watch"),    F("admin"),
	                    F("http2"),     F("rate_limits"),    F("cluster")};
	struct fc_config *cfg = w->cfg;
	yaml_node_t empty;

	if (!root || is_null(root)) {
		/* An empty file: every default, and the missing listeners to report. */
		memset(&empty, 0, sizeof(empty));
		empty.type = YAML_MAPPING_NODE;
		root = &empty;
	}
	if (root->type != YAML_MAPPING_NODE) {
		werr(w, root,
		     "the top level must be a mapping (workers:, listeners:, pools:, ...), "
		     "not %s",
		     kind(root));
		return;
	}
	get_fields(w, root, f, sizeof(f) / sizeof(f[0]));
	if (f[0].val) {
		const char *v;
		size_t old = push_key(w, "workers");

		v = field_scalar(w, &f[0], "auto or a number");
		if (v && strcmp(v, "0") != 0 && fc_config_parse_workers(v, &cfg->workers) < 0)
			werr(w, f[0].val, "must be auto or 1..%d (got \"%.64s\")",
			     FC__CFG_WORKERS_MAX, v);
		pop(w, old);
	}
	get_duration_ms(w, &f[1], 0, TIMEOUT_MAX, &cfg->shutdown_grace_ms);
	get_duration_ms(w, &f[7], 1, TIMEOUT_MAX, &cfg->tunnel_timeout_ms);
	get_string(w, &f[8], "a directory", is_abs_path, "must be an absolute path",
	           &cfg->state_dir);
	get_string(w, &f[9], "a file name", is_file_name, "must be a file name", &cfg->pid_file);
	get_bool(w, &f[10], &cfg->watch);
	if (f[11].val) {
		size_t old = push_key(w, "admin");

		parse_admin(w, f[11].val);
		pop(w, old);
	}
	if (f[12].val) {
		size_t old = push_key(w, "http2");

		parse_http2(w, f[12].val);
		pop(w, old);
	}
	if (f[6].val) {
		size_t old = push_key(w, "io_uring");
		const char *v = field_scalar(w, &f[6], "auto, on or off");
		if (v && fc_config_parse_io_uring(v, &cfg->io_uring) < 0)
			werr(w, f[6].val, "must be auto, on or off (got \"%.64s\")", v);
		pop(w, old);
	}
	if (f[2].val) {
		size_t old = push_key(w, "log");

		parse_log(w, f[2].val);
		pop(w, old);
	}
	if (f[3].val) {
		size_t old = push_key(w, "client");

		parse_client(w, f[3].val);
		pop(w, old);
	}
	/* The cluster before rate limits: a global one needs its Redis. */
	if (f[14].val) {
		size_t old = push_key(w, "cluster");

		parse_cluster(w, f[14].val);
		pop(w, old);
	}
	/* Rate limits, then pools, so pools and routes can name what is
	 * defined further down. */
	if (f[13].val) {
		size_t old = push_key(w, "rate_limits");

		parse_rate_limits(w, f[13].val);
		pop(w, old);
	}
	if (f[5].val) {
		size_t old = push_key(w, "pools");

		parse_pools(w, f[5].val);
		pop(w, old);
	}
	parse_listeners(w, &f[4], root == &empty ? NULL : root);
	/* an HTTP/2 request's fields become an HTTP/1.1 head in the same buffers
	 * as an HTTP/1.1 client's: the default follows a smaller max_header_size */
	if (!w->h2_list_size && cfg->http2.max_header_list_size > cfg->max_header_size) {
		cfg->http2.max_header_list_size = cfg->max_header_size;
	} else if (cfg->http2.max_header_list_size > cfg->max_header_size) {
		size_t old = push_key(w, "http2");
		size_t old2 = push_key(w, "max_header_list_size");
		werr(w, w->h2_list_size,
		     "%u is more than client.max_header_size (%u): raise that too",
		     cfg->http2.max_header_list_size, cfg->max_header_size);
		pop(w, old2);
		pop(w, old);
	}
	if (cfg->admin.listen) {
		for (size_t i = 0; i < cfg->n_listeners; i++) {
			const struct sockaddr_storage *a = &cfg->admin.addr,
			                              *b = &cfg->listeners[i].addr;
			if (cfg->listeners[i].address && a->ss_family == b->ss_family &&
			    fc__cfg_addr_overlap(a, b)) {
				size_t old = push_key(w, "admin");
				size_t old2 = push_key(w, "listen");
				werr(w, f[11].val, "%s overlaps listeners[%zu] (%s)",
				     cfg->admin.listen, i, cfg->listeners[i].address);
				pop(w, old2);
				pop(w, old);
				break;
			}
		}
	}
}

static void syntax_error(struct fc__cfg_errs *errs, const yaml_parser_t *parser)
{
	const char *problem = parser->problem ? parser->problem : "invalid YAML";

	if (parser->error == YAML_READER_ERROR) {
		fc__cfg_err(errs, 0, 0, NULL, "YAML: %s at byte %zu", problem,
		            parser->problem_offset);
	} else if (parser->context) {
		fc__cfg_err(errs, (unsigned)parser->problem_mark.line + 1,
		            (unsigned)parser->problem_mark.column + 1, NULL,
		            "YAML: %s %s (line %zu)", problem, parser->context,
		            parser->context_mark.line + 1);
	} else {
		fc__cfg_err(errs, (unsigned)parser->problem_mark.line + 1,
		            (unsigned)parser->problem_mark.column + 1, NULL, "YAML: %s", problem);
	}
}

struct fc_config *fc__cfg_load_yaml(const char *text, size_t len, const char *name,
                                    struct fc__cfg_errs *errs)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	struct walk w;
	struct fc_config *cfg = NULL;

	if (!yaml_parser_initialize(&parser))
		return NULL;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(errs, &parser);
		goto delete_parser;
	}
	if (yaml_document_get_root_node(&doc)) {
		/* A second document would be silently ignored: refuse it. */
		if (!yaml_parser_load(&parser, &extra)) {
			syntax_error(errs, &parser);
			goto delete_doc;
		}
		if (yaml_document_get_root_node(&extra))
			fc__cfg_err(errs, (unsigned)extra.start_mark.line + 1,
			            (unsigned)extra.start_mark.column + 1, NULL,
			            "only one YAML document is allowed");
		yaml_document_delete(&extra);
	}
	cfg = fc__cfg_alloc(name);
	if (!cfg)
		goto delete_doc;
	memset(&w, 0, sizeof(w));
	w.doc = &doc;
	w.errs = errs;
	w.cfg = cfg;
	parse_root(&w, yaml_document_get_root_node(&doc));
	if (w.oom) {
		fc_config_unref(cfg);
		cfg = NULL;
	}
delete_doc:
	yaml_document_delete(&doc);
delete_parser:
	yaml_parser_delete(&parser);
	return cfg;
}
