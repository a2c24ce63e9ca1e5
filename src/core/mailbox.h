/* mailbox.h — messages from any thread to one loop: a lock-free MPSC list and
 * an eventfd that wakes the loop. The control thread tells workers what to do
 * through one (close idle connections to a server, stop); workers tell the
 * control thread what they saw through another (a server failing). */
#ifndef FC_MAILBOX_H
#define FC_MAILBOX_H

#include <stdatomic.h>

#include "core/loop.h"

struct fc_msg;
/* Runs on the mailbox's loop thread; owns m from then on (frees it or
 * reuses it). arg is the mailbox's arg. */
typedef void (*fc_msg_fn)(struct fc_msg *m, void *arg);

/* A message header, embedded first in the sender's message struct. */
struct fc_msg {
	struct fc_msg *next;
	fc_msg_fn fn;
};

struct fc_mailbox {
	struct fc_io io; /* the eventfd, level-triggered in the loop */
	struct fc_loop *loop;
	_Atomic(struct fc_msg *) head; /* newest first */
	void *arg;
};

/** Creates the eventfd and registers it with loop. Messages are delivered
 * by the loop's thread, oldest first, with arg. Returns 0 or -errno.
 * Thread: the loop's, before other threads post. */
int fc_mailbox_init(struct fc_mailbox *mb, struct fc_loop *loop, void *arg);

/** Delivers what is still queued, then closes the eventfd. No post may
 * race with or follow it. Thread: the loop's. */
void fc_mailbox_fini(struct fc_mailbox *mb);

/** Queues m (m->fn set by the caller) and wakes the loop. Never blocks; one
 * eventfd write per batch (only when the queue was empty). Ownership of m
 * passes to the mailbox. Thread: any. */
void fc_mailbox_post(struct fc_mailbox *mb, struct fc_msg *m);

/** Delivers every queued message now (the loop does this on its own when
 * woken). Returns how many were delivered. Thread: the loop's. */
unsigned fc_mailbox_drain(struct fc_mailbox *mb);

#endif
