/* SPDX-License-Identifier: MIT */
/*
 * MQTT 5 properties as the bytes that travel in ring records: the wire encoding of a property
 * list without its length prefix (MQTT 5.0 §2.2.2): each property is its identifier as a
 * variable byte integer, then its value (big-endian integers, a variable byte integer,
 * u16-length-prefixed strings and binary data, or two strings for a user property). A worker
 * writes the properties of a received PUBLISH this way; a client writes those of its publish.
 *
 * This file reads, writes and checks such bytes without libmosquitto, so that the client
 * library, the CLI and the worker share one definition. Views point into the caller's bytes.
 * Library code: no logging, no allocation, -errno returns.
 */
#ifndef MM_SHM_PROPS_H
#define MM_SHM_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mqttmux.h"

/* Value types of MQTT 5 properties (MQTT 5.0 §2.2.2.2). */
enum mm_prop_type {
	MM_PROP_T_NONE = 0, /* not a property identifier */
	MM_PROP_T_BYTE,
	MM_PROP_T_INT16,
	MM_PROP_T_INT32,
	MM_PROP_T_VARINT,
	MM_PROP_T_STRING,
	MM_PROP_T_BINARY,
	MM_PROP_T_PAIR,
	_MM_PROP_T_MAX
};

/* The largest variable byte integer (MQTT 5.0 §1.5.5). */
#define MM_PROP_VARINT_MAX 268435455u

/* The value type of property <id>, MM_PROP_T_NONE for an unknown identifier. */
enum mm_prop_type mm_prop_type(uint32_t id);

/* The name mosquitto_pub -D uses for property <id> ("user-property", ...), or NULL. */
const char *mm_prop_name(uint32_t id);

/* The identifier of the property called <name> as in mosquitto_pub -D, or -EINVAL. */
int mm_prop_by_name(const char *name);

/*
 * Read the property at *off of <buf> (<len> bytes) into *ret and advance *off past it.
 * Returns 1, 0 at the end, or -EBADMSG (truncated, unknown identifier, overlong integer).
 */
int mm_props_next(const uint8_t *buf, size_t len, size_t *off, struct mqttmux_prop *ret);

/*
 * Encode <p> at <buf> when it fits in <cap> bytes (<buf> may be NULL to measure). Returns the
 * bytes the property takes, or -EINVAL (unknown identifier, a value out of its type's range,
 * a string or binary value over 65535 bytes, NULL data with a non-zero length).
 */
ssize_t mm_props_pack(uint8_t *buf, size_t cap, const struct mqttmux_prop *p);

/*
 * Check the properties of a publish a client asks for, against what could get the session's
 * shared MQTT connection refused or closed by its broker: only payload format (0 or 1; 1 needs
 * a well-formed UTF-8 payload), message expiry, content type, response topic (a topic name, no
 * wildcards), correlation data and user properties; each but user properties at most once;
 * strings valid MQTT UTF-8 (as mosquitto checks them: no U+0000, no control characters, no
 * surrogates, no non-characters). Topic alias and subscription identifier are refused.
 * Returns 0 or -EINVAL.
 */
int mm_props_check_publish(const uint8_t *buf, size_t len, const void *payload, size_t payload_len);

#endif /* MM_SHM_PROPS_H */
