/* SPDX-License-Identifier: MIT */
/*
 * Fan-out: drain a session's in-ring in batches and write each message once into the delivery
 * ring of every client with a matching route (DELIVER with the matching route ids). A full
 * ring: policy drop counts the loss and writes a GAP before the client's next record; policy
 * block stops draining the session at that message until the client makes room. Delivery
 * rings are committed once per batch, so a busy pipeline makes no system call per message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mm_time.h"
#include "records.h"
#include "rtr.h"

/* Writes a GAP record for the losses of <c> not yet reported. Returns 0 or -EAGAIN etc. */
static int put_gap(struct mm_rtr *r, struct mm_rtr_client *c)
{
	const struct mm_rtr_session *s = mm_rtr_session_at(r, c->lost_session);
	struct mm_rec_gap g = { .lost = c->lost, .session_idx = MM_REC_SESSION_ANY };
	void *p;
	size_t sz;
	int rc;

	if (s) { /* (a session removed since has no name to give: the losses count as "any") */
		g.session_idx = s->idx;
		g.session.p = (const uint8_t *)s->name;
		g.session.len = (uint32_t)strlen(s->name);
	}
	sz = mm_rec_gap_size(&g);
	rc = mm_shm_ring_reserve(&c->dlv, (uint32_t)sz, MM_REC_GAP, 0, &p);
	if (rc < 0)
		return rc;
	(void)mm_rec_gap_pack(p, sz, &g);
	c->d.gaps++;
	r->d.gaps++;
	c->lost = 0;
	c->lost_session = MM_REC_SESSION_ANY;
	c->dirty = true;
	return 0;
}

static void count_lost(struct mm_rtr *r, struct mm_rtr_client *c, uint32_t session)
{
	r->d.drops++;
	if (c->lost == 0)
		c->lost_session = session;
	else if (c->lost_session != session)
		c->lost_session = MM_REC_SESSION_ANY;
	c->lost++;
	c->dropped++;
}

static void fill_deliver(struct mm_rec_deliver *d, const struct mm_rtr_session *s,
			 const struct mm_rec_msg *m, const struct mm_rtr_match *mt)
{
	*d = (struct mm_rec_deliver){
		.recv_ns = m->recv_ns,
		.seq = s->in.pos, /* the record's position: the client drops repeats after a restart
				   */
		.mid = m->mid,
		.session_idx = s->idx,
		.qos = m->qos,
		.flags = m->flags, /* one flag set: checked by mm_rec_msg_unpack */
		.routes = { .n = (uint16_t)mt->nids, .host = mt->ids },
		.session = { (const uint8_t *)s->name, (uint32_t)strlen(s->name) },
		.topic = { m->topic.p, m->topic.len },
		.payload = { m->payload.p, m->payload.len },
		.props = { m->props.p, m->props.len },
	};
}

#define GAP_ROOM (16 + MM_NAME_MAX + 16) /* a GAP record at most, with its header */

/*
 * Room a client needs for a <size>-byte record, with a GAP in front if losses are pending, and
 * the BLOCK_TIMEOUT event it may be owed (rtr_block.c).
 */
static uint32_t need_for(const struct mm_rtr *r, const struct mm_rtr_client *c, size_t size)
{
	return (uint32_t)(size + (c->lost ? GAP_ROOM : 0)) + mm_rtr_block_event_room(r, c);
}

/*
 * Reserve a <size>-byte record of <type> in <c>'s ring, after the GAP its pending losses owe
 * (never a GAP without the record it comes before). Returns 0 with *ret, or -errno: -EPROTO
 * marks the client dead; any other failure counts the record lost (from session <session>).
 */
static int reserve_after_gap(struct mm_rtr *r, struct mm_rtr_client *c, size_t size, uint16_t type,
			     uint32_t session, void **ret)
{
	bool owed = c->lost || c->owe_block_event;
	int rc = 0;

	if (owed && mm_shm_ring_has_room(&c->dlv, need_for(r, c, size)) != 1)
		rc = -EAGAIN;
	else if (c->lost)
		rc = put_gap(r, c);
	if (rc == 0 && c->owe_block_event)
		rc = mm_rtr_block_put_event(r, c);
	if (rc == 0)
		rc = mm_shm_ring_reserve(&c->dlv, (uint32_t)size, type, 0, ret);
	if (rc == -EPROTO)
		c->dead = true;
	else if (rc < 0)
		count_lost(r, c, session);
	return rc;
}

