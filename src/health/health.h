/* health.h — one state machine per server (healthy, lame duck, dead,
 * draining, asleep; each change with a reason and a time), fed by active
 * checks that run on the control thread's loop and by passive reports from
 * workers.
 *
 * How the sources combine (docs/health.md says the same for users):
 *   - draining (fc_health_server_drain) wins; nothing else moves it;
 *   - else ASLEEP while the wake controller has it asleep
 *     (fc_health_server_sleep): no checks run, reports are ignored; it
 *     wakes when checks pass after fc_health_server_wake;
 *   - else DEAD while active checks hold the server down (fall failures in
 *     a row, until rise passes in a row) or passive detection ejected it;
 *   - else LAME_DUCK while the last check answered a lame_duck status;
 *   - else HEALTHY.
 * An ejection lasts passive.eject_ms, doubling with each new one up to
 * max_eject_ms; the doubling starts over once the server stayed in service
 * for max_eject_ms. When it ends, a server with active checks stays down
 * until rise passes counted from then (checked at fast_interval); one
 * without goes back to healthy. Servers start healthy. Each change is one
 * log line and goes to libfulcrum with fc_pool_set_state; a change to dead
 * or draining calls hooks->server_down. */
#ifndef FC_HEALTH_H
#define FC_HEALTH_H

#include <fulcrum/fulcrum.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "core/loop.h"

struct fc_health;
struct fc_health_server;

/* Who caused an attempt to fail. Only FC_BLAME_SERVER moves a server's
 * health; a complete response (FC_BLAME_NONE) still counts as a server
 * fault when its status is listed in passive.statuses. */
enum fc_blame {
	FC_BLAME_NONE,       /* a complete response: status says how it went */
	FC_BLAME_CLIENT,     /* bad or stalled request body, client gone, 4xx */
	FC_BLAME_SERVER,     /* refused, connect/response timeout, reset or EOF early, bad head */
	FC_BLAME_CONNECTION, /* neither for sure (a reused keep-alive the server had closed) */
};

/* What the control thread learns about: the proxy closes idle connections to
 * a server that stopped taking requests. Called on the control thread. */
struct fc_health_hooks {
	void (*server_down)(void *arg, struct fc_server *srv);
	/* A server fc_health_server_wake was called for passed its checks and
	 * is out of sleep (up), or, for a probe (once), was found down and
	 * stays asleep (!up). pool is srv's. May be NULL. */
	void (*server_woke)(void *arg, struct fc_pool *pool, struct fc_server *srv, bool up);
	void *arg;
};

/** Creates the health state of a runtime on loop (the control thread's),
 * with the mailbox workers' ejection messages arrive through. hooks may be
 * NULL (copied). Returns 0 and *out, -ENOMEM, or the eventfd's -errno.
 * Thread: control. */
int fc_health_create(struct fc_loop *loop, const struct fc_health_hooks *hooks,
                     struct fc_health **out);

/** Stops every check, closes their connections, drops queued ejection
 * messages, releases the server references and frees everything. Workers
 * must be stopped first (they hold fc_health_server pointers). Leaves the
 * servers' libfulcrum states as they are. Accepts NULL. Thread: control. */
void fc_health_destroy(struct fc_health *h);

/** Registers one server of pool (cp its config, cs the server's, srv the
 * libfulcrum server: a reference is taken). addr is the server's address;
 * active checks use cs->health.port when set. *out is the handle workers
 * report through; valid until fc_health_destroy. Returns 0, -ENOMEM,
 * -EINVAL (addr_len too long). Borrows cp, cs and addr for the call only:
 * what the checks and passive detection need is copied. The server starts
 * healthy (or stays draining if libfulcrum has it draining). Thread:
 * control; before fc_health_start, or after it (its checks then start
 * within one interval). */
int fc_health_add_server(struct fc_health *h, struct fc_pool *pool, const struct fc_config_pool *cp,
                         const struct fc_config_server *cs, struct fc_server *srv,
                         const struct sockaddr *addr, socklen_t addr_len,
                         struct fc_health_server **out);

struct fc_tls_client;
/** The server is https://: its active checks connect with TLS through tls
 * (verifying host) and a failed handshake fails the check. Thread: control,
 * before fc_health_start. */
void fc_health_server_set_tls(struct fc_health_server *hs, struct fc_tls_client *tls,
                              const char *host);

/** hs (just registered) takes over the machine of from, the same server's
 * record in the health state of the runtime being replaced: state, reason,
 * streaks, last check, ejection (ending when it would have). Thread: control. */
void fc_health_server_inherit(struct fc_health_server *hs, const struct fc_health_server *from);

/** Stops every check and ejection timer and drops later ejection messages;
 * the records stay valid (workers may still report) until
 * fc_health_destroy. For the runtime a reload replaced. Thread: control. */
void fc_health_stop(struct fc_health *h);

