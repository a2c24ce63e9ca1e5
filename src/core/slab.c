/* slab.c — see slab.h. A chunk is aligned to its size, so an object finds its
 * chunk (and its live bit) by masking its address. New slots are carved by a
 * bump index, so memory of a chunk is touched only as it is used. */
#include "core/slab.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define FC_SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FC_SLAB_ASAN 1
#endif
#endif
#ifdef FC_SLAB_ASAN
/* free objects are poisoned: a use after free is reported as one */
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct fc_slab_chunk {
	struct fc_slab_chunk *next;
	uint32_t objs; /* offset of the first object */
	uint32_t pad;
	uint64_t live[]; /* one bit per slot */
};

static size_t header_size(uint32_t per_chunk)
{
	size_t h = sizeof(struct fc_slab_chunk) + (per_chunk + 63) / 64 * sizeof(uint64_t);
	return (h + 15) & ~(size_t)15;
}

void fc_slab_init(struct fc_slab *s, size_t size)
{
	*s = (struct fc_slab){0};
	if (size < sizeof(void *))
		size = sizeof(void *);
	s->size = (uint32_t)((size + 7) & ~(size_t)7);
	uint32_t n = (uint32_t)(FC_SLAB_CHUNK / s->size);
	while (n > 1 && header_size(n) + (size_t)n * s->size > FC_SLAB_CHUNK)
		n--;
	s->per_chunk = n;
	s->bump = n; /* no chunk yet: the first alloc makes one */
}

void fc_slab_fini(struct fc_slab *s)
{
	while (s->chunks) {
		struct fc_slab_chunk *ch = s->chunks;
		s->chunks = ch->next;
		UNPOISON(ch, FC_SLAB_CHUNK);
		free(ch);
	}
	free(s->deferred);
	*s = (struct fc_slab){0};
}

static inline struct fc_slab_chunk *chunk_of(const void *p)
{
	return (struct fc_slab_chunk *)((uintptr_t)p & ~(uintptr_t)(FC_SLAB_CHUNK - 1));
}

static inline uint32_t slot_of(const struct fc_slab *s, const struct fc_slab_chunk *ch,
                               const void *p)
{
	return (uint32_t)(((const char *)p - (const char *)ch - ch->objs) / s->size);
}

static inline void set_live(struct fc_slab *s, void *p, bool live)
{
	struct fc_slab_chunk *ch = chunk_of(p);
	uint32_t i = slot_of(s, ch, p);
	if (live)
		ch->live[i / 64] |= 1ull << (i % 64);
	else
		ch->live[i / 64] &= ~(1ull << (i % 64));
}

void *fc_slab_alloc(struct fc_slab *s)
{
	void *p = s->free;
	if (p) {
		UNPOISON(p, s->size);
		s->free = *(void **)p;
	} else {
		if (s->bump == s->per_chunk) {
			struct fc_slab_chunk *ch = aligned_alloc(FC_SLAB_CHUNK, FC_SLAB_CHUNK);
			if (!ch)
				return NULL;
			size_t h = header_size(s->per_chunk);
			memset(ch, 0, h);
			ch->objs = (uint32_t)h;
			ch->next = s->chunks;
			s->chunks = ch;
			s->n_chunks++;
			s->bump = 0;
			POISON((char *)ch + h, FC_SLAB_CHUNK - h);
		}
		p = (char *)s->chunks + s->chunks->objs + (size_t)s->bump++ * s->size;
		UNPOISON(p, s->size);
	}
	set_live(s, p, true);
	s->n_live++;
	return p;
}

static void give_back(struct fc_slab *s, void *p)
{
	*(void **)p = s->free;
	s->free = p;
	POISON(p, s->size);
}

void fc_slab_free(struct fc_slab *s, void *p)
{
	set_live(s, p, false);
	s->n_live--;
	give_back(s, p);
}

bool fc_slab_defer_free(struct fc_slab *s, void *p)
{
	set_live(s, p, false);
	s->n_live--;
	if (s->n_deferred == s->cap_deferred) {
		uint32_t cap = s->cap_deferred ? s->cap_deferred * 2 : 64;
		void **d = realloc(s->deferred, cap * sizeof(*d));
		if (!d)
			return false;
		s->deferred = d;
		s->cap_deferred = cap;
	}
	s->deferred[s->n_deferred++] = p;
	return true;
}

void fc_slab_collect(struct fc_slab *s)
{
	for (uint32_t i = 0; i < s->n_deferred; i++)
		give_back(s, s->deferred[i]);
	s->n_deferred = 0;
}

void fc_slab_foreach(struct fc_slab *s, void (*fn)(void *obj, void *arg), void *arg)
{
	for (struct fc_slab_chunk *ch = s->chunks; ch; ch = ch->next) {
		uint32_t n = ch == s->chunks ? s->bump : s->per_chunk;
		for (uint32_t i = 0; i < n; i++) {
			/* re-read each time: fn may have freed others */
			if (ch->live[i / 64] & (1ull << (i % 64)))
				fn((char *)ch + ch->objs + (size_t)i * s->size, arg);
		}
	}
}
