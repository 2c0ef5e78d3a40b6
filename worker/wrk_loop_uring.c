/* SPDX-License-Identifier: MIT */
/*
 * The io_uring backend of the worker loop (liburing 2.3): one multishot POLL_ADD per watch.
 *
 * user_data. Every request carries kind (8 bits) | slot index (24 bits) | generation (32 bits).
 * A slot's generation is bumped when its watch ends, so a CQE of an earlier watch in a
 * reused slot (the MQTT socket comes back with the same fd number at every reconnect) is
 * recognised and dropped. The kinds are the poll itself, the POLL_REMOVE in update mode that
 * changes its events or re-checks readiness, and the POLL_REMOVE that ends it.
 *
 * Level-triggered semantics. A multishot poll posts a CQE when it is armed on a ready fd and
 * then at each wakeup of the fd's wait queue: an edge. Data left unread makes no new wakeup.
 * So once a watch's readiness has been reported, the next wait first sends an update of the
 * poll with its current events (IORING_POLL_UPDATE_EVENTS, same user_data). The kernel
 * disarms the poll, re-arms it and runs vfs_poll(): if the fd is still ready a new CQE comes
 * at once, in the same io_uring_enter() that then waits, so the re-check costs no extra
 * system call. modify() is the same update with new events. An update refused with -EALREADY
 * (a wakeup's task_work owned the poll at that moment) is sent again before the loop blocks.
 * A poll that ends by itself (a CQE without IORING_CQE_F_MORE: CQ overflow, or the update's
 * re-arm failing with -ECANCELED) is armed again, which re-checks as well; one that ends with
 * another error is reported as MM_WRK_EV_ERR at every wait until unwatched. CQEs are folded
 * into per-watch "ready" bits, so several CQEs for one watch make one event, and readiness
 * seen while unwatch() waits for its removal is kept for the next wait.
 *
 * Releasing the fd. An armed poll holds a reference to the file: closing the fd does not close
 * the socket (libmosquitto-notes.md pitfall 4). unwatch() sends a POLL_REMOVE and waits until
 * the poll's own last CQE (-ECANCELED, no F_MORE) has arrived; the kernel puts the request's
 * file reference when it posts that completion, before io_uring_enter() returns, so a close()
 * after unwatch() really closes the socket. tests/unit/worker checks that the peer sees EOF.
 *
 * The ring is created without DEFER_TASKRUN: poll completions are then posted before
 * io_uring_enter() returns to us, which the re-check above relies on.
 *
 * One io_uring_enter() per wake-up. An update that succeeds has nothing to say, but its CQE
 * would satisfy the wait for one completion at once: the wait returned with no event, and the
 * loop entered the kernel a second time to sleep, once per wake-up (issue 14: 1.6 enters per
 * message at 10,000 msg/s). Where the kernel offers it (IORING_FEAT_CQE_SKIP, Linux 5.17),
 * updates carry IOSQE_CQE_SKIP_SUCCESS: only a refused update (-EALREADY, -ENOENT) posts.
 *
 * Doorbells ride along. The router's doorbell (an eventfd write, rung when the router sleeps)
 * was the third system call of a wake-up at everyday rates. ur_bell queues it as a WRITE with
 * IOSQE_CQE_SKIP_SUCCESS, so the io_uring_enter that submits the poll updates and sleeps also
 * rings it, first (SQEs are issued in order, before the wait). The eventfd is non-blocking,
 * so the kernel writes it inline, not from a worker thread. A failed write posts a CQE, which
 * is dropped: the only failure of a valid eventfd is EAGAIN, a counter already due to wake.
 * Without CQE_SKIP the front end writes itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>

#include <liburing.h>

#include "wrk_loop_backend.h"

#define URING_ENTRIES	  64 /* SQ entries; the CQ gets twice that. 1000 workers per host. */
#define URING_SLOTS_MAX	  (1u << 20) /* fits the 24-bit slot field of user_data */
#define UNWATCH_WAIT_NS	  1000000000ll
#define UNWATCH_MAX_WAITS 10

enum ud_kind {
	UD_POLL = 1, /* the multishot poll of a watch */
	UD_UPDATE,   /* POLL_REMOVE with IORING_POLL_UPDATE_EVENTS */
	UD_REMOVE,   /* POLL_REMOVE ending the poll */
	UD_BELL,     /* a doorbell's eventfd write (mm_wrk_loop_bell); posts only on failure */
};

