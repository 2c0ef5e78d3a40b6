/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the worker loop's fd watches (worker/wrk_loop.h), once per backend: suite
 * worker_loop_uring (skipped where io_uring cannot be set up) and worker_loop_epoll. Waits
 * that expect an event use a generous timeout and return as soon as it comes; waits that
 * expect nothing use a short one.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "t_helpers.h"
#include "t_loop.h"

BOTH_BACKENDS(reports_readable_after_write)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	int sv[2];

	t_loop_pair(sv);
	t_loop_watch(l, sv[0], MM_WRK_EV_IN, 7);
	t_loop_expect_nothing(l);
	t_loop_put(sv[1], "x");
	cr_assert_eq(t_loop_wait_token(l, 7, EXPECT_MS, NULL), MM_WRK_EV_IN);
	mm_wrk_loop_free(l);
	close(sv[0]);
	close(sv[1]);
}

BOTH_BACKENDS(reports_unconsumed_data_again_at_every_wait)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	int sv[2];

	t_loop_pair(sv);
	t_loop_watch(l, sv[0], MM_WRK_EV_IN, 1);
	t_loop_put(sv[1], "abc");
	for (int i = 0; i < 5; i++)
		cr_assert_eq(t_loop_wait_token(l, 1, EXPECT_MS, NULL), MM_WRK_EV_IN, "wait %d", i);
	t_loop_drain(sv[0]);
	t_loop_expect_nothing(l);
	t_loop_put(sv[1], "d");
	cr_assert_eq(t_loop_wait_token(l, 1, EXPECT_MS, NULL), MM_WRK_EV_IN);
	mm_wrk_loop_free(l);
	close(sv[0]);
	close(sv[1]);
}

BOTH_BACKENDS(reports_writable_and_follows_modify)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	int sv[2];

	t_loop_pair(sv);
	t_loop_watch(l, sv[0], MM_WRK_EV_OUT, 2);
	cr_assert_eq(t_loop_wait_token(l, 2, EXPECT_MS, NULL), MM_WRK_EV_OUT);
	cr_assert_eq(t_loop_wait_token(l, 2, EXPECT_MS, NULL), MM_WRK_EV_OUT,
		     "level: writable again");

	cr_assert_eq(mm_wrk_loop_modify(l, 2, MM_WRK_EV_IN), 0);
	t_loop_expect_nothing(l);
	t_loop_put(sv[1], "x");
	cr_assert_eq(t_loop_wait_token(l, 2, EXPECT_MS, NULL), MM_WRK_EV_IN);

	cr_assert_eq(mm_wrk_loop_modify(l, 2, MM_WRK_EV_OUT), 0);
	cr_assert_eq(t_loop_wait_token(l, 2, EXPECT_MS, NULL), MM_WRK_EV_OUT,
		     "unread data not reported");
	cr_assert_eq(mm_wrk_loop_modify(l, 2, MM_WRK_EV_IN | MM_WRK_EV_OUT), 0);
	cr_assert_eq(t_loop_wait_token(l, 2, EXPECT_MS, NULL), MM_WRK_EV_IN | MM_WRK_EV_OUT);
	cr_assert_eq(mm_wrk_loop_modify(l, 2, 0), 0);
	t_loop_expect_nothing(l);
	mm_wrk_loop_free(l);
	close(sv[0]);
	close(sv[1]);
}

