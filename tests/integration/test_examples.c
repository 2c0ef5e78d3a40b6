/* SPDX-License-Identifier: MIT */
/*
 * The programs of examples/ against a live daemon, so they cannot rot: mqttmuxd with two
 * sessions on a real broker, "plant" on MQTT 3.1.1 and "cloud" on MQTT 5, and each example
 * run as a user would run it ($MQTTMUX_RUNTIME_DIR set, nothing else). An example exits 0 only
 * when it did what its header says; its output is checked for the lines that prove it. The
 * TLS example gets its own TLS broker (client certificates required) and the session file of
 * examples/tls-session.cfg with the paths filled in.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "t_broker.h"
#include "t_certs.h"
#include "t_daemon.h"
#include "t_helpers.h"

#define EXAMPLE_MS 60000

static struct t_broker B;
static char *Dir, *Log, *Run, *Sock, *Cfg;
static pid_t Daemon;

static void setup(void)
{
	t_daemon_setup("examples", &Dir, &Log, &Run, &Sock);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
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
}

TestSuite(examples, .init = setup, .fini = teardown, .timeout = 180);

/* The daemon with "plant" (3.1.1) and "cloud" (5) on broker B, every session ready. */
static void start_daemon(void)
{
	char *text, out[4096], err[4096];

	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			      "sessions = (\n"
			      "  { name = \"plant\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"ex-plant\"; },\n"
			      "  { name = \"cloud\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"ex-cloud\"; protocol = \"5\"; }\n);\n",
			      Run, Dir, B.port, B.port),
		     0);
	t_write_text(Cfg, text);
	free(text);
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, NULL, "-f");
	cr_assert(t_wait_for(t_ctl_pongs, Sock, 20000), "mqttmuxd did not come up");
	cr_assert_eq(t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
			   (const char *const[]){ "wait", "-t", "30", NULL }),
		     0, "sessions not ready: %s", err);
}

/*
 * Run examples/<name> with <args> (NULL-terminated) and $MQTTMUX_RUNTIME_DIR = Run; its
 * stdout and stderr into <out>. Returns its exit status (128 + signal if killed, also after
 * EXAMPLE_MS).
 */
