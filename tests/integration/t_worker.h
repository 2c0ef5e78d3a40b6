/* SPDX-License-Identifier: MIT */
/*
 * A test acting as the supervisor of one mqttmux-worker: it loads the config, creates the
 * session's rings, doorbells and stats block, spawns the real worker binary with them and its
 * validated session at the fixed descriptors (--inherit-fds, shm/fdmap.h, shm/handoff.h: the
 * same code mqttmuxd uses), and reads the in-ring as the router would.
 */
#ifndef T_WORKER_H
#define T_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cfg.h"
#include "fdmap.h"
#include "records.h"
#include "ring.h"
#include "stats.h"

struct t_worker {
	pid_t pid;
	int wstatus;
	int fds[_MM_FD_WRK_END]; /* indexed by enum mm_fd_wrk (shm/fdmap.h); our copies */
	int chan;		 /* our end of the channel; closing it stops the worker */
	struct mm_shm_ring in;	 /* we consume */
	struct mm_shm_ring cmd;	 /* we produce */
	struct mm_stats_block *stats;
	char *config, *session, *log_path;
	struct mm_cfg *cfg;		   /* <config> as loaded by t_worker_init, or NULL */
	const struct mm_cfg_session *sess; /* the session handed to the worker */
	char *diag;			   /* the problems loading <config> found, or NULL */
	/* what the reader saw */
	uint64_t msgs, events[16], completions;
	bool ready;
};

/* Record callback for t_worker_read: return false to stop reading. */
typedef bool t_worker_rec_fn(struct t_worker *t, const struct mm_shm_rec *rec, void *ud);

/*
 * Load <config> as the supervisor does (its problems in t->diag) and make the rings of
 * <session>. Returns 0, the loader's -errno (-EINVAL: see t->diag), -ENOENT (no such session),
 * or a ring error. t_worker_free() is needed either way.
 */
int t_worker_init(struct t_worker *t, const char *config, const char *session,
		  uint64_t in_ring_size);
/*
 * Start the worker on the rings of <t> with its session in a handoff blob, as mqttmuxd does;
 * again after it ended, on the same rings and stats.
 */
int t_worker_spawn(struct t_worker *t);
int t_worker_stop(struct t_worker *t, int timeout_ms);
int t_worker_kill9(struct t_worker *t);
/*
 * Wait at most <timeout_ms> for the worker to exit by itself (no signal is sent); its wait
 * status is then in t->wstatus. Returns 0, or -ETIMEDOUT with the worker still running.
 */
int t_worker_wait_exit(struct t_worker *t, int timeout_ms);
void t_worker_free(struct t_worker *t);

/*
 * Read in-ring records for at most <timeout_ms>, handing each to <fn> (NULL: just count),
 * until <fn> returns false. Returns the number of records read, or a negative ring error.
 */
long t_worker_read(struct t_worker *t, t_worker_rec_fn *fn, void *ud, int timeout_ms);
/* Read until a READY event (counting everything), at most <timeout_ms>. */
bool t_worker_wait_ready(struct t_worker *t, int timeout_ms);
/* Write a command record to the cmd-ring and commit it. */
int t_worker_cmd_sub(struct t_worker *t, uint64_t req_id, const char *filter, int qos, bool unsub);
int t_worker_cmd_pub(struct t_worker *t, uint64_t req_id, const char *topic, const void *payload,
		     uint32_t len, int qos, bool retain);

/* Write <text> to a new file <dir>/<name>; returns a malloc'd path or NULL. */
char *t_write_file(const char *dir, const char *name, const char *text);
/* Path of the built worker binary (from $MQTTMUX_WORKER or next to the tests). */
const char *t_worker_binary(void);

#endif /* T_WORKER_H */
