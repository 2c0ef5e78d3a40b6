/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux across router restarts (docs/client.md, "Router restarts"). Two set-ups:
 *
 * - mqttmux-router started by the test (t_router.c), as test_client.c does, with fake
 *   sessions whose in-rings the test writes itself: the router is killed with SIGKILL and a
 *   new one started on the same rings, as mqttmuxd does. The client must drain what the dead
 *   router had written, fail its publish in flight with -ECONNRESET, reconnect on its own
 *   behind the same mqttmux_fd, register its route again, and report it all as events; a new
 *   router with another set of sessions shows up as session_added / session_removed.
 * - the real mqttmuxd with a real worker on a real mosquitto broker: a numbered stream keeps
 *   flowing while the router is killed; every message must arrive exactly once, in order.
 *   That needs the router's half (it waits for the clients of its predecessor to send
 *   REJOINED before it drains the in-rings, and fills DELIVER seq).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "mm_time.h"
#include "mqttmux.h"
#include "proto.h"
#include "records.h"
#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"
#include "t_mosq.h"
#include "t_router.h"
#include "t_worker.h"

#define NSESS	3
#define WAIT_MS 20000
#define NMSG	600

static char *Dir, *Run, *Cfg, *Log, *Sock;
static struct t_rsess S[NSESS];
static pid_t Router, Daemon;
static int Chan = -1;
static struct t_broker B;
static struct t_worker W;

static void setup(void)
{
	t_daemon_setup("reconnect", &Dir, &Log, &Run, NULL);
	cr_assert_gt(asprintf(&Sock, "%s/control.sock", Run), 0);
	for (int i = 0; i < NSESS; i++)
		for (int k = 0; k < MM_FD_SESS_N; k++)
			S[i].fds[k] = -1;
	mosquitto_lib_init();
}

static void router_stop(int sig)
{
	int st = 0;

	if (Router <= 0)
		return;
	kill(Router, sig);
	waitpid(Router, &st, 0);
	if (sig == SIGTERM)
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "router exit status %#x", st);
	Router = 0;
	if (Chan >= 0)
		close(Chan);
	Chan = -1;
}

static void teardown(void)
{
	router_stop(SIGTERM);
	for (int i = 0; i < NSESS; i++)
		for (int k = 0; k < MM_FD_SESS_N; k++)
			if (S[i].fds[k] >= 0)
				close(S[i].fds[k]);
	t_worker_free(&W);
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	free(Dir);
	free(Run);
	free(Cfg);
	free(Log);
	free(Sock);
	Dir = Run = Cfg = Log = Sock = NULL;
	mosquitto_lib_cleanup();
}

TestSuite(reconnect, .init = setup, .fini = teardown, .timeout = 120);

/* ---- the router started by the test, fake sessions ---- */

/* A config naming the sessions of <names>: "a" on <url_a> if not NULL, the others fake. */
static void write_config(const char *const *names, int n, const char *url_a)
{
	char *text;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	cr_assert_not_null(f);
	fprintf(f, "runtime_dir = \"%s\";\nclients = { ring_size = 65536; };\nsessions = (", Run);
	for (int i = 0; i < n; i++)
		fprintf(f,
			"%s { name = \"%s\"; brokers = [ \"%s\" ]; client_id = \"%s\";"
			" performance = { max_message_size = 16384; }; }",
			i ? "," : "", names[i],
			url_a && !strcmp(names[i], "a") ? url_a : "tcp://127.0.0.1:1", names[i]);
	fprintf(f, " );\n");
	fclose(f);
	if (!Cfg)
		cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	t_write_text(Cfg, text);
	free(text);
}

/* A router for sessions <names>, on the rings S[<idx>[i]] (made on first use). */
static void start_router(const char *const *names, const int *idx, int n)
{
	int fds[NSESS][MM_FD_SESS_N];

	write_config(names, n, NULL);
	for (int i = 0; i < n; i++) {
		if (S[idx[i]].fds[MM_FD_SESS_IN_RING] < 0)
			t_make_session(&S[idx[i]]);
		memcpy(fds[i], S[idx[i]].fds, sizeof(fds[i]));
	}
	t_router_start(MQTTMUX_ROUTER_PATH, Dir, Cfg, fds, n, &Router, &Chan);
}

