/* SPDX-License-Identifier: MIT */
/*
 * A restart of the whole daemon loses nothing on a persistent session (issue 10, item 2).
 * Against the real daemon, workers, router and a real mosquitto: a running `mqttmux sub` and a
 * library client (this process, dispatching from a thread) hold a QoS 1 route; 50 messages go
 * through; mqttmuxd is stopped with SIGTERM (as `systemctl restart` or an upgrade of the
 * binaries does); 100 QoS 1 messages are published while it is down (the broker queues them
 * for the persistent session); mqttmuxd starts again; 50 more are published. Both clients
 * must come back by themselves and get all 200, each once (a repeat only with DUP). Run on
 * MQTT 3.1.1 and 5, with the workers on each loop backend (MQTTMUX_LOOP, set by meson).
 * The same with a `kill -9` of mqttmuxd once the first 50 are in: the running daemon keeps
 * state_dir/clients.txt up to date, so the next one waits for both clients all the same.
 * And what the grace cannot save is told: a client that does not come back (stopped) within
 * clients.rejoin_grace leaves the 100 messages unrouted, counted per session
 * (mqttmux_session_unrouted_total) and reported (a messages_unrouted event).
 */
#include <dirent.h>
#include <errno.h>
#include <mqttmux.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <mosquitto.h>

#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"
#include "t_mosq.h"
#include "t_proc.h"
#include "t_sub.h"

#define BROKER_CONF "max_inflight_messages 0\nmax_queued_messages 0\n"
#define N_BEFORE    50
#define N_DOWN	    100
#define N_AFTER	    50
#define N_ALL	    (N_BEFORE + N_DOWN + N_AFTER)

static struct t_broker B;
static char *Dir, *Cfg, *Log, *Run, *Sock, *Out;
static pid_t Daemon, Sub;

/* The library client: its messages, counted by sequence number (payload "<n>"). */
static struct {
	struct mqttmux *c;
	pthread_t thread;
	atomic_bool stop;
	atomic_int got, dups_unflagged, probes;
	unsigned char seen[N_ALL];
} L;

static void setup(void)
{
	t_daemon_setup("restart", &Dir, &Log, &Run, &Sock);
	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	cr_assert_gt(asprintf(&Out, "%s/sub.out", Dir), 0);
	mosquitto_lib_init();
}

static void teardown(void)
{
	if (L.c) {
		atomic_store(&L.stop, true);
		pthread_join(L.thread, NULL);
		mqttmux_close(L.c);
	}
	memset(&L, 0, sizeof(L));
	t_sub_kill(&Sub);
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	t_daemon_free_paths((char **const[]){ &Dir, &Cfg, &Log, &Run, &Sock, &Out, NULL });
	mosquitto_lib_cleanup();
}

TestSuite(restart, .init = setup, .fini = teardown, .timeout = 180);

static void write_config_with(const char *protocol, const char *extra)
{
	char *text;

	cr_assert_gt(asprintf(&text,
			      "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\n%s\n"
			      "sessions = ( { name = \"p\"; brokers = [ \"tcp://127.0.0.1:%d\" ];\n"
			      "  client_id = \"restart-p\"; protocol = \"%s\"; persistent = true;\n"
			      "  reconnect = { initial = 0.1; max = 0.5; }; } );\n",
			      Run, Dir, extra, B.port, protocol),
		     0);
	t_write_text(Cfg, text);
	free(text);
}

static void write_config(const char *protocol)
{
	write_config_with(protocol, "");
}

static void start_daemon(void)
{
	char out[256], err[256];

	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, MQTTMUX_ROUTER_PATH,
				NULL);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, 20000), "control socket never answered");
	cr_assert_eq(t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
			   (const char *const[]){ "wait", "-s", "p", "-t", "20", NULL }),
		     0, "session p not ready: %s", err);
}

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	int seq = t_seq_parse(m->payload, m->payload_len);

	(void)r;
	(void)ud;
	if (seq == -1) {
		atomic_fetch_add(&L.probes, 1);
		return;
	}
	if (seq < 0 || seq >= N_ALL)
		return;
	if (L.seen[seq]) {
		if (!m->dup)
			atomic_fetch_add(&L.dups_unflagged, 1);
		return;
	}
	L.seen[seq] = 1;
	atomic_fetch_add(&L.got, 1);
}

/* The application's loop: poll mqttmux_fd, dispatch; a router that goes away is its business. */
static void *lib_loop(void *arg)
{
	struct pollfd p = { .fd = mqttmux_fd(L.c), .events = POLLIN };

	(void)arg;
	(void)mqttmux_dispatch(L.c, 0);
	while (!atomic_load(&L.stop)) {
		(void)poll(&p, 1, 50);
		(void)mqttmux_dispatch(L.c, 0);
	}
	return NULL;
}

static void start_lib_client(void)
{
	int err = 0;

	L.c = mqttmux_open(Run, &err);
	cr_assert_not_null(L.c, "mqttmux_open: %s", strerror(-err));
	cr_assert_not_null(mqttmux_handle_to(L.c, "p", "t/#", on_msg, NULL), "route: %s",
			   strerror(errno));
	cr_assert_eq(pthread_create(&L.thread, NULL, lib_loop, NULL), 0);
}

