/* SPDX-License-Identifier: MIT */
/*
 * The supervisor loop: poll(2) over the signalfd and every child's control channel, with a
 * deadline recomputed each turn from the children's restart timers (the s6 pattern). Events
 * go through the state machine of sup_fsm.c; this file carries out the actions it returns and
 * logs every decision (exits, restarts, crash loops, permanent failures).
 *
 * The router is one more child here (s->router, spawned by sup_router.c). The control socket's
 * listener and connections are polled here too (sup_ctl.c). Reload on SIGHUP is in
 * sup_reload.c; metrics sampling (once a second) and the SIGUSR1 dump in sup_metrics.c.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "mm_time.h"
#include "sup.h"
#include "sup_notify.h"

static uint64_t next_rand(struct mm_sup *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ull;
}

/*
 * Create the resources of session <sess> in a new child record (not spawned yet). Returns 0 or
 * -errno. May move s->children: pointers into it are stale afterwards.
 */
int mm_sup_child_add(struct mm_sup *s, const struct mm_cfg_session *sess)
{
	struct mm_sup_child *c;
	uint32_t idx;
	int r;

	if (s->n_children == s->cap_children) {
		size_t cap = s->cap_children ? 2 * s->cap_children : 8;
		struct mm_sup_child *n = reallocarray(s->children, cap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->children = n;
		s->cap_children = cap;
	}
	idx = mm_sup_router_next_idx(s);
	c = &s->children[s->n_children];
	r = mm_sup_child_init(c, sess);
	c->idx = idx;
	s->n_children++;
	if (r < 0)
		return mm_log_errno(r, "session '%s': creating rings failed", sess->name);
	mm_sup_events_added(s, c);
	mm_sup_router_session_add(s, c);
	return 0;
}

/*
 * Create every session's resources; mm_sup_run() spawns the workers. <s> owns <cfg> from now
 * on; <config_path> must outlive it. Returns 0 or -errno (mm_sup_done() still cleans up).
 */
int mm_sup_init(struct mm_sup *s, struct mm_cfg *cfg, const char *config_path, int sig_fd)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->ep_fd = -1;
	s->pace_fd = -1;
	s->cfg = cfg;
	s->config_path = config_path;
	s->sig_fd = sig_fd;
	s->rng = ((uint64_t)getpid() << 32 ^ mm_time_mono_ns()) | 1;
	s->start_ns = mm_time_mono_ns();
	s->reloads.last_ok = true;
	s->reloads.last_ok_s = (double)(mm_time_real_ns() / MM_NS_PER_MS) / 1e3;
	mm_sup_policy_from_cfg(&s->policy, &cfg->restart);
	mm_sup_pace_apply(s);
	r = mm_sup_wait_open(s);
	if (r < 0)
		return mm_log_errno(r, "cannot set up the event loop");
	r = mm_sup_router_init(s);
	if (r < 0)
		return r;
	if ((size_t)snprintf(s->runtime_dir, sizeof(s->runtime_dir), "%s", cfg->runtime_dir) >=
	    sizeof(s->runtime_dir))
		return mm_log_errno(-ENAMETOOLONG, "runtime_dir");
	r = mm_sup_worker_path(s->worker, sizeof(s->worker));
	if (r < 0)
		return r;
	r = mm_sup_state_dirs(cfg->state_dir);
	if (r < 0)
		mm_log_errno(r, "cannot create state_dir '%s' and its quarantine/", cfg->state_dir);
	mm_sup_state_merge(s, cfg);
	mm_sup_state_sync(s);
	mm_sup_clients_restore(s);
	for (size_t i = 0; i < cfg->n_sessions; i++) {
		r = mm_sup_child_add(s, &cfg->sessions[i]);
		if (r < 0)
			return r;
	}
	r = mm_sup_ctl_open(s);
	if (r == 0)
		mm_sup_http_open(s);
	return r;
}

static void kill_reap(struct mm_sup_child *c)
{
	int st = 0;

	if (c->pid > 0 && !mm_sup_child_member(c)) {
		(void)mm_sup_child_signal(c, SIGKILL);
		(void)waitpid(c->pid, &st, 0);
	}
	mm_sup_child_done(c);
}

