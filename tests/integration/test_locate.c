/* SPDX-License-Identifier: MIT */
/*
 * mqttmuxd finds its worker and router binaries (supervisor/sup_bin.c) with nothing set but
 * PATH: from the build tree (symlinks next to it) and from an installed layout (libexecdir/
 * mqttmux relative to bindir). A missing or non-executable binary stops the start at once, and
 * --check, with a message naming the path tried: never workers exiting 127 in a loop. A worker
 * binary removed while the daemon runs is named in the log when its next start fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"

static struct t_broker B;
static char *Dir, *Log, *Run, *Cfg;
static pid_t Daemon;

static void setup(void)
{
	t_daemon_setup("locate", &Dir, &Log, &Run, NULL);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
}

static void teardown(void)
{
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	free(Dir);
	free(Log);
	free(Run);
	free(Cfg);
	Dir = Log = Run = Cfg = NULL;
}

TestSuite(locate, .init = setup, .fini = teardown, .timeout = 120);

/* <Dir>/<rel> into a new string; its parent directories are created. */
static char *path_in_dir(const char *rel)
{
	char *p, *slash;

	cr_assert_gt(asprintf(&p, "%s/%s", Dir, rel), 0);
	for (slash = strchr(p + strlen(Dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		cr_assert(mkdir(p, 0755) == 0 || errno == EEXIST, "%s: %s", p, strerror(errno));
		*slash = '/';
	}
	return p;
}

/* Copy the file <from> to <Dir>/<rel> with <mode>; returns the new path. */
static char *copy_to(const char *from, const char *rel, mode_t mode)
{
	char buf[65536], *to = path_in_dir(rel);
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	cr_assert_geq(in, 0, "%s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	cr_assert_geq(out, 0, "%s: %s", to, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		cr_assert_eq(write(out, buf, (size_t)n), n);
	close(in);
	cr_assert_eq(close(out), 0);
	cr_assert_eq(chmod(to, mode), 0);
	return to;
}

static char *link_to(const char *target, const char *rel)
{
	char *to = path_in_dir(rel);

	cr_assert_eq(symlink(target, to), 0, "%s: %s", to, strerror(errno));
	return to;
}

static void write_config(void)
{
	char *text;

	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			      "sessions = (\n"
			      "  { name = \"one\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"locate-one\"; },\n"
			      "  { name = \"two\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"locate-two\"; }\n);\n",
			      Run, Dir, B.port, B.port),
		     0);
	t_write_text(Cfg, text);
	free(text);
}

/* Fork <daemon> -c Cfg [<opt>] with PATH as its whole environment, output appended to Log. */
static pid_t spawn_bare(const char *daemon, const char *opt)
{
	char path_env[4096];
	pid_t pid;

	snprintf(path_env, sizeof(path_env), "PATH=%s",
		 getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		char *const envp[] = { path_env, NULL };
		int fd = open(Log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(127);
		execle(daemon, "mqttmuxd", "-c", Cfg, opt, (char *)NULL, envp);
		_exit(127);
	}
	return pid;
}

/* Reap <pid> within <ms>: its exit status, or -1 if it is still running. */
static int exit_within(pid_t pid, int ms)
{
	uint64_t deadline = t_now_ns() + (uint64_t)ms * 1000000ull;
	int st;

	do {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(5000);
	} while (t_now_ns() < deadline);
	return -1;
}

static bool log_has(const char *needle)
{
	char line[8192];
	FILE *f = fopen(Log, "re");
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* Every session ready (`mqttmux wait`) and a router process running. */
static void expect_up(void)
{
	char out[4096], err[4096], *sock;

	cr_assert_gt(asprintf(&sock, "%s/control.sock", Run), 0);
	cr_assert(t_wait_for(t_ctl_pongs, sock, 20000), "no control socket");
	free(sock);
	cr_assert_eq(t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
			   (const char *const[]){ "wait", "-t", "30", NULL }),
		     0, "sessions not ready: %s", err);
	cr_expect_neq(t_daemon_child(Daemon, NULL), 0, "no router process");
	cr_expect_neq(t_daemon_child(Daemon, "one"), 0, "no worker for 'one'");
	cr_expect(!log_has("exited with status 127"), "a child failed to exec");
}

Test(locate, build_tree_daemon_brings_its_sessions_up_with_only_path_set)
{
	write_config();
	Daemon = spawn_bare(MQTTMUXD_PATH, "-f");
	expect_up();
	t_daemon_stop(&Daemon);
}

Test(locate, installed_layout_finds_the_helpers_in_libexec)
{
	char *d, *w, *r;

	write_config();
	d = copy_to(MQTTMUXD_PATH, "inst/bin/mqttmuxd", 0755);
	w = link_to(MQTTMUX_WORKER_PATH, "inst/bin/" MM_PKGLIBEXEC_REL "/mqttmux-worker");
	r = link_to(MQTTMUX_ROUTER_PATH, "inst/bin/" MM_PKGLIBEXEC_REL "/mqttmux-router");
	Daemon = spawn_bare(d, "-f");
	expect_up();
	t_daemon_stop(&Daemon);
	free(d);
	free(w);
	free(r);
}

/* mqttmuxd copied to <Dir>/bin with the router next to it and <worker_mode> (0: no worker). */
static char *daemon_without_worker(mode_t worker_mode, char **worker)
{
	char *d = copy_to(MQTTMUXD_PATH, "bin/mqttmuxd", 0755);

	free(link_to(MQTTMUX_ROUTER_PATH, "bin/mqttmux-router"));
	*worker = worker_mode ? copy_to(MQTTMUX_WORKER_PATH, "bin/mqttmux-worker", worker_mode)
			      : path_in_dir("bin/mqttmux-worker");
	return d;
}

static void expect_refused(const char *daemon, const char *opt, const char *worker, const char *why)
{
	int st;

	cr_assert_eq(truncate(Log, 0) == 0 || errno == ENOENT, true);
	Daemon = spawn_bare(daemon, opt);
	st = exit_within(Daemon, 10000);
	cr_assert_neq(st, -1, "mqttmuxd %s kept running without a worker binary", opt);
	Daemon = 0;
	cr_expect_eq(st, 69, "exit status %d", st);
	cr_expect(log_has(worker), "the path '%s' is not named", worker);
	cr_expect(log_has(why), "'%s' is not said", why);
	cr_expect(!log_has("exited with status 127"), "a worker was started");
}

Test(locate, missing_worker_binary_stops_the_start_naming_the_path)
{
	char *worker, *d;

	write_config();
	d = daemon_without_worker(0, &worker);
	expect_refused(d, "-f", worker, "No such file or directory");
	expect_refused(d, "--check", worker, "No such file or directory");
	free(d);
	free(worker);
}

Test(locate, non_executable_worker_binary_stops_the_start_naming_the_path)
{
	char *worker, *d;

	write_config();
	d = daemon_without_worker(0644, &worker);
	expect_refused(d, "-f", worker, "Permission denied");
	free(d);
	free(worker);
}

static bool log_names(void *needle)
{
	return log_has(needle);
}

Test(locate, worker_binary_removed_at_run_time_is_named_when_a_start_fails)
{
	char *worker = link_to(MQTTMUX_WORKER_PATH, "worker-link"), *line;
	pid_t one;

	write_config();
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, worker, NULL, "-f");
	expect_up();
	one = t_daemon_child(Daemon, "one");
	cr_assert_eq(unlink(worker), 0);
	cr_assert_eq(kill(one, SIGKILL), 0);
	cr_assert_gt(asprintf(&line, "cannot execute '%s': No such file or directory", worker), 0);
	cr_expect(t_wait_for(log_names, line, 20000), "no line names '%s'", worker);
	free(line);
	free(worker);
}
