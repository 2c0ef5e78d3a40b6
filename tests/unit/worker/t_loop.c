/* SPDX-License-Identifier: MIT */
/*
 * Helpers and suites of the worker loop's unit tests. Every suite of the test-worker
 * executable is declared here, with one timeout: criterion 2.4.1 leaks in its runner process
 * when the suites of one executable have different timeouts (seen under LeakSanitizer).
 */
#include "t_loop.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define T_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_LSAN 1
#endif
#endif
#ifdef T_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* A leak inside a criterion worker does not fail the test by itself: abort, which does. */
static void leak_check(void)
{
#ifdef T_LSAN
	if (__lsan_do_recoverable_leak_check())
		abort();
#endif
}

TestSuite(worker_loop_uring, .fini = leak_check, .timeout = 20);
TestSuite(worker_loop_epoll, .fini = leak_check, .timeout = 20);
TestSuite(worker_loop, .fini = leak_check, .timeout = 20);
TestSuite(worker_loop_uring_cqe, .fini = leak_check, .timeout = 20);

struct mm_wrk_loop *t_loop_open(enum mm_wrk_backend backend)
{
	struct mm_wrk_loop *l = NULL;
	int r = mm_wrk_loop_new(&l, backend, NULL);

	if (backend == MM_WRK_BACKEND_URING && (r == -EPERM || r == -ENOSYS || r == -EOPNOTSUPP))
		cr_skip_test("io_uring unavailable: %s", strerror(-r));
	cr_assert_eq(r, 0, "mm_wrk_loop_new(%s): %s", mm_wrk_backend_to_string(backend),
		     strerror(-r));
	cr_assert_eq(mm_wrk_loop_backend(l), backend);
	return l;
}

void t_loop_pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

void t_loop_put(int fd, const char *s)
{
	cr_assert_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

void t_loop_drain(int fd)
{
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

void t_loop_watch(struct mm_wrk_loop *l, int fd, uint32_t events, uint64_t token)
{
	int r = mm_wrk_loop_watch(l, fd, events, token);

	cr_assert_eq(r, 0, "watch(%d): %s", fd, strerror(-r));
}

/* One wait; returns the events reported for <token> (0 if none) and ORs all tokens' bits. */
uint32_t t_loop_wait_token(struct mm_wrk_loop *l, uint64_t token, int timeout_ms, int *ret_n)
{
	struct mm_wrk_event evs[EVS_MAX];
	uint32_t got = 0;
	int n = mm_wrk_loop_wait(l, evs, EVS_MAX, timeout_ms);

	cr_assert_geq(n, 0, "wait: %s", strerror(-n));
	for (int i = 0; i < n; i++) {
		cr_assert_neq(evs[i].events, 0u, "event with no bits for %llu",
			      (unsigned long long)evs[i].token);
		if (evs[i].token == token)
			got |= evs[i].events;
	}
	if (ret_n)
		*ret_n = n;
	return got;
}

/* One wait of NOTHING_MS that must report nothing at all. */
void t_loop_expect_nothing(struct mm_wrk_loop *l)
{
	struct mm_wrk_event evs[EVS_MAX];
	int n = mm_wrk_loop_wait(l, evs, EVS_MAX, NOTHING_MS);

	cr_assert_eq(n, 0, "expected no event, got %d (first: token %llu events 0x%x)", n,
		     n > 0 ? (unsigned long long)evs[0].token : 0ull, n > 0 ? evs[0].events : 0u);
}

int t_loop_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

bool t_loop_peer_sees_eof(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, timeout_ms) != 1 || !(p.revents & (POLLIN | POLLHUP)))
		return false;
	return read(fd, &c, 1) == 0;
}
