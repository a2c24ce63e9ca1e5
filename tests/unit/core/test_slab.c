/* test_slab.c — the per-worker slab: alloc/free/reuse, deferred frees keep
 * the bytes until collected, many objects over many chunks, the walk over
 * live objects (also while it frees). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/slab.h"

struct obj {
	uint64_t id;
	char pad[104];
};

static void test_alloc_free_reuse(void **state)
{
	(void)state;
	struct fc_slab s;
	fc_slab_init(&s, sizeof(struct obj));
	assert_int_equal(s.size, 112);
	struct obj *a = fc_slab_alloc(&s);
	struct obj *b = fc_slab_alloc(&s);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_int_equal((uintptr_t)a % 8, 0);
	assert_int_equal((char *)b - (char *)a, 112); /* no header between objects */
	memset(a, 0xaa, sizeof(*a));
	memset(b, 0xbb, sizeof(*b));
	assert_int_equal(s.n_live, 2);
	fc_slab_free(&s, a);
	assert_int_equal(s.n_live, 1);
	fc_slab_free(&s, b);
	/* LIFO: the most recently freed comes back first */
	assert_ptr_equal(fc_slab_alloc(&s), b);
	assert_ptr_equal(fc_slab_alloc(&s), a);
	assert_int_equal(s.n_live, 2);
	fc_slab_fini(&s);
	assert_null(s.chunks);
}

static void test_deferred_free_keeps_bytes(void **state)
{
	(void)state;
	struct fc_slab s;
	fc_slab_init(&s, sizeof(struct obj));
	struct obj *a = fc_slab_alloc(&s);
	a->id = 42;
	memset(a->pad, 'x', sizeof(a->pad));
	assert_true(fc_slab_defer_free(&s, a));
	assert_int_equal(s.n_live, 0);
	/* not reused before the collect, bytes untouched */
	struct obj *b = fc_slab_alloc(&s);
	assert_ptr_not_equal(a, b);
	assert_int_equal(a->id, 42);
	assert_int_equal(a->pad[0], 'x');
	assert_int_equal(a->pad[sizeof(a->pad) - 1], 'x');
	fc_slab_collect(&s);
	assert_int_equal(s.n_deferred, 0);
	assert_ptr_equal(fc_slab_alloc(&s), a); /* now it is */
	fc_slab_fini(&s);
}

static void count(void *o, void *arg)
{
	(void)o;
	(*(size_t *)arg)++;
}

static void test_many_objects(void **state)
{
	(void)state;
	enum { N = 20000 };
	struct fc_slab s;
	fc_slab_init(&s, sizeof(struct obj));
	assert_true(s.per_chunk > 500); /* 64 KiB less a small header */
	struct obj **v = calloc(N, sizeof(*v));
	assert_non_null(v);
	for (size_t i = 0; i < N; i++) {
		v[i] = fc_slab_alloc(&s);
		assert_non_null(v[i]);
		v[i]->id = i;
	}
	for (size_t i = 0; i < N; i++)
		assert_int_equal(v[i]->id, i); /* no two overlap */
	size_t n = 0;
	fc_slab_foreach(&s, count, &n);
	assert_int_equal(n, N);
	/* free every other one, then allocate again: the holes are reused
	 * before any new chunk */
	for (size_t i = 0; i < N; i += 2)
		fc_slab_free(&s, v[i]);
	uint32_t chunks = s.n_chunks;
	for (size_t i = 0; i < N; i += 2)
		v[i] = fc_slab_alloc(&s);
	assert_int_equal(s.n_chunks, chunks);
	assert_int_equal(chunks, (N + s.per_chunk - 1) / s.per_chunk);
	assert_int_equal(s.n_live, N);
	free(v);
	fc_slab_fini(&s);
}

/* the walk may free what it visits, deferred or not */
struct walk {
	struct fc_slab *s;
	size_t seen;
};

static void free_it(void *o, void *arg)
{
	struct walk *w = arg;
	struct obj *x = o;
	w->seen++;
	if (x->id % 2)
		fc_slab_defer_free(w->s, o);
	else
		fc_slab_free(w->s, o);
}

static void test_walk_that_frees(void **state)
{
	(void)state;
	struct fc_slab s;
	fc_slab_init(&s, 24);
	assert_int_equal(s.size, 24);
	for (uint64_t i = 0; i < 5000; i++) {
		uint64_t *p = fc_slab_alloc(&s);
		assert_non_null(p);
		*p = i;
	}
	/* a freed object is not visited */
	uint64_t *gone = fc_slab_alloc(&s);
	*gone = 7;
	fc_slab_free(&s, gone);
	struct walk w = {&s, 0};
	fc_slab_foreach(&s, free_it, &w);
	assert_int_equal(w.seen, 5000);
	assert_int_equal(s.n_live, 0);
	assert_int_equal(s.n_deferred, 2500);
	size_t n = 0;
	fc_slab_foreach(&s, count, &n);
	assert_int_equal(n, 0); /* deferred ones are no longer live */
	fc_slab_collect(&s);
	fc_slab_fini(&s);
}

static void test_empty_slab_fini(void **state)
{
	(void)state;
	struct fc_slab s = {0};
	fc_slab_fini(&s); /* a zeroed slab is fine to fini */
	fc_slab_init(&s, 1);
	assert_int_equal(s.size, 8);
	size_t n = 0;
	fc_slab_foreach(&s, count, &n);
	assert_int_equal(n, 0);
	fc_slab_fini(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_alloc_free_reuse),
	        cmocka_unit_test(test_deferred_free_keeps_bytes),
	        cmocka_unit_test(test_many_objects),
	        cmocka_unit_test(test_walk_that_frees),
	        cmocka_unit_test(test_empty_slab_fini),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
