/* SPDX-License-Identifier: MIT */
/* Random MQTT 5 property sets and a libmosquitto MQTT 5 publisher (see t_mqtt5.h). */
#include "t_mqtt5.h"

#include <mqtt_protocol.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "t_helpers.h"
#include "t_mosq.h"

/* Pieces of MQTT-valid UTF-8: ASCII, two-, three- and four-byte sequences. */
static const char *const Glyphs[] = { "a",
				      "Z",
				      "0",
				      "/",
				      " ",
				      "-",
				      "\xc3\xa9",
				      "\xc3\x9f",
				      "\xe2\x82\xac",
				      "\xe6\x97\xa5",
				      "\xf0\x9f\x98\x80" };

/*
 * libmosquitto 2.0.11 crashes copying an empty string property (mosquitto_property_copy_all,
 * fixed in 2.0.12), which mosquitto_publish_v5 does at QoS > 0: empty strings only at QoS 0.
 */
static void rand_str(uint64_t *rng, char *buf, size_t cap, size_t max_glyphs, bool empty_ok)
{
	size_t n = t_rand(rng) % (max_glyphs + 1) + (empty_ok ? 0 : 1), len = 0;

	for (size_t i = 0; i < n; i++) {
		const char *g = Glyphs[t_rand(rng) % (sizeof(Glyphs) / sizeof(Glyphs[0]))];

		if (len + strlen(g) + 1 > cap)
			break;
		memcpy(buf + len, g, strlen(g));
		len += strlen(g);
	}
	buf[len] = '\0';
}

static void fwd(struct t_pset *p, const struct mqttmux_prop *v)
{
	ssize_t n = mqttmux_prop_pack(NULL, 0, v);

	cr_assert_gt(n, 0, "property %d", v->id);
	p->fwd = realloc(p->fwd, p->fwd_len + (size_t)n);
	cr_assert_not_null(p->fwd);
	cr_assert_eq(mqttmux_prop_pack(p->fwd + p->fwd_len, (size_t)n, v), n);
	p->fwd_len += (size_t)n;
}

static void add_string(struct t_pset *p, uint64_t *rng, int id)
{
	char s[256];

	rand_str(rng, s, sizeof(s), 30, p->qos == 0);
	if (id == MQTT_PROP_RESPONSE_TOPIC && !s[0])
		strcpy(s, "reply/to");
	cr_assert_eq(mosquitto_property_add_string(&p->list, id, s), 0);
	fwd(p, &(struct mqttmux_prop){ .id = id, .data = s, .len = strlen(s) });
}

static void add_binary(struct t_pset *p, uint64_t *rng)
{
	uint8_t b[64];
	size_t n = t_rand(rng) % sizeof(b);

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)t_rand(rng);
	cr_assert_eq(
		mosquitto_property_add_binary(&p->list, MQTT_PROP_CORRELATION_DATA, b, (uint16_t)n),
		0);
	fwd(p, &(struct mqttmux_prop){ .id = MQTT_PROP_CORRELATION_DATA, .data = b, .len = n });
}

static void add_user(struct t_pset *p, uint64_t *rng)
{
	char k[128], v[256];

	if (t_rand(rng) % 4 == 0)
		strcpy(k, "same-key");
	else
		rand_str(rng, k, sizeof(k), 12, p->qos == 0);
	rand_str(rng, v, sizeof(v), 40, p->qos == 0);
	cr_assert_eq(mosquitto_property_add_string_pair(&p->list, MQTT_PROP_USER_PROPERTY, k, v),
		     0);
	fwd(p, &(struct mqttmux_prop){ .id = MQTT_PROP_USER_PROPERTY,
				       .data = k,
				       .len = strlen(k),
				       .value = v,
				       .value_len = strlen(v) });
}

