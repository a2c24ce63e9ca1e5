/* test_file.c — a file replaced whole: its content and mode, no temporary
 * file left behind, a failure named by its step, and a replacement that
 * does not trip over another process's temporary file. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>

#include "core/file.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fulcrum-test-file.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		char p[512];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	return rmdir(dir);
}

static size_t entries(void)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void read_back(const char *path, char *out, size_t len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, out, len - 1);
	assert_true(n >= 0);
	out[n] = 0;
	close(fd);
}

static void test_replace(void **state)
{
	(void)state;
	char path[128], got[64];
	snprintf(path, sizeof(path), "%s/journal.json", dir);
	const char *step = "unset";
	assert_int_equal(fc_file_replace(path, "one\n", 4, 0640, true, &step), 0);
	read_back(path, got, sizeof(got));
	assert_string_equal(got, "one\n");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0137, 0); /* no more than 0640 (umask may take more) */
	/* replaced whole, not appended; no temporary file left */
	assert_int_equal(fc_file_replace(path, "two", 3, 0640, false, NULL), 0);
	read_back(path, got, sizeof(got));
	assert_string_equal(got, "two");
	assert_int_equal(entries(), 1);
}

static void test_failure_names_its_step(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof(path), "%s/missing/journal.json", dir);
	const char *step = NULL;
	assert_int_equal(fc_file_replace(path, "x", 1, 0640, true, &step), -ENOENT);
	assert_string_equal(step, "open");
	/* a directory in the way: the rename fails, the temporary file goes */
	snprintf(path, sizeof(path), "%s/taken", dir);
	assert_int_equal(mkdir(path, 0750), 0);
	char inside[160];
	snprintf(inside, sizeof(inside), "%s/f", path);
	int fd = open(inside, O_WRONLY | O_CREAT, 0640);
	assert_true(fd >= 0);
	close(fd);
	int rc = fc_file_replace(path, "x", 1, 0640, true, &step);
	assert_true(rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST);
	assert_string_equal(step, "rename");
	assert_int_equal(entries(), 1); /* only taken/ */
	unlink(inside);
	rmdir(path);
}

/* Another process's temporary file (journal.json.tmp, as fulcrum wrote it
 * before, or another pid's) is neither used nor removed. */
static void test_other_writers_temporary_file(void **state)
{
	(void)state;
	char path[128], theirs[160], got[64];
	snprintf(path, sizeof(path), "%s/journal.json", dir);
	snprintf(theirs, sizeof(theirs), "%s.tmp", path);
	int fd = open(theirs, O_WRONLY | O_CREAT, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "half", 4), 4);
	close(fd);
	snprintf(theirs, sizeof(theirs), "%s.%ld.tmp", path, (long)getpid() + 1);
	fd = open(theirs, O_WRONLY | O_CREAT, 0640);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fc_file_replace(path, "mine", 4, 0640, true, NULL), 0);
	read_back(path, got, sizeof(got));
	assert_string_equal(got, "mine");
	assert_int_equal(access(theirs, F_OK), 0);
	assert_int_equal(entries(), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_failure_names_its_step, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_other_writers_temporary_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
