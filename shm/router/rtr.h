/* SPDX-License-Identifier: MIT */
/*
 * The router process: state shared by its files. rtr_loop.c (setup, epoll loop, channel,
 * signals), rtr_client.c (router.sock: credentials, registration, frames), rtr_fanout.c
 * (in-ring -> delivery rings: DELIVER, GAP, block), rtr_pub.c (pub-rings and SUB/UNSUB/PUB
 * into the worker cmd-rings, completions back), rtr_pub_done.c (the PUB_DONE queue of each
 * client), rtr_stats.c (the stats block), rtr_rejoin.c (the clients of a previous router),
 * rtr_table.c (the session table, changed at run time), rtr_chan.c (the supervisor channel).
 * docs/router.md has the rules.
 * Process-local; nothing here is shared memory.
 */
#ifndef MM_RTR_H
#define MM_RTR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cfg.h"
#include "fd_pause.h"
#include "fdmap.h"
#include "handoff.h"
#include "proto.h"
#include "records.h"
#include "ring.h"
#include "rstats.h"
#include "rtr_sub.h"

#define MM_RTR_EXIT_BATCHES	 4096 /* batches per session drained at most when stopping */
#define MM_RTR_BATCH		 256  /* records drained per ring per wake-up */
#define MM_RTR_PEND_BUCKETS	 1024
/* Retained messages (rtr_retain.c): how long a route's window stays open, and its bounds. */
#define MM_RTR_RETAIN_WINDOW_NS	 (30ull * 1000000000)
#define MM_RTR_RETAIN_BUCKETS	 256
#define MM_RTR_RETAIN_TOPICS_MAX 16384u	  /* topics one window remembers */
#define MM_RTR_RETAIN_TOTAL_MAX	 1048576u /* topics all windows remember (8 MiB) */
/* A connection that has not sent HELLO this long after accept() is closed: it holds a fd. */
#define MM_RTR_HELLO_TIMEOUT_NS	 (5 * MM_NS_PER_SEC)

/* epoll tokens: kind in the top byte, an index or client id below. */
#define MM_RTR_TOK(kind, v) ((uint64_t)(kind) << 56 | (uint64_t)(v))
#define MM_RTR_TOK_KIND(t)  ((unsigned)((t) >> 56))
#define MM_RTR_TOK_VAL(t)   ((uint32_t)(t))
enum mm_rtr_tok {
	MM_RTR_T_LISTEN = 1,
	MM_RTR_T_SIGNAL,
	MM_RTR_T_CHAN,
	MM_RTR_T_IN_DATA,   /* value: session index */
	MM_RTR_T_CMD_SPACE, /* value: session index */
	MM_RTR_T_SOCK,	    /* value: client id */
	MM_RTR_T_PUB_DATA,  /* value: client id */
	MM_RTR_T_DLV_SPACE, /* value: client id */
};

/* Counter deltas of one client, written to its stats slot once per batch (rtr_stats.c). */
struct mm_rtr_cstats {
	uint64_t matched, delivered, dropped;
	int64_t queued;
	uint64_t gaps, events, pub_requests, pub_ok, pub_failed, block_timeouts;
};

/* Router-wide counter deltas, written to the stats block once per batch. */
struct mm_rtr_rstats {
	uint64_t msgs_in, deliveries, drops, gaps, events_fwd, unrouted, pub_requests,
		block_timeouts;
	uint64_t lat[MM_RSTATS_LAT_BUCKETS + 1];
	uint64_t lat_sum_ns, lat_count;
};

/* A client of the previous router instance, expected to come back (rtr_rejoin.c). */
struct mm_rtr_expect {
	uint64_t token;
	pid_t pid;
};

