/* SPDX-License-Identifier: MIT */
/*
 * THE ring records: every record that travels in a ring, between a worker and the router or
 * between the router and a client, packed and unpacked field by field in little-endian order
 * (common/wire.h; never a C struct copied onto the ring):
 *
 *   in-ring       (worker -> router):  MSG, EVENT, COMPLETION          (shm/records.c)
 *   cmd-ring      (router -> worker):  SUB, UNSUB, PUB                 (shm/records.c)
 *   delivery ring (router -> client):  DELIVER, GAP, CLIENT_EVENT, PUB_DONE (records_client.c)
 *   pub ring      (client -> router):  CLIENT_PUB                      (records_client.c)
 *
 * One enum of kinds (the ring record header's type), one set of message flags, one packer
 * convention: *_size() gives the body size, *_pack(buf, cap, m) writes it and returns the
 * bytes written, -ENOSPC or -EINVAL (a field out of range); *_unpack(buf, len, ret) checks
 * every length against the record before use and returns 0 with views into <buf>, or
 * -EBADMSG. Records a client writes (CLIENT_PUB) are untrusted: unpack them from a private
 * copy only. The record header's own flags are 0 for every kind here.
 *
 * Byte tables: docs/shm.md (session rings) and docs/protocol.md (client rings). A record
 * change edits this header, its packer and those tables; a change a reader of an older
 * version could misread bumps the version in the ring header (shm/layout.h).
 */
#ifndef MM_SHM_RECORDS_H
#define MM_SHM_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

/* Record types (struct mm_ring_rec.type); 0 is the ring's PAD. Retired codes are never reused. */
enum mm_rec_kind {
	MM_REC_MSG = 1,		  /* in-ring: a message received from the broker */
	MM_REC_EVENT = 2,	  /* in-ring: a session state change or a reportable problem */
	MM_REC_COMPLETION = 3,	  /* in-ring: the result of a PUB/SUB/UNSUB command */
	MM_REC_CMD_SUB = 16,	  /* cmd-ring */
	MM_REC_CMD_UNSUB = 17,	  /* cmd-ring */
	MM_REC_CMD_PUB = 18,	  /* cmd-ring */
	MM_REC_DELIVER = 32,	  /* delivery ring: one message for one client */
	MM_REC_GAP = 33,	  /* delivery ring: messages this client lost */
	MM_REC_CLIENT_EVENT = 34, /* delivery ring: a session event (feature EVENTS) */
	MM_REC_PUB_DONE = 35,	  /* delivery ring: the result of a CLIENT_PUB */
	MM_REC_CLIENT_PUB = 40,	  /* pub ring: a client's publish */
};

/*
 * Message flags, one set for every record that carries a message (MSG, PUB, DELIVER,
 * CLIENT_PUB): a worker's MSG flags reach a client's DELIVER unchanged. Bit 1 means DUP on
 * a received message and ALL on a client's publish; no record carries both.
 */
#define MM_REC_F_RETAIN 0x1u /* MSG, PUB, DELIVER, CLIENT_PUB */
#define MM_REC_F_DUP	0x2u /* MSG, DELIVER: the broker may have sent it before */
#define MM_REC_F_ALL	0x2u /* CLIENT_PUB: every session; the session name is then empty */
#define MM_REC_F_MSG	(MM_REC_F_RETAIN | MM_REC_F_DUP) /* valid on MSG and DELIVER */

#define MM_TOPIC_MAX	   65535u
#define MM_REC_SESSION_ANY 0xffffffffu /* GAP.session_idx: losses across sessions */
#define MM_REC_MSG_FIXED   24u	       /* a MSG body before its topic, payload and props */

/*
 * In-ring and cmd-ring (worker <-> router).
 */
struct mm_rec_msg {
	uint64_t recv_ns;		       /* CLOCK_REALTIME when the worker received it */
	uint32_t mid;			       /* MQTT packet id (0 for QoS 0) */
	uint8_t qos;			       /* QoS as delivered */
	uint8_t flags;			       /* MM_REC_F_RETAIN | MM_REC_F_DUP */
	struct mm_bytes topic, payload, props; /* props: MQTT 5 property bytes, wire format */
};

