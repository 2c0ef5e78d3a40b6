/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the SPSC ring within one process: both sides attached to the same memfd
 * through two mappings, as two processes would be.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "ring.h"

struct pair {
	int fd, efd_data, efd_space;
	struct mm_shm_ring prod, cons;
};

static struct pair P;

static void pair_open(uint64_t cap)
{
	char why[MM_SHM_RING_WHY_MAX] = "";

	cr_assert_eq(mm_shm_ring_create("test", cap, 7, &P.fd), 0);
	P.efd_data = mm_shm_ring_doorbell_open();
	P.efd_space = mm_shm_ring_doorbell_open();
	cr_assert_geq(P.efd_data, 0);
	cr_assert_geq(P.efd_space, 0);
	cr_assert_eq(mm_shm_ring_attach(&P.prod, P.fd, MM_SHM_RING_PRODUCER, P.efd_data,
					P.efd_space, why, sizeof(why)),
		     0, "%s", why);
	cr_assert_eq(mm_shm_ring_attach(&P.cons, P.fd, MM_SHM_RING_CONSUMER, P.efd_data,
					P.efd_space, why, sizeof(why)),
		     0, "%s", why);
}

static void pair_close(void)
{
	mm_shm_ring_detach(&P.prod);
	mm_shm_ring_detach(&P.cons);
	mm_shm_ring_detach(&P.cons); /* twice is safe */
	close(P.fd);
	close(P.efd_data);
	close(P.efd_space);
}

static void setup_small(void)
{
	pair_open(4096);
}

TestSuite(shm_ring, .init = setup_small, .fini = pair_close, .timeout = 10);

static int push(struct mm_shm_ring *r, uint32_t len, uint16_t type, uint8_t fill)
{
	void *p;
	int rc = mm_shm_ring_reserve(r, len, type, (uint16_t)(len & 0xffff), &p);

	if (rc == 0)
		memset(p, fill, len);
	return rc;
}

/* Pop one record and check its length, type and fill byte. */
static void expect_rec(struct mm_shm_ring *r, uint32_t len, uint16_t type, uint8_t fill)
{
	struct mm_shm_rec rec;
	const uint8_t *b;

	cr_assert_eq(mm_shm_ring_peek(r, &rec), 1);
	cr_assert_eq(rec.len, len);
	cr_assert_eq(rec.type, type);
	cr_assert_eq(rec.flags, (uint16_t)(len & 0xffff));
	b = rec.data;
	for (uint32_t i = 0; i < len; i++)
		cr_assert_eq(b[i], fill, "byte %u of a %u-byte record", i, len);
	mm_shm_ring_pop(r);
}

Test(shm_ring, pops_in_fifo_order)
{
	struct mm_shm_rec rec;

	for (uint32_t i = 0; i < 40; i++)
		cr_assert_eq(push(&P.prod, i * 3, 1 + (i % 5), (uint8_t)i), 0);
	cr_assert_eq(mm_shm_ring_peek(&P.cons, &rec), 0, "nothing visible before commit");
	mm_shm_ring_commit(&P.prod);
	for (uint32_t i = 0; i < 40; i++)
		expect_rec(&P.cons, i * 3, 1 + (i % 5), (uint8_t)i);
	cr_assert_eq(mm_shm_ring_peek(&P.cons, &rec), 0);
}

Test(shm_ring, peek_without_pop_returns_the_same_record)
{
	struct mm_shm_rec a, b;

	cr_assert_eq(push(&P.prod, 10, 2, 0xaa), 0);
	mm_shm_ring_commit(&P.prod);
	cr_assert_eq(mm_shm_ring_peek(&P.cons, &a), 1);
	cr_assert_eq(mm_shm_ring_peek(&P.cons, &b), 1);
	cr_assert_eq(a.data, b.data);
}

Test(shm_ring, wraps_with_a_pad_record)
{
	/* 3 records of 1000 B payload (1008 B each) leave 1072 B before the end. */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(push(&P.prod, 1000, 1, (uint8_t)i), 0);
	mm_shm_ring_commit(&P.prod);
	for (int i = 0; i < 3; i++)
		expect_rec(&P.cons, 1000, 1, (uint8_t)i);
	mm_shm_ring_release(&P.cons);

	/* 1200 B does not fit in the 1072 B left: a PAD fills them, the record starts at 0. */
	cr_assert_eq(push(&P.prod, 1200, 3, 0x5c), 0);
	mm_shm_ring_commit(&P.prod);
	{
		struct mm_ring_rec pad;

		memcpy(&pad, P.prod.data + 3024, sizeof(pad));
		cr_expect_eq(pad.type, MM_REC_PAD);
		cr_expect_eq(pad.len, 4096 - 3024 - 8);
	}
	expect_rec(&P.cons, 1200, 3, 0x5c);
	cr_expect_eq(atomic_load(&P.prod.hdr->prod_pos), 4096 + 1208);
	cr_expect_eq(P.cons.pos, 4096 + 1208, "the consumer skipped the pad");
}

