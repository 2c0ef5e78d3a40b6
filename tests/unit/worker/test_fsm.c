/* SPDX-License-Identifier: MIT */
/*
 * The worker's connection state machine (worker/wrk_fsm.c), without a broker: every
 * [state][event] cell, the predicates the worker asks, and the paths of a session's life
 * (connect, lose and reconnect, refusal, a graceful stop, a stop while connecting).
 */
#include <criterion/criterion.h>

#include "wrk_fsm.h"

struct cell {
	enum mm_wrk_conn state;
	enum mm_wrk_conn_ev ev;
	enum mm_wrk_conn next;
	enum mm_wrk_act act;
};

#define I  MM_WRK_CONN_IDLE
#define C  MM_WRK_CONN_CONNECTING
#define RF MM_WRK_CONN_REFUSED
#define U  MM_WRK_CONN_UP
#define CL MM_WRK_CONN_CLOSING
#define W  MM_WRK_CONN_WAITING
#define SG MM_WRK_CONN_STOPPING
#define SD MM_WRK_CONN_STOPPED
#define D  MM_WRK_CONN_DONE

#define E_ST MM_WRK_CONN_EV_START
#define E_CA MM_WRK_CONN_EV_CONNACK
#define E_RF MM_WRK_CONN_EV_REFUSED
#define E_DI MM_WRK_CONN_EV_DISCONNECTED
#define E_LO MM_WRK_CONN_EV_LOST
#define E_LF MM_WRK_CONN_EV_LOST_FINAL
#define E_SP MM_WRK_CONN_EV_STOP
#define E_TM MM_WRK_CONN_EV_STOP_TIMER
#define E_FT MM_WRK_CONN_EV_FATAL

#define N  MM_WRK_ACT_NONE
#define AT MM_WRK_ACT_ATTEMPT
#define RT MM_WRK_ACT_RETRY
#define GU MM_WRK_ACT_GIVE_UP
#define DC MM_WRK_ACT_DISCONNECT
#define EX MM_WRK_ACT_EXIT
#define RX MM_WRK_ACT_REPORT_EXIT

/* Every cell, one line per state, events in enum order. */
static const struct cell Cells[] = {
	/* clang-format off */
	{ I, E_ST, C, AT }, { I, E_CA, I, N }, { I, E_RF, I, N }, { I, E_DI, I, N },
	{ I, E_LO, I, N }, { I, E_LF, I, N }, { I, E_SP, D, EX }, { I, E_TM, I, N }, { I, E_FT, D, EX },

	{ C, E_ST, C, N }, { C, E_CA, U, N }, { C, E_RF, RF, N }, { C, E_DI, C, N },
	{ C, E_LO, W, RT }, { C, E_LF, I, GU }, { C, E_SP, SD, EX }, { C, E_TM, C, N }, { C, E_FT, D, EX },

	{ RF, E_ST, RF, N }, { RF, E_CA, U, N }, { RF, E_RF, RF, N }, { RF, E_DI, RF, N },
	{ RF, E_LO, W, RT }, { RF, E_LF, I, GU }, { RF, E_SP, SD, EX }, { RF, E_TM, RF, N }, { RF, E_FT, D, EX },

	{ U, E_ST, U, N }, { U, E_CA, U, N }, { U, E_RF, RF, N }, { U, E_DI, CL, N },
	{ U, E_LO, W, RT }, { U, E_LF, I, GU }, { U, E_SP, SG, DC }, { U, E_TM, U, N }, { U, E_FT, D, EX },

	{ CL, E_ST, CL, N }, { CL, E_CA, U, N }, { CL, E_RF, RF, N }, { CL, E_DI, CL, N },
	{ CL, E_LO, W, RT }, { CL, E_LF, I, GU }, { CL, E_SP, SD, EX }, { CL, E_TM, CL, N }, { CL, E_FT, D, EX },

	{ W, E_ST, C, AT }, { W, E_CA, W, N }, { W, E_RF, W, N }, { W, E_DI, W, N },
	{ W, E_LO, W, N }, { W, E_LF, W, N }, { W, E_SP, D, EX }, { W, E_TM, W, N }, { W, E_FT, D, EX },

	{ SG, E_ST, SG, N }, { SG, E_CA, SG, N }, { SG, E_RF, SG, N }, { SG, E_DI, SG, N },
	{ SG, E_LO, D, RX }, { SG, E_LF, D, RX }, { SG, E_SP, SG, N }, { SG, E_TM, SD, EX }, { SG, E_FT, D, EX },

	{ SD, E_ST, SD, N }, { SD, E_CA, SD, N }, { SD, E_RF, SD, N }, { SD, E_DI, SD, N },
	{ SD, E_LO, D, RX }, { SD, E_LF, D, RX }, { SD, E_SP, SD, N }, { SD, E_TM, SD, N }, { SD, E_FT, D, EX },

	{ D, E_ST, D, N }, { D, E_CA, D, N }, { D, E_RF, D, N }, { D, E_DI, D, N },
	{ D, E_LO, D, N }, { D, E_LF, D, N }, { D, E_SP, D, N }, { D, E_TM, D, N }, { D, E_FT, D, N },
	/* clang-format on */
};

