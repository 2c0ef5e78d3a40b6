/* SPDX-License-Identifier: MIT */
/*
 * The subscription matcher's reference counts: what the router tells each worker to SUBSCRIBE
 * (with which QoS) and UNSUBSCRIBE as routes come and go, sessions are added, and workers
 * restart.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "t_sub.h"

/* ---- reference counts: what the worker is told ---- */

Test(router_sub_count, subscribes_on_the_first_route_and_unsubscribes_after_the_last)
{
	struct evlog l = { 0 };
	struct mm_rtr_sub t;

	cr_assert_eq(mm_rtr_sub_init(&t, t_sub_on_change, &l), 0);
	cr_assert_eq(t_sub_add(&t, 1, 1, 0, "t/#", 0), 0);
	cr_assert_eq(l.n, 1);
	t_sub_expect_ev(&l, 0, 0, "t/#", MM_RTR_SUB_INACTIVE, 0);
	cr_assert_eq(t_sub_add(&t, 2, 1, 0, "t/#", 0), 0);
	cr_assert_eq(t_sub_add(&t, 1, 2, 1, "t/#", 0), 0);
	cr_assert_eq(l.n, 2, "same filter on another session is its own subscription");
	t_sub_expect_ev(&l, 1, 1, "t/#", MM_RTR_SUB_INACTIVE, 0);
	cr_assert_eq(mm_rtr_sub_remove(&t, 1, 1), 0);
	cr_expect_eq(l.n, 2, "one route left on session 0");
	cr_assert_eq(mm_rtr_sub_remove(&t, 2, 1), 0);
	cr_assert_eq(l.n, 3);
	t_sub_expect_ev(&l, 2, 0, "t/#", 0, MM_RTR_SUB_INACTIVE);
	mm_rtr_sub_done(&t);
}

Test(router_sub_count, reports_the_highest_qos_going_up_and_down)
{
	struct evlog l = { 0 };
	struct mm_rtr_sub t;

	cr_assert_eq(mm_rtr_sub_init(&t, t_sub_on_change, &l), 0);
	cr_assert_eq(t_sub_add(&t, 1, 1, 0, "q", 0), 0);
	cr_assert_eq(t_sub_add(&t, 1, 2, 0, "q", 2), 0);
	cr_assert_eq(t_sub_add(&t, 1, 3, 0, "q", 1), 0);
	cr_assert_eq(l.n, 2);
	t_sub_expect_ev(&l, 0, 0, "q", MM_RTR_SUB_INACTIVE, 0);
	t_sub_expect_ev(&l, 1, 0, "q", 0, 2);
	cr_assert_eq(mm_rtr_sub_remove(&t, 1, 2), 0);
	cr_assert_eq(l.n, 3);
	t_sub_expect_ev(&l, 2, 0, "q", 2, 1);
	cr_assert_eq(mm_rtr_sub_remove(&t, 1, 1), 0);
	cr_expect_eq(l.n, 3);
	cr_assert_eq(mm_rtr_sub_remove_client(&t, 1), 1);
	cr_assert_eq(l.n, 4);
	t_sub_expect_ev(&l, 3, 0, "q", 1, MM_RTR_SUB_INACTIVE);
	mm_rtr_sub_done(&t);
}

Test(router_sub_count, applies_all_session_routes_to_known_and_later_sessions)
{
	struct evlog l = { 0 };
	struct mm_rtr_sub t;

	cr_assert_eq(mm_rtr_sub_init(&t, t_sub_on_change, &l), 0);
	cr_assert_eq(mm_rtr_sub_session_added(&t, 0), 0);
	cr_assert_eq(mm_rtr_sub_session_added(&t, 2), 0);
	cr_expect_eq(mm_rtr_sub_session_added(&t, 2), -EEXIST);
	cr_expect_eq(mm_rtr_sub_session_added(&t, MM_RTR_SESSION_MAX), -EINVAL);
	cr_assert_eq(t_sub_add(&t, 1, 1, MM_RTR_SESSION_ALL, "all", 1), 0);
	cr_assert_eq(l.n, 2);
	t_sub_expect_ev(&l, 0, 0, "all", MM_RTR_SUB_INACTIVE, 1);
	t_sub_expect_ev(&l, 1, 2, "all", MM_RTR_SUB_INACTIVE, 1);
	cr_assert_eq(t_sub_add(&t, 2, 1, 5, "all", 0), 0);
	cr_assert_eq(l.n, 3, "session 5 is not added yet: its own route counts");
	t_sub_expect_ev(&l, 2, 5, "all", MM_RTR_SUB_INACTIVE, 0);
	cr_assert_eq(mm_rtr_sub_session_added(&t, 5), 0);
	cr_assert_eq(l.n, 4);
	t_sub_expect_ev(&l, 3, 5, "all", 0, 1);
	cr_assert_eq(mm_rtr_sub_session_added(&t, 3), 0);
	cr_assert_eq(l.n, 5);
	t_sub_expect_ev(&l, 4, 3, "all", MM_RTR_SUB_INACTIVE, 1);
	cr_assert_eq(mm_rtr_sub_remove(&t, 1, 1), 0);
	cr_assert_eq(l.n, 9);
	t_sub_expect_ev(&l, 5, 0, "all", 1, MM_RTR_SUB_INACTIVE);
	t_sub_expect_ev(&l, 6, 2, "all", 1, MM_RTR_SUB_INACTIVE);
	t_sub_expect_ev(&l, 7, 3, "all", 1, MM_RTR_SUB_INACTIVE);
	t_sub_expect_ev(&l, 8, 5, "all", 1, 0);
	cr_expect_eq(mm_rtr_sub_session_removed(&t, 3), 0);
	cr_expect_eq(mm_rtr_sub_session_removed(&t, 3), -ENOENT);
	mm_rtr_sub_done(&t);
}

