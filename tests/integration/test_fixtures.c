/* SPDX-License-Identifier: MIT */
/*
 * Proves the integration fixtures against real processes: a t_broker over TCP, over a Unix
 * socket and over TLS with t_certs material (including the four ways a TLS connection must be
 * refused), broker restarts that keep persistent sessions and queued QoS 1 messages, and stops
 * that leave no process behind. The clients are real libmosquitto clients driven by
 * mosquitto_loop() under t_wait_for() deadlines; nothing is mocked.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "t_broker.h"
#include "t_certs.h"
#include "t_helpers.h"

#define WAIT_MS	  5000
#define MAX_MSGS  8
#define MSG_BYTES 32

/* One libmosquitto client and what its callbacks saw. */
struct session {
	struct mosquitto *mosq;
	bool looping;	      /* connect attempted and not yet disconnected */
	int settled;	      /* 1 once CONNACK arrived or the connection failed */
	int connack;	      /* CONNACK code, -1 before it arrives */
	bool session_present; /* CONNACK flag: the broker kept our session */
	int err;	      /* first MOSQ_ERR_* from connect or loop, 0 if none */
	int sub_qos;	      /* QoS granted by the last SUBACK */
	int disconnects;
	int subacks;
	int pubacks;
	int nmsg;
	char msg[MAX_MSGS][MSG_BYTES];
	int msg_qos[MAX_MSGS];
};

static struct t_broker broker;
static struct t_certs certs;
static struct session sess[2];

static void setup(void)
{
	mosquitto_lib_init();
}

static void teardown(void)
{
	size_t i;

	for (i = 0; i < sizeof(sess) / sizeof(sess[0]); i++)
		mosquitto_destroy(sess[i].mosq);
	t_broker_free(&broker);
	t_certs_free(&certs);
	mosquitto_lib_cleanup();
}

TestSuite(fixtures, .init = setup, .fini = teardown, .timeout = 30);

static void on_connect(struct mosquitto *mosq, void *ud, int rc, int flags)
{
	struct session *s = ud;

	(void)mosq;
	s->connack = rc;
	s->session_present = flags & 1;
	s->settled = 1;
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc)
{
	struct session *s = ud;

	(void)mosq;
	if (rc && !s->err)
		s->err = MOSQ_ERR_CONN_LOST;
	s->looping = false;
	s->settled = 1;
	s->disconnects++;
}

static void on_subscribe(struct mosquitto *mosq, void *ud, int mid, int n, const int *granted)
{
	struct session *s = ud;

	(void)mosq;
	(void)mid;
	s->sub_qos = n > 0 ? granted[0] : -1;
	s->subacks++;
}

static void on_publish(struct mosquitto *mosq, void *ud, int mid)
{
	struct session *s = ud;

	(void)mosq;
	(void)mid;
	s->pubacks++;
}

static void on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *m)
{
	struct session *s = ud;

	(void)mosq;
	if (s->nmsg >= MAX_MSGS)
		return;
	snprintf(s->msg[s->nmsg], MSG_BYTES, "%.*s", m->payloadlen, (const char *)m->payload);
	s->msg_qos[s->nmsg++] = m->qos;
}

/* Run one loop step of every connected session, recording the first error of each. */
static void loop_all(void)
{
	size_t i;
	int rc;

	for (i = 0; i < sizeof(sess) / sizeof(sess[0]); i++) {
		if (!sess[i].looping)
			continue;
		rc = mosquitto_loop(sess[i].mosq, 0, 1);
		if (rc == MOSQ_ERR_SUCCESS)
			continue;
		if (!sess[i].err)
			sess[i].err = rc;
		sess[i].looping = false;
		sess[i].settled = 1;
	}
}

struct watch {
	const int *counter;
	int want;
};

static bool pump(void *ud)
{
	const struct watch *w = ud;

	loop_all();
	return *w->counter >= w->want;
}

/* Drive every session until *<counter> reaches <want>; false at the deadline. */
static bool wait_count(const int *counter, int want)
{
	struct watch w = { counter, want };

	return t_wait_for(pump, &w, WAIT_MS);
}

