/* SPDX-License-Identifier: MIT */
/*
 * Self-checking records for the ring stress tests: a header with incarnation, sequence number
 * and length, a body derived from the sequence number, and a checksum over everything, so the
 * consumer can prove each record whole, in order, and none missing.
 */
#ifndef T_RECORDS_H
#define T_RECORDS_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ring.h"
#include "t_helpers.h"

struct t_rec_head {
	uint64_t seq;
	uint32_t incarnation;
	uint32_t sum; /* FNV-1a over the whole record with this field zero */
};

#define T_REC_TYPE 42

static inline uint32_t t_fnv(const uint8_t *b, size_t n, uint32_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* Payload length for record <seq>: mostly small, now and then large, sometimes empty. */
static inline uint32_t t_rec_len(uint64_t seq, uint32_t max)
{
	uint64_t s = seq * 0x9e3779b97f4a7c15ull + 1;
	uint64_t r = t_rand(&s);
	uint32_t len = (r & 0xff) == 0 ? (uint32_t)(r >> 8) % max : 16 + (uint32_t)(r >> 8) % 240;

	if (len < sizeof(struct t_rec_head))
		len = sizeof(struct t_rec_head);
	return len > max ? max : len;
}

static inline void t_rec_fill(void *p, uint32_t len, uint32_t inc, uint64_t seq)
{
	struct t_rec_head h = { .seq = seq, .incarnation = inc, .sum = 0 };
	uint8_t *b = p;

	memcpy(b, &h, sizeof(h));
	for (uint32_t i = sizeof(h); i < len; i++)
		b[i] = (uint8_t)(seq * 31 + i);
	h.sum = t_fnv(b, len, 2166136261u);
	memcpy(b, &h, sizeof(h));
}

/* 0 if <rec> is a whole record; else a short reason. */
static inline const char *t_rec_check(const struct mm_shm_rec *rec, struct t_rec_head *ret)
{
	uint8_t buf[1 << 16];
	struct t_rec_head h;

	if (rec->type != T_REC_TYPE)
		return "wrong type";
	if (rec->len < sizeof(h) || rec->len > sizeof(buf))
		return "wrong length";
	memcpy(buf, rec->data, rec->len);
	memcpy(&h, buf, sizeof(h));
	if (rec->flags != (uint16_t)h.seq)
		return "flags do not match";
	memset(buf + offsetof(struct t_rec_head, sum), 0, sizeof(h.sum));
	if (t_fnv(buf, rec->len, 2166136261u) != h.sum)
		return "checksum";
	*ret = h;
	return 0;
}

/*
 * Reserve, fill and (every <batch> records) commit record <seq>; wait for space on the
 * doorbell when the ring is full. Returns 0 or a negative ring error.
 */
static inline int t_rec_push(struct mm_shm_ring *r, uint32_t inc, uint64_t seq, uint32_t max,
			     unsigned batch)
{
	uint32_t len = t_rec_len(seq, max);
	void *p;
	int rc;

	while ((rc = mm_shm_ring_reserve(r, len, T_REC_TYPE, (uint16_t)seq, &p)) == -EAGAIN) {
		rc = mm_shm_ring_wait_space(r, len, 10000);
		if (rc <= 0)
			return rc ? rc : -ETIMEDOUT;
	}
	if (rc < 0)
		return rc;
	t_rec_fill(p, len, inc, seq);
	if (seq % batch == batch - 1)
		mm_shm_ring_commit(r);
	return 0;
}

#endif /* T_RECORDS_H */
