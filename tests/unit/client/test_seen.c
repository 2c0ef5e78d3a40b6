/* SPDX-License-Identifier: MIT */
/*
 * DELIVER deduplication (shm/client/client_seen.c): what a restarted router delivers again
 * (seq <= the last accepted of that session name) is dropped; sessions are told apart by
 * name, not by index, which changes when sessions are added or removed.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "client_int.h"

static struct mm_cl_seen_tab T;

static void fini(void)
{
	mm_cl_seen_done(&T);
}

TestSuite(client_seen, .fini = fini, .timeout = 10);

static bool fresh(const char *name, uint32_t idx, uint64_t seq)
{
	return mm_cl_seen_fresh(&T, (const uint8_t *)name, strlen(name), idx, seq);
}

Test(client_seen, first_of_a_session_is_fresh_even_at_seq_0)
{
	cr_expect(fresh("a", 0, 0));
	cr_expect(fresh("b", 1, 7));
	cr_expect_not(fresh("a", 0, 0), "the same seq again");
}

Test(client_seen, drops_a_replayed_batch_and_keeps_what_follows)
{
	for (uint64_t s = 100; s < 200; s += 10)
		cr_expect(fresh("a", 0, s));
	/* a new router starts one batch back */
	for (uint64_t s = 150; s < 200; s += 10)
		cr_expect_not(fresh("a", 0, s), "seq %llu delivered twice", (unsigned long long)s);
	cr_expect(fresh("a", 0, 200));
	cr_expect_not(fresh("a", 0, 200));
	cr_expect(fresh("a", 0, 1000), "gaps in seq are normal");
}

Test(client_seen, keys_by_name_when_indexes_move)
{
	cr_expect(fresh("a", 0, 50));
	cr_expect(fresh("b", 1, 50));
	/* a session was added before them: a is now 1, b is 2 */
	cr_expect_not(fresh("a", 1, 50));
	cr_expect_not(fresh("b", 2, 40));
	cr_expect(fresh("b", 2, 60));
	cr_expect(fresh("c", 0, 10), "the new session has its own sequence");
	cr_expect_not(fresh("a", 1, 49));
	cr_expect(fresh("a", 1, 51));
}

Test(client_seen, many_sessions_sharing_cache_slots)
{
	char name[16];

	for (uint32_t i = 0; i < 3 * MM_CL_SEEN_HINTS; i++) {
		snprintf(name, sizeof(name), "s%u", i);
		cr_expect(fresh(name, i, 5));
	}
	for (uint32_t i = 0; i < 3 * MM_CL_SEEN_HINTS; i++) {
		snprintf(name, sizeof(name), "s%u", i);
		cr_expect_not(fresh(name, i, 5), "%s", name);
		cr_expect(fresh(name, (i + 7) % 5, 6), "%s under another index", name);
	}
	cr_expect_eq(T.n, 3 * MM_CL_SEEN_HINTS);
}

Test(client_seen, names_differ_by_length_not_only_bytes)
{
	cr_expect(fresh("ab", 0, 10));
	cr_expect(fresh("a", 0, 5), "a prefix of another name is another session");
	cr_expect_not(fresh("ab", 0, 10));
}
