/* SPDX-License-Identifier: MIT */
/* Pack, unpack, send and receive control-channel records (see chan.h). */
#include "chan.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

static void put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

void mm_chan_pack(uint8_t buf[MM_CHAN_MSG_SIZE], const struct mm_chan_msg *m)
{
	put32(buf, m->cmd);
	put32(buf + 4, m->arg);
	put32(buf + 8, (uint32_t)m->value);
	put32(buf + 12, (uint32_t)(m->value >> 32));
}

/* Returns 0, or -EBADMSG for a wrong size or an unknown command. */
int mm_chan_unpack(const uint8_t *buf, size_t len, struct mm_chan_msg *ret)
{
	struct mm_chan_msg m;

	if (len != MM_CHAN_MSG_SIZE)
		return -EBADMSG;
	m.cmd = get32(buf);
	m.arg = get32(buf + 4);
	m.value = get32(buf + 8) | (uint64_t)get32(buf + 12) << 32;
	if (m.cmd == 0 || m.cmd >= _MM_CHAN_CMD_MAX)
		return -EBADMSG;
	*ret = m;
	return 0;
}

/* Send one record; never blocks (-EAGAIN if the peer is not reading). Returns 0 or -errno. */
int mm_chan_send(int fd, uint32_t cmd, uint32_t arg, uint64_t value)
{
	uint8_t buf[MM_CHAN_MSG_SIZE];
	struct mm_chan_msg m = { cmd, arg, value };

	mm_chan_pack(buf, &m);
	if (send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(buf))
		return -errno;
	return 0;
}

/*
 * Receive one record without blocking. Returns 1 with *ret filled, 0 on EOF (the peer is
 * gone), -EAGAIN when nothing is waiting, -EBADMSG for a malformed record, or -errno.
 */
int mm_chan_recv(int fd, struct mm_chan_msg *ret)
{
	uint8_t buf[MM_CHAN_MSG_SIZE + 1];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n == -1)
		return -errno;
	if (n == 0)
		return 0;
	return mm_chan_unpack(buf, (size_t)n, ret) < 0 ? -EBADMSG : 1;
}
