/* SPDX-License-Identifier: MIT */
/* A test-side supervisor for one real mqttmux-worker process (see t_worker.h). */
#include "t_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handoff.h"
#include "t_helpers.h"

const char *t_worker_binary(void)
{
	const char *p = getenv("MQTTMUX_WORKER");

	return p && *p ? p : MQTTMUX_WORKER_PATH;
}

char *t_write_file(const char *dir, const char *name, const char *text)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		free(path);
		return NULL;
	}
	return path;
}

static int make_fds(struct t_worker *t, uint64_t in_size)
{
	int rc = mm_shm_ring_create("in", in_size, 1, &t->fds[MM_FD_WRK_IN_RING]);

	if (rc == 0)
		rc = mm_shm_ring_create("cmd", 1u << 16, 1, &t->fds[MM_FD_WRK_CMD_RING]);
	if (rc == 0)
		rc = mm_shm_stats_create("stats", &t->fds[MM_FD_WRK_STATS]);
	for (int i = MM_FD_WRK_IN_DATA; rc == 0 && i < _MM_FD_WRK_END; i++)
		if (i != MM_FD_WRK_CMD_RING && i != MM_FD_WRK_STATS)
			rc = (t->fds[i] = mm_shm_ring_doorbell_open()) < 0 ? t->fds[i] : 0;
	return rc;
}

/* Load <config> as the supervisor does; its problems go to t->diag. */
static int load(struct t_worker *t, const char *config, const char *session)
{
	struct mm_cfg_diag diag;
	FILE *f;
	size_t len;
	int rc;

	mm_cfg_diag_init(&diag);
	rc = mm_cfg_load(config, &t->cfg, &diag);
	f = open_memstream(&t->diag, &len);
	if (f) {
		(void)mm_cfg_diag_print(&diag, f);
		fclose(f);
	}
	mm_cfg_diag_done(&diag);
	if (rc == 0 && !(t->sess = mm_cfg_session_find(t->cfg, session)))
		rc = -ENOENT;
	return rc;
}

int t_worker_init(struct t_worker *t, const char *config, const char *session,
		  uint64_t in_ring_size)
{
	int rc;

	memset(t, 0, sizeof(*t));
	for (int i = 0; i < _MM_FD_WRK_END; i++)
		t->fds[i] = -1;
	t->chan = -1;
	t->config = strdup(config);
	t->session = strdup(session);
	if (asprintf(&t->log_path, "%s.%s.log", config, session) < 0)
		return -ENOMEM;
	rc = load(t, config, session);
	if (rc == 0)
		rc = make_fds(t, in_ring_size);
	if (rc == 0)
		rc = mm_shm_ring_attach(&t->in, t->fds[MM_FD_WRK_IN_RING], MM_SHM_RING_CONSUMER,
					t->fds[MM_FD_WRK_IN_DATA], t->fds[MM_FD_WRK_IN_SPACE], NULL,
					0);
	if (rc == 0)
		rc = mm_shm_ring_attach(&t->cmd, t->fds[MM_FD_WRK_CMD_RING], MM_SHM_RING_PRODUCER,
					t->fds[MM_FD_WRK_CMD_DATA], t->fds[MM_FD_WRK_CMD_SPACE],
					NULL, 0);
	if (rc == 0)
		rc = mm_shm_stats_attach(t->fds[MM_FD_WRK_STATS], &t->stats);
	return rc;
}

#define NSRC (MM_FD_WRK_SESSION + 1 - MM_FD_WRK_IN_RING) /* rings, stats, session */

/*
 * As the supervisor spawns a worker, with the same code (mm_fdmap_spawn, which also keeps the
 * test's own libmosquitto sockets, lacking CLOEXEC, out): a fresh channel, the rings and the
 * session in a handoff blob; the worker's stderr to its log.
 */
