/* SPDX-License-Identifier: MIT */
/*
 * mm_metrics_render() (see metrics.h): every family of docs/metrics.md in a fixed order, from
 * the input the supervisor gathered. The text primitives are metrics_text.c, the per-process
 * families metrics_ops.c, the rate helper metrics_rate.c.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- mm_metrics_render(): the families of docs/metrics.md, in that order --- */

enum field_kind { K_U64 = 0, K_F64, K_UINT, K_BOOL };

/* A family whose value is one field of each input object (session, client or router). */
struct field_family {
	const char *name;
	const char *help;
	enum mm_metrics_type type;
	enum field_kind kind;
	size_t off;
};

#define SF(n, t, k, f, h)                                                           \
	{                                                                           \
		n, h, MM_METRICS_##t, K_##k, offsetof(struct mm_metrics_session, f) \
	}
#define CF(n, t, f, h)                                                             \
	{                                                                          \
		n, h, MM_METRICS_##t, K_U64, offsetof(struct mm_metrics_client, f) \
	}
#define CFU(n, t, f, h)                                                             \
	{                                                                           \
		n, h, MM_METRICS_##t, K_UINT, offsetof(struct mm_metrics_client, f) \
	}
#define RF(n, f, h)                                                                    \
	{                                                                              \
		n, h, MM_METRICS_COUNTER, K_U64, offsetof(struct mm_metrics_router, f) \
	}
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The seed's names, in the seed's order, then the three rates the seed never emitted. */
static const struct field_family seed_families[] = {
	SF("mqtt_session_messages_sent_total", COUNTER, U64, msgs_out,
	   "Messages the session published to its broker."),
	SF("mqtt_session_messages_received_total", COUNTER, U64, msgs_in,
	   "Messages the session received from its broker."),
	SF("mqtt_session_bytes_sent_total", COUNTER, U64, bytes_out,
	   "Payload bytes the session published to its broker."),
	SF("mqtt_session_bytes_received_total", COUNTER, U64, bytes_in,
	   "Payload bytes the session received from its broker."),
	SF("mqtt_session_errors_total", COUNTER, U64, errors,
	   "Connect failures, protocol and TLS errors, and broker refusals."),
	SF("mqtt_session_reconnects_total", COUNTER, U64, reconnects,
	   "Connection attempts after the first."),
	SF("mqtt_session_connected", GAUGE, BOOL, connected,
	   "1 if the session is connected to its broker, else 0."),
	SF("mqtt_session_subscriptions", GAUGE, UINT, subscriptions,
	   "Topic filters the session currently holds at its broker."),
	SF("mqtt_session_last_message_timestamp_seconds", GAUGE, F64, last_msg_s,
	   "Unix time of the last message received, 0 if none yet."),
	SF("mqtt_session_last_error_timestamp_seconds", GAUGE, F64, last_err_s,
	   "Unix time of the last error, 0 if none yet."),
	SF("mqtt_session_persistent", GAUGE, BOOL, persistent,
	   "1 if the session is configured persistent, else 0."),
	SF("mqtt_session_clean_session", GAUGE, BOOL, clean_session,
	   "1 if the session connects with clean_session, else 0."),
	SF("mqtt_session_auto_reconnect", GAUGE, BOOL, auto_reconnect,
	   "1 if the session reconnects by itself, else 0."),
	SF("mqtt_session_status", GAUGE, UINT, state,
	   "Session state, as `mqttmux status`: 0 disconnected, 1 connecting, 2 connected, "
	   "3 reconnecting, 4 closed, 5 failed."),
	SF("mqtt_session_message_rate", GAUGE, F64, msg_rate,
	   "Messages per second, sent plus received, over the last 10 seconds."),
	SF("mqtt_session_avg_message_rate", GAUGE, F64, avg_msg_rate,
	   "Messages per second, sent plus received, since the session was added."),
	SF("mqtt_session_bytes_rate", GAUGE, F64, bytes_rate,
	   "Payload bytes per second, sent plus received, over the last 10 seconds."),
};

