/* SPDX-License-Identifier: MIT */
/*
 * bench-ring: how the mqttmux shared-memory ring compares, between two processes on this
 * machine, with a pipe and an AF_UNIX SOCK_SEQPACKET socketpair doing the same work: messages
 * per second for 64 B and 1 KiB messages, and one-way latency to a consumer asleep on its
 * doorbell, against a raw eventfd ping-pong as the floor. Prints one table and the issue's
 * targets. Not part of the test run (built with -Dbench=true; see scripts/bench-ring).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "b_util.h"

#ifdef NDEBUG
#define B_NDEBUG ", NDEBUG"
#else
#define B_NDEBUG ""
#endif

/* Seconds any single measurement may take before the watchdog (SIGALRM) ends the run. */
#define B_WATCHDOG_S 120

/* Targets from issue 2, for this 2-core machine. */
#define B_TARGET_MPS	10e6
#define B_TARGET_X_PIPE 20.0
#define B_TARGET_X_EFD	2.0

enum { T_RING = 0, T_PIPE, T_SEQPACKET, _T_MAX };

static const char *const t_name[_T_MAX] = { "ring", "pipe", "seqpacket" };
static const uint32_t sizes[] = { 64, 1024 };
#define N_SIZES (sizeof(sizes) / sizeof(sizes[0]))

/* The latency samples of one transport and size, gathered over all rounds. */
struct series {
	uint64_t *s; /* cfg->samples samples, b_sample format */
	uint64_t hot;
	struct b_lat lat;
};

struct results {
	struct b_tput tput[N_SIZES][_T_MAX];
	struct series lat[N_SIZES][_T_MAX];
	struct series efd;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-ring [options]\n"
		   "  --pin            producer on CPU 0, consumer on CPU 1\n"
		   "  --cap BYTES      ring capacity, power of two (default 1M; K and M suffixes)\n"
		   "  --batch N        ring records per commit and per release (default 32)\n"
		   "  --count N        64 B messages through the ring (default 20000000;\n"
		   "                   1 KiB: a quarter of it)\n"
		   "  --sys-count N    64 B messages through pipe and socket (default 2000000;\n"
		   "                   1 KiB: half of it)\n"
		   "  --samples N      latency samples per transport and size (default 20000)\n"
		   "  --rounds N       run the tests in N interleaved rounds (default 4)\n"
		   "  --pace-us N      latency: one message every N us at most (default 100)\n"
		   "  --spin           latency: the producer busy-waits instead of sleeping\n"
		   "  --only WHAT      run only 'tput' (throughput) or 'lat' (latency)\n");
}

/* Parse a count with an optional K/M/G suffix (binary). Returns 0 or -EINVAL. */
static int parse_u64(const char *s, uint64_t *ret)
{
	const char *suffixes = "KMG";
	const char *sfx;
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || v == 0)
		return -EINVAL;
	sfx = *end ? strchr(suffixes, *end & ~0x20) : NULL;
	if (sfx) {
		v <<= 10 * (sfx - suffixes + 1);
		end++;
	}
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int set_opt(struct b_cfg *cfg, int opt, const char *arg)
{
	uint64_t v = 0;

	if (opt == 'p' || opt == 's') {
		*(opt == 'p' ? &cfg->pin : &cfg->spin) = true;
		return 0;
	}
	if (opt == 'o') {
		cfg->tput = strcmp(arg, "tput") == 0;
		cfg->lat = strcmp(arg, "lat") == 0;
		return cfg->tput || cfg->lat ? 0 : -EINVAL;
	}
	if (parse_u64(arg, &v) < 0)
		return -EINVAL;
	switch (opt) {
	case 'c':
		cfg->cap = v;
		return (v & (v - 1)) || v < 4096 ? -EINVAL : 0;
	case 'b':
		cfg->batch = (unsigned)v;
		return 0;
	case 'n':
		cfg->n_ring = v;
		return 0;
	case 'N':
		cfg->n_sys = v;
		return 0;
	case 'S':
		cfg->samples = (unsigned)v;
		return 0;
	case 'R':
		cfg->rounds = (unsigned)v;
		return 0;
	case 'P':
		cfg->pace_ns = v * 1000;
		return 0;
	}
	return -EINVAL;
}

