/* SPDX-License-Identifier: MIT */
/*
 * MQTT 5 property bytes (shm/props.c): golden encodings of every value type, decode of what
 * was encoded, truncations refused, and the publish check that keeps a client from getting the
 * shared connection closed.
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "props.h"
#include "utf8.h"

#define STR(s) .data = (s), .len = sizeof(s) - 1

struct golden {
	struct mqttmux_prop p;
	const char *bytes;
	size_t len;
};

static const struct golden Golden[] = {
	{ { .id = 0x01, .num = 1 }, "\x01\x01", 2 },
	{ { .id = 0x02, .num = 0x01020304 }, "\x02\x01\x02\x03\x04", 5 },
	{ { .id = 0x03, STR("text/plain") }, "\x03\x00\x0atext/plain", 13 },
	{ { .id = 0x09, .data = "\x00\xff", .len = 2 }, "\x09\x00\x02\x00\xff", 5 },
	{ { .id = 0x0b, .num = 268435455 }, "\x0b\xff\xff\xff\x7f", 5 },
	{ { .id = 0x0b, .num = 128 }, "\x0b\x80\x01", 3 },
	{ { .id = 0x23, .num = 0x1234 }, "\x23\x12\x34", 3 },
	{ { .id = 0x26, STR("k"), .value = "v1", .value_len = 2 }, "\x26\x00\x01k\x00\x02v1", 8 },
	{ { .id = 0x26, .data = "", .value = "", .value_len = 0 }, "\x26\x00\x00\x00\x00", 5 },
};

#define N_GOLDEN (sizeof(Golden) / sizeof(Golden[0]))

Test(shm_props, every_type_packs_to_its_golden_bytes)
{
	for (size_t i = 0; i < N_GOLDEN; i++) {
		uint8_t buf[64];
		ssize_t n = mm_props_pack(buf, sizeof(buf), &Golden[i].p);

		cr_assert_eq(n, (ssize_t)Golden[i].len, "vector %zu: %zd bytes", i, n);
		cr_expect_arr_eq(buf, Golden[i].bytes, Golden[i].len, "vector %zu", i);
		cr_expect_eq(mm_props_pack(NULL, 0, &Golden[i].p), n, "measure %zu", i);
	}
}

Test(shm_props, what_was_packed_decodes_back_in_order)
{
	uint8_t buf[256];
	size_t len = 0, off = 0;
	struct mqttmux_prop p;

	for (size_t i = 0; i < N_GOLDEN; i++)
		len += (size_t)mm_props_pack(buf + len, sizeof(buf) - len, &Golden[i].p);
	for (size_t i = 0; i < N_GOLDEN; i++) {
		const struct mqttmux_prop *g = &Golden[i].p;

		cr_assert_eq(mm_props_next(buf, len, &off, &p), 1, "vector %zu", i);
		cr_expect_eq(p.id, g->id);
		cr_expect_eq(p.num, g->num);
		cr_expect_eq(p.len, g->len);
		cr_expect(p.len == 0 || !memcmp(p.data, g->data, p.len));
		cr_expect_eq(p.value_len, g->value_len);
		cr_expect(p.value_len == 0 || !memcmp(p.value, g->value, p.value_len));
	}
	cr_expect_eq(mm_props_next(buf, len, &off, &p), 0);
	cr_expect_eq(off, len);
}

Test(shm_props, a_short_buffer_gets_nothing_but_the_size)
{
	uint8_t buf[4] = { 0xaa, 0xaa, 0xaa, 0xaa };

	cr_expect_eq(mm_props_pack(buf, sizeof(buf), &Golden[2].p), 13);
	cr_expect_eq(buf[0], 0xaa, "nothing partial written");
}

Test(shm_props, out_of_range_values_are_refused)
{
	static const struct mqttmux_prop bad[] = {
		{ .id = 0x01, .num = 256 },
		{ .id = 0x23, .num = 65536 },
		{ .id = 0x0b, .num = 268435456 },
		{ .id = 0x04 }, /* not an identifier */
		{ .id = 0 },
		{ .id = -1 },
		{ .id = 0x03, .len = 1 }, /* NULL data */
		{ .id = 0x03, .data = "x", .len = 65536 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(mm_props_pack(NULL, 0, &bad[i]), -EINVAL, "case %zu", i);
}

