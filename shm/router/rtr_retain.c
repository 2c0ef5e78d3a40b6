/* SPDX-License-Identifier: MIT */
/*
 * Retained messages for the routes that asked for them (docs/router.md, "Retained messages").
 *
 * The broker sends a retained message, with the retain flag set, only because of a SUBSCRIBE;
 * a message forwarded live never has it (MQTT 3.1.1 §3.3.1.3; MQTT 5 with Retain As Published
 * off, as the workers subscribe). A session's one MQTT connection is shared by every route on
 * it, so when a new route makes its worker SUBSCRIBE again, the broker's answer reaches every
 * route of that filter. Here a retained-flagged message goes only to routes in a *window*: a
 * new route's own, opened when it is added, or every route's after the session (re)connects
 * (its worker subscribes everything again). Each window remembers the topics it was given
 * (retained or live), so a route never gets a topic's retained message twice, whichever
 * SUBSCRIBE it answers. Windows close MM_RTR_RETAIN_WINDOW_NS after they open; a retained
 * message that comes later reaches no route.
 *
 * Process code of the router (single-threaded). Nothing here allocates on the path of a
 * message that is not retained while the session has no window.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mm_time.h"
#include "rtr.h"

/* One route's window on one session: the topics it was given since it opened. */
struct mm_rtr_rwin {
	struct mm_rtr_rwin *next; /* bucket chain */
	uint32_t client, route, session;
	uint64_t until_ns; /* CLOCK_MONOTONIC: expires then */
	uint64_t last_pos; /* in-ring position of the last retained message it took */
	bool closed;	   /* out of room: takes no retained message until it expires */
	uint32_t n, cap;   /* topic hashes in set; cap a power of two, or 0 */
	uint64_t *set;	   /* open addressing; 0 = empty slot */
};

static size_t bucket(uint32_t client, uint32_t route, uint32_t session)
{
	uint64_t k = ((uint64_t)client << 32 | route) * 0x9e3779b97f4a7c15ull ^ session;

	return (size_t)(k >> 54) % MM_RTR_RETAIN_BUCKETS;
}

/* FNV-1a of the topic, never 0 (0 marks an empty slot). */
static uint64_t topic_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ? h : 1;
}

static void win_free(struct mm_rtr *r, struct mm_rtr_rwin *w)
{
	struct mm_rtr_session *s = mm_rtr_session_at(r, w->session);

	if (s && s->n_windows)
		s->n_windows--;
	r->retain.topics -= w->n;
	r->retain.n--;
	free(w->set);
	free(w);
}

static bool set_has(const struct mm_rtr_rwin *w, uint64_t h)
{
	for (uint32_t i = (uint32_t)h & (w->cap - 1); w->cap && w->set[i];
	     i = (i + 1) & (w->cap - 1))
		if (w->set[i] == h)
			return true;
	return false;
}

static void set_put(uint64_t *set, uint32_t cap, uint64_t h)
{
	uint32_t i = (uint32_t)h & (cap - 1);

	while (set[i] && set[i] != h)
		i = (i + 1) & (cap - 1);
	set[i] = h;
}

/* Double the set (or make it): false when the window or the router is at its limit. */
static bool set_grow(struct mm_rtr *r, struct mm_rtr_rwin *w)
{
	uint32_t cap = w->cap ? 2 * w->cap : 64;
	uint64_t *set;

	if (w->n >= MM_RTR_RETAIN_TOPICS_MAX || r->retain.topics >= MM_RTR_RETAIN_TOTAL_MAX)
		return false;
	set = calloc(cap, sizeof(*set));
	if (!set)
		return false;
	for (uint32_t i = 0; i < w->cap; i++)
		if (w->set[i])
			set_put(set, cap, w->set[i]);
	free(w->set);
	w->set = set;
	w->cap = cap;
	return true;
}

/* Remember topic <h> in <w>; a window that cannot grow closes (it then drops retained ones). */
static void set_add(struct mm_rtr *r, struct mm_rtr_rwin *w, uint64_t h)
{
	if (w->closed || set_has(w, h))
		return;
	if (2 * (w->n + 1) > w->cap && !set_grow(r, w)) {
		w->closed = true;
		r->retain.topics -= w->n;
		w->n = w->cap = 0;
		free(w->set);
		w->set = NULL;
		return;
	}
	set_put(w->set, w->cap, h);
	w->n++;
	r->retain.topics++;
}

