/* SPDX-License-Identifier: MIT */
/*
 * Between libmosquitto and the session's rings: messages, events and completions written
 * into the in-ring, commands read from the cmd-ring, and the worker's tables of subscribed
 * filters and requests waiting for the broker.
 *
 * Ack after commit: on_message runs inside mosquitto_loop_read, and with threaded_set(true)
 * the PUBACK it causes is only queued. wrk_run commits the in-ring after loop_read returns and
 * before loop_write sends the PUBACK, so a message the broker sees acknowledged is in the ring.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "log.h"
#include "mm_time.h"
#include "props.h"
#include "wrk.h"
#include "wrk_props.h"

/* Room kept free in the in-ring for events and completions beyond the largest message. */
#define EVENT_SLACK 4096u

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

void mm_wrk_commit(struct mm_wrk *w)
{
	if (!w->uncommitted)
		return;
	w->uncommitted = false;
	(void)mm_shm_ring_commit(&w->in);
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
	if (w->chan_fd >= 0)
		(void)mm_chan_send(w->chan_fd, MM_CHAN_EVENT, e->kind, seq);
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
 * mosquitto_loop_read (committed by wrk_run before the ack is written).
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
	size_t size;
	uint8_t *p;
	int rc;

	(void)m;
	w->n_on_message++;
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

/* Requests waiting for the broker: a small open table, at most perf.max_pending entries. */
int mm_wrk_pending_add(struct mm_wrk *w, int mid, uint16_t cmd, uint64_t req_id, uint32_t bytes,
		       uint8_t qos)
{
	for (size_t i = 0; i < w->n_pending_cap; i++) {
		struct mm_wrk_pending *p = &w->pending[(mid + i) % w->n_pending_cap];

		if (p->mid == 0) {
			*p = (struct mm_wrk_pending){ mid, cmd, req_id, bytes, qos };
			return 0;
		}
	}
	return -ENOBUFS;
}

/* Find and free the entry for <mid>; the returned copy stays valid until the next call. */
struct mm_wrk_pending *mm_wrk_pending_take(struct mm_wrk *w, int mid)
{
	static struct mm_wrk_pending taken;

	for (size_t i = 0; i < w->n_pending_cap; i++) {
		struct mm_wrk_pending *p = &w->pending[(mid + i) % w->n_pending_cap];

		if (p->mid == mid) {
			taken = *p;
			p->mid = 0;
			return &taken;
		}
	}
	return NULL;
}

/*
 * The connection is gone: complete SUB/UNSUB requests and unwritten QoS 0 publishes with
 * <result>. Publishes at QoS >= 1 stay: libmosquitto keeps them and resends them on the next
 * connection of this session, and their PUBACK/PUBCOMP completes them. With <resent_too>
 * (the client object is being reset, so libmosquitto forgets them) those fail as well.
 */
void mm_wrk_pending_fail_all(struct mm_wrk *w, int32_t result, bool resent_too)
{
	for (size_t i = 0; i < w->n_pending_cap; i++) {
		struct mm_wrk_pending *p = &w->pending[i];

		if (p->mid == 0 || (p->cmd == MM_REC_CMD_PUB && p->qos > 0 && !resent_too))
			continue;
		if (p->req_id)
			mm_wrk_emit_completion(w, p->cmd, p->req_id, result, 0);
		p->mid = 0;
	}
	mm_wrk_commit(w);
}

static int filter_find(struct mm_wrk *w, const char *topic, size_t len)
{
	for (size_t i = 0; i < w->n_filters; i++)
		if (strlen(w->filters[i].topic) == len && !memcmp(w->filters[i].topic, topic, len))
			return (int)i;
	return -1;
}

/*
 * Remember <topic> (not NUL-terminated, <len> bytes) at <qos> for every future connection;
 * an existing filter keeps the higher QoS. Returns 1 if added or raised (subscribe it), 0 if
 * already there at that QoS or higher (nothing to send), or -errno.
 */
int mm_wrk_filter_add(struct mm_wrk *w, const char *topic, size_t len, int qos, bool from_cfg)
{
	int i = filter_find(w, topic, len);
	struct mm_wrk_filter *f;

	if (i >= 0) {
		if (qos <= w->filters[i].qos)
			return 0;
		w->filters[i].qos = qos;
		return 1;
	}
	if (w->n_filters == w->cap_filters) {
		size_t cap = w->cap_filters ? 2 * w->cap_filters : 16;

		f = realloc(w->filters, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		w->filters = f;
		w->cap_filters = cap;
	}
	f = &w->filters[w->n_filters];
	f->topic = strndup(topic, len);
	if (!f->topic)
		return -ENOMEM;
	f->qos = qos;
	f->from_cfg = from_cfg;
	f->acked = false;
	w->n_filters++;
	return 1;
}

/* Forget a filter from a command (config filters stay). Returns 1, 0 if unknown, -EPERM. */
int mm_wrk_filter_remove(struct mm_wrk *w, const char *topic, size_t len)
{
	int i = filter_find(w, topic, len);

	if (i < 0)
		return 0;
	if (w->filters[i].from_cfg)
		return -EPERM;
	free(w->filters[i].topic);
	w->filters[i] = w->filters[--w->n_filters];
	return 1;
}

static int mosq_err(int rc)
{
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		return 0;
	case MOSQ_ERR_NOMEM:
		return -ENOMEM;
	case MOSQ_ERR_NO_CONN:
		return -ENOTCONN;
	case MOSQ_ERR_OVERSIZE_PACKET:
	case MOSQ_ERR_PAYLOAD_SIZE:
		return -EMSGSIZE;
	case MOSQ_ERR_CONN_LOST:
		return -ECONNRESET;
	default:
		return rc == MOSQ_ERR_ERRNO ? -errno : -EINVAL;
	}
}

static void cmd_sub(struct mm_wrk *w, const struct mm_rec_sub *s, bool unsub)
{
	uint16_t cmd = unsub ? MM_REC_CMD_UNSUB : MM_REC_CMD_SUB;
	char *topic = strndup((const char *)s->filter.p, s->filter.len);
	int rc, mid = 0;

	if (!topic || memchr(s->filter.p, '\0', s->filter.len)) {
		mm_wrk_emit_completion(w, cmd, s->req_id, topic ? -EINVAL : -ENOMEM, 0);
		free(topic);
		return;
	}
	rc = unsub ? mm_wrk_filter_remove(w, topic, s->filter.len)
		   : mm_wrk_filter_add(w, topic, s->filter.len, s->qos, false);
	/*
	 * A SUB for a filter already held (a restarted router re-registering its routes) is not
	 * sent again: a second SUBSCRIBE would make the broker resend its retained messages.
	 */
	if (rc > 0 && mm_wrk_conn_is_up(w->conn)) {
		rc = unsub ? mosquitto_unsubscribe(w->mosq, &mid, topic)
			   : mosquitto_subscribe(w->mosq, &mid, topic, s->qos);
		rc = mosq_err(rc);
		if (rc == 0)
			rc = mm_wrk_pending_add(w, mid, cmd, s->req_id, 0, 0);
		if (rc == 0) {
			free(topic);
			return; /* completed by the SUBACK / UNSUBACK */
		}
	}
	/* Not connected: remembered, subscribed on the next connection before READY. */
	atomic_store_explicit(&w->stats->subscriptions, (uint32_t)w->n_filters,
			      memory_order_relaxed);
	mm_wrk_emit_completion(w, cmd, s->req_id, rc < 0 ? rc : 0, 0);
	free(topic);
}

/*
 * The properties of a client's publish as a libmosquitto list. The client library checked
 * them, but the pub-ring is the client's to write: they are checked again here, since a
 * property the broker refuses closes the connection every client shares.
 */
static int pub_props(struct mm_wrk *w, const struct mm_rec_pub *p, mosquitto_property **ret)
{
	int rc;

	if (w->cfg->protocol != MM_CFG_PROTOCOL_5)
		return -EPROTONOSUPPORT; /* MQTT 3.1.1 has no properties */
	if (mm_props_check_publish(p->props.p, p->props.len, p->payload.p, p->payload.len) < 0)
		return -EINVAL;
	if (p->qos > 0 && mm_wrk_props_empty_string_crashes() &&
	    mm_wrk_props_has_empty_string(p->props.p, p->props.len))
		return -EINVAL;
	rc = mm_wrk_props_decode_publish(p->props.p, p->props.len, ret);
	return rc == -EBADMSG ? -EINVAL : rc;
}

static int publish(struct mm_wrk *w, const struct mm_rec_pub *p, int *mid)
{
	mosquitto_property *props = NULL;
	char *topic = strndup((const char *)p->topic.p, p->topic.len);
	int rc = topic ? 0 : -ENOMEM;

	if (rc == 0 && memchr(p->topic.p, '\0', p->topic.len))
		rc = -EINVAL;
	if (rc == 0 && p->props.len)
		rc = pub_props(w, p, &props);
	if (rc == 0)
		rc = mosq_err(mosquitto_publish_v5(w->mosq, mid, topic, (int)p->payload.len,
						   p->payload.p, p->qos, p->flags & MM_REC_F_RETAIN,
						   props));
	mosquitto_property_free_all(&props);
	free(topic);
	return rc;
}

static void cmd_pub(struct mm_wrk *w, const struct mm_rec_pub *p)
{
	int mid = 0, rc = publish(w, p, &mid);

	/*
	 * NO_CONN at QoS >= 1: libmosquitto has queued the message under <mid> and sends it on
	 * the next connection; its PUBACK completes the request. Never resend it ourselves.
	 */
	if (rc == -ENOTCONN && p->qos > 0 && mid != 0)
		rc = 0;
	if (rc == 0)
		rc = mm_wrk_pending_add(w, mid, MM_REC_CMD_PUB, p->req_id, p->payload.len, p->qos);
	if (rc < 0) {
		atomic_fetch_add_explicit(&w->stats->pub_failed, 1, memory_order_relaxed);
		mm_wrk_emit_completion(w, MM_REC_CMD_PUB, p->req_id, rc, 0);
	}
}

static void cmd_one(struct mm_wrk *w, const struct mm_shm_rec *rec)
{
	struct mm_rec_sub s;
	struct mm_rec_pub p;

	if (rec->type == MM_REC_CMD_PUB && mm_rec_pub_unpack(rec->data, rec->len, &p) == 0)
		cmd_pub(w, &p);
	else if ((rec->type == MM_REC_CMD_SUB || rec->type == MM_REC_CMD_UNSUB) &&
		 mm_rec_sub_unpack(rec->data, rec->len, &s) == 0)
		cmd_sub(w, &s, rec->type == MM_REC_CMD_UNSUB);
	else {
		atomic_fetch_add_explicit(&w->stats->errors, 1, memory_order_relaxed);
		mm_log(MM_LOG_WARNING, "cmd-ring: malformed record of type %u, %u bytes, ignoring",
		       rec->type, rec->len);
	}
}

/*
 * Execute the commands waiting in the cmd-ring, as long as the in-ring has room for their
 * completions. Returns false if it stopped for lack of room (the space doorbell resumes it).
 */
bool mm_wrk_handle_commands(struct mm_wrk *w)
{
	struct mm_shm_rec rec;
	int rc, budget = 256;

	while (budget-- > 0) {
		if (mm_shm_ring_has_room(&w->in, EVENT_SLACK) != 1) {
			(void)mm_shm_ring_release(&w->cmd);
			mm_wrk_commit(w);
			return false;
		}
		rc = mm_shm_ring_peek(&w->cmd, &rec);
		if (rc == 0)
			break;
		if (rc < 0) {
			mm_log(MM_LOG_ERROR,
			       "cmd-ring is corrupt (%s): exiting for a clean restart",
			       strerror(-rc));
			(void)mm_wrk_fsm_feed(&w->conn, MM_WRK_CONN_EV_FATAL);
			w->exit_code = 1;
			break;
		}
		cmd_one(w, &rec);
		mm_shm_ring_pop(&w->cmd);
	}
	(void)mm_shm_ring_release(&w->cmd);
	mm_wrk_commit(w);
	return true;
}
