/* SPDX-License-Identifier: MIT */
/*
 * The restart state machine of one supervised child (worker; later the router, #4), written as
 * an explicit [state][event] table. Pure logic: the caller passes the time and a random number
 * with every event and carries out the action the machine returns (spawn, ask to stop, kill).
 * Nothing here forks, signals or logs, so every cell is unit-tested without a process
 * (tests/unit/supervisor/test_fsm.c). The policy is described in docs/operations.md.
 */
#ifndef MM_SUP_FSM_H
#define MM_SUP_FSM_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "chan.h"
#include "mm_time.h"

/* Largest restart.burst the config accepts (common/cfg.c). */
#define MM_SUP_BURST_MAX 1000

#define MM_SUP_HEARTBEAT_NS	 MM_CHAN_HEARTBEAT_NS /* a child's heartbeat interval */
#define MM_SUP_HUNG_BEATS	 MM_CHAN_HUNG_BEATS   /* missed heartbeats before a kill */
#define MM_SUP_START_TIMEOUT_NS	 (10 * MM_NS_PER_SEC) /* spawn to READY */
#define MM_SUP_STOP_TIMEOUT_NS	 (5 * MM_NS_PER_SEC)  /* STOP/SIGTERM to SIGKILL */
#define MM_SUP_HEALTHY_UPTIME_NS (1 * MM_NS_PER_SEC)  /* ready this long: restart at once */

enum mm_child_state {
	MM_CHILD_DOWN = 0, /* no process, nothing scheduled (initial, or stopped on request) */
	MM_CHILD_STARTING, /* spawned, waiting for READY */
	MM_CHILD_UP,	   /* READY seen, heartbeats flowing */
	MM_CHILD_STOPPING, /* STOP and SIGTERM sent, waiting for exit; SIGKILL at the deadline */
	MM_CHILD_BACKOFF,  /* exited, waiting for the deadline to spawn again */
	MM_CHILD_FAILED,   /* exited 64/78 (usage/config): permanent, no restart */
	_MM_CHILD_STATE_MAX
};

enum mm_child_ev {
	MM_CHILD_EV_SPAWNED = 0, /* the caller forked the child */
	MM_CHILD_EV_READY,	 /* READY on the channel */
	MM_CHILD_EV_HEARTBEAT,	 /* HEARTBEAT on the channel */
	MM_CHILD_EV_EXITED,	 /* reaped (any status but 64/78), or spawning failed */
	MM_CHILD_EV_EXIT_CONFIG, /* reaped with exit status 64 or 78 */
	MM_CHILD_EV_STOP_REQ,	 /* the supervisor wants it stopped (shutdown, removal) */
	MM_CHILD_EV_TIMEOUT,	 /* deadline_ns passed (start, backoff, stop escalation) */
	MM_CHILD_EV_HUNG,	 /* no heartbeat for MM_SUP_HUNG_BEATS intervals */
	MM_CHILD_EV_CHAN_EOF,	 /* the child closed its channel: it will exit soon */
	_MM_CHILD_EV_MAX
};

/* What the caller must do after an event. */
enum mm_sup_act {
	MM_SUP_ACT_NONE = 0,
	MM_SUP_ACT_SPAWN,   /* fork+exec now, then feed SPAWNED (or EXITED if that failed) */
	MM_SUP_ACT_STOP,    /* send MM_CHAN_STOP and SIGTERM */
	MM_SUP_ACT_KILL,    /* send SIGKILL; EXITED follows */
	MM_SUP_ACT_IGNORED, /* the event means nothing in this state (a stale or duplicate one) */
	_MM_SUP_ACT_MAX
};

/* Restart policy in nanoseconds (from the config's restart block). */
struct mm_sup_policy {
	uint64_t initial_ns; /* first backoff */
	uint64_t max_ns;     /* backoff cap */
	uint32_t burst;	     /* at most this many starts in window_ns; more would mark failed */
	uint64_t window_ns;
};

struct mm_sup_fsm {
	enum mm_child_state state;
	bool failed;		/* crash loop (burst exceeded): shown in status; still retried */
	bool kill_sent;		/* SIGKILL already sent to the current process */
	uint32_t starts;	/* processes spawned, ever */
	uint32_t restarts;	/* spawns after the first */
	uint64_t ready_ns;	/* when the current process sent READY; 0: not ready */
	uint64_t beat_ns;	/* last READY or HEARTBEAT of the current process */
	uint64_t deadline_ns;	/* when TIMEOUT is due; 0: none */
	uint64_t backoff_ns;	/* last nominal backoff; 0 after a healthy run */
	uint64_t last_delay_ns; /* delay chosen by the last restart decision (for logs/tests) */
	uint32_t n_recent;	/* valid entries of recent[] */
	uint32_t head;		/* index of the oldest entry */
	uint32_t cap_recent;	/* entries allocated: the policy's burst when last started */
	uint64_t *recent;	/* start times within the last window, a ring; heap (fsm_done) */
};

void mm_sup_policy_from_cfg(struct mm_sup_policy *p, const struct mm_cfg_restart *r);
void mm_sup_fsm_init(struct mm_sup_fsm *f);
void mm_sup_fsm_done(struct mm_sup_fsm *f);
enum mm_sup_act mm_sup_fsm_feed(struct mm_sup_fsm *f, const struct mm_sup_policy *p,
				enum mm_child_ev ev, uint64_t now_ns, uint64_t rnd);
bool mm_sup_fsm_due(const struct mm_sup_fsm *f, uint64_t now_ns, enum mm_child_ev *ret);
uint64_t mm_sup_fsm_next_ns(const struct mm_sup_fsm *f);
bool mm_sup_fsm_has_process(const struct mm_sup_fsm *f);
uint64_t mm_sup_backoff_next(const struct mm_sup_policy *p, uint64_t prev_ns);
uint64_t mm_sup_backoff_jitter(uint64_t ns, uint64_t rnd);

const char *mm_child_state_to_string(enum mm_child_state s);
const char *mm_child_ev_to_string(enum mm_child_ev e);
const char *mm_sup_act_to_string(enum mm_sup_act a);

#endif /* MM_SUP_FSM_H */