Test(shm_props, every_truncation_is_refused)
{
	for (size_t i = 0; i < N_GOLDEN; i++)
		for (size_t cut = 1; cut < Golden[i].len; cut++) {
			struct mqttmux_prop p;
			size_t off = 0;

			cr_expect_eq(mm_props_next((const uint8_t *)Golden[i].bytes, cut, &off, &p),
				     -EBADMSG, "vector %zu cut at %zu", i, cut);
		}
}

Test(shm_props, unknown_identifiers_and_long_varints_are_refused)
{
	struct mqttmux_prop p;
	size_t off = 0;

	cr_expect_eq(mm_props_next((const uint8_t *)"\x04\x00", 2, &off, &p), -EBADMSG);
	off = 0;
	cr_expect_eq(mm_props_next((const uint8_t *)"\x0b\xff\xff\xff\xff\x01", 6, &off, &p),
		     -EBADMSG);
}

Test(shm_props, names_are_mosquitto_pub_s)
{
	cr_expect_eq(mm_prop_by_name("user-property"), 0x26);
	cr_expect_eq(mm_prop_by_name("Content-Type"), 0x03);
	cr_expect_eq(mm_prop_by_name("nonsense"), -EINVAL);
	cr_expect_str_eq(mm_prop_name(0x02), "message-expiry-interval");
	cr_expect_null(mm_prop_name(0x04));
}

static int check(const char *bytes, size_t len, const char *payload)
{
	return mm_props_check_publish((const uint8_t *)bytes, len, payload,
				      payload ? strlen(payload) : 0);
}

Test(shm_props, a_client_may_publish_the_publish_properties)
{
	static const char ok[] = "\x01\x01"
				 "\x02\x00\x00\x0e\x10"
				 "\x03\x00\x04json"
				 "\x08\x00\x03r/1"
				 "\x09\x00\x01\x00"
				 "\x26\x00\x01k\x00\x01v"
				 "\x26\x00\x01k\x00\x01w";

	cr_expect_eq(check(ok, sizeof(ok) - 1, "h\xc3\xa9llo\n"), 0);
	cr_expect_eq(check(NULL, 0, NULL), 0);
	cr_expect_eq(check("\x01\x00", 2, "\xff"), 0, "format 0: any bytes");
}

Test(shm_props, properties_that_could_close_the_connection_are_refused)
{
	static const struct {
		const char *b;
		size_t len;
		const char *payload, *why;
	} bad[] = {
		{ "\x23\x00\x01", 3, "x", "topic alias" },
		{ "\x0b\x01", 2, "x", "subscription identifier" },
		{ "\x11\x00\x00\x00\x01", 5, "x", "session expiry: not a PUBLISH property" },
		{ "\x03\x00\x01x\x03\x00\x01y", 8, "x", "content type twice" },
		{ "\x01\x02", 2, "x", "payload format 2" },
		{ "\x01\x01", 2, "\xc3", "format 1 with truncated UTF-8" },
		{ "\x01\x01", 2, "\xed\xa0\x80", "format 1 with a surrogate" },
		{ "\x01\x01", 2, "\xc0\x80", "format 1 with an overlong NUL" },
		{ "\x03\x00\x01\n", 4, "x", "control character in a string" },
		{ "\x03\x00\x01\x00", 4, "x", "U+0000 in a string" },
		{ "\x26\x00\x01k\x00\x03\xef\xbf\xbf", 9, "x", "non-character U+FFFF" },
		{ "\x08\x00\x03r/+", 6, "x", "wildcard in the response topic" },
		{ "\x08\x00\x00", 3, "x", "empty response topic" },
		{ "\x03\x00\x05x", 4, "x", "truncated" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(check(bad[i].b, bad[i].len, bad[i].payload), -EINVAL, "%s",
			     bad[i].why);
}

Test(shm_props, utf8_rules)
{
	cr_expect(mm_utf8_ok((const uint8_t *)"\xf0\x9f\x98\x80", 4, true), "emoji");
	cr_expect(!mm_utf8_ok((const uint8_t *)"\xf4\x90\x80\x80", 4, false), "> U+10FFFF");
	cr_expect(!mm_utf8_ok((const uint8_t *)"\xe0\x80\xaf", 3, false), "overlong");
	cr_expect(mm_utf8_ok((const uint8_t *)"a\nb", 3, false), "payload: newline is fine");
	cr_expect(!mm_utf8_ok((const uint8_t *)"\xc2\x85", 2, true), "U+0085 in a string");
}
