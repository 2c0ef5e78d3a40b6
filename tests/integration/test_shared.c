/* SPDX-License-Identifier: MIT */
/*
 * Past one host (issue 13, docs/scaling.md): two mqttmuxd instances, two runtime dirs, each
 * with one session in the same MQTT shared-subscription group ($share/GROUP/FILTER) on the
 * local mosquitto, one libmqttmux client each. The broker splits the stream between the two
 * sessions, and the union of what the two clients receive is exactly the published stream:
 * every message once, none twice, none lost. On MQTT 3.1.1 and 5.
 */
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

#define N_MSGS	1000
#define GROUP	"$share/g13/sh/#"
#define END	"sh/end"
#define WAIT_MS 30000

struct side {
	char *dir, *log, *run, *sock, *cfg;
	pid_t daemon;
	struct mqttmux *c;
	unsigned got;	     /* stream messages received */
	bool end;	     /* an end marker arrived: everything before it did too */
	unsigned char *seen; /* N_MSGS counters */
};

static struct t_broker B;
static struct side S[2];
static unsigned char Seen[2][N_MSGS];

static void setup(void)
{
	cr_assert_eq(t_broker_start(&B, NULL), 0);
	for (int k = 0; k < 2; k++) {
		t_daemon_setup(k ? "shB" : "shA", &S[k].dir, &S[k].log, &S[k].run, &S[k].sock);
		S[k].seen = Seen[k];
	}
}

static void teardown(void)
{
	for (int k = 0; k < 2; k++) {
		mqttmux_close(S[k].c);
		t_daemon_kill(&S[k].daemon, S[k].log);
		t_daemon_teardown(&S[k].daemon, S[k].log, k ? NULL : &B, S[k].dir);
		free(S[k].dir);
		free(S[k].log);
		free(S[k].run);
		free(S[k].sock);
		free(S[k].cfg);
	}
	memset(S, 0, sizeof(S));
	memset(Seen, 0, sizeof(Seen));
}

TestSuite(shared, .init = setup, .fini = teardown, .timeout = 120);

static void start(struct side *s, int k, const char *protocol)
{
	char *text;

	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			      "sessions = ( { name = \"s\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"shared-%d\"; protocol = \"%s\";\n"
			      "  subscriptions = ( { topic = \"" GROUP "\"; qos = 1; } ); } );\n",
			      s->run, s->dir, B.port, k, protocol),
		     0);
	cr_assert_gt(asprintf(&s->cfg, "%s/mqttmux.cfg", s->dir), 0);
	t_write_text(s->cfg, text);
	free(text);
	s->daemon = t_daemon_spawn(MQTTMUXD_PATH, s->cfg, s->log, MQTTMUX_WORKER_PATH, NULL, NULL);
	cr_assert(t_wait_for(t_ctl_pongs, s->sock, 10000), "daemon %d never answered", k);
}

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	struct side *s = ud;
	char buf[16] = "";
	long seq;

	(void)r;
	if (!strcmp(m->topic, END)) {
		s->end = true;
		return;
	}
	memcpy(buf, m->payload, m->payload_len < sizeof(buf) - 1 ? m->payload_len : 0);
	seq = strtol(buf, NULL, 10);
	cr_assert(seq >= 0 && seq < N_MSGS, "payload '%s' on %s", buf, m->topic);
	s->seen[seq]++;
	s->got++;
}

static bool client_open(void *ud)
{
	struct side *s = ud;

	s->c = mqttmux_open(s->run, NULL);
	return s->c != NULL;
}

/* Both daemons ready, and each client holds a route on the group's filter. */
static void clients(void)
{
	char out[1024], err[1024];

	for (int k = 0; k < 2; k++) {
		cr_assert_eq(t_cli(MQTTMUX_CLI_PATH, S[k].run, out, sizeof(out), err, sizeof(err),
				   (const char *const[]){ "wait", "-t", "30", NULL }),
			     0, "daemon %d: %s", k, err);
		cr_assert(t_wait_for(client_open, &S[k], 10000), "no client on daemon %d", k);
		cr_assert_not_null(mqttmux_handle_to(S[k].c, "s", GROUP, on_msg, &S[k]),
				   "route on daemon %d", k);
	}
}

