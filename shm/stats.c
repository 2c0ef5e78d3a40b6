/* SPDX-License-Identifier: MIT */
/* Create and attach a session's stats block (layout and ownership in stats.h). */
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Create a sealed memfd holding a zeroed stats block. The caller owns *ret_fd. Returns 0 or
 * -errno.
 */
int mm_shm_stats_create(const char *name, int *ret_fd)
{
	struct mm_stats_block *s;
	int fd, r;

	fd = memfd_create(name ? name : "mqttmux-stats", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd == -1)
		return -errno;
	if (ftruncate(fd, MM_STATS_SIZE) == -1)
		goto fail;
	s = mmap(NULL, MM_STATS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED)
		goto fail;
	s->ver_major = MM_STATS_VER_MAJOR;
	s->ver_minor = MM_STATS_VER_MINOR;
	s->size = MM_STATS_SIZE;
	__atomic_store_n(&s->magic, MM_STATS_MAGIC, __ATOMIC_RELEASE);
	(void)munmap(s, MM_STATS_SIZE);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == -1)
		goto fail;
	*ret_fd = fd;
	return 0;
fail:
	r = -errno;
	close(fd);
	return r;
}

/*
 * Map the stats block in <fd> read-write. Returns 0, -EPROTO if the memfd is not a sealed
 * stats block of our major version, or -errno.
 */
int mm_shm_stats_attach(int fd, struct mm_stats_block **ret)
{
	struct mm_stats_block *s;
	struct stat st;
	int seals;

	if (fstat(fd, &st) == -1)
		return -errno;
	seals = fcntl(fd, F_GET_SEALS);
	if (st.st_size != MM_STATS_SIZE || seals == -1 || !(seals & F_SEAL_SHRINK))
		return -EPROTO;
	s = mmap(NULL, MM_STATS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED)
		return -errno;
	if (__atomic_load_n(&s->magic, __ATOMIC_ACQUIRE) != MM_STATS_MAGIC ||
	    s->ver_major != MM_STATS_VER_MAJOR || s->size != MM_STATS_SIZE) {
		(void)munmap(s, MM_STATS_SIZE);
		return -EPROTO;
	}
	*ret = s;
	return 0;
}

void mm_shm_stats_detach(struct mm_stats_block *s)
{
	if (s)
		(void)munmap(s, MM_STATS_SIZE);
}

const char *mm_sess_state_to_string(unsigned state)
{
	static const char *const names[_MM_SESS_STATE_MAX] = {
		[MM_SESS_STOPPED] = "stopped",		 [MM_SESS_CONNECTING] = "connecting",
		[MM_SESS_CONNECTED] = "connected",	 [MM_SESS_READY] = "ready",
		[MM_SESS_DISCONNECTED] = "disconnected", [MM_SESS_RECONNECTING] = "reconnecting",
	};

	return state < _MM_SESS_STATE_MAX ? names[state] : "unknown";
}
