/* SPDX-License-Identifier: MIT */
/*
 * Ring records: golden byte vectors (the layout is an interface between processes), pack then
 * unpack round trips, and every truncation or corruption refused.
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "records.h"

#define BI(s)                                       \
	{                                           \
		(const uint8_t *)(s), sizeof(s) - 1 \
	}
#define B(s) ((struct mm_bytes)BI(s))

static const struct mm_rec_msg golden_msg = {
	.recv_ns = 0x0102030405060708ull,
	.mid = 0x1234,
	.qos = 1,
	.flags = MM_REC_F_RETAIN,
	.topic = BI("a/b"),
	.payload = BI("hi"),
	.props = BI("\x03\x00\x01x"), /* content type "x" */
};

static const uint8_t golden_msg_bytes[] = {
	0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* recv_ns */
	0x34, 0x12, 0x00, 0x00,				/* mid */
	0x03, 0x00,					/* topic_len */
	0x01, 0x01,					/* qos, flags */
	0x02, 0x00, 0x00, 0x00,				/* payload_len */
	0x04, 0x00, 0x00, 0x00,				/* props_len */
	'a',  '/',  'b',  'h',	'i',  0x03, 0x00, 0x01, 'x',
};

Test(shm_records, msg_matches_the_golden_bytes)
{
	uint8_t buf[64];
	struct mm_rec_msg m;

	cr_assert_eq(mm_rec_msg_size(&golden_msg), sizeof(golden_msg_bytes));
	(void)mm_rec_msg_pack(buf, mm_rec_msg_size(&golden_msg), &golden_msg);
	cr_assert_arr_eq(buf, golden_msg_bytes, sizeof(golden_msg_bytes));
	cr_assert_eq(mm_rec_msg_unpack(buf, sizeof(golden_msg_bytes), &m), 0);
	cr_expect_eq(m.recv_ns, golden_msg.recv_ns);
	cr_expect_eq(m.mid, 0x1234);
	cr_expect_eq(m.qos, 1);
	cr_expect_eq(m.flags, MM_REC_F_RETAIN);
	cr_expect_eq(m.topic.len, 3);
	cr_expect_eq(memcmp(m.topic.p, "a/b", 3), 0);
	cr_expect_eq(memcmp(m.payload.p, "hi", 2), 0);
	cr_expect_eq(m.props.len, 4);
}

Test(shm_records, msg_refuses_every_truncation_and_extension)
{
	uint8_t buf[64];
	struct mm_rec_msg m;

	(void)mm_rec_msg_pack(buf, mm_rec_msg_size(&golden_msg), &golden_msg);
	for (size_t n = 0; n < sizeof(golden_msg_bytes); n++)
		cr_assert_eq(mm_rec_msg_unpack(buf, n, &m), -EBADMSG, "prefix of %zu", n);
	cr_assert_eq(mm_rec_msg_unpack(buf, sizeof(golden_msg_bytes) + 1, &m), -EBADMSG);
}

Test(shm_records, msg_refuses_bad_qos_flags_and_huge_lengths)
{
	uint8_t buf[64];
	struct mm_rec_msg m;

	(void)mm_rec_msg_pack(buf, mm_rec_msg_size(&golden_msg), &golden_msg);
	buf[14] = 3;
	cr_expect_eq(mm_rec_msg_unpack(buf, sizeof(golden_msg_bytes), &m), -EBADMSG);
	buf[14] = 1;
	buf[15] = 0x80;
	cr_expect_eq(mm_rec_msg_unpack(buf, sizeof(golden_msg_bytes), &m), -EBADMSG);
	buf[15] = 0;
	memset(buf + 16, 0xff, 8); /* payload_len + props_len overflow 32 bits together */
	cr_expect_eq(mm_rec_msg_unpack(buf, sizeof(golden_msg_bytes), &m), -EBADMSG);
}

Test(shm_records, event_round_trips_and_refuses_unknown_kinds)
{
	struct mm_rec_event e = { .time_ns = 42,
				  .kind = MM_EV_RECONNECTING,
				  .code = -111,
				  .attempt = 3,
				  .delay_ms = 4000,
				  .text = B("connection refused") },
			    out;
	uint8_t buf[64];
	size_t n = mm_rec_event_size(&e);

	(void)mm_rec_event_pack(buf, mm_rec_event_size(&e), &e);
	cr_assert_eq(mm_rec_event_unpack(buf, n, &out), 0);
	cr_expect_eq(out.kind, MM_EV_RECONNECTING);
	cr_expect_eq(out.code, -111);
	cr_expect_eq(out.attempt, 3);
	cr_expect_eq(out.delay_ms, 4000);
	cr_expect_eq(out.text.len, 18);
	cr_expect_str_eq(mm_event_kind_to_string(out.kind), "reconnecting");
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(mm_rec_event_unpack(buf, i, &out), -EBADMSG);
	buf[8] = _MM_EV_KIND_MAX;
	cr_expect_eq(mm_rec_event_unpack(buf, n, &out), -EBADMSG);
}

