/* SPDX-License-Identifier: MIT */
/*
 * A session's stats block: one sealed memfd per session, created by the supervisor (or by a
 * standalone worker), written only by that session's worker with relaxed atomic stores, read
 * by anyone holding the fd (the supervisor for metrics) with relaxed loads. It outlives the
 * worker, so counters are monotonic across worker restarts: a new worker adds to them.
 *
 *   offset  field               unit / range                      writer
 *   0       magic, versions,    MM_STATS_MAGIC, 1.0               creator, once
 *           size
 *   64      counters (u64)      messages, bytes, events            worker
 *   192     timestamps (u64)    ns since the epoch (REALTIME)      worker
 *   256     gauges (u32)        flags and enum codes               worker
 *   4096    unacked bitmap      one bit per MQTT packet id         worker
 *   12288   end
 *
 * The unacked bitmap has bit <mid> set while a QoS >= 1 message with packet id <mid> is in the
 * in-ring but its PUBACK/PUBREC may not have reached the broker: a written ack stays marked for
 * a second or two of a live connection (worker/wrk_bridge.c). A worker that starts finds the
 * bits its killed predecessor left, and flags the broker's redelivery of those ids as DUP.
 */
#ifndef MM_SHM_STATS_H
#define MM_SHM_STATS_H

#include <stddef.h>
#include <stdint.h>

#define MM_STATS_MAGIC	     0x5354534du /* "MSTS" little-endian */
#define MM_STATS_VER_MAJOR   1
#define MM_STATS_VER_MINOR   0
#define MM_STATS_SIZE	     12288u
#define MM_STATS_UNACKED_OFF 4096u

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
	_Atomic uint64_t reserved_c[4];

	/* timestamps, ns since the epoch, 0 = never */
	_Alignas(64) _Atomic uint64_t last_msg_ns;
	_Atomic uint64_t last_err_ns;
	_Atomic uint64_t connected_since_ns;
	_Atomic uint64_t reserved_t[5];

	/* gauges */
	_Alignas(64) _Atomic uint32_t connected; /* 0 or 1 */
	_Atomic uint32_t state;			 /* enum mm_sess_state */
	_Atomic uint32_t backend;		 /* enum mm_wrk_backend of the running worker */
	_Atomic uint32_t subscriptions;		 /* filters currently subscribed */
	_Atomic int32_t last_err_code;		 /* -errno or MQTT reason of the last error */
	_Atomic uint32_t worker_pid;		 /* informational */
	_Atomic uint64_t dup_flagged;		 /* messages we flagged DUP (redelivered) */
	uint8_t pad1[4096 - 288];

	/* bit <mid>: committed to the in-ring, ack maybe not received (see above) */
	_Atomic uint64_t unacked[65536 / 64];
};

_Static_assert(offsetof(struct mm_stats_block, msgs_in) == 64, "stats block is ABI");
_Static_assert(offsetof(struct mm_stats_block, last_msg_ns) == 192, "stats block is ABI");
_Static_assert(offsetof(struct mm_stats_block, connected) == 256, "stats block is ABI");
_Static_assert(offsetof(struct mm_stats_block, dup_flagged) == 280, "stats block is ABI");
_Static_assert(offsetof(struct mm_stats_block, unacked) == MM_STATS_UNACKED_OFF,
	       "stats block is ABI");
_Static_assert(sizeof(struct mm_stats_block) == MM_STATS_SIZE, "stats block fits");

int mm_shm_stats_create(const char *name, int *ret_fd);
int mm_shm_stats_attach(int fd, struct mm_stats_block **ret);
void mm_shm_stats_detach(struct mm_stats_block *s);
const char *mm_sess_state_to_string(unsigned state);

#endif /* MM_SHM_STATS_H */
