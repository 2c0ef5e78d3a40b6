/* SPDX-License-Identifier: MIT */
/*
 * The two subjects the firehose feeds. (a) The real mqttmux-worker, spawned the way the
 * supervisor will spawn it (rings, doorbells and stats block at the fixed descriptors,
 * --inherit-fds), with this process as the router: it drains the in-ring, counts MSG records,
 * releases in batches and sleeps on the doorbell when the ring is empty. (b) A plain
 * libmosquitto subscriber in a forked child, driven by mosquitto_loop(), counting in
 * on_message. Both subscribe to "#" and stop after cfg->count messages or cfg->secs seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mosquitto.h>

#include "b_worker.h"
#include "fdmap.h"
#include "handoff.h"
#include "records.h"
#include "ring.h"
#include "stats.h"

#define STOP_MS 10000 /* a subject told to stop must be gone by then */

static const char *const backend_names[] = { "auto", "uring", "epoll" };

/* One run of subject (a). */
struct wk {
	const struct b_cfg *cfg;
	unsigned backend;
	int fds[_MM_FD_WRK_END]; /* indexed by the descriptor number the worker expects */
	int chan;		 /* our end of the channel */
	struct mm_shm_ring in;
	struct mm_stats_block *stats;
	char cfg_path[256], log_path[256];
	int blob; /* the session as mqttmuxd hands it over (shm/handoff.h), while spawning */
	pid_t pid;
	struct b_sysc sc;
};

/* The worker binary: $MQTTMUX_WORKER (to compare builds), else the one built with us. */
const char *b_worker_binary(void)
{
	const char *p = getenv("MQTTMUX_WORKER");

	return p && *p ? p : MQTTMUX_WORKER_PATH;
}

/* Count the syscalls of <pid> (0: us) if this run counts them; else leave <s> counting nothing. */
static void sysc_start(const struct b_cfg *cfg, struct b_sysc *s, pid_t pid)
{
	if (!cfg->syscalls || b_sysc_open(s, pid) < 0)
		b_sysc_init(s);
}

/* When a receiver stops: after count messages, or secs after its first message. */
static bool is_done(const struct b_cfg *cfg, uint64_t n, uint64_t t0, uint64_t now)
{
	if (cfg->count)
		return n >= cfg->count;
	return n > 0 && now - t0 >= cfg->secs * 1000000000ull;
}

static int write_config(struct wk *k, uint16_t port)
{
	uint64_t max_msg = k->cfg->ring >= (1u << 20) ? 262144 : k->cfg->ring / 8;
	FILE *f;

	snprintf(k->cfg_path, sizeof(k->cfg_path), "%s/worker.cfg", k->cfg->tmpdir);
	snprintf(k->log_path, sizeof(k->log_path), "%s/worker-%s.log", k->cfg->tmpdir,
		 backend_names[k->backend]);
	f = fopen(k->cfg_path, "we");
	if (!f)
		return -errno;
	fprintf(f,
		"sessions = ( { name = \"bench\"; brokers = [ \"tcp://127.0.0.1:%u\" ];\n"
		"  client_id = \"bench-worker\"; protocol = \"3.1.1\"; keepalive = 60;\n"
		"  subscriptions = ( { topic = \"#\"; qos = %d; } );\n"
		"  performance = { ring_size = %llu; max_message_size = %llu; }; } );\n",
		port, k->cfg->qos, (unsigned long long)k->cfg->ring, (unsigned long long)max_msg);
	return fclose(f) == 0 ? 0 : -EIO;
}

