/* SPDX-License-Identifier: MIT */
/*
 * The router <-> client protocol (common/proto*.c): golden vectors from tests/data/proto, round
 * trips, every truncation, refusals of malformed input, and descriptor passing over a real
 * socketpair.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../fuzz/proto_cases.h"
#include "proto.h"

#define BYTES(s) ((struct mm_bytes){ (const uint8_t *)(s), sizeof(s) - 1 })

struct vec {
	uint8_t b[4096];
	size_t len;
};

/* Read tests/data/proto/<name>.hex: hex pairs, whitespace, '#' comments to end of line. */
static void vec_load(const char *name, struct vec *v)
{
	char path[512];
	unsigned x;
	FILE *f;
	int c;

	snprintf(path, sizeof(path), "%s/proto/%s.hex", MM_TEST_DATA_DIR, name);
	f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	v->len = 0;
	while ((c = fgetc(f)) != EOF) {
		if (c == '#') {
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
		} else if (c != ' ' && c != '\n' && c != '\t') {
			ungetc(c, f);
			cr_assert_eq(fscanf(f, "%2x", &x), 1, "%s: bad hex at byte %zu", path,
				     v->len);
			cr_assert_lt(v->len, sizeof(v->b));
			v->b[v->len++] = (uint8_t)x;
		}
	}
	fclose(f);
}

/* The values each golden vector encodes; the header comment of each .hex file says the same. */
static const uint32_t deliver_routes[] = { 3, 9 };
static const struct mm_proto_session_entry sessions_v[] = {
	{ 0, 2, { (const uint8_t *)"plant", 5 } },
	{ 1, 0xff, { (const uint8_t *)"cloud", 5 } },
};

static ssize_t pack_golden_frame(const char *name, uint8_t *b, size_t cap)
{
	struct mm_proto_hello hello = { .seq = 1,
					.major = 1,
					.features = 3,
					.token = 0xa1b2c3d4e5f60718ull,
					.name = BYTES("cli") };
	struct mm_proto_welcome welcome = { .seq = 1,
					    .major = 1,
					    .features = 1,
					    .client_id = 7,
					    .max_frame = 65536,
					    .dlv_size = 1u << 20,
					    .pub_size = 1u << 16 };
	struct mm_proto_error error = {
		.seq = 5, .flags = MM_PROTO_F_FATAL, .code = EPROTO, .text = BYTES("bad type")
	};
	struct mm_proto_ping ping = { .seq = 9, .token = 0x0102030405060708ull };
	struct mm_proto_route_add radd = { .seq = 2,
					   .route_id = 3,
					   .qos = 1,
					   .on_full = MM_PROTO_ON_FULL_BLOCK,
					   .session = BYTES("plant"),
					   .filter = BYTES("a/+/c") };
	struct mm_proto_route_ack rack = { .seq = 2, .route_id = 3, .acked = MM_PROTO_ROUTE_ADD };
	struct mm_proto_route_del rdel = { .seq = 4, .route_id = 3 };
	struct mm_proto_rejoined rej = { .seq = 8 };
	struct mm_proto_sessions_list slist = { .seq = 6 };
	struct mm_proto_sessions sess = { .seq = 6, .count = 2, .entries = sessions_v };

	if (!strcmp(name, "hello"))
		return mm_proto_pack_hello(b, cap, &hello);
	if (!strcmp(name, "welcome"))
		return mm_proto_pack_welcome(b, cap, &welcome);
	if (!strcmp(name, "error"))
		return mm_proto_pack_error(b, cap, &error);
	if (!strcmp(name, "ping"))
		return mm_proto_pack_ping(b, cap, &ping);
	if (!strcmp(name, "pong"))
		return mm_proto_pack_pong(b, cap, &ping);
	if (!strcmp(name, "route_add"))
		return mm_proto_pack_route_add(b, cap, &radd);
	if (!strcmp(name, "route_ack"))
		return mm_proto_pack_route_ack(b, cap, &rack);
	if (!strcmp(name, "route_del"))
		return mm_proto_pack_route_del(b, cap, &rdel);
	if (!strcmp(name, "rejoined"))
		return mm_proto_pack_rejoined(b, cap, &rej);
	if (!strcmp(name, "sessions_list"))
		return mm_proto_pack_sessions_list(b, cap, &slist);
	if (!strcmp(name, "sessions"))
		return mm_proto_pack_sessions(b, cap, &sess);
	return -ENOENT;
}

