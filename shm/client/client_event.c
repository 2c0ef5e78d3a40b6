/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux events (mqttmux_on_event): the router's CLIENT_EVENT records (a session worker's
 * state changes, sessions added, removed or failed), and the events the library makes itself:
 * client_gap (a GAP record), publish_failed (a publish completed with an error), router_*
 * (the router went away, came back), and session_added / session_removed from comparing the
 * sessions list after each reconnect with the one before. Handlers run from dispatch only,
 * in the calling thread; the sessions-list events are queued when the SESSIONS frame
 * arrives (possibly inside a route call) and delivered by the next dispatch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"
#include "mm_time.h"
#include "records.h"

static const char *const ev_names[_MQTTMUX_EV_MAX] = {
	[MQTTMUX_EV_SESSION_CONNECTING] = "session_connecting",
	[MQTTMUX_EV_SESSION_CONNECTED] = "session_connected",
	[MQTTMUX_EV_SESSION_READY] = "session_ready",
	[MQTTMUX_EV_SESSION_DISCONNECTED] = "session_disconnected",
	[MQTTMUX_EV_SESSION_RECONNECTING] = "session_reconnecting",
	[MQTTMUX_EV_SESSION_STATE_CHANGED] = "session_state_changed",
	[MQTTMUX_EV_SESSION_ADDED] = "session_added",
	[MQTTMUX_EV_SESSION_REMOVED] = "session_removed",
	[MQTTMUX_EV_SESSION_FAILED] = "session_failed",
	[MQTTMUX_EV_CLIENT_GAP] = "client_gap",
	[MQTTMUX_EV_PUBLISH_FAILED] = "publish_failed",
	[MQTTMUX_EV_ROUTER_DISCONNECTED] = "router_disconnected",
	[MQTTMUX_EV_ROUTER_RECONNECTED] = "router_reconnected",
	[MQTTMUX_EV_BLOCK_TIMEOUT] = "block_timeout",
};

MQTTMUX_PUBLIC const char *mqttmux_event_name(int type)
{
	return type >= 0 && type < _MQTTMUX_EV_MAX ? ev_names[type] : "unknown";
}

MQTTMUX_PUBLIC int mqttmux_on_event(struct mqttmux *c, uint32_t mask, const char *session,
				    mqttmux_event_fn *fn, void *ud)
{
	struct mm_cl_evh *h;

	mask &= MQTTMUX_EV_ALL;
	if (!c || !fn || !mask || (session && (!session[0] || strlen(session) > MM_PROTO_NAME_MAX)))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h || (session && !(h->session = strdup(session)))) {
		free(h);
		return -ENOMEM;
	}
	h->id = ++c->next_evh;
	h->mask = mask;
	h->fn = fn;
	h->ud = ud;
	h->next = c->evh;
	c->evh = h;
	return h->id;
}

/* Free the handlers marked dead; only when no handler is running. */
static void evh_sweep(struct mqttmux *c)
{
	struct mm_cl_evh **pp = &c->evh, *h;

	while ((h = *pp)) {
		if (!h->dead) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		free(h->session);
		free(h);
	}
}

MQTTMUX_PUBLIC int mqttmux_event_stop(struct mqttmux *c, int id)
{
	struct mm_cl_evh *h;

	if (!c || id <= 0)
		return -EINVAL;
	for (h = c->evh; h && (h->id != id || h->dead); h = h->next)
		;
	if (!h)
		return -ENOENT;
	h->dead = true;
	if (!c->emitting)
		evh_sweep(c);
	return 0;
}

static bool evh_wants(const struct mm_cl_evh *h, const struct mqttmux_event *ev)
{
	if (h->dead || !(h->mask & MQTTMUX_EV_MASK(ev->type)))
		return false;
	return !h->session || (ev->session && !strcmp(h->session, ev->session));
}

/* Run every handler that wants <ev>; handlers may add or stop handlers meanwhile. */
void mm_cl_emit(struct mqttmux *c, const struct mqttmux_event *ev)
{
	struct mqttmux_event e = *ev;

	e.name = mqttmux_event_name(e.type);
	if (!e.text)
		e.text = "";
	c->emitting++;
	for (struct mm_cl_evh *h = c->evh; h; h = h->next)
		if (evh_wants(h, &e))
			h->fn(c, &e, h->ud);
	if (--c->emitting == 0)
		evh_sweep(c);
}

/* An event made here: everything but <type>, <session> and <code> zero, time now. */
static struct mqttmux_event ev_make(int type, const char *session, int code)
{
	return (struct mqttmux_event){ .type = type,
				       .session = session,
				       .time_ns = mm_time_real_ns(),
				       .code = code,
				       .worker_kind = -1 };
}

void mm_cl_gap_event(struct mqttmux *c, const char *session, uint64_t lost)
{
	struct mqttmux_event ev = ev_make(MQTTMUX_EV_CLIENT_GAP, session, 0);

	ev.lost = lost;
	if (c->evh)
		mm_cl_emit(c, &ev);
}

/*
 * A failed publish, as a publish_failed event. A publish over a session's max_message_size
 * names the limit (the router gives it as PUB_DONE's reason); one over what the pub-ring can
 * carry names that.
 */
