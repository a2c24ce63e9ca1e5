/* health_state.c — the per-server state machine, free of I/O: active check
 * verdicts (rise/fall hysteresis, lame duck), passive ejections (backoff,
 * max_ejected) and draining combine into one libfulcrum state, and every
 * change is one log line. Time comes in as arguments, so tests use a fake
 * clock.
 *
 * The rules, in order:
 *   1. draining (the admin API) wins: nothing else moves a draining server;
 *   2. otherwise the server is DEAD while active checks hold it down
 *      (fall failures in a row, until rise passes in a row) or while
 *      passive detection has it ejected;
 *   3. otherwise it is LAME_DUCK while the last check answered a lame_duck
 *      status;
 *   4. otherwise HEALTHY. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "health/health_internal.h"

void fc__health_config_defaults(struct fc_config_health *hc)
{
	if (!hc->interval_ms)
		hc->interval_ms = 2000;
	if (!hc->fast_interval_ms)
		hc->fast_interval_ms = hc->interval_ms / 4 ? hc->interval_ms / 4 : 1;
	if (!hc->timeout_ms)
		hc->timeout_ms = hc->interval_ms < 1000 ? hc->interval_ms : 1000;
	if (!hc->rise)
		hc->rise = 2;
	if (!hc->fall)
		hc->fall = 3;
}

static bool takes_no_requests(enum fc_server_state st)
{
	return st == FC_SERVER_DEAD || st == FC_SERVER_DRAINING || st == FC_SERVER_ASLEEP;
}

static const char *state_word(enum fc_server_state st)
{
	switch (st) {
	case FC_SERVER_HEALTHY:
		return "up";
	case FC_SERVER_LAME_DUCK:
		return "lame duck";
	case FC_SERVER_DEAD:
		return "down";
	case FC_SERVER_DRAINING:
		return "draining";
	case FC_SERVER_ASLEEP:
		return "asleep";
	}
	return "?";
}

/* "10s", "2m30s", "1h", "1500ms" */
static void format_duration(char *buf, size_t len, uint64_t ms)
{
	if (ms % 1000) {
		snprintf(buf, len, "%llums", (unsigned long long)ms);
		return;
	}
	uint64_t s = ms / 1000, h = s / 3600, m = (s / 60) % 60;
	s %= 60;
	int n = 0;
	buf[0] = 0;
	if (h)
		n += snprintf(buf + n, len - (size_t)n, "%lluh", (unsigned long long)h);
	if (m && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "%llum", (unsigned long long)m);
	if ((s || (!h && !m)) && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "%llus", (unsigned long long)s);
}

static void set_count(struct fc__health_pool *hp, enum fc_server_state st, int delta)
{
	if (st == FC_SERVER_HEALTHY)
		hp->n_healthy = (uint32_t)((int)hp->n_healthy + delta);
	else if (st == FC_SERVER_DEAD)
		hp->n_dead = (uint32_t)((int)hp->n_dead + delta);
}

/* Works out the state the rules give, and applies, logs and announces it
 * when it differs. verb overrides the state's word in the log line ("is
 * ejected for 10s"); reason says why. */
