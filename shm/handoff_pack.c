/* SPDX-License-Identifier: MIT */
/*
 * Packing and unpacking the handoff blobs (see handoff.h; byte layout in docs/shm.md). Packing
 * runs twice over the same code: once counting bytes, once writing into a buffer of exactly
 * that size, so a blob holding a password is never grown by realloc (which would leave copies
 * of the secret in freed memory). Every field of struct mm_cfg_session is packed; a field
 * added there must be added here and to the round-trip test (tests/unit/shm/test_handoff.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "handoff.h"
#include "wire.h"

/* The reader of common/wire.h, and whether an allocation failed (-ENOMEM, not -EBADMSG). */
struct hr {
	struct pr r;
	bool oom;
};

static void put_le(struct pw *w, uint64_t v, unsigned n)
{
	pw_le(w, v, n);
}

/* A string: u16 length and the bytes (no NUL), at most MM_CFG_STR_MAX. */
static void put_str(struct pw *w, const char *s)
{
	pw_str(w, (struct mm_bytes){ (const uint8_t *)s, (uint32_t)strlen(s) }, MM_CFG_STR_MAX);
}

/* An optional string: u8 present, then the string. */
static void put_ostr(struct pw *w, const char *s)
{
	put_le(w, s != NULL, 1);
	if (s)
		put_str(w, s);
}

static void put_double(struct pw *w, double d)
{
	uint64_t v;

	memcpy(&v, &d, sizeof(v));
	put_le(w, v, 8);
}

static uint64_t get_le(struct hr *r, unsigned n)
{
	return pr_le(&r->r, n);
}

/* A string of at most <max> bytes, copied into malloc'd memory (NUL-terminated); or NULL. */
static char *get_str(struct hr *r, size_t max)
{
	struct mm_bytes b = pr_str(&r->r, max > MM_CFG_STR_MAX ? MM_CFG_STR_MAX : (uint32_t)max);
	char *s;

	if (r->r.bad)
		return NULL;
	s = strndup(b.len ? (const char *)b.p : "", b.len);
	if (!s)
		r->oom = r->r.bad = true;
	return s;
}

static char *get_ostr(struct hr *r, size_t max)
{
	uint64_t present = get_le(r, 1);

	if (present > 1)
		r->r.bad = true;
	return present == 1 ? get_str(r, max) : NULL;
}

/* A string into a fixed buffer of <size> bytes (NUL included). */
static void get_fixed(struct hr *r, char *buf, size_t size)
{
	char *s = get_str(r, size - 1);

	if (s)
		memcpy(buf, s, strlen(s) + 1);
	free(s);
}

static double get_double(struct hr *r)
{
	uint64_t v = get_le(r, 8);
	double d;

	memcpy(&d, &v, sizeof(d));
	return d;
}

static bool get_bool(struct hr *r)
{
	uint64_t v = get_le(r, 1);

	if (v > 1)
		r->r.bad = true;
	return v == 1;
}

/* A count of elements of at least <min_size> bytes each: bounded by what is left. */
static size_t get_count(struct hr *r, size_t min_size)
{
	size_t n = (size_t)get_le(r, 4);

	if (!r->r.bad && n > (r->r.len - r->r.off) / min_size)
		r->r.bad = true;
	return r->r.bad ? 0 : n;
}

static void put_header(struct pw *w, enum mm_handoff_kind kind)
{
	put_le(w, MM_HANDOFF_MAGIC, 4);
	put_le(w, MM_HANDOFF_VERSION, 2);
	put_le(w, kind, 2);
}

static void get_header(struct hr *r, enum mm_handoff_kind kind)
{
	if (get_le(r, 4) != MM_HANDOFF_MAGIC || get_le(r, 2) != MM_HANDOFF_VERSION ||
	    get_le(r, 2) != kind)
		r->r.bad = true;
}

/* ---- the session ---- */

