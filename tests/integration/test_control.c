/* SPDX-License-Identifier: MIT */
/*
 * The control socket and the mqttmux CLI against the real daemon, real workers and a real
 * mosquitto broker: `status --json` field by field, `wait` (ready, timeout, unknown session),
 * garbage and overlong lines, a client that never reads, the connection limit, peer uid
 * checks (SO_PEERCRED) and the socket's mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "mqttmux_version.h"
#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"
#include "t_mosq.h"

#define NOBODY 65534

static struct t_broker B;
static char *Dir, *Cfg, *Log, *Run, *Sock;
static pid_t Daemon;
static int Dead_fd = -1; /* bound, never listening: connections to its port are refused */
static int Dead_port;

static void setup(void)
{
	t_daemon_setup("ctl", &Dir, &Log, &Run, &Sock);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
	Dead_port = t_refused_port(&Dead_fd);
}

static void teardown(void)
{
	t_daemon_kill(&Daemon, Log);
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

TestSuite(control, .init = setup, .fini = teardown, .timeout = 60);

/* Sessions "one" and "two" on our broker, "dead" (if <dead>) on a refused port. */
static void write_config(bool dead, const char *clients)
{
	char *text, *dead_block = NULL;

	cr_assert_gt(asprintf(&dead_block,
			      ",\n  { name = \"dead\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"ctl-dead\"; }",
			      Dead_port),
		     0);
	cr_assert_gt(
		asprintf(
			&text,
			"runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n%s\n"
			"sessions = (\n"
			"  { name = \"one\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			" client_id = \"ctl-one\"; subscriptions = ( { topic = \"t/#\"; qos = 1; } ); },\n"
			"  { name = \"two\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			" client_id = \"ctl-two\"; }%s\n);\n",
			Run, Dir, clients ? clients : "", B.port, B.port, dead ? dead_block : ""),
		0);
	free(dead_block);
	free(Cfg);
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	t_write_text(Cfg, text);
	free(text);
}

static void start_daemon(void)
{
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, NULL, NULL);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, 10000), "control socket never answered");
}

#define CLI(out, err, ...)                                               \
	t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err), \
	      (const char *const[]){ __VA_ARGS__, NULL })

static json_object *field(json_object *r, const char *key)
{
	json_object *v = NULL;

	cr_assert(json_object_object_get_ex(r, key, &v), "no field '%s'", key);
	return v;
}

static void expect_exact_fields(json_object *r)
{
	static const char *const keys[] = { "name",
					    "state",
					    "state_code",
					    "broker",
					    "pid",
					    "restarts",
					    "messages_received",
					    "messages_sent",
					    "bytes_received",
					    "bytes_sent",
					    "reconnects",
					    "last_error",
					    "heartbeat_age",
					    "router",
					    "router_error" };
	size_t n = sizeof(keys) / sizeof(keys[0]);

	cr_expect_eq(json_object_object_length(r), (int)n, "%s", json_object_to_json_string(r));
	for (size_t i = 0; i < n; i++)
		cr_expect(json_object_object_get_ex(r, keys[i], NULL), "no '%s'", keys[i]);
}

/* Is <pid> a live worker process serving session <name>? */
static bool worker_serves(int pid, const char *name)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	for (ssize_t i = 0; i + 1 < n; i += (ssize_t)strlen(buf + i) + 1)
		if (!strcmp(buf + i, "--session") && i + 10 < n && !strcmp(buf + i + 10, name))
			return kill(pid, 0) == 0;
	return false;
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
	(void)m;
	(void)mid;
	(*(int *)ud)++;
}

/* Publish <n> QoS 1 messages "hello" to t/x with a plain libmosquitto client. */
static void publish(int n)
{
	uint64_t deadline = t_now_ns() + 5000000000ull;
	struct mosquitto *m;
	int acked = 0;

	mosquitto_lib_init();
	m = mosquitto_new("ctl-pub", true, &acked);
	cr_assert_not_null(m);
	mosquitto_publish_callback_set(m, on_publish);
	cr_assert(t_mosq_connect(m, "127.0.0.1", B.port, 30, 30000), "publisher: no CONNACK");
	for (int i = 0; i < n; i++)
		cr_assert_eq(mosquitto_publish(m, NULL, "t/x", 5, "hello", 1, false), 0);
	while (acked < n && t_now_ns() < deadline)
		mosquitto_loop(m, 50, 1);
	cr_assert_eq(acked, n);
	mosquitto_disconnect(m);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
}

