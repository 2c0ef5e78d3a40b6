/* SPDX-License-Identifier: MIT */
/*
 * The supervisor's timer heap (see sup_timer.h): a textbook binary min-heap ordered by deadline,
 * ties broken by id so that the order is deterministic, plus the id -> slot index kept in step
 * with every move.
 */
#include "sup_timer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool before(const struct mm_sup_timer_ent *a, const struct mm_sup_timer_ent *b)
{
	return a->at < b->at || (a->at == b->at && a->id < b->id);
}

static void place(struct mm_sup_timers *t, size_t i, struct mm_sup_timer_ent e)
{
	t->heap[i] = e;
	t->slot[e.id] = (uint32_t)i + 1;
}

static void sift_up(struct mm_sup_timers *t, size_t i)
{
	struct mm_sup_timer_ent e = t->heap[i];

	while (i > 0 && before(&e, &t->heap[(i - 1) / 2])) {
		place(t, i, t->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	place(t, i, e);
}

static void sift_down(struct mm_sup_timers *t, size_t i)
{
	struct mm_sup_timer_ent e = t->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= t->n)
			break;
		if (c + 1 < t->n && before(&t->heap[c + 1], &t->heap[c]))
			c++;
		if (!before(&t->heap[c], &e))
			break;
		place(t, i, t->heap[c]);
		i = c;
	}
	place(t, i, e);
}

static void remove_at(struct mm_sup_timers *t, size_t i)
{
	struct mm_sup_timer_ent last;

	t->slot[t->heap[i].id] = 0;
	if (i == --t->n)
		return;
	last = t->heap[t->n];
	place(t, i, last);
	sift_down(t, i);
	sift_up(t, t->slot[last.id] - 1);
}

static int reserve(struct mm_sup_timers *t, uint32_t id)
{
	if (id >= t->n_slot) {
		size_t n = (size_t)id * 2 + 16;
		uint32_t *s = reallocarray(t->slot, n, sizeof(*s));

		if (!s)
			return -ENOMEM;
		memset(s + t->n_slot, 0, (n - t->n_slot) * sizeof(*s));
		t->slot = s;
		t->n_slot = n;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		struct mm_sup_timer_ent *h = reallocarray(t->heap, cap, sizeof(*h));

		if (!h)
			return -ENOMEM;
		t->heap = h;
		t->cap = cap;
	}
	return 0;
}

/*
 * Set the deadline of <id> to <at> (CLOCK_MONOTONIC ns), replacing the one it had; <at> 0
 * removes it. Returns 0 or -ENOMEM (the entry is then unchanged).
 */
int mm_sup_timers_set(struct mm_sup_timers *t, uint32_t id, uint64_t at)
{
	size_t i;
	int r;

	if (id < t->n_slot && t->slot[id]) {
		i = t->slot[id] - 1;
		if (!at) {
			remove_at(t, i);
			return 0;
		}
		t->heap[i].at = at;
		sift_up(t, i);
		sift_down(t, t->slot[id] - 1);
		return 0;
	}
	if (!at)
		return 0;
	r = reserve(t, id);
	if (r < 0)
		return r;
	place(t, t->n, (struct mm_sup_timer_ent){ .at = at, .id = id });
	sift_up(t, t->n++);
	return 0;
}

/* The earliest entry, if any: true with *ret_at and *ret_id set (either may be NULL). */
bool mm_sup_timers_first(const struct mm_sup_timers *t, uint64_t *ret_at, uint32_t *ret_id)
{
	if (!t->n)
		return false;
	if (ret_at)
		*ret_at = t->heap[0].at;
	if (ret_id)
		*ret_id = t->heap[0].id;
	return true;
}

/* Remove every entry (keeps the memory). */
void mm_sup_timers_clear(struct mm_sup_timers *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->slot[t->heap[i].id] = 0;
	t->n = 0;
}

void mm_sup_timers_free(struct mm_sup_timers *t)
{
	free(t->heap);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}
