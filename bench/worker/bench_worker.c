/* SPDX-License-Identifier: MIT */
/*
 * bench-worker: how fast mqttmux-worker takes a message stream off an MQTT connection and into
 * its in-ring, against a plain libmosquitto subscriber on mosquitto_loop() doing the same. A
 * firehose (a minimal MQTT server on 127.0.0.1) streams pre-encoded PUBLISH packets as fast
 * as the socket takes them to (a) the worker, with this process draining the ring as the
 * router would, and (b) the plain subscriber; each subject runs a fixed number of messages (or
 * seconds), in interleaved rounds. Prints messages/s, CPU microseconds per message and
 * syscalls per message for both, their ratios and issue 3's target. Not part of the test run
 * (built with -Dbench=true; see scripts/bench-worker).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sysexits.h>
#include <unistd.h>

#include "b_worker.h"

#define MAX_ROUNDS 15

enum subj { S_URING = 0, S_EPOLL, S_PLAIN, _S_MAX };

static const char *const subj_name[_S_MAX] = { "worker uring", "worker epoll", "plain mosquitto" };
static const char *const subj_short[_S_MAX] = { "uring", "epoll", "plain" };

/* Per-message figures of one run, by index: fixed ones first, then the syscall breakdown. */
enum metric {
	M_RATE = 0, /* messages/s on the receiving side */
	M_CPU,	    /* subject CPU us/msg */
	M_SC,	    /* subject syscalls/msg */
	M_CONS_CPU, /* (a) consumer CPU us/msg */
	M_CONS_SC,  /* (a) consumer syscalls/msg */
	M_SRC_CPU,  /* firehose CPU us/msg */
	M_SC_BY,    /* + enum b_sc, then one more for "other": subject */
	M_CONS_SC_BY = M_SC_BY + _B_SC_MAX + 1, /* the same for the consumer */
	_M_MAX = M_CONS_SC_BY + _B_SC_MAX + 1
};

struct bench {
	struct b_cfg cfg;
	bool run[_S_MAX];
	bool keep;				 /* keep the temporary directory */
	bool syscalls;				 /* run the syscall-counting pass */
	struct b_result res[_S_MAX][MAX_ROUNDS]; /* timed rounds: no counters attached */
	struct b_result scp[_S_MAX];		 /* the syscall pass */
	double med[_S_MAX][_M_MAX];
	unsigned backend[_S_MAX];
	bool sc_valid[_S_MAX];
	char tmpdir[64];
};

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-worker [options]\n"
		   "  --count N        messages per subject run (default 2M; K and M suffixes)\n"
		   "  --seconds S      run each subject S seconds instead of a message count\n"
		   "  --payload BYTES  payload size (default 64)\n"
		   "  --qos 0|1        QoS of the stream (default 0)\n"
		   "  --window N       QoS 1: unacknowledged PUBLISHes at most (default 1000)\n"
		   "  --ring BYTES     worker in-ring capacity, power of two (default 1M)\n"
		   "  --batch N        consumer: records per release (default 64)\n"
		   "  --rounds N       runs per subject, interleaved; medians shown (default 3)\n"
		   "  --subjects LIST  comma-separated: uring,epoll,plain (default all three)\n"
		   "  --pin            subject on CPU 1; firehose and consumer on CPU 0\n"
		   "  --no-syscalls    skip the extra pass that counts syscalls\n"
		   "  --keep           keep the temporary directory (config, worker logs)\n");
}

