/* SPDX-License-Identifier: MIT */
/*
 * The config writer (common/cfg_write.c) against its reader: load -> write -> load gives an
 * equal config, for a config that sets every key of docs/configuration.md to a value other
 * than its default, for the defaults, and for one session block. The keys are taken from the
 * tables of docs/configuration.md itself, so a key documented there but not written (or not
 * set by the test config) fails here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "cfg.h"
#include "cfg_fixture.h"

TestSuite(common_cfg_write, .init = t_cfg_setup, .fini = t_cfg_teardown, .timeout = 10);

/* Every documented key, none at its default (tls/ca.pem... are made by the fixture). */
static const char every_key[] =
	"runtime_dir = \"run\";\n"
	"state_dir = \"state\";\n"
	"log_level = \"debug\";\n"
	"log_format = \"json\";\n"
	"user = \"root\"; group = \"root\"; seccomp = false;\n"
	"metrics = { textfile = \"m.prom\"; textfile_interval = 15.0; http = \"[::1]:9883\";\n"
	"            http_max_connections = 3; http_timeout = 2.5; };\n"
	"clients = { allow_uids = [ 0, 1000 ]; allow_gids = [ 4294967294L ];\n"
	"            ring_size = 8388608; on_full = \"block\"; rejoin_grace = 2.5;\n"
	"            block_timeout = 7.5; admin_uids = [ 1001 ]; admin_gids = [ 27 ];\n"
	"            control_per_uid = 3; control_timeout = 4.5; max_clients = 77;\n"
	"            max_clients_per_uid = 5; max_routes = 99; max_filter_length = 300;\n"
	"            max_pending = 12; max_queued_bytes = 131072; };\n"
	"restart = { initial = 0.25; max = 12.5; burst = 7; window = 3.3; };\n"
	"workers = { group_size = 10; connect_rate = 123; connect_burst = 4; };\n"
	"sessions = (\n"
	"  { name = \"plant\"; brokers = [ \"tcp://127.0.0.1:1884\", \"mqtts://backup\",\n"
	"                                 \"unix:///run/m.sock\" ];\n"
	"    client_id = \"plant-\\\"1\\\"\"; username = \"u\\\\ser\"; password_file = \"pass\";\n"
	"    protocol = \"5\"; keepalive = 17; clean_session = true; auto_reconnect = false;\n"
	"    persistent = true; resume_subs = false; connect_timeout = 4.5;\n"
	"    reconnect = { initial = 0.1; max = 3.0; factor = 1.5; jitter = 0.1; };\n"
	"    subscriptions = ( { topic = \"a/+/c\"; qos = 2; }, { topic = \"d/#\"; qos = 1; } );\n"
	"    will = { topic = \"status/plant\"; payload = \"off\\nline\"; qos = 1; retain = true; };\n"
	"    tls = { ca_file = \"ca.pem\"; cert_file = \"c.pem\"; key_file = \"c.key\";\n"
	"            server_name = \"broker\"; skip_verify = true; };\n"
	"    performance = { ring_size = 2097152; max_message_size = 65536;\n"
	"                    max_pending = 33; latency_budget_us = 250; };\n"
	"    clients = { allow_uids = [ 5 ]; allow_gids = [ 6, 7 ]; };\n"
	"  },\n"
	"  { name = \"cloud\"; brokers = [ \"tcp://h\" ]; client_id = \"gw\"; }\n"
	");\n";

/* <cfg> written by mm_cfg_write() (or one session with mm_cfg_write_session()), malloc'd. */
static char *write_text(const struct mm_cfg *cfg, const struct mm_cfg_session *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert_not_null(f);
	if (s)
		mm_cfg_write_session(f, s);
	else
		mm_cfg_write(f, cfg);
	cr_assert_eq(fclose(f), 0);
	return text;
}

/* Load <text> (as a file next to the first one) and compare it with t_cfg. */
static void expect_round_trip(const char *text)
{
	struct mm_cfg *again = NULL;

	t_cfg_put("written.cfg", text, 0644);
	cr_assert_eq(mm_cfg_load(t_cfg_at("written.cfg"), &again, &t_cfg_diag), 0,
		     "the written config does not load:\n%s", text);
	cr_expect(mm_cfg_equal(t_cfg, again), "not equal after the round trip:\n%s", text);
	mm_cfg_free(again);
}

Test(common_cfg_write, every_key_survives_load_write_load)
{
	char *text;

	cr_assert_eq(t_cfg_load(every_key), 0);
	text = write_text(t_cfg, NULL);
	expect_round_trip(text);
	cr_expect_null(strstr(text, "s3cret"), "a password was written");
	free(text);
}

Test(common_cfg_write, defaults_survive_load_write_load)
{
	char *text;

	cr_assert_eq(t_cfg_load("sessions = ( { name = \"a\"; brokers = [ \"tcp://h\" ];"
				" client_id = \"a\"; } );\n"),
		     0);
	text = write_text(t_cfg, NULL);
	expect_round_trip(text);
	free(text);
	mm_cfg_free(t_cfg);
	cr_assert_eq(t_cfg_load("# nothing\n"), 0);
	text = write_text(t_cfg, NULL);
	expect_round_trip(text);
	free(text);
}

Test(common_cfg_write, a_session_block_survives_write_load_session)
{
	struct mm_cfg_session *s = NULL;
	struct mm_cfg *base;
	char *text;

	cr_assert_eq(t_cfg_load(every_key), 0);
	text = write_text(NULL, &t_cfg->sessions[0]);
	t_cfg_put("s.sess", text, 0644);
	/* loaded against a config without it, as a session added at run time is */
	base = t_cfg;
	base->n_sessions = 0;
	cr_assert_eq(mm_cfg_load_session(t_cfg_at("s.sess"), base, &s, &t_cfg_diag), 0, "%s", text);
	base->n_sessions = 2;
	cr_expect(mm_cfg_session_equal(&t_cfg->sessions[0], s), "%s", text);
	mm_cfg_session_free(s);
	free(text);
}

/* The next documented key from the tables of docs/configuration.md: "| `key` | ...". */
static bool next_doc_key(FILE *f, char *key, size_t size, bool *in_keys)
{
	char line[1024];

	while (fgets(line, sizeof(line), f)) {
		const char *end;

		if (!strncmp(line, "| key |", 7))
			*in_keys = true;
		else if (line[0] != '|')
			*in_keys = false;
		if (!*in_keys || strncmp(line, "| `", 3))
			continue;
		end = strchr(line + 3, '`');
		if (!end || (size_t)(end - line - 3) >= size)
			continue;
		memcpy(key, line + 3, (size_t)(end - line - 3));
		key[end - line - 3] = '\0';
		return true;
	}
	return false;
}

Test(common_cfg_write, writes_and_sets_every_documented_key)
{
	char key[64], pat[80], *text;
	bool in_keys = false;
	unsigned n = 0;
	FILE *doc;

	cr_assert_eq(t_cfg_load(every_key), 0);
	text = write_text(t_cfg, NULL);
	doc = fopen(MM_DOCS_DIR "/configuration.md", "r");
	cr_assert_not_null(doc, "cannot open %s/configuration.md", MM_DOCS_DIR);
	while (next_doc_key(doc, key, sizeof(key), &in_keys)) {
		snprintf(pat, sizeof(pat), "%s = ", key);
		cr_expect_not_null(strstr(text, pat), "key '%s' is not written", key);
		cr_expect_not_null(strstr(every_key, pat), "key '%s' is not set by the test", key);
		n++;
	}
	fclose(doc);
	cr_expect_geq(n, 40, "only %u keys found in docs/configuration.md", n);
	free(text);
}
