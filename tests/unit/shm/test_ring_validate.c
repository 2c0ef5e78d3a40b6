/* SPDX-License-Identifier: MIT */
/*
 * The ring's defences: every header field that attach refuses, and a consumer (or producer)
 * facing a peer that writes garbage positions or record headers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "ring.h"

#define CAP 8192u

static int map_fd(int fd, struct mm_ring_hdr **h)
{
	*h = mmap(NULL, MM_RING_DATA_OFF + CAP, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return *h == MAP_FAILED ? -1 : 0;
}

/*
 * Criterion runs each parameter in a re-executed worker, so parameters carry an index into
 * this file's table, not pointers.
 */
struct corruption {
	const char *field; /* expected at the start of the refusal */
	void (*apply)(struct mm_ring_hdr *h);
};

static void bad_magic(struct mm_ring_hdr *h)
{
	h->s.magic ^= 1;
}
static void bad_major(struct mm_ring_hdr *h)
{
	h->s.ver_major = MM_RING_VER_MAJOR + 1;
}
static void bad_hdr_size(struct mm_ring_hdr *h)
{
	h->s.hdr_size = 64;
}
static void bad_flags(struct mm_ring_hdr *h)
{
	h->s.flags = 1u << 31;
}
static void bad_capacity_pow2(struct mm_ring_hdr *h)
{
	h->s.capacity = CAP - 8;
}
static void bad_capacity_range(struct mm_ring_hdr *h)
{
	h->s.capacity = 1ull << 40;
}
static void bad_data_off(struct mm_ring_hdr *h)
{
	h->s.data_off = 512;
}
static void bad_seg_size(struct mm_ring_hdr *h)
{
	h->s.seg_size += 4096;
}
static void bad_reserved(struct mm_ring_hdr *h)
{
	h->s.reserved0 = 1;
}
static void bad_pos_align(struct mm_ring_hdr *h)
{
	atomic_store(&h->prod_pos, 12);
}
static void bad_cons_ahead(struct mm_ring_hdr *h)
{
	atomic_store(&h->prod_pos, 64);
	atomic_store(&h->cons_pos, 128);
}
static void bad_prod_ahead(struct mm_ring_hdr *h)
{
	atomic_store(&h->prod_pos, 64 + CAP + 8);
	atomic_store(&h->cons_pos, 64);
}
static void bad_capacity_vs_memfd(struct mm_ring_hdr *h)
{
	/* self-consistent header describing a smaller ring than the memfd holds */
	h->s.capacity = CAP / 2;
	h->s.seg_size = MM_RING_DATA_OFF + CAP / 2;
}

static const struct corruption corruptions[] = {
	{ "magic", bad_magic },
	{ "ver_major", bad_major },
	{ "hdr_size", bad_hdr_size },
	{ "flags", bad_flags },
	{ "capacity", bad_capacity_pow2 },
	{ "capacity", bad_capacity_range },
	{ "data_off", bad_data_off },
	{ "seg_size", bad_seg_size },
	{ "reserved0", bad_reserved },
	{ "prod_pos/cons_pos", bad_pos_align },
	{ "cons_pos", bad_cons_ahead },
	{ "prod_pos", bad_prod_ahead },
	{ "seg_size", bad_capacity_vs_memfd },
};

ParameterizedTestParameters(shm_ring_attach, refuses_a_corrupt_header)
{
	static int idx[sizeof(corruptions) / sizeof(corruptions[0])];

	for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, sizeof(idx) / sizeof(idx[0]));
}

