/* SPDX-License-Identifier: MIT */
/* MQTT 5 properties <-> the wire-format bytes carried in ring records (see wrk_props.c). */
#ifndef MM_WRK_PROPS_H
#define MM_WRK_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mosquitto.h>

ssize_t mm_wrk_props_encode(const mosquitto_property *props, uint8_t *buf, size_t cap);
int mm_wrk_props_decode_publish(const uint8_t *buf, size_t len, mosquitto_property **ret);
bool mm_wrk_props_empty_string_crashes(void);
bool mm_wrk_props_has_empty_string(const uint8_t *buf, size_t len);

#endif /* MM_WRK_PROPS_H */
