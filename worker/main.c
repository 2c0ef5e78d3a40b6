/* SPDX-License-Identifier: MIT */
/*
 * mqttmux-worker: one MQTT session in one process, or a group of them (workers.group_size).
 *
 *   mqttmux-worker --session NAME [--subs-file PATH] [--ids-file PATH] [--session NAME ...]
 *                  --inherit-fds
 *                  [--loop auto|uring|epoll]
 *   mqttmux-worker --config FILE --session NAME [--loop ...]          (standalone, debugging)
 *
 * With --inherit-fds (from the supervisor, or a test acting as one) the rings, doorbells and
 * stats block of each session arrive at the fixed descriptors of shm/fdmap.h
 * (MM_FD_WRK_SESS(i, k) for the i-th --session), each followed by the session itself, as the
 * supervisor validated it, secrets included, in a sealed SESSION handoff blob at
 * MM_FD_WRK_SESS(i, MM_FD_WRK_SESSION) (shm/handoff.h), and the daemon's connect pacer after
 * the last session, if open. A supervised worker reads no config file, so a restart runs on
 * what was validated whatever the file on disk says. Without --inherit-fds the worker runs one
 * session standalone for debugging: it reads the session from FILE, creates its own rings and
 * prints every record it writes to stdout, one line each. --subs-file keeps the filters of SUB
 * commands of the session named before it in PATH across restarts (wrk_subs_state.c);
 * --ids-file keeps its unacked packet ids there across daemon restarts (wrk_ids.c). Exit
 * codes: 0 stopped, 1 runtime failure, 64 usage (also: no usable handoff blob), 78 config
 * (standalone).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <unistd.h>

#include "handoff.h"
#include "log.h"
#include "pace.h"
#include "sandbox.h"
#include "usage.h"
#include "wrk.h"
#include "wrk_subs_state.h"

struct args {
	const char *config;
	const char **session;	/* n names */
	const char **subs_file; /* per session; NULL: SUB commands are not kept across restarts */
	const char **ids_file;	/* per session; NULL: the unacked ids live in the stats block */
	uint32_t n;
	bool inherit;
	bool no_seccomp; /* --no-seccomp: the config's seccomp = false (debugging) */
	enum mm_wrk_backend backend;
	enum mm_log_level level;
};

static const char Usage[] =
	"usage: mqttmux-worker --session NAME [--subs-file PATH] [--ids-file PATH]\n"
	"                      [--session NAME [--subs-file PATH] [--ids-file PATH] ...]\n"
	"                      --inherit-fds [--loop auto|uring|epoll] [--state-dir DIR]\n"
	"                      [--no-seccomp] [--verbose]\n"
	"       mqttmux-worker --config FILE --session NAME [--loop ...] [--verbose]\n"
	"       mqttmux-worker --help | --version\n"
	"The MQTT sessions of one worker process of mqttmuxd, which starts it; see mqttmuxd(8).\n";

static int usage(void)
{
	fputs(Usage, stderr);
	return EX_USAGE;
}

static int parse_loop(const char *s, enum mm_wrk_backend *ret)
{
	static const char *const names[] = { "auto", "uring", "epoll" };

	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i])) {
			*ret = (enum mm_wrk_backend)i;
			return 0;
		}
	return -EINVAL;
}

