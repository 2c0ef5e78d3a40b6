/* SPDX-License-Identifier: MIT */
/* Fixed-size sealed memfds (see memfd.h). */
#include "memfd.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int mm_shm_memfd_create(const char *name, size_t size, void **ret_map)
{
	void *p;
	int fd, r;

	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd == -1)
		return -errno;
	if (ftruncate(fd, (off_t)size) == -1)
		goto fail;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	*ret_map = p;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

int mm_shm_memfd_seal(int fd, void *map, size_t size)
{
	(void)munmap(map, size);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == -1)
		return -errno;
	return 0;
}

int mm_shm_memfd_map(int fd, size_t size, void **ret_map)
{
	struct stat st;
	void *p;
	int seals;

	if (fstat(fd, &st) == -1)
		return -errno;
	seals = fcntl(fd, F_GET_SEALS);
	if ((size_t)st.st_size != size || seals == -1 || !(seals & F_SEAL_SHRINK))
		return -EPROTO;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*ret_map = p;
	return 0;
}