/* Fill *cfg from argv. Returns 0, 1 for --help, or -EINVAL. */
static int parse_args(int argc, char **argv, struct b_cfg *cfg)
{
	static const struct option opts[] = { { "pin", no_argument, NULL, 'p' },
					      { "spin", no_argument, NULL, 's' },
					      { "cap", required_argument, NULL, 'c' },
					      { "batch", required_argument, NULL, 'b' },
					      { "count", required_argument, NULL, 'n' },
					      { "sys-count", required_argument, NULL, 'N' },
					      { "samples", required_argument, NULL, 'S' },
					      { "rounds", required_argument, NULL, 'R' },
					      { "pace-us", required_argument, NULL, 'P' },
					      { "only", required_argument, NULL, 'o' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	int opt;

	*cfg = (struct b_cfg){ .cap = 1u << 20,
			       .batch = 32,
			       .n_ring = 20000000,
			       .n_sys = 2000000,
			       .samples = 20000,
			       .rounds = 4,
			       .warmup = 250,
			       .pace_ns = 100000,
			       .tput = true,
			       .lat = true };
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h')
			return 1;
		if (opt == '?' || set_opt(cfg, opt, optarg) < 0)
			return -EINVAL;
	}
	if (optind != argc || cfg->batch == 0 || cfg->rounds == 0 || cfg->samples < cfg->rounds ||
	    cfg->n_ring < 4ull * cfg->rounds || cfg->n_sys < 2ull * cfg->rounds)
		return -EINVAL;
	return 0;
}

/* The first "model name" line of /proc/cpuinfo, or "unknown CPU". */
static void cpu_model(char *buf, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[256], *colon;

	snprintf(buf, size, "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && colon) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, size, "%s", colon + 2);
			break;
		}
	}
	fclose(f);
}

