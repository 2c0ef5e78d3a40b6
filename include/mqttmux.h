/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux: the client library of the mqttmux router. A process opens one client per
 * router (mqttmux_open), registers routes (a topic filter, on one session or on all of them)
 * and receives the matching messages through a shared-memory delivery ring, either by
 * callback (mqttmux_handle*) or from a per-route queue (mqttmux_listen* + mqttmux_next). It
 * publishes through the sessions' MQTT connections with mqttmux_publish_to (blocking) or
 * mqttmux_publish_async (completion callback).
 *
 * Event loops: poll mqttmux_fd() for POLLIN, then call mqttmux_dispatch(c, 0). Callbacks run
 * only inside mqttmux_dispatch, mqttmux_next, mqttmux_publish_to and mqttmux_publish_all, in
 * the calling thread. The library starts no thread, logs nothing and is not thread-safe: use
 * one client per thread, or serialize the calls. Errors are negative errno values.
 *
 * Router restarts (mqttmuxd restarts the router when it dies; sessions added or removed reach
 * the running router without one) are not errors: the client delivers what the old router had
 * written, fails the publishes in flight with -ECONNRESET, reconnects by itself (10 ms, doubling to
 * 500 ms, for as long as the application dispatches), registers every route again and reports it as
 * router_disconnected / router_reconnected events (mqttmux_on_event). No message is delivered
 * twice.
 *
 * See docs/client.md for the design, docs/protocol.md for what travels underneath.
 */
#ifndef MQTTMUX_H
#define MQTTMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mqttmux_version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MQTTMUX_BUILD) && defined(__GNUC__)
#define MQTTMUX_PUBLIC __attribute__((visibility("default")))
#else
#define MQTTMUX_PUBLIC
#endif

/*
 * The version of the library loaded at run time, "MAJOR.MINOR.PATCH"; MQTTMUX_VERSION is the
 * version of the header a program was built with. Never NULL.
 */
MQTTMUX_PUBLIC const char *mqttmux_version(void);

/* Default runtime directory when neither the argument nor $MQTTMUX_RUNTIME_DIR gives one. */
#define MQTTMUX_DEFAULT_DIR "/run/mqttmux"

struct mqttmux;
struct mqttmux_route;

/*
 * A received message. For callback routes every pointer is a view valid only during the
 * callback: payload and props point into the delivery ring (zero copy), session and topic
 * into a per-client buffer. For listen routes it is a private copy, valid until the next
 * mqttmux_next on that route, mqttmux_route_stop or mqttmux_close.
 */
struct mqttmux_msg {
	const char *session; /* NUL-terminated session name, 1..255 bytes */
	const char *topic;   /* NUL-terminated topic */
	size_t topic_len;
	const void *payload; /* may be NULL when payload_len is 0 */
	size_t payload_len;
	const void *props; /* MQTT 5 property bytes as on the wire, or NULL */
	size_t props_len;
	uint64_t recv_ns;     /* CLOCK_REALTIME when the worker received it */
	uint32_t mid;	      /* MQTT packet id, 0 for QoS 0 */
	uint32_t session_idx; /* the session's index in the router's configuration */
	int qos;	      /* as delivered, 0..2 */
	bool retain, dup;
};

/*
 * ---------------------------------------------------------------------------------------------
 * MQTT 5 properties
 *
 * A received message carries its PUBLISH properties as the broker sent them (msg->props: the
 * MQTT 5 wire encoding of the property list, without its length prefix; NULL on MQTT 3.1.1
 * sessions and when there are none). mqttmux_prop_next walks them decoded; a publish takes
 * properties in the same encoding, built with mqttmux_prop_pack. docs/client.md has examples.
 * ---------------------------------------------------------------------------------------------
 */

/*
 * The PUBLISH properties (MQTT 5.0 §3.3.2.3); any other MQTT 5 identifier decodes as well. A
 * topic alias is never received (the worker always gets the topic) and is refused on publish:
 * the connection and its alias table are shared. A subscription identifier is only received.
 */
#define MQTTMUX_PROP_PAYLOAD_FORMAT   0x01 /* num: 0 unspecified bytes, 1 UTF-8 text */
#define MQTTMUX_PROP_MESSAGE_EXPIRY   0x02 /* num: seconds left (the broker counts down) */
#define MQTTMUX_PROP_CONTENT_TYPE     0x03 /* data: UTF-8 string */
#define MQTTMUX_PROP_RESPONSE_TOPIC   0x08 /* data: UTF-8 topic name */
#define MQTTMUX_PROP_CORRELATION_DATA 0x09 /* data: binary */
#define MQTTMUX_PROP_SUBSCRIPTION_ID  0x0b /* num */
#define MQTTMUX_PROP_TOPIC_ALIAS      0x23 /* num */
#define MQTTMUX_PROP_USER_PROPERTY    0x26 /* data: name, value: value; may repeat, in order */

