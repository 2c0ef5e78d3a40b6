/* SPDX-License-Identifier: MIT */
/*
 * The router's live session table (docs/router.md, "Live sessions") through libmqttmux: the
 * test acts as mqttmuxd with the same handoff and descriptor code (t_router.c), starts the
 * router with sessions a and b (fake workers: the test writes their in-rings and reads their
 * cmd-rings), then adds, removes and re-rings sessions on the router's channel as the
 * supervisor does. The router keeps its pid and the client its connection throughout.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "chan.h"
#include "mm_time.h"
#include "mqttmux.h"
#include "records.h"
#include "t_helpers.h"
#include "t_router.h"
#include "t_worker.h"

#define NSESS 2
#define NMORE 3 /* rings made during a test */

static char *Dir, *Run, *Cfg;
static struct t_rsess S[NSESS + NMORE];
static pid_t Router;
static int Chan = -1;

static void setup(void)
{
	char *text;
	int fds[NSESS][MM_FD_SESS_N];

	Dir = t_tmpdir("live-table");
	cr_assert_not_null(Dir);
	cr_assert(asprintf(&Run, "%s/run", Dir) > 0);
	cr_assert(
		asprintf(&text,
			 "runtime_dir = \"%s\";\nclients = { ring_size = 65536; };\n"
			 "sessions = ( { name = \"a\"; brokers = [ \"tcp://127.0.0.1:1\" ];"
			 " client_id = \"la\"; performance = { max_message_size = 16384; }; },\n"
			 "  { name = \"b\"; brokers = [ \"tcp://127.0.0.1:1\" ];"
			 " client_id = \"lb\"; performance = { max_message_size = 16384; }; } );\n",
			 Run) > 0);
	Cfg = t_write_file(Dir, "mqttmux.cfg", text);
	free(text);
	cr_assert_not_null(Cfg);
	for (int i = 0; i < NSESS; i++) {
		t_make_session(&S[i]);
		memcpy(fds[i], S[i].fds, sizeof(fds[i]));
	}
	t_router_start(MQTTMUX_ROUTER_PATH, Dir, Cfg, fds, NSESS, &Router, &Chan);
}

static void teardown(void)
{
	int st = 0;

	if (Router > 0) {
		kill(Router, SIGTERM);
		waitpid(Router, &st, 0);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "router exit status %#x", st);
	}
	if (Chan >= 0)
		close(Chan);
	t_rmtree(Dir);
	free(Dir);
	free(Run);
	free(Cfg);
}

TestSuite(live_table, .init = setup, .fini = teardown, .timeout = 60);

struct seen {
	int n, added, removed, disconnected;
	char payload[8][32], session[8][16];
	uint32_t idx[8];
	char last_added[16], last_removed[16];
};

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	struct seen *s = ud;

	(void)r;
	if (s->n >= 8)
		return;
	snprintf(s->payload[s->n], sizeof(s->payload[0]), "%.*s", (int)m->payload_len,
		 (const char *)m->payload);
	snprintf(s->session[s->n], sizeof(s->session[0]), "%s", m->session);
	s->idx[s->n++] = m->session_idx;
}

static void on_event(struct mqttmux *c, const struct mqttmux_event *ev, void *ud)
{
	struct seen *s = ud;

	(void)c;
	if (ev->type == MQTTMUX_EV_SESSION_ADDED) {
		s->added++;
		snprintf(s->last_added, sizeof(s->last_added), "%s", ev->session);
	} else if (ev->type == MQTTMUX_EV_SESSION_REMOVED) {
		s->removed++;
		snprintf(s->last_removed, sizeof(s->last_removed), "%s", ev->session);
	} else if (ev->type == MQTTMUX_EV_ROUTER_DISCONNECTED) {
		s->disconnected++;
	}
}

/* Dispatch until *<n> >= <want> or TMO; asserts it got there. */
static void dispatch_until(struct mqttmux *c, const int *n, int want)
{
	int64_t end = mm_time_mono_ms() + TMO;

	while (*n < want && mm_time_mono_ms() < end)
		cr_assert_geq(mqttmux_dispatch(c, 20), 0);
	cr_assert_geq(*n, want, "waited %d ms for %d, have %d", TMO, want, *n);
}

static struct mqttmux *client(struct seen *s)
{
	struct mqttmux *c;
	int err = 0;

	c = mqttmux_open(Run, &err);
	cr_assert_not_null(c, "open: %s", strerror(-err));
	cr_assert_gt(mqttmux_on_event(c, MQTTMUX_EV_ALL, NULL, on_event, s), 0);
	return c;
}

/* Fresh rings S[k] whose positions start above anything a client saw (as mqttmuxd's do). */
static void new_rings(int k)
{
	t_make_session_at(&S[k], mm_time_real_ns() & ~7ull);
}

