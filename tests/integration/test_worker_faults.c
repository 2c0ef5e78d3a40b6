/* SPDX-License-Identifier: MIT */
/*
 * The worker under faults, against a real mosquitto broker: TLS refusals on the first connect
 * and after a reconnect, a broker restarted mid-stream under a persistent session, kill -9 of
 * the worker while it receives, resubscription after every reconnect, and session options
 * refused before any connection. Run once per loop backend (MQTTMUX_LOOP=uring|epoll, set by
 * meson). Every wait has a deadline; nothing sleeps blindly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "t_broker.h"
#include "t_certs.h"
#include "t_helpers.h"
#include "t_mosq.h"
#include "t_worker.h"

/*
 * See test_worker.c: with a bounded inflight window mosquitto 2.0.11 reorders a QoS 1 stream to
 * a subscriber that acks in batches. With its default max_queued_messages (1000) it drops QoS 1
 * messages beyond that for a persistent session that is offline (a worker just killed, a
 * broker just restarted), which no subscriber can help: the tests lift the limit.
 */
#define BROKER_CONF "max_inflight_messages 0\nmax_queued_messages 0\n"
#define TOPIC	    "t/seq"

static struct t_broker B;
static struct t_worker W;
static struct t_certs C;
static char *Dir, *Cfg;

static void setup(void)
{
	Dir = t_tmpdir("wrkf");
	cr_assert_not_null(Dir);
	mosquitto_lib_init();
}

/* Idempotent: a skipped test calls it itself, since criterion then skips .fini. */
static void teardown(void)
{
	t_worker_free(&W);
	t_broker_free(&B);
	t_certs_free(&C);
	if (!Dir)
		return;
	t_rmtree(Dir);
	free(Dir);
	Dir = NULL;
	free(Cfg);
	Cfg = NULL;
	mosquitto_lib_cleanup();
}

TestSuite(worker_faults, .init = setup, .fini = teardown, .timeout = 120);

/* ---- configs, the worker's end, the broker's log ---- */

/* A config with one session "s" on <url> with <client_id>; <extra> goes inside the block. */
static char *write_config_id(const char *url, const char *client_id, const char *extra)
{
	char *text, *path;

	cr_assert_geq(asprintf(&text,
			       "sessions = ( { name = \"s\"; brokers = [ \"%s\" ];\n"
			       "  client_id = \"%s\"; keepalive = 5;\n"
			       "  reconnect = { initial = 0.1; max = 0.5; };\n"
			       "  %s } );\n",
			       url, client_id, extra ? extra : ""),
		      0);
	path = t_write_file(Dir, "mqttmux.cfg", text);
	free(text);
	cr_assert_not_null(path);
	free(Cfg);
	Cfg = path;
	return path;
}

static char *write_config(const char *url, const char *extra)
{
	return write_config_id(url, "wrk-faults", extra);
}

static const char *tcp_url(void)
{
	static char url[64];

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", B.port);
	return url;
}

static const char *tls_url(void)
{
	static char url[64];

	snprintf(url, sizeof(url), "ssl://localhost:%d", B.port);
	return url;
}

static void spawn_worker(const char *cfg, uint64_t ring)
{
	cr_assert_eq(t_worker_init(&W, cfg, "s", ring), 0);
	cr_assert_eq(t_worker_spawn(&W), 0);
}

/* True if file <path> holds <needle> at or after byte <from>. */
static bool file_has(const char *path, off_t from, const char *needle)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	if (fseeko(f, from, SEEK_SET) == 0)
		while (!found && fgets(line, sizeof(line), f))
			found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* SIGTERM: the worker must exit 0, and its log must hold no sanitizer report. */
static void end_clean(void)
{
	cr_assert_eq(t_worker_stop(&W, 10000), 0, "worker ignored SIGTERM");
	cr_expect(WIFEXITED(W.wstatus) && WEXITSTATUS(W.wstatus) == 0, "worker status 0x%x",
		  W.wstatus);
	cr_expect(!file_has(W.log_path, 0, "Sanitizer") &&
			  !file_has(W.log_path, 0, "runtime error"),
		  "sanitizer report in %s", W.log_path);
}

