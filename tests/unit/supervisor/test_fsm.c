/* SPDX-License-Identifier: MIT */
/*
 * The supervisor's restart state machine, without a single process: every [state][event] cell
 * of the table, the backoff sequence and its jitter, healthy restarts, the crash-loop limit
 * (restart.burst per restart.window) and the timers (start timeout, hung child, stop
 * escalation, backoff expiry).
 */
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "sup_fsm.h"

#define SEC MM_NS_PER_SEC
#define MS  (SEC / 1000)
#define T0  (100 * SEC)

/* initial 0.1 s, max 30 s, burst 5 in 10 s: the documented defaults. */
static const struct mm_sup_policy Pol = {
	.initial_ns = 100 * MS, .max_ns = 30 * SEC, .burst = 5, .window_ns = 10 * SEC
};

/* A machine sitting in <st> as the loop would have left it at time T0. */
static void put_in_state(struct mm_sup_fsm *f, enum mm_child_state st)
{
	mm_sup_fsm_init(f);
	if (st == MM_CHILD_DOWN)
		return;
	cr_assert_eq(mm_sup_fsm_feed(f, &Pol, MM_CHILD_EV_SPAWNED, T0 - 6 * SEC, 0),
		     MM_SUP_ACT_NONE);
	if (st == MM_CHILD_STARTING) {
		f->deadline_ns = T0 + SEC;
		return;
	}
	cr_assert_eq(mm_sup_fsm_feed(f, &Pol, MM_CHILD_EV_READY, T0 - 5 * SEC, 0), MM_SUP_ACT_NONE);
	if (st == MM_CHILD_UP)
		return;
	if (st == MM_CHILD_STOPPING)
		cr_assert_eq(mm_sup_fsm_feed(f, &Pol, MM_CHILD_EV_STOP_REQ, T0 - SEC, 0),
			     MM_SUP_ACT_STOP);
	else if (st == MM_CHILD_BACKOFF)
		f->state = MM_CHILD_BACKOFF, f->deadline_ns = T0, f->ready_ns = 0,
		f->backoff_ns = Pol.initial_ns;
	else if (st == MM_CHILD_FAILED)
		cr_assert_eq(mm_sup_fsm_feed(f, &Pol, MM_CHILD_EV_EXIT_CONFIG, T0 - SEC, 0),
			     MM_SUP_ACT_NONE);
	cr_assert_eq(f->state, st);
}

struct cell {
	int state, ev, next, act;
};

#define D  MM_CHILD_DOWN
#define ST MM_CHILD_STARTING
#define U  MM_CHILD_UP
#define SP MM_CHILD_STOPPING
#define B  MM_CHILD_BACKOFF
#define F  MM_CHILD_FAILED
#define N  MM_SUP_ACT_NONE
#define SW MM_SUP_ACT_SPAWN
#define SO MM_SUP_ACT_STOP
#define K  MM_SUP_ACT_KILL
#define I  MM_SUP_ACT_IGNORED

