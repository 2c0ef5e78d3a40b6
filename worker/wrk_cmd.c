/* SPDX-License-Identifier: MIT */
/*
 * The commands of the cmd-ring (SUB, UNSUB, PUB from the router), carried out with
 * libmosquitto; the worker's set of subscribed filters, which every (re)connect subscribes
 * again; and the requests waiting for the broker's answer, completed into the in-ring
 * (wrk_bridge.c) when it comes or when the connection is lost.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "props.h"
#include "wrk.h"
#include "wrk_props.h"

/* Room a command needs in the in-ring before it runs: for its completion and events. */
#define EVENT_SLACK 4096u

/* Requests waiting for the broker: a small open table, at most perf.max_pending entries. */
int mm_wrk_pending_add(struct mm_wrk *w, int mid, uint16_t cmd, uint64_t req_id, uint32_t bytes,
		       uint8_t qos)
{
	for (size_t i = 0; i < w->n_pending_cap; i++) {
		struct mm_wrk_pending *p = &w->pending[(mid + i) % w->n_pending_cap];

		if (p->mid == 0) {
			*p = (struct mm_wrk_pending){ mid, cmd, req_id, bytes, qos };
			w->n_pending++;
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
			w->n_pending--;
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
		w->n_pending--;
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
	 * sent again: a second SUBSCRIBE would make the broker resend its retained messages. A new
	 * route's SUB (F_RETAINED) is, for just that: the router gives them to that route only.
	 */
	if (rc == 0 && !unsub && (s->flags & MM_REC_SUB_F_RETAINED))
		rc = 1;
	if (rc > 0 && mm_wrk_conn_is_up(w->conn)) {
		rc = unsub ? mosquitto_unsubscribe(w->mosq, &mid, topic)
			   : mosquitto_subscribe(
				     w->mosq, &mid, topic,
				     w->filters[filter_find(w, topic, s->filter.len)].qos);
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
 * Connected with perf.max_pending requests waiting for the broker: take no more commands until
 * one completes. The cmd-ring then fills, the router stops draining the publishers' rings, and
 * a flooding client is slowed by its own full pub-ring; without a connection a publish fails
 * at once instead (libmosquitto would queue it until the broker is back).
 */
static bool pending_full(const struct mm_wrk *w)
{
	return mm_wrk_conn_is_up(w->conn) && w->n_pending >= (size_t)w->cfg->perf.max_pending;
}

/*
 * Execute at most MM_WRK_CMD_BATCH commands of the cmd-ring, as long as the in-ring has room
 * for their completions and the broker keeps up. One batch, then the caller's loop looks at
 * the socket, the timers and the supervisor again: a client publishing as fast as it can never
 * starves the heartbeat, the reads or the writes. Returns why it stopped.
 */
enum mm_wrk_cmds mm_wrk_handle_commands(struct mm_wrk *w)
{
	enum mm_wrk_cmds why = MM_WRK_CMDS_MORE;
	struct mm_shm_rec rec;
	int rc;

	for (int budget = MM_WRK_CMD_BATCH; budget > 0; budget--) {
		if (mm_shm_ring_has_room(&w->in, EVENT_SLACK) != 1) {
			why = MM_WRK_CMDS_NO_ROOM;
			break;
		}
		rc = mm_shm_ring_peek(&w->cmd, &rec);
		if (rc == 0) {
			why = MM_WRK_CMDS_DONE;
			break;
		}
		if (rc < 0) {
			mm_log(MM_LOG_ERROR,
			       "cmd-ring is corrupt (%s): exiting for a clean restart",
			       strerror(-rc));
			(void)mm_wrk_fsm_feed(&w->conn, MM_WRK_CONN_EV_FATAL);
			w->exit_code = 1;
			why = MM_WRK_CMDS_DONE;
			break;
		}
		if (pending_full(w)) {
			why = MM_WRK_CMDS_WAIT;
			break;
		}
		cmd_one(w, &rec);
		mm_shm_ring_pop(&w->cmd);
	}
	(void)mm_shm_ring_release(&w->cmd);
	mm_wrk_commit(w);
	return why;
}

/* Did the reason of MM_WRK_CMDS_WAIT go away (a request completed, or the connection)? */
bool mm_wrk_commands_may_go_on(const struct mm_wrk *w)
{
	return !pending_full(w);
}
