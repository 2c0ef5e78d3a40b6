/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: topic names and filters (common/cfg_check.c), which come from the config,
 * from clients (routes and publishes, checked by the router and the library) and from the
 * command line. Oracles: libmosquitto's own checks for the wildcard structure
 * (mosquitto_sub_topic_check2, mosquitto_pub_topic_check2, with "$share/<group>/" taken off
 * first, which libmosquitto does not know), the rule that a valid name is a valid filter, and
 * the two UTF-8 checkers of the tree (common's and props.c's) agreeing on well-formedness.
 */
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>

#include "cfg.h"
#include "props.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool mosq_filter_ok(const char *t, size_t len)
{
	const char *g, *slash;

	if (strncmp(t, "$share/", 7))
		return mosquitto_sub_topic_check2(t, len) == MOSQ_ERR_SUCCESS;
	g = t + 7;
	slash = strchr(g, '/');
	if (!slash || slash == g || strcspn(g, "+#") < (size_t)(slash - g) || !slash[1])
		return false;
	return mosquitto_sub_topic_check2(slash + 1, len - (size_t)(slash + 1 - t)) ==
	       MOSQ_ERR_SUCCESS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *t = malloc(size + 1);
	bool utf8, filter, name;

	if (!t || memchr(data, 0, size)) {
		free(t);
		return 0; /* C strings: an embedded NUL ends the topic before the checks see it */
	}
	memcpy(t, data, size);
	t[size] = '\0';
	utf8 = mm_utf8_ok(data, size, false);
	filter = mm_cfg_topic_filter_valid(t);
	name = mm_cfg_topic_name_valid(t);
	if (filter != (size > 0 && size <= 65535 && utf8 && mosq_filter_ok(t, size)))
		abort(); /* the filter check disagrees with MQTT's rules */
	if (name != (size > 0 && size <= 65535 && utf8 &&
		     mosquitto_pub_topic_check2(t, size) == MOSQ_ERR_SUCCESS))
		abort(); /* the name check disagrees with MQTT's rules */
	if (name && !filter && strncmp(t, "$share/", 7))
		abort(); /* a topic name is a filter too (but "$share/..." is a subscription form)
			  */
	(void)mm_cfg_session_name_valid(t);
	free(t);
	return 0;
}
