/* test_json.c — the admin's JSON writer: structure (commas, nesting,
 * misuse), string escaping (control characters, quotes, bytes that are not
 * UTF-8), numbers; each output is checked by jansson, a real parser. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "admin/json.h"

/* The writer's text, which must be complete and parse. */
static json_t *parsed(struct fc_json *j)
{
	assert_true(fc_json_ok(j));
	json_error_t e;
	json_t *v = json_loads(fc_json_text(j), JSON_DECODE_ANY, &e);
	if (!v)
		fail_msg("not JSON: %s: %s", fc_json_text(j), e.text);
	return v;
}

static void test_nesting_and_commas(void **state)
{
	(void)state;
	struct fc_json j;
	fc_json_init(&j);
	fc_json_obj(&j);
	fc_json_kstr(&j, "a", "x");
	fc_json_key(&j, "list");
	fc_json_arr(&j);
	fc_json_uint(&j, 1);
	fc_json_obj(&j);
	fc_json_obj_end(&j);
	fc_json_arr(&j);
	fc_json_arr_end(&j);
	fc_json_null(&j);
	fc_json_bool(&j, true);
	fc_json_arr_end(&j);
	fc_json_kuint(&j, "n", 9223372036854775807ull);
	fc_json_key(&j, "neg");
	fc_json_int(&j, -42);
	fc_json_obj_end(&j);
	assert_string_equal(fc_json_text(&j),
	                    "{\"a\":\"x\",\"list\":[1,{},[],null,true],\"n\":9223372036854775807,"
	                    "\"neg\":-42}");
	json_decref(parsed(&j));
	fc_json_fini(&j);
}

static void test_misuse_is_flagged(void **state)
{
	(void)state;
	struct fc_json j;
	fc_json_init(&j);
	fc_json_obj(&j);
	fc_json_uint(&j, 1); /* a value without a key */
	fc_json_obj_end(&j);
	assert_false(fc_json_ok(&j));
	fc_json_fini(&j);

	fc_json_init(&j);
	fc_json_arr(&j);
	fc_json_key(&j, "k"); /* a key in an array */
	assert_false(fc_json_ok(&j));
	fc_json_fini(&j);

	fc_json_init(&j);
	fc_json_obj(&j);
	fc_json_arr_end(&j); /* the wrong end */
	assert_false(fc_json_ok(&j));
	fc_json_fini(&j);

	fc_json_init(&j);
	fc_json_arr(&j); /* not closed */
	assert_false(fc_json_ok(&j));
	fc_json_fini(&j);

	fc_json_init(&j);
	for (int i = 0; i < FC_JSON_MAX_DEPTH + 1; i++)
		fc_json_arr(&j);
	for (int i = 0; i < FC_JSON_MAX_DEPTH + 1; i++)
		fc_json_arr_end(&j);
	assert_false(fc_json_ok(&j)); /* too deep */
	fc_json_fini(&j);

	fc_json_init(&j);
	fc_json_uint(&j, 1);
	fc_json_uint(&j, 2); /* two top-level values */
	assert_false(fc_json_ok(&j));
	fc_json_fini(&j);
}

static void test_escapes(void **state)
{
	(void)state;
	struct fc_json j;
	fc_json_init(&j);
	const char s[] = "q\"b\\n\nr\rt\t\x01\x1f\x7f end";
	fc_json_strn(&j, s, sizeof(s) - 1);
	assert_string_equal(fc_json_text(&j),
	                    "\"q\\\"b\\\\n\\nr\\rt\\t\\u0001\\u001f\\u007f end\"");
	json_t *v = parsed(&j);
	assert_string_equal(json_string_value(v), s); /* it round-trips */
	json_decref(v);
	fc_json_fini(&j);

	/* an embedded NUL is data, escaped */
	fc_json_init(&j);
	fc_json_strn(&j, "a\0b", 3);
	assert_string_equal(fc_json_text(&j), "\"a\\u0000b\"");
	fc_json_fini(&j);
}

static void test_utf8_kept_and_bad_bytes_replaced(void **state)
{
	(void)state;
	struct fc_json j;
	fc_json_init(&j);
	/* é, €, 𝄞 are kept as they are */
	fc_json_str(&j, "\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e");
	assert_string_equal(fc_json_text(&j), "\"\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\"");
	fc_json_fini(&j);

	static const char *const bad[] = {
	        "\xff",             /* never in UTF-8 */
	        "\x80",             /* a lone continuation byte */
	        "\xc0\xaf",         /* overlong '/' */
	        "\xe0\x80\xaf",     /* overlong */
	        "\xed\xa0\x80",     /* a surrogate */
	        "\xf4\x90\x80\x80", /* above U+10FFFF */
	        "\xc3",             /* cut short */
	        "\xe2\x82",         /* cut short */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fc_json_init(&j);
		fc_json_str(&j, bad[i]);
		const char *t = fc_json_text(&j);
		/* every byte of a bad sequence became U+FFFD, nothing raw is left */
		for (const char *p = t; *p; p++)
			assert_true((unsigned char)*p < 0x80);
		assert_non_null(strstr(t, "\\ufffd"));
		json_t *v = parsed(&j);
		assert_non_null(strstr(json_string_value(v), "\xef\xbf\xbd"));
		json_decref(v);
		fc_json_fini(&j);
	}
	assert_int_equal(fc_utf8_seq((const unsigned char *)"\xf0\x9d\x84\x9e", 4), 4);
	assert_int_equal(fc_utf8_seq((const unsigned char *)"\xf0\x9d\x84\x9e", 3), 0);
	assert_int_equal(fc_utf8_seq((const unsigned char *)"a", 1), 1);
}

static void test_numbers(void **state)
{
	(void)state;
	struct fc_json j;
	fc_json_init(&j);
	fc_json_arr(&j);
	fc_json_double(&j, 1.5);
	fc_json_double(&j, 3.0);
	fc_json_double(&j, -0.25);
	fc_json_double(&j, 1e300);
	fc_json_double(&j, NAN);
	fc_json_double(&j, INFINITY);
	fc_json_double(&j, 0.001);
	fc_json_arr_end(&j);
	assert_string_equal(fc_json_text(&j), "[1.5,3,-0.25,1e+300,null,null,0.001]");
	json_t *v = parsed(&j);
	assert_int_equal(json_array_size(v), 7);
	assert_true(json_is_null(json_array_get(v, 4)));
	json_decref(v);
	fc_json_fini(&j);
}

static void test_large_text_grows(void **state)
{
	(void)state;
	struct fc_json j;
	fc_json_init(&j);
	fc_json_arr(&j);
	for (int i = 0; i < 10000; i++)
		fc_json_str(&j, "some server name");
	fc_json_arr_end(&j);
	json_t *v = parsed(&j);
	assert_int_equal(json_array_size(v), 10000);
	json_decref(v);
	fc_json_fini(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_nesting_and_commas),
	        cmocka_unit_test(test_misuse_is_flagged),
	        cmocka_unit_test(test_escapes),
	        cmocka_unit_test(test_utf8_kept_and_bad_bytes_replaced),
	        cmocka_unit_test(test_numbers),
	        cmocka_unit_test(test_large_text_grows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
