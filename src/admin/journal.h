/* journal.h — what the admin API changed, kept in state_dir/journal.json so
 * that it survives reloads and restarts: per pool, the servers added, the
 * servers of the file removed, and per server a weight and an admin state.
 * Each write replaces the file atomically (a temp file, fsync, rename, fsync
 * of the directory). At every start and reload the journal is applied to the
 * freshly loaded config; where the file and the journal disagree the file
 * was edited on purpose (docs/operations.md, "The journal"):
 *   - a pool the file no longer has: its entries are dropped;
 *   - an added server whose name the file now has: dropped;
 *   - a removed server the file does not have: dropped;
 *   - a weight or state for a server the pool does not have: dropped;
 *   - otherwise the journal wins for the servers it names.
 * Dropped entries are warnings, and fc_journal_apply writes the journal back
 * without them. */
#ifndef FC_ADMIN_JOURNAL_H
#define FC_ADMIN_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

#define FC_JOURNAL_FILE "journal.json"

struct fc_journal_added {
	char *name, *url;
	unsigned weight;
};

struct fc_journal_override {
	char *name;
	bool has_weight, has_state;
	unsigned weight;
	enum fc_admin_state state;
};

struct fc_journal_pool {
	char *name;
	struct fc_journal_added *added;
	size_t n_added;
	char **removed;
	size_t n_removed;
	struct fc_journal_override *ovr;
	size_t n_ovr;
};

/* Zero is an empty journal. */
struct fc_journal {
	struct fc_journal_pool *pools;
	size_t n_pools;
};

void fc_journal_fini(struct fc_journal *j);
/* Deep copy; -ENOMEM (dst then empty). */
/* "ready", "drain", "maint": the words of the API and the journal. */
const char *fc_admin_state_name(enum fc_admin_state s);
/* 0 and *out, or -EINVAL for another word. */
int fc_admin_state_parse(const char *s, enum fc_admin_state *out);

int fc_journal_copy(struct fc_journal *dst, const struct fc_journal *src);

/** Parses journal text (the format above). 0, or -EINVAL with "line L
 * column C: ..." or the offending key in err, -ENOMEM. */
int fc_journal_parse(const char *text, size_t len, struct fc_journal *out, char *err,
                     size_t errlen);
/** The journal as JSON text (malloc'ed, NUL-terminated), or NULL (no memory). */
char *fc_journal_format(const struct fc_journal *j);

/** Reads dir/journal.json into out: 0 (out empty when there is no file),
 * or -errno with "journal PATH: ..." in err. */
int fc_journal_load(const char *dir, struct fc_journal *out, char *err, size_t errlen);
/** Writes j to dir/journal.json atomically, creating dir (mode 0750, and
 * its parents) when it is missing. 0, or -errno with "journal PATH: ..." in
 * err; the old file is then untouched. */
int fc_journal_save(const char *dir, const struct fc_journal *j, char *err, size_t errlen);

/* Changes to a journal in memory (names are copied). Each returns 0 or -ENOMEM. */
int fc_journal_add(struct fc_journal *j, const char *pool, const char *name, const char *url,
                   unsigned weight);
int fc_journal_remove(struct fc_journal *j, const char *pool, const char *name);
int fc_journal_set(struct fc_journal *j, const char *pool, const char *name, bool has_weight,
                   unsigned weight, bool has_state, enum fc_admin_state state);
/* The override of a server, or NULL. */
const struct fc_journal_override *fc_journal_find(const struct fc_journal *j, const char *pool,
                                                  const char *name);

/* Receives one line: what the journal changes (warning false) or an entry
 * it drops (warning true). */
typedef void (*fc_journal_report_fn)(void *arg, bool warning, const char *msg);

/** Applies state_dir's journal to fresh, a config just loaded and not yet
 * shared: adds servers (validated as the file's are), removes, sets weights
 * and admin states (fc_config_server.admin_state); records the journal
 * applied in fresh->journal (JSON text). report (may be NULL) gets one line
 * per pool changed, "journal PATH: pool web: adds server d (http://...),
 * sets b weight 3, drains c", and one per entry dropped. When entries were
 * dropped the file is written back without them. Returns 0, or -errno with
 * the message in err (an unreadable or malformed journal, an added server
 * whose URL no longer resolves): fresh is then not to be used. */
int fc_journal_apply(struct fc_config *fresh, const char *state_dir, fc_journal_report_fn report,
                     void *arg, char *err, size_t errlen);

/** The same for --check: reports, changes fresh, writes nothing. */
int fc_journal_preview(struct fc_config *fresh, const char *state_dir, fc_journal_report_fn report,
                       void *arg, char *err, size_t errlen);

#endif
