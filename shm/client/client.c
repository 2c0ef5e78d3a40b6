/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux, the connection side: open/close, one connection's handshake on router.sock and
 * its teardown, control frames (ROUTE_ADD/DEL and their replies, PING, REJOINED,
 * SESSIONS_LIST), and the route objects. The delivery ring, listen queues and publishes are in
 * client_io.c, what happens when the router goes away in client_conn.c. See docs/client.md and
 * docs/protocol.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"
#include "ctl.h"
#include "mm_time.h"

static int send_frame(struct mqttmux *c, ssize_t n)
{
	int rc;

	if (n < 0)
		return (int)n;
	if (!mm_cl_conn_can_send(c->conn) || c->sock < 0)
		return -ENOTCONN;
	rc = mm_proto_send(c->sock, c->frame, (size_t)n, NULL, 0);
	if (rc == -EPIPE || rc == -ECONNRESET)
		(void)mm_cl_fsm_feed(&c->conn, MM_CL_EV_FAILED);
	return mm_cl_conn_can_send(c->conn) ? rc : -ENOTCONN;
}

/*
 * Handle one received frame that nobody waits for: answer PING, collect SESSIONS, note a
 * fatal ERROR. Returns 0, or -ENOTCONN when the router closed or said goodbye.
 */
static int handle_frame(struct mqttmux *c, size_t len, const struct mm_proto_hdr *h)
{
	struct mm_proto_ping p;

	if (h->type == MM_PROTO_PING && mm_proto_unpack_ping(c->frame, len, &p) == 0)
		return send_frame(c, mm_proto_pack_pong(c->frame, MM_PROTO_MAX_FRAME, &p)) == 0
			       ? 0
			       : -ENOTCONN;
	if (h->type == MM_PROTO_SESSIONS)
		(void)mm_cl_on_sessions(c, len);
	if (h->type == MM_PROTO_ROUTE_ACK ||
	    (h->type == MM_PROTO_ERROR && !(h->flags & MM_PROTO_F_FATAL)))
		mm_cl_rereg_answer(c, h, len);
	if (h->type == MM_PROTO_ERROR && (h->flags & MM_PROTO_F_FATAL))
		(void)mm_cl_fsm_feed(&c->conn, MM_CL_EV_FAILED);
	return mm_cl_conn_can_send(c->conn) ? 0 : -ENOTCONN;
}

/* Receive one frame without blocking. Returns its length, -EAGAIN, or -ENOTCONN. */
static ssize_t recv_frame(struct mqttmux *c, struct mm_proto_hdr *h)
{
	int fds[MM_PROTO_MAX_FDS], nfds = MM_PROTO_MAX_FDS;
	ssize_t n;

	if (!mm_cl_conn_can_send(c->conn) || c->sock < 0)
		return -ENOTCONN;
	n = mm_proto_recv(c->sock, c->frame, MM_PROTO_MAX_FRAME, fds, &nfds);
	if (n == -EAGAIN)
		return n;
	for (int i = 0; n > 0 && i < nfds; i++)
		close(fds[i]);
	if (n <= 0 || nfds > 0 || mm_proto_unpack_header(c->frame, (size_t)n, h) < 0) {
		(void)mm_cl_fsm_feed(&c->conn, MM_CL_EV_FAILED);
		return -ENOTCONN;
	}
	return n;
}

/* Handle every frame waiting on the socket. Returns 0 or -ENOTCONN. */
int mm_cl_service_sock(struct mqttmux *c)
{
	struct mm_proto_hdr h;
	ssize_t n;
	int rc;

	while ((n = recv_frame(c, &h)) > 0)
		if ((rc = handle_frame(c, (size_t)n, &h)) < 0)
			return rc;
	return n == -EAGAIN ? 0 : (int)n;
}

/*
 * Wait at most MM_CL_CTL_TIMEOUT for the ROUTE_ACK or ERROR answering <seq>, handling other
 * frames meanwhile. Returns 0 (ACK), -code (ERROR), -ETIMEDOUT or -ENOTCONN.
 */