/* ---- reading the in-ring ---- */

/*
 * What a reader saw: messages "<seq>xxx..." on TOPIC, sequence numbers 0 .. want-1, and the
 * events. A later copy of a sequence number must carry MM_REC_F_DUP; within one connection
 * (from a CONNECTED event on) sequence numbers must rise.
 */
struct rx {
	int want, got;
	uint8_t *seen;
	int dups, dups_unflagged, disorder, bad, others;
	int new_flagged; /* first copies flagged DUP: allowed, but none on a clean session */
	int last;	 /* last seq of the current connection */
	uint64_t ev[_MM_EV_KIND_MAX];	  /* events read */
	int tls_losses;			  /* DISCONNECTED events whose reason names TLS */
	bool (*until)(const struct rx *); /* stop reading when true; NULL: all seqs seen */
	int goal;			  /* for <until> */
};

static void rx_init(struct rx *rx, int want)
{
	*rx = (struct rx){ .want = want, .last = -1, .seen = calloc((size_t)want + 1, 1) };
	cr_assert_not_null(rx->seen);
}

static void rx_free(struct rx *rx)
{
	free(rx->seen);
	rx->seen = NULL;
}

static int parse_seq(const struct mm_bytes *b)
{
	int seq = 0;
	uint32_t i;

	for (i = 0; i < b->len && i < 9 && b->p[i] >= '0' && b->p[i] <= '9'; i++)
		seq = seq * 10 + (b->p[i] - '0');
	return i ? seq : -1;
}

static void rx_msg(struct rx *rx, const struct mm_shm_rec *rec)
{
	struct mm_rec_msg m;
	int seq;

	if (mm_rec_msg_unpack(rec->data, rec->len, &m) < 0) {
		rx->bad++;
		return;
	}
	if (m.topic.len != strlen(TOPIC) || memcmp(m.topic.p, TOPIC, m.topic.len)) {
		rx->others++;
		return;
	}
	seq = parse_seq(&m.payload);
	if (seq < 0 || seq >= rx->want || m.qos != 1) {
		cr_log_warn("bad message: seq %d qos %u", seq, m.qos);
		rx->bad++;
		return;
	}
	if (rx->seen[seq]) {
		rx->dups++;
		if (!(m.flags & MM_REC_F_DUP)) {
			rx->dups_unflagged++;
			cr_log_warn("seq %d again (mid %u) without the DUP flag", seq, m.mid);
		}
	} else {
		rx->seen[seq] = 1;
		rx->got++;
		rx->new_flagged += !!(m.flags & MM_REC_F_DUP);
	}
	if (seq <= rx->last) {
		rx->disorder++;
		cr_log_warn("seq %d after %d on one connection", seq, rx->last);
	}
	rx->last = seq;
}

static void rx_event(struct rx *rx, const struct mm_shm_rec *rec)
{
	struct mm_rec_event e;

	if (mm_rec_event_unpack(rec->data, rec->len, &e) < 0 || e.kind >= _MM_EV_KIND_MAX) {
		rx->bad++;
		return;
	}
	rx->ev[e.kind]++;
	if (e.kind == MM_EV_CONNECTED)
		rx->last = -1;
	if (e.kind == MM_EV_DISCONNECTED && memmem(e.text.p, e.text.len, "TLS", 3))
		rx->tls_losses++;
}

static bool rx_rec(struct t_worker *t, const struct mm_shm_rec *rec, void *ud)
{
	struct rx *rx = ud;

	(void)t;
	if (rec->type == MM_REC_MSG)
		rx_msg(rx, rec);
	else if (rec->type == MM_REC_EVENT)
		rx_event(rx, rec);
	return rx->until ? !rx->until(rx) : rx->got < rx->want;
}

/* Read until <until> holds (NULL: every seq seen) or <timeout_ms> passed. */
static void rx_read(struct rx *rx, bool (*until)(const struct rx *), int goal, int timeout_ms)
{
	rx->until = until;
	rx->goal = goal;
	if (until ? until(rx) : rx->got >= rx->want)
		return;
	cr_assert_geq(t_worker_read(&W, rx_rec, rx, timeout_ms), 0, "in-ring corrupt");
}

