/* SPDX-License-Identifier: MIT */
/*
 * Log lines carry names and texts that clients and brokers chose (client names, error texts,
 * topics): whatever bytes those hold, a record stays one line of printable UTF-8, so nobody can
 * forge a line or rewrite a terminal. Each test runs in its own criterion worker, so pointing
 * fd 2 at a pipe touches nobody else.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "log.h"

/* Log <msg> (as a %s argument) the way <json> says; return what reached stderr. */
static char *logged(const char *msg, bool json)
{
	static char out[8192];
	int p[2], saved = dup(2);
	ssize_t n;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(dup2(p[1], 2), 2);
	(void)unsetenv("JOURNAL_STREAM");
	mm_log_init("t", MM_LOG_DEBUG);
	mm_log_set_json(json);
	mm_log(MM_LOG_WARNING, "client 'x': %s", msg);
	cr_assert_eq(dup2(saved, 2), 2);
	close(p[1]);
	n = read(p[0], out, sizeof(out) - 1);
	close(p[0]);
	close(saved);
	cr_assert_gt(n, 0);
	out[n] = '\0';
	return out;
}

Test(common_log, a_newline_in_a_name_cannot_start_a_line)
{
	char *line = logged("evil\nmqttmuxd[1]: error: forged\r", false);

	cr_expect_eq(strchr(line, '\n'), line + strlen(line) - 1, "one line: %s", line);
	cr_expect_not_null(strstr(line, "evil\\x0amqttmuxd[1]: error: forged\\x0d"), "%s", line);
}

Test(common_log, escapes_control_bytes_backslashes_and_bad_utf8)
{
	char *line = logged("\x1b[31mred\\x41 \xff\xc3\x28 caf\xc3\xa9 \xc2\x85", false);

	cr_expect_not_null(strstr(line, "\\x1b[31mred\\\\x41 \\xff\\xc3( caf\xc3\xa9 \\xc2\\x85"),
			   "%s", line);
}

Test(common_log, json_lines_stay_valid_json)
{
	char *line = logged("a\"b\nc\xff", true);

	cr_expect_not_null(strstr(line, "\"msg\":\"client 'x': a\\\"b\\\\x0ac\\\\xff\"}"), "%s",
			   line);
}
