/* wake.c — waking idle servers (docs/traffic.md, "Waking idle servers"), on
 * the control thread: a pool with wake: whose servers are asleep parks its
 * requests in its queue; the first one asks (through this module's
 * mailbox) for a wake, which runs wake.command (posix_spawn, no shell, its
 * output to the error log line by line) or POSTs to wake.url, then waits
 * for the servers' health checks (a TCP connect for servers without any),
 * then hands every parked request its turn, oldest first. A wake that fails
 * (the command exits non-zero, or wake.timeout passes) answers them 503.
 * After wake.idle_after without a request, stop_command runs and the
 * servers are asleep again. At start (and when a reload adds wake:) each
 * server is probed once: one that does not answer starts asleep. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sock.h"
#include "health/health.h"
#include "proxy/proxy.h"
#include "proxy/wake.h"

extern char **environ;

#define IDLE_CHECK_MS 1000 /* how often idle_after is looked at */
#define POLL_EXIT_MS  50   /* a child's exit is polled this often without a pidfd */

/* A wake or stop command running, or a wake's POST. */
struct job {
	pid_t pid;        /* 0: no command */
	struct fc_io pfd; /* pidfd: readable once the child exited; fd -1: polled */
	struct fc_timer poll;
	struct fc_io out; /* the child's stdout and stderr; fd -1: closed */
	char line[256];
	size_t len;
	bool stop;      /* stop_command (else the wake's) */
	bool timed_out; /* killed at the deadline */
	/* wake.url */
	struct fc_io http; /* fd -1: none */
	char req[1400];
	size_t req_len, sent;
	char resp[256];
	size_t resp_len;
	bool connected;
};

struct wake {
	struct wake *next;
	struct fc_wakes *ws;
	char *name;
	struct fc_rt_queue *q;            /* referenced */
	struct fc_rt_pool *pool;          /* the current runtime's */
	const struct fc_config_wake *cfg; /* NULL: the current configuration has no wake: */
	enum fc_wake_state state;
	bool again;       /* a wake was asked while it probed or stopped */
	bool any_up;      /* this wake (or probe) woke a server */
	uint32_t pending; /* servers probing or waking */
	uint64_t since_ms;
	uint64_t last_ms;    /* the last sign of traffic (idle_after) */
	uint64_t last_count; /* the pool's requests then */
	struct fc_timer deadline;
	struct job job;
};

struct fc_wakes {
	struct fc_loop *loop;
	struct fc_mailbox mb;
	bool mb_open, closing;
	struct fc_timer idle;
	struct wake *list;
	struct fc_runtime *rt; /* the current one (fc_wakes_update) */
};

static const char *const state_names[] = {
        [FC_WAKE_AWAKE] = "awake",   [FC_WAKE_PROBING] = "probing",   [FC_WAKE_ASLEEP] = "asleep",
        [FC_WAKE_WAKING] = "waking", [FC_WAKE_STOPPING] = "stopping",
};

const char *fc_wake_state_name(enum fc_wake_state st)
{
	return (unsigned)st < sizeof(state_names) / sizeof(state_names[0]) ? state_names[st] : "?";
}

static void set_state(struct wake *wk, enum fc_wake_state st)
{
	wk->state = st;
	wk->since_ms = wk->ws->loop->now_ms;
	atomic_store_explicit(&wk->q->wake_state, (uint8_t)st, memory_order_release);
}

static void ms_text(char *buf, size_t len, uint64_t ms)
{
	if (ms < 1000)
		snprintf(buf, len, "%llu ms", (unsigned long long)ms);
	else
		snprintf(buf, len, "%.1f s", (double)ms / 1000.0);
}

/* ---------------------------------------------------------------- servers */

/* Calls fn on the health record of every server of the pool. */
static void each_health(struct wake *wk, void (*fn)(struct wake *wk, struct fc_health_server *hs))
{
	struct fc_pool *pool = wk->pool->pool;
	size_t cap = fc_pool_size(pool) + 16;
	struct fc_server **list = calloc(cap, sizeof(*list));
	if (!list) {
		fc_error("pool %s: out of memory walking its servers", wk->name);
		return;
	}
	size_t n = fc_pool_servers(pool, list, cap);
	for (size_t i = 0; i < n; i++) {
		struct fc_rt_server *rs = fc_server_user(list[i]);
		struct fc_health_server *hs = rs ? atomic_load(&rs->health) : NULL;
		if (hs)
			fn(wk, hs);
		fc_server_unref(list[i]);
	}
	free(list);
}

