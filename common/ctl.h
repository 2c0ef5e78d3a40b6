/* SPDX-License-Identifier: MIT */
/*
 * THE control-socket protocol of mqttmuxd, shared by the daemon (supervisor/sup_ctl*.c,
 * sup_events.c), the client library's session API (shm/client/client_ctl.c, ctl_io.c) and the
 * mqttmux CLI (shm/client/cli.c): the socket's name, the command words, the limits and
 * timeouts both sides must agree on, and the state codes of `status`. One command per line
 * out, one JSON document per line back (Prometheus text up to MM_CTL_METRICS_END for
 * `metrics`, a stream of lines for `events`). docs/operations.md ("Control socket") is the
 * description; a change to the protocol edits this header and that page. Header-only.
 */
#ifndef MM_CTL_H
#define MM_CTL_H

#define MM_CTL_SOCK_NAME   "control.sock" /* in the runtime_dir; mode 0660, peer uid checked */
#define MM_CTL_DIR_ENV	   "MQTTMUX_RUNTIME_DIR" /* clients: the runtime_dir when not given */
#define MM_CTL_LINE_MAX	   4096 /* a longer command: error reply, then the connection is closed */
#define MM_CTL_NAME_MAX	   255	/* session names a client puts on a command line, bytes */
#define MM_CTL_METRICS_END "# EOF\n"   /* last line of the `metrics` reply */
#define MM_CTL_REPLY_MAX   (64u << 20) /* clients: the longest reply they accept */

/* `wait [NAME] [SECONDS]`: the daemon answers at the latest at the deadline. */
#define MM_CTL_WAIT_DEFAULT  30.0    /* seconds, `wait` without a timeout */
#define MM_CTL_WAIT_MAX	     86400.0 /* seconds, the longest timeout accepted */
#define MM_CTL_CALL_MS	     10000   /* clients: the deadline of every command but wait */
#define MM_CTL_WAIT_SLACK_MS 5000    /* clients: a wait's deadline plus this, for the answer */

/* The command words (the first word of a line). */
#define MM_CTL_CMD_PING	   "ping"
#define MM_CTL_CMD_STATUS  "status"
#define MM_CTL_CMD_METRICS "metrics"
#define MM_CTL_CMD_WAIT	   "wait"
#define MM_CTL_CMD_RESTART "restart"
#define MM_CTL_CMD_RELOAD  "reload"
#define MM_CTL_CMD_ADD	   "add"
#define MM_CTL_CMD_REMOVE  "remove"
#define MM_CTL_CMD_EVENTS  "events"
#define MM_CTL_CMD_HELP	   "help"
#define MM_CTL_CMD_VERSION "version"

/* JSON state codes of `status` and `events` (the seed's codes, plus failed). */
enum mm_ctl_state {
	MM_CTL_DISCONNECTED = 0,
	MM_CTL_CONNECTING = 1,
	MM_CTL_CONNECTED = 2,
	MM_CTL_RECONNECTING = 3,
	MM_CTL_CLOSED = 4,
	MM_CTL_FAILED = 5,
	_MM_CTL_STATE_MAX
};

/* The JSON "state" string of <st>, "unknown" out of range. */
static inline const char *mm_ctl_state_to_string(enum mm_ctl_state st)
{
	static const char *const names[_MM_CTL_STATE_MAX] = {
		[MM_CTL_DISCONNECTED] = "disconnected",
		[MM_CTL_CONNECTING] = "connecting",
		[MM_CTL_CONNECTED] = "connected",
		[MM_CTL_RECONNECTING] = "reconnecting",
		[MM_CTL_CLOSED] = "closed",
		[MM_CTL_FAILED] = "failed",
	};

	return (unsigned)st < _MM_CTL_STATE_MAX ? names[st] : "unknown";
}

#endif /* MM_CTL_H */