static void start_sub(void)
{
	Sub = t_sub_spawn(
		MQTTMUX_CLI_PATH, Out,
		(const char *const[]){ "-d", Run, "sub", "-s", "p", "-t", "t/#", "-q", "1", NULL });
	cr_assert_gt(Sub, 0, "fork: %s", strerror(-Sub));
}

/* What `mqttmux sub` printed (sequence numbers seen, repeats, probes). */
struct sub_out {
	struct t_sub_out n;
	unsigned char seen[N_ALL];
};

static void read_sub(struct sub_out *o)
{
	t_sub_read(Out, o->seen, N_ALL, &o->n);
}

static bool both_probed(void *ud)
{
	struct sub_out o;

	(void)ud;
	read_sub(&o);
	return o.n.probes > 0 && atomic_load(&L.probes) > 0;
}

static bool both_have(void *ud)
{
	struct sub_out o;
	int want = *(int *)ud;

	read_sub(&o);
	return o.n.got >= want && atomic_load(&L.got) >= want;
}

static void publish(struct mosquitto *m, const char *payload)
{
	cr_assert_eq(mosquitto_publish(m, NULL, "t/seq", (int)strlen(payload), payload, 1, false),
		     0);
}

static void count_ack(struct mosquitto *m, void *ud, int mid)
{
	(void)m;
	(void)mid;
	(*(int *)ud)++;
}

/* Publish <from>..<to>-1 at QoS 1 and wait for the broker's PUBACKs. */
static void publish_range(int from, int to)
{
	int acked = 0;
	struct mosquitto *m = mosquitto_new(NULL, true, &acked);
	uint64_t deadline = t_now_ns() + 30000000000ull;
	char buf[16];

	cr_assert_not_null(m);
	mosquitto_publish_callback_set(m, count_ack);
	cr_assert(t_mosq_connect(m, "127.0.0.1", B.port, 30, 30000), "publisher: no CONNACK");
	for (int i = from; i < to; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		publish(m, buf);
	}
	while (acked < to - from && t_now_ns() < deadline)
		(void)mosquitto_loop(m, 10, 1);
	cr_assert_eq(acked, to - from, "the broker acknowledged %d of %d", acked, to - from);
	(void)mosquitto_disconnect(m);
	(void)mosquitto_loop(m, 10, 1);
	mosquitto_destroy(m);
}

/* Probe until <probed> says the clients have their route in place (a probe reached them). */
static void wait_probed(bool (*probed)(void *), void *ud)
{
	struct mosquitto *m = mosquitto_new(NULL, true, NULL);

	cr_assert_not_null(m);
	cr_assert(t_mosq_connect(m, "127.0.0.1", B.port, 30, 30000), "publisher: no CONNACK");
	for (int i = 0; !t_wait_for(probed, ud, 300); i++) {
		cr_assert_lt(i, 100, "the routes never got a probe; see %s", Out);
		cr_assert_eq(mosquitto_publish(m, NULL, "t/probe", 5, "probe", 1, false), 0);
		(void)mosquitto_loop(m, 10, 1);
	}
	(void)mosquitto_disconnect(m);
	(void)mosquitto_loop(m, 10, 1);
	mosquitto_destroy(m);
}

static void wait_routes(void)
{
	wait_probed(both_probed, NULL);
}

static void expect_all(void)
{
	struct sub_out o;
	int want = N_ALL;

	if (!t_wait_for(both_have, &want, 60000))
		t_daemon_dump_log(Log);
	read_sub(&o);
	cr_expect_eq(o.n.got, N_ALL, "mqttmux sub got %d of %d", o.n.got, N_ALL);
	cr_expect_eq(o.n.dups, 0, "mqttmux sub printed %d repeats", o.n.dups);
	cr_expect_eq(atomic_load(&L.got), N_ALL, "the library client got %d of %d",
		     atomic_load(&L.got), N_ALL);
	cr_expect_eq(atomic_load(&L.dups_unflagged), 0, "%d repeats without DUP",
		     atomic_load(&L.dups_unflagged));
	for (int i = 0; i < N_ALL; i++)
		if (!o.seen[i] || !L.seen[i])
			cr_log_warn("seq %d: sub %d, library %d", i, o.seen[i], L.seen[i]);
}

/* state_dir/clients.txt names <want> clients (the running daemon keeps it up to date). */
static bool clients_kept(void *ud)
{
	char *path, buf[512];
	int lines = 0;
	FILE *f;

	cr_assert_gt(asprintf(&path, "%s/state/clients.txt", Dir), 0);
	f = fopen(path, "re");
	free(path);
	while (f && fgets(buf, sizeof(buf), f))
		lines++;
	if (f)
		fclose(f);
	return lines - 1 == *(int *)ud; /* the header line, then one per client */
}

struct kids {
	pid_t pid[8];
	int n;
};

