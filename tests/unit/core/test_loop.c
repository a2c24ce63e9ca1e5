/* test_loop.c — the epoll loop: timer heap order, re-arming, cancelling, the
 * heap invariant under random operations, the before_wait hook, fd events
 * and stopping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"

/* A timer that records the order in which it fired. */
struct rec_timer {
	struct fc_timer t; /* first: the callback casts back */
	int id;
};

static int fired[4096];
static int n_fired;
static int stop_after; /* stop the loop after this many fired, 0 = never */

static void rec_cb(struct fc_loop *loop, struct fc_timer *t)
{
	struct rec_timer *r = (struct rec_timer *)t;
	assert_true(n_fired < (int)(sizeof(fired) / sizeof(fired[0])));
	fired[n_fired++] = r->id;
	assert_int_equal(t->slot, 0); /* out of the heap when called */
	assert_int_equal(t->when, 0); /* and disarmed */
	if (stop_after && n_fired >= stop_after)
		loop->stop = true;
}

static void reset_record(int stop)
{
	n_fired = 0;
	stop_after = stop;
}

/* Checks slots and the min-heap property of the loop's timer heap. */
static void check_heap(const struct fc_loop *loop)
{
	for (uint32_t i = 0; i < loop->n_timers; i++) {
		assert_non_null(loop->heap[i]);
		assert_int_equal(loop->heap[i]->slot, i + 1);
		assert_true(loop->heap[i]->when != 0);
		if (i > 0)
			assert_true(loop->heap[(i - 1) / 2]->when <= loop->heap[i]->when);
	}
}

/* A safety net so a broken loop fails instead of hanging the test. */
static void watchdog_cb(struct fc_loop *loop, struct fc_timer *t)
{
	(void)loop;
	(void)t;
	fail_msg("watchdog: the loop did not stop in time");
}

