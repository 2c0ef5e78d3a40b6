/* SPDX-License-Identifier: MIT */
/*
 * The one little-endian writer and reader under every packed format that crosses processes:
 * router.sock frames (common/proto.c) and ring records (shm/records*.c). The writer
 * remembers its first error (-ENOSPC or -EINVAL) and writes nothing after it; the reader
 * checks the remaining bytes before every read and turns sticky-bad on the first short read,
 * so a decoder reads all its fields and tests once at the end.
 *
 * Also the byte view (struct mm_bytes) every unpacked format returns, and the name limit the
 * frames and the records share. The pw_ and pr_ helpers are static inline: each packer file
 * gets its own copy of the same code.
 */
#ifndef MM_WIRE_H
#define MM_WIRE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define MM_NAME_MAX 255u /* client and session names, bytes (frames and records) */

/* A view of bytes: a string (no NUL inside) or an opaque blob; never NUL-terminated. */
struct mm_bytes {
	const uint8_t *p;
	uint32_t len;
};

struct pw {
	uint8_t *p; /* NULL: count the bytes only (cap is not checked) */
	size_t cap, off;
	int err; /* 0, -ENOSPC or -EINVAL */
};

struct pr {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static inline uint8_t *pw_room(struct pw *w, size_t n)
{
	uint8_t *at;

	if (w->err)
		return NULL;
	if (!w->p) { /* a counting writer: sizes a format before anything is allocated */
		w->off += n;
		return NULL;
	}
	if (n > w->cap - w->off) {
		w->err = -ENOSPC;
		return NULL;
	}
	at = w->p + w->off;
	w->off += n;
	return at;
}

static inline void pw_le(struct pw *w, uint64_t v, unsigned n)
{
	uint8_t *b = pw_room(w, n);

	for (unsigned i = 0; b && i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static inline void pw_u8(struct pw *w, uint8_t v)
{
	pw_le(w, v, 1);
}
static inline void pw_u16(struct pw *w, uint16_t v)
{
	pw_le(w, v, 2);
}
static inline void pw_u32(struct pw *w, uint32_t v)
{
	pw_le(w, v, 4);
}
static inline void pw_u64(struct pw *w, uint64_t v)
{
	pw_le(w, v, 8);
}

static inline void pw_bytes(struct pw *w, struct mm_bytes b)
{
	uint8_t *at = pw_room(w, b.len);

	if (at && b.len)
		memcpy(at, b.p, b.len);
}

/* What a packer returns: the bytes written, or the writer's first error. */
static inline ssize_t pw_end(const struct pw *w)
{
	return w->err ? w->err : (ssize_t)w->off;
}

/* A field out of range fails the writer with -EINVAL (unless it failed already). */
static inline void pw_need(struct pw *w, bool ok)
{
	if (!ok && !w->err)
		w->err = -EINVAL;
}

/* A string's bytes must hold no NUL and fit <max>; else the writer fails with -EINVAL. */
static inline bool pw_str_ok(struct pw *w, struct mm_bytes s, uint32_t max)
{
	if (s.len <= max && (!s.len || !memchr(s.p, 0, s.len)))
		return true;
	if (!w->err)
		w->err = -EINVAL;
	return false;
}

/* u16 length, then the bytes. */
static inline void pw_str(struct pw *w, struct mm_bytes s, uint32_t max)
{
	if (!pw_str_ok(w, s, max))
		return;
	pw_u16(w, (uint16_t)s.len);
	pw_bytes(w, s);
}

static inline uint64_t pr_le(struct pr *r, unsigned n)
{
	uint64_t v = 0;

	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)r->p[r->off + i] << (8 * i);
	r->off += n;
	return v;
}

static inline uint8_t pr_u8(struct pr *r)
{
	return (uint8_t)pr_le(r, 1);
}
static inline uint16_t pr_u16(struct pr *r)
{
	return (uint16_t)pr_le(r, 2);
}
static inline uint32_t pr_u32(struct pr *r)
{
	return (uint32_t)pr_le(r, 4);
}
static inline uint64_t pr_u64(struct pr *r)
{
	return pr_le(r, 8);
}

/* A view of the next <n> bytes. */
static inline struct mm_bytes pr_bytes(struct pr *r, uint32_t n)
{
	struct mm_bytes b = { NULL, 0 };

	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return b;
	}
	b.p = r->p + r->off;
	b.len = n;
	r->off += n;
	return b;
}

/* A string of <n> bytes: at most <max>, no NUL inside. */
static inline struct mm_bytes pr_strn(struct pr *r, uint32_t n, uint32_t max)
{
	struct mm_bytes s = pr_bytes(r, n);

	if (!r->bad && (n > max || (n && memchr(s.p, 0, n))))
		r->bad = true;
	return s;
}

/* u16 length, then a string. */
static inline struct mm_bytes pr_str(struct pr *r, uint32_t max)
{
	uint16_t n = pr_u16(r);

	return pr_strn(r, n, max);
}

/* The reader consumed exactly every byte without a fault. */
static inline bool pr_done(const struct pr *r)
{
	return !r->bad && r->off == r->len;
}

#endif /* MM_WIRE_H */
