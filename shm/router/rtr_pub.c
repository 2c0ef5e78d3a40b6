/* SPDX-License-Identifier: MIT */
/*
 * Towards the workers: SUB/UNSUB records when a filter's reference count changes, client
 * publishes from the (untrusted) pub-rings into the target session's cmd-ring under a
 * router-assigned req_id, and the workers' COMPLETION records back to the issuing client as
 * PUB_DONE.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "records.h"
#include "rtr.h"

#define INTERNAL_REQ (1ull << 63) /* req_id of a SUB/UNSUB the router issues for itself */

/* Write one SUB or UNSUB into <s>'s cmd-ring and commit it (failures counted and logged). */
static void put_sub(struct mm_rtr_session *s, uint64_t req_id, const char *filter, int qos,
		    uint8_t flags)
{
	bool unsub = qos == MM_RTR_SUB_INACTIVE;
	struct mm_rec_sub rec = { .req_id = req_id,
				  .qos = (uint8_t)(unsub ? 0 : qos),
				  .flags = flags,
				  .filter = { (const uint8_t *)filter, (uint32_t)strlen(filter) } };
	void *p;
	int rc;

	if (s->dead)
		return;
	rc = mm_shm_ring_reserve(&s->cmd, (uint32_t)mm_rec_sub_size(&rec),
				 unsub ? MM_REC_CMD_UNSUB : MM_REC_CMD_SUB, 0, &p);
	if (rc < 0) {
		s->cmd_lost++;
		mm_log_errno(rc, "session '%s': cannot queue %s '%s'", s->name,
			     unsub ? "UNSUBSCRIBE" : "SUBSCRIBE", filter);
		return;
	}
	(void)mm_rec_sub_pack(p, mm_rec_sub_size(&rec), &rec);
	(void)mm_shm_ring_commit(&s->cmd);
	mm_log(MM_LOG_DEBUG, "session '%s': %s '%s' q%d%s", s->name, unsub ? "unsub" : "sub",
	       filter, qos, flags & MM_REC_SUB_F_RETAINED ? " (retained wanted)" : "");
}

void mm_rtr_sub_changed(void *arg, uint32_t session, const char *filter, int old_qos, int new_qos)
{
	struct mm_rtr *r = arg;
	bool wants = r->retain_sub && new_qos != MM_RTR_SUB_INACTIVE;
	struct mm_rtr_session *s = mm_rtr_session_at(r, session);

	(void)old_qos;
	if (!s || s->removing || r->exiting)
		return; /* (a route for a session not there yet counts, but has no worker) */
	put_sub(s, INTERNAL_REQ | r->next_req++, filter, new_qos,
		wants ? MM_REC_SUB_F_RETAINED : 0);
	s->retain_sent |= wants;
}

/*
 * A new route of <filter> at <qos> on session <sess> (MM_RTR_SESSION_ALL: every session) was
 * added and wants the retained messages: every session its add did not already send a SUB to
 * gets one marked F_RETAINED, which its worker sends even for a filter it holds (at the QoS it
 * holds it with, if higher). mm_rtr_sub_room made room for it.
 */
void mm_rtr_retain_subscribe(struct mm_rtr *r, int sess, const char *filter, uint8_t qos)
{
	for (size_t i = 0; i < r->nsess; i++) {
		struct mm_rtr_session *s = r->sess[i];

		if (sess != MM_RTR_SESSION_ALL && (uint32_t)sess != s->idx)
			continue;
		if (!s->retain_sent)
			put_sub(s, INTERNAL_REQ | r->next_req++, filter, qos,
				MM_REC_SUB_F_RETAINED);
		s->retain_sent = false;
	}
}

/*
 * Before a route on session <sess> (MM_RTR_SESSION_ALL: every session) with a filter of <len>
 * bytes is added: does every cmd-ring it may need a SUB in have room for one? The router is
 * the rings' only producer, so the room stays until the SUB is written. A SUB may fill a ring
 * to half its size only: the other half stays for publishes, so a client adding routes as
 * fast as it can does not starve other clients' publishes on that session. Returns 0, -EAGAIN
 * (a ring is full for now), -EMSGSIZE (the filter never fits a ring), or -EIO (a broken ring).
 */
