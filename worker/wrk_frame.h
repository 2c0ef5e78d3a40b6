/* SPDX-License-Identifier: MIT */
/*
 * The framing guard under libmosquitto (issue 12). libmosquitto 2.0.11 allocates a packet's
 * whole remaining length as soon as it has read the fixed header, whatever the broker
 * announces (up to 256 MiB), and parses what follows with assertions a malformed packet can
 * trip. The worker's read() (wrk_readahead.c) therefore hands libmosquitto whole packets only:
 * it reads the fixed header itself, refuses a remaining length over <limit> before anything
 * is allocated for it, reads the rest into its own buffer, and lets the worker look at the
 * complete packet (and replace it) before libmosquitto sees its first byte.
 * docs/worker.md, "Broker packets".
 */
#ifndef MM_WRK_FRAME_H
#define MM_WRK_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Beyond max_message_size, a packet may carry a topic (65,535 bytes), an id and properties. */
#define MM_WRK_FRAME_HEADROOM (65536u + 1024u)
#define MM_WRK_FRAME_MIN_CAP  256u /* a packet buffer holds at least a replacement packet */

struct mm_wrk_frame;

/* What the worker does with packets (wrk_guard.c); <ctx> is mm_wrk_frame.ctx. */
struct mm_wrk_frame_ops {
	/* A fixed header announced <len> bytes, over the limit (or a malformed length: 0). */
	void (*refused)(void *ctx, uint64_t len);
	/* A complete packet in f->pkt[0, f->total): it may be replaced (cap >= MIN_CAP). */
	void (*packet)(void *ctx, struct mm_wrk_frame *f);
};

struct mm_wrk_frame {
	uint64_t limit; /* the largest remaining length accepted */
	uint8_t *pkt;	/* the packet being read, then handed out */
	size_t cap;
	size_t have;   /* bytes of it read */
	size_t total;  /* its size once its fixed header is read, else 0 */
	size_t served; /* bytes of it handed out */
	bool refused;  /* a packet over the limit came: every read fails until a reset */
	const struct mm_wrk_frame_ops *ops;
	void *ctx;
};

/* Where the bytes come from: like read(2), errno and all. */
typedef ssize_t (*mm_wrk_frame_src)(void *src_ctx, void *buf, size_t n);

/* A guard with no packet under way. */
void mm_wrk_frame_init(struct mm_wrk_frame *f, uint64_t limit, const struct mm_wrk_frame_ops *ops,
		       void *ctx);
/*
 * read(2) for libmosquitto: up to <n> bytes of the current packet, once all of it is in.
 * -1 with EAGAIN while it is not, EMSGSIZE once a packet was refused; 0 at the end of stream.
 */
ssize_t mm_wrk_frame_read(struct mm_wrk_frame *f, mm_wrk_frame_src src, void *src_ctx, void *buf,
			  size_t n);
/* A complete packet is waiting to be handed out, where poll cannot see it. */
bool mm_wrk_frame_pending(const struct mm_wrk_frame *f);
/* A new connection: forget the packet under way and the refusal. */
void mm_wrk_frame_reset(struct mm_wrk_frame *f);
void mm_wrk_frame_free(struct mm_wrk_frame *f);

#endif /* MM_WRK_FRAME_H */