struct mm_rtr_session {
	char name[MM_CFG_NAME_MAX + 1];
	uint32_t idx;		     /* the supervisor's: DELIVER.session_idx, epoll tokens */
	uint32_t max_msg;	     /* the config's performance.max_message_size */
	struct mm_cfg_access access; /* its own clients block: who may route, publish (owned) */
	uint32_t n_windows;	     /* retained windows open on this session (rtr_retain.c) */
	uint64_t replay_until_ns;    /* CLOCK_MONOTONIC: every route takes retained messages */
	bool retain_sent;	     /* a route add's SUB (F_RETAINED) went into the cmd-ring */
	int fds[MM_FD_SESS_N];
	struct mm_shm_ring in;	/* consumer */
	struct mm_shm_ring cmd; /* producer */
	bool blocked;		/* a BLOCK client lacks room for the next message */
	bool held;		/* that message is counted as queued for the clients in held_ids */
	uint32_t *held_ids, n_held, cap_held;
	bool dead;	   /* a ring refused: not drained any more */
	bool armed;	   /* in-ring armed (consumer_sleeping) and not drained since: skip */
	uint8_t state;	   /* last worker event kind, 0xff: none yet */
	bool cmd_dirty;	   /* cmd records reserved, not yet committed */
	uint64_t cmd_lost; /* SUB/UNSUB that found the cmd-ring full */
	uint64_t msgs, events;
	uint64_t unrouted, unrouted_told; /* messages that matched no route; told the supervisor */
	bool retiring; /* a namesake was added: the name is the new session's (rtr_table.c) */
	bool removing; /* being removed: no more SUBSCRIBE changes for its worker */
};

struct mm_rtr_client {
	uint32_t id;
	int sock;
	uid_t uid;
	pid_t pid;
	uint64_t token; /* HELLO's: the same client across router restarts */
	int slot;	/* its slot in the stats block, or -1 */
	struct mm_rtr_cstats d;
	bool registered;      /* HELLO accepted, rings passed */
	uint64_t hello_by_ns; /* not registered by then (CLOCK_MONOTONIC): dropped */
	bool dirty;	      /* delivery records reserved, not yet committed */
	bool pub_stalled;
	bool pub_counted;		/* the CLIENT_PUB at the head of the pub-ring is counted */
	bool dead;			/* its ring was refused: drop it after the current batch */
	int fds[MM_PROTO_WELCOME_NFDS]; /* our copies of the WELCOME descriptors */
	struct mm_shm_ring dlv;		/* producer */
	struct mm_shm_ring pub;		/* consumer (untrusted producer) */
	struct mm_access_peer *peer;	/* SO_PEERCRED and groups: per-session access (owned) */
	uint32_t nroutes;
	uint32_t n_pend;       /* publishes in flight in the router (clients.max_pending) */
	uint64_t pend_bytes;   /* their bytes (clients.max_queued_bytes) */
	bool pend_limited;     /* held by one of those two bounds (counted once per hold) */
	uint64_t lost;	       /* not yet reported in a GAP */
	uint32_t lost_session; /* or MM_REC_SESSION_ANY */
	uint64_t delivered, dropped;
	struct mm_rtr_done *done_head, *done_tail; /* PUB_DONEs waiting for room, in order */
	uint32_t features;			   /* accepted MM_PROTO_FEAT_* */
	char name[MM_PROTO_NAME_MAX + 1];
	/* policy block, bounded by clients.block_timeout (rtr_block.c) */
	uint64_t block_since_ns; /* CLOCK_MONOTONIC since it lacks room for a held message, or 0 */
	uint32_t block_session;	 /* the session it holds */
	bool forced_drop;	 /* switched to drop by block_timeout: never blocks again */
	bool owe_block_event;	 /* its BLOCK_TIMEOUT CLIENT_EVENT waits for room */
};

struct mm_rtr_rwin;

