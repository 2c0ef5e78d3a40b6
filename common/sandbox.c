/* SPDX-License-Identifier: MIT */
/*
 * The seccomp allow-list (sandbox.h). Built from what the processes really do: strace -f of
 * the suite's scenarios (uring and epoll workers, TLS, grouped workers, persistent sessions,
 * the router with its clients, stops and restarts). What is not here, the processes never
 * need: exec, fork, ptrace, mount, module loading, bpf, keyrings, namespaces, uid changes.
 *
 * Calls a worker or the router makes, and why, where it is not obvious:
 *   - openat, newfstatat, getdents64, readlink: OpenSSL loads the CA store and the client
 *     key at each TLS connect, getaddrinfo reads /etc/hosts, nsswitch.conf, resolv.conf;
 *   - socket, connect, sendmmsg, recvfrom, poll: DNS; journal datagrams on the log path;
 *   - rename, fsync, unlink: a worker keeps its subscriptions in state_dir (atomic writes);
 *   - memfd_create, ftruncate, fcntl (seals), accept4, bind, listen: the router's client rings
 *     and router.sock;
 *   - tgkill, rt_sigprocmask, getpid, gettid: abort() and assert() still end in SIGABRT;
 *   - kill with signal 0 only: after a restart the router asks whether the previous router's
 *     clients still live (shm/router/rtr_rejoin.c).
 *
 * io_uring operations are not system calls: a worker's ring runs only the operations its loop
 * submits (socket poll, reads of eventfds and its channel, timeouts), which the filter cannot
 * see; docs/security.md says so.
 */
#include "sandbox.h"

#include <errno.h>
#include <seccomp.h>
#include <stddef.h>

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
/* Every process we filter. */
static const char *const Common[] = {
	/* memory */
	"brk",
	"mmap",
	"munmap",
	"mprotect",
	"mremap",
	"madvise",
	"msync",
	"mincore",
	/* descriptors and files */
	"read",
	"write",
	"readv",
	"writev",
	"pread64",
	"pwrite64",
	"preadv",
	"pwritev",
	"lseek",
	"close",
	"close_range",
	"dup",
	"dup2",
	"dup3",
	"fcntl",
	"ioctl",
	"pipe2",
	"open",
	"openat",
	"stat",
	"fstat",
	"lstat",
	"newfstatat",
	"statx",
	"statfs",
	"fstatfs",
	"access",
	"faccessat",
	"faccessat2",
	"readlink",
	"readlinkat",
	"getdents64",
	"getcwd",
	"fsync",
	"fdatasync",
	"ftruncate",
	"rename",
	"renameat",
	"renameat2",
	"unlink",
	"unlinkat",
	"fchmod",
	"umask",
	"fadvise64",
	"flock",
	"memfd_create",
	"eventfd2",
	/* waiting */
	"poll",
	"ppoll",
	"select",
	"pselect6",
	"epoll_create1",
	"epoll_ctl",
	"epoll_wait",
	"epoll_pwait",
	"epoll_pwait2",
	"nanosleep",
	"clock_nanosleep",
	"futex",
	"sched_yield",
	"restart_syscall",
	"timerfd_create",
	"timerfd_settime",
	"timerfd_gettime",
	/* signals */
	"rt_sigaction",
	"rt_sigprocmask",
	"rt_sigreturn",
	"rt_sigtimedwait",
	"sigaltstack",
	"signalfd4",
	"tgkill",
	"tkill",
	/* sockets */
	"socket",
	"socketpair",
	"connect",
	"bind",
	"listen",
	"accept",
	"accept4",
	"getsockname",
	"getpeername",
	"getsockopt",
	"setsockopt",
	"sendto",
	"recvfrom",
	"sendmsg",
	"recvmsg",
	"sendmmsg",
	"recvmmsg",
	"shutdown",
	/* time, identity, limits */
	"clock_gettime",
	"clock_getres",
	"gettimeofday",
	"time",
	"getpid",
	"gettid",
	"getppid",
	"getuid",
	"geteuid",
	"getgid",
	"getegid",
	"getgroups",
	"getresuid",
	"getresgid",
	"getrandom",
	"uname",
	"sysinfo",
	"getrusage",
	"getrlimit",
	"prlimit64",
	"prctl",
	"sched_getaffinity",
	"getpriority",
	"membarrier",
	"rseq",
	"set_robust_list",
	/* the end */
	"exit",
	"exit_group",
};

/* A worker's event loop. */
static const char *const Worker[] = { "io_uring_setup", "io_uring_enter", "io_uring_register" };

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Allow each of names[0..n-1] that this architecture has. Returns 0 or -errno. */
static int allow(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr, r;

		if (!names[i])
			continue;
		nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

int mm_sandbox_enter(enum mm_sandbox_role role)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int r;

	if (!ctx)
		return -ENOMEM;
	r = allow(ctx, Common, N(Common));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
				     SCMP_A1(SCMP_CMP_EQ, 0));
	if (r == 0 && role == MM_SANDBOX_WORKER)
		r = allow(ctx, Worker, N(Worker));
	if (r == 0)
		r = seccomp_load(ctx); /* sets no_new_privs first: allowed without CAP_SYS_ADMIN */
	seccomp_release(ctx);
	return r;
}
#else
/*
 * Sanitizer builds run without the filter: LeakSanitizer's check at exit (a tracer process
 * that ptraces the threads) hangs under it, and the workers never exit. docs/security.md.
 */
int mm_sandbox_enter(enum mm_sandbox_role role)
{
	(void)role;
	return 0;
}
#endif
