/* SPDX-License-Identifier: MIT */
/* A test's own libmosquitto client: connected means CONNACK received (t_mosq.h). */
#include "t_mosq.h"

#include <stdatomic.h>
#include <stdint.h>

#include <mosquitto.h>

#include "t_helpers.h"

/* The clients waiting in t_mosq_connect(): few at once, and the loop runs in this thread. */
#define T_MOSQ_MAX 16

static struct {
	struct mosquitto *m;
	int rc; /* -1 until the CONNACK */
} Waiting[T_MOSQ_MAX];

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	(void)ud;
	for (int i = 0; i < T_MOSQ_MAX; i++)
		if (Waiting[i].m == m)
			Waiting[i].rc = rc;
}

bool t_mosq_connect(struct mosquitto *m, const char *host, int port, int keepalive, int timeout_ms)
{
	uint64_t deadline = t_now_ns() + (uint64_t)timeout_ms * 1000000u;
	int slot = -1;
	bool ok = false;

	for (int i = 0; i < T_MOSQ_MAX && slot < 0; i++)
		if (!Waiting[i].m)
			slot = i;
	if (slot < 0)
		return false;
	Waiting[slot].m = m;
	Waiting[slot].rc = -1;
	mosquitto_connect_callback_set(m, on_connect);
	if (mosquitto_connect(m, host, port, keepalive) == MOSQ_ERR_SUCCESS) {
		while (Waiting[slot].rc < 0 && t_now_ns() < deadline)
			(void)mosquitto_loop(m, 20, 1);
		ok = Waiting[slot].rc == 0;
	}
	Waiting[slot].m = NULL;
	return ok;
}
