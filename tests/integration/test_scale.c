/* SPDX-License-Identifier: MIT */
/*
 * 200 sessions on one daemon (issue 13), against the real daemon, workers, router and a real
 * mosquitto: every session gets ready, and then, with clients connected and no traffic, the
 * daemon's processes stay asleep. Counts, not timings: over an idle window of W seconds each
 * process may wake (voluntary context switches) no more often than its heartbeat and the
 * supervisor's checks need (docs/operations.md, "Heartbeats and wake-ups"), and all of them
 * together may use at most 1 % of one core (CPU clocks, which a loaded machine does not
 * inflate). Needs RLIMIT_NOFILE of about 2,100 (skipped below that).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mqttmux.h"
#include "t_broker.h"
#include "t_daemon.h"
#include "t_helpers.h"
#include "t_proc.h"

#define N_SESSIONS 200
#define N_CLIENTS  4
#define WINDOW_S   20
#define BEAT_S	   10 /* MM_CHAN_HEARTBEAT_NS */
#define SLOT_S	   5  /* MM_SUP_CHECK_SLOT_NS */
#define MAX_PROCS  (N_SESSIONS + 2)

static struct t_broker B;
static char *Dir, *Log, *Run, *Sock, *Cfg;
static pid_t Daemon;
static struct mqttmux *Clients[N_CLIENTS];

struct sample {
	pid_t pid;
	char kind; /* 's'upervisor, 'r'outer, 'w'orker */
	uint64_t wakes, cpu_ns;
};

static void setup(void)
{
	t_daemon_setup("scale", &Dir, &Log, &Run, &Sock);
	cr_assert_eq(t_broker_start(&B, NULL), 0);
}

static void teardown(void)
{
	for (int j = 0; j < N_CLIENTS; j++)
		mqttmux_close(Clients[j]);
	t_daemon_teardown(&Daemon, Log, &B, Dir);
	t_daemon_free_paths((char **const[]){ &Dir, &Log, &Run, &Sock, &Cfg, NULL });
}

TestSuite(scale, .init = setup, .fini = teardown, .timeout = 600);

static void write_config(void)
{
	FILE *f;

	cr_assert_gt(asprintf(&Cfg, "%s/mqttmux.cfg", Dir), 0);
	f = fopen(Cfg, "we");
	cr_assert_not_null(f);
	fprintf(f, "runtime_dir = \"%s\";\nstate_dir = \"%s/state\";\nsessions = (\n", Run, Dir);
	for (int i = 0; i < N_SESSIONS; i++)
		fprintf(f,
			"  { name = \"s%d\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			" client_id = \"scale-%d\";\n"
			"    subscriptions = ( { topic = \"scale/%d/#\"; qos = 1; } ); }%s\n",
			i, B.port, i, i, i + 1 < N_SESSIONS ? "," : "");
	fputs(");\n", f);
	cr_assert_eq(fclose(f), 0);
}

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	(void)r;
	(void)m;
	(void)ud;
}

static bool client_open(void *ud)
{
	int j = *(int *)ud;

	Clients[j] = mqttmux_open(Run, NULL);
	return Clients[j] != NULL;
}

/* Client j routes the sessions i with i % N_CLIENTS == j, on the filter they subscribe. */
static void clients(void)
{
	for (int j = 0; j < N_CLIENTS; j++) {
		cr_assert(t_wait_for(client_open, &j, 20000), "client %d never connected", j);
		for (int i = j; i < N_SESSIONS; i += N_CLIENTS) {
			char session[16], filter[32];

			snprintf(session, sizeof(session), "s%d", i);
			snprintf(filter, sizeof(filter), "scale/%d/#", i);
			cr_assert_not_null(
				mqttmux_handle_to(Clients[j], session, filter, on_msg, NULL),
				"route of client %d on %s", j, session);
		}
	}
}

/*
 * The daemon has written state_dir/clients.txt for all N_CLIENTS clients (sup_clients.c: on its
 * next metrics sample after the router's clients change). Its write and fsyncs are start-up
 * work, not idle wake-ups: the window starts after them.
 */
static bool clients_kept(void *ud)
{
	char path[PATH_MAX], line[128];
	int n = 0;
	FILE *f;

	(void)ud;
	snprintf(path, sizeof(path), "%s/state/clients.txt", Dir);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		n += strncmp(line, "mqttmux-clients ", 16) != 0; /* not the header line */
	fclose(f);
	return n >= N_CLIENTS;
}

