/* SPDX-License-Identifier: MIT */
/*
 * bench-e2e (issue #4): mqttmux end to end on a real local mosquitto broker, each figure next
 * to its baseline from the same run.
 *   (1) one libmqttmux client vs one plain libmosquitto subscriber, same stream: msgs/s;
 *   (2) 8 clients vs 8 plain subscribers each subscribed to the broker: aggregate msgs/s;
 *   (3) latency at 10,000 msg/s with sleeping clients: worker receive stamp to client callback
 *       (and publisher stamp to callback, against the plain subscribers' publisher to callback);
 *   (4) router CPU per delivered message at saturation (/proc utime+stime over the run /
 *       messages the clients got), against mosquitto's CPU per delivered message in (2)'s plain
 *       run.
 * mqttmuxd runs only during the mqttmux runs, so the plain runs have the machine to themselves.
 * Run it with scripts/bench-e2e (a release build).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b_e2e.h"
#include "b_worker.h"

#define IDLE_NS	 3000000000ull	 /* a run ends when nothing arrived for this long */
#define RUN_NS	 180000000000ull /* or after this long at worst */
#define READY_MS 10000

struct opts {
	uint64_t count;	   /* messages per saturation run */
	uint32_t payload;  /* bytes */
	uint32_t fan;	   /* receivers in (2) */
	uint32_t lat_rate; /* msgs/s in (3) */
	uint32_t lat_secs;
	uint32_t lat_rx; /* receivers in (3) */
	unsigned ring;	 /* clients.ring_size */
};

/* What one run measured. */
struct res {
	uint64_t n, lost;	     /* messages received (all receivers), GAP counts */
	double secs;		     /* first message to last, over all receivers */
	double rate;		     /* n / secs */
	double router_us, broker_us; /* CPU over the run */
	uint32_t *w2c, *p2c;	     /* merged latency samples, ns */
	size_t nlat;
};

static void res_free(struct res *r)
{
	free(r->w2c);
	free(r->p2c);
}

static bool rx_done(struct b_rxs *pg, int nrx, uint64_t count)
{
	for (int i = 0; i < nrx; i++)
		if (atomic_load(&pg->rx[i].n) + atomic_load(&pg->rx[i].lost) < count)
			return false;
	return true;
}

static uint64_t rx_total(struct b_rxs *pg, int nrx)
{
	uint64_t n = 0;

	for (int i = 0; i < nrx; i++)
		n += atomic_load(&pg->rx[i].n) + atomic_load(&pg->rx[i].lost);
	return n;
}

/* Until every receiver has all <count>, or nothing came for IDLE_NS. */
static void wait_run(struct b_rxs *pg, int nrx, uint64_t count)
{
	uint64_t start = b_now_ns(), seen = 0, at = start;

	while (!rx_done(pg, nrx, count) && b_now_ns() - start < RUN_NS) {
		uint64_t n = rx_total(pg, nrx), now = b_now_ns();

		if (n != seen)
			seen = n, at = now;
		else if (now - at > IDLE_NS)
			break;
		usleep(10000);
	}
}

static void merge(struct res *r, struct b_rxs *pg, int nrx)
{
	uint64_t first = UINT64_MAX, last = 0;
	size_t total = 0;

	for (int i = 0; i < nrx; i++)
		total += pg->rx[i].nlat;
	r->w2c = calloc(total + 1, sizeof(*r->w2c));
	r->p2c = calloc(total + 1, sizeof(*r->p2c));
	for (int i = 0; i < nrx; i++) {
		struct b_rx *x = &pg->rx[i];

		r->n += atomic_load(&x->n);
		r->lost += atomic_load(&x->lost);
		if (atomic_load(&x->n) == 0)
			continue;
		first = x->first_ns < first ? x->first_ns : first;
		last = atomic_load(&x->last_ns) > last ? atomic_load(&x->last_ns) : last;
		if (r->w2c && r->p2c) {
			memcpy(r->w2c + r->nlat, x->w2c, x->nlat * sizeof(*x->w2c));
			memcpy(r->p2c + r->nlat, x->p2c, x->nlat * sizeof(*x->p2c));
			r->nlat += x->nlat;
		}
	}
	r->secs = last > first ? (double)(last - first) / 1e9 : 0;
	r->rate = r->secs > 0 ? (double)r->n / r->secs : 0;
}

static int start_rx(enum b_rx_kind kind, struct b_stack *s, struct b_rxs *pg, int nrx, pid_t *pids)
{
	uint64_t deadline = b_now_ns() + READY_MS * 1000000ull;

	for (int i = 0; i < nrx; i++)
		if ((pids[i] = b_rx_spawn(kind, s, pg, i)) < 0)
			return (int)pids[i];
	while (!b_rx_all_ready(pg, nrx))
		if (b_now_ns() > deadline)
			return -ETIMEDOUT;
		else
			usleep(1000);
	return 0;
}

static void cpu_mark(const struct b_stack *s, bool mm, uint64_t *router, uint64_t *broker)
{
	if (mm && b_cpu_ticks(s->router, router) < 0)
		*router = 0;
	if (b_cpu_ticks(s->broker, broker) < 0)
		*broker = 0;
}