/*
 * One property, decoded. Which fields apply depends on the identifier's type: integers in
 * <num>; strings and binary data in <data>/<len>; a user property's name in <data>/<len> and
 * its value in <value>/<value_len>. Strings are not NUL-terminated; views point into the bytes
 * that were decoded.
 */
struct mqttmux_prop {
	int id; /* MQTTMUX_PROP_*, or another MQTT 5 property identifier */
	uint32_t num;
	const void *data;
	size_t len;
	const void *value;
	size_t value_len;
};

/*
 * mqttmux_prop_next - decode the next property
 * @props: property bytes (msg->props, or what mqttmux_prop_pack wrote); NULL when @len is 0
 * @len:   their length (msg->props_len)
 * @off:   where to read; start at 0; advanced past the property on success
 * @ret:   the property, with views into @props
 *
 * Returns 1 (a property in *ret), 0 (no more), -EBADMSG (malformed or unknown identifier: stop
 * there) or -EINVAL (NULL argument).
 */
MQTTMUX_PUBLIC int mqttmux_prop_next(const void *props, size_t len, size_t *off,
				     struct mqttmux_prop *ret);

/*
 * mqttmux_msg_prop - the first property of a message with identifier @id
 * @m:   a received message
 * @id:  MQTTMUX_PROP_*
 * @ret: the property, with views into the message
 *
 * For a user property this is the first one; walk them all with mqttmux_prop_next.
 * Returns 1 (found), 0 (not there), -EBADMSG or -EINVAL.
 */
MQTTMUX_PUBLIC int mqttmux_msg_prop(const struct mqttmux_msg *m, int id, struct mqttmux_prop *ret);

/*
 * mqttmux_prop_pack - encode one property, to append it to a publish's property bytes
 * @buf: where to write, or NULL to only measure
 * @cap: bytes available at @buf
 * @p:   the property; the fields its identifier's type uses (see struct mqttmux_prop)
 *
 * Writes nothing unless the whole property fits. Returns the bytes the property takes (write
 * it again into a larger buffer when that is more than @cap), or -EINVAL: unknown identifier,
 * a value out of range for its type, data over 65535 bytes, NULL data with a length.
 */
MQTTMUX_PUBLIC ssize_t mqttmux_prop_pack(void *buf, size_t cap, const struct mqttmux_prop *p);

/* Message callback of mqttmux_handle / mqttmux_handle_to. */
typedef void mqttmux_msg_fn(struct mqttmux_route *r, const struct mqttmux_msg *msg, void *ud);

/*
 * Loss report: the router could not write <lost> messages of <session> (NULL: of several
 * sessions) into this client's ring because it was full. Set with mqttmux_on_gap.
 */
typedef void mqttmux_gap_fn(struct mqttmux *c, const char *session, uint64_t lost, void *ud);

/* Completion of mqttmux_publish_async: <result> is 0 or -errno as for mqttmux_publish_to. */
typedef void mqttmux_pub_fn(struct mqttmux *c, int result, void *ud);

/*
 * Event types (struct mqttmux_event.type). The session_* ones from connecting to
 * session_reconnecting are a session worker's own events, relayed by the router; the others
 * as commented. mqttmux_event_name() gives the lower-case name ("session_ready", ...).
 */
enum mqttmux_event_type {
	MQTTMUX_EV_SESSION_CONNECTING = 0, /* text: broker URL */
	MQTTMUX_EV_SESSION_CONNECTED,	   /* text: broker URL */
	MQTTMUX_EV_SESSION_READY,	   /* connected and every filter subscribed */
	MQTTMUX_EV_SESSION_DISCONNECTED,   /* code: MQTT reason or -errno; text: reason */
	MQTTMUX_EV_SESSION_RECONNECTING,   /* attempt, next_ms */
	MQTTMUX_EV_SESSION_STATE_CHANGED,  /* any other worker event; worker_kind, code, text */
	MQTTMUX_EV_SESSION_ADDED,	   /* the session appeared (sessions list, or the router) */
	MQTTMUX_EV_SESSION_REMOVED,	   /* the session is gone */
	MQTTMUX_EV_SESSION_FAILED,	   /* the supervisor gave up restarting its worker */
	MQTTMUX_EV_CLIENT_GAP,		   /* lost: messages the router could not write for us */
	MQTTMUX_EV_PUBLISH_FAILED,	   /* a publish completed with code < 0; topic */
	MQTTMUX_EV_ROUTER_DISCONNECTED,	   /* the router went away; code: -ECONNRESET */
	MQTTMUX_EV_ROUTER_RECONNECTED,	   /* registered again with a new router; attempt */
	MQTTMUX_EV_BLOCK_TIMEOUT, /* we held a session past clients.block_timeout (session, code:
				     seconds): our messages are dropped from now on when we lack
				     room (then GAPs), for the rest of this connection */
	_MQTTMUX_EV_MAX
};

