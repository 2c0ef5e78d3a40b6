/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux, the publish side: checks, CLIENT_PUB records into the pub-ring, and the blocking
 * and asynchronous publish calls. Their PUB_DONEs are handled by dispatch (client_io.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "mm_time.h"

static int pub_check(struct mqttmux *c, const char *session, const char *topic, const void *payload,
		     size_t len, int qos)
{
	size_t sl = session ? strlen(session) : 0, tl = topic ? strlen(topic) : 0;

	if (!c || !topic || tl == 0 || tl > 65000 || (len && !payload) || qos < 0 || qos > 2 ||
	    (session && (sl == 0 || sl > MM_PROTO_NAME_MAX)) || strpbrk(topic, "+#"))
		return -EINVAL;
	if (len > UINT32_MAX)
		return -EMSGSIZE;
	if (!session && !(c->features & MM_PROTO_FEAT_PUB_ALL))
		return -EOPNOTSUPP;
	return c->fatal;
}

static struct mm_rec_client_pub pub_rec(uint64_t req_id, const char *session, const char *topic,
					const void *payload, size_t len, int qos, bool retain)
{
	return (struct mm_rec_client_pub){
		.req_id = req_id,
		.qos = (uint8_t)qos,
		.flags = (retain ? MM_REC_F_RETAIN : 0) | (session ? 0 : MM_REC_F_ALL),
		.session = { (const uint8_t *)session, session ? (uint32_t)strlen(session) : 0 },
		.topic = { (const uint8_t *)topic, (uint32_t)strlen(topic) },
		.payload = { payload, (uint32_t)len },
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

MQTTMUX_PUBLIC int mqttmux_publish_async(struct mqttmux *c, const char *session, const char *topic,
					 const void *payload, size_t len, int qos, bool retain,
					 mqttmux_pub_fn *fn, void *ud)
{
	struct mm_rec_client_pub rec;
	struct mm_cl_pub *p;
	size_t sl, tl;
	int rc = pub_check(c, session, topic, payload, len, qos);

	if (rc < 0)
		return rc;
	if (!mm_cl_conn_is_up(c->conn))
		return -ENOTCONN; /* the router is away: nothing waits here for the reconnect */
	sl = session ? strlen(session) + 1 : 0;
	tl = strlen(topic) + 1;
	p = calloc(1, sizeof(*p) + sl + tl); /* session and topic copies, for publish_failed */
	if (!p)
		return -ENOMEM;
	*p = (struct mm_cl_pub){ .req_id = ++c->next_req, .fn = fn, .ud = ud, .async = true };
	p->topic = memcpy((char *)(p + 1), topic, tl);
	p->session = session ? memcpy((char *)(p + 1) + tl, session, sl) : NULL;
	rec = pub_rec(p->req_id, session, topic, payload, len, qos, retain);
	rc = pub_write(c, &rec);
	if (rc < 0) {
		free(p);
		return rc;
	}
	p->next = c->pubs;
	c->pubs = p;
	return 0;
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
static int publish_wait(struct mqttmux *c, const char *session, const char *topic,
			const void *payload, size_t len, int qos, bool retain, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : mm_time_mono_ms() + timeout_ms;
	struct mm_cl_pub *p = calloc(1, sizeof(*p));
	struct mm_rec_client_pub rec;
	int rc;

	if (!p)
		return -ENOMEM;
	p->req_id = ++c->next_req;
	p->session = session;
	p->topic = topic;
	rec = pub_rec(p->req_id, session, topic, payload, len, qos, retain);
	rc = pub_room(c, &rec, deadline);
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
	int rc;

	if (!session)
		return -EINVAL;
	rc = pub_check(c, session, topic, payload, len, qos);
	return rc < 0 ? rc : publish_wait(c, session, topic, payload, len, qos, retain, timeout_ms);
}

MQTTMUX_PUBLIC int mqttmux_publish_all(struct mqttmux *c, const char *topic, const void *payload,
				       size_t len, int qos, bool retain, int timeout_ms)
{
	int rc = pub_check(c, NULL, topic, payload, len, qos);

	return rc < 0 ? rc : publish_wait(c, NULL, topic, payload, len, qos, retain, timeout_ms);
}
