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
 * - 10,000 routes of one client, 1,000 router connections of another uid, and a slowloris of
 *   100 HTTP connections on metrics.http (count-based: the flood does its work, then holds
 *   it while memory is measured): each is held to its bound (clients.max_routes,
 *   max_filter_length, max_clients_per_uid, metrics.http_max_connections), counted, and
 *   nobody else notices.
 *
 * Meanwhile `mqttmux status` keeps answering and another client's publishes complete. The
 * router's and the supervisor's resident memory are sampled every 200 ms and printed with
 * their growth. MQTTMUX_BOUNDS_S=<seconds> changes the flood's length (default 20).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
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
#define FLOOD_ROUTES	 10000
#define DEFAULT_ROUTES	 4096 /* clients.max_routes by default */
#define FILTER_LEN	 1024 /* clients.max_filter_length by default */
#define FLOOD_CONNS	 1000
#define CONNS_PER_UID	 64 /* clients.max_clients_per_uid here */
#define FLOOD_HTTP	 100
#define HTTP_SCRAPES	 20

static struct t_broker B;
static char *Dir, *Log, *Run, *Sock;
static pid_t Daemon;
static int Result_fd = -1; /* a flood child's pipe to the test */

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

/* A metric's value from `mqttmux metrics` (name with its labels, then a space), or -1. */
static long metric(const char *key)
{
	char *out = malloc(1 << 20), err[512], *p;
	const char *args[] = { "metrics", NULL };
	long v = -1;

	cr_assert_not_null(out);
	if (t_cli(MQTTMUX_CLI_PATH, Run, out, 1 << 20, err, sizeof(err), args) == 0 &&
	    (p = strstr(out, key)))
		v = strtol(p + strlen(key), NULL, 10);
	free(out);
	return v;
}

