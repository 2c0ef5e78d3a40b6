/* SPDX-License-Identifier: MIT */
/*
 * libmqttmux's copy of the router's sessions list, asked for (SESSIONS_LIST) after every
 * connect. mqttmuxd restarts the router whenever a session is added or removed, so comparing
 * the list after a reconnect with the one before is how the client learns of those changes:
 * the differences become session_added / session_removed events, queued here and delivered
 * by the next dispatch (mm_cl_flush_pending). The first list is the baseline: no events.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static bool names_has(char *const *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], name))
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
static void pend_diff(struct mqttmux *c, int type, char *const *a, size_t na, char *const *b,
		      size_t nb)
{
	for (size_t i = 0; i < na; i++)
		if (!names_has(b, nb, a[i]))
			pend_add(c, type, a[i]);
}

/* Forget a list being received (a new SESSIONS_LIST is about to be sent). */
void mm_cl_sessions_restart(struct mqttmux *c)
{
	names_free(c->sess_new, c->n_sess_new);
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
	names_free(c->sess, c->n_sess);
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
	size_t off = 0;
	char **v;

	if (!c->sess_seq || mm_proto_unpack_sessions(c->frame, len, &s) < 0 || s.seq != c->sess_seq)
		return 0;
	v = realloc(c->sess_new, (c->n_sess_new + s.count + 1) * sizeof(*v));
	if (!v)
		goto fail;
	c->sess_new = v;
	while (mm_proto_sessions_next(&s, &off, &e) == 1) {
		v[c->n_sess_new] = strndup((const char *)e.name.p, e.name.len);
		if (!v[c->n_sess_new])
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

/* Free the lists and the queued events (mqttmux_close). */
void mm_cl_sessions_done(struct mqttmux *c)
{
	struct mm_cl_pend *p;

	mm_cl_sessions_restart(c);
	names_free(c->sess, c->n_sess);
	c->sess = NULL;
	c->n_sess = 0;
	while ((p = c->pend)) {
		c->pend = p->next;
		free(p);
	}
	c->pend_tail = &c->pend;
}
