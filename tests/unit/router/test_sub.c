/* SPDX-License-Identifier: MIT */
/*
 * The subscription matcher: MQTT matching rules from the spec's examples, a randomized
 * comparison with mosquitto_topic_matches_sub(), per-client grouping, session scoping, client
 * removal, $share filters and refused filters. Reference counts: test_sub_count.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <mosquitto.h>

#include "rtr_sub_int.h" /* the trie, to check that removal prunes it */
#include "t_sub.h"

/* ---- MQTT spec examples (3.1.1 and 5.0, section 4.7) ---- */

struct spec_case {
	const char *filter;
	const char *topic;
	bool match;
};

static const struct spec_case spec[] = {
	{ "sport/tennis/player1/#", "sport/tennis/player1", true },
	{ "sport/tennis/player1/#", "sport/tennis/player1/ranking", true },
	{ "sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true },
	{ "sport/tennis/player1/#", "sport/tennis/player2", false },
	{ "sport/#", "sport", true },
	{ "sport/#", "sports", false },
	{ "#", "sport/tennis", true },
	{ "#", "/", true },
	{ "sport/tennis/+", "sport/tennis/player1", true },
	{ "sport/tennis/+", "sport/tennis/player2", true },
	{ "sport/tennis/+", "sport/tennis/player1/ranking", false },
	{ "sport/+", "sport", false },
	{ "sport/+", "sport/", true },
	{ "+/+", "/finance", true },
	{ "/+", "/finance", true },
	{ "+", "/finance", false },
	{ "+", "finance", true },
	{ "+/tennis/#", "sport/tennis/player1", true },
	{ "+/tennis/#", "sport/tennis", true },
	{ "#", "$SYS/broker/uptime", false },
	{ "#", "$SYS", false },
	{ "+/monitor/Clients", "$SYS/monitor/Clients", false },
	{ "+/#", "$SYS/x", false },
	{ "$SYS/#", "$SYS/x", true },
	{ "$SYS/#", "$SYS", true },
	{ "$SYS/monitor/+", "$SYS/monitor/Clients", true },
	{ "$SYS/+/Clients", "$SYS/monitor/Clients", true },
	{ "a/$x/#", "a/$x/b", true },
	{ "a/+", "a/$x", true },
	{ "a//b", "a//b", true },
	{ "a/+/b", "a//b", true },
	{ "a/#", "a//b", true },
	{ "/#", "/", true },
	{ "+/+/+", "//", true },
	{ "+/+", "//", false },
	{ "a/b", "a/b/", false },
	{ "a/b/", "a/b/", true },
	{ "A/b", "a/b", false },
	{ "$share/g/sport/#", "sport/tennis", true },
	{ "$share/g/#", "$SYS/x", false },
	{ "$share/g/+/x", "a/x", true },
};

ParameterizedTestParameters(router_sub_spec, matches_like_the_mqtt_spec)
{
	static int idx[ARRAY_SIZE(spec)];

	for (size_t i = 0; i < ARRAY_SIZE(idx); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, ARRAY_SIZE(idx));
}

ParameterizedTest(int *i, router_sub_spec, matches_like_the_mqtt_spec)
{
	const struct spec_case *c = &spec[*i];
	const struct mm_rtr_match *m;
	struct mm_rtr_sub t;
	bool oracle;
	int n;

	cr_assert_eq(mm_rtr_sub_init(&t, NULL, NULL), 0);
	cr_assert_eq(t_sub_add(&t, 1, 7, MM_RTR_SESSION_ALL, c->filter, 0), 0, "%s", c->filter);
	n = t_sub_match(&t, 0, c->topic, &m);
	cr_expect_eq(n, c->match ? 1 : 0, "'%s' vs '%s'", c->filter, c->topic);
	if (strncmp(c->filter, "$share/", 7) != 0) {
		cr_assert_eq(mosquitto_topic_matches_sub(c->filter, c->topic, &oracle), 0);
		cr_expect_eq(oracle, c->match, "table disagrees with libmosquitto: '%s' vs '%s'",
			     c->filter, c->topic);
	}
	mm_rtr_sub_done(&t);
}

/* ---- randomized comparison with libmosquitto ---- */

static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static const char *const levels[] = { "a", "b", "ab", "", "$SYS", "$x", "a$" };

/* A random topic (wild = false) or filter (wild = true) of 1..5 levels into <buf>. */
static void random_topic(char *buf, size_t size, bool wild)
{
	uint32_t n = 1 + rng() % 5, i;
	size_t len = 0;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		uint32_t pick = rng() % (ARRAY_SIZE(levels) + (wild ? 3 : 0));
		const char *lv = pick < ARRAY_SIZE(levels) ? levels[pick] : "+";

		if (wild && pick == ARRAY_SIZE(levels) + 2 && i == n - 1)
			lv = "#";
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "/" : "", lv);
	}
}

