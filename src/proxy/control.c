/* control.c — the control thread: the main thread, once workers run, turns
 * into an fc_loop of its own that takes signals through a signalfd, runs the
 * health checks, and tells workers what changed through their mailboxes.
 * Nothing here runs on the request path. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "core/log.h"
#include "health/health.h"
#include "proxy/proxy.h"

#define MAINTAIN_MS 100 /* pools rebuilt around cooldowns this often */

struct control {
	struct fc_loop loop;
	struct fc_io sig;
	struct fc_timer maintain;
	struct fc_config *cfg;
	struct fc_runtime *rt;
	struct fc_health *health;
	struct fc_worker *ws;
	uint32_t n_workers;
	struct fc_admin *admin; /* NULL: no admin: section */
	struct fc_reload_stats reload_stats;
};

/* The admin API asks for what is current at every request. */
static void admin_view(void *arg, struct fc_admin_view *v)
{
	struct control *ctl = arg;
	v->rt = ctl->rt;
	v->health = ctl->health;
	v->ws = ctl->ws;
	v->n_workers = ctl->n_workers;
}

/* health: a server stopped taking requests; workers drop their idle
 * connections to it */
static void on_server_down(void *arg, struct fc_server *srv)
{
	struct control *ctl = arg;
	if (ctl->ws)
		fc_workers_server_down(ctl->ws, ctl->n_workers, srv);
}

/* Lets each pool rebuild its structures without servers whose cooldown
 * began (a refused connect) and with those whose cooldown ended, so picks stay
 * O(1) however many servers are out (docs/balancing.md). */
static void on_maintain(struct fc_loop *loop, struct fc_timer *t)
{
	struct control *ctl = (struct control *)((char *)t - offsetof(struct control, maintain));
	for (size_t i = 0; i < ctl->rt->n_pools; i++)
		fc_pool_maintain(ctl->rt->pools[i].pool, loop->now_ns);
	fc_timer_set(loop, t, loop->now_ms + MAINTAIN_MS);
}

static void on_signal(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct control *ctl = (struct control *)((char *)io - offsetof(struct control, sig));
	(void)ev;
	struct signalfd_siginfo si;
	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int sig = (int)si.ssi_signo;
		if (sig == SIGUSR1) {
			/* log rotation: reopen both logs by their paths */
			int e1 = fc_log_reopen(ctl->cfg->error_log);
			int e2 = fc_runtime_reopen_logs(ctl->rt);
			if (e1 < 0 || e2 < 0)
				fc_error("SIGUSR1: cannot reopen logs: %s",
				         strerror(-(e1 < 0 ? e1 : e2)));
			else
				fc_info("SIGUSR1: logs reopened");
		} else if (sig == SIGHUP) {
			fc_warn("SIGHUP: reload is not supported yet; still running on %s",
			        ctl->cfg->source);
		} else {
			fc_info("%s: stopping; in-flight requests have %u ms", strsignal(sig),
			        ctl->cfg->shutdown_grace_ms);
			loop->stop = true;
		}
	}
}

int fc_control_run(struct fc_config *cfg, uint32_t n_workers)
{
	struct control ctl = {.cfg = cfg, .n_workers = n_workers, .sig = {.fd = -1}};
	char err[4096] = "";
	int rc = fc_loop_init(&ctl.loop);
	if (rc < 0) {
		fc_error("control loop: %s", strerror(-rc));
		return 1;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* workers inherit it */
	ctl.sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	ctl.sig.cb = on_signal;
	int status = 1;
	if (ctl.sig.fd < 0) {
		fc_error("signalfd: %s", strerror(errno));
		goto out;
	}
	fc_loop_add_level(&ctl.loop, &ctl.sig);
	struct fc_health_hooks hooks = {.server_down = on_server_down, .arg = &ctl};
	if (fc_health_create(&ctl.loop, &hooks, &ctl.health) < 0) {
		fc_error("out of memory for health checks");
		goto out;
	}
	if (fc_runtime_create(cfg, n_workers, ctl.health, &ctl.rt, err, sizeof(err)) < 0) {
		fc_error("%s", err);
		goto out;
	}
	/* the first maintenance of a pool rebuilds its snapshot (and a snapshot
	 * starts its rotation at a new random point): do it before any pick */
	fc_loop_update_time(&ctl.loop);
	for (size_t i = 0; i < ctl.rt->n_pools; i++)
		fc_pool_maintain(ctl.rt->pools[i].pool, ctl.loop.now_ns);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	ctl.reload_stats.last_success = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	if (cfg->admin.enabled) {
		/* reload: NULL until control.c implements it (the API answers 501) */
		struct fc_admin_hooks ah = {.view = admin_view,
		                            .reload = NULL,
		                            .reload_stats = &ctl.reload_stats,
		                            .arg = &ctl};
		if (fc_admin_create(&ctl.loop, cfg, &ah, &ctl.admin, err, sizeof(err)) < 0) {
			fc_error("%s", err);
			goto out;
		}
	}
	if (fc_workers_start(ctl.rt, &ctl.ws, n_workers, err, sizeof(err)) < 0) {
		fc_error("%s", err);
		ctl.ws = NULL;
		goto out;
	}
	for (size_t i = 0; i < cfg->n_listeners; i++)
		fc_info("fulcrum %s: listener %s on %s, %u worker%s", FULCRUM_VERSION,
		        cfg->listeners[i].name, cfg->listeners[i].address, n_workers,
		        n_workers == 1 ? "" : "s");
	rc = fc_health_start(ctl.health);
	if (rc < 0) {
		fc_error("health checks: %s", strerror(-rc));
		goto out;
	}
	fc_loop_update_time(&ctl.loop);
	ctl.maintain.cb = on_maintain;
	fc_timer_set(&ctl.loop, &ctl.maintain, ctl.loop.now_ms + MAINTAIN_MS);
	fc_loop_run(&ctl.loop);
	fc_timer_cancel(&ctl.loop, &ctl.maintain);
	status = 0;
out:
	/* no more admin requests: they would look at the workers */
	fc_admin_destroy(ctl.admin);
	ctl.admin = NULL;
	if (ctl.ws)
		fc_workers_stop(ctl.ws, n_workers, status == 0 ? cfg->shutdown_grace_ms : 0);
	ctl.ws = NULL;
	/* workers are gone: nothing reports to health any more */
	fc_health_destroy(ctl.health);
	fc_runtime_destroy(ctl.rt);
	if (ctl.sig.fd >= 0)
		close(ctl.sig.fd);
	fc_loop_fini(&ctl.loop);
	if (status == 0)
		fc_info("stopped");
	return status;
}