static ssize_t pack_golden_record(const char *name, uint8_t *b, size_t cap)
{
	struct mm_rec_deliver dlv = { .recv_ns = 0x1122334455667788ull,
				      .seq = 0x10203,
				      .mid = 42,
				      .session_idx = 1,
				      .qos = 1,
				      .flags = MM_REC_F_RETAIN,
				      .routes = { .n = 2, .host = deliver_routes },
				      .session = BYTES("plant"),
				      .topic = BYTES("a/b"),
				      .payload = BYTES("hi"),
				      .props = BYTES("\x01\x01") };
	struct mm_rec_gap gap = { .lost = 17, .session_idx = 1, .session = BYTES("plant") };
	struct mm_rec_client_event ev = { .time_ns = 0x0a0b0c0d,
					  .session_idx = 1,
					  .kind = 4,
					  .code = -111,
					  .attempt = 3,
					  .delay_ms = 2000,
					  .session = BYTES("plant"),
					  .text = BYTES("refused") };
	struct mm_rec_pub_done done = { .req_id = 0x55, .result = -ENOTCONN };
	struct mm_rec_client_pub pub = { .req_id = 0x56,
					 .qos = 2,
					 .flags = MM_REC_F_RETAIN | MM_REC_F_ALL,
					 .topic = BYTES("x/y"),
					 .payload = BYTES("on") };

	if (!strcmp(name, "deliver"))
		return mm_rec_deliver_pack(b, cap, &dlv);
	if (!strcmp(name, "gap"))
		return mm_rec_gap_pack(b, cap, &gap);
	if (!strcmp(name, "client_event"))
		return mm_rec_client_event_pack(b, cap, &ev);
	if (!strcmp(name, "pub_done"))
		return mm_rec_pub_done_pack(b, cap, &done);
	if (!strcmp(name, "client_pub"))
		return mm_rec_client_pub_pack(b, cap, &pub);
	return -ENOENT;
}

static ssize_t pack_golden(const char *name, uint8_t *b, size_t cap)
{
	ssize_t n = pack_golden_frame(name, b, cap);

	return n == -ENOENT ? pack_golden_record(name, b, cap) : n;
}

Test(common_proto, packs_every_golden_vector_byte_for_byte)
{
	for (size_t i = 0; i < PROTO_NCASES; i++) {
		uint8_t out[4096];
		struct vec v;
		ssize_t n;

		vec_load(proto_cases[i].name, &v);
		n = pack_golden(proto_cases[i].name, out, sizeof(out));
		cr_assert_eq(n, (ssize_t)v.len, "%s: packed %zd bytes, golden has %zu",
			     proto_cases[i].name, n, v.len);
		cr_expect_arr_eq(out, v.b, v.len, "%s differs from its golden vector",
				 proto_cases[i].name);
	}
}

Test(common_proto, unpacks_every_golden_vector_and_repacks_it_identically)
{
	for (size_t i = 0; i < PROTO_NCASES; i++) {
		uint8_t out[4096];
		struct vec v;
		ssize_t n;

		vec_load(proto_cases[i].name, &v);
		n = proto_cases[i].repack(v.b, v.len, out, sizeof(out));
		cr_assert_eq(n, (ssize_t)v.len, "%s: repack returned %zd", proto_cases[i].name, n);
		cr_expect_arr_eq(out, v.b, v.len, "%s: round trip differs", proto_cases[i].name);
	}
}

/* Pack into every smaller buffer: always -ENOSPC, never a write past <cap> (ASan checks). */
Test(common_proto, packing_into_a_short_buffer_fails_with_enospc)
{
	for (size_t i = 0; i < PROTO_NCASES; i++) {
		struct vec v;

		vec_load(proto_cases[i].name, &v);
		for (size_t cap = 0; cap < v.len; cap++) {
			uint8_t *b = malloc(cap ? cap : 1);

			cr_expect_eq(pack_golden(proto_cases[i].name, b, cap), -ENOSPC,
				     "%s with cap %zu", proto_cases[i].name, cap);
			free(b);
		}
	}
}

/* Run <in> of <len> bytes through case <c> from an exact-size heap copy, so ASan sees overreads. */
static ssize_t repack_copy(const struct proto_case *c, const uint8_t *in, size_t len)
{
	uint8_t *b = malloc(len ? len : 1), out[4096];
	ssize_t r;

	memcpy(b, in, len);
	r = c->repack(b, len, out, sizeof(out));
	free(b);
	return r;
}

static void put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

