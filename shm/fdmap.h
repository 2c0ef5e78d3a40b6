/* SPDX-License-Identifier: MIT */
/*
 * THE descriptor map: which inherited descriptor number carries what, in a worker and in the
 * router. The supervisor (supervisor/sup_child.c, sup_router.c) puts them there before exec;
 * the worker (worker/main.c) and the router (shm/router/rtr_main.c, rtr_loop.c) find them
 * there; the tests and benchmarks that act as a supervisor use the same names. A descriptor
 * change touches this header only. docs/contracts.md lists every cross-process contract.
 *
 * Worker (mqttmux-worker --inherit-fds):
 *
 *   3  control channel (common/chan.h), or closed
 *   4  in-ring memfd            the worker produces      (shm/ring.h)
 *   5  in-ring data doorbell    the worker rings it
 *   6  in-ring space doorbell   the worker waits on it when full
 *   7  cmd-ring memfd           the worker consumes
 *   8  cmd-ring data doorbell   the worker waits on it
 *   9  cmd-ring space doorbell  the worker rings it
 *  10  stats block memfd        the worker writes it     (shm/stats.h)
 *  11  its session, validated   a SESSION handoff blob   (shm/handoff.h); the worker reads
 *      and packed               it once at start and closes it
 *  12  connect pacer memfd      the worker takes slots   (shm/pace.h), or closed
 *
 * A grouped worker (several --session, docs/worker.md "Grouped sessions") gets session i's
 * eight descriptors at MM_FD_WRK_SESS(i, k), i.e. 4..11 for the first, 12..19 for the second,
 * and the connect pacer after the last: MM_FD_WRK_PACE(n). One session is the case n = 1.
 *
 * Router (mqttmux-router --inherit-fds N [--stats-fd FD]): the channel at 3, then for each of
 * the N sessions of its table, in table order, the same six ring descriptors a worker gets at
 * 4..9 and in the same order (the roles swap: the router consumes the in-ring and produces the
 * cmd-ring), then its table (a ROUTER handoff blob, shm/handoff.h) at MM_FD_RTR_TABLE(N) and
 * the router stats block (shm/rstats.h) at MM_FD_RTR_STATS(N). Sessions added later come over
 * the channel with their descriptors (common/chan.h, SESSION_ADD). The supervisor keeps one
 * set of copies per session, indexed by the worker's numbers, and hands it to both.
 */
#ifndef MM_SHM_FDMAP_H
#define MM_SHM_FDMAP_H

#include <spawn.h>

/* Every child of the supervisor, worker or router. */
#define MM_FD_CHAN 3 /* control channel socket (SOCK_SEQPACKET), or closed */

/* A worker's descriptors; also the index of struct mm_sup_child.fds[]. */
enum mm_fd_wrk {
	MM_FD_WRK_IN_RING = 4,	 /* in-ring memfd: the worker produces */
	MM_FD_WRK_IN_DATA = 5,	 /* in-ring data doorbell (eventfd): the worker rings it */
	MM_FD_WRK_IN_SPACE = 6,	 /* in-ring space doorbell: the worker waits on it when full */
	MM_FD_WRK_CMD_RING = 7,	 /* cmd-ring memfd: the worker consumes */
	MM_FD_WRK_CMD_DATA = 8,	 /* cmd-ring data doorbell: the worker waits on it */
	MM_FD_WRK_CMD_SPACE = 9, /* cmd-ring space doorbell: the worker rings it */
	MM_FD_WRK_STATS = 10,	 /* stats block memfd: the worker writes it */
	/* New descriptors the supervisor keeps per session go here, before the end. */
	_MM_FD_WRK_END
};

/* After those, made anew for each spawn: its validated session (a SESSION handoff blob). */
#define MM_FD_WRK_SESSION _MM_FD_WRK_END

/* A worker of <n> sessions: descriptor <k> (enum mm_fd_wrk, or MM_FD_WRK_SESSION) of its
 * session <i>, the pacer. */
#define MM_FD_WRK_N	     (MM_FD_WRK_SESSION + 1 - MM_FD_WRK_IN_RING) /* descriptors per session */
#define MM_FD_WRK_SESS(i, k) ((k) + (i)*MM_FD_WRK_N)
#define MM_FD_WRK_PACE(n)    (MM_FD_WRK_IN_RING + (n)*MM_FD_WRK_N)

/* One session's ring descriptors, as offsets in the router's block of MM_FD_SESS_N. */
enum mm_fd_sess {
	MM_FD_SESS_IN_RING = 0, /* in-ring memfd: the router consumes */
	MM_FD_SESS_IN_DATA,	/* in-ring data doorbell: the router waits on it */
	MM_FD_SESS_IN_SPACE,	/* in-ring space doorbell: the router rings it */
	MM_FD_SESS_CMD_RING,	/* cmd-ring memfd: the router produces */
	MM_FD_SESS_CMD_DATA,	/* cmd-ring data doorbell: the router rings it */
	MM_FD_SESS_CMD_SPACE,	/* cmd-ring space doorbell: the router waits on it when full */
	MM_FD_SESS_N
};

#define MM_FD_RTR_FIRST 4 /* session 0's in-ring memfd */

/* Router: descriptor <k> (enum mm_fd_sess) of session <i>; the table and stats after <n>. */
#define MM_FD_RTR_SESS(i, k) (MM_FD_RTR_FIRST + (i)*MM_FD_SESS_N + (k))
#define MM_FD_RTR_TABLE(n)   (MM_FD_RTR_FIRST + (n)*MM_FD_SESS_N)
#define MM_FD_RTR_STATS(n)   (MM_FD_RTR_TABLE(n) + 1)

/* The worker's six ring descriptors are a session block, so one copy serves both children. */
_Static_assert(MM_FD_WRK_IN_RING == MM_FD_CHAN + 1, "the worker's rings follow the channel");
_Static_assert(MM_FD_RTR_FIRST == MM_FD_CHAN + 1, "the router's rings follow the channel");
_Static_assert(MM_FD_WRK_IN_RING + MM_FD_SESS_IN_DATA == MM_FD_WRK_IN_DATA, "ring order");
_Static_assert(MM_FD_WRK_IN_RING + MM_FD_SESS_IN_SPACE == MM_FD_WRK_IN_SPACE, "ring order");
_Static_assert(MM_FD_WRK_IN_RING + MM_FD_SESS_CMD_RING == MM_FD_WRK_CMD_RING, "ring order");
_Static_assert(MM_FD_WRK_IN_RING + MM_FD_SESS_CMD_DATA == MM_FD_WRK_CMD_DATA, "ring order");
_Static_assert(MM_FD_WRK_IN_RING + MM_FD_SESS_CMD_SPACE == MM_FD_WRK_CMD_SPACE, "ring order");
_Static_assert(MM_FD_WRK_STATS == MM_FD_WRK_IN_RING + MM_FD_SESS_N, "stats after the rings");
_Static_assert(MM_FD_WRK_SESSION == MM_FD_WRK_STATS + 1, "the session after the stats block");

int mm_fdmap_actions(posix_spawn_file_actions_t *fa, const int *all, unsigned n, int *tmp);
int mm_fdmap_place(const int *all, unsigned n, int *tmp);
pid_t mm_fdmap_spawn(char *const *argv, int err_fd, const int *all, unsigned n, int *tmp);

#endif /* MM_SHM_FDMAP_H */
