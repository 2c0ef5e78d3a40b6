/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux, the publish side: checks, CLIENT_PUB records into the pub-ring, and the blocking
 * and asynchronous publish calls. Their PUB_DONEs are handled by dispatch (client_io.c). Also
 * the MQTT 5 property helpers (shm/props.c underneath).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "mm_time.h"
#include "props.h"

/* One publish as the caller asked for it. */
struct pubreq {
	const char *session, *topic; /* session NULL: every session */
	const void *payload, *props;
	size_t len, props_len;
	int qos;
	bool retain;
};

static int pub_check(struct mqttmux *c, const struct pubreq *q)
{
	size_t sl = q->session ? strlen(q->session) : 0, tl = q->topic ? strlen(q->topic) : 0;

	if (!c || !q->topic || tl == 0 || tl > 65000 || (q->len && !q->payload) || q->qos < 0 ||
	    q->qos > 2 || (q->session && (sl == 0 || sl > MM_PROTO_NAME_MAX)) ||
	    strpbrk(q->topic, "+#"))
		return -EINVAL;
	if (q->len > UINT32_MAX || q->props_len > UINT32_MAX)
		return -EMSGSIZE;
	if (mm_props_check_publish(q->props, q->props_len, q->payload, q->len) < 0)
		return -EINVAL;
	if (!q->session && !(c->features & MM_PROTO_FEAT_PUB_ALL))
		return -EOPNOTSUPP;
	return c->fatal;
}

static struct mm_rec_client_pub pub_rec(uint64_t req_id, const struct pubreq *q)
{
	return (struct mm_rec_client_pub){
		.req_id = req_id,
		.qos = (uint8_t)q->qos,
		.flags = (q->retain ? MM_REC_F_RETAIN : 0) | (q->session ? 0 : MM_REC_F_ALL),
		.session = { (const uint8_t *)q->session,
			     q->session ? (uint32_t)strlen(q->session) : 0 },
		.topic = { (const uint8_t *)q->topic, (uint32_t)strlen(q->topic) },
		.payload = { q->payload, (uint32_t)q->len },
		.props = { q->props, (uint32_t)q->props_len },
	};
}

/* Write one CLIENT_PUB and commit it. Returns 0, -EAGAIN (ring full) or -EMSGSIZE. */
static int pub_write(struct mqttmux *c, const struct mm_rec_client_pub *p)
{
	size_t size = mm_rec_client_pub_size(p);
	void *buf;
	int rc;

	if (size > UINT32_MAX)
		return -EMSGSIZE;
	rc = mm_shm_ring_reserve(&c->pub, (uint32_t)size, MM_REC_CLIENT_PUB, 0, &buf);
	if (rc < 0)
		return rc;
	if (mm_rec_client_pub_pack(buf, size, p) < 0)
		return -EINVAL; /* reserved but not committed: the next reserve reuses it */
	rc = mm_shm_ring_commit(&c->pub);
	return rc < 0 ? rc : 0;
}

static int publish_async(struct mqttmux *c, const struct pubreq *q, mqttmux_pub_fn *fn, void *ud)
{
	struct mm_rec_client_pub rec;
	struct mm_cl_pub *p;
	size_t sl, tl;
	int rc = pub_check(c, q);

	if (rc < 0)
		return rc;
	if (!mm_cl_conn_is_up(c->conn))
		return -ENOTCONN; /* the router is away: nothing waits here for the reconnect */
	sl = q->session ? strlen(q->session) + 1 : 0;
	tl = strlen(q->topic) + 1;
	p = calloc(1, sizeof(*p) + sl + tl); /* session and topic copies, for publish_failed */
	if (!p)
		return -ENOMEM;
	*p = (struct mm_cl_pub){ .req_id = ++c->next_req, .fn = fn, .ud = ud, .async = true };
	p->topic = memcpy((char *)(p + 1), q->topic, tl);
	p->session = q->session ? memcpy((char *)(p + 1) + tl, q->session, sl) : NULL;
	rec = pub_rec(p->req_id, q);
	rc = pub_write(c, &rec);
	if (rc == -EMSGSIZE) {
		p->result = rc;
		mm_cl_pub_failed(c, p);
	}
	if (rc < 0) {
		free(p);
		return rc;
	}
	p->next = c->pubs;
	c->pubs = p;
	return 0;
}

MQTTMUX_PUBLIC int mqttmux_publish_async(struct mqttmux *c, const char *session, const char *topic,
					 const void *payload, size_t len, int qos, bool retain,
					 mqttmux_pub_fn *fn, void *ud)
{
	struct pubreq q = { session, topic, payload, NULL, len, 0, qos, retain };

	return publish_async(c, &q, fn, ud);
}

MQTTMUX_PUBLIC int mqttmux_publish_v5_async(struct mqttmux *c, const char *session,
					    const char *topic, const void *payload, size_t len,
					    int qos, bool retain, const void *props,
					    size_t props_len, mqttmux_pub_fn *fn, void *ud)
{
	struct pubreq q = { session, topic, payload, props, len, props_len, qos, retain };

	return publish_async(c, &q, fn, ud);
}

