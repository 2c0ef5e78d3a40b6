/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux's session and metrics API (include/mqttmux.h, "Sessions and metrics"): the
 * supervisor's control-socket commands add, remove, restart, status, wait and metrics through
 * ctl_io.c, their JSON replies turned into C structs, and the metrics text parsed into a typed
 * snapshot. No client handle, no state between calls. See docs/client.md ("Sessions").
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_io.h"
#include "mqttmux.h"

#define WAIT_MAX_MS ((int)(MM_CTL_WAIT_MAX * 1000))

/* A session name the line protocol can carry: 1..255 printable bytes, no blanks. */
static bool name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > MM_CTL_NAME_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* Send <line>; the reply is only checked for success. Returns 0 or -errno. */
static int call_ok(const char *dir, const char *line, int timeout_ms)
{
	struct mm_ctl_io_res res;
	int r = mm_ctl_io_call(dir, line, timeout_ms, &res);

	mm_ctl_io_res_done(&res);
	return r;
}

static int name_cmd(const char *dir, const char *cmd, const char *name)
{
	char line[MM_CTL_NAME_MAX + 16];

	if (!name_ok(name))
		return -EINVAL;
	snprintf(line, sizeof(line), "%s %s\n", cmd, name);
	return call_ok(dir, line, MM_CTL_CALL_MS);
}

MQTTMUX_PUBLIC int mqttmux_session_add(const char *runtime_dir, const char *path)
{
	char line[PATH_MAX + 8], *abs;

	if (!path || !path[0])
		return -EINVAL;
	abs = realpath(path, NULL);
	if (!abs)
		return -errno;
	if (strpbrk(abs, " \t\r\n")) {
		free(abs);
		return -EINVAL;
	}
	snprintf(line, sizeof(line), MM_CTL_CMD_ADD " %s\n", abs);
	free(abs);
	return call_ok(runtime_dir, line, MM_CTL_CALL_MS);
}

MQTTMUX_PUBLIC int mqttmux_session_remove(const char *runtime_dir, const char *name)
{
	return name_cmd(runtime_dir, MM_CTL_CMD_REMOVE, name);
}

MQTTMUX_PUBLIC int mqttmux_session_restart(const char *runtime_dir, const char *name)
{
	return name_cmd(runtime_dir, MM_CTL_CMD_RESTART, name);
}

static int wait_for(const char *dir, const char *name, int timeout_ms)
{
	char line[MM_CTL_NAME_MAX + 48];

	if (timeout_ms < 0 || timeout_ms > WAIT_MAX_MS)
		timeout_ms = WAIT_MAX_MS;
	snprintf(line, sizeof(line), MM_CTL_CMD_WAIT " %s %d.%03d\n", name, timeout_ms / 1000,
		 timeout_ms % 1000);
	return call_ok(dir, line, timeout_ms + MM_CTL_WAIT_SLACK_MS);
}

MQTTMUX_PUBLIC int mqttmux_wait_session(const char *runtime_dir, const char *name, int timeout_ms)
{
	if (!name_ok(name) || !strcmp(name, "*"))
		return -EINVAL;
	return wait_for(runtime_dir, name, timeout_ms);
}

MQTTMUX_PUBLIC int mqttmux_wait_all_sessions(const char *runtime_dir, int timeout_ms)
{
	return wait_for(runtime_dir, "*", timeout_ms);
}

/* `status`: the reply array in *ret (owned by <res>). Returns 0 or -errno. */
static int status_array(const char *dir, struct mm_ctl_io_res *res, json_object **ret)
{
	int r = mm_ctl_io_call(dir, MM_CTL_CMD_STATUS "\n", MM_CTL_CALL_MS, res);

	if (r == 0 && !json_object_is_type(res->json, json_type_array))
		r = -EPROTO;
	*ret = res->json;
	return r;
}

/* A malloc'd copy of string field <key> of <o>; NULL when absent or null. */
static int dup_field(json_object *o, const char *key, char **ret)
{
	json_object *v;

	*ret = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	*ret = strdup(json_object_get_string(v));
	return *ret ? 0 : -ENOMEM;
}

static uint64_t u64_field(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

MQTTMUX_PUBLIC void mqttmux_session_list_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

MQTTMUX_PUBLIC int mqttmux_session_list(const char *runtime_dir, char ***names, size_t *n)
{
	struct mm_ctl_io_res res;
	json_object *a;
	size_t len;
	int r;

	if (!names || !n)
		return -EINVAL;
	*names = NULL;
	*n = 0;
	r = status_array(runtime_dir, &res, &a);
	len = r == 0 ? json_object_array_length(a) : 0;
	if (len && !(*names = calloc(len, sizeof(**names))))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < len; i++) {
		r = dup_field(json_object_array_get_idx(a, i), "name", &(*names)[i]);
		if (r == 0 && !(*names)[i])
			r = -EPROTO;
		*n += r == 0;
	}
	mm_ctl_io_res_done(&res);
	if (r < 0) {
		mqttmux_session_list_free(*names, *n);
		*names = NULL;
		*n = 0;
	}
	return r;
}

