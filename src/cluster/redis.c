/* redis.c — hiredis's async context on an fc_loop. The loop watches the
 * socket edge-triggered for both directions once per connection; hiredis's
 * addRead/delRead/addWrite/delWrite only set what it wants. Reads drain the
 * socket (FIONREAD) since an edge comes once; writes go out when the loop is
 * about to wait (fc_redis_flush) or when the socket turns writable. Every
 * command carries its send time: the oldest one unanswered past the timeout
 * closes the connection, and reconnects back off from 100 ms to 5 s. */
#include "cluster/redis.h"

#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>

#include "core/log.h"

#define entry_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* A command in flight, oldest first. */
struct pending {
	struct pending *prev, *next;
	struct fc_redis *r;
	uint64_t sent_ms;
	fc_redis_reply_fn fn;
	void *arg;
};

struct fc_redis {
	struct fc_loop *loop;
	struct fc_redis_options o;
	char host[64];
	char *password;
	char address[80];
	redisAsyncContext *ac; /* NULL: not connected nor connecting */
	struct fc_io io;
	bool registered; /* io.fd is in the loop */
	bool connected;  /* the TCP connection is up (AUTH may still be on its way) */
	bool up;         /* commands may be sent */
	bool known;      /* up or down was logged once */
	bool want_write;
	uint64_t connect_start_ms;
	uint32_t backoff_ms;
	struct fc_timer watchdog; /* connect and answer deadlines */
	struct fc_timer retry;    /* the next connect */
	struct pending *head, *tail;
	struct fc_redis_stats st;
	char why[160]; /* the last failure, for the down line */
};

static void start_connect(struct fc_redis *r);

/* ---------------------------------------------------------------- state */

static void set_up(struct fc_redis *r)
{
	r->up = true;
	r->backoff_ms = r->o.backoff_min_ms;
	r->st.connects++;
	r->st.state_changes += r->known;
	r->known = true;
	fc_info("redis %s: up", r->address);
	if (r->o.on_state)
		r->o.on_state(r->o.arg, true);
}

/* The connection is gone (ac already freed or being freed): log the change,
 * tell the owner, and try again after the backoff. */
static void went_down(struct fc_redis *r, const char *why)
{
	bool was_up = r->up;
	r->connected = false;
	r->up = false;
	r->want_write = false;
	r->st.errors++;
	fc_timer_cancel(r->loop, &r->watchdog);
	if (was_up || !r->known) {
		r->st.state_changes += r->known;
		r->known = true;
		fc_warn("redis %s: down: %s (global rate limits follow on_redis_down; "
		        "reconnecting with backoff up to %u ms)",
		        r->address, why, r->o.backoff_max_ms);
		if (r->o.on_state)
			r->o.on_state(r->o.arg, false);
	}
	fc_loop_update_time(r->loop);
	fc_timer_set(r->loop, &r->retry, r->loop->now_ms + r->backoff_ms);
	r->backoff_ms =
	        r->backoff_ms * 2 > r->o.backoff_max_ms ? r->o.backoff_max_ms : r->backoff_ms * 2;
}

/* Closes the connection ourselves (a deadline passed, AUTH refused). */
static void fail(struct fc_redis *r, const char *why)
{
	redisAsyncContext *ac = r->ac;
	if (why != r->why)
		snprintf(r->why, sizeof(r->why), "%s", why);
	r->ac = NULL; /* its callbacks now see it is gone */
	if (ac)
		redisAsyncFree(ac); /* answers every pending command with NULL */
	went_down(r, r->why);
}

/* ---------------------------------------------------------------- deadlines */

static void arm_watchdog(struct fc_redis *r)
{
	uint64_t when = 0;
	if (r->ac && !r->connected)
		when = r->connect_start_ms + r->o.timeout_ms;
	else if (r->head)
		when = r->head->sent_ms + r->o.timeout_ms;
	if (!when)
		fc_timer_cancel(r->loop, &r->watchdog);
	else if (!r->watchdog.slot || r->watchdog.when != when)
		fc_timer_set(r->loop, &r->watchdog, when);
}

