/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux and the mqttmux sub/pub commands against a real mqttmux-router. The test acts as
 * the supervisor (it creates the two sessions' rings and passes them to the router) and as the
 * workers: fake ones (it writes MSG/COMPLETION into the in-rings itself) for the route tests,
 * a real mqttmux-worker on a real mosquitto broker for the end-to-end ones. The router setup
 * is the one of test_router.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "chan.h"
#include "mqttmux.h"
#include "proto.h"
#include "records.h"
#include "ring.h"
#include "t_broker.h"
#include "t_helpers.h"
#include "t_mosq.h"
#include "t_router.h"
#include "t_worker.h"

#define NSESS 2

static char *Dir, *Run, *Cfg;
static struct t_rsess S[NSESS];
static pid_t Router;
static int Chan = -1;
static struct t_broker B;
static struct t_worker W;

static void write_config(const char *url)
{
	char *text;

	cr_assert(
		asprintf(&text,
			 "runtime_dir = \"%s\";\n"
			 "clients = { ring_size = 65536; };\n"
			 "sessions = ( { name = \"a\"; brokers = [ \"%s\" ]; client_id = \"ca\";\n"
			 "  keepalive = 5; reconnect = { initial = 0.1; max = 0.5; };\n"
			 "  performance = { max_message_size = 16384; }; },\n"
			 "  { name = \"b\"; brokers = [ \"%s\" ]; client_id = \"cb\";\n"
			 "  performance = { max_message_size = 16384; }; } );\n",
			 Run, url, url) > 0);
	Cfg = t_write_file(Dir, "mqttmux.cfg", text);
	free(text);
	cr_assert_not_null(Cfg);
}

static void start_router(int (*fds)[MM_FD_SESS_N])
{
	t_router_start(MQTTMUX_ROUTER_PATH, Dir, Cfg, fds, NSESS, &Router, &Chan);
}

static void start_fake(void)
{
	int fds[NSESS][MM_FD_SESS_N];

	write_config("tcp://127.0.0.1:1");
	for (int i = 0; i < NSESS; i++) {
		t_make_session(&S[i]);
		memcpy(fds[i], S[i].fds, sizeof(fds[i]));
	}
	start_router(fds);
}

/* Session a: a real worker on a real broker; session b: fake. */
static void start_real(void)
{
	int fds[NSESS][MM_FD_SESS_N];
	char *url;

	cr_assert_eq(t_broker_start(&B, NULL), 0);
	cr_assert(asprintf(&url, "tcp://127.0.0.1:%d", B.port) > 0);
	write_config(url);
	free(url);
	cr_assert_eq(t_worker_init(&W, Cfg, "a", 1u << 20), 0);
	memcpy(fds[0], &W.fds[MM_FD_WRK_IN_RING], sizeof(fds[0]));
	t_make_session(&S[1]);
	memcpy(fds[1], S[1].fds, sizeof(fds[1]));
	cr_assert_eq(t_worker_spawn(&W), 0);
	start_router(fds);
}

static void setup(void)
{
	Dir = t_tmpdir("cli");
	cr_assert_not_null(Dir);
	cr_assert(asprintf(&Run, "%s/run", Dir) > 0);
	for (int i = 0; i < NSESS; i++)
		for (int k = 0; k < MM_FD_SESS_N; k++)
			S[i].fds[k] = -1;
	mosquitto_lib_init();
}

static void teardown(void)
{
	if (Router > 0) {
		int st = 0;

		kill(Router, SIGTERM);
		waitpid(Router, &st, 0);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "router exit status %#x", st);
		Router = 0;
	}
	if (Chan >= 0)
		close(Chan);
	Chan = -1;
	t_worker_free(&W);
	t_broker_free(&B);
	t_rmtree(Dir);
	free(Dir);
	free(Run);
	free(Cfg);
	Cfg = NULL;
	mosquitto_lib_cleanup();
}

TestSuite(client, .init = setup, .fini = teardown, .timeout = 90);

/* ---- helpers ---- */

