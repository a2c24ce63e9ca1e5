/* test_buf.c — the buffer free list: take/release/reuse, the max_free bound,
 * foreign buffers, compaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

static void test_take_gives_empty_buffer(void **state)
{
	(void)state;
	struct fc_buf_pool p;
	fc_buf_pool_init(&p, 4096, 4);
	struct fc_buf *b = fc_buf_take(&p);
	assert_non_null(b);
	assert_int_equal(b->cap, 4096);
	assert_int_equal(b->rpos, 0);
	assert_int_equal(b->wpos, 0);
	assert_null(b->next);
	assert_int_equal(fc_buf_len(b), 0);
	assert_int_equal(fc_buf_room(b), 4096);
	memset(b->data, 'x', b->cap); /* the whole capacity is usable */
	fc_buf_release(&p, b);
	fc_buf_pool_fini(&p);
}

static void test_release_then_take_reuses(void **state)
{
	(void)state;
	struct fc_buf_pool p;
	fc_buf_pool_init(&p, 128, 4);
	struct fc_buf *a = fc_buf_take(&p);
	struct fc_buf *b = fc_buf_take(&p);
	assert_ptr_not_equal(a, b);
	a->rpos = 3;
	a->wpos = 17;
	fc_buf_release(&p, a);
	assert_int_equal(p.n_free, 1);
	fc_buf_release(&p, b);
	assert_int_equal(p.n_free, 2);
	/* LIFO: the most recently released (warm) buffer comes back first */
	struct fc_buf *c = fc_buf_take(&p);
	assert_ptr_equal(c, b);
	struct fc_buf *d = fc_buf_take(&p);
	assert_ptr_equal(d, a);
	assert_int_equal(p.n_free, 0);
	assert_null(p.free);
	/* reused buffers come back empty */
	assert_int_equal(d->rpos, 0);
	assert_int_equal(d->wpos, 0);
	assert_null(d->next);
	assert_int_equal(d->cap, 128);
	fc_buf_release(&p, c);
	fc_buf_release(&p, d);
	fc_buf_pool_fini(&p);
	assert_int_equal(p.n_free, 0);
	assert_null(p.free);
}

static void test_max_free_bound(void **state)
{
	(void)state;
	enum { N = 10 };
	struct fc_buf_pool p;
	fc_buf_pool_init(&p, 64, 3);
	struct fc_buf *b[N];
	for (int i = 0; i < N; i++) {
		b[i] = fc_buf_take(&p);
		assert_non_null(b[i]);
	}
	for (int i = 0; i < N; i++) {
		fc_buf_release(&p, b[i]);
		assert_int_equal(p.n_free, i < 3 ? i + 1 : 3);
	}
	int n = 0;
	for (struct fc_buf *f = p.free; f; f = f->next)
		n++;
	assert_int_equal(n, 3);
	fc_buf_pool_fini(&p); /* ASan reports a leak if the others were kept */
}

static void test_max_free_zero_keeps_nothing(void **state)
{
	(void)state;
	struct fc_buf_pool p;
	fc_buf_pool_init(&p, 64, 0);
	struct fc_buf *b = fc_buf_take(&p);
	fc_buf_release(&p, b);
	assert_int_equal(p.n_free, 0);
	assert_null(p.free);
	fc_buf_pool_fini(&p);
}

static void test_release_null_and_foreign(void **state)
{
	(void)state;
	struct fc_buf_pool p, q;
	fc_buf_pool_init(&p, 64, 4);
	fc_buf_pool_init(&q, 256, 4);
	fc_buf_release(&p, NULL);
	assert_int_equal(p.n_free, 0);
	/* a buffer of another size is freed, never pooled */
	struct fc_buf *big = fc_buf_take(&q);
	fc_buf_release(&p, big);
	assert_int_equal(p.n_free, 0);
	struct fc_buf *b = fc_buf_take(&p);
	assert_int_equal(b->cap, 64);
	fc_buf_release(&p, b);
	fc_buf_pool_fini(&p);
	fc_buf_pool_fini(&q);
}

static void test_compact(void **state)
{
	(void)state;
	struct fc_buf_pool p;
	fc_buf_pool_init(&p, 32, 1);
	struct fc_buf *b = fc_buf_take(&p);

	/* nothing read yet: no move */
	memcpy(b->data, "abcdef", 6);
	b->wpos = 6;
	fc_buf_compact(b);
	assert_int_equal(b->rpos, 0);
	assert_int_equal(b->wpos, 6);

	/* unread data moves to the front */
	memcpy(b->data, "0123456789abcdefghijklmnopqrstuv", 32);
	b->rpos = 20;
	b->wpos = 32;
	assert_int_equal(fc_buf_room(b), 0);
	fc_buf_compact(b);
	assert_int_equal(b->rpos, 0);
	assert_int_equal(b->wpos, 12);
	assert_int_equal(fc_buf_len(b), 12);
	assert_int_equal(fc_buf_room(b), 20);
	assert_memory_equal(b->data, "klmnopqrstuv", 12);

	/* overlapping move (memmove, not memcpy) */
	memcpy(b->data, "0123456789abcdefghijklmnopqrstuv", 32);
	b->rpos = 2;
	b->wpos = 30;
	fc_buf_compact(b);
	assert_int_equal(b->wpos, 28);
	assert_memory_equal(b->data, "23456789abcdefghijklmnopqrst", 28);

	/* everything read: both ends reset */
	b->rpos = b->wpos = 17;
	fc_buf_compact(b);
	assert_int_equal(b->rpos, 0);
	assert_int_equal(b->wpos, 0);
	assert_int_equal(fc_buf_room(b), 32);

	fc_buf_release(&p, b);
	fc_buf_pool_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_take_gives_empty_buffer),
	        cmocka_unit_test(test_release_then_take_reuses),
	        cmocka_unit_test(test_max_free_bound),
	        cmocka_unit_test(test_max_free_zero_keeps_nothing),
	        cmocka_unit_test(test_release_null_and_foreign),
	        cmocka_unit_test(test_compact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
