/* control.c — the control thread: the main thread, once workers run, turns
 * into an fc_loop of its own that takes signals through a signalfd, runs the
 * health checks, reloads the configuration (SIGHUP, a watched file), and
 * tells workers what changed through their mailboxes. Nothing here runs on
 * the request path. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"
#include "health/health.h"
#include "proxy/control.h"
#include "proxy/discover.h"
#include "proxy/glimit.h"
#include "proxy/live.h"
#include "proxy/proxy.h"
#include "proxy/state.h"
#include "proxy/wake.h"

#define MAINTAIN_MS     100 /* pools rebuilt around cooldowns this often */
#define WATCH_SETTLE_MS 200 /* a watched file is reloaded once writes stop this long */

struct retired {
	struct fc_runtime *rt;
	struct retired *next;
};

struct control {
	struct fc_loop loop;
	struct fc_io sig;
	struct fc_io watch; /* inotify on the config file's directory; fd -1: off */
	int watch_wd;
	struct fc_timer watch_settle;
	struct fc_timer maintain;
	const struct fc_control_source *src;
	struct fc_config *cfg; /* the running configuration */
	struct fc_runtime *rt;
	struct retired *retired; /* replaced runtimes, freed when no worker uses them */
	struct fc_worker *ws;
	uint32_t n_workers;
	atomic_uint conns;
	int access_fd;
	uint8_t secret[32];
	bool have_secret;
	struct fc_reload_stats stats;
	struct fc_wakes *wakes;         /* wake: (wake.c) */
	struct fc_discovery *discovery; /* discover: (discover.c) */
	struct fc_glimits *glimits;     /* scope: global rate limits and their Redis (glimit.c) */
};

/* DNS discovery follows the running runtime. */
static void discovery_update(struct control *ctl)
{
	struct fc_live l = {.rt = ctl->rt, .ws = ctl->ws, .n_workers = ctl->n_workers};
	fc_discovery_update(ctl->discovery, &l);
}

/* ---------------------------------------------------------------- logs */