struct got {
	int n;
	char topic[8][64], session[8][16], payload[8][64];
};

static void on_msg(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	struct got *g = ud;

	(void)r;
	if (g->n >= 8)
		return;
	snprintf(g->topic[g->n], sizeof(g->topic[0]), "%s", m->topic);
	snprintf(g->session[g->n], sizeof(g->session[0]), "%s", m->session);
	snprintf(g->payload[g->n], sizeof(g->payload[0]), "%.*s", (int)m->payload_len,
		 (const char *)m->payload);
	g->n++;
}

/* Index of the message with <payload> in <g>, or -1. */
static int find(const struct got *g, const char *payload)
{
	for (int i = 0; i < g->n; i++)
		if (!strcmp(g->payload[i], payload))
			return i;
	return -1;
}

/* Dispatch until *<n> reaches <want> or <ms> pass. */
static void dispatch_until(struct mqttmux *c, const int *n, int want, int ms)
{
	for (int i = 0; i < ms / 20 && *n < want; i++)
		cr_assert_geq(mqttmux_dispatch(c, 20), 0);
}

static struct mosquitto *plain_client(void)
{
	struct mosquitto *m = mosquitto_new("plain-pub", true, NULL);

	cr_assert_not_null(m);
	cr_assert(t_mosq_connect(m, "127.0.0.1", B.port, 5, 30000), "plain-pub: no CONNACK");
	return m;
}

/* ---- tests ---- */

Test(client, open_close_and_bad_args)
{
	struct mqttmux *c;
	int err = 0;

	cr_assert_null(mqttmux_open("/nonexistent/mqttmux", &err));
	cr_assert_eq(err, -ENOENT);
	start_fake();
	c = mqttmux_open(Run, &err);
	cr_assert_not_null(c, "open: %s", strerror(-err));
	cr_assert_geq(mqttmux_fd(c), 0);
	cr_assert_eq(mqttmux_dispatch(c, 0), 0);
	cr_assert_eq(mqttmux_fd(NULL), -EINVAL);
	cr_assert_eq(mqttmux_dispatch(NULL, 0), -EINVAL);
	cr_assert_null(mqttmux_handle(c, NULL, on_msg, NULL));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(mqttmux_handle(c, "x", NULL, NULL));
	cr_assert_null(mqttmux_listen(c, "x", 0));
	cr_assert_null(mqttmux_handle(c, "a/#/b", on_msg, NULL));
	cr_assert_eq(errno, EINVAL, "router refuses the filter");
	cr_assert_null(mqttmux_handle_to(c, "nosuch", "a", on_msg, NULL));
	cr_assert_eq(errno, ENOENT);
	cr_assert_eq(mqttmux_publish_to(c, "a", "t/+", "x", 1, 0, false, 100), -EINVAL);
	cr_assert_eq(mqttmux_publish_to(c, "a", "t", "x", 1, 3, false, 100), -EINVAL);
	cr_assert_eq(mqttmux_publish_to(NULL, "a", "t", "x", 1, 0, false, 100), -EINVAL);
	cr_assert_eq(mqttmux_next(NULL, NULL, 0), -EINVAL);
	cr_assert_eq(mqttmux_route_stop(NULL), -EINVAL);
	mqttmux_close(c);
	mqttmux_close(NULL);
	/* $MQTTMUX_RUNTIME_DIR is the default */
	cr_assert_eq(setenv("MQTTMUX_RUNTIME_DIR", Run, 1), 0);
	c = mqttmux_open(NULL, &err);
	unsetenv("MQTTMUX_RUNTIME_DIR");
	cr_assert_not_null(c);
	mqttmux_close(c);
}