static int ctl_wait(struct mqttmux *c, uint32_t seq)
{
	int64_t deadline = mm_time_mono_ms() + MM_CL_CTL_TIMEOUT;
	struct pollfd p = { .fd = c->sock, .events = POLLIN };
	struct mm_proto_error e;
	struct mm_proto_hdr h;
	ssize_t n;

	for (;;) {
		n = recv_frame(c, &h);
		if (n == -EAGAIN) {
			if (poll(&p, 1, mm_time_left_ms(deadline)) == 0)
				return -ETIMEDOUT;
			continue;
		}
		if (n < 0)
			return (int)n;
		if (h.seq == seq && h.type == MM_PROTO_ROUTE_ACK)
			return 0;
		if (h.seq == seq && h.type == MM_PROTO_ERROR && !(h.flags & MM_PROTO_F_FATAL) &&
		    mm_proto_unpack_error(c->frame, (size_t)n, &e) == 0)
			return -e.code;
		if (handle_frame(c, (size_t)n, &h) < 0)
			return -ENOTCONN;
	}
}

static int sock_connect(const char *dir, int *ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/" MM_PROTO_SOCK_NAME, dir) >=
	    sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) == -1) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	*ret = fd;
	return 0;
}

/* Wait for WELCOME (or a fatal ERROR) and keep its six descriptors. */
static int recv_welcome(struct mqttmux *c, struct mm_proto_welcome *w)
{
	struct pollfd p = { .fd = c->sock, .events = POLLIN };
	struct mm_proto_error e;
	int fds[MM_PROTO_MAX_FDS], nfds = MM_PROTO_MAX_FDS;
	ssize_t n;

	if (poll(&p, 1, MM_CL_CTL_TIMEOUT) != 1)
		return -ETIMEDOUT;
	n = mm_proto_recv(c->sock, c->frame, MM_PROTO_MAX_FRAME, fds, &nfds);
	if (n == -ECONNRESET) {
		/* a router that closed with our HELLO unread (it refused us): ECONNRESET comes
		 * once, then the ERROR frame it sent before closing */
		nfds = MM_PROTO_MAX_FDS;
		n = mm_proto_recv(c->sock, c->frame, MM_PROTO_MAX_FRAME, fds, &nfds);
	}
	if (n <= 0)
		return n == 0 ? -ECONNRESET : (int)n;
	if (nfds == MM_PROTO_WELCOME_NFDS && mm_proto_unpack_welcome(c->frame, (size_t)n, w) == 0) {
		memcpy(c->fds, fds, sizeof(c->fds));
		return 0;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (nfds == 0 && mm_proto_unpack_error(c->frame, (size_t)n, &e) == 0)
		return -e.code;
	return -EPROTO;
}

static int handshake(struct mqttmux *c)
{
	const char *name = program_invocation_short_name;
	struct mm_proto_hello h = { .seq = ++c->seq,
				    .major = MM_PROTO_VERSION_MAJOR,
				    .minor = MM_PROTO_VERSION_MINOR,
				    .features = MM_PROTO_FEAT_PUB_ALL | MM_PROTO_FEAT_EVENTS,
				    .token = c->token,
				    .name = { (const uint8_t *)name,
					      (uint32_t)strnlen(name, 255) } };
	struct mm_proto_welcome w;
	int rc = send_frame(c, mm_proto_pack_hello(c->frame, MM_PROTO_MAX_FRAME, &h)), why;

	/*
	 * A router that refuses this peer (clients.allow_*) sends ERROR(EACCES) and closes at
	 * once, so the HELLO may fail to go out while the reason waits in the socket: read it.
	 */
	if (rc == -ENOTCONN || rc == -EPIPE || rc == -ECONNRESET) {
		why = recv_welcome(c, &w);
		return why < 0 && why != -ECONNRESET && why != -ETIMEDOUT ? why : rc;
	}
	if (rc == 0)
		rc = recv_welcome(c, &w);
	if (rc < 0)
		return rc;
	c->features = w.features;
	c->client_id = w.client_id;
	return 0;
}

static int attach(struct mqttmux *c)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int rc;

	rc = mm_shm_ring_attach(&c->dlv, c->fds[MM_PROTO_FD_DLV_RING], MM_SHM_RING_CONSUMER,
				c->fds[MM_PROTO_FD_DLV_DATA], c->fds[MM_PROTO_FD_DLV_SPACE], NULL,
				0);
	if (rc < 0)
		return rc;
	rc = mm_shm_ring_attach(&c->pub, c->fds[MM_PROTO_FD_PUB_RING], MM_SHM_RING_PRODUCER,
				c->fds[MM_PROTO_FD_PUB_DATA], c->fds[MM_PROTO_FD_PUB_SPACE], NULL,
				0);
	if (rc < 0) {
		mm_shm_ring_detach(&c->dlv);
		c->dlv.hdr = NULL;
		return rc;
	}
	ev.data.fd = c->sock;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->sock, &ev) == -1)
		return -errno;
	/* edge-triggered, never read: dispatch's epoll_wait takes its edge (client_io.c) */
	ev.events = EPOLLIN | EPOLLET;
	ev.data.fd = c->fds[MM_PROTO_FD_DLV_DATA];
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) == -1)
		return -errno;
	return 0;
}

