/* server.c — a backend's live state shared by all workers: identity, weight,
 * state, active requests, counters, peak-EWMA latency, cooldown, slow start. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balance/balance.h"

char *fc__dupstr(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

static void slots_unref(struct fc__slots *sl)
{
	if (sl && atomic_fetch_sub_explicit(&sl->refs, 1, memory_order_acq_rel) == 1)
		free(sl);
}

struct fc_server *fc__server_create(const char *name, const char *address, unsigned weight,
                                    unsigned max_conns, uint64_t ramp_ns, void (*free_fn)(void *))
{
	struct fc_server *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->name = fc__dupstr(name);
	s->address = fc__dupstr(address);
	if (max_conns && (s->slots = aligned_alloc(64, sizeof *s->slots)) != NULL) {
		atomic_init(&s->slots->used, 0);
		atomic_init(&s->slots->refs, 1);
	}
	if (!s->name || !s->address || (max_conns && !s->slots)) {
		free(s->slots);
		free(s->name);
		free(s->address);
		free(s);
		return NULL;
	}
	atomic_init(&s->max_conns, max_conns);
	/* id: identity hash; NUL separates name from address so "a"+"bc" != "ab"+"c" */
	size_t ln = strlen(name), la = strlen(address);
	uint64_t h = fc_hash64_seeded(name, ln + 1, 0x5eed);
	h = fc_hash64_seeded(address, la, h);
	s->id = (uint32_t)(h ^ (h >> 32));
	s->ramp_ns = ramp_ns;
	s->free_fn = free_fn;
	atomic_init(&s->refs, 1);
	atomic_init(&s->weight, weight);
	atomic_init(&s->eff_weight, weight);
	atomic_init(&s->state, FC_SERVER_HEALTHY);
	return s;
}

void fc_server_ref(struct fc_server *s)
{
	if (s)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void fc_server_unref(struct fc_server *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	void *user = atomic_load(&s->user);
	if (s->free_fn)
		s->free_fn(user);
	slots_unref(s->slots);
	free(s->name);
	free(s->address);
	free(s);
}

void fc_server_cooldown(struct fc_server *s, uint64_t until_ns)
{
	atomic_store_explicit(&s->cooldown_until, until_ns, memory_order_relaxed);
	/* a server coming back from a cool-down is a recovering server: with
	 * slow start it ramps from the moment it is eligible again */
	if (s->ramp_ns && until_ns)
		atomic_store_explicit(&s->ramp_start, until_ns, memory_order_relaxed);
}
void fc_server_set_user(struct fc_server *s, void *user)
{
	atomic_store(&s->user, user);
}
void *fc_server_user(const struct fc_server *s)
{
	return atomic_load(&((struct fc_server *)s)->user);
}
const char *fc_server_name(const struct fc_server *s)
{
	return s->name;
}
const char *fc_server_address(const struct fc_server *s)
{
	return s->address;
}
uint32_t fc_server_id(const struct fc_server *s)
{
	return s->id;
}
unsigned fc_server_max_conns(const struct fc_server *s)
{
	return atomic_load_explicit(&((struct fc_server *)s)->max_conns, memory_order_relaxed);
}

bool fc__slots_take(struct fc_server *s)
{
	struct fc__slots *sl = s->slots;
	uint32_t max = atomic_load_explicit(&s->max_conns, memory_order_relaxed);
	uint32_t cur = atomic_load_explicit(&sl->used, memory_order_relaxed);
	do {
		if (cur >= max)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
	        &sl->used, &cur, cur + 1, memory_order_acq_rel, memory_order_relaxed));
	return true;
}

void fc__slots_release(struct fc_server *s)
{
	struct fc__slots *sl = s->slots;
	/* never below zero, even if a caller ends a pick twice; seq_cst, so a
	 * caller that then looks at its own waiters (a queue) cannot miss one
	 * that looked at this count before it enqueued (docs/traffic.md) */
	uint32_t cur = atomic_load_explicit(&sl->used, memory_order_relaxed);
	while (cur && !atomic_compare_exchange_weak_explicit(
	                      &sl->used, &cur, cur - 1, memory_order_seq_cst, memory_order_relaxed))
		;
}

#define LD(field) atomic_load_explicit(&((struct fc_server *)s)->field, memory_order_relaxed)

