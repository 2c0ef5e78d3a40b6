/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux internals shared by client.c (connection, control frames, routes),
 * client_io.c (delivery ring, listen queues, publishes), client_conn.c (router restarts:
 * drain the old ring, fail publishes, reconnect, re-register), client_event.c (events and the
 * sessions list) and client_seen.c (DELIVER seq deduplication). Not installed. See
 * docs/client.md.
 */
#ifndef MM_CLIENT_INT_H
#define MM_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client_fsm.h"
#include "mqttmux.h"
#include "proto.h"
#include "records.h"
#include "ring.h"

#define MM_CL_CTL_TIMEOUT 5000 /* ms: WELCOME, ROUTE_ACK */
#define MM_CL_BUDGET	  1024 /* ring records per dispatch before yielding */
#define MM_CL_DEPTH_MAX	  (1u << 20)
#define MM_CL_BACKOFF_MIN 10  /* ms: first reconnect attempt after a router loss */
#define MM_CL_BACKOFF_MAX 500 /* ms: the doubling backoff stops here */
#define MM_CL_SEEN_HINTS  64  /* session_idx -> seen entry cache slots */

/*
 * The last DELIVER seq accepted per session *name* (indexes change when sessions are added or
 * removed; names do not). A restarted router may deliver up to one batch again: a DELIVER
 * whose seq is <= the last one accepted from its session is a duplicate.
 */
struct mm_cl_seen {
	uint64_t last;
	uint8_t len;
	char name[MM_PROTO_NAME_MAX];
};

struct mm_cl_seen_tab {
	struct mm_cl_seen *v;
	size_t n, cap;
	uint32_t hint[MM_CL_SEEN_HINTS]; /* by session_idx % MM_CL_SEEN_HINTS: entry index + 1 */
};

bool mm_cl_seen_fresh(struct mm_cl_seen_tab *t, const uint8_t *name, size_t len, uint32_t idx,
		      uint64_t seq);
void mm_cl_seen_done(struct mm_cl_seen_tab *t);

/* A queued copy of a message (listen routes): one allocation, strings and bytes after it. */
struct mm_cl_qmsg {
	struct mqttmux_msg m;
	/* session, topic, payload, props follow */
};

struct mqttmux_route {
	struct mqttmux *c;
	struct mqttmux_route *next;
	uint32_t id;
	mqttmux_msg_fn *fn; /* NULL: a listen route */
	void *ud;
	char *session, *filter; /* copies, to register the route again after a router restart */
	uint8_t qos, on_full;
	bool registered;       /* the current router acknowledged it */
	bool rereg;	       /* its session came (back): ROUTE_ADD again (client_sessions.c) */
	uint32_t rereg_seq;    /* that ROUTE_ADD's seq while its answer is awaited, or 0 */
	struct mm_cl_qmsg **q; /* listen: ring of <depth> copies */
	size_t depth, head, n;
	struct mm_cl_qmsg *cur; /* the message mqttmux_next returned last */
	uint64_t dropped;
};

/* A publish waiting for its PUB_DONE. Blocking publishes keep theirs on the stack. */
struct mm_cl_pub {
	struct mm_cl_pub *next;
	uint64_t req_id;
	mqttmux_pub_fn *fn;
	void *ud;
	const char *session, *topic; /* for publish_failed: copies after the struct when async */
	bool async, done;
	int result;
	int32_t reason; /* PUB_DONE's: for -EMSGSIZE the session's max_message_size */
};

/* An event handler of mqttmux_on_event. */
struct mm_cl_evh {
	struct mm_cl_evh *next;
	int id;
	uint32_t mask;
	char *session; /* NULL: every session */
	mqttmux_event_fn *fn;
	void *ud;
	bool dead; /* removed while events were being delivered: freed afterwards */
};

/* One session of the router's list: its name and index. */
struct mm_cl_sess {
	char *name;
	uint32_t idx;
};

/* A session_added / session_removed found by the sessions-list diff, delivered by dispatch. */
struct mm_cl_pend {
	struct mm_cl_pend *next;
	int type;
	char name[];
};

