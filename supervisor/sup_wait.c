/* SPDX-License-Identifier: MIT */
/*
 * How the supervisor loop sleeps, at a cost that does not grow with the number of sessions:
 *
 * - every child's control channel is in one epoll set (data: the child's id and the fd, so an
 *   event for a channel already replaced is recognised and dropped);
 * - the few descriptors that are not children (signalfd, control socket, metrics.http) stay in
 *   a poll(2) set of fixed size, which also holds the epoll fd;
 * - every child's next deadline (start, backoff, stop escalation, hung check) is one entry of
 *   a timer heap (sup_timer.c), kept in step by the loop after each state-machine event.
 *
 * A child's id is 0 for the router and i + 1 for children[i]; ids change only when the loop
 * compacts the table after a removal, and mm_sup_wait_rebuild() then renews both structures.
 *
 * Hung checks need no precision (a worker is hung after MM_CHAN_HUNG_BEATS silent beats), so
 * their deadlines are rounded up to a multiple of MM_SUP_CHECK_SLOT_NS: the checks of many
 * workers then share one wake-up.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "mm_time.h"
#include "sup.h"
#include "sup_notify.h"

#define EP_BATCH 256 /* channel events taken per wake-up */

uint32_t mm_sup_child_id(const struct mm_sup *s, const struct mm_sup_child *c)
{
	return c == &s->router ? 0 : (uint32_t)(c - s->children) + 1;
}

struct mm_sup_child *mm_sup_child_of(struct mm_sup *s, uint32_t id)
{
	if (id == 0)
		return &s->router;
	return id <= s->n_children ? &s->children[id - 1] : NULL;
}

/* The epoll set and the fixed poll set. 0 or -errno. */
int mm_sup_wait_open(struct mm_sup *s)
{
	s->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep_fd < 0)
		return -errno;
	s->pfd = calloc(MM_SUP_NPFD, sizeof(*s->pfd));
	s->pfd_live = calloc(MM_SUP_NPFD, sizeof(*s->pfd_live));
	s->pfd_idx = calloc(MM_SUP_NPFD, sizeof(*s->pfd_idx));
	return s->pfd && s->pfd_live && s->pfd_idx ? 0 : -ENOMEM;
}

void mm_sup_wait_close(struct mm_sup *s)
{
	if (s->ep_fd >= 0)
		close(s->ep_fd);
	s->ep_fd = -1;
	free(s->pfd);
	free(s->pfd_live);
	free(s->pfd_idx);
	s->pfd = s->pfd_live = NULL;
	s->pfd_idx = NULL;
	mm_sup_timers_free(&s->timers);
	free(s->evs);
	s->evs = NULL;
}

static int ctl(struct mm_sup *s, int op, struct mm_sup_child *c)
{
	struct epoll_event ev = {
		.events = EPOLLIN,
		.data.u64 = (uint64_t)mm_sup_child_id(s, c) << 32 | (uint32_t)c->chan_fd,
	};

	return epoll_ctl(s->ep_fd, op, c->chan_fd, &ev) == -1 ? -errno : 0;
}

/* Watch the channel of <c> (just spawned). 0 or -errno. */
int mm_sup_watch(struct mm_sup *s, struct mm_sup_child *c)
{
	if (c->chan_fd < 0 || s->ep_fd < 0)
		return 0;
	return ctl(s, EPOLL_CTL_ADD, c);
}

/* Stop watching the channel of <c>; call it before the channel is closed. */
void mm_sup_unwatch(struct mm_sup *s, struct mm_sup_child *c)
{
	if (c->chan_fd >= 0 && s->ep_fd >= 0)
		(void)epoll_ctl(s->ep_fd, EPOLL_CTL_DEL, c->chan_fd, NULL);
}

static uint64_t round_up(uint64_t ns, uint64_t slot)
{
	return (ns + slot - 1) / slot * slot;
}

/* Put the next deadline of <c>'s state machine in the timer heap (or take it out). */
void mm_sup_timer_sync(struct mm_sup *s, struct mm_sup_child *c)
{
	/* A group's members follow its lead's timers (sup_group.c). */
	uint64_t at = c->name && !mm_sup_child_member(c) ? mm_sup_fsm_next_ns(&c->fsm) : 0;

	if (at && c->fsm.state == MM_CHILD_UP)
		at = round_up(at, MM_SUP_CHECK_SLOT_NS);
	if (mm_sup_timers_set(&s->timers, mm_sup_child_id(s, c), at) < 0)
		mm_log(MM_LOG_ERROR, "%s: out of memory for its timer", mm_sup_child_who(c));
}

