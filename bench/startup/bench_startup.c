/* SPDX-License-Identifier: MIT */
/*
 * bench-startup (issue 11): what starting N sessions costs mqttmuxd and its children, per
 * session, at several N (default 100 and 1,000), to show that it grows linearly. Before issue
 * 11 every child parsed the whole config file (N sessions), so start-up parsing grew with N².
 *
 * For each N, against a private mosquitto on 127.0.0.1:
 *
 * 1. `mqttmuxd --check` on the N-session config: CPU time (rusage) of loading and validating.
 * 2. The baseline, in the same run: one plain libmosquitto process connecting N clients, each
 *    subscribing one filter at QoS 1 (bench/scale/b_plain.c); wall time to the last SUBACK and
 *    its CPU time.
 * 3. mqttmuxd with the N sessions: the supervisor's CPU time when its last child (N workers and
 *    the router) has been spawned, the wall time to that point and to `wait *` answering that
 *    every session is ready; then the CPU time of every worker (summed, and per worker) and of
 *    the router at that point (process CPU clocks: exact ns).
 *
 * --daemon and --worker run another build (an older one, to compare). Not part of the test run
 * (built with -Dbench=true; see scripts/bench-startup).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "b_restart.h"
#include "b_scale.h"

#define READY_TIMEOUT_S 600
#define MAX_N		8

struct opts {
	unsigned n[MAX_N], nn;
	const char *daemon, *worker;
	bool keep;
};

struct fig {
	double check_cpu_ms;		      /* mqttmuxd --check */
	double plain_s, plain_cpu_ms;	      /* baseline */
	double spawned_s, sup_spawned_cpu_ms; /* all children spawned */
	double ready_s, sup_ready_cpu_ms;     /* all ready */
	double workers_cpu_ms, router_cpu_ms; /* at all ready */
	unsigned workers;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-startup [-n N]... [--daemon PATH --worker PATH] [--keep]\n"
		   "  -n N      sessions (repeat for several runs; default 100 and 1000)\n"
		   "  --daemon  mqttmuxd to run (default: the one built with this bench)\n"
		   "  --worker  mqttmux-worker it runs (default: the one built with this bench)\n"
		   "  --keep    keep the temp dirs (configs and logs)\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = { { "daemon", required_argument, NULL, 'd' },
					      { "worker", required_argument, NULL, 'w' },
					      { "keep", no_argument, NULL, 'k' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int c;

	*o = (struct opts){ .daemon = MQTTMUXD_PATH, .worker = MQTTMUX_WORKER_PATH };
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		if (c == 'n' && o->nn < MAX_N && atoi(optarg) > 0)
			o->n[o->nn++] = (unsigned)atoi(optarg);
		else if (c == 'd')
			o->daemon = optarg;
		else if (c == 'w')
			o->worker = optarg;
		else if (c == 'k')
			o->keep = true;
		else
			return c == 'h' ? 1 : -EINVAL;
	}
	if (!o->nn) {
		o->n[o->nn++] = 100;
		o->n[o->nn++] = 1000;
	}
	return optind == argc ? 0 : -EINVAL;
}

/* N sessions s0..s(N-1) on the broker, each subscribing its own filter at QoS 1. */
static char *make_cfg(unsigned n, const struct b_env *e)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		return NULL;
	fprintf(f,
		"runtime_dir = \"%s/run\";\nstate_dir = \"%s/state\";\nlog_level = \"warning\";\n"
		"sessions = (\n",
		e->dir, e->dir);
	for (unsigned i = 0; i < n; i++)
		fprintf(f,
			"  { name = \"s%u\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			" client_id = \"startup-%u\";\n"
			"    subscriptions = ( { topic = \"" B_FILTER_FMT "\"; qos = 1; } ); }%s\n",
			i, e->port, i, i, i + 1 < n ? "," : "");
	fputs(");\n", f);
	return fclose(f) ? (free(text), NULL) : text;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static double secs_since(uint64_t t0)
{
	return (double)(mm_time_mono_ns() - t0) / 1e9;
}

