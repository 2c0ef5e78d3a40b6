/* SPDX-License-Identifier: MIT */
/*
 * The router's subscription matcher: a topic trie with MQTT semantics that maps a message's
 * (session, topic) to the clients that must receive it, each once with the ids of its matching
 * routes, and that reference-counts identical filters per session so the router tells a worker
 * to SUBSCRIBE on the first route and to UNSUBSCRIBE after the last. docs/router.md has the
 * rules ("Subscription matching").
 *
 * Not for: delivery, rings or sockets (rtr_fanout.c, rtr_client.c); this file only decides who.
 *
 * Library code: no logging, no threads, one owner (the router loop); -errno returns. Matching
 * allocates nothing: its scratch arrays are grown when routes are added.
 */
#ifndef MM_RTR_SUB_H
#define MM_RTR_SUB_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "chan.h"

/* Session value of a route that applies to every session, present and future. */
#define MM_RTR_SESSION_ALL   (-1)
/* Session indexes are 0..MM_RTR_SESSION_MAX-1. */
#define MM_RTR_SESSION_MAX   ((int)MM_CHAN_SESSION_IDX_MAX)
/* Deepest filter accepted (levels); bounds the recursion of the matcher. */
#define MM_RTR_SUB_DEPTH_MAX 256
/* The old_qos/new_qos value of a filter that has no route on a session. */
#define MM_RTR_SUB_INACTIVE  (-1)

/* A route as the caller describes it; mm_rtr_sub_add() copies everything it needs. */
struct mm_rtr_route {
	uint32_t client;	     /* the router's id for the client */
	uint32_t id;		     /* chosen by the client; unique per client */
	int32_t session;	     /* 0..MM_RTR_SESSION_MAX-1 or MM_RTR_SESSION_ALL */
	const char *filter;	     /* NUL-terminated topic filter, "$share/<g>/<f>" allowed */
	uint8_t qos;		     /* 0..2 */
	enum mm_cfg_on_full on_full; /* what to do when the client's ring is full */
};

/* One client that a message must be written to (an element of mm_rtr_sub_match()'s result). */
struct mm_rtr_match {
	uint32_t client;
	uint32_t nids;		     /* >= 1 */
	const uint32_t *ids;	     /* the matching route ids, in trie order */
	uint8_t qos;		     /* highest QoS among the matching routes */
	enum mm_cfg_on_full on_full; /* BLOCK if any matching route blocks, else DROP */
};

/*
 * Called when the SUBSCRIBE state of <filter> on <session> changes: old_qos and new_qos are
 * 0..2, or MM_RTR_SUB_INACTIVE. INACTIVE -> q: subscribe with q; q -> INACTIVE: unsubscribe;
 * q -> q2: subscribe again with q2 (the highest QoS among the filter's routes changed).
 * <filter> is the string to send to the broker (with its "$share/<g>/" prefix) and is valid
 * during the call only. The callback must not call back into the matcher.
 */
typedef void mm_rtr_sub_change_fn(void *arg, uint32_t session, const char *filter, int old_qos,
				  int new_qos);
/* Called by mm_rtr_sub_remove_session() once per route removed. */
typedef void mm_rtr_sub_route_fn(void *arg, uint32_t client, uint32_t route_id);
/* Called by mm_rtr_sub_filters_for_session() once per active filter. */
typedef void mm_rtr_sub_filter_fn(void *arg, const char *filter, int qos);

struct rtr_node;
struct rtr_filter;
struct rtr_client;
struct rtr_route;