struct listing {
	char filter[4][32];
	int qos[4];
	int n;
};

static void on_filter(void *arg, const char *filter, int qos)
{
	struct listing *ls = arg;

	cr_assert_lt(ls->n, 4);
	snprintf(ls->filter[ls->n], sizeof(ls->filter[0]), "%s", filter);
	ls->qos[ls->n++] = qos;
}

static int listed_qos(const struct listing *ls, const char *filter)
{
	int i;

	for (i = 0; i < ls->n; i++)
		if (strcmp(ls->filter[i], filter) == 0)
			return ls->qos[i];
	return MM_RTR_SUB_INACTIVE;
}

Test(router_sub_count, lists_what_a_restarted_worker_must_subscribe)
{
	struct listing ls = { 0 };
	struct mm_rtr_sub t;

	cr_assert_eq(mm_rtr_sub_init(&t, NULL, NULL), 0);
	cr_assert_eq(mm_rtr_sub_session_added(&t, 1), 0);
	cr_assert_eq(t_sub_add(&t, 1, 1, MM_RTR_SESSION_ALL, "a", 0), 0);
	cr_assert_eq(t_sub_add(&t, 1, 2, 1, "a", 2), 0);
	cr_assert_eq(t_sub_add(&t, 2, 1, 1, "$share/g/b", 1), 0);
	cr_assert_eq(t_sub_add(&t, 2, 2, 0, "c", 1), 0);
	cr_expect_eq(mm_rtr_sub_filters_for_session(&t, 1, on_filter, &ls), 2);
	cr_expect_eq(listed_qos(&ls, "a"), 2);
	cr_expect_eq(listed_qos(&ls, "$share/g/b"), 1);
	cr_expect_eq(listed_qos(&ls, "c"), MM_RTR_SUB_INACTIVE);
	ls.n = 0;
	cr_expect_eq(mm_rtr_sub_filters_for_session(&t, 0, on_filter, &ls), 1,
		     "session 0 was never added: only its own route");
	cr_expect_eq(listed_qos(&ls, "c"), 1);
	mm_rtr_sub_done(&t);
}

struct removed {
	uint32_t client[8], id[8];
	int n;
};

static void on_removed(void *arg, uint32_t client, uint32_t id)
{
	struct removed *rm = arg;

	cr_assert_lt(rm->n, 8);
	rm->client[rm->n] = client;
	rm->id[rm->n++] = id;
}

Test(router_sub_count, removing_a_session_ends_its_own_routes_and_keeps_the_others)
{
	const struct mm_rtr_match *m;
	struct removed rm = { 0 };
	struct evlog l = { 0 };
	struct mm_rtr_sub t;

	cr_assert_eq(mm_rtr_sub_init(&t, t_sub_on_change, &l), 0);
	cr_assert_eq(mm_rtr_sub_session_added(&t, 1), 0);
	cr_assert_eq(mm_rtr_sub_session_added(&t, 2), 0);
	cr_assert_eq(t_sub_add(&t, 1, 1, 1, "a", 1), 0);
	cr_assert_eq(t_sub_add(&t, 1, 2, 2, "a", 1), 0);
	cr_assert_eq(t_sub_add(&t, 2, 7, 1, "b", 0), 0);
	cr_assert_eq(t_sub_add(&t, 2, 8, MM_RTR_SESSION_ALL, "c", 0), 0);
	l.n = 0;
	cr_assert_eq(mm_rtr_sub_remove_session(&t, 1, on_removed, &rm), 2);
	cr_assert_eq(rm.n, 2);
	cr_expect((rm.client[0] == 1 && rm.id[0] == 1) || (rm.client[1] == 1 && rm.id[1] == 1));
	cr_expect((rm.client[0] == 2 && rm.id[0] == 7) || (rm.client[1] == 2 && rm.id[1] == 7));
	cr_expect_eq(l.n, 2, "'a' and 'b' go inactive on session 1");
	cr_expect_eq(t_sub_match(&t, 1, "a", &m), 0);
	cr_expect_eq(t_sub_match(&t, 2, "a", &m), 1, "the route of session 2 stays");
	cr_expect_eq(t_sub_match(&t, 1, "c", &m), 1, "the all-session route stays");
	cr_expect_eq(mm_rtr_sub_remove_session(&t, 1, NULL, NULL), 0);
	cr_expect_eq(mm_rtr_sub_remove(&t, 1, 1), -ENOENT);
	cr_expect_eq(mm_rtr_sub_remove(&t, 1, 2), 0);
	mm_rtr_sub_done(&t);
}
