/* SPDX-License-Identifier: MIT */
/*
 * `mqttmux pub`: mosquitto_pub on top of libmqttmux, publishing through a session of mqttmuxd
 * (docs/client.md, "mqttmux pub"):
 *
 *   -t TOPIC  (-m MSG | -f FILE | -l | -n | --stdin-file)  -q QOS  -r
 *   --repeat N  --repeat-delay SECONDS  --quiet  -D publish NAME VALUE [VALUE2] (MQTT 5)
 *
 * plus -s SESSION or --all. Without either, the daemon's only session is used (more than one:
 * say which). mosquitto_pub's -s (read the message from stdin) is --stdin-file here, because
 * -s names the session in every mqttmux command; a -s that looks like mosquitto_pub's gets a
 * line saying so. Exit codes: 0, 1 if any publish failed (each failure is one line on
 * stderr), 64 on bad usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "cli_props.h"
#include "mqttmux.h"

#define PUB_TIMEOUT 10000 /* ms, per message */

enum { OPT_STDIN_FILE = 0x200, OPT_REPEAT, OPT_REPEAT_DELAY, OPT_QUIET, OPT_ALL };

enum pub_mode { MODE_NONE = 0, MODE_MSG, MODE_FILE, MODE_STDIN_FILE, MODE_LINES, MODE_NULL };

struct pub {
	const char *session, *topic, *msg, *file;
	char *own_session; /* the daemon's only session, when -s was not given */
	enum pub_mode mode;
	long qos, repeat;
	double delay;
	bool retain, all, quiet;
	long failed;
	struct mm_cli_props props; /* -D publish ... */
	char why[256];		   /* the text of the last publish_failed event (names limits) */
	size_t len;		   /* of the message being published */
};

static int pub_usage(void)
{
	fprintf(stderr,
		"usage: mqttmux pub [-s SESSION | --all] -t TOPIC\n"
		"                   (-m MSG | -f FILE | -l | -n | --stdin-file) [-q QOS] [-r]\n"
		"                   [--repeat N] [--repeat-delay SECONDS] [--quiet]\n"
		"                   [-D publish NAME VALUE [VALUE2]]...\n");
	return EX_USAGE;
}

static const char *pub_error(int rc)
{
	switch (rc) {
	case -ENOENT:
		return "no such session";
	case -EOPNOTSUPP:
		return "the router does not support publishing to all sessions";
	case -ENOTCONN:
		return "not connected (the session to its broker, or this client to the router)";
	case -ETIMEDOUT:
		return "no answer within 10 s (it may still go out)";
	case -EMSGSIZE:
		return "the message is too large";
	case -EINVAL:
		return "invalid topic or QoS (a topic has no + or #)";
	case -EPROTONOSUPPORT:
		return "the session speaks MQTT 3.1.1, which has no properties (-D)";
	}
	return strerror(-rc);
}

/* publish_failed: keep its text, which names the limit a message was over. */
static void on_failed(struct mqttmux *c, const struct mqttmux_event *ev, void *ud)
{
	struct pub *p = ud;

	(void)c;
	snprintf(p->why, sizeof(p->why), "%zu bytes are %s", p->len, ev->text ? ev->text : "");
}

static void pub_one(struct mqttmux *c, struct pub *p, const void *data, size_t len)
{
	int rc;

	p->why[0] = '\0';
	p->len = len;
	rc = p->props.len ? mqttmux_publish_v5(c, p->session, p->topic, data, len, (int)p->qos,
					       p->retain, p->props.buf, p->props.len, PUB_TIMEOUT)
	     : p->session ? mqttmux_publish_to(c, p->session, p->topic, data, len, (int)p->qos,
					       p->retain, PUB_TIMEOUT)
			  : mqttmux_publish_all(c, p->topic, data, len, (int)p->qos, p->retain,
						PUB_TIMEOUT);

	if (rc == 0)
		return;
	p->failed++;
	if (!p->quiet)
		fprintf(stderr, "mqttmux: publish to %s%s%s failed: %s\n",
			p->session ? "session '" : "", p->session ? p->session : "all sessions",
			p->session ? "'" : "",
			rc == -EMSGSIZE && p->why[0] ? p->why
			: rc == -EINVAL && p->props.len
				? "the -D properties were refused (a string that is not MQTT UTF-8, "
				  "a repeated property, or payload-format-indicator 1 on a payload "
				  "that is not UTF-8)"
				: pub_error(rc));
}

