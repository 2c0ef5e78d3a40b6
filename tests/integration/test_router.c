/* SPDX-License-Identifier: MIT */
/*
 * mqttmux-router as a process: the test acts as the supervisor (it creates two sessions' rings
 * and passes them with --inherit-fds), as the workers (it writes MSG/COMPLETION records into
 * the in-rings and reads SUB/UNSUB/PUB from the cmd-rings, or runs a real worker against a
 * real broker), and as the clients (raw protocol over router.sock, common/proto.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "chan.h"
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

static const char *router_binary(void)
{
	const char *p = getenv("MQTTMUX_ROUTER");

	return p && *p ? p : MQTTMUX_ROUTER_PATH;
}

static void write_config(const char *url, uint64_t ring_size)
{
	char *text;

	cr_assert(
		asprintf(&text,
			 "runtime_dir = \"%s\";\n"
			 "clients = { ring_size = %llu; max_filter_length = 65535; };\n"
			 "sessions = ( { name = \"a\"; brokers = [ \"%s\" ]; client_id = \"ra\";\n"
			 "  keepalive = 5; reconnect = { initial = 0.1; max = 0.5; };\n"
			 "  performance = { max_message_size = 16384; }; },\n"
			 "  { name = \"b\"; brokers = [ \"%s\" ]; client_id = \"rb\";\n"
			 "  performance = { max_message_size = 16384; }; } );\n",
			 Run, (unsigned long long)ring_size, url, url) > 0);
	free(Cfg);
	Cfg = t_write_file(Dir, "mqttmux.cfg", text);
	free(text);
	cr_assert_not_null(Cfg);
}

static void start_router(int (*fds)[MM_FD_SESS_N])
{
	char *sock;

	t_router_start(router_binary(), Dir, Cfg, fds, NSESS, &Router, &Chan);
	/* world-connectable, so that the uid check (not the file mode) refuses a stranger */
	cr_assert(asprintf(&sock, "%s/router.sock", Run) > 0);
	cr_assert_eq(chmod(sock, 0666), 0);
	cr_assert_eq(chmod(Run, 0755), 0);
	free(sock);
}

static void start_fake(uint64_t ring_size)
{
	int fds[NSESS][MM_FD_SESS_N];

	write_config("tcp://127.0.0.1:1", ring_size);
	for (int i = 0; i < NSESS; i++) {
		t_make_session(&S[i]);
		memcpy(fds[i], S[i].fds, sizeof(fds[i]));
	}
	start_router(fds);
}

/* Fake sessions with 64 KiB rings, and two registered clients. */
static void start_two(struct t_rclient *a, struct t_rclient *b)
{
	start_fake(1u << 16);
	t_cl_register(a, Run);
	t_cl_register(b, Run);
}

static bool router_alive(void)
{
	siginfo_t si = { 0 };

	/* WNOWAIT: leave the status for teardown to check */
	return Router > 0 && waitid(P_PID, (id_t)Router, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	       si.si_pid == 0;
}

static void setup(void)
{
	Dir = t_tmpdir("rtr");
	cr_assert_not_null(Dir);
	cr_assert_eq(chmod(Dir, 0755), 0);
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
		/* a clean stop: exit 0 (under ASan also: no leak report) */
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "router exit status %#x (see log)",
			  st);
	}
	t_worker_free(&W);
	t_broker_free(&B);
	t_rmtree(Dir);
	free(Dir);
	free(Run);
	free(Cfg);
	Cfg = NULL;
	mosquitto_lib_cleanup();
}

TestSuite(router, .init = setup, .fini = teardown, .timeout = 60);

/* ---- tests ---- */

Test(router, handshake_and_version_mismatch)
{
	struct t_rclient c, bad;

	start_fake(1u << 16);
	t_cl_register(&c, Run);
	cr_assert_eq(c.dlv.cap, 1u << 16);
	cr_assert_eq(t_cl_connect(&bad, Run), 0);
	cr_assert_eq(t_cl_send_hello(&bad, MM_PROTO_VERSION_MAJOR + 1), 0);
	t_cl_expect_error(&bad, EPROTONOSUPPORT);
	t_cl_close(&bad);
	cr_assert_eq(t_cl_route(&c, 1, "nosuch", "a/b", 0), ENOENT);
	cr_assert_eq(t_cl_route(&c, 1, "", "a/#/b", 0), EINVAL);
	cr_assert_eq(t_cl_route(&c, 1, "", "a/b", 0), 0);
	cr_assert_eq(t_cl_route(&c, 1, "", "a/c", 0), EEXIST);
	t_cl_close(&c);
	cr_assert(router_alive());
}