static int make_fds(struct wk *k)
{
	int sp[2], rc;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
		return -errno;
	k->chan = sp[0];
	k->fds[MM_FD_CHAN] = sp[1];
	rc = mm_shm_ring_create("in", k->cfg->ring, 1, &k->fds[MM_FD_WRK_IN_RING]);
	if (rc == 0)
		rc = mm_shm_ring_create("cmd", 1u << 16, 1, &k->fds[MM_FD_WRK_CMD_RING]);
	if (rc == 0)
		rc = mm_shm_stats_create("stats", &k->fds[MM_FD_WRK_STATS]);
	for (int i = MM_FD_WRK_IN_DATA; rc == 0 && i < _MM_FD_WRK_END; i++)
		if (i != MM_FD_WRK_CMD_RING && i != MM_FD_WRK_STATS)
			rc = (k->fds[i] = mm_shm_ring_doorbell_open()) < 0 ? k->fds[i] : 0;
	if (rc == 0)
		rc = mm_shm_ring_attach(&k->in, k->fds[MM_FD_WRK_IN_RING], MM_SHM_RING_CONSUMER,
					k->fds[MM_FD_WRK_IN_DATA], k->fds[MM_FD_WRK_IN_SPACE], NULL,
					0);
	if (rc == 0)
		rc = mm_shm_stats_attach(k->fds[MM_FD_WRK_STATS], &k->stats);
	return rc;
}

#define NSRC (MM_FD_WRK_SESSION + 1 - MM_FD_WRK_IN_RING) /* rings, stats, session */

