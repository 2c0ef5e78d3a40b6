/* SPDX-License-Identifier: MIT */
/*
 * mm-scenario: the network between the workers and the broker breaks. Scenario 6: the fault
 * proxy cuts every connection (FIN, then RST, in turn), then black-holes them; the workers
 * must notice within 1.5 x keepalive + 1 s, and their reconnects must be jittered. Scenario 7:
 * many sessions, the broker down for a while: the reconnect attempts must not bunch up, and
 * every session must be back within the backoff cap + 10 s of the broker's return.
 *
 * Times come from the proxy's log ("accept NS ID", "close NS ID") and from the daemon's own
 * event lines (`event {...}`, docs/events.md).
 */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sc.h"

#define NS 1000000000ull

/* Read the proxy's log into <ev> (at most <max>). Returns how many. */
size_t sc_proxy_events(const struct sc_env *e, struct sc_pev *ev, size_t max)
{
	FILE *f = fopen(e->proxy_events, "re");
	char what[16];
	unsigned long long ns, id;
	size_t n = 0;

	while (f && n < max && fscanf(f, "%15s %llu %llu", what, &ns, &id) == 3)
		ev[n++] = (struct sc_pev){ .accept = !strcmp(what, "accept"), .ns = ns, .id = id };
	if (f)
		fclose(f);
	return n;
}

struct detect {
	const struct sc_env *e;
	uint64_t from_ns; /* the black hole began (CLOCK_REALTIME) */
	int open;	  /* connections open then */
	double worst;	  /* seconds until the last of them was closed by its worker */
};

/* The time of event <accept> (or close) of connection <id>, before or after <t>; 0: none. */
static uint64_t event_of(const struct sc_pev *ev, size_t n, bool accept, uint64_t id, uint64_t t,
			 bool after)
{
	for (size_t i = 0; i < n; i++)
		if (ev[i].accept == accept && ev[i].id == id && (ev[i].ns >= t) == after)
			return ev[i].ns;
	return 0;
}

/* Every connection open when the black hole began has been closed (by its worker). */
static bool all_detected(void *ud)
{
	static struct sc_pev ev[65536];
	struct detect *d = ud;
	size_t n = sc_proxy_events(d->e, ev, 65536);
	int open = 0, closed = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t gone;

		if (!ev[i].accept || ev[i].ns >= d->from_ns ||
		    event_of(ev, n, false, ev[i].id, d->from_ns, false))
			continue;
		open++;
		gone = event_of(ev, n, false, ev[i].id, d->from_ns, true);
		if (!gone)
			continue;
		closed++;
		if ((double)(gone - d->from_ns) / 1e9 > d->worst)
			d->worst = (double)(gone - d->from_ns) / 1e9;
	}
	d->open = open;
	return open > 0 && closed == open;
}

/* Nominal delay of reconnect attempt <a> (1, 2, ...): initial x 2^(a-1), capped at max. */
static double nominal_ms(const struct sc_cfg *c, int a)
{
	double d = c->rc_initial * 1000;

	while (--a > 0 && d < c->rc_max * 1000)
		d *= 2;
	return d < c->rc_max * 1000 ? d : c->rc_max * 1000;
}

struct jitter {
	const struct sc_cfg *c;
	int n;
	double lo, hi; /* next_interval / nominal */
};

static void on_reconnecting(json_object *data, void *ud)
{
	struct jitter *j = ud;
	json_object *a, *next;
	double r;

	if (!json_object_object_get_ex(data, "attempt", &a) ||
	    !json_object_object_get_ex(data, "next_interval", &next))
		return;
	r = json_object_get_double(next) / nominal_ms(j->c, json_object_get_int(a));
	j->lo = j->n && j->lo < r ? j->lo : r;
	j->hi = j->n && j->hi > r ? j->hi : r;
	j->n++;
}

