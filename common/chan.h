/* SPDX-License-Identifier: MIT */
/*
 * The supervisor <-> child control channel: a SOCK_SEQPACKET socketpair (the child's end at
 * fd 3), carrying fixed 16-byte records {u32 cmd; u32 arg; u64 value}, little-endian, packed
 * field by field. Child to supervisor: READY once (set up, first connection attempt under
 * way), then HEARTBEAT every second (value: CLOCK_MONOTONIC ns). Supervisor to child: STOP
 * (graceful: DISCONNECT, then exit 0). A worker also sends EVENT after each entry it writes to
 * its stats block's event log (a wake-up only: the log is the data; docs/events.md). EOF on
 * either side means the other is gone: a child whose supervisor vanished stops at once.
 */
#ifndef MM_CHAN_H
#define MM_CHAN_H

#include <stddef.h>
#include <stdint.h>

#define MM_CHAN_MSG_SIZE 16u

enum mm_chan_cmd {
	MM_CHAN_READY = 1,     /* child: arg = enum mm_wrk_backend (workers), value = pid */
	MM_CHAN_HEARTBEAT = 2, /* child: value = CLOCK_MONOTONIC ns */
	MM_CHAN_STOP = 3,      /* supervisor: stop gracefully */
	MM_CHAN_EVENT = 4, /* worker: arg = event kind, value = its seq in the stats event log */
	MM_CHAN_SESSION_FAILED = 5, /* supervisor to router: arg = session index, value = 1 if
				       permanent (exit 64/78), 0 if still retried (crash loop) */
	_MM_CHAN_CMD_MAX
};

struct mm_chan_msg {
	uint32_t cmd;
	uint32_t arg;
	uint64_t value;
};

void mm_chan_pack(uint8_t buf[MM_CHAN_MSG_SIZE], const struct mm_chan_msg *m);
int mm_chan_unpack(const uint8_t *buf, size_t len, struct mm_chan_msg *ret);
int mm_chan_send(int fd, uint32_t cmd, uint32_t arg, uint64_t value);
int mm_chan_recv(int fd, struct mm_chan_msg *ret);

#endif /* MM_CHAN_H */
