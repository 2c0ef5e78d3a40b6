/* SPDX-License-Identifier: MIT */
/*
 * MQTT 5 properties in the mqttmux CLI. `mqttmux pub -D publish NAME VALUE [VALUE2]` reads as
 * mosquitto_pub's -D (client/client_props.c): the property names are mosquitto's, integers
 * are decimal, correlation data is the argument's bytes, a user property takes a name and a
 * value. Only publish properties: the session's CONNECT, SUBSCRIBE and will belong to its
 * config, and a topic alias to the connection every client shares. The library checks the
 * rest (UTF-8, repeats) on each publish.
 */
#include "cli_props.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "props.h"

/* mosquitto_pub's other -D commands, refused with a line saying why. */
static const char *const Other_cmds[] = { "connect", "subscribe", "unsubscribe", "disconnect",
					  "will",    "auth",	  NULL };

static bool is_other_cmd(const char *cmd)
{
	for (int i = 0; Other_cmds[i]; i++)
		if (!strcmp(cmd, Other_cmds[i]))
			return true;
	return false;
}

/* Why property <id> cannot be given to `mqttmux pub`, or NULL if it can. */
static const char *refused(int id)
{
	switch (id) {
	case MQTTMUX_PROP_PAYLOAD_FORMAT:
	case MQTTMUX_PROP_MESSAGE_EXPIRY:
	case MQTTMUX_PROP_CONTENT_TYPE:
	case MQTTMUX_PROP_RESPONSE_TOPIC:
	case MQTTMUX_PROP_CORRELATION_DATA:
	case MQTTMUX_PROP_USER_PROPERTY:
		return NULL;
	case MQTTMUX_PROP_TOPIC_ALIAS:
		return "the session's connection, and so its topic aliases, are shared by every "
		       "client: mqttmux always sends the topic";
	case MQTTMUX_PROP_SUBSCRIPTION_ID:
		return "a publisher does not send a subscription identifier";
	default:
		return "not a PUBLISH property";
	}
}

static int parse_num(const char *s, uint32_t max, uint32_t *ret)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int fill_value(struct mqttmux_prop *v, const char *a, const char *b)
{
	static const uint32_t max[] = { [MM_PROP_T_BYTE] = UINT8_MAX,
					[MM_PROP_T_INT16] = UINT16_MAX,
					[MM_PROP_T_INT32] = UINT32_MAX };
	enum mm_prop_type t = mm_prop_type((uint32_t)v->id);

	if (t == MM_PROP_T_BYTE || t == MM_PROP_T_INT16 || t == MM_PROP_T_INT32)
		return parse_num(a, max[t], &v->num);
	v->data = a;
	v->len = strlen(a);
	if (t == MM_PROP_T_PAIR) {
		v->value = b;
		v->value_len = strlen(b);
	}
	return 0;
}

static int append(struct mm_cli_props *pp, const struct mqttmux_prop *v)
{
	ssize_t n = mqttmux_prop_pack(NULL, 0, v);
	uint8_t *b;

	if (n < 0)
		return -EINVAL;
	b = realloc(pp->buf, pp->len + (size_t)n);
	if (!b)
		return -ENOMEM;
	pp->buf = b;
	(void)mqttmux_prop_pack(b + pp->len, (size_t)n, v);
	pp->len += (size_t)n;
	return 0;
}

/* The values after -D COMMAND NAME: one, or two for a user property. Moves optind past them. */
static int take_values(int argc, char **argv, int id, const char **a, const char **b)
{
	int n = id == MQTTMUX_PROP_USER_PROPERTY ? 2 : 1;

	if (optind + n > argc)
		return -1;
	*a = argv[optind];
	*b = n == 2 ? argv[optind + 1] : NULL;
	optind += n;
	return 0;
}

int mm_cli_props_arg(struct mm_cli_props *pp, const char *cmd, int argc, char **argv)
{
	const char *name = optind < argc ? argv[optind++] : NULL, *a, *b, *why;
	struct mqttmux_prop v = { 0 };

	if (strcmp(cmd, "publish")) {
		fprintf(stderr, "mqttmux pub: -D %s: %s\n", cmd,
			is_other_cmd(cmd) ? "only publish properties go here; the session's "
					    "CONNECT, SUBSCRIBE and will are set in its config"
					  : "not a command (-D publish NAME VALUE)");
		return -1;
	}
	if (!name || (v.id = mm_prop_by_name(name)) < 0) {
		fprintf(stderr, "mqttmux pub: -D publish %s: not an MQTT 5 property name\n",
			name ? name : "(missing)");
		return -1;
	}
	if ((why = refused(v.id))) {
		fprintf(stderr, "mqttmux pub: -D publish %s: %s\n", name, why);
		return -1;
	}
	if (take_values(argc, argv, v.id, &a, &b) < 0 || fill_value(&v, a, b) < 0 ||
	    append(pp, &v) < 0) {
		fprintf(stderr, "mqttmux pub: -D publish %s: value missing or out of range\n",
			name);
		return -1;
	}
	return 0;
}

void mm_cli_props_free(struct mm_cli_props *pp)
{
	free(pp->buf);
	pp->buf = NULL;
	pp->len = 0;
}

bool mm_cli_prop_num(const struct mqttmux_msg *m, int id, long long *ret)
{
	struct mqttmux_prop p;

	if (mqttmux_msg_prop(m, id, &p) != 1)
		return false;
	*ret = p.num;
	return true;
}

bool mm_cli_prop_bytes(const struct mqttmux_msg *m, int id, const char **ptr, size_t *len)
{
	struct mqttmux_prop p;

	if (mqttmux_msg_prop(m, id, &p) != 1)
		return false;
	*ptr = p.data;
	*len = p.len;
	return true;
}

void mm_cli_put_user_props(const struct mqttmux_msg *m)
{
	struct mqttmux_prop p;
	size_t off = 0;
	bool first = true;

	while (mqttmux_prop_next(m->props, m->props_len, &off, &p) == 1) {
		if (p.id != MQTTMUX_PROP_USER_PROPERTY)
			continue;
		printf("%s%.*s:%.*s", first ? "" : " ", (int)p.len, (const char *)p.data,
		       (int)p.value_len, (const char *)p.value);
		first = false;
	}
}
