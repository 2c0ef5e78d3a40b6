/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the ring benchmark: the monotonic clock and pacing, CPU pinning, shared pages, the
 * forked producer process and its start signal, the self-checking message format, and the
 * latency percentiles. Nothing here measures; b_ring.c and b_sys.c do.
 */
#include "b_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Marks the last 8 bytes of a message: seq ^ B_TAIL, so a torn or stale message shows. */
#define B_TAIL 0x9e3779b97f4a7c15ull

/* What every message carries besides its head and tail: the bytes the producer copies in. */
static const uint8_t payload[B_MSG_MAX] = { 'm', 'q', 't', 't', 'm', 'u', 'x' };

/*
 * Wait until *next_ns (0: do not wait), then set it <period_ns> after the moment we woke up, so
 * that two messages are always at least a period apart even when a wake-up was late. Sleeps
 * with clock_nanosleep, or busy-waits when <spin>.
 */
void b_pace(uint64_t *next_ns, uint64_t period_ns, bool spin)
{
	struct timespec ts;
	uint64_t now = mm_time_mono_ns();

	if (now < *next_ns && spin) {
		while ((now = mm_time_mono_ns()) < *next_ns)
			;
	} else if (now < *next_ns) {
		ts.tv_sec = (time_t)(*next_ns / 1000000000ull);
		ts.tv_nsec = (long)(*next_ns % 1000000000ull);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		now = mm_time_mono_ns();
	}
	*next_ns = now + period_ns;
}

/* Run the calling process on <cpu> only. Returns 0 or -errno. */
int b_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == -1 ? -errno : 0;
}

/* A zeroed page-rounded MAP_SHARED anonymous mapping that a forked child shares, or NULL. */
void *b_shared_new(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Unmap what b_shared_new returned; NULL is a no-op. */
void b_shared_free(void *p, size_t size)
{
	if (p)
		(void)munmap(p, size);
}

/* Add one to the (blocking) eventfd <efd>. Returns 0 or -errno. */
int b_efd_signal(int efd)
{
	uint64_t one = 1;

	return write(efd, &one, sizeof(one)) == -1 ? -errno : 0;
}

/* Block until the eventfd <efd> is non-zero, and reset it. Returns 0 or -errno. */
int b_efd_wait(int efd)
{
	uint64_t v;

	return read(efd, &v, sizeof(v)) == -1 ? -errno : 0;
}

static __attribute__((noreturn)) void child_main(int go_fd, bool pin, b_child_fn *fn, void *arg)
{
	char c;

	/* A parent killed by its watchdog takes its producer with it. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(3);
	(void)prctl(PR_SET_TIMERSLACK, 1UL);
	if (pin && b_pin(0) < 0)
		_exit(4);
	if (read(go_fd, &c, 1) != 1)
		_exit(5);
	close(go_fd);
	_exit(fn(arg) < 0 ? 1 : 0);
}

/*
 * Fork a producer that runs <fn>(<arg>) once b_go is called, on CPU 0 if <pin>, and exits 0
 * if fn returned >= 0, else non-zero. The child shares every descriptor of the caller; each
 * side closes what it does not use. Returns 0 or -errno.
 */
int b_spawn(struct b_child *c, bool pin, b_child_fn *fn, void *arg)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -errno;
	pid = fork();
	if (pid == -1) {
		int r = -errno;

		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		close(p[1]);
		child_main(p[0], pin, fn, arg);
	}
	close(p[0]);
	c->pid = pid;
	c->go_fd = p[1];
	return 0;
}

/* Let the producer start. Returns 0 or -errno. */
int b_go(struct b_child *c)
{
	ssize_t n = write(c->go_fd, "g", 1);

	if (n != 1)
		return n == -1 ? -errno : -EIO;
	close(c->go_fd);
	c->go_fd = -1;
	return 0;
}

/* Wait for the producer (after SIGKILL if <kill_it>). Returns 0 if it exited 0, else -EIO. */
int b_reap(struct b_child *c, bool kill_it)
{
	int status;

	if (c->go_fd >= 0)
		close(c->go_fd);
	c->go_fd = -1;
	if (c->pid <= 0)
		return 0;
	if (kill_it)
		(void)kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &status, 0) == -1)
		if (errno != EINTR)
			return -errno;
	c->pid = 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* Now, and the CPU we run on (sched_getcpu reads it from rseq: no system call). */
