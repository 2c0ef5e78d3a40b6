/* SPDX-License-Identifier: MIT */
/* Putting a child's descriptors where shm/fdmap.h says, between fork and exec. */
#include "fdmap.h"

#include <fcntl.h>
#include <unistd.h>

/*
 * In a forked child, before exec: put <chan> at MM_FD_CHAN and src[0..n-1] at MM_FD_CHAN + 1
 * onwards, all without close-on-exec, and close every other descriptor above stderr. <tmp>
 * holds n + 1 ints of scratch (allocated before the fork: nothing here allocates). Only
 * async-signal-safe calls. Returns 0, or -1 with errno set (the child should _exit then).
 */
int mm_fdmap_place(int chan, const int *src, unsigned n, int *tmp)
{
	int end = MM_FD_CHAN + 1 + (int)n;

	/* A source may already sit on a target number: move everything above them first. */
	tmp[0] = fcntl(chan, F_DUPFD_CLOEXEC, end);
	for (unsigned i = 0; i < n; i++)
		tmp[i + 1] = fcntl(src[i], F_DUPFD_CLOEXEC, end);
	for (unsigned i = 0; i <= n; i++)
		if (tmp[i] < 0 || dup2(tmp[i], MM_FD_CHAN + (int)i) == -1)
			return -1;
	/* Only the documented descriptors (and stdio) cross exec. */
	(void)close_range((unsigned)end, ~0u, 0);
	return 0;
}
