/* proxy.h — the proxy's internal structures: workers, client sessions,
 * upstream connections and the runtime (pools built from a config snapshot).
 * Everything here belongs to one worker thread except struct fc_runtime and
 * the libfulcrum pools it holds. */
#ifndef FC_PROXY_H
#define FC_PROXY_H

#include <fulcrum/fulcrum.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "core/buf.h"
#include "core/loop.h"
#include "http/h1.h"

struct fc_worker;
struct session;
struct upstream;

/* Intrusive doubly-linked list. */
struct link {
	struct link *prev, *next;
};
static inline void link_init(struct link *l)
{
	l->prev = l->next = l;
}
static inline bool link_empty(const struct link *l)
{
	return l->next == l;
}
static inline void link_push(struct link *head, struct link *l)
{
	l->next = head->next;
	l->prev = head;
	head->next->prev = l;
	head->next = l;
}
static inline void link_remove(struct link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = l;
}
#define link_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---------------------------------------------------------------- runtime */

/* What the proxy keeps per server (libfulcrum's server user data). */
struct rt_server {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char hostport[64]; /* Host for HTTP/1.0 requests without one */
	uint32_t n_workers;
	struct rt_idle {
		struct link list; /* idle upstream connections, most recent first */
		uint32_t n;
	} idle[]; /* one per worker, touched only by that worker */
};

struct rt_pool {
	struct fc_pool *pool;
	const struct fc_config_pool *cfg;
};

/* The live state built from one config snapshot. Shared by all workers. */
struct fc_runtime {
	struct fc_config *cfg;
	struct rt_pool *pools; /* parallel to cfg->pools */
	size_t n_pools;
	struct fc_cidr *trusted; /* client_ip.trusted parsed */
	struct fc_clientip_options clientip;
	uint32_t n_workers;
	atomic_uint conns; /* client connections, all workers */
	int access_fd;     /* -1: off */
};

/* Builds pools and servers from cfg (takes a reference). Returns 0 or
 * -errno with a message in err. */
int fc_runtime_create(struct fc_config *cfg, uint32_t n_workers, struct fc_runtime **out, char *err,
                      size_t errlen);
void fc_runtime_destroy(struct fc_runtime *rt);
/* Reopens the access log file (after rotation). 0 or -errno. */
int fc_runtime_reopen_logs(struct fc_runtime *rt);
/* The pool behind a route. */
struct rt_pool *fc_runtime_pool(struct fc_runtime *rt, const struct fc_config_pool *cp);

/* ---------------------------------------------------------------- upstream */

struct upstream {
	struct fc_io io;
	struct fc_timer timer; /* idle timeout while pooled */
	struct fc_worker *w;
	struct session *s;        /* owner while in use */
	struct fc_server *server; /* referenced while pooled or in use */
	struct rt_server *rs;
	struct fc_buf *in;
	struct fc_h1 parser; /* response parser */
	struct link idle_link;
	uint32_t rparsed; /* in->data[rpos..rparsed) is validated, forwardable */
	bool connecting, readable, writable, rdhup, eof, reset, reused, closed;
};

/* Pops an idle connection to rs (checked alive) or starts a new connect.
 * Returns NULL with *err = -errno when the connect failed at once. */
struct upstream *fc_upstream_get(struct fc_worker *w, struct fc_server *server, int *err);
/* Pools u if it may be reused, otherwise closes it. */
void fc_upstream_release(struct upstream *u, bool reusable, uint32_t max_idle,
                         uint32_t idle_timeout_ms);
void fc_upstream_close(struct upstream *u);
void fc_upstream_on_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev);
/* Closes every idle pooled connection of this worker (shutdown). */
void fc_upstream_close_idle(struct fc_worker *w);

/* ---------------------------------------------------------------- request */

#define REQ_MAX_TRIES 8
#define REQ_LINE_MAX  256

