/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the metrics integration suite: the daemon under test (mqttmuxd with sessions "one"
 * and "two.b-x" on a real broker), its control socket, a publisher, promtool and raw HTTP.
 */
#ifndef T_METRICS_H
#define T_METRICS_H

#include <stdbool.h>
#include <stddef.h>
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
char *request(const char *line, const char *end);
char *metrics(void);
double value(const char *text, const char *name, const char *session);
bool ready(void *ud);
void start_daemon(void);
void stop_daemon(void);
void publish(int n);
pid_t worker_of(const char *session);
bool logged(void *ud);
int promtool_check(const char *text, size_t len, char *out, size_t cap);
int free_port(void);
int http_connect(void);
char *http_get(const char *req, size_t len, int ms);

#endif /* T_METRICS_H */
