/* SPDX-License-Identifier: MIT */
/*
 * The ack gate: a QoS >= 1 message is acknowledged to the broker (PUBACK, or PUBCOMP at QoS 2)
 * only once the router has released it from the in-ring, that is once it is in the delivery
 * rings of the clients that match it (which the clients keep mapped), or counted as unrouted
 * or dropped by policy. The in-ring is the daemon's memory: acknowledging at commit, as
 * before, lost what the router had not yet taken when mqttmuxd was killed (docs/reliability.md,
 * scenario 4). docs/worker.md, "Data path and the delivery contract", is the user's side.
 *
 * libmosquitto 2.0 queues the ack inside mosquitto_loop_read and has no call to hold one
 * packet back, so the gate holds every write of the session (acks, PINGREQ, commands' PUBLISH)
 * while an ack waits: its packets keep their order. The wait is short (the router drains at
 * once, and wakes us through the in-ring's space doorbell); the broker's window (its
 * max_inflight_messages, our receive-maximum in MQTT 5) bounds the acks that can pile up.
 *
 * A router that stalls (a restart still waiting for its clients, clients.rejoin_grace, or a
 * blocked client) must not cost the connection its keepalive: after ACK_GATE_MAX_NS, or half
 * the keepalive if that is sooner, the gate opens anyway and the acks go out as they used to,
 * with a warning. Not while the session stops: the supervisor's death stops it (the channel's
 * EOF), and then the router is dying too and will never release what the in-ring holds; the
 * DISCONNECT waits behind the acks, and if the router does not release them before the stop
 * timer (wrk_run.c) the connection closes without it: the broker sends the messages again
 * (and publishes the will: the daemon did die). A daemon that stops gracefully stops its
 * workers while its router runs, so their acks and DISCONNECTs go out within moments.
 */
#include "log.h"
#include "mm_time.h"
#include "wrk.h"

#define ACK_GATE_MAX_NS (30 * MM_NS_PER_SEC)

/* How long the gate may stay shut before it opens anyway. */
static uint64_t gate_limit_ns(const struct mm_wrk *w)
{
	uint64_t half_ka = (uint64_t)w->cfg->keepalive * MM_NS_PER_SEC / 2;

	return half_ka && half_ka < ACK_GATE_MAX_NS ? half_ka : ACK_GATE_MAX_NS;
}

/*
 * Watch the in-ring's space doorbell (a paused read or a shut gate wants it), from the first
 * time on: it rings only while we armed it, so the watch costs nothing meanwhile, and a busy
 * pipeline would otherwise add and remove it once per batch of acks.
 */
void mm_wrk_space_watch(struct mm_wrk *w)
{
	if (w->space_watched || w->in.efd_space < 0)
		return;
	if (mm_wrk_loop_watch(w->loop, w->in.efd_space, MM_WRK_EV_IN,
			      MM_WRK_TOK(MM_WRK_TOK_SPACE, w->idx, 0)) == 0)
		w->space_watched = true;
}

/* The records committed just now include messages whose acks libmosquitto queued. */
void mm_wrk_ackgate_committed(struct mm_wrk *w)
{
	w->ack_due = false;
	w->ack_at = w->in.pub;
	if (!w->ack_since_ns)
		w->ack_since_ns = mm_time_mono_ns();
}

static void gate_open(struct mm_wrk *w)
{
	w->ack_at = 0;
	w->ack_since_ns = 0;
	w->ack_shut = false;
}

/* The connection is gone: libmosquitto dropped the queued acks with it. */
void mm_wrk_ackgate_reset(struct mm_wrk *w)
{
	gate_open(w);
}

/*
 * May the session's queued packets be written now? No while an ack waits for the router:
 * then the space doorbell is armed (unless a paused read armed it already: one flag serves
 * both, and whoever wakes looks at both) and watched.
 */
bool mm_wrk_ackgate_may_write(struct mm_wrk *w)
{
	int rc;

	mm_wrk_commit(w); /* an ack queued by a read not yet committed waits for its record */
	if (!w->ack_at)
		return true;
	rc = mm_shm_ring_consumed(&w->in, w->ack_at);
	if (rc == 0 && !w->paused && w->in.efd_space >= 0)
		rc = mm_shm_ring_producer_arm_consumed(&w->in, w->ack_at);
	if (rc != 0 || w->in.efd_space < 0) {
		gate_open(w); /* released (or a corrupt ring: nothing to wait for) */
		return true;
	}
	if (!mm_wrk_conn_is_stopping(w->conn) &&
	    mm_time_mono_ns() - w->ack_since_ns >= gate_limit_ns(w)) {
		mm_log(MM_LOG_WARNING,
		       "the router has not taken the messages of the last %.1f s: "
		       "acknowledging them anyway (keepalive)",
		       (double)(mm_time_mono_ns() - w->ack_since_ns) / 1e9);
		if (!w->paused)
			mm_shm_ring_producer_disarm(&w->in);
		gate_open(w);
		return true;
	}
	mm_wrk_space_watch(w);
	if (!w->space_watched) { /* nothing would wake us: do as before */
		gate_open(w);
		return true;
	}
	w->ack_shut = true;
	return false;
}
