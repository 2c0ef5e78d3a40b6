/* SPDX-License-Identifier: MIT */
/*
 * The mqttmux CLI's message commands, called from main in cli.c: sub (cli_sub.c) and pub
 * (cli_pub.c), with the helpers they share (cli_msg.c).
 */
#ifndef MM_CLI_H
#define MM_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

struct mqttmux;
struct mqttmux_open_opts;

/* mqttmux sub / mqttmux pub: argv[0] is the command; <dir> the runtime_dir. Exit codes. */
int mm_cli_sub(const char *dir, int argc, char **argv);
int mm_cli_pub(const char *dir, int argc, char **argv);

/* mosquitto_sub's exit code when -W expires (MOSQ_ERR_TIMEOUT). */
#define MM_CLI_EXIT_TIMEOUT 27

/*
 * mosquitto_sub/_pub options that have no meaning here because mqttmuxd's session, not this
 * command, connects to the broker: they are accepted by getopt only to be refused with a
 * line that says where the setting lives (mm_cli_foreign). Short ones go in the optstring.
 */
#define MM_CLI_OPT_FOREIGN   0x100
#define MM_CLI_FOREIGN_SHORT "h:p:u:P:i:I:k:cx:V:L:A:SM:d"
#define MM_CLI_FOREIGN_LONG                                                               \
	{ "host", required_argument, NULL, MM_CLI_OPT_FOREIGN },                          \
		{ "port", required_argument, NULL, MM_CLI_OPT_FOREIGN },                  \
		{ "username", required_argument, NULL, MM_CLI_OPT_FOREIGN },              \
		{ "pw", required_argument, NULL, MM_CLI_OPT_FOREIGN },                    \
		{ "id", required_argument, NULL, MM_CLI_OPT_FOREIGN },                    \
		{ "id-prefix", required_argument, NULL, MM_CLI_OPT_FOREIGN },             \
		{ "keepalive", required_argument, NULL, MM_CLI_OPT_FOREIGN },             \
		{ "disable-clean-session", no_argument, NULL, MM_CLI_OPT_FOREIGN },       \
		{ "protocol-version", required_argument, NULL, MM_CLI_OPT_FOREIGN },      \
		{ "url", required_argument, NULL, MM_CLI_OPT_FOREIGN },                   \
		{ "unix", required_argument, NULL, MM_CLI_OPT_FOREIGN },                  \
		{ "nodelay", no_argument, NULL, MM_CLI_OPT_FOREIGN },                     \
		{ "cafile", required_argument, NULL, MM_CLI_OPT_FOREIGN },                \
		{ "capath", required_argument, NULL, MM_CLI_OPT_FOREIGN },                \
		{ "cert", required_argument, NULL, MM_CLI_OPT_FOREIGN },                  \
		{ "key", required_argument, NULL, MM_CLI_OPT_FOREIGN },                   \
		{ "keyform", required_argument, NULL, MM_CLI_OPT_FOREIGN },               \
		{ "ciphers", required_argument, NULL, MM_CLI_OPT_FOREIGN },               \
		{ "insecure", no_argument, NULL, MM_CLI_OPT_FOREIGN },                    \
		{ "tls-alpn", required_argument, NULL, MM_CLI_OPT_FOREIGN },              \
		{ "tls-engine", required_argument, NULL, MM_CLI_OPT_FOREIGN },            \
		{ "tls-engine-kpass-sha1", required_argument, NULL, MM_CLI_OPT_FOREIGN }, \
		{ "tls-use-os-certs", no_argument, NULL, MM_CLI_OPT_FOREIGN },            \
		{ "tls-version", required_argument, NULL, MM_CLI_OPT_FOREIGN },           \
		{ "psk", required_argument, NULL, MM_CLI_OPT_FOREIGN },                   \
		{ "psk-identity", required_argument, NULL, MM_CLI_OPT_FOREIGN },          \
		{ "proxy", required_argument, NULL, MM_CLI_OPT_FOREIGN },                 \
		{ "will-topic", required_argument, NULL, MM_CLI_OPT_FOREIGN },            \
		{ "will-payload", required_argument, NULL, MM_CLI_OPT_FOREIGN },          \
		{ "will-qos", required_argument, NULL, MM_CLI_OPT_FOREIGN },              \
		{ "will-retain", no_argument, NULL, MM_CLI_OPT_FOREIGN },                 \
	{                                                                                 \
		"debug", no_argument, NULL, MM_CLI_OPT_FOREIGN                            \
	}

/*
 * mm_cli_foreign - refuse a mosquitto client option that belongs elsewhere here
 * @cmd:  "sub" or "pub"
 * @opt:  getopt's return value (a short letter, or MM_CLI_OPT_FOREIGN)
 * @name: the long option's name when <opt> is MM_CLI_OPT_FOREIGN
 *
 * Prints one line saying where the setting lives. Returns true if <opt> was such an option.
 */
bool mm_cli_foreign(const char *cmd, int opt, const char *name);

/* A decimal in [lo, hi]: 0 or -EINVAL. */
int mm_cli_parse_long(const char *s, long lo, long hi, long *ret);

/* Seconds as a decimal fraction in [0, max]: 0 or -EINVAL. */
int mm_cli_parse_secs(const char *s, double max, double *ret);

/* Connect to the router in <dir>; prints why not. Returns the client or NULL. */
struct mqttmux *mm_cli_open(const char *dir, const struct mqttmux_open_opts *opts);

/* Dispatch <c> for <ms> milliseconds (a pause that still answers the router). */
void mm_cli_pause(struct mqttmux *c, int64_t ms);

#endif /* MM_CLI_H */
