/* SPDX-License-Identifier: MIT */
/*
 * Shared parts of the ring benchmark (bench-ring): the configuration, the result records, the
 * message format every transport carries, clocks and pacing, CPU pinning, and a forked peer
 * process that starts on a signal. Benchmark code: never linked into mqttmux itself.
 */
#ifndef B_UTIL_H
#define B_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mm_time.h"

/* Largest message any transport carries, and the smallest (head plus tail must fit). */
#define B_MSG_MAX 1024u
#define B_MSG_MIN 32u

/* Record type the benchmark uses on the ring (the ring itself only knows MM_REC_PAD = 0). */
#define B_REC_TYPE 1u

struct b_cfg {
	uint64_t cap;	  /* ring capacity in bytes (power of two) */
	unsigned batch;	  /* ring records per commit and per release */
	uint64_t n_ring;  /* 64 B messages through the ring; 1 KiB: a quarter of it */
	uint64_t n_sys;	  /* 64 B messages through pipe and socket; 1 KiB: half of it */
	unsigned samples; /* latency samples kept per transport and size */
	unsigned rounds;  /* every test runs in this many interleaved rounds */
	unsigned warmup;  /* latency: messages sent first in each round and dropped */
	uint64_t pace_ns; /* latency: one message every pace_ns */
	bool spin;	  /* latency: the producer busy-waits between messages */
	bool pin;	  /* producer on CPU 0, consumer on CPU 1 */
	bool tput, lat;	  /* which halves to run */
};

/* Throughput of one transport: measured by the consumer, from the start signal to the last. */
struct b_tput {
	uint64_t n;	      /* messages received and checked */
	double secs;	      /* consumer wall time */
	uint64_t cons_waits;  /* ring: consumer calls to wait_data */
	uint64_t prod_waits;  /* ring: producer calls to wait_space */
	uint64_t data_bells;  /* ring: data doorbells rung by commit */
	uint64_t space_bells; /* ring: space doorbells rung by release */
};

/*
 * One-way latency with a sleeping consumer, overall and split by where the consumer woke up:
 * on the CPU the producer sent from (the scheduler pulled it over), or on another one.
 */
struct b_lat {
	double p50_us, p99_us, max_us;
	double p50_same_us, p50_cross_us; /* 0 when no sample woke that way */
	uint64_t n;			  /* samples kept */
	uint64_t same;			  /* samples that woke on the producer's CPU */
	uint64_t hot; /* ring: samples the consumer found without calling wait_data first */
};

/* When and where a latency message was sent; carried in the message after the sequence. */
struct b_stamp {
	uint64_t ns;  /* CLOCK_MONOTONIC */
	uint32_t cpu; /* CPU the producer ran on */
};

/* Statistics a forked producer leaves for the parent (in a MAP_SHARED page). */
struct b_peer_stats {
	uint64_t waits;
	uint64_t bells;
};

/* A forked peer process, started by b_go. */
struct b_child {
	pid_t pid;
	int go_fd;
};

typedef int b_child_fn(void *arg);

void b_pace(uint64_t *next_ns, uint64_t period_ns, bool spin);
int b_pin(int cpu);
void *b_shared_new(size_t size);
void b_shared_free(void *p, size_t size);

int b_efd_signal(int efd);
int b_efd_wait(int efd);

int b_spawn(struct b_child *c, bool pin, b_child_fn *fn, void *arg);
int b_go(struct b_child *c);
int b_reap(struct b_child *c, bool kill_it);

struct b_stamp b_stamp_now(void);
void b_msg_fill(void *p, uint32_t len, uint64_t seq, const struct b_stamp *st);
int b_msg_check(const void *p, uint32_t len, uint64_t seq, struct b_stamp *ret_st);

uint64_t b_sample(const struct b_stamp *st, uint64_t now_ns);
int b_lat_from(uint64_t *samples, uint64_t n, struct b_lat *ret);

int b_ring_tput(const struct b_cfg *cfg, uint32_t len, uint64_t n, struct b_tput *ret);
int b_ring_lat(const struct b_cfg *cfg, uint32_t len, uint64_t *s, uint64_t n, uint64_t *hot);

enum b_sys_kind { B_SYS_PIPE = 0, B_SYS_SEQPACKET, _B_SYS_KIND_MAX };

int b_sys_tput(const struct b_cfg *cfg, enum b_sys_kind kind, uint32_t len, uint64_t n,
	       struct b_tput *ret);
int b_sys_lat(const struct b_cfg *cfg, enum b_sys_kind kind, uint32_t len, uint64_t *s, uint64_t n);
int b_efd_lat(const struct b_cfg *cfg, uint64_t *s, uint64_t n);

#endif /* B_UTIL_H */