Test(worker_fsm, every_cell)
{
	size_t n = sizeof(Cells) / sizeof(Cells[0]);

	cr_assert_eq(n, (size_t)_MM_WRK_CONN_MAX * _MM_WRK_CONN_EV_MAX, "a cell is missing");
	for (size_t i = 0; i < n; i++) {
		const struct cell *c = &Cells[i];
		enum mm_wrk_conn st = c->state;
		enum mm_wrk_act act = mm_wrk_fsm_feed(&st, c->ev);

		cr_expect_eq(c->state * _MM_WRK_CONN_EV_MAX + c->ev, (int)i, "cells out of order");
		cr_expect_eq(st, c->next, "%s + %s -> %s, expected %s",
			     mm_wrk_conn_to_string(c->state), mm_wrk_conn_ev_to_string(c->ev),
			     mm_wrk_conn_to_string(st), mm_wrk_conn_to_string(c->next));
		cr_expect_eq(act, c->act, "%s + %s: %s, expected %s",
			     mm_wrk_conn_to_string(c->state), mm_wrk_conn_ev_to_string(c->ev),
			     mm_wrk_act_to_string(act), mm_wrk_act_to_string(c->act));
	}
}

Test(worker_fsm, predicates)
{
	for (int s = 0; s < _MM_WRK_CONN_MAX; s++) {
		cr_expect_eq(mm_wrk_conn_is_up(s), s == U, "%s", mm_wrk_conn_to_string(s));
		cr_expect_eq(mm_wrk_conn_is_stopping(s), s == SG || s == SD || s == D, "%s",
			     mm_wrk_conn_to_string(s));
		cr_expect_eq(mm_wrk_conn_is_done(s), s == SD || s == D, "%s",
			     mm_wrk_conn_to_string(s));
		cr_expect_eq(mm_wrk_conn_takes_socket(s), s != I && s != W && s != D, "%s",
			     mm_wrk_conn_to_string(s));
	}
}

/* The worker reports a loss only in the states where the table has something to do with it. */
Test(worker_fsm, a_loss_is_reported_exactly_where_a_socket_is_taken)
{
	for (int s = 0; s < _MM_WRK_CONN_MAX; s++) {
		enum mm_wrk_conn st = s;

		cr_expect_eq(mm_wrk_conn_takes_socket(s), mm_wrk_fsm_feed(&st, E_LO) != N, "%s",
			     mm_wrk_conn_to_string(s));
	}
}

