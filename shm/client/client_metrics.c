/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux: the Prometheus text of `metrics` parsed into struct mqttmux_metrics (the
 * families of docs/metrics.md). Text that is not ours (another exporter's families, broken
 * lines, labels we do not know) is skipped, never trusted: the text comes over a socket.
 * Apart from mqttmux_metrics(), which fetches the text (client_ctl.c); the fuzz target
 * tests/fuzz/fuzz_metrics.c feeds this parser hostile text.
 */
#include "client_metrics.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

enum kind { U64, DBL, FLAG, INT };

struct family {
	const char *name;
	size_t off;
	enum kind kind;
};

#define SM(f) offsetof(struct mqttmux_session_metrics, f)
#define MM(f) offsetof(struct mqttmux_metrics, f)

static const struct family session_families[] = {
	{ "mqtt_session_messages_sent_total", SM(messages_sent), U64 },
	{ "mqtt_session_messages_received_total", SM(messages_received), U64 },
	{ "mqtt_session_bytes_sent_total", SM(bytes_sent), U64 },
	{ "mqtt_session_bytes_received_total", SM(bytes_received), U64 },
	{ "mqtt_session_errors_total", SM(errors), U64 },
	{ "mqtt_session_reconnects_total", SM(reconnects), U64 },
	{ "mqtt_session_connected", SM(connected), FLAG },
	{ "mqtt_session_subscriptions", SM(subscriptions), U64 },
	{ "mqtt_session_last_message_timestamp_seconds", SM(last_message_time), DBL },
	{ "mqtt_session_last_error_timestamp_seconds", SM(last_error_time), DBL },
	{ "mqtt_session_persistent", SM(persistent), FLAG },
	{ "mqtt_session_clean_session", SM(clean_session), FLAG },
	{ "mqtt_session_auto_reconnect", SM(auto_reconnect), FLAG },
	{ "mqtt_session_status", SM(status), INT },
	{ "mqtt_session_message_rate", SM(message_rate), DBL },
	{ "mqtt_session_avg_message_rate", SM(avg_message_rate), DBL },
	{ "mqtt_session_bytes_rate", SM(bytes_rate), DBL },
	{ "mqttmux_session_worker_restarts_total", SM(restarts), U64 },
	{ "mqttmux_session_failed", SM(failed), FLAG },
	{ "mqttmux_session_in_ring_size_bytes", SM(in_ring_size), U64 },
	{ "mqttmux_session_in_ring_fill_bytes", SM(in_ring_fill), U64 },
	{ "mqttmux_session_in_ring_high_water_bytes", SM(in_ring_high_water), U64 },
	{ "mqttmux_session_oversize_dropped_total", SM(oversize_dropped), U64 },
};

static const struct family manager_families[] = {
	{ "mqtt_active_sessions", MM(active_sessions), U64 },
	{ "mqtt_total_messages", MM(total_messages), U64 },
	{ "mqtt_total_bytes", MM(total_bytes), U64 },
	{ "mqtt_error_count", MM(error_count), U64 },
	{ "mqtt_reconnect_count", MM(reconnect_count), U64 },
	{ "mqttmux_uptime_seconds", MM(uptime_seconds), DBL },
	{ "mqttmux_router_messages_total", MM(router_messages), U64 },
	{ "mqttmux_router_fanout_total", MM(router_fanout), U64 },
	{ "mqttmux_router_unrouted_total", MM(router_unrouted), U64 },
	{ "mqttmux_router_dropped_total", MM(router_dropped), U64 },
	{ "mqttmux_router_restarts_total", MM(router_restarts), U64 },
};

/* One sample line, split: name, the values of the labels we use, the value. */
struct sample {
	char name[128];
	char session[MM_CTL_NAME_MAX + 1];
	char result[16];
	char value[64];
};

/* Copy the quoted label value at <p> (after its opening quote), unescaping. */
static const char *label_value(const char *p, char *out, size_t size)
{
	size_t n = 0;

	for (; *p && *p != '"'; p++) {
		char c = *p;

		if (c == '\\' && p[1])
			c = *++p == 'n' ? '\n' : *p;
		if (n + 1 >= size)
			return NULL;
		out[n++] = c;
	}
	out[n] = '\0';
	return *p == '"' ? p + 1 : NULL;
}

/* {key="value",...}: keep session and result. Returns the text after '}' or NULL. */
static const char *labels(const char *p, struct sample *s)
{
	char scratch[MM_CTL_NAME_MAX + 1];

	while (*p && *p != '}') {
		const char *eq = strchr(p, '=');
		size_t klen = eq ? (size_t)(eq - p) : 0;
		char *out = scratch;
		size_t size = sizeof(scratch);

		if (!eq || eq[1] != '"')
			return NULL;
		if (klen == 7 && !memcmp(p, "session", 7))
			out = s->session, size = sizeof(s->session);
		else if (klen == 6 && !memcmp(p, "result", 6))
			out = s->result, size = sizeof(s->result);
		p = label_value(eq + 2, out, size);
		if (!p)
			return NULL;
		if (*p == ',')
			p++;
	}
	return *p == '}' ? p + 1 : NULL;
}

