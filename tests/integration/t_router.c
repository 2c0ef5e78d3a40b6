/* SPDX-License-Identifier: MIT */
/* Test-side worker rings and raw protocol client for mqttmux-router (see t_router.h). */
#include "t_router.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "chan.h"
#include "handoff.h"
#include "records.h"
#include "t_helpers.h"

void t_make_session(struct t_rsess *s)
{
	t_make_session_at(s, 0);
}

/* As t_make_session, with the in-ring's positions (DELIVER seq) starting at <start>. */
void t_make_session_at(struct t_rsess *s, uint64_t start)
{
	cr_assert_eq(mm_shm_ring_create_at("in", 1u << 20, 1, start, &s->fds[MM_FD_SESS_IN_RING]),
		     0);
	cr_assert_eq(mm_shm_ring_create("cmd", 1u << 16, 1, &s->fds[MM_FD_SESS_CMD_RING]), 0);
	for (int i = 0; i < MM_FD_SESS_N; i++)
		if (i != MM_FD_SESS_IN_RING && i != MM_FD_SESS_CMD_RING)
			cr_assert_geq(s->fds[i] = mm_shm_ring_doorbell_open(), 0);
	cr_assert_eq(mm_shm_ring_attach(&s->in, s->fds[MM_FD_SESS_IN_RING], MM_SHM_RING_PRODUCER,
					s->fds[MM_FD_SESS_IN_DATA], s->fds[MM_FD_SESS_IN_SPACE],
					NULL, 0),
		     0);
	cr_assert_eq(mm_shm_ring_attach(&s->cmd, s->fds[MM_FD_SESS_CMD_RING], MM_SHM_RING_CONSUMER,
					s->fds[MM_FD_SESS_CMD_DATA], s->fds[MM_FD_SESS_CMD_SPACE],
					NULL, 0),
		     0);
}

/*
 * As mqttmuxd starts the router, with the same code (mm_fdmap_spawn): channel at 3, the
 * sessions' descriptors from 4 on, the table after them; stderr to <dir>/router.log.
 */
static pid_t spawn_router(const char *binary, const char *dir, int chan, int (*fds)[MM_FD_SESS_N],
			  int nsess, int table)
{
	static char opt_inherit[] = "--inherit-fds", opt_verbose[] = "--verbose";
	int all[MM_FD_SESS_N * T_RSESS_MAX + 2], tmp[MM_FD_SESS_N * T_RSESS_MAX + 2], log = -1;
	char *logp, count[16];
	char *argv[] = { (char *)binary, opt_inherit, count, opt_verbose, NULL };
	pid_t pid;

	if (asprintf(&logp, "%s/router.log", dir) > 0) {
		log = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		free(logp);
	}
	all[0] = chan;
	for (int i = 0; i < nsess; i++)
		memcpy(&all[1 + i * MM_FD_SESS_N], fds[i], sizeof(fds[i]));
	all[1 + nsess * MM_FD_SESS_N] = table;
	snprintf(count, sizeof(count), "%d", nsess);
	pid = mm_fdmap_spawn(argv, log, all, (unsigned)(nsess * MM_FD_SESS_N + 2), tmp);
	if (log >= 0)
		close(log);
	return pid;
}

/*
 * The router's table for the first <nsess> sessions of config file <cfg>, indexes 0.., packed
 * in a handoff blob as mqttmuxd packs it (the router reads no config file).
 */
static int table_blob(const char *cfg, int nsess)
{
	struct mm_handoff_rsess ts[T_RSESS_MAX];
	struct mm_handoff_router t;
	struct mm_cfg *c = NULL;
	int blob;

	cr_assert_eq(mm_cfg_load(cfg, &c, NULL), 0, "cannot load %s", cfg);
	cr_assert_geq(c->n_sessions, (size_t)nsess);
	for (int i = 0; i < nsess; i++) {
		ts[i].idx = (uint32_t)i;
		ts[i].max_msg = c->sessions[i].perf.max_message_size;
		snprintf(ts[i].name, sizeof(ts[i].name), "%s", c->sessions[i].name);
		ts[i].access = c->sessions[i].access;
	}
	t = (struct mm_handoff_router){ .runtime_dir = c->runtime_dir,
					.clients = c->clients,
					.sessions = ts,
					.n_sessions = (size_t)nsess };
	blob = mm_handoff_router_open(&t);
	cr_assert_geq(blob, 0);
	mm_cfg_free(c);
	return blob;
}

/*
 * Fork <binary> with the first <nsess> sessions of <cfg> (rings <fds>, indexes 0..) and its
 * stderr in <dir>/router.log (its pid in <router>, set at once); wait (TMO) for its READY on
 * the channel, returned in <chan>.
 */