static bool until_ready(const struct rx *rx)
{
	return rx->ev[MM_EV_READY] >= (uint64_t)rx->goal;
}

static bool until_got(const struct rx *rx)
{
	return rx->got >= rx->goal;
}

static bool until_tls_losses(const struct rx *rx)
{
	return rx->tls_losses >= rx->goal && rx->ev[MM_EV_RECONNECTING] >= (uint64_t)rx->goal;
}

static void wait_ready(struct rx *rx, int n)
{
	rx_read(rx, until_ready, n, 15000);
	cr_assert_geq(rx->ev[MM_EV_READY], (uint64_t)n, "READY #%d missing; see %s", n, W.log_path);
}

static void log_missing(const struct rx *rx)
{
	for (int i = 0, from = -1; i <= rx->want; i++) {
		if (i < rx->want && !rx->seen[i] && from < 0)
			from = i;
		else if ((i == rx->want || rx->seen[i]) && from >= 0) {
			cr_log_warn("missing seqs %d..%d", from, i - 1);
			from = -1;
		}
	}
}

static void expect_all_once_or_dup(const struct rx *rx)
{
	if (rx->got < rx->want)
		log_missing(rx);
	cr_expect_eq(rx->got, rx->want, "%d of %d sequence numbers arrived", rx->got, rx->want);
	cr_expect_eq(rx->bad, 0, "%d malformed records", rx->bad);
	cr_expect_eq(rx->dups_unflagged, 0, "%d of %d duplicates lack the DUP flag",
		     rx->dups_unflagged, rx->dups);
	cr_expect_eq(rx->disorder, 0, "%d out of order within a connection", rx->disorder);
}

/* ---- a plain libmosquitto publisher ---- */

struct pub {
	struct mosquitto *m;
	atomic_int acked;
	int goal_acked;
};

static void pub_acked(struct mosquitto *m, void *ud, int mid)
{
	(void)m;
	(void)mid;
	atomic_fetch_add(&((struct pub *)ud)->acked, 1);
}

static void pub_open(struct pub *p, const struct t_broker *b)
{
	p->acked = 0;
	p->m = mosquitto_new(NULL, true, p);
	cr_assert_not_null(p->m);
	mosquitto_publish_callback_set(p->m, pub_acked);
	(void)mosquitto_max_inflight_messages_set(p->m, 0);
	cr_assert(t_mosq_connect(p->m, b->host, b->port, 30, 30000), "publisher: no CONNACK");
}

static void pub_close(struct pub *p)
{
	mosquitto_disconnect(p->m);
	mosquitto_loop(p->m, 10, 1);
	mosquitto_destroy(p->m);
	p->m = NULL;
}

static void pub_one(struct pub *p, int seq, size_t pad)
{
	char buf[512];
	int len = snprintf(buf, 32, "%d", seq);

	cr_assert_leq(pad, sizeof(buf) - 32);
	memset(buf + len, 'x', pad);
	cr_assert_eq(mosquitto_publish(p->m, NULL, TOPIC, len + (int)pad, buf, 1, false), 0);
}

static bool pub_all_acked(void *ud)
{
	struct pub *p = ud;

	mosquitto_loop(p->m, 10, 1);
	return atomic_load(&p->acked) >= p->goal_acked;
}

/*
 * Publish seqs [first, first + n) at QoS 1 on its own connection and wait until the broker
 * acknowledged every one: from then on the broker owns them.
 */
static void publish_range(const struct t_broker *b, int first, int n, size_t pad)
{
	struct pub p;

	pub_open(&p, b);
	for (int i = 0; i < n; i++) {
		pub_one(&p, first + i, pad);
		if (i % 16 == 0)
			mosquitto_loop(p.m, 0, 1);
	}
	p.goal_acked = n;
	cr_assert(t_wait_for(pub_all_acked, &p, 30000), "the broker took %d of %d messages",
		  atomic_load(&p.acked), n);
	pub_close(&p);
}