/* What the client saw: message numbers in arrival order, and events. */
struct seen {
	int n, nums[2 * NMSG], warm;
	int ev[_MQTTMUX_EV_MAX];
	char added[64], removed[64];
	int pub_result, pub_done, fail_code;
	char fail_topic[64];
};

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	struct seen *s = ud;
	char buf[32];

	(void)r;
	if (!strcmp(m->topic, "t/warm")) {
		s->warm++;
		return;
	}
	snprintf(buf, sizeof(buf), "%.*s", (int)m->payload_len, (const char *)m->payload);
	if (s->n < 2 * NMSG)
		s->nums[s->n++] = atoi(buf);
}

static void on_event(struct mqttmux *c, const struct mqttmux_event *ev, void *ud)
{
	struct seen *s = ud;

	(void)c;
	cr_assert(ev->type >= 0 && ev->type < _MQTTMUX_EV_MAX);
	cr_expect_str_eq(ev->name, mqttmux_event_name(ev->type));
	s->ev[ev->type]++;
	if (ev->type == MQTTMUX_EV_SESSION_ADDED)
		snprintf(s->added, sizeof(s->added), "%s", ev->session);
	if (ev->type == MQTTMUX_EV_SESSION_REMOVED)
		snprintf(s->removed, sizeof(s->removed), "%s", ev->session);
	if (ev->type == MQTTMUX_EV_PUBLISH_FAILED) {
		s->fail_code = ev->code;
		snprintf(s->fail_topic, sizeof(s->fail_topic), "%s", ev->topic);
	}
}

static void on_pub(struct mqttmux *c, int result, void *ud)
{
	struct seen *s = ud;

	(void)c;
	s->pub_result = result;
	s->pub_done++;
}

/* Dispatch until *<what> >= <want> or WAIT_MS; never an error. Returns whether it got there. */
static bool dispatch_wait(struct mqttmux *c, const int *what, int want)
{
	int64_t end = mm_time_mono_ms() + WAIT_MS;

	while (*what < want && mm_time_mono_ms() < end)
		cr_assert_geq(mqttmux_dispatch(c, 20), 0, "dispatch failed");
	return *what >= want;
}

static void dispatch_until(struct mqttmux *c, const int *what, int want)
{
	cr_assert(dispatch_wait(c, what, want), "waited %d ms for %d, have %d", WAIT_MS, want,
		  *what);
}

static void put_nums(struct t_rsess *s, int from, int to)
{
	char buf[32];

	for (int i = from; i < to; i++) {
		int len = snprintf(buf, sizeof(buf), "%d", i);

		t_put_msg(s, "t/n", buf, (uint32_t)len);
	}
}

/* Every number 0..<n>-1 exactly once, in order. */
static void expect_stream(const struct seen *s, int n)
{
	for (int i = 0; i < n && i < s->n; i++)
		cr_assert_eq(s->nums[i], i, "message %d is #%d (of %d received)", i, s->nums[i],
			     s->n);
	cr_assert_eq(s->n, n, "received %d messages, want %d", s->n, n);
}

