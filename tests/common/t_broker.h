/* SPDX-License-Identifier: MIT */
/*
 * A private Debian mosquitto broker for integration tests: each t_broker owns a fresh temporary
 * directory holding its config, log, persistence database and (for the Unix listener) its
 * socket, and one broker process started with fork+exec. It listens only on 127.0.0.1 or on a
 * Unix socket, so parallel runs never collide and no traffic leaves the machine. This is not a
 * mock: tests talk MQTT to the real broker, and can stop, kill and restart it.
 */
#ifndef T_BROKER_H
#define T_BROKER_H

#include <stdbool.h>
#include <sys/types.h>

enum t_broker_listener {
	T_BROKER_TCP = 0, /* 127.0.0.1, free port chosen at start */
	T_BROKER_UNIX,	  /* <dir>/broker.sock, port 0 */
	_T_BROKER_LISTENER_MAX
};

/*
 * How to configure the broker. A zeroed struct means: TCP, no TLS, no persistence. Strings are
 * only read by t_broker_start() (they go into the config file), so they may be freed after it.
 * extra_conf is copied verbatim (several lines separated by '\n' are fine) and must not turn
 * off "information" logging: readiness is read from the broker's "... running" log line.
 */
struct t_broker_opts {
	enum t_broker_listener listener;
	const char *cafile;	  /* TLS is on when certfile is set; cafile then required */
	const char *certfile;	  /* server certificate (PEM) */
	const char *keyfile;	  /* its private key (PEM) */
	bool require_certificate; /* TLS clients must present a certificate signed by cafile */
	bool persistence;	  /* keep sessions and queued messages across t_broker_restart() */
	const char *extra_conf;	  /* appended after the listener lines; may be NULL (see below) */
};

/*
 * A broker. Zero it before t_broker_start(); all strings are owned by the struct and released
 * by t_broker_free().
 */
struct t_broker {
	pid_t pid;	 /* running broker, 0 when stopped (always reaped) */
	int wstatus;	 /* wait status of the last broker process that ended */
	int port;	 /* TCP port; 0 for the Unix listener */
	char *host;	 /* host to give mosquitto_connect(): "127.0.0.1" or sock_path */
	char *sock_path; /* <dir>/broker.sock, NULL for TCP */
	char *dir;	 /* private temp dir, removed by t_broker_free() */
	char *conf_path; /* <dir>/mosquitto.conf */
	char *log_path;	 /* <dir>/broker.log: the broker's stdout and stderr, appended */
	off_t log_off;	 /* where the current (last started) run begins in log_path */
	bool tls;	 /* listener speaks TLS */
};

/*
 * t_broker_start - write a config into a new temp dir and start mosquitto with it
 * @b: zeroed broker, or one released by t_broker_free()
 * @o: options; NULL means all defaults
 *
 * Returns once the broker has logged that it is running and a connect() to its listener
 * succeeds (at most T_BROKER_START_MS). A TCP broker that cannot bind its port (another process
 * took it between our probe and mosquitto's bind) is retried on a fresh port a few times. On
 * failure the broker log is copied to stderr and all resources are released. Returns 0,
 * -EINVAL (bad options), -ENAMETOOLONG (socket path too long), -ESRCH (broker exited early),
 * -ETIMEDOUT (not up in time; killed) or another -errno from a failing system call.
 */
int t_broker_start(struct t_broker *b, const struct t_broker_opts *o);

/*
 * t_broker_stop - SIGTERM the broker and reap it
 *
 * A broker still alive after T_BROKER_STOP_MS gets SIGKILL. With persistence on, mosquitto
 * writes its database on SIGTERM, so stop + restart keeps sessions. Returns 0 (also when not
 * running), -ETIMEDOUT if SIGKILL was needed (the broker is reaped all the same) or -errno.
 */
int t_broker_stop(struct t_broker *b);

/*
 * t_broker_kill9 - SIGKILL the broker and reap it, simulating a crash (nothing is saved).
 * Returns 0 (also when not running) or -errno.
 */
int t_broker_kill9(struct t_broker *b);

/*
 * t_broker_restart - stop the broker (if running) and start it again with the same config: same
 * port or socket path, same persistence dir, same log. Returns 0, -EINVAL if @b was never
 * started, or an error of t_broker_start() (-ESRCH also if another process took the TCP port
 * meanwhile: the port is not changed); on error the broker stays stopped but @b keeps its
 * directory, so t_broker_free() is still needed.
 */
int t_broker_restart(struct t_broker *b);

/*
 * t_broker_restart_with - like t_broker_restart(), but with new options @o written into the
 * config first: same port or socket path, same persistence dir, same log, so a client that
 * reconnects finds a broker with, say, another server certificate where the old one was.
 * @o->listener must be the listener @b was started with. Returns 0, -EINVAL (never started,
 * another listener kind, or bad options) or an error of t_broker_restart(); the new config
 * stays in place for later restarts.
 */
int t_broker_restart_with(struct t_broker *b, const struct t_broker_opts *o);

/*
 * t_broker_free - stop the broker if running, remove its temp dir and free its strings. @b may
 * be NULL, zeroed, or already freed.
 */
void t_broker_free(struct t_broker *b);

#define T_BROKER_START_MS 5000
#define T_BROKER_STOP_MS  5000

#endif /* T_BROKER_H */