static bool received_at_least(void *ud)
{
	json_object *a = t_status_json(MQTTMUX_CLI_PATH, Run), *r = t_json_row(a, "one");
	bool ok = r && json_object_get_uint64(field(r, "messages_received")) >= *(uint64_t *)ud;

	json_object_put(a);
	return ok;
}

Test(control, status_json_has_every_session_with_the_exact_fields)
{
	char out[8192], err[4096], url[64];
	uint64_t want = 3;
	json_object *a;

	write_config(false, NULL);
	start_daemon();
	cr_assert_eq(CLI(out, err, "wait", "-t", "10"), 0, "%s", err);
	a = t_status_json(MQTTMUX_CLI_PATH, Run);
	cr_assert_eq(json_object_array_length(a), 2);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", B.port);
	for (size_t i = 0; i < 2; i++) {
		json_object *r = json_object_array_get_idx(a, i);
		const char *name = json_object_get_string(field(r, "name"));

		expect_exact_fields(r);
		cr_expect_str_eq(name, i ? "two" : "one");
		cr_expect_str_eq(json_object_get_string(field(r, "state")), "connected");
		cr_expect_eq(json_object_get_int(field(r, "state_code")), 2);
		cr_expect_str_eq(json_object_get_string(field(r, "broker")), url);
		cr_expect(worker_serves(json_object_get_int(field(r, "pid")), name),
			  "pid %d is not the worker of '%s'", json_object_get_int(field(r, "pid")),
			  name);
		cr_expect_eq(json_object_get_int(field(r, "restarts")), 0);
		cr_expect_eq(json_object_get_int(field(r, "reconnects")), 0);
		cr_expect(json_object_is_type(field(r, "last_error"), json_type_null));
	}
	json_object_put(a);
	publish(3);
	cr_expect(t_wait_for(received_at_least, &want, 5000), "messages_received did not grow");
	a = t_status_json(MQTTMUX_CLI_PATH, Run);
	cr_expect_geq(json_object_get_uint64(field(t_json_row(a, "one"), "bytes_received")), 15);
	json_object_put(a);
	cr_assert_eq(CLI(out, err, "status"), 0, "%s", err);
	cr_expect_not_null(strstr(out, "NAME"), "%s", out);
	cr_expect_not_null(strstr(out, "one "), "%s", out);
	cr_expect_not_null(strstr(out, "connected"), "%s", out);
	t_daemon_stop(&Daemon);
}

Test(control, wait_ready_timeout_and_unknown_session)
{
	char out[4096], err[4096];
	uint64_t t0;
	json_object *a;

	write_config(true, NULL);
	start_daemon();
	cr_expect_eq(CLI(out, err, "wait", "-s", "one", "-t", "10"), 0, "%s", err);
	cr_expect_eq(CLI(out, err, "wait", "-s", "two", "-t", "10"), 0, "%s", err);
	t0 = t_now_ns();
	cr_expect_eq(CLI(out, err, "wait", "-s", "dead", "-t", "1"), 1);
	cr_expect_not_null(strstr(err, "timeout"), "%s", err);
	cr_expect_not_null(strstr(err, "dead"), "%s", err);
	cr_expect_geq(t_now_ns() - t0, 900000000ull);
	cr_expect_lt(t_now_ns() - t0, 4000000000ull);
	cr_expect_eq(CLI(out, err, "wait", "-t", "0.5"), 1, "wait for all ignored 'dead'");
	t0 = t_now_ns();
	cr_expect_eq(CLI(out, err, "wait", "-s", "nope", "-t", "30"), 1);
	cr_expect_not_null(strstr(err, "unknown session 'nope'"), "%s", err);
	cr_expect_lt(t_now_ns() - t0, 2000000000ull, "unknown session did not fail fast");
	a = t_status_json(MQTTMUX_CLI_PATH, Run);
	cr_expect_str_eq(json_object_get_string(field(t_json_row(a, "dead"), "state")),
			 "reconnecting");
	cr_expect_eq(json_object_get_int(field(t_json_row(a, "dead"), "state_code")), 3);
	cr_expect(
		json_object_is_type(field(t_json_row(a, "dead"), "last_error"), json_type_string));
	json_object_put(a);
	t_daemon_stop(&Daemon);
}

static void expect_error(const char *reply, const char *needle)
{
	json_object *o = reply ? json_tokener_parse(reply) : NULL, *ok;

	cr_assert_not_null(o, "reply: %s", reply ? reply : "(none)");
	cr_expect(json_object_object_get_ex(o, "ok", &ok) && !json_object_get_boolean(ok), "%s",
		  reply);
	cr_expect_not_null(strstr(reply, needle), "'%s' not in %s", needle, reply);
	json_object_put(o);
}