/* A mask for mqttmux_on_event: MQTTMUX_EV_MASK(MQTTMUX_EV_SESSION_READY) | ... */
#define MQTTMUX_EV_MASK(type) (1u << (type))
#define MQTTMUX_EV_ALL	      ((1u << _MQTTMUX_EV_MAX) - 1)

/*
 * An event. Strings are NUL-terminated and valid during the callback only; a field that does
 * not apply to the type is NULL or 0.
 */
struct mqttmux_event {
	int type;	     /* enum mqttmux_event_type */
	const char *name;    /* mqttmux_event_name(type) */
	const char *session; /* the session it is about, or NULL */
	uint64_t time_ns;    /* CLOCK_REALTIME when it happened */
	int code;	     /* -errno or an MQTT reason code, 0 if none */
	uint32_t attempt;    /* reconnect attempt, 1-based, or 0 */
	uint32_t next_ms;    /* delay before the next reconnect attempt, ms */
	const char *text;    /* human-readable detail, "" if none */
	uint64_t lost;	     /* CLIENT_GAP: messages lost */
	const char *topic;   /* PUBLISH_FAILED: the topic */
	int worker_kind;     /* session_* events from a worker: the worker's event kind, else -1 */
};

/* Event callback of mqttmux_on_event. */
typedef void mqttmux_event_fn(struct mqttmux *c, const struct mqttmux_event *ev, void *ud);

/*
 * mqttmux_open - connect to the router and attach this process's rings
 * @runtime_dir: the router's runtime directory; NULL: $MQTTMUX_RUNTIME_DIR if set and not
 *               empty, else MQTTMUX_DEFAULT_DIR
 * @err:         NULL, or where to store -errno on failure
 *
 * Connects to <runtime_dir>/router.sock, registers (HELLO/WELCOME, at most 5 s) and maps
 * the delivery ring (as its consumer) and the pub-ring (as its producer). Only this first
 * connection can fail; later losses of the router are handled by dispatch.
 *
 * Returns the client, owned by the caller (free it with mqttmux_close), or NULL with *err:
 * -ENAMETOOLONG, -ENOENT or -ECONNREFUSED (no router), -EACCES (refused by the router),
 * -EPROTONOSUPPORT (protocol version), -EUSERS (clients.max_clients or max_clients_per_uid
 * reached), -ETIMEDOUT, -EPROTO, -ENOMEM, or another -errno.
 */
MQTTMUX_PUBLIC struct mqttmux *mqttmux_open(const char *runtime_dir, int *err);

/*
 * What the router does with this client's messages when its delivery ring is full (the
 * on_full of every route of the client):
 * - MQTTMUX_ON_FULL_DEFAULT: the daemon's clients.on_full (what mqttmux_open gives);
 * - MQTTMUX_ON_FULL_DROP: the message is not written for this client; the loss is counted and
 *   reported by a GAP (mqttmux_on_gap, MQTTMUX_EV_CLIENT_GAP) before the next message;
 * - MQTTMUX_ON_FULL_BLOCK: the router stops draining the sessions whose messages this client
 *   lacks room for, until it has room again (backpressure to their brokers; nothing lost).
 *   Other sessions go on. One client may hold a session at most clients.block_timeout
 *   seconds (daemon config, default 30): then it is switched to drop for the rest of its
 *   connection, and told (MQTTMUX_EV_BLOCK_TIMEOUT, then GAPs for what it loses).
 */
#define MQTTMUX_ON_FULL_DEFAULT 0
#define MQTTMUX_ON_FULL_DROP	1
#define MQTTMUX_ON_FULL_BLOCK	2

/* Options of mqttmux_open_opts. Zero it first: a zeroed struct means mqttmux_open. */
struct mqttmux_open_opts {
	int on_full;	  /* MQTTMUX_ON_FULL_* */
	int reserved[15]; /* must be 0: room for more options */
};

