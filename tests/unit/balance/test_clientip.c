/* test_clientip.c — addresses, CIDR blocks and the real client IP:
 * trusted / untrusted peers, recursive walks, malformed values, IPv6. */
#include "helpers.h"

static struct fc_addr A(const char *s) {
	struct fc_addr a;
	assert_int_equal(fc_addr_parse(s, strlen(s), &a), 0);
	return a;
}

static const char *
fmt(const struct fc_addr *a)
{
	static char buf[64];
	fc_addr_format(a, buf, sizeof buf);
	return buf;
}

static void addresses(void **st)
{
	const char *ok[][2] = {{"1.2.3.4", "1.2.3.4"},
	                       {"::1", "::1"},
	                       {"[::1]", "::1"},
	                       {"2001:db8::1", "2001:db8::1"},
	                       {"2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
	                       {"::ffff:10.1.2.3", "10.1.2.3"},
	                       {"::", "::"},
	                       {"fe80::1:2", "fe80::1:2"},
	                       {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
	                       {"64:ff9b::1.2.3.4", "64:ff9b::102:304"}};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct fc_addr a = A(ok[i][0]);
		assert_string_equal(fmt(&a), ok[i][1]);
	}
	const char *bad[] = {"",
	                     "1.2.3",
	                     "1.2.3.4.5",
	                     "256.1.1.1",
	                     "01.2.3.4",
	                     "1.2.3.4 ",
	                     ":::",
	                     "1::2::3",
	                     "12345::",
	                     "[::1",
	                     "1:2:3:4:5:6:7:8:9",
	                     "::g",
	                     "1.2.3.-4",
	                     "1:2:3:4:5:6:7::8:9"};
	struct fc_addr a;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(fc_addr_parse(bad[i], strlen(bad[i]), &a), -EINVAL);
}

static void cidrs(void **st)
{
	struct fc_cidr c;
	assert_int_equal(fc_cidr_parse("10.0.0.0/8", 10, &c), 0);
	struct fc_addr a = A("10.200.3.4"), b = A("11.0.0.1"), m = A("::ffff:10.9.9.9");
	assert_true(fc_cidr_contains(&c, &a));
	assert_false(fc_cidr_contains(&c, &b));
	assert_true(fc_cidr_contains(&c, &m));
	assert_int_equal(fc_cidr_parse("192.168.1.77/20", 15, &c), 0);
	assert_string_equal(fmt(&c.addr), "192.168.0.0");
	assert_int_equal(fc_cidr_parse("::1", 3, &c), 0);
	assert_int_equal(c.bits, 128);
	struct fc_addr l = A("::1"), l2 = A("::2");
	assert_true(fc_cidr_contains(&c, &l));
	assert_false(fc_cidr_contains(&c, &l2));
	assert_int_equal(fc_cidr_parse("2001:db8::/32", 13, &c), 0);
	struct fc_addr in6 = A("2001:db8:ffff::1"), out6 = A("2001:db9::1");
	assert_true(fc_cidr_contains(&c, &in6));
	assert_false(fc_cidr_contains(&c, &out6));
	assert_false(fc_cidr_contains(&c, &a)); /* families differ */
	assert_int_equal(fc_cidr_parse("1.2.3.4", 7, &c), 0);
	assert_int_equal(c.bits, 32);
	assert_int_equal(fc_cidr_parse("::ffff:10.0.0.0/104", 19, &c), 0);
	assert_int_equal(c.addr.family, 4);
	assert_int_equal(c.bits, 8);
	assert_int_equal(fc_cidr_parse("10.0.0.0/33", 11, &c), -EINVAL);
	assert_int_equal(fc_cidr_parse("10.0.0.0/", 9, &c), -EINVAL);
	assert_int_equal(fc_cidr_parse("10.0.0.0/x", 10, &c), -EINVAL);
	assert_int_equal(fc_cidr_parse("::/129", 6, &c), -EINVAL);
}

static const char *resolve(const struct fc_clientip_options *o, const char *peer, const char *hdr)
{
	struct fc_addr p = A(peer), out;
	fc_clientip_resolve(o, &p, hdr, hdr ? strlen(hdr) : 0, &out);
	return fmt(&out);
}

static void client_ip(void **st)
{
	struct fc_cidr t[2];
	assert_int_equal(fc_cidr_parse("10.0.0.0/8", 10, &t[0]), 0);
	assert_int_equal(fc_cidr_parse("fd00::/8", 8, &t[1]), 0);
	struct fc_clientip_options o = {t, 2, false}, r = {t, 2, true};
	/* untrusted peer: header ignored */
	assert_string_equal(resolve(&o, "203.0.113.9", "1.1.1.1"), "203.0.113.9");
	/* trusted peer: rightmost element */
	assert_string_equal(resolve(&o, "10.0.0.2", "1.1.1.1"), "1.1.1.1");
	assert_string_equal(resolve(&o, "10.0.0.2", "1.1.1.1, 10.0.0.7"), "10.0.0.7");
	assert_string_equal(resolve(&o, "10.0.0.2", NULL), "10.0.0.2");
	/* recursive: skip trusted hops from the right */
	assert_string_equal(resolve(&r, "10.0.0.2", "6.6.6.6, 1.1.1.1, 10.0.0.7,10.1.1.1"),
	                    "1.1.1.1");
	assert_string_equal(resolve(&r, "10.0.0.2", "10.0.0.9, 10.0.0.7"), "10.0.0.9");
	/* malformed -> peer */
	assert_string_equal(resolve(&o, "10.0.0.2", "not-an-ip"), "10.0.0.2");
	assert_string_equal(resolve(&r, "10.0.0.2", "1.1.1.1, bogus, 10.0.0.7"), "10.0.0.2");
	assert_string_equal(resolve(&o, "10.0.0.2", "1.1.1.1,"), "10.0.0.2");
	/* ports and v6 */
	assert_string_equal(resolve(&o, "10.0.0.2", "1.1.1.1:5555"), "1.1.1.1");
	assert_string_equal(resolve(&o, "fd00::5", "2001:db8::7"), "2001:db8::7");
	assert_string_equal(resolve(&o, "fd00::5", "[2001:db8::7]:443"), "2001:db8::7");
	assert_string_equal(resolve(&r, "::ffff:10.0.0.2", "2001:db8::9, fd00::1"), "2001:db8::9");
	assert_string_equal(resolve(&o, "2001:db8::1", "1.1.1.1"), "2001:db8::1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(addresses),
	        cmocka_unit_test(cidrs),
	        cmocka_unit_test(client_ip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
