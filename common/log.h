/* SPDX-License-Identifier: MIT */
/*
 * Logging for process code (supervisor, worker, router main-level code only; library code
 * never logs). One line per call on stderr: "<ident>[<pid>]: <level>: <message>". The
 * supervisor collects its children's stderr into its own log (or the journal).
 */
#ifndef MM_LOG_H
#define MM_LOG_H

enum mm_log_level {
	MM_LOG_ERROR = 0,
	MM_LOG_WARNING,
	MM_LOG_INFO,
	MM_LOG_DEBUG,
	_MM_LOG_LEVEL_MAX
};

void mm_log_init(const char *ident, enum mm_log_level max);
__attribute__((format(printf, 2, 3))) void mm_log(enum mm_log_level lvl, const char *fmt, ...);
/* Logs "<message>: <strerror(-err)>" and returns <err>, for "return mm_log_errno(r, ...)". */
__attribute__((format(printf, 2, 3))) int mm_log_errno(int err, const char *fmt, ...);

#endif /* MM_LOG_H */
