/* SPDX-License-Identifier: MIT */
/*
 * One frame from a client: HELLO (create and pass its rings), ROUTE_ADD, ROUTE_DEL, PING, PONG,
 * SESSIONS_LIST, ERROR. mm_rtr_on_frame() returns 0 (carry on), 1 (close the connection: a
 * fatal ERROR was sent) or -EPROTO (malformed: ERROR(EPROTO, fatal) was sent; counted).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "rtr.h"

static int proto_error(struct mm_rtr_client *c, uint32_t seq, const char *why)
{
	(void)mm_rtr_send_error(c->sock, seq, EPROTO, true, why);
	return -EPROTO;
}

static int make_rings(struct mm_rtr *r, struct mm_rtr_client *c)
{
	uint64_t size = r->clients->ring_size;
	int rc = mm_shm_ring_create("mqttmux-dlv", size, 1, &c->fds[MM_PROTO_FD_DLV_RING]);

	if (rc == 0)
		rc = mm_shm_ring_create("mqttmux-pub", size, 1, &c->fds[MM_PROTO_FD_PUB_RING]);
	for (int i = 0; rc == 0 && i < MM_PROTO_WELCOME_NFDS; i++) {
		if (i == MM_PROTO_FD_DLV_RING || i == MM_PROTO_FD_PUB_RING)
			continue;
		c->fds[i] = mm_shm_ring_doorbell_open();
		rc = c->fds[i] < 0 ? c->fds[i] : 0;
	}
	if (rc == 0)
		rc = mm_shm_ring_attach(&c->dlv, c->fds[MM_PROTO_FD_DLV_RING], MM_SHM_RING_PRODUCER,
					c->fds[MM_PROTO_FD_DLV_DATA], c->fds[MM_PROTO_FD_DLV_SPACE],
					NULL, 0);
	if (rc == 0)
		rc = mm_shm_ring_attach(&c->pub, c->fds[MM_PROTO_FD_PUB_RING], MM_SHM_RING_CONSUMER,
					c->fds[MM_PROTO_FD_PUB_DATA], c->fds[MM_PROTO_FD_PUB_SPACE],
					NULL, 0);
	if (rc == 0)
		rc = mm_rtr_watch(r, c->fds[MM_PROTO_FD_PUB_DATA], MM_RTR_T_PUB_DATA, c->id);
	if (rc == 0)
		rc = mm_rtr_watch(r, c->fds[MM_PROTO_FD_DLV_SPACE], MM_RTR_T_DLV_SPACE, c->id);
	return rc;
}

static int on_hello(struct mm_rtr *r, struct mm_rtr_client *c, const uint8_t *buf, size_t len)
{
	struct mm_proto_hello h;
	struct mm_proto_welcome w = { .major = MM_PROTO_VERSION_MAJOR };
	uint8_t out[64];
	ssize_t n;
	int rc;

	if (mm_proto_unpack_hello(buf, len, &h) < 0)
		return proto_error(c, 0, "malformed HELLO");
	memcpy(c->name, h.name.p, h.name.len);
	c->name[h.name.len] = '\0';
	if (h.major != MM_PROTO_VERSION_MAJOR) {
		mm_log(MM_LOG_WARNING, "client %u ('%s'): protocol %u.%u refused", c->id, c->name,
		       h.major, h.minor);
		(void)mm_rtr_send_error(c->sock, h.seq, EPROTONOSUPPORT, true,
					"protocol major version not supported (router speaks 1)");
		return 1;
	}
	rc = make_rings(r, c);
	if (rc < 0) {
		(void)mm_rtr_send_error(c->sock, h.seq, rc == -ENOMEM ? ENOMEM : EMFILE, true,
					"cannot create the client's rings");
		return 1;
	}
	w.seq = h.seq;
	w.minor = MM_PROTO_VERSION_MINOR;
	w.features = h.features & MM_PROTO_FEATURES;
	c->features = w.features;
	w.client_id = c->id;
	w.max_frame = MM_PROTO_MAX_FRAME;
	w.dlv_size = c->dlv.cap;
	w.pub_size = c->pub.cap;
	n = mm_proto_pack_welcome(out, sizeof(out), &w);
	if (n < 0 || mm_proto_send(c->sock, out, (size_t)n, c->fds, MM_PROTO_WELCOME_NFDS) < 0)
		return 1;
	c->registered = true;
	c->token = h.token;
	mm_rtr_stats_claim(r, c);
	mm_log(MM_LOG_INFO, "client %u ('%s', uid %u, pid %d) registered", c->id, c->name, c->uid,
	       (int)c->pid);
	return 0;
}

static int send_ack(struct mm_rtr_client *c, uint32_t seq, uint32_t id, uint16_t acked)
{
	struct mm_proto_route_ack a = { .seq = seq, .route_id = id, .acked = acked };
	uint8_t out[32];
	ssize_t n = mm_proto_pack_route_ack(out, sizeof(out), &a);

	if (n > 0)
		(void)mm_proto_send(c->sock, out, (size_t)n, NULL, 0);
	return 0;
}

static int route_refused(struct mm_rtr_client *c, uint32_t seq, int err)
{
	const char *why =
		err == EEXIST	      ? "route id already in use"
		: err == ENOENT	      ? "no such session"
		: err == ENOSPC	      ? "too many routes (clients.max_routes)"
		: err == ENAMETOOLONG ? "topic filter too long (clients.max_filter_length)"
		: err == EACCES	      ? "permission denied: not in this session's clients block"
		: err == EINVAL	      ? "invalid topic filter"
		: err == EAGAIN	      ? "a session's command ring is full: try again"
		: err == EMSGSIZE     ? "the filter is longer than a session's command ring takes"
				      : "cannot add the route";

	(void)mm_rtr_send_error(c->sock, seq, err, false, why);
	return 0;
}

static int on_route_add(struct mm_rtr *r, struct mm_rtr_client *c, const uint8_t *buf, size_t len)
{
	struct mm_proto_route_add a;
	const struct mm_rtr_session *s = NULL;
	int sess = MM_RTR_SESSION_ALL, rc;
	struct mm_rtr_route rt;
	char *filter;

	if (mm_proto_unpack_route_add(buf, len, &a) < 0)
		return proto_error(c, 0, "malformed ROUTE_ADD");
	if (a.session.len &&
	    !(s = mm_rtr_session_named(r, (const char *)a.session.p, a.session.len)))
		return route_refused(c, a.seq, ENOENT);
	if (s && !mm_rtr_may(c, s)) {
		mm_log(MM_LOG_WARNING,
		       "client %u ('%s', uid %u, pid %ld): route on session '%s' refused: not in its "
		       "clients block",
		       c->id, c->name, (unsigned)c->uid, (long)c->pid, s->name);
		return route_refused(c, a.seq, EACCES);
	}
	if (s)
		sess = (int)s->idx;
	if (c->nroutes >= (uint32_t)r->clients->max_routes) {
		mm_rtr_stats_limit(r, MM_RSTATS_LIM_ROUTES);
		return route_refused(c, a.seq, ENOSPC);
	}
	if (a.filter.len > (uint32_t)r->clients->max_filter_length) {
		mm_rtr_stats_limit(r, MM_RSTATS_LIM_FILTER_LENGTH);
		return route_refused(c, a.seq, ENAMETOOLONG);
	}
	/* acknowledged only once every SUBSCRIBE it may need is surely in the cmd-rings */
	if ((rc = mm_rtr_sub_room(r, sess, a.filter.len)) < 0)
		return route_refused(c, a.seq, -rc);
	filter = strndup((const char *)a.filter.p, a.filter.len);
	if (!filter)
		return route_refused(c, a.seq, ENOMEM);
	rt = (struct mm_rtr_route){ .client = c->id,
				    .id = a.route_id,
				    .session = sess,
				    .filter = filter,
				    .qos = a.qos,
				    .on_full = a.on_full == MM_PROTO_ON_FULL_DEFAULT
						       ? r->clients->on_full
					       : a.on_full == MM_PROTO_ON_FULL_BLOCK
						       ? MM_CFG_ON_FULL_BLOCK
						       : MM_CFG_ON_FULL_DROP };
	/* a new route (not one registered again) wants the broker's retained messages */
	r->retain_sub = !(a.flags & MM_PROTO_F_REJOIN) && strncmp(filter, "$share/", 7);
	rc = mm_rtr_sub_add(&r->sub, &rt);
	if (rc == 0 && r->retain_sub) {
		mm_rtr_retain_subscribe(r, sess, filter, a.qos);
		mm_rtr_retain_route_added(r, c->id, a.route_id, sess);
	}
	r->retain_sub = false;
	for (size_t i = 0; i < r->nsess; i++)
		r->sess[i]->retain_sent = false;
	free(filter);
	if (rc < 0)
		return route_refused(c, a.seq, rc == -E2BIG ? EINVAL : -rc);
	c->nroutes++;
	r->next_gauges_ns = 0; /* show the new count at once (mm_rtr_stats_gauges) */
	return send_ack(c, a.seq, a.route_id, MM_PROTO_ROUTE_ADD);
}

