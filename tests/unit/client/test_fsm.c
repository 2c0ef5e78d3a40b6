/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux's connection state machine (shm/client/client_fsm.c), without a router: every
 * [state][event] cell, the predicates the library asks, and the paths of a router restart
 * (lost, drained, a failed attempt, rejoined).
 */
#include <criterion/criterion.h>

#include "client_fsm.h"

struct cell {
	enum mm_cl_conn state;
	enum mm_cl_conn_ev ev;
	enum mm_cl_conn next;
	enum mm_cl_act act;
};

#define CN MM_CL_CONNECTING
#define U  MM_CL_UP
#define B  MM_CL_BROKEN
#define L  MM_CL_LOST
#define W  MM_CL_WAITING
#define R  MM_CL_REJOINING

#define E_JO MM_CL_EV_JOINED
#define E_FA MM_CL_EV_FAILED
#define E_NO MM_CL_EV_NOTICED
#define E_DR MM_CL_EV_DRAINED
#define E_DU MM_CL_EV_DUE
#define E_AF MM_CL_EV_ATTEMPT_FAILED

#define N  MM_CL_ACT_NONE
#define IG MM_CL_ACT_IGNORED
#define TD MM_CL_ACT_TEARDOWN
#define AT MM_CL_ACT_ATTEMPT
#define BO MM_CL_ACT_BACKOFF
#define RC MM_CL_ACT_RECONNECTED

/* Every cell, one line per state, events in enum order. An ignored event keeps the state. */
static const struct cell Cells[] = {
	/* clang-format off */
	{ CN, E_JO, U, N }, { CN, E_FA, B, N }, { CN, E_NO, CN, IG },
	{ CN, E_DR, CN, IG }, { CN, E_DU, CN, IG }, { CN, E_AF, CN, IG },

	{ U, E_JO, U, IG }, { U, E_FA, B, N }, { U, E_NO, L, N },
	{ U, E_DR, U, IG }, { U, E_DU, U, IG }, { U, E_AF, U, IG },

	{ B, E_JO, B, IG }, { B, E_FA, B, IG }, { B, E_NO, L, N },
	{ B, E_DR, B, IG }, { B, E_DU, B, IG }, { B, E_AF, W, BO },

	{ L, E_JO, L, IG }, { L, E_FA, L, IG }, { L, E_NO, L, IG },
	{ L, E_DR, W, TD }, { L, E_DU, L, IG }, { L, E_AF, L, IG },

	{ W, E_JO, W, IG }, { W, E_FA, W, IG }, { W, E_NO, W, IG },
	{ W, E_DR, W, IG }, { W, E_DU, R, AT }, { W, E_AF, W, IG },

	{ R, E_JO, U, RC }, { R, E_FA, B, N }, { R, E_NO, R, IG },
	{ R, E_DR, R, IG }, { R, E_DU, R, IG }, { R, E_AF, W, BO },
	/* clang-format on */
};

Test(client_fsm, every_cell)
{
	size_t n = sizeof(Cells) / sizeof(Cells[0]);

	cr_assert_eq(n, (size_t)_MM_CL_CONN_MAX * _MM_CL_CONN_EV_MAX, "a cell is missing");
	for (size_t i = 0; i < n; i++) {
		const struct cell *c = &Cells[i];
		enum mm_cl_conn st = c->state;
		enum mm_cl_act act = mm_cl_fsm_feed(&st, c->ev);

		cr_expect_eq(c->state * _MM_CL_CONN_EV_MAX + c->ev, (int)i, "cells out of order");
		cr_expect_eq(st, c->next, "%s + %s -> %s, expected %s",
			     mm_cl_conn_to_string(c->state), mm_cl_conn_ev_to_string(c->ev),
			     mm_cl_conn_to_string(st), mm_cl_conn_to_string(c->next));
		cr_expect_eq(act, c->act, "%s + %s: %s, expected %s",
			     mm_cl_conn_to_string(c->state), mm_cl_conn_ev_to_string(c->ev),
			     mm_cl_act_to_string(act), mm_cl_act_to_string(c->act));
		if (c->act == IG)
			cr_expect_eq(c->next, c->state, "an ignored event moved the state");
	}
}

Test(client_fsm, predicates)
{
	for (int s = 0; s < _MM_CL_CONN_MAX; s++) {
		cr_expect_eq(mm_cl_conn_is_up(s), s == U, "%s", mm_cl_conn_to_string(s));
		cr_expect_eq(mm_cl_conn_can_send(s), s == CN || s == U || s == R, "%s",
			     mm_cl_conn_to_string(s));
		cr_expect_eq(mm_cl_conn_is_offline(s), s == L || s == W || s == R, "%s",
			     mm_cl_conn_to_string(s));
	}
}

Test(client_fsm, out_of_range_changes_nothing)
{
	enum mm_cl_conn st = U;

	cr_expect_eq(mm_cl_fsm_feed(&st, _MM_CL_CONN_EV_MAX), IG);
	cr_expect_eq(st, U);
	st = _MM_CL_CONN_MAX;
	cr_expect_eq(mm_cl_fsm_feed(&st, E_JO), IG);
	cr_expect_str_eq(mm_cl_conn_to_string(_MM_CL_CONN_MAX), "unknown");
	cr_expect_str_eq(mm_cl_conn_ev_to_string(_MM_CL_CONN_EV_MAX), "unknown");
	cr_expect_str_eq(mm_cl_act_to_string(_MM_CL_ACT_MAX), "unknown");
}

/* Feed <evs> from CONNECTING; the actions must be <acts>, the end state <end>. */
static void path(const enum mm_cl_conn_ev *evs, const enum mm_cl_act *acts, size_t n,
		 enum mm_cl_conn end)
{
	enum mm_cl_conn st = CN;

	for (size_t i = 0; i < n; i++)
		cr_expect_eq(mm_cl_fsm_feed(&st, evs[i]), acts[i], "step %zu (%s)", i,
			     mm_cl_conn_ev_to_string(evs[i]));
	cr_expect_eq(st, end, "ended in %s", mm_cl_conn_to_string(st));
}

Test(client_fsm, a_router_restart_is_drained_then_rejoined)
{
	const enum mm_cl_conn_ev e[] = { E_JO, E_FA, E_FA, E_NO, E_DR, E_DU, E_JO };
	const enum mm_cl_act a[] = { N, N, IG, N, TD, AT, RC };

	path(e, a, 7, U);
}

Test(client_fsm, an_eof_seen_by_dispatch_first_is_the_same_loss)
{
	const enum mm_cl_conn_ev e[] = { E_JO, E_NO, E_DR, E_DU, E_JO };
	const enum mm_cl_act a[] = { N, N, TD, AT, RC };

	path(e, a, 5, U);
}

Test(client_fsm, failed_attempts_back_off_until_one_gets_through)
{
	/* refused connect; then one that breaks half way through the routes */
	const enum mm_cl_conn_ev e[] = {
		E_JO, E_NO, E_DR, E_DU, E_AF, E_DU, E_FA, E_AF, E_DU, E_JO
	};
	const enum mm_cl_act a[] = { N, N, TD, AT, BO, AT, N, BO, AT, RC };

	path(e, a, 10, U);
}
