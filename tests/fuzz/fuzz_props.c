/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: MQTT 5 property bytes (shm/props.c), which come from brokers (through a
 * worker) and from clients (their publishes). The input is walked with mm_props_next; every
 * property it yields must encode again (mm_props_pack), and that encoding must decode to the
 * same property and encode to the same bytes: what the decoder accepts, the encoder can say,
 * and a round trip is stable. The publish check and the UTF-8 checks run on it too (the
 * second half of the input standing for a payload). Nothing may crash or read outside it.
 */
#include <stdlib.h>
#include <string.h>

#include "props.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool equal(const struct mqttmux_prop *a, const struct mqttmux_prop *b)
{
	return a->id == b->id && a->num == b->num && a->len == b->len &&
	       a->value_len == b->value_len && (!a->len || !memcmp(a->data, b->data, a->len)) &&
	       (!a->value_len || !memcmp(a->value, b->value, a->value_len));
}

static void round_trip(const struct mqttmux_prop *p)
{
	static uint8_t out[2 * 65536 + 16], again[sizeof(out)];
	struct mqttmux_prop q;
	ssize_t n = mm_props_pack(out, sizeof(out), p), m;
	size_t off = 0;

	if (n < 0)
		abort(); /* decoded, but cannot be encoded */
	if (mm_props_next(out, (size_t)n, &off, &q) != 1 || off != (size_t)n || !equal(p, &q))
		abort(); /* the encoding does not decode to what was encoded */
	m = mm_props_pack(again, sizeof(again), &q);
	if (m != n || memcmp(out, again, (size_t)n))
		abort(); /* not stable */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqttmux_prop p;
	size_t off = 0;

	(void)mm_utf8_ok(data, size, true);
	(void)mm_utf8_ok(data, size, false);
	(void)mm_props_check_publish(data, size / 2, data + size / 2, size - size / 2);
	while (mm_props_next(data, size, &off, &p) == 1) {
		if (off > size)
			abort();
		round_trip(&p);
	}
	return 0;
}
