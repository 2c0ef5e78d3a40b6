/* SPDX-License-Identifier: MIT */
/*
 * mqttmux: the command-line client of mqttmuxd.
 *
 *   mqttmux [-d DIR] status [--json]
 *   mqttmux [-d DIR] wait [-s SESSION] [-t SECONDS]
 *   mqttmux [-d DIR] ping | reload | restart NAME
 *   mqttmux [-d DIR] events [-s SESSION] [-C COUNT] [-W SECONDS]
 *   mqttmux [-d DIR] session add -c FILE | session remove NAME | session restart NAME
 *   mqttmux [-d DIR] sub -t FILTER [-t FILTER ...] [-s SESSION] [-q QOS] [-C COUNT] ...
 *   mqttmux [-d DIR] pub [-s SESSION | --all] -t TOPIC (-m MSG | -f FILE | -l | -n ...) ...
 *   mqttmux [-d DIR] top [-s SESSION] [--interval SECONDS] [-n COUNT] [-b | --once]
 *
 * DIR is the daemon's runtime_dir: -d, else $MQTTMUX_RUNTIME_DIR, else /run/mqttmux. Each
 * command is one line on DIR/control.sock and one JSON line back (docs/operations.md,
 * "Control socket"); events prints the daemon's event stream, one JSON line per event, until
 * COUNT, SECONDS, SIGINT or the daemon's end (docs/events.md). sub and pub (cli_sub.c,
 * cli_pub.c) go through libmqttmux to the router instead, with mosquitto_sub's and
 * mosquitto_pub's options. Exit codes: 0 ok, 1 failure (daemon error, timeout, unknown session,
 * no daemon), 64 usage; sub also 27 when -W expires, as mosquitto_sub.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli_top.h"
#include "ctl_io.h"
#include "mm_time.h"
#include "mqttmux.h"
#include "usage.h"

static const char *Dir;

static const char Usage[] =
	"usage: mqttmux [-d DIR] status [--json] [SESSION]\n"
	"       mqttmux [-d DIR] wait [-s SESSION] [-t SECONDS]\n"
	"       mqttmux [-d DIR] ping | reload | restart NAME | metrics\n"
	"       mqttmux [-d DIR] events [-s SESSION] [-C COUNT] [-W SECONDS]\n"
	"       mqttmux [-d DIR] session add -c FILE | session remove NAME |\n"
	"                        session restart NAME\n"
	"       mqttmux [-d DIR] sub -t FILTER [-t FILTER ...] [-s SESSION] [-q QOS]\n"
	"                            [-C COUNT] [-W SECONDS] [-v] [-F FORMAT] [-N] [-R] [-E]\n"
	"                            [-T FILTER ...] [-U FILTER ...] [--retained-only]\n"
	"                            [--remove-retained] [--random-filter PERCENT]\n"
	"                            [--pretty] [--quiet]\n"
	"       mqttmux [-d DIR] pub [-s SESSION | --all] -t TOPIC\n"
	"                            (-m MSG | -f FILE | -l | -n | --stdin-file) [-q QOS] [-r]\n"
	"                            [--repeat N] [--repeat-delay SECONDS] [--quiet]\n"
	"       mqttmux [-d DIR] top [-s SESSION] [--interval SECONDS] [-n COUNT] [-b | --once]\n"
	"       mqttmux --help | --version\n"
	"DIR: the daemon's runtime_dir (default $MQTTMUX_RUNTIME_DIR, else " MQTTMUX_DEFAULT_DIR
	")\n"
	"See mqttmux(1).\n";

static int usage(void)
{
	fputs(Usage, stderr);
	return EX_USAGE;
}

/* Connect to DIR/control.sock (ctl_io.c); prints why not. Returns the socket or -1. */
static int ctl_connect(void)
{
	char err[600];
	int fd = mm_ctl_io_connect(Dir, err, sizeof(err));

	if (fd < 0)
		fprintf(stderr, "mqttmux: %s\n", err);
	return fd < 0 ? -1 : fd;
}

