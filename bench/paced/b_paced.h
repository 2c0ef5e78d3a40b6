/* SPDX-License-Identifier: MIT */
/*
 * bench-paced (issue 14): what a message costs at everyday rates (100, 1,000, 10,000 msg/s of
 * 64 B QoS 0, steadily paced) through a real mosquitto, per process and per hop: CPU, wake-ups
 * (context switches), syscalls and latency, for mqttmux (worker + router + one libmqttmux
 * client) against a plain libmosquitto subscriber and mosquitto_sub on the same stream, in one
 * run. Reuses bench/e2e's broker, daemon, publisher and receivers. Benchmark code only.
 */
#ifndef B_PACED_H
#define B_PACED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "b_e2e.h"
#include "b_worker.h"

/*
 * Sequence numbers from here up mark probes and warm-up messages, which are not measured. The
 * warm-up (unpaced, before the measured stream) takes every ring of a fresh mqttmuxd once
 * around, so that the measured stream sees rings in service, not their first-lap page faults.
 */
#define B_SEQ_UNMEASURED (1ull << 61)
#define B_WARMUP_MSGS	 40000

/* What is measured, one at a time on the same broker. */
enum b_subj {
	B_SUBJ_PLAIN = 0, /* libmosquitto C subscriber on mosquitto_loop (bench/e2e b_rx.c) */
	B_SUBJ_MSUB,	  /* /usr/bin/mosquitto_sub -F '%U %p' into a file */
	B_SUBJ_MQTTMUX,	  /* mqttmuxd (worker, router) and one libmqttmux client */
	_B_SUBJ_MAX
};

/* The processes of a run; B_P_SUB is the subscriber (plain, mosquitto_sub or the client). */
enum b_proc {
	B_P_SUB = 0,
	B_P_WORKER,
	B_P_ROUTER,
	B_P_BROKER, /* mosquitto: the same work for every subject, shown for reference */
	_B_P_MAX
};

/* One process's counters at one instant. */
struct b_meter {
	uint64_t cpu_ns;       /* the process CPU-time clock (all threads) */
	uint64_t vol;	       /* voluntary_ctxt_switches, summed over its threads */
	uint64_t invol;	       /* nonvoluntary_ctxt_switches, the same */
	uint64_t faults;       /* minor + major page faults */
	struct b_sc_counts sc; /* syscalls, when counters are attached */
};

/* What one run measured. Latencies in ns, one per message received (bounded). */
struct b_run {
	enum b_subj subj;
	uint32_t rate;
	uint64_t sent, got; /* messages published, received */
	double load1;	    /* /proc/loadavg at the start */
	bool counted;	    /* syscall counters were attached (the syscall pass) */
	pid_t pid[_B_P_MAX];
	struct b_meter d[_B_P_MAX]; /* end minus start */
	uint32_t *p2c, *w2c;	    /* publisher -> handler; worker -> handler (mqttmux) */
	size_t nlat;
};

/* b_meter.c */
int b_meter_read(pid_t pid, const struct b_sysc *sc, struct b_meter *ret);
void b_meter_sub(struct b_meter *a, const struct b_meter *b);
double b_load1(void);

/* b_msub.c: mosquitto_sub as a subject. */
struct b_msub {
	pid_t pid;
	char *out;   /* its stdout, a file in the stack's temp dir */
	uint64_t n0; /* lines there before the measured stream (the probes) */
};
int b_msub_start(struct b_msub *m, const struct b_stack *s);
uint64_t b_msub_count(const struct b_msub *m);
void b_msub_rebase(struct b_msub *m);
int b_msub_latency(const struct b_msub *m, uint32_t *p2c, size_t max, size_t *ret_n);
void b_msub_stop(struct b_msub *m);

/* b_run.c */
int b_run_one(struct b_stack *s, enum b_subj subj, uint32_t rate, uint32_t secs, bool count_sc,
	      uint32_t warmup, struct b_run *r);
void b_run_free(struct b_run *r);

/* b_report.c */
struct b_opts {
	uint32_t rates[8];
	unsigned nrates;
	uint32_t msgs_min;  /* at least this many messages per run */
	double secs[8];	    /* seconds per run, per rate */
	unsigned rounds;    /* interleaved; medians reported */
	bool sc_pass;	    /* an extra pass per subject and rate with syscall counters */
	uint32_t warmup;    /* unpaced messages before each measured stream */
	uint32_t budget_us; /* the session's performance.latency_budget_us (0: off) */
	bool subj[_B_SUBJ_MAX];
};
void b_report_rate(const struct b_opts *o, uint32_t rate, struct b_run (*runs)[_B_SUBJ_MAX],
		   const struct b_run *counted);
const char *b_subj_name(enum b_subj s);

#endif /* B_PACED_H */
