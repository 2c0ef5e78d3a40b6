/* SPDX-License-Identifier: MIT */
/*
 * The fixture declared in cfg_fixture.h. The teardown also runs LeakSanitizer when built with
 * ASan, because a leak inside a criterion worker does not fail the test by itself (STYLE §9).
 */
#include "cfg_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "t_helpers.h"

#if defined(__SANITIZE_ADDRESS__)
#define T_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_LSAN 1
#endif
#endif
#ifdef T_LSAN
#include <sanitizer/lsan_interface.h>
#endif

char *t_cfg_dir;
char t_cfg_path[512];
struct mm_cfg_diag t_cfg_diag;
struct mm_cfg *t_cfg;

void t_cfg_put(const char *name, const char *text, mode_t mode)
{
	char p[512];
	int fd;

	(void)snprintf(p, sizeof(p), "%s/%s", t_cfg_dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_neq(fd, -1, "open %s: %s", p, strerror(errno));
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

void t_cfg_setup(void)
{
	t_cfg_dir = t_tmpdir("cfg");
	cr_assert_not_null(t_cfg_dir);
	t_cfg_put("pass", "s3cret\n", 0600);
	t_cfg_put("pass2", "other\r\n", 0600);
	t_cfg_put("pass-world", "topsecret\n", 0644);
	t_cfg_put("ca.pem", "CA\n", 0644);
	t_cfg_put("c.pem", "CERT\n", 0644);
	t_cfg_put("c.key", "KEY\n", 0600);
	t_cfg_put("key-world", "KEY\n", 0604);
	t_cfg_put("pass-group", "s3cret\n", 0640);
	cr_assert_eq(symlink("pass", t_cfg_at("pass-link")), 0);
	mm_cfg_diag_init(&t_cfg_diag);
	t_cfg = NULL;
}

void t_cfg_teardown(void)
{
	mm_cfg_free(t_cfg);
	t_cfg = NULL;
	mm_cfg_diag_done(&t_cfg_diag);
	t_rmtree(t_cfg_dir);
	free(t_cfg_dir);
#ifdef T_LSAN
	if (__lsan_do_recoverable_leak_check())
		abort();
#endif
}

int t_cfg_load(const char *text)
{
	t_cfg_put("t.cfg", text, 0644);
	(void)snprintf(t_cfg_path, sizeof(t_cfg_path), "%s/t.cfg", t_cfg_dir);
	return mm_cfg_load(t_cfg_path, &t_cfg, &t_cfg_diag);
}

const char *t_cfg_at(const char *name)
{
	static char p[512];

	(void)snprintf(p, sizeof(p), "%s/%s", t_cfg_dir, name);
	return p;
}

void t_cfg_dump(void)
{
	for (size_t i = 0; i < mm_cfg_diag_count(&t_cfg_diag); i++)
		cr_log_info("diag: %s", mm_cfg_diag_line(&t_cfg_diag, i));
}

int t_cfg_diag_find(const char *a, const char *b, const char *c)
{
	const char *l;

	for (size_t i = 0; i < mm_cfg_diag_count(&t_cfg_diag); i++) {
		l = mm_cfg_diag_line(&t_cfg_diag, i);
		if (strstr(l, a) && (!b || strstr(l, b)) && (!c || strstr(l, c)))
			return (int)i;
	}
	return -1;
}
