/* SPDX-License-Identifier: MIT */
/*
 * bench-metrics (issue 6): how long does building the metrics text take for 1,000 sessions?
 * The target is under 20 ms per dump.
 *
 * The subject is the real thing: mm_sup_metrics_text() of supervisor/sup_metrics.c (what the
 * control socket's `metrics`, SIGUSR1 and GET /metrics call) over a supervisor state built the
 * way mqttmuxd builds it: a config file with N sessions loaded by mm_cfg_load(), one
 * mm_sup_child_init() per session (its real rings and stats block), the router stats block from
 * mm_sup_router_init() with some connected clients. The stats blocks hold non-zero counters
 * and the workers look READY, so every family has its samples; between two dumps every session
 * gets new messages, so the rates are real numbers, not round ones.
 *
 * Baselines, from the same run and interleaved with the dumps: "read" loads every counter of
 * every stats block and ring header (the floor for reading the data at all); "snprintf" writes
 * as many sample lines of the same mean length with one snprintf each into a preallocated
 * buffer (the floor for formatting that much text). Each step is timed twice: wall clock
 * (CLOCK_MONOTONIC) and the thread's CPU time (CLOCK_THREAD_CPUTIME_ID); on a loaded machine
 * the wall time also holds the waits for a CPU, which the baselines show as much.
 *
 * Usage: bench-metrics [--sessions N] [--clients N] [--dumps N]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "mm_time.h"
#include "rstats.h"
#include "stats.h"
#include "sup.h"

#define RLX memory_order_relaxed

struct opts {
	unsigned sessions, clients, dumps;
};

static void die(const char *what, int r)
{
	fprintf(stderr, "bench-metrics: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

/* Every session keeps 7 descriptors open: raise the soft limit to the hard one. */
static void raise_nofile(unsigned sessions)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("getrlimit", errno);
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("setrlimit", errno);
	if (rl.rlim_cur < (rlim_t)sessions * 8 + 64)
		die("RLIMIT_NOFILE hard limit too low for that many sessions", EMFILE);
}

/* A config file with <n> sessions "bench-s0000".., loaded as mqttmuxd would. */
static struct mm_cfg *load_config(unsigned n)
{
	char path[] = "/tmp/bench-metrics-XXXXXX";
	struct mm_cfg_diag diag;
	struct mm_cfg *cfg;
	int fd = mkstemp(path), r;
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");

	if (!f)
		die("mkstemp", errno);
	fprintf(f, "runtime_dir = \"/tmp\";\nsessions = (\n");
	for (unsigned i = 0; i < n; i++)
		fprintf(f,
			"  { name = \"bench-s%04u\"; brokers = [ \"tcp://127.0.0.1:1883\" ];"
			" client_id = \"bench-%04u\"; subscriptions = ( { topic = \"t/%u/#\"; } );"
			" }%s\n",
			i, i, i, i + 1 < n ? "," : "");
	fprintf(f, ");\n");
	fclose(f);
	mm_cfg_diag_init(&diag);
	r = mm_cfg_load(path, &cfg, &diag);
	if (r < 0) {
		(void)mm_cfg_diag_print(&diag, stderr);
		die("mm_cfg_load", r);
	}
	mm_cfg_diag_done(&diag);
	unlink(path);
	return cfg;
}

/* Counters that look like a day of traffic, and a READY worker (pid = fake, never signalled). */
static void fill_stats(struct mm_sup_child *c, unsigned i)
{
	struct mm_stats_block *st;
	int r = mm_shm_stats_attach(c->fds[MM_FD_WRK_STATS], &st);

	if (r < 0)
		die("mm_shm_stats_attach", r);
	atomic_store_explicit(&st->msgs_in, 86400ull * 1000 + i, RLX);
	atomic_store_explicit(&st->bytes_in, 86400ull * 64000 + i, RLX);
	atomic_store_explicit(&st->msgs_out, 1000ull * i, RLX);
	atomic_store_explicit(&st->bytes_out, 16000ull * i, RLX);
	atomic_store_explicit(&st->errors, i % 7, RLX);
	atomic_store_explicit(&st->reconnects, i % 5, RLX);
	atomic_store_explicit(&st->pub_ok, 1000ull * i, RLX);
	atomic_store_explicit(&st->last_msg_ns, 1764115200123456789ull + i, RLX);
	atomic_store_explicit(&st->connected, 1, RLX);
	atomic_store_explicit(&st->state, MM_SESS_READY, RLX);
	atomic_store_explicit(&st->backend, 1, RLX);
	atomic_store_explicit(&st->subscriptions, 1, RLX);
	atomic_store_explicit(&st->worker_pid, 100000 + i, RLX);
	mm_shm_stats_detach(st);
	c->pid = (pid_t)(100000 + i);
	c->fsm.state = MM_CHILD_UP;
}

