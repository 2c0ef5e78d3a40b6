/* SPDX-License-Identifier: MIT */
/*
 * Small helpers for every test suite: monotonic time, waiting on a condition with a deadline
 * (never a bare sleep), and private temporary directories.
 */
#ifndef T_HELPERS_H
#define T_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint64_t t_now_ns(void);

/*
 * Call <cond>(<ud>) until it returns true or <timeout_ms> pass, backing off from 100 us to
 * 10 ms between calls. Returns true if the condition held before the deadline.
 */
bool t_wait_for(bool (*cond)(void *ud), void *ud, int timeout_ms);

/* mkdtemp under $TMPDIR (or /tmp) with <tag> in the name; returns a malloc'd path or NULL. */
char *t_tmpdir(const char *tag);

/* rm -rf <path>, for a directory made by t_tmpdir. Ignores errors. */
void t_rmtree(const char *path);

/* xorshift64* pseudo-random numbers, reproducible from a seed. */
static inline uint64_t t_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

#endif /* T_HELPERS_H */
