/* test_mailbox.c — the MPSC mailbox: order of one producer, nothing lost or
 * doubled with four producers racing a consuming loop, one eventfd write per
 * batch, and fini delivering what is left. Runs under TSan in make test. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "core/mailbox.h"

struct num_msg {
	struct fc_msg m; /* first */
	int producer;
	int seq;
};

#define PRODUCERS    4
#define PER_PRODUCER 20000

struct sink {
	int last[PRODUCERS];
	int count;
	int target;
	struct fc_loop *loop;
};

static void on_num(struct fc_msg *m, void *arg)
{
	struct sink *s = arg;
	struct num_msg *n = (struct num_msg *)m;
	assert_true(n->producer >= 0 && n->producer < PRODUCERS);
	/* one producer's messages arrive in the order it posted them */
	assert_int_equal(n->seq, s->last[n->producer] + 1);
	s->last[n->producer] = n->seq;
	s->count++;
	if (s->target && s->count == s->target)
		s->loop->stop = true;
	free(n);
}

static struct num_msg *num(int producer, int seq)
{
	struct num_msg *n = calloc(1, sizeof(*n));
	assert_non_null(n);
	n->m.fn = on_num;
	n->producer = producer;
	n->seq = seq;
	return n;
}

static void test_order_single(void **state)
{
	(void)state;
	struct fc_loop loop;
	struct fc_mailbox mb;
	struct sink s = {.last = {-1, -1, -1, -1}, .loop = &loop};
	assert_int_equal(fc_loop_init(&loop), 0);
	assert_int_equal(fc_mailbox_init(&mb, &loop, &s), 0);
	for (int i = 0; i < 100; i++)
		fc_mailbox_post(&mb, &num(0, i)->m);
	assert_int_equal(fc_mailbox_drain(&mb), 100);
	assert_int_equal(s.count, 100);
	assert_int_equal(fc_mailbox_drain(&mb), 0);
	fc_mailbox_fini(&mb);
	fc_loop_fini(&loop);
}

/* Only the post onto an empty queue writes the eventfd: a batch of posts
 * leaves the counter at 1. */
static void test_one_wake_per_batch(void **state)
{
	(void)state;
	struct fc_loop loop;
	struct fc_mailbox mb;
	struct sink s = {.last = {-1, -1, -1, -1}, .loop = &loop};
	assert_int_equal(fc_loop_init(&loop), 0);
	assert_int_equal(fc_mailbox_init(&mb, &loop, &s), 0);
	for (int i = 0; i < 10; i++)
		fc_mailbox_post(&mb, &num(1, i)->m);
	uint64_t v = 0;
	assert_int_equal(read(mb.io.fd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	/* the wake was consumed by hand: messages are still there for drain */
	assert_int_equal(fc_mailbox_drain(&mb), 10);
	fc_mailbox_fini(&mb);
	fc_loop_fini(&loop);
}

static void test_fini_delivers(void **state)
{
	(void)state;
	struct fc_loop loop;
	struct fc_mailbox mb;
	struct sink s = {.last = {-1, -1, -1, -1}, .loop = &loop};
	assert_int_equal(fc_loop_init(&loop), 0);
	assert_int_equal(fc_mailbox_init(&mb, &loop, &s), 0);
	fc_mailbox_post(&mb, &num(2, 0)->m);
	fc_mailbox_post(&mb, &num(2, 1)->m);
	fc_mailbox_fini(&mb);
	assert_int_equal(s.count, 2);
	fc_loop_fini(&loop);
}

struct producer_arg {
	struct fc_mailbox *mb;
	int id;
};

static void *produce(void *p)
{
	struct producer_arg *a = p;
	for (int i = 0; i < PER_PRODUCER; i++)
		fc_mailbox_post(a->mb, &num(a->id, i)->m);
	return NULL;
}

static void watchdog(struct fc_loop *loop, struct fc_timer *t)
{
	(void)t;
	loop->stop = true;
}

static void test_concurrent_producers(void **state)
{
	(void)state;
	struct fc_loop loop;
	struct fc_mailbox mb;
	struct sink s = {
	        .last = {-1, -1, -1, -1}, .target = PRODUCERS * PER_PRODUCER, .loop = &loop};
	assert_int_equal(fc_loop_init(&loop), 0);
	assert_int_equal(fc_mailbox_init(&mb, &loop, &s), 0);
	struct fc_timer dog = {.cb = watchdog};
	fc_loop_update_time(&loop);
	fc_timer_set(&loop, &dog, loop.now_ms + 60000);
	pthread_t th[PRODUCERS];
	struct producer_arg args[PRODUCERS];
	for (int i = 0; i < PRODUCERS; i++) {
		args[i] = (struct producer_arg){&mb, i};
		assert_int_equal(pthread_create(&th[i], NULL, produce, &args[i]), 0);
	}
	fc_loop_run(&loop); /* the loop's own wake-ups deliver them */
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	fc_mailbox_drain(&mb);
	assert_int_equal(s.count, PRODUCERS * PER_PRODUCER);
	for (int i = 0; i < PRODUCERS; i++)
		assert_int_equal(s.last[i], PER_PRODUCER - 1);
	fc_timer_cancel(&loop, &dog);
	fc_mailbox_fini(&mb);
	fc_loop_fini(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_order_single),
	        cmocka_unit_test(test_one_wake_per_batch),
	        cmocka_unit_test(test_fini_delivers),
	        cmocka_unit_test(test_concurrent_producers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