Test(control, garbage_and_overlong_lines_get_errors_and_the_daemon_stays_responsive)
{
	char big[6000], *r;
	int fd;

	write_config(false, NULL);
	start_daemon();
	fd = t_ctl_connect(Sock);
	cr_assert_geq(fd, 0);
	t_ctl_send(fd, "frobnicate now\n");
	r = t_ctl_read_reply(fd, 5000);
	expect_error(r, "unknown command 'frobnicate'");
	free(r);
	cr_assert_eq(send(fd, "\x01\xff\xfe garbage\n", 12, MSG_NOSIGNAL), 12);
	r = t_ctl_read_reply(fd, 5000);
	expect_error(r, "invalid characters");
	free(r);
	t_ctl_send(fd, "ping\n"); /* the connection is still usable */
	r = t_ctl_read_reply(fd, 5000);
	cr_expect(r && strstr(r, "pong"), "%s", r ? r : "(none)");
	free(r);
	memset(big, 'a', sizeof(big));
	cr_assert_eq(send(fd, big, sizeof(big), MSG_NOSIGNAL), (ssize_t)sizeof(big));
	r = t_ctl_read_reply(fd, 5000);
	expect_error(r, "line too long");
	free(r);
	r = t_ctl_read_reply(fd, 2000);
	cr_expect_null(r, "connection not closed after an overlong line");
	free(r);
	close(fd);
	r = t_ctl_command(Sock, "status\n");
	cr_expect(r && r[0] == '[', "status after garbage: %s", r ? r : "(none)");
	free(r);
	t_daemon_stop(&Daemon);
}

/* status NAME, help and version on the socket, as socat users meet them, and through the CLI. */
Test(control, status_of_one_session_help_and_version)
{
	char out[8192], err[4096];
	json_object *o, *a;
	char *r;

	write_config(false, NULL);
	start_daemon();
	r = t_ctl_command(Sock, "status two\n");
	a = r ? json_tokener_parse(r) : NULL;
	cr_assert(a && json_object_is_type(a, json_type_array), "%s", r ? r : "(none)");
	cr_expect_eq(json_object_array_length(a), 1, "%s", r);
	expect_exact_fields(json_object_array_get_idx(a, 0));
	cr_expect_str_eq(json_object_get_string(field(json_object_array_get_idx(a, 0), "name")),
			 "two");
	json_object_put(a);
	free(r);
	r = t_ctl_command(Sock, "status nope\n");
	expect_error(r, "unknown session 'nope'");
	free(r);
	r = t_ctl_command(Sock, "status one two\n");
	expect_error(r, "usage: status [SESSION]");
	free(r);
	r = t_ctl_command(Sock, "help\n");
	o = r ? json_tokener_parse(r) : NULL;
	cr_assert_not_null(o, "%s", r ? r : "(none)");
	a = field(o, "commands");
	cr_assert(json_object_is_type(a, json_type_array), "%s", r);
	cr_expect_geq(json_object_array_length(a), 11, "%s", r);
	cr_expect_not_null(strstr(r, "\"status [SESSION]\""), "%s", r);
	json_object_put(o);
	free(r);
	r = t_ctl_command(Sock, "version\n");
	o = r ? json_tokener_parse(r) : NULL;
	cr_assert_not_null(o, "%s", r ? r : "(none)");
	cr_expect_str_eq(json_object_get_string(field(o, "version")), MQTTMUX_VERSION);
	json_object_put(o);
	free(r);
	cr_assert_eq(CLI(out, err, "status", "--json", "one"), 0, "%s", err);
	a = json_tokener_parse(out);
	cr_assert(a && json_object_array_length(a) == 1, "%s", out);
	cr_expect_str_eq(json_object_get_string(field(json_object_array_get_idx(a, 0), "name")),
			 "one");
	json_object_put(a);
	cr_assert_eq(CLI(out, err, "status", "two"), 0, "%s", err);
	cr_expect_not_null(strstr(out, "two "), "%s", out);
	cr_expect_null(strstr(out, "one "), "%s", out);
	cr_expect_neq(CLI(out, err, "status", "nope"), 0);
	cr_expect_not_null(strstr(err, "unknown session 'nope'"), "%s", err);
	t_daemon_stop(&Daemon);
}

