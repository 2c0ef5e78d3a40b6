/* SPDX-License-Identifier: MIT */
/*
 * Dropping privileges (top-level `user` / `group`, docs/security.md): mqttmuxd started as root
 * opens what needs root first (its sockets, a metrics port below 1024, runtime_dir and
 * state_dir, the config and every secret it reads at start), then becomes that user for good,
 * before it starts any child: the router and the workers run as that user too.
 *
 * Order matters: the supplementary groups and the gid go while we are still root, the uid last
 * (after setresuid nothing else could be changed). The two directories (and the files directly
 * in state_dir) are given to the user first: after the drop the daemon writes state files, the
 * router creates router.sock and each worker rewrites its subscriptions file there.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sup.h"

/* The uid and gid to run as: <cfg>'s user (its primary group) and group. 0 or -errno. */
static int target(const struct mm_cfg *cfg, uid_t *uid, gid_t *gid)
{
	int r;

	*uid = geteuid();
	*gid = getegid();
	if (cfg->user && (r = mm_cfg_user_lookup(cfg->user, uid, gid)) < 0)
		return mm_log_errno(r, "user '%s'", cfg->user);
	if (cfg->group && (r = mm_cfg_group_lookup(cfg->group, gid)) < 0)
		return mm_log_errno(r, "group '%s'", cfg->group);
	return 0;
}

/* Give directory <dir> and the entries directly in it to uid:gid (no link followed). */
static int give_dir(const char *dir, bool entries, uid_t uid, gid_t gid)
{
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (lchown(dir, uid, gid) == -1)
		return mm_log_errno(-errno, "cannot give '%s' to uid %u", dir, (unsigned)uid);
	if (!entries)
		return 0;
	d = opendir(dir);
	if (!d)
		return mm_log_errno(-errno, "cannot read '%s'", dir);
	while ((e = readdir(d)) != NULL && r == 0) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fchownat(dirfd(d), e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) == -1)
			r = mm_log_errno(-errno, "cannot give '%s/%s' to uid %u", dir, e->d_name,
					 (unsigned)uid);
	}
	closedir(d);
	return r;
}

/*
 * Become cfg->user / cfg->group (if set) for the rest of the daemon's life. Call it once the
 * sockets, directories and state are open and before any child starts. Returns 0 or -errno
 * (logged): a daemon that was asked to drop privileges and cannot must not run.
 */
int mm_sup_priv_drop(const struct mm_cfg *cfg)
{
	uid_t uid;
	gid_t gid;
	int r;

	if (!cfg->user && !cfg->group)
		return 0;
	r = target(cfg, &uid, &gid);
	if (r < 0)
		return r;
	if (geteuid() != 0) {
		if (uid == geteuid() && gid == getegid())
			return 0; /* already that user (systemd's User=, a test) */
		mm_log(MM_LOG_ERROR, "user/group: changing to uid %u gid %u needs root",
		       (unsigned)uid, (unsigned)gid);
		return -EPERM;
	}
	r = give_dir(cfg->runtime_dir, false, uid, gid);
	if (r == 0)
		r = give_dir(cfg->state_dir, true, uid, gid);
	if (r < 0)
		return r;
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		return mm_log_errno(-errno, "cannot become uid %u gid %u", (unsigned)uid,
				    (unsigned)gid);
	if (uid != 0 && setuid(0) != -1) /* the drop must be for good */
		return mm_log_errno(-EPERM, "could become root again after dropping to uid %u",
				    (unsigned)uid);
	(void)prctl(PR_SET_DUMPABLE, 0); /* still holding every password */
	mm_log(MM_LOG_INFO, "running as uid %u gid %u", (unsigned)uid, (unsigned)gid);
	return 0;
}