Test(router, overlapping_routes_two_sessions)
{
	struct t_rclient x, y;
	struct t_rrec t;

	start_two(&x, &y);
	cr_assert_eq(t_cl_route(&x, 1, "", "x/#", 0), 0);
	cr_assert_eq(t_cl_route(&x, 2, "a", "x/+/y", 0), 0);
	cr_assert_eq(t_cl_route(&y, 7, "b", "x/1/y", 0), 0);
	t_expect_cmd(&S[0], MM_REC_CMD_SUB, "x/#");
	t_expect_cmd(&S[1], MM_REC_CMD_SUB, "x/#");
	t_expect_cmd(&S[0], MM_REC_CMD_SUB, "x/+/y");
	t_expect_cmd(&S[1], MM_REC_CMD_SUB, "x/1/y");

	t_put_msg(&S[0], "x/1/y", "p", 1);
	t_put_msg(&S[0], "x/2", "p", 1);
	t_put_msg(&S[0], "z", "p", 1);
	t_put_msg(&S[1], "x/1/y", "p", 1);
	t_put_msg(&S[0], "x/3/y", "p", 1);
	t_wait_drained(&S[0]);
	t_wait_drained(&S[1]);

	/* x: a's x/1/y (1,2), x/2 (1), x/3/y (1,2) in order; b's x/1/y (1) somewhere */
	const char *want_a[] = { "x/1/y", "x/2", "x/3/y" };
	unsigned na = 0, nb = 0;

	while (t_cl_read(&x, &t, 300)) {
		cr_assert_eq(t.type, MM_REC_DELIVER);
		if (t.session_idx == 0) {
			cr_assert_lt(na, 3);
			cr_assert_str_eq(t.topic, want_a[na]);
			cr_assert_str_eq(t.session, "a");
			cr_assert_eq(t.nids, na == 1 ? 1u : 2u);
			na++;
		} else {
			cr_assert_str_eq(t.topic, "x/1/y");
			cr_assert_eq(t.nids, 1);
			cr_assert_eq(t.ids[0], 1);
			nb++;
		}
	}
	cr_assert_eq(na, 3);
	cr_assert_eq(nb, 1);
	cr_assert(t_cl_read(&y, &t, TMO));
	cr_assert_str_eq(t.topic, "x/1/y");
	cr_assert_str_eq(t.session, "b");
	cr_assert_eq(t.ids[0], 7);
	cr_assert_not(t_cl_read(&y, &t, 200), "y got a message it did not route");
	t_cl_close(&x);
	t_cl_close(&y);
}

Test(router, slow_client_drop_gap_exact)
{
	static char payload[1000];
	struct t_rclient c, fast;
	struct t_rrec t;
	unsigned got = 0, n = 200;

	start_fake(1u << 16);
	t_cl_register(&c, Run);
	t_cl_register(&fast, Run);
	cr_assert_eq(t_cl_route(&c, 1, "a", "g/#", MM_PROTO_ON_FULL_DROP), 0);
	cr_assert_eq(t_cl_route(&fast, 1, "a", "g/#", MM_PROTO_ON_FULL_DROP), 0);
	for (unsigned i = 0; i < n; i++) {
		t_put_msg(&S[0], "g/1", payload, sizeof(payload));
		if (i % 20 == 19) { /* the fast client keeps up */
			t_wait_drained(&S[0]);
			while (t_cl_read(&fast, &t, 0))
				got++;
		}
	}
	t_wait_drained(&S[0]);
	while (t_cl_read(&fast, &t, 100))
		got++;
	cr_assert_eq(got, n, "the fast client lost messages");
	got = 0;
	while (t_cl_read(&c, &t, 100)) {
		cr_assert_eq(t.type, MM_REC_DELIVER);
		got++;
	}
	cr_assert_lt(got, n);
	cr_assert_gt(got, 0);
	t_put_msg(&S[0], "g/last", "x", 1);
	cr_assert(t_cl_read(&c, &t, TMO));
	cr_assert_eq(t.type, MM_REC_GAP);
	cr_assert_eq(t.lost, n - got, "GAP %llu, want %u", (unsigned long long)t.lost, n - got);
	cr_assert_eq(t.session_idx, 0);
	cr_assert(t_cl_read(&c, &t, TMO));
	cr_assert_eq(t.type, MM_REC_DELIVER);
	cr_assert_str_eq(t.topic, "g/last");
	t_cl_close(&c);
	t_cl_close(&fast);
}

