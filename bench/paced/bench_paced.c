/* SPDX-License-Identifier: MIT */
/*
 * bench-paced (issue 14): the cost of a message at everyday rates. For each rate (default
 * 100, 1,000 and 10,000 msg/s of 64 B QoS 0, steadily paced by one publisher), three subjects
 * take the same stream from one private mosquitto, one after another, in interleaved rounds:
 * a plain libmosquitto subscriber in C (mosquitto_loop), mosquitto_sub, and mqttmux (mqttmuxd
 * with one session, its worker and router, and one libmqttmux client with a callback route).
 * Per process: CPU per message (process CPU clock), wake-ups (voluntary context switches)
 * and preemptions per message, syscalls per message (tracepoint counters, in a separate pass
 * because attached counters cost CPU), and publisher -> handler latency. The Go seed the
 * issue compares with is not available here. Run it with scripts/bench-paced.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "b_paced.h"

#define MAX_ROUNDS 9

static uint32_t secs_for(const struct b_opts *o, unsigned k)
{
	double s = o->secs[k];
	uint64_t n = (uint64_t)(s * o->rates[k]);

	if (n < o->msgs_min)
		s = (double)o->msgs_min / o->rates[k];
	return s < 1 ? 1 : (uint32_t)(s + 0.5);
}

static void lost_note(const struct b_run *r)
{
	if (r->got < r->sent)
		printf("  NOTE: %s at %u msg/s received %llu of %llu\n", b_subj_name(r->subj),
		       r->rate, (unsigned long long)r->got, (unsigned long long)r->sent);
}

/* Every subject once at rate <k>, timed (or counted). */
static int one_rate(struct b_stack *s, const struct b_opts *o, unsigned k, bool count,
		    struct b_run *out)
{
	for (int subj = 0; subj < _B_SUBJ_MAX; subj++) {
		int rc;

		if (!o->subj[subj])
			continue;
		rc = b_run_one(s, (enum b_subj)subj, o->rates[k], secs_for(o, k), count, o->warmup,
			       &out[subj]);
		if (rc < 0) {
			fprintf(stderr, "bench-paced: %s at %u msg/s: %s\n",
				b_subj_name((enum b_subj)subj), o->rates[k], strerror(-rc));
			return rc;
		}
		lost_note(&out[subj]);
	}
	return 0;
}

static void free_runs(struct b_run *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b_run_free(&r[i]);
}

static int run_all(struct b_stack *s, const struct b_opts *o)
{
	static struct b_run runs[8][MAX_ROUNDS][_B_SUBJ_MAX], counted[8][_B_SUBJ_MAX];
	int rc = 0;

	for (unsigned i = 0; i < o->rounds && rc == 0; i++)
		for (unsigned k = 0; k < o->nrates && rc == 0; k++) {
			printf("round %u/%u: %u msg/s for %u s per subject (load %.1f)\n", i + 1,
			       o->rounds, o->rates[k], secs_for(o, k), b_load1());
			rc = one_rate(s, o, k, false, runs[k][i]);
		}
	for (unsigned k = 0; k < o->nrates && rc == 0 && o->sc_pass; k++) {
		printf("syscall pass: %u msg/s\n", o->rates[k]);
		rc = one_rate(s, o, k, true, counted[k]);
	}
	for (unsigned k = 0; k < o->nrates && rc == 0; k++)
		b_report_rate(o, o->rates[k], runs[k], o->sc_pass ? counted[k] : NULL);
	free_runs(&runs[0][0][0], sizeof(runs) / sizeof(runs[0][0][0]));
	free_runs(&counted[0][0], sizeof(counted) / sizeof(counted[0][0]));
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-paced [--rates R1,R2,...] [--secs S] [--min-msgs N] [--rounds N]\n"
		"                   [--no-syscalls] [--subjects plain,msub,mqttmux] [--warmup N]\n"
		"                   [--latency-budget US] (the session's latency_budget_us)\n"
		"defaults: --rates 100,1000,10000, 20/10/5 s per run, --min-msgs 2000, "
		"--rounds 3, --warmup %u (unpaced, before each measured stream)\n",
		B_WARMUP_MSGS);
}

static int parse_rates(const char *arg, struct b_opts *o)
{
	char *end;

	o->nrates = 0;
	for (const char *p = arg; *p && o->nrates < 8; p = *end ? end + 1 : end) {
		unsigned long v = strtoul(p, &end, 10);

		if (end == p || v == 0 || v > 200000 || (*end && *end != ','))
			return -EINVAL;
		o->secs[o->nrates] = o->secs[o->nrates] > 0 ? o->secs[o->nrates] : 5;
		o->rates[o->nrates++] = (uint32_t)v;
	}
	return o->nrates ? 0 : -EINVAL;
}

