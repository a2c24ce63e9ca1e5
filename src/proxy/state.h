/* state.h — what fulcrum keeps on disk between runs: the state directory
 * (state_dir, with a fallback when it cannot be written) and the sticky
 * cookie secret kept there. */
#ifndef FC_STATE_H
#define FC_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* The directory state goes to: cfg->state_dir when it exists or can be
 * created and is writable, else $XDG_STATE_HOME/fulcrum or
 * ~/.local/state/fulcrum, else NULL (nothing is kept). Created (0750) when
 * missing. The result is cached for the process. Thread: control. */
const char *fc_state_dir(const struct fc_config *cfg);

/* mkdir -p dir with mode for the directories it creates. 0 or -errno. */
int fc_state_mkdir(const char *dir, unsigned mode);

/* The directory state would be read from, without creating anything (for
 * --check): the first of the same candidates that exists, or NULL. */
const char *fc_state_dir_peek(const struct fc_config *cfg);

/* The process's sticky secret: read from <state dir>/sticky.secret, created
 * there (32 random bytes, mode 0600) the first time. 0, or -errno when no
 * state directory can be used (cookies then hold for this process only). */
int fc_state_sticky_secret(const struct fc_config *cfg, uint8_t out[32]);

#endif
