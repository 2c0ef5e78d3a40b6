/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the handoff blobs (shm/handoff*.c): a session with every key set and one with
 * none of the optional ones come back equal (mm_cfg_session_equal compares every field, the
 * password by content), the router table comes back whole, a golden router blob, every
 * truncation and every single-byte change is refused or decoded without harm, and the sealed
 * memfd refuses descriptors that are not sealed blobs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cfg_fixture.h"
#include "handoff.h"

TestSuite(shm_handoff, .init = t_cfg_setup, .fini = t_cfg_teardown, .timeout = 30);

static const char full_cfg[] =
	"runtime_dir = \"/run/mqttmux-test\";\n"
	"clients = { allow_uids = [ 0, 1000 ]; allow_gids = ( 27, 4294967294L ); "
	"ring_size = 4194304; on_full = \"block\"; };\n"
	"sessions = (\n"
	"  { name = \"plant\"; brokers = [ \"tcp://127.0.0.1:1883\", \"mqtts://backup:8884\",\n"
	"                                  \"unix:///run/mosq.sock\", \"tls://[::1]\" ];\n"
	"    client_id = \"plant-1\"; username = \"u\"; password_file = \"pass\";\n"
	"    protocol = \"5\";\n"
	"    keepalive = 30; clean_session = false; auto_reconnect = false;\n"
	"    persistent = true; resume_subs = true; connect_timeout = 7.5;\n"
	"    reconnect = { initial = 0.5; max = 60.0; factor = 1.5; jitter = 0.1; };\n"
	"    subscriptions = ( { topic = \"sensors/#\"; qos = 1; }, { topic = \"$share/g/x/+\"; } );\n"
	"    will = { topic = \"status/plant\"; payload = \"offline\"; qos = 2; retain = true; };\n"
	"    tls = { ca_file = \"ca.pem\"; cert_file = \"c.pem\"; key_file = \"c.key\";\n"
	"            server_name = \"broker.example\"; skip_verify = true; };\n"
	"    performance = { ring_size = 8388608; max_message_size = 32768; max_pending = 5000;\n"
	"                    latency_budget_us = 2000; };\n"
	"  },\n"
	"  { name = \"cloud\"; brokers = [ \"mqtt://cloud\" ]; client_id = \"c\"; }\n"
	");\n";

static void load_full(void)
{
	int r = t_cfg_load(full_cfg);

	t_cfg_dump();
	cr_assert_eq(r, 0);
}

static struct mm_cfg_session *round_trip(const struct mm_cfg_session *s)
{
	struct mm_cfg_session *back = NULL;
	uint8_t *buf = NULL;
	ssize_t n = mm_handoff_session_pack(s, &buf);

	cr_assert_gt(n, 0);
	cr_assert_eq(mm_handoff_session_unpack(buf, (size_t)n, &back), 0);
	free(buf);
	return back;
}

Test(shm_handoff, a_session_with_every_key_comes_back_equal_with_its_password)
{
	struct mm_cfg_session *back;

	load_full();
	back = round_trip(&t_cfg->sessions[0]);
	cr_expect(mm_cfg_session_equal(&t_cfg->sessions[0], back));
	cr_assert_not_null(back->password);
	cr_expect_str_eq(back->password, "s3cret");
	cr_expect_eq(back->password_len, 6);
	cr_expect_str_eq(back->tls.key_file, t_cfg_at("c.key"));
	cr_expect_eq(back->n_brokers, 4);
	cr_expect_str_eq(back->brokers[2].path, "/run/mosq.sock");
	cr_expect_eq(back->perf.latency_budget_us, 2000);
	mm_cfg_session_free(back);
}

Test(shm_handoff, a_session_without_optional_keys_comes_back_equal)
{
	struct mm_cfg_session *back;

	load_full();
	back = round_trip(&t_cfg->sessions[1]);
	cr_expect(mm_cfg_session_equal(&t_cfg->sessions[1], back));
	cr_expect_null(back->password);
	cr_expect_null(back->username);
	cr_expect_null(back->tls.ca_file);
	cr_expect(!back->will.set);
	mm_cfg_session_free(back);
}

