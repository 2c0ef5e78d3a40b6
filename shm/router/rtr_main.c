/* SPDX-License-Identifier: MIT */
/*
 * mqttmux-router: the shared-memory fan-out between the session workers and local clients.
 *
 *   mqttmux-router --inherit-fds N [--stats-fd FD] [--verbose]
 *
 * Inherited descriptors (shm/fdmap.h; from mqttmuxd, or a test acting as it): fd 3 is the
 * control channel (or closed), then for each of the N sessions of its table 6 descriptors
 * (enum mm_fd_sess) from fd 4, then the table itself at MM_FD_RTR_TABLE(N): a ROUTER handoff
 * blob (shm/handoff.h) with the sessions' indexes and names, the client options and the
 * runtime directory, as the supervisor validated them. The router reads no config file.
 * N must equal the number of sessions in the table. Exit codes: 0 stopped, 1 runtime failure,
 * 64 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sysexits.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "rtr.h"
#include "sandbox.h"
#include "usage.h"

struct args {
	long nfds, stats_fd;
	enum mm_log_level level;
	bool no_seccomp; /* --no-seccomp: the config's seccomp = false (debugging) */
};

static const char Usage[] = "usage: mqttmux-router --inherit-fds N [--stats-fd FD] [--no-seccomp]\n"
			    "                      [--verbose]\n"
			    "       mqttmux-router --help | --version\n"
			    "The router of mqttmuxd, which starts it; see mqttmuxd(8).\n";

static int usage(void)
{
	fputs(Usage, stderr);
	return EX_USAGE;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "inherit-fds", required_argument, NULL, 'i' },
		{ "stats-fd", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-seccomp", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	*a = (struct args){ .nfds = -1, .stats_fd = -1, .level = MM_LOG_INFO };
	while ((c = getopt_long(argc, argv, "i:s:vh", opts, NULL)) != -1) {
		if (c == 'h' || c == 'V') {
			return c;
		} else if (c == 'i') {
			a->nfds = strtol(optarg, &end, 10);
			if (*end || a->nfds < 0 || a->nfds > MM_RTR_SESSION_MAX)
				return -EINVAL;
		} else if (c == 's') {
			a->stats_fd = strtol(optarg, &end, 10);
			if (*end || a->stats_fd < MM_FD_RTR_FIRST || a->stats_fd > 65535)
				return -EINVAL;
		} else if (c == 'v') {
			a->level = MM_LOG_DEBUG;
		} else if (c == 'n') {
			a->no_seccomp = true;
		} else {
			return -EINVAL;
		}
	}
	return optind != argc || a->nfds < 0 ? -EINVAL : 0;
}

/* The table the supervisor validated (never the config file): EX_* on failure, logged. */
static int read_table(const struct args *a, struct mm_handoff_router **ret)
{
	int rc = mm_handoff_router_read((int)MM_FD_RTR_TABLE(a->nfds), ret);

	if (rc < 0) {
		mm_log_errno(rc, "no usable session table at fd %ld (a ROUTER handoff blob)",
			     MM_FD_RTR_TABLE(a->nfds));
		return EX_USAGE;
	}
	if ((*ret)->n_sessions != (size_t)a->nfds) {
		mm_log(MM_LOG_ERROR, "--inherit-fds %ld but the table has %zu sessions", a->nfds,
		       (*ret)->n_sessions);
		mm_handoff_router_free(*ret);
		return EX_USAGE;
	}
	return 0;
}

/*
 * We cannot start (a runtime_dir others may write, a socket we cannot bind...): tell the
 * supervisor why before we exit, so that `status` and `wait` can say it (docs/router.md).
 */
static void tell_failed(const struct mm_rtr *r)
{
	const char *why = mm_log_last_error();
	struct mm_chan_msg m = { .cmd = MM_CHAN_FAILED };
	size_t len = strnlen(why, MM_CHAN_BODY_MAX);

	if (r->chan >= 0 && len)
		(void)mm_chan_send_msg(r->chan, &m, why, len, NULL, 0);
}

int main(int argc, char **argv)
{
	struct mm_rtr r = { .chan = -1, .epfd = -1 };
	struct mm_handoff_router *table = NULL;
	struct args a;
	int rc;

	rc = parse_args(argc, argv, &a);
	if (rc < 0)
		return usage();
	if (rc > 0)
		return mm_usage_help_version(rc == 'h', "mqttmux-router", Usage);
	mm_log_init("mqttmux-router", a.level);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (a.stats_fd >= 0 && a.stats_fd < MM_FD_RTR_STATS(a.nfds)) {
		mm_log(MM_LOG_ERROR, "--stats-fd %ld overlaps the sessions and the table",
		       a.stats_fd);
		return EX_USAGE;
	}
	rc = read_table(&a, &table);
	if (rc)
		return rc;
	if (fcntl(MM_FD_CHAN, F_GETFD) != -1) {
		r.chan = MM_FD_CHAN;
		(void)fcntl(r.chan, F_SETFD, FD_CLOEXEC);
	}
	if (a.stats_fd >= 0)
		(void)fcntl((int)a.stats_fd, F_SETFD, FD_CLOEXEC);
	(void)prctl(PR_SET_DUMPABLE, 0); /* no secret, but it faces untrusted clients */
	rc = mm_rtr_init(&r, table, MM_FD_RTR_FIRST, (int)a.stats_fd);
	/* router.sock is bound: the system call filter from here on (common/sandbox.h) */
	if (rc >= 0 && !a.no_seccomp && (rc = mm_sandbox_enter(MM_SANDBOX_ROUTER)) < 0)
		mm_log_errno(rc, "cannot install the seccomp filter");
	if (rc < 0)
		tell_failed(&r);
	rc = rc < 0 ? 1 : mm_rtr_run(&r);
	mm_rtr_done(&r);
	return rc;
}
