/* log.h — the error log: levels, one write() per line, safe from any thread. */
#ifndef FC_LOG_H
#define FC_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum { FC_LOG_LEVEL_DEBUG, FC_LOG_LEVEL_INFO, FC_LOG_LEVEL_WARN, FC_LOG_LEVEL_ERROR };

extern int fc_log_level;

/* Sends the error log to "stderr", "stdout" or a file path (appended).
 * Returns 0 or -errno. */
int fc_log_open(const char *where);
void fc_log_close(void);
/* Reopens the error log file at where (after rotation). 0 or -errno. */
int fc_log_reopen(const char *where);

void fc_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define fc_debug(...)                                                                              \
	do {                                                                                       \
		if (fc_log_level <= FC_LOG_LEVEL_DEBUG)                                            \
			fc_log(FC_LOG_LEVEL_DEBUG, __VA_ARGS__);                                   \
	} while (0)
#define fc_info(...)                                                                               \
	do {                                                                                       \
		if (fc_log_level <= FC_LOG_LEVEL_INFO)                                             \
			fc_log(FC_LOG_LEVEL_INFO, __VA_ARGS__);                                    \
	} while (0)
#define fc_warn(...)  fc_log(FC_LOG_LEVEL_WARN, __VA_ARGS__)
#define fc_error(...) fc_log(FC_LOG_LEVEL_ERROR, __VA_ARGS__)

/* Writes "2026-11-21T05:20:00.123Z" (24 chars + NUL) for the wall clock now. */
void fc_log_timestamp(char buf[32]);

#define FC_LOG_TIMESTAMP_LEN 24

/* One thread's cache of a timestamp's "YYYY-MM-DDTHH:MM:SS." prefix, so the
 * date is worked out once per second and a line only adds its milliseconds.
 * Start it with fc_log_clock_init. Not shared between threads. */
struct fc_log_clock {
	int64_t sec; /* the second prefix is for; INT64_MIN: none yet */
	char prefix[20];
};

static inline void fc_log_clock_init(struct fc_log_clock *c)
{
	c->sec = INT64_MIN;
}

/* Writes the FC_LOG_TIMESTAMP_LEN bytes "2026-11-21T05:20:00.123Z" for the
 * UTC time sec (seconds since the epoch) + ms (0..999) into out, without a
 * NUL. The prefix is reformatted only when sec differs from c's. */
void fc_log_format_time(struct fc_log_clock *c, int64_t sec, uint32_t ms, char *out);

#endif
