/* SPDX-License-Identifier: MIT */
/*
 * Shared parts of the worker benchmark (bench-worker): the run configuration, the firehose (a
 * minimal MQTT 3.1.1 server streaming pre-encoded PUBLISH packets to one client), the two
 * subjects it feeds (the real mqttmux-worker with a consumer draining its in-ring, and a plain
 * libmosquitto subscriber on mosquitto_loop), per-process syscall counters, and small process
 * helpers. Benchmark code: never linked into mqttmux itself.
 */
#ifndef B_WORKER_H
#define B_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "mm_time.h"

/* The topic every PUBLISH carries; subjects subscribe to "#". */
#define B_TOPIC "bench/firehose"

/* Seconds any single subject run may take before it is killed. */
#define B_RUN_TIMEOUT_S 120

struct b_cfg {
	uint64_t count;	    /* messages per subject run; 0 in time mode */
	uint64_t secs;	    /* time mode: seconds per subject run; 0 in count mode */
	uint32_t payload;   /* payload bytes per message */
	int qos;	    /* 0 or 1 */
	uint32_t window;    /* QoS 1: PUBLISHes in flight at most */
	uint64_t ring;	    /* worker in-ring capacity, power of two */
	unsigned batch;	    /* consumer: records per release */
	unsigned rounds;    /* each subject runs this many times, interleaved */
	bool uring, epoll;  /* worker backends to run */
	bool plain;	    /* run the plain libmosquitto subscriber */
	bool pin;	    /* subject on CPU 1, everything else on CPU 0 */
	bool syscalls;	    /* count syscalls in this run (costs the subjects some CPU) */
	const char *tmpdir; /* config and worker log go here */
};

/* Syscall tracepoints counted one by one; anything else only shows in the total. */
enum b_sc {
	B_SC_READ = 0,
	B_SC_WRITE,
	B_SC_RECVFROM,
	B_SC_SENDTO,
	B_SC_POLL,
	B_SC_PPOLL,
	B_SC_SELECT,
	B_SC_PSELECT6,
	B_SC_EPOLL_WAIT,
	B_SC_EPOLL_PWAIT,
	B_SC_EPOLL_CTL,
	B_SC_IO_URING_ENTER,
	B_SC_FUTEX,
	B_SC_CLOCK_GETTIME,
	B_SC_RECVMSG,
	B_SC_SENDMSG,
	_B_SC_MAX
};

/* Counters of one process (and its descendants): raw_syscalls:sys_enter and each enum b_sc. */
struct b_sysc {
	int fd_total;
	int fd[_B_SC_MAX];
};

struct b_sc_counts {
	uint64_t total;
	uint64_t n[_B_SC_MAX];
	bool valid; /* false: the counters could not be opened (no permission, no tracefs) */
};

/* What one subject run measured. */
struct b_result {
	uint64_t msgs;		    /* messages the subject received (and, for (a), the ring got) */
	double secs;		    /* first to last message, on the receiving side */
	struct rusage subj_ru;	    /* the subject process over its whole life (wait4) */
	struct b_sc_counts subj_sc; /* the same, syscalls */
	uint64_t cons_msgs;	    /* (a): records the consumer counted */
	double cons_cpu_us;	    /* (a): consumer CPU over its loop */
	struct b_sc_counts cons_sc; /* (a): consumer syscalls over its loop */
	uint64_t ring_full_waits;   /* (a): times the worker paused reading */
	unsigned backend;	    /* (a): enum mm_wrk_backend the worker ran */
	struct rusage src_ru;	    /* the firehose process */
	uint64_t src_writes;	    /* write calls the firehose made */
};

/* The firehose: a listening socket and the process that serves it. */
struct b_fh {
	int lfd;
	uint16_t port;
	pid_t pid;
	struct b_fh_shared *sh; /* MAP_SHARED page the firehose reports into */
};

struct b_fh_shared {
	uint64_t sent;	 /* PUBLISH packets written in full */
	uint64_t acked;	 /* PUBACKs received */
	uint64_t writes; /* write() calls */
	int error;	 /* 0, or -errno / -EPROTO of what ended the stream early */
};

/* Something to do while waiting for a child to exit. */
struct b_idle {
	void (*fn)(void *arg);
	void *arg;
};

/* b_firehose.c */
int b_fh_open(struct b_fh *fh);
int b_fh_spawn(struct b_fh *fh, const struct b_cfg *cfg);
int b_fh_reap(struct b_fh *fh, int timeout_ms, struct rusage *ret_ru);
void b_fh_close(struct b_fh *fh);

/* b_subject.c */
const char *b_worker_binary(void);
int b_run_worker(const struct b_cfg *cfg, unsigned backend, struct b_result *ret);
int b_run_plain(const struct b_cfg *cfg, struct b_result *ret);

/* b_sys.c */
double b_ru_us(const struct rusage *ru);
int b_pin(int cpu);
void *b_shared_new(size_t size);
void b_shared_free(void *p, size_t size);
pid_t b_fork_held(int *ret_go);
void b_release(int *go);
int b_reap(pid_t pid, int timeout_ms, const struct b_idle *idle, int *ret_status,
	   struct rusage *ret_ru);
void b_sysc_init(struct b_sysc *s);
int b_sysc_open(struct b_sysc *s, pid_t pid);
void b_sysc_read(const struct b_sysc *s, struct b_sc_counts *ret);
void b_sysc_close(struct b_sysc *s);
void b_sc_sub(struct b_sc_counts *a, const struct b_sc_counts *b);
const char *b_sc_name(enum b_sc sc);

#endif /* B_WORKER_H */
