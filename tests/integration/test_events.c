/* SPDX-License-Identifier: MIT */
/*
 * Session events against the real daemon, real workers and a real mosquitto broker: the whole
 * ordered sequence of one session's life (added, connecting, connected, ready; the broker
 * restarts: disconnected, reconnecting, connecting, connected, ready; removed) as an `events`
 * reader on the control socket sees it, and as `mqttmux events` prints it; the data of each
 * event; and the errors of a bad `events` command. The order rules are in docs/events.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mqttmux.h"
#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"

#define MAX_EVENTS 256

static struct t_broker B;
static char *Dir, *Cfg, *Log, *Run, *Sock, *File;
static pid_t Daemon;

/* The events of session Want seen so far, parsed, how many of others, a partial line. */
static const char *Want = "ev";
static json_object *Ev[MAX_EVENTS];
static size_t NEv, Others;
static char Buf[1 << 16];
static size_t BufLen;

static const struct t_broker_opts Broker_opts = {
	.extra_conf = "max_inflight_messages 0\nmax_queued_messages 0\n"
};

/* Session "base" in the config file; "ev" comes and goes at run time (File). */
static void setup(void)
{
	char *text;

	t_daemon_setup("events", &Dir, &Log, &Run, &Sock);
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	cr_assert_gt(asprintf(&File, "%s/ev.cfg", Dir), 0);
	/* an unlimited queue: mosquitto would otherwise drop QoS 0 floods (docs/worker.md) */
	cr_assert_eq(t_broker_start(&B, &Broker_opts), 0);
	cr_assert_gt(
		asprintf(&text,
			 "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n"
			 "restart = { initial = 0.05; max = 0.5; burst = 3; window = 60.0; };\n"
			 "sessions = ( { name = \"base\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			 " client_id = \"ev-base\"; } );\n",
			 Run, Dir, B.port),
		0);
	t_write_text(Cfg, text);
	free(text);
	cr_assert_gt(
		asprintf(
			&text,
			"session = {\n  name = \"ev\";\n"
			"  brokers = [ \"tcp://127.0.0.1:%d\" ];\n"
			"  client_id = \"ev-client\";\n"
			"  subscriptions = ( { topic = \"ev/#\"; qos = 1; } );\n"
			"  reconnect = { initial = 0.2; max = 1.0; factor = 2.0; jitter = 0.1; };\n"
			"};\n",
			B.port),
		0);
	t_write_text(File, text);
	free(text);
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, NULL, NULL);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, 10000), "control socket never answered");
}

static void teardown(void)
{
	for (size_t i = 0; i < NEv; i++)
		json_object_put(Ev[i]);
	NEv = BufLen = Others = 0;
	Want = "ev";
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	free(Dir);
	free(Cfg);
	free(Log);
	free(Run);
	free(Sock);
	free(File);
	Dir = Cfg = Log = Run = Sock = File = NULL;
}

TestSuite(events, .init = setup, .fini = teardown, .timeout = 120);

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "";
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	cr_assert(json_object_object_get_ex(o, key, &v), "no '%s' in %s", key,
		  json_object_to_json_string(o));
	return v;
}

/* Keep one event line if it is about Want; every line must be a well-formed event. */
static void take_line(const char *line)
{
	regex_t re;
	json_object *o = json_tokener_parse(line);

	cr_assert_not_null(o, "not JSON: %s", line);
	cr_assert(json_object_is_type(get(o, "data"), json_type_object), "%s", line);
	cr_assert_eq(regcomp(&re,
			     "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
			     REG_EXTENDED | REG_NOSUB),
		     0);
	cr_assert_eq(regexec(&re, get_str(o, "time"), 0, NULL, 0), 0, "time in %s", line);
	regfree(&re);
	if (strcmp(get_str(o, "session"), Want) || NEv == MAX_EVENTS) {
		Others++;
		json_object_put(o);
		return;
	}
	Ev[NEv++] = o;
}

static bool has(const char *type, size_t from)
{
	for (size_t i = from; i < NEv; i++)
		if (!strcmp(get_str(Ev[i], "type"), type))
			return true;
	return false;
}