/* The retained windows (rtr_retain.c): a hash of (client, route, session). */
struct mm_rtr_retain {
	struct mm_rtr_rwin *b[MM_RTR_RETAIN_BUCKETS];
	size_t n, topics;	 /* windows, topics they remember */
	uint64_t next_sweep_ns;	 /* CLOCK_MONOTONIC: free expired windows then */
	struct mm_rtr_match *mt; /* scratch: the matches a retained message keeps */
	uint32_t *ids;
	size_t mt_cap, ids_cap;
};

/* A publish to every session: completes when each of its parts has. */
struct mm_rtr_pubgrp {
	uint64_t creq;
	uint32_t client;
	uint32_t remaining;	/* parts not completed yet */
	int32_t result, reason; /* the first failure, or 0 */
};

/* A publish in flight: router req_id -> (client, the client's req_id). */
struct mm_rtr_pend {
	uint64_t rreq, creq;
	uint64_t cmd_end; /* cmd-ring position after its PUB record */
	uint32_t client;
	uint32_t session;
	uint32_t bytes;		   /* its PUB record: counted in the client's pend_bytes */
	struct mm_rtr_pubgrp *grp; /* NULL unless part of a publish to every session */
	struct mm_rtr_pend *next;
};

/* A PUB_DONE waiting for room in a client's delivery ring. */
struct mm_rtr_done {
	uint64_t req_id;
	int32_t result, reason;
	struct mm_rtr_done *next;
};

struct mm_rtr {
	struct mm_handoff_router *opts;	      /* owned: runtime_dir and client options (the table's
						 sessions are in sess[] once set up) */
	const struct mm_cfg_clients *clients; /* &opts->clients */
	const char *runtime_dir;	      /* opts->runtime_dir */
	struct mm_rtr_sub sub;
	struct mm_rtr_session **sess; /* the session table, in no order (rtr_table.c) */
	size_t nsess, cap_sess;
	struct mm_rtr_session **by_idx; /* by session index, NULL where none */
	size_t n_by_idx;
	struct mm_rtr_client **cl;
	size_t ncl, cl_cap;
	struct mm_rtr_pend *pend[MM_RTR_PEND_BUCKETS];
	uint8_t *scratch; /* private copy of an untrusted record / a frame */
	size_t scratch_cap;
	int epfd, lsock, sigfd, chan;
	struct mm_fd_pause lpause; /* router.sock not accepting: out of descriptors */
	bool lsock_off;		   /* ... so it is out of the epoll set */
	uint32_t next_client;
	uint64_t next_req;
	uint32_t resub_session; /* for the mm_rtr_sub_filters_for_session() callback */
	uint64_t next_heartbeat_ns;
	bool gap_pending; /* clients lost messages: the supervisor is to be told (rtr_loop.c) */
	bool unrouted_pending; /* some session has unrouted messages not told yet */
	bool gauges_busy;      /* a client ring held data at the last gauge refresh (rtr_stats.c) */
	uint64_t next_gauges_ns; /* the next refresh of the client gauges (CLOCK_MONOTONIC) */
	uint64_t next_gap_ns;	 /* ... not before this (CLOCK_MONOTONIC) */
	bool stop;
	bool exiting; /* dropping every client on the way out: their routes send no UNSUB */
	uint64_t malformed, refused; /* counters */
	struct mm_rstats_block *st;  /* the stats block (rtr_stats.c) */
	struct mm_rtr_rstats d;
	struct mm_rtr_expect *expect; /* clients of the previous router not back yet */
	size_t n_expect;
	bool holding; /* in-rings not drained until they are back (or the grace ends) */
	uint64_t hold_until_ns;
	uint64_t batch_now_ns; /* CLOCK_REALTIME at the start of the current batch */
	struct mm_rtr_retain
		retain; /* retained messages for the routes that asked (rtr_retain.c) */
	struct mm_rtr_match *acc_mt; /* scratch: the matches a session's clients block keeps */
	size_t acc_cap;
	bool retain_sub;	/* a new route is being added: its SUBs carry F_RETAINED */
	uint64_t batch_mono_ns; /* CLOCK_MONOTONIC at the start of the current batch */
};

