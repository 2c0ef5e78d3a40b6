/* SPDX-License-Identifier: MIT */
/*
 * Who may use the daemon's sockets (control.sock and router.sock): the peer's credentials as
 * the kernel recorded them at connect time, and the one membership check both sockets use
 * (docs/operations.md, "Who may connect"). Library code: no logging, -errno returns.
 */
#ifndef MM_ACCESS_H
#define MM_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cfg.h"

#define MM_ACCESS_GROUPS_MAX 1024 /* supplementary groups looked at; more are ignored */

/* A socket peer: SO_PEERCRED, and its supplementary groups (SO_PEERGROUPS). */
struct mm_access_peer {
	uid_t uid;
	gid_t gid; /* primary group */
	pid_t pid;
	size_t ngroups;
	gid_t groups[MM_ACCESS_GROUPS_MAX];
};

/*
 * mm_access_peer_read - the credentials of the peer of connected Unix socket <fd>
 *
 * Returns 0, or the -errno of SO_PEERCRED. Without SO_PEERGROUPS (kernels before 4.13) the
 * supplementary groups are read from /proc/PID/status; if that fails there are none.
 */
int mm_access_peer_read(int fd, struct mm_access_peer *p);

/*
 * mm_access_member - is <p> one of <uids>, or in one of <gids> by its primary or a
 * supplementary group? The one membership rule; access lists build on it.
 */
bool mm_access_member(const struct mm_access_peer *p, const uid_t *uids, size_t nuids,
		      const gid_t *gids, size_t ngids);

/* clients.allow_uids / allow_gids: root, the daemon's own uid, or a member (above). */
bool mm_access_client_allowed(const struct mm_cfg_clients *c, const struct mm_access_peer *p);

/* Root or the daemon's own uid: a peer who can read whatever the daemon can. */
bool mm_access_is_owner(const struct mm_access_peer *p);

/*
 * clients.admin_uids / admin_gids: may add, remove, restart and reload. Root, the daemon's own
 * uid, or a member; being allowed to connect (allow_uids) is not enough.
 */
bool mm_access_admin(const struct mm_cfg_clients *c, const struct mm_access_peer *p);

#endif /* MM_ACCESS_H */