/* ---- TLS: a wrong host name or an unknown CA is refused, first and after a reconnect ---- */

enum server_cert { GOOD_CERT, WRONG_HOST, UNKNOWN_CA };

/* Broker options serving the good localhost certificate, or a bad one. */
static struct t_broker_opts tls_opts(enum server_cert bad)
{
	struct t_broker_opts o = { .extra_conf = BROKER_CONF, .cafile = C.ca.cert };

	if (bad == WRONG_HOST) {
		o.certfile = C.wrong.cert;
		o.keyfile = C.wrong.key;
	} else if (bad == UNKNOWN_CA) {
		o.cafile = C.other_ca.cert;
		o.certfile = C.other_server.cert;
		o.keyfile = C.other_server.key;
	} else {
		o.certfile = C.server.cert;
		o.keyfile = C.server.key;
	}
	return o;
}

static const char *tls_config(void)
{
	char extra[1024];

	snprintf(extra, sizeof(extra),
		 "subscriptions = ( { topic = \"t/#\"; qos = 1; } );\n"
		 "tls = { ca_file = \"%s\"; };",
		 C.ca.cert);
	return write_config(tls_url(), extra);
}

/*
 * The worker keeps failing the TLS handshake: at least three refusals (each a DISCONNECTED
 * naming TLS, a counted error and a RECONNECTING), and never a CONNECTED or READY.
 */
static void expect_tls_refused(struct rx *rx, uint64_t connects, uint64_t errors)
{
	rx_read(rx, until_tls_losses, 3, 20000);
	cr_expect_geq(rx->tls_losses, 3, "%d TLS refusals seen; see %s", rx->tls_losses,
		      W.log_path);
	cr_expect_geq(rx->ev[MM_EV_RECONNECTING], 3);
	cr_expect_eq(rx->ev[MM_EV_CONNECTED], 0, "CONNECTED through a bad certificate");
	cr_expect_eq(rx->ev[MM_EV_READY], 0, "READY through a bad certificate");
	cr_expect_eq(atomic_load(&W.stats->connects), connects);
	cr_expect_geq(atomic_load(&W.stats->errors), errors + 3, "errors %lu, were %lu",
		      (unsigned long)atomic_load(&W.stats->errors), (unsigned long)errors);
	cr_expect_eq(atomic_load(&W.stats->connected), 0);
	cr_expect_eq(atomic_load(&W.stats->last_err_code), -EPROTO, "last error %d",
		     (int)atomic_load(&W.stats->last_err_code));
	/*
	 * mosquitto logs the alert our client sends as "OpenSSL Error[0]: ..." when it reads it
	 * in its loop, or as "Client connection from ... failed: ... alert ..." when it comes
	 * during its first SSL_accept (the ClientHello was already waiting at accept).
	 */
	cr_expect(file_has(B.log_path, B.log_off, "OpenSSL Error") ||
			  file_has(B.log_path, B.log_off, " alert "),
		  "the broker saw no TLS handshake fail");
}

static void tls_refused_first(enum server_cert bad)
{
	struct t_broker_opts o;
	struct rx rx;

	cr_assert_eq(t_certs_make(&C), 0);
	o = tls_opts(bad);
	cr_assert_eq(t_broker_start(&B, &o), 0);
	spawn_worker(tls_config(), 1u << 20);
	rx_init(&rx, 1);
	expect_tls_refused(&rx, 0, 0);
	rx_free(&rx);
	end_clean();
}

static void tls_refused_after_reconnect(enum server_cert bad)
{
	struct t_broker_opts o;
	struct rx rx;
	uint64_t errors;

	cr_assert_eq(t_certs_make(&C), 0);
	o = tls_opts(GOOD_CERT);
	cr_assert_eq(t_broker_start(&B, &o), 0);
	spawn_worker(tls_config(), 1u << 20);
	rx_init(&rx, 1);
	wait_ready(&rx, 1);
	rx_free(&rx);
	cr_assert_eq(atomic_load(&W.stats->connects), 1);
	errors = atomic_load(&W.stats->errors);
	o = tls_opts(bad);
	cr_assert_eq(t_broker_restart_with(&B, &o), 0);
	rx_init(&rx, 1);
	expect_tls_refused(&rx, 1, errors);
	cr_expect_geq(rx.ev[MM_EV_DISCONNECTED], 4, "the first loss and three refusals");
	rx_free(&rx);
	end_clean();
}

