/* SPDX-License-Identifier: MIT */
/*
 * MQTT 5 properties in the mqttmux CLI (cli_props.c): `mqttmux pub -D publish NAME VALUE` as
 * mosquitto_pub takes it, and the values the property tokens of `mqttmux sub -F` print.
 */
#ifndef MM_CLI_PROPS_H
#define MM_CLI_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttmux.h"

/* The properties given with -D, as the bytes mqttmux_publish_v5 takes. */
struct mm_cli_props {
	uint8_t *buf;
	size_t len;
};

/*
 * mm_cli_props_arg - take one -D COMMAND NAME VALUE [VALUE2]
 * @pp:   where the property is appended
 * @cmd:  -D's own argument (mosquitto_pub's "command": only "publish" is taken here)
 * @argc, @argv: the command line; optind points after <cmd> and is moved past the values
 *
 * Prints one line saying what is wrong and returns -1 for a missing value, another command,
 * an unknown name, a property a client of a shared connection may not set, or a value out of
 * its range; 0 when added.
 */
int mm_cli_props_arg(struct mm_cli_props *pp, const char *cmd, int argc, char **argv);
void mm_cli_props_free(struct mm_cli_props *pp);

/* The first property <id> of <m> as a number: true, or false when it has none. */
bool mm_cli_prop_num(const struct mqttmux_msg *m, int id, long long *ret);

/* The first property <id> of <m> as bytes (a view): true, or false when it has none. */
bool mm_cli_prop_bytes(const struct mqttmux_msg *m, int id, const char **p, size_t *len);

/* %P: every user property of <m> as "name:value", separated by one space, in order. */
void mm_cli_put_user_props(const struct mqttmux_msg *m);

#endif /* MM_CLI_PROPS_H */