/* The matcher. Embedded in the router's state: mm_rtr_sub_init() / mm_rtr_sub_done(). */
struct mm_rtr_sub {
	struct rtr_node *root;
	struct rtr_filter *filters;  /* every distinct filter string, for session events */
	struct rtr_client **clients; /* sorted by id */
	size_t nclients;
	size_t clients_cap;
	size_t nroutes;
	uint8_t *known; /* known[s]: session s was added (all-session routes apply) */
	size_t known_cap;
	mm_rtr_sub_change_fn *change;
	void *change_arg;
	/* Match scratch, grown by add so that matching never allocates. */
	struct rtr_route **hits;
	uint32_t *ids;
	struct mm_rtr_match *matches;
	struct rtr_client **mclients; /* the client of each element of matches */
	size_t scratch_cap;	      /* entries of hits and ids */
	size_t matches_cap;
	uint64_t gen; /* match generation: stamps clients seen by the current match */
};

/*
 * Initialise an empty matcher in <t>. <change> (may be NULL) receives the filter state changes
 * with <arg>. Returns 0 or -ENOMEM.
 */
int mm_rtr_sub_init(struct mm_rtr_sub *t, mm_rtr_sub_change_fn *change, void *arg);

/* Free everything <t> holds; reports nothing. Safe on a zeroed or already-done struct. */
void mm_rtr_sub_done(struct mm_rtr_sub *t);

/*
 * Add route <r>. Reports a change for every session whose state of the filter changes (for an
 * all-session route: every session added so far). Returns 0, -EINVAL (invalid filter, qos,
 * session or on_full), -E2BIG (more than MM_RTR_SUB_DEPTH_MAX levels), -EEXIST (the client
 * already has this route id) or -ENOMEM; on failure nothing changed.
 */
int mm_rtr_sub_add(struct mm_rtr_sub *t, const struct mm_rtr_route *r);

/*
 * Remove route <route_id> of <client>, reporting the changes it causes. Returns 0 or -ENOENT.
 */
int mm_rtr_sub_remove(struct mm_rtr_sub *t, uint32_t client, uint32_t route_id);

/*
 * Remove every route of <client> (it disconnected), reporting the changes. Returns the number
 * of routes removed (0 if the client had none).
 */
int mm_rtr_sub_remove_client(struct mm_rtr_sub *t, uint32_t client);

/*
 * Session <session> (0..MM_RTR_SESSION_MAX-1) now exists: all-session routes apply to it from
 * now on. Reports each filter whose state on it changes (every all-session filter, unless a
 * route for that session alone had made it active already). Returns 0, -EINVAL, -EEXIST
 * (already added) or -ENOMEM.
 */
int mm_rtr_sub_session_added(struct mm_rtr_sub *t, uint32_t session);

/*
 * Session <session> is gone: all-session routes stop applying to it; its own routes stay.
 * Reports nothing (its worker is gone). Returns 0 or -ENOENT.
 */
int mm_rtr_sub_session_removed(struct mm_rtr_sub *t, uint32_t session);

/*
 * Remove every route of <session> alone (all-session routes stay), reporting the changes
 * they cause, and call <fn> (may be NULL) with the client and route id of each once it is
 * gone; <fn> must not call back into the matcher. Returns the number of routes removed.
 */
int mm_rtr_sub_remove_session(struct mm_rtr_sub *t, uint32_t session, mm_rtr_sub_route_fn *fn,
			      void *arg);

/*
 * Call <fn> for every filter active on <session>, with the QoS to subscribe with: what a
 * (re)started worker must subscribe to. Returns the number of filters.
 */
int mm_rtr_sub_filters_for_session(const struct mm_rtr_sub *t, uint32_t session,
				   mm_rtr_sub_filter_fn *fn, void *arg);

/*
 * Match a message received on <session> with topic <topic> (<len> bytes, not NUL-terminated,
 * no wildcards). *ret_matches receives one element per client with at least one matching
 * route; it points into <t> and is valid until the next call on <t>. Allocates nothing.
 * Returns the number of clients (0..), or -EINVAL for an empty topic.
 */
int mm_rtr_sub_match(struct mm_rtr_sub *t, uint32_t session, const char *topic, size_t len,
		     const struct mm_rtr_match **ret_matches);

#endif