/*
 * 40 rounds of 50 filters (one client each, some duplicated) and 100 topics: 200,000
 * filter/topic pairs, each checked against mosquitto_topic_matches_sub().
 */
Test(router_sub_oracle, agrees_with_libmosquitto_on_200000_pairs)
{
	enum { ROUNDS = 40, FILTERS = 50, TOPICS = 100 };
	char filters[FILTERS][64], topic[64];
	const struct mm_rtr_match *m;
	size_t pairs = 0, hits = 0;
	int round, f, k, n;

	rng_state = 0x9e3779b97f4a7c15ull;
	for (round = 0; round < ROUNDS; round++) {
		struct mm_rtr_sub t;

		cr_assert_eq(mm_rtr_sub_init(&t, NULL, NULL), 0);
		for (f = 0; f < FILTERS; f++) {
			do
				random_topic(filters[f], sizeof(filters[f]), true);
			while (!filters[f][0]);
			cr_assert_eq(t_sub_add(&t, (uint32_t)f, 100 + (uint32_t)f,
					       f % 2 ? MM_RTR_SESSION_ALL : 3, filters[f], 0),
				     0, "'%s'", filters[f]);
		}
		for (k = 0; k < TOPICS; k++) {
			do
				random_topic(topic, sizeof(topic), false);
			while (!topic[0]);
			n = t_sub_match(&t, 3, topic, &m);
			cr_assert_geq(n, 0);
			for (f = 0; f < FILTERS; f++) {
				const struct mm_rtr_match *c = t_sub_find_client(m, n, (uint32_t)f);
				bool want;

				cr_assert_eq(mosquitto_topic_matches_sub(filters[f], topic, &want),
					     MOSQ_ERR_SUCCESS);
				cr_assert_eq(c != NULL, want, "'%s' vs '%s': mosquitto says %d",
					     filters[f], topic, want);
				cr_assert(!c || (c->nids == 1 && c->ids[0] == 100 + (uint32_t)f));
				pairs++;
				hits += want;
			}
		}
		mm_rtr_sub_done(&t);
	}
	cr_expect_geq(pairs, 100000);
	cr_expect_geq(hits, pairs / 50, "too few matching pairs (%zu) to test much", hits);
}

/* ---- grouping per client, sessions, removal ---- */

Test(router_sub, reports_a_client_once_with_all_its_matching_route_ids)
{
	const struct mm_rtr_match *m, *c1, *c2;
	struct mm_rtr_sub t;
	int n;

	cr_assert_eq(mm_rtr_sub_init(&t, NULL, NULL), 0);
	cr_assert_eq(t_sub_add(&t, 1, 10, MM_RTR_SESSION_ALL, "a/+", 0), 0);
	cr_assert_eq(t_sub_add(&t, 2, 20, MM_RTR_SESSION_ALL, "a/b", 1), 0);
	cr_assert_eq(t_sub_add(&t, 1, 11, MM_RTR_SESSION_ALL, "a/#", 2), 0);
	cr_assert_eq(t_sub_add(&t, 1, 12, MM_RTR_SESSION_ALL, "a/c", 0), 0);
	n = t_sub_match(&t, 0, "a/b", &m);
	cr_assert_eq(n, 2);
	c1 = t_sub_find_client(m, n, 1);
	c2 = t_sub_find_client(m, n, 2);
	cr_assert(c1 && c2);
	cr_expect_eq(c1->nids, 2);
	cr_expect(t_sub_has_id(c1, 10) && t_sub_has_id(c1, 11) && !t_sub_has_id(c1, 12));
	cr_expect_eq(c1->qos, 2);
	cr_expect_eq(c2->nids, 1);
	cr_expect(t_sub_has_id(c2, 20));
	cr_expect_eq(c2->qos, 1);
	mm_rtr_sub_done(&t);
}

