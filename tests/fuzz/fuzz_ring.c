/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a ring written by a hostile peer (a client owns its pub-ring and its
 * delivery ring's consumer position). The input is the ring: its first 384 bytes are the
 * header (struct mm_ring_hdr), the rest the start of the data area of a 8 KiB ring in a
 * sealed memfd. The target attaches it as consumer and reads every record it offers, then as
 * producer and writes one. Every record is unpacked by its type (shm/records.h); whatever
 * an unpacker accepts must pack back to the same bytes (the encoding is canonical), so a
 * decoder that misreads a field fails as loudly as one that reads out of bounds. Nothing may
 * crash, hang or read outside the mapping; refusals are fine.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"
#include "memfd.h"
#include "records.h"
#include "ring.h"

#define CAP	 8192u
#define HDR_LEN	 ((size_t)sizeof(struct mm_ring_hdr))
#define MAX_RECS 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t Out[CAP];

static void same(const void *rec, size_t len, ssize_t n)
{
	if (n != (ssize_t)len || memcmp(Out, rec, len))
		abort(); /* accepted, but not a faithful decode */
}

#define ROUND_TRIP(kind, p, len)                                                   \
	do {                                                                       \
		struct mm_rec_##kind m_;                                           \
		if (mm_rec_##kind##_unpack(p, len, &m_) == 0)                      \
			same(p, len, mm_rec_##kind##_pack(Out, sizeof(Out), &m_)); \
	} while (0)

static void record(const struct mm_shm_rec *r)
{
	const uint8_t *p = r->data;
	size_t len = r->len;

	switch (r->type) {
	case MM_REC_MSG:
		ROUND_TRIP(msg, p, len);
		break;
	case MM_REC_EVENT:
		ROUND_TRIP(event, p, len);
		break;
	case MM_REC_COMPLETION:
		ROUND_TRIP(completion, p, len);
		break;
	case MM_REC_CMD_SUB:
	case MM_REC_CMD_UNSUB:
		ROUND_TRIP(sub, p, len);
		break;
	case MM_REC_CMD_PUB:
		ROUND_TRIP(pub, p, len);
		break;
	case MM_REC_DELIVER:
		ROUND_TRIP(deliver, p, len);
		break;
	case MM_REC_GAP:
		ROUND_TRIP(gap, p, len);
		break;
	case MM_REC_CLIENT_EVENT:
		ROUND_TRIP(client_event, p, len);
		break;
	case MM_REC_PUB_DONE:
		ROUND_TRIP(pub_done, p, len);
		break;
	case MM_REC_CLIENT_PUB:
		ROUND_TRIP(client_pub, p, len);
		break;
	default:
		break;
	}
}

static void consume(int fd)
{
	struct mm_shm_ring r;
	struct mm_shm_rec rec;

	if (mm_shm_ring_attach(&r, fd, MM_SHM_RING_CONSUMER, -1, -1, NULL, 0) < 0)
		return;
	for (int i = 0; i < MAX_RECS && mm_shm_ring_peek(&r, &rec) == 1; i++) {
		record(&rec);
		mm_shm_ring_pop(&r);
		if (i % 16 == 15)
			(void)mm_shm_ring_release(&r);
	}
	(void)mm_shm_ring_release(&r);
	mm_shm_ring_detach(&r);
}

static void produce(int fd)
{
	struct mm_shm_ring r;
	void *p;

	if (mm_shm_ring_attach(&r, fd, MM_SHM_RING_PRODUCER, -1, -1, NULL, 0) < 0)
		return;
	if (mm_shm_ring_reserve(&r, 24, MM_REC_GAP, 0, &p) == 0) {
		memset(p, 0, 24);
		(void)mm_shm_ring_commit(&r);
	}
	mm_shm_ring_detach(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	uint8_t *m;

	if (fd < 0 || ftruncate(fd, MM_RING_DATA_OFF + CAP) < 0)
		abort();
	m = mmap(NULL, MM_RING_DATA_OFF + CAP, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		abort();
	memcpy(m, data, size < HDR_LEN ? size : HDR_LEN);
	if (size > HDR_LEN)
		memcpy(m + MM_RING_DATA_OFF, data + HDR_LEN,
		       size - HDR_LEN < CAP ? size - HDR_LEN : CAP);
	munmap(m, MM_RING_DATA_OFF + CAP);
	if (fcntl(fd, F_ADD_SEALS, MM_SHM_SEALS_SIZE) < 0)
		abort();
	consume(fd);
	produce(fd);
	close(fd);
	return 0;
}
