/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux, the data side: mqttmux_dispatch over the delivery ring (DELIVER to routes, GAP
 * to the gap callback, PUB_DONE to waiting publishes, CLIENT_EVENT to event handlers), the
 * listen queues and mqttmux_next. Publishes are client_pub.c, the connection itself client.c;
 * while the router is away, dispatch hands over to client_conn.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "client_int.h"
#include "mm_time.h"

/* Copy <m> (views) into one allocation for a listen queue. */
static struct mm_cl_qmsg *msg_copy(const struct mqttmux_msg *m)
{
	size_t sl = strlen(m->session) + 1, tl = m->topic_len + 1;
	struct mm_cl_qmsg *q = malloc(sizeof(*q) + sl + tl + m->payload_len + m->props_len);
	char *p;

	if (!q)
		return NULL;
	q->m = *m;
	p = (char *)(q + 1);
	q->m.session = memcpy(p, m->session, sl);
	q->m.topic = memcpy(p + sl, m->topic, tl);
	p += sl + tl;
	q->m.payload = m->payload_len ? memcpy(p, m->payload, m->payload_len) : NULL;
	q->m.props = m->props_len ? memcpy(p + m->payload_len, m->props, m->props_len) : NULL;
	return q;
}

static void route_deliver(struct mqttmux_route *r, const struct mqttmux_msg *m)
{
	struct mm_cl_qmsg *q;

	if (r->fn) {
		r->fn(r, m, r->ud);
		return;
	}
	if (r->n == r->depth || !(q = msg_copy(m))) {
		r->dropped++;
		return;
	}
	r->q[(r->head + r->n++) % r->depth] = q;
}

/*
 * Room for the NUL-terminated strings of one record: c->scratch for the outermost dispatch; a
 * nested one (a callback that publishes) must not overwrite what the outer callback still
 * reads, so it gets its own allocation (scratch_put frees it). NULL without memory.
 */
static char *scratch_get(struct mqttmux *c, size_t n)
{
	return c->depth <= 1 ? c->scratch : malloc(n);
}

static void scratch_put(struct mqttmux *c, char *p)
{
	if (p != c->scratch)
		free(p);
}

/* Fill <m> from a DELIVER; session and topic are copied to <buf> to get their NULs. */
static void msg_from_deliver(char *buf, const struct mm_rec_deliver *d, struct mqttmux_msg *m)
{
	char *s = buf, *t = buf + d->session.len + 1;

	memcpy(s, d->session.p, d->session.len);
	s[d->session.len] = '\0';
	memcpy(t, d->topic.p, d->topic.len);
	t[d->topic.len] = '\0';
	*m = (struct mqttmux_msg){ .session = s,
				   .topic = t,
				   .topic_len = d->topic.len,
				   .payload = d->payload.len ? d->payload.p : NULL,
				   .payload_len = d->payload.len,
				   .props = d->props.len ? d->props.p : NULL,
				   .props_len = d->props.len,
				   .recv_ns = d->recv_ns,
				   .mid = d->mid,
				   .session_idx = d->session_idx,
				   .qos = d->qos,
				   .retain = d->flags & MM_REC_F_RETAIN,
				   .dup = d->flags & MM_REC_F_DUP };
}

static int on_deliver(struct mqttmux *c, const struct mm_shm_rec *rec)
{
	struct mm_rec_deliver d;
	struct mqttmux_msg m;
	struct mqttmux_route *r;
	char *buf;

	if (mm_rec_deliver_unpack(rec->data, rec->len, &d) < 0 ||
	    d.topic.len > MM_PROTO_MAX_FRAME || d.session.len > MM_PROTO_NAME_MAX)
		return -EPROTO;
	/* delivered again by a restarted router: already handled, say nothing */
	if (!mm_cl_seen_fresh(&c->seen, d.session.p, d.session.len, d.session_idx, d.seq))
		return 0;
	buf = scratch_get(c, (size_t)d.session.len + d.topic.len + 2);
	if (!buf)
		return 0; /* lost to ENOMEM in a nested dispatch, like a full listen queue */
	msg_from_deliver(buf, &d, &m);
	/* Each id is looked up again: a callback may have stopped any route, even its own. */
	for (unsigned i = 0; i < d.routes.n; i++)
		if ((r = mm_cl_route_find(c, mm_rec_ids_get(&d.routes, i))))
			route_deliver(r, &m);
	scratch_put(c, buf);
	return 0;
}

