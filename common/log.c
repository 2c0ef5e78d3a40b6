/* SPDX-License-Identifier: MIT */
/*
 * Log records, filtered by level, to the journal, or to stderr as JSON or text (see log.h).
 * The level maps to the syslog priority journald files it under (error 3, warning 4, info 6,
 * debug 7), so `journalctl -p err` finds the errors.
 */
#include "log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"

static const char *log_ident = "mqttmux";
static enum mm_log_level log_max = MM_LOG_INFO;
static const char *log_session;
static bool log_json, log_journal;

static const char *const level_names[_MM_LOG_LEVEL_MAX] = {
	[MM_LOG_ERROR] = "error",
	[MM_LOG_WARNING] = "warning",
	[MM_LOG_INFO] = "info",
	[MM_LOG_DEBUG] = "debug",
};

/* syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const int priorities[_MM_LOG_LEVEL_MAX] = { 3, 4, 6, 7 };

void mm_log_init(const char *ident, enum mm_log_level max)
{
	const char *f = getenv(MM_LOG_FORMAT_ENV);

	log_ident = ident;
	log_max = max;
	log_json = f && !strcmp(f, "json");
	log_journal = mm_log_journal_is_stderr();
}

void mm_log_set_level(enum mm_log_level max)
{
	log_max = max;
}

void mm_log_set_json(bool json)
{
	log_json = json;
	(void)setenv(MM_LOG_FORMAT_ENV, json ? "json" : "text", 1);
}

void mm_log_set_session(const char *name)
{
	log_session = name;
}

/* Append <s> to buf (at *n, at most cap) as the body of a JSON string. */
static void json_str(char *buf, size_t cap, size_t *n, const char *s)
{
	for (; *s && *n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			*n += (size_t)snprintf(buf + *n, cap - *n, "\\%c", c);
		else if (c < 0x20)
			*n += (size_t)snprintf(buf + *n, cap - *n, "\\u%04x", c);
		else
			buf[(*n)++] = (char)c;
	}
	buf[*n] = '\0';
}

static void json_raw(char *buf, size_t cap, size_t *n, const char *s)
{
	int w = snprintf(buf + *n, cap - *n, "%s", s);

	*n = w < 0 || (size_t)w >= cap - *n ? cap - 1 : *n + (size_t)w;
}

/*
 * {"time":"...Z","level":"...","ident":"...","pid":N,"session":"...","msg":"..."}, written
 * with one write(2) so that the lines of several processes on one stderr never interleave.
 */
static void put_json(enum mm_log_level lvl, const char *msg)
{
	char buf[4096], head[128], when[32] = "";
	struct timespec ts;
	struct tm tm;
	size_t n = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (gmtime_r(&ts.tv_sec, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(head, sizeof(head), "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"ident\":\"", when,
		 ts.tv_nsec / 1000000, level_names[lvl]);
	json_raw(buf, sizeof(buf), &n, head);
	json_str(buf, sizeof(buf), &n, log_ident);
	snprintf(head, sizeof(head), "\",\"pid\":%d,", (int)getpid());
	json_raw(buf, sizeof(buf), &n, head);
	if (log_session) {
		json_raw(buf, sizeof(buf), &n, "\"session\":\"");
		json_str(buf, sizeof(buf), &n, log_session);
		json_raw(buf, sizeof(buf), &n, "\",");
	}
	json_raw(buf, sizeof(buf) - 3, &n, "\"msg\":\"");
	json_str(buf, sizeof(buf) - 3, &n, msg);
	memcpy(buf + n, "\"}\n", 3);
	(void)!write(2, buf, n + 3);
}

static void emit(enum mm_log_level lvl, const char *msg)
{
	char prefix[8] = "";

	if (log_json && !log_journal) {
		put_json(lvl, msg);
		return;
	}
	if (log_journal) {
		if (mm_log_journal_send(priorities[lvl], log_ident, log_session, msg) == 0)
			return;
		/* the journal's stream parses this prefix into the priority (SyslogLevelPrefix) */
		snprintf(prefix, sizeof(prefix), "<%d>", priorities[lvl]);
	}
	fprintf(stderr, "%s%s[%d]: %s: %s\n", prefix, log_ident, (int)getpid(), level_names[lvl],
		msg);
}

/*
 * <in> made safe to print on one line: control characters, DEL and bytes that are not UTF-8
 * become \xNN, a backslash becomes \\. Client names, broker error texts, topics and file names
 * go into messages; without this a name holding "\n" could forge a whole log line, and an
 * escape sequence could rewrite the terminal. Truncated to <cap> - 1 bytes.
 */
static void escape(char *out, size_t cap, const char *in)
{
	const uint8_t *p = (const uint8_t *)in;
	size_t n = 0, left = strlen(in);
	uint32_t cp;

	while (left && n + 5 < cap) {
		size_t len = mm_utf8_seq(p, left, &cp);

		if (len == 1 && *p >= 0x20 && *p != 0x7f && *p != '\\') {
			out[n++] = (char)*p;
		} else if (len > 1 && !(cp >= 0x80 && cp <= 0x9f) &&
			   !(cp >= 0xd800 && cp <= 0xdfff)) {
			memcpy(out + n, p, len);
			n += len;
		} else {
			len = 1;
			n += (size_t)snprintf(out + n, cap - n, *p == '\\' ? "\\\\" : "\\x%02x",
					      *p);
		}
		p += len;
		left -= len;
	}
	out[n] = '\0';
}

static char last_error[256]; /* mm_log_last_error() */

__attribute__((format(printf, 3, 0))) static void vlog(enum mm_log_level lvl, const char *suffix,
						       const char *fmt, va_list ap)
{
	char line[1024], safe[4096];
	int n = 0;

	if (lvl > log_max || lvl >= _MM_LOG_LEVEL_MAX)
		return;
	if (log_session && !(log_json && !log_journal)) /* JSON has a field for it */
		n = snprintf(line, sizeof(line), "session '%s': ", log_session);
	if (n >= 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (suffix && n >= 0 && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, "%s", suffix);
	escape(safe, sizeof(safe), line);
	if (lvl == MM_LOG_ERROR) {
		size_t len = strnlen(safe, sizeof(last_error) - 1);

		memcpy(last_error, safe, len);
		last_error[len] = '\0';
	}
	emit(lvl, safe);
}

/* The last error record of this process (escaped), "" if none: a child tells its parent. */
const char *mm_log_last_error(void)
{
	return last_error;
}

void mm_log(enum mm_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, NULL, fmt, ap);
	va_end(ap);
}

int mm_log_errno(int err, const char *fmt, ...)
{
	char suffix[128];
	va_list ap;

	snprintf(suffix, sizeof(suffix), ": %s", strerror(err < 0 ? -err : err));
	va_start(ap, fmt);
	vlog(MM_LOG_ERROR, suffix, fmt, ap);
	va_end(ap);
	return err;
}