/* One more option; <argc> bounds the number of sessions (a->session has room for it). */
static int parse_opt(int c, struct args *a)
{
	if (c == 'c')
		a->config = optarg;
	else if (c == 's' && a->n < MM_WRK_MAX_SESSIONS)
		a->session[a->n++] = optarg;
	else if (c == 'i')
		a->inherit = true;
	else if (c == 'v')
		a->level = MM_LOG_DEBUG;
	else if (c == 'd')
		mm_wrk_guard_set_state_dir(optarg[0] ? optarg : NULL);
	else if (c == 'n')
		a->no_seccomp = true;
	else if (c == 'f' && a->n)
		a->subs_file[a->n - 1] = optarg[0] ? optarg : NULL;
	else if (c == 'I' && a->n)
		a->ids_file[a->n - 1] = optarg[0] ? optarg : NULL;
	else if (c != 'l' || parse_loop(optarg, &a->backend) < 0)
		return -EINVAL;
	return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "session", required_argument, NULL, 's' },
		{ "inherit-fds", no_argument, NULL, 'i' },
		{ "loop", required_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "subs-file", required_argument, NULL, 'f' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "ids-file", required_argument, NULL, 'I' },
		{ "no-seccomp", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*a = (struct args){ .level = MM_LOG_INFO };
	a->session = calloc((size_t)argc, sizeof(*a->session));
	a->subs_file = calloc((size_t)argc, sizeof(*a->subs_file));
	a->ids_file = calloc((size_t)argc, sizeof(*a->ids_file));
	if (!a->session || !a->subs_file || !a->ids_file)
		return -ENOMEM;
	while ((c = getopt_long(argc, argv, "c:s:il:vf:d:I:h", opts, NULL)) != -1) {
		if (c == 'h' || c == 'V')
			return c;
		if (parse_opt(c, a) < 0)
			return -EINVAL;
	}
	/*
	 * Supervised: the sessions come validated, never from a file; standalone: one session
	 * from FILE (it prints one session's records: a group needs a supervisor).
	 */
	if (optind != argc || !a->n || !a->inherit == !a->config || (a->n > 1 && !a->inherit))
		return -EINVAL;
	return 0;
}

/* Create the session's rings and stats block ourselves (standalone mode). */
static int make_own_fds(const struct mm_cfg_session *s)
{
	int fds[_MM_FD_WRK_END], rc;

	rc = mm_shm_ring_create("in", s->perf.ring_size, 1, &fds[MM_FD_WRK_IN_RING]);
	if (rc == 0)
		rc = mm_shm_ring_create("cmd", mm_rec_cmd_ring_size(s->perf.max_message_size), 1,
					&fds[MM_FD_WRK_CMD_RING]);
	if (rc == 0)
		rc = mm_shm_stats_create("stats", &fds[MM_FD_WRK_STATS]);
	for (int i = MM_FD_WRK_IN_DATA; rc == 0 && i < _MM_FD_WRK_END; i++)
		if (i != MM_FD_WRK_CMD_RING && i != MM_FD_WRK_STATS)
			rc = (fds[i] = mm_shm_ring_doorbell_open()) < 0 ? fds[i] : 0;
	/* Move everything out of the way first: a new fd may already sit on a target number. */
	for (int i = MM_FD_WRK_IN_RING; rc == 0 && i < _MM_FD_WRK_END; i++) {
		int high = fcntl(fds[i], F_DUPFD_CLOEXEC, 100);

		if (high == -1 || close(fds[i]) == -1)
			rc = -errno;
		fds[i] = high;
	}
	for (int i = MM_FD_WRK_IN_RING; rc == 0 && i < _MM_FD_WRK_END; i++)
		if (dup3(fds[i], i, O_CLOEXEC) == -1 || close(fds[i]) == -1)
			rc = -errno;
	return rc;
}

/* Session w->idx's descriptors (shm/fdmap.h). */
#define FD(w, k) MM_FD_WRK_SESS((int)(w)->idx, k)

static int attach_fds(struct mm_wrk *w)
{
	char why[MM_SHM_RING_WHY_MAX] = "";
	int rc;

	rc = mm_shm_ring_attach(&w->in, FD(w, MM_FD_WRK_IN_RING), MM_SHM_RING_PRODUCER,
				FD(w, MM_FD_WRK_IN_DATA), FD(w, MM_FD_WRK_IN_SPACE), why,
				sizeof(why));
	if (rc < 0)
		return mm_log_errno(rc, "in-ring refused (%s)", why);
	rc = mm_shm_ring_attach(&w->cmd, FD(w, MM_FD_WRK_CMD_RING), MM_SHM_RING_CONSUMER,
				FD(w, MM_FD_WRK_CMD_DATA), FD(w, MM_FD_WRK_CMD_SPACE), why,
				sizeof(why));
	if (rc < 0)
		return mm_log_errno(rc, "cmd-ring refused (%s)", why);
	rc = mm_shm_stats_attach(FD(w, MM_FD_WRK_STATS), &w->stats);
	if (rc < 0)
		return mm_log_errno(rc, "stats block refused");
	/* The first worker of a stats block has no predecessor's ids to inherit. */
	if (atomic_fetch_add_explicit(&w->stats->starts, 1, memory_order_relaxed))
		mm_wrk_unacked_inherit(w);
	atomic_store_explicit(&w->stats->worker_pid, (uint32_t)getpid(), memory_order_relaxed);
	return 0;
}

