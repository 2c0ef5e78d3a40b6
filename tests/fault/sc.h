/* SPDX-License-Identifier: MIT */
/*
 * mm-scenario: the fault scenarios of docs/reliability.md, each a function that builds its
 * world (a private mosquitto, mqttmuxd with N sessions, optionally the fault proxy between the
 * workers and the broker, the load generator and checker), breaks things on a schedule, and
 * records figures, each against its target. The short form runs in the `fault` suite; the long
 * form (--long) in scripts/soak. Exit status: 0 every target met, 1 a target missed or the run
 * broke, 77 skipped (the machine cannot run it, e.g. no tmpfs mount).
 */
#ifndef SC_H
#define SC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "t_broker.h"

#define SC_MAX_FIG 64
#define SC_WAIT_MS 60000 /* generous: the suite must pass on a busy 2-core machine */
#define SC_SKIP	   77

enum sc_op {
	SC_LE = 0, /* value <= target */
	SC_GE,	   /* value >= target */
	SC_INFO,   /* no target: a measurement only */
	_SC_OP_MAX
};

struct sc_fig {
	char name[64];
	double value, target;
	enum sc_op op;
	char unit[16];
};

/* What a scenario's daemon looks like. Zero means: defaults as commented. */
struct sc_cfg {
	int sessions;	   /* s0..s<n-1>, each subscribed to lg/<i> at QoS 1 */
	bool persistent;   /* persistent sessions (clean session off) */
	bool via_proxy;	   /* workers connect through the fault proxy */
	int keepalive;	   /* seconds; 0: 60 */
	double rc_initial; /* worker reconnect timing; 0: config defaults */
	double rc_max;
	const char *extra;     /* more top-level config (clients, restart groups...) */
	const char *state_dir; /* NULL: <dir>/state */
};

struct sc_env {
	const char *name;
	bool long_form;
	char *dir, *run, *state, *cfg_path, *log, *out;
	struct t_broker broker;
	struct sc_cfg cfg;
	pid_t daemon, proxy;
	int proxy_port;
	char *proxy_sock, *proxy_events;
	struct sc_fig fig[SC_MAX_FIG];
	size_t nfig;
	bool broke; /* the run itself failed (not a figure) */
};

/* sc_env.c: the world */
int sc_env_init(struct sc_env *e, const char *name, bool long_form, const char *out);
void sc_env_done(struct sc_env *e);
int sc_broker_start(struct sc_env *e, bool persistence);
int sc_daemon_start(struct sc_env *e, const struct sc_cfg *cfg);
int sc_daemon_wait_ready(struct sc_env *e, int ms);
void sc_daemon_stop(struct sc_env *e);
void sc_daemon_kill9(struct sc_env *e);
char *sc_ctl(const struct sc_env *e, const char *line);
pid_t sc_spawn(const struct sc_env *e, const char *const *argv, const char *log);
int sc_reap(pid_t pid, int ms);
void sc_kill(pid_t *pid);
char *sc_path(const struct sc_env *e, const char *name);
void sc_fail(struct sc_env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sc_note(const struct sc_env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool sc_wait(bool (*cond)(void *ud), void *ud, int ms);
uint64_t sc_now_ns(void);
uint64_t sc_realtime_ns(void);
void sc_sleep_until(uint64_t mono_ns);

/* sc_proxy.c: the fault proxy; sc_net.c: its log and the daemon's event lines */
int sc_proxy_start(struct sc_env *e);
int sc_proxy_cmd(struct sc_env *e, const char *cmd);
struct sc_pev {
	bool accept; /* else a close */
	uint64_t ns; /* CLOCK_REALTIME */
	uint64_t id; /* the connection */
};
size_t sc_proxy_events(const struct sc_env *e, struct sc_pev *ev, size_t max);
struct json_object;
int sc_log_events(const struct sc_env *e, const char *type,
		  void (*fn)(struct json_object *data, void *ud), void *ud);

/* sc_load.c: the load generator and checker */
struct sc_load {
	int streams, qos;
	const char *qos_list; /* NULL: every stream at <qos>; else e.g. "1,0" (per stream) */
	int id;		      /* several checkers on one publisher: check-<id>.* */
	double rate, secs, drain;
	char *pub_report, *check_report, *ready;
	pid_t pub, check;
	struct json_object *pub_json, *check_json;
};
int sc_load_check_start(struct sc_env *e, struct sc_load *l);
int sc_load_pub_start(struct sc_env *e, struct sc_load *l);
int sc_load_finish(struct sc_env *e, struct sc_load *l);
void sc_load_free(struct sc_load *l);
uint64_t sc_load_sum(const struct sc_load *l, const char *key);
uint64_t sc_load_sum_qos(const struct sc_load *l, const char *key, int qos);
uint64_t sc_load_top(const struct sc_load *l, const char *key);
uint64_t sc_load_stream(const struct sc_load *l, int stream, const char *key);
double sc_load_min_rate(const struct sc_load *l, int stream, int from_s, int to_s, int win);
double sc_load_mean_rate(const struct sc_load *l, int stream, int from_s, int to_s);

/* sc_kill.c: shared by the scenarios */
int sc_world(struct sc_env *e, const struct sc_cfg *c);
void sc_load_figures(struct sc_env *e, const struct sc_load *l);

/* sc_fig.c: figures */
void sc_fig(struct sc_env *e, const char *name, double value, enum sc_op op, double target,
	    const char *unit);
int sc_report(struct sc_env *e);

/* The scenarios (sc_kill.c, sc_net.c, sc_misc.c, sc_soak.c); each returns via sc_report. */
int sc_kill_worker(struct sc_env *e);
int sc_kill_router(struct sc_env *e);
int sc_kill_client(struct sc_env *e);
int sc_kill_daemon(struct sc_env *e);
int sc_broker_restarts(struct sc_env *e);
int sc_proxy_cuts(struct sc_env *e);
int sc_blackhole(struct sc_env *e);
int sc_reconnect_storm(struct sc_env *e);
int sc_signal_storm(struct sc_env *e);
int sc_disk_full(struct sc_env *e);
int sc_soak(struct sc_env *e);

#endif /* SC_H */
