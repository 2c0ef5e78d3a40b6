/* SPDX-License-Identifier: MIT */
/*
 * The worker against a real mosquitto broker: streams at every QoS over TCP and TLS, TLS
 * refusals, a full in-ring, oversized messages, commands, and bad session options. Run once
 * per loop backend (MQTTMUX_LOOP=uring|epoll, set by meson).
 */
#include <errno.h>
#include <mqtt_protocol.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "t_broker.h"
#include "t_certs.h"
#include "t_helpers.h"
#include "t_mosq.h"
#include "t_worker.h"

/*
 * mosquitto 2.0.11 sends a message that arrives while its per-client inflight window has just
 * freed a slot ahead of the messages it had queued, so a subscriber that acknowledges in
 * batches (as the worker does, ack after commit) sees reordering that is the broker's. An
 * unlimited window keeps the broker's queue out of the way; docs/worker.md has the details.
 * With a limited queue (max_queued_messages, default 1000) mosquitto also drops QoS 0 messages
 * for a subscriber that falls behind (seen here over TLS on a loaded machine).
 */
#define BROKER_CONF "max_inflight_messages 0\nmax_queued_messages 0\n"

static const struct t_broker_opts Plain = { .extra_conf = BROKER_CONF };
static struct t_broker B;
static struct t_worker W;
static char *Dir, *Cfg;

static void setup(void)
{
	Dir = t_tmpdir("wrk");
	cr_assert_not_null(Dir);
	mosquitto_lib_init();
}

static void teardown(void)
{
	t_worker_free(&W);
	t_broker_stop(&B);
	t_broker_free(&B);
	t_rmtree(Dir);
	free(Dir);
	free(Cfg);
	Cfg = NULL;
	mosquitto_lib_cleanup();
}

TestSuite(worker, .init = setup, .fini = teardown, .timeout = 120);

/* A config with one session "s" on <url>; <extra> goes inside the session block. */
static char *write_config(const char *url, const char *extra)
{
	char *text, *path;

	cr_assert_geq(asprintf(&text,
			       "sessions = ( { name = \"s\"; brokers = [ \"%s\" ];\n"
			       "  client_id = \"wrk-test\"; keepalive = 5;\n"
			       "  reconnect = { initial = 0.1; max = 0.5; };\n"
			       "  %s } );\n",
			       url, extra ? extra : ""),
		      0);
	path = t_write_file(Dir, "mqttmux.cfg", text);
	free(text);
	cr_assert_not_null(path);
	free(Cfg);
	Cfg = path;
	return path;
}

static char *tcp_url(void)
{
	static char url[64];

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", B.port);
	return url;
}

/* Stop the worker with SIGTERM: it must exit 0 and its log must hold no sanitizer report. */
static void end_clean(void)
{
	char line[512];
	FILE *f;

	cr_assert_eq(t_worker_stop(&W, 10000), 0, "worker ignored SIGTERM");
	cr_expect(WIFEXITED(W.wstatus) && WEXITSTATUS(W.wstatus) == 0, "worker status 0x%x",
		  W.wstatus);
	f = fopen(W.log_path, "r");
	while (f && fgets(line, sizeof(line), f))
		cr_expect(!strstr(line, "Sanitizer") && !strstr(line, "runtime error"),
			  "worker: %s", line);
	if (f)
		fclose(f);
}

static void start_worker(const char *cfg, uint64_t ring)
{
	cr_assert_eq(t_worker_init(&W, cfg, "s", ring), 0);
	cr_assert_eq(t_worker_spawn(&W), 0);
	cr_assert(t_worker_wait_ready(&W, 10000), "worker not ready; see %s", W.log_path);
}

static void count_ack(struct mosquitto *m, void *ud, int mid)
{
	(void)m;
	(void)mid;
	(*(int *)ud)++;
}

/*
 * Publish <n> messages "seq" on one topic (MQTT orders per topic) at <qos> with a plain
 * libmosquitto client, and wait until the broker acknowledged all of them (QoS >= 1) or they were
 * written (QoS 0).
 */