static void recompute(struct fc_health_server *hs, const char *verb, const char *reason,
                      uint64_t now_ns)
{
	enum fc_server_state st;
	if (hs->draining)
		st = FC_SERVER_DRAINING;
	else if (hs->asleep)
		st = FC_SERVER_ASLEEP;
	else if (hs->active_down || hs->ejected)
		st = FC_SERVER_DEAD;
	else if (hs->lame)
		st = FC_SERVER_LAME_DUCK;
	else
		st = FC_SERVER_HEALTHY;
	if (st == hs->state)
		return;

	struct fc__health_pool *hp = hs->hp;
	enum fc_server_state old = hs->state;
	uint32_t healthy_before = hp->n_healthy;
	int rc = fc_pool_set_state(hp->pool, hs->name, st, now_ns);
	if (rc < 0)
		fc_warn("pool %s: server %s: cannot set state %s: %s", hp->name, hs->name,
		        state_word(st), strerror(-rc));
	set_count(hp, old, -1);
	set_count(hp, st, +1);
	hs->state = st;
	hs->since_ns = now_ns;
	if (verb)
		snprintf(hs->reason, sizeof(hs->reason), "%s (%s)", verb, reason);
	else
		snprintf(hs->reason, sizeof(hs->reason), "%s", reason);
	if (!verb)
		verb = state_word(st);

	/* asleep is on purpose (wake:): not a warning */
	if (st == FC_SERVER_HEALTHY || st == FC_SERVER_ASLEEP)
		fc_info("pool %s: server %s is %s (%s); %u/%u servers are healthy", hp->name,
		        hs->name, verb, reason, hp->n_healthy, hp->n_servers);
	else
		fc_warn("pool %s: server %s is %s (%s); %u/%u servers are healthy", hp->name,
		        hs->name, verb, reason, hp->n_healthy, hp->n_servers);
	if (healthy_before > 0 && hp->n_healthy == 0 && st != FC_SERVER_ASLEEP)
		fc_warn("pool %s: no server is healthy (0/%u)", hp->name, hp->n_servers);

	if (takes_no_requests(st)) {
		atomic_store_explicit(&hs->out, true, memory_order_relaxed);
		if (hs->h->hooks.server_down)
			hs->h->hooks.server_down(hs->h->hooks.arg, hs->srv);
	} else if (takes_no_requests(old)) {
		/* back in service: a fresh streak, then reports count again */
		hs->in_service_ns = now_ns;
		atomic_store_explicit(&hs->streak, 0, memory_order_relaxed);
		atomic_store_explicit(&hs->out, false, memory_order_release);
	}
}

bool fc__health_is_changing(const struct fc_health_server *hs)
{
	if (hs->active_down)
		return hs->checks_ok > 0 || hs->recovering;
	return hs->checks_failed > 0;
}

/* A waking server without active checks is connected to this often. */
#define WAKE_PROBE_MS 200

uint32_t fc__health_next_gap_ms(struct fc_health_server *hs)
{
	if (hs->waking && hs->hc.type == FC_HEALTH_NONE)
		return WAKE_PROBE_MS;
	uint32_t base = fc__health_is_changing(hs) || hs->waking ? hs->hc.fast_interval_ms
	                                                         : hs->hc.interval_ms;
	uint32_t spread = base / 5; /* ±10 % */
	uint32_t gap = base - spread / 2 + (uint32_t)fc_rng_below(&hs->h->rng, spread + 1ull);
	return gap ? gap : 1;
}

