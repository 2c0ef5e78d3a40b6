/* SPDX-License-Identifier: MIT */
/*
 * Live sessions (docs/router.md, "Live sessions"), with the real mqttmuxd, workers and router
 * on a mosquitto broker on loopback, MQTT 3.1.1 and 5:
 *
 * - a QoS 1 stream of LIVE_MSGS messages (10,000 unless MQTTMUX_LIVE_MSGS says otherwise) at
 *   1,000 msg/s on session "a", while 5 sessions are added and 4 removed on the control
 *   socket: "a" loses none, gets none twice, its client is never disconnected and the router
 *   keeps its pid; the same through SIGHUP reloads of a config that changes session "b" (whose
 *   worker alone restarts);
 * - 100 sessions added at run time, their `add` commands sent at once on one connection, are
 *   all ready; the time it took is printed (the figure and its method are in bench/RESULTS.md).
 *
 * test_parse_once.c has the other half of issue 11: garbage on disk, secrets.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <mosquitto.h>

#include "mm_time.h"
#include "mqttmux.h"
#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"
#include "t_mosq.h"

#define WAIT_MS	  30000
#define RATE	  1000 /* messages per second */
#define MAX_MSGS  100000
#define N_ADD	  5
#define N_REMOVE  4
#define N_RELOADS 3

static char *Dir, *Run, *Cfg, *Log, *Sock;
static pid_t Daemon;
static struct t_broker B;

static void setup(void)
{
	t_daemon_setup("live", &Dir, &Log, &Run, &Sock);
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
}

static void teardown(void)
{
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	t_daemon_free_paths((char **const[]){ &Dir, &Log, &Run, &Sock, &Cfg, NULL });
}

TestSuite(live, .init = setup, .fini = teardown, .timeout = 240);

/* How many messages the stream tests send: LIVE_MSGS (10,000) or $MQTTMUX_LIVE_MSGS. */
static int stream_len(void)
{
	const char *e = getenv("MQTTMUX_LIVE_MSGS");
	int n = e && *e ? atoi(e) : 10000;

	return n < 100 ? 100 : n > MAX_MSGS ? MAX_MSGS : n;
}

/* One session block: <name> on the test broker with <proto> and <extra> members. */
static char *session_block(const char *name, const char *proto, const char *extra)
{
	char *s;

	cr_assert_gt(asprintf(&s,
			      "{ name = \"%s\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"live-%s\"; protocol = \"%s\"; %s }",
			      name, B.port, name, proto, extra ? extra : ""),
		     0);
	return s;
}

/* The config: session "a", and "b" with <b_extra> when not NULL. */
static void write_config(const char *proto, const char *b_extra)
{
	char *a = session_block("a", proto, NULL), *b = NULL, *text;

	if (b_extra)
		b = session_block("b", proto, b_extra);
	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			      "restart = { initial = 0.05; };\n"
			      "sessions = ( %s%s%s );\n",
			      Run, Dir, a, b ? ", " : "", b ? b : ""),
		     0);
	t_write_text(Cfg, text);
	free(text);
	free(a);
	free(b);
}

/* A command on the control socket that must succeed. */
static void ctl_ok(const char *line)
{
	t_ctl_ok(Sock, line, 5000);
}

static void start_daemon(void)
{
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, MQTTMUX_ROUTER_PATH,
				NULL);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, WAIT_MS), "control socket never answered");
	t_ctl_ok(Sock, "wait * 20\n", WAIT_MS);
}

/* What the client saw. */
struct seen {
	int n, warm;
	int *nums;
	int ev[_MQTTMUX_EV_MAX];
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
	if (s->n < 2 * MAX_MSGS)
		s->nums[s->n++] = atoi(buf);
}

static void on_event(struct mqttmux *c, const struct mqttmux_event *ev, void *ud)
{
	struct seen *s = ud;

	(void)c;
	if (ev->type >= 0 && ev->type < _MQTTMUX_EV_MAX)
		s->ev[ev->type]++;
}

static struct mosquitto *publisher(void)
{
	struct mosquitto *m = mosquitto_new(NULL, true, NULL);

	cr_assert_not_null(m);
	/* CONNACK first: libmosquitto re-sends what is in flight on it (t_mosq.h) */
	cr_assert(t_mosq_connect(m, "127.0.0.1", B.port, 30, WAIT_MS));
	cr_assert_eq(mosquitto_loop_start(m), MOSQ_ERR_SUCCESS);
	return m;
}

/* ROUTE_ACK does not wait for SUBACK: publish t/warm until one comes back. */
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

/* Something the stream test does to the daemon at step <k> of 0..steps-1. */
typedef void step_fn(int k);

/*
 * Publish 0..<n>-1 on t/n at QoS 1 and RATE per second, dispatching the client all along;
 * <step>(k) runs when message n * (k + 1) / (steps + 1) is out. Then wait for the rest.
 */