static void put_broker(struct pw *w, const struct mm_cfg_broker *b)
{
	put_le(w, b->scheme, 1);
	put_le(w, b->tls, 1);
	put_str(w, b->host);
	put_le(w, b->port, 2);
	put_str(w, b->path);
}

static void put_session(struct pw *w, const struct mm_cfg_session *s)
{
	put_header(w, MM_HANDOFF_SESSION);
	put_str(w, s->name);
	put_le(w, s->n_brokers, 4);
	for (size_t i = 0; i < s->n_brokers; i++)
		put_broker(w, &s->brokers[i]);
	put_str(w, s->client_id);
	put_ostr(w, s->username);
	put_ostr(w, s->password_file);
	put_le(w, s->password != NULL, 1);
	if (s->password)
		pw_str(w,
		       (struct mm_bytes){ (const uint8_t *)s->password, (uint32_t)s->password_len },
		       MM_CFG_STR_MAX);
	put_le(w, s->protocol, 1);
	put_le(w, (uint32_t)s->keepalive, 4);
	put_le(w, s->clean_session, 1);
	put_le(w, s->auto_reconnect, 1);
	put_le(w, s->persistent, 1);
	put_le(w, s->resume_subs, 1);
	put_double(w, s->connect_timeout);
	put_double(w, s->reconnect.initial);
	put_double(w, s->reconnect.max);
	put_double(w, s->reconnect.factor);
	put_double(w, s->reconnect.jitter);
	put_le(w, s->n_subs, 4);
	for (size_t i = 0; i < s->n_subs; i++) {
		put_str(w, s->subs[i].topic);
		put_le(w, (uint8_t)s->subs[i].qos, 1);
	}
	put_le(w, s->will.set, 1);
	put_ostr(w, s->will.topic);
	put_ostr(w, s->will.payload);
	put_le(w, (uint8_t)s->will.qos, 1);
	put_le(w, s->will.retain, 1);
	put_ostr(w, s->tls.ca_file);
	put_ostr(w, s->tls.cert_file);
	put_ostr(w, s->tls.key_file);
	put_ostr(w, s->tls.server_name);
	put_le(w, s->tls.skip_verify, 1);
	put_le(w, s->perf.ring_size, 8);
	put_le(w, s->perf.max_message_size, 4);
	put_le(w, (uint32_t)s->perf.max_pending, 4);
	put_le(w, s->perf.latency_budget_us, 4);
}

/* Run <put> twice: count, then write into a buffer of exactly that size. */
static ssize_t pack_twice(void (*put)(struct pw *, const void *), const void *obj, uint8_t **ret)
{
	struct pw w = { 0 };
	ssize_t n;

	put(&w, obj);
	if (w.err)
		return w.err;
	w = (struct pw){ .p = malloc(w.off ? w.off : 1), .cap = w.off };
	if (!w.p)
		return -ENOMEM;
	put(&w, obj);
	n = pw_end(&w);
	if (n < 0) {
		explicit_bzero(w.p, w.cap);
		free(w.p);
		return n;
	}
	*ret = w.p;
	return n;
}

static void put_session_any(struct pw *w, const void *obj)
{
	put_session(w, obj);
}

ssize_t mm_handoff_session_pack(const struct mm_cfg_session *s, uint8_t **ret)
{
	return pack_twice(put_session_any, s, ret);
}

static void get_broker(struct hr *r, struct mm_cfg_broker *b)
{
	uint64_t scheme = get_le(r, 1);

	b->scheme = scheme < _MM_CFG_SCHEME_MAX ? (enum mm_cfg_scheme)scheme : MM_CFG_SCHEME_TCP;
	r->r.bad |= scheme >= _MM_CFG_SCHEME_MAX;
	b->tls = get_bool(r);
	get_fixed(r, b->host, sizeof(b->host));
	b->port = (uint16_t)get_le(r, 2);
	get_fixed(r, b->path, sizeof(b->path));
}

