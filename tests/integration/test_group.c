/* SPDX-License-Identifier: MIT */
/*
 * Grouped workers (issue 13, workers.group_size; docs/worker.md "Grouped sessions"), against the
 * real daemon, workers, router and a real mosquitto: 6 sessions in groups of 3 run in 2 worker
 * processes; each session delivers exactly its own stream to its route; a SIGKILL of one group's
 * process restarts that group, every session of it counts the restart (and only those), the
 * other group keeps its process, and afterwards every session delivers exactly its stream
 * again. On MQTT 3.1.1 and 5. A reload that removes one member restarts that group without it
 * (and no other). meson runs the suite on both worker loop backends. The 1,000-session figures
 * are in bench/scale.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "mqttmux.h"
#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"
#include "t_mosq.h"

#define N_SESS	6
#define GROUP	3
#define N_MSGS	50 /* per session and round */
#define WAIT_MS 60000

static struct t_broker B;
static char *Dir, *Log, *Run, *Sock, *Cfg;
static pid_t Daemon;
static struct mqttmux *C;
static unsigned char Seen[N_SESS][2 * N_MSGS];
static unsigned Got[N_SESS], Foreign;
static int Idx[N_SESS];
static bool Gone[N_SESS]; /* removed by a reload: not in status, not published to */

static void setup(void)
{
	t_daemon_setup("group", &Dir, &Log, &Run, &Sock);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
}

static void teardown(void)
{
	mqttmux_close(C);
	C = NULL;
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	t_daemon_free_paths((char **const[]){ &Dir, &Log, &Run, &Sock, &Cfg, NULL });
}

TestSuite(group, .init = setup, .fini = teardown, .timeout = 300);

/* The config: sessions g0..g(N_SESS-1) in groups of GROUP, without g<skip> (-1: none). */
static void write_cfg(const char *protocol, int skip)
{
	FILE *f = fopen(Cfg, "we");

	cr_assert_not_null(f);
	fprintf(f,
		"runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
		"workers = { group_size = %d; };\nsessions = (\n",
		Run, Dir, GROUP);
	for (int i = 0, n = 0; i < N_SESS; i++)
		if (i != skip)
			fprintf(f,
				"%s  { name = \"g%d\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
				" client_id = \"group-%d\"; protocol = \"%s\";\n"
				"    subscriptions = ( { topic = \"grp/%d/#\"; qos = 1; } ); }\n",
				n++ ? "," : "", i, B.port, i, protocol, i);
	fputs(");\n", f);
	cr_assert_eq(fclose(f), 0);
}

static void start(const char *protocol)
{
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	write_cfg(protocol, -1);
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, NULL, NULL);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, 20000), "control socket never answered");
}

static long field(json_object *a, int i, const char *key)
{
	char name[16];
	json_object *row, *v;

	snprintf(name, sizeof(name), "g%d", i);
	row = t_json_row(a, name);
	cr_assert_not_null(row, "no %s in status", name);
	cr_assert(json_object_object_get_ex(row, key, &v), "no %s.%s", name, key);
	return (long)json_object_get_int64(v);
}

static bool connected(json_object *a, int i)
{
	char name[16];
	json_object *row, *v;

	snprintf(name, sizeof(name), "g%d", i);
	row = t_json_row(a, name);
	return row && json_object_object_get_ex(row, "state", &v) &&
	       !strcmp(json_object_get_string(v), "connected");
}

/* Every session's pid and restarts, from `status --json`. */
static void status(long *pid, long *restarts, bool *all_connected)
{
	json_object *a = t_status_json(MQTTMUX_CLI_PATH, Run);

	*all_connected = true;
	for (int i = 0; i < N_SESS; i++) {
		if (Gone[i]) {
			pid[i] = restarts[i] = 0;
			continue;
		}
		pid[i] = field(a, i, "pid");
		restarts[i] = field(a, i, "restarts");
		*all_connected &= connected(a, i);
	}
	json_object_put(a);
}

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	int i = *(int *)ud, from = -1, k = -1;
	char buf[16] = "";

	(void)r;
	memcpy(buf, m->payload, m->payload_len < sizeof(buf) - 1 ? m->payload_len : 0);
	if (sscanf(m->topic, "grp/%d/", &from) != 1 || from != i || sscanf(buf, "%d", &k) != 1 ||
	    k < 0 || k >= 2 * N_MSGS) {
		Foreign++;
		return;
	}
	Seen[i][k]++;
	Got[i]++;
}

