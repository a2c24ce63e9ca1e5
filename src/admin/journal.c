/* journal.c — the admin API's journal (see journal.h): parsed with jansson,
 * written with our JSON writer, replaced atomically, applied to fresh
 * configs. */
#include "admin/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/json.h"
#include "core/file.h"
#include "proxy/state.h"

#define MAX_JOURNAL_SIZE (16u << 20)

/* ---------------------------------------------------------------- memory */

static void pool_fini(struct fc_journal_pool *p)
{
	free(p->name);
	for (size_t i = 0; i < p->n_added; i++) {
		free(p->added[i].name);
		free(p->added[i].url);
	}
	free(p->added);
	for (size_t i = 0; i < p->n_removed; i++)
		free(p->removed[i]);
	free(p->removed);
	for (size_t i = 0; i < p->n_ovr; i++)
		free(p->ovr[i].name);
	free(p->ovr);
	memset(p, 0, sizeof(*p));
}

void fc_journal_fini(struct fc_journal *j)
{
	for (size_t i = 0; i < j->n_pools; i++)
		pool_fini(&j->pools[i]);
	free(j->pools);
	memset(j, 0, sizeof(*j));
}

static struct fc_journal_pool *pool_find(const struct fc_journal *j, const char *name)
{
	for (size_t i = 0; i < j->n_pools; i++)
		if (strcmp(j->pools[i].name, name) == 0)
			return &j->pools[i];
	return NULL;
}

static struct fc_journal_pool *pool_get(struct fc_journal *j, const char *name)
{
	struct fc_journal_pool *p = pool_find(j, name);
	if (p)
		return p;
	struct fc_journal_pool *v = realloc(j->pools, (j->n_pools + 1) * sizeof(*v));
	if (!v)
		return NULL;
	j->pools = v;
	p = &v[j->n_pools];
	memset(p, 0, sizeof(*p));
	if (!(p->name = strdup(name)))
		return NULL;
	j->n_pools++;
	return p;
}

static long added_index(const struct fc_journal_pool *p, const char *name)
{
	for (size_t i = 0; i < p->n_added; i++)
		if (strcmp(p->added[i].name, name) == 0)
			return (long)i;
	return -1;
}

static long removed_index(const struct fc_journal_pool *p, const char *name)
{
	for (size_t i = 0; i < p->n_removed; i++)
		if (strcmp(p->removed[i], name) == 0)
			return (long)i;
	return -1;
}

static long ovr_index(const struct fc_journal_pool *p, const char *name)
{
	for (size_t i = 0; i < p->n_ovr; i++)
		if (strcmp(p->ovr[i].name, name) == 0)
			return (long)i;
	return -1;
}

static void drop_added(struct fc_journal_pool *p, size_t i)
{
	free(p->added[i].name);
	free(p->added[i].url);
	memmove(&p->added[i], &p->added[i + 1], (p->n_added - i - 1) * sizeof(p->added[0]));
	p->n_added--;
}

static void drop_removed(struct fc_journal_pool *p, size_t i)
{
	free(p->removed[i]);
	memmove(&p->removed[i], &p->removed[i + 1], (p->n_removed - i - 1) * sizeof(char *));
	p->n_removed--;
}

static void drop_ovr(struct fc_journal_pool *p, size_t i)
{
	free(p->ovr[i].name);
	memmove(&p->ovr[i], &p->ovr[i + 1], (p->n_ovr - i - 1) * sizeof(p->ovr[0]));
	p->n_ovr--;
}

