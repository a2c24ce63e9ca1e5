/* file.h — a small file replaced whole (the journal, the sticky secret, the
 * pid file): written beside it under a name of this process's own, flushed,
 * then renamed over it. A reader never sees half of it, and two processes
 * writing the same file at once do not trip over each other's temporary
 * file: the last rename wins. */
#ifndef FULCRUM_CORE_FILE_H
#define FULCRUM_CORE_FILE_H

#include <stdbool.h>
#include <stddef.h>

/* Replaces path with data[0..len) (mode for a new file). durable: fsync the
 * file before the rename and its directory after. 0, or -errno with *step
 * ("open", "write", "fsync", "rename", "fsync of the directory") saying
 * what failed; nothing is left behind on failure. */
int fc_file_replace(const char *path, const void *data, size_t len, unsigned mode, bool durable,
                    const char **step);

#endif