int t_worker_spawn(struct t_worker *t)
{
	static char opt_session[] = "--session", opt_inherit[] = "--inherit-fds",
		    opt_verbose[] = "--verbose";
	char *argv[] = {
		(char *)t_worker_binary(), opt_session, t->session, opt_inherit, opt_verbose, NULL
	};
	int sp[2], fds[NSRC + 1], tmp[NSRC + 1], log;

	fds[NSRC] = mm_handoff_session_open(t->sess);
	if (fds[NSRC] < 0)
		return fds[NSRC];
	log = open(t->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
		return -errno;
	fds[0] = sp[1];
	memcpy(&fds[1], &t->fds[MM_FD_WRK_IN_RING], (NSRC - 1) * sizeof(int));
	t->pid = mm_fdmap_spawn(argv, log, fds, NSRC + 1, tmp);
	close(sp[1]);
	close(fds[NSRC]);
	if (log >= 0)
		close(log);
	if (t->pid < 0) {
		int rc = t->pid;

		close(sp[0]);
		t->pid = 0;
		return rc;
	}
	t->chan = sp[0];
	return 0;
}

static int reap(struct t_worker *t, int timeout_ms)
{
	uint64_t deadline = t_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (t->pid > 0) {
		pid_t r = waitpid(t->pid, &t->wstatus, WNOHANG);

		if (r == t->pid || (r == -1 && errno == ECHILD)) {
			t->pid = 0;
			break;
		}
		if (t_now_ns() > deadline)
			return -ETIMEDOUT;
		usleep(2000);
	}
	return 0;
}

/* SIGTERM (graceful DISCONNECT), then SIGKILL after <timeout_ms>. Returns 0 or -ETIMEDOUT. */
int t_worker_stop(struct t_worker *t, int timeout_ms)
{
	int rc;

	if (t->pid <= 0)
		return 0;
	kill(t->pid, SIGTERM);
	rc = reap(t, timeout_ms);
	if (rc < 0) {
		kill(t->pid, SIGKILL);
		reap(t, 5000);
	}
	if (t->chan >= 0)
		close(t->chan);
	t->chan = -1;
	return rc;
}

int t_worker_wait_exit(struct t_worker *t, int timeout_ms)
{
	int rc = reap(t, timeout_ms);

	if (rc == 0 && t->chan >= 0) {
		close(t->chan);
		t->chan = -1;
	}
	return rc;
}

int t_worker_kill9(struct t_worker *t)
{
	if (t->pid <= 0)
		return 0;
	kill(t->pid, SIGKILL);
	if (t->chan >= 0)
		close(t->chan);
	t->chan = -1;
	return reap(t, 5000);
}

void t_worker_free(struct t_worker *t)
{
	(void)t_worker_stop(t, 5000);
	mm_shm_ring_detach(&t->in);
	mm_shm_ring_detach(&t->cmd);
	mm_shm_stats_detach(t->stats);
	for (int i = MM_FD_WRK_IN_RING; i < _MM_FD_WRK_END; i++)
		if (t->fds[i] >= 0)
			close(t->fds[i]);
	mm_cfg_free(t->cfg);
	free(t->diag);
	free(t->config);
	free(t->session);
	free(t->log_path);
	memset(t, 0, sizeof(*t));
}

static void count(struct t_worker *t, const struct mm_shm_rec *rec)
{
	struct mm_rec_event e;

	if (rec->type == MM_REC_MSG)
		t->msgs++;
	else if (rec->type == MM_REC_COMPLETION)
		t->completions++;
	else if (rec->type == MM_REC_EVENT && mm_rec_event_unpack(rec->data, rec->len, &e) == 0) {
		t->events[e.kind % 16]++;
		if (e.kind == MM_EV_READY)
			t->ready = true;
	}
}

long t_worker_read(struct t_worker *t, t_worker_rec_fn *fn, void *ud, int timeout_ms)
{
	uint64_t deadline = t_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct mm_shm_rec rec;
	long n = 0;
	int rc;

	for (;;) {
		rc = mm_shm_ring_peek(&t->in, &rec);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			bool more;

			count(t, &rec);
			more = fn ? fn(t, &rec, ud) : true;
			mm_shm_ring_pop(&t->in);
			n++;
			if (n % 64 == 0)
				mm_shm_ring_release(&t->in);
			if (!more)
				break;
			continue;
		}
		if (t_now_ns() >= deadline)
			break;
		(void)mm_shm_ring_wait_data(&t->in, 50);
	}
	mm_shm_ring_release(&t->in);
	return n;
}

static bool stop_at_ready(struct t_worker *t, const struct mm_shm_rec *rec, void *ud)
{
	(void)rec;
	(void)ud;
	return !t->ready;
}

bool t_worker_wait_ready(struct t_worker *t, int timeout_ms)
{
	t->ready = false;
	(void)t_worker_read(t, stop_at_ready, NULL, timeout_ms);
	return t->ready;
}

int t_worker_cmd_sub(struct t_worker *t, uint64_t req_id, const char *filter, int qos, bool unsub)
{
	struct mm_rec_sub s = { .req_id = req_id,
				.qos = (uint8_t)qos,
				.filter = { (const uint8_t *)filter, (uint32_t)strlen(filter) } };
	void *p;
	int rc = mm_shm_ring_reserve(&t->cmd, (uint32_t)mm_rec_sub_size(&s),
				     unsub ? MM_REC_CMD_UNSUB : MM_REC_CMD_SUB, 0, &p);

	if (rc < 0)
		return rc;
	(void)mm_rec_sub_pack(p, mm_rec_sub_size(&s), &s);
	return mm_shm_ring_commit(&t->cmd) < 0 ? -EIO : 0;
}

int t_worker_cmd_pub(struct t_worker *t, uint64_t req_id, const char *topic, const void *payload,
		     uint32_t len, int qos, bool retain)
{
	struct mm_rec_pub pb = { .req_id = req_id,
				 .qos = (uint8_t)qos,
				 .flags = retain ? MM_REC_F_RETAIN : 0,
				 .topic = { (const uint8_t *)topic, (uint32_t)strlen(topic) },
				 .payload = { payload, len } };
	void *p;
	int rc =
		mm_shm_ring_reserve(&t->cmd, (uint32_t)mm_rec_pub_size(&pb), MM_REC_CMD_PUB, 0, &p);

	if (rc < 0)
		return rc;
	(void)mm_rec_pub_pack(p, mm_rec_pub_size(&pb), &pb);
	return mm_shm_ring_commit(&t->cmd) < 0 ? -EIO : 0;
}