/* The forwarded properties in a random order, each at most once but user properties. */
static void add_forwarded(struct t_pset *p, uint64_t *rng)
{
	int users = (int)(t_rand(rng) % 21), order[5] = { 0, 1, 2, 3, 4 };

	for (int i = 4; i > 0; i--) {
		int j = (int)(t_rand(rng) % (uint64_t)(i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (int i = 0; i < 5; i++) {
		if (t_rand(rng) % 2)
			continue;
		if (order[i] == 0) {
			uint8_t f = (uint8_t)(t_rand(rng) % 2);

			cr_assert_eq(mosquitto_property_add_byte(
					     &p->list, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, f),
				     0);
			fwd(p, &(struct mqttmux_prop){ .id = MQTT_PROP_PAYLOAD_FORMAT_INDICATOR,
						       .num = f });
		} else if (order[i] == 1) {
			add_string(p, rng, MQTT_PROP_CONTENT_TYPE);
		} else if (order[i] == 2) {
			add_string(p, rng, MQTT_PROP_RESPONSE_TOPIC);
		} else if (order[i] == 3) {
			add_binary(p, rng);
		} else {
			for (int u = 0; u < users; u++)
				add_user(p, rng);
		}
	}
}

void t_pset_random(struct t_pset *p, uint64_t *rng, int alias, int qos)
{
	memset(p, 0, sizeof(*p));
	p->qos = qos;
	if (t_rand(rng) % 2) {
		p->expiry = 100000 + (uint32_t)(t_rand(rng) % 100000);
		cr_assert_eq(mosquitto_property_add_int32(
				     &p->list, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, p->expiry),
			     0);
	}
	add_forwarded(p, rng);
	if (alias) {
		p->alias = alias;
		cr_assert_eq(mosquitto_property_add_int16(&p->list, MQTT_PROP_TOPIC_ALIAS,
							  (uint16_t)alias),
			     0);
	}
}

void t_pset_drop_list(struct t_pset *p)
{
	mosquitto_property_free_all(&p->list);
}

void t_pset_free(struct t_pset *p)
{
	t_pset_drop_list(p);
	free(p->fwd);
	p->fwd = NULL;
}

const char *t_pset_check(const struct t_pset *p, const void *props, size_t len)
{
	static char why[128];
	struct mqttmux_prop e;
	size_t off = p->fwd_len;

	if (len < p->fwd_len || (p->fwd_len && memcmp(props, p->fwd, p->fwd_len))) {
		snprintf(why, sizeof(why), "forwarded properties differ (%zu bytes, want %zu)", len,
			 p->fwd_len);
		return why;
	}
	if (!p->expiry)
		return off == len ? NULL : "properties after the forwarded ones";
	if (mqttmux_prop_next(props, len, &off, &e) != 1 || e.id != MQTTMUX_PROP_MESSAGE_EXPIRY ||
	    off != len)
		return "no message expiry at the end";
	if (e.num > p->expiry || e.num + 120 < p->expiry) {
		snprintf(why, sizeof(why), "message expiry %u, sent %u", e.num, p->expiry);
		return why;
	}
	return NULL;
}

static void pub5_acked(struct mosquitto *m, void *ud, int mid, int rc, const mosquitto_property *p)
{
	(void)m;
	(void)mid;
	(void)rc;
	(void)p;
	atomic_fetch_add(&((struct t_pub5 *)ud)->acked, 1);
}

void t_pub5_open(struct t_pub5 *p, const char *host, int port)
{
	atomic_store(&p->acked, 0);
	p->m = mosquitto_new(NULL, true, p);
	cr_assert_not_null(p->m);
	cr_assert_eq(mosquitto_int_option(p->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5), 0);
	mosquitto_publish_v5_callback_set(p->m, pub5_acked);
	(void)mosquitto_max_inflight_messages_set(p->m, 0);
	cr_assert(t_mosq_connect(p->m, host, port, 30, 30000), "publisher: no CONNACK");
	cr_assert_eq(mosquitto_loop_start(p->m), MOSQ_ERR_SUCCESS);
}

void t_pub5_close(struct t_pub5 *p)
{
	if (!p->m)
		return;
	(void)mosquitto_disconnect(p->m);
	(void)mosquitto_loop_stop(p->m, false);
	mosquitto_destroy(p->m);
	p->m = NULL;
}

bool t_pub5_acked_one(void *ud)
{
	return atomic_load(&((struct t_pub5 *)ud)->acked) > 0;
}