static int parse_subjects(const char *arg, struct b_opts *o)
{
	memset(o->subj, 0, sizeof(o->subj));
	o->subj[B_SUBJ_PLAIN] = strstr(arg, "plain") != NULL;
	o->subj[B_SUBJ_MSUB] = strstr(arg, "msub") != NULL;
	o->subj[B_SUBJ_MQTTMUX] = strstr(arg, "mqttmux") != NULL;
	return o->subj[0] || o->subj[1] || o->subj[2] ? 0 : -EINVAL;
}

static int parse(int argc, char **argv, struct b_opts *o)
{
	static const struct option lo[] = {
		{ "rates", 1, NULL, 'r' },	 { "secs", 1, NULL, 's' },
		{ "min-msgs", 1, NULL, 'm' },	 { "rounds", 1, NULL, 'k' },
		{ "no-syscalls", 0, NULL, 'S' }, { "subjects", 1, NULL, 'j' },
		{ "warmup", 1, NULL, 'w' },	 { "latency-budget", 1, NULL, 'b' },
		{ "help", 0, NULL, 'h' },	 { 0 },
	};
	double secs = 0;
	int c, rc = 0;

	while (rc == 0 && (c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'r')
			rc = parse_rates(optarg, o);
		else if (c == 's')
			secs = strtod(optarg, NULL), rc = secs > 0 ? 0 : -EINVAL;
		else if (c == 'm')
			o->msgs_min = (uint32_t)strtoul(optarg, NULL, 10);
		else if (c == 'k')
			o->rounds = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'S')
			o->sc_pass = false;
		else if (c == 'w')
			o->warmup = (uint32_t)strtoul(optarg, NULL, 10);
		else if (c == 'j')
			rc = parse_subjects(optarg, o);
		else if (c == 'b')
			o->budget_us = (uint32_t)strtoul(optarg, NULL, 10);
		else if (c == 'h')
			usage(stdout), exit(0);
		else
			rc = -EINVAL;
	}
	for (unsigned k = 0; secs > 0 && k < o->nrates; k++)
		o->secs[k] = secs;
	if (rc == 0 && (o->rounds == 0 || o->rounds > MAX_ROUNDS))
		rc = -EINVAL;
	if (rc < 0)
		usage(stderr);
	return rc;
}

static void header(const struct b_opts *o)
{
	struct utsname u;
	time_t now = time(NULL);
	char date[64];

	(void)uname(&u);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	printf("bench-paced: %s; %s %s, %ld CPUs online; load %.1f\n", date, u.sysname, u.release,
	       sysconf(_SC_NPROCESSORS_ONLN), b_load1());
	printf("subjects, one at a time on one mosquitto: plain libmosquitto C subscriber "
	       "(mosquitto_loop, 1 s timeout), mosquitto_sub -F '%%U %%p' (TZ=UTC0, into a "
	       "file), mqttmux (worker + router + 1 libmqttmux client, callback route, "
	       "mqttmux_dispatch 1 s); the Go seed is not available here\n");
	printf("%u round(s), interleaved; syscalls: %s; session latency_budget_us = %u\n",
	       o->rounds, o->sc_pass ? "one extra pass with tracepoint counters" : "not counted",
	       o->budget_us);
}

int main(int argc, char **argv)
{
	struct b_opts o = { .rates = { 100, 1000, 10000 },
			    .nrates = 3,
			    .secs = { 20, 10, 5 },
			    .msgs_min = 2000,
			    .rounds = 3,
			    .sc_pass = true,
			    .warmup = B_WARMUP_MSGS,
			    .subj = { true, true, true } };
	struct b_stack s = { 0 };
	int rc;

	if (parse(argc, argv, &o) < 0)
		return 64;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	s.ring = 4u << 20;
	s.budget_us = o.budget_us;
	header(&o);
	if ((rc = b_broker_start(&s)) < 0) {
		fprintf(stderr, "bench-paced: broker: %s\n", strerror(-rc));
		b_stack_free(&s);
		return 1;
	}
	rc = run_all(&s, &o);
	if (rc < 0)
		fprintf(stderr, "bench-paced: %s (logs in %s with B_E2E_KEEP=1)\n", strerror(-rc),
			s.dir);
	b_stack_free(&s);
	return rc < 0 ? 1 : 0;
}