static const struct field_family own_session_families[] = {
	SF("mqttmux_session_worker_restarts_total", COUNTER, U64, restarts,
	   "Worker processes started for the session after the first."),
	SF("mqttmux_session_failed", GAUGE, BOOL, failed,
	   "1 if the supervisor gave up restarting the session's worker, else 0."),
	SF("mqttmux_session_in_ring_size_bytes", GAUGE, U64, ring_size,
	   "Capacity of the session's in-ring."),
	SF("mqttmux_session_in_ring_fill_bytes", GAUGE, U64, ring_fill,
	   "Bytes written to the session's in-ring and not yet consumed by the router."),
	SF("mqttmux_session_in_ring_high_water_bytes", GAUGE, U64, ring_hwm,
	   "Highest in-ring fill seen since the daemon started."),
	SF("mqttmux_session_oversize_dropped_total", COUNTER, U64, dropped_oversize,
	   "Messages dropped because they exceed max_message_size."),
	SF("mqttmux_session_unrouted_total", COUNTER, U64, unrouted,
	   "Messages of the session that matched no client route."),
	SF("mqttmux_session_invalid_dropped_total", COUNTER, U64, dropped_invalid,
	   "Messages from the broker dropped because their topic is not a valid topic name."),
	SF("mqttmux_session_packets_refused_total", COUNTER, U64, refused_packets,
	   "Broker packets over max_message_size plus headroom: the connection was closed."),
	SF("mqttmux_session_quarantined_total", COUNTER, U64, quarantined,
	   "Poison messages (they killed the worker twice in a row): acked, kept, not delivered."),
};

static const struct field_family client_families[] = {
	CF("mqttmux_client_messages_matched_total", COUNTER, matched,
	   "Messages that matched one of the client's routes."),
	CF("mqttmux_client_messages_delivered_total", COUNTER, delivered,
	   "Matched messages written to the client's ring."),
	CF("mqttmux_client_messages_dropped_total", COUNTER, dropped,
	   "Matched messages not written because the client's ring was full."),
	CF("mqttmux_client_gaps_total", COUNTER, gaps,
	   "Gap records the client was sent (one per run of drops)."),
	CF("mqttmux_client_messages_queued", GAUGE, queued,
	   "Matched messages held for a blocking route, not yet written or dropped."),
	CF("mqttmux_client_routes", GAUGE, routes, "Routes the client has registered."),
	CF("mqttmux_client_ring_fill_bytes", GAUGE, ring_fill,
	   "Bytes of the client's delivery ring it has not consumed yet."),
	CF("mqttmux_client_ring_size_bytes", GAUGE, ring_size,
	   "Capacity of the client's delivery ring."),
	CFU("mqttmux_client_pid", GAUGE, pid,
	    "The client's process id (a gauge, not a label: a label would start new series)."),
};

static const struct field_family router_families[] = {
	RF("mqttmux_router_messages_total", msgs_in, "Messages the router read from in-rings."),
	RF("mqttmux_router_fanout_total", fanout, "Message copies the router wrote to clients."),
	RF("mqttmux_router_unrouted_total", unrouted, "Messages that matched no client route."),
	RF("mqttmux_router_restarts_total", restarts, "Router processes started after the first."),
	RF("mqttmux_router_dropped_total", dropped,
	   "Message copies not written because a client's ring was full."),
	RF("mqttmux_router_gaps_total", gaps, "Gap records the router wrote to clients."),
	RF("mqttmux_router_events_forwarded_total", events,
	   "Session events the router forwarded to clients."),
	RF("mqttmux_router_clients_registered_total", clients_registered,
	   "Client HELLOs the router accepted."),
	RF("mqttmux_router_clients_refused_total", clients_refused,
	   "Client HELLOs the router refused."),
	RF("mqttmux_router_clients_malformed_total", clients_malformed,
	   "Clients dropped for a malformed message."),
	RF("mqttmux_router_publish_requests_total", pub_requests,
	   "Publish requests the router received from clients."),
	RF("mqttmux_router_block_timeouts_total", block_timeouts,
	   "Blocking clients switched to drop after holding a session for clients.block_timeout."),
};

static const char *const pub_result_names[_MM_METRICS_PUB_MAX] = {
	[MM_METRICS_PUB_OK] = "ok",
	[MM_METRICS_PUB_ENOTCONN] = "enotconn",
	[MM_METRICS_PUB_ECONNRESET] = "econnreset",
	[MM_METRICS_PUB_ENOENT] = "enoent",
	[MM_METRICS_PUB_EMSGSIZE] = "emsgsize",
	[MM_METRICS_PUB_OTHER] = "other",
};

static const char *const limit_names[MM_METRICS_LIMITS] = {
	"clients", "clients_per_uid", "routes", "filter_length", "pending", "queued_bytes",
};

static const char *obj_name(const void *obj)
{
	const char *name;

	memcpy(&name, obj, sizeof(name)); /* every input struct starts with its name */
	return name ? name : "";
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(obj_name(*(const void *const *)a), obj_name(*(const void *const *)b));
}

/* Clients may share a name (two `mqttmux sub`): then their slot orders them. */
static int cmp_client(const void *a, const void *b)
{
	const struct mm_metrics_client *x = *(const void *const *)a, *y = *(const void *const *)b;
	int r = cmp_name(a, b);

	return r ? r : (x->slot > y->slot) - (x->slot < y->slot);
}

