/* SPDX-License-Identifier: MIT */
/*
 * How `mqttmux sub` prints a message: the default and -v lines, and -F FORMAT with
 * mosquitto_sub's tokens, flags, field widths and precisions (cli_fmt.c), including the JSON
 * of %j and %J (cli_json.c). Everything goes to stdout.
 */
#ifndef MM_CLI_FMT_H
#define MM_CLI_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "mqttmux.h"

struct mm_cli_out {
	const char *fmt; /* -F, or NULL */
	bool verbose;	 /* -v */
	bool eol;	 /* a newline after each message (-N clears it) */
	bool pretty;	 /* --pretty: %j and %J indented as mosquitto_sub (cJSON) does */
	bool quiet;	 /* --quiet: no error lines on stderr */
};

/*
 * mm_cli_fmt_check - validate a -F format as mosquitto_sub does before it connects
 * @fmt: the format
 * @err: where to write why it is refused (one line, no newline)
 *
 * Returns 0, or -EINVAL with <err> filled.
 */
int mm_cli_fmt_check(const char *fmt, char *err, size_t errlen);

/* mm_cli_print - print <m> as <o> says (the format must have passed mm_cli_fmt_check). */
void mm_cli_print(const struct mm_cli_out *o, const struct mqttmux_msg *m);

/*
 * mm_cli_json - write the %j (<raw_payload> false: payload as a JSON string) or %J (true: the
 * payload is JSON and is embedded) object of <m> to <f>, with mosquitto_sub's fields, order and
 * layout. Returns 0, or -EINVAL when %J finds a payload that is not JSON (nothing written).
 */
int mm_cli_json(FILE *f, const struct mqttmux_msg *m, bool raw_payload, bool pretty);

#endif /* MM_CLI_FMT_H */
