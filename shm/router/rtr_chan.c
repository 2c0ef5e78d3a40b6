/* SPDX-License-Identifier: MIT */
/*
 * The router's end of its supervisor channel (common/chan.h), what comes in: STOP,
 * SESSION_FAILED and the changes of the session table in (SESSION_ADD, SESSION_REMOVE: see
 * rtr_table.c; CLIENTS: new client options from a handoff blob). EOF means the supervisor is
 * gone: the router stops.
 */
#include <errno.h>
#include <string.h>

#include "chan.h"
#include "log.h"
#include "mm_time.h"
#include "rtr.h"

/* The supervisor marked a session failed: clients that asked for events hear it. */
static void session_failed(struct mm_rtr *r, struct mm_rtr_session *s, bool permanent)
{
	static const char perm[] = "worker exited with a usage or config error: not restarted",
			  loop[] = "crash loop: still retried at the restart cap";
	struct mm_rec_event e = { .kind = MM_CLIENT_EV_SESSION_FAILED,
				  .code = permanent ? 1 : 0,
				  .text = { (const uint8_t *)(permanent ? perm : loop),
					    (uint32_t)(permanent ? sizeof(perm) : sizeof(loop)) -
						    1 } };

	e.time_ns = mm_time_real_ns();
	mm_log(MM_LOG_INFO, "session '%s': failed (%s)", s->name, permanent ? "permanent" : "loop");
	mm_rtr_forward_event(r, s, &e);
	mm_rtr_commit_clients(r);
}

/* SESSION_ADD: the body is the session's table entry (shm/handoff.h); its six ring descriptors. */
static void session_add(struct mm_rtr *r, const struct mm_chan_msg *m, struct mm_chan_extra *x)
{
	struct mm_handoff_rsess e;
	int rc;

	if (x->nfds != MM_FD_SESS_N || mm_handoff_rsess_unpack(x->body, x->len, &e) < 0 ||
	    e.idx != m->arg) {
		mm_log(MM_LOG_WARNING,
		       "control channel: SESSION_ADD with %u descriptors and %zu body bytes, ignoring",
		       x->nfds, x->len);
		return;
	}
	x->nfds = 0; /* mm_rtr_session_add() owns them now, whatever happens */
	rc = mm_rtr_session_add(r, &e, x->fds, true);
	if (rc < 0)
		mm_log_errno(rc, "session '%s' [%u] could not be added", e.name, e.idx);
	mm_handoff_rsess_done(&e);
}

/* CLIENTS: a handoff blob whose client options apply to clients that connect from now on. */
static void clients_update(struct mm_rtr *r, struct mm_chan_extra *x)
{
	struct mm_handoff_router *t = NULL;
	struct mm_cfg_clients old;
	int rc = -EINVAL;

	if (x->nfds == 1) {
		rc = mm_handoff_router_read(x->fds[0], &t);
		x->nfds = 0;
	}
	if (rc == 0)
		rc = mm_rtr_scratch_fit(r, t->clients.ring_size);
	if (rc < 0) {
		mm_log_errno(rc, "control channel: new client options refused");
		mm_handoff_router_free(t);
		return;
	}
	old = r->opts->clients;
	r->opts->clients = t->clients;
	t->clients = old; /* freed with t */
	mm_handoff_router_free(t);
	mm_log(MM_LOG_INFO, "client options updated (%zu uid(s), %zu gid(s) allowed)",
	       r->clients->n_allow_uids, r->clients->n_allow_gids);
}

static void on_record(struct mm_rtr *r, const struct mm_chan_msg *m, struct mm_chan_extra *x)
{
	struct mm_rtr_session *s;

	if (m->cmd == MM_CHAN_STOP) {
		mm_log(MM_LOG_INFO, "stop requested by the supervisor");
		r->stop = true;
	} else if (m->cmd == MM_CHAN_SESSION_FAILED && (s = mm_rtr_session_at(r, m->arg))) {
		session_failed(r, s, m->value != 0);
	} else if (m->cmd == MM_CHAN_SESSION_ADD) {
		session_add(r, m, x);
	} else if (m->cmd == MM_CHAN_SESSION_REMOVE) {
		if (mm_rtr_session_remove(r, m->arg) < 0)
			mm_log(MM_LOG_WARNING, "control channel: no session [%u] to remove",
			       m->arg);
	} else if (m->cmd == MM_CHAN_CLIENTS) {
		clients_update(r, x);
	}
	mm_chan_extra_close(x); /* descriptors nobody took */
}

/* The channel is readable: handle every record waiting. */
void mm_rtr_chan_input(struct mm_rtr *r)
{
	struct mm_chan_extra x;
	struct mm_chan_msg m;
	int rc;

	while (!r->stop && (rc = mm_chan_recv_msg(r->chan, &m, &x)) != -EAGAIN) {
		if (rc == -EBADMSG) {
			mm_log(MM_LOG_WARNING, "control channel: malformed record, ignoring");
			continue;
		}
		if (rc <= 0) {
			mm_log(MM_LOG_INFO, "control channel closed: the supervisor is gone");
			r->stop = true;
			return;
		}
		on_record(r, &m, &x);
	}
}
