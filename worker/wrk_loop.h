/* SPDX-License-Identifier: MIT */
/*
 * The worker's event loop: a small interface with two backends, io_uring (liburing 2.3,
 * multishot poll) and epoll, so the worker runs where io_uring is refused (EPERM under a
 * container's seccomp, ENOSYS, kernel.io_uring_disabled) and both can be tested. The loop
 * knows fds, readiness and timers; it does not know MQTT.
 *
 * Tokens: every watch and timer carries a caller-chosen 64-bit token that comes back in its
 * events. The caller puts a generation number in it (the MQTT socket is replaced, often with
 * the same fd number, at every reconnect), and the loop never reports an event for a token
 * after mm_wrk_loop_unwatch() returned for it, even if the kernel had already queued it.
 */
#ifndef MM_WRK_LOOP_H
#define MM_WRK_LOOP_H

#include <stdint.h>

enum mm_wrk_backend {
	MM_WRK_BACKEND_AUTO = 0, /* io_uring if it can be set up, else epoll */
	MM_WRK_BACKEND_URING,
	MM_WRK_BACKEND_EPOLL,
	_MM_WRK_BACKEND_MAX
};

#define MM_WRK_EV_IN	0x1u /* readable (POLLIN) */
#define MM_WRK_EV_OUT	0x2u /* writable (POLLOUT) */
#define MM_WRK_EV_ERR	0x4u /* POLLERR / POLLHUP / POLLRDHUP: always reported, never asked */
#define MM_WRK_EV_TIMER 0x8u /* a timer expired */

struct mm_wrk_event {
	uint64_t token;
	uint32_t events; /* MM_WRK_EV_* */
};

struct mm_wrk_loop;

/*
 * Environment variable read by mm_wrk_loop_new() when <want> is AUTO: "epoll" forces the
 * epoll backend (*ret_why then says so), "uring" (or "io_uring") behaves as URING (no
 * fallback), "auto" or empty is AUTO; anything else makes mm_wrk_loop_new() fail with
 * -EINVAL. CI runs the same suites once per value.
 */
#define MM_WRK_LOOP_ENV "MQTTMUX_LOOP"

/*
 * Parse "auto", "uring", "io_uring" or "epoll" (as in MM_WRK_LOOP_ENV or a config option)
 * into *ret. Returns 0 or -EINVAL (s NULL or unknown); *ret is written only on success.
 */
int mm_wrk_backend_from_string(const char *s, enum mm_wrk_backend *ret);

/*
 * Create a loop with the backend <want>. AUTO tries io_uring and falls back to epoll when
 * io_uring_queue_init fails with -EPERM, -ENOSYS or -EOPNOTSUPP (or the probe lacks
 * multishot poll); URING fails instead of falling back. On success *ret is the loop and
 * *ret_why (may be NULL) says why a fallback happened, or NULL. Returns 0 or -errno.
 */
int mm_wrk_loop_new(struct mm_wrk_loop **ret, enum mm_wrk_backend want, const char **ret_why);
void mm_wrk_loop_free(struct mm_wrk_loop *l);
enum mm_wrk_backend mm_wrk_loop_backend(const struct mm_wrk_loop *l);
const char *mm_wrk_backend_to_string(enum mm_wrk_backend b);

/*
 * Watch <fd> for <events> (MM_WRK_EV_IN and/or MM_WRK_EV_OUT) under <token>, until unwatched.
 * Level-triggered semantics for the caller: while the condition holds, every wait reports it
 * again (io_uring: multishot poll re-armed as needed; the caller must not rely on edges).
 * A readiness may occasionally be reported after it went away, so <fd> must be non-blocking.
 * A token may be watched once at a time, and an fd under one token at a time; watch tokens
 * and timer tokens are separate name spaces. Returns 0, -EEXIST, -EINVAL (<events> has
 * other bits), -EBADF (<fd> is not open), or -errno.
 */
int mm_wrk_loop_watch(struct mm_wrk_loop *l, int fd, uint32_t events, uint64_t token);
/* Change the events of a watched token. Returns 0, -ENOENT, or -errno. */
int mm_wrk_loop_modify(struct mm_wrk_loop *l, uint64_t token, uint32_t events);
/*
 * Stop watching <token>. After it returns, no event for <token> is reported, and the loop
 * holds no reference to the fd (io_uring: the poll is removed, so closing the fd really
 * closes the socket). Call it before closing the fd. Events returned by an earlier wait are
 * the caller's to filter. Returns 0 or -ENOENT; io_uring only: -errno if the ring failed
 * while removing the poll (the token is forgotten all the same, but the kernel may still
 * hold the fd).
 */
int mm_wrk_loop_unwatch(struct mm_wrk_loop *l, uint64_t token);

/*
 * Ring eventfd <efd> (write 1) no later than the next wait: io_uring queues the write and
 * sends it with the wait's own io_uring_enter (one system call per wake-up, not two); epoll,
 * or an io_uring that cannot queue it, writes at once. Call it only when the loop's next wait
 * comes soon (a caller about to sleep otherwise, or to exit, writes itself); freeing the loop
 * sends what is queued. Returns 0 or -errno.
 */
int mm_wrk_loop_bell(struct mm_wrk_loop *l, int efd);
/*
 * One-shot timer: report MM_WRK_EV_TIMER for <token> once, <ns> nanoseconds from now
 * (CLOCK_MONOTONIC). Arming a token that is armed replaces its deadline. Returns 0 or -errno.
 */
int mm_wrk_loop_timer(struct mm_wrk_loop *l, uint64_t token, uint64_t ns);
/* Disarm a timer; no event for it is reported afterwards. Returns 0 or -ENOENT. */
int mm_wrk_loop_timer_cancel(struct mm_wrk_loop *l, uint64_t token);

/*
 * Wait up to <timeout_ms> (-1: forever, 0: poll) for events and store at most <max> of them
 * in <evs>. Returns the number stored (0 on timeout), or -errno (-EINTR is never returned:
 * signals arrive through a signalfd the caller watches).
 */
int mm_wrk_loop_wait(struct mm_wrk_loop *l, struct mm_wrk_event *evs, int max, int timeout_ms);

#endif /* MM_WRK_LOOP_H */