static int on_route_del(struct mm_rtr *r, struct mm_rtr_client *c, const uint8_t *buf, size_t len)
{
	struct mm_proto_route_del d;

	if (mm_proto_unpack_route_del(buf, len, &d) < 0)
		return proto_error(c, 0, "malformed ROUTE_DEL");
	if (mm_rtr_sub_remove(&r->sub, c->id, d.route_id) < 0) {
		(void)mm_rtr_send_error(c->sock, d.seq, ENOENT, false, "no such route");
		return 0;
	}
	mm_rtr_retain_forget(r, c->id, d.route_id);
	c->nroutes--;
	r->next_gauges_ns = 0;
	return send_ack(c, d.seq, d.route_id, MM_PROTO_ROUTE_DEL);
}

static int on_ping(struct mm_rtr_client *c, const uint8_t *buf, size_t len)
{
	struct mm_proto_ping p;
	uint8_t out[32];
	ssize_t n;

	if (mm_proto_unpack_ping(buf, len, &p) < 0)
		return proto_error(c, 0, "malformed PING");
	n = mm_proto_pack_pong(out, sizeof(out), &p);
	if (n > 0)
		(void)mm_proto_send(c->sock, out, (size_t)n, NULL, 0);
	return 0;
}

#define SESSIONS_PER_FRAME 200 /* 200 x (7 + 255) bytes fit in one frame */