/* Every cell: (state, event) -> (next state, action). An ignored event keeps the state. */
static const struct cell Cells[] = {
	/* clang-format off */
	/* DOWN */
	{ D, MM_CHILD_EV_SPAWNED, ST, N },  { D, MM_CHILD_EV_READY, D, I },
	{ D, MM_CHILD_EV_HEARTBEAT, D, I }, { D, MM_CHILD_EV_EXITED, B, N },
	{ D, MM_CHILD_EV_EXIT_CONFIG, D, I }, { D, MM_CHILD_EV_STOP_REQ, D, N },
	{ D, MM_CHILD_EV_TIMEOUT, D, I },   { D, MM_CHILD_EV_HUNG, D, I },
	{ D, MM_CHILD_EV_CHAN_EOF, D, I },
	/* STARTING */
	{ ST, MM_CHILD_EV_SPAWNED, ST, I }, { ST, MM_CHILD_EV_READY, U, N },
	{ ST, MM_CHILD_EV_HEARTBEAT, ST, I }, { ST, MM_CHILD_EV_EXITED, B, N },
	{ ST, MM_CHILD_EV_EXIT_CONFIG, F, N }, { ST, MM_CHILD_EV_STOP_REQ, SP, SO },
	{ ST, MM_CHILD_EV_TIMEOUT, ST, K }, { ST, MM_CHILD_EV_HUNG, ST, I },
	{ ST, MM_CHILD_EV_CHAN_EOF, ST, N },
	/* UP (ready for 5 s: a healthy run) */
	{ U, MM_CHILD_EV_SPAWNED, U, I },   { U, MM_CHILD_EV_READY, U, N },
	{ U, MM_CHILD_EV_HEARTBEAT, U, N }, { U, MM_CHILD_EV_EXITED, B, SW },
	{ U, MM_CHILD_EV_EXIT_CONFIG, F, N }, { U, MM_CHILD_EV_STOP_REQ, SP, SO },
	{ U, MM_CHILD_EV_TIMEOUT, U, I },   { U, MM_CHILD_EV_HUNG, U, K },
	{ U, MM_CHILD_EV_CHAN_EOF, U, N },
	/* STOPPING */
	{ SP, MM_CHILD_EV_SPAWNED, SP, I }, { SP, MM_CHILD_EV_READY, SP, I },
	{ SP, MM_CHILD_EV_HEARTBEAT, SP, I }, { SP, MM_CHILD_EV_EXITED, D, N },
	{ SP, MM_CHILD_EV_EXIT_CONFIG, D, N }, { SP, MM_CHILD_EV_STOP_REQ, SP, I },
	{ SP, MM_CHILD_EV_TIMEOUT, SP, K }, { SP, MM_CHILD_EV_HUNG, SP, I },
	{ SP, MM_CHILD_EV_CHAN_EOF, SP, N },
	/* BACKOFF */
	{ B, MM_CHILD_EV_SPAWNED, ST, N },  { B, MM_CHILD_EV_READY, B, I },
	{ B, MM_CHILD_EV_HEARTBEAT, B, I }, { B, MM_CHILD_EV_EXITED, B, N },
	{ B, MM_CHILD_EV_EXIT_CONFIG, B, I }, { B, MM_CHILD_EV_STOP_REQ, D, N },
	{ B, MM_CHILD_EV_TIMEOUT, B, SW },  { B, MM_CHILD_EV_HUNG, B, I },
	{ B, MM_CHILD_EV_CHAN_EOF, B, I },
	/* FAILED */
	{ F, MM_CHILD_EV_SPAWNED, F, I },   { F, MM_CHILD_EV_READY, F, I },
	{ F, MM_CHILD_EV_HEARTBEAT, F, I }, { F, MM_CHILD_EV_EXITED, F, I },
	{ F, MM_CHILD_EV_EXIT_CONFIG, F, I }, { F, MM_CHILD_EV_STOP_REQ, D, N },
	{ F, MM_CHILD_EV_TIMEOUT, F, I },   { F, MM_CHILD_EV_HUNG, F, I },
	{ F, MM_CHILD_EV_CHAN_EOF, F, I },
	/* clang-format on */
};

Test(sup_fsm, table_has_a_row_for_every_cell)
{
	int seen[_MM_CHILD_STATE_MAX][_MM_CHILD_EV_MAX] = { { 0 } };

	for (size_t i = 0; i < sizeof(Cells) / sizeof(Cells[0]); i++)
		seen[Cells[i].state][Cells[i].ev]++;
	for (int s = 0; s < _MM_CHILD_STATE_MAX; s++)
		for (int e = 0; e < _MM_CHILD_EV_MAX; e++)
			cr_expect_eq(seen[s][e], 1, "cell %s/%s", mm_child_state_to_string(s),
				     mm_child_ev_to_string(e));
}

ParameterizedTestParameters(sup_fsm, every_cell_moves_and_acts_as_specified)
{
	return cr_make_param_array(struct cell, (struct cell *)Cells,
				   sizeof(Cells) / sizeof(Cells[0]));
}

