/* SPDX-License-Identifier: MIT */
/*
 * The supervisor's timers: a binary min-heap of (deadline, id), one entry per id at most, with
 * an index from id to heap slot so that a deadline moves in O(log n). The loop keeps one entry
 * per child (id 0: the router, i + 1: children[i]) at the deadline its state machine wants
 * (start, backoff, stop escalation, hung check), so a wake-up costs the timers that are due,
 * not a scan of every child. Pure data structure: no clock, no logging.
 *
 * Process code of mqttmuxd (single-threaded).
 */
#ifndef MM_SUP_TIMER_H
#define MM_SUP_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mm_sup_timer_ent {
	uint64_t at; /* deadline, CLOCK_MONOTONIC ns; never 0 */
	uint32_t id;
};

struct mm_sup_timers {
	struct mm_sup_timer_ent *heap;
	size_t n, cap;
	uint32_t *slot; /* id -> heap index + 1; 0: no entry */
	size_t n_slot;
};

int mm_sup_timers_set(struct mm_sup_timers *t, uint32_t id, uint64_t at);
bool mm_sup_timers_first(const struct mm_sup_timers *t, uint64_t *ret_at, uint32_t *ret_id);
void mm_sup_timers_clear(struct mm_sup_timers *t);
void mm_sup_timers_free(struct mm_sup_timers *t);

#endif /* MM_SUP_TIMER_H */
