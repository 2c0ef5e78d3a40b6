/* SPDX-License-Identifier: MIT */
/*
 * The connect pacer: one page of shared memory through which every worker of a daemon takes a
 * slot before each connection attempt, so that the host's connect rate stays under
 * workers.connect_rate (docs/configuration.md) however many sessions start or reconnect at
 * once, e.g. all of them after a broker outage (issue 13). No process hands out the slots:
 * each worker reserves the next one with a compare-and-swap on the page (a GCRA, the generic
 * cell rate algorithm: up to <burst> attempts at once, then one every 1 / rate), and waits on
 * its own timer until its slot comes. The supervisor creates the page and writes the rate;
 * a reload may change it, and the next reservation uses the new one.
 *
 *   offset  field            unit / range                            writer
 *   0       magic, version,  MM_PACE_MAGIC, 1.0, 4096                creator, once
 *           size
 *   64      interval_ns      ns between slots (1e9 / rate); 0: none  supervisor
 *   72      tolerance_ns     interval_ns x (burst - 1)               supervisor
 *   128     tat_ns           CLOCK_MONOTONIC: the GCRA's theoretical workers (CAS)
 *                            arrival time of the next slot
 *   136     granted          slots taken                             workers
 *   144     delayed          ... of which not at once                workers
 *   4096    end
 *
 * A worker trusts nothing in the page beyond using the slot it computes: a corrupt value can
 * delay its attempts by at most MM_PACE_WAIT_MAX_NS each, never stop them.
 */
#ifndef MM_SHM_PACE_H
#define MM_SHM_PACE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define MM_PACE_MAGIC	    0x4543504du /* "MPCE" little-endian */
#define MM_PACE_VER_MAJOR   1
#define MM_PACE_VER_MINOR   0
#define MM_PACE_SIZE	    4096u
#define MM_PACE_WAIT_MAX_NS (60ull * 1000000000ull) /* the longest wait a slot may ask */

struct mm_pace_block {
	uint32_t magic;	    /* MM_PACE_MAGIC, stored last by the creator */
	uint16_t ver_major; /* MM_PACE_VER_MAJOR */
	uint16_t ver_minor;
	uint32_t size; /* MM_PACE_SIZE */
	uint32_t reserved0;
	uint8_t pad0[48];

	_Alignas(64) _Atomic uint64_t interval_ns; /* 0: no limit */
	_Atomic uint64_t tolerance_ns;

	_Alignas(64) _Atomic uint64_t tat_ns;
	_Atomic uint64_t granted;
	_Atomic uint64_t delayed;
	uint8_t pad1[MM_PACE_SIZE - 152];
};

_Static_assert(offsetof(struct mm_pace_block, interval_ns) == 64, "pace block is ABI");
_Static_assert(offsetof(struct mm_pace_block, tolerance_ns) == 72, "pace block is ABI");
_Static_assert(offsetof(struct mm_pace_block, tat_ns) == 128, "pace block is ABI");
_Static_assert(offsetof(struct mm_pace_block, delayed) == 144, "pace block is ABI");
_Static_assert(sizeof(struct mm_pace_block) == MM_PACE_SIZE, "pace block is one page");

int mm_shm_pace_create(const char *name, int *ret_fd, struct mm_pace_block **ret);
int mm_shm_pace_attach(int fd, struct mm_pace_block **ret);
void mm_shm_pace_detach(struct mm_pace_block *p);
void mm_shm_pace_set(struct mm_pace_block *p, uint32_t rate, uint32_t burst);
uint64_t mm_shm_pace_take(struct mm_pace_block *p, uint64_t now_ns);

#endif /* MM_SHM_PACE_H */