Test(reconnect, router_kill9_drains_old_ring_fails_inflight_and_rejoins)
{
	static const char *const names[] = { "a", "b" };
	static const int idx[] = { 0, 1 };
	static struct seen s;
	struct mqttmux_route *r;
	struct mqttmux *c;
	char topic[64];
	uint64_t req;
	int err = 0, fd, t;

	start_router(names, idx, 2);
	c = mqttmux_open(Run, &err);
	cr_assert_not_null(c, "open: %s", strerror(-err));
	fd = mqttmux_fd(c);
	cr_assert_gt(mqttmux_on_event(c, MQTTMUX_EV_ALL, NULL, on_event, &s), 0);
	r = mqttmux_handle(c, "t/#", on_msg, &s);
	cr_assert_not_null(r);
	put_nums(&S[0], 0, 100);
	dispatch_until(c, &s.n, 100);

	/* a publish the fake worker of b never completes: in flight when the router dies */
	cr_assert_eq(mqttmux_publish_async(c, "b", "x/y", "p", 1, 1, false, on_pub, &s), 0);
	while ((t = t_next_cmd(&S[1], topic, sizeof(topic), &req, TMO)) == MM_REC_CMD_SUB)
		; /* the route's filter, sent to every session */
	cr_assert_eq(t, MM_REC_CMD_PUB);
	/* 100..149 reach the client's ring, not the application, before the router dies */
	put_nums(&S[0], 100, 150);
	t_wait_drained(&S[0]);
	router_stop(SIGKILL);

	dispatch_until(c, &s.ev[MQTTMUX_EV_ROUTER_DISCONNECTED], 1);
	cr_expect_eq(s.n, 150, "the old ring was drained to its end");
	cr_expect_eq(s.pub_done, 1);
	cr_expect_eq(s.pub_result, -ECONNRESET);
	cr_expect_eq(s.ev[MQTTMUX_EV_PUBLISH_FAILED], 1);
	cr_expect_eq(s.fail_code, -ECONNRESET);
	cr_expect_str_eq(s.fail_topic, "x/y");
	cr_expect_eq(mqttmux_publish_async(c, "b", "x/y", "p", 1, 1, false, NULL, NULL), -ENOTCONN,
		     "async publish while the router is away");
	cr_expect_eq(mqttmux_publish_to(c, "a", "x/y", "p", 1, 1, false, 50), -ENOTCONN,
		     "blocking publish with no router before its deadline");

	start_router(names, idx, 2);
	dispatch_until(c, &s.ev[MQTTMUX_EV_ROUTER_RECONNECTED], 1);
	cr_expect_eq(mqttmux_fd(c), fd, "mqttmux_fd changed across the reconnect");
	put_nums(&S[0], 150, 200);
	dispatch_until(c, &s.n, 200);
	expect_stream(&s, 200);
	cr_expect_eq(s.ev[MQTTMUX_EV_SESSION_ADDED] + s.ev[MQTTMUX_EV_SESSION_REMOVED], 0,
		     "same sessions: no added/removed");
	cr_expect_eq(mqttmux_route_stop(r), 0, "the new router knows the route");
	mqttmux_close(c);
}

/* The poll loop of an application: mqttmux_fd wakes it for the reconnect too. */
static void poll_until(struct mqttmux *c, const int *what, int want)
{
	int64_t end = mm_time_mono_ms() + WAIT_MS;
	struct pollfd p = { .fd = mqttmux_fd(c), .events = POLLIN };

	cr_assert_geq(mqttmux_dispatch(c, 0), 0);
	while (*what < want && mm_time_mono_ms() < end)
		if (poll(&p, 1, 100) == 1)
			cr_assert_geq(mqttmux_dispatch(c, 0), 0);
	cr_assert_geq(*what, want, "waited %d ms for %d, have %d", WAIT_MS, want, *what);
}

Test(reconnect, new_router_with_other_sessions_reports_added_and_removed)
{
	static const char *const before[] = { "a", "b" }, *const after[] = { "a", "c" };
	static const int idx_before[] = { 0, 1 }, idx_after[] = { 0, 2 };
	static struct seen s;
	struct mqttmux *c;
	int err = 0;

	start_router(before, idx_before, 2);
	c = mqttmux_open(Run, &err);
	cr_assert_not_null(c, "open: %s", strerror(-err));
	cr_assert_gt(mqttmux_on_event(c, MQTTMUX_EV_ALL, NULL, on_event, &s), 0);
	cr_assert_not_null(mqttmux_handle_to(c, "b", "t/#", on_msg, &s));
	cr_assert_not_null(mqttmux_handle(c, "t/#", on_msg, &s));
	/*
	 * The baseline sessions list is in: open asked for it before the ROUTE_ADDs, and the
	 * router answers in order, so its SESSIONS came before the first ROUTE_ACK.
	 */
	router_stop(SIGKILL);
	start_router(after, idx_after, 2);
	poll_until(c, &s.ev[MQTTMUX_EV_SESSION_REMOVED], 1);
	cr_expect_eq(s.ev[MQTTMUX_EV_ROUTER_RECONNECTED], 1);
	cr_expect_str_eq(s.removed, "b");
	cr_expect_eq(s.ev[MQTTMUX_EV_SESSION_ADDED], 1);
	cr_expect_str_eq(s.added, "c");
	/* the route on every session came back; the one on b waits for b */
	put_nums(&S[2], 0, 3);
	poll_until(c, &s.n, 3);
	expect_stream(&s, 3);
	mqttmux_close(c);
}

