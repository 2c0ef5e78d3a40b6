/* SPDX-License-Identifier: MIT */
/*
 * The router child: one mqttmux-router process, supervised with the same state machine as a
 * worker (READY, HEARTBEAT, backoff, crash-loop mark, exit 64/78 not restarted). It is spawned
 * as "--config FILE --runtime-dir DIR --inherit-fds N --stats-fd M" with its channel at fd 3,
 * from fd 4 the six ring descriptors of every session in config order (docs/router.md): the
 * same objects the session's worker gets; and at M = 4 + 6 * N the router stats block
 * (shm/rstats.h), created once in mm_sup_router_init() and the same for every router instance.
 *
 * The router cannot take sessions at run time yet, so a reload that adds, removes, reorders or
 * re-creates the rings of a session restarts it with the new set (mm_sup_router_restart). The
 * restart waits until every re-created ring exists (mm_sup_router_tick).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "log.h"
#include "records.h"
#include "sup.h"

/* Set up the router's record (no process yet) and find its binary. Returns 0 or -errno. */
int mm_sup_router_init(struct mm_sup *s)
{
	struct mm_sup_child *c = &s->router;
	int r;

	memset(c, 0, sizeof(*c));
	c->pidfd = -1;
	c->chan_fd = -1;
	for (int i = 0; i < _MM_FD_WRK_END; i++)
		c->fds[i] = -1;
	mm_sup_fsm_init(&c->fsm);
	c->is_router = true;
	c->name = strdup("router");
	if (!c->name)
		return -ENOMEM;
	/* once for the daemon's life: router counters never reset across router restarts */
	r = mm_shm_rstats_create("mqttmux-rstats", &c->fds[MM_FD_WRK_STATS]);
	if (r < 0)
		return mm_log_errno(r, "cannot create the router stats block");
	return mm_sup_router_path(s->router_bin, sizeof(s->router_bin));
}

static const struct mm_sup_child *session_child(const struct mm_sup *s, const char *name)
{
	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i].name && !s->children[i].remove &&
		    !strcmp(s->children[i].name, name))
			return &s->children[i];
	return NULL;
}

/* The six descriptors of every configured session, in config order. -ENOENT if one lacks. */
static int collect_fds(const struct mm_sup *s, int *out)
{
	for (size_t i = 0; i < s->cfg->n_sessions; i++) {
		const struct mm_sup_child *c = session_child(s, s->cfg->sessions[i].name);

		for (int k = 0; k < MM_FD_SESS_N; k++) {
			if (!c || c->fds[MM_FD_WRK_IN_RING + k] < 0)
				return -ENOENT;
			out[i * MM_FD_SESS_N + (size_t)k] = c->fds[MM_FD_WRK_IN_RING + k];
		}
	}
	return 0;
}

/* Fork and exec the router with the current session set. Returns 0 or -errno. */
int mm_sup_router_spawn(struct mm_sup *s)
{
	static char opt_config[] = "--config", opt_dir[] = "--runtime-dir",
		    opt_inherit[] = "--inherit-fds", opt_stats[] = "--stats-fd";
	size_t n = s->cfg->n_sessions * MM_FD_SESS_N;
	unsigned nsrc = (unsigned)n + 1; /* and the router stats block */
	int *src = calloc(n + 1, sizeof(int)), *tmp = calloc(n + 2, sizeof(int)), r = -ENOMEM;
	char count[24], stats[24];
	char *argv[] = { s->router_bin, opt_config,	(char *)mm_sup_child_config(s),
			 opt_dir,	s->runtime_dir, opt_inherit,
			 count,		opt_stats,	stats,
			 NULL };

	snprintf(count, sizeof(count), "%zu", s->cfg->n_sessions);
	snprintf(stats, sizeof(stats), "%zu", MM_FD_RTR_STATS(s->cfg->n_sessions));
	if (src && tmp)
		r = collect_fds(s, src);
	if (r == 0) {
		struct mm_sup_exec x = { .argv = argv, .src = src, .tmp = tmp, .n = nsrc };

		src[n] = s->router.fds[MM_FD_WRK_STATS];
		r = mm_sup_child_fork(&s->router, &x);
	}
	free(src);
	free(tmp);
	return r;
}

/* Some session's rings are about to be re-created: the router must wait for them. */
static bool rings_pending(const struct mm_sup *s)
{
	for (size_t i = 0; i < s->n_children; i++) {
		const struct mm_sup_child *c = &s->children[i];
		const struct mm_cfg_session *sess;

		if (!c->name || c->remove || !c->respawn)
			continue;
		sess = mm_cfg_session_find(s->cfg, c->name);
		if (sess && mm_sup_rings_differ(sess, c->ring_size, c->cmd_size))
			return true;
	}
	return false;
}

/* Each loop turn (and when the router goes down): start a router restart that was waiting. */
void mm_sup_router_tick(struct mm_sup *s)
{
	struct mm_sup_child *c = &s->router;

	if (s->stopping || !c->respawn || c->fsm.state != MM_CHILD_DOWN || rings_pending(s))
		return;
	c->respawn = false;
	mm_sup_spawn(s, c);
}

/* Stop the router (if running) and start it again with the current session set. */
void mm_sup_router_restart(struct mm_sup *s, const char *why)
{
	if (s->stopping)
		return;
	mm_log(MM_LOG_INFO, "router: restarting it (%s)", why);
	s->router.respawn = true;
	mm_sup_apply(s, &s->router, MM_CHILD_EV_STOP_REQ);
}

/* Does the router need other descriptors for <b> than for <a>? */
bool mm_sup_router_layout_changed(const struct mm_cfg *a, const struct mm_cfg *b)
{
	if (a->n_sessions != b->n_sessions)
		return true;
	for (size_t i = 0; i < a->n_sessions; i++)
		if (strcmp(a->sessions[i].name, b->sessions[i].name) ||
		    mm_sup_rings_differ(&b->sessions[i], a->sessions[i].perf.ring_size,
					mm_rec_cmd_ring_size(a->sessions[i].perf.max_message_size)))
			return true;
	return false;
}

/*
 * The router counted <n> messages of session <idx> (its index in the config the router was
 * started with: the same names in the same order as s->cfg, or the router is restarted) that
 * matched no route since its last report: added to the session's total
 * (mqttmux_session_unrouted_total) and reported as a messages_unrouted event.
 */
void mm_sup_router_unrouted(struct mm_sup *s, uint32_t idx, uint64_t n)
{
	const char *name;

	if (idx >= s->cfg->n_sessions || !n)
		return;
	name = s->cfg->sessions[idx].name;
	for (size_t i = 0; i < s->n_children; i++) {
		struct mm_sup_child *c = &s->children[i];

		if (!c->remove && !strcmp(c->name, name)) {
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
	for (size_t i = 0; i < s->cfg->n_sessions; i++)
		if (!strcmp(s->cfg->sessions[i].name, name)) {
			if (s->router.chan_fd >= 0)
				(void)mm_chan_send(s->router.chan_fd, MM_CHAN_SESSION_FAILED,
						   (uint32_t)i, permanent);
			return;
		}
}
