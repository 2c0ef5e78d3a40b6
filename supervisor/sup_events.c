/* SPDX-License-Identifier: MIT */
/*
 * Session events in the supervisor (docs/events.md): the worker's entries in its stats block's
 * event log, read after each EVENT on the channel and on every heartbeat, plus what only the
 * supervisor knows (a session added, removed, failed, or a worker gone), plus two counters
 * (a worker's pub_failed: publish_failed; a router client slot's dropped, read on the router's
 * heartbeat: client_gap), become JSON events in the seed's vocabulary. Each is logged at info level
 * and written to every control-socket connection that asked for `events` (sup_ctl_cmd.c), through a
 * bounded buffer: a reader too slow for it loses events, and is told how many in an `events_lost`
 * line.
 *
 * The seed state of each session (0 disconnected .. 4 closed, 5 failed) is derived from the
 * events; every change of it is reported as session_state_changed, just before the event that
 * caused it. Process code of mqttmuxd (single-threaded).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "mm_time.h"
#include "records.h"
#include "rstats.h"
#include "stats.h"
#include "sup.h"

/* What we keep per session: our own mapping of its stats block and our place in its log. */
struct ev_sess {
	char *name;
	ino_t ino; /* inode of the stats memfd mapped in st (new rings: new inode) */
	struct mm_stats_block *st; /* mapped here, or NULL */
	struct mm_stats_evcursor cur;
	uint64_t missed_told, bad_told; /* what the log already says we lost */
	uint64_t pub_failed;		/* stats pub_failed already reported */
	enum mm_ctl_state state;	/* the seed state last reported */
	bool sub_errors;		/* a filter refused since the last connection */
	bool removing;			/* its session was removed; a namesake may be added */
};

/* What we last saw of a router client slot, for client_gap. */
struct ev_client {
	uint64_t token;		 /* the client in the slot (0: none seen) */
	uint64_t dropped;	 /* its dropped counter, already reported */
	uint64_t block_timeouts; /* its block_timeouts counter, already reported */
};

struct mm_sup_events {
	struct ev_sess *v;
	size_t n, cap;
	struct mm_rstats_block *rst; /* the router stats block, mapped here; or NULL */
	struct ev_client clients[MM_RSTATS_MAX_CLIENTS];
};

/* RFC 3339, UTC, milliseconds: 2026-11-26T00:41:02.123Z */
static void fmt_time(uint64_t ns, char *buf, size_t size)
{
	time_t sec = (time_t)(ns / MM_NS_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&sec, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, size, "1970-01-01T00:00:00");
	}
	snprintf(buf + strlen(buf), size - strlen(buf), ".%03uZ",
		 (unsigned)(ns % MM_NS_PER_SEC / 1000000));
}

static void deliver_all(struct mm_sup *s, const char *session, const char *text)
{
	size_t len = strlen(text);
	char *line = malloc(len + 1);

	if (!line || !s->ctl) {
		free(line);
		return;
	}
	memcpy(line, text, len);
	line[len] = '\n';
	for (size_t i = 0; i < MM_CTL_MAX_CONNS; i++) {
		struct mm_ctl_conn *c = &s->ctl->conns[i];

		if (c->fd >= 0 && c->events && !c->closing &&
		    (!c->events_name[0] || (session && !strcmp(c->events_name, session))))
			mm_sup_ctl_stream(c, line, len + 1);
	}
	free(line);
}

/*
 * The log priority of an event, so that `journalctl -p warning` shows a session going down
 * and `-p err` one that keeps failing; the rest of a session's life is info.
 */
static enum mm_log_level event_level(const char *type)
{
	if (!strcmp(type, "session_failed"))
		return MM_LOG_ERROR;
	if (!strcmp(type, "session_disconnected") || !strcmp(type, "client_gap") ||
	    !strcmp(type, "publish_failed"))
		return MM_LOG_WARNING;
	return MM_LOG_INFO;
}

/*
 * Log and stream the event {type, session, time, data}; <data> (consumed) may be NULL, and so
 * may <session> (an event of no session: "session": null, only for readers of every session).
 */
static void publish(struct mm_sup *s, const char *session, const char *type, uint64_t time_ns,
		    struct json_object *data)
{
	struct json_object *o = json_object_new_object();
	const char *text;
	char ts[48];

	if (!o) {
		json_object_put(data);
		mm_log(MM_LOG_WARNING, "event %s lost: out of memory", type);
		return;
	}
	fmt_time(time_ns, ts, sizeof(ts));
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "session", session ? json_object_new_string(session) : NULL);
	json_object_object_add(o, "time", json_object_new_string(ts));
	json_object_object_add(o, "data", data ? data : json_object_new_object());
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	mm_log(event_level(type), "event %s", text);
	deliver_all(s, session, text);
	json_object_put(o);
}

