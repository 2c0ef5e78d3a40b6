/* SPDX-License-Identifier: MIT */
/*
 * The framing guard (wrk_frame.h). A packet goes through three phases: its fixed header is
 * read a byte at a time (one type byte, one to four bytes of remaining length), then its body
 * into a buffer sized for it, then it is handed out to libmosquitto's reads. Between the
 * phases the guard may say EAGAIN (the socket had no more), and libmosquitto, which has seen
 * nothing of the packet yet, simply comes back with the next read turn.
 *
 * Why no byte is lost or reordered: bytes leave in the order they came, a packet is handed
 * out only whole, and libmosquitto reads a packet to its end within one mosquitto_loop_read
 * once it has its first byte (we never say EAGAIN in the middle of a packet handed out).
 */
#include "wrk_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KEEP_CAP 65536u /* a larger buffer is freed after its packet: memory back at once */

void mm_wrk_frame_init(struct mm_wrk_frame *f, uint64_t limit, const struct mm_wrk_frame_ops *ops,
		       void *ctx)
{
	*f = (struct mm_wrk_frame){ .limit = limit, .ops = ops, .ctx = ctx };
}

static int grow(struct mm_wrk_frame *f, size_t need)
{
	uint8_t *p;

	if (need < MM_WRK_FRAME_MIN_CAP)
		need = MM_WRK_FRAME_MIN_CAP;
	if (need <= f->cap)
		return 0;
	p = realloc(f->pkt, need);
	if (!p)
		return -ENOMEM;
	f->pkt = p;
	f->cap = need;
	return 0;
}

static ssize_t refuse(struct mm_wrk_frame *f, uint64_t len)
{
	f->refused = true;
	if (f->ops && f->ops->refused)
		f->ops->refused(f->ctx, len);
	errno = EMSGSIZE;
	return -1;
}

/*
 * Read the fixed header a byte at a time (never past it: the body may be large). Returns 1
 * once f->total is known, else what the source returned.
 */
static ssize_t read_header(struct mm_wrk_frame *f, mm_wrk_frame_src src, void *src_ctx)
{
	uint64_t len = 0;
	ssize_t r;

	while (f->total == 0) {
		r = src(src_ctx, f->pkt + f->have, 1);
		if (r <= 0)
			return r;
		f->have++;
		if (f->have < 2 || (f->pkt[f->have - 1] & 0x80)) {
			if (f->have == 5) /* a fifth length byte would follow: malformed */
				return refuse(f, 0);
			continue;
		}
		for (size_t i = f->have - 1; i >= 1; i--)
			len = len << 7 | (f->pkt[i] & 0x7f);
		if (len > f->limit)
			return refuse(f, len);
		if (grow(f, f->have + (size_t)len) < 0) {
			errno = ENOMEM;
			return -1;
		}
		f->total = f->have + (size_t)len;
	}
	return 1;
}

/* Read the packet to its end; 1 once it is whole (and the worker has seen it). */
static ssize_t assemble(struct mm_wrk_frame *f, mm_wrk_frame_src src, void *src_ctx)
{
	ssize_t r;

	if (grow(f, MM_WRK_FRAME_MIN_CAP) < 0) {
		errno = ENOMEM;
		return -1;
	}
	r = read_header(f, src, src_ctx);
	if (r <= 0)
		return r;
	while (f->have < f->total) {
		r = src(src_ctx, f->pkt + f->have, f->total - f->have);
		if (r <= 0)
			return r;
		f->have += (size_t)r;
	}
	if (f->ops && f->ops->packet)
		f->ops->packet(f->ctx, f);
	return 1;
}

static void next_packet(struct mm_wrk_frame *f)
{
	f->have = f->total = f->served = 0;
	if (f->cap > KEEP_CAP) {
		free(f->pkt);
		f->pkt = NULL;
		f->cap = 0;
	}
}

ssize_t mm_wrk_frame_read(struct mm_wrk_frame *f, mm_wrk_frame_src src, void *src_ctx, void *buf,
			  size_t n)
{
	size_t k;
	ssize_t r;

	if (f->refused) {
		errno = EMSGSIZE;
		return -1;
	}
	if (n == 0)
		return 0;
	if (f->total == 0 || f->have < f->total) {
		r = assemble(f, src, src_ctx);
		if (r <= 0)
			return r;
	}
	k = f->total - f->served;
	k = k < n ? k : n;
	memcpy(buf, f->pkt + f->served, k);
	f->served += k;
	if (f->served == f->total)
		next_packet(f);
	return (ssize_t)k;
}

bool mm_wrk_frame_pending(const struct mm_wrk_frame *f)
{
	return f->total > 0 && f->have == f->total && f->served < f->total;
}

void mm_wrk_frame_reset(struct mm_wrk_frame *f)
{
	f->refused = false;
	next_packet(f);
}

void mm_wrk_frame_free(struct mm_wrk_frame *f)
{
	free(f->pkt);
	f->pkt = NULL;
	f->cap = 0;
	f->have = f->total = f->served = 0;
}
