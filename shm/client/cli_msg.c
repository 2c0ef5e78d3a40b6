/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by `mqttmux sub` (cli_sub.c) and `mqttmux pub` (cli_pub.c): argument parsing,
 * the router connection, and the one line that answers a mosquitto client option which has no
 * place on this command line because mqttmuxd's session is the MQTT client.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mm_time.h"
#include "mqttmux.h"

bool mm_cli_foreign(const char *cmd, int opt, const char *name)
{
	char letter[3] = { '-', (char)opt, 0 };
	const char *what = opt == MM_CLI_OPT_FOREIGN ? name : letter;

	if (opt != MM_CLI_OPT_FOREIGN &&
	    (opt > 0xff || !strchr(MM_CLI_FOREIGN_SHORT, opt) || opt == ':'))
		return false;
	if (opt == 'd' || (name && !strcmp(name, "debug")))
		fprintf(stderr,
			"mqttmux %s: -d DIR (the runtime directory) goes before the command: "
			"mqttmux -d DIR %s ...; there is no --debug\n",
			cmd, cmd);
	else
		fprintf(stderr,
			"mqttmux %s: %s%s: mqttmuxd's sessions are the MQTT clients: broker, "
			"credentials, client id, keepalive, protocol, TLS and will are set in the "
			"session's config (mqttmuxd.conf(5)), not here\n",
			cmd, opt == MM_CLI_OPT_FOREIGN ? "--" : "", what);
	return true;
}

int mm_cli_parse_long(const char *s, long lo, long hi, long *ret)
{
	char *end;

	errno = 0;
	*ret = strtol(s, &end, 10);
	return errno || end == s || *end || *ret < lo || *ret > hi ? -EINVAL : 0;
}

int mm_cli_parse_secs(const char *s, double max, double *ret)
{
	char *end;

	errno = 0;
	*ret = strtod(s, &end);
	return errno || end == s || *end || !(*ret >= 0 && *ret <= max) ? -EINVAL : 0;
}

struct mqttmux *mm_cli_open(const char *dir, const struct mqttmux_open_opts *opts)
{
	int err = 0;
	struct mqttmux *c = mqttmux_open_opts(dir, opts, &err);

	if (!c)
		fprintf(stderr, "mqttmux: cannot connect to the router in %s: %s%s\n",
			dir ? dir : MQTTMUX_DEFAULT_DIR, strerror(-err),
			err == -ENOENT || err == -ECONNREFUSED ? " (is mqttmuxd running? see -d)"
							       : "");
	return c;
}

void mm_cli_pause(struct mqttmux *c, int64_t ms)
{
	int64_t end = mm_time_mono_ms() + ms;

	for (int64_t now = mm_time_mono_ms(); now < end; now = mm_time_mono_ms())
		if (mqttmux_dispatch(c, (int)(end - now)) < 0)
			break;
}