static void on_watchdog(struct fc_loop *loop, struct fc_timer *t)
{
	struct fc_redis *r = entry_of(t, struct fc_redis, watchdog);
	char why[96];
	if (r->ac && !r->connected && loop->now_ms >= r->connect_start_ms + r->o.timeout_ms) {
		snprintf(why, sizeof(why), "no connection within %u ms", r->o.timeout_ms);
		fail(r, why);
		return;
	}
	if (r->head && loop->now_ms >= r->head->sent_ms + r->o.timeout_ms) {
		snprintf(why, sizeof(why), "no answer within %u ms", r->o.timeout_ms);
		fail(r, why);
		return;
	}
	arm_watchdog(r);
}

static void on_retry(struct fc_loop *loop, struct fc_timer *t)
{
	(void)loop;
	start_connect(entry_of(t, struct fc_redis, retry));
}

/* ---------------------------------------------------------------- hiredis hooks */

static void ev_add_read(void *p)
{
	(void)p; /* always watched: edge-triggered for both directions */
}

static void ev_del_read(void *p)
{
	(void)p;
}

static void ev_add_write(void *p)
{
	((struct fc_redis *)p)->want_write = true;
}

static void ev_del_write(void *p)
{
	((struct fc_redis *)p)->want_write = false;
}

static void ev_cleanup(void *p)
{
	struct fc_redis *r = p;
	if (r->registered)
		fc_loop_del(r->loop, &r->io); /* before hiredis closes the fd */
	r->registered = false;
	r->io.fd = -1;
	r->want_write = false;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	(void)ac;
	struct pending *p = privdata;
	struct fc_redis *r = p->r;
	if (p->prev)
		p->prev->next = p->next;
	else
		r->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		r->tail = p->prev;
	redisReply *rep = reply;
	if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) != 0)
		r->st.errors++;
	p->fn(p->arg, rep);
	free(p);
	if (r->ac)
		arm_watchdog(r);
}

/* The answer to the first command (AUTH, or PING without a password): the
 * connection is up only once Redis answered (a stopped Redis still lets the
 * kernel accept the TCP connection). */
static void on_hello(void *arg, redisReply *rep)
{
	struct fc_redis *r = arg;
	if (!rep) /* the connection went: went_down said why */
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		char why[160];
		snprintf(why, sizeof(why), "%s refused: %.120s", r->password ? "AUTH" : "PING",
		         rep->str);
		r->st.errors--; /* fail() counts it */
		fail(r, why);
		return;
	}
	set_up(r);
}

static int send_command(struct fc_redis *r, int argc, const char **argv, const size_t *argvlen,
                        fc_redis_reply_fn fn, void *arg)
{
	struct pending *p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct pending){.r = r, .sent_ms = r->loop->now_ms, .fn = fn, .arg = arg};
	if (redisAsyncCommandArgv(r->ac, on_reply, p, argc, argv, argvlen) != REDIS_OK) {
		free(p);
		return -ENOMEM;
	}
	p->prev = r->tail;
	if (r->tail)
		r->tail->next = p;
	else
		r->head = p;
	r->tail = p;
	r->st.commands++;
	if (!r->watchdog.slot)
		arm_watchdog(r);
	return 0;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct fc_redis *r = ac->data;
	if (r->ac != ac)
		return;
	if (status != REDIS_OK) {
		snprintf(r->why, sizeof(r->why), "connect: %s", ac->errstr);
		r->ac = NULL; /* hiredis frees it after this call */
		went_down(r, r->why);
		return;
	}
	r->connected = true;
	const char *argv[] = {r->password ? "AUTH" : "PING", r->password};
	size_t lens[] = {4, r->password ? strlen(r->password) : 0};
	if (send_command(r, r->password ? 2 : 1, argv, lens, on_hello, r) < 0) {
		r->st.errors--;
		snprintf(r->why, sizeof(r->why), "out of memory");
		/* freeing inside its own callback is deferred by hiredis */
		redisAsyncDisconnect(r->ac);
	}
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct fc_redis *r = ac->data;
	if (r->ac != ac)
		return; /* we closed it: fail() has said why */
	r->ac = NULL;
	if (status == REDIS_OK)
		snprintf(r->why, sizeof(r->why), "connection closed");
	else
		snprintf(r->why, sizeof(r->why), "%s",
		         ac->errstr[0] ? ac->errstr : "connection lost");
	went_down(r, r->why);
}

