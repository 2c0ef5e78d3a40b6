/* SPDX-License-Identifier: MIT */
/*
 * A read-ahead buffer under libmosquitto (issue 14). libmosquitto reads a PUBLISH with three
 * read()s (the fixed header byte, the remaining length, the rest); OpenSSL reads a TLS record
 * with two. The worker interposes read(): on a broker socket it attached, one read() of up to
 * MM_WRK_RA_SIZE bytes serves the packets of a wake-up from memory. Every other fd goes
 * straight to the kernel. docs/worker.md, "Read-ahead", says why this is safe.
 */
#ifndef MM_WRK_READAHEAD_H
#define MM_WRK_READAHEAD_H

#include <stdbool.h>
#include <stdint.h>

#include "wrk_frame.h"

#define MM_WRK_RA_SIZE 16384u /* a TLS record and a bit: what one wake-up usually holds */

struct mm_wrk_ra {
	int fd;			    /* the attached socket, or -1 */
	uint32_t head;		    /* next byte to hand out */
	uint32_t tail;		    /* end of the bytes read */
	bool drained;		    /* the last fill came back short: the socket had no more then */
	uint8_t *buf;		    /* MM_WRK_RA_SIZE bytes, allocated at the first attach */
	struct mm_wrk_frame *frame; /* the framing guard of its MQTT bytes, or NULL */
	bool frame_tls;		    /* ... which come through SSL_read, not read() */
};

/* A fresh, detached buffer. */
void mm_wrk_ra_init(struct mm_wrk_ra *ra);
/*
 * Serve socket <fd> through <ra> from now on, and its MQTT bytes through the framing guard
 * <frame> if not NULL: read() on a plain socket, SSL_read if <tls>. -ENOMEM, -ERANGE (then
 * reads go straight to the kernel or OpenSSL, unguarded).
 */
int mm_wrk_ra_attach(struct mm_wrk_ra *ra, int fd, struct mm_wrk_frame *frame, bool tls);
/* The socket is gone or replaced: drop what is buffered, read it no more. */
void mm_wrk_ra_detach(struct mm_wrk_ra *ra);
/* The loop saw the socket readable (or may have): the next empty read asks the kernel. */
void mm_wrk_ra_rearm(struct mm_wrk_ra *ra);
/* Bytes are buffered that poll cannot see. */
bool mm_wrk_ra_pending(const struct mm_wrk_ra *ra);
/* Detach and free the buffer. */
void mm_wrk_ra_free(struct mm_wrk_ra *ra);

#endif /* MM_WRK_READAHEAD_H */
