/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux's session and metrics API against the real daemon, real workers and a real
 * mosquitto broker: mqttmux_session_list / _status, mqttmux_wait_session (ready, timeout,
 * unknown session), mqttmux_wait_all_sessions, mqttmux_session_add / _remove / _restart with
 * good and bad input, the typed metrics snapshot against messages the broker delivered, the
 * Prometheus text, and every call without a daemon. A fake daemon (a forked process on
 * control.sock that answers one command with canned bytes) feeds the parser the golden metrics
 * text (escaped labels) and broken replies.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "mqttmux.h"
#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"
#include "t_mosq.h"

#define NMSG 25

static struct t_broker B;
static char *Dir, *Cfg, *Log, *Run, *Sock;
static pid_t Daemon;
static int Dead_fd = -1; /* bound, never listening: connections to its port are refused */
static int Dead_port;

static void setup(void)
{
	t_daemon_setup("sapi", &Dir, &Log, &Run, &Sock);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
	Dead_port = t_refused_port(&Dead_fd);
}

static void teardown(void)
{
	if (Dead_fd >= 0)
		close(Dead_fd);
	Dead_fd = -1;
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	free(Dir);
	free(Cfg);
	free(Log);
	free(Run);
	free(Sock);
	Dir = Cfg = Log = Run = Sock = NULL;
}

TestSuite(session_api, .init = setup, .fini = teardown, .timeout = 90);

/* Sessions "one" (subscribed to t/#) and "two" on our broker; "dead" on a refused port. */
static void start_daemon(bool dead)
{
	char *text, *dead_block = NULL;

	cr_assert_gt(asprintf(&dead_block,
			      ",\n  { name = \"dead\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"sapi-dead\"; }",
			      Dead_port),
		     0);
	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			      "sessions = (\n"
			      "  { name = \"one\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"sapi-one\";"
			      " subscriptions = ( { topic = \"t/#\"; qos = 1; } ); },\n"
			      "  { name = \"two\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"sapi-two\"; }%s\n);\n",
			      Run, Dir, B.port, B.port, dead ? dead_block : ""),
		     0);
	free(dead_block);
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	t_write_text(Cfg, text);
	free(text);
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, NULL, NULL);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, 10000), "control socket never answered");
}

/* A file with one session block "<name>" (plus <extra> lines); its path, malloc'd. */
static char *session_file(const char *name, const char *extra)
{
	char *path, *text;

	cr_assert_gt(asprintf(&path, "%s/%s.sess", Dir, name), 0);
	cr_assert_gt(asprintf(&text,
			      "session = {\n  name = \"%s\";\n"
			      "  brokers = [ \"tcp://127.0.0.1:%d\" ];\n"
			      "  client_id = \"sapi-%s\";\n%s};\n",
			      name, B.port, name, extra ? extra : ""),
		     0);
	t_write_text(path, text);
	free(text);
	return path;
}

static bool listed(const char *name)
{
	char **names = NULL;
	size_t n = 0;
	bool found = false;

	cr_assert_eq(mqttmux_session_list(Run, &names, &n), 0);
	for (size_t i = 0; i < n; i++)
		found |= !strcmp(names[i], name);
	mqttmux_session_list_free(names, n);
	return found;
}

