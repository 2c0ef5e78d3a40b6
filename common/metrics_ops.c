/* SPDX-License-Identifier: MIT */
/*
 * The operations families at the end of the metrics text (docs/metrics.md, "Processes" and
 * "Reloads"): the process_* families every Prometheus client library exports for its own
 * process, here for each process of the daemon with a kind (and session) label instead, and the
 * config reload result, named after Prometheus's own prometheus_config_last_reload_* families
 * so that the same alerts read the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum proc_field { P_CPU = 0, P_RSS, P_VSIZE, P_FDS, P_MAXFDS, P_START, P_PID };

static const struct {
	const char *name;
	enum mm_metrics_type type;
	enum proc_field field;
	const char *help;
} proc_families[] = {
	{ "process_cpu_seconds_total", MM_METRICS_COUNTER, P_CPU,
	  "Total user and system CPU time spent in seconds." },
	{ "process_resident_memory_bytes", MM_METRICS_GAUGE, P_RSS,
	  "Resident memory size in bytes." },
	{ "process_virtual_memory_bytes", MM_METRICS_GAUGE, P_VSIZE,
	  "Virtual memory size in bytes." },
	{ "process_open_fds", MM_METRICS_GAUGE, P_FDS, "Number of open file descriptors." },
	{ "process_max_fds", MM_METRICS_GAUGE, P_MAXFDS,
	  "Maximum number of open file descriptors." },
	{ "process_start_time_seconds", MM_METRICS_GAUGE, P_START,
	  "Start time of the process since unix epoch in seconds." },
	{ "mqttmux_process_pid", MM_METRICS_GAUGE, P_PID,
	  "Process id (a gauge, not a label: a label would start new series at every restart)." },
};

static int cmp_proc(const void *a, const void *b)
{
	const struct mm_metrics_process *x = a, *y = b;
	int r = strcmp(x->kind, y->kind);

	if (r || x->session == y->session)
		return r;
	if (!x->session || !y->session)
		return x->session ? 1 : -1;
	return strcmp(x->session, y->session);
}

static void put_proc(struct mm_metrics_buf *b, const char *name, enum proc_field f,
		     const struct mm_metrics_process *p)
{
	struct mm_metrics_label l[2] = { { "kind", p->kind }, { "session", p->session } };
	size_t nl = p->session ? 2 : 1;
	const uint64_t u[] = { [P_RSS] = p->rss_bytes,
			       [P_VSIZE] = p->vsize_bytes,
			       [P_FDS] = p->open_fds,
			       [P_MAXFDS] = p->max_fds,
			       [P_PID] = p->pid };

	if (f == P_CPU || f == P_START)
		mm_metrics_sample_f64(b, name, l, nl, f == P_CPU ? p->cpu_s : p->start_s);
	else
		mm_metrics_sample_u64(b, name, l, nl, u[f]);
}

static void put_procs(struct mm_metrics_buf *b, const struct mm_metrics_input *in)
{
	struct mm_metrics_process *v = malloc((in->nprocs ? in->nprocs : 1) * sizeof(*v));
	const struct mm_metrics_process *p = in->procs; /* unsorted if there is no memory */

	if (v) {
		if (in->nprocs)
			memcpy(v, in->procs, in->nprocs * sizeof(*v));
		qsort(v, in->nprocs, sizeof(*v), cmp_proc);
		p = v;
	}
	for (size_t i = 0; i < NELEM(proc_families); i++) {
		mm_metrics_family(b, proc_families[i].name, proc_families[i].type,
				  proc_families[i].help);
		for (size_t j = 0; j < in->nprocs; j++)
			put_proc(b, proc_families[i].name, proc_families[i].field, &p[j]);
	}
	free(v);
}

static void put_reload(struct mm_metrics_buf *b, const struct mm_metrics_reload *r)
{
	static const char total[] = "mqttmux_config_reloads_total";
	struct mm_metrics_label l = { "result", "error" };

	mm_metrics_family(b, "mqttmux_config_last_reload_successful", MM_METRICS_GAUGE,
			  "1 if the last config reload succeeded (or none was tried), else 0.");
	mm_metrics_sample_u64(b, "mqttmux_config_last_reload_successful", NULL, 0, r->last_ok);
	mm_metrics_family(b, "mqttmux_config_last_reload_success_timestamp_seconds",
			  MM_METRICS_GAUGE,
			  "Unix time of the last successful config load, the start included.");
	mm_metrics_sample_f64(b, "mqttmux_config_last_reload_success_timestamp_seconds", NULL, 0,
			      r->last_ok_s);
	mm_metrics_family(b, total, MM_METRICS_COUNTER, "Config reloads, by result (error, ok).");
	mm_metrics_sample_u64(b, total, &l, 1, r->failed);
	l.value = "ok";
	mm_metrics_sample_u64(b, total, &l, 1, r->ok);
}

static void put_control(struct mm_metrics_buf *b, const struct mm_metrics_control *c)
{
	static const char name[] = "mqttmux_control_refused_total";
	const struct {
		const char *reason;
		uint64_t v;
	} rows[] = { { "full", c->full },
		     { "idle", c->idle },
		     { "not_admin", c->not_admin },
		     { "per_uid", c->per_uid } };

	mm_metrics_family(b, name, MM_METRICS_COUNTER,
			  "control.sock connections refused or closed, and commands refused, by "
			  "reason (full, idle, not_admin, per_uid).");
	for (size_t i = 0; i < NELEM(rows); i++) {
		struct mm_metrics_label l = { "reason", rows[i].reason };

		mm_metrics_sample_u64(b, name, &l, 1, rows[i].v);
	}
}

static void put_http(struct mm_metrics_buf *b, const struct mm_metrics_http *h)
{
	static const char name[] = "mqttmux_http_refused_total";
	const struct {
		const char *reason;
		uint64_t v;
	} rows[] = { { "evicted", h->evicted }, { "full", h->full }, { "timeout", h->timeout } };

	mm_metrics_family(b, name, MM_METRICS_COUNTER,
			  "metrics.http connections refused or closed before their answer, by "
			  "reason (evicted, full, timeout).");
	for (size_t i = 0; i < NELEM(rows); i++) {
		struct mm_metrics_label l = { "reason", rows[i].reason };

		mm_metrics_sample_u64(b, name, &l, 1, rows[i].v);
	}
}

void mm_metrics_render_ops(struct mm_metrics_buf *b, const struct mm_metrics_input *in)
{
	put_procs(b, in);
	if (in->reload)
		put_reload(b, in->reload);
	if (in->control)
		put_control(b, in->control);
	if (in->http)
		put_http(b, in->http);
}
