/* SPDX-License-Identifier: MIT */
/* The stats block: created sealed, attached by two mappings that see the same counters. */
#include <errno.h>
#include <stdatomic.h>
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
