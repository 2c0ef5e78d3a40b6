/* SPDX-License-Identifier: MIT */
/*
 * End-to-end acceptance (issue #4): the real mqttmuxd with its real workers and router, a real
 * mosquitto broker, a plain libmosquitto publisher and several client processes (forked from
 * the test) using libmqttmux. Each client writes what it received, route by route, into a file
 * that the test compares with what its routes should have matched, computed from the filters
 * with mosquitto_topic_matches_sub: exactly those messages, each once, in order per session.
 * The `mqttmux pub` / `mqttmux sub` round trip is already covered by test_client.c. Client
 * processes are in t_e2e_client.c.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "mqttmux.h"
#include "t_daemon.h"
#include "t_e2e.h"
#include "t_helpers.h"
#include "t_mosq.h"

#define BROKER_CONF "max_inflight_messages 0\nmax_queued_messages 0\n"
#define WAIT_MS	    20000
#define MAX_CL	    4

static struct t_broker B;
static char *Dir, *Log, *Run, *Sock, *Cfg;
static pid_t Daemon, Kids[MAX_CL];

static void setup(void)
{
	struct t_broker_opts o = { .extra_conf = BROKER_CONF };

	t_daemon_setup("e2e", &Dir, &Log, &Run, NULL);
	cr_assert_gt(asprintf(&Sock, "%s/control.sock", Run), 0);
	mosquitto_lib_init();
	cr_assert_eq(t_broker_start(&B, &o), 0);
}

static void teardown(void)
{
	for (int i = 0; i < MAX_CL; i++) {
		if (Kids[i] > 0) {
			kill(Kids[i], SIGCONT);
			kill(Kids[i], SIGKILL);
			waitpid(Kids[i], NULL, 0);
		}
		Kids[i] = 0;
	}
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	free(Dir);
	free(Log);
	free(Run);
	free(Sock);
	free(Cfg);
	Dir = Log = Run = Sock = Cfg = NULL;
	mosquitto_lib_cleanup();
}

TestSuite(e2e, .init = setup, .fini = teardown, .timeout = 120);

/* ---- the daemon ---- */

/* mqttmuxd with sessions s1 and s2 on the same broker, every client ring <ring> bytes. */
static void spawn_daemon(unsigned ring, const char *router)
{
	char *text;

	cr_assert_gt(
		asprintf(
			&text,
			"runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			"clients = { ring_size = %u; };\n"
			"sessions = (\n"
			"  { name = \"s1\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			" client_id = \"e2e-s1\"; performance = { max_message_size = 4096; }; },\n"
			"  { name = \"s2\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			" client_id = \"e2e-s2\"; performance = { max_message_size = 4096; }; }\n);\n",
			Run, Dir, ring, B.port, B.port),
		0);
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	t_write_text(Cfg, text);
	free(text);
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, router, NULL);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, WAIT_MS), "control socket never answered");
}

/* The same, once both sessions and the router are ready. */
static void start_daemon(unsigned ring)
{
	char *reply;

	spawn_daemon(ring, MQTTMUX_ROUTER_PATH);
	reply = t_ctl_command(Sock, "wait * 20\n");
	cr_assert(reply && strstr(reply, "\"ready\":true"), "sessions not ready: %s",
		  reply ? reply : "(no reply)");
	free(reply);
}

/* ---- the publisher: plain libmosquitto, QoS 1, its own network thread ---- */

struct pub {
	struct mosquitto *m;
	atomic_int acked;
	int sent;
};

static void pub_acked(struct mosquitto *m, void *ud, int mid)
{
	(void)m;
	(void)mid;
	atomic_fetch_add(&((struct pub *)ud)->acked, 1);
}

static void pub_open(struct pub *p)
{
	p->sent = 0;
	atomic_store(&p->acked, 0);
	p->m = mosquitto_new(NULL, true, p);
	cr_assert_not_null(p->m);
	mosquitto_publish_callback_set(p->m, pub_acked);
	(void)mosquitto_max_inflight_messages_set(p->m, 0);
	cr_assert(t_mosq_connect(p->m, B.host, B.port, 30, 30000), "publisher: no CONNACK");
	cr_assert_eq(mosquitto_loop_start(p->m), MOSQ_ERR_SUCCESS);
}

static void pub_one(struct pub *p, const char *topic, int seq)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%d", seq);

	cr_assert_eq(mosquitto_publish(p->m, NULL, topic, len, buf, 1, false), MOSQ_ERR_SUCCESS,
		     "publish %s #%d", topic, seq);
	p->sent++;
}