static void publish_seq(const struct t_broker *b, int n, int qos, size_t pad, bool tls,
			const struct t_certs *c)
{
	int acked = 0;
	struct mosquitto *m = mosquitto_new(NULL, true, &acked);
	char *buf = calloc(1, 32 + pad);
	uint64_t deadline = t_now_ns() + 60000000000ull;

	cr_assert_not_null(m);
	mosquitto_publish_callback_set(m, count_ack);
	mosquitto_max_inflight_messages_set(m, 0);
	if (tls)
		cr_assert_eq(mosquitto_tls_set(m, c->ca.cert, NULL, NULL, NULL, NULL), 0);
	cr_assert(t_mosq_connect(m, tls ? "localhost" : b->host, b->port, 30, 30000),
		  "publisher: no CONNACK");
	for (int i = 0; i < n; i++) {
		int len = snprintf(buf, 32, "%d", i);

		memset(buf + len, 'x', pad);
		cr_assert_eq(mosquitto_publish(m, NULL, "t/seq", len + (int)pad, buf, qos, false),
			     0);
		if (i % 16 == 0)
			mosquitto_loop(m, 0, 1);
	}
	while (acked < n && t_now_ns() < deadline)
		mosquitto_loop(m, 10, 1);
	cr_assert_eq(acked, n, "the broker took %d of %d messages", acked, n);
	mosquitto_disconnect(m);
	mosquitto_loop(m, 10, 1);
	mosquitto_destroy(m);
	free(buf);
}

struct seq_check {
	int next, want, dups, bad;
	uint8_t qos;
	char *seen;
};

static bool check_seq(struct t_worker *t, const struct mm_shm_rec *rec, void *ud)
{
	struct seq_check *c = ud;
	struct mm_rec_msg m;
	int seq;

	(void)t;
	if (rec->type != MM_REC_MSG)
		return true;
	if (mm_rec_msg_unpack(rec->data, rec->len, &m) < 0 || m.qos != c->qos) {
		cr_log_warn("malformed or QoS %u record of %u bytes", m.qos, rec->len);
		c->bad++;
		return true;
	}
	seq = atoi((const char *)m.payload.p);
	if (seq < 0 || seq >= c->want) {
		c->bad++;
	} else if (c->seen[seq]) {
		c->dups++;
	} else {
		c->seen[seq] = 1;
		if (seq != c->next) {
			cr_log_warn("seq %d after %d (flags %u)", seq, c->next - 1, m.flags);
			c->bad++; /* out of order */
		}
		c->next = seq + 1;
	}
	return c->next < c->want;
}

static void stream_and_check(int n, int qos, bool tls, const struct t_certs *c)
{
	struct seq_check chk = { .want = n, .qos = (uint8_t)qos, .seen = calloc((size_t)n, 1) };

	publish_seq(&B, n, qos, 16, tls, c);
	(void)t_worker_read(&W, check_seq, &chk, 30000);
	cr_expect_eq(chk.bad, 0, "%d malformed, out-of-order or wrong-QoS messages", chk.bad);
	cr_expect_eq(chk.next, n, "stopped at %d of %d", chk.next, n);
	cr_expect_eq(chk.dups, 0);
	cr_expect_geq(atomic_load(&W.stats->msgs_in), (uint64_t)n);
	free(chk.seen);
}

static void stream_tcp(int qos)
{
	char sub[64];

	cr_assert_eq(t_broker_start(&B, &Plain), 0);
	snprintf(sub, sizeof(sub), "subscriptions = ( { topic = \"t/#\"; qos = %d; } );", qos);
	start_worker(write_config(tcp_url(), sub), 1u << 22);
	stream_and_check(10000, qos, false, NULL);
}

Test(worker, receives_10000_qos0_messages_over_tcp_in_order)
{
	stream_tcp(0);
	end_clean();
}

Test(worker, receives_10000_qos1_messages_over_tcp_in_order)
{
	stream_tcp(1);
	end_clean();
}

