/* SPDX-License-Identifier: MIT */
/*
 * The worker loop's front end: the API of wrk_loop.h, the choice of backend (io_uring, epoll,
 * MM_WRK_LOOP_ENV) and the timers. The backends (wrk_loop_uring.c, wrk_loop_epoll.c) only
 * know fds and readiness.
 *
 * Timers are the same for both backends: a small array of deadlines sorted by deadline (then
 * by arming order), and the wait hands the nearest deadline to the backend as its timeout.
 * A worker has a handful of timers, so insertion is a memmove. Compared with IORING_OP_TIMEOUT
 * requests this costs no SQE or CQE per arm or cancel, cancel and re-arm are exact with no
 * in-flight completion to race with, and both backends share the code and its tests.
 * io_uring waits with a nanosecond timeout (EXT_ARG); epoll rounds up to the next
 * millisecond, so a timer never fires early.
 */
#include "wrk_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mm_time.h"
#include "wrk_loop_backend.h"

#define NS_PER_MS	 1000000ull
#define TIMERS_MAX	 4096u
#define WHY_FORCED_EPOLL "epoll forced by " MM_WRK_LOOP_ENV "=epoll"

struct wrk_timer {
	uint64_t deadline_ns; /* CLOCK_MONOTONIC */
	uint64_t token;
};

struct mm_wrk_loop {
	enum mm_wrk_backend backend; /* URING or EPOLL, never AUTO */
	const struct mm_wrk_backend_ops *ops;
	void *b;		  /* the backend's state */
	struct wrk_timer *timers; /* [0, ntimers) sorted by deadline, ties in arming order */
	uint32_t ntimers;
	uint32_t ctimers; /* allocated entries */
};

static const char *const backend_names[_MM_WRK_BACKEND_MAX] = {
	[MM_WRK_BACKEND_AUTO] = "auto",
	[MM_WRK_BACKEND_URING] = "uring",
	[MM_WRK_BACKEND_EPOLL] = "epoll",
};

const char *mm_wrk_backend_to_string(enum mm_wrk_backend b)
{
	if ((unsigned)b >= _MM_WRK_BACKEND_MAX)
		return "unknown";
	return backend_names[b];
}