/* After the table was compacted: every id may have changed. */
void mm_sup_wait_rebuild(struct mm_sup *s)
{
	mm_sup_timers_clear(&s->timers);
	mm_sup_timer_sync(s, &s->router);
	for (size_t i = 0; i < s->n_children; i++) {
		struct mm_sup_child *c = &s->children[i];

		mm_sup_timer_sync(s, c);
		if (c->chan_fd >= 0 && ctl(s, EPOLL_CTL_MOD, c) < 0)
			(void)ctl(s, EPOLL_CTL_ADD, c);
	}
}

/* Milliseconds to the earliest child deadline or <other_ns>, whichever is first; >= 0. */
static int timeout_ms(const struct mm_sup *s, uint64_t now, uint64_t other_ns)
{
	uint64_t at = other_ns;

	if (mm_sup_timers_first(&s->timers, &at, NULL) && other_ns && other_ns < at)
		at = other_ns;
	if (at <= now)
		return 0;
	at = (at - now + MM_NS_PER_MS - 1) / MM_NS_PER_MS;
	return at > 60000 ? 60000 : (int)at;
}

/*
 * poll() the entries of s->pfd that hold a descriptor, and put the results back in place. poll
 * refuses (EINVAL) more entries than RLIMIT_NOFILE, unused ones included: with a low limit the
 * full fixed set would fail where the descriptors really open fit.
 */
static int poll_live(struct mm_sup *s, int ms)
{
	nfds_t n = 0;
	int r;

	for (size_t i = 0; i < MM_SUP_NPFD; i++) {
		s->pfd[i].revents = 0;
		if (s->pfd[i].fd < 0)
			continue;
		s->pfd_live[n] = s->pfd[i];
		s->pfd_idx[n++] = (uint16_t)i;
	}
	r = poll(s->pfd_live, n, ms);
	if (r == -1)
		return errno == EINTR ? 0 : -errno;
	for (nfds_t k = 0; k < n; k++)
		s->pfd[s->pfd_idx[k]].revents = s->pfd_live[k].revents;
	return 0;
}

/*
 * Sleep until a descriptor is ready or the earliest deadline (the timers, and <other_ns> when
 * not 0). The fixed poll set's results are left in s->pfd; the children whose channel is
 * readable are returned in s->evs (their count). Returns that count or -errno.
 */
int mm_sup_wait(struct mm_sup *s, uint64_t other_ns)
{
	int ms = timeout_ms(s, mm_time_mono_ns(), other_ns), n;

	if (!s->evs && !(s->evs = calloc(EP_BATCH, sizeof(*s->evs))))
		return -ENOMEM;
	s->pfd[0] = (struct pollfd){ .fd = s->sig_fd, .events = POLLIN };
	s->pfd[1] = (struct pollfd){ .fd = s->ep_fd, .events = POLLIN };
	mm_sup_ctl_pollfds(s, &s->pfd[2]);
	mm_sup_http_pollfds(s, &s->pfd[2 + MM_CTL_NFDS]);
	ms = mm_sup_http_timeout(
		s, mm_sup_ctl_timeout(s, mm_sup_notify_timeout(ms, mm_time_mono_ns())));
	n = poll_live(s, ms);
	if (n < 0)
		return n;
	if (!s->pfd[1].revents)
		return 0;
	n = epoll_wait(s->ep_fd, s->evs, EP_BATCH, 0);
	return n < 0 ? (errno == EINTR ? 0 : -errno) : n;
}

/* The child of event <i> of the last mm_sup_wait(), if its channel is still the one watched. */
struct mm_sup_child *mm_sup_wait_child(struct mm_sup *s, int i)
{
	uint64_t d = s->evs[i].data.u64;
	struct mm_sup_child *c = mm_sup_child_of(s, (uint32_t)(d >> 32));

	return c && c->name && c->chan_fd == (int)(uint32_t)d ? c : NULL;
}