/* Parse a count with an optional K/M/G suffix (binary). Returns 0 or -EINVAL. */
static int parse_u64(const char *s, uint64_t *ret)
{
	const char *suffixes = "KMG", *sfx;
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
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

static int parse_subjects(struct bench *b, const char *s)
{
	char *dup = strdup(s), *save = NULL, *tok;
	int rc = 0;

	memset(b->run, 0, sizeof(b->run));
	for (tok = strtok_r(dup, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
		int i = 0;

		while (i < _S_MAX && strcmp(tok, subj_short[i]))
			i++;
		if (i == _S_MAX)
			rc = -EINVAL;
		else
			b->run[i] = true;
	}
	free(dup);
	return rc;
}

static int set_opt(struct bench *b, int opt, const char *arg)
{
	struct b_cfg *c = &b->cfg;
	uint64_t v = 0;

	if (opt == 'S')
		return parse_subjects(b, arg);
	if (opt == 'p' || opt == 'k' || opt == 'N') {
		*(opt == 'p' ? &c->pin : opt == 'k' ? &b->keep : &b->syscalls) = opt != 'N';
		return 0;
	}
	if (parse_u64(arg, &v) < 0)
		return -EINVAL;
	if (opt == 'n' || opt == 's') {
		c->count = opt == 'n' ? v : 0;
		c->secs = opt == 's' ? v : 0;
		return v ? 0 : -EINVAL;
	}
	if (opt == 'l')
		c->payload = (uint32_t)v;
	else if (opt == 'q')
		c->qos = (int)v;
	else if (opt == 'w')
		c->window = (uint32_t)v;
	else if (opt == 'r')
		c->ring = v;
	else if (opt == 'b')
		c->batch = (unsigned)v;
	else if (opt == 'R')
		c->rounds = (unsigned)v;
	else
		return -EINVAL;
	return 0;
}

static bool cfg_is_valid(const struct b_cfg *c)
{
	return c->payload >= 1 && c->payload + 256 <= c->ring / 8 && c->qos >= 0 && c->qos <= 1 &&
	       c->window >= 1 && c->window <= 32768 && !(c->ring & (c->ring - 1)) &&
	       c->ring >= (64u << 10) && c->ring <= (1u << 30) && c->batch >= 1 && c->rounds >= 1 &&
	       c->rounds <= MAX_ROUNDS;
}

/* Fill *b from argv. Returns 0, 1 for --help, or -EINVAL. */
static int parse_args(int argc, char **argv, struct bench *b)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "payload", required_argument, NULL, 'l' },
		{ "qos", required_argument, NULL, 'q' },
		{ "window", required_argument, NULL, 'w' },
		{ "ring", required_argument, NULL, 'r' },
		{ "batch", required_argument, NULL, 'b' },
		{ "rounds", required_argument, NULL, 'R' },
		{ "subjects", required_argument, NULL, 'S' },
		{ "pin", no_argument, NULL, 'p' },
		{ "keep", no_argument, NULL, 'k' },
		{ "no-syscalls", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	b->cfg = (struct b_cfg){ .count = 2000000,
				 .payload = 64,
				 .window = 1000,
				 .ring = 1u << 20,
				 .batch = 64,
				 .rounds = 3 };
	b->syscalls = true;
	for (int i = 0; i < _S_MAX; i++)
		b->run[i] = true;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'h')
			return 1;
		if (opt == '?' || set_opt(b, opt, optarg) < 0)
			return -EINVAL;
	}
	return optind == argc && cfg_is_valid(&b->cfg) ? 0 : -EINVAL;
}

static double per_msg(double v, uint64_t msgs)
{
	return msgs ? v / (double)msgs : 0;
}

/* Syscalls per message: the total, one tracepoint, or (i == _B_SC_MAX) all the others. */
static double sc_per_msg(const struct b_sc_counts *sc, int i, uint64_t msgs)
{
	uint64_t v = sc->total;

	if (i >= 0 && i < _B_SC_MAX)
		v = sc->n[i];
	else if (i == _B_SC_MAX)
		for (int j = 0; j < _B_SC_MAX; j++)
			v -= sc->n[j] <= v ? sc->n[j] : v;
	return per_msg((double)v, msgs);
}

static double metric(const struct b_result *r, int m)
{
	switch (m) {
	case M_RATE:
		return r->secs > 0 ? (double)(r->cons_msgs ? r->cons_msgs : r->msgs) / r->secs : 0;
	case M_CPU:
		return per_msg(b_ru_us(&r->subj_ru), r->msgs);
	case M_SC:
		return sc_per_msg(&r->subj_sc, -1, r->msgs);
	case M_CONS_CPU:
		return per_msg(r->cons_cpu_us, r->cons_msgs);
	case M_CONS_SC:
		return sc_per_msg(&r->cons_sc, -1, r->cons_msgs);
	case M_SRC_CPU:
		return per_msg(b_ru_us(&r->src_ru), r->msgs);
	}
	if (m < M_CONS_SC_BY)
		return sc_per_msg(&r->subj_sc, m - M_SC_BY, r->msgs);
	return sc_per_msg(&r->cons_sc, m - M_CONS_SC_BY, r->cons_msgs);
}