/* Write one DELIVER (after a pending GAP) into <c>'s ring, or count it lost. */
static void deliver_one(struct mm_rtr *r, struct mm_rtr_client *c, const struct mm_rtr_session *s,
			const struct mm_rec_deliver *d)
{
	size_t sz = mm_rec_deliver_size(d);
	void *p;
	int rc = reserve_after_gap(r, c, sz, MM_REC_DELIVER, s->idx, &p);

	if (rc < 0) {
		if (rc != -EPROTO)
			c->d.dropped++;
		return;
	}
	(void)mm_rec_deliver_pack(p, sz, d);
	c->dirty = true;
	c->delivered++;
	c->d.delivered++;
	r->d.deliveries++;
	mm_rtr_stats_latency(r, r->batch_now_ns, d->recv_ns);
}

static bool held_for(const struct mm_rtr_session *s, uint32_t client)
{
	for (uint32_t i = 0; i < s->n_held; i++)
		if (s->held_ids[i] == client)
			return true;
	return false;
}

/*
 * A BLOCK client stops <s> at a message: that message counts as matched and queued for each
 * of its clients now (once), and as delivered or dropped when it goes out.
 */
static void hold(struct mm_rtr *r, struct mm_rtr_session *s, const struct mm_rtr_match *mt, int n)
{
	if (s->held)
		return;
	if ((uint32_t)n > s->cap_held) {
		uint32_t *p = realloc(s->held_ids, (size_t)n * sizeof(*p));

		if (!p)
			return; /* not counted as queued meanwhile; counted when it goes out */
		s->held_ids = p;
		s->cap_held = (uint32_t)n;
	}
	s->n_held = 0;
	for (int i = 0; i < n; i++) {
		struct mm_rtr_client *c = mm_rtr_client_find(r, mt[i].client);

		if (!c || c->dead)
			continue;
		s->held_ids[s->n_held++] = c->id;
		c->d.matched++;
		c->d.queued++;
	}
	s->held = true;
}

/* The held message went out: clients it no longer matches (routes removed) lost it. */
static void unhold(struct mm_rtr *r, struct mm_rtr_session *s, const struct mm_rtr_match *mt, int n)
{
	for (uint32_t k = 0; k < s->n_held; k++) {
		struct mm_rtr_client *c = mm_rtr_client_find(r, s->held_ids[k]);
		int i = 0;

		while (i < n && mt[i].client != s->held_ids[k])
			i++;
		if (c && i == n) {
			c->d.queued--;
			c->d.dropped++;
			r->d.drops++;
		}
	}
	s->held = false;
	s->n_held = 0;
}

/* A BLOCK client without room for <d>: arm its space doorbell and return it; else NULL. */
static struct mm_rtr_client *find_blocker(struct mm_rtr *r, const struct mm_rtr_session *s,
					  const struct mm_rec_msg *m, const struct mm_rtr_match *mt,
					  int n)
{
	for (int i = 0; i < n; i++) {
		struct mm_rtr_client *c = mm_rtr_client_find(r, mt[i].client);
		struct mm_rec_deliver d;
		uint32_t need;

		if (!c || c->dead || c->forced_drop || mt[i].on_full != MM_CFG_ON_FULL_BLOCK)
			continue;
		fill_deliver(&d, s, m, &mt[i]);
		need = need_for(r, c, mm_rec_deliver_size(&d));
		if (mm_shm_ring_has_room(&c->dlv, need) != 0)
			continue; /* room, or never fits (-EMSGSIZE: dropped and counted) */
		if (mm_shm_ring_producer_arm(&c->dlv, need) == 0) {
			mm_rtr_block_start(c, s);
			return c;
		}
		mm_shm_ring_producer_disarm(&c->dlv);
	}
	return NULL;
}

