/* helpers.h — what the config loader tests share: load a YAML text, expect
 * it to load, or expect exactly one error line among the errors. */
#ifndef FC_TEST_CONFIG_HELPERS_H
#define FC_TEST_CONFIG_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

static char err[16384];

static inline struct fc_config *load(const char *text)
{
	return fc_config_load_string(text, strlen(text), "t.yaml", err, sizeof(err));
}

/* Loads text, which must be valid. */
static inline struct fc_config *load_ok(const char *text)
{
	struct fc_config *cfg = load(text);

	if (!cfg)
		print_error("config:\n%s\ngot:\n%s\n", text, err);
	assert_non_null(cfg);
	assert_string_equal(err, "");
	return cfg;
}

/* True if err holds exactly this line. */
static inline bool has_line(const char *line)
{
	size_t n = strlen(line);
	const char *p = err;

	while ((p = strstr(p, line))) {
		if ((p == err || p[-1] == '\n') && (p[n] == '\0' || p[n] == '\n'))
			return true;
		p++;
	}
	return false;
}

/* Loads text, expects failure with exactly the line want among the errors. */
static inline void expect_error(const char *text, const char *want)
{
	struct fc_config *cfg = load(text);

	if (cfg || !has_line(want)) {
		print_error("config:\n%s\nwanted: %s\ngot:\n%s\n", text, want, err);
		fc_config_unref(cfg);
		fail();
	}
}

#endif
