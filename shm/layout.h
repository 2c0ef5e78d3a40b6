/* SPDX-License-Identifier: MIT */
/*
 * THE shared-memory layout of an mqttmux ring. This header is normative; docs/shm.md adds the
 * narrative. It holds only types, constants, the byte map and the assertions: the code that
 * uses them is in shm/ring.c.
 *
 * Every ring lives in its own memfd (memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING)) created by
 * the process that owns the ring's lifetime (the supervisor for worker rings, the router for
 * client rings), sized once and sealed with F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL before it
 * is handed to anybody. It is passed by SCM_RIGHTS or inherited across exec, never named in
 * /dev/shm. The ring is single-producer single-consumer; either side may be restarted and
 * re-attach, and the other side carries on from the published positions.
 *
 *  offset
 *  0      +------------------------------------------+
 *         | struct mm_ring_hdr, line 0: static part  |  magic, version, sizes (creator writes once)
 *  64     +------------------------------------------+
 *         | line 1: prod_pos                         |  producer writes, release
 *  128    +------------------------------------------+
 *         | line 2: cons_pos                         |  consumer writes, release
 *  192    +------------------------------------------+
 *         | line 3: consumer_sleeping                |  doorbell flags, see ownership table
 *  256    +------------------------------------------+
 *         | line 4: producer_waiting                 |
 *  320    +------------------------------------------+
 *         | reserved, zero                           |
 *  4096   +------------------------------------------+  data_off (page aligned, so the data
 *         | data: capacity bytes of records          |  can be mapped with other rights
 *         |   [mm_ring_rec 8 B][payload][pad to 8]   |  than the header)
 *         |   ...                                    |
 *         |   [PAD record up to the end, at a wrap]  |
 *  seg    +------------------------------------------+  seg_size = data_off + capacity
 *
 * Positions are byte counts since the ring was created: 64-bit, monotonically increasing, never
 * wrapped (2^64 bytes at 100 GB/s take 5 years). The byte at position p lives at
 * data[p & (capacity - 1)]. Invariant: cons_pos <= prod_pos <= cons_pos + capacity, and both are
 * multiples of MM_RING_ALIGN. A record never straddles the end of the data area: when the next
 * record does not fit before the end, the producer writes a PAD record covering the rest.
 *
 * Ownership:
 *
 *   field               written by                 read by          ordering
 *   static part         creator, before sealing    both, at attach  none needed (fd passing)
 *   prod_pos            producer only              consumer         release / acquire
 *   cons_pos            consumer only              producer         release / acquire
 *   consumer_sleeping   consumer sets 1,           producer         seq_cst fence on both
 *                       producer clears (xchg)                      sides (Dekker)
 *   producer_waiting    producer sets 1,           consumer         seq_cst fence on both
 *                       consumer clears (xchg)                      sides (Dekker)
 *   record bytes        producer, before its       consumer         covered by prod_pos
 *                       release of prod_pos                         release / acquire
 *
 * Trust: either side may be a different, possibly hostile, process. Every value read from the
 * other side (positions, record headers) is loaded once into a private copy and checked before
 * use; a violation makes the ring operation return -EPROTO, never a crash or an out-of-bounds
 * access.
 *
 * Versioning: a major bump means a field moved or changed meaning (attachers refuse another
 * major). A minor bump may only use reserved bytes or add flag bits. Reserved bytes are zero;
 * unknown flag bits are refused. No flag bit is defined yet (bits 0..31 free).
 */
#ifndef MM_SHM_LAYOUT_H
#define MM_SHM_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define MM_RING_MAGIC	     0x474e524du /* "MRNG" little-endian */
#define MM_RING_VER_MAJOR    1
#define MM_RING_VER_MINOR    1 /* 1: SUB records may carry MM_REC_SUB_F_RETAINED */
#define MM_RING_CACHELINE    64
#define MM_RING_DATA_OFF     4096u
#define MM_RING_ALIGN	     8u
#define MM_RING_MIN_CAPACITY 4096u
#define MM_RING_MAX_CAPACITY (1ull << 34) /* 16 GiB: far above any sane ring */
#define MM_RING_FLAGS_KNOWN  0u		  /* no flag bit defined yet */
#define MM_RING_NAME_MAX     16

/*
 * Static part of the header: written once by the creator before the memfd is sealed and
 * handed out; read by both sides at attach and then cached in the process-local struct.
 */