Test(control, a_client_that_never_reads_and_too_many_clients_do_not_block_the_loop)
{
	int hog, fds[64], n = 0, extra;
	char *r;

	write_config(false, NULL);
	start_daemon();
	hog = t_ctl_connect(Sock);
	cr_assert_geq(hog, 0);
	cr_assert_eq(fcntl(hog, F_SETFL, O_NONBLOCK), 0);
	while (send(hog, "status\n", 7, MSG_NOSIGNAL) == 7)
		;
	r = t_ctl_command(Sock, "ping\n");
	cr_expect(r && strstr(r, "pong"), "blocked by a client that never reads");
	free(r);
	while (n < 63 && (fds[n] = t_ctl_connect(Sock)) >= 0)
		n++;
	cr_expect_eq(n, 63);
	extra = t_ctl_connect(Sock);
	cr_assert_geq(extra, 0);
	r = t_ctl_read_reply(extra, 5000);
	expect_error(r, "too many connections");
	free(r);
	close(extra);
	close(hog);
	while (n > 0)
		close(fds[--n]);
	cr_expect(t_wait_for(t_ctl_pongs, Sock, 5000), "no answer once the connections closed");
	t_daemon_stop(&Daemon);
}

/* As uid/gid nobody, but keeping CAP_DAC_OVERRIDE so the 0660 file mode does not stop us:
 * only the daemon's SO_PEERCRED check is left. Exit 0 refused, 2 answered, 3+ other. */
static int connect_as_nobody(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { { 0 } };
	pid_t pid = fork();
	int st;

	cr_assert_neq(pid, -1);
	if (pid == 0) {
		char *r;
		int fd;

		d[0].effective = d[0].permitted =
			1u << CAP_DAC_OVERRIDE | 1u << CAP_DAC_READ_SEARCH;
		if (prctl(PR_SET_KEEPCAPS, 1) || setgroups(0, NULL) ||
		    setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY) ||
		    syscall(SYS_capset, &h, d))
			_exit(5);
		fd = t_ctl_connect(Sock);
		if (fd < 0)
			_exit(3);
		(void)send(fd, "ping\n", 5, MSG_NOSIGNAL);
		r = t_ctl_read_reply(fd, 5000);
		_exit(r && strstr(r, "permission denied") ? 0 : r && strstr(r, "pong") ? 2 : 4);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

Test(control, a_peer_uid_not_allowed_is_refused)
{
	struct stat st;

	if (geteuid() != 0)
		cr_skip_test("needs root to change uid");
	write_config(false, NULL);
	start_daemon();
	cr_assert_eq(stat(Sock, &st), 0);
	cr_expect(S_ISSOCK(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0660, "mode %o", st.st_mode & 07777);
	cr_expect_eq(connect_as_nobody(), 0, "uid 65534 was not refused");
	cr_expect(t_wait_for(t_ctl_pongs, Sock, 5000));
	t_daemon_stop(&Daemon);
}

Test(control, a_peer_uid_in_allow_uids_is_served)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to change uid");
	write_config(false, "clients = { allow_uids = [ 65534 ]; };");
	start_daemon();
	cr_expect_eq(connect_as_nobody(), 2, "uid 65534 in allow_uids was not served");
	t_daemon_stop(&Daemon);
}

static bool restarted(void *ud)
{
	json_object *a = t_status_json(MQTTMUX_CLI_PATH, Run), *r = t_json_row(a, "one");
	bool ok = json_object_get_int(field(r, "restarts")) == 1 &&
		  json_object_get_int(field(r, "pid")) != *(int *)ud &&
		  worker_serves(json_object_get_int(field(r, "pid")), "one");

	json_object_put(a);
	return ok;
}

Test(control, restart_and_cli_errors)
{
	char out[4096], err[4096];
	json_object *a;
	int pid;

	write_config(false, NULL);
	start_daemon();
	cr_assert_eq(CLI(out, err, "wait", "-t", "10"), 0, "%s", err);
	a = t_status_json(MQTTMUX_CLI_PATH, Run);
	pid = json_object_get_int(field(t_json_row(a, "one"), "pid"));
	json_object_put(a);
	cr_expect_eq(CLI(out, err, "restart", "one"), 0, "%s", err);
	cr_expect(t_wait_for(restarted, &pid, 10000), "session 'one' not restarted");
	cr_expect_eq(CLI(out, err, "wait", "-s", "one", "-t", "10"), 0, "%s", err);
	cr_expect_eq(CLI(out, err, "restart", "nope"), 1);
	cr_expect_eq(CLI(out, err, "ping"), 0, "%s", err);
	cr_expect_str_eq(out, "pong\n");
	cr_expect_eq(CLI(out, err, "frobnicate"), 64);
	cr_expect_eq(CLI(out, err, "wait", "-t", "soon"), 64);
	t_daemon_stop(&Daemon);
	cr_expect_eq(CLI(out, err, "status"), 1);
	cr_expect_not_null(strstr(err, "cannot connect to"), "%s", err);
	cr_expect_not_null(strstr(err, "control.sock"), "%s", err);
}
