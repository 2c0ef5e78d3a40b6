/* SPDX-License-Identifier: MIT */
/*
 * One connection attempt of the worker: the transport of the URL (TLS or plain, decided by
 * its scheme), the CONNECT properties, and a non-blocking connect bounded by connect_timeout.
 *
 * libmosquitto 2.0.11 takes MQTT 5 CONNECT properties only in the blocking
 * mosquitto_connect_bind_v5(), which stores them in the client object (connect.c: copied
 * before the host is even looked at) and then connects with a blocking TCP connect. Its
 * non-blocking mosquitto_connect_bind_async() sends whatever properties the object holds. So
 * the worker stores them once per client object, with a connect_bind_v5() call that is made
 * to stop right after storing them (a NULL host: MOSQ_ERR_INVAL from __connect_init), and
 * every attempt connects asynchronously: a broker that drops SYNs, or accepts and never
 * answers, costs this worker nothing but its connect_timeout, and its loop (heartbeats,
 * signals, commands) runs meanwhile. The host name is still resolved with a blocking
 * getaddrinfo() inside libmosquitto: a slow DNS server blocks the worker for its own
 * timeouts (use IP literals or a local resolver where that matters).
 */
#include <errno.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "wrk.h"

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
 * Store the session's CONNECT properties in the client object without connecting (see the
 * top of this file). Returns 0, or -EINVAL if libmosquitto refused the properties.
 */
int mm_wrk_connect_props_set(struct mm_wrk *w)
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

static void attempt_failed(struct mm_wrk *w, int code, const char *why)
{
	mm_wrk_count_failure(w, code);
	mm_wrk_schedule_reconnect(w, code, why);
}

/* Start one connection attempt to the current broker; on failure schedule the next one. */
void mm_wrk_connect(struct mm_wrk *w)
{
	const struct mm_cfg_broker *b = &w->cfg->brokers[w->broker];
	const char *host = b->path[0] ? b->path : b->host;
	int rc, code;

	w->connected = false;
	w->sub_waiting = 0;
	w->counted = false;
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
	(void)mm_wrk_loop_timer(w->loop, MM_WRK_TOK(MM_WRK_TOK_CONNECT, 0),
				(uint64_t)(w->cfg->connect_timeout * 1e9));
}