/* Standalone mode: print what we wrote to the in-ring, as the router would receive it. */
static void print_record(const struct mm_shm_rec *r)
{
	struct mm_rec_event e;
	struct mm_rec_msg m;

	if (r->type == MM_REC_MSG && mm_rec_msg_unpack(r->data, r->len, &m) == 0)
		printf("msg %.*s q%u%s %.*s\n", (int)m.topic.len, (const char *)m.topic.p, m.qos,
		       m.flags & MM_REC_F_RETAIN ? " retain" : "", (int)m.payload.len,
		       (const char *)m.payload.p);
	else if (r->type == MM_REC_EVENT && mm_rec_event_unpack(r->data, r->len, &e) == 0)
		printf("event %s code=%" PRId32 " attempt=%" PRIu32 " delay_ms=%" PRIu32 " %.*s\n",
		       mm_event_kind_to_string(e.kind), e.code, e.attempt, e.delay_ms,
		       (int)e.text.len, (const char *)e.text.p);
	else
		printf("record type %u, %u bytes\n", r->type, r->len);
}

static void drain_to_stdout(struct mm_wrk *w)
{
	static struct mm_shm_ring cons;
	struct mm_shm_rec r;

	if (!cons.hdr && mm_shm_ring_attach_twin(&cons, &w->in, MM_SHM_RING_CONSUMER) < 0)
		return;
	while (mm_shm_ring_peek(&cons, &r) == 1) {
		print_record(&r);
		mm_shm_ring_pop(&cons);
	}
	(void)mm_shm_ring_release(&cons);
	fflush(stdout);
}

/* The saved subscriptions of each session (--subs-file); the loop's after-hook reaches them. */
static struct mm_wrk_subs_state *Subs;

static void after_loop(struct mm_wrk *w)
{
	if (w->standalone)
		drain_to_stdout(w);
	mm_wrk_subs_sync(&Subs[w->idx], w);
}

static int block_signals(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -errno;
	(void)signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd == -1 ? -errno : fd;
}

/* Standalone: the config file <a->config>, loaded and checked. */
static int load_file(const struct args *a, struct mm_cfg **cfg)
{
	struct mm_cfg_diag diag;
	int rc;

	mm_cfg_diag_init(&diag);
	rc = mm_cfg_load(a->config, cfg, &diag);
	if (rc < 0) {
		if (diag.n)
			mm_cfg_diag_print(&diag, stderr);
		else
			mm_log_errno(rc, "cannot read config '%s'", a->config);
	}
	mm_cfg_diag_done(&diag);
	return rc < 0 ? EX_CONFIG : 0;
}

/* Each session's config, in w[i].cfg. */
static int find_sessions(const struct args *a, const struct mm_cfg *cfg, struct mm_wrk *w)
{
	for (uint32_t i = 0; i < a->n; i++) {
		w[i].cfg = mm_cfg_session_find(cfg, a->session[i]);
		if (!w[i].cfg) {
			mm_log_set_session(a->session[i]);
			mm_log(MM_LOG_ERROR, "not in '%s'", a->config);
			return EX_CONFIG;
		}
	}
	return 0;
}

/*
 * Supervised: the session <a->session[i]> the supervisor validated, from its handoff blob at
 * MM_FD_WRK_SESS(i, MM_FD_WRK_SESSION) (then closed), in w[i].cfg and handed[i].
 */