/* Returns 0 or -1 with errno set. */
static int send_all(int fd, const char *buf, size_t len, int pass_fd)
{
	int r = mm_ctl_io_send_fd(fd, buf, len, pass_fd);

	errno = -r;
	return r < 0 ? -1 : 0;
}

/* Read one line (the reply) within <timeout_ms>. Returns a malloc'd string or NULL (errno). */
static char *read_line(int fd, int timeout_ms)
{
	char *line;
	size_t len;
	int r = mm_ctl_io_read(fd, timeout_ms, false, &line, &len);

	errno = -r;
	return line;
}

/* A failed reload lists the problems of the file ("file:line: message"). */
static void print_problems(json_object *o)
{
	json_object *p;

	if (!json_object_object_get_ex(o, "problems", &p) ||
	    !json_object_is_type(p, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(p); i++)
		fprintf(stderr, "  %s\n", json_object_get_string(json_object_array_get_idx(p, i)));
}

/* Is <o> a reply {"ok": false, "error": ...}? Then print "mqttmux: <cmd>: <error>". */
static bool refused(const char *cmd, json_object *o)
{
	json_object *ok, *err;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "ok", &ok) ||
	    json_object_get_boolean(ok))
		return false;
	json_object_object_get_ex(o, "error", &err);
	fprintf(stderr, "mqttmux: %s: %s\n", cmd, err ? json_object_get_string(err) : "failed");
	print_problems(o);
	return true;
}

/*
 * Send <line>, read and parse the reply. Prints what went wrong and returns NULL; a reply
 * {"ok": false, "error": ...} is printed as "mqttmux: <cmd>: <error>" and also NULL.
 */
static json_object *call_fd(const char *cmd, const char *line, int pass_fd, int timeout_ms,
			    char **raw)
{
	int fd = ctl_connect();
	json_object *o = NULL;
	char *text = NULL;

	if (fd < 0)
		return NULL;
	/* a refused peer may find the socket closed before it sends: the reason is still there */
	if ((send_all(fd, line, strlen(line), pass_fd) < 0 && errno != EPIPE &&
	     errno != ECONNRESET) ||
	    !(text = read_line(fd, timeout_ms)))
		fprintf(stderr, "mqttmux: %s: no reply from mqttmuxd: %s\n", cmd, strerror(errno));
	else if (!(o = json_tokener_parse(text)))
		fprintf(stderr, "mqttmux: %s: the reply is not JSON: %.200s\n", cmd, text);
	close(fd);
	if (o && refused(cmd, o)) {
		json_object_put(o);
		o = NULL;
	}
	if (o && raw)
		*raw = text;
	else
		free(text);
	return o;
}

static json_object *call(const char *cmd, const char *line, int timeout_ms, char **raw)
{
	return call_fd(cmd, line, -1, timeout_ms, raw);
}

static const char *str(json_object *row, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(row, key, &v) || json_object_is_type(v, json_type_null))
		return "-";
	return json_object_get_string(v);
}

static void print_table(json_object *a)
{
	json_object *r0 = json_object_array_get_idx(a, 0), *rs = NULL, *why = NULL;

	/* the router is down: the sessions cannot reach any client, whatever their state says */
	if (r0 && json_object_object_get_ex(r0, "router", &rs) &&
	    strcmp(json_object_get_string(rs), "up")) {
		(void)json_object_object_get_ex(r0, "router_error", &why);
		printf("router down: %s\n",
		       why ? json_object_get_string(why) : json_object_get_string(rs));
	}
	printf("%-16s %-12s %-28s %7s %8s %9s %9s %11s %11s %6s  %s\n", "NAME", "STATE", "BROKER",
	       "PID", "RESTARTS", "MSGS_IN", "MSGS_OUT", "BYTES_IN", "BYTES_OUT", "RECONN",
	       "LAST_ERROR");
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *r = json_object_array_get_idx(a, i);

		printf("%-16s %-12s %-28s %7s %8s %9s %9s %11s %11s %6s  %s\n", str(r, "name"),
		       str(r, "state"), str(r, "broker"), str(r, "pid"), str(r, "restarts"),
		       str(r, "messages_received"), str(r, "messages_sent"),
		       str(r, "bytes_received"), str(r, "bytes_sent"), str(r, "reconnects"),
		       str(r, "last_error"));
	}
}