/* (Re)create <s> as a fresh client; earlier state is dropped. */
static void session_open(struct session *s, const char *id, bool clean)
{
	mosquitto_destroy(s->mosq);
	memset(s, 0, sizeof(*s));
	s->connack = -1;
	s->mosq = mosquitto_new(id, clean, s);
	cr_assert_not_null(s->mosq, "mosquitto_new: %s", strerror(errno));
	mosquitto_connect_with_flags_callback_set(s->mosq, on_connect);
	mosquitto_disconnect_callback_set(s->mosq, on_disconnect);
	mosquitto_subscribe_callback_set(s->mosq, on_subscribe);
	mosquitto_publish_callback_set(s->mosq, on_publish);
	mosquitto_message_callback_set(s->mosq, on_message);
}

/* Connect to <b> and wait until the attempt settles; the outcome is left in <s>. */
static void session_try_connect(struct session *s, const struct t_broker *b)
{
	int rc;

	rc = mosquitto_connect(s->mosq, b->host, b->port, 30);
	if (rc != MOSQ_ERR_SUCCESS) {
		s->err = rc;
		s->settled = 1;
		return;
	}
	s->looping = true;
	cr_assert(wait_count(&s->settled, 1), "connect to '%s' did not settle", b->host);
}

static void connect_ok(struct session *s, const struct t_broker *b)
{
	session_try_connect(s, b);
	cr_assert_eq(s->connack, 0, "connect to '%s' port %d: connack %d, %s", b->host, b->port,
		     s->connack, mosquitto_strerror(s->err));
}

/* The attempt must fail before any CONNACK, with an error (not just a timeout). */
static void connect_refused(struct session *s, const struct t_broker *b)
{
	session_try_connect(s, b);
	cr_expect_eq(s->connack, -1, "unexpected CONNACK %d", s->connack);
	cr_expect_neq(s->err, MOSQ_ERR_SUCCESS, "no error reported");
}

static void disconnect_ok(struct session *s)
{
	cr_assert_eq(mosquitto_disconnect(s->mosq), MOSQ_ERR_SUCCESS);
	cr_assert(wait_count(&s->disconnects, 1), "disconnect not seen");
}

static void subscribe_ok(struct session *s, const char *topic)
{
	int want = s->subacks + 1;

	cr_assert_eq(mosquitto_subscribe(s->mosq, NULL, topic, 1), MOSQ_ERR_SUCCESS);
	cr_assert(wait_count(&s->subacks, want), "no SUBACK for '%s'", topic);
	cr_assert_eq(s->sub_qos, 1);
}

static void publish(struct session *s, const char *topic, const char *payload)
{
	cr_assert_eq(
		mosquitto_publish(s->mosq, NULL, topic, (int)strlen(payload), payload, 1, false),
		MOSQ_ERR_SUCCESS);
}

/* sess[0] subscribes, sess[1] publishes, both already connected: one QoS 1 round trip. */
static void round_trip(const char *topic)
{
	struct session *sub = &sess[0], *pub = &sess[1];

	subscribe_ok(sub, topic);
	publish(pub, topic, "hello");
	cr_assert(wait_count(&pub->pubacks, 1), "no PUBACK");
	cr_assert(wait_count(&sub->nmsg, 1), "message not delivered");
	cr_expect_str_eq(sub->msg[0], "hello");
	cr_expect_eq(sub->msg_qos[0], 1);
}

static void plain_round_trip(const struct t_broker *b)
{
	session_open(&sess[0], "t-sub", true);
	session_open(&sess[1], "t-pub", true);
	connect_ok(&sess[0], b);
	connect_ok(&sess[1], b);
	round_trip("t/round");
}

Test(fixtures, tcp_broker_round_trips_qos1)
{
	cr_assert_eq(t_broker_start(&broker, NULL), 0);
	cr_expect_gt(broker.port, 0);
	cr_expect_str_eq(broker.host, "127.0.0.1");
	cr_expect_null(broker.sock_path);
	plain_round_trip(&broker);
}

Test(fixtures, unix_socket_broker_round_trips_qos1)
{
	struct t_broker_opts o = { .listener = T_BROKER_UNIX };

	cr_assert_eq(t_broker_start(&broker, &o), 0);
	cr_expect_eq(broker.port, 0);
	cr_assert_not_null(broker.sock_path);
	cr_expect_str_eq(broker.host, broker.sock_path);
	plain_round_trip(&broker);
}

