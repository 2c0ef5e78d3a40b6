/* SPDX-License-Identifier: MIT */
/*
 * Everything the worker writes into its in-ring: the messages libmosquitto hands it (with the
 * DUP flag of wrk_unacked.c and the MQTT 5 properties of wrk_props.c), session events (also
 * into the stats block's event log) and the completions of commands. The commands themselves,
 * from the cmd-ring, are wrk_cmd.c.
 *
 * Ack after the router: on_message runs inside mosquitto_loop_read, and with threaded_set(true)
 * the PUBACK it causes is only queued. wrk_run commits the in-ring after loop_read returns, and
 * writes the PUBACK once the router has released the message (wrk_ackgate.c), so a message the
 * broker sees acknowledged is in the clients' delivery rings, which outlive the daemon.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "chan.h"
#include "log.h"
#include "mm_time.h"
#include "wrk.h"
#include "wrk_props.h"

static void *reserve(struct mm_wrk *w, size_t len, uint16_t type)
{
	void *p;
	int rc = mm_shm_ring_reserve(&w->in, (uint32_t)len, type, 0, &p);

	if (rc < 0) {
		/* Only events and completions can get here (reading pauses before messages). */
		atomic_fetch_add_explicit(&w->stats->errors, 1, memory_order_relaxed);
		mm_log(MM_LOG_WARNING, "in-ring: no room for a %u-byte record: %s", (unsigned)len,
		       strerror(-rc));
		return NULL;
	}
	w->uncommitted = true;
	return p;
}

/*
 * Publish what is reserved in the in-ring. The router's doorbell is not rung here but by
 * mm_wrk_bells, before the process sleeps or exits: with io_uring it then rides in the
 * io_uring_enter that sleeps (issue 14: one system call less per message at everyday rates),
 * and several commits of one turn ring it once.
 */
void mm_wrk_commit(struct mm_wrk *w)
{
	if (!w->uncommitted)
		return;
	w->uncommitted = false;
	if (mm_shm_ring_publish(&w->in)) {
		w->bell_check = true;
		w->proc->bells = true;
	}
	if (w->ack_due)
		mm_wrk_ackgate_committed(w);
}

/*
 * Ring the router's doorbell of every session that committed since the last call and found
 * the router asleep: through the loop, sent with its next wait (call this right before it), or
 * at once when <now> (before a sleep outside the loop, or the exit). The window between
 * taking the router's flag and the write is what it was with the write in the commit: a few
 * instructions, and a kill -9 in it leaves the router to its next heartbeat (10 s), as before.
 */
void mm_wrk_bells(struct mm_wrk_proc *p, bool now)
{
	uint64_t one = 1;

	if (!p->bells)
		return;
	p->bells = false;
	for (uint32_t i = 0; i < p->n; i++) {
		struct mm_wrk *w = p->sess[i];

		if (!w->bell_check)
			continue;
		w->bell_check = false;
		if (w->in.efd_data < 0 || !mm_shm_ring_bell_due(&w->in))
			continue;
		if (now)
			(void)!write(w->in.efd_data, &one, sizeof(one)); /* EAGAIN: due to wake */
		else
			(void)mm_wrk_loop_bell(p->loop, w->in.efd_data);
	}
}

/*
 * Copy <e> into the stats block's event log for the supervisor (docs/events.md) and wake it
 * on the channel; a lost wake-up is harmless: it also reads the log on every heartbeat.
 */
static void evlog_push(struct mm_wrk *w, const struct mm_rec_event *e)
{
	struct mm_stats_event ev = { .time_ns = e->time_ns,
				     .kind = e->kind,
				     .code = e->code,
				     .attempt = e->attempt,
				     .delay_ms = e->delay_ms,
				     .broker = (uint32_t)w->broker };
	size_t n = e->text.len < MM_STATS_EV_TEXT_MAX ? e->text.len : MM_STATS_EV_TEXT_MAX;
	uint64_t seq;

	if (n)
		memcpy(ev.text, e->text.p, n);
	ev.text_len = (uint16_t)n;
	seq = mm_shm_stats_event_push(w->stats, &ev);
	if (w->proc->chan_fd >= 0)
		(void)mm_chan_send(w->proc->chan_fd, MM_CHAN_EVENT, w->idx, seq);
}