/*
 * Read events from <fd> until an event <type> of Want at index >= <from> arrives (true) or
 * <ms> pass (false).
 */
static bool read_for(int fd, const char *type, size_t from, int ms)
{
	uint64_t deadline = t_now_ns() + (uint64_t)ms * 1000000ull;
	char *nl;

	while (!has(type, from)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (t_now_ns() >= deadline)
			return false;
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, Buf + BufLen, sizeof(Buf) - 1 - BufLen, 0);
		cr_assert_gt(n, 0, "the event stream ended");
		BufLen += (size_t)n;
		while ((nl = memchr(Buf, '\n', BufLen))) {
			*nl = '\0';
			take_line(Buf);
			BufLen -= (size_t)(nl + 1 - Buf);
			memmove(Buf, nl + 1, BufLen);
		}
	}
	return true;
}

static void read_until(int fd, const char *type, size_t from)
{
	cr_assert(read_for(fd, type, from, 20000), "no %s event within 20 s", type);
}

/* "type;" per event, state changes as "sc<old>-<new>;", the session_ prefix dropped. */
static char *sequence(void)
{
	static char seq[8192];
	size_t len = 0;

	seq[0] = '\0';
	for (size_t i = 0; i < NEv && len < sizeof(seq) - 64; i++) {
		const char *t = get_str(Ev[i], "type");
		json_object *d = get(Ev[i], "data");

		if (!strcmp(t, "session_state_changed"))
			len += (size_t)snprintf(seq + len, sizeof(seq) - len, "sc%d-%d;",
						json_object_get_int(get(d, "old_state")),
						json_object_get_int(get(d, "new_state")));
		else
			len += (size_t)snprintf(seq + len, sizeof(seq) - len, "%s;",
						strncmp(t, "session_", 8) ? t : t + 8);
	}
	return seq;
}

static void expect_sequence(const char *pattern)
{
	const char *seq = sequence();
	regex_t re;

	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	cr_expect_eq(regexec(&re, seq, 0, NULL, 0), 0, "events %s\ndo not match %s", seq, pattern);
	regfree(&re);
}

static json_object *nth(const char *type, int n)
{
	for (size_t i = 0; i < NEv; i++)
		if (!strcmp(get_str(Ev[i], "type"), type) && n-- == 0)
			return get(Ev[i], "data");
	cr_assert_fail("no %s event", type);
	return NULL;
}

static void command_ok(const char *line)
{
	char *r = t_ctl_command(Sock, line);

	cr_assert_not_null(r, "no reply to %s", line);
	cr_assert_str_eq(r, "{\"ok\":true}", "%s-> %s", line, r);
	free(r);
}

static void wait_ready(const char *name)
{
	char line[128], *r;

	snprintf(line, sizeof(line), "wait %s 20\n", name);
	r = t_ctl_command(Sock, line);
	cr_assert(r && strstr(r, "\"ready\":true"), "%s -> %s", name, r);
	free(r);
}

static int events_reader(const char *line)
{
	int fd = t_ctl_connect(Sock);
	char *r;

	cr_assert_geq(fd, 0);
	t_ctl_send(fd, line);
	r = t_ctl_read_reply(fd, 5000);
	cr_assert_not_null(r);
	cr_assert_str_eq(r, "{\"ok\":true}");
	free(r);
	return fd;
}

/* After add and ready, a broker restart, and remove: the whole life of "ev", in order. */
#define LIFE                                                \
	"^added;sc0-1;connecting;sc1-2;connected;ready;"    \
	"sc2-0;disconnected;sc0-3;reconnecting;connecting;" \
	"((disconnected;)+reconnecting;connecting;)*"       \
	"sc3-2;connected;ready;"                            \
	"(sc2-0;disconnected;sc0-4;|sc2-4;disconnected;)removed;$"

static void live_a_life(int fd)
{
	char line[4200];
	size_t mark;

	snprintf(line, sizeof(line), "add %s\n", File);
	command_ok(line);
	read_until(fd, "session_ready", 0);
	mark = NEv;
	cr_assert_eq(t_broker_restart(&B), 0);
	read_until(fd, "session_ready", mark);
	command_ok("remove ev\n");
	read_until(fd, "session_removed", 0);
}

