/* SPDX-License-Identifier: MIT */
/*
 * The topic trie of the subscription matcher: one node per filter level, literal children
 * sorted for binary search, '+' and '#' children apart, and the walk that collects the routes
 * matching a topic. Routes, clients and reference counts are in rtr_sub.c.
 *
 * MQTT rules (3.1.1 §4.7, 5.0 §4.7): levels split on '/', empty levels are levels, '+' matches
 * one level, '#' matches the rest including nothing ("a/#" matches "a"), and a topic whose
 * first level starts with '$' is not matched by a first-level wildcard.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rtr_sub_int.h"

/* A node for <level> (<len> bytes) with no parent. Returns NULL when out of memory. */
struct rtr_node *mm_rtr_sub_node_new(const char *level, size_t len)
{
	struct rtr_node *n = calloc(1, sizeof(*n) + len);

	if (!n)
		return NULL;
	memcpy(n->level, level, len);
	n->len = (uint32_t)len;
	return n;
}

/* Free <n> and everything below it; filters are freed by their owner. NULL is a no-op. */
void mm_rtr_sub_node_free_all(struct rtr_node *n)
{
	uint32_t i;

	if (!n)
		return;
	for (i = 0; i < n->nkids; i++)
		mm_rtr_sub_node_free_all(n->kids[i]);
	mm_rtr_sub_node_free_all(n->plus);
	mm_rtr_sub_node_free_all(n->hash);
	free(n->kids);
	free(n);
}

static int level_cmp(const char *a, size_t alen, const struct rtr_node *b)
{
	if (alen != b->len)
		return alen < b->len ? -1 : 1;
	return memcmp(a, b->level, alen);
}

/* Index of the kid of <n> for <level>, or of where it would go; *ret_found says which. */
static uint32_t kid_index(const struct rtr_node *n, const char *level, size_t len, bool *ret_found)
{
	uint32_t lo = 0, hi = n->nkids;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = level_cmp(level, len, n->kids[mid]);

		if (c == 0) {
			*ret_found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*ret_found = false;
	return lo;
}

static struct rtr_node *kid_find(const struct rtr_node *n, const char *level, size_t len)
{
	bool found;
	uint32_t i = kid_index(n, level, len, &found);

	return found ? n->kids[i] : NULL;
}

static int kid_insert(struct rtr_node *n, uint32_t at, struct rtr_node *kid)
{
	if (n->nkids == n->kids_cap) {
		uint32_t cap = n->kids_cap ? n->kids_cap * 2 : 4;
		struct rtr_node **k = reallocarray(n->kids, cap, sizeof(*k));

		if (!k)
			return -ENOMEM;
		n->kids = k;
		n->kids_cap = cap;
	}
	memmove(&n->kids[at + 1], &n->kids[at], (n->nkids - at) * sizeof(*n->kids));
	n->kids[at] = kid;
	n->nkids++;
	kid->parent = n;
	return 0;
}

/* The child of <n> for one filter level, created if missing. Returns NULL when out of memory. */
static struct rtr_node *child_get(struct rtr_node *n, const char *level, size_t len)
{
	struct rtr_node **wild = NULL, *kid;
	uint32_t at = 0;
	bool found;

	if (len == 1 && (level[0] == '+' || level[0] == '#'))
		wild = level[0] == '+' ? &n->plus : &n->hash;
	else
		at = kid_index(n, level, len, &found);
	if (wild && *wild)
		return *wild;
	if (!wild && found)
		return n->kids[at];
	kid = mm_rtr_sub_node_new(level, len);
	if (!kid)
		return NULL;
	if (wild) {
		*wild = kid;
		kid->parent = n;
	} else if (kid_insert(n, at, kid) < 0) {
		free(kid);
		return NULL;
	}
	return kid;
}

/*
 * The node where <filter> (valid, without "$share/<g>/") ends, creating the missing levels.
 * Returns 0 or -ENOMEM; on failure the levels created are removed again.
 */
int mm_rtr_sub_node_get(struct rtr_node *root, const char *filter, struct rtr_node **ret_node)
{
	struct rtr_node *n = root, *next;
	const char *p = filter;

	for (;;) {
		size_t len = strcspn(p, "/");

		next = child_get(n, p, len);
		if (!next) {
			mm_rtr_sub_node_prune(n);
			return -ENOMEM;
		}
		n = next;
		if (!p[len])
			break;
		p += len + 1;
	}
	*ret_node = n;
	return 0;
}

static bool node_is_empty(const struct rtr_node *n)
{
	return !n->nkids && !n->plus && !n->hash && !n->filters;
}

static void node_detach(struct rtr_node *n)
{
	struct rtr_node *p = n->parent;
	uint32_t i;
	bool found;

	if (p->plus == n) {
		p->plus = NULL;
	} else if (p->hash == n) {
		p->hash = NULL;
	} else {
		i = kid_index(p, n->level, n->len, &found);
		memmove(&p->kids[i], &p->kids[i + 1], (p->nkids - i - 1) * sizeof(*p->kids));
		p->nkids--;
	}
}

/* Free <n> and its ancestors for as long as they hold nothing. The root is never freed. */
void mm_rtr_sub_node_prune(struct rtr_node *n)
{
	while (n->parent && node_is_empty(n)) {
		struct rtr_node *p = n->parent;

		node_detach(n);
		free(n->kids);
		free(n);
		n = p;
	}
}

/* State of one match: the topic and where the hits go. */
struct walk {
	struct mm_rtr_sub *t;
	const char *topic;
	size_t len;
	uint32_t session;
	bool dollar; /* the first level starts with '$' */
	size_t nhits;
};

static void collect(struct walk *w, const struct rtr_node *n)
{
	const struct rtr_filter *f;
	struct rtr_route *r;

	for (f = n->filters; f; f = f->node_next)
		for (r = f->routes; r; r = r->fnext)
			if (r->session == MM_RTR_SESSION_ALL || (uint32_t)r->session == w->session)
				w->t->hits[w->nhits++] = r;
}

/*
 * Visit node <n> with the topic levels from <pos> left to match (none left if <done>). Each
 * node is reached by one path at most, so each route is collected at most once. The depth of
 * the recursion is bounded by the depth of the trie (MM_RTR_SUB_DEPTH_MAX).
 */
static void walk_node(struct walk *w, const struct rtr_node *n, size_t pos, bool done)
{
	bool wild = n->parent || !w->dollar;
	const struct rtr_node *kid;
	const char *slash;
	size_t end;

	if (n->hash && wild)
		collect(w, n->hash);
	if (done) {
		collect(w, n);
		return;
	}
	slash = memchr(w->topic + pos, '/', w->len - pos);
	end = slash ? (size_t)(slash - w->topic) : w->len;
	kid = n->nkids ? kid_find(n, w->topic + pos, end - pos) : NULL;
	if (kid)
		walk_node(w, kid, end + 1, !slash);
	if (n->plus && wild)
		walk_node(w, n->plus, end + 1, !slash);
}

/*
 * Collect into t->hits the routes that match <topic> (<len> > 0 bytes) on <session>.
 * t->hits must have room for every route. Returns the number of hits.
 */
size_t mm_rtr_sub_walk(struct mm_rtr_sub *t, uint32_t session, const char *topic, size_t len)
{
	struct walk w = {
		.t = t,
		.topic = topic,
		.len = len,
		.session = session,
		.dollar = topic[0] == '$',
	};

	walk_node(&w, t->root, 0, false);
	return w.nhits;
}
