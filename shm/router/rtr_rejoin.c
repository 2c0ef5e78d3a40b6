/* SPDX-License-Identifier: MIT */
/*
 * The rejoin after a router restart. The router stats block (shm/rstats.h) outlives the
 * router. A router that starts finds the slots its predecessor left "connected": those
 * clients are alive (or will be found dead) and will reconnect, add their routes again and
 * send REJOINED. Until each has done so (or its process is gone, or clients.rejoin_grace
 * passed) the router does not drain any in-ring: messages wait there (the worker pushes back
 * to the broker if it fills) instead of being fanned out to a route table that is still
 * incomplete. docs/router.md ("Restarts") has the whole story.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "log.h"
#include "mm_time.h"
#include "rtr.h"

/* clients.rejoin_grace in ns */
static uint64_t grace_ns(const struct mm_rtr *r)
{
	return (uint64_t)(r->clients->rejoin_grace * (double)MM_NS_PER_SEC);
}

/* The clients the previous router had: expected back. Their slots become "gone" meanwhile. */
static int collect_expected(struct mm_rtr *r)
{
	for (unsigned i = 0; i < MM_RSTATS_MAX_CLIENTS; i++) {
		struct mm_rstats_client *s = &r->st->clients[i];
		uint32_t state = atomic_load_explicit(&s->state, memory_order_relaxed);

		if (atomic_load_explicit(&s->seq, memory_order_relaxed) & 1)
			mm_rstats_client_end(s); /* a predecessor killed inside a section */
		if (state != MM_RSTATS_CONNECTED)
			continue;
		r->expect[r->n_expect++] = (struct mm_rtr_expect){
			.token = atomic_load_explicit(&s->token, memory_order_relaxed),
			.pid = (pid_t)atomic_load_explicit(&s->pid, memory_order_relaxed),
		};
		mm_rstats_client_begin(s);
		atomic_store_explicit(&s->state, MM_RSTATS_GONE, memory_order_relaxed);
		atomic_store_explicit(&s->queued, 0, memory_order_relaxed);
		mm_rstats_client_end(s);
	}
	return 0;
}

/*
 * Called once the stats block is attached: note the clients of the previous router and, if
 * there are any, hold the in-rings until they are back. Returns 0 or -ENOMEM.
 */
int mm_rtr_rejoin_start(struct mm_rtr *r)
{
	r->expect = calloc(MM_RSTATS_MAX_CLIENTS, sizeof(*r->expect));
	if (!r->expect)
		return -ENOMEM;
	collect_expected(r);
	if (r->n_expect) {
		r->holding = true;
		r->hold_until_ns = mm_time_mono_ns() + grace_ns(r);
		mm_log(MM_LOG_INFO, "waiting up to %g s for %zu client(s) of the previous router",
		       r->clients->rejoin_grace, r->n_expect);
	}
	return 0;
}

/* Forget the expected clients. Idempotent. */
void mm_rtr_rejoin_done(struct mm_rtr *r)
{
	free(r->expect);
	r->expect = NULL;
	r->n_expect = 0;
	r->holding = false;
}

static void expect_remove(struct mm_rtr *r, size_t i)
{
	r->expect[i] = r->expect[--r->n_expect];
}

/*
 * Still waiting for clients of the previous router? Drops the ones whose process is gone;
 * gives up at the deadline. Returns true while the in-rings must stay untouched.
 */
bool mm_rtr_holding(struct mm_rtr *r)
{
	if (!r->holding)
		return false;
	for (size_t i = 0; i < r->n_expect;)
		if (r->expect[i].pid > 0 && kill(r->expect[i].pid, 0) == -1 && errno == ESRCH)
			expect_remove(r, i);
		else
			i++;
	if (r->n_expect && mm_time_mono_ns() < r->hold_until_ns)
		return true;
	if (r->n_expect)
		mm_log(MM_LOG_WARNING,
		       "%zu client(s) of the previous router did not come back "
		       "within %g s (clients.rejoin_grace): delivering without them",
		       r->n_expect, r->clients->rejoin_grace);
	r->holding = false;
	r->n_expect = 0;
	return false;
}

/* <c> has every route back (REJOINED). */
void mm_rtr_rejoined(struct mm_rtr *r, struct mm_rtr_client *c)
{
	for (size_t i = 0; i < r->n_expect; i++)
		if (r->expect[i].token == c->token) {
			expect_remove(r, i);
			mm_log(MM_LOG_INFO, "client %u ('%s') rejoined; %zu still expected", c->id,
			       c->name, r->n_expect);
			break;
		}
}