#define ADD(o, k, v) json_object_object_add((o), (k), (v))

static struct json_object *code_reason(int32_t code, const char *reason)
{
	struct json_object *d = json_object_new_object();

	if (d) {
		ADD(d, "code", json_object_new_int(code));
		ADD(d, "reason", json_object_new_string(reason));
	}
	return d;
}

/* Report a change of the seed state (nothing if it stays the same). */
static void set_state(struct mm_sup *s, struct ev_sess *e, enum mm_ctl_state to, uint64_t ns)
{
	struct json_object *d;

	if (e->state == to)
		return;
	d = json_object_new_object();
	if (d) {
		ADD(d, "old_state", json_object_new_int(e->state));
		ADD(d, "new_state", json_object_new_int(to));
		ADD(d, "old", json_object_new_string(mm_ctl_state_to_string(e->state)));
		ADD(d, "new", json_object_new_string(mm_ctl_state_to_string(to)));
	}
	e->state = to;
	publish(s, e->name, "session_state_changed", ns, d);
}

static struct ev_sess *sess_find(struct mm_sup *s, const char *name, bool removing)
{
	struct mm_sup_events *ev = s->events;

	for (size_t i = 0; ev && i < ev->n; i++)
		if (ev->v[i].removing == removing && !strcmp(ev->v[i].name, name))
			return &ev->v[i];
	return NULL;
}

/*
 * The entry of <c>. A removed session's worker may still run when a session of the same name
 * is added again: each has its own entry, the old one marked removing.
 */
static struct ev_sess *sess_of(struct mm_sup *s, const struct mm_sup_child *c)
{
	struct ev_sess *e = sess_find(s, c->name, c->remove);

	if (!e && c->remove && (e = sess_find(s, c->name, false)))
		e->removing = true;
	return e;
}

static struct mm_sup_events *events_get(struct mm_sup *s)
{
	if (!s->events)
		s->events = calloc(1, sizeof(*s->events));
	return s->events;
}

static struct ev_sess *sess_new(struct mm_sup *s, const char *name)
{
	struct mm_sup_events *ev = events_get(s);
	struct ev_sess *e;

	if (!ev)
		return NULL;
	if (ev->n == ev->cap) {
		size_t cap = ev->cap ? 2 * ev->cap : 8;
		struct ev_sess *v = reallocarray(ev->v, cap, sizeof(*v));

		if (!v)
			return NULL;
		ev->v = v;
		ev->cap = cap;
	}
	e = &ev->v[ev->n];
	*e = (struct ev_sess){ .name = strdup(name), .state = MM_CTL_DISCONNECTED };
	if (!e->name)
		return NULL;
	ev->n++;
	return e;
}

static void sess_forget(struct mm_sup *s, struct ev_sess *e)
{
	struct mm_sup_events *ev = s->events;

	mm_shm_stats_detach(e->st);
	free(e->name);
	*e = ev->v[--ev->n];
}

/* Map the stats block of <c> if we have not, or if the session got new rings. */
static void sess_map(struct ev_sess *e, const struct mm_sup_child *c)
{
	int fd = c->fds[MM_FD_WRK_STATS];
	struct stat st;

	if (fd < 0 || fstat(fd, &st) == -1 || (e->st && st.st_ino == e->ino))
		return;
	mm_shm_stats_detach(e->st);
	e->st = NULL;
	e->cur = (struct mm_stats_evcursor){ 0 };
	e->missed_told = e->bad_told = 0;
	if (mm_shm_stats_attach(fd, &e->st) < 0) {
		e->st = NULL;
		return;
	}
	e->ino = st.st_ino;
	e->pub_failed = atomic_load_explicit(&e->st->pub_failed, memory_order_relaxed);
}

static struct json_object *broker_url(const struct mm_cfg_session *sess, uint32_t idx)
{
	char buf[512];
	int n;

	if (!sess || idx >= sess->n_brokers)
		return NULL;
	n = mm_cfg_broker_format(&sess->brokers[idx], buf, sizeof(buf));
	return n < 0 || (size_t)n >= sizeof(buf) ? NULL : json_object_new_string(buf);
}