/* One run: <nrx> receivers of <kind>, one publisher with <pc>. */
static int run(struct b_stack *s, enum b_rx_kind kind, int nrx, const struct b_pub_cfg *pc,
	       struct res *r)
{
	struct b_rxs *pg = b_shared_new(sizeof(*pg));
	uint64_t rt0 = 0, rt1 = 0, bt0 = 0, bt1 = 0;
	pid_t pids[B_E2E_MAX_RX] = { 0 }, pub = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!pg)
		return -ENOMEM;
	if (kind == B_RX_MQTTMUX && (rc = b_daemon_start(s)) < 0)
		goto out;
	if ((rc = start_rx(kind, s, pg, nrx, pids)) < 0)
		goto out;
	cpu_mark(s, kind == B_RX_MQTTMUX, &rt0, &bt0);
	if ((pub = b_pub_spawn(s->port, pc)) < 0) {
		rc = (int)pub;
		goto out;
	}
	wait_run(pg, nrx, pc->count);
	cpu_mark(s, kind == B_RX_MQTTMUX, &rt1, &bt1);
	r->router_us = (double)(rt1 - rt0) * b_tick_us();
	r->broker_us = (double)(bt1 - bt0) * b_tick_us();
	merge(r, pg, nrx);
	rc = 0;
out:
	atomic_store(&pg->stop, 1);
	if (pub > 0)
		(void)b_reap(pub, 10000, NULL, NULL, NULL);
	for (int i = 0; i < nrx; i++)
		if (pids[i] > 0)
			(void)b_reap(pids[i], 10000, NULL, NULL, NULL);
	if (kind == B_RX_MQTTMUX)
		b_daemon_stop(s);
	b_shared_free(pg, sizeof(*pg));
	return rc;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile <p> (0..100) of <v>[0..n), in microseconds; sorts <v>. */
static double pct_us(uint32_t *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u32);
	k = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return (double)v[k] / 1e3;
}

static const char *verdict(bool met)
{
	return met ? "MET" : "NOT MET";
}

static void line(const char *fig, double mm, double base, const char *unit, const char *target,
		 bool met)
{
	printf("%-46s %12.3f %12.3f %8.3fx  %-10s %-12s %s\n", fig, mm, base,
	       base > 0 ? mm / base : 0, unit, target, verdict(met));
}