static void fill_router(struct mm_sup *s, unsigned clients)
{
	struct mm_rstats_block *rb;
	int r = mm_shm_rstats_attach(s->router.fds[MM_FD_WRK_STATS], &rb);

	if (r < 0)
		die("mm_shm_rstats_attach", r);
	atomic_store_explicit(&rb->msgs_in, 86400000, RLX);
	atomic_store_explicit(&rb->deliveries, 3 * 86400000ull, RLX);
	for (unsigned i = 0; i < 2000; i++)
		mm_rstats_lat_add(rb, 1000ull + 997ull * i * i);
	for (unsigned i = 0; i < clients && i < MM_RSTATS_MAX_CLIENTS; i++) {
		struct mm_rstats_client *c = &rb->clients[i];
		char name[32];

		snprintf(name, sizeof(name), "client-%u", i);
		mm_rstats_client_begin(c);
		atomic_store_explicit(&c->token, i + 1, RLX);
		atomic_store_explicit(&c->state, MM_RSTATS_CONNECTED, RLX);
		atomic_store_explicit(&c->pid, 200000 + i, RLX);
		mm_rstats_client_set_name(c, name);
		atomic_store_explicit(&c->matched, 1000000 + i, RLX);
		atomic_store_explicit(&c->delivered, 1000000, RLX);
		atomic_store_explicit(&c->dropped, i, RLX);
		mm_rstats_client_end(c);
	}
	mm_shm_rstats_detach(rb);
}

static void setup(struct mm_sup *s, const struct opts *o)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->cfg = load_config(o->sessions);
	s->children = calloc(o->sessions, sizeof(*s->children));
	if (!s->children)
		die("calloc", ENOMEM);
	for (unsigned i = 0; i < o->sessions; i++) {
		r = mm_sup_child_init(&s->children[i], &s->cfg->sessions[i]);
		if (r < 0)
			die("mm_sup_child_init", r);
		fill_stats(&s->children[i], i);
	}
	s->n_children = s->cap_children = o->sessions;
	r = mm_sup_router_init(s);
	if (r < 0)
		die("mm_sup_router_init", r);
	fill_router(s, o->clients);
	s->start_ns = mm_time_mono_ns() - 86400ull * 1000000000;
	mm_sup_metrics_sample(s, mm_time_mono_ns()); /* the loop's first sample, at start */
}

/*
 * Traffic between two dumps: every session received about 1,000 messages per second since the
 * last one, so the rates the dump computes are real, non-round numbers.
 */
static void traffic(struct mm_sup *s, unsigned round)
{
	for (size_t i = 0; i < s->n_children; i++) {
		struct mm_stats_block *st = s->children[i].m.st;
		uint64_t n = 997 + (i * 7 + round) % 13;

		atomic_fetch_add_explicit(&st->msgs_in, n, RLX);
		atomic_fetch_add_explicit(&st->bytes_in, n * 61, RLX);
		atomic_store_explicit(&st->last_msg_ns, 1764115200123456789ull + round * 1000003ull,
				      RLX);
	}
}

/* Baseline "read": every counter of every stats block and ring header, relaxed loads. */
static uint64_t read_all(struct mm_sup *s)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < s->n_children; i++) {
		const struct mm_stats_block *st = s->children[i].m.st;
		const struct mm_ring_hdr *h = s->children[i].m.ring_hdr;
		const _Atomic uint64_t *c = &st->msgs_in;

		for (unsigned k = 0; k < 16; k++)
			sum += atomic_load_explicit(&c[k], RLX);
		sum += atomic_load_explicit(&st->last_msg_ns, RLX) +
		       atomic_load_explicit(&st->last_err_ns, RLX) +
		       atomic_load_explicit(&st->state, RLX) +
		       atomic_load_explicit(&st->subscriptions, RLX) +
		       atomic_load_explicit(&h->prod_pos, memory_order_acquire) -
		       atomic_load_explicit(&h->cons_pos, memory_order_acquire);
	}
	return sum;
}

