/* state.h — where fulcrum keeps what must outlive the process (the admin
 * API's journal): one function, so that a fallback directory can be added in
 * one place. */
#ifndef FC_STATE_H
#define FC_STATE_H

#include "config/config.h"

/* The state directory of cfg (state_dir, default /var/lib/fulcrum). Borrowed
 * from cfg. */
const char *fc_state_dir(const struct fc_config *cfg);

/* mkdir -p path with mode for the directories it creates. 0 or -errno. */
int fc_state_mkdir(const char *path, unsigned mode);

#endif
