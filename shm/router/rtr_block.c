/* SPDX-License-Identifier: MIT */
/*
 * Policy block, bounded (docs/router.md, "Fan-out"). A client whose routes block stops a
 * session at the first message it lacks room for (rtr_fanout.c, find_blocker); the session
 * goes on when the client frees room. One stuck client (stopped, hung, not dispatching) must
 * not hold a session forever: from the moment it first lacks room, it has clients.block_timeout
 * to make room again; a client that makes progress starts the clock afresh. Past it, the
 * client is switched to drop for the rest of its connection (a new connection, after a router
 * restart, blocks again), the sessions it held go on, and it is told: a BLOCK_TIMEOUT
 * CLIENT_EVENT (if it asked for events) before the next record that fits its ring, then GAPs
 * for what it lost meanwhile. The operator is told by a log line, the counters
 * block_timeouts (router and client slot) and, through them, a client_block_timeout event of
 * the daemon (the supervisor reads the slot when the router wakes it, as for client_gap).
 */
#include <string.h>

#include "log.h"
#include "mm_time.h"
#include "records.h"
#include "rtr.h"

static uint64_t timeout_ns(const struct mm_rtr *r)
{
	return (uint64_t)(r->clients->block_timeout * (double)MM_NS_PER_SEC);
}

/* <c> lacks room for a message of <s> that it blocks on: start its clock if not running. */
void mm_rtr_block_start(struct mm_rtr_client *c, const struct mm_rtr_session *s)
{
	if (c->block_since_ns)
		return;
	c->block_since_ns = mm_time_mono_ns();
	c->block_session = s->idx;
}

/* <c> made room: it is not stuck. */
void mm_rtr_block_progress(struct mm_rtr_client *c)
{
	c->block_since_ns = 0;
}

static void switch_to_drop(struct mm_rtr *r, struct mm_rtr_client *c)
{
	const struct mm_rtr_session *s = mm_rtr_session_at(r, c->block_session);
	const char *sess = s ? s->name : "?";

	mm_log(MM_LOG_WARNING,
	       "client %u ('%s', pid %ld) held session '%s' for %g s (clients.block_timeout): "
	       "switched to drop; its losses are counted and reported by GAPs",
	       c->id, c->name, (long)c->pid, sess, r->clients->block_timeout);
	c->forced_drop = true;
	c->block_since_ns = 0;
	c->owe_block_event = (c->features & MM_PROTO_FEAT_EVENTS) != 0;
	c->d.block_timeouts++;
	r->d.block_timeouts++;
	r->gap_pending = true; /* wake the supervisor: client_block_timeout */
	mm_shm_ring_producer_disarm(&c->dlv);
	mm_rtr_flush_owed(r, c);
	mm_rtr_unblock(r, NULL);
}

/*
 * Each loop turn: switch the clients past their block_timeout to drop. Returns <ms> or less:
 * the loop must wake up for the next deadline.
 */
int mm_rtr_block_tick(struct mm_rtr *r, int ms)
{
	uint64_t now = mm_time_mono_ns(), limit = timeout_ns(r);

	for (size_t i = 0; i < r->ncl; i++) {
		struct mm_rtr_client *c = r->cl[i];
		uint64_t left;

		if (!c->block_since_ns)
			continue;
		if (now - c->block_since_ns >= limit) {
			switch_to_drop(r, c);
			ms = 0; /* the sessions it held: drain them now */
			continue;
		}
		left = (c->block_since_ns + limit - now + MM_NS_PER_MS - 1) / MM_NS_PER_MS;
		if (ms < 0 || (uint64_t)ms > left)
			ms = (int)left;
	}
	return ms;
}

static const char Event_text[] = "clients.block_timeout: switched to drop";

/* The BLOCK_TIMEOUT CLIENT_EVENT owed to <c>. */
static struct mm_rec_client_event block_event(const struct mm_rtr *r, const struct mm_rtr_client *c)
{
	const struct mm_rtr_session *s = mm_rtr_session_at(r, c->block_session);
	const char *sess = s ? s->name : "";

	return (struct mm_rec_client_event){
		.session_idx = s ? c->block_session : MM_REC_SESSION_ANY,
		.kind = MM_CLIENT_EV_BLOCK_TIMEOUT,
		.code = (int32_t)r->clients->block_timeout,
		.session = { (const uint8_t *)sess, (uint32_t)strlen(sess) },
		.text = { (const uint8_t *)Event_text, sizeof(Event_text) - 1 },
	};
}

/* Room the owed BLOCK_TIMEOUT event takes in <c>'s ring, with its header; 0 if none owed. */
uint32_t mm_rtr_block_event_room(const struct mm_rtr *r, const struct mm_rtr_client *c)
{
	struct mm_rec_client_event ce;

	if (!c->owe_block_event)
		return 0;
	ce = block_event(r, c);
	return (uint32_t)mm_rec_client_event_size(&ce) + 16;
}

/* Write the owed BLOCK_TIMEOUT CLIENT_EVENT into <c>'s ring. Returns 0 or -errno. */
int mm_rtr_block_put_event(struct mm_rtr *r, struct mm_rtr_client *c)
{
	struct mm_rec_client_event ce = block_event(r, c);
	size_t sz;
	void *p;
	int rc;

	ce.time_ns = mm_time_real_ns();
	sz = mm_rec_client_event_size(&ce);
	rc = mm_shm_ring_reserve(&c->dlv, (uint32_t)sz, MM_REC_CLIENT_EVENT, 0, &p);

	if (rc < 0)
		return rc;
	(void)mm_rec_client_event_pack(p, sz, &ce);
	c->owe_block_event = false;
	c->dirty = true;
	c->d.events++;
	return 0;
}