/* rtr_loop.c */
int mm_rtr_init(struct mm_rtr *r, struct mm_handoff_router *opts, int first_fd, int stats_fd);
int mm_rtr_run(struct mm_rtr *r);
void mm_rtr_done(struct mm_rtr *r);
int mm_rtr_watch(struct mm_rtr *r, int fd, unsigned kind, uint32_t val);
int mm_rtr_watch_edge(struct mm_rtr *r, int fd, unsigned kind, uint32_t val);
int mm_rtr_scratch_fit(struct mm_rtr *r, uint64_t ring_size);

/* rtr_chan.c */
void mm_rtr_chan_input(struct mm_rtr *r);

/* rtr_client.c */
int mm_rtr_listen(struct mm_rtr *r);
void mm_rtr_accept(struct mm_rtr *r);
int mm_rtr_clients_tick(struct mm_rtr *r, int ms);
void mm_rtr_client_input(struct mm_rtr *r, struct mm_rtr_client *c);
void mm_rtr_client_drop(struct mm_rtr *r, struct mm_rtr_client *c, int err, const char *why);
struct mm_rtr_client *mm_rtr_client_find(struct mm_rtr *r, uint32_t id);
int mm_rtr_send_error(int sock, uint32_t seq, int code, bool fatal, const char *text);

/* rtr_frames.c */
int mm_rtr_on_frame(struct mm_rtr *r, struct mm_rtr_client *c, const uint8_t *buf, size_t len);

/* rtr_fanout.c */
void mm_rtr_drain_session(struct mm_rtr *r, struct mm_rtr_session *s);
void mm_rtr_unblock(struct mm_rtr *r, struct mm_rtr_client *c);
void mm_rtr_flush_owed(struct mm_rtr *r, struct mm_rtr_client *c);
void mm_rtr_commit_clients(struct mm_rtr *r);
void mm_rtr_forward_event(struct mm_rtr *r, const struct mm_rtr_session *s,
			  const struct mm_rec_event *e);

/* rtr_pub_done.c */
int mm_rtr_put_pub_done(struct mm_rtr_client *c, uint64_t req_id, int32_t result, int32_t reason);
void mm_rtr_flush_done(struct mm_rtr_client *c);
void mm_rtr_done_free(struct mm_rtr_client *c);
void mm_rtr_held_drop(struct mm_rtr *r, struct mm_rtr_session *s);

/* rtr_pub.c */
void mm_rtr_sub_changed(void *arg, uint32_t session, const char *filter, int old_qos, int new_qos);
int mm_rtr_sub_room(struct mm_rtr *r, int sess, uint32_t len);
void mm_rtr_drain_pub(struct mm_rtr *r, struct mm_rtr_client *c);

/*
 * Is reading <c>'s pub-ring on hold? While a worker's cmd-ring is full (pub_stalled), while
 * PUB_DONEs wait for room in c's delivery ring (then the client must read before it may
 * publish more), and while it has clients.max_pending publishes or clients.max_queued_bytes
 * in flight: the router's memory for it stays bounded, and one client cannot fill a session's
 * cmd-ring for everybody. The held client is slowed by its own full pub-ring (-EAGAIN).
 */
bool mm_rtr_publish_held(struct mm_rtr *r, struct mm_rtr_client *c);
void mm_rtr_cmd_space(struct mm_rtr *r, struct mm_rtr_session *s);
void mm_rtr_completion(struct mm_rtr *r, struct mm_rtr_session *s, const struct mm_shm_rec *rec);
void mm_rtr_pend_drop_all(struct mm_rtr *r);
void mm_rtr_worker_started(struct mm_rtr *r, struct mm_rtr_session *s, uint64_t cmd_pos);
size_t mm_rtr_pend_fail_session(struct mm_rtr *r, uint32_t idx, uint64_t cmd_pos);

