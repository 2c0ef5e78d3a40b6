/* SPDX-License-Identifier: MIT */
/*
 * MQTT 5 property bytes: walk, encode and check them (see props.h). The identifier table is
 * MQTT 5.0 §2.2.2.2; the names are those of mosquitto_pub -D. The UTF-8 rules follow what
 * mosquitto enforces on a string (a broker that finds a bad one closes the connection), and
 * Unicode's well-formedness for a payload marked as UTF-8.
 */
#include "props.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

struct prop_info {
	uint8_t id;
	uint8_t type; /* enum mm_prop_type */
	const char *name;
};

static const struct prop_info Props[] = {
	{ 0x01, MM_PROP_T_BYTE, "payload-format-indicator" },
	{ 0x02, MM_PROP_T_INT32, "message-expiry-interval" },
	{ 0x03, MM_PROP_T_STRING, "content-type" },
	{ 0x08, MM_PROP_T_STRING, "response-topic" },
	{ 0x09, MM_PROP_T_BINARY, "correlation-data" },
	{ 0x0b, MM_PROP_T_VARINT, "subscription-identifier" },
	{ 0x11, MM_PROP_T_INT32, "session-expiry-interval" },
	{ 0x12, MM_PROP_T_STRING, "assigned-client-identifier" },
	{ 0x13, MM_PROP_T_INT16, "server-keep-alive" },
	{ 0x15, MM_PROP_T_STRING, "authentication-method" },
	{ 0x16, MM_PROP_T_BINARY, "authentication-data" },
	{ 0x17, MM_PROP_T_BYTE, "request-problem-information" },
	{ 0x18, MM_PROP_T_INT32, "will-delay-interval" },
	{ 0x19, MM_PROP_T_BYTE, "request-response-information" },
	{ 0x1a, MM_PROP_T_STRING, "response-information" },
	{ 0x1c, MM_PROP_T_STRING, "server-reference" },
	{ 0x1f, MM_PROP_T_STRING, "reason-string" },
	{ 0x21, MM_PROP_T_INT16, "receive-maximum" },
	{ 0x22, MM_PROP_T_INT16, "topic-alias-maximum" },
	{ 0x23, MM_PROP_T_INT16, "topic-alias" },
	{ 0x24, MM_PROP_T_BYTE, "maximum-qos" },
	{ 0x25, MM_PROP_T_BYTE, "retain-available" },
	{ 0x26, MM_PROP_T_PAIR, "user-property" },
	{ 0x27, MM_PROP_T_INT32, "maximum-packet-size" },
	{ 0x28, MM_PROP_T_BYTE, "wildcard-subscription-available" },
	{ 0x29, MM_PROP_T_BYTE, "subscription-identifier-available" },
	{ 0x2a, MM_PROP_T_BYTE, "shared-subscription-available" },
};

#define N_PROPS (sizeof(Props) / sizeof(Props[0]))

static const struct prop_info *info(uint32_t id)
{
	for (size_t i = 0; i < N_PROPS; i++)
		if (Props[i].id == id)
			return &Props[i];
	return NULL;
}

enum mm_prop_type mm_prop_type(uint32_t id)
{
	const struct prop_info *p = info(id);

	return p ? (enum mm_prop_type)p->type : MM_PROP_T_NONE;
}

const char *mm_prop_name(uint32_t id)
{
	const struct prop_info *p = info(id);

	return p ? p->name : NULL;
}

int mm_prop_by_name(const char *name)
{
	for (size_t i = 0; name && i < N_PROPS; i++)
		if (!strcasecmp(Props[i].name, name))
			return Props[i].id;
	return -EINVAL;
}

/* ---- reading ---- */

struct in {
	const uint8_t *b;
	size_t len, off;
};

static int get_be(struct in *i, int bytes, uint32_t *v)
{
	if (i->len - i->off < (size_t)bytes)
		return -EBADMSG;
	*v = 0;
	for (int k = 0; k < bytes; k++)
		*v = *v << 8 | i->b[i->off++];
	return 0;
}

/* A variable byte integer of at most four bytes (MQTT 5.0 §1.5.5). */
static int get_varint(struct in *i, uint32_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 28; shift += 7) {
		if (i->off >= i->len)
			return -EBADMSG;
		*v |= (uint32_t)(i->b[i->off] & 0x7f) << shift;
		if (!(i->b[i->off++] & 0x80))
			return 0;
	}
	return -EBADMSG;
}

static int get_bytes(struct in *i, const void **p, size_t *n)
{
	uint32_t len;

	if (get_be(i, 2, &len) < 0 || i->len - i->off < len)
		return -EBADMSG;
	*p = i->b + i->off;
	*n = len;
	i->off += len;
	return 0;
}

static int get_value(struct in *i, enum mm_prop_type t, struct mqttmux_prop *p)
{
	static const int width[] = {
		[MM_PROP_T_BYTE] = 1, [MM_PROP_T_INT16] = 2, [MM_PROP_T_INT32] = 4
	};

	switch (t) {
	case MM_PROP_T_BYTE:
	case MM_PROP_T_INT16:
	case MM_PROP_T_INT32:
		return get_be(i, width[t], &p->num);
	case MM_PROP_T_VARINT:
		return get_varint(i, &p->num);
	case MM_PROP_T_STRING:
	case MM_PROP_T_BINARY:
		return get_bytes(i, &p->data, &p->len);
	case MM_PROP_T_PAIR:
		if (get_bytes(i, &p->data, &p->len) < 0)
			return -EBADMSG;
		return get_bytes(i, &p->value, &p->value_len);
	default:
		return -EBADMSG;
	}
}

