/* SPDX-License-Identifier: MIT */
/*
 * Send and receive one router.sock frame, with descriptors (SCM_RIGHTS). One frame is one
 * SOCK_SEQPACKET datagram; these functions move bytes and descriptors only and do not look
 * inside the frame (mm_proto_unpack_header does). They block only if the socket does.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"

#define CMSG_ROOM CMSG_SPACE(sizeof(int) * MM_PROTO_MAX_FDS)

/*
 * Send <frame> of <len> bytes with <nfds> descriptors (0..MM_PROTO_MAX_FDS, <fds> may be NULL
 * when 0). The descriptors stay owned by the caller. Never raises SIGPIPE. Returns 0, -EINVAL
 * (bad length or descriptor count), -EAGAIN (non-blocking socket full), -EPIPE (peer gone) or
 * another -errno of sendmsg.
 */
int mm_proto_send(int sock, const uint8_t *frame, size_t len, const int *fds, int nfds)
{
	union {
		char buf[CMSG_ROOM];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)frame, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t n;

	if (len < MM_PROTO_HDR_SIZE || len > MM_PROTO_MAX_FRAME || nfds < 0 ||
	    nfds > MM_PROTO_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	if (n == -1)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/*
 * Collect the SCM_RIGHTS descriptors of <mh> into <fds> (room for <max>), count in *ret_n.
 * Every descriptor received is either stored or closed. Returns 0, -EMSGSIZE if there were
 * more than <max>, or -EBADMSG for a control message other than SCM_RIGHTS (all of the
 * descriptors closed then).
 */
static int take_fds(struct msghdr *mh, int *fds, int max, int *ret_n)
{
	int n = 0, r = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int got[MM_PROTO_MAX_FDS];

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			r = -EBADMSG;
			continue;
		}
		if (k > MM_PROTO_MAX_FDS)
			k = MM_PROTO_MAX_FDS; /* cannot happen: the buffer holds no more */
		memcpy(got, CMSG_DATA(c), sizeof(int) * k);
		for (size_t i = 0; i < k; i++) {
			if (n < max)
				fds[n++] = got[i];
			else {
				close(got[i]);
				r = r ? r : -EMSGSIZE;
			}
		}
	}
	if (r < 0)
		close_all(fds, n);
	else
		*ret_n = n;
	return r;
}

/*
 * Receive one frame into <buf> of <cap> bytes and its descriptors into <fds>; *nfds gives the
 * room in <fds> on entry (0..MM_PROTO_MAX_FDS) and the count received on success. Descriptors
 * arrive close-on-exec and belong to the caller on success. Returns the frame length (> 0), 0
 * at end of stream, -EMSGSIZE if the frame was longer than <cap> or carried more descriptors
 * than the room (MSG_TRUNC / MSG_CTRUNC / too many), -EBADMSG for a foreign control message,
 * -EAGAIN, or another -errno. On any error
 * every descriptor that came with the frame is closed and *nfds is 0.
 */
ssize_t mm_proto_recv(int sock, uint8_t *buf, size_t cap, int *fds, int *nfds)
{
	union {
		char buf[CMSG_ROOM];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int max = *nfds, n = 0, r;
	ssize_t len;

	*nfds = 0;
	if (max < 0 || max > MM_PROTO_MAX_FDS)
		return -EINVAL;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	len = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (len == -1)
		return -errno;
	r = take_fds(&mh, fds, max, &n);
	if (r < 0)
		return r;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC) || len == 0) {
		close_all(fds, n);
		return len == 0 ? 0 : -EMSGSIZE;
	}
	*nfds = n;
	return len;
}
