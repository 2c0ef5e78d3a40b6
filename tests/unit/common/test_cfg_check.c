/* SPDX-License-Identifier: MIT */
/*
 * Table tests of the value checks in common/cfg_check.c: broker URLs (accepted with their
 * parsed fields, refused with a reason), topic filters and names (the MQTT rules for '+', '#'
 * and $share), session names.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "cfg.h"

struct url_case {
	const char *url;
	int rc;
	enum mm_cfg_scheme scheme;
	bool tls;
	const char *host;
	uint16_t port;
	const char *path;
	const char *why; /* part of the reason, for refusals */
};

static const struct url_case urls[] = {
	{ "tcp://localhost", 0, MM_CFG_SCHEME_TCP, false, "localhost", 1883, "", NULL },
	{ "mqtt://h:1884", 0, MM_CFG_SCHEME_MQTT, false, "h", 1884, "", NULL },
	{ "ssl://h", 0, MM_CFG_SCHEME_SSL, true, "h", 8883, "", NULL },
	{ "mqtts://broker.example.com:8884", 0, MM_CFG_SCHEME_MQTTS, true, "broker.example.com",
	  8884, "", NULL },
	{ "tls://10.0.0.1", 0, MM_CFG_SCHEME_TLS, true, "10.0.0.1", 8883, "", NULL },
	{ "TCP://Host_1-a:65535", 0, MM_CFG_SCHEME_TCP, false, "Host_1-a", 65535, "", NULL },
	{ "tcp://[::1]:1883", 0, MM_CFG_SCHEME_TCP, false, "::1", 1883, "", NULL },
	{ "mqtts://[fe80::1:2]", 0, MM_CFG_SCHEME_MQTTS, true, "fe80::1:2", 8883, "", NULL },
	{ "unix:///run/mosquitto/broker.sock", 0, MM_CFG_SCHEME_UNIX, false, "", 0,
	  "/run/mosquitto/broker.sock", NULL },
	{ "http://h", -EINVAL, 0, false, NULL, 0, NULL, "unknown scheme 'http'" },
	{ "ws://h:80", -EINVAL, 0, false, NULL, 0, NULL, "unknown scheme 'ws'" },
	{ "h:1883", -EINVAL, 0, false, NULL, 0, NULL, "no scheme" },
	{ "tcp://", -EINVAL, 0, false, NULL, 0, NULL, "empty host" },
	{ "tcp://:1883", -EINVAL, 0, false, NULL, 0, NULL, "empty host" },
	{ "tcp://h:0", -EINVAL, 0, false, NULL, 0, NULL, "bad port '0'" },
	{ "tcp://h:65536", -EINVAL, 0, false, NULL, 0, NULL, "bad port" },
	{ "tcp://h:", -EINVAL, 0, false, NULL, 0, NULL, "bad port" },
	{ "tcp://h:18x3", -EINVAL, 0, false, NULL, 0, NULL, "bad port" },
	{ "tcp://h:000001883", -EINVAL, 0, false, NULL, 0, NULL, "bad port" },
	{ "tcp://::1:1883", -EINVAL, 0, false, NULL, 0, NULL, "brackets" },
	{ "tcp://[::1", -EINVAL, 0, false, NULL, 0, NULL, "without ']'" },
	{ "tcp://[]:1883", -EINVAL, 0, false, NULL, 0, NULL, "bad IPv6" },
	{ "tcp://[zz::1]:1883", -EINVAL, 0, false, NULL, 0, NULL, "bad IPv6" },
	{ "tcp://[::1]x", -EINVAL, 0, false, NULL, 0, NULL, "unexpected text" },
	{ "tcp://h:1883/path", -EINVAL, 0, false, NULL, 0, NULL, "'/' after the host" },
	{ "tcp://user:pw@h", -EINVAL, 0, false, NULL, 0, NULL, "'@' after the host" },
	{ "tcp://ho st", -EINVAL, 0, false, NULL, 0, NULL, "characters" },
	{ "unix://run/sock", -EINVAL, 0, false, NULL, 0, NULL, "relative socket path" },
	{ "unix://", -EINVAL, 0, false, NULL, 0, NULL, "relative socket path" },
	{ "unix:///0123456789012345678901234567890123456789012345678901234567890123456789"
	  "0123456789012345678901234567890123456",
	  -EINVAL, 0, false, NULL, 0, NULL, "longer than 107" },
};

#define N_URLS (sizeof(urls) / sizeof(urls[0]))

ParameterizedTestParameters(common_cfg_check, parses_broker_urls)
{
	static int idx[N_URLS];

	for (size_t i = 0; i < N_URLS; i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, N_URLS);
}

ParameterizedTest(int *i, common_cfg_check, parses_broker_urls)
{
	const struct url_case *u = &urls[*i];
	struct mm_cfg_broker b, keep;
	char why[MM_CFG_WHY_MAX] = "";

	memset(&b, 0xa5, sizeof(b));
	keep = b;
	cr_assert_eq(mm_cfg_broker_parse(u->url, &b, why, sizeof(why)), u->rc, "'%s': %s", u->url,
		     why);
	if (u->rc) {
		cr_expect_not_null(strstr(why, u->why), "'%s': reason '%s' lacks '%s'", u->url, why,
				   u->why);
		cr_expect_eq(memcmp(&b, &keep, sizeof(b)), 0, "'%s': *ret written on failure",
			     u->url);
		return;
	}
	cr_expect_eq(b.scheme, u->scheme, "%s", u->url);
	cr_expect_eq(b.tls, u->tls, "%s", u->url);
	cr_expect_str_eq(b.host, u->host);
	cr_expect_eq(b.port, u->port, "%s", u->url);
	cr_expect_str_eq(b.path, u->path);
}