struct uslot {
	uint64_t token;
	int fd;
	uint32_t gen;	 /* bumped when the watch ends */
	uint32_t events; /* MM_WRK_EV_IN / _OUT asked for */
	uint32_t ready;	 /* MM_WRK_EV_* seen in CQEs, not yet reported */
	int err;	 /* the poll ended with this -errno: MM_WRK_EV_ERR until unwatched */
	bool used;
	bool armed;	   /* the poll was queued and its last CQE is not seen yet */
	bool need_arm;	   /* queue a poll at the next flush */
	bool dirty;	   /* queue an update (events changed, or re-check readiness) */
	bool remove_again; /* the POLL_REMOVE met -EALREADY: send it again */
};

struct uring {
	struct io_uring ring;
	struct uslot *slots;
	uint32_t nslots; /* allocated; unused ones have used == false */
	uint32_t next;	 /* where the next report starts, so that every watch gets its turn */
	bool cqe_skip;	 /* IORING_FEAT_CQE_SKIP: successful updates post no CQE */
};

static uint64_t ud_make(enum ud_kind kind, uint32_t idx, uint32_t gen)
{
	return (uint64_t)kind << 56 | (uint64_t)idx << 32 | gen;
}

static uint32_t ud_index(uint64_t ud)
{
	return (uint32_t)(ud >> 32) & 0xffffffu;
}

static unsigned to_poll(uint32_t events)
{
	unsigned m = POLLRDHUP;

	if (events & MM_WRK_EV_IN)
		m |= POLLIN;
	if (events & MM_WRK_EV_OUT)
		m |= POLLOUT;
	return m;
}

/* The kernel always adds ERR, HUP and RDHUP; a late CQE may carry bits no longer asked for. */
static uint32_t from_poll(unsigned revents, uint32_t asked)
{
	uint32_t events = 0;

	if (revents & POLLIN)
		events |= MM_WRK_EV_IN;
	if (revents & POLLOUT)
		events |= MM_WRK_EV_OUT;
	events &= asked;
	if (revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL))
		events |= MM_WRK_EV_ERR;
	return events;
}

static struct uslot *find(struct uring *u, uint64_t token)
{
	for (uint32_t i = 0; i < u->nslots; i++)
		if (u->slots[i].used && u->slots[i].token == token)
			return &u->slots[i];
	return NULL;
}

static bool fd_watched(const struct uring *u, int fd)
{
	for (uint32_t i = 0; i < u->nslots; i++)
		if (u->slots[i].used && u->slots[i].fd == fd)
			return true;
	return false;
}

/* A free slot, growing the table if needed. Returns 0, -ENOMEM or -ENOSPC. */
static int slot_alloc(struct uring *u, struct uslot **ret)
{
	struct uslot *s;
	uint32_t n;

	for (uint32_t i = 0; i < u->nslots; i++) {
		if (!u->slots[i].used) {
			*ret = &u->slots[i];
			return 0;
		}
	}
	if (u->nslots >= URING_SLOTS_MAX)
		return -ENOSPC;
	n = u->nslots ? u->nslots * 2 : 8;
	s = realloc(u->slots, n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (uint32_t i = u->nslots; i < n; i++)
		s[i] = (struct uslot){ .fd = -1 };
	*ret = &s[u->nslots];
	u->slots = s;
	u->nslots = n;
	return 0;
}

/* The generation survives, bumped, so that CQEs of this watch are recognised as stale. */
static void slot_release(struct uslot *s)
{
	*s = (struct uslot){ .fd = -1, .gen = s->gen + 1 };
}

/* An SQE, submitting what is queued when the SQ is full. NULL if the kernel refuses. */
static struct io_uring_sqe *get_sqe(struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe && io_uring_submit(&u->ring) >= 0)
		sqe = io_uring_get_sqe(&u->ring);
	return sqe;
}

/* Queue what slot <i> needs from the kernel: its poll, or an update of it. */
static int flush_slot(struct uring *u, uint32_t i)
{
	struct uslot *s = &u->slots[i];
	struct io_uring_sqe *sqe;

	if (!s->used || s->err || !(s->need_arm || (s->armed && s->dirty)))
		return 0;
	sqe = get_sqe(u);
	if (!sqe)
		return -EBUSY;
	if (s->need_arm) {
		io_uring_prep_poll_multishot(sqe, s->fd, to_poll(s->events));
		io_uring_sqe_set_data64(sqe, ud_make(UD_POLL, i, s->gen));
		s->need_arm = false;
		s->armed = true;
	} else {
		io_uring_prep_poll_update(sqe, ud_make(UD_POLL, i, s->gen), 0, to_poll(s->events),
					  IORING_POLL_UPDATE_EVENTS);
		io_uring_sqe_set_data64(sqe, ud_make(UD_UPDATE, i, s->gen));
		if (u->cqe_skip)
			io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
	}
	s->dirty = false;
	return 0;
}

static int flush(struct uring *u)
{
	int r;

	for (uint32_t i = 0; i < u->nslots; i++) {
		r = flush_slot(u, i);
		if (r < 0)
			return r;
	}
	return 0;
}

