/* SPDX-License-Identifier: MIT */
/*
 * Spawning, signalling and forgetting one worker process (see sup_child.h). The worker's
 * control channel doubles as the death pipe: the worker stops as soon as it reads EOF on it,
 * which happens when the supervisor dies for any reason; PR_SET_PDEATHSIG(SIGKILL), which the
 * worker and the router set first thing, is the second net for one that is not reading its
 * channel. Children are started with posix_spawn (vfork-like: no copy of our memory, whose
 * mappings grow with the sessions), so a spawn costs the same at 10 sessions and at 1,000.
 */
#include "sup_child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "handoff.h"
#include "mm_time.h"
#include "records.h"
#include "ring.h"
#include "sandbox.h"
#include "stats.h"
#include "sup.h"

/*
 * Where a new in-ring's positions start: CLOCK_REALTIME in ns (8-aligned). An in-ring position
 * is the `seq` of the DELIVER records made from it, which clients use to drop what a restarted
 * router repeats (docs/router.md); a session removed and added again, or whose ring is
 * re-created for a new ring_size, must not start below the positions clients have seen, or
 * they would drop its messages. Positions grow by bytes written, far slower than 1 per ns.
 */
static uint64_t in_ring_start(void)
{
	return mm_time_real_ns() & ~7ull;
}

/*
 * A record with no process and no descriptors, called <name> (copied), its machine down: the
 * start of a worker's record and of the router's. Returns 0 or -ENOMEM.
 */
int mm_sup_child_reset(struct mm_sup_child *c, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->pidfd = -1;
	c->chan_fd = -1;
	for (int i = 0; i < _MM_FD_WRK_END; i++)
		c->fds[i] = -1;
	mm_sup_fsm_init(&c->fsm);
	c->name = strdup(name);
	return c->name ? 0 : -ENOMEM;
}

/*
 * Create the session's rings, doorbells and stats block into c->fds, all close-on-exec.
 * Returns 0, -ENOMEM or the -errno of the failing call; on error mm_sup_child_done() cleans up.
 */
int mm_sup_child_init(struct mm_sup_child *c, const struct mm_cfg_session *s)
{
	int r = mm_sup_child_reset(c, s->name);

	c->ring_size = s->perf.ring_size;
	c->cmd_size = mm_rec_cmd_ring_size(s->perf.max_message_size);
	if (r == 0)
		r = mm_shm_ring_create_at("mqttmux-in", s->perf.ring_size, 1, in_ring_start(),
					  &c->fds[MM_FD_WRK_IN_RING]);
	if (r == 0)
		r = mm_shm_ring_create("mqttmux-cmd", c->cmd_size, 1, &c->fds[MM_FD_WRK_CMD_RING]);
	if (r == 0)
		r = mm_shm_stats_create("mqttmux-stats", &c->fds[MM_FD_WRK_STATS]);
	for (int i = MM_FD_WRK_IN_DATA; r == 0 && i < _MM_FD_WRK_END; i++) {
		if (i == MM_FD_WRK_CMD_RING || i == MM_FD_WRK_STATS)
			continue;
		c->fds[i] = mm_shm_ring_doorbell_open();
		r = c->fds[i] < 0 ? c->fds[i] : 0;
	}
	return r;
}

/*
 * Does session <s> need other rings than ones of <ring_size> (in-ring) and <cmd_size> bytes?
 * Its in-ring size, or a max_message_size that needs another cmd-ring, means new rings.
 */
bool mm_sup_rings_differ(const struct mm_cfg_session *s, uint64_t ring_size, uint64_t cmd_size)
{
	return s->perf.ring_size != ring_size ||
	       mm_rec_cmd_ring_size(s->perf.max_message_size) != cmd_size;
}

