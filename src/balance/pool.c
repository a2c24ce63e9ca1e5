/* pool.c — a pool of servers: control-thread mutations build a new immutable
 * snapshot (struct fc_view), publish it with one atomic store and free the old
 * one after a grace period; workers pick and end picks without a global lock. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance/balance.h"

/* ---------------------------------------------------------------- grace period */

static unsigned gp_enter(struct fc__gp *g)
{
	for (;;) {
		unsigned i = atomic_load(&g->idx) & 1;
		atomic_fetch_add(&g->cnt[i], 1);
		/* re-check: a writer that flipped before our increment does not wait
		 * for us, so we must be on the new side (and see the new snapshot) */
		if ((atomic_load(&g->idx) & 1) == i)
			return i;
		atomic_fetch_sub(&g->cnt[i], 1);
	}
}

static void gp_exit(struct fc__gp *g, unsigned i)
{
	atomic_fetch_sub_explicit(&g->cnt[i], 1, memory_order_release);
}

/* Called by a writer (pool mutex held) after publishing: returns once every
 * reader that might still see the previous snapshot has left. */
static void gp_sync(struct fc__gp *g)
{
	unsigned i = atomic_load(&g->idx) & 1;
	atomic_store(&g->idx, i ^ 1);
	unsigned spins = 0;
	while (atomic_load(&g->cnt[i]) != 0)
		if (++spins % 16 == 0)
			sched_yield();
}

/* ---------------------------------------------------------------- snapshots */

static void view_free(struct fc_pool *p, struct fc_view *v)
{
	if (!v)
		return;
	if (v->algo && p->algo->view_free)
		p->algo->view_free(p->algo_state, v->algo);
	for (size_t i = 0; i < v->n; i++)
		fc_server_unref(v->servers[i]);
	free(v->servers);
	free(v->id_slots);
	free((void *)v->rot);
	free(v);
}

/* A new snapshot over servers[0..n) (references taken), not yet built. */
static struct fc_view *view_new(struct fc_pool *p, struct fc_server *const *servers, size_t n)
{
	struct fc_view *v = calloc(1, sizeof *v);
	if (!v)
		return NULL;
	size_t cap = 8;
	while (cap < 2 * n)
		cap <<= 1;
	v->servers = calloc(n ? n : 1, sizeof *v->servers);
	v->id_slots = malloc(cap * sizeof *v->id_slots);
	uint8_t *rot = calloc(n ? n : 1, 1);
	if (!v->servers || !v->id_slots || !rot) {
		free(v->servers);
		free(v->id_slots);
		free(rot);
		free(v);
		return NULL;
	}
	memset(v->id_slots, 0xff, cap * sizeof *v->id_slots);
	v->id_mask = cap - 1;
	v->pool = p;
	v->generation = ++p->generation;
	for (size_t i = 0; i < n; i++) {
		struct fc_server *s = servers[i];
		fc_server_ref(s);
		v->servers[i] = s;
		atomic_store_explicit(&s->slot, (uint32_t)i, memory_order_relaxed);
		size_t h = s->id & v->id_mask;
		while (v->id_slots[h] != UINT32_MAX)
			h = (h + 1) & v->id_mask;
		v->id_slots[h] = (uint32_t)i;
		v->n_capped += s->slots != NULL;
		v->n_asleep += fc_server_state(s) == FC_SERVER_ASLEEP;
		if (fc_server_state(s) == FC_SERVER_HEALTHY) {
			v->n_healthy_any++;
			if (fc_server_weight(s) > 0) {
				v->n_healthy++;
				v->total_weight += fc_server_weight(s);
			}
		}
	}
	v->n = n;
	/* panic: the share of weighted servers that are healthy, by count (an
	 * asleep server is out on purpose, not failing: not counted) */
	size_t weighted = 0;
	for (size_t i = 0; i < n; i++)
		weighted += fc_server_weight(servers[i]) > 0 &&
		            fc_server_state(servers[i]) != FC_SERVER_ASLEEP;
	v->panic = p->panic_permille && weighted &&
	           (uint64_t)v->n_healthy * 1000 < (uint64_t)p->panic_permille * weighted;
	/* the rotation; a maintained pool also leaves out the servers cooling down
	 * (judged at the last fc_pool_maintain), and that call brings them back */
	bool cool_out = !v->panic && atomic_load_explicit(&p->maintained, memory_order_relaxed);
	v->cooldown_next = UINT64_MAX;
	/* backup tiers: the rotation is the lowest tier with a healthy server
	 * out of cooldown; with none, the lowest tier with any server the rules
	 * above let in (panic) */
	unsigned tier_ok = UINT_MAX, tier_any = UINT_MAX;
	for (size_t i = 0; i < n; i++) {
		struct fc_server *s = servers[i];
		unsigned w = fc_server_weight(s), t = atomic_load(&s->tier);
		int st = fc_server_state(s);
		if (!w || (st != FC_SERVER_HEALTHY &&
		           !(v->panic && st != FC_SERVER_DRAINING && st != FC_SERVER_ASLEEP)))
			continue;
		uint64_t until = atomic_load_explicit(&s->cooldown_until, memory_order_relaxed);
		if (cool_out && until > p->maint_now) {
			if (until < v->cooldown_next)
				v->cooldown_next = until;
			continue;
		}
		rot[i] = 1;
		if (t < tier_any)
			tier_any = t;
		if (st == FC_SERVER_HEALTHY && t < tier_ok)
			tier_ok = t;
	}
	unsigned tier = tier_ok != UINT_MAX ? tier_ok : tier_any;
	bool mixed = false; /* some server is of another tier */
	for (size_t i = 0; i < n; i++) {
		if (atomic_load(&servers[i]->tier) != tier) {
			mixed = true;
			rot[i] = 0;
			continue;
		}
		if (!rot[i])
			continue;
		v->n_rotation++;
		v->rotation_weight += fc_server_weight(servers[i]);
	}
	/* UINT_MAX: nothing in the rotation, or every server of its tier: no pick
	 * needs to look at a server's tier */
	v->tier = mixed && tier != UINT_MAX ? tier : UINT_MAX;
	v->rot = rot;
	return v;
}

