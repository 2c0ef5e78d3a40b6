/* SPDX-License-Identifier: MIT */
/*
 * mm-scenario: kill -9 of a worker (scenario 1) and of the router (scenario 2) under a QoS 1
 * load on persistent sessions. The kills follow a fixed schedule; everything else waits on
 * conditions. Counts are targets in both forms; rates are targets in the long form only (a
 * short run on a busy CI machine measures the machine as much as mqttmux).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sc.h"
#include "t_proc.h"

#define NS 1000000000ull

/* Broker with persistence, daemon with <c>, every session and the router ready. */
int sc_world(struct sc_env *e, const struct sc_cfg *c)
{
	int rc = sc_broker_start(e, true);

	if (rc < 0) {
		sc_fail(e, "the broker did not start");
		return rc;
	}
	if (c->via_proxy && (rc = sc_proxy_start(e)) < 0) {
		sc_fail(e, "the fault proxy did not start");
		return rc;
	}
	rc = sc_daemon_start(e, c);
	if (rc == 0)
		rc = sc_daemon_wait_ready(e, SC_WAIT_MS);
	if (rc < 0)
		sc_fail(e, "mqttmuxd not ready (see %s)", e->log);
	return rc;
}

/* The delivery figures every load scenario reports. */
void sc_load_figures(struct sc_env *e, const struct sc_load *l)
{
	sc_fig(e, "lost_qos1", (double)sc_load_sum(l, "lost"), SC_LE, 0, "msgs");
	sc_fig(e, "dup_without_dup_flag",
	       (double)(sc_load_sum(l, "dup_noflag") - sc_load_sum(l, "dup_noflag_resent")), SC_LE,
	       0, "msgs");
	sc_fig(e, "dup_publisher_resent", (double)sc_load_sum(l, "dup_noflag_resent"), SC_INFO, 0,
	       "msgs");
	sc_fig(e, "dup_with_dup_flag", (double)sc_load_sum(l, "dup_flag"), SC_INFO, 0, "msgs");
	sc_fig(e, "reordered", (double)sc_load_sum(l, "reordered"), SC_INFO, 0, "msgs");
	sc_fig(e, "corrupt", (double)sc_load_sum(l, "corrupt"), SC_LE, 0, "msgs");
	sc_fig(e, "received", (double)sc_load_sum(l, "received"), SC_INFO, 0, "msgs");
	sc_fig(e, "unacked_by_broker", (double)sc_load_sum(l, "unacked_missing"), SC_INFO, 0,
	       "msgs");
}

/* Kill -9 <session>'s worker (NULL: the router) of the daemon now. Returns 1 killed, 0 none. */
static int kill_child(struct sc_env *e, const char *session)
{
	pid_t pid = t_proc_child(e->daemon, session);

	return pid > 0 && kill(pid, SIGKILL) == 0;
}

/*
 * Every <period_s> while the load runs, from <start_s> on (leaving its last second alone),
 * kill a child.
 */
static int kill_every(struct sc_env *e, const struct sc_load *l, double start_s, double period_s,
		      const char *session)
{
	uint64_t t0 = sc_now_ns(), end = t0 + (uint64_t)((l->secs - 1) * NS);
	int kills = 0;

	for (uint64_t t = t0 + (uint64_t)((start_s + period_s) * NS); t < end;
	     t += (uint64_t)(period_s * NS)) {
		sc_sleep_until(t);
		kills += kill_child(e, session);
	}
	return kills;
}

/* The mean receive rate (msgs/s) of the streams of sessions s1.. over seconds [from, to). */
static double others_rate(const struct sc_load *l, int from, int to)
{
	double sum = 0;

	for (int i = 1; i < l->streams; i++)
		sum += sc_load_mean_rate(l, i, from, to);
	return l->streams > 1 ? sum / (l->streams - 1) : 0;
}