static void test_timers_fire_in_deadline_order(void **state)
{
	(void)state;
	struct fc_loop loop;
	assert_int_equal(fc_loop_init(&loop), 0);
	static const int delays[] = {7, 3, 12, 1, 9, 5, 2, 11, 4, 8, 6, 10};
	enum { N = sizeof(delays) / sizeof(delays[0]) };
	struct rec_timer t[N];
	struct fc_timer dog = {.cb = watchdog_cb};
	uint64_t base = loop.now_ms;
	for (int i = 0; i < N; i++) {
		t[i] = (struct rec_timer){.t = {.cb = rec_cb}, .id = delays[i]};
		fc_timer_set(&loop, &t[i].t, base + (uint64_t)delays[i]);
		check_heap(&loop);
	}
	fc_timer_set(&loop, &dog, base + 5000);
	reset_record(N);
	fc_loop_run(&loop);
	assert_int_equal(n_fired, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(fired[i], i + 1);
	assert_true(loop.now_ms >= base + 12);
	fc_timer_cancel(&loop, &dog);
	assert_int_equal(loop.n_timers, 0);
	fc_loop_fini(&loop);
}

static void test_timer_rearm_earlier_and_later(void **state)
{
	(void)state;
	struct fc_loop loop;
	assert_int_equal(fc_loop_init(&loop), 0);
	struct rec_timer a = {.t = {.cb = rec_cb}, .id = 1};
	struct rec_timer b = {.t = {.cb = rec_cb}, .id = 2};
	struct rec_timer c = {.t = {.cb = rec_cb}, .id = 3};
	struct fc_timer dog = {.cb = watchdog_cb};
	uint64_t base = loop.now_ms;
	fc_timer_set(&loop, &a.t, base + 30);
	fc_timer_set(&loop, &b.t, base + 10);
	fc_timer_set(&loop, &c.t, base + 20);
	fc_timer_set(&loop, &dog, base + 5000);
	/* a moves to the front, b to the back, c stays */
	fc_timer_set(&loop, &a.t, base + 2);
	check_heap(&loop);
	assert_ptr_equal(loop.heap[0], &a.t);
	fc_timer_set(&loop, &b.t, base + 40);
	check_heap(&loop);
	/* re-arming to the same deadline changes nothing */
	fc_timer_set(&loop, &c.t, base + 20);
	check_heap(&loop);
	assert_int_equal(loop.n_timers, 4);
	assert_int_equal(a.t.when, base + 2);
	assert_int_equal(b.t.when, base + 40);
	reset_record(3);
	fc_loop_run(&loop);
	assert_int_equal(n_fired, 3);
	assert_int_equal(fired[0], 1);
	assert_int_equal(fired[1], 3);
	assert_int_equal(fired[2], 2);
	fc_loop_fini(&loop);
}

static void test_timer_cancel(void **state)
{
	(void)state;
	struct fc_loop loop;
	assert_int_equal(fc_loop_init(&loop), 0);
	struct rec_timer a = {.t = {.cb = rec_cb}, .id = 1};
	struct rec_timer b = {.t = {.cb = rec_cb}, .id = 2};
	struct rec_timer c = {.t = {.cb = rec_cb}, .id = 3};
	struct rec_timer never = {.t = {.cb = rec_cb}, .id = 99};
	uint64_t base = loop.now_ms;

	/* cancelling a timer that was never armed is a no-op */
	fc_timer_cancel(&loop, &never.t);
	assert_int_equal(loop.n_timers, 0);
	fc_timer_set(&loop, &never.t, 0);
	assert_int_equal(loop.n_timers, 0);

	fc_timer_set(&loop, &a.t, base + 1);
	fc_timer_set(&loop, &b.t, base + 2);
	fc_timer_set(&loop, &c.t, base + 3);
	fc_timer_cancel(&loop, &b.t);
	check_heap(&loop);
	assert_int_equal(loop.n_timers, 2);
	assert_int_equal(b.t.slot, 0);
	assert_int_equal(b.t.when, 0);
	/* twice is fine */
	fc_timer_cancel(&loop, &b.t);
	assert_int_equal(loop.n_timers, 2);
	/* cancelling the root and the last element */
	fc_timer_cancel(&loop, &a.t);
	check_heap(&loop);
	assert_ptr_equal(loop.heap[0], &c.t);
	fc_timer_set(&loop, &a.t, base + 1);
	reset_record(2);
	fc_loop_run(&loop);
	assert_int_equal(n_fired, 2);
	assert_int_equal(fired[0], 1);
	assert_int_equal(fired[1], 3);
	/* a fired timer is disarmed: cancelling it is harmless */
	fc_timer_cancel(&loop, &a.t);
	assert_int_equal(loop.n_timers, 0);
	fc_loop_fini(&loop);
}

/* Callbacks that change other timers while the heap is being drained. */
static struct rec_timer *victim;
static void cancel_other_cb(struct fc_loop *loop, struct fc_timer *t)
{
	rec_cb(loop, t);
	fc_timer_cancel(loop, &victim->t);
}

static int periodic_left;
static void periodic_cb(struct fc_loop *loop, struct fc_timer *t)
{
	rec_cb(loop, t);
	if (--periodic_left > 0)
		fc_timer_set(loop, t, loop->now_ms + 1);
	else
		loop->stop = true;
}

static void test_timer_callbacks_change_the_heap(void **state)
{
	(void)state;
	struct fc_loop loop;
	assert_int_equal(fc_loop_init(&loop), 0);
	struct rec_timer a = {.t = {.cb = cancel_other_cb}, .id = 1};
	struct rec_timer b = {.t = {.cb = rec_cb}, .id = 2};
	struct rec_timer p = {.t = {.cb = periodic_cb}, .id = 3};
	struct fc_timer dog = {.cb = watchdog_cb};
	uint64_t base = loop.now_ms;
	/* a and b are both due in the same iteration; a cancels b */
	fc_timer_set(&loop, &a.t, base + 1);
	fc_timer_set(&loop, &b.t, base + 1);
	victim = a.t.slot < b.t.slot ? &b : &a;
	if (victim == &a) { /* make sure the canceller runs first */
		a.t.cb = rec_cb;
		b.t.cb = cancel_other_cb;
	}
	fc_timer_set(&loop, &p.t, base + 3);
	fc_timer_set(&loop, &dog, base + 5000);
	periodic_left = 4;
	reset_record(0);
	fc_loop_run(&loop);
	assert_int_equal(n_fired, 5); /* one of a/b, then p four times */
	/* the canceller, not its victim: otherwise no cancel happened mid-drain */
	assert_int_equal(fired[0], victim == &a ? b.id : a.id);
	for (int i = 1; i < 5; i++)
		assert_int_equal(fired[i], 3);
	assert_int_equal(victim->t.slot, 0);
	fc_timer_cancel(&loop, &dog);
	assert_int_equal(loop.n_timers, 0);
	fc_loop_fini(&loop);
}

/* Random set/re-arm/cancel against a reference array; then drain the heap
 * with every deadline already passed and check the firing order. */
static void test_timer_heap_random_vs_reference(void **state)
{
	(void)state;
	enum { N = 1000, OPS = 20000 };
	struct fc_loop loop;
	assert_int_equal(fc_loop_init(&loop), 0);
	if (loop.now_ms <= 2000) {
		fc_loop_fini(&loop);
		skip();
	}
	static struct rec_timer t[N];
	static uint64_t ref[N]; /* armed deadline, 0 = not armed */
	srand(12345);
	for (int i = 0; i < N; i++) {
		t[i] = (struct rec_timer){.t = {.cb = rec_cb}, .id = i};
		ref[i] = 0;
	}
	for (int op = 0; op < OPS; op++) {
		int i = rand() % N;
		int what = rand() % 4;
		if (what == 0) {
			fc_timer_cancel(&loop, &t[i].t);
			ref[i] = 0;
		} else {
			/* deadlines in the past (all due at once), with many ties */
			uint64_t when = 1 + (uint64_t)(rand() % 500);
			fc_timer_set(&loop, &t[i].t, when);
			ref[i] = when;
		}
		if (op % 97 == 0)
			check_heap(&loop);
	}
	check_heap(&loop);
	int armed = 0;
	for (int i = 0; i < N; i++) {
		assert_int_equal(t[i].t.when, ref[i]);
		assert_int_equal(t[i].t.slot != 0, ref[i] != 0);
		armed += ref[i] != 0;
	}
	assert_int_equal(loop.n_timers, armed);
	assert_true(armed > 0);
	reset_record(armed);
	fc_loop_run(&loop);
	assert_int_equal(n_fired, armed);
	assert_int_equal(loop.n_timers, 0);
	static bool seen[N];
	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < n_fired; k++) {
		int id = fired[k];
		assert_true(ref[id] != 0);
		assert_false(seen[id]);
		seen[id] = true;
		if (k > 0)
			assert_true(ref[fired[k - 1]] <= ref[id]);
	}
	fc_loop_fini(&loop);
}

