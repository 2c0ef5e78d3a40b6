/* SPDX-License-Identifier: MIT */
/*
 * The router child: one mqttmux-router process, supervised with the same state machine as a
 * worker (READY, HEARTBEAT, backoff, crash-loop mark, exit 64/78 not restarted). It is spawned
 * as "--inherit-fds N --stats-fd M" with its channel at fd 3, from fd 4 the six ring
 * descriptors of each of the N sessions (the same objects the session's worker gets), then its
 * table at MM_FD_RTR_TABLE(N): a ROUTER handoff blob with the sessions' indexes and names, the
 * client options and runtime_dir, and no broker secret; and at M the router stats block
 * (shm/rstats.h), created once in mm_sup_router_init() and the same for every router instance
 * (shm/fdmap.h has the map).
 *
 * Live sessions (docs/router.md): the router is not restarted when sessions come and go. Each
 * session has an index for the daemon's life, handed out in order and reused only after the
 * whole index space went round (clients see it in DELIVER and SESSIONS). A session added, a
 * session whose rings were made anew and a session removed (once its worker is gone) reach the
 * router as SESSION_ADD and SESSION_REMOVE on its channel, with the ring descriptors; new client
 * options after a reload as CLIENTS. A router that is not running hears nothing: the next one
 * gets the whole table at spawn. A router that stops reading its channel is restarted.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "handoff.h"
#include "log.h"
#include "mm_time.h"
#include "records.h"
#include "sandbox.h"
#include "sup.h"

#define SEND_WAIT_MS 2000 /* a router that cannot take a record for this long is restarted */

/* Set up the router's record (no process yet) and find its binary. Returns 0 or -errno. */
int mm_sup_router_init(struct mm_sup *s)
{
	struct mm_sup_child *c = &s->router;
	int r = mm_sup_child_reset(c, "router");

	if (r < 0)
		return r;
	c->is_router = true;
	/* once for the daemon's life: router counters never reset across router restarts */
	r = mm_shm_rstats_create("mqttmux-rstats", &c->fds[MM_FD_WRK_STATS]);
	if (r < 0)
		return mm_log_errno(r, "cannot create the router stats block");
	return mm_sup_router_path(s->router_bin, sizeof(s->router_bin));
}

/*
 * The index of a new session: the next one in order, skipping those in use, round at
 * MM_RTR_SESSION_MAX. Clients tell sessions apart by index (and name), so an index comes back
 * only after every other one was handed out.
 */
uint32_t mm_sup_router_next_idx(struct mm_sup *s)
{
	uint32_t idx = 0;

	for (unsigned tries = 0; tries < MM_CHAN_SESSION_IDX_MAX; tries++) {
		bool used = false;

		idx = (uint32_t)(s->next_idx++ % MM_CHAN_SESSION_IDX_MAX);
		if (s->next_idx <= MM_CHAN_SESSION_IDX_MAX)
			return idx; /* not round yet: never used */
		for (size_t i = 0; i < s->n_children && !used; i++)
			used = s->children[i].name && s->children[i].idx == idx;
		if (!used)
			break;
	}
	return idx;
}

/*
 * The performance.max_message_size the router enforces for <c>'s publishes: its block in the
 * running config (a session being removed is no longer there: its publishes fail anyway).
 */
static uint32_t max_msg_of(const struct mm_sup *s, const struct mm_sup_child *c)
{
	const struct mm_cfg_session *sess = c->remove ? NULL : mm_cfg_session_find(s->cfg, c->name);

	return sess ? sess->perf.max_message_size : 0;
}

/* The session's own clients block (borrowed), or none. */
static struct mm_cfg_access access_of(const struct mm_sup *s, const struct mm_sup_child *c)
{
	const struct mm_cfg_session *sess = c->remove ? NULL : mm_cfg_session_find(s->cfg, c->name);

	return sess ? sess->access : (struct mm_cfg_access){ 0 };
}