Test(client, handle_routes_match_exactly)
{
	struct got all = { 0 }, onb = { 0 };
	struct mqttmux *c = NULL;
	int err;

	start_fake();
	cr_assert_not_null(c = mqttmux_open(Run, &err));
	cr_assert_not_null(mqttmux_handle(c, "x/#", on_msg, &all));
	cr_assert_not_null(mqttmux_handle_to(c, "b", "x/1/y", on_msg, &onb));
	t_put_msg(&S[0], "x/1/y", "p1", 2);
	t_put_msg(&S[0], "z", "p2", 2);
	t_put_msg(&S[1], "x/1/y", "p3", 2);
	t_put_msg(&S[1], "x/2", "p4", 2);
	dispatch_until(c, &all.n, 3, TMO);
	dispatch_until(c, &onb.n, 1, 300);
	cr_assert_eq(all.n, 3);
	cr_assert_eq(onb.n, 1);
	/* sessions are drained independently: order holds within a session only */
	cr_assert_geq(find(&all, "p1"), 0);
	cr_assert_str_eq(all.topic[find(&all, "p1")], "x/1/y");
	cr_assert_str_eq(all.session[find(&all, "p1")], "a");
	cr_assert_str_eq(all.session[find(&all, "p3")], "b");
	cr_assert_lt(find(&all, "p3"), find(&all, "p4"));
	cr_assert_str_eq(onb.session[0], "b");
	cr_assert_str_eq(onb.topic[0], "x/1/y");
	cr_assert_str_eq(onb.payload[0], "p3");
	cr_assert_eq(mqttmux_lost(c), 0);
	mqttmux_close(c);
}

/* A callback route whose callback takes a message of a listen route (a nested dispatch). */
struct nest {
	struct mqttmux_route *lr;
	char topic[64], session[16];
	int n;
};

static void on_nest(struct mqttmux_route *r, const struct mqttmux_msg *m, void *ud)
{
	struct nest *x = ud;
	const struct mqttmux_msg *q;

	(void)r;
	cr_assert_eq(mqttmux_next(x->lr, &q, TMO), 1);
	cr_expect_str_eq(q->topic, "l/22");
	snprintf(x->topic, sizeof(x->topic), "%s", m->topic);
	snprintf(x->session, sizeof(x->session), "%s", m->session);
	x->n++;
}

Test(client, nested_dispatch_leaves_the_outer_message_intact)
{
	struct nest x = { 0 };
	struct mqttmux *c = NULL;
	int err;

	start_fake();
	cr_assert_not_null(c = mqttmux_open(Run, &err));
	cr_assert_not_null(x.lr = mqttmux_listen(c, "l/#", 4));
	cr_assert_not_null(mqttmux_handle(c, "h/#", on_nest, &x));
	t_put_msg(&S[1], "h/1", "p1", 2);
	t_put_msg(&S[1], "l/22", "p2", 2);
	t_wait_drained(&S[1]); /* both in the client's ring: the nested dispatch takes the second */
	dispatch_until(c, &x.n, 1, TMO);
	cr_expect_str_eq(x.topic, "h/1", "the outer callback's topic was overwritten");
	cr_expect_str_eq(x.session, "b");
	mqttmux_close(c);
}

/* A worker EVENT record into the in-ring of a fake session, as the worker writes it. */
static void put_event(struct t_rsess *s, int kind, int code, const char *text)
{
	struct mm_rec_event e = { .time_ns = 42,
				  .kind = (uint16_t)kind,
				  .code = code,
				  .attempt = 3,
				  .delay_ms = 400,
				  .text = { (const uint8_t *)text, (uint32_t)strlen(text) } };
	void *p;

	cr_assert_eq(
		mm_shm_ring_reserve(&s->in, (uint32_t)mm_rec_event_size(&e), MM_REC_EVENT, 0, &p),
		0);
	(void)mm_rec_event_pack(p, mm_rec_event_size(&e), &e);
	cr_assert_geq(mm_shm_ring_commit(&s->in), 0);
}

struct evs {
	int n, type[4], kind[4], code[4];
	char session[4][16], text[4][32], name[4][32];
};

