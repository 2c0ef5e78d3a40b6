/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the suites that run mqttmuxd as a process (control, persist, supervisor,
 * metrics): the test directory, starting and stopping the daemon, its log, config files, the
 * control socket, the mqttmux CLI and `status --json`. Criterion assertions inside.
 */
#ifndef T_DAEMON_H
#define T_DAEMON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "t_broker.h"

void t_daemon_setup(const char *tag, char **dir, char **log, char **run, char **sock);
void t_daemon_dump_log(const char *log);
void t_daemon_kill(pid_t *daemon, const char *log);
void t_daemon_teardown(pid_t *daemon, const char *log, struct t_broker *b, const char *dir);
/* free() each of the NULL-terminated <paths> and set it to NULL (a suite's teardown). */
void t_daemon_free_paths(char **const paths[]);
/*
 * For the suites with one session per protocol on one broker (bounds, flood): write
 * <dir>/mqttmux.cfg (runtime_dir <dir>/run, as t_daemon_setup names it, state_dir <dir>/state,
 * the top-level settings <extra>, sessions "v311" on MQTT 3.1.1 and "v5" on MQTT 5 at
 * 127.0.0.1:<port> with client ids "<tag>-311" and "<tag>-5"), spawn <daemon> with <worker> and
 * <router>, and wait until its control socket answers. The daemon's pid.
 */
pid_t t_daemon_start_v311_v5(const char *daemon, const char *worker, const char *router,
			     const char *dir, const char *log, int port, const char *tag,
			     const char *extra);
pid_t t_daemon_spawn(const char *daemon, const char *cfg, const char *log, const char *worker,
		     const char *router, const char *opt);
struct rlimit;
pid_t t_daemon_spawn_nofile(const char *daemon, const char *cfg, const char *log,
			    const char *worker, const char *router, const char *opt,
			    const struct rlimit *nofile);
void t_daemon_stop(pid_t *daemon);
void t_write_text(const char *path, const char *text);
int t_ctl_connect(const char *sock);
char *t_ctl_read_reply(int fd, int ms);
void t_ctl_send(int fd, const char *s);
int t_ctl_read_oks(int fd, int n, int ms);
char *t_ctl_command(const char *sock, const char *line);
void t_ctl_ok(const char *sock, const char *line, int ms);
bool t_ctl_pongs(void *sock);
int t_cli(const char *cli, const char *run, char *out, size_t osize, char *err, size_t esize,
	  const char *const *args);
json_object *t_status_json(const char *cli, const char *run);
json_object *t_json_row(json_object *a, const char *name);

int t_refused_port(int *fd);
pid_t t_daemon_child(pid_t daemon, const char *session);

#endif /* T_DAEMON_H */