/* Kill and reap whatever is left (only after an error), then release everything. */
void mm_sup_done(struct mm_sup *s)
{
	mm_sup_ctl_close(s);
	mm_sup_http_close(s);
	mm_sup_events_free(s);
	kill_reap(&s->router);
	for (size_t i = 0; i < s->n_children; i++)
		kill_reap(&s->children[i]);
	free(s->children);
	mm_sup_wait_close(s);
	mm_sup_pace_close(s);
	mm_sup_state_done(s);
	mm_cfg_free(s->cfg);
	memset(s, 0, sizeof(*s));
	s->sig_fd = -1;
	s->ep_fd = -1;
	s->pace_fd = -1;
}

/* Feed <ev> at <now> to the machine of <c>, and move <c>'s timer to its new deadline. */
static enum mm_sup_act feed(struct mm_sup *s, struct mm_sup_child *c, enum mm_child_ev ev,
			    uint64_t now)
{
	enum mm_child_state before = c->fsm.state;
	enum mm_sup_act act = mm_sup_fsm_feed(&c->fsm, &s->policy, ev, now, next_rand(s));

	mm_log(MM_LOG_DEBUG, "%s: %s + %s -> %s (%s)", mm_sup_child_who(c),
	       mm_child_state_to_string(before), mm_child_ev_to_string(ev),
	       mm_child_state_to_string(c->fsm.state), mm_sup_act_to_string(act));
	mm_sup_timer_sync(s, c);
	return act;
}

/*
 * Feed <ev> to <c>, and to the members of its group after it (sup_group.c): they take the same
 * step at the same time, and share its process id. Returns <c>'s action.
 */
static enum mm_sup_act feed_all(struct mm_sup *s, struct mm_sup_child *c, enum mm_child_ev ev,
				uint64_t now)
{
	enum mm_sup_act act = feed(s, c, ev, now);

	for (size_t i = mm_sup_group_next(s, c, 0); i < s->n_children;
	     i = mm_sup_group_next(s, c, i + 1)) {
		s->children[i].pid = c->pid;
		s->children[i].wstatus = c->wstatus;
		(void)feed(s, &s->children[i], ev, now);
	}
	return act;
}

/* Spawn the worker of <c> until it works or the state machine schedules a retry. */
void mm_sup_spawn(struct mm_sup *s, struct mm_sup_child *c)
{
	enum mm_sup_act act = MM_SUP_ACT_SPAWN;

	while (act == MM_SUP_ACT_SPAWN) {
		int r = c->is_router ? mm_sup_router_spawn(s)
			: c->group   ? mm_sup_group_spawn(s, c)
				     : mm_sup_worker_spawn(s, c);

		if (r == 0) {
			if ((r = mm_sup_watch(s, c)) < 0)
				mm_log_errno(r, "%s: cannot watch its channel",
					     mm_sup_child_who(c));
			(void)feed_all(s, c, MM_CHILD_EV_SPAWNED, mm_time_mono_ns());
			mm_log(c->fsm.starts > 1 ? MM_LOG_INFO : MM_LOG_DEBUG,
			       "%s [%ld] started (start %u)", mm_sup_child_what(c), (long)c->pid,
			       c->fsm.starts);
			return;
		}
		/* posix_spawn reports a failed exec here (a binary removed since the start) */
		mm_log_errno(r, "%s: cannot execute '%s'", mm_sup_child_who(c),
			     c->is_router ? s->router_bin : s->worker);
		act = feed_all(s, c, MM_CHILD_EV_EXITED, mm_time_mono_ns());
	}
}

/*
 * Session <c>'s process is down on request: a session removed by a reload goes away (false);
 * one whose block changed gets new rings if it needs them (false if that failed).
 */
bool mm_sup_session_down(struct mm_sup *s, struct mm_sup_child *c)
{
	const struct mm_cfg_session *sess;
	bool changed;

	if (c->remove) {
		mm_log(MM_LOG_INFO, "session '%s' removed", c->name);
		mm_sup_router_session_remove(s, c);
		mm_sup_events_removed(s, c);
		mm_sup_metrics_retire(s, c);
		mm_sup_child_done(c);
		return false;
	}
	changed = c->respawn; /* a group's other sessions come down with it, unchanged */
	c->respawn = false;
	sess = mm_cfg_session_find(s->cfg, c->name);
	if (sess && mm_sup_rings_differ(sess, c->ring_size, c->cmd_size)) {
		/* New ring sizes mean new rings: the session starts afresh, under its index. */
		uint32_t idx = c->idx;

		mm_sup_metrics_retire(s, c);
		mm_sup_child_done(c);
		if (mm_sup_child_init(c, sess) < 0) {
			mm_log(MM_LOG_ERROR, "session '%s': new rings failed, dropped", sess->name);
			mm_sup_router_session_remove(s, &(struct mm_sup_child){ .idx = idx });
			mm_sup_child_done(c);
			return false;
		}
		c->idx = idx;
	}
	/* new rings, or the same with a new max_message_size: the router takes it as it runs */
	if (changed)
		mm_sup_router_session_add(s, c);
	return true;
}

