/* SPDX-License-Identifier: MIT */
/*
 * mm-scenario: one load run. The checker (a libmqttmux client) starts first and registers
 * its routes; then the publisher sends <rate> msg/s on every stream for <secs>; at the end
 * both reports are read back. Stream <i> is session s<i>, topic lg/<i>.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sc.h"

static bool exists(void *path)
{
	return access(path, F_OK) == 0;
}

/* <v> as a command-line number (%g, so integers print without a fraction). */
static char *num(double v)
{
	char *s;

	return asprintf(&s, "%.10g", v) < 0 ? NULL : s;
}

/* Start the checker for <l->streams> streams; returns once its routes are registered. */
int sc_load_check_start(struct sc_env *e, struct sc_load *l)
{
	char *n = num(l->streams), *w = num(l->drain > 0 ? l->drain : 30), *log, name[64];
	const char *argv[] = { MM_LOADGEN_PATH,
			       "check",
			       "-d",
			       e->run,
			       "-n",
			       n,
			       "-P",
			       NULL,
			       "-R",
			       NULL,
			       "-w",
			       w,
			       "-o",
			       NULL,
			       NULL };
	int rc = 0;

	snprintf(name, sizeof(name), "check-%d.log", l->id);
	log = sc_path(e, name);
	snprintf(name, sizeof(name), "check-%d.ready", l->id);
	l->ready = sc_path(e, name);
	l->pub_report = sc_path(e, "pub.json");
	if (asprintf(&l->check_report, "%s/%s-check-%d.json", e->out, e->name, l->id) < 0)
		l->check_report = NULL;
	if (!n || !w || !log || !l->pub_report || !l->ready || !l->check_report) {
		rc = -ENOMEM;
		goto out;
	}
	argv[7] = l->pub_report;
	argv[9] = l->ready;
	argv[13] = l->check_report;
	l->check = sc_spawn(e, argv, log);
	if (l->check < 0 || !sc_wait(exists, l->ready, SC_WAIT_MS)) {
		sc_fail(e, "the checker never registered its routes (see %s)", log);
		rc = -ETIMEDOUT;
	}
out:
	free(n);
	free(w);
	free(log);
	return rc;
}

int sc_load_pub_start(struct sc_env *e, struct sc_load *l)
{
	char *n = num(l->streams), *r = num(l->rate), *d = num(l->secs), *p = num(e->broker.port),
	     *w = num(l->drain > 0 ? l->drain : 30), *log = sc_path(e, "pub.log");
	char q[2] = { (char)('0' + l->qos), 0 };
	const char *argv[] = { MM_LOADGEN_PATH,
			       "pub",
			       "-p",
			       p,
			       "-n",
			       n,
			       "-r",
			       r,
			       "-d",
			       d,
			       "-q",
			       l->qos_list ? l->qos_list : q,
			       "-w",
			       w,
			       "-o",
			       l->pub_report,
			       NULL };
	int rc = 0;

	if (!n || !r || !d || !p || !w || !log)
		rc = -ENOMEM;
	else if ((l->pub = sc_spawn(e, argv, log)) < 0)
		rc = -errno;
	free(n);
	free(r);
	free(d);
	free(p);
	free(w);
	free(log);
	return rc;
}

/* Wait for both to finish and read their reports. Returns 0 or -1 (recorded as a failure). */
int sc_load_finish(struct sc_env *e, struct sc_load *l)
{
	int limit = (int)((l->secs + 2 * (l->drain > 0 ? l->drain : 30)) * 1000) + SC_WAIT_MS;
	int st = l->pub > 0 ? sc_reap(l->pub, limit) : 0;

	l->pub = 0;
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		sc_fail(e, "the publisher failed (status %d)", st);
		return -1;
	}
	st = sc_reap(l->check, limit);
	l->check = 0;
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		sc_fail(e, "the checker failed (status %d)", st);
		return -1;
	}
	l->pub_json = json_object_from_file(l->pub_report);
	l->check_json = json_object_from_file(l->check_report);
	if (!l->pub_json || !l->check_json) {
		sc_fail(e, "unreadable load reports");
		return -1;
	}
	return 0;
}

void sc_load_free(struct sc_load *l)
{
	sc_kill(&l->pub);
	sc_kill(&l->check);
	free(l->pub_report);
	free(l->check_report);
	free(l->ready);
	json_object_put(l->pub_json);
	json_object_put(l->check_json);
}

static json_object *stream_of(const struct sc_load *l, int i)
{
	json_object *a;

	if (!l->check_json || !json_object_object_get_ex(l->check_json, "streams", &a))
		return NULL;
	return json_object_array_get_idx(a, (size_t)i);
}

/* A top-level number of the checker's report (gap_lost, router_reconnects). */
uint64_t sc_load_top(const struct sc_load *l, const char *key)
{
	json_object *v;

	if (!l->check_json || !json_object_object_get_ex(l->check_json, key, &v))
		return 0;
	return (uint64_t)json_object_get_int64(v);
}

uint64_t sc_load_stream(const struct sc_load *l, int i, const char *key)
{
	json_object *s = stream_of(l, i), *v;

	if (!s || !json_object_object_get_ex(s, key, &v))
		return 0;
	return (uint64_t)json_object_get_int64(v);
}

/* <key> summed over the streams of QoS <qos> (-1: every stream). */
uint64_t sc_load_sum_qos(const struct sc_load *l, const char *key, int qos)
{
	uint64_t sum = 0;

	for (int i = 0; i < l->streams; i++)
		if (qos < 0 || sc_load_stream(l, i, "qos") == (uint64_t)qos)
			sum += sc_load_stream(l, i, key);
	return sum;
}

/* <key> summed over the streams; for "lost", over the QoS 1 streams only (the promise). */
uint64_t sc_load_sum(const struct sc_load *l, const char *key)
{
	return sc_load_sum_qos(l, key, strcmp(key, "lost") ? -1 : 1);
}

/*
 * The lowest receive rate of stream <i> over windows of <win> seconds in [from_s, to_s), as a
 * fraction of the publish rate. 1.0 when the stream kept up everywhere.
 */
double sc_load_min_rate(const struct sc_load *l, int i, int from_s, int to_s, int win)
{
	json_object *s = stream_of(l, i), *ps;
	double lo = 1e9;

	if (!s || !json_object_object_get_ex(s, "per_second", &ps))
		return 0;
	for (int t = from_s; t + win <= to_s; t += win) {
		double n = 0;

		for (int k = t; k < t + win; k++)
			n += json_object_get_double(json_object_array_get_idx(ps, (size_t)k));
		if (n / (l->rate * win) < lo)
			lo = n / (l->rate * win);
	}
	return lo == 1e9 ? 0 : lo;
}

/* The mean receive rate of stream <i> in msgs/s over the seconds [from_s, to_s). */
double sc_load_mean_rate(const struct sc_load *l, int i, int from_s, int to_s)
{
	json_object *s = stream_of(l, i), *ps;
	double n = 0;

	if (!s || !json_object_object_get_ex(s, "per_second", &ps) || to_s <= from_s)
		return 0;
	for (int k = from_s; k < to_s; k++)
		n += json_object_get_double(json_object_array_get_idx(ps, (size_t)k));
	return n / (to_s - from_s);
}
