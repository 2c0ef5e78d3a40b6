/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux, the connection side: open/close, the handshake on router.sock, control frames
 * (ROUTE_ADD/DEL and their replies, PING), and the route objects. The delivery ring, listen
 * queues and publishes are in client_io.c. See docs/client.md and docs/protocol.md.
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

int64_t mm_cl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until <deadline> (-1: none), for poll: -1, or 0..INT_MAX. */
int mm_cl_left_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - mm_cl_now_ms();
	return left <= 0 ? 0 : left > 0x7fffffff ? 0x7fffffff : (int)left;
}

static int send_frame(struct mqttmux *c, ssize_t n)
{
	int rc;

	if (n < 0)
		return (int)n;
	rc = mm_proto_send(c->sock, c->frame, (size_t)n, NULL, 0);
	if (rc == -EPIPE || rc == -ECONNRESET)
		c->dead = true;
	return c->dead ? -ENOTCONN : rc;
}

/*
 * Handle one received frame that nobody waits for: answer PING, note a fatal ERROR. Returns
 * 0, or -ENOTCONN when the router closed or said goodbye.
 */
static int handle_frame(struct mqttmux *c, size_t len, const struct mm_proto_hdr *h)
{
	struct mm_proto_ping p;

	if (h->type == MM_PROTO_PING && mm_proto_unpack_ping(c->frame, len, &p) == 0)
		return send_frame(c, mm_proto_pack_pong(c->frame, MM_PROTO_MAX_FRAME, &p)) == 0
			       ? 0
			       : -ENOTCONN;
	if (h->type == MM_PROTO_ERROR && (h->flags & MM_PROTO_F_FATAL))
		c->dead = true;
	return c->dead ? -ENOTCONN : 0;
}

/* Receive one frame without blocking. Returns its length, -EAGAIN, or -ENOTCONN. */
static ssize_t recv_frame(struct mqttmux *c, struct mm_proto_hdr *h)
{
	int fds[MM_PROTO_MAX_FDS], nfds = MM_PROTO_MAX_FDS;
	ssize_t n;

	if (c->dead)
		return -ENOTCONN;
	n = mm_proto_recv(c->sock, c->frame, MM_PROTO_MAX_FRAME, fds, &nfds);
	if (n == -EAGAIN)
		return n;
	for (int i = 0; n > 0 && i < nfds; i++)
		close(fds[i]);
	if (n <= 0 || nfds > 0 || mm_proto_unpack_header(c->frame, (size_t)n, h) < 0) {
		c->dead = true;
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
	int64_t deadline = mm_cl_now_ms() + MM_CL_CTL_TIMEOUT;
	struct pollfd p = { .fd = c->sock, .events = POLLIN };
	struct mm_proto_error e;
	struct mm_proto_hdr h;
	ssize_t n;

	for (;;) {
		n = recv_frame(c, &h);
		if (n == -EAGAIN) {
			if (poll(&p, 1, mm_cl_left_ms(deadline)) == 0)
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

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/router.sock", dir) >=
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
				    .features = MM_PROTO_FEAT_PUB_ALL,
				    .token = c->token,
				    .name = { (const uint8_t *)name,
					      (uint32_t)strnlen(name, 255) } };
	struct mm_proto_welcome w;
	int rc = send_frame(c, mm_proto_pack_hello(c->frame, MM_PROTO_MAX_FRAME, &h));

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
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epfd < 0)
		return -errno;
	ev.data.fd = c->sock;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->sock, &ev) == -1)
		return -errno;
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
			t = (uint64_t)mm_cl_now_ms() ^ (uint64_t)getpid() << 40;
	return t;
}

static struct mqttmux *client_new(void)
{
	struct mqttmux *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->token = new_token();
	c->sock = c->epfd = -1;
	for (int i = 0; i < MM_PROTO_WELCOME_NFDS; i++)
		c->fds[i] = -1;
	c->route_qos = 1;
	c->frame = malloc(MM_PROTO_MAX_FRAME);
	c->scratch = malloc(MM_PROTO_MAX_FRAME + MM_PROTO_NAME_MAX + 2);
	if (!c->frame || !c->scratch) {
		free(c->frame);
		free(c->scratch);
		free(c);
		return NULL;
	}
	return c;
}