/* A session removed by a reload goes away; one whose block changed starts again. */
static void after_down(struct mm_sup *s, struct mm_sup_child *c)
{
	if (c->is_router) {
		mm_sup_router_tick(s);
		return;
	}
	if (c->group) {
		mm_sup_group_down(s, c);
		return;
	}
	if (!c->remove && !c->respawn)
		return;
	if (mm_sup_session_down(s, c))
		mm_sup_spawn(s, c);
	if (c->name)
		mm_sup_router_tick(s);
}

static const char *kill_reason(const struct mm_sup_child *c, enum mm_child_ev ev)
{
	if (ev == MM_CHILD_EV_HUNG)
		return "missed its heartbeats";
	if (c->fsm.state == MM_CHILD_STOPPING)
		return "did not stop in time";
	return "did not become ready in time";
}

/*
 * Feed <ev>, as of <now_ns> (CLOCK_MONOTONIC), to the machine of <c> and carry out the resulting
 * action; a child brought down by a reload is then forgotten or started again. <c> may be a
 * dead slot afterwards (name NULL).
 */
void mm_sup_apply_at(struct mm_sup *s, struct mm_sup_child *c, enum mm_child_ev ev, uint64_t now_ns)
{
	bool was_failed;
	enum mm_sup_act act;

	if (mm_sup_child_member(c) && !(c = mm_sup_group_lead(s, c)))
		return;
	was_failed = c->fsm.failed;
	act = feed_all(s, c, ev, now_ns);
	mm_sup_events_after(s, c, ev, was_failed);
	for (size_t i = mm_sup_group_next(s, c, 0); i < s->n_children;
	     i = mm_sup_group_next(s, c, i + 1))
		mm_sup_events_after(s, &s->children[i], ev, was_failed);
	if (c->fsm.failed && !was_failed)
		mm_log(MM_LOG_WARNING,
		       "%s failed: more than %u starts in %.1f s; retrying every %.1f s",
		       mm_sup_child_who(c), s->policy.burst, s->cfg->restart.window,
		       s->cfg->restart.max);
	else if (!c->fsm.failed && was_failed)
		mm_log(MM_LOG_INFO, "%s recovered from its crash loop", mm_sup_child_who(c));
	if (act == MM_SUP_ACT_SPAWN)
		mm_sup_spawn(s, c);
	else if (act == MM_SUP_ACT_STOP)
		(void)mm_sup_child_stop(c);
	else if (act == MM_SUP_ACT_KILL && mm_sup_child_signal(c, SIGKILL) == 0)
		mm_log(MM_LOG_WARNING, "%s [%ld] %s: killed", mm_sup_child_what(c), (long)c->pid,
		       kill_reason(c, ev));
	else if (act == MM_SUP_ACT_NONE && ev != MM_CHILD_EV_EXIT_CONFIG &&
		 c->fsm.state == MM_CHILD_BACKOFF)
		mm_log(MM_LOG_INFO, "%s: restarting in %llu ms", mm_sup_child_who(c),
		       (unsigned long long)(c->fsm.last_delay_ns / 1000000));
	if (c->fsm.state == MM_CHILD_DOWN && !s->stopping)
		after_down(s, c);
}

/* mm_sup_apply_at() now. */
void mm_sup_apply(struct mm_sup *s, struct mm_sup_child *c, enum mm_child_ev ev)
{
	mm_sup_apply_at(s, c, ev, mm_time_mono_ns());
}

static struct mm_sup_child *find_pid(struct mm_sup *s, pid_t pid)
{
	if (s->router.pid == pid)
		return &s->router;
	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i].pid == pid && !mm_sup_child_member(&s->children[i]))
			return &s->children[i];
	return NULL;
}

/*
 * Status 127 is what a child exits with when exec failed (sup_child.c): a binary removed or
 * made non-executable since the start. Say which, rather than restart blindly.
 */