Test(common_proto, refuses_every_truncation_and_extension_of_every_vector)
{
	for (size_t i = 0; i < PROTO_NCASES; i++) {
		const struct proto_case *c = &proto_cases[i];
		struct vec v, t;

		vec_load(c->name, &v);
		for (size_t n = 0; n < v.len; n++) {
			cr_expect_eq(repack_copy(c, v.b, n), -EBADMSG, "%s prefix %zu", c->name, n);
			if (!c->frame || n < MM_PROTO_HDR_SIZE)
				continue;
			t = v;
			put32(t.b, (uint32_t)n); /* a consistent header: the body is what's short */
			cr_expect_eq(repack_copy(c, t.b, n), -EBADMSG, "%s body %zu", c->name, n);
		}
		t = v;
		t.b[t.len++] = 0;
		if (c->frame)
			put32(t.b, (uint32_t)t.len);
		cr_expect_eq(repack_copy(c, t.b, t.len), -EBADMSG, "%s plus one byte", c->name);
	}
}

Test(common_proto, header_refuses_bad_length_unknown_type_flags_and_reserved)
{
	struct mm_proto_hdr h;
	struct vec v, t;

	vec_load("hello", &v);
	cr_assert_eq(mm_proto_unpack_header(v.b, v.len, &h), 0);
	cr_expect(h.len == v.len && h.type == MM_PROTO_HELLO && h.flags == 0 && h.seq == 1);
	cr_expect_eq(mm_proto_unpack_header(v.b, 15, &h), -EBADMSG);
	t = v;
	put32(t.b, (uint32_t)v.len + 1);
	cr_expect_eq(mm_proto_unpack_header(t.b, v.len, &h), -EBADMSG);
	cr_expect_eq(mm_proto_unpack_header(t.b, MM_PROTO_MAX_FRAME + 1, &h), -EBADMSG);
	t = v;
	t.b[4] = 0x99;
	h.seq = 0;
	cr_expect_eq(mm_proto_unpack_header(t.b, t.len, &h), -EPROTO);
	cr_expect_eq(h.seq, 1, "seq is reported for the ERROR reply");
	cr_expect_eq(mm_proto_unpack_hello(t.b, t.len, &(struct mm_proto_hello){ 0 }), -EBADMSG);
	t = v;
	t.b[6] = 0x01;
	cr_expect_eq(mm_proto_unpack_header(t.b, t.len, &h), -EINVAL);
	t = v;
	t.b[15] = 0x80;
	cr_expect_eq(mm_proto_unpack_header(t.b, t.len, &h), -EINVAL);
	vec_load("error", &t);
	t.b[6] = 0x03; /* FATAL is known for ERROR, 0x2 is not */
	cr_expect_eq(mm_proto_unpack_header(t.b, t.len, &h), -EINVAL);
	vec_load("ping", &t);
	cr_expect_eq(mm_proto_unpack_pong(t.b, t.len, &(struct mm_proto_ping){ 0 }), -EBADMSG);
}

Test(common_proto, refuses_nul_bytes_and_overlong_strings)
{
	struct mm_proto_hello m = { 1, 1, 0, 0, 1, BYTES("a\0b") };
	uint8_t buf[512], name[300];
	struct vec v;

	cr_expect_eq(mm_proto_pack_hello(buf, sizeof(buf), &m), -EINVAL);
	memset(name, 'n', sizeof(name));
	m.name = (struct mm_bytes){ name, MM_PROTO_NAME_MAX + 1 };
	cr_expect_eq(mm_proto_pack_hello(buf, sizeof(buf), &m), -EINVAL);
	m.name.len = MM_PROTO_NAME_MAX;
	cr_expect_gt(mm_proto_pack_hello(buf, sizeof(buf), &m), 0);
	vec_load("hello", &v);
	v.b[35] = 0; /* "cli" -> "c\0i" */
	cr_expect_eq(mm_proto_unpack_hello(v.b, v.len, &m), -EBADMSG);
	vec_load("deliver", &v);
	v.b[54] = 0; /* topic "a/b" -> "a\0b" */
	cr_expect_eq(mm_rec_deliver_unpack(v.b, v.len, &(struct mm_rec_deliver){ 0 }), -EBADMSG);
	vec_load("route_add", &v);
	v.b[24] = 0xff; /* session length past the end */
	cr_expect_eq(mm_proto_unpack_route_add(v.b, v.len, &(struct mm_proto_route_add){ 0 }),
		     -EBADMSG);
}

