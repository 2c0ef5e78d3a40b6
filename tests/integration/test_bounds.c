/* SPDX-License-Identifier: MIT */
/*
 * Bounds under floods (issue 12, docs/security.md "Bounds"): a hostile local client must not
 * grow the router or the supervisor, nor lock anybody else out.
 *
 * - A client publishes to a session that does not exist as fast as it can and never reads its
 *   delivery ring, so every PUB_DONE (-ENOENT) waits in the router. The router stops reading
 *   that client's pub-ring while its completions wait; the flooder is slowed by -EAGAIN.
 *   Before, the router queued a completion per publish: 3.6 GB in 20 s.
 * - 100 idle control connections: the CLI still gets its answers.
 *
 * Meanwhile `mqttmux status` keeps answering and another client's publishes complete. The
 * router's and the supervisor's resident memory are sampled every 200 ms and printed with
 * their growth. MQTTMUX_BOUNDS_S=<seconds> changes the flood's length (default 20).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mqttmux.h"
#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"
#include "t_proc.h"

#define FLOOD_S		 20
#define ROUTER_GROWTH_KB (64 * 1024) /* documented bound of the router's growth: 64 MiB */
#define SUP_GROWTH_KB	 (16 * 1024) /* and of the supervisor's */
#define IDLE_CONNS	 100
#define IDLE_PER_UID	 8 /* clients.control_per_uid here */
#define IDLE_TIMEOUT_S	 3 /* clients.control_timeout here */

static struct t_broker B;
static char *Dir, *Log, *Run, *Sock;
static pid_t Daemon;

static void setup(void)
{
	t_daemon_setup("bounds", &Dir, &Log, &Run, &Sock);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
}

static void teardown(void)
{
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	t_daemon_free_paths((char **const[]){ &Dir, &Log, &Run, &Sock, NULL });
}

TestSuite(bounds, .init = setup, .fini = teardown, .timeout = 300);

/* Let another uid reach the sockets: the daemon's own checks are what is tested. */
static void open_up(const char *dir, const char *run)
{
	char path[4096];

	cr_assert_eq(chmod(dir, 0755), 0);
	cr_assert_eq(chmod(run, 0755), 0);
	snprintf(path, sizeof(path), "%s/control.sock", run);
	cr_assert_eq(chmod(path, 0666), 0);
}

static void start_daemon(const char *extra)
{
	Daemon = t_daemon_start_v311_v5(MQTTMUXD_PATH, MQTTMUX_WORKER_PATH, MQTTMUX_ROUTER_PATH,
					Dir, Log, B.port, "bounds", extra);
	cr_assert_eq(mqttmux_wait_all_sessions(Run, 60000), 0, "sessions not ready");
}

static int flood_seconds(void)
{
	const char *e = getenv("MQTTMUX_BOUNDS_S");

	return e && atoi(e) > 0 ? atoi(e) : FLOOD_S;
}

/* The flooder: publishes to "nosuch" until killed, never dispatching (never reading). */
static void flooder(void)
{
	static const char payload[256] = "x";
	struct mqttmux *c;
	int err = 0;

	c = mqttmux_open(Run, &err);
	if (!c)
		_exit(2);
	for (;;) {
		int rc = mqttmux_publish_async(c, "nosuch", "t", payload, sizeof(payload), 0, false,
					       NULL, NULL);

		if (rc == -EAGAIN)
			usleep(100);
		else if (rc < 0)
			_exit(3);
	}
}

struct peak {
	long router0, sup0, router_max, sup_max;
	unsigned status_ok, status_failed;
	unsigned pubs_ok, pubs_failed;
};

static void sample(struct peak *p, pid_t router)
{
	long r = t_proc_status_kb(router, "VmRSS"), s = t_proc_status_kb(Daemon, "VmRSS");

	if (r > p->router_max)
		p->router_max = r;
	if (s > p->sup_max)
		p->sup_max = s;
}

/* Another user of the daemon: status answers, and a publish to a real session completes. */
static void others_work(struct peak *p, struct mqttmux *good)
{
	json_object *a = t_status_json(MQTTMUX_CLI_PATH, Run);

	if (a)
		p->status_ok++;
	else
		p->status_failed++;
	json_object_put(a);
	if (mqttmux_publish_to(good, "v311", "bounds/ok", "y", 1, 1, false, 10000) == 0 &&
	    mqttmux_publish_to(good, "v5", "bounds/ok", "y", 1, 1, false, 10000) == 0)
		p->pubs_ok++;
	else
		p->pubs_failed++;
}

