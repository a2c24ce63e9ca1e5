/* discover.h — pools whose servers come from DNS (pools.*.discover): SRV, A
 * or AAAA records looked up with c-ares on the control thread's loop when
 * their TTL runs out (at most every interval), and the pool brought in line
 * with each answer through live.h: new records are added, changed weights and
 * priorities (backup tiers) updated in place, vanished records drained and
 * removed once idle. A failed lookup, or one that finds no record, keeps the
 * servers of the last answer. And pools with resolve: whose servers'
 * url: hosts are names: each looked up the same way, the server put in the
 * pool at its first address and replaced when the address changes; a name
 * that fails keeps its last address. Nothing here runs on a worker, and no
 * request waits for DNS. Thread: control. */
#ifndef FC_PROXY_DISCOVER_H
#define FC_PROXY_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

struct fc_config;
struct fc_live;
struct fc_discovery;

int fc_discovery_create(struct fc_loop *loop, struct fc_discovery **out);
/* Cancels the lookups, frees everything; the pools keep their servers.
 * Accepts NULL. */
void fc_discovery_destroy(struct fc_discovery *d);

/* Before a reload builds its runtime: every pool of next whose discover: is
 * the one running gets the servers found so far (as if they were written in
 * the file), so the new runtime takes them over with their state. -ENOMEM. */
int fc_discovery_carry(struct fc_discovery *d, struct fc_config *next);

/* At start and after every reload: follows l->rt's pools (a pool whose
 * discover: is new or changed starts over with a lookup now; one that lost
 * it is forgotten). */
void fc_discovery_update(struct fc_discovery *d, const struct fc_live *l);

/* How a pool's discovery goes, for the admin API, the metrics and the status
 * page. */
struct fc_discovery_info {
	const char *dns;            /* the name looked up; resolve: NULL */
	const char *type;           /* "srv", "a", "aaaa"; resolve: "hosts" */
	size_t servers;             /* in the pool from DNS now (draining ones not counted);
	                               resolve: the named servers that have an address */
	size_t names;               /* resolve: the servers written with a host name */
	uint64_t ok, empty, failed; /* lookups: answered, answered with no record, failed */
	const char *last_result;    /* "ok", "empty", "failed" or "pending" (none yet) */
	const char *last_error;     /* the last failure's reason, "" when none */
	uint64_t last_ok_ns;        /* monotonic time of the last answer, 0: none */
};
/* The pool's discover: (resolve false) or resolve: lookups; false when it
 * has none. The strings live until the next lookup ends or the discovery
 * changes (control thread). A resolve: lookup is ok when every name
 * resolved, failed otherwise (last_error: the first name that did not). */
bool fc_discovery_info(const struct fc_discovery *d, const char *pool, bool resolve,
                       struct fc_discovery_info *out);

#endif