static void on_ev(struct mqttmux *c, const struct mqttmux_event *ev, void *ud)
{
	struct evs *e = ud;

	(void)c;
	if (e->n >= 4)
		return;
	e->type[e->n] = ev->type;
	e->kind[e->n] = ev->worker_kind;
	e->code[e->n] = ev->code;
	snprintf(e->session[e->n], sizeof(e->session[0]), "%s", ev->session ? ev->session : "-");
	snprintf(e->text[e->n], sizeof(e->text[0]), "%s", ev->text);
	snprintf(e->name[e->n], sizeof(e->name[0]), "%s", ev->name);
	e->n++;
}

Test(client, worker_events_reach_the_handlers_that_want_them)
{
	struct evs all = { 0 }, ready_b = { 0 };
	struct mqttmux *c = NULL;
	int err, id;

	start_fake();
	cr_assert_not_null(c = mqttmux_open(Run, &err));
	cr_assert_eq(mqttmux_on_event(c, 0, NULL, on_ev, &all), -EINVAL, "empty mask");
	cr_assert_eq(mqttmux_on_event(c, MQTTMUX_EV_ALL, "", on_ev, &all), -EINVAL);
	cr_assert_gt(mqttmux_on_event(c, MQTTMUX_EV_ALL, NULL, on_ev, &all), 0);
	id = mqttmux_on_event(c, MQTTMUX_EV_MASK(MQTTMUX_EV_SESSION_READY), "b", on_ev, &ready_b);
	cr_assert_gt(id, 0);
	put_event(&S[0], MM_EV_READY, 0, "tcp://x");
	put_event(&S[1], MM_EV_DISCONNECTED, -111, "refused");
	put_event(&S[1], MM_EV_READY, 0, "tcp://y");
	put_event(&S[1], MM_EV_SUB_FAILED, 135, "a/#");
	dispatch_until(c, &all.n, 4, TMO);
	cr_assert_eq(ready_b.n, 1, "only session b's READY");
	cr_expect_str_eq(ready_b.name[0], "session_ready");
	cr_expect_str_eq(ready_b.session[0], "b");
	cr_expect_str_eq(ready_b.text[0], "tcp://y");
	/* sessions are drained independently: find b's DISCONNECTED and SUB_FAILED in order */
	for (int i = 0, k = 0; i < all.n; i++) {
		if (strcmp(all.session[i], "b") || all.type[i] == MQTTMUX_EV_SESSION_READY)
			continue;
		if (k++ == 0) {
			cr_expect_eq(all.type[i], MQTTMUX_EV_SESSION_DISCONNECTED);
			cr_expect_eq(all.code[i], -111);
			cr_expect_str_eq(all.text[i], "refused");
		} else {
			cr_expect_eq(all.type[i], MQTTMUX_EV_SESSION_STATE_CHANGED);
			cr_expect_eq(all.kind[i], MM_EV_SUB_FAILED);
			cr_expect_str_eq(all.name[i], "session_state_changed");
		}
	}
	cr_expect_eq(mqttmux_event_stop(c, id), 0);
	cr_expect_eq(mqttmux_event_stop(c, id), -ENOENT);
	cr_expect_str_eq(mqttmux_event_name(-1), "unknown");
	mqttmux_close(c);
}

Test(client, listen_next_timeout_and_stop)
{
	const struct mqttmux_msg *m;
	struct mqttmux_route *l;
	struct got sentinel = { 0 };
	struct mqttmux *c;
	int err;

	start_fake();
	cr_assert_not_null(c = mqttmux_open(Run, &err));
	cr_assert_not_null(l = mqttmux_listen_to(c, "a", "l/#", 4));
	cr_assert_not_null(mqttmux_handle(c, "s", on_msg, &sentinel));
	cr_assert_eq(mqttmux_next(l, &m, 100), 0);
	t_put_msg(&S[0], "l/1", "one", 3);
	t_put_msg(&S[0], "l/2", "two", 3);
	cr_assert_eq(mqttmux_next(l, &m, TMO), 1);
	cr_assert_str_eq(m->topic, "l/1");
	cr_assert_str_eq(m->session, "a");
	cr_assert_eq(m->payload_len, 3);
	cr_assert_eq(memcmp(m->payload, "one", 3), 0);
	cr_assert_eq(mqttmux_next(l, &m, TMO), 1);
	cr_assert_str_eq(m->topic, "l/2");
	cr_assert_eq(mqttmux_route_stop(l), 0);
	t_put_msg(&S[0], "l/3", "three", 5);
	t_put_msg(&S[0], "s", "end", 3);
	dispatch_until(c, &sentinel.n, 1, TMO);
	cr_assert_eq(sentinel.n, 1, "sentinel not delivered");
	mqttmux_close(c);
}

