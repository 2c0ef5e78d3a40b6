/* SPDX-License-Identifier: MIT */
/*
 * The decoders of common/proto.c (router.sock frames) and shm/records_client.c (the records
 * of a client's rings) as one table, for the unit tests and the fuzz target: each
 * entry unpacks an input and, if that succeeds, packs the result again. The encoding is
 * canonical (exact lengths, zero reserved bytes), so an accepted input must repack to the very
 * same bytes. Header-only: each includer gets its own static copy.
 */
#ifndef T_PROTO_CASES_H
#define T_PROTO_CASES_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "records.h"

/* Unpack <in>; on success pack the result into <out>. Returns the unpack error or pack result. */
typedef ssize_t proto_repack_fn(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

struct proto_case {
	const char *name; /* golden vector: tests/data/proto/<name>.hex */
	bool frame;	  /* a router.sock frame (else a ring record body) */
	proto_repack_fn *repack;
};

/* Defines rp_<name>() for a message whose pack and unpack take struct <type>. */
#define PROTO_REPACK(name, type)                                                          \
	static ssize_t rp_##name(const uint8_t *in, size_t len, uint8_t *out, size_t cap) \
	{                                                                                 \
		struct type m;                                                            \
		int r = mm_proto_unpack_##name(in, len, &m);                              \
		return r < 0 ? r : mm_proto_pack_##name(out, cap, &m);                    \
	}

PROTO_REPACK(hello, mm_proto_hello)
PROTO_REPACK(welcome, mm_proto_welcome)
PROTO_REPACK(error, mm_proto_error)
PROTO_REPACK(ping, mm_proto_ping)
PROTO_REPACK(pong, mm_proto_ping)
PROTO_REPACK(route_add, mm_proto_route_add)
PROTO_REPACK(route_ack, mm_proto_route_ack)
PROTO_REPACK(route_del, mm_proto_route_del)
PROTO_REPACK(rejoined, mm_proto_rejoined)
PROTO_REPACK(sessions_list, mm_proto_sessions_list)

/* Defines rp_<name>() for a ring record whose pack and unpack take struct mm_rec_<name>. */
#define REC_REPACK(name)                                                                  \
	static ssize_t rp_##name(const uint8_t *in, size_t len, uint8_t *out, size_t cap) \
	{                                                                                 \
		struct mm_rec_##name m;                                                   \
		int r = mm_rec_##name##_unpack(in, len, &m);                              \
		return r < 0 ? r : mm_rec_##name##_pack(out, cap, &m);                    \
	}

REC_REPACK(deliver)
REC_REPACK(gap)
REC_REPACK(client_event)
REC_REPACK(pub_done)
REC_REPACK(client_pub)

/* SESSIONS unpacks to a view of packed entries; pack wants an array, so rebuild one. */
static ssize_t rp_sessions(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	static struct mm_proto_session_entry v[MM_PROTO_MAX_FRAME / 8];
	struct mm_proto_sessions m;
	size_t off = 0;
	unsigned n = 0;
	int r;

	r = mm_proto_unpack_sessions(in, len, &m);
	if (r < 0)
		return r;
	while (n < m.count && mm_proto_sessions_next(&m, &off, &v[n]) == 1)
		n++;
	if (n != m.count || off != m.raw.len)
		return -EPROTO; /* an accepted frame must iterate exactly: a decoder bug */
	m.entries = v;
	return mm_proto_pack_sessions(out, cap, &m);
}

static const struct proto_case proto_cases[] = {
	{ "hello", true, rp_hello },
	{ "welcome", true, rp_welcome },
	{ "error", true, rp_error },
	{ "ping", true, rp_ping },
	{ "pong", true, rp_pong },
	{ "route_add", true, rp_route_add },
	{ "route_ack", true, rp_route_ack },
	{ "route_del", true, rp_route_del },
	{ "rejoined", true, rp_rejoined },
	{ "sessions_list", true, rp_sessions_list },
	{ "sessions", true, rp_sessions },
	{ "deliver", false, rp_deliver },
	{ "gap", false, rp_gap },
	{ "client_event", false, rp_client_event },
	{ "pub_done", false, rp_pub_done },
	{ "client_pub", false, rp_client_pub },
};

#define PROTO_NCASES (sizeof(proto_cases) / sizeof(proto_cases[0]))

#endif /* T_PROTO_CASES_H */