Test(worker, receives_10000_qos2_messages_over_tcp_in_order)
{
	stream_tcp(2);
	end_clean();
}

/*
 * performance.latency_budget_us (wrk_hold.c): a worker that sleeps between read turns to gather
 * messages still takes a stream whole and in order.
 */
Test(worker, latency_budget_gathers_a_stream_whole_and_in_order)
{
	cr_assert_eq(t_broker_start(&B, &Plain), 0);
	start_worker(write_config(tcp_url(), "subscriptions = ( { topic = \"t/#\"; qos = 1; } );"
					     " performance = { latency_budget_us = 2000; };"),
		     1u << 22);
	stream_and_check(10000, 1, false, NULL);
	end_clean();
}

static void stream_tls(int qos)
{
	struct t_certs c;
	struct t_broker_opts o = { .extra_conf = BROKER_CONF };
	char extra[2048], url[64];

	cr_assert_eq(t_certs_make(&c), 0);
	o.cafile = c.ca.cert;
	o.certfile = c.server.cert;
	o.keyfile = c.server.key;
	cr_assert_eq(t_broker_start(&B, &o), 0);
	snprintf(url, sizeof(url), "ssl://localhost:%d", B.port);
	snprintf(extra, sizeof(extra),
		 "subscriptions = ( { topic = \"t/#\"; qos = %d; } );\n"
		 "tls = { ca_file = \"%s\"; };",
		 qos, c.ca.cert);
	start_worker(write_config(url, extra), 1u << 22);
	stream_and_check(10000, qos, true, &c);
	t_certs_free(&c);
}

Test(worker, receives_10000_qos0_messages_over_tls_in_order)
{
	stream_tls(0);
	end_clean();
}

Test(worker, receives_10000_qos1_messages_over_tls_in_order)
{
	stream_tls(1);
	end_clean();
}

Test(worker, receives_10000_qos2_messages_over_tls_in_order)
{
	stream_tls(2);
	end_clean();
}

Test(worker, oversized_message_is_counted_reported_and_the_session_goes_on)
{
	struct seq_check chk = { .want = 1, .qos = 1, .seen = calloc(1, 1) };
	struct mosquitto *m = mosquitto_new(NULL, true, NULL);
	char big[4096];

	cr_assert_eq(t_broker_start(&B, &Plain), 0);
	start_worker(write_config(tcp_url(), "subscriptions = ( { topic = \"t/#\"; qos = 1; } );\n"
					     "performance = { max_message_size = 1024; };"),
		     1u << 20);
	memset(big, 'y', sizeof(big));
	cr_assert(t_mosq_connect(m, B.host, B.port, 30, 30000), "publisher: no CONNACK");
	cr_assert_eq(mosquitto_publish(m, NULL, "t/big", sizeof(big), big, 1, false), 0);
	cr_assert_eq(mosquitto_publish(m, NULL, "t/small", 1, "0", 1, false), 0);
	for (int i = 0; i < 20; i++)
		mosquitto_loop(m, 10, 1);
	(void)t_worker_read(&W, check_seq, &chk, 10000);
	cr_expect_eq(chk.next, 1, "the small message after the big one arrived");
	cr_expect_eq(atomic_load(&W.stats->dropped_oversize), 1);
	cr_expect_eq(W.events[MM_EV_MSG_DROPPED], 1);
	mosquitto_destroy(m);
	free(chk.seen);
	end_clean();
}

Test(worker, full_ring_pushes_back_and_loses_nothing)
{
	struct seq_check chk = { .want = 3000, .qos = 1, .seen = calloc(3000, 1) };

	cr_assert_eq(t_broker_start(&B, &Plain), 0);
	start_worker(write_config(tcp_url(), "subscriptions = ( { topic = \"t/#\"; qos = 1; } );\n"
					     "performance = { ring_size = 65536; "
					     "max_message_size = 2048; };"),
		     65536);
	/* 3000 x 300 B = 900 KB through a 64 KiB ring that nobody reads for now */
	publish_seq(&B, 3000, 1, 300, false, NULL);
	cr_expect_gt(atomic_load(&W.stats->ring_full_waits), 0, "the worker had to pause");
	(void)t_worker_read(&W, check_seq, &chk, 60000);
	cr_expect_eq(chk.bad, 0);
	cr_expect_eq(chk.next, 3000, "stopped at %d", chk.next);
	free(chk.seen);
	end_clean();
}

