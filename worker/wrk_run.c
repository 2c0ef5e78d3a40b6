/* SPDX-License-Identifier: MIT */
/*
 * The worker's loop driver: waits on the loop (broker socket, cmd-ring doorbell, in-ring
 * space doorbell, signals, timers) and drives libmosquitto by hand: loop_read until EAGAIN
 * while the in-ring has room for a maximum-size message, commit, then loop_write once the
 * router has taken what the queued acks acknowledge (wrk_ackgate.c). The socket
 * libmosquitto uses is re-read after every call into it (it is replaced at every reconnect,
 * often with the same number), and watched under a new generation each time.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "mm_time.h"
#include "wrk.h"

#define TICK_MIN_NS	 1000000000ull /* the tick while acks age, and its floor */
#define STOP_NS		 3000000000ull /* graceful DISCONNECT must be done by then */
#define READ_BUDGET	 64	       /* packets per wake-up, so signals and commands get a turn */
#define ROOM_SLACK	 4096u	    /* in-ring room for events and completions besides a message */
#define SILENCE_SLACK_NS 2000000ull /* the tick at a silence mark comes just after it */

static uint32_t room_needed(const struct mm_wrk *w)
{
	uint64_t need = (uint64_t)w->max_rec + ROOM_SLACK;

	return need > w->in.max_len ? (uint32_t)w->in.max_len : (uint32_t)need;
}

static void do_write(struct mm_wrk *w)
{
	int rc;

	if (w->sock < 0 || !mosquitto_want_write(w->mosq) || !mm_wrk_ackgate_may_write(w))
		return;
	rc = mosquitto_loop_write(w->mosq, 1);
	if (rc != MOSQ_ERR_SUCCESS)
		mm_wrk_conn_lost(w, mm_wrk_mosq_errno(rc, -ECONNRESET), mosquitto_strerror(rc));
	else if (!mosquitto_want_write(w->mosq))
		mm_wrk_unacked_flush(w);
}

/* The in-ring cannot take a maximum-size message: stop reading until the router frees room. */
static bool pause_reading(struct mm_wrk *w)
{
	int rc = mm_shm_ring_producer_arm(&w->in, room_needed(w));

	if (rc != 0)
		return false; /* room appeared meanwhile (or the ring is corrupt: keep going) */
	if (!w->paused) {
		w->paused = true;
		atomic_fetch_add_explicit(&w->stats->ring_full_waits, 1, memory_order_relaxed);
		mm_wrk_space_watch(w);
	}
	return true;
}

/*
 * Whether packets may be waiting where poll cannot see them: the read budget ran out, or
 * OpenSSL holds bytes the socket no longer shows. SSL_has_pending, not SSL_pending: the
 * latter counts only the decrypted rest of the current record, and misses whole records
 * OpenSSL may already have read from the socket but not yet processed, which no poll would
 * report. (A QoS 0 TLS stream test stalls mid-way about once in 40-100 runs; this closes one
 * possible cause, not proven to be that one: docs/worker.md.)
 */
static bool more_to_read(struct mm_wrk *w, int budget)
{
	SSL *ssl;

	if (w->sock < 0 || w->paused)
		return false;
	if (budget == 0 || mm_wrk_ra_pending(&w->ra))
		return true;
	ssl = mosquitto_ssl_get(w->mosq);
	return ssl && (SSL_pending(ssl) > 0 || SSL_has_pending(ssl));
}

