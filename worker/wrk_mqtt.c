/* SPDX-License-Identifier: MIT */
/*
 * libmosquitto glue for the worker: the client object and its options, and the callbacks that
 * turn protocol events into session state, events and completions (a CONNACK or a disconnect
 * moves the connection's state machine, wrk_fsm.c). Connection attempts, losses and the
 * reconnect timer are wrk_conn.c; messages are handled in wrk_bridge.c; the loop that drives
 * libmosquitto is wrk_run.c.
 */
#include <errno.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mm_time.h"
#include "wrk.h"
#include "wrk_tls.h"

#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

static const char *mosq_why(int rc)
{
	return rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
}

void mm_wrk_set_state(struct mm_wrk *w, enum mm_sess_state st)
{
	atomic_store_explicit(&w->stats->state, st, memory_order_relaxed);
	atomic_store_explicit(&w->stats->connected, st == MM_SESS_CONNECTED || st == MM_SESS_READY,
			      memory_order_relaxed);
}

static void count_error(struct mm_wrk *w, int32_t code)
{
	atomic_fetch_add_explicit(&w->stats->errors, 1, memory_order_relaxed);
	atomic_store_explicit(&w->stats->last_err_ns, mm_time_real_ns(), memory_order_relaxed);
	atomic_store_explicit(&w->stats->last_err_code, code, memory_order_relaxed);
}

/*
 * The -errno that a failed libmosquitto call stands for in events and stats: errno itself,
 * -EPROTO for a TLS failure (refused certificate, handshake error), else <other>.
 */
int mm_wrk_mosq_errno(int rc, int other)
{
	if (rc == MOSQ_ERR_ERRNO)
		return -errno;
	return rc == MOSQ_ERR_TLS ? -EPROTO : other;
}

/*
 * Count the failure of the current connection (or attempt) as an error. Once per connection:
 * the caller knows from the state machine (a refused CONNACK is counted when it comes, and
 * its close is not counted again).
 */
void mm_wrk_count_failure(struct mm_wrk *w, int32_t code)
{
	count_error(w, code);
}

static void on_connect(struct mosquitto *m, void *ud, int rc, int flags,
		       const mosquitto_property *props)
{
	struct mm_wrk *w = ud;
	const struct mm_cfg_broker *b = &w->cfg->brokers[w->broker];

	(void)m;
	(void)props;
	if (rc != 0) {
		mm_wrk_count_failure(w, rc);
		(void)mm_wrk_fsm_feed(&w->conn, MM_WRK_CONN_EV_REFUSED);
		mm_log(MM_LOG_WARNING, "broker '%s' refused the connection: %s", b->host,
		       mosquitto_reason_string(rc));
		mm_wrk_emit_event(w, MM_EV_DISCONNECTED, rc, mosquitto_reason_string(rc));
		return; /* libmosquitto closes the socket; wrk_run notices and reconnects */
	}
	(void)mm_wrk_fsm_feed(&w->conn, MM_WRK_CONN_EV_CONNACK);
	w->connected_ns = mm_time_mono_ns();
	w->heard_ns = w->connected_ns;
	(void)mm_wrk_loop_timer_cancel(w->loop, MM_WRK_TOK(MM_WRK_TOK_CONNECT, w->idx, 0));
	if (!(flags & 0x01)) /* no session present: nothing will come again */
		mm_wrk_unacked_forget(w);
	atomic_fetch_add_explicit(&w->stats->connects, 1, memory_order_relaxed);
	atomic_store_explicit(&w->stats->connected_since_ns, mm_time_real_ns(),
			      memory_order_relaxed);
	mm_wrk_set_state(w, MM_SESS_CONNECTED);
	mm_wrk_emit_event(w, MM_EV_CONNECTED, 0, b->tls ? "tls" : "tcp");
	mm_log(MM_LOG_INFO, "connected to '%s' port %u", b->path[0] ? b->path : b->host, b->port);
	if (mm_wrk_resubscribe(w) < 0)
		mm_log(MM_LOG_WARNING, "resubscribing failed, will retry on the next connection");
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc, const mosquitto_property *props)
{
	struct mm_wrk *w = ud;

	(void)m;
	(void)props;
	/* Pitfall 5: may fire twice for one loss; the socket watch in wrk_run is what counts. */
	if (rc != 0)
		mm_log(MM_LOG_INFO, "disconnected: %s", mosquitto_reason_string(rc));
	(void)mm_wrk_fsm_feed(&w->conn, MM_WRK_CONN_EV_DISCONNECTED);
}