/* A random non-zero token; getrandom cannot fail short for 8 bytes once the pool is ready. */
static uint64_t new_token(void)
{
	uint64_t t = 0;

	while (!t)
		if (getrandom(&t, sizeof(t), 0) != (ssize_t)sizeof(t))
			t = (uint64_t)mm_time_mono_ms() ^ (uint64_t)getpid() << 40;
	return t;
}

/*
 * One connection: connect, HELLO (with the client's token), WELCOME, attach the new rings and
 * add the socket and the ring's doorbell to the epoll. On failure the caller tears down with
 * mm_cl_disconnect. Returns 0 or -errno.
 */
int mm_cl_connect(struct mqttmux *c)
{
	int rc;

	rc = sock_connect(c->dir, &c->sock);
	if (rc == 0)
		rc = handshake(c);
	if (rc == 0)
		rc = attach(c);
	return rc;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Tear down the current connection (any part of it); the epoll, routes and publishes stay. */
void mm_cl_disconnect(struct mqttmux *c)
{
	if (c->epfd >= 0 && c->sock >= 0)
		(void)epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->sock, NULL);
	if (c->epfd >= 0 && c->fds[MM_PROTO_FD_DLV_DATA] >= 0)
		(void)epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fds[MM_PROTO_FD_DLV_DATA], NULL);
	if (c->dlv.hdr)
		mm_shm_ring_detach(&c->dlv);
	if (c->pub.hdr)
		mm_shm_ring_detach(&c->pub);
	c->dlv.hdr = NULL;
	c->pub.hdr = NULL;
	for (int i = 0; i < MM_PROTO_WELCOME_NFDS; i++)
		close_fd(&c->fds[i]);
	close_fd(&c->sock);
}

static struct mqttmux *client_new(const char *dir)
{
	struct mqttmux *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->token = new_token();
	c->sock = c->epfd = c->tfd = -1;
	for (int i = 0; i < MM_PROTO_WELCOME_NFDS; i++)
		c->fds[i] = -1;
	c->route_qos = 1;
	c->conn = MM_CL_CONNECTING;
	c->backoff = MM_CL_BACKOFF_MIN;
	c->pend_tail = &c->pend;
	c->dir = strdup(dir);
	c->frame = malloc(MM_PROTO_MAX_FRAME);
	c->scratch = malloc(MM_PROTO_MAX_FRAME + MM_PROTO_NAME_MAX + 2);
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!c->dir || !c->frame || !c->scratch || c->epfd < 0 || mm_cl_timer_open(c) < 0) {
		mqttmux_close(c);
		return NULL;
	}
	return c;
}