void t_router_start(const char *binary, const char *dir, const char *cfg, int (*fds)[MM_FD_SESS_N],
		    int nsess, pid_t *router, int *chan)
{
	struct mm_chan_msg m;
	struct pollfd p;
	int sp[2], table;

	cr_assert_leq(nsess, T_RSESS_MAX);
	table = table_blob(cfg, nsess);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	*router = spawn_router(binary, dir, sp[1], fds, nsess, table);
	cr_assert_gt(*router, 0, "cannot start %s: %s", binary, strerror(-*router));
	close(table);
	close(sp[1]);
	*chan = sp[0];
	p = (struct pollfd){ .fd = *chan, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, TMO), 1, "router not ready (see %s/router.log)", dir);
	cr_assert_eq(mm_chan_recv(*chan, &m), 1);
	cr_assert_eq(m.cmd, MM_CHAN_READY);
}

/*
 * As mqttmuxd: session <idx> <name> with the rings <fds> joins the running router, with the
 * default performance.max_message_size (256 KiB).
 */
void t_router_add(int chan, uint32_t idx, const char *name, const int *fds)
{
	struct mm_chan_msg m = { .cmd = MM_CHAN_SESSION_ADD, .arg = idx };
	struct mm_handoff_rsess e = { .idx = idx, .max_msg = 256u * 1024 };
	uint8_t *body = NULL;
	ssize_t n;

	cr_assert_leq(strlen(name), (size_t)MM_CFG_NAME_MAX);
	snprintf(e.name, sizeof(e.name), "%s", name);
	n = mm_handoff_rsess_pack(&e, &body); /* the body mqttmuxd sends: the table entry */
	cr_assert_gt(n, 0);
	cr_assert_eq(mm_chan_send_msg(chan, &m, body, (size_t)n, fds, MM_FD_SESS_N), 0);
	free(body);
}

/* As mqttmuxd: session <idx> leaves the running router (its worker is gone). */
void t_router_remove(int chan, uint32_t idx)
{
	struct mm_chan_msg m = { .cmd = MM_CHAN_SESSION_REMOVE, .arg = idx };

	cr_assert_eq(mm_chan_send_msg(chan, &m, NULL, 0, NULL, 0), 0);
}

/* ---- the test-side client ---- */

int t_cl_connect(struct t_rclient *c, const char *run)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof(*c));
	for (int i = 0; i < MM_PROTO_WELCOME_NFDS; i++)
		c->fds[i] = -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/" MM_PROTO_SOCK_NAME, run);
	c->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->sock < 0 || connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		return -errno;
	return 0;
}

/* Receive one frame (at most <tmo> ms); returns its length, 0 at EOF, or -errno. */
ssize_t t_cl_recv(struct t_rclient *c, uint8_t *buf, int *fds, int *nfds, int tmo)
{
	struct pollfd p = { .fd = c->sock, .events = POLLIN };
	int dummy = MM_PROTO_MAX_FDS;

	if (!nfds)
		nfds = &dummy;
	*nfds = MM_PROTO_MAX_FDS;
	if (poll(&p, 1, tmo) != 1)
		return -ETIMEDOUT;
	return mm_proto_recv(c->sock, buf, MM_PROTO_MAX_FRAME, fds ? fds : (int[8]){ 0 }, nfds);
}

int t_cl_send_hello(struct t_rclient *c, uint16_t major)
{
	static uint32_t n_hello; /* a distinct non-zero token per HELLO of this process */
	struct mm_proto_hello h = { .seq = ++c->seq,
				    .major = major,
				    .token = (uint64_t)getpid() << 32 | ++n_hello,
				    .name = { (const uint8_t *)"t", 1 } };
	uint8_t buf[64];
	ssize_t n = mm_proto_pack_hello(buf, sizeof(buf), &h);

	return n < 0 ? (int)n : mm_proto_send(c->sock, buf, (size_t)n, NULL, 0);
}

/* Expect an ERROR frame with <code> and no descriptor, then EOF. */
void t_cl_expect_error(struct t_rclient *c, int code)
{
	uint8_t buf[MM_PROTO_MAX_FRAME];
	struct mm_proto_error e;
	int fds[8], nfds;
	ssize_t n = t_cl_recv(c, buf, fds, &nfds, TMO);

	cr_assert_gt(n, 0, "no ERROR frame: %zd", n);
	cr_assert_eq(nfds, 0);
	cr_assert_eq(mm_proto_unpack_error(buf, (size_t)n, &e), 0);
	cr_assert_eq(e.code, code, "ERROR code %d, want %d", e.code, code);
	cr_assert(e.flags & MM_PROTO_F_FATAL);
	cr_assert_eq(t_cl_recv(c, buf, NULL, NULL, TMO), 0, "connection not closed");
}

