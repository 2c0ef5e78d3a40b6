/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux internals shared by client.c (connection, control frames, routes) and
 * client_io.c (delivery ring, listen queues, publishes). Not installed. See docs/client.md.
 */
#ifndef MM_CLIENT_INT_H
#define MM_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttmux.h"
#include "proto.h"
#include "ring.h"

#define MM_CL_CTL_TIMEOUT 5000 /* ms: WELCOME, ROUTE_ACK */
#define MM_CL_BUDGET	  1024 /* ring records per dispatch before yielding */
#define MM_CL_DEPTH_MAX	  (1u << 20)

/* A queued copy of a message (listen routes): one allocation, strings and bytes after it. */
struct mm_cl_qmsg {
	struct mqttmux_msg m;
	/* session, topic, payload, props follow */
};

struct mqttmux_route {
	struct mqttmux *c;
	struct mqttmux_route *next;
	uint32_t id;
	mqttmux_msg_fn *fn; /* NULL: a listen route */
	void *ud;
	struct mm_cl_qmsg **q; /* listen: ring of <depth> copies */
	size_t depth, head, n;
	struct mm_cl_qmsg *cur; /* the message mqttmux_next returned last */
	uint64_t dropped;
};

/* A publish waiting for its PUB_DONE. Blocking publishes keep theirs on the stack. */
struct mm_cl_pub {
	struct mm_cl_pub *next;
	uint64_t req_id;
	mqttmux_pub_fn *fn;
	void *ud;
	bool async, done;
	int result;
};

struct mqttmux {
	int sock, epfd;
	int fds[MM_PROTO_WELCOME_NFDS];
	struct mm_shm_ring dlv, pub;
	uint32_t seq, next_route, features, client_id;
	uint64_t next_req, lost;
	uint64_t token;	      /* HELLO.token: random, non-zero, the same on every (re)connect */
	int route_qos, depth; /* depth: nesting of dispatch inside callbacks */
	bool dead;
	struct mqttmux_route *routes;
	struct mm_cl_pub *pubs;
	mqttmux_gap_fn *gap_fn;
	void *gap_ud;
	char *scratch;	/* session and topic of the message being dispatched, NUL-terminated */
	uint8_t *frame; /* MM_PROTO_MAX_FRAME bytes, for control frames */
};

int64_t mm_cl_now_ms(void);
int mm_cl_left_ms(int64_t deadline);
int mm_cl_service_sock(struct mqttmux *c);
struct mqttmux_route *mm_cl_route_find(struct mqttmux *c, uint32_t id);
void mm_cl_route_free(struct mqttmux_route *r);
int mm_cl_dispatch(struct mqttmux *c, int timeout_ms);

#endif /* MM_CLIENT_INT_H */