enum mm_event_kind {
	MM_EV_CONNECTING = 0,
	MM_EV_CONNECTED,
	MM_EV_READY,	    /* connected and every filter (re)subscribed */
	MM_EV_DISCONNECTED, /* code = MQTT reason or -errno; text = reason */
	MM_EV_RECONNECTING, /* attempt, delay_ms */
	MM_EV_MSG_DROPPED,  /* a message refused before the ring (text: why and topic) */
	MM_EV_SUB_FAILED,   /* a filter the broker refused (text: filter) */
	MM_EV_ERROR,	    /* any other reportable problem */
	MM_EV_STARTED,	    /* a worker process attached; attempt:delay_ms = its cmd-ring start */
	MM_EV_MSG_QUARANTINED, /* a poison message acked, not delivered (text: where it is kept) */
	_MM_EV_KIND_MAX
};

struct mm_rec_event {
	uint64_t time_ns;     /* CLOCK_REALTIME */
	uint16_t kind;	      /* enum mm_event_kind */
	int32_t code;	      /* reason code, -errno, or 0 */
	uint32_t attempt;     /* reconnect attempt number, 1-based; 0 when not reconnecting */
	uint32_t delay_ms;    /* next reconnect delay */
	struct mm_bytes text; /* broker URL for CONNECTING/CONNECTED/READY, else reason text */
};

struct mm_rec_completion {
	uint64_t req_id; /* from the command */
	int32_t result;	 /* 0, or -errno (-ENOTCONN, -EMSGSIZE, -ECONNRESET, ...) */
	int32_t reason;	 /* MQTT 5 reason code from PUBACK/PUBCOMP/SUBACK, else 0 */
	uint16_t cmd;	 /* MM_REC_CMD_* this completes */
};

struct mm_rec_sub {
	uint64_t req_id;
	uint8_t qos; /* 0..2 */
	struct mm_bytes filter;
	uint8_t flags; /* MM_REC_SUB_F_* (SUB only; 0 on UNSUB) */
};

/*
 * SUB: a new route wants the broker's retained messages for this filter, so the worker sends
 * SUBSCRIBE even if it holds the filter already (docs/router.md, "Retained messages").
 */
#define MM_REC_SUB_F_RETAINED 0x1u

struct mm_rec_pub {
	uint64_t req_id;
	uint8_t qos;   /* 0..2 */
	uint8_t flags; /* MM_REC_F_RETAIN */
	struct mm_bytes topic, payload, props;
};

/*
 * Delivery ring and pub ring (router <-> client).
 */

/* CLIENT_EVENT.kind: 0..31 pass a worker's enum mm_event_kind through; then these. */
enum mm_client_ev {
	MM_CLIENT_EV_WORKER_MAX = 31,
	MM_CLIENT_EV_SESSION_ADDED = 32,
	MM_CLIENT_EV_SESSION_REMOVED = 33,
	MM_CLIENT_EV_SESSION_FAILED = 34, /* the supervisor gave up restarting it */
	MM_CLIENT_EV_BLOCK_TIMEOUT = 35,  /* this client held the session past block_timeout */
	_MM_CLIENT_EV_MAX
};

/* A list of route ids: pack reads host (n values), unpack sets wire (n x u32 LE) only. */
struct mm_rec_ids {
	uint16_t n;
	const uint32_t *host;
	const uint8_t *wire;
};

struct mm_rec_deliver {
	uint64_t recv_ns; /* CLOCK_REALTIME when the worker received it */
	uint64_t seq;	  /* position in the session's in-ring: increases for the daemon's life */
	uint32_t mid;	  /* MQTT packet id, 0 for QoS 0 */
	uint32_t session_idx;
	uint8_t qos;					/* as delivered, 0..2 */
	uint8_t flags;					/* MM_REC_F_RETAIN | MM_REC_F_DUP */
	struct mm_rec_ids routes;			/* the client's routes that match, n >= 1 */
	struct mm_bytes session, topic, payload, props; /* props: MQTT 5 wire bytes */
};

struct mm_rec_gap {
	uint64_t lost;		 /* messages not written for this client since the last record */
	uint32_t session_idx;	 /* or MM_REC_SESSION_ANY */
	struct mm_bytes session; /* empty with MM_REC_SESSION_ANY */
};

struct mm_rec_client_event {
	uint64_t time_ns;
	uint32_t session_idx;
	uint16_t kind; /* enum mm_client_ev */
	int32_t code;
	uint32_t attempt, delay_ms;
	struct mm_bytes session, text;
};

