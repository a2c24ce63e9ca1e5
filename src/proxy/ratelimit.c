/* ratelimit.c — the rate limits' token buckets, shared by all workers: a
 * set-associative table of 64-byte sets (each its own shard: a lock word
 * for inserts, five 32-bit key fingerprints, five 64-bit bucket states),
 * takes by compare-and-swap, refusals without a write, and a new key
 * placed in an empty or full bucket of its set, else the one closest to
 * full. The bucket state is the time it is full again (GCRA, the token
 * bucket's virtual-scheduling form): tokens = burst - (tat - now) / T. */
#include "proxy/ratelimit.h"

#include <errno.h>
#include <fulcrum/fulcrum.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include "http/h1_write.h"
#include "proxy/glimit.h"
#include "proxy/proxy.h"
#include "proxy/reqinfo.h"

/* A bucket being handed to another key: takers wait (a few instructions). */
#define LOCKED UINT64_MAX

struct rl_set {
	_Atomic uint32_t lock;                   /* inserts into this set */
	_Atomic uint32_t fp[FC_RATELIMIT_WAYS];  /* key fingerprints, 0: empty */
	_Atomic uint64_t tat[FC_RATELIMIT_WAYS]; /* full again at (ns); LOCKED */
};
_Static_assert(sizeof(struct rl_set) == 64, "a set is one cache line");

/* One worker's counters, on a line of its own. */
struct rl_ctr {
	_Atomic uint64_t limited;
	_Atomic uint64_t evicted_early;
	_Atomic uint64_t down_allowed;
	_Atomic uint64_t down_refused;
	char pad[32];
};

/* A lease word: the tokens held (low 31 bits) and a refill asked (the top). */
#define LEASE_PENDING 0x80000000u
#define LEASE_TOKENS  0x7fffffffu
#define LEASE_MAX     (1u << 30)
_Static_assert(sizeof(struct rl_ctr) == 64, "a worker's counters are one cache line");

