/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux across router restarts (docs/client.md, "Router restarts"; docs/protocol.md,
 * "Router restarts"). mqttmuxd restarts the router when it dies (never for a session added or
 * removed: client_sessions.c); the application should notice nothing but events. When the socket
 * reaches EOF, dispatch comes here:
 *
 *   lost        drain the old delivery ring to its end (the dead router wrote its last
 *               records there), fail every publish still in flight with -ECONNRESET, close
 *               the connection, arm the reconnect timer (10 ms);
 *   waiting     mqttmux_fd stays the same epoll descriptor; the timerfd in it wakes the
 *               application when an attempt is due;
 *   rejoining   connect, HELLO with the same token, new rings, ROUTE_ADD every live route
 *               with its old id, filter, QoS and on_full, SESSIONS_LIST, REJOINED; on any
 *               failure close and double the delay (at most 500 ms), forever.
 *
 * No thread: mqttmux_dispatch, mqttmux_next and the publishes drive it. The states and the
 * table that moves between them: client_fsm.h.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "client_int.h"
#include "mm_time.h"

/* The reconnect timer, in the epoll of mqttmux_fd for the life of the client. */
int mm_cl_timer_open(struct mqttmux *c)
{
	struct epoll_event ev = { .events = EPOLLIN };

	c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c->tfd < 0)
		return -errno;
	ev.data.fd = c->tfd;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->tfd, &ev) == -1)
		return -errno;
	return 0;
}

void mm_cl_timer_ack(struct mqttmux *c)
{
	uint64_t n;

	if (read(c->tfd, &n, sizeof(n)) < 0)
		return; /* EAGAIN: not expired yet, or read already */
}

/* The next attempt in <ms> (>= 1): mqttmux_fd becomes readable then. */
static void timer_set(struct mqttmux *c, int ms)
{
	struct itimerspec its = { .it_value = { ms / 1000, (long)(ms % 1000) * 1000000L } };

	c->retry_at = mm_time_mono_ms() + ms;
	(void)timerfd_settime(c->tfd, 0, &its, NULL);
}

/* Complete every publish that has no PUB_DONE with <code>: never silently dropped. */
void mm_cl_fail_pubs(struct mqttmux *c, int code)
{
	struct mm_cl_pub *p;

	while ((p = c->pubs)) {
		c->pubs = p->next;
		mm_cl_pub_complete(c, p, code);
	}
}

/*
 * The router is gone: consume every record it committed to the old ring, then close the
 * connection and fail what it will never complete. Inside a callback (depth > 1) the ring may
 * not be unmapped: the outermost dispatch does it, and the nested call reports -ENOTCONN.
 * Returns the records handled, or -errno.
 */
static int finish_lost(struct mqttmux *c)
{
	int n, total = 0;

	while (c->dlv.hdr && (n = mm_cl_drain(c)) > 0)
		total += n;
	if (c->fatal)
		return c->fatal;
	if (c->depth > 1)
		return total ? total : -ENOTCONN;
	if (mm_cl_fsm_feed(&c->conn, MM_CL_EV_DRAINED) != MM_CL_ACT_TEARDOWN)
		return total;
	mm_cl_disconnect(c);
	mm_cl_fail_pubs(c, -ECONNRESET);
	c->attempt = 0;
	c->backoff = MM_CL_BACKOFF_MIN;
	timer_set(c, c->backoff);
	mm_cl_router_event(c, MQTTMUX_EV_ROUTER_DISCONNECTED, -ECONNRESET);
	return total;
}

/*
 * Register <r> again. A refusal (its session was removed, ...) leaves it unregistered and
 * silent until a later reconnect registers it. Returns 0, or -ENOTCONN / -ETIMEDOUT when the
 * connection itself failed.
 */
static int reregister(struct mqttmux *c, struct mqttmux_route *r)
{
	int rc = mm_cl_route_register(c, r, true);

	r->registered = rc == 0;
	r->rereg = false;
	r->rereg_seq = 0;
	return rc == -ENOTCONN || rc == -ETIMEDOUT ? rc : 0;
}

/* One reconnect attempt; on failure the next one is scheduled. Returns 0 either way. */
static int rejoin(struct mqttmux *c)
{
	int rc = mm_cl_connect(c);

	for (struct mqttmux_route *r = c->routes; rc == 0 && r; r = r->next)
		rc = reregister(c, r);
	/*
	 * SESSIONS_LIST before REJOINED: the router answers it before REJOINED ends its wait, so
	 * the list (session_added / session_removed) is read before any event of the new router.
	 */
	if (rc == 0)
		rc = mm_cl_ask_sessions(c);
	if (rc == 0)
		rc = mm_cl_send_rejoined(c);
	c->attempt++;
	if (rc < 0) {
		if (mm_cl_fsm_feed(&c->conn, MM_CL_EV_ATTEMPT_FAILED) != MM_CL_ACT_BACKOFF)
			return 0;
		mm_cl_disconnect(c);
		c->backoff =
			c->backoff >= MM_CL_BACKOFF_MAX / 2 ? MM_CL_BACKOFF_MAX : 2 * c->backoff;
		timer_set(c, c->backoff);
		return 0;
	}
	if (mm_cl_fsm_feed(&c->conn, MM_CL_EV_JOINED) != MM_CL_ACT_RECONNECTED)
		return 0;
	mm_cl_router_event(c, MQTTMUX_EV_ROUTER_RECONNECTED, 0);
	c->attempt = 0;
	c->backoff = MM_CL_BACKOFF_MIN;
	return 0;
}

/*
 * Dispatch's step while offline: finish a lost connection, or try to reconnect when the timer
 * is due. Returns the records handled (from the old ring), 0 (the state tells whether it is
 * back), or -errno.
 */
int mm_cl_offline(struct mqttmux *c)
{
	if (c->conn == MM_CL_LOST)
		return finish_lost(c);
	if (mm_time_mono_ms() < c->retry_at)
		return 0;
	mm_cl_timer_ack(c);
	if (mm_cl_fsm_feed(&c->conn, MM_CL_EV_DUE) != MM_CL_ACT_ATTEMPT)
		return 0;
	return rejoin(c);
}

/*
 * Wait until the client is registered with a router, dispatching in short slices, at most
 * until <deadline> (-1: none). Returns 0, -ENOTCONN at the deadline, or a dispatch error.
 */
int mm_cl_wait_up(struct mqttmux *c, int64_t deadline)
{
	int rc, ms;

	while (!mm_cl_conn_is_up(c->conn)) {
		ms = mm_time_left_ms(deadline);
		if (ms == 0)
			return -ENOTCONN;
		rc = mm_cl_dispatch(c, ms < 0 || ms > 10 ? 10 : ms);
		if (rc < 0)
			return rc;
	}
	return 0;
}