/* The seed's "session summary", the data of session_ready. */
static struct json_object *summary(const struct mm_sup *s, const struct ev_sess *e,
				   const struct mm_stats_event *ev)
{
	const struct mm_cfg_session *sess = mm_cfg_session_find(s->cfg, e->name);
	struct json_object *d = json_object_new_object();

	if (!d || !sess)
		return d;
	ADD(d, "client_id", json_object_new_string(sess->client_id));
	ADD(d, "clean_session", json_object_new_boolean(sess->clean_session));
	ADD(d, "auto_reconnect", json_object_new_boolean(sess->auto_reconnect));
	ADD(d, "persistent", json_object_new_boolean(sess->persistent));
	ADD(d, "subscriptions",
	    json_object_new_uint64(
		    e->st ? atomic_load_explicit(&e->st->subscriptions, memory_order_relaxed) : 0));
	ADD(d, "connected_broker", broker_url(sess, ev->broker));
	ADD(d, "sub_errors", json_object_new_boolean(e->sub_errors));
	return d;
}

/* session_connecting, _connected, _ready: the data that names a broker. */
static struct json_object *broker_data(const struct mm_sup *s, const struct ev_sess *e,
				       const struct mm_stats_event *ev, const char *key)
{
	struct json_object *d = json_object_new_object();

	if (!d)
		return NULL;
	ADD(d, key, broker_url(mm_cfg_session_find(s->cfg, e->name), ev->broker));
	if (ev->kind == MM_EV_CONNECTING)
		ADD(d, "attempt", json_object_new_int(ev->code));
	else
		ADD(d, "transport", json_object_new_string(ev->text));
	return d;
}

static struct json_object *reconnecting(const struct mm_stats_event *ev)
{
	struct json_object *d = json_object_new_object();

	if (d) {
		ADD(d, "attempt", json_object_new_uint64(ev->attempt));
		ADD(d, "next_interval", json_object_new_uint64(ev->delay_ms));
	}
	return d;
}

/* Turn one entry of the worker's log into events. Kinds we do not show are skipped. */
static void from_worker(struct mm_sup *s, struct ev_sess *e, const struct mm_stats_event *ev)
{
	uint64_t ns = ev->time_ns;

	switch (ev->kind) {
	case MM_EV_CONNECTING:
		/* An attempt after a loss is part of reconnecting, as in the seed. */
		if (e->state != MM_CTL_RECONNECTING)
			set_state(s, e, MM_CTL_CONNECTING, ns);
		publish(s, e->name, "session_connecting", ns, broker_data(s, e, ev, "broker"));
		break;
	case MM_EV_CONNECTED:
		e->sub_errors = false;
		set_state(s, e, MM_CTL_CONNECTED, ns);
		publish(s, e->name, "session_connected", ns,
			broker_data(s, e, ev, "connected_broker"));
		break;
	case MM_EV_READY:
		set_state(s, e, MM_CTL_CONNECTED, ns);
		publish(s, e->name, "session_ready", ns, summary(s, e, ev));
		break;
	case MM_EV_DISCONNECTED:
		/* A failed attempt while reconnecting leaves the state alone; the next follows. */
		if (e->state != MM_CTL_RECONNECTING)
			set_state(s, e, MM_CTL_DISCONNECTED, ns);
		publish(s, e->name, "session_disconnected", ns, code_reason(ev->code, ev->text));
		break;
	case MM_EV_RECONNECTING:
		set_state(s, e, MM_CTL_RECONNECTING, ns);
		publish(s, e->name, "session_reconnecting", ns, reconnecting(ev));
		break;
	case MM_EV_MSG_DROPPED:
		publish(s, e->name, "message_dropped", ns, code_reason(ev->code, ev->text));
		break;
	case MM_EV_MSG_QUARANTINED:
		publish(s, e->name, "message_quarantined", ns, code_reason(ev->code, ev->text));
		break;
	case MM_EV_SUB_FAILED:
		e->sub_errors = true;
		publish(s, e->name, "subscribe_failed", ns, code_reason(ev->code, ev->text));
		break;
	case MM_EV_ERROR:
		publish(s, e->name, "session_error", ns, code_reason(ev->code, ev->text));
		break;
	default:
		break;
	}
}

/* Say (once) how many entries of the log we could not read. */
static void tell_lost(struct ev_sess *e)
{
	if (e->cur.missed > e->missed_told)
		mm_log(MM_LOG_WARNING,
		       "session '%s': %llu event(s) of the worker's log were overwritten before "
		       "the supervisor read them",
		       e->name, (unsigned long long)(e->cur.missed - e->missed_told));
	if (e->cur.bad > e->bad_told)
		mm_log(MM_LOG_WARNING,
		       "session '%s': %llu malformed event(s) in the worker's log, ignoring",
		       e->name, (unsigned long long)(e->cur.bad - e->bad_told));
	e->missed_told = e->cur.missed;
	e->bad_told = e->cur.bad;
}

