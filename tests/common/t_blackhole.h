/* SPDX-License-Identifier: MIT */
/*
 * Hostile brokers for connect timeouts: a loopback TCP listener that never answers. Two kinds:
 * one whose accept queue is full, so the kernel drops every new SYN (a broker behind a
 * firewall that drops packets, or one too busy to accept), and one that completes the TCP
 * handshake (the kernel does it for the accept queue) and then never sends a byte (a broker
 * that accepts and never answers CONNECT). Nothing is ever read from it.
 */
#ifndef T_BLACKHOLE_H
#define T_BLACKHOLE_H

#include <stdbool.h>

enum t_blackhole_kind {
	T_BLACKHOLE_SILENT = 0, /* accepts (in the kernel's queue), never answers */
	T_BLACKHOLE_SYN_DROP,	/* accept queue full: SYNs are dropped, connect() hangs */
	_T_BLACKHOLE_KIND_MAX
};

struct t_blackhole {
	int lfd;	/* the listener, 127.0.0.1 */
	int fillers[2]; /* SYN_DROP: our own connections that fill the queue */
	int port;
};

/* Open one on a free port. Returns 0 or -errno; t_blackhole_close() releases it either way. */
int t_blackhole_open(struct t_blackhole *b, enum t_blackhole_kind kind);
void t_blackhole_close(struct t_blackhole *b);

#endif /* T_BLACKHOLE_H */
