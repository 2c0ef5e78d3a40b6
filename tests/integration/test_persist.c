/* SPDX-License-Identifier: MIT */
/*
 * Persistence of the running set against the real daemon, real workers and a real mosquitto
 * broker: `mqttmux session add -c FILE` starts a session and saves it in state_dir, a daemon
 * restart brings it back, `session remove` stops it, deletes its state file (or leaves a
 * tombstone for a session of the config file) and it stays gone after a restart; a broken or
 * clashing session file changes nothing. A session with persistent and resume_subs keeps the
 * filters of its routes in "subs-<hex>.txt": a restarted daemon subscribes them before any
 * client comes back, `session remove` deletes the file, and a hostile file is ignored. An
 * answered `add` or `remove` survives a kill -9 of the daemon.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <mqttmux.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"
#include "t_mosq.h"

/* "extra" as the daemon names its state file: never the raw name. */
#define EXTRA_FILE "session-6578747261.cfg"
#define TWO_TOMB   "removed-74776f.cfg"
#define KEEP_SUBS  "subs-6b656570.txt" /* "keep" */
#define ONE_SUBS   "subs-6f6e65.txt"   /* "one" */

static struct t_broker B;
static char *Dir, *Cfg, *Log, *Run, *Sock, *State;
static pid_t Daemon;

/* Sessions "one" and "two" on our broker. */
static void setup(void)
{
	char *text;

	t_daemon_setup("persist", &Dir, &Log, &Run, &Sock);
	cr_assert_gt(asprintf(&State, "%s/state", Dir), 0);
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s\";\nstate_dir = \"%s\";\n"
			      "sessions = (\n"
			      "  { name = \"one\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"per-one\"; },\n"
			      "  { name = \"two\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"per-two\"; }\n);\n",
			      Run, State, B.port, B.port),
		     0);
	t_write_text(Cfg, text);
	free(text);
}

static void teardown(void)
{
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	free(Dir);
	free(Cfg);
	free(Log);
	free(Run);
	free(Sock);
	free(State);
	Dir = Cfg = Log = Run = Sock = State = NULL;
}

static void start_daemon(void)
{
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, MQTTMUX_ROUTER_PATH,
				NULL);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, 10000), "control socket never answered");
}

#define CLI(out, err, ...)                                               \
	t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err), \
	      (const char *const[]){ __VA_ARGS__, NULL })

TestSuite(persist, .init = setup, .fini = teardown, .timeout = 120);

/* Write the session file <file> in Dir (its path in <path>, malloc'd): session "<name>". */
static char *session_file(const char *file, const char *name, const char *extra)
{
	char *path, *text;

	cr_assert_gt(asprintf(&path, "%s/%s", Dir, file), 0);
	cr_assert_gt(asprintf(&text,
			      "# one session block\n"
			      "session = {\n"
			      "  name = \"%s\";\n"
			      "  brokers = [ \"tcp://127.0.0.1:%d\" ];\n"
			      "  client_id = \"per-%s\";\n"
			      "  subscriptions = ( { topic = \"x/\\\"q\\\"/#\"; qos = 1; } );\n"
			      "%s"
			      "};\n",
			      name, B.port, name, extra ? extra : ""),
		     0);
	t_write_text(path, text);
	free(text);
	return path;
}

static bool has_session(const char *name)
{
	json_object *a = t_status_json(MQTTMUX_CLI_PATH, Run);
	bool found = t_json_row(a, name) != NULL;

	json_object_put(a);
	return found;
}

static bool lacks_session(void *name)
{
	return !has_session(name);
}

/* `remove` answers before the worker is down; the session leaves `status` once it is. */
static bool gone_soon(const char *name)
{
	return t_wait_for(lacks_session, (void *)name, 10000);
}

static void wait_ready(const char *name)
{
	char out[4096], err[4096];

	cr_assert_eq(CLI(out, err, "wait", "-s", name, "-t", "15"), 0, "wait %s: %s", name, err);
}

static bool state_exists(const char *file)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", State, file);
	return access(path, F_OK) == 0;
}

/* How many entries state_dir holds (besides . and .., and quarantine/). */
static int state_count(void)
{
	DIR *d = opendir(State);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d))) /* quarantine/: the daemon's, for poison messages */
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		     strcmp(e->d_name, "quarantine");
	closedir(d);
	return n;
}

static void restart_daemon(void)
{
	t_daemon_stop(&Daemon);
	start_daemon();
}

