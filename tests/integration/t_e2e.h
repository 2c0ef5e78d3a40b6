/* SPDX-License-Identifier: MIT */
/*
 * Client processes of the end-to-end suite (test_e2e.c): a libmqttmux client with a few routes
 * that writes every message it gets, route by route, into a log file, and the parser of that
 * file. The client runs in a forked child: no criterion in it.
 */
#ifndef T_E2E_H
#define T_E2E_H

#include <stdint.h>

#define T_E2E_END    "end" /* the publisher's last message: a client stops after one per session */
#define T_E2E_PROBE  "probe"  /* see wait_subscribed() in test_e2e.c */
#define T_E2E_STREAM "s/data" /* the steady stream of the slow-client test */
#define T_E2E_NSESS  2
#define T_E2E_ROUTES 4

extern const char *const T_E2E_SESSION[T_E2E_NSESS]; /* "s1", "s2" */

enum t_e2e_kind {
	T_E2E_HANDLE = 0, /* mqttmux_handle[_to]: callback */
	T_E2E_LISTEN,	  /* mqttmux_listen[_to] + mqttmux_next */
	_T_E2E_KIND_MAX
};

struct t_e2e_route {
	const char *session; /* NULL: every session */
	const char *filter;
	enum t_e2e_kind kind;
};

/* A client: its routes; one of them must be the all-session T_E2E_END route. */
struct t_e2e_client {
	int nroutes;
	struct t_e2e_route routes[T_E2E_ROUTES];
};

/* One message a route got. */
struct t_e2e_rec {
	int route, session, seq; /* session: index in T_E2E_SESSION */
	char topic[32];
};

struct t_e2e_log {
	int n;
	struct t_e2e_rec *rec; /* in the order the client got them */
	uint64_t gaps;	       /* GAP callbacks */
	uint64_t gap_sum;      /* their lost counts added up */
	uint64_t lost;	       /* mqttmux_lost() at the end */
	uint64_t dropped;      /* mqttmux_route_dropped() of every listen route, added up */
};

/*
 * In a forked child: open <run>, add the routes of <spec>, write one byte to <ready_fd>, then
 * receive until T_E2E_END came from every session (or 60 s), logging to <path>. Returns the
 * exit status: 0, or 1 with the reason on stderr.
 */
int t_e2e_client_run(const struct t_e2e_client *spec, const char *run, const char *path,
		     int ready_fd);

/* The log a client wrote, or NULL (unreadable, malformed: a message on stderr). */
struct t_e2e_log *t_e2e_log_load(const char *path);
void t_e2e_log_free(struct t_e2e_log *l);

#endif /* T_E2E_H */
