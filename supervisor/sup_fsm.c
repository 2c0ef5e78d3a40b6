/* SPDX-License-Identifier: MIT */
/*
 * The per-child restart state machine (see sup_fsm.h): one constant table of actions indexed
 * by [state][event], the restart decision (immediate after a healthy run, else doubling backoff
 * with jitter) and the crash-loop accounting (at most restart.burst starts in restart.window;
 * the start that would exceed it marks the child failed and waits at the cap instead).
 */
#include "sup_fsm.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct fsm_ctx {
	struct mm_sup_fsm *f;
	const struct mm_sup_policy *p;
	uint64_t now;
	uint64_t rnd;
};

typedef enum mm_sup_act action_fn(struct fsm_ctx *c);

static uint64_t secs_to_ns(double s)
{
	return s <= 0 ? 0 : (uint64_t)(s * (double)MM_NS_PER_SEC);
}

/* Fill <p> from the config's restart block; burst is clamped to 1..MM_SUP_BURST_MAX. */
void mm_sup_policy_from_cfg(struct mm_sup_policy *p, const struct mm_cfg_restart *r)
{
	p->initial_ns = secs_to_ns(r->initial);
	p->max_ns = secs_to_ns(r->max);
	if (p->max_ns < p->initial_ns)
		p->max_ns = p->initial_ns;
	p->burst = r->burst < 1			 ? 1
		   : r->burst > MM_SUP_BURST_MAX ? MM_SUP_BURST_MAX
						 : (uint32_t)r->burst;
	p->window_ns = secs_to_ns(r->window);
}

void mm_sup_fsm_init(struct mm_sup_fsm *f)
{
	memset(f, 0, sizeof(*f));
	f->state = MM_CHILD_DOWN;
}

/* The nominal backoff after one of <prev_ns>: restart.initial first, then doubled up to max. */
uint64_t mm_sup_backoff_next(const struct mm_sup_policy *p, uint64_t prev_ns)
{
	if (!prev_ns)
		return p->initial_ns;
	if (prev_ns >= p->max_ns / 2)
		return p->max_ns;
	return prev_ns * 2;
}

/* Shorten <ns> by 0..20% according to <rnd>, so that children restarted together spread out. */
uint64_t mm_sup_backoff_jitter(uint64_t ns, uint64_t rnd)
{
	return ns - ns / 5000 * (rnd % 1001);
}

/* Release the start times. The machine may be used again (it starts with none). */
void mm_sup_fsm_done(struct mm_sup_fsm *f)
{
	free(f->recent);
	f->recent = NULL;
	f->cap_recent = f->n_recent = f->head = 0;
}

static void recent_prune(struct mm_sup_fsm *f, const struct mm_sup_policy *p, uint64_t now)
{
	while (f->n_recent && f->recent[f->head] + p->window_ns <= now) {
		f->head = (f->head + 1) % f->cap_recent;
		f->n_recent--;
	}
}

/*
 * Room for the last <burst> start times, the newest kept: only those are ever looked at, and a
 * fixed array for the largest burst was 8 KiB for each of 1,000 sessions. A failed allocation
 * keeps what there is (no room at all: no crash-loop mark until memory is back).
 */
static void recent_fit(struct mm_sup_fsm *f, uint32_t burst)
{
	uint32_t keep = f->n_recent < burst ? f->n_recent : burst;
	uint64_t *r;

	if (f->cap_recent == burst || !(r = malloc(burst * sizeof(*r))))
		return;
	for (uint32_t i = 0; i < keep; i++)
		r[i] = f->recent[(f->head + f->n_recent - keep + i) % f->cap_recent];
	free(f->recent);
	f->recent = r;
	f->cap_recent = burst;
	f->head = 0;
	f->n_recent = keep;
}

static void recent_push(struct mm_sup_fsm *f, const struct mm_sup_policy *p, uint64_t now)
{
	recent_fit(f, p->burst);
	if (!f->cap_recent)
		return;
	recent_prune(f, p, now);
	if (f->n_recent == f->cap_recent) {
		f->head = (f->head + 1) % f->cap_recent;
		f->n_recent--;
	}
	f->recent[(f->head + f->n_recent) % f->cap_recent] = now;
	f->n_recent++;
}

/*
 * Decide when the exited child starts again; returns the delay in ns. A burst already used up
 * within the window marks the child failed: it then waits at the cap, and at least until the
 * oldest start leaves the window, so no window ever holds more than burst starts.
 */