/* ---- the real daemon, worker and broker ---- */

/* The pid of the router mqttmuxd started last, from its "router [PID] ready" log line. */
static pid_t router_pid(void)
{
	char line[1024];
	FILE *f = fopen(Log, "re");
	long pid = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "router [");

		if (p && strstr(p, "] ready"))
			pid = strtol(p + 8, NULL, 10);
	}
	fclose(f);
	return (pid_t)pid;
}

static bool router_restarted(void *ud)
{
	pid_t pid = router_pid();

	return pid > 0 && pid != *(pid_t *)ud;
}

static bool router_up(void *ud)
{
	(void)ud;
	return router_pid() > 0;
}

/* The daemon's config: session a, and session b with in-ring <b_ring> bytes if non-zero. */
static void write_daemon_config(unsigned b_ring)
{
	char *text, b[256] = "";

	if (b_ring)
		snprintf(b, sizeof(b),
			 ", { name = \"b\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			 " client_id = \"rc-b\"; performance = { ring_size = %u; }; }",
			 B.port, b_ring);
	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			      "clients = { ring_size = 1048576; };\n"
			      "sessions = ( { name = \"a\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"rc-a\"; }%s );\n",
			      Run, Dir, B.port, b),
		     0);
	if (!Cfg)
		cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	t_write_text(Cfg, text);
	free(text);
}

static void start_daemon_with(unsigned b_ring)
{
	char *reply;

	cr_assert_eq(t_broker_start(&B, NULL), 0);
	write_daemon_config(b_ring);
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, MQTTMUX_ROUTER_PATH,
				NULL);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, WAIT_MS), "control socket never answered");
	reply = t_ctl_command(Sock, "wait * 20\n");
	cr_assert(reply && strstr(reply, "\"ready\":true"), "session not ready: %s",
		  reply ? reply : "(no reply)");
	free(reply);
	cr_assert(t_wait_for(router_up, NULL, WAIT_MS), "the router never became ready");
}

static void start_daemon(void)
{
	start_daemon_with(0);
}

static struct mosquitto *publisher(void)
{
	struct mosquitto *m = mosquitto_new(NULL, true, NULL);

	cr_assert_not_null(m);
	cr_assert(t_mosq_connect(m, "127.0.0.1", B.port, 30, 30000), "publisher: no CONNACK");
	cr_assert_eq(mosquitto_loop_start(m), MOSQ_ERR_SUCCESS);
	return m;
}

/*
 * ROUTE_ACK does not wait for the broker's SUBACK: publish t/warm until one comes back, so
 * that the worker's subscription is in place before the stream starts.
 */
static void warm_up(struct mqttmux *c, struct mosquitto *m, struct seen *s)
{
	for (int i = 0; i < WAIT_MS / 100 && !s->warm; i++) {
		cr_assert_eq(mosquitto_publish(m, NULL, "t/warm", 1, "w", 1, false),
			     MOSQ_ERR_SUCCESS);
		for (int k = 0; k < 5 && !s->warm; k++)
			cr_assert_geq(mqttmux_dispatch(c, 20), 0);
	}
	cr_assert(s->warm, "the route never received anything");
}

/*
 * NOTE (exact no-loss): this is the assertion that depends on the router's half of the
 * protocol (REJOINED wait, DELIVER seq). It must hold with the router of commit 25c93d2 on.
 */