Test(router_sub, on_full_is_block_if_any_matching_route_blocks)
{
	struct mm_rtr_route r = { .client = 1,
				  .id = 1,
				  .session = MM_RTR_SESSION_ALL,
				  .filter = "x/#",
				  .on_full = MM_CFG_ON_FULL_BLOCK };
	const struct mm_rtr_match *m;
	struct mm_rtr_sub t;

	cr_assert_eq(mm_rtr_sub_init(&t, NULL, NULL), 0);
	cr_assert_eq(mm_rtr_sub_add(&t, &r), 0);
	cr_assert_eq(t_sub_add(&t, 1, 2, MM_RTR_SESSION_ALL, "x/y", 0), 0);
	cr_assert_eq(t_sub_match(&t, 0, "x/y", &m), 1);
	cr_expect_eq(m[0].on_full, MM_CFG_ON_FULL_BLOCK);
	cr_assert_eq(t_sub_match(&t, 0, "x/z", &m), 1);
	cr_expect_eq(m[0].on_full, MM_CFG_ON_FULL_BLOCK);
	cr_assert_eq(mm_rtr_sub_remove(&t, 1, 1), 0);
	cr_assert_eq(t_sub_match(&t, 0, "x/y", &m), 1);
	cr_expect_eq(m[0].on_full, MM_CFG_ON_FULL_DROP);
	mm_rtr_sub_done(&t);
}

Test(router_sub, scopes_session_routes_to_their_session)
{
	const struct mm_rtr_match *m;
	struct mm_rtr_sub t;
	int n;

	cr_assert_eq(mm_rtr_sub_init(&t, NULL, NULL), 0);
	cr_assert_eq(t_sub_add(&t, 1, 1, 0, "x", 0), 0);
	cr_assert_eq(t_sub_add(&t, 2, 1, MM_RTR_SESSION_ALL, "x", 0), 0);
	cr_assert_eq(t_sub_add(&t, 3, 1, 1, "x", 0), 0);
	n = t_sub_match(&t, 0, "x", &m);
	cr_expect_eq(n, 2);
	cr_expect(t_sub_find_client(m, n, 1) && t_sub_find_client(m, n, 2) &&
		  !t_sub_find_client(m, n, 3));
	n = t_sub_match(&t, 1, "x", &m);
	cr_expect_eq(n, 2);
	cr_expect(!t_sub_find_client(m, n, 1) && t_sub_find_client(m, n, 2) &&
		  t_sub_find_client(m, n, 3));
	n = t_sub_match(&t, 7, "x", &m);
	cr_expect_eq(n, 1);
	cr_expect(t_sub_find_client(m, n, 2));
	mm_rtr_sub_done(&t);
}

Test(router_sub, uses_the_topic_length_not_a_terminator)
{
	static const char buf[] = "a/bcd/e";
	const struct mm_rtr_match *m;
	struct mm_rtr_sub t;

	cr_assert_eq(mm_rtr_sub_init(&t, NULL, NULL), 0);
	cr_assert_eq(t_sub_add(&t, 1, 1, MM_RTR_SESSION_ALL, "a/b", 0), 0);
	cr_assert_eq(t_sub_add(&t, 2, 1, MM_RTR_SESSION_ALL, "a/bcd", 0), 0);
	cr_assert_eq(mm_rtr_sub_match(&t, 0, buf, 3, &m), 1);
	cr_expect_eq(m[0].client, 1);
	cr_assert_eq(mm_rtr_sub_match(&t, 0, buf, 5, &m), 1);
	cr_expect_eq(m[0].client, 2);
	cr_expect_eq(mm_rtr_sub_match(&t, 0, buf, 0, &m), -EINVAL);
	mm_rtr_sub_done(&t);
}

