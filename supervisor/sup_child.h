/* SPDX-License-Identifier: MIT */
/*
 * One supervised worker process and the session resources it is given: the in-ring, the
 * cmd-ring, their doorbells and the stats block. The supervisor creates those once per session
 * (mm_sup_child_init) and keeps them across worker restarts, so counters and unread ring
 * contents survive a crash; each spawn hands them to the new worker at the fixed descriptors
 * of shm/fdmap.h, with a fresh control channel at fd 3 and the session block the supervisor
 * validated, packed in a sealed memfd (shm/handoff.h): the worker reads no config file.
 *
 * The router is supervised through the same record (is_router set, fds[] unused but for
 * fds[MM_FD_WRK_STATS], the router stats block): it gets the six ring descriptors of every
 * session instead (sup_router.c).
 *
 * Process code of mqttmuxd (single-threaded).
 */
#ifndef MM_SUP_CHILD_H
#define MM_SUP_CHILD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cfg.h"
#include "fdmap.h"
#include "metrics.h"
#include "rstats.h"
#include "stats.h"
#include "sup_fsm.h"

/* What the metrics keep per session (sup_metrics.c): mappings, rate state, high-water mark. */
struct mm_sup;

struct mm_sup_mstate {
	struct mm_stats_block *st;   /* stats block, mapped read-only once; or NULL */
	struct mm_rstats_block *rst; /* the router's: its stats block, mapped once; or NULL */
	void *ring_hdr;		     /* the in-ring's header page, mapped read-only; or NULL */
	struct mm_metrics_rate msgs, bytes;
	bool rates; /* msgs and bytes initialised */
	uint64_t hwm;
	uint64_t unrouted; /* messages that matched no route (the router's MM_CHAN_UNROUTED) */
};

/* How mm_sup_child_fork() lays out descriptors: channel at 3, fds[1..n] at 4..4+n-1. */
struct mm_sup_exec {
	char *const *argv; /* argv[0]: absolute path of the binary */
	int *fds; /* n + 1 entries: [0] is filled with the new channel, [1..n] the sources */
	int *tmp; /* n + 1 entries of scratch */
	unsigned n;
};

/* What the process_* metrics keep about a child's current process (sup_proc.c). */
struct mm_sup_pcache {
	pid_t pid;	  /* the process these are of; 0: none (then nothing else is valid) */
	int statm_fd;	  /* /proc/PID/statm, kept open and read again with pread() */
	double start_s;	  /* Unix time it started */
	uint64_t max_fds; /* its RLIMIT_NOFILE */
};

struct mm_sup_child {
	char *name;   /* session name (owned) */
	uint32_t idx; /* session index: the router's and its clients' name for it (sup_router.c) */
	pid_t pid;    /* running process, 0 when none */
	int pidfd;    /* pidfd of pid, or -1 (signals go through it: no pid reuse race) */
	int chan_fd;  /* our end of the control channel, or -1 */
	int fds[_MM_FD_WRK_END]; /* session descriptors by target number; [0..3] unused (-1) */
	int wstatus;		 /* wait status of the last process reaped */
	uint64_t ring_size;	 /* in-ring size the rings were created with */
	uint64_t cmd_size;	 /* cmd-ring size (from max_message_size) they were created with */
	bool remove;		 /* reload: gone from the config; forgotten once down */
	bool respawn;		 /* reload: its block changed; started again once down */
	bool is_router;		 /* the router, not a session's worker */
	uint32_t group;		 /* grouped worker (sup_group.c): its number; 0: its own process */
	uint32_t gidx;		 /* ... the session's index in that process (EVENT's arg) */
	bool lead;		 /* ... this record holds the process: pidfd, channel, timers */
	struct mm_sup_fsm fsm;
	struct mm_sup_mstate m;
	struct mm_sup_pcache pc;
};

int mm_sup_child_reset(struct mm_sup_child *c, const char *name);
int mm_sup_child_init(struct mm_sup_child *c, const struct mm_cfg_session *s);
bool mm_sup_rings_differ(const struct mm_cfg_session *s, uint64_t ring_size, uint64_t cmd_size);
void mm_sup_child_done(struct mm_sup_child *c);
int mm_sup_child_fork(struct mm_sup_child *c, const struct mm_sup_exec *x);
int mm_sup_child_spawn(struct mm_sup *s, struct mm_sup_child *const *v, uint32_t n);
int mm_sup_child_signal(struct mm_sup_child *c, int sig);
int mm_sup_child_stop(struct mm_sup_child *c);
void mm_sup_child_reaped(struct mm_sup_child *c, int wstatus);
const char *mm_sup_child_what(const struct mm_sup_child *c);
const char *mm_sup_child_who(const struct mm_sup_child *c);

/* A session of a group whose process another record holds (sup_group.c). */
static inline bool mm_sup_child_member(const struct mm_sup_child *c)
{
	return c->group && !c->lead;
}

/* sup_bin.c: the helper binaries, found (or not) with a logged reason */
int mm_sup_bin_usable(const char *path);
int mm_sup_bin_find(const char *env, const char *name, char *buf, size_t size);
int mm_sup_worker_path(char *buf, size_t size);
int mm_sup_router_path(char *buf, size_t size);
int mm_sup_bins_check(void);

/* sup_metrics.c */
void mm_sup_mstate_done(struct mm_sup_mstate *m);

#endif /* MM_SUP_CHILD_H */
