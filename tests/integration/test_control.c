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

#include "t_broker.h"
#include "t_helpers.h"

#define NOBODY 65534

static struct t_broker B;
static char *Dir, *Cfg, *Log, *Run, *Sock;
static pid_t Daemon;
static int Dead_fd = -1; /* bound, never listening: connections to its port are refused */
static int Dead_port;

static void setup(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(sa);

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	Dir = t_tmpdir("ctl");
	cr_assert_not_null(Dir);
	cr_assert_gt(asprintf(&Log, "%s/mqttmuxd.log", Dir), 0);
	cr_assert_gt(asprintf(&Run, "%s/run", Dir), 0);
	cr_assert_gt(asprintf(&Sock, "%s/control.sock", Run), 0);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
	Dead_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(Dead_fd, 0);
	cr_assert_eq(bind(Dead_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(Dead_fd, (struct sockaddr *)&sa, &len), 0);
	Dead_port = ntohs(sa.sin_port);
}

static void dump_log(void)
{
	char line[512];
	FILE *f = Log ? fopen(Log, "re") : NULL;

	if (!f)
		return;
	fprintf(stderr, "---- %s ----\n", Log);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

static void teardown(void)
{
	if (Daemon > 0) {
		kill(Daemon, SIGKILL);
		waitpid(Daemon, NULL, 0);
		dump_log();
	}
	Daemon = 0;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (Dead_fd >= 0)
		close(Dead_fd);
	Dead_fd = -1;
	t_broker_free(&B);
	t_rmtree(Dir);
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
	FILE *f;

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
	f = fopen(Cfg, "we");
	cr_assert_not_null(f);
	cr_assert_geq(fputs(text, f), 0);
	cr_assert_eq(fclose(f), 0);
	free(text);
}

static int sock_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", Sock);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* One reply line from <fd> within <ms>, malloc'd without its newline; NULL on EOF/timeout. */
static char *read_reply(int fd, int ms)
{
	uint64_t deadline = t_now_ns() + (uint64_t)ms * 1000000ull;
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	while (t_now_ns() < deadline && len < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, (int)((deadline - t_now_ns()) / 1000000 + 1)) <= 0)
			continue;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strchr(buf, '\n')) {
			*strchr(buf, '\n') = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

static void send_str(int fd, const char *s)
{
	cr_assert_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Send one command on a fresh connection; the reply, or NULL. */
static char *command(const char *line)
{
	int fd = sock_connect();
	char *r;

	if (fd < 0)
		return NULL;
	send_str(fd, line);
	r = read_reply(fd, 5000);
	close(fd);
	return r;
}

static bool pongs(void *ud)
{
	char *r = command("ping\n");
	bool ok = r && strstr(r, "pong");

	(void)ud;
	free(r);
	return ok;
}

static void start_daemon(void)
{
	Daemon = fork();
	cr_assert_neq(Daemon, -1);
	if (Daemon == 0) {
		int fd = open(Log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(127);
		setenv("MQTTMUX_WORKER", MQTTMUX_WORKER_PATH, 1);
		execl(MQTTMUXD_PATH, "mqttmuxd", "-c", Cfg, (char *)NULL);
		_exit(127);
	}
	cr_assert(t_wait_for(pongs, NULL, 10000), "control socket never answered");
}

static void stop_daemon(void)
{
	int st;

	cr_assert_eq(kill(Daemon, SIGTERM), 0);
	cr_assert_eq(waitpid(Daemon, &st, 0), Daemon);
	Daemon = 0;
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %#x", st);
}

static void drain(int fd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
}

/* Run the CLI with -d Run and <args> (NULL-terminated); stdout in <out>, stderr in <err>. */
static int cli(char *out, size_t osize, char *err, size_t esize, const char *const *args)
{
	const char *argv[16] = { "mqttmux", "-d", Run };
	int po[2], pe[2], st, n = 3;
	pid_t pid;

	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	cr_assert_eq(pipe2(po, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(pe, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(MQTTMUX_CLI_PATH, (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	drain(po[0], out, osize);
	drain(pe[0], err, esize);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define CLI(out, err, ...) \
	cli(out, sizeof(out), err, sizeof(err), (const char *const[]){ __VA_ARGS__, NULL })

static json_object *status_json(void)
{
	char out[65536], err[4096];
	json_object *a;

	cr_assert_eq(CLI(out, err, "status", "--json"), 0, "%s", err);
	a = json_tokener_parse(out);
	cr_assert_not_null(a, "not JSON: %s", out);
	cr_assert(json_object_is_type(a, json_type_array), "%s", out);
	return a;
}

static json_object *row(json_object *a, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *r = json_object_array_get_idx(a, i), *n;

		if (json_object_object_get_ex(r, "name", &n) &&
		    !strcmp(json_object_get_string(n), name))
			return r;
	}
	return NULL;
}

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
					    "last_error" };
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
	cr_assert_eq(mosquitto_connect(m, "127.0.0.1", B.port, 30), MOSQ_ERR_SUCCESS);
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
	json_object *a = status_json(), *r = row(a, "one");
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
	a = status_json();
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
	a = status_json();
	cr_expect_geq(json_object_get_uint64(field(row(a, "one"), "bytes_received")), 15);
	json_object_put(a);
	cr_assert_eq(CLI(out, err, "status"), 0, "%s", err);
	cr_expect_not_null(strstr(out, "NAME"), "%s", out);
	cr_expect_not_null(strstr(out, "one "), "%s", out);
	cr_expect_not_null(strstr(out, "connected"), "%s", out);
	stop_daemon();
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
	a = status_json();
	cr_expect_str_eq(json_object_get_string(field(row(a, "dead"), "state")), "reconnecting");
	cr_expect_eq(json_object_get_int(field(row(a, "dead"), "state_code")), 3);
	cr_expect(json_object_is_type(field(row(a, "dead"), "last_error"), json_type_string));
	json_object_put(a);
	stop_daemon();
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
	fd = sock_connect();
	cr_assert_geq(fd, 0);
	send_str(fd, "frobnicate now\n");
	r = read_reply(fd, 5000);
	expect_error(r, "unknown command 'frobnicate'");
	free(r);
	cr_assert_eq(send(fd, "\x01\xff\xfe garbage\n", 12, MSG_NOSIGNAL), 12);
	r = read_reply(fd, 5000);
	expect_error(r, "invalid characters");
	free(r);
	send_str(fd, "ping\n"); /* the connection is still usable */
	r = read_reply(fd, 5000);
	cr_expect(r && strstr(r, "pong"), "%s", r ? r : "(none)");
	free(r);
	memset(big, 'a', sizeof(big));
	cr_assert_eq(send(fd, big, sizeof(big), MSG_NOSIGNAL), (ssize_t)sizeof(big));
	r = read_reply(fd, 5000);
	expect_error(r, "line too long");
	free(r);
	r = read_reply(fd, 2000);
	cr_expect_null(r, "connection not closed after an overlong line");
	free(r);
	close(fd);
	r = command("status\n");
	cr_expect(r && r[0] == '[', "status after garbage: %s", r ? r : "(none)");
	free(r);
	stop_daemon();
}

Test(control, a_client_that_never_reads_and_too_many_clients_do_not_block_the_loop)
{
	int hog, fds[64], n = 0, extra;
	char *r;

	write_config(false, NULL);
	start_daemon();
	hog = sock_connect();
	cr_assert_geq(hog, 0);
	cr_assert_eq(fcntl(hog, F_SETFL, O_NONBLOCK), 0);
	while (send(hog, "status\n", 7, MSG_NOSIGNAL) == 7)
		;
	r = command("ping\n");
	cr_expect(r && strstr(r, "pong"), "blocked by a client that never reads");
	free(r);
	while (n < 63 && (fds[n] = sock_connect()) >= 0)
		n++;
	cr_expect_eq(n, 63);
	extra = sock_connect();
	cr_assert_geq(extra, 0);
	r = read_reply(extra, 5000);
	expect_error(r, "too many connections");
	free(r);
	close(extra);
	close(hog);
	while (n > 0)
		close(fds[--n]);
	cr_expect(t_wait_for(pongs, NULL, 5000), "no answer once the connections closed");
	stop_daemon();
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
		fd = sock_connect();
		if (fd < 0)
			_exit(3);
		(void)send(fd, "ping\n", 5, MSG_NOSIGNAL);
		r = read_reply(fd, 5000);
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
	cr_expect(t_wait_for(pongs, NULL, 5000));
	stop_daemon();
}

Test(control, a_peer_uid_in_allow_uids_is_served)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to change uid");
	write_config(false, "clients = { allow_uids = [ 65534 ]; };");
	start_daemon();
	cr_expect_eq(connect_as_nobody(), 2, "uid 65534 in allow_uids was not served");
	stop_daemon();
}

static bool restarted(void *ud)
{
	json_object *a = status_json(), *r = row(a, "one");
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
	a = status_json();
	pid = json_object_get_int(field(row(a, "one"), "pid"));
	json_object_put(a);
	cr_expect_eq(CLI(out, err, "restart", "one"), 0, "%s", err);
	cr_expect(t_wait_for(restarted, &pid, 10000), "session 'one' not restarted");
	cr_expect_eq(CLI(out, err, "wait", "-s", "one", "-t", "10"), 0, "%s", err);
	cr_expect_eq(CLI(out, err, "restart", "nope"), 1);
	cr_expect_eq(CLI(out, err, "ping"), 0, "%s", err);
	cr_expect_str_eq(out, "pong\n");
	cr_expect_eq(CLI(out, err, "frobnicate"), 64);
	cr_expect_eq(CLI(out, err, "wait", "-t", "soon"), 64);
	stop_daemon();
	cr_expect_eq(CLI(out, err, "status"), 1);
	cr_expect_not_null(strstr(err, "cannot connect to"), "%s", err);
	cr_expect_not_null(strstr(err, "control.sock"), "%s", err);
}