ParameterizedTest(int *i, shm_ring_attach, refuses_a_corrupt_header)
{
	const struct corruption *c = &corruptions[*i];
	struct mm_shm_ring r;
	struct mm_ring_hdr *h;
	char why[MM_SHM_RING_WHY_MAX] = "";
	int fd;

	cr_assert_eq(mm_shm_ring_create("v", CAP, 1, &fd), 0);
	cr_assert_eq(map_fd(fd, &h), 0);
	c->apply(h);
	for (int role = 0; role < _MM_SHM_RING_ROLE_MAX; role++) {
		cr_expect_eq(mm_shm_ring_attach(&r, fd, role, -1, -1, why, sizeof(why)), -EPROTO,
			     "role %d accepted a bad %s", role, c->field);
		cr_expect_eq(strncmp(why, c->field, strlen(c->field)), 0,
			     "refusal '%s' should name '%s'", why, c->field);
	}
	munmap(h, MM_RING_DATA_OFF + CAP);
	close(fd);
}

Test(shm_ring_attach, refuses_an_unsealed_memfd)
{
	struct mm_shm_ring r;
	char why[MM_SHM_RING_WHY_MAX] = "";
	int fd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, MM_RING_DATA_OFF + CAP), 0);
	cr_assert_eq(mm_shm_ring_attach(&r, fd, MM_SHM_RING_CONSUMER, -1, -1, why, sizeof(why)),
		     -EPROTO);
	cr_expect_eq(strncmp(why, "seals", 5), 0, "%s", why);
	close(fd);
}

Test(shm_ring_attach, refuses_a_tiny_memfd)
{
	struct mm_shm_ring r;
	char why[MM_SHM_RING_WHY_MAX] = "";
	int fd = memfd_create("tiny", MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 100), 0);
	cr_assert_eq(mm_shm_ring_attach(&r, fd, MM_SHM_RING_CONSUMER, -1, -1, why, sizeof(why)),
		     -EPROTO);
	cr_expect_eq(strncmp(why, "seg_size", 8), 0, "%s", why);
	close(fd);
}

Test(shm_ring_attach, refuses_a_bad_role)
{
	struct mm_shm_ring r;
	int fd;

	cr_assert_eq(mm_shm_ring_create("v", CAP, 1, &fd), 0);
	cr_assert_eq(mm_shm_ring_attach(&r, fd, _MM_SHM_RING_ROLE_MAX, -1, -1, NULL, 0), -EINVAL);
	close(fd);
}

/* A consumer and a raw writable mapping standing in for a hostile producer. */
static struct mm_shm_ring C, Pr;
static struct mm_ring_hdr *H;
static int Fd;

static void hostile_setup(void)
{
	cr_assert_eq(mm_shm_ring_create("h", CAP, 1, &Fd), 0);
	cr_assert_eq(map_fd(Fd, &H), 0);
	cr_assert_eq(mm_shm_ring_attach(&C, Fd, MM_SHM_RING_CONSUMER, -1, -1, NULL, 0), 0);
	cr_assert_eq(mm_shm_ring_attach(&Pr, Fd, MM_SHM_RING_PRODUCER, -1, -1, NULL, 0), 0);
}

static void hostile_teardown(void)
{
	mm_shm_ring_detach(&C);
	mm_shm_ring_detach(&Pr);
	munmap(H, MM_RING_DATA_OFF + CAP);
	close(Fd);
}

TestSuite(shm_ring_hostile, .init = hostile_setup, .fini = hostile_teardown, .timeout = 10);

static void raw_rec(uint64_t off, uint32_t len, uint16_t type)
{
	struct mm_ring_rec rec = { .len = len, .type = type };

	memcpy((uint8_t *)H + MM_RING_DATA_OFF + off, &rec, sizeof(rec));
}

static int peek(void)
{
	struct mm_shm_rec rec;

	return mm_shm_ring_peek(&C, &rec);
}

Test(shm_ring_hostile, record_longer_than_published)
{
	raw_rec(0, 200, 1);
	atomic_store(&H->prod_pos, 64);
	cr_assert_eq(peek(), -EPROTO);
}

Test(shm_ring_hostile, record_length_near_uint32_max)
{
	raw_rec(0, UINT32_MAX, 1);
	atomic_store(&H->prod_pos, CAP);
	cr_assert_eq(peek(), -EPROTO);
	raw_rec(0, UINT32_MAX - 7, 1);
	cr_assert_eq(peek(), -EPROTO);
}

