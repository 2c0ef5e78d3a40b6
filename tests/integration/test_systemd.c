/* SPDX-License-Identifier: MIT */
/*
 * mqttmuxd under a pretend systemd: the test owns the notification socket (a Unix datagram
 * socket in its temp dir, given as NOTIFY_SOCKET) and sets WATCHDOG_USEC=200000, then checks
 * what the daemon sends: READY=1 once the session is ready (not before), WATCHDOG=1 again and
 * again from the loop, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on SIGTERM.
 * WATCHDOG_PID is left unset (libsystemd then accepts the watchdog in any process), except in
 * the test that sets it as systemd does, through a shell that execs the daemon.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"

static struct t_broker B;
static char *Dir, *Cfg, *Log, *Run, *Sock;
static pid_t Daemon;
static int Notify_fd = -1;
static char Notify_path[108];

static void setup(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	t_daemon_setup("sdn", &Dir, &Log, &Run, &Sock);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
	cr_assert_lt((size_t)snprintf(Notify_path, sizeof(Notify_path), "%s/notify", Dir),
		     sizeof(sa.sun_path));
	strcpy(sa.sun_path, Notify_path);
	Notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(Notify_fd, 0);
	cr_assert_eq(bind(Notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
}

static void teardown(void)
{
	if (Notify_fd >= 0)
		close(Notify_fd);
	Notify_fd = -1;
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	free(Dir);
	free(Cfg);
	free(Log);
	free(Run);
	free(Sock);
	Dir = Cfg = Log = Run = Sock = NULL;
}

TestSuite(systemd, .init = setup, .fini = teardown, .timeout = 60);

/*
 * One session "one" on our broker; NOTIFY_SOCKET=<notify> unless NULL, WATCHDOG_USEC=200000,
 * WATCHDOG_PID=<watchdog_pid> unless NULL.
 */
