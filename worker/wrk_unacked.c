/* SPDX-License-Identifier: MIT */
/*
 * Which received QoS >= 1 messages may be redeliveries (the MM_REC_F_DUP flag), from the
 * unacked bitmap of the stats block; see the comment below for the rules.
 */
#include <string.h>

#include "wrk.h"

/*
 * DUP detection. libmosquitto does not expose the DUP flag of an incoming PUBLISH, so we keep
 * our own truth in the stats block (which outlives us): bit <mid> of its unacked bitmap is set
 * from the commit of a QoS >= 1 message until its ack has surely reached the broker. A written
 * ack has not: a broker that dies, or that sees our connection reset (kill -9 with unread
 * input sends RST), drops the acks still in its socket buffer and redelivers those messages.
 * So a written ack ages for one to two ticks of the 1 s misc timer on a live connection before
 * its bit is cleared. When the connection is lost every bit still set becomes "maybe seen";
 * a new worker starts with all the bits its predecessor left. The broker's redelivery of a
 * maybe-seen id, on a later connection, is flagged MM_REC_F_DUP. Within one connection the
 * broker reuses an id only after our ack, so there an id is never a redelivery.
 *
 * A bit whose message was not redelivered after all stays maybe-seen until the broker uses
 * that id again; that one message is then flagged DUP although it is new. DUP means "may have
 * been delivered before", never "was". A CONNACK without a session present ends all doubt: that
 * broker redelivers nothing.
 */
#define MID_WORD(mid) ((mid) / 64)
#define MID_BIT(mid)  (1ull << ((mid) % 64))

void mm_wrk_unacked_inherit(struct mm_wrk *w)
{
	for (size_t i = 0; i < MM_WRK_MIDS_WORDS; i++)
		w->unacked.maybe_seen[i] =
			atomic_load_explicit(&w->stats->unacked[i], memory_order_relaxed);
}

/* Message <mid> is in the ring; its ack is queued. Returns true if it is a redelivery. */
bool mm_wrk_unacked_mark(struct mm_wrk *w, uint16_t mid)
{
	struct mm_wrk_unacked *u = &w->unacked;
	uint64_t bit = MID_BIT(mid);
	size_t i = MID_WORD(mid);
	bool dup = u->maybe_seen[i] & bit;

	u->maybe_seen[i] &= ~bit;
	u->aging[0][i] &= ~bit;
	u->aging[1][i] &= ~bit;
	atomic_fetch_or_explicit(&w->stats->unacked[i], bit, memory_order_relaxed);
	if (!(u->queued[i] & bit)) {
		u->queued[i] |= bit;
		if (u->n_queued < sizeof(u->queued_ids) / sizeof(u->queued_ids[0]))
			u->queued_ids[u->n_queued] = mid;
		u->n_queued++;
	}
	return dup;
}

/* Every queued ack has been written: the marked messages start aging. */
void mm_wrk_unacked_flush(struct mm_wrk *w)
{
	struct mm_wrk_unacked *u = &w->unacked;

	if (u->n_queued == 0)
		return;
	if (u->n_queued <= sizeof(u->queued_ids) / sizeof(u->queued_ids[0])) {
		for (size_t k = 0; k < u->n_queued; k++) {
			size_t i = MID_WORD(u->queued_ids[k]);
			uint64_t bit = MID_BIT(u->queued_ids[k]);

			u->aging[0][i] |= bit;
			u->queued[i] &= ~bit;
		}
	} else {
		for (size_t i = 0; i < MM_WRK_MIDS_WORDS; i++) {
			u->aging[0][i] |= u->queued[i];
			u->queued[i] = 0;
		}
	}
	u->n_queued = 0;
	u->aging_used[0] = true;
}

/*
 * A tick of the misc timer on a live connection: acks written before the previous tick have
 * had a second to reach the broker; their bits are cleared.
 */
void mm_wrk_unacked_age(struct mm_wrk *w)
{
	struct mm_wrk_unacked *u = &w->unacked;

	if (!u->aging_used[0] && !u->aging_used[1])
		return;
	if (u->aging_used[1]) {
		for (size_t i = 0; i < MM_WRK_MIDS_WORDS; i++)
			if (u->aging[1][i])
				atomic_fetch_and_explicit(&w->stats->unacked[i], ~u->aging[1][i],
							  memory_order_relaxed);
	}
	memcpy(u->aging[1], u->aging[0], sizeof(u->aging[1]));
	memset(u->aging[0], 0, sizeof(u->aging[0]));
	u->aging_used[1] = u->aging_used[0];
	u->aging_used[0] = false;
}

/*
 * The broker answered CONNACK without a session: nothing will be redelivered (a clean session,
 * or a broker that lost its state), and the packet ids start over. Forget every maybe-seen id.
 */
void mm_wrk_unacked_forget(struct mm_wrk *w)
{
	struct mm_wrk_unacked *u = &w->unacked;

	for (size_t i = 0; i < MM_WRK_MIDS_WORDS; i++) {
		if (u->maybe_seen[i])
			atomic_fetch_and_explicit(&w->stats->unacked[i], ~u->maybe_seen[i],
						  memory_order_relaxed);
		u->maybe_seen[i] = 0;
	}
}

/* The connection is gone: whatever was not surely acknowledged may come again. */
void mm_wrk_unacked_lost(struct mm_wrk *w)
{
	struct mm_wrk_unacked *u = &w->unacked;

	for (size_t i = 0; i < MM_WRK_MIDS_WORDS; i++) {
		u->maybe_seen[i] |= u->queued[i] | u->aging[0][i] | u->aging[1][i];
		u->queued[i] = u->aging[0][i] = u->aging[1][i] = 0;
	}
	u->n_queued = 0;
	u->aging_used[0] = u->aging_used[1] = false;
}
