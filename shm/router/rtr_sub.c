/* SPDX-License-Identifier: MIT */
/*
 * The subscription matcher's routes, clients and per-session reference counts, and the match
 * entry point that groups the trie's hits per client. The trie itself is in rtr_sub_trie.c; the
 * rules are described in docs/router.md ("Subscription matching").
 *
 * Reference counts: a filter string's state on a session is "inactive" or the highest QoS of
 * its routes that apply there: the routes for that session plus, once the session was added,
 * the all-session routes. Every change of that state is reported through the change callback,
 * so the router sends exactly one SUBSCRIBE per (session, filter) and one UNSUBSCRIBE after the
 * last route goes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rtr_sub_int.h"

static const uint32_t zero_counts[3];

int mm_rtr_sub_init(struct mm_rtr_sub *t, mm_rtr_sub_change_fn *change, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->root = mm_rtr_sub_node_new("", 0);
	if (!t->root)
		return -ENOMEM;
	t->change = change;
	t->change_arg = arg;
	return 0;
}

static void client_free(struct rtr_client *c)
{
	struct rtr_route *r, *next;

	for (r = c->routes; r; r = next) {
		next = r->cnext;
		free(r);
	}
	free(c);
}

void mm_rtr_sub_done(struct mm_rtr_sub *t)
{
	struct rtr_filter *f, *next;
	size_t i;

	for (i = 0; i < t->nclients; i++)
		client_free(t->clients[i]);
	for (f = t->filters; f; f = next) {
		next = f->next;
		free(f->sc);
		free(f);
	}
	mm_rtr_sub_node_free_all(t->root);
	free(t->clients);
	free(t->known);
	free(t->hits);
	free(t->ids);
	free(t->matches);
	free(t->mclients);
	memset(t, 0, sizeof(*t));
}

/* ---- per-session state of a filter ---- */

static bool session_is_known(const struct mm_rtr_sub *t, uint32_t s)
{
	return s < t->known_cap && t->known[s];
}

static struct rtr_scount *sc_find(const struct rtr_filter *f, uint32_t s)
{
	uint32_t i;

	for (i = 0; i < f->nsc; i++)
		if (f->sc[i].session == s)
			return &f->sc[i];
	return NULL;
}

/* The counts of <f> on session <s>, created (zero) if missing. NULL when out of memory. */
static struct rtr_scount *sc_get(struct rtr_filter *f, uint32_t s)
{
	struct rtr_scount *sc = sc_find(f, s);

	if (sc)
		return sc;
	if (f->nsc == f->sc_cap) {
		uint32_t cap = f->sc_cap ? f->sc_cap * 2 : 2;

		sc = reallocarray(f->sc, cap, sizeof(*sc));
		if (!sc)
			return NULL;
		f->sc = sc;
		f->sc_cap = cap;
	}
	sc = &f->sc[f->nsc++];
	memset(sc, 0, sizeof(*sc));
	sc->session = s;
	return sc;
}

/* Highest QoS with a route among <all> + <own>, or MM_RTR_SUB_INACTIVE. */
static int state_of(const uint32_t *all, const uint32_t *own)
{
	int q;

	for (q = 2; q >= 0; q--)
		if (all[q] + own[q])
			return q;
	return MM_RTR_SUB_INACTIVE;
}

/* The state of <f> on session <s> as the worker of <s> should see it. */
static int filter_state(const struct mm_rtr_sub *t, const struct rtr_filter *f, uint32_t s)
{
	const struct rtr_scount *sc = sc_find(f, s);

	return state_of(session_is_known(t, s) ? f->all : zero_counts, sc ? sc->q : zero_counts);
}

static void report(const struct mm_rtr_sub *t, uint32_t s, const struct rtr_filter *f, int old,
		   int now)
{
	if (t->change && old != now)
		t->change(t->change_arg, s, f->full, old, now);
}

/* Count one more (<delta> 1) or one fewer (-1) route of <qos> on session <s> of <f>. */
static void count_session(struct mm_rtr_sub *t, struct rtr_filter *f, uint32_t s, uint8_t qos,
			  int delta)
{
	struct rtr_scount *sc = sc_find(f, s);
	int old = filter_state(t, f, s);

	if (!sc) /* never: route_prepare() created it and the route keeps it */
		return;
	sc->q[qos] += (uint32_t)delta;
	report(t, s, f, old, filter_state(t, f, s));
	if (!(sc->q[0] | sc->q[1] | sc->q[2]))
		*sc = f->sc[--f->nsc];
}

