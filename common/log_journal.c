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

static int journal_fd(struct sockaddr_un *sa)
{
	static int fd = -1;
	const char *path = getenv(JOURNAL_SOCKET_ENV);

	if (!path || !path[0])
		path = JOURNAL_SOCKET;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(sa->sun_path, path, strlen(path));
	if (fd < 0)
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

int mm_log_journal_send(int priority, const char *ident, const char *session, const char *msg)
{
	uint8_t len_msg[8], len_sess[8];
	struct iovec v[9];
	struct sockaddr_un sa;
	char head[320];
	struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = v };
	int fd = journal_fd(&sa), n;

	if (fd < 0)
		return fd;
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
	/* never wait for a busy journal: the caller writes the line to stderr instead */
	return sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
}