Test(shm_ring, fills_exactly_to_capacity_and_refuses_one_more)
{
	/* 56 B payload = 64 B records: exactly 64 of them fill 4096 B. */
	for (int i = 0; i < 64; i++)
		cr_assert_eq(push(&P.prod, 56, 1, (uint8_t)i), 0, "record %d", i);
	cr_assert_eq(push(&P.prod, 0, 1, 0), -EAGAIN);
	cr_assert_eq(mm_shm_ring_has_room(&P.prod, 0), 0);
	mm_shm_ring_commit(&P.prod);
	cr_assert_eq(mm_shm_ring_fill_bytes(&P.cons), 4096);

	expect_rec(&P.cons, 56, 1, 0);
	cr_assert_eq(push(&P.prod, 56, 1, 0), -EAGAIN, "popped but not released yet");
	mm_shm_ring_release(&P.cons);
	cr_assert_eq(push(&P.prod, 56, 1, 99), 0);
	cr_assert_eq(push(&P.prod, 0, 1, 0), -EAGAIN);
	mm_shm_ring_commit(&P.prod);
	for (int i = 1; i < 64; i++)
		expect_rec(&P.cons, 56, 1, (uint8_t)i);
	expect_rec(&P.cons, 56, 1, 99);
	mm_shm_ring_release(&P.cons);
	cr_assert_eq(mm_shm_ring_fill_bytes(&P.cons), 0);
}

Test(shm_ring, empty_ring_peeks_nothing)
{
	struct mm_shm_rec rec;

	cr_assert_eq(mm_shm_ring_peek(&P.cons, &rec), 0);
	cr_assert_eq(mm_shm_ring_release(&P.cons), 0);
	cr_assert_eq(mm_shm_ring_commit(&P.prod), 0);
	cr_assert_eq(mm_shm_ring_fill_bytes(&P.prod), 0);
}

Test(shm_ring, carries_the_largest_record_at_every_offset)
{
	uint32_t max = 4096 / 2 - 8;

	cr_assert_eq(push(&P.prod, max + 1, 1, 0), -EMSGSIZE);
	cr_assert_eq(mm_shm_ring_has_room(&P.prod, max + 1), -EMSGSIZE);
	/* Walk the positions through every 8-byte offset of the data area. */
	for (uint32_t step = 0; step < 4096 / 8 + 2; step++) {
		cr_assert_eq(push(&P.prod, max, 4, (uint8_t)step), 0, "step %u", step);
		cr_assert_eq(push(&P.prod, 0, 5, 0), 0);
		mm_shm_ring_commit(&P.prod);
		expect_rec(&P.cons, max, 4, (uint8_t)step);
		expect_rec(&P.cons, 0, 5, 0);
		mm_shm_ring_release(&P.cons);
	}
}

Test(shm_ring, carries_zero_length_payloads)
{
	void *p;

	cr_assert_eq(mm_shm_ring_reserve(&P.prod, 0, 9, 0x1234, &p), 0);
	mm_shm_ring_commit(&P.prod);
	cr_assert_eq(atomic_load(&P.prod.hdr->prod_pos), 8, "a bare header is 8 bytes");
	{
		struct mm_shm_rec rec;

		cr_assert_eq(mm_shm_ring_peek(&P.cons, &rec), 1);
		cr_expect_eq(rec.len, 0);
		cr_expect_eq(rec.type, 9);
		cr_expect_eq(rec.flags, 0x1234);
	}
}

Test(shm_ring, refuses_to_reserve_a_pad_type)
{
	void *p;

	cr_assert_eq(mm_shm_ring_reserve(&P.prod, 4, MM_REC_PAD, 0, &p), -EINVAL);
}

Test(shm_ring, sealed_memfd_cannot_change_size)
{
	cr_assert_eq(ftruncate(P.fd, 4096 + 8192), -1);
	cr_assert_eq(errno, EPERM);
	cr_assert_eq(ftruncate(P.fd, 4096), -1);
	cr_assert_eq(errno, EPERM);
	cr_assert_eq(fallocate(P.fd, 0, 0, 1 << 20), -1);
	cr_assert_eq(errno, EPERM);
	cr_assert_eq(fcntl(P.fd, F_ADD_SEALS, F_SEAL_WRITE), -1, "F_SEAL_SEAL holds");
	cr_assert_eq(errno, EPERM);
	cr_assert_neq(fcntl(P.fd, F_GETFD) & FD_CLOEXEC, 0);
}

Test(shm_ring, create_refuses_bad_capacities)
{
	int fd;

	cr_expect_eq(mm_shm_ring_create("x", 4096 + 8, 0, &fd), -EINVAL);
	cr_expect_eq(mm_shm_ring_create("x", 2048, 0, &fd), -EINVAL);
	cr_expect_eq(mm_shm_ring_create("x", 0, 0, &fd), -EINVAL);
	cr_expect_eq(mm_shm_ring_create("x", 1ull << 35, 0, &fd), -EINVAL);
}

