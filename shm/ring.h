/* SPDX-License-Identifier: MIT */
/*
 * SPSC byte ring over a sealed memfd: create, attach, the producer's reserve/commit, the
 * consumer's peek/pop/release, and the eventfd doorbells. The shared layout is in layout.h.
 *
 * Batching: the producer may reserve many records and commit them with one release store; the
 * consumer may peek and pop many records and release them with one store. Payload pointers
 * returned by peek stay valid until release: the producer cannot reuse the bytes before then.
 *
 * Doorbells: a busy pipeline makes no system call per message. A side that found nothing to do
 * calls the *_arm function (sets its flag, then re-checks), blocks on its eventfd only when arm
 * says so, and the other side writes the eventfd only when it finds that flag set.
 *
 * Library code: no logging, no threads, no allocation after attach; -errno returns.
 */
#ifndef MM_SHM_RING_H
#define MM_SHM_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

enum mm_shm_ring_role { MM_SHM_RING_PRODUCER = 0, MM_SHM_RING_CONSUMER, _MM_SHM_RING_ROLE_MAX };

/* Process-local view of a ring (the HAProxy mapped/local split). Never shared. */
struct mm_shm_ring {
	struct mm_ring_hdr *hdr; /* mapping of the whole segment */
	uint8_t *data;		 /* hdr + data_off */
	uint64_t cap;		 /* private copy of capacity, validated at attach */
	uint64_t mask;		 /* cap - 1 */
	uint64_t max_len;	 /* largest payload a record may carry */
	uint64_t pos;		 /* producer: reserved end; consumer: read position */
	uint64_t pub;		 /* position last published by this side */
	uint64_t other;		 /* last validated position of the other side */
	uint64_t peeked;	 /* consumer: size of the record the last peek returned */
	size_t map_size;
	int fd;	       /* the memfd; owned by the caller, not closed by detach */
	int efd_data;  /* doorbell rung by the producer, waited on by the consumer; or -1 */
	int efd_space; /* doorbell rung by the consumer, waited on by the producer; or -1 */
	enum mm_shm_ring_role role;
	bool twin; /* shares another struct's mapping (mm_shm_ring_attach_twin) */
};

/* A record as the consumer sees it. data points into the ring: valid until release. */
struct mm_shm_rec {
	const void *data;
	uint32_t len;
	uint16_t type;
	uint16_t flags;
};

/* Room for the reason an attach was refused. */
#define MM_SHM_RING_WHY_MAX 160

int mm_shm_ring_create(const char *name, uint64_t capacity, uint32_t generation, int *ret_fd);
int mm_shm_ring_create_at(const char *name, uint64_t capacity, uint32_t generation, uint64_t start,
			  int *ret_fd);
int mm_shm_ring_attach(struct mm_shm_ring *r, int fd, enum mm_shm_ring_role role, int efd_data,
		       int efd_space, char *why, size_t why_size);
int mm_shm_ring_attach_twin(struct mm_shm_ring *r, const struct mm_shm_ring *ring,
			    enum mm_shm_ring_role role);
void mm_shm_ring_detach(struct mm_shm_ring *r);
int mm_shm_ring_doorbell_open(void);
int mm_shm_ring_doorbell_drain(int efd);

int mm_shm_ring_reserve(struct mm_shm_ring *r, uint32_t len, uint16_t type, uint16_t flags,
			void **ret_payload);
int mm_shm_ring_commit(struct mm_shm_ring *r);
int mm_shm_ring_publish(struct mm_shm_ring *r);
int mm_shm_ring_bell_due(struct mm_shm_ring *r);
int mm_shm_ring_producer_arm(struct mm_shm_ring *r, uint32_t len);
void mm_shm_ring_producer_disarm(struct mm_shm_ring *r);
int mm_shm_ring_consumed(struct mm_shm_ring *r, uint64_t pos);
int mm_shm_ring_producer_arm_consumed(struct mm_shm_ring *r, uint64_t pos);
int mm_shm_ring_wait_space(struct mm_shm_ring *r, uint32_t len, int timeout_ms);

int mm_shm_ring_peek(struct mm_shm_ring *r, struct mm_shm_rec *ret);
void mm_shm_ring_pop(struct mm_shm_ring *r);
int mm_shm_ring_release(struct mm_shm_ring *r);
int mm_shm_ring_consumer_arm(struct mm_shm_ring *r);
void mm_shm_ring_consumer_disarm(struct mm_shm_ring *r);
int mm_shm_ring_wait_data(struct mm_shm_ring *r, int timeout_ms);

int mm_shm_ring_has_room(struct mm_shm_ring *r, uint32_t len);
/* Bytes published by the producer and not yet released by the consumer (relaxed reads). */
uint64_t mm_shm_ring_fill_bytes(const struct mm_shm_ring *r);

#endif /* MM_SHM_RING_H */