Test(worker_faults, tls_wrong_host_name_is_refused_on_first_connect)
{
	tls_refused_first(WRONG_HOST);
}

Test(worker_faults, tls_unknown_ca_is_refused_on_first_connect)
{
	tls_refused_first(UNKNOWN_CA);
}

Test(worker_faults, tls_wrong_host_name_is_refused_after_reconnect)
{
	tls_refused_after_reconnect(WRONG_HOST);
}

Test(worker_faults, tls_unknown_ca_is_refused_after_reconnect)
{
	tls_refused_after_reconnect(UNKNOWN_CA);
}

/* ---- broker restarted mid-stream: a persistent QoS 1 session loses nothing ---- */

#define PERSISTENT_QOS1                               \
	"clean_session = false; persistent = true;\n" \
	"subscriptions = ( { topic = \"t/#\"; qos = 1; } );\n"

Test(worker_faults, broker_restart_mid_stream_loses_nothing_on_a_persistent_session)
{
	struct t_broker_opts o = { .extra_conf = BROKER_CONF, .persistence = true };
	const int half = 2000;
	struct rx rx;

	cr_assert_eq(t_broker_start(&B, &o), 0);
	/* A 64 KiB ring: the worker pauses, so the broker still holds most of the first half. */
	spawn_worker(write_config(tcp_url(), PERSISTENT_QOS1 "performance = { ring_size = 65536; "
							     "max_message_size = 2048; };"),
		     65536);
	rx_init(&rx, 2 * half);
	wait_ready(&rx, 1);
	publish_range(&B, 0, half, 100);
	rx_read(&rx, until_got, half / 4, 15000);
	cr_assert_geq(rx.got, half / 4);
	cr_assert_eq(t_broker_restart(&B), 0);
	/* The worker may still be reconnecting: the broker queues these for its session. */
	publish_range(&B, half, half, 100);
	rx_read(&rx, NULL, 0, 30000);
	expect_all_once_or_dup(&rx);
	/* A resumed session gets its queued messages before the SUBACK that makes it READY. */
	wait_ready(&rx, 2);
	cr_expect_geq(rx.ev[MM_EV_DISCONNECTED], 1);
	cr_expect_geq(atomic_load(&W.stats->connects), 2);
	cr_log_info("restart: %d duplicates, %lu flagged DUP, %d of them first copies", rx.dups,
		    (unsigned long)atomic_load(&W.stats->dup_flagged), rx.new_flagged);
	rx_free(&rx);
	end_clean();
}

/* ---- kill -9 of the worker mid-stream, restarted on the same rings ---- */

struct bg_pub {
	struct pub p;
	int n;
	atomic_int failed; /* publishes libmosquitto refused */
};

/* A thread: criterion asserts belong to the main thread, so failures are only counted. */
static void *bg_publish(void *ud)
{
	struct bg_pub *b = ud;
	char buf[32];

	for (int i = 0; i < b->n; i++) {
		int len = snprintf(buf, sizeof(buf), "%dxxxxxxxxxxxxxxxx", i);

		if (mosquitto_publish(b->p.m, NULL, TOPIC, len, buf, 1, false) != 0)
			atomic_fetch_add(&b->failed, 1);
	}
	return NULL;
}

static bool worker_attached(void *ud)
{
	pid_t pid = *(pid_t *)ud;

	return atomic_load(&W.stats->worker_pid) == (uint32_t)pid;
}

static bool msgs_in_reached(void *ud)
{
	return atomic_load(&W.stats->msgs_in) >= *(uint64_t *)ud;
}

static bool bg_all_acked(void *ud)
{
	struct bg_pub *b = ud;

	return atomic_load(&b->p.acked) >= b->n;
}

