/* SPDX-License-Identifier: MIT */
/*
 * MQTT 5 end to end (issue 10): the real mqttmuxd, workers and router against a real mosquitto
 * broker. PUBLISH properties of every type, in random sets, reach a libmqttmux client byte-exact
 * (from libmosquitto and from mosquitto_pub -D), with no worker restart; a client publishes with
 * properties; properties that could get the shared connection closed are refused. Run once per
 * worker loop backend (MQTTMUX_LOOP, set by meson).
 */
#include <errno.h>
#include <mqtt_protocol.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "mqttmux.h"
#include "t_daemon.h"
#include "t_helpers.h"
#include "t_mqtt5.h"

#define BROKER_CONF "max_inflight_messages 0\nmax_queued_messages 0\n"
#define WAIT_MS	    30000

static struct t_broker B;
static char *Dir, *Log, *Run, *Sock, *Cfg;
static pid_t Daemon;

static void setup(void)
{
	struct t_broker_opts o = { .extra_conf = BROKER_CONF };

	t_daemon_setup("mqtt5", &Dir, &Log, &Run, NULL);
	cr_assert_gt(asprintf(&Sock, "%s/control.sock", Run), 0);
	mosquitto_lib_init();
	cr_assert_eq(t_broker_start(&B, &o), 0);
}

static void teardown(void)
{
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	free(Dir);
	free(Log);
	free(Run);
	free(Sock);
	free(Cfg);
	Dir = Log = Run = Sock = Cfg = NULL;
	mosquitto_lib_cleanup();
}

TestSuite(mqtt5, .init = setup, .fini = teardown, .timeout = 300);

/* mqttmuxd with session "v5" (MQTT 5) and "v3" (MQTT 3.1.1) on the broker. */
static void start_daemon(void)
{
	char *text, *reply;

	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			      "clients = { ring_size = 16777216; };\n"
			      "sessions = (\n"
			      "  { name = \"v5\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"mqtt5-v5\"; protocol = \"5\"; },\n"
			      "  { name = \"v3\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"mqtt5-v3\"; }\n);\n",
			      Run, Dir, B.port, B.port),
		     0);
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	t_write_text(Cfg, text);
	free(text);
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, MQTTMUX_ROUTER_PATH,
				NULL);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, WAIT_MS), "control socket never answered");
	reply = t_ctl_command(Sock, "wait * 20\n");
	cr_assert(reply && strstr(reply, "\"ready\":true"), "sessions not ready: %s",
		  reply ? reply : "(no reply)");
	free(reply);
}

static bool try_open(void *ud)
{
	*(struct mqttmux **)ud = mqttmux_open(Run, NULL);
	return *(struct mqttmux **)ud != NULL;
}

/* A client with route QoS 2, once the router takes registrations (it starts on its own time). */
static struct mqttmux *client_open(void)
{
	struct mqttmux *c = NULL;

	cr_assert(t_wait_for(try_open, &c, WAIT_MS), "mqttmux_open never succeeded");
	cr_assert_eq(mqttmux_set_route_qos(c, 2), 0);
	return c;
}

/* Worker processes started after the first one, for <session>: must stay 0. */
static uint64_t restarts(const char *session)
{
	struct mqttmux_metrics *m = NULL;
	uint64_t n = UINT64_MAX;

	cr_assert_eq(mqttmux_metrics(Run, &m), 0);
	for (size_t i = 0; i < m->n_sessions; i++)
		if (!strcmp(m->sessions[i].name, session))
			n = m->sessions[i].restarts + m->sessions[i].reconnects;
	mqttmux_metrics_free(m);
	return n;
}

/* ---- what the client receives, compared with what was sent ---- */

struct expect {
	struct t_pset *sets; /* by sequence number (the payload) */
	char (*topic)[16];
	int *qos;
	int n, got, bad, dups;
	char *seen;
	bool probed; /* a "probe" came through: the broker has our subscription */
};

