/* SPDX-License-Identifier: MIT */
/*
 * How the worker connects, against real brokers and our own hostile ones: a broker that drops
 * SYNs or accepts and never answers is left for the next URL within connect_timeout while the
 * worker's heartbeats go on; tls.server_name is what the certificate is checked against and
 * what SNI carries, on the first connect and on every reconnect; each URL's scheme decides TLS
 * in a list that mixes TLS and plain brokers. Run once per loop backend (MQTTMUX_LOOP).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <mosquitto.h>

#include "t_blackhole.h"
#include "t_broker.h"
#include "t_certs.h"
#include "t_helpers.h"
#include "t_worker.h"

#define BROKER_CONF "max_inflight_messages 0\nmax_queued_messages 0\n"

static struct t_broker B, B2;
static struct t_worker W;
static struct t_certs C;
static struct t_blackhole H;
static char *Dir;

static void setup(void)
{
	Dir = t_tmpdir("wrkc");
	cr_assert_not_null(Dir);
	H = (struct t_blackhole){ .lfd = -1, .fillers = { -1, -1 } };
}

static char *Cfg_path; /* the last write_config() */

static void teardown(void)
{
	t_worker_free(&W);
	t_broker_free(&B);
	t_broker_free(&B2);
	t_certs_free(&C);
	t_blackhole_close(&H);
	t_rmtree(Dir);
	free(Dir);
	Dir = NULL;
	free(Cfg_path);
	Cfg_path = NULL;
}

TestSuite(worker_connect, .init = setup, .fini = teardown, .timeout = 120);

/* A config with session "s" on <brokers> (the inside of the brokers array), <extra> inside. */
static const char *write_config(const char *brokers, const char *extra)
{
	char *text, *path;

	cr_assert_geq(asprintf(&text,
			       "sessions = ( { name = \"s\"; brokers = [ %s ];\n"
			       "  client_id = \"wrk-connect\"; keepalive = 5;\n"
			       "  %s } );\n",
			       brokers, extra),
		      0);
	path = t_write_file(Dir, "mqttmux.cfg", text);
	free(text);
	cr_assert_not_null(path);
	/* kept for the test's life (the worker reads it at every start), freed at the next call */
	free(Cfg_path);
	Cfg_path = path;
	return path;
}

static void spawn_worker(const char *cfg)
{
	cr_assert_eq(t_worker_init(&W, cfg, "s", 1u << 20), 0);
	cr_assert_eq(t_worker_spawn(&W), 0);
}

/* SIGTERM: the worker must exit 0, and its log must hold no sanitizer report. */
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

/* ---- the session's events, as the router would read them ---- */

struct evs {
	uint64_t n[_MM_EV_KIND_MAX];
	uint64_t first_connecting_ns, ready_ns;	      /* worker timestamps (REALTIME) */
	int timeouts;				      /* DISCONNECTED with -ETIMEDOUT */
	uint64_t beat_at_connecting, beat_at_timeout; /* stats.beat_ns then */
	int tls_losses;				      /* DISCONNECTED naming TLS */
	char connected_text[16];		      /* "tls" or "tcp" of the last CONNECTED */
	int want_ready, want_tls_losses;
};

static bool ev_rec(struct t_worker *t, const struct mm_shm_rec *rec, void *ud)
{
	struct evs *e = ud;
	struct mm_rec_event ev;

	if (rec->type == MM_REC_EVENT && mm_rec_event_unpack(rec->data, rec->len, &ev) == 0 &&
	    ev.kind < _MM_EV_KIND_MAX) {
		e->n[ev.kind]++;
		if (ev.kind == MM_EV_CONNECTING && !e->first_connecting_ns) {
			e->first_connecting_ns = ev.time_ns;
			e->beat_at_connecting = atomic_load(&t->stats->beat_ns);
		}
		if (ev.kind == MM_EV_READY)
			e->ready_ns = ev.time_ns;
		if (ev.kind == MM_EV_DISCONNECTED && ev.code == -ETIMEDOUT && !e->timeouts++)
			e->beat_at_timeout = atomic_load(&t->stats->beat_ns);
		if (ev.kind == MM_EV_DISCONNECTED && memmem(ev.text.p, ev.text.len, "TLS", 3))
			e->tls_losses++;
		if (ev.kind == MM_EV_CONNECTED)
			snprintf(e->connected_text, sizeof(e->connected_text), "%.*s",
				 (int)ev.text.len, (const char *)ev.text.p);
	}
	return e->n[MM_EV_READY] < (uint64_t)e->want_ready || e->tls_losses < e->want_tls_losses;
}

static void read_until_ready(struct evs *e, int n, int timeout_ms)
{
	e->want_ready = n;
	e->want_tls_losses = 0;
	cr_assert_geq(t_worker_read(&W, ev_rec, e, timeout_ms), 0, "in-ring corrupt");
	cr_assert_geq(e->n[MM_EV_READY], (uint64_t)n, "READY #%d missing; see %s", n, W.log_path);
}