/* <s> goes away with a message held: its clients lost it (counted as dropped). */
void mm_rtr_held_drop(struct mm_rtr *r, struct mm_rtr_session *s)
{
	if (s->held)
		unhold(r, s, NULL, 0);
}

/* Fan one MSG record out. Returns 0, or -EAGAIN when a BLOCK client lacks room (not popped). */
static int on_msg(struct mm_rtr *r, struct mm_rtr_session *s, const struct mm_shm_rec *rec)
{
	const struct mm_rtr_match *mt;
	struct mm_rec_msg m;
	struct mm_rtr_client *blocker;
	int n;

	if (mm_rec_msg_unpack(rec->data, rec->len, &m) < 0) {
		mm_log(MM_LOG_WARNING, "session '%s': malformed MSG record skipped", s->name);
		return 0;
	}
	n = mm_rtr_sub_match(&r->sub, s->idx, (const char *)m.topic.p, m.topic.len, &mt);
	if (n <= 0) {
		if (s->held)
			unhold(r, s, mt, 0);
		r->d.unrouted++;
		s->unrouted++;
		r->unrouted_pending = true;
		return 0;
	}
	/* a retained message only for the routes that asked for it (rtr_retain.c) */
	n = mm_rtr_retain_filter(r, s, &m, mt, n, &mt);
	if (n > 0) /* the session's clients block: only the clients that may see it */
		n = mm_rtr_access_filter(r, s, mt, n, &mt);
	if (n <= 0) {
		if (s->held)
			unhold(r, s, mt, 0);
		return 0;
	}
	blocker = find_blocker(r, s, &m, mt, n);
	if (blocker) {
		hold(r, s, mt, n);
		s->blocked = true;
		return -EAGAIN;
	}
	for (int i = 0; i < n; i++) {
		struct mm_rtr_client *c = mm_rtr_client_find(r, mt[i].client);
		struct mm_rec_deliver d;

		if (!c || c->dead)
			continue;
		if (s->held && held_for(s, c->id))
			c->d.queued--;
		else
			c->d.matched++;
		fill_deliver(&d, s, &m, &mt[i]);
		deliver_one(r, c, s, &d);
	}
	if (s->held)
		unhold(r, s, mt, n);
	s->msgs++;
	return 0;
}

/* Write a CLIENT_EVENT for every client that asked for events (policy drop, like a DELIVER). */
void mm_rtr_forward_event(struct mm_rtr *r, const struct mm_rtr_session *s,
			  const struct mm_rec_event *e)
{
	struct mm_rec_client_event ce = {
		.time_ns = e->time_ns,
		.session_idx = s->idx,
		.kind = e->kind,
		.code = e->code,
		.attempt = e->attempt,
		.delay_ms = e->delay_ms,
		.session = { (const uint8_t *)s->name, (uint32_t)strlen(s->name) },
		.text = { e->text.p, e->text.len > 1024 ? 1024 : e->text.len },
	};
	size_t sz = mm_rec_client_event_size(&ce);

	for (size_t i = 0; i < r->ncl; i++) {
		struct mm_rtr_client *c = r->cl[i];
		void *p;

		if (!c->registered || c->dead || !(c->features & MM_PROTO_FEAT_EVENTS) ||
		    reserve_after_gap(r, c, sz, MM_REC_CLIENT_EVENT, s->idx, &p) < 0)
			continue;
		(void)mm_rec_client_event_pack(p, sz, &ce);
		c->dirty = true;
		c->d.events++;
		r->d.events_fwd++;
	}
}

static void on_event(struct mm_rtr *r, struct mm_rtr_session *s, const struct mm_shm_rec *rec)
{
	struct mm_rec_event e;

	if (mm_rec_event_unpack(rec->data, rec->len, &e) < 0)
		return;
	s->events++;
	mm_log(MM_LOG_DEBUG, "session '%s': %s", s->name, mm_event_kind_to_string(e.kind));
	if (e.kind == MM_EV_STARTED) {
		mm_rtr_worker_started(r, s, (uint64_t)e.attempt << 32 | e.delay_ms);
		return;
	}
	s->state = (uint8_t)e.kind;
	/* the worker subscribes every filter again: the broker's retained messages follow */
	if (e.kind == MM_EV_CONNECTED || e.kind == MM_EV_READY)
		mm_rtr_retain_connected(r, s, e.kind == MM_EV_CONNECTED);
	mm_rtr_forward_event(r, s, &e);
}