int mm_props_next(const uint8_t *buf, size_t len, size_t *off, struct mqttmux_prop *ret)
{
	struct in i = { .b = buf, .len = len, .off = *off };
	struct mqttmux_prop p = { 0 };
	uint32_t id;

	if (i.off >= len)
		return 0;
	if (get_varint(&i, &id) < 0 || get_value(&i, mm_prop_type(id), &p) < 0)
		return -EBADMSG;
	p.id = (int)id;
	*ret = p;
	*off = i.off;
	return 1;
}

/* ---- writing ---- */

struct out {
	uint8_t *b;
	size_t cap, len;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->b && n && o->len + n <= o->cap)
		memcpy(o->b + o->len, p, n);
	o->len += n;
}

static void put_be(struct out *o, uint32_t v, int bytes)
{
	uint8_t b[4];

	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	put(o, b, (size_t)bytes);
}

static void put_varint(struct out *o, uint32_t v)
{
	do {
		uint8_t byte = v & 0x7f;

		v >>= 7;
		if (v)
			byte |= 0x80;
		put(o, &byte, 1);
	} while (v);
}

static void put_bytes(struct out *o, const void *p, size_t n)
{
	put_be(o, (uint32_t)n, 2);
	put(o, p, n);
}

static bool bytes_ok(const void *p, size_t n)
{
	return n <= UINT16_MAX && (p || n == 0);
}

static bool value_ok(enum mm_prop_type t, const struct mqttmux_prop *p)
{
	switch (t) {
	case MM_PROP_T_BYTE:
		return p->num <= UINT8_MAX;
	case MM_PROP_T_INT16:
		return p->num <= UINT16_MAX;
	case MM_PROP_T_INT32:
		return true;
	case MM_PROP_T_VARINT:
		return p->num <= MM_PROP_VARINT_MAX;
	case MM_PROP_T_STRING:
	case MM_PROP_T_BINARY:
		return bytes_ok(p->data, p->len);
	case MM_PROP_T_PAIR:
		return bytes_ok(p->data, p->len) && bytes_ok(p->value, p->value_len);
	default:
		return false;
	}
}

static size_t pack_one(uint8_t *buf, enum mm_prop_type t, const struct mqttmux_prop *p)
{
	struct out o = { .b = buf, .cap = SIZE_MAX };

	put_varint(&o, (uint32_t)p->id);
	if (t == MM_PROP_T_BYTE || t == MM_PROP_T_INT16 || t == MM_PROP_T_INT32)
		put_be(&o, p->num, t == MM_PROP_T_BYTE ? 1 : t == MM_PROP_T_INT16 ? 2 : 4);
	else if (t == MM_PROP_T_VARINT)
		put_varint(&o, p->num);
	else
		put_bytes(&o, p->data, p->len);
	if (t == MM_PROP_T_PAIR)
		put_bytes(&o, p->value, p->value_len);
	return o.len;
}

ssize_t mm_props_pack(uint8_t *buf, size_t cap, const struct mqttmux_prop *p)
{
	enum mm_prop_type t = p->id > 0 ? mm_prop_type((uint32_t)p->id) : MM_PROP_T_NONE;
	size_t n;

	if (!value_ok(t, p))
		return -EINVAL;
	n = pack_one(NULL, t, p);
	if (buf && n <= cap)
		(void)pack_one(buf, t,
			       p); /* nothing partial: the caller measures and calls again */
	return (ssize_t)n;
}

/* ---- checking ---- */

static bool topic_name_ok(const struct mqttmux_prop *p)
{
	return p->len > 0 && !memchr(p->data, '+', p->len) && !memchr(p->data, '#', p->len);
}

/* One property of a client's publish; <seen> marks the identifiers met so far. */
static int check_one(const struct mqttmux_prop *p, uint64_t *seen, const void *payload,
		     size_t payload_len)
{
	uint64_t bit = 1ull << (p->id & 63);

	if (p->id != 0x26 && (*seen & bit))
		return -EINVAL; /* only user properties may repeat (MQTT 5.0 §3.3.2.3) */
	*seen |= bit;
	switch (p->id) {
	case 0x01:
		return p->num > 1 || (p->num == 1 && !mm_utf8_ok(payload, payload_len, false))
			       ? -EINVAL
			       : 0;
	case 0x02:
	case 0x09:
		return 0;
	case 0x03:
		return mm_utf8_ok(p->data, p->len, true) ? 0 : -EINVAL;
	case 0x08:
		return mm_utf8_ok(p->data, p->len, true) && topic_name_ok(p) ? 0 : -EINVAL;
	case 0x26:
		return mm_utf8_ok(p->data, p->len, true) && mm_utf8_ok(p->value, p->value_len, true)
			       ? 0
			       : -EINVAL;
	default:
		return -EINVAL; /* topic alias, subscription identifier, not a PUBLISH property */
	}
}

int mm_props_check_publish(const uint8_t *buf, size_t len, const void *payload, size_t payload_len)
{
	struct mqttmux_prop p;
	uint64_t seen = 0;
	size_t off = 0;
	int rc;

	if (len && !buf)
		return -EINVAL;
	while ((rc = mm_props_next(buf, len, &off, &p)) == 1)
		if (check_one(&p, &seen, payload, payload_len) < 0)
			return -EINVAL;
	return rc < 0 ? -EINVAL : 0;
}