BOTH_BACKENDS(reports_hangup_as_err_until_unwatched)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	int a[2], b[2];

	t_loop_pair(a);
	t_loop_pair(b);
	t_loop_watch(l, a[0], MM_WRK_EV_IN, 1);
	t_loop_watch(l, b[0], 0, 2);
	t_loop_expect_nothing(l);
	close(a[1]);
	cr_assert(t_loop_wait_token(l, 1, EXPECT_MS, NULL) & MM_WRK_EV_ERR);
	cr_assert(t_loop_wait_token(l, 1, EXPECT_MS, NULL) & MM_WRK_EV_ERR, "level: hangup again");
	cr_assert_eq(mm_wrk_loop_unwatch(l, 1), 0);

	/* half-close (POLLRDHUP) of a watch that asked for nothing */
	cr_assert_eq(shutdown(b[1], SHUT_WR), 0);
	cr_assert_eq(t_loop_wait_token(l, 2, EXPECT_MS, NULL), MM_WRK_EV_ERR);
	mm_wrk_loop_free(l);
	close(a[0]);
	close(b[0]);
	close(b[1]);
}

BOTH_BACKENDS(reports_nothing_for_a_ready_fd_after_unwatch)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	int sv[2];

	t_loop_pair(sv);
	t_loop_watch(l, sv[0], MM_WRK_EV_IN, 3);
	t_loop_put(sv[1], "x");
	cr_assert_eq(t_loop_wait_token(l, 3, EXPECT_MS, NULL), MM_WRK_EV_IN);
	t_loop_put(sv[1], "y"); /* a new wakeup: io_uring queues a CQE for the watch */
	cr_assert_eq(mm_wrk_loop_unwatch(l, 3), 0);
	t_loop_expect_nothing(l);
	cr_assert_eq(mm_wrk_loop_unwatch(l, 3), -ENOENT);
	mm_wrk_loop_free(l);
	close(sv[0]);
	close(sv[1]);
}

BOTH_BACKENDS(keeps_events_of_other_watches_across_unwatch)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int sv[2];

	cr_assert_geq(efd, 0);
	t_loop_pair(sv);
	t_loop_watch(l, efd, MM_WRK_EV_IN, 10);
	t_loop_watch(l, sv[0], MM_WRK_EV_IN, 11);
	t_loop_expect_nothing(l);
	cr_assert_eq(eventfd_write(efd, 1), 0);	     /* one wakeup, one CQE */
	cr_assert_eq(mm_wrk_loop_unwatch(l, 11), 0); /* reaps that CQE while it waits */
	cr_assert_eq(t_loop_wait_token(l, 10, EXPECT_MS, NULL), MM_WRK_EV_IN);
	mm_wrk_loop_free(l);
	close(efd);
	close(sv[0]);
	close(sv[1]);
}

BOTH_BACKENDS(unwatch_then_close_closes_the_socket)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	int sv[2];

	t_loop_pair(sv);
	t_loop_watch(l, sv[0], MM_WRK_EV_IN | MM_WRK_EV_OUT, 4);
	cr_assert_eq(t_loop_wait_token(l, 4, EXPECT_MS, NULL),
		     MM_WRK_EV_OUT); /* the poll is armed */
	cr_assert_eq(mm_wrk_loop_unwatch(l, 4), 0);
	close(sv[0]);
	cr_assert(t_loop_peer_sees_eof(sv[1], EXPECT_MS), "the loop still holds the socket");
	mm_wrk_loop_free(l);
	close(sv[1]);
}

/* libmosquitto-notes.md pitfall 4: shows that the test above can fail at all. */
Test(worker_loop_uring, armed_poll_keeps_a_closed_socket_until_unwatch)
{
	struct mm_wrk_loop *l = t_loop_open(MM_WRK_BACKEND_URING);
	int sv[2];

	t_loop_pair(sv);
	t_loop_watch(l, sv[0], MM_WRK_EV_OUT, 4);
	cr_assert_eq(t_loop_wait_token(l, 4, EXPECT_MS, NULL), MM_WRK_EV_OUT);
	close(sv[0]);
	cr_assert_not(t_loop_peer_sees_eof(sv[1], NOTHING_MS),
		      "kernel no longer pins polled files?");
	cr_assert_eq(mm_wrk_loop_unwatch(l, 4), 0);
	cr_assert(t_loop_peer_sees_eof(sv[1], EXPECT_MS));
	mm_wrk_loop_free(l);
	close(sv[1]);
}

