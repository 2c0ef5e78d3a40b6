/* SPDX-License-Identifier: MIT */
/*
 * The epoll backend of the worker loop, used where io_uring cannot be set up (or when forced
 * with MM_WRK_LOOP_ENV). Level-triggered epoll already has the semantics wrk_loop.h promises:
 * the registration carries the caller's token, EPOLL_CTL_DEL is synchronous and events are
 * handed to the caller as soon as epoll_wait returns them, so no stale event can be reported
 * after mm_wrk_loop_unwatch(). It uses only epoll_create1/epoll_ctl/epoll_wait, the calls a
 * restrictive seccomp filter is most likely to allow.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "wrk_loop_backend.h"

#define EP_BATCH     32 /* events fetched per epoll_wait */
#define EP_SLOTS_MAX (1u << 20)

struct ep_slot {
	uint64_t token;
	int fd;
	bool used;
};

struct ep {
	int epfd;
	struct ep_slot *slots;
	uint32_t nslots; /* allocated; unused ones have used == false */
};

static uint32_t to_epoll(uint32_t events)
{
	uint32_t e = EPOLLRDHUP;

	if (events & MM_WRK_EV_IN)
		e |= EPOLLIN;
	if (events & MM_WRK_EV_OUT)
		e |= EPOLLOUT;
	return e;
}

static uint32_t from_epoll(uint32_t e)
{
	uint32_t events = 0;

	if (e & EPOLLIN)
		events |= MM_WRK_EV_IN;
	if (e & EPOLLOUT)
		events |= MM_WRK_EV_OUT;
	if (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
		events |= MM_WRK_EV_ERR;
	return events;
}

static struct ep_slot *find(struct ep *e, uint64_t token)
{
	for (uint32_t i = 0; i < e->nslots; i++)
		if (e->slots[i].used && e->slots[i].token == token)
			return &e->slots[i];
	return NULL;
}

/* A free slot, growing the table if needed. Returns 0, -ENOMEM or -ENOSPC. */
static int slot_alloc(struct ep *e, struct ep_slot **ret)
{
	struct ep_slot *s;
	uint32_t n;

	for (uint32_t i = 0; i < e->nslots; i++) {
		if (!e->slots[i].used) {
			*ret = &e->slots[i];
			return 0;
		}
	}
	if (e->nslots >= EP_SLOTS_MAX)
		return -ENOSPC;
	n = e->nslots ? e->nslots * 2 : 8;
	s = realloc(e->slots, n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (uint32_t i = e->nslots; i < n; i++)
		s[i] = (struct ep_slot){ .fd = -1 };
	*ret = &s[e->nslots];
	e->slots = s;
	e->nslots = n;
	return 0;
}

static int ep_watch(void *b, int fd, uint32_t events, uint64_t token)
{
	struct ep *e = b;
	struct epoll_event ev = { .events = to_epoll(events), .data.u64 = token };
	struct ep_slot *s;
	int r;

	if (find(e, token))
		return -EEXIST;
	r = slot_alloc(e, &s);
	if (r < 0)
		return r;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		return -errno;
	*s = (struct ep_slot){ .token = token, .fd = fd, .used = true };
	return 0;
}

static int ep_modify(void *b, uint64_t token, uint32_t events)
{
	struct ep *e = b;
	struct epoll_event ev = { .events = to_epoll(events), .data.u64 = token };
	struct ep_slot *s = find(e, token);

	if (!s)
		return -ENOENT;
	if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, s->fd, &ev) == -1)
		return -errno;
	return 0;
}

static int ep_unwatch(void *b, uint64_t token)
{
	struct ep *e = b;
	struct ep_slot *s = find(e, token);

	if (!s)
		return -ENOENT;
	/* fails only if the caller closed the fd first, which also ended the registration */
	(void)epoll_ctl(e->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	*s = (struct ep_slot){ .fd = -1 };
	return 0;
}

/* epoll_wait counts milliseconds: round up so that a deadline is never reported early. */
static int ns_to_ms(int64_t ns)
{
	int64_t ms;

	if (ns < 0)
		return -1;
	ms = ns / 1000000 + (ns % 1000000 != 0);
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int ep_poll(void *b, struct mm_wrk_event *evs, int max, int64_t timeout_ns)
{
	struct ep *e = b;
	struct epoll_event buf[EP_BATCH];
	int n;

	n = epoll_wait(e->epfd, buf, max < EP_BATCH ? max : EP_BATCH, ns_to_ms(timeout_ns));
	if (n == -1)
		return -errno;
	for (int i = 0; i < n; i++)
		evs[i] = (struct mm_wrk_event){ .token = buf[i].data.u64,
						.events = from_epoll(buf[i].events) };
	return n;
}

static void ep_free(void *b)
{
	struct ep *e = b;

	if (!e)
		return;
	if (e->epfd >= 0)
		close(e->epfd);
	free(e->slots);
	free(e);
}

int mm_wrk_epoll_new(void **ret)
{
	struct ep *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return -ENOMEM;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd == -1) {
		r = -errno;
		free(e);
		return r;
	}
	*ret = e;
	return 0;
}

const struct mm_wrk_backend_ops mm_wrk_epoll_ops = {
	.watch = ep_watch,
	.modify = ep_modify,
	.unwatch = ep_unwatch,
	.poll = ep_poll,
	.free = ep_free,
};
