/* SPDX-License-Identifier: MIT */
/*
 * The records that travel in a session's rings, packed and unpacked field by field in
 * little-endian order (never a C struct copied onto the ring):
 *
 *   in-ring  (worker -> router):  MSG, EVENT, COMPLETION
 *   cmd-ring (router -> worker):  SUB, UNSUB, PUB
 *
 * Every record body starts with a fixed part, followed by the variable parts whose lengths
 * the fixed part gives. Unpack checks every length against the record length before use and
 * returns views (pointers into the record), so a consumer copies nothing. docs/shm.md has the
 * byte tables.
 */
#ifndef MM_SHM_RECORDS_H
#define MM_SHM_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Record types (struct mm_ring_rec.type); 0 is the ring's PAD. Retired codes are never reused. */
enum mm_rec_kind {
	MM_REC_MSG = 1,	       /* a message received from the broker */
	MM_REC_EVENT = 2,      /* a session state change or a reportable problem */
	MM_REC_COMPLETION = 3, /* the result of a PUB/SUB/UNSUB command */
	MM_REC_CMD_SUB = 16,
	MM_REC_CMD_UNSUB = 17,
	MM_REC_CMD_PUB = 18,
};

#define MM_REC_F_RETAIN 0x1u /* mm_rec_msg.flags, mm_rec_pub.flags */
#define MM_REC_F_DUP	0x2u /* mm_rec_msg.flags */

#define MM_TOPIC_MAX 65535u

struct mm_bytes {
	const uint8_t *p;
	uint32_t len;
};

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
};

struct mm_rec_pub {
	uint64_t req_id;
	uint8_t qos;   /* 0..2 */
	uint8_t flags; /* MM_REC_F_RETAIN */
	struct mm_bytes topic, payload, props;
};

size_t mm_rec_msg_size(const struct mm_rec_msg *m);
void mm_rec_msg_pack(uint8_t *buf, const struct mm_rec_msg *m);
int mm_rec_msg_unpack(const uint8_t *buf, size_t len, struct mm_rec_msg *ret);

size_t mm_rec_event_size(const struct mm_rec_event *e);
void mm_rec_event_pack(uint8_t *buf, const struct mm_rec_event *e);
int mm_rec_event_unpack(const uint8_t *buf, size_t len, struct mm_rec_event *ret);
const char *mm_event_kind_to_string(unsigned kind);

size_t mm_rec_completion_size(void);
void mm_rec_completion_pack(uint8_t *buf, const struct mm_rec_completion *c);
int mm_rec_completion_unpack(const uint8_t *buf, size_t len, struct mm_rec_completion *ret);

size_t mm_rec_sub_size(const struct mm_rec_sub *s);
void mm_rec_sub_pack(uint8_t *buf, const struct mm_rec_sub *s);
int mm_rec_sub_unpack(const uint8_t *buf, size_t len, struct mm_rec_sub *ret);

size_t mm_rec_pub_size(const struct mm_rec_pub *p);
void mm_rec_pub_pack(uint8_t *buf, const struct mm_rec_pub *p);
int mm_rec_pub_unpack(const uint8_t *buf, size_t len, struct mm_rec_pub *ret);

#endif /* MM_SHM_RECORDS_H */
