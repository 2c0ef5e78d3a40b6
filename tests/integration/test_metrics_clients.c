/* SPDX-License-Identifier: MIT */
/*
 * The router and client families of a running daemon (issue #6): a steady stream to two
 * clients, one dispatching and one that never reads its small ring (so the router drops for
 * it). In every one of 50+ metrics reads, for every client,
 * matched == delivered + dropped + queued exactly; and no counter goes down across kill -9 of
 * the router and of a worker. Helpers in t_metrics.c.
 */
#include <errno.h>
#include <mqttmux.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "t_helpers.h"
#include "t_metrics.h"

TestSuite(metrics_clients, .init = setup, .fini = teardown, .timeout = 60);

#define STREAM_RATE   2000u
#define STREAM_SECS   10u
#define READ_NS	      100000000ull
#define KILL_ROUTER   20 /* read number */
#define KILL_WORKER   50
#define MIN_READS     60
#define MAX_SERIES    64
#define PROMTOOL_READ 15

/* The counters that must never go down, by series (family + labels), across all reads. */
struct seen {
	char key[256];
	double v;
};

struct watch {
	struct seen s[MAX_SERIES];
	size_t n;
	unsigned reads, with_drops, with_deliveries;
};

static void never_down(struct watch *w, const char *key, double v, unsigned read)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->s[i].key, key)) {
			cr_expect_geq(v, w->s[i].v, "read %u: %s went down from %.0f to %.0f", read,
				      key, w->s[i].v, v);
			w->s[i].v = v;
			return;
		}
	cr_assert_lt(w->n, MAX_SERIES);
	snprintf(w->s[w->n].key, sizeof(w->s[w->n].key), "%s", key);
	w->s[w->n++].v = v;
}

/* Value of "<family>{<labels>} " in <text>; asserts it is there. */
static double sample(const char *text, const char *family, const char *labels)
{
	char key[512];
	const char *p;

	snprintf(key, sizeof(key), "\n%s{%s} ", family, labels);
	p = strstr(text, key);
	cr_assert_not_null(p, "no sample %s", key + 1);
	return strtod(p + strlen(key), NULL);
}

/* The invariant for every client line of one dump; their counters, and the router's, grow. */
static void check_dump(struct watch *w, const char *text)
{
	static const char *const grow[] = { "mqttmux_client_messages_matched_total",
					    "mqttmux_client_messages_delivered_total",
					    "mqttmux_client_messages_dropped_total",
					    "mqttmux_client_gaps_total" };
	static const char *const router[] = { "mqttmux_router_messages_total",
					      "mqttmux_router_fanout_total",
					      "mqttmux_router_dropped_total",
					      "mqttmux_router_clients_registered_total",
					      "mqttmux_delivery_latency_seconds_count" };
	const char *p = text;
	char labels[256], key[512];

	w->reads++;
	while ((p = strstr(p, "\nmqttmux_client_messages_matched_total{"))) {
		const char *l = strchr(p, '{') + 1, *e = strchr(l, '}');
		double m, d, x, q;

		cr_assert_not_null(e);
		snprintf(labels, sizeof(labels), "%.*s", (int)(e - l), l);
		m = strtod(e + 2, NULL);
		d = sample(text, "mqttmux_client_messages_delivered_total", labels);
		x = sample(text, "mqttmux_client_messages_dropped_total", labels);
		q = sample(text, "mqttmux_client_messages_queued", labels);
		cr_expect_eq(m, d + x + q,
			     "read %u, {%s}: matched %.0f != delivered %.0f + "
			     "dropped %.0f + queued %.0f",
			     w->reads, labels, m, d, x, q);
		w->with_drops += x > 0;
		w->with_deliveries += d > 0;
		for (size_t i = 0; i < sizeof(grow) / sizeof(grow[0]); i++) {
			snprintf(key, sizeof(key), "%s{%s}", grow[i], labels);
			never_down(w, key, sample(text, grow[i], labels), w->reads);
		}
		p = e;
	}
	for (size_t i = 0; i < sizeof(router) / sizeof(router[0]); i++)
		never_down(w, router[i], value(text, router[i], NULL), w->reads);
	never_down(w, "received{one}", value(text, "mqtt_session_messages_received_total", "one"),
		   w->reads);
}

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *msg, void *ud)
{
	(void)r;
	(void)msg;
	(*(unsigned long *)ud)++;
}

