/* SPDX-License-Identifier: MIT */
/*
 * The mqttmuxd supervisor: its runtime directory and lock (sup_runtime.c) and its event loop
 * over a signalfd, the children's control channels and the restart timers (sup_loop.c).
 * The router is one more supervised child (sup_router.c); the metrics text is built from the
 * stats blocks and ring headers the supervisor holds (sup_metrics.c).
 * Process code, single-threaded; see docs/operations.md for the behaviour as operators see it.
 */
#ifndef MM_SUP_H
#define MM_SUP_H

#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cfg.h"
#include "chan.h"
#include "mm_time.h"
#include "sup_child.h"
#include "sup_ctl.h"
#include "sup_fsm.h"
#include "sup_timer.h"

#define MM_SUP_LOCK_NAME     "mqttmuxd.lock"
#define MM_SUP_SIGNAL_GAP_NS (100 * MM_NS_PER_MS) /* reloads (dumps) at least this far apart */

/*
 * A reload (SIGHUP) or metrics dump (SIGUSR1) asked for by signals: it runs at once, unless the
 * last one ran less than MM_SUP_SIGNAL_GAP_NS ago; then it runs at that point, and every
 * request until then is merged into it. A storm costs one reload (dump) per gap, and the last
 * request is always served.
 */
struct mm_sup_request {
	bool pending;
	uint64_t due_ns;  /* CLOCK_MONOTONIC, while pending */
	uint64_t last_ns; /* when the last one ran, 0: never */
	uint64_t merged;  /* requests merged into the pending one */
};

/* State files written by the commands of one loop turn, made durable together (sup_journal.c). */
struct mm_sup_journal_op {
	char *tmp; /* a temporary file to rename to <dst>, or NULL: delete <dst> */
	char *dst;
};
struct mm_sup_journal {
	struct mm_sup_journal_op *ops; /* in command order */
	size_t n, cap;
	char dir[PATH_MAX]; /* state_dir, to sync */
};

struct mm_sup {
	struct mm_cfg *cfg;	    /* owned: the running set, as validated (nothing else reads the
				       file); replaced by a successful reload, changed by add/remove */
	const char *config_path;    /* absolute; borrowed */
	char worker[PATH_MAX];	    /* worker binary */
	char router_bin[PATH_MAX];  /* router binary */
	char runtime_dir[PATH_MAX]; /* as at start: a reload does not move it */
	struct mm_sup_child router; /* the router process (is_router); name "router" */
	char router_why[MM_CHAN_BODY_MAX + 1]; /* why the last router could not start, or "" */
	uint64_t clients_kept; /* hash of what state_dir/clients.txt holds; 0: no file */
	struct mm_sup_policy policy;
	struct mm_sup_child *children; /* one per session, in config order */
	size_t n_children;
	size_t cap_children;
	struct pollfd *pfd;	 /* MM_SUP_NPFD entries: signalfd, ep_fd, control socket, http */
	struct pollfd *pfd_live; /* ... those with a descriptor, as passed to poll() */
	uint16_t *pfd_idx;	 /* ... and where each is in pfd */
	int ep_fd;		 /* epoll set of every child's channel (sup_wait.c) */
	struct epoll_event *evs; /* channel events of the last wait */
	struct mm_sup_timers timers; /* each child's next deadline (sup_wait.c) */
	uint64_t sample_next;	     /* when the loop samples the metrics next */
	uint64_t textfile_next;	     /* next periodic metrics.textfile write, 0: none */
	int textfile_err;	     /* the last periodic write's result (logged on change) */
	int sig_fd;		     /* signalfd: SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1 */
	bool stopping;		     /* SIGTERM/SIGINT seen: stop everything, then return */
	bool router_stop_asked;	     /* stopping: the workers are gone, the router was told */
	struct mm_sup_ctl *ctl;	  /* control socket (sup_ctl.c); NULL until mm_sup_init() made it */
	struct mm_sup_http *http; /* metrics.http listener (sup_http.c), or NULL */
	struct mm_sup_events *events; /* per-session event state (sup_events.c), or NULL */
	uint64_t rng;
	uint64_t start_ns;		 /* CLOCK_MONOTONIC at mm_sup_init() */
	uint64_t sample_ns;		 /* last metrics sample (rates, high-water marks) */
	struct mm_sup_request hup, usr1; /* coalesced SIGHUP reloads and SIGUSR1 dumps */
	/* the session names of the config file at its last load (sup_state.c: add, remove) */
	char **file_names;
	size_t n_file_names;
	struct mm_sup_journal journal; /* add/remove of this loop turn, not yet durable */
	uint64_t next_idx;	       /* session indexes handed out so far (sup_router.c) */
	/* totals of sessions whose stats blocks are gone (removed, or new rings) */
	uint64_t retired_msgs, retired_bytes, retired_errors, retired_reconnects;
	struct mm_metrics_reload reloads;      /* results of SIGHUP and `reload` (sup_reload.c) */
	struct mm_metrics_control ctl_refused; /* control.sock bounds (sup_ctl.c) */
	struct mm_metrics_http http_refused;   /* metrics.http bounds (sup_http.c) */
	int pace_fd;		    /* the connect pacer every worker gets (shm/pace.h), or -1 */
	struct mm_pace_block *pace; /* ... mapped, to set workers.connect_rate; or NULL */
	uint32_t groups;	    /* grouped workers formed so far (their numbers) */
};

