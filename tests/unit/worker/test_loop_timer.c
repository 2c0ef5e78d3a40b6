/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the worker loop's timers and wait timeouts, once per backend. Deadlines are
 * checked from below only: the machine is shared, so a wait may well end late.
 */
#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "t_helpers.h"
#include "t_loop.h"

BOTH_BACKENDS(fires_timers_once_in_deadline_order)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	struct mm_wrk_event evs[EVS_MAX];
	uint64_t order[3];
	int got = 0;

	cr_assert_eq(mm_wrk_loop_timer(l, 3, 60 * 1000000ull), 0);
	cr_assert_eq(mm_wrk_loop_timer(l, 1, 20 * 1000000ull), 0);
	cr_assert_eq(mm_wrk_loop_timer(l, 2, 40 * 1000000ull), 0);
	while (got < 3) {
		int n = mm_wrk_loop_wait(l, evs, EVS_MAX, EXPECT_MS);

		cr_assert_gt(n, 0, "timers did not fire");
		for (int i = 0; i < n && got < 3; i++) {
			cr_assert_eq(evs[i].events, MM_WRK_EV_TIMER);
			order[got++] = evs[i].token;
		}
	}
	cr_assert_eq(order[0], 1u);
	cr_assert_eq(order[1], 2u);
	cr_assert_eq(order[2], 3u);
	t_loop_expect_nothing(l);
	mm_wrk_loop_free(l);
}

BOTH_BACKENDS(fires_timers_with_equal_deadlines_in_arming_order)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	struct mm_wrk_event evs[EVS_MAX];

	for (uint64_t t = 1; t <= 4; t++)
		cr_assert_eq(mm_wrk_loop_timer(l, t, 0), 0);
	cr_assert_eq(mm_wrk_loop_wait(l, evs, EVS_MAX, 0), 4);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(evs[i].token, (uint64_t)i + 1);
	mm_wrk_loop_free(l);
}

BOTH_BACKENDS(rearming_a_timer_replaces_its_deadline)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	uint64_t t0 = t_now_ns();

	cr_assert_eq(mm_wrk_loop_timer(l, 5, 10ull * 1000000000ull), 0);
	cr_assert_eq(mm_wrk_loop_timer(l, 5, 20 * 1000000ull), 0); /* earlier */
	cr_assert_eq(t_loop_wait_token(l, 5, 5000, NULL), MM_WRK_EV_TIMER);
	cr_assert_lt(t_now_ns() - t0, 5ull * 1000000000ull);
	t_loop_expect_nothing(l);

	cr_assert_eq(mm_wrk_loop_timer(l, 6, 20 * 1000000ull), 0);
	cr_assert_eq(mm_wrk_loop_timer(l, 6, 10ull * 1000000000ull), 0); /* later */
	cr_assert_eq(t_loop_wait_token(l, 6, 200, NULL), 0u);
	mm_wrk_loop_free(l);
}

BOTH_BACKENDS(cancelled_timer_does_not_fire)
{
	struct mm_wrk_loop *l = t_loop_open(backend);

	cr_assert_eq(mm_wrk_loop_timer(l, 8, 20 * 1000000ull), 0);
	cr_assert_eq(mm_wrk_loop_timer_cancel(l, 8), 0);
	cr_assert_eq(t_loop_wait_token(l, 8, 100, NULL), 0u);
	cr_assert_eq(mm_wrk_loop_timer_cancel(l, 8), -ENOENT);
	mm_wrk_loop_free(l);
}

BOTH_BACKENDS(endless_wait_returns_at_the_next_timer)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	uint64_t t0 = t_now_ns();

	cr_assert_eq(mm_wrk_loop_timer(l, 9, 30 * 1000000ull), 0);
	cr_assert_eq(t_loop_wait_token(l, 9, -1, NULL), MM_WRK_EV_TIMER);
	cr_assert_geq(t_now_ns() - t0, 30 * 1000000ull, "timer fired early");
	mm_wrk_loop_free(l);
}

BOTH_BACKENDS(wait_times_out_after_the_full_timeout)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	struct mm_wrk_event ev;
	int sv[2];
	uint64_t t0;

	t_loop_pair(sv);
	t_loop_watch(l, sv[0], MM_WRK_EV_IN, 1);
	t0 = t_now_ns();
	cr_assert_eq(mm_wrk_loop_wait(l, &ev, 1, 100), 0);
	cr_assert_geq(t_now_ns() - t0, 100 * 1000000ull); /* no upper bound: shared machine */
	t0 = t_now_ns();
	cr_assert_eq(mm_wrk_loop_wait(l, &ev, 1, 0), 0);
	mm_wrk_loop_free(l);
	close(sv[0]);
	close(sv[1]);
}

BOTH_BACKENDS(reports_timers_and_fds_in_one_wait)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	struct mm_wrk_event evs[EVS_MAX];
	int efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	int n;

	cr_assert_geq(efd, 0);
	t_loop_watch(l, efd, MM_WRK_EV_IN, 1);
	cr_assert_eq(mm_wrk_loop_timer(l, 1, 0), 0); /* the same token: its own name space */
	n = mm_wrk_loop_wait(l, evs, EVS_MAX, EXPECT_MS);
	cr_assert_eq(n, 2);
	cr_assert_eq(evs[0].token, 1u);
	cr_assert_eq(evs[0].events, MM_WRK_EV_TIMER);
	cr_assert_eq(evs[1].token, 1u);
	cr_assert_eq(evs[1].events, MM_WRK_EV_IN);
	mm_wrk_loop_free(l);
	close(efd);
}