struct b_stamp b_stamp_now(void)
{
	int cpu = sched_getcpu();

	return (struct b_stamp){ .ns = mm_time_mono_ns(), .cpu = cpu < 0 ? 0 : (uint32_t)cpu };
}

/*
 * Fill a message of <len> bytes (B_MSG_MIN..B_MSG_MAX): payload, then seq, the stamp <st>
 * (zeros if NULL) and the tail.
 */
void b_msg_fill(void *p, uint32_t len, uint64_t seq, const struct b_stamp *st)
{
	struct b_stamp zero = { 0 };
	uint64_t tail = seq ^ B_TAIL;
	uint8_t *b = p;

	if (!st)
		st = &zero;
	memcpy(b + 24, payload + 24, len - 32);
	memcpy(b, &seq, sizeof(seq));
	memcpy(b + 8, &st->ns, sizeof(st->ns));
	memcpy(b + 16, &st->cpu, sizeof(st->cpu));
	memcpy(b + len - 8, &tail, sizeof(tail));
}

/*
 * Check that the message of <len> bytes at <p> is number <seq> and complete (its tail
 * matches); return its stamp in *ret_st (may be NULL). Returns 0 or -EPROTO.
 */
int b_msg_check(const void *p, uint32_t len, uint64_t seq, struct b_stamp *ret_st)
{
	const uint8_t *b = p;
	uint64_t got, tail;

	memcpy(&got, b, sizeof(got));
	memcpy(&tail, b + len - 8, sizeof(tail));
	if (got != seq || tail != (seq ^ B_TAIL))
		return -EPROTO;
	if (ret_st) {
		memcpy(&ret_st->ns, b + 8, sizeof(ret_st->ns));
		memcpy(&ret_st->cpu, b + 16, sizeof(ret_st->cpu));
	}
	return 0;
}

/*
 * A latency sample for a message stamped <st> and received at <now_ns> (call right after the
 * wake-up): the one-way time in ns, shifted left by one, with bit 0 set if this process woke on
 * the producer's CPU. Sorting the samples sorts them by latency.
 */
uint64_t b_sample(const struct b_stamp *st, uint64_t now_ns)
{
	int cpu = sched_getcpu();

	return (now_ns - st->ns) << 1 | (cpu >= 0 && (uint32_t)cpu == st->cpu);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The latency in us of the <k>-th (from 0) sorted sample whose placement bit is <same>. */
static double kth_us(const uint64_t *s, uint64_t n, uint64_t k, uint64_t same)
{
	for (uint64_t i = 0; i < n; i++)
		if ((s[i] & 1) == same && k-- == 0)
			return (double)(s[i] >> 1) / 1000.0;
	return 0.0;
}

/* Sort the <n> samples of b_sample in place and fill *ret. Returns 0, or -EINVAL if n = 0. */
int b_lat_from(uint64_t *samples, uint64_t n, struct b_lat *ret)
{
	uint64_t same = 0;

	if (n == 0)
		return -EINVAL;
	qsort(samples, n, sizeof(*samples), cmp_u64);
	for (uint64_t i = 0; i < n; i++)
		same += samples[i] & 1;
	ret->n = n;
	ret->same = same;
	ret->p50_us = (double)(samples[n / 2] >> 1) / 1000.0;
	ret->p99_us = (double)(samples[n * 99 / 100] >> 1) / 1000.0;
	ret->max_us = (double)(samples[n - 1] >> 1) / 1000.0;
	ret->p50_same_us = same ? kth_us(samples, n, same / 2, 1) : 0.0;
	ret->p50_cross_us = same < n ? kth_us(samples, n, (n - same) / 2, 0) : 0.0;
	return 0;
}
