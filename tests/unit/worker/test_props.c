/* SPDX-License-Identifier: MIT */
/*
 * The worker's property conversions (wrk_props.c): a libmosquitto list with every value type,
 * repeated user properties and a subscription identifier encodes to the MQTT 5 wire bytes in
 * list order, and a client's bytes decode to the list libmosquitto sends.
 */
#include <errno.h>
#include <mqtt_protocol.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "wrk_props.h"

static const char Wire[] = "\x01\x01"		      /* payload format */
			   "\x02\x00\x00\x0e\x10"     /* message expiry 3600 */
			   "\x23\x00\x07"	      /* topic alias 7 */
			   "\x08\x00\x03r/1"	      /* response topic */
			   "\x09\x00\x03\x00\x01\xff" /* correlation data */
			   "\x26\x00\x01k\x00\x01v"   /* user property */
			   "\x26\x00\x01k\x00\x01v"   /* the same again */
			   "\x0b\x80\x01"	      /* subscription identifier 128 */
			   "\x03\x00\x00";	      /* empty content type */

static mosquitto_property *every_type(void)
{
	mosquitto_property *p = NULL;

	cr_assert_eq(mosquitto_property_add_byte(&p, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 1), 0);
	cr_assert_eq(mosquitto_property_add_int32(&p, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, 3600), 0);
	cr_assert_eq(mosquitto_property_add_int16(&p, MQTT_PROP_TOPIC_ALIAS, 7), 0);
	cr_assert_eq(mosquitto_property_add_string(&p, MQTT_PROP_RESPONSE_TOPIC, "r/1"), 0);
	cr_assert_eq(mosquitto_property_add_binary(&p, MQTT_PROP_CORRELATION_DATA, "\0\1\377", 3),
		     0);
	cr_assert_eq(mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "k", "v"), 0);
	cr_assert_eq(mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "k", "v"), 0);
	cr_assert_eq(mosquitto_property_add_varint(&p, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, 128), 0);
	cr_assert_eq(mosquitto_property_add_string(&p, MQTT_PROP_CONTENT_TYPE, ""), 0);
	return p;
}

Test(wrk_props, a_list_encodes_to_the_wire_bytes_in_order)
{
	mosquitto_property *p = every_type();
	uint8_t buf[128];
	ssize_t n = mm_wrk_props_encode(p, NULL, 0);

	cr_assert_eq(n, (ssize_t)sizeof(Wire) - 1);
	cr_assert_eq(mm_wrk_props_encode(p, buf, sizeof(buf)), n);
	cr_expect_arr_eq(buf, Wire, (size_t)n);
	cr_expect_eq(mm_wrk_props_encode(NULL, buf, sizeof(buf)), 0);
	mosquitto_property_free_all(&p);
}

Test(wrk_props, a_short_buffer_gets_the_size)
{
	mosquitto_property *p = every_type();
	uint8_t buf[10];

	cr_expect_eq(mm_wrk_props_encode(p, buf, sizeof(buf)), (ssize_t)sizeof(Wire) - 1);
	mosquitto_property_free_all(&p);
}

Test(wrk_props, client_bytes_decode_to_a_list_that_encodes_the_same)
{
	static const char pub[] = "\x01\x00\x03\x00\x01x\x26\x00\x01k\x00\x00\x09\x00\x00";
	mosquitto_property *list = NULL;
	uint8_t buf[64];

	cr_assert_eq(mm_wrk_props_decode_publish((const uint8_t *)pub, sizeof(pub) - 1, &list), 0);
	cr_assert_eq(mm_wrk_props_encode(list, buf, sizeof(buf)), (ssize_t)sizeof(pub) - 1);
	cr_expect_arr_eq(buf, pub, sizeof(pub) - 1);
	mosquitto_property_free_all(&list);
}

Test(wrk_props, garbage_and_nul_in_strings_are_refused)
{
	mosquitto_property *list = NULL;

	cr_expect_eq(mm_wrk_props_decode_publish((const uint8_t *)"\x03\x00\x01\x00", 4, &list),
		     -EBADMSG);
	cr_expect_eq(mm_wrk_props_decode_publish((const uint8_t *)"\x03\x00\x09x", 4, &list),
		     -EBADMSG);
	cr_expect_eq(mm_wrk_props_decode_publish((const uint8_t *)"\x11\x00\x00\x00\x01", 5, &list),
		     -EBADMSG, "session expiry is not a PUBLISH property");
	cr_expect_null(list);
}
