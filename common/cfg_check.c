/* SPDX-License-Identifier: MIT */
/*
 * Syntax checks of single values, with no libconfig in sight: broker URLs, host:port pairs, MQTT
 * topic filters and names (MQTT 3.1.1 §4.7 and 5.0 §4.8.2 for shared subscriptions), UTF-8,
 * session names. Reused outside the config (the router checks client filters with
 * mm_cfg_topic_filter_valid()), so nothing here allocates.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "cfg_read.h"
#include "utf8.h"

struct scheme_info {
	const char *name;
	bool tls;
};

static const struct scheme_info schemes[_MM_CFG_SCHEME_MAX] = {
	[MM_CFG_SCHEME_TCP] = { "tcp", false }, [MM_CFG_SCHEME_MQTT] = { "mqtt", false },
	[MM_CFG_SCHEME_SSL] = { "ssl", true },	[MM_CFG_SCHEME_MQTTS] = { "mqtts", true },
	[MM_CFG_SCHEME_TLS] = { "tls", true },	[MM_CFG_SCHEME_UNIX] = { "unix", false },
};

/* Name of scheme <s> as written in URLs, or "?" when out of range. */
const char *mm_cfg_scheme_to_string(enum mm_cfg_scheme s)
{
	if ((unsigned int)s >= _MM_CFG_SCHEME_MAX)
		return "?";
	return schemes[s].name;
}

/* NULL if <s> is well-formed UTF-8 (MQTT strings must be), else why not. */
const char *mm_cfg_utf8_why(const char *s)
{
	return mm_utf8_ok((const uint8_t *)s, strlen(s), false) ? NULL : "is not valid UTF-8";
}

/* Check the levels of <t>: wildcards only when <wild>, and then each one a whole level. */
static const char *levels_why(const char *t, bool wild)
{
	for (const char *p = t; *p; p++) {
		if (*p != '+' && *p != '#')
			continue;
		if (!wild)
			return "contains a wildcard ('+' or '#')";
		if (p != t && p[-1] != '/')
			return *p == '+' ? "has a '+' that is not a whole level"
					 : "has a '#' that is not a whole level";
		if (*p == '+' && p[1] && p[1] != '/')
			return "has a '+' that is not a whole level";
		if (*p == '#' && p[1])
			return "has a '#' that is not the last level";
	}
	return NULL;
}

/* "$share/<group>/<filter>": a non-empty group without '+' or '#', then a valid filter. */
static const char *shared_why(const char *t)
{
	const char *g = t + strlen("$share/");
	size_t n = strcspn(g, "/+#");

	if (g[n] != '/' || n == 0)
		return "is not $share/<group>/<filter> with a group free of '/', '+' and '#'";
	if (!g[n + 1])
		return "is a shared subscription with an empty filter";
	return levels_why(g + n + 1, true);
}

static const char *topic_why(const char *t, bool wild)
{
	size_t len = strlen(t);
	const char *why;

	if (len == 0)
		return "is empty";
	if (len > MM_CFG_STR_MAX)
		return "is longer than 65535 bytes";
	why = mm_cfg_utf8_why(t);
	if (why)
		return why;
	if (wild && strncmp(t, "$share/", strlen("$share/")) == 0)
		return shared_why(t);
	return levels_why(t, wild);
}

/* NULL if <filter> is a valid subscription filter, else why not (for messages). */
const char *mm_cfg_topic_filter_why(const char *filter)
{
	return topic_why(filter, true);
}

/* NULL if <topic> is a valid topic name to publish to (no wildcards), else why not. */
const char *mm_cfg_topic_name_why(const char *topic)
{
	return topic_why(topic, false);
}

/*
 * True if <filter> is a valid MQTT topic filter: 1..65535 bytes of UTF-8, '+' only as a whole
 * level, '#' only as the whole last level, "$share/<group>/<filter>" allowed. NULL is invalid.
 */
bool mm_cfg_topic_filter_valid(const char *filter)
{
	return filter && !mm_cfg_topic_filter_why(filter);
}

/* True if <topic> is a valid MQTT topic name: as a filter, but with no wildcard at all. */
bool mm_cfg_topic_name_valid(const char *topic)
{
	return topic && !mm_cfg_topic_name_why(topic);
}