Test(router_sub, remove_client_frees_all_its_routes_and_reports_them)
{
	const struct mm_rtr_match *m;
	struct evlog l = { 0 };
	struct mm_rtr_sub t;

	cr_assert_eq(mm_rtr_sub_init(&t, t_sub_on_change, &l), 0);
	cr_assert_eq(t_sub_add(&t, 1, 1, 0, "a/#", 1), 0);
	cr_assert_eq(t_sub_add(&t, 1, 2, 0, "a/b", 0), 0);
	cr_assert_eq(t_sub_add(&t, 1, 3, 0, "c", 0), 0);
	cr_assert_eq(t_sub_add(&t, 2, 1, 0, "c", 0), 0);
	l.n = 0;
	cr_expect_eq(mm_rtr_sub_remove_client(&t, 1), 3);
	cr_expect_eq(mm_rtr_sub_remove_client(&t, 1), 0);
	cr_expect_eq(l.n, 2, "a/# and a/b go; c stays for client 2");
	cr_expect_eq(t_sub_match(&t, 0, "a/b", &m), 0);
	cr_assert_eq(t_sub_match(&t, 0, "c", &m), 1);
	cr_expect_eq(m[0].client, 2);
	cr_expect_eq(mm_rtr_sub_remove(&t, 1, 1), -ENOENT);
	cr_expect_eq(t_sub_add(&t, 1, 1, 0, "a/#", 0), 0, "the route id is free again");
	mm_rtr_sub_done(&t);
}

Test(router_sub, remove_takes_one_route_and_prunes_the_trie)
{
	const struct mm_rtr_match *m;
	struct mm_rtr_sub t;

	cr_assert_eq(mm_rtr_sub_init(&t, NULL, NULL), 0);
	cr_assert_eq(t_sub_add(&t, 1, 1, MM_RTR_SESSION_ALL, "a/b/c", 0), 0);
	cr_assert_eq(t_sub_add(&t, 1, 2, MM_RTR_SESSION_ALL, "a/+/#", 0), 0);
	cr_expect_eq(mm_rtr_sub_remove(&t, 1, 9), -ENOENT);
	cr_expect_eq(mm_rtr_sub_remove(&t, 2, 1), -ENOENT);
	cr_assert_eq(mm_rtr_sub_remove(&t, 1, 1), 0);
	cr_assert_eq(t_sub_match(&t, 0, "a/b/c", &m), 1);
	cr_expect(m[0].nids == 1 && m[0].ids[0] == 2);
	cr_assert_eq(mm_rtr_sub_remove(&t, 1, 2), 0);
	cr_expect_eq(t_sub_match(&t, 0, "a/b/c", &m), 0);
	cr_expect_null(t.root->plus);
	cr_expect_null(t.root->hash);
	cr_expect_eq(t.root->nkids, 0);
	cr_expect_eq(t.nclients, 0);
	mm_rtr_sub_done(&t);
}

/* ---- $share and refused filters ---- */

