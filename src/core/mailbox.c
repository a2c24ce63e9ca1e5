/* mailbox.c — an MPSC queue on an eventfd. Producers push onto a Treiber
 * stack with one CAS; the consumer takes the whole stack with one exchange
 * and reverses it, so messages arrive in the order they were posted. Only a
 * push onto an empty stack writes the eventfd: the consumer reads the
 * eventfd before it takes the stack, so a message is never left behind. */
#include "core/mailbox.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"

static void on_wake(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct fc_mailbox *mb = (struct fc_mailbox *)io;
	(void)loop;
	(void)ev;
	fc_mailbox_drain(mb);
}

int fc_mailbox_init(struct fc_mailbox *mb, struct fc_loop *loop, void *arg)
{
	mb->loop = loop;
	mb->arg = arg;
	atomic_init(&mb->head, NULL);
	mb->io.cb = on_wake;
	mb->io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (mb->io.fd < 0)
		return -errno;
	int rc = fc_loop_add_level(loop, &mb->io);
	if (rc < 0) {
		close(mb->io.fd);
		mb->io.fd = -1;
	}
	return rc;
}

void fc_mailbox_fini(struct fc_mailbox *mb)
{
	if (mb->io.fd < 0)
		return;
	fc_mailbox_drain(mb);
	fc_loop_del(mb->loop, &mb->io);
	close(mb->io.fd);
	mb->io.fd = -1;
}

void fc_mailbox_post(struct fc_mailbox *mb, struct fc_msg *m)
{
	struct fc_msg *old = atomic_load_explicit(&mb->head, memory_order_relaxed);
	do
		m->next = old;
	while (!atomic_compare_exchange_weak_explicit(&mb->head, &old, m, memory_order_release,
	                                              memory_order_relaxed));
	if (old)
		return; /* the consumer has been woken for the batch already */
	uint64_t one = 1;
	while (write(mb->io.fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

unsigned fc_mailbox_drain(struct fc_mailbox *mb)
{
	uint64_t v;
	if (read(mb->io.fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		fc_warn("mailbox: eventfd read: %d", errno);
	struct fc_msg *m = atomic_exchange_explicit(&mb->head, NULL, memory_order_acquire);
	struct fc_msg *fifo = NULL;
	while (m) {
		struct fc_msg *next = m->next;
		m->next = fifo;
		fifo = m;
		m = next;
	}
	unsigned n = 0;
	while (fifo) {
		struct fc_msg *next = fifo->next;
		fifo->fn(fifo, mb->arg);
		fifo = next;
		n++;
	}
	return n;
}
