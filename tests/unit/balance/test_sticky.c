/* test_sticky.c — HMAC-SHA256 against RFC 4231, sticky cookie round trip,
 * tampering, fallback and re-issue, agreement between instances. */
#include "helpers.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void hmac_rfc4231(void **st)
{
	uint8_t out[32], key[131], data[152];
	char h[65];
	/* case 1 */
	memset(key, 0x0b, 20);
	fc_hmac_sha256(key, 20, "Hi There", 8, out);
	hex(out, 32, h);
	assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	/* case 2 */
	fc_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, out);
	hex(out, 32, h);
	assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* case 3 */
	memset(key, 0xaa, 20);
	memset(data, 0xdd, 50);
	fc_hmac_sha256(key, 20, data, 50, out);
	hex(out, 32, h);
	assert_string_equal(h, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
	/* case 4 */
	for (int i = 0; i < 25; i++)
		key[i] = (uint8_t)(i + 1);
	memset(data, 0xcd, 50);
	fc_hmac_sha256(key, 25, data, 50, out);
	hex(out, 32, h);
	assert_string_equal(h, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
	/* case 6: key longer than a block */
	memset(key, 0xaa, 131);
	fc_hmac_sha256(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54, out);
	hex(out, 32, h);
	assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	/* case 7 */
	const char *m7 = "This is a test using a larger than block-size key and a larger than "
	                 "block-size data. "
	                 "The key needs to be hashed before being used by the HMAC algorithm.";
	fc_hmac_sha256(key, 131, m7, strlen(m7), out);
	hex(out, 32, h);
	assert_string_equal(h, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
	/* SHA-256 "abc" */
	fc_sha256("abc", 3, out);
	hex(out, 32, h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static const uint8_t SECRET[] = "correct horse battery staple";

static struct fc_pool *sticky_pool(const char *algo)
{
	struct fc_pool_options o = {
	        .sticky = true, .sticky_secret = SECRET, .sticky_secret_len = sizeof SECRET - 1};
	struct fc_pool *p = mkpool(algo, &o);
	add(p, "a", 1);
	add(p, "b", 1);
	add(p, "c", 1);
	return p;
}

static void round_trip(void **st)
{
	struct fc_pool *p = sticky_pool("round_robin");
	uint64_t rng = 1;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 10);
	struct fc_server *first = pick_done(p, &c);
	assert_true(c.sticky_set);
	char cookie[96];
	strcpy(cookie, c.sticky_out);
	assert_null(strstr(cookie, "10.0.0.1")); /* no address leaks */
	for (int i = 0; i < 10; i++) {
		c.sticky_value = cookie;
		c.sticky_len = strlen(cookie);
		assert_ptr_equal(pick_done(p, &c), first);
		assert_false(c.sticky_set);
	}
	/* lame duck keeps sticky clients */
	assert_int_equal(fc_pool_set_state(p, fc_server_name(first), FC_SERVER_LAME_DUCK, 10), 0);
	assert_ptr_equal(pick_done(p, &c), first);
	/* a second instance with the same secret agrees */
	struct fc_pool *q = sticky_pool("least_conn");
	struct fc_server *other = pick_done(q, &c);
	assert_string_equal(fc_server_name(other), fc_server_name(first));
	assert_false(c.sticky_set);
	fc_pool_destroy(q);
	fc_pool_destroy(p);
}

static void tamper_and_fallback(void **st)
{
	struct fc_pool *p = sticky_pool("random");
	uint64_t rng = 1;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 10);
	struct fc_server *first = pick_done(p, &c);
	char cookie[96];
	strcpy(cookie, c.sticky_out);
	/* tampered tag / id: ignored, a fresh pick and a fresh cookie */
	char bad[96];
	strcpy(bad, cookie);
	bad[strlen(bad) - 1] ^= 1;
	c.sticky_value = bad;
	c.sticky_len = strlen(bad);
	assert_non_null(pick_done(p, &c));
	assert_true(c.sticky_set);
	strcpy(bad, cookie);
	bad[0] = bad[0] == 'f' ? 'e' : 'f';
	assert_non_null(pick_done(p, &c));
	assert_true(c.sticky_set);
	c.sticky_value = "garbage";
	c.sticky_len = 7;
	assert_non_null(pick_done(p, &c));
	assert_true(c.sticky_set);
	/* avoided (a retry): another server, re-issued for it */
	c.sticky_value = cookie;
	c.sticky_len = strlen(cookie);
	struct fc_server *av[1] = {first};
	c.avoid = av;
	c.n_avoid = 1;
	struct fc_server *s = pick_done(p, &c);
	assert_ptr_not_equal(s, first);
	assert_true(c.sticky_set);
	uint32_t id;
	assert_int_equal(fc_sticky_decode(SECRET, sizeof SECRET - 1, c.sticky_out,
	                                  strlen(c.sticky_out), &id),
	                 0);
	assert_int_equal(id, fc_server_id(s));
	c.n_avoid = 0;
	/* dead, draining, removed: fall back and re-issue */
	const char *nm = fc_server_name(first);
	char name[16];
	snprintf(name, sizeof name, "%s", nm);
	assert_int_equal(fc_pool_set_state(p, name, FC_SERVER_DEAD, 10), 0);
	assert_string_not_equal(fc_server_name(pick_done(p, &c)), name);
	assert_true(c.sticky_set);
	assert_int_equal(fc_pool_set_state(p, name, FC_SERVER_DRAINING, 10), 0);
	assert_string_not_equal(fc_server_name(pick_done(p, &c)), name);
	assert_true(c.sticky_set);
	assert_int_equal(fc_pool_remove(p, name), 0);
	assert_non_null(pick_done(p, &c));
	assert_true(c.sticky_set);
	/* another secret does not accept our cookie */
	assert_int_equal(fc_sticky_decode((const uint8_t *)"x", 1, cookie, strlen(cookie), &id),
	                 -EINVAL);
	fc_pool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(hmac_rfc4231),
	        cmocka_unit_test(round_trip),
	        cmocka_unit_test(tamper_and_fallback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
