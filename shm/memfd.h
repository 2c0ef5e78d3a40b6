/* SPDX-License-Identifier: MIT */
/*
 * Fixed-size sealed memfds, the pattern of the stats blocks: create, map, fill the header, seal
 * against shrink and grow; attach checks the size and the seal before mapping, so a peer can
 * never make us fault by truncating the file. The callers check their own header.
 */
#ifndef MM_SHM_MEMFD_H
#define MM_SHM_MEMFD_H

#include <stddef.h>

/*
 * Create a close-on-exec memfd of <size> zero bytes and map it read-write into *ret_map. The
 * caller fills it, then calls mm_shm_memfd_seal(). Returns the fd, or -errno.
 */
int mm_shm_memfd_create(const char *name, size_t size, void **ret_map);

/* Unmap <map> and seal <fd> against shrink, grow and further seals. Returns 0 or -errno. */
int mm_shm_memfd_seal(int fd, void *map, size_t size);

/*
 * Map <fd> read-write into *ret_map if it is exactly <size> bytes and sealed against shrink.
 * Returns 0, -EPROTO (wrong size or unsealed) or -errno.
 */
int mm_shm_memfd_map(int fd, size_t size, void **ret_map);

#endif /* MM_SHM_MEMFD_H */
