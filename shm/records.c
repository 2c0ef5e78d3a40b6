/* SPDX-License-Identifier: MIT */
/*
 * Pack and unpack the records of a session's rings (see records.h and docs/shm.md): MSG,
 * EVENT and COMPLETION in the in-ring, SUB, UNSUB and PUB in the cmd-ring. The worker and the
 * router size a ring reservation with the matching *_size and pack into it, so packing these
 * never fails in practice; unpack validates every length against the record before it returns
 * views.
 */
#include "records.h"

#include "layout.h"

size_t mm_rec_msg_size(const struct mm_rec_msg *m)
{
	return MM_REC_MSG_FIXED + (size_t)m->topic.len + m->payload.len + m->props.len;
}

/* Pack <m> into <buf> of <cap> >= mm_rec_msg_size(m) bytes. topic.len must be <= MM_TOPIC_MAX. */
ssize_t mm_rec_msg_pack(uint8_t *buf, size_t cap, const struct mm_rec_msg *m)
{
	struct pw w = { buf, cap, 0, 0 };

	pw_u64(&w, m->recv_ns);
	pw_u32(&w, m->mid);
	pw_u16(&w, (uint16_t)m->topic.len);
	pw_u8(&w, m->qos);
	pw_u8(&w, m->flags);
	pw_u32(&w, m->payload.len);
	pw_u32(&w, m->props.len);
	pw_bytes(&w, m->topic);
	pw_bytes(&w, m->payload);
	pw_bytes(&w, m->props);
	return pw_end(&w);
}

/* Unpack a MSG record. Returns 0, or -EBADMSG for bad lengths, QoS or flags. */
int mm_rec_msg_unpack(const uint8_t *buf, size_t len, struct mm_rec_msg *ret)
{
	struct pr r = { buf, len, 0, false };
	struct mm_rec_msg m;
	uint32_t plen, xlen;
	uint16_t tlen;

	m.recv_ns = pr_u64(&r);
	m.mid = pr_u32(&r);
	tlen = pr_u16(&r);
	m.qos = pr_u8(&r);
	m.flags = pr_u8(&r);
	plen = pr_u32(&r);
	xlen = pr_u32(&r);
	m.topic = pr_bytes(&r, tlen);
	m.payload = pr_bytes(&r, plen);
	m.props = pr_bytes(&r, xlen);
	if (!pr_done(&r) || m.qos > 2 || m.flags & ~MM_REC_F_MSG)
		return -EBADMSG;
	*ret = m;
	return 0;
}

#define EVENT_FIXED 24u

size_t mm_rec_event_size(const struct mm_rec_event *e)
{
	return EVENT_FIXED + (size_t)e->text.len;
}

/* Pack <e> into <buf> of <cap> >= mm_rec_event_size(e) bytes; text.len must be <= 65535. */
ssize_t mm_rec_event_pack(uint8_t *buf, size_t cap, const struct mm_rec_event *e)
{
	struct pw w = { buf, cap, 0, 0 };

	pw_u64(&w, e->time_ns);
	pw_u16(&w, e->kind);
	pw_u16(&w, (uint16_t)e->text.len);
	pw_u32(&w, (uint32_t)e->code);
	pw_u32(&w, e->attempt);
	pw_u32(&w, e->delay_ms);
	pw_bytes(&w, e->text);
	return pw_end(&w);
}

/* Unpack an EVENT record. Returns 0, or -EBADMSG for bad lengths or an unknown kind. */
int mm_rec_event_unpack(const uint8_t *buf, size_t len, struct mm_rec_event *ret)
{
	struct pr r = { buf, len, 0, false };
	struct mm_rec_event e;
	uint16_t tlen;

	e.time_ns = pr_u64(&r);
	e.kind = pr_u16(&r);
	tlen = pr_u16(&r);
	e.code = (int32_t)pr_u32(&r);
	e.attempt = pr_u32(&r);
	e.delay_ms = pr_u32(&r);
	e.text = pr_bytes(&r, tlen);
	if (!pr_done(&r) || e.kind >= _MM_EV_KIND_MAX)
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
		[MM_EV_MSG_QUARANTINED] = "message_quarantined",
	};

	return kind < _MM_EV_KIND_MAX ? names[kind] : "unknown";
}

#define COMPLETION_FIXED 24u

size_t mm_rec_completion_size(void)
{
	return COMPLETION_FIXED;
}

ssize_t mm_rec_completion_pack(uint8_t *buf, size_t cap, const struct mm_rec_completion *c)
{
	struct pw w = { buf, cap, 0, 0 };

	pw_u64(&w, c->req_id);
	pw_u32(&w, (uint32_t)c->result);
	pw_u32(&w, (uint32_t)c->reason);
	pw_u16(&w, c->cmd);
	pw_u16(&w, 0);
	pw_u32(&w, 0);
	return pw_end(&w);
}