/*
 * Make certificates, then start a TLS broker (client certificates required) presenting <server>,
 * which points into <certs>.
 */
static void start_tls_broker(const struct t_cert_pair *server)
{
	struct t_broker_opts o = { .require_certificate = true };

	cr_assert_eq(t_certs_make(&certs), 0);
	o.cafile = certs.ca.cert;
	o.certfile = server->cert;
	o.keyfile = server->key;
	cr_assert_eq(t_broker_start(&broker, &o), 0);
	cr_expect(broker.tls);
}

/* Open <s> as a TLS client trusting <cafile>, presenting the test client certificate. */
static void tls_session_open(struct session *s, const char *id, const char *cafile)
{
	session_open(s, id, true);
	cr_assert_eq(
		mosquitto_tls_set(s->mosq, cafile, NULL, certs.client.cert, certs.client.key, NULL),
		MOSQ_ERR_SUCCESS);
}

Test(fixtures, tls_client_trusting_the_ca_round_trips)
{
	start_tls_broker(&certs.server);
	tls_session_open(&sess[0], "t-sub", certs.ca.cert);
	tls_session_open(&sess[1], "t-pub", certs.ca.cert);
	connect_ok(&sess[0], &broker);
	connect_ok(&sess[1], &broker);
	round_trip("t/tls");
}

Test(fixtures, tls_client_without_certificate_is_refused)
{
	start_tls_broker(&certs.server);
	session_open(&sess[0], "t-nocert", true);
	cr_assert_eq(mosquitto_tls_set(sess[0].mosq, certs.ca.cert, NULL, NULL, NULL, NULL),
		     MOSQ_ERR_SUCCESS);
	connect_refused(&sess[0], &broker);
}

Test(fixtures, tls_client_trusting_another_ca_is_refused)
{
	start_tls_broker(&certs.server);
	tls_session_open(&sess[0], "t-other", certs.other_ca.cert);
	connect_refused(&sess[0], &broker);
	/* Control: the same broker accepts a client that trusts the right CA. */
	tls_session_open(&sess[1], "t-good", certs.ca.cert);
	connect_ok(&sess[1], &broker);
}

Test(fixtures, tls_server_from_unknown_ca_is_refused)
{
	start_tls_broker(&certs.other_server);
	tls_session_open(&sess[0], "t-unknown", certs.ca.cert);
	connect_refused(&sess[0], &broker);
	/* Control: the certificate itself is fine for a client that trusts its CA. */
	tls_session_open(&sess[1], "t-other", certs.other_ca.cert);
	connect_ok(&sess[1], &broker);
}

Test(fixtures, tls_server_for_wrong_host_is_refused)
{
	start_tls_broker(&certs.wrong);
	tls_session_open(&sess[0], "t-wrong", certs.ca.cert);
	connect_refused(&sess[0], &broker);
	/* Control: only the host name is wrong, so skipping that check connects. */
	tls_session_open(&sess[1], "t-insecure", certs.ca.cert);
	cr_assert_eq(mosquitto_tls_insecure_set(sess[1].mosq, true), MOSQ_ERR_SUCCESS);
	connect_ok(&sess[1], &broker);
}

/*
 * A clean_session=false subscriber leaves, three QoS 1 messages are published, the broker is
 * restarted; the subscriber comes back without subscribing again and must get all three.
 */