static bool client_open(void *ud)
{
	(void)ud;
	C = mqttmux_open(Run, NULL);
	return C != NULL;
}

static void routes(void)
{
	cr_assert(t_wait_for(client_open, NULL, 20000), "client never connected");
	for (int i = 0; i < N_SESS; i++) {
		char name[16], filter[32];

		Idx[i] = i;
		snprintf(name, sizeof(name), "g%d", i);
		snprintf(filter, sizeof(filter), "grp/%d/#", i);
		cr_assert_not_null(mqttmux_handle_to(C, name, filter, on_msg, &Idx[i]), "route %s",
				   name);
	}
}

static void on_published(struct mosquitto *m, void *ud, int mid)
{
	(void)m;
	(void)mid;
	atomic_fetch_add((_Atomic int *)ud, 1);
}

static int live_sessions(void)
{
	int n = 0;

	for (int i = 0; i < N_SESS; i++)
		n += !Gone[i];
	return n;
}

static bool acked(void *ud)
{
	return atomic_load((_Atomic int *)ud) >= live_sessions() * N_MSGS;
}

static bool got_all(void *ud)
{
	unsigned want = *(unsigned *)ud;

	(void)mqttmux_dispatch(C, 20);
	for (int i = 0; i < N_SESS; i++)
		if (!Gone[i] && Got[i] < want)
			return false;
	return true;
}

/* Round <r>: N_MSGS QoS 1 messages to each session's topic, payload r * N_MSGS + k; all in. */
static void round_trip(int r)
{
	static _Atomic int n_acked;
	struct mosquitto *m = mosquitto_new(NULL, true, (void *)&n_acked);
	unsigned want = (unsigned)(r + 1) * N_MSGS;

	atomic_store(&n_acked, 0);
	cr_assert_not_null(m);
	mosquitto_publish_callback_set(m, on_published);
	/* CONNACK first: libmosquitto re-sends what is in flight on it (t_mosq.h) */
	cr_assert(t_mosq_connect(m, "127.0.0.1", B.port, 30, WAIT_MS));
	cr_assert_eq(mosquitto_loop_start(m), MOSQ_ERR_SUCCESS);
	for (int k = 0; k < N_MSGS; k++)
		for (int i = 0; i < N_SESS; i++) {
			char topic[32], payload[16];
			int len = snprintf(payload, sizeof(payload), "%d", r * N_MSGS + k);

			if (Gone[i])
				continue;
			snprintf(topic, sizeof(topic), "grp/%d/x", i);
			cr_assert_eq(mosquitto_publish(m, NULL, topic, len, payload, 1, false), 0);
		}
	cr_assert(t_wait_for(acked, (void *)&n_acked, WAIT_MS), "broker acked %d",
		  atomic_load(&n_acked));
	mosquitto_disconnect(m);
	mosquitto_loop_stop(m, false);
	mosquitto_destroy(m);
	cr_assert(t_wait_for(got_all, &want, WAIT_MS), "round %d: got %u %u %u %u %u %u", r, Got[0],
		  Got[1], Got[2], Got[3], Got[4], Got[5]);
	(void)mqttmux_dispatch(C, 200); /* anything extra would show up as a duplicate */
	for (int i = 0; i < N_SESS; i++)
		for (int k = r * N_MSGS; k < (r + 1) * N_MSGS && !Gone[i]; k++)
			cr_expect_eq(Seen[i][k], 1, "g%d message %d arrived %u times", i, k,
				     Seen[i][k]);
	cr_expect_eq(Foreign, 0, "%u messages reached another session's route", Foreign);
}

struct after {
	long old[N_SESS], pid[N_SESS], restarts[N_SESS];
};

/* Group A (g0..g2) restarted once in a new process, all connected again. */
static bool restarted(void *ud)
{
	struct after *a = ud;
	bool up;

	status(a->pid, a->restarts, &up);
	return up && a->restarts[0] == 1 && a->restarts[1] == 1 && a->restarts[2] == 1 &&
	       a->pid[0] > 0 && a->pid[0] != a->old[0];
}

static void wait_ready(void)
{
	char out[1024], err[1024];

	cr_assert_eq(t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
			   (const char *const[]){ "wait", "-t", "60", NULL }),
		     0, "not all ready: %s", err);
}

