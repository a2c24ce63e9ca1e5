/* log.c — the error log. Lines are formatted on the stack and written with a
 * single write() so lines from several threads never interleave. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int fc_log_level = FC_LOG_LEVEL_INFO;
static int log_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int fc_log_open(const char *where)
{
	int fd;
	if (!where || strcmp(where, "stderr") == 0)
		fd = 2;
	else if (strcmp(where, "stdout") == 0)
		fd = 1;
	else {
		fd = open(where, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
	}
	if (log_fd > 2)
		close(log_fd);
	log_fd = fd;
	return 0;
}

int fc_log_reopen(const char *where)
{
	if (log_fd <= 2 || !where)
		return 0; /* stdout/stderr: nothing to reopen */
	int fd = open(where, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	/* the same descriptor number now names the new file: writers in any
	 * thread simply continue */
	int rc = dup3(fd, log_fd, O_CLOEXEC) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

void fc_log_close(void)
{
	if (log_fd > 2)
		close(log_fd);
	log_fd = 2;
}

void fc_log_timestamp(char buf[32])
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
	         (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
	         tm.tm_sec % 100, (int)(tv.tv_usec / 1000) % 1000);
}

void fc_log(int level, const char *fmt, ...)
{
	if (level < fc_log_level)
		return;
	char line[2048];
	char ts[32];
	fc_log_timestamp(ts);
	int n = snprintf(line, sizeof(line), "%s %s ", ts, level_names[level & 3]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t w = write(log_fd, line, len);
	(void)w;
}