Test(worker_fsm, out_of_range_changes_nothing)
{
	enum mm_wrk_conn st = U;

	cr_expect_eq(mm_wrk_fsm_feed(&st, _MM_WRK_CONN_EV_MAX), N);
	cr_expect_eq(st, U);
	st = _MM_WRK_CONN_MAX;
	cr_expect_eq(mm_wrk_fsm_feed(&st, E_SP), N);
	cr_expect_eq(st, _MM_WRK_CONN_MAX);
	cr_expect_str_eq(mm_wrk_conn_to_string(_MM_WRK_CONN_MAX), "unknown");
	cr_expect_str_eq(mm_wrk_conn_ev_to_string(_MM_WRK_CONN_EV_MAX), "unknown");
	cr_expect_str_eq(mm_wrk_act_to_string(_MM_WRK_ACT_MAX), "unknown");
}

/* Feed <evs> from IDLE; the actions must be <acts>, the end state <end>. */
static void path(const enum mm_wrk_conn_ev *evs, const enum mm_wrk_act *acts, size_t n,
		 enum mm_wrk_conn end)
{
	enum mm_wrk_conn st = I;

	for (size_t i = 0; i < n; i++)
		cr_expect_eq(mm_wrk_fsm_feed(&st, evs[i]), acts[i], "step %zu (%s)", i,
			     mm_wrk_conn_ev_to_string(evs[i]));
	cr_expect_eq(st, end, "ended in %s", mm_wrk_conn_to_string(st));
}

Test(worker_fsm, a_loss_is_reported_once_and_the_session_comes_back)
{
	/* on_disconnect twice, then the socket watch: one report, one reconnect */
	const enum mm_wrk_conn_ev e[] = { E_ST, E_CA, E_DI, E_DI, E_LO, E_LO, E_ST, E_CA };
	const enum mm_wrk_act a[] = { AT, N, N, N, RT, N, AT, N };

	path(e, a, 8, U);
}

Test(worker_fsm, a_refusal_then_the_close_is_one_failure)
{
	const enum mm_wrk_conn_ev e[] = { E_ST, E_RF, E_LO, E_ST };
	const enum mm_wrk_act a[] = { AT, N, RT, AT };

	path(e, a, 4, C);
}

Test(worker_fsm, without_auto_reconnect_the_session_stays_down_until_stopped)
{
	const enum mm_wrk_conn_ev e[] = { E_ST, E_CA, E_LF, E_LF, E_DI, E_SP };
	const enum mm_wrk_act a[] = { AT, N, GU, N, N, EX };

	path(e, a, 6, D);
}

Test(worker_fsm, a_graceful_stop_reports_the_close_then_ends)
{
	const enum mm_wrk_conn_ev e[] = { E_ST, E_CA, E_SP, E_SP, E_LO };
	const enum mm_wrk_act a[] = { AT, N, DC, N, RX };

	path(e, a, 5, D);
}

Test(worker_fsm, a_stop_that_times_out_still_reports_a_late_close)
{
	const enum mm_wrk_conn_ev e[] = { E_ST, E_CA, E_SP, E_TM, E_LO, E_LO };
	const enum mm_wrk_act a[] = { AT, N, DC, EX, RX, N };

	path(e, a, 6, D);
}

Test(worker_fsm, a_fatal_error_ends_the_loop_from_anywhere)
{
	for (int s = 0; s < _MM_WRK_CONN_MAX; s++) {
		enum mm_wrk_conn st = s;

		(void)mm_wrk_fsm_feed(&st, E_FT);
		cr_expect_eq(st, D, "%s", mm_wrk_conn_to_string(s));
		cr_expect(mm_wrk_conn_is_done(st));
	}
}

Test(worker_fsm, a_stop_while_connecting_or_waiting_ends_at_once)
{
	const enum mm_wrk_conn_ev e1[] = { E_ST, E_SP };
	const enum mm_wrk_act a1[] = { AT, EX };
	const enum mm_wrk_conn_ev e2[] = { E_ST, E_LO, E_SP, E_ST };
	const enum mm_wrk_act a2[] = { AT, RT, EX, N };

	path(e1, a1, 2, SD);
	path(e2, a2, 4, D);
}