/* Grows the heap past its first allocation. */
static void test_timer_heap_grows(void **state)
{
	(void)state;
	enum { N = 3000 };
	struct fc_loop loop;
	assert_int_equal(fc_loop_init(&loop), 0);
	static struct rec_timer t[N];
	for (int i = 0; i < N; i++) {
		t[i] = (struct rec_timer){.t = {.cb = rec_cb}, .id = i};
		fc_timer_set(&loop, &t[i].t, (uint64_t)(N - i) * 10 + 1000000000ull);
	}
	assert_int_equal(loop.n_timers, N);
	assert_true(loop.cap_timers >= N);
	check_heap(&loop);
	assert_ptr_equal(loop.heap[0], &t[N - 1].t);
	for (int i = 0; i < N; i += 2)
		fc_timer_cancel(&loop, &t[i].t);
	check_heap(&loop);
	assert_int_equal(loop.n_timers, N / 2);
	fc_loop_fini(&loop);
	assert_null(loop.heap);
	assert_int_equal(loop.n_timers, 0);
}

static int hook_calls;
static void hook(struct fc_loop *loop, void *arg)
{
	assert_ptr_equal(arg, &hook_calls);
	if (++hook_calls == 3)
		loop->stop = true;
}

static void rearm_now_cb(struct fc_loop *loop, struct fc_timer *t)
{
	/* due again next iteration (re-arming for now itself would fire again
	 * within the same run_timers pass) */
	fc_timer_set(loop, t, loop->now_ms + 1);
}

static void test_before_wait_hook_runs_each_iteration(void **state)
{
	(void)state;
	struct fc_loop loop;
	assert_int_equal(fc_loop_init(&loop), 0);
	struct fc_timer tick = {.cb = rearm_now_cb};
	struct fc_timer dog = {.cb = watchdog_cb};
	/* a due timer keeps epoll_wait from sleeping */
	fc_timer_set(&loop, &tick, loop.now_ms);
	fc_timer_set(&loop, &dog, loop.now_ms + 5000);
	loop.before_wait = hook;
	loop.before_wait_arg = &hook_calls;
	hook_calls = 0;
	fc_loop_run(&loop);
	assert_int_equal(hook_calls, 3);
	fc_loop_fini(&loop);
}

static void test_stop_before_run_returns_at_once(void **state)
{
	(void)state;
	struct fc_loop loop;
	assert_int_equal(fc_loop_init(&loop), 0);
	loop.before_wait = hook;
	loop.before_wait_arg = &hook_calls;
	hook_calls = 0;
	loop.stop = true;
	fc_loop_run(&loop);
	assert_int_equal(hook_calls, 0);
	fc_loop_fini(&loop);
}

struct pipe_watch {
	struct fc_io io; /* first */
	int calls;
	uint32_t events;
	char got[16];
	size_t n_got;
};

static void pipe_cb(struct fc_loop *loop, struct fc_io *io, uint32_t events)
{
	struct pipe_watch *w = (struct pipe_watch *)io;
	w->calls++;
	w->events |= events;
	ssize_t n = read(io->fd, w->got + w->n_got, sizeof(w->got) - w->n_got);
	if (n > 0)
		w->n_got += (size_t)n;
	loop->stop = true;
}

