/* helpers.h — small shared helpers for the libfulcrum unit tests. */
#ifndef FC_TEST_BALANCE_HELPERS_H
#define FC_TEST_BALANCE_HELPERS_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fulcrum/fulcrum.h"

static inline struct fc_pool *mkpool(const char *algo, const struct fc_pool_options *base)
{
	struct fc_pool_options o = {0};
	if (base)
		o = *base;
	o.name = o.name ? o.name : "t";
	o.algorithm = algo;
	struct fc_pool *p = NULL;
	char err[256];
	int rc = fc_pool_create(&o, &p, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
	return p;
}

static inline struct fc_server *add(struct fc_pool *p, const char *name, unsigned w)
{
	char addr[64];
	snprintf(addr, sizeof addr, "10.0.0.1:%s", name);
	struct fc_server_spec sp = {.name = name, .address = addr, .weight = w};
	struct fc_server *s = NULL;
	assert_int_equal(fc_pool_upsert(p, &sp, 1, &s), 0);
	return s;
}

static inline void ctx_init(struct fc_pick_ctx *c, uint64_t *rng, uint64_t now)
{
	memset(c, 0, sizeof *c);
	c->rng = rng;
	c->now_ns = now;
}

/* Adds n servers "s0".."s<n-1>" with weight w(i) in one snapshot. */
static inline void add_many(struct fc_pool *p, unsigned n, unsigned (*w)(unsigned))
{
	struct fc_server_spec *sp = calloc(n, sizeof *sp);
	char(*names)[16] = calloc(n, 16);
	for (unsigned i = 0; i < n; i++) {
		snprintf(names[i], 16, "s%u", i);
		sp[i] = (struct fc_server_spec){
		        .name = names[i], .address = names[i], .weight = w(i)};
	}
	assert_int_equal(fc_pool_upsert_many(p, sp, n, 1, NULL), 0);
	free(names);
	free(sp);
}

/* Picks and immediately ends; returns the server (borrowed) or NULL. */
static inline struct fc_server *pick_done(struct fc_pool *p, struct fc_pick_ctx *c)
{
	struct fc_server *s = fc_pool_pick(p, c);
	if (s) {
		struct fc_outcome o = {200, 1000000, false};
		fc_pool_done(p, s, &o, c->now_ns);
	}
	return s;
}

#endif
