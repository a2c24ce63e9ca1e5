/* buf.c — per-worker buffer free list. */
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

void fc_buf_pool_init(struct fc_buf_pool *p, uint32_t size, uint32_t max_free)
{
	p->free = NULL;
	p->size = size;
	p->n_free = 0;
	p->max_free = max_free;
}

void fc_buf_pool_fini(struct fc_buf_pool *p)
{
	while (p->free) {
		struct fc_buf *b = p->free;
		p->free = b->next;
		free(b);
	}
	p->n_free = 0;
}

struct fc_buf *fc_buf_take(struct fc_buf_pool *p)
{
	struct fc_buf *b = p->free;
	if (b) {
		p->free = b->next;
		p->n_free--;
	} else {
		b = malloc(sizeof(*b) + p->size);
		if (!b)
			return NULL;
		b->cap = p->size;
	}
	b->rpos = b->wpos = 0;
	b->next = NULL;
	return b;
}

void fc_buf_release(struct fc_buf_pool *p, struct fc_buf *b)
{
	if (!b)
		return;
	if (p->n_free >= p->max_free || b->cap != p->size) {
		free(b);
		return;
	}
	b->next = p->free;
	p->free = b;
	p->n_free++;
}

void fc_buf_compact(struct fc_buf *b)
{
	if (b->rpos == 0)
		return;
	uint32_t len = b->wpos - b->rpos;
	if (len)
		memmove(b->data, b->data + b->rpos, len);
	b->rpos = 0;
	b->wpos = len;
}
