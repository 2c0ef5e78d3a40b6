/* SPDX-License-Identifier: MIT */
/*
 * Helpers and suites of the subscription matcher's unit tests. Every suite of the test-router
 * executable is declared here, with one timeout: criterion 2.4.1 leaks in its runner process
 * when the suites of one executable have different timeouts (seen under LeakSanitizer).
 */
#include "t_sub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

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

/* A leak inside a criterion worker does not fail the test by itself: abort, which does. */
static void leak_check(void)
{
#ifdef T_LSAN
	if (__lsan_do_recoverable_leak_check())
		abort();
#endif
}

TestSuite(router_sub, .fini = leak_check, .timeout = 30);
TestSuite(router_sub_spec, .fini = leak_check, .timeout = 30);
TestSuite(router_sub_oracle, .fini = leak_check, .timeout = 30);
TestSuite(router_sub_count, .fini = leak_check, .timeout = 30);

void t_sub_on_change(void *arg, uint32_t session, const char *filter, int old_qos, int new_qos)
{
	struct evlog *l = arg;
	struct ev *e;

	cr_assert_lt(l->n, ARRAY_SIZE(l->ev));
	e = &l->ev[l->n++];
	e->session = session;
	snprintf(e->filter, sizeof(e->filter), "%s", filter);
	e->old_qos = old_qos;
	e->new_qos = new_qos;
}

void t_sub_expect_ev(const struct evlog *l, size_t i, uint32_t s, const char *f, int old, int now)
{
	cr_assert_gt(l->n, i, "event %zu missing (have %zu)", i, l->n);
	cr_expect_eq(l->ev[i].session, s, "event %zu session", i);
	cr_expect_str_eq(l->ev[i].filter, f, "event %zu filter", i);
	cr_expect_eq(l->ev[i].old_qos, old, "event %zu old qos", i);
	cr_expect_eq(l->ev[i].new_qos, now, "event %zu new qos", i);
}

int t_sub_add(struct mm_rtr_sub *t, uint32_t client, uint32_t id, int32_t session,
	      const char *filter, uint8_t qos)
{
	struct mm_rtr_route r = {
		.client = client,
		.id = id,
		.session = session,
		.filter = filter,
		.qos = qos,
		.on_full = MM_CFG_ON_FULL_DROP,
	};

	return mm_rtr_sub_add(t, &r);
}

int t_sub_match(struct mm_rtr_sub *t, uint32_t session, const char *topic,
		const struct mm_rtr_match **m)
{
	return mm_rtr_sub_match(t, session, topic, strlen(topic), m);
}

const struct mm_rtr_match *t_sub_find_client(const struct mm_rtr_match *m, int n, uint32_t c)
{
	int i;

	for (i = 0; i < n; i++)
		if (m[i].client == c)
			return &m[i];
	return NULL;
}

bool t_sub_has_id(const struct mm_rtr_match *m, uint32_t id)
{
	uint32_t i;

	for (i = 0; m && i < m->nids; i++)
		if (m->ids[i] == id)
			return true;
	return false;
}
