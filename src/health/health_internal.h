/* health_internal.h — what the files of src/health share: the per-server
 * record (machine state, passive streak, active check), the per-pool counts,
 * and the seams between the pure state machine (health_state.c), the active
 * checks (health_check.c) and the public entry points (health.c). Tests
 * include it to drive the machine with a fake clock. */
#ifndef FC_HEALTH_INTERNAL_H
#define FC_HEALTH_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "core/stream.h"
#include "core/mailbox.h"
#include "health/health.h"
#include "http/h1.h"

/* Bounds of an HTTP check: the response head must fit in HEAD_MAX; a body is
 * searched for health.body in its first BODY_MAX decoded bytes. */
#define FC__HEALTH_HEAD_MAX 16384
#define FC__HEALTH_BODY_MAX 65536

/* The verdict of one active check. */
enum fc__health_verdict {
	FC__HEALTH_PASS,
	FC__HEALTH_FAIL,
	FC__HEALTH_LAME, /* answered a status listed in lame_duck: alive, wants no new clients */
};

/* One pool's servers as seen by the machine. Control thread only. */
struct fc__health_pool {
	struct fc_pool *pool;
	char *name;
	uint32_t n_servers;
	uint32_t n_healthy; /* state HEALTHY */
	uint32_t n_dead;    /* state DEAD, for any reason (max_ejected counts these) */
	struct fc_config_passive passive; /* copied, statuses too */
	struct fc__health_pool *next;
};

enum fc__check_phase {
	FC__CHECK_IDLE,
	FC__CHECK_CONNECTING,
	FC__CHECK_SENDING,
	FC__CHECK_HEAD,
	FC__CHECK_BODY,
	FC__CHECK_GRPC, /* connected, the HTTP/2 exchange of a grpc check runs */
};

struct fc__health_grpc; /* health_grpc.c: one grpc check's HTTP/2 session */

/* The active check of one server: one connection at a time. */
struct fc__health_check {
	struct fc_stream s;       /* first: the io callback finds the check from it */
	struct fc_timer next;     /* start of the next check */
	struct fc_timer deadline; /* timeout of the running one */
	enum fc__check_phase phase;
	uint64_t start_ns;
	uint64_t connected_ns; /* 0: not connected yet */
	char *buf;             /* response bytes (head, then body), FC__HEALTH_HEAD_MAX */
	size_t len;
	size_t body_seen; /* decoded body bytes searched so far */
	bool body_found;
	char *carry; /* the last strlen(body)-1 decoded bytes, for matches across reads */
	size_t carry_len;
	struct fc_h1 h1;
	int status;
	size_t req_off;
	bool timed_out;               /* the verdict being given is a timeout */
	struct fc__health_grpc *grpc; /* type grpc, connected: its session */
};

struct fc_health_server {
	struct fc_health *h;
	struct fc__health_pool *hp;
	struct fc_server *srv; /* referenced */
	const char *name;      /* fc_server_name(srv) */

	/* active checks: config copied (strings and ranges owned), address */
	struct fc_config_health hc;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct fc_tls_client *tls; /* https:// server: checks run over TLS (tls.h) */
	const char *tls_host;      /* SNI and the name verified */
	char *request; /* the HTTP request bytes (grpc: the framed message), built once */
	size_t request_len;
	char *authority; /* grpc: :authority, the Host header's value */
	struct fc__health_check ck;

	/* the machine (control thread) */
	enum fc_server_state state;
	uint64_t since_ns;
	char reason[160];
	bool draining;    /* set by the admin API: nothing else moves the server */
	bool asleep;      /* the wake controller stopped it: ASLEEP unless draining */
	bool waking;      /* asleep, checks running until they pass (fc_health_server_wake) */
	bool wake_once;   /* the waking is a probe: the first verdict decides */
	bool active_down; /* active checks hold it down (fall reached, rise not yet) */
	bool lame;        /* the last check answered a lame_duck status */
	bool recovering;  /* back from an ejection, waiting for rise passes */
	bool ejected;     /* passive detection holds it down until eject_until */
	uint32_t checks_ok, checks_failed;
	uint64_t last_check_ns, last_check_latency_ns;
	char last_result[128];               /* the last check's text: "HTTP 200 in 1 ms" */
	uint64_t n_checks;                   /* checks completed */
	uint64_t results[FC_HEALTH_RESULTS]; /* the same by result (metrics) */
	bool last_ok;                        /* the last check passed */
	bool removed;                        /* fc_health_remove_server: out for good */
	uint32_t ejections;
	uint32_t eject_msgs;    /* passive crossings delivered to the control thread */
	uint32_t refusals;      /* ejections refused by max_ejected */
	uint32_t late;          /* crossings delivered when the server was out already */
	uint32_t eject_next_ms; /* length of the next ejection (doubles, capped) */
	uint32_t eject_cur_ms;  /* length of the running one */
	uint64_t in_service_ns; /* when it last started taking requests (0: never out) */
	struct fc_timer eject_timer;