static bool is_sc_metric(int m)
{
	return m == M_SC || m == M_CONS_SC || m >= M_SC_BY;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void summarize(struct bench *b, int s)
{
	double v[MAX_ROUNDS];
	unsigned n = b->cfg.rounds;

	for (int m = 0; m < _M_MAX; m++) {
		if (is_sc_metric(m)) {
			b->med[s][m] = metric(&b->scp[s], m);
			continue;
		}
		for (unsigned r = 0; r < n; r++)
			v[r] = metric(&b->res[s][r], m);
		qsort(v, n, sizeof(v[0]), cmp_double);
		b->med[s][m] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	}
	b->backend[s] = b->res[s][0].backend;
	b->sc_valid[s] = b->syscalls && b->scp[s].subj_sc.valid;
}

/* Run subject <s> once: timed round <round>, or (round == cfg.rounds) the syscall pass. */
static int run_one(struct bench *b, int s, unsigned round)
{
	bool sc_pass = round == b->cfg.rounds;
	struct b_result *r = sc_pass ? &b->scp[s] : &b->res[s][round];
	int rc;

	b->cfg.syscalls = sc_pass;
	rc = s == S_PLAIN ? b_run_plain(&b->cfg, r)
			  : b_run_worker(&b->cfg, s == S_URING ? 1 : 2, r);
	if (rc < 0) {
		fprintf(stderr, "bench-worker: %s, %s %u failed: %s\n", subj_name[s],
			sc_pass ? "syscall pass" : "round", round + 1, strerror(-rc));
		return rc;
	}
	if (sc_pass)
		printf("  syscalls ");
	else
		printf("  round %-3u", round + 1);
	printf("%-16s %9.0f msgs/s %7.3f us/msg", subj_name[s], metric(r, M_RATE),
	       metric(r, M_CPU));
	if (s != S_PLAIN)
		printf(" (consumer %.3f, ring full %llu times)", metric(r, M_CONS_CPU),
		       (unsigned long long)r->ring_full_waits);
	if (sc_pass)
		printf(" %7.3f syscalls/msg", metric(r, M_SC));
	printf("\n");
	fflush(stdout);
	return 0;
}

static void print_header(const struct bench *b)
{
	const struct b_cfg *c = &b->cfg;
	struct utsname u;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (uname(&u) == -1)
		strcpy(u.release, "?");
	printf("bench-worker: ");
	if (c->count)
		printf("%llu messages", (unsigned long long)c->count);
	else
		printf("%llu s", (unsigned long long)c->secs);
	printf(" per run, %u B payload on \"%s\", QoS %d", c->payload, B_TOPIC, c->qos);
	if (c->qos)
		printf(" (window %u)", c->window);
	printf(", %u rounds\n", c->rounds);
	printf("  worker in-ring %llu KiB, consumer releases every %u records; %ld CPUs, Linux %s, "
	       "%s\n",
	       (unsigned long long)(c->ring >> 10), c->batch, cpus, u.release,
	       c->pin ? "pinned (subject CPU 1, firehose and consumer CPU 0)" : "unpinned");
	printf("  worker: %s\n", b_worker_binary());
	printf("  msgs/s: receiving side, first to last message. CPU: wait4 rusage of the subject\n"
	       "  process (user+sys, whole life) per message it received; consumer: getrusage over\n"
	       "  its window. Both from the timed rounds, which run without counters. syscalls: one\n"
	       "  more run per subject with perf counters on the tracepoints raw_syscalls:sys_enter\n"
	       "  and syscalls:sys_enter_<name> attached to the subject process for its whole life\n"
	       "  (as perf stat -e raw_syscalls:sys_enter -p PID), and to the consumer.\n\n");
	fflush(stdout);
}

static void print_row(const struct bench *b, int s)
{
	const double *m = b->med[s];

	printf("%-17s %12.0f %12.3f ", subj_name[s], m[M_RATE], m[M_CPU]);
	if (b->sc_valid[s])
		printf("%14.3f", m[M_SC]);
	else
		printf("%14s", "n/a");
	printf("  %12.3f\n", m[M_SRC_CPU]);
	if (s == S_PLAIN)
		return;
	printf("  + consumer      %12s %12.3f ", "", m[M_CONS_CPU]);
	if (b->sc_valid[s])
		printf("%14.3f\n", m[M_CONS_SC]);
	else
		printf("%14s\n", "n/a");
}

static void print_ratio(const struct bench *b, int s)
{
	const double *w = b->med[s], *p = b->med[S_PLAIN];
	bool rate_ok = w[M_RATE] >= p[M_RATE], sc_ok = w[M_SC] <= p[M_SC];

	printf("%-17s %11.2fx %11.2fx ", subj_name[s], w[M_RATE] / p[M_RATE], w[M_CPU] / p[M_CPU]);
	if (!b->sc_valid[s] || !b->sc_valid[S_PLAIN]) {
		printf("%13s    rate %s, syscalls unknown\n", "n/a", rate_ok ? "MET" : "NOT MET");
		return;
	}
	printf("%13.2fx    rate %s, syscalls %s", w[M_SC] / p[M_SC], rate_ok ? "MET" : "NOT MET",
	       sc_ok ? "MET" : "NOT MET");
	printf(" (with consumer: %.2fx)\n", (w[M_SC] + w[M_CONS_SC]) / p[M_SC]);
}

static void print_table(const struct bench *b)
{
	printf("\nmsgs/s and CPU: medians of %u rounds; syscalls: %s\n", b->cfg.rounds,
	       b->syscalls ? "the syscall pass" : "not counted (--no-syscalls)");
	printf("%-17s %12s %12s %14s  %12s\n", "subject", "msgs/s", "CPU us/msg", "syscalls/msg",
	       "source us/msg");
	for (int s = 0; s < _S_MAX; s++)
		if (b->run[s])
			print_row(b, s);
	if (!b->run[S_PLAIN] || b->med[S_PLAIN][M_RATE] <= 0)
		return;
	printf("\n%-17s %12s %12s %14s    target (issue 3): rate >= 1.0x, syscalls <= 1.0x\n",
	       "worker/plain", "rate", "CPU", "syscalls");
	for (int s = S_URING; s <= S_EPOLL; s++)
		if (b->run[s])
			print_ratio(b, s);
}

/* Syscalls per message by name, for every subject (and consumer) that made them. */
static void print_breakdown(const struct bench *b)
{
	if (!b->syscalls)
		return;
	printf("\nsyscalls per message by name (syscall pass)\n%-16s", "");
	for (int s = 0; s < _S_MAX; s++)
		if (b->run[s] && b->sc_valid[s])
			printf(s == S_PLAIN ? " %14s" : " %14s %10s", subj_short[s], "consumer");
	printf("\n");
	for (int i = 0; i <= _B_SC_MAX; i++) {
		double any = 0;

		for (int s = 0; s < _S_MAX; s++)
			if (b->run[s] && b->sc_valid[s])
				any += b->med[s][M_SC_BY + i] + b->med[s][M_CONS_SC_BY + i];
		if (any < 0.0005)
			continue;
		printf("  %-14s", i < _B_SC_MAX ? b_sc_name((enum b_sc)i) : "(other)");
		for (int s = 0; s < _S_MAX; s++) {
			if (!b->run[s] || !b->sc_valid[s])
				continue;
			printf(" %14.3f", b->med[s][M_SC_BY + i]);
			if (s != S_PLAIN)
				printf(" %10.3f", b->med[s][M_CONS_SC_BY + i]);
		}
		printf("\n");
	}
}

static void cleanup_tmpdir(const struct bench *b)
{
	static const char *const files[] = { "worker.cfg", "worker-uring.log", "worker-epoll.log" };
	char path[128];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", b->tmpdir, files[i]);
		(void)unlink(path);
	}
	(void)rmdir(b->tmpdir);
}

