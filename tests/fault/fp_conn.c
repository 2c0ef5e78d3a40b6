/* SPDX-License-Identifier: MIT */
/*
 * mm-faultproxy's data path: each connection pair moves bytes in two directions through a
 * queue of chunks, each released <delay> after it was read and written no faster than the
 * throttle allows. EOF on one side becomes a shutdown of the other once its queue is empty;
 * an error (a reset) on one side resets the other.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "faultproxy.h"

void fp_queue_clear(struct fp_dir *d)
{
	while (d->head) {
		struct fp_chunk *n = d->head->next;

		free(d->head);
		d->head = n;
	}
	d->tail = NULL;
	d->queued = 0;
}

static bool can_read(const struct fp_conn *c, int d)
{
	return !c->blackholed && c->ufd >= 0 && !c->connecting && !c->dir[d].eof &&
	       c->dir[d].queued < FP_QUEUE_CAP;
}

static void refill(const struct fp *p, struct fp_dir *d, uint64_t now)
{
	double cap = p->rate / 10.0 < 1.0 ? 1.0 : p->rate / 10.0;

	if (!p->rate)
		return;
	if (d->refill_ns)
		d->tokens += (double)p->rate * (double)(now - d->refill_ns) / 1e9;
	if (d->tokens > cap)
		d->tokens = cap;
	d->refill_ns = now;
}

/* Is the head chunk of direction <d> due, and may some of it go out now? */
static bool can_write(const struct fp *p, const struct fp_conn *c, int d, uint64_t now)
{
	const struct fp_dir *q = &c->dir[d];

	return !c->blackholed && !c->connecting && q->head && q->head->release_ns <= now &&
	       (!p->rate || q->tokens >= 1.0);
}

static int grow(struct fp *p, size_t n)
{
	struct pollfd *np;

	if (n <= p->pfd_cap)
		return 0;
	np = realloc(p->pfd, n * 2 * sizeof(*np));
	if (!np)
		return -1;
	p->pfd = np;
	p->pfd_cap = n * 2;
	return 0;
}

/* The poll array: listener, control listener, control connection, then two per connection. */
struct pollfd *fp_poll_build(struct fp *p)
{
	uint64_t now = fp_now_ns(CLOCK_MONOTONIC);

	if (grow(p, 3 + 2 * p->nconns) < 0)
		return NULL;
	p->pfd[0] = (struct pollfd){ .fd = p->lfd, .events = POLLIN };
	p->pfd[1] = (struct pollfd){ .fd = p->cfd < 0 ? p->ctl : -1, .events = POLLIN };
	p->pfd[2] = (struct pollfd){ .fd = p->cfd, .events = POLLIN };
	p->npfd = 3;
	for (size_t i = 0; i < p->nconns; i++) {
		struct fp_conn *c = p->conns[i];
		struct pollfd *cp = &p->pfd[p->npfd], *up = cp + 1;

		for (int d = 0; d < 2; d++)
			refill(p, &c->dir[d], now);
		c->pidx = (int)p->npfd;
		p->npfd += 2;
		*cp = (struct pollfd){ .fd = c->cfd, .events = c->blackholed ? POLLRDHUP : 0 };
		*up = (struct pollfd){ .fd = c->ufd };
		cp->events |=
			(can_read(c, 0) ? POLLIN : 0) | (can_write(p, c, 1, now) ? POLLOUT : 0);
		up->events =
			(short)(c->connecting ? POLLOUT
					      : (can_read(c, 1) ? POLLIN : 0) |
							(can_write(p, c, 0, now) ? POLLOUT : 0));
	}
	return p->pfd;
}

/* Until the next chunk is due or the throttle has a byte to give: -1 if nothing waits. */
int fp_poll_timeout(const struct fp *p)
{
	uint64_t now = fp_now_ns(CLOCK_MONOTONIC), next = UINT64_MAX;

	for (size_t i = 0; i < p->nconns; i++) {
		const struct fp_conn *c = p->conns[i];

		for (int d = 0; d < 2; d++) {
			const struct fp_chunk *h = c->dir[d].head;

			if (!h || c->blackholed)
				continue;
			if (h->release_ns > now && h->release_ns - now < next)
				next = h->release_ns - now;
			if (h->release_ns <= now && p->rate && c->dir[d].tokens < 1.0)
				next = next < 5000000 ? next : 5000000;
		}
	}
	return next == UINT64_MAX ? -1 : (int)((next + 999999) / 1000000);
}