Test(persist, add_survives_restart)
{
	char out[4096], err[4096], path[4096], *file = session_file("extra.sess", "extra", NULL);
	struct stat st;

	start_daemon();
	wait_ready("one");
	cr_assert_eq(CLI(out, err, "session", "add", "-c", file), 0, "%s", err);
	wait_ready("extra");
	cr_expect(has_session("one") && has_session("two") && has_session("extra"));
	cr_assert(state_exists(EXTRA_FILE));
	cr_expect(!state_exists("extra") && !state_exists("extra.cfg"));
	snprintf(path, sizeof(path), "%s/%s", State, EXTRA_FILE);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0600, "state file mode %o", st.st_mode & 07777);
	cr_assert_eq(stat(State, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0700, "state_dir mode %o", st.st_mode & 07777);
	/* The daemon copied the block: the original file is not needed any more. */
	cr_assert_eq(unlink(file), 0);
	restart_daemon();
	wait_ready("extra");
	wait_ready("one");
	cr_expect(has_session("extra"));
	free(file);
}

Test(persist, remove_survives_restart)
{
	char out[4096], err[4096], *file = session_file("extra.sess", "extra", NULL);

	start_daemon();
	cr_assert_eq(CLI(out, err, "session", "add", "-c", file), 0, "%s", err);
	wait_ready("extra");
	cr_assert_eq(CLI(out, err, "session", "remove", "extra"), 0, "%s", err);
	cr_expect(gone_soon("extra"));
	cr_expect(!state_exists(EXTRA_FILE));
	/* A session of the config file goes too, and stays gone. */
	cr_assert_eq(CLI(out, err, "session", "remove", "two"), 0, "%s", err);
	cr_expect(gone_soon("two"));
	cr_expect(state_exists(TWO_TOMB));
	cr_expect_neq(CLI(out, err, "session", "remove", "nosuch"), 0);
	cr_expect(strstr(err, "unknown session"), "%s", err);
	restart_daemon();
	wait_ready("one");
	cr_expect(!has_session("extra"));
	cr_expect(!has_session("two"));
	/* A removed session of the config file comes back only through the config file. */
	free(file);
	file = session_file("two.sess", "two", NULL);
	cr_expect_neq(CLI(out, err, "session", "add", "-c", file), 0);
	cr_expect(strstr(err, "config file"), "%s", err);
	cr_expect(state_exists(TWO_TOMB));
	free(file);
}

/*
 * Temporary files of state files in state_dir ("session-..." or "removed-..." not ending in
 * ".cfg"); clients.txt and a worker's subs file have temporary files of their own, any time.
 */
static int temp_count(void)
{
	DIR *d = opendir(State);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		n += (!strncmp(e->d_name, "session-", 8) || !strncmp(e->d_name, "removed-", 8)) &&
		     (len < 4 || strcmp(e->d_name + len - 4, ".cfg"));
	}
	closedir(d);
	return n;
}

/*
 * An answered `add` or `remove` is on disk: commands sent at once on one connection are
 * answered once the state files of the whole batch are durable (supervisor/sup_journal.c),
 * and a kill -9 of the daemon right after the answers keeps every one of them.
 */
Test(persist, answered_adds_and_removes_survive_kill9)
{
	char *file = session_file("extra.sess", "extra", NULL), *line;
	int fd;

	start_daemon();
	wait_ready("one");
	fd = t_ctl_connect(Sock);
	cr_assert_geq(fd, 0);
	cr_assert_gt(asprintf(&line, "add %s\nremove two\n", file), 0);
	t_ctl_send(fd, line);
	cr_assert_eq(t_ctl_read_oks(fd, 2, 20000), 2);
	cr_expect(state_exists(EXTRA_FILE));
	cr_expect(state_exists(TWO_TOMB));
	cr_expect_eq(temp_count(), 0);
	cr_assert_eq(kill(Daemon, SIGKILL), 0);
	cr_assert_eq(waitpid(Daemon, NULL, 0), Daemon);
	Daemon = 0;
	close(fd);
	start_daemon();
	wait_ready("extra");
	wait_ready("one");
	cr_expect(has_session("extra"));
	cr_expect(!has_session("two"));
	free(line);
	free(file);
}

Test(persist, bad_file_changes_nothing)
{
	char out[4096], err[8192], want[4096];
	char *file = session_file("bad.sess", "extra", "  keepalive = \"soon\";\n");

	start_daemon();
	wait_ready("one");
	cr_expect_neq(CLI(out, err, "session", "add", "-c", file), 0);
	snprintf(want, sizeof(want), "%s:7:", file);
	cr_expect(strstr(err, want), "no '%s' in: %s", want, err);
	cr_expect(strstr(err, "'keepalive'"), "%s", err);
	cr_expect(!has_session("extra"));
	cr_expect_eq(state_count(), 0);
	free(file);
	file = session_file("dup.sess", "one", NULL);
	cr_expect_neq(CLI(out, err, "session", "add", "-c", file), 0);
	cr_expect(strstr(err, "'name'") && strstr(err, "already used"), "%s", err);
	cr_expect_eq(state_count(), 0);
	free(file);
	cr_expect_neq(CLI(out, err, "session", "add", "-c", "/nonexistent/x.sess"), 0);
	cr_expect_eq(CLI(out, err, "session", "restart", "one"), 0, "%s", err);
	wait_ready("one");
}

