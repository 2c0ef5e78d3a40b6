/* SPDX-License-Identifier: MIT */
/*
 * One broken config per class of problem: each must be refused with exactly one message that
 * carries "file:line:" and names the key (and the session, inside one). Also the session
 * comparison that reload uses to restart only the sessions whose block changed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "cfg.h"
#include "cfg_fixture.h"

/* A session "plant" whose block continues with <body> from line 3. */
#define SESSION(body)      \
	"sessions = ( {\n" \
	"  name = \"plant\"; brokers = [ \"tcp://h\" ]; client_id = \"c\";\n" body "} );\n"

/* The same without brokers and client_id, for the cases about those two. */
#define BARE(body) "sessions = ( {\n  name = \"plant\";\n" body "} );\n"

struct broken {
	const char *text;
	const char *at;	   /* "t.cfg:<line>:" */
	const char *key;   /* the key as the message names it */
	const char *extra; /* another part the message must hold, or NULL */
};

static const struct broken broken[] = {
	/* unknown keys, at every level */
	{ "log_level = \"info\";\nbogus = 1;\n", "t.cfg:2:", "unknown key 'bogus'", NULL },
	{ SESSION("  colour = \"red\";\n"), "t.cfg:3:", "unknown key 'colour'", "session 'plant'" },
	{ SESSION("  tls = {\n    ca_fil = \"ca.pem\"; };\n"), "t.cfg:4:", "'tls.ca_fil'",
	  "session 'plant'" },
	{ "metrics = {\n  port = 9; };\n", "t.cfg:2:", "unknown key 'metrics.port'", NULL },
	{ SESSION("  subscriptions = ( { topic = \"a\";\n  retain = true; } );\n"),
	  "t.cfg:4:", "'subscriptions[0].retain'", NULL },
	/* wrong types */
	{ SESSION("  keepalive = \"60\";\n"), "t.cfg:3:", "'keepalive' in session 'plant'",
	  "expected an integer, got a string" },
	{ SESSION("  clean_session = 1;\n"), "t.cfg:3:", "'clean_session'", "expected a boolean" },
	{ "runtime_dir = 5;\n", "t.cfg:1:", "'runtime_dir'", "expected a string" },
	{ SESSION("  tls = \"yes\";\n"), "t.cfg:3:", "'tls'", "expected a group" },
	{ SESSION("  reconnect = { factor = \"2\"; };\n"), "t.cfg:3:", "'reconnect.factor'",
	  "expected a number" },
	{ "sessions = { };\n", "t.cfg:1:", "'sessions'", "expected a list" },
	{ BARE("  client_id = \"c\"; brokers = \"tcp://h\";\n"), "t.cfg:3:", "'brokers'",
	  "expected an array" },
	{ "clients = { allow_uids = [ \"no-such-user-x\" ]; };\n",
	  "t.cfg:1:", "'clients.allow_uids'", "no such user 'no-such-user-x'" },
	/* names */
	{ "sessions = (\n { name = \"a\"; brokers = [ \"tcp://h\" ]; client_id = \"c\"; },\n"
	  " { name = \"a\"; brokers = [ \"tcp://h\" ]; client_id = \"d\"; }\n);\n",
	  "t.cfg:3:", "'name' in session 'a'", "already used by the session at line 2" },
	{ "sessions = (\n { name = \"pl ant\"; brokers = [ \"tcp://h\" ]; client_id = \"c\"; }\n);\n",
	  "t.cfg:2:", "'name' in session #1", "may only contain" },
	{ "sessions = (\n { name = \"a234567890123456789012345678901234567890123456789012345678901"
	  "2345\"; brokers = [ \"tcp://h\" ]; client_id = \"c\"; }\n);\n",
	  "t.cfg:2:", "'name'", "1 to 64" },
	{ "sessions = (\n { brokers = [ \"tcp://h\" ]; client_id = \"c\"; }\n);\n",
	  "t.cfg:2:", "'name' in session #1", "required" },
	/* client id and brokers */
	{ BARE("  brokers = [ \"tcp://h\" ]; client_id = \"\";\n"), "t.cfg:3:", "'client_id'",
	  "must not be empty" },
	{ "sessions = (\n { name = \"plant\"; brokers = [ \"tcp://h\" ]; }\n);\n",
	  "t.cfg:2:", "'client_id' in session 'plant'", "required" },
	{ "sessions = (\n { name = \"plant\"; client_id = \"c\"; }\n);\n",
	  "t.cfg:2:", "'brokers' in session 'plant'", "required" },
	{ BARE("  client_id = \"c\"; brokers = [ ];\n"), "t.cfg:3:", "'brokers'", "at least one" },
	{ BARE("  client_id = \"c\"; brokers = [ \"tcp://a\",\n    \"http://h\" ];\n"),
	  "t.cfg:4:", "'brokers[1]'", "unknown scheme 'http'" },
	{ BARE("  client_id = \"c\"; brokers = [ \"tcp://h:99999\" ];\n"),
	  "t.cfg:3:", "'brokers[0]'", "bad port" },
	{ BARE("  client_id = \"c\"; brokers = [ \"unix://run/sock\" ];\n"),
	  "t.cfg:3:", "'brokers[0]'", "relative socket path" },
	/* secret and TLS files */
	{ SESSION("  username = \"u\"; password_file = \"nope\";\n"), "t.cfg:3:", "'password_file'",
	  "No such file" },
	{ SESSION("  username = \"u\"; password_file = \"pass-world\";\n"),
	  "t.cfg:3:", "'password_file'", "open to its group or others (mode 0644)" },
	{ SESSION("  username = \"u\"; password_file = \"pass-group\";\n"),
	  "t.cfg:3:", "'password_file'", "open to its group or others (mode 0640)" },
	{ SESSION("  username = \"u\"; password_file = \"pass-link\";\n"),
	  "t.cfg:3:", "'password_file'", "is a symbolic link" },
	{ SESSION("  password_file = \"pass\";\n"), "t.cfg:3:", "'password_file'",
	  "needs a username" },
	{ SESSION("  tls = { ca_file = \"missing.pem\"; };\n"), "t.cfg:3:", "'tls.ca_file'",
	  "cannot open" },
	{ SESSION("  tls = { cert_file = \"c.pem\";\n          key_file = \"key-world\"; };\n"),
	  "t.cfg:4:", "'tls.key_file'", "open to its group or others (mode 0604)" },
	{ SESSION("  tls = { cert_file = \"c.pem\"; };\n"), "t.cfg:3:", "'tls.cert_file'",
	  "needs key_file" },
	{ SESSION("  tls = { server_name = \"a b\"; };\n"), "t.cfg:3:", "'tls.server_name'", NULL },
	/* topics and QoS */
	{ SESSION("  subscriptions = ( { topic = \"a\"; qos = 3; } );\n"),
	  "t.cfg:3:", "'subscriptions[0].qos'", "between 0 and 2" },
	{ SESSION("  subscriptions = ( { topic = \"a/#/b\"; } );\n"),
	  "t.cfg:3:", "'subscriptions[0].topic'", "not the last level" },
	{ SESSION("  subscriptions = ( { topic = \"x\"; qos = 1; },\n    { topic = \"a+\"; } );\n"),
	  "t.cfg:4:", "'subscriptions[1].topic'", "not a whole level" },
	{ SESSION("  subscriptions = ( { topic = \"a\"; },\n    { topic = \"a\"; } );\n"),
	  "t.cfg:4:", "'subscriptions[1].topic'", "already subscribed" },
	{ SESSION("  will = { topic = \"status/+\"; };\n"), "t.cfg:3:", "'will.topic'",
	  "wildcard" },
	{ SESSION("  will = { payload = \"x\"; };\n"), "t.cfg:3:", "'will.topic'", "required" },
	/* ranges and enums */
	{ "log_level = \"loud\";\n", "t.cfg:1:", "'log_level'", "one of 'error', 'warning'" },
	{ SESSION("  protocol = \"4\";\n"), "t.cfg:3:", "'protocol'", "'3.1.1', '5'" },
	{ SESSION("  keepalive = 70000;\n"), "t.cfg:3:", "'keepalive'", "between 0 and 65535" },
	{ SESSION("  performance = { latency_budget_us = 100001; };\n"),
	  "t.cfg:3:", "'performance.latency_budget_us'", "between 0 and 100000" },
	/* literals libconfig 1.5 would truncate to 32 bits: 4294967356 reads as 60 */
	{ SESSION("  keepalive = 4294967356;\n"), "t.cfg:3:", "'keepalive': integer 4294967356",
	  "out of range" },
	{ SESSION("  performance = { max_pending = 0x100000001; };\n"),
	  "t.cfg:3:", "'max_pending': integer 0x100000001", "low 32 bits" },
	{ "restart = { burst = -4294967295; };\n", "t.cfg:1:", "'burst': integer -4294967295",
	  "out of range" },
	{ SESSION("  performance = { ring_size = 100000; };\n"),
	  "t.cfg:3:", "'performance.ring_size'", "power of two" },
	{ SESSION("  performance = { ring_size = 65536; };\n"), "t.cfg:3:",
	  "'performance.max_message_size'", "below performance.ring_size / 2 - 64 = 32704" },
	{ "clients = { ring_size = 65536; };\n" SESSION(""),
	  "t.cfg:2:", "'performance.max_message_size' in session 'plant'", "clients.ring_size" },
	{ SESSION("  reconnect = { jitter = 1.0; };\n"), "t.cfg:3:", "'reconnect.jitter'",
	  "below 1" },
	{ SESSION("  reconnect = { initial = 5.0;\n    max = 2.0; };\n"),
	  "t.cfg:4:", "'reconnect.max'", "at least reconnect.initial" },
	{ SESSION("  reconnect = { factor = 0.5; };\n"), "t.cfg:3:", "'reconnect.factor'",
	  "at least 1" },
	{ "restart = { burst = 0; };\n", "t.cfg:1:", "'restart.burst'", "between 1 and 1000" },
	{ "workers = { group_size = 0; };\n", "t.cfg:1:", "'workers.group_size'",
	  "between 1 and 1000" },
	{ "workers = { connect_rate = 0; };\n", "t.cfg:1:", "'workers.connect_rate'",
	  "between 1 and 1000000" },
	{ "workers = { sessions_per_worker = 2; };\n", "t.cfg:1:", "workers.sessions_per_worker",
	  "unknown" },
	{ "restart = { initial = 0; };\n", "t.cfg:1:", "'restart.initial'", "greater than 0" },
	{ "clients = { on_full = \"wait\"; };\n", "t.cfg:1:", "'clients.on_full'", "'drop'" },
	{ "clients = { rejoin_grace = -1; };\n", "t.cfg:1:", "'clients.rejoin_grace'",
	  "between 0 and 86400" },
	{ "clients = { block_timeout = 0; };\n", "t.cfg:1:", "'clients.block_timeout'",
	  "greater than 0" },
	{ SESSION("  connect_timeout = 0;\n"), "t.cfg:3:", "'connect_timeout'", "greater than 0" },
	{ "clients = { allow_gids = [ -1 ]; };\n", "t.cfg:1:", "'clients.allow_gids'", NULL },
	{ "metrics = { http = \"localhost\"; };\n", "t.cfg:1:", "'metrics.http'", "no port" },
	{ "state_dir = \"\";\n", "t.cfg:1:", "'state_dir'", "must not be empty" },
};