static uint64_t restart_delay(struct mm_sup_fsm *f, const struct mm_sup_policy *p, uint64_t now,
			      uint64_t rnd)
{
	bool healthy = f->ready_ns && now - f->ready_ns >= MM_SUP_HEALTHY_UPTIME_NS;
	uint64_t delay = 0, free_at;

	recent_fit(f, p->burst); /* a reload may have changed it */
	if (f->cap_recent)
		recent_prune(f, p, now);
	f->backoff_ns = healthy ? 0 : mm_sup_backoff_next(p, f->backoff_ns);
	if (!healthy)
		delay = mm_sup_backoff_jitter(f->backoff_ns, rnd);
	if (f->n_recent >= p->burst) {
		f->failed = true;
		f->backoff_ns = p->max_ns;
		delay = mm_sup_backoff_jitter(p->max_ns, rnd);
		free_at = f->recent[f->head] + p->window_ns;
		if (free_at > now && free_at - now > delay)
			delay = free_at - now;
	}
	return delay;
}

static enum mm_sup_act ignore(struct fsm_ctx *c)
{
	(void)c;
	return MM_SUP_ACT_IGNORED;
}

static enum mm_sup_act nothing(struct fsm_ctx *c)
{
	(void)c;
	return MM_SUP_ACT_NONE;
}

static enum mm_sup_act spawned(struct fsm_ctx *c)
{
	struct mm_sup_fsm *f = c->f;

	recent_push(f, c->p, c->now);
	if (f->starts++)
		f->restarts++;
	f->state = MM_CHILD_STARTING;
	f->ready_ns = 0;
	f->beat_ns = c->now;
	f->kill_sent = false;
	f->deadline_ns = c->now + MM_SUP_START_TIMEOUT_NS;
	return MM_SUP_ACT_NONE;
}

static enum mm_sup_act ready(struct fsm_ctx *c)
{
	c->f->state = MM_CHILD_UP;
	c->f->ready_ns = c->now;
	c->f->beat_ns = c->now;
	c->f->deadline_ns = 0;
	return MM_SUP_ACT_NONE;
}

/* A crash loop ends once the child has stayed up for a whole window. */
static enum mm_sup_act beat(struct fsm_ctx *c)
{
	c->f->beat_ns = c->now;
	if (c->f->failed && c->now - c->f->ready_ns >= c->p->window_ns)
		c->f->failed = false;
	return MM_SUP_ACT_NONE;
}

static enum mm_sup_act exited(struct fsm_ctx *c)
{
	struct mm_sup_fsm *f = c->f;

	f->last_delay_ns = restart_delay(f, c->p, c->now, c->rnd);
	f->state = MM_CHILD_BACKOFF;
	f->ready_ns = 0;
	f->kill_sent = false;
	if (!f->last_delay_ns) {
		f->deadline_ns = 0;
		return MM_SUP_ACT_SPAWN;
	}
	f->deadline_ns = c->now + f->last_delay_ns;
	return MM_SUP_ACT_NONE;
}

static enum mm_sup_act exit_config(struct fsm_ctx *c)
{
	c->f->state = MM_CHILD_FAILED;
	c->f->ready_ns = 0;
	c->f->deadline_ns = 0;
	return MM_SUP_ACT_NONE;
}

static enum mm_sup_act stop(struct fsm_ctx *c)
{
	c->f->state = MM_CHILD_STOPPING;
	c->f->deadline_ns = c->now + MM_SUP_STOP_TIMEOUT_NS;
	return MM_SUP_ACT_STOP;
}

/* No process (DOWN, BACKOFF, FAILED) or it just exited while stopping: nothing left to do. */
static enum mm_sup_act down(struct fsm_ctx *c)
{
	c->f->state = MM_CHILD_DOWN;
	c->f->ready_ns = 0;
	c->f->deadline_ns = 0;
	c->f->kill_sent = false;
	return MM_SUP_ACT_NONE;
}

static enum mm_sup_act kill_it(struct fsm_ctx *c)
{
	c->f->kill_sent = true;
	c->f->deadline_ns = 0;
	return MM_SUP_ACT_KILL;
}

static enum mm_sup_act respawn(struct fsm_ctx *c)
{
	c->f->deadline_ns = 0;
	return MM_SUP_ACT_SPAWN;
}