static void get_password(struct hr *r, struct mm_cfg_session *s)
{
	if (!get_bool(r))
		return;
	s->password = get_str(r, MM_CFG_STR_MAX);
	s->password_len = s->password ? strlen(s->password) : 0;
}

static void get_lists(struct hr *r, struct mm_cfg_session *s)
{
	size_t n = get_count(r, 1 + 1 + 2 + 2 + 2);

	s->brokers = calloc(n ? n : 1, sizeof(*s->brokers));
	r->oom |= !s->brokers;
	r->r.bad |= !s->brokers || n == 0;
	for (size_t i = 0; i < n && !r->r.bad; i++, s->n_brokers++)
		get_broker(r, &s->brokers[i]);
	s->client_id = get_str(r, MM_CFG_STR_MAX);
	s->username = get_ostr(r, MM_CFG_STR_MAX);
	s->password_file = get_ostr(r, MM_HANDOFF_MAX);
	get_password(r, s);
}

static void get_subs(struct hr *r, struct mm_cfg_session *s)
{
	size_t n = get_count(r, 2 + 1);

	s->subs = calloc(n ? n : 1, sizeof(*s->subs));
	r->oom |= !s->subs;
	r->r.bad |= !s->subs;
	for (size_t i = 0; i < n && !r->r.bad; i++, s->n_subs++) {
		s->subs[i].topic = get_str(r, MM_CFG_STR_MAX);
		s->subs[i].qos = (int)get_le(r, 1);
		r->r.bad |= s->subs[i].qos > 2;
	}
}

static void get_will_tls(struct hr *r, struct mm_cfg_session *s)
{
	s->will.set = get_bool(r);
	s->will.topic = get_ostr(r, MM_CFG_STR_MAX);
	s->will.payload = get_ostr(r, MM_CFG_STR_MAX);
	s->will.qos = (int)get_le(r, 1);
	s->will.retain = get_bool(r);
	r->r.bad |= s->will.qos > 2;
	s->tls.ca_file = get_ostr(r, MM_HANDOFF_MAX);
	s->tls.cert_file = get_ostr(r, MM_HANDOFF_MAX);
	s->tls.key_file = get_ostr(r, MM_HANDOFF_MAX);
	s->tls.server_name = get_ostr(r, MM_CFG_HOST_MAX);
	s->tls.skip_verify = get_bool(r);
}

static void get_session(struct hr *r, struct mm_cfg_session *s)
{
	uint64_t proto;

	get_header(r, MM_HANDOFF_SESSION);
	s->name = get_str(r, MM_CFG_NAME_MAX);
	get_lists(r, s);
	proto = get_le(r, 1);
	s->protocol = proto < _MM_CFG_PROTOCOL_MAX ? (enum mm_cfg_protocol)proto : 0;
	r->r.bad |= proto >= _MM_CFG_PROTOCOL_MAX;
	s->keepalive = (int)get_le(r, 4);
	r->r.bad |= s->keepalive < 0 || s->keepalive > 65535;
	s->clean_session = get_bool(r);
	s->auto_reconnect = get_bool(r);
	s->persistent = get_bool(r);
	s->resume_subs = get_bool(r);
	s->connect_timeout = get_double(r);
	r->r.bad |= !(s->connect_timeout > 0 && s->connect_timeout <= MM_CFG_SECONDS_MAX);
	s->reconnect.initial = get_double(r);
	s->reconnect.max = get_double(r);
	s->reconnect.factor = get_double(r);
	s->reconnect.jitter = get_double(r);
	get_subs(r, s);
	get_will_tls(r, s);
	s->perf.ring_size = get_le(r, 8);
	s->perf.max_message_size = (uint32_t)get_le(r, 4);
	s->perf.max_pending = (int)get_le(r, 4);
	s->perf.latency_budget_us = (uint32_t)get_le(r, 4);
	r->r.bad |= !s->name || !mm_cfg_session_name_valid(s->name) || !s->client_id ||
		    s->perf.max_pending < 1 ||
		    s->perf.latency_budget_us > MM_CFG_LATENCY_BUDGET_MAX || r->r.off != r->r.len;
}

