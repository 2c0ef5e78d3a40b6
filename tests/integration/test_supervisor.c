/* SPDX-License-Identifier: MIT */
/*
 * mqttmuxd as operators run it: the real daemon and real workers against a real mosquitto
 * broker. --check, restarts after kill -9, a crash loop held to restart.burst per window, a
 * worker refusing its config, SIGTERM, kill -9 of the daemon itself (no worker outlives it,
 * the lock is released) and the single-instance lock. SIGTERM under load: wills, a publish
 * stream and a receiving libmqttmux client, and still no will from the broker (clean stop).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "mqttmux.h"
#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"
#include "t_mosq.h"

#define MAX_KIDS 8

static struct t_broker B;
static char *Dir, *Cfg, *Log;
static pid_t Daemon;

static void setup(void)
{
	/* Workers orphaned by a killed daemon come to us, so we can reap and count them. */
	t_daemon_setup("sup", &Dir, &Log, NULL, NULL);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
}

static void teardown(void)
{
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	free(Dir);
	free(Cfg);
	free(Log);
	Dir = Cfg = Log = NULL;
}

/*
 * One timeout for every test of the executable: criterion 2.4.1 leaks 48 bytes in its runner
 * when tests carry different timeouts, and LeakSanitizer then fails the ASan run.
 */
TestSuite(supervisor, .init = setup, .fini = teardown, .timeout = 120);

static char *write_text(const char *name, const char *text)
{
	char *path;

	cr_assert_gt(asprintf(&path, "%s/%s", Dir, name), 0);
	t_write_text(path, text);
	return path;
}

/* A config with the given sessions on our broker; <extra>[i] (may be NULL) goes in block i. */
static void write_config_x(const char *const *names, const char *const *extra, size_t n)
{
	char *text = NULL, *sess = NULL, *tmp;

	for (size_t i = 0; i < n; i++) {
		cr_assert_gt(asprintf(&tmp,
				      "%s%s  { name = \"%s\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
				      " client_id = \"sup-%s\"; %s }",
				      sess ? sess : "", i ? ",\n" : "", names[i], B.port, names[i],
				      extra && extra[i] ? extra[i] : ""),
			     0);
		free(sess);
		sess = tmp;
	}
	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s/run/mqttmux\";\nstate_dir = \"%s/state\";\n"
			      "restart = { initial = 0.05; max = 1.0; burst = 3; window = 2.0; };\n"
			      "sessions = (\n%s\n);\n",
			      Dir, Dir, sess),
		     0);
	free(Cfg);
	Cfg = write_text("mqttmux.cfg", text);
	free(text);
	free(sess);
}

static void write_config(const char *const *names, size_t n)
{
	write_config_x(names, NULL, n);
}

/* Start mqttmuxd -c Cfg with its output appended to Log; <worker> overrides the worker. */
static pid_t start_daemon(const char *worker)
{
	return t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, worker ? worker : MQTTMUX_WORKER_PATH, NULL,
			      "-f");
}