struct mm_rec_pub_done {
	uint64_t req_id; /* the CLIENT_PUB's */
	int32_t result;	 /* 0 or -errno */
	int32_t reason;	 /* MQTT 5 reason code, else 0 */
};

struct mm_rec_client_pub {
	uint64_t req_id; /* chosen by the client; echoed in PUB_DONE */
	uint8_t qos;	 /* 0..2 */
	uint8_t flags;	 /* MM_REC_F_RETAIN | MM_REC_F_ALL */
	struct mm_bytes session, topic, payload, props;
};

/* records.c */
size_t mm_rec_msg_size(const struct mm_rec_msg *m);
ssize_t mm_rec_msg_pack(uint8_t *buf, size_t cap, const struct mm_rec_msg *m);
int mm_rec_msg_unpack(const uint8_t *buf, size_t len, struct mm_rec_msg *ret);

size_t mm_rec_event_size(const struct mm_rec_event *e);
ssize_t mm_rec_event_pack(uint8_t *buf, size_t cap, const struct mm_rec_event *e);
int mm_rec_event_unpack(const uint8_t *buf, size_t len, struct mm_rec_event *ret);
const char *mm_event_kind_to_string(unsigned kind);

size_t mm_rec_completion_size(void);
ssize_t mm_rec_completion_pack(uint8_t *buf, size_t cap, const struct mm_rec_completion *c);
int mm_rec_completion_unpack(const uint8_t *buf, size_t len, struct mm_rec_completion *ret);

size_t mm_rec_sub_size(const struct mm_rec_sub *s);
ssize_t mm_rec_sub_pack(uint8_t *buf, size_t cap, const struct mm_rec_sub *s);
int mm_rec_sub_unpack(const uint8_t *buf, size_t len, struct mm_rec_sub *ret);

size_t mm_rec_pub_size(const struct mm_rec_pub *p);

/* The bytes of a PUB before its topic, payload and properties (what max_message_size limits). */
#define MM_REC_PUB_FIXED 24u

/*
 * mm_rec_cmd_ring_size - the cmd-ring capacity of a session
 * @max_message_size: the session's performance.max_message_size
 *
 * A power of two, at least 64 KiB, that takes a PUB of max_message_size bytes of topic,
 * payload and properties (a ring takes records of up to half its capacity, shm/ring.c): 1 MiB
 * for the default 256 KiB. A SUB for a filter longer than that room can hold is refused.
 */
uint64_t mm_rec_cmd_ring_size(uint32_t max_message_size);
ssize_t mm_rec_pub_pack(uint8_t *buf, size_t cap, const struct mm_rec_pub *p);
int mm_rec_pub_unpack(const uint8_t *buf, size_t len, struct mm_rec_pub *ret);

/* records_client.c */
uint32_t mm_rec_ids_get(const struct mm_rec_ids *ids, unsigned i);

size_t mm_rec_deliver_size(const struct mm_rec_deliver *m);
ssize_t mm_rec_deliver_pack(uint8_t *buf, size_t cap, const struct mm_rec_deliver *m);
int mm_rec_deliver_unpack(const uint8_t *buf, size_t len, struct mm_rec_deliver *ret);

size_t mm_rec_gap_size(const struct mm_rec_gap *m);
ssize_t mm_rec_gap_pack(uint8_t *buf, size_t cap, const struct mm_rec_gap *m);
int mm_rec_gap_unpack(const uint8_t *buf, size_t len, struct mm_rec_gap *ret);

size_t mm_rec_client_event_size(const struct mm_rec_client_event *m);
ssize_t mm_rec_client_event_pack(uint8_t *buf, size_t cap, const struct mm_rec_client_event *m);
int mm_rec_client_event_unpack(const uint8_t *buf, size_t len, struct mm_rec_client_event *ret);

size_t mm_rec_pub_done_size(void);
ssize_t mm_rec_pub_done_pack(uint8_t *buf, size_t cap, const struct mm_rec_pub_done *m);
int mm_rec_pub_done_unpack(const uint8_t *buf, size_t len, struct mm_rec_pub_done *ret);

size_t mm_rec_client_pub_size(const struct mm_rec_client_pub *m);
ssize_t mm_rec_client_pub_pack(uint8_t *buf, size_t cap, const struct mm_rec_client_pub *m);
int mm_rec_client_pub_unpack(const uint8_t *buf, size_t len, struct mm_rec_client_pub *ret);

#endif /* MM_SHM_RECORDS_H */