/*
 * mqttmux_open_opts - mqttmux_open with options
 * @runtime_dir: as for mqttmux_open
 * @opts:        NULL (the defaults) or options
 * @err:         as for mqttmux_open
 *
 * Returns as mqttmux_open, plus -EINVAL for an unknown on_full or a non-zero reserved field.
 */
MQTTMUX_PUBLIC struct mqttmux *mqttmux_open_opts(const char *runtime_dir,
						 const struct mqttmux_open_opts *opts, int *err);

/*
 * mqttmux_close - disconnect and free a client
 * @c: a client, or NULL (nothing happens)
 *
 * Frees every route, every queued message and every pending publish (their callbacks are
 * not called). Must not be called from a callback.
 */
MQTTMUX_PUBLIC void mqttmux_close(struct mqttmux *c);

/*
 * mqttmux_fd - the descriptor to poll
 * @c: a client
 *
 * An epoll descriptor that becomes readable (POLLIN) when the router's socket has a frame,
 * the delivery ring has records that mqttmux_dispatch has not consumed, or, while the router
 * is away, a reconnect attempt is due. The client owns it; it stays the same descriptor across
 * reconnects. It is only armed for the ring once mqttmux_dispatch has drained it: call
 * mqttmux_dispatch once before the first poll.
 *
 * Returns the descriptor, or -EINVAL if <c> is NULL.
 */
MQTTMUX_PUBLIC int mqttmux_fd(struct mqttmux *c);

/*
 * mqttmux_dispatch - process what the router sent
 * @c:          a client
 * @timeout_ms: how long to wait when nothing is pending: 0 not at all, -1 without limit
 *
 * Consumes the delivery ring: calls the callback of each matching callback route, queues a
 * copy for each matching listen route, reports losses to the gap callback, completes
 * publishes, runs event handlers. Answers the router's PINGs. When the router went away it
 * drains the old ring, fails the publishes in flight (-ECONNRESET) and reconnects when due.
 *
 * Returns the number of ring records handled (0 on timeout, also while the router is away),
 * -EINVAL (bad arguments), -EPROTO (corrupt ring: the client must be closed), or -ENOTCONN
 * only when called from a callback while the router is away (the outer dispatch reconnects).
 */
MQTTMUX_PUBLIC int mqttmux_dispatch(struct mqttmux *c, int timeout_ms);

/*
 * mqttmux_on_gap - set the loss callback
 * @c:  a client
 * @fn: called for every GAP record; NULL: losses are only counted (mqttmux_lost)
 * @ud: passed to <fn>
 *
 * Returns 0 or -EINVAL.
 */
MQTTMUX_PUBLIC int mqttmux_on_gap(struct mqttmux *c, mqttmux_gap_fn *fn, void *ud);

/*
 * mqttmux_lost - messages the router reported lost for this client
 * @c: a client
 *
 * Returns the sum of every GAP so far (0 if <c> is NULL).
 */
MQTTMUX_PUBLIC uint64_t mqttmux_lost(const struct mqttmux *c);

/*
 * mqttmux_on_event - add an event handler
 * @c:       a client
 * @mask:    the types wanted, MQTTMUX_EV_MASK(type) | ...; MQTTMUX_EV_ALL for every type
 * @session: only events about this session (by name); NULL: every event of those types,
 *           including those about no session (router_*, client_gap across sessions)
 * @fn:      called from mqttmux_dispatch (or the calls that dispatch) for each matching
 *           event, in order, with no lock held; it may call the library (not mqttmux_close)
 * @ud:      passed to <fn>
 *
 * Session state events come from the router (the client always asks for them); client_gap,
 * publish_failed, router_* and the session_added / session_removed of a changed sessions
 * list (compared after every reconnect) are made by the library. Handlers stay until
 * mqttmux_event_stop or mqttmux_close.
 *
 * Returns a handler id (> 0), or -EINVAL (NULL <c> or <fn>, empty mask, bad session name),
 * -ENOMEM.
 */
MQTTMUX_PUBLIC int mqttmux_on_event(struct mqttmux *c, uint32_t mask, const char *session,
				    mqttmux_event_fn *fn, void *ud);

/*
 * mqttmux_event_stop - remove an event handler
 * @c:  a client
 * @id: what mqttmux_on_event returned; may be the handler that is running
 *
 * Returns 0, or -ENOENT (no such handler), -EINVAL.
 */
MQTTMUX_PUBLIC int mqttmux_event_stop(struct mqttmux *c, int id);