static struct fc_server *view_find_id(const struct fc_view *v, uint32_t id)
{
	for (size_t h = id & v->id_mask;; h = (h + 1) & v->id_mask) {
		uint32_t i = v->id_slots[h];
		if (i == UINT32_MAX)
			return NULL;
		if (v->servers[i]->id == id)
			return v->servers[i];
	}
}

static struct fc_view *cur_view(const struct fc_pool *p)
{
	return atomic_load_explicit(&((struct fc_pool *)p)->view, memory_order_acquire);
}

/* Builds and publishes v, then frees the previous snapshot. Pool mutex held.
 * On failure v is freed and the pool keeps its current snapshot. */
static int publish(struct fc_pool *p, struct fc_view *v)
{
	if (p->algo->build) {
		int rc = p->algo->build(p->algo_state, v);
		if (rc < 0) {
			view_free(p, v);
			return rc;
		}
	}
	atomic_store(&p->size, v->n);
	struct fc_view *old = atomic_exchange(&p->view, v);
	gp_sync(&p->gp);
	view_free(p, old);
	return 0;
}

static int find_index(const struct fc_view *v, const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->servers[i]->name, name) == 0)
			return (int)i;
	return -1;
}

/* ---------------------------------------------------------------- lifecycle */

int fc_pool_create(const struct fc_pool_options *o, struct fc_pool **out, char *err, size_t errlen)
{
	const char *name = o && o->name ? o->name : "default";
	const char *an = o && o->algorithm ? o->algorithm : "round_robin";
	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	if (!o)
		return -EINVAL;
	const struct fc_algorithm *a = fc_algorithm_find(an);
	if (!a) {
		char known[512];
		fc_algorithm_list(known, sizeof known);
		if (err)
			snprintf(err, errlen, "pool %s: unknown algorithm '%s' (known: %s)", name,
			         an, known);
		return -EINVAL;
	}
	if (o->balance_factor != 0 && !(o->balance_factor > 1.0)) {
		if (err)
			snprintf(err, errlen,
			         "pool %s: balance_factor must be greater than 1 (or 0 for "
			         "unbounded)",
			         name);
		return -EINVAL;
	}
	if (o->panic_permille > 1000) {
		if (err)
			snprintf(err, errlen, "pool %s: panic_permille must be 0..1000", name);
		return -EINVAL;
	}
	struct fc_pool *p = calloc(1, sizeof *p);
	if (!p)
		goto nomem;
	p->name = fc__dupstr(name);
	if (!p->name)
		goto free_pool;
	p->algo = a;
	p->sticky = o->sticky;
	if (o->sticky_secret_len) {
		p->secret = malloc(o->sticky_secret_len);
		if (!p->secret)
			goto free_name;
		memcpy(p->secret, o->sticky_secret, o->sticky_secret_len);
		p->secret_len = o->sticky_secret_len;
	}
	p->server_free = o->server_free;
	p->cfg.pool_name = p->name;
	p->cfg.seed = o->seed;
	p->cfg.slow_start_ns = o->slow_start_ns;
	p->cfg.balance_factor = o->balance_factor;
	p->cfg.rebalance_window_ns =
	        o->rebalance_window_ns ? o->rebalance_window_ns : 1000000000ULL;
	p->panic_permille = o->panic_permille;
	if (pthread_mutex_init(&p->mu, NULL) != 0)
		goto free_secret;
	int rc = a->init(&p->cfg, &p->algo_state);
	if (rc < 0) {
		if (err)
			snprintf(err, errlen, "pool %s: algorithm %s: cannot initialise (%d)", name,
			         an, rc);
		goto free_mutex;
	}
	struct fc_view *v = view_new(p, NULL, 0);
	if (!v || (a->build && a->build(p->algo_state, v) < 0)) {
		if (v) {
			v->algo = NULL;
			view_free(p, v);
		}
		if (a->fini)
			a->fini(p->algo_state);
		goto free_mutex;
	}
	atomic_init(&p->view, v);
	*out = p;
	return 0;
free_mutex:
	pthread_mutex_destroy(&p->mu);
free_secret:
	free(p->secret);
free_name:
	free(p->name);
free_pool:
	free(p);
nomem:
	if (err && !err[0])
		snprintf(err, errlen, "pool %s: out of memory", name);
	return -ENOMEM;
}