static bool read_sample(struct sample *s)
{
	char buf[4096], *p;
	struct timespec ts;
	clockid_t cid;

	if (t_proc_read(s->pid, "status", buf, sizeof(buf)) <= 0 ||
	    !(p = strstr(buf, "\nvoluntary_ctxt_switches:")))
		return false;
	s->wakes = strtoull(p + strlen("\nvoluntary_ctxt_switches:"), NULL, 10);
	if (clock_getcpuclockid(s->pid, &cid) != 0 || clock_gettime(cid, &ts) == -1)
		return false;
	s->cpu_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return true;
}

/* The daemon and its children, sampled; returns how many. */
static int sample_all(struct sample *v)
{
	int n = 0;

	v[n++] = (struct sample){ .pid = Daemon, .kind = 's' };
	for (int i = 0; i < N_SESSIONS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "s%d", i);
		v[n] = (struct sample){ .pid = t_daemon_child(Daemon, name), .kind = 'w' };
		cr_assert_gt(v[n].pid, 0, "no worker for %s", name);
		n++;
	}
	v[n] = (struct sample){ .pid = t_daemon_child(Daemon, NULL), .kind = 'r' };
	cr_assert_gt(v[n].pid, 0, "no router");
	n++;
	for (int i = 0; i < n; i++)
		cr_assert(read_sample(&v[i]), "pid %d is gone", (int)v[i].pid);
	return n;
}

/* Wake-ups a process of <kind> may make in the window: what its timers need, plus slack. */
static uint64_t allowed(char kind)
{
	if (kind == 'w')
		return WINDOW_S / BEAT_S + 2; /* its tick (keepalive 60 s: no ping needed) */
	if (kind == 'r')
		return WINDOW_S / BEAT_S + 2; /* its heartbeat */
	/* hung checks on their 5 s grid, idle metrics samples every 10 s */
	return WINDOW_S / SLOT_S + WINDOW_S / BEAT_S + 3;
}

Test(scale, two_hundred_sessions_get_ready_and_then_sleep)
{
	static struct sample a[MAX_PROCS], b[MAX_PROCS];
	char out[4096], err[4096];
	uint64_t cpu = 0, worst = 0, sum_w = 0;
	struct rlimit rl;
	int n, over = 0;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 10 * N_SESSIONS + 200)
		cr_skip_test("hard RLIMIT_NOFILE %llu: %d sessions need about %d",
			     (unsigned long long)rl.rlim_max, N_SESSIONS, 10 * N_SESSIONS + 200);
	write_config();
	Daemon = t_daemon_spawn(MQTTMUXD_PATH, Cfg, Log, MQTTMUX_WORKER_PATH, NULL, NULL);
	cr_assert(t_wait_for(t_ctl_pongs, Sock, 60000), "control socket never answered");
	cr_assert_eq(t_cli(MQTTMUX_CLI_PATH, Run, out, sizeof(out), err, sizeof(err),
			   (const char *const[]){ "wait", "-t", "300", NULL }),
		     0, "not all %d sessions ready: %s", N_SESSIONS, err);
	clients();
	cr_assert(t_wait_for(clients_kept, NULL, 30000), "clients.txt never listed the %d clients",
		  N_CLIENTS);
	n = sample_all(a);
	sleep(WINDOW_S); /* the measurement window itself: nothing to wait for */
	for (int i = 0; i < n; i++) {
		uint64_t w;

		b[i] = a[i];
		cr_assert(read_sample(&b[i]), "pid %d ended in the idle window", (int)a[i].pid);
		w = b[i].wakes - a[i].wakes;
		cpu += b[i].cpu_ns - a[i].cpu_ns;
		if (a[i].kind == 'w') {
			sum_w += w;
			worst = w > worst ? w : worst;
		}
		if (w > allowed(a[i].kind)) {
			over++;
			cr_log_error("%c pid %d woke %llu times in %d s (at most %llu)", a[i].kind,
				     (int)a[i].pid, (unsigned long long)w, WINDOW_S,
				     (unsigned long long)allowed(a[i].kind));
		}
	}
	cr_log_info("idle %d s: %llu ms of CPU in all; workers woke %.2f times on average, %llu at"
		    " most; supervisor %llu, router %llu",
		    WINDOW_S, (unsigned long long)(cpu / 1000000), (double)sum_w / N_SESSIONS,
		    (unsigned long long)worst, (unsigned long long)(b[0].wakes - a[0].wakes),
		    (unsigned long long)(b[n - 1].wakes - a[n - 1].wakes));
	cr_expect_eq(over, 0, "%d process(es) woke more often than they need", over);
	cr_expect_leq(cpu, WINDOW_S * 10000000ull, "%llu ms of CPU in %d s: over 1 %% of a core",
		      (unsigned long long)(cpu / 1000000), WINDOW_S);
	t_daemon_stop(&Daemon);
}