#define N_BROKEN (sizeof(broken) / sizeof(broken[0]))

TestSuite(common_cfg_errors, .init = t_cfg_setup, .fini = t_cfg_teardown, .timeout = 10);

ParameterizedTestParameters(common_cfg_errors, refuses_with_file_line_and_key)
{
	static int idx[N_BROKEN];

	for (size_t i = 0; i < N_BROKEN; i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, N_BROKEN);
}

ParameterizedTest(int *i, common_cfg_errors, refuses_with_file_line_and_key)
{
	const struct broken *b = &broken[*i];

	cr_assert_eq(t_cfg_load(b->text), -EINVAL, "case %d was accepted", *i);
	t_cfg_dump();
	cr_expect_eq(mm_cfg_diag_count(&t_cfg_diag), 1, "case %d: one problem, one message", *i);
	cr_expect_geq(t_cfg_diag_find(b->at, b->key, b->extra), 0,
		      "case %d: no message with '%s', '%s' and '%s'; first: %s", *i, b->at, b->key,
		      b->extra ? b->extra : "", mm_cfg_diag_line(&t_cfg_diag, 0));
	cr_expect_null(t_cfg);
}

struct field {
	const char *key;
	const char *text;
};

/* The session block every comparison starts from, one key per entry. */
static const struct field base[] = {
	{ "name", "name = \"s\";" },
	{ "brokers", "brokers = [ \"tcp://h\" ];" },
	{ "client_id", "client_id = \"c\";" },
	{ "username", "username = \"u\";" },
	{ "password_file", "password_file = \"pass\";" },
	{ "protocol", "protocol = \"5\";" },
	{ "subscriptions",
	  "subscriptions = ( { topic = \"b\"; }, { topic = \"a/#\"; qos = 1; } );" },
	{ "will", "will = { topic = \"w\"; payload = \"x\"; };" },
};

