/* SPDX-License-Identifier: MIT */
/*
 * The router's session table (docs/router.md, "Live sessions"): the sessions it drains and
 * feeds, in the order they were added, found by the index the supervisor gave each. The table comes
 * from the handoff blob at start and changes while the router runs through the supervisor's
 * SESSION_ADD and SESSION_REMOVE records: the router is never restarted for a session, and clients
 * of the other sessions notice nothing.
 *
 *   add     attach the six ring descriptors, watch the doorbells, let all-session routes apply
 *           (the worker is told to SUBSCRIBE their filters), tell clients: session_added.
 *   rings   SESSION_ADD of an index already there: the session's rings were made anew (a
 *           reload changed its ring size) after its worker stopped. What the old in-ring still
 *           holds is delivered, the publishes the old worker took fail, the new rings are
 *           attached; routes and their subscriptions stay (the new worker's STARTED resends
 *           them).
 *   remove  after the worker is gone: deliver what is left, fail the publishes it took, end the
 *           routes bound to that session and tell every client: session_removed.
 *
 * A session added while a namesake is still being removed (remove and add of the same name in
 * a row) takes over the name at once: ROUTE_ADD, publishes and SESSIONS find the new one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rtr.h"

struct mm_rtr_session *mm_rtr_session_at(const struct mm_rtr *r, uint32_t idx)
{
	return idx < r->n_by_idx ? r->by_idx[idx] : NULL;
}

/* The session that has the name <name> now (not one being replaced by a namesake), or NULL. */
struct mm_rtr_session *mm_rtr_session_named(const struct mm_rtr *r, const char *name, size_t len)
{
	for (size_t i = 0; i < r->nsess; i++) {
		struct mm_rtr_session *s = r->sess[i];

		if (!s->retiring && strlen(s->name) == len && !memcmp(s->name, name, len))
			return s;
	}
	return NULL;
}

static void close_fds(int *fds)
{
	for (int k = 0; k < MM_FD_SESS_N; k++) {
		if (fds[k] >= 0)
			close(fds[k]);
		fds[k] = -1;
	}
}

/* Stop watching <s>'s doorbells, unmap its rings, close its descriptors. */
static void rings_detach(struct mm_rtr *r, struct mm_rtr_session *s)
{
	if (s->fds[MM_FD_SESS_IN_DATA] >= 0)
		(void)epoll_ctl(r->epfd, EPOLL_CTL_DEL, s->fds[MM_FD_SESS_IN_DATA], NULL);
	if (s->fds[MM_FD_SESS_CMD_SPACE] >= 0)
		(void)epoll_ctl(r->epfd, EPOLL_CTL_DEL, s->fds[MM_FD_SESS_CMD_SPACE], NULL);
	mm_shm_ring_detach(&s->in);
	mm_shm_ring_detach(&s->cmd);
	close_fds(s->fds);
}

/* Take <fds> (ours from now on, closed on failure), map the rings, watch the doorbells. */
static int rings_attach(struct mm_rtr *r, struct mm_rtr_session *s, const int *fds)
{
	char why[MM_SHM_RING_WHY_MAX] = "";
	int rc;

	memcpy(s->fds, fds, sizeof(s->fds));
	rc = mm_shm_ring_attach(&s->in, s->fds[MM_FD_SESS_IN_RING], MM_SHM_RING_CONSUMER,
				s->fds[MM_FD_SESS_IN_DATA], s->fds[MM_FD_SESS_IN_SPACE], why,
				sizeof(why));
	if (rc < 0) {
		mm_log_errno(rc, "session '%s': in-ring refused (%s)", s->name, why);
		goto fail;
	}
	rc = mm_shm_ring_attach(&s->cmd, s->fds[MM_FD_SESS_CMD_RING], MM_SHM_RING_PRODUCER,
				s->fds[MM_FD_SESS_CMD_DATA], s->fds[MM_FD_SESS_CMD_SPACE], why,
				sizeof(why));
	if (rc < 0) {
		mm_log_errno(rc, "session '%s': cmd-ring refused (%s)", s->name, why);
		goto fail;
	}
	rc = mm_rtr_watch_edge(r, s->fds[MM_FD_SESS_IN_DATA], MM_RTR_T_IN_DATA, s->idx);
	if (rc == 0)
		rc = mm_rtr_watch(r, s->fds[MM_FD_SESS_CMD_SPACE], MM_RTR_T_CMD_SPACE, s->idx);
	if (rc == 0)
		return 0;
	mm_log_errno(rc, "session '%s': cannot watch its doorbells", s->name);
fail:
	rings_detach(r, s);
	return rc;
}