/* Release what mm_sup_child_init() created. The process must already be reaped. Idempotent. */
void mm_sup_child_done(struct mm_sup_child *c)
{
	for (int i = 0; i < _MM_FD_WRK_END; i++) {
		if (c->fds[i] >= 0)
			close(c->fds[i]);
		c->fds[i] = -1;
	}
	mm_sup_child_reaped(c, c->wstatus);
	mm_sup_mstate_done(&c->m);
	mm_sup_fsm_done(&c->fsm);
	mm_sup_pcache_done(&c->pc);
	free(c->name);
	c->name = NULL;
}

static int pidfd_open_compat(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/*
 * Start x->argv with a new control channel at fd 3 and x->fds[1..n] at 4, 5, ... The child
 * inherits our stderr. On success c->pid, c->pidfd and c->chan_fd are set and 0 is returned;
 * -errno otherwise (nothing is left behind). A missing binary is -ENOENT at once (posix_spawn
 * reports exec failures).
 */
int mm_sup_child_fork(struct mm_sup_child *c, const struct mm_sup_exec *x)
{
	pid_t pid;
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) == -1)
		return -errno;
	x->fds[0] = sp[1];
	/* The child sets PR_SET_PDEATHSIG itself; till then our channel's EOF stops it. */
	pid = mm_fdmap_spawn(x->argv, -1, x->fds, x->n + 1, x->tmp);
	close(sp[1]);
	if (pid < 0) {
		close(sp[0]);
		return pid;
	}
	c->pid = pid;
	c->chan_fd = sp[0];
	c->pidfd = pidfd_open_compat(pid);
	return 0;
}

/*
 * Fork and exec <worker> (absolute path) as "--session <name> ... --inherit-fds" for the <n>
 * sessions of <v> (one, or a group: v[0] holds the process), each followed by
 * "--subs-file <path>" if it keeps its subscriptions in state_dir and "--ids-file <path>" if it
 * is persistent (worker/wrk_ids.c), then "--state-dir DIR" (worker/wrk_guard.c quarantines
 * poison messages there), with a new channel at fd 3,
 * each session's ring and stats descriptors at MM_FD_WRK_SESS(i, k), then its block as the
 * supervisor validated it, secrets included, in a sealed memfd at
 * MM_FD_WRK_SESS(i, MM_FD_WRK_SESSION) (shm/handoff.h), and the connect pacer (if open) at
 * MM_FD_WRK_PACE(n) (shm/fdmap.h). The worker reads no config file, and a restarted one gets
 * what was validated whatever the file says by then. Sets v[0]'s process (see
 * mm_sup_child_fork). Returns 0, -ENOENT (a session not in the running config) or -errno.
 */