/* The ROUTE_ADD on_full of <opts> into *ret. Returns 0 or -EINVAL. */
static int open_on_full(const struct mqttmux_open_opts *opts, uint8_t *ret)
{
	static const uint8_t map[] = { [MQTTMUX_ON_FULL_DEFAULT] = MM_PROTO_ON_FULL_DEFAULT,
				       [MQTTMUX_ON_FULL_DROP] = MM_PROTO_ON_FULL_DROP,
				       [MQTTMUX_ON_FULL_BLOCK] = MM_PROTO_ON_FULL_BLOCK };

	*ret = MM_PROTO_ON_FULL_DEFAULT;
	if (!opts)
		return 0;
	for (size_t i = 0; i < sizeof(opts->reserved) / sizeof(opts->reserved[0]); i++)
		if (opts->reserved[i])
			return -EINVAL;
	if (opts->on_full < 0 || (size_t)opts->on_full >= sizeof(map))
		return -EINVAL;
	*ret = map[opts->on_full];
	return 0;
}

MQTTMUX_PUBLIC struct mqttmux *mqttmux_open_opts(const char *runtime_dir,
						 const struct mqttmux_open_opts *opts, int *err)
{
	struct mqttmux *c = NULL;
	uint8_t on_full;
	int rc = open_on_full(opts, &on_full);

	if (rc < 0)
		goto fail;
	if (!runtime_dir)
		runtime_dir = getenv(MM_CTL_DIR_ENV);
	if (!runtime_dir || !runtime_dir[0])
		runtime_dir = MQTTMUX_DEFAULT_DIR;
	c = client_new(runtime_dir);
	if (c)
		c->on_full = on_full;
	rc = c ? mm_cl_connect(c) : -ENOMEM;
	if (rc == 0) /* no routes yet: "all registered" at once; then the baseline list */
		rc = mm_cl_send_rejoined(c);
	if (rc == 0)
		rc = mm_cl_ask_sessions(c);
	if (rc == 0 && mm_cl_fsm_feed(&c->conn, MM_CL_EV_JOINED) == MM_CL_ACT_NONE)
		return c;
	if (rc == 0)
		rc = -ENOTCONN; /* the router went away during the handshake */
	mqttmux_close(c);
fail:
	if (err)
		*err = rc;
	return NULL;
}

MQTTMUX_PUBLIC struct mqttmux *mqttmux_open(const char *runtime_dir, int *err)
{
	return mqttmux_open_opts(runtime_dir, NULL, err);
}

MQTTMUX_PUBLIC void mqttmux_close(struct mqttmux *c)
{
	if (!c)
		return;
	while (c->routes)
		mm_cl_route_free(c->routes);
	while (c->pubs) {
		struct mm_cl_pub *p = c->pubs;

		c->pubs = p->next;
		if (p->async)
			free(p);
	}
	mm_cl_disconnect(c);
	mm_cl_events_done(c);
	mm_cl_sessions_done(c);
	mm_cl_seen_done(&c->seen);
	close_fd(&c->epfd);
	close_fd(&c->tfd);
	free(c->dir);
	free(c->frame);
	free(c->scratch);
	free(c);
}

MQTTMUX_PUBLIC int mqttmux_fd(struct mqttmux *c)
{
	return c ? c->epfd : -EINVAL;
}

MQTTMUX_PUBLIC int mqttmux_on_gap(struct mqttmux *c, mqttmux_gap_fn *fn, void *ud)
{
	if (!c)
		return -EINVAL;
	c->gap_fn = fn;
	c->gap_ud = ud;
	return 0;
}

MQTTMUX_PUBLIC uint64_t mqttmux_lost(const struct mqttmux *c)
{
	return c ? c->lost : 0;
}

MQTTMUX_PUBLIC int mqttmux_set_route_qos(struct mqttmux *c, int qos)
{
	if (!c || qos < 0 || qos > 2)
		return -EINVAL;
	c->route_qos = qos;
	return 0;
}

/* ---- routes ---- */

struct mqttmux_route *mm_cl_route_find(struct mqttmux *c, uint32_t id)
{
	struct mqttmux_route *r;

	for (r = c->routes; r && r->id != id; r = r->next)
		;
	return r;
}

/* Free a route that is in no list, with its queue and strings. */
static void route_release(struct mqttmux_route *r)
{
	for (size_t i = 0; r->q && i < r->n; i++)
		free(r->q[(r->head + i) % r->depth]);
	free(r->q);
	free(r->cur);
	free(r->session);
	free(r->filter);
	free(r);
}

