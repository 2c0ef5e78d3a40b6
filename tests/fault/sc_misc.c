/* SPDX-License-Identifier: MIT */
/*
 * mm-scenario: the broker restarted under load (scenario 5) and a signal storm (scenario 8).
 */
#include "sc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t_proc.h"

#define NS 1000000000ull

/*
 * CONNACKs the broker sent to session <i> without session present, after its first one. The
 * broker logs "Sending CONNACK to <client id> (<session present>, <reason>)" at debug level.
 */
static int connacks_without_session(const struct sc_env *e, int i, int *total)
{
	char mark[128], line[1024];
	FILE *f = fopen(e->broker.log_path, "re");
	int n = 0, bad = 0;

	snprintf(mark, sizeof(mark), "Sending CONNACK to sc-%s-s%d (", e->name, i);
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, mark);

		if (!p)
			continue;
		bad += n++ > 0 && p[strlen(mark)] != '1';
	}
	if (f)
		fclose(f);
	*total = n;
	return bad;
}

/*
 * Scenario 5: the broker (with persistence) restarted every 30 s for 5 min (every 4 s for
 * 14 s in the short form) under a QoS 1 load on persistent sessions. Every session comes back
 * with session present, nothing acknowledged is lost. Recovery: from the broker being up
 * again to every session ready.
 */
int sc_broker_restarts(struct sc_env *e)
{
	struct sc_cfg c = { .sessions = 4, .persistent = true, .rc_initial = 0.5, .rc_max = 5 };
	struct sc_load l = { .streams = 4,
			     .qos = 1,
			     .rate = e->long_form ? 1000 : 200,
			     .secs = e->long_form ? 300 : 14 };
	double period = e->long_form ? 30 : 4, worst = 0;
	int restarts = 0, bad = 0, connacks = 0;

	if (sc_world(e, &c) < 0 || sc_load_check_start(e, &l) < 0 || sc_load_pub_start(e, &l) < 0)
		goto out;
	for (uint64_t t0 = sc_now_ns(), t = t0 + (uint64_t)(period * NS);
	     t < t0 + (uint64_t)((l.secs - 1) * NS); t += (uint64_t)(period * NS)) {
		uint64_t up;

		sc_sleep_until(t);
		if (t_broker_restart(&e->broker) < 0) {
			sc_fail(e, "the broker did not restart");
			goto out;
		}
		up = sc_now_ns();
		restarts++;
		if (sc_daemon_wait_ready(e, SC_WAIT_MS) < 0) {
			sc_fail(e, "sessions not ready after broker restart %d", restarts);
			goto out;
		}
		if ((double)(sc_now_ns() - up) / 1e9 > worst)
			worst = (double)(sc_now_ns() - up) / 1e9;
	}
	if (sc_load_finish(e, &l) == 0)
		sc_load_figures(e, &l);
	for (int i = 0; i < c.sessions; i++) {
		int n;

		bad += connacks_without_session(e, i, &n);
		connacks += n;
	}
out:
	sc_fig(e, "broker_restarts", restarts, SC_GE, l.secs / period - 1, "");
	sc_fig(e, "connacks_after_the_first", connacks - c.sessions, SC_GE, restarts * c.sessions,
	       "");
	sc_fig(e, "without_session_present", bad, SC_LE, 0, "");
	sc_fig(e, "worst_recovery", worst, SC_INFO, 0, "s");
	sc_load_free(&l);
	return 0;
}

/* Is <line> a well-formed line of the Prometheus text format (a comment or a sample)? */
static bool metric_line_ok(const char *line)
{
	const char *p = line;
	char *end;

	if (*p == '#')
		return !strncmp(p, "# HELP ", 7) || !strncmp(p, "# TYPE ", 7) ||
		       !strcmp(p, "# EOF");
	if (!(*p == '_' || *p == ':' || (*p | 32) >= 'a') || (*p | 32) > 'z')
		return false;
	p += strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
	if (*p == '{') {
		p = strchr(p, '}');
		if (!p)
			return false;
		p++;
	}
	if (*p++ != ' ')
		return false;
	if (!strcmp(p, "NaN") || !strcmp(p, "+Inf") || !strcmp(p, "-Inf"))
		return true;
	(void)strtod(p, &end);
	return end != p && (*end == '\0' || *end == ' ');
}