static int on_gap(struct mqttmux *c, const struct mm_shm_rec *rec)
{
	struct mm_rec_gap g;
	char s[MM_PROTO_NAME_MAX + 1];

	if (mm_rec_gap_unpack(rec->data, rec->len, &g) < 0)
		return -EPROTO;
	c->lost += g.lost;
	memcpy(s, g.session.p, g.session.len);
	s[g.session.len] = '\0';
	if (c->gap_fn)
		c->gap_fn(c, g.session_idx == MM_REC_SESSION_ANY ? NULL : s, g.lost, c->gap_ud);
	mm_cl_gap_event(c, g.session_idx == MM_REC_SESSION_ANY ? NULL : s, g.lost);
	return 0;
}

static int on_pub_done(struct mqttmux *c, const struct mm_shm_rec *rec)
{
	struct mm_rec_pub_done d;
	struct mm_cl_pub **pp, *p;

	if (mm_rec_pub_done_unpack(rec->data, rec->len, &d) < 0)
		return -EPROTO;
	for (pp = &c->pubs; *pp && (*pp)->req_id != d.req_id; pp = &(*pp)->next)
		;
	if (!(p = *pp))
		return 0;
	*pp = p->next;
	p->reason = d.reason;
	mm_cl_pub_complete(c, p, d.result > 0 ? -EPROTO : d.result);
	return 0;
}

/*
 * Complete <p>, already unlinked from c->pubs, with <result>: report a failure as an event,
 * then wake the blocking caller or run the async callback and free it.
 */
void mm_cl_pub_complete(struct mqttmux *c, struct mm_cl_pub *p, int result)
{
	p->result = result;
	p->done = true;
	if (result < 0)
		mm_cl_pub_failed(c, p);
	if (!p->async)
		return;
	if (p->fn)
		p->fn(c, p->result, p->ud);
	free(p);
}

static int handle_rec(struct mqttmux *c, const struct mm_shm_rec *rec)
{
	switch (rec->type) {
	case MM_REC_DELIVER:
		return on_deliver(c, rec);
	case MM_REC_GAP:
		return on_gap(c, rec);
	case MM_REC_PUB_DONE:
		return on_pub_done(c, rec);
	case MM_REC_CLIENT_EVENT:
		return mm_cl_on_client_event(c, rec);
	default:
		return 0; /* future kinds */
	}
}

/*
 * Handle up to MM_CL_BUDGET records. Each is popped before its callbacks run, so a nested
 * dispatch (a callback that publishes) never sees it again; nothing is released while a
 * callback may still hold a view (depth > 1). Returns the count or -EPROTO (then for good).
 */
int mm_cl_drain(struct mqttmux *c)
{
	struct mm_shm_rec rec;
	int n = 0, rc = 0;

	while (n < MM_CL_BUDGET && (rc = mm_shm_ring_peek(&c->dlv, &rec)) == 1) {
		mm_shm_ring_pop(&c->dlv);
		n++;
		if ((rc = handle_rec(c, &rec)) < 0)
			break;
	}
	if (rc < 0 || (c->depth == 1 && mm_shm_ring_release(&c->dlv) < 0))
		return c->fatal = -EPROTO;
	return n;
}