void fc_pool_destroy(struct fc_pool *p)
{
	if (!p)
		return;
	view_free(p, atomic_load(&p->view));
	if (p->algo->fini)
		p->algo->fini(p->algo_state);
	pthread_mutex_destroy(&p->mu);
	free(p->secret);
	free(p->name);
	free(p);
}

const char *fc_pool_name(const struct fc_pool *p)
{
	return p->name;
}
const char *fc_pool_algorithm(const struct fc_pool *p)
{
	return p->algo->name;
}
size_t fc_pool_size(const struct fc_pool *p)
{
	return atomic_load(&((struct fc_pool *)p)->size);
}

void fc_pool_health_counts(const struct fc_pool *p, uint32_t *healthy, uint32_t *total)
{
	struct fc_pool *mp = (struct fc_pool *)p;
	unsigned g = gp_enter(&mp->gp);
	struct fc_view *v = cur_view(p);
	if (healthy)
		*healthy = v->n_healthy_any;
	if (total)
		*total = (uint32_t)v->n;
	gp_exit(&mp->gp, g);
}

bool fc_pool_in_panic(const struct fc_pool *p)
{
	struct fc_pool *mp = (struct fc_pool *)p;
	unsigned g = gp_enter(&mp->gp);
	bool panic = cur_view(p)->panic;
	gp_exit(&mp->gp, g);
	return panic;
}

/* ---------------------------------------------------------------- control */

/* Name index for batches: open addressing over arr[0..n). */
struct name_index {
	uint32_t *slots;
	size_t mask;
};

static int name_index_init(struct name_index *ni, size_t cap_for)
{
	size_t cap = 16;
	while (cap < 2 * cap_for)
		cap <<= 1;
	ni->slots = malloc(cap * sizeof *ni->slots);
	if (!ni->slots)
		return -ENOMEM;
	memset(ni->slots, 0xff, cap * sizeof *ni->slots);
	ni->mask = cap - 1;
	return 0;
}