/* Run mqttmuxd with <args> to completion; its stderr+stdout into <out>. Returns the status. */
static int run_daemon(const char *arg1, char *out, size_t size)
{
	int p[2], st;
	pid_t pid;
	ssize_t n, got = 0;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		setenv("MQTTMUX_WORKER", MQTTMUX_WORKER_PATH, 1);
		execl(MQTTMUXD_PATH, "mqttmuxd", "-c", Cfg, arg1, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((size_t)got < size - 1 && (n = read(p[0], out + got, size - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = '\0';
	close(p[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Is <pid> a live process (not a zombie)? Reaps it if it is our zombie. */
static bool alive(pid_t pid)
{
	char path[64], buf[256], *p;
	int st;
	FILE *f;

	if (waitpid(pid, &st, WNOHANG) == pid)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Pid of the live worker child of <parent> serving <session> (NULL: the router), or 0. */
static pid_t worker_of(pid_t parent, const char *session)
{
	return t_daemon_child(parent, session);
}

/* Lines of <path> containing <needle> (and <needle2> if not NULL). */
static int count_lines(const char *path, const char *needle, const char *needle2)
{
	char line[1024];
	FILE *f = fopen(path, "re");
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle) && (!needle2 || strstr(line, needle2)))
			n++;
	fclose(f);
	return n;
}

/* Connections the broker accepted from session <name> (client id "sup-<name>"). */
static int connects(const char *name)
{
	char id[128];

	snprintf(id, sizeof(id), " as sup-%s ", name);
	return count_lines(B.log_path, "New client connected", id);
}

struct want {
	const char *session;
	int connects;
	pid_t not_pid; /* the new worker must differ from this one */
};

static bool worker_connected(void *ud)
{
	const struct want *w = ud;
	pid_t pid = worker_of(Daemon, w->session);

	return pid && pid != w->not_pid && connects(w->session) >= w->connects;
}

static void wait_connected(const char *session, int n, pid_t not_pid)
{
	struct want w = { session, n, not_pid };

	cr_assert(t_wait_for(worker_connected, &w, 10000), "session '%s' never (re)connected",
		  session);
}

/* Reap <pid> within <ms>; returns 0 and its status, or -ETIMEDOUT. */
static int reap_within(pid_t pid, int ms, int *st)
{
	uint64_t deadline = t_now_ns() + (uint64_t)(ms > 0 ? ms : 0) * 1000000ull;

	do {
		if (waitpid(pid, st, WNOHANG) == pid)
			return 0;
		usleep(2000);
	} while (t_now_ns() < deadline);
	return -ETIMEDOUT;
}

/* SIGTERM the daemon: it must exit 0 within 5 s. */
static void stop_daemon(void)
{
	int st;

	cr_assert_eq(kill(Daemon, SIGTERM), 0);
	cr_assert_eq(reap_within(Daemon, 5000, &st), 0, "mqttmuxd ignored SIGTERM");
	Daemon = 0;
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
}

Test(supervisor, check_rejects_a_broken_config_with_file_and_line)
{
	char out[4096];

	Cfg = write_text("bad.cfg", "runtime_dir = \"/tmp/x\";\n"
				    "sessions = (\n"
				    "  { name = \"a\"; brokers = [ \"tcp://127.0.0.1:1\" ];\n"
				    "    client_id = \"a\"; no_such_key = 1; }\n"
				    ");\n");
	cr_expect_eq(run_daemon("--check", out, sizeof(out)), 78, "%s", out);
	cr_expect_not_null(strstr(out, "bad.cfg:4"), "no file:line in: %s", out);
	cr_expect_not_null(strstr(out, "no_such_key"), "no key in: %s", out);
}

Test(supervisor, check_accepts_a_good_config)
{
	static const char *const names[] = { "a", "b" };
	char out[4096];

	write_config(names, 2);
	cr_expect_eq(run_daemon("--check", out, sizeof(out)), 0, "%s", out);
	cr_expect_not_null(strstr(out, "config OK"), "%s", out);
}

Test(supervisor, kill9_of_a_worker_restarts_only_that_session)
{
	static const char *const names[] = { "one", "two" };
	pid_t one, two;

	write_config(names, 2);
	Daemon = start_daemon(NULL);
	wait_connected("one", 1, 0);
	wait_connected("two", 1, 0);
	one = worker_of(Daemon, "one");
	two = worker_of(Daemon, "two");
	cr_assert_eq(kill(one, SIGKILL), 0);
	wait_connected("one", 2, one);
	cr_expect_eq(worker_of(Daemon, "two"), two, "the other worker was restarted");
	cr_expect_eq(connects("two"), 1, "the other session reconnected");
	cr_expect(alive(Daemon));
	stop_daemon();
}

/*
 * A worker wrapper: session "bad" runs <pre>, appends a line to <Dir>/starts, then runs
 * <body>; the other sessions get the real worker. The line is the wrapper's start time from
 * /proc/$$/stat (clock ticks since boot): the moment the supervisor forked it, which a busy
 * machine does not shift, unlike a `date` run once the shell got the CPU.
 */
static char *bad_worker(const char *pre, const char *body)
{
	char *text, *path;

	cr_assert_gt(asprintf(&text,
			      "#!/bin/sh\n"
			      "case \" $* \" in *\" --session bad \"*)\n"
			      "  %s cut -d' ' -f22 /proc/$$/stat >> '%s/starts'; %s;;\n"
			      "esac\n"
			      "exec '%s' \"$@\"\n",
			      pre, Dir, body, MQTTMUX_WORKER_PATH),
		     0);
	path = write_text("worker.sh", text);
	free(text);
	cr_assert_eq(chmod(path, 0700), 0);
	return path;
}

static int read_starts(double *t, int max)
{
	char path[512];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/starts", Dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (n < max && fscanf(f, "%lf", &t[n]) == 1)
		t[n++] /= (double)sysconf(_SC_CLK_TCK);
	fclose(f);
	return n;
}

static bool starts_at_least(void *ud)
{
	double t[64];

	return read_starts(t, 64) >= *(int *)ud;
}

Test(supervisor, crash_loop_is_held_to_burst_starts_per_window)
{
	static const char *const names[] = { "good", "bad" };
	char *worker = bad_worker("", "exit 1");
	double t[64];
	int n, want = 5;
	pid_t good;

	write_config(names, 2);
	Daemon = start_daemon(worker);
	free(worker);
	wait_connected("good", 1, 0);
	good = worker_of(Daemon, "good");
	/* burst 3 in a 2 s window, then retries at the 1 s cap: 5 starts take about 3 s. */
	cr_assert(t_wait_for(starts_at_least, &want, 15000));
	n = read_starts(t, 64);
	for (int i = 0; i + 3 < n; i++)
		cr_expect_geq(t[i + 3] - t[i], 2.0 - 0.1, "starts %d..%d in %.3f s", i, i + 3,
			      t[i + 3] - t[i]);
	cr_expect_geq(count_lines(Log, "session 'bad' failed", NULL), 1, "no failed mark logged");
	cr_expect(alive(Daemon), "the supervisor died");
	cr_expect_eq(worker_of(Daemon, "good"), good, "the good worker was restarted");
	cr_expect_eq(connects("good"), 1, "the good session reconnected");
	stop_daemon();
}

struct failed_seen {
	struct mqttmux *c;
	const char *run;
	int n;
	char text[128];
};

static bool failed_open(void *ud)
{
	struct failed_seen *f = ud;

	f->c = mqttmux_open(f->run, NULL);
	return f->c != NULL;
}

static void on_failed(struct mqttmux *c, const struct mqttmux_event *ev, void *ud)
{
	struct failed_seen *f = ud;

	(void)c;
	if (ev->session && !strcmp(ev->session, "bad")) {
		f->n++;
		snprintf(f->text, sizeof(f->text), "%s", ev->text);
	}
}

static bool failed_seen(void *ud)
{
	struct failed_seen *f = ud;

	(void)mqttmux_dispatch(f->c, 50);
	return f->n > 0;
}

/* A crash loop reaches the clients that listen for events as session_failed. */
Test(supervisor, crash_loop_sends_session_failed_to_clients)
{
	static const char *const names[] = { "good", "bad" };
	struct failed_seen f = { 0 };
	char *worker, *body, run[512], flag[512];

	snprintf(flag, sizeof(flag), "%s/crash", Dir);
	cr_assert_gt(asprintf(&body, "[ -e '%s' ] && exit 1", flag), 0);
	worker = bad_worker("", body);
	free(body);
	write_config(names, 2);
	Daemon = start_daemon(worker);
	free(worker);
	wait_connected("bad", 1, 0);
	snprintf(run, sizeof(run), "%s/run/mqttmux", Dir);
	/* the router starts on its own time: open once it takes registrations */
	f.run = run;
	cr_assert(t_wait_for(failed_open, &f, 10000), "mqttmux_open never succeeded");
	cr_assert_gt(mqttmux_on_event(f.c, MQTTMUX_EV_MASK(MQTTMUX_EV_SESSION_FAILED), NULL,
				      on_failed, &f),
		     0);
	t_write_text(flag, "");
	cr_assert_eq(kill(worker_of(Daemon, "bad"), SIGKILL), 0);
	cr_expect(t_wait_for(failed_seen, &f, 15000), "no session_failed reached the client");
	cr_expect_eq(f.n, 1, "%d session_failed events", f.n);
	cr_expect_not_null(strstr(f.text, "crash loop"), "text: %s", f.text);
	mqttmux_close(f.c);
	stop_daemon();
}

static bool logged_not_restarted(void *ud)
{
	(void)ud;
	return count_lines(Log, "session 'bad'", "not restarted") > 0;
}

Test(supervisor, exit_78_is_not_restarted)
{
	static const char *const names[] = { "good", "bad" };
	char *worker = bad_worker("", "exit 78");
	double t[64];
	int more = 2;

	write_config(names, 2);
	Daemon = start_daemon(worker);
	free(worker);
	cr_assert(t_wait_for(logged_not_restarted, NULL, 10000));
	cr_expect(!t_wait_for(starts_at_least, &more, 1500), "restarted after exit 78");
	cr_expect_eq(read_starts(t, 64), 1);
	wait_connected("good", 1, 0);
	cr_expect(alive(Daemon));
	stop_daemon();
}

static bool router_ready(void *ud)
{
	const pid_t *not_pid = ud;
	pid_t pid = worker_of(Daemon, NULL);
	char needle[64];

	snprintf(needle, sizeof(needle), "router [%ld] ready", (long)pid);
	return pid && pid != *not_pid && count_lines(Log, needle, NULL) > 0;
}

struct gone {
	pid_t pids[MAX_KIDS];
	int n;
};

static bool all_gone(void *ud)
{
	const struct gone *g = ud;

	for (int i = 0; i < g->n; i++)
		if (alive(g->pids[i]))
			return false;
	return true;
}

static bool clean_disconnects(void *ud)
{
	(void)ud;
	return count_lines(B.log_path, "Client sup-one disconnected", NULL) == 1 &&
	       count_lines(B.log_path, "Client sup-two disconnected", NULL) == 1;
}

Test(supervisor, sigterm_stops_every_worker_and_exits_0)
{
	static const char *const names[] = { "one", "two" };
	struct gone g = { .n = 2 };
	uint64_t t0;
	int st;

	write_config(names, 2);
	Daemon = start_daemon(NULL);
	wait_connected("one", 1, 0);
	wait_connected("two", 1, 0);
	g.pids[0] = worker_of(Daemon, "one");
	g.pids[1] = worker_of(Daemon, "two");
	t0 = t_now_ns();
	cr_assert_eq(kill(Daemon, SIGTERM), 0);
	cr_assert(t_wait_for(all_gone, &g, 5000), "workers still alive 5 s after SIGTERM");
	cr_assert_eq(reap_within(Daemon, 5000 - (int)((t_now_ns() - t0) / 1000000), &st), 0,
		     "mqttmuxd still running 5 s after SIGTERM");
	Daemon = 0;
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
	cr_expect_geq(count_lines(Log, "all workers stopped", NULL), 1);
	/* The broker logs a DISCONNECT as "Client sup-one disconnected.", maybe a little later. */
	cr_expect(t_wait_for(clean_disconnects, NULL, 2000), "no clean DISCONNECT from both");
}

/*
 * kill -9 of mqttmuxd, 20 times: the workers follow (PR_SET_PDEATHSIG), a new one starts
 * cleanly. They follow within milliseconds on an idle machine; the deadlines are 10 s because
 * the kernel's teardown of an ASan process (terabytes of shadow mappings) can take over a
 * second on a loaded 2-core machine. The slowest round is logged.
 */
Test(supervisor, kill9_of_the_daemon_takes_every_worker_with_it)
{
	static const char *const names[] = { "one", "two" };
	uint64_t t0, slowest = 0;

	write_config(names, 2);
	for (int round = 0; round < 20; round++) {
		struct gone g = { .n = 3 };
		pid_t none = 0;
		int st;

		Daemon = start_daemon(NULL);
		wait_connected("one", round + 1, 0);
		wait_connected("two", round + 1, 0);
		cr_assert(t_wait_for(router_ready, &none, 10000), "the router never became ready");
		g.pids[0] = worker_of(Daemon, "one");
		g.pids[1] = worker_of(Daemon, "two");
		g.pids[2] = worker_of(Daemon, NULL);
		t0 = t_now_ns();
		cr_assert_eq(kill(Daemon, SIGKILL), 0);
		cr_assert_eq(reap_within(Daemon, 10000, &st), 0);
		Daemon = 0;
		cr_assert(t_wait_for(all_gone, &g, 10000), "round %d: a child outlived mqttmuxd",
			  round);
		if (t_now_ns() - t0 > slowest)
			slowest = t_now_ns() - t0;
	}
	cr_log_info("kill -9: every child gone within %.1f ms (slowest of 20 rounds)",
		    (double)slowest / 1e6);
	cr_expect_eq(count_lines(Log, "another mqttmuxd", NULL), 0);
}

Test(supervisor, second_instance_on_the_same_runtime_dir_is_refused)
{
	static const char *const names[] = { "one" };
	char out[4096];
	struct stat st;
	char path[512];

	write_config(names, 1);
	Daemon = start_daemon(NULL);
	wait_connected("one", 1, 0);
	cr_expect_eq(run_daemon("-f", out, sizeof(out)), 1, "%s", out);
	cr_expect_not_null(strstr(out, "another mqttmuxd is running"), "%s", out);
	cr_expect(alive(Daemon));
	snprintf(path, sizeof(path), "%s/run/mqttmux", Dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777 & ~0750, 0, "runtime_dir mode %o", st.st_mode & 0777);
	stop_daemon();
}

/* A worker that ignores both STOP and SIGTERM gets SIGKILL 5 s after the daemon's SIGTERM. */
Test(supervisor, sigterm_kills_a_stubborn_worker_after_5_s)
{
	static const char *const names[] = { "good", "bad" };
	char *worker = bad_worker("trap '' TERM;", "exec sleep 60");
	int one = 1, st;
	uint64_t t0, ms;

	write_config(names, 2);
	Daemon = start_daemon(worker);
	free(worker);
	wait_connected("good", 1, 0);
	cr_assert(t_wait_for(starts_at_least, &one, 5000));
	t0 = t_now_ns();
	cr_assert_eq(kill(Daemon, SIGTERM), 0);
	cr_assert_eq(reap_within(Daemon, 8000, &st), 0, "mqttmuxd never exited");
	ms = (t_now_ns() - t0) / 1000000;
	Daemon = 0;
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
	cr_expect(ms >= 4500 && ms < 7000, "exited %llu ms after SIGTERM", (unsigned long long)ms);
	cr_expect_eq(count_lines(Log, "session 'bad'", "did not stop in time: killed"), 1);
}

static bool logged(void *ud)
{
	return count_lines(Log, ud, NULL) > 0;
}

static bool no_worker(void *ud)
{
	return worker_of(Daemon, ud) == 0;
}

/* The router is a supervised child too: kill -9 restarts it, the workers are not touched. */
Test(supervisor, kill9_of_the_router_restarts_only_the_router)
{
	static const char *const names[] = { "one", "two" };
	pid_t none = 0, rtr, one, two;

	write_config(names, 2);
	Daemon = start_daemon(NULL);
	wait_connected("one", 1, 0);
	wait_connected("two", 1, 0);
	cr_assert(t_wait_for(router_ready, &none, 10000), "the router never became ready");
	rtr = worker_of(Daemon, NULL);
	one = worker_of(Daemon, "one");
	two = worker_of(Daemon, "two");
	cr_assert_eq(kill(rtr, SIGKILL), 0);
	cr_assert(t_wait_for(router_ready, &rtr, 10000), "the router was not restarted");
	cr_expect_neq(worker_of(Daemon, NULL), rtr);
	cr_expect_eq(worker_of(Daemon, "one"), one, "worker one was restarted");
	cr_expect_eq(worker_of(Daemon, "two"), two, "worker two was restarted");
	cr_expect_eq(connects("one"), 1, "session one reconnected");
	cr_expect_eq(connects("two"), 1, "session two reconnected");
	cr_expect_geq(count_lines(Log, "router [", "killed by signal 9"), 1);
	stop_daemon();
}

/*
 * SIGHUP: unchanged sessions are not touched, changed ones restart, added/removed follow. The
 * router is not restarted: it learns of the changes over its channel (live sessions).
 */
Test(supervisor, sighup_restarts_only_the_changed_sessions)
{
	static const char *const before[] = { "same", "changed", "gone" };
	static const char *const after[] = { "same", "changed", "added" };
	static const char *const extra[] = { NULL, "keepalive = 30;", NULL };
	pid_t same, changed, none = 0, rtr;

	write_config(before, 3);
	Daemon = start_daemon(NULL);
	for (int i = 0; i < 3; i++)
		wait_connected(before[i], 1, 0);
	cr_assert(t_wait_for(router_ready, &none, 10000), "the router never became ready");
	rtr = worker_of(Daemon, NULL);
	same = worker_of(Daemon, "same");
	changed = worker_of(Daemon, "changed");
	write_config_x(after, extra, 3);
	cr_assert_eq(kill(Daemon, SIGHUP), 0);
	wait_connected("changed", 2, changed);
	wait_connected("added", 1, 0);
	cr_expect(t_wait_for(no_worker, (void *)"gone", 6000), "removed session still runs");
	cr_expect(t_wait_for(logged, (void *)"session 'gone' removed", 1000));
	cr_expect_eq(worker_of(Daemon, NULL), rtr, "the router was restarted");
	cr_expect_eq(worker_of(Daemon, "same"), same, "the unchanged session was restarted");
	cr_expect_eq(connects("same"), 1, "the unchanged session reconnected");
	stop_daemon();
}

/* SIGHUP with a broken file: every problem logged with file:line, nothing restarted. */
Test(supervisor, sighup_with_a_broken_file_keeps_the_running_config)
{
	static const char *const names[] = { "one" };
	static const char *const extra[] = { "keepalive = \"soon\";" };
	pid_t one;

	write_config(names, 1);
	Daemon = start_daemon(NULL);
	wait_connected("one", 1, 0);
	one = worker_of(Daemon, "one");
	write_config_x(names, extra, 1);
	cr_assert_eq(kill(Daemon, SIGHUP), 0);
	cr_assert(t_wait_for(logged, (void *)"reload failed: keeping the running config", 5000));
	cr_expect_eq(count_lines(Log, "reload: ", "mqttmux.cfg:5"), 1, "no file:line logged");
	cr_expect_eq(worker_of(Daemon, "one"), one);
	cr_expect_eq(connects("one"), 1);
	stop_daemon();
}

/* ---- SIGTERM under load (issue #5): wills, a publish stream, a receiving client ---- */

#define LOAD_SESSIONS 3

struct load {
	struct mosquitto *watch; /* plain subscriber on status/# (the wills) and control/# */
	struct mqttmux *client;	 /* libmqttmux client with a route on load/# */
	long received;		 /* messages the client got */
	int wills, controls;	 /* what the watcher got */
	struct gone g;		 /* daemon, workers and router */
};

static void on_watch(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	struct load *l = ud;

	(void)m;
	if (!strncmp(msg->topic, "status/", 7))
		l->wills++;
	else
		l->controls++;
}

static void on_load(struct mqttmux_route *r, const struct mqttmux_msg *msg, void *ud)
{
	(void)r;
	(void)msg;
	(*(long *)ud)++;
}

/* Drive the watcher and the client a little (the client until the router is gone). */
static void pump(struct load *l)
{
	(void)mosquitto_loop(l->watch, 5, 1);
	if (l->client && mqttmux_dispatch(l->client, 0) == -ENOTCONN) {
		mqttmux_close(l->client);
		l->client = NULL;
	}
}

static bool pump_only(void *ud)
{
	pump(ud);
	return false;
}

static bool client_open(void *ud)
{
	struct load *l = ud;
	char run[512];
	int err;

	snprintf(run, sizeof(run), "%s/run/mqttmux", Dir);
	l->client = mqttmux_open(run, &err);
	return l->client != NULL;
}

static bool flowing(void *ud)
{
	struct load *l = ud;

	pump(l);
	return l->received >= 500 && l->controls > 0;
}

static bool stopped(void *ud)
{
	struct load *l = ud;

	pump(l);
	return all_gone(&l->g);
}

/* A forked publisher: QoS 0 and 1 on load/<i> as fast as a 2-core box allows, until killed. */
static pid_t start_publisher(void)
{
	pid_t pid = fork();

	cr_assert_neq(pid, -1);
	if (pid == 0) {
		struct mosquitto *m;
		char topic[32];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		mosquitto_lib_init();
		m = mosquitto_new("sup-load-pub", true, NULL);
		if (!m || !t_mosq_connect(m, "127.0.0.1", B.port, 30, 30000))
			_exit(1);
		for (unsigned i = 0;; i++) {
			snprintf(topic, sizeof(topic), "load/%u", i % 16);
			(void)mosquitto_publish(m, NULL, topic, 8, "payload!", (int)(i & 1), false);
			(void)mosquitto_loop(m, 0, 1);
			usleep(500);
		}
	}
	return pid;
}

static struct mosquitto *start_watcher(struct load *l)
{
	struct mosquitto *m;

	mosquitto_lib_init();
	m = mosquitto_new("sup-watch", true, l);
	cr_assert_not_null(m);
	mosquitto_message_callback_set(m, on_watch);
	cr_assert_eq(mosquitto_connect(m, "127.0.0.1", B.port, 60), MOSQ_ERR_SUCCESS);
	cr_assert_eq(mosquitto_subscribe(m, NULL, "status/#", 1), MOSQ_ERR_SUCCESS);
	cr_assert_eq(mosquitto_subscribe(m, NULL, "control/#", 1), MOSQ_ERR_SUCCESS);
	return m;
}

/* The worker pids `status` reports (mqttmux_session_status) and the router's, into <g>. */
static void children_from_status(struct gone *g)
{
	struct mqttmux_session_status *st = NULL;
	char run[512];
	size_t n = 0;

	snprintf(run, sizeof(run), "%s/run/mqttmux", Dir);
	cr_assert_eq(mqttmux_session_status(run, &st, &n), 0);
	cr_assert_eq(n, LOAD_SESSIONS);
	for (size_t i = 0; i < n; i++) {
		cr_assert_gt(st[i].pid, 0, "session %s has no worker", st[i].name);
		cr_expect_eq(st[i].state_code, MQTTMUX_STATE_CONNECTED, "%s", st[i].name);
		g->pids[g->n++] = (pid_t)st[i].pid;
	}
	mqttmux_session_status_free(st, n);
	g->pids[g->n] = worker_of(Daemon, NULL);
	cr_assert_gt(g->pids[g->n], 0, "no router");
	g->n++;
}

static bool disconnected_cleanly(void *ud)
{
	static const char *const names[] = { "one", "two", "three" };
	char needle[64];

	(void)ud;
	for (int i = 0; i < LOAD_SESSIONS; i++) {
		snprintf(needle, sizeof(needle), "Client sup-%s disconnected.", names[i]);
		if (count_lines(B.log_path, needle, NULL) != 1)
			return false;
	}
	return true;
}

/*
 * Three sessions with wills, a steady stream into the broker and a client receiving it. SIGTERM:
 * daemon, workers and router gone within 5 s, no orphan, every session sent DISCONNECT, so the
 * broker publishes no will (a watcher on status/# sees none in the second after).
 */
Test(supervisor, sigterm_under_load_sends_disconnect_and_no_will)
{
	static const char *const names[] = { "one", "two", "three" };
	static const char *const extra[] = {
		"will = { topic = \"status/one\"; payload = \"gone\"; qos = 1; retain = false; };"
		" subscriptions = ( { topic = \"load/#\"; qos = 1; } );",
		"will = { topic = \"status/two\"; payload = \"gone\"; qos = 1; retain = false; };"
		" subscriptions = ( { topic = \"load/#\"; qos = 0; } );",
		"will = { topic = \"status/three\"; payload = \"gone\"; qos = 0; retain = false; };"
		" subscriptions = ( { topic = \"load/1\"; qos = 1; } );",
	};
	struct load l = { 0 };
	pid_t publisher;
	uint64_t t0;
	int st;

	l.watch = start_watcher(&l);
	write_config_x(names, extra, LOAD_SESSIONS);
	Daemon = start_daemon(NULL);
	for (int i = 0; i < LOAD_SESSIONS; i++)
		wait_connected(names[i], 1, 0);
	cr_assert(t_wait_for(client_open, &l, 10000), "no libmqttmux client");
	cr_assert_not_null(mqttmux_handle(l.client, "load/#", on_load, &l.received));
	publisher = start_publisher();
	/* The watcher works: it sees its own control message. */
	cr_assert_eq(mosquitto_publish(l.watch, NULL, "control/x", 2, "ok", 1, false),
		     MOSQ_ERR_SUCCESS);
	cr_assert(t_wait_for(flowing, &l, 15000), "client got %ld messages, watcher %d", l.received,
		  l.controls);
	children_from_status(&l.g);

	t0 = t_now_ns();
	cr_assert_eq(kill(Daemon, SIGTERM), 0);
	cr_assert(t_wait_for(stopped, &l, 5000), "a worker or the router outlived SIGTERM by 5 s");
	cr_assert_eq(reap_within(Daemon, 5000 - (int)((t_now_ns() - t0) / 1000000), &st), 0,
		     "mqttmuxd still running 5 s after SIGTERM");
	Daemon = 0;
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
	cr_expect_eq(waitpid(-1, NULL, WNOHANG), 0, "an orphan came to us (subreaper)");
	/* A will would come right after the broker saw a connection die: give it 1 s. */
	(void)t_wait_for(pump_only, &l, 1000);
	cr_expect_eq(l.wills, 0, "the broker published %d will(s): unclean disconnects", l.wills);
	cr_expect(t_wait_for(disconnected_cleanly, NULL, 2000), "no clean DISCONNECT from each");
	kill(publisher, SIGKILL);
	waitpid(publisher, NULL, 0);
	mqttmux_close(l.client);
	mosquitto_disconnect(l.watch);
	mosquitto_destroy(l.watch);
	mosquitto_lib_cleanup();
}