/* The sessions that have rings, in children order: the router's table at spawn. */
static size_t table_of(const struct mm_sup *s, struct mm_handoff_rsess *t, int *fds)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_children; i++) {
		const struct mm_sup_child *c = &s->children[i];

		if (!c->name || c->fds[MM_FD_WRK_IN_RING] < 0)
			continue;
		t[n].idx = c->idx;
		t[n].max_msg = max_msg_of(s, c);
		t[n].access = access_of(s, c);
		snprintf(t[n].name, sizeof(t[n].name), "%s", c->name);
		memcpy(&fds[n * MM_FD_SESS_N], &c->fds[MM_FD_WRK_IN_RING],
		       MM_FD_SESS_N * sizeof(int));
		n++;
	}
	return n;
}

/* The router's options as a table without sessions (runtime_dir fixed at start). */
static struct mm_handoff_router options(const struct mm_sup *s)
{
	return (struct mm_handoff_router){ .runtime_dir = s->runtime_dir,
					   .clients = s->cfg->clients };
}

/* Fork and exec the router with the current session table. Returns 0 or -errno. */
int mm_sup_router_spawn(struct mm_sup *s)
{
	static char opt_inherit[] = "--inherit-fds", opt_stats[] = "--stats-fd",
		    opt_nosec[] = MM_SANDBOX_OFF_OPT;
	struct mm_handoff_router t = options(s);
	size_t cap = s->n_children ? s->n_children : 1, n;
	int *fds = calloc(cap * MM_FD_SESS_N + 3, sizeof(int));
	int *tmp = calloc(cap * MM_FD_SESS_N + 3, sizeof(int)), r = -ENOMEM, blob = -1;
	char count[24], stats[24];
	char *argv[] = { s->router_bin, opt_inherit, count, opt_stats, stats, NULL, NULL };

	t.sessions = calloc(cap, sizeof(*t.sessions));
	if (!fds || !tmp || !t.sessions)
		goto out;
	n = t.n_sessions = table_of(s, t.sessions, &fds[1]);
	blob = r = mm_handoff_router_open(&t);
	if (r >= 0) {
		struct mm_sup_exec x = {
			.argv = argv, .fds = fds, .tmp = tmp, .n = (unsigned)(n * MM_FD_SESS_N + 2)
		};

		snprintf(count, sizeof(count), "%zu", n);
		if (!s->cfg->seccomp)
			argv[5] = opt_nosec;
		snprintf(stats, sizeof(stats), "%d", MM_FD_RTR_STATS((int)n));
		fds[1 + n * MM_FD_SESS_N] = blob;
		fds[2 + n * MM_FD_SESS_N] = s->router.fds[MM_FD_WRK_STATS];
		r = mm_sup_child_fork(&s->router, &x);
	}
out:
	if (blob >= 0)
		close(blob);
	free(t.sessions);
	free(fds);
	free(tmp);
	return r;
}

/* Each loop turn (and when the router goes down): start a router restart that was waiting. */
void mm_sup_router_tick(struct mm_sup *s)
{
	struct mm_sup_child *c = &s->router;

	if (s->stopping || !c->respawn || c->fsm.state != MM_CHILD_DOWN)
		return;
	c->respawn = false;
	mm_sup_spawn(s, c);
}

/* Stop the router (if running) and start it again with the current session table. */
void mm_sup_router_restart(struct mm_sup *s, const char *why)
{
	if (s->stopping || s->router.respawn)
		return;
	mm_log(MM_LOG_WARNING, "router: restarting it (%s)", why);
	s->router.respawn = true;
	mm_sup_apply(s, &s->router, MM_CHILD_EV_STOP_REQ);
}

/*
 * Send one record to the router, waiting up to SEND_WAIT_MS for room: a live router reads its
 * channel at once. A router that is not running misses nothing (its successor gets the whole
 * table); one that does not take the record in time is restarted for the same reason.
 */
static void send_rtr(struct mm_sup *s, const struct mm_chan_msg *m, const void *body, size_t len,
		     const int *fds, unsigned nfds)
{
	int fd = s->router.chan_fd, r;
	uint64_t deadline = mm_time_mono_ns() + SEND_WAIT_MS * 1000000ull;

	if (fd < 0 || s->router.respawn)
		return;
	while ((r = mm_chan_send_msg(fd, m, body, len, fds, nfds)) == -EAGAIN) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		uint64_t now = mm_time_mono_ns();

		if (now >= deadline)
			break;
		(void)poll(&p, 1, (int)((deadline - now) / 1000000 + 1));
	}
	if (r == -EAGAIN)
		mm_sup_router_restart(s, "it does not read its channel");
	else if (r < 0 && r != -EPIPE && r != -ECONNRESET)
		mm_log_errno(r, "router: cannot send record %u", m->cmd);
}