static void expect_init(struct expect *e, int n)
{
	*e = (struct expect){ .n = n };
	e->sets = calloc((size_t)n, sizeof(*e->sets));
	e->topic = calloc((size_t)n, sizeof(*e->topic));
	e->qos = calloc((size_t)n, sizeof(*e->qos));
	e->seen = calloc((size_t)n, 1);
	cr_assert(e->sets && e->topic && e->qos && e->seen);
}

static void expect_free(struct expect *e)
{
	for (int i = 0; i < e->n; i++)
		t_pset_free(&e->sets[i]);
	free(e->sets);
	free(e->topic);
	free(e->qos);
	free(e->seen);
}

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	struct expect *e = ud;
	char buf[16] = "";
	const char *why;
	int seq;

	(void)r;
	memcpy(buf, m->payload, m->payload_len < sizeof(buf) - 1 ? m->payload_len : 0);
	if (!strcmp(buf, "probe")) {
		e->probed = true;
		return;
	}
	seq = atoi(buf);
	if (seq < 0 || seq >= e->n || !buf[0]) {
		e->bad++;
		return;
	}
	if (e->seen[seq]++) {
		e->dups++;
		return;
	}
	e->got++;
	why = t_pset_check(&e->sets[seq], m->props, m->props_len);
	if (!why && strcmp(m->topic, e->topic[seq]))
		why = "topic";
	if (!why && m->qos != e->qos[seq])
		why = "QoS";
	if (why) {
		if (e->bad++ < 5)
			cr_log_error("message %d (%s, q%d): %s", seq, m->topic, m->qos, why);
	}
}

/*
 * A route is acknowledged once its SUBSCRIBE is on its way; publish probes on <topic> until one
 * comes back, so that the broker surely has the subscription.
 */
static void wait_subscribed(struct mqttmux *c, struct expect *e, struct mosquitto *m,
			    const char *topic)
{
	uint64_t deadline = t_now_ns() + (uint64_t)WAIT_MS * 1000000;

	while (!e->probed && t_now_ns() < deadline) {
		cr_assert_eq(mosquitto_publish(m, NULL, topic, 5, "probe", 0, false), 0);
		cr_assert_geq(mqttmux_dispatch(c, 100), 0);
	}
	cr_assert(e->probed, "the subscription never came into force");
}

static bool all_in(struct mqttmux *c, struct expect *e, int timeout_ms)
{
	uint64_t deadline = t_now_ns() + (uint64_t)timeout_ms * 1000000;

	while (e->got < e->n && t_now_ns() < deadline)
		cr_assert_geq(mqttmux_dispatch(c, 100), 0);
	return e->got == e->n;
}

/*
 * 10,000 messages with random property sets of every type a publisher can send, at QoS 0, 1
 * and 2, half of them through topic aliases (the broker resolves them: the client always gets
 * the topic), through the library. Byte-exact, none lost or doubled, no worker restart.
 */
Test(mqtt5, random_property_sets_arrive_byte_exact)
{
	enum { N = 10000 };
	struct mqttmux *c;
	struct expect e;
	struct t_pub5 p;
	uint64_t rng = 0x5eed10;
	bool alias_set[T_MQTT5_ALIASES + 1] = { false };

	start_daemon();
	c = client_open();
	expect_init(&e, N);
	cr_assert_not_null(mqttmux_handle_to(c, "v5", "p/#", on_msg, &e));
	t_pub5_open(&p, B.host, B.port);
	wait_subscribed(c, &e, p.m, "p/probe");
	for (int i = 0; i < N; i++) {
		int alias = i % 2 ? (int)(t_rand(&rng) % T_MQTT5_ALIASES) + 1 : 0;
		char payload[16];
		const char *topic;

		snprintf(e.topic[i], sizeof(e.topic[i]), "p/%d", alias ? alias : i % 7);
		e.qos[i] = i % 3;
		t_pset_random(&e.sets[i], &rng, alias, e.qos[i]);
		/* an alias already set may go without its topic */
		topic = alias && alias_set[alias] && t_rand(&rng) % 2 ? NULL : e.topic[i];
		if (alias)
			alias_set[alias] = true;
		snprintf(payload, sizeof(payload), "%d", i);
		cr_assert_eq(mosquitto_publish_v5(p.m, NULL, topic, (int)strlen(payload), payload,
						  e.qos[i], false, e.sets[i].list),
			     0, "publish %d", i);
		t_pset_drop_list(&e.sets[i]);
		if (i % 64 == 0)
			cr_assert_geq(mqttmux_dispatch(c, 0), 0);
	}
	cr_expect(all_in(c, &e, 120000), "%d of %d messages arrived", e.got, N);
	cr_expect_eq(e.bad, 0, "%d messages differ", e.bad);
	cr_expect_eq(e.dups, 0);
	cr_expect_eq(mqttmux_lost(c), 0);
	cr_expect_eq(restarts("v5"), 0, "the worker restarted or reconnected");
	t_pub5_close(&p);
	mqttmux_close(c);
	expect_free(&e);
}