static int name_index_find(const struct name_index *ni, struct fc_server *const *arr,
                           const char *name, bool insert, uint32_t at)
{
	size_t h = (size_t)fc_hash64(name, strlen(name)) & ni->mask;
	for (;; h = (h + 1) & ni->mask) {
		uint32_t i = ni->slots[h];
		if (i == UINT32_MAX) {
			if (insert)
				ni->slots[h] = at;
			return -1;
		}
		if (strcmp(arr[i]->name, name) == 0)
			return (int)i;
	}
}

int fc_pool_upsert_many(struct fc_pool *p, const struct fc_server_spec *specs, size_t n_specs,
                        uint64_t now_ns, struct fc_server **out)
{
	for (size_t k = 0; k < n_specs; k++) {
		if (out)
			out[k] = NULL;
		if (!specs[k].address || !specs[k].address[0])
			return -EINVAL;
		if (specs[k].weight > FC_WEIGHT_MAX)
			return -ERANGE;
	}
	pthread_mutex_lock(&p->mu);
	struct fc_view *cur = cur_view(p);
	size_t cap = cur->n + n_specs, n = cur->n;
	int rc = -ENOMEM;
	struct fc_server **arr = malloc((cap ? cap : 1) * sizeof *arr);
	struct fc_server **created = calloc(n_specs ? n_specs : 1, sizeof *created);
	struct fc_server **replaced = calloc(n_specs ? n_specs : 1, sizeof *replaced);
	/* what changed, so the algorithm hooks can be told after the snapshot exists */
	struct fc_server **reweighted = calloc(n_specs ? n_specs : 1, sizeof *reweighted);
	struct name_index ni = {0};
	if (!arr || !created || !replaced || !reweighted || name_index_init(&ni, cap) < 0)
		goto out;
	memcpy(arr, cur->servers, cur->n * sizeof *arr);
	for (size_t i = 0; i < n; i++)
		name_index_find(&ni, arr, arr[i]->name, true, (uint32_t)i);
	bool changed = false;
	for (size_t k = 0; k < n_specs; k++) {
		const struct fc_server_spec *sp = &specs[k];
		const char *name = sp->name && sp->name[0] ? sp->name : sp->address;
		int i = name_index_find(&ni, arr, name, false, 0);
		if (i >= 0 && strcmp(arr[i]->address, sp->address) == 0) {
			/* same identity: keep the server and its counters */
			struct fc_server *s = arr[i];
			if ((s->slots != NULL) != (sp->max_conns > 0)) {
				rc = -EBUSY; /* its requests in flight hold no slots */
				goto undo;
			}
			if (s->slots)
				atomic_store(&s->max_conns, sp->max_conns);
			if (out)
				out[k] = s;
			if (atomic_load(&s->tier) != sp->tier) {
				atomic_store(&s->tier, sp->tier);
				changed = true;
			}
			if (fc_server_weight(s) != sp->weight) {
				atomic_store(&s->weight, sp->weight);
				atomic_store(&s->eff_weight, sp->weight);
				reweighted[k] = s;
				changed = true;
			}
			continue;
		}
		struct fc_server *s =
		        fc__server_create(name, sp->address, sp->weight, sp->max_conns,
		                          p->cfg.slow_start_ns, p->server_free);
		if (!s)
			goto undo;
		atomic_store(&s->tier, sp->tier);
		if (p->sticky)
			fc_sticky_encode(p->secret, p->secret_len, s->id, s->sticky,
			                 sizeof s->sticky);
		if (sp->inherit)
			fc__server_inherit(s, sp->inherit);
		else if (p->cfg.slow_start_ns)
			atomic_store(&s->ramp_start, now_ns ? now_ns : 1);
		created[k] = s;
		if (i >= 0) {
			replaced[k] = arr[i];
			arr[i] = s; /* another address under the same name: a new identity */
		} else {
			arr[n] = s;
			name_index_find(&ni, arr, name, true, (uint32_t)n);
			n++;
		}
		if (out)
			out[k] = s;
		changed = true;
	}
	rc = 0;
	if (!changed)
		goto out;
	struct fc_view *v = view_new(p, arr, n);
	rc = -ENOMEM;
	if (!v)
		goto undo;
	for (size_t k = 0; k < n_specs; k++) {
		if (replaced[k] && p->algo->remove)
			p->algo->remove(p->algo_state, v, replaced[k]);
		if (created[k] && p->algo->add)
			p->algo->add(p->algo_state, v, created[k]);
		if (reweighted[k] && p->algo->update_weight)
			p->algo->update_weight(p->algo_state, v, reweighted[k]);
	}
	rc = publish(p, v);
	if (rc < 0)
		goto undo;
	for (size_t k = 0; k < n_specs; k++)
		fc_server_unref(created[k]); /* the snapshot holds them now */
	goto out;
undo:
	for (size_t k = 0; k < n_specs; k++) {
		fc_server_unref(created[k]);
		if (out)
			out[k] = NULL;
	}
out:
	free(ni.slots);
	free(reweighted);
	free(replaced);
	free(created);
	free(arr);
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int fc_pool_upsert(struct fc_pool *p, const struct fc_server_spec *spec, uint64_t now_ns,
                   struct fc_server **out)
{
	if (out)
		*out = NULL;
	if (!spec)
		return -EINVAL;
	return fc_pool_upsert_many(p, spec, 1, now_ns, out);
}

int fc_pool_remove(struct fc_pool *p, const char *name)
{
	if (!name)
		return -EINVAL;
	pthread_mutex_lock(&p->mu);
	struct fc_view *cur = cur_view(p);
	int i = find_index(cur, name), rc = -ENOENT;
	if (i < 0)
		goto out;
	struct fc_server *gone = cur->servers[i];
	struct fc_server **arr = malloc((cur->n ? cur->n : 1) * sizeof *arr);
	rc = -ENOMEM;
	if (!arr)
		goto out;
	size_t n = 0;
	for (size_t k = 0; k < cur->n; k++)
		if ((int)k != i)
			arr[n++] = cur->servers[k];
	struct fc_view *v = view_new(p, arr, n);
	free(arr);
	if (!v)
		goto out;
	if (p->algo->remove)
		p->algo->remove(p->algo_state, v, gone);
	rc = publish(p, v);
out:
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* Publishes a copy of the current snapshot after s changed in place, telling
 * the algorithm through hook (may be NULL). Caller holds p->mu. 0 or -ENOMEM. */
static int republish(struct fc_pool *p, struct fc_view *cur, struct fc_server *s,
                     void (*hook)(void *state, struct fc_view *next, struct fc_server *s))
{
	struct fc_view *v = view_new(p, cur->servers, cur->n);
	if (!v)
		return -ENOMEM;
	if (hook)
		hook(p->algo_state, v, s);
	return publish(p, v);
}

int fc_pool_set_weight(struct fc_pool *p, const char *name, unsigned weight)
{
	if (weight > FC_WEIGHT_MAX)
		return -ERANGE;
	if (!name)
		return -EINVAL;
	pthread_mutex_lock(&p->mu);
	struct fc_view *cur = cur_view(p);
	int i = find_index(cur, name), rc = -ENOENT;
	if (i < 0)
		goto out;
	struct fc_server *s = cur->servers[i];
	rc = 0;
	if (fc_server_weight(s) == weight)
		goto out;
	atomic_store(&s->weight, weight);
	atomic_store(&s->eff_weight, weight);
	rc = republish(p, cur, s, p->algo->update_weight);
out:
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int fc_pool_set_state(struct fc_pool *p, const char *name, enum fc_server_state st, uint64_t now_ns)
{
	if (!name || (st != FC_SERVER_HEALTHY && st != FC_SERVER_LAME_DUCK &&
	              st != FC_SERVER_DEAD && st != FC_SERVER_DRAINING && st != FC_SERVER_ASLEEP))
		return -EINVAL;
	pthread_mutex_lock(&p->mu);
	struct fc_view *cur = cur_view(p);
	int i = find_index(cur, name), rc = -ENOENT;
	if (i < 0)
		goto out;
	struct fc_server *s = cur->servers[i];
	rc = 0;
	int old = atomic_load(&s->state);
	if (old == (int)st)
		goto out;
	if (st == FC_SERVER_HEALTHY && p->cfg.slow_start_ns)
		atomic_store(&s->ramp_start,
		             now_ns ? now_ns : 1); /* back from the dead: ramp again */
	atomic_store(&s->state, (int)st);
	rc = republish(p, cur, s, p->algo->update_state);
out:
	pthread_mutex_unlock(&p->mu);
	return rc;
}

size_t fc_pool_servers(struct fc_pool *p, struct fc_server **out, size_t max)
{
	unsigned g = gp_enter(&p->gp);
	struct fc_view *v = cur_view(p);
	size_t n = v->n < max ? v->n : max;
	for (size_t i = 0; i < n; i++) {
		fc_server_ref(v->servers[i]);
		out[i] = v->servers[i];
	}
	gp_exit(&p->gp, g);
	return n;
}

struct fc_server *fc_pool_find(struct fc_pool *p, const char *name)
{
	struct fc_server *s = NULL;
	unsigned g = gp_enter(&p->gp);
	struct fc_view *v = cur_view(p);
	int i = name ? find_index(v, name) : -1;
	if (i >= 0) {
		s = v->servers[i];
		fc_server_ref(s);
	}
	gp_exit(&p->gp, g);
	return s;
}

void fc_pool_request_rebuild(struct fc_pool *p)
{
	atomic_store(&p->rebuild_wanted, true);
}

void fc_pool_maintain(struct fc_pool *p, uint64_t now_ns)
{
	pthread_mutex_lock(&p->mu);
	p->maint_now = now_ns;
	bool first = !atomic_exchange(&p->maintained, true);
	struct fc_view *cur = cur_view(p);
	/* a cooldown met inside a structure, one left out that has ended, a
	 * request; the first call also leaves out what is cooling already */
	bool want = atomic_exchange(&p->cool_seen, false);
	want |= atomic_exchange(&p->rebuild_wanted, false);
	want |= now_ns >= cur->cooldown_next;
	if (want || first)
		republish(p, cur, NULL, NULL); /* on ENOMEM the next call tries again */
	pthread_mutex_unlock(&p->mu);
}

/* A learning algorithm changed effective weights: rebuild off the pick path
 * (a maintained pool rebuilds on the control thread instead). */
static void maybe_rebuild(struct fc_pool *p)
{
	if (!atomic_load_explicit(&p->rebuild_wanted, memory_order_relaxed) ||
	    atomic_load_explicit(&p->maintained, memory_order_relaxed))
		return;
	if (pthread_mutex_trylock(&p->mu) != 0)
		return; /* the control thread is busy; a later done retries */
	if (atomic_exchange(&p->rebuild_wanted, false))
		republish(p, cur_view(p), NULL, NULL);
	pthread_mutex_unlock(&p->mu);
}

/* ---------------------------------------------------------------- request path */

static struct fc_server *sticky_pick(struct fc_pool *p, const struct fc_view *v,
                                     struct fc_pick_ctx *ctx)
{
	uint32_t id;
	if (fc__sticky_id(ctx->sticky_value, ctx->sticky_len, &id) < 0)
		return NULL;
	struct fc_server *s = view_find_id(v, id);
	if (!s)
		return NULL;
	/* the whole value against the server's (what fc_sticky_decode checks,
	 * without its HMAC): constant time, no early exit on the first wrong byte */
	unsigned diff = 0;
	for (size_t i = 0; i < FC__STICKY_LEN; i++)
		diff |= (unsigned)(uint8_t)(ctx->sticky_value[i] ^ s->sticky[i]);
	if (diff)
		return NULL;
	if (fc__off_tier(v, s))
		return NULL; /* a backup's client goes back to the tier that serves */
	int st = fc_server_state(s);
	/* lame duck and weight 0 keep their sticky clients; dead and draining do
	 * not, except that panic mode takes dead ones (and ignores cooldowns) */
	if (ctx->panic)
		return st != FC_SERVER_DRAINING && st != FC_SERVER_ASLEEP && !fc_pick_avoids(ctx, s)
		               ? s
		               : NULL;
	if (st != FC_SERVER_HEALTHY && st != FC_SERVER_LAME_DUCK)
		return NULL;
	if (ctx->now_ns < atomic_load_explicit(&s->cooldown_until, memory_order_relaxed) ||
	    fc_pick_avoids(ctx, s))
		return NULL;
	return s;
}

/* One choice: the sticky client's server (counted active here for an
 * owns_active algorithm), else the algorithm's. *by_algo: the algorithm chose. */
static inline __attribute__((always_inline)) struct fc_server *
choose(struct fc_pool *p, const struct fc_view *v, struct fc_pick_ctx *ctx, bool *by_algo)
{
	struct fc_server *s;
	*by_algo = false;
	if (p->sticky && ctx->sticky_value && (s = sticky_pick(p, v, ctx)) != NULL &&
	    !fc__server_full(s)) {
		if (p->algo->owns_active) {
			if (p->algo->acquire)
				p->algo->acquire(p->algo_state, v, s);
			else
				fc_server_active_add(s, 1);
		}
		return s;
	}
	*by_algo = true;
	return p->algo->pick(p->algo_state, v, ctx);
}

/* A choice whose server's last slot went to another thread meanwhile:
 * what choose counted is taken back (owns_active: the algorithm's done,
 * told it is a cancel). */
static void unchoose(struct fc_pool *p, const struct fc_view *v, struct fc_server *s,
                     uint64_t now_ns)
{
	if (!p->algo->owns_active)
		return;
	if (p->algo->done) {
		struct fc_outcome o = {FC_OUTCOME_CANCELLED, 0, false};
		p->algo->done(p->algo_state, v, s, &o, now_ns);
	} else {
		fc_server_active_add(s, -1);
	}
}

/* Picks that lose a slot race before giving up (each loss means another
 * thread took the slot, so the cap is reached there). */
#define SLOT_RACES 8

/* s's last slot went to another thread between choose and the take: undo
 * and choose again (the cap now shows: s is skipped unless a slot came
 * back), up to SLOT_RACES times. */
static __attribute__((noinline)) struct fc_server *choose_again(struct fc_pool *p,
                                                                const struct fc_view *v,
                                                                struct fc_pick_ctx *ctx,
                                                                struct fc_server *s, bool *by_algo)
{
	for (int race = 0; race < SLOT_RACES; race++) {
		unchoose(p, v, s, ctx->now_ns);
		s = choose(p, v, ctx, by_algo);
		if (!s || fc__server_slot_take(s))
			return s;
	}
	unchoose(p, v, s, ctx->now_ns);
	return NULL;
}

/* After a NULL pick: is a server otherwise eligible at its cap? O(n), only
 * on pools with capped servers. */
static bool any_full(const struct fc_view *v, const struct fc_pick_ctx *ctx)
{
	for (size_t i = 0; i < v->n; i++) {
		struct fc_server *s = v->servers[i];
		if (fc__server_full(s) && fc__server_eligible_uncapped(s, ctx, true))
			return true;
	}
	return false;
}

struct fc_server *fc_pool_pick(struct fc_pool *p, struct fc_pick_ctx *ctx)
{
	ctx->sticky_set = false;
	ctx->sticky_out[0] = 0;
	ctx->full = false;
	ctx->asleep = false;
	unsigned g = gp_enter(&p->gp);
	struct fc_view *v = cur_view(p);
	struct fc_server *s = NULL;
	bool by_algo = false;
	ctx->panic = v->panic;
	s = choose(p, v, ctx, &by_algo);
	/* the cap is checked before (the server was eligible) and enforced
	 * here: the slot is taken, or the choice undone and made again */
	if (s && !fc__server_slot_take(s))
		s = choose_again(p, v, ctx, s, &by_algo);
	if (s) {
		if (by_algo && p->sticky && s->sticky[0]) {
			memcpy(ctx->sticky_out, s->sticky, sizeof s->sticky);
			ctx->sticky_set = true;
		}
		fc_server_ref(s); /* the snapshot holds one, so s is alive here */
		if (!p->algo->owns_active)
			fc_server_active_add(s, 1);
	} else {
		ctx->asleep = v->n_asleep > 0;
		if (v->n_capped)
			ctx->full = any_full(v, ctx);
	}
	gp_exit(&p->gp, g);
	return s;
}

struct fc_server *fc_pool_pick_server(struct fc_pool *p, const struct fc_server *want,
                                      struct fc_pick_ctx *ctx)
{
	ctx->sticky_set = false;
	ctx->sticky_out[0] = 0;
	unsigned g = gp_enter(&p->gp);
	struct fc_view *v = cur_view(p);
	struct fc_server *s = NULL;
	ctx->panic = v->panic;
	for (size_t i = 0; i < v->n && !s; i++)
		if (v->servers[i] == want)
			s = v->servers[i]; /* still in the snapshot, which holds it */
	ctx->full = ctx->asleep = false;
	if (s) {
		int st = fc_server_state(s);
		bool ok = ctx->panic ? st != FC_SERVER_DRAINING && st != FC_SERVER_ASLEEP
		                     : st == FC_SERVER_HEALTHY || st == FC_SERVER_LAME_DUCK;
		if (!ok || fc_server_weight(s) == 0)
			s = NULL;
	}
	/* its max_conns holds here too: no slot, no pick (the caller picks
	 * another server, or waits) */
	if (s && !fc__server_slot_take(s)) {
		ctx->full = true;
		s = NULL;
	}
	if (s) {
		if (p->algo->owns_active) {
			if (p->algo->acquire)
				p->algo->acquire(p->algo_state, v, s);
			else
				fc_server_active_add(s, 1);
		}
		fc_server_ref(s);
		if (!p->algo->owns_active)
			fc_server_active_add(s, 1);
	}
	gp_exit(&p->gp, g);
	return s;
}

void fc_pool_done(struct fc_pool *p, struct fc_server *s, const struct fc_outcome *o,
                  uint64_t now_ns)
{
	if (!s)
		return;
	struct fc_outcome none = {200, 0, false};
	if (!o)
		o = &none;
	atomic_fetch_add_explicit(&s->requests, 1, memory_order_relaxed);
	if (fc__outcome_failed(o))
		atomic_fetch_add_explicit(&s->failures, 1, memory_order_relaxed);
	if (o->latency_ns && !o->failed)
		fc__server_observe(s, o->latency_ns, now_ns);
	if (!p->algo->owns_active)
		fc_server_active_add(s, -1);
	if (p->algo->done) {
		unsigned g = gp_enter(&p->gp);
		p->algo->done(p->algo_state, cur_view(p), s, o, now_ns);
		gp_exit(&p->gp, g);
	}
	fc__server_slot_release(s);
	fc_server_unref(s);
	maybe_rebuild(p);
}

/* ---------------------------------------------------------------- for algorithms */

int fc__init_stateless(const struct fc_algo_config *cfg, void **state)
{
	(void)cfg;
	*state = NULL;
	return 0;
}

unsigned *fc__rotation_weights(const struct fc_view *v)
{
	unsigned *w = calloc(v->n ? v->n : 1, sizeof *w);
	for (size_t i = 0; w && i < v->n; i++)
		if (v->rot[i])
			w[i] = fc_server_weight(v->servers[i]);
	return w;
}

struct fc_server *fc__view_fallback(const struct fc_view *v, struct fc_pick_ctx *ctx)
{
	if (!v->n_rotation && ctx->now_ns < v->cooldown_next)
		return NULL;
	return fc_view_scan(v, ctx, false);
}

struct fc_server *fc_view_scan(const struct fc_view *v, struct fc_pick_ctx *ctx, bool allow_lame)
{
	/* weighted reservoir over eligible servers, slow start included: O(n),
	 * only reached when the O(1) structures keep hitting ineligible servers */
	uint64_t total = 0;
	struct fc_server *best = NULL;
	for (size_t i = 0; i < v->n; i++) {
		struct fc_server *s = v->servers[i];
		if (fc__off_tier(v, s) || !fc_server_is_eligible(s, ctx, allow_lame))
			continue;
		uint64_t w = (uint64_t)fc_server_effective_weight(s) *
		             fc_server_share_q16(s, ctx->now_ns) / 65536;
		if (w == 0)
			w = 1;
		total += w;
		if (fc_rng_below(ctx->rng, total) < w)
			best = s;
	}
	return best;
}
