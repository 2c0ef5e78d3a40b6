/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the metrics integration suite: the daemon under test (mqttmuxd with sessions "one"
 * and "two.b-x" on a real broker), its control socket, a publisher, promtool and raw HTTP.
 */
#ifndef T_METRICS_H
#define T_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "t_broker.h"

#define PROMTOOL    "/usr/bin/promtool"
#define END	    "\n# EOF\n"
#define MM_HTTP_REQ 4096 /* MM_HTTP_REQ_MAX of supervisor/sup.h */

extern struct t_broker B;
extern char *Dir, *Cfg, *Log, *Run, *Sock, *Prom;
extern pid_t Daemon;
extern int Http_port; /* metrics.http on 127.0.0.1, if not 0 */

void setup(void);
void teardown(void);
void write_config(bool textfile);
void write_config_with(bool textfile, const char *sess, const char *extra);
char *request(const char *line, const char *end);
char *metrics(void);
double value(const char *text, const char *name, const char *session);
bool ready(void *ud);
void start_daemon(void);
void stop_daemon(void);
void publish(int n);
pid_t worker_of(const char *session);
pid_t router_of(void);
bool logged(void *ud);
int promtool_check(const char *text, size_t len, char *out, size_t cap);
void expect_promtool_ok(char *text);
int free_port(void);

/*
 * A paced publisher in a child process: QoS 0 "x" to t/<topic>, one message every 1e9 / rate
 * ns on absolute deadlines (clock_nanosleep TIMER_ABSTIME, so a late message does not shift
 * the ones after it), for <secs> seconds. ts[i] is when message i went out (CLOCK_MONOTONIC,
 * the clock of t_now_ns() and of the supervisor); n how many have gone out so far.
 */
#define PACE_MAX 20000
struct pace {
	pid_t pid;
	_Atomic unsigned n;
	uint64_t ts[PACE_MAX];
};
struct pace *pace_start(const char *topic, unsigned rate, unsigned secs);
unsigned pace_count(const struct pace *p, uint64_t from_ns, uint64_t to_ns);
void pace_done(struct pace *p);
int http_connect(void);
char *http_get(const char *req, size_t len, int ms);

#endif /* T_METRICS_H */