/*
 * Session <c> is new, has new rings, or a changed block (max_message_size, clients): the router
 * takes it as it runs. Body: its table entry, as in the router's handoff blob.
 */
void mm_sup_router_session_add(struct mm_sup *s, const struct mm_sup_child *c)
{
	struct mm_chan_msg m = { .cmd = MM_CHAN_SESSION_ADD, .arg = c->idx };
	struct mm_handoff_rsess e = { .idx = c->idx,
				      .max_msg = max_msg_of(s, c),
				      .access = access_of(s, c) };
	uint8_t *body = NULL;
	ssize_t n;

	snprintf(e.name, sizeof(e.name), "%s", c->name);
	n = mm_handoff_rsess_pack(&e, &body);
	if (n < 0 || (size_t)n > MM_CHAN_BODY_MAX) {
		mm_log_errno(n < 0 ? (int)n : -EMSGSIZE, "session '%s': cannot tell the router",
			     c->name);
		free(body);
		return;
	}
	send_rtr(s, &m, body, (size_t)n, &c->fds[MM_FD_WRK_IN_RING], MM_FD_SESS_N);
	free(body);
}

/* Session <c> is gone (its worker too): the router ends its routes and tells its clients. */
void mm_sup_router_session_remove(struct mm_sup *s, const struct mm_sup_child *c)
{
	struct mm_chan_msg m = { .cmd = MM_CHAN_SESSION_REMOVE, .arg = c->idx };

	send_rtr(s, &m, NULL, 0, NULL, 0);
}

/* After a reload: the running router takes the new client options (for new clients). */
void mm_sup_router_clients(struct mm_sup *s)
{
	struct mm_handoff_router t = options(s);
	struct mm_chan_msg m = { .cmd = MM_CHAN_CLIENTS };
	int blob = mm_handoff_router_open(&t);

	if (blob < 0) {
		mm_log_errno(blob, "router: cannot pass the new client options");
		return;
	}
	send_rtr(s, &m, NULL, 0, &blob, 1);
	close(blob);
}

/*
 * The router counted <n> messages of session <idx> (the session's index for the daemon's life,
 * * c->idx, as in the router's live table) that matched no route since its last report: added to
 * the session's total (mqttmux_session_unrouted_total) and reported as a messages_unrouted event.
 */
void mm_sup_router_unrouted(struct mm_sup *s, uint32_t idx, uint64_t n)
{
	if (!n)
		return;
	for (size_t i = 0; i < s->n_children; i++) {
		struct mm_sup_child *c = &s->children[i];

		if (c->name && c->idx == idx) {
			c->m.unrouted += n;
			mm_sup_events_unrouted(s, c, n);
			return;
		}
	}
}

/*
 * Tell the router that session <name> failed (a crash loop, or an exit 64/78 when
 * <permanent>): it writes a session_failed CLIENT_EVENT for clients that asked for events.
 * Best effort: a router that is down hears nothing (the session's status still says failed).
 */
void mm_sup_router_session_failed(struct mm_sup *s, const char *name, bool permanent)
{
	for (size_t i = 0; i < s->n_children; i++) {
		const struct mm_sup_child *c = &s->children[i];

		if (c->name && !c->remove && !strcmp(c->name, name) && s->router.chan_fd >= 0) {
			(void)mm_chan_send(s->router.chan_fd, MM_CHAN_SESSION_FAILED, c->idx,
					   permanent);
			return;
		}
	}
}

/* The router said why it cannot start (MM_CHAN_FAILED): kept for `status` and `wait`. */
void mm_sup_router_failed(struct mm_sup *s, const void *why, size_t len)
{
	if (len >= sizeof(s->router_why))
		len = sizeof(s->router_why) - 1;
	memcpy(s->router_why, why, len);
	s->router_why[len] = '\0';
}
