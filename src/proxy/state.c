/* state.c — the state directory (see state.h). */
#include "proxy/state.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

const char *fc_state_dir(const struct fc_config *cfg)
{
	return cfg->state_dir;
}

int fc_state_mkdir(const char *path, unsigned mode)
{
	char p[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != 0)
			continue;
		char c = p[i];
		p[i] = 0;
		if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
			return -errno;
		p[i] = c;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}