/** Calls fn for every registered server. Thread: control. */
void fc_health_each(struct fc_health *h,
                    void (*fn)(void *arg, struct fc_server *srv, struct fc_health_server *hs),
                    void *arg);

/** Starts the active checks (spread with jitter over the first interval) and
 * the delivery of passive reports. Returns 0 or -errno. Thread: control. */
int fc_health_start(struct fc_health *h);

/** A worker's report of one attempt on hs's server: blame and, for a
 * response, its HTTP status (0 otherwise). what is a short text for the log
 * ("connect refused", "response timeout"; borrowed for the call; NULL: the
 * log names the status). now_ns: fc_time_ns() or the worker loop's now_ns.
 * A server fault is FC_BLAME_SERVER, or FC_BLAME_NONE with a status in
 * passive.statuses; another FC_BLAME_NONE is a success and ends the streak;
 * FC_BLAME_CLIENT and FC_BLAME_CONNECTION change nothing, nor does anything
 * while passive is off (failures 0) or the server is out (dead, draining).
 * Cheap when nothing changes (no write to shared memory on success when the
 * streak is already 0). The one worker whose fault makes the streak reach
 * passive.failures posts one message to the control thread, which ejects
 * the server unless passive.max_ejected forbids it (then it logs why).
 * Thread: any worker. */
void fc_health_report(struct fc_health_server *hs, enum fc_blame blame, int status,
                      const char *what, uint64_t now_ns);

/** True when status is listed in the server's pool's passive.statuses. Thread: any. */
bool fc_health_status_is_fault(const struct fc_health_server *hs, int status);

/** Puts hs's server into DRAINING (on) or takes it out of it (the state the
 * checks and passive detection say then applies). While draining, nothing
 * else moves the server; checks keep running so the way back is known.
 * For the admin API. Thread: control. */
void fc_health_server_drain(struct fc_health_server *hs, bool on, uint64_t now_ns);

/** Puts hs's server to sleep (on: state ASLEEP, no checks, no passive
 * reports, server_down called) or out of it by hand (off: the state its
 * checks say). reason goes to the log line. Ends a wake in progress.
 * Thread: control. */
void fc_health_server_sleep(struct fc_health_server *hs, bool on, const char *reason,
                            uint64_t now_ns);

/** Starts waking hs's asleep server: checks every fast_interval from now
 * (a TCP connect every 200 ms for a server without active checks) until
 * rise pass in a row (one connect), then it leaves sleep and
 * hooks->server_woke says so. once: one check decides (a probe at start):
 * a failure leaves it asleep and is reported too. No-op for a server not
 * asleep. Thread: control, after fc_health_start. */
void fc_health_server_wake(struct fc_health_server *hs, bool once, uint64_t now_ns);

/** True while hs's server is asleep (waking or not). Thread: control. */
bool fc_health_server_asleep(const struct fc_health_server *hs);

/** Takes hs's server out of health: its checks stop, its pool's counts
 * forget it, the server reference is dropped, and reports still arriving
 * from workers are ignored. The record itself stays allocated until
 * fc_health_destroy (a worker may still hold hs). For the admin API, once
 * the server was removed from its pool. Thread: control. */
void fc_health_remove_server(struct fc_health_server *hs);

/* ---------------------------------------------------------------- reading */

/* Results of active checks, for metrics. */
enum fc_health_result {
	FC_HEALTH_RESULT_OK,
	FC_HEALTH_RESULT_FAILED,  /* a failure other than a timeout */
	FC_HEALTH_RESULT_TIMEOUT, /* no complete answer within timeout */
	FC_HEALTH_RESULT_LAME_DUCK,
	FC_HEALTH_RESULTS,
};

struct fc_health_info {
	enum fc_server_state state;
	bool ejected;       /* out by passive detection right now */
	uint64_t since_ns;  /* when the current state began */
	char reason[160];   /* why the last change happened */
	uint32_t checks_ok; /* consecutive active passes / failures */
	uint32_t checks_failed;
	uint64_t last_check_ns; /* 0: never checked */
	uint64_t last_check_latency_ns;
	uint32_t ejections;                  /* times ejected so far */
	bool active;                         /* active checks are configured */
	bool last_check_ok;                  /* the last check passed (a lame duck answer passes) */
	char last_result[128];               /* its text: "HTTP 200 in 1 ms" */
	uint64_t results[FC_HEALTH_RESULTS]; /* checks completed, by result */
};

/** Copies the state of hs's server. Thread: control. */
void fc_health_server_info(const struct fc_health_server *hs, struct fc_health_info *out);

/** "2/3 servers are healthy" for pool's servers registered in h: how many are
 * healthy and how many there are. Thread: control. */
void fc_health_pool_summary(const struct fc_health *h, const struct fc_pool *pool,
                            uint32_t *healthy, uint32_t *total);

#endif
