/* SPDX-License-Identifier: MIT */
/*
 * The one home of the clock helpers every process, the client library, the CLI, the tests and
 * the benchmarks use: a clock read as nanoseconds or milliseconds, and the milliseconds left
 * until a deadline in the form poll() takes. Header-only (static inline), so that code which
 * links no libmm-common (the CLI, tests, benchmarks) includes the same definitions.
 *
 * Monotonic time measures intervals and deadlines; realtime stamps what a user reads (event
 * times, message receive times). The file is named mm_time.h, not time.h, so that it never
 * shadows <time.h> on the include path.
 */
#ifndef MM_TIME_H
#define MM_TIME_H

#include <stdint.h>
#include <time.h>

#define MM_NS_PER_SEC 1000000000ull
#define MM_NS_PER_MS  1000000ull

/* <ts> as nanoseconds; a timespec from clock_gettime() is never negative. */
static inline uint64_t mm_time_ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * MM_NS_PER_SEC + (uint64_t)ts->tv_nsec;
}

/* <ns> as a timespec, for nanosleep, clock_nanosleep and timers. */
static inline struct timespec mm_time_ns_ts(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / MM_NS_PER_SEC),
				  .tv_nsec = (long)(ns % MM_NS_PER_SEC) };
}

/* Clock <id> in nanoseconds. The clocks we use cannot fail with a valid id. */
static inline uint64_t mm_time_ns(clockid_t id)
{
	struct timespec ts;

	(void)clock_gettime(id, &ts);
	return mm_time_ts_ns(&ts);
}

/* CLOCK_MONOTONIC in nanoseconds: intervals, deadlines, heartbeats. */
static inline uint64_t mm_time_mono_ns(void)
{
	return mm_time_ns(CLOCK_MONOTONIC);
}

/* CLOCK_REALTIME in nanoseconds since the epoch: times a user reads. */
static inline uint64_t mm_time_real_ns(void)
{
	return mm_time_ns(CLOCK_REALTIME);
}

/* CLOCK_MONOTONIC in milliseconds, for poll-sized deadlines. */
static inline int64_t mm_time_mono_ms(void)
{
	return (int64_t)(mm_time_mono_ns() / MM_NS_PER_MS);
}

/*
 * Milliseconds left until <deadline_ms> (a mm_time_mono_ms() value; -1: no deadline), in the
 * form poll() takes: -1 for none, else 0..INT32_MAX (0 once the deadline has passed).
 */
static inline int mm_time_left_ms(int64_t deadline_ms)
{
	int64_t left;

	if (deadline_ms < 0)
		return -1;
	left = deadline_ms - mm_time_mono_ms();
	return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

#endif /* MM_TIME_H */