/* <n> kill points in the stream of <total> messages, rising, at random. */
static void kill_points(uint64_t *pts, int n, int total)
{
	uint64_t seed = t_now_ns() | 1;

	cr_log_info("kill points from seed %lu", (unsigned long)seed);
	for (int i = 0; i < n; i++)
		pts[i] = (uint64_t)total * (uint64_t)(i + 1) / (uint64_t)(n + 2) +
			 t_rand(&seed) % (uint64_t)(total / (n + 2));
}

Test(worker_faults, kill9_mid_stream_then_restart_loses_nothing_and_flags_duplicates)
{
	struct t_broker_opts o = { .extra_conf = BROKER_CONF };
	struct bg_pub bg = { .n = 10000 };
	uint64_t pts[5];
	pthread_t th;
	struct rx rx;

	cr_assert_eq(t_broker_start(&B, &o), 0);
	spawn_worker(write_config(tcp_url(), PERSISTENT_QOS1), 1u << 22);
	rx_init(&rx, bg.n);
	wait_ready(&rx, 1);
	pub_open(&bg.p, &B);
	cr_assert_eq(mosquitto_loop_start(bg.p.m), 0);
	cr_assert_eq(pthread_create(&th, NULL, bg_publish, &bg), 0);
	kill_points(pts, 5, bg.n);
	for (int i = 0; i < 5; i++) {
		cr_assert(t_wait_for(msgs_in_reached, &pts[i], 20000),
			  "kill %d: msgs_in %lu never reached %lu", i,
			  (unsigned long)atomic_load(&W.stats->msgs_in), (unsigned long)pts[i]);
		cr_assert_eq(t_worker_kill9(&W), 0);
		cr_assert_eq(t_worker_spawn(&W), 0);
		cr_assert(t_wait_for(worker_attached, &W.pid, 10000), "restart %d not attached", i);
	}
	pthread_join(th, NULL);
	cr_assert_eq(atomic_load(&bg.failed), 0);
	cr_assert(t_wait_for(bg_all_acked, &bg, 30000), "the broker took %d of %d",
		  atomic_load(&bg.p.acked), bg.n);
	rx_read(&rx, NULL, 0, 30000);
	expect_all_once_or_dup(&rx);
	cr_expect_eq(atomic_load(&W.stats->starts), 6);
	cr_log_info("kill -9: %d duplicates, %lu flagged DUP, %d of them first copies", rx.dups,
		    (unsigned long)atomic_load(&W.stats->dup_flagged), rx.new_flagged);
	mosquitto_loop_stop(bg.p.m, true);
	pub_close(&bg.p);
	rx_free(&rx);
	end_clean();
}

/* ---- resubscription: after every reconnect, before READY ---- */

static bool until_got_and_others(const struct rx *rx)
{
	return rx->got >= rx->want && rx->others >= rx->goal;
}

Test(worker_faults, every_reconnect_subscribes_again_before_ready)
{
	struct t_broker_opts o = { .extra_conf = BROKER_CONF };
	struct pub p;
	struct rx rx;

	cr_assert_eq(t_broker_start(&B, &o), 0);
	spawn_worker(write_config(tcp_url(), "clean_session = true;\n"
					     "subscriptions = ( { topic = \"t/#\"; qos = 1; } );"),
		     1u << 22);
	rx_init(&rx, 100);
	wait_ready(&rx, 1);
	cr_assert_eq(t_worker_cmd_sub(&W, 7, "c/#", 1, false), 0);
	for (int round = 1; round <= 2; round++) {
		/* No persistence, clean session: the broker forgets every subscription. */
		cr_assert_eq(t_broker_restart(&B), 0);
		wait_ready(&rx, round + 1);
		cr_expect(file_has(B.log_path, B.log_off, " t/#"), "t/# not subscribed again");
		cr_expect(file_has(B.log_path, B.log_off, " c/#"), "c/# not subscribed again");
		/* Published only after READY: arrives only if READY came after the SUBACKs. */
		publish_range(&B, 0, 100, 0);
		pub_open(&p, &B);
		cr_assert_eq(mosquitto_publish(p.m, NULL, "c/x", 1, "c", 1, false), 0);
		p.goal_acked = 1;
		cr_assert(t_wait_for(pub_all_acked, &p, 10000));
		pub_close(&p);
		memset(rx.seen, 0, (size_t)rx.want);
		rx.got = 0;
		rx.last = -1;
		rx_read(&rx, until_got_and_others, round, 10000);
		cr_expect_eq(rx.got, 100, "round %d: %d of 100 on t/#", round, rx.got);
		cr_expect_eq(rx.others, round, "round %d: the c/# message", round);
	}
	cr_expect_eq(rx.dups, 0);
	cr_expect_eq(rx.new_flagged, 0, "a clean session redelivers nothing, yet %d DUP flags",
		     rx.new_flagged);
	rx_free(&rx);
	end_clean();
}