int mm_rtr_sub_room(struct mm_rtr *r, int sess, uint32_t len)
{
	struct mm_rec_sub rec = { .filter = { NULL, len } };
	uint32_t size = (uint32_t)mm_rec_sub_size(&rec);

	for (size_t i = 0; i < r->nsess; i++) {
		int rc;

		if ((sess != MM_RTR_SESSION_ALL && (uint32_t)sess != r->sess[i]->idx) ||
		    r->sess[i]->dead)
			continue;
		rc = mm_shm_ring_has_room(&r->sess[i]->cmd, size);
		if (rc == 0 || (rc > 0 && mm_shm_ring_fill_bytes(&r->sess[i]->cmd) + size >
						  r->sess[i]->cmd.cap / 2))
			return -EAGAIN;
		if (rc < 0)
			return rc == -EMSGSIZE ? rc : -EIO;
	}
	return 0;
}

static int pend_add(struct mm_rtr *r, uint64_t rreq, struct mm_rtr_client *c, uint64_t creq,
		    const struct mm_rtr_session *s, uint32_t bytes, struct mm_rtr_pubgrp *grp)
{
	struct mm_rtr_pend *p = malloc(sizeof(*p));

	if (!p)
		return -ENOMEM;
	*p = (struct mm_rtr_pend){ .rreq = rreq,
				   .creq = creq,
				   .cmd_end = s->cmd.pos,
				   .client = c->id,
				   .session = s->idx,
				   .bytes = bytes,
				   .grp = grp };
	p->next = r->pend[rreq % MM_RTR_PEND_BUCKETS];
	r->pend[rreq % MM_RTR_PEND_BUCKETS] = p;
	c->n_pend++;
	c->pend_bytes += bytes;
	return 0;
}

/* <p> is no longer in flight: its client may have room to publish again. */
static void pend_release(struct mm_rtr_client *cl, const struct mm_rtr_pend *p)
{
	if (!cl)
		return;
	cl->n_pend--;
	cl->pend_bytes -= p->bytes;
}

bool mm_rtr_publish_held(struct mm_rtr *r, struct mm_rtr_client *c)
{
	bool many = c->n_pend >= (uint32_t)r->clients->max_pending;
	bool big = c->pend_bytes >= r->clients->max_queued_bytes;

	if (c->pub_stalled || c->done_head)
		return true;
	if ((many || big) && !c->pend_limited)
		mm_rtr_stats_limit(r, many ? MM_RSTATS_LIM_PENDING : MM_RSTATS_LIM_QUEUED_BYTES);
	c->pend_limited = many || big;
	return c->pend_limited;
}

/* Remove and return the publish <rreq> (the caller frees it), or NULL. */
static struct mm_rtr_pend *pend_take(struct mm_rtr *r, uint64_t rreq)
{
	struct mm_rtr_pend **pp = &r->pend[rreq % MM_RTR_PEND_BUCKETS];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->rreq == rreq) {
			struct mm_rtr_pend *p = *pp;

			*pp = p->next;
			return p;
		}
	return NULL;
}

/* One part of a publish completed: tell the client, or count it into its group. */
static void pend_done(struct mm_rtr *r, struct mm_rtr_pend *p, int32_t result, int32_t reason)
{
	struct mm_rtr_pubgrp *g = p->grp;
	struct mm_rtr_client *cl = mm_rtr_client_find(r, p->client);

	pend_release(cl, p);
	if (g) {
		if (result < 0 && g->result == 0) {
			g->result = result;
			g->reason = reason;
		}
		if (--g->remaining)
			return;
		result = g->result;
		reason = g->reason;
		free(g);
	}
	mm_rtr_stats_pub_done(r, cl, result);
	if (cl && mm_rtr_put_pub_done(cl, p->creq, result, reason) < 0)
		mm_log(MM_LOG_WARNING, "client %u: out of memory, PUB_DONE lost", cl->id);
}