ParameterizedTest(struct cell *c, sup_fsm, every_cell_moves_and_acts_as_specified)
{
	struct mm_sup_fsm f, before;
	enum mm_sup_act act;

	put_in_state(&f, (enum mm_child_state)c->state);
	before = f;
	act = mm_sup_fsm_feed(&f, &Pol, (enum mm_child_ev)c->ev, T0, 0);
	cr_expect_eq(act, c->act, "%s + %s: action %s, want %s", mm_child_state_to_string(c->state),
		     mm_child_ev_to_string(c->ev), mm_sup_act_to_string(act),
		     mm_sup_act_to_string(c->act));
	cr_expect_eq(f.state, (enum mm_child_state)c->next, "%s + %s: state %s, want %s",
		     mm_child_state_to_string(c->state), mm_child_ev_to_string(c->ev),
		     mm_child_state_to_string(f.state), mm_child_state_to_string(c->next));
	if (c->act == MM_SUP_ACT_IGNORED)
		cr_expect(!memcmp(&f, &before, sizeof(f)), "an ignored event changed the machine");
	mm_sup_fsm_done(&f);
}

Test(sup_fsm, backoff_doubles_from_initial_up_to_the_cap)
{
	uint64_t ns = 0, want = 100 * MS;

	for (int i = 0; i < 12; i++) {
		ns = mm_sup_backoff_next(&Pol, ns);
		cr_expect_eq(ns, want, "step %d: %llu ns", i, (unsigned long long)ns);
		want = want * 2 > Pol.max_ns ? Pol.max_ns : want * 2;
	}
	cr_expect_eq(mm_sup_backoff_next(&Pol, Pol.max_ns), Pol.max_ns);
}

Test(sup_fsm, jitter_shortens_a_delay_by_at_most_a_fifth)
{
	uint64_t ns = 30 * SEC, lo = ns, hi = 0;

	for (uint64_t rnd = 0; rnd < 3000; rnd++) {
		uint64_t j = mm_sup_backoff_jitter(ns, rnd * 7919);

		cr_assert_leq(j, ns);
		cr_assert_geq(j, ns - ns / 5);
		lo = j < lo ? j : lo;
		hi = j > hi ? j : hi;
	}
	cr_expect_eq(mm_sup_backoff_jitter(ns, 0), ns);
	cr_expect_lt(lo, ns - ns / 10, "jitter spreads the delays");
	cr_expect_eq(hi, ns);
}

/* Spawn at <t>, exit <up_ns> later (READY at once if ready); returns the action. */
static enum mm_sup_act run_once(struct mm_sup_fsm *f, uint64_t t, uint64_t up_ns, bool ready)
{
	cr_assert_eq(mm_sup_fsm_feed(f, &Pol, MM_CHILD_EV_SPAWNED, t, 0), MM_SUP_ACT_NONE);
	if (ready)
		cr_assert_eq(mm_sup_fsm_feed(f, &Pol, MM_CHILD_EV_READY, t, 0), MM_SUP_ACT_NONE);
	return mm_sup_fsm_feed(f, &Pol, MM_CHILD_EV_EXITED, t + up_ns, 0);
}

Test(sup_fsm, restart_is_immediate_after_one_second_ready)
{
	struct mm_sup_fsm f;

	mm_sup_fsm_init(&f);
	cr_expect_eq(run_once(&f, T0, SEC, true), MM_SUP_ACT_SPAWN);
	cr_expect_eq(f.state, MM_CHILD_BACKOFF);
	cr_expect_eq(mm_sup_fsm_next_ns(&f), 0, "no timer: the caller spawns now");
	cr_expect_eq(f.backoff_ns, 0);
	mm_sup_fsm_done(&f);
}