struct mqttmux {
	int sock, epfd, tfd; /* tfd: reconnect timer; epfd (mqttmux_fd) lives as long as c */
	int fds[MM_PROTO_WELCOME_NFDS];
	struct mm_shm_ring dlv, pub;
	uint32_t seq, next_route, features, client_id;
	uint64_t next_req, lost;
	uint64_t token;	      /* HELLO.token: random, non-zero, the same on every (re)connect */
	int route_qos, depth; /* depth: nesting of dispatch inside callbacks */
	bool entry_known;     /* the last dispatch ended on what its own wait reported */
	uint8_t on_full;      /* MM_PROTO_ON_FULL_* of every route (mqttmux_open_opts) */
	enum mm_cl_conn conn; /* the connection's state (client_fsm.h) */
	int fatal;	      /* -EPROTO once the delivery ring was corrupt: permanent */
	int backoff;	      /* ms before the next reconnect attempt */
	uint32_t attempt;
	int64_t retry_at; /* CLOCK_MONOTONIC ms of the next reconnect attempt */
	char *dir;	  /* runtime directory, for reconnecting */
	struct mqttmux_route *routes;
	struct mm_cl_pub *pubs;
	mqttmux_gap_fn *gap_fn;
	void *gap_ud;
	struct mm_cl_seen_tab seen;
	struct mm_cl_evh *evh;
	int next_evh, emitting;
	struct mm_cl_pend *pend, **pend_tail;
	uint32_t sess_seq;		    /* the SESSIONS_LIST whose answer is awaited, 0: none */
	struct mm_cl_sess *sess, *sess_new; /* the sessions list: last complete, being received */
	size_t n_sess, n_sess_new;
	bool have_sess;
	bool rereg;	/* some route has rereg set */
	char *scratch;	/* session and topic of the message being dispatched, NUL-terminated */
	uint8_t *frame; /* MM_PROTO_MAX_FRAME bytes, for control frames */
};

int mm_cl_service_sock(struct mqttmux *c);
struct mqttmux_route *mm_cl_route_find(struct mqttmux *c, uint32_t id);
void mm_cl_route_free(struct mqttmux_route *r);
int mm_cl_dispatch(struct mqttmux *c, int timeout_ms);

/* client.c: one connection to the router */
int mm_cl_connect(struct mqttmux *c);
void mm_cl_disconnect(struct mqttmux *c);
int mm_cl_route_register(struct mqttmux *c, struct mqttmux_route *r, bool rejoin);
int mm_cl_send_rejoined(struct mqttmux *c);
int mm_cl_ask_sessions(struct mqttmux *c);
int mm_cl_rereg_send(struct mqttmux *c);

/* client_io.c */
int mm_cl_drain(struct mqttmux *c);
void mm_cl_pub_complete(struct mqttmux *c, struct mm_cl_pub *p, int result);

/* client_conn.c: router restarts */
int mm_cl_offline(struct mqttmux *c);
int mm_cl_wait_up(struct mqttmux *c, int64_t deadline);
void mm_cl_fail_pubs(struct mqttmux *c, int code);
int mm_cl_timer_open(struct mqttmux *c);
void mm_cl_timer_ack(struct mqttmux *c);

/* client_event.c */
void mm_cl_emit(struct mqttmux *c, const struct mqttmux_event *ev);
int mm_cl_on_client_event(struct mqttmux *c, const struct mm_shm_rec *rec);
void mm_cl_pub_failed(struct mqttmux *c, const struct mm_cl_pub *p);
void mm_cl_gap_event(struct mqttmux *c, const char *session, uint64_t lost);
void mm_cl_router_event(struct mqttmux *c, int type, int code);
void mm_cl_flush_pending(struct mqttmux *c);
void mm_cl_events_done(struct mqttmux *c);

/* client_sessions.c */
int mm_cl_on_sessions(struct mqttmux *c, size_t len);
void mm_cl_sessions_restart(struct mqttmux *c);
void mm_cl_sessions_done(struct mqttmux *c);
void mm_cl_sessions_live(struct mqttmux *c, int type, const char *name, uint32_t idx);
void mm_cl_rereg_answer(struct mqttmux *c, const struct mm_proto_hdr *h, size_t len);

#endif /* MM_CLIENT_INT_H */
