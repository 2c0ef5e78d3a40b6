/* SPDX-License-Identifier: MIT */
/*
 * MQTT 5 helpers of the integration suites: random PUBLISH property sets of every type a
 * publisher can send (with the bytes a broker forwards for them), and a plain libmosquitto
 * MQTT 5 publisher on its own network thread. Criterion assertions inside.
 */
#ifndef T_MQTT5_H
#define T_MQTT5_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mosquitto.h>

#include "mqttmux.h"

#define T_MQTT5_ALIASES 10 /* mosquitto's default max_topic_alias */

/* One random property set: what the publisher sends and what subscribers must get. */
struct t_pset {
	mosquitto_property *list; /* for mosquitto_publish_v5 */
	uint8_t *fwd;		  /* the forwarded properties' wire bytes, in publisher order */
	size_t fwd_len;
	uint32_t expiry; /* message expiry sent, 0: none (the broker appends what is left) */
	int alias;	 /* topic alias sent, 0: none */
	int qos;	 /* what it is published at */
};

/*
 * Fill <p> with a random subset of payload format, message expiry, content type, response
 * topic, correlation data, topic alias (1..T_MQTT5_ALIASES, <alias>; 0: none) and 0..20 user
 * properties (repeated names, multi-byte strings, empty ones at QoS 0), drawn from <rng>, for
 * a publish at <qos>.
 */
void t_pset_random(struct t_pset *p, uint64_t *rng, int alias, int qos);
/* Free what <p> holds; t_pset_drop_list frees only the publisher's list (once published). */
void t_pset_free(struct t_pset *p);
void t_pset_drop_list(struct t_pset *p);

/*
 * Compare the properties a subscriber got with <p>: the forwarded bytes exactly, then (if
 * <p> had one) one message expiry between expiry - 120 and expiry. Returns NULL or a static
 * description of the first difference.
 */
const char *t_pset_check(const struct t_pset *p, const void *props, size_t len);

/* A libmosquitto MQTT 5 client with its network thread, counting acknowledged publishes. */
struct t_pub5 {
	struct mosquitto *m;
	atomic_int acked;
};

void t_pub5_open(struct t_pub5 *p, const char *host, int port);
/* For t_wait_for: at least one publish of <ud> (a struct t_pub5) was acknowledged. */
bool t_pub5_acked_one(void *ud);
void t_pub5_close(struct t_pub5 *p);

#endif /* T_MQTT5_H */
