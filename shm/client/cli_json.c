/* SPDX-License-Identifier: MIT */
/*
 * The JSON object of `mqttmux sub -F %j` and `%J`, laid out byte for byte as Debian's
 * mosquitto_sub prints it (it is built with cJSON): the fields tst, topic, qos, retain,
 * payloadlen, mid (QoS > 0 only), properties (MQTT 5, when the message has any) and payload,
 * in that order, compact or (--pretty) with cJSON's tab layout, cJSON's string escapes and
 * number formats. %J parses the payload (json-c, strict) and writes it again in that layout,
 * so `{ "a" : 2.50 }` becomes {"a":2.5} as with mosquitto_sub. A %J payload that is not JSON
 * prints nothing.
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_fmt.h"
#include "props.h"

/* cJSON's escapes: " \ and \b \f \n \r \t by name, other controls as \u00xx; bytes >= 0x80 raw. */
static void put_string(FILE *f, const char *s, size_t n)
{
	static const char named[] = "\b\f\n\r\t", name[] = "bfnrt";

	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *k = c ? strchr(named, c) : NULL;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (k)
			fprintf(f, "\\%c", name[k - named]);
		else if (c < 32)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* cJSON's number: an int-valued one as %d, else the shortest of %1.15g / %1.17g that reads back. */
static void put_number(FILE *f, double d)
{
	int vi = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
	char buf[32];

	if (isnan(d) || isinf(d)) {
		fputs("null", f);
		return;
	}
	if (d == (double)vi) {
		fprintf(f, "%d", vi);
		return;
	}
	snprintf(buf, sizeof(buf), "%1.15g", d);
	if (strtod(buf, NULL) != d)
		snprintf(buf, sizeof(buf), "%1.17g", d);
	fputs(buf, f);
}

static void put_tabs(FILE *f, int n)
{
	while (n-- > 0)
		fputc('\t', f);
}

static void put_value(FILE *f, json_object *v, int depth, bool pretty);

/* cJSON's object: "{\n", each member on its own line at depth + 1 tabs, "}" at depth tabs. */
static void put_object(FILE *f, json_object *o, int depth, bool pretty)
{
	size_t left = (size_t)json_object_object_length(o);

	fputc('{', f);
	if (pretty)
		fputc('\n', f);
	json_object_object_foreach(o, key, val)
	{
		if (pretty)
			put_tabs(f, depth + 1);
		put_string(f, key, strlen(key));
		fputs(pretty ? ":\t" : ":", f);
		put_value(f, val, depth + 1, pretty);
		if (--left)
			fputc(',', f);
		if (pretty)
			fputc('\n', f);
	}
	if (pretty)
		put_tabs(f, depth);
	fputc('}', f);
}

/* cJSON's array stays on one line: "[1, 2]" pretty, "[1,2]" compact. */
static void put_array(FILE *f, json_object *a, int depth, bool pretty)
{
	size_t n = json_object_array_length(a);

	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		put_value(f, json_object_array_get_idx(a, i), depth + 1, pretty);
		if (i + 1 < n)
			fputs(pretty ? ", " : ",", f);
	}
	fputc(']', f);
}

static void put_value(FILE *f, json_object *v, int depth, bool pretty)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		fputs("null", f);
		break;
	case json_type_boolean:
		fputs(json_object_get_boolean(v) ? "true" : "false", f);
		break;
	case json_type_int:
	case json_type_double:
		put_number(f, json_object_get_double(v));
		break;
	case json_type_string:
		put_string(f, json_object_get_string(v), (size_t)json_object_get_string_len(v));
		break;
	case json_type_object:
		put_object(f, v, depth, pretty);
		break;
	case json_type_array:
		put_array(f, v, depth, pretty);
		break;
	}
}

/* The payload as JSON, or NULL: the whole payload must be one value (white space around it). */
static json_object *parse_payload(const struct mqttmux_msg *m)
{
	json_tokener *tok = json_tokener_new();
	char *copy = malloc(m->payload_len + 1);
	json_object *o = NULL;

	if (tok && copy) {
		memcpy(copy, m->payload, m->payload_len);
		copy[m->payload_len] = '\0';
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
		/* the NUL is part of the input: it ends a number at the very end of the payload */
		o = json_tokener_parse_ex(tok, copy, (int)m->payload_len + 1);
		if (json_tokener_get_error(tok) != json_tokener_success ||
		    strspn(copy + json_tokener_get_parse_end(tok), " \t\r\n") !=
			    m->payload_len - json_tokener_get_parse_end(tok)) {
			json_object_put(o);
			o = NULL;
		}
	}
	free(copy);
	if (tok)
		json_tokener_free(tok);
	return o;
}