MQTTMUX_PUBLIC struct mqttmux *mqttmux_open(const char *runtime_dir, int *err)
{
	struct mqttmux *c;
	int rc;

	if (!runtime_dir)
		runtime_dir = getenv("MQTTMUX_RUNTIME_DIR");
	if (!runtime_dir || !runtime_dir[0])
		runtime_dir = MQTTMUX_DEFAULT_DIR;
	c = client_new();
	rc = c ? sock_connect(runtime_dir, &c->sock) : -ENOMEM;
	if (rc == 0)
		rc = handshake(c);
	if (rc == 0)
		rc = attach(c);
	if (rc == 0)
		return c;
	mqttmux_close(c);
	if (err)
		*err = rc;
	return NULL;
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
	if (c->dlv.hdr)
		mm_shm_ring_detach(&c->dlv);
	if (c->pub.hdr)
		mm_shm_ring_detach(&c->pub);
	for (int i = 0; i < MM_PROTO_WELCOME_NFDS; i++)
		if (c->fds[i] >= 0)
			close(c->fds[i]);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->sock >= 0)
		close(c->sock);
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

/* Unlink <r> from its client and free it with its queue. */
void mm_cl_route_free(struct mqttmux_route *r)
{
	struct mqttmux_route **pp = &r->c->routes;

	while (*pp && *pp != r)
		pp = &(*pp)->next;
	if (*pp)
		*pp = r->next;
	for (size_t i = 0; i < r->n; i++)
		free(r->q[(r->head + i) % r->depth]);
	free(r->q);
	free(r->cur);
	free(r);
}

static int route_send_add(struct mqttmux *c, struct mqttmux_route *r, const char *session,
			  const char *filter)
{
	size_t sl = session ? strlen(session) : 0, fl = strlen(filter);
	struct mm_proto_route_add a = { .seq = ++c->seq,
					.route_id = r->id,
					.qos = (uint8_t)c->route_qos,
					.on_full = MM_PROTO_ON_FULL_DROP,
					.session = { (const uint8_t *)session, (uint32_t)sl },
					.filter = { (const uint8_t *)filter, (uint32_t)fl } };
	int rc;

	if ((session && (sl == 0 || sl > MM_PROTO_NAME_MAX)) || fl == 0 || fl > 65000)
		return -EINVAL;
	rc = send_frame(c, mm_proto_pack_route_add(c->frame, MM_PROTO_MAX_FRAME, &a));
	return rc < 0 ? rc : ctl_wait(c, a.seq);
}

static struct mqttmux_route *route_add(struct mqttmux *c, const char *session, const char *filter,
				       mqttmux_msg_fn *fn, void *ud, size_t depth)
{
	struct mqttmux_route *r;
	int rc;

	if (!c || !filter || (!fn && (depth == 0 || depth > MM_CL_DEPTH_MAX)))
		return errno = EINVAL, NULL;
	if (c->dead)
		return errno = ENOTCONN, NULL;
	r = calloc(1, sizeof(*r));
	if (!r || (!fn && !(r->q = calloc(depth, sizeof(*r->q))))) {
		free(r);
		return errno = ENOMEM, NULL;
	}
	*r = (struct mqttmux_route){ .c = c, .fn = fn, .ud = ud, .q = r->q, .depth = depth };
	do
		r->id = ++c->next_route;
	while (r->id == 0 || mm_cl_route_find(c, r->id));
	rc = route_send_add(c, r, session, filter);
	if (rc < 0) {
		free(r->q);
		free(r);
		return errno = -rc, NULL;
	}
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
	int rc;

	if (!r)
		return -EINVAL;
	c = r->c;
	d = (struct mm_proto_route_del){ .seq = ++c->seq, .route_id = r->id };
	/* Freed first: records already in the ring may still name it and must find nothing. */
	mm_cl_route_free(r);
	if (c->dead)
		return -ENOTCONN;
	rc = send_frame(c, mm_proto_pack_route_del(c->frame, MM_PROTO_MAX_FRAME, &d));
	return rc < 0 ? rc : ctl_wait(c, d.seq);
}
