/* SPDX-License-Identifier: MIT */
/*
 * DELIVER deduplication across router restarts (docs/protocol.md, "Router restarts"): the
 * last seq accepted per session name. A restarted router may start up to one batch before
 * the last message its predecessor wrote for us; those come again with seq <= the last one
 * accepted and are dropped without a word. Keyed by name, since session indexes change when
 * sessions are added or removed; a small cache by index makes the usual lookup one compare.
 * No dependency on the rest of the client: the unit test links this file alone.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static bool entry_is(const struct mm_cl_seen *e, const uint8_t *name, size_t len)
{
	return e->len == len && !memcmp(e->name, name, len);
}

/* The entry of <name>, or NULL; remembers where it was found for <idx>. */
static struct mm_cl_seen *seen_find(struct mm_cl_seen_tab *t, const uint8_t *name, size_t len,
				    uint32_t idx)
{
	uint32_t *hint = &t->hint[idx % MM_CL_SEEN_HINTS];

	if (*hint && *hint <= t->n && entry_is(&t->v[*hint - 1], name, len))
		return &t->v[*hint - 1];
	for (size_t i = 0; i < t->n; i++) {
		if (entry_is(&t->v[i], name, len)) {
			*hint = (uint32_t)i + 1;
			return &t->v[i];
		}
	}
	return NULL;
}

/* A new entry for <name>, whose first seq is <seq>; NULL if out of memory. */
static struct mm_cl_seen *seen_add(struct mm_cl_seen_tab *t, const uint8_t *name, size_t len,
				   uint32_t idx, uint64_t seq)
{
	struct mm_cl_seen *v, *e;

	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 8;

		v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		t->v = v;
		t->cap = cap;
	}
	e = &t->v[t->n++];
	e->last = seq;
	e->len = (uint8_t)len;
	memcpy(e->name, name, len);
	t->hint[idx % MM_CL_SEEN_HINTS] = (uint32_t)t->n;
	return e;
}

/*
 * Whether a DELIVER of session <name> (<len> bytes, at most MM_PROTO_NAME_MAX) with <seq> is
 * new, recording it if so: the first of a session always is; later ones if seq is above the
 * last accepted. Without memory for a new name the message counts as new (a duplicate is the
 * lesser harm than a loss).
 */
bool mm_cl_seen_fresh(struct mm_cl_seen_tab *t, const uint8_t *name, size_t len, uint32_t idx,
		      uint64_t seq)
{
	struct mm_cl_seen *e;

	if (len > MM_PROTO_NAME_MAX)
		return true;
	e = seen_find(t, name, len, idx);
	if (!e) {
		(void)seen_add(t, name, len, idx, seq);
		return true;
	}
	if (seq <= e->last)
		return false;
	e->last = seq;
	return true;
}

void mm_cl_seen_done(struct mm_cl_seen_tab *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}