void mm_rtr_pend_drop_all(struct mm_rtr *r)
{
	for (size_t i = 0; i < MM_RTR_PEND_BUCKETS; i++)
		while (r->pend[i]) {
			struct mm_rtr_pend *p = r->pend[i];

			r->pend[i] = p->next;
			if (p->grp && --p->grp->remaining == 0)
				free(p->grp);
			free(p);
		}
}

static void resub_one(void *arg, const char *filter, int qos)
{
	struct mm_rtr *r = arg;

	mm_rtr_sub_changed(r, r->resub_session, filter, MM_RTR_SUB_INACTIVE, qos);
}

/*
 * Fail with -ECONNRESET every publish to session <idx> whose PUB record ends at or before
 * <cmd_pos> in its cmd-ring (UINT64_MAX: all of them): a worker took it and ended before it
 * completed, so it may or may not have reached the broker. Returns how many failed.
 */
size_t mm_rtr_pend_fail_session(struct mm_rtr *r, uint32_t idx, uint64_t cmd_pos)
{
	size_t failed = 0;

	for (size_t i = 0; i < MM_RTR_PEND_BUCKETS; i++)
		for (struct mm_rtr_pend **pp = &r->pend[i]; *pp;) {
			struct mm_rtr_pend *p = *pp;

			if (p->session != idx || p->cmd_end > cmd_pos) {
				pp = &p->next;
				continue;
			}
			*pp = p->next;
			pend_done(r, p, -ECONNRESET, 0);
			free(p);
			failed++;
		}
	return failed;
}

/*
 * A new worker process runs session <s>: the filters of the routes are subscribed again, and
 * every publish that the previous process took from the cmd-ring (its PUB record ends at or
 * before <cmd_pos>) but did not complete fails with -ECONNRESET: it may or may not have
 * reached the broker. Publishes still in the ring are executed by the new process.
 */
void mm_rtr_worker_started(struct mm_rtr *r, struct mm_rtr_session *s, uint64_t cmd_pos)
{
	size_t failed = mm_rtr_pend_fail_session(r, s->idx, cmd_pos);
	int n;

	r->resub_session = s->idx;
	n = mm_rtr_sub_filters_for_session(&r->sub, s->idx, resub_one, r);
	mm_log(MM_LOG_INFO,
	       "session '%s': new worker; %d filter(s) sent again, %zu publish(es) "
	       "failed",
	       s->name, n, failed);
	mm_rtr_commit_clients(r);
}

void mm_rtr_completion(struct mm_rtr *r, struct mm_rtr_session *s, const struct mm_shm_rec *rec)
{
	struct mm_rec_completion c;
	struct mm_rtr_pend *p;

	if (mm_rec_completion_unpack(rec->data, rec->len, &c) < 0)
		return;
	if (c.req_id & INTERNAL_REQ) {
		if (c.result < 0)
			mm_log(MM_LOG_WARNING, "session '%s': command %u failed: %d", s->name,
			       c.cmd, c.result);
		return;
	}
	p = pend_take(r, c.req_id);
	if (!p)
		return;
	pend_done(r, p, c.result, c.reason);
	free(p);
}

static int done_reason(struct mm_rtr *r, struct mm_rtr_client *c, uint64_t creq, int result,
		       int32_t reason)
{
	mm_rtr_stats_pub_done(r, c, result);
	if (mm_rtr_put_pub_done(c, creq, result, reason) < 0)
		mm_log(MM_LOG_WARNING, "client %u: out of memory, PUB_DONE lost", c->id);
	return 0;
}

static int done_now(struct mm_rtr *r, struct mm_rtr_client *c, uint64_t creq, int result)
{
	return done_reason(r, c, creq, result, 0);
}

/*
 * A publish over session <s>'s max_message_size (its topic, payload and properties): done at
 * once with -EMSGSIZE and the limit as the reason (docs/protocol.md, PUB_DONE), so the client
 * can name it. Returns 1 if so, 0 if it fits.
 */
static int over_limit(struct mm_rtr *r, struct mm_rtr_client *c, const struct mm_rec_client_pub *cp,
		      const struct mm_rtr_session *s)
{
	uint64_t body = (uint64_t)cp->topic.len + cp->payload.len + cp->props.len;

	if (body <= s->max_msg)
		return 0;
	done_reason(r, c, cp->req_id, -EMSGSIZE, (int32_t)s->max_msg);
	return 1;
}

