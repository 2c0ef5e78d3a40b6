/* SPDX-License-Identifier: MIT */
/*
 * Persistence of the running set against the real daemon, real workers and a real mosquitto
 * broker: `mqttmux session add -c FILE` starts a session and saves it in state_dir, a daemon
 * restart brings it back, `session remove` stops it, deletes its state file (or leaves a
 * tombstone for a session of the config file) and it stays gone after a restart; a broken or
 * clashing session file changes nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
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

#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"

/* "extra" as the daemon names its state file: never the raw name. */
#define EXTRA_FILE "session-6578747261.cfg"
#define TWO_TOMB   "removed-74776f.cfg"

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
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, NULL, NULL);
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

/* How many entries state_dir holds (besides . and ..). */
static int state_count(void)
{
	DIR *d = opendir(State);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
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
	cr_expect(!has_session("extra"));
	cr_expect(!state_exists(EXTRA_FILE));
	/* A session of the config file goes too, and stays gone. */
	cr_assert_eq(CLI(out, err, "session", "remove", "two"), 0, "%s", err);
	cr_expect(!has_session("two"));
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
