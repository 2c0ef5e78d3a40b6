/* SPDX-License-Identifier: MIT */
/*
 * The resource limits N sessions need (docs/operations.md, "Limits"): the daemon raises its
 * soft RLIMIT_NOFILE and RLIMIT_NPROC to their hard limits at start (its children inherit
 * them), and refuses to start, naming the limit and the number needed, when the sessions
 * cannot fit. The counts are what the processes hold, not guesses:
 *
 * - the supervisor: per session its in-ring and cmd-ring memfds, their four doorbells and its
 *   stats block (7), plus each worker's channel and pidfd (2); fixed: stdio, the lock, the
 *   signalfd, the epoll fd, the control socket and its connections, metrics.http and its
 *   connections, the router's channel, pidfd and stats block, and room for a fork;
 * - the router: per session the six ring descriptors, per client its socket and the six
 *   descriptors of its rings (up to MM_SUP_ROUTER_CLIENTS clients), and its own few.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sup.h"

#define SUP_FIXED      (8 + 1 + MM_CTL_NFDS + MM_HTTP_NFDS + 3 + 16)
#define RTR_PER_CLIENT 7
#define RTR_FIXED      16

/* Soft limit := hard limit, for <res>. Returns the new soft limit (RLIM_INFINITY possible). */
static rlim_t raise_one(int res)
{
	struct rlimit rl;

	if (getrlimit(res, &rl) == -1)
		return 0;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(res, &rl);
		(void)getrlimit(res, &rl);
	}
	return rl.rlim_cur;
}

/* Raise the soft RLIMIT_NOFILE and RLIMIT_NPROC of this process to their hard limits. */
void mm_sup_limits_raise(void)
{
	(void)raise_one(RLIMIT_NOFILE);
	(void)raise_one(RLIMIT_NPROC);
}

/* "N" for log lines: our soft RLIMIT_NOFILE now (static buffer: one use per log call). */
const char *mm_sup_nofile_text(void)
{
	static char buf[32];
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return "unlimited";
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)rl.rlim_cur);
	return buf;
}

/* Descriptors the supervisor holds with <n> sessions. */
uint64_t mm_sup_limits_fds(uint64_t n)
{
	return MM_SUP_FDS_PER_SESSION * n + SUP_FIXED;
}

/* Descriptors the router holds with <n> sessions and its most clients. */
uint64_t mm_sup_limits_router_fds(uint64_t n)
{
	return 6 * n + RTR_PER_CLIENT * MM_SUP_ROUTER_CLIENTS + RTR_FIXED;
}

static int nofile(uint64_t n, char *why, size_t size)
{
	uint64_t need = mm_sup_limits_fds(n), rneed = mm_sup_limits_router_fds(n);
	struct rlimit rl;

	if (rneed > need)
		need = rneed;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return 0;
	snprintf(why, size,
		 "RLIMIT_NOFILE (open files) is %llu (hard limit %llu): %llu session(s) need %llu"
		 " (%u per session in the daemon, %u in the router, plus %llu for %u clients);"
		 " raise it (LimitNOFILE= in the unit, ulimit -n) or run fewer sessions",
		 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
		 (unsigned long long)n, (unsigned long long)need, MM_SUP_FDS_PER_SESSION, 6,
		 (unsigned long long)(RTR_PER_CLIENT * MM_SUP_ROUTER_CLIENTS),
		 MM_SUP_ROUTER_CLIENTS);
	return -EMFILE;
}

static int nproc(uint64_t total, uint64_t n, char *why, size_t size)
{
	struct rlimit rl;

	/* Root (CAP_SYS_RESOURCE, CAP_SYS_ADMIN) is not held to RLIMIT_NPROC. */
	if (geteuid() == 0 || getrlimit(RLIMIT_NPROC, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= total)
		return 0;
	snprintf(why, size,
		 "RLIMIT_NPROC (processes of this user) is %llu (hard limit %llu): %llu session(s)"
		 " need at least %llu (the workers, the router and the daemon itself);"
		 " raise it (LimitNPROC= in the unit, ulimit -u) or run fewer sessions",
		 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
		 (unsigned long long)n, (unsigned long long)total);
	return -EAGAIN;
}

/*
 * Can <n> sessions in <procs> worker processes run under our limits? 0, or -EMFILE / -EAGAIN
 * with the reason (naming the limit, its value and the number needed) in <why>.
 */
int mm_sup_limits_check(uint64_t n, uint64_t procs, char *why, size_t size)
{
	int r = nofile(n, why, size);

	return r ? r : nproc(procs + 2, n, why, size);
}
