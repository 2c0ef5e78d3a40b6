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
#include "t_helpers.h"

/* "extra" as the daemon names its state file: never the raw name. */
#define EXTRA_FILE "session-6578747261.cfg"
#define TWO_TOMB   "removed-74776f.cfg"

static struct t_broker B;
static char *Dir, *Cfg, *Log, *Run, *Sock, *State;
static pid_t Daemon;

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_geq(fputs(text, f), 0);
	cr_assert_eq(fclose(f), 0);
}

/* Sessions "one" and "two" on our broker. */
static void setup(void)
{
	char *text;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	Dir = t_tmpdir("persist");
	cr_assert_not_null(Dir);
	cr_assert_gt(asprintf(&Log, "%s/mqttmuxd.log", Dir), 0);
	cr_assert_gt(asprintf(&Run, "%s/run", Dir), 0);
	cr_assert_gt(asprintf(&Sock, "%s/control.sock", Run), 0);
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
	write_file(Cfg, text);
	free(text);
}

static void dump_log(void)
{
	char line[512];
	FILE *f = Log ? fopen(Log, "re") : NULL;

	if (!f)
		return;
	fprintf(stderr, "---- %s ----\n", Log);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

static void teardown(void)
{
	if (Daemon > 0) {
		kill(Daemon, SIGKILL);
		waitpid(Daemon, NULL, 0);
		dump_log();
	}
	Daemon = 0;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_broker_free(&B);
	t_rmtree(Dir);
	free(Dir);
	free(Cfg);
	free(Log);
	free(Run);
	free(Sock);
	free(State);
	Dir = Cfg = Log = Run = Sock = State = NULL;
}

static int sock_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", Sock);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* One reply line from <fd> within <ms>, malloc'd without its newline; NULL on EOF/timeout. */
static char *read_reply(int fd, int ms)
{
	uint64_t deadline = t_now_ns() + (uint64_t)ms * 1000000ull;
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	while (t_now_ns() < deadline && len < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, (int)((deadline - t_now_ns()) / 1000000 + 1)) <= 0)
			continue;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strchr(buf, '\n')) {
			*strchr(buf, '\n') = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

static void send_str(int fd, const char *s)
{
	cr_assert_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Send one command on a fresh connection; the reply, or NULL. */
static char *command(const char *line)
{
	int fd = sock_connect();
	char *r;

	if (fd < 0)
		return NULL;
	send_str(fd, line);
	r = read_reply(fd, 5000);
	close(fd);
	return r;
}

static bool pongs(void *ud)
{
	char *r = command("ping\n");
	bool ok = r && strstr(r, "pong");

	(void)ud;
	free(r);
	return ok;
}

static void start_daemon(void)
{
	Daemon = fork();
	cr_assert_neq(Daemon, -1);
	if (Daemon == 0) {
		int fd = open(Log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(127);
		setenv("MQTTMUX_WORKER", MQTTMUX_WORKER_PATH, 1);
		execl(MQTTMUXD_PATH, "mqttmuxd", "-c", Cfg, (char *)NULL);
		_exit(127);
	}
	cr_assert(t_wait_for(pongs, NULL, 10000), "control socket never answered");
}

static void stop_daemon(void)
{
	int st;

	cr_assert_eq(kill(Daemon, SIGTERM), 0);
	cr_assert_eq(waitpid(Daemon, &st, 0), Daemon);
	Daemon = 0;
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
}

static void drain(int fd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
}

/* Run the CLI with -d Run and <args> (NULL-terminated); stdout in <out>, stderr in <err>. */
static int cli(char *out, size_t osize, char *err, size_t esize, const char *const *args)
{
	const char *argv[16] = { "mqttmux", "-d", Run };
	int po[2], pe[2], st, n = 3;
	pid_t pid;

	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	cr_assert_eq(pipe2(po, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(pe, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(MQTTMUX_CLI_PATH, (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	drain(po[0], out, osize);
	drain(pe[0], err, esize);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define CLI(out, err, ...) \
	cli(out, sizeof(out), err, sizeof(err), (const char *const[]){ __VA_ARGS__, NULL })

static json_object *status_json(void)
{
	char out[65536], err[4096];
	json_object *a;

	cr_assert_eq(CLI(out, err, "status", "--json"), 0, "%s", err);
	a = json_tokener_parse(out);
	cr_assert_not_null(a, "not JSON: %s", out);
	cr_assert(json_object_is_type(a, json_type_array), "%s", out);
	return a;
}

static json_object *row(json_object *a, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *r = json_object_array_get_idx(a, i), *n;

		if (json_object_object_get_ex(r, "name", &n) &&
		    !strcmp(json_object_get_string(n), name))
			return r;
	}
	return NULL;
}

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
	write_file(path, text);
	free(text);
	return path;
}

static bool has_session(const char *name)
{
	json_object *a = status_json();
	bool found = row(a, name) != NULL;

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
	stop_daemon();
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