Test(client, route_stop_stops_callbacks)
{
	struct got g = { 0 }, sentinel = { 0 };
	struct mqttmux_route *r;
	struct mqttmux *c;
	int err;

	start_fake();
	cr_assert_not_null(c = mqttmux_open(Run, &err));
	cr_assert_not_null(r = mqttmux_handle(c, "h/#", on_msg, &g));
	cr_assert_not_null(mqttmux_handle(c, "s", on_msg, &sentinel));
	t_put_msg(&S[0], "h/1", "x", 1);
	dispatch_until(c, &g.n, 1, TMO);
	cr_assert_eq(g.n, 1);
	cr_assert_eq(mqttmux_route_stop(r), 0);
	t_put_msg(&S[0], "h/2", "x", 1);
	t_put_msg(&S[0], "s", "x", 1);
	dispatch_until(c, &sentinel.n, 1, TMO);
	cr_assert_eq(sentinel.n, 1);
	cr_assert_eq(g.n, 1, "a stopped route got a message");
	mqttmux_close(c);
}

static void on_done(struct mqttmux *c, int result, void *ud)
{
	(void)c;
	*(int *)ud = result == 0 ? 1 : result;
}

Test(client, publish_async_fake_worker_and_unknown_session)
{
	struct mm_rec_completion done = { .cmd = MM_REC_CMD_PUB };
	struct mqttmux *c;
	char topic[64];
	int err, res = 0;
	void *p;

	start_fake();
	cr_assert_not_null(c = mqttmux_open(Run, &err));
	cr_assert_eq(mqttmux_publish_to(c, "nosuch", "t", "x", 1, 1, false, TMO), -ENOENT);
	/* to every session: one PUB per worker, one completion after both */
	cr_assert_eq(mqttmux_publish_async(c, NULL, "p/all", "hi", 2, 1, false, on_done, &res), 0);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(t_next_cmd(&S[i], topic, sizeof(topic), &done.req_id, TMO),
			     MM_REC_CMD_PUB);
		cr_assert_str_eq(topic, "p/all");
		cr_assert_eq(mm_shm_ring_reserve(&S[i].in, (uint32_t)mm_rec_completion_size(),
						 MM_REC_COMPLETION, 0, &p),
			     0);
		(void)mm_rec_completion_pack(p, mm_rec_completion_size(), &done);
		cr_assert_geq(mm_shm_ring_commit(&S[i].in), 0);
		if (i == 0) {
			cr_assert_geq(mqttmux_dispatch(c, 50), 0);
			cr_assert_eq(res, 0, "completed before every session had");
		}
	}
	dispatch_until(c, &res, 1, TMO);
	cr_assert_eq(res, 1);
	res = 0;
	cr_assert_eq(mqttmux_publish_async(c, "b", "p/1", "hi", 2, 1, false, on_done, &res), 0);
	cr_assert_eq(t_next_cmd(&S[1], topic, sizeof(topic), &done.req_id, TMO), MM_REC_CMD_PUB);
	cr_assert_str_eq(topic, "p/1");
	cr_assert_eq(mm_shm_ring_reserve(&S[1].in, (uint32_t)mm_rec_completion_size(),
					 MM_REC_COMPLETION, 0, &p),
		     0);
	(void)mm_rec_completion_pack(p, mm_rec_completion_size(), &done);
	cr_assert_geq(mm_shm_ring_commit(&S[1].in), 0);
	dispatch_until(c, &res, 1, TMO);
	cr_assert_eq(res, 1);
	mqttmux_close(c);
}