/* ---- bad session options: exit 78 naming the option, before any connection ---- */

/*
 * Connections the broker logged after byte <from>: mosquitto logs one line per accepted TCP
 * connection, "New connection from ..." or, when the TLS accept fails at once, "Client
 * connection from ... failed".
 */
static int broker_conns(off_t from)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(B.log_path, "r");

	if (!f)
		return 0;
	if (fseeko(f, from, SEEK_SET) == 0)
		while (fgets(line, sizeof(line), f))
			n += strstr(line, "New connection from") ||
			     strstr(line, "Client connection from");
	fclose(f);
	return n;
}

struct conns_wait {
	off_t from;
	int n;
};

static bool broker_logged_conns(void *ud)
{
	struct conns_wait *c = ud;

	return broker_conns(c->from) >= c->n;
}

/* Where the broker's log ends once the connect() of t_broker's readiness probe is logged. */
static off_t broker_log_mark(void)
{
	struct conns_wait c = { .from = B.log_off, .n = 1 };
	struct stat st;

	cr_assert(t_wait_for(broker_logged_conns, &c, 5000), "the broker's probe is not logged");
	cr_assert_eq(stat(B.log_path, &st), 0);
	return st.st_size;
}

/*
 * No connection reached the broker after <mark>. Our own connect() goes behind any earlier
 * one in the listen queue, and mosquitto accepts in order: once ours is logged, an earlier
 * connection of the worker would be logged too.
 */
static void expect_no_connection_since(off_t mark)
{
	struct conns_wait c = { .from = mark, .n = 1 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)B.port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	cr_assert(t_wait_for(broker_logged_conns, &c, 5000), "our own connection is not logged");
	cr_expect_eq(broker_conns(mark), 1, "the worker connected to the broker");
	cr_expect(!file_has(B.log_path, mark, "New client connected"), "the worker sent CONNECT");
}

/*
 * <cfg> must be refused naming <option>, and nothing may reach the broker: either by the
 * validator mqttmuxd runs before any worker starts (the worker reads no config file), or, for
 * what only the worker can find (a key that does not match its certificate), by the worker
 * exiting EX_CONFIG at once.
 */
