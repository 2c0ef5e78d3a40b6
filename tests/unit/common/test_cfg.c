/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the config loader (common/cfg*.c): a complete file read back field by field,
 * the defaults, relative paths, the password file, several problems in one file, syntax errors
 * and the diag list. One broken file per class of problem is in test_cfg_errors.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cfg.h"
#include "cfg_fixture.h"

TestSuite(common_cfg, .init = t_cfg_setup, .fini = t_cfg_teardown, .timeout = 10);

static const char full_cfg[] =
	"runtime_dir = \"/run/mqttmux-test\";\n"
	"state_dir   = \"state\";\n"
	"log_level   = \"debug\";\n"
	"metrics = { textfile = \"/var/lib/node_exporter/mqttmux.prom\"; http = \"127.0.0.1:9883\"; };\n"
	"clients = { allow_uids = [ 0, 1000 ]; allow_gids = [ 27 ]; ring_size = 4194304; "
	"on_full = \"block\"; rejoin_grace = 4.5; block_timeout = 2; };\n"
	"restart = { initial = 0.2; max = 20.0; burst = 7; window = 15.0; };\n"
	"workers = { group_size = 100; connect_rate = 2000; connect_burst = 50; };\n"
	"sessions = (\n"
	"  { name = \"plant\"; brokers = [ \"tcp://127.0.0.1:1883\", \"mqtts://backup:8884\",\n"
	"                                  \"unix:///run/mosq.sock\", \"tls://[::1]\" ];\n"
	"    client_id = \"plant-1\"; username = \"u\"; password_file = \"pass\";\n"
	"    protocol = \"5\";\n"
	"    keepalive = 30; clean_session = false; auto_reconnect = false;\n"
	"    persistent = true; resume_subs = false; connect_timeout = 7.5;\n"
	"    reconnect = { initial = 0.5; max = 60.0; factor = 1.5; jitter = 0.1; };\n"
	"    subscriptions = ( { topic = \"sensors/#\"; qos = 1; }, { topic = \"$share/g/x/+\"; } );\n"
	"    will = { topic = \"status/plant\"; payload = \"offline\"; qos = 2; retain = true; };\n"
	"    tls = { ca_file = \"ca.pem\"; cert_file = \"c.pem\"; key_file = \"c.key\";\n"
	"            server_name = \"broker.example\"; skip_verify = true; };\n"
	"    performance = { ring_size = 8388608; max_message_size = 32768; max_pending = 5000;"
	" latency_budget_us = 500; };\n"
	"  },\n"
	"  { name = \"cloud\"; brokers = [ \"mqtt://cloud\" ]; client_id = \"c\"; }\n"
	");\n";

Test(common_cfg, loads_every_top_level_field_as_written)
{
	int r = t_cfg_load(full_cfg);

	t_cfg_dump();
	cr_assert_eq(r, 0, "load: %d", r);
	cr_expect_str_eq(t_cfg->path, t_cfg_path);
	cr_expect_str_eq(t_cfg->runtime_dir, "/run/mqttmux-test");
	cr_expect_str_eq(t_cfg->state_dir, t_cfg_at("state"));
	cr_expect_eq(t_cfg->log_level, MM_CFG_LOG_DEBUG);
	cr_expect_str_eq(t_cfg->metrics.textfile, "/var/lib/node_exporter/mqttmux.prom");
	cr_expect_str_eq(t_cfg->metrics.http_host, "127.0.0.1");
	cr_expect_eq(t_cfg->metrics.http_port, 9883);
	cr_assert_eq(t_cfg->clients.n_allow_uids, 2);
	cr_expect_eq(t_cfg->clients.allow_uids[0], 0);
	cr_expect_eq(t_cfg->clients.allow_uids[1], 1000);
	cr_assert_eq(t_cfg->clients.n_allow_gids, 1);
	cr_expect_eq(t_cfg->clients.allow_gids[0], 27);
	cr_expect_eq(t_cfg->clients.ring_size, 4194304);
	cr_expect_eq(t_cfg->clients.on_full, MM_CFG_ON_FULL_BLOCK);
	cr_expect_eq(t_cfg->clients.rejoin_grace, 4.5);
	cr_expect_eq(t_cfg->clients.block_timeout, 2.0);
	cr_expect_eq(t_cfg->restart.initial, 0.2);
	cr_expect_eq(t_cfg->restart.max, 20.0);
	cr_expect_eq(t_cfg->restart.burst, 7);
	cr_expect_eq(t_cfg->restart.window, 15.0);
	cr_expect_eq(t_cfg->workers.group_size, 100);
	cr_expect_eq(t_cfg->workers.connect_rate, 2000);
	cr_expect_eq(t_cfg->workers.connect_burst, 50);
	cr_assert_eq(t_cfg->n_sessions, 2);
	cr_expect_eq(mm_cfg_diag_count(&t_cfg_diag), 0);
}

