/* SPDX-License-Identifier: MIT */
/*
 * The router stats block: created sealed, shared by two mappings, refused when it is not one,
 * the latency buckets at their edges, and the client seqlock: a reader racing a writer thread
 * only ever sees matched == delivered + dropped + queued.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "rstats.h"

Test(shm_rstats, two_attachments_share_counters_and_the_size_is_sealed)
{
	struct mm_rstats_block *a, *b;
	int fd;

	cr_assert_eq(mm_shm_rstats_create("r", &fd), 0);
	cr_assert_eq(mm_shm_rstats_attach(fd, &a), 0);
	cr_assert_eq(mm_shm_rstats_attach(fd, &b), 0);
	cr_expect_eq(a->max_clients, MM_RSTATS_MAX_CLIENTS);
	atomic_fetch_add(&a->msgs_in, 7);
	atomic_fetch_add(&a->clients[127].gaps, 2);
	cr_expect_eq(atomic_load(&b->msgs_in), 7);
	cr_expect_eq(atomic_load(&b->clients[127].gaps), 2);
	cr_expect_eq(ftruncate(fd, 8192), -1);
	mm_shm_rstats_detach(a);
	mm_shm_rstats_detach(b);
	mm_shm_rstats_detach(NULL);
	close(fd);
}

Test(shm_rstats, refuses_what_is_not_a_router_stats_block)
{
	struct mm_rstats_block *b;
	int fd = memfd_create("x", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	cr_assert_eq(ftruncate(fd, MM_RSTATS_SIZE), 0);
	cr_expect_eq(mm_shm_rstats_attach(fd, &b), -EPROTO, "unsealed");
	cr_assert_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	cr_expect_eq(mm_shm_rstats_attach(fd, &b), -EPROTO, "no magic");
	close(fd);
	cr_expect_eq(mm_shm_rstats_attach(-1, &b), -EBADF);
}

Test(shm_rstats, latency_buckets_hold_their_upper_bound)
{
	cr_expect_eq(mm_rstats_lat_bucket(0), 0);
	cr_expect_eq(mm_rstats_lat_bucket(1000), 0);
	cr_expect_eq(mm_rstats_lat_bucket(1001), 1);
	cr_expect_eq(mm_rstats_lat_bucket(2000), 1);
	cr_expect_eq(mm_rstats_lat_bucket(2001), 2);
	for (unsigned k = 1; k < MM_RSTATS_LAT_BUCKETS; k++) {
		cr_expect_eq(mm_rstats_lat_bucket(1000ull << k), k, "bound of %u", k);
		cr_expect_eq(mm_rstats_lat_bucket((1000ull << k) + 1), k + 1, "above %u", k);
	}
	cr_expect_eq(mm_rstats_lat_bucket(UINT64_MAX), MM_RSTATS_LAT_BUCKETS);
}

Test(shm_rstats, latency_add_counts_sum_and_overflow)
{
	static struct mm_rstats_block b;

	mm_rstats_lat_add(&b, 1500);
	mm_rstats_lat_add(&b, 1500);
	mm_rstats_lat_add(&b, 10000000000ull);
	cr_expect_eq(atomic_load(&b.lat[1]), 2);
	cr_expect_eq(atomic_load(&b.lat_overflow), 1);
	cr_expect_eq(atomic_load(&b.lat_count), 3);
	cr_expect_eq(atomic_load(&b.lat_sum_ns), 10000003000ull);
}

Test(shm_rstats, read_copies_a_slot_and_truncates_the_name)
{
	static struct mm_rstats_block b;
	struct mm_rstats_client_snap s;
	char longname[100];

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	mm_rstats_client_begin(&b.clients[3]);
	atomic_store(&b.clients[3].state, MM_RSTATS_CONNECTED);
	atomic_store(&b.clients[3].pid, 42);
	mm_rstats_client_set_name(&b.clients[3], longname);
	mm_rstats_client_end(&b.clients[3]);
	cr_assert_eq(mm_rstats_client_read(&b, 3, &s), 0);
	cr_expect_eq(s.state, MM_RSTATS_CONNECTED);
	cr_expect_eq(s.pid, 42);
	cr_expect_eq(strlen(s.name), MM_RSTATS_NAME_MAX - 1);
	cr_expect_eq(atomic_load(&b.clients[3].seq), 2);
	cr_expect_eq(mm_rstats_client_read(&b, MM_RSTATS_MAX_CLIENTS, &s), -EINVAL);
	cr_expect_str_eq(mm_rstats_client_state_to_string(MM_RSTATS_GONE), "gone");
	cr_expect_str_eq(mm_rstats_client_state_to_string(9), "unknown");
}

Test(shm_rstats, a_slot_left_open_is_busy_until_a_writer_ends_it)
{
	static struct mm_rstats_block b;
	struct mm_rstats_client_snap s;

	mm_rstats_client_begin(&b.clients[0]);
	cr_expect_eq(mm_rstats_client_read(&b, 0, &s), -EAGAIN);
	mm_rstats_client_end(&b.clients[0]);
	cr_expect_eq(mm_rstats_client_read(&b, 0, &s), 0);
}

#define WRITES 200000

static void *writer(void *arg)
{
	struct mm_rstats_client *c = arg;

	for (uint64_t i = 1; i <= WRITES; i++) {
		mm_rstats_client_begin(c);
		/* move one message at a time through queued, like a blocking route */
		atomic_store_explicit(&c->matched, i, memory_order_relaxed);
		atomic_store_explicit(&c->queued, 1, memory_order_relaxed);
		mm_rstats_client_end(c);
		mm_rstats_client_begin(c);
		atomic_store_explicit(&c->queued, 0, memory_order_relaxed);
		if (i % 3)
			atomic_fetch_add_explicit(&c->delivered, 1, memory_order_relaxed);
		else
			atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
		mm_rstats_client_end(c);
	}
	return NULL;
}

Test(shm_rstats, readers_racing_the_writer_see_the_invariant)
{
	static struct mm_rstats_block b;
	struct mm_rstats_client_snap s;
	uint64_t last = 0, reads = 0;
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, writer, &b.clients[5]), 0);
	for (bool done = false; !done;) {
		if (mm_rstats_client_read(&b, 5, &s) < 0)
			continue;
		reads++;
		cr_assert_eq(s.matched, s.delivered + s.dropped + s.queued,
			     "matched %lu delivered %lu dropped %lu queued %lu", s.matched,
			     s.delivered, s.dropped, s.queued);
		cr_assert_geq(s.matched, last, "matched went down");
		last = s.matched;
		done = s.matched == WRITES && s.queued == 0;
	}
	pthread_join(t, NULL);
	cr_expect_gt(reads, 0);
}
