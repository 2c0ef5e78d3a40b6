/* SPDX-License-Identifier: MIT */
/*
 * The worker: one MQTT session in one process. State shared by the worker's files:
 * wrk_run.c (the event loop driver), wrk_conn.c (the connection from attempt to loss, moved by
 * the state machine of wrk_fsm.c), wrk_mqtt.c (the libmosquitto client object and callbacks),
 * wrk_bridge.c (records into the in-ring), wrk_cmd.c (commands from the cmd-ring, filters,
 * pending requests), wrk_unacked.c (DUP detection across restarts), wrk_subs_state.c (the
 * saved subscriptions). Process-local; nothing here is shared memory.
 */
#ifndef MM_WRK_H
#define MM_WRK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <mosquitto.h>

#include "cfg.h"
#include "fdmap.h"
#include "pace.h"
#include "records.h"
#include "ring.h"
#include "stats.h"
#include "wrk_fsm.h"
#include "wrk_loop.h"
#include "wrk_readahead.h"
#include "wrk_tls.h"

/*
 * Loop tokens: the kind in the top byte, the session's index in its process in the next two
 * (0 for the process's own sources: signals, channel, tick), a generation below them for the
 * broker socket (replaced at every reconnect, often with the same number).
 */
#define MM_WRK_TOK(kind, sess, gen)                                  \
	((uint64_t)(kind) << 56 | (uint64_t)((sess)&0xffffu) << 40 | \
	 ((uint64_t)(gen)&0xffffffffffull))
#define MM_WRK_TOK_KIND(tok) ((unsigned)((tok) >> 56))
#define MM_WRK_TOK_SESS(tok) ((uint32_t)((tok) >> 40) & 0xffffu)
#define MM_WRK_MAX_SESSIONS  65536 /* sessions one worker process can hold (the token's field) */
enum mm_wrk_tok_kind {
	MM_WRK_TOK_SOCK = 1,
	MM_WRK_TOK_CMD,
	MM_WRK_TOK_SPACE,
	MM_WRK_TOK_SIGNAL,
	MM_WRK_TOK_CHAN,
	MM_WRK_TOK_MISC, /* the process's tick (wrk_run.c) */
	MM_WRK_TOK_RECONNECT,
	MM_WRK_TOK_STOP,
	MM_WRK_TOK_CONNECT, /* the attempt's connect_timeout */
};

/* A filter the worker keeps subscribed: from the config or from a SUB command. */
struct mm_wrk_filter {
	char *topic;
	int qos;
	bool from_cfg;
	bool acked; /* SUBACK seen on the current connection */
};

/* A request waiting for the broker: publish (by mid) or subscribe/unsubscribe (by mid). */
struct mm_wrk_pending {
	int mid;	 /* 0: free slot */
	uint16_t cmd;	 /* MM_REC_CMD_* */
	uint64_t req_id; /* 0: internal (resubscribe), no completion */
	uint32_t bytes;	 /* publish payload bytes, for stats */
	uint8_t qos;	 /* publish QoS: QoS 0 dies with the connection, QoS >= 1 is resent */
};

/*
 * The worker's view of the stats block's unacked bitmap (see wrk_unacked.c):
 * one bit per MQTT packet id in each set.
 */
#define MM_WRK_MIDS_WORDS   (65536 / 64)
/* A filter no session holds: its UNSUBSCRIBE is the probe of wrk_unacked.c. */
#define MM_WRK_PROBE_FILTER "$mqttmux/ack-probe"

struct mm_wrk_unacked {
	uint64_t maybe_seen[MM_WRK_MIDS_WORDS]; /* a redelivery of these ids is flagged DUP */
	uint64_t queued[MM_WRK_MIDS_WORDS];	/* in the ring, ack queued but not written */
	uint64_t written[MM_WRK_MIDS_WORDS];	/* ack written, no probe sent after it yet */
	uint64_t probed[MM_WRK_MIDS_WORDS];	/* ack written before the probe in flight */
	bool written_any;			/* <written> has a bit set */
	int probe_mid;				/* the probe's UNSUBSCRIBE in flight, 0: none */
	uint16_t queued_ids[4096];		/* the first ids of <queued>, for a cheap flush */
	size_t n_queued;
};

#define MM_WRK_AS_BASE (768ull << 20) /* address-space cap without the rings (main.c) */

struct mm_wrk_proc;

