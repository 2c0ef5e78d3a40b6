/* SPDX-License-Identifier: MIT */
/*
 * mqttmuxd at its descriptor limit (issue 13), against the real daemon, workers, router and a
 * real mosquitto: it raises its soft RLIMIT_NOFILE to the hard limit, refuses to start (naming
 * the limit and the number it needs) when the sessions cannot fit, and never spins at the limit:
 * a control socket or router.sock that cannot accept pauses and says so once per pause, and
 * router.sock connections that never send HELLO are closed. Counts of log lines, not timings.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"
#include "t_proc.h"

#define CONNS 40

static struct t_broker B;
static char *Dir, *Cfg, *Log, *Run, *Sock;
static pid_t Daemon;
static int Conns[CONNS];

static void setup(void)
{
	t_daemon_setup("lim", &Dir, &Log, &Run, &Sock);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
	for (int i = 0; i < CONNS; i++)
		Conns[i] = -1;
}

static void close_conns(void)
{
	for (int i = 0; i < CONNS; i++)
		if (Conns[i] >= 0)
			close(Conns[i]);
	for (int i = 0; i < CONNS; i++)
		Conns[i] = -1;
}

static void teardown(void)
{
	close_conns();
	t_daemon_kill(&Daemon, Log);
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	free(Dir);
	free(Cfg);
	free(Log);
	free(Run);
	free(Sock);
	Dir = Cfg = Log = Run = Sock = NULL;
}

TestSuite(limits, .init = setup, .fini = teardown, .timeout = 120);

/* <n> sessions s0.. on our broker. */
static void write_config(int n)
{
	char *text = NULL, *sessions = strdup("");

	for (int i = 0; i < n; i++) {
		char *more;

		cr_assert_gt(
			asprintf(&more,
				 "%s%s  { name = \"s%d\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
				 " client_id = \"lim-%d\"; }",
				 sessions, i ? ",\n" : "", i, B.port, i),
			0);
		free(sessions);
		sessions = more;
	}
	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			      "sessions = (\n%s\n);\n",
			      Run, Dir, sessions),
		     0);
	free(sessions);
	free(Cfg);
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	t_write_text(Cfg, text);
	free(text);
}

static void start(const struct rlimit *nofile)
{
	Daemon = t_daemon_spawn_nofile(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, NULL, NULL,
				       nofile);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, 15000), "control socket never answered");
}

/* Lines of the daemon's log (and its children's) that contain <what>. */
static int log_count(const char *what)
{
	char line[1024];
	FILE *f = fopen(Log, "re");
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	if (f)
		fclose(f);
	return n;
}

static bool log_has(void *what)
{
	return log_count(what) > 0;
}

/* A stream or seqpacket connection to <path>, left idle. */
static int idle_conn(const char *path, int type)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s: %s", path,
		     strerror(errno));
	return fd;
}

/* Lower <pid>'s soft RLIMIT_NOFILE to what it has open plus <room>; returns the old one. */
static struct rlimit squeeze(pid_t pid, int room)
{
	struct rlimit old, rl;
	int open = t_proc_nfds(pid, NULL);

	cr_assert_gt(open, 0);
	cr_assert_eq(prlimit(pid, RLIMIT_NOFILE, NULL, &old), 0, "%s", strerror(errno));
	rl = (struct rlimit){ .rlim_cur = (rlim_t)(open + room), .rlim_max = old.rlim_max };
	cr_assert_eq(prlimit(pid, RLIMIT_NOFILE, &rl, NULL), 0, "%s", strerror(errno));
	return old;
}

Test(limits, refuses_to_start_naming_the_limit_and_the_number_needed)
{
	const struct rlimit tight = { .rlim_cur = 64, .rlim_max = 64 };
	int st;

	write_config(10);
	Daemon = t_daemon_spawn_nofile(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, NULL, NULL,
				       &tight);
	cr_assert_eq(waitpid(Daemon, &st, 0), Daemon);
	Daemon = 0;
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "wait status %#x", st);
	cr_expect_eq(log_count("cannot start: RLIMIT_NOFILE (open files) is 64 (hard limit 64): 10"
			       " session(s) need "),
		     1);
	cr_expect_eq(log_count("LimitNOFILE="), 1, "the message says what to raise");
}