int mm_sup_mkdir_p(const char *path, unsigned mode);
int mm_sup_state_dirs(const char *state_dir);
int mm_sup_lock(const char *runtime_dir, int *ret_fd);
int mm_sup_signals_open(void);

int mm_sup_init(struct mm_sup *s, struct mm_cfg *cfg, const char *config_path, int sig_fd);
int mm_sup_run(struct mm_sup *s);
/* Become the config's user / group for good (sup_priv.c). 0 or -errno, logged. */
int mm_sup_priv_drop(const struct mm_cfg *cfg);
void mm_sup_done(struct mm_sup *s);

/* sup_loop.c, for sup_reload.c */
int mm_sup_child_add(struct mm_sup *s, const struct mm_cfg_session *sess);
int mm_sup_worker_spawn(struct mm_sup *s, struct mm_sup_child *c);
void mm_sup_apply(struct mm_sup *s, struct mm_sup_child *c, enum mm_child_ev ev);
void mm_sup_apply_at(struct mm_sup *s, struct mm_sup_child *c, enum mm_child_ev ev,
		     uint64_t now_ns);
void mm_sup_spawn(struct mm_sup *s, struct mm_sup_child *c);
bool mm_sup_session_down(struct mm_sup *s, struct mm_sup_child *c);

/* sup_group.c: up to workers.group_size sessions in one worker process */
struct mm_sup_child *mm_sup_group_lead(struct mm_sup *s, struct mm_sup_child *c);
struct mm_sup_child *mm_sup_group_at(struct mm_sup *s, struct mm_sup_child *lead, uint32_t gidx);
size_t mm_sup_group_next(const struct mm_sup *s, const struct mm_sup_child *lead, size_t from);
int mm_sup_group_spawn(struct mm_sup *s, struct mm_sup_child *lead);
void mm_sup_groups_start(struct mm_sup *s);
void mm_sup_group_down(struct mm_sup *s, struct mm_sup_child *lead);
void mm_sup_pace_apply(struct mm_sup *s);
void mm_sup_pace_close(struct mm_sup *s);

