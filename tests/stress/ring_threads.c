/* SPDX-License-Identifier: MIT */
/*
 * The ring from two threads of one process, for ThreadSanitizer: the ring code does not know
 * about processes, and TSan checks every ordering comment in shm/ring.c against what the code
 * does. Both sides block on their doorbells and take random pauses, so every sleep/wake path
 * runs. Usage: ring-threads [RECORDS [CAPACITY]]; exits 0 when every record arrived whole and in
 * order. (A plain program, not a criterion suite, so TSan sees no test-runner machinery.)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ring.h"
#include "t_helpers.h"
#include "t_records.h"

#define MAX_LEN 2000u

struct shared {
	int fd, efd_data, efd_space;
	struct mm_shm_ring cons; /* attached first */
	struct mm_shm_ring prod; /* its twin, attached before the threads start */
	uint64_t n;
	int failed;
};

static void pause_now_and_then(uint64_t *seed)
{
	uint64_t r = t_rand(seed);

	if ((r & 0x3ff) == 0)
		usleep((useconds_t)(r >> 10) % 200);
}

static void *producer(void *arg)
{
	struct shared *s = arg;
	struct mm_shm_ring *r = &s->prod;
	uint64_t seed = 1;

	for (uint64_t seq = 0; seq < s->n; seq++) {
		if (t_rec_push(r, 1, seq, MAX_LEN, 1 + (unsigned)(seq % 7)) < 0) {
			s->failed = 1;
			break;
		}
		pause_now_and_then(&seed);
	}
	mm_shm_ring_commit(r);
	return NULL;
}

static int consume(struct mm_shm_ring *r, uint64_t *next)
{
	struct mm_shm_rec rec;
	struct t_rec_head h;
	const char *bad;
	int rc = mm_shm_ring_peek(r, &rec);

	if (rc <= 0)
		return rc;
	bad = t_rec_check(&rec, &h);
	if (bad || h.seq != *next) {
		fprintf(stderr, "record %llu: %s (seq %llu)\n", (unsigned long long)*next,
			bad ? bad : "out of order", (unsigned long long)h.seq);
		return -EBADMSG;
	}
	mm_shm_ring_pop(r);
	(*next)++;
	return 1;
}

static int consumer(struct shared *s)
{
	struct mm_shm_ring *r = &s->cons;
	uint64_t next = 0, seed = 2, sleeps = 0;
	int rc = 0;

	while (rc == 0 && next < s->n) {
		rc = consume(r, &next);
		if (rc == 1) {
			if (next % 5 == 0)
				rc = mm_shm_ring_release(r);
			pause_now_and_then(&seed);
			rc = rc < 0 ? rc : 0;
		} else if (rc == 0 && (t_rand(&seed) & 1)) {
			/* spin: the lock-free path, where only the ring's barriers order the data
			 */
			sched_yield();
		} else if (rc == 0) {
			sleeps++;
			rc = mm_shm_ring_wait_data(r, 10000);
			rc = rc == 1 ? 0 : -ETIMEDOUT;
		}
	}
	printf("ring-threads: %llu records, %llu consumer sleeps: %s\n", (unsigned long long)next,
	       (unsigned long long)sleeps, rc ? strerror(-rc) : "ok");
	return rc;
}

int main(int argc, char **argv)
{
	struct shared s = { .n = argc > 1 ? strtoull(argv[1], NULL, 0) : 2000000 };
	uint64_t cap = argc > 2 ? strtoull(argv[2], NULL, 0) : 8192;
	pthread_t t;
	int rc;

	if (mm_shm_ring_create("threads", cap, 1, &s.fd) < 0)
		return 1;
	s.efd_data = mm_shm_ring_doorbell_open();
	s.efd_space = mm_shm_ring_doorbell_open();
	if (s.efd_data < 0 || s.efd_space < 0)
		return 1;
	if (mm_shm_ring_attach(&s.cons, s.fd, MM_SHM_RING_CONSUMER, s.efd_data, s.efd_space, NULL,
			       0) ||
	    mm_shm_ring_attach_twin(&s.prod, &s.cons, MM_SHM_RING_PRODUCER))
		return 1;
	if (pthread_create(&t, NULL, producer, &s))
		return 1;
	rc = consumer(&s);
	pthread_join(t, NULL);
	mm_shm_ring_detach(&s.prod);
	mm_shm_ring_detach(&s.cons);
	return rc || s.failed ? 1 : 0;
}