int mm_wrk_backend_from_string(const char *s, enum mm_wrk_backend *ret)
{
	if (!s)
		return -EINVAL;
	if (strcmp(s, "io_uring") == 0) {
		*ret = MM_WRK_BACKEND_URING;
		return 0;
	}
	for (unsigned i = 0; i < _MM_WRK_BACKEND_MAX; i++) {
		if (strcmp(s, backend_names[i]) == 0) {
			*ret = (enum mm_wrk_backend)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* AUTO plus MM_WRK_LOOP_ENV gives the backend to try; *why is set when epoll is forced. */
static int backend_from_env(enum mm_wrk_backend *want, const char **why)
{
	const char *v = getenv(MM_WRK_LOOP_ENV);
	int r;

	if (!v || !*v)
		return 0;
	r = mm_wrk_backend_from_string(v, want);
	if (r < 0)
		return r;
	if (*want == MM_WRK_BACKEND_EPOLL)
		*why = WHY_FORCED_EPOLL;
	return 0;
}

static bool can_fall_back(int r)
{
	return r == -EPERM || r == -ENOSYS || r == -EOPNOTSUPP;
}

static int open_backend(struct mm_wrk_loop *l, enum mm_wrk_backend want, const char **why)
{
	int r;

	if (want != MM_WRK_BACKEND_EPOLL) {
		r = mm_wrk_uring_new(&l->b, why);
		if (r == 0) {
			l->backend = MM_WRK_BACKEND_URING;
			l->ops = &mm_wrk_uring_ops;
			return 0;
		}
		if (want == MM_WRK_BACKEND_URING || !can_fall_back(r))
			return r;
	}
	r = mm_wrk_epoll_new(&l->b);
	if (r < 0)
		return r;
	l->backend = MM_WRK_BACKEND_EPOLL;
	l->ops = &mm_wrk_epoll_ops;
	return 0;
}

int mm_wrk_loop_new(struct mm_wrk_loop **ret, enum mm_wrk_backend want, const char **ret_why)
{
	struct mm_wrk_loop *l;
	const char *why = NULL;
	int r;

	if (!ret || (unsigned)want >= _MM_WRK_BACKEND_MAX)
		return -EINVAL;
	if (want == MM_WRK_BACKEND_AUTO) {
		r = backend_from_env(&want, &why);
		if (r < 0)
			return r;
	}

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	r = open_backend(l, want, &why);
	if (r < 0) {
		free(l);
		return r;
	}

	*ret = l;
	if (ret_why)
		*ret_why = l->backend == MM_WRK_BACKEND_EPOLL ? why : NULL;
	return 0;
}

void mm_wrk_loop_free(struct mm_wrk_loop *l)
{
	if (!l)
		return;
	l->ops->free(l->b);
	free(l->timers);
	free(l);
}

enum mm_wrk_backend mm_wrk_loop_backend(const struct mm_wrk_loop *l)
{
	return l->backend;
}

int mm_wrk_loop_watch(struct mm_wrk_loop *l, int fd, uint32_t events, uint64_t token)
{
	if (fd < 0)
		return -EBADF;
	if (events & ~MM_WRK_EV_WATCHABLE)
		return -EINVAL;
	return l->ops->watch(l->b, fd, events, token);
}

int mm_wrk_loop_modify(struct mm_wrk_loop *l, uint64_t token, uint32_t events)
{
	if (events & ~MM_WRK_EV_WATCHABLE)
		return -EINVAL;
	return l->ops->modify(l->b, token, events);
}

int mm_wrk_loop_unwatch(struct mm_wrk_loop *l, uint64_t token)
{
	return l->ops->unwatch(l->b, token);
}

int mm_wrk_loop_bell(struct mm_wrk_loop *l, int efd)
{
	uint64_t one = 1;

	if (efd < 0)
		return -EBADF;
	if (l->ops->bell && l->ops->bell(l->b, efd) == 0)
		return 0;
	/* EAGAIN: the counter is saturated, the reader is due to wake anyway */
	if (write(efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		return -errno;
	return 0;
}

/* Remove the timer <token>. Returns 0 or -ENOENT. */
static int timer_remove(struct mm_wrk_loop *l, uint64_t token)
{
	for (uint32_t i = 0; i < l->ntimers; i++) {
		if (l->timers[i].token != token)
			continue;
		memmove(&l->timers[i], &l->timers[i + 1],
			(l->ntimers - i - 1) * sizeof(l->timers[0]));
		l->ntimers--;
		return 0;
	}
	return -ENOENT;
}

/* Make room for one more timer. Returns 0, -ENOMEM or -ENOSPC. */
static int timer_reserve(struct mm_wrk_loop *l)
{
	struct wrk_timer *t;
	uint32_t c;

	if (l->ntimers < l->ctimers)
		return 0;
	if (l->ctimers >= TIMERS_MAX)
		return -ENOSPC;
	c = l->ctimers ? l->ctimers * 2 : 8;
	t = realloc(l->timers, c * sizeof(*t));
	if (!t)
		return -ENOMEM;
	l->timers = t;
	l->ctimers = c;
	return 0;
}

int mm_wrk_loop_timer(struct mm_wrk_loop *l, uint64_t token, uint64_t ns)
{
	uint64_t now = mm_time_mono_ns();
	uint64_t deadline = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
	uint32_t pos;
	int r;

	(void)timer_remove(l, token);
	r = timer_reserve(l);
	if (r < 0)
		return r;

	/* after every timer with the same deadline: equal deadlines fire in arming order */
	for (pos = l->ntimers; pos > 0 && l->timers[pos - 1].deadline_ns > deadline; pos--)
		;
	memmove(&l->timers[pos + 1], &l->timers[pos], (l->ntimers - pos) * sizeof(l->timers[0]));
	l->timers[pos] = (struct wrk_timer){ .deadline_ns = deadline, .token = token };
	l->ntimers++;
	return 0;
}

int mm_wrk_loop_timer_cancel(struct mm_wrk_loop *l, uint64_t token)
{
	return timer_remove(l, token);
}

/* Move up to <max> timers due at <now> into <evs>, in deadline order. Returns the count. */
static int timers_expire(struct mm_wrk_loop *l, uint64_t now, struct mm_wrk_event *evs, int max)
{
	uint32_t n = 0;

	while (n < l->ntimers && (int)n < max && l->timers[n].deadline_ns <= now) {
		evs[n] = (struct mm_wrk_event){ .token = l->timers[n].token,
						.events = MM_WRK_EV_TIMER };
		n++;
	}
	if (n == 0)
		return 0; /* l->timers may still be NULL, which memmove() must not get */
	memmove(&l->timers[0], &l->timers[n], (l->ntimers - n) * sizeof(l->timers[0]));
	l->ntimers -= n;
	return (int)n;
}

/* How long the backend may block: until <deadline> or the next timer; -1 for no limit. */
static int64_t block_ns(const struct mm_wrk_loop *l, uint64_t now, uint64_t deadline)
{
	uint64_t until = deadline;

	if (l->ntimers > 0 && l->timers[0].deadline_ns < until)
		until = l->timers[0].deadline_ns;
	if (until == UINT64_MAX)
		return -1;
	if (until <= now)
		return 0;
	return until - now > INT64_MAX ? INT64_MAX : (int64_t)(until - now);
}

/*
 * The backend may return 0 before the deadline (woken by a timer deadline, a signal, or a
 * completion with nothing to report), so this loops until there is an event or the caller's
 * deadline has passed: a 0 return always means the full timeout elapsed.
 */
int mm_wrk_loop_wait(struct mm_wrk_loop *l, struct mm_wrk_event *evs, int max, int timeout_ms)
{
	uint64_t start = mm_time_mono_ns();
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : start + (uint64_t)timeout_ms * NS_PER_MS;
	int n, r;

	if (!evs || max <= 0)
		return -EINVAL;
	for (;;) {
		uint64_t now = mm_time_mono_ns();

		n = timers_expire(l, now, evs, max);
		if (n < max) {
			r = l->ops->poll(l->b, evs + n, max - n,
					 n ? 0 : block_ns(l, now, deadline));
			if (r < 0 && r != -EINTR)
				return n ? n : r;
			if (r > 0)
				n += r;
		}
		if (n > 0)
			return n;
		if (mm_time_mono_ns() >= deadline)
			return 0;
	}
}