static void print_header(const struct b_cfg *cfg)
{
	struct utsname u;
	char date[64] = "?", cpu[160];
	time_t now = time(NULL);
	struct tm tm;

	if (localtime_r(&now, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", &tm);
	if (uname(&u) == -1)
		snprintf(u.release, sizeof(u.release), "?");
	cpu_model(cpu, sizeof(cpu));
	printf("bench-ring: mqttmux shm ring vs pipe vs AF_UNIX SOCK_SEQPACKET socketpair\n");
	printf("date     %s\n", date);
	printf("machine  %ld CPUs online, %s %s %s, %s\n", sysconf(_SC_NPROCESSORS_ONLN), u.sysname,
	       u.release, u.machine, cpu);
#ifdef __OPTIMIZE__
	printf("build    cc %s, optimised%s\n", __VERSION__, B_NDEBUG);
#else
	printf("build    cc %s, NOT optimised%s\n", __VERSION__, B_NDEBUG);
#endif
	printf("ring     capacity %llu KiB, commit and release every %u records; pinning %s\n",
	       (unsigned long long)(cfg->cap >> 10), cfg->batch,
	       cfg->pin ? "producer cpu0, consumer cpu1" : "off");
	fflush(stdout);
}

static double mps(const struct b_tput *t)
{
	return t->secs > 0.0 ? (double)t->n / t->secs : 0.0;
}

static double ratio(double a, double b)
{
	return b > 0.0 ? a / b : 0.0;
}

static const char *size_name(uint32_t len)
{
	return len == 1024 ? "1 KiB" : "64 B";
}

/* Run one measurement under the watchdog; report and return its error. */
static int checked(int rc, const char *what, uint32_t len)
{
	alarm(0);
	if (rc < 0)
		fprintf(stderr, "bench-ring: %s %s failed: %s\n", what, size_name(len),
			strerror(-rc));
	return rc;
}

static void tput_add(struct b_tput *sum, const struct b_tput *t)
{
	sum->n += t->n;
	sum->secs += t->secs;
	sum->cons_waits += t->cons_waits;
	sum->prod_waits += t->prod_waits;
	sum->data_bells += t->data_bells;
	sum->space_bells += t->space_bells;
}

/* One round: every throughput test once, for 1/cfg->rounds of the counts. */
static int tput_round(const struct b_cfg *cfg, struct results *res)
{
	for (size_t i = 0; i < N_SIZES; i++) {
		uint32_t len = sizes[i];
		uint64_t nr = (len == 64 ? cfg->n_ring : cfg->n_ring / 4) / cfg->rounds;
		uint64_t ns = (len == 64 ? cfg->n_sys : cfg->n_sys / 2) / cfg->rounds;
		struct b_tput t[_T_MAX];

		alarm(B_WATCHDOG_S);
		if (checked(b_ring_tput(cfg, len, nr, &t[T_RING]), "ring throughput", len) < 0)
			return -1;
		alarm(B_WATCHDOG_S);
		if (checked(b_sys_tput(cfg, B_SYS_PIPE, len, ns, &t[T_PIPE]), "pipe throughput",
			    len) < 0)
			return -1;
		alarm(B_WATCHDOG_S);
		if (checked(b_sys_tput(cfg, B_SYS_SEQPACKET, len, ns, &t[T_SEQPACKET]),
			    "seqpacket throughput", len) < 0)
			return -1;
		for (int k = 0; k < _T_MAX; k++)
			tput_add(&res->tput[i][k], &t[k]);
	}
	return 0;
}

/* Like the latency tests, in cfg->rounds interleaved rounds: see run_lat. */
static int run_tput(const struct b_cfg *cfg, struct results *res)
{
	int rc = 0;

	for (unsigned r = 0; rc == 0 && r < cfg->rounds; r++)
		rc = tput_round(cfg, res);
	return rc;
}

/* One round: every latency test once, <n> samples each, stored from sample <off> on. */
static int lat_round(const struct b_cfg *cfg, struct results *res, uint64_t off, uint64_t n)
{
	alarm(B_WATCHDOG_S);
	if (checked(b_efd_lat(cfg, res->efd.s + off, n), "eventfd latency", 64) < 0)
		return -1;
	for (size_t i = 0; i < N_SIZES; i++) {
		uint32_t len = sizes[i];
		struct series *l = res->lat[i];

		alarm(B_WATCHDOG_S);
		if (checked(b_ring_lat(cfg, len, l[T_RING].s + off, n, &l[T_RING].hot),
			    "ring latency", len) < 0)
			return -1;
		alarm(B_WATCHDOG_S);
		if (checked(b_sys_lat(cfg, B_SYS_PIPE, len, l[T_PIPE].s + off, n), "pipe latency",
			    len) < 0)
			return -1;
		alarm(B_WATCHDOG_S);
		if (checked(b_sys_lat(cfg, B_SYS_SEQPACKET, len, l[T_SEQPACKET].s + off, n),
			    "seqpacket latency", len) < 0)
			return -1;
	}
	return 0;
}

static int series_done(struct series *sr, uint64_t n)
{
	int rc = b_lat_from(sr->s, n, &sr->lat);

	sr->lat.hot = sr->hot;
	return rc;
}

/*
 * The latency tests run in cfg->rounds interleaved rounds, so that a slow spell of the host
 * hits every transport alike rather than whichever ran at the time.
 */
static int run_lat(const struct b_cfg *cfg, struct results *res)
{
	uint64_t per = cfg->samples / cfg->rounds;
	int rc = 0;

	for (unsigned r = 0; rc == 0 && r < cfg->rounds; r++)
		rc = lat_round(cfg, res, r * per, per);
	if (rc == 0)
		rc = series_done(&res->efd, per * cfg->rounds);
	for (size_t i = 0; rc == 0 && i < N_SIZES; i++)
		for (int t = 0; rc == 0 && t < _T_MAX; t++)
			rc = series_done(&res->lat[i][t], per * cfg->rounds);
	return rc;
}

static void print_tput(const struct b_cfg *cfg, const struct results *res)
{
	printf("\nThroughput, cross-process (messages/s over the consumer's wall time; %u interleaved "
	       "rounds)\n",
	       cfg->rounds);
	printf("  %-6s %-13s %-13s %-13s %-10s %s\n", "size", t_name[T_RING], t_name[T_PIPE],
	       t_name[T_SEQPACKET], "ring/pipe", "ring/seqpacket");
	for (size_t i = 0; i < N_SIZES; i++) {
		const struct b_tput *t = res->tput[i];

		printf("  %-6s %6.2f M/s    %6.2f M/s    %6.2f M/s    %6.1fx    %6.1fx\n",
		       size_name(sizes[i]), mps(&t[T_RING]) / 1e6, mps(&t[T_PIPE]) / 1e6,
		       mps(&t[T_SEQPACKET]) / 1e6, ratio(mps(&t[T_RING]), mps(&t[T_PIPE])),
		       ratio(mps(&t[T_RING]), mps(&t[T_SEQPACKET])));
	}
	for (size_t i = 0; i < N_SIZES; i++) {
		const struct b_tput *t = &res->tput[i][T_RING];

		printf("  ring %-5s %llu msgs in %.3f s; waits: consumer %llu, producer %llu; "
		       "doorbells rung: data %llu, space %llu\n",
		       size_name(sizes[i]), (unsigned long long)t->n, t->secs,
		       (unsigned long long)t->cons_waits, (unsigned long long)t->prod_waits,
		       (unsigned long long)t->data_bells, (unsigned long long)t->space_bells);
	}
}

/* "p50 us (share)" of one placement, or a dash when no sample woke that way. */
static void print_place(double p50_us, uint64_t k, uint64_t n)
{
	if (k == 0)
		printf("%7s %10s", "-", "");
	else
		printf("%7.1f us (%5.1f%%)", p50_us, 100.0 * (double)k / (double)n);
}

static void print_place_row(const char *name, uint32_t len, const struct b_lat *l)
{
	printf("  %-9s %-5s ", name, len ? size_name(len) : "");
	print_place(l->p50_same_us, l->same, l->n);
	printf("   ");
	print_place(l->p50_cross_us, l->n - l->same, l->n);
	printf("\n");
}

/* Wake-up cost depends on where the scheduler wakes the consumer: show p50 for each case. */
static void print_placement(const struct results *res)
{
	printf("  p50 by where the consumer woke: on the producer's CPU | on the other CPU "
	       "(share of samples)\n");
	print_place_row("eventfd", 0, &res->efd.lat);
	for (size_t i = 0; i < N_SIZES; i++)
		for (int t = 0; t < _T_MAX; t++)
			print_place_row(t_name[t], sizes[i], &res->lat[i][t].lat);
}

static void print_lat(const struct b_cfg *cfg, const struct results *res)
{
	printf("\nLatency, one-way to a sleeping consumer (us; ping-pong, %u samples in %u rounds "
	       "after %u warm-up each, one every %llu us at most, producer %s between)\n",
	       cfg->rounds * (cfg->samples / cfg->rounds), cfg->rounds, cfg->warmup,
	       (unsigned long long)(cfg->pace_ns / 1000), cfg->spin ? "spins" : "sleeps");
	printf("  %-6s %-17s %-17s %-17s %s\n", "size", "ring p50/p99", "pipe p50/p99",
	       "seqpacket p50/p99", "ring/eventfd p50");
	for (size_t i = 0; i < N_SIZES; i++) {
		const struct b_lat *r = &res->lat[i][T_RING].lat, *p = &res->lat[i][T_PIPE].lat;
		const struct b_lat *q = &res->lat[i][T_SEQPACKET].lat;

		printf("  %-6s %6.1f / %-7.1f %6.1f / %-7.1f %6.1f / %-7.1f %.2fx\n",
		       size_name(sizes[i]), r->p50_us, r->p99_us, p->p50_us, p->p99_us, q->p50_us,
		       q->p99_us, ratio(r->p50_us, res->efd.lat.p50_us));
	}
	printf("  eventfd ping-pong: %.1f / %.1f us (p50/p99)\n", res->efd.lat.p50_us,
	       res->efd.lat.p99_us);
	print_placement(res);
	for (size_t i = 0; i < N_SIZES; i++)
		printf("  ring %-5s samples found without waiting first: %llu of %llu\n",
		       size_name(sizes[i]), (unsigned long long)res->lat[i][T_RING].hot,
		       (unsigned long long)res->lat[i][T_RING].lat.n);
}

static void print_target(const char *what, double value, const char *unit, bool ok)
{
	printf("  %-40s %8.2f%-4s %s\n", what, value, unit, ok ? "met" : "MISSED");
}

static void print_targets(const struct b_cfg *cfg, const struct results *res)
{
	double ring = mps(&res->tput[0][T_RING]), pipe = mps(&res->tput[0][T_PIPE]);
	double x_efd = ratio(res->lat[0][T_RING].lat.p50_us, res->efd.lat.p50_us);

	printf("\nTargets (issue 2)\n");
	if (cfg->tput) {
		print_target("ring 64 B >= 10 M msg/s", ring / 1e6, " M/s", ring >= B_TARGET_MPS);
		print_target("ring/pipe 64 B >= 20x", ratio(ring, pipe), "x",
			     ratio(ring, pipe) >= B_TARGET_X_PIPE);
	}
	if (cfg->lat)
		print_target("ring p50 64 B <= 2x eventfd ping-pong p50", x_efd, "x",
			     x_efd <= B_TARGET_X_EFD);
}

static void results_free(struct results *res)
{
	if (!res)
		return;
	free(res->efd.s);
	for (size_t i = 0; i < N_SIZES; i++)
		for (int t = 0; t < _T_MAX; t++)
			free(res->lat[i][t].s);
	free(res);
}

static struct results *results_new(const struct b_cfg *cfg)
{
	struct results *res = calloc(1, sizeof(*res));
	bool ok;

	if (!res)
		return NULL;
	res->efd.s = calloc(cfg->samples, sizeof(uint64_t));
	ok = res->efd.s != NULL;
	for (size_t i = 0; i < N_SIZES; i++)
		for (int t = 0; t < _T_MAX; t++) {
			res->lat[i][t].s = calloc(cfg->samples, sizeof(uint64_t));
			ok = ok && res->lat[i][t].s;
		}
	if (!ok) {
		results_free(res);
		return NULL;
	}
	return res;
}

int main(int argc, char **argv)
{
	struct results *res;
	struct b_cfg cfg;
	int rc = parse_args(argc, argv, &cfg);

	if (rc != 0) {
		usage(rc > 0 ? stdout : stderr);
		return rc > 0 ? 0 : EX_USAGE;
	}
	res = results_new(&cfg);
	if (!res)
		return 1;
	(void)prctl(PR_SET_TIMERSLACK, 1UL);
	if (cfg.pin && b_pin(1) < 0)
		fprintf(stderr, "bench-ring: cannot pin to cpu1, ignoring\n");
	print_header(&cfg);
	if (cfg.tput)
		rc = run_tput(&cfg, res);
	if (rc == 0 && cfg.tput)
		print_tput(&cfg, res);
	if (rc == 0 && cfg.lat)
		rc = run_lat(&cfg, res);
	if (rc == 0 && cfg.lat)
		print_lat(&cfg, res);
	if (rc == 0)
		print_targets(&cfg, res);
	results_free(res);
	return rc == 0 ? 0 : 1;
}