/* Count one more or one fewer all-session route of <qos> on <f>, for every known session. */
static void count_all(struct mm_rtr_sub *t, struct rtr_filter *f, uint8_t qos, int delta)
{
	uint32_t old[3];
	size_t s;

	memcpy(old, f->all, sizeof(old));
	f->all[qos] += (uint32_t)delta;
	for (s = 0; s < t->known_cap; s++) {
		const struct rtr_scount *sc;

		if (!t->known[s])
			continue;
		sc = sc_find(f, (uint32_t)s);
		report(t, (uint32_t)s, f, state_of(old, sc ? sc->q : zero_counts),
		       state_of(f->all, sc ? sc->q : zero_counts));
	}
}

static void count_route(struct mm_rtr_sub *t, const struct rtr_route *r, int delta)
{
	if (r->session == MM_RTR_SESSION_ALL)
		count_all(t, r->f, r->qos, delta);
	else
		count_session(t, r->f, (uint32_t)r->session, r->qos, delta);
}

/* ---- filters ---- */

/* Where the filter to match starts in <full> (valid): after "$share/<group>/" if present. */
static size_t share_prefix(const char *full, size_t *ret_group_len)
{
	static const char share[] = "$share/";
	const char *g, *slash;

	*ret_group_len = 0;
	if (strncmp(full, share, sizeof(share) - 1) != 0)
		return 0;
	g = full + sizeof(share) - 1;
	slash = strchr(g, '/');
	if (!slash) /* never for a valid filter */
		return 0;
	*ret_group_len = (size_t)(slash - g);
	return (size_t)(slash + 1 - full);
}

static size_t depth_of(const char *filter)
{
	size_t d = 1;

	for (; *filter; filter++)
		d += *filter == '/';
	return d;
}

/* The filter entry for <full> (valid), created with its trie levels if missing. */
static int filter_get(struct mm_rtr_sub *t, const char *full, struct rtr_filter **ret_f)
{
	size_t glen, off = share_prefix(full, &glen), len = strlen(full);
	struct rtr_filter *f;
	struct rtr_node *n;
	int r;

	r = mm_rtr_sub_node_get(t->root, full + off, &n);
	if (r < 0)
		return r;
	for (f = n->filters; f; f = f->node_next)
		if (strcmp(f->full, full) == 0)
			goto out;
	f = calloc(1, sizeof(*f) + len + 1);
	if (!f) {
		mm_rtr_sub_node_prune(n);
		return -ENOMEM;
	}
	memcpy(f->full, full, len + 1);
	f->group_off = glen ? off - glen - 1 : 0;
	f->group_len = glen;
	f->node = n;
	f->node_next = n->filters;
	n->filters = f;
	f->next = t->filters;
	if (t->filters)
		t->filters->prev = f;
	t->filters = f;
out:
	*ret_f = f;
	return 0;
}

/* Free <f> and the trie levels only it used, if no route uses it any more. */
static void filter_put(struct mm_rtr_sub *t, struct rtr_filter *f)
{
	struct rtr_filter **pp;

	if (f->routes)
		return;
	for (pp = &f->node->filters; *pp != f; pp = &(*pp)->node_next)
		;
	*pp = f->node_next;
	if (f->prev)
		f->prev->next = f->next;
	else
		t->filters = f->next;
	if (f->next)
		f->next->prev = f->prev;
	mm_rtr_sub_node_prune(f->node);
	free(f->sc);
	free(f);
}

/* ---- clients ---- */

