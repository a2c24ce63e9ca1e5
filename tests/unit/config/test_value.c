/* test_value.c — the scalar syntaxes: durations, sizes, workers, log levels. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

static void test_durations(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} ok[] = {
	        {"0", 0},         {"1ms", 1},           {"500ms", 500},   {"10s", 10000},
	        {"1m", 60000},    {"2h", 7200000},      {"1d", 86400000}, {"1h30m", 5400000},
	        {"1m30s", 90000}, {"1s500ms", 1500},    {"0s", 0},        {"90s", 90000},
	        {"007s", 7000},   {"2h0m1ms", 7200001},
	};
	static const char *const bad[] = {
	        "",   "10",  "s",  "-1s", "1.5s", "10 s", " 10s",  "10s ", "10S",
	        "1x", "1sm", "ms", "1h-", "+1s",  "1e3s", "0x10s", "1mss", "10sec",
	};
	uint64_t ms;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ms = 12345;
		if (fc_config_parse_duration(ok[i].s, &ms) != 0 || ms != ok[i].ms) {
			print_error("\"%s\" -> %llu\n", ok[i].s, (unsigned long long)ms);
			fail();
		}
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fc_config_parse_duration(bad[i], &ms) != -EINVAL) {
			print_error("\"%s\" accepted\n", bad[i]);
			fail();
		}
	}
	assert_int_equal(fc_config_parse_duration("99999999999999999999d", &ms), -ERANGE);
	assert_int_equal(fc_config_parse_duration("999999999999d", &ms), -ERANGE);
	assert_int_equal(fc_config_parse_duration(NULL, &ms), -EINVAL);
}

static void test_sizes(void **state)
{
	static const struct {
		const char *s;
		uint64_t bytes;
	} ok[] = {
	        {"0", 0},        {"512", 512},        {"16k", 16384},      {"16kb", 16384},
	        {"16K", 16384},  {"16KB", 16384},     {"1m", 1048576},     {"1mb", 1048576},
	        {"1M", 1048576}, {"2g", 2147483648u}, {"1gb", 1073741824}, {"100b", 100},
	};
	static const char *const bad[] = {"",     "k",   "16 k", "16kk", "16kbb", "-1",
	                                  "1.5k", "16x", "16bb", " 1",   "1t"};
	uint64_t n;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		n = 7;
		if (fc_config_parse_size(ok[i].s, &n) != 0 || n != ok[i].bytes) {
			print_error("\"%s\" -> %llu\n", ok[i].s, (unsigned long long)n);
			fail();
		}
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fc_config_parse_size(bad[i], &n) != -EINVAL) {
			print_error("\"%s\" accepted\n", bad[i]);
			fail();
		}
	}
	assert_int_equal(fc_config_parse_size("99999999999999999999g", &n), -ERANGE);
}

static void test_workers(void **state)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint32_t w = 0;

	assert_int_equal(fc_config_parse_workers("auto", &w), 0);
	assert_int_equal(w, cpus > 256 ? 256 : cpus);
	assert_int_equal(fc_config_parse_workers("1", &w), 0);
	assert_int_equal(w, 1);
	assert_int_equal(fc_config_parse_workers("256", &w), 0);
	assert_int_equal(w, 256);
	assert_int_equal(fc_config_parse_workers("0", &w), -EINVAL);
	assert_int_equal(fc_config_parse_workers("257", &w), -EINVAL);
	assert_int_equal(fc_config_parse_workers("Auto", &w), -EINVAL);
	assert_int_equal(fc_config_parse_workers("-1", &w), -EINVAL);
	assert_int_equal(fc_config_parse_workers("", &w), -EINVAL);
	assert_int_equal(fc_config_parse_workers(NULL, &w), -EINVAL);
	assert_int_equal(w, 256);
}

static void test_log_levels(void **state)
{
	enum fc_log_level lv = FC_LOG_INFO;

	assert_int_equal(fc_config_parse_log_level("debug", &lv), 0);
	assert_int_equal(lv, FC_LOG_DEBUG);
	assert_int_equal(fc_config_parse_log_level("info", &lv), 0);
	assert_int_equal(lv, FC_LOG_INFO);
	assert_int_equal(fc_config_parse_log_level("warn", &lv), 0);
	assert_int_equal(lv, FC_LOG_WARN);
	assert_int_equal(fc_config_parse_log_level("error", &lv), 0);
	assert_int_equal(lv, FC_LOG_ERROR);
	assert_int_equal(fc_config_parse_log_level("warning", &lv), -EINVAL);
	assert_int_equal(fc_config_parse_log_level("DEBUG", &lv), -EINVAL);
	assert_int_equal(fc_config_parse_log_level("", &lv), -EINVAL);
	assert_int_equal(fc_config_parse_log_level(NULL, &lv), -EINVAL);
	assert_int_equal(lv, FC_LOG_ERROR);
}

static void test_io_uring_modes(void **state)
{
	enum fc_io_uring_mode m = FC_IO_URING_AUTO;
	static const struct {
		const char *s;
		enum fc_io_uring_mode m;
	} ok[] = {{"on", FC_IO_URING_ON},    {"true", FC_IO_URING_ON},   {"yes", FC_IO_URING_ON},
	          {"off", FC_IO_URING_OFF},  {"false", FC_IO_URING_OFF}, {"no", FC_IO_URING_OFF},
	          {"auto", FC_IO_URING_AUTO}};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(fc_config_parse_io_uring(ok[i].s, &m), 0);
		assert_int_equal(m, ok[i].m);
	}
	assert_int_equal(fc_config_parse_io_uring("On", &m), -EINVAL);
	assert_int_equal(fc_config_parse_io_uring("1", &m), -EINVAL);
	assert_int_equal(fc_config_parse_io_uring("", &m), -EINVAL);
	assert_int_equal(fc_config_parse_io_uring(NULL, &m), -EINVAL);
	assert_int_equal(m, FC_IO_URING_AUTO); /* unchanged by a bad value */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_durations),      cmocka_unit_test(test_sizes),
	        cmocka_unit_test(test_workers),        cmocka_unit_test(test_log_levels),
	        cmocka_unit_test(test_io_uring_modes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