/* Call <fn> with the data of every event <type> the daemon logged. Returns how many. */
int sc_log_events(const struct sc_env *e, const char *type, void (*fn)(json_object *, void *),
		  void *ud)
{
	FILE *f = fopen(e->log, "re");
	char line[8192];
	int n = 0;

	while (f && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, " event {");
		json_object *o, *t, *data;

		if (!p || !(o = json_tokener_parse(p + 7)))
			continue;
		if (json_object_object_get_ex(o, "type", &t) &&
		    !strcmp(json_object_get_string(t), type) &&
		    json_object_object_get_ex(o, "data", &data)) {
			fn(data, ud);
			n++;
		}
		json_object_put(o);
	}
	if (f)
		fclose(f);
	return n;
}

static double recover(struct sc_env *e)
{
	uint64_t t = sc_now_ns();

	if (sc_daemon_wait_ready(e, SC_WAIT_MS) < 0) {
		sc_fail(e, "the sessions did not come back");
		return -1;
	}
	return (double)(sc_now_ns() - t) / 1e9;
}

static const struct sc_cfg Cfg6 = { .sessions = 4,
				    .persistent = true,
				    .via_proxy = true,
				    .keepalive = 5,
				    .rc_initial = 1,
				    .rc_max = 4 };

/*
 * Scenario 6, cuts. 4 persistent sessions through the proxy, keepalive 5 s, reconnect 1 s to
 * 4 s with the default 25% jitter, a QoS 1 load. Cuts every 5 s (two, 3 s apart, in the short
 * form), FIN and RST in turn, then a while of refused connections, so that the backoff and its
 * jitter show in the workers' session_reconnecting events, then the path back.
 */
int sc_proxy_cuts(struct sc_env *e)
{
	struct sc_cfg c = Cfg6;
	struct sc_load l = { .streams = 4, .qos = 1, .rate = 100, .secs = 600 };
	int cuts = e->long_form ? 12 : 2, done = 0;
	double period = e->long_form ? 5 : 3, worst = 0, r;
	struct jitter j = { .c = &c };

	if (sc_world(e, &c) < 0 || sc_load_check_start(e, &l) < 0 || sc_load_pub_start(e, &l) < 0)
		goto out;
	for (uint64_t t0 = sc_now_ns(); done < cuts; done++) {
		sc_sleep_until(t0 + (uint64_t)((done + 1) * period * NS));
		if (sc_proxy_cmd(e, done % 2 ? "cut rst" : "cut fin") < 0 || (r = recover(e)) < 0)
			goto out;
		worst = r > worst ? r : worst;
	}
	if (sc_proxy_cmd(e, "refuse") < 0 || sc_proxy_cmd(e, "cut rst") < 0)
		goto out;
	sc_sleep_until(sc_now_ns() + (uint64_t)((e->long_form ? 16 : 8) * NS));
	if (sc_proxy_cmd(e, "pass") < 0 || recover(e) < 0)
		goto out;
	kill(l.pub, SIGINT);
	if (sc_load_finish(e, &l) == 0)
		sc_load_figures(e, &l);
	sc_log_events(e, "session_reconnecting", on_reconnecting, &j);
out:
	sc_fig(e, "cuts", done, SC_GE, cuts, "");
	sc_fig(e, "worst_recovery_after_cut", worst, SC_INFO, 0, "s");
	sc_fig(e, "reconnect_delays_seen", j.n, SC_GE, c.sessions, "");
	sc_fig(e, "delay_vs_nominal_min", j.lo, SC_GE, 0.75, "x");
	sc_fig(e, "delay_vs_nominal_max", j.hi, SC_LE, 1.25, "x");
	sc_fig(e, "jitter_spread", j.hi - j.lo, SC_GE, 0.05, "x");
	sc_load_free(&l);
	return 0;
}

/*
 * Scenario 6, black hole. The same world; the proxy stops forwarding without closing anything.
 * Every worker must give up its connection within 1.5 x keepalive + 1 s (the time from the
 * black hole to its close of the connection, in the proxy's log), and come back once the path
 * is restored, without losing or duplicating (without DUP) anything.
 */
