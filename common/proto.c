/* SPDX-License-Identifier: MIT */
/*
 * Pack and unpack the frames of router.sock (see proto.h and docs/protocol.md). Each pack
 * function writes a whole frame, header included, and returns its length; each unpack function
 * takes one whole datagram, checks the header (type included) and the body down to the last
 * byte, and returns views into the datagram. Socket I/O is in proto_io.c; the records of a
 * client's rings are ring records like every other (shm/records.h, shm/records_client.c).
 */
#include "proto.h"

#include "wire.h"

struct type_info {
	uint16_t type;
	uint16_t flags; /* the flag bits this type accepts */
	uint8_t dir;	/* enum mm_proto_dir */
	const char *name;
};

static const struct type_info types[] = {
	{ MM_PROTO_HELLO, 0, MM_PROTO_DIR_C2R, "HELLO" },
	{ MM_PROTO_WELCOME, 0, MM_PROTO_DIR_R2C, "WELCOME" },
	{ MM_PROTO_ERROR, MM_PROTO_F_FATAL, MM_PROTO_DIR_BOTH, "ERROR" },
	{ MM_PROTO_PING, 0, MM_PROTO_DIR_BOTH, "PING" },
	{ MM_PROTO_PONG, 0, MM_PROTO_DIR_BOTH, "PONG" },
	{ MM_PROTO_ROUTE_ADD, MM_PROTO_F_REJOIN, MM_PROTO_DIR_C2R, "ROUTE_ADD" },
	{ MM_PROTO_ROUTE_ACK, 0, MM_PROTO_DIR_R2C, "ROUTE_ACK" },
	{ MM_PROTO_ROUTE_DEL, 0, MM_PROTO_DIR_C2R, "ROUTE_DEL" },
	{ MM_PROTO_REJOINED, 0, MM_PROTO_DIR_C2R, "REJOINED" },
	{ MM_PROTO_SESSIONS_LIST, 0, MM_PROTO_DIR_C2R, "SESSIONS_LIST" },
	{ MM_PROTO_SESSIONS, MM_PROTO_F_MORE, MM_PROTO_DIR_R2C, "SESSIONS" },
};

static const struct type_info *type_find(unsigned type)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].type == type)
			return &types[i];
	return NULL;
}

/* Which way a frame type travels; MM_PROTO_DIR_NONE for an unknown type. */
enum mm_proto_dir mm_proto_type_dir(unsigned type)
{
	const struct type_info *t = type_find(type);

	return t ? (enum mm_proto_dir)t->dir : MM_PROTO_DIR_NONE;
}

const char *mm_proto_type_to_string(unsigned type)
{
	const struct type_info *t = type_find(type);

	return t ? t->name : "unknown";
}

/*
 * Check the header of the datagram <buf> of <len> bytes. Returns 0 with *ret filled; -EBADMSG
 * if len is out of range or differs from the header's len field (*ret untouched); -EPROTO for
 * an unknown type and -EINVAL for unknown flag bits or a non-zero reserved field, in both cases
 * with *ret filled anyway so that the caller can echo seq in its ERROR reply.
 */
int mm_proto_unpack_header(const uint8_t *buf, size_t len, struct mm_proto_hdr *ret)
{
	struct pr r = { buf, len, 0, false };
	const struct type_info *t;
	struct mm_proto_hdr h;
	uint32_t reserved;

	if (len < MM_PROTO_HDR_SIZE || len > MM_PROTO_MAX_FRAME)
		return -EBADMSG;
	h.len = pr_u32(&r);
	h.type = pr_u16(&r);
	h.flags = pr_u16(&r);
	h.seq = pr_u32(&r);
	reserved = pr_u32(&r);
	if (h.len != len)
		return -EBADMSG;
	*ret = h;
	t = type_find(h.type);
	if (!t)
		return -EPROTO;
	if (reserved || h.flags & ~t->flags)
		return -EINVAL;
	return 0;
}

