/* state.c — the state directory and the sticky secret kept in it. */
#include "proxy/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"

static char state_dir[4096];
static bool resolved;

int fc_state_mkdir(const char *dir, unsigned mode)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -errno;
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* mkdir -p, then checks it is a writable directory. */
static bool usable(const char *dir)
{
	return fc_state_mkdir(dir, 0750) == 0 && access(dir, W_OK | X_OK) == 0;
}

/* Where state may go, in order: state_dir, $XDG_STATE_HOME/fulcrum,
 * ~/.local/state/fulcrum. Returns how many. */
static int candidates(const struct fc_config *cfg, char out[3][4096])
{
	int n = 0;
	snprintf(out[n++], sizeof(out[0]), "%s", cfg->state_dir);
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	if (xdg && xdg[0] == '/')
		snprintf(out[n++], sizeof(out[0]), "%s/fulcrum", xdg);
	if (home && home[0] == '/')
		snprintf(out[n++], sizeof(out[0]), "%s/.local/state/fulcrum", home);
	return n;
}

/* One running fulcrum per state directory: a lock on dir/lock, held until
 * exit; a second process sharing it is warned (their admin API changes would
 * overwrite each other's journal, and their sticky secrets may differ). */
static void claim(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return; /* kept open: the lock lasts as long as the process */
	if (errno == EWOULDBLOCK)
		fc_warn("state_dir: %s is in use by another running fulcrum; give each instance "
		        "its own (docs/cluster.md): admin API changes made on one overwrite the "
		        "other's journal",
		        dir);
	close(fd);
}

const char *fc_state_dir(const struct fc_config *cfg)
{
	if (resolved)
		return state_dir[0] ? state_dir : NULL;
	resolved = true;
	char cand[3][4096];
	int n = candidates(cfg, cand);
	for (int i = 0; i < n; i++) {
		if (!usable(cand[i]))
			continue;
		snprintf(state_dir, sizeof(state_dir), "%.4095s", cand[i]);
		claim(state_dir);
		if (i > 0)
			fc_warn("state_dir: %s cannot be written; keeping state in %s",
			        cfg->state_dir, state_dir);
		return state_dir;
	}
	fc_warn("state_dir: neither %s nor a fallback can be written; sticky cookies and "
	        "admin API changes last for this process only",
	        cfg->state_dir);
	return NULL;
}

const char *fc_state_dir_peek(const struct fc_config *cfg)
{
	static char found[4096];
	char cand[3][4096];
	int n = candidates(cfg, cand);
	struct stat st;
	for (int i = 0; i < n; i++) {
		if (stat(cand[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(found, sizeof(found), "%.4095s", cand[i]);
			return found;
		}
	}
	return NULL;
}

int fc_state_sticky_secret(const struct fc_config *cfg, uint8_t out[32])
{
	const char *dir = fc_state_dir(cfg);
	if (!dir)
		return -ENOENT;
	char path[4200];
	snprintf(path, sizeof(path), "%s/sticky.secret", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, out, 32);
		close(fd);
		if (n == 32)
			return 0;
		fc_warn("%s: not a 32-byte secret; making a new one", path);
	}
	if (getrandom(out, 32, 0) != 32)
		return -EIO;
	int rc = fc_file_replace(path, out, 32, 0600, true, NULL);
	if (rc < 0) {
		fc_warn("%s: cannot write: %s; sticky cookies last for this process only", path,
		        strerror(-rc));
		return rc;
	}
	return 0;
}