/* The whole of <f> (a file, or stdin for --stdin-file) into *ret. */
static int read_all(FILE *f, const char *name, char **ret, size_t *len)
{
	size_t cap = 0;
	FILE *m = open_memstream(ret, &cap);
	char buf[65536];
	size_t n;

	if (!m)
		return -ENOMEM;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, m);
	if (ferror(f)) {
		fprintf(stderr, "mqttmux: reading %s: %s\n", name, strerror(errno));
		fclose(m);
		free(*ret);
		*ret = NULL;
		return -EIO;
	}
	fclose(m);
	*len = cap;
	return 0;
}

static int load_message(const struct pub *p, char **data, size_t *len)
{
	FILE *f;
	int r;

	if (p->mode == MODE_STDIN_FILE)
		return read_all(stdin, "stdin", data, len);
	if (p->mode != MODE_FILE)
		return 0;
	f = fopen(p->file, "re");
	if (!f) {
		fprintf(stderr, "mqttmux: cannot read the message file '%s': %s\n", p->file,
			strerror(errno));
		return -errno;
	}
	r = read_all(f, p->file, data, len);
	fclose(f);
	return r;
}

/* -l: one message per stdin line, without its newline (a last line without one too). */
static void pub_lines(struct mqttmux *c, struct pub *p)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			n--;
		pub_one(c, p, line, (size_t)n);
	}
	free(line);
}

/* Neither -s nor --all: the daemon's only session, or a line saying there is a choice. */
static int pick_session(const char *dir, struct pub *p)
{
	char **names = NULL;
	size_t n = 0;
	int r = mqttmux_session_list(dir, &names, &n);

	if (r < 0) {
		fprintf(stderr,
			"mqttmux pub: no -s SESSION, and mqttmuxd cannot tell its sessions: "
			"%s\n",
			strerror(-r));
		return -1;
	}
	if (n == 1) {
		p->own_session = names[0];
		p->session = names[0];
		names[0] = NULL;
	} else {
		fprintf(stderr, "mqttmux pub: mqttmuxd has %zu sessions%s", n, n ? " (" : "");
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "%s%s", i ? ", " : "", names[i]);
		fprintf(stderr, "%s: choose one with -s SESSION%s\n", n ? ")" : "",
			n ? ", or all with --all" : "");
	}
	mqttmux_session_list_free(names, n);
	return p->session ? 0 : -1;
}

static int set_mode(struct pub *p, enum pub_mode m)
{
	if (p->mode != MODE_NONE) {
		fprintf(stderr, "mqttmux pub: only one of -m, -f, -l, -n and --stdin-file\n");
		return -1;
	}
	p->mode = m;
	return 0;
}

static int session_opt(struct pub *p, const char *arg)
{
	if (!arg || arg[0] == '-' || !arg[0]) {
		fprintf(stderr, "mqttmux pub: -s names the SESSION to publish through; to read the "
				"message from stdin as mosquitto_pub -s does, use --stdin-file\n");
		return -1;
	}
	p->session = arg;
	return 0;
}

static int pub_opt(struct pub *p, int opt, const char *arg)
{
	switch (opt) {
	case 's':
		return session_opt(p, arg);
	case 't':
		p->topic = arg;
		return arg[0] ? 0 : -1;
	case 'm':
		p->msg = arg;
		return set_mode(p, MODE_MSG);
	case 'f':
		p->file = arg;
		return set_mode(p, MODE_FILE);
	case 'l':
		return set_mode(p, MODE_LINES);
	case 'n':
		return set_mode(p, MODE_NULL);
	case OPT_STDIN_FILE:
		return set_mode(p, MODE_STDIN_FILE);
	case 'q':
		return mm_cli_parse_long(arg, 0, 2, &p->qos);
	case 'r':
		p->retain = true;
		return 0;
	case OPT_ALL:
		p->all = true;
		return 0;
	case OPT_QUIET:
		p->quiet = true;
		return 0;
	case OPT_REPEAT:
		return mm_cli_parse_long(arg, 1, 1L << 40, &p->repeat);
	case OPT_REPEAT_DELAY:
		return mm_cli_parse_secs(arg, 86400, &p->delay);
	}
	return -1;
}