static void expect_broker(const struct mm_cfg_broker *b, enum mm_cfg_scheme scheme, bool tls,
			  const char *host, uint16_t port, const char *upath)
{
	cr_expect_eq(b->scheme, scheme);
	cr_expect_eq(b->tls, tls);
	cr_expect_str_eq(b->host, host);
	cr_expect_eq(b->port, port);
	cr_expect_str_eq(b->path, upath);
}

Test(common_cfg, loads_every_session_field_as_written)
{
	const struct mm_cfg_session *s;

	cr_assert_eq(t_cfg_load(full_cfg), 0);
	s = mm_cfg_session_find(t_cfg, "plant");
	cr_assert_not_null(s);
	cr_expect_eq(s, &t_cfg->sessions[0]);
	cr_expect_str_eq(s->name, "plant");
	cr_assert_eq(s->n_brokers, 4);
	expect_broker(&s->brokers[0], MM_CFG_SCHEME_TCP, false, "127.0.0.1", 1883, "");
	expect_broker(&s->brokers[1], MM_CFG_SCHEME_MQTTS, true, "backup", 8884, "");
	expect_broker(&s->brokers[2], MM_CFG_SCHEME_UNIX, false, "", 0, "/run/mosq.sock");
	expect_broker(&s->brokers[3], MM_CFG_SCHEME_TLS, true, "::1", 8883, "");
	cr_expect_str_eq(s->client_id, "plant-1");
	cr_expect_str_eq(s->username, "u");
	cr_expect_str_eq(s->password_file, t_cfg_at("pass"));
	cr_expect_eq(s->password_len, 6);
	cr_expect_str_eq(s->password, "s3cret");
	cr_expect_eq(s->protocol, MM_CFG_PROTOCOL_5);
	cr_expect_eq(s->keepalive, 30);
	cr_expect_not(s->clean_session);
	cr_expect_not(s->auto_reconnect);
	cr_expect(s->persistent);
	cr_expect_not(s->resume_subs);
	cr_expect_eq(s->connect_timeout, 7.5);
	cr_expect_eq(s->reconnect.initial, 0.5);
	cr_expect_eq(s->reconnect.max, 60.0);
	cr_expect_eq(s->reconnect.factor, 1.5);
	cr_expect_eq(s->reconnect.jitter, 0.1);
	cr_assert_eq(s->n_subs, 2);
	cr_expect_str_eq(s->subs[0].topic, "sensors/#");
	cr_expect_eq(s->subs[0].qos, 1);
	cr_expect_str_eq(s->subs[1].topic, "$share/g/x/+");
	cr_expect_eq(s->subs[1].qos, 0);
	cr_expect(s->will.set);
	cr_expect_str_eq(s->will.topic, "status/plant");
	cr_expect_str_eq(s->will.payload, "offline");
	cr_expect_eq(s->will.qos, 2);
	cr_expect(s->will.retain);
	cr_expect_str_eq(s->tls.ca_file, t_cfg_at("ca.pem"));
	cr_expect_str_eq(s->tls.cert_file, t_cfg_at("c.pem"));
	cr_expect_str_eq(s->tls.key_file, t_cfg_at("c.key"));
	cr_expect_str_eq(s->tls.server_name, "broker.example");
	cr_expect(s->tls.skip_verify);
	cr_expect_eq(s->perf.ring_size, 8388608);
	cr_expect_eq(s->perf.max_message_size, 32768);
	cr_expect_eq(s->perf.max_pending, 5000);
	cr_expect_eq(s->perf.latency_budget_us, 500);
	cr_expect_null(mm_cfg_session_find(t_cfg, "nope"));
	cr_expect_null(mm_cfg_session_find(NULL, "plant"));
}

