/* SPDX-License-Identifier: MIT */
/*
 * The framing guard (worker/wrk_frame.c): packets handed out whole and in order whatever the
 * pieces the socket gives, EAGAIN before a packet is whole, a remaining length over the limit
 * refused from the header (nothing allocated for it), a malformed length refused, and the
 * worker's look at (and replacement of) each complete packet.
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "wrk_frame.h"

/* A socket that gives the bytes of <data> in pieces of at most <piece>, EAGAIN at <gaps>. */
struct src {
	const uint8_t *data;
	size_t len, at, piece;
	size_t gap_at; /* one EAGAIN when reading reaches this offset (then cleared) */
	bool eof;      /* once <data> is all read: 0 (end of stream) rather than EAGAIN */
};

static ssize_t src_read(void *ctx, void *buf, size_t n)
{
	struct src *s = ctx;
	size_t k = s->len - s->at;

	if (s->gap_at && s->at >= s->gap_at) {
		s->gap_at = 0;
		errno = EAGAIN;
		return -1;
	}
	if (k == 0 && s->eof)
		return 0;
	if (k == 0) {
		errno = EAGAIN;
		return -1;
	}
	k = k < n ? k : n;
	k = k < s->piece ? k : s->piece;
	if (s->gap_at && s->at + k > s->gap_at)
		k = s->gap_at - s->at;
	memcpy(buf, s->data + s->at, k);
	s->at += k;
	return (ssize_t)k;
}

struct seen {
	int packets, refused;
	uint64_t refused_len;
	uint8_t first[8];
	bool replace;
};

static void on_refused(void *ctx, uint64_t len)
{
	struct seen *s = ctx;

	s->refused++;
	s->refused_len = len;
}

static void on_packet(void *ctx, struct mm_wrk_frame *f)
{
	struct seen *s = ctx;

	s->first[s->packets++ & 7] = f->pkt[0];
	if (s->replace) {
		memcpy(f->pkt, "\xd0\x00", 2); /* a PINGRESP instead */
		f->total = f->have = 2;
	}
}

static const struct mm_wrk_frame_ops Ops = { .refused = on_refused, .packet = on_packet };

/* Read like libmosquitto: a byte, the length a byte at a time, then the rest. */
static ssize_t read_packet(struct mm_wrk_frame *f, struct src *s, uint8_t *out)
{
	size_t n = 0, len = 0, shift = 0;
	ssize_t r = mm_wrk_frame_read(f, src_read, s, out, 1);

	if (r != 1)
		return r;
	n = 1;
	do {
		cr_assert_eq(mm_wrk_frame_read(f, src_read, s, out + n, 1), 1);
		len |= (size_t)(out[n] & 0x7f) << shift;
		shift += 7;
	} while (out[n++] & 0x80);
	while (len > 0) {
		r = mm_wrk_frame_read(f, src_read, s, out + n, len);
		cr_assert_gt(r, 0, "no EAGAIN in the middle of a packet handed out");
		n += (size_t)r;
		len -= (size_t)r;
	}
	return (ssize_t)n;
}

Test(worker_frame, hands_out_whole_packets_in_order_from_any_pieces)
{
	static const uint8_t wire[] = { 0x30, 0x05, 0x00, 0x01, 'a', 'h', 'i', /* PUBLISH a */
					0xd0, 0x00,			       /* PINGRESP */
					0x30, 0x04, 0x00, 0x01, 'b', '!' };
	for (size_t piece = 1; piece <= sizeof(wire); piece++) {
		struct src s = { .data = wire, .len = sizeof(wire), .piece = piece, .gap_at = 3 };
		struct seen seen = { 0 };
		struct mm_wrk_frame f;
		uint8_t out[64];
		size_t at = 0;
		ssize_t r;

		mm_wrk_frame_init(&f, 1024, &Ops, &seen);
		for (int turns = 0; at < sizeof(wire) && turns < 1000; turns++) {
			r = read_packet(&f, &s, out);
			if (r == -1) { /* EAGAIN before a packet is whole: nothing handed out */
				cr_assert_eq(errno, EAGAIN);
				continue;
			}
			cr_assert_leq(at + (size_t)r, sizeof(wire));
			cr_assert_eq(memcmp(out, wire + at, (size_t)r), 0, "piece %zu at %zu",
				     piece, at);
			at += (size_t)r;
		}
		cr_expect_eq(at, sizeof(wire), "piece %zu", piece);
		cr_expect_eq(seen.packets, 3);
		cr_expect_eq(seen.first[1], 0xd0);
		mm_wrk_frame_free(&f);
	}
}

