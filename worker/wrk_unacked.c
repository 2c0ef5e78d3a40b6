/* SPDX-License-Identifier: MIT */
/*
 * Which received QoS >= 1 messages may be redeliveries (the MM_REC_F_DUP flag), from the
 * unacked bitmap kept in the stats block or the ids file; see the comment below for the rules.
 */
#include <string.h>

#include "wrk.h"

/*
 * DUP detection. libmosquitto does not expose the DUP flag of an incoming PUBLISH, so we keep
 * our own truth in a bitmap that outlives us (the stats block's, which a daemon's kill takes
 * with it, or for a persistent session the ids file of wrk_ids.c, which nothing takes): bit <mid>
 * of its unacked bitmap is set from the commit of a QoS >= 1 message until its ack has surely
 * reached the broker. A written ack has not: a broker that dies, or that sees our connection reset
 * (kill -9 with unread input sends RST), drops the acks still in its socket buffer; a black-holed
 * path swallows them while it still looks alive (and while we still read what it forwarded before).
 * The proof is an answer to a packet sent after the acks: once a tick, while acks were written, the
 * worker sends an UNSUBSCRIBE of a filter it never holds (MM_WRK_PROBE_FILTER; MQTT makes the
 * broker answer it, [MQTT-3.10.4-5], and it changes nothing there), and its UNSUBACK clears the
 * bits of every ack written before it. When the connection is lost every bit still set becomes
 * "maybe seen"; a new worker starts with all the bits its predecessor left. The broker's redelivery
 * of a maybe-seen id, on a later connection, is flagged MM_REC_F_DUP. Within one connection the
 * broker reuses an id only after our ack, so there an id is never a redelivery.
 *
 * A bit whose message was not redelivered after all stays maybe-seen until the broker uses
 * that id again; that one message is then flagged DUP although it is new. DUP means "may have
 * been delivered before", never "was". (Not "the first new message ends the redeliveries": a
 * mosquitto restored from its persistence file mixes them.) A CONNACK without a session
 * present ends all doubt: that broker redelivers nothing.
 */
#define MID_WORD(mid) ((mid) / 64)
#define MID_BIT(mid)  (1ull << ((mid) % 64))

/* The bitmap that outlives us: the ids file's (wrk_ids.c) or the stats block's. */
static _Atomic uint64_t *kept(struct mm_wrk *w)
{
	return w->ids ? w->ids : w->stats->unacked;
}

/* Clear <bits> in the kept unacked bitmap. */
static void clear_stats(struct mm_wrk *w, const uint64_t *bits)
{
	_Atomic uint64_t *k = kept(w);

	for (size_t i = 0; i < MM_WRK_MIDS_WORDS; i++)
		if (bits[i])
			atomic_fetch_and_explicit(&k[i], ~bits[i], memory_order_relaxed);
}

void mm_wrk_unacked_inherit(struct mm_wrk *w)
{
	_Atomic uint64_t *k = kept(w);

	for (size_t i = 0; i < MM_WRK_MIDS_WORDS; i++)
		w->unacked.maybe_seen[i] |= atomic_load_explicit(&k[i], memory_order_relaxed);
}

/* Message <mid> is in the ring; its ack is queued. Returns true if it is a redelivery. */
bool mm_wrk_unacked_mark(struct mm_wrk *w, uint16_t mid)
{
	struct mm_wrk_unacked *u = &w->unacked;
	uint64_t bit = MID_BIT(mid);
	size_t i = MID_WORD(mid);
	bool dup = u->maybe_seen[i] & bit;

	u->maybe_seen[i] &= ~bit;
	u->written[i] &= ~bit;
	u->probed[i] &= ~bit;
	atomic_fetch_or_explicit(&kept(w)[i], bit, memory_order_relaxed);
	if (!(u->queued[i] & bit)) {
		u->queued[i] |= bit;
		if (u->n_queued < sizeof(u->queued_ids) / sizeof(u->queued_ids[0]))
			u->queued_ids[u->n_queued] = mid;
		u->n_queued++;
	}
	return dup;
}

/* Every queued ack has been written: the next probe covers them. */
void mm_wrk_unacked_flush(struct mm_wrk *w)
{
	struct mm_wrk_unacked *u = &w->unacked;

	if (u->n_queued == 0)
		return;
	if (u->n_queued <= sizeof(u->queued_ids) / sizeof(u->queued_ids[0])) {
		for (size_t k = 0; k < u->n_queued; k++) {
			size_t i = MID_WORD(u->queued_ids[k]);
			uint64_t bit = MID_BIT(u->queued_ids[k]);

			u->written[i] |= bit;
			u->queued[i] &= ~bit;
		}
	} else {
		for (size_t i = 0; i < MM_WRK_MIDS_WORDS; i++) {
			u->written[i] |= u->queued[i];
			u->queued[i] = 0;
		}
	}
	u->n_queued = 0;
	u->written_any = true;
}

/*
 * A tick on a live connection: if acks were written since the last probe and none is in flight,
 * send one. Returns true if a packet was queued (the socket wants writing).
 */
bool mm_wrk_unacked_probe(struct mm_wrk *w)
{
	struct mm_wrk_unacked *u = &w->unacked;
	int mid = 0;

	if (!u->written_any || u->probe_mid)
		return false;
	if (mosquitto_unsubscribe(w->mosq, &mid, MM_WRK_PROBE_FILTER) != MOSQ_ERR_SUCCESS)
		return false; /* no connection after all: the loss will make them maybe-seen */
	u->probe_mid = mid;
	memcpy(u->probed, u->written, sizeof(u->probed));
	memset(u->written, 0, sizeof(u->written));
	u->written_any = false;
	return true;
}

/* UNSUBACK <mid>: if it answers the probe, the acks written before it reached the broker. */
bool mm_wrk_unacked_probe_answered(struct mm_wrk *w, int mid)
{
	struct mm_wrk_unacked *u = &w->unacked;

	if (!u->probe_mid || mid != u->probe_mid)
		return false;
	clear_stats(w, u->probed);
	memset(u->probed, 0, sizeof(u->probed));
	u->probe_mid = 0;
	return true;
}

/* Acks are written and not yet proven at the broker, or a probe is due. */
bool mm_wrk_unacked_pending(const struct mm_wrk *w)
{
	return w->unacked.written_any;
}

/*
 * The broker answered CONNACK without a session: nothing will be redelivered (a clean session,
 * or a broker that lost its state), and the packet ids start over. Forget every maybe-seen id.
 */
void mm_wrk_unacked_forget(struct mm_wrk *w)
{
	struct mm_wrk_unacked *u = &w->unacked;

	clear_stats(w, u->maybe_seen);
	memset(u->maybe_seen, 0, sizeof(u->maybe_seen));
}

/* The connection is gone: whatever was not surely acknowledged may come again. */
void mm_wrk_unacked_lost(struct mm_wrk *w)
{
	struct mm_wrk_unacked *u = &w->unacked;

	for (size_t i = 0; i < MM_WRK_MIDS_WORDS; i++) {
		u->maybe_seen[i] |= u->queued[i] | u->written[i] | u->probed[i];
		u->queued[i] = u->written[i] = u->probed[i] = 0;
	}
	u->n_queued = 0;
	u->written_any = false;
	u->probe_mid = 0;
}
