/* SPDX-License-Identifier: MIT */
/*
 * The supervisor's timer heap (supervisor/sup_timer.c): entries come out earliest first (ties
 * by id), a deadline moved or removed takes effect at once, and a long random sequence of
 * operations agrees with a plain array scanned in full.
 */
#include <stdlib.h>

#include <criterion/criterion.h>

#include "sup_timer.h"

/* Pop every entry, checking the order; returns how many there were. */
static size_t drain(struct mm_sup_timers *t)
{
	uint64_t at, last_at = 0;
	uint32_t id, last_id = 0;
	size_t n = 0;

	while (mm_sup_timers_first(t, &at, &id)) {
		cr_assert(at > last_at || (at == last_at && (n == 0 || id > last_id)),
			  "entry %zu (at %llu id %u) out of order", n, (unsigned long long)at, id);
		last_at = at;
		last_id = id;
		cr_assert_eq(mm_sup_timers_set(t, id, 0), 0);
		n++;
	}
	return n;
}

Test(sup_timer, empty_heap_has_no_first)
{
	struct mm_sup_timers t = { 0 };

	cr_expect(!mm_sup_timers_first(&t, NULL, NULL));
	cr_expect_eq(mm_sup_timers_set(&t, 3, 0), 0, "removing what is not there is fine");
	mm_sup_timers_free(&t);
}

Test(sup_timer, earliest_first_ties_by_id)
{
	struct mm_sup_timers t = { 0 };
	uint64_t at;
	uint32_t id;

	cr_assert_eq(mm_sup_timers_set(&t, 5, 300), 0);
	cr_assert_eq(mm_sup_timers_set(&t, 2, 100), 0);
	cr_assert_eq(mm_sup_timers_set(&t, 9, 100), 0);
	cr_assert_eq(mm_sup_timers_set(&t, 0, 200), 0);
	cr_assert(mm_sup_timers_first(&t, &at, &id));
	cr_expect_eq(at, 100);
	cr_expect_eq(id, 2);
	cr_expect_eq(drain(&t), 4);
	mm_sup_timers_free(&t);
}

Test(sup_timer, moving_and_removing_a_deadline)
{
	struct mm_sup_timers t = { 0 };
	uint32_t id;

	for (uint32_t i = 0; i < 10; i++)
		cr_assert_eq(mm_sup_timers_set(&t, i, 1000 + i), 0);
	cr_assert_eq(mm_sup_timers_set(&t, 7, 1), 0, "earlier");
	cr_assert(mm_sup_timers_first(&t, NULL, &id));
	cr_expect_eq(id, 7);
	cr_assert_eq(mm_sup_timers_set(&t, 7, 5000), 0, "later");
	cr_assert(mm_sup_timers_first(&t, NULL, &id));
	cr_expect_eq(id, 0);
	cr_assert_eq(mm_sup_timers_set(&t, 0, 0), 0, "removed");
	cr_assert(mm_sup_timers_first(&t, NULL, &id));
	cr_expect_eq(id, 1);
	cr_expect_eq(drain(&t), 9);
	mm_sup_timers_clear(&t);
	cr_expect(!mm_sup_timers_first(&t, NULL, NULL));
	mm_sup_timers_free(&t);
}

Test(sup_timer, random_operations_agree_with_a_full_scan)
{
	enum { IDS = 300, OPS = 20000 };
	static uint64_t model[IDS]; /* 0: no entry */
	struct mm_sup_timers t = { 0 };

	srand(13);
	for (int op = 0; op < OPS; op++) {
		uint32_t id = (uint32_t)rand() % IDS, best = 0;
		uint64_t at = rand() % 4 ? (uint64_t)(rand() % 5000) + 1 : 0, got_at, best_at = 0;
		uint32_t got_id;

		cr_assert_eq(mm_sup_timers_set(&t, id, at), 0);
		model[id] = at;
		for (uint32_t i = 0; i < IDS; i++)
			if (model[i] && (!best_at || model[i] < best_at)) {
				best_at = model[i];
				best = i;
			}
		if (!best_at) {
			cr_assert(!mm_sup_timers_first(&t, NULL, NULL), "op %d: not empty", op);
			continue;
		}
		cr_assert(mm_sup_timers_first(&t, &got_at, &got_id));
		cr_assert_eq(got_at, best_at, "op %d", op);
		cr_assert_eq(got_id, best, "op %d", op);
	}
	mm_sup_timers_free(&t);
}