/* A heap array of pointers to the n objects of <size> bytes at base, sorted with <cmp>. */
static const void **sort_objs(const void *base, size_t n, size_t size,
			      int (*cmp)(const void *, const void *))
{
	const void **v = malloc((n ? n : 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = (const char *)base + i * size;
	qsort(v, n, sizeof(*v), cmp);
	return v;
}

static void put_field(struct mm_metrics_buf *b, const struct field_family *f, const void *obj,
		      const struct mm_metrics_label *l, size_t nl)
{
	const char *p = (const char *)obj + f->off;
	unsigned u;
	uint64_t x;
	double d;
	bool t;

	switch (f->kind) {
	case K_U64:
		memcpy(&x, p, sizeof(x));
		break;
	case K_F64:
		memcpy(&d, p, sizeof(d));
		mm_metrics_sample_f64(b, f->name, l, nl, d);
		return;
	case K_UINT:
		memcpy(&u, p, sizeof(u));
		x = u;
		break;
	default:
		memcpy(&t, p, sizeof(t));
		x = t;
		break;
	}
	mm_metrics_sample_u64(b, f->name, l, nl, x);
}

/*
 * Each family of <tab>, one sample per object labelled <label>="name" (no label if NULL) and,
 * for clients (<client>), slot="<slot>".
 */
static void put_fields(struct mm_metrics_buf *b, const struct field_family *tab, size_t ntab,
		       const void *const *objs, size_t n, const char *label, bool client)
{
	struct mm_metrics_label l[2] = { { label, NULL }, { "slot", NULL } };
	char slot[16];

	l[1].value = slot;
	for (size_t i = 0; i < ntab; i++) {
		mm_metrics_family(b, tab[i].name, tab[i].type, tab[i].help);
		for (size_t j = 0; j < n; j++) {
			const struct mm_metrics_client *c = objs[j];

			l[0].value = label ? obj_name(objs[j]) : NULL;
			if (client)
				snprintf(slot, sizeof(slot), "%u", c->slot);
			put_field(b, &tab[i], objs[j], l, label ? 1 + client : 0);
		}
	}
}

/* The router's counter families, then its publish completions by result. */
/* The router's bounds hit (docs/security.md, "Bounds"). */
static void put_limited(struct mm_metrics_buf *b, const struct mm_metrics_router *r)
{
	static const char name[] = "mqttmux_router_limited_total";
	struct mm_metrics_label l = { "reason", NULL };

	mm_metrics_family(b, name, MM_METRICS_COUNTER,
			  "Router bounds hit, by reason: connections and routes refused, clients "
			  "whose publishes were held (clients.max_*).");
	for (unsigned i = 0; i < MM_METRICS_LIMITS; i++) {
		l.value = limit_names[i];
		mm_metrics_sample_u64(b, name, &l, 1, r->limited[i]);
	}
}

static void put_router(struct mm_metrics_buf *b, const struct mm_metrics_router *r)
{
	static const char pub[] = "mqttmux_router_publish_completions_total";
	struct mm_metrics_label l = { "result", NULL };
	const void *obj = r;

	put_fields(b, router_families, NELEM(router_families), &obj, 1, NULL, false);
	mm_metrics_family(b, pub, MM_METRICS_COUNTER,
			  "Publish completions the router sent to clients, by result.");
	for (unsigned i = 0; i < _MM_METRICS_PUB_MAX; i++) {
		l.value = pub_result_names[i];
		mm_metrics_sample_u64(b, pub, &l, 1, r->pub_results[i]);
	}
	put_limited(b, r);
}

static void put_manager(struct mm_metrics_buf *b, const struct mm_metrics_input *in)
{
	uint64_t msgs = in->retired_msgs, bytes = in->retired_bytes;
	uint64_t errs = in->retired_errors, reconns = in->retired_reconnects;
	struct mm_metrics_label l = { "version", in->version ? in->version : "unknown" };
	const struct mm_metrics_session *s;

	for (size_t i = 0; i < in->nsessions; i++) {
		s = &in->sessions[i];
		msgs += s->msgs_in + s->msgs_out;
		bytes += s->bytes_in + s->bytes_out;
		errs += s->errors;
		reconns += s->reconnects;
	}
	/*
	 * Monotonic sums, but not counters: the seed's names lack _total, which counters need.
	 * promtool refuses "_count" on a gauge, so the two with that suffix are untyped, and the
	 * conventional counters follow (docs/metrics.md).
	 */
	mm_metrics_family(b, "mqtt_active_sessions", MM_METRICS_GAUGE, "Sessions configured.");
	mm_metrics_sample_u64(b, "mqtt_active_sessions", NULL, 0, in->nsessions);
	mm_metrics_family(b, "mqtt_total_messages", MM_METRICS_GAUGE,
			  "Messages sent plus received by all sessions, ever (monotonic).");
	mm_metrics_sample_u64(b, "mqtt_total_messages", NULL, 0, msgs);
	mm_metrics_family(b, "mqtt_total_bytes", MM_METRICS_GAUGE,
			  "Payload bytes sent plus received by all sessions, ever (monotonic).");
	mm_metrics_sample_u64(b, "mqtt_total_bytes", NULL, 0, bytes);
	mm_metrics_family(b, "mqtt_error_count", MM_METRICS_UNTYPED,
			  "Errors of all sessions, ever (monotonic; also mqttmux_errors_total).");
	mm_metrics_sample_u64(b, "mqtt_error_count", NULL, 0, errs);
	mm_metrics_family(b, "mqtt_reconnect_count", MM_METRICS_UNTYPED,
			  "Reconnection attempts of all sessions, ever (monotonic; also "
			  "mqttmux_reconnects_total).");
	mm_metrics_sample_u64(b, "mqtt_reconnect_count", NULL, 0, reconns);
	mm_metrics_family(b, "mqttmux_errors_total", MM_METRICS_COUNTER,
			  "Errors of all sessions, removed ones included.");
	mm_metrics_sample_u64(b, "mqttmux_errors_total", NULL, 0, errs);
	mm_metrics_family(b, "mqttmux_reconnects_total", MM_METRICS_COUNTER,
			  "Reconnection attempts of all sessions, removed ones included.");
	mm_metrics_sample_u64(b, "mqttmux_reconnects_total", NULL, 0, reconns);
	mm_metrics_family(b, "mqttmux_uptime_seconds", MM_METRICS_GAUGE,
			  "Seconds since the supervisor started.");
	mm_metrics_sample_f64(b, "mqttmux_uptime_seconds", NULL, 0, in->uptime_s);
	mm_metrics_family(b, "mqttmux_build_info", MM_METRICS_GAUGE,
			  "Always 1; the version label is mqttmux's version.");
	mm_metrics_sample_u64(b, "mqttmux_build_info", &l, 1, 1);
}

/* Publish completions by result, and the event loop of each running worker. */
static void put_session_labelled(struct mm_metrics_buf *b, const void *const *objs, size_t n)
{
	static const char pub[] = "mqttmux_session_publish_completions_total";
	static const char loop[] = "mqttmux_session_event_loop_info";
	const struct mm_metrics_session *s;
	struct mm_metrics_label l[2] = { { "session", NULL }, { "result", NULL } };

	mm_metrics_family(b, pub, MM_METRICS_COUNTER,
			  "Publishes completed, by result (ok, error).");
	for (size_t i = 0; i < n; i++) {
		s = objs[i];
		l[0].value = obj_name(s);
		l[1].value = "error";
		mm_metrics_sample_u64(b, pub, l, 2, s->pub_failed);
		l[1].value = "ok";
		mm_metrics_sample_u64(b, pub, l, 2, s->pub_ok);
	}
	l[1].name = "backend";
	mm_metrics_family(b, loop, MM_METRICS_GAUGE,
			  "Always 1; the backend label is the running worker's event loop.");
	for (size_t i = 0; i < n; i++) {
		s = objs[i];
		if (!s->backend)
			continue;
		l[0].value = obj_name(s);
		l[1].value = s->backend;
		mm_metrics_sample_u64(b, loop, l, 2, 1);
	}
}

int mm_metrics_render(struct mm_metrics_buf *b, const struct mm_metrics_input *in)
{
	static const char lat[] = "mqttmux_delivery_latency_seconds";
	const void **sess, **cli;
	int r = -ENOMEM;

	sess = sort_objs(in->sessions, in->nsessions, sizeof(*in->sessions), cmp_name);
	cli = sort_objs(in->clients, in->nclients, sizeof(*in->clients), cmp_client);
	if (!sess || !cli)
		goto out_free;
	put_fields(b, seed_families, NELEM(seed_families), sess, in->nsessions, "session", false);
	put_manager(b, in);
	put_fields(b, own_session_families, NELEM(own_session_families), sess, in->nsessions,
		   "session", false);
	put_session_labelled(b, sess, in->nsessions);
	put_fields(b, client_families, NELEM(client_families), cli, in->nclients, "client", true);
	if (in->router)
		put_router(b, in->router);
	if (in->latency) {
		mm_metrics_family(b, lat, MM_METRICS_HISTOGRAM,
				  "Time from broker receive to client delivery.");
		mm_metrics_histogram(b, lat, NULL, 0, in->latency);
	}
	mm_metrics_render_ops(b, in);
	r = mm_metrics_buf_err(b);
out_free:
	free(sess);
	free(cli);
	return r;
}