static void exec_failed(const struct mm_sup *s, const struct mm_sup_child *c)
{
	const char *bin = c->is_router ? s->router_bin : s->worker;
	int r = mm_sup_bin_usable(bin);

	if (r < 0)
		mm_log(MM_LOG_ERROR, "%s: cannot execute '%s': %s", mm_sup_child_who(c), bin,
		       strerror(-r));
}

static enum mm_child_ev exit_event(const struct mm_sup *s, struct mm_sup_child *c, int st)
{
	if (WIFSIGNALED(st)) {
		mm_log(MM_LOG_WARNING, "%s [%ld] killed by signal %d (%s)", mm_sup_child_what(c),
		       (long)c->pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
		return MM_CHILD_EV_EXITED;
	}
	if (WEXITSTATUS(st) == 64 || WEXITSTATUS(st) == 78) {
		mm_log(MM_LOG_ERROR, "%s [%ld] exited with status %d (%s): not restarted",
		       mm_sup_child_what(c), (long)c->pid, WEXITSTATUS(st),
		       WEXITSTATUS(st) == 64 ? "usage" : "configuration");
		return MM_CHILD_EV_EXIT_CONFIG;
	}
	mm_log(WEXITSTATUS(st) || c->fsm.state != MM_CHILD_STOPPING ? MM_LOG_WARNING : MM_LOG_INFO,
	       "%s [%ld] exited with status %d", mm_sup_child_what(c), (long)c->pid,
	       WEXITSTATUS(st));
	if (WEXITSTATUS(st) == 127)
		exec_failed(s, c);
	return MM_CHILD_EV_EXITED;
}

/* A router that is gone may have said why before it went (MM_CHAN_FAILED): take it. */
static void drain_why(struct mm_sup *s, struct mm_sup_child *c)
{
	struct mm_chan_extra x;
	struct mm_chan_msg m;

	while (c->chan_fd >= 0 && mm_chan_recv_msg(c->chan_fd, &m, &x) == 1) {
		mm_chan_extra_close(&x);
		if (m.cmd == MM_CHAN_FAILED)
			mm_sup_router_failed(s, x.body, x.len);
	}
}

static void reap(struct mm_sup *s)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct mm_sup_child *c = find_pid(s, pid);
		enum mm_child_ev ev;

		if (!c)
			continue;
		if (c->is_router)
			drain_why(s, c);
		ev = exit_event(s, c, st);
		mm_sup_unwatch(s, c);
		mm_sup_child_reaped(c, st);
		mm_sup_apply(s, c, ev);
	}
}

/*
 * Stop the workers first and the router only once they are gone: a worker acknowledges a
 * message to the broker once it is in the in-ring, so the router must still be there to
 * deliver what the workers committed before they went (it drains the rings on STOP). The
 * in-rings die with the daemon; anything left in them would be lost.
 */
static void stop_all(struct mm_sup *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	mm_log(MM_LOG_INFO, "stopping %zu session(s)", s->n_children);
	mm_sup_notify_stopping(s);
	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i].name)
			mm_sup_apply(s, &s->children[i], MM_CHILD_EV_STOP_REQ);
}

/* Stopping, and no worker left: now the router (each loop turn until it was told). */
static void stop_router_after_workers(struct mm_sup *s)
{
	if (!s->stopping || s->router_stop_asked)
		return;
	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i].pid > 0)
			return;
	s->router_stop_asked = true;
	mm_sup_apply(s, &s->router, MM_CHILD_EV_STOP_REQ);
}

/* SIGHUP, between RELOADING=1 and READY=1 to systemd. */
static void reload(struct mm_sup *s)
{
	mm_sup_notify_reloading();
	mm_sup_reload(s);
	mm_sup_notify_reloaded(s);
}

static void request(struct mm_sup_request *r, uint64_t now)
{
	if (r->pending) {
		r->merged++;
		return;
	}
	r->pending = true;
	r->due_ns = r->last_ns && now < r->last_ns + MM_SUP_SIGNAL_GAP_NS
			    ? r->last_ns + MM_SUP_SIGNAL_GAP_NS
			    : now;
}

/* Is the request <r> due now? Then it counts as run. */
static bool request_due(struct mm_sup_request *r, const char *what, uint64_t now)
{
	if (!r->pending || now < r->due_ns)
		return false;
	if (r->merged)
		mm_log(MM_LOG_INFO, "%s: %llu more signal(s) merged into this one", what,
		       (unsigned long long)r->merged);
	r->pending = false;
	r->merged = 0;
	r->last_ns = now;
	return true;
}