static size_t client_index(const struct mm_rtr_sub *t, uint32_t id, bool *ret_found)
{
	size_t lo = 0, hi = t->nclients;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->clients[mid]->id == id) {
			*ret_found = true;
			return mid;
		}
		if (t->clients[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_found = false;
	return lo;
}

static struct rtr_client *client_find(const struct mm_rtr_sub *t, uint32_t id)
{
	bool found;
	size_t i = client_index(t, id, &found);

	return found ? t->clients[i] : NULL;
}

/* The client <id>, created if missing. NULL when out of memory. */
static struct rtr_client *client_get(struct mm_rtr_sub *t, uint32_t id)
{
	struct rtr_client *c;
	bool found;
	size_t i = client_index(t, id, &found);

	if (found)
		return t->clients[i];
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->id = id;
	memmove(&t->clients[i + 1], &t->clients[i], (t->nclients - i) * sizeof(*t->clients));
	t->clients[i] = c;
	t->nclients++;
	return c;
}

static void client_put(struct mm_rtr_sub *t, struct rtr_client *c)
{
	bool found;
	size_t i;

	if (c->routes)
		return;
	i = client_index(t, c->id, &found);
	memmove(&t->clients[i], &t->clients[i + 1], (t->nclients - i - 1) * sizeof(*t->clients));
	t->nclients--;
	free(c);
}

/* ---- scratch ---- */

static int grow(void **p, size_t *cap, size_t want, size_t size)
{
	size_t n = *cap ? *cap : 8;
	void *q;

	if (want <= *cap)
		return 0;
	while (n < want)
		n *= 2;
	q = reallocarray(*p, n, size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* Room for one more route and one more client, in the match scratch and the client index. */
static int reserve(struct mm_rtr_sub *t)
{
	size_t hits_cap = t->scratch_cap, ids_cap = t->scratch_cap, mc_cap = t->matches_cap;
	size_t m_cap = t->matches_cap;
	int r;

	r = grow((void **)&t->hits, &hits_cap, t->nroutes + 1, sizeof(*t->hits));
	if (!r)
		r = grow((void **)&t->ids, &ids_cap, t->nroutes + 1, sizeof(*t->ids));
	if (!r)
		t->scratch_cap = hits_cap < ids_cap ? hits_cap : ids_cap;
	if (!r)
		r = grow((void **)&t->matches, &m_cap, t->nclients + 1, sizeof(*t->matches));
	if (!r)
		r = grow((void **)&t->mclients, &mc_cap, t->nclients + 1, sizeof(*t->mclients));
	if (!r)
		t->matches_cap = m_cap < mc_cap ? m_cap : mc_cap;
	if (!r)
		r = grow((void **)&t->clients, &t->clients_cap, t->nclients + 1,
			 sizeof(*t->clients));
	return r;
}

/* ---- routes ---- */

static int route_check(const struct mm_rtr_route *r)
{
	size_t glen;

	if (!mm_cfg_topic_filter_valid(r->filter) || r->qos > 2)
		return -EINVAL;
	if (r->session != MM_RTR_SESSION_ALL &&
	    (r->session < 0 || r->session >= MM_RTR_SESSION_MAX))
		return -EINVAL;
	if ((unsigned int)r->on_full >= _MM_CFG_ON_FULL_MAX)
		return -EINVAL;
	if (depth_of(r->filter + share_prefix(r->filter, &glen)) > MM_RTR_SUB_DEPTH_MAX)
		return -E2BIG;
	return 0;
}

static struct rtr_route *route_find(const struct rtr_client *c, uint32_t id)
{
	struct rtr_route *r;

	for (r = c ? c->routes : NULL; r; r = r->cnext)
		if (r->id == id)
			return r;
	return NULL;
}

/* Allocate everything the route needs, so that linking it in cannot fail. */
static int route_prepare(struct mm_rtr_sub *t, const struct mm_rtr_route *in, struct rtr_route *r)
{
	int ret;

	ret = reserve(t);
	if (ret < 0)
		return ret;
	ret = filter_get(t, in->filter, &r->f);
	if (ret < 0)
		return ret;
	if (in->session != MM_RTR_SESSION_ALL && !sc_get(r->f, (uint32_t)in->session))
		goto out_filter;
	r->c = client_get(t, in->client);
	if (!r->c)
		goto out_filter;
	return 0;

out_filter:
	filter_put(t, r->f);
	return -ENOMEM;
}

int mm_rtr_sub_add(struct mm_rtr_sub *t, const struct mm_rtr_route *in)
{
	struct rtr_route *r;
	int ret;

	ret = route_check(in);
	if (ret < 0)
		return ret;
	if (route_find(client_find(t, in->client), in->id))
		return -EEXIST;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	ret = route_prepare(t, in, r);
	if (ret < 0) {
		free(r);
		return ret;
	}
	r->id = in->id;
	r->session = in->session;
	r->qos = in->qos;
	r->on_full = (uint8_t)in->on_full;
	r->fnext = r->f->routes;
	r->f->routes = r;
	r->cnext = r->c->routes;
	r->c->routes = r;
	r->c->nroutes++;
	t->nroutes++;
	count_route(t, r, 1);
	return 0;
}

/* Unlink <r> from its filter, count it out (reporting), and free it. Its client stays. */
static void route_drop(struct mm_rtr_sub *t, struct rtr_route *r)
{
	struct rtr_filter *f = r->f;
	struct rtr_route **pp;

	for (pp = &f->routes; *pp != r; pp = &(*pp)->fnext)
		;
	*pp = r->fnext;
	count_route(t, r, -1);
	t->nroutes--;
	r->c->nroutes--;
	free(r);
	filter_put(t, f);
}

int mm_rtr_sub_remove(struct mm_rtr_sub *t, uint32_t client, uint32_t route_id)
{
	struct rtr_client *c = client_find(t, client);
	struct rtr_route **pp, *r;

	if (!c)
		return -ENOENT;
	for (pp = &c->routes; *pp && (*pp)->id != route_id; pp = &(*pp)->cnext)
		;
	r = *pp;
	if (!r)
		return -ENOENT;
	*pp = r->cnext;
	route_drop(t, r);
	client_put(t, c);
	return 0;
}

int mm_rtr_sub_remove_client(struct mm_rtr_sub *t, uint32_t client)
{
	struct rtr_client *c = client_find(t, client);
	struct rtr_route *r;
	int n = 0;

	if (!c)
		return 0;
	while ((r = c->routes)) {
		c->routes = r->cnext;
		route_drop(t, r);
		n++;
	}
	client_put(t, c);
	return n;
}

/* ---- sessions ---- */

int mm_rtr_sub_session_added(struct mm_rtr_sub *t, uint32_t session)
{
	const struct rtr_filter *f;
	size_t cap = t->known_cap;
	int r;

	if (session >= MM_RTR_SESSION_MAX)
		return -EINVAL;
	if (session_is_known(t, session))
		return -EEXIST;
	r = grow((void **)&t->known, &cap, (size_t)session + 1, sizeof(*t->known));
	if (r < 0)
		return r;
	memset(t->known + t->known_cap, 0, cap - t->known_cap);
	t->known_cap = cap;
	t->known[session] = 1;
	for (f = t->filters; f; f = f->next) {
		const struct rtr_scount *sc = sc_find(f, session);
		const uint32_t *own = sc ? sc->q : zero_counts;

		report(t, session, f, state_of(zero_counts, own), state_of(f->all, own));
	}
	return 0;
}

int mm_rtr_sub_session_removed(struct mm_rtr_sub *t, uint32_t session)
{
	if (!session_is_known(t, session))
		return -ENOENT;
	t->known[session] = 0;
	return 0;
}

int mm_rtr_sub_remove_session(struct mm_rtr_sub *t, uint32_t session, mm_rtr_sub_route_fn *fn,
			      void *arg)
{
	int n = 0;

	for (size_t i = 0; i < t->nclients;) {
		struct rtr_client *c = t->clients[i];
		struct rtr_route **pp = &c->routes, *r;

		while ((r = *pp)) {
			uint32_t id = r->id;

			if (r->session != (int32_t)session) {
				pp = &r->cnext;
				continue;
			}
			*pp = r->cnext;
			route_drop(t, r);
			if (fn)
				fn(arg, c->id, id);
			n++;
		}
		if (c->routes)
			i++;
		else
			client_put(t, c); /* the next client moved to <i> */
	}
	return n;
}

int mm_rtr_sub_filters_for_session(const struct mm_rtr_sub *t, uint32_t session,
				   mm_rtr_sub_filter_fn *fn, void *arg)
{
	const struct rtr_filter *f;
	int n = 0, q;

	for (f = t->filters; f; f = f->next) {
		q = filter_state(t, f, session);
		if (q == MM_RTR_SUB_INACTIVE)
			continue;
		fn(arg, f->full, q);
		n++;
	}
	return n;
}

/* ---- matching ---- */

/* Group the <nhits> routes in t->hits per client, into t->matches. Returns the client count. */
static int group_hits(struct mm_rtr_sub *t, size_t nhits)
{
	uint32_t nm = 0, off = 0, i;
	size_t h;

	for (h = 0; h < nhits; h++) {
		struct rtr_route *r = t->hits[h];
		struct rtr_client *c = r->c;
		struct mm_rtr_match *m;

		if (c->gen != t->gen) {
			c->gen = t->gen;
			c->slot = nm;
			t->mclients[nm] = c;
			t->matches[nm++] = (struct mm_rtr_match){ .client = c->id };
		}
		m = &t->matches[c->slot];
		m->nids++;
		if (r->qos > m->qos)
			m->qos = r->qos;
		if (r->on_full == MM_CFG_ON_FULL_BLOCK)
			m->on_full = MM_CFG_ON_FULL_BLOCK;
	}
	for (i = 0; i < nm; i++) {
		t->mclients[i]->off = off;
		t->matches[i].ids = &t->ids[off];
		off += t->matches[i].nids;
	}
	for (h = 0; h < nhits; h++)
		t->ids[t->hits[h]->c->off++] = t->hits[h]->id;
	return (int)nm;
}

int mm_rtr_sub_match(struct mm_rtr_sub *t, uint32_t session, const char *topic, size_t len,
		     const struct mm_rtr_match **ret_matches)
{
	size_t nhits;

	if (!len)
		return -EINVAL;
	t->gen++;
	nhits = mm_rtr_sub_walk(t, session, topic, len);
	*ret_matches = t->matches;
	return group_hits(t, nhits);
}
