/* SPDX-License-Identifier: MIT */
/*
 * The router's side of its stats block (shm/rstats.h). The rejoin after a router restart, which
 * starts from the client slots the previous router left, is in rtr_rejoin.c.
 *
 * Counters are kept in process-local deltas while a batch runs and written to the block once
 * per batch (mm_rtr_stats_flush), each client's in one seqlock section, so a reader always
 * sees matched == delivered + dropped + queued and the hot path makes no atomic
 * read-modify-write per message.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mm_time.h"
#include "rtr.h"

static void add(_Atomic uint64_t *a, uint64_t v)
{
	if (v)
		atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + v,
				      memory_order_relaxed);
}

/* One rare event (a refused or malformed client), straight into the block. */
void mm_rtr_stats_bump(_Atomic uint64_t *counter)
{
	add(counter, 1);
}

/* A bound of clients.max_* was hit (mqttmux_router_limited_total). */
void mm_rtr_stats_limit(struct mm_rtr *r, enum mm_rstats_limit which)
{
	add(&r->st->limited[which], 1);
}

/*
 * Attach the block in <fd> (from the supervisor), or a private one when fd < 0 (a router run
 * by hand or by a test). Returns 0 or -errno.
 */
int mm_rtr_stats_open(struct mm_rtr *r, int fd)
{
	int rc, own = -1;

	if (fd < 0) {
		rc = mm_shm_rstats_create("mqttmux-rstats", &own);
		if (rc < 0)
			return rc;
		fd = own;
	}
	rc = mm_shm_rstats_attach(fd, &r->st);
	if (own >= 0)
		(void)close(own);
	if (rc < 0)
		return rc;
	add(&r->st->starts, 1);
	return mm_rtr_rejoin_start(r);
}

void mm_rtr_stats_close(struct mm_rtr *r)
{
	if (r->st)
		mm_shm_rstats_detach(r->st);
	r->st = NULL;
	mm_rtr_rejoin_done(r);
}

/* The slot for a client that said HELLO with <c->token>: its own, a free one, or a gone one. */
static int pick_slot(const struct mm_rtr *r, uint64_t token)
{
	int free_slot = -1, gone = -1;

	for (unsigned i = 0; i < MM_RSTATS_MAX_CLIENTS; i++) {
		const struct mm_rstats_client *s = &r->st->clients[i];
		uint64_t t = atomic_load_explicit(&s->token, memory_order_relaxed);
		uint32_t state = atomic_load_explicit(&s->state, memory_order_relaxed);

		if (t == token && state != MM_RSTATS_CONNECTED)
			return (int)i;
		if (state == MM_RSTATS_FREE && free_slot < 0)
			free_slot = (int)i;
		if (state == MM_RSTATS_GONE && gone < 0)
			gone = (int)i;
	}
	return free_slot >= 0 ? free_slot : gone;
}

/* Give <c> (HELLO accepted) its slot. No slot left: the client runs without per-client stats. */
void mm_rtr_stats_claim(struct mm_rtr *r, struct mm_rtr_client *c)
{
	struct mm_rstats_client *s;
	int i = pick_slot(r, c->token);

	add(&r->st->clients_registered, 1);
	c->slot = i;
	if (i < 0) {
		mm_log(MM_LOG_WARNING, "client %u: all %u stats slots in use; not counted", c->id,
		       MM_RSTATS_MAX_CLIENTS);
		return;
	}
	s = &r->st->clients[i];
	mm_rstats_client_begin(s);
	if (atomic_load_explicit(&s->token, memory_order_relaxed) != c->token) {
		/* a new client in a free or recycled slot: its counters start at 0 */
		_Atomic uint64_t *f = &s->matched;

		for (; f <= &s->ring_size; f++)
			atomic_store_explicit(f, 0, memory_order_relaxed);
		atomic_store_explicit(&s->token, c->token, memory_order_relaxed);
	}
	atomic_store_explicit(&s->state, MM_RSTATS_CONNECTED, memory_order_relaxed);
	atomic_store_explicit(&s->pid, (uint32_t)c->pid, memory_order_relaxed);
	atomic_store_explicit(&s->uid, (uint32_t)c->uid, memory_order_relaxed);
	atomic_store_explicit(&s->client_id, c->id, memory_order_relaxed);
	mm_rstats_client_set_name(s, c->name);
	add(&s->registrations, 1);
	atomic_store_explicit(&s->since_ns, mm_time_real_ns(), memory_order_relaxed);
	mm_rstats_client_end(s);
}

/* Write <c>'s deltas in one section; with <gone>, also mark the slot gone. */
static void flush_client(struct mm_rtr *r, struct mm_rtr_client *c, bool gone)
{
	struct mm_rtr_cstats *d = &c->d;
	struct mm_rstats_client *s;

	if (c->slot < 0 || (!gone && !memcmp(d, &(struct mm_rtr_cstats){ 0 }, sizeof(*d))))
		return;
	s = &r->st->clients[c->slot];
	mm_rstats_client_begin(s);
	add(&s->matched, d->matched);
	add(&s->delivered, d->delivered);
	add(&s->dropped, d->dropped);
	atomic_store_explicit(
		&s->queued,
		(uint64_t)((int64_t)atomic_load_explicit(&s->queued, memory_order_relaxed) +
			   d->queued),
		memory_order_relaxed);
	add(&s->gaps, d->gaps);
	add(&s->events, d->events);
	add(&s->pub_requests, d->pub_requests);
	add(&s->pub_ok, d->pub_ok);
	add(&s->pub_failed, d->pub_failed);
	add(&s->block_timeouts, d->block_timeouts);
	if (gone) {
		atomic_store_explicit(&s->state, MM_RSTATS_GONE, memory_order_relaxed);
		atomic_store_explicit(&s->queued, 0, memory_order_relaxed);
	}
	mm_rstats_client_end(s);
	*d = (struct mm_rtr_cstats){ 0 };
}