#define IGN ignore
/* clang-format off */
static action_fn *const fsm[_MM_CHILD_STATE_MAX][_MM_CHILD_EV_MAX] = {
	/*                    SPAWNED  READY  HEARTBEAT EXITED  EXIT_CONFIG  STOP_REQ TIMEOUT  HUNG     CHAN_EOF */
	[MM_CHILD_DOWN]     = { spawned, IGN,   IGN,    exited, IGN,         down,    IGN,     IGN,     IGN },
	[MM_CHILD_STARTING] = { IGN,     ready, IGN,    exited, exit_config, stop,    kill_it, IGN,     nothing },
	[MM_CHILD_UP]       = { IGN,     beat,  beat,   exited, exit_config, stop,    IGN,     kill_it, nothing },
	[MM_CHILD_STOPPING] = { IGN,     IGN,   IGN,    down,   down,        IGN,     kill_it, IGN,     nothing },
	[MM_CHILD_BACKOFF]  = { spawned, IGN,   IGN,    exited, IGN,         down,    respawn, IGN,     IGN },
	[MM_CHILD_FAILED]   = { IGN,     IGN,   IGN,    IGN,    IGN,         down,    IGN,     IGN,     IGN },
};
/* clang-format on */
#undef IGN

/*
 * Feed event <ev> at time <now_ns> (CLOCK_MONOTONIC) to <f>; <rnd> is any random number (used
 * for jitter). Returns the action the caller must carry out; MM_SUP_ACT_IGNORED leaves <f>
 * unchanged. Out-of-range states or events are ignored too.
 */
enum mm_sup_act mm_sup_fsm_feed(struct mm_sup_fsm *f, const struct mm_sup_policy *p,
				enum mm_child_ev ev, uint64_t now_ns, uint64_t rnd)
{
	struct fsm_ctx c = { .f = f, .p = p, .now = now_ns, .rnd = rnd };

	if ((unsigned)f->state >= _MM_CHILD_STATE_MAX || (unsigned)ev >= _MM_CHILD_EV_MAX)
		return MM_SUP_ACT_IGNORED;
	return fsm[f->state][ev](&c);
}

/* The instant the next timer event is due (CLOCK_MONOTONIC ns), or 0 if none is pending. */
uint64_t mm_sup_fsm_next_ns(const struct mm_sup_fsm *f)
{
	if (f->state == MM_CHILD_UP)
		return f->kill_sent ? 0 : f->beat_ns + MM_SUP_HUNG_BEATS * MM_SUP_HEARTBEAT_NS;
	return f->deadline_ns;
}

/* Is a timer event due at <now_ns>? If so, store it (TIMEOUT or HUNG) in *ret. */
bool mm_sup_fsm_due(const struct mm_sup_fsm *f, uint64_t now_ns, enum mm_child_ev *ret)
{
	uint64_t t = mm_sup_fsm_next_ns(f);

	if (!t || now_ns < t)
		return false;
	*ret = f->state == MM_CHILD_UP ? MM_CHILD_EV_HUNG : MM_CHILD_EV_TIMEOUT;
	return true;
}

/* Does the child have a process that still has to be reaped? */
bool mm_sup_fsm_has_process(const struct mm_sup_fsm *f)
{
	return f->state == MM_CHILD_STARTING || f->state == MM_CHILD_UP ||
	       f->state == MM_CHILD_STOPPING;
}

const char *mm_child_state_to_string(enum mm_child_state s)
{
	static const char *const names[_MM_CHILD_STATE_MAX] = {
		"down", "starting", "up", "stopping", "backoff", "failed",
	};

	return (unsigned)s < _MM_CHILD_STATE_MAX ? names[s] : "?";
}

const char *mm_child_ev_to_string(enum mm_child_ev e)
{
	static const char *const names[_MM_CHILD_EV_MAX] = {
		"spawned",  "ready",   "heartbeat", "exited",	"exit_config",
		"stop_req", "timeout", "hung",	    "chan_eof",
	};

	return (unsigned)e < _MM_CHILD_EV_MAX ? names[e] : "?";
}

const char *mm_sup_act_to_string(enum mm_sup_act a)
{
	static const char *const names[_MM_SUP_ACT_MAX] = {
		"none", "spawn", "stop", "kill", "ignored",
	};

	return (unsigned)a < _MM_SUP_ACT_MAX ? names[a] : "?";
}
