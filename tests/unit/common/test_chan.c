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