/*
 * Before returning to a caller that may poll mqttmux_fd: arm the ring so that the router
 * rings the doorbell on its next commit. Returns 1 if records arrived meanwhile (or are left
 * over from the budget), 0 when armed, -EPROTO.
 */
static int leave_armed(struct mqttmux *c)
{
	int rc;

	if (c->depth != 1)
		return 0;
	rc = mm_shm_ring_consumer_arm(&c->dlv);
	return rc < 0 ? -EPROTO : rc;
}

/* What woke wait_events: the fds whose readiness the next turn must look at. */
#define FIRED_RING 1u /* the delivery ring's doorbell */
#define FIRED_SOCK 2u /* router.sock (frames, or its loss) */
#define FIRED_ALL  3u /* not known: the caller's own poll may have seen either */

static unsigned fired_of(const struct mqttmux *c, const struct epoll_event *ev, int n)
{
	unsigned f = 0;

	for (int i = 0; i < n; i++)
		f |= ev[i].data.fd == c->sock			     ? FIRED_SOCK
		     : ev[i].data.fd == c->fds[MM_PROTO_FD_DLV_DATA] ? FIRED_RING
								     : 0;
	return f;
}

/*
 * What is ready now, without sleeping: one epoll_wait(0) tells whether the doorbell or the
 * socket fired, where a doorbell read and a recvmsg would take two calls. It also takes the
 * doorbell's edge (the doorbell is edge-triggered in the epoll and never read), so a caller
 * polling mqttmux_fd does not see it again once the ring is drained. On failure: look at the
 * socket (the ring is looked at in every turn anyway).
 */
static unsigned probe_fired(struct mqttmux *c)
{
	struct epoll_event ev[3];
	int rc = epoll_wait(c->epfd, ev, 3, 0);

	return rc < 0 ? FIRED_SOCK : fired_of(c, ev, rc);
}

/*
 * Sleep on the epoll until the ring, the socket or the reconnect timer wakes us, at most <ms>.
 * Returns the FIRED_* bits of what woke it (FIRED_ALL when unsure), or -errno.
 */
static int wait_events(struct mqttmux *c, int ms)
{
	struct epoll_event ev[3];
	int rc;

	if (mm_cl_conn_is_offline(c->conn)) {
		rc = epoll_wait(c->epfd, ev, 3, ms);
		return rc < 0 && errno != EINTR ? -errno : (int)FIRED_ALL;
	}
	if (c->depth == 1) {
		rc = mm_shm_ring_consumer_arm(&c->dlv);
		if (rc != 0)
			return rc < 0 ? -EPROTO : (int)FIRED_ALL;
	} else if (ms < 0 || ms > 1) {
		ms = 1; /* nested: cannot arm without releasing; poll the ring instead */
	}
	rc = epoll_wait(c->epfd, ev, 3, ms);
	if (c->depth == 1)
		mm_shm_ring_consumer_disarm(&c->dlv);
	if (rc < 0)
		return errno != EINTR ? -errno : (int)FIRED_ALL;
	return (int)fired_of(c, ev, rc);
}

/*
 * While the router is away (or its loss not handled yet): drain the old ring, fail the
 * publishes, reconnect when due (client_conn.c). Returns records handled, 0 (nothing yet, or
 * back: the state is no longer offline), or -errno.
 */
static int dispatch_offline(struct mqttmux *c, int64_t deadline)
{
	int n, rc;

	for (;;) {
		n = mm_cl_offline(c);
		if (n != 0 || !mm_cl_conn_is_offline(c->conn) || mm_time_left_ms(deadline) == 0)
			return n;
		if ((rc = wait_events(c, mm_time_left_ms(deadline))) < 0)
			return rc;
	}
}