/*
 * publish_failed: the publishes the worker completed with an error since the last report, as
 * one event per read of the log (at most one a heartbeat when nothing else happens), never
 * one per message: a broker refusing everything must not flood the readers.
 */
static void pub_failures(struct mm_sup *s, struct ev_sess *e)
{
	uint64_t n = atomic_load_explicit(&e->st->pub_failed, memory_order_relaxed);
	struct json_object *d;

	if (n <= e->pub_failed) {
		e->pub_failed = n;
		return;
	}
	d = json_object_new_object();
	if (d) {
		ADD(d, "count", json_object_new_uint64(n - e->pub_failed));
		ADD(d, "total", json_object_new_uint64(n));
	}
	e->pub_failed = n;
	publish(s, e->name, "publish_failed", mm_time_real_ns(), d);
}

static void drain(struct mm_sup *s, struct ev_sess *e, const struct mm_sup_child *c)
{
	struct mm_stats_event ev;

	sess_map(e, c);
	if (!e->st)
		return;
	while (mm_shm_stats_event_next(e->st, &e->cur, &ev) == 1)
		from_worker(s, e, &ev);
	tell_lost(e);
	pub_failures(s, e);
}

/*
 * client_gap if the client in a slot lost messages since the last look (<k>). The block was
 * created by this daemon, so every drop in it, even one before our first look (a client that
 * registered and overflowed within a router heartbeat), is news.
 */
static void client_gap(struct mm_sup *s, struct ev_client *k,
		       const struct mm_rstats_client_snap *sn)
{
	struct json_object *d;

	if (sn->token != k->token || sn->dropped < k->dropped)
		*k = (struct ev_client){ .token = sn->token }; /* another client in the slot */
	if (sn->dropped == k->dropped || sn->state != MM_RSTATS_CONNECTED)
		return;
	d = json_object_new_object();
	if (d) {
		ADD(d, "client", json_object_new_string(sn->name));
		ADD(d, "pid", json_object_new_int64(sn->pid));
		ADD(d, "lost", json_object_new_uint64(sn->dropped - k->dropped));
		ADD(d, "total", json_object_new_uint64(sn->dropped));
	}
	k->dropped = sn->dropped;
	publish(s, NULL, "client_gap", mm_time_real_ns(), d);
}

/* A blocking client the router switched to drop (clients.block_timeout): tell the operator. */
static void client_block_timeout(struct mm_sup *s, struct ev_client *k,
				 const struct mm_rstats_client_snap *sn)
{
	struct json_object *d;

	if (sn->block_timeouts <= k->block_timeouts)
		return;
	d = json_object_new_object();
	if (d) {
		ADD(d, "client", json_object_new_string(sn->name));
		ADD(d, "pid", json_object_new_int64(sn->pid));
		ADD(d, "block_timeout", json_object_new_double(s->cfg->clients.block_timeout));
		ADD(d, "total", json_object_new_uint64(sn->block_timeouts));
	}
	k->block_timeouts = sn->block_timeouts;
	publish(s, NULL, "client_block_timeout", mm_time_real_ns(), d);
}

/*
 * <n> messages of session <c> matched no route (nobody asked for them, or the clients of a
 * restarted daemon did not come back within clients.rejoin_grace): the router tells at most once
 * a second per session, so this never floods readers either.
 */
void mm_sup_events_unrouted(struct mm_sup *s, const struct mm_sup_child *c, uint64_t n)
{
	struct json_object *d = json_object_new_object();

	if (d) {
		ADD(d, "count", json_object_new_uint64(n));
		ADD(d, "total", json_object_new_uint64(c->m.unrouted));
	}
	publish(s, c->name, "messages_unrouted", mm_time_real_ns(), d);
}

/* On each router heartbeat: client_gap for every client that lost messages meanwhile. */
static void client_gaps(struct mm_sup *s, const struct mm_sup_child *router)
{
	struct mm_sup_events *ev = events_get(s);
	struct mm_rstats_client_snap sn;

	if (!ev || router->fds[MM_FD_WRK_STATS] < 0)
		return;
	if (!ev->rst && mm_shm_rstats_attach(router->fds[MM_FD_WRK_STATS], &ev->rst) < 0) {
		ev->rst = NULL;
		return;
	}
	for (unsigned i = 0; i < MM_RSTATS_MAX_CLIENTS; i++)
		if (mm_rstats_client_read(ev->rst, i, &sn) == 0 && sn.token) {
			client_gap(s, &ev->clients[i], &sn);
			client_block_timeout(s, &ev->clients[i], &sn);
		}
}

