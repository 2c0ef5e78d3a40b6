/* SPDX-License-Identifier: MIT */
/*
 * Logging for process code (supervisor, worker, router main-level code only; library code
 * never logs). One record per call, to one of three places (docs/operations.md, "Logs"):
 *
 *   - the journal, when stderr is a journal stream (JOURNAL_STREAM names it): a native
 *     journal datagram with PRIORITY, SYSLOG_IDENTIFIER (the process kind: mqttmuxd,
 *     mqttmux-router, mqttmux-worker), SYSLOG_PID, MQTTMUX_SESSION (workers) and MESSAGE;
 *     if the journal socket refuses it, the line goes to stderr with a "<N>" priority prefix;
 *   - stderr as JSON, one object per line, with log_format = "json";
 *   - stderr as text: "<ident>[<pid>]: <level>: <message>".
 *
 * Children inherit stderr, JOURNAL_STREAM and MQTTMUX_LOG_FORMAT, so each process picks the
 * same place by itself.
 */
#ifndef MM_LOG_H
#define MM_LOG_H

#include <stdbool.h>

enum mm_log_level {
	MM_LOG_ERROR = 0,
	MM_LOG_WARNING,
	MM_LOG_INFO,
	MM_LOG_DEBUG,
	_MM_LOG_LEVEL_MAX
};

/* The environment variable children read their format from ("json" or "text"). */
#define MM_LOG_FORMAT_ENV "MQTTMUX_LOG_FORMAT"

/*
 * Start logging as <ident> (the process kind), up to level <max>. Reads MQTTMUX_LOG_FORMAT and
 * JOURNAL_STREAM once.
 */
void mm_log_init(const char *ident, enum mm_log_level max);
/* Change the level (a reload). */
void mm_log_set_level(enum mm_log_level max);
/* JSON lines (true) or text (false) on stderr; exported to children through the environment. */
void mm_log_set_json(bool json);
/* A worker's session: a field of every record, and "session 'NAME': " before text messages. */
void mm_log_set_session(const char *name);

__attribute__((format(printf, 2, 3))) void mm_log(enum mm_log_level lvl, const char *fmt, ...);
/* The text of the last error this process logged (escaped, truncated), or "". */
const char *mm_log_last_error(void);
/* Logs "<message>: <strerror(-err)>" and returns <err>, for "return mm_log_errno(r, ...)". */
__attribute__((format(printf, 2, 3))) int mm_log_errno(int err, const char *fmt, ...);

/* log_journal.c: is fd 2 the stream JOURNAL_STREAM names? Send one record (0 or -errno). */
bool mm_log_journal_is_stderr(void);
int mm_log_journal_send(int priority, const char *ident, const char *session, const char *msg);

#endif /* MM_LOG_H */