/* No room left in <ud>'s delivery ring for another ~1 KB DELIVER. */
static bool client_ring_full(void *ud)
{
	const struct t_rclient *c = ud;

	return mm_shm_ring_fill_bytes(&c->dlv) + 2048 > c->dlv.cap;
}

Test(router, slow_client_block_loses_nothing)
{
	static char payload[1000];
	struct t_rclient c;
	struct t_rrec t;
	unsigned got = 0, n = 200;

	start_fake(1u << 16);
	t_cl_register(&c, Run);
	cr_assert_eq(t_cl_route(&c, 1, "b", "k/#", MM_PROTO_ON_FULL_BLOCK), 0);
	for (unsigned i = 0; i < n; i++) {
		snprintf(payload, sizeof(payload), "%u", i);
		t_put_msg(&S[1], "k/1", payload, sizeof(payload));
	}
	/* the router fills the client's ring, then holds the rest in the session's in-ring */
	cr_assert(t_wait_for(client_ring_full, &c, TMO), "the client's ring never filled");
	cr_assert_gt(mm_shm_ring_fill_bytes(&S[1].in), 0, "the session was not held back");
	while (got < n && t_cl_read(&c, &t, TMO)) {
		cr_assert_eq(t.type, MM_REC_DELIVER, "record %u type %u", got, t.type);
		got++;
	}
	cr_assert_eq(got, n);
	t_wait_drained(&S[1]);
	t_cl_close(&c);
}

Test(router, eof_frees_routes_and_unsubscribes)
{
	struct t_rclient c1, c2;

	start_two(&c1, &c2);
	cr_assert_eq(t_cl_route(&c1, 1, "a", "e/#", 0), 0);
	t_expect_cmd(&S[0], MM_REC_CMD_SUB, "e/#");
	cr_assert_eq(t_cl_route(&c2, 5, "a", "e/#", 0), 0);
	t_expect_cmd(&S[0], MM_REC_CMD_SUB, "e/#"); /* again, for c2's retained messages */
	t_cl_close(&c1);
	t_expect_no_cmd(&S[0]);
	t_cl_close(&c2);
	t_expect_cmd(&S[0], MM_REC_CMD_UNSUB, "e/#");
	cr_assert(router_alive());
}

/* A filter of <len> bytes: "r/<n>/" then 'x's. */
static char *long_filter(int n, size_t len)
{
	char *f = malloc(len + 1);

	cr_assert_not_null(f);
	memset(f, 'x', len);
	memcpy(f, "r/", 2);
	f[2] = (char)('a' + n % 26);
	f[3] = (char)('a' + n / 26);
	f[4] = '/';
	f[len] = '\0';
	return f;
}

/*
 * Issue 10: a route is acknowledged only once its SUBSCRIBE is in the cmd-ring. A full ring
 * gets EAGAIN (nothing registered: the same id is free to try again), a filter the ring can
 * never hold EMSGSIZE; once the worker consumed a command, the route goes in.
 */
Test(router, a_route_is_acked_only_with_its_subscribe_queued)
{
	struct t_rclient c;
	char *f, got[256];
	uint64_t req;
	int n, rc = 0;

	start_fake(1u << 16); /* 64 KiB cmd-rings, nobody consumes them for now */
	t_cl_register(&c, Run);
	for (n = 0; n < 20; n++) {
		rc = t_cl_route(&c, (uint32_t)n + 1, "a", f = long_filter(n, 8000), 0);
		free(f);
		if (rc != 0)
			break;
	}
	cr_assert_eq(rc, EAGAIN, "route %d: %d", n + 1, rc);
	cr_assert_geq(n, 3, "only %d routes before the ring was full", n);
	for (int i = 0; i < n; i++) /* every acknowledged route has its SUBSCRIBE */
		cr_assert_eq(t_next_cmd(&S[0], got, sizeof(got), &req, TMO), MM_REC_CMD_SUB,
			     "SUB %d", i);
	cr_expect_eq(t_cl_route(&c, (uint32_t)n + 1, "a", f = long_filter(n, 8000), 0), 0,
		     "the same route once there is room");
	free(f);
	cr_expect_eq(t_next_cmd(&S[0], got, sizeof(got), &req, TMO), MM_REC_CMD_SUB);
	cr_expect_eq(t_cl_route(&c, 100, "a", f = long_filter(99, 40000), 0), EMSGSIZE);
	free(f);
	t_expect_no_cmd(&S[0]);
	t_cl_close(&c);
	cr_assert(router_alive());
}