/* Unlink <r> from its client and free it with its queue. */
void mm_cl_route_free(struct mqttmux_route *r)
{
	struct mqttmux_route **pp = &r->c->routes;

	while (*pp && *pp != r)
		pp = &(*pp)->next;
	if (*pp)
		*pp = r->next;
	route_release(r);
}

/*
 * Send ROUTE_ADD for <r> as it was first registered (same id, session, filter, QoS, on_full)
 * and wait for the answer. Used for a new route and again after every reconnect (<rejoin>:
 * the route had its retained messages, the router sends none again). The router
 * answers EAGAIN while a session's command ring lacks room for the route's SUBSCRIBE: asked
 * again every 10 ms for at most MM_CL_CTL_TIMEOUT in all. Returns 0, -code from the router's
 * ERROR (-EAGAIN if the ring stayed full), -ETIMEDOUT or -ENOTCONN.
 */
int mm_cl_route_register(struct mqttmux *c, struct mqttmux_route *r, bool rejoin)
{
	int64_t deadline = mm_time_mono_ms() + MM_CL_CTL_TIMEOUT;
	size_t sl = r->session ? strlen(r->session) : 0;
	struct mm_proto_route_add a = { .route_id = r->id,
					.qos = r->qos,
					.on_full = r->on_full,
					.session = { (const uint8_t *)r->session, (uint32_t)sl },
					.filter = { (const uint8_t *)r->filter,
						    (uint32_t)strlen(r->filter) },
					.flags = rejoin ? MM_PROTO_F_REJOIN : 0 };
	int rc = 0;

	do {
		if (rc == -EAGAIN)
			(void)poll(NULL, 0, 10);
		a.seq = ++c->seq;
		rc = send_frame(c, mm_proto_pack_route_add(c->frame, MM_PROTO_MAX_FRAME, &a));
		if (rc == 0)
			rc = ctl_wait(c, a.seq);
	} while (rc == -EAGAIN && mm_time_left_ms(deadline) > 10);
	return rc;
}

/* A route object (not registered yet) with copies of <session> and <filter>, or NULL. */
static struct mqttmux_route *route_new(struct mqttmux *c, const char *session, const char *filter,
				       mqttmux_msg_fn *fn, void *ud, size_t depth)
{
	struct mqttmux_route *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	*r = (struct mqttmux_route){ .c = c,
				     .fn = fn,
				     .ud = ud,
				     .depth = depth,
				     .qos = (uint8_t)c->route_qos,
				     .on_full = c->on_full };
	r->filter = strdup(filter);
	r->session = session ? strdup(session) : NULL;
	if (!fn)
		r->q = calloc(depth, sizeof(*r->q));
	if (!r->filter || (session && !r->session) || (!fn && !r->q)) {
		route_release(r);
		return NULL;
	}
	do
		r->id = ++c->next_route;
	while (r->id == 0 || mm_cl_route_find(c, r->id));
	return r;
}

static struct mqttmux_route *route_add(struct mqttmux *c, const char *session, const char *filter,
				       mqttmux_msg_fn *fn, void *ud, size_t depth)
{
	size_t sl = session ? strlen(session) : 0, fl = filter ? strlen(filter) : 0;
	struct mqttmux_route *r;
	int rc;

	if (!c || !filter || (!fn && (depth == 0 || depth > MM_CL_DEPTH_MAX)) ||
	    (session && (sl == 0 || sl > MM_PROTO_NAME_MAX)) || fl == 0 || fl > 65000)
		return errno = EINVAL, NULL;
	if (!mm_cl_conn_is_up(c->conn))
		return errno = ENOTCONN, NULL;
	r = route_new(c, session, filter, fn, ud, depth);
	if (!r)
		return errno = ENOMEM, NULL;
	rc = mm_cl_route_register(c, r, false);
	if (rc < 0) {
		route_release(r);
		return errno = -rc, NULL;
	}
	r->registered = true;
	r->next = c->routes;
	c->routes = r;
	return r;
}