/* Every process of the killed daemon has exited (and is reaped: we are their subreaper). */
static bool kids_gone(void *ud)
{
	struct kids *k = ud;
	int alive = 0;

	for (int i = 0; i < k->n; i++)
		if (k->pid[i] && (waitpid(k->pid[i], NULL, WNOHANG) == 0 ||
				  (kill(k->pid[i], 0) == 0 && errno != ESRCH)))
			alive++;
	return alive == 0;
}

/* SIGKILL to mqttmuxd, as the OOM killer or a crash would; its children follow it. */
static void kill_daemon(void)
{
	struct kids k = { .n = 0 };
	int want = 2;
	DIR *d = opendir("/proc");
	struct dirent *e;

	/* the daemon looks every 10 s when no message moves: a whole period and a loaded margin */
	cr_assert(t_wait_for(clients_kept, &want, 30000), "clients.txt never named both clients");
	while (d && (e = readdir(d)))
		if (atoi(e->d_name) > 0 && t_proc_ppid(atoi(e->d_name)) == Daemon && k.n < 8)
			k.pid[k.n++] = atoi(e->d_name);
	if (d)
		closedir(d);
	cr_assert_eq(kill(Daemon, SIGKILL), 0);
	cr_assert_eq(waitpid(Daemon, NULL, 0), Daemon);
	Daemon = 0;
	cr_assert(t_wait_for(kids_gone, &k, 10000), "the daemon's children outlived it");
}

static void stop_publish_start(const char *protocol, bool kill9)
{
	struct t_broker_opts bo = { .extra_conf = BROKER_CONF };
	int want = N_BEFORE;

	cr_assert_eq(t_broker_start(&B, &bo), 0);
	write_config(protocol);
	start_daemon();
	start_sub();
	start_lib_client();
	wait_routes();
	publish_range(0, N_BEFORE);
	if (!t_wait_for(both_have, &want, 30000)) {
		struct sub_out o;

		read_sub(&o);
		cr_assert_fail("the first %d did not arrive: sub %d, library %d", N_BEFORE, o.n.got,
			       atomic_load(&L.got));
	}
	if (kill9)
		kill_daemon();
	else
		t_daemon_stop(&Daemon); /* SIGTERM, as systemctl stop/restart */
	publish_range(N_BEFORE, N_BEFORE + N_DOWN);
	start_daemon();
	publish_range(N_BEFORE + N_DOWN, N_ALL);
	expect_all();
}

Test(restart, a_daemon_restart_loses_nothing_mqtt311)
{
	stop_publish_start("3.1.1", false);
}

Test(restart, a_daemon_restart_loses_nothing_mqtt5)
{
	stop_publish_start("5", false);
}

Test(restart, a_killed_daemon_loses_nothing_queued_mqtt311)
{
	stop_publish_start("3.1.1", true);
}

Test(restart, a_killed_daemon_loses_nothing_queued_mqtt5)
{
	stop_publish_start("5", true);
}

/* mqttmux_session_unrouted_total{session="p"} from `mqttmux metrics`, or -1. */
static long unrouted_of_p(void)
{
	static char out[1 << 17];
	char err[256];
	const char *key = "\nmqttmux_session_unrouted_total{session=\"p\"} ", *at;

	if (t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
		  (const char *const[]){ "metrics", NULL }) != 0 ||
	    !(at = strstr(out, key)))
		return -1;
	return atol(at + strlen(key));
}

static bool unrouted_is_n_down(void *ud)
{
	(void)ud;
	return unrouted_of_p() == N_DOWN;
}

static bool logged_unrouted(void *ud)
{
	char line[2048];
	FILE *f = fopen(Log, "re");
	bool found = false;

	(void)ud;
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, "\"type\":\"messages_unrouted\",\"session\":\"p\"") != NULL;
	if (f)
		fclose(f);
	return found;
}

/*
 * `mqttmux sub` is stopped (SIGSTOP) across the restart: alive, so the new router waits for it,
 * but silent, so clients.rejoin_grace (1 s here) runs out. The 100 messages the broker queued
 * meanwhile then match no route: not one may go unreported.
 */
Test(restart, what_the_grace_cannot_save_is_counted_and_reported)
{
	struct t_broker_opts bo = { .extra_conf = BROKER_CONF };

	cr_assert_eq(t_broker_start(&B, &bo), 0);
	write_config_with("5", "clients = { rejoin_grace = 1.0; };");
	start_daemon();
	start_sub();
	wait_probed(t_sub_probed, Out);
	t_daemon_stop(&Daemon);
	cr_assert_eq(kill(Sub, SIGSTOP), 0);
	publish_range(N_BEFORE, N_BEFORE + N_DOWN);
	start_daemon();
	if (!t_wait_for(unrouted_is_n_down, NULL, 30000))
		t_daemon_dump_log(Log);
	cr_expect_eq(unrouted_of_p(), N_DOWN, "mqttmux_session_unrouted_total{session=\"p\"}");
	cr_expect(t_wait_for(logged_unrouted, NULL, 10000), "no messages_unrouted event in %s",
		  Log);
	(void)kill(Sub, SIGCONT);
}
