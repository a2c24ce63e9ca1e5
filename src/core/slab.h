/* slab.h — fixed-size objects of one thread carved from 64 KiB chunks: no
 * malloc header per object, a LIFO free list, frees deferred to the end of an
 * event batch (the loop may still hold pointers to the object), and a walk
 * over the live objects, so owners need no list of their own. */
#ifndef FC_SLAB_H
#define FC_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_SLAB_CHUNK 65536 /* bytes per chunk, also its alignment */

struct fc_slab_chunk;

struct fc_slab {
	uint32_t size;      /* object size, a multiple of 8 */
	uint32_t per_chunk; /* objects per chunk */
	uint32_t bump;      /* next never-used slot of the newest chunk */
	uint32_t n_live;    /* allocated and neither freed nor deferred */
	uint32_t n_chunks;
	struct fc_slab_chunk *chunks; /* newest first */
	void *free;                   /* freed objects; the link is their first word */
	void **deferred;              /* freed by fc_slab_collect */
	uint32_t n_deferred, cap_deferred;
};

/* Prepares s for objects of size bytes (at most a few KiB). A zeroed struct
 * is a valid empty slab for fc_slab_fini. */
void fc_slab_init(struct fc_slab *s, size_t size);
/* Frees every chunk, live objects included. */
void fc_slab_fini(struct fc_slab *s);

/* Returns an uninitialised object, or NULL when memory is exhausted. */
void *fc_slab_alloc(struct fc_slab *s);
/* Gives p (from s) back at once. */
void fc_slab_free(struct fc_slab *s, void *p);
/* Takes p out of the live objects now and gives it back at the next
 * fc_slab_collect; until then its bytes stay as they are. False when that
 * needed memory and there was none: p then stays allocated for good (a leak
 * beats a use-after-free). */
bool fc_slab_defer_free(struct fc_slab *s, void *p);
/* Gives back the deferred objects. */
void fc_slab_collect(struct fc_slab *s);

/* Calls fn(obj, arg) on every live object, oldest chunk last. fn may free or
 * defer any object; objects allocated during the walk may or may not be
 * visited. */
void fc_slab_foreach(struct fc_slab *s, void (*fn)(void *obj, void *arg), void *arg);

#endif