static void do_read(struct mm_wrk *w)
{
	uint64_t before;
	int rc, budget;
	bool heard = false;

	w->read_more = false;
	mm_wrk_ra_rearm(&w->ra);
	for (budget = READ_BUDGET; budget > 0 && w->sock >= 0; budget--) {
		if (mm_shm_ring_has_room(&w->in, room_needed(w)) != 1 && pause_reading(w))
			break;
		before = w->n_on_message;
		errno = 0;
		rc = mosquitto_loop_read(w->mosq, 1);
		mm_wrk_guard_done(w);
		if (rc != MOSQ_ERR_SUCCESS) {
			mm_wrk_commit(w);
			mm_wrk_conn_lost(w, mm_wrk_mosq_errno(rc, -ECONNRESET),
					 mosquitto_strerror(rc));
			return;
		}
		/*
		 * EAGAIN means the socket is drained, unless this call delivered a message: then it
		 * may come from libmosquitto's internal socketpair write for the queued PUBACK
		 * (pitfall 3), and more packets may be waiting.
		 */
		if ((errno == EAGAIN || errno == EWOULDBLOCK) && w->n_on_message == before)
			break;
		heard = true;
		if (mosquitto_socket(w->mosq) != w->sock)
			break;
	}
	if (heard)
		w->heard_ns = mm_time_mono_ns();
	w->read_more = more_to_read(w, budget);
	/* Ack after commit: the messages are in the ring before their PUBACKs are written. */
	mm_wrk_commit(w);
	do_write(w);
}

/*
 * One batch of commands (mm_wrk_handle_commands), then say how to go on: another batch at the
 * end of this turn of the loop (cmd_more: the loop does not sleep), once a request completes
 * (cmd_waiting), once the in-ring has room (its space doorbell), or on the doorbell: armed
 * before sleeping, and arm says 1 when commands slipped in meanwhile.
 */
static void run_commands(struct mm_wrk *w)
{
	enum mm_wrk_cmds why = mm_wrk_handle_commands(w);

	w->cmd_more = why == MM_WRK_CMDS_MORE;
	w->cmd_waiting = why == MM_WRK_CMDS_WAIT;
	if (why == MM_WRK_CMDS_DONE && !mm_wrk_conn_is_done(w->conn) &&
	    mm_shm_ring_consumer_arm(&w->cmd) == 1)
		w->cmd_more = true;
	do_write(w);
}

/*
 * The router released in-ring bytes (the space doorbell): held acks may go (the gate looks
 * again, and arms the doorbell again if they still wait), a paused read may go on.
 */
static void on_space(struct mm_wrk *w)
{
	(void)mm_shm_ring_doorbell_drain(w->in.efd_space);
	mm_shm_ring_producer_disarm(&w->in);
	if (w->ack_shut) {
		w->ack_shut = false;
		if (!w->paused)
			do_write(w); /* a paused read re-arms first, below; the turn's end writes */
	}
	if (!w->paused)
		return;
	if (mm_shm_ring_has_room(&w->in, room_needed(w)) != 1) {
		(void)pause_reading(w);
		return;
	}
	w->paused = false;
	mm_wrk_conn_reading_again(w);
	if (w->sock >= 0)
		do_read(w);
	run_commands(w);
}

static void on_commands(struct mm_wrk *w)
{
	(void)mm_shm_ring_doorbell_drain(w->cmd.efd_data);
	mm_shm_ring_consumer_disarm(&w->cmd);
	run_commands(w);
}

/*
 * SIGTERM, SIGINT, or the supervisor's STOP or EOF: a connection that is up is closed with a
 * DISCONNECT (the will is not published) within STOP_NS; anything else ends at once.
 */
static void start_stop(struct mm_wrk *w)
{
	if (mm_wrk_conn_is_stopping(w->conn))
		return;
	mm_log(MM_LOG_INFO, "stopping");
	if (mm_wrk_conn_feed(w, MM_WRK_CONN_EV_STOP, 0, NULL) != MM_WRK_ACT_DISCONNECT)
		return;
	if (w->sock < 0) { /* up without a socket to send on: nothing to wait for */
		(void)mm_wrk_conn_feed(w, MM_WRK_CONN_EV_STOP_TIMER, 0, NULL);
		return;
	}
	w->linger_fd = fcntl(w->sock, F_DUPFD_CLOEXEC, 3);
	(void)mosquitto_disconnect(w->mosq);
	do_write(w);
	(void)mm_wrk_loop_timer(w->loop, MM_WRK_TOK(MM_WRK_TOK_STOP, w->idx, 0), STOP_NS);
}