/* The window of (client, route, session), or NULL; an expired one is freed on the way. */
static struct mm_rtr_rwin *win_find(struct mm_rtr *r, uint32_t client, uint32_t route,
				    uint32_t session, uint64_t now)
{
	struct mm_rtr_rwin **pp = &r->retain.b[bucket(client, route, session)], *w;

	while ((w = *pp)) {
		if (w->until_ns <= now) {
			*pp = w->next;
			win_free(r, w);
			continue;
		}
		if (w->client == client && w->route == route && w->session == session)
			return w;
		pp = &w->next;
	}
	return NULL;
}

static struct mm_rtr_rwin *win_new(struct mm_rtr *r, uint32_t client, uint32_t route,
				   uint32_t session, uint64_t until)
{
	struct mm_rtr_session *s = mm_rtr_session_at(r, session);
	struct mm_rtr_rwin *w = s ? calloc(1, sizeof(*w)) : NULL;
	size_t b = bucket(client, route, session);

	if (!w)
		return NULL;
	*w = (struct mm_rtr_rwin){ .next = r->retain.b[b],
				   .client = client,
				   .route = route,
				   .session = session,
				   .until_ns = until };
	r->retain.b[b] = w;
	r->retain.n++;
	s->n_windows++;
	return w;
}

/* Free every window <drop> (NULL: none) says yes to, and the expired ones. */
static void win_sweep(struct mm_rtr *r, bool (*drop)(const struct mm_rtr_rwin *, const void *),
		      const void *arg)
{
	uint64_t now = mm_time_mono_ns();

	for (size_t b = 0; r->retain.n && b < MM_RTR_RETAIN_BUCKETS; b++)
		for (struct mm_rtr_rwin **pp = &r->retain.b[b], *w; (w = *pp);) {
			if (w->until_ns > now && !(drop && drop(w, arg))) {
				pp = &w->next;
				continue;
			}
			*pp = w->next;
			win_free(r, w);
		}
}

void mm_rtr_retain_route_added(struct mm_rtr *r, uint32_t client, uint32_t route, int sess)
{
	uint64_t until = mm_time_mono_ns() + MM_RTR_RETAIN_WINDOW_NS;

	for (size_t i = 0; i < r->nsess; i++) {
		uint32_t idx = r->sess[i]->idx;

		if ((sess != MM_RTR_SESSION_ALL && (uint32_t)sess != idx) || r->sess[i]->dead)
			continue;
		if (!win_find(r, client, route, idx, 0) && !win_new(r, client, route, idx, until))
			mm_log(MM_LOG_WARNING,
			       "out of memory: route %u of client %u gets no retained "
			       "messages",
			       route, client);
	}
}

static bool of_session(const struct mm_rtr_rwin *w, const void *arg)
{
	return w->session == *(const uint32_t *)arg;
}

/* Session <idx> leaves the table (rtr_table.c): its windows go with it. */
void mm_rtr_retain_session_gone(struct mm_rtr *r, uint32_t idx)
{
	win_sweep(r, of_session, &idx);
}

void mm_rtr_retain_connected(struct mm_rtr *r, struct mm_rtr_session *s, bool first)
{
	uint64_t until = mm_time_mono_ns() + MM_RTR_RETAIN_WINDOW_NS;

	if (first)
		win_sweep(r, of_session, &s->idx); /* every route starts again, lazily */
	if (until > s->replay_until_ns)
		s->replay_until_ns = until;
}

struct route_key {
	uint32_t client, route;
};

static bool of_route(const struct mm_rtr_rwin *w, const void *arg)
{
	const struct route_key *k = arg;

	return w->client == k->client && (k->route == 0 || w->route == k->route);
}

void mm_rtr_retain_forget(struct mm_rtr *r, uint32_t client, uint32_t route)
{
	struct route_key k = { client, route };

	if (r->retain.n)
		win_sweep(r, of_route, &k);
}