static bool is_cmd(uint16_t cmd)
{
	return cmd == MM_REC_CMD_SUB || cmd == MM_REC_CMD_UNSUB || cmd == MM_REC_CMD_PUB;
}

/* Unpack a COMPLETION record. Returns 0, or -EBADMSG (length, command, reserved bytes). */
int mm_rec_completion_unpack(const uint8_t *buf, size_t len, struct mm_rec_completion *ret)
{
	struct pr r = { buf, len, 0, false };
	struct mm_rec_completion c;
	uint16_t reserved16;
	uint32_t reserved32;

	c.req_id = pr_u64(&r);
	c.result = (int32_t)pr_u32(&r);
	c.reason = (int32_t)pr_u32(&r);
	c.cmd = pr_u16(&r);
	reserved16 = pr_u16(&r);
	reserved32 = pr_u32(&r);
	if (!pr_done(&r) || reserved16 || reserved32 || !is_cmd(c.cmd))
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
ssize_t mm_rec_sub_pack(uint8_t *buf, size_t cap, const struct mm_rec_sub *s)
{
	struct pw w = { buf, cap, 0, 0 };

	pw_u64(&w, s->req_id);
	pw_u8(&w, s->qos);
	pw_u8(&w, s->flags);
	pw_u16(&w, (uint16_t)s->filter.len);
	pw_u32(&w, 0);
	pw_bytes(&w, s->filter);
	return pw_end(&w);
}

/* Unpack a SUB or UNSUB command. Returns 0 or -EBADMSG. An empty filter is refused. */
int mm_rec_sub_unpack(const uint8_t *buf, size_t len, struct mm_rec_sub *ret)
{
	struct pr r = { buf, len, 0, false };
	struct mm_rec_sub s;
	uint32_t reserved32;
	uint16_t flen;

	s.req_id = pr_u64(&r);
	s.qos = pr_u8(&r);
	s.flags = pr_u8(&r);
	flen = pr_u16(&r);
	reserved32 = pr_u32(&r);
	s.filter = pr_bytes(&r, flen);
	if (!pr_done(&r) || s.flags & ~MM_REC_SUB_F_RETAINED || reserved32 || s.qos > 2 ||
	    flen == 0)
		return -EBADMSG;
	*ret = s;
	return 0;
}

#define PUB_FIXED MM_REC_PUB_FIXED

size_t mm_rec_pub_size(const struct mm_rec_pub *p)
{
	return PUB_FIXED + (size_t)p->topic.len + p->payload.len + p->props.len;
}

uint64_t mm_rec_cmd_ring_size(uint32_t max_message_size)
{
	uint64_t need = 2 * mm_ring_rec_size(PUB_FIXED + (uint64_t)max_message_size);
	uint64_t cap = 1u << 16;

	while (cap < need)
		cap <<= 1;
	return cap;
}

ssize_t mm_rec_pub_pack(uint8_t *buf, size_t cap, const struct mm_rec_pub *p)
{
	struct pw w = { buf, cap, 0, 0 };

	pw_u64(&w, p->req_id);
	pw_u8(&w, p->qos);
	pw_u8(&w, p->flags);
	pw_u16(&w, (uint16_t)p->topic.len);
	pw_u32(&w, p->payload.len);
	pw_u32(&w, p->props.len);
	pw_u32(&w, 0);
	pw_bytes(&w, p->topic);
	pw_bytes(&w, p->payload);
	pw_bytes(&w, p->props);
	return pw_end(&w);
}

/* Unpack a PUB command. Returns 0 or -EBADMSG. An empty topic is refused. */
int mm_rec_pub_unpack(const uint8_t *buf, size_t len, struct mm_rec_pub *ret)
{
	struct pr r = { buf, len, 0, false };
	struct mm_rec_pub p;
	uint32_t plen, xlen, reserved;
	uint16_t tlen;

	p.req_id = pr_u64(&r);
	p.qos = pr_u8(&r);
	p.flags = pr_u8(&r);
	tlen = pr_u16(&r);
	plen = pr_u32(&r);
	xlen = pr_u32(&r);
	reserved = pr_u32(&r);
	p.topic = pr_bytes(&r, tlen);
	p.payload = pr_bytes(&r, plen);
	p.props = pr_bytes(&r, xlen);
	if (!pr_done(&r) || reserved || p.qos > 2 || p.flags & ~MM_REC_F_RETAIN || tlen == 0)
		return -EBADMSG;
	*ret = p;
	return 0;
}
