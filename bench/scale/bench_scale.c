/* SPDX-License-Identifier: MIT */
/*
 * bench-scale (issue 13): what N sessions cost on one host, against a plain libmosquitto process
 * holding N clients on the same broker in the same run.
 *
 * 1. A private mosquitto on 127.0.0.1. The baseline process connects N clients, each
 *    subscribing one filter at QoS 1; time from its fork to the last SUBACK.
 * 2. mqttmuxd with N sessions, each subscribing the same kind of filter (and the --cfg text);
 *    time from its fork to `wait` answering that every session is ready.
 * 3. C libmqttmux clients, the sessions spread over them (one route each).
 * 4. An idle window (no traffic): CPU time and wake-ups (voluntary context switches) of every
 *    process, memory (Rss, Pss, Private_Dirty of smaps_rollup) per process kind.
 * 5. Control-socket latency: `ping` (the floor), `status` and `metrics`, each from the connect
 *    to the last byte, with the supervisor's CPU time per query (robust to a loaded machine);
 *    and the `mqttmux status --json` command as a user runs it.
 * 6. Latency under load (b_lat.c): a publisher at --rate msg/s over every session's topic.
 *
 * Not part of the test run (built with -Dbench=true; see scripts/bench-scale).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "b_restart.h"
#include "b_scale.h"

#define READY_TIMEOUT_S 600 /* the baseline's SUBACKs, the daemon's `wait *` */
#define CLIENT_S	60  /* a client's routes registered */
#define B_PAGE_FD	100 /* where the page's memfd stays for the baseline process */

static char Phase[256] = "setting up";

/*
 * Say what the bench does now and what it waits for: every wait has a deadline, and when one
 * passes (or anything fails) the run ends with this text, so that a run that gives up on a
 * loaded machine says where.
 */
void b_phase(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(Phase, sizeof(Phase), fmt, ap);
	va_end(ap);
}

/*
 * Reap <pid> within <timeout_ns> (its resource usage in *ru if not NULL); past it, SIGKILL it
 * and return -ETIMEDOUT.
 */
int b_wait_exit(pid_t pid, uint64_t timeout_ns, int *ret_status, struct rusage *ru)
{
	uint64_t deadline = mm_time_mono_ns() + timeout_ns;
	int st = 0;

	while (mm_time_mono_ns() < deadline) {
		pid_t r = wait4(pid, &st, WNOHANG, ru);

		if (r == pid) {
			*ret_status = st;
			return 0;
		}
		if (r < 0)
			return -errno;
		b_sleep_ns(10 * 1000000ull);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -ETIMEDOUT;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-scale [options]\n"
		"  --sessions N   sessions, and clients of the baseline (default 100)\n"
		"  --clients C    libmqttmux clients (default 10)\n"
		"  --idle S       idle window in seconds (default 60)\n"
		"  --settle S     seconds from the clients' routes to the window (default 3)\n"
		"  --queries Q    control-socket queries of each kind (default 20)\n"
		"  --rate R       latency run: messages a second over all sessions (default 10000)\n"
		"  --load S       latency run: seconds (default 10; 0: no latency run)\n"
		"  --storm S      restart storm: the broker down S seconds (default 5; 0: none)\n"
		"  --connect-rate R, --connect-burst B\n"
		"                 the daemon's workers.connect_rate and connect_burst (default 500, 100)\n"
		"  --group K      label the run as K sessions per worker and add the config text\n"
		"                 'workers = { group_size = K; };' (default 1: isolated)\n"
		"  --cfg TEXT     more top-level config text, added as is\n"
		"  --no-plain     skip the baseline process\n"
		"  --keep         keep the temporary directory (configs, logs)\n");
}

static int parse_num(const char *s, double max, double *ret)
{
	char *end;

	errno = 0;
	*ret = strtod(s, &end);
	return errno || end == s || *end || *ret < 0 || *ret > max ? -EINVAL : 0;
}

static void set_num(struct bench *b, int opt, double v)
{
	if (opt == 'n')
		b->n = (unsigned)v;
	else if (opt == 'c')
		b->clients = (unsigned)v;
	else if (opt == 'i')
		b->idle_s = v;
	else if (opt == 's')
		b->settle_s = v;
	else if (opt == 'q')
		b->queries = (unsigned)v;
	else if (opt == 'g')
		b->group = (unsigned)v;
	else if (opt == 'r')
		b->rate = (unsigned)v;
	else if (opt == 'l')
		b->load_s = v;
	else if (opt == 'S')
		b->storm_s = v;
	else if (opt == 'R')
		b->connect_rate = (unsigned)v;
	else if (opt == 'B')
		b->connect_burst = (unsigned)v;
}