Test(common_proto, refuses_fields_out_of_range)
{
	struct mm_proto_route_add ra = { 2, 3, 3, 0, BYTES(""), BYTES("a"), 0 };
	struct mm_rec_client_pub cp = {
		.req_id = 1, .flags = MM_REC_F_ALL, .session = BYTES("s"), .topic = BYTES("t")
	};
	struct mm_proto_error er = { 1, 0, 0, BYTES("") };
	static uint8_t big[2 * MM_PROTO_MAX_FRAME];
	struct vec v;

	cr_expect_eq(mm_proto_pack_route_add(big, sizeof(big), &ra), -EINVAL, "qos 3");
	ra.qos = 0;
	ra.on_full = 3;
	cr_expect_eq(mm_proto_pack_route_add(big, sizeof(big), &ra), -EINVAL, "on_full 3");
	ra.on_full = 0;
	ra.route_id = 0;
	cr_expect_eq(mm_proto_pack_route_add(big, sizeof(big), &ra), -EINVAL, "route id 0");
	ra.route_id = 1;
	ra.flags = 0x2;
	cr_expect_eq(mm_proto_pack_route_add(big, sizeof(big), &ra), -EINVAL, "unknown flag");
	ra.flags = 0;
	memset(big + 1024, 'f', UINT16_MAX);
	ra.filter = (struct mm_bytes){ big + 1024, UINT16_MAX };
	cr_expect_eq(mm_proto_pack_route_add(big, 1024, &ra), -ENOSPC);
	cr_expect_eq(mm_proto_pack_error(big, sizeof(big), &er), -EINVAL, "code 0");
	cr_expect_eq(mm_rec_client_pub_pack(big, sizeof(big), &cp), -EINVAL, "ALL + session");
	cp.flags = 0;
	cp.session.len = 0;
	cr_expect_eq(mm_rec_client_pub_pack(big, sizeof(big), &cp), -EINVAL, "no session");

	vec_load("route_add", &v);
	v.b[20] = 3;
	cr_expect_eq(mm_proto_unpack_route_add(v.b, v.len, &ra), -EBADMSG, "qos 3");
	vec_load("route_add", &v);
	v.b[22] = 1;
	cr_expect_eq(mm_proto_unpack_route_add(v.b, v.len, &ra), -EBADMSG, "reserved");
	vec_load("client_pub", &v);
	v.b[9] = MM_REC_F_RETAIN;
	cr_expect_eq(mm_rec_client_pub_unpack(v.b, v.len, &cp), -EBADMSG, "no session, no ALL");
	vec_load("deliver", &v);
	v.b[18] = 0;
	cr_expect_eq(mm_rec_deliver_unpack(v.b, v.len, &(struct mm_rec_deliver){ 0 }), -EBADMSG,
		     "zero routes");
	vec_load("gap", &v);
	memset(v.b, 0, 8);
	cr_expect_eq(mm_rec_gap_unpack(v.b, v.len, &(struct mm_rec_gap){ 0 }), -EBADMSG, "lost 0");
}

/* The token identifies one client handle across router restarts: 0 would match nobody. */
Test(common_proto, hello_refuses_token_zero)
{
	struct mm_proto_hello m = { .seq = 1, .major = 1, .token = 0, .name = BYTES("c") };
	uint8_t buf[128];
	struct vec v;

	cr_expect_eq(mm_proto_pack_hello(buf, sizeof(buf), &m), -EINVAL, "pack token 0");
	vec_load("hello", &v);
	memset(v.b + 24, 0, 8);
	cr_expect_eq(mm_proto_unpack_hello(v.b, v.len, &m), -EBADMSG, "unpack token 0");
	vec_load("hello", &v);
	cr_assert_eq(mm_proto_unpack_hello(v.b, v.len, &m), 0);
	cr_expect_eq(m.token, 0xa1b2c3d4e5f60718ull);
}

Test(common_proto, frame_above_max_frame_is_refused_with_emsgsize)
{
	static uint8_t buf[2 * MM_PROTO_MAX_FRAME], filt[UINT16_MAX];
	struct mm_proto_route_add ra = { 1, 1, 0, 0, BYTES(""), { filt, UINT16_MAX }, 0 };

	memset(filt, 'a', sizeof(filt));
	cr_expect_eq(mm_proto_pack_route_add(buf, sizeof(buf), &ra), -EMSGSIZE);
	ra.filter.len = MM_PROTO_MAX_FRAME - 28;
	cr_expect_eq(mm_proto_pack_route_add(buf, sizeof(buf), &ra), MM_PROTO_MAX_FRAME);
}

