/* SPDX-License-Identifier: MIT */
/* Pack, unpack, send and receive control-channel records (see chan.h). */
#include "chan.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
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

/*
 * Send one record with <len> body bytes (at most MM_CHAN_BODY_MAX) and <nfds> descriptors (at
 * most MM_CHAN_FDS_MAX, duplicated into the peer). Never blocks: -EAGAIN if the peer's queue
 * is full. Returns 0, -EINVAL (too much) or -errno.
 */
int mm_chan_send_msg(int fd, const struct mm_chan_msg *m, const void *body, size_t len,
		     const int *fds, unsigned nfds)
{
	uint8_t buf[MM_CHAN_MSG_SIZE + MM_CHAN_BODY_MAX];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * MM_CHAN_FDS_MAX)];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = MM_CHAN_MSG_SIZE + len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (len > MM_CHAN_BODY_MAX || nfds > MM_CHAN_FDS_MAX)
		return -EINVAL;
	mm_chan_pack(buf, m);
	if (len)
		memcpy(buf + MM_CHAN_MSG_SIZE, body, len);
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.space;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		ctl.h.cmsg_level = SOL_SOCKET;
		ctl.h.cmsg_type = SCM_RIGHTS;
		ctl.h.cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(&ctl.h), fds, sizeof(int) * nfds);
	}
	if (sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)iov.iov_len)
		return -errno;
	return 0;
}

/* Take the descriptors of <mh> into <x>; false if the control data is not what we expect. */
static bool take_fds(struct msghdr *mh, struct mm_chan_extra *x)
{
	bool ok = !(mh->msg_flags & MSG_CTRUNC);

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const uint8_t *p = CMSG_DATA(c);

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			ok = false;
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, p + i * sizeof(int), sizeof(int));
			if (x->nfds < MM_CHAN_FDS_MAX)
				x->fds[x->nfds++] = fd;
			else
				(void)close(fd);
		}
	}
	return ok;
}

/*
 * Receive one record without blocking, with its body and descriptors in <x> (emptied first).
 * Returns 1, 0 on EOF, -EAGAIN when nothing is waiting, -EBADMSG for a malformed or truncated
 * record (its descriptors are closed), or -errno.
 */
int mm_chan_recv_msg(int fd, struct mm_chan_msg *ret, struct mm_chan_extra *x)
{
	uint8_t buf[MM_CHAN_MSG_SIZE + MM_CHAN_BODY_MAX + 1];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * MM_CHAN_FDS_MAX)];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.space,
			     .msg_controllen = sizeof(ctl.space) };
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	bool ok;

	x->len = 0;
	x->nfds = 0;
	if (n == -1)
		return -errno;
	ok = take_fds(&mh, x);
	if (n == 0 && x->nfds == 0)
		return 0;
	ok = ok && !(mh.msg_flags & MSG_TRUNC) && n >= (ssize_t)MM_CHAN_MSG_SIZE &&
	     n <= (ssize_t)(MM_CHAN_MSG_SIZE + MM_CHAN_BODY_MAX) &&
	     mm_chan_unpack(buf, MM_CHAN_MSG_SIZE, ret) == 0;
	if (!ok) {
		mm_chan_extra_close(x);
		return -EBADMSG;
	}
	x->len = (size_t)n - MM_CHAN_MSG_SIZE;
	memcpy(x->body, buf + MM_CHAN_MSG_SIZE, x->len);
	return 1;
}

/* Close the descriptors of <x> that the caller did not take (set to -1). */
void mm_chan_extra_close(struct mm_chan_extra *x)
{
	for (unsigned i = 0; i < x->nfds; i++)
		if (x->fds[i] >= 0)
			(void)close(x->fds[i]);
	x->nfds = 0;
}
