/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the subscription matcher's unit tests (test_sub.c, test_sub_count.c): a recorder
 * of the filter state changes and short forms of add and match.
 */
#ifndef T_SUB_H
#define T_SUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtr_sub.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct ev {
	uint32_t session;
	char filter[64];
	int old_qos;
	int new_qos;
};

/* What the change callback reported, in order. */
struct evlog {
	struct ev ev[32];
	size_t n;
};

/* An mm_rtr_sub_change_fn that appends to the struct evlog <arg>. */
void t_sub_on_change(void *arg, uint32_t session, const char *filter, int old_qos, int new_qos);
/* Check that event <i> of <l> is (s, f, old -> now). */
void t_sub_expect_ev(const struct evlog *l, size_t i, uint32_t s, const char *f, int old, int now);
/* mm_rtr_sub_add() of a DROP route. */
int t_sub_add(struct mm_rtr_sub *t, uint32_t client, uint32_t id, int32_t session,
	      const char *filter, uint8_t qos);
/* mm_rtr_sub_match() of a NUL-terminated topic. */
int t_sub_match(struct mm_rtr_sub *t, uint32_t session, const char *topic,
		const struct mm_rtr_match **m);
/* The element of <m> (<n> elements) for client <c>, or NULL. */
const struct mm_rtr_match *t_sub_find_client(const struct mm_rtr_match *m, int n, uint32_t c);
/* True if <m> is not NULL and lists route <id>. */
bool t_sub_has_id(const struct mm_rtr_match *m, uint32_t id);

#endif