/* sup_wait.c: sleeping on the channels (epoll), a fixed poll set and the timer heap */
#define MM_SUP_NPFD	     (2 + MM_CTL_NFDS + MM_HTTP_NFDS)
#define MM_SUP_CHECK_SLOT_NS (5 * MM_NS_PER_SEC) /* hung checks share wake-ups on this grid */
struct epoll_event;
uint32_t mm_sup_child_id(const struct mm_sup *s, const struct mm_sup_child *c);
struct mm_sup_child *mm_sup_child_of(struct mm_sup *s, uint32_t id);
int mm_sup_wait_open(struct mm_sup *s);
void mm_sup_wait_close(struct mm_sup *s);
int mm_sup_watch(struct mm_sup *s, struct mm_sup_child *c);
void mm_sup_unwatch(struct mm_sup *s, struct mm_sup_child *c);
void mm_sup_timer_sync(struct mm_sup *s, struct mm_sup_child *c);
void mm_sup_wait_rebuild(struct mm_sup *s);
int mm_sup_wait(struct mm_sup *s, uint64_t other_ns);
struct mm_sup_child *mm_sup_wait_child(struct mm_sup *s, int i);

/* sup_limits.c: the descriptors and processes N sessions need (docs/operations.md, Limits) */
#define MM_SUP_FDS_PER_SESSION 10 /* 7 ring, doorbell, stats fds; channel, pidfd, statm */
#define MM_SUP_ROUTER_CLIENTS  64 /* clients the router's descriptor budget has room for */
void mm_sup_limits_raise(void);
const char *mm_sup_nofile_text(void);
uint64_t mm_sup_limits_fds(uint64_t n);
uint64_t mm_sup_limits_router_fds(uint64_t n);
int mm_sup_limits_check(uint64_t n, uint64_t procs, char *why, size_t size);

/* sup_reload.c */
void mm_sup_reload(struct mm_sup *s);
void mm_sup_reload_apply(struct mm_sup *s, struct mm_cfg *cfg);
void mm_sup_start_new(struct mm_sup *s);
void mm_sup_stop_removed(struct mm_sup *s, const char *name);

/* sup_state.c: sessions added and removed at run time, kept in state_dir */
#define MM_SUP_STATE_PREFIX   "session-"
#define MM_SUP_TOMB_PREFIX    "removed-"
#define MM_SUP_SUBS_PREFIX    "subs-" /* a worker's --subs-file: "subs-<hex of name>.txt" */
#define MM_SUP_IDS_PREFIX     "ids-"  /* a worker's --ids-file: "ids-<hex of name>.bin" */
#define MM_SUP_STATE_NAME_MAX (8 + 2 * MM_CFG_NAME_MAX + 5)
void mm_sup_state_merge(struct mm_sup *s, struct mm_cfg *cfg);
void mm_sup_state_sync(struct mm_sup *s);
void mm_sup_state_done(struct mm_sup *s);
int mm_sup_state_save(struct mm_sup *s, const char *prefix, const struct mm_cfg_session *sess);
int mm_sup_state_unlink(struct mm_sup *s, const char *prefix, const char *name);
int mm_sup_state_subs_file(const struct mm_sup *s, const char *name, char *buf);
int mm_sup_state_ids_file(const struct mm_sup *s, const char *name, char *buf);
int mm_sup_state_add(struct mm_sup *s, const struct mm_cfg_session_src *src, const char *who,
		     struct mm_cfg_diag *diag);
int mm_sup_state_remove(struct mm_sup *s, const char *name, const char *who,
			struct mm_cfg_diag *diag);
void mm_sup_state_drop(struct mm_sup *s, const char *name);

/* sup_journal.c: state_dir files written atomically and durably, alone or a turn's together */
int mm_sup_state_write(const char *dir, const char *file, const char *text, size_t len);
int mm_sup_journal_write(struct mm_sup_journal *j, const char *dir, const char *file,
			 const char *text, size_t len);
int mm_sup_journal_unlink(struct mm_sup_journal *j, const char *dir, const char *file);
bool mm_sup_journal_pending(const struct mm_sup_journal *j);
void mm_sup_journal_commit(struct mm_sup_journal *j);
void mm_sup_journal_free(struct mm_sup_journal *j);