/*
 * One turn after another until records were handled or the deadline passed. A turn reads the
 * socket only when it may have fired, and never reads the doorbell (edge-triggered: the
 * epoll_wait that reports it takes it), which saves a read and a recvmsg per wake-up at
 * everyday rates (issue 14): after our own wait, what it reported; at entry, what a
 * non-blocking epoll_wait reports (probe_fired), unless the previous call ended right after
 * its own wait consumed what that reported (then anything newer shows in the ring, or in our
 * next wait). A caller polling mqttmux_fd that calls in for a frame on the socket then needs
 * one call more at most: a call that did not end that way leaves the next entry to probe. The
 * ring itself is looked at in every turn.
 */
static int dispatch_once(struct mqttmux *c, int64_t deadline)
{
	unsigned fired = c->entry_known && c->depth == 1 ? 0 : FIRED_ALL;
	bool waited = false;
	int n, rc;

	c->entry_known = false;
	for (;;) {
		mm_cl_flush_pending(c);
		if (mm_cl_conn_is_offline(c->conn) &&
		    ((n = dispatch_offline(c, deadline)) != 0 || mm_cl_conn_is_offline(c->conn)))
			return n;
		if (fired == FIRED_ALL)
			fired = probe_fired(c);
		rc = fired & FIRED_SOCK ? mm_cl_service_sock(c) : 0;
		if (rc == -ENOTCONN) {
			/* the router is gone: handled on the next turn */
			(void)mm_cl_fsm_feed(&c->conn, MM_CL_EV_NOTICED);
			fired = FIRED_ALL;
			waited = false;
			continue;
		}
		if (rc < 0)
			return rc;
		mm_cl_flush_pending(c); /* a SESSIONS answer may have made some */
		if ((n = mm_cl_drain(c)) < 0)
			return n;
		if (c->rereg)
			(void)mm_cl_rereg_send(c); /* sessions came (back) for some routes */
		if (n > 0 || mm_time_left_ms(deadline) == 0) {
			rc = leave_armed(c);
			if (rc < 0)
				return rc;
			/* more is pending: keep mqttmux_fd readable for the caller's poll */
			if (rc == 1 && n > 0)
				(void)eventfd_write(c->fds[MM_PROTO_FD_DLV_DATA], 1);
			if (rc == 1 && n == 0) {
				fired = FIRED_ALL;
				waited = false;
				continue;
			}
			c->entry_known = waited && rc == 0 && n > 0;
			return n;
		}
		if ((rc = wait_events(c, mm_time_left_ms(deadline))) < 0)
			return rc;
		fired = (unsigned)rc;
		waited = fired != FIRED_ALL;
	}
}

/* mqttmux_dispatch without argument checks; <timeout_ms> as there. */
int mm_cl_dispatch(struct mqttmux *c, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : mm_time_mono_ms() + timeout_ms;
	int rc;

	if (c->fatal)
		return c->fatal;
	c->depth++;
	rc = dispatch_once(c, deadline);
	c->depth--;
	return rc;
}

MQTTMUX_PUBLIC int mqttmux_dispatch(struct mqttmux *c, int timeout_ms)
{
	if (!c)
		return -EINVAL;
	return mm_cl_dispatch(c, timeout_ms);
}

MQTTMUX_PUBLIC int mqttmux_next(struct mqttmux_route *r, const struct mqttmux_msg **msg,
				int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : mm_time_mono_ms() + timeout_ms;
	struct mqttmux *c;
	uint32_t id;
	int rc;

	if (!r || !msg || r->fn)
		return -EINVAL;
	c = r->c;
	id = r->id;
	free(r->cur);
	r->cur = NULL;
	while (r->n == 0) {
		rc = mm_cl_dispatch(c, mm_time_left_ms(deadline));
		if (rc < 0 || (rc == 0 && mm_time_left_ms(deadline) == 0))
			return rc;
		if (mm_cl_route_find(c, id) != r) /* stopped by a callback meanwhile */
			return -EINVAL;
	}
	r->cur = r->q[r->head];
	r->head = (r->head + 1) % r->depth;
	r->n--;
	*msg = &r->cur->m;
	return 1;
}