/* Each differs from the base in one field: the key's entry replaced, or a new key added. */
static const struct field variants[] = {
	{ "name", "name = \"s2\";" },
	{ "brokers", "brokers = [ \"tcp://h:1884\" ];" },
	{ "brokers", "brokers = [ \"tcp://h\", \"tcp://g\" ];" },
	{ "brokers", "brokers = [ \"ssl://h:1883\" ];" },
	{ "client_id", "client_id = \"d\";" },
	{ "username", "username = \"v\";" },
	{ "password_file", "password_file = \"pass2\";" },
	{ "protocol", "protocol = \"3.1.1\";" },
	{ "keepalive", "keepalive = 61;" },
	{ "clean_session", "clean_session = false;" },
	{ "auto_reconnect", "auto_reconnect = false;" },
	{ "persistent", "persistent = true; clean_session = true;" },
	{ "resume_subs", "resume_subs = false;" },
	{ "connect_timeout", "connect_timeout = 5;" },
	{ "reconnect", "reconnect = { jitter = 0.3; };" },
	{ "subscriptions",
	  "subscriptions = ( { topic = \"b\"; }, { topic = \"a/#\"; qos = 2; } );" },
	{ "subscriptions",
	  "subscriptions = ( { topic = \"a/#\"; qos = 1; }, { topic = \"b\"; } );" },
	{ "will", "will = { topic = \"w\"; payload = \"y\"; };" },
	{ "will", "will = { topic = \"w\"; payload = \"x\"; retain = true; };" },
	{ "tls", "tls = { server_name = \"x\"; };" },
	{ "tls", "tls = { ca_file = \"ca.pem\"; };" },
	{ "tls", "tls = { skip_verify = true; };" },
	{ "performance", "performance = { max_pending = 7; };" },
	{ "performance", "performance = { ring_size = 2097152; };" },
};

