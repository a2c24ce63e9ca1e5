/* test_health_passive.c — passive reports from 4 worker threads at once
 * (run under TSan too): exactly one ejection message per crossing while the
 * control thread is busy elsewhere, and with the control loop running
 * alongside (short ejections ending and starting again), every message is
 * one ejection or one logged refusal, never two for one crossing. */
#include "helpers.h"

#define THREADS 4

struct fix {
	struct fc_loop loop;
	struct fc_pool *pool;
	struct fc_health *h;
	struct fc_config_pool cp;
	struct fc_config_server cs[4];
	struct fc_server *srv[4];
	struct fc_health_server *hs[4];
};

struct worker {
	pthread_t th;
	struct fc_health_server *hs;
	pthread_barrier_t *start;
	unsigned reports;
	bool mixed; /* a success every 7th report */
	atomic_bool *stop;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_barrier_wait(w->start);
	for (unsigned i = 0; w->reports ? i < w->reports : !atomic_load(w->stop); i++) {
		uint64_t now = fc_time_ns();
		if (w->mixed && i % 7 == 6)
			fc_health_report(w->hs, FC_BLAME_NONE, 200, NULL, now);
		else if (i % 3 == 0)
			fc_health_report(w->hs, FC_BLAME_NONE, 502, NULL, now);
		else
			fc_health_report(w->hs, FC_BLAME_SERVER, 0, "response timeout", now);
	}
	return NULL;
}

static void run_workers(struct fc_health_server *hs, unsigned reports, bool mixed,
                        atomic_bool *stop, struct worker *w, pthread_barrier_t *b)
{
	pthread_barrier_init(b, NULL, THREADS + 1);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){
		        .hs = hs, .start = b, .reports = reports, .mixed = mixed, .stop = stop};
		assert_int_equal(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
	}
	pthread_barrier_wait(b);
}

static void join_workers(struct worker *w, pthread_barrier_t *b)
{
	for (int i = 0; i < THREADS; i++)
		pthread_join(w[i].th, NULL);
	pthread_barrier_destroy(b);
}

static struct fix *fix_new(uint32_t eject_ms)
{
	struct fix *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(fc_loop_init(&f->loop), 0);
	f->pool = t_pool("api");
	f->cp.name = "api";
	t_passive_default(&f->cp.passive);
	f->cp.passive.eject_ms = eject_ms;
	f->cp.passive.max_eject_ms = eject_ms;
	assert_int_equal(fc_health_create(&f->loop, NULL, &f->h), 0);
	for (unsigned i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof name, "api-%u", i + 1);
		f->srv[i] = t_server(f->pool, name);
		struct sockaddr_in a = t_addr(9);
		assert_int_equal(fc_health_add_server(f->h, f->pool, &f->cp, &f->cs[i], f->srv[i],
		                                      (struct sockaddr *)&a, sizeof a, &f->hs[i]),
		                 0);
	}
	assert_int_equal(fc_health_start(f->h), 0);
	return f;
}

static void fix_free(struct fix *f)
{
	fc_health_destroy(f->h);
	fc_pool_destroy(f->pool);
	fc_loop_fini(&f->loop);
	free(f);
}

static void test_one_message_per_crossing(void **state)
{
	(void)state;
	t_log_start();
	struct fix *f = fix_new(10000);
	struct fc_health_server *hs = f->hs[1];
	struct worker w[THREADS];
	pthread_barrier_t b;
	for (unsigned round = 1; round <= 3; round++) {
		/* 4 x 2,000 faults race while the control thread does not look */
		run_workers(hs, 2000, false, NULL, w, &b);
		join_workers(w, &b);
		assert_int_equal(fc_mailbox_drain(&f->h->mb), 1);
		assert_int_equal(hs->eject_msgs, round);
		assert_int_equal(hs->ejections, round);
		assert_int_equal(t_state(f->srv[1]), FC_SERVER_DEAD);
		/* while out, nothing posts */
		run_workers(hs, 500, false, NULL, w, &b);
		join_workers(w, &b);
		assert_int_equal(fc_mailbox_drain(&f->h->mb), 0);
		fc__health_eject_end(hs, fc_time_ns());
		assert_int_equal(t_state(f->srv[1]), FC_SERVER_HEALTHY);
	}
	char log[8192];
	const char *l = t_log_take(log, sizeof log);
	assert_int_equal(t_count(l, "server api-2 is ejected for 10s (5 consecutive failures, "
	                            "last: "),
	                 3);
	fix_free(f);
	t_log_stop();
}

static void test_with_control_running(void **state)
{
	(void)state;
	t_log_start();
	struct fix *f = fix_new(5); /* 5 ms ejections: many crossings in 300 ms */
	struct worker w[THREADS], w2[THREADS];
	pthread_barrier_t b, b2;
	atomic_bool stop;
	atomic_init(&stop, false);
	/* two servers hammered at once: at 50 % of 4 both may be out together */
	run_workers(f->hs[0], 0, true, &stop, w, &b);
	run_workers(f->hs[2], 0, true, &stop, w2, &b2);
	t_run(&f->loop, NULL, NULL, 300);
	atomic_store(&stop, true);
	join_workers(w, &b);
	join_workers(w2, &b2);
	fc_mailbox_drain(&f->h->mb);
	for (int i = 0; i < 4; i += 2) {
		struct fc_health_server *hs = f->hs[i];
		printf("api-%d: %u crossings delivered, %u ejections, %u refused, %u late\n", i + 1,
		       hs->eject_msgs, hs->ejections, hs->refusals, hs->late);
		assert_true(hs->ejections >= 2);
		/* each message is one ejection or one refusal; none arrives for a
		 * server already out (a crossing that raced the last ejection is
		 * dropped by the worker, not posted) */
		assert_int_equal(hs->late, 0);
		assert_int_equal(hs->eject_msgs, hs->ejections + hs->refusals);
	}
	char *log = malloc(1 << 20);
	const char *l = t_log_take(log, 1 << 20);
	assert_int_equal((unsigned)t_count(l, "is ejected for 5ms"),
	                 f->hs[0]->ejections + f->hs[2]->ejections);
	free(log);
	fix_free(f);
	t_log_stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_one_message_per_crossing),
	        cmocka_unit_test(test_with_control_running),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