struct mm_ring_static {
	uint32_t magic;	     /* MM_RING_MAGIC */
	uint16_t ver_major;  /* MM_RING_VER_MAJOR; another major: refuse */
	uint16_t ver_minor;  /* MM_RING_VER_MINOR; older readers ignore additions */
	uint32_t hdr_size;   /* sizeof(struct mm_ring_hdr) when created; >= what we know */
	uint32_t flags;	     /* MM_RING_F_*; unknown bits: refuse */
	uint64_t capacity;   /* bytes of data; power of two, MIN..MAX_CAPACITY */
	uint64_t data_off;   /* offset of data from the segment start; == MM_RING_DATA_OFF */
	uint64_t seg_size;   /* data_off + capacity; equals the memfd size from fstat() */
	uint32_t generation; /* creator's incarnation counter, for logs and stale-attach checks */
	uint32_t reserved0;  /* zero */
	char name[MM_RING_NAME_MAX]; /* NUL-padded label for debugging; not trusted */
};

/*
 * The mapped header. Each dynamic field sits alone on its cache line so that the producer's
 * and the consumer's hot stores never share a line, and the rarely written doorbell flags
 * stay in the shared state in both caches while the pipeline is busy.
 */
struct mm_ring_hdr {
	struct mm_ring_static s;

	/* producer writes (release) after the records below it are complete; bytes */
	_Alignas(MM_RING_CACHELINE) _Atomic uint64_t prod_pos;
	/* consumer writes (release) after it no longer reads the bytes below it; bytes */
	_Alignas(MM_RING_CACHELINE) _Atomic uint64_t cons_pos;
	/* 1 while the consumer is (about to be) blocked on the data doorbell, else 0 */
	_Alignas(MM_RING_CACHELINE) _Atomic uint32_t consumer_sleeping;
	/* 1 while the producer is (about to be) blocked on the space doorbell, else 0 */
	_Alignas(MM_RING_CACHELINE) _Atomic uint32_t producer_waiting;
	uint8_t pad4[MM_RING_CACHELINE - sizeof(uint32_t)];
	uint8_t reserved[MM_RING_CACHELINE]; /* zero; room for minor additions */
};

_Static_assert(sizeof(struct mm_ring_static) == MM_RING_CACHELINE, "static header is ABI");
_Static_assert(offsetof(struct mm_ring_static, capacity) == 16, "static header is ABI");
_Static_assert(offsetof(struct mm_ring_static, data_off) == 24, "static header is ABI");
_Static_assert(offsetof(struct mm_ring_static, seg_size) == 32, "static header is ABI");
_Static_assert(offsetof(struct mm_ring_static, generation) == 40, "static header is ABI");
_Static_assert(offsetof(struct mm_ring_static, name) == 48, "static header is ABI");
_Static_assert(offsetof(struct mm_ring_hdr, prod_pos) == 64, "header is ABI");
_Static_assert(offsetof(struct mm_ring_hdr, cons_pos) == 128, "header is ABI");
_Static_assert(offsetof(struct mm_ring_hdr, consumer_sleeping) == 192, "header is ABI");
_Static_assert(offsetof(struct mm_ring_hdr, producer_waiting) == 256, "header is ABI");
_Static_assert(sizeof(struct mm_ring_hdr) == 384, "header is ABI");
_Static_assert(sizeof(struct mm_ring_hdr) <= MM_RING_DATA_OFF, "header fits before data");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "64-bit positions are lock-free words");

/*
 * Record header, at an MM_RING_ALIGN boundary in the data area. The record occupies
 * mm_ring_rec_size(len) bytes: this header, len payload bytes, zero to seven bytes of padding.
 * A PAD record (type MM_REC_PAD) has len = bytes from the end of its header to the end of the
 * data area, and carries nothing.
 */
struct mm_ring_rec {
	uint32_t len;	/* payload bytes, not counting this header */
	uint16_t type;	/* MM_REC_*; the ring itself knows only MM_REC_PAD */
	uint16_t flags; /* meaning defined per type by the ring's users */
};

_Static_assert(sizeof(struct mm_ring_rec) == 8, "record header is ABI");
_Static_assert(offsetof(struct mm_ring_rec, type) == 4, "record header is ABI");
_Static_assert(MM_RING_DATA_OFF % MM_RING_CACHELINE == 0, "data is line aligned");

/* Record types. 0 is the ring's own; the others are assigned by the ring's users. */
enum mm_rec_type {
	MM_REC_PAD = 0, /* filler up to the end of the data area at a wrap */
	_MM_REC_TYPE_MAX
};

/* Total bytes a record with <len> payload bytes occupies in the data area. */
static inline uint64_t mm_ring_rec_size(uint64_t len)
{
	return (sizeof(struct mm_ring_rec) + len + MM_RING_ALIGN - 1) &
	       ~(uint64_t)(MM_RING_ALIGN - 1);
}

#endif /* MM_SHM_LAYOUT_H */
