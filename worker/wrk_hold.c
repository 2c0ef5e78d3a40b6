/* SPDX-License-Identifier: MIT */
/*
 * performance.latency_budget_us (issue 14; default 0, off): coalescing for users who trade
 * latency for CPU. At everyday rates each message wakes the worker, then the router, then the
 * client. With a budget, a worker that just read messages sleeps out the rest of the budget
 * before it looks at its sockets again, then takes what arrived meanwhile in one turn: one
 * commit per window, so the router and the client also wake once per window, not once per
 * message. What this adds to a message's way (and to a command, a timer or a signal, which
 * wait as well) is at most the budget.
 *
 * Holding only pays when a window gathers two messages or more: a turn that read two or more,
 * or one that came within half a budget of the previous read turn. A slower stream is not
 * held: there a hold would add a wake-up, not save one (bench-paced at 1,000 msg/s with a
 * 1,000 us budget and a whole budget as the bar: 1.26 worker wake-ups per message, not 0.74). A
 * process that runs a group of sessions holds only if every session has a budget, and by the
 * smallest.
 */
#include <errno.h>
#include <time.h>

#include "mm_time.h"
#include "wrk.h"

void mm_wrk_hold_init(struct mm_wrk_proc *p)
{
	uint64_t b = UINT64_MAX;

	for (uint32_t i = 0; i < p->n; i++) {
		uint64_t x = (uint64_t)p->sess[i]->cfg->perf.latency_budget_us * 1000u;

		b = x < b ? x : b;
	}
	p->hold_ns = p->n && b != UINT64_MAX ? b : 0;
	p->last_read_ns = 0;
}

/* Messages the process's sessions have read so far. */
uint64_t mm_wrk_hold_mark(const struct mm_wrk_proc *p)
{
	uint64_t n = 0;

	if (!p->hold_ns)
		return 0;
	for (uint32_t i = 0; i < p->n; i++)
		n += p->sess[i]->n_on_message;
	return n;
}

void mm_wrk_hold(struct mm_wrk_proc *p, uint64_t woke_ns, uint64_t mark)
{
	uint64_t read = mm_wrk_hold_mark(p) - mark, last = p->last_read_ns, until;
	struct timespec ts;

	if (!p->hold_ns || p->stopping || read == 0)
		return;
	p->last_read_ns = woke_ns;
	if (read < 2 && (last == 0 || woke_ns - last >= p->hold_ns / 2))
		return; /* a slow stream: nothing to gather */
	/* this turn's messages go to the router now, not after the hold */
	mm_wrk_bells(p, true);
	until = woke_ns + p->hold_ns;
	ts.tv_sec = (time_t)(until / MM_NS_PER_SEC);
	ts.tv_nsec = (long)(until % MM_NS_PER_SEC);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}
