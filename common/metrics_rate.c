/* SPDX-License-Identifier: MIT */
/* The sliding-window rate helper of metrics.h: a counter sampled over time, as a rate. */
#include <errno.h>

#include "metrics.h"

void mm_metrics_rate_init(struct mm_metrics_rate *r, double window_s, double now_s,
			  uint64_t counter)
{
	*r = (struct mm_metrics_rate){ .n = 1, .window = window_s, .t0 = now_s, .v0 = counter };
	r->t[0] = now_s;
	r->v[0] = counter;
}

static unsigned rate_idx(const struct mm_metrics_rate *r, unsigned back)
{
	return (r->head + MM_METRICS_RATE_SLOTS - back) % MM_METRICS_RATE_SLOTS;
}

/* Returns 0, or -EINVAL (sample older than the newest one: ignored). */
int mm_metrics_rate_push(struct mm_metrics_rate *r, double now_s, uint64_t counter)
{
	double spacing = r->window / (MM_METRICS_RATE_SLOTS - 2);

	if (now_s < r->t[r->head])
		return -EINVAL;
	/*
	 * The newest sample stays only once it is >= spacing after the one before it, else the new
	 * one replaces it: kept samples are >= spacing apart, so SLOTS of them span the window
	 * however often callers push.
	 */
	if (r->n < 2 || r->t[r->head] - r->t[rate_idx(r, 1)] >= spacing) {
		r->head = rate_idx(r, MM_METRICS_RATE_SLOTS - 1);
		if (r->n < MM_METRICS_RATE_SLOTS)
			r->n++;
	}
	r->t[r->head] = now_s;
	r->v[r->head] = counter;
	return 0;
}

static double rate_between(double t1, uint64_t v1, double t2, uint64_t v2)
{
	if (t2 <= t1 || v2 < v1)
		return 0.0;
	return (double)(v2 - v1) / (t2 - t1);
}

double mm_metrics_rate_current(const struct mm_metrics_rate *r)
{
	double tn = r->t[r->head];
	unsigned base = r->n - 1;

	/* the newest sample at or before the window's start, else the oldest one kept */
	for (unsigned back = 1; back < r->n; back++)
		if (r->t[rate_idx(r, back)] <= tn - r->window) {
			base = back;
			break;
		}
	base = rate_idx(r, base);
	return rate_between(r->t[base], r->v[base], tn, r->v[r->head]);
}

double mm_metrics_rate_average(const struct mm_metrics_rate *r)
{
	return rate_between(r->t0, r->v0, r->t[r->head], r->v[r->head]);
}