static void pub_rec(struct mm_rec_pub *wp, uint64_t rreq, const struct mm_rec_client_pub *cp)
{
	*wp = (struct mm_rec_pub){ .req_id = rreq,
				   .qos = cp->qos,
				   .flags = cp->flags & MM_REC_F_RETAIN,
				   .topic = { cp->topic.p, cp->topic.len },
				   .payload = { cp->payload.p, cp->payload.len },
				   .props = { cp->props.p, cp->props.len } };
}

/*
 * Room for <size> bytes in session <s>'s cmd-ring? 1 yes, 0 no (the space doorbell is armed:
 * retry then), <0 never (-EMSGSIZE) or a broken ring.
 */
static int cmd_room(struct mm_rtr_session *s, uint32_t size)
{
	int rc = mm_shm_ring_has_room(&s->cmd, size);

	if (rc != 0)
		return rc;
	if (mm_shm_ring_producer_arm(&s->cmd, size) == 0)
		return 0;
	mm_shm_ring_producer_disarm(&s->cmd);
	return 1;
}

/* Write one PUB into <s>'s cmd-ring (room checked) and remember it. Returns 0 or -errno. */
static int put_pub(struct mm_rtr *r, struct mm_rtr_client *c, struct mm_rtr_session *s,
		   const struct mm_rec_client_pub *cp, struct mm_rtr_pubgrp *grp)
{
	struct mm_rec_pub wp;
	void *p;
	int rc;

	pub_rec(&wp, r->next_req, cp);
	rc = mm_shm_ring_reserve(&s->cmd, (uint32_t)mm_rec_pub_size(&wp), MM_REC_CMD_PUB, 0, &p);
	if (rc < 0)
		return rc;
	(void)mm_rec_pub_pack(p, mm_rec_pub_size(&wp), &wp);
	s->cmd_dirty = true;
	return pend_add(r, r->next_req++, c, cp->req_id, s, (uint32_t)mm_rec_pub_size(&wp), grp);
}

/*
 * Does a publish of <c> to every session go to <s>? Not if it is broken or being replaced, nor
 * if its clients block does not name <c>.
 */
static bool pub_all_takes(const struct mm_rtr_client *c, const struct mm_rtr_session *s)
{
	return !s->dead && !s->retiring && mm_rtr_may(c, s);
}

/*
 * A publish to every session: every live session's cmd-ring must have room first, so the
 * parts go out together or not at all. Completes (one PUB_DONE) when every part has.
 */
static int forward_pub_all(struct mm_rtr *r, struct mm_rtr_client *c,
			   const struct mm_rec_client_pub *cp)
{
	struct mm_rtr_pubgrp *g;
	struct mm_rec_pub wp;
	uint32_t size, live = 0;

	pub_rec(&wp, 0, cp);
	size = (uint32_t)mm_rec_pub_size(&wp);
	for (size_t i = 0; i < r->nsess; i++) {
		int rc;

		if (!pub_all_takes(c, r->sess[i]))
			continue;
		if (over_limit(r, c, cp, r->sess[i]))
			return 0;
		rc = cmd_room(r->sess[i], size);
		if (rc == 0)
			return -EAGAIN;
		if (rc < 0)
			return done_now(r, c, cp->req_id, rc == -EPROTO ? -EIO : rc);
		live++;
	}
	if (live == 0)
		return done_now(r, c, cp->req_id, -ENOENT);
	g = calloc(1, sizeof(*g));
	if (!g)
		return done_now(r, c, cp->req_id, -ENOMEM);
	*g = (struct mm_rtr_pubgrp){ .creq = cp->req_id, .client = c->id, .remaining = live };
	for (size_t i = 0; i < r->nsess; i++) {
		if (!pub_all_takes(c, r->sess[i]))
			continue;
		if (put_pub(r, c, r->sess[i], cp, g) < 0 && g->result == 0)
			g->result = -ENOMEM; /* reserve cannot fail after the room check */
		if (g->result < 0 && --g->remaining == 0) {
			int32_t res = g->result;

			free(g);
			return done_now(r, c, cp->req_id, res);
		}
	}
	return 0;
}

