/* SPDX-License-Identifier: MIT */
/*
 * Starting a child with its descriptors where shm/fdmap.h says: posix_spawn() file actions, so
 * that the supervisor, and the tests and benchmarks that act as one, place them with one code.
 */
#include "fdmap.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

/* The lowest descriptor number >= <from> that is free here. */
static int free_fd(int from)
{
	while (fcntl(from, F_GETFD) != -1)
		from++;
	return from;
}

/*
 * Where each of all[0..n-1] goes on its way to MM_FD_CHAN + i: tmp[i] is all[i], or, for a
 * source that sits on a target number, a number free here (and so in a child forked or spawned
 * now, in this thread) to move it to first. Returns the first number above the targets.
 */
static int plan(const int *all, unsigned n, int *tmp)
{
	int end = MM_FD_CHAN + (int)n, next = end;

	for (unsigned i = 0; i < n; i++) {
		tmp[i] = all[i];
		if (all[i] < MM_FD_CHAN || all[i] >= end)
			continue;
		tmp[i] = free_fd(next);
		next = tmp[i] + 1;
	}
	return end;
}

/*
 * Add to <fa> (initialised by the caller, who may add its own actions first, e.g. for stderr)
 * the actions that put all[0] (the channel) at MM_FD_CHAN and all[1..n-1] at MM_FD_CHAN + 1
 * onwards in the child of posix_spawn(), without close-on-exec, and close every other
 * descriptor above stderr. Call it just before posix_spawn(), in the same thread. <tmp> holds
 * n ints of scratch for as long as <fa> is used. Returns 0 or -errno.
 */
int mm_fdmap_actions(posix_spawn_file_actions_t *fa, const int *all, unsigned n, int *tmp)
{
	int end = plan(all, n, tmp), r = 0;

	for (unsigned i = 0; i < n; i++)
		if (tmp[i] != all[i])
			r = r ? r : posix_spawn_file_actions_adddup2(fa, all[i], tmp[i]);
	for (unsigned i = 0; i < n; i++)
		r = r ? r : posix_spawn_file_actions_adddup2(fa, tmp[i], MM_FD_CHAN + (int)i);
	/* Only the documented descriptors (and stdio) cross exec. */
	r = r ? r : posix_spawn_file_actions_addclosefrom_np(fa, end);
	return -r;
}

/*
 * The same in a forked child, before exec (a benchmark that must hold its child before exec):
 * only async-signal-safe calls. Returns 0 or -1 with errno set (the child should _exit).
 */
int mm_fdmap_place(const int *all, unsigned n, int *tmp)
{
	int end = plan(all, n, tmp);

	for (unsigned i = 0; i < n; i++)
		if (tmp[i] != all[i] && dup2(all[i], tmp[i]) == -1)
			return -1;
	for (unsigned i = 0; i < n; i++)
		if (dup2(tmp[i], MM_FD_CHAN + (int)i) == -1)
			return -1;
	(void)close_range((unsigned)end, ~0u, 0);
	return 0;
}

/*
 * posix_spawn() of argv[0] (an absolute path) with all[0] at MM_FD_CHAN and all[1..n-1] after
 * it (mm_fdmap_actions), <err_fd> as stderr unless it is -1, every other descriptor closed,
 * the signal mask empty and every signal at its default. The child's memory is not a copy of
 * ours: nothing runs in it before exec. <tmp> holds n ints of scratch. Returns the pid or
 * -errno (a binary that cannot be executed is reported here, not as an exit status).
 */
pid_t mm_fdmap_spawn(char *const *argv, int err_fd, const int *all, unsigned n, int *tmp)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, every;
	pid_t pid = -1;
	int r;

	sigemptyset(&none);
	sigfillset(&every);
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	r = posix_spawnattr_init(&at);
	if (r == 0) {
		r = err_fd >= 0 ? posix_spawn_file_actions_adddup2(&fa, err_fd, 2) : 0;
		r = r ? r : -mm_fdmap_actions(&fa, all, n, tmp);
		r = r ? r : posix_spawnattr_setsigmask(&at, &none);
		r = r ? r : posix_spawnattr_setsigdefault(&at, &every);
		r = r ? r
		      : posix_spawnattr_setflags(&at,
						 POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
		r = r ? r : posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
		posix_spawnattr_destroy(&at);
	}
	posix_spawn_file_actions_destroy(&fa);
	return r ? -r : pid;
}
