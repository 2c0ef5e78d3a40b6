/* SPDX-License-Identifier: MIT */
/*
 * Shared parts of the restart benchmark (bench-restart): a private mosquitto on 127.0.0.1, the
 * real mqttmuxd with one session, and a kept-open connection to its control socket.
 * Benchmark code: never linked into mqttmux itself.
 */
#ifndef B_RESTART_H
#define B_RESTART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mm_time.h"

/* The one session the daemon runs, and the filter it subscribes. */
#define B_SESSION "bench"
#define B_FILTER  "bench/restart/#"

/* Seconds to wait for the broker, the daemon or the first READY before giving up. */
#define B_START_S 10

/* Seconds for the daemon's reply to a control command that is not a `wait`. */
#define B_CTL_S 60

struct b_env {
	char *dir;	/* private temp dir: configs, logs, runtime_dir */
	int port;	/* the broker's TCP port on 127.0.0.1 */
	pid_t broker;	/* mosquitto, 0 when stopped */
	pid_t daemon;	/* mqttmuxd, 0 when stopped */
	int ctl;	/* connection to <dir>/run/control.sock, -1 when closed */
	char buf[8192]; /* reply bytes read but not yet consumed */
	size_t len;
};

/* b_proc.c */
void b_sleep_ns(uint64_t ns);
int b_env_init(struct b_env *e, const char *name);
int b_broker_start(struct b_env *e);
int b_broker_restart(struct b_env *e, uint64_t down_ns);
int b_daemon_start(struct b_env *e, const char *mqttmuxd, const char *worker);
int b_daemon_start_cfg(struct b_env *e, const char *mqttmuxd, const char *worker, const char *cfg);
int b_ctl(struct b_env *e, const char *cmd, char *reply, size_t size);
int b_ctl_within(struct b_env *e, const char *cmd, char *reply, size_t size, uint64_t timeout_ns);
pid_t b_status_pid(struct b_env *e);
void b_env_free(struct b_env *e, bool keep);

#endif /* B_RESTART_H */