/* ---------------------------------------------------------------- the loop */

static void on_io(struct fc_loop *loop, struct fc_io *io, uint32_t events)
{
	struct fc_redis *r = entry_of(io, struct fc_redis, io);
	(void)loop;
	if (!r->ac)
		return;
	if (events & EPOLLOUT) {
		redisAsyncHandleWrite(r->ac); /* also completes a connect */
		if (!r->ac)
			return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		return;
	/* edge-triggered: read until the socket has nothing left */
	for (int i = 0; i < 1024 && r->ac; i++) {
		int fd = r->ac->c.fd;
		redisAsyncHandleRead(r->ac);
		int n = 0;
		if (!r->ac || ioctl(fd, FIONREAD, &n) < 0 || n <= 0)
			break;
	}
}

static void start_connect(struct fc_redis *r)
{
	fc_loop_update_time(r->loop);
	redisAsyncContext *ac = redisAsyncConnect(r->host, r->o.port);
	if (!ac) {
		went_down(r, "connect: out of memory");
		return;
	}
	if (ac->err) {
		snprintf(r->why, sizeof(r->why), "connect: %s", ac->errstr);
		redisAsyncFree(ac);
		went_down(r, r->why);
		return;
	}
	ac->data = r;
	ac->ev.data = r;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	r->ac = ac;
	r->connected = false;
	r->io.fd = ac->c.fd;
	r->io.cb = on_io;
	int rc = fc_loop_add(r->loop, &r->io);
	if (rc < 0) {
		snprintf(r->why, sizeof(r->why), "connect: %s", strerror(-rc));
		fail(r, r->why);
		r->st.errors--; /* fail() counted it */
		return;
	}
	r->registered = true;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	r->connect_start_ms = r->loop->now_ms;
	arm_watchdog(r);
}

/* ---------------------------------------------------------------- API */

int fc_redis_create(struct fc_loop *loop, const struct fc_redis_options *o, struct fc_redis **out)
{
	struct fc_redis *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->o = *o;
	snprintf(r->host, sizeof(r->host), "%s", o->host);
	r->o.host = r->host;
	if (!r->o.backoff_min_ms)
		r->o.backoff_min_ms = 100;
	if (!r->o.backoff_max_ms)
		r->o.backoff_max_ms = 5000;
	if (!r->o.timeout_ms)
		r->o.timeout_ms = 50;
	r->backoff_ms = r->o.backoff_min_ms;
	snprintf(r->address, sizeof(r->address), strchr(r->host, ':') ? "[%s]:%u" : "%s:%u",
	         r->host, (unsigned)o->port);
	if (o->password && !(r->password = strdup(o->password))) {
		free(r);
		return -ENOMEM;
	}
	r->o.password = NULL;
	r->io.fd = -1;
	r->watchdog.cb = on_watchdog;
	r->retry.cb = on_retry;
	start_connect(r);
	*out = r;
	return 0;
}

void fc_redis_destroy(struct fc_redis *r)
{
	if (!r)
		return;
	fc_timer_cancel(r->loop, &r->watchdog);
	fc_timer_cancel(r->loop, &r->retry);
	r->o.on_state = NULL;
	redisAsyncContext *ac = r->ac;
	r->ac = NULL;
	if (ac)
		redisAsyncFree(ac);
	if (r->password) {
		memset(r->password, 0, strlen(r->password));
		free(r->password);
	}
	free(r);
}

bool fc_redis_is_up(const struct fc_redis *r)
{
	return r->up;
}

int fc_redis_command(struct fc_redis *r, int argc, const char **argv, const size_t *argvlen,
                     fc_redis_reply_fn fn, void *arg)
{
	if (!r->up || !r->ac)
		return -ENOTCONN;
	return send_command(r, argc, argv, argvlen, fn, arg);
}

void fc_redis_flush(struct fc_redis *r)
{
	if (r && r->ac && r->connected && r->want_write)
		redisAsyncHandleWrite(r->ac);
}

const char *fc_redis_address(const struct fc_redis *r)
{
	return r->address;
}

void fc_redis_stats(const struct fc_redis *r, struct fc_redis_stats *st)
{
	*st = r->st;
	st->up = r->up;
}

void fc_redis_count_error(struct fc_redis *r)
{
	r->st.errors++;
}
