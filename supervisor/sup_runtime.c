/* SPDX-License-Identifier: MIT */
/*
 * The supervisor's process environment: the runtime directory, the single-instance lock in
 * it, and the signals it reads from a signalfd. No logging here: callers report failures.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sup.h"

/*
 * mkdir -p <path> (absolute), creating missing components with <mode>; existing directories
 * keep their mode. Returns 0, -ENAMETOOLONG, -ENOTDIR or the -errno of mkdir.
 */
int mm_sup_mkdir_p(const char *path, unsigned mode)
{
	char buf[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(buf, (mode_t)mode) == -1 && errno != EEXIST)
			return -errno;
		*p = saved;
		if (!saved)
			break;
	}
	if (stat(buf, &st) == -1)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/*
 * state_dir and its quarantine/, where workers keep poison messages (worker/wrk_guard.c),
 * both 0700: a message from a broker may be anybody's secret.
 */
int mm_sup_state_dirs(const char *state_dir)
{
	char q[PATH_MAX];
	int r = mm_sup_mkdir_p(state_dir, 0700);

	if (r < 0)
		return r;
	if ((size_t)snprintf(q, sizeof(q), "%s/quarantine", state_dir) >= sizeof(q))
		return -ENAMETOOLONG;
	return mm_sup_mkdir_p(q, 0700);
}

/*
 * Take the exclusive lock <runtime_dir>/mqttmuxd.lock (flock, released by the kernel when we
 * die however we die) and write our pid into it. The descriptor is close-on-exec, so children
 * never hold it. Returns 0 and the descriptor in *ret_fd, -EWOULDBLOCK if another instance
 * holds it, or another -errno.
 */
int mm_sup_lock(const char *runtime_dir, int *ret_fd)
{
	char path[PATH_MAX];
	int fd, r;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", runtime_dir, MM_SUP_LOCK_NAME) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd == -1)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		r = -errno;
		close(fd);
		return r == -EAGAIN ? -EWOULDBLOCK : r;
	}
	if (ftruncate(fd, 0) == -1 || dprintf(fd, "%ld\n", (long)getpid()) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/*
 * Block SIGCHLD, SIGTERM, SIGINT, SIGHUP and SIGUSR1 and return a signalfd for them
 * (non-blocking, close-on-exec); SIGPIPE is ignored. Returns the descriptor or -errno.
 * Children get a clean mask and default handlers again before exec (sup_child.c).
 */
int mm_sup_signals_open(void)
{
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	sigset_t set;
	int fd;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -errno;
	(void)signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd == -1 ? -errno : fd;
}
