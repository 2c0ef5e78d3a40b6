/* SPDX-License-Identifier: MIT */
/*
 * System helpers for bench-worker: clocks, CPU pinning, shared pages, bounded reaping with
 * the child's rusage, and syscall counters. The counters are perf events on the kernel's
 * syscall tracepoints (raw_syscalls:sys_enter for the total, syscalls:sys_enter_<name> for
 * the breakdown), attached to a process and inherited by its threads and children: the same
 * mechanism as "perf stat -e raw_syscalls:sys_enter -p PID", without strace's slowdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "b_worker.h"

static const char *const sc_names[_B_SC_MAX] = {
	[B_SC_READ] = "read",
	[B_SC_WRITE] = "write",
	[B_SC_RECVFROM] = "recvfrom",
	[B_SC_SENDTO] = "sendto",
	[B_SC_POLL] = "poll",
	[B_SC_PPOLL] = "ppoll",
	[B_SC_SELECT] = "select",
	[B_SC_PSELECT6] = "pselect6",
	[B_SC_EPOLL_WAIT] = "epoll_wait",
	[B_SC_EPOLL_PWAIT] = "epoll_pwait",
	[B_SC_EPOLL_CTL] = "epoll_ctl",
	[B_SC_IO_URING_ENTER] = "io_uring_enter",
	[B_SC_FUTEX] = "futex",
	[B_SC_CLOCK_GETTIME] = "clock_gettime",
	[B_SC_RECVMSG] = "recvmsg",
	[B_SC_SENDMSG] = "sendmsg",
};

const char *b_sc_name(enum b_sc sc)
{
	return sc < _B_SC_MAX ? sc_names[sc] : "?";
}

/* User plus system CPU of <ru>, in microseconds. */
double b_ru_us(const struct rusage *ru)
{
	return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1e6 +
	       (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec);
}

/* Pin the calling process to <cpu>. Returns 0 or -errno. */
int b_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == -1 ? -errno : 0;
}

/* A zeroed MAP_SHARED anonymous mapping that forked children share with us, or NULL. */
void *b_shared_new(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void b_shared_free(void *p, size_t size)
{
	if (p)
		(void)munmap(p, size);
}

/*
 * fork(), with the child held until the parent calls b_release: the parent attaches counters
 * to it first. Returns the child's pid in the parent (*ret_go is then the release
 * descriptor), 0 in the child once released, or -errno.
 */
pid_t b_fork_held(int *ret_go)
{
	int p[2], rc;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -errno;
	pid = fork();
	if (pid == -1) {
		rc = -errno;
		close(p[0]);
		close(p[1]);
		return rc;
	}
	if (pid == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) == -1 && errno == EINTR)
			;
		close(p[0]);
		return 0;
	}
	close(p[0]);
	*ret_go = p[1];
	return pid;
}

/* Let a child of b_fork_held go on (EOF on its pipe). Accepts -1; leaves -1. */
void b_release(int *go)
{
	if (*go >= 0)
		close(*go);
	*go = -1;
}

/* Sleep until child <pid> may have exited, at most <ms>: on its pidfd, else 1 ms at a time. */
static void wait_exit(int pidfd, int ms)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	if (pidfd < 0 || poll(&p, 1, ms) == -1)
		usleep(1000);
}

/*
 * Wait for child <pid> at most <timeout_ms>, then SIGKILL it and wait for good; <idle> (may be
 * NULL) runs about every millisecond meanwhile. Fills *ret_status and *ret_ru (either may be
 * NULL). Returns 0 if it exited by itself in time, -ETIMEDOUT if it had to be killed, or -errno
 * from wait4.
 */
int b_reap(pid_t pid, int timeout_ms, const struct b_idle *idle, int *ret_status,
	   struct rusage *ret_ru)
{
	uint64_t deadline = mm_time_mono_ns() + (uint64_t)timeout_ms * 1000000ull, now;
	int status = 0, rc = 0, pidfd;
	struct rusage ru;
	pid_t r;