static bool pub_all_acked(void *ud)
{
	struct pub *p = ud;

	return atomic_load(&p->acked) >= p->sent;
}

static void pub_close(struct pub *p)
{
	cr_expect(t_wait_for(pub_all_acked, p, WAIT_MS), "broker acked %d of %d",
		  atomic_load(&p->acked), p->sent);
	mosquitto_disconnect(p->m);
	mosquitto_loop_stop(p->m, false);
	mosquitto_destroy(p->m);
	p->m = NULL;
}

/* ---- clients ---- */

struct probe {
	struct mqttmux *c;
	struct pub *p;
	bool seen[2];
};

static void on_probe(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	struct probe *pr = ud;

	(void)r;
	if (m->session_idx < 2)
		pr->seen[m->session_idx] = true;
}

static bool probe_seen(void *ud)
{
	struct probe *pr = ud;

	pub_one(pr->p, T_E2E_PROBE, 0);
	(void)mqttmux_dispatch(pr->c, 50);
	return pr->seen[0] && pr->seen[1];
}

/*
 * Every route of the clients is in the router (their ROUTE_ACKs came back), but the workers'
 * SUBSCRIBEs may still be on their way. A route added now sends its SUBSCRIBE after all of
 * theirs on each session's connection, and the broker handles one connection's packets in
 * order: once a probe comes back through both sessions, every filter is subscribed.
 */
static void wait_subscribed(struct pub *p)
{
	struct probe pr = { .p = p };
	int err = 0;

	pr.c = mqttmux_open(Run, &err);
	cr_assert_not_null(pr.c, "mqttmux_open: %s", strerror(-err));
	cr_assert_not_null(mqttmux_handle(pr.c, T_E2E_PROBE, on_probe, &pr));
	cr_assert(t_wait_for(probe_seen, &pr, WAIT_MS), "probe never came back (s1 %d, s2 %d)",
		  pr.seen[0], pr.seen[1]);
	mqttmux_close(pr.c);
}

/* Fork the clients of <specs>, each writing to <Dir>/client-<i>.txt; wait until all are ready. */
static void start_clients(const struct t_e2e_client *specs, int n)
{
	int pfd[2];

	cr_assert_eq(pipe(pfd), 0);
	for (int i = 0; i < n; i++) {
		char path[512];

		snprintf(path, sizeof(path), "%s/client-%d.txt", Dir, i);
		Kids[i] = fork();
		cr_assert_neq(Kids[i], -1);
		if (Kids[i] == 0) {
			close(pfd[0]);
			_exit(t_e2e_client_run(&specs[i], Run, path, pfd[1]));
		}
	}
	close(pfd[1]);
	for (int i = 0; i < n; i++) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		char c;

		cr_assert_eq(poll(&p, 1, WAIT_MS), 1, "%d of %d clients ready", i, n);
		cr_assert_eq(read(pfd[0], &c, 1), 1, "a client died before it was ready");
	}
	close(pfd[0]);
}

static void reap_clients(int n)
{
	for (int i = 0; i < n; i++) {
		int st;

		cr_assert_eq(waitpid(Kids[i], &st, 0), Kids[i]);
		Kids[i] = 0;
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client %d: wait status %#x", i,
			  st);
	}
}

static struct t_e2e_log *load_log(int i)
{
	char path[512];
	struct t_e2e_log *l;

	snprintf(path, sizeof(path), "%s/client-%d.txt", Dir, i);
	l = t_e2e_log_load(path);
	cr_assert_not_null(l, "%s: unreadable or malformed", path);
	return l;
}

/* ---- 1: overlapping routes, three clients ---- */

static const char *const Topics[] = { "a/b/c", "a/x", "x/b/y", "x/b", "z", "a/b", "q/b/r/s" };
#define NTOPICS ((int)(sizeof(Topics) / sizeof(Topics[0])))
#define NMSG	(NTOPICS * 40)

static const char *topic_of(int seq)
{
	return seq == NMSG ? T_E2E_END : Topics[seq % NTOPICS];
}

/*
 * Compare route <ri> of client <ci> on session <s> with what its filter matches among the
 * messages 0..NMSG (NMSG is the end marker): the same seqs, in the same order, topics right.
 */