/*
 * <c> leaves: its slot keeps the counters, state "gone". Not when the router itself stops
 * (r->stop): its clients are still alive and the next router expects them back.
 */
void mm_rtr_stats_release(struct mm_rtr *r, struct mm_rtr_client *c)
{
	flush_client(r, c, !r->stop);
	c->slot = -1;
}

/* Write every pending delta (once per batch). */
void mm_rtr_stats_flush(struct mm_rtr *r)
{
	struct mm_rtr_rstats *d = &r->d;

	for (size_t i = 0; i < r->ncl; i++)
		flush_client(r, r->cl[i], false);
	add(&r->st->msgs_in, d->msgs_in);
	add(&r->st->deliveries, d->deliveries);
	add(&r->st->drops, d->drops);
	if (d->drops)
		r->gap_pending = true; /* the supervisor reports client_gap (rtr_loop.c) */
	add(&r->st->gaps, d->gaps);
	add(&r->st->events_fwd, d->events_fwd);
	add(&r->st->unrouted, d->unrouted);
	add(&r->st->block_timeouts, d->block_timeouts);
	add(&r->st->pub_requests, d->pub_requests);
	for (unsigned k = 0; k <= MM_RSTATS_LAT_BUCKETS; k++)
		add(k < MM_RSTATS_LAT_BUCKETS ? &r->st->lat[k] : &r->st->lat_overflow, d->lat[k]);
	add(&r->st->lat_sum_ns, d->lat_sum_ns);
	add(&r->st->lat_count, d->lat_count);
	*d = (struct mm_rtr_rstats){ 0 };
}

/* Store <c>'s routes and delivery-ring fill and size if they changed; true if the ring holds data.
 */
static bool client_gauges(struct mm_rtr *r, struct mm_rtr_client *c)
{
	struct mm_rstats_client *s = &r->st->clients[c->slot];
	uint64_t fill = mm_shm_ring_fill_bytes(&c->dlv);

	if (fill != atomic_load_explicit(&s->ring_fill, memory_order_relaxed) ||
	    c->nroutes != atomic_load_explicit(&s->routes, memory_order_relaxed) ||
	    c->dlv.cap != atomic_load_explicit(&s->ring_size, memory_order_relaxed)) {
		mm_rstats_client_begin(s);
		atomic_store_explicit(&s->routes, c->nroutes, memory_order_relaxed);
		atomic_store_explicit(&s->ring_fill, fill, memory_order_relaxed);
		atomic_store_explicit(&s->ring_size, c->dlv.cap, memory_order_relaxed);
		mm_rstats_client_end(s);
	}
	return fill > 0;
}

/*
 * Refresh the gauges of every registered client (`mqttmux top`, docs/metrics.md), at most once
 * per MM_RTR_GAUGE_NS. Returns true while some client's ring holds data: then the loop wakes
 * again in a second to follow it as the client drains; an idle router sleeps as before.
 */
bool mm_rtr_stats_gauges(struct mm_rtr *r, uint64_t now_ns)
{
	bool busy = false;

	if (now_ns < r->next_gauges_ns)
		return r->gauges_busy;
	r->next_gauges_ns = now_ns + MM_RTR_GAUGE_NS;
	for (size_t i = 0; i < r->ncl; i++)
		if (r->cl[i]->registered && r->cl[i]->slot >= 0)
			busy |= client_gauges(r, r->cl[i]);
	r->gauges_busy = busy;
	return busy;
}

/* A publish of <c> (may be NULL: gone) completed with <result>. */
void mm_rtr_stats_pub_done(struct mm_rtr *r, struct mm_rtr_client *c, int32_t result)
{
	_Atomic uint64_t *a = result == 0	      ? &r->st->pub_ok
			      : result == -ENOTCONN   ? &r->st->pub_enotconn
			      : result == -ECONNRESET ? &r->st->pub_econnreset
			      : result == -ENOENT     ? &r->st->pub_enoent
			      : result == -EMSGSIZE   ? &r->st->pub_emsgsize
						      : &r->st->pub_other;

	add(a, 1);
	if (!c)
		return;
	if (result == 0)
		c->d.pub_ok++;
	else
		c->d.pub_failed++;
}

/* The latency of a DELIVER written at <now_ns> (REALTIME) for a message received at <recv_ns>. */
void mm_rtr_stats_latency(struct mm_rtr *r, uint64_t now_ns, uint64_t recv_ns)
{
	uint64_t ns = now_ns > recv_ns ? now_ns - recv_ns : 0;

	r->d.lat[mm_rstats_lat_bucket(ns)]++;
	r->d.lat_sum_ns += ns;
	r->d.lat_count++;
}