struct completion_check {
	uint64_t req_id;
	int32_t result;
	bool seen;
};

static bool find_completion(struct t_worker *t, const struct mm_shm_rec *rec, void *ud)
{
	struct completion_check *c = ud;
	struct mm_rec_completion r;

	(void)t;
	if (rec->type == MM_REC_COMPLETION &&
	    mm_rec_completion_unpack(rec->data, rec->len, &r) == 0 && r.req_id == c->req_id) {
		c->seen = true;
		c->result = r.result;
		return false;
	}
	return true;
}

Test(worker, subscribe_and_publish_commands_complete)
{
	struct completion_check c = { .req_id = 11 };
	struct seq_check chk = { .want = 1, .qos = 1, .seen = calloc(1, 1) };

	cr_assert_eq(t_broker_start(&B, &Plain), 0);
	start_worker(write_config(tcp_url(), NULL), 1u << 20);
	cr_assert_eq(t_worker_cmd_sub(&W, 11, "c/#", 1, false), 0);
	(void)t_worker_read(&W, find_completion, &c, 10000);
	cr_assert(c.seen && c.result == 0, "SUB completion %d/%d", c.seen, c.result);
	c = (struct completion_check){ .req_id = 12 };
	cr_assert_eq(t_worker_cmd_pub(&W, 12, "c/x", "0", 1, 1, false), 0);
	(void)t_worker_read(&W, find_completion, &c, 10000);
	cr_assert(c.seen && c.result == 0, "PUB completion %d/%d", c.seen, c.result);
	if (W.msgs == 0) /* it may have arrived before the PUBACK */
		(void)t_worker_read(&W, check_seq, &chk, 10000);
	cr_expect_eq(W.msgs, 1, "our own publish came back through the subscription");
	cr_expect_eq(atomic_load(&W.stats->msgs_out), 1);
	free(chk.seen);
	end_clean();
}

Test(worker, sigterm_disconnects_cleanly)
{
	cr_assert_eq(t_broker_start(&B, &Plain), 0);
	start_worker(write_config(tcp_url(), NULL), 1u << 20);
	end_clean();
	cr_expect_eq(atomic_load(&W.stats->state), MM_SESS_STOPPED);
}

/* "Max address space" of <pid> from /proc/<pid>/limits: the soft limit, 0 if unlimited. */
static unsigned long long as_limit(pid_t pid)
{
	char path[64], line[256];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	f = fopen(path, "re");
	cr_assert_not_null(f, "%s", path);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Max address space", 17))
			v = strtoull(line + 17 + strspn(line + 17, " "), NULL, 10);
	fclose(f);
	return v;
}

/* DESIGN.md §6: the worker caps its own address space (not under the sanitizers). */
Test(worker, address_space_is_capped)
{
	unsigned long long v;

	cr_assert_eq(t_broker_start(&B, &Plain), 0);
	start_worker(write_config(tcp_url(), NULL), 1u << 20);
	v = as_limit(W.pid);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	cr_expect_eq(v, 0, "capped under a sanitizer: %llu", v);
#else
	/* 768 MiB + 4 x 1 MiB ring + 64 x max_message_size */
	cr_expect_geq(v, 772ull << 20, "address space limit %llu", v);
	cr_expect_lt(v, 4ull << 30, "address space limit %llu", v);
#endif
	end_clean();
}

