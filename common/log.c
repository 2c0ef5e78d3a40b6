/* SPDX-License-Identifier: MIT */
/* One-line log records on stderr, filtered by level (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *log_ident = "mqttmux";
static enum mm_log_level log_max = MM_LOG_INFO;

static const char *const level_names[_MM_LOG_LEVEL_MAX] = {
	[MM_LOG_ERROR] = "error",
	[MM_LOG_WARNING] = "warning",
	[MM_LOG_INFO] = "info",
	[MM_LOG_DEBUG] = "debug",
};

void mm_log_init(const char *ident, enum mm_log_level max)
{
	log_ident = ident;
	log_max = max;
}

__attribute__((format(printf, 3, 0))) static void vlog(enum mm_log_level lvl, const char *suffix,
						       const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (lvl > log_max || lvl >= _MM_LOG_LEVEL_MAX)
		return;
	n = snprintf(line, sizeof(line), "%s[%d]: %s: ", log_ident, (int)getpid(),
		     level_names[lvl]);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s%s\n", line, suffix ? suffix : "");
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
