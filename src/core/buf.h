/* buf.h — fixed-size I/O buffers from a per-worker free list. A buffer is
 * taken when data arrives and released when its connection goes idle, so an
 * idle keep-alive connection holds none. */
#ifndef FC_BUF_H
#define FC_BUF_H

#include <stddef.h>
#include <stdint.h>

/* data lives in [rpos, wpos) of data[0..cap). */
struct fc_buf {
	uint32_t rpos, wpos, cap;
	struct fc_buf *next; /* free list link */
	char data[];
};

struct fc_buf_pool {
	struct fc_buf *free;
	uint32_t size; /* capacity of each buffer */
	uint32_t n_free, max_free;
};

void fc_buf_pool_init(struct fc_buf_pool *p, uint32_t size, uint32_t max_free);
void fc_buf_pool_fini(struct fc_buf_pool *p);
/* Returns an empty buffer or NULL when memory is exhausted. */
struct fc_buf *fc_buf_take(struct fc_buf_pool *p);
/* Gives b back (NULL is fine). */
void fc_buf_release(struct fc_buf_pool *p, struct fc_buf *b);

static inline uint32_t fc_buf_len(const struct fc_buf *b)
{
	return b->wpos - b->rpos;
}
static inline uint32_t fc_buf_room(const struct fc_buf *b)
{
	return b->cap - b->wpos;
}
/* Moves unread data to the front to make room at the end. */
void fc_buf_compact(struct fc_buf *b);

#endif