Test(common_cfg, applies_the_defaults_when_keys_are_omitted)
{
	const struct mm_cfg_session *s;

	cr_assert_eq(t_cfg_load("sessions = ( { name = \"s\"; brokers = [ \"tcp://h\" ]; "
				"client_id = \"c\"; } );\n"),
		     0);
	cr_expect_str_eq(t_cfg->runtime_dir, "/run/mqttmux");
	cr_expect_str_eq(t_cfg->state_dir, "/var/lib/mqttmux");
	cr_expect_eq(t_cfg->log_level, MM_CFG_LOG_INFO);
	cr_expect_null(t_cfg->metrics.textfile);
	cr_expect_null(t_cfg->metrics.http_host);
	cr_expect_eq(t_cfg->clients.n_allow_uids, 0);
	cr_expect_eq(t_cfg->clients.n_allow_gids, 0);
	cr_expect_eq(t_cfg->clients.ring_size, 4u << 20);
	cr_expect_eq(t_cfg->clients.on_full, MM_CFG_ON_FULL_DROP);
	cr_expect_eq(t_cfg->clients.rejoin_grace, 10.0);
	cr_expect_eq(t_cfg->clients.block_timeout, 30.0);
	cr_expect_eq(t_cfg->restart.initial, 0.1);
	cr_expect_eq(t_cfg->restart.max, 30.0);
	cr_expect_eq(t_cfg->restart.burst, 5);
	cr_expect_eq(t_cfg->restart.window, 10.0);
	cr_expect_eq(t_cfg->workers.group_size, 1);
	cr_expect_eq(t_cfg->workers.connect_rate, 500);
	cr_expect_eq(t_cfg->workers.connect_burst, 100);
	s = &t_cfg->sessions[0];
	expect_broker(&s->brokers[0], MM_CFG_SCHEME_TCP, false, "h", 1883, "");
	cr_expect_null(s->username);
	cr_expect_null(s->password_file);
	cr_expect_null(s->password);
	cr_expect_eq(s->protocol, MM_CFG_PROTOCOL_311);
	cr_expect_eq(s->keepalive, 60);
	cr_expect(s->clean_session);
	cr_expect(s->auto_reconnect);
	cr_expect_not(s->persistent);
	cr_expect(s->resume_subs);
	cr_expect_eq(s->connect_timeout, 30.0);
	cr_expect_eq(s->reconnect.initial, 1.0);
	cr_expect_eq(s->reconnect.max, 120.0);
	cr_expect_eq(s->reconnect.factor, 2.0);
	cr_expect_eq(s->reconnect.jitter, 0.25);
	cr_expect_eq(s->n_subs, 0);
	cr_expect_not(s->will.set);
	cr_expect_null(s->tls.ca_file);
	cr_expect_null(s->tls.server_name);
	cr_expect_not(s->tls.skip_verify);
	cr_expect_eq(s->perf.ring_size, 1u << 20);
	cr_expect_eq(s->perf.max_message_size, 256u << 10);
	cr_expect_eq(s->perf.max_pending, 1000);
	cr_expect_eq(s->perf.latency_budget_us, 0);
}

/* Names are looked up when the file is loaded; a list may mix ids and names. */
Test(common_cfg, resolves_user_and_group_names_in_the_allow_lists)
{
	cr_assert_eq(t_cfg_load("clients = { allow_uids = ( 1000, \"root\" );\n"
				"            allow_gids = [ \"root\" ]; };\n"),
		     0);
	cr_assert_eq(t_cfg->clients.n_allow_uids, 2);
	cr_expect_eq(t_cfg->clients.allow_uids[0], 1000);
	cr_expect_eq(t_cfg->clients.allow_uids[1], 0);
	cr_assert_eq(t_cfg->clients.n_allow_gids, 1);
	cr_expect_eq(t_cfg->clients.allow_gids[0], 0);
}