/*
 * mqttmux_event_name - the name of an event type
 * @type: enum mqttmux_event_type
 *
 * Returns "session_connecting", ..., "router_reconnected", or "unknown".
 */
MQTTMUX_PUBLIC const char *mqttmux_event_name(int type);

/*
 * mqttmux_set_route_qos - the maximum QoS asked for routes added from now on
 * @c:   a client
 * @qos: 0, 1 or 2 (default 1)
 *
 * The router subscribes each session to a filter with the highest QoS among its routes.
 *
 * Returns 0 or -EINVAL.
 */
MQTTMUX_PUBLIC int mqttmux_set_route_qos(struct mqttmux *c, int qos);

/*
 * mqttmux_handle - receive messages matching <filter> on every session by callback
 * @c:      a client
 * @filter: MQTT topic filter, '+' and '#' allowed, 1..65000 bytes
 * @fn:     called for each message the route matches; a message that matches several
 *          routes of this client reaches each of them (one ring record, one copy)
 * @ud:     passed to <fn>
 *
 * The route counts for sessions added later too. When this client's ring is full the
 * router drops the message for it and reports a GAP (on_full drop).
 *
 * The route is registered again, with the same filter and QoS, after every router restart. A
 * route bound to a session that is removed receives nothing (session_removed says why) until
 * a session of that name is added again: the library then registers it again by itself.
 *
 * The route is acknowledged once the SUBSCRIBE it needs is queued for each session's worker
 * (a command ring that stays full for 5 s: EAGAIN), so a message published through one of
 * those sessions after this returns reaches it.
 *
 * Returns the route (owned by the client: mqttmux_route_stop or mqttmux_close frees it) or
 * NULL with errno set: EINVAL (bad argument or filter refused by the router), ENOSPC (too many
 * routes: clients.max_routes), ENAMETOOLONG (the filter is longer than clients.max_filter_length),
 * ENOTCONN (the router is away: dispatch and retry), ETIMEDOUT, ENOMEM, EAGAIN (a
 * session's command ring stayed full: retry), EMSGSIZE (the filter is longer than a session's
 * command ring takes: only with a small performance.max_message_size).
 */
MQTTMUX_PUBLIC struct mqttmux_route *mqttmux_handle(struct mqttmux *c, const char *filter,
						    mqttmux_msg_fn *fn, void *ud);

/*
 * mqttmux_handle_to - as mqttmux_handle, for one session only
 * @session: the session's name, 1..255 bytes
 *
 * Returns the route or NULL with errno set, as mqttmux_handle, plus ENOENT (no such session).
 */
MQTTMUX_PUBLIC struct mqttmux_route *mqttmux_handle_to(struct mqttmux *c, const char *session,
						       const char *filter, mqttmux_msg_fn *fn,
						       void *ud);

/*
 * mqttmux_listen - receive messages matching <filter> on every session into a queue
 * @c:      a client
 * @filter: as for mqttmux_handle
 * @depth:  queue length in messages, 1..1048576
 *
 * Each matching message is copied (ring views cannot outlive the dispatch that saw them)
 * into the route's queue; take them with mqttmux_next. When the queue is full the new
 * message is dropped and counted (mqttmux_route_dropped).
 *
 * Returns the route or NULL with errno set, as mqttmux_handle.
 */
MQTTMUX_PUBLIC struct mqttmux_route *mqttmux_listen(struct mqttmux *c, const char *filter,
						    size_t depth);

/*
 * mqttmux_listen_to - as mqttmux_listen, for one session only
 *
 * Returns the route or NULL with errno set, as mqttmux_handle_to.
 */
MQTTMUX_PUBLIC struct mqttmux_route *mqttmux_listen_to(struct mqttmux *c, const char *session,
						       const char *filter, size_t depth);

/*
 * mqttmux_next - take the next message of a listen route
 * @r:          a route made by mqttmux_listen or mqttmux_listen_to
 * @msg:        where to store the message; it stays valid until the next mqttmux_next on
 *              <r>, mqttmux_route_stop(r) or mqttmux_close
 * @timeout_ms: how long to wait for one: 0 not at all, -1 without limit
 *
 * Dispatches the client while it waits, so other routes' callbacks may run.
 *
 * Returns 1 with *msg set, 0 on timeout, -EINVAL (NULL argument or a callback route),
 * -ENOTCONN or -EPROTO (as mqttmux_dispatch).
 */
MQTTMUX_PUBLIC int mqttmux_next(struct mqttmux_route *r, const struct mqttmux_msg **msg,
				int timeout_ms);