static void emit(struct mm_wrk *w, const struct mm_rec_event *e)
{
	size_t size = mm_rec_event_size(e);
	void *p = reserve(w, size, MM_REC_EVENT);

	if (p)
		(void)mm_rec_event_pack(p, size, e);
	mm_wrk_commit(w); /* state changes are rare: publish them at once */
	evlog_push(w, e);
}

/* Write an event record; <text> may be NULL, and is cut at 1 KiB. */
void mm_wrk_emit_event(struct mm_wrk *w, enum mm_event_kind kind, int32_t code, const char *text)
{
	size_t n = text ? strnlen(text, 1024) : 0;
	struct mm_rec_event e = { .time_ns = mm_time_real_ns(),
				  .kind = (uint16_t)kind,
				  .code = code,
				  .text = { (const uint8_t *)text, (uint32_t)n } };

	emit(w, &e);
}

void mm_wrk_emit_reconnecting(struct mm_wrk *w, uint32_t attempt, uint32_t delay_ms)
{
	struct mm_rec_event e = { .time_ns = mm_time_real_ns(),
				  .kind = MM_EV_RECONNECTING,
				  .attempt = attempt,
				  .delay_ms = delay_ms };

	emit(w, &e);
}

/*
 * The first record of every worker process: the router learns that the subscriptions of the
 * previous process are gone, and which of its publishes that process had taken from the
 * cmd-ring (those before <cmd_pos>, split over attempt:delay_ms) without completing them.
 */
void mm_wrk_emit_started(struct mm_wrk *w, uint64_t cmd_pos)
{
	struct mm_rec_event e = { .time_ns = mm_time_real_ns(),
				  .kind = MM_EV_STARTED,
				  .attempt = (uint32_t)(cmd_pos >> 32),
				  .delay_ms = (uint32_t)cmd_pos };

	emit(w, &e);
}

void mm_wrk_emit_completion(struct mm_wrk *w, uint16_t cmd, uint64_t req_id, int32_t result,
			    int32_t reason)
{
	struct mm_rec_completion c = {
		.req_id = req_id, .result = result, .reason = reason, .cmd = cmd
	};
	void *p = reserve(w, mm_rec_completion_size(), MM_REC_COMPLETION);

	if (p)
		(void)mm_rec_completion_pack(p, mm_rec_completion_size(), &c);
}

static void drop_oversize(struct mm_wrk *w, const struct mosquitto_message *msg, size_t size)
{
	char text[256];

	atomic_fetch_add_explicit(&w->stats->dropped_oversize, 1, memory_order_relaxed);
	snprintf(text, sizeof(text), "%zu bytes over max_message_size %u on '%.160s'", size,
		 w->cfg->perf.max_message_size, msg->topic);
	mm_log(MM_LOG_WARNING, "message dropped: %s", text);
	mm_wrk_emit_event(w, MM_EV_MSG_DROPPED, -EMSGSIZE, text);
}

/*
 * A topic no broker may send (a wildcard, invalid UTF-8, empty): never delivered, or a client
 * routing "a/+" would see a message "published" to a filter. Counted and reported.
 */
static void drop_invalid(struct mm_wrk *w, const struct mosquitto_message *msg, const char *why)
{
	char text[256];

	atomic_fetch_add_explicit(&w->stats->dropped_invalid, 1, memory_order_relaxed);
	snprintf(text, sizeof(text), "invalid topic '%.160s' from the broker: %s", msg->topic, why);
	mm_log(MM_LOG_WARNING, "message dropped: %s", text);
	mm_wrk_emit_event(w, MM_EV_MSG_DROPPED, -EPROTO, text);
}