unsigned fc_server_weight(const struct fc_server *s)
{
	return LD(weight);
}
enum fc_server_state fc_server_state(const struct fc_server *s)
{
	return (enum fc_server_state)LD(state);
}
uint32_t fc_server_active(const struct fc_server *s)
{
	return LD(active);
}
uint32_t fc_server_slot(const struct fc_server *s)
{
	return LD(slot);
}
unsigned fc_server_effective_weight(const struct fc_server *s)
{
	return LD(eff_weight);
}
void fc_server_set_effective_weight(struct fc_server *s, unsigned w)
{
	atomic_store_explicit(&s->eff_weight, w, memory_order_relaxed);
}

void fc_server_active_add(struct fc_server *s, int delta)
{
	if (delta >= 0) {
		atomic_fetch_add_explicit(&s->active, (uint32_t)delta, memory_order_relaxed);
		return;
	}
	/* never wrap below zero, even if a caller ends a pick twice */
	uint32_t cur = LD(active);
	while (cur &&
	       !atomic_compare_exchange_weak_explicit(&s->active, &cur, cur - 1,
	                                              memory_order_relaxed, memory_order_relaxed))
		;
}

uint32_t fc_server_share_q16(const struct fc_server *s, uint64_t now_ns)
{
	uint64_t start = LD(ramp_start);
	if (!start || !s->ramp_ns || now_ns >= start + s->ramp_ns)
		return 65536;
	uint64_t floor = 65536ULL * FC_SLOW_START_FLOOR_PERMILLE / 1000;
	uint64_t el = now_ns > start ? now_ns - start : 0;
	/* floor + (1 - floor) * el / ramp, in 128 bits to avoid overflow for long ramps */
	return (uint32_t)(floor + (uint64_t)(((__uint128_t)(65536 - floor) * el) / s->ramp_ns));
}

static double bits_to_double(uint64_t b)
{
	double d;
	memcpy(&d, &b, sizeof d);
	return d;
}

static uint64_t double_to_bits(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof b);
	return b;
}

/* Peak EWMA time constant: a slow server's cost halves in about 7 s. */
#define EWMA_TAU_NS 10000000000.0

uint64_t fc_server_ewma_ns(const struct fc_server *s, uint64_t now_ns)
{
	uint64_t ts = LD(ewma_ts);
	double v = bits_to_double(LD(ewma_bits));
	if (!ts || v <= 0)
		return 0;
	/* decays toward zero while unobserved (Finagle reads with a zero sample),
	 * so a server that was slow once is probed again */
	if (now_ns > ts)
		v *= fc__exp_neg((double)(now_ns - ts) / EWMA_TAU_NS);
	return v < 1 ? 1 : (uint64_t)v;
}

void fc__server_observe(struct fc_server *s, uint64_t latency_ns, uint64_t now_ns)
{
	uint64_t ts = LD(ewma_ts);
	double v = bits_to_double(LD(ewma_bits)), x = (double)latency_ns;
	double w = ts && now_ns > ts ? fc__exp_neg((double)(now_ns - ts) / EWMA_TAU_NS) : 1.0;
	v *= w; /* what a reader sees now: decayed toward zero while unobserved */
	if (!ts || x > v) {
		v = x; /* peak: jump up at once */
	} else {
		/* a sample moves the average at least a little even at dt = 0 */
		if (w > 0.9)
			w = 0.9;
		v = v * w + x * (1 - w);
	}
	if (v < 1)
		v = 1;
	/* two relaxed stores: a racing pair may lose a sample, never tear a value */
	atomic_store_explicit(&s->ewma_bits, double_to_bits(v), memory_order_relaxed);
	atomic_store_explicit(&s->ewma_ts, now_ns ? now_ns : 1, memory_order_relaxed);
}

void fc_server_stats(const struct fc_server *s, uint64_t now_ns, struct fc_server_stats *out)
{
	memset(out, 0, sizeof *out);
	out->weight = LD(weight);
	out->state = (enum fc_server_state)LD(state);
	out->active = LD(active);
	out->requests = LD(requests);
	out->failures = LD(failures);
	out->ewma_latency_ns = fc_server_ewma_ns(s, now_ns);
	out->in_cooldown = now_ns < LD(cooldown_until);
	uint32_t share = fc_server_share_q16(s, now_ns);
	out->slow_start_permille = (unsigned)((uint64_t)share * 1000 / 65536);
	out->effective_weight = (unsigned)((uint64_t)LD(eff_weight) * share / 65536);
	out->max_conns = LD(max_conns);
	out->conns = s->slots ? atomic_load_explicit(&s->slots->used, memory_order_relaxed) : 0;
	out->tier = LD(tier);
	if (out->effective_weight == 0 && LD(eff_weight) > 0)
		out->effective_weight = 1;
}

