/* SPDX-License-Identifier: MIT */
/*
 * The mqttmuxd supervisor: its runtime directory and lock (sup_runtime.c) and its event loop
 * over a signalfd, the children's control channels and the restart timers (sup_loop.c).
 * Process code, single-threaded; see docs/operations.md for the behaviour as operators see it.
 */
#ifndef MM_SUP_H
#define MM_SUP_H

#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "sup_child.h"
#include "sup_ctl.h"
#include "sup_fsm.h"

#define MM_SUP_LOCK_NAME "mqttmuxd.lock"

struct mm_sup {
	struct mm_cfg *cfg;	 /* owned; replaced by a successful reload */
	const char *config_path; /* absolute, handed to every worker; borrowed */
	char worker[PATH_MAX];	 /* worker binary */
	struct mm_sup_policy policy;
	struct mm_sup_child *children; /* one per session, in config order */
	size_t n_children;
	size_t cap_children;
	struct pollfd *pfd;	/* poll set: signalfd, one channel per child, control socket */
	int sig_fd;		/* signalfd: SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1 */
	bool stopping;		/* SIGTERM/SIGINT seen: stop everything, then return */
	struct mm_sup_ctl *ctl; /* control socket (sup_ctl.c); NULL until mm_sup_init() made it */
	uint64_t rng;
};

int mm_sup_mkdir_p(const char *path, unsigned mode);
int mm_sup_lock(const char *runtime_dir, int *ret_fd);
int mm_sup_signals_open(void);

int mm_sup_init(struct mm_sup *s, struct mm_cfg *cfg, const char *config_path, int sig_fd);
int mm_sup_run(struct mm_sup *s);
void mm_sup_done(struct mm_sup *s);

/* sup_loop.c, for sup_reload.c */
int mm_sup_child_add(struct mm_sup *s, const struct mm_cfg_session *sess);
void mm_sup_apply(struct mm_sup *s, struct mm_sup_child *c, enum mm_child_ev ev);
void mm_sup_spawn(struct mm_sup *s, struct mm_sup_child *c);

/* sup_reload.c */
void mm_sup_reload(struct mm_sup *s);

#endif /* MM_SUP_H */
