/* file.c — a small file replaced whole (file.h). */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fsync of the directory path is in, so that the rename reaches the disk. */
static int sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd < 0 || fsync(fd) < 0 ? -errno : 0;
	if (fd >= 0)
		close(fd);
	return rc;
}

int fc_file_replace(const char *path, const void *data, size_t len, unsigned mode, bool durable,
                    const char **step)
{
	const char *dummy;
	if (!step)
		step = &dummy;
	char tmp[PATH_MAX];
	*step = "open";
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		return -errno;
	*step = "write";
	int rc = write_all(fd, data, len);
	if (rc == 0 && durable) {
		*step = "fsync";
		rc = fsync(fd) < 0 ? -errno : 0;
	}
	if (close(fd) < 0 && rc == 0) {
		*step = "write";
		rc = -errno;
	}
	if (rc == 0) {
		*step = "rename";
		rc = rename(tmp, path) < 0 ? -errno : 0;
	}
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	if (durable) {
		*step = "fsync of the directory";
		return sync_dir(path);
	}
	return 0;
}