bool fc_pick_avoids(const struct fc_pick_ctx *ctx, const struct fc_server *s)
{
	for (size_t i = 0; i < ctx->n_avoid; i++)
		if (ctx->avoid[i] == s)
			return true;
	return false;
}

_Thread_local uint64_t fc__pick_steps;

bool fc_server_is_eligible(const struct fc_server *s, const struct fc_pick_ctx *ctx,
                           bool allow_lame)
{
	fc__pick_steps++;
	int st = LD(state);
	if (ctx->panic) /* every weighted server but draining ones, cooldowns ignored */
		return st != FC_SERVER_DRAINING && st != FC_SERVER_ASLEEP && LD(weight) != 0 &&
		       !fc__server_full(s) && !fc_pick_avoids(ctx, s);
	if (st != FC_SERVER_HEALTHY && !(allow_lame && st == FC_SERVER_LAME_DUCK))
		return false;
	if (LD(weight) == 0)
		return false;
	if (ctx->now_ns < LD(cooldown_until))
		return false;
	if (fc__server_full(s))
		return false;
	return !fc_pick_avoids(ctx, s);
}

bool fc__server_eligible_uncapped(const struct fc_server *s, const struct fc_pick_ctx *ctx,
                                  bool allow_lame)
{
	/* fc_server_is_eligible's rules but the cap (after a NULL pick only) */
	int st = LD(state);
	if (ctx->panic)
		return st != FC_SERVER_DRAINING && st != FC_SERVER_ASLEEP && LD(weight) != 0 &&
		       !fc_pick_avoids(ctx, s);
	return (st == FC_SERVER_HEALTHY || (allow_lame && st == FC_SERVER_LAME_DUCK)) &&
	       LD(weight) != 0 && ctx->now_ns >= LD(cooldown_until) && !fc_pick_avoids(ctx, s);
}

bool fc_server_admit(const struct fc_server *s, struct fc_pick_ctx *ctx)
{
	uint32_t share = fc_server_share_q16(s, ctx->now_ns);
	return share >= 65536 || (fc_rng_next(ctx->rng) >> 48) < share;
}

bool fc_server_admit_key(const struct fc_server *s, uint64_t key_hash, uint64_t now_ns)
{
	uint32_t share = fc_server_share_q16(s, now_ns);
	if (share >= 65536)
		return true;
	uint64_t h = fc_hash64_seeded(&key_hash, sizeof key_hash, s->id);
	return (h >> 48) < share;
}

uint64_t fc_pick_key_hash(const struct fc_pick_ctx *ctx)
{
	if (ctx->hash_key)
		return fc_hash64(ctx->hash_key, ctx->hash_key_len);
	size_t n = ctx->client.family == 4 ? 4 : ctx->client.family == 6 ? 16 : 0;
	return fc_hash64(ctx->client.bytes, n);
}

void fc__server_inherit(struct fc_server *s, const struct fc_server *from)
{
	atomic_store(&s->state, atomic_load(&from->state));
	atomic_store(&s->requests, atomic_load(&from->requests));
	atomic_store(&s->failures, atomic_load(&from->failures));
	atomic_store(&s->ewma_bits, atomic_load(&from->ewma_bits));
	atomic_store(&s->ewma_ts, atomic_load(&from->ewma_ts));
	atomic_store(&s->cooldown_until, atomic_load(&from->cooldown_until));
	/* a ramp in progress goes on where it was; a finished one stays finished */
	atomic_store(&s->ramp_start, s->ramp_ns ? atomic_load(&from->ramp_start) : 0);
	if (atomic_load(&from->weight) == atomic_load(&s->weight))
		atomic_store(&s->eff_weight, atomic_load(&from->eff_weight));
	atomic_store(&s->win_requests, atomic_load(&from->win_requests));
	atomic_store(&s->win_errors, atomic_load(&from->win_errors));
	atomic_store(&s->win_latency, atomic_load(&from->win_latency));
	/* capped both: one count for the requests of both */
	if (s->slots && from->slots) {
		atomic_fetch_add_explicit(&from->slots->refs, 1, memory_order_relaxed);
		slots_unref(s->slots);
		s->slots = from->slots;
	}
}