/*
 * mqttmux_route_dropped - messages a listen route dropped because its queue was full
 * @r: a route
 *
 * Returns the count (0 for a callback route or NULL).
 */
MQTTMUX_PUBLIC uint64_t mqttmux_route_dropped(const struct mqttmux_route *r);

/*
 * mqttmux_route_stop - remove a route and free it
 * @r: a route; may be the route whose callback is running
 *
 * Waits (at most 5 s) for the router's acknowledgement. No message is delivered to <r>
 * afterwards; queued messages are freed. <r> is freed even when an error is returned. While
 * the router is away it only forgets the route (not registered again on reconnect): 0.
 *
 * Returns 0, -EINVAL (NULL), -ENOTCONN or -ETIMEDOUT.
 */
MQTTMUX_PUBLIC int mqttmux_route_stop(struct mqttmux_route *r);

/*
 * mqttmux_publish_to - publish through one session and wait for the broker's answer
 * @c:          a client
 * @session:    the session's name, 1..255 bytes
 * @topic:      MQTT topic, no wildcards, 1..65000 bytes
 * @payload:    the payload, or NULL when <len> is 0
 * @len:        payload bytes (topic, payload and properties: at most the session's
 *              performance.max_message_size)
 * @qos:        0, 1 or 2
 * @retain:     the MQTT retain flag
 * @timeout_ms: at most this long in all (waiting for ring space and for the completion);
 *              -1: without limit
 *
 * Completes when the worker has sent the message (QoS 0) or the broker acknowledged it
 * (PUBACK or PUBCOMP). Dispatches the client while it waits, so callbacks may run. While the
 * router is away it waits, within <timeout_ms>, for the client to reconnect.
 *
 * Returns 0, -EINVAL (bad argument), -EMSGSIZE (over the session's max_message_size, which
 * counts topic, payload and properties; the publish_failed event's text names the limit),
 * -ENOENT (no such session), -ETIMEDOUT (the message may still be sent), -ENOTCONN (no router
 * before the deadline: not sent), -ECONNRESET (the router went away after it was handed over:
 * it may or may not have been sent), or the -errno the worker reported (e.g. -ENOTCONN: the
 * session is not connected to its broker). Every failure is also a publish_failed event.
 */
MQTTMUX_PUBLIC int mqttmux_publish_to(struct mqttmux *c, const char *session, const char *topic,
				      const void *payload, size_t len, int qos, bool retain,
				      int timeout_ms);

/*
 * mqttmux_publish_all - publish through every session and wait
 * @c: a client; the other arguments as for mqttmux_publish_to
 *
 * The router checks that every session's command ring has room first, so the parts go out
 * together; it completes when every session has: 0 if all succeeded, else the first failure.
 * Returns as mqttmux_publish_to, or -EOPNOTSUPP when the router does not offer publishing
 * to all sessions.
 */
MQTTMUX_PUBLIC int mqttmux_publish_all(struct mqttmux *c, const char *topic, const void *payload,
				       size_t len, int qos, bool retain, int timeout_ms);

/*
 * mqttmux_publish_async - publish through one session without waiting
 * @c:       a client
 * @session: the session's name, or NULL for every session (see mqttmux_publish_all)
 * @fn:      NULL, or called once from a later dispatch with the result
 * @ud:      passed to <fn>
 * The other arguments are as for mqttmux_publish_to.
 *
 * Returns 0 (queued: <fn> will be called unless the client is closed first; with -ECONNRESET
 * if the router goes away before it completes), -EAGAIN (the pub-ring is full: dispatch and
 * retry), -ENOTCONN at once while the router is away (dispatch and retry: nothing waits
 * here), or the errors of mqttmux_publish_to that are known before sending (-EINVAL,
 * -EMSGSIZE, -EOPNOTSUPP, -ENOMEM).
 */
MQTTMUX_PUBLIC int mqttmux_publish_async(struct mqttmux *c, const char *session, const char *topic,
					 const void *payload, size_t len, int qos, bool retain,
					 mqttmux_pub_fn *fn, void *ud);