/* A session name (or other word) that fits on a control-socket command line as one word. */
static bool ctl_word_ok(const char *w)
{
	return w[0] && strlen(w) <= 64 && !strpbrk(w, " \t\r\n");
}

static int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { NULL, 0, NULL, 0 } };
	bool json = false;
	char *raw = NULL, line[256];
	json_object *a;
	int c;

	while ((c = getopt_long(argc, argv, "j", opts, NULL)) != -1)
		if (c == 'j')
			json = true;
		else
			return usage();
	if (optind + 1 < argc || (optind < argc && !ctl_word_ok(argv[optind])))
		return usage();
	snprintf(line, sizeof(line), MM_CTL_CMD_STATUS "%s%s\n", optind < argc ? " " : "",
		 optind < argc ? argv[optind] : "");
	a = call(MM_CTL_CMD_STATUS, line, MM_CTL_CALL_MS, &raw);
	if (!a || !json_object_is_type(a, json_type_array)) {
		if (a)
			fprintf(stderr, "mqttmux: status: unexpected reply\n");
		json_object_put(a);
		free(raw);
		return 1;
	}
	if (json)
		printf("%s\n", raw);
	else
		print_table(a);
	json_object_put(a);
	free(raw);
	return 0;
}

static int parse_seconds(const char *s, double *ret)
{
	char *end;

	errno = 0;
	*ret = strtod(s, &end);
	return errno || end == s || *end || !(*ret >= 0 && *ret <= 86400) ? -EINVAL : 0;
}

static int cmd_wait(int argc, char **argv)
{
	const char *session = "*";
	double secs = MM_CTL_WAIT_DEFAULT;
	char line[256];
	json_object *o;
	int c;

	while ((c = getopt(argc, argv, "+s:t:")) != -1) {
		if (c == 's' && ctl_word_ok(optarg))
			session = optarg;
		else if (c != 't' || parse_seconds(optarg, &secs) < 0)
			return usage();
	}
	if (optind != argc)
		return usage();
	snprintf(line, sizeof(line), MM_CTL_CMD_WAIT " %s %.3f\n", session, secs);
	o = call("wait", line, (int)(secs * 1000) + MM_CTL_WAIT_SLACK_MS, NULL);
	json_object_put(o);
	return o ? 0 : 1;
}

/* ping, reload, restart NAME: print nothing on success. */
static int cmd_simple(int argc, char **argv)
{
	char line[256];
	json_object *o;
	bool restart = !strcmp(argv[0], "restart");

	if (argc != (restart ? 2 : 1) || (restart && !ctl_word_ok(argv[1])))
		return usage();
	snprintf(line, sizeof(line), "%s%s%s\n", argv[0], restart ? " " : "",
		 restart ? argv[1] : "");
	o = call(argv[0], line, MM_CTL_CALL_MS, NULL);
	if (o && !strcmp(argv[0], "ping"))
		printf("pong\n");
	json_object_put(o);
	return o ? 0 : 1;
}

/*
 * session add -c FILE: we open FILE with our rights and send it open; its absolute name
 * resolves the relative names in it (the daemon never opens FILE for us).
 */
