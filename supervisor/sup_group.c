/* SPDX-License-Identifier: MIT */
/*
 * Grouped workers (workers.group_size > 1, docs/worker.md "Grouped sessions"): up to K sessions
 * in one worker process. Every session keeps its own record (struct mm_sup_child): its rings,
 * stats block, state machine, events and restart accounting. The group's first record, the
 * lead, holds the process (pid, pidfd, channel, timers); the others, its members, follow it:
 * every event of the process is fed to the lead, then to each member at the same time
 * (sup_loop.c), so their machines take the same steps and every session reports a crash, a
 * restart or a crash loop of its process as its own. Members have no timers of their own.
 *
 * Groups form in config order among the sessions not started yet (at start, and sessions a
 * reload or `add` brings). A reload or a control command that removes, changes or restarts one
 * session of a group stops the group; once it is down the group dissolves, and its sessions
 * that remain form groups again and start.
 *
 * Process code of mqttmuxd (single-threaded).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "pace.h"
#include "sup.h"

/* The record holding the process of <c>'s group (<c> itself if it holds it), or NULL. */
struct mm_sup_child *mm_sup_group_lead(struct mm_sup *s, struct mm_sup_child *c)
{
	if (!mm_sup_child_member(c))
		return c;
	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i].group == c->group && s->children[i].lead)
			return &s->children[i];
	return NULL;
}

/* The member of <lead>'s group at index <gidx> in its process (an EVENT's arg), or NULL. */
struct mm_sup_child *mm_sup_group_at(struct mm_sup *s, struct mm_sup_child *lead, uint32_t gidx)
{
	if (!lead->group)
		return gidx == 0 ? lead : NULL;
	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i].name && s->children[i].group == lead->group &&
		    s->children[i].gidx == gidx)
			return &s->children[i];
	return NULL;
}

/* Next member of <lead>'s group after index <from> of s->children; s->n_children: none. */
size_t mm_sup_group_next(const struct mm_sup *s, const struct mm_sup_child *lead, size_t from)
{
	for (size_t i = from; lead->group && i < s->n_children; i++)
		if (s->children[i].name && s->children[i].group == lead->group &&
		    &s->children[i] != lead)
			return i;
	return s->n_children;
}

/* Spawn the process of <lead>'s group: every session of it, the lead first. 0 or -errno. */
int mm_sup_group_spawn(struct mm_sup *s, struct mm_sup_child *lead)
{
	struct mm_sup_child **v = calloc(s->n_children + 1, sizeof(*v));
	uint32_t n = 0;
	int r;

	if (!v)
		return -ENOMEM;
	v[n++] = lead;
	for (size_t i = mm_sup_group_next(s, lead, 0); i < s->n_children;
	     i = mm_sup_group_next(s, lead, i + 1))
		v[n++] = &s->children[i];
	for (uint32_t k = 0; k < n; k++)
		v[k]->gidx = k;
	r = mm_sup_child_spawn(s, v, n);
	for (uint32_t k = 1; r == 0 && k < n; k++)
		v[k]->pid = lead->pid;
	free(v);
	return r;
}

/* May <c> join a new group: a session not started, and not on its way out? */
static bool startable(const struct mm_sup_child *c)
{
	return c->name && !c->remove && !c->group && c->pid == 0 && c->fsm.state == MM_CHILD_DOWN;
}

/*
 * Start every session that is not running yet, in config order: each in its own process, or
 * K at a time in one (workers.group_size).
 */
void mm_sup_groups_start(struct mm_sup *s)
{
	uint32_t k = (uint32_t)s->cfg->workers.group_size, in = 0;
	struct mm_sup_child *lead = NULL;

	for (size_t i = 0; i < s->n_children; i++) {
		struct mm_sup_child *c = &s->children[i];

		if (!startable(c))
			continue;
		if (k <= 1) {
			mm_sup_spawn(s, c);
			continue;
		}
		if (!lead || in == k) {
			if (lead)
				mm_sup_spawn(s, lead);
			lead = c;
			in = 0;
			c->lead = true;
			c->group = ++s->groups;
		}
		c->group = lead->group;
		c->gidx = in++;
	}
	if (lead)
		mm_sup_spawn(s, lead);
}

/*
 * The process of <lead>'s group went down on request (a removal, a change, a restart): the
 * group dissolves; removed sessions go, changed ones get new rings if they need them, and the
 * others form groups again and start.
 */
void mm_sup_group_down(struct mm_sup *s, struct mm_sup_child *lead)
{
	uint32_t g = lead->group;

	for (size_t i = 0; i < s->n_children; i++) {
		struct mm_sup_child *c = &s->children[i];

		if (!c->name || c->group != g)
			continue;
		c->group = 0;
		c->gidx = 0;
		c->lead = false;
		c->pid = 0;
		mm_sup_session_down(s, c);
	}
	mm_sup_groups_start(s);
	mm_sup_router_tick(s);
}

/*
 * The connect pacer every worker shares (shm/pace.h): created once at start (without it the
 * workers connect unpaced, which a log line says), set from workers.connect_rate and
 * connect_burst now and at every reload.
 */
void mm_sup_pace_apply(struct mm_sup *s)
{
	int r;

	if (!s->pace && s->pace_fd < 0) {
		r = mm_shm_pace_create("mqttmux-pace", &s->pace_fd, &s->pace);
		if (r < 0) {
			s->pace_fd = -1;
			s->pace = NULL;
			mm_log_errno(r, "no connect pacer: workers connect without one");
			return;
		}
	}
	mm_shm_pace_set(s->pace, (uint32_t)s->cfg->workers.connect_rate,
			(uint32_t)s->cfg->workers.connect_burst);
}

/* Unmap and close the pacer (mm_sup_done). */
void mm_sup_pace_close(struct mm_sup *s)
{
	mm_shm_pace_detach(s->pace);
	if (s->pace_fd >= 0)
		(void)close(s->pace_fd);
	s->pace = NULL;
	s->pace_fd = -1;
}