static void on_publish(struct mosquitto *m, void *ud, int mid, int reason,
		       const mosquitto_property *props)
{
	struct mm_wrk *w = ud;
	struct mm_wrk_pending *p = mm_wrk_pending_take(w, mid);
	bool ok = reason < 0x80;

	(void)m;
	(void)props;
	if (!p)
		return;
	atomic_fetch_add_explicit(ok ? &w->stats->pub_ok : &w->stats->pub_failed, 1,
				  memory_order_relaxed);
	if (ok) {
		atomic_fetch_add_explicit(&w->stats->msgs_out, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&w->stats->bytes_out, p->bytes, memory_order_relaxed);
	}
	mm_wrk_emit_completion(w, MM_REC_CMD_PUB, p->req_id, ok ? 0 : -EREMOTEIO, reason);
}

/* The stats gauge follows the set at each SUBACK/UNSUBACK, not only at reconnects. */
static void count_filters(struct mm_wrk *w)
{
	atomic_store_explicit(&w->stats->subscriptions, (uint32_t)w->n_filters,
			      memory_order_relaxed);
}

static bool granted_ok(int qos_count, const int *granted)
{
	for (int i = 0; i < qos_count; i++)
		if (granted[i] >= 0x80)
			return false;
	return true;
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int qos_count, const int *granted,
			 const mosquitto_property *props)
{
	struct mm_wrk *w = ud;
	struct mm_wrk_pending *p = mm_wrk_pending_take(w, mid);
	bool ok = granted_ok(qos_count, granted);

	(void)m;
	(void)props;
	if (!p)
		return;
	count_filters(w);
	if (!ok) {
		count_error(w, qos_count ? granted[0] : -EIO);
		mm_wrk_emit_event(w, MM_EV_SUB_FAILED, qos_count ? granted[0] : 0, "refused");
	}
	if (p->req_id)
		mm_wrk_emit_completion(w, MM_REC_CMD_SUB, p->req_id, ok ? 0 : -EREMOTEIO,
				       qos_count ? granted[0] : 0);
	if (w->sub_waiting && --w->sub_waiting == 0) {
		mm_wrk_set_state(w, MM_SESS_READY);
		mm_wrk_emit_event(w, MM_EV_READY, 0, w->cfg->brokers[w->broker].host);
	}
}

static void on_unsubscribe(struct mosquitto *m, void *ud, int mid, const mosquitto_property *props)
{
	struct mm_wrk *w = ud;
	struct mm_wrk_pending *p;

	(void)m;
	(void)props;
	if (mm_wrk_unacked_probe_answered(w, mid))
		return;
	p = mm_wrk_pending_take(w, mid);
	count_filters(w);
	if (p && p->req_id)
		mm_wrk_emit_completion(w, MM_REC_CMD_UNSUB, p->req_id, 0, 0);
}

static int set_will(struct mm_wrk *w)
{
	const struct mm_cfg_will *wl = &w->cfg->will;

	if (!wl->set)
		return MOSQ_ERR_SUCCESS;
	return mosquitto_will_set(w->mosq, wl->topic, (int)strlen(wl->payload), wl->payload,
				  wl->qos, wl->retain);
}

static bool any_tls(const struct mm_cfg_session *c)
{
	for (size_t i = 0; i < c->n_brokers; i++)
		if (c->brokers[i].tls)
			return true;
	return false;
}

/* The session's TLS context, when any of its brokers speaks TLS (wrk_tls.c). */
static int tls_new(struct mm_wrk *w, char *why, size_t why_size)
{
	const struct mm_cfg_tls *t = &w->cfg->tls;
	int rc;

	if (!any_tls(w->cfg))
		return 0;
	rc = mm_wrk_tls_init(&w->tls, t, t->ca_file ? t->ca_file : SYSTEM_CA_BUNDLE, why, why_size);
	if (rc == 0 && t->skip_verify)
		mm_log(MM_LOG_WARNING,
		       "session '%s': tls.skip_verify is set: the broker's "
		       "certificate and host name are NOT verified",
		       w->cfg->name);
	return rc;
}