static struct mqttmux *open_client(unsigned long *count)
{
	struct mqttmux *c = NULL;
	uint64_t deadline = t_now_ns() + 10000000000ull;
	int err = 0;

	/* the router may be restarting: it comes back within its backoff */
	while (!c && t_now_ns() < deadline)
		if (!(c = mqttmux_open(Run, &err)))
			(void)t_wait_for(ready, NULL, 100);
	cr_assert_not_null(c, "mqttmux_open: %s", strerror(-err));
	cr_assert_not_null(mqttmux_handle(c, "t/#", on_msg, count), "handle: %s", strerror(errno));
	return c;
}

/* The fast client: dispatch until <until>; reopen it if the router went away. */
static void dispatch_until(struct mqttmux **fast, unsigned long *count, uint64_t until)
{
	while (t_now_ns() < until) {
		int r = mqttmux_dispatch(*fast, 10);

		if (r == -ENOTCONN) {
			mqttmux_close(*fast);
			*fast = open_client(count);
		} else {
			cr_assert_geq(r, 0, "dispatch: %s", strerror(-r));
		}
	}
}

Test(metrics_clients, matched_is_delivered_dropped_queued_and_nothing_goes_down)
{
	static struct watch w;
	unsigned long fast_n = 0, slow_n = 0;
	struct mqttmux *fast, *slow;
	uint64_t next;
	struct pace *p;
	pid_t pid;

	/* 64 KiB client rings, the smallest: the slow client's fills within a second */
	write_config_with(false, "performance = { max_message_size = 16384; };",
			  "clients = { ring_size = 65536; on_full = \"drop\"; };");
	start_daemon();
	fast = open_client(&fast_n);
	slow = open_client(&slow_n); /* never dispatched: its ring fills, the router drops */
	p = pace_start("t/inv", STREAM_RATE, STREAM_SECS);
	next = t_now_ns();
	while (w.reads < MIN_READS || atomic_load(&p->n) < STREAM_RATE * STREAM_SECS) {
		char *text;

		next += READ_NS;
		dispatch_until(&fast, &fast_n, next);
		text = metrics();
		check_dump(&w, text);
		if (w.reads == PROMTOOL_READ && access(PROMTOOL, X_OK) == 0)
			expect_promtool_ok(text); /* with clients, drops and latencies */
		free(text);
		if (w.reads == KILL_ROUTER || w.reads == KILL_WORKER) {
			pid = w.reads == KILL_ROUTER ? router_of() : worker_of("one");
			cr_assert_gt(pid, 0, "no process to kill at read %u", w.reads);
			cr_assert_eq(kill(pid, SIGKILL), 0);
		}
		if (w.reads == KILL_ROUTER) {
			/* it would only notice (and reconnect) in a dispatch it never calls */
			mqttmux_close(slow);
			slow = open_client(&slow_n);
		}
		cr_assert_lt(w.reads, 1000, "the stream never ended");
	}
	pace_done(p);
	cr_log_info("%u reads; client lines with drops %u, with deliveries %u; fast got %lu",
		    w.reads, w.with_drops, w.with_deliveries, fast_n);
	cr_expect_gt(w.with_deliveries, 0, "no client ever got a message");
	cr_expect_gt(w.with_drops, 0, "the slow client never lost a message");
	cr_expect_gt(fast_n, 0);
	mqttmux_close(slow);
	mqttmux_close(fast);
}