Test(events, the_whole_life_of_a_session_in_order_on_the_control_socket)
{
	char url[64];
	json_object *d;
	int fd = events_reader("events\n");

	live_a_life(fd);
	close(fd);
	expect_sequence(LIFE);

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", B.port);
	d = nth("session_ready", 0);
	cr_expect_str_eq(get_str(d, "client_id"), "ev-client");
	cr_expect_str_eq(get_str(d, "connected_broker"), url);
	cr_expect_eq(json_object_get_int(get(d, "subscriptions")), 1);
	cr_expect_eq(json_object_get_boolean(get(d, "sub_errors")), 0);
	cr_expect_eq(json_object_get_boolean(get(d, "auto_reconnect")), 1);
	cr_expect_eq(json_object_get_boolean(get(d, "clean_session")), 1);
	cr_expect_eq(json_object_get_boolean(get(d, "persistent")), 0);
	cr_expect_str_eq(get_str(nth("session_connected", 1), "connected_broker"), url);
	d = nth("session_disconnected", 0);
	cr_expect(json_object_is_type(get(d, "code"), json_type_int));
	cr_expect_gt(strlen(get_str(d, "reason")), 0);
	d = nth("session_reconnecting", 0);
	cr_expect_geq(json_object_get_int(get(d, "attempt")), 1);
	cr_expect_gt(json_object_get_int(get(d, "next_interval")), 0);
	cr_expect_leq(json_object_get_int(get(d, "next_interval")), 1200);
	d = nth("session_state_changed", 0);
	cr_expect_str_eq(get_str(d, "old"), "disconnected");
	cr_expect_str_eq(get_str(d, "new"), "connecting");
}

/* ---- the same life as a libmqttmux client sees it (mqttmux_on_event) ---- */

struct client_seen {
	struct mqttmux *c;
	char seq[4096];
	size_t len;
	const char *until; /* stop dispatching once this type (for "ev") came in */
	size_t from;	   /* ... at or after this offset of seq */
};

static void on_client_event(struct mqttmux *c, const struct mqttmux_event *ev, void *ud)
{
	struct client_seen *cs = ud;
	const char *n = ev->name;

	(void)c;
	if (!ev->session || strcmp(ev->session, "ev") || cs->len > sizeof(cs->seq) - 64)
		return;
	cs->len += (size_t)snprintf(cs->seq + cs->len, sizeof(cs->seq) - cs->len, "%s;",
				    strncmp(n, "session_", 8) ? n : n + 8);
}

static bool client_saw(void *ud)
{
	struct client_seen *cs = ud;

	(void)mqttmux_dispatch(cs->c, 50);
	return strstr(cs->seq + cs->from, cs->until) != NULL;
}

/* The router comes up on its own time: open once its socket answers. */
static bool client_opened(void *ud)
{
	struct client_seen *cs = ud;

	cs->c = mqttmux_open(Run, NULL);
	return cs->c != NULL;
}

static void client_until(struct client_seen *cs, const char *type)
{
	cs->until = type;
	cr_assert(t_wait_for(client_saw, cs, 20000), "client: no %s; so far %s", type, cs->seq);
	cs->from = cs->len;
}

/*
 * The client's view: session_added and session_removed from the router's session list (the
 * supervisor restarts the router on add and remove; the client re-registers by itself), the
 * worker's events through the router in between, in the order they happened.
 */
#define CLIENT_LIFE                                                   \
	"^added;connecting;connected;ready;"                          \
	"disconnected;reconnecting;connecting;"                       \
	"((disconnected;)?reconnecting;connecting;)*connected;ready;" \
	"(disconnected;)?removed;$"