static void read_until_tls_losses(struct evs *e, int n, int timeout_ms)
{
	e->want_ready = 0;
	e->want_tls_losses = n;
	cr_assert_geq(t_worker_read(&W, ev_rec, e, timeout_ms), 0, "in-ring corrupt");
}

/* ---- a black-holed first broker is left within connect_timeout ---- */

#define CONNECT_TIMEOUT_S 2

static void black_hole_first(enum t_blackhole_kind kind)
{
	struct t_broker_opts o = { .extra_conf = BROKER_CONF };
	char brokers[128], extra[128];
	struct evs e = { 0 };
	double took;

	cr_assert_eq(t_blackhole_open(&H, kind), 0, "cannot make the black hole");
	cr_assert_eq(t_broker_start(&B, &o), 0);
	snprintf(brokers, sizeof(brokers), "\"tcp://127.0.0.1:%d\", \"tcp://127.0.0.1:%d\"", H.port,
		 B.port);
	/* the default reconnect timing (1 s +- 25% before the next URL) on purpose */
	snprintf(extra, sizeof(extra), "connect_timeout = %d;", CONNECT_TIMEOUT_S);
	spawn_worker(write_config(brokers, extra));
	read_until_ready(&e, 1, 30000);
	took = (double)(e.ready_ns - e.first_connecting_ns) / 1e9;
	cr_expect_leq(took, CONNECT_TIMEOUT_S + 2.0, "ready on the second URL after %.2f s", took);
	cr_expect_geq(took, CONNECT_TIMEOUT_S - 0.1, "left the first URL after only %.2f s", took);
	cr_expect_eq(e.timeouts, 1, "one attempt timed out");
	cr_expect_eq(atomic_load(&W.stats->broker), 1, "ready on broker #%u",
		     atomic_load(&W.stats->broker));
	cr_expect_eq(atomic_load(&W.stats->last_err_code), -ETIMEDOUT);
	/* keepalive 5: the loop ticks (and beats) every 1.25 s, also while the connect hangs */
	cr_expect_gt(e.beat_at_timeout, e.beat_at_connecting,
		     "no heartbeat while the connect hung");
	end_clean();
}

Test(worker_connect, broker_that_accepts_and_never_answers_is_left_within_connect_timeout)
{
	black_hole_first(T_BLACKHOLE_SILENT);
}

Test(worker_connect, broker_that_drops_syns_is_left_within_connect_timeout)
{
	black_hole_first(T_BLACKHOLE_SYN_DROP);
}

/* ---- tls.server_name: verification, on the first connect and every reconnect ---- */

/* A TLS broker serving the certificate for wrong.example (its only name) on 127.0.0.1. */
static void start_wrong_example_broker(void)
{
	struct t_broker_opts o = { .extra_conf = BROKER_CONF };

	cr_assert_eq(t_certs_make(&C), 0);
	o.cafile = C.ca.cert;
	o.certfile = C.wrong.cert;
	o.keyfile = C.wrong.key;
	cr_assert_eq(t_broker_start(&B, &o), 0);
}

static const char *tls_config(const char *server_name)
{
	char brokers[64], extra[512];

	snprintf(brokers, sizeof(brokers), "\"ssl://127.0.0.1:%d\"", B.port);
	snprintf(extra, sizeof(extra),
		 "connect_timeout = 5; reconnect = { initial = 0.1; max = 0.5; };\n"
		 "tls = { ca_file = \"%s\"; %s%s%s };",
		 C.ca.cert, server_name ? "server_name = \"" : "", server_name ? server_name : "",
		 server_name ? "\";" : "");
	return write_config(brokers, extra);
}

Test(worker_connect, server_name_is_what_the_certificate_is_checked_against_at_every_connect)
{
	struct evs e = { 0 };

	start_wrong_example_broker();
	spawn_worker(tls_config("wrong.example"));
	read_until_ready(&e, 1, 20000);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(t_broker_restart(&B), 0);
		read_until_ready(&e, i + 2, 30000);
	}
	cr_expect_eq(atomic_load(&W.stats->connects), 6);
	cr_expect_eq(e.tls_losses, 0, "%d TLS refusals", e.tls_losses);
	cr_expect_str_eq(e.connected_text, "tls");
	end_clean();
}

/* A name the certificate does not carry: at least 6 attempts (the first and 5 reconnects). */
static void never_connects(const char *server_name)
{
	struct evs e = { 0 };

	start_wrong_example_broker();
	spawn_worker(tls_config(server_name));
	read_until_tls_losses(&e, 6, 30000);
	cr_expect_geq(e.tls_losses, 6, "%d TLS refusals; see %s", e.tls_losses, W.log_path);
	cr_expect_eq(e.n[MM_EV_CONNECTED], 0, "CONNECTED with a wrong server_name");
	cr_expect_eq(atomic_load(&W.stats->connects), 0);
	cr_expect_eq(atomic_load(&W.stats->last_err_code), -EPROTO);
	end_clean();
}

Test(worker_connect, wrong_server_name_never_connects)
{
	never_connects("localhost");
}

Test(worker_connect, url_host_is_checked_when_server_name_is_not_set)
{
	never_connects(NULL); /* 127.0.0.1 is not in the wrong.example certificate */
}