Test(router_sub, matches_share_filters_without_the_group_and_counts_them_apart)
{
	const struct mm_rtr_match *m;
	struct evlog l = { 0 };
	struct mm_rtr_sub t;
	int n;

	cr_assert_eq(mm_rtr_sub_init(&t, t_sub_on_change, &l), 0);
	cr_assert_eq(t_sub_add(&t, 1, 1, 0, "$share/g1/a/+", 1), 0);
	cr_assert_eq(t_sub_add(&t, 2, 1, 0, "$share/g2/a/+", 0), 0);
	cr_assert_eq(t_sub_add(&t, 3, 1, 0, "a/+", 0), 0);
	cr_assert_eq(l.n, 3);
	t_sub_expect_ev(&l, 0, 0, "$share/g1/a/+", MM_RTR_SUB_INACTIVE, 1);
	t_sub_expect_ev(&l, 1, 0, "$share/g2/a/+", MM_RTR_SUB_INACTIVE, 0);
	t_sub_expect_ev(&l, 2, 0, "a/+", MM_RTR_SUB_INACTIVE, 0);
	n = t_sub_match(&t, 0, "a/b", &m);
	cr_expect_eq(n, 3);
	cr_expect_eq(t_sub_match(&t, 0, "$share/g1/a/b", &m), 0);
	cr_assert_eq(mm_rtr_sub_remove(&t, 1, 1), 0);
	t_sub_expect_ev(&l, 3, 0, "$share/g1/a/+", 1, MM_RTR_SUB_INACTIVE);
	cr_expect_eq(t_sub_match(&t, 0, "a/b", &m), 2);
	mm_rtr_sub_done(&t);
}

static const char *const bad_filters[] = {
	"",	"a/#/b",    "a#",	 "#a",	      "a/b#",	     "a+",    "+a/b",
	"a/++", "$share/g", "$share//a", "$share/g/", "$share/g+/a", "a\xff",
};

ParameterizedTestParameters(router_sub, refuses_an_invalid_filter)
{
	static int idx[ARRAY_SIZE(bad_filters)];

	for (size_t i = 0; i < ARRAY_SIZE(idx); i++)
		idx[i] = (int)i;
	return cr_make_param_array(int, idx, ARRAY_SIZE(idx));
}

ParameterizedTest(int *i, router_sub, refuses_an_invalid_filter)
{
	struct evlog l = { 0 };
	struct mm_rtr_sub t;

	cr_assert_eq(mm_rtr_sub_init(&t, t_sub_on_change, &l), 0);
	cr_expect_eq(t_sub_add(&t, 1, 1, 0, bad_filters[*i], 0), -EINVAL, "'%s'", bad_filters[*i]);
	cr_expect_eq(l.n, 0);
	cr_expect_eq(t.nclients, 0);
	mm_rtr_sub_done(&t);
}

Test(router_sub, refuses_bad_routes)
{
	struct mm_rtr_route r = { .client = 1, .id = 1, .session = 0, .filter = "a" };
	char deep[MM_RTR_SUB_DEPTH_MAX + 1]; /* MM_RTR_SUB_DEPTH_MAX slashes */
	struct mm_rtr_sub t;

	cr_assert_eq(mm_rtr_sub_init(&t, NULL, NULL), 0);
	r.qos = 3;
	cr_expect_eq(mm_rtr_sub_add(&t, &r), -EINVAL);
	r.qos = 0;
	r.session = -2;
	cr_expect_eq(mm_rtr_sub_add(&t, &r), -EINVAL);
	r.session = MM_RTR_SESSION_MAX;
	cr_expect_eq(mm_rtr_sub_add(&t, &r), -EINVAL);
	r.session = 0;
	r.on_full = _MM_CFG_ON_FULL_MAX;
	cr_expect_eq(mm_rtr_sub_add(&t, &r), -EINVAL);
	r.on_full = MM_CFG_ON_FULL_DROP;
	r.filter = NULL;
	cr_expect_eq(mm_rtr_sub_add(&t, &r), -EINVAL);
	memset(deep, '/', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	r.filter = deep + 1;
	cr_expect_eq(mm_rtr_sub_add(&t, &r), 0, "MM_RTR_SUB_DEPTH_MAX levels are fine");
	r.filter = deep;
	r.id = 2;
	cr_expect_eq(mm_rtr_sub_add(&t, &r), -E2BIG);
	r.filter = "a";
	r.id = 1;
	cr_expect_eq(mm_rtr_sub_add(&t, &r), -EEXIST);
	mm_rtr_sub_done(&t);
}