static int push_added(struct fc_journal_pool *p, const char *name, const char *url, unsigned weight)
{
	struct fc_journal_added *v = realloc(p->added, (p->n_added + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->added = v;
	struct fc_journal_added *a = &v[p->n_added];
	a->name = strdup(name);
	a->url = strdup(url);
	a->weight = weight;
	if (!a->name || !a->url) {
		free(a->name);
		free(a->url);
		return -ENOMEM;
	}
	p->n_added++;
	return 0;
}

static int push_removed(struct fc_journal_pool *p, const char *name)
{
	char **v = realloc(p->removed, (p->n_removed + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->removed = v;
	if (!(v[p->n_removed] = strdup(name)))
		return -ENOMEM;
	p->n_removed++;
	return 0;
}

static struct fc_journal_override *ovr_get(struct fc_journal_pool *p, const char *name)
{
	long i = ovr_index(p, name);
	if (i >= 0)
		return &p->ovr[i];
	struct fc_journal_override *v = realloc(p->ovr, (p->n_ovr + 1) * sizeof(*v));
	if (!v)
		return NULL;
	p->ovr = v;
	struct fc_journal_override *o = &v[p->n_ovr];
	memset(o, 0, sizeof(*o));
	if (!(o->name = strdup(name)))
		return NULL;
	p->n_ovr++;
	return o;
}

int fc_journal_copy(struct fc_journal *dst, const struct fc_journal *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n_pools; i++) {
		const struct fc_journal_pool *sp = &src->pools[i];
		struct fc_journal_pool *dp = pool_get(dst, sp->name);
		if (!dp)
			goto nomem;
		for (size_t k = 0; k < sp->n_added; k++)
			if (push_added(dp, sp->added[k].name, sp->added[k].url,
			               sp->added[k].weight) < 0)
				goto nomem;
		for (size_t k = 0; k < sp->n_removed; k++)
			if (push_removed(dp, sp->removed[k]) < 0)
				goto nomem;
		for (size_t k = 0; k < sp->n_ovr; k++) {
			struct fc_journal_override *o = ovr_get(dp, sp->ovr[k].name);
			if (!o)
				goto nomem;
			char *name = o->name;
			*o = sp->ovr[k];
			o->name = name;
		}
	}
	return 0;
nomem:
	fc_journal_fini(dst);
	return -ENOMEM;
}

/* ---------------------------------------------------------------- changes */

/* A pool with nothing left in it goes. */
static void pool_tidy(struct fc_journal *j, struct fc_journal_pool *p)
{
	if (p->n_added || p->n_removed || p->n_ovr)
		return;
	size_t i = (size_t)(p - j->pools);
	pool_fini(p);
	memmove(&j->pools[i], &j->pools[i + 1], (j->n_pools - i - 1) * sizeof(j->pools[0]));
	j->n_pools--;
}

int fc_journal_add(struct fc_journal *j, const char *pool, const char *name, const char *url,
                   unsigned weight)
{
	struct fc_journal_pool *p = pool_get(j, pool);
	if (!p)
		return -ENOMEM;
	/* a fresh server: whatever was set for an earlier one of that name goes */
	long o = ovr_index(p, name);
	if (o >= 0)
		drop_ovr(p, (size_t)o);
	long a = added_index(p, name);
	if (a >= 0)
		drop_added(p, (size_t)a);
	return push_added(p, name, url, weight);
}

int fc_journal_remove(struct fc_journal *j, const char *pool, const char *name)
{
	struct fc_journal_pool *p = pool_get(j, pool);
	if (!p)
		return -ENOMEM;
	long o = ovr_index(p, name);
	if (o >= 0)
		drop_ovr(p, (size_t)o);
	long a = added_index(p, name);
	int rc = 0;
	if (a >= 0)
		drop_added(p, (size_t)a); /* added by the API: forgetting it is enough */
	else if (removed_index(p, name) < 0)
		rc = push_removed(p, name); /* the file's: remembered as removed */
	pool_tidy(j, p);
	return rc;
}

int fc_journal_set(struct fc_journal *j, const char *pool, const char *name, bool has_weight,
                   unsigned weight, bool has_state, enum fc_admin_state state)
{
	struct fc_journal_pool *p = pool_get(j, pool);
	if (!p)
		return -ENOMEM;
	long a = added_index(p, name);
	if (a >= 0 && has_weight) {
		/* an added server carries its weight itself */
		p->added[a].weight = weight;
		has_weight = false;
	}
	if (!has_weight && !has_state)
		return 0;
	struct fc_journal_override *o = ovr_get(p, name);
	if (!o)
		return -ENOMEM;
	if (has_weight) {
		o->has_weight = true;
		o->weight = weight;
	}
	if (has_state) {
		/* ready is the default: no need to remember it */
		o->has_state = state != FC_ADMIN_READY;
		o->state = state;
	}
	if (!o->has_weight && !o->has_state) {
		drop_ovr(p, (size_t)(o - p->ovr));
		pool_tidy(j, p);
	}
	return 0;
}

const struct fc_journal_override *fc_journal_find(const struct fc_journal *j, const char *pool,
                                                  const char *name)
{
	const struct fc_journal_pool *p = pool_find(j, pool);
	if (!p)
		return NULL;
	long i = ovr_index(p, name);
	return i >= 0 ? &p->ovr[i] : NULL;
}

/* ---------------------------------------------------------------- text */

const char *fc_admin_state_name(enum fc_admin_state s)
{
	return s == FC_ADMIN_DRAIN ? "drain" : s == FC_ADMIN_MAINT ? "maint" : "ready";
}

int fc_admin_state_parse(const char *s, enum fc_admin_state *out)
{
	if (strcmp(s, "ready") == 0)
		*out = FC_ADMIN_READY;
	else if (strcmp(s, "drain") == 0)
		*out = FC_ADMIN_DRAIN;
	else if (strcmp(s, "maint") == 0)
		*out = FC_ADMIN_MAINT;
	else
		return -EINVAL;
	return 0;
}

char *fc_journal_format(const struct fc_journal *j)
{
	struct fc_json w;
	fc_json_init(&w);
	fc_json_obj(&w);
	fc_json_kuint(&w, "version", 1);
	fc_json_key(&w, "pools");
	fc_json_obj(&w);
	for (size_t i = 0; i < j->n_pools; i++) {
		const struct fc_journal_pool *p = &j->pools[i];
		fc_json_key(&w, p->name);
		fc_json_obj(&w);
		fc_json_key(&w, "added");
		fc_json_arr(&w);
		for (size_t k = 0; k < p->n_added; k++) {
			fc_json_obj(&w);
			fc_json_kstr(&w, "name", p->added[k].name);
			fc_json_kstr(&w, "url", p->added[k].url);
			fc_json_kuint(&w, "weight", p->added[k].weight);
			fc_json_obj_end(&w);
		}
		fc_json_arr_end(&w);
		fc_json_key(&w, "removed");
		fc_json_arr(&w);
		for (size_t k = 0; k < p->n_removed; k++)
			fc_json_str(&w, p->removed[k]);
		fc_json_arr_end(&w);
		fc_json_key(&w, "servers");
		fc_json_obj(&w);
		for (size_t k = 0; k < p->n_ovr; k++) {
			const struct fc_journal_override *o = &p->ovr[k];
			fc_json_key(&w, o->name);
			fc_json_obj(&w);
			if (o->has_weight)
				fc_json_kuint(&w, "weight", o->weight);
			if (o->has_state)
				fc_json_kstr(&w, "state", fc_admin_state_name(o->state));
			fc_json_obj_end(&w);
		}
		fc_json_obj_end(&w);
		fc_json_obj_end(&w);
	}
	fc_json_obj_end(&w);
	fc_json_obj_end(&w);
	fc_json_raw(&w, "\n", 1);
	if (w.oom || w.bad || w.depth) {
		fc_json_fini(&w);
		return NULL;
	}
	return w.buf; /* taken */
}

static int perr(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool get_weight(json_t *v, unsigned *out)
{
	if (!json_is_integer(v))
		return false;
	json_int_t w = json_integer_value(v);
	if (w < 0 || w > 1000)
		return false;
	*out = (unsigned)w;
	return true;
}

static int parse_pool(struct fc_journal *j, const char *pname, json_t *pv, char *err, size_t errlen)
{
	if (!json_is_object(pv))
		return perr(err, errlen, "pools.%s: must be an object", pname);
	struct fc_journal_pool *p = pool_get(j, pname);
	if (!p)
		return -ENOMEM;
	const char *key;
	json_t *v;
	json_object_foreach(pv, key, v)
	{
		if (strcmp(key, "added") == 0) {
			if (!json_is_array(v))
				return perr(err, errlen, "pools.%s.added: must be a list", pname);
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e)
			{
				json_t *n = json_object_get(e, "name"),
				       *u = json_object_get(e, "url"),
				       *w = json_object_get(e, "weight");
				unsigned weight = 1;
				if (!json_is_object(e) || !json_is_string(n) ||
				    !json_is_string(u) || (w && !get_weight(w, &weight)) ||
				    json_object_size(e) != 2u + (w != NULL))
					return perr(
					        err, errlen,
					        "pools.%s.added[%zu]: must be {\"name\", \"url\", "
					        "\"weight\": 0..1000}",
					        pname, i);
				if (added_index(p, json_string_value(n)) >= 0)
					return perr(err, errlen, "pools.%s.added[%zu]: %s twice",
					            pname, i, json_string_value(n));
				if (push_added(p, json_string_value(n), json_string_value(u),
				               weight) < 0)
					return -ENOMEM;
			}
		} else if (strcmp(key, "removed") == 0) {
			if (!json_is_array(v))
				return perr(err, errlen, "pools.%s.removed: must be a list", pname);
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e)
			{
				if (!json_is_string(e))
					return perr(err, errlen,
					            "pools.%s.removed[%zu]: must be a server name",
					            pname, i);
				if (removed_index(p, json_string_value(e)) < 0 &&
				    push_removed(p, json_string_value(e)) < 0)
					return -ENOMEM;
			}
		} else if (strcmp(key, "servers") == 0) {
			if (!json_is_object(v))
				return perr(err, errlen, "pools.%s.servers: must be an object",
				            pname);
			const char *sname;
			json_t *sv;
			json_object_foreach(v, sname, sv)
			{
				json_t *w = json_object_get(sv, "weight"),
				       *st = json_object_get(sv, "state");
				struct fc_journal_override o = {0};
				if (!json_is_object(sv) ||
				    json_object_size(sv) != (size_t)(w != NULL) + (st != NULL) ||
				    (w && !get_weight(w, &o.weight)) ||
				    (st &&
				     (!json_is_string(st) ||
				      fc_admin_state_parse(json_string_value(st), &o.state) < 0)))
					return perr(err, errlen,
					            "pools.%s.servers.%s: must be {\"weight\": "
					            "0..1000, "
					            "\"state\": \"ready\"|\"drain\"|\"maint\"}",
					            pname, sname);
				struct fc_journal_override *d = ovr_get(p, sname);
				if (!d)
					return -ENOMEM;
				d->has_weight = w != NULL;
				d->weight = o.weight;
				d->has_state = st != NULL && o.state != FC_ADMIN_READY;
				d->state = o.state;
			}
		} else {
			return perr(err, errlen, "pools.%s: unknown key \"%s\"", pname, key);
		}
	}
	return 0;
}

int fc_journal_parse(const char *text, size_t len, struct fc_journal *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return perr(err, errlen, "line %d column %d: %s", je.line, je.column, je.text);
	int rc = 0;
	json_t *ver = json_object_get(root, "version"), *pools = json_object_get(root, "pools");
	if (!json_is_object(root) || !json_is_integer(ver) || json_integer_value(ver) != 1) {
		rc = perr(err, errlen, "must be an object with \"version\": 1");
		goto out;
	}
	if (json_object_size(root) != 1u + (pools != NULL)) {
		rc = perr(err, errlen, "unknown key at the top (only version and pools)");
		goto out;
	}
	if (pools && !json_is_object(pools)) {
		rc = perr(err, errlen, "pools: must be an object");
		goto out;
	}
	const char *pname;
	json_t *pv;
	json_object_foreach(pools, pname, pv)
	{
		rc = parse_pool(out, pname, pv, err, errlen);
		if (rc < 0)
			goto out;
	}
	/* pools that say nothing are not kept */
	for (size_t i = out->n_pools; i-- > 0;)
		pool_tidy(out, &out->pools[i]);
out:
	json_decref(root);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (rc < 0)
		fc_journal_fini(out);
	return rc;
}

/* ---------------------------------------------------------------- files */

static void path_of(const char *dir, const char *file, char *buf, size_t len)
{
	size_t n = strlen(dir);
	snprintf(buf, len, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", file);
}

int fc_journal_load(const char *dir, struct fc_journal *out, char *err, size_t errlen)
{
	char path[4200];
	memset(out, 0, sizeof(*out));
	path_of(dir, FC_JOURNAL_FILE, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		int e = errno;
		snprintf(err, errlen, "journal %s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_JOURNAL_SIZE) {
		close(fd);
		snprintf(err, errlen, "journal %s: not a regular file of at most 16 MiB", path);
		return -EINVAL;
	}
	size_t size = (size_t)st.st_size, got = 0;
	char *text = malloc(size + 1);
	if (!text) {
		close(fd);
		snprintf(err, errlen, "journal %s: out of memory", path);
		return -ENOMEM;
	}
	while (got < size) {
		ssize_t r = read(fd, text + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	char why[512];
	int rc = fc_journal_parse(text, got, out, why, sizeof(why));
	free(text);
	if (rc < 0)
		snprintf(err, errlen, "journal %s: %s (fix or remove the file)", path, why);
	return rc;
}

int fc_journal_save(const char *dir, const struct fc_journal *j, char *err, size_t errlen)
{
	char path[4200];
	if (!dir) {
		snprintf(err, errlen,
		         "journal: no writable state directory (state_dir or a "
		         "fallback): the change is not kept, so it is not made");
		return -EROFS;
	}
	path_of(dir, FC_JOURNAL_FILE, path, sizeof(path));
	int rc = fc_state_mkdir(dir, 0750);
	if (rc < 0) {
		snprintf(err, errlen, "journal %s: cannot create the state directory %s: %s", path,
		         dir, strerror(-rc));
		return rc;
	}
	char *text = fc_journal_format(j);
	if (!text) {
		snprintf(err, errlen, "journal %s: out of memory", path);
		return -ENOMEM;
	}
	const char *step;
	rc = fc_file_replace(path, text, strlen(text), 0640, true, &step);
	free(text);
	if (rc < 0)
		snprintf(err, errlen, "journal %s: %s: %s", path, step, strerror(-rc));
	return rc;
}

/* ---------------------------------------------------------------- apply */

/* One pool's changes as one line. */
struct line {
	char text[1024];
	size_t len;
	unsigned n;
};

static void line_add(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_add(struct line *l, const char *fmt, ...)
{
	if (l->len >= sizeof(l->text) - 1)
		return;
	if (l->n++)
		l->len += (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len, ", ");
	if (l->len >= sizeof(l->text) - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(l->text + l->len, sizeof(l->text) - l->len, fmt, ap);
	va_end(ap);
	l->len += n > 0 ? (size_t)n : 0;
	if (l->len >= sizeof(l->text))
		l->len = sizeof(l->text) - 1;
}

static void say(fc_journal_report_fn report, void *arg, bool warning, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void say(fc_journal_report_fn report, void *arg, bool warning, const char *fmt, ...)
{
	if (!report)
		return;
	char msg[1400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report(arg, warning, msg);
}

static struct fc_config_pool *cfg_pool(struct fc_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_pools; i++)
		if (strcmp(cfg->pools[i].name, name) == 0)
			return &cfg->pools[i];
	return NULL;
}

static int apply(struct fc_config *fresh, const char *dir, fc_journal_report_fn report, void *arg,
                 bool write_back, char *err, size_t errlen)
{
	struct fc_journal j;
	char path[4200];
	if (!dir)
		return 0; /* no state directory: no journal to apply */
	path_of(dir, FC_JOURNAL_FILE, path, sizeof(path));
	int rc = fc_journal_load(dir, &j, err, errlen);
	if (rc < 0)
		return rc;
	unsigned dropped = 0;
	for (size_t pi = 0; pi < j.n_pools;) {
		struct fc_journal_pool *p = &j.pools[pi];
		struct fc_config_pool *cp = cfg_pool(fresh, p->name);
		if (!cp) {
			say(report, arg, true,
			    "journal %s: pool %s is not in the configuration any more; its entries "
			    "are dropped",
			    path, p->name);
			dropped++;
			pool_fini(p);
			memmove(p, p + 1, (j.n_pools - pi - 1) * sizeof(*p));
			j.n_pools--;
			continue;
		}
		struct line l = {.len = 0};
		l.len = (size_t)snprintf(l.text, sizeof(l.text), "journal %s: pool %s: ", path,
		                         p->name);
		for (size_t k = 0; k < p->n_removed;) {
			if (fc_config_pool_remove_server(cp, p->removed[k]) < 0) {
				say(report, arg, true,
				    "journal %s: pool %s: server %s is not in the file any more; "
				    "its "
				    "removal is dropped",
				    path, p->name, p->removed[k]);
				dropped++;
				drop_removed(p, k);
				continue;
			}
			line_add(&l, "removes server %s", p->removed[k]);
			k++;
		}
		for (size_t k = 0; k < p->n_added;) {
			struct fc_journal_added *a = &p->added[k];
			if (fc_config_server_index(cp, a->name) >= 0) {
				say(report, arg, true,
				    "journal %s: pool %s: server %s is in the file now; the one "
				    "the "
				    "API added (%s) is dropped",
				    path, p->name, a->name, a->url);
				dropped++;
				drop_added(p, k);
				continue;
			}
			struct fc_config_server cs;
			char why[600];
			rc = fc_config_server_parse(cp, a->url, a->name, a->weight, &cs, why,
			                            sizeof(why));
			if (rc == 0) {
				cs.journal_added = true;
				rc = fc_config_pool_add_server(cp, &cs);
				if (rc < 0)
					fc_config_server_fini(&cs);
			}
			if (rc < 0) {
				snprintf(err, errlen, "journal %s: pool %s: added server %s: %s",
				         path, p->name, a->name,
				         rc == -ENOMEM ? "out of memory" : why);
				goto out;
			}
			line_add(&l, "adds server %s (%s, weight %u)", a->name, a->url, a->weight);
			k++;
		}
		for (size_t k = 0; k < p->n_ovr;) {
			struct fc_journal_override *o = &p->ovr[k];
			long si = fc_config_server_index(cp, o->name);
			if (si < 0) {
				say(report, arg, true,
				    "journal %s: pool %s: server %s is not in the pool any more; "
				    "what "
				    "the API set for it is dropped",
				    path, p->name, o->name);
				dropped++;
				drop_ovr(p, k);
				continue;
			}
			struct fc_config_server *cs = &cp->servers[si];
			if (o->has_weight) {
				cs->weight = o->weight;
				line_add(&l, "sets %s weight %u", o->name, o->weight);
			}
			if (o->has_state) {
				cs->admin_state = o->state;
				line_add(&l,
				         o->state == FC_ADMIN_DRAIN ? "drains %s"
				                                    : "puts %s in maintenance",
				         o->name);
			}
			k++;
		}
		if (l.n)
			say(report, arg, false, "%s", l.text);
		if (!p->n_added && !p->n_removed && !p->n_ovr) {
			pool_fini(p);
			memmove(p, p + 1, (j.n_pools - pi - 1) * sizeof(*p));
			j.n_pools--;
			continue;
		}
		pi++;
	}
	free(fresh->journal);
	fresh->journal = NULL;
	if (j.n_pools && !(fresh->journal = fc_journal_format(&j))) {
		rc = -ENOMEM;
		snprintf(err, errlen, "journal %s: out of memory", path);
		goto out;
	}
	if (dropped && write_back) {
		char why[4400];
		if (fc_journal_save(dir, &j, why, sizeof(why)) < 0)
			say(report, arg, true, "%s (the dropped entries stay in the file)", why);
	}
	rc = 0;
out:
	fc_journal_fini(&j);
	return rc;
}

int fc_journal_apply(struct fc_config *fresh, const char *state_dir, fc_journal_report_fn report,
                     void *arg, char *err, size_t errlen)
{
	return apply(fresh, state_dir, report, arg, true, err, errlen);
}

int fc_journal_preview(struct fc_config *fresh, const char *state_dir, fc_journal_report_fn report,
                       void *arg, char *err, size_t errlen)
{
	return apply(fresh, state_dir, report, arg, false, err, errlen);
}
