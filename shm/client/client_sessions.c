/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux's copy of the router's sessions list and what follows from it for routes.
 *
 * The router announces a session added or removed while it runs (CLIENT_EVENT session_added /
 * session_removed, docs/router.md "Live sessions"): the list follows, and routes bound to that
 * session by name follow too. A removed session's routes are ended by the router; each one is
 * registered again (ROUTE_ADD, same id) as soon as a session of that name is there, so a route
 * keeps its name's meaning across a remove and an add, as it does across a router restart.
 * Those ROUTE_ADDs are sent from dispatch without waiting; their answers arrive like any frame.
 *
 * After a reconnect to a new router the list is asked for (SESSIONS_LIST) and compared with the
 * one before: the differences become session_added / session_removed events, queued here and
 * delivered by the next dispatch (mm_cl_flush_pending). The first list is the baseline.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static void list_free(struct mm_cl_sess *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

static bool list_has(const struct mm_cl_sess *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return true;
	return false;
}

/* Queue a session_added / session_removed for the next dispatch (dropped without memory). */
static void pend_add(struct mqttmux *c, int type, const char *name)
{
	size_t len = strlen(name);
	struct mm_cl_pend *p = malloc(sizeof(*p) + len + 1);

	if (!p)
		return;
	p->next = NULL;
	p->type = type;
	memcpy(p->name, name, len + 1);
	*c->pend_tail = p;
	c->pend_tail = &p->next;
}

/* Names in <a> that are not in <b>, queued as events of <type>. */
static void pend_diff(struct mqttmux *c, int type, const struct mm_cl_sess *a, size_t na,
		      const struct mm_cl_sess *b, size_t nb)
{
	for (size_t i = 0; i < na; i++)
		if (!list_has(b, nb, a[i].name))
			pend_add(c, type, a[i].name);
}

/* Forget a list being received (a new SESSIONS_LIST is about to be sent). */
void mm_cl_sessions_restart(struct mqttmux *c)
{
	list_free(c->sess_new, c->n_sess_new);
	c->sess_new = NULL;
	c->n_sess_new = 0;
	c->sess_seq = 0;
}

/* The list is complete: report what differs from the previous one, then keep it. */
static void sessions_done(struct mqttmux *c)
{
	if (c->have_sess) {
		pend_diff(c, MQTTMUX_EV_SESSION_ADDED, c->sess_new, c->n_sess_new, c->sess,
			  c->n_sess);
		pend_diff(c, MQTTMUX_EV_SESSION_REMOVED, c->sess, c->n_sess, c->sess_new,
			  c->n_sess_new);
	}
	list_free(c->sess, c->n_sess);
	c->sess = c->sess_new;
	c->n_sess = c->n_sess_new;
	c->sess_new = NULL;
	c->n_sess_new = 0;
	c->have_sess = true;
	c->sess_seq = 0;
}

/*
 * A SESSIONS frame of <len> bytes in c->frame. Frames that answer no pending SESSIONS_LIST
 * are ignored. Returns 0, or -ENOMEM (the partial list is dropped; the next reconnect asks
 * again).
 */
int mm_cl_on_sessions(struct mqttmux *c, size_t len)
{
	struct mm_proto_session_entry e;
	struct mm_proto_sessions s;
	struct mm_cl_sess *v;
	size_t off = 0;

	if (!c->sess_seq || mm_proto_unpack_sessions(c->frame, len, &s) < 0 || s.seq != c->sess_seq)
		return 0;
	v = realloc(c->sess_new, (c->n_sess_new + s.count + 1) * sizeof(*v));
	if (!v)
		goto fail;
	c->sess_new = v;
	while (mm_proto_sessions_next(&s, &off, &e) == 1) {
		v[c->n_sess_new].idx = e.idx;
		v[c->n_sess_new].name = strndup((const char *)e.name.p, e.name.len);
		if (!v[c->n_sess_new].name)
			goto fail;
		c->n_sess_new++;
	}
	if (!(s.flags & MM_PROTO_F_MORE))
		sessions_done(c);
	return 0;
fail:
	mm_cl_sessions_restart(c);
	return -ENOMEM;
}

/* Mark the routes of session <name> for a new ROUTE_ADD (all of them when <all>). */
static void rereg_mark(struct mqttmux *c, const char *name, bool all)
{
	for (struct mqttmux_route *r = c->routes; r; r = r->next) {
		if (!r->session || strcmp(r->session, name) || (!all && r->registered))
			continue;
		r->registered = false;
		r->rereg = true;
		c->rereg = true;
	}
}

/* Entry (name, idx) added to the list; false without memory. */
static bool list_add(struct mqttmux *c, const char *name, uint32_t idx)
{
	struct mm_cl_sess *v = realloc(c->sess, (c->n_sess + 1) * sizeof(*v));

	if (!v)
		return false;
	c->sess = v;
	v[c->n_sess].name = strdup(name);
	v[c->n_sess].idx = idx;
	if (!v[c->n_sess].name)
		return false;
	c->n_sess++;
	return true;
}

/* Entry (name, idx) taken out of the list, if there. */
static void list_del(struct mqttmux *c, const char *name, uint32_t idx)
{
	for (size_t i = 0; i < c->n_sess; i++) {
		if (c->sess[i].idx != idx || strcmp(c->sess[i].name, name))
			continue;
		free(c->sess[i].name);
		c->sess[i] = c->sess[--c->n_sess];
		return;
	}
}

/*
 * A CLIENT_EVENT session_added or session_removed (<type>) of session <name>, index <idx>,
 * from the running router: the list and the routes of that name follow (see the file
 * comment). The event itself goes to the handlers as any other.
 */
void mm_cl_sessions_live(struct mqttmux *c, int type, const char *name, uint32_t idx)
{
	if (type == MQTTMUX_EV_SESSION_ADDED) {
		if (c->have_sess && !list_add(c, name, idx))
			c->have_sess = false; /* no memory: the next list is a new baseline */
		rereg_mark(c, name, false);
	} else if (type == MQTTMUX_EV_SESSION_REMOVED) {
		list_del(c, name, idx);
		/* the router ended those routes; a namesake may already be there to take them */
		rereg_mark(c, name, true);
		if (!list_has(c->sess, c->n_sess, name))
			for (struct mqttmux_route *r = c->routes; r; r = r->next)
				if (r->session && !strcmp(r->session, name))
					r->rereg = false; /* wait for its session_added */
	}
}

/*
 * The answer to a ROUTE_ADD that mm_cl_rereg_send() sent (a frame nobody waited for): ACK, or
 * EEXIST (the router still has it), registers the route; any other ERROR leaves it waiting for
 * its session to come.
 */
void mm_cl_rereg_answer(struct mqttmux *c, const struct mm_proto_hdr *h, size_t len)
{
	struct mm_proto_error e;
	bool ok = h->type == MM_PROTO_ROUTE_ACK;

	if (!ok && (h->type != MM_PROTO_ERROR || mm_proto_unpack_error(c->frame, len, &e) < 0))
		return;
	if (!ok)
		ok = e.code == EEXIST;
	for (struct mqttmux_route *r = c->routes; r; r = r->next)
		if (h->seq && r->rereg_seq == h->seq) {
			r->registered = ok;
			r->rereg_seq = 0;
			return;
		}
}

/* Free the lists and the queued events (mqttmux_close). */
void mm_cl_sessions_done(struct mqttmux *c)
{
	struct mm_cl_pend *p;

	mm_cl_sessions_restart(c);
	list_free(c->sess, c->n_sess);
	c->sess = NULL;
	c->n_sess = 0;
	while ((p = c->pend)) {
		c->pend = p->next;
		free(p);
	}
	c->pend_tail = &c->pend;
}