/* The rate figures of scenario 1: s1..s3 in the baseline and in the kill window. */
static void kill_worker_rates(struct sc_env *e, const struct sc_load *l, int base_s)
{
	int end = (int)l->secs - 1;
	double base = others_rate(l, 1, base_s), during = others_rate(l, base_s + 2, end);
	double dip = base > 0 ? (1 - during / base) * 100 : 100, lo = 1.0;

	for (int i = 1; i < l->streams; i++) {
		double r = sc_load_min_rate(l, i, base_s + 2, end, 2);

		lo = r < lo ? r : lo;
	}
	sc_fig(e, "others_rate_no_kills", base, SC_INFO, 0, "msgs/s");
	sc_fig(e, "others_rate_kills", during, SC_INFO, 0, "msgs/s");
	sc_fig(e, "others_dip", dip, e->long_form ? SC_LE : SC_INFO, 5, "%");
	sc_fig(e, "others_min_rate", lo * 100, SC_INFO, 0, "%");
	sc_fig(e, "victim_rate_kills", sc_load_mean_rate(l, 0, base_s + 2, end), SC_INFO, 0,
	       "msgs/s");
}

/*
 * Scenario 1: 4 persistent sessions at QoS 1; a window without kills (the baseline), then the
 * worker of s0 killed every 2 s. Nothing is lost, duplicates carry DUP, and s1..s3 deliver in
 * the kill window at the rate they delivered in the baseline window of the same run (a busy
 * machine slows both alike). restart.burst is raised: a kill every 2 s is otherwise a crash
 * loop by the default policy (5 starts in 10 s).
 */
int sc_kill_worker(struct sc_env *e)
{
	struct sc_cfg c = { .sessions = 4,
			    .persistent = true,
			    .extra = "restart = { burst = 1000; window = 10.0; };" };
	int base_s = e->long_form ? 20 : 5;
	struct sc_load l = { .streams = 4,
			     .qos = 1,
			     .rate = e->long_form ? 2500 : 250,
			     .secs = base_s + (e->long_form ? 62 : 12) };
	int kills = 0;

	if (sc_world(e, &c) == 0 && sc_load_check_start(e, &l) == 0 &&
	    sc_load_pub_start(e, &l) == 0) {
		kills = kill_every(e, &l, base_s, 2.0, "s0");
		if (sc_load_finish(e, &l) == 0) {
			sc_load_figures(e, &l);
			kill_worker_rates(e, &l, base_s);
		}
	}
	sc_fig(e, "kills", kills, SC_GE, (l.secs - base_s) / 2 - 2, "");
	sc_load_free(&l);
	return 0;
}

/*
 * Scenario 2: the router killed every 10 s (3 s in the short form) with 8 clients on 2
 * sessions. No message is lost or delivered twice across a router restart: the new router
 * resumes the in-rings where the old one had committed.
 */
int sc_kill_router(struct sc_env *e)
{
	struct sc_cfg c = { .sessions = 2,
			    .persistent = true,
			    .extra = "restart = { burst = 1000; window = 10.0; };" };
	struct sc_load l[8] = { 0 };
	int n = 8, kills = 0;
	double lost = 0, dups = 0, dupf = 0, recv = 0;

	if (sc_world(e, &c) < 0)
		goto out;
	for (int i = 0; i < n; i++) {
		l[i] = (struct sc_load){ .streams = 2,
					 .qos = 1,
					 .rate = e->long_form ? 500 : 100,
					 .secs = e->long_form ? 120 : 12,
					 .id = i };
		if (sc_load_check_start(e, &l[i]) < 0)
			goto out;
	}
	if (sc_load_pub_start(e, &l[0]) < 0)
		goto out;
	kills = kill_every(e, &l[0], 0, e->long_form ? 10.0 : 3.0, NULL);
	for (int i = 0; i < n; i++) {
		if (sc_load_finish(e, &l[i]) < 0)
			goto out;
		lost += (double)sc_load_sum(&l[i], "lost");
		dups += (double)sc_load_sum(&l[i], "dup_noflag");
		dupf += (double)sc_load_sum(&l[i], "dup_flag");
		recv += (double)sc_load_sum(&l[i], "received");
	}
out:
	sc_fig(e, "router_kills", kills, SC_GE, e->long_form ? 10 : 3, "");
	sc_fig(e, "lost_qos1", lost, SC_LE, 0, "msgs");
	sc_fig(e, "duplicates", dups + dupf, SC_LE, 0, "msgs");
	sc_fig(e, "received_all_clients", recv, SC_INFO, 0, "msgs");
	for (int i = 0; i < n; i++)
		sc_load_free(&l[i]);
	return 0;
}