static void frame_begin(struct pw *w, uint8_t *buf, size_t cap, uint16_t type, uint16_t flags,
			uint32_t seq)
{
	*w = (struct pw){ buf, cap, 0, 0 };
	pw_u32(w, 0); /* len, patched by frame_end */
	pw_u16(w, type);
	pw_u16(w, flags);
	pw_u32(w, seq);
	pw_u32(w, 0);
}

/* Returns the frame length, or the writer's error, or -EMSGSIZE above MM_PROTO_MAX_FRAME. */
static ssize_t frame_end(struct pw *w)
{
	if (w->err)
		return w->err;
	if (w->off > MM_PROTO_MAX_FRAME)
		return -EMSGSIZE;
	w->p[0] = (uint8_t)w->off;
	w->p[1] = (uint8_t)(w->off >> 8);
	w->p[2] = (uint8_t)(w->off >> 16);
	w->p[3] = (uint8_t)(w->off >> 24);
	return (ssize_t)w->off;
}

/* Check the header and its type; position <r> at the body. Returns 0 or -EBADMSG. */
static int frame_open(struct pr *r, const uint8_t *buf, size_t len, uint16_t type,
		      struct mm_proto_hdr *h)
{
	if (mm_proto_unpack_header(buf, len, h) < 0 || h->type != type)
		return -EBADMSG;
	*r = (struct pr){ buf, len, MM_PROTO_HDR_SIZE, false };
	return 0;
}

/*
 * The pack functions below write one whole frame into <buf> of <cap> bytes and return its
 * length; -ENOSPC if <cap> is too small, -EINVAL if a field is out of range (a string too long
 * or holding a NUL), -EMSGSIZE if the frame would exceed MM_PROTO_MAX_FRAME. The unpack
 * functions take one whole datagram and return 0 with *ret filled (views into <buf>), or
 * -EBADMSG for anything but a valid frame of that type.
 */
ssize_t mm_proto_pack_hello(uint8_t *buf, size_t cap, const struct mm_proto_hello *m)
{
	struct pw w;

	frame_begin(&w, buf, cap, MM_PROTO_HELLO, 0, m->seq);
	pw_need(&w, m->token);
	pw_u16(&w, m->major);
	pw_u16(&w, m->minor);
	pw_u32(&w, m->features);
	pw_u64(&w, m->token);
	pw_str(&w, m->name, MM_PROTO_NAME_MAX);
	return frame_end(&w);
}

int mm_proto_unpack_hello(const uint8_t *buf, size_t len, struct mm_proto_hello *ret)
{
	struct mm_proto_hdr h;
	struct mm_proto_hello m;
	struct pr r;

	if (frame_open(&r, buf, len, MM_PROTO_HELLO, &h) < 0)
		return -EBADMSG;
	m.seq = h.seq;
	m.major = pr_u16(&r);
	m.minor = pr_u16(&r);
	m.features = pr_u32(&r);
	m.token = pr_u64(&r);
	m.name = pr_str(&r, MM_PROTO_NAME_MAX);
	if (!pr_done(&r) || !m.token)
		return -EBADMSG;
	*ret = m;
	return 0;
}

ssize_t mm_proto_pack_welcome(uint8_t *buf, size_t cap, const struct mm_proto_welcome *m)
{
	struct pw w;

	frame_begin(&w, buf, cap, MM_PROTO_WELCOME, 0, m->seq);
	pw_u16(&w, m->major);
	pw_u16(&w, m->minor);
	pw_u32(&w, m->features);
	pw_u32(&w, m->client_id);
	pw_u32(&w, m->max_frame);
	pw_u64(&w, m->dlv_size);
	pw_u64(&w, m->pub_size);
	return frame_end(&w);
}