Test(shm_handoff, every_truncation_and_an_extra_byte_are_refused)
{
	uint8_t *buf = NULL, *big;
	struct mm_cfg_session *back;
	ssize_t n;

	load_full();
	n = mm_handoff_session_pack(&t_cfg->sessions[0], &buf);
	cr_assert_gt(n, 0);
	for (ssize_t len = 0; len < n; len++)
		cr_expect_eq(mm_handoff_session_unpack(buf, (size_t)len, &back), -EBADMSG,
			     "%zd bytes of %zd accepted", len, n);
	big = calloc(1, (size_t)n + 1);
	memcpy(big, buf, (size_t)n);
	cr_expect_eq(mm_handoff_session_unpack(big, (size_t)n + 1, &back), -EBADMSG);
	free(big);
	free(buf);
}

/* Flipping any one byte must give an error or a session, never a crash (ASan watches). */
Test(shm_handoff, every_single_byte_change_is_harmless)
{
	struct mm_cfg_session *back;
	uint8_t *buf = NULL;
	ssize_t n;

	load_full();
	n = mm_handoff_session_pack(&t_cfg->sessions[0], &buf);
	cr_assert_gt(n, 0);
	for (ssize_t i = 0; i < n; i++) {
		static const uint8_t vals[] = { 0x00, 0xff, 0x80, 0x7f };

		for (size_t k = 0; k < sizeof(vals); k++) {
			uint8_t old = buf[i];

			buf[i] = vals[k];
			if (mm_handoff_session_unpack(buf, (size_t)n, &back) == 0)
				mm_cfg_session_free(back);
			buf[i] = old;
		}
	}
	free(buf);
}

Test(shm_handoff, a_session_blob_is_not_a_router_blob)
{
	struct mm_handoff_router *t;
	uint8_t *buf = NULL;
	ssize_t n;

	load_full();
	n = mm_handoff_session_pack(&t_cfg->sessions[1], &buf);
	cr_assert_gt(n, 0);
	cr_expect_eq(mm_handoff_router_unpack(buf, (size_t)n, &t), -EBADMSG);
	free(buf);
}

static unsigned int Golden_uids[] = { 5 };
static const struct mm_handoff_rsess Golden_sessions[] = {
	{ 7, 4096, "a", { 0 } },
	{ 9, 0, "b.c", { .set = true, .allow_uids = Golden_uids, .n_allow_uids = 1 } },
};

/*
 * runtime_dir "/r", uids [1000], gids [], ring 65536, on_full block, rejoin_grace 2.5,
 * block_timeout 2.0, max_clients 1024, max_clients_per_uid 256, max_routes 4096,
 * max_filter_length 1024, max_pending 1000, max_queued_bytes 16 MiB, sessions 7 "a"
 * (max_message_size 4096, no clients block), 9 "b.c" (0, clients { allow_uids [5] }).
 */
static const uint8_t Golden_router[] = {
	0x4d, 0x4d, 0x48, 0x4f, 0x03, 0x00, 0x02, 0x00,	      /* "MMHO", version 3, kind 2 */
	0x02, 0x00, '/',  'r',				      /* runtime_dir */
	0x01, 0x00, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00,	      /* allow_uids [1000] */
	0x00, 0x00, 0x00, 0x00,				      /* allow_gids [] */
	0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,	      /* ring_size */
	0x01,						      /* on_full block */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x40,	      /* rejoin_grace 2.5 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40,	      /* block_timeout 2.0 */
	0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,	      /* max_clients, _per_uid */
	0x00, 0x10, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00,	      /* max_routes, max_filter_length */
	0xe8, 0x03, 0x00, 0x00,				      /* max_pending */
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,	      /* max_queued_bytes */
	0x02, 0x00, 0x00, 0x00,				      /* 2 sessions */
	0x07, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,	      /* 7, 4096 */
	0x01, 0x00, 'a',				      /* "a" */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* no clients block */
	0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	      /* 9, 0 */
	0x03, 0x00, 'b',  '.',	'c',			      /* "b.c" */
	0x01, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, /* clients: allow_uids [5] */
	0x00, 0x00, 0x00, 0x00,				      /* allow_gids [] */
};