/* sup_clients.c: the clients a stopped daemon had, expected back by the next one */
void mm_sup_clients_save(struct mm_sup *s);
void mm_sup_clients_keep(struct mm_sup *s);
void mm_sup_clients_restore(struct mm_sup *s);

/* sup_router.c */
int mm_sup_router_init(struct mm_sup *s);
int mm_sup_router_spawn(struct mm_sup *s);
void mm_sup_router_restart(struct mm_sup *s, const char *why);
void mm_sup_router_tick(struct mm_sup *s);
void mm_sup_router_session_failed(struct mm_sup *s, const char *name, bool permanent);
void mm_sup_router_unrouted(struct mm_sup *s, uint32_t idx, uint64_t n);
uint32_t mm_sup_router_next_idx(struct mm_sup *s);
void mm_sup_router_session_add(struct mm_sup *s, const struct mm_sup_child *c);
void mm_sup_router_session_remove(struct mm_sup *s, const struct mm_sup_child *c);
void mm_sup_router_clients(struct mm_sup *s);
void mm_sup_router_failed(struct mm_sup *s, const void *why, size_t len);

/* sup_metrics.c */
#define MM_SUP_SAMPLE_NS      MM_NS_PER_SEC	   /* rates and high-water marks: once a second */
#define MM_SUP_SAMPLE_IDLE_NS MM_CHAN_HEARTBEAT_NS /* ... or this, while nothing moves */
#define MM_SUP_RATE_WINDOW_S  10.0
bool mm_sup_metrics_sample(struct mm_sup *s, uint64_t now_ns);
const struct mm_stats_block *mm_sup_child_stats(struct mm_sup_child *c);
void mm_sup_metrics_retire(struct mm_sup *s, struct mm_sup_child *c);
int mm_sup_metrics_text(struct mm_sup *s, struct mm_metrics_buf *b);
void mm_sup_metrics_dump(struct mm_sup *s, bool periodic);
void mm_sup_metrics_tick(struct mm_sup *s, uint64_t now_ns);

/* sup_proc.c: the process_* metrics of the supervisor, the router and every worker */
size_t mm_sup_procs_fill(struct mm_sup *s, struct mm_metrics_process *out, size_t cap);
void mm_sup_pcache_done(struct mm_sup_pcache *pc);

/* sup_events.c: session events, logged and streamed to `events` readers (docs/events.md) */
struct mm_sup_events;
void mm_sup_events_poll(struct mm_sup *s, const struct mm_sup_child *c);
void mm_sup_events_added(struct mm_sup *s, const struct mm_sup_child *c);
void mm_sup_events_removed(struct mm_sup *s, const struct mm_sup_child *c);
void mm_sup_events_after(struct mm_sup *s, const struct mm_sup_child *c, enum mm_child_ev ev,
			 bool was_failed);
void mm_sup_events_unrouted(struct mm_sup *s, const struct mm_sup_child *c, uint64_t n);
void mm_sup_events_free(struct mm_sup *s);

/* sup_http.c: the optional metrics.http listener (opened at start; a reload does not move it) */
#define MM_HTTP_MAX_CONNS MM_CFG_HTTP_CONNS_MAX /* slots; metrics.http_max_connections used */
#define MM_HTTP_NFDS	  (1 + MM_HTTP_MAX_CONNS)
#define MM_HTTP_REQ_MAX	  4096 /* request head, bytes */
struct mm_sup_http;
void mm_sup_http_open(struct mm_sup *s);
void mm_sup_http_close(struct mm_sup *s);
void mm_sup_http_pollfds(const struct mm_sup *s, struct pollfd *pfd);
void mm_sup_http_dispatch(struct mm_sup *s, const struct pollfd *pfd);
int mm_sup_http_timeout(const struct mm_sup *s, int ms);

#endif /* MM_SUP_H */