Test(shm_ring_hostile, record_crossing_the_end)
{
	atomic_store(&H->prod_pos, CAP - 64);
	atomic_store(&H->cons_pos, CAP - 64);
	mm_shm_ring_detach(&C);
	cr_assert_eq(mm_shm_ring_attach(&C, Fd, MM_SHM_RING_CONSUMER, -1, -1, NULL, 0), 0);
	raw_rec(CAP - 64, 100, 1);
	atomic_store(&H->prod_pos, CAP + 64);
	cr_assert_eq(peek(), -EPROTO);
}

Test(shm_ring_hostile, pad_with_a_wrong_length)
{
	raw_rec(0, 16, MM_REC_PAD);
	atomic_store(&H->prod_pos, 24);
	cr_assert_eq(peek(), -EPROTO);
}

Test(shm_ring_hostile, pad_not_fully_published)
{
	raw_rec(0, CAP - 8, MM_REC_PAD);
	atomic_store(&H->prod_pos, 64);
	cr_assert_eq(peek(), -EPROTO);
}

Test(shm_ring_hostile, producer_position_misaligned_or_too_far)
{
	atomic_store(&H->prod_pos, 13);
	cr_assert_eq(peek(), -EPROTO);
	atomic_store(&H->prod_pos, CAP + 8);
	cr_assert_eq(peek(), -EPROTO);
}

Test(shm_ring_hostile, producer_position_moving_backwards)
{
	raw_rec(0, 8, 1);
	raw_rec(16, 8, 1);
	atomic_store(&H->prod_pos, 32);
	cr_assert_eq(peek(), 1);
	mm_shm_ring_pop(&C);
	cr_assert_eq(peek(), 1);
	mm_shm_ring_pop(&C);
	atomic_store(&H->prod_pos, 16);
	cr_assert_eq(peek(), -EPROTO);
}

Test(shm_ring_hostile, random_garbage_never_reads_out_of_bounds)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < 20000; i++) {
		struct mm_shm_rec rec;
		int rc;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		memcpy((uint8_t *)H + MM_RING_DATA_OFF + (s % (CAP / 8)) * 8, &s, 8);
		atomic_store(&H->prod_pos, C.pub + ((s >> 20) % (CAP / 8 + 1)) * 8);
		while ((rc = mm_shm_ring_peek(&C, &rec)) == 1) {
			const uint8_t *b = rec.data;

			cr_assert_leq(b + rec.len, (uint8_t *)H + MM_RING_DATA_OFF + CAP);
			cr_assert_geq(b, (uint8_t *)H + MM_RING_DATA_OFF);
			mm_shm_ring_pop(&C);
		}
		cr_assert(rc == 0 || rc == -EPROTO);
		/* resynchronise as a fresh consumer would after dropping the producer */
		atomic_store(&H->prod_pos, C.pub);
		mm_shm_ring_detach(&C);
		cr_assert_eq(mm_shm_ring_attach(&C, Fd, MM_SHM_RING_CONSUMER, -1, -1, NULL, 0), 0);
	}
}

Test(shm_ring_hostile, producer_refuses_a_corrupt_consumer_position)
{
	void *p;

	for (unsigned i = 0; i < 2 * CAP / 64; i++)
		if (mm_shm_ring_reserve(&Pr, 56, 1, 0, &p) != 0)
			break;
	mm_shm_ring_commit(&Pr);
	atomic_store(&H->cons_pos, CAP * 4); /* beyond the producer */
	cr_assert_eq(mm_shm_ring_reserve(&Pr, 56, 1, 0, &p), -EPROTO);
	atomic_store(&H->cons_pos, 12); /* misaligned */
	cr_assert_eq(mm_shm_ring_has_room(&Pr, 56), -EPROTO);
}