Test(shm_handoff, the_router_table_packs_to_the_golden_bytes_and_back)
{
	unsigned int uid = 1000;
	struct mm_handoff_router t = {
		.runtime_dir = "/r",
		.clients = { .allow_uids = &uid,
			     .n_allow_uids = 1,
			     .ring_size = 65536,
			     .on_full = MM_CFG_ON_FULL_BLOCK,
			     .rejoin_grace = 2.5,
			     .block_timeout = 2.0,
			     .max_clients = 1024,
			     .max_clients_per_uid = 256,
			     .max_routes = 4096,
			     .max_filter_length = 1024,
			     .max_pending = 1000,
			     .max_queued_bytes = 16u << 20 },
		.sessions = (struct mm_handoff_rsess *)Golden_sessions,
		.n_sessions = 2,
	};
	struct mm_handoff_router *back = NULL;
	uint8_t *buf = NULL;
	ssize_t n = mm_handoff_router_pack(&t, &buf);

	cr_assert_eq(n, (ssize_t)sizeof(Golden_router));
	cr_expect_arr_eq(buf, Golden_router, sizeof(Golden_router));
	cr_assert_eq(mm_handoff_router_unpack(buf, (size_t)n, &back), 0);
	cr_expect_str_eq(back->runtime_dir, "/r");
	cr_assert_eq(back->clients.n_allow_uids, 1);
	cr_expect_eq(back->clients.allow_uids[0], 1000);
	cr_expect_eq(back->clients.n_allow_gids, 0);
	cr_expect_eq(back->clients.ring_size, 65536);
	cr_expect_eq(back->clients.on_full, MM_CFG_ON_FULL_BLOCK);
	cr_expect_eq(back->clients.rejoin_grace, 2.5);
	cr_expect_eq(back->clients.block_timeout, 2.0);
	cr_expect_eq(back->clients.max_clients_per_uid, 256);
	cr_expect_eq(back->clients.max_filter_length, 1024);
	cr_expect_eq(back->clients.max_queued_bytes, 16u << 20);
	cr_assert_eq(back->n_sessions, 2);
	cr_expect_eq(back->sessions[1].idx, 9);
	cr_expect_eq(back->sessions[0].max_msg, 4096);
	cr_expect_str_eq(back->sessions[1].name, "b.c");
	cr_expect_not(back->sessions[0].access.set);
	cr_expect(back->sessions[1].access.set);
	cr_assert_eq(back->sessions[1].access.n_allow_uids, 1);
	cr_expect_eq(back->sessions[1].access.allow_uids[0], 5);
	for (ssize_t len = 0; len < n; len++)
		cr_expect_eq(mm_handoff_router_unpack(buf, (size_t)len, &back), -EBADMSG);
	mm_handoff_router_free(back);
	free(buf);
}

Test(shm_handoff, a_sealed_blob_reads_back_and_cannot_be_changed)
{
	struct mm_cfg_session *back = NULL;
	int fd;

	load_full();
	fd = mm_handoff_session_open(&t_cfg->sessions[0]);
	cr_assert_geq(fd, 0);
	cr_expect_eq(write(fd, "x", 1), -1, "a sealed blob took a write");
	cr_expect_eq(ftruncate(fd, 1), -1);
	cr_assert_eq(mm_handoff_session_read(fd, &back), 0);
	cr_expect(mm_cfg_session_equal(&t_cfg->sessions[0], back));
	mm_cfg_session_free(back);
}

Test(shm_handoff, descriptors_that_are_not_sealed_blobs_are_refused)
{
	struct mm_cfg_session *back;
	int p[2], fd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "MMHO", 4), 4);
	cr_expect_eq(mm_handoff_session_read(fd, &back), -EPROTO);
	cr_assert_eq(pipe(p), 0);
	close(p[1]);
	cr_expect_eq(mm_handoff_session_read(p[0], &back), -EPROTO);
	cr_expect_eq(mm_handoff_session_read(999, &back), -EBADF);
}