/* Every session runs on the loop backend meson chose (MQTTMUX_LOOP), if it chose one. */
static void check_backend(void)
{
	static char out[1 << 18];
	const char *want = getenv("MQTTMUX_LOOP");
	char err[1024], line[128];

	if (!want || !*want)
		return;
	cr_assert_eq(t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
			   (const char *const[]){ "metrics", NULL }),
		     0, "metrics: %s", err);
	for (int i = 0; i < N_SESS; i++) {
		snprintf(line, sizeof(line),
			 "mqttmux_session_event_loop_info{session=\"g%d\",backend=\"%s\"} 1", i,
			 strcmp(want, "uring") ? want : "io_uring");
		cr_expect_not_null(strstr(out, line), "no '%s' in the metrics", line);
	}
}

static void run(const char *protocol)
{
	struct after a = { 0 };
	bool up;

	start(protocol);
	wait_ready();
	status(a.old, a.restarts, &up);
	/* 2 processes: g0..g2 share one, g3..g5 the other */
	for (int i = 0; i < N_SESS; i++) {
		cr_assert_gt(a.old[i], 0, "g%d has no process", i);
		cr_assert_eq(a.old[i], a.old[i / GROUP * GROUP], "g%d is not in its group", i);
		cr_assert_eq(a.restarts[i], 0);
	}
	cr_assert_neq(a.old[0], a.old[GROUP], "the two groups share a process");
	check_backend();
	routes();
	round_trip(0);

	cr_assert_eq(kill((pid_t)a.old[0], SIGKILL), 0);
	cr_assert(t_wait_for(restarted, &a, WAIT_MS), "group A: restarts %ld %ld %ld, pid %ld",
		  a.restarts[0], a.restarts[1], a.restarts[2], a.pid[0]);
	for (int i = 0; i < N_SESS; i++) {
		cr_expect_eq(a.pid[i], a.pid[i / GROUP * GROUP], "g%d left its group", i);
		if (i >= GROUP) {
			cr_expect_eq(a.restarts[i], 0, "g%d restarted with the other group", i);
			cr_expect_eq(a.pid[i], a.old[i], "g%d's process changed", i);
		}
	}
	round_trip(1);
	t_daemon_stop(&Daemon);
}

Test(group, six_sessions_in_two_processes_deliver_and_restart_as_groups_mqtt311)
{
	run("3.1.1");
}

Test(group, six_sessions_in_two_processes_deliver_and_restart_as_groups_mqtt5)
{
	run("5");
}

/* g1 is gone; g0 and g2 run again, together, in a new process, connected. */
static bool regrouped(void *ud)
{
	struct after *a = ud;
	json_object *arr = t_status_json(MQTTMUX_CLI_PATH, Run);
	bool gone = t_json_row(arr, "g1") == NULL, up;

	json_object_put(arr);
	status(a->pid, a->restarts, &up);
	return gone && up && a->pid[0] > 0 && a->pid[0] != a->old[0] && a->pid[2] == a->pid[0];
}

/*
 * A reload that removes one member of a group (docs/worker.md, "Reloads and control commands"):
 * the group stops, the removed session goes, the others start again in one process, the other
 * group keeps its process, and every remaining session delivers exactly its stream. Nothing here
 * depends on the protocol: MQTT 3.1.1 only.
 */
Test(group, a_reload_that_removes_a_member_restarts_its_group_without_it)
{
	struct after a = { 0 };
	bool up;

	start("3.1.1");
	wait_ready();
	status(a.old, a.restarts, &up);
	routes();
	round_trip(0);

	Gone[1] = true;
	write_cfg("3.1.1", 1);
	cr_assert_eq(kill(Daemon, SIGHUP), 0);
	cr_assert(t_wait_for(regrouped, &a, WAIT_MS),
		  "group A not regrouped: pids %ld %ld (was %ld)", a.pid[0], a.pid[2], a.old[0]);
	wait_ready();
	for (int i = GROUP; i < N_SESS; i++) {
		cr_expect_eq(a.pid[i], a.old[i], "g%d's process changed", i);
		cr_expect_eq(a.restarts[i], 0, "g%d restarted", i);
	}
	round_trip(1);
	t_daemon_stop(&Daemon);
}