static int load_handoff(const struct args *a, uint32_t i, struct mm_wrk *w,
			struct mm_cfg_session **handed)
{
	int fd = MM_FD_WRK_SESS((int)i, MM_FD_WRK_SESSION);
	int rc = mm_handoff_session_read(fd, &handed[i]);

	mm_log_set_session(a->session[i]);
	if (rc < 0) {
		mm_log_errno(rc, "no usable session at fd %d (a SESSION handoff blob)", fd);
		return EX_USAGE;
	}
	if (strcmp(handed[i]->name, a->session[i])) {
		mm_log(MM_LOG_ERROR, "--session '%s' but the handoff holds session '%s'",
		       a->session[i], handed[i]->name);
		return EX_USAGE;
	}
	w[i].cfg = handed[i];
	return 0;
}

/* Each session's config, in w[i].cfg: from the handoff blobs, or standalone from the file. */
static int load_sessions(const struct args *a, struct mm_cfg **cfg, struct mm_wrk *w,
			 struct mm_cfg_session **handed)
{
	int rc = 0;

	if (!a->inherit)
		return load_file(a, cfg) ? EX_CONFIG : find_sessions(a, *cfg, w);
	for (uint32_t i = 0; rc == 0 && i < a->n; i++)
		rc = load_handoff(a, i, w, handed);
	mm_log_set_session(a->session[0]);
	return rc;
}

/*
 * Cap the worker's address space (DESIGN.md §6): a hostile broker, or a bug, can at worst
 * kill this worker, never starve the host. The cap leaves room for the libraries, io_uring,
 * each session's rings (mapped once each) and many messages of the largest size in flight:
 * MM_WRK_AS_BASE + the sum over its sessions of 4 x ring_size + 64 x max_message_size.
 * MQTTMUX_WORKER_AS_LIMIT (bytes; 0: no cap) overrides it. Not under AddressSanitizer/
 * ThreadSanitizer, which reserve terabytes.
 */
static void cap_memory(const struct mm_wrk *w, uint32_t n)
{
	const char *env = getenv("MQTTMUX_WORKER_AS_LIMIT");
	uint64_t limit = MM_WRK_AS_BASE;
	struct rlimit rl;

	for (uint32_t i = 0; i < n; i++) {
		const struct mm_cfg_session *s = w[i].cfg;

		limit += 4 * s->perf.ring_size + mm_rec_cmd_ring_size(s->perf.max_message_size) +
			 64ull * s->perf.max_message_size;
	}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return;
#endif
	if (env && *env) {
		char *end;
		unsigned long long v = strtoull(env, &end, 10);

		if (*end) {
			mm_log(MM_LOG_WARNING,
			       "MQTTMUX_WORKER_AS_LIMIT='%s' is not a number: ignored", env);
		} else {
			limit = v;
		}
	}
	if (limit == 0 || getrlimit(RLIMIT_AS, &rl) == -1)
		return;
	if (rl.rlim_max != RLIM_INFINITY && limit > rl.rlim_max)
		limit = rl.rlim_max;
	rl.rlim_cur = (rlim_t)limit;
	if (setrlimit(RLIMIT_AS, &rl) == -1)
		mm_log_errno(-errno, "cannot cap the address space at %llu bytes",
			     (unsigned long long)limit);
}

/*
 * The daemon's connect pacer, if the supervisor passed one: 0, or why it was refused. Before
 * the process opens anything (even its log): a descriptor of its own could sit on that number.
 */
static int attach_pacer(struct mm_wrk_proc *p, const struct args *a)
{
	int fd = MM_FD_WRK_PACE((int)a->n), rc;

	if (!a->inherit || fcntl(fd, F_GETFD) == -1)
		return 0;
	rc = mm_shm_pace_attach(fd, &p->pace);
	(void)close(fd);
	return rc;
}

/* The process's loop. */
static int setup_proc(struct mm_wrk_proc *p, const struct args *a)
{
	const char *fallback = NULL;
	int rc;

	rc = mm_wrk_loop_new(&p->loop, a->backend, &fallback);
	if (rc < 0)
		return mm_log_errno(rc, "event loop"), 1;
	if (fallback)
		mm_log(MM_LOG_WARNING, "io_uring unavailable (%s): using epoll", fallback);
	return 0;
}