/*
 * Retained messages (issue 10): a new route makes its worker SUBSCRIBE again, marked
 * F_RETAINED, even on a filter that is held; a route registered again after a reconnect
 * (REJOIN) does not; shared subscriptions get no retained messages, so no extra SUBSCRIBE.
 */
Test(router, new_routes_subscribe_again_for_their_retained_messages)
{
	struct t_rclient c;

	start_fake(1u << 16);
	t_cl_register(&c, Run);
	cr_assert_eq(t_cl_route(&c, 1, "a", "k/#", 0), 0);
	t_expect_sub(&S[0], "k/#", MM_REC_SUB_F_RETAINED);
	cr_assert_eq(t_cl_route(&c, 2, "a", "k/#", 0), 0);
	t_expect_sub(&S[0], "k/#", MM_REC_SUB_F_RETAINED);
	cr_assert_eq(t_cl_route_flags(&c, 3, "a", "k/#", 0, MM_PROTO_F_REJOIN), 0);
	t_expect_no_cmd(&S[0]);
	cr_assert_eq(t_cl_route(&c, 4, "", "all/#", 0), 0);
	for (int i = 0; i < NSESS; i++)
		t_expect_sub(&S[i], "all/#", MM_REC_SUB_F_RETAINED);
	cr_assert_eq(t_cl_route(&c, 5, "a", "$share/g/k/#", 0), 0);
	t_expect_sub(&S[0], "$share/g/k/#", 0);
	cr_assert_eq(t_cl_route(&c, 6, "a", "$share/g/k/#", 0), 0);
	t_expect_no_cmd(&S[0]);
	t_cl_close(&c);
	cr_assert(router_alive());
}

/* A retained-flagged message reaches the routes whose SUBSCRIBE it answers, each once. */
Test(router, a_retained_message_reaches_only_the_routes_that_asked)
{
	struct t_rclient c1, c2;
	struct t_rrec t;

	start_two(&c1, &c2);
	cr_assert_eq(t_cl_route(&c1, 1, "a", "k/#", 0), 0);
	t_put_retained(&S[0], "k/1", "v1", 2, true); /* the answer to c1's SUBSCRIBE */
	cr_assert(t_cl_read(&c1, &t, TMO) && !strcmp(t.topic, "k/1"));
	cr_assert_eq(t_cl_route(&c2, 1, "a", "k/#", 0), 0);
	t_put_retained(&S[0], "k/1", "v1", 2, true); /* the answer to c2's: the broker sends all */
	cr_assert(t_cl_read(&c2, &t, TMO) && !strcmp(t.topic, "k/1"), "c2 got its retained one");
	cr_expect(!t_cl_read(&c1, &t, 200), "c1 got the retained message twice: %s", t.topic);
	t_put_retained(&S[0], "k/1", "v2", 2, false); /* live: everybody */
	cr_assert(t_cl_read(&c1, &t, TMO) && !strcmp(t.topic, "k/1"));
	cr_assert(t_cl_read(&c2, &t, TMO) && !strcmp(t.topic, "k/1"));
	t_cl_close(&c1);
	t_cl_close(&c2);
	cr_assert(router_alive());
}