static void expect_refused(const char *cfg, const char *option)
{
	off_t mark = broker_log_mark();
	int rc = t_worker_init(&W, cfg, "s", 1u << 20);

	if (rc == -EINVAL) {
		cr_expect(W.diag && strstr(W.diag, option), "the problems do not name '%s': %s",
			  option, W.diag ? W.diag : "(none)");
		expect_no_connection_since(mark);
		return;
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(t_worker_spawn(&W), 0);
	cr_assert_eq(t_worker_wait_exit(&W, 10000), 0, "the worker did not exit; see %s",
		     W.log_path);
	cr_expect(WIFEXITED(W.wstatus) && WEXITSTATUS(W.wstatus) == EX_CONFIG,
		  "worker status 0x%x, want exit %d", W.wstatus, EX_CONFIG);
	cr_expect(file_has(W.log_path, 0, option), "the log %s does not name '%s'", W.log_path,
		  option);
	expect_no_connection_since(mark);
	cr_expect(!file_has(W.log_path, 0, "Sanitizer"), "sanitizer report in %s", W.log_path);
}

/* A TLS broker (a connection attempt of any kind shows in its log), certificates made. */
static void start_tls_broker(void)
{
	struct t_broker_opts o;

	cr_assert_eq(t_certs_make(&C), 0);
	o = tls_opts(GOOD_CERT);
	cr_assert_eq(t_broker_start(&B, &o), 0);
}

/* A TLS session block with <ca>, <cert> and <key> (NULL: left out). */
static char *tls_session(const char *ca, const char *cert, const char *key)
{
	static char extra[2048];
	int n = snprintf(extra, sizeof(extra), "tls = { ");

	if (ca)
		n += snprintf(extra + n, sizeof(extra) - (size_t)n, "ca_file = \"%s\"; ", ca);
	if (cert)
		n += snprintf(extra + n, sizeof(extra) - (size_t)n, "cert_file = \"%s\"; ", cert);
	if (key)
		n += snprintf(extra + n, sizeof(extra) - (size_t)n, "key_file = \"%s\"; ", key);
	snprintf(extra + n, sizeof(extra) - (size_t)n, "};");
	return extra;
}

/* A copy of <text> as <name> in the test dir with <mode>. */
static char *file_with(const char *name, const char *text, mode_t mode)
{
	char *path = t_write_file(Dir, name, text);

	cr_assert_not_null(path);
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

Test(worker_faults, unknown_url_scheme_is_refused_naming_brokers)
{
	char url[64];

	start_tls_broker();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", B.port);
	expect_refused(write_config(url, NULL), "brokers");
}

Test(worker_faults, missing_ca_file_is_refused_naming_ca_file)
{
	char *ca;

	start_tls_broker();
	cr_assert_geq(asprintf(&ca, "%s/no-such-ca.pem", Dir), 0);
	expect_refused(write_config(tls_url(), tls_session(ca, NULL, NULL)), "ca_file");
	free(ca);
}

Test(worker_faults, ca_file_without_certificates_is_refused_naming_ca_file)
{
	char *ca;

	start_tls_broker();
	ca = file_with("junk-ca.pem", "not a certificate\n", 0644);
	expect_refused(write_config(tls_url(), tls_session(ca, NULL, NULL)), "ca_file");
	free(ca);
}

Test(worker_faults, missing_key_file_is_refused_naming_key_file)
{
	char *key;

	start_tls_broker();
	cr_assert_geq(asprintf(&key, "%s/no-such-key.pem", Dir), 0);
	expect_refused(write_config(tls_url(), tls_session(C.ca.cert, C.client.cert, key)),
		       "key_file");
	free(key);
}

Test(worker_faults, unreadable_key_file_is_refused_naming_key_file)
{
	char *key;

	if (geteuid() == 0) {
		teardown();
		cr_skip_test("root reads a mode 000 file; the junk and mismatched key tests cover "
			     "unusable keys");
	}
	start_tls_broker();
	key = file_with("unreadable-key.pem", "", 0000);
	expect_refused(write_config(tls_url(), tls_session(C.ca.cert, C.client.cert, key)),
		       "key_file");
	free(key);
}

Test(worker_faults, key_file_that_is_a_directory_is_refused_naming_key_file)
{
	start_tls_broker();
	expect_refused(write_config(tls_url(), tls_session(C.ca.cert, C.client.cert, Dir)),
		       "key_file");
}

Test(worker_faults, key_file_without_a_key_is_refused_naming_key_file)
{
	char *key;

	start_tls_broker();
	key = file_with("junk-key.pem", "-----BEGIN PRIVATE KEY-----\njunk\n", 0600);
	expect_refused(write_config(tls_url(), tls_session(C.ca.cert, C.client.cert, key)),
		       "key_file");
	free(key);
}

Test(worker_faults, key_file_not_matching_the_certificate_is_refused_naming_key_file)
{
	start_tls_broker();
	expect_refused(
		write_config(tls_url(), tls_session(C.ca.cert, C.client.cert, C.other_server.key)),
		"key_file");
}

Test(worker_faults, empty_client_id_is_refused_naming_client_id)
{
	start_tls_broker();
	expect_refused(write_config_id(tcp_url(), "", NULL), "client_id");
}
