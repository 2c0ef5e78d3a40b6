/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux's session and metrics API (include/mqttmux.h, "Sessions and metrics"): the
 * supervisor's control-socket commands add, remove, restart, status, wait and metrics through
 * ctl_io.c, their JSON replies turned into C structs, and the metrics text parsed into a typed
 * snapshot. No client handle, no state between calls. See docs/client.md ("Sessions").
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_metrics.h"
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

/*
 * The daemon reads the session file from the descriptor we open here, with our rights; the
 * absolute name only resolves the relative names in it and goes into messages.
 */
MQTTMUX_PUBLIC int mqttmux_session_add(const char *runtime_dir, const char *path)
{
	char line[PATH_MAX + 8], *abs;
	struct mm_ctl_io_res res;
	int fd, r;

	if (!path || !path[0])
		return -EINVAL;
	abs = realpath(path, NULL);
	if (!abs)
		return -errno;
	if (strpbrk(abs, " \t\r\n")) {
		free(abs);
		return -EINVAL;
	}
	fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	r = fd == -1 ? -errno : 0;
	snprintf(line, sizeof(line), MM_CTL_CMD_ADD " %s\n", abs);
	free(abs);
	if (r < 0)
		return r;
	r = mm_ctl_io_call_fd(runtime_dir, line, fd, MM_CTL_CALL_MS, &res);
	mm_ctl_io_res_done(&res);
	close(fd);
	return r;
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

MQTTMUX_PUBLIC int mqttmux_metrics(const char *runtime_dir, struct mqttmux_metrics **ret)
{
	char *text = NULL;
	int r;

	if (!ret)
		return -EINVAL;
	*ret = NULL;
	r = mqttmux_metrics_prometheus(runtime_dir, &text);
	if (r < 0)
		return r;
	r = mm_cl_metrics_parse(text, ret);
	free(text);
	return r;
}
