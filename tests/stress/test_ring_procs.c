/* SPDX-License-Identifier: MIT */
/*
 * The ring across real processes: a forked producer streaming ten million self-checking
 * records through sleeping doorbells, and a thousand producers killed with SIGKILL at random
 * moments while a consumer reads, each followed by a new producer on the same ring.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "ring.h"
#include "t_helpers.h"
#include "t_records.h"

#define CAP	  (64u * 1024)
#define MAX_LEN	  4000u
#define N_RECORDS 10000000ull

struct ring_fds {
	int fd, efd_data, efd_space;
};

static struct ring_fds F;

static void open_ring(void)
{
	cr_assert_eq(mm_shm_ring_create("procs", CAP, 1, &F.fd), 0);
	F.efd_data = mm_shm_ring_doorbell_open();
	F.efd_space = mm_shm_ring_doorbell_open();
	cr_assert_geq(F.efd_data, 0);
	cr_assert_geq(F.efd_space, 0);
}

static void close_ring(void)
{
	close(F.fd);
	close(F.efd_data);
	close(F.efd_space);
}

TestSuite(shm_ring_procs, .init = open_ring, .fini = close_ring, .timeout = 240);

static void attach(struct mm_shm_ring *r, enum mm_shm_ring_role role)
{
	char why[MM_SHM_RING_WHY_MAX] = "";

	cr_assert_eq(mm_shm_ring_attach(r, F.fd, role, F.efd_data, F.efd_space, why, sizeof(why)),
		     0, "%s", why);
}

/* Child: produce <n> records (or forever if 0) as incarnation <inc>; never returns. */
static __attribute__((noreturn)) void producer(uint32_t inc, uint64_t n, unsigned batch)
{
	struct mm_shm_ring r;

	if (mm_shm_ring_attach(&r, F.fd, MM_SHM_RING_PRODUCER, F.efd_data, F.efd_space, NULL, 0))
		_exit(2);
	for (uint64_t seq = 0; n == 0 || seq < n; seq++)
		if (t_rec_push(&r, inc, seq, MAX_LEN, batch) < 0)
			_exit(3);
	mm_shm_ring_commit(&r);
	_exit(0);
}

static pid_t spawn_producer(uint32_t inc, uint64_t n, unsigned batch)
{
	pid_t pid = fork();

	cr_assert_neq(pid, -1);
	if (pid == 0)
		producer(inc, n, batch);
	return pid;
}

/* Consume one record and check it continues (inc, *next). Returns 1, 0 if empty, or fails. */
static int consume_one(struct mm_shm_ring *r, uint32_t inc, uint64_t *next)
{
	struct mm_shm_rec rec;
	struct t_rec_head h;
	const char *bad;
	int rc = mm_shm_ring_peek(r, &rec);

	cr_assert_geq(rc, 0, "peek: %s", strerror(-rc));
	if (rc == 0)
		return 0;
	bad = t_rec_check(&rec, &h);
	cr_assert_null(bad, "record %llu of incarnation %u: %s", (unsigned long long)*next, inc,
		       bad);
	cr_assert_eq(h.incarnation, inc, "stale incarnation %u, expected %u", h.incarnation, inc);
	cr_assert_eq(h.seq, *next, "got seq %llu, expected %llu", (unsigned long long)h.seq,
		     (unsigned long long)*next);
	cr_assert_eq(rec.len, t_rec_len(h.seq, MAX_LEN));
	mm_shm_ring_pop(r);
	(*next)++;
	return 1;
}

Test(shm_ring_procs, ten_million_records_cross_process_in_order)
{
	struct mm_shm_ring r;
	uint64_t next = 0, wakes = 0;
	int status;
	pid_t pid;

	attach(&r, MM_SHM_RING_CONSUMER);
	pid = spawn_producer(1, N_RECORDS, 16);
	while (next < N_RECORDS) {
		unsigned n = 0;

		while (n < 64 && consume_one(&r, 1, &next))
			n++;
		if (n == 0) {
			int rc = mm_shm_ring_wait_data(&r, 5000);

			cr_assert_eq(rc, 1, "no record for 5 s after %llu (rc %d)",
				     (unsigned long long)next, rc);
			wakes++;
		} else {
			mm_shm_ring_release(&r);
		}
	}
	mm_shm_ring_release(&r);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "producer status 0x%x", status);
	cr_assert_eq(mm_shm_ring_wait_data(&r, 0), 0, "nothing after the last record");
	cr_log_info("10M records, %llu consumer sleeps", (unsigned long long)wakes);
	mm_shm_ring_detach(&r);
}

/* Drain until the ring stays empty; the producer is dead, so empty means done. */
static void drain(struct mm_shm_ring *r, uint32_t inc, uint64_t *next)
{
	while (consume_one(r, inc, next))
		;
	mm_shm_ring_release(r);
}

Test(shm_ring_procs, producer_killed_a_thousand_times_leaves_no_torn_record)
{
	struct mm_shm_ring r;
	uint64_t seed = 0x5eed, total = 0, mid_stream = 0;

	attach(&r, MM_SHM_RING_CONSUMER);
	for (uint32_t inc = 1; inc <= 1000; inc++) {
		/* Kill after a random number of records plus a random few microseconds. */
		uint64_t next = 0, want = t_rand(&seed) % 3000,
			 give_up = t_now_ns() + 5000000000ull;
		pid_t pid = spawn_producer(inc, 0, 1 + (unsigned)(t_rand(&seed) % 32));
		uint64_t until = 0;
		int status;

		while (until == 0 || t_now_ns() < until) {
			if (!consume_one(&r, inc, &next))
				mm_shm_ring_release(&r);
			if (until == 0 && next >= want)
				until = t_now_ns() + t_rand(&seed) % 200000;
			cr_assert_lt(t_now_ns(), give_up, "producer %u stalled at %llu", inc,
				     (unsigned long long)next);
		}
		cr_assert_eq(kill(pid, SIGKILL), 0);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFSIGNALED(status), "producer %u exited by itself: 0x%x", inc, status);
		drain(&r, inc, &next);
		mid_stream += next > want;
		total += next;
	}
	cr_log_info("1000 kills, %llu records verified", (unsigned long long)total);
	cr_assert_gt(mid_stream, 900, "most producers were killed mid-stream (%llu)",
		     (unsigned long long)mid_stream);
	mm_shm_ring_detach(&r);
}
