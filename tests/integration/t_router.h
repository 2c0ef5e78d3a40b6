/* SPDX-License-Identifier: MIT */
/*
 * Test-side pieces for mqttmux-router: a session's rings as the worker sees them (we write
 * MSG/COMPLETION into the in-ring and read SUB/UNSUB/PUB from the cmd-ring) and a minimal
 * client speaking the raw router.sock protocol (common/proto.h). Criterion assertions inside.
 */
#ifndef T_ROUTER_H
#define T_ROUTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fdmap.h"
#include "proto.h"
#include "ring.h"

#define TMO 5000 /* ms, every wait of a router test */

struct t_rsess {
	int fds[MM_FD_SESS_N];	/* by enum mm_fd_sess (shm/fdmap.h) */
	struct mm_shm_ring in;	/* we produce (as the worker) */
	struct mm_shm_ring cmd; /* we consume */
};

struct t_rclient {
	int sock;
	int fds[MM_PROTO_WELCOME_NFDS];
	struct mm_shm_ring dlv, pub;
	uint32_t seq;
};

/* A record read from a client's delivery ring. */
struct t_rrec {
	uint16_t type;
	char topic[128], session[64];
	uint32_t nids, ids[8], session_idx;
	uint64_t lost, req_id;
	int32_t result;
};

#define T_RSESS_MAX 8 /* sessions t_router_start hands over */

void t_make_session(struct t_rsess *s);
void t_make_session_at(struct t_rsess *s, uint64_t start);
void t_router_start(const char *binary, const char *dir, const char *cfg, int (*fds)[MM_FD_SESS_N],
		    int nsess, pid_t *router, int *chan);
void t_router_add(int chan, uint32_t idx, const char *name, const int *fds);
void t_router_remove(int chan, uint32_t idx);
int t_cl_connect(struct t_rclient *c, const char *run);
ssize_t t_cl_recv(struct t_rclient *c, uint8_t *buf, int *fds, int *nfds, int tmo);
int t_cl_send_hello(struct t_rclient *c, uint16_t major);
void t_cl_expect_error(struct t_rclient *c, int code);
void t_cl_register(struct t_rclient *c, const char *run);
void t_cl_close(struct t_rclient *c);
int t_cl_route(struct t_rclient *c, uint32_t id, const char *session, const char *filter,
	       int on_full);
int t_cl_route_flags(struct t_rclient *c, uint32_t id, const char *session, const char *filter,
		     int on_full, uint16_t flags);
bool t_cl_read(struct t_rclient *c, struct t_rrec *t, int tmo);
void t_put_msg(struct t_rsess *s, const char *topic, const void *payload, uint32_t len);
void t_put_retained(struct t_rsess *s, const char *topic, const void *payload, uint32_t len,
		    bool retain);
void t_wait_drained(struct t_rsess *s);
int t_next_cmd(struct t_rsess *s, char *text, size_t cap, uint64_t *req_id, int tmo);
void t_expect_cmd(struct t_rsess *s, int type, const char *text);
void t_expect_sub(struct t_rsess *s, const char *text, uint8_t flags);
void t_expect_no_cmd(struct t_rsess *s);

#endif /* T_ROUTER_H */