/*
 * The wire bytes of <props> in w->props_buf (grown as needed), as a view in *ret. Returns 0 or
 * -errno (-ENOMEM, -EBADMSG: a property libmosquitto handed us but cannot describe).
 */
static int props_bytes(struct mm_wrk *w, const mosquitto_property *props, struct mm_bytes *ret)
{
	ssize_t n = mm_wrk_props_encode(props, NULL, 0);

	if (n < 0)
		return (int)n;
	if (n > UINT32_MAX)
		return -EMSGSIZE;
	if ((size_t)n > w->props_cap) {
		uint8_t *b = realloc(w->props_buf, (size_t)n);

		if (!b)
			return -ENOMEM;
		w->props_buf = b;
		w->props_cap = (size_t)n;
	}
	if (n > 0 && mm_wrk_props_encode(props, w->props_buf, (size_t)n) != n)
		return -EBADMSG;
	*ret = (struct mm_bytes){ n ? w->props_buf : NULL, (uint32_t)n };
	return 0;
}

/* A message we cannot represent (its properties): dropped, counted and reported. */
static void drop_props(struct mm_wrk *w, const struct mosquitto_message *msg, int rc)
{
	char text[256];

	atomic_fetch_add_explicit(&w->stats->errors, 1, memory_order_relaxed);
	snprintf(text, sizeof(text), "properties of a message on '%.160s': %s", msg->topic,
		 strerror(-rc));
	mm_log(MM_LOG_WARNING, "message dropped: %s", text);
	mm_wrk_emit_event(w, MM_EV_MSG_DROPPED, rc, text);
}

/*
 * libmosquitto's message callback: the message goes into the in-ring here, inside
 * mosquitto_loop_read (committed by wrk_run; the ack waits for the router, wrk_ackgate.c).
 */
void mm_wrk_on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg,
		       const mosquitto_property *props)
{
	struct mm_wrk *w = ud;
	struct mm_rec_msg r = {
		.recv_ns = mm_time_real_ns(),
		.mid = (uint32_t)msg->mid,
		.qos = (uint8_t)msg->qos,
		.flags = (uint8_t)((msg->retain ? MM_REC_F_RETAIN : 0)),
		.topic = { (const uint8_t *)msg->topic, (uint32_t)strlen(msg->topic) },
		.payload = { msg->payload, (uint32_t)msg->payloadlen },
	};
	const char *why;
	size_t size;
	uint8_t *p;
	int rc;

	(void)m;
	w->n_on_message++;
	if (mm_wrk_guard_is_stand_in(w, msg->topic))
		return;
	why = mm_cfg_topic_name_why(msg->topic);
	if (why) {
		drop_invalid(w, msg, why);
		return;
	}
	rc = props_bytes(w, props, &r.props);
	if (rc < 0) {
		drop_props(w, msg, rc);
		return;
	}
	size = mm_rec_msg_size(&r);
	if (size - MM_REC_MSG_FIXED > w->cfg->perf.max_message_size) {
		drop_oversize(w, msg, size - MM_REC_MSG_FIXED);
		return;
	}
	p = reserve(w, size, MM_REC_MSG);
	if (!p)
		return;
	w->ack_due |= msg->qos > 0; /* its ack waits for the router (wrk_ackgate.c) */
	if (msg->qos > 0 && msg->mid > 0 && mm_wrk_unacked_mark(w, (uint16_t)msg->mid)) {
		r.flags |= MM_REC_F_DUP;
		atomic_fetch_add_explicit(&w->stats->dup_flagged, 1, memory_order_relaxed);
	}
	(void)mm_rec_msg_pack(p, size, &r);
	atomic_fetch_add_explicit(&w->stats->msgs_in, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->stats->bytes_in, (uint64_t)msg->payloadlen,
				  memory_order_relaxed);
	atomic_store_explicit(&w->stats->last_msg_ns, r.recv_ns, memory_order_relaxed);
}