static void report(const char *what, const struct peak *p)
{
	printf("# %s: router VmRSS %ld KiB -> max %ld KiB (+%ld), mqttmuxd %ld KiB -> max %ld KiB "
	       "(+%ld); status %u ok %u failed; publishes of another client %u ok %u failed\n",
	       what, p->router0, p->router_max, p->router_max - p->router0, p->sup0, p->sup_max,
	       p->sup_max - p->sup0, p->status_ok, p->status_failed, p->pubs_ok, p->pubs_failed);
	cr_expect_lt(p->router_max - p->router0, ROUTER_GROWTH_KB, "%s: router grew by %ld KiB",
		     what, p->router_max - p->router0);
	cr_expect_lt(p->sup_max - p->sup0, SUP_GROWTH_KB, "%s: mqttmuxd grew by %ld KiB", what,
		     p->sup_max - p->sup0);
	cr_expect_eq(p->status_failed, 0, "%s: status failed %u times", what, p->status_failed);
	cr_expect_gt(p->status_ok, 0);
	cr_expect_eq(p->pubs_failed, 0, "%s: another client's publishes failed", what);
}

/* Run <pid>'s flood for the configured time, sampling and checking that others still work. */
static void watch(const char *what, pid_t router, struct peak *p)
{
	uint64_t end = t_now_ns() + (uint64_t)flood_seconds() * 1000000000ull, next = 0;
	struct mqttmux *good;
	int err = 0;

	good = mqttmux_open(Run, &err);
	cr_assert_not_null(good, "open: %s", strerror(-err));
	while (t_now_ns() < end) {
		sample(p, router);
		if (t_now_ns() >= next) {
			others_work(p, good);
			next = t_now_ns() + 1000000000ull;
		}
		usleep(200000);
	}
	mqttmux_close(good);
	cr_expect_eq(t_proc_child(Daemon, NULL), router, "%s: the router was restarted", what);
	report(what, p);
}

static void baseline(struct peak *p, pid_t *router)
{
	*router = t_proc_child(Daemon, NULL);
	cr_assert_gt(*router, 0, "no router");
	p->router0 = p->router_max = t_proc_status_kb(*router, "VmRSS");
	p->sup0 = p->sup_max = t_proc_status_kb(Daemon, "VmRSS");
	cr_assert_gt(p->router0, 0);
}

Test(bounds, a_client_publishing_to_no_session_without_reading_grows_nothing)
{
	struct peak p = { 0 };
	pid_t router, pid;

	start_daemon("");
	baseline(&p, &router);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		flooder();
	watch("publish to an unknown session, never read", router, &p);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* As <pw>: open IDLE_CONNS control connections and hold them until killed. */
static void idler(const struct passwd *pw)
{
	int fds[IDLE_CONNS];

	if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid))
		_exit(2);
	for (int i = 0; i < IDLE_CONNS; i++)
		fds[i] = t_ctl_connect(Sock); /* the refused ones are closed by the daemon */
	(void)fds;
	for (;;)
		pause();
}

/* The value of `mqttmux_control_refused_total{reason="<reason>"}`, or -1. */
static long refused(const char *reason)
{
	char *out = malloc(1 << 20), err[512], key[96];
	const char *args[] = { "metrics", NULL };
	long v = -1;
	char *p;

	cr_assert_not_null(out);
	snprintf(key, sizeof(key), "mqttmux_control_refused_total{reason=\"%s\"} ", reason);
	if (t_cli(MQTTMUX_CLI_PATH, Run, out, 1 << 20, err, sizeof(err), args) == 0 &&
	    (p = strstr(out, key)))
		v = strtol(p + strlen(key), NULL, 10);
	free(out);
	return v;
}

static bool idlers_closed(void *ud)
{
	(void)ud;
	return refused("idle") >= IDLE_PER_UID;
}

/*
 * Another uid (nobody) opens 100 control connections and sends nothing: it gets
 * clients.control_per_uid of them, and those are closed after clients.control_timeout; root's
 * CLI is served all along. Counted in mqttmux_control_refused_total.
 */
Test(bounds, idle_control_connections_do_not_lock_the_cli_out)
{
	struct peak p = { 0 };
	struct passwd *pw;
	char extra[160];
	pid_t router, pid;

	if (geteuid() != 0)
		cr_skip_test("needs root to run a client as another uid");
	pw = getpwnam("nobody");
	if (!pw)
		cr_skip_test("no user nobody");
	snprintf(extra, sizeof(extra),
		 "clients = { allow_uids = [ %u ]; control_per_uid = %d; control_timeout = %d; };",
		 (unsigned)pw->pw_uid, IDLE_PER_UID, IDLE_TIMEOUT_S);
	start_daemon(extra);
	open_up(Dir, Run);
	baseline(&p, &router);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		idler(pw);
	watch("100 idle control connections of another uid", router, &p);
	cr_expect_geq(refused("per_uid"), IDLE_CONNS - IDLE_PER_UID);
	cr_expect(t_wait_for(idlers_closed, NULL, (IDLE_TIMEOUT_S + 30) * 1000),
		  "the idle connections were not closed (idle count %ld)", refused("idle"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}
