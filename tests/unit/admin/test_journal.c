/* test_journal.c — the admin journal: text round trip, the changes in
 * memory, atomic save and load in a temp dir (the directory is created),
 * and apply on a fresh config with the rule for disagreements (the file
 * wins where the journal is stale, each drop is reported and written back). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "admin/journal.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fulcrum-journal-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	static char buf[8192];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

static void test_round_trip_and_changes(void **state)
{
	(void)state;
	struct fc_journal j = {0}, k;
	char err[256];
	assert_int_equal(fc_journal_add(&j, "web", "d", "http://127.0.0.1:9", 2), 0);
	assert_int_equal(fc_journal_remove(&j, "web", "c"), 0);
	assert_int_equal(fc_journal_set(&j, "web", "b", true, 3, true, FC_ADMIN_DRAIN), 0);
	assert_int_equal(fc_journal_set(&j, "web", "d", true, 7, false, FC_ADMIN_READY), 0);
	char *t = fc_journal_format(&j);
	assert_string_equal(t,
	                    "{\"version\":1,\"pools\":{\"web\":{\"added\":[{\"name\":\"d\",\"url\":"
	                    "\"http://127.0.0.1:9\",\"weight\":7}],\"removed\":[\"c\"],"
	                    "\"servers\":{\"b\":{\"weight\":3,\"state\":\"drain\"}}}}}\n");
	assert_int_equal(fc_journal_parse(t, strlen(t), &k, err, sizeof(err)), 0);
	char *t2 = fc_journal_format(&k);
	assert_string_equal(t, t2); /* parsed back to the same */
	free(t2);
	free(t);
	const struct fc_journal_override *o = fc_journal_find(&k, "web", "b");
	assert_non_null(o);
	assert_true(o->has_weight && o->has_state);
	assert_int_equal(o->weight, 3);
	assert_int_equal(o->state, FC_ADMIN_DRAIN);
	fc_journal_fini(&k);

	/* removing an added server forgets it; back to ready forgets the state */
	assert_int_equal(fc_journal_remove(&j, "web", "d"), 0);
	assert_int_equal(fc_journal_set(&j, "web", "b", false, 0, true, FC_ADMIN_READY), 0);
	o = fc_journal_find(&j, "web", "b");
	assert_true(o && o->has_weight && !o->has_state);
	/* a removed server added again is added (and still removed from the file) */
	assert_int_equal(fc_journal_add(&j, "web", "c", "http://127.0.0.1:10", 1), 0);
	t = fc_journal_format(&j);
	assert_non_null(strstr(t, "\"removed\":[\"c\"]"));
	assert_non_null(strstr(t, "\"name\":\"c\""));
	free(t);
	fc_journal_fini(&j);
}

static void test_parse_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "",
	        "{",
	        "[]",
	        "{\"version\": 2}",
	        "{\"version\": 1, \"extra\": 1}",
	        "{\"version\": 1, \"pools\": []}",
	        "{\"version\": 1, \"pools\": {\"w\": {\"added\": [{\"name\": \"a\"}]}}}",
	        "{\"version\": 1, \"pools\": {\"w\": {\"added\": [{\"name\": \"a\", \"url\": "
	        "\"u\", "
	        "\"weight\": 1001}]}}}",
	        "{\"version\": 1, \"pools\": {\"w\": {\"servers\": {\"a\": {\"state\": "
	        "\"off\"}}}}}",
	        "{\"version\": 1, \"pools\": {\"w\": {\"servers\": {\"a\": {\"x\": 1}}}}}",
	        "{\"version\": 1, \"pools\": {\"w\": {\"removed\": [1]}}}",
	        "{\"version\": 1, \"pools\": {\"w\": {\"what\": 1}}}",
	        "{\"version\": 1, \"version\": 1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fc_journal j;
		char err[256] = "";
		if (fc_journal_parse(bad[i], strlen(bad[i]), &j, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err[0] != 0);
	}
}