Test(sup_fsm, restart_backs_off_when_ready_for_less_than_one_second)
{
	struct mm_sup_fsm f;

	mm_sup_fsm_init(&f);
	cr_expect_eq(run_once(&f, T0, SEC - 1, true), MM_SUP_ACT_NONE);
	cr_expect_eq(f.state, MM_CHILD_BACKOFF);
	cr_expect_eq(f.deadline_ns, T0 + SEC - 1 + Pol.initial_ns);
	mm_sup_fsm_done(&f);
}

Test(sup_fsm, quick_failures_double_the_delay)
{
	struct mm_sup_fsm f;
	uint64_t t = T0, want = Pol.initial_ns;

	mm_sup_fsm_init(&f);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(run_once(&f, t, MS, false), MM_SUP_ACT_NONE);
		cr_expect_eq(f.last_delay_ns, want, "failure %d", i);
		cr_expect(!f.failed);
		t = f.deadline_ns;
		want *= 2;
	}
	cr_expect_eq(f.restarts, 3);
	cr_expect_eq(f.starts, 4);
	mm_sup_fsm_done(&f);
}

Test(sup_fsm, healthy_run_resets_the_backoff)
{
	struct mm_sup_fsm f;

	mm_sup_fsm_init(&f);
	(void)run_once(&f, T0, MS, false);
	(void)run_once(&f, f.deadline_ns, MS, false);
	cr_assert_eq(f.backoff_ns, 2 * Pol.initial_ns);
	cr_expect_eq(run_once(&f, 2 * T0, 2 * SEC, true), MM_SUP_ACT_SPAWN);
	cr_expect_eq(run_once(&f, 2 * T0 + 2 * SEC, MS, false), MM_SUP_ACT_NONE);
	cr_expect_eq(f.last_delay_ns, Pol.initial_ns);
	mm_sup_fsm_done(&f);
}

/*
 * The start times are kept for the policy's burst only (not for the largest burst the config
 * allows): a reload that changes restart.burst resizes them, keeping the newest.
 */
Test(sup_fsm, a_changed_burst_keeps_the_newest_starts)
{
	struct mm_sup_policy small = Pol, big = Pol;
	struct mm_sup_fsm f;

	small.burst = 2;
	big.burst = 4;
	mm_sup_fsm_init(&f);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(
			mm_sup_fsm_feed(&f, &small, MM_CHILD_EV_SPAWNED, T0 + (uint64_t)i * MS, 0),
			MM_SUP_ACT_NONE);
		(void)mm_sup_fsm_feed(&f, &small, MM_CHILD_EV_EXITED, T0 + (uint64_t)i * MS + 1, 0);
	}
	cr_expect_eq(f.cap_recent, 2, "room for burst starts, no more");
	cr_expect_eq(f.n_recent, 2);
	cr_expect(f.failed, "3 starts in a window of burst 2");
	cr_assert_eq(mm_sup_fsm_feed(&f, &big, MM_CHILD_EV_SPAWNED, T0 + 10 * MS, 0),
		     MM_SUP_ACT_NONE);
	cr_expect_eq(f.cap_recent, 4);
	cr_expect_eq(f.n_recent, 3, "the two kept, and the new one");
	cr_expect_eq(f.recent[f.head], T0 + MS, "the oldest kept is the second start");
	mm_sup_fsm_done(&f);
	cr_expect_null(f.recent);
}

/* A crash loop: every window of restart.window holds at most restart.burst starts. */
Test(sup_fsm, crash_loop_is_marked_failed_and_limited_to_burst_per_window)
{
	uint64_t starts[64], t = T0;
	struct mm_sup_fsm f;
	size_t n = 0;

	mm_sup_fsm_init(&f);
	while (t < T0 + 120 * SEC && n < 64) {
		starts[n++] = t;
		if (run_once(&f, t, MS, false) == MM_SUP_ACT_SPAWN)
			cr_assert_fail("a crash loop never restarts at once");
		cr_assert_eq(f.state, MM_CHILD_BACKOFF, "a crash loop is retried, never given up");
		t = f.deadline_ns;
		if (n == Pol.burst)
			cr_expect(f.failed, "the start after the burst is refused: failed");
		if (n < Pol.burst)
			cr_expect(!f.failed, "not failed after %zu starts", n);
	}
	for (size_t i = 0; i + Pol.burst < n; i++)
		cr_expect_geq(starts[i + Pol.burst] - starts[i], Pol.window_ns,
			      "starts %zu..%zu within one window", i, i + (size_t)Pol.burst);
	cr_expect_geq(f.last_delay_ns, Pol.max_ns - Pol.max_ns / 5, "retried at the cap");
	mm_sup_fsm_done(&f);
}

