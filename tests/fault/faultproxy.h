/* SPDX-License-Identifier: MIT */
/*
 * mm-faultproxy internals (see faultproxy.c for the tool): the proxy state, the connection
 * pairs and their per-direction chunk queues. faultproxy.c owns the sockets and the commands,
 * fp_conn.c moves the bytes (delay, throttle, half-close).
 */
#ifndef FAULTPROXY_H
#define FAULTPROXY_H

#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define FP_MAX_CONNS 2048
#define FP_QUEUE_CAP (256u << 10) /* bytes held per direction before we stop reading */
#define FP_CHUNK     16384u
#define FP_CLOSE_FIN (-1) /* fp_conn_service: the pair is done, close it plainly */
#define FP_CLOSE_RST (-2) /* ... it broke, reset both sides */

enum fp_mode {
	FP_PASS = 0,
	FP_BLACKHOLE, /* nothing moves, nothing closes */
	FP_REFUSE,    /* new connections are reset at once */
	_FP_MODE_MAX
};

/* Bytes read at <at_ns> and released to the other side at <release_ns>. */
struct fp_chunk {
	struct fp_chunk *next;
	uint64_t release_ns; /* CLOCK_MONOTONIC */
	size_t len, off;
	uint8_t data[];
};

/* One direction: 0 client -> upstream, 1 upstream -> client. */
struct fp_dir {
	struct fp_chunk *head, *tail;
	size_t queued;	    /* bytes in the chunks, not yet written */
	bool eof;	    /* the source side shut down its writing side */
	bool shut;	    /* ... and we passed that on (shutdown SHUT_WR) */
	double tokens;	    /* throttle bucket, bytes */
	uint64_t refill_ns; /* last refill */
};

struct fp_conn {
	int cfd, ufd;	 /* client side (accepted), upstream side (-1 until connected) */
	bool connecting; /* the upstream connect is in progress */
	bool blackholed;
	int pidx;    /* its first entry in the poll array, -1 if not in it */
	uint64_t id; /* its number, from 1, in accept order (the events log) */
	struct fp_dir dir[2];
};

struct fp {
	int lfd, ctl, cfd; /* TCP listener, control listener, control connection (-1) */
	int port;
	struct sockaddr_in target;
	enum fp_mode mode;
	uint64_t delay_ns;
	uint64_t rate; /* bytes/s per direction per connection, 0: unlimited */
	FILE *events;
	char cbuf[512];
	size_t clen;
	struct fp_conn *conns[FP_MAX_CONNS];
	size_t nconns, active;
	uint64_t accepted, bytes[2];
	struct pollfd *pfd;
	size_t npfd, pfd_cap;
};

uint64_t fp_now_ns(clockid_t clk);

/* fp_conn.c */
void fp_queue_clear(struct fp_dir *d);
struct pollfd *fp_poll_build(struct fp *p);
int fp_poll_timeout(const struct fp *p);
int fp_conn_service(struct fp *p, struct fp_conn *c, const struct pollfd *pfd);

#endif /* FAULTPROXY_H */