void fc__health_on_check(struct fc_health_server *hs, enum fc__health_verdict v, const char *text,
                         uint64_t latency_ns, uint64_t now_ns)
{
	char reason[160];
	reason[0] = 0;
	hs->last_check_ns = now_ns ? now_ns : 1;
	hs->last_check_latency_ns = latency_ns;
	hs->n_checks++;
	snprintf(hs->last_result, sizeof(hs->last_result), "%s", text);
	hs->last_ok = v != FC__HEALTH_FAIL;
	hs->results[v == FC__HEALTH_PASS   ? FC_HEALTH_RESULT_OK
	            : v == FC__HEALTH_LAME ? FC_HEALTH_RESULT_LAME_DUCK
	            : hs->ck.timed_out     ? FC_HEALTH_RESULT_TIMEOUT
	                                   : FC_HEALTH_RESULT_FAILED]++;
	if (v == FC__HEALTH_FAIL) {
		hs->checks_failed++;
		hs->checks_ok = 0;
		hs->recovering = false; /* simply down now, checked at the normal pace */
	} else {
		hs->checks_ok++;
		hs->checks_failed = 0;
	}

	if (hs->waking) {
		/* its wake: rise passes in a row (a connect for a server without
		 * checks, the first verdict for a probe) */
		bool up = v != FC__HEALTH_FAIL && (hs->hc.type == FC_HEALTH_NONE || hs->wake_once ||
		                                   hs->checks_ok >= hs->hc.rise);
		if (!up && !hs->wake_once)
			return;
		hs->waking = false;
		struct fc__health_pool *hp = hs->hp;
		if (up) {
			hs->asleep = false;
			hs->active_down = false;
			hs->recovering = false;
			hs->lame = v == FC__HEALTH_LAME;
			snprintf(reason, sizeof(reason), "woken: %s", text);
			recompute(hs, NULL, reason, now_ns);
		} else {
			snprintf(hs->reason, sizeof(hs->reason), "asleep (found down: %s)", text);
			fc_info("pool %s: server %s is asleep (found down: %s)", hp->name, hs->name,
			        text);
		}
		if (hs->h->hooks.server_woke)
			hs->h->hooks.server_woke(hs->h->hooks.arg, hp->pool, hs->srv, up);
		return;
	}
	bool was_lame = hs->lame;
	if (v == FC__HEALTH_LAME)
		hs->lame = true;
	else if (v == FC__HEALTH_PASS)
		hs->lame = false;

	if (!hs->active_down && hs->checks_failed >= hs->hc.fall) {
		hs->active_down = true;
		snprintf(reason, sizeof(reason), "health check failed %u %s: %s", hs->checks_failed,
		         hs->checks_failed == 1 ? "time" : "times", text);
	} else if (hs->active_down && hs->checks_ok >= hs->hc.rise) {
		hs->active_down = false;
		hs->recovering = false;
		snprintf(reason, sizeof(reason), "health check passed %u %s: %s", hs->checks_ok,
		         hs->checks_ok == 1 ? "time" : "times", text);
	} else if (hs->lame && !was_lame) {
		snprintf(reason, sizeof(reason), "health check answered %s: no new clients", text);
	} else if (!hs->lame && was_lame) {
		snprintf(reason, sizeof(reason), "health check answered normally again: %s", text);
	} else {
		return; /* nothing that changes the state */
	}
	recompute(hs, NULL, reason, now_ns);
}

void fc__health_eject(struct fc_health_server *hs, const char *what, uint32_t streak,
                      uint64_t now_ns)
{
	struct fc__health_pool *hp = hs->hp;
	const struct fc_config_passive *pc = &hp->passive;
	if (hs->ejected || takes_no_requests(hs->state) || pc->failures == 0) {
		hs->late++; /* already out: the crossing raced the last ejection */
		goto done;
	}

	/* refuse when this ejection would put more than max_ejected of the pool out */
	uint32_t out = hp->n_dead + 1;
	if ((uint64_t)out * 100 > (uint64_t)pc->max_ejected_pct * hp->n_servers) {
		hs->refusals++;
		fc_warn("pool %s: server %s is not ejected (%u consecutive failures, last: %s): "
		        "%u/%u servers would be down, over max_ejected %u%%; %u/%u servers are "
		        "healthy",
		        hp->name, hs->name, streak, what, out, hp->n_servers, pc->max_ejected_pct,
		        hp->n_healthy, hp->n_servers);
		goto done;
	}

	uint32_t base = pc->eject_ms ? pc->eject_ms : 10000;
	uint32_t cap = pc->max_eject_ms > base ? pc->max_eject_ms : base;
	/* the backoff forgets after the server stayed in service for max_eject */
	if (!hs->eject_next_ms ||
	    (hs->in_service_ns && now_ns - hs->in_service_ns >= (uint64_t)cap * 1000000ull))
		hs->eject_next_ms = base;
	uint32_t dur = hs->eject_next_ms;
	hs->eject_next_ms = dur > cap / 2 ? cap : dur * 2;
	hs->eject_cur_ms = dur;
	hs->ejected = true;
	hs->ejections++;
	fc_timer_set(hs->h->loop, &hs->eject_timer, hs->h->loop->now_ms + dur);

	char verb[48], d[24], reason[160];
	format_duration(d, sizeof(d), dur);
	snprintf(verb, sizeof(verb), "ejected for %s", d);
	snprintf(reason, sizeof(reason), "%u consecutive failures, last: %s", streak, what);
	recompute(hs, verb, reason, now_ns);
done:
	atomic_store_explicit(&hs->streak, 0, memory_order_relaxed);
	atomic_store_explicit(&hs->posting, false, memory_order_release);
}