/* NULL if <name> matches [A-Za-z0-9._-]{1,64}, else why not. */
const char *mm_cfg_session_name_why(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > MM_CFG_NAME_MAX)
		return "must be 1 to 64 characters long";
	if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
	    len)
		return "may only contain A-Z a-z 0-9 . _ -";
	return NULL;
}

/* True if <name> is a valid session name ([A-Za-z0-9._-]{1,64}); NULL is invalid. */
bool mm_cfg_session_name_valid(const char *name)
{
	return name && !mm_cfg_session_name_why(name);
}

/* NULL if <id> is a usable MQTT client id: non-empty UTF-8 of at most 65535 bytes. */
const char *mm_cfg_client_id_why(const char *id)
{
	size_t len = strlen(id);

	if (len == 0)
		return "must not be empty";
	if (len > MM_CFG_STR_MAX)
		return "is longer than 65535 bytes";
	return mm_cfg_utf8_why(id);
}

/* NULL if <host> is a plausible host name or IPv4 literal: 1..253 of [A-Za-z0-9._-]. */
const char *mm_cfg_host_why(const char *host)
{
	size_t len = strlen(host);

	if (len == 0)
		return "has an empty host";
	if (len > MM_CFG_HOST_MAX)
		return "has a host name longer than 253 bytes";
	if (strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
	    len)
		return "has a host name with characters outside A-Z a-z 0-9 . _ -";
	return NULL;
}

