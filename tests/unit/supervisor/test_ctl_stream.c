/* SPDX-License-Identifier: MIT */
/*
 * The `events` stream of one control connection (mm_sup_ctl_stream): lines queue up to
 * MM_CTL_EVENTS_BUF unsent bytes, the rest is counted and reported as one events_lost line
 * before the next line that fits; bytes already sent never count against the bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "sup.h"

#define LINE "{\"type\":\"session_ready\",\"session\":\"s\"}\n"

static struct mm_ctl_conn *conn_new(void)
{
	struct mm_ctl_conn *c = calloc(1, sizeof(*c));

	cr_assert_not_null(c);
	c->fd = -1;
	c->events = true;
	return c;
}

static void conn_free(struct mm_ctl_conn *c)
{
	free(c->out);
	free(c);
}

/* Stream LINE until the buffer refuses <extra> of them; returns how many were queued. */
static size_t fill(struct mm_ctl_conn *c, size_t extra)
{
	size_t queued = 0;

	while (c->events_lost < extra) {
		mm_sup_ctl_stream(c, LINE, strlen(LINE));
		queued += c->events_lost == 0;
	}
	return queued;
}

Test(sup_ctl_stream, lines_queue_in_order)
{
	struct mm_ctl_conn *c = conn_new();

	mm_sup_ctl_stream(c, "a\n", 2);
	mm_sup_ctl_stream(c, "b\n", 2);
	cr_assert_eq(c->out_len, 4);
	cr_expect_eq(memcmp(c->out, "a\nb\n", 4), 0);
	cr_expect_eq(c->events_lost, 0);
	conn_free(c);
}

Test(sup_ctl_stream, a_full_buffer_counts_and_then_reports_the_lost_lines)
{
	struct mm_ctl_conn *c = conn_new();
	size_t queued = fill(c, 5);
	char lost[64];
	int n;

	cr_expect_eq(queued, MM_CTL_EVENTS_BUF / strlen(LINE));
	cr_expect_leq(c->out_len, MM_CTL_EVENTS_BUF);
	/* The reader takes everything: the count comes first, then the new line. */
	c->out_off = c->out_len;
	mm_sup_ctl_stream(c, "x\n", 2);
	n = snprintf(lost, sizeof(lost), "{\"type\":\"events_lost\",\"count\":5}\n");
	cr_assert_eq(c->out_off, 0, "the sent part is dropped from the buffer");
	cr_assert_eq(c->out_len, (size_t)n + 2);
	cr_expect_eq(memcmp(c->out, lost, (size_t)n), 0, "%.*s", (int)c->out_len, c->out);
	cr_expect_eq(memcmp(c->out + n, "x\n", 2), 0);
	cr_expect_eq(c->events_lost, 0);
	conn_free(c);
}

Test(sup_ctl_stream, the_unsent_part_stays_bounded_under_a_steady_stream)
{
	struct mm_ctl_conn *c = conn_new();

	/* A reader that takes half of what is queued each round never grows the buffer. */
	for (int round = 0; round < 50; round++) {
		(void)fill(c, 1);
		cr_assert_leq(c->out_len - c->out_off, MM_CTL_EVENTS_BUF);
		cr_assert_leq(c->out_cap, 2 * MM_CTL_EVENTS_BUF);
		c->out_off += (c->out_len - c->out_off) / 2;
		c->events_lost = 0;
	}
	conn_free(c);
}

/*
 * A reader that takes one line for each new one, with the buffer full: every line must not
 * move the whole unsent part (that is quadratic: 256 KiB copied per 43-byte line), and the
 * buffer must not be reallocated per line. 200,000 lines run in well under a second when each
 * byte is copied a bounded number of times.
 */
Test(sup_ctl_stream, a_reader_that_takes_little_at_a_time_costs_linear_copying)
{
	struct mm_ctl_conn *c = conn_new();
	size_t grows = 0, cap = 0;

	(void)fill(c, 1);
	c->events_lost = 0;
	for (int i = 0; i < 200000; i++) {
		c->out_off += strlen(LINE);
		mm_sup_ctl_stream(c, LINE, strlen(LINE));
		cr_assert_eq(c->events_lost, 0, "line %d was refused", i);
		grows += c->out_cap != cap;
		cap = c->out_cap;
		cr_assert_leq(c->out_len - c->out_off, MM_CTL_EVENTS_BUF);
	}
	cr_expect_leq(c->out_cap, 2 * MM_CTL_EVENTS_BUF);
	cr_expect_leq(grows, 1, "the buffer grew %zu times in the steady state", grows);
	conn_free(c);
}
