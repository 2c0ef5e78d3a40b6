/* SPDX-License-Identifier: MIT */
/*
 * The router's setup and its epoll loop: the inherited session rings (rtr_table.c), router.sock,
 * the signalfd and the supervisor channel (rtr_chan.c). One thread, one epoll; everything is
 * level-triggered but the sessions' data doorbells (mm_rtr_watch_edge), and every handler
 * drains what it was woken for, in batches.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "mm_time.h"
#include "rtr.h"

#define GAP_WAKE_NS MM_NS_PER_SEC /* client_gap reports: at most once a second */

static int watch(struct mm_rtr *r, int fd, uint32_t events, unsigned kind, uint32_t val)
{
	struct epoll_event ev = { .events = events, .data.u64 = MM_RTR_TOK(kind, val) };

	return epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) == -1 ? -errno : 0;
}

int mm_rtr_watch(struct mm_rtr *r, int fd, unsigned kind, uint32_t val)
{
	return watch(r, fd, EPOLLIN, kind, val);
}

/*
 * A session's data doorbell is watched edge-triggered and never read: every eventfd write
 * wakes the epoll once, whatever the counter holds, so a wake-up costs the epoll_wait alone
 * and not a read() besides (issue 14). The counter only grows by one per sleep of ours; it
 * would take 2^64 of them to fill. A doorbell already rung when it is added is reported once
 * (epoll looks at it on EPOLL_CTL_ADD). The other fds stay level-triggered (see above).
 */
int mm_rtr_watch_edge(struct mm_rtr *r, int fd, unsigned kind, uint32_t val)
{
	return watch(r, fd, EPOLLIN | EPOLLET, kind, val);
}

/*
 * Make the scratch buffer hold a record of a pub-ring of <ring_size> bytes (and a frame).
 * Returns 0 or -ENOMEM (the old buffer stays).
 */
int mm_rtr_scratch_fit(struct mm_rtr *r, uint64_t ring_size)
{
	size_t want = ring_size > MM_PROTO_MAX_FRAME ? (size_t)ring_size : MM_PROTO_MAX_FRAME;
	uint8_t *p;

	if (want <= r->scratch_cap)
		return 0;
	p = realloc(r->scratch, want);
	if (!p)
		return -ENOMEM;
	r->scratch = p;
	r->scratch_cap = want;
	return 0;
}

static int open_signals(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -errno;
	(void)signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd == -1 ? -errno : fd;
}

/* The sessions of the table the router starts with: session <i>'s rings from <first_fd> + 6i. */
static int add_initial(struct mm_rtr *r, int first_fd)
{
	for (size_t i = 0; i < r->opts->n_sessions; i++) {
		int fds[MM_FD_SESS_N], rc;

		for (int k = 0; k < MM_FD_SESS_N; k++)
			fds[k] = first_fd + (int)i * MM_FD_SESS_N + k;
		rc = mm_rtr_session_add(r, &r->opts->sessions[i], fds, false);
		if (rc < 0)
			return mm_log_errno(rc, "session '%s' [%u] refused",
					    r->opts->sessions[i].name, r->opts->sessions[i].idx);
	}
	return 0;
}

/*
 * Set the router up from <opts> (owned by <r> from now on: mm_rtr_done() frees it): its
 * sessions, in order, have their 6 descriptors each from <first_fd>; a channel is expected at
 * MM_FD_CHAN when r->chan is set >= 0 by the caller. Returns 0 or -errno (logged).
 */
int mm_rtr_init(struct mm_rtr *r, struct mm_handoff_router *opts, int first_fd, int stats_fd)
{
	int rc;

	r->opts = opts;
	r->clients = &opts->clients;
	r->runtime_dir = opts->runtime_dir;
	r->lsock = r->sigfd = -1;
	r->next_client = 1;
	r->next_req = 1;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd == -1)
		return mm_log_errno(-errno, "epoll_create1");
	rc = mm_rtr_scratch_fit(r, opts->clients.ring_size);
	if (rc < 0)
		return rc;
	rc = mm_rtr_stats_open(r, stats_fd);
	if (rc < 0)
		return mm_log_errno(rc, "the stats block (--stats-fd %d) is unusable", stats_fd);
	rc = mm_rtr_sub_init(&r->sub, mm_rtr_sub_changed, r);
	if (rc == 0)
		rc = add_initial(r, first_fd);
	if (rc < 0)
		return rc;
	r->sigfd = open_signals();
	if (r->sigfd < 0)
		return mm_log_errno(r->sigfd, "signalfd");
	rc = mm_rtr_watch(r, r->sigfd, MM_RTR_T_SIGNAL, 0);
	if (rc == 0 && r->chan >= 0)
		rc = mm_rtr_watch(r, r->chan, MM_RTR_T_CHAN, 0);
	if (rc == 0)
		rc = mm_rtr_listen(r);
	return rc;
}