Test(common_cfg, accepts_an_empty_file)
{
	cr_assert_eq(t_cfg_load("# nothing\n"), 0);
	cr_expect_eq(t_cfg->n_sessions, 0);
	cr_expect_null(mm_cfg_session_find(t_cfg, "x"));
}

Test(common_cfg, persistent_session_defaults_to_no_clean_session)
{
	cr_assert_eq(t_cfg_load("sessions = (\n"
				" { name = \"a\"; brokers = [ \"tcp://h\" ]; client_id = \"a\"; "
				"persistent = true; },\n"
				" { name = \"b\"; brokers = [ \"tcp://h\" ]; client_id = \"b\"; "
				"persistent = true; clean_session = true; }\n"
				");\n"),
		     0);
	cr_expect_not(t_cfg->sessions[0].clean_session);
	cr_expect(t_cfg->sessions[1].clean_session);
}

Test(common_cfg, takes_integers_where_numbers_are_expected)
{
	cr_assert_eq(t_cfg_load("restart = { initial = 1; max = 30; };\n"), 0);
	cr_expect_eq(t_cfg->restart.initial, 1.0);
	cr_expect_eq(t_cfg->restart.max, 30.0);
}

/* Only integer literals are checked: strings, comments, names and floats are left alone. */
Test(common_cfg, leaves_big_numbers_alone_where_libconfig_keeps_them)
{
	cr_assert_eq(
		t_cfg_load("# 99999999999\n/* 4294967356 */ // 4294967356\n"
			   "restart = { initial = 1e-3; max = 8.64e+4; window = 2.5E+3; };\n"
			   "clients = { ring_size = 4194304L; };\n"
			   "sessions = ( { name = \"a-4294967356\"; brokers = [ \"tcp://h\" ];\n"
			   "  client_id = \"4294967356\"; keepalive = -0; } );\n"),
		0);
	t_cfg_dump();
	cr_expect_eq(t_cfg->restart.max, 86400.0);
	cr_expect_eq(t_cfg->clients.ring_size, 4194304);
}

Test(common_cfg, refuses_a_truncated_literal_in_an_included_file)
{
	t_cfg_put("more.cfg", "\nrestart = { burst = 4294967297; };\n", 0644);
	cr_assert_eq(t_cfg_load("log_level = \"info\";\n@include \"more.cfg\"\n"), -EINVAL);
	t_cfg_dump();
	cr_expect_geq(t_cfg_diag_find("more.cfg:2:", "'burst': integer 4294967297", NULL), 0);
}

Test(common_cfg, refuses_a_64_bit_literal_past_its_range)
{
	cr_assert_eq(t_cfg_load("clients = { ring_size = 9223372036854775808L; };\n"), -EINVAL);
	t_cfg_dump();
	cr_expect_geq(
		t_cfg_diag_find("t.cfg:1:", "'ring_size': integer 9223372036854775808L", "64-bit"),
		0);
}

Test(common_cfg, strips_one_crlf_from_the_password_file)
{
	cr_assert_eq(
		t_cfg_load(
			"sessions = ( { name = \"s\"; brokers = [ \"tcp://h\" ]; "
			"client_id = \"c\"; password_file = \"pass2\"; protocol = \"5\"; } );\n"),
		0);
	cr_expect_eq(t_cfg->sessions[0].password_len, 5);
	cr_expect_str_eq(t_cfg->sessions[0].password, "other");
}

Test(common_cfg, keeps_the_password_out_of_messages)
{
	cr_assert_eq(
		t_cfg_load("sessions = ( { name = \"s\"; brokers = [ \"tcp://h\" ]; "
			   "client_id = \"c\"; username = \"u\"; password_file = \"pass-world\"; "
			   "} );\n"),
		-EINVAL);
	cr_assert_eq(mm_cfg_diag_count(&t_cfg_diag), 1);
	cr_expect_null(strstr(mm_cfg_diag_line(&t_cfg_diag, 0), "topsecret"));
	cr_expect_null(t_cfg, "*ret must stay untouched on failure");
}