/* Baseline "snprintf": <lines> lines of about <mean> bytes, one snprintf each. */
static size_t format_lines(char *buf, size_t cap, size_t lines, size_t mean)
{
	int pad = mean > 40 ? (int)(mean - 40) : 1;
	size_t off = 0;

	for (size_t i = 0; i < lines && off < cap; i++) {
		int n = snprintf(buf + off, cap - off,
				 "mqtt_session_metric_%.*s{session=\"s%04zu\"} %zu\n", pad,
				 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", i % 1000,
				 i * 1000003);

		off += n > 0 ? (size_t)n : 0;
	}
	return off;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void report(const char *what, uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	printf("%-22s %10.3f %10.3f %10.3f %10.3f\n", what, (double)v[n / 2] / 1e6,
	       (double)v[(n * 99) / 100] / 1e6, (double)v[n - 1] / 1e6, (double)v[0] / 1e6);
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = { { "sessions", required_argument, NULL, 's' },
					    { "clients", required_argument, NULL, 'c' },
					    { "dumps", required_argument, NULL, 'd' },
					    { "help", no_argument, NULL, 'h' },
					    { 0 } };
	int ch;

	*o = (struct opts){ .sessions = 1000, .clients = 32, .dumps = 200 };
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		unsigned long v = optarg ? strtoul(optarg, NULL, 10) : 0;

		if (ch == 's' && v >= 1 && v <= 2000)
			o->sessions = (unsigned)v;
		else if (ch == 'c' && v <= MM_RSTATS_MAX_CLIENTS)
			o->clients = (unsigned)v;
		else if (ch == 'd' && v >= 10 && v <= 100000)
			o->dumps = (unsigned)v;
		else {
			fprintf(stderr, "usage: bench-metrics [--sessions 1..2000] "
					"[--clients 0..128] [--dumps 10..100000]\n");
			exit(ch == 'h' ? 0 : 64);
		}
	}
}

/* Wall and CPU time of one measured step, per subject (dump, read, snprintf). */
enum { M_DUMP = 0, M_READ, M_FMT, _M_MAX };
static const char *const m_names[_M_MAX] = { "mm_sup_metrics_text", "baseline: read",
					     "baseline: snprintf" };

struct clk {
	uint64_t wall, cpu;
};

static struct clk clk_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (struct clk){ mm_time_mono_ns(),
			     (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec };
}

static void clk_done(struct clk t0, uint64_t *wall, uint64_t *cpu, unsigned i)
{
	struct clk t1 = clk_now();

	wall[i] = t1.wall - t0.wall;
	cpu[i] = t1.cpu - t0.cpu;
}

/* One dump through the real code; returns its length and counts its lines. */
static size_t dump_once(struct mm_sup *s, uint64_t *wall, uint64_t *cpu, unsigned i,
			size_t *ret_lines)
{
	struct mm_metrics_buf b;
	size_t len, lines = 0;
	struct clk t;
	int r;

	mm_metrics_buf_init_dyn(&b);
	t = clk_now();
	r = mm_sup_metrics_text(s, &b);
	clk_done(t, wall, cpu, i);
	if (r < 0)
		die("mm_sup_metrics_text", r);
	len = b.len;
	for (size_t k = 0; k < b.len; k++)
		lines += b.data[k] == '\n';
	mm_metrics_buf_done(&b);
	*ret_lines = lines;
	return len;
}

int main(int argc, char **argv)
{
	uint64_t *wall[_M_MAX], *cpu[_M_MAX], sink = 0;
	size_t len = 0, lines = 0, cap = 16u << 20;
	char *buf = malloc(cap);
	struct mm_sup s;
	struct opts o;
	struct clk t;

	parse(argc, argv, &o);
	mm_log_init("bench-metrics", MM_LOG_WARNING);
	raise_nofile(o.sessions);
	for (int m = 0; m < _M_MAX; m++) {
		wall[m] = calloc(o.dumps, sizeof(uint64_t));
		cpu[m] = calloc(o.dumps, sizeof(uint64_t));
		if (!wall[m] || !cpu[m] || !buf)
			die("calloc", ENOMEM);
	}
	setup(&s, &o);
	for (unsigned i = 0; i < o.dumps; i++) {
		traffic(&s, i);
		len = dump_once(&s, wall[M_DUMP], cpu[M_DUMP], i, &lines);
		t = clk_now();
		sink += read_all(&s);
		clk_done(t, wall[M_READ], cpu[M_READ], i);
		t = clk_now();
		sink += format_lines(buf, cap, lines, len / lines);
		clk_done(t, wall[M_FMT], cpu[M_FMT], i);
	}
	printf("bench-metrics: %u sessions, %u clients, %u dumps: %zu bytes, %zu lines per dump "
	       "(sink %" PRIu64 ")\n",
	       o.sessions, o.clients, o.dumps, len, lines, sink & 1);
	printf("%-22s %10s %10s %10s %10s\n", "wall ms per dump", "p50", "p99", "max", "min");
	for (int m = 0; m < _M_MAX; m++)
		report(m_names[m], wall[m], o.dumps);
	printf("%-22s %10s %10s %10s %10s\n", "CPU ms per dump", "p50", "p99", "max", "min");
	for (int m = 0; m < _M_MAX; m++)
		report(m_names[m], cpu[m], o.dumps);
	printf("target (issue 6): under 20 ms for 1,000 sessions: wall p99 %s, CPU p99 %s\n",
	       o.sessions >= 1000 && wall[M_DUMP][(o.dumps * 99) / 100] < 20000000 ? "MET"
										   : "not met",
	       o.sessions >= 1000 && cpu[M_DUMP][(o.dumps * 99) / 100] < 20000000 ? "MET"
										  : "not met");
	return 0;
}