/* ---- saved route subscriptions (persistent + resume_subs) ---- */

/* Sessions "one" (plain) and "keep" (persistent, resume_subs as <resume>) on our broker. */
static void write_keep_cfg(bool resume)
{
	char *text;

	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s\";\nstate_dir = \"%s\";\n"
			      "sessions = (\n"
			      "  { name = \"one\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"per-one\"; },\n"
			      "  { name = \"keep\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"per-keep\"; persistent = true; resume_subs = %s; }\n"
			      ");\n",
			      Run, State, B.port, B.port, resume ? "true" : "false"),
		     0);
	t_write_text(Cfg, text);
	free(text);
}

/* mqtt_session_subscriptions of <session> from `mqttmux metrics`, or -1. */
static long subs_of(const char *session)
{
	static char out[1 << 17];
	char err[4096], key[128];
	const char *p;

	if (CLI(out, err, "metrics") != 0)
		return -1;
	snprintf(key, sizeof(key), "\nmqtt_session_subscriptions{session=\"%s\"} ", session);
	p = strstr(out, key);
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static bool keep_has_one(void *ud)
{
	(void)ud;
	return subs_of("keep") == 1;
}

static bool one_has_one(void *ud)
{
	(void)ud;
	return subs_of("one") == 1;
}

/* The text of state_dir/<file> (malloc'd), or NULL. */
static char *state_text(const char *file)
{
	char path[4096], *buf = calloc(1, 65536);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", State, file);
	f = fopen(path, "re");
	if (!f || !buf) {
		free(buf);
		return f ? (fclose(f), NULL) : NULL;
	}
	(void)!fread(buf, 1, 65535, f);
	fclose(f);
	return buf;
}

static bool keep_file_has_x(void *ud)
{
	char *t = state_text(KEEP_SUBS);
	bool ok = t && strstr(t, " x/#\n");

	(void)ud;
	free(t);
	return ok;
}

static long long received(const char *session)
{
	json_object *a = t_status_json(MQTTMUX_CLI_PATH, Run), *r = t_json_row(a, session), *v;
	long long n = -1;

	if (r && json_object_object_get_ex(r, "messages_received", &v))
		n = json_object_get_int64(v);
	json_object_put(a);
	return n;
}

/* Publish once more to x/1, then: has "keep" received anything? */
static bool x_delivered(void *ud)
{
	(void)mosquitto_publish(ud, NULL, "x/1", 2, "hi", 0, false);
	return received("keep") > 0;
}

static bool client_opens(void *ud)
{
	struct mqttmux **c = ud;
	int err = 0;

	*c = mqttmux_open(Run, &err);
	return *c != NULL;
}

/* A libmqttmux client of the router, which may still be starting after the sessions are. */
static struct mqttmux *open_client(void)
{
	struct mqttmux *c = NULL;

	cr_assert(t_wait_for(client_opens, &c, 10000), "the router never took a client");
	return c;
}

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	(void)r;
	(void)m;
	(void)ud;
}

Test(persist, route_subscriptions_survive_restart)
{
	struct mosquitto *pub;
	struct mqttmux *c;
	struct stat st;
	char path[4096], *text;

	write_keep_cfg(true);
	start_daemon();
	wait_ready("keep");
	wait_ready("one");
	c = open_client();
	cr_assert_not_null(mqttmux_handle_to(c, "keep", "x/#", on_msg, NULL));
	cr_assert_not_null(mqttmux_handle_to(c, "one", "y/#", on_msg, NULL));
	cr_assert(t_wait_for(keep_has_one, NULL, 10000), "keep never subscribed x/#");
	cr_assert(t_wait_for(one_has_one, NULL, 10000), "one never subscribed y/#");
	cr_assert(t_wait_for(keep_file_has_x, NULL, 10000), "no x/# in %s", KEEP_SUBS);
	/* The daemon stops under the live client: its routes still count. */
	t_daemon_stop(&Daemon);
	mqttmux_close(c);
	snprintf(path, sizeof(path), "%s/%s", State, KEEP_SUBS);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0600, "subs file mode %o", st.st_mode & 07777);
	text = state_text(KEEP_SUBS);
	cr_expect_str_eq(text, "mqttmux-subs 1\n1 x/#\n");
	free(text);
	cr_expect(!state_exists(ONE_SUBS), "a plain session got a subs file");
	cr_expect(!state_exists("keep") && !state_exists("subs-keep.txt"));
	/* A fresh broker knows nothing: only the worker's resubscription brings x/1 in. */
	cr_assert_eq(t_broker_restart(&B), 0);
	start_daemon();
	wait_ready("keep");
	cr_expect_eq(subs_of("keep"), 1, "x/# not resubscribed before ready");
	cr_expect_eq(subs_of("one"), 0);
	mosquitto_lib_init();
	pub = mosquitto_new(NULL, true, NULL);
	cr_assert_not_null(pub);
	cr_assert(t_mosq_connect(pub, B.host, B.port, 30, 30000), "publisher: no CONNACK");
	cr_assert_eq(mosquitto_loop_start(pub), MOSQ_ERR_SUCCESS);
	cr_expect(t_wait_for(x_delivered, pub, 10000), "keep received nothing on x/1");
	(void)mosquitto_disconnect(pub);
	(void)mosquitto_loop_stop(pub, false);
	mosquitto_destroy(pub);
	mosquitto_lib_cleanup();
	cr_expect(keep_file_has_x(NULL), "the restart changed the file");
}