int mm_proto_unpack_welcome(const uint8_t *buf, size_t len, struct mm_proto_welcome *ret)
{
	struct mm_proto_welcome m;
	struct mm_proto_hdr h;
	struct pr r;

	if (frame_open(&r, buf, len, MM_PROTO_WELCOME, &h) < 0)
		return -EBADMSG;
	m.seq = h.seq;
	m.major = pr_u16(&r);
	m.minor = pr_u16(&r);
	m.features = pr_u32(&r);
	m.client_id = pr_u32(&r);
	m.max_frame = pr_u32(&r);
	m.dlv_size = pr_u64(&r);
	m.pub_size = pr_u64(&r);
	if (!pr_done(&r) || m.max_frame < MM_PROTO_HDR_SIZE || !m.dlv_size || !m.pub_size)
		return -EBADMSG;
	*ret = m;
	return 0;
}

ssize_t mm_proto_pack_error(uint8_t *buf, size_t cap, const struct mm_proto_error *m)
{
	struct pw w;

	frame_begin(&w, buf, cap, MM_PROTO_ERROR, m->flags & MM_PROTO_F_FATAL, m->seq);
	pw_need(&w, m->code > 0);
	pw_u32(&w, (uint32_t)m->code);
	pw_str(&w, m->text, MM_PROTO_TEXT_MAX);
	return frame_end(&w);
}

int mm_proto_unpack_error(const uint8_t *buf, size_t len, struct mm_proto_error *ret)
{
	struct mm_proto_error m;
	struct mm_proto_hdr h;
	struct pr r;

	if (frame_open(&r, buf, len, MM_PROTO_ERROR, &h) < 0)
		return -EBADMSG;
	m.seq = h.seq;
	m.flags = h.flags;
	m.code = (int32_t)pr_u32(&r);
	m.text = pr_str(&r, MM_PROTO_TEXT_MAX);
	if (!pr_done(&r) || m.code <= 0)
		return -EBADMSG;
	*ret = m;
	return 0;
}

static ssize_t pack_ping(uint8_t *buf, size_t cap, uint16_t type, const struct mm_proto_ping *m)
{
	struct pw w;

	frame_begin(&w, buf, cap, type, 0, m->seq);
	pw_u64(&w, m->token);
	return frame_end(&w);
}

static int unpack_ping(const uint8_t *buf, size_t len, uint16_t type, struct mm_proto_ping *ret)
{
	struct mm_proto_ping m;
	struct mm_proto_hdr h;
	struct pr r;

	if (frame_open(&r, buf, len, type, &h) < 0)
		return -EBADMSG;
	m.seq = h.seq;
	m.token = pr_u64(&r);
	if (!pr_done(&r))
		return -EBADMSG;
	*ret = m;
	return 0;
}

ssize_t mm_proto_pack_ping(uint8_t *buf, size_t cap, const struct mm_proto_ping *m)
{
	return pack_ping(buf, cap, MM_PROTO_PING, m);
}

int mm_proto_unpack_ping(const uint8_t *buf, size_t len, struct mm_proto_ping *ret)
{
	return unpack_ping(buf, len, MM_PROTO_PING, ret);
}

ssize_t mm_proto_pack_pong(uint8_t *buf, size_t cap, const struct mm_proto_ping *m)
{
	return pack_ping(buf, cap, MM_PROTO_PONG, m);
}

int mm_proto_unpack_pong(const uint8_t *buf, size_t len, struct mm_proto_ping *ret)
{
	return unpack_ping(buf, len, MM_PROTO_PONG, ret);
}

static bool route_add_ok(const struct mm_proto_route_add *m)
{
	return m->route_id && m->qos <= 2 && m->on_full < _MM_PROTO_ON_FULL_MAX && m->filter.len &&
	       !(m->flags & ~MM_PROTO_F_REJOIN);
}

ssize_t mm_proto_pack_route_add(uint8_t *buf, size_t cap, const struct mm_proto_route_add *m)
{
	struct pw w;

	frame_begin(&w, buf, cap, MM_PROTO_ROUTE_ADD, m->flags, m->seq);
	pw_need(&w, route_add_ok(m));
	pw_u32(&w, m->route_id);
	pw_u8(&w, m->qos);
	pw_u8(&w, m->on_full);
	pw_u16(&w, 0);
	pw_str(&w, m->session, MM_PROTO_NAME_MAX);
	pw_str(&w, m->filter, UINT16_MAX);
	return frame_end(&w);
}

