/* SPDX-License-Identifier: MIT */
/*
 * Starting a child with its descriptors where shm/fdmap.h says: posix_spawn() file actions, so
 * that the supervisor, and the tests and benchmarks that act as one, place them with one code.
 */
#include "fdmap.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
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

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define FAST_SPAWN 1
#define FAST_MAX   16 /* descriptors the fast path places; more go through posix_spawn */

/* What the fast child needs; it shares our memory until exec. */
struct fast {
	char *const *argv;
	const int *src; /* what goes to MM_FD_CHAN + i */
	unsigned n;
	int err; /* written by the child when it cannot exec */
};

/*
 * The child of fast_spawn(): it shares our memory and, until close_range(UNSHARE), our
 * descriptor table, while we wait (CLONE_VFORK). It puts its descriptors at MM_FD_CHAN
 * onwards in that shared table (we saved what was there), then unshares it keeping only
 * those: the kernel copies 3 + n entries instead of every descriptor we hold. No allocation,
 * nothing but system calls.
 */
static int fast_child(void *arg)
{
	struct fast *x = arg;
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	for (unsigned i = 0; i < x->n; i++)
		if (dup2(x->src[i], MM_FD_CHAN + (int)i) == -1)
			goto fail;
	if (close_range(MM_FD_CHAN + x->n, ~0u, CLOSE_RANGE_UNSHARE) == -1)
		goto fail;
	for (int sig = 1; sig < NSIG; sig++) /* our handlers table is a copy: ours are safe */
		(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	execve(x->argv[0], x->argv, environ);
fail:
	x->err = errno;
	_exit(127);
}

/*
 * Start argv[0] with all[0..n-1] at MM_FD_CHAN onwards, the cost independent of how many
 * descriptors we hold (a supervisor of 1,000 sessions holds 9,000): clone with our memory and
 * our descriptor table shared (the child unshares only what it keeps). While the child runs
 * we are stopped (CLONE_VFORK); the descriptors it overwrote in the shared table are ours
 * again (saved and put back) before we return. Single-threaded callers only. Returns the pid
 * or -errno (exec failures included; that child is reaped).
 */
static pid_t fast_spawn(char *const *argv, const int *all, unsigned n)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	int saved[FAST_MAX], flags[FAST_MAX], src[FAST_MAX];
	int end = MM_FD_CHAN + (int)n;
	struct fast x = { .argv = argv, .src = src, .n = n };
	pid_t pid;

	for (unsigned i = 0; i < n; i++) {
		flags[i] = fcntl(MM_FD_CHAN + (int)i, F_GETFD);
		saved[i] = flags[i] == -1 ? -1 : fcntl(MM_FD_CHAN + (int)i, F_DUPFD_CLOEXEC, end);
		if (flags[i] != -1 && saved[i] == -1)
			return -errno; /* (saved[0..i-1] leak only if we run out of descriptors) */
	}
	for (unsigned i = 0; i < n; i++) /* a source on a target number: its saved copy */
		src[i] = all[i] >= MM_FD_CHAN && all[i] < end ? saved[all[i] - MM_FD_CHAN] : all[i];
	pid = clone(fast_child, stack + sizeof(stack),
		    CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &x);
	if (pid == -1)
		x.err = errno;
	for (unsigned i = 0; i < n; i++) {
		if (saved[i] == -1) {
			(void)close(MM_FD_CHAN + (int)i);
			continue;
		}
		(void)dup3(saved[i], MM_FD_CHAN + (int)i, flags[i] & FD_CLOEXEC ? O_CLOEXEC : 0);
		(void)close(saved[i]);
	}
	if (pid != -1 && x.err)
		(void)waitpid(pid, NULL, 0);
	return x.err ? -x.err : pid;
}
#endif

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

#ifdef FAST_SPAWN
	if (err_fd < 0 && n <= FAST_MAX)
		return fast_spawn(argv, all, n);
#endif
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