/* libmosquitto's own error and warning lines (TLS details, for one) go to our log. */
static void on_log(struct mosquitto *m, void *ud, int level, const char *line)
{
	(void)m;
	(void)ud;
	if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
		mm_log(MM_LOG_INFO, "libmosquitto: %s", line);
}

static void set_callbacks(struct mosquitto *m)
{
	mosquitto_log_callback_set(m, on_log);
	mosquitto_connect_v5_callback_set(m, on_connect);
	mosquitto_disconnect_v5_callback_set(m, on_disconnect);
	mosquitto_publish_v5_callback_set(m, on_publish);
	mosquitto_message_v5_callback_set(m, mm_wrk_on_message);
	mosquitto_subscribe_v5_callback_set(m, on_subscribe);
	mosquitto_unsubscribe_v5_callback_set(m, on_unsubscribe);
}

/* CONNECT properties for MQTT 5: session expiry for persistent sessions, packet size cap. */
static mosquitto_property *connect_props(const struct mm_cfg_session *c)
{
	mosquitto_property *p = NULL;

	if (c->protocol != MM_CFG_PROTOCOL_5)
		return NULL;
	if (c->persistent && !c->clean_session)
		(void)mosquitto_property_add_int32(&p, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
						   UINT32_MAX);
	(void)mosquitto_property_add_int32(&p, MQTT_PROP_MAXIMUM_PACKET_SIZE,
					   c->perf.max_message_size);
	return p;
}

/*
 * Store the session's CONNECT properties in the client object without connecting.
 * libmosquitto 2.0.11 takes MQTT 5 CONNECT properties only in the blocking
 * mosquitto_connect_bind_v5(), which stores them in the client object (connect.c: copied
 * before the host is even looked at) and then connects with a blocking TCP connect; its
 * non-blocking mosquitto_connect_bind_async() (wrk_conn.c) sends whatever properties the
 * object holds. So they are stored once per client object, with a connect_bind_v5() call that
 * is made to stop right after storing them (a NULL host: MOSQ_ERR_INVAL from __connect_init).
 * Returns 0, or -EINVAL if libmosquitto refused the properties.
 */
static int connect_props_set(struct mm_wrk *w)
{
	mosquitto_property *props = connect_props(w->cfg);
	int rc;

	if (!props)
		return 0;
	rc = mosquitto_connect_bind_v5(w->mosq, NULL, 0, w->cfg->keepalive, NULL, props);
	mosquitto_property_free_all(&props);
	/* INVAL from the NULL host, after the copy; anything else is about the properties. */
	return rc == MOSQ_ERR_INVAL ? 0 : -EINVAL;
}

/*
 * Give the client object every option of the session's config block (after mosquitto_new, and
 * again after mosquitto_reinitialise, which forgets them all). It starts without TLS; each
 * attempt picks the transport of its URL (wrk_conn.c). Returns 0, or -EINVAL with the option
 * at fault in <why>.
 */
static int configure(struct mm_wrk *w, char *why, size_t why_size)
{
	const struct mm_cfg_session *c = w->cfg;
	int rc;

	(void)mosquitto_threaded_set(w->mosq, true); /* ack after commit: see DESIGN.md §4 */
	(void)mosquitto_int_option(w->mosq, MOSQ_OPT_PROTOCOL_VERSION,
				   c->protocol == MM_CFG_PROTOCOL_5 ? MQTT_PROTOCOL_V5
								    : MQTT_PROTOCOL_V311);
	(void)mosquitto_int_option(w->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	/*
	 * MQTT 5 Receive Maximum at its largest: mosquitto 2.0.11 counts a QoS >= 1 message it
	 * queues for us against our Receive Maximum when it queues it, so it sends more QoS 2
	 * messages at once than we allowed, and libmosquitto closes the connection as a protocol
	 * error when its own count runs out (docs/worker.md). 65535 cannot run out: that is every
	 * packet id. Memory stays bounded: we stop reading when the in-ring is full.
	 */
	(void)mosquitto_int_option(w->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, 65535);
	set_callbacks(w->mosq);
	w->tls_on = false;
	if (c->username &&
	    mosquitto_username_pw_set(w->mosq, c->username, c->password) != MOSQ_ERR_SUCCESS) {
		snprintf(why, why_size, "username/password_file: refused by libmosquitto");
		return -EINVAL;
	}
	rc = set_will(w);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(why, why_size, "will: refused by libmosquitto: %s", mosq_why(rc));
		return -EINVAL;
	}
	rc = connect_props_set(w);
	if (rc < 0)
		snprintf(why, why_size, "protocol: CONNECT properties refused by libmosquitto");
	return rc;
}

