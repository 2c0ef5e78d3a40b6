/* SPDX-License-Identifier: MIT */
/*
 * A session's stats block: one sealed memfd per session, created by the supervisor (or by a
 * standalone worker), written only by that session's worker with relaxed atomic stores, read
 * by anyone holding the fd (the supervisor for metrics) with relaxed loads. It outlives the
 * worker, so counters are monotonic across worker restarts: a new worker adds to them.
 *
 *   offset  field               unit / range                      writer
 *   0       magic, versions,    MM_STATS_MAGIC, 1.1               creator, once
 *           size
 *   64      counters (u64)      messages, bytes, events            worker
 *   192     timestamps (u64)    ns since the epoch (REALTIME),     worker
 *                               but beat_ns: CLOCK_MONOTONIC
 *   256     gauges (u32)        flags and enum codes               worker
 *   320     ev_head (u64)       seq of the newest event-log entry  worker (release)
 *   4096    unacked bitmap      one bit per MQTT packet id         worker
 *   12288   event log           MM_STATS_EV_N entries of 256 B     worker
 *   16384   end
 *
 * The unacked bitmap has bit <mid> set while a QoS >= 1 message with packet id <mid> is in the
 * in-ring but its PUBACK/PUBREC may not have reached the broker: a written ack stays marked for
 * a second or two of a live connection (worker/wrk_bridge.c). A worker that starts finds the
 * bits its killed predecessor left, and flags the broker's redelivery of those ids as DUP. A
 * persistent session keeps the bitmap in its ids file instead (worker/wrk_ids.c), which
 * outlives the daemon too; this one then stays zero.
 *
 * The event log is a ring of the worker's last MM_STATS_EV_N session events (connecting,
 * connected, ready, disconnected, ...; docs/events.md) for the supervisor, which turns them into
 * the `events` stream. Entry seq S (1, 2, ...) lives in slot (S - 1) % MM_STATS_EV_N. The worker
 * (mm_shm_stats_event_push) marks the slot busy (seq 0), writes it, stores its seq with release,
 * then publishes ev_head = S with release. A reader (mm_shm_stats_event_next) takes the entries
 * after its cursor, copies each one and keeps it only if the slot's seq was S before and after
 * the copy (a seqlock): an entry overwritten meanwhile counts as missed, never as torn data. The
 * block is written by a worker, so a reader trusts nothing in it: lengths are clamped and a
 * kind out of range is counted as bad and skipped.
 */
#ifndef MM_SHM_STATS_H
#define MM_SHM_STATS_H

#include <stddef.h>
#include <stdint.h>

#define MM_STATS_MAGIC	     0x5354534du /* "MSTS" little-endian */
#define MM_STATS_VER_MAJOR   1
#define MM_STATS_VER_MINOR   4 /* 1.1: the event log; 1.2: beat_ns; 1.3: broker; 1.4: poison */
#define MM_STATS_SIZE	     16384u
#define MM_STATS_UNACKED_OFF 4096u
#define MM_STATS_EV_OFF	     12288u
#define MM_STATS_EV_N	     16u  /* entries in the event log */
#define MM_STATS_EV_SIZE     256u /* bytes per entry */
#define MM_STATS_EV_TEXT_MAX 215u /* text bytes an entry holds (a NUL follows in copies) */
#define MM_STATS_EV_KIND_MAX 64u  /* kinds are enum mm_event_kind (records.h): below this */
#define MM_STATS_EV_SEQ_MAX  (UINT64_C(1) << 62) /* a larger ev_head is garbage */

/*
 * One event-log entry (worker-written, untrusted for readers). The fields are those of an
 * EVENT record of the in-ring (records.h), plus the index of the broker in use.
 */
struct mm_stats_event {
	_Atomic uint64_t seq; /* 1, 2, ...; 0 while the worker writes the slot */
	uint64_t time_ns;     /* CLOCK_REALTIME ns when the worker saw it */
	uint16_t kind;	      /* enum mm_event_kind, < MM_STATS_EV_KIND_MAX */
	uint16_t text_len;    /* bytes of text, <= MM_STATS_EV_TEXT_MAX (readers clamp) */
	int32_t code;	      /* -errno, MQTT reason code, or (connecting) the attempt */
	uint32_t attempt;     /* reconnecting: attempts since the last success */
	uint32_t delay_ms;    /* reconnecting: delay before the next attempt */
	uint32_t broker;      /* index in the session's broker list: in use, or tried next */
	uint32_t reserved;
	char text[MM_STATS_EV_TEXT_MAX + 1]; /* not NUL-terminated in the block */
};
_Static_assert(sizeof(struct mm_stats_event) == MM_STATS_EV_SIZE, "event entry is ABI");
_Static_assert(offsetof(struct mm_stats_event, text) == 40, "event entry is ABI");

/* Session states as the worker reports them (stats.state). */
enum mm_sess_state {
	MM_SESS_STOPPED = 0,
	MM_SESS_CONNECTING,
	MM_SESS_CONNECTED,
	MM_SESS_READY,
	MM_SESS_DISCONNECTED,
	MM_SESS_RECONNECTING,
	_MM_SESS_STATE_MAX
};

struct mm_stats_block {
	uint32_t magic;	    /* MM_STATS_MAGIC, stored last by the creator */
	uint16_t ver_major; /* MM_STATS_VER_MAJOR */
	uint16_t ver_minor;
	uint32_t size; /* MM_STATS_SIZE */
	uint32_t reserved0;
	uint8_t pad0[48];

