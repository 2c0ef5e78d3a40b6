/* SPDX-License-Identifier: MIT */
/*
 * Pack and unpack the records of a client's rings (see records.h and docs/protocol.md):
 * DELIVER, GAP, CLIENT_EVENT and PUB_DONE in the delivery ring, CLIENT_PUB in the pub ring.
 * These are record bodies: the ring's own 8-byte record header (length, type, flags) is not
 * included. Pack writes into <buf> of <cap> bytes (normally a ring reservation of the matching
 * *_size) and returns the bytes written, -ENOSPC or -EINVAL (a field out of range); unpack
 * checks every length against the record before use and returns 0 with views into <buf>, or
 * -EBADMSG. A CLIENT_PUB comes from an untrusted client: unpack it from a private copy only.
 */
#include "records.h"

/* Route id <i> of <ids>, from the host array when packing or the wire bytes when unpacked. */
uint32_t mm_rec_ids_get(const struct mm_rec_ids *ids, unsigned i)
{
	const uint8_t *b;

	if (ids->host)
		return ids->host[i];
	b = ids->wire + 4 * (size_t)i;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

#define DELIVER_FIXED 40u

size_t mm_rec_deliver_size(const struct mm_rec_deliver *m)
{
	return DELIVER_FIXED + 4 * (size_t)m->routes.n + m->session.len + m->topic.len +
	       m->payload.len + m->props.len;
}

static bool deliver_ok(const struct mm_rec_deliver *m)
{
	return m->qos <= 2 && !(m->flags & ~(MM_REC_F_RETAIN | MM_REC_F_DUP)) && m->routes.n &&
	       m->topic.len;
}

ssize_t mm_rec_deliver_pack(uint8_t *buf, size_t cap, const struct mm_rec_deliver *m)
{
	struct pw w = { buf, cap, 0, 0 };

	pw_need(&w, deliver_ok(m) && pw_str_ok(&w, m->session, MM_NAME_MAX) &&
			    pw_str_ok(&w, m->topic, UINT16_MAX));
	pw_u64(&w, m->recv_ns);
	pw_u32(&w, m->mid);
	pw_u32(&w, m->session_idx);
	pw_u8(&w, m->qos);
	pw_u8(&w, m->flags);
	pw_u16(&w, m->routes.n);
	pw_u16(&w, (uint16_t)m->session.len);
	pw_u16(&w, (uint16_t)m->topic.len);
	pw_u32(&w, m->payload.len);
	pw_u32(&w, m->props.len);
	pw_u64(&w, m->seq);
	for (unsigned i = 0; i < m->routes.n; i++)
		pw_u32(&w, mm_rec_ids_get(&m->routes, i));
	pw_bytes(&w, m->session);
	pw_bytes(&w, m->topic);
	pw_bytes(&w, m->payload);
	pw_bytes(&w, m->props);
	return pw_end(&w);
}

int mm_rec_deliver_unpack(const uint8_t *buf, size_t len, struct mm_rec_deliver *ret)
{
	struct pr r = { buf, len, 0, false };
	struct mm_rec_deliver m;
	uint16_t slen, tlen;
	uint32_t plen, xlen;

	m.recv_ns = pr_u64(&r);
	m.mid = pr_u32(&r);
	m.session_idx = pr_u32(&r);
	m.qos = pr_u8(&r);
	m.flags = pr_u8(&r);
	m.routes.n = pr_u16(&r);
	slen = pr_u16(&r);
	tlen = pr_u16(&r);
	plen = pr_u32(&r);
	xlen = pr_u32(&r);
	m.seq = pr_u64(&r);
	m.routes.host = NULL;
	m.routes.wire = pr_bytes(&r, 4u * m.routes.n).p;
	m.session = pr_strn(&r, slen, MM_NAME_MAX);
	m.topic = pr_strn(&r, tlen, UINT16_MAX);
	m.payload = pr_bytes(&r, plen);
	m.props = pr_bytes(&r, xlen);
	if (!pr_done(&r) || !deliver_ok(&m))
		return -EBADMSG;
	*ret = m;
	return 0;
}

#define GAP_FIXED 16u

size_t mm_rec_gap_size(const struct mm_rec_gap *m)
{
	return GAP_FIXED + m->session.len;
}

static bool gap_ok(const struct mm_rec_gap *m)
{
	return m->lost && (m->session_idx != MM_REC_SESSION_ANY || !m->session.len);
}

ssize_t mm_rec_gap_pack(uint8_t *buf, size_t cap, const struct mm_rec_gap *m)
{
	struct pw w = { buf, cap, 0, 0 };

	pw_need(&w, gap_ok(m) && pw_str_ok(&w, m->session, MM_NAME_MAX));
	pw_u64(&w, m->lost);
	pw_u32(&w, m->session_idx);
	pw_u16(&w, (uint16_t)m->session.len);
	pw_u16(&w, 0);
	pw_bytes(&w, m->session);
	return pw_end(&w);
}

int mm_rec_gap_unpack(const uint8_t *buf, size_t len, struct mm_rec_gap *ret)
{
	struct pr r = { buf, len, 0, false };
	struct mm_rec_gap m;
	uint16_t slen, reserved;

	m.lost = pr_u64(&r);
	m.session_idx = pr_u32(&r);
	slen = pr_u16(&r);
	reserved = pr_u16(&r);
	m.session = pr_strn(&r, slen, MM_NAME_MAX);
	if (!pr_done(&r) || reserved || !gap_ok(&m))
		return -EBADMSG;
	*ret = m;
	return 0;
}

#define CLIENT_EVENT_FIXED 32u

size_t mm_rec_client_event_size(const struct mm_rec_client_event *m)
{
	return CLIENT_EVENT_FIXED + (size_t)m->session.len + m->text.len;
}

ssize_t mm_rec_client_event_pack(uint8_t *buf, size_t cap, const struct mm_rec_client_event *m)
{
	struct pw w = { buf, cap, 0, 0 };

	pw_need(&w, m->kind < _MM_CLIENT_EV_MAX && pw_str_ok(&w, m->session, MM_NAME_MAX) &&
			    pw_str_ok(&w, m->text, UINT16_MAX));
	pw_u64(&w, m->time_ns);
	pw_u32(&w, m->session_idx);
	pw_u16(&w, m->kind);
	pw_u16(&w, (uint16_t)m->session.len);
	pw_u32(&w, (uint32_t)m->code);
	pw_u32(&w, m->attempt);
	pw_u32(&w, m->delay_ms);
	pw_u16(&w, (uint16_t)m->text.len);
	pw_u16(&w, 0);
	pw_bytes(&w, m->session);
	pw_bytes(&w, m->text);
	return pw_end(&w);
}

int mm_rec_client_event_unpack(const uint8_t *buf, size_t len, struct mm_rec_client_event *ret)
{
	struct pr r = { buf, len, 0, false };
	struct mm_rec_client_event m;
	uint16_t slen, tlen, reserved;

	m.time_ns = pr_u64(&r);
	m.session_idx = pr_u32(&r);
	m.kind = pr_u16(&r);
	slen = pr_u16(&r);
	m.code = (int32_t)pr_u32(&r);
	m.attempt = pr_u32(&r);
	m.delay_ms = pr_u32(&r);
	tlen = pr_u16(&r);
	reserved = pr_u16(&r);
	m.session = pr_strn(&r, slen, MM_NAME_MAX);
	m.text = pr_strn(&r, tlen, UINT16_MAX);
	if (!pr_done(&r) || reserved || m.kind >= _MM_CLIENT_EV_MAX)
		return -EBADMSG;
	*ret = m;
	return 0;
}

#define PUB_DONE_FIXED 16u

size_t mm_rec_pub_done_size(void)
{
	return PUB_DONE_FIXED;
}

ssize_t mm_rec_pub_done_pack(uint8_t *buf, size_t cap, const struct mm_rec_pub_done *m)
{
	struct pw w = { buf, cap, 0, 0 };

	pw_u64(&w, m->req_id);
	pw_u32(&w, (uint32_t)m->result);
	pw_u32(&w, (uint32_t)m->reason);
	return pw_end(&w);
}

int mm_rec_pub_done_unpack(const uint8_t *buf, size_t len, struct mm_rec_pub_done *ret)
{
	struct pr r = { buf, len, 0, false };
	struct mm_rec_pub_done m;

	m.req_id = pr_u64(&r);
	m.result = (int32_t)pr_u32(&r);
	m.reason = (int32_t)pr_u32(&r);
	if (!pr_done(&r) || m.result > 0)
		return -EBADMSG;
	*ret = m;
	return 0;
}

#define CLIENT_PUB_FIXED 24u

size_t mm_rec_client_pub_size(const struct mm_rec_client_pub *m)
{
	return CLIENT_PUB_FIXED + (size_t)m->session.len + m->topic.len + m->payload.len +
	       m->props.len;
}

/* ALL means every session, and then the session name is empty; otherwise it is required. */
static bool client_pub_ok(const struct mm_rec_client_pub *m)
{
	bool all = m->flags & MM_REC_F_ALL;

	return m->qos <= 2 && !(m->flags & ~(MM_REC_F_RETAIN | MM_REC_F_ALL)) && m->topic.len &&
	       all == !m->session.len;
}

ssize_t mm_rec_client_pub_pack(uint8_t *buf, size_t cap, const struct mm_rec_client_pub *m)
{
	struct pw w = { buf, cap, 0, 0 };

	pw_need(&w, client_pub_ok(m) && pw_str_ok(&w, m->session, MM_NAME_MAX) &&
			    pw_str_ok(&w, m->topic, UINT16_MAX));
	pw_u64(&w, m->req_id);
	pw_u8(&w, m->qos);
	pw_u8(&w, m->flags);
	pw_u16(&w, (uint16_t)m->session.len);
	pw_u16(&w, (uint16_t)m->topic.len);
	pw_u16(&w, 0);
	pw_u32(&w, m->payload.len);
	pw_u32(&w, m->props.len);
	pw_bytes(&w, m->session);
	pw_bytes(&w, m->topic);
	pw_bytes(&w, m->payload);
	pw_bytes(&w, m->props);
	return pw_end(&w);
}

int mm_rec_client_pub_unpack(const uint8_t *buf, size_t len, struct mm_rec_client_pub *ret)
{
	struct pr r = { buf, len, 0, false };
	struct mm_rec_client_pub m;
	uint16_t slen, tlen, reserved;
	uint32_t plen, xlen;

	m.req_id = pr_u64(&r);
	m.qos = pr_u8(&r);
	m.flags = pr_u8(&r);
	slen = pr_u16(&r);
	tlen = pr_u16(&r);
	reserved = pr_u16(&r);
	plen = pr_u32(&r);
	xlen = pr_u32(&r);
	m.session = pr_strn(&r, slen, MM_NAME_MAX);
	m.topic = pr_strn(&r, tlen, UINT16_MAX);
	m.payload = pr_bytes(&r, plen);
	m.props = pr_bytes(&r, xlen);
	if (!pr_done(&r) || reserved || !client_pub_ok(&m))
		return -EBADMSG;
	*ret = m;
	return 0;
}