BOTH_BACKENDS(reused_fd_number_reports_only_the_new_token)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	uint32_t old_seen = 0, new_seen = 0;
	uint64_t until;
	int a[2], b[2];

	t_loop_pair(a);
	t_loop_watch(l, a[0], MM_WRK_EV_IN, 100);
	t_loop_put(a[1], "old");
	cr_assert_eq(t_loop_wait_token(l, 100, EXPECT_MS, NULL), MM_WRK_EV_IN);
	t_loop_put(a[1], "more"); /* pending wakeup for the old watch */
	cr_assert_eq(mm_wrk_loop_unwatch(l, 100), 0);
	close(a[0]);
	close(a[1]);

	t_loop_pair(b);
	cr_expect_eq(b[0], a[0], "fd number not reused; the test proves less");
	t_loop_watch(l, b[0], MM_WRK_EV_IN, 101);
	t_loop_put(b[1], "new");
	until = t_now_ns() + 200 * 1000000ull;
	while (t_now_ns() < until) {
		old_seen |= t_loop_wait_token(l, 100, NOTHING_MS, NULL);
		new_seen |= t_loop_wait_token(l, 101, NOTHING_MS, NULL);
	}
	cr_assert_eq(old_seen, 0u, "stale event for the old token");
	cr_assert_eq(new_seen, MM_WRK_EV_IN);
	mm_wrk_loop_free(l);
	close(b[0]);
	close(b[1]);
}

BOTH_BACKENDS(reports_every_ready_watch_in_turn_when_max_is_small)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	struct mm_wrk_event ev;
	int efd[3];
	unsigned seen = 0;

	for (int i = 0; i < 3; i++) {
		efd[i] = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
		cr_assert_geq(efd[i], 0);
		t_loop_watch(l, efd[i], MM_WRK_EV_IN, 20 + (uint64_t)i);
	}
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(mm_wrk_loop_wait(l, &ev, 1, EXPECT_MS), 1);
		cr_assert(ev.token >= 20 && ev.token < 23);
		seen |= 1u << (ev.token - 20);
	}
	cr_assert_eq(seen, 7u, "a ready watch was starved: seen 0x%x", seen);
	mm_wrk_loop_free(l);
	for (int i = 0; i < 3; i++)
		close(efd[i]);
}

BOTH_BACKENDS(eventfd_doorbell_is_readable_once_rung)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	eventfd_t v;

	cr_assert_geq(efd, 0);
	t_loop_watch(l, efd, MM_WRK_EV_IN, 30);
	t_loop_expect_nothing(l);
	cr_assert_eq(eventfd_write(efd, 1), 0);
	cr_assert_eq(t_loop_wait_token(l, 30, EXPECT_MS, NULL), MM_WRK_EV_IN);
	cr_assert_eq(eventfd_read(efd, &v), 0);
	cr_assert_eq(v, 1u);
	t_loop_expect_nothing(l);
	cr_assert_eq(eventfd_write(efd, 2), 0);
	cr_assert_eq(t_loop_wait_token(l, 30, EXPECT_MS, NULL), MM_WRK_EV_IN);
	mm_wrk_loop_free(l);
	close(efd);
}

BOTH_BACKENDS(signalfd_is_readable_after_a_blocked_signal)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	struct signalfd_siginfo si;
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &set, NULL), 0);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	cr_assert_geq(sfd, 0);
	t_loop_watch(l, sfd, MM_WRK_EV_IN, 40);
	t_loop_expect_nothing(l);
	cr_assert_eq(raise(SIGUSR1), 0);
	cr_assert_eq(t_loop_wait_token(l, 40, EXPECT_MS, NULL), MM_WRK_EV_IN);
	cr_assert_eq(read(sfd, &si, sizeof(si)), (ssize_t)sizeof(si));
	cr_assert_eq(si.ssi_signo, (uint32_t)SIGUSR1);
	t_loop_expect_nothing(l);
	cr_assert_eq(mm_wrk_loop_unwatch(l, 40), 0);
	mm_wrk_loop_free(l);
	close(sfd);
}