Test(reconnect, stream_through_router_kill9_arrives_exactly_once_in_order)
{
	static struct seen s;
	struct mosquitto *m;
	struct mqttmux *c;
	pid_t old;
	int err = 0;

	start_daemon();
	c = mqttmux_open(Run, &err);
	cr_assert_not_null(c, "open: %s", strerror(-err));
	cr_assert_gt(mqttmux_on_event(c, MQTTMUX_EV_ALL, NULL, on_event, &s), 0);
	cr_assert_not_null(mqttmux_handle(c, "t/#", on_msg, &s));
	old = router_pid();
	cr_assert_gt(old, 0, "no router pid in %s", Log);
	m = publisher();
	warm_up(c, m, &s);
	for (int i = 0; i < NMSG; i++) {
		char buf[16];
		int len = snprintf(buf, sizeof(buf), "%d", i);

		cr_assert_eq(mosquitto_publish(m, NULL, "t/n", len, buf, 1, false),
			     MOSQ_ERR_SUCCESS);
		if (i == NMSG / 3) {
			dispatch_until(c, &s.n, 1);
			cr_assert_eq(kill(old, SIGKILL), 0);
		}
		cr_assert_geq(mqttmux_dispatch(c, 0), 0);
	}
	(void)dispatch_wait(c, &s.n, NMSG);
	expect_stream(&s, NMSG);
	cr_expect(t_wait_for(router_restarted, &old, WAIT_MS), "the router was not restarted");
	cr_expect_geq(s.ev[MQTTMUX_EV_ROUTER_RECONNECTED], 1);
	for (int i = 0; i < 10; i++) /* a duplicate would come now: nothing is left to wait for */
		cr_assert_geq(mqttmux_dispatch(c, 20), 0);
	expect_stream(&s, NMSG);
	mosquitto_loop_stop(m, true);
	mosquitto_destroy(m);
	mqttmux_close(c);
}

/* Session a: a real worker on a real broker (t_worker.c); session b: fake. Same rings again. */
static void start_real_router(const char *url)
{
	static const char *const names[] = { "a", "b" };
	int fds[2][MM_FD_SESS_N];

	if (!Cfg) {
		write_config(names, 2, url);
		cr_assert_eq(t_worker_init(&W, Cfg, "a", 1u << 20), 0);
		t_make_session(&S[1]);
		cr_assert_eq(t_worker_spawn(&W), 0);
	}
	memcpy(fds[0], &W.fds[MM_FD_WRK_IN_RING], sizeof(fds[0]));
	memcpy(fds[1], S[1].fds, sizeof(fds[1]));
	t_router_start(MQTTMUX_ROUTER_PATH, Dir, Cfg, fds, 2, &Router, &Chan);
}

Test(reconnect, publish_to_waits_for_the_new_router_real_worker)
{
	static struct seen s;
	struct mosquitto *m;
	struct mqttmux *c;
	char *url;
	int err = 0, rc;

	cr_assert_eq(t_broker_start(&B, NULL), 0);
	cr_assert_gt(asprintf(&url, "tcp://127.0.0.1:%d", B.port), 0);
	start_real_router(url);
	free(url);
	c = mqttmux_open(Run, &err);
	cr_assert_not_null(c, "open: %s", strerror(-err));
	cr_assert_gt(mqttmux_on_event(c, MQTTMUX_EV_ALL, NULL, on_event, &s), 0);
	cr_assert_not_null(mqttmux_handle_to(c, "a", "t/#", on_msg, &s));
	m = publisher();
	warm_up(c, m, &s);
	router_stop(SIGKILL);
	start_real_router(NULL);
	/* the client has not noticed yet: the publish finds the loss, reconnects, then sends */
	rc = mqttmux_publish_to(c, "a", "t/n", "0", 1, 1, false, WAIT_MS);
	cr_assert_eq(rc, 0, "publish_to across the restart: %s", strerror(-rc));
	cr_expect_eq(s.ev[MQTTMUX_EV_ROUTER_DISCONNECTED], 1);
	cr_expect_eq(s.ev[MQTTMUX_EV_ROUTER_RECONNECTED], 1);
	/* the route came back with the worker's subscription: our own message returns */
	dispatch_until(c, &s.n, 1);
	expect_stream(&s, 1);
	mosquitto_loop_stop(m, true);
	mosquitto_destroy(m);
	mqttmux_close(c);
}