static void poll_cqe(struct uslot *s, const struct io_uring_cqe *cqe)
{
	if (cqe->res >= 0)
		s->ready |= from_poll((unsigned)cqe->res, s->events);
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	s->armed = false;
	if (cqe->res >= 0 || cqe->res == -ECANCELED)
		s->need_arm = true;
	else
		s->err = cqe->res;
}

static void handle_cqe(struct uring *u, const struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	uint32_t i = ud_index(ud);
	struct uslot *s;

	if (i >= u->nslots)
		return;
	s = &u->slots[i];
	if (!s->used || s->gen != (uint32_t)ud)
		return; /* from a watch that ended: its slot may already serve another */
	switch ((enum ud_kind)(ud >> 56)) {
	case UD_POLL:
		poll_cqe(s, cqe);
		break;
	case UD_UPDATE:
		if (cqe->res == -EALREADY)
			s->dirty = true;
		break;
	case UD_REMOVE:
		if (cqe->res == -EALREADY)
			s->remove_again = true;
		break;
	case UD_BELL:
		break; /* a failed doorbell write: EAGAIN, the reader is due to wake anyway */
	}
}

static void reap(struct uring *u)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&u->ring, head, cqe) {
		handle_cqe(u, cqe);
		n++;
	}
	io_uring_cq_advance(&u->ring, n);
}

/*
 * Submit what is queued and wait up to <timeout_ns> (-1: no limit) for one CQE. Returns 0,
 * -ETIME, -EINTR or -errno; the CQEs stay in the CQ for reap().
 */
static int submit_wait(struct uring *u, int64_t timeout_ns)
{
	struct __kernel_timespec ts = { .tv_sec = timeout_ns / 1000000000,
					.tv_nsec = timeout_ns % 1000000000 };
	struct io_uring_cqe *cqe;

	return io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, timeout_ns < 0 ? NULL : &ts,
						NULL);
}

static bool has_pending(const struct uring *u)
{
	for (uint32_t i = 0; i < u->nslots; i++)
		if (u->slots[i].used && (u->slots[i].ready || u->slots[i].err))
			return true;
	return false;
}

/* Report ready watches from u->next on; each reported one is re-checked at the next wait. */
static int emit(struct uring *u, struct mm_wrk_event *evs, int max)
{
	uint32_t k;
	int n = 0;

	for (k = 0; k < u->nslots && n < max; k++) {
		struct uslot *s = &u->slots[(u->next + k) % u->nslots];
		uint32_t events = s->ready | (s->err ? MM_WRK_EV_ERR : 0);

		if (!s->used || !events)
			continue;
		evs[n++] = (struct mm_wrk_event){ .token = s->token, .events = events };
		s->ready = 0;
		s->dirty = s->armed;
	}
	if (u->nslots)
		u->next = (u->next + k) % u->nslots;
	return n;
}

static int ur_poll(void *b, struct mm_wrk_event *evs, int max, int64_t timeout_ns)
{
	struct uring *u = b;
	int n, r;

	r = flush(u);
	if (r < 0)
		return r;
	if (has_pending(u))
		timeout_ns = 0;
	r = submit_wait(u, timeout_ns);
	if (r < 0 && r != -ETIME && r != -EINTR)
		return r;
	reap(u);
	n = emit(u, evs, max);
	if (n == 0 && r == -EINTR)
		return -EINTR;
	return n;
}

static int ur_bell(void *b, int efd)
{
	static const uint64_t one = 1; /* read by the kernel at submission, so it must stay */
	struct uring *u = b;
	struct io_uring_sqe *sqe;

	if (!u->cqe_skip)
		return -EOPNOTSUPP;
	sqe = get_sqe(u);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_write(sqe, efd, &one, sizeof(one), 0);
	io_uring_sqe_set_data64(sqe, ud_make(UD_BELL, 0, 0));
	io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
	return 0;
}

static int ur_watch(void *b, int fd, uint32_t events, uint64_t token)
{
	struct uring *u = b;
	struct uslot *s;
	int r;

	if (find(u, token) || fd_watched(u, fd))
		return -EEXIST;
	/* the poll is queued lazily: report a bad fd now, as epoll_ctl() does */
	if (fcntl(fd, F_GETFD) == -1)
		return -errno;
	r = slot_alloc(u, &s);
	if (r < 0)
		return r;
	s->token = token;
	s->fd = fd;
	s->events = events;
	s->used = true;
	s->need_arm = true;
	return 0;
}

static int ur_modify(void *b, uint64_t token, uint32_t events)
{
	struct uslot *s = find(b, token);

	if (!s)
		return -ENOENT;
	if (s->events != events) {
		s->events = events;
		s->ready &= events | MM_WRK_EV_ERR;
		s->dirty = true;
	}
	return 0;
}

