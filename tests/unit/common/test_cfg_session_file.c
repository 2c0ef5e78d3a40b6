/* SPDX-License-Identifier: MIT */
/*
 * mm_cfg_load_session(): a file holding one "session = { ... };" block, checked like a session
 * of the config file plus the rules against the config it joins.
 */
#include <errno.h>

#include <criterion/criterion.h>

#include "cfg.h"
#include "cfg_fixture.h"

TestSuite(common_cfg_session_file, .init = t_cfg_setup, .fini = t_cfg_teardown, .timeout = 10);

static const char base_cfg[] = "sessions = ( { name = \"one\"; brokers = [ \"tcp://h\" ];"
			       " client_id = \"one\"; } );\n";

static int load_session(const char *text, struct mm_cfg_session **ret)
{
	t_cfg_put("s.sess", text, 0644);
	return mm_cfg_load_session(t_cfg_at("s.sess"), t_cfg, ret, &t_cfg_diag);
}

Test(common_cfg_session_file, loads_one_block_with_defaults_and_paths)
{
	struct mm_cfg_session *s = NULL;

	cr_assert_eq(t_cfg_load(base_cfg), 0);
	cr_assert_eq(load_session("session = { name = \"two\"; brokers = [ \"tcp://h:1\" ];\n"
				  " client_id = \"c2\"; username = \"u\"; password_file = \"pass\";"
				  " };\n",
				  &s),
		     0);
	cr_expect_str_eq(s->name, "two");
	cr_expect_eq(s->brokers[0].port, 1);
	cr_expect_eq(s->keepalive, 60);
	cr_expect_str_eq(s->password_file, t_cfg_at("pass"));
	cr_expect_str_eq(s->password, "s3cret");
	mm_cfg_session_free(s);
}

Test(common_cfg_session_file, reports_problems_with_line_and_key)
{
	struct mm_cfg_session *s = NULL;

	cr_assert_eq(t_cfg_load(base_cfg), 0);
	cr_expect_eq(load_session("session = {\n name = \"two\";\n brokers = [ \"tcp://h\" ];\n"
				  " client_id = \"c\";\n keepalive = \"x\";\n};\nother = 1;\n",
				  &s),
		     -EINVAL);
	cr_expect_null(s);
	cr_expect_geq(t_cfg_diag_find("s.sess:5:", "'keepalive'", NULL), 0);
	cr_expect_geq(t_cfg_diag_find("s.sess:7:", "unknown key 'other'", NULL), 0);
}

Test(common_cfg_session_file, refuses_a_used_name_and_a_missing_block)
{
	struct mm_cfg_session *s = NULL;

	cr_assert_eq(t_cfg_load(base_cfg), 0);
	cr_expect_eq(load_session("session = { name = \"one\"; brokers = [ \"tcp://h\" ];"
				  " client_id = \"c\"; };\n",
				  &s),
		     -EINVAL);
	cr_expect_geq(t_cfg_diag_find("s.sess:1:", "'name'", "already used"), 0);
	cr_expect_eq(load_session("# empty\n", &s), -EINVAL);
	cr_expect_geq(t_cfg_diag_find("'session'", "required", NULL), 0);
	cr_expect_eq(mm_cfg_load_session(t_cfg_at("nosuch"), t_cfg, &s, &t_cfg_diag), -ENOENT);
}