Test(common_cfg, resolves_relative_paths_against_the_config_directory)
{
	cr_assert_eq(
		t_cfg_load("runtime_dir = \"run\";\nmetrics = { textfile = \"m/x.prom\"; };\n"), 0);
	cr_expect_str_eq(t_cfg->runtime_dir, t_cfg_at("run"));
	cr_expect_str_eq(t_cfg->metrics.textfile, t_cfg_at("m/x.prom"));
}

Test(common_cfg, names_the_included_file_in_messages)
{
	t_cfg_put("more.cfg", "\nbogus = 1;\n", 0644);
	cr_assert_eq(t_cfg_load("log_level = \"info\";\n@include \"more.cfg\"\n"), -EINVAL);
	t_cfg_dump();
	cr_expect_eq(mm_cfg_diag_count(&t_cfg_diag), 1);
	cr_expect_geq(t_cfg_diag_find("more.cfg:2:", "unknown key 'bogus'", NULL), 0);
}

Test(common_cfg, reports_a_syntax_error_with_its_line)
{
	cr_assert_eq(t_cfg_load("log_level = \"info\";\nruntime_dir = ;\n"), -EINVAL);
	t_cfg_dump();
	cr_assert_eq(mm_cfg_diag_count(&t_cfg_diag), 1);
	cr_expect_geq(t_cfg_diag_find("t.cfg:2:", "syntax error", NULL), 0);
}

Test(common_cfg, reports_a_duplicate_key_with_its_line)
{
	cr_assert_eq(t_cfg_load("log_level = \"info\";\n\nlog_level = \"debug\";\n"), -EINVAL);
	cr_expect_geq(t_cfg_diag_find("t.cfg:3:", "duplicate", NULL), 0);
}

Test(common_cfg, returns_errno_for_an_unreadable_file)
{
	(void)snprintf(t_cfg_path, sizeof(t_cfg_path), "%s/none.cfg", t_cfg_dir);
	cr_expect_eq(mm_cfg_load(t_cfg_path, &t_cfg, &t_cfg_diag), -ENOENT);
	cr_expect_eq(mm_cfg_load(t_cfg_dir, &t_cfg, &t_cfg_diag), -EISDIR);
	cr_expect_eq(mm_cfg_diag_count(&t_cfg_diag), 0);
	cr_expect_null(t_cfg);
}

/* Refuse <mode> for a config file of group <gid> (-1: as created). */
static void refuse_writable(mode_t mode, gid_t gid)
{
	char want[32];

	t_cfg_put("w.cfg", "log_level = \"info\";\n", mode);
	if (gid != (gid_t)-1)
		cr_assert_eq(chown(t_cfg_at("w.cfg"), 0, gid), 0);
	(void)snprintf(want, sizeof(want), "(mode %04o)", (unsigned)mode);
	mm_cfg_diag_done(&t_cfg_diag);
	cr_expect_eq(mm_cfg_load(t_cfg_at("w.cfg"), &t_cfg, &t_cfg_diag), -EINVAL);
	t_cfg_dump();
	cr_expect_geq(
		t_cfg_diag_find("w.cfg: is writable by its group or others", want, "chmod go-w"),
		0);
	cr_expect_null(t_cfg);
}

/* Anybody who can write the config can point the daemon, and its secrets, anywhere. */
Test(common_cfg, refuses_a_config_file_others_can_write)
{
	refuse_writable(0666, (gid_t)-1);
	refuse_writable(0646, (gid_t)-1);
	if (geteuid() == 0)
		refuse_writable(0664, 4242); /* a group that is neither root's nor ours */
}

Test(common_cfg, refuses_a_symlinked_config_file)
{
	t_cfg_put("real.cfg", "log_level = \"info\";\n", 0644);
	cr_assert_eq(symlink("real.cfg", t_cfg_at("link.cfg")), 0);
	cr_expect_eq(mm_cfg_load(t_cfg_at("link.cfg"), &t_cfg, &t_cfg_diag), -EINVAL);
	t_cfg_dump();
	cr_expect_geq(t_cfg_diag_find("link.cfg: is a symbolic link", NULL, NULL), 0);
	cr_expect_null(t_cfg);
}