static void expect_route(const struct t_e2e_client *spec, const struct t_e2e_log *l, int ci, int ri,
			 int s)
{
	const struct t_e2e_route *r = &spec->routes[ri];
	int want = 0, got = 0;

	if (r->session && strcmp(r->session, T_E2E_SESSION[s]))
		want = -1;
	for (int seq = 0; want >= 0 && seq <= NMSG; seq++) {
		bool match = false;

		cr_assert_eq(mosquitto_topic_matches_sub(r->filter, topic_of(seq), &match), 0);
		if (!match)
			continue;
		while (got < l->n && (l->rec[got].route != ri || l->rec[got].session != s))
			got++;
		cr_assert_lt(got, l->n, "client %d route %d (%s) on %s: #%d (%s) missing", ci, ri,
			     r->filter, T_E2E_SESSION[s], seq, topic_of(seq));
		cr_assert_eq(l->rec[got].seq, seq,
			     "client %d route %d (%s) on %s: got #%d where #%d (%s) was due", ci,
			     ri, r->filter, T_E2E_SESSION[s], l->rec[got].seq, seq, topic_of(seq));
		cr_assert_str_eq(l->rec[got].topic, topic_of(seq));
		got++;
	}
	for (got = want < 0 ? 0 : got; got < l->n; got++)
		cr_assert(l->rec[got].route != ri || l->rec[got].session != s,
			  "client %d route %d (%s) on %s: unexpected #%d (%s)", ci, ri, r->filter,
			  T_E2E_SESSION[s], l->rec[got].seq, l->rec[got].topic);
}

Test(e2e, overlapping_routes_three_clients_exact)
{
	static const struct t_e2e_client specs[] = {
		{ .nroutes = 3,
		  .routes = { { NULL, "a/#", T_E2E_HANDLE },
			      { "s1", "a/b/+", T_E2E_HANDLE },
			      { NULL, T_E2E_END, T_E2E_HANDLE } } },
		{ .nroutes = 2,
		  .routes = { { NULL, "+/b/#", T_E2E_LISTEN },
			      { NULL, T_E2E_END, T_E2E_HANDLE } } },
		{ .nroutes = 3,
		  .routes = { { "s2", "#", T_E2E_HANDLE },
			      { "s1", "x/b", T_E2E_LISTEN },
			      { NULL, T_E2E_END, T_E2E_HANDLE } } },
	};
	struct pub p;

	start_daemon(1u << 20);
	start_clients(specs, 3);
	pub_open(&p);
	wait_subscribed(&p);
	for (int seq = 0; seq <= NMSG; seq++)
		pub_one(&p, topic_of(seq), seq);
	pub_close(&p);
	reap_clients(3);
	for (int ci = 0; ci < 3; ci++) {
		struct t_e2e_log *l = load_log(ci);

		cr_expect_eq(l->lost, 0, "client %d lost %llu", ci, (unsigned long long)l->lost);
		cr_expect_eq(l->dropped, 0, "client %d: listen queues dropped %llu", ci,
			     (unsigned long long)l->dropped);
		for (int ri = 0; ri < specs[ci].nroutes; ri++)
			for (int s = 0; s < 2; s++)
				expect_route(&specs[ci], l, ci, ri, s);
		t_e2e_log_free(l);
	}
	t_daemon_stop(&Daemon);
}

/* ---- 2: one of four clients stopped for 10 s ---- */

#define SLOW_RATE 200 /* messages per second */

/* Publish seqs [*seq, *seq + SLOW_RATE * ms / 1000) on T_E2E_STREAM, paced at SLOW_RATE. */
static void stream(struct pub *p, int *seq, int ms)
{
	struct timespec t;
	int end = *seq + SLOW_RATE * ms / 1000;

	cr_assert_eq(clock_gettime(CLOCK_MONOTONIC, &t), 0);
	for (; *seq < end; (*seq)++) {
		pub_one(p, T_E2E_STREAM, *seq);
		t.tv_nsec += 1000000000L / SLOW_RATE;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_nsec -= 1000000000L;
			t.tv_sec++;
		}
		(void)clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
	}
}

/* Route 0, session s1 of <l>: seqs strictly increasing, all below <n>; how many. */
static int count_stream(const struct t_e2e_log *l, int ci, int n)
{
	int got = 0, last = -1;

	for (int i = 0; i < l->n; i++) {
		if (l->rec[i].route != 0)
			continue;
		cr_assert_eq(l->rec[i].session, 0, "client %d: stream on s2", ci);
		cr_assert_gt(l->rec[i].seq, last, "client %d: #%d after #%d", ci, l->rec[i].seq,
			     last);
		cr_assert_lt(l->rec[i].seq, n, "client %d: #%d never sent", ci, l->rec[i].seq);
		last = l->rec[i].seq;
		got++;
	}
	return got;
}

