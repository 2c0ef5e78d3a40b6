/* SPDX-License-Identifier: MIT */
/*
 * The worker's connection, from attempt to loss: each attempt (the transport of the URL, TLS or
 * plain as its scheme says, the CONNECT properties, a non-blocking connect bounded by
 * connect_timeout), the watch on libmosquitto's socket, the loss and its report, the backoff
 * and the reconnect timer. What happens when is the state machine of wrk_fsm.c, which
 * mm_wrk_conn_feed() moves and obeys; the callbacks (wrk_mqtt.c) move it on CONNACK and
 * disconnect, the loop (wrk_run.c) on timers and stop requests.
 *
 * Every attempt connects asynchronously (mosquitto_connect_bind_async(), with the CONNECT
 * properties stored in the client object beforehand: wrk_mqtt.c): a broker that drops SYNs, or
 * accepts and never answers, costs this worker nothing but its connect_timeout, and its loop
 * (heartbeats, signals, commands) runs meanwhile. The host name is still resolved with a
 * blocking getaddrinfo() inside libmosquitto: a slow DNS server blocks the worker for its own
 * timeouts (use IP literals or a local resolver where that matters).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "mm_time.h"
#include "wrk.h"

#define RESET_AFTER_NS (30 * MM_NS_PER_SEC) /* connected this long: backoff starts over */
#define LINGER_MS      1000u		    /* after the DISCONNECT: wait this long for the close */

