/* SPDX-License-Identifier: MIT */
/*
 * The supervisor <-> child control channel: a SOCK_SEQPACKET socketpair (the child's end at
 * fd 3), carrying fixed 16-byte records {u32 cmd; u32 arg; u64 value}, little-endian, packed
 * field by field. Child to supervisor: READY once (set up, first connection attempt under
 * way), then (the router) HEARTBEAT every MM_CHAN_HEARTBEAT_NS (value: CLOCK_MONOTONIC ns).
 * A worker beats in its stats block instead (beat_ns, shm/stats.h): the supervisor reads it
 * when it checks the worker, so 1,000 workers' beats never wake it. Supervisor to child: STOP
 * (graceful: DISCONNECT, then exit 0). A worker also sends EVENT after each entry it writes to
 * its stats block's event log (a wake-up only: the log is the data; docs/events.md). EOF on
 * either side means the other is gone: a child whose supervisor vanished stops at once.
 *
 * The router's channel also carries the changes of its session table (docs/router.md, "Live
 * sessions"): those records have a body after the 16 bytes (at most MM_CHAN_BODY_MAX) and
 * descriptors (SCM_RIGHTS, at most MM_CHAN_FDS_MAX); mm_chan_send_msg() and mm_chan_recv_msg()
 * carry them. A record is one datagram, so a body never mixes with the next record.
 */
#ifndef MM_CHAN_H
#define MM_CHAN_H

#include <stddef.h>
#include <stdint.h>

#define MM_CHAN_MSG_SIZE	16u
#define MM_CHAN_BODY_MAX	4096u /* bytes after the 16, for the records that have a body */
#define MM_CHAN_FDS_MAX		8     /* descriptors one record may carry */
/* Session indexes (SESSION_ADD, SESSION_REMOVE, SESSION_FAILED) are 0..this - 1. */
#define MM_CHAN_SESSION_IDX_MAX 65536u

/*
 * How often a child proves its loop turns: the router sends HEARTBEAT, a worker stores its
 * stats block's beat_ns. A child silent for MM_CHAN_HUNG_BEATS of these is killed as hung
 * (supervisor/sup_fsm.h). 10 s keeps an idle worker's wake-ups near what a 60 s keepalive
 * needs (docs/operations.md, "Hung worker"), and still finds a hung child in well under a
 * minute, before a broker with the default keepalive would drop its connection (90 s).
 */
#define MM_CHAN_HEARTBEAT_NS (10ull * 1000000000ull)
#define MM_CHAN_HUNG_BEATS   3

enum mm_chan_cmd {
	MM_CHAN_READY = 1,     /* child: arg = enum mm_wrk_backend (workers), value = pid */
	MM_CHAN_HEARTBEAT = 2, /* child: value = CLOCK_MONOTONIC ns */
	MM_CHAN_STOP = 3,      /* supervisor: stop gracefully */
	MM_CHAN_EVENT = 4, /* worker: arg = the session's index in the process, value = its seq in
			      the stats event log (0: look at pub_failed); router: look at gaps */
	MM_CHAN_SESSION_FAILED = 5, /* supervisor to router: arg = session index, value = 1 if
				       permanent (exit 64/78), 0 if still retried (crash loop) */
	MM_CHAN_UNROUTED = 6,	    /* router: arg = session index, value = messages of that session
				       that matched no route since its last UNROUTED (at most 1/s) */
	MM_CHAN_SESSION_ADD = 7,    /* supervisor to router: arg = session index, body = its
				       table entry (mm_handoff_rsess_pack), 6 descriptors (enum
				       mm_fd_sess): a new session, or new rings (or limit) for the
				       session of that index */
	MM_CHAN_SESSION_REMOVE =
		8,	     /* supervisor to router: arg = session index; its worker is gone */
	MM_CHAN_CLIENTS = 9, /* supervisor to router: 1 descriptor, a ROUTER handoff blob
				(shm/handoff.h) whose client options replace the running
				ones; its sessions are ignored */
	MM_CHAN_FAILED = 10, /* router: it cannot start, body = why (text, no NUL), then it exits */
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

/* What came with a record besides its 16 bytes (mm_chan_recv_msg). */
struct mm_chan_extra {
	uint8_t body[MM_CHAN_BODY_MAX];
	size_t len;		  /* body bytes */
	int fds[MM_CHAN_FDS_MAX]; /* received descriptors, close-on-exec; the caller owns them */
	unsigned nfds;
};

int mm_chan_send_msg(int fd, const struct mm_chan_msg *m, const void *body, size_t len,
		     const int *fds, unsigned nfds);
int mm_chan_recv_msg(int fd, struct mm_chan_msg *ret, struct mm_chan_extra *x);
void mm_chan_extra_close(struct mm_chan_extra *x);

#endif /* MM_CHAN_H */