/* Stop every session of the process (each gets its DISCONNECT). */
static void stop_all(struct mm_wrk_proc *p)
{
	p->stopping = true;
	for (uint32_t i = 0; i < p->n; i++) {
		mm_log_set_session(p->sess[i]->cfg->name);
		start_stop(p->sess[i]);
	}
}

static void on_signal(struct mm_wrk_proc *p)
{
	struct signalfd_siginfo si;

	while (read(p->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			stop_all(p);
}

static void on_chan(struct mm_wrk_proc *p)
{
	struct mm_chan_msg m;
	int rc;

	while ((rc = mm_chan_recv(p->chan_fd, &m)) != -EAGAIN) {
		if (rc == 1 && m.cmd != MM_CHAN_STOP)
			continue;
		if (rc < 0 && rc != -EBADMSG)
			mm_log_errno(rc, "control channel failed");
		if (rc == -EBADMSG) {
			mm_log(MM_LOG_WARNING, "control channel: malformed record, ignoring");
			continue;
		}
		if (rc == 0)
			mm_log(MM_LOG_INFO, "control channel closed: the supervisor is gone");
		(void)mm_wrk_loop_unwatch(p->loop, MM_WRK_TOK(MM_WRK_TOK_CHAN, 0, 0));
		stop_all(p);
		return;
	}
}

static bool failures_untold(const struct mm_wrk *w)
{
	return atomic_load_explicit(&w->stats->pub_failed, memory_order_relaxed) != w->failed_told;
}

/*
 * The supervisor turns the stats block's pub_failed into publish_failed events when it reads
 * the block: tell it to (EVENT on the channel, with the session's index) when the count
 * moved, at most once per TICK_MIN_NS so that a broker refusing everything costs it one look a
 * second; what moves meanwhile is told at the next tick, which is then TICK_MIN_NS away.
 */
static void tell_failures(struct mm_wrk *w)
{
	uint64_t now;

	if (!failures_untold(w) || w->proc->chan_fd < 0 ||
	    (now = mm_time_mono_ns()) < w->next_tell_ns)
		return;
	w->failed_told = atomic_load_explicit(&w->stats->pub_failed, memory_order_relaxed);
	w->next_tell_ns = now + TICK_MIN_NS;
	(void)mm_chan_send(w->proc->chan_fd, MM_CHAN_EVENT, w->idx, 0);
}

/*
 * Nanoseconds to the next tick that session <w> needs. An idle worker wakes only as often as
 * its heartbeat and its keepalive need: every MM_CHAN_HEARTBEAT_NS, or every keepalive / 4 if
 * that is sooner (the tick calls mosquitto_loop_misc, which sends PINGREQ once keepalive
 * seconds passed without traffic, so a ping leaves at most keepalive / 4 late, well inside the
 * broker's 1.5 x keepalive). While written acks wait for their probe (wrk_unacked.c) the
 * tick is TICK_MIN_NS: an ack stays marked in the stats block until the probe the next tick
 * sends is answered, and that must stay short; so is it while publish failures wait to be
 * told, and while acks wait at the gate (its time limit, wrk_ackgate.c). And a tick comes when the
 * broker's silence reaches keepalive (the PINGREQ is due) and its limit
 * (mm_wrk_conn_check_silence), not up to a tick later.
 */
static uint64_t tick_ns(const struct mm_wrk *w, uint64_t now)
{
	uint64_t ns = MM_CHAN_HEARTBEAT_NS, ka = (uint64_t)w->cfg->keepalive * MM_NS_PER_SEC / 4;
	uint64_t quiet = mm_wrk_conn_quiet_ns(w, now);

	if (mm_wrk_unacked_pending(w) || failures_untold(w) || w->ack_shut)
		ns = TICK_MIN_NS;
	else if (ka && ka < ns)
		ns = ka < TICK_MIN_NS ? TICK_MIN_NS : ka;
	return quiet < ns ? quiet + SILENCE_SLACK_NS : ns;
}

/* One tick for the whole process, at the shortest interval any of its sessions needs. */
static uint64_t proc_tick_ns(const struct mm_wrk_proc *p)
{
	uint64_t ns = MM_CHAN_HEARTBEAT_NS, now = mm_time_mono_ns();

	for (uint32_t i = 0; i < p->n; i++) {
		uint64_t t = tick_ns(p->sess[i], now);

		ns = t < ns ? t : ns;
	}
	return ns;
}

static void arm_tick(struct mm_wrk_proc *p)
{
	uint64_t ns = proc_tick_ns(p);

	p->tick_fast = ns <= TICK_MIN_NS;
	(void)mm_wrk_loop_timer(p->loop, MM_WRK_TOK(MM_WRK_TOK_MISC, 0, 0), ns);
}

/* The heartbeat: the supervisor reads it to tell a hung worker (shm/stats.h). */
static void beat(struct mm_wrk *w, uint64_t now)
{
	atomic_store_explicit(&w->stats->beat_ns, now, memory_order_relaxed);
}

static void tick_one(struct mm_wrk *w, uint64_t now)
{
	beat(w, now);
	tell_failures(w);
	if (w->sock >= 0) {
		(void)mosquitto_loop_misc(w->mosq);
		if (w->ack_shut)
			do_write(w); /* the gate's limit (wrk_ackgate.c) */
		/* A keepalive timeout closes the socket inside loop_misc: see it before any event
		 */
		mm_wrk_sock_sync(w);
	}
	if (w->sock >= 0)
		mm_wrk_conn_check_silence(w, now);
	/* Ask the broker to prove that the acks written since the last probe reached it. */
	if (mm_wrk_conn_is_up(w->conn) && w->sock >= 0 && mosquitto_socket(w->mosq) == w->sock &&
	    mm_wrk_unacked_probe(w))
		mm_wrk_sock_sync(w);
}

static void on_tick(struct mm_wrk_proc *p)
{
	uint64_t now = mm_time_mono_ns();

	for (uint32_t i = 0; i < p->n; i++) {
		mm_log_set_session(p->sess[i]->cfg->name);
		tick_one(p->sess[i], now);
	}
	arm_tick(p);
}

/* The pending error of socket <fd> (SO_ERROR), 0 if none. */
static int sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return errno;
	return err;
}

static void on_sock(struct mm_wrk *w, uint64_t token, uint32_t events)
{
	int err;

	if (token != MM_WRK_TOK(MM_WRK_TOK_SOCK, w->idx, w->sock_gen) || w->sock < 0)
		return; /* a stale event for a socket we already replaced */
	/*
	 * libmosquitto may have closed the socket in an earlier call of this batch: its state
	 * (a TLS handshake flagged pending with no SSL object left) must not be driven again.
	 */
	if (mosquitto_socket(w->mosq) != w->sock) {
		mm_wrk_sock_sync(w);
		return;
	}
	/*
	 * A connect or handshake whose socket failed: libmosquitto 2.0.11 reports SSL_ERROR_SYSCALL
	 * in a handshake as "still pending" (upstream #2594), which would spin on the error.
	 */
	if ((events & MM_WRK_EV_ERR) && !mm_wrk_conn_is_up(w->conn) &&
	    (err = sock_error(w->sock)) != 0) {
		mm_wrk_conn_lost(w, -err, strerror(err));
		return;
	}
	/* While TLS shakes hands, any readiness must go to loop_read (pitfall 6). */
	if (events & (MM_WRK_EV_IN | MM_WRK_EV_ERR) || !mm_wrk_conn_is_up(w->conn))
		do_read(w);
	if (events & MM_WRK_EV_OUT)
		do_write(w);
}

/* <w> has work to finish at the end of this turn (mm_wrk_run). */
static void touch(struct mm_wrk *w)
{
	if (w->active)
		return;
	w->active = true;
	w->proc->active[w->proc->n_active++] = w;
}

/*
 * Start the next connection attempt, when the daemon's connect pacer gives this session a slot
 * (shm/pace.h): at once, or when the reconnect timer brings it back at its slot. The slot is
 * taken once per attempt; a session waiting for it stays in its state (idle or waiting).
 */
static void start_attempt(struct mm_wrk *w)
{
	uint64_t now = mm_time_mono_ns();

	if (w->proc->pace && !w->pace_at)
		w->pace_at = mm_shm_pace_take(w->proc->pace, now);
	if (w->pace_at > now) {
		(void)mm_wrk_loop_timer(w->loop, MM_WRK_TOK(MM_WRK_TOK_RECONNECT, w->idx, 0),
					w->pace_at - now);
		return;
	}
	w->pace_at = 0;
	(void)mm_wrk_conn_feed(w, MM_WRK_CONN_EV_START, 0, NULL);
}

static void dispatch_session(struct mm_wrk *w, const struct mm_wrk_event *ev)
{
	if (mm_wrk_conn_is_done(w->conn))
		return; /* what its last events still held */
	touch(w);
	mm_log_set_session(w->cfg->name);
	switch (MM_WRK_TOK_KIND(ev->token)) {
	case MM_WRK_TOK_SOCK:
		on_sock(w, ev->token, ev->events);
		break;
	case MM_WRK_TOK_CMD:
		on_commands(w);
		break;
	case MM_WRK_TOK_SPACE:
		on_space(w);
		break;
	case MM_WRK_TOK_RECONNECT:
		start_attempt(w);
		break;
	case MM_WRK_TOK_STOP:
		(void)mm_wrk_conn_feed(w, MM_WRK_CONN_EV_STOP_TIMER, 0, NULL);
		break;
	case MM_WRK_TOK_CONNECT:
		mm_wrk_conn_timed_out(w);
		break;
	}
}

static void dispatch(struct mm_wrk_proc *p, const struct mm_wrk_event *ev)
{
	uint32_t i = MM_WRK_TOK_SESS(ev->token);

	switch (MM_WRK_TOK_KIND(ev->token)) {
	case MM_WRK_TOK_SIGNAL:
		on_signal(p);
		break;
	case MM_WRK_TOK_CHAN:
		on_chan(p);
		break;
	case MM_WRK_TOK_MISC:
		on_tick(p);
		break;
	default:
		if (i < p->n)
			dispatch_session(p->sess[i], ev);
	}
}

static int watch_sources(struct mm_wrk_proc *p)
{
	int rc = mm_wrk_loop_watch(p->loop, p->sig_fd, MM_WRK_EV_IN,
				   MM_WRK_TOK(MM_WRK_TOK_SIGNAL, 0, 0));

	for (uint32_t i = 0; rc == 0 && i < p->n; i++)
		rc = mm_wrk_loop_watch(p->loop, p->sess[i]->cmd.efd_data, MM_WRK_EV_IN,
				       MM_WRK_TOK(MM_WRK_TOK_CMD, i, 0));
	if (rc == 0 && p->chan_fd >= 0)
		rc = mm_wrk_loop_watch(p->loop, p->chan_fd, MM_WRK_EV_IN,
				       MM_WRK_TOK(MM_WRK_TOK_CHAN, 0, 0));
	if (rc == 0)
		rc = mm_wrk_loop_timer(p->loop, MM_WRK_TOK(MM_WRK_TOK_MISC, 0, 0), proc_tick_ns(p));
	return rc;
}

/* A session's first steps: its heartbeat, its STARTED record, its first connection attempt. */
static void start_one(struct mm_wrk *w, uint64_t now)
{
	mm_log_set_session(w->cfg->name);
	w->linger_fd = -1;
	beat(w, now);
	w->failed_told = atomic_load_explicit(&w->stats->pub_failed, memory_order_relaxed);
	mm_wrk_emit_started(w, w->cmd.pos);
	start_attempt(w);
}

/* End of a turn, for each session touched: read on, write, commit, tell. */
static bool finish_turn(struct mm_wrk_proc *p)
{
	uint32_t n = p->n_active, keep = 0;
	bool more = false;

	for (uint32_t k = 0; k < n; k++) {
		struct mm_wrk *w = p->active[k];

		mm_log_set_session(w->cfg->name);
		if (w->read_more && !mm_wrk_conn_is_done(w->conn))
			do_read(w);
		if (w->cmd_waiting && mm_wrk_commands_may_go_on(w))
			w->cmd_more = true;
		if (w->cmd_more && !mm_wrk_conn_is_done(w->conn))
			run_commands(w);
		do_write(w);
		mm_wrk_sock_sync(w);
		mm_wrk_commit(w);
		tell_failures(w);
		if (p->after)
			p->after(w);
		/* bytes read ahead outside do_read (OpenSSL's handshake in loop_write) */
		if (mm_wrk_ra_pending(&w->ra) && !w->paused)
			w->read_more = true;
		if ((w->read_more || w->cmd_more) && !mm_wrk_conn_is_done(w->conn)) {
			/* packets poll cannot see, or commands left: next turn too */
			p->active[keep++] = w;
			more = true;
		} else {
			w->active = false;
		}
	}
	p->n_active = keep;
	/* Acks began to age (or failures wait) under a long idle tick: tick every second. */
	if (!p->tick_fast && proc_tick_ns(p) <= TICK_MIN_NS)
		arm_tick(p);
	return more;
}

static bool all_done(const struct mm_wrk_proc *p)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (!mm_wrk_conn_is_done(p->sess[i]->conn))
			return false;
	return true;
}