Test(shm_ring, doorbell_rings_only_for_a_sleeping_consumer)
{
	struct pollfd pfd = { .fd = P.efd_data, .events = POLLIN };

	cr_assert_eq(push(&P.prod, 8, 1, 1), 0);
	cr_assert_eq(mm_shm_ring_commit(&P.prod), 0, "consumer awake: no doorbell");
	cr_assert_eq(poll(&pfd, 1, 0), 0);
	cr_assert_eq(mm_shm_ring_consumer_arm(&P.cons), 1, "data pending: do not sleep");
	expect_rec(&P.cons, 8, 1, 1);

	cr_assert_eq(mm_shm_ring_consumer_arm(&P.cons), 0, "empty: may sleep");
	cr_assert_eq(push(&P.prod, 8, 1, 2), 0);
	cr_assert_eq(mm_shm_ring_commit(&P.prod), 1, "consumer asleep: doorbell");
	cr_assert_eq(poll(&pfd, 1, 0), 1);
	cr_assert_eq(push(&P.prod, 8, 1, 3), 0);
	cr_assert_eq(mm_shm_ring_commit(&P.prod), 0, "rung once per sleep");
	cr_assert_eq(mm_shm_ring_wait_data(&P.cons, 1000), 1);
	expect_rec(&P.cons, 8, 1, 2);
}

Test(shm_ring, space_doorbell_wakes_a_waiting_producer)
{
	struct pollfd pfd = { .fd = P.efd_space, .events = POLLIN };

	for (int i = 0; i < 64; i++)
		cr_assert_eq(push(&P.prod, 56, 1, 0), 0);
	cr_assert_eq(mm_shm_ring_producer_arm(&P.prod, 56), 0, "full: may wait");
	cr_assert_eq(mm_shm_ring_wait_data(&P.cons, 0), 1, "arm committed the records");
	expect_rec(&P.cons, 56, 1, 0);
	cr_assert_eq(mm_shm_ring_release(&P.cons), 1, "producer waiting: doorbell");
	cr_assert_eq(poll(&pfd, 1, 0), 1);
	cr_assert_eq(mm_shm_ring_wait_space(&P.prod, 56, 1000), 1);
	cr_assert_eq(push(&P.prod, 56, 1, 0), 0);
}

Test(shm_ring, wait_times_out_on_an_idle_ring)
{
	cr_assert_eq(mm_shm_ring_wait_data(&P.cons, 20), 0);
	cr_assert_eq(atomic_load(&P.cons.hdr->consumer_sleeping), 0, "flag cleared after wait");
}

Test(shm_ring, new_producer_continues_after_uncommitted_records)
{
	struct mm_shm_ring p2;
	char why[MM_SHM_RING_WHY_MAX];

	cr_assert_eq(push(&P.prod, 100, 1, 1), 0);
	mm_shm_ring_commit(&P.prod);
	cr_assert_eq(push(&P.prod, 100, 1, 2), 0); /* dies before commit */
	mm_shm_ring_detach(&P.prod);

	cr_assert_eq(mm_shm_ring_attach(&p2, P.fd, MM_SHM_RING_PRODUCER, P.efd_data, -1, why,
					sizeof(why)),
		     0, "%s", why);
	cr_assert_eq(push(&p2, 50, 1, 3), 0);
	mm_shm_ring_commit(&p2);
	expect_rec(&P.cons, 100, 1, 1);
	expect_rec(&P.cons, 50, 1, 3);
	mm_shm_ring_detach(&p2);
}

/* mm_shm_ring_create_at: positions start where asked, wrap from there, and stay 8-aligned. */
Test(shm_ring, create_at_starts_positions_there)
{
	uint64_t start = (1ull << 40) + 4096 - 24; /* not a multiple of the capacity */
	struct mm_shm_ring prod, cons;
	int fd, bad;

	cr_assert_eq(mm_shm_ring_create_at("at", 4096, 1, start + 4, &bad), -EINVAL);
	cr_assert_eq(mm_shm_ring_create_at("at", 4096, 1, UINT64_MAX - 7, &bad), -EINVAL);
	cr_assert_eq(mm_shm_ring_create_at("at", 4096, 1, start, &fd), 0);
	cr_assert_eq(mm_shm_ring_attach(&prod, fd, MM_SHM_RING_PRODUCER, -1, -1, NULL, 0), 0);
	cr_assert_eq(mm_shm_ring_attach(&cons, fd, MM_SHM_RING_CONSUMER, -1, -1, NULL, 0), 0);
	cr_assert_eq(prod.pos, start);
	cr_assert_eq(cons.pos, start);
	for (int i = 0; i < 100; i++) { /* across many wraps, the first right at the start */
		cr_assert_eq(push(&prod, 100, 9, (uint8_t)i), 0);
		cr_assert_geq(mm_shm_ring_commit(&prod), 0);
		expect_rec(&cons, 100, 9, (uint8_t)i);
		cr_assert_geq(mm_shm_ring_release(&cons), 0);
	}
	cr_assert_gt(cons.pos, start + 100 * 100);
	mm_shm_ring_detach(&prod);
	mm_shm_ring_detach(&cons);
	close(fd);
}