/* Run the reload and the dump that signals asked for, once each, when due (see sup.h). */
static void run_requests(struct mm_sup *s)
{
	uint64_t now = mm_time_mono_ns();

	if (s->stopping)
		s->hup.pending = false;
	if (request_due(&s->hup, "SIGHUP", now))
		reload(s);
	if (request_due(&s->usr1, "SIGUSR1", now))
		mm_sup_metrics_dump(s, false);
}

static void read_signals(struct mm_sup *s)
{
	struct signalfd_siginfo si;

	while (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			reap(s);
		else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			stop_all(s);
		else if (si.ssi_signo == SIGHUP && s->stopping)
			mm_log(MM_LOG_WARNING, "SIGHUP while stopping, ignoring");
		else if (si.ssi_signo == SIGHUP)
			request(&s->hup, mm_time_mono_ns());
		else if (si.ssi_signo == SIGUSR1)
			request(&s->usr1, mm_time_mono_ns());
	}
	/* A SIGCHLD may have been merged with another one already read: reap regardless. */
	reap(s);
	run_requests(s);
}

static void read_chan(struct mm_sup *s, struct mm_sup_child *c)
{
	struct mm_chan_extra x;
	struct mm_chan_msg m;
	int r;

	while (c->chan_fd >= 0 && (r = mm_chan_recv_msg(c->chan_fd, &m, &x)) != -EAGAIN) {
		mm_chan_extra_close(&x); /* no child sends descriptors */
		if (r == 1 && m.cmd == MM_CHAN_READY) {
			mm_log(MM_LOG_INFO, "%s [%ld] ready", mm_sup_child_what(c), (long)c->pid);
			if (c->is_router)
				s->router_why[0] = '\0';
			mm_sup_apply(s, c, MM_CHILD_EV_READY);
		} else if (r == 1 && m.cmd == MM_CHAN_FAILED && c->is_router) {
			mm_sup_router_failed(s, x.body, x.len);
		} else if (r == 1 && m.cmd == MM_CHAN_HEARTBEAT) {
			mm_sup_apply(s, c, MM_CHILD_EV_HEARTBEAT);
			mm_sup_events_poll(s, c); /* in case an EVENT wake-up was lost */
		} else if (r == 1 && m.cmd == MM_CHAN_EVENT) {
			/* arg: the session's index in its process (sup_group.c) */
			struct mm_sup_child *of = mm_sup_group_at(s, c, m.arg);

			mm_sup_events_poll(s, of ? of : c);
		} else if (r == 1 && m.cmd == MM_CHAN_UNROUTED && c->is_router) {
			mm_sup_router_unrouted(s, m.arg, m.value);
		} else if (r <= 0) {
			/* EOF or a broken channel: the process is going away. */
			mm_sup_unwatch(s, c);
			close(c->chan_fd);
			c->chan_fd = -1;
			mm_sup_apply(s, c, MM_CHILD_EV_CHAN_EOF);
		}
	}
}

/*
 * A worker's heartbeat is in its stats block (shm/stats.h), not on its channel: take it when
 * its hung check is due, and read its event log then too, in case an EVENT wake-up was lost.
 */
static void take_beat(struct mm_sup *s, struct mm_sup_child *c, uint64_t now)
{
	const struct mm_stats_block *st;
	uint64_t beat;

	if (c->is_router || c->fsm.state != MM_CHILD_UP || !(st = mm_sup_child_stats(c)))
		return;
	mm_sup_events_poll(s, c);
	for (size_t i = mm_sup_group_next(s, c, 0); i < s->n_children;
	     i = mm_sup_group_next(s, c, i + 1))
		mm_sup_events_poll(s, &s->children[i]);
	beat = atomic_load_explicit(&st->beat_ns, memory_order_relaxed);
	if (beat > c->fsm.beat_ns && beat <= now)
		mm_sup_apply_at(s, c, MM_CHILD_EV_HEARTBEAT, beat);
}