static void start_daemon(const char *notify, const char *watchdog_pid)
{
	char *text, *script;

	cr_assert_gt(
		asprintf(&text,
			 "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			 "sessions = (\n  { name = \"one\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			 " client_id = \"sdn-one\";"
			 " subscriptions = ( { topic = \"t/#\"; qos = 1; } ); }\n);\n",
			 Run, Dir, B.port),
		0);
	free(Cfg);
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	t_write_text(Cfg, text);
	free(text);
	/* The daemon inherits the environment of the fork: set it around the spawn only. */
	if (notify)
		setenv("NOTIFY_SOCKET", notify, 1);
	setenv("WATCHDOG_USEC", "200000", 1);
	unsetenv("WATCHDOG_PID");
	if (watchdog_pid) {
		/*
		 * As systemd does, WATCHDOG_PID names the daemon: a shell sets it to its own pid
		 * ($$, or <watchdog_pid> when not "$$") and execs mqttmuxd, which keeps that pid.
		 */
		cr_assert_gt(asprintf(&script, "WATCHDOG_PID=%s exec '%s' -c '%s'", watchdog_pid,
				      MQTTMUXD_PATH, Cfg),
			     0);
		Daemon = t_daemon_spawn("/bin/sh", script, Log, MQTTMUX_WORKER_PATH, NULL, NULL);
		free(script);
	} else {
		Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, NULL, NULL);
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
}

struct seen {
	int watchdogs; /* WATCHDOG=1 datagrams */
	int total;     /* all datagrams */
	char last[512];
};

/*
 * Read datagrams for at most <ms> until one contains <want> (NULL: read for the whole <ms>).
 * Counts into <s>. Returns true if <want> came.
 */
static bool read_until(struct seen *s, const char *want, int ms)
{
	uint64_t deadline = t_now_ns() + (uint64_t)ms * 1000000ull;

	while (t_now_ns() < deadline) {
		struct pollfd p = { .fd = Notify_fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, (int)((deadline - t_now_ns()) / 1000000 + 1)) <= 0)
			continue;
		n = recv(Notify_fd, s->last, sizeof(s->last) - 1, 0);
		if (n < 0)
			continue;
		s->last[n] = '\0';
		s->total++;
		s->watchdogs += !strcmp(s->last, "WATCHDOG=1");
		if (want && strstr(s->last, want))
			return true;
	}
	return false;
}

/* The session answers `wait one 0` with ready at once. */
static bool session_ready_now(void)
{
	char *r = t_ctl_command(Sock, "wait one 0\n");
	bool ok = r && strstr(r, "\"ready\":true");

	free(r);
	return ok;
}

Test(systemd, ready_after_the_session_then_watchdog_reload_and_stopping)
{
	struct seen s = { 0 };
	int st, before;

#if !HAVE_LIBSYSTEMD
	cr_skip_test("built without libsystemd: mqttmuxd sends no notifications");
#endif
	start_daemon(Notify_path, NULL);
	cr_assert(read_until(&s, "READY=1", 20000), "no READY=1 (last: '%s')", s.last);
	cr_expect(session_ready_now(), "READY=1 came before the session was ready");
	cr_expect_not_null(strstr(s.last, "STATUS=1/1 session(s) ready, router up"), "%s", s.last);

	/* WATCHDOG_USEC=200000: a keep-alive every 100 ms; ask for a few within 2 s. */
	before = s.watchdogs;
	(void)read_until(&s, NULL, 2000);
	cr_expect_geq(s.watchdogs - before, 3, "only %d WATCHDOG=1 in 2 s", s.watchdogs - before);

	cr_assert_eq(kill(Daemon, SIGHUP), 0);
	cr_expect(read_until(&s, "RELOADING=1", 5000), "no RELOADING=1 on SIGHUP");
	cr_expect_not_null(strstr(s.last, "MONOTONIC_USEC="), "%s", s.last);
	cr_expect(read_until(&s, "READY=1", 5000), "no READY=1 after the reload");

	cr_assert_eq(kill(Daemon, SIGTERM), 0);
	cr_expect(read_until(&s, "STOPPING=1", 5000), "no STOPPING=1 on SIGTERM");
	cr_assert_eq(waitpid(Daemon, &st, 0), Daemon);
	Daemon = 0;
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
}

/* Without NOTIFY_SOCKET nothing is sent and nothing breaks (the plain start of every suite). */
Test(systemd, without_notify_socket_the_daemon_runs_as_before)
{
	struct seen s = { 0 };

	start_daemon(NULL, NULL);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, 10000), "control socket never answered");
	(void)read_until(&s, NULL, 300);
	cr_expect_eq(s.total, 0, "got '%s'", s.last);
	t_daemon_stop(&Daemon);
}

/* WATCHDOG_PID as systemd sets it (the daemon's pid) is accepted; another pid turns it off. */
Test(systemd, watchdog_pid_must_be_the_daemon)
{
	struct seen s = { 0 };

#if !HAVE_LIBSYSTEMD
	cr_skip_test("built without libsystemd: mqttmuxd sends no notifications");
#endif
	start_daemon(Notify_path, "$$");
	cr_assert(read_until(&s, "READY=1", 20000), "no READY=1 (last: '%s')", s.last);
	(void)read_until(&s, NULL, 1000);
	cr_expect_geq(s.watchdogs, 3, "only %d WATCHDOG=1 with WATCHDOG_PID = the daemon's pid",
		      s.watchdogs);
	t_daemon_stop(&Daemon);

	memset(&s, 0, sizeof(s));
	start_daemon(Notify_path, "1");
	cr_assert(read_until(&s, "READY=1", 20000), "no READY=1 (last: '%s')", s.last);
	s.watchdogs = 0; /* the first daemon's, queued before its STOPPING=1 */
	(void)read_until(&s, NULL, 1000);
	cr_expect_eq(s.watchdogs, 0, "WATCHDOG=1 although WATCHDOG_PID is another process");
	t_daemon_stop(&Daemon);
}