Test(client, end_to_end_real_worker)
{
	struct got g = { 0 };
	struct mosquitto *pubc;
	struct mqttmux *c;
	int err, rc = -1;

	start_real();
	cr_assert_not_null(c = mqttmux_open(Run, &err));
	cr_assert_not_null(mqttmux_handle_to(c, "a", "e2e/#", on_msg, &g));
	pubc = plain_client();
	/* the worker subscribes asynchronously: publish until one arrives */
	for (int i = 0; i < 100 && g.n == 0; i++) {
		mosquitto_publish(pubc, NULL, "e2e/x", 5, "hello", 1, false);
		mosquitto_loop(pubc, 20, 1);
		cr_assert_geq(mqttmux_dispatch(c, 100), 0);
	}
	cr_assert_geq(g.n, 1, "nothing delivered from the real worker");
	cr_assert_str_eq(g.topic[0], "e2e/x");
	cr_assert_str_eq(g.session[0], "a");
	cr_assert_str_eq(g.payload[0], "hello");
	mosquitto_disconnect(pubc);
	mosquitto_destroy(pubc);
	/* QoS 1 through the router and the worker: 0 after PUBACK, then back to our route */
	g.n = 0;
	rc = mqttmux_publish_to(c, "a", "e2e/back", "pong", 4, 1, false, TMO);
	cr_assert_eq(rc, 0, "publish_to: %s", strerror(-rc));
	for (int i = 0; i < 100 && (g.n == 0 || strcmp(g.topic[g.n - 1], "e2e/back")); i++)
		cr_assert_geq(mqttmux_dispatch(c, 50), 0);
	cr_assert_geq(g.n, 1);
	cr_assert_str_eq(g.topic[g.n - 1], "e2e/back");
	cr_assert_str_eq(g.payload[g.n - 1], "pong");
	mqttmux_close(c);
}

/* Run the CLI with <args>, stdout into <out> (if not NULL). Returns the child. */
static pid_t cli_spawn(const char *const args[], int *out)
{
	int p[2] = { -1, -1 };
	pid_t pid;

	if (out)
		cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		if (out)
			dup2(p[1], 1);
		setenv("MQTTMUX_RUNTIME_DIR", Run, 1);
		execv(MQTTMUX_CLI_PATH, (char *const *)args);
		_exit(127);
	}
	if (out) {
		close(p[1]);
		*out = p[0];
	}
	return pid;
}

static int cli_wait(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Test(client, cli_pub_then_sub_round_trip)
{
	const char *sub[] = { "mqttmux", "sub", "-t", "cli/#", "-s",	   "a", "-C",
			      "1",	 "-W",	"30", "-F",    "%S %t %p", NULL };
	const char *pub[] = { "mqttmux", "pub", "-s", "a", "-t", "cli/x",
			      "-m",	 "hi",	"-q", "1", NULL };
	const char *bad[] = { "mqttmux", "pub", "-s", "nosuch", "-t", "t", "-m", "x", NULL };
	char buf[256] = { 0 };
	int out, st = -1;
	pid_t s;

	start_real();
	cr_assert_eq(cli_wait(cli_spawn(bad, NULL)), 1, "pub to an unknown session must fail");
	s = cli_spawn(sub, &out);
	/* sub subscribes asynchronously (worker, broker): publish until it has one */
	for (int i = 0; i < 100; i++) {
		siginfo_t si = { 0 };

		cr_assert_eq(cli_wait(cli_spawn(pub, NULL)), 0, "mqttmux pub failed");
		if (waitid(P_PID, (id_t)s, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
			break;
		usleep(100000);
	}
	st = cli_wait(s);
	cr_assert_eq(st, 0, "mqttmux sub exit %d", st);
	cr_assert_gt(read(out, buf, sizeof(buf) - 1), 0);
	close(out);
	cr_assert_str_eq(buf, "a cli/x hi\n");
}