/*
 * Forward one CLIENT_PUB to its session's cmd-ring. Returns 0 (done: popped), -EAGAIN (the
 * cmd-ring is full: retry later, not popped) or -EPROTO (garbage).
 */
static int forward_pub(struct mm_rtr *r, struct mm_rtr_client *c, const struct mm_shm_rec *rec)
{
	struct mm_rec_client_pub cp;
	struct mm_rec_pub wp;
	struct mm_rtr_session *s;
	int rc;

	if (rec->type != MM_REC_CLIENT_PUB || rec->len > r->scratch_cap)
		return -EPROTO;
	memcpy(r->scratch, rec->data, rec->len); /* a private copy: the client may rewrite it */
	if (mm_rec_client_pub_unpack(r->scratch, rec->len, &cp) < 0)
		return -EPROTO;
	if (!c->pub_counted) {
		c->pub_counted = true; /* once, however often a full cmd-ring makes us retry */
		c->d.pub_requests++;
		r->d.pub_requests++;
	}
	if (cp.flags & MM_REC_F_ALL)
		return forward_pub_all(r, c, &cp);
	s = mm_rtr_session_named(r, (const char *)cp.session.p, cp.session.len);
	if (!s || s->dead)
		return done_now(r, c, cp.req_id, -ENOENT);
	if (!mm_rtr_may(c, s))
		return done_now(r, c, cp.req_id, -EACCES); /* its clients block (rtr_access.c) */
	if (over_limit(r, c, &cp, s))
		return 0;
	pub_rec(&wp, 0, &cp);
	rc = cmd_room(s, (uint32_t)mm_rec_pub_size(&wp));
	if (rc == 0)
		return -EAGAIN;
	if (rc > 0)
		rc = put_pub(r, c, s, &cp, NULL);
	return rc < 0 ? done_now(r, c, cp.req_id, rc == -EPROTO ? -EIO : rc) : 0;
}

static void commit_cmds(struct mm_rtr *r)
{
	for (size_t i = 0; i < r->nsess; i++)
		if (r->sess[i]->cmd_dirty) {
			(void)mm_shm_ring_commit(&r->sess[i]->cmd);
			r->sess[i]->cmd_dirty = false;
		}
}

/*
 * Drain up to MM_RTR_BATCH publishes of <c>; garbage disconnects it. Not while PUB_DONEs wait
 * for room in its delivery ring, nor past its bounds (mm_rtr_publish_held): a client that
 * publishes and never reads is slowed by its own full pub-ring, and its queue holds one batch
 * at most.
 */
void mm_rtr_drain_pub(struct mm_rtr *r, struct mm_rtr_client *c)
{
	struct mm_shm_rec rec;
	int rc = 0;

	for (int i = 0; i < MM_RTR_BATCH && !mm_rtr_publish_held(r, c); i++) {
		rc = mm_shm_ring_peek(&c->pub, &rec);
		if (rc <= 0)
			break;
		rc = forward_pub(r, c, &rec);
		if (rc != -EAGAIN)
			c->pub_counted = false;
		if (rc == -EAGAIN) {
			c->pub_stalled = true;
			rc = 0;
			break;
		}
		if (rc < 0)
			break;
		mm_shm_ring_pop(&c->pub);
	}
	commit_cmds(r);
	if (rc < 0) {
		(void)mm_rtr_send_error(c->sock, 0, EPROTO, true, "malformed pub-ring record");
		mm_rtr_client_drop(r, c, EPROTO, "malformed pub-ring record");
	} else {
		(void)mm_shm_ring_release(&c->pub);
	}
	mm_rtr_commit_clients(r);
}

/* A worker made room in its cmd-ring: stalled publishers may go on. */
void mm_rtr_cmd_space(struct mm_rtr *r, struct mm_rtr_session *s)
{
	(void)mm_shm_ring_doorbell_drain(s->fds[MM_FD_SESS_CMD_SPACE]);
	mm_shm_ring_producer_disarm(&s->cmd);
	for (size_t i = 0; i < r->ncl; i++)
		r->cl[i]->pub_stalled = false;
}