/*
 * Create the session's client with every option of its config block. Returns 0, or -EINVAL
 * with the option at fault in <why> (the caller exits with EX_CONFIG), or -ENOMEM.
 */
int mm_wrk_mqtt_new(struct mm_wrk *w, char *why, size_t why_size)
{
	int rc = tls_new(w, why, why_size);

	if (rc < 0)
		return rc;
	w->mosq = mosquitto_new(w->cfg->client_id, w->cfg->clean_session, w);
	if (!w->mosq) {
		snprintf(why, why_size, "client_id: refused by libmosquitto: %s", strerror(errno));
		return errno == ENOMEM ? -ENOMEM : -EINVAL;
	}
	return configure(w, why, why_size);
}

/*
 * Reset the client object to its configured state without TLS. libmosquitto 2.0.11 cannot
 * take a TLS context back (MOSQ_OPT_SSL_CTX refuses NULL until 2.0.12), so a session whose
 * broker list mixes TLS and plain URLs starts its object afresh when it goes from a TLS URL to
 * a plain one. The object forgets the publishes it would have resent: they fail now with
 * -ECONNRESET (they may or may not have reached the previous broker). Returns 0 or -errno.
 */
int mm_wrk_mqtt_reset(struct mm_wrk *w)
{
	char why[256];
	int rc;

	mm_wrk_pending_fail_all(w, -ECONNRESET, true);
	mm_wrk_ra_detach(&w->ra); /* the socket goes */
	rc = mosquitto_reinitialise(w->mosq, w->cfg->client_id, w->cfg->clean_session, w);
	if (rc != MOSQ_ERR_SUCCESS)
		return mm_wrk_mosq_errno(rc, -ENOMEM);
	rc = configure(w, why, sizeof(why));
	if (rc < 0)
		mm_log(MM_LOG_ERROR, "resetting the client failed: %s", why);
	return rc;
}

void mm_wrk_mqtt_free(struct mm_wrk *w)
{
	if (w->mosq)
		mosquitto_destroy(w->mosq);
	w->mosq = NULL;
	mm_wrk_ra_free(&w->ra);
	mm_wrk_frame_free(&w->frame);
	mm_wrk_tls_done(&w->tls);
}

/*
 * Subscribe every filter (config and commands) on the fresh connection; READY is reported
 * when the last SUBACK arrives (or now, if there is nothing to subscribe). Returns 0 or a
 * negative error from libmosquitto.
 */
int mm_wrk_resubscribe(struct mm_wrk *w)
{
	int rc = 0;

	w->sub_waiting = 0;
	for (size_t i = 0; i < w->n_filters; i++) {
		struct mm_wrk_filter *f = &w->filters[i];
		int mid, r;

		r = mosquitto_subscribe(w->mosq, &mid, f->topic, f->qos);
		if (r != MOSQ_ERR_SUCCESS ||
		    mm_wrk_pending_add(w, mid, MM_REC_CMD_SUB, 0, 0, 0) < 0) {
			rc = -EIO;
			continue;
		}
		w->sub_waiting++;
	}
	count_filters(w);
	if (w->sub_waiting == 0) {
		mm_wrk_set_state(w, MM_SESS_READY);
		mm_wrk_emit_event(w, MM_EV_READY, 0, w->cfg->brokers[w->broker].host);
	}
	return rc;
}