/* Read what the worker of <c> wrote to its event log since last time; for the router: gaps. */
void mm_sup_events_poll(struct mm_sup *s, const struct mm_sup_child *c)
{
	struct ev_sess *e;

	if (c->is_router) {
		client_gaps(s, c);
		return;
	}
	if (!c->name)
		return;
	e = sess_of(s, c);
	if (!e && !c->remove)
		e = sess_new(s, c->name);
	if (e)
		drain(s, e, c);
}

/* Session <c> joined the running set (daemon start, reload, `add`): session_added. */
void mm_sup_events_added(struct mm_sup *s, const struct mm_sup_child *c)
{
	struct ev_sess *e = sess_find(s, c->name, false);

	if (e)
		e->removing = true; /* a removed namesake still stopping */
	e = sess_new(s, c->name);
	if (!e) {
		mm_log(MM_LOG_WARNING, "session '%s': no memory for its events", c->name);
		return;
	}
	sess_map(e, c);
	publish(s, c->name, "session_added", mm_time_real_ns(), NULL);
}

/* Session <c> is gone for good (its worker is down): the last of its log, then removed. */
void mm_sup_events_removed(struct mm_sup *s, const struct mm_sup_child *c)
{
	struct ev_sess *e = sess_of(s, c);
	enum mm_ctl_state was;
	uint64_t ns;

	if (!e)
		return;
	drain(s, e, c);
	ns = mm_time_real_ns();
	was = e->state;
	set_state(s, e, MM_CTL_CLOSED, ns);
	if (was != MM_CTL_DISCONNECTED && was != MM_CTL_CLOSED)
		publish(s, e->name, "session_disconnected", ns, code_reason(0, "session removed"));
	publish(s, e->name, "session_removed", ns, NULL);
	sess_forget(s, e);
}

static void failed(struct mm_sup *s, struct ev_sess *e, bool permanent, const char *why)
{
	struct json_object *d = json_object_new_object();
	uint64_t ns = mm_time_real_ns();

	if (d) {
		ADD(d, "permanent", json_object_new_boolean(permanent));
		ADD(d, "reason", json_object_new_string(why));
	}
	set_state(s, e, MM_CTL_FAILED, ns);
	publish(s, e->name, "session_failed", ns, d);
	mm_sup_router_session_failed(s, e->name, permanent);
}

/*
 * After the restart state machine of worker <c> took <ev>: a worker that is gone leaves its
 * last entries and, if it never said so, a disconnection; a crash loop just detected (<c>'s
 * fsm.failed set, <was_failed> not) or an exit 64/78 is session_failed.
 */
void mm_sup_events_after(struct mm_sup *s, const struct mm_sup_child *c, enum mm_child_ev ev,
			 bool was_failed)
{
	bool gone = ev == MM_CHILD_EV_EXITED || ev == MM_CHILD_EV_EXIT_CONFIG;
	struct ev_sess *e;
	char why[160];

	if (c->is_router || !c->name || !(e = sess_of(s, c)))
		return;
	if (gone)
		drain(s, e, c);
	if (gone && !c->remove && !s->stopping &&
	    (e->state == MM_CTL_CONNECTING || e->state == MM_CTL_CONNECTED)) {
		set_state(s, e, MM_CTL_DISCONNECTED, mm_time_real_ns());
		publish(s, e->name, "session_disconnected", mm_time_real_ns(),
			code_reason(-ECONNABORTED, "the worker process ended"));
	}
	if (ev == MM_CHILD_EV_EXIT_CONFIG) {
		snprintf(why, sizeof(why), "the worker exited with status %d: not restarted",
			 WEXITSTATUS(c->wstatus));
		failed(s, e, true, why);
	} else if (c->fsm.failed && !was_failed) {
		snprintf(why, sizeof(why), "more than %u starts in %.1f s; retrying every %.1f s",
			 s->policy.burst, s->cfg->restart.window, s->cfg->restart.max);
		failed(s, e, false, why);
	}
}

/* Forget every session's event state and unmap what we mapped (mm_sup_done). Idempotent. */
void mm_sup_events_free(struct mm_sup *s)
{
	struct mm_sup_events *ev = s->events;

	if (!ev)
		return;
	while (ev->n)
		sess_forget(s, &ev->v[ev->n - 1]);
	free(ev->v);
	mm_shm_rstats_detach(ev->rst);
	free(ev);
	s->events = NULL;
}
