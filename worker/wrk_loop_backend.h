/* SPDX-License-Identifier: MIT */
/*
 * Private to worker/wrk_loop*.c: what a backend (io_uring or epoll) provides to the front end
 * in wrk_loop.c. The front end owns the public API, the choice of backend and the timers; a
 * backend only knows fds and readiness. Not for use outside the loop.
 */
#ifndef MM_WRK_LOOP_BACKEND_H
#define MM_WRK_LOOP_BACKEND_H

#include <stdint.h>

#include "wrk_loop.h"

/* The readiness bits a watch may ask for. */
#define MM_WRK_EV_WATCHABLE (MM_WRK_EV_IN | MM_WRK_EV_OUT)

/*
 * Every operation gets the backend state returned by its _new function. Arguments are already
 * validated by the front end (fd >= 0, events within MM_WRK_EV_WATCHABLE, max > 0).
 */
struct mm_wrk_backend_ops {
	/* Same contracts as mm_wrk_loop_watch(), _modify() and _unwatch(). */
	int (*watch)(void *b, int fd, uint32_t events, uint64_t token);
	int (*modify)(void *b, uint64_t token, uint32_t events);
	int (*unwatch)(void *b, uint64_t token);
	/*
	 * Wait up to <timeout_ns> (-1: no limit, 0: do not block) for readiness and store at most
	 * <max> events. Returns the count, 0 (timeout, or woken without anything to report: the
	 * front end waits again), -EINTR (the front end waits again) or another -errno.
	 */
	int (*poll)(void *b, struct mm_wrk_event *evs, int max, int64_t timeout_ns);
	/*
	 * Optional: write 1 to eventfd <efd> with the next wait's entry into the kernel, not in
	 * a system call of its own (io_uring). Returns 0, or -errno: the front end writes then.
	 */
	int (*bell)(void *b, int efd);
	/* Release everything, sending what is queued first; NULL is a no-op. */
	void (*free)(void *b);
};

extern const struct mm_wrk_backend_ops mm_wrk_uring_ops;
extern const struct mm_wrk_backend_ops mm_wrk_epoll_ops;

/*
 * Set up an io_uring backend in *ret. On failure returns -errno and points *ret_why at a static
 * sentence for a log line: -EPERM, -ENOSYS or -EOPNOTSUPP (a kernel feature is missing) are the
 * errors the front end falls back from.
 */
int mm_wrk_uring_new(void **ret, const char **ret_why);

/* Set up an epoll backend in *ret. Returns 0 or -errno. */
int mm_wrk_epoll_new(void **ret);

#endif /* MM_WRK_LOOP_BACKEND_H */