static void check_session_survives_restart(enum t_broker_listener listener)
{
	struct t_broker_opts o = { .listener = listener, .persistence = true };
	struct session *sub = &sess[0], *pub = &sess[1];
	char payload[MSG_BYTES];
	int port, i;

	cr_assert_eq(t_broker_start(&broker, &o), 0);
	session_open(sub, "t-persistent", false);
	connect_ok(sub, &broker);
	subscribe_ok(sub, "t/persist");
	disconnect_ok(sub);

	session_open(pub, "t-pub", true);
	connect_ok(pub, &broker);
	for (i = 0; i < 3; i++) {
		snprintf(payload, sizeof(payload), "m%d", i);
		publish(pub, "t/persist", payload);
	}
	cr_assert(wait_count(&pub->pubacks, 3), "only %d PUBACKs", pub->pubacks);
	disconnect_ok(pub);

	port = broker.port;
	cr_assert_eq(t_broker_restart(&broker), 0);
	cr_expect_eq(broker.port, port);

	session_open(sub, "t-persistent", false);
	connect_ok(sub, &broker);
	cr_expect(sub->session_present, "broker forgot the session");
	cr_assert(wait_count(&sub->nmsg, 3), "only %d of 3 queued messages", sub->nmsg);
	for (i = 0; i < 3; i++) {
		snprintf(payload, sizeof(payload), "m%d", i);
		cr_expect_str_eq(sub->msg[i], payload);
	}
}

Test(fixtures, tcp_restart_keeps_persistent_session)
{
	check_session_survives_restart(T_BROKER_TCP);
}

Test(fixtures, unix_restart_keeps_persistent_session)
{
	check_session_survives_restart(T_BROKER_UNIX);
}

Test(fixtures, restart_without_persistence_forgets_session)
{
	struct session *sub = &sess[0];

	cr_assert_eq(t_broker_start(&broker, NULL), 0);
	session_open(sub, "t-forgotten", false);
	connect_ok(sub, &broker);
	cr_expect_not(sub->session_present);
	subscribe_ok(sub, "t/forgotten");
	disconnect_ok(sub);
	cr_assert_eq(t_broker_restart(&broker), 0);
	session_open(sub, "t-forgotten", false);
	connect_ok(sub, &broker);
	cr_expect_not(sub->session_present, "session survived a restart without persistence");
}

Test(fixtures, stop_leaves_no_process)
{
	pid_t pid;

	cr_assert_eq(t_broker_start(&broker, NULL), 0);
	pid = broker.pid;
	cr_assert_gt(pid, 0);
	cr_assert_eq(kill(pid, 0), 0);
	cr_assert_eq(t_broker_stop(&broker), 0);
	cr_expect_eq(broker.pid, 0);
	cr_expect(WIFEXITED(broker.wstatus) && WEXITSTATUS(broker.wstatus) == 0, "wait status 0x%x",
		  (unsigned)broker.wstatus);
	errno = 0;
	cr_expect_eq(kill(pid, 0), -1);
	cr_expect_eq(errno, ESRCH);
	cr_expect_eq(t_broker_stop(&broker), 0, "second stop must be a no-op");
	session_open(&sess[0], "t-late", true);
	connect_refused(&sess[0], &broker);
}

Test(fixtures, kill9_then_restart_reuses_unix_socket)
{
	struct t_broker_opts o = { .listener = T_BROKER_UNIX };
	pid_t pid;

	cr_assert_eq(t_broker_start(&broker, &o), 0);
	pid = broker.pid;
	cr_assert_eq(t_broker_kill9(&broker), 0);
	cr_expect(WIFSIGNALED(broker.wstatus) && WTERMSIG(broker.wstatus) == SIGKILL);
	errno = 0;
	cr_expect_eq(kill(pid, 0), -1);
	cr_expect_eq(errno, ESRCH);
	/* The dead broker left its socket file; the new one must still bind the same path. */
	cr_assert_eq(t_broker_restart(&broker), 0);
	plain_round_trip(&broker);
}

Test(fixtures, start_fails_fast_on_bad_config)
{
	struct t_broker_opts o = { .extra_conf = "no_such_option true" };
	uint64_t t0 = t_now_ns();

	cr_assert_eq(t_broker_start(&broker, &o), -ESRCH);
	cr_expect_lt(t_now_ns() - t0, (uint64_t)T_BROKER_START_MS * 1000000ull);
	cr_expect_null(broker.dir, "a failed start must release everything");
	cr_expect_eq(broker.pid, 0);
}

Test(fixtures, certs_are_made_with_private_keys)
{
	struct stat st;

	cr_assert_eq(t_certs_make(&certs), 0);
	cr_assert_eq(stat(certs.server.key, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(stat(certs.other_server.cert, &st), 0);
	cr_expect_gt(st.st_size, 0);
}
