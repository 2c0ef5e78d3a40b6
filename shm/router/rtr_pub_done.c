/* SPDX-License-Identifier: MIT */
/*
 * The PUB_DONE queue of a client: every CLIENT_PUB gets exactly one PUB_DONE in the client's
 * delivery ring, in order, never dropped. When the ring is full the completion waits in a
 * per-client list (bounded by the publishes the client's pub-ring holds) and the space
 * doorbell is armed; mm_rtr_flush_done() writes what fits once the client makes room
 * (rtr_fanout.c's mm_rtr_unblock). docs/router.md ("Fan-out") and docs/protocol.md
 * ("PUB_DONE") have the rules.
 */
#include <errno.h>
#include <stdlib.h>

#include "records.h"
#include "rtr.h"

static int done_write(struct mm_rtr_client *c, uint64_t req_id, int32_t result, int32_t reason)
{
	struct mm_rec_pub_done d = { .req_id = req_id, .result = result, .reason = reason };
	size_t sz = mm_rec_pub_done_size();
	void *p;
	int rc = mm_shm_ring_reserve(&c->dlv, (uint32_t)sz, MM_REC_PUB_DONE, 0, &p);

	if (rc == -EPROTO)
		c->dead = true;
	if (rc < 0)
		return rc;
	(void)mm_rec_pub_done_pack(p, sz, &d);
	c->dirty = true;
	return 0;
}

/* The space doorbell wakes us when a PUB_DONE fits again. Returns true if it fits now. */
static bool wait_room(struct mm_rtr_client *c)
{
	if (mm_shm_ring_producer_arm(&c->dlv, (uint32_t)mm_rec_pub_done_size() + 8) == 0)
		return false;
	mm_shm_ring_producer_disarm(&c->dlv);
	return true;
}

/*
 * Tell <c> that its publish <req_id> completed. Never dropped: when the delivery ring is
 * full, the completion waits in a per-client queue (bounded by the publishes the pub-ring
 * holds) and is written, in order, as soon as the client makes room. The caller commits.
 * Returns 0, or -ENOMEM.
 */
int mm_rtr_put_pub_done(struct mm_rtr_client *c, uint64_t req_id, int32_t result, int32_t reason)
{
	struct mm_rtr_done *d;

	if (!c->done_head) {
		int rc = done_write(c, req_id, result, reason);

		if (rc != -EAGAIN)
			return rc == -EPROTO ? 0
					     : rc; /* a dead client is dropped after the batch */
	}
	d = malloc(sizeof(*d));
	if (!d)
		return -ENOMEM;
	*d = (struct mm_rtr_done){ .req_id = req_id, .result = result, .reason = reason };
	if (c->done_tail)
		c->done_tail->next = d;
	else
		c->done_head = d;
	c->done_tail = d;
	if (wait_room(c))
		mm_rtr_flush_done(c);
	return 0;
}

/* Write the queued PUB_DONEs of <c> that fit now, in order. */
void mm_rtr_flush_done(struct mm_rtr_client *c)
{
	while (c->done_head) {
		struct mm_rtr_done *d = c->done_head;
		int rc = done_write(c, d->req_id, d->result, d->reason);

		if (rc == -EAGAIN && wait_room(c))
			continue;
		if (rc < 0)
			return;
		c->done_head = d->next;
		if (!c->done_head)
			c->done_tail = NULL;
		free(d);
	}
}

void mm_rtr_done_free(struct mm_rtr_client *c)
{
	while (c->done_head) {
		struct mm_rtr_done *d = c->done_head;

		c->done_head = d->next;
		free(d);
	}
	c->done_tail = NULL;
}
