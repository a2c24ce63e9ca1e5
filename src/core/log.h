/* log.h — the error log: levels, one write() per line, safe from any thread. */
#ifndef FC_LOG_H
#define FC_LOG_H

#include <stdarg.h>

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

#endif
