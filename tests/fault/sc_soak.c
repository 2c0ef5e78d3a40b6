/* SPDX-License-Identifier: MIT */
/*
 * mm-scenario: the soak (scenario 10). 8 persistent sessions x 1,000 msg/s, QoS 1, 0, 2, 1 in
 * turn, for 30 minutes, with a fault every 2 minutes: a worker, the router, the broker and the
 * daemon in turn (the short form: 4 sessions x 100 msg/s for 24 s, a fault every 5 s, and no
 * daemon kill: that one loses messages today, see docs/reliability.md). Every 5 s (1 s) it
 * samples the resident memory of the daemon, the router and the workers, their descriptors
 * and the number of processes into soak-samples.csv, and plots memory and descriptors over
 * time into soak.png with gnuplot. Targets: 0 QoS 1 lost, memory flat (the slope of the
 * total over the run, after the first tenth), descriptors and processes back where they were.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sc.h"
#include "t_proc.h"

#define NS	       1000000000ull
#define MAX_SAMP       4096
#define SOAK_RSS_SLOPE 64.0 /* KiB per minute, all processes together */

struct sample {
	double t;
	long rss_daemon, rss_router, rss_workers;
	int fds, procs;
};

struct soak {
	struct sc_env *e;
	struct sample s[MAX_SAMP];
	int n;
	FILE *csv;
	double recovery[4]; /* worst, per kind of fault */
	int faults[4];
};

static const char *const Kinds[] = { "worker", "router", "broker", "daemon" };

static void add(long *sum, long v)
{
	if (v > 0)
		*sum += v;
}

static void take_sample(struct soak *k, double t)
{
	struct sc_env *e = k->e;
	struct sample *s = &k->s[k->n < MAX_SAMP ? k->n++ : MAX_SAMP - 1];
	pid_t r = t_proc_child(e->daemon, NULL);
	int fds;

	*s = (struct sample){ .t = t, .procs = 1 + (r > 0) };
	add(&s->rss_daemon, t_proc_status_kb(e->daemon, "VmRSS"));
	add(&s->rss_router, r > 0 ? t_proc_status_kb(r, "VmRSS") : 0);
	s->fds = (fds = t_proc_nfds(e->daemon, NULL)) > 0 ? fds : 0;
	s->fds += r > 0 && (fds = t_proc_nfds(r, NULL)) > 0 ? fds : 0;
	for (int i = 0; i < e->cfg.sessions; i++) {
		char name[16];
		pid_t w;

		snprintf(name, sizeof(name), "s%d", i);
		if ((w = t_proc_child(e->daemon, name)) <= 0)
			continue;
		s->procs++;
		add(&s->rss_workers, t_proc_status_kb(w, "VmRSS"));
		s->fds += (fds = t_proc_nfds(w, NULL)) > 0 ? fds : 0;
	}
	fprintf(k->csv, "%.1f %ld %ld %ld %ld %d %d\n", s->t, s->rss_daemon, s->rss_router,
		s->rss_workers, s->rss_daemon + s->rss_router + s->rss_workers, s->fds, s->procs);
	fflush(k->csv);
}

/* Fault <kind> now, then wait for everything to be ready again. */
static int fault(struct soak *k, int kind, uint64_t *seed)
{
	struct sc_env *e = k->e;
	uint64_t t = sc_now_ns();
	char name[16];
	pid_t pid;

	snprintf(name, sizeof(name), "s%d",
		 (int)(*seed = *seed * 6364136223846793005ull + 1) % e->cfg.sessions);
	if (kind == 0 && (pid = t_proc_child(e->daemon, name)) > 0)
		kill(pid, SIGKILL);
	if (kind == 1 && (pid = t_proc_child(e->daemon, NULL)) > 0)
		kill(pid, SIGKILL);
	if (kind == 2 && t_broker_restart(&e->broker) < 0)
		return sc_fail(e, "the broker did not restart"), -1;
	if (kind == 3) {
		sc_daemon_kill9(e);
		if (sc_daemon_start(e, NULL) < 0)
			return sc_fail(e, "mqttmuxd did not start again"), -1;
	}
	if (sc_daemon_wait_ready(e, SC_WAIT_MS) < 0)
		return sc_fail(e, "not ready again after a %s fault", Kinds[kind]), -1;
	k->faults[kind]++;
	if ((double)(sc_now_ns() - t) / 1e9 > k->recovery[kind])
		k->recovery[kind] = (double)(sc_now_ns() - t) / 1e9;
	return 0;
}

/* Least-squares slope of the total RSS (KiB per minute) over the samples after the first tenth. */
static double rss_slope(const struct soak *k)
{
	double sx = 0, sy = 0, sxx = 0, sxy = 0, m = 0;

	for (int i = k->n / 10; i < k->n; i++) {
		const struct sample *s = &k->s[i];
		double x = s->t / 60, y = (double)(s->rss_daemon + s->rss_router + s->rss_workers);

		sx += x;
		sy += y;
		sxx += x * x;
		sxy += x * y;
		m++;
	}
	return m < 2 || m * sxx - sx * sx == 0 ? 0 : (m * sxy - sx * sy) / (m * sxx - sx * sx);
}