Test(session_api, list_status_and_wait_all)
{
	struct mqttmux_session_status *st = NULL;
	char **names = NULL, broker[64];
	size_t n = 0;

	start_daemon(false);
	cr_assert_eq(mqttmux_wait_all_sessions(Run, 15000), 0);
	cr_assert_eq(mqttmux_wait_session(Run, "one", 0), 0, "ready, so 0 ms is enough");
	cr_assert_eq(mqttmux_session_list(Run, &names, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(names[0], "one");
	cr_expect_str_eq(names[1], "two");
	mqttmux_session_list_free(names, n);

	cr_assert_eq(mqttmux_session_status(Run, &st, &n), 0);
	cr_assert_eq(n, 2);
	snprintf(broker, sizeof(broker), "tcp://127.0.0.1:%d", B.port);
	for (size_t i = 0; i < n; i++) {
		cr_expect_str_eq(st[i].name, i ? "two" : "one");
		cr_expect_str_eq(st[i].state, "connected");
		cr_expect_eq(st[i].state_code, MQTTMUX_STATE_CONNECTED);
		cr_expect_not_null(st[i].broker);
		if (st[i].broker)
			cr_expect_str_eq(st[i].broker, broker);
		cr_expect_gt(st[i].pid, 0);
		cr_expect_eq(kill((pid_t)st[i].pid, 0), 0, "pid %lld", (long long)st[i].pid);
		cr_expect_eq(st[i].restarts, 0);
		cr_expect_null(st[i].last_error);
	}
	mqttmux_session_status_free(st, n);
	t_daemon_stop(&Daemon);
}

Test(session_api, wait_names_what_is_wrong)
{
	struct mqttmux_session_status *st = NULL;
	size_t n = 0;

	start_daemon(true);
	cr_assert_eq(mqttmux_wait_session(Run, "one", 15000), 0);
	cr_expect_eq(mqttmux_wait_session(Run, "nope", 1000), -ENOENT);
	cr_expect_eq(mqttmux_wait_session(Run, "dead", 300), -ETIMEDOUT);
	cr_expect_eq(mqttmux_wait_all_sessions(Run, 300), -ETIMEDOUT);
	cr_expect_eq(mqttmux_wait_session(Run, "two words", 100), -EINVAL);
	cr_expect_eq(mqttmux_wait_session(Run, "", 100), -EINVAL);
	cr_expect_eq(mqttmux_wait_session(Run, NULL, 100), -EINVAL);
	cr_assert_eq(mqttmux_session_status(Run, &st, &n), 0);
	cr_assert_eq(n, 3);
	cr_expect_str_eq(st[2].name, "dead");
	cr_expect_neq(st[2].state_code, MQTTMUX_STATE_CONNECTED);
	mqttmux_session_status_free(st, n);
	cr_expect_eq(mqttmux_session_list(Run, NULL, &n), -EINVAL);
	cr_expect_eq(mqttmux_session_status(Run, NULL, &n), -EINVAL);
	t_daemon_stop(&Daemon);
}

static bool unlisted(void *name)
{
	return !listed(name);
}

static bool new_worker(void *ud)
{
	struct mqttmux_session_status *st = NULL;
	int64_t old = *(int64_t *)ud;
	size_t n = 0;
	bool ok;

	if (mqttmux_session_status(Run, &st, &n) < 0 || !n)
		return false;
	ok = st[0].pid > 0 && st[0].pid != old && st[0].restarts == 1;
	mqttmux_session_status_free(st, n);
	return ok;
}

Test(session_api, add_restart_remove)
{
	char *extra = session_file("extra", NULL),
	     *bad = session_file("bad", "  keepalive = \"x\";\n");
	char *dup = session_file("one", NULL), *missing;
	struct mqttmux_session_status *st = NULL;
	int64_t old;
	size_t n = 0;
	int r;

	cr_assert_gt(asprintf(&missing, "%s/no-such.sess", Dir), 0);
	start_daemon(false);
	cr_assert_eq(mqttmux_wait_all_sessions(Run, 15000), 0);

	cr_assert_eq(mqttmux_session_add(Run, extra), 0);
	cr_expect_eq(mqttmux_wait_session(Run, "extra", 15000), 0);
	cr_expect(listed("extra"));
	cr_expect_eq(mqttmux_session_add(Run, bad), -EINVAL);
	cr_expect_eq(mqttmux_session_add(Run, dup), -EINVAL, "a name already running");
	cr_expect_eq(mqttmux_session_add(Run, missing), -ENOENT);
	cr_expect_eq(mqttmux_session_add(Run, NULL), -EINVAL);
	cr_expect(!listed("bad"));

	cr_assert_eq(mqttmux_session_status(Run, &st, &n), 0);
	cr_assert_geq(n, 1);
	old = st[0].pid;
	mqttmux_session_status_free(st, n);
	cr_assert_eq(mqttmux_session_restart(Run, "one"), 0);
	cr_expect(t_wait_for(new_worker, &old, 10000), "no new worker for 'one'");
	cr_expect_eq(mqttmux_wait_session(Run, "one", 15000), 0);
	cr_expect_eq(mqttmux_session_restart(Run, "nope"), -ENOENT);

	/* Removed: listed (state closed) until its worker has exited. */
	cr_assert_eq(mqttmux_session_remove(Run, "extra"), 0);
	cr_expect(t_wait_for(unlisted, (void *)"extra", 10000), "'extra' still listed");
	cr_expect_eq(mqttmux_session_remove(Run, "extra"), -ENOENT);
	cr_expect_eq(mqttmux_session_remove(Run, "a\nb"), -EINVAL);
	/* A session of the config file cannot come back through add once removed. */
	cr_assert_eq(mqttmux_session_remove(Run, "two"), 0);
	cr_expect(t_wait_for(unlisted, (void *)"two", 10000), "'two' still listed");
	free(dup);
	dup = session_file("two", NULL);
	r = mqttmux_session_add(Run, dup);
	cr_expect_eq(r, -EEXIST, "%s", strerror(-r));
	t_daemon_stop(&Daemon);
	free(extra);
	free(bad);
	free(dup);
	free(missing);
}

/* Publish NMSG QoS 1 messages on t/<i> to our broker with a plain libmosquitto client. */
static void publish_some(void)
{
	struct mosquitto *m;

	mosquitto_lib_init();
	m = mosquitto_new("sapi-pub", true, NULL);
	cr_assert_not_null(m);
	cr_assert(t_mosq_connect(m, "127.0.0.1", B.port, 30, 30000), "publisher: no CONNACK");
	for (int i = 0; i < NMSG; i++) {
		char topic[32];

		snprintf(topic, sizeof(topic), "t/%d", i);
		cr_assert_eq(mosquitto_publish(m, NULL, topic, 5, "hello", 1, false),
			     MOSQ_ERR_SUCCESS);
	}
	for (int i = 0; i < 50; i++)
		(void)mosquitto_loop(m, 20, 1);
	mosquitto_disconnect(m);
	(void)mosquitto_loop(m, 20, 1);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
}

static bool received_all(void *ud)
{
	struct mqttmux_metrics **m = ud;

	mqttmux_metrics_free(*m);
	*m = NULL;
	return mqttmux_metrics(Run, m) == 0 && (*m)->n_sessions == 2 &&
	       (*m)->sessions[0].messages_received >= NMSG;
}

Test(session_api, metrics_snapshot_and_prometheus_text)
{
	struct mqttmux_metrics *m = NULL;
	const struct mqttmux_session_metrics *one, *two;
	char *text = NULL;

	start_daemon(false);
	cr_assert_eq(mqttmux_wait_all_sessions(Run, 15000), 0);
	publish_some();
	cr_assert(t_wait_for(received_all, &m, 10000), "the metrics never showed %d messages",
		  NMSG);
	one = &m->sessions[0];
	two = &m->sessions[1];
	cr_expect_str_eq(one->name, "one");
	cr_expect_str_eq(two->name, "two");
	cr_expect_eq(one->messages_received, NMSG);
	cr_expect_eq(one->bytes_received, 5 * NMSG);
	cr_expect_eq(two->messages_received, 0);
	cr_expect(one->connected && two->connected);
	cr_expect_eq(one->status, MQTTMUX_STATE_CONNECTED, "ready: connected, as status says");
	cr_expect_eq(one->subscriptions, 1);
	cr_expect_gt(one->in_ring_size, 0);
	cr_expect_gt(one->last_message_time, 1e9);
	cr_expect(!one->failed && !one->persistent && one->auto_reconnect);
	cr_expect_eq(m->active_sessions, 2);
	cr_expect_geq(m->total_messages, NMSG);
	cr_expect_geq(m->total_bytes, 5 * NMSG);
	cr_expect_gt(m->uptime_seconds, 0);

	cr_assert_eq(mqttmux_metrics_prometheus(Run, &text), 0);
	cr_expect_not_null(strstr(text, "# TYPE mqtt_session_messages_received_total counter"));
	cr_expect_not_null(strstr(text, "mqtt_session_messages_received_total{session=\"one\"}"));
	cr_expect_null(strstr(text, "# EOF"), "the end marker is not part of the text");
	free(text);
	mqttmux_metrics_free(m);
	cr_expect_eq(mqttmux_metrics(Run, NULL), -EINVAL);
	cr_expect_eq(mqttmux_metrics_prometheus(Run, NULL), -EINVAL);
	t_daemon_stop(&Daemon);
}

/* Every call on a runtime_dir without a daemon fails with -ENOENT, nothing is allocated. */
Test(session_api, no_daemon)
{
	struct mqttmux_session_status *st = (void *)1;
	struct mqttmux_metrics *m = (void *)1;
	char **names = (void *)1, *text = (void *)1;
	size_t n = 7;

	cr_expect_eq(mqttmux_session_list(Run, &names, &n), -ENOENT);
	cr_expect_null(names);
	cr_expect_eq(n, 0);
	cr_expect_eq(mqttmux_session_status(Run, &st, &n), -ENOENT);
	cr_expect_null(st);
	cr_expect_eq(mqttmux_metrics(Run, &m), -ENOENT);
	cr_expect_null(m);
	cr_expect_eq(mqttmux_metrics_prometheus(Run, &text), -ENOENT);
	cr_expect_null(text);
	cr_expect_eq(mqttmux_wait_all_sessions(Run, 100), -ENOENT);
	cr_expect_eq(mqttmux_session_remove(Run, "one"), -ENOENT);
}

/*
 * A fake mqttmuxd: a forked process listening on Run/control.sock that reads one command line,
 * answers <len> bytes of <reply> and exits 0 (1 if anything failed). Returns its pid.
 */
static pid_t fake_daemon(const char *reply, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd;
	pid_t pid;

	cr_assert_eq(mkdir(Run, 0700), 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", Sock);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(lfd, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int fd = accept(lfd, NULL, NULL);
		char c = 0;

		while (fd >= 0 && c != '\n' && read(fd, &c, 1) == 1)
			;
		_exit(fd < 0 || send(fd, reply, len, MSG_NOSIGNAL) != (ssize_t)len);
	}
	close(lfd);
	return pid;
}

static void fake_done(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fake daemon status %#x", st);
}

static char *read_golden(size_t *len)
{
	FILE *f = fopen(MQTTMUX_TEST_DATA "/metrics/full.txt", "re");
	char *text = malloc(1 << 20);

	cr_assert_not_null(f);
	cr_assert_not_null(text);
	*len = fread(text, 1, (1 << 20) - 16, f);
	fclose(f);
	memcpy(text + *len, "# EOF\n", 6);
	*len += 6;
	return text;
}

/* The golden metrics text (tests/data/metrics/full.txt), escaped session label included. */
Test(session_api, metrics_parse_the_golden_text)
{
	struct mqttmux_metrics *m = NULL;
	const struct mqttmux_session_metrics *a, *w;
	size_t len;
	char *text = read_golden(&len);
	pid_t pid = fake_daemon(text, len);

	cr_assert_eq(mqttmux_metrics(Run, &m), 0);
	fake_done(pid);
	free(text);
	cr_assert_eq(m->n_sessions, 2);
	a = &m->sessions[0];
	w = &m->sessions[1];
	cr_expect_str_eq(a->name, "alpha");
	cr_expect_str_eq(w->name, "we\"ird\\name\nx");
	cr_expect_eq(a->messages_sent, 10);
	cr_expect_eq(a->messages_received, 1000);
	cr_expect_eq(a->bytes_received, 64000);
	cr_expect_eq(a->subscriptions, 2);
	cr_expect(a->connected && a->persistent && a->auto_reconnect && !a->clean_session);
	cr_expect_eq(a->status, 3);
	cr_expect_eq(a->in_ring_size, 1048576);
	cr_expect_eq(a->oversize_dropped, 4);
	cr_expect_eq(a->publish_ok, 10);
	cr_expect_eq(a->publish_failed, 0);
	cr_expect(a->message_rate > 1000.4 && a->message_rate < 1000.6, "%f", a->message_rate);
	cr_expect(a->last_message_time > 1727604812.1, "%f", a->last_message_time);
	cr_expect_eq(w->errors, 3);
	cr_expect_eq(w->reconnects, 2);
	cr_expect_eq(w->restarts, 1);
	cr_expect(w->failed && !w->connected);
	cr_expect_eq(w->status, 5);
	cr_expect_eq(w->publish_failed, 1);
	cr_expect_eq(m->active_sessions, 2);
	cr_expect_eq(m->total_messages, 1117);
	cr_expect_eq(m->total_bytes, 65230);
	cr_expect_eq(m->error_count, 4);
	cr_expect_eq(m->reconnect_count, 3);
	cr_expect(m->uptime_seconds > 3600.4 && m->uptime_seconds < 3600.6);
	cr_expect_eq(m->router_messages, 1007);
	cr_expect_eq(m->router_fanout, 1110);
	cr_expect_eq(m->router_restarts, 1);
	mqttmux_metrics_free(m);
}

struct bad_reply {
	const char *reply;
	int want;
};

/* Broken or hostile replies: an errno, never a crash. */
Test(session_api, bad_replies_are_errors)
{
	static const struct bad_reply cases[] = {
		{ "not json\n", -EPROTO },
		{ "{\"ok\":false,\"error\":\"unknown session 'x'\"}\n", -ENOENT },
		{ "{\"ok\":false,\"error\":\"wait: mqttmuxd is stopping\"}\n", -ESHUTDOWN },
		{ "{\"ok\":false}\n", -EIO },
		{ "{\"ok\":true", -ECONNRESET }, /* no newline before EOF */
		{ "", -ECONNRESET },
	};
	static const char *const status_bad[] = {
		"{\"ok\":true}\n",		 /* not an array */
		"[{\"state\":\"connected\"}]\n", /* no name */
		"[1,2]\n",
	};
	struct mqttmux_session_status *st = (void *)1;
	struct mqttmux_metrics *m = (void *)1;
	size_t n = 5;
	pid_t pid;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pid = fake_daemon(cases[i].reply, strlen(cases[i].reply));
		cr_expect_eq(mqttmux_wait_session(Run, "x", 1000), cases[i].want, "reply '%s'",
			     cases[i].reply);
		fake_done(pid);
		cr_assert_eq(unlink(Sock), 0);
		cr_assert_eq(rmdir(Run), 0);
	}
	for (size_t i = 0; i < sizeof(status_bad) / sizeof(status_bad[0]); i++) {
		pid = fake_daemon(status_bad[i], strlen(status_bad[i]));
		cr_expect_eq(mqttmux_session_status(Run, &st, &n), -EPROTO, "%s", status_bad[i]);
		cr_expect_null(st);
		cr_expect_eq(n, 0);
		fake_done(pid);
		cr_assert_eq(unlink(Sock), 0);
		cr_assert_eq(rmdir(Run), 0);
	}
	pid = fake_daemon("garbage\n# EOF\n", 14);
	cr_expect_eq(mqttmux_metrics(Run, &m), -EPROTO);
	cr_expect_null(m);
	fake_done(pid);
}