static int parse_args(int argc, char **argv, struct bench *b)
{
	static const struct option opts[] = { { "sessions", required_argument, NULL, 'n' },
					      { "clients", required_argument, NULL, 'c' },
					      { "idle", required_argument, NULL, 'i' },
					      { "settle", required_argument, NULL, 's' },
					      { "queries", required_argument, NULL, 'q' },
					      { "group", required_argument, NULL, 'g' },
					      { "rate", required_argument, NULL, 'r' },
					      { "load", required_argument, NULL, 'l' },
					      { "storm", required_argument, NULL, 'S' },
					      { "connect-rate", required_argument, NULL, 'R' },
					      { "connect-burst", required_argument, NULL, 'B' },
					      { "cfg", required_argument, NULL, 'x' },
					      { "no-plain", no_argument, NULL, 'P' },
					      { "keep", no_argument, NULL, 'K' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	double v = 0;
	int opt, rc = 0;

	*b = (struct bench){ .n = 100,
			     .clients = 10,
			     .queries = 20,
			     .rate = 10000,
			     .load_s = 10,
			     .storm_s = 5,
			     .connect_rate = 500,
			     .connect_burst = 100,
			     .idle_s = 60,
			     .settle_s = 3,
			     .plain = true,
			     .group = 1 };
	while (!rc && (opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'x')
			b->cfg_extra = optarg;
		else if (opt == 'P')
			b->plain = false;
		else if (opt == 'K')
			b->keep = true;
		else if (opt == 'h')
			return 1;
		else if (strchr("ncisqgrlSRB", opt) && (rc = parse_num(optarg, 1e6, &v)) == 0)
			set_num(b, opt, v);
		else
			rc = -EINVAL;
	}
	if (!rc &&
	    (optind < argc || !b->n || b->clients > B_MAX_CLIENTS || !b->queries || !b->group))
		rc = -EINVAL;
	return rc;
}

/* The workers group, with the keys that differ from the daemon's defaults (if any). */
static void write_workers(FILE *f, const struct bench *b)
{
	if (b->group <= 1 && b->connect_rate == 500 && b->connect_burst == 100)
		return;
	fputs("workers = {", f);
	if (b->group > 1)
		fprintf(f, " group_size = %u;", b->group);
	if (b->connect_rate != 500)
		fprintf(f, " connect_rate = %u;", b->connect_rate);
	if (b->connect_burst != 100)
		fprintf(f, " connect_burst = %u;", b->connect_burst);
	fputs(" };\n", f);
}

/* The daemon's config: N sessions s0..s(N-1) on the broker, each with its filter. */
static char *make_cfg(const struct bench *b, const struct b_env *e)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		return NULL;
	fprintf(f,
		"runtime_dir = \"%s/run\";\nstate_dir = \"%s/state\";\nlog_level = \"warning\";\n",
		e->dir, e->dir);
	write_workers(f, b);
	if (b->cfg_extra)
		fprintf(f, "%s\n", b->cfg_extra);
	fputs("sessions = (\n", f);
	for (unsigned i = 0; i < b->n; i++)
		fprintf(f,
			"  { name = \"s%u\"; brokers = [ \"tcp://127.0.0.1:%d\" ];"
			" client_id = \"scale-%u\";\n"
			"    subscriptions = ( { topic = \"" B_FILTER_FMT "\"; qos = 1; } ); }%s\n",
			i, e->port, i, i, i + 1 < b->n ? "," : "");
	fputs(");\n", f);
	return fclose(f) ? (free(text), NULL) : text;
}

static const char *worker_binary(void)
{
	const char *w = getenv("MQTTMUX_WORKER");

	return w && *w ? w : MQTTMUX_WORKER_PATH;
}

/* The CPU time of <pid> so far, in seconds. */
static int cpu_now(pid_t pid, double *ret_s)
{
	struct b_sample x;
	int rc = b_sample_read(pid, &x);

	*ret_s = (double)x.cpu_ns / 1e9;
	return rc;
}

/* The CPU time of <root> and its children so far, in seconds, per kind (what a start cost). */
static int tree_cpu(pid_t root, struct results *r)
{
	struct b_procs p = { 0 };
	int rc = b_procs_tree(root, &p);

	for (size_t i = 0; !rc && i < p.n; i++) {
		double s = (double)p.s[i].cpu_ns / 1e9;

		r->startup_cpu_s += s;
		if (p.s[i].pid == root)
			r->startup_sup_s += s;
		else if (!strcmp(p.s[i].comm, "mqttmux-router"))
			r->startup_router_s += s;
	}
	b_procs_free(&p);
	return rc;
}

static int start_plain(const struct bench *b, const struct b_env *e, struct results *r,
		       pid_t *ret_pid)
{
	uint64_t t0 = mm_time_mono_ns();
	int fd, rc;

	b_phase("starting the baseline: waiting %d s for its %u SUBACKs", READY_TIMEOUT_S, b->n);
	*ret_pid = b_plain_spawn(e->port, b->n, B_PAGE_FD, &fd);
	if (*ret_pid < 0)
		return *ret_pid;
	rc = b_wait_byte(fd, READY_TIMEOUT_S * 1000000000ull);
	close(fd);
	r->plain_ready_s = (double)(mm_time_mono_ns() - t0) / 1e9;
	if (!rc)
		rc = cpu_now(*ret_pid, &r->plain_startup_cpu_s);
	return rc;
}

static int start_daemon(const struct bench *b, struct b_env *e, struct results *r)
{
	char reply[8192], cmd[64];
	char *cfg = make_cfg(b, e);
	uint64_t t0 = mm_time_mono_ns();
	int rc;

	if (!cfg)
		return -ENOMEM;
	b_phase("starting mqttmuxd: waiting for its control socket");
	rc = b_daemon_start_cfg(e, MQTTMUXD_PATH, worker_binary(), cfg);
	free(cfg);
	snprintf(cmd, sizeof(cmd), "wait * %d", READY_TIMEOUT_S);
	b_phase("starting mqttmuxd: `%s` (every session ready)", cmd);
	if (!rc)
		rc = b_ctl_within(e, cmd, reply, sizeof(reply),
				  (READY_TIMEOUT_S + B_CTL_S) * 1000000000ull);
	r->ready_s = (double)(mm_time_mono_ns() - t0) / 1e9;
	if (!rc && !strstr(reply, "\"ok\":true")) {
		b_phase("starting mqttmuxd: not all sessions ready: %.200s", reply);
		rc = -ETIMEDOUT;
	}
	return rc ? rc : tree_cpu(e->daemon, r);
}

static int start_clients(const struct bench *b, const struct b_env *e, struct b_rxpage *page,
			 pid_t *pids)
{
	char run[512];
	int rc = 0;

	snprintf(run, sizeof(run), "%s/run", e->dir);
	for (unsigned j = 0; j < b->clients && !rc; j++) {
		int fd;

		b_phase("client %u of %u: waiting %d s for its routes", j, b->clients, CLIENT_S);
		pids[j] = b_client_spawn(run, page, j, b->clients, b->n, &fd);
		if (pids[j] < 0)
			return pids[j];
		rc = b_wait_byte(fd, CLIENT_S * 1000000000ull);
		close(fd);
	}
	return rc;
}

static void read_load(char *buf, size_t size)
{
	FILE *f = fopen("/proc/loadavg", "re");

	if (!f || !fgets(buf, (int)size, f))
		snprintf(buf, size, "?");
	if (f)
		fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static void sleep_s(double s)
{
	b_sleep_ns((uint64_t)(s * 1e9));
}

static int idle_window(const struct bench *b, const struct b_env *e, const pid_t *clients,
		       pid_t plain, struct results *r)
{
	uint64_t t0;
	int rc;

	b_phase("idle window (%.0f s after %.0f s to settle)", b->idle_s, b->settle_s);
	sleep_s(b->settle_s);
	rc = b_procs_tree(e->daemon, &r->before);
	for (unsigned j = 0; !rc && j < b->clients; j++)
		rc = b_procs_add(&r->before, clients[j]);
	if (!rc && plain > 0)
		rc = b_procs_add(&r->plain_before, plain);
	if (rc)
		return rc;
	read_load(r->load_before, sizeof(r->load_before));
	(void)b_machine_busy();
	t0 = mm_time_mono_ns();
	sleep_s(b->idle_s);
	r->window_s = (double)(mm_time_mono_ns() - t0) / 1e9;
	r->busy_pct = b_machine_busy();
	read_load(r->load_after, sizeof(r->load_after));
	rc = b_procs_refresh(&r->before, &r->after);
	if (!rc)
		rc = b_procs_refresh(&r->plain_before, &r->plain_after);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median and max of <n> values, in place. */
static void med_max(double *v, unsigned n, double out[2])
{
	qsort(v, n, sizeof(*v), cmp_double);
	out[0] = v[n / 2];
	out[1] = v[n - 1];
}

/* Time <cmd> b->queries times; *ret_cpu_ms (if not NULL): the daemon's CPU per query. */
static int time_queries(const struct bench *b, const struct b_env *e, const char *cmd,
			const char *end, double out[2], size_t *ret_len, double *ret_cpu_ms)
{
	double *v = calloc(b->queries, sizeof(*v));
	int rc = v ? 0 : -ENOMEM;
	struct b_sample s0, s1;
	char run[512];

	snprintf(run, sizeof(run), "%s/run", e->dir);
	(void)b_sample_read(e->daemon, &s0);
	for (unsigned i = 0; !rc && i < b->queries; i++) {
		uint64_t ns;

		b_phase("control socket: `%s` %u of %u, waiting %d s for its reply", cmd, i + 1,
			b->queries, B_QUERY_S);
		rc = b_ctl_query(run, cmd, end, ret_len, &ns);
		v[i] = (double)ns / 1e6;
	}
	(void)b_sample_read(e->daemon, &s1);
	if (ret_cpu_ms)
		*ret_cpu_ms = (double)(s1.cpu_ns - s0.cpu_ns) / 1e6 / b->queries;
	if (!rc)
		med_max(v, b->queries, out);
	free(v);
	return rc;
}

static double tv_ms(struct timeval tv)
{
	return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

/*
 * `mqttmux -d RUN status --json` as a process, output to /dev/null: fork to exit, in ms; its
 * CPU time (user + system) added to *cpu_ms.
 */
static double cli_once(const char *run, double *cpu_ms)
{
	uint64_t t0 = mm_time_mono_ns();
	pid_t pid = fork();
	struct rusage ru;
	int st = 0;

	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(MQTTMUX_CLI_PATH, "mqttmux", "-d", run, "status", "--json", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || b_wait_exit(pid, B_QUERY_S * 1000000000ull, &st, &ru) < 0 ||
	    !WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	*cpu_ms += tv_ms(ru.ru_utime) + tv_ms(ru.ru_stime);
	return (double)(mm_time_mono_ns() - t0) / 1e6;
}

static int control_latency(const struct bench *b, const struct b_env *e, struct results *r)
{
	struct b_sample s0, s1;
	char run[512];
	size_t len;
	double *v;
	int rc;

	snprintf(run, sizeof(run), "%s/run", e->dir);
	rc = time_queries(b, e, "ping", "\n", r->ping_ms, &len, NULL);
	if (!rc)
		rc = time_queries(b, e, "status", "\n", r->status_ms, &r->status_len,
				  &r->status_cpu_ms);
	if (!rc)
		rc = time_queries(b, e, "metrics", "\n# EOF\n", r->metrics_ms, &r->metrics_len,
				  &r->metrics_cpu_ms);
	v = calloc(b->queries, sizeof(*v));
	(void)b_sample_read(e->daemon, &s0);
	for (unsigned i = 0; !rc && v && i < b->queries; i++) {
		b_phase("control socket: `mqttmux status --json` %u of %u (%d s at most)", i + 1,
			b->queries, B_QUERY_S);
		if ((v[i] = cli_once(run, &r->cli_cpu_ms)) < 0)
			rc = -EIO;
	}
	(void)b_sample_read(e->daemon, &s1);
	r->cli_cpu_ms /= b->queries;
	r->cli_daemon_cpu_ms = (double)(s1.cpu_ns - s0.cpu_ns) / 1e6 / b->queries;
	if (!rc && v)
		med_max(v, b->queries, r->cli_ms);
	free(v);
	return rc ? rc : v ? 0 : -ENOMEM;
}

static void stop_pids(pid_t *pids, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
			pids[i] = 0;
		}
}

static int latency(const struct bench *b, const struct b_env *e, struct results *r,
		   struct b_rxpage *page)
{
	struct b_procs p = { 0 };
	int rc = b_procs_tree(e->daemon, &p);

	r->lat = (struct b_lat_cfg){ .port = e->port,
				     .rate = b->rate,
				     .nsessions = b->n,
				     .nclients = b->clients,
				     .secs = b->load_s };
	for (size_t i = 0; !rc && i < p.n; i++)
		if (!strcmp(p.s[i].comm, "mqttmux-router"))
			r->lat.router = p.s[i].pid;
	b_procs_free(&p);
	b_phase("latency run: %u msg/s for %.0f s, waiting for the publisher to finish", b->rate,
		b->load_s);
	return rc ? rc : b_lat_run(&r->lat, page, &r->lat_r);
}

static int run_all(const struct bench *b, struct b_env *e, struct results *r, struct b_rxpage *page)
{
	pid_t clients[B_MAX_CLIENTS] = { 0 }, plain = 0;
	int rc = b_env_init(e, "bench-scale");

	if (!rc)
		rc = b_broker_start(e);
	if (!rc && b->plain)
		rc = start_plain(b, e, r, &plain);
	if (!rc)
		rc = start_daemon(b, e, r);
	if (!rc)
		rc = start_clients(b, e, page, clients);
	if (!rc)
		rc = idle_window(b, e, clients, plain, r);
	if (!rc)
		rc = control_latency(b, e, r);
	if (!rc && b->load_s > 0)
		rc = latency(b, e, r, page);
	if (!rc && b->storm_s > 0) {
		b_phase("restart storm: the broker down %.1f s, then everyone back", b->storm_s);
		rc = b_storm_run(e, b->n, b->plain, b->storm_s, page, &r->storm);
	}
	stop_pids(clients, b->clients);
	stop_pids(&plain, 1);
	if (rc)
		fprintf(stderr, "bench-scale: gave up in phase: %s: %s\n", Phase, strerror(-rc));
	return rc;
}

/* The page every receiver reports into, on a memfd (B_PAGE_FD) the baseline process maps too. */
static struct b_rxpage *page_new(void)
{
	int fd = memfd_create("bench-scale", MFD_CLOEXEC);
	void *p;

	if (fd < 0 || ftruncate(fd, sizeof(struct b_rxpage)) == -1 || dup2(fd, B_PAGE_FD) == -1)
		return NULL;
	p = mmap(NULL, sizeof(struct b_rxpage), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	(void)fcntl(B_PAGE_FD, F_SETFD, FD_CLOEXEC);
	return p == MAP_FAILED ? NULL : p;
}

int main(int argc, char **argv)
{
	static struct results r;
	struct b_rxpage *page;
	struct bench b;
	struct b_env e;
	int rc;

	if (argc == 4 && !strcmp(argv[1], "--plain-child"))
		b_plain_main(atoi(argv[2]), (unsigned)atoi(argv[3]), 3, 4);
	rc = parse_args(argc, argv, &b);
	if (rc) {
		usage(rc > 0 ? stdout : stderr);
		return rc > 0 ? 0 : EX_USAGE;
	}
	page = page_new();
	if (!page)
		return 1;
	printf("bench-scale: %u sessions, %s, %u clients; idle window %.0f s; %ld CPUs\n", b.n,
	       b.group > 1 ? "grouped" : "isolated (one worker each)", b.clients, b.idle_s,
	       sysconf(_SC_NPROCESSORS_ONLN));
	if (b.group > 1)
		printf("  groups of %u sessions per worker\n", b.group);
	fflush(stdout);
	rc = run_all(&b, &e, &r, page);
	if (!rc)
		b_print_results(&b, &r);
	if (!rc && b.load_s > 0)
		b_lat_print(&r.lat, &r.lat_r);
	if (!rc && b.storm_s > 0)
		b_storm_print(&r.storm, b.n, b.connect_rate, b.connect_burst);
	b_env_free(&e, rc || b.keep);
	b_procs_free(&r.before);
	b_procs_free(&r.after);
	b_procs_free(&r.plain_before);
	b_procs_free(&r.plain_after);
	return rc ? 1 : 0;
}
