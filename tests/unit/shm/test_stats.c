/* SPDX-License-Identifier: MIT */
/*
 * The stats block: created sealed, attached by two mappings that see the same counters; its
 * event log in order, wrapped, and fed garbage.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "stats.h"

Test(shm_stats, two_attachments_share_counters_and_the_size_is_sealed)
{
	struct mm_stats_block *a, *b;
	int fd;

	cr_assert_eq(mm_shm_stats_create("s", &fd), 0);
	cr_assert_eq(mm_shm_stats_attach(fd, &a), 0);
	cr_assert_eq(mm_shm_stats_attach(fd, &b), 0);
	atomic_fetch_add(&a->msgs_in, 5);
	cr_expect_eq(atomic_load(&b->msgs_in), 5);
	cr_expect_eq(ftruncate(fd, 8192), -1);
	cr_expect_str_eq(mm_sess_state_to_string(MM_SESS_READY), "ready");
	mm_shm_stats_detach(a);
	mm_shm_stats_detach(b);
	close(fd);
}

Test(shm_stats, refuses_a_memfd_that_is_not_a_stats_block)
{
	struct mm_stats_block *s;
	int fd = memfd_create("x", MFD_CLOEXEC);

	cr_assert_eq(ftruncate(fd, MM_STATS_SIZE), 0);
	cr_expect_eq(mm_shm_stats_attach(fd, &s), -EPROTO, "unsealed");
	close(fd);
}

/* One attachment as the worker, one as the supervisor, as in the daemon. */
static void two_maps(struct mm_stats_block **w, struct mm_stats_block **r, int *fd)
{
	cr_assert_eq(mm_shm_stats_create("s", fd), 0);
	cr_assert_eq(mm_shm_stats_attach(*fd, w), 0);
	cr_assert_eq(mm_shm_stats_attach(*fd, r), 0);
}

static void done_maps(struct mm_stats_block *w, struct mm_stats_block *r, int fd)
{
	mm_shm_stats_detach(w);
	mm_shm_stats_detach(r);
	close(fd);
}

static void push(struct mm_stats_block *w, uint16_t kind, int32_t code, const char *text)
{
	struct mm_stats_event e = { .time_ns = 1000u + (uint64_t)code,
				    .kind = kind,
				    .code = code,
				    .attempt = 7,
				    .delay_ms = 1500,
				    .broker = 1,
				    .text_len = (uint16_t)strlen(text) };

	memcpy(e.text, text, strlen(text) < sizeof(e.text) ? strlen(text) : sizeof(e.text));
	mm_shm_stats_event_push(w, &e);
}

Test(shm_stats, event_log_in_order_with_every_field)
{
	struct mm_stats_block *w, *r;
	struct mm_stats_evcursor cur = { 0 };
	struct mm_stats_event e;
	int fd;

	two_maps(&w, &r, &fd);
	cr_expect_eq(mm_shm_stats_event_next(r, &cur, &e), 0, "empty log");
	push(w, 1, 10, "first");
	push(w, 2, 11, "");
	cr_assert_eq(mm_shm_stats_event_next(r, &cur, &e), 1);
	cr_expect_eq(atomic_load(&e.seq), 1);
	cr_expect_eq(e.kind, 1);
	cr_expect_eq(e.code, 10);
	cr_expect_eq(e.time_ns, 1010);
	cr_expect_eq(e.attempt, 7);
	cr_expect_eq(e.delay_ms, 1500);
	cr_expect_eq(e.broker, 1);
	cr_expect_str_eq(e.text, "first");
	cr_assert_eq(mm_shm_stats_event_next(r, &cur, &e), 1);
	cr_expect_eq(atomic_load(&e.seq), 2);
	cr_expect_str_eq(e.text, "");
	cr_expect_eq(mm_shm_stats_event_next(r, &cur, &e), 0);
	cr_expect_eq(cur.missed, 0);
	cr_expect_eq(cur.bad, 0);
	done_maps(w, r, fd);
}