/* Hand libmosquitto our TLS context (once per client object). Returns 0 or -errno. */
static int use_tls(struct mm_wrk *w, const struct mm_cfg_broker *b)
{
	int rc;

	mm_wrk_tls_target(&w->tls, &w->cfg->tls, b->host);
	if (w->tls_on)
		return 0;
	rc = mosquitto_int_option(w->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_void_option(w->mosq, MOSQ_OPT_SSL_CTX, w->tls.ctx);
	if (rc != MOSQ_ERR_SUCCESS)
		return mm_wrk_mosq_errno(rc, -EINVAL);
	w->tls_on = true;
	return 0;
}

/*
 * Take TLS away for a plain URL. libmosquitto >= 2.0.12 accepts a NULL context (and leaves
 * its reference to the old one to us); 2.0.11 refuses it, so the object is reset.
 */
static int use_plain(struct mm_wrk *w)
{
	if (!w->tls_on)
		return 0;
	if (mosquitto_void_option(w->mosq, MOSQ_OPT_SSL_CTX, NULL) == MOSQ_ERR_SUCCESS) {
		SSL_CTX_free(w->tls.ctx); /* the reference libmosquitto took when it was set */
		w->tls_on = false;
		return 0;
	}
	return mm_wrk_mqtt_reset(w);
}

/* xorshift64: the reconnect jitter. */
static uint64_t next_rand(struct mm_wrk *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static uint64_t backoff_ms(struct mm_wrk *w)
{
	const struct mm_cfg_reconnect *r = &w->cfg->reconnect;
	double d = r->initial * pow(r->factor, w->attempt > 1 ? w->attempt - 1 : 0);
	double u = (double)(next_rand(w) % 2000001) / 1000000.0 - 1.0; /* -1 .. 1 */

	if (d > r->max)
		d = r->max;
	d *= 1.0 + r->jitter * u;
	return (uint64_t)(d * 1000.0);
}

/* The connection (or attempt) is gone: report it, fail what it will never complete. */
static void report_loss(struct mm_wrk *w, int code, const char *reason)
{
	if (w->connected_ns && mm_time_mono_ns() - w->connected_ns >= RESET_AFTER_NS)
		w->attempt = 1;
	w->connected_ns = 0;
	(void)mm_wrk_loop_timer_cancel(w->loop, MM_WRK_TOK(MM_WRK_TOK_CONNECT, w->idx, 0));
	mm_wrk_set_state(w, MM_SESS_DISCONNECTED);
	mm_wrk_emit_event(w, MM_EV_DISCONNECTED, code, reason);
	mm_wrk_pending_fail_all(w, -ECONNRESET, false);
	mm_wrk_unacked_lost(w);
	mm_wrk_ackgate_reset(w);
}

/* Arm the reconnect timer for the next broker in the list. */
static void schedule_reconnect(struct mm_wrk *w)
{
	uint64_t ms;

	w->broker = (w->broker + 1) % w->cfg->n_brokers;
	ms = backoff_ms(w);
	mm_wrk_set_state(w, MM_SESS_RECONNECTING);
	mm_wrk_emit_reconnecting(w, w->attempt, (uint32_t)ms);
	(void)mm_wrk_loop_timer(w->loop, MM_WRK_TOK(MM_WRK_TOK_RECONNECT, w->idx, 0),
				ms * MM_NS_PER_MS);
}

static void attempt_failed(struct mm_wrk *w, int code, const char *why)
{
	mm_wrk_count_failure(w, code);
	(void)mm_wrk_conn_feed(
		w, w->cfg->auto_reconnect ? MM_WRK_CONN_EV_LOST : MM_WRK_CONN_EV_LOST_FINAL, code,
		why);
}

/* Start one connection attempt to the current broker; on failure schedule the next one. */
static void attempt(struct mm_wrk *w)
{
	const struct mm_cfg_broker *b = &w->cfg->brokers[w->broker];
	const char *host = b->path[0] ? b->path : b->host;
	int rc, code;

	w->sub_waiting = 0;
	mm_wrk_ackgate_reset(w); /* nothing queued survives into a new connection */
	atomic_store_explicit(&w->stats->broker, (uint32_t)w->broker, memory_order_relaxed);
	mm_wrk_set_state(w, MM_SESS_CONNECTING);
	mm_wrk_emit_event(w, MM_EV_CONNECTING, (int32_t)w->attempt, host);
	if (w->attempt > 0)
		atomic_fetch_add_explicit(&w->stats->reconnects, 1, memory_order_relaxed);
	w->attempt++;
	code = b->tls ? use_tls(w, b) : use_plain(w);
	if (code < 0) {
		attempt_failed(w, code, b->tls ? "cannot set up TLS" : "cannot set up the client");
		return;
	}
	rc = mosquitto_connect_bind_async(w->mosq, host, b->path[0] ? 0 : b->port,
					  w->cfg->keepalive, NULL);
	code = mm_wrk_mosq_errno(rc, -EIO); /* before anything else can change errno */
	mm_wrk_sock_sync(w);
	if (rc != MOSQ_ERR_SUCCESS) {
		attempt_failed(w, code,
			       rc == MOSQ_ERR_ERRNO ? strerror(-code) : mosquitto_strerror(rc));
		return;
	}
	(void)mm_wrk_loop_timer(w->loop, MM_WRK_TOK(MM_WRK_TOK_CONNECT, w->idx, 0),
				(uint64_t)(w->cfg->connect_timeout * 1e9));
}

static uint32_t sock_events(struct mm_wrk *w)
{
	uint32_t ev = w->paused ? 0 : MM_WRK_EV_IN;

	if (mosquitto_want_write(w->mosq) && !w->ack_shut) /* a shut gate wakes us itself */
		ev |= MM_WRK_EV_OUT;
	return ev;
}

static void unwatch_sock(struct mm_wrk *w)
{
	if (w->sock < 0)
		return;
	(void)mm_wrk_loop_unwatch(w->loop, MM_WRK_TOK(MM_WRK_TOK_SOCK, w->idx, w->sock_gen));
	mm_wrk_ra_detach(&w->ra);
	w->sock = -1;
}

/*
 * The DISCONNECT is out and libmosquitto closed its socket; we hold a copy. Closing a socket
 * with unread input makes the kernel send RST instead of FIN, and a broker that gets RST may
 * throw away the DISCONNECT still in its receive buffer and publish the will. So: send FIN,
 * read and discard until the broker closes (or LINGER_MS), then close.
 */
static void linger_close(struct mm_wrk *w)
{
	uint64_t end = mm_time_mono_ns() + LINGER_MS * 1000000ull;
	char buf[4096];

	if (w->linger_fd < 0)
		return;
	(void)shutdown(w->linger_fd, SHUT_WR);
	for (;;) {
		uint64_t now = mm_time_mono_ns();
		struct pollfd p = { .fd = w->linger_fd, .events = POLLIN };
		ssize_t n;

		if (now >= end || poll(&p, 1, (int)((end - now) / 1000000 + 1)) <= 0)
			break;
		n = read(w->linger_fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
	}
	(void)close(w->linger_fd);
	w->linger_fd = -1;
}

/*
 * The connection (or the attempt) is gone: libmosquitto closed its socket, a read or write
 * failed, the socket could not be watched, or no CONNACK came in time. Its loss is reported
 * once (the state machine ignores a second one) and the reconnect timer armed, unless the
 * session does not reconnect or is stopping.
 */
void mm_wrk_conn_lost(struct mm_wrk *w, int code, const char *reason)
{
	enum mm_wrk_conn before = w->conn;
	bool stopping = mm_wrk_conn_is_stopping(before);

	unwatch_sock(w);
	if (stopping)
		linger_close(w);
	if (!mm_wrk_conn_takes_socket(before))
		return; /* reported already */
	mm_log(stopping ? MM_LOG_INFO : MM_LOG_WARNING, "connection lost: %s", reason);
	/* TLS refusals end here, without on_disconnect; a refused CONNACK was counted then */
	if (!stopping && before != MM_WRK_CONN_REFUSED)
		mm_wrk_count_failure(w, code);
	(void)mm_wrk_conn_feed(
		w, w->cfg->auto_reconnect ? MM_WRK_CONN_EV_LOST : MM_WRK_CONN_EV_LOST_FINAL, code,
		reason);
}

/*
 * Match the socket watch to libmosquitto's current socket and wants. Called after every call
 * into libmosquitto. A socket that went to -1 is a lost connection (pitfall 5: a server
 * DISCONNECT is not an error return).
 */
void mm_wrk_sock_sync(struct mm_wrk *w)
{
	int s = mosquitto_socket(w->mosq);
	uint32_t ev;

	if (w->sock >= 0 && s != w->sock)
		mm_wrk_conn_lost(w, -ECONNRESET, "connection closed");
	if (s < 0 || !mm_wrk_conn_takes_socket(w->conn))
		return;
	ev = sock_events(w);
	if (w->sock < 0) {
		w->sock = s;
		w->sock_gen++;
		/* without memory: reads go straight */
		(void)mm_wrk_ra_attach(&w->ra, s, &w->frame, w->tls_on);
		if (mm_wrk_loop_watch(w->loop, s, ev,
				      MM_WRK_TOK(MM_WRK_TOK_SOCK, w->idx, w->sock_gen)) < 0)
			mm_wrk_conn_lost(w, -EIO, "cannot watch the broker socket");
		w->sock_events = ev;
	} else if (ev != w->sock_events) {
		(void)mm_wrk_loop_modify(w->loop, MM_WRK_TOK(MM_WRK_TOK_SOCK, w->idx, w->sock_gen),
					 ev);
		w->sock_events = ev;
	}
}

/*
 * Move the connection's state machine (wrk_fsm.c) on <ev> and carry out what it says: start an
 * attempt; report the loss (<code>, <reason>) and reconnect, or not; end the loop. A
 * DISCONNECT (a stop while up) is the caller's to send (wrk_run.c). Returns the action.
 */
enum mm_wrk_act mm_wrk_conn_feed(struct mm_wrk *w, enum mm_wrk_conn_ev ev, int code,
				 const char *reason)
{
	enum mm_wrk_conn before = w->conn;
	enum mm_wrk_act act = mm_wrk_fsm_feed(&w->conn, ev);

	if (act != MM_WRK_ACT_NONE)
		mm_log(MM_LOG_DEBUG, "connection: %s + %s -> %s (%s)",
		       mm_wrk_conn_to_string(before), mm_wrk_conn_ev_to_string(ev),
		       mm_wrk_conn_to_string(w->conn), mm_wrk_act_to_string(act));
	switch (act) {
	case MM_WRK_ACT_ATTEMPT:
		attempt(w);
		break;
	case MM_WRK_ACT_RETRY:
		report_loss(w, code, reason);
		schedule_reconnect(w);
		break;
	case MM_WRK_ACT_GIVE_UP:
	case MM_WRK_ACT_REPORT_EXIT:
		report_loss(w, code, reason);
		break;
	default: /* NONE; EXIT: the state says so; DISCONNECT: the caller's */
		break;
	}
	return act;
}

/* No CONNACK within connect_timeout: leave this broker for the next one. */
void mm_wrk_conn_timed_out(struct mm_wrk *w)
{
	char why[96];

	if (w->conn != MM_WRK_CONN_CONNECTING && w->conn != MM_WRK_CONN_REFUSED)
		return;
	snprintf(why, sizeof(why), "no CONNACK within connect_timeout (%g s)",
		 w->cfg->connect_timeout);
	mm_wrk_conn_lost(w, -ETIMEDOUT, why);
}

/*
 * How long a live connection may stay silent: 1.5 x keepalive, what MQTT gives the broker to
 * tell a dead client. libmosquitto alone would take up to 2 x keepalive (a PINGREQ once
 * keepalive passed without traffic, then another keepalive for its PINGRESP); a black-holed
 * path (nothing forwarded, nothing closed) must be left sooner. A broker that is alive answers
 * that PINGREQ at once: the tick comes when keepalive has passed (mm_wrk_conn_quiet_ns), so
 * the PINGREQ leaves on time and its PINGRESP has half a keepalive. 0: no limit (keepalive 0,
 * not connected, or not reading because the in-ring is full: then the silence is ours).
 */
static uint64_t keepalive_ns(const struct mm_wrk *w)
{
	if (!w->cfg->keepalive || w->paused || w->sock < 0 || !mm_wrk_conn_is_up(w->conn))
		return 0;
	return (uint64_t)w->cfg->keepalive * MM_NS_PER_SEC;
}

/*
 * Nanoseconds from <now> to the next moment the broker's silence matters: keepalive after it
 * was last heard (libmosquitto's PINGREQ is due), then 1.5 x keepalive (the connection ends).
 * 0: the limit has passed; UINT64_MAX: no limit.
 */
uint64_t mm_wrk_conn_quiet_ns(const struct mm_wrk *w, uint64_t now)
{
	uint64_t ka = keepalive_ns(w), ping = w->heard_ns + ka, end = w->heard_ns + ka * 3 / 2;

	if (!ka)
		return UINT64_MAX;
	if (ping > now)
		return ping - now;
	return end > now ? end - now : 0;
}

/*
 * Nothing came from the broker for 1.5 x keepalive: the path is dead even if no side closed it.
 * shutdown() sends our FIN (the socket itself is libmosquitto's, closed at the next attempt).
 */
void mm_wrk_conn_check_silence(struct mm_wrk *w, uint64_t now)
{
	char why[96];

	if (mm_wrk_conn_quiet_ns(w, now) != 0)
		return;
	snprintf(why, sizeof(why), "nothing from the broker for %.1f s (1.5 x keepalive)",
		 (double)(now - w->heard_ns) / 1e9);
	(void)shutdown(w->sock, SHUT_RDWR);
	mm_wrk_conn_lost(w, -ETIMEDOUT, why);
}

/*
 * The worker reads again after its in-ring was full. The broker's silence did not count
 * meanwhile (the silence was ours); what waits in the socket gets half a keepalive to show.
 */
void mm_wrk_conn_reading_again(struct mm_wrk *w)
{
	uint64_t now = mm_time_mono_ns(), ka = (uint64_t)w->cfg->keepalive * MM_NS_PER_SEC;

	if (w->heard_ns + ka < now)
		w->heard_ns = now - ka;
}
