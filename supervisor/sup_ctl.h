/* SPDX-License-Identifier: MIT */
/*
 * The control socket <runtime_dir>/control.sock of mqttmuxd: AF_UNIX, SOCK_STREAM, mode 0660,
 * peers checked with SO_PEERCRED. One command per line (at most MM_CTL_LINE_MAX bytes), one
 * JSON document per line in reply; the connection stays open for more commands. Everything is
 * non-blocking and driven by the supervisor's poll loop (sup_loop.c), so a slow or hostile
 * client can never stall it. sup_ctl.c owns the socket and the connections, sup_ctl_reply.c
 * their reply buffers, sup_ctl_cmd.c the commands and their JSON replies (json-c). The
 * protocol is in docs/operations.md; its constants in common/ctl.h.
 *
 * Process code of mqttmuxd (single-threaded).
 */
#ifndef MM_SUP_CTL_H
#define MM_SUP_CTL_H

#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cfg.h"
#include "ctl.h"
#include "fd_pause.h"

#define MM_CTL_MAX_CONNS      64		     /* more: error reply and close at once */
#define MM_CTL_NFDS	      (1 + MM_CTL_MAX_CONNS) /* poll entries: listener, then connections */
#define MM_CTL_RECHECK_MS     10	   /* waiters re-check the stats blocks this often */
#define MM_CTL_ACCEPT_BURST   16	   /* connections accepted per loop turn */
#define MM_CTL_LINES_PER_TURN 32	   /* commands run per connection per loop turn */
#define MM_CTL_EVENTS_BUF     (256u << 10) /* unsent `events` lines per reader, at most */
#define MM_CTL_OUT_MIN	      1024u	   /* first allocation of a reply buffer */
#define MM_CTL_PASS_FDS_MAX   4 /* descriptors read per message; more are closed by the kernel */

struct mm_ctl_conn {
	int fd; /* -1: free slot */
	uid_t uid;
	pid_t pid;	    /* of the peer when it connected, for the log */
	bool admin;	    /* may add, remove, restart, reload (clients.admin_uids/admin_gids) */
	bool owner;	    /* root or our uid: may name files the daemon reads */
	int passed_fd;	    /* a descriptor the peer sent (SCM_RIGHTS) for its next `add`, or -1 */
	uint64_t active_ns; /* CLOCK_MONOTONIC: accepted, or its last command run or answered */
	bool eof;	    /* the peer shut down its writing side */
	bool closing;	    /* close once the reply is written */
	bool held; /* <out> waits for the state files of this turn (mm_sup_ctl_release()) */
	size_t in_len;
	char in[MM_CTL_LINE_MAX];
	char *out;			     /* reply being written (malloc'd), or NULL */
	size_t out_len;			     /* bytes in <out>: sent ones first, then unsent ones */
	size_t out_off;			     /* bytes of <out> already sent */
	size_t out_cap;			     /* bytes allocated at <out> */
	bool waiting;			     /* a `wait` is pending */
	bool wait_all;			     /* ... for every session */
	char wait_name[MM_CFG_NAME_MAX + 1]; /* ... or for this one */
	double wait_s;			     /* its timeout as asked */
	uint64_t wait_deadline_ns;	     /* CLOCK_MONOTONIC */
	bool events; /* `events` given: a stream of events, no more commands */
	char events_name[MM_CFG_NAME_MAX + 1]; /* ... of this session only; "" for all */
	uint64_t events_lost;		       /* ... not queued (buffer full), not yet told */
};

struct mm_sup_ctl {
	int fd;			  /* listening socket */
	struct mm_fd_pause pause; /* not accepting: out of descriptors (common/fd_pause.h) */
	char path[PATH_MAX];
	struct mm_ctl_conn conns[MM_CTL_MAX_CONNS];
};

struct mm_sup;
struct json_object;

/* sup_ctl.c */
int mm_sup_ctl_open(struct mm_sup *s);
void mm_sup_ctl_close(struct mm_sup *s);
void mm_sup_ctl_pollfds(const struct mm_sup *s, struct pollfd *pfd);
void mm_sup_ctl_dispatch(struct mm_sup *s, const struct pollfd *pfd);
int mm_sup_ctl_timeout(const struct mm_sup *s, int ms);
void mm_sup_ctl_release(struct mm_sup *s);

/* sup_ctl_reply.c */
void mm_sup_ctl_reply(struct mm_ctl_conn *c, struct json_object *o);
void mm_sup_ctl_reply_raw(struct mm_ctl_conn *c, const char *text, size_t len);
void mm_sup_ctl_stream(struct mm_ctl_conn *c, const char *line, size_t len);
void mm_sup_ctl_error(struct mm_ctl_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* sup_ctl_cmd.c */
void mm_sup_ctl_command(struct mm_sup *s, struct mm_ctl_conn *c, char *line);
void mm_sup_ctl_wait_check(struct mm_sup *s, struct mm_ctl_conn *c);
struct json_object *mm_sup_ctl_status(struct mm_sup *s, const char *name);

/* sup_session.c */
struct mm_sup_child;
struct mm_stats_block;
bool mm_sup_stats_current(const struct mm_sup_child *c, const struct mm_stats_block *st);
enum mm_ctl_state mm_sup_session_state(const struct mm_sup_child *c,
				       const struct mm_stats_block *st);

#endif /* MM_SUP_CTL_H */