/* The value of `mqttmux_control_refused_total{reason="<reason>"}`, or -1. */
static long refused(const char *reason)
{
	char key[96];

	snprintf(key, sizeof(key), "mqttmux_control_refused_total{reason=\"%s\"} ", reason);
	return metric(key);
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

/*
 * Count-based floods (issue 12): a child process does a fixed amount of hostile work, writes
 * what it got on a pipe and then holds what it has until killed, so the router's and the
 * supervisor's memory is measured with the flood's resources still held. Meanwhile the test
 * checks every second that others are served (status, publishes on both sessions).
 */
struct counts {
	int ok, refused, other, last_err, too_long;
};

struct flood {
	pid_t pid;
	int rd;
};

static void flood_start(struct flood *f, void (*fn)(void *), void *arg)
{
	int p[2];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	f->pid = fork();
	cr_assert_geq(f->pid, 0);
	if (f->pid == 0) {
		close(p[0]);
		Result_fd = p[1];
		fn(arg);
		_exit(9);
	}
	close(p[1]);
	f->rd = p[0];
}

/* In the child: report <n>, then hold everything until killed. */
static void flood_report(const struct counts *n)
{
	if (write(Result_fd, n, sizeof(*n)) != (ssize_t)sizeof(*n))
		_exit(4);
	for (;;)
		pause();
}

/* Sample and serve others until the child reported (at most <deadline_s>), then report. */
static void flood_watch(const char *what, pid_t router, struct peak *p, struct flood *f,
			struct counts *n, int deadline_s)
{
	uint64_t end = t_now_ns() + (uint64_t)deadline_s * 1000000000ull, next = 0;
	struct pollfd pf = { .fd = f->rd, .events = POLLIN };
	struct mqttmux *good;
	ssize_t got = 0;
	int err = 0;

	good = mqttmux_open(Run, &err);
	cr_assert_not_null(good, "open: %s", strerror(-err));
	while (got == 0 && t_now_ns() < end) {
		sample(p, router);
		if (t_now_ns() >= next) {
			others_work(p, good);
			next = t_now_ns() + 1000000000ull;
		}
		if (poll(&pf, 1, 200) == 1)
			got = read(f->rd, n, sizeof(*n));
	}
	cr_assert_eq(got, (ssize_t)sizeof(*n), "%s: the flood did not finish in %d s", what,
		     deadline_s);
	sample(p, router);
	others_work(p, good); /* and once more with the flood's resources held */
	mqttmux_close(good);
	cr_expect_eq(t_proc_child(Daemon, NULL), router, "%s: the router was restarted", what);
	report(what, p);
}

static void flood_stop(struct flood *f)
{
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
	close(f->rd);
}

static void on_nothing(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	(void)r;
	(void)m;
	(void)ud;
}

/* "flood/<i>/xxx...": a distinct filter of exactly <len> bytes. */
static void make_filter(char *f, int i, size_t len)
{
	int n = snprintf(f, len + 1, "flood/%d/", i);

	memset(f + n, 'x', len - (size_t)n);
	f[len] = '\0';
}

/* One route; a full command ring (EAGAIN) is tried again for up to a minute. */
static int add_route(struct mqttmux *c, const char *f)
{
	uint64_t end = t_now_ns() + 60000000000ull;

	for (;;) {
		if (mqttmux_handle_to(c, "v311", f, on_nothing, NULL))
			return 0;
		if (errno != EAGAIN || t_now_ns() > end)
			return -errno;
		(void)mqttmux_dispatch(c, 10);
	}
}

static void route_flooder(void *arg)
{
	static char f[FILTER_LEN + 2];
	struct counts n = { 0 };
	struct mqttmux *c;
	int err = 0;

	(void)arg;
	c = mqttmux_open(Run, &err);
	if (!c)
		_exit(2);
	make_filter(f, 0, FILTER_LEN + 1);
	n.too_long = add_route(c, f) == -ENAMETOOLONG;
	for (int i = 0; i < FLOOD_ROUTES; i++) {
		int rc;

		make_filter(f, i, FILTER_LEN);
		rc = add_route(c, f);
		if (rc == 0)
			n.ok++;
		else if (rc == -ENOSPC)
			n.refused++;
		else
			n.other++, n.last_err = rc;
	}
	flood_report(&n);
}

/*
 * One client asks for 10,000 routes with distinct filters of clients.max_filter_length bytes
 * (the default 1,024): it gets clients.max_routes (4,096), the rest is refused with ENOSPC, a
 * longer filter with ENAMETOOLONG; each counted in mqttmux_router_limited_total.
 */
Test(bounds, ten_thousand_routes_are_held_to_max_routes)
{
	struct peak p = { 0 };
	struct counts n = { 0 };
	struct flood f;
	pid_t router;

	start_daemon("");
	baseline(&p, &router);
	flood_start(&f, route_flooder, NULL);
	flood_watch("10,000 routes of 1 KiB filters", router, &p, &f, &n, 300);
	printf("# routes: %d accepted, %d refused (ENOSPC), %d other (last %d)\n", n.ok, n.refused,
	       n.other, n.last_err);
	cr_expect_eq(n.ok, DEFAULT_ROUTES);
	cr_expect_eq(n.refused, FLOOD_ROUTES - DEFAULT_ROUTES);
	cr_expect_eq(n.other, 0, "last error %d", n.last_err);
	cr_expect(n.too_long, "a filter over clients.max_filter_length was accepted");
	cr_expect_eq(metric("mqttmux_router_limited_total{reason=\"routes\"} "),
		     FLOOD_ROUTES - DEFAULT_ROUTES);
	cr_expect_eq(metric("mqttmux_router_limited_total{reason=\"filter_length\"} "), 1);
	flood_stop(&f);
}

/* As <pw> (after raising the descriptor limit): FLOOD_CONNS clients, all held. */
static void conn_flooder(void *arg)
{
	const struct passwd *pw = arg;
	struct rlimit rl = { 4 * FLOOD_CONNS, 4 * FLOOD_CONNS };
	struct counts n = { 0 };

	if (setrlimit(RLIMIT_NOFILE, &rl) || setgroups(0, NULL) || setgid(pw->pw_gid) ||
	    setuid(pw->pw_uid))
		_exit(2);
	for (int i = 0; i < FLOOD_CONNS; i++) {
		int err = 0;

		if (mqttmux_open(Run, &err))
			n.ok++;
		else if (err == -EUSERS)
			n.refused++;
		else
			n.other++, n.last_err = err;
	}
	flood_report(&n);
}

/*
 * Another uid (nobody) opens 1,000 clients: it gets clients.max_clients_per_uid of them, the
 * rest is refused with EUSERS before any ring is made; root's clients are served throughout.
 */
Test(bounds, a_thousand_connections_are_held_to_max_clients_per_uid)
{
	struct peak p = { 0 };
	struct counts n = { 0 };
	struct passwd *pw;
	struct flood f;
	char extra[200], path[4096];
	pid_t router;

	if (geteuid() != 0)
		cr_skip_test("needs root to run a client as another uid");
	pw = getpwnam("nobody");
	if (!pw)
		cr_skip_test("no user nobody");
	snprintf(
		extra, sizeof(extra),
		"clients = { allow_uids = [ %u ]; max_clients_per_uid = %d; ring_size = 1048576; };",
		(unsigned)pw->pw_uid, CONNS_PER_UID);
	start_daemon(extra);
	open_up(Dir, Run);
	snprintf(path, sizeof(path), "%s/router.sock", Run);
	cr_assert_eq(chmod(path, 0666), 0);
	baseline(&p, &router);
	flood_start(&f, conn_flooder, pw);
	flood_watch("1,000 router connections of another uid", router, &p, &f, &n, 300);
	printf("# connections: %d accepted, %d refused (EUSERS), %d other (last %d)\n", n.ok,
	       n.refused, n.other, n.last_err);
	cr_expect_eq(n.ok, CONNS_PER_UID);
	cr_expect_eq(n.refused, FLOOD_CONNS - CONNS_PER_UID);
	cr_expect_eq(n.other, 0, "last error %d", n.last_err);
	cr_expect_eq(metric("mqttmux_router_limited_total{reason=\"clients_per_uid\"} "),
		     FLOOD_CONNS - CONNS_PER_UID);
	flood_stop(&f);
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static int http_open(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(0x7f000001),
				  .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The slowloris: FLOOD_HTTP connections that send half a request, reopened when closed. */
static void http_flooder(void *arg)
{
	static const char half[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
	struct pollfd pf[FLOOD_HTTP];
	int port = *(int *)arg;
	struct counts n = { 0 };
	char junk[256];

	for (int i = 0; i < FLOOD_HTTP; i++)
		pf[i] = (struct pollfd){ .fd = -1, .events = POLLIN };
	for (;;) {
		for (int i = 0; i < FLOOD_HTTP; i++) {
			if (pf[i].fd >= 0)
				continue;
			pf[i].fd = http_open(port);
			if (pf[i].fd >= 0 && send(pf[i].fd, half, strlen(half), MSG_NOSIGNAL) > 0)
				n.ok++;
			if (n.ok == FLOOD_HTTP && write(Result_fd, &n, sizeof(n)) < 0)
				_exit(4); /* all of them open once: the watch may start */
		}
		if (poll(pf, FLOOD_HTTP, 100) <= 0)
			continue;
		for (int i = 0; i < FLOOD_HTTP; i++)
			if (pf[i].revents &&
			    recv(pf[i].fd, junk, sizeof(junk), MSG_DONTWAIT) <= 0) {
				close(pf[i].fd); /* closed by the daemon: open another */
				pf[i].fd = -1;
			}
	}
}

/* One scrape: true if the answer is 200 with metrics, within 5 s. */
static bool scrape(int port)
{
	static const char get[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	uint64_t end = t_now_ns() + 5000000000ull;
	char buf[64] = "";
	size_t got = 0;
	int fd = http_open(port);

	if (fd < 0)
		return false;
	(void)send(fd, get, strlen(get), MSG_NOSIGNAL);
	while (got < sizeof(buf) - 1 && t_now_ns() < end) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pf, 1, 100) <= 0)
			continue;
		r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	return strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0;
}

/*
 * A slowloris on metrics.http: 100 connections that send half a request, reopened as soon as
 * the daemon closes one. Each new connection takes the slot of the oldest unanswered one
 * (metrics.http_max_connections, 8), so a scrape, which sends its whole request at once, is
 * answered: 20 scrapes in a row all get their 200.
 */
Test(bounds, slow_http_connections_do_not_block_scrapes)
{
	struct peak p = { 0 };
	struct counts n = { 0 };
	struct flood f;
	char extra[96];
	int port = free_port(), ok = 0;
	pid_t router;

	snprintf(extra, sizeof(extra), "metrics = { http = \"127.0.0.1:%d\"; };", port);
	start_daemon(extra);
	baseline(&p, &router);
	flood_start(&f, http_flooder, &port);
	flood_watch("100 slow HTTP connections", router, &p, &f, &n, 120);
	for (int i = 0; i < HTTP_SCRAPES; i++) {
		ok += scrape(port);
		sample(&p, router);
	}
	printf("# scrapes during the slowloris: %d of %d answered; evicted %ld\n", ok, HTTP_SCRAPES,
	       metric("mqttmux_http_refused_total{reason=\"evicted\"} "));
	cr_expect_eq(ok, HTTP_SCRAPES);
	cr_expect_gt(metric("mqttmux_http_refused_total{reason=\"evicted\"} "), 0);
	report("100 slow HTTP connections, after the scrapes", &p);
	flood_stop(&f);
}