static void on_published(struct mosquitto *m, void *ud, int mid)
{
	(void)m;
	(void)mid;
	atomic_fetch_add((_Atomic int *)ud, 1);
}

static bool acked_all(void *ud)
{
	return atomic_load((_Atomic int *)ud) >= N_MSGS;
}

/* The stream: N_MSGS QoS 1 messages on sh/<i % 7>, payload <i>, all acknowledged. */
static void publish_stream(struct mosquitto **ret)
{
	static _Atomic int acked;
	struct mosquitto *m = mosquitto_new("shared-pub", true, (void *)&acked);

	atomic_store(&acked, 0);
	cr_assert_not_null(m);
	mosquitto_publish_callback_set(m, on_published);
	cr_assert(t_mosq_connect(m, "127.0.0.1", B.port, 30, 30000), "publisher: no CONNACK");
	cr_assert_eq(mosquitto_loop_start(m), MOSQ_ERR_SUCCESS);
	for (int i = 0; i < N_MSGS; i++) {
		char topic[16], payload[16];
		int len = snprintf(payload, sizeof(payload), "%d", i);

		snprintf(topic, sizeof(topic), "sh/%d", i % 7);
		cr_assert_eq(mosquitto_publish(m, NULL, topic, len, payload, 1, false), 0);
	}
	cr_assert(t_wait_for(acked_all, (void *)&acked, WAIT_MS), "broker acked %d of %d",
		  atomic_load(&acked), N_MSGS);
	*ret = m;
}

/* Dispatch both clients; publish end markers until each side has one (they alternate). */
static bool both_ended(void *ud)
{
	struct mosquitto *m = ud;

	for (int k = 0; k < 2; k++)
		(void)mqttmux_dispatch(S[k].c, 20);
	if (S[0].end && S[1].end)
		return true;
	(void)mosquitto_publish(m, NULL, END, 1, "e", 1, false);
	return false;
}

static void run(const char *protocol)
{
	struct mosquitto *m;
	unsigned twice = 0, lost = 0;

	start(&S[0], 0, protocol);
	start(&S[1], 1, protocol);
	clients();
	publish_stream(&m);
	cr_assert(t_wait_for(both_ended, m, WAIT_MS), "end markers: %d %d; got %u + %u", S[0].end,
		  S[1].end, S[0].got, S[1].got);
	mosquitto_disconnect(m);
	mosquitto_loop_stop(m, false);
	mosquitto_destroy(m);
	for (int i = 0; i < N_MSGS; i++) {
		unsigned n = Seen[0][i] + Seen[1][i];

		twice += n > 1;
		lost += n == 0;
	}
	cr_expect_eq(lost, 0, "%u of %d messages reached neither client", lost, N_MSGS);
	cr_expect_eq(twice, 0, "%u messages reached a client twice", twice);
	cr_expect_eq(S[0].got + S[1].got, N_MSGS, "%u + %u", S[0].got, S[1].got);
	cr_log_info("%s: daemon A got %u, daemon B %u of %d", protocol, S[0].got, S[1].got, N_MSGS);
	cr_expect_gt(S[0].got, 0, "the broker gave daemon A nothing: not shared?");
	cr_expect_gt(S[1].got, 0, "the broker gave daemon B nothing: not shared?");
	for (int k = 0; k < 2; k++)
		t_daemon_stop(&S[k].daemon);
}

Test(shared, two_daemons_in_one_group_split_the_stream_exactly_mqtt311)
{
	run("3.1.1");
}

Test(shared, two_daemons_in_one_group_split_the_stream_exactly_mqtt5)
{
	run("5");
}