struct request {
	struct request *next_free;
	struct rt_pool *pool;
	struct fc_server *server; /* the current pick (counted active) */
	struct fc_server *tried[REQ_MAX_TRIES];
	uint32_t n_tried;
	uint32_t attempts; /* upstream attempts so far */
	uint64_t start_ns, up_start_ns, up_head_ns;
	uint64_t phase_ms;   /* start of the current timed phase */
	struct fc_buf *head; /* the rewritten request head */
	uint32_t head_sent;
	uint32_t body_start; /* client in-buffer index where the body begins */
	uint32_t sent;       /* client bytes [body_start, sent) written upstream */
	uint32_t parsed;     /* client bytes up to here are validated */
	uint64_t bytes_out;  /* body bytes sent to the client */
	int status;
	uint8_t method;
	bool idempotent, replayable, complete, sent_all;
	bool resp_started, resp_head_done, resp_complete, resp_dechunk;
	bool stale_retry_used, timed_out, aborted, logged, no_retry;
	bool client_10, client_keepalive, close_after;
	bool up_reusable, resp_close_delimited;
	bool has_key, has_sticky_in, sticky_set, secure;
	uint8_t key_len, sticky_in_len;
	struct fc_addr client; /* the real client IP */
	char key[128];         /* hash key bytes (copied: retries pick again) */
	char sticky_in[96];    /* the sticky cookie the client sent */
	char sticky[96];       /* the sticky cookie value to set */
	char server_name[64];  /* for the access log */
	uint16_t line_len;
	char line[REQ_LINE_MAX]; /* "METHOD PATH PROTO" for the access log */
};

/* ---------------------------------------------------------------- session */

enum session_state { S_IDLE, S_HEAD, S_ACTIVE, S_CLOSING };

struct session {
	struct fc_io io;
	struct fc_timer timer;
	struct fc_worker *w;
	struct listener *l;
	struct fc_buf *in;  /* from the client */
	struct fc_buf *out; /* to the client, before upstream bytes */
	struct upstream *up;
	struct request *req;
	struct link link;    /* worker's session list */
	struct fc_h1 parser; /* request parser */
	struct fc_addr peer;
	uint8_t state;
	bool readable, writable, rdhup, eof, closed, in_run, rerun;
	bool served, lingering, quick_close;
	uint32_t scan;      /* head terminator scan position */
	uint64_t phase_ms;  /* start of the idle/head phase */
	uint64_t active_ms; /* last progress */
};

void fc_session_accept(struct fc_worker *w, struct listener *l, int fd,
                       const struct sockaddr *peer);
void fc_session_on_event(struct fc_loop *loop, struct fc_io *io, uint32_t ev);
/* Lets the session make progress after its upstream changed. */
void fc_session_run(struct session *s);
/* Upstream reports: readable/writable/connected/error happened. */
void fc_session_close(struct session *s);
/* Called by the worker on shutdown: idle sessions close now, busy ones after
 * their current response. */
void fc_session_shutdown(struct session *s);

/* ---------------------------------------------------------------- worker */

struct listener {
	struct fc_io io;
	struct fc_worker *w;
	const struct fc_config_listener *cfg;
	bool paused;
};

struct fc_worker {
	uint32_t id;
	pthread_t thread;
	struct fc_loop loop;
	struct fc_runtime *rt;
	const struct fc_config *cfg;
	struct fc_buf_pool bufs;
	struct fc_h1_head scratch; /* the head being looked at right now */
	struct listener *listeners;
	size_t n_listeners;
	struct fc_timer accept_retry;
	struct fc_timer grace;
	struct fc_io wake; /* eventfd: shutdown request */
	uint64_t rng;
	struct link sessions;
	uint32_t n_sessions;
	void **deferred; /* freed after the current batch of events */
	uint32_t n_deferred, cap_deferred;
	struct request *free_reqs;
	char *alog; /* access log lines waiting for the flush */
	uint32_t alog_len, alog_cap;
	bool draining;
	uint32_t grace_ms;
	atomic_bool stop_requested;
};

/* Creates n workers (listeners bound) for rt. Returns 0 or -errno with err. */
int fc_workers_start(struct fc_runtime *rt, struct fc_worker **out, uint32_t n, char *err,
                     size_t errlen);
/* Asks every worker to drain: stop accepting, finish in-flight requests
 * within grace_ms, then exit; joins them. */
void fc_workers_stop(struct fc_worker *ws, uint32_t n, uint32_t grace_ms);

/* Frees p after the current batch of events (the loop may still hold a
 * pointer to it). */
void fc_worker_defer_free(struct fc_worker *w, void *p);
void fc_worker_conn_closed(struct fc_worker *w);
struct request *fc_worker_take_request(struct fc_worker *w);
void fc_worker_release_request(struct fc_worker *w, struct request *r);

/* Appends one access log line for the finished request. */
void fc_accesslog_write(struct session *s, struct request *r, uint64_t now_ns);
void fc_accesslog_flush(struct fc_worker *w);

#endif