Test(events, the_whole_life_of_a_session_in_order_as_a_client_sees_it)
{
	struct client_seen cs = { 0 };
	char line[4200];
	regex_t re;

	wait_ready("base");
	cr_assert(t_wait_for(client_opened, &cs, 10000), "mqttmux_open never succeeded");
	cr_assert_gt(mqttmux_on_event(cs.c, MQTTMUX_EV_ALL, NULL, on_client_event, &cs), 0);
	snprintf(line, sizeof(line), "add %s\n", File);
	command_ok(line);
	client_until(&cs, "ready;");
	cr_assert_eq(t_broker_restart(&B), 0);
	client_until(&cs, "ready;");
	command_ok("remove ev\n");
	client_until(&cs, "removed;");
	cr_assert_eq(regcomp(&re, CLIENT_LIFE, REG_EXTENDED | REG_NOSUB), 0);
	cr_expect_eq(regexec(&re, cs.seq, 0, NULL, 0), 0, "client events %s\ndo not match %s",
		     cs.seq, CLIENT_LIFE);
	regfree(&re);
	mqttmux_close(cs.c);
}

/* Start `mqttmux -d Run events <args>` with its stdout in <out>; returns its pid. */
static pid_t cli_start(const char *out, const char *const *args)
{
	const char *argv[12] = { "mqttmux", "-d", Run, "events" };
	int n = 4;
	pid_t pid;

	while (*args && n < 11)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) == -1)
			_exit(127);
		execv(MQTTMUX_CLI_PATH, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

struct reaped {
	pid_t pid;
	int st;
};

static bool cli_exited(void *ud)
{
	struct reaped *r = ud;

	return waitpid(r->pid, &r->st, WNOHANG) == r->pid;
}

Test(events, a_reader_of_one_session_sees_only_that_session)
{
	char line[4200];
	int fd;

	wait_ready("base");
	fd = events_reader("events base\n");

	Want = "base";
	snprintf(line, sizeof(line), "add %s\n", File);
	command_ok(line);
	wait_ready("ev");
	command_ok("restart base\n");
	read_until(fd, "session_ready", 0);
	close(fd);
	cr_expect_eq(Others, 0, "a reader of 'base' got %zu event(s) of other sessions", Others);
	expect_sequence("^sc2-0;disconnected;sc0-1;connecting;sc1-2;connected;ready;$");
}

Test(events, mqttmux_events_prints_json_lines_up_to_its_count)
{
	char out[1 << 16], err[4096], *path, *text;
	struct reaped r = { 0, 0 };
	json_object *o;
	FILE *f;
	int n = 0;

	cr_assert_gt(asprintf(&path, "%s/events.out", Dir), 0);
	r.pid = cli_start(path, (const char *const[]){ "-s", "base", "-C", "3", "-W", "60", NULL });
	/* The reader may connect after a restart: restart until it has seen three events. */
	while (!t_wait_for(cli_exited, &r, 3000))
		command_ok("restart base\n");
	cr_expect(WIFEXITED(r.st) && WEXITSTATUS(r.st) == 0, "wait status %#x", r.st);
	f = fopen(path, "re");
	cr_assert_not_null(f);
	while (fgets(out, sizeof(out), f)) {
		o = json_tokener_parse(out);
		cr_assert_not_null(o, "not JSON: %s", out);
		cr_expect_str_eq(get_str(o, "session"), "base");
		json_object_put(o);
		n++;
	}
	fclose(f);
	cr_expect_eq(n, 3);
	free(path);

	cr_expect_eq(t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
			   (const char *const[]){ "events", "-s", "nosuch", "-W", "5", NULL }),
		     1);
	cr_expect(strstr(err, "unknown session 'nosuch'"), "%s", err);
	cr_expect_eq(t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
			   (const char *const[]){ "events", "-C", "0", NULL }),
		     64);
	text = t_ctl_command(Sock, "events a b\n");
	cr_expect(text && strstr(text, "usage: events [SESSION]"), "%s", text);
	free(text);
}

/* The pid of the worker of "base" when it is a new one (not <old>), for t_wait_for. */
struct pid_wait {
	long old, now;
};

static bool new_worker(void *ud)
{
	struct pid_wait *w = ud;
	char *r = t_ctl_command(Sock, "status\n");
	json_object *a = r ? json_tokener_parse(r) : NULL, *row = a ? t_json_row(a, "base") : NULL;

	w->now = row ? (long)json_object_get_int64(get(row, "pid")) : 0;
	json_object_put(a);
	free(r);
	return w->now > 0 && w->now != w->old;
}