static int open_access_log(const char *where)
{
	if (!where || strcmp(where, "off") == 0)
		return -1;
	if (strcmp(where, "stdout") == 0)
		return 1;
	if (strcmp(where, "stderr") == 0)
		return 2;
	int fd = open(where, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	return fd < 0 ? -errno : fd;
}

static bool is_file_log(const char *where)
{
	return where && strcmp(where, "off") != 0 && strcmp(where, "stdout") != 0 &&
	       strcmp(where, "stderr") != 0;
}

/* Opens the file at where onto fd's number, so workers keep writing to the
 * same descriptor (rotation and reload). 0 or -errno. */
static int reopen_onto(int fd, const char *where)
{
	int nfd = open_access_log(where);
	if (nfd < 0)
		return nfd;
	int rc = dup3(nfd, fd, O_CLOEXEC) < 0 ? -errno : 0;
	close(nfd);
	return rc;
}

/* ---------------------------------------------------------------- runtimes */

/* health: a server stopped taking requests; workers drop their idle
 * connections to it */
static void on_server_down(void *arg, struct fc_server *srv)
{
	struct control *ctl = arg;
	if (ctl->ws)
		fc_workers_server_down(ctl->ws, ctl->n_workers, srv);
}

/* health: a server asked to wake is up (or, probed, down) */
static void on_server_woke(void *arg, struct fc_pool *pool, struct fc_server *srv, bool up)
{
	struct control *ctl = arg;
	if (ctl->wakes)
		fc_wakes_server_woke(ctl->wakes, pool, srv, up);
}

static int build_runtime(struct control *ctl, struct fc_config *cfg, struct fc_runtime *prev,
                         struct fc_runtime **out, char *err, size_t errlen)
{
	struct fc_health_hooks hooks = {
	        .server_down = on_server_down, .server_woke = on_server_woke, .arg = ctl};
	struct fc_runtime_options o = {
	        .loop = &ctl->loop,
	        .hooks = &hooks,
	        .prev = prev,
	        .secret = ctl->have_secret ? ctl->secret : NULL,
	        .secret_len = ctl->have_secret ? sizeof(ctl->secret) : 0,
	        .conns = &ctl->conns,
	        .access_fd = ctl->access_fd,
	        .wake_mb = fc_wakes_mailbox(ctl->wakes),
	        .glimit_mb = fc_glimits_mailbox(ctl->glimits),
	};
	return fc_runtime_create(cfg, ctl->n_workers, &o, out, err, errlen);
}

/* The first maintenance of a pool rebuilds its snapshot (and a snapshot
 * starts its rotation at a new random point): done before any pick. */
static void maintain_all(struct control *ctl, struct fc_runtime *rt)
{
	fc_loop_update_time(&ctl->loop);
	for (size_t i = 0; i < rt->n_pools; i++)
		fc_pool_maintain(rt->pools[i].pool, ctl->loop.now_ns);
}

/* Frees the replaced runtimes no worker holds any more. */
static void collect_retired(struct control *ctl)
{
	struct retired **p = &ctl->retired;
	while (*p) {
		struct retired *r = *p;
		if (atomic_load_explicit(&r->rt->refs, memory_order_acquire) == 0) {
			*p = r->next;
			fc_runtime_destroy(r->rt);
			free(r);
		} else {
			p = &r->next;
		}
	}
}

/* Lets each pool rebuild its structures without servers whose cooldown
 * began (a refused connect) and with those whose cooldown ended, so picks stay
 * O(1) however many servers are out (docs/balancing.md). */
static void on_maintain(struct fc_loop *loop, struct fc_timer *t)
{
	struct control *ctl = fc_link_entry(t, struct control, maintain);
	for (size_t i = 0; i < ctl->rt->n_pools; i++)
		fc_pool_maintain(ctl->rt->pools[i].pool, loop->now_ns);
	collect_retired(ctl);
	fc_timer_set(loop, t, loop->now_ms + MAINTAIN_MS);
}

/* ---------------------------------------------------------------- reload */

static double realtime_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What a reload cannot change in a running process: refused with a reason. */
static int check_fixed(const struct fc_config *cur, const struct fc_config *next, char *err,
                       size_t errlen)
{
	uint32_t bufsize =
	        cur->max_header_size + 1024 < 16384 ? 16384 : cur->max_header_size + 1024;
	if (next->max_header_size + 1024 > bufsize) {
		snprintf(err, errlen,
		         "%s: client.max_header_size: raising it above %u bytes needs a restart",
		         next->source, bufsize - 1024);
		return -EINVAL;
	}
	if (next->workers != cur->workers)
		fc_warn("reload: workers: changing the number of workers needs a restart; still "
		        "%u",
		        cur->workers);
	if (next->io_uring != cur->io_uring)
		fc_warn("reload: io_uring: a change needs a restart");
	if (is_file_log(cur->access_log) != is_file_log(next->access_log) ||
	    (!is_file_log(cur->access_log) && strcmp(cur->access_log, next->access_log) != 0))
		fc_warn("reload: log.access: changing between off, stdout, stderr and a file "
		        "needs a restart; still writing to %s",
		        cur->access_log);
	if (strcmp(cur->state_dir, next->state_dir) != 0)
		fc_warn("reload: state_dir: a change needs a restart");
	return 0;
}

/* Counts what a reload changed, for its log line. */
static void describe(const struct fc_config *a, const struct fc_config *b, char *buf, size_t len)
{
	size_t added = 0, removed = 0, servers = 0;
	for (size_t i = 0; i < b->n_pools; i++) {
		const struct fc_config_pool *np = &b->pools[i];
		const struct fc_config_pool *op = fc_config_pool_find(a, np->name);
		for (size_t k = 0; k < np->n_servers; k++) {
			if (np->servers[k].discovered)
				continue; /* DNS's, not the file's */
			servers++;
			bool found = false;
			for (size_t j = 0; op && j < op->n_servers && !found; j++)
				found = strcmp(op->servers[j].name, np->servers[k].name) == 0 &&
				        strcmp(op->servers[j].url, np->servers[k].url) == 0;
			added += !found;
		}
	}
	size_t old_servers = 0;
	for (size_t i = 0; i < a->n_pools; i++)
		for (size_t k = 0; k < a->pools[i].n_servers; k++)
			old_servers += !a->pools[i].servers[k].discovered;
	removed = old_servers + added - servers;
	snprintf(buf, len, "%zu listener%s, %zu pool%s, %zu server%s (%zu added, %zu removed)",
	         b->n_listeners, b->n_listeners == 1 ? "" : "s", b->n_pools,
	         b->n_pools == 1 ? "" : "s", servers, servers == 1 ? "" : "s", added, removed);
}

/* Loads the file again and, when it is good, runs new requests on it. On
 * any error nothing changes. 0, or -errno with the reason in err. */
static int reload(struct control *ctl, char *err, size_t errlen)
{
	const struct fc_control_source *src = ctl->src;
	if (!src || !src->path) {
		snprintf(err, errlen,
		         "no configuration file to reload (started with --listen/--to)");
		return -ENOENT;
	}
	if (src->notify_reloading)
		src->notify_reloading();
	struct fc_config *cfg = fc_config_load_file(src->path, err, errlen);
	struct fc_runtime *rt = NULL;
	int *fds = NULL;
	int rc = -EINVAL;
	if (!cfg)
		goto fail;
	if (fc_config_apply_env(cfg, err, errlen) < 0 ||
	    (src->log_level && fc_config_parse_log_level(src->log_level, &cfg->log_level) < 0))
		goto fail;
	cfg->workers = ctl->cfg->workers;
	if (src->prepare && src->prepare(cfg, err, errlen) < 0)
		goto fail;
	if (check_fixed(ctl->cfg, cfg, err, errlen) < 0)
		goto fail;
	/* the servers DNS brought stay, with their state, when discover: did */
	if (fc_discovery_carry(ctl->discovery, cfg) < 0) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = build_runtime(ctl, cfg, ctl->rt, &rt, err, errlen);
	if (rc < 0)
		goto fail;
	rc = fc_workers_listen(cfg, ctl->cfg, ctl->n_workers, &fds, err, errlen);
	if (rc < 0)
		goto fail;
	if (is_file_log(cfg->access_log) && is_file_log(ctl->cfg->access_log) &&
	    strcmp(cfg->access_log, ctl->cfg->access_log) != 0 &&
	    (rc = reopen_onto(ctl->access_fd, cfg->access_log)) < 0) {
		snprintf(err, errlen, "%s: log.access: %s: %s", cfg->source, cfg->access_log,
		         strerror(-rc));
		goto fail;
	}
	/* from here on nothing fails */
	char what[160];
	describe(ctl->cfg, cfg, what, sizeof(what));
	struct fc_runtime *prev = ctl->rt;
	if (fc_glimits_configure(ctl->glimits, cfg) < 0)
		fc_error("reload: cluster.redis: out of memory: global rate limits follow "
		         "on_redis_down");
	fc_runtime_activate(rt, prev);
	maintain_all(ctl, rt);
	fc_health_start(rt->health);
	fc_workers_swap(ctl->ws, ctl->n_workers, rt, fds);
	if (ctl->wakes)
		fc_wakes_update(ctl->wakes, rt);
	free(fds);
	struct retired *r = malloc(sizeof(*r));
	if (r) {
		r->rt = prev;
		r->next = ctl->retired;
		ctl->retired = r;
		fc_runtime_unref(prev); /* the control thread's reference */
	} else {
		fc_error("out of memory: the replaced configuration stays in memory");
	}
	ctl->rt = rt;
	discovery_update(ctl);
	if (strcmp(cfg->error_log, ctl->cfg->error_log) != 0 && fc_log_reopen(cfg->error_log) < 0)
		fc_error("reload: log.error: cannot open %s; still writing to %s", cfg->error_log,
		         ctl->cfg->error_log);
	fc_log_level = (int)cfg->log_level;
	fc_config_unref(ctl->cfg);
	ctl->cfg = cfg;
	ctl->stats.ok++;
	ctl->stats.last_success = realtime_s();
	fc_info("reload: %s: %s (configuration %llu)", cfg->source, what,
	        (unsigned long long)rt->generation);
	if (src->notify_ready)
		src->notify_ready();
	return 0;
fail:
	free(fds);
	fc_runtime_destroy(rt);
	fc_config_unref(cfg);
	ctl->stats.failed++;
	fc_error("reload failed, still running the previous configuration: %s", err);
	if (src->notify_ready)
		src->notify_ready();
	return rc < 0 ? rc : -EINVAL;
}

int fc_control_reload(struct fc_control *ctl, char *err, size_t errlen)
{
	return reload((struct control *)ctl, err, errlen);
}

const struct fc_reload_stats *fc_control_reload_stats(const struct fc_control *ctl)
{
	return &((const struct control *)ctl)->stats;
}

struct fc_runtime *fc_control_runtime(struct fc_control *ctl)
{
	return ((struct control *)ctl)->rt;
}

const struct fc_discovery *fc_control_discovery(const struct fc_control *ctl)
{
	return ((const struct control *)ctl)->discovery;
}

int fc_control_wake(struct fc_control *ctl, const char *pool, const char **state)
{
	struct control *c = (struct control *)ctl;
	return c->wakes ? fc_wakes_wake(c->wakes, pool, state) : -ENOENT;
}

struct fc_glimits *fc_control_glimits(struct fc_control *ctl)
{
	return ((struct control *)ctl)->glimits;
}

struct fc_worker *fc_control_workers(struct fc_control *ctl, uint32_t *n)
{
	*n = ((struct control *)ctl)->n_workers;
	return ((struct control *)ctl)->ws;
}

/* The answer fulcrum --reload waits for: "<token> ok" or "<token> failed: why". */
static void write_reload_answer(struct control *ctl, int token, int rc, const char *err)
{
	const char *pid_file = ctl->cfg->pid_file;
	if (!pid_file || !token)
		return;
	char path[4096], text[4200];
	snprintf(path, sizeof(path), "%s.reload", pid_file);
	int n = snprintf(text, sizeof(text), "%d %s%s%.4000s\n", token, rc == 0 ? "ok" : "failed",
	                 rc == 0 ? "" : ": ", rc == 0 ? "" : err);
	int wrc = fc_file_replace(path, text, (size_t)n, 0644, false, NULL);
	if (wrc < 0)
		fc_warn("reload: cannot write %s: %s", path, strerror(-wrc));
}

/* ---------------------------------------------------------------- watch */

static void on_watch_settled(struct fc_loop *loop, struct fc_timer *t)
{
	struct control *ctl = fc_link_entry(t, struct control, watch_settle);
	char err[4096] = "";
	(void)loop;
	fc_info("watch: %s changed, reloading", ctl->src->path);
	reload(ctl, err, sizeof(err));
}

static void on_watch(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct control *ctl = fc_link_entry(io, struct control, watch);
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	(void)ev;
	char *base = strrchr(ctl->src->path, '/');
	base = base ? base + 1 : (char *)ctl->src->path;
	bool hit = false;
	ssize_t n;
	while ((n = read(io->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			if (e->len && strcmp(e->name, base) == 0)
				hit = true;
			p += sizeof(*e) + e->len;
		}
	}
	if (hit) /* editors write in steps: wait until they are done */
		fc_timer_set(loop, &ctl->watch_settle, loop->now_ms + WATCH_SETTLE_MS);
}

static void watch_start(struct control *ctl)
{
	ctl->watch.fd = -1;
	if (!ctl->cfg->watch || !ctl->src || !ctl->src->path)
		return;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", ctl->src->path);
	char *d = dirname(dir);
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0 || (ctl->watch_wd = inotify_add_watch(
	                       fd, d, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)) < 0) {
		fc_error("watch: cannot watch %s: %s; reload with SIGHUP", d, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	ctl->watch.fd = fd;
	ctl->watch.cb = on_watch;
	ctl->watch_settle.cb = on_watch_settled;
	fc_loop_add_level(&ctl->loop, &ctl->watch);
	fc_info("watch: reloading when %s changes", ctl->src->path);
}

/* ---------------------------------------------------------------- signals */

static void on_signal(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct control *ctl = fc_link_entry(io, struct control, sig);
	(void)ev;
	struct signalfd_siginfo si;
	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int sig = (int)si.ssi_signo;
		if (sig == SIGUSR1) {
			/* log rotation: reopen both logs by their paths */
			int e1 = fc_log_reopen(ctl->cfg->error_log);
			int e2 = is_file_log(ctl->cfg->access_log)
			                 ? reopen_onto(ctl->access_fd, ctl->cfg->access_log)
			                 : 0;
			if (e1 < 0 || e2 < 0)
				fc_error("SIGUSR1: cannot reopen logs: %s",
				         strerror(-(e1 < 0 ? e1 : e2)));
			else
				fc_info("SIGUSR1: logs reopened");
		} else if (sig == SIGHUP) {
			char err[4096] = "";
			fc_info("SIGHUP: reloading %s",
			        ctl->src && ctl->src->path ? ctl->src->path : "(no file)");
			int rc = reload(ctl, err, sizeof(err));
			/* fulcrum --reload sends its token as the signal's value */
			if (si.ssi_code == SI_QUEUE)
				write_reload_answer(ctl, si.ssi_int, rc, err);
		} else {
			fc_info("%s: stopping; in-flight requests have %u ms", strsignal(sig),
			        ctl->cfg->shutdown_grace_ms);
			if (ctl->src && ctl->src->notify_stopping)
				ctl->src->notify_stopping();
			loop->stop = true;
		}
	}
}

/* ---------------------------------------------------------------- run */

static void write_pid_file(struct control *ctl)
{
	const char *path = ctl->cfg->pid_file;
	if (!path)
		return;
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	int rc = fc_file_replace(path, text, (size_t)n, 0644, false, NULL);
	if (rc < 0)
		fc_error("pid_file: cannot write %s: %s", path, strerror(-rc));
}

int fc_control_run(struct fc_config *cfg, uint32_t n_workers, const struct fc_control_source *src)
{
	struct control ctl = {
	        .cfg = fc_config_ref(cfg), .n_workers = n_workers, .src = src, .sig = {.fd = -1}};
	ctl.watch.fd = -1;
	char err[4096] = "";
	int rc = fc_loop_init(&ctl.loop);
	if (rc < 0) {
		fc_error("control loop: %s", strerror(-rc));
		fc_config_unref(ctl.cfg);
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
	ctl.access_fd = open_access_log(cfg->access_log);
	if (ctl.access_fd < 0 && is_file_log(cfg->access_log)) {
		fc_error("log.access: %s: %s", cfg->access_log, strerror(-ctl.access_fd));
		goto out;
	}
	if (ctl.sig.fd < 0) {
		fc_error("signalfd: %s", strerror(errno));
		goto out;
	}
	fc_loop_add_level(&ctl.loop, &ctl.sig);
	ctl.have_secret = fc_state_sticky_secret(cfg, ctl.secret) == 0;
	rc = fc_wakes_create(&ctl.loop, &ctl.wakes);
	if (rc < 0) {
		fc_error("wake: %s", strerror(-rc));
		ctl.wakes = NULL;
		goto out;
	}
	rc = fc_discovery_create(&ctl.loop, &ctl.discovery);
	if (rc < 0) {
		fc_error("discover: %s", strerror(-rc));
		goto out;
	}
	rc = fc_glimits_create(&ctl.loop, &ctl.glimits);
	if (rc < 0) {
		fc_error("cluster: %s", strerror(-rc));
		ctl.glimits = NULL;
		goto out;
	}
	ctl.loop.before_wait = fc_glimits_flush;
	ctl.loop.before_wait_arg = ctl.glimits;
	if (fc_glimits_configure(ctl.glimits, cfg) < 0) {
		fc_error("cluster.redis: out of memory");
		goto out;
	}
	if (build_runtime(&ctl, cfg, NULL, &ctl.rt, err, sizeof(err)) < 0) {
		fc_error("%s", err);
		goto out;
	}
	fc_runtime_activate(ctl.rt, NULL);
	maintain_all(&ctl, ctl.rt);
	if (fc_workers_start(ctl.rt, &ctl.conns, &ctl.ws, n_workers, err, sizeof(err)) < 0) {
		fc_error("%s", err);
		ctl.ws = NULL;
		goto out;
	}
	for (size_t i = 0; i < cfg->n_listeners; i++)
		fc_info("fulcrum %s: listener %s on %s, %u worker%s", FULCRUM_VERSION,
		        cfg->listeners[i].name, cfg->listeners[i].address, n_workers,
		        n_workers == 1 ? "" : "s");
	rc = fc_health_start(ctl.rt->health);
	if (rc < 0) {
		fc_error("health checks: %s", strerror(-rc));
		goto out;
	}
	fc_wakes_update(ctl.wakes, ctl.rt);
	discovery_update(&ctl);
	ctl.stats.last_success = realtime_s();
	write_pid_file(&ctl);
	watch_start(&ctl);
	if (src && src->started &&
	    src->started((struct fc_control *)&ctl, &ctl.loop, err, sizeof(err)) < 0) {
		fc_error("%s", err);
		goto out;
	}
	if (src && src->notify_ready)
		src->notify_ready();
	fc_loop_update_time(&ctl.loop);
	ctl.maintain.cb = on_maintain;
	fc_timer_set(&ctl.loop, &ctl.maintain, ctl.loop.now_ms + MAINTAIN_MS);
	fc_loop_run(&ctl.loop);
	fc_timer_cancel(&ctl.loop, &ctl.maintain);
	fc_timer_cancel(&ctl.loop, &ctl.watch_settle);
	status = 0;
out:
	/* the admin API looks at the workers: it goes first */
	if (src && src->stopping)
		src->stopping((struct fc_control *)&ctl);
	if (ctl.ws)
		fc_workers_stop(ctl.ws, n_workers, status == 0 ? ctl.cfg->shutdown_grace_ms : 0);
	ctl.ws = NULL;
	fc_wakes_destroy(ctl.wakes); /* no worker asks for a wake any more */
	ctl.wakes = NULL;
	fc_discovery_destroy(ctl.discovery);
	ctl.discovery = NULL;
	ctl.loop.before_wait = NULL;
	fc_glimits_destroy(ctl.glimits); /* nor for a lease */
	ctl.glimits = NULL;
	/* workers are gone: nothing reports to health any more */
	while (ctl.retired) {
		struct retired *r = ctl.retired;
		ctl.retired = r->next;
		fc_runtime_destroy(r->rt);
		free(r);
	}
	fc_runtime_destroy(ctl.rt);
	if (ctl.cfg->pid_file && status == 0)
		unlink(ctl.cfg->pid_file);
	if (ctl.watch.fd >= 0)
		close(ctl.watch.fd);
	if (ctl.sig.fd >= 0)
		close(ctl.sig.fd);
	if (ctl.access_fd > 2)
		close(ctl.access_fd);
	fc_config_unref(ctl.cfg);
	fc_loop_fini(&ctl.loop);
	if (status == 0)
		fc_info("stopped");
	return status;
}