Test(router, publish_and_completion)
{
	struct mm_rec_client_pub cp = { .req_id = 4242,
					.qos = 1,
					.session = { (const uint8_t *)"b", 1 },
					.topic = { (const uint8_t *)"p/1", 3 },
					.payload = { (const uint8_t *)"hi", 2 } };
	struct mm_rec_completion done = { .cmd = MM_REC_CMD_PUB };
	struct t_rclient c;
	struct t_rrec t;
	char topic[64];
	void *p;
	size_t sz = mm_rec_client_pub_size(&cp);

	start_fake(1u << 16);
	t_cl_register(&c, Run);
	cr_assert_eq(mm_shm_ring_reserve(&c.pub, (uint32_t)sz, MM_REC_CLIENT_PUB, 0, &p), 0);
	cr_assert_gt(mm_rec_client_pub_pack(p, sz, &cp), 0);
	cr_assert_geq(mm_shm_ring_commit(&c.pub), 0);
	cr_assert_eq(t_next_cmd(&S[1], topic, sizeof(topic), &done.req_id, TMO), MM_REC_CMD_PUB);
	cr_assert_str_eq(topic, "p/1");
	cr_assert_eq(mm_shm_ring_reserve(&S[1].in, (uint32_t)mm_rec_completion_size(),
					 MM_REC_COMPLETION, 0, &p),
		     0);
	(void)mm_rec_completion_pack(p, mm_rec_completion_size(), &done);
	cr_assert_geq(mm_shm_ring_commit(&S[1].in), 0);
	cr_assert(t_cl_read(&c, &t, TMO));
	cr_assert_eq(t.type, MM_REC_PUB_DONE);
	cr_assert_eq(t.req_id, 4242);
	cr_assert_eq(t.result, 0);
	t_cl_close(&c);
}

/* Send <len> raw bytes as one datagram (optionally with a descriptor), expect EPROTO + EOF. */
static void garbage(const void *buf, size_t len, bool hello_first, bool with_fd)
{
	struct t_rclient c;

	if (hello_first)
		t_cl_register(&c, Run);
	else
		cr_assert_eq(t_cl_connect(&c, Run), 0);
	if (with_fd) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		cr_assert_eq(mm_proto_send(c.sock, buf, len, &fd, 1), 0);
		close(fd);
	} else {
		cr_assert_eq(send(c.sock, buf, len, MSG_NOSIGNAL), (ssize_t)len);
	}
	t_cl_expect_error(&c, EPROTO);
	t_cl_close(&c);
}

Test(router, malformed_frames_drop_only_the_offender)
{
	struct mm_proto_route_add a = { .seq = 1,
					.route_id = 1,
					.filter = { (const uint8_t *)"m/#", 3 } };
	uint8_t rnd[300], frame[256];
	uint64_t seed = 12345;
	struct t_rclient good;
	struct t_rrec t;
	ssize_t n;

	start_fake(1u << 16);
	t_cl_register(&good, Run);
	cr_assert_eq(t_cl_route(&good, 1, "a", "m/#", 0), 0);
	for (size_t i = 0; i < sizeof(rnd); i++)
		rnd[i] = (uint8_t)t_rand(&seed);
	garbage(rnd, sizeof(rnd), false, false); /* random bytes instead of HELLO */
	garbage(rnd, 7, true, false);		 /* shorter than a header */
	garbage(rnd, sizeof(rnd), true, false);	 /* random bytes after HELLO */
	n = mm_proto_pack_route_add(frame, sizeof(frame), &a);
	cr_assert_gt(n, 0);
	garbage(frame, (size_t)n - 2, true, false); /* truncated: len field disagrees */
	frame[0] = (uint8_t)(n - 2);
	garbage(frame, (size_t)n - 2, true, false); /* truncated, len patched: body too short */
	frame[0] = (uint8_t)n;
	frame[4] = 0x77; /* unknown type 0x0077 */
	frame[5] = 0x00;
	garbage(frame, (size_t)n, true, false);
	frame[4] = 0x10;
	garbage(frame, (size_t)n, true, true); /* a descriptor where none belongs */
	frame[4] = 0x02;		       /* WELCOME: wrong direction */
	garbage(frame, (size_t)n, true, false);

	cr_assert(router_alive());
	t_put_msg(&S[0], "m/1", "ok", 2);
	cr_assert(t_cl_read(&good, &t, TMO));
	cr_assert_eq(t.type, MM_REC_DELIVER);
	cr_assert_str_eq(t.topic, "m/1");
	t_cl_close(&good);
}