/* Split one line; false for comments, blank lines and what does not parse. */
static bool parse_sample(const char *line, struct sample *s)
{
	size_t n = strcspn(line, "{ ");

	memset(s, 0, sizeof(*s));
	if (!n || line[0] == '#' || n >= sizeof(s->name))
		return false;
	memcpy(s->name, line, n);
	line += n;
	if (*line == '{' && !(line = labels(line + 1, s)))
		return false;
	if (*line != ' ')
		return false;
	line++;
	n = strcspn(line, " ");
	if (!n || n >= sizeof(s->value))
		return false;
	memcpy(s->value, line, n);
	return true;
}

/* <d> as an integer in [lo, hi]: the text is untrusted, and a cast out of range is undefined. */
static double clamp(double d, double lo, double hi)
{
	return d != d ? 0 : d < lo ? lo : d > hi ? hi : d;
}

static void store(void *base, const struct family *f, const char *value)
{
	char *p = (char *)base + f->off;
	double d = strtod(value, NULL);
	uint64_t u = strtoull(value, NULL, 10);
	bool b = d != 0;
	int i = (int)clamp(d, INT_MIN, INT_MAX);

	if (strchr(value, '.') || strchr(value, 'e') || strchr(value, 'E'))
		u = d >= 0x1p64 ? UINT64_MAX : (uint64_t)clamp(d, 0, 0x1p64 - 0x1p11);
	if (f->kind == U64)
		memcpy(p, &u, sizeof(u));
	else if (f->kind == DBL)
		memcpy(p, &d, sizeof(d));
	else if (f->kind == FLAG)
		memcpy(p, &b, sizeof(b));
	else
		memcpy(p, &i, sizeof(i));
}

static const struct family *find_family(const struct family *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].name, name))
			return &t[i];
	return NULL;
}

/* The entry of session <name> in <m>, appended if new; NULL: out of memory. */
static struct mqttmux_session_metrics *session_of(struct mqttmux_metrics *m, const char *name,
						  size_t *cap)
{
	struct mqttmux_session_metrics *n;

	for (size_t i = 0; i < m->n_sessions; i++)
		if (!strcmp(m->sessions[i].name, name))
			return &m->sessions[i];
	if (m->n_sessions == *cap) {
		n = reallocarray(m->sessions, *cap ? 2 * *cap : 8, sizeof(*n));
		if (!n)
			return NULL;
		m->sessions = n;
		*cap = *cap ? 2 * *cap : 8;
	}
	n = &m->sessions[m->n_sessions];
	memset(n, 0, sizeof(*n));
	n->name = strdup(name);
	if (!n->name)
		return NULL;
	m->n_sessions++;
	return n;
}

/* Apply one sample to <m>. Returns 0 or -ENOMEM. */
static int apply(struct mqttmux_metrics *m, const struct sample *s, size_t *cap)
{
	const struct family *f;
	struct mqttmux_session_metrics *sm;

	if (!s->session[0]) {
		f = find_family(manager_families,
				sizeof(manager_families) / sizeof(manager_families[0]), s->name);
		if (f)
			store(m, f, s->value);
		return 0;
	}
	f = find_family(session_families, sizeof(session_families) / sizeof(session_families[0]),
			s->name);
	if (!f && strcmp(s->name, "mqttmux_session_publish_completions_total"))
		return 0;
	sm = session_of(m, s->session, cap);
	if (!sm)
		return -ENOMEM;
	if (f)
		store(sm, f, s->value);
	else if (!strcmp(s->result, "ok"))
		sm->publish_ok = strtoull(s->value, NULL, 10);
	else if (!strcmp(s->result, "error"))
		sm->publish_failed = strtoull(s->value, NULL, 10);
	return 0;
}

MQTTMUX_PUBLIC void mqttmux_metrics_free(struct mqttmux_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_sessions; i++)
		free(m->sessions[i].name);
	free(m->sessions);
	free(m);
}

/*
 * Parse the metrics <text> (modified: split into lines in place) into a new *<ret>, which the
 * caller frees with mqttmux_metrics_free. Returns 0, -EPROTO when no line is a sample of ours
 * (not mqttmux's text), or -ENOMEM.
 */
int mm_cl_metrics_parse(char *text, struct mqttmux_metrics **ret)
{
	struct mqttmux_metrics *m = calloc(1, sizeof(*m));
	char *save = NULL;
	size_t cap = 0, good = 0;
	struct sample s;
	int r = m ? 0 : -ENOMEM;

	for (char *line = m ? strtok_r(text, "\n", &save) : NULL; line && r == 0;
	     line = strtok_r(NULL, "\n", &save))
		if (parse_sample(line, &s)) {
			good++;
			r = apply(m, &s, &cap);
		}
	if (r == 0 && !good)
		r = -EPROTO;
	if (r < 0) {
		mqttmux_metrics_free(m);
		return r;
	}
	*ret = m;
	return 0;
}