/* Every child whose deadline passed, earliest first; each at most once per call. */
static void run_due(struct mm_sup *s, uint64_t now)
{
	enum mm_child_ev ev;
	uint64_t at;
	uint32_t id;

	while (mm_sup_timers_first(&s->timers, &at, &id) && at <= now) {
		struct mm_sup_child *c = mm_sup_child_of(s, id);

		if (!c || !c->name) {
			(void)mm_sup_timers_set(&s->timers, id, 0);
			continue;
		}
		/*
		 * What the child already said counts before its deadline is judged: a turn reads
		 * at most 256 channels (sup_wait.c), and after a long spawn loop (1,000 workers
		 * on a loaded machine) many READYs wait unread while their 10 s run out.
		 */
		if (c->chan_fd >= 0)
			read_chan(s, c);
		take_beat(s, c, now);
		if (mm_sup_fsm_due(&c->fsm, now, &ev))
			mm_sup_apply_at(s, c, ev, now);
		/* Still first and due (a deadline the event did not move): look again later. */
		if (mm_sup_timers_first(&s->timers, &at, &id) && at <= now &&
		    id == mm_sup_child_id(s, c))
			(void)mm_sup_timers_set(&s->timers, id, now + MM_NS_PER_MS);
	}
}

static void run_timers(struct mm_sup *s)
{
	uint64_t now = mm_time_mono_ns();

	run_due(s, now);
	mm_sup_router_tick(s);
	run_requests(s);
	if (now >= s->sample_next) {
		s->sample_next = now + (mm_sup_metrics_sample(s, now) ? MM_SUP_SAMPLE_NS
								      : MM_SUP_SAMPLE_IDLE_NS);
		mm_sup_clients_keep(s);
	}
	mm_sup_metrics_tick(s, now);
	mm_sup_notify_tick(s, mm_time_mono_ns());
}

static bool all_reaped(const struct mm_sup *s)
{
	if (s->router.pid > 0)
		return false;
	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i].pid > 0)
			return false;
	return true;
}

/* Drop the dead slots left by removed sessions, keeping the others in order. */
static void compact(struct mm_sup *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i].name)
			s->children[n++] = s->children[i];
	if (n == s->n_children)
		return;
	s->n_children = n;
	mm_sup_wait_rebuild(s); /* the ids of the children after the first gap changed */
}

/* The loop's own next deadline: a metrics sample or textfile, a coalesced reload or dump. */
static uint64_t next_own_ns(const struct mm_sup *s)
{
	uint64_t best = s->sample_next;

	if (s->textfile_next && s->textfile_next < best)
		best = s->textfile_next;
	if (s->hup.pending && s->hup.due_ns < best)
		best = s->hup.due_ns;
	if (s->usr1.pending && s->usr1.due_ns < best)
		best = s->usr1.due_ns;
	return best;
}

/* One turn of the loop. Children added by a reload during it are watched from their spawn. */
static int poll_once(struct mm_sup *s)
{
	int n;

	compact(s);
	n = mm_sup_wait(s, next_own_ns(s));
	if (n < 0)
		return n;
	if (s->pfd[0].revents)
		read_signals(s);
	for (int i = 0; i < n; i++) {
		struct mm_sup_child *c = mm_sup_wait_child(s, i);

		if (c)
			read_chan(s, c);
	}
	mm_sup_ctl_dispatch(s, &s->pfd[2]);
	/* the state files the commands of this turn wrote, made durable together; then answer */
	mm_sup_journal_commit(&s->journal);
	mm_sup_ctl_release(s);
	mm_sup_http_dispatch(s, &s->pfd[2 + MM_CTL_NFDS]);
	run_timers(s);
	stop_router_after_workers(s);
	return 0;
}

/*
 * Start every session's worker and supervise them until SIGTERM/SIGINT has stopped them all.
 * Returns 0 after a clean stop, or -errno if poll(2) failed.
 */
int mm_sup_run(struct mm_sup *s)
{
	int r = 0;

	mm_log(MM_LOG_INFO, "supervising %zu session(s) with '%s'", s->n_children, s->worker);
	mm_sup_notify_init(mm_time_mono_ns());
	mm_sup_groups_start(s);
	mm_sup_spawn(s, &s->router);
	s->sample_next = mm_time_mono_ns() + MM_SUP_SAMPLE_NS;
	mm_sup_metrics_sample(s, mm_time_mono_ns());
	while (r == 0 && !(s->stopping && all_reaped(s)))
		r = poll_once(s);
	if (r == 0) {
		mm_log(MM_LOG_INFO, "all workers stopped");
		mm_sup_clients_save(s);
	}
	return r;
}