Test(router, garbage_in_pub_ring_drops_client)
{
	struct t_rclient bad, good;
	struct t_rrec t;
	void *p;

	start_fake(1u << 16);
	t_cl_register(&bad, Run);
	t_cl_register(&good, Run);
	cr_assert_eq(t_cl_route(&good, 1, "", "q", 0), 0);
	cr_assert_eq(mm_shm_ring_reserve(&bad.pub, 24, MM_REC_CLIENT_PUB, 0, &p), 0);
	memset(p, 0xff, 24);
	cr_assert_geq(mm_shm_ring_commit(&bad.pub), 0);
	t_cl_expect_error(&bad, EPROTO);
	t_cl_close(&bad);
	t_put_msg(&S[1], "q", "ok", 2);
	cr_assert(t_cl_read(&good, &t, TMO));
	cr_assert_str_eq(t.topic, "q");
	cr_assert(router_alive());
	t_cl_close(&good);
}

/* In a child that became nobody: connect and check the refusal; exit code 0 if as expected. */
static int stranger(void)
{
	uint8_t buf[2048];
	struct mm_proto_error e;
	struct t_rclient c;
	int fds[8], nfds;
	ssize_t n;

	if (setgroups(0, NULL) == -1 || setgid(65534) == -1 || setuid(65534) == -1)
		return 10;
	if (t_cl_connect(&c, Run) < 0)
		return 11;
	/* no HELLO: the router refuses at accept, before it reads anything */
	n = t_cl_recv(&c, buf, fds, &nfds, TMO);
	if (n <= 0 || mm_proto_unpack_error(buf, (size_t)n, &e) < 0)
		return 13;
	if (nfds != 0)
		return 14;
	if (e.code != EACCES || !(e.flags & MM_PROTO_F_FATAL))
		return 15;
	return t_cl_recv(&c, buf, fds, &nfds, TMO) == 0 ? 0 : 16;
}

Test(router, stranger_uid_refused_without_fds)
{
	int st;
	pid_t pid;
	struct t_rclient c;

	cr_assert_eq(geteuid(), 0, "needs root to become nobody");
	start_fake(1u << 16);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0)
		_exit(stranger());
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st));
	cr_assert_eq(WEXITSTATUS(st), 0, "stranger check failed at step %d", WEXITSTATUS(st));
	t_cl_register(&c, Run); /* root is still welcome */
	t_cl_close(&c);
}

/* ---- end to end: a real worker on a real broker ---- */

Test(router, end_to_end_real_worker)
{
	struct mosquitto *pubc;
	struct t_rclient c;
	struct t_rrec t;
	char *url;
	int fds[NSESS][MM_FD_SESS_N];

	cr_assert_eq(t_broker_start(&B, NULL), 0);
	cr_assert(asprintf(&url, "tcp://127.0.0.1:%d", B.port) > 0);
	write_config(url, 1u << 16);
	free(url);
	cr_assert_eq(t_worker_init(&W, Cfg, "a", 1u << 20), 0);
	memcpy(fds[0], &W.fds[MM_FD_WRK_IN_RING], sizeof(fds[0]));
	t_make_session(&S[1]); /* session b: no worker */
	memcpy(fds[1], S[1].fds, sizeof(fds[1]));
	cr_assert_eq(t_worker_spawn(&W), 0);
	start_router(fds);
	t_cl_register(&c, Run);
	cr_assert_eq(t_cl_route(&c, 3, "a", "e2e/#", 0), 0);

	pubc = mosquitto_new("e2e-pub", true, NULL);
	cr_assert_not_null(pubc);
	cr_assert(t_mosq_connect(pubc, "127.0.0.1", B.port, 5, 30000), "e2e-pub: no CONNACK");
	/* the worker subscribes asynchronously: publish until one arrives */
	bool got = false;

	for (int i = 0; i < 50 && !got; i++) {
		mosquitto_publish(pubc, NULL, "e2e/x", 5, "hello", 1, false);
		mosquitto_loop(pubc, 50, 1);
		got = t_cl_read(&c, &t, 100);
	}
	cr_assert(got, "no DELIVER from the real worker");
	cr_assert_eq(t.type, MM_REC_DELIVER);
	cr_assert_str_eq(t.topic, "e2e/x");
	cr_assert_str_eq(t.session, "a");
	cr_assert_eq(t.ids[0], 3);
	mosquitto_disconnect(pubc);
	mosquitto_destroy(pubc);
	t_cl_close(&c);
}
