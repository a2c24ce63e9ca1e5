/* test_log.c — the error log: destinations, levels, one line per call,
 * truncation of long lines, the timestamp format. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"

static char path[64];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/fc_test_log.XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fc_log_close();
	unlink(path);
	fc_log_level = FC_LOG_LEVEL_INFO;
	return 0;
}

static size_t slurp(char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = 0;
	return n;
}

static void test_levels_and_lines(void **state)
{
	(void)state;
	assert_int_equal(fc_log_open(path), 0);
	fc_log_level = FC_LOG_LEVEL_WARN;
	fc_debug("hidden %d", 1);
	fc_info("hidden %d", 2);
	fc_warn("shown %d", 3);
	fc_error("shown %s", "four");
	fc_log_level = FC_LOG_LEVEL_DEBUG;
	fc_debug("debug %d", 5);
	static char buf[8192];
	slurp(buf, sizeof(buf));
	assert_null(strstr(buf, "hidden"));
	char *l1 = buf;
	char *l2 = strchr(l1, '\n') + 1;
	char *l3 = strchr(l2, '\n') + 1;
	assert_non_null(strstr(l1, " warn shown 3\n"));
	assert_non_null(strstr(l2, " error shown four\n"));
	assert_non_null(strstr(l3, " debug debug 5\n"));
	assert_int_equal(strchr(l3, '\n')[1], 0);
	/* "2026-11-21T05:20:00.123Z warn ..." */
	assert_int_equal(l1[4], '-');
	assert_int_equal(l1[10], 'T');
	assert_int_equal(l1[23], 'Z');
	assert_int_equal(l1[24], ' ');
}

static void test_long_line_truncated(void **state)
{
	(void)state;
	assert_int_equal(fc_log_open(path), 0);
	static char big[5000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	fc_error("%s", big);
	fc_error("next");
	static char buf[16384];
	size_t n = slurp(buf, sizeof(buf));
	char *nl = strchr(buf, '\n');
	assert_non_null(nl);
	assert_true((size_t)(nl - buf) + 1 <= 2048);
	assert_true(nl[-1] == 'a');
	assert_non_null(strstr(nl + 1, " error next\n"));
	assert_int_equal(buf[n - 1], '\n');
}

static void test_open_errors_and_std(void **state)
{
	(void)state;
	assert_int_equal(fc_log_open("/nonexistent-dir/x/log"), -ENOENT);
	assert_int_equal(fc_log_open("stderr"), 0);
	assert_int_equal(fc_log_open("stdout"), 0);
	assert_int_equal(fc_log_open(NULL), 0);
	/* a file, then back to stderr: the file is closed, nothing more lands in it */
	assert_int_equal(fc_log_open(path), 0);
	fc_error("in file");
	assert_int_equal(fc_log_open("stderr"), 0);
	fc_log_level = FC_LOG_LEVEL_ERROR + 1; /* keep the test output quiet */
	fc_error("not in file");
	char buf[256];
	slurp(buf, sizeof(buf));
	assert_non_null(strstr(buf, "in file"));
	assert_null(strstr(buf, "not in file"));
}

static void test_timestamp_format(void **state)
{
	(void)state;
	char ts[32];
	fc_log_timestamp(ts);
	assert_int_equal(strlen(ts), 24);
	for (int i = 0; i < 24; i++) {
		char c = ts[i];
		switch (i) {
		case 4:
		case 7:
			assert_int_equal(c, '-');
			break;
		case 10:
			assert_int_equal(c, 'T');
			break;
		case 13:
		case 16:
			assert_int_equal(c, ':');
			break;
		case 19:
			assert_int_equal(c, '.');
			break;
		case 23:
			assert_int_equal(c, 'Z');
			break;
		default:
			assert_true(c >= '0' && c <= '9');
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_levels_and_lines, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_long_line_truncated, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_open_errors_and_std, setup, teardown),
	        cmocka_unit_test(test_timestamp_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