Test(sup_fsm, failed_mark_clears_after_a_window_up)
{
	struct mm_sup_fsm f;

	mm_sup_fsm_init(&f);
	f.failed = true;
	(void)mm_sup_fsm_feed(&f, &Pol, MM_CHILD_EV_SPAWNED, T0, 0);
	(void)mm_sup_fsm_feed(&f, &Pol, MM_CHILD_EV_READY, T0, 0);
	(void)mm_sup_fsm_feed(&f, &Pol, MM_CHILD_EV_HEARTBEAT, T0 + Pol.window_ns - 1, 0);
	cr_expect(f.failed);
	(void)mm_sup_fsm_feed(&f, &Pol, MM_CHILD_EV_HEARTBEAT, T0 + Pol.window_ns, 0);
	cr_expect(!f.failed);
	mm_sup_fsm_done(&f);
}

Test(sup_fsm, exit_config_is_permanent)
{
	struct mm_sup_fsm f;
	enum mm_child_ev ev;

	put_in_state(&f, MM_CHILD_FAILED);
	cr_expect(!mm_sup_fsm_due(&f, T0 + 1000 * SEC, &ev), "no timer ever restarts it");
	cr_expect(!mm_sup_fsm_has_process(&f));
	mm_sup_fsm_done(&f);
}

Test(sup_fsm, starting_child_times_out_without_ready)
{
	struct mm_sup_fsm f;
	enum mm_child_ev ev;

	mm_sup_fsm_init(&f);
	(void)mm_sup_fsm_feed(&f, &Pol, MM_CHILD_EV_SPAWNED, T0, 0);
	cr_expect(!mm_sup_fsm_due(&f, T0 + MM_SUP_START_TIMEOUT_NS - 1, &ev));
	cr_assert(mm_sup_fsm_due(&f, T0 + MM_SUP_START_TIMEOUT_NS, &ev));
	cr_expect_eq(ev, MM_CHILD_EV_TIMEOUT);
	cr_expect_eq(mm_sup_fsm_feed(&f, &Pol, ev, T0 + MM_SUP_START_TIMEOUT_NS, 0),
		     MM_SUP_ACT_KILL);
	cr_expect(!mm_sup_fsm_due(&f, T0 + 100 * SEC, &ev), "one SIGKILL is enough");
	mm_sup_fsm_done(&f);
}

Test(sup_fsm, up_child_is_hung_after_three_missed_heartbeats)
{
	const uint64_t hung = MM_SUP_HUNG_BEATS * MM_SUP_HEARTBEAT_NS;
	struct mm_sup_fsm f;
	enum mm_child_ev ev;

	put_in_state(&f, MM_CHILD_UP);
	(void)mm_sup_fsm_feed(&f, &Pol, MM_CHILD_EV_HEARTBEAT, T0, 0);
	cr_expect(!mm_sup_fsm_due(&f, T0 + hung - 1, &ev));
	cr_assert(mm_sup_fsm_due(&f, T0 + hung, &ev));
	cr_expect_eq(ev, MM_CHILD_EV_HUNG);
	(void)mm_sup_fsm_feed(&f, &Pol, MM_CHILD_EV_HEARTBEAT, T0 + SEC, 0);
	cr_expect(!mm_sup_fsm_due(&f, T0 + hung, &ev), "a heartbeat postpones it");
	cr_expect_eq(mm_sup_fsm_feed(&f, &Pol, MM_CHILD_EV_HUNG, T0 + SEC + hung, 0),
		     MM_SUP_ACT_KILL);
	cr_expect(!mm_sup_fsm_due(&f, T0 + 100 * SEC, &ev));
	mm_sup_fsm_done(&f);
}