int mm_handoff_session_unpack(const uint8_t *buf, size_t len, struct mm_cfg_session **ret)
{
	struct hr r = { .r = { .p = buf, .len = len } };
	struct mm_cfg_session *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	get_session(&r, s);
	if (r.r.bad) {
		mm_cfg_session_free(s);
		return r.oom ? -ENOMEM : -EBADMSG;
	}
	*ret = s;
	return 0;
}

/* ---- the router's table ---- */

static void put_ids(struct pw *w, const unsigned int *ids, size_t n)
{
	put_le(w, n, 4);
	for (size_t i = 0; i < n; i++)
		put_le(w, ids[i], 4);
}

/* One session of the router's table (also the body of a SESSION_ADD channel record). */
static void put_rsess(struct pw *w, const struct mm_handoff_rsess *e)
{
	put_le(w, e->idx, 4);
	put_le(w, e->max_msg, 4);
	put_str(w, e->name);
	put_le(w, e->access.set, 1);
	put_ids(w, e->access.allow_uids, e->access.n_allow_uids);
	put_ids(w, e->access.allow_gids, e->access.n_allow_gids);
}

static void put_rsess_any(struct pw *w, const void *obj)
{
	put_rsess(w, obj);
}

ssize_t mm_handoff_rsess_pack(const struct mm_handoff_rsess *e, uint8_t **ret)
{
	return pack_twice(put_rsess_any, e, ret);
}

static void put_router(struct pw *w, const void *obj)
{
	const struct mm_handoff_router *t = obj;

	put_header(w, MM_HANDOFF_ROUTER);
	put_str(w, t->runtime_dir);
	put_ids(w, t->clients.allow_uids, t->clients.n_allow_uids);
	put_ids(w, t->clients.allow_gids, t->clients.n_allow_gids);
	put_le(w, t->clients.ring_size, 8);
	put_le(w, t->clients.on_full, 1);
	put_double(w, t->clients.rejoin_grace);
	put_double(w, t->clients.block_timeout);
	put_le(w, (uint64_t)t->clients.max_clients, 4);
	put_le(w, (uint64_t)t->clients.max_clients_per_uid, 4);
	put_le(w, (uint64_t)t->clients.max_routes, 4);
	put_le(w, (uint64_t)t->clients.max_filter_length, 4);
	put_le(w, (uint64_t)t->clients.max_pending, 4);
	put_le(w, t->clients.max_queued_bytes, 8);
	put_le(w, t->n_sessions, 4);
	for (size_t i = 0; i < t->n_sessions; i++)
		put_rsess(w, &t->sessions[i]);
}

ssize_t mm_handoff_router_pack(const struct mm_handoff_router *t, uint8_t **ret)
{
	return pack_twice(put_router, t, ret);
}