/* Room in the index for <idx> and one more session in the list. */
static int table_reserve(struct mm_rtr *r, uint32_t idx)
{
	if (idx >= r->n_by_idx) {
		size_t n = r->n_by_idx ? r->n_by_idx : 16;
		struct mm_rtr_session **p;

		while (n <= idx)
			n *= 2;
		p = reallocarray(r->by_idx, n, sizeof(*p));
		if (!p)
			return -ENOMEM;
		memset(p + r->n_by_idx, 0, (n - r->n_by_idx) * sizeof(*p));
		r->by_idx = p;
		r->n_by_idx = n;
	}
	if (r->nsess == r->cap_sess) {
		size_t n = r->cap_sess ? 2 * r->cap_sess : 16;
		struct mm_rtr_session **p = reallocarray(r->sess, n, sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->sess = p;
		r->cap_sess = n;
	}
	return 0;
}

/* A CLIENT_EVENT of <kind> about <s> (session_added, session_removed) to every client. */
static void announce(struct mm_rtr *r, const struct mm_rtr_session *s, uint16_t kind)
{
	struct timespec ts;
	struct mm_rec_event e = { .kind = kind };

	clock_gettime(CLOCK_REALTIME, &ts);
	e.time_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	mm_rtr_forward_event(r, s, &e);
	mm_rtr_commit_clients(r);
}

/*
 * Deliver what <s>'s in-ring still holds (its worker is gone), as far as clients take it:
 * a blocking client that keeps its ring full, or clients of a previous router not back yet,
 * stop it. Returns the bytes left behind.
 */
static uint64_t drain_rest(struct mm_rtr *r, struct mm_rtr_session *s)
{
	uint64_t left = mm_shm_ring_fill_bytes(&s->in), before;

	s->blocked = false;
	do {
		before = left;
		mm_rtr_drain_session(r, s);
		left = mm_shm_ring_fill_bytes(&s->in);
	} while (left && left < before && !s->dead);
	return s->dead ? 0 : left;
}

/* The old worker and its rings are gone: what it held is delivered or failed. */
static void retire_rings(struct mm_rtr *r, struct mm_rtr_session *s, const char *why)
{
	uint64_t left = drain_rest(r, s);
	size_t failed = mm_rtr_pend_fail_session(r, s->idx, UINT64_MAX);

	mm_rtr_held_drop(r, s);
	if (left || failed)
		mm_log(MM_LOG_WARNING,
		       "session '%s' %s: %llu byte(s) of messages undelivered, %zu publish(es) "
		       "failed",
		       s->name, why, (unsigned long long)left, failed);
	rings_detach(r, s);
	s->blocked = s->held = s->dead = s->cmd_dirty = s->armed = false;
}

/* SESSION_ADD of an index the table has: new rings for it (see the file comment). */
/* Are <a> and <b> descriptors of the same file? */
static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static int rings_replace(struct mm_rtr *r, struct mm_rtr_session *s, const int *fds)
{
	int own[MM_FD_SESS_N], rc;

	if (same_file(s->fds[MM_FD_SESS_IN_RING], fds[MM_FD_SESS_IN_RING])) {
		memcpy(own, fds, sizeof(own)); /* the same rings: only max_msg may be new */
		close_fds(own);
		return 0;
	}
	retire_rings(r, s, "gets new rings");
	rc = rings_attach(r, s, fds);
	if (rc < 0) {
		s->dead = true;
		return rc;
	}
	mm_log(MM_LOG_INFO, "session '%s' [%u]: new rings", s->name, s->idx);
	return 0;
}

/* <s> takes e's access lists (the previous ones are freed). */
static void take_access(struct mm_rtr_session *s, struct mm_handoff_rsess *e)
{
	mm_handoff_rsess_done(&(struct mm_handoff_rsess){ .access = s->access });
	s->access = e->access;
	e->access = (struct mm_cfg_access){ 0 };
}

/*
 * Add session e->idx called e->name with its six ring descriptors <fds> (taken: closed on
 * failure), or give session e->idx new rings (or only a new max_message_size, the same rings
 * again). The session takes e->access (its clients block), also on a session it has.
 * <tell>: clients hear session_added (not for the table the router starts with). Returns 0,
 * -EINVAL, -ENOMEM or the -errno of attaching.
 */
int mm_rtr_session_add(struct mm_rtr *r, struct mm_handoff_rsess *e, const int *fds, bool tell)
{
	struct mm_rtr_session *s = mm_rtr_session_at(r, e->idx), *old;
	uint32_t idx = e->idx;
	const char *name = e->name;
	int rc;

	if (s && !strcmp(s->name, name)) {
		s->max_msg = e->max_msg;
		take_access(s, e);
		return rings_replace(r, s, fds);
	}
	rc = idx >= MM_RTR_SESSION_MAX || s || !mm_cfg_session_name_valid(name)
		     ? -EINVAL
		     : table_reserve(r, idx);
	s = rc == 0 ? calloc(1, sizeof(*s)) : NULL;
	if (!s) {
		int own[MM_FD_SESS_N];

		memcpy(own, fds, sizeof(own));
		close_fds(own);
		return rc < 0 ? rc : -ENOMEM;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->idx = idx;
	s->max_msg = e->max_msg;
	s->state = 0xff;
	rc = rings_attach(r, s, fds);
	if (rc < 0) {
		free(s);
		return rc;
	}
	take_access(s, e);
	old = mm_rtr_session_named(r, name, strlen(name));
	r->by_idx[idx] = s;
	r->sess[r->nsess++] = s;
	/* in the table first: the SUBs of all-session filters go into its cmd-ring */
	rc = mm_rtr_sub_session_added(&r->sub, idx);
	if (rc < 0) {
		r->by_idx[idx] = NULL;
		r->nsess--;
		rings_detach(r, s);
		mm_handoff_rsess_done(&(struct mm_handoff_rsess){ .access = s->access });
		free(s);
		return rc;
	}
	if (old)
		old->retiring = true;
	if (tell) {
		mm_log(MM_LOG_INFO, "session '%s' [%u] added", name, idx);
		announce(r, s, MM_CLIENT_EV_SESSION_ADDED);
	}
	return 0;
}

/* mm_rtr_sub_remove_session()'s report: one route of a removed session is gone. */
static void route_ended(void *arg, uint32_t client, uint32_t route_id)
{
	struct mm_rtr_client *c = mm_rtr_client_find(arg, client);

	(void)route_id;
	if (c && c->nroutes)
		c->nroutes--;
}

/*
 * Remove session <idx> (its worker is gone): see the file comment. Returns 0 or -ENOENT.
 */
int mm_rtr_session_remove(struct mm_rtr *r, uint32_t idx)
{
	struct mm_rtr_session *s = mm_rtr_session_at(r, idx);
	size_t i;
	int routes;

	if (!s)
		return -ENOENT;
	retire_rings(r, s, "removed");
	s->removing = true; /* no SUBSCRIBE changes for it from here on */
	routes = mm_rtr_sub_remove_session(&r->sub, idx, route_ended, r);
	(void)mm_rtr_sub_session_removed(&r->sub, idx);
	mm_rtr_retain_session_gone(r, idx);
	announce(r, s, MM_CLIENT_EV_SESSION_REMOVED);
	mm_log(MM_LOG_INFO, "session '%s' [%u] removed; %d route(s) ended", s->name, idx, routes);
	for (i = 0; r->sess[i] != s; i++)
		;
	memmove(&r->sess[i], &r->sess[i + 1], (--r->nsess - i) * sizeof(*r->sess));
	r->by_idx[idx] = NULL;
	free(s->held_ids);
	mm_handoff_rsess_done(&(struct mm_handoff_rsess){ .access = s->access });
	free(s);
	return 0;
}

/* Release every session (the router stops). */
void mm_rtr_table_free(struct mm_rtr *r)
{
	for (size_t i = 0; i < r->nsess; i++) {
		rings_detach(r, r->sess[i]);
		free(r->sess[i]->held_ids);
		mm_handoff_rsess_done(&(struct mm_handoff_rsess){ .access = r->sess[i]->access });
		free(r->sess[i]);
	}
	free(r->sess);
	free(r->by_idx);
	r->sess = r->by_idx = NULL;
	r->nsess = r->cap_sess = r->n_by_idx = 0;
}
