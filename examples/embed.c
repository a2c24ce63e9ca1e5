/* embed.c — libfulcrum on its own: make a pool, add servers, pick and end a
 * few requests, print where they went. Built and run as a test. */
#include <stdio.h>
#include <string.h>

#include "fulcrum/fulcrum.h"

int main(void)
{
	struct fc_pool_options o = {.name = "api", .algorithm = "least_conn", .seed = 42};
	struct fc_pool *pool;
	char err[256];
	if (fc_pool_create(&o, &pool, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	const struct fc_server_spec servers[] = {
	        {.name = "app1", .address = "10.0.0.1:8080", .weight = 3},
	        {.name = "app2", .address = "10.0.0.2:8080", .weight = 1},
	        {.name = "app3", .address = "10.0.0.3:8080", .weight = 1},
	};
	uint64_t now = 1000000000; /* your clock, in ns */
	for (size_t i = 0; i < 3; i++)
		if (fc_pool_upsert(pool, &servers[i], now, NULL) != 0)
			return 1;
	uint64_t rng = 0x9e3779b97f4a7c15ULL; /* one generator per worker thread */
	struct fc_pick_ctx ctx = {.now_ns = now, .rng = &rng};
	fc_addr_parse("203.0.113.7", 11, &ctx.client);
	struct fc_server *held[10];
	for (int i = 0; i < 10; i++) {
		held[i] = fc_pool_pick(pool, &ctx);
		if (!held[i])
			return 1; /* a proxy would answer 503 */
		printf("request %d -> %s (%s)\n", i, fc_server_name(held[i]),
		       fc_server_address(held[i]));
	}
	for (int i = 0; i < 10; i++) {
		struct fc_outcome out = {.status = 200, .latency_ns = 2000000};
		fc_pool_done(pool, held[i], &out, now + 2000000);
	}
	struct fc_server *all[8];
	size_t n = fc_pool_servers(pool, all, 8);
	int ok = n == 3;
	for (size_t i = 0; i < n; i++) {
		struct fc_server_stats st;
		fc_server_stats(all[i], now, &st);
		printf("%s: weight %u, %llu requests, %u active\n", fc_server_name(all[i]),
		       st.weight, (unsigned long long)st.requests, st.active);
		ok &= st.active == 0 &&
		      st.requests == (strcmp(fc_server_name(all[i]), "app1") ? 2u : 6u);
		fc_server_unref(all[i]);
	}
	fc_pool_destroy(pool);
	return ok ? 0 : 1;
}
