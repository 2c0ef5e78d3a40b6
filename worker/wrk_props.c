/* SPDX-License-Identifier: MIT */
/*
 * MQTT 5 properties between libmosquitto's property lists and the bytes carried in ring
 * records (the MQTT 5 wire encoding of a property list without its length prefix, written and
 * read by shm/props.c), so any MQTT-aware reader can parse them.
 */
#include "wrk_props.h"

#include <errno.h>
#include <mqtt_protocol.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>

#include "props.h"

/* The value of <p> (identifier <id>, type <t>) in *ret; *own gets what the caller frees. */
static int read_one(const mosquitto_property *p, int id, enum mm_prop_type t,
		    struct mqttmux_prop *ret, void **own)
{
	char *s = NULL, *v = NULL;
	void *bin = NULL;
	uint16_t u16 = 0, blen = 0;
	uint8_t u8 = 0;
	bool ok = true;

	*ret = (struct mqttmux_prop){ .id = id };
	if (t == MM_PROP_T_BYTE && (ok = mosquitto_property_read_byte(p, id, &u8, false)))
		ret->num = u8;
	else if (t == MM_PROP_T_INT16 && (ok = mosquitto_property_read_int16(p, id, &u16, false)))
		ret->num = u16;
	else if (t == MM_PROP_T_INT32)
		ok = mosquitto_property_read_int32(p, id, &ret->num, false);
	else if (t == MM_PROP_T_VARINT)
		ok = mosquitto_property_read_varint(p, id, &ret->num, false);
	else if (t == MM_PROP_T_BINARY &&
		 (ok = mosquitto_property_read_binary(p, id, &bin, &blen, false)))
		ret->len = blen;
	else if (t == MM_PROP_T_STRING && (ok = mosquitto_property_read_string(p, id, &s, false)))
		ret->len = strlen(s);
	else if (t == MM_PROP_T_PAIR &&
		 (ok = mosquitto_property_read_string_pair(p, id, &s, &v, false))) {
		ret->len = strlen(s);
		ret->value = v;
		ret->value_len = strlen(v);
	}
	ret->data = bin ? bin : s;
	own[0] = bin ? bin : s;
	own[1] = v;
	return ok ? 0 : -ENOMEM;
}

/*
 * Encode <props> (NULL: none) into <buf> of <cap> bytes (<buf> may be NULL to measure).
 * Returns the encoded length, which may exceed <cap> (then nothing useful was written: call
 * again with a buffer that size), or -ENOMEM / -EBADMSG.
 */
ssize_t mm_wrk_props_encode(const mosquitto_property *props, uint8_t *buf, size_t cap)
{
	size_t len = 0;

	for (const mosquitto_property *p = props; p; p = mosquitto_property_next(p)) {
		int id = mosquitto_property_identifier(p);
		enum mm_prop_type t = mm_prop_type((uint32_t)id);
		struct mqttmux_prop v;
		void *own[2] = { NULL, NULL };
		ssize_t n = t == MM_PROP_T_NONE ? -EBADMSG : read_one(p, id, t, &v, own);

		if (n == 0)
			n = mm_props_pack(buf && len <= cap ? buf + len : NULL,
					  len <= cap ? cap - len : 0, &v);
		free(own[0]);
		free(own[1]);
		if (n < 0)
			return n == -EINVAL ? -EBADMSG : n;
		len += (size_t)n;
	}
	return (ssize_t)len;
}

/* A NUL-terminated copy of <n> bytes at <p> in <tmp> (65536 bytes), or NULL if <p> has a NUL. */
static const char *cstr(char *tmp, const void *p, size_t n)
{
	if (n && memchr(p, '\0', n))
		return NULL;
	if (n)
		memcpy(tmp, p, n);
	tmp[n] = '\0';
	return tmp;
}

/* Add <v> to <list>: 0, a negative errno, or a positive mosquitto error from property_add. */
static int add_one(mosquitto_property **list, const struct mqttmux_prop *v, char *t1, char *t2)
{
	const char *a, *b;

	switch (mm_prop_type((uint32_t)v->id)) {
	case MM_PROP_T_BYTE:
		return mosquitto_property_add_byte(list, v->id, (uint8_t)v->num);
	case MM_PROP_T_INT16:
		return mosquitto_property_add_int16(list, v->id, (uint16_t)v->num);
	case MM_PROP_T_INT32:
		return mosquitto_property_add_int32(list, v->id, v->num);
	case MM_PROP_T_VARINT:
		return mosquitto_property_add_varint(list, v->id, v->num);
	case MM_PROP_T_BINARY:
		return mosquitto_property_add_binary(list, v->id, v->data, (uint16_t)v->len);
	case MM_PROP_T_STRING:
		a = cstr(t1, v->data, v->len);
		return a ? mosquitto_property_add_string(list, v->id, a) : -EBADMSG;
	case MM_PROP_T_PAIR:
		a = cstr(t1, v->data, v->len);
		b = cstr(t2, v->value, v->value_len);
		return a && b ? mosquitto_property_add_string_pair(list, v->id, a, b) : -EBADMSG;
	default:
		return -EBADMSG;
	}
}

/*
 * Decode <len> bytes of properties into a new list in *ret (NULL when <len> is 0), checked
 * to be valid on a PUBLISH packet. The caller frees it with mosquitto_property_free_all.
 * Returns 0, -EBADMSG for malformed or disallowed properties, or -ENOMEM.
 */
int mm_wrk_props_decode_publish(const uint8_t *buf, size_t len, mosquitto_property **ret)
{
	static char t1[65536], t2[65536]; /* one worker, one thread */
	mosquitto_property *list = NULL;
	struct mqttmux_prop v;
	size_t off = 0;
	int rc;

	while ((rc = mm_props_next(buf, len, &off, &v)) == 1) {
		rc = add_one(&list, &v, t1, t2);
		if (rc > 0) /* a mosquitto error code from property_add */
			rc = rc == MOSQ_ERR_NOMEM ? -ENOMEM : -EBADMSG;
		if (rc < 0)
			break;
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

/*
 * libmosquitto before 2.0.12 crashes copying an empty string property (strdup(NULL) in
 * mosquitto_property_copy_all), and mosquitto_publish_v5 copies the properties of every QoS 1
 * and 2 publish. True when the libmosquitto we run on is one of those.
 */
bool mm_wrk_props_empty_string_crashes(void)
{
	int major, minor, rev;

	(void)mosquitto_lib_version(&major, &minor, &rev);
	return major < 2 || (major == 2 && minor == 0 && rev < 12);
}

/* True if the property bytes hold an empty string (content type, user property, ...). */
bool mm_wrk_props_has_empty_string(const uint8_t *buf, size_t len)
{
	struct mqttmux_prop v;
	size_t off = 0;

	while (mm_props_next(buf, len, &off, &v) == 1) {
		enum mm_prop_type t = mm_prop_type((uint32_t)v.id);

		if ((t == MM_PROP_T_STRING || t == MM_PROP_T_PAIR) && v.len == 0)
			return true;
		if (t == MM_PROP_T_PAIR && v.value_len == 0)
			return true;
	}
	return false;
}
