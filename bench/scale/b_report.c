/* SPDX-License-Identifier: MIT */
/*
 * bench-scale's report: the figures of a run per process kind, each with the baseline's, and
 * issue 13's targets with a verdict.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "b_scale.h"

#define MAX_KINDS 8

static double mib(uint64_t kb)
{
	return (double)kb / 1024.0;
}

static void print_kind(const struct b_kind *k, double window_s)
{
	const char *name = !strcmp(k->comm, "mqttmuxd")		? "supervisor"
			   : !strcmp(k->comm, "mqttmux-router") ? "router"
			   : !strcmp(k->comm, "mqttmux-worker") ? "workers"
			   : !strcmp(k->comm, "b_client")	? "clients"
			   : !strcmp(k->comm, "b_plain")	? "plain"
								: k->comm;

	printf("  %-12s %5u %10.1f %10.1f %10.1f %8.3f %8.3f %8.2f %8.2f\n", name, k->n,
	       mib(k->rss_kb), mib(k->pss_kb), mib(k->dirty_kb),
	       (double)k->pss_kb / 1024.0 / (k->n ? k->n : 1),
	       100.0 * (double)k->cpu_ns / 1e9 / window_s, k->wakes_mean, k->wakes_max);
}

static const char *verdict(bool met)
{
	return met ? "MET" : "MISSED";
}

/*
 * The same targets by CPU time, which a loaded machine does not inflate: the start-up CPU of
 * every process spread over the machine's CPUs (the wall time it needs on idle cores, at best),
 * and the CPU a `status --json` (the CLI and the daemon) and a metrics text (the daemon) cost.
 */
static void print_cpu_targets(const struct bench *b, const struct results *r)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double start = r->startup_cpu_s / (double)(ncpu > 0 ? ncpu : 1);
	double ready = b->group > 1 ? T_GROUP_S : T_READY_S;
	double status = r->cli_cpu_ms + r->cli_daemon_cpu_ms;

	printf("by CPU time: start-up %.3f s over %ld CPUs = %.3f s <= %.1f s: %s; status --json"
	       " %.2f ms <= %.0f ms: %s; metrics %.2f ms <= %.0f ms: %s\n",
	       r->startup_cpu_s, ncpu, start, ready, verdict(start <= ready), status, T_STATUS_MS,
	       verdict(status <= T_STATUS_MS), r->metrics_cpu_ms, T_METRICS_MS,
	       verdict(r->metrics_cpu_ms <= T_METRICS_MS));
}

static void print_targets(const struct bench *b, const struct results *r, double pss_mib,
			  double cpu_pct)
{
	if (b->group > 1) {
		printf("target (groups): ready <= %.1f s: %s; PSS <= %.0f MiB: %s\n", T_GROUP_S,
		       verdict(r->ready_s <= T_GROUP_S), T_GROUP_MIB,
		       verdict(pss_mib <= T_GROUP_MIB));
	} else {
		printf("target (isolated, at 1,000 sessions): ready <= %.1f s: %s; PSS <= %.0f MiB"
		       " (scaled to N: %.0f): %s\n",
		       T_READY_S, verdict(r->ready_s <= T_READY_S), T_PSS_MIB,
		       T_PSS_MIB * b->n / 1000.0, verdict(pss_mib <= T_PSS_MIB * b->n / 1000.0));
	}
	printf("target: idle CPU of the daemon's processes <= %.1f %% of one core: %s;"
	       " status <= %.0f ms: %s; metrics <= %.0f ms: %s\n",
	       T_IDLE_PCT, verdict(cpu_pct <= T_IDLE_PCT), T_STATUS_MS,
	       verdict(r->cli_ms[0] <= T_STATUS_MS), T_METRICS_MS,
	       verdict(r->metrics_ms[0] <= T_METRICS_MS));
	print_cpu_targets(b, r);
}

void b_print_results(const struct bench *b, const struct results *r)
{
	struct b_kind k[MAX_KINDS], pk[1];
	size_t nk = b_procs_kinds(&r->before, &r->after, r->window_s, k, MAX_KINDS);
	size_t np = b_procs_kinds(&r->plain_before, &r->plain_after, r->window_s, pk, 1);
	uint64_t pss = 0, cpu = 0;

	printf("\nmachine during the idle window: %.1f %% busy (all CPUs); loadavg %s -> %s\n",
	       r->busy_pct, r->load_before, r->load_after);
	printf("\n%-26s %14s %14s\n", "figure", "mqttmux", "plain (1 proc)");
	printf("%-26s %12.3f s %12.3f s\n", "start to all ready", r->ready_s, r->plain_ready_s);
	printf("%-26s %12.3f s %12.3f s  (CPU of every process, fork to ready)\n", "start-up CPU",
	       r->startup_cpu_s, r->plain_startup_cpu_s);
	printf("  supervisor %.3f s, router %.3f s, workers %.3f s (%.2f ms per session)\n",
	       r->startup_sup_s, r->startup_router_s,
	       r->startup_cpu_s - r->startup_sup_s - r->startup_router_s,
	       1e3 * (r->startup_cpu_s - r->startup_sup_s - r->startup_router_s) / b->n);
	printf("\nper kind       procs    RSS MiB    PSS MiB  PrivDirty PSS/proc   CPU %%   wake/s"
	       "  wake/s\n"
	       "                                                        MiB   1 core"
	       "     mean     max\n");
	for (size_t i = 0; i < nk; i++) {
		print_kind(&k[i], r->window_s);
		if (strcmp(k[i].comm, "b_client")) {
			pss += k[i].pss_kb;
			cpu += k[i].cpu_ns;
		}
	}
	for (size_t i = 0; i < np; i++) {
		print_kind(&pk[i], r->window_s);
	}
	printf("  (clients are bench-scale children: libmqttmux, one route per session)\n");
	printf("\n%-26s %12.1f MiB (%.3f MiB per session); plain %.1f MiB\n",
	       "PSS, daemon processes", mib(pss), mib(pss) / b->n, np ? mib(pk[0].pss_kb) : 0.0);
	printf("%-26s %12.3f %% of one core over %.0f s; plain %.3f %%\n", "idle CPU, daemon",
	       100.0 * (double)cpu / 1e9 / r->window_s, r->window_s,
	       np ? 100.0 * (double)pk[0].cpu_ns / 1e9 / r->window_s : 0.0);
	printf("\ncontrol socket, ms (connect to last byte)  median      max    bytes\n");
	printf("  %-38s %8.2f %8.2f\n", "ping (the floor)", r->ping_ms[0], r->ping_ms[1]);
	printf("  %-38s %8.2f %8.2f %8zu  (daemon CPU %.2f ms each)\n", "status", r->status_ms[0],
	       r->status_ms[1], r->status_len, r->status_cpu_ms);
	printf("  %-38s %8.2f %8.2f %8zu  (daemon CPU %.2f ms each)\n", "metrics", r->metrics_ms[0],
	       r->metrics_ms[1], r->metrics_len, r->metrics_cpu_ms);
	printf("  %-38s %8.2f %8.2f           (CPU: its own %.2f ms + daemon %.2f ms)\n",
	       "mqttmux status --json (fork to exit)", r->cli_ms[0], r->cli_ms[1], r->cli_cpu_ms,
	       r->cli_daemon_cpu_ms);
	printf("\n");
	print_targets(b, r, mib(pss), 100.0 * (double)cpu / 1e9 / r->window_s);
}