static int on_sessions_list(struct mm_rtr *r, struct mm_rtr_client *c, const uint8_t *buf,
			    size_t len)
{
	struct mm_proto_session_entry e[SESSIONS_PER_FRAME];
	struct mm_proto_sessions_list l;
	size_t i = 0;

	if (mm_proto_unpack_sessions_list(buf, len, &l) < 0)
		return proto_error(c, 0, "malformed SESSIONS_LIST");
	do {
		struct mm_proto_sessions m = { .seq = l.seq, .entries = e };
		ssize_t n;

		for (; m.count < SESSIONS_PER_FRAME && i < r->nsess; i++) {
			const struct mm_rtr_session *s = r->sess[i];

			if (s->retiring)
				continue; /* its name belongs to the namesake that replaces it */
			e[m.count++] = (struct mm_proto_session_entry){
				.idx = s->idx,
				.state = s->state,
				.name = { (const uint8_t *)s->name, (uint32_t)strlen(s->name) }
			};
		}
		m.flags = i < r->nsess ? MM_PROTO_F_MORE : 0;
		n = mm_proto_pack_sessions(r->scratch, MM_PROTO_MAX_FRAME, &m);
		if (n < 0 || mm_proto_send(c->sock, r->scratch, (size_t)n, NULL, 0) < 0)
			return 1;
	} while (i < r->nsess);
	return 0;
}

static int on_error(struct mm_rtr_client *c, const uint8_t *buf, size_t len)
{
	struct mm_proto_error e;

	if (mm_proto_unpack_error(buf, len, &e) < 0)
		return proto_error(c, 0, "malformed ERROR");
	mm_log(MM_LOG_INFO, "client %u ('%s') reports error %d: %.*s", c->id, c->name, e.code,
	       (int)e.text.len, (const char *)e.text.p);
	return e.flags & MM_PROTO_F_FATAL ? 1 : 0;
}

static int on_rejoined(struct mm_rtr *r, struct mm_rtr_client *c, const uint8_t *buf, size_t len)
{
	struct mm_proto_rejoined m;

	if (mm_proto_unpack_rejoined(buf, len, &m) < 0)
		return proto_error(c, 0, "malformed REJOINED");
	mm_rtr_rejoined(r, c);
	return 0;
}

int mm_rtr_on_frame(struct mm_rtr *r, struct mm_rtr_client *c, const uint8_t *buf, size_t len)
{
	struct mm_proto_hdr h;

	if (mm_proto_unpack_header(buf, len, &h) < 0)
		return proto_error(c, 0, "malformed frame header");
	if (!c->registered)
		return h.type == MM_PROTO_HELLO ? on_hello(r, c, buf, len)
						: proto_error(c, h.seq, "HELLO expected first");
	switch (h.type) {
	case MM_PROTO_ROUTE_ADD:
		return on_route_add(r, c, buf, len);
	case MM_PROTO_ROUTE_DEL:
		return on_route_del(r, c, buf, len);
	case MM_PROTO_PING:
		return on_ping(c, buf, len);
	case MM_PROTO_PONG:
		return 0;
	case MM_PROTO_SESSIONS_LIST:
		return on_sessions_list(r, c, buf, len);
	case MM_PROTO_ERROR:
		return on_error(c, buf, len);
	case MM_PROTO_REJOINED:
		return on_rejoined(r, c, buf, len);
	default:
		return proto_error(c, h.seq, "unexpected frame type");
	}
}