/* One session: its MQTT client, rings, stats block and state. */
struct mm_wrk {
	struct mm_wrk_proc *proc; /* the process it runs in */
	uint32_t idx;		  /* its index in proc->sess (the tokens' session field) */
	bool active;		  /* in proc->active: to be looked after at the end of the turn */
	const struct mm_cfg_session *cfg;
	struct mosquitto *mosq;
	struct mm_wrk_tls tls;	  /* ctx NULL: no TLS broker in the list */
	bool tls_on;		  /* libmosquitto holds tls.ctx: the next attempt speaks TLS */
	struct mm_wrk_loop *loop; /* proc->loop */
	struct mm_shm_ring in, cmd;
	struct mm_stats_block *stats;
	uint32_t max_rec;	   /* largest in-ring record a message can need */
	uint64_t sock_gen;	   /* generation of the watched broker socket */
	int sock;		   /* the watched socket, or -1 */
	struct mm_wrk_ra ra;	   /* read-ahead under libmosquitto on <sock> (wrk_readahead.h) */
	struct mm_wrk_frame frame; /* the framing guard over it (wrk_frame.h, wrk_guard.c) */
	uint32_t n_substituted;	   /* quarantine stand-ins libmosquitto has not yet delivered */
	uint32_t sock_events;
	bool paused;	    /* not reading: the in-ring lacks room */
	bool space_watched; /* the in-ring's space doorbell is watched (wrk_ackgate.c) */
	bool ack_due;	    /* acks queued for records not yet committed */
	bool ack_shut;	    /* writes wait for the router to release <ack_at> */
	uint64_t ack_at;    /* in-ring position the router must release before acks go, 0: none */
	uint64_t ack_since_ns; /* when the oldest ack still held was committed */
	bool read_more; /* packets may wait where poll cannot see them (budget, TLS buffer) */
	enum mm_wrk_conn conn; /* the connection's state (wrk_fsm.h) */
	int linger_fd;	       /* stopping: our copy of the broker socket (wrk_run.c), or -1 */
	bool uncommitted;      /* records reserved in the in-ring, not yet committed */
	bool bell_check;       /* committed since the last mm_wrk_bells: does the router sleep? */
	bool standalone;       /* no supervisor: we also drain our own in-ring to stdout */
	uint64_t failed_told;  /* stats->pub_failed the supervisor was last told of */
	uint64_t next_tell_ns; /* ... and when it may be told again (CLOCK_MONOTONIC) */
	uint64_t n_on_message; /* on_message calls, to tell a drained socket from pitfall 3 */
	size_t broker;	       /* index of the broker in use or tried next */
	uint32_t attempt;      /* connection attempts since the last success; 0 before the first */
	uint64_t pace_at;      /* the pacer's slot this session holds (CLOCK_MONOTONIC), 0: none */
	uint64_t connected_ns;
	uint64_t heard_ns;    /* bytes last came from the broker (CLOCK_MONOTONIC) */
	uint32_t sub_waiting; /* SUBACKs outstanding before READY */
	struct mm_wrk_filter *filters;
	size_t n_filters, cap_filters;
	struct mm_wrk_pending *pending;
	size_t n_pending_cap;
	size_t n_pending; /* entries of <pending> in use */
	bool cmd_more;	  /* commands left after a batch: run another turn without sleeping */
	bool cmd_waiting; /* MM_WRK_CMDS_WAIT: run again once a request completes */
	uint64_t rng;
	uint8_t *props_buf; /* the MQTT 5 properties of the message being committed */
	size_t props_cap;
	struct mm_wrk_unacked unacked;
	_Atomic uint64_t *ids; /* the unacked bitmap kept (wrk_ids.c), NULL: the stats block's */
	bool ids_mapped;
	int exit_code;
};

/* wrk_mqtt.c */
int mm_wrk_mqtt_new(struct mm_wrk *w, char *why, size_t why_size);
int mm_wrk_mqtt_reset(struct mm_wrk *w);
void mm_wrk_mqtt_free(struct mm_wrk *w);
int mm_wrk_resubscribe(struct mm_wrk *w);
void mm_wrk_set_state(struct mm_wrk *w, enum mm_sess_state st);
void mm_wrk_count_failure(struct mm_wrk *w, int32_t code);
int mm_wrk_mosq_errno(int rc, int other);

/* wrk_conn.c */
enum mm_wrk_act mm_wrk_conn_feed(struct mm_wrk *w, enum mm_wrk_conn_ev ev, int code,
				 const char *reason);
void mm_wrk_conn_lost(struct mm_wrk *w, int code, const char *reason);
void mm_wrk_conn_timed_out(struct mm_wrk *w);
uint64_t mm_wrk_conn_quiet_ns(const struct mm_wrk *w, uint64_t now);
void mm_wrk_conn_check_silence(struct mm_wrk *w, uint64_t now);
void mm_wrk_conn_reading_again(struct mm_wrk *w);
void mm_wrk_sock_sync(struct mm_wrk *w);

/* wrk_bridge.c */
void mm_wrk_emit_event(struct mm_wrk *w, enum mm_event_kind kind, int32_t code, const char *text);
void mm_wrk_emit_reconnecting(struct mm_wrk *w, uint32_t attempt, uint32_t delay_ms);
void mm_wrk_emit_started(struct mm_wrk *w, uint64_t cmd_pos);
void mm_wrk_emit_completion(struct mm_wrk *w, uint16_t cmd, uint64_t req_id, int32_t result,
			    int32_t reason);
