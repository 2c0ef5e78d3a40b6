/* SPDX-License-Identifier: MIT */
/*
 * A plain main() for the fuzz target, so that the unit suite runs it with any compiler: it
 * packs one valid instance of every message, then feeds LLVMFuzzerTestOneInput random bytes and
 * mutations of the valid frames (bit flips, byte sets, truncations, extensions, length-field
 * edits) until <count> inputs or <seconds> have gone by. Usage: fuzz-proto [count [seconds
 * [seed]]]. Each input is an exact-size heap copy, so an overread shows under ASan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto_cases.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S(lit) ((struct mm_bytes){ (const uint8_t *)(lit), sizeof(lit) - 1 })

#define NSEEDS 8
#define MAXIN  512

struct seed {
	uint8_t b[MAXIN];
	size_t len;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Valid frames and records to mutate: the decoders' deep paths are reached from these. */
static int make_seeds(struct seed *s)
{
	static const uint32_t ids[] = { 1, 2 };
	struct mm_proto_route_add ra = {
		.seq = 1, .route_id = 7, .qos = 1, .session = S("s"), .filter = S("a/#")
	};
	struct mm_proto_hello he = {
		.seq = 1, .major = 1, .features = 3, .token = 6, .name = S("c")
	};
	struct mm_proto_error er = { .seq = 2, .flags = 1, .code = 22, .text = S("no") };
	struct mm_proto_session_entry se = { .idx = 0, .state = 2, .name = S("p") };
	struct mm_proto_sessions ss = { .seq = 3, .count = 1, .entries = &se };
	struct mm_rec_deliver de = { .mid = 2,
				     .seq = 11,
				     .qos = 1,
				     .flags = 1,
				     .routes = { .n = 2, .host = ids },
				     .session = S("p"),
				     .topic = S("t"),
				     .payload = S("x") };
	struct mm_rec_client_pub cp = { .req_id = 9, .qos = 1, .session = S("p"), .topic = S("t") };
	struct mm_rec_gap ga = { .lost = 3, .session = S("p") };
	ssize_t n[NSEEDS];

	n[0] = mm_proto_pack_route_add(s[0].b, MAXIN, &ra);
	n[1] = mm_proto_pack_hello(s[1].b, MAXIN, &he);
	n[2] = mm_proto_pack_error(s[2].b, MAXIN, &er);
	n[3] = mm_proto_pack_sessions(s[3].b, MAXIN, &ss);
	n[4] = mm_rec_deliver_pack(s[4].b, MAXIN, &de);
	n[5] = mm_rec_client_pub_pack(s[5].b, MAXIN, &cp);
	n[6] = mm_rec_gap_pack(s[6].b, MAXIN, &ga);
	n[7] = mm_proto_pack_ping(s[7].b, MAXIN, &(struct mm_proto_ping){ 4, 5 });
	for (int i = 0; i < NSEEDS; i++) {
		if (n[i] <= 0)
			return -1;
		s[i].len = (size_t)n[i];
	}
	return 0;
}

/* One input: random bytes (1 in 8) or a seed with a few random edits. */
static size_t mutate(const struct seed *seeds, uint8_t *b, uint64_t *r)
{
	const struct seed *s = &seeds[rnd(r) % NSEEDS];
	size_t len = s->len, k = 1 + rnd(r) % 4;

	if (rnd(r) % 8 == 0) {
		len = rnd(r) % MAXIN;
		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t)rnd(r);
		return len;
	}
	memcpy(b, s->b, len);
	for (size_t i = 0; i < k && len; i++) {
		switch (rnd(r) % 4) {
		case 0:
			b[rnd(r) % len] ^= (uint8_t)(1u << rnd(r) % 8);
			break;
		case 1:
			b[rnd(r) % len] = (uint8_t)rnd(r);
			break;
		case 2:
			len = rnd(r) % (len + 1);
			break;
		default:
			if (len < MAXIN)
				b[len++] = (uint8_t)rnd(r);
		}
	}
	if (len >= 4 && rnd(r) % 2) /* keep the frame length field consistent half the time */
		for (int i = 0; i < 4; i++)
			b[i] = (uint8_t)(len >> (8 * i));
	return len;
}

/* Whether some decoder accepts <in>: the driver reports how many inputs went deep. */
static bool accepted(const uint8_t *in, size_t len)
{
	static uint8_t out[MM_PROTO_MAX_FRAME];

	for (size_t i = 0; i < PROTO_NCASES; i++)
		if (proto_cases[i].repack(in, len, out, sizeof(out)) >= 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	unsigned long count = argc > 1 ? strtoul(argv[1], NULL, 0) : 200000;
	double secs = argc > 2 ? strtod(argv[2], NULL) : 5.0, end = now_s() + secs;
	uint64_t r = argc > 3 ? strtoull(argv[3], NULL, 0) : (uint64_t)time(NULL) | 1;
	static struct seed seeds[NSEEDS];
	uint8_t b[MAXIN];
	unsigned long i, deep = 0;

	printf("fuzz-proto: seed %llu\n", (unsigned long long)r);
	if (make_seeds(seeds) < 0) {
		fprintf(stderr, "fuzz-proto: cannot pack the seeds\n");
		return 1;
	}
	for (i = 0; i < count && (i % 1024 || now_s() < end); i++) {
		size_t len = mutate(seeds, b, &r);
		uint8_t *in = malloc(len ? len : 1);

		memcpy(in, b, len);
		LLVMFuzzerTestOneInput(in, len);
		deep += accepted(in, len);
		free(in);
	}
	printf("fuzz-proto: %lu inputs, %lu accepted by a decoder, no failure\n", i, deep);
	return 0;
}