struct family {
	pid_t pid[64];
	int n;
};

/* The daemon's children now: every session's worker, and the router. */
static void family_of(const struct sc_env *e, struct family *f)
{
	char name[16];

	f->n = 0;
	for (int i = 0; i < e->cfg.sessions && f->n < 63; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		if ((f->pid[f->n] = t_proc_child(e->daemon, name)) > 0)
			f->n++;
	}
	if ((f->pid[f->n] = t_proc_child(e->daemon, NULL)) > 0)
		f->n++;
}

static bool family_gone(void *ud)
{
	const struct family *f = ud;

	for (int i = 0; i < f->n; i++)
		if (kill(f->pid[i], 0) == 0 && t_proc_ppid(f->pid[i]) != 0)
			return false;
	return true;
}

static int family_alive(const struct family *f)
{
	int n = 0;

	for (int i = 0; i < f->n; i++)
		n += kill(f->pid[i], 0) == 0 && t_proc_ppid(f->pid[i]) != 0;
	return n;
}

/*
 * Scenario 4: kill -9 of mqttmuxd (twice in the short form, every 15 s for a minute in the long
 * one) under a QoS 1 load on persistent sessions, then a new mqttmuxd on the same config. The
 * old workers and router must not outlive their daemon (no orphans), the checker carries on
 * by itself (it reconnects to the new router), nothing is lost (the worker acknowledges only
 * what the router took, worker/wrk_ackgate.c) and every redelivery carries DUP (the ids file
 * outlives the daemon, worker/wrk_ids.c).
 */
int sc_kill_daemon(struct sc_env *e)
{
	struct sc_cfg c = { .sessions = 4, .persistent = true };
	struct sc_load l = { .streams = 4,
			     .qos = 1,
			     .rate = e->long_form ? 1000 : 400,
			     .secs = e->long_form ? 64 : 12 };
	double period = e->long_form ? 15 : 4, worst_gone = 0, worst_back = 0;
	int kills = 0, orphans = 0;

	if (sc_world(e, &c) < 0 || sc_load_check_start(e, &l) < 0 || sc_load_pub_start(e, &l) < 0)
		goto out;
	for (uint64_t t0 = sc_now_ns(), t = t0 + (uint64_t)(period * NS);
	     t + 3 * NS < t0 + (uint64_t)(l.secs * NS); t += (uint64_t)(period * NS)) {
		struct family f;
		uint64_t k;

		sc_sleep_until(t);
		family_of(e, &f);
		k = sc_now_ns();
		sc_daemon_kill9(e);
		kills++;
		if (!sc_wait(family_gone, &f, 10000))
			orphans += family_alive(&f);
		worst_gone = (double)(sc_now_ns() - k) / 1e9 > worst_gone
				     ? (double)(sc_now_ns() - k) / 1e9
				     : worst_gone;
		if (sc_daemon_start(e, NULL) < 0 || sc_daemon_wait_ready(e, SC_WAIT_MS) < 0) {
			sc_fail(e, "mqttmuxd did not start again after kill %d", kills);
			goto out;
		}
		worst_back = (double)(sc_now_ns() - k) / 1e9 > worst_back
				     ? (double)(sc_now_ns() - k) / 1e9
				     : worst_back;
	}
	if (sc_load_finish(e, &l) == 0)
		sc_load_figures(e, &l);
out:
	sc_fig(e, "daemon_kills", kills, SC_GE, 1, "");
	sc_fig(e, "orphans_after_10s", orphans, SC_LE, 0, "");
	sc_fig(e, "children_gone_after", worst_gone, SC_INFO, 0, "s");
	sc_fig(e, "ready_again_after", worst_back, SC_INFO, 0, "s");
	sc_fig(e, "checker_router_reconnects", (double)sc_load_top(&l, "router_reconnects"), SC_GE,
	       kills, "");
	sc_load_free(&l);
	return 0;
}