/* ---- SNI carries tls.server_name ---- */

/* openssl s_server on a free loopback port; its stdin is a pipe we hold open (EOF stops it). */
struct sniff {
	pid_t pid;
	int in; /* write end of its stdin */
	int port;
	char *log;
};

static int sniff_port(const char *log)
{
	char line[256];
	int port = 0;
	FILE *f = fopen(log, "r");

	while (f && !port && fgets(line, sizeof(line), f))
		if (!strncmp(line, "ACCEPT 127.0.0.1:", 17))
			port = atoi(line + 17);
	if (f)
		fclose(f);
	return port;
}

static bool sniff_listening(void *ud)
{
	struct sniff *s = ud;

	s->port = sniff_port(s->log);
	return s->port > 0;
}

static void sniff_start(struct sniff *s)
{
	/*
	 * With -servername (which needs a second certificate) it logs the SNI of every
	 * ClientHello: "Hostname in TLS extension: ...".
	 */
	const char *argv[] = { "openssl",     "s_server",      "-accept", "127.0.0.1:0",
			       "-cert",	      C.wrong.cert,    "-key",	  C.wrong.key,
			       "-servername", "wrong.example", "-cert2",  C.wrong.cert,
			       "-key2",	      C.wrong.key,     NULL };
	posix_spawn_file_actions_t fa;
	extern char **environ;
	int p[2];

	cr_assert_eq(asprintf(&s->log, "%s/s_server.log", Dir), (int)strlen(Dir) + 13);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, s->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	cr_assert_eq(posix_spawnp(&s->pid, "openssl", &fa, NULL, (char **)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[0]);
	s->in = p[1];
	cr_assert(t_wait_for(sniff_listening, s, 10000), "s_server did not start; see %s", s->log);
}

static void sniff_stop(struct sniff *s)
{
	close(s->in);
	(void)kill(s->pid, SIGTERM);
	(void)waitpid(s->pid, NULL, 0);
	free(s->log);
}

struct seen {
	const char *log, *needle;
};

static bool log_has(void *ud)
{
	const struct seen *w = ud;
	char line[512];
	bool found = false;
	FILE *f = fopen(w->log, "r");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, w->needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

Test(worker_connect, sni_carries_server_name)
{
	struct sniff s = { 0 };
	struct seen w;
	char brokers[64], extra[512];

	cr_assert_eq(t_certs_make(&C), 0);
	sniff_start(&s);
	snprintf(brokers, sizeof(brokers), "\"ssl://127.0.0.1:%d\"", s.port);
	snprintf(
		extra, sizeof(extra),
		"connect_timeout = 1; tls = { ca_file = \"%s\"; server_name = \"wrong.example\"; };",
		C.ca.cert);
	spawn_worker(write_config(brokers, extra));
	w = (struct seen){ .log = s.log, .needle = "Hostname in TLS extension: \"wrong.example\"" };
	cr_expect(t_wait_for(log_has, &w, 20000), "no SNI wrong.example; see %s", s.log);
	end_clean();
	sniff_stop(&s);
}

/* ---- each URL's scheme decides TLS ---- */

Test(worker_connect, each_url_scheme_decides_tls_in_a_mixed_list)
{
	struct t_broker_opts tls = { .extra_conf = BROKER_CONF }, plain = tls;
	char brokers[128], extra[512];
	struct evs e = { 0 };

	cr_assert_eq(t_certs_make(&C), 0);
	tls.cafile = C.ca.cert;
	tls.certfile = C.server.cert;
	tls.keyfile = C.server.key;
	cr_assert_eq(t_broker_start(&B, &tls), 0);
	cr_assert_eq(t_broker_start(&B2, &plain), 0);
	snprintf(brokers, sizeof(brokers), "\"ssl://127.0.0.1:%d\", \"tcp://127.0.0.1:%d\"", B.port,
		 B2.port);
	snprintf(extra, sizeof(extra),
		 "connect_timeout = 5; reconnect = { initial = 0.1; max = 0.5; };\n"
		 "tls = { ca_file = \"%s\"; };",
		 C.ca.cert);
	spawn_worker(write_config(brokers, extra));
	read_until_ready(&e, 1, 20000);
	cr_expect_str_eq(e.connected_text, "tls");
	cr_expect_eq(atomic_load(&W.stats->broker), 0);
	/* TLS -> plain: the client object drops its TLS context */
	cr_assert_eq(t_broker_stop(&B), 0);
	read_until_ready(&e, 2, 30000);
	cr_expect_str_eq(e.connected_text, "tcp");
	cr_expect_eq(atomic_load(&W.stats->broker), 1);
	/* plain -> TLS again */
	cr_assert_eq(t_broker_stop(&B2), 0);
	cr_assert_eq(t_broker_restart(&B), 0);
	read_until_ready(&e, 3, 30000);
	cr_expect_str_eq(e.connected_text, "tls");
	cr_expect_eq(atomic_load(&W.stats->broker), 0);
	cr_expect_eq(e.tls_losses, 0, "%d TLS failures; see %s", e.tls_losses, W.log_path);
	end_clean();
}