static void stream(struct mqttmux *c, struct mosquitto *m, struct seen *s, int n, step_fn *step,
		   int steps)
{
	int64_t t0 = mm_time_mono_ms(), end;
	int next = 0, k = 0;

	while (next < n) {
		int64_t due = (mm_time_mono_ms() - t0) * RATE / 1000;

		for (; next < n && next <= due; next++) {
			char buf[16];
			int len = snprintf(buf, sizeof(buf), "%d", next);

			cr_assert_eq(mosquitto_publish(m, NULL, "t/n", len, buf, 1, false),
				     MOSQ_ERR_SUCCESS);
			if (k < steps && next == (int)((int64_t)n * (k + 1) / (steps + 1)))
				step(k++);
		}
		cr_assert_geq(mqttmux_dispatch(c, 1), 0);
	}
	end = mm_time_mono_ms() + WAIT_MS;
	while (s->n < n && mm_time_mono_ms() < end)
		cr_assert_geq(mqttmux_dispatch(c, 20), 0);
	for (int i = 0; i < 10; i++) /* a duplicate would show up now */
		cr_assert_geq(mqttmux_dispatch(c, 10), 0);
}

/* Every number 0..<n>-1 exactly once, in order. */
static void expect_stream(const struct seen *s, int n)
{
	int lost = 0, dups = 0, prev = -1;

	for (int i = 0; i < s->n; i++) {
		if (s->nums[i] <= prev)
			dups++;
		else
			lost += s->nums[i] - prev - 1;
		if (s->nums[i] > prev)
			prev = s->nums[i];
	}
	lost += n - 1 - prev;
	cr_log_info("stream of %d: %d received, %d lost, %d duplicated", n, s->n, lost, dups);
	cr_expect_eq(lost, 0, "%d of %d messages lost", lost, n);
	cr_expect_eq(dups, 0, "%d messages duplicated", dups);
	cr_expect_eq(s->ev[MQTTMUX_EV_ROUTER_DISCONNECTED], 0, "the client was disconnected");
	cr_expect_eq(s->ev[MQTTMUX_EV_CLIENT_GAP], 0, "the client was told of a gap");
}

/* A client on session "a" only, warmed up; s->nums allocated. */
static struct mqttmux *client_on_a(struct seen *s, struct mosquitto *m)
{
	struct mqttmux *c;
	int err = 0;

	memset(s, 0, sizeof(*s));
	s->nums = calloc(2 * MAX_MSGS, sizeof(int));
	cr_assert_not_null(s->nums);
	c = mqttmux_open(Run, &err);
	cr_assert_not_null(c, "open: %s", strerror(-err));
	cr_assert_gt(mqttmux_on_event(c, MQTTMUX_EV_ALL, NULL, on_event, s), 0);
	cr_assert_not_null(mqttmux_handle_to(c, "a", "t/#", on_msg, s));
	warm_up(c, m, s);
	return c;
}

static const char *Proto; /* of the running test: "3.1.1" or "5" */

/* Session file "<name>.cfg" in Dir for session <name>: the `add` line naming it. */
static void session_file(const char *name, const char *proto, char *line, size_t size)
{
	char *path, *block = session_block(name, proto, NULL), *text;

	cr_assert_gt(asprintf(&path, "%s/%s.cfg", Dir, name), 0);
	cr_assert_gt(asprintf(&text, "session = %s;\n", block), 0);
	t_write_text(path, text);
	snprintf(line, size, "add %s\n", path);
	free(path);
	free(block);
	free(text);
}

/* `add` a session file holding session <name> with <proto>. */
static void add_session(const char *name, const char *proto)
{
	char line[512];

	session_file(name, proto, line, sizeof(line));
	ctl_ok(line);
}

/* Steps 0..4 add s1..s5, steps 5..8 remove s1..s4, all on the control socket. */
static void add_remove(int k)
{
	char name[16], line[64];

	if (k >= N_ADD) {
		snprintf(line, sizeof(line), "remove s%d\n", k - N_ADD + 1);
		ctl_ok(line);
		return;
	}
	snprintf(name, sizeof(name), "s%d", k + 1);
	add_session(name, Proto);
}

/* Step k: rewrite the config with another keepalive for session "b", and SIGHUP. */
static void reload_b(int k)
{
	char extra[64];

	snprintf(extra, sizeof(extra), "keepalive = %d;", 20 + k);
	write_config(Proto, extra);
	cr_assert_eq(kill(Daemon, SIGHUP), 0);
}