static void pub_forget(struct mqttmux *c, struct mm_cl_pub *p)
{
	struct mm_cl_pub **pp = &c->pubs;

	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
}

/*
 * Wait for a router (mm_cl_wait_up) and room for <rec> in its pub-ring, dispatching
 * meanwhile, and write it. Returns 0 or -errno (-ENOTCONN: no router by the deadline).
 */
static int pub_room(struct mqttmux *c, const struct mm_rec_client_pub *rec, int64_t deadline)
{
	int rc, ms;

	for (;;) {
		/* a router that died since the last dispatch: notice it before handing it anything
		 */
		(void)mm_cl_service_sock(c);
		if ((rc = mm_cl_wait_up(c, deadline)) < 0)
			return rc;
		rc = pub_write(c, rec);
		if (rc != -EAGAIN)
			return rc;
		ms = mm_time_left_ms(deadline);
		if (ms == 0)
			return -ETIMEDOUT;
		if ((rc = mm_cl_dispatch(c, 0)) < 0)
			return rc;
		if (mm_cl_conn_is_offline(c->conn))
			continue; /* the router went away meanwhile: its pub-ring is gone */
		/* short slices: PUB_DONEs and PINGs must still be handled while we wait */
		rc = mm_shm_ring_wait_space(&c->pub, (uint32_t)mm_rec_client_pub_size(rec),
					    ms < 0 || ms > 10 ? 10 : ms);
		if (rc < 0)
			return rc;
	}
}

/*
 * Blocking publish: wait for ring space, then for the PUB_DONE, within <timeout_ms>. The
 * waiter is on the heap, not the stack: a callback run meanwhile could otherwise outlive it
 * in c->pubs if we returned early.
 */
static int publish_wait(struct mqttmux *c, const struct pubreq *q, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : mm_time_mono_ms() + timeout_ms;
	struct mm_rec_client_pub rec;
	struct mm_cl_pub *p;
	int rc = pub_check(c, q);

	if (rc < 0)
		return rc;
	if (!(p = calloc(1, sizeof(*p))))
		return -ENOMEM;
	p->req_id = ++c->next_req;
	p->session = q->session;
	p->topic = q->topic;
	rec = pub_rec(p->req_id, q);
	rc = pub_room(c, &rec, deadline);
	if (rc == -EMSGSIZE) { /* never fits the pub-ring: say so as the router would */
		p->result = rc;
		mm_cl_pub_failed(c, p);
	}
	if (rc == 0) {
		p->next = c->pubs;
		c->pubs = p;
		while (!p->done && rc >= 0 && mm_time_left_ms(deadline) != 0)
			rc = mm_cl_dispatch(c, mm_time_left_ms(deadline));
		if (p->done)
			rc = p->result;
		else
			pub_forget(c, p);
		if (!p->done && rc >= 0)
			rc = -ETIMEDOUT;
	}
	free(p);
	return rc;
}

MQTTMUX_PUBLIC int mqttmux_publish_to(struct mqttmux *c, const char *session, const char *topic,
				      const void *payload, size_t len, int qos, bool retain,
				      int timeout_ms)
{
	struct pubreq q = { session, topic, payload, NULL, len, 0, qos, retain };

	return session ? publish_wait(c, &q, timeout_ms) : -EINVAL;
}

MQTTMUX_PUBLIC int mqttmux_publish_all(struct mqttmux *c, const char *topic, const void *payload,
				       size_t len, int qos, bool retain, int timeout_ms)
{
	struct pubreq q = { NULL, topic, payload, NULL, len, 0, qos, retain };

	return publish_wait(c, &q, timeout_ms);
}

MQTTMUX_PUBLIC int mqttmux_publish_v5(struct mqttmux *c, const char *session, const char *topic,
				      const void *payload, size_t len, int qos, bool retain,
				      const void *props, size_t props_len, int timeout_ms)
{
	struct pubreq q = { session, topic, payload, props, len, props_len, qos, retain };

	return publish_wait(c, &q, timeout_ms);
}

/* ---- MQTT 5 properties ---- */

MQTTMUX_PUBLIC int mqttmux_prop_next(const void *props, size_t len, size_t *off,
				     struct mqttmux_prop *ret)
{
	if ((!props && len) || !off || !ret)
		return -EINVAL;
	return mm_props_next(props, len, off, ret);
}

MQTTMUX_PUBLIC int mqttmux_msg_prop(const struct mqttmux_msg *m, int id, struct mqttmux_prop *ret)
{
	struct mqttmux_prop p;
	size_t off = 0;
	int rc;

	if (!m || !ret)
		return -EINVAL;
	while ((rc = mqttmux_prop_next(m->props, m->props_len, &off, &p)) == 1)
		if (p.id == id) {
			*ret = p;
			return 1;
		}
	return rc;
}

MQTTMUX_PUBLIC ssize_t mqttmux_prop_pack(void *buf, size_t cap, const struct mqttmux_prop *p)
{
	return p ? mm_props_pack(buf, cap, p) : -EINVAL;
}
