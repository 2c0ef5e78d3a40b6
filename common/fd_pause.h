/* SPDX-License-Identifier: MIT */
/*
 * A listening socket that stops accepting for a while when the process is out of descriptors.
 *
 * accept4() failing with EMFILE or ENFILE leaves the pending connection in the backlog, so a
 * level-triggered poll or epoll reports the listener readable again at once: a loop that just
 * retries spins at 100% CPU. The daemon's control socket, its metrics.http listener and the
 * router's router.sock therefore leave their listener out of the poll set for MM_FD_PAUSE_NS
 * after such a failure (the caller logs it, once per pause), and accept again after it, when
 * connections that ended may have given descriptors back. Header-only (static inline), like
 * mm_time.h, so that every process includes the same code. No logging.
 */
#ifndef MM_FD_PAUSE_H
#define MM_FD_PAUSE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "mm_time.h"

#define MM_FD_PAUSE_NS (1 * MM_NS_PER_SEC)

struct mm_fd_pause {
	uint64_t until_ns; /* CLOCK_MONOTONIC; 0 or past: accepting */
};

/*
 * accept4() failed with errno <err> at <now_ns>. True when that is a descriptor shortage: the
 * listener is then paused for MM_FD_PAUSE_NS (the caller logs once and stops accepting).
 */
static inline bool mm_fd_pause_on(struct mm_fd_pause *p, int err, uint64_t now_ns)
{
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return false;
	p->until_ns = now_ns + MM_FD_PAUSE_NS;
	return true;
}

/* Is the listener paused at <now_ns>? */
static inline bool mm_fd_paused(const struct mm_fd_pause *p, uint64_t now_ns)
{
	return p->until_ns > now_ns;
}

/* <ms> (a poll timeout, -1: none), shortened to the end of the pause. */
static inline int mm_fd_pause_timeout(const struct mm_fd_pause *p, uint64_t now_ns, int ms)
{
	uint64_t left;

	if (!mm_fd_paused(p, now_ns))
		return ms;
	left = (p->until_ns - now_ns + MM_NS_PER_MS - 1) / MM_NS_PER_MS;
	return ms < 0 || (uint64_t)ms > left ? (int)left : ms;
}

#endif /* MM_FD_PAUSE_H */
