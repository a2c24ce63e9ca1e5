/* control.h — the control thread's contract with main.c and the admin API:
 * run fulcrum, reload its configuration, read what is running. */
#ifndef FC_CONTROL_H
#define FC_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/loop.h"

struct fc_control;
struct fc_runtime;

/* Where the configuration comes from, and what the process around the
 * control thread wants to hear. Every member may be NULL. */
struct fc_control_source {
	const char *path;      /* the file reloads read; NULL: started without one */
	const char *log_level; /* --log-level, applied again on every reload */
	/* applied to each freshly loaded config before it is used (the admin
	 * journal); 0 or -errno with err */
	int (*prepare)(struct fc_config *cfg, char *err, size_t errlen);
	/* the control loop is about to run, workers are up (the admin listener
	 * starts here): 0, or -errno with err (the start fails) / it is about
	 * to stop (and after a failed start) */
	int (*started)(struct fc_control *ctl, struct fc_loop *loop, char *err, size_t errlen);
	void (*stopping)(struct fc_control *ctl);
	/* service manager notifications (sd_notify) */
	void (*notify_ready)(void);
	void (*notify_reloading)(void);
	void (*notify_stopping)(void);
};

struct fc_reload_stats {
	uint64_t ok, failed;
	double last_success; /* Unix time of the last good load (the start counts) */
};

/* Runs fulcrum on cfg with n_workers workers until SIGINT/SIGTERM: the
 * calling thread becomes the control thread (signals, health checks,
 * reloads, messages to workers). Returns the process exit status. */
int fc_control_run(struct fc_config *cfg, uint32_t n_workers, const struct fc_control_source *src);

/* Loads the file again and, when it is valid and everything it needs could
 * be opened, runs new requests on it (requests in flight finish on the
 * configuration they started on). On any error nothing changes. Returns 0,
 * or -errno with "file:line:col: ..." in err. Thread: control. */
int fc_control_reload(struct fc_control *ctl, char *err, size_t errlen);
const struct fc_reload_stats *fc_control_reload_stats(const struct fc_control *ctl);
/* The running runtime; it changes at each reload (never keep it across
 * events). Thread: control. */
struct fc_runtime *fc_control_runtime(struct fc_control *ctl);
/* Wakes the pool's servers (wake:, docs/traffic.md) if one is asleep; *state
 * is then the pool's wake state ("waking", "awake", ...). 0, or -ENOENT:
 * no pool of that name has wake:. Thread: control. */
int fc_control_wake(struct fc_control *ctl, const char *pool, const char **state);
/* DNS discovery's state (discover.h), for the admin API and the metrics. */
struct fc_discovery;
const struct fc_discovery *fc_control_discovery(const struct fc_control *ctl);
struct fc_glimits;
/* The global rate limits and their Redis (glimit.h). Thread: control. */
struct fc_glimits *fc_control_glimits(struct fc_control *ctl);
struct fc_worker;
/* The workers (NULL before they run) and how many. Thread: control. */
struct fc_worker *fc_control_workers(struct fc_control *ctl, uint32_t *n);

#endif
