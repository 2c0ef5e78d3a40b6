/* SPDX-License-Identifier: MIT */
/*
 * MQTT 5 properties between libmosquitto's property lists and the bytes carried in ring
 * records. The bytes are the MQTT 5 wire encoding of a property list without its length
 * prefix (identifier as a variable byte integer, then the value: big-endian integers,
 * u16-length-prefixed strings and binary data), so any MQTT-aware reader can parse them.
 */
#include "wrk_props.h"

#include <errno.h>
#include <mqtt_protocol.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>

static int prop_type(int id)
{
	const char *name = mosquitto_property_identifier_to_string(id);
	int id2, type;

	if (!name || mosquitto_string_to_property_info(name, &id2, &type) != MOSQ_ERR_SUCCESS)
		return -EBADMSG;
	return type;
}

/* A bounded output cursor; once it overflows it only counts. */
struct out {
	uint8_t *b;
	size_t cap, len;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->b && o->len + n <= o->cap)
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

static void put_str(struct out *o, const void *p, uint16_t n)
{
	put_be(o, n, 2);
	put(o, p, n);
}

static int encode_one(const mosquitto_property *p, int id, int type, struct out *o)
{
	char *s = NULL, *v = NULL;
	void *bin = NULL;
	uint32_t u32 = 0;
	uint16_t u16 = 0, blen = 0;
	uint8_t u8 = 0;

	put_varint(o, (uint32_t)id);
	switch (type) {
	case MQTT_PROP_TYPE_BYTE:
		mosquitto_property_read_byte(p, id, &u8, false);
		put(o, &u8, 1);
		return 0;
	case MQTT_PROP_TYPE_INT16:
		mosquitto_property_read_int16(p, id, &u16, false);
		put_be(o, u16, 2);
		return 0;
	case MQTT_PROP_TYPE_INT32:
		mosquitto_property_read_int32(p, id, &u32, false);
		put_be(o, u32, 4);
		return 0;
	case MQTT_PROP_TYPE_VARINT:
		mosquitto_property_read_varint(p, id, &u32, false);
		put_varint(o, u32);
		return 0;
	case MQTT_PROP_TYPE_BINARY:
		if (!mosquitto_property_read_binary(p, id, &bin, &blen, false))
			return -ENOMEM;
		put_str(o, bin, blen);
		free(bin);
		return 0;
	case MQTT_PROP_TYPE_STRING:
		if (!mosquitto_property_read_string(p, id, &s, false))
			return -ENOMEM;
		put_str(o, s, (uint16_t)strlen(s));
		free(s);
		return 0;
	case MQTT_PROP_TYPE_STRING_PAIR:
		if (!mosquitto_property_read_string_pair(p, id, &s, &v, false))
			return -ENOMEM;
		put_str(o, s, (uint16_t)strlen(s));
		put_str(o, v, (uint16_t)strlen(v));
		free(s);
		free(v);
		return 0;
	}
	return -EBADMSG;
}

/*
 * Encode <props> (NULL: none) into <buf> of <cap> bytes (<buf> may be NULL to measure).
 * Returns the encoded length, which may exceed <cap> (then nothing useful was written: call
 * again with a buffer that size), or -ENOMEM / -EBADMSG.
 */
ssize_t mm_wrk_props_encode(const mosquitto_property *props, uint8_t *buf, size_t cap)
{
	struct out o = { .b = buf, .cap = cap };

	for (const mosquitto_property *p = props; p; p = mosquitto_property_next(p)) {
		int id = mosquitto_property_identifier(p), type = prop_type(id), rc;

		if (type < 0)
			return type;
		rc = encode_one(p, id, type, &o);
		if (rc < 0)
			return rc;
	}
	return (ssize_t)o.len;
}

/* A bounded input cursor: every read checks the remaining length first. */
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