Test(common_proto, unpacked_views_point_at_the_fields)
{
	struct mm_proto_session_entry e;
	struct mm_proto_sessions s;
	struct mm_rec_deliver d;
	size_t off = 0;
	struct vec v;

	vec_load("deliver", &v);
	cr_assert_eq(mm_rec_deliver_unpack(v.b, v.len, &d), 0);
	cr_expect(d.routes.n == 2 && mm_rec_ids_get(&d.routes, 0) == 3 &&
		  mm_rec_ids_get(&d.routes, 1) == 9);
	cr_expect(d.topic.len == 3 && !memcmp(d.topic.p, "a/b", 3));
	cr_expect(d.session.len == 5 && !memcmp(d.session.p, "plant", 5));
	cr_expect(d.payload.p == v.b + 56 && d.props.len == 2 && d.seq == 0x10203);
	vec_load("sessions", &v);
	cr_assert_eq(mm_proto_unpack_sessions(v.b, v.len, &s), 0);
	cr_assert_eq(mm_proto_sessions_next(&s, &off, &e), 1);
	cr_expect(e.idx == 0 && e.state == 2 && !memcmp(e.name.p, "plant", 5));
	cr_assert_eq(mm_proto_sessions_next(&s, &off, &e), 1);
	cr_expect(e.idx == 1 && e.state == 0xff && !memcmp(e.name.p, "cloud", 5));
	cr_expect_eq(mm_proto_sessions_next(&s, &off, &e), 0);
}

Test(common_proto, names_types_and_their_directions)
{
	cr_expect_str_eq(mm_proto_type_to_string(MM_PROTO_ROUTE_ADD), "ROUTE_ADD");
	cr_expect_str_eq(mm_proto_type_to_string(0x7777), "unknown");
	cr_expect_eq(mm_proto_type_dir(MM_PROTO_HELLO), MM_PROTO_DIR_C2R);
	cr_expect_eq(mm_proto_type_dir(MM_PROTO_REJOINED), MM_PROTO_DIR_C2R);
	cr_expect_str_eq(mm_proto_type_to_string(MM_PROTO_REJOINED), "REJOINED");
	cr_expect_eq(mm_proto_type_dir(MM_PROTO_WELCOME), MM_PROTO_DIR_R2C);
	cr_expect_eq(mm_proto_type_dir(MM_PROTO_PING), MM_PROTO_DIR_BOTH);
	cr_expect_eq(mm_proto_type_dir(0), MM_PROTO_DIR_NONE);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void make_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		fds[i] = eventfd(0, EFD_CLOEXEC);
		cr_assert_geq(fds[i], 0);
	}
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

Test(common_proto, passes_the_welcome_descriptors_close_on_exec)
{
	int sp[2], out[MM_PROTO_WELCOME_NFDS], in[MM_PROTO_MAX_FDS], nin = MM_PROTO_MAX_FDS;
	uint8_t frame[128], got[MM_PROTO_MAX_FRAME];
	struct mm_proto_welcome w = { 1, 1, 0, 0, 1, MM_PROTO_MAX_FRAME, 4096, 4096 };
	ssize_t n;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	make_fds(out, MM_PROTO_WELCOME_NFDS);
	n = mm_proto_pack_welcome(frame, sizeof(frame), &w);
	cr_assert_gt(n, 0);
	cr_assert_eq(mm_proto_send(sp[0], frame, (size_t)n, out, MM_PROTO_WELCOME_NFDS), 0);
	cr_assert_eq(mm_proto_recv(sp[1], got, sizeof(got), in, &nin), n);
	cr_assert_eq(nin, MM_PROTO_WELCOME_NFDS);
	cr_expect_arr_eq(got, frame, (size_t)n);
	for (int i = 0; i < nin; i++)
		cr_expect(fcntl(in[i], F_GETFD) & FD_CLOEXEC, "fd %d not close-on-exec", i);
	cr_assert_eq(write(out[2], &(uint64_t){ 1 }, 8), 8);
	cr_expect_eq(read(in[2], &(uint64_t){ 0 }, 8), 8, "descriptor order is kept");
	close_fds(in, nin);
	close_fds(out, MM_PROTO_WELCOME_NFDS);
	close(sp[0]);
	nin = MM_PROTO_MAX_FDS;
	cr_expect_eq(mm_proto_recv(sp[1], got, sizeof(got), in, &nin), 0, "EOF");
	close(sp[1]);
}