int mm_sup_child_spawn(struct mm_sup *s, struct mm_sup_child *const *v, uint32_t n)
{
	static char opt_session[] = "--session", opt_inherit[] = "--inherit-fds",
		    opt_subs[] = "--subs-file", opt_state[] = "--state-dir",
		    opt_ids[] = "--ids-file", opt_nosec[] = MM_SANDBOX_OFF_OPT;
	size_t nfd = (size_t)n * MM_FD_WRK_N + 1, a = 0;
	char **argv = calloc(6 * (size_t)n + 6, sizeof(*argv));
	char(*subs)[PATH_MAX] = calloc(2 * (size_t)n, sizeof(*subs)); /* subs, then ids files */
	int *fds = calloc(nfd + 1, sizeof(*fds)), *tmp = calloc(nfd + 1, sizeof(*tmp)), r = -ENOMEM;
	int *src = fds ? &fds[1] : NULL; /* fds[0]: the channel (mm_sup_child_fork) */
	uint32_t i = 0;

	if (argv && subs && fds && tmp) {
		argv[a++] = s->worker;
		for (r = 0; r == 0 && i < n; i++) {
			const struct mm_cfg_session *sess = mm_cfg_session_find(s->cfg, v[i]->name);
			int *dst = &src[i * MM_FD_WRK_N];

			argv[a++] = opt_session;
			argv[a++] = v[i]->name;
			if (mm_sup_state_subs_file(s, v[i]->name, subs[i]) > 0) {
				argv[a++] = opt_subs;
				argv[a++] = subs[i];
			}
			if (mm_sup_state_ids_file(s, v[i]->name, subs[n + i]) > 0) {
				argv[a++] = opt_ids;
				argv[a++] = subs[n + i];
			}
			memcpy(dst, &v[i]->fds[MM_FD_WRK_IN_RING],
			       (MM_FD_WRK_N - 1) * sizeof(*src));
			r = sess ? mm_handoff_session_open(sess) : -ENOENT;
			dst[MM_FD_WRK_N - 1] = r;
			r = r < 0 ? r : 0;
		}
		if (r == 0) {
			argv[a++] = opt_state; /* where a poison message is quarantined */
			argv[a++] = s->cfg->state_dir;
			argv[a++] = opt_inherit;
			if (!s->cfg->seccomp)
				argv[a++] = opt_nosec;
			src[nfd - 1] = s->pace_fd;
			struct mm_sup_exec x = { .argv = argv,
						 .fds = fds,
						 .tmp = tmp,
						 .n = (unsigned)nfd - (s->pace_fd < 0) };

			r = mm_sup_child_fork(v[0], &x);
		}
		/* the worker has its copies: the secrets live in no file of ours */
		for (uint32_t k = 0; k < i; k++)
			if (src[k * MM_FD_WRK_N + MM_FD_WRK_N - 1] >= 0)
				close(src[k * MM_FD_WRK_N + MM_FD_WRK_N - 1]);
	}
	free(argv);
	free(subs);
	free(fds);
	free(tmp);
	return r;
}

/* Spawn the worker of session <c> alone. Returns what mm_sup_child_spawn does. */
int mm_sup_worker_spawn(struct mm_sup *s, struct mm_sup_child *c)
{
	return mm_sup_child_spawn(s, &c, 1);
}

/* Send <sig> to the running process (through its pidfd when we have one). Returns 0 or -errno. */
int mm_sup_child_signal(struct mm_sup_child *c, int sig)
{
	if (c->pid <= 0)
		return -ESRCH;
	if (c->pidfd >= 0)
		return syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0) == -1 ? -errno : 0;
	return kill(c->pid, sig) == -1 ? -errno : 0;
}

/* Ask the process to stop gracefully: MM_CHAN_STOP, and SIGTERM for a worker not reading. */
int mm_sup_child_stop(struct mm_sup_child *c)
{
	if (c->chan_fd >= 0)
		(void)mm_chan_send(c->chan_fd, MM_CHAN_STOP, 0, 0);
	return mm_sup_child_signal(c, SIGTERM);
}

/* Forget the reaped process: close its pidfd and channel. Accepts a child with no process. */
void mm_sup_child_reaped(struct mm_sup_child *c, int wstatus)
{
	mm_sup_pcache_done(&c->pc);
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->chan_fd >= 0)
		close(c->chan_fd);
	c->pidfd = -1;
	c->chan_fd = -1;
	c->pid = 0;
	c->wstatus = wstatus;
}

/* For logs: "session 'x'" or "router" (static buffer: one use per log call). */
const char *mm_sup_child_who(const struct mm_sup_child *c)
{
	static char buf[MM_CFG_NAME_MAX + 16];

	if (c->is_router)
		return "router";
	snprintf(buf, sizeof(buf), "session '%s'", c->name ? c->name : "?");
	return buf;
}

/* For logs: "session 'x': worker" or "router" (static buffer: one use per log call). */
const char *mm_sup_child_what(const struct mm_sup_child *c)
{
	static char buf[MM_CFG_NAME_MAX + 24];

	if (c->is_router)
		return "router";
	snprintf(buf, sizeof(buf), "session '%s': worker", c->name ? c->name : "?");
	return buf;
}