void t_cl_register(struct t_rclient *c, const char *run)
{
	uint8_t buf[MM_PROTO_MAX_FRAME];
	struct mm_proto_welcome w;
	int nfds;
	ssize_t n;

	cr_assert_eq(t_cl_connect(c, run), 0);
	cr_assert_eq(t_cl_send_hello(c, MM_PROTO_VERSION_MAJOR), 0);
	n = t_cl_recv(c, buf, c->fds, &nfds, TMO);
	cr_assert_gt(n, 0);
	cr_assert_eq(mm_proto_unpack_welcome(buf, (size_t)n, &w), 0);
	cr_assert_eq(nfds, MM_PROTO_WELCOME_NFDS);
	cr_assert_neq(w.client_id, 0);
	cr_assert_eq(mm_shm_ring_attach(&c->dlv, c->fds[0], MM_SHM_RING_CONSUMER, c->fds[1],
					c->fds[2], NULL, 0),
		     0);
	cr_assert_eq(mm_shm_ring_attach(&c->pub, c->fds[3], MM_SHM_RING_PRODUCER, c->fds[4],
					c->fds[5], NULL, 0),
		     0);
	cr_assert_eq(w.dlv_size, c->dlv.cap);
}

void t_cl_close(struct t_rclient *c)
{
	mm_shm_ring_detach(&c->dlv);
	mm_shm_ring_detach(&c->pub);
	for (int i = 0; i < MM_PROTO_WELCOME_NFDS; i++)
		if (c->fds[i] >= 0)
			close(c->fds[i]);
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
}

/* ROUTE_ADD; returns 0 on ROUTE_ACK or the ERROR's code. */
int t_cl_route(struct t_rclient *c, uint32_t id, const char *session, const char *filter,
	       int on_full)
{
	return t_cl_route_flags(c, id, session, filter, on_full, 0);
}

int t_cl_route_flags(struct t_rclient *c, uint32_t id, const char *session, const char *filter,
		     int on_full, uint16_t flags)
{
	uint8_t buf[MM_PROTO_MAX_FRAME];
	struct mm_proto_route_add a = {
		.seq = ++c->seq,
		.route_id = id,
		.qos = 1,
		.on_full = (uint8_t)on_full,
		.session = { (const uint8_t *)session, (uint32_t)strlen(session) },
		.filter = { (const uint8_t *)filter, (uint32_t)strlen(filter) },
		.flags = flags,
	};
	struct mm_proto_route_ack ack;
	struct mm_proto_error e;
	ssize_t n = mm_proto_pack_route_add(buf, sizeof(buf), &a);

	cr_assert_gt(n, 0);
	cr_assert_eq(mm_proto_send(c->sock, buf, (size_t)n, NULL, 0), 0);
	n = t_cl_recv(c, buf, NULL, NULL, TMO);
	cr_assert_gt(n, 0);
	if (mm_proto_unpack_error(buf, (size_t)n, &e) == 0)
		return e.code;
	cr_assert_eq(mm_proto_unpack_route_ack(buf, (size_t)n, &ack), 0);
	cr_assert_eq(ack.route_id, id);
	cr_assert_eq(ack.seq, a.seq);
	return 0;
}

/* Next record of the delivery ring within <tmo> ms; false if none. */
bool t_cl_read(struct t_rclient *c, struct t_rrec *t, int tmo)
{
	struct mm_shm_rec r;
	struct mm_rec_deliver d;
	struct mm_rec_gap g;
	struct mm_rec_pub_done pd;

	memset(t, 0, sizeof(*t));
	if (mm_shm_ring_peek(&c->dlv, &r) != 1 &&
	    (mm_shm_ring_wait_data(&c->dlv, tmo) != 1 || mm_shm_ring_peek(&c->dlv, &r) != 1))
		return false;
	t->type = r.type;
	if (r.type == MM_REC_DELIVER) {
		cr_assert_eq(mm_rec_deliver_unpack(r.data, r.len, &d), 0);
		snprintf(t->topic, sizeof(t->topic), "%.*s", (int)d.topic.len, d.topic.p);
		snprintf(t->session, sizeof(t->session), "%.*s", (int)d.session.len, d.session.p);
		t->session_idx = d.session_idx;
		t->nids = d.routes.n;
		for (unsigned i = 0; i < d.routes.n && i < 8; i++)
			t->ids[i] = mm_rec_ids_get(&d.routes, i);
	} else if (r.type == MM_REC_GAP) {
		cr_assert_eq(mm_rec_gap_unpack(r.data, r.len, &g), 0);
		t->lost = g.lost;
		t->session_idx = g.session_idx;
	} else if (r.type == MM_REC_PUB_DONE) {
		cr_assert_eq(mm_rec_pub_done_unpack(r.data, r.len, &pd), 0);
		t->req_id = pd.req_id;
		t->result = pd.result;
	}
	mm_shm_ring_pop(&c->dlv);
	(void)mm_shm_ring_release(&c->dlv);
	return true;
}

