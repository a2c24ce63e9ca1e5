/* wake.h — waking idle servers (wake.c, docs/traffic.md): the control
 * thread's side. Workers ask for a wake with fc_queue_want_wake. */
#ifndef FC_PROXY_WAKE_H
#define FC_PROXY_WAKE_H

#include <stdbool.h>

#include "core/loop.h"
#include "core/mailbox.h"
#include "proxy/proxy.h"

struct fc_wakes;

/* The wake controller of the process, on the control loop, with the
 * mailbox workers' wake requests come through. 0 or -errno. */
int fc_wakes_create(struct fc_loop *loop, struct fc_wakes **out);
/* Frees it (commands still running are left to finish). Accepts NULL. */
void fc_wakes_destroy(struct fc_wakes *ws);
/* The mailbox for fc_runtime_options.wake_mb. */
struct fc_mailbox *fc_wakes_mailbox(struct fc_wakes *ws);
/* rt is running now (the start, a reload), its health checks started:
 * pools of wake: are attached by name (their state goes on), new ones are
 * probed (a server that does not answer starts asleep), those that lost
 * wake: have their servers woken by hand. */
void fc_wakes_update(struct fc_wakes *ws, struct fc_runtime *rt);
/* The health module's server_woke hook. */
void fc_wakes_server_woke(struct fc_wakes *ws, struct fc_pool *pool, struct fc_server *srv,
                          bool up);
/* POST /api/pools/{pool}/wake: wakes the pool if a server is asleep; *state
 * is then its state's name. 0, or -ENOENT (no such pool with wake:). */
int fc_wakes_wake(struct fc_wakes *ws, const char *pool, const char **state);

#endif