static int session_add(int argc, char **argv)
{
	char line[PATH_MAX + 16], *path = NULL;
	json_object *o;
	int c, fd;

	while ((c = getopt(argc, argv, "+c:")) != -1) {
		if (c != 'c')
			return usage();
		free(path);
		path = realpath(optarg, NULL);
		if (!path) {
			fprintf(stderr, "mqttmux: session add: '%s': %s\n", optarg,
				strerror(errno));
			return 1;
		}
	}
	if (optind != argc || !path || strpbrk(path, " \t\r\n")) {
		if (path)
			fprintf(stderr, "mqttmux: session add: no blanks in the path, please\n");
		free(path);
		return path ? 1 : usage();
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		fprintf(stderr, "mqttmux: session add: '%s': %s\n", path, strerror(errno));
		free(path);
		return 1;
	}
	snprintf(line, sizeof(line), MM_CTL_CMD_ADD " %s\n", path);
	free(path);
	o = call_fd("session add", line, fd, MM_CTL_CALL_MS, NULL);
	close(fd);
	json_object_put(o);
	return o ? 0 : 1;
}

/* session add -c FILE | remove NAME | restart NAME: print nothing on success. */
static int cmd_session(int argc, char **argv)
{
	char line[256];
	json_object *o;

	if (argc >= 2 && !strcmp(argv[1], "add"))
		return session_add(argc - 1, argv + 1);
	if (argc != 3 || (strcmp(argv[1], "remove") && strcmp(argv[1], "restart")) ||
	    strlen(argv[2]) > 64 || strpbrk(argv[2], " \t\r\n"))
		return usage();
	snprintf(line, sizeof(line), "%s %s\n", argv[1], argv[2]);
	o = call(argv[1], line, MM_CTL_CALL_MS, NULL);
	json_object_put(o);
	return o ? 0 : 1;
}

/* Read the reply to "metrics": Prometheus text up to a "# EOF" line, or one JSON error line. */
static char *read_metrics(int fd, size_t *ret_len)
{
	char *text;

	(void)mm_ctl_io_read(fd, MM_CTL_CALL_MS, true, &text, ret_len);
	return text;
}

/* mqttmux metrics: the daemon's Prometheus text, as the control socket gives it. */
static int cmd_metrics(int argc, char **argv)
{
	size_t len = 0;
	char *text;
	int fd;

	(void)argv;
	if (argc != 1)
		return usage();
	fd = ctl_connect();
	if (fd < 0)
		return 1;
	if (send_all(fd, MM_CTL_CMD_METRICS "\n", sizeof(MM_CTL_CMD_METRICS), -1) < 0 ||
	    !(text = read_metrics(fd, &len))) {
		fprintf(stderr, "mqttmux: metrics: no complete reply from the daemon\n");
		close(fd);
		return 1;
	}
	close(fd);
	if (text[0] == '{') {
		fprintf(stderr, "mqttmux: metrics: %.*s\n", (int)len, text);
		free(text);
		return 1;
	}
	fwrite(text, 1, len, stdout);
	free(text);
	return 0;
}

/* The `events` stream as it arrives: the reply to the command, then one event per line. */
struct evstream {
	char buf[65536];
	size_t len;
	long count, seen; /* -C, or 0; event lines printed */
	bool acked;	  /* the daemon accepted the command */
};

/* Handle the complete lines received. Returns 1 once COUNT are printed, 0, or -1 (refused). */
static int ev_lines(struct evstream *e)
{
	char *nl;

	while ((nl = memchr(e->buf, '\n', e->len))) {
		size_t n = (size_t)(nl - e->buf) + 1;
		json_object *o;

		*nl = '\0';
		if (!e->acked) {
			o = json_tokener_parse(e->buf);
			if (!o || refused("events", o)) {
				if (!o)
					fprintf(stderr,
						"mqttmux: events: the reply is not JSON: %.200s\n",
						e->buf);
				json_object_put(o);
				return -1;
			}
			json_object_put(o);
			e->acked = true;
		} else {
			printf("%s\n", e->buf);
			fflush(stdout);
			e->seen++;
		}
		memmove(e->buf, e->buf + n, e->len - n);
		e->len -= n;
		if (e->count && e->seen >= e->count)
			return 1;
	}
	return 0;
}