static void run_stream_test(const char *proto, bool reload)
{
	static struct seen s;
	pid_t router, worker_a, worker_b = 0;
	struct mosquitto *m;
	struct mqttmux *c;
	int n = stream_len();

	Proto = proto;
	write_config(proto, reload ? "keepalive = 19;" : NULL);
	start_daemon();
	router = t_daemon_child(Daemon, NULL);
	worker_a = t_daemon_child(Daemon, "a");
	if (reload)
		worker_b = t_daemon_child(Daemon, "b");
	cr_assert(router > 0 && worker_a > 0);
	m = publisher();
	c = client_on_a(&s, m);
	if (reload)
		stream(c, m, &s, n, reload_b, N_RELOADS);
	else
		stream(c, m, &s, n, add_remove, N_ADD + N_REMOVE);
	expect_stream(&s, n);
	cr_expect_eq(t_daemon_child(Daemon, NULL), router, "the router was restarted");
	cr_expect_eq(t_daemon_child(Daemon, "a"), worker_a, "session a's worker was restarted");
	if (reload) {
		t_ctl_ok(Sock, "wait b 20\n", WAIT_MS);
		cr_expect_neq(t_daemon_child(Daemon, "b"), worker_b, "b was not restarted");
	} else {
		t_ctl_ok(Sock, "wait s5 20\n", WAIT_MS);
		cr_expect_eq(s.ev[MQTTMUX_EV_SESSION_ADDED], N_ADD);
		cr_expect_eq(s.ev[MQTTMUX_EV_SESSION_REMOVED], N_REMOVE);
	}
	mosquitto_loop_stop(m, true);
	mosquitto_destroy(m);
	mqttmux_close(c);
	free(s.nums);
	t_daemon_stop(&Daemon);
}

static const char *const Protos[] = { "3.1.1", "5" };

/* Parameters are indexes: criterion hands them to a new process, pointers would dangle. */
ParameterizedTestParameters(live, qos1_stream_on_a_through_5_adds_and_4_removes)
{
	static int protos[] = { 0, 1 };

	return cr_make_param_array(int, protos, 2);
}

ParameterizedTest(int *proto, live, qos1_stream_on_a_through_5_adds_and_4_removes)
{
	run_stream_test(Protos[*proto], false);
}

ParameterizedTestParameters(live, qos1_stream_on_a_through_sighup_reloads_that_change_b)
{
	static int protos[] = { 0, 1 };

	return cr_make_param_array(int, protos, 2);
}

ParameterizedTest(int *proto, live, qos1_stream_on_a_through_sighup_reloads_that_change_b)
{
	run_stream_test(Protos[*proto], true);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define N_MANY 25 /* 100 sanitized workers would take GBs of a shared CI box */
#else
#define N_MANY 100
#endif

/* CPU time <pid> used so far, ms (its CPU clock), or -1. */
static double cpu_ms(pid_t pid)
{
	struct timespec ts;
	clockid_t id;

	if (clock_getcpuclockid(pid, &id) != 0 || clock_gettime(id, &ts) != 0)
		return -1;
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The load average over the last minute (the figure's context), or -1. */
static double load1(void)
{
	double l;

	return getloadavg(&l, 1) == 1 ? l : -1;
}

/*
 * N_MANY `add` commands sent at once on one connection, as a script piping them to the
 * control socket does: every reply is ok (each answered once its state file is durable), then
 * every session becomes ready. The daemon syncs the state files of each loop turn's commands
 * together (supervisor/sup_journal.c): the time is printed, figures in bench/RESULTS.md.
 */
Test(live, sessions_added_at_run_time_are_all_ready)
{
	const char *e = getenv("MQTTMUX_LIVE_ADD_ONE_BY_ONE");
	bool one_by_one = e && *e == '1';
	int64_t t0, tadd, t1;
	double cpu0;
	int fd;

	write_config("5", NULL);
	start_daemon();
	cpu0 = cpu_ms(Daemon);
	fd = t_ctl_connect(Sock);
	cr_assert_geq(fd, 0);
	t0 = mm_time_mono_ms();
	for (int i = 0; i < N_MANY; i++) {
		char name[16], line[512];

		snprintf(name, sizeof(name), "m%03d", i);
		session_file(name, "5", line, sizeof(line));
		t_ctl_send(fd, line);
		/* For comparison: each add on its own (its own loop turn, its own sync). */
		if (one_by_one)
			cr_assert_eq(t_ctl_read_oks(fd, 1, 60000), 1);
	}
	if (!one_by_one)
		cr_assert_eq(t_ctl_read_oks(fd, N_MANY, 60000), N_MANY);
	tadd = mm_time_mono_ms();
	close(fd);
	t_ctl_ok(Sock, "wait * 60\n", 70000);
	t1 = mm_time_mono_ms();
	cr_log_info("%d sessions added at run time%s: added after %lld ms, all ready after %lld ms;"
		    " mqttmuxd CPU %.1f ms; load average %.1f",
		    N_MANY, one_by_one ? " one by one" : "", (long long)(tadd - t0),
		    (long long)(t1 - t0), cpu_ms(Daemon) - cpu0, load1());
	t_daemon_stop(&Daemon);
}
