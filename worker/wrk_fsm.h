/* SPDX-License-Identifier: MIT */
/*
 * The worker's connection state machine, written as an explicit [state][event] table (the
 * supervisor's sup_fsm.c is the model). Pure logic: the worker (wrk_run.c, wrk_mqtt.c,
 * wrk_conn.c) feeds what happened and carries out the action it gets back (start an attempt,
 * report the loss and arm the reconnect timer, send DISCONNECT, stop the loop). Nothing here
 * calls libmosquitto or logs, so every cell is unit-tested (tests/unit/worker/test_fsm.c).
 *
 *   IDLE --START--> CONNECTING --CONNACK--> UP --STOP--> STOPPING --LOST/STOP_TIMER--> DONE
 *                     |  ^   \--REFUSED--> REFUSED        |
 *                     |  |                   |            +--DISCONNECTED--> CLOSING
 *                     |  +--START-- WAITING <+--LOST------+ (and from CLOSING, CONNECTING)
 *                     +--LOST_FINAL--> IDLE (auto_reconnect = false)
 *
 * A loss is reported once per connection: the LOST event after the first one is ignored. A
 * stop request while no connection is up ends the loop at once (STOPPED while a socket that
 * never came up may still close: its loss is then reported on the way out).
 */
#ifndef MM_WRK_FSM_H
#define MM_WRK_FSM_H

#include <stdbool.h>

enum mm_wrk_conn {
	MM_WRK_CONN_IDLE = 0, /* no connection, no attempt scheduled (start; auto_reconnect off) */
	MM_WRK_CONN_CONNECTING, /* an attempt is under way: socket, TLS, CONNECT, no CONNACK yet */
	MM_WRK_CONN_REFUSED, /* CONNACK refused (failure counted); libmosquitto closes the socket */
	MM_WRK_CONN_UP,	     /* CONNACK accepted on the current socket */
	MM_WRK_CONN_CLOSING, /* libmosquitto reported a disconnect; the socket is not gone yet */
	MM_WRK_CONN_WAITING, /* the loss is reported; the reconnect timer is armed */
	MM_WRK_CONN_STOPPING, /* asked to stop while up: DISCONNECT sent, waiting for the close */
	MM_WRK_CONN_STOPPED,  /* stopped; a socket that never came up may still report its loss */
	MM_WRK_CONN_DONE,     /* stopped and nothing left to report: the loop ends */
	_MM_WRK_CONN_MAX
};

enum mm_wrk_conn_ev {
	MM_WRK_CONN_EV_START =
		0,		/* the reconnect timer (or the first start): try the next broker */
	MM_WRK_CONN_EV_CONNACK, /* the broker accepted CONNECT */
	MM_WRK_CONN_EV_REFUSED, /* the broker refused CONNECT (CONNACK with an error) */
	MM_WRK_CONN_EV_DISCONNECTED, /* libmosquitto's on_disconnect (may come twice per loss) */
	MM_WRK_CONN_EV_LOST,	     /* the connection or attempt is gone; auto_reconnect is on */
	MM_WRK_CONN_EV_LOST_FINAL,   /* the same, with auto_reconnect off */
	MM_WRK_CONN_EV_STOP,	     /* SIGTERM, SIGINT or the supervisor's STOP or EOF */
	MM_WRK_CONN_EV_STOP_TIMER,   /* the DISCONNECT did not finish in time */
	MM_WRK_CONN_EV_FATAL, /* the worker cannot go on (a corrupt cmd-ring): exit 1, be restarted
			       */
	_MM_WRK_CONN_EV_MAX
};

/* What the caller does after an event. */
enum mm_wrk_act {
	MM_WRK_ACT_NONE = 0, /* only the state changed (or nothing: a stale event) */
	MM_WRK_ACT_ATTEMPT,  /* start a connection attempt to the current broker */
	MM_WRK_ACT_RETRY,    /* report the loss, move to the next broker, arm the reconnect timer */
	MM_WRK_ACT_GIVE_UP,  /* report the loss; no reconnect */
	MM_WRK_ACT_DISCONNECT,	/* send DISCONNECT, keep the socket to linger on, arm the stop timer
				 */
	MM_WRK_ACT_EXIT,	/* end the loop */
	MM_WRK_ACT_REPORT_EXIT, /* report the loss, then end the loop */
	_MM_WRK_ACT_MAX
};

/* Move <*st> on <ev>; returns what to do. Unknown states or events change nothing. */
enum mm_wrk_act mm_wrk_fsm_feed(enum mm_wrk_conn *st, enum mm_wrk_conn_ev ev);

bool mm_wrk_conn_is_up(enum mm_wrk_conn st);	    /* CONNACK accepted, not lost or stopping */
bool mm_wrk_conn_is_stopping(enum mm_wrk_conn st);  /* a stop was asked for */
bool mm_wrk_conn_is_done(enum mm_wrk_conn st);	    /* the loop ends after this batch */
bool mm_wrk_conn_takes_socket(enum mm_wrk_conn st); /* a new broker socket is to be watched */

const char *mm_wrk_conn_to_string(enum mm_wrk_conn st);
const char *mm_wrk_conn_ev_to_string(enum mm_wrk_conn_ev ev);
const char *mm_wrk_act_to_string(enum mm_wrk_act a);

#endif /* MM_WRK_FSM_H */