Test(persist, remove_deletes_subscriptions)
{
	char out[4096], err[4096];
	struct mqttmux *c;

	write_keep_cfg(true);
	start_daemon();
	wait_ready("keep");
	c = open_client();
	cr_assert_not_null(mqttmux_handle_to(c, "keep", "x/#", on_msg, NULL));
	cr_assert(t_wait_for(keep_file_has_x, NULL, 10000), "no x/# in %s", KEEP_SUBS);
	cr_assert_eq(CLI(out, err, "session", "remove", "keep"), 0, "%s", err);
	cr_expect(!state_exists(KEEP_SUBS), "session remove left %s", KEEP_SUBS);
	mqttmux_close(c);
	restart_daemon();
	wait_ready("one");
	cr_expect(!has_session("keep"));
	cr_expect(!state_exists(KEEP_SUBS));
}

static bool logged(void *ud)
{
	char buf[65536] = "";
	FILE *f = fopen(Log, "re");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, ud) != NULL;
}

Test(persist, hostile_subscriptions_file_is_ignored)
{
	char path[4096], want[4200];

	write_keep_cfg(true);
	cr_assert_eq(mkdir(State, 0700), 0);
	snprintf(path, sizeof(path), "%s/%s", State, KEEP_SUBS);
	t_write_text(path, "mqttmux-subs 1\n1 ok/#\n7 x/#\n");
	/* Left behind by a session that is not persistent: deleted at start. */
	snprintf(want, sizeof(want), "%s/%s", State, ONE_SUBS);
	t_write_text(want, "mqttmux-subs 1\n0 y/#\n");
	/* A worker killed while writing left its temporary file: deleted at start. */
	snprintf(want, sizeof(want), "%s/%s.Ab12Cd", State, KEEP_SUBS);
	t_write_text(want, "mqttmux-subs 1\n0 y");
	start_daemon();
	wait_ready("keep");
	wait_ready("one");
	snprintf(want, sizeof(want), "%s:3: expected '<qos 0..2> <filter>'", path);
	cr_expect(t_wait_for(logged, want, 5000), "no '%s' in the log", want);
	cr_expect_eq(subs_of("keep"), 0, "a filter of a refused file was subscribed");
	cr_expect(!state_exists(ONE_SUBS));
	cr_expect(!state_exists(KEEP_SUBS ".Ab12Cd"));
	cr_expect(state_exists(KEEP_SUBS), "a refused file is left alone");
}

static bool keep_has_two(void *ud)
{
	(void)ud;
	return subs_of("keep") == 2;
}

Test(persist, reload_without_resume_subs_deletes_subscriptions)
{
	char out[4096], err[4096];
	struct mqttmux *c;

	write_keep_cfg(true);
	start_daemon();
	wait_ready("keep");
	c = open_client();
	cr_assert_not_null(mqttmux_handle_to(c, "keep", "x/#", on_msg, NULL));
	cr_assert(t_wait_for(keep_file_has_x, NULL, 10000), "no x/# in %s", KEEP_SUBS);
	write_keep_cfg(false);
	cr_assert_eq(CLI(out, err, "reload"), 0, "%s", err);
	cr_expect(!state_exists(KEEP_SUBS), "reload left %s", KEEP_SUBS);
	wait_ready("keep");
	/* The restarted worker keeps nothing: x/# again (from the router) and z/# stay unsaved. */
	cr_assert_not_null(mqttmux_handle_to(c, "keep", "z/#", on_msg, NULL));
	cr_expect(t_wait_for(keep_has_two, NULL, 10000), "keep never held x/# and z/#");
	cr_expect(!state_exists(KEEP_SUBS), "a session without resume_subs wrote %s", KEEP_SUBS);
	mqttmux_close(c);
}
