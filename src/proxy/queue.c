/* queue.c — a pool's queue: requests that found every server at its
 * max_conns (or the pool asleep) wait here, oldest first, whatever worker
 * they are on. A mutex guards the ring (the slow path); `waiting` is read
 * without it. A slot given back goes to the oldest request: it is taken out
 * ("handed") and its worker is told through its mailbox to pick again. New
 * requests join the end while anyone waits, so nobody passes the queue.
 *
 * Nobody is forgotten: a request adds itself (waiting goes up), then, first
 * in line, picks once more; whoever gives a slot back first releases it
 * (fc_pool_done, a seq_cst compare-and-swap) and then reads waiting. Either
 * the second pick sees the slot or the release sees the waiter. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "proxy/proxy.h"

/* Queue numbers (fc_exchange.qseq, FC_QUEUE_SEQ_BITS bits) come from one
 * counter for the process: a number is not reused by another queue until
 * the counter wraps, and 0 means none. */
static _Atomic uint32_t next_seq;
#define SEQ_MASK ((1u << FC_QUEUE_SEQ_BITS) - 1)

struct queue_msg {
	struct fc_msg m; /* first */
	struct fc_rt_queue *q;
	struct fc_exchange *x;
	uint32_t seq;
	bool fail;
	bool chain; /* the pool woke: once it has a server, the next one's turn comes */
};

struct fc_rt_queue *fc_queue_create(const char *name, uint32_t max)
{
	struct fc_rt_queue *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->name = strdup(name);
	q->cap = max ? max : 1;
	q->ring = calloc(q->cap, sizeof(*q->ring));
	if (!q->name || !q->ring || pthread_mutex_init(&q->mu, NULL) != 0) {
		free(q->ring);
		free(q->name);
		free(q);
		return NULL;
	}
	atomic_init(&q->refs, 1);
	atomic_init(&q->waiting, 0);
	atomic_init(&q->max, max);
	atomic_init(&q->wake_state, FC_WAKE_AWAKE);
	atomic_init(&q->wake_posting, false);
	return q;
}

void fc_queue_ref(struct fc_rt_queue *q)
{
	atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed);
}

void fc_queue_unref(struct fc_rt_queue *q)
{
	if (!q || atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) != 1)
		return;
	pthread_mutex_destroy(&q->mu);
	free(q->ring);
	free(q->name);
	free(q);
}

static inline struct fc_rt_queue_entry *at(struct fc_rt_queue *q, uint32_t i)
{
	return &q->ring[(q->head + i) % q->cap];
}

/* Caller holds mu. */
static void publish(struct fc_rt_queue *q)
{
	atomic_store(&q->waiting, q->len + q->handing); /* seq_cst: see the file's header */
}

/* Grows the ring to cap entries, oldest first at 0. Caller holds mu. */
static int grow(struct fc_rt_queue *q, uint32_t cap)
{
	if (cap <= q->cap)
		return 0;
	struct fc_rt_queue_entry *r = calloc(cap, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->len; i++)
		r[i] = *at(q, i);
	free(q->ring);
	q->ring = r;
	q->cap = cap;
	q->head = 0;
	return 0;
}

int fc_queue_set_max(struct fc_rt_queue *q, uint32_t max)
{
	pthread_mutex_lock(&q->mu);
	/* handed requests come back without asking: room for them too */
	int rc = grow(q, max + q->handing);
	if (rc == 0)
		atomic_store(&q->max, max);
	pthread_mutex_unlock(&q->mu);
	return rc;
}

/* Wrap-safe order of queue numbers. */
static inline bool before(uint32_t a, uint32_t b)
{
	return (int32_t)((a - b) << (32 - FC_QUEUE_SEQ_BITS)) < 0;
}

enum fc_queue_add fc_queue_add(struct fc_rt_queue *q, struct fc_worker *w, struct fc_exchange *x,
                               bool asleep)
{
	enum fc_queue_add rc = FC_QUEUE_ADDED;
	pthread_mutex_lock(&q->mu);
	bool again = x->qseq != 0;
	if (!again && q->len + q->handing >= atomic_load(&q->max)) {
		rc = FC_QUEUE_FULL;
		goto out;
	}
	if (q->len == q->cap && grow(q, q->cap * 2) < 0) {
		rc = FC_QUEUE_NOMEM;
		goto out;
	}
	if (!again) {
		uint32_t seq;
		while ((seq = (atomic_fetch_add_explicit(&next_seq, 1, memory_order_relaxed) + 1) &
		              SEQ_MASK) == 0)
			;
		x->qseq = seq;
	}
	/* its place: after everyone older (a new one: the end) */
	uint32_t pos = q->len;
	if (again)
		for (pos = 0; pos < q->len && before(at(q, pos)->seq, x->qseq); pos++)
			;
	for (uint32_t i = q->len; i > pos; i--)
		*at(q, i) = *at(q, i - 1);
	*at(q, pos) = (struct fc_rt_queue_entry){x, w, x->qseq, asleep};
	q->len++;
	publish(q);
	if (pos == 0)
		rc = FC_QUEUE_FIRST;
out:
	pthread_mutex_unlock(&q->mu);
	/* the pick that follows (first in line) reads the slots after waiting
	 * was published: see the file's header */
	atomic_thread_fence(memory_order_seq_cst);
	return rc;
}

