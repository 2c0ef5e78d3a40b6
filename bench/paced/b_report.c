/* SPDX-License-Identifier: MIT */
/*
 * bench-paced's report for one rate: medians over the rounds of CPU, wake-ups and latency per
 * subject and process, syscalls from the counted pass, the ratios of mqttmux to both
 * baselines, the goal, every round with the machine's load, and syscalls by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b_paced.h"

#define SEED_P99_US 1894.0 /* the Go seed at 10,000 msg/s (issue 14); not runnable here */
#define GOAL_CPU    1.5
#define GOAL_P50_US 20.0

static const char *const subj_names[_B_SUBJ_MAX] = {
	[B_SUBJ_PLAIN] = "plain libmosquitto (C)",
	[B_SUBJ_MSUB] = "mosquitto_sub",
	[B_SUBJ_MQTTMUX] = "mqttmux, all processes",
};

const char *b_subj_name(enum b_subj s)
{
	return s < _B_SUBJ_MAX ? subj_names[s] : "?";
}

/* The figures of one run, per message received. */
struct figs {
	double cpu[_B_P_MAX], vol[_B_P_MAX], invol[_B_P_MAX], sc[_B_P_MAX], flt[_B_P_MAX];
	double cpu_all, vol_all, invol_all, sc_all, flt_all; /* the subject's (not the broker) */
	double p50, p99, w50, w99, load;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile <p> of <v>[0..n) in us, nearest rank; sorts <v>. */
static double pct_us(uint32_t *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u32);
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	return (double)v[k ? k - 1 : 0] / 1e3;
}