/* Receive until COUNT events or the deadline (-1: none). Returns the exit code. */
static int ev_loop(int fd, struct evstream *e, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ms = deadline < 0
				 ? -1
				 : (int)(deadline > mm_time_mono_ms() ? deadline - mm_time_mono_ms()
								      : 0);
		int r = poll(&p, 1, ms);
		ssize_t n;

		if (r == 0)
			return e->count || !e->acked ? 1 : 0;
		if (r == -1 && errno == EINTR)
			continue;
		n = r == -1 ? -1 : recv(fd, e->buf + e->len, sizeof(e->buf) - e->len, 0);
		if (n <= 0 || (e->len += (size_t)n) == sizeof(e->buf)) {
			fprintf(stderr, "mqttmux: events: %s\n",
				n == 0	? "mqttmuxd closed the stream"
				: n > 0 ? "line too long"
					: strerror(errno));
			return 1;
		}
		r = ev_lines(e);
		if (r)
			return r < 0 ? 1 : 0;
	}
}

/* events [-s SESSION] [-C COUNT] [-W SECONDS]: the daemon's events as JSON lines on stdout. */
static int cmd_events(int argc, char **argv)
{
	static struct evstream e;
	const char *session = NULL;
	double secs = -1;
	char line[256], *end;
	int c, fd, rc;

	while ((c = getopt(argc, argv, "+s:C:W:")) != -1) {
		if (c == 's' && ctl_word_ok(optarg))
			session = optarg;
		else if (c == 'C' && (e.count = strtol(optarg, &end, 10)) > 0 && !*end)
			continue;
		else if (c != 'W' || parse_seconds(optarg, &secs) < 0 || secs == 0)
			return usage();
	}
	if (optind != argc)
		return usage();
	fd = ctl_connect();
	if (fd < 0)
		return 1;
	snprintf(line, sizeof(line), MM_CTL_CMD_EVENTS "%s%s\n", session ? " " : "",
		 session ? session : "");
	if (send_all(fd, line, strlen(line), -1) < 0) {
		fprintf(stderr, "mqttmux: events: %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	rc = ev_loop(fd, &e, secs < 0 ? -1 : mm_time_mono_ms() + (int64_t)(secs * 1000));
	if (rc && e.acked && e.count && e.seen < e.count)
		fprintf(stderr, "mqttmux: events: %ld of %ld event(s) before the end\n", e.seen,
			e.count);
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd;
	int c;

	Dir = getenv(MM_CTL_DIR_ENV);
	if (!Dir || !Dir[0])
		Dir = MQTTMUX_DEFAULT_DIR;
	while ((c = getopt_long(argc, argv, "+d:h", opts, NULL)) != -1)
		if (c == 'd')
			Dir = optarg;
		else if (c == 'h' || c == 'V')
			return mm_usage_help_version(c == 'h', "mqttmux", Usage);
		else
			return usage();
	if (optind >= argc)
		return usage();
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 0; /* glibc: start a fresh scan of the command's arguments */
	if (argc > 1 && !strcmp(argv[1], "--help")) /* mqttmux COMMAND --help */
		return mm_usage_help_version(true, "mqttmux", Usage);
	if (!strcmp(cmd, "status"))
		return cmd_status(argc, argv);
	if (!strcmp(cmd, "wait"))
		return cmd_wait(argc, argv);
	if (!strcmp(cmd, "ping") || !strcmp(cmd, "reload") || !strcmp(cmd, "restart"))
		return cmd_simple(argc, argv);
	if (!strcmp(cmd, "metrics"))
		return cmd_metrics(argc, argv);
	if (!strcmp(cmd, "events"))
		return cmd_events(argc, argv);
	if (!strcmp(cmd, "session"))
		return cmd_session(argc, argv);
	if (!strcmp(cmd, "sub"))
		return mm_cli_sub(Dir, argc, argv);
	if (!strcmp(cmd, "pub"))
		return mm_cli_pub(Dir, argc, argv);
	if (!strcmp(cmd, "top"))
		return mm_cli_top(Dir, argc, argv);
	return usage();
}