static int setup(struct mm_wrk *w, const struct args *a)
{
	char why[256] = "";
	int rc;

	mm_log_set_session(w->cfg->name);
	if (!a->inherit && (rc = make_own_fds(w->cfg)) < 0)
		return mm_log_errno(rc, "creating the rings failed"), 1;
	if (attach_fds(w) < 0)
		return 1;
	w->standalone = !a->inherit;
	w->max_rec = MM_REC_MSG_FIXED + w->cfg->perf.max_message_size;
	w->n_pending_cap = (size_t)w->cfg->perf.max_pending * 2 + 64;
	w->pending = calloc(w->n_pending_cap, sizeof(*w->pending));
	w->rng = ((uint64_t)getpid() << 16 ^ w->idx) * 0x9e3779b97f4a7c15ull | 1;
	w->sock = -1;
	mm_wrk_ra_init(&w->ra);
	mm_wrk_guard_start(w);
	w->loop = w->proc->loop;
	if (!w->pending)
		return mm_log_errno(-ENOMEM, "event loop"), 1;
	atomic_store_explicit(&w->stats->backend, mm_wrk_loop_backend(w->loop),
			      memory_order_relaxed);
	for (size_t i = 0; i < w->cfg->n_subs; i++)
		if (mm_wrk_filter_add(w, w->cfg->subs[i].topic, strlen(w->cfg->subs[i].topic),
				      w->cfg->subs[i].qos, true) < 0)
			return 1;
	/* a persistent session's ids outlive the daemon too (wrk_ids.c) */
	if (a->ids_file[w->idx] && mm_wrk_ids_open(w, a->ids_file[w->idx]) == 0)
		mm_wrk_unacked_inherit(w);
	Subs[w->idx].path = a->subs_file[w->idx];
	if (mm_wrk_subs_restore(&Subs[w->idx], w) < 0)
		return mm_log_errno(-ENOMEM, "restoring the saved subscriptions"), 1;
	if (mm_wrk_mqtt_new(w, why, sizeof(why)) < 0)
		return mm_log(MM_LOG_ERROR, "%s", why), EX_CONFIG;
	return 0;
}

static void free_session(struct mm_wrk *w)
{
	mm_wrk_mqtt_free(w);
	mm_wrk_ids_close(w);
	free(w->pending);
	free(w->props_buf);
	for (size_t i = 0; i < w->n_filters; i++)
		free(w->filters[i].topic);
	free(w->filters);
	mm_wrk_subs_state_done(&Subs[w->idx]);
}

/*
 * The sessions' records, from anonymous pages: each holds 40 KiB of id bitmaps (wrk.h), and
 * pages nobody writes stay shared zero pages instead of being cleared up front.
 */