/* The router restarts after every add: open once one takes the registration. */
static bool opened(void *ud)
{
	struct mqttmux **c = ud;

	*c = mqttmux_open(Run, NULL);
	return *c != NULL;
}

/* Session b's worker pid from status, or 0. */
static long b_pid(void)
{
	char *r = t_ctl_command(Sock, "status\n");
	const char *p = r ? strstr(r, "\"name\":\"b\"") : NULL;
	long pid = 0;

	p = p ? strstr(p, "\"pid\":") : NULL;
	if (p)
		pid = strtol(p + 6, NULL, 10);
	free(r);
	return pid;
}

/* Session b's messages_received from status (t/n messages only once warm-up is over). */
static long b_received(void)
{
	char *r = t_ctl_command(Sock, "status\n");
	const char *p = r ? strstr(r, "\"name\":\"b\"") : NULL;
	long n = -1;

	p = p ? strstr(p, "\"messages_received\":") : NULL;
	if (p)
		n = strtol(p + 20, NULL, 10);
	free(r);
	return n;
}

struct b_check {
	struct mqttmux *c;
	struct seen *s;
};

static bool b_all_delivered(void *ud)
{
	struct b_check *b = ud;

	(void)mqttmux_dispatch(b->c, 20);
	return b_received() == b->s->n;
}

static bool b_restarted(void *ud)
{
	long pid = b_pid();

	return pid > 0 && pid != *(long *)ud;
}

/*
 * A reload that changes a session's ring_size gives it a new in-ring while clients keep its
 * name. The new ring's positions (the DELIVER seq that a client uses to drop what a restarted
 * router repeats) must not start below what the client already saw of that session, or the
 * client would drop its messages silently.
 */
Test(reconnect, session_with_a_new_in_ring_after_reload_still_delivers)
{
	static struct seen s;
	struct mosquitto *m;
	struct mqttmux *c = NULL;
	long old;
	char *r;

	start_daemon_with(1u << 20);
	cr_assert(t_wait_for(opened, &c, WAIT_MS), "no router to open");
	cr_assert_not_null(mqttmux_handle_to(c, "b", "t/#", on_msg, &s));
	m = publisher();
	warm_up(c, m, &s);
	for (int i = 0; i < 50; i++) /* advance b's positions well past a new ring's start */
		cr_assert_eq(mosquitto_publish(m, NULL, "t/warm", 1, "w", 1, false),
			     MOSQ_ERR_SUCCESS);
	dispatch_until(c, &s.warm, 51);
	old = b_pid();
	cr_assert_gt(old, 0, "no pid for b");
	write_daemon_config(1u << 21);
	r = t_ctl_command(Sock, "reload\n");
	cr_assert(r && strstr(r, "\"ok\":true"), "reload: %s", r ? r : "(no reply)");
	free(r);
	cr_assert(t_wait_for(b_restarted, &old, WAIT_MS), "b was not restarted by the reload");
	r = t_ctl_command(Sock, "wait b 20\n");
	cr_assert(r && strstr(r, "\"ready\":true"), "b not ready again: %s", r ? r : "(no reply)");
	free(r);
	/*
	 * The client re-adds its route to b by itself. Publish until messages come through, then
	 * every message b's new in-ring took (its counters start afresh with it) must reach us.
	 */
	for (int i = 0; s.n < 10 && i < WAIT_MS / 20; i++) {
		char buf[16];
		int len = snprintf(buf, sizeof(buf), "%d", i);

		cr_assert_eq(mosquitto_publish(m, NULL, "t/n", len, buf, 1, false),
			     MOSQ_ERR_SUCCESS);
		cr_assert_geq(mqttmux_dispatch(c, 20), 0);
	}
	cr_assert_geq(s.n, 10, "nothing came through b's new ring");
	cr_assert(t_wait_for(b_all_delivered, &(struct b_check){ c, &s }, WAIT_MS),
		  "b's new ring took %ld messages, the client got %d", b_received(), s.n);
	mosquitto_loop_stop(m, true);
	mosquitto_destroy(m);
	mqttmux_close(c);
}