static void test_fd_event_reaches_callback(void **state)
{
	(void)state;
	struct fc_loop loop;
	assert_int_equal(fc_loop_init(&loop), 0);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	struct pipe_watch w = {.io = {.fd = fds[0], .cb = pipe_cb}};
	struct fc_timer dog = {.cb = watchdog_cb};
	assert_int_equal(fc_loop_add_level(&loop, &w.io), 0);
	/* adding the same fd twice is refused */
	assert_int_equal(fc_loop_add_level(&loop, &w.io), -EEXIST);
	fc_timer_set(&loop, &dog, loop.now_ms + 5000);
	assert_int_equal(write(fds[1], "hi", 2), 2);
	fc_loop_run(&loop);
	assert_int_equal(w.calls, 1);
	assert_true(w.events & EPOLLIN);
	assert_int_equal(w.n_got, 2);
	assert_memory_equal(w.got, "hi", 2);

	/* after fc_loop_del no more events arrive: the dog is replaced by a
	 * short timer that stops the loop */
	fc_loop_del(&loop, &w.io);
	assert_int_equal(write(fds[1], "x", 1), 1);
	struct rec_timer stop = {.t = {.cb = rec_cb}, .id = 1};
	fc_timer_cancel(&loop, &dog);
	fc_timer_set(&loop, &stop.t, loop.now_ms + 5);
	reset_record(1);
	loop.stop = false;
	fc_loop_run(&loop);
	assert_int_equal(w.calls, 1);
	assert_int_equal(n_fired, 1);
	close(fds[0]);
	close(fds[1]);
	fc_loop_fini(&loop);
}

static void test_eventfd_edge_triggered(void **state)
{
	(void)state;
	struct fc_loop loop;
	assert_int_equal(fc_loop_init(&loop), 0);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(efd >= 0);
	struct pipe_watch w = {.io = {.fd = efd, .cb = pipe_cb}};
	struct fc_timer dog = {.cb = watchdog_cb};
	assert_int_equal(fc_loop_add(&loop, &w.io), 0);
	fc_timer_set(&loop, &dog, loop.now_ms + 5000);
	uint64_t one = 1;
	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	fc_loop_run(&loop);
	assert_true(w.calls >= 1);
	assert_true(w.events & EPOLLIN);
	assert_int_equal(w.n_got, 8);
	fc_timer_cancel(&loop, &dog);
	fc_loop_del(&loop, &w.io);
	/* fc_loop_del on an fd of -1 is a no-op */
	struct fc_io none = {.fd = -1};
	fc_loop_del(&loop, &none);
	close(efd);
	fc_loop_fini(&loop);
}

static void stop_cb(struct fc_loop *loop, struct fc_timer *t)
{
	(void)t;
	loop->stop = true;
}

static void test_stop_from_timer_ends_run(void **state)
{
	(void)state;
	struct fc_loop loop;
	assert_int_equal(fc_loop_init(&loop), 0);
	struct fc_timer st = {.cb = stop_cb};
	struct rec_timer later = {.t = {.cb = rec_cb}, .id = 7};
	uint64_t base = loop.now_ms;
	fc_timer_set(&loop, &st, base + 2);
	fc_timer_set(&loop, &later.t, base + 60000);
	reset_record(0);
	uint64_t t0 = fc_time_ns();
	fc_loop_run(&loop);
	assert_true(fc_time_ns() - t0 < 2000000000ull);
	assert_int_equal(n_fired, 0);
	assert_int_equal(loop.n_timers, 1); /* the later timer is still armed */
	fc_loop_fini(&loop);
}

static void test_clock(void **state)
{
	(void)state;
	struct fc_loop loop;
	assert_int_equal(fc_loop_init(&loop), 0);
	uint64_t a = loop.now_ns;
	assert_true(a > 0);
	assert_int_equal(loop.now_ms, loop.now_ns / 1000000ull);
	usleep(2000);
	assert_int_equal(loop.now_ns, a); /* cached */
	fc_loop_update_time(&loop);
	assert_true(loop.now_ns >= a + 2000000ull);
	assert_true(fc_time_ns() >= loop.now_ns);
	fc_loop_fini(&loop);
	assert_int_equal(loop.epfd, -1);
	fc_loop_fini(&loop); /* twice is harmless */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_timers_fire_in_deadline_order),
	        cmocka_unit_test(test_timer_rearm_earlier_and_later),
	        cmocka_unit_test(test_timer_cancel),
	        cmocka_unit_test(test_timer_callbacks_change_the_heap),
	        cmocka_unit_test(test_timer_heap_random_vs_reference),
	        cmocka_unit_test(test_timer_heap_grows),
	        cmocka_unit_test(test_before_wait_hook_runs_each_iteration),
	        cmocka_unit_test(test_stop_before_run_returns_at_once),
	        cmocka_unit_test(test_fd_event_reaches_callback),
	        cmocka_unit_test(test_eventfd_edge_triggered),
	        cmocka_unit_test(test_stop_from_timer_ends_run),
	        cmocka_unit_test(test_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