#define N_BASE	   (sizeof(base) / sizeof(base[0]))
#define N_VARIANTS (sizeof(variants) / sizeof(variants[0]))

/* A config holding the base session with <change> applied (NULL: none). */
static void session_text(char *buf, size_t size, const struct field *change)
{
	size_t len = (size_t)snprintf(buf, size, "sessions = ( {\n");
	bool replaced = false;

	for (size_t i = 0; i < N_BASE; i++) {
		const struct field *f = &base[i];

		if (change && strcmp(change->key, f->key) == 0) {
			f = change;
			replaced = true;
		}
		len += (size_t)snprintf(buf + len, size - len, "  %s\n", f->text);
	}
	if (change && !replaced)
		len += (size_t)snprintf(buf + len, size - len, "  %s\n", change->text);
	(void)snprintf(buf + len, size - len, "} );\n");
}

/* Load <a> into *ret and <b> into t_cfg. */
static void load_two(const struct field *a, const struct field *b, struct mm_cfg **ret)
{
	char text[2048];

	session_text(text, sizeof(text), a);
	cr_assert_eq(t_cfg_load(text), 0, "does not load:\n%s", text);
	*ret = t_cfg;
	t_cfg = NULL;
	session_text(text, sizeof(text), b);
	cr_assert_eq(t_cfg_load(text), 0, "does not load:\n%s", text);
}

TestSuite(common_cfg_equal, .init = t_cfg_setup, .fini = t_cfg_teardown, .timeout = 10);

Test(common_cfg_equal, finds_two_loads_of_one_block_equal)
{
	struct mm_cfg *first;

	load_two(NULL, NULL, &first);
	cr_expect(mm_cfg_session_equal(&first->sessions[0], &t_cfg->sessions[0]));
	cr_expect(mm_cfg_session_equal(&first->sessions[0], &first->sessions[0]));
	cr_expect(mm_cfg_session_equal(NULL, NULL));
	cr_expect_not(mm_cfg_session_equal(&first->sessions[0], NULL));
	mm_cfg_free(first);
}

Test(common_cfg_equal, ignores_how_a_default_is_written)
{
	static const struct field same = { "keepalive", "keepalive = 60;" };
	struct mm_cfg *first;

	load_two(NULL, &same, &first);
	cr_expect(mm_cfg_session_equal(&first->sessions[0], &t_cfg->sessions[0]));
	mm_cfg_free(first);
}

ParameterizedTestParameters(common_cfg_equal, sees_a_change_in_any_field)
{
	static int idx[N_VARIANTS];

	for (size_t i = 0; i < N_VARIANTS; i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, N_VARIANTS);
}

ParameterizedTest(int *i, common_cfg_equal, sees_a_change_in_any_field)
{
	struct mm_cfg *first;

	load_two(NULL, &variants[*i], &first);
	cr_expect_not(mm_cfg_session_equal(&first->sessions[0], &t_cfg->sessions[0]),
		      "change '%s' not seen", variants[*i].text);
	cr_expect_not(mm_cfg_session_equal(&t_cfg->sessions[0], &first->sessions[0]));
	mm_cfg_free(first);
}
