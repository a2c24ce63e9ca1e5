/* admin.h — the admin listener: an HTTP/1.1 server of its own on the control
 * thread's loop serving the JSON API (pools, servers, changes at run time,
 * reload), Prometheus metrics (/metrics), the seed balancer's JSON
 * (/lb-metrics) and the status page (/). docs/operations.md describes it for
 * users. Everything here runs on the control thread. */
#ifndef FC_ADMIN_H
#define FC_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "proxy/control.h"
#include "core/loop.h"

struct fc_admin;
struct fc_runtime;
struct fc_health;
struct fc_worker;
struct fc_glimits;

/* What the API works on right now. A reload swaps all of it, so the admin
 * asks again for every request and never keeps these across events. */
struct fc_admin_view {
	struct fc_runtime *rt;
	struct fc_health *health;
	struct fc_worker *ws; /* NULL before the workers run */
	uint32_t n_workers;
	struct fc_glimits *glimits; /* global rate limits and their Redis; NULL: none */
};

/* Reloads, for the metrics; filled by the control thread. */

struct fc_discovery;
struct fc_admin_hooks {
	/* Fills the current view. Required. */
	void (*view)(void *arg, struct fc_admin_view *out);
	/* POST /api/reload: 0, or -EINVAL with "file:line:col: message" in err
	 * (400), or another -errno (500). NULL: the API answers 501. */
	int (*reload)(void *arg, char *err, size_t errlen);
	/* POST /api/pools/{pool}/wake: 0 and *state (the pool's wake state
	 * after it), or -ENOENT (no wake: there). NULL: 501. */
	int (*wake)(void *arg, const char *pool, const char **state);
	const struct fc_reload_stats *reload_stats; /* NULL: not reported */
	const struct fc_discovery *discovery;       /* DNS discovery; NULL: none */
	void *arg;
};

/** Starts the admin listener of cfg->admin on loop (the control thread's
 * epoll loop): binds admin.listen, reads the token (admin.token_file, else
 * FULCRUM_ADMIN_TOKEN; neither: read-only). hooks is copied. Returns 0 and
 * *out, or -errno with a message naming what failed (the address, the token
 * file) in err. Thread: control. */
int fc_admin_create(struct fc_loop *loop, const struct fc_config *cfg,
                    const struct fc_admin_hooks *hooks, struct fc_admin **out, char *err,
                    size_t errlen);

/** Closes the listener and every admin connection (parked ones get no
 * answer), frees everything. Accepts NULL. Thread: control. */
void fc_admin_destroy(struct fc_admin *a);

/** For --check: the admin token can be read (admin.token_file set: the
 * file exists, is readable and not empty). 0, or -errno with the message in
 * err. */
int fc_admin_check_config(const struct fc_config *cfg, char *err, size_t errlen);

#endif