static int why_set(char *why, size_t why_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Put the reason for a refusal into <why> (may be NULL) and return -EINVAL. */
static int why_set(char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	if (why && why_size) {
		va_start(ap, fmt);
		(void)vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Parse a decimal port, 1..65535, with nothing after it. */
static int port_parse(const char *s, uint16_t *ret, char *why, size_t why_size)
{
	size_t n = strspn(s, "0123456789");
	unsigned long v = 0;

	if (n == 0 || n > 5 || s[n])
		return why_set(why, why_size, "has a bad port '%.16s' (expected 1 to 65535)", s);
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (v < 1 || v > 65535)
		return why_set(why, why_size, "has a bad port '%.16s' (expected 1 to 65535)", s);
	*ret = (uint16_t)v;
	return 0;
}

/* "[v6]" at <s>: copy the address into <host>; *ret_rest is the text after ']'. */
static int ipv6_parse(const char *s, char *host, const char **ret_rest, char *why, size_t why_size)
{
	const char *end = strchr(s, ']');
	unsigned char bin[16];
	size_t len;

	if (!end)
		return why_set(why, why_size, "has '[' without ']'");
	len = (size_t)(end - s - 1);
	if (len == 0 || len >= INET6_ADDRSTRLEN)
		return why_set(why, why_size, "has a bad IPv6 address");
	memcpy(host, s + 1, len);
	host[len] = '\0';
	if (inet_pton(AF_INET6, host, bin) != 1)
		return why_set(why, why_size, "has a bad IPv6 address '%s'", host);
	*ret_rest = end + 1;
	return 0;
}

/*
 * Parse "host[:port]" or "[ipv6][:port]" into <host> (MM_CFG_HOST_MAX + 1 bytes, IPv6 without
 * brackets) and *ret_port. A missing port gives <default_port>, or an error if that is -1.
 * Returns 0, or -EINVAL with the reason in <why> (a phrase that follows "'...' "); <host> may
 * hold a partial result then, *ret_port is untouched.
 */
int mm_cfg_hostport_parse(const char *s, int default_port, char *host, uint16_t *ret_port,
			  char *why, size_t why_size)
{
	const char *rest = s, *colon = strchr(s, ':'), *hwhy;
	size_t len;

	if (*s == '[') {
		if (ipv6_parse(s, host, &rest, why, why_size) < 0)
			return -EINVAL;
	} else {
		if (colon && strchr(colon + 1, ':'))
			return why_set(why, why_size,
				       "needs brackets around an IPv6 address, "
				       "as in [::1]:1883");
		len = colon ? (size_t)(colon - s) : strlen(s);
		if (len > MM_CFG_HOST_MAX)
			return why_set(why, why_size, "has a host name longer than 253 bytes");
		memcpy(host, s, len);
		host[len] = '\0';
		hwhy = mm_cfg_host_why(host);
		if (hwhy)
			return why_set(why, why_size, "%s", hwhy);
		rest = s + len;
	}
	if (*rest == ':')
		return port_parse(rest + 1, ret_port, why, why_size);
	if (*rest)
		return why_set(why, why_size, "has unexpected text '%.16s' after the host", rest);
	if (default_port < 0)
		return why_set(why, why_size, "has no port (expected host:port)");
	*ret_port = (uint16_t)default_port;
	return 0;
}

static int scheme_parse(const char *url, const char **ret_rest, char *why, size_t why_size)
{
	const char *sep = strstr(url, "://");
	size_t len;

	if (!sep)
		return why_set(why, why_size,
			       "has no scheme (expected tcp://, mqtt://, ssl://, "
			       "mqtts://, tls:// or unix://)");
	len = (size_t)(sep - url);
	for (int i = 0; i < _MM_CFG_SCHEME_MAX; i++) {
		if (strlen(schemes[i].name) == len && strncasecmp(url, schemes[i].name, len) == 0) {
			*ret_rest = sep + 3;
			return i;
		}
	}
	return why_set(why, why_size,
		       "has an unknown scheme '%.*s' (expected tcp, mqtt, ssl, mqtts, tls or unix)",
		       len > 16 ? 16 : (int)len, url);
}

/*
 * Parse a broker URL: scheme://host[:port] with scheme tcp or mqtt (plain, default port 1883),
 * ssl, mqtts or tls (TLS, default port 8883), host a name, an IPv4 literal or a bracketed IPv6
 * literal; or unix:///absolute/path. Nothing may follow the port (no path, query or user info:
 * credentials go in username and password_file). Scheme names are case-insensitive.
 * <why> (may be NULL) receives a phrase that reads after the URL, for example "has an unknown
 * scheme 'http' (...)". Returns 0 with *ret filled, or -EINVAL with *ret untouched.
 */
int mm_cfg_broker_parse(const char *url, struct mm_cfg_broker *ret, char *why, size_t why_size)
{
	struct mm_cfg_broker b = { 0 };
	const char *rest = url;
	int s, r;

	s = scheme_parse(url, &rest, why, why_size);
	if (s < 0)
		return s;
	b.scheme = (enum mm_cfg_scheme)s;
	b.tls = schemes[s].tls;
	if (b.scheme == MM_CFG_SCHEME_UNIX) {
		if (rest[0] != '/')
			return why_set(why, why_size,
				       "has a relative socket path (expected "
				       "unix:///absolute/path)");
		if (strlen(rest) > MM_CFG_UNIX_PATH_MAX)
			return why_set(why, why_size, "has a socket path longer than 107 bytes");
		strcpy(b.path, rest);
	} else {
		if (rest[strcspn(rest, "/?#@")])
			return why_set(why, why_size,
				       "has '%.1s' after the host: a broker URL is "
				       "scheme://host[:port] only",
				       rest + strcspn(rest, "/?#@"));
		r = mm_cfg_hostport_parse(rest, b.tls ? MM_CFG_PORT_MQTTS : MM_CFG_PORT_MQTT,
					  b.host, &b.port, why, why_size);
		if (r < 0)
			return r;
	}
	*ret = b;
	return 0;
}

/*
 * Write broker <b> as a URL into <buf> (snprintf semantics: always terminated when size > 0).
 * The port is always written. Returns the length the full URL needs, or -EINVAL.
 */
int mm_cfg_broker_format(const struct mm_cfg_broker *b, char *buf, size_t size)
{
	bool v6 = strchr(b->host, ':') != NULL;

	if ((unsigned int)b->scheme >= _MM_CFG_SCHEME_MAX)
		return -EINVAL;
	if (b->scheme == MM_CFG_SCHEME_UNIX)
		return snprintf(buf, size, "unix://%s", b->path);
	return snprintf(buf, size, "%s://%s%s%s:%u", schemes[b->scheme].name, v6 ? "[" : "",
			b->host, v6 ? "]" : "", b->port);
}