static void detail(const char *what, const struct res *r, uint64_t want)
{
	printf("  %-44s %9.3f s  %10llu received of %10llu  %8llu lost (GAP)  router %8.0f us  "
	       "broker %8.0f us\n",
	       what, r->secs, (unsigned long long)r->n, (unsigned long long)want,
	       (unsigned long long)r->lost, r->router_us, r->broker_us);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-e2e [--count N] [--payload BYTES] [--fan N] [--lat-rate MSGS]\n"
		   "                 [--lat-secs S] [--lat-clients N] [--ring BYTES]\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "count", 1, NULL, 'n' },
		{ "payload", 1, NULL, 'p' },
		{ "fan", 1, NULL, 'f' },
		{ "lat-rate", 1, NULL, 'r' },
		{ "lat-secs", 1, NULL, 's' },
		{ "lat-clients", 1, NULL, 'l' },
		{ "ring", 1, NULL, 'R' },
		{ "help", 0, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		unsigned long long v = optarg ? strtoull(optarg, NULL, 0) : 0;

		switch (c) {
		case 'n':
			o->count = v;
			break;
		case 'p':
			o->payload = (uint32_t)v;
			break;
		case 'f':
			o->fan = (uint32_t)v;
			break;
		case 'r':
			o->lat_rate = (uint32_t)v;
			break;
		case 's':
			o->lat_secs = (uint32_t)v;
			break;
		case 'l':
			o->lat_rx = (uint32_t)v;
			break;
		case 'R':
			o->ring = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (o->count == 0 || o->payload < 16 || o->payload > 65536 || o->fan == 0 ||
	    o->fan > B_E2E_MAX_RX || o->lat_rx == 0 || o->lat_rx > B_E2E_MAX_RX ||
	    o->lat_rate == 0 || o->lat_rate > 1000000 || o->lat_secs == 0) {
		fprintf(stderr,
			"bench-e2e: bad option: count >= 1, payload 16..65536, fan and "
			"lat-clients 1..%d, lat-rate 1..1000000, lat-secs >= 1\n",
			B_E2E_MAX_RX);
		return -EINVAL;
	}
	return 0;
}

/* Figures (1), (2) and (4): four saturation runs, plain before mqttmux each time. */
static int saturation(struct b_stack *s, const struct opts *o)
{
	struct b_pub_cfg pc = { .count = o->count, .payload = o->payload };
	struct res r[4];
	char fig[64];
	int rc = 0;

	if ((rc = run(s, B_RX_PLAIN, 1, &pc, &r[0])) < 0 ||
	    (rc = run(s, B_RX_MQTTMUX, 1, &pc, &r[1])) < 0 ||
	    (rc = run(s, B_RX_PLAIN, (int)o->fan, &pc, &r[2])) < 0 ||
	    (rc = run(s, B_RX_MQTTMUX, (int)o->fan, &pc, &r[3])) < 0)
		return rc;
	line("(1) 1 client vs 1 plain subscriber, msgs/s", r[1].rate, r[0].rate, "msgs/s",
	     ">= 0.95x", r[1].rate >= 0.95 * r[0].rate);
	snprintf(fig, sizeof(fig), "(2) %u clients vs %u plain subs, agg msgs/s", o->fan, o->fan);
	line(fig, r[3].rate, r[2].rate, "msgs/s", ">= 5x", r[3].rate >= 5 * r[2].rate);
	{
		double rt = r[3].n ? r[3].router_us / (double)r[3].n : 0;
		double bt = r[2].n ? r[2].broker_us / (double)r[2].n : 0;

		line("(4) router CPU us per delivered msg", rt, bt, "us/msg", "<= 0.5 us",
		     rt <= 0.5);
		printf("  (4) baseline: mosquitto CPU per message delivered to %u plain subs; "
		       "mosquitto in the mqttmux run: %.3f us per delivered msg\n",
		       o->fan, r[3].n ? r[3].broker_us / (double)r[3].n : 0);
	}
	detail("(1) plain, 1 subscriber", &r[0], o->count);
	detail("(1) mqttmux, 1 client", &r[1], o->count);
	detail("(2) plain, all subscribers", &r[2], o->count * o->fan);
	detail("(2) mqttmux, all clients", &r[3], o->count * o->fan);
	for (int i = 0; i < 4; i++)
		res_free(&r[i]);
	return 0;
}

/* Figure (3): paced runs, plain then mqttmux. */
static int latency(struct b_stack *s, const struct opts *o)
{
	struct b_pub_cfg pc = { .count = (uint64_t)o->lat_rate * o->lat_secs,
				.rate = o->lat_rate,
				.payload = o->payload };
	struct res pl, mm;
	double w50, w99, m50, m99, p50, p99;
	int rc;

	if ((rc = run(s, B_RX_PLAIN, (int)o->lat_rx, &pc, &pl)) < 0)
		return rc;
	if ((rc = run(s, B_RX_MQTTMUX, (int)o->lat_rx, &pc, &mm)) < 0) {
		res_free(&pl);
		return rc;
	}
	w50 = pct_us(mm.w2c, mm.nlat, 50), w99 = pct_us(mm.w2c, mm.nlat, 99);
	m50 = pct_us(mm.p2c, mm.nlat, 50), m99 = pct_us(mm.p2c, mm.nlat, 99);
	p50 = pct_us(pl.p2c, pl.nlat, 50), p99 = pct_us(pl.p2c, pl.nlat, 99);
	line("(3) worker->client latency p50 vs plain", w50, p50, "us", "<= 15 us", w50 <= 15);
	line("(3) worker->client latency p99 vs plain", w99, p99, "us", "<= 60 us", w99 <= 60);
	line("(3) publisher->client p50, mqttmux vs plain", m50, p50, "us", "(info)", true);
	line("(3) publisher->client p99, mqttmux vs plain", m99, p99, "us", "(info)", true);
	printf("  (3) %u clients, %u msg/s for %u s; baseline: publisher->callback of %u plain "
	       "subscribers at the same rate; samples %zu mqttmux, %zu plain\n",
	       o->lat_rx, o->lat_rate, o->lat_secs, o->lat_rx, mm.nlat, pl.nlat);
	detail("(3) plain", &pl, pc.count * o->lat_rx);
	detail("(3) mqttmux", &mm, pc.count * o->lat_rx);
	res_free(&pl);
	res_free(&mm);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .count = 300000,
			  .payload = 64,
			  .fan = 8,
			  .lat_rate = 10000,
			  .lat_secs = 5,
			  .lat_rx = 4,
			  .ring = 4u << 20 };
	struct b_stack s = { 0 };
	int rc;

	if (parse(argc, argv, &o) < 0)
		return 64;
	s.ring = o.ring;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((rc = b_broker_start(&s)) < 0) {
		fprintf(stderr, "bench-e2e: broker: %s\n", strerror(-rc));
		b_stack_free(&s);
		return 1;
	}
	printf("bench-e2e: %llu msgs of %u B per saturation run, QoS 0, one topic; client ring %u B;"
	       " latency: %u clients at %u msg/s for %u s\n",
	       (unsigned long long)o.count, o.payload, o.ring, o.lat_rx, o.lat_rate, o.lat_secs);
	printf("%-46s %12s %12s %9s  %-10s %-12s %s\n", "figure", "mqttmux", "baseline", "ratio",
	       "unit", "target", "");
	rc = saturation(&s, &o);
	if (rc == 0)
		rc = latency(&s, &o);
	if (rc < 0)
		fprintf(stderr, "bench-e2e: %s (logs in %s with B_E2E_KEEP=1)\n", strerror(-rc),
			s.dir);
	b_stack_free(&s);
	return rc < 0 ? 1 : 0;
}