void mm_wrk_on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg,
		       const mosquitto_property *props);
void mm_wrk_commit(struct mm_wrk *w);
void mm_wrk_bells(struct mm_wrk_proc *p, bool now);

/* wrk_cmd.c */
#define MM_WRK_CMD_BATCH 256 /* commands per turn of the loop */
enum mm_wrk_cmds {
	MM_WRK_CMDS_DONE = 0, /* the cmd-ring is empty */
	MM_WRK_CMDS_MORE,     /* a batch done, more wait: go on after a look at the loop */
	MM_WRK_CMDS_NO_ROOM,  /* the in-ring lacks room for completions: its space doorbell */
	MM_WRK_CMDS_WAIT,     /* perf.max_pending requests wait for the broker: a completion */
	_MM_WRK_CMDS_MAX
};
enum mm_wrk_cmds mm_wrk_handle_commands(struct mm_wrk *w);
bool mm_wrk_commands_may_go_on(const struct mm_wrk *w);
struct mm_wrk_pending *mm_wrk_pending_take(struct mm_wrk *w, int mid);
int mm_wrk_pending_add(struct mm_wrk *w, int mid, uint16_t cmd, uint64_t req_id, uint32_t bytes,
		       uint8_t qos);
void mm_wrk_pending_fail_all(struct mm_wrk *w, int32_t result, bool resent_too);
int mm_wrk_filter_add(struct mm_wrk *w, const char *topic, size_t len, int qos, bool from_cfg);
int mm_wrk_filter_remove(struct mm_wrk *w, const char *topic, size_t len);

/* wrk_guard.c */
#define MM_WRK_POISON_DEATHS	2 /* deaths in a row on one message before its quarantine */
#define MM_WRK_QUARANTINE_TOPIC "$mqttmux/quarantined" /* a quarantined message's stand-in */
void mm_wrk_guard_set_state_dir(const char *dir);
void mm_wrk_guard_start(struct mm_wrk *w);
void mm_wrk_guard_done(struct mm_wrk *w);
bool mm_wrk_guard_is_stand_in(struct mm_wrk *w, const char *topic);

/* wrk_ackgate.c */
void mm_wrk_space_watch(struct mm_wrk *w);
void mm_wrk_ackgate_committed(struct mm_wrk *w);
void mm_wrk_ackgate_reset(struct mm_wrk *w);
bool mm_wrk_ackgate_may_write(struct mm_wrk *w);

/* wrk_ids.c */
int mm_wrk_ids_open(struct mm_wrk *w, const char *path);
void mm_wrk_ids_close(struct mm_wrk *w);

/* wrk_unacked.c */
void mm_wrk_unacked_inherit(struct mm_wrk *w);
bool mm_wrk_unacked_mark(struct mm_wrk *w, uint16_t mid);
void mm_wrk_unacked_flush(struct mm_wrk *w);
bool mm_wrk_unacked_probe(struct mm_wrk *w);
bool mm_wrk_unacked_probe_answered(struct mm_wrk *w, int mid);
bool mm_wrk_unacked_pending(const struct mm_wrk *w);
void mm_wrk_unacked_lost(struct mm_wrk *w);
void mm_wrk_unacked_forget(struct mm_wrk *w);

/*
 * A worker process: the loop, the signals and the supervisor channel it has once, and the
 * sessions it runs (one, or a group: docs/worker.md, "Grouped sessions").
 */
struct mm_wrk_proc {
	struct mm_wrk_loop *loop;
	int sig_fd;
	int chan_fd; /* control channel to the supervisor, or -1 */
	struct mm_wrk **sess;
	uint32_t n;
	struct mm_wrk **active;	    /* sessions touched this turn (n entries of room) */
	struct mm_pace_block *pace; /* the daemon's connect pacer (shm/pace.h), or NULL */
	uint32_t n_active;
	bool tick_fast; /* the tick timer is armed at its 1 s floor (wrk_run.c) */
	bool bells;	/* some session has bell_check set (mm_wrk_bells) */
	bool stopping;
	uint64_t hold_ns; /* performance.latency_budget_us, the smallest; 0: off (wrk_hold.c) */
	uint64_t last_read_ns;		 /* when the last turn that read messages began */
	void (*after)(struct mm_wrk *w); /* called for each session touched, after the turn */
};

/* wrk_run.c */
int mm_wrk_run(struct mm_wrk_proc *p);

/* wrk_hold.c */
void mm_wrk_hold_init(struct mm_wrk_proc *p);
uint64_t mm_wrk_hold_mark(const struct mm_wrk_proc *p);
void mm_wrk_hold(struct mm_wrk_proc *p, uint64_t woke_ns, uint64_t mark);

#endif /* MM_WRK_H */