Test(sup_fsm, stopping_child_is_killed_after_the_stop_timeout)
{
	struct mm_sup_fsm f;
	enum mm_child_ev ev;

	put_in_state(&f, MM_CHILD_UP);
	cr_assert_eq(mm_sup_fsm_feed(&f, &Pol, MM_CHILD_EV_STOP_REQ, T0, 0), MM_SUP_ACT_STOP);
	cr_expect(!mm_sup_fsm_due(&f, T0 + MM_SUP_STOP_TIMEOUT_NS - 1, &ev));
	cr_assert(mm_sup_fsm_due(&f, T0 + MM_SUP_STOP_TIMEOUT_NS, &ev));
	cr_expect_eq(ev, MM_CHILD_EV_TIMEOUT);
	cr_expect_eq(mm_sup_fsm_feed(&f, &Pol, ev, T0 + MM_SUP_STOP_TIMEOUT_NS, 0),
		     MM_SUP_ACT_KILL);
	cr_expect_eq(mm_sup_fsm_feed(&f, &Pol, MM_CHILD_EV_EXITED, T0 + 6 * SEC, 0),
		     MM_SUP_ACT_NONE);
	cr_expect_eq(f.state, MM_CHILD_DOWN, "stopped on request: not restarted");
	mm_sup_fsm_done(&f);
}

Test(sup_fsm, backoff_expiry_asks_for_a_spawn)
{
	struct mm_sup_fsm f;
	enum mm_child_ev ev;

	mm_sup_fsm_init(&f);
	(void)run_once(&f, T0, MS, false);
	cr_expect(!mm_sup_fsm_due(&f, f.deadline_ns - 1, &ev));
	cr_assert(mm_sup_fsm_due(&f, f.deadline_ns, &ev));
	cr_expect_eq(ev, MM_CHILD_EV_TIMEOUT);
	cr_expect_eq(mm_sup_fsm_feed(&f, &Pol, ev, f.deadline_ns, 0), MM_SUP_ACT_SPAWN);
	mm_sup_fsm_done(&f);
}

Test(sup_fsm, idle_states_have_no_timer)
{
	struct mm_sup_fsm f;
	enum mm_child_ev ev;

	mm_sup_fsm_init(&f);
	cr_expect(!mm_sup_fsm_due(&f, UINT64_MAX, &ev));
	cr_expect_eq(mm_sup_fsm_next_ns(&f), 0);
	mm_sup_fsm_done(&f);
}

Test(sup_fsm, policy_comes_from_the_restart_block)
{
	struct mm_cfg_restart r = { .initial = 0.25, .max = 2.0, .burst = 5000, .window = 7.5 };
	struct mm_sup_policy p;

	mm_sup_policy_from_cfg(&p, &r);
	cr_expect_eq(p.initial_ns, 250 * MS);
	cr_expect_eq(p.max_ns, 2 * SEC);
	cr_expect_eq(p.burst, MM_SUP_BURST_MAX);
	cr_expect_eq(p.window_ns, 7500 * MS);
}

Test(sup_fsm, names_cover_every_value)
{
	for (int i = 0; i < _MM_CHILD_STATE_MAX; i++)
		cr_expect_str_neq(mm_child_state_to_string(i), "?");
	for (int i = 0; i < _MM_CHILD_EV_MAX; i++)
		cr_expect_str_neq(mm_child_ev_to_string(i), "?");
	for (int i = 0; i < _MM_SUP_ACT_MAX; i++)
		cr_expect_str_neq(mm_sup_act_to_string(i), "?");
	cr_expect_str_eq(mm_child_state_to_string(_MM_CHILD_STATE_MAX), "?");
}
