/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of the io_uring backend's completion handling. unwatch() drains every CQE
 * of the watch it ends, so a stale CQE never reaches the handler in a black-box test; here
 * synthetic CQEs are handed to it directly. The backend is compiled into this file with its
 * two external names renamed, so that it does not clash with the copy in libmm-wrk.
 */
#define mm_wrk_uring_new t_uring_new
#define mm_wrk_uring_ops t_uring_ops
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "wrk_loop_uring.c"

/* The suite worker_loop_uring_cqe is declared in t_loop.c. */

static struct uring *uring_open(void)
{
	const char *why = NULL;
	void *b = NULL;
	int r = t_uring_new(&b, &why);

	if (r == -EPERM || r == -ENOSYS || r == -EOPNOTSUPP)
		cr_skip_test("io_uring unavailable: %s", why);
	cr_assert_eq(r, 0, "%s", why);
	return b;
}

static void feed(struct uring *u, uint64_t ud, int res, unsigned flags)
{
	struct io_uring_cqe cqe;

	memset(&cqe, 0, sizeof(cqe));
	cqe.user_data = ud;
	cqe.res = res;
	cqe.flags = flags;
	handle_cqe(u, &cqe);
}

/* Report what is pending with the ring left alone: emit() only, no submission. */
static int pending(struct uring *u, struct mm_wrk_event *evs, int max)
{
	return emit(u, evs, max);
}

Test(worker_loop_uring_cqe, user_data_round_trips_kind_slot_and_generation)
{
	uint64_t ud = ud_make(UD_REMOVE, URING_SLOTS_MAX - 1, 0xfffffffeu);

	cr_assert_eq(ud >> 56, (uint64_t)UD_REMOVE);
	cr_assert_eq(ud_index(ud), URING_SLOTS_MAX - 1);
	cr_assert_eq((uint32_t)ud, 0xfffffffeu);
	cr_assert_neq(ud, LIBURING_UDATA_TIMEOUT);
}

Test(worker_loop_uring_cqe, drops_cqes_of_the_previous_watch_in_a_reused_slot)
{
	struct uring *u = uring_open();
	struct mm_wrk_event ev[4];
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	cr_assert_geq(efd, 0);
	cr_assert_eq(ur_watch(u, efd, MM_WRK_EV_IN, 1), 0);
	cr_assert_eq(ur_unwatch(u, 1), 0);
	cr_assert_eq(ur_watch(u, efd, MM_WRK_EV_IN, 2), 0);
	cr_assert_eq(u->slots[0].token, 2u, "slot 0 reused");
	cr_assert_eq(u->slots[0].gen, 1u);

	feed(u, ud_make(UD_POLL, 0, 0), POLLIN, IORING_CQE_F_MORE);
	feed(u, ud_make(UD_UPDATE, 0, 0), -EALREADY, 0);
	feed(u, ud_make(UD_REMOVE, 0, 0), -EALREADY, 0);
	feed(u, ud_make(UD_POLL, 0, 0), -EBADF, 0);
	feed(u, ud_make(UD_POLL, 7, 0), POLLIN, 0);    /* a free slot */
	feed(u, ud_make(UD_POLL, 1000, 0), POLLIN, 0); /* beyond the table */
	cr_assert_eq(pending(u, ev, 4), 0, "stale CQE reported");
	cr_assert_not(u->slots[0].dirty);
	cr_assert_not(u->slots[0].remove_again);
	cr_assert_eq(u->slots[0].err, 0);

	feed(u, ud_make(UD_POLL, 0, 1), POLLIN, IORING_CQE_F_MORE);
	cr_assert_eq(pending(u, ev, 4), 1);
	cr_assert_eq(ev[0].token, 2u);
	cr_assert_eq(ev[0].events, MM_WRK_EV_IN);
	ur_free(u);
	close(efd);
}

Test(worker_loop_uring_cqe, folds_cqes_and_masks_bits_not_asked_for)
{
	struct uring *u = uring_open();
	struct mm_wrk_event ev[4];
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	cr_assert_geq(efd, 0);
	cr_assert_eq(ur_watch(u, efd, MM_WRK_EV_OUT, 3), 0);
	u->slots[0].need_arm = false; /* pretend the poll is in the kernel */
	u->slots[0].armed = true;
	feed(u, ud_make(UD_POLL, 0, 0), POLLIN, IORING_CQE_F_MORE); /* from before a modify */
	cr_assert_eq(pending(u, ev, 4), 0);
	feed(u, ud_make(UD_POLL, 0, 0), POLLOUT, IORING_CQE_F_MORE);
	feed(u, ud_make(UD_POLL, 0, 0), POLLOUT | POLLHUP, IORING_CQE_F_MORE);
	cr_assert_eq(pending(u, ev, 4), 1, "two CQEs, one event");
	cr_assert_eq(ev[0].events, MM_WRK_EV_OUT | MM_WRK_EV_ERR);
	cr_assert(u->slots[0].dirty, "reported: re-check at the next wait");
	u->slots[0].armed = false; /* nothing to cancel in the kernel */
	ur_free(u);
	close(efd);
}

Test(worker_loop_uring_cqe, rearms_an_ended_poll_and_reports_a_failed_one)
{
	struct uring *u = uring_open();
	struct mm_wrk_event ev[4];
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	cr_assert_geq(efd, 0);
	cr_assert_eq(ur_watch(u, efd, MM_WRK_EV_IN, 4), 0);
	u->slots[0].need_arm = false;
	u->slots[0].armed = true;
	feed(u, ud_make(UD_POLL, 0, 0), POLLIN, 0); /* ended by itself, e.g. CQ overflow */
	cr_assert_not(u->slots[0].armed);
	cr_assert(u->slots[0].need_arm);
	cr_assert_eq(pending(u, ev, 4), 1);

	u->slots[0].need_arm = false;
	u->slots[0].armed = true;
	feed(u, ud_make(UD_UPDATE, 0, 0), -EALREADY, 0);
	cr_assert(u->slots[0].dirty, "refused update is sent again");
	feed(u, ud_make(UD_POLL, 0, 0), -ENOMEM, 0);
	cr_assert_eq(u->slots[0].err, -ENOMEM);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(pending(u, ev, 4), 1);
		cr_assert_eq(ev[0].events, MM_WRK_EV_ERR, "reported at every wait");
	}
	cr_assert_eq(ur_unwatch(u, 4), 0);
	cr_assert_eq(pending(u, ev, 4), 0);
	ur_free(u);
	close(efd);
}