static int pub_args(int argc, char **argv, struct pub *p)
{
	static const struct option opts[] = {
		{ "session", required_argument, NULL, 's' },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "topic", required_argument, NULL, 't' },
		{ "message", required_argument, NULL, 'm' },
		{ "file", required_argument, NULL, 'f' },
		{ "stdin-line", no_argument, NULL, 'l' },
		{ "null-message", no_argument, NULL, 'n' },
		{ "stdin-file", no_argument, NULL, OPT_STDIN_FILE },
		{ "qos", required_argument, NULL, 'q' },
		{ "retain", no_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, OPT_REPEAT },
		{ "repeat-delay", required_argument, NULL, OPT_REPEAT_DELAY },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "property", required_argument, NULL, 'D' },
		MM_CLI_FOREIGN_LONG,
		{ NULL, 0, NULL, 0 },
	};
	int opt, li = -1;

	while ((opt = getopt_long(argc, argv, "+:s:at:m:f:lnq:rD:" MM_CLI_FOREIGN_SHORT, opts,
				  &li)) != -1) {
		if (mm_cli_foreign("pub", opt, li >= 0 ? opts[li].name : NULL))
			return -1;
		if (opt == 'D') {
			if (mm_cli_props_arg(&p->props, optarg, argc, argv) < 0)
				return -1;
			li = -1;
			continue;
		}
		if (opt == ':' && optopt == 's')
			return session_opt(p, NULL);
		if (opt == 'a')
			opt = OPT_ALL;
		if (pub_opt(p, opt, optarg) < 0)
			return -1;
		li = -1;
	}
	if (optind != argc || !p->topic || p->mode == MODE_NONE || (p->session && p->all)) {
		fprintf(stderr, "mqttmux pub: %s\n",
			optind != argc	       ? "unexpected arguments"
			: !p->topic	       ? "give the topic with -t"
			: p->mode == MODE_NONE ? "give the message: -m, -f, -l, -n or --stdin-file"
					       : "-s and --all exclude each other");
		return -1;
	}
	return 0;
}

int mm_cli_pub(const char *dir, int argc, char **argv)
{
	struct pub p = { .repeat = 1 };
	struct mqttmux *c = NULL;
	char *data = NULL;
	size_t len = 0;

	if (pub_args(argc, argv, &p) < 0) {
		mm_cli_props_free(&p.props);
		return pub_usage();
	}
	if (load_message(&p, &data, &len) < 0) {
		mm_cli_props_free(&p.props);
		return 1;
	}
	if ((!p.session && !p.all && pick_session(dir, &p) < 0) || !(c = mm_cli_open(dir, NULL))) {
		free(data);
		free(p.own_session);
		mm_cli_props_free(&p.props);
		return 1;
	}
	(void)mqttmux_on_event(c, MQTTMUX_EV_MASK(MQTTMUX_EV_PUBLISH_FAILED), NULL, on_failed, &p);
	if (p.mode == MODE_MSG) {
		data = strdup(p.msg);
		len = strlen(p.msg);
	}
	for (long i = 0; p.mode == MODE_LINES ? i < 1 : i < p.repeat; i++) {
		if (i && p.delay > 0)
			mm_cli_pause(c, (int64_t)(p.delay * 1000));
		if (p.mode == MODE_LINES)
			pub_lines(c, &p);
		else
			pub_one(c, &p, data, len);
	}
	mqttmux_close(c);
	free(data);
	free(p.own_session);
	mm_cli_props_free(&p.props);
	return p.failed ? 1 : 0;
}