static int queue_remove(struct uring *u, uint32_t i)
{
	struct uslot *s = &u->slots[i];
	struct io_uring_sqe *sqe = get_sqe(u);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_remove(sqe, ud_make(UD_POLL, i, s->gen));
	io_uring_sqe_set_data64(sqe, ud_make(UD_REMOVE, i, s->gen));
	s->remove_again = false;
	return 0;
}

/*
 * End the poll of slot <i> and wait for its last CQE, folding other CQEs into their watches
 * meanwhile. Returns 0, -ETIMEDOUT (the kernel never completed it) or -errno.
 */
static int cancel_poll(struct uring *u, uint32_t i)
{
	struct uslot *s = &u->slots[i];
	int waits = 0, r;

	s->remove_again = true;
	while (s->armed) {
		if (s->remove_again) {
			r = queue_remove(u, i);
			if (r < 0)
				return r;
		}
		r = submit_wait(u, UNWATCH_WAIT_NS);
		if (r < 0 && r != -ETIME && r != -EINTR)
			return r;
		if (r == -ETIME && ++waits >= UNWATCH_MAX_WAITS)
			return -ETIMEDOUT;
		reap(u);
	}
	return 0;
}

static int ur_unwatch(void *b, uint64_t token)
{
	struct uring *u = b;
	struct uslot *s = find(u, token);
	int r = 0;

	if (!s)
		return -ENOENT;
	if (s->armed)
		r = cancel_poll(u, (uint32_t)(s - u->slots));
	slot_release(s);
	return r;
}

static void ur_free(void *b)
{
	struct uring *u = b;

	if (!u)
		return;
	(void)io_uring_submit(&u->ring); /* doorbells still queued */
	io_uring_queue_exit(&u->ring);
	free(u->slots);
	free(u);
}

/*
 * What the loop needs beyond a ring: EXT_ARG (a timeout on the wait itself, Linux 5.11),
 * NODROP, and multishot poll with poll update (Linux 5.13). No feature bit or opcode names the
 * last two; IORING_FEAT_RSRC_TAGS came in the same release and stands for them.
 */
static int check_features(struct io_uring *ring, unsigned features, const char **ret_why)
{
	struct io_uring_probe *probe;
	bool ok;

	if (!(features & IORING_FEAT_EXT_ARG) || !(features & IORING_FEAT_NODROP) ||
	    !(features & IORING_FEAT_RSRC_TAGS)) {
		*ret_why = "io_uring lacks EXT_ARG or multishot poll (needs Linux >= 5.13)";
		return -EOPNOTSUPP;
	}
	probe = io_uring_get_probe_ring(ring);
	if (!probe) {
		*ret_why = "io_uring opcode probe refused";
		return -EOPNOTSUPP;
	}
	ok = io_uring_opcode_supported(probe, IORING_OP_POLL_ADD) &&
	     io_uring_opcode_supported(probe, IORING_OP_POLL_REMOVE);
	io_uring_free_probe(probe);
	if (!ok) {
		*ret_why = "io_uring lacks POLL_ADD or POLL_REMOVE";
		return -EOPNOTSUPP;
	}
	return 0;
}

static const char *why_init(int r)
{
	switch (r) {
	case -EPERM:
		return "io_uring refused (EPERM: seccomp filter or kernel.io_uring_disabled)";
	case -ENOSYS:
		return "io_uring not implemented by this kernel (ENOSYS)";
	case -EOPNOTSUPP:
		return "io_uring not supported (EOPNOTSUPP)";
	default:
		return "io_uring_queue_init failed";
	}
}

int mm_wrk_uring_new(void **ret, const char **ret_why)
{
	struct io_uring_params p = { 0 };
	struct uring *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return -ENOMEM;
	/* the ring fd is always close-on-exec: the kernel installs it with O_CLOEXEC */
	r = io_uring_queue_init_params(URING_ENTRIES, &u->ring, &p);
	if (r < 0) {
		*ret_why = why_init(r);
		goto out_free;
	}
	r = check_features(&u->ring, p.features, ret_why);
	if (r < 0)
		goto out_exit;
	u->cqe_skip = p.features & IORING_FEAT_CQE_SKIP;
	*ret = u;
	return 0;

out_exit:
	io_uring_queue_exit(&u->ring);
out_free:
	free(u);
	return r;
}

const struct mm_wrk_backend_ops mm_wrk_uring_ops = {
	.watch = ur_watch,
	.modify = ur_modify,
	.unwatch = ur_unwatch,
	.poll = ur_poll,
	.bell = ur_bell,
	.free = ur_free,
};
