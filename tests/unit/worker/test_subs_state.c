/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the worker's subscriptions file (worker/wrk_subs_state.c): the strict parser
 * against broken and hostile inputs, each refused with its line, and the atomic writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "t_helpers.h"
#include "wrk_subs_state.h"

TestSuite(worker_subs, .timeout = 20);

struct bad_case {
	const char *text;
	size_t len; /* 0: strlen(text) */
	size_t line;
	const char *why;
};

static void expect_refused(const struct bad_case *c)
{
	struct mm_wrk_subs_list l = { 0 };
	char why[MM_WRK_SUBS_WHY_MAX] = "";
	size_t line = 99, len = c->len ? c->len : strlen(c->text);

	cr_expect_eq(mm_wrk_subs_parse(c->text, len, &l, &line, why, sizeof(why)), -EINVAL,
		     "accepted: %s", c->text);
	cr_expect_eq(line, c->line, "%s: line %zu, not %zu", c->text, line, c->line);
	cr_expect(strstr(why, c->why), "%s: why '%s' lacks '%s'", c->text, why, c->why);
	cr_expect_eq(l.n, 0);
	cr_expect_null(l.v);
}

Test(worker_subs, parses_a_good_file)
{
	static const char text[] = "mqttmux-subs 1\n1 x/#\n0 $share/g/a/+\n2 a b/c d\n";
	struct mm_wrk_subs_list l = { 0 };
	char why[MM_WRK_SUBS_WHY_MAX] = "";
	size_t line = 0;

	cr_assert_eq(mm_wrk_subs_parse(text, strlen(text), &l, &line, why, sizeof(why)), 0, "%s",
		     why);
	cr_assert_eq(l.n, 3);
	cr_expect_str_eq(l.v[0].topic, "x/#");
	cr_expect_eq(l.v[0].qos, 1);
	cr_expect_str_eq(l.v[1].topic, "$share/g/a/+");
	cr_expect_eq(l.v[1].qos, 0);
	cr_expect_str_eq(l.v[2].topic, "a b/c d");
	cr_expect_eq(l.v[2].qos, 2);
	mm_wrk_subs_list_done(&l);
	cr_assert_eq(mm_wrk_subs_parse("mqttmux-subs 1\n", 15, &l, &line, why, sizeof(why)), 0);
	cr_expect_eq(l.n, 0);
}

Test(worker_subs, refuses_broken_files_with_their_line)
{
	static const struct bad_case cases[] = {
		{ "", 0, 0, "empty" },
		{ "mqttmux-subs 2\n1 x\n", 0, 1, "first line" },
		{ "1 x/#\n", 0, 1, "first line" },
		{ "mqttmux-subs 1", 0, 1, "no newline" },
		{ "mqttmux-subs 1\n1 x/#", 0, 2, "no newline" },
		{ "mqttmux-subs 1\n3 x\n", 0, 2, "qos" },
		{ "mqttmux-subs 1\n1x\n", 0, 2, "qos" },
		{ "mqttmux-subs 1\n1 \n", 0, 2, "qos" },
		{ "mqttmux-subs 1\n\n", 0, 2, "qos" },
		{ "mqttmux-subs 1\n-1 x\n", 0, 2, "qos" },
		{ "mqttmux-subs 1\n1 ok\n1 a/#/b\n", 0, 3, "not a valid" },
		{ "mqttmux-subs 1\n1 a+\n", 0, 2, "not a valid" },
		{ "mqttmux-subs 1\n1 a\tb\n", 0, 2, "control" },
		{ "mqttmux-subs 1\n1 a\rb\n", 0, 2, "control" },
		{ "mqttmux-subs 1\n1 a\0b\n", 21, 2, "control" },
		{ "mqttmux-subs 1\n1 \xff\xfe\n", 0, 2, "not a valid" },
		{ "mqttmux-subs 1\r\n1 x\n", 0, 1, "first line" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_refused(&cases[i]);
}

Test(worker_subs, refuses_too_many_filters)
{
	size_t cap = 32 + (MM_WRK_SUBS_MAX + 1) * 16, n;
	char *text = malloc(cap);
	struct bad_case c = { .line = MM_WRK_SUBS_MAX + 2, .why = "more than" };

	cr_assert_not_null(text);
	n = (size_t)sprintf(text, "mqttmux-subs 1\n");
	for (int i = 0; i <= MM_WRK_SUBS_MAX; i++)
		n += (size_t)sprintf(text + n, "0 t/%d\n", i);
	c.text = text;
	c.len = n;
	expect_refused(&c);
	free(text);
}

static char *Dir;

static char *in_dir(const char *file)
{
	char *p;

	cr_assert_gt(asprintf(&p, "%s/%s", Dir, file), 0);
	return p;
}

static void make_dir(void)
{
	Dir = t_tmpdir("subs");
	cr_assert_not_null(Dir);
}

static void drop_dir(void)
{
	t_rmtree(Dir);
	free(Dir);
	Dir = NULL;
}

Test(worker_subs, writes_atomically_and_reads_back, .init = make_dir, .fini = drop_dir)
{
	char t0[] = "x/#", t1[] = "$share/g/t";
	struct mm_wrk_subs_entry e[] = { { t0, 1 }, { t1, 0 } };
	struct mm_wrk_subs_list l = { .v = e, .n = 2 }, back = { 0 };
	char why[MM_WRK_SUBS_WHY_MAX] = "", *path = in_dir("subs-6b.txt");
	size_t line = 0;
	struct stat st;

	cr_assert_eq(mm_wrk_subs_read(path, &back, &line, why, sizeof(why)), -ENOENT);
	cr_assert_eq(mm_wrk_subs_write(path, &l), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	cr_assert_eq(mm_wrk_subs_read(path, &back, &line, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(back.n, 2);
	cr_expect_str_eq(back.v[1].topic, "$share/g/t");
	mm_wrk_subs_list_done(&back);
	l.n = 0;
	cr_assert_eq(mm_wrk_subs_write(path, &l), 0, "an empty set is a file too");
	cr_assert_eq(mm_wrk_subs_read(path, &back, &line, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(back.n, 0);
	free(path);
	path = in_dir("nodir/subs.txt");
	cr_expect_eq(mm_wrk_subs_write(path, &l), -ENOENT);
	free(path);
}

Test(worker_subs, refuses_what_is_not_a_small_regular_file, .init = make_dir, .fini = drop_dir)
{
	struct mm_wrk_subs_list back = { 0 };
	char why[MM_WRK_SUBS_WHY_MAX] = "", *fifo = in_dir("fifo"), *big = in_dir("big"),
	     *link = in_dir("link");
	size_t line = 7;
	int fd;

	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_expect_eq(mm_wrk_subs_read(fifo, &back, &line, why, sizeof(why)), -EINVAL);
	cr_expect(strstr(why, "regular"), "%s", why);
	cr_expect_eq(line, 0);
	cr_expect_eq(mm_wrk_subs_read(Dir, &back, &line, why, sizeof(why)), -EINVAL);
	fd = open(big, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)MM_WRK_SUBS_FILE_MAX + 1), 0);
	close(fd);
	cr_expect_eq(mm_wrk_subs_read(big, &back, &line, why, sizeof(why)), -EFBIG);
	cr_assert_eq(symlink(big, link), 0);
	cr_expect_eq(mm_wrk_subs_read(link, &back, &line, why, sizeof(why)), -ELOOP);
	cr_expect_eq(back.n, 0);
	free(fifo);
	free(big);
	free(link);
}
