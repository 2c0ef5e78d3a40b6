/* SPDX-License-Identifier: MIT */
/*
 * THE router <-> client protocol on router.sock: type codes, flags, limits, and the pack/unpack
 * functions of every frame. The records the router and a client exchange through the client's
 * rings are in shm/records.h with every other ring record. docs/protocol.md is the normative
 * description, with the byte tables; a change edits both in the same commit and bumps
 * MM_PROTO_VERSION_MINOR (additive) or MM_PROTO_VERSION_MAJOR (breaking).
 *
 * Everything is packed field by field, little-endian; a C struct is never copied onto the
 * wire. Unpack checks every length against the remaining bytes before it reads and returns
 * views: the byte fields of an unpacked struct point into the caller's buffer.
 *
 * Library code: no logging, no allocation; -errno returns.
 */
#ifndef MM_PROTO_H
#define MM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

#define MM_PROTO_VERSION_MAJOR 1
#define MM_PROTO_VERSION_MINOR 2 /* 1: ROUTE_ADD may carry MM_PROTO_F_REJOIN; 2: on_full 2 */

/* In the runtime_dir: AF_UNIX, SOCK_SEQPACKET, peers checked with SO_PEERCRED. */
#define MM_PROTO_SOCK_NAME "router.sock"
#define MM_PROTO_HDR_SIZE  16u
#define MM_PROTO_MAX_FRAME 65536u      /* largest frame, header included */
#define MM_PROTO_MAX_FDS   8	       /* most descriptors one frame may carry */
#define MM_PROTO_NAME_MAX  MM_NAME_MAX /* client and session names, bytes */
#define MM_PROTO_TEXT_MAX  1024u       /* ERROR message, bytes */

/* Frame types (header.type). Retired codes are never reused. */
enum mm_proto_type {
	MM_PROTO_HELLO = 0x0001,	 /* client -> router */
	MM_PROTO_WELCOME = 0x0002,	 /* router -> client, 6 descriptors */
	MM_PROTO_ERROR = 0x0003,	 /* either way */
	MM_PROTO_PING = 0x0004,		 /* either way */
	MM_PROTO_PONG = 0x0005,		 /* either way */
	MM_PROTO_ROUTE_ADD = 0x0010,	 /* client -> router */
	MM_PROTO_ROUTE_ACK = 0x0011,	 /* router -> client */
	MM_PROTO_ROUTE_DEL = 0x0012,	 /* client -> router */
	MM_PROTO_REJOINED = 0x0013,	 /* client -> router, no reply */
	MM_PROTO_SESSIONS_LIST = 0x0020, /* client -> router */
	MM_PROTO_SESSIONS = 0x0021,	 /* router -> client */
};

enum mm_proto_dir {
	MM_PROTO_DIR_NONE = 0, /* unknown type */
	MM_PROTO_DIR_C2R,
	MM_PROTO_DIR_R2C,
	MM_PROTO_DIR_BOTH,
	_MM_PROTO_DIR_MAX
};

#define MM_PROTO_F_FATAL  0x1u /* ERROR: the sender closes the connection after this frame */
#define MM_PROTO_F_MORE	  0x1u /* SESSIONS: more SESSIONS frames with the same seq follow */
/* ROUTE_ADD: the route is registered again after a reconnect; it had its retained messages */
#define MM_PROTO_F_REJOIN 0x1u

/* HELLO.features / WELCOME.features: capability bits; unknown bits are ignored, not refused. */
#define MM_PROTO_FEAT_EVENTS  0x1u /* send CLIENT_EVENT records for session state changes */
#define MM_PROTO_FEAT_PUB_ALL 0x2u /* CLIENT_PUB with MM_REC_F_ALL is accepted */
#define MM_PROTO_FEATURES     (MM_PROTO_FEAT_EVENTS | MM_PROTO_FEAT_PUB_ALL)

/* WELCOME descriptors, in this order. */
enum mm_proto_welcome_fd {
	MM_PROTO_FD_DLV_RING = 0, /* delivery ring memfd (router produces) */
	MM_PROTO_FD_DLV_DATA,	  /* its data doorbell (eventfd) */
	MM_PROTO_FD_DLV_SPACE,	  /* its space doorbell (eventfd) */
	MM_PROTO_FD_PUB_RING,	  /* pub ring memfd (client produces) */
	MM_PROTO_FD_PUB_DATA,	  /* its data doorbell */
	MM_PROTO_FD_PUB_SPACE,	  /* its space doorbell */
	MM_PROTO_WELCOME_NFDS
};

enum mm_proto_on_full {
	MM_PROTO_ON_FULL_DROP = 0, /* count, skip, and report a GAP later */
	MM_PROTO_ON_FULL_BLOCK,	   /* stop draining the session until there is room */
	MM_PROTO_ON_FULL_DEFAULT,  /* the router's clients.on_full (protocol 1.2) */
	_MM_PROTO_ON_FULL_MAX
};

struct mm_proto_hdr {
	uint32_t len; /* whole frame, header included */
	uint16_t type;
	uint16_t flags;
	uint32_t seq;
};

struct mm_proto_hello {
	uint32_t seq;
	uint16_t major, minor;
	uint32_t features;    /* wanted */
	uint64_t token;	      /* non-zero, the same on every (re)connect of one client */
	struct mm_bytes name; /* 0..MM_PROTO_NAME_MAX, for logs and metrics */
};