void mm_cl_pub_failed(struct mqttmux *c, const struct mm_cl_pub *p)
{
	struct mqttmux_event ev = ev_make(MQTTMUX_EV_PUBLISH_FAILED, p->session, p->result);
	char text[160];

	ev.topic = p->topic;
	if (p->result == -EMSGSIZE && p->reason > 0)
		snprintf(text, sizeof(text),
			 "over the max_message_size of the session: at most %d bytes of topic, "
			 "payload and properties",
			 p->reason);
	else if (p->result == -EMSGSIZE)
		snprintf(text, sizeof(text),
			 "over what the client's ring carries: at most %llu bytes in all",
			 (unsigned long long)c->pub.max_len);
	if (p->result == -EMSGSIZE)
		ev.text = text;
	if (c->evh)
		mm_cl_emit(c, &ev);
}

void mm_cl_router_event(struct mqttmux *c, int type, int code)
{
	struct mqttmux_event ev = ev_make(type, NULL, code);

	ev.attempt = c->attempt;
	ev.next_ms = type == MQTTMUX_EV_ROUTER_DISCONNECTED ? (uint32_t)c->backoff : 0;
	if (c->evh)
		mm_cl_emit(c, &ev);
}

/* CLIENT_EVENT.kind -> enum mqttmux_event_type (docs/protocol.md, CLIENT_EVENT). */
static int ev_type_of(unsigned kind)
{
	switch (kind) {
	case MM_EV_CONNECTING:
		return MQTTMUX_EV_SESSION_CONNECTING;
	case MM_EV_CONNECTED:
		return MQTTMUX_EV_SESSION_CONNECTED;
	case MM_EV_READY:
		return MQTTMUX_EV_SESSION_READY;
	case MM_EV_DISCONNECTED:
		return MQTTMUX_EV_SESSION_DISCONNECTED;
	case MM_EV_RECONNECTING:
		return MQTTMUX_EV_SESSION_RECONNECTING;
	case MM_CLIENT_EV_SESSION_ADDED:
		return MQTTMUX_EV_SESSION_ADDED;
	case MM_CLIENT_EV_SESSION_REMOVED:
		return MQTTMUX_EV_SESSION_REMOVED;
	case MM_CLIENT_EV_SESSION_FAILED:
		return MQTTMUX_EV_SESSION_FAILED;
	case MM_CLIENT_EV_BLOCK_TIMEOUT:
		return MQTTMUX_EV_BLOCK_TIMEOUT;
	default:
		return MQTTMUX_EV_SESSION_STATE_CHANGED;
	}
}

/* A CLIENT_EVENT record: to the handlers, with NUL-terminated copies of its strings. */
int mm_cl_on_client_event(struct mqttmux *c, const struct mm_shm_rec *rec)
{
	struct mm_rec_client_event m;
	struct mqttmux_event ev;
	char *s, *t;

	if (mm_rec_client_event_unpack(rec->data, rec->len, &m) < 0)
		return -EPROTO;
	if ((m.kind == MM_CLIENT_EV_SESSION_ADDED || m.kind == MM_CLIENT_EV_SESSION_REMOVED) &&
	    m.session.len && m.session.len <= MM_PROTO_NAME_MAX) {
		char name[MM_PROTO_NAME_MAX + 1];

		memcpy(name, m.session.p, m.session.len);
		name[m.session.len] = '\0';
		mm_cl_sessions_live(c, ev_type_of(m.kind), name, m.session_idx);
	}
	if (!c->evh)
		return 0;
	s = malloc((size_t)m.session.len + m.text.len + 2);
	if (!s)
		return 0; /* an event is lost, the ring is fine */
	t = s + m.session.len + 1;
	memcpy(s, m.session.p, m.session.len);
	s[m.session.len] = '\0';
	memcpy(t, m.text.p, m.text.len);
	t[m.text.len] = '\0';
	ev = (struct mqttmux_event){ .type = ev_type_of(m.kind),
				     .session = m.session.len ? s : NULL,
				     .time_ns = m.time_ns,
				     .code = m.code,
				     .attempt = m.attempt,
				     .next_ms = m.delay_ms,
				     .text = t,
				     .worker_kind =
					     m.kind <= MM_CLIENT_EV_WORKER_MAX ? m.kind : -1 };
	mm_cl_emit(c, &ev);
	free(s);
	return 0;
}

/* Free every handler (mqttmux_close). */
void mm_cl_events_done(struct mqttmux *c)
{
	for (struct mm_cl_evh *h = c->evh; h; h = h->next)
		h->dead = true;
	evh_sweep(c);
}

/* Deliver the queued session_added / session_removed events. */
void mm_cl_flush_pending(struct mqttmux *c)
{
	struct mm_cl_pend *p;

	while ((p = c->pend)) {
		struct mqttmux_event ev = ev_make(p->type, p->name, 0);

		c->pend = p->next;
		if (!c->pend)
			c->pend_tail = &c->pend;
		if (c->evh)
			mm_cl_emit(c, &ev);
		free(p);
	}
}