static int finish(struct mm_wrk_proc *p)
{
	int code = 0;

	for (uint32_t i = 0; i < p->n; i++) {
		struct mm_wrk *w = p->sess[i];

		mm_log_set_session(w->cfg->name);
		if (w->linger_fd >= 0)
			(void)close(w->linger_fd); /* the stop timer ran out first */
		mm_wrk_set_state(w, MM_SESS_STOPPED);
		mm_wrk_commit(w);
		code = w->exit_code > code ? w->exit_code : code;
	}
	mm_wrk_bells(p, true);
	return code;
}

/*
 * Run the process's sessions until SIGTERM/SIGINT (or the channel closes) and every
 * DISCONNECT is out. Returns the process exit code (the largest of the sessions').
 */
int mm_wrk_run(struct mm_wrk_proc *p)
{
	struct mm_wrk_event evs[32];
	uint64_t now = mm_time_mono_ns();
	bool more = false;
	int n, rc = watch_sources(p);

	if (rc < 0)
		return mm_log_errno(rc, "setting up the event loop failed"), 1;
	mm_wrk_hold_init(p);
	for (uint32_t i = 0; i < p->n; i++)
		start_one(p->sess[i], now);
	if (p->chan_fd >= 0)
		(void)mm_chan_send(p->chan_fd, MM_CHAN_READY, mm_wrk_loop_backend(p->loop),
				   (uint64_t)getpid());
	for (uint32_t i = 0; i < p->n; i++) {
		touch(p->sess[i]);
		on_commands(p->sess[i]);
	}
	while (!all_done(p)) {
		/* Packets poll cannot see (budget, TLS buffer) mean: look at events, then read on.
		 */
		uint64_t woke, mark;

		mm_wrk_bells(p, false); /* with the wait's own io_uring_enter */
		n = mm_wrk_loop_wait(p->loop, evs, 32, more ? 0 : -1);
		if (n < 0) {
			mm_wrk_bells(p, true);
			return mm_log_errno(n, "waiting for events failed"), 1;
		}
		woke = p->hold_ns ? mm_time_mono_ns() : 0;
		mark = mm_wrk_hold_mark(p);
		for (int i = 0; i < n; i++)
			dispatch(p, &evs[i]);
		more = finish_turn(p);
		if (!more)
			mm_wrk_hold(p, woke, mark); /* latency_budget_us: gather the next ones */
	}
	return finish(p);
}