Test(events, a_crash_loop_is_session_failed_after_the_disconnections)
{
	struct pid_wait w = { 0, 0 };
	json_object *d;
	int fd, kills = 0;

	wait_ready("base");
	Want = "base";
	fd = events_reader("events base\n");
	/* burst = 3: the third quick exit marks the session failed. */
	while (!read_for(fd, "session_failed", 0, 300)) {
		cr_assert_lt(kills, 10, "no session_failed after %d kills", kills);
		cr_assert(t_wait_for(new_worker, &w, 10000), "no new worker");
		cr_assert_eq(kill((pid_t)w.now, SIGKILL), 0);
		w.old = w.now;
		kills++;
	}
	close(fd);
	cr_expect_eq(kills, 3);
	d = nth("session_disconnected", 0);
	cr_expect_eq(json_object_get_int(get(d, "code")), -ECONNABORTED);
	cr_expect_str_eq(get_str(d, "reason"), "the worker process ended");
	d = nth("session_failed", 0);
	cr_expect_eq(json_object_get_boolean(get(d, "permanent")), 0);
	cr_expect(strstr(get_str(d, "reason"), "more than 3 starts"), "%s", get_str(d, "reason"));
	expect_sequence("^sc2-0;disconnected;.*sc[0-4]-5;failed;$");
}

/* A broker that lets anonymous clients publish only under ok/ (MQTT 5 says so in the PUBACK). */
static void broker_with_acl(void)
{
	char *acl, *conf;
	struct t_broker_opts o = { 0 };

	cr_assert_gt(asprintf(&acl, "%s/acl", Dir), 0);
	t_write_text(acl, "topic read #\ntopic readwrite ok/#\n");
	cr_assert_gt(asprintf(&conf, "acl_file %s\n", acl), 0);
	o.extra_conf = conf;
	cr_assert_eq(t_broker_restart_with(&B, &o), 0);
	free(acl);
	free(conf);
}

static bool pub_ok(void *ud)
{
	char out[4096], err[4096];

	(void)ud;
	return t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
		     (const char *const[]){ "pub", "-s", "pf", "-t", "ok/x", "-m", "yes", "-q", "1",
					    NULL }) == 0;
}

Test(events, refused_publishes_are_one_publish_failed_event)
{
	char out[4096], err[4096], *path, *text, line[4200];
	json_object *d;
	int fd;

	broker_with_acl();
	cr_assert_gt(asprintf(&path, "%s/pf.cfg", Dir), 0);
	cr_assert_gt(asprintf(&text,
			      "session = { name = \"pf\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			      " client_id = \"ev-pf\"; protocol = \"5\"; };\n",
			      B.port),
		     0);
	t_write_text(path, text);
	Want = "pf";
	fd = events_reader("events\n");
	snprintf(line, sizeof(line), "add %s\n", path);
	command_ok(line);
	read_until(fd, "session_ready", 0);
	/* Adding a session restarts the router: publish once it takes clients again. */
	cr_assert(t_wait_for(pub_ok, NULL, 10000), "publishing to ok/x never worked");
	cr_expect_eq(t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
			   (const char *const[]){ "pub", "-s", "pf", "-t", "deny/x", "-m", "no",
						  "-q", "1", NULL }),
		     1, "%s", err);
	read_until(fd, "publish_failed", 0);
	close(fd);
	d = nth("publish_failed", 0);
	cr_expect_eq(json_object_get_int(get(d, "count")), 1);
	cr_expect_eq(json_object_get_int(get(d, "total")), 1);
	free(path);
	free(text);
}

/* The `mqttmux sub` output file shows the probe (not an error message). */
static bool file_has_probe(void *path)
{
	char buf[256];
	FILE *f = fopen(path, "re");
	bool yes = false;

	while (f && !yes && fgets(buf, sizeof(buf), f))
		yes = !strcmp(buf, "probe\n");
	if (f)
		fclose(f);
	return yes;
}

/* The router takes registrations (it starts after the sessions, so wait for it too). */
static bool router_answers(void *ud)
{
	struct mqttmux *c = mqttmux_open(Run, NULL);

	(void)ud;
	mqttmux_close(c);
	return c != NULL;
}