Test(limits, raises_its_soft_limit_to_the_hard_one)
{
	struct rlimit mine, low, got;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &mine), 0);
	if (mine.rlim_max < 2048)
		cr_skip_test("hard RLIMIT_NOFILE %llu is too low for this test",
			     (unsigned long long)mine.rlim_max);
	low = (struct rlimit){ .rlim_cur = 1024, .rlim_max = mine.rlim_max };
	write_config(1);
	start(&low);
	cr_assert_eq(prlimit(Daemon, RLIMIT_NOFILE, NULL, &got), 0);
	cr_expect_eq(got.rlim_cur, mine.rlim_max, "soft %llu, hard %llu",
		     (unsigned long long)got.rlim_cur, (unsigned long long)got.rlim_max);
	t_daemon_stop(&Daemon);
}

Test(limits, a_control_socket_out_of_descriptors_pauses_instead_of_spinning)
{
	struct rlimit old;
	uint64_t t0;
	int lines;

	write_config(1);
	start(NULL);
	old = squeeze(Daemon, 2);
	t0 = t_now_ns();
	for (int i = 0; i < CONNS; i++)
		Conns[i] = idle_conn(Sock, SOCK_STREAM);
	cr_assert(t_wait_for(log_has, (char[]){ "control socket: accept" }, 10000),
		  "no EMFILE logged");
	/* Two more seconds at the limit: a spinning loop would log thousands of lines. */
	while (t_now_ns() - t0 < 3000000000ull)
		usleep(100000);
	lines = log_count("not accepting for a second");
	cr_expect_geq(lines, 1);
	cr_expect_leq(lines, (int)((t_now_ns() - t0) / 1000000000ull) + 2, "%d pause lines", lines);
	close_conns();
	cr_assert_eq(prlimit(Daemon, RLIMIT_NOFILE, &old, NULL), 0);
	cr_expect(t_wait_for(t_ctl_pongs, Sock, 10000), "no answer once descriptors are back");
	t_daemon_stop(&Daemon);
}

/* All of Conns[0..n) saw the router close them (EOF). */
static bool all_closed(void *np)
{
	int n = *(int *)np;

	for (int i = 0; i < n; i++) {
		char b;

		if (Conns[i] >= 0 && recv(Conns[i], &b, 1, MSG_DONTWAIT) == 0) {
			close(Conns[i]);
			Conns[i] = -1;
		}
		if (Conns[i] >= 0)
			return false;
	}
	return true;
}

Test(limits, router_closes_connections_that_never_say_hello_and_pauses_at_the_limit)
{
	char path[512], out[4096], err[4096];
	struct rlimit old;
	pid_t router;
	int n = 12, lines;

	write_config(1);
	start(NULL);
	cr_assert_eq(t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
			   (const char *const[]){ "wait", "-t", "20", NULL }),
		     0, "%s", err);
	router = t_daemon_child(Daemon, NULL);
	cr_assert_gt(router, 0);
	snprintf(path, sizeof(path), "%s/router.sock", Run);
	old = squeeze(router, 4);
	for (int i = 0; i < n; i++)
		Conns[i] = idle_conn(path, SOCK_SEQPACKET);
	cr_assert(t_wait_for(all_closed, &n, 60000), "connections without HELLO stayed open");
	lines = log_count("accept on router.sock: out of descriptors");
	cr_expect_geq(lines, 1, "the router never ran out of descriptors");
	cr_expect_leq(lines, 40, "%d pause lines: spinning?", lines);
	cr_expect_geq(log_count("no HELLO within 5 s"), n);
	cr_assert_eq(prlimit(router, RLIMIT_NOFILE, &old, NULL), 0);
	cr_expect_eq(
		t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
		      (const char *const[]){ "pub", "-s", "s0", "-t", "t/x", "-m", "hi", NULL }),
		0, "a client registers once descriptors are back: %s", err);
	t_daemon_stop(&Daemon);
}
