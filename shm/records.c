/* SPDX-License-Identifier: MIT */
/*
 * Pack and unpack the records of a session's rings (see records.h and docs/shm.md). Pack
 * writes into a buffer the caller sized with the matching *_size function (normally a ring
 * reservation); unpack validates every length against the record before it returns views.
 */
#include "records.h"

#include <errno.h>
#include <string.h>

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)v);
	put16(b + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *b, uint64_t v)
{
	put32(b, (uint32_t)v);
	put32(b + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] | b[1] << 8);
}

static uint32_t get32(const uint8_t *b)
{
	return get16(b) | (uint32_t)get16(b + 2) << 16;
}

static uint64_t get64(const uint8_t *b)
{
	return get32(b) | (uint64_t)get32(b + 4) << 32;
}

/* Copy <n> variable parts after the fixed part at <off>; returns the end offset. */
static size_t put_parts(uint8_t *buf, size_t off, const struct mm_bytes *parts, int n)
{
	for (int i = 0; i < n; i++) {
		if (parts[i].len)
			memcpy(buf + off, parts[i].p, parts[i].len);
		off += parts[i].len;
	}
	return off;
}

/*
 * Point <parts> into <buf> after the fixed part of <fixed> bytes, with the lengths already in
 * parts[i].len; the parts must end exactly at <len>. Returns 0 or -EBADMSG.
 */
static int get_parts(const uint8_t *buf, size_t len, size_t fixed, struct mm_bytes *parts, int n)
{
	uint64_t off = fixed;

	if (len < fixed)
		return -EBADMSG;
	for (int i = 0; i < n; i++) {
		parts[i].p = buf + off;
		off += parts[i].len;
	}
	return off == len ? 0 : -EBADMSG;
}

#define MSG_FIXED 24u

size_t mm_rec_msg_size(const struct mm_rec_msg *m)
{
	return MSG_FIXED + (size_t)m->topic.len + m->payload.len + m->props.len;
}

/* Pack <m> into <buf> of mm_rec_msg_size(m) bytes. topic.len must be <= MM_TOPIC_MAX. */
void mm_rec_msg_pack(uint8_t *buf, const struct mm_rec_msg *m)
{
	put64(buf, m->recv_ns);
	put32(buf + 8, m->mid);
	put16(buf + 12, (uint16_t)m->topic.len);
	buf[14] = m->qos;
	buf[15] = m->flags;
	put32(buf + 16, m->payload.len);
	put32(buf + 20, m->props.len);
	put_parts(buf, MSG_FIXED, (struct mm_bytes[3]){ m->topic, m->payload, m->props }, 3);
}

/* Unpack a MSG record. Returns 0, or -EBADMSG for bad lengths, QoS or flags. */
int mm_rec_msg_unpack(const uint8_t *buf, size_t len, struct mm_rec_msg *ret)
{
	struct mm_bytes v[3];
	struct mm_rec_msg m;

	if (len < MSG_FIXED)
		return -EBADMSG;
	m.recv_ns = get64(buf);
	m.mid = get32(buf + 8);
	v[0].len = get16(buf + 12);
	m.qos = buf[14];
	m.flags = buf[15];
	v[1].len = get32(buf + 16);
	v[2].len = get32(buf + 20);
	if (m.qos > 2 || m.flags & ~(MM_REC_F_RETAIN | MM_REC_F_DUP))
		return -EBADMSG;
	if (get_parts(buf, len, MSG_FIXED, v, 3) < 0)
		return -EBADMSG;
	m.topic = v[0];
	m.payload = v[1];
	m.props = v[2];
	*ret = m;
	return 0;
}

#define EVENT_FIXED 24u

size_t mm_rec_event_size(const struct mm_rec_event *e)
{
	return EVENT_FIXED + (size_t)e->text.len;
}

/* Pack <e> into <buf> of mm_rec_event_size(e) bytes; text.len must be <= 65535. */
void mm_rec_event_pack(uint8_t *buf, const struct mm_rec_event *e)
{
	put64(buf, e->time_ns);
	put16(buf + 8, e->kind);
	put16(buf + 10, (uint16_t)e->text.len);
	put32(buf + 12, (uint32_t)e->code);
	put32(buf + 16, e->attempt);
	put32(buf + 20, e->delay_ms);
	put_parts(buf, EVENT_FIXED, &e->text, 1);
}

/* Unpack an EVENT record. Returns 0, or -EBADMSG for bad lengths or an unknown kind. */
int mm_rec_event_unpack(const uint8_t *buf, size_t len, struct mm_rec_event *ret)
{
	struct mm_rec_event e;

	if (len < EVENT_FIXED)
		return -EBADMSG;
	e.time_ns = get64(buf);
	e.kind = get16(buf + 8);
	e.text.len = get16(buf + 10);
	e.code = (int32_t)get32(buf + 12);
	e.attempt = get32(buf + 16);
	e.delay_ms = get32(buf + 20);
	if (e.kind >= _MM_EV_KIND_MAX || get_parts(buf, len, EVENT_FIXED, &e.text, 1) < 0)
		return -EBADMSG;
	*ret = e;
	return 0;
}