void fc__health_eject_end(struct fc_health_server *hs, uint64_t now_ns)
{
	if (!hs->ejected)
		return;
	fc_timer_cancel(hs->h->loop, &hs->eject_timer);
	hs->ejected = false;
	char d[24], reason[160];
	format_duration(d, sizeof(d), hs->eject_cur_ms);
	if (hs->hc.type != FC_HEALTH_NONE) {
		/* active checks decide: rise passes from now on, at the fast pace */
		if (!hs->active_down)
			hs->checks_ok = 0;
		hs->active_down = true;
		hs->recovering = true;
		fc_info("pool %s: server %s: ejection of %s ended; up again after %u passing "
		        "health "
		        "checks",
		        hs->hp->name, hs->name, d, hs->hc.rise);
		snprintf(hs->reason, sizeof(hs->reason),
		         "ejection of %s ended, waiting for %u passing health checks", d,
		         hs->hc.rise);
		fc__health_check_soon(hs);
		return;
	}
	snprintf(reason, sizeof(reason), "ejection of %s ended", d);
	recompute(hs, NULL, reason, now_ns);
}

void fc_health_server_sleep(struct fc_health_server *hs, bool on, const char *reason,
                            uint64_t now_ns)
{
	if (hs->removed)
		return;
	hs->waking = false;
	if (hs->asleep == on)
		return;
	hs->asleep = on;
	recompute(hs, on ? "asleep" : NULL, reason, now_ns);
}

void fc_health_server_wake(struct fc_health_server *hs, bool once, uint64_t now_ns)
{
	(void)now_ns;
	if (hs->removed || !hs->asleep)
		return;
	hs->waking = true;
	hs->wake_once = once;
	hs->checks_ok = 0;
	hs->checks_failed = 0;
	fc__health_check_now(hs);
}

bool fc_health_server_asleep(const struct fc_health_server *hs)
{
	return hs->asleep;
}

void fc_health_server_drain(struct fc_health_server *hs, bool on, uint64_t now_ns)
{
	if (hs->draining == on || hs->removed)
		return;
	hs->draining = on;
	recompute(hs, NULL, on ? "drained by the admin API" : "drain ended", now_ns);
}

void fc_health_server_inherit(struct fc_health_server *hs, const struct fc_health_server *from)
{
	struct fc__health_pool *hp = hs->hp;
	set_count(hp, hs->state, -1);
	hs->state = from->state;
	set_count(hp, hs->state, +1);
	hs->since_ns = from->since_ns;
	snprintf(hs->reason, sizeof(hs->reason), "%s", from->reason);
	hs->draining = from->draining;
	hs->asleep = from->asleep; /* a wake in progress: the controller starts it again */
	hs->active_down = from->active_down;
	hs->lame = from->lame;
	hs->recovering = from->recovering;
	hs->checks_ok = from->checks_ok;
	hs->checks_failed = from->checks_failed;
	hs->last_check_ns = from->last_check_ns;
	hs->last_check_latency_ns = from->last_check_latency_ns;
	snprintf(hs->last_result, sizeof(hs->last_result), "%s", from->last_result);
	hs->n_checks = from->n_checks;
	hs->ejections = from->ejections;
	hs->eject_next_ms = from->eject_next_ms;
	hs->eject_cur_ms = from->eject_cur_ms;
	hs->in_service_ns = from->in_service_ns;
	hs->ejected = from->ejected;
	if (hs->ejected) {
		/* the ejection ends when it would have */
		uint64_t end =
		        from->eject_timer.slot ? from->eject_timer.when : hs->h->loop->now_ms + 1;
		fc_timer_set(hs->h->loop, &hs->eject_timer, end);
	}
	atomic_store(&hs->streak, atomic_load(&from->streak));
	atomic_store(&hs->out, takes_no_requests(hs->state));
	/* libfulcrum's server took the old one's state already (inherit); make
	 * sure, as fc_health_add_server may have set it healthy */
	fc_pool_set_state(hp->pool, hs->name, hs->state, hs->h->loop->now_ns);
}