/*
 * mqttmux_publish_v5 - publish with MQTT 5 properties and wait for the broker's answer
 * @session:   the session's name, or NULL for every session (as mqttmux_publish_all)
 * @props:     property bytes (see mqttmux_prop_pack), or NULL when @props_len is 0
 * @props_len: their length
 * The other arguments are as for mqttmux_publish_to.
 *
 * The session's MQTT connection is shared by every client, so properties that could get it
 * refused or closed by the broker are refused here, before anything is sent: only payload
 * format (0, or 1 with a well-formed UTF-8 payload), message expiry, content type, response
 * topic (a topic name: no wildcards), correlation data and user properties are accepted; none
 * twice but user properties; strings must be MQTT UTF-8 (no U+0000, no control characters,
 * no surrogates or non-characters). A topic alias or a subscription identifier is refused.
 *
 * Returns as mqttmux_publish_to, plus -EINVAL for refused properties and -EPROTONOSUPPORT
 * when the session speaks MQTT 3.1.1, which has no properties (with @props_len > 0).
 */
MQTTMUX_PUBLIC int mqttmux_publish_v5(struct mqttmux *c, const char *session, const char *topic,
				      const void *payload, size_t len, int qos, bool retain,
				      const void *props, size_t props_len, int timeout_ms);

/*
 * mqttmux_publish_v5_async - as mqttmux_publish_async, with MQTT 5 properties
 *
 * The properties are checked as by mqttmux_publish_v5. Returns as mqttmux_publish_async.
 */
MQTTMUX_PUBLIC int mqttmux_publish_v5_async(struct mqttmux *c, const char *session,
					    const char *topic, const void *payload, size_t len,
					    int qos, bool retain, const void *props,
					    size_t props_len, mqttmux_pub_fn *fn, void *ud);

/*
 * ---------------------------------------------------------------------------------------------
 * Sessions and metrics: mqttmuxd's control socket (<runtime_dir>/control.sock)
 *
 * These talk to the supervisor, not to the router: each call connects to the control socket,
 * sends one command, reads the reply and closes (docs/operations.md, "Control socket"). They
 * need no client handle and keep no state; any thread may call them. <runtime_dir> is as for
 * mqttmux_open (NULL: $MQTTMUX_RUNTIME_DIR, else MQTTMUX_DEFAULT_DIR). Every call but the
 * waits gives up after 10 s.
 *
 * Errors common to all of them: -ENOENT or -ECONNREFUSED (no daemon on <runtime_dir>; note
 * -ENOENT also means "no such session" where a name is given), -EACCES (the daemon refused
 * this uid), -ETIMEDOUT, -ECONNRESET, -EPROTO (an unreadable reply), -ENOMEM, -ESHUTDOWN (the
 * daemon is stopping), -ENAMETOOLONG.
 * ---------------------------------------------------------------------------------------------
 */

/* Session states of mqttmux_session_status (the seed's codes, plus failed). */
#define MQTTMUX_STATE_DISCONNECTED 0
#define MQTTMUX_STATE_CONNECTING   1
#define MQTTMUX_STATE_CONNECTED	   2 /* connected; also when subscribed ("ready") */
#define MQTTMUX_STATE_RECONNECTING 3
#define MQTTMUX_STATE_CLOSED	   4 /* stopped, or being stopped */
#define MQTTMUX_STATE_FAILED	   5 /* crash loop, or a config the worker refused */

/* One session as `mqttmux status` shows it. Strings are owned by the array. */
struct mqttmux_session_status {
	char *name;
	char *state;	   /* "connecting", "connected", ... (the name of state_code) */
	int state_code;	   /* MQTTMUX_STATE_* */
	char *broker;	   /* the first broker URL of the session, or NULL */
	int64_t pid;	   /* worker process, 0 when none */
	uint64_t restarts; /* worker processes started after the first */
	uint64_t messages_received, messages_sent, bytes_received, bytes_sent, reconnects;
	char *last_error; /* the last error, or NULL */
};

/* Counters and gauges of one session, from the metrics (docs/metrics.md for each). */
struct mqttmux_session_metrics {
	char *name;
	uint64_t messages_sent, messages_received, bytes_sent, bytes_received;
	uint64_t errors, reconnects, restarts, oversize_dropped;
	uint64_t publish_ok, publish_failed;			 /* publish completions by result */
	uint64_t subscriptions;					 /* topic filters subscribed now */
	uint64_t in_ring_size, in_ring_fill, in_ring_high_water; /* bytes */
	int status; /* mqtt_session_status: MQTTMUX_STATE_*, as state_code in status */
	bool connected, failed, persistent, clean_session, auto_reconnect;
	double last_message_time, last_error_time;	   /* Unix seconds, 0 = never */
	double message_rate, avg_message_rate, bytes_rate; /* per second, sent + received */
};

/* A metrics snapshot: the manager sums and every session, sorted by session name (the order
 * of the Prometheus text, which sorts series by label). */