/* A list of u32 ids into malloc'd *ret (unsigned int: uid_t and gid_t). */
static size_t get_ids(struct hr *r, unsigned int **ret)
{
	size_t n = get_count(r, 4);

	*ret = calloc(n ? n : 1, sizeof(**ret));
	if (!*ret) {
		r->oom = r->r.bad = true;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		(*ret)[i] = (unsigned int)get_le(r, 4);
	return n;
}

/* The router's bounds (clients.max_*): each at least 1, as the config reader checked. */
static void get_limits(struct hr *r, struct mm_cfg_clients *c)
{
	uint32_t v[5];

	for (int i = 0; i < 5; i++) {
		v[i] = (uint32_t)get_le(r, 4);
		r->r.bad |= v[i] < 1 || v[i] > INT32_MAX;
	}
	c->max_clients = (int)v[0];
	c->max_clients_per_uid = (int)v[1];
	c->max_routes = (int)v[2];
	c->max_filter_length = (int)v[3];
	c->max_pending = (int)v[4];
	c->max_queued_bytes = get_le(r, 8);
	r->r.bad |= c->max_queued_bytes < 1;
}

static void get_rsess(struct hr *r, struct mm_handoff_rsess *e)
{
	struct mm_cfg_access *a = &e->access;

	e->idx = (uint32_t)get_le(r, 4);
	e->max_msg = (uint32_t)get_le(r, 4);
	get_fixed(r, e->name, sizeof(e->name));
	r->r.bad |= !mm_cfg_session_name_valid(e->name);
	a->set = get_bool(r);
	a->n_allow_uids = get_ids(r, &a->allow_uids);
	a->n_allow_gids = get_ids(r, &a->allow_gids);
	r->r.bad |= a->n_allow_uids > MM_CFG_ACCESS_MAX || a->n_allow_gids > MM_CFG_ACCESS_MAX;
}

int mm_handoff_rsess_unpack(const uint8_t *buf, size_t len, struct mm_handoff_rsess *e)
{
	struct hr r = { .r = { .p = buf, .len = len } };

	*e = (struct mm_handoff_rsess){ 0 };
	get_rsess(&r, e);
	r.r.bad |= r.r.off != r.r.len;
	if (r.r.bad) {
		mm_handoff_rsess_done(e);
		return r.oom ? -ENOMEM : -EBADMSG;
	}
	return 0;
}

void mm_handoff_rsess_done(struct mm_handoff_rsess *e)
{
	free(e->access.allow_uids);
	free(e->access.allow_gids);
	e->access = (struct mm_cfg_access){ 0 };
}

static void get_router(struct hr *r, struct mm_handoff_router *t)
{
	uint64_t on_full;

	get_header(r, MM_HANDOFF_ROUTER);
	t->runtime_dir = get_str(r, MM_HANDOFF_MAX);
	t->clients.n_allow_uids = get_ids(r, &t->clients.allow_uids);
	t->clients.n_allow_gids = get_ids(r, &t->clients.allow_gids);
	t->clients.ring_size = get_le(r, 8);
	on_full = get_le(r, 1);
	t->clients.on_full = on_full < _MM_CFG_ON_FULL_MAX ? (enum mm_cfg_on_full)on_full : 0;
	r->r.bad |= on_full >= _MM_CFG_ON_FULL_MAX || !t->runtime_dir;
	t->clients.rejoin_grace = get_double(r);
	r->r.bad |=
		!(t->clients.rejoin_grace >= 0 && t->clients.rejoin_grace <= MM_CFG_SECONDS_MAX);
	t->clients.block_timeout = get_double(r);
	r->r.bad |=
		!(t->clients.block_timeout > 0 && t->clients.block_timeout <= MM_CFG_SECONDS_MAX);
	get_limits(r, &t->clients);
	t->n_sessions = get_count(r, 4 + 4 + 2 + 1 + 4 + 4);
	t->sessions = calloc(t->n_sessions ? t->n_sessions : 1, sizeof(*t->sessions));
	if (!t->sessions)
		r->oom = r->r.bad = true;
	for (size_t i = 0; i < t->n_sessions && !r->r.bad; i++)
		get_rsess(r, &t->sessions[i]);
	r->r.bad |= r->r.off != r->r.len;
}

int mm_handoff_router_unpack(const uint8_t *buf, size_t len, struct mm_handoff_router **ret)
{
	struct hr r = { .r = { .p = buf, .len = len } };
	struct mm_handoff_router *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	get_router(&r, t);
	if (r.r.bad) {
		mm_handoff_router_free(t);
		return r.oom ? -ENOMEM : -EBADMSG;
	}
	*ret = t;
	return 0;
}

void mm_handoff_router_free(struct mm_handoff_router *t)
{
	if (!t)
		return;
	free((char *)t->runtime_dir);
	free(t->clients.allow_uids);
	free(t->clients.allow_gids);
	for (size_t i = 0; t->sessions && i < t->n_sessions; i++)
		mm_handoff_rsess_done(&t->sessions[i]);
	free(t->sessions);
	free(t);
}