static int run_all(struct bench *b)
{
	int rc = 0;

	for (unsigned r = 0; r < b->cfg.rounds + b->syscalls && rc == 0; r++)
		for (int s = 0; s < _S_MAX && rc == 0; s++)
			if (b->run[s])
				rc = run_one(b, s, r);
	return rc;
}

int main(int argc, char **argv)
{
	static struct bench b;
	int rc = parse_args(argc, argv, &b);

	if (rc) {
		usage(rc > 0 ? stdout : stderr);
		return rc > 0 ? 0 : EX_USAGE;
	}
	strcpy(b.tmpdir, "/tmp/bench-worker.XXXXXX");
	if (!mkdtemp(b.tmpdir)) {
		perror("bench-worker: mkdtemp");
		return 1;
	}
	b.cfg.tmpdir = b.tmpdir;
	if (b.cfg.pin)
		(void)b_pin(0);
	print_header(&b);
	rc = run_all(&b);
	if (rc == 0) {
		for (int s = 0; s < _S_MAX; s++)
			if (b.run[s])
				summarize(&b, s);
		print_table(&b);
		print_breakdown(&b);
	}
	if (rc == 0 && !b.keep)
		cleanup_tmpdir(&b);
	else
		fprintf(stderr, "bench-worker: config and worker logs kept in %s\n", b.tmpdir);
	return rc == 0 ? 0 : 1;
}
