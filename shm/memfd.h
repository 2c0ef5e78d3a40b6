/* SPDX-License-Identifier: MIT */
/*
 * THE sealed-memfd code, written once for everything shm/ hands between processes: the rings
 * (ring.c), the stats blocks (stats.c, rstats.c) and the handoff blobs (handoff.c). A memfd is
 * created close-on-exec with sealing allowed, filled, then sealed: its size against shrink and
 * grow (a peer can never make us fault by truncating it), and for a blob its contents too.
 * Whoever receives one checks the seals and the size before it maps or reads a byte; the
 * callers then check their own header.
 */
#ifndef MM_SHM_MEMFD_H
#define MM_SHM_MEMFD_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>

#define MM_SHM_SEALS_SIZE   (F_SEAL_SHRINK | F_SEAL_GROW)		 /* rings, stats blocks */
#define MM_SHM_SEALS_FROZEN (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW) /* handoff blobs */

/* A close-on-exec, sealable memfd of <size> zero bytes. Returns the fd, or -errno. */
int mm_shm_memfd_open(const char *name, size_t size);

/*
 * mm_shm_memfd_open() and map it read-write into *ret_map. The caller fills it, then calls
 * mm_shm_memfd_seal(). Returns the fd, or -errno.
 */
int mm_shm_memfd_create(const char *name, size_t size, void **ret_map);

/* Unmap <map> (NULL: nothing mapped) and seal <fd> with <seals> plus F_SEAL_SEAL. 0 or -errno. */
int mm_shm_memfd_seal(int fd, void *map, size_t size, int seals);

/*
 * Check a received memfd before use: it holds all of <seals> and its size is in [min, max].
 * *ret_size and *ret_seals (either may be NULL) get what was found (-1 for the seals of a
 * descriptor that is no memfd), also when the check fails, so that a caller can say why.
 * Returns 0, -EPROTO (a seal lacks, the size is out of range, or not a memfd) or -errno.
 */
int mm_shm_memfd_check(int fd, int seals, uint64_t min, uint64_t max, uint64_t *ret_size,
		       int *ret_seals);

/*
 * Map <fd> read-write into *ret_map if it is exactly <size> bytes and sealed against shrink.
 * Returns 0, -EPROTO (wrong size or unsealed) or -errno.
 */
int mm_shm_memfd_map(int fd, size_t size, void **ret_map);

#endif /* MM_SHM_MEMFD_H */