int mm_proto_unpack_route_add(const uint8_t *buf, size_t len, struct mm_proto_route_add *ret)
{
	struct mm_proto_route_add m;
	struct mm_proto_hdr h;
	uint16_t reserved;
	struct pr r;

	if (frame_open(&r, buf, len, MM_PROTO_ROUTE_ADD, &h) < 0)
		return -EBADMSG;
	m.seq = h.seq;
	m.flags = h.flags;
	m.route_id = pr_u32(&r);
	m.qos = pr_u8(&r);
	m.on_full = pr_u8(&r);
	reserved = pr_u16(&r);
	m.session = pr_str(&r, MM_PROTO_NAME_MAX);
	m.filter = pr_str(&r, UINT16_MAX);
	if (!pr_done(&r) || reserved || !route_add_ok(&m))
		return -EBADMSG;
	*ret = m;
	return 0;
}

ssize_t mm_proto_pack_route_ack(uint8_t *buf, size_t cap, const struct mm_proto_route_ack *m)
{
	struct pw w;

	frame_begin(&w, buf, cap, MM_PROTO_ROUTE_ACK, 0, m->seq);
	pw_need(&w,
		m->route_id && (m->acked == MM_PROTO_ROUTE_ADD || m->acked == MM_PROTO_ROUTE_DEL));
	pw_u32(&w, m->route_id);
	pw_u16(&w, m->acked);
	pw_u16(&w, 0);
	return frame_end(&w);
}

int mm_proto_unpack_route_ack(const uint8_t *buf, size_t len, struct mm_proto_route_ack *ret)
{
	struct mm_proto_route_ack m;
	struct mm_proto_hdr h;
	uint16_t reserved;
	struct pr r;

	if (frame_open(&r, buf, len, MM_PROTO_ROUTE_ACK, &h) < 0)
		return -EBADMSG;
	m.seq = h.seq;
	m.route_id = pr_u32(&r);
	m.acked = pr_u16(&r);
	reserved = pr_u16(&r);
	if (!pr_done(&r) || reserved || !m.route_id)
		return -EBADMSG;
	if (m.acked != MM_PROTO_ROUTE_ADD && m.acked != MM_PROTO_ROUTE_DEL)
		return -EBADMSG;
	*ret = m;
	return 0;
}

ssize_t mm_proto_pack_route_del(uint8_t *buf, size_t cap, const struct mm_proto_route_del *m)
{
	struct pw w;

	frame_begin(&w, buf, cap, MM_PROTO_ROUTE_DEL, 0, m->seq);
	pw_need(&w, m->route_id);
	pw_u32(&w, m->route_id);
	return frame_end(&w);
}

int mm_proto_unpack_route_del(const uint8_t *buf, size_t len, struct mm_proto_route_del *ret)
{
	struct mm_proto_route_del m;
	struct mm_proto_hdr h;
	struct pr r;

	if (frame_open(&r, buf, len, MM_PROTO_ROUTE_DEL, &h) < 0)
		return -EBADMSG;
	m.seq = h.seq;
	m.route_id = pr_u32(&r);
	if (!pr_done(&r) || !m.route_id)
		return -EBADMSG;
	*ret = m;
	return 0;
}

/* A frame with an empty body: only the header's seq. */
static ssize_t pack_empty(uint8_t *buf, size_t cap, uint16_t type, uint32_t seq)
{
	struct pw w;

	frame_begin(&w, buf, cap, type, 0, seq);
	return frame_end(&w);
}

