/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the worker loop's unit tests (test_loop*.c): a loop per backend, socketpairs,
 * and waits with the timeouts below. Every helper asserts; none returns an error.
 */
#ifndef T_LOOP_H
#define T_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "wrk_loop.h"

#define EXPECT_MS  2000 /* bound on a wait that must see an event */
#define NOTHING_MS 50	/* length of a wait that must see nothing */
#define EVS_MAX	   16

/*
 * Define the test <name> once per backend: the body is a function of the backend, run by
 * worker_loop_uring::<name> and worker_loop_epoll::<name>. The suites are in t_loop.c.
 */
#define BOTH_BACKENDS(name)                            \
	static void name(enum mm_wrk_backend backend); \
	Test(worker_loop_uring, name)                  \
	{                                              \
		name(MM_WRK_BACKEND_URING);            \
	}                                              \
	Test(worker_loop_epoll, name)                  \
	{                                              \
		name(MM_WRK_BACKEND_EPOLL);            \
	}                                              \
	static void name(enum mm_wrk_backend backend)

/* A loop on <backend>; skips the test where io_uring is refused or missing. */
struct mm_wrk_loop *t_loop_open(enum mm_wrk_backend backend);

/* A non-blocking, close-on-exec AF_UNIX stream socketpair. */
void t_loop_pair(int sv[2]);
void t_loop_put(int fd, const char *s);
/* Read until EAGAIN or EOF. */
void t_loop_drain(int fd);
void t_loop_watch(struct mm_wrk_loop *l, int fd, uint32_t events, uint64_t token);

/* One wait; returns the events reported for <token> (0 if none); *ret_n (may be NULL) the count. */
uint32_t t_loop_wait_token(struct mm_wrk_loop *l, uint64_t token, int timeout_ms, int *ret_n);
/* One wait of NOTHING_MS that must report nothing at all. */
void t_loop_expect_nothing(struct mm_wrk_loop *l);

int t_loop_count_fds(void);
/* Whether the peer of <fd> sees EOF within <timeout_ms>. */
bool t_loop_peer_sees_eof(int fd, int timeout_ms);

#endif /* T_LOOP_H */