Test(shm_stats, event_log_wraps_and_counts_what_a_slow_reader_missed)
{
	struct mm_stats_block *w, *r;
	struct mm_stats_evcursor cur = { 0 };
	struct mm_stats_event e;
	char text[32];
	int fd, n = 0;

	two_maps(&w, &r, &fd);
	push(w, 0, 0, "seen");
	cr_assert_eq(mm_shm_stats_event_next(r, &cur, &e), 1);
	for (int i = 1; i <= 3 * (int)MM_STATS_EV_N + 5; i++) {
		snprintf(text, sizeof(text), "e%d", i);
		push(w, 0, i, text);
	}
	/* 3N+5 written since; the last N are still there. */
	while (mm_shm_stats_event_next(r, &cur, &e) == 1) {
		snprintf(text, sizeof(text), "e%d", 2 * (int)MM_STATS_EV_N + 6 + n);
		cr_expect_str_eq(e.text, text);
		n++;
	}
	cr_expect_eq(n, MM_STATS_EV_N);
	cr_expect_eq(cur.missed, 2 * MM_STATS_EV_N + 5);
	cr_expect_eq(atomic_load(&r->ev_head), 3 * MM_STATS_EV_N + 6);
	done_maps(w, r, fd);
}

Test(shm_stats, event_log_survives_garbage_from_a_hostile_worker)
{
	struct mm_stats_block *w, *r;
	struct mm_stats_evcursor cur = { 0 };
	struct mm_stats_event e;
	int fd;

	two_maps(&w, &r, &fd);
	push(w, 3, 0, "ok");
	w->events[0].text_len = 60000; /* longer than an entry */
	memset(w->events[0].text, 'x', sizeof(w->events[0].text));
	cr_assert_eq(mm_shm_stats_event_next(r, &cur, &e), 1);
	cr_expect_eq(e.text_len, MM_STATS_EV_TEXT_MAX);
	cr_expect_eq(strlen(e.text), MM_STATS_EV_TEXT_MAX);

	push(w, MM_STATS_EV_KIND_MAX, 0, "bad kind");
	push(w, 2, 0, "after");
	cr_assert_eq(mm_shm_stats_event_next(r, &cur, &e), 1);
	cr_expect_str_eq(e.text, "after");
	cr_expect_eq(cur.bad, 1);

	/* A slot whose seq does not match the head (torn or forged) is missed, not returned. */
	push(w, 2, 0, "forged");
	atomic_store(&w->events[3].seq, 99);
	cr_expect_eq(mm_shm_stats_event_next(r, &cur, &e), 0);
	cr_expect_eq(cur.missed, 1);

	/* The head going backwards moves the cursor back; a huge head is refused. */
	atomic_store(&w->ev_head, 1);
	cr_expect_eq(mm_shm_stats_event_next(r, &cur, &e), 0);
	cr_expect_eq(cur.next, 2);
	atomic_store(&w->ev_head, UINT64_MAX);
	cr_expect_eq(mm_shm_stats_event_next(r, &cur, &e), 0);
	cr_expect_eq(cur.bad, 2);
	done_maps(w, r, fd);
}

Test(shm_stats, event_push_clamps_a_long_text)
{
	struct mm_stats_block *w, *r;
	struct mm_stats_evcursor cur = { 0 };
	struct mm_stats_event in = { .kind = 1, .text_len = 1000 }, e;
	int fd;

	two_maps(&w, &r, &fd);
	memset(in.text, 'a', sizeof(in.text));
	mm_shm_stats_event_push(w, &in);
	cr_expect_eq(w->events[0].text_len, MM_STATS_EV_TEXT_MAX);
	cr_assert_eq(mm_shm_stats_event_next(r, &cur, &e), 1);
	cr_expect_eq(strlen(e.text), MM_STATS_EV_TEXT_MAX);
	done_maps(w, r, fd);
}