static int unpack_empty(const uint8_t *buf, size_t len, uint16_t type, uint32_t *ret_seq)
{
	struct mm_proto_hdr h;
	struct pr r;

	if (frame_open(&r, buf, len, type, &h) < 0 || !pr_done(&r))
		return -EBADMSG;
	*ret_seq = h.seq;
	return 0;
}

ssize_t mm_proto_pack_rejoined(uint8_t *buf, size_t cap, const struct mm_proto_rejoined *m)
{
	return pack_empty(buf, cap, MM_PROTO_REJOINED, m->seq);
}

int mm_proto_unpack_rejoined(const uint8_t *buf, size_t len, struct mm_proto_rejoined *ret)
{
	return unpack_empty(buf, len, MM_PROTO_REJOINED, &ret->seq);
}

ssize_t mm_proto_pack_sessions_list(uint8_t *buf, size_t cap,
				    const struct mm_proto_sessions_list *m)
{
	return pack_empty(buf, cap, MM_PROTO_SESSIONS_LIST, m->seq);
}

int mm_proto_unpack_sessions_list(const uint8_t *buf, size_t len,
				  struct mm_proto_sessions_list *ret)
{
	return unpack_empty(buf, len, MM_PROTO_SESSIONS_LIST, &ret->seq);
}

/* One SESSIONS entry: idx u32, state u8, reserved u8, name (u16 + 1..MM_PROTO_NAME_MAX). */
static void read_entry(struct pr *r, struct mm_proto_session_entry *e)
{
	e->idx = pr_u32(r);
	e->state = pr_u8(r);
	if (pr_u8(r))
		r->bad = true;
	e->name = pr_str(r, MM_PROTO_NAME_MAX);
	if (!e->name.len)
		r->bad = true;
}

ssize_t mm_proto_pack_sessions(uint8_t *buf, size_t cap, const struct mm_proto_sessions *m)
{
	struct pw w;

	frame_begin(&w, buf, cap, MM_PROTO_SESSIONS, m->flags & MM_PROTO_F_MORE, m->seq);
	pw_u16(&w, m->count);
	pw_u16(&w, 0);
	for (unsigned i = 0; i < m->count; i++) {
		const struct mm_proto_session_entry *e = &m->entries[i];

		pw_need(&w, e->name.len);
		pw_u32(&w, e->idx);
		pw_u8(&w, e->state);
		pw_u8(&w, 0);
		pw_str(&w, e->name, MM_PROTO_NAME_MAX);
	}
	return frame_end(&w);
}

/* Every entry is validated here, so mm_proto_sessions_next() cannot fail on the result. */
int mm_proto_unpack_sessions(const uint8_t *buf, size_t len, struct mm_proto_sessions *ret)
{
	struct mm_proto_session_entry e;
	struct mm_proto_sessions m;
	struct mm_proto_hdr h;
	size_t start;
	struct pr r;

	if (frame_open(&r, buf, len, MM_PROTO_SESSIONS, &h) < 0)
		return -EBADMSG;
	m.seq = h.seq;
	m.flags = h.flags;
	m.count = pr_u16(&r);
	if (pr_u16(&r))
		return -EBADMSG;
	start = r.off;
	for (unsigned i = 0; i < m.count && !r.bad; i++)
		read_entry(&r, &e);
	if (!pr_done(&r))
		return -EBADMSG;
	m.entries = NULL;
	m.raw = (struct mm_bytes){ buf + start, (uint32_t)(len - start) };
	*ret = m;
	return 0;
}

/*
 * Iterate the entries of a SESSIONS frame that mm_proto_unpack_sessions() accepted. Start with
 * *off = 0. Returns 1 with *ret filled (name is a view into the frame), 0 after the last one.
 */
int mm_proto_sessions_next(const struct mm_proto_sessions *s, size_t *off,
			   struct mm_proto_session_entry *ret)
{
	struct pr r = { s->raw.p, s->raw.len, *off, false };

	if (*off >= s->raw.len)
		return 0;
	read_entry(&r, ret);
	if (r.bad)
		return 0;
	*off = r.off;
	return 1;
}