struct mqttmux_metrics {
	uint64_t active_sessions;
	uint64_t total_messages, total_bytes, error_count, reconnect_count; /* never go down */
	double uptime_seconds;
	/* the router: messages read from the in-rings, copies written to client rings, messages
	 * no route matched, copies dropped on full client rings, router restarts */
	uint64_t router_messages, router_fanout, router_unrouted, router_dropped, router_restarts;
	size_t n_sessions;
	struct mqttmux_session_metrics *sessions;
};

/*
 * mqttmux_session_add - start a session at run time (like `mqttmux session add -c FILE`)
 * @runtime_dir: the daemon's runtime directory, or NULL
 * @path:        a file holding one session block (the syntax of an element of `sessions`),
 *               made absolute here: the daemon reads it. No blanks in the path.
 *
 * The daemon validates the block, starts its worker, and keeps it in state_dir across
 * restarts. Returns 0 (added; see mqttmux_wait_session), -EINVAL (bad path, or a block the
 * daemon refused: the daemon's log and `mqttmux session add` name every problem), -EEXIST
 * (the config file has a session of that name), -ENOENT (no such file), or a common error.
 */
MQTTMUX_PUBLIC int mqttmux_session_add(const char *runtime_dir, const char *path);

/*
 * mqttmux_session_remove - stop a session and forget it (kept forgotten in state_dir)
 * Returns 0, -EINVAL (bad name), -ENOENT (no such session) or a common error.
 */
MQTTMUX_PUBLIC int mqttmux_session_remove(const char *runtime_dir, const char *name);

/*
 * mqttmux_session_restart - stop the session's worker gracefully and start a new one; its
 * rings and counters are kept. Returns as mqttmux_session_remove.
 */
MQTTMUX_PUBLIC int mqttmux_session_restart(const char *runtime_dir, const char *name);

/*
 * mqttmux_session_list - the names of the running sessions, in config order
 * @names: where to store a malloc'd array of malloc'd names (NULL when there are none)
 * @n:     where to store their number
 *
 * Free with mqttmux_session_list_free. Returns 0 or a common error.
 */
MQTTMUX_PUBLIC int mqttmux_session_list(const char *runtime_dir, char ***names, size_t *n);
MQTTMUX_PUBLIC void mqttmux_session_list_free(char **names, size_t n);

/*
 * mqttmux_session_status - the status of every session, in config order
 * @arr: where to store the array (NULL when there are no sessions)
 * @n:   where to store its length
 *
 * Free with mqttmux_session_status_free. Returns 0 or a common error.
 */
MQTTMUX_PUBLIC int mqttmux_session_status(const char *runtime_dir,
					  struct mqttmux_session_status **arr, size_t *n);
MQTTMUX_PUBLIC void mqttmux_session_status_free(struct mqttmux_session_status *arr, size_t n);

/*
 * mqttmux_wait_session - wait until a session is ready (connected and subscribed)
 * @timeout_ms: at most this long; 0 answers at once; -1: 24 hours
 *
 * Returns 0 (ready), -ETIMEDOUT, -ENOENT (no such session, or removed while waiting),
 * -ENOTRECOVERABLE (its worker refused the config: not restarted), -EINVAL or a common error.
 */
MQTTMUX_PUBLIC int mqttmux_wait_session(const char *runtime_dir, const char *name, int timeout_ms);

/* mqttmux_wait_all_sessions - as mqttmux_wait_session, for every session at once. */
MQTTMUX_PUBLIC int mqttmux_wait_all_sessions(const char *runtime_dir, int timeout_ms);

/*
 * mqttmux_metrics - a typed snapshot of the daemon's metrics
 * @ret: where to store it; free with mqttmux_metrics_free
 *
 * Parsed from the Prometheus text of mqttmux_metrics_prometheus. Returns 0, -EPROTO (text
 * that does not parse) or a common error.
 */
MQTTMUX_PUBLIC int mqttmux_metrics(const char *runtime_dir, struct mqttmux_metrics **ret);
MQTTMUX_PUBLIC void mqttmux_metrics_free(struct mqttmux_metrics *m);

/*
 * mqttmux_metrics_prometheus - the daemon's metrics as Prometheus text (exposition 0.0.4)
 * @text: where to store the text, malloc'd and NUL-terminated; free() it
 *
 * The same text as `mqttmux metrics`, SIGUSR1's textfile and the HTTP listener. Returns 0 or
 * a common error.
 */
MQTTMUX_PUBLIC int mqttmux_metrics_prometheus(const char *runtime_dir, char **text);

#ifdef __cplusplus
}
#endif

#endif /* MQTTMUX_H */
