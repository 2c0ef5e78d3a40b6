/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpus of fuzz_ring.c: real rings made with the real producer, one per kind
 * of ring (in-ring, cmd-ring, delivery ring, pub-ring) holding one record of each kind it
 * carries, and one that wrapped (a PAD record), each saved as fuzz_ring.c reads it: the
 * 384-byte header, then the data area up to the last record. Run it when the record or ring
 * format changes: fuzz-seed-ring tests/fuzz/corpus/ring
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"
#include "records.h"
#include "ring.h"

#define CAP  8192u
#define B(s) ((struct mm_bytes){ (const uint8_t *)(s), sizeof(s) - 1 })

static struct mm_shm_ring R;
static int Fd;

static void start(uint64_t at)
{
	if (mm_shm_ring_create_at("seed", CAP, 1, at, &Fd) < 0 ||
	    mm_shm_ring_attach(&R, Fd, MM_SHM_RING_PRODUCER, -1, -1, NULL, 0) < 0)
		exit(1);
}

static void put(uint16_t type, const uint8_t *rec, ssize_t len)
{
	void *p;

	if (len < 0 || mm_shm_ring_reserve(&R, (uint32_t)len, type, 0, &p) < 0)
		exit(1);
	memcpy(p, rec, (size_t)len);
	(void)mm_shm_ring_commit(&R);
}

static void save(const char *dir, const char *name)
{
	uint8_t *m = mmap(NULL, MM_RING_DATA_OFF + CAP, PROT_READ, MAP_SHARED, Fd, 0);
	uint64_t prod = ((const struct mm_ring_hdr *)m)->prod_pos;
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wbe");
	if (m == MAP_FAILED || !f)
		exit(1);
	fwrite(m, 1, sizeof(struct mm_ring_hdr), f);
	fwrite(m + MM_RING_DATA_OFF, 1, prod % CAP ? prod % CAP : CAP, f);
	fclose(f);
	munmap(m, MM_RING_DATA_OFF + CAP);
	mm_shm_ring_detach(&R);
	close(Fd);
}

static uint8_t Buf[4096];

#define PUT(type, kind, ...)                                                 \
	do {                                                                 \
		struct mm_rec_##kind m_ = __VA_ARGS__;                       \
		put(type, Buf, mm_rec_##kind##_pack(Buf, sizeof(Buf), &m_)); \
	} while (0)

int main(int argc, char **argv)
{
	static const uint32_t routes[] = { 1, 7 };
	static const uint8_t props[] = { 0x01, 0x01, 0x26, 0, 1, 'k', 0, 1, 'v' };

	if (argc != 2)
		return fprintf(stderr, "usage: fuzz-seed-ring DIR\n"), 64;
	start(0);
	PUT(MM_REC_MSG, msg, { 1, 5, 1, MM_REC_F_DUP, B("a/b"), B("hello"), { props, 9 } });
	PUT(MM_REC_EVENT, event, { 2, MM_EV_RECONNECTING, -111, 3, 4000, B("refused") });
	PUT(MM_REC_COMPLETION, completion, { 9, -104, 0x87, MM_REC_CMD_PUB });
	save(argv[1], "in-ring");
	start(0);
	PUT(MM_REC_CMD_SUB, sub, { 1, 1, B("a/+/c"), MM_REC_SUB_F_RETAINED });
	PUT(MM_REC_CMD_UNSUB, sub, { 2, 0, B("#"), 0 });
	PUT(MM_REC_CMD_PUB, pub, { 3, 2, MM_REC_F_RETAIN, B("t"), B("payload"), { props, 9 } });
	save(argv[1], "cmd-ring");
	start(0);
	PUT(MM_REC_DELIVER, deliver,
	    { 1, 2, 3, 0, 1, 0, { 2, routes, NULL }, B("s0"), B("a/b"), B("x"), { props, 9 } });
	PUT(MM_REC_GAP, gap, { 12, MM_REC_SESSION_ANY, B("") });
	PUT(MM_REC_CLIENT_EVENT, client_event,
	    { 5, 0, MM_CLIENT_EV_SESSION_ADDED, 0, 0, 0, B("s0"), B("") });
	PUT(MM_REC_PUB_DONE, pub_done, { 4, 0, 0 });
	save(argv[1], "delivery-ring");
	start(0);
	PUT(MM_REC_CLIENT_PUB, client_pub, { 8, 1, 0, B("s1"), B("c/d"), B("body"), { NULL, 0 } });
	PUT(MM_REC_CLIENT_PUB, client_pub,
	    { 9, 0, MM_REC_F_ALL, B(""), B("all/x"), B(""), { NULL, 0 } });
	save(argv[1], "pub-ring");
	start(CAP - 48); /* the second record does not fit before the end: a PAD, then it */
	PUT(MM_REC_GAP, gap, { 1, 0, B("s0") });
	PUT(MM_REC_MSG, msg, { 1, 0, 0, 0, B("wrap/around"), B("0123456789"), { NULL, 0 } });
	save(argv[1], "wrapped");
	return 0;
}