	/* passive detection, written by workers */
	_Atomic uint32_t streak; /* consecutive server faults */
	_Atomic bool out;        /* takes no requests (dead, draining): reports are ignored */
	_Atomic bool posting;    /* the ejection message is in flight (one CAS winner) */
	struct fc_msg eject_msg; /* reused: posting allows one in flight */
	char fault[96];          /* the crossing fault's text, written before the post */
	uint64_t fault_ns;
	uint32_t fault_streak;
};

struct fc_health {
	struct fc_loop *loop;
	struct fc_health_hooks hooks;
	struct fc_mailbox mb;
	bool mb_open;
	bool started;
	bool closing; /* destroy: queued ejections are dropped */
	uint64_t rng;
	struct fc__health_pool *pools;
	struct fc_health_server **servers;
	size_t n_servers, cap_servers;
	struct fc_h1_head scratch; /* one response head at a time: the loop is one thread */
};

/* ---------------------------------------------------------------- state machine */

/** Feeds one active check verdict (text: "HTTP 500 on GET /health in 2 ms",
 * borrowed) into hs's machine at now_ns. Thread: control. */
void fc__health_on_check(struct fc_health_server *hs, enum fc__health_verdict v, const char *text,
                         uint64_t latency_ns, uint64_t now_ns);

/** The control thread's handling of a passive crossing: ejects hs (what: the
 * last fault, streak: how many in a row) unless max_ejected forbids it or hs
 * is already out. Clears the passive streak when it does not eject. */
void fc__health_eject(struct fc_health_server *hs, const char *what, uint32_t streak,
                      uint64_t now_ns);

/** Ends hs's ejection (the eject timer's work; tests call it with a fake clock). */
void fc__health_eject_end(struct fc_health_server *hs, uint64_t now_ns);

/** The gap before hs's next active check in ms, jitter included (±10 %):
 * fast_interval while a change is in progress, interval otherwise. */
uint32_t fc__health_next_gap_ms(struct fc_health_server *hs);

/** True while a change of hs's active verdict is in progress. */
bool fc__health_is_changing(const struct fc_health_server *hs);

/** Fills the defaults a hand-built config may leave at 0. */
void fc__health_config_defaults(struct fc_config_health *hc);

/* ---------------------------------------------------------------- active checks */

/** Arms hs's first check at a random offset within its interval. */
void fc__health_check_schedule_first(struct fc_health_server *hs);
/** Re-arms hs's next check fast_interval from now (after an ejection ended). */
void fc__health_check_soon(struct fc_health_server *hs);
/** Starts a check at once (waking), unless one runs. */
void fc__health_check_now(struct fc_health_server *hs);
/** The kind of check hs runs now: its own, or tcp for a waking server that
 * has none. */
enum fc_health_type fc__health_check_type(const struct fc_health_server *hs);
/** Stops hs's check: closes its connection, disarms its timers. */
void fc__health_check_stop(struct fc_health_server *hs);
/** Builds hs->request from its config. 0 or -ENOMEM. */
int fc__health_check_prepare(struct fc_health_server *hs, const struct fc_config_server *cs);
/** The text of a failed connect, send or receive (what: "read") with
 * -errno err into buf: TLS says why when it was TLS. */
void fc__health_check_io_text(struct fc_health_server *hs, const char *what, int err, char *buf,
                              size_t cap);

/* ---------------------------------------------------------------- grpc checks */

/** hs's connection is up (over TLS: ALPN said h2): starts the HTTP/2
 * session, sends the preface, SETTINGS and the Check request. Returns 0
 * while the check runs, 1 when it has its verdict (*v, text), which the
 * caller gives with finish. Thread: control. */
int fc__health_grpc_start(struct fc_health_server *hs, enum fc__health_verdict *v, char *text,
                          size_t cap);
/** Reads what arrived and sends what is due; the same returns. */
int fc__health_grpc_io(struct fc_health_server *hs, uint32_t events, enum fc__health_verdict *v,
                       char *text, size_t cap);
/** Where a timed-out grpc check stood: "connected, no answer", ... */
const char *fc__health_grpc_where(const struct fc_health_server *hs);
/** Frees hs's session, if any (the connection is the caller's). */
void fc__health_grpc_end(struct fc_health_server *hs);

#endif