/* Read the textfile once: 1 well-formed, 0 absent, -1 malformed (printed). */
static int check_textfile(struct sc_env *e, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	int lines = 0, rc = 1;

	if (!f)
		return 0;
	while (rc == 1 && fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		if (!n || line[n - 1] != '\n') {
			rc = -1;
			break;
		}
		line[n - 1] = '\0';
		lines++;
		if (!metric_line_ok(line))
			rc = -1;
	}
	fclose(f);
	if (rc == 1 && lines < 10)
		rc = -1;
	if (rc < 0)
		sc_note(e, "malformed metrics dump, at line %d: '%s'", lines, line);
	return rc;
}

static int count_lines(const char *path, const char *mark)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, mark) != NULL;
	if (f)
		fclose(f);
	return n;
}

/*
 * Scenario 8: 10,000 SIGUSR1 and 1,000 SIGHUP within 10 s (1,000 and 100 within 4 s in the
 * short form) while a QoS 1 load runs. The daemon survives, reloads are coalesced (the config does
 * not change, so no session restarts), every metrics dump read meanwhile is well-formed, and
 * the load loses nothing.
 */
int sc_signal_storm(struct sc_env *e)
{
	char extra[4096], *textfile = sc_path(e, "metrics.prom");
	struct sc_cfg c = { .sessions = 2, .persistent = true, .extra = extra };
	double storm = e->long_form ? 10 : 4;
	struct sc_load l = { .streams = 2, .qos = 1, .rate = 200, .secs = storm + 4 };
	int usr1 = e->long_form ? 10000 : 1000, hup = usr1 / 10, reads = 0, bad = 0, sent = 0;
	pid_t w0 = 0, w1 = 0;
	uint64_t t0;

	snprintf(extra, sizeof(extra), "metrics = { textfile = \"%s\"; };", textfile);
	if (sc_world(e, &c) < 0 || sc_load_check_start(e, &l) < 0 || sc_load_pub_start(e, &l) < 0)
		goto out;
	w0 = t_proc_child(e->daemon, "s0");
	w1 = t_proc_child(e->daemon, "s1");
	t0 = sc_now_ns();
	for (int i = 0; i < usr1; i++) {
		sc_sleep_until(t0 + (uint64_t)((double)i * storm * 1e9 / usr1));
		sent += kill(e->daemon, SIGUSR1) == 0;
		if (i % 10 == 0)
			sent += kill(e->daemon, SIGHUP) == 0;
		if (i % 50 == 49) {
			int r = check_textfile(e, textfile);

			reads += r != 0;
			bad += r < 0;
		}
	}
	if (kill(e->daemon, 0) != 0 || sc_daemon_wait_ready(e, SC_WAIT_MS) < 0)
		sc_fail(e, "mqttmuxd did not survive the storm");
	if (sc_load_finish(e, &l) == 0)
		sc_load_figures(e, &l);
out:
	sc_fig(e, "signals_sent", sent, SC_GE, usr1 + hup, "");
	sc_fig(e, "dumps_read", reads, SC_GE, 1, "");
	sc_fig(e, "malformed_dumps", bad, SC_LE, 0, "");
	sc_fig(e, "reloads_applied", count_lines(e->log, "applied '"), SC_LE, hup - 1, "");
	sc_fig(e, "worker_restarts",
	       (t_proc_child(e->daemon, "s0") != w0) + (t_proc_child(e->daemon, "s1") != w1), SC_LE,
	       0, "");
	sc_load_free(&l);
	free(textfile);
	return 0;
}