struct fc_ratelimit {
	atomic_uint refs;
	struct fc_ratelimit_spec spec;
	uint64_t t_ns; /* between two tokens */
	uint64_t seed;
	uint32_t n_sets;
	uint32_t window_s;
	size_t sets_bytes;
	struct rl_set *sets;     /* mmap'ed: pages are touched as keys arrive */
	struct rl_ctr *ctr;      /* one per worker */
	_Atomic uint32_t *lease; /* leased: one per bucket (set * WAYS + way); else NULL */
	size_t lease_bytes;
	char *redis_key;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* A single writer per slot: a relaxed load and store, no locked add. */
static inline void ctr_inc(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

bool fc_ratelimit_decide(uint64_t *tat, uint64_t now_ns, uint64_t t_ns, uint32_t burst,
                         struct fc_ratelimit_verdict *v)
{
	/* full at tat: burst - (tat - now) / T tokens now; one is there while
	 * tat - now <= (burst - 1) * T */
	uint64_t tau = (uint64_t)(burst - 1) * t_ns;
	uint64_t base = *tat > now_ns ? *tat : now_ns;
	uint64_t ahead = base - now_ns;
	if (ahead > tau) {
		v->allowed = false;
		v->remaining = 0;
		v->wait_ns = ahead - tau;
		return false;
	}
	*tat = base + t_ns;
	ahead += t_ns;
	v->allowed = true;
	v->remaining = burst - (uint32_t)((ahead + t_ns - 1) / t_ns);
	v->wait_ns = 0;
	return true;
}

int fc_ratelimit_create(const struct fc_ratelimit_spec *spec, struct fc_ratelimit **out)
{
	if (!spec->rate || !spec->period_ms || !spec->burst || !spec->max_keys || !spec->n_workers)
		return -EINVAL;
	uint64_t t_ns = (uint64_t)spec->period_ms * 1000000ull / spec->rate;
	if (t_ns == 0 || (uint64_t)spec->burst > (UINT64_MAX / 4) / t_ns)
		return -EINVAL;
	struct fc_ratelimit *rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	atomic_init(&rl->refs, 1);
	rl->spec = *spec;
	rl->t_ns = t_ns;
	uint64_t fill_ns = (uint64_t)spec->burst * t_ns;
	uint64_t window = (fill_ns + 999999999ull) / 1000000000ull;
	rl->window_s = window < 1 ? 1 : window > UINT32_MAX ? UINT32_MAX : (uint32_t)window;
	rl->seed = spec->seed;
	if (!rl->seed && getrandom(&rl->seed, sizeof(rl->seed), 0) != sizeof(rl->seed)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		rl->seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)rl;
	}
	rl->n_sets = (spec->max_keys + FC_RATELIMIT_WAYS - 1) / FC_RATELIMIT_WAYS;
	rl->sets_bytes = (size_t)rl->n_sets * sizeof(struct rl_set);
	/* anonymous memory is zero (every bucket empty) and costs nothing
	 * until a key lands in it */
	void *m = mmap(NULL, rl->sets_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	               -1, 0);
	rl->ctr = aligned_alloc(64, spec->n_workers * sizeof(struct rl_ctr));
	if (m == MAP_FAILED || !rl->ctr) {
		if (m != MAP_FAILED)
			munmap(m, rl->sets_bytes);
		free(rl->ctr);
		free(rl);
		return -ENOMEM;
	}
	rl->sets = m;
	memset(rl->ctr, 0, spec->n_workers * sizeof(struct rl_ctr));
	if (spec->lease_batch) {
		rl->lease_bytes = (size_t)rl->n_sets * FC_RATELIMIT_WAYS * sizeof(*rl->lease);
		void *lm = mmap(NULL, rl->lease_bytes, PROT_READ | PROT_WRITE,
		                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		rl->redis_key = strdup(spec->redis_key ? spec->redis_key : "");
		if (lm == MAP_FAILED || !rl->redis_key) {
			if (lm != MAP_FAILED)
				munmap(lm, rl->lease_bytes);
			rl->lease_bytes = 0;
			fc_ratelimit_unref(rl);
			return -ENOMEM;
		}
		rl->lease = lm;
	}
	rl->spec.redis_key = rl->redis_key;
	*out = rl;
	return 0;
}

void fc_ratelimit_ref(struct fc_ratelimit *rl)
{
	atomic_fetch_add_explicit(&rl->refs, 1, memory_order_relaxed);
}

void fc_ratelimit_unref(struct fc_ratelimit *rl)
{
	if (!rl || atomic_fetch_sub_explicit(&rl->refs, 1, memory_order_acq_rel) != 1)
		return;
	munmap(rl->sets, rl->sets_bytes);
	if (rl->lease)
		munmap((void *)rl->lease, rl->lease_bytes);
	free(rl->redis_key);
	free(rl->ctr);
	free(rl);
}

bool fc_ratelimit_same(const struct fc_ratelimit *rl, const struct fc_ratelimit_spec *spec)
{
	const struct fc_ratelimit_spec *a = &rl->spec;
	return a->rate == spec->rate && a->period_ms == spec->period_ms &&
	       a->burst == spec->burst && a->max_keys == spec->max_keys &&
	       a->n_workers == spec->n_workers && a->lease_batch == spec->lease_batch &&
	       !strcmp(a->redis_key ? a->redis_key : "", spec->redis_key ? spec->redis_key : "");
}

uint64_t fc_ratelimit_hash(const struct fc_ratelimit *rl, unsigned kind, const void *key,
                           size_t len)
{
	return fc_hash64_seeded(key, len, rl->seed ^ ((uint64_t)kind * 0x9e3779b97f4a7c15ull));
}

uint32_t fc_ratelimit_burst(const struct fc_ratelimit *rl)
{
	return rl->spec.burst;
}

uint32_t fc_ratelimit_window_s(const struct fc_ratelimit *rl)
{
	return rl->window_s;
}

/* The set of h (its high half, by multiply-shift: any number of sets) and
 * its fingerprint there (the low half; 0 means empty). */
static inline struct rl_set *set_of(const struct fc_ratelimit *rl, uint64_t h)
{
	return &rl->sets[(uint32_t)(((h >> 32) * rl->n_sets) >> 32)];
}

static inline uint32_t fp_of(uint64_t h)
{
	uint32_t f = (uint32_t)h;
	return f ? f : 1;
}

static void set_lock(struct rl_set *s)
{
	for (unsigned spins = 0;; spins++) {
		if (!atomic_load_explicit(&s->lock, memory_order_relaxed) &&
		    !atomic_exchange_explicit(&s->lock, 1, memory_order_acquire))
			return;
		if (spins < 64)
			cpu_relax();
		else
			sched_yield(); /* the holder was preempted */
	}
}

static void set_unlock(struct rl_set *s)
{
	atomic_store_explicit(&s->lock, 0, memory_order_release);
}

/* The key's bucket in its set: 1 allowed, 0 refused, -1 not there; *way
 * is the bucket's place in the set. */
static int take_found(const struct fc_ratelimit *rl, struct rl_set *s, uint32_t fp, uint64_t now_ns,
                      struct fc_ratelimit_verdict *v, int *way)
{
again:
	for (int i = 0; i < FC_RATELIMIT_WAYS; i++) {
		if (atomic_load_explicit(&s->fp[i], memory_order_relaxed) != fp)
			continue;
		*way = i;
		uint64_t t = atomic_load_explicit(&s->tat[i], memory_order_acquire);
		for (;;) {
			if (t == LOCKED) { /* being given to another key */
				cpu_relax();
				goto again;
			}
			/* an inserter writes the fingerprint before it releases
			 * the state: a state read after that shows the new key */
			if (atomic_load_explicit(&s->fp[i], memory_order_relaxed) != fp)
				goto again;
			uint64_t nt = t;
			if (!fc_ratelimit_decide(&nt, now_ns, rl->t_ns, rl->spec.burst, v))
				return 0; /* nothing written */
			if (atomic_compare_exchange_weak_explicit(
			            &s->tat[i], &t, nt, memory_order_acq_rel, memory_order_acquire))
				return 1;
		}
	}
	return -1;
}

/* A new key: under the set's lock, the first empty bucket, else the one
 * full soonest (a full one is idle: giving it away loses nothing). 1: the
 * new bucket's first token taken; -1: another caller inserted the key. */
static int insert(struct fc_ratelimit *rl, struct rl_set *s, uint32_t fp, uint64_t now_ns,
                  uint32_t worker, struct fc_ratelimit_verdict *v, int *way)
{
	set_lock(s);
	int best = -1;
	uint64_t best_t = LOCKED;
	for (int i = 0; i < FC_RATELIMIT_WAYS; i++) {
		uint32_t f = atomic_load_explicit(&s->fp[i], memory_order_relaxed);
		if (f == fp) {
			set_unlock(s);
			return -1;
		}
		if (f == 0) {
			if (best < 0 || best_t != 0) {
				best = i;
				best_t = 0;
			}
			continue;
		}
		uint64_t t = atomic_load_explicit(&s->tat[i], memory_order_relaxed);
		if (best < 0 || t < best_t) {
			best = i;
			best_t = t;
		}
	}
	/* takers of the old key may still move its state: claim it as it is */
	uint64_t old = atomic_load_explicit(&s->tat[best], memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&s->tat[best], &old, LOCKED,
	                                              memory_order_acq_rel, memory_order_relaxed))
		;
	bool early = atomic_load_explicit(&s->fp[best], memory_order_relaxed) != 0 && old > now_ns;
	atomic_store_explicit(&s->fp[best], fp, memory_order_relaxed);
	if (rl->lease) /* a new key's lease: its credit, no refill asked yet */
		atomic_store_explicit(&rl->lease[(size_t)(s - rl->sets) * FC_RATELIMIT_WAYS + best],
		                      FC_RATELIMIT_LEASE_CREDIT, memory_order_relaxed);
	*way = best;
	uint64_t nt = 0;
	fc_ratelimit_decide(&nt, now_ns, rl->t_ns, rl->spec.burst, v); /* a full bucket */
	atomic_store_explicit(&s->tat[best], nt, memory_order_release);
	set_unlock(s);
	if (early)
		ctr_inc(&rl->ctr[worker].evicted_early);
	return 1;
}

/* A take; *way is where the key's bucket is (valid when it returns). */
static bool take_at(struct fc_ratelimit *rl, uint64_t h, uint64_t now_ns, uint32_t worker,
                    struct fc_ratelimit_verdict *v, int *way)
{
	struct rl_set *s = set_of(rl, h);
	uint32_t fp = fp_of(h);
	for (;;) {
		int r = take_found(rl, s, fp, now_ns, v, way);
		if (r < 0)
			r = insert(rl, s, fp, now_ns, worker, v, way);
		if (r == 0)
			ctr_inc(&rl->ctr[worker].limited);
		if (r >= 0)
			return r == 1;
	}
}

bool fc_ratelimit_take(struct fc_ratelimit *rl, uint64_t h, uint64_t now_ns, uint32_t worker,
                       struct fc_ratelimit_verdict *v)
{
	int way;
	return take_at(rl, h, now_ns, worker, v, &way);
}

/* ---------------------------------------------------------------- leases */

uint32_t fc_ratelimit_lease_batch_for(uint32_t rate, uint32_t period_ms, uint32_t burst)
{
	/* 50 ms of tokens: a few round trips a second, little held back */
	uint64_t b = ((uint64_t)rate * 50 + period_ms - 1) / period_ms;
	uint64_t cap = burst / 4 ? burst / 4 : 1;
	if (b > cap)
		b = cap;
	return b ? (uint32_t)b : 1;
}

bool fc_ratelimit_lease_low(uint32_t tokens, uint32_t batch)
{
	return tokens <= batch / 2;
}

/* The lease word of h's bucket, or NULL when h has none now. */
static _Atomic uint32_t *lease_of(const struct fc_ratelimit *rl, uint64_t h)
{
	struct rl_set *s = set_of(rl, h);
	uint32_t fp = fp_of(h);
	for (int i = 0; i < FC_RATELIMIT_WAYS; i++)
		if (atomic_load_explicit(&s->fp[i], memory_order_relaxed) == fp)
			return &rl->lease[(size_t)(s - rl->sets) * FC_RATELIMIT_WAYS + i];
	return NULL;
}

bool fc_ratelimit_take_leased(struct fc_ratelimit *rl, uint64_t h, uint64_t now_ns, uint32_t worker,
                              struct fc_ratelimit_verdict *v, bool *refill)
{
	int way;
	*refill = false;
	if (!take_at(rl, h, now_ns, worker, v, &way))
		return false;
	_Atomic uint32_t *lw =
	        &rl->lease[(size_t)(set_of(rl, h) - rl->sets) * FC_RATELIMIT_WAYS + way];
	uint32_t batch = rl->spec.lease_batch;
	uint32_t w = atomic_load_explicit(lw, memory_order_relaxed);
	for (;;) {
		uint32_t tokens = w & LEASE_TOKENS, nw = w;
		if (tokens)
			nw = w - 1;
		if (fc_ratelimit_lease_low(nw & LEASE_TOKENS, batch))
			nw |= LEASE_PENDING;
		if (nw == w || atomic_compare_exchange_weak_explicit(
		                       lw, &w, nw, memory_order_acq_rel, memory_order_relaxed)) {
			*refill = !(w & LEASE_PENDING) && (nw & LEASE_PENDING);
			if (tokens)
				return true;
			break;
		}
	}
	/* the lease is empty: the instance's own bucket keeps its token */
	fc_ratelimit_refund(rl, h);
	ctr_inc(&rl->ctr[worker].limited);
	v->allowed = false;
	v->remaining = 0;
	v->wait_ns = rl->t_ns;
	return false;
}

void fc_ratelimit_refund_leased(struct fc_ratelimit *rl, uint64_t h)
{
	fc_ratelimit_refund(rl, h);
	_Atomic uint32_t *lw = lease_of(rl, h);
	if (lw)
		atomic_fetch_add_explicit(lw, 1, memory_order_relaxed);
}

void fc_ratelimit_lease_grant(struct fc_ratelimit *rl, uint64_t h, uint32_t granted)
{
	_Atomic uint32_t *lw = lease_of(rl, h);
	if (!lw)
		return;
	uint32_t w = atomic_load_explicit(lw, memory_order_relaxed);
	for (;;) {
		uint64_t tokens = (uint64_t)(w & LEASE_TOKENS) + granted;
		uint32_t nw = tokens > LEASE_MAX ? LEASE_MAX : (uint32_t)tokens;
		if (atomic_compare_exchange_weak_explicit(lw, &w, nw, memory_order_acq_rel,
		                                          memory_order_relaxed))
			return;
	}
}

int64_t fc_ratelimit_lease_tokens(const struct fc_ratelimit *rl, uint64_t h)
{
	_Atomic uint32_t *lw = rl->lease ? lease_of(rl, h) : NULL;
	return lw ? (int64_t)(atomic_load_explicit(lw, memory_order_relaxed) & LEASE_TOKENS) : -1;
}

uint32_t fc_ratelimit_lease_batch(const struct fc_ratelimit *rl)
{
	return rl->spec.lease_batch;
}

const char *fc_ratelimit_redis_key(const struct fc_ratelimit *rl)
{
	return rl->redis_key ? rl->redis_key : "";
}

uint32_t fc_ratelimit_rate(const struct fc_ratelimit *rl)
{
	return rl->spec.rate;
}

uint32_t fc_ratelimit_period_ms(const struct fc_ratelimit *rl)
{
	return rl->spec.period_ms;
}

void fc_ratelimit_count_down(struct fc_ratelimit *rl, uint32_t worker, bool allowed, bool limited)
{
	ctr_inc(allowed ? &rl->ctr[worker].down_allowed : &rl->ctr[worker].down_refused);
	if (limited)
		ctr_inc(&rl->ctr[worker].limited);
}

void fc_ratelimit_refund(struct fc_ratelimit *rl, uint64_t h)
{
	struct rl_set *s = set_of(rl, h);
	uint32_t fp = fp_of(h);
	for (int i = 0; i < FC_RATELIMIT_WAYS; i++) {
		if (atomic_load_explicit(&s->fp[i], memory_order_relaxed) != fp)
			continue;
		uint64_t t = atomic_load_explicit(&s->tat[i], memory_order_acquire);
		for (;;) {
			if (t == LOCKED ||
			    atomic_load_explicit(&s->fp[i], memory_order_relaxed) != fp)
				return; /* given to another key: nothing to give back */
			uint64_t nt = t > rl->t_ns ? t - rl->t_ns : 0;
			if (atomic_compare_exchange_weak_explicit(
			            &s->tat[i], &t, nt, memory_order_acq_rel, memory_order_acquire))
				return;
		}
	}
}

void fc_ratelimit_stats(const struct fc_ratelimit *rl, struct fc_ratelimit_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (uint32_t w = 0; w < rl->spec.n_workers; w++) {
		st->limited += atomic_load_explicit(&rl->ctr[w].limited, memory_order_relaxed);
		st->evicted_early +=
		        atomic_load_explicit(&rl->ctr[w].evicted_early, memory_order_relaxed);
		st->down_allowed +=
		        atomic_load_explicit(&rl->ctr[w].down_allowed, memory_order_relaxed);
		st->down_refused +=
		        atomic_load_explicit(&rl->ctr[w].down_refused, memory_order_relaxed);
	}
	st->capacity = (uint64_t)rl->n_sets * FC_RATELIMIT_WAYS;
	st->bytes = rl->sets_bytes + rl->lease_bytes + rl->spec.n_workers * sizeof(struct rl_ctr) +
	            sizeof(*rl);
}

uint64_t fc_ratelimit_active(const struct fc_ratelimit *rl, uint64_t now_ns)
{
	uint64_t n = 0;
	for (uint32_t k = 0; k < rl->n_sets; k++) {
		const struct rl_set *s = &rl->sets[k];
		for (int i = 0; i < FC_RATELIMIT_WAYS; i++) {
			uint64_t t = atomic_load_explicit((_Atomic uint64_t *)&s->tat[i],
			                                  memory_order_relaxed);
			if (atomic_load_explicit((_Atomic uint32_t *)&s->fp[i],
			                         memory_order_relaxed) &&
			    t > now_ns)
				n++;
		}
	}
	return n;
}

/* ---------------------------------------------------------------- requests */

/* Key spaces: an address and a header or cookie value never share a bucket. */
enum { KEY_ADDRESS, KEY_VALUE };

/* The hash of the request's key in l: the header's or cookie's value, or
 * the real client address (client_ip, and a request without that header
 * or cookie, or with an empty one). */
static uint64_t request_key(const struct fc_rt_limit *l, const struct fc_exchange *x,
                            const struct fc_h1_head *hd)
{
	const struct fc_config_rate_limit *c = l->cfg;
	const char *v = NULL;
	size_t n = 0;
	if (c->key == FC_RATE_KEY_HEADER) {
		const struct fc_h1_header *h = fc_h1_find(hd, c->key_name, strlen(c->key_name));
		if (h) {
			v = h->value;
			n = h->value_len;
		}
	} else if (c->key == FC_RATE_KEY_COOKIE) {
		v = fc_req_cookie(hd, c->key_name, strlen(c->key_name), &n);
	}
	if (v && n)
		return fc_ratelimit_hash(l->rl, KEY_VALUE, v, n);
	uint8_t a[17];
	size_t an = x->client.family == 4 ? 4 : 16;
	a[0] = (uint8_t)x->client.family;
	memcpy(a + 1, x->client.bytes, an);
	return fc_ratelimit_hash(l->rl, KEY_ADDRESS, a, an + 1);
}

static bool is_exempt(const struct fc_rt_limit *l, const struct fc_addr *a)
{
	for (size_t i = 0; i < l->n_exempt; i++)
		if (fc_cidr_contains(&l->exempt[i], a))
			return true;
	return false;
}

/* What a take used, so it can be given back. */
enum took_how {
	TOOK_NOTHING, /* Redis down, on_redis_down: allow (nothing counted) */
	TOOK_LOCAL,   /* the instance's bucket */
	TOOK_LEASED,  /* the bucket and the key's lease of the global limit */
};

/* One limit's decision: a local limit's bucket; a global one's lease while
 * Redis is up (a low lease is posted to the control thread), else its
 * on_redis_down. Nothing waits. */
static bool take(const struct fc_runtime *rt, struct fc_rt_limit *l, uint64_t h,
                 const struct fc_worker *w, struct fc_ratelimit_verdict *v, enum took_how *how)
{
	const struct fc_config_rate_limit *c = l->cfg;
	*how = TOOK_LOCAL;
	if (c->scope != FC_RATE_SCOPE_GLOBAL)
		return fc_ratelimit_take(l->rl, h, w->loop.now_ns, w->id, v);
	if (fc_glimits_up()) {
		bool refill = false;
		*how = TOOK_LEASED;
		bool ok = fc_ratelimit_take_leased(l->rl, h, w->loop.now_ns, w->id, v, &refill);
		if (refill)
			fc_glimits_want(rt->glimit_mb, l->rl, h);
		return ok;
	}
	bool ok, deny = false;
	switch (c->on_redis_down) {
	case FC_RATE_DOWN_ALLOW:
		*how = TOOK_NOTHING;
		ok = true;
		break;
	case FC_RATE_DOWN_DENY:
		ok = false;
		deny = true;
		v->allowed = false;
		v->remaining = 0;
		v->wait_ns = 1000000000ull;
		break;
	default: /* local: this instance's bucket alone */
		ok = fc_ratelimit_take(l->rl, h, w->loop.now_ns, w->id, v);
		break;
	}
	fc_ratelimit_count_down(l->rl, w->id, ok, deny); /* a bucket counted its own refusal */
	return ok;
}

unsigned fc_rate_limit_check(struct fc_exchange *x, const struct fc_h1_head *hd,
                             const struct fc_config_route *r, bool close, char *out, size_t cap,
                             size_t *n)
{
	const struct fc_runtime *rt = x->rt;
	const struct fc_config_rate_limit *want[2] = {r->rate_limit,
	                                              x->pool ? x->pool->cfg->rate_limit : NULL};
	if (want[1] == want[0])
		want[1] = NULL; /* one limit named twice counts once */
	const struct fc_worker *w = x->c->w;
	struct fc_rt_limit *took = NULL;
	uint64_t took_h = 0;
	enum took_how took_how = TOOK_NOTHING;
	for (int i = 0; i < 2; i++) {
		size_t idx = want[i] ? (size_t)(want[i] - rt->cfg->rate_limits) : SIZE_MAX;
		if (idx >= rt->n_limits)
			continue;
		struct fc_rt_limit *l = &rt->limits[idx];
		if (is_exempt(l, &x->client))
			continue;
		uint64_t h = request_key(l, x, hd);
		struct fc_ratelimit_verdict v;
		enum took_how how = TOOK_LOCAL;
		if (take(rt, l, h, w, &v, &how)) {
			took = l;
			took_h = h;
			took_how = how;
			continue;
		}
		if (took &&
		    took_how == TOOK_LEASED) /* refused here: the other's token was not used */
			fc_ratelimit_refund_leased(took->rl, took_h);
		else if (took && took_how == TOOK_LOCAL)
			fc_ratelimit_refund(took->rl, took_h);
		uint64_t s = (v.wait_ns + 999999999ull) / 1000000000ull;
		struct fc_h1_rate_limited f = {
		        .name = l->cfg->name,
		        .burst = fc_ratelimit_burst(l->rl),
		        .window_s = fc_ratelimit_window_s(l->rl),
		        .remaining = 0,
		        .reset_s = s < 1            ? 1
		                   : s > UINT32_MAX ? UINT32_MAX
		                                    : (uint32_t)s,
		};
		*n = fc_h1_write_rate_limited(out, cap, close, &f);
		return (unsigned)idx + 1;
	}
	return 0;
}