/* ---- the test-side worker ---- */

void t_put_msg(struct t_rsess *s, const char *topic, const void *payload, uint32_t len)
{
	t_put_retained(s, topic, payload, len, false);
}

/* A MSG as the worker writes it, with the retain flag <retain>. */
void t_put_retained(struct t_rsess *s, const char *topic, const void *payload, uint32_t len,
		    bool retain)
{
	struct mm_rec_msg m = { .recv_ns = 1,
				.qos = 1,
				.flags = retain ? MM_REC_F_RETAIN : 0,
				.topic = { (const uint8_t *)topic, (uint32_t)strlen(topic) },
				.payload = { payload, len } };
	void *p;

	cr_assert_eq(mm_shm_ring_reserve(&s->in, (uint32_t)mm_rec_msg_size(&m), MM_REC_MSG, 0, &p),
		     0);
	(void)mm_rec_msg_pack(p, mm_rec_msg_size(&m), &m);
	cr_assert_geq(mm_shm_ring_commit(&s->in), 0);
}

static bool t_drained_cond(void *ud)
{
	return mm_shm_ring_fill_bytes(ud) == 0;
}

/* Wait until the router consumed everything we wrote into <s>'s in-ring. */
void t_wait_drained(struct t_rsess *s)
{
	cr_assert(t_wait_for(t_drained_cond, &s->in, TMO), "router did not drain the in-ring");
}

/* Next cmd-ring record: its type, filter (SUB/UNSUB) or topic (PUB), req_id. */
int t_next_cmd(struct t_rsess *s, char *text, size_t cap, uint64_t *req_id, int tmo)
{
	struct mm_shm_rec r;
	struct mm_rec_sub sub;
	struct mm_rec_pub pub;
	int type;

	if (mm_shm_ring_peek(&s->cmd, &r) != 1 &&
	    (mm_shm_ring_wait_data(&s->cmd, tmo) != 1 || mm_shm_ring_peek(&s->cmd, &r) != 1))
		return 0;
	type = r.type;
	if (type == MM_REC_CMD_PUB) {
		cr_assert_eq(mm_rec_pub_unpack(r.data, r.len, &pub), 0);
		snprintf(text, cap, "%.*s", (int)pub.topic.len, pub.topic.p);
		*req_id = pub.req_id;
	} else {
		cr_assert_eq(mm_rec_sub_unpack(r.data, r.len, &sub), 0);
		snprintf(text, cap, "%.*s", (int)sub.filter.len, sub.filter.p);
		*req_id = sub.req_id;
	}
	mm_shm_ring_pop(&s->cmd);
	(void)mm_shm_ring_release(&s->cmd);
	return type;
}

/* The next command must be a SUB of <text> with <flags> (MM_REC_SUB_F_*). */
void t_expect_sub(struct t_rsess *s, const char *text, uint8_t flags)
{
	struct mm_shm_rec r;
	struct mm_rec_sub sub;

	cr_assert(mm_shm_ring_peek(&s->cmd, &r) == 1 || (mm_shm_ring_wait_data(&s->cmd, TMO) == 1 &&
							 mm_shm_ring_peek(&s->cmd, &r) == 1),
		  "no SUB '%s'", text);
	cr_assert_eq(r.type, MM_REC_CMD_SUB, "SUB '%s': type %u", text, r.type);
	cr_assert_eq(mm_rec_sub_unpack(r.data, r.len, &sub), 0);
	cr_expect_eq(sub.filter.len, strlen(text));
	cr_expect_eq(memcmp(sub.filter.p, text, sub.filter.len), 0);
	cr_expect_eq(sub.flags, flags, "SUB '%s': flags %u, want %u", text, sub.flags, flags);
	mm_shm_ring_pop(&s->cmd);
	(void)mm_shm_ring_release(&s->cmd);
}

void t_expect_cmd(struct t_rsess *s, int type, const char *text)
{
	char got[256];
	uint64_t req;
	int t = t_next_cmd(s, got, sizeof(got), &req, TMO);

	cr_assert_eq(t, type, "cmd type %d, want %d (%s)", t, type, text);
	cr_assert_str_eq(got, text);
}

void t_expect_no_cmd(struct t_rsess *s)
{
	char got[256];
	uint64_t req;

	cr_assert_eq(t_next_cmd(s, got, sizeof(got), &req, 200), 0, "unexpected command '%s'", got);
}