	/* counters: monotonic for the life of the memfd */
	_Alignas(64) _Atomic uint64_t msgs_in; /* messages written to the in-ring */
	_Atomic uint64_t bytes_in;	       /* their payload bytes */
	_Atomic uint64_t msgs_out;	       /* publishes written to the broker */
	_Atomic uint64_t bytes_out;	       /* their payload bytes */
	_Atomic uint64_t errors;	   /* failed connects, lost connections, TLS, refusals */
	_Atomic uint64_t reconnects;	   /* connection attempts after the first */
	_Atomic uint64_t dropped_oversize; /* messages over max_message_size, not written */
	_Atomic uint64_t starts;	   /* worker processes that attached */
	_Atomic uint64_t connects;	   /* successful CONNACKs */
	_Atomic uint64_t ring_full_waits;  /* times reading paused because the in-ring was full */
	_Atomic uint64_t pub_ok;	   /* publish completions: success */
	_Atomic uint64_t pub_failed;	   /* publish completions: error */
	_Atomic uint64_t dropped_invalid;  /* messages with an invalid topic, dropped */
	_Atomic uint64_t refused_packets;  /* broker packets over the size bound: disconnected */
	_Atomic uint64_t quarantined;	   /* poison messages acked, written to state_dir */
	_Atomic uint64_t reserved_c[1];

	/* timestamps, ns since the epoch, 0 = never */
	_Alignas(64) _Atomic uint64_t last_msg_ns;
	_Atomic uint64_t last_err_ns;
	_Atomic uint64_t connected_since_ns;
	/*
	 * CLOCK_MONOTONIC ns of the worker's last heartbeat: stored every MM_CHAN_HEARTBEAT_NS by
	 * its loop (common/chan.h), read by the supervisor to tell a hung worker; 0 = none yet.
	 */
	_Atomic uint64_t beat_ns;
	_Atomic uint64_t reserved_t[4];

	/* gauges */
	_Alignas(64) _Atomic uint32_t connected; /* 0 or 1 */
	_Atomic uint32_t state;			 /* enum mm_sess_state */
	_Atomic uint32_t backend;		 /* enum mm_wrk_backend of the running worker */
	_Atomic uint32_t subscriptions;		 /* filters currently subscribed */
	_Atomic int32_t last_err_code;		 /* -errno or MQTT reason of the last error */
	_Atomic uint32_t worker_pid;		 /* informational */
	_Atomic uint64_t dup_flagged;		 /* messages we flagged DUP (redelivered) */
	_Atomic uint32_t broker; /* index in the broker list: connected to, or being tried */

	/* the event log's head: seq of the newest entry, 0 = none yet (stored with release) */
	_Alignas(64) _Atomic uint64_t ev_head;
	/*
	 * Poison messages (worker/wrk_guard.c). <poison_busy>: the hash of the PUBLISH libmosquitto
	 * is handling, 0 between packets; a worker that finds it set at start knows its
	 * predecessor died on that message. <poison_hash>: the message that killed workers,
	 * <poison_deaths> times in a row.
	 */
	_Atomic uint64_t poison_busy;
	_Atomic uint64_t poison_hash;
	_Atomic uint32_t poison_deaths;
	uint32_t reserved1;
	uint8_t pad1[4096 - 352];

	/* bit <mid>: committed to the in-ring, ack maybe not received (see above) */
	_Atomic uint64_t unacked[65536 / 64];

	/* the event log (see above) */
	struct mm_stats_event events[MM_STATS_EV_N];
};

_Static_assert(offsetof(struct mm_stats_block, msgs_in) == 64, "stats block is ABI");
_Static_assert(offsetof(struct mm_stats_block, last_msg_ns) == 192, "stats block is ABI");
_Static_assert(offsetof(struct mm_stats_block, beat_ns) == 216, "stats block is ABI");
_Static_assert(offsetof(struct mm_stats_block, connected) == 256, "stats block is ABI");
_Static_assert(offsetof(struct mm_stats_block, dup_flagged) == 280, "stats block is ABI");
_Static_assert(offsetof(struct mm_stats_block, broker) == 288, "stats block is ABI");
_Static_assert(offsetof(struct mm_stats_block, unacked) == MM_STATS_UNACKED_OFF,
	       "stats block is ABI");
_Static_assert(offsetof(struct mm_stats_block, ev_head) == 320, "stats block is ABI");
_Static_assert(offsetof(struct mm_stats_block, poison_busy) == 328, "stats block is ABI");
_Static_assert(offsetof(struct mm_stats_block, events) == MM_STATS_EV_OFF, "stats block is ABI");
_Static_assert(sizeof(struct mm_stats_block) == MM_STATS_SIZE, "stats block fits");

int mm_shm_stats_create(const char *name, int *ret_fd);
int mm_shm_stats_attach(int fd, struct mm_stats_block **ret);
void mm_shm_stats_detach(struct mm_stats_block *s);
const char *mm_sess_state_to_string(unsigned state);

/* A reader's position in an event log, and what it could not read. Zero it to start. */
struct mm_stats_evcursor {
	uint64_t next;	 /* seq of the next entry wanted (0 and 1 both mean the first) */
	uint64_t missed; /* entries overwritten before they could be read, ever */
	uint64_t bad;	 /* entries skipped because their kind was out of range, ever */
};

uint64_t mm_shm_stats_event_push(struct mm_stats_block *s, const struct mm_stats_event *e);
int mm_shm_stats_event_next(const struct mm_stats_block *s, struct mm_stats_evcursor *cur,
			    struct mm_stats_event *ret);

#endif /* MM_SHM_STATS_H */
