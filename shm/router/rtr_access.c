/* SPDX-License-Identifier: MIT */
/*
 * Per-session data access (docs/security.md, "Roles"): a session with its own `clients` block
 * may be routed from and published to only by root, the daemon's uid and the members of its
 * lists (by uid, or by primary or supplementary group: common/access.h, the rule both sockets
 * use). The router keeps each client's credentials as the kernel gave them at connect time;
 * a route bound to such a session is refused (EACCES), a publish fails (-EACCES), and an
 * all-session route simply does not deliver that session's messages to a client that may not
 * see them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "rtr.h"

/* Keep <p> for <c>: the fixed part and the groups it has. Returns 0 or -ENOMEM. */
int mm_rtr_peer_keep(struct mm_rtr_client *c, const struct mm_access_peer *p)
{
	size_t size = offsetof(struct mm_access_peer, groups) + p->ngroups * sizeof(gid_t);

	c->peer = malloc(size);
	if (!c->peer)
		return -ENOMEM;
	memcpy(c->peer, p, size);
	return 0;
}

/* May <c> route from and publish to <s>? */
bool mm_rtr_may(const struct mm_rtr_client *c, const struct mm_rtr_session *s)
{
	const struct mm_cfg_access *a = &s->access;

	if (!a->set || mm_access_is_owner(c->peer))
		return true;
	return mm_access_member(c->peer, a->allow_uids, a->n_allow_uids, a->allow_gids,
				a->n_allow_gids);
}

/*
 * The matches of a message of <s> (n of them at mt) without the clients that may not see it,
 * in *ret (mt itself when the session has no clients block). Returns how many, or -ENOMEM.
 */
int mm_rtr_access_filter(struct mm_rtr *r, const struct mm_rtr_session *s,
			 const struct mm_rtr_match *mt, int n, const struct mm_rtr_match **ret)
{
	int k = 0;

	*ret = mt;
	if (!s->access.set)
		return n;
	if ((size_t)n > r->acc_cap) {
		void *p = realloc(r->acc_mt, (size_t)n * sizeof(*mt));

		if (!p)
			return -ENOMEM;
		r->acc_mt = p;
		r->acc_cap = (size_t)n;
	}
	for (int i = 0; i < n; i++) {
		const struct mm_rtr_client *c = mm_rtr_client_find(r, mt[i].client);

		if (c && mm_rtr_may(c, s))
			r->acc_mt[k++] = mt[i];
	}
	*ret = r->acc_mt;
	return k;
}

void mm_rtr_access_done(struct mm_rtr *r)
{
	free(r->acc_mt);
	r->acc_mt = NULL;
	r->acc_cap = 0;
}