int sc_blackhole(struct sc_env *e)
{
	struct sc_cfg c = Cfg6;
	struct sc_load l = { .streams = 4, .qos = 1, .rate = 100, .secs = 600 };
	struct detect d = { .e = e };
	int holes = e->long_form ? 5 : 1, done = 0;

	if (sc_world(e, &c) < 0 || sc_load_check_start(e, &l) < 0 || sc_load_pub_start(e, &l) < 0)
		goto out;
	for (; done < holes; done++) {
		sc_sleep_until(sc_now_ns() + 2 * NS); /* traffic flows before each black hole */
		d.from_ns = sc_realtime_ns();
		if (sc_proxy_cmd(e, "blackhole") < 0)
			goto out;
		if (!sc_wait(all_detected, &d, SC_WAIT_MS))
			sc_fail(e, "%d connection(s) still open in the black hole", d.open);
		if (sc_proxy_cmd(e, "pass") < 0 || recover(e) < 0)
			goto out;
	}
	kill(l.pub, SIGINT);
	if (sc_load_finish(e, &l) == 0)
		sc_load_figures(e, &l);
out:
	sc_fig(e, "black_holes", done, SC_GE, holes, "");
	sc_fig(e, "blackholed_connections", d.open, SC_GE, c.sessions, "");
	sc_fig(e, "loss_detection_worst", d.worst, SC_LE, 1.5 * c.keepalive + 1, "s");
	sc_load_free(&l);
	return 0;
}

/*
 * Scenario 7. Many sessions (200; 40 in the short form) through the proxy, reconnect from 1 s
 * up to a cap (30 s; 4 s), the broker down for 60 s (8 s), then up. The proxy logs every
 * connection attempt; none of the 100 ms buckets from the broker's stop to the last session's
 * return may hold more than 10% of them, and every session must be ready within the cap +
 * 10 s of the broker's return.
 */
int sc_reconnect_storm(struct sc_env *e)
{
	static struct sc_pev ev[1 << 20];
	struct sc_cfg c = { .sessions = e->long_form ? 200 : 40,
			    .via_proxy = true,
			    .rc_initial = 1,
			    .rc_max = e->long_form ? 30 : 4 };
	double down = e->long_form ? 60 : 8, back = -1, worst_share = 0;
	uint64_t t_down, t_up, t_ready;
	size_t n, attempts = 0, nb;
	unsigned *bucket = NULL;

	if (sc_world(e, &c) < 0)
		goto out;
	t_down = sc_realtime_ns();
	if (t_broker_stop(&e->broker) < 0)
		sc_note(e, "the broker needed SIGKILL to stop");
	sc_sleep_until(sc_now_ns() + (uint64_t)(down * NS));
	if (t_broker_restart(&e->broker) < 0) {
		sc_fail(e, "the broker did not start again");
		goto out;
	}
	t_up = sc_realtime_ns();
	if (sc_daemon_wait_ready(e, (int)((c.rc_max + 10) * 1000) + SC_WAIT_MS) < 0) {
		sc_fail(e, "the sessions did not come back");
		goto out;
	}
	t_ready = sc_realtime_ns();
	back = (double)(t_ready - t_up) / 1e9;
	n = sc_proxy_events(e, ev, sizeof(ev) / sizeof(ev[0]));
	nb = (size_t)((t_ready - t_down) / 100000000ull) + 1;
	bucket = calloc(nb, sizeof(*bucket));
	for (size_t i = 0; bucket && i < n; i++) {
		if (!ev[i].accept || ev[i].ns < t_down || ev[i].ns > t_ready)
			continue;
		bucket[(ev[i].ns - t_down) / 100000000ull]++;
		attempts++;
	}
	for (size_t b = 0; bucket && attempts && b < nb; b++)
		if ((double)bucket[b] / (double)attempts > worst_share)
			worst_share = (double)bucket[b] / (double)attempts;
out:
	sc_fig(e, "sessions", c.sessions, SC_INFO, 0, "");
	sc_fig(e, "reconnect_attempts", (double)attempts, SC_GE, c.sessions, "");
	sc_fig(e, "busiest_100ms_bucket", worst_share * 100, SC_LE, 10, "%");
	sc_fig(e, "all_back_after_broker_up", back, SC_LE, c.rc_max + 10, "s");
	free(bucket);
	return 0;
}
