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
	unsigned rounds; /* every figure this many times, interleaved; medians reported */
	bool lat_only;	 /* figure (3) only */
};

/* What one run measured. */
struct res {
	uint64_t n, lost;	     /* messages received (all receivers), GAP counts */
	double secs;		     /* first message to last, over all receivers */
	double rate;		     /* n / secs */
	double router_us, broker_us; /* CPU over the run: /proc/PID/stat utime + stime */
	double router_clk_us;	     /* the router's CPU-time clock over the run, to check */
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
	uint64_t start = mm_time_mono_ns(), seen = 0, at = start;

	while (!rx_done(pg, nrx, count) && mm_time_mono_ns() - start < RUN_NS) {
		uint64_t n = rx_total(pg, nrx), now = mm_time_mono_ns();

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
	uint64_t deadline = mm_time_mono_ns() + READY_MS * 1000000ull;

	for (int i = 0; i < nrx; i++)
		if ((pids[i] = b_rx_spawn(kind, s, pg, i)) < 0)
			return (int)pids[i];
	while (!b_rx_all_ready(pg, nrx))
		if (mm_time_mono_ns() > deadline)
			return -ETIMEDOUT;
		else
			usleep(1000);
	return 0;
}

struct cpu {
	uint64_t router, broker, router_ns;
};

static void cpu_mark(const struct b_stack *s, bool mm, struct cpu *c)
{
	if (mm &&
	    (b_cpu_ticks(s->router, &c->router) < 0 || b_cpu_ns(s->router, &c->router_ns) < 0))
		c->router = c->router_ns = 0;
	if (b_cpu_ticks(s->broker, &c->broker) < 0)
		c->broker = 0;
}

/* One run: <nrx> receivers of <kind>, one publisher with <pc>. */
static int run(struct b_stack *s, enum b_rx_kind kind, int nrx, const struct b_pub_cfg *pc,
	       struct res *r)
{
	struct b_rxs *pg = b_shared_new(sizeof(*pg));
	struct cpu c0 = { 0 }, c1 = { 0 };
	pid_t pids[B_E2E_MAX_RX] = { 0 }, pub = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!pg)
		return -ENOMEM;
	if (kind == B_RX_MQTTMUX && (rc = b_daemon_start(s)) < 0)
		goto out;
	if ((rc = start_rx(kind, s, pg, nrx, pids)) < 0)
		goto out;
	cpu_mark(s, kind == B_RX_MQTTMUX, &c0);
	if ((pub = b_pub_spawn(s->port, pc)) < 0) {
		rc = (int)pub;
		goto out;
	}
	wait_run(pg, nrx, pc->count);
	cpu_mark(s, kind == B_RX_MQTTMUX, &c1);
	r->router_us = (double)(c1.router - c0.router) * b_tick_us();
	r->router_clk_us = (double)(c1.router_ns - c0.router_ns) / 1e3;
	r->broker_us = (double)(c1.broker - c0.broker) * b_tick_us();
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

enum fig { F_ONE = 0, F_FAN, F_CPU, F_CPU1, F_W50, F_W99, F_P50, F_P99, _F_MAX };

enum fig_check { CHECK_RATIO_GE = 0, CHECK_LE, CHECK_INFO, _CHECK_MAX };

struct fig_def {
	const char *name, *unit, *target;
	enum fig_check check;
	double limit;
};

static const struct fig_def Figs[_F_MAX] = {
	[F_ONE] = { "(1) 1 client vs 1 plain sub, msgs/s", "msgs/s", ">= 0.95x", CHECK_RATIO_GE,
		    0.95 },
	[F_FAN] = { "(2) N clients vs N plain subs, aggregate", "msgs/s", ">= 5x", CHECK_RATIO_GE,
		    5 },
	[F_CPU] = { "(4) router CPU per delivered msg", "us/msg", "<= 0.5 us", CHECK_LE, 0.5 },
	[F_CPU1] = { "(4) same with 1 client (from (1))", "us/msg", "(info)", CHECK_INFO, 0 },
	[F_W50] = { "(3) worker->client latency p50", "us", "<= 15 us", CHECK_LE, 15 },
	[F_W99] = { "(3) worker->client latency p99", "us", "<= 60 us", CHECK_LE, 60 },
	[F_P50] = { "(3) publisher->client p50", "us", "(info)", CHECK_INFO, 0 },
	[F_P99] = { "(3) publisher->client p99", "us", "(info)", CHECK_INFO, 0 },
};

#define MAX_ROUNDS 9

/* Every figure of every round: [round][fig][0] mqttmux, [1] baseline. */
static double Val[MAX_ROUNDS][_F_MAX][2];

static void detail(unsigned round, const char *what, const struct res *r, uint64_t want)
{
	printf("  [%u] %-28s %8.3f s %10llu of %10llu received, %7llu lost (GAP); CPU router "
	       "%7.0f ms (clock %7.1f), broker %7.0f ms\n",
	       round + 1, what, r->secs, (unsigned long long)r->n, (unsigned long long)want,
	       (unsigned long long)r->lost, r->router_us / 1e3, r->router_clk_us / 1e3,
	       r->broker_us / 1e3);
}

static void put(unsigned round, enum fig f, double mm, double base)
{
	Val[round][f][0] = mm;
	Val[round][f][1] = base;
}

/* Figures (1), (2) and (4) of one round: four saturation runs, plain before mqttmux. */
static int saturation(struct b_stack *s, const struct opts *o, unsigned round)
{
	struct b_pub_cfg pc = { .count = o->count, .payload = o->payload };
	struct res r[4];
	int rc;

	if ((rc = run(s, B_RX_PLAIN, 1, &pc, &r[0])) < 0 ||
	    (rc = run(s, B_RX_MQTTMUX, 1, &pc, &r[1])) < 0 ||
	    (rc = run(s, B_RX_PLAIN, (int)o->fan, &pc, &r[2])) < 0 ||
	    (rc = run(s, B_RX_MQTTMUX, (int)o->fan, &pc, &r[3])) < 0)
		return rc;
	put(round, F_ONE, r[1].rate, r[0].rate);
	put(round, F_FAN, r[3].rate, r[2].rate);
	/* baseline of (4): what mosquitto spends per message it delivers to N subscribers */
	put(round, F_CPU, r[3].n ? r[3].router_us / (double)r[3].n : 0,
	    r[2].n ? r[2].broker_us / (double)r[2].n : 0);
	put(round, F_CPU1, r[1].n ? r[1].router_us / (double)r[1].n : 0,
	    r[0].n ? r[0].broker_us / (double)r[0].n : 0);
	detail(round, "(1) plain, 1 subscriber", &r[0], o->count);
	detail(round, "(1) mqttmux, 1 client", &r[1], o->count);
	detail(round, "(2) plain, N subscribers", &r[2], o->count * o->fan);
	detail(round, "(2) mqttmux, N clients", &r[3], o->count * o->fan);
	for (int i = 0; i < 4; i++)
		res_free(&r[i]);
	return 0;
}

/* Figure (3) of one round: paced runs, plain then mqttmux. */
static int latency(struct b_stack *s, const struct opts *o, unsigned round)
{
	struct b_pub_cfg pc = { .count = (uint64_t)o->lat_rate * o->lat_secs,
				.rate = o->lat_rate,
				.payload = o->payload };
	struct res pl, mm;
	double p50, p99;
	int rc;

	if ((rc = run(s, B_RX_PLAIN, (int)o->lat_rx, &pc, &pl)) < 0)
		return rc;
	if ((rc = run(s, B_RX_MQTTMUX, (int)o->lat_rx, &pc, &mm)) < 0) {
		res_free(&pl);
		return rc;
	}
	p50 = pct_us(pl.p2c, pl.nlat, 50);
	p99 = pct_us(pl.p2c, pl.nlat, 99);
	put(round, F_W50, pct_us(mm.w2c, mm.nlat, 50), p50);
	put(round, F_W99, pct_us(mm.w2c, mm.nlat, 99), p99);
	put(round, F_P50, pct_us(mm.p2c, mm.nlat, 50), p50);
	put(round, F_P99, pct_us(mm.p2c, mm.nlat, 99), p99);
	detail(round, "(3) plain", &pl, pc.count * o->lat_rx);
	detail(round, "(3) mqttmux", &mm, pc.count * o->lat_rx);
	res_free(&pl);
	res_free(&mm);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(enum fig f, int side, unsigned rounds)
{
	double v[MAX_ROUNDS];

	for (unsigned i = 0; i < rounds; i++)
		v[i] = Val[i][f][side];
	qsort(v, rounds, sizeof(v[0]), cmp_double);
	return rounds % 2 ? v[rounds / 2] : (v[rounds / 2 - 1] + v[rounds / 2]) / 2;
}

static void print_fig(enum fig f, unsigned rounds)
{
	const struct fig_def *d = &Figs[f];
	double mm = median(f, 0, rounds), base = median(f, 1, rounds);
	bool met = d->check == CHECK_RATIO_GE ? mm >= d->limit * base
		   : d->check == CHECK_LE     ? mm <= d->limit
					      : true;

	printf("%-42s %12.3f %12.3f %8.3fx  %-7s %-10s %s\n", d->name, mm, base,
	       base > 0 ? mm / base : 0, d->unit, d->target,
	       d->check == CHECK_INFO ? ""
	       : met		      ? "MET"
				      : "NOT MET");
}

static void print_rounds(enum fig f, unsigned rounds)
{
	printf("  %-40s", Figs[f].name);
	for (unsigned i = 0; i < rounds; i++)
		printf(" %.3f/%.3f", Val[i][f][0], Val[i][f][1]);
	printf("\n");
}

static void report(const struct opts *o, unsigned rounds)
{
	printf("\nmedians of %u round(s); N = %u; (3): %u sleeping clients / plain subscribers at "
	       "%u msg/s for %u s\n",
	       rounds, o->fan, o->lat_rx, o->lat_rate, o->lat_secs);
	printf("%-42s %12s %12s %9s  %-7s %-10s\n", "figure", "mqttmux", "baseline", "ratio",
	       "unit", "target");
	for (enum fig f = o->lat_only ? F_W50 : 0; f < _F_MAX; f++)
		print_fig(f, rounds);
	printf("baselines: (1) (2) plain libmosquitto subscribers on the same broker and stream; "
	       "(3) publisher->callback of the plain subscribers; (4) mosquitto's CPU per message "
	       "delivered to the N (or 1) plain subscribers\n");
	printf("per round (mqttmux/baseline):\n");
	for (enum fig f = o->lat_only ? F_W50 : 0; f < _F_MAX; f++)
		print_rounds(f, rounds);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-e2e [--count N] [--payload BYTES] [--fan N] [--lat-rate MSGS]\n"
		   "                 [--lat-secs S] [--lat-clients N] [--ring BYTES] [--rounds N]\n"
		   "                 [--latency-only]\n");
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
		{ "rounds", 1, NULL, 'k' },
		{ "latency-only", 0, NULL, 'L' },
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
		case 'k':
			o->rounds = (unsigned)v;
			break;
		case 'L':
			o->lat_only = true;
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
	    o->lat_rate == 0 || o->lat_rate > 1000000 || o->lat_secs == 0 || o->rounds == 0 ||
	    o->rounds > MAX_ROUNDS) {
		fprintf(stderr,
			"bench-e2e: bad option: count >= 1, payload 16..65536, fan and "
			"lat-clients 1..%d, lat-rate 1..1000000, lat-secs >= 1, rounds 1..%d\n",
			B_E2E_MAX_RX, MAX_ROUNDS);
		return -EINVAL;
	}
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
			  .ring = 4u << 20,
			  .rounds = 3 };
	struct b_stack s = { 0 };
	unsigned done = 0;
	int rc = 0;

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
	printf("bench-e2e: %llu msgs of %u B per saturation run, QoS 0, one topic, client ring %u B,"
	       " %u round(s)\n",
	       (unsigned long long)o.count, o.payload, o.ring, o.rounds);
	for (; done < o.rounds && rc == 0; done++)
		if (o.lat_only || (rc = saturation(&s, &o, done)) == 0)
			rc = latency(&s, &o, done);
	if (rc < 0)
		fprintf(stderr, "bench-e2e: %s (logs in %s with B_E2E_KEEP=1)\n", strerror(-rc),
			s.dir);
	else
		report(&o, o.rounds);
	b_stack_free(&s);
	return rc < 0 ? 1 : 0;
}