	if (pid <= 0)
		return -EINVAL; /* never kill(-1) or our own process group */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	while ((r = wait4(pid, &status, WNOHANG, &ru)) != pid) {
		if (r == -1 && errno != EINTR) {
			rc = -errno;
			break;
		}
		now = mm_time_mono_ns();
		if (rc == 0 && now > deadline) {
			(void)kill(pid, SIGKILL);
			rc = -ETIMEDOUT;
		}
		if (idle)
			idle->fn(idle->arg);
		wait_exit(pidfd, idle ? 1 : rc ? 100 : (int)((deadline - now) / 1000000 + 1));
	}
	if (pidfd >= 0)
		close(pidfd);
	if (r == pid && ret_status)
		*ret_status = status;
	if (r == pid && ret_ru)
		*ret_ru = ru;
	return rc;
}

/* The tracefs id of tracepoint <sys>/<name>, or -errno. */
static long tracepoint_id(const char *sys, const char *name)
{
	static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char path[256];
	long id = -ENOENT;

	for (size_t i = 0; i < 2 && id < 0; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/events/%s/%s/id", roots[i], sys, name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fscanf(f, "%ld", &id) != 1)
			id = -EINVAL;
		fclose(f);
	}
	return id;
}

/* A counting perf event on tracepoint <sys>/<name> for <pid> (0: us) and its children. */
static int tp_open(const char *sys, const char *name, pid_t pid)
{
	struct perf_event_attr a;
	long id = tracepoint_id(sys, name), fd;

	if (id < 0)
		return (int)id;
	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_TRACEPOINT;
	a.size = sizeof(a);
	a.config = (uint64_t)id;
	a.inherit = 1;
	fd = syscall(SYS_perf_event_open, &a, pid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	return fd == -1 ? -errno : (int)fd;
}

/*
 * Start counting the syscalls of <pid> (0: the calling process) and of the threads and
 * processes it creates from now on. A tracepoint this kernel lacks is skipped (fd -1). Returns
 * 0, or -errno when not even the total can be counted (s is then closed).
 */
int b_sysc_open(struct b_sysc *s, pid_t pid)
{
	char name[64];

	b_sysc_init(s);
	s->fd_total = tp_open("raw_syscalls", "sys_enter", pid);
	for (int i = 0; i < _B_SC_MAX; i++) {
		snprintf(name, sizeof(name), "sys_enter_%s", sc_names[i]);
		s->fd[i] = s->fd_total < 0 ? -1 : tp_open("syscalls", name, pid);
	}
	return s->fd_total < 0 ? s->fd_total : 0;
}

/* Counters that count nothing (read as not valid); b_sysc_close accepts them. */
void b_sysc_init(struct b_sysc *s)
{
	s->fd_total = -1;
	for (int i = 0; i < _B_SC_MAX; i++)
		s->fd[i] = -1;
}

static uint64_t read_count(int fd)
{
	uint64_t v = 0;

	if (fd < 0 || read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return 0;
	return v;
}

/* Current counts; also valid after the process exited (its final counts). */
void b_sysc_read(const struct b_sysc *s, struct b_sc_counts *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->valid = s->fd_total >= 0;
	ret->total = read_count(s->fd_total);
	for (int i = 0; i < _B_SC_MAX; i++)
		ret->n[i] = read_count(s->fd[i]);
}

void b_sysc_close(struct b_sysc *s)
{
	if (s->fd_total >= 0)
		close(s->fd_total);
	s->fd_total = -1;
	for (int i = 0; i < _B_SC_MAX; i++) {
		if (s->fd[i] >= 0)
			close(s->fd[i]);
		s->fd[i] = -1;
	}
}

/* a -= b, counter by counter. */
void b_sc_sub(struct b_sc_counts *a, const struct b_sc_counts *b)
{
	a->total -= b->total;
	for (int i = 0; i < _B_SC_MAX; i++)
		a->n[i] -= b->n[i];
}