Test(live_table, a_session_added_live_is_announced_routed_and_gets_the_all_session_filters)
{
	static struct seen s, all;
	struct mqttmux *c = client(&s);

	cr_assert_not_null(mqttmux_handle(c, "x/#", on_msg, &all));
	t_expect_cmd(&S[0], MM_REC_CMD_SUB, "x/#");
	t_expect_cmd(&S[1], MM_REC_CMD_SUB, "x/#");
	new_rings(2);
	t_router_add(Chan, 5, "c", S[2].fds);
	dispatch_until(c, &s.added, 1);
	cr_expect_str_eq(s.last_added, "c");
	t_expect_cmd(&S[2], MM_REC_CMD_SUB, "x/#"); /* the all-session route applies to c */
	cr_assert_not_null(mqttmux_handle_to(c, "c", "t/#", on_msg, &s));
	t_expect_cmd(&S[2], MM_REC_CMD_SUB, "t/#");
	t_put_msg(&S[2], "t/1", "m1", 2);
	t_put_msg(&S[2], "x/1", "m2", 2);
	dispatch_until(c, &s.n, 1);
	dispatch_until(c, &all.n, 1);
	cr_expect_str_eq(s.payload[0], "m1");
	cr_expect_str_eq(s.session[0], "c");
	cr_expect_eq(s.idx[0], 5, "the index the supervisor gave");
	cr_expect_str_eq(all.payload[0], "m2");
	cr_expect_eq(s.disconnected, 0);
	cr_expect_eq(kill(Router, 0), 0);
	mqttmux_close(c);
}

Test(live_table, a_removed_session_ends_its_routes_and_they_come_back_with_its_name)
{
	static struct seen s, ona;
	struct mqttmux *c = client(&s);

	cr_assert_not_null(mqttmux_handle_to(c, "b", "t/#", on_msg, &s));
	cr_assert_not_null(mqttmux_handle_to(c, "a", "t/#", on_msg, &ona));
	t_expect_cmd(&S[1], MM_REC_CMD_SUB, "t/#");
	t_put_msg(&S[1], "t/1", "before", 6);
	dispatch_until(c, &s.n, 1);
	t_router_remove(Chan, 1);
	dispatch_until(c, &s.removed, 1);
	cr_expect_str_eq(s.last_removed, "b");
	t_put_msg(&S[1], "t/1", "gone", 4); /* nobody drains the old ring any more */
	t_put_msg(&S[0], "t/1", "a-goes-on", 9);
	dispatch_until(c, &ona.n, 1);
	cr_expect_eq(s.n, 1, "a message of the removed session arrived");
	/* b again, a new index and new rings: the library registers the route again */
	new_rings(3);
	t_router_add(Chan, 7, "b", S[3].fds);
	dispatch_until(c, &s.added, 1);
	t_expect_cmd(&S[3], MM_REC_CMD_SUB, "t/#");
	t_put_msg(&S[3], "t/1", "after", 5);
	dispatch_until(c, &s.n, 2);
	cr_expect_str_eq(s.payload[1], "after");
	cr_expect_eq(s.idx[1], 7);
	cr_expect_eq(s.disconnected, 0, "the client lost its connection");
	cr_expect_str_eq(ona.payload[0], "a-goes-on");
	mqttmux_close(c);
}

Test(live_table, new_rings_for_a_session_keep_its_routes_and_deliver_the_old_ring_first)
{
	static struct seen s;
	struct mqttmux *c = client(&s);

	cr_assert_not_null(mqttmux_handle_to(c, "b", "t/#", on_msg, &s));
	t_expect_cmd(&S[1], MM_REC_CMD_SUB, "t/#");
	t_put_msg(&S[1], "t/1", "old-1", 5);
	dispatch_until(c, &s.n, 1);
	/* the worker stopped; a reload gave b another ring size: the same index, new rings */
	t_put_msg(&S[1], "t/1", "old-2", 5);
	new_rings(4);
	t_router_add(Chan, 1, "b", S[4].fds);
	t_put_msg(&S[4], "t/1", "new-1", 5);
	dispatch_until(c, &s.n, 3);
	cr_expect_str_eq(s.payload[1], "old-2", "the old ring is delivered to its end first");
	cr_expect_str_eq(s.payload[2], "new-1");
	cr_expect_eq(s.idx[2], 1);
	cr_expect_eq(s.added, 0, "new rings are not a new session");
	cr_expect_eq(s.removed, 0);
	cr_expect_eq(s.disconnected, 0);
	mqttmux_close(c);
}

Test(live_table, bad_table_records_are_refused_and_the_router_goes_on)
{
	static struct seen s;
	struct mqttmux_route *r;
	struct mqttmux *c;
	struct mm_chan_msg m = { .cmd = MM_CHAN_SESSION_ADD, .arg = 9 };

	new_rings(2);
	cr_assert_eq(mm_chan_send_msg(Chan, &m, "c", 1, S[2].fds, 3), 0); /* 3 descriptors */
	m.arg = 1u << 20; /* an index out of range */
	cr_assert_eq(mm_chan_send_msg(Chan, &m, "c", 1, S[2].fds, MM_FD_SESS_N), 0);
	m.arg = 9;
	cr_assert_eq(mm_chan_send_msg(Chan, &m, "bad name", 8, S[2].fds, MM_FD_SESS_N), 0);
	t_router_remove(Chan, 42); /* no such session */
	c = client(&s);
	cr_assert_null(mqttmux_handle_to(c, "c", "t/#", on_msg, &s), "c was added");
	cr_assert_eq(errno, ENOENT);
	r = mqttmux_handle_to(c, "a", "t/#", on_msg, &s);
	cr_assert_not_null(r);
	t_put_msg(&S[0], "t/1", "still", 5);
	dispatch_until(c, &s.n, 1);
	cr_expect_eq(kill(Router, 0), 0);
	mqttmux_close(c);
}