/* In the child: every descriptor to its fixed number (as mqttmuxd does), stderr to the log. */
static __attribute__((noreturn)) void wk_child(const struct wk *k)
{
	int all[NSRC + 1], tmp[NSRC + 1],
		log = open(k->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (log >= 0)
		(void)dup2(log, 2);
	if (k->cfg->pin)
		(void)b_pin(1);
	all[0] = k->fds[MM_FD_CHAN];
	memcpy(&all[1], &k->fds[MM_FD_WRK_IN_RING], (NSRC - 1) * sizeof(int));
	all[NSRC] = k->blob;
	if (mm_fdmap_place(all, NSRC + 1, tmp) == -1)
		_exit(127);
	execl(b_worker_binary(), "mqttmux-worker", "--session", "bench", "--inherit-fds", "--loop",
	      backend_names[k->backend], (char *)NULL);
	_exit(127);
}

/* The session "bench" of the config just written, validated and packed as mqttmuxd does. */
static int wk_blob(struct wk *k)
{
	struct mm_cfg *c = NULL;
	const struct mm_cfg_session *sess;
	int rc = mm_cfg_load(k->cfg_path, &c, NULL);

	sess = rc == 0 ? mm_cfg_session_find(c, "bench") : NULL;
	k->blob = sess ? mm_handoff_session_open(sess) : rc < 0 ? rc : -ENOENT;
	mm_cfg_free(c);
	return k->blob < 0 ? k->blob : 0;
}

static int wk_spawn(struct wk *k)
{
	int go = -1, rc = wk_blob(k);

	if (rc < 0)
		return rc;
	k->pid = b_fork_held(&go);
	if (k->pid < 0) {
		close(k->blob);
		return k->pid;
	}
	if (k->pid == 0)
		wk_child(k);
	close(k->blob);
	k->blob = -1;
	close(k->fds[MM_FD_CHAN]);
	k->fds[MM_FD_CHAN] = -1;
	/* The child waits for this: all of its life is counted. */
	sysc_start(k->cfg, &k->sc, k->pid);
	b_release(&go);
	return 0;
}

/* True when the worker exited (left as a zombie, so that wait4 still gets its rusage). */
static bool wk_is_gone(const struct wk *k)
{
	siginfo_t si = { 0 };

	return waitid(P_PID, (id_t)k->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid;
}

/* Take one record: 1 for a MSG, 0 for anything else, -EBADMSG for a malformed MSG. */
static int take(struct wk *k, const struct mm_shm_rec *r)
{
	struct mm_rec_msg m;

	if (r->type != MM_REC_MSG)
		return 0;
	if (mm_rec_msg_unpack(r->data, r->len, &m) < 0 || m.payload.len != k->cfg->payload)
		return -EBADMSG;
	return 1;
}

/* Consumer bookkeeping over its measured window (first message to last). */
struct cons {
	uint64_t n, t0, t1;
	unsigned popped;
	struct rusage ru0, ru1;
	struct b_sysc self;
	struct b_sc_counts sc0, sc1;
};

static void cons_mark(struct cons *c, uint64_t *t, struct rusage *ru, struct b_sc_counts *sc)
{
	*t = mm_time_mono_ns();
	(void)getrusage(RUSAGE_SELF, ru);
	b_sysc_read(&c->self, sc);
}

/* Drain what the ring holds now. Returns 1 when the run is complete, 0 when empty, or < 0. */
static int cons_drain(struct wk *k, struct cons *c)
{
	const struct b_cfg *cfg = k->cfg;
	struct mm_shm_rec r;
	int rc;

	while ((rc = mm_shm_ring_peek(&k->in, &r)) == 1) {
		rc = take(k, &r);
		if (rc < 0)
			return rc;
		mm_shm_ring_pop(&k->in);
		if (++c->popped == cfg->batch) {
			(void)mm_shm_ring_release(&k->in);
			c->popped = 0;
		}
		if (rc == 0)
			continue;
		if (c->n++ == 0)
			cons_mark(c, &c->t0, &c->ru0, &c->sc0);
		if (cfg->count ? c->n == cfg->count
			       : (c->n & 1023) == 0 && is_done(cfg, c->n, c->t0, mm_time_mono_ns()))
			return 1;
	}
	return rc;
}

/* The router's part: consume until the run is complete. Returns 0 or -errno. */
static int wk_consume(struct wk *k, struct cons *c)
{
	uint64_t deadline = mm_time_mono_ns() + B_RUN_TIMEOUT_S * 1000000000ull;
	int rc;

	for (;;) {
		rc = cons_drain(k, c);
		if (rc != 0)
			break;
		c->popped = 0; /* wait_data releases before it sleeps */
		if (is_done(k->cfg, c->n, c->t0, mm_time_mono_ns()))
			break;
		rc = mm_shm_ring_wait_data(&k->in, 100);
		if (rc < 0)
			break;
		if (rc == 0 && mm_time_mono_ns() > deadline)
			rc = -ETIMEDOUT;
		else if (rc == 0 && wk_is_gone(k))
			rc = -ECHILD;
		if (rc < 0)
			break;
	}
	cons_mark(c, &c->t1, &c->ru1, &c->sc1);
	(void)mm_shm_ring_release(&k->in);
	return rc < 0 ? rc : 0;
}

/* While the worker shuts down: keep its ring from filling up, as a router would. */
static void drain_all(void *arg)
{
	struct wk *k = arg;
	struct mm_shm_rec r;

	while (mm_shm_ring_peek(&k->in, &r) == 1)
		mm_shm_ring_pop(&k->in);
	(void)mm_shm_ring_release(&k->in);
}

/* SIGTERM, then wait (SIGKILL after STOP_MS). The worker must exit 0. */
static int wk_stop(struct wk *k, struct b_result *res)
{
	struct b_idle idle = { drain_all, k };
	int status = 0, rc;

	if (k->pid <= 0)
		return 0;
	(void)kill(k->pid, SIGTERM);
	rc = b_reap(k->pid, STOP_MS, &idle, &status, &res->subj_ru);
	k->pid = -1;
	b_sysc_read(&k->sc, &res->subj_sc);
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = -EIO;
	if (rc < 0)
		fprintf(stderr,
			"bench-worker: the worker did not stop cleanly (status 0x%x); see %s\n",
			status, k->log_path);
	return rc;
}

static void wk_init(struct wk *k, const struct b_cfg *cfg, unsigned backend)
{
	memset(k, 0, sizeof(*k));
	k->cfg = cfg;
	k->backend = backend;
	k->chan = -1;
	k->pid = -1;
	for (int i = 0; i < _MM_FD_WRK_END; i++)
		k->fds[i] = -1;
	b_sysc_init(&k->sc);
}

static void wk_done(struct wk *k)
{
	mm_shm_ring_detach(&k->in);
	mm_shm_stats_detach(k->stats);
	for (int i = 0; i < _MM_FD_WRK_END; i++)
		if (k->fds[i] >= 0)
			close(k->fds[i]);
	if (k->chan >= 0)
		close(k->chan);
	b_sysc_close(&k->sc);
}

static void wk_results(struct wk *k, struct cons *c, struct b_result *ret)
{
	ret->msgs = atomic_load_explicit(&k->stats->msgs_in, memory_order_relaxed);
	ret->ring_full_waits =
		atomic_load_explicit(&k->stats->ring_full_waits, memory_order_relaxed);
	ret->backend = atomic_load_explicit(&k->stats->backend, memory_order_relaxed);
	ret->cons_msgs = c->n;
	ret->secs = c->n > 1 ? (double)(c->t1 - c->t0) / 1e9 : 0;
	ret->cons_cpu_us = b_ru_us(&c->ru1) - b_ru_us(&c->ru0);
	ret->cons_sc = c->sc1;
	b_sc_sub(&ret->cons_sc, &c->sc0);
}

/*
 * Subject (a): the firehose into a real mqttmux-worker with <backend> (enum mm_wrk_backend),
 * this process draining its in-ring. Fills *ret. Returns 0 or -errno.
 */
int b_run_worker(const struct b_cfg *cfg, unsigned backend, struct b_result *ret)
{
	struct cons c = { 0 };
	struct b_fh fh;
	struct wk k;
	int rc, rc2;

	memset(ret, 0, sizeof(*ret));
	wk_init(&k, cfg, backend);
	b_sysc_init(&c.self);
	rc = b_fh_open(&fh);
	if (rc == 0)
		rc = b_fh_spawn(&fh, cfg); /* first: it must not hold copies of the worker's fds */
	if (rc == 0)
		rc = write_config(&k, fh.port);
	if (rc == 0)
		rc = make_fds(&k);
	if (rc == 0)
		rc = wk_spawn(&k);
	if (rc == 0) {
		sysc_start(cfg, &c.self, 0); /* after the forks: only we are counted */
		rc = wk_consume(&k, &c);
		wk_results(&k, &c, ret);
	}
	rc2 = wk_stop(&k, ret);
	rc = rc < 0 ? rc : rc2;
	rc2 = b_fh_reap(&fh, rc < 0 ? 0 : STOP_MS, &ret->src_ru); /* failed: kill it */
	rc = rc < 0 ? rc : rc2;
	ret->src_writes = fh.sh ? fh.sh->writes : 0;
	b_fh_close(&fh);
	b_sysc_close(&c.self);
	wk_done(&k);
	return rc;
}

/* Subject (b): what the plain subscriber child reports, in a shared page. */
struct pl_shared {
	uint64_t n, t0, t1, bad;
	int error;
};

struct pl {
	const struct b_cfg *cfg;
	struct pl_shared *sh;
	bool done;
};

static void pl_on_connect(struct mosquitto *m, void *ud, int rc)
{
	struct pl *p = ud;

	if (rc != 0 || mosquitto_subscribe(m, NULL, "#", p->cfg->qos) != MOSQ_ERR_SUCCESS) {
		p->sh->error = -ECONNREFUSED;
		p->done = true;
	}
}

static void pl_on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	struct pl *p = ud;
	uint64_t n = ++p->sh->n;

	if (msg->payloadlen != (int)p->cfg->payload)
		p->sh->bad++;
	if (n == 1)
		p->sh->t0 = mm_time_mono_ns();
	if (p->cfg->count ? n == p->cfg->count
			  : (n & 1023) == 0 && is_done(p->cfg, n, p->sh->t0, mm_time_mono_ns())) {
		p->sh->t1 = mm_time_mono_ns();
		p->done = true;
		(void)mosquitto_disconnect(m);
	}
}

static int pl_loop(struct pl *p, struct mosquitto *m)
{
	uint64_t deadline = mm_time_mono_ns() + B_RUN_TIMEOUT_S * 1000000000ull, now;
	int rc;

	while (!p->done) {
		rc = mosquitto_loop(m, 1000, 1);
		if (rc != MOSQ_ERR_SUCCESS && !p->done)
			return rc == MOSQ_ERR_ERRNO ? -errno : -ECONNRESET;
		now = mm_time_mono_ns();
		if (!p->done && !p->cfg->count && is_done(p->cfg, p->sh->n, p->sh->t0, now)) {
			p->sh->t1 = now;
			p->done = true;
		}
		if (!p->done && now > deadline)
			return -ETIMEDOUT;
	}
	return 0;
}

static __attribute__((noreturn)) void pl_child(const struct b_cfg *cfg, uint16_t port,
					       struct pl_shared *sh)
{
	struct pl p = { .cfg = cfg, .sh = sh };
	struct mosquitto *m;
	int rc = -ENOMEM;

	alarm(B_RUN_TIMEOUT_S + 30);
	if (cfg->pin)
		(void)b_pin(1);
	mosquitto_lib_init();
	m = mosquitto_new("bench-plain", true, &p);
	if (m) {
		/* As the worker does: PUBACKs must not wait for Nagle. */
		(void)mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
		mosquitto_connect_callback_set(m, pl_on_connect);
		mosquitto_message_callback_set(m, pl_on_message);
		rc = mosquitto_connect(m, "127.0.0.1", port, 60) == MOSQ_ERR_SUCCESS
			     ? pl_loop(&p, m)
			     : -ECONNREFUSED;
		mosquitto_destroy(m);
	}
	mosquitto_lib_cleanup();
	if (!sh->error)
		sh->error = rc;
	_exit(sh->error || sh->bad ? 1 : 0);
}

static int pl_wait(pid_t pid, struct b_sysc *sc, struct b_result *ret)
{
	int status = 0, rc;

	rc = b_reap(pid, (B_RUN_TIMEOUT_S + 10) * 1000, NULL, &status, &ret->subj_ru);
	b_sysc_read(sc, &ret->subj_sc);
	b_sysc_close(sc);
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = -EIO;
	return rc;
}

/* Subject (b): the firehose into a plain libmosquitto subscriber. Fills *ret. 0 or -errno. */
int b_run_plain(const struct b_cfg *cfg, struct b_result *ret)
{
	struct pl_shared *sh = b_shared_new(sizeof(*sh));
	struct b_sysc sc;
	struct b_fh fh;
	pid_t pid = -1;
	int rc, rc2, go = -1;

	memset(ret, 0, sizeof(*ret));
	if (!sh)
		return -ENOMEM;
	rc = b_fh_open(&fh);
	if (rc == 0)
		rc = b_fh_spawn(&fh, cfg);
	if (rc == 0 && (pid = b_fork_held(&go)) < 0)
		rc = pid;
	if (rc == 0 && pid == 0)
		pl_child(cfg, fh.port, sh);
	if (rc == 0) {
		sysc_start(cfg, &sc, pid); /* the child waits for this */
		b_release(&go);
		rc = pl_wait(pid, &sc, ret);
	}
	rc2 = b_fh_reap(&fh, rc < 0 ? 0 : STOP_MS, &ret->src_ru); /* failed: kill it */
	rc = rc < 0 ? rc : rc2 < 0 ? rc2 : sh->error;
	ret->msgs = sh->n;
	ret->secs = sh->n > 1 ? (double)(sh->t1 - sh->t0) / 1e9 : 0;
	ret->src_writes = fh.sh ? fh.sh->writes : 0;
	b_fh_close(&fh);
	b_shared_free(sh, sizeof(*sh));
	return rc;
}