/* soak.png from soak-samples.csv with gnuplot (Debian gnuplot-nox). */
static void plot(struct sc_env *e, const char *csv)
{
	char png[4096], *script = sc_path(e, "soak.gp");
	FILE *f = script ? fopen(script, "we") : NULL;
	pid_t pid;
	int st;

	snprintf(png, sizeof(png), "%s/soak.png", e->out);
	if (!f) {
		free(script);
		return;
	}
	fprintf(f,
		"set terminal png size 1200,700\nset output '%s'\n"
		"set title 'mqttmux soak: resident memory and descriptors'\n"
		"set xlabel 'seconds'\nset ylabel 'RSS (MiB)'\nset y2label 'descriptors'\n"
		"set y2tics\nset ytics nomirror\nset yrange [0:*]\nset y2range [0:*]\nset key outside bottom center horizontal\n"
		"plot '%s' using 1:($5/1024) with lines title 'RSS total', "
		"'' using 1:($2/1024) with lines title 'RSS mqttmuxd', "
		"'' using 1:($3/1024) with lines title 'RSS router', "
		"'' using 1:($4/1024) with lines title 'RSS workers', "
		"'' using 1:6 axes x1y2 with lines title 'descriptors'\n",
		png, csv);
	fclose(f);
	pid = sc_spawn(e, (const char *[]){ "/usr/bin/gnuplot", script, NULL }, NULL);
	st = pid > 0 ? sc_reap(pid, SC_WAIT_MS) : -1;
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		sc_note(e, "gnuplot failed (status %d): no plot", st);
	else
		sc_note(e, "plot: %s", png);
	free(script);
}

static void figures(struct soak *k, const struct sc_load *l)
{
	struct sc_env *e = k->e;
	const struct sample *a = &k->s[0], *z = &k->s[k->n ? k->n - 1 : 0];

	sc_load_figures(e, l);
	sc_fig(e, "lost_qos2", (double)sc_load_sum_qos(l, "lost", 2), SC_INFO, 0, "msgs");
	sc_fig(e, "lost_qos0", (double)sc_load_sum_qos(l, "lost", 0), SC_INFO, 0, "msgs");
	for (int i = 0; i < 4; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s_faults", Kinds[i]);
		sc_fig(e, name, k->faults[i], SC_INFO, 0, "");
		snprintf(name, sizeof(name), "%s_worst_recovery", Kinds[i]);
		sc_fig(e, name, k->recovery[i], SC_INFO, 0, "s");
	}
	sc_fig(e, "samples", k->n, SC_INFO, 0, "");
	/* a short run is mostly warm-up (rings and caches filling): a slope only in the long one */
	sc_fig(e, "rss_slope", rss_slope(k), e->long_form ? SC_LE : SC_INFO, SOAK_RSS_SLOPE,
	       "KiB/min");
	sc_fig(e, "rss_total_first", (double)(a->rss_daemon + a->rss_router + a->rss_workers),
	       SC_INFO, 0, "KiB");
	sc_fig(e, "rss_total_last", (double)(z->rss_daemon + z->rss_router + z->rss_workers),
	       SC_INFO, 0, "KiB");
	sc_fig(e, "fds_last_vs_first", abs(z->fds - a->fds), SC_LE, 0, "");
	sc_fig(e, "procs_last_vs_first", abs(z->procs - a->procs), SC_LE, 0, "");
}

int sc_soak(struct sc_env *e)
{
	struct sc_cfg c = { .sessions = e->long_form ? 8 : 4,
			    .persistent = true,
			    .extra = "restart = { burst = 1000; window = 10.0; };" };
	struct sc_load l = { .streams = c.sessions,
			     .qos = 1,
			     .qos_list = "1,0,2,1",
			     .rate = e->long_form ? 1000 : 100,
			     .secs = e->long_form ? 1800 : 24 };
	double period = e->long_form ? 120 : 5, every = e->long_form ? 5 : 1;
	int kinds = e->long_form ? 4 : 3, next_kind = 0;
	struct soak *k = calloc(1, sizeof(*k));
	char csv[4096];
	uint64_t seed = 15, t0, next_s, next_f, end;

	snprintf(csv, sizeof(csv), "%s/soak-samples.csv", e->out);
	if (!k || !(k->csv = fopen(csv, "we"))) {
		free(k);
		return sc_fail(e, "%s: %s", csv, strerror(errno)), 0;
	}
	k->e = e;
	fprintf(k->csv, "# seconds rss_daemon_kb rss_router_kb rss_workers_kb rss_total_kb fds "
			"processes\n");
	if (sc_world(e, &c) < 0 || sc_load_check_start(e, &l) < 0 || sc_load_pub_start(e, &l) < 0)
		goto out;
	t0 = next_s = sc_now_ns();
	next_f = t0 + (uint64_t)(period * NS);
	end = t0 + (uint64_t)((l.secs - 2) * NS);
	while (sc_now_ns() < end) {
		sc_sleep_until(next_s < next_f ? next_s : next_f);
		if (sc_now_ns() >= next_s) {
			take_sample(k, (double)(sc_now_ns() - t0) / 1e9);
			next_s += (uint64_t)(every * NS);
		}
		/* no fault in the last half period: the last sample sees a settled system */
		if (sc_now_ns() >= next_f && next_f + (uint64_t)(period / 2 * NS) < end) {
			if (fault(k, next_kind++ % kinds, &seed) < 0)
				goto out;
			next_f += (uint64_t)(period * NS);
		}
	}
	take_sample(k, (double)(sc_now_ns() - t0) / 1e9);
	if (sc_load_finish(e, &l) == 0)
		figures(k, &l);
	fclose(k->csv);
	k->csv = NULL;
	plot(e, csv);
out:
	if (k->csv)
		fclose(k->csv);
	free(k);
	sc_load_free(&l);
	return 0;
}