static void count_asleep(struct wake *wk, struct fc_health_server *hs)
{
	wk->pending += fc_health_server_asleep(hs);
}

static bool any_asleep(struct wake *wk)
{
	uint32_t saved = wk->pending;
	wk->pending = 0;
	each_health(wk, count_asleep);
	bool any = wk->pending > 0;
	wk->pending = saved;
	return any;
}

static void server_wake(struct wake *wk, struct fc_health_server *hs)
{
	if (!fc_health_server_asleep(hs))
		return;
	wk->pending++;
	fc_health_server_wake(hs, wk->state == FC_WAKE_PROBING, wk->ws->loop->now_ns);
}

static void server_probe(struct wake *wk, struct fc_health_server *hs)
{
	fc_health_server_sleep(hs, true, "probing it at start", wk->ws->loop->now_ns);
	server_wake(wk, hs);
}

static void server_sleep_idle(struct wake *wk, struct fc_health_server *hs)
{
	char why[64], d[32];
	ms_text(d, sizeof(d), wk->cfg ? wk->cfg->idle_after_ms : 0);
	snprintf(why, sizeof(why), "no request for %s", d);
	fc_health_server_sleep(hs, true, why, wk->ws->loop->now_ns);
}

static void server_sleep_again(struct wake *wk, struct fc_health_server *hs)
{
	/* a waking server whose wake failed: back to plain sleep */
	if (fc_health_server_asleep(hs))
		fc_health_server_sleep(hs, true, "the wake failed", wk->ws->loop->now_ns);
}

static void server_unsleep(struct wake *wk, struct fc_health_server *hs)
{
	fc_health_server_sleep(hs, false, "wake: was removed", wk->ws->loop->now_ns);
}

/* ---------------------------------------------------------------- jobs */

static void job_done(struct wake *wk, bool ok, const char *why);

static void out_close(struct wake *wk)
{
	struct job *j = &wk->job;
	if (j->out.fd < 0)
		return;
	if (j->len) {
		fc_info("pool %s: %s: %.*s", wk->name, j->stop ? "stop_command" : "wake",
		        (int)j->len, j->line);
		j->len = 0;
	}
	fc_loop_del(wk->ws->loop, &j->out);
	close(j->out.fd);
	j->out.fd = -1;
}