/* ---- mosquitto_pub -V mqttv5 -D ... ---- */

#define MAX_D 8

struct d_case {
	const char *d[MAX_D][4]; /* -D publish NAME VALUE [VALUE2] */
	uint32_t expiry;
};

static const struct d_case D_cases[] = {
	{ { { "user-property", "k", "v" },
	    { "user-property", "k", "v2" },
	    { "content-type", "text/plain; charset=utf-8" } },
	  0 },
	{ { { "correlation-data", "abc" },
	    { "response-topic", "r/x" },
	    { "payload-format-indicator", "1" },
	    { "message-expiry-interval", "100000" } },
	  100000 },
	{ { { "topic-alias", "5" }, { "user-property", "a b", "c=d" } }, 0 },
	{ { { "message-expiry-interval", "150000" },
	    { "user-property", "caf\xc3\xa9", "\xe2\x82\xac" },
	    { "response-topic", "reply/here" },
	    { "topic-alias", "2" },
	    { "correlation-data", "0123456789" },
	    { "payload-format-indicator", "0" },
	    { "content-type", "application/json" },
	    { "user-property", "k", "last" } },
	  150000 },
};

/* Undo the \xNN escapes of the table (argv strings must carry the raw UTF-8 bytes). */
static char *unescape(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	cr_assert_not_null(out);
	while (*s) {
		if (s[0] == '\\' && s[1] == 'x') {
			char hex[3] = { s[2], s[3], 0 };

			*o++ = (char)strtol(hex, NULL, 16);
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

/* The bytes the broker forwards for case <dc>: every -D but topic alias and expiry, in order. */
static void d_expect(const struct d_case *dc, struct t_pset *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->expiry = dc->expiry;
	for (int i = 0; i < MAX_D && dc->d[i][0]; i++) {
		int id = -1;
		struct mqttmux_prop v = { 0 };
		char *a = unescape(dc->d[i][1]), *b = dc->d[i][2] ? unescape(dc->d[i][2]) : NULL;
		ssize_t n;

		if (!strcmp(dc->d[i][0], "user-property"))
			v = (struct mqttmux_prop){ .id = MQTTMUX_PROP_USER_PROPERTY,
						   .data = a,
						   .len = strlen(a),
						   .value = b,
						   .value_len = strlen(b) };
		else if (!strcmp(dc->d[i][0], "content-type"))
			id = MQTTMUX_PROP_CONTENT_TYPE;
		else if (!strcmp(dc->d[i][0], "response-topic"))
			id = MQTTMUX_PROP_RESPONSE_TOPIC;
		else if (!strcmp(dc->d[i][0], "correlation-data"))
			id = MQTTMUX_PROP_CORRELATION_DATA;
		else if (!strcmp(dc->d[i][0], "payload-format-indicator"))
			v = (struct mqttmux_prop){ .id = MQTTMUX_PROP_PAYLOAD_FORMAT,
						   .num = (uint32_t)atoi(a) };
		if (id > 0)
			v = (struct mqttmux_prop){ .id = id, .data = a, .len = strlen(a) };
		if (v.id) {
			n = mqttmux_prop_pack(NULL, 0, &v);
			ps->fwd = realloc(ps->fwd, ps->fwd_len + (size_t)n);
			cr_assert_eq(mqttmux_prop_pack(ps->fwd + ps->fwd_len, (size_t)n, &v), n);
			ps->fwd_len += (size_t)n;
		}
		free(a);
		free(b);
	}
}

/* mosquitto_pub -V mqttv5 -t <topic> -m <seq> -q <qos> -D publish ... for case <dc>. */
static void run_mosquitto_pub(const struct d_case *dc, const char *topic, int seq, int qos)
{
	char port[16], msg[16], q[4], *argv[64], *own[2 * MAX_D];
	int n = 0, k = 0, st;
	pid_t pid;

	snprintf(port, sizeof(port), "%d", B.port);
	snprintf(msg, sizeof(msg), "%d", seq);
	snprintf(q, sizeof(q), "%d", qos);
	for (const char *a0[] = { "mosquitto_pub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", port,
				  "-t", topic, "-m", msg, "-q", q, NULL },
			**a = a0;
	     *a; a++)
		argv[n++] = (char *)*a;
	for (int i = 0; i < MAX_D && dc->d[i][0]; i++) {
		argv[n++] = (char *)"-D";
		argv[n++] = (char *)"publish";
		argv[n++] = (char *)dc->d[i][0];
		for (int j = 1; j < 3 && dc->d[i][j]; j++)
			argv[n++] = own[k++] = unescape(dc->d[i][j]);
	}
	argv[n] = NULL;
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		execvp("mosquitto_pub", argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "mosquitto_pub status %#x", st);
	while (k > 0)
		free(own[--k]);
}

/* Each -D case of the table at QoS 0, 1 and 2, as a mosquitto_pub user sends them. */
Test(mqtt5, mosquitto_pub_D_properties_arrive_byte_exact)
{
	enum { NC = sizeof(D_cases) / sizeof(D_cases[0]) };
	struct mqttmux *c;
	struct expect e;
	struct t_pub5 p;

	start_daemon();
	c = client_open();
	expect_init(&e, NC * 3);
	cr_assert_not_null(mqttmux_handle_to(c, "v5", "p/#", on_msg, &e));
	t_pub5_open(&p, B.host, B.port);
	wait_subscribed(c, &e, p.m, "p/probe");
	t_pub5_close(&p);
	for (int i = 0; i < NC * 3; i++) {
		snprintf(e.topic[i], sizeof(e.topic[i]), "p/d%d", i);
		e.qos[i] = i % 3;
		d_expect(&D_cases[i / 3], &e.sets[i]);
		run_mosquitto_pub(&D_cases[i / 3], e.topic[i], i, e.qos[i]);
		cr_assert_geq(mqttmux_dispatch(c, 0), 0);
	}
	cr_expect(all_in(c, &e, WAIT_MS), "%d of %d messages arrived", e.got, e.n);
	cr_expect_eq(e.bad, 0, "%d messages differ", e.bad);
	cr_expect_eq(restarts("v5"), 0, "the worker restarted or reconnected");
	mqttmux_close(c);
	expect_free(&e);
}

/* ---- a client publishes with properties ---- */

struct sub5 {
	struct mosquitto *m;
	atomic_int got, bad, subacked;
	int want_users;
};

static bool str_prop(const mosquitto_property *p, int id, const char *want)
{
	char *v = NULL;
	bool ok = mosquitto_property_read_string(p, id, &v, false) && !strcmp(v, want);

	free(v);
	return ok;
}

/* What every message of client_publishes_with_properties must carry, checked property by property.
 */
static bool sub5_props_ok(const struct sub5 *s, const mosquitto_property *p)
{
	static const char *const users[][2] = { { "a", "1" }, { "a", "2" }, { "b", "" } };
	const mosquitto_property *u = p;
	void *cd = NULL;
	uint16_t cdl = 0;
	uint8_t pfi = 0;
	uint32_t exp = 0;
	bool ok =
		mosquitto_property_read_byte(p, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, &pfi, false) &&
		pfi == 1 &&
		mosquitto_property_read_int32(p, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, &exp, false) &&
		exp > 3000 && exp <= 3600 &&
		str_prop(p, MQTT_PROP_CONTENT_TYPE, "application/json") &&
		str_prop(p, MQTT_PROP_RESPONSE_TOPIC, "q/reply") &&
		mosquitto_property_read_binary(p, MQTT_PROP_CORRELATION_DATA, &cd, &cdl, false) &&
		cdl == 3 && !memcmp(cd, "\0\1\2", 3);

	free(cd);
	for (int i = 0; ok && i < s->want_users; i++) {
		char *k = NULL, *v = NULL;

		u = mosquitto_property_read_string_pair(u, MQTT_PROP_USER_PROPERTY, &k, &v, i > 0);
		ok = u && !strcmp(k, users[i][0]) && !strcmp(v, users[i][1]);
		free(k);
		free(v);
	}
	return ok;
}

static void sub5_msg(struct mosquitto *m, void *ud, const struct mosquitto_message *msg,
		     const mosquitto_property *p)
{
	struct sub5 *s = ud;

	(void)m;
	if (msg->payloadlen == 7 && !memcmp(msg->payload, "{\"x\":1}", 7) && sub5_props_ok(s, p))
		atomic_fetch_add(&s->got, 1);
	else
		atomic_fetch_add(&s->bad, 1);
}

static void sub5_subacked(struct mosquitto *m, void *ud, int mid, int n, const int *q,
			  const mosquitto_property *p)
{
	(void)m;
	(void)mid;
	(void)n;
	(void)q;
	(void)p;
	atomic_store(&((struct sub5 *)ud)->subacked, 1);
}

static bool sub5_ready(void *ud)
{
	return atomic_load(&((struct sub5 *)ud)->subacked);
}

static void sub5_open(struct sub5 *s, const char *filter)
{
	int mid;

	s->m = mosquitto_new(NULL, true, s);
	cr_assert_not_null(s->m);
	cr_assert_eq(mosquitto_int_option(s->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5), 0);
	mosquitto_message_v5_callback_set(s->m, sub5_msg);
	mosquitto_subscribe_v5_callback_set(s->m, sub5_subacked);
	cr_assert_eq(mosquitto_connect(s->m, B.host, B.port, 30), 0);
	cr_assert_eq(mosquitto_subscribe(s->m, &mid, filter, 2), 0);
	cr_assert_eq(mosquitto_loop_start(s->m), 0);
	cr_assert(t_wait_for(sub5_ready, s, WAIT_MS), "no SUBACK");
}

/* Properties for a publish: every type a client may send; <users> user properties of 3. */
static size_t client_props(uint8_t *buf, size_t cap, int users)
{
	const struct mqttmux_prop v[] = {
		{ .id = MQTTMUX_PROP_PAYLOAD_FORMAT, .num = 1 },
		{ .id = MQTTMUX_PROP_MESSAGE_EXPIRY, .num = 3600 },
		{ .id = MQTTMUX_PROP_CONTENT_TYPE, .data = "application/json", .len = 16 },
		{ .id = MQTTMUX_PROP_RESPONSE_TOPIC, .data = "q/reply", .len = 7 },
		{ .id = MQTTMUX_PROP_CORRELATION_DATA, .data = "\0\1\2", .len = 3 },
		{ .id = MQTTMUX_PROP_USER_PROPERTY,
		  .data = "a",
		  .len = 1,
		  .value = "1",
		  .value_len = 1 },
		{ .id = MQTTMUX_PROP_USER_PROPERTY,
		  .data = "a",
		  .len = 1,
		  .value = "2",
		  .value_len = 1 },
		{ .id = MQTTMUX_PROP_USER_PROPERTY,
		  .data = "b",
		  .len = 1,
		  .value = "",
		  .value_len = 0 },
	};
	size_t len = 0;

	for (size_t i = 0; i < 5 + (size_t)users; i++) {
		ssize_t n = mqttmux_prop_pack(buf + len, cap - len, &v[i]);

		cr_assert(n > 0 && (size_t)n <= cap - len);
		len += (size_t)n;
	}
	return len;
}

static bool sub5_has(void *ud)
{
	struct sub5 *s = ud;

	return atomic_load(&s->got) >= 3;
}

/*
 * mqttmux_publish_v5 at QoS 0, 1 and 2: a plain MQTT 5 subscriber gets every property. An empty
 * string (user property "b" = "") goes at QoS 0 only while libmosquitto is older than 2.0.12.
 */
Test(mqtt5, client_publishes_with_properties)
{
	struct sub5 s = { .want_users = 2 };
	uint8_t props[256];
	size_t len = client_props(props, sizeof(props), 2), len3;
	struct mqttmux *c;
	int maj, min, rev;

	start_daemon();
	c = client_open();
	sub5_open(&s, "q/#");
	for (int qos = 0; qos <= 2; qos++)
		cr_expect_eq(mqttmux_publish_v5(c, "v5", "q/a", "{\"x\":1}", 7, qos, false, props,
						len, WAIT_MS),
			     0, "QoS %d", qos);
	cr_expect(t_wait_for(sub5_has, &s, WAIT_MS), "%d of 3 arrived", atomic_load(&s.got));
	len3 = client_props(props, sizeof(props), 3);
	(void)mosquitto_lib_version(&maj, &min, &rev);
	cr_expect_eq(
		mqttmux_publish_v5(c, "v5", "q/a", "{\"x\":1}", 7, 1, false, props, len3, WAIT_MS),
		maj == 2 && min == 0 && rev < 12 ? -EINVAL : 0,
		"an empty string at QoS 1 with libmosquitto %d.%d.%d", maj, min, rev);
	cr_expect_eq(atomic_load(&s.bad), 0);
	cr_expect_eq(restarts("v5"), 0, "the worker restarted or reconnected");
	mosquitto_disconnect(s.m);
	mosquitto_loop_stop(s.m, false);
	mosquitto_destroy(s.m);
	mqttmux_close(c);
}

/* Properties that could get the shared connection closed never leave the library. */
Test(mqtt5, properties_that_risk_the_connection_are_refused)
{
	static const struct {
		const char *b;
		size_t len;
		const char *why;
	} bad[] = {
		{ "\x23\x00\x01", 3, "topic alias" },
		{ "\x0b\x05", 2, "subscription identifier" },
		{ "\x03\x00\x01x\x03\x00\x01y", 8, "content type twice" },
		{ "\x26\x00\x01\x01\x00\x01v", 7, "control character in a user property" },
		{ "\x08\x00\x01#", 4, "wildcard response topic" },
		{ "\x01\x01", 2, "payload format 1 with a payload that is not UTF-8" },
		{ "\x11\x00\x00\x00\x05", 5, "session expiry: a CONNECT property" },
		{ "\x03\x00\x09x", 4, "truncated" },
	};
	struct mqttmux *c;

	start_daemon();
	c = client_open();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(mqttmux_publish_v5(c, "v5", "q/a", "\xff", 1, 1, false, bad[i].b,
						bad[i].len, WAIT_MS),
			     -EINVAL, "%s", bad[i].why);
		cr_expect_eq(mqttmux_publish_v5_async(c, "v5", "q/a", "\xff", 1, 1, false, bad[i].b,
						      bad[i].len, NULL, NULL),
			     -EINVAL, "async: %s", bad[i].why);
	}
	cr_expect_eq(mqttmux_publish_v5(c, "v5", "q/a", "x", 1, 1, false, "\x01\x01", 2, WAIT_MS),
		     0);
	cr_expect_eq(restarts("v5"), 0, "the worker restarted or reconnected");
	mqttmux_close(c);
}

/* MQTT 3.1.1 has no properties: a publish with some is refused, one without goes. */
Test(mqtt5, a_3_1_1_session_refuses_properties)
{
	struct mqttmux *c;

	start_daemon();
	c = client_open();
	cr_expect_eq(mqttmux_publish_v5(c, "v3", "q/a", "x", 1, 1, false, "\x01\x00", 2, WAIT_MS),
		     -EPROTONOSUPPORT);
	cr_expect_eq(mqttmux_publish_v5(c, "v3", "q/a", "x", 1, 1, false, NULL, 0, WAIT_MS), 0);
	cr_expect_eq(mqttmux_publish_v5(c, NULL, "q/a", "x", 1, 1, false, "\x01\x00", 2, WAIT_MS),
		     -EPROTONOSUPPORT, "to every session: the 3.1.1 one fails");
	mqttmux_close(c);
}

/* ---- retained messages for late routes (issue 10) ---- */

/* Publish <payload> on <topic> with a plain client at QoS 1, retained or not; wait for PUBACK. */
static void publish_plain(const char *topic, const char *payload, bool retain)
{
	struct t_pub5 p;

	t_pub5_open(&p, B.host, B.port);
	cr_assert_eq(mosquitto_publish(p.m, NULL, topic, (int)strlen(payload), payload, 1, retain),
		     0);
	cr_assert(t_wait_for(t_pub5_acked_one, &p, WAIT_MS), "no PUBACK");
	t_pub5_close(&p);
}

/* The next message of listen route <r> within WAIT_MS, dispatching <other> meanwhile too. */
static const struct mqttmux_msg *next_of(struct mqttmux_route *r, struct mqttmux *other)
{
	const struct mqttmux_msg *m = NULL;
	uint64_t deadline = t_now_ns() + (uint64_t)WAIT_MS * 1000000;

	while (t_now_ns() < deadline) {
		if (mqttmux_next(r, &m, 50) == 1)
			return m;
		cr_assert_geq(mqttmux_dispatch(other, 0), 0);
	}
	return NULL;
}

/*
 * A second route on a filter another client already holds gets the retained message, flagged
 * retained, and the first route gets no second copy: both then see the next live message
 * first. The same on MQTT 3.1.1 and 5.
 */
static void late_route_gets_the_retained_message(const char *session)
{
	char topic[64], probe[64];
	struct mqttmux *c1, *c2;
	struct mqttmux_route *r1, *r2;
	const struct mqttmux_msg *m;

	snprintf(topic, sizeof(topic), "ret/%s/state", session);
	snprintf(probe, sizeof(probe), "ret/%s/live", session);
	publish_plain(topic, "kept", true);
	c1 = client_open();
	c2 = client_open();
	cr_assert_not_null(r1 = mqttmux_listen_to(c1, session, "ret/#", 16));
	cr_assert_not_null(m = next_of(r1, c2), "the first route got no retained message");
	cr_expect(m->retain && !strcmp(m->topic, topic), "%s retain %d", m->topic, m->retain);
	cr_assert_not_null(r2 = mqttmux_listen_to(c2, session, "ret/#", 16));
	cr_assert_not_null(m = next_of(r2, c1), "the second route got no retained message");
	cr_expect(m->retain && !strcmp(m->topic, topic) && m->payload_len == 4 &&
			  !memcmp(m->payload, "kept", 4),
		  "second route: %s retain %d", m->topic, m->retain);
	publish_plain(probe, "live", false);
	cr_assert_not_null(m = next_of(r1, c2));
	cr_expect_str_eq(m->topic, probe, "the first route got a second copy of %s", m->topic);
	cr_assert_not_null(m = next_of(r2, c1));
	cr_expect(!strcmp(m->topic, probe) && !m->retain, "second route: then %s", m->topic);
	mqttmux_close(c1);
	mqttmux_close(c2);
}

Test(mqtt5, a_late_route_gets_the_retained_message_once_on_3_1_1)
{
	start_daemon();
	late_route_gets_the_retained_message("v3");
}

Test(mqtt5, a_late_route_gets_the_retained_message_once_on_5)
{
	start_daemon();
	late_route_gets_the_retained_message("v5");
}