/* "2020-05-06T21:48:00.123456Z+0100": mosquitto_sub's tst, local time with a 'Z' before %z. */
static void put_tst(FILE *f, const struct mqttmux_msg *m)
{
	time_t t = (time_t)(m->recv_ns / 1000000000u);
	char date[40] = "", zone[16] = "", buf[80];
	struct tm tm;

	if (localtime_r(&t, &tm)) {
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
		strftime(zone, sizeof(zone), "%z", &tm);
	}
	snprintf(buf, sizeof(buf), "%s.%06lluZ%s", date,
		 (unsigned long long)(m->recv_ns % 1000000000u / 1000u), zone);
	put_string(f, buf, strlen(buf));
}

static void put_field(FILE *f, const char *key, bool first, bool pretty)
{
	if (!first)
		fputc(',', f);
	if (pretty)
		fputs("\n\t", f);
	put_string(f, key, strlen(key));
	fputs(pretty ? ":\t" : ":", f);
}

/* A member of a nested object at <depth> tabs (cJSON's layout): "key": and the separators. */
static void put_member(FILE *f, const char *key, size_t len, bool *first, int depth, bool pretty)
{
	if (!*first)
		fputc(',', f);
	*first = false;
	if (pretty) {
		fputc('\n', f);
		put_tabs(f, depth);
	}
	put_string(f, key, len);
	fputs(pretty ? ":\t" : ":", f);
}

static void put_close(FILE *f, int depth, bool pretty)
{
	if (pretty) {
		fputc('\n', f);
		put_tabs(f, depth);
	}
	fputc('}', f);
}

/* Every user property of <m>, in order, as the members of one object at <depth>. */
static void put_user_props(FILE *f, const struct mqttmux_msg *m, int depth, bool pretty)
{
	struct mqttmux_prop p;
	bool first = true;
	size_t off = 0;

	fputc('{', f);
	while (mqttmux_prop_next(m->props, m->props_len, &off, &p) == 1) {
		if (p.id != MQTTMUX_PROP_USER_PROPERTY)
			continue;
		put_member(f, p.data, p.len, &first, depth + 1, pretty);
		put_string(f, p.value, p.value_len);
	}
	put_close(f, depth, pretty);
}

/*
 * mosquitto_sub's "properties" (cJSON): integers as numbers, strings and correlation data as
 * strings (correlation data up to its first NUL, as cJSON takes it), and one "user-properties"
 * object, where the first user property stands, holding all of them in order.
 */
static void put_props(FILE *f, const struct mqttmux_msg *m, bool pretty)
{
	bool first = true, user = false;
	struct mqttmux_prop p;
	const char *name;
	size_t off = 0;

	fputc('{', f);
	while (mqttmux_prop_next(m->props, m->props_len, &off, &p) == 1) {
		if (p.id == MQTTMUX_PROP_USER_PROPERTY && !user) {
			user = true;
			put_member(f, "user-properties", 15, &first, 2, pretty);
			put_user_props(f, m, 2, pretty);
		}
		if (p.id == MQTTMUX_PROP_USER_PROPERTY || !(name = mm_prop_name((uint32_t)p.id)))
			continue;
		put_member(f, name, strlen(name), &first, 2, pretty);
		if (p.id == MQTTMUX_PROP_CONTENT_TYPE || p.id == MQTTMUX_PROP_RESPONSE_TOPIC)
			put_string(f, p.data, p.len);
		else if (p.id == MQTTMUX_PROP_CORRELATION_DATA)
			put_string(f, p.data, strnlen(p.data, p.len));
		else
			fprintf(f, "%u", p.num);
	}
	put_close(f, 1, pretty);
}

static void put_envelope(FILE *f, const struct mqttmux_msg *m, json_object *payload, bool pretty)
{
	fputc('{', f);
	put_field(f, "tst", true, pretty);
	put_tst(f, m);
	put_field(f, "topic", false, pretty);
	put_string(f, m->topic, strlen(m->topic));
	put_field(f, "qos", false, pretty);
	fprintf(f, "%d", m->qos);
	put_field(f, "retain", false, pretty);
	fprintf(f, "%d", m->retain ? 1 : 0);
	put_field(f, "payloadlen", false, pretty);
	fprintf(f, "%zu", m->payload_len);
	if (m->qos > 0) {
		put_field(f, "mid", false, pretty);
		fprintf(f, "%u", m->mid);
	}
	if (m->props_len) {
		put_field(f, "properties", false, pretty);
		put_props(f, m, pretty);
	}
	put_field(f, "payload", false, pretty);
	if (m->payload_len == 0)
		fputs("null", f);
	else if (payload)
		put_value(f, payload, 1, pretty);
	else
		put_string(f, m->payload, m->payload_len);
	fputs(pretty ? "\n}" : "}", f);
}

int mm_cli_json(FILE *f, const struct mqttmux_msg *m, bool raw_payload, bool pretty)
{
	json_object *payload = NULL;

	if (raw_payload && m->payload_len && !(payload = parse_payload(m)))
		return -EINVAL;
	put_envelope(f, m, payload, pretty);
	json_object_put(payload);
	return 0;
}