/* rtr_table.c */
struct mm_rtr_session *mm_rtr_session_at(const struct mm_rtr *r, uint32_t idx);
struct mm_rtr_session *mm_rtr_session_named(const struct mm_rtr *r, const char *name, size_t len);
int mm_rtr_session_add(struct mm_rtr *r, struct mm_handoff_rsess *e, const int *fds, bool tell);
int mm_rtr_session_remove(struct mm_rtr *r, uint32_t idx);
void mm_rtr_table_free(struct mm_rtr *r);

/* rtr_retain.c */
void mm_rtr_retain_route_added(struct mm_rtr *r, uint32_t client, uint32_t route, int sess);
void mm_rtr_retain_connected(struct mm_rtr *r, struct mm_rtr_session *s, bool first);
void mm_rtr_retain_forget(struct mm_rtr *r, uint32_t client, uint32_t route);
void mm_rtr_retain_expire(struct mm_rtr *r);
int mm_rtr_retain_filter(struct mm_rtr *r, struct mm_rtr_session *s, const struct mm_rec_msg *m,
			 const struct mm_rtr_match *mt, int n, const struct mm_rtr_match **ret);
void mm_rtr_retain_done(struct mm_rtr *r);
void mm_rtr_retain_session_gone(struct mm_rtr *r, uint32_t idx);
void mm_rtr_retain_subscribe(struct mm_rtr *r, int sess, const char *filter, uint8_t qos);

/* rtr_access.c: per-session data access (a session's clients block) */
struct mm_access_peer;
int mm_rtr_peer_keep(struct mm_rtr_client *c, const struct mm_access_peer *p);
bool mm_rtr_may(const struct mm_rtr_client *c, const struct mm_rtr_session *s);
int mm_rtr_access_filter(struct mm_rtr *r, const struct mm_rtr_session *s,
			 const struct mm_rtr_match *mt, int n, const struct mm_rtr_match **ret);
void mm_rtr_access_done(struct mm_rtr *r);

/* rtr_block.c: policy block, bounded by clients.block_timeout */
void mm_rtr_block_start(struct mm_rtr_client *c, const struct mm_rtr_session *s);
void mm_rtr_block_progress(struct mm_rtr_client *c);
int mm_rtr_block_tick(struct mm_rtr *r, int ms);
uint32_t mm_rtr_block_event_room(const struct mm_rtr *r, const struct mm_rtr_client *c);
int mm_rtr_block_put_event(struct mm_rtr *r, struct mm_rtr_client *c);

/* rtr_stats.c */
int mm_rtr_stats_open(struct mm_rtr *r, int fd);
void mm_rtr_stats_close(struct mm_rtr *r);
void mm_rtr_stats_claim(struct mm_rtr *r, struct mm_rtr_client *c);
void mm_rtr_stats_release(struct mm_rtr *r, struct mm_rtr_client *c);
void mm_rtr_stats_flush(struct mm_rtr *r);
#define MM_RTR_GAUGE_NS MM_NS_PER_SEC
bool mm_rtr_stats_gauges(struct mm_rtr *r, uint64_t now_ns);
void mm_rtr_stats_pub_done(struct mm_rtr *r, struct mm_rtr_client *c, int32_t result);
void mm_rtr_stats_latency(struct mm_rtr *r, uint64_t now_ns, uint64_t recv_ns);
void mm_rtr_stats_bump(_Atomic uint64_t *counter);
void mm_rtr_stats_limit(struct mm_rtr *r, enum mm_rstats_limit which);

/* rtr_rejoin.c */
int mm_rtr_rejoin_start(struct mm_rtr *r);
void mm_rtr_rejoin_done(struct mm_rtr *r);
bool mm_rtr_holding(struct mm_rtr *r);
void mm_rtr_rejoined(struct mm_rtr *r, struct mm_rtr_client *c);

#endif /* MM_RTR_H */