Test(worker_frame, refuses_a_length_over_the_limit_before_reading_the_body)
{
	static const uint8_t wire[] = { 0x30, 0xff, 0xff, 0xff, 0x7f, 'x', 'x', 'x' };
	struct src s = { .data = wire, .len = sizeof(wire), .piece = 64 };
	struct seen seen = { 0 };
	struct mm_wrk_frame f;
	uint8_t out[8];

	mm_wrk_frame_init(&f, 1024, &Ops, &seen);
	cr_assert_eq(mm_wrk_frame_read(&f, src_read, &s, out, 1), -1);
	cr_expect_eq(errno, EMSGSIZE);
	cr_expect_eq(seen.refused, 1);
	cr_expect_eq(seen.refused_len, 268435455);
	cr_expect_eq(s.at, 5, "only the fixed header was read");
	cr_expect_leq(f.cap, 4096, "nothing allocated for the body");
	cr_expect_eq(mm_wrk_frame_read(&f, src_read, &s, out, 1), -1, "refused until a reset");
	cr_expect_eq(errno, EMSGSIZE);
	cr_expect_eq(seen.refused, 1);
	mm_wrk_frame_reset(&f);
	cr_expect_not(f.refused);
	mm_wrk_frame_free(&f);
}

Test(worker_frame, refuses_a_fifth_length_byte)
{
	static const uint8_t wire[] = { 0x30, 0x80, 0x80, 0x80, 0x80, 0x01 };
	struct src s = { .data = wire, .len = sizeof(wire), .piece = 64 };
	struct seen seen = { 0 };
	struct mm_wrk_frame f;
	uint8_t out[8];

	mm_wrk_frame_init(&f, UINT32_MAX, &Ops, &seen);
	cr_assert_eq(mm_wrk_frame_read(&f, src_read, &s, out, 1), -1);
	cr_expect_eq(errno, EMSGSIZE);
	cr_expect_eq(seen.refused, 1);
	cr_expect_eq(seen.refused_len, 0);
	mm_wrk_frame_free(&f);
}

Test(worker_frame, a_packet_can_be_replaced_before_its_first_byte_is_handed_out)
{
	static const uint8_t wire[] = { 0x32, 0x07, 0x00, 0x01, 'p', 0x00, 0x4d, 'b', 'd' };
	struct src s = { .data = wire, .len = sizeof(wire), .piece = 2 };
	struct seen seen = { .replace = true };
	struct mm_wrk_frame f;
	uint8_t out[16];
	ssize_t r;

	mm_wrk_frame_init(&f, 1024, &Ops, &seen);
	do
		r = read_packet(&f, &s, out);
	while (r == -1 && errno == EAGAIN);
	cr_assert_eq(r, 2);
	cr_expect_eq(memcmp(out, "\xd0\x00", 2), 0);
	cr_expect_not(mm_wrk_frame_pending(&f));
	mm_wrk_frame_free(&f);
}

Test(worker_frame, end_of_stream_in_a_packet_is_end_of_stream)
{
	static const uint8_t wire[] = { 0x30, 0x05, 0x00, 0x01 };
	struct src s = { .data = wire, .len = sizeof(wire), .piece = 64 };
	struct seen seen = { 0 };
	struct mm_wrk_frame f;
	uint8_t out[8];

	mm_wrk_frame_init(&f, 1024, &Ops, &seen);
	cr_assert_eq(mm_wrk_frame_read(&f, src_read, &s, out, 1), -1);
	cr_expect_eq(errno, EAGAIN);
	s.eof = true;
	cr_expect_eq(mm_wrk_frame_read(&f, src_read, &s, out, 1), 0);
	cr_expect_eq(seen.packets, 0);
	mm_wrk_frame_free(&f);
}