static int run_example(const char *name, const char *const *args, char *out, size_t size)
{
	const char *argv[8] = { name };
	uint64_t deadline = t_now_ns() + EXAMPLE_MS * 1000000ull;
	char path[4096], *log;
	int st, n = 1, fd;
	pid_t pid;

	while (*args && n < 7)
		argv[n++] = *args++;
	argv[n] = NULL;
	snprintf(path, sizeof(path), "%s/example-%s", EXAMPLES_DIR, name);
	cr_assert_gt(asprintf(&log, "%s/%s.out", Dir, name), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
			_exit(127);
		setenv("MQTTMUX_RUNTIME_DIR", Run, 1);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &st, WNOHANG) != pid) {
		if (t_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		usleep(10000);
	}
	fd = open(log, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? 0 : (int)read(fd, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	free(log);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void expect_example(const char *name, const char *const *args, const char *needle)
{
	char out[65536];
	int st = run_example(name, args, out, sizeof(out));

	cr_expect_eq(st, 0, "example %s exited %d:\n%s", name, st, out);
	if (needle)
		cr_expect_not_null(strstr(out, needle), "example %s: no '%s' in:\n%s", name, needle,
				   out);
}

Test(examples, quickstart_receives_what_it_publishes_on_3_1_1_and_5)
{
	start_daemon();
	expect_example("quickstart", (const char *const[]){ "plant", NULL },
		       "[plant] sensors/room1/temperature = 23.5");
	expect_example("quickstart", (const char *const[]){ "cloud", NULL },
		       "[cloud] sensors/room1/temperature = 23.5");
}

Test(examples, handle_to_routes_see_only_their_session)
{
	start_daemon();
	expect_example("handle_to", (const char *const[]){ "plant", "cloud", NULL },
		       "route of 'cloud' got [cloud] examples/handle_to/t hello");
}

Test(examples, listen_and_listen_to_in_a_poll_loop)
{
	start_daemon();
	expect_example("listen", (const char *const[]){ "cloud", "5", NULL },
		       "listen_to: [cloud] examples/listen/4 reading 4");
}

Test(examples, events_follow_a_session_restart)
{
	start_daemon();
	expect_example("events", (const char *const[]){ "plant", NULL },
		       "session_ready            session=plant");
}

Test(examples, metrics_as_struct_and_prometheus_text)
{
	start_daemon();
	expect_example("metrics", (const char *const[]){ NULL }, "plant        connected");
	expect_example("metrics", (const char *const[]){ "--prometheus", NULL },
		       "mqtt_session_connected{session=\"cloud\"} 1");
}

Test(examples, request_response_over_mqtt5_and_refused_on_3_1_1)
{
	char out[65536];

	start_daemon();
	expect_example("request_response", (const char *const[]){ "cloud", "3", NULL },
		       "3 of 3 requests answered");
	cr_expect_neq(run_example("request_response", (const char *const[]){ "plant", NULL }, out,
				  sizeof(out)),
		      0, "a 3.1.1 session carried MQTT 5 properties:\n%s", out);
	cr_expect_not_null(strstr(out, "Protocol not supported"), "%s", out);
}

/* examples/<name> with each @KEY@ of <subst> (pairs, NULL-terminated) replaced: a new file. */
static char *fill_template(const char *name, const char *const *subst)
{
	char src[4096], *text, *path;
	FILE *f;
	size_t len = 0;

	snprintf(src, sizeof(src), "%s/%s", EXAMPLES_SRC, name);
	f = fopen(src, "re");
	cr_assert_not_null(f, "%s: %s", src, strerror(errno));
	text = calloc(1, 1 << 16);
	cr_assert_not_null(text);
	len = fread(text, 1, (1 << 16) - 1, f);
	fclose(f);
	text[len] = '\0';
	for (const char *const *s = subst; *s; s += 2) {
		char *at;

		while ((at = strstr(text, s[0]))) {
			char *rest = strdup(at + strlen(s[0]));

			cr_assert_not_null(rest);
			cr_assert_lt(strlen(text) + strlen(s[1]), (size_t)(1 << 16) - 1);
			strcpy(at, s[1]);
			strcat(text, rest);
			free(rest);
		}
	}
	cr_assert_gt(asprintf(&path, "%s/%s", Dir, name), 0);
	t_write_text(path, text);
	free(text);
	return path;
}

Test(examples, tls_session_is_added_and_round_trips_over_tls)
{
	struct t_broker_opts o = { .require_certificate = true };
	struct t_broker tls = { 0 };
	struct t_certs certs = { 0 };
	char port[16], *file;

	cr_assert_eq(t_certs_make(&certs), 0);
	o.cafile = certs.ca.cert;
	o.certfile = certs.server.cert;
	o.keyfile = certs.server.key;
	cr_assert_eq(t_broker_start(&tls, &o), 0);
	snprintf(port, sizeof(port), "%d", tls.port);
	file = fill_template("tls-session.cfg",
			     (const char *const[]){ "@PORT@", port, "@CA@", certs.ca.cert, "@CERT@",
						    certs.client.cert, "@KEY@", certs.client.key,
						    NULL });
	start_daemon();
	expect_example("tls_session", (const char *const[]){ file, "secure", NULL },
		       "[secure] examples/tls/hello over TLS");
	free(file);
	t_broker_free(&tls);
	t_certs_free(&certs);
}

Test(examples, persistent_session_loses_nothing_across_a_restart)
{
	char port[16], *file;

	snprintf(port, sizeof(port), "%d", B.port);
	file = fill_template("persistent-session.cfg",
			     (const char *const[]){ "@PORT@", port, NULL });
	start_daemon();
	expect_example("persistent_session",
		       (const char *const[]){ file, "durable", "plant", "10", NULL },
		       "10 of 10 message(s) arrived across the restart");
	free(file);
}