/* Takes entry i out of the ring. Caller holds mu. */
static void take_out(struct fc_rt_queue *q, uint32_t i)
{
	for (; i + 1 < q->len; i++)
		*at(q, i) = *at(q, i + 1);
	q->len--;
}

void fc_queue_remove(struct fc_rt_queue *q, struct fc_exchange *x)
{
	if (!x->qseq)
		return;
	pthread_mutex_lock(&q->mu);
	/* the oldest leave most (a timeout): the search starts there */
	for (uint32_t i = 0; i < q->len; i++) {
		struct fc_rt_queue_entry *e = at(q, i);
		if (e->x == x && e->seq == x->qseq) {
			take_out(q, i);
			publish(q);
			break;
		}
	}
	pthread_mutex_unlock(&q->mu);
	x->qseq = 0;
}

static void on_msg(struct fc_msg *m, void *arg);

/* Hands entry e its turn (fail: its wake failed; chain: see queue_msg).
 * Caller holds mu; false when there is no memory for the message (e stays
 * where it is). */
static bool hand(struct fc_rt_queue *q, const struct fc_rt_queue_entry *e, bool fail, bool chain)
{
	struct queue_msg *qm = malloc(sizeof(*qm));
	if (!qm) {
		fc_error("pool %s: out of memory handing a queued request its turn", q->name);
		return false;
	}
	qm->m.fn = on_msg;
	qm->q = q;
	qm->x = e->x;
	qm->seq = e->seq;
	qm->fail = fail;
	qm->chain = chain;
	fc_queue_ref(q);
	q->handing++;
	fc_mailbox_post(&e->w->mailbox, &qm->m);
	return true;
}

/* The oldest waiting request's turn. */
static void hand_first(struct fc_rt_queue *q, bool chain)
{
	/* pairs with the waiter's add: see the file's header */
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&q->waiting, memory_order_relaxed))
		return;
	pthread_mutex_lock(&q->mu);
	if (q->len && hand(q, at(q, 0), false, chain)) {
		q->head = (q->head + 1) % q->cap;
		q->len--;
		publish(q);
	}
	pthread_mutex_unlock(&q->mu);
}

void fc_queue_release(struct fc_rt_queue *q)
{
	hand_first(q, false);
}

void fc_queue_want_wake(struct fc_rt_queue *q, struct fc_mailbox *mb)
{
	if (!mb || atomic_exchange(&q->wake_posting, true))
		return; /* the last one is still on its way */
	fc_queue_ref(q);
	q->wake_msg.fn = fc_wake_on_msg;
	fc_mailbox_post(mb, &q->wake_msg);
}

void fc_queue_kick(struct fc_rt_queue *q, bool fail)
{
	if (!fail) {
		/* one at a time, oldest first: each passes the turn on once it
		 * has a server (a chain), so the order holds whatever worker
		 * each is on, and one that finds every server full stops it
		 * until a slot is given back */
		hand_first(q, true);
		return;
	}
	pthread_mutex_lock(&q->mu);
	uint32_t kept = 0;
	for (uint32_t i = 0; i < q->len; i++) {
		struct fc_rt_queue_entry e = *at(q, i);
		/* a failed wake fails those that waited for it, the others wait on */
		if (!e.asleep || !hand(q, &e, true, false))
			*at(q, kept++) = e;
	}
	q->len = kept;
	q->head = q->len ? q->head : 0;
	publish(q);
	pthread_mutex_unlock(&q->mu);
}

/* On x's worker: its turn came. A message for an exchange that left (its
 * number changed) passes the turn on: the slot is nobody's otherwise. */
static void on_msg(struct fc_msg *m, void *arg)
{
	struct queue_msg *qm = (struct queue_msg *)m;
	struct fc_rt_queue *q = qm->q;
	struct fc_exchange *x = qm->x;
	(void)arg;
	bool live = x->qseq == qm->seq && x->phase == FC_X_QUEUED;
	if (live)
		fc_exchange_dequeued(x, qm->fail); /* it may join again: still counted */
	/* joined again (no server yet): a chain stops here */
	bool waits = live && x->qseq == qm->seq && x->phase == FC_X_QUEUED;
	pthread_mutex_lock(&q->mu);
	q->handing--;
	publish(q);
	pthread_mutex_unlock(&q->mu);
	if (!live && !qm->fail)
		hand_first(q, qm->chain); /* nobody's turn otherwise */
	else if (qm->chain && !waits)
		hand_first(q, true);
	fc_queue_unref(q);
	free(qm);
}
