/* SPDX-License-Identifier: MIT */
/* Sealed memfds (see memfd.h). */
#include "memfd.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int mm_shm_memfd_open(const char *name, size_t size)
{
	int fd, r;

	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd == -1)
		return -errno;
	if (size && ftruncate(fd, (off_t)size) == -1) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int mm_shm_memfd_create(const char *name, size_t size, void **ret_map)
{
	void *p;
	int fd, r;

	fd = mm_shm_memfd_open(name, size);
	if (fd < 0)
		return fd;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_map = p;
	return fd;
}

int mm_shm_memfd_seal(int fd, void *map, size_t size, int seals)
{
	/* F_SEAL_WRITE fails while a shared writable mapping exists: unmap first. */
	if (map)
		(void)munmap(map, size);
	if (fcntl(fd, F_ADD_SEALS, seals | F_SEAL_SEAL) == -1)
		return -errno;
	return 0;
}

int mm_shm_memfd_check(int fd, int seals, uint64_t min, uint64_t max, uint64_t *ret_size,
		       int *ret_seals)
{
	struct stat st;
	int have;

	if (fstat(fd, &st) == -1)
		return -errno;
	have = fcntl(fd, F_GET_SEALS);
	if (ret_size)
		*ret_size = (uint64_t)st.st_size;
	if (ret_seals)
		*ret_seals = have;
	if (have == -1 || (have & seals) != seals)
		return -EPROTO;
	if ((uint64_t)st.st_size < min || (uint64_t)st.st_size > max)
		return -EPROTO;
	return 0;
}

int mm_shm_memfd_map(int fd, size_t size, void **ret_map)
{
	void *p;
	int r;

	r = mm_shm_memfd_check(fd, F_SEAL_SHRINK, size, size, NULL, NULL);
	if (r < 0)
		return r;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*ret_map = p;
	return 0;
}