/* Drain up to MM_RTR_BATCH records of <s>'s in-ring; commit and release once. */
void mm_rtr_drain_session(struct mm_rtr *r, struct mm_rtr_session *s)
{
	struct mm_shm_rec rec;
	int rc = 0;

	s->armed = false; /* arm_all() arms it again before the loop sleeps */
	if (r->holding)
		return; /* clients of the previous router are not all back yet (rtr_stats.c) */
	r->batch_now_ns = mm_time_real_ns();
	r->batch_mono_ns = mm_time_mono_ns();
	for (int i = 0; i < MM_RTR_BATCH && !s->dead && !s->blocked; i++) {
		rc = mm_shm_ring_peek(&s->in, &rec);
		if (rc <= 0)
			break;
		r->d.msgs_in++;
		if (rec.type == MM_REC_MSG && on_msg(r, s, &rec) < 0)
			break;
		if (rec.type == MM_REC_EVENT)
			on_event(r, s, &rec);
		else if (rec.type == MM_REC_COMPLETION)
			mm_rtr_completion(r, s, &rec);
		mm_shm_ring_pop(&s->in);
	}
	if (rc < 0) {
		s->dead = true;
		mm_log_errno(rc, "session '%s': in-ring corrupt, no longer drained", s->name);
	}
	mm_rtr_commit_clients(r);
	(void)mm_shm_ring_release(&s->in);
}

/* Publish what the batch wrote into each delivery ring; drop clients whose ring failed. */
void mm_rtr_commit_clients(struct mm_rtr *r)
{
	for (size_t i = 0; i < r->ncl;) {
		struct mm_rtr_client *c = r->cl[i];

		if (c->dirty && mm_shm_ring_commit(&c->dlv) >= 0)
			c->dirty = false;
		if (c->dead) {
			mm_rtr_client_drop(r, c, EPROTO, "delivery ring corrupt");
			continue;
		}
		i++;
	}
	mm_rtr_stats_flush(r);
}

/*
 * <c> is owed its BLOCK_TIMEOUT event (rtr_block.c): write it, and the GAP of what it lost,
 * as soon as its ring has room for both, without waiting for a message to carry them (after a
 * block timeout the session may have nothing more for it). No room: wake us when there is.
 */
void mm_rtr_flush_owed(struct mm_rtr *r, struct mm_rtr_client *c)
{
	uint32_t need = mm_rtr_block_event_room(r, c) + (c->lost ? GAP_ROOM : 0);

	if (!c->owe_block_event || c->dead)
		return;
	if (mm_shm_ring_has_room(&c->dlv, need) != 1) {
		(void)mm_shm_ring_producer_arm(&c->dlv, need);
		return;
	}
	if (mm_rtr_block_put_event(r, c) == 0 && c->lost)
		(void)put_gap(r, c);
	if (c->dirty && mm_shm_ring_commit(&c->dlv) >= 0)
		c->dirty = false;
}

/* <c> (or, with NULL, a client that went away) made room: blocked sessions may go on. */
void mm_rtr_unblock(struct mm_rtr *r, struct mm_rtr_client *c)
{
	if (c) {
		mm_rtr_block_progress(c);
		mm_shm_ring_producer_disarm(&c->dlv);
		mm_rtr_flush_owed(r, c);
		mm_rtr_flush_done(c); /* re-arms if completions still wait */
		if (c->dirty && mm_shm_ring_commit(&c->dlv) >= 0)
			c->dirty = false;
	}
	for (size_t i = 0; i < r->nsess; i++)
		r->sess[i]->blocked = false; /* the loop re-checks their rings before sleeping */
}