/* Properties the broker forwards on a PUBLISH, each as its MQTT 5 wire bytes. */
static const struct {
	const char *bytes;
	size_t len;
} Wire_props[] = {
	{ "\x01\x01", 2 },		   /* payload format: UTF-8 */
	{ "\x03\x00\x0atext/plain", 13 },  /* content type */
	{ "\x08\x00\x03r/1", 6 },	   /* response topic */
	{ "\x09\x00\x03\x00\x01\xff", 6 }, /* correlation data */
	{ "\x26\x00\x01k\x00\x02v1", 8 },  /* user property k=v1 */
	{ "\x26\x00\x01k\x00\x02v2", 8 },  /* the same key again */
	{ "\x26\x00\x00\x00\x00", 5 },	   /* an empty one */
};

static mosquitto_property *wire_props_list(void)
{
	mosquitto_property *p = NULL;

	cr_assert_eq(mosquitto_property_add_byte(&p, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, 1), 0);
	cr_assert_eq(mosquitto_property_add_string(&p, MQTT_PROP_CONTENT_TYPE, "text/plain"), 0);
	cr_assert_eq(mosquitto_property_add_string(&p, MQTT_PROP_RESPONSE_TOPIC, "r/1"), 0);
	cr_assert_eq(
		mosquitto_property_add_binary(&p, MQTT_PROP_CORRELATION_DATA, "\x00\x01\xff", 3),
		0);
	cr_assert_eq(mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "k", "v1"), 0);
	cr_assert_eq(mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "k", "v2"), 0);
	cr_assert_eq(mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "", ""), 0);
	cr_assert_eq(mosquitto_property_add_int32(&p, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, 3600), 0);
	return p;
}

static bool has_bytes(const struct mm_bytes *b, const char *want, size_t n)
{
	for (size_t i = 0; i + n <= b->len; i++)
		if (!memcmp(b->p + i, want, n))
			return true;
	return false;
}

static bool check_props(struct t_worker *t, const struct mm_shm_rec *rec, void *ud)
{
	int *seen = ud;
	struct mm_rec_msg m;

	(void)t;
	if (rec->type != MM_REC_MSG)
		return true;
	cr_assert_eq(mm_rec_msg_unpack(rec->data, rec->len, &m), 0);
	for (size_t i = 0; i < sizeof(Wire_props) / sizeof(Wire_props[0]); i++)
		cr_expect(has_bytes(&m.props, Wire_props[i].bytes, Wire_props[i].len),
			  "property %zu missing from %u bytes", i, m.props.len);
	/* message expiry (0x02), counted down by the broker: present, 4 bytes */
	cr_expect(has_bytes(&m.props, "\x02\x00\x00", 3), "no message expiry");
	(*seen)++;
	return *seen < 3;
}

/*
 * Issue 10: the worker crashed (a memcpy from NULL) on any MQTT 5 message with properties, and
 * crash-looped on the broker's redelivery. Every property must reach the ring, at every QoS.
 */
Test(worker, mqtt5_properties_reach_the_ring_at_every_qos)
{
	mosquitto_property *props = wire_props_list();
	struct mosquitto *m = mosquitto_new(NULL, true, NULL);
	int seen = 0;

	cr_assert_eq(t_broker_start(&B, &Plain), 0);
	start_worker(write_config(tcp_url(), "protocol = \"5\";\n"
					     "subscriptions = ( { topic = \"t/#\"; qos = 2; } );"),
		     1u << 20);
	cr_assert_eq(mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5), 0);
	cr_assert(t_mosq_connect(m, B.host, B.port, 30, 30000), "publisher: no CONNACK");
	for (int qos = 0; qos <= 2; qos++)
		cr_assert_eq(mosquitto_publish_v5(m, NULL, "t/p", 1, "x", qos, false, props), 0);
	for (int i = 0; i < 20; i++)
		mosquitto_loop(m, 10, 1);
	(void)t_worker_read(&W, check_props, &seen, 10000);
	cr_expect_eq(seen, 3, "%d of 3 messages with properties arrived", seen);
	mosquitto_property_free_all(&props);
	mosquitto_destroy(m);
	end_clean();
}
