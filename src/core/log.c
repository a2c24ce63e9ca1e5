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

static void put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

/* "YYYY-MM-DDTHH:MM:SS." for sec, by hand: the civil date from the day number
 * (Howard Hinnant's days_from_civil, inverted), no gmtime and its locks. */
static void format_prefix(char p[20], int64_t sec)
{
	int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
	int64_t rem = sec - days * 86400;
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;                                      /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
	int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
	unsigned day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	unsigned month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	int64_t year = yoe + era * 400 + (month <= 2);
	unsigned y = (unsigned)(((year % 10000) + 10000) % 10000); /* as "%04d" of year % 10000 */
	put2(p, y / 100);
	put2(p + 2, y % 100);
	p[4] = '-';
	put2(p + 5, month);
	p[7] = '-';
	put2(p + 8, day);
	p[10] = 'T';
	put2(p + 11, (unsigned)(rem / 3600));
	p[13] = ':';
	put2(p + 14, (unsigned)(rem / 60 % 60));
	p[16] = ':';
	put2(p + 17, (unsigned)(rem % 60));
	p[19] = '.';
}

void fc_log_format_time(struct fc_log_clock *c, int64_t sec, uint32_t ms, char *out)
{
	if (c->sec != sec) {
		format_prefix(c->prefix, sec);
		c->sec = sec;
	}
	memcpy(out, c->prefix, sizeof(c->prefix));
	ms %= 1000;
	out[20] = (char)('0' + ms / 100);
	out[21] = (char)('0' + ms / 10 % 10);
	out[22] = (char)('0' + ms % 10);
	out[23] = 'Z';
}

void fc_log_timestamp(char buf[32])
{
	struct timespec ts;
	struct fc_log_clock c;
	clock_gettime(CLOCK_REALTIME, &ts);
	fc_log_clock_init(&c);
	fc_log_format_time(&c, (int64_t)ts.tv_sec, (uint32_t)(ts.tv_nsec / 1000000), buf);
	buf[FC_LOG_TIMESTAMP_LEN] = 0;
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