/* Free the windows that expired, at most once a second (each lookup frees those it meets). */
void mm_rtr_retain_expire(struct mm_rtr *r)
{
	uint64_t now;

	if (!r->retain.n || (now = mm_time_mono_ns()) < r->retain.next_sweep_ns)
		return;
	r->retain.next_sweep_ns = now + 1000000000ull;
	win_sweep(r, NULL, NULL);
}

/* Scratch for the matches of a retained message, grown to <n> clients and <nids> ids. */
static int scratch(struct mm_rtr_retain *t, size_t n, size_t nids)
{
	if (n > UINT32_MAX || nids > UINT32_MAX)
		return -ENOMEM;
	if (n > t->mt_cap) {
		struct mm_rtr_match *m = realloc(t->mt, n * sizeof(*m));

		if (!m)
			return -ENOMEM;
		t->mt = m;
		t->mt_cap = n;
	}
	if (nids > t->ids_cap) {
		uint32_t *ids = realloc(t->ids, nids * sizeof(*ids));

		if (!ids)
			return -ENOMEM;
		t->ids = ids;
		t->ids_cap = nids;
	}
	return 0;
}

/*
 * Does route <id> of <client> take this message on <s>? Live ones always do (and are
 * remembered by its window, if it has one); a retained one only within a window that has not
 * seen the topic, created here while the session's reconnect window is open. The same record
 * (in-ring position <pos>) asked again, after a blocking client made room, gets the same
 * answer.
 */
static bool takes(struct mm_rtr *r, struct mm_rtr_session *s, uint32_t client, uint32_t id,
		  bool retained, uint64_t h, uint64_t pos)
{
	uint64_t now = r->batch_mono_ns;
	struct mm_rtr_rwin *w = s->n_windows ? win_find(r, client, id, s->idx, now) : NULL;

	if (!w && retained && s->replay_until_ns > now)
		w = win_new(r, client, id, s->idx, s->replay_until_ns);
	if (!retained) {
		if (w)
			set_add(r, w, h);
		return true;
	}
	if (!w || w->closed)
		return false;
	if (set_has(w, h))
		return w->last_pos == pos;
	set_add(r, w, h);
	w->last_pos = pos;
	return !w->closed;
}

int mm_rtr_retain_filter(struct mm_rtr *r, struct mm_rtr_session *s, const struct mm_rec_msg *m,
			 const struct mm_rtr_match *mt, int n, const struct mm_rtr_match **ret)
{
	bool retained = m->flags & MM_REC_F_RETAIN;
	uint64_t h;
	struct mm_rtr_retain *t = &r->retain;
	size_t nids = 0, out = 0, k = 0;

	*ret = mt;
	if (!retained && !s->n_windows)
		return n; /* the fast path: nothing to remember, nothing to hold back */
	h = topic_hash(m->topic.p, m->topic.len);
	for (int i = 0; i < n; i++)
		nids += mt[i].nids;
	if (retained && scratch(t, (size_t)n, nids) < 0)
		return 0; /* out of memory: the retained message reaches nobody */
	for (int i = 0; i < n; i++) {
		size_t first = k;

		for (uint32_t j = 0; j < mt[i].nids; j++)
			if (takes(r, s, mt[i].client, mt[i].ids[j], retained, h, s->in.pos) &&
			    retained)
				t->ids[k++] = mt[i].ids[j];
		if (retained && k > first) {
			t->mt[out] = mt[i];
			t->mt[out].ids = t->ids + first;
			t->mt[out++].nids = (uint32_t)(k - first);
		}
	}
	if (!retained)
		return n;
	*ret = t->mt;
	return (int)out;
}

void mm_rtr_retain_done(struct mm_rtr *r)
{
	for (size_t b = 0; b < MM_RTR_RETAIN_BUCKETS; b++)
		while (r->retain.b[b]) {
			struct mm_rtr_rwin *w = r->retain.b[b];

			r->retain.b[b] = w->next;
			free(w->set);
			free(w);
		}
	r->retain.n = r->retain.topics = 0;
	free(r->retain.mt);
	free(r->retain.ids);
	r->retain.mt = NULL;
	r->retain.ids = NULL;
	r->retain.mt_cap = r->retain.ids_cap = 0;
}
