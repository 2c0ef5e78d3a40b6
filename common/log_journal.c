/* SPDX-License-Identifier: MIT */
/*
 * Log records to the systemd journal over its native protocol (systemd.io,
 * JOURNAL_NATIVE_PROTOCOL): one datagram of FIELD=value lines to /run/systemd/journal/socket.
 * MESSAGE and MQTTMUX_SESSION use the protocol's length-prefixed form, so a newline inside
 * them cannot start a forged field or record. Written here rather than taken from libsystemd
 * so that every process can log this way whether or not the build has libsystemd, and so that
 * tests can point it at a socket of their own ($MQTTMUX_JOURNAL_SOCKET).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define JOURNAL_SOCKET	   "/run/systemd/journal/socket"
#define JOURNAL_SOCKET_ENV "MQTTMUX_JOURNAL_SOCKET"
#define JOURNAL_WAIT_MS	   20 /* the longest a record waits for room in the journal's queue */

bool mm_log_journal_is_stderr(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* "NAME\n" <64-bit little-endian length> <bytes> "\n": the binary-safe form of a field. */
static void binary_field(struct iovec *v, const char *name, const char *value, uint8_t len_le[8])
{
	uint64_t n = strlen(value);

	for (int i = 0; i < 8; i++)
		len_le[i] = (uint8_t)(n >> (8 * i));
	v[0] = (struct iovec){ (void *)name, strlen(name) };
	v[1] = (struct iovec){ len_le, 8 };
	v[2] = (struct iovec){ (void *)value, n };
	v[3] = (struct iovec){ (void *)(uintptr_t) "\n", 1 };
}

/*
 * The journal socket, connected once (so that POLLOUT tells when the journal has room again);
 * reconnected after journald restarted. -errno when it cannot be reached.
 */
static int journal_fd(bool reset)
{
	static int fd = -1;
	const char *path = getenv(JOURNAL_SOCKET_ENV);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (reset && fd >= 0) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0)
		return fd;
	if (!path || !path[0])
		path = JOURNAL_SOCKET;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		fd = -1;
		return r;
	}
	return fd < 0 ? -errno : fd;
}

/*
 * Send, never waiting long: a full journal queue gets at most JOURNAL_WAIT_MS, then the caller
 * writes the line to stderr instead (the log must not stall a worker's loop).
 */
static int send_record(struct msghdr *mh)
{
	int fd = journal_fd(false);
	struct pollfd p;

	if (fd < 0)
		return fd;
	if (sendmsg(fd, mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
		return 0;
	if (errno == ECONNREFUSED || errno == ENOTCONN) /* journald restarted */
		fd = journal_fd(true);
	else if (errno != EAGAIN)
		return -errno;
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (fd < 0 || poll(&p, 1, JOURNAL_WAIT_MS) != 1)
		return -EAGAIN;
	return sendmsg(fd, mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
}

int mm_log_journal_send(int priority, const char *ident, const char *session, const char *msg)
{
	uint8_t len_msg[8], len_sess[8];
	struct iovec v[9];
	char head[320];
	struct msghdr mh = { .msg_iov = v };
	int n;

	n = snprintf(head, sizeof(head), "PRIORITY=%d\nSYSLOG_IDENTIFIER=%s\nSYSLOG_PID=%d\n",
		     priority, ident, (int)getpid());
	v[0] = (struct iovec){ head, (size_t)n < sizeof(head) ? (size_t)n : sizeof(head) - 1 };
	mh.msg_iovlen = 1;
	if (session) {
		binary_field(&v[1], "MQTTMUX_SESSION\n", session, len_sess);
		mh.msg_iovlen += 4;
	}
	binary_field(&v[mh.msg_iovlen], "MESSAGE\n", msg, len_msg);
	mh.msg_iovlen += 4;
	return send_record(&mh);
}