/* CPU time of a reaped child from its rusage, ns. */
static uint64_t rusage_ns(const struct rusage *ru)
{
	return (uint64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1000ull;
}

/* `<daemon> --check -c <dir>/mqttmux.cfg`: its CPU time. 0 or -errno. */
static int check_cost(const struct opts *o, const struct b_env *e, struct fig *f)
{
	char path[512];
	struct rusage ru;
	int st;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/mqttmux.cfg", e->dir);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout) || setenv("MQTTMUX_WORKER", o->worker, 1))
			_exit(127);
		execl(o->daemon, "mqttmuxd", "--check", "-c", path, (char *)NULL);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -EINVAL;
	f->check_cpu_ms = ms(rusage_ns(&ru));
	return 0;
}

static int baseline(unsigned n, const struct b_env *e, struct fig *f)
{
	uint64_t t0 = mm_time_mono_ns();
	struct b_sample s;
	int fd, rc, mfd = memfd_create("bench-startup", MFD_CLOEXEC), page;
	pid_t pid;

	/* the page the baseline reports into (bench/scale), unused here; away from fds 3 and 4 */
	if (mfd < 0 || ftruncate(mfd, sizeof(struct b_rxpage)) == -1)
		return -errno;
	page = fcntl(mfd, F_DUPFD_CLOEXEC, 100);
	close(mfd);
	if (page < 0)
		return -errno;
	pid = b_plain_spawn(e->port, n, page, &fd);
	close(page);
	if (pid < 0)
		return pid;
	rc = b_wait_byte(fd, READY_TIMEOUT_S * 1000000000ull);
	close(fd);
	f->plain_s = secs_since(t0);
	if (rc == 0 && b_sample_read(pid, &s) == 0)
		f->plain_cpu_ms = ms(s.cpu_ns);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return rc;
}

/* How many children <pid> has now (its main thread's children list). */
static unsigned children_of(pid_t pid)
{
	char path[64];
	unsigned n = 0;
	long c;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
	f = fopen(path, "re");
	while (f && fscanf(f, "%ld", &c) == 1)
		n++;
	if (f)
		fclose(f);
	return n;
}

/* Poll until the daemon has <want> children: its CPU time and the wall time then. */
static int wait_spawned(const struct b_env *e, unsigned want, uint64_t t0, struct fig *f)
{
	struct b_sample s;

	while (children_of(e->daemon) < want) {
		if (secs_since(t0) > READY_TIMEOUT_S || kill(e->daemon, 0) == -1)
			return -ETIMEDOUT;
		b_sleep_ns(2000000);
	}
	f->spawned_s = secs_since(t0);
	if (b_sample_read(e->daemon, &s) == 0)
		f->sup_spawned_cpu_ms = ms(s.cpu_ns);
	return 0;
}

/* CPU of the daemon, its workers and its router now. */
static void cpu_now(const struct b_env *e, struct fig *f)
{
	struct b_procs p = { 0 };

	if (b_procs_tree(e->daemon, &p) < 0)
		return;
	for (size_t i = 0; i < p.n; i++) {
		if (p.s[i].pid == e->daemon) {
			f->sup_ready_cpu_ms = ms(p.s[i].cpu_ns);
		} else if (!strcmp(p.s[i].comm, "mqttmux-worker")) {
			f->workers_cpu_ms += ms(p.s[i].cpu_ns);
			f->workers++;
		} else if (!strcmp(p.s[i].comm, "mqttmux-router")) {
			f->router_cpu_ms = ms(p.s[i].cpu_ns);
		}
	}
	b_procs_free(&p);
}

static int run_daemon(const struct opts *o, unsigned n, struct b_env *e, const char *cfg,
		      struct fig *f)
{
	char reply[8192], cmd[64];
	uint64_t t0 = mm_time_mono_ns();
	int rc = b_daemon_start_cfg(e, o->daemon, o->worker, cfg);

	if (!rc)
		rc = wait_spawned(e, n + 1, t0, f);
	snprintf(cmd, sizeof(cmd), "wait * %d", READY_TIMEOUT_S);
	if (!rc)
		rc = b_ctl(e, cmd, reply, sizeof(reply));
	f->ready_s = secs_since(t0);
	if (!rc && !strstr(reply, "\"ok\":true")) {
		fprintf(stderr, "bench-startup: not all sessions ready: %.300s\n", reply);
		rc = -ETIMEDOUT;
	}
	if (!rc)
		cpu_now(e, f);
	return rc;
}

static int run_one(const struct opts *o, unsigned n, struct fig *f)
{
	struct b_env e;
	char *cfg = NULL;
	int rc = b_env_init(&e, "mqttmux-bench-startup");

	memset(f, 0, sizeof(*f));
	if (!rc)
		rc = b_broker_start(&e);
	if (!rc)
		rc = (cfg = make_cfg(n, &e)) ? 0 : -ENOMEM;
	if (!rc)
		rc = baseline(n, &e, f);
	if (!rc)
		rc = run_daemon(o, n, &e, cfg, f); /* writes <dir>/mqttmux.cfg */
	if (!rc)
		rc = check_cost(o, &e, f);
	free(cfg);
	b_env_free(&e, o->keep);
	return rc;
}

static void print_fig(unsigned n, const struct fig *f)
{
	double per = 1000.0 / n; /* ms -> us per session */

	printf("N = %u sessions\n", n);
	printf("  config load + check (--check)  %9.1f ms CPU  %8.1f us/session\n", f->check_cpu_ms,
	       f->check_cpu_ms * per);
	printf("  supervisor, all spawned        %9.1f ms CPU  %8.1f us/session  (%.2f s wall)\n",
	       f->sup_spawned_cpu_ms, f->sup_spawned_cpu_ms * per, f->spawned_s);
	printf("  supervisor, all ready          %9.1f ms CPU  %8.1f us/session  (%.2f s wall)\n",
	       f->sup_ready_cpu_ms, f->sup_ready_cpu_ms * per, f->ready_s);
	printf("  workers (%u), all ready       %9.1f ms CPU  %8.1f us/session\n", f->workers,
	       f->workers_cpu_ms, f->workers_cpu_ms * per);
	printf("  router, all ready              %9.1f ms CPU  %8.1f us/session\n",
	       f->router_cpu_ms, f->router_cpu_ms * per);
	printf("  baseline: 1 process, N clients %9.1f ms CPU  %8.1f us/session  (%.2f s wall)\n",
	       f->plain_cpu_ms, f->plain_cpu_ms * per, f->plain_s);
}

/* How the per-session cost at the largest N compares with the smallest (1.0: linear). */
static void print_growth(const struct opts *o, const struct fig *f)
{
	unsigned a = 0, b = 0;

	for (unsigned i = 1; i < o->nn; i++) {
		a = o->n[i] < o->n[a] ? i : a;
		b = o->n[i] > o->n[b] ? i : b;
	}
	if (a == b)
		return;
	printf("per-session cost at N = %u over N = %u (1.0 = linear growth):\n", o->n[b], o->n[a]);
	printf("  --check %.2f, supervisor to all spawned %.2f, to all ready %.2f, workers %.2f, "
	       "baseline %.2f\n",
	       f[b].check_cpu_ms / o->n[b] / (f[a].check_cpu_ms / o->n[a]),
	       f[b].sup_spawned_cpu_ms / o->n[b] / (f[a].sup_spawned_cpu_ms / o->n[a]),
	       f[b].sup_ready_cpu_ms / o->n[b] / (f[a].sup_ready_cpu_ms / o->n[a]),
	       f[b].workers_cpu_ms / o->n[b] / (f[a].workers_cpu_ms / o->n[a]),
	       f[b].plain_cpu_ms / o->n[b] / (f[a].plain_cpu_ms / o->n[a]));
}

int main(int argc, char **argv)
{
	struct fig f[MAX_N];
	double load[3];
	struct opts o;
	int rc;

	/* the baseline process re-executes us (bench/scale/b_plain.c) */
	if (argc == 4 && !strcmp(argv[1], "--plain-child"))
		b_plain_main(atoi(argv[2]), (unsigned)atoi(argv[3]), 3, 4);
	rc = parse_args(argc, argv, &o);
	if (rc) {
		usage(rc > 0 ? stdout : stderr);
		return rc > 0 ? 0 : 64;
	}
	signal(SIGPIPE, SIG_IGN);
	if (getloadavg(load, 3) == 3)
		printf("bench-startup: %s; load average %.2f %.2f %.2f at start\n", o.daemon,
		       load[0], load[1], load[2]);
	fflush(stdout); /* the children fork: nothing buffered twice */
	for (unsigned i = 0; i < o.nn; i++) {
		rc = run_one(&o, o.n[i], &f[i]);
		if (rc) {
			fprintf(stderr, "bench-startup: the run with %u sessions failed: %s\n",
				o.n[i], strerror(-rc));
			return 1;
		}
		print_fig(o.n[i], &f[i]);
		fflush(stdout);
	}
	print_growth(&o, f);
	if (getloadavg(load, 3) == 3)
		printf("load average %.2f %.2f %.2f at the end\n", load[0], load[1], load[2]);
	return 0;
}