/* Read a u16-prefixed string as a NUL-terminated copy in <tmp> (at least 65536 bytes). */
static int get_str(struct in *i, char *tmp, uint16_t *ret_len)
{
	uint32_t n;

	if (get_be(i, 2, &n) < 0 || i->len - i->off < n)
		return -EBADMSG;
	memcpy(tmp, i->b + i->off, n);
	tmp[n] = '\0';
	if (memchr(tmp, '\0', n))
		return -EBADMSG;
	i->off += n;
	*ret_len = (uint16_t)n;
	return 0;
}

static int decode_int(struct in *i, int id, int type, mosquitto_property **list)
{
	static const int width[] = {
		[MQTT_PROP_TYPE_BYTE] = 1, [MQTT_PROP_TYPE_INT16] = 2, [MQTT_PROP_TYPE_INT32] = 4
	};
	uint32_t v;

	if (type == MQTT_PROP_TYPE_VARINT) {
		if (get_varint(i, &v) < 0)
			return -EBADMSG;
		return mosquitto_property_add_varint(list, id, v);
	}
	if (get_be(i, width[type], &v) < 0)
		return -EBADMSG;
	if (type == MQTT_PROP_TYPE_BYTE)
		return mosquitto_property_add_byte(list, id, (uint8_t)v);
	if (type == MQTT_PROP_TYPE_INT16)
		return mosquitto_property_add_int16(list, id, (uint16_t)v);
	return mosquitto_property_add_int32(list, id, v);
}

/* Returns 0, a negative errno, or a positive mosquitto error from property_add. */
static int decode_value(struct in *i, int id, int type, mosquitto_property **list, char *t1,
			char *t2)
{
	uint32_t v;
	uint16_t n;

	switch (type) {
	case MQTT_PROP_TYPE_BYTE:
	case MQTT_PROP_TYPE_INT16:
	case MQTT_PROP_TYPE_INT32:
	case MQTT_PROP_TYPE_VARINT:
		return decode_int(i, id, type, list);
	case MQTT_PROP_TYPE_BINARY:
		if (get_be(i, 2, &v) < 0 || i->len - i->off < v)
			return -EBADMSG;
		i->off += v;
		return mosquitto_property_add_binary(list, id, i->b + i->off - v, (uint16_t)v);
	case MQTT_PROP_TYPE_STRING:
		if (get_str(i, t1, &n) < 0)
			return -EBADMSG;
		return mosquitto_property_add_string(list, id, t1);
	case MQTT_PROP_TYPE_STRING_PAIR:
		if (get_str(i, t1, &n) < 0 || get_str(i, t2, &n) < 0)
			return -EBADMSG;
		return mosquitto_property_add_string_pair(list, id, t1, t2);
	}
	return -EBADMSG;
}

/*
 * Decode <len> bytes of properties into a new list in *ret (NULL when <len> is 0), checked
 * to be valid on a PUBLISH packet. The caller frees it with mosquitto_property_free_all.
 * Returns 0, -EBADMSG for malformed or disallowed properties, or -ENOMEM.
 */
int mm_wrk_props_decode_publish(const uint8_t *buf, size_t len, mosquitto_property **ret)
{
	static char t1[65536], t2[65536]; /* one worker, one thread */
	struct in i = { .b = buf, .len = len };
	mosquitto_property *list = NULL;
	int rc = 0;

	while (rc == 0 && i.off < i.len) {
		uint32_t id;
		int type;

		rc = get_varint(&i, &id);
		type = rc ? -EBADMSG : prop_type((int)id);
		rc = type < 0 ? -EBADMSG : decode_value(&i, (int)id, type, &list, t1, t2);
		if (rc > 0) /* a mosquitto error code from property_add */
			rc = rc == MOSQ_ERR_NOMEM ? -ENOMEM : -EBADMSG;
	}
	if (rc == 0 && mosquitto_property_check_all(CMD_PUBLISH, list) != MOSQ_ERR_SUCCESS)
		rc = -EBADMSG;
	if (rc < 0) {
		mosquitto_property_free_all(&list);
		return rc;
	}
	*ret = list;
	return 0;
}