BOTH_BACKENDS(watch_unwatch_cycles_leak_no_fd)
{
	int before = t_loop_count_fds();
	struct mm_wrk_loop *l = t_loop_open(backend);
	int sv[2];

	for (int i = 0; i < 1000; i++) {
		t_loop_pair(sv);
		t_loop_watch(l, sv[0], MM_WRK_EV_IN | MM_WRK_EV_OUT, (uint64_t)i);
		if (i % 2)
			t_loop_put(sv[1], "x");
		cr_assert_gt(t_loop_wait_token(l, (uint64_t)i, EXPECT_MS, NULL), 0u);
		cr_assert_eq(mm_wrk_loop_unwatch(l, (uint64_t)i), 0);
		t_loop_drain(sv[0]); /* unread data would make the peer see ECONNRESET, not EOF */
		close(sv[0]);
		cr_assert(t_loop_peer_sees_eof(sv[1], EXPECT_MS), "cycle %d: socket kept open", i);
		close(sv[1]);
	}
	mm_wrk_loop_free(l);
	cr_assert_eq(t_loop_count_fds(), before);
}

#define FDS_SCAN 1024

BOTH_BACKENDS(opens_only_close_on_exec_fds)
{
	static bool was_open[FDS_SCAN];
	struct mm_wrk_loop *l;
	int before = t_loop_count_fds(), opened = 0;

	for (int fd = 0; fd < FDS_SCAN; fd++)
		was_open[fd] = fcntl(fd, F_GETFD) != -1;
	l = t_loop_open(backend);
	for (int fd = 0; fd < FDS_SCAN; fd++) {
		int flags = fcntl(fd, F_GETFD);

		if (flags == -1 || was_open[fd])
			continue;
		cr_assert(flags & FD_CLOEXEC, "fd %d is not close-on-exec", fd);
		opened++;
	}
	cr_assert_geq(opened, 1);
	mm_wrk_loop_free(l);
	cr_assert_eq(t_loop_count_fds(), before);
}

BOTH_BACKENDS(refuses_bad_arguments)
{
	struct mm_wrk_loop *l = t_loop_open(backend);
	struct mm_wrk_event ev;
	int sv[2];

	t_loop_pair(sv);
	t_loop_watch(l, sv[0], MM_WRK_EV_IN, 1);
	cr_assert_eq(mm_wrk_loop_watch(l, sv[1], MM_WRK_EV_IN, 1), -EEXIST, "token in use");
	cr_assert_eq(mm_wrk_loop_watch(l, sv[0], MM_WRK_EV_IN, 2), -EEXIST, "fd in use");
	cr_assert_eq(mm_wrk_loop_watch(l, sv[1], MM_WRK_EV_TIMER, 3), -EINVAL);
	cr_assert_eq(mm_wrk_loop_watch(l, -1, MM_WRK_EV_IN, 3), -EBADF);
	cr_assert_eq(mm_wrk_loop_watch(l, 1000, MM_WRK_EV_IN, 3), -EBADF);
	cr_assert_eq(mm_wrk_loop_modify(l, 3, MM_WRK_EV_IN), -ENOENT);
	cr_assert_eq(mm_wrk_loop_modify(l, 1, MM_WRK_EV_ERR), -EINVAL);
	cr_assert_eq(mm_wrk_loop_unwatch(l, 3), -ENOENT);
	cr_assert_eq(mm_wrk_loop_timer_cancel(l, 1), -ENOENT);
	cr_assert_eq(mm_wrk_loop_wait(l, &ev, 0, 0), -EINVAL);
	cr_assert_eq(mm_wrk_loop_wait(l, NULL, 1, 0), -EINVAL);
	mm_wrk_loop_free(l);
	close(sv[0]);
	close(sv[1]);
}