Test(e2e, stopped_client_gets_exact_gap_others_everything)
{
	static const struct t_e2e_client spec = {
		.nroutes = 2,
		.routes = { { "s1", "s/#", T_E2E_HANDLE }, { NULL, T_E2E_END, T_E2E_HANDLE } },
	};
	const struct t_e2e_client specs[4] = { spec, spec, spec, spec };
	struct pub p;
	int seq = 0;

	start_daemon(1u << 16);
	start_clients(specs, 4);
	pub_open(&p);
	wait_subscribed(&p);
	stream(&p, &seq, 1000);
	cr_assert_eq(kill(Kids[3], SIGSTOP), 0);
	stream(&p, &seq, 10000);
	cr_assert_eq(kill(Kids[3], SIGCONT), 0);
	stream(&p, &seq, 2000);
	pub_one(&p, T_E2E_END, seq);
	pub_close(&p);
	reap_clients(4);
	for (int ci = 0; ci < 4; ci++) {
		struct t_e2e_log *l = load_log(ci);
		int got = count_stream(l, ci, seq);

		if (ci < 3) {
			cr_expect_eq(got, seq, "client %d got %d of %d", ci, got, seq);
			cr_expect_eq(l->lost, 0, "client %d lost %llu", ci,
				     (unsigned long long)l->lost);
		} else {
			cr_expect_geq(l->gaps, 1, "the stopped client saw no GAP");
			cr_expect_eq(l->gap_sum, l->lost, "GAPs %llu, mqttmux_lost %llu",
				     (unsigned long long)l->gap_sum, (unsigned long long)l->lost);
			cr_expect_eq((uint64_t)got + l->gap_sum, (uint64_t)seq,
				     "stopped client: %d received + %llu lost != %d sent", got,
				     (unsigned long long)l->gap_sum, seq);
			cr_expect_lt(got, seq, "the stopped client lost nothing: ring too big?");
		}
		t_e2e_log_free(l);
	}
	t_daemon_stop(&Daemon);
}

/* ---- 3: kill -9 of the router under a steady QoS 1 stream ---- */

/* The daemon's router, or 0. */
static pid_t router_pid(void)
{
	return t_daemon_child(Daemon, NULL);
}

static bool router_replaced(void *ud)
{
	pid_t p = router_pid();

	return p > 0 && p != *(pid_t *)ud;
}

Test(e2e, router_killed_under_qos1_stream_nothing_lost_or_repeated)
{
	static const struct t_e2e_client spec[2] = {
		{ .nroutes = 2,
		  .routes = { { "s1", "s/#", T_E2E_HANDLE }, { NULL, T_E2E_END, T_E2E_HANDLE } } },
		{ .nroutes = 2,
		  .routes = { { "s1", "s/#", T_E2E_LISTEN }, { NULL, T_E2E_END, T_E2E_LISTEN } } },
	};
	struct pub p;
	pid_t old;
	int seq = 0;

	start_daemon(1u << 20);
	start_clients(spec, 2);
	pub_open(&p);
	wait_subscribed(&p);
	stream(&p, &seq, 1000);
	old = router_pid();
	cr_assert_gt(old, 0, "no router process under the daemon");
	cr_assert_eq(kill(old, SIGKILL), 0);
	stream(&p, &seq, 500);
	cr_assert(t_wait_for(router_replaced, &old, WAIT_MS), "the router was not restarted");
	stream(&p, &seq, 1500);
	pub_one(&p, T_E2E_END, seq);
	pub_close(&p);
	reap_clients(2);
	for (int ci = 0; ci < 2; ci++) {
		struct t_e2e_log *l = load_log(ci);
		int got = count_stream(l, ci, seq);

		cr_expect_eq(got, seq, "client %d got %d of %d (in order, none twice)", ci, got,
			     seq);
		cr_expect_eq(l->lost, 0, "client %d lost %llu", ci, (unsigned long long)l->lost);
		t_e2e_log_free(l);
	}
	t_daemon_stop(&Daemon);
}

/* ---- 4: `mqttmux pub --all` publishes once through every session ---- */

struct all_rx {
	atomic_int subscribed, n;
};