static struct mm_wrk *sessions_new(uint32_t n)
{
	void *m = mmap(NULL, n * sizeof(struct mm_wrk), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

#ifdef MM_TEST_HOOKS
/*
 * The test of the filter (tests/python/test_privileges.py): with MQTTMUX_TEST_EXECVE naming
 * one of our sessions, the first worker of that session (its stats block's first start) calls
 * execve once the filter is on, as code a broker subverted would, and must die of SIGSYS.
 * Compiled only into builds with tests (-Dtests=true; the Debian package builds without), and
 * then only acted on with that variable in the daemon's environment.
 */
static void test_execve(const struct mm_wrk *w, uint32_t n)
{
	const char *name = getenv("MQTTMUX_TEST_EXECVE");
	char *const argv[] = { (char *)"/bin/true", NULL };

	for (uint32_t i = 0; name && i < n; i++)
		if (!strcmp(name, w[i].cfg->name) &&
		    atomic_load_explicit(&w[i].stats->starts, memory_order_relaxed) == 1) {
			mm_log(MM_LOG_WARNING, "test: calling execve under the filter");
			(void)execve(argv[0], argv, argv + 1);
		}
}
#else
static void test_execve(const struct mm_wrk *w, uint32_t n)
{
	(void)w;
	(void)n;
}
#endif

/*
 * The system call filter (common/sandbox.h), once everything that opens, maps and initialises
 * is done. Supervised workers only: a standalone worker is for debugging.
 */
static int enter_sandbox(const struct mm_wrk *w, const struct args *a)
{
	int rc;

	if (!a->inherit || a->no_seccomp)
		return 0;
	rc = mm_sandbox_enter(MM_SANDBOX_WORKER);
	if (rc < 0)
		return mm_log_errno(rc, "cannot install the seccomp filter"), 1;
	test_execve(w, a->n);
	return 0;
}

/* Set up the process and every session, then run them; the process's exit code. */
static int run(struct mm_wrk_proc *p, struct mm_wrk *w, const struct args *a)
{
	int rc;

	p->sig_fd = block_signals();
	p->chan_fd = a->inherit && fcntl(MM_FD_CHAN, F_GETFD) != -1 ? MM_FD_CHAN : -1;
	rc = p->sig_fd < 0 ? 1 : setup_proc(p, a);
	for (uint32_t i = 0; rc == 0 && i < a->n; i++)
		rc = setup(&w[i], a);
	if (rc == 0)
		rc = enter_sandbox(w, a);
	return rc ? rc : mm_wrk_run(p);
}

int main(int argc, char **argv)
{
	struct mm_cfg *cfg = NULL;
	struct mm_wrk *w = NULL, **sess = NULL, **active = NULL;
	struct mm_cfg_session **handed = NULL; /* supervised: each session's handoff, decoded */
	struct mm_wrk_proc p = { .sig_fd = -1, .chan_fd = -1, .after = after_loop };
	struct args a;
	int rc;

	rc = parse_args(argc, argv, &a);
	if (rc == -ENOMEM)
		return fputs("mqttmux-worker: out of memory\n", stderr), 1;
	if (rc != 0) {
		free(a.session);
		free(a.subs_file);
		free(a.ids_file);
		if (rc > 0)
			return mm_usage_help_version(rc == 'h', "mqttmux-worker", Usage);
		return usage();
	}
	(void)prctl(PR_SET_DUMPABLE, 0); /* the password is in our memory */
	if (a.inherit) /* the second net after the channel's EOF: nothing outlives mqttmuxd */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	rc = attach_pacer(&p, &a);
	mm_log_init("mqttmux-worker", a.level);
	mm_log_set_session(a.session[0]); /* every record names the session (log.h) */
	if (rc < 0)			  /* connecting unpaced beats not connecting */
		mm_log_errno(rc, "connect pacer refused: connecting without it");
	rc = 0;
	w = sessions_new(a.n);
	sess = calloc(a.n, sizeof(*sess));
	active = calloc(a.n, sizeof(*active));
	Subs = calloc(a.n, sizeof(*Subs));
	handed = calloc(a.n, sizeof(*handed));
	if (!w || !sess || !active || !Subs || !handed) {
		mm_log_errno(-ENOMEM, "%u sessions", a.n);
		rc = 1;
	}
	if (!rc)
		rc = load_sessions(&a, &cfg, w, handed);
	if (!rc) {
		for (uint32_t i = 0; i < a.n; i++) {
			w[i].proc = &p;
			w[i].idx = i;
			sess[i] = &w[i];
		}
		p.sess = sess;
		p.n = a.n;
		p.active = active;
		cap_memory(w, a.n);
		mosquitto_lib_init();
		rc = run(&p, w, &a);
		for (uint32_t i = 0; i < a.n; i++)
			free_session(&w[i]);
		mosquitto_lib_cleanup();
	}
	mm_wrk_loop_free(p.loop);
	mm_shm_pace_detach(p.pace);
	if (w)
		(void)munmap(w, a.n * sizeof(*w));
	free(sess);
	free(active);
	free(Subs);
	for (uint32_t i = 0; handed && i < a.n; i++)
		mm_cfg_session_free(handed[i]);
	free(handed);
	free(a.session);
	free(a.subs_file);
	free(a.ids_file);
	mm_cfg_free(cfg);
	return rc;
}