const char *mm_event_kind_to_string(unsigned kind)
{
	static const char *const names[_MM_EV_KIND_MAX] = {
		[MM_EV_CONNECTING] = "connecting",
		[MM_EV_CONNECTED] = "connected",
		[MM_EV_READY] = "ready",
		[MM_EV_DISCONNECTED] = "disconnected",
		[MM_EV_RECONNECTING] = "reconnecting",
		[MM_EV_MSG_DROPPED] = "message_dropped",
		[MM_EV_SUB_FAILED] = "subscribe_failed",
		[MM_EV_ERROR] = "error",
		[MM_EV_STARTED] = "worker_started",
	};

	return kind < _MM_EV_KIND_MAX ? names[kind] : "unknown";
}

#define COMPLETION_FIXED 24u

size_t mm_rec_completion_size(void)
{
	return COMPLETION_FIXED;
}

void mm_rec_completion_pack(uint8_t *buf, const struct mm_rec_completion *c)
{
	put64(buf, c->req_id);
	put32(buf + 8, (uint32_t)c->result);
	put32(buf + 12, (uint32_t)c->reason);
	put16(buf + 16, c->cmd);
	put16(buf + 18, 0);
	put32(buf + 20, 0);
}

/* Unpack a COMPLETION record. Returns 0, or -EBADMSG (length, command, reserved bytes). */
int mm_rec_completion_unpack(const uint8_t *buf, size_t len, struct mm_rec_completion *ret)
{
	struct mm_rec_completion c;

	if (len != COMPLETION_FIXED || get16(buf + 18) || get32(buf + 20))
		return -EBADMSG;
	c.req_id = get64(buf);
	c.result = (int32_t)get32(buf + 8);
	c.reason = (int32_t)get32(buf + 12);
	c.cmd = get16(buf + 16);
	if (c.cmd != MM_REC_CMD_SUB && c.cmd != MM_REC_CMD_UNSUB && c.cmd != MM_REC_CMD_PUB)
		return -EBADMSG;
	*ret = c;
	return 0;
}

#define SUB_FIXED 16u

size_t mm_rec_sub_size(const struct mm_rec_sub *s)
{
	return SUB_FIXED + (size_t)s->filter.len;
}

/* Pack a SUB or UNSUB command (UNSUB ignores qos); filter.len must be <= MM_TOPIC_MAX. */
void mm_rec_sub_pack(uint8_t *buf, const struct mm_rec_sub *s)
{
	put64(buf, s->req_id);
	buf[8] = s->qos;
	buf[9] = 0;
	put16(buf + 10, (uint16_t)s->filter.len);
	put32(buf + 12, 0);
	put_parts(buf, SUB_FIXED, &s->filter, 1);
}

/* Unpack a SUB or UNSUB command. Returns 0 or -EBADMSG. An empty filter is refused. */
int mm_rec_sub_unpack(const uint8_t *buf, size_t len, struct mm_rec_sub *ret)
{
	struct mm_rec_sub s;

	if (len < SUB_FIXED || buf[9] || get32(buf + 12))
		return -EBADMSG;
	s.req_id = get64(buf);
	s.qos = buf[8];
	s.filter.len = get16(buf + 10);
	if (s.qos > 2 || s.filter.len == 0 || get_parts(buf, len, SUB_FIXED, &s.filter, 1) < 0)
		return -EBADMSG;
	*ret = s;
	return 0;
}

#define PUB_FIXED 24u

size_t mm_rec_pub_size(const struct mm_rec_pub *p)
{
	return PUB_FIXED + (size_t)p->topic.len + p->payload.len + p->props.len;
}

void mm_rec_pub_pack(uint8_t *buf, const struct mm_rec_pub *p)
{
	put64(buf, p->req_id);
	buf[8] = p->qos;
	buf[9] = p->flags;
	put16(buf + 10, (uint16_t)p->topic.len);
	put32(buf + 12, p->payload.len);
	put32(buf + 16, p->props.len);
	put32(buf + 20, 0);
	put_parts(buf, PUB_FIXED, (struct mm_bytes[3]){ p->topic, p->payload, p->props }, 3);
}

/* Unpack a PUB command. Returns 0 or -EBADMSG. An empty topic is refused. */
int mm_rec_pub_unpack(const uint8_t *buf, size_t len, struct mm_rec_pub *ret)
{
	struct mm_bytes v[3];
	struct mm_rec_pub p;

	if (len < PUB_FIXED || get32(buf + 20))
		return -EBADMSG;
	p.req_id = get64(buf);
	p.qos = buf[8];
	p.flags = buf[9];
	v[0].len = get16(buf + 10);
	v[1].len = get32(buf + 12);
	v[2].len = get32(buf + 16);
	if (p.qos > 2 || p.flags & ~MM_REC_F_RETAIN || v[0].len == 0)
		return -EBADMSG;
	if (get_parts(buf, len, PUB_FIXED, v, 3) < 0)
		return -EBADMSG;
	p.topic = v[0];
	p.payload = v[1];
	p.props = v[2];
	*ret = p;
	return 0;
}
