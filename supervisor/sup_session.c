/* SPDX-License-Identifier: MIT */
/*
 * What state a session is in, from its restart state machine and its worker's stats block: one
 * answer for `status`, `wait` (sup_ctl_cmd.c) and the mqtt_session_status metric
 * (sup_metrics.c), and nothing else here, so that neither of those reaches into the other.
 */
#include <stdatomic.h>
#include <stdbool.h>

#include "stats.h"
#include "sup.h"

/* Is the stats block written by the current process of <c> (not a dead predecessor)? */
bool mm_sup_stats_current(const struct mm_sup_child *c, const struct mm_stats_block *st)
{
	return st && c->pid > 0 && c->fsm.state == MM_CHILD_UP &&
	       atomic_load_explicit(&st->worker_pid, memory_order_relaxed) == (uint32_t)c->pid;
}

/*
 * The state of session <c> in the seed's codes, for `status` and the mqtt_session_status metric
 * alike (one table, docs/metrics.md): from its worker's stats block <st> (may be NULL) when that
 * is the current worker's, else from the restart state machine.
 */
enum mm_ctl_state mm_sup_session_state(const struct mm_sup_child *c,
				       const struct mm_stats_block *st)
{
	static const enum mm_ctl_state from_sess[_MM_SESS_STATE_MAX] = {
		[MM_SESS_STOPPED] = MM_CTL_CLOSED,
		[MM_SESS_CONNECTING] = MM_CTL_CONNECTING,
		[MM_SESS_CONNECTED] = MM_CTL_CONNECTED,
		[MM_SESS_READY] = MM_CTL_CONNECTED,
		[MM_SESS_DISCONNECTED] = MM_CTL_DISCONNECTED,
		[MM_SESS_RECONNECTING] = MM_CTL_RECONNECTING,
	};
	unsigned v;

	if (c->fsm.failed || c->fsm.state == MM_CHILD_FAILED)
		return MM_CTL_FAILED;
	if (c->fsm.state == MM_CHILD_DOWN || c->fsm.state == MM_CHILD_STOPPING)
		return MM_CTL_CLOSED;
	if (c->fsm.state == MM_CHILD_BACKOFF)
		return MM_CTL_RECONNECTING;
	if (!mm_sup_stats_current(c, st))
		return MM_CTL_CONNECTING;
	v = atomic_load_explicit(&st->state, memory_order_relaxed);
	return v < _MM_SESS_STATE_MAX ? from_sess[v] : MM_CTL_DISCONNECTED;
}