MQTTMUX_PUBLIC struct mqttmux_route *mqttmux_handle(struct mqttmux *c, const char *filter,
						    mqttmux_msg_fn *fn, void *ud)
{
	return mqttmux_handle_to(c, NULL, filter, fn, ud);
}

MQTTMUX_PUBLIC struct mqttmux_route *mqttmux_handle_to(struct mqttmux *c, const char *session,
						       const char *filter, mqttmux_msg_fn *fn,
						       void *ud)
{
	if (!fn)
		return errno = EINVAL, NULL;
	return route_add(c, session, filter, fn, ud, 0);
}

MQTTMUX_PUBLIC struct mqttmux_route *mqttmux_listen(struct mqttmux *c, const char *filter,
						    size_t depth)
{
	return mqttmux_listen_to(c, NULL, filter, depth);
}

MQTTMUX_PUBLIC struct mqttmux_route *mqttmux_listen_to(struct mqttmux *c, const char *session,
						       const char *filter, size_t depth)
{
	return route_add(c, session, filter, NULL, NULL, depth);
}

MQTTMUX_PUBLIC uint64_t mqttmux_route_dropped(const struct mqttmux_route *r)
{
	return r ? r->dropped : 0;
}

MQTTMUX_PUBLIC int mqttmux_route_stop(struct mqttmux_route *r)
{
	struct mqttmux *c;
	struct mm_proto_route_del d;
	bool registered;
	int rc;

	if (!r)
		return -EINVAL;
	c = r->c;
	d = (struct mm_proto_route_del){ .seq = ++c->seq, .route_id = r->id };
	registered = r->registered;
	/* Freed first: records already in the ring may still name it and must find nothing. */
	mm_cl_route_free(r);
	if (!mm_cl_conn_is_up(c->conn) || !registered)
		return 0; /* no router knows it: a reconnect will not register it again */
	rc = send_frame(c, mm_proto_pack_route_del(c->frame, MM_PROTO_MAX_FRAME, &d));
	return rc < 0 ? rc : ctl_wait(c, d.seq);
}

/*
 * ROUTE_ADD, without waiting, for every route whose session came (back) while the router ran
 * (client_sessions.c); mm_cl_rereg_answer() takes the answers. Returns 0 or -ENOTCONN (the
 * reconnect registers every route anyway).
 */
int mm_cl_rereg_send(struct mqttmux *c)
{
	c->rereg = false;
	for (struct mqttmux_route *r = c->routes; r; r = r->next) {
		size_t sl = r->session ? strlen(r->session) : 0;
		struct mm_proto_route_add a = {
			.seq = ++c->seq,
			.route_id = r->id,
			.qos = r->qos,
			.on_full = r->on_full,
			.session = { (const uint8_t *)r->session, (uint32_t)sl },
			.filter = { (const uint8_t *)r->filter, (uint32_t)strlen(r->filter) }
		};

		if (!r->rereg)
			continue;
		r->rereg = false;
		r->rereg_seq = a.seq;
		if (send_frame(c, mm_proto_pack_route_add(c->frame, MM_PROTO_MAX_FRAME, &a)) < 0)
			return -ENOTCONN;
	}
	return 0;
}

/* REJOINED: every route is registered again (after WELCOME when there is none). */
int mm_cl_send_rejoined(struct mqttmux *c)
{
	struct mm_proto_rejoined m = { .seq = ++c->seq };

	return send_frame(c, mm_proto_pack_rejoined(c->frame, MM_PROTO_MAX_FRAME, &m));
}

/* SESSIONS_LIST; the SESSIONS answer is handled when it arrives (mm_cl_on_sessions). */
int mm_cl_ask_sessions(struct mqttmux *c)
{
	struct mm_proto_sessions_list m = { .seq = ++c->seq };
	int rc;

	mm_cl_sessions_restart(c); /* a list half received from the previous router */
	rc = send_frame(c, mm_proto_pack_sessions_list(c->frame, MM_PROTO_MAX_FRAME, &m));
	if (rc == 0)
		c->sess_seq = m.seq;
	return rc;
}
