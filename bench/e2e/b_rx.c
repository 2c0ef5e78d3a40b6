/* SPDX-License-Identifier: MIT */
/*
 * The receivers of bench-e2e, each a forked process writing into its struct b_rx: a libmqttmux
 * client (one callback route on B_E2E_FILTER at QoS 0, sleeping in mqttmux_dispatch when its
 * ring is empty) or a plain libmosquitto subscriber (mosquitto_loop, subscribed at QoS 0). Both
 * count messages, stamp the first and the last, and keep latency samples: publisher stamp to
 * callback, and (mqttmux) the worker's receive stamp to callback, CLOCK_REALTIME.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "b_e2e.h"
#include "b_worker.h"
#include "mqttmux.h"

static const struct b_rxs *Page; /* this receiver's page (set in the child) */

static uint32_t clamp_ns(uint64_t now, uint64_t then)
{
	uint64_t d = now > then ? now - then : 0;

	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* The publisher's send stamp in <payload>, binary or text (page->text); 0 if none. */
static uint64_t sent_stamp(const struct b_rxs *page, const void *payload, size_t len)
{
	uint64_t seq, sent = 0;

	if (page->text && b_text_get(payload, len, &seq, &sent) < 0)
		return 0;
	if (!page->text && len >= 16)
		memcpy(&sent, (const uint8_t *)payload + 8, 8);
	return sent;
}

/* One message: <worker_ns> is the worker's receive stamp, 0 for a plain subscriber. */
static void take(struct b_rx *rx, const void *payload, size_t len, uint64_t worker_ns)
{
	uint64_t mono = mm_time_mono_ns(), n = atomic_load_explicit(&rx->n, memory_order_relaxed);
	uint64_t sent = sent_stamp(Page, payload, len);

	if (n == 0)
		rx->first_ns = mono;
	if (sent && rx->nlat < B_E2E_LAT_MAX) {
		uint64_t real = mm_time_real_ns();

		rx->p2c[rx->nlat] = clamp_ns(real, sent);
		rx->w2c[rx->nlat] = worker_ns ? clamp_ns(real, worker_ns) : 0;
		rx->nlat++;
	}
	atomic_store_explicit(&rx->last_ns, mono, memory_order_relaxed);
	atomic_store_explicit(&rx->n, n + 1, memory_order_release);
}

static int wait_ms(const struct b_rxs *page)
{
	return page->wait_ms > 0 ? page->wait_ms : 100;
}

/* ---- libmqttmux ---- */

static void mm_on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	(void)r;
	take(ud, m->payload, m->payload_len, m->recv_ns);
}

static void mm_on_gap(struct mqttmux *c, const char *session, uint64_t lost, void *ud)
{
	(void)c;
	(void)session;
	atomic_fetch_add(&((struct b_rx *)ud)->lost, lost);
}

static int mm_main(const struct b_stack *s, struct b_rxs *page, struct b_rx *rx)
{
	uint64_t deadline = mm_time_mono_ns() + 10000000000ull;
	struct mqttmux *c;
	int err = 0, rc = 0;

	while (!(c = mqttmux_open(s->run, &err)) && mm_time_mono_ns() < deadline)
		usleep(10000);
	if (!c) {
		fprintf(stderr, "bench-e2e: mqttmux_open: %s\n", strerror(-err));
		return -1;
	}
	(void)mqttmux_set_route_qos(c, 0);
	(void)mqttmux_on_gap(c, mm_on_gap, rx);
	if (!mqttmux_handle(c, B_E2E_FILTER, mm_on_msg, rx)) {
		fprintf(stderr, "bench-e2e: mqttmux_handle: %s\n", strerror(errno));
		mqttmux_close(c);
		return -1;
	}
	atomic_store(&rx->ready, 1);
	while (!atomic_load(&page->stop) && (rc = mqttmux_dispatch(c, wait_ms(page))) >= 0)
		;
	if (rc < 0)
		fprintf(stderr, "bench-e2e: mqttmux_dispatch: %s\n", strerror(-rc));
	mqttmux_close(c);
	return rc < 0 ? -1 : 0;
}

/* ---- plain libmosquitto ---- */

static void pl_on_connect(struct mosquitto *m, void *ud, int rc)
{
	(void)ud;
	if (rc == 0)
		(void)mosquitto_subscribe(m, NULL, B_E2E_FILTER, 0);
}

static void pl_on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	(void)m;
	(void)mid;
	(void)n;
	(void)granted;
	atomic_store(&((struct b_rx *)ud)->ready, 1);
}

static void pl_on_msg(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	(void)m;
	take(ud, msg->payload, (size_t)msg->payloadlen, 0);
}

static int plain_main(const struct b_stack *s, struct b_rxs *page, struct b_rx *rx)
{
	struct mosquitto *m;
	int rc = MOSQ_ERR_SUCCESS;

	mosquitto_lib_init();
	m = mosquitto_new(NULL, true, rx);
	if (!m)
		return -1;
	mosquitto_connect_callback_set(m, pl_on_connect);
	mosquitto_subscribe_callback_set(m, pl_on_subscribe);
	mosquitto_message_callback_set(m, pl_on_msg);
	if (mosquitto_connect(m, "127.0.0.1", s->port, 60) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "bench-e2e: plain subscriber: no connection\n");
		return -1;
	}
	while (!atomic_load(&page->stop) && rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_loop(m, wait_ms(page), 1);
	if (rc != MOSQ_ERR_SUCCESS)
		fprintf(stderr, "bench-e2e: plain subscriber: %s\n", mosquitto_strerror(rc));
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

/* Fork receiver <i> of <page>; it runs until page->stop. */
pid_t b_rx_spawn(enum b_rx_kind kind, const struct b_stack *s, struct b_rxs *page, int i)
{
	pid_t pid = fork();

	if (pid == 0) {
		int rc;

		Page = page;
		rc = kind == B_RX_PLAIN ? plain_main(s, page, &page->rx[i])
					: mm_main(s, page, &page->rx[i]);

		if (rc < 0)
			atomic_store(&page->rx[i].ready, -1);
		_exit(rc < 0 ? 1 : 0);
	}
	return pid == -1 ? -errno : pid;
}

/* Have receivers 0..n-1 all said ready? */
bool b_rx_all_ready(struct b_rxs *page, int n)
{
	for (int i = 0; i < n; i++)
		if (atomic_load(&page->rx[i].ready) != 1)
			return false;
	return true;
}
