/* SPDX-License-Identifier: MIT */
/*
 * Shared parts of the scale benchmark (bench-scale, issue 13): per-process samples read from
 * /proc (memory from smaps_rollup, CPU time, wake-ups), the plain libmosquitto baseline process
 * holding N clients, the libmqttmux client processes, and control-socket queries with large
 * replies. Benchmark code: never linked into mqttmux itself.
 */
#ifndef B_SCALE_H
#define B_SCALE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct b_env;

/* Session i subscribes B_TOPIC_FMT with i; the baseline's client i the same filter. */
#define B_FILTER_FMT "scale/%u/#"
#define B_TOPIC_FMT  "scale/%u/m"

#define B_MAX_CLIENTS 64
#define B_LAT_MAX     262144 /* latency samples kept per client */

#define B_PLAIN_RX B_MAX_CLIENTS /* the baseline process's slot in the page */

/* What one receiver reports (in a shared page; written by that receiver only). */
struct b_rx {
	_Atomic uint64_t n;    /* messages received */
	_Atomic uint64_t lost; /* GAP counts added up */
	uint32_t nlat;
	uint32_t w2c[B_LAT_MAX]; /* mqttmux: worker receive stamp (recv_ns) to callback, ns */
	uint32_t p2c[B_LAT_MAX]; /* publisher send stamp (in the payload) to callback, ns */
};

/* Shared by the bench (a memfd, so that the exec'd baseline process maps it too). */
struct b_rxpage {
	_Atomic int record;		/* set by the bench: keep latency samples while it is 1 */
	_Atomic uint64_t plain_subacks; /* SUBACKs the baseline process got, ever */
	struct b_rx rx[B_MAX_CLIENTS + 1];
};

/* One process at one instant. Memory in KiB; cpu_ns on-CPU time; wakes: voluntary switches. */
struct b_sample {
	pid_t pid;
	char comm[16];
	uint64_t rss_kb, pss_kb, dirty_kb; /* Rss, Pss, Private_Dirty of smaps_rollup */
	uint64_t cpu_ns;
	uint64_t wakes; /* voluntary_ctxt_switches: each one is a sleep, so a wake-up */
};

/* A set of processes sampled together (a daemon and its children, or one process). */
struct b_procs {
	struct b_sample *s;
	size_t n, cap;
};

/* Totals of one process kind (by comm) over a window between two samples of a b_procs. */
struct b_kind {
	char comm[16];
	unsigned n;
	uint64_t rss_kb, pss_kb, dirty_kb; /* sums at the later sample */
	uint64_t cpu_ns;		   /* sum over the window */
	double wakes_mean, wakes_max;	   /* per process, per second over the window */
};

/* b_lat.c: the latency run */
struct b_lat_cfg {
	int port;
	unsigned rate, nsessions, nclients;
	double secs;
	pid_t router;
};

struct b_lat_result {
	/* messages published, received by the clients, received by the baseline */
	uint64_t sent, got, plain_got;
	size_t n_mqttmux, n_plain;	 /* latency samples */
	double w2c[3], p2c[3], plain[3]; /* p50, p99, max in us */
	double router_cpu_pct, busy_pct;
};

int b_lat_run(const struct b_lat_cfg *cfg, struct b_rxpage *page, struct b_lat_result *r);
void b_lat_print(const struct b_lat_cfg *cfg, const struct b_lat_result *r);

/* b_storm.c: the restart storm (the broker stops, comes back; everyone reconnects) */
struct b_storm_result {
	double down_s;			   /* the outage */
	double back_s, plain_back_s;	   /* broker back -> every session (client) subscribed */
	unsigned connects, plain_connects; /* CONNECTs the broker logged after it came back */
	unsigned peak, plain_peak;	   /* ... in its busiest second */
};

int b_storm_run(struct b_env *e, unsigned n, bool plain, double down_s, struct b_rxpage *page,
		struct b_storm_result *r);
void b_storm_print(const struct b_storm_result *r, unsigned n, unsigned rate, unsigned burst);

/* b_pstat.c */
double b_machine_busy(void);
int b_sample_read(pid_t pid, struct b_sample *s);
int b_procs_tree(pid_t root, struct b_procs *p);
int b_procs_add(struct b_procs *p, pid_t pid);
int b_procs_refresh(const struct b_procs *before, struct b_procs *after);
size_t b_procs_kinds(const struct b_procs *a, const struct b_procs *b, double secs,
		     struct b_kind *k, size_t max);
void b_procs_free(struct b_procs *p);

/* b_plain.c: the baseline process; *ret_ready is readable once all N are subscribed */
pid_t b_plain_spawn(int port, unsigned n, int page_fd, int *ret_ready);
void b_plain_main(int port, unsigned n, int ready_fd, int page_fd) __attribute__((noreturn));
uint32_t b_lat_since(const void *payload, size_t len, uint64_t now_ns);

/* b_load.c: the publisher of the latency run */
pid_t b_pub_spawn(int port, unsigned nsessions, unsigned rate, double secs);

/* b_cli.c: libmqttmux clients, and control-socket commands with large replies */
#define B_QUERY_S 60 /* a reply to one control-socket query, at most */
pid_t b_client_spawn(const char *run, struct b_rxpage *page, unsigned idx, unsigned nclients,
		     unsigned nsessions, int *ret_ready);
int b_ctl_query(const char *run, const char *cmd, const char *end, size_t *ret_len,
		uint64_t *ret_ns);

/* bench_scale.c: the run's settings and results, and issue 13's targets */
#define T_READY_S    3.0
#define T_PSS_MIB    1024.0
#define T_IDLE_PCT   1.0
#define T_STATUS_MS  50.0
#define T_METRICS_MS 20.0
#define T_GROUP_S    0.3
#define T_GROUP_MIB  128.0

struct bench {
	unsigned n, clients, queries, rate, connect_rate, connect_burst;
	double idle_s, settle_s, load_s, storm_s;
	bool keep, plain;
	const char *cfg_extra; /* top-level config text added as is (e.g. a group key) */
	unsigned group;	       /* for the header and the targets only: sessions per worker */
};

struct results {
	double plain_ready_s, ready_s;
	double plain_startup_cpu_s, startup_cpu_s; /* CPU of all processes, fork to ready */
	double startup_sup_s, startup_router_s;	   /* ... of the supervisor, of the router */
	struct b_procs before, after, plain_before, plain_after;
	double window_s;
	double ping_ms[2], status_ms[2], metrics_ms[2], cli_ms[2]; /* median, max */
	double status_cpu_ms, metrics_cpu_ms; /* the supervisor's CPU per query, mean */
	double cli_cpu_ms,
		cli_daemon_cpu_ms; /* per `mqttmux status --json`: its CPU, the daemon's */
	struct b_lat_cfg lat;
	struct b_lat_result lat_r;
	struct b_storm_result storm;
	size_t status_len, metrics_len;
	double busy_pct; /* whole machine over the idle window */
	char load_before[64], load_after[64];
};

/* b_plain.c */
int b_wait_byte(int fd, uint64_t timeout_ns);
int b_wait_readable(int fd, uint64_t deadline_ns);
struct rusage;
int b_wait_exit(pid_t pid, uint64_t timeout_ns, int *ret_status, struct rusage *ru);
void b_phase(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* b_report.c */
void b_print_results(const struct bench *b, const struct results *r);

#endif /* B_SCALE_H */