/* Publish <n> messages of ~1 KB to <topic> straight to the broker. */
static void flood(const char *topic, int n)
{
	char *path, *cmd;
	FILE *f;

	cr_assert_gt(asprintf(&path, "%s/flood.txt", Dir), 0);
	f = fopen(path, "we");
	cr_assert_not_null(f);
	for (int i = 0; i < n; i++)
		fprintf(f, "%06d %01000d\n", i, 0);
	cr_assert_eq(fclose(f), 0);
	cr_assert_gt(asprintf(&cmd, "mosquitto_pub -h 127.0.0.1 -p %d -t %s -q 1 -l < %s", B.port,
			      topic, path),
		     0);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	free(cmd);
	free(path);
}

/* A client that stops reading loses messages: client_gap, an event of no session. */
Test(events, a_client_that_stops_reading_is_a_client_gap)
{
	struct reaped r = { 0, 0 };
	char *out, *probe;
	json_object *d;
	int fd;

	wait_ready("base");
	cr_assert(t_wait_for(router_answers, NULL, 10000), "the router never answered");
	cr_assert_gt(asprintf(&out, "%s/sub.out", Dir), 0);
	cr_assert_gt(asprintf(&probe, "mosquitto_pub -h 127.0.0.1 -p %d -t g/probe -m probe -q 1",
			      B.port),
		     0);
	r.pid = fork();
	cr_assert_neq(r.pid, -1);
	if (r.pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		/* Stopped below: if this test fails, SIGKILL still reaches it. */
		if (o < 0 || dup2(o, 1) == -1 || dup2(o, 2) == -1 ||
		    prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
			_exit(127);
		execl(MQTTMUX_CLI_PATH, "mqttmux", "-d", Run, "sub", "-s", "base", "-t", "g/#",
		      (char *)NULL);
		_exit(127);
	}
	/* Its route is in place once a probe reaches it. */
	for (int i = 0; !t_wait_for(file_has_probe, out, 300); i++) {
		cr_assert_lt(i, 60, "mqttmux sub never printed the probe; see %s", out);
		cr_assert_eq(system(probe), 0);
	}
	Want = "";
	fd = events_reader("events\n");
	cr_assert_eq(kill(r.pid, SIGSTOP), 0);
	flood("g/x", 8000); /* 8 MB, twice the client's 4 MiB ring */
	if (!read_for(fd, "client_gap", 0, 20000)) {
		/* for the reader of a failure: what the daemon said */
		t_daemon_dump_log(Log);
		cr_assert_fail("no client_gap event within 20 s");
	}
	close(fd);
	kill(r.pid, SIGKILL);
	kill(r.pid, SIGCONT);
	cr_assert(t_wait_for(cli_exited, &r, 5000));
	d = nth("client_gap", 0);
	cr_expect_gt(json_object_get_int64(get(d, "lost")), 0);
	cr_expect_eq(json_object_get_int64(get(d, "pid")), r.pid);
	cr_expect(json_object_is_type(get(Ev[0], "session"), json_type_null));
	free(out);
	free(probe);
}

static size_t count_type(const char *type)
{
	size_t n = 0;

	for (size_t i = 0; i < NEv; i++)
		n += !strcmp(get_str(Ev[i], "type"), type);
	return n;
}

/* Removed and at once added again: the new session's events start afresh (state 0). */
Test(events, a_session_added_again_while_its_namesake_stops_starts_afresh)
{
	char line[4200];
	const char *seq;
	size_t mark;
	int fd = events_reader("events\n");

	snprintf(line, sizeof(line), "add %s\n", File);
	command_ok(line);
	read_until(fd, "session_ready", 0);
	mark = NEv;
	command_ok("remove ev\n");
	command_ok(line);
	read_until(fd, "session_removed", mark);
	read_until(fd, "session_ready", mark);
	close(fd);
	seq = sequence();
	cr_expect_eq(count_type("session_added"), 2, "%s", seq);
	cr_expect_eq(count_type("session_removed"), 1, "%s", seq);
	cr_expect_null(strstr(seq, "sc4-1;"), "%s", seq);
	cr_expect_null(strstr(seq, "sc2-1;"), "%s", seq);
	cr_expect_eq(strstr(strstr(seq, "sc0-1;") + 1, "sc0-1;") != NULL, 1, "%s", seq);
}
