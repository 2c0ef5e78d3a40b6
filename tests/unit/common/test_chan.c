/* SPDX-License-Identifier: MIT */
/* Control-channel records: golden bytes, refusals, and a round trip over a socketpair. */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "chan.h"

Test(common_chan, packs_the_golden_bytes_and_refuses_garbage)
{
	static const uint8_t golden[16] = { 2, 0, 0, 0, 7, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1 };
	struct mm_chan_msg m = { MM_CHAN_HEARTBEAT, 7, 0x0102030405060708ull }, out;
	uint8_t buf[16];

	mm_chan_pack(buf, &m);
	cr_assert_arr_eq(buf, golden, 16);
	cr_assert_eq(mm_chan_unpack(buf, 16, &out), 0);
	cr_expect_eq(out.value, m.value);
	cr_expect_eq(mm_chan_unpack(buf, 15, &out), -EBADMSG);
	buf[0] = 99;
	cr_expect_eq(mm_chan_unpack(buf, 16, &out), -EBADMSG);
}

Test(common_chan, sends_and_receives_and_reports_eof)
{
	struct mm_chan_msg m;
	int sp[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	cr_assert_eq(mm_chan_recv(sp[1], &m), -EAGAIN);
	cr_assert_eq(mm_chan_send(sp[0], MM_CHAN_STOP, 0, 0), 0);
	cr_assert_eq(mm_chan_recv(sp[1], &m), 1);
	cr_expect_eq(m.cmd, MM_CHAN_STOP);
	close(sp[0]);
	cr_assert_eq(mm_chan_recv(sp[1], &m), 0);
	close(sp[1]);
}

Test(common_chan, a_record_carries_its_body_and_descriptors)
{
	struct mm_chan_msg m = { MM_CHAN_SESSION_ADD, 7, 0 }, out;
	struct mm_chan_extra x;
	int sp[2], p[2], fds[2];
	char c = 0;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	cr_assert_eq(pipe(p), 0);
	fds[0] = p[0];
	fds[1] = p[1];
	cr_assert_eq(mm_chan_send_msg(sp[0], &m, "plant", 5, fds, 2), 0);
	cr_assert_eq(mm_chan_send(sp[0], MM_CHAN_STOP, 0, 0), 0);
	cr_assert_eq(mm_chan_recv_msg(sp[1], &out, &x), 1);
	cr_expect_eq(out.cmd, MM_CHAN_SESSION_ADD);
	cr_expect_eq(out.arg, 7);
	cr_assert_eq(x.len, 5);
	cr_expect_arr_eq(x.body, "plant", 5);
	cr_assert_eq(x.nfds, 2);
	cr_assert_eq(write(x.fds[1], "z", 1), 1, "the received pipe end works");
	cr_assert_eq(read(p[0], &c, 1), 1);
	cr_expect_eq(c, 'z');
	mm_chan_extra_close(&x);
	cr_assert_eq(mm_chan_recv_msg(sp[1], &out, &x), 1, "the next record stands alone");
	cr_expect_eq(out.cmd, MM_CHAN_STOP);
	cr_expect_eq(x.len, 0);
	cr_expect_eq(x.nfds, 0);
	cr_expect_eq(mm_chan_recv_msg(sp[1], &out, &x), -EAGAIN);
	cr_expect_eq(mm_chan_send_msg(sp[0], &m, "x", MM_CHAN_BODY_MAX + 1, NULL, 0), -EINVAL);
	close(p[0]);
	close(p[1]);
	close(sp[0]);
	cr_expect_eq(mm_chan_recv_msg(sp[1], &out, &x), 0);
	close(sp[1]);
}

Test(common_chan, an_oversized_or_unknown_record_is_refused_with_its_descriptors_closed)
{
	uint8_t big[16 + MM_CHAN_BODY_MAX + 8] = { 6 };
	struct mm_chan_msg m = { 99, 0, 0 }, out;
	struct mm_chan_extra x;
	int sp[2], p[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(send(sp[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
	cr_expect_eq(mm_chan_recv_msg(sp[1], &out, &x), -EBADMSG);
	cr_assert_eq(mm_chan_send_msg(sp[0], &m, NULL, 0, &p[1], 1), 0);
	close(p[1]);
	cr_expect_eq(mm_chan_recv_msg(sp[1], &out, &x), -EBADMSG);
	cr_expect_eq(x.nfds, 0);
	cr_expect_eq(read(p[0], big, 1), 0, "the refused copy of the write end was closed");
	close(p[0]);
	close(sp[0]);
	close(sp[1]);
}
