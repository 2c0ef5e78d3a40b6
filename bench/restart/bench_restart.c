/* SPDX-License-Identifier: MIT */
/*
 * bench-restart: how long a session is gone after its worker is SIGKILLed. A private mosquitto
 * on 127.0.0.1 and the real mqttmuxd with one session subscribing one filter; then, N times:
 * read the worker's pid from `status`, SIGKILL it (t0), poll `status` until a new pid shows
 * (spawned), then poll `wait SESSION 0` until it answers ok (ready: the supervisor has READY
 * from the new worker, and its stats block, with the new pid, says connected and every SUBACK
 * in). Kills are spaced so that each worker has been READY for more than 1 s, which makes the
 * restart immediate (no backoff). The floor, in the same run: a plain libmosquitto client's
 * connect + subscribe + SUBACK against the same broker. Prints p50/p99/max and issue 5's target
 * (p99 <= 50 ms). Not part of the test run (built with -Dbench=true; see scripts/bench-restart).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sysexits.h>
#include <unistd.h>

#include <mosquitto.h>

#include "b_restart.h"

#define TARGET_P99_MS	 50.0
#define MAX_RUNS	 100000
#define READY_TIMEOUT_NS (5 * 1000000000ull)

enum series { S_SPAWN = 0, S_READY, S_AFTER_SPAWN, S_PLAIN, _S_MAX };

static const char *const series_name[_S_MAX] = {
	"kill -> new worker pid in status",
	"kill -> session ready (wait ok)",
	"  of which new pid -> ready",
	"plain libmosquitto connect+SUBACK",
};

struct bench {
	unsigned kills, plain;
	double gap_s;
	unsigned poll_us;
	bool keep;
	double *v[_S_MAX];
	unsigned n[_S_MAX];
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-restart [options]\n"
		"  --kills N      worker SIGKILLs to time (default 100)\n"
		"  --gap S        seconds from a session's ready to the next kill (default 1.1;\n"
		"                 below 1 s the supervisor's backoff applies)\n"
		"  --poll-us US   control socket poll interval in microseconds (default 500)\n"
		"  --plain N      plain libmosquitto connect+subscribe runs (default 100)\n"
		"  --keep         keep the temporary directory (configs, daemon and broker logs)\n");
}

static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* 0, 1 for --help, or -EINVAL. */
static int parse_args(int argc, char **argv, struct bench *b)
{
	static const struct option opts[] = { { "kills", required_argument, NULL, 'k' },
					      { "gap", required_argument, NULL, 'g' },
					      { "poll-us", required_argument, NULL, 'p' },
					      { "plain", required_argument, NULL, 'P' },
					      { "keep", no_argument, NULL, 'K' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	char *end;
	int opt, rc = 0;

	*b = (struct bench){ .kills = 100, .plain = 100, .gap_s = 1.1, .poll_us = 500 };
	while (!rc && (opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'k')
			rc = parse_uint(optarg, MAX_RUNS, &b->kills);
		else if (opt == 'P')
			rc = parse_uint(optarg, MAX_RUNS, &b->plain);
		else if (opt == 'p')
			rc = parse_uint(optarg, 1000000, &b->poll_us);
		else if (opt == 'g')
			rc = (b->gap_s = strtod(optarg, &end)) < 0 || *end || b->gap_s > 60
				     ? -EINVAL
				     : 0;
		else if (opt == 'K')
			b->keep = true;
		else
			return opt == 'h' ? 1 : -EINVAL;
	}
	return rc ? rc : (optind < argc || !b->kills) ? -EINVAL : 0;
}

static double ms_since(uint64_t t0, uint64_t t1)
{
	return (double)(t1 - t0) / 1e6;
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	(void)m;
	(void)mid;
	(void)n;
	(void)granted;
	*(bool *)ud = true;
}

/* One plain client: new, connect, subscribe B_FILTER, loop until SUBACK. ms, or -1. */
static double plain_once(const struct b_env *e, unsigned i)
{
	char id[64];
	bool acked = false;
	struct mosquitto *m;
	uint64_t t0 = mm_time_mono_ns();
	int rc;

	snprintf(id, sizeof(id), "bench-restart-plain-%u", i);
	m = mosquitto_new(id, true, &acked);
	if (!m)
		return -1;
	mosquitto_subscribe_callback_set(m, on_subscribe);
	rc = mosquitto_connect(m, "127.0.0.1", e->port, 60);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_subscribe(m, NULL, B_FILTER, 1);
	while (rc == MOSQ_ERR_SUCCESS && !acked && mm_time_mono_ns() - t0 < READY_TIMEOUT_NS)
		rc = mosquitto_loop(m, 100, 1);
	t0 = acked ? mm_time_mono_ns() - t0 : 0;
	mosquitto_disconnect(m);
	mosquitto_destroy(m);
	return acked ? (double)t0 / 1e6 : -1;
}

static int run_plain(struct bench *b, const struct b_env *e)
{
	for (unsigned i = 0; i < b->plain; i++) {
		double ms = plain_once(e, i);

		if (ms < 0) {
			fprintf(stderr, "bench-restart: plain client %u got no SUBACK\n", i);
			return -EIO;
		}
		b->v[S_PLAIN][b->n[S_PLAIN]++] = ms;
	}
	return 0;
}

/* Poll `status` until the worker pid is neither <old> nor 0. The new pid, or -errno. */
static pid_t poll_new_pid(struct bench *b, struct b_env *e, pid_t old, uint64_t t0)
{
	pid_t pid;

	while ((pid = b_status_pid(e)) >= 0 && (pid == 0 || pid == old)) {
		if (mm_time_mono_ns() - t0 > READY_TIMEOUT_NS)
			return -ETIMEDOUT;
		b_sleep_ns(b->poll_us * 1000ull);
	}
	return pid;
}

/* Poll `wait SESSION 0` (answers at once) until it says ready. 0 or -errno. */
static int poll_ready(struct bench *b, struct b_env *e, uint64_t t0)
{
	char reply[1024];
	int rc;

	while (!(rc = b_ctl(e, "wait " B_SESSION " 0", reply, sizeof(reply))) &&
	       !strstr(reply, "\"ok\":true")) {
		if (mm_time_mono_ns() - t0 > READY_TIMEOUT_NS) {
			fprintf(stderr, "bench-restart: not ready: %s\n", reply);
			return -ETIMEDOUT;
		}
		b_sleep_ns(b->poll_us * 1000ull);
	}
	return rc;
}

/* One kill: SIGKILL the current worker and time its replacement up to ready. 0 or -errno. */
static int kill_once(struct bench *b, struct b_env *e)
{
	pid_t old = b_status_pid(e), pid;
	uint64_t t0, t1, t2;
	int rc;

	if (old <= 0)
		return old < 0 ? old : -ESRCH;
	t0 = mm_time_mono_ns();
	if (kill(old, SIGKILL) == -1)
		return -errno;
	pid = poll_new_pid(b, e, old, t0);
	if (pid < 0)
		return pid;
	t1 = mm_time_mono_ns();
	rc = poll_ready(b, e, t0);
	if (rc)
		return rc;
	t2 = mm_time_mono_ns();
	b->v[S_SPAWN][b->n[S_SPAWN]++] = ms_since(t0, t1);
	b->v[S_READY][b->n[S_READY]++] = ms_since(t0, t2);
	b->v[S_AFTER_SPAWN][b->n[S_AFTER_SPAWN]++] = ms_since(t1, t2);
	return 0;
}

static int run_kills(struct bench *b, struct b_env *e)
{
	char reply[1024];
	int rc = b_ctl(e, "wait " B_SESSION " 10", reply, sizeof(reply));

	if (rc || !strstr(reply, "\"ok\":true")) {
		fprintf(stderr, "bench-restart: session never ready: %s\n", rc ? "" : reply);
		return rc ? rc : -EIO;
	}
	for (unsigned i = 0; i < b->kills; i++) {
		b_sleep_ns((uint64_t)(b->gap_s * 1e9));
		rc = kill_once(b, e);
		if (rc) {
			fprintf(stderr, "bench-restart: kill %u: %s\n", i, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile <p> of the sorted <v>[<n>]. */
static double pct(const double *v, unsigned n, double p)
{
	unsigned k = (unsigned)((p / 100.0) * n + 0.999999);

	return v[k ? k - 1 : 0];
}

static void print_results(struct bench *b)
{
	double p99;

	printf("%-36s %5s %8s %8s %8s %8s\n", "", "n", "min ms", "p50 ms", "p99 ms", "max ms");
	for (int s = 0; s < _S_MAX; s++) {
		double *v = b->v[s];
		unsigned n = b->n[s];

		if (!n)
			continue;
		qsort(v, n, sizeof(*v), cmp_double);
		printf("%-36s %5u %8.2f %8.2f %8.2f %8.2f\n", series_name[s], n, v[0],
		       pct(v, n, 50), pct(v, n, 99), v[n - 1]);
	}
	p99 = pct(b->v[S_READY], b->n[S_READY], 99);
	printf("target: kill -> ready p99 <= %.0f ms: %s (%.2f ms)\n", TARGET_P99_MS,
	       p99 <= TARGET_P99_MS ? "MET" : "MISSED", p99);
}

static void print_header(const struct bench *b)
{
	struct utsname u;

	uname(&u);
	printf("bench-restart: %s %s, %ld CPUs; %u kills, %.2f s apart; poll every %u us;"
	       " %u plain runs\n",
	       u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN), b->kills, b->gap_s, b->poll_us,
	       b->plain);
}

static const char *worker_binary(void)
{
	const char *w = getenv("MQTTMUX_WORKER");

	return w && *w ? w : MQTTMUX_WORKER_PATH;
}

static int run_all(struct bench *b, struct b_env *e)
{
	int rc = b_env_init(e, "bench-restart");

	if (!rc)
		rc = b_broker_start(e);
	if (!rc)
		rc = b_daemon_start(e, MQTTMUXD_PATH, worker_binary());
	if (!rc)
		rc = run_kills(b, e);
	if (!rc)
		rc = run_plain(b, e);
	if (rc)
		fprintf(stderr, "bench-restart: %s\n", strerror(-rc));
	return rc;
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct b_env e;
	int rc = parse_args(argc, argv, &b);

	if (rc) {
		usage(rc > 0 ? stdout : stderr);
		return rc > 0 ? 0 : EX_USAGE;
	}
	for (int s = 0; s < _S_MAX; s++) {
		b.v[s] = calloc(b.kills > b.plain ? b.kills : b.plain + 1, sizeof(double));
		if (!b.v[s])
			return 1;
	}
	mosquitto_lib_init();
	print_header(&b);
	fflush(stdout);
	rc = run_all(&b, &e);
	b_env_free(&e, rc || b.keep);
	mosquitto_lib_cleanup();
	if (!rc)
		print_results(&b);
	for (int s = 0; s < _S_MAX; s++)
		free(b.v[s]);
	return rc ? 1 : 0;
}