static void figs_of(const struct b_run *r, struct figs *f)
{
	double n = r->got ? (double)r->got : 1;

	memset(f, 0, sizeof(*f));
	for (int p = 0; p < _B_P_MAX; p++) {
		f->cpu[p] = (double)r->d[p].cpu_ns / 1e3 / n;
		f->vol[p] = (double)r->d[p].vol / n;
		f->invol[p] = (double)r->d[p].invol / n;
		f->sc[p] = (double)r->d[p].sc.total / n;
		f->flt[p] = (double)r->d[p].faults / n;
		if (p == B_P_BROKER)
			continue;
		f->flt_all += f->flt[p];
		f->cpu_all += f->cpu[p];
		f->vol_all += f->vol[p];
		f->invol_all += f->invol[p];
		f->sc_all += f->sc[p];
	}
	f->p50 = pct_us(r->p2c, r->nlat, 50);
	f->p99 = pct_us(r->p2c, r->nlat, 99);
	f->w50 = pct_us(r->w2c, r->nlat, 50);
	f->w99 = pct_us(r->w2c, r->nlat, 99);
	f->load = r->load1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of the rounds' figures, field by field (struct figs is all doubles). */
static void figs_median(const struct figs *v, unsigned n, struct figs *ret)
{
	const size_t nf = sizeof(struct figs) / sizeof(double);
	double col[16];

	for (size_t k = 0; k < nf; k++) {
		for (unsigned i = 0; i < n; i++)
			col[i] = ((const double *)&v[i])[k];
		qsort(col, n, sizeof(double), cmp_double);
		((double *)ret)[k] = n % 2 ? col[n / 2] : (col[n / 2 - 1] + col[n / 2]) / 2;
	}
}

/* One line of the table: a subject (or a process of mqttmux) from figures <f> and <c>. */
static void row(const char *name, const struct figs *f, const struct figs *c, int p, bool has_sc,
		bool lat)
{
	printf("  %-24s %8.2f %8.3f %8.3f %8.3f ", name, p < 0 ? f->cpu_all : f->cpu[p],
	       p < 0 ? f->vol_all : f->vol[p], p < 0 ? f->invol_all : f->invol[p],
	       p < 0 ? f->flt_all : f->flt[p]);
	if (has_sc)
		printf("%9.3f", p < 0 ? c->sc_all : c->sc[p]);
	else
		printf("%9s", "n/a");
	if (lat)
		printf(" %8.1f %8.1f", f->p50, f->p99);
	printf("\n");
}

static void table(const struct b_opts *o, const struct figs *m, const struct figs *c,
		  const bool *counted)
{
	static const char *const procs[] = { "client (libmqttmux)", "worker", "router" };

	printf("  %-24s %8s %8s %8s %8s %9s %8s %8s\n", "per message", "CPU us", "wake-ups",
	       "preempt", "faults", "syscalls", "p50 us", "p99 us");
	for (int s = 0; s < _B_SUBJ_MAX; s++) {
		if (!o->subj[s])
			continue;
		row(subj_names[s], &m[s], &c[s], -1, counted[s], true);
		if (s != B_SUBJ_MQTTMUX)
			continue;
		for (int p = B_P_SUB; p <= B_P_ROUTER; p++)
			row(procs[p], &m[s], &c[s], p, counted[s], false);
		printf("  %-24s %44s %8.1f %8.1f\n", "worker -> handler", "", m[s].w50, m[s].w99);
	}
	printf("  (wake-ups: voluntary context switches; preempt: involuntary; latency: publisher"
	       " -> handler)\n");
	printf("  broker (mosquitto) CPU us/msg, same work in every run:");
	for (int s = 0; s < _B_SUBJ_MAX; s++)
		if (o->subj[s])
			printf(" %s %.2f;", s == B_SUBJ_MQTTMUX ? "mqttmux" : subj_names[s],
			       m[s].cpu[B_P_BROKER]);
	printf("\n");
}

static void ratios(const struct figs *m, const struct figs *c, const bool *counted, int base)
{
	const struct figs *x = &m[B_SUBJ_MQTTMUX], *b = &m[base];

	printf("  mqttmux / %-22s CPU %5.2fx  wake-ups %5.2fx", subj_names[base],
	       b->cpu_all > 0 ? x->cpu_all / b->cpu_all : 0,
	       b->vol_all > 0 ? x->vol_all / b->vol_all : 0);
	if (counted[base] && counted[B_SUBJ_MQTTMUX] && c[base].sc_all > 0)
		printf("  syscalls %5.2fx", c[B_SUBJ_MQTTMUX].sc_all / c[base].sc_all);
	printf("  p50 %+7.1f us  p99 %.0f vs %.0f us\n", x->p50 - b->p50, x->p99, b->p99);
}

static void goal(const struct figs *m)
{
	const struct figs *x = &m[B_SUBJ_MQTTMUX], *b = &m[B_SUBJ_PLAIN];
	double cr = b->cpu_all > 0 ? x->cpu_all / b->cpu_all : 0, add = x->p50 - b->p50;

	printf("  goal (issue 14), against the plain libmosquitto subscriber of this run:\n"
	       "    CPU <= %.1fx: %s (%.2fx); p50 added <= %.0f us: %s (%+.1f us); p99 <= %.0f us"
	       " (the seed's): %s (%.0f us)\n",
	       GOAL_CPU, cr <= GOAL_CPU ? "MET" : "NOT MET", cr, GOAL_P50_US,
	       add <= GOAL_P50_US ? "MET" : "NOT MET", add, SEED_P99_US,
	       x->p99 <= SEED_P99_US ? "MET" : "NOT MET", x->p99);
}

static void rounds(const struct b_opts *o, const struct figs (*f)[_B_SUBJ_MAX])
{
	printf("  per round: load (1 min), CPU us/msg, p50/p99 us");
	printf(" (plain | mosquitto_sub | mqttmux = worker + router + client, worker->handler)\n");
	for (unsigned i = 0; i < o->rounds; i++) {
		const struct figs *x = f[i];

		printf("    [%u] load %5.1f/%5.1f/%5.1f  CPU %6.2f | %6.2f | %6.2f = %.2f + %.2f + "
		       "%.2f  p50/p99 %.0f/%.0f | %.0f/%.0f | %.0f/%.0f (%.0f/%.0f)\n",
		       i + 1, x[0].load, x[1].load, x[2].load, x[0].cpu_all, x[1].cpu_all,
		       x[2].cpu_all, x[2].cpu[B_P_WORKER], x[2].cpu[B_P_ROUTER], x[2].cpu[B_P_SUB],
		       x[0].p50, x[0].p99, x[1].p50, x[1].p99, x[2].p50, x[2].p99, x[2].w50,
		       x[2].w99);
	}
}

static void by_name(const struct b_opts *o, const struct b_run *counted)
{
	static const struct {
		int subj, proc;
		const char *name;
	} cols[] = {
		{ B_SUBJ_PLAIN, B_P_SUB, "plain" },	  { B_SUBJ_MSUB, B_P_SUB, "msub" },
		{ B_SUBJ_MQTTMUX, B_P_WORKER, "worker" }, { B_SUBJ_MQTTMUX, B_P_ROUTER, "router" },
		{ B_SUBJ_MQTTMUX, B_P_SUB, "client" },	  { B_SUBJ_MQTTMUX, B_P_BROKER, "broker" }
	};
	const int nc = (int)(sizeof(cols) / sizeof(cols[0]));

	printf("  syscalls per message by name (syscall pass: one run each, counters attached)\n"
	       "    %-15s",
	       "");
	for (int k = 0; k < nc; k++)
		printf(" %8s", cols[k].name);
	printf("\n");
	for (int i = -1; i < _B_SC_MAX; i++) {
		double v[8], any = 0;

		for (int k = 0; k < nc; k++) {
			const struct b_run *r = &counted[cols[k].subj];
			const struct b_sc_counts *sc = &r->d[cols[k].proc].sc;
			uint64_t x = i < 0 ? sc->total : sc->n[i];

			v[k] = o->subj[cols[k].subj] && r->got ? (double)x / (double)r->got : 0;
			any += v[k];
		}
		if (any < 0.0005)
			continue;
		printf("    %-15s", i < 0 ? "(all)" : b_sc_name((enum b_sc)i));
		for (int k = 0; k < nc; k++)
			printf(" %8.3f", v[k]);
		printf("\n");
	}
}

/*
 * The report of one rate: <runs>[round][subject] are the timed runs, <counted>[subject] the
 * syscall pass (NULL when none ran).
 */
void b_report_rate(const struct b_opts *o, uint32_t rate, struct b_run (*runs)[_B_SUBJ_MAX],
		   const struct b_run *counted)
{
	struct figs f[16][_B_SUBJ_MAX] = { 0 }, m[_B_SUBJ_MAX] = { 0 }, c[_B_SUBJ_MAX] = { 0 };
	bool has_sc[_B_SUBJ_MAX] = { 0 };
	uint64_t sent = 0;

	for (int s = 0; s < _B_SUBJ_MAX; s++) {
		struct figs col[16];

		if (!o->subj[s])
			continue;
		sent = runs[0][s].sent;
		for (unsigned i = 0; i < o->rounds; i++) {
			figs_of(&runs[i][s], &f[i][s]);
			col[i] = f[i][s];
		}
		figs_median(col, o->rounds, &m[s]);
		if (counted && counted[s].counted && counted[s].got) {
			figs_of(&counted[s], &c[s]);
			has_sc[s] = true;
		}
	}
	printf("\n== %u msg/s, 64 B QoS 0, %llu messages per run; medians of %u round(s) ==\n",
	       rate, (unsigned long long)sent, o->rounds);
	table(o, m, c, has_sc);
	if (o->subj[B_SUBJ_MQTTMUX]) {
		for (int b = B_SUBJ_PLAIN; b <= B_SUBJ_MSUB; b++)
			if (o->subj[b])
				ratios(m, c, has_sc, b);
		if (o->subj[B_SUBJ_PLAIN])
			goal(m);
	}
	rounds(o, (const struct figs(*)[_B_SUBJ_MAX])f);
	if (counted)
		by_name(o, counted);
}