Test(common_cfg_check, accepts_a_null_why_buffer)
{
	struct mm_cfg_broker b;

	cr_expect_eq(mm_cfg_broker_parse("http://h", &b, NULL, 0), -EINVAL);
	cr_expect_eq(mm_cfg_broker_parse("tcp://h", &b, NULL, 0), 0);
}

Test(common_cfg_check, formats_a_broker_back_into_a_url)
{
	static const char *const in[] = { "tcp://h", "MQTTS://[::1]", "unix:///run/b.sock" };
	static const char *const out[] = { "tcp://h:1883", "mqtts://[::1]:8883",
					   "unix:///run/b.sock" };
	struct mm_cfg_broker b;
	char buf[128];

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		cr_assert_eq(mm_cfg_broker_parse(in[i], &b, NULL, 0), 0);
		cr_expect_eq(mm_cfg_broker_format(&b, buf, sizeof(buf)), (int)strlen(out[i]));
		cr_expect_str_eq(buf, out[i]);
	}
	cr_expect_str_eq(mm_cfg_scheme_to_string(MM_CFG_SCHEME_MQTTS), "mqtts");
	cr_expect_str_eq(mm_cfg_scheme_to_string(_MM_CFG_SCHEME_MAX), "?");
}

struct topic_case {
	const char *topic;
	bool filter_ok;
	bool name_ok;
};

static const struct topic_case topics[] = {
	{ "a/b", true, true },
	{ "/", true, true },
	{ "a//b", true, true },
	{ "a b/ü", true, true },
	{ "$SYS/broker/uptime", true, true },
	{ "#", true, false },
	{ "+", true, false },
	{ "a/+/c", true, false },
	{ "a/#", true, false },
	{ "+/+/#", true, false },
	{ "/+", true, false },
	{ "$share/g/a/#", true, false },
	{ "$share/g/#", true, false },
	{ "$share/g/x", true, true },
	{ "", false, false },
	{ "a/#/b", false, false },
	{ "a+", false, false },
	{ "a/b+", false, false },
	{ "+a", false, false },
	{ "a#", false, false },
	{ "#/a", false, false },
	{ "##", false, false },
	{ "$share/g", false, true },
	{ "$share//a", false, true },
	{ "$share/g+/a", false, false },
	{ "$share/g/", false, true },
	{ "bad\xff", false, false },
	{ "overlong\xc0\x80", false, false },
	{ "surrogate\xed\xa0\x80", false, false },
	{ "cut\xe2\x82", false, false },
};

#define N_TOPICS (sizeof(topics) / sizeof(topics[0]))

ParameterizedTestParameters(common_cfg_check, checks_topic_filters_and_names)
{
	static int idx[N_TOPICS];

	for (size_t i = 0; i < N_TOPICS; i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, N_TOPICS);
}

ParameterizedTest(int *i, common_cfg_check, checks_topic_filters_and_names)
{
	const struct topic_case *t = &topics[*i];

	cr_expect_eq(mm_cfg_topic_filter_valid(t->topic), t->filter_ok, "filter '%s'", t->topic);
	cr_expect_eq(mm_cfg_topic_name_valid(t->topic), t->name_ok, "name '%s'", t->topic);
}

Test(common_cfg_check, limits_topics_to_65535_bytes)
{
	char *t = malloc(65537);

	cr_assert_not_null(t);
	memset(t, 'a', 65536);
	t[65536] = '\0';
	cr_expect_not(mm_cfg_topic_filter_valid(t));
	cr_expect_not(mm_cfg_topic_name_valid(t));
	t[65535] = '\0';
	t[65534] = '#';
	t[65533] = '/';
	cr_expect(mm_cfg_topic_filter_valid(t));
	cr_expect_not(mm_cfg_topic_filter_valid(NULL));
	cr_expect_not(mm_cfg_topic_name_valid(NULL));
	free(t);
}

Test(common_cfg_check, checks_session_names)
{
	cr_expect(mm_cfg_session_name_valid("plant-1.A_b"));
	cr_expect(
		mm_cfg_session_name_valid("a234567890123456789012345678901234567890123456789012345"
					  "678901234"));
	cr_expect_not(mm_cfg_session_name_valid("a2345678901234567890123456789012345678901234567890"
						"12345678901234X"));
	cr_expect_not(mm_cfg_session_name_valid(""));
	cr_expect_not(mm_cfg_session_name_valid("a/b"));
	cr_expect_not(mm_cfg_session_name_valid("ü"));
	cr_expect_not(mm_cfg_session_name_valid(NULL));
}

Test(common_cfg_check, names_every_enum_value)
{
	cr_expect_str_eq(mm_cfg_log_level_to_string(MM_CFG_LOG_WARNING), "warning");
	cr_expect_str_eq(mm_cfg_on_full_to_string(MM_CFG_ON_FULL_BLOCK), "block");
	cr_expect_str_eq(mm_cfg_protocol_to_string(MM_CFG_PROTOCOL_311), "3.1.1");
	cr_expect_str_eq(mm_cfg_protocol_to_string(_MM_CFG_PROTOCOL_MAX), "?");
}