static int fill_status(json_object *o, struct mqttmux_session_status *s)
{
	json_object *v;
	int r = dup_field(o, "name", &s->name);

	if (r == 0)
		r = dup_field(o, "state", &s->state);
	if (r == 0)
		r = dup_field(o, "broker", &s->broker);
	if (r == 0)
		r = dup_field(o, "last_error", &s->last_error);
	if (r == 0 && (!s->name || !s->state))
		r = -EPROTO;
	s->state_code =
		json_object_object_get_ex(o, "state_code", &v) ? json_object_get_int(v) : -1;
	s->pid = json_object_object_get_ex(o, "pid", &v) ? json_object_get_int64(v) : 0;
	s->restarts = u64_field(o, "restarts");
	s->messages_received = u64_field(o, "messages_received");
	s->messages_sent = u64_field(o, "messages_sent");
	s->bytes_received = u64_field(o, "bytes_received");
	s->bytes_sent = u64_field(o, "bytes_sent");
	s->reconnects = u64_field(o, "reconnects");
	return r;
}

MQTTMUX_PUBLIC void mqttmux_session_status_free(struct mqttmux_session_status *arr, size_t n)
{
	for (size_t i = 0; arr && i < n; i++) {
		free(arr[i].name);
		free(arr[i].state);
		free(arr[i].broker);
		free(arr[i].last_error);
	}
	free(arr);
}

MQTTMUX_PUBLIC int mqttmux_session_status(const char *runtime_dir,
					  struct mqttmux_session_status **arr, size_t *n)
{
	struct mm_ctl_io_res res;
	json_object *a;
	size_t len;
	int r;

	if (!arr || !n)
		return -EINVAL;
	*arr = NULL;
	*n = 0;
	r = status_array(runtime_dir, &res, &a);
	len = r == 0 ? json_object_array_length(a) : 0;
	if (len && !(*arr = calloc(len, sizeof(**arr))))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < len; i++) {
		r = fill_status(json_object_array_get_idx(a, i), &(*arr)[i]);
		*n = i + 1; /* a half-filled entry is freed too */
	}
	mm_ctl_io_res_done(&res);
	if (r < 0) {
		mqttmux_session_status_free(*arr, *n);
		*arr = NULL;
		*n = 0;
	}
	return r;
}

MQTTMUX_PUBLIC int mqttmux_metrics_prometheus(const char *runtime_dir, char **text)
{
	char err[512];
	size_t len;

	if (!text)
		return -EINVAL;
	return mm_ctl_io_metrics(runtime_dir, MM_CTL_CALL_MS, text, &len, err, sizeof(err));
}

/* ---- the metrics text, parsed (the families of docs/metrics.md) ---- */

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

static void store(void *base, const struct family *f, const char *value)
{
	char *p = (char *)base + f->off;
	double d = strtod(value, NULL);
	unsigned long long u = strtoull(value, NULL, 10);

	if (f->kind == U64)
		*(uint64_t *)p = strchr(value, '.') || strchr(value, 'e') ? (uint64_t)d : u;
	else if (f->kind == DBL)
		*(double *)p = d;
	else if (f->kind == FLAG)
		*(bool *)p = d != 0;
	else
		*(int *)p = (int)d;
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

MQTTMUX_PUBLIC int mqttmux_metrics(const char *runtime_dir, struct mqttmux_metrics **ret)
{
	struct mqttmux_metrics *m;
	char *text = NULL, *save = NULL;
	size_t cap = 0, good = 0;
	struct sample s;
	int r;

	if (!ret)
		return -EINVAL;
	*ret = NULL;
	r = mqttmux_metrics_prometheus(runtime_dir, &text);
	if (r < 0)
		return r;
	m = calloc(1, sizeof(*m));
	if (!m)
		r = -ENOMEM;
	for (char *line = m ? strtok_r(text, "\n", &save) : NULL; line && r == 0;
	     line = strtok_r(NULL, "\n", &save))
		if (parse_sample(line, &s)) {
			good++;
			r = apply(m, &s, &cap);
		}
	free(text);
	if (r == 0 && !good)
		r = -EPROTO;
	if (r < 0) {
		mqttmux_metrics_free(m);
		return r;
	}
	*ret = m;
	return 0;
}