static void on_signal(struct mm_rtr *r)
{
	struct signalfd_siginfo si;

	while (read(r->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		mm_log(MM_LOG_INFO, "signal %u: stopping", si.ssi_signo);
		r->stop = true;
	}
}

static void heartbeat(struct mm_rtr *r)
{
	uint64_t now = mm_time_mono_ns();

	if (r->chan < 0 || now < r->next_heartbeat_ns)
		return;
	(void)mm_chan_send(r->chan, MM_CHAN_HEARTBEAT, 0, now);
	r->next_heartbeat_ns = now + MM_CHAN_HEARTBEAT_NS;
}

/*
 * Clients lost messages: wake the supervisor (EVENT) so that it reads their drop counters from
 * the stats block and reports client_gap. At most once per GAP_WAKE_NS, so a flood of drops
 * costs it one look a second; the last drops of a burst are told at the end of that second.
 */
static void gap_wake(struct mm_rtr *r)
{
	uint64_t now = mm_time_mono_ns();

	if (!r->gap_pending || r->chan < 0 || now < r->next_gap_ns)
		return;
	(void)mm_chan_send(r->chan, MM_CHAN_EVENT, 0, now);
	r->gap_pending = false;
	r->next_gap_ns = now + GAP_WAKE_NS;
}

/*
 * Messages that matched no route (nobody wanted them; after a restart: clients that did not come
 * back within clients.rejoin_grace) are counted and told to the supervisor per session, which
 * reports them (event messages_unrouted, mqttmux_session_unrouted_total). With the gap wake-up:
 * at most once per GAP_WAKE_NS, so a stream nobody reads costs the supervisor one look a second.
 */
static void unrouted_tell(struct mm_rtr *r)
{
	if (!r->unrouted_pending || r->chan < 0 || mm_time_mono_ns() < r->next_gap_ns)
		return;
	r->unrouted_pending = false;
	for (size_t i = 0; i < r->nsess; i++) {
		struct mm_rtr_session *s = r->sess[i];

		if (s->unrouted == s->unrouted_told)
			continue;
		if (mm_chan_send(r->chan, MM_CHAN_UNROUTED, s->idx,
				 s->unrouted - s->unrouted_told) < 0)
			r->unrouted_pending = true; /* the channel is full: told a second later */
		else
			s->unrouted_told = s->unrouted;
	}
	r->gap_pending = true; /* the same once-a-second schedule as the gap wake-up */
}

/* Milliseconds the loop may sleep: until the next heartbeat or gap wake-up is due. */
static int idle_timeout_ms(const struct mm_rtr *r)
{
	uint64_t now = mm_time_mono_ns(), at = r->next_heartbeat_ns;

	if (r->chan < 0)
		return -1;
	if ((r->gap_pending || r->unrouted_pending) && r->next_gap_ns < at)
		at = r->next_gap_ns;
	if (r->gauges_busy && r->next_gauges_ns < at)
		at = r->next_gauges_ns;
	if (now >= at)
		return 0;
	return (int)((at - now + MM_NS_PER_MS - 1) / MM_NS_PER_MS);
}

static void on_client_event(struct mm_rtr *r, unsigned kind, uint32_t id)
{
	struct mm_rtr_client *c = mm_rtr_client_find(r, id);

	if (!c)
		return;
	if (kind == MM_RTR_T_SOCK) {
		mm_rtr_client_input(r, c);
	} else if (kind == MM_RTR_T_PUB_DATA) {
		(void)mm_shm_ring_doorbell_drain(c->fds[MM_PROTO_FD_PUB_DATA]);
		mm_rtr_drain_pub(r, c);
	} else {
		(void)mm_shm_ring_doorbell_drain(c->fds[MM_PROTO_FD_DLV_SPACE]);
		mm_rtr_unblock(r, c);
	}
}

static void dispatch(struct mm_rtr *r, uint64_t tok)
{
	unsigned kind = MM_RTR_TOK_KIND(tok);
	uint32_t v = MM_RTR_TOK_VAL(tok);
	struct mm_rtr_session *s;

	switch (kind) {
	case MM_RTR_T_LISTEN:
		mm_rtr_accept(r);
		break;
	case MM_RTR_T_SIGNAL:
		on_signal(r);
		break;
	case MM_RTR_T_CHAN:
		mm_rtr_chan_input(r);
		break;
	case MM_RTR_T_IN_DATA:
		if (!(s = mm_rtr_session_at(r, v)))
			break; /* removed earlier in this batch of events */
		mm_shm_ring_consumer_disarm(&s->in);
		s->armed = false;
		mm_rtr_drain_session(r, s);
		break;
	case MM_RTR_T_CMD_SPACE:
		if ((s = mm_rtr_session_at(r, v)))
			mm_rtr_cmd_space(r, s);
		break;
	default:
		on_client_event(r, kind, v);
	}
}

/*
 * Before sleeping: every in-ring that is empty gets its consumer flag set (then re-checked).
 * Only the rings drained since they were last armed: one that stayed armed has had no commit
 * since (a commit clears the flag and rings, which reaches dispatch() as an event), so at
 * 1,000 sessions a wake-up for one message costs one ring, not a thousand.
 */
static bool arm_all(struct mm_rtr *r)
{
	bool pending = false;

	for (size_t i = 0; i < r->nsess; i++) {
		struct mm_rtr_session *s = r->sess[i];
		int rc;

		if (s->dead || s->blocked || r->holding || s->armed)
			continue;
		rc = mm_shm_ring_consumer_arm(&s->in);
		if (rc == 1) {
			mm_rtr_drain_session(r, s);
			pending = true;
		} else if (rc == 0) {
			s->armed = true;
		}
	}
	for (size_t i = 0; i < r->ncl; i++) {
		struct mm_rtr_client *c = r->cl[i];

		if (c->registered && !mm_rtr_publish_held(r, c) &&
		    mm_shm_ring_consumer_arm(&c->pub) == 1) {
			mm_rtr_drain_pub(r, c);
			pending = true;
		}
	}
	return pending;
}

/*
 * Stopping. mqttmuxd stops the workers before the router, so nothing more arrives: deliver
 * what they committed (the clients outlive a daemon restart and read their old rings to the
 * end), unless the rejoin wait still holds the rings or a blocking client lacks room. What is
 * left dies with the rings: logged.
 */
static void drain_before_exit(struct mm_rtr *r)
{
	struct mm_shm_rec rec;

	for (size_t i = 0; i < r->nsess; i++) {
		struct mm_rtr_session *s = r->sess[i];

		for (int k = 0; k < MM_RTR_EXIT_BATCHES && !r->holding && !s->dead && !s->blocked &&
				mm_shm_ring_peek(&s->in, &rec) > 0;
		     k++)
			mm_rtr_drain_session(r, s);
		if (!s->dead && mm_shm_ring_peek(&s->in, &rec) > 0)
			mm_log(MM_LOG_WARNING,
			       "session '%s': records left in the in-ring at stop (%s)", s->name,
			       r->holding   ? "clients of the previous router not back"
			       : s->blocked ? "a blocking client has no room"
					    : "too many");
	}
}

/* Run until SIGTERM/SIGINT, a STOP or EOF on the channel. Returns the exit code. */
int mm_rtr_run(struct mm_rtr *r)
{
	struct epoll_event evs[64];

	if (r->chan >= 0)
		(void)mm_chan_send(r->chan, MM_CHAN_READY, 0, (uint64_t)getpid());
	for (size_t i = 0; i < r->nsess; i++)
		mm_rtr_drain_session(r, r->sess[i]);
	while (!r->stop) {
		bool held = r->holding;
		int n, timeout = arm_all(r) ? 0 : held ? 20 : idle_timeout_ms(r);

		timeout = mm_rtr_clients_tick(r, timeout);
		timeout = mm_rtr_block_tick(r, timeout);

		n = epoll_wait(r->epfd, evs, 64, timeout);
		if (n == -1 && errno != EINTR)
			return mm_log_errno(-errno, "epoll_wait"), 1;
		for (int i = 0; i < n && !r->stop; i++)
			dispatch(r, evs[i].data.u64);
		heartbeat(r);
		unrouted_tell(r);
		gap_wake(r);
		mm_rtr_retain_expire(r);
		(void)mm_rtr_stats_gauges(r, mm_time_mono_ns());
		if (held && !mm_rtr_holding(r))
			for (size_t i = 0; i < r->nsess; i++)
				mm_rtr_drain_session(r, r->sess[i]);
	}
	drain_before_exit(r);
	r->next_gap_ns = 0; /* the last second's unrouted messages, told now */
	unrouted_tell(r);
	return 0;
}

/*
 * The router is gone after this. Its clients' routes end with it, not by their will: no
 * UNSUBSCRIBE goes to the workers (which may outlive us for a moment when mqttmuxd was
 * killed). A persistent session keeps its subscriptions at the broker, which queues for the
 * clients while no daemon runs; they rejoin the next router.
 */
void mm_rtr_done(struct mm_rtr *r)
{
	r->exiting = true;
	while (r->ncl)
		mm_rtr_client_drop(r, r->cl[r->ncl - 1], 0, NULL);
	mm_rtr_pend_drop_all(r);
	mm_rtr_retain_done(r);
	mm_rtr_access_done(r);
	mm_rtr_table_free(r);
	mm_handoff_router_free(r->opts);
	r->opts = NULL;
	free(r->cl);
	free(r->scratch);
	mm_rtr_stats_close(r);
	mm_rtr_sub_done(&r->sub);
	if (r->lsock >= 0)
		close(r->lsock);
	if (r->sigfd >= 0)
		close(r->sigfd);
	if (r->epfd >= 0)
		close(r->epfd);
}