static void all_on_msg(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	(void)m;
	if (msg->payloadlen == 2 && !memcmp(msg->payload, "xx", 2))
		atomic_fetch_add(&((struct all_rx *)ud)->n, 1);
}

static void all_on_sub(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	(void)m;
	(void)mid;
	(void)n;
	(void)granted;
	atomic_store(&((struct all_rx *)ud)->subscribed, 1);
}

static bool all_subscribed(void *ud)
{
	return atomic_load(&((struct all_rx *)ud)->subscribed) == 1;
}

static bool all_got_two(void *ud)
{
	return atomic_load(&((struct all_rx *)ud)->n) >= 2;
}

/* A watcher on the broker: counts the "xx" publishes on all/#. */
static struct mosquitto *watch_all(struct all_rx *rx)
{
	struct mosquitto *sub = mosquitto_new(NULL, true, rx);

	cr_assert_not_null(sub);
	mosquitto_message_callback_set(sub, all_on_msg);
	mosquitto_subscribe_callback_set(sub, all_on_sub);
	cr_assert_eq(mosquitto_connect(sub, B.host, B.port, 30), MOSQ_ERR_SUCCESS);
	cr_assert_eq(mosquitto_subscribe(sub, NULL, "all/#", 1), MOSQ_ERR_SUCCESS);
	cr_assert_eq(mosquitto_loop_start(sub), MOSQ_ERR_SUCCESS);
	cr_assert(t_wait_for(all_subscribed, rx, WAIT_MS), "the watcher never subscribed");
	return sub;
}

/* `mqttmux pub --all` exits 0, and the watcher sees the message once from each session. */
static void expect_pub_all_twice(struct all_rx *rx)
{
	char out[4096], err[4096];
	struct mosquitto *sub = watch_all(rx);
	int st;

	st = t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
		   (const char *const[]){ "pub", "--all", "-t", "all/x", "-m", "xx", "-q", "1",
					  NULL });
	cr_expect_eq(st, 0, "mqttmux pub --all: exit %d: %s", st, err);
	cr_expect(t_wait_for(all_got_two, rx, WAIT_MS), "the broker got %d of 2 publishes",
		  atomic_load(&rx->n));
	mosquitto_disconnect(sub);
	mosquitto_loop_stop(sub, false);
	mosquitto_destroy(sub);
	cr_expect_eq(atomic_load(&rx->n), 2, "%d publishes for one --all", atomic_load(&rx->n));
}

/* Sessions s1 and s2 share the broker: a watcher on it sees the message once from each. */
Test(e2e, cli_pub_all_goes_out_once_per_session)
{
	static struct all_rx rx;

	start_daemon(1u << 20);
	expect_pub_all_twice(&rx);
	t_daemon_stop(&Daemon);
}

/*
 * `wait` answers ready only once the router is up too: with a router held back at its start
 * (a wrapper that execs it once a flag file exists), `wait` names the router as not ready,
 * and once it is let go `mqttmux wait` then `mqttmux pub --all` work with no retry. Before,
 * `wait` looked at the sessions only, and a pub right after it could find no router.sock.
 */
Test(e2e, wait_is_ready_only_once_the_router_is_up)
{
	static struct all_rx rx;
	char *gate, *flag, *script, *r, out[4096], err[4096];
	int st;

	cr_assert_gt(asprintf(&gate, "%s/router-gate", Dir), 0);
	cr_assert_gt(asprintf(&flag, "%s/router-go", Dir), 0);
	cr_assert_gt(
		asprintf(&script,
			 "#!/bin/sh\nwhile [ ! -e '%s' ]; do sleep 0.02; done\nexec '%s' \"$@\"\n",
			 flag, MQTTMUX_ROUTER_PATH),
		0);
	t_write_text(gate, script);
	cr_assert_eq(chmod(gate, 0755), 0);
	spawn_daemon(1u << 20, gate);
	r = t_ctl_command(Sock, "wait * 0.3\n");
	cr_expect(r && strstr(r, "\"ok\":false") && strstr(r, "router ("), "%s", r ? r : "(none)");
	free(r);
	t_write_text(flag, "");
	st = t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
		   (const char *const[]){ "wait", "-t", "20", NULL });
	cr_assert_eq(st, 0, "mqttmux wait: exit %d: %s", st, err);
	expect_pub_all_twice(&rx);
	t_daemon_stop(&Daemon);
	free(gate);
	free(flag);
	free(script);
}
