/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux's connection to the router as an explicit [state][event] table (like the
 * supervisor's sup_fsm.c). Pure logic: client.c, client_io.c and client_conn.c feed what
 * happened and carry out the action they get back; nothing here touches a socket, so every
 * cell is unit-tested (tests/unit/client/test_fsm.c). docs/client.md ("Router restarts").
 *
 *   CONNECTING --JOINED--> UP --FAILED--> BROKEN --NOTICED--> LOST --DRAINED--> WAITING
 *   (mqttmux_open)         ^  \------------NOTICED-----------/                    |  ^
 *                          |                                                  DUE |  |
 * ATTEMPT_FAILED
 *                          +-------------------JOINED----------- REJOINING <------+  |
 *                                                                   \--FAILED--> BROKEN
 *
 * UP: registered with a live router. BROKEN: a send or receive failed (or the router said a
 * fatal ERROR); the public calls refuse with -ENOTCONN, dispatch notices on its next turn.
 * LOST: dispatch drains what the dead router committed to the old delivery ring. WAITING:
 * torn down, the reconnect timer in mqttmux_fd's epoll is armed. REJOINING: one attempt
 * (connect, HELLO, every route again, SESSIONS_LIST, REJOINED) is under way.
 */
#ifndef MM_CLIENT_FSM_H
#define MM_CLIENT_FSM_H

#include <stdbool.h>

enum mm_cl_conn {
	MM_CL_CONNECTING = 0, /* mqttmux_open's first connection */
	MM_CL_UP,
	MM_CL_BROKEN,
	MM_CL_LOST,
	MM_CL_WAITING,
	MM_CL_REJOINING,
	_MM_CL_CONN_MAX
};

enum mm_cl_conn_ev {
	MM_CL_EV_JOINED = 0,	 /* connected, handshake done, every route registered again */
	MM_CL_EV_FAILED,	 /* the socket failed, reached EOF, or a fatal ERROR came */
	MM_CL_EV_NOTICED,	 /* dispatch found the connection unusable */
	MM_CL_EV_DRAINED,	 /* the old delivery ring is read to its end */
	MM_CL_EV_DUE,		 /* the reconnect timer expired */
	MM_CL_EV_ATTEMPT_FAILED, /* a reconnect attempt did not get through */
	_MM_CL_CONN_EV_MAX
};

/* What the caller does after an event. */
enum mm_cl_act {
	MM_CL_ACT_NONE = 0,    /* only the state changed */
	MM_CL_ACT_IGNORED,     /* the event means nothing in this state */
	MM_CL_ACT_TEARDOWN,    /* close, fail the publishes in flight, arm the first retry, tell */
	MM_CL_ACT_ATTEMPT,     /* try to reconnect now */
	MM_CL_ACT_BACKOFF,     /* close, double the delay, arm the timer */
	MM_CL_ACT_RECONNECTED, /* tell the application, reset the backoff */
	_MM_CL_ACT_MAX
};

enum mm_cl_act mm_cl_fsm_feed(enum mm_cl_conn *st, enum mm_cl_conn_ev ev);

bool mm_cl_conn_is_up(enum mm_cl_conn st);	/* routes, publishes and frames may go out */
bool mm_cl_conn_can_send(enum mm_cl_conn st);	/* the socket may be written */
bool mm_cl_conn_is_offline(enum mm_cl_conn st); /* dispatch runs the offline steps */

const char *mm_cl_conn_to_string(enum mm_cl_conn st);
const char *mm_cl_conn_ev_to_string(enum mm_cl_conn_ev ev);
const char *mm_cl_act_to_string(enum mm_cl_act a);

#endif /* MM_CLIENT_FSM_H */