struct mm_proto_welcome {
	uint32_t seq; /* the HELLO's */
	uint16_t major, minor;
	uint32_t features; /* accepted: a subset of HELLO.features */
	uint32_t client_id;
	uint32_t max_frame;
	uint64_t dlv_size; /* delivery ring data capacity, bytes */
	uint64_t pub_size; /* pub ring data capacity, bytes */
};

struct mm_proto_error {
	uint32_t seq;	/* of the refused frame, or 0 */
	uint16_t flags; /* MM_PROTO_F_FATAL */
	int32_t code;	/* positive errno value: EPROTO, EINVAL, ... */
	struct mm_bytes text;
};

struct mm_proto_ping {
	uint32_t seq;
	uint64_t token; /* opaque; PONG echoes it */
};

struct mm_proto_route_add {
	uint32_t seq;
	uint32_t route_id;	 /* chosen by the client, non-zero, unique on the connection */
	uint8_t qos;		 /* 0..2 */
	uint8_t on_full;	 /* enum mm_proto_on_full */
	struct mm_bytes session; /* empty: every session, present and future */
	struct mm_bytes filter;	 /* MQTT topic filter, non-empty */
	uint16_t flags;		 /* header flags: MM_PROTO_F_REJOIN */
};

struct mm_proto_route_ack {
	uint32_t seq; /* of the ROUTE_ADD or ROUTE_DEL */
	uint32_t route_id;
	uint16_t acked; /* MM_PROTO_ROUTE_ADD or MM_PROTO_ROUTE_DEL */
};

struct mm_proto_route_del {
	uint32_t seq;
	uint32_t route_id;
};

/* "All my routes are registered again": empty body, no reply. */
struct mm_proto_rejoined {
	uint32_t seq;
};

struct mm_proto_sessions_list {
	uint32_t seq;
};

struct mm_proto_session_entry {
	uint32_t idx;	      /* session index, as in DELIVER records */
	uint8_t state;	      /* last worker event kind (enum mm_event_kind), 0xff: none */
	struct mm_bytes name; /* 1..MM_PROTO_NAME_MAX */
};

struct mm_proto_sessions {
	uint32_t seq;	/* the SESSIONS_LIST's */
	uint16_t flags; /* MM_PROTO_F_MORE */
	uint16_t count;
	const struct mm_proto_session_entry *entries; /* pack: count entries */
	struct mm_bytes raw;			      /* unpack: the packed entries */
};

int mm_proto_unpack_header(const uint8_t *buf, size_t len, struct mm_proto_hdr *ret);
enum mm_proto_dir mm_proto_type_dir(unsigned type);
const char *mm_proto_type_to_string(unsigned type);

ssize_t mm_proto_pack_hello(uint8_t *buf, size_t cap, const struct mm_proto_hello *m);
int mm_proto_unpack_hello(const uint8_t *buf, size_t len, struct mm_proto_hello *ret);
ssize_t mm_proto_pack_welcome(uint8_t *buf, size_t cap, const struct mm_proto_welcome *m);
int mm_proto_unpack_welcome(const uint8_t *buf, size_t len, struct mm_proto_welcome *ret);
ssize_t mm_proto_pack_error(uint8_t *buf, size_t cap, const struct mm_proto_error *m);
int mm_proto_unpack_error(const uint8_t *buf, size_t len, struct mm_proto_error *ret);
ssize_t mm_proto_pack_ping(uint8_t *buf, size_t cap, const struct mm_proto_ping *m);
int mm_proto_unpack_ping(const uint8_t *buf, size_t len, struct mm_proto_ping *ret);
ssize_t mm_proto_pack_pong(uint8_t *buf, size_t cap, const struct mm_proto_ping *m);
int mm_proto_unpack_pong(const uint8_t *buf, size_t len, struct mm_proto_ping *ret);
ssize_t mm_proto_pack_route_add(uint8_t *buf, size_t cap, const struct mm_proto_route_add *m);
int mm_proto_unpack_route_add(const uint8_t *buf, size_t len, struct mm_proto_route_add *ret);
ssize_t mm_proto_pack_route_ack(uint8_t *buf, size_t cap, const struct mm_proto_route_ack *m);
int mm_proto_unpack_route_ack(const uint8_t *buf, size_t len, struct mm_proto_route_ack *ret);
ssize_t mm_proto_pack_route_del(uint8_t *buf, size_t cap, const struct mm_proto_route_del *m);
int mm_proto_unpack_route_del(const uint8_t *buf, size_t len, struct mm_proto_route_del *ret);
ssize_t mm_proto_pack_rejoined(uint8_t *buf, size_t cap, const struct mm_proto_rejoined *m);
int mm_proto_unpack_rejoined(const uint8_t *buf, size_t len, struct mm_proto_rejoined *ret);
ssize_t mm_proto_pack_sessions_list(uint8_t *buf, size_t cap,
				    const struct mm_proto_sessions_list *m);
int mm_proto_unpack_sessions_list(const uint8_t *buf, size_t len,
				  struct mm_proto_sessions_list *ret);
ssize_t mm_proto_pack_sessions(uint8_t *buf, size_t cap, const struct mm_proto_sessions *m);
int mm_proto_unpack_sessions(const uint8_t *buf, size_t len, struct mm_proto_sessions *ret);
int mm_proto_sessions_next(const struct mm_proto_sessions *s, size_t *off,
			   struct mm_proto_session_entry *ret);

int mm_proto_send(int sock, const uint8_t *frame, size_t len, const int *fds, int nfds);
ssize_t mm_proto_recv(int sock, uint8_t *buf, size_t cap, int *fds, int *nfds);

#endif /* MM_PROTO_H */
