/* SPDX-License-Identifier: MIT */
/*
 * A test's own libmosquitto client (a publisher or a direct subscriber beside mqttmux).
 */
#ifndef T_MOSQ_H
#define T_MOSQ_H

#include <stdbool.h>

struct mosquitto;

/*
 * mosquitto_connect() to <host>:<port>, then run the client's loop until the CONNACK has come
 * (or <timeout_ms> pass), before any loop thread starts. Returns true once connected.
 *
 * Why: libmosquitto sends the QoS 1/2 messages in flight again (as duplicates) when a CONNACK
 * arrives, so a stream published before it may reach the broker twice (up to max_inflight
 * messages), which a test counting exact deliveries reads as mqttmux's duplicates. Replaces
 * the client's connect callback with its own; set yours after this call if you need one.
 */
bool t_mosq_connect(struct mosquitto *m, const char *host, int port, int keepalive, int timeout_ms);

#endif /* T_MOSQ_H */