static int read_into(struct fp *p, struct fp_dir *q, int src)
{
	size_t room = FP_QUEUE_CAP - q->queued;
	struct fp_chunk *ch = malloc(sizeof(*ch) + FP_CHUNK);
	ssize_t n;

	if (!ch)
		return FP_CLOSE_RST;
	n = recv(src, ch->data, room < FP_CHUNK ? room : FP_CHUNK, MSG_DONTWAIT);
	if (n <= 0) {
		free(ch);
		if (n == 0)
			q->eof = true;
		return n == 0 || errno == EAGAIN || errno == EINTR ? 0 : FP_CLOSE_RST;
	}
	*ch = (struct fp_chunk){ .release_ns = fp_now_ns(CLOCK_MONOTONIC) + p->delay_ns,
				 .len = (size_t)n };
	if (q->tail)
		q->tail->next = ch;
	else
		q->head = ch;
	q->tail = ch;
	q->queued += (size_t)n;
	return 0;
}

static int write_from(struct fp *p, struct fp_conn *c, int d, int dst)
{
	struct fp_dir *q = &c->dir[d];
	uint64_t now = fp_now_ns(CLOCK_MONOTONIC);

	while (can_write(p, c, d, now)) {
		struct fp_chunk *h = q->head;
		size_t len = h->len - h->off;
		ssize_t n;

		if (p->rate && len > (size_t)q->tokens)
			len = (size_t)q->tokens;
		n = send(dst, h->data + h->off, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : FP_CLOSE_RST;
		h->off += (size_t)n;
		q->queued -= (size_t)n;
		q->tokens -= p->rate ? (double)n : 0.0;
		p->bytes[d] += (uint64_t)n;
		if (h->off == h->len) {
			q->head = h->next;
			if (!q->head)
				q->tail = NULL;
			free(h);
		}
	}
	return 0;
}

/* Move what can move in direction <d>; pass an EOF on once everything before it is out. */
static int pump(struct fp *p, struct fp_conn *c, int d, short src_re)
{
	int src = d ? c->ufd : c->cfd, dst = d ? c->cfd : c->ufd, rc = 0;
	struct fp_dir *q = &c->dir[d];

	if ((src_re & (POLLIN | POLLHUP | POLLERR)) && can_read(c, d))
		rc = read_into(p, q, src);
	if (rc == 0)
		rc = write_from(p, c, d, dst);
	if (rc == 0 && q->eof && !q->queued && !q->shut) {
		(void)shutdown(dst, SHUT_WR);
		q->shut = true;
	}
	return rc;
}

static int finish_connect(struct fp_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err)
		return FP_CLOSE_RST; /* upstream refused: the client sees a reset, as from a dead
					port */
	c->connecting = false;
	return 0;
}

/*
 * Serve connection <c> after poll. Returns 0, or FP_CLOSE_FIN / FP_CLOSE_RST when the pair is done
 * (both directions shut) or broken; the caller then frees it.
 */
int fp_conn_service(struct fp *p, struct fp_conn *c, const struct pollfd *pfd)
{
	short cre, ure;
	int rc;

	if (c->pidx < 0)
		return 0;
	cre = pfd[c->pidx].revents;
	ure = c->ufd >= 0 ? pfd[c->pidx + 1].revents : 0;
	if (c->blackholed)
		return cre & (POLLRDHUP | POLLHUP | POLLERR) ? FP_CLOSE_FIN : 0;
	if (c->connecting && ure && (rc = finish_connect(c)) < 0)
		return rc;
	if (c->connecting)
		return 0;
	if ((rc = pump(p, c, 0, cre)) < 0 || (rc = pump(p, c, 1, ure)) < 0)
		return rc;
	return c->dir[0].shut && c->dir[1].shut ? FP_CLOSE_FIN : 0;
}
