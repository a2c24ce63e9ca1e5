/* test_identity.c — instances that agree without talking: ip_hash and
 * consistent_hash send a key to the same server in every pool that has the
 * same servers, whatever order they were listed, added or removed in and
 * whatever the pool's seed, also while one of them is down. */
#include "helpers.h"

static const char *names[] = {"alpha", "bravo", "charlie", "delta", "echo"};
#define N_SERVERS 5
#define KEYS      1000

static void put(struct fc_pool *p, const char *name, unsigned weight)
{
	char addr[64];
	snprintf(addr, sizeof addr, "http://10.0.0.%zu:8080", strlen(name)); /* not unique alone */
	struct fc_server_spec sp = {.name = name, .address = addr, .weight = weight};
	assert_int_equal(fc_pool_upsert(p, &sp, 1, NULL), 0);
}

static unsigned weight_of(size_t i)
{
	return i == 3 ? 3 : 1; /* one heavier server: the slot counts differ */
}

/* Pool 0: listed in order at once; 1: added one by one backwards; 2: in
 * order with a server added and removed between, and one removed and added
 * again at the end; each with its own seed. */
static struct fc_pool *build(const char *algo, int how)
{
	struct fc_pool_options o = {.seed = 0x1234u + (uint64_t)how * 7919u};
	struct fc_pool *p = mkpool(algo, &o);
	if (how == 0) {
		struct fc_server_spec sp[N_SERVERS];
		char addr[N_SERVERS][64];
		for (size_t i = 0; i < N_SERVERS; i++) {
			snprintf(addr[i], sizeof addr[i], "http://10.0.0.%zu:8080",
			         strlen(names[i]));
			sp[i] = (struct fc_server_spec){
			        .name = names[i], .address = addr[i], .weight = weight_of(i)};
		}
		assert_int_equal(fc_pool_upsert_many(p, sp, N_SERVERS, 1, NULL), 0);
	} else if (how == 1) {
		for (size_t i = N_SERVERS; i-- > 0;)
			put(p, names[i], weight_of(i));
	} else {
		put(p, names[0], weight_of(0));
		put(p, "foxtrot", 1);
		for (size_t i = 1; i < N_SERVERS; i++)
			put(p, names[i], weight_of(i));
		assert_int_equal(fc_pool_remove(p, "foxtrot"), 0);
		assert_int_equal(fc_pool_remove(p, names[1]), 0);
		put(p, names[1], weight_of(1));
	}
	return p;
}

static const char *pick_key(struct fc_pool *p, const char *algo, int k)
{
	uint64_t rng = 99;
	struct fc_pick_ctx c;
	ctx_init(&c, &rng, 10);
	char key[32];
	if (strcmp(algo, "ip_hash") == 0) {
		snprintf(key, sizeof key, "10.%d.%d.7", k / 250, k % 250);
		assert_int_equal(fc_addr_parse(key, strlen(key), &c.client), 0);
	} else {
		int n = snprintf(key, sizeof key, "user-%d", k);
		c.hash_key = key;
		c.hash_key_len = (size_t)n;
	}
	struct fc_server *s = pick_done(p, &c);
	assert_non_null(s);
	return fc_server_name(s);
}

static void agree(const char *algo)
{
	struct fc_pool *p[3];
	for (int i = 0; i < 3; i++)
		p[i] = build(algo, i);
	for (int round = 0; round < 2; round++) {
		if (round == 1) /* one server down on every instance: the same stand-ins */
			for (int i = 0; i < 3; i++)
				assert_int_equal(
				        fc_pool_set_state(p[i], "charlie", FC_SERVER_DEAD, 10), 0);
		unsigned differ = 0;
		for (int k = 0; k < KEYS; k++) {
			const char *a = pick_key(p[0], algo, k);
			for (int i = 1; i < 3; i++)
				if (strcmp(a, pick_key(p[i], algo, k)) != 0)
					differ++;
		}
		if (differ)
			fprintf(stderr, "%s round %d: %u of %d picks differ\n", algo, round, differ,
			        2 * KEYS);
		assert_int_equal(differ, 0);
	}
	for (int i = 0; i < 3; i++)
		fc_pool_destroy(p[i]);
}

static void ip_hash_agrees(void **st)
{
	(void)st;
	agree("ip_hash");
}

static void consistent_hash_agrees(void **st)
{
	(void)st;
	agree("consistent_hash");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ip_hash_agrees),
	        cmocka_unit_test(consistent_hash_agrees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
