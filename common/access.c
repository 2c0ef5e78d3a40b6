/* SPDX-License-Identifier: MIT */
/*
 * Socket peers and the membership check of access.h. The groups come from the kernel
 * (SO_PEERGROUPS, the peer's groups when it connected), so a client cannot claim groups it
 * does not have, and the check costs no look-up in the group database.
 */
#include "access.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

/* "Groups:\t10 20 30" of /proc/PID/status, for kernels without SO_PEERGROUPS. */
static void groups_from_proc(struct mm_access_peer *p)
{
	char path[64], line[4096], *tok, *save;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)p->pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Groups:", 7))
			continue;
		for (tok = strtok_r(line + 7, " \t\n", &save);
		     tok && p->ngroups < MM_ACCESS_GROUPS_MAX; tok = strtok_r(NULL, " \t\n", &save))
			p->groups[p->ngroups++] = (gid_t)strtoul(tok, NULL, 10);
	}
	if (f)
		fclose(f);
}

int mm_access_peer_read(int fd, struct mm_access_peer *p)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	memset(p, 0, offsetof(struct mm_access_peer, groups));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1)
		return -errno;
	p->uid = cr.uid;
	p->gid = cr.gid;
	p->pid = cr.pid;
	len = sizeof(p->groups);
	/* ERANGE: more groups than we look at; /proc lists them all, we take the first ones */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) == 0)
		p->ngroups = len / sizeof(gid_t);
	else
		groups_from_proc(p);
	return 0;
}

static bool has_gid(const gid_t *gids, size_t n, gid_t g)
{
	for (size_t i = 0; i < n; i++)
		if (gids[i] == g)
			return true;
	return false;
}

bool mm_access_member(const struct mm_access_peer *p, const uid_t *uids, size_t nuids,
		      const gid_t *gids, size_t ngids)
{
	for (size_t i = 0; i < nuids; i++)
		if (uids[i] == p->uid)
			return true;
	if (has_gid(gids, ngids, p->gid))
		return true;
	for (size_t i = 0; i < p->ngroups; i++)
		if (has_gid(gids, ngids, p->groups[i]))
			return true;
	return false;
}

bool mm_access_is_owner(const struct mm_access_peer *p)
{
	return p->uid == 0 || p->uid == geteuid();
}

bool mm_access_client_allowed(const struct mm_cfg_clients *c, const struct mm_access_peer *p)
{
	if (mm_access_is_owner(p))
		return true;
	return mm_access_member(p, c->allow_uids, c->n_allow_uids, c->allow_gids, c->n_allow_gids);
}

bool mm_access_admin(const struct mm_cfg_clients *c, const struct mm_access_peer *p)
{
	if (mm_access_is_owner(p))
		return true;
	return mm_access_member(p, c->admin_uids, c->n_admin_uids, c->admin_gids, c->n_admin_gids);
}
