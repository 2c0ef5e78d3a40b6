/* SPDX-License-Identifier: MIT */
/*
 * The connect pacer (see pace.h): the page, and the reservation of a slot.
 */
#include "pace.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memfd.h"

/*
 * Create the page (no limit yet: mm_shm_pace_set()), sealed against resizing, mapped
 * read-write into *ret. Returns 0 with *ret_fd (close-on-exec) or -errno.
 */
int mm_shm_pace_create(const char *name, int *ret_fd, struct mm_pace_block **ret)
{
	struct mm_pace_block *p;
	int fd, r;

	fd = mm_shm_memfd_create(name ? name : "mqttmux-pace", MM_PACE_SIZE, (void **)&p);
	if (fd < 0)
		return fd;
	p->ver_major = MM_PACE_VER_MAJOR;
	p->ver_minor = MM_PACE_VER_MINOR;
	p->size = MM_PACE_SIZE;
	__atomic_store_n(&p->magic, MM_PACE_MAGIC, __ATOMIC_RELEASE);
	r = mm_shm_memfd_seal(fd, NULL, MM_PACE_SIZE, MM_SHM_SEALS_SIZE);
	if (r < 0) {
		(void)munmap(p, MM_PACE_SIZE);
		close(fd);
		return r;
	}
	*ret_fd = fd;
	*ret = p;
	return 0;
}

/* Map the page in <fd>. Returns 0, -EPROTO (not a sealed pace page of our major) or -errno. */
int mm_shm_pace_attach(int fd, struct mm_pace_block **ret)
{
	struct mm_pace_block *p;
	int r = mm_shm_memfd_map(fd, MM_PACE_SIZE, (void **)&p);

	if (r < 0)
		return r;
	if (__atomic_load_n(&p->magic, __ATOMIC_ACQUIRE) != MM_PACE_MAGIC ||
	    p->ver_major != MM_PACE_VER_MAJOR || p->size != MM_PACE_SIZE) {
		(void)munmap(p, MM_PACE_SIZE);
		return -EPROTO;
	}
	*ret = p;
	return 0;
}

void mm_shm_pace_detach(struct mm_pace_block *p)
{
	if (p)
		(void)munmap(p, MM_PACE_SIZE);
}

/* Supervisor: at most <rate> attempts a second (0: no limit), up to <burst> at once (>= 1). */
void mm_shm_pace_set(struct mm_pace_block *p, uint32_t rate, uint32_t burst)
{
	uint64_t interval = rate ? 1000000000ull / rate : 0;

	atomic_store_explicit(&p->tolerance_ns, interval * (burst ? burst - 1 : 0),
			      memory_order_relaxed);
	atomic_store_explicit(&p->interval_ns, interval, memory_order_relaxed);
}

/*
 * Worker: reserve the next slot at <now_ns> (CLOCK_MONOTONIC) and return when it is: <now_ns>
 * itself (go), or a later instant to wait for, at most MM_PACE_WAIT_MAX_NS away. The slot is
 * taken either way: the caller must use it then, not take another.
 *
 * The slot is g = max(now, tat - tolerance) and tat moves to max(tat, g) + interval: <burst>
 * slots at once after a quiet spell, then one every interval, in the order they were asked
 * for, so a burst of reconnects is spread and no worker waits behind later ones.
 */
uint64_t mm_shm_pace_take(struct mm_pace_block *p, uint64_t now_ns)
{
	uint64_t interval = atomic_load_explicit(&p->interval_ns, memory_order_relaxed);
	uint64_t tol = atomic_load_explicit(&p->tolerance_ns, memory_order_relaxed);
	uint64_t tat = atomic_load_explicit(&p->tat_ns, memory_order_relaxed), slot, next;

	if (!interval)
		return now_ns;
	do {
		slot = tat > tol && tat - tol > now_ns ? tat - tol : now_ns;
		if (slot - now_ns > MM_PACE_WAIT_MAX_NS)
			slot = now_ns + MM_PACE_WAIT_MAX_NS; /* a corrupt tat: bounded */
		next = (tat > slot ? tat : slot) + interval;
	} while (!atomic_compare_exchange_weak_explicit(
		&p->tat_ns, &tat, next, memory_order_relaxed, memory_order_relaxed));
	atomic_fetch_add_explicit(&p->granted, 1, memory_order_relaxed);
	if (slot > now_ns)
		atomic_fetch_add_explicit(&p->delayed, 1, memory_order_relaxed);
	return slot;
}