/* Owned by another user: a config or a secret that user could have written for us. */
Test(common_cfg, refuses_files_owned_by_another_user)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to give a file away");
	t_cfg_put("theirs.cfg", "log_level = \"info\";\n", 0644);
	cr_assert_eq(chown(t_cfg_at("theirs.cfg"), 65534, 65534), 0);
	cr_expect_eq(mm_cfg_load(t_cfg_at("theirs.cfg"), &t_cfg, &t_cfg_diag), -EINVAL);
	cr_expect_geq(t_cfg_diag_find("theirs.cfg: is owned by uid 65534", "root", NULL), 0);
	cr_assert_eq(chown(t_cfg_at("pass"), 65534, 65534), 0);
	mm_cfg_diag_done(&t_cfg_diag);
	cr_expect_eq(t_cfg_load("sessions = ( { name = \"s\"; brokers = [ \"tcp://h\" ]; "
				"client_id = \"c\"; username = \"u\"; password_file = \"pass\"; "
				"} );\n"),
		     -EINVAL);
	t_cfg_dump();
	cr_expect_geq(t_cfg_diag_find("'password_file'", "is owned by uid 65534", NULL), 0);
}

Test(common_cfg, works_without_a_diag_list)
{
	t_cfg_put("t.cfg", "bogus = 1;\n", 0644);
	(void)snprintf(t_cfg_path, sizeof(t_cfg_path), "%s/t.cfg", t_cfg_dir);
	cr_expect_eq(mm_cfg_load(t_cfg_path, &t_cfg, NULL), -EINVAL);
	cr_expect_null(t_cfg);
}

Test(common_cfg, reports_every_problem_in_one_file)
{
	static const char text[] =
		"log_level = \"loud\";\n"				     /* 1 */
		"restart = { burst = 0; };\n"				     /* 2 */
		"sessions = (\n"					     /* 3 */
		"  { name = \"a\"; brokers = [ \"http://h\" ];\n"	     /* 4 */
		"    client_id = \"\";\n"				     /* 5 */
		"    keepalive = -1;\n"					     /* 6 */
		"    subscriptions = ( { topic = \"a/#/b\"; qos = 3; } );\n" /* 7 */
		"  },\n"						     /* 8 */
		"  { name = \"a\"; client_id = \"x\"; }\n"		     /* 9 */
		");\n";
	static const char *const want[][2] = {
		{ "t.cfg:1:", "log_level" },
		{ "t.cfg:2:", "restart.burst" },
		{ "t.cfg:4:", "brokers[0]" },
		{ "t.cfg:5:", "client_id" },
		{ "t.cfg:6:", "keepalive" },
		{ "t.cfg:7:", "subscriptions[0].topic" },
		{ "t.cfg:7:", "subscriptions[0].qos" },
		{ "t.cfg:9:", "'brokers' in session 'a'" },
		{ "t.cfg:9:", "already used" },
	};

	cr_assert_eq(t_cfg_load(text), -EINVAL);
	t_cfg_dump();
	cr_expect_eq(mm_cfg_diag_count(&t_cfg_diag), sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect_geq(t_cfg_diag_find(want[i][0], want[i][1], NULL), 0, "no '%s' ... '%s'",
			      want[i][0], want[i][1]);
}

Test(common_cfg, prints_the_diag_list_one_message_per_line)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_eq(mm_cfg_diag_add(&t_cfg_diag, "a:%d: one", 1), 0);
	cr_assert_eq(mm_cfg_diag_add(&t_cfg_diag, "a:2: two"), 0);
	f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	cr_expect_eq(mm_cfg_diag_print(&t_cfg_diag, f), 2);
	fclose(f);
	cr_expect_str_eq(buf, "a:1: one\na:2: two\n");
	cr_expect_null(mm_cfg_diag_line(&t_cfg_diag, 2));
	free(buf);
	mm_cfg_diag_done(&t_cfg_diag);
	mm_cfg_diag_done(&t_cfg_diag);
	cr_expect_eq(mm_cfg_diag_count(&t_cfg_diag), 0);
}