Test(shm_records, completion_round_trips_and_checks_reserved_bytes)
{
	struct mm_rec_completion c = { .req_id = 7, .result = -ENOTCONN, .cmd = MM_REC_CMD_PUB },
				 out;
	uint8_t buf[24];

	(void)mm_rec_completion_pack(buf, mm_rec_completion_size(), &c);
	cr_assert_eq(mm_rec_completion_unpack(buf, 24, &out), 0);
	cr_expect_eq(out.req_id, 7);
	cr_expect_eq(out.result, -ENOTCONN);
	cr_expect_eq(out.cmd, MM_REC_CMD_PUB);
	buf[20] = 1;
	cr_expect_eq(mm_rec_completion_unpack(buf, 24, &out), -EBADMSG);
	cr_expect_eq(mm_rec_completion_unpack(buf, 23, &out), -EBADMSG);
}

Test(shm_records, sub_and_pub_round_trip_and_refuse_garbage)
{
	struct mm_rec_sub s = { .req_id = 9, .qos = 2, .filter = B("s/+/t") }, so;
	struct mm_rec_pub p = { .req_id = 10,
				.qos = 1,
				.flags = MM_REC_F_RETAIN,
				.topic = B("x/y"),
				.payload = B("body"),
				.props = B("") },
			  po;
	uint8_t buf[64];

	(void)mm_rec_sub_pack(buf, mm_rec_sub_size(&s), &s);
	cr_assert_eq(mm_rec_sub_unpack(buf, mm_rec_sub_size(&s), &so), 0);
	cr_expect_eq(so.qos, 2);
	cr_expect_eq(memcmp(so.filter.p, "s/+/t", 5), 0);
	for (size_t i = 0; i < mm_rec_sub_size(&s); i++)
		cr_assert_eq(mm_rec_sub_unpack(buf, i, &so), -EBADMSG);

	(void)mm_rec_pub_pack(buf, mm_rec_pub_size(&p), &p);
	cr_assert_eq(mm_rec_pub_unpack(buf, mm_rec_pub_size(&p), &po), 0);
	cr_expect_eq(po.flags, MM_REC_F_RETAIN);
	cr_expect_eq(memcmp(po.payload.p, "body", 4), 0);
	cr_expect_eq(po.props.len, 0);
	for (size_t i = 0; i < mm_rec_pub_size(&p); i++)
		cr_assert_eq(mm_rec_pub_unpack(buf, i, &po), -EBADMSG);
	buf[9] = 0x4;
	cr_expect_eq(mm_rec_pub_unpack(buf, mm_rec_pub_size(&p), &po), -EBADMSG);
}

/* One packer convention for every ring record: the size written, or -ENOSPC when it does not fit.
 */
Test(shm_records, pack_returns_its_size_or_enospc)
{
	struct mm_rec_sub s = { .req_id = 9, .qos = 1, .filter = B("s/+/t") };
	struct mm_rec_event e = { .kind = MM_EV_READY, .text = B("mqtt://127.0.0.1:1883") };
	struct mm_rec_completion c = { .req_id = 1, .cmd = MM_REC_CMD_SUB };
	uint8_t buf[64];

	cr_expect_eq(mm_rec_msg_pack(buf, sizeof(buf), &golden_msg),
		     (ssize_t)mm_rec_msg_size(&golden_msg));
	cr_expect_eq(mm_rec_msg_pack(buf, MM_REC_MSG_FIXED - 1, &golden_msg), -ENOSPC);
	cr_expect_eq(mm_rec_sub_pack(buf, sizeof(buf), &s), (ssize_t)mm_rec_sub_size(&s));
	cr_expect_eq(mm_rec_sub_pack(buf, mm_rec_sub_size(&s) - 1, &s), -ENOSPC);
	cr_expect_eq(mm_rec_event_pack(buf, sizeof(buf), &e), (ssize_t)mm_rec_event_size(&e));
	cr_expect_eq(mm_rec_event_pack(buf, 8, &e), -ENOSPC);
	cr_expect_eq(mm_rec_completion_pack(buf, sizeof(buf), &c),
		     (ssize_t)mm_rec_completion_size());
	cr_expect_eq(mm_rec_completion_pack(buf, mm_rec_completion_size() - 1, &c), -ENOSPC);
}