static void test_save_creates_dir_and_replaces(void **state)
{
	(void)state;
	char sub[128], path[160], err[512];
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	struct fc_journal j = {0}, k;
	assert_int_equal(fc_journal_add(&j, "web", "d", "http://127.0.0.1:9", 1), 0);
	assert_int_equal(fc_journal_save(sub, &j, err, sizeof(err)), 0);
	struct stat st;
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0750);
	snprintf(path, sizeof(path), "%s/journal.json.tmp", sub);
	assert_int_not_equal(access(path, F_OK), 0); /* no temp file left */
	assert_int_equal(fc_journal_load(sub, &k, err, sizeof(err)), 0);
	assert_int_equal(k.n_pools, 1);
	assert_string_equal(k.pools[0].added[0].name, "d");
	fc_journal_fini(&k);
	/* no file: an empty journal, no error */
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(fc_journal_load(path, &k, err, sizeof(err)), 0);
	assert_int_equal(k.n_pools, 0);
	/* a directory that cannot be made: an error, the message names it */
	snprintf(path, sizeof(path), "%s/file", dir);
	write_text(path, "x");
	snprintf(sub, sizeof(sub), "%s/file/sub", dir);
	assert_true(fc_journal_save(sub, &j, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, sub));
	/* a malformed file is an error naming it */
	snprintf(sub, sizeof(sub), "%s/bad", dir);
	mkdir(sub, 0750);
	snprintf(path, sizeof(path), "%s/journal.json", sub);
	write_text(path, "{not json");
	assert_int_equal(fc_journal_load(sub, &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	fc_journal_fini(&j);
}

struct lines {
	char text[4096];
	int warnings, changes;
};

static void collect(void *arg, bool warning, const char *msg)
{
	struct lines *l = arg;
	snprintf(l->text + strlen(l->text), sizeof(l->text) - strlen(l->text), "%s%s\n",
	         warning ? "W " : "C ", msg);
	if (warning)
		l->warnings++;
	else
		l->changes++;
}

static struct fc_config *load(void)
{
	static const char yaml[] =
	        "listeners: [{address: 127.0.0.1:18080, routes: [{pool: web}]}]\n"
	        "pools:\n"
	        "  web:\n"
	        "    servers:\n"
	        "      - {url: http://127.0.0.1:9001, name: a}\n"
	        "      - {url: http://127.0.0.1:9002, name: b}\n"
	        "      - {url: http://127.0.0.1:9003, name: c}\n";
	char err[1024];
	struct fc_config *cfg =
	        fc_config_load_string(yaml, sizeof(yaml) - 1, "t.yaml", err, sizeof(err));
	if (!cfg)
		fail_msg("%s", err);
	return cfg;
}

static const struct fc_config_server *server(const struct fc_config *cfg, const char *name)
{
	long i = fc_config_server_index(&cfg->pools[0], name);
	return i >= 0 ? &cfg->pools[0].servers[i] : NULL;
}

static void test_apply(void **state)
{
	(void)state;
	char path[160], err[1024];
	snprintf(path, sizeof(path), "%s/journal.json", dir);
	write_text(path,
	           "{\"version\": 1, \"pools\": {"
	           "\"web\": {\"added\": [{\"name\": \"d\", \"url\": \"http://127.0.0.1:9004\","
	           " \"weight\": 4}, {\"name\": \"a\", \"url\": \"http://127.0.0.1:9\"}],"
	           " \"removed\": [\"c\", \"zz\"],"
	           " \"servers\": {\"b\": {\"weight\": 3, \"state\": \"drain\"},"
	           " \"d\": {\"state\": \"maint\"}, \"gone\": {\"weight\": 1}}},"
	           "\"old\": {\"removed\": [\"x\"]}}}");
	/* --check: the same report, nothing written */
	struct fc_config *cfg = load();
	struct lines l = {.text = ""};
	assert_int_equal(fc_journal_preview(cfg, dir, collect, &l, err, sizeof(err)), 0);
	assert_int_equal(l.changes, 1);
	assert_int_equal(l.warnings, 4); /* pool old, a now in the file, zz, gone */
	assert_non_null(strstr(l.text, "pool old is not in the configuration"));
	assert_non_null(strstr(l.text, "server a is in the file now"));
	assert_non_null(strstr(l.text, "server zz is not in the file"));
	assert_non_null(strstr(l.text, "server gone is not in the pool"));
	assert_non_null(strstr(l.text, "pool web: removes server c, adds server d "
	                               "(http://127.0.0.1:9004, weight 4), sets b weight 3, "
	                               "drains b, puts d in maintenance"));
	assert_non_null(strstr(read_text(path), "\"old\""));
	/* the config is changed as the journal says */
	assert_null(server(cfg, "c"));
	assert_non_null(server(cfg, "d"));
	assert_true(server(cfg, "d")->journal_added);
	assert_int_equal(server(cfg, "d")->weight, 4);
	assert_int_equal(server(cfg, "d")->admin_state, FC_ADMIN_MAINT);
	assert_int_equal(server(cfg, "d")->port, 9004);
	assert_int_equal(server(cfg, "b")->weight, 3);
	assert_int_equal(server(cfg, "b")->admin_state, FC_ADMIN_DRAIN);
	assert_string_equal(server(cfg, "a")->url, "http://127.0.0.1:9001"); /* the file's a */
	assert_false(server(cfg, "a")->journal_added);
	assert_int_equal(cfg->pools[0].n_servers, 3);
	assert_non_null(cfg->journal);
	assert_null(strstr(cfg->journal, "old"));
	fc_config_unref(cfg);

	/* at start: the dropped entries are written back without them */
	cfg = load();
	memset(&l, 0, sizeof(l));
	assert_int_equal(fc_journal_apply(cfg, dir, collect, &l, err, sizeof(err)), 0);
	assert_int_equal(l.warnings, 4);
	const char *now = read_text(path);
	assert_null(strstr(now, "\"old\""));
	assert_null(strstr(now, "zz"));
	assert_null(strstr(now, "gone"));
	assert_non_null(strstr(now, "\"d\""));
	fc_config_unref(cfg);
	/* and the next start has nothing to warn about */
	cfg = load();
	memset(&l, 0, sizeof(l));
	assert_int_equal(fc_journal_apply(cfg, dir, collect, &l, err, sizeof(err)), 0);
	assert_int_equal(l.warnings, 0);
	assert_int_equal(l.changes, 1);
	fc_config_unref(cfg);
}

static void test_apply_errors(void **state)
{
	(void)state;
	char path[160], err[1024];
	snprintf(path, sizeof(path), "%s/journal.json", dir);
	/* an added server that is not valid is an error, not a silent drop */
	write_text(path, "{\"version\": 1, \"pools\": {\"web\": {\"added\": [{\"name\": \"d\", "
	                 "\"url\": \"ftp://x\"}]}}}");
	struct fc_config *cfg = load();
	assert_int_equal(fc_journal_apply(cfg, dir, NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "added server d"));
	fc_config_unref(cfg);
	write_text(path, "{\"version\": 1, \"pools\": ");
	cfg = load();
	assert_int_equal(fc_journal_apply(cfg, dir, NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "fix or remove"));
	fc_config_unref(cfg);
	unlink(path);
	/* no journal: nothing changes */
	cfg = load();
	assert_int_equal(fc_journal_apply(cfg, dir, NULL, NULL, err, sizeof(err)), 0);
	assert_null(cfg->journal);
	assert_int_equal(cfg->pools[0].n_servers, 3);
	fc_config_unref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_round_trip_and_changes),
	        cmocka_unit_test(test_parse_errors),
	        cmocka_unit_test_setup_teardown(test_save_creates_dir_and_replaces, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_apply, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_apply_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
