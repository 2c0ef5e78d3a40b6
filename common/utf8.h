/* SPDX-License-Identifier: MIT */
/*
 * UTF-8, once for the tree: the config's MQTT strings (cfg_check.c), the MQTT 5 properties
 * and topics that cross the rings (shm/props.c, the worker), and the log lines that must not
 * carry raw bytes (log.c). Library code: no state, no logging.
 */
#ifndef MM_UTF8_H
#define MM_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Decode the UTF-8 sequence at s[0..n-1] (n >= 1) into *cp: its length 1..4, or 0 if it is
 * malformed (a bad lead or continuation byte, cut short by <n>, overlong, above U+10FFFF).
 * Surrogates decode; mm_utf8_ok() refuses them.
 */
size_t mm_utf8_seq(const uint8_t *s, size_t n, uint32_t *cp);

/*
 * Is s[0..len-1] well-formed UTF-8 without surrogates? <strict> (an MQTT UTF-8 string, as
 * mosquitto checks it) also refuses U+0000, the control characters U+0001..U+001F and
 * U+007F..U+009F, and the non-characters U+FDD0..U+FDEF and U+xFFFE/U+xFFFF.
 */
bool mm_utf8_ok(const uint8_t *s, size_t len, bool strict);

#endif /* MM_UTF8_H */
