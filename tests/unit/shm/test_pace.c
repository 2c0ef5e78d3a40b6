/* SPDX-License-Identifier: MIT */
/*
 * The connect pacer (shm/pace.c): a burst at once, then one slot per interval in the order
 * asked, no limit at rate 0, a changed rate at the next slot, a corrupt page bounded, the page
 * refused when it is not one, and no slot lost or doubled when threads take them at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "pace.h"

#define MS 1000000ull
#define T0 (1000 * 1000 * MS)

static struct mm_pace_block *P;
static int Fd = -1;

static void setup(void)
{
	cr_assert_eq(mm_shm_pace_create("test-pace", &Fd, &P), 0);
}

static void teardown(void)
{
	mm_shm_pace_detach(P);
	if (Fd >= 0)
		close(Fd);
	P = NULL;
	Fd = -1;
}

TestSuite(shm_pace, .init = setup, .fini = teardown);

Test(shm_pace, no_limit_is_always_now)
{
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(mm_shm_pace_take(P, T0), T0);
}

Test(shm_pace, a_burst_at_once_then_one_per_interval)
{
	mm_shm_pace_set(P, 100, 5); /* 10 ms apart, 5 at once */
	for (int i = 0; i < 5; i++)
		cr_expect_eq(mm_shm_pace_take(P, T0), T0, "slot %d", i);
	for (int i = 1; i <= 20; i++)
		cr_expect_eq(mm_shm_pace_take(P, T0), T0 + (uint64_t)i * 10 * MS, "slot %d", i + 4);
	cr_expect_eq(atomic_load(&P->granted), 25);
	cr_expect_eq(atomic_load(&P->delayed), 20);
}

Test(shm_pace, the_bucket_refills_while_nobody_connects)
{
	mm_shm_pace_set(P, 100, 3);
	for (int i = 0; i < 3; i++)
		(void)mm_shm_pace_take(P, T0);
	cr_expect_eq(mm_shm_pace_take(P, T0), T0 + 10 * MS, "the burst is used up");
	/* a second later: a whole burst again */
	for (int i = 0; i < 3; i++)
		cr_expect_eq(mm_shm_pace_take(P, T0 + 1000 * MS), T0 + 1000 * MS, "slot %d", i);
	cr_expect_gt(mm_shm_pace_take(P, T0 + 1000 * MS), T0 + 1000 * MS);
}

Test(shm_pace, the_rate_is_kept_over_a_long_run)
{
	uint64_t last = 0;

	mm_shm_pace_set(P, 500, 1);
	for (int i = 0; i < 5000; i++) {
		uint64_t s =
			mm_shm_pace_take(P, T0 + (uint64_t)i * MS / 10); /* asked 10x the rate */

		cr_assert_geq(s, last + (i ? 2 * MS : 0), "slot %d", i);
		last = s;
	}
	cr_expect_eq(last, T0 + 4999 * 2 * MS, "5000 slots at 500/s take 10 s");
}

Test(shm_pace, a_new_rate_applies_to_the_next_slot)
{
	mm_shm_pace_set(P, 10, 1);
	cr_expect_eq(mm_shm_pace_take(P, T0), T0);
	cr_expect_eq(mm_shm_pace_take(P, T0), T0 + 100 * MS);
	mm_shm_pace_set(P, 0, 1);
	cr_expect_eq(mm_shm_pace_take(P, T0), T0, "no limit any more");
}

Test(shm_pace, a_corrupt_page_delays_a_slot_by_a_bounded_time)
{
	mm_shm_pace_set(P, 10, 1);
	atomic_store(&P->tat_ns, UINT64_MAX / 2);
	cr_expect_leq(mm_shm_pace_take(P, T0), T0 + MM_PACE_WAIT_MAX_NS);
}

Test(shm_pace, only_a_pace_page_attaches)
{
	struct mm_pace_block *q = NULL;

	cr_expect_eq(mm_shm_pace_attach(Fd, &q), 0);
	mm_shm_pace_detach(q);
	cr_expect_eq(mm_shm_pace_attach(0, &q), -EPROTO, "stdin is no pace page");
}

#define THREADS 4
#define EACH	2000

static uint64_t Slots[THREADS][EACH];

static void *taker(void *arg)
{
	uint64_t *out = arg;

	for (int i = 0; i < EACH; i++)
		out[i] = mm_shm_pace_take(P, T0);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

Test(shm_pace, threads_taking_slots_at_once_get_each_slot_once)
{
	pthread_t t[THREADS];
	uint64_t *all = malloc(sizeof(Slots));

	mm_shm_pace_set(P, 1000, 1);
	for (int k = 0; k < THREADS; k++)
		cr_assert_eq(pthread_create(&t[k], NULL, taker, Slots[k]), 0);
	for (int k = 0; k < THREADS; k++)
		cr_assert_eq(pthread_join(t[k], NULL), 0);
	cr_assert_not_null(all);
	memcpy(all, Slots, sizeof(Slots));
	qsort(all, THREADS * EACH, sizeof(*all), cmp_u64);
	for (int i = 0; i < THREADS * EACH; i++)
		cr_assert_eq(all[i], T0 + (uint64_t)i * MS, "slot %d", i);
	free(all);
}
