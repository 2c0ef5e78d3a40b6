/* SPDX-License-Identifier: MIT */
/*
 * Handoff blobs in sealed memfds (see handoff.h). A blob is written once with write(2), then
 * sealed against write, shrink and grow, so the child that inherits it reads exactly what the
 * supervisor validated and nobody holding a copy of the descriptor can change it afterwards.
 */
#include "handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memfd.h"

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n == -1 && errno != EINTR)
			return -errno;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

int mm_handoff_blob_open(const uint8_t *buf, size_t len)
{
	int fd = mm_shm_memfd_open("mqttmux-handoff", 0), r;

	if (fd < 0)
		return fd;
	r = write_all(fd, buf, len);
	if (r == 0)
		r = mm_shm_memfd_seal(fd, NULL, 0, MM_SHM_SEALS_FROZEN);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int mm_handoff_blob_read(int fd, uint8_t **ret, size_t *ret_len)
{
	uint64_t size = 0;
	uint8_t *buf;
	size_t off = 0;
	int r;

	r = mm_shm_memfd_check(fd, MM_SHM_SEALS_FROZEN, 1, MM_HANDOFF_MAX, &size, NULL);
	if (r < 0)
		return r;
	buf = malloc((size_t)size);
	if (!buf)
		return -ENOMEM;
	while (off < (size_t)size) {
		ssize_t n = pread(fd, buf + off, (size_t)size - off, (off_t)off);

		if (n <= 0 && !(n == -1 && errno == EINTR)) {
			r = n == 0 ? -EPROTO : -errno;
			free(buf);
			return r;
		}
		if (n > 0)
			off += (size_t)n;
	}
	*ret = buf;
	*ret_len = off;
	return 0;
}

/* Put <len> packed bytes (or the -errno of packing) in a blob; the bytes are wiped and freed. */
static int open_packed(uint8_t *buf, ssize_t len)
{
	int fd;

	if (len < 0)
		return (int)len;
	fd = mm_handoff_blob_open(buf, (size_t)len);
	explicit_bzero(buf, (size_t)len);
	free(buf);
	return fd;
}

int mm_handoff_session_open(const struct mm_cfg_session *s)
{
	uint8_t *buf = NULL;
	ssize_t len = mm_handoff_session_pack(s, &buf);

	return open_packed(buf, len);
}

int mm_handoff_router_open(const struct mm_handoff_router *t)
{
	uint8_t *buf = NULL;
	ssize_t len = mm_handoff_router_pack(t, &buf);

	return open_packed(buf, len);
}

/* Read the blob at <fd> (closed either way) into *buf. */
static int read_closing(int fd, uint8_t **buf, size_t *len)
{
	int r = mm_handoff_blob_read(fd, buf, len);

	close(fd);
	return r;
}

int mm_handoff_session_read(int fd, struct mm_cfg_session **ret)
{
	uint8_t *buf;
	size_t len;
	int r = read_closing(fd, &buf, &len);

	if (r < 0)
		return r;
	r = mm_handoff_session_unpack(buf, len, ret);
	explicit_bzero(buf, len);
	free(buf);
	return r;
}

int mm_handoff_router_read(int fd, struct mm_handoff_router **ret)
{
	uint8_t *buf;
	size_t len;
	int r = read_closing(fd, &buf, &len);

	if (r < 0)
		return r;
	r = mm_handoff_router_unpack(buf, len, ret);
	free(buf);
	return r;
}
