/* SPDX-License-Identifier: MIT */
/* Unit tests of the worker loop's backend choice: AUTO, MM_WRK_LOOP_ENV and the names. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "t_loop.h"

Test(worker_loop, names_backends_both_ways)
{
	enum mm_wrk_backend b = _MM_WRK_BACKEND_MAX;

	cr_assert_str_eq(mm_wrk_backend_to_string(MM_WRK_BACKEND_AUTO), "auto");
	cr_assert_str_eq(mm_wrk_backend_to_string(MM_WRK_BACKEND_URING), "uring");
	cr_assert_str_eq(mm_wrk_backend_to_string(MM_WRK_BACKEND_EPOLL), "epoll");
	cr_assert_str_eq(mm_wrk_backend_to_string(_MM_WRK_BACKEND_MAX), "unknown");
	cr_assert_eq(mm_wrk_backend_from_string("epoll", &b), 0);
	cr_assert_eq(b, MM_WRK_BACKEND_EPOLL);
	cr_assert_eq(mm_wrk_backend_from_string("io_uring", &b), 0);
	cr_assert_eq(b, MM_WRK_BACKEND_URING);
	cr_assert_eq(mm_wrk_backend_from_string("uring", &b), 0);
	cr_assert_eq(mm_wrk_backend_from_string("auto", &b), 0);
	cr_assert_eq(b, MM_WRK_BACKEND_AUTO);
	cr_assert_eq(mm_wrk_backend_from_string("kqueue", &b), -EINVAL);
	cr_assert_eq(mm_wrk_backend_from_string(NULL, &b), -EINVAL);
	cr_assert_eq(b, MM_WRK_BACKEND_AUTO, "written on failure");
}

Test(worker_loop, auto_falls_back_to_epoll_when_forced_by_env)
{
	struct mm_wrk_loop *l = NULL;
	const char *why = NULL;

	cr_assert_eq(setenv(MM_WRK_LOOP_ENV, "epoll", 1), 0);
	cr_assert_eq(mm_wrk_loop_new(&l, MM_WRK_BACKEND_AUTO, &why), 0);
	cr_assert_eq(mm_wrk_loop_backend(l), MM_WRK_BACKEND_EPOLL);
	cr_assert_not_null(why);
	cr_assert(strstr(why, MM_WRK_LOOP_ENV), "why: %s", why);
	mm_wrk_loop_free(l);
	mm_wrk_loop_free(NULL);
}

Test(worker_loop, env_is_ignored_when_a_backend_is_asked_for)
{
	struct mm_wrk_loop *l = NULL;
	const char *why = "unset";

	cr_assert_eq(setenv(MM_WRK_LOOP_ENV, "bogus", 1), 0);
	cr_assert_eq(mm_wrk_loop_new(&l, MM_WRK_BACKEND_EPOLL, &why), 0);
	cr_assert_eq(mm_wrk_loop_backend(l), MM_WRK_BACKEND_EPOLL);
	cr_assert_null(why, "not a fallback");
	mm_wrk_loop_free(l);
}

Test(worker_loop, refuses_an_unknown_env_value)
{
	struct mm_wrk_loop *l = NULL;

	cr_assert_eq(setenv(MM_WRK_LOOP_ENV, "kqueue", 1), 0);
	cr_assert_eq(mm_wrk_loop_new(&l, MM_WRK_BACKEND_AUTO, NULL), -EINVAL);
	cr_assert_null(l);
	cr_assert_eq(mm_wrk_loop_new(&l, _MM_WRK_BACKEND_MAX, NULL), -EINVAL);
}

Test(worker_loop, auto_prefers_io_uring)
{
	struct mm_wrk_loop *l = NULL;
	const char *why = NULL;

	cr_assert_eq(unsetenv(MM_WRK_LOOP_ENV), 0);
	cr_assert_eq(mm_wrk_loop_new(&l, MM_WRK_BACKEND_AUTO, &why), 0);
	if (mm_wrk_loop_backend(l) == MM_WRK_BACKEND_EPOLL) {
		cr_assert_not_null(why, "fell back without saying why");
		mm_wrk_loop_free(l);
		cr_skip_test("io_uring unavailable: %s", why);
	}
	cr_assert_eq(mm_wrk_loop_backend(l), MM_WRK_BACKEND_URING);
	cr_assert_null(why);
	mm_wrk_loop_free(l);

	cr_assert_eq(setenv(MM_WRK_LOOP_ENV, "uring", 1), 0);
	cr_assert_eq(mm_wrk_loop_new(&l, MM_WRK_BACKEND_AUTO, &why), 0);
	cr_assert_eq(mm_wrk_loop_backend(l), MM_WRK_BACKEND_URING);
	mm_wrk_loop_free(l);
}