/* Send <nsend> descriptors with a PING, receive with room for <room>, return what recv said. */
static ssize_t send_recv_fds(int nsend, int room, size_t cap, int *ret_nin)
{
	uint8_t frame[64], got[MM_PROTO_MAX_FRAME];
	int sp[2], out[16], in[MM_PROTO_MAX_FDS] = { 0 }, before;
	ssize_t n, r;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	n = mm_proto_pack_ping(frame, sizeof(frame), &(struct mm_proto_ping){ 1, 2 });
	make_fds(out, nsend);
	cr_assert_eq(mm_proto_send(sp[0], frame, (size_t)n, out, nsend), 0);
	close_fds(out, nsend);
	before = count_fds();
	*ret_nin = room;
	r = mm_proto_recv(sp[1], got, cap, in, ret_nin);
	if (r > 0)
		close_fds(in, *ret_nin);
	else
		cr_expect_eq(count_fds(), before, "received descriptors leaked");
	close(sp[0]);
	close(sp[1]);
	return r;
}

Test(common_proto, recv_refuses_and_closes_too_many_descriptors)
{
	int nin;

	cr_expect_eq(send_recv_fds(6, 3, MM_PROTO_MAX_FRAME, &nin), -EMSGSIZE);
	cr_expect_eq(nin, 0);
	cr_expect_eq(send_recv_fds(MM_PROTO_MAX_FDS, MM_PROTO_MAX_FDS, 64, &nin), 24);
	cr_expect_eq(send_recv_fds(1, 0, MM_PROTO_MAX_FRAME, &nin), -EMSGSIZE);
}

Test(common_proto, recv_refuses_a_truncated_frame_and_closes_its_descriptors)
{
	int nin;

	cr_expect_eq(send_recv_fds(2, MM_PROTO_MAX_FDS, 20, &nin), -EMSGSIZE);
	cr_expect_eq(nin, 0);
}

/* More descriptors than recv's control buffer holds: MSG_CTRUNC, and nothing leaks. */
Test(common_proto, recv_refuses_control_truncation)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 12)];
		struct cmsghdr align;
	} u;
	uint8_t frame[64], got[256];
	int sp[2], out[12], in[MM_PROTO_MAX_FDS], nin = MM_PROTO_MAX_FDS, before;
	struct iovec iov = { frame, 0 };
	struct msghdr mh = { 0 };
	struct cmsghdr *c;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	c = CMSG_FIRSTHDR(&mh);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	iov.iov_len =
		(size_t)mm_proto_pack_ping(frame, sizeof(frame), &(struct mm_proto_ping){ 1, 0 });
	make_fds(out, 12);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * 12);
	memcpy(CMSG_DATA(c), out, sizeof(out));
	cr_assert_eq(sendmsg(sp[0], &mh, 0), (ssize_t)iov.iov_len);
	close_fds(out, 12);
	before = count_fds();
	cr_expect_eq(mm_proto_recv(sp[1], got, sizeof(got), in, &nin), -EMSGSIZE);
	cr_expect_eq(count_fds(), before);
	cr_expect_eq(mm_proto_send(sp[0], frame, iov.iov_len, out, MM_PROTO_MAX_FDS + 1), -EINVAL);
	cr_expect_eq(mm_proto_send(sp[0], frame, 15, NULL, 0), -EINVAL);
	close(sp[0]);
	close(sp[1]);
}

/* ROUTE_ADD's REJOIN flag (issue 10, retained messages) travels in the header's flags. */
Test(common_proto, route_add_rejoin_flag_round_trips)
{
	struct mm_proto_route_add ra = { 7, 3, 1, 0, BYTES(""), BYTES("a/#"), MM_PROTO_F_REJOIN };
	struct mm_proto_route_add got;
	struct mm_proto_hdr h;
	uint8_t buf[128];
	ssize_t n = mm_proto_pack_route_add(buf, sizeof(buf), &ra);

	cr_assert_gt(n, 0);
	cr_assert_eq(mm_proto_unpack_header(buf, (size_t)n, &h), 0);
	cr_expect_eq(h.flags, MM_PROTO_F_REJOIN);
	cr_assert_eq(mm_proto_unpack_route_add(buf, (size_t)n, &got), 0);
	cr_expect_eq(got.flags, MM_PROTO_F_REJOIN);
	buf[6] = 0x2; /* an unknown flag bit */
	cr_expect_eq(mm_proto_unpack_header(buf, (size_t)n, &h), -EINVAL);
}