/* The command's output, one error-log line per line. */
static void on_out(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct job *j = fc_link_entry(io, struct job, out);
	struct wake *wk = fc_link_entry(j, struct wake, job);
	(void)loop;
	(void)ev;
	char buf[1024];
	ssize_t n;
	while ((n = read(io->fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			char ch = buf[i];
			if (ch == '\n' || j->len == sizeof(j->line)) {
				fc_info("pool %s: %s: %.*s", wk->name,
				        j->stop ? "stop_command" : "wake", (int)j->len, j->line);
				j->len = 0;
				if (ch == '\n')
					continue;
			}
			j->line[j->len++] = ch >= ' ' || ch == '\t' ? ch : '?';
		}
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		out_close(wk); /* every writer closed its end */
}

/* The child exited (or may have: polled). */
static void reap(struct wake *wk)
{
	struct job *j = &wk->job;
	int st = 0;
	pid_t r = waitpid(j->pid, &st, WNOHANG);
	if (r == 0)
		return; /* not yet */
	if (j->pfd.fd >= 0) {
		fc_loop_del(wk->ws->loop, &j->pfd);
		close(j->pfd.fd);
		j->pfd.fd = -1;
	}
	fc_timer_cancel(wk->ws->loop, &j->poll);
	j->pid = 0;
	/* what it wrote before it exited; a process it left running keeps
	 * the pipe open, so it is not waited for */
	if (j->out.fd >= 0)
		on_out(wk->ws->loop, &j->out, EPOLLIN);
	out_close(wk);
	char why[160];
	bool ok = r > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (j->timed_out) {
		char d[32];
		ms_text(d, sizeof(d), wk->cfg ? wk->cfg->timeout_ms : 0);
		snprintf(why, sizeof(why), "%s did not finish within %s (killed)",
		         j->stop ? "stop_command" : "the command", d);
		ok = false;
	} else if (r < 0) {
		snprintf(why, sizeof(why), "waitpid: %s", strerror(errno));
	} else if (WIFEXITED(st)) {
		snprintf(why, sizeof(why), "%s exited with status %d",
		         j->stop ? "stop_command" : "the command", WEXITSTATUS(st));
	} else {
		snprintf(why, sizeof(why), "%s was killed by signal %d",
		         j->stop ? "stop_command" : "the command",
		         WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	}
	j->timed_out = false;
	job_done(wk, ok, why);
}

static void on_exit_fd(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct job *j = fc_link_entry(io, struct job, pfd);
	(void)loop;
	(void)ev;
	reap(fc_link_entry(j, struct wake, job));
}

static void on_poll(struct fc_loop *loop, struct fc_timer *t)
{
	struct job *j = fc_link_entry(t, struct job, poll);
	struct wake *wk = fc_link_entry(j, struct wake, job);
	reap(wk);
	if (wk->job.pid)
		fc_timer_set(loop, t, loop->now_ms + POLL_EXIT_MS);
}

/* Runs argv without a shell: stdin /dev/null, stdout and stderr into a pipe
 * read here, signals as a fresh process has them, a session of its own. */
static int run(struct wake *wk, char **argv, bool stop, char *why, size_t whylen)
{
	struct job *j = &wk->job;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawnattr_init(&at);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
#ifdef POSIX_SPAWN_SETSID
	flags |= POSIX_SPAWN_SETSID;
#endif
	posix_spawnattr_setflags(&at, flags);
	posix_spawnattr_setsigmask(&at, &none); /* the control thread blocks its signals */
	posix_spawnattr_setsigdefault(&at, &all);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		snprintf(why, whylen, "cannot run %s: %s", argv[0], strerror(rc));
		return -1;
	}
	j->pid = pid;
	j->stop = stop;
	j->timed_out = false;
	j->len = 0;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	j->out.fd = p[0];
	j->out.cb = on_out;
	if (fc_loop_add_level(wk->ws->loop, &j->out) < 0) {
		close(p[0]);
		j->out.fd = -1;
	}
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	j->pfd.fd = pfd;
	j->pfd.cb = on_exit_fd;
	if (pfd < 0 || fc_loop_add_level(wk->ws->loop, &j->pfd) < 0) {
		if (pfd >= 0)
			close(pfd);
		j->pfd.fd = -1;
		fc_timer_set(wk->ws->loop, &j->poll, wk->ws->loop->now_ms + POLL_EXIT_MS);
	}
	fc_info("pool %s: %s: running %s (pid %ld)", wk->name, stop ? "stop_command" : "wake",
	        argv[0], (long)pid);
	return 0;
}

static void http_close(struct wake *wk)
{
	struct job *j = &wk->job;
	if (j->http.fd < 0)
		return;
	fc_loop_del(wk->ws->loop, &j->http);
	close(j->http.fd);
	j->http.fd = -1;
}

static void http_end(struct wake *wk, bool ok, const char *why)
{
	http_close(wk);
	job_done(wk, ok, why);
}

/* wake.url: connect, send the POST, read the status line. */
static void on_http(struct fc_loop *loop, struct fc_io *io, uint32_t ev)
{
	struct job *j = fc_link_entry(io, struct job, http);
	struct wake *wk = fc_link_entry(j, struct wake, job);
	(void)loop;
	char why[160];
	if (!j->connected) {
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int err = fc_sock_error(io->fd);
		if (err < 0) {
			snprintf(why, sizeof(why), "POST %s: connect: %s", wk->cfg->url,
			         strerror(-err));
			http_end(wk, false, why);
			return;
		}
		j->connected = true;
	}
	while (j->sent < j->req_len) {
		ssize_t n = send(io->fd, j->req + j->sent, j->req_len - j->sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			snprintf(why, sizeof(why), "POST %s: send: %s", wk->cfg->url,
			         strerror(errno));
			http_end(wk, false, why);
			return;
		}
		j->sent += (size_t)n;
	}
	for (;;) {
		ssize_t n =
		        recv(io->fd, j->resp + j->resp_len, sizeof(j->resp) - 1 - j->resp_len, 0);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n > 0)
			j->resp_len += (size_t)n;
		j->resp[j->resp_len] = 0;
		char *eol = strstr(j->resp, "\r\n");
		if (eol || n <= 0 || j->resp_len == sizeof(j->resp) - 1) {
			int status = 0;
			if (strncmp(j->resp, "HTTP/1.", 7) == 0 && j->resp_len >= 12)
				status = atoi(j->resp + 9);
			if (eol)
				*eol = 0;
			if (status >= 200 && status <= 299) {
				http_end(wk, true, NULL);
				return;
			}
			if (status)
				snprintf(why, sizeof(why), "POST %s answered %.80s", wk->cfg->url,
				         j->resp);
			else
				snprintf(why, sizeof(why), "POST %s: %s", wk->cfg->url,
				         n < 0 ? strerror(errno) : "no HTTP answer");
			http_end(wk, false, why);
			return;
		}
	}
}

static int post(struct wake *wk, char *why, size_t whylen)
{
	struct job *j = &wk->job;
	const struct fc_config_wake *c = wk->cfg;
	int n = snprintf(j->req, sizeof(j->req),
	                 "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: fulcrum-wake\r\n"
	                 "Content-Length: 0\r\nConnection: close\r\n\r\n",
	                 c->url_path, c->url_host);
	if (n < 0 || (size_t)n >= sizeof(j->req)) {
		snprintf(why, whylen, "POST %s: the URL is too long", c->url);
		return -1;
	}
	j->req_len = (size_t)n;
	j->sent = j->resp_len = 0;
	j->connected = false;
	int fd = fc_sock_connect((const struct sockaddr *)&c->url_addr, c->url_addr_len);
	if (fd < 0) {
		snprintf(why, whylen, "POST %s: connect: %s", c->url, strerror(-fd));
		return -1;
	}
	j->http.fd = fd;
	j->http.cb = on_http;
	if (fc_loop_add(wk->ws->loop, &j->http) < 0) {
		close(fd);
		j->http.fd = -1;
		snprintf(why, whylen, "POST %s: cannot watch the connection", c->url);
		return -1;
	}
	fc_info("pool %s: wake: POST %s", wk->name, c->url);
	return 0;
}

static bool job_running(const struct wake *wk)
{
	return wk->job.pid || wk->job.http.fd >= 0;
}

/* ---------------------------------------------------------------- the states */

static void wake_start(struct wake *wk, const char *why);

static void kick(struct wake *wk, bool fail)
{
	fc_queue_kick(wk->q, fail);
}

/* The wake failed: its waiting requests are answered 503. */
static void wake_failed(struct wake *wk, const char *why)
{
	fc_timer_cancel(wk->ws->loop, &wk->deadline);
	wk->pending = 0;
	each_health(wk, server_sleep_again);
	set_state(wk, FC_WAKE_ASLEEP);
	fc_warn("pool %s: the wake failed: %s; the requests waiting for it are answered 503",
	        wk->name, why);
	kick(wk, true);
}

static void stop_done(struct wake *wk, bool ok, const char *why)
{
	fc_timer_cancel(wk->ws->loop, &wk->deadline);
	if (!ok)
		fc_warn("pool %s: stop_command failed: %s (its servers are asleep all the same)",
		        wk->name, why);
	else
		fc_info("pool %s: servers stopped; asleep until a request comes", wk->name);
	set_state(wk, FC_WAKE_ASLEEP);
	if (wk->again) {
		wk->again = false;
		wake_start(wk, "a request came while it stopped");
	}
}

static void job_done(struct wake *wk, bool ok, const char *why)
{
	if (wk->job.stop) {
		wk->job.stop = false;
		stop_done(wk, ok, why);
		return;
	}
	if (wk->state != FC_WAKE_WAKING)
		return; /* failed meanwhile (deadline) */
	if (!ok) {
		wake_failed(wk, why);
		return;
	}
	/* started: now its health checks say when it takes requests */
	wk->pending = 0;
	each_health(wk, server_wake);
	if (wk->pending == 0) { /* nothing was asleep any more */
		fc_timer_cancel(wk->ws->loop, &wk->deadline);
		set_state(wk, FC_WAKE_AWAKE);
		kick(wk, false);
		return;
	}
	fc_info("pool %s: wake started; waiting for %u server%s to pass %s", wk->name, wk->pending,
	        wk->pending == 1 ? "" : "s", "its health checks");
}

static void on_deadline(struct fc_loop *loop, struct fc_timer *t)
{
	struct wake *wk = fc_link_entry(t, struct wake, deadline);
	(void)loop;
	char d[32], why[160];
	ms_text(d, sizeof(d), wk->cfg ? wk->cfg->timeout_ms : 0);
	if (wk->job.pid) {
		/* the command's whole session: it had its time */
		wk->job.timed_out = true;
		kill(-wk->job.pid, SIGKILL);
		kill(wk->job.pid, SIGKILL);
		return; /* its exit ends the wake or the stop */
	}
	if (wk->job.http.fd >= 0) {
		snprintf(why, sizeof(why), "POST %s: no answer within %s", wk->cfg->url, d);
		http_end(wk, false, why);
		return;
	}
	if (wk->state == FC_WAKE_WAKING && !wk->any_up) {
		snprintf(why, sizeof(why), "no server passed its health checks within %s", d);
		wake_failed(wk, why);
	} else if (wk->state == FC_WAKE_AWAKE && wk->pending) {
		fc_warn("pool %s: %u server%s did not wake within %s; asleep", wk->name,
		        wk->pending, wk->pending == 1 ? "" : "s", d);
		wk->pending = 0;
		each_health(wk, server_sleep_again);
	}
}

static void wake_start(struct wake *wk, const char *why)
{
	if (!wk->cfg || wk->state == FC_WAKE_WAKING || wk->state == FC_WAKE_PROBING) {
		wk->again |= wk->state == FC_WAKE_PROBING;
		return;
	}
	if (wk->state == FC_WAKE_STOPPING) {
		wk->again = true;
		return;
	}
	set_state(wk, FC_WAKE_WAKING);
	wk->any_up = false;
	wk->pending = 0;
	fc_info("pool %s: waking (%s)", wk->name, why);
	fc_timer_set(wk->ws->loop, &wk->deadline, wk->ws->loop->now_ms + wk->cfg->timeout_ms);
	char err[300];
	int rc = wk->cfg->command ? run(wk, wk->cfg->command, false, err, sizeof(err))
	                          : post(wk, err, sizeof(err));
	if (rc < 0)
		wake_failed(wk, err);
}

static void stop_start(struct wake *wk)
{
	set_state(wk, FC_WAKE_STOPPING);
	wk->again = false;
	char d[32];
	ms_text(d, sizeof(d), wk->cfg->idle_after_ms);
	fc_info("pool %s: no request for %s: putting its servers to sleep", wk->name, d);
	each_health(wk, server_sleep_idle);
	if (!wk->cfg->stop_command) {
		stop_done(wk, true, NULL);
		return;
	}
	fc_timer_set(wk->ws->loop, &wk->deadline, wk->ws->loop->now_ms + wk->cfg->timeout_ms);
	char err[300];
	if (run(wk, wk->cfg->stop_command, true, err, sizeof(err)) < 0)
		stop_done(wk, false, err);
}

static void probe_start(struct wake *wk)
{
	set_state(wk, FC_WAKE_PROBING);
	wk->any_up = false;
	wk->pending = 0;
	each_health(wk, server_probe);
	if (wk->pending == 0)
		set_state(wk, FC_WAKE_AWAKE);
}

void fc_wakes_server_woke(struct fc_wakes *ws, struct fc_pool *pool, struct fc_server *srv, bool up)
{
	(void)srv;
	struct wake *wk = ws->list;
	while (wk && (!wk->pool || wk->pool->pool != pool))
		wk = wk->next;
	if (!wk)
		return;
	if (wk->pending)
		wk->pending--;
	if (up && !wk->any_up) {
		wk->any_up = true;
		uint64_t took = ws->loop->now_ms - wk->since_ms;
		if (wk->state == FC_WAKE_WAKING) {
			char d[32];
			ms_text(d, sizeof(d), took);
			uint32_t n = fc_queue_waiting(wk->q);
			fc_info("pool %s: awake after %s; the %u request%s waiting can go",
			        wk->name, d, n, n == 1 ? "" : "s");
		}
		set_state(wk, FC_WAKE_AWAKE);
		wk->last_ms = ws->loop->now_ms;
		kick(wk, false);
	}
	if (wk->pending == 0 && wk->state == FC_WAKE_AWAKE)
		fc_timer_cancel(ws->loop, &wk->deadline);
	if (wk->pending == 0 && wk->state == FC_WAKE_PROBING) {
		/* found down, every one of them */
		set_state(wk, FC_WAKE_ASLEEP);
		fc_info("pool %s: its servers do not answer: asleep until a request comes",
		        wk->name);
		if (wk->again || fc_queue_waiting(wk->q)) {
			wk->again = false;
			wake_start(wk, "a request came");
		}
	}
}

/* ---------------------------------------------------------------- idle */

static uint64_t pool_requests(const struct fc_rt_pool *p, uint32_t n_workers)
{
	uint64_t n = 0;
	for (uint32_t w = 0; p->ctr && w < n_workers; w++)
		for (int k = 0; k < FC_PROTO_N; k++)
			n += fc_ctr_get(&p->ctr[w].proto[k]);
	return n;
}

/* Requests on its servers or waiting: not idle. */
static bool pool_busy(struct wake *wk)
{
	struct fc_pool *pool = wk->pool->pool;
	size_t cap = fc_pool_size(pool) + 16;
	struct fc_server **list = calloc(cap, sizeof(*list));
	if (!list)
		return true;
	size_t n = fc_pool_servers(pool, list, cap);
	bool busy = false;
	for (size_t i = 0; i < n; i++) {
		struct fc_server_stats st;
		fc_server_stats(list[i], 0, &st);
		busy |= st.active > 0;
		fc_server_unref(list[i]);
	}
	free(list);
	return busy || fc_queue_waiting(wk->q) > 0;
}

static void on_idle(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_wakes *ws = fc_link_entry(t, struct fc_wakes, idle);
	for (struct wake *wk = ws->list; wk; wk = wk->next) {
		if (!wk->cfg || !wk->pool || !ws->rt)
			continue;
		uint64_t n = pool_requests(wk->pool, ws->rt->n_workers);
		if (n != wk->last_count || wk->state != FC_WAKE_AWAKE || pool_busy(wk)) {
			wk->last_count = n;
			wk->last_ms = loop->now_ms;
			continue;
		}
		if (wk->cfg->idle_after_ms &&
		    loop->now_ms - wk->last_ms >= wk->cfg->idle_after_ms && !job_running(wk))
			stop_start(wk);
	}
	fc_timer_set(loop, t, loop->now_ms + IDLE_CHECK_MS);
}

/* ---------------------------------------------------------------- requests */

void fc_wake_on_msg(struct fc_msg *m, void *arg)
{
	struct fc_wakes *ws = arg;
	struct fc_rt_queue *q = fc_link_entry(m, struct fc_rt_queue, wake_msg);
	atomic_store(&q->wake_posting, false);
	struct wake *wk = ws->list;
	while (wk && wk->q != q)
		wk = wk->next;
	if (!ws->closing && wk && wk->cfg && wk->pool) {
		if (wk->state == FC_WAKE_ASLEEP || (wk->state == FC_WAKE_AWAKE && any_asleep(wk)))
			wake_start(wk, "a request came");
		else if (wk->state == FC_WAKE_STOPPING || wk->state == FC_WAKE_PROBING)
			wk->again = true;
		else if (wk->state == FC_WAKE_AWAKE)
			kick(wk, false); /* awake already: the request may go */
	}
	fc_queue_unref(q);
}

int fc_wakes_wake(struct fc_wakes *ws, const char *pool, const char **state)
{
	struct wake *wk = ws->list;
	while (wk && strcmp(wk->name, pool) != 0)
		wk = wk->next;
	if (!wk || !wk->cfg || !wk->pool)
		return -ENOENT;
	if (wk->state == FC_WAKE_ASLEEP || (wk->state == FC_WAKE_AWAKE && any_asleep(wk)))
		wake_start(wk, "asked through the admin API");
	else if (wk->state == FC_WAKE_STOPPING)
		wk->again = true;
	*state = fc_wake_state_name(wk->state);
	return 0;
}

/* ---------------------------------------------------------------- life */

struct fc_mailbox *fc_wakes_mailbox(struct fc_wakes *ws)
{
	return ws && ws->mb_open ? &ws->mb : NULL;
}

int fc_wakes_create(struct fc_loop *loop, struct fc_wakes **out)
{
	struct fc_wakes *ws = calloc(1, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	ws->loop = loop;
	/* a SIGCHLD ignored by whoever started fulcrum would reap the
	 * commands before waitpid could read their status */
	signal(SIGCHLD, SIG_DFL);
	int rc = fc_mailbox_init(&ws->mb, loop, ws);
	if (rc < 0) {
		free(ws);
		return rc;
	}
	ws->mb_open = true;
	ws->idle.cb = on_idle;
	*out = ws;
	return 0;
}

static struct wake *wake_new(struct fc_wakes *ws, struct fc_rt_pool *p)
{
	struct wake *wk = calloc(1, sizeof(*wk));
	if (!wk || !(wk->name = strdup(p->cfg->name))) {
		free(wk);
		return NULL;
	}
	wk->ws = ws;
	wk->q = p->queue;
	fc_queue_ref(wk->q);
	wk->deadline.cb = on_deadline;
	wk->job.out.fd = wk->job.pfd.fd = wk->job.http.fd = -1;
	wk->job.poll.cb = on_poll;
	wk->next = ws->list;
	ws->list = wk;
	return wk;
}

static void rewake(struct wake *wk, struct fc_health_server *hs)
{
	/* a new runtime's record of a server that was waking: it wakes on */
	if (fc_health_server_asleep(hs)) {
		wk->pending++;
		fc_health_server_wake(hs, wk->state == FC_WAKE_PROBING, wk->ws->loop->now_ns);
	}
}

void fc_wakes_update(struct fc_wakes *ws, struct fc_runtime *rt)
{
	ws->rt = rt;
	fc_loop_update_time(ws->loop);
	for (struct wake *wk = ws->list; wk; wk = wk->next) {
		struct fc_rt_pool *p = fc_runtime_pool_named(rt, wk->name);
		bool keep = p && p->cfg->wake.enabled && p->queue;
		if (!keep && wk->cfg) {
			/* wake: is gone: its servers are woken by hand, what waits goes on */
			wk->cfg = NULL;
			wk->pool = p;
			if (p)
				each_health(wk, server_unsleep);
			fc_timer_cancel(ws->loop, &wk->deadline);
			set_state(wk, FC_WAKE_AWAKE);
			kick(wk, false);
			wk->pool = NULL;
			continue;
		}
		if (!keep)
			continue;
		if (wk->q !=
		    p->queue) { /* a new queue: wake: came back after a reload without it */
			fc_queue_unref(wk->q);
			wk->q = p->queue;
			fc_queue_ref(wk->q);
			set_state(wk, wk->state);
		}
		bool was = wk->cfg != NULL;
		wk->cfg = &p->cfg->wake;
		wk->pool = p;
		if (!was) {
			probe_start(wk);
		} else if (wk->pending && !job_running(wk)) {
			/* checks of the old runtime's records stopped: the new ones go on */
			wk->pending = 0;
			each_health(wk, rewake);
		}
	}
	for (size_t i = 0; i < rt->n_pools; i++) {
		struct fc_rt_pool *p = &rt->pools[i];
		if (!p->cfg->wake.enabled || !p->queue)
			continue;
		struct wake *wk = ws->list;
		while (wk && strcmp(wk->name, p->cfg->name) != 0)
			wk = wk->next;
		if (wk)
			continue;
		if (!(wk = wake_new(ws, p))) {
			fc_error("pool %s: out of memory for its wake:", p->cfg->name);
			continue;
		}
		wk->cfg = &p->cfg->wake;
		wk->pool = p;
		wk->last_ms = ws->loop->now_ms;
		probe_start(wk);
	}
	if (!ws->idle.slot)
		fc_timer_set(ws->loop, &ws->idle, ws->loop->now_ms + IDLE_CHECK_MS);
}

void fc_wakes_destroy(struct fc_wakes *ws)
{
	if (!ws)
		return;
	ws->closing = true;
	if (ws->mb_open)
		fc_mailbox_fini(&ws->mb); /* late requests: dropped (their queue unreferenced) */
	fc_timer_cancel(ws->loop, &ws->idle);
	while (ws->list) {
		struct wake *wk = ws->list;
		ws->list = wk->next;
		fc_timer_cancel(ws->loop, &wk->deadline);
		fc_timer_cancel(ws->loop, &wk->job.poll);
		out_close(wk);
		http_close(wk);
		if (wk->job.pfd.fd >= 0) {
			fc_loop_del(ws->loop, &wk->job.pfd);
			close(wk->job.pfd.fd);
		}
		/* a command still running is left to finish on its own */
		fc_queue_unref(wk->q);
		free(wk->name);
		free(wk);
	}
	free(ws);
}
