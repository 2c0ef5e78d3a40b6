/* SPDX-License-Identifier: MIT */
/*
 * Finding the helper binaries mqttmuxd execs: mqttmux-worker and mqttmux-router.
 *
 * Installed, they live in <libexecdir>/mqttmux while mqttmuxd is in <bindir>; the build passes
 * the path from one to the other (MM_PKGLIBEXEC_REL, e.g. "../libexec/mqttmux"), so an
 * installed tree works wherever it was unpacked (a DESTDIR, a package root, a moved prefix).
 * In the build tree, symlinks put both next to mqttmuxd (supervisor/meson.build). So the order
 * is: $MQTTMUX_WORKER / $MQTTMUX_ROUTER when set (then nothing else is tried), the libexec
 * directory relative to our own executable, then our own directory. The libexec directory
 * comes first so that an old binary left in bindir by an earlier install is never picked.
 *
 * A binary that is missing or not executable is an error at start (and in --check) naming
 * every path tried, instead of a worker that exits 127 at every restart.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sup_child.h"

#ifndef MM_PKGLIBEXEC_REL
#define MM_PKGLIBEXEC_REL "../libexec/mqttmux"
#endif

#define MAX_TRIED 2 /* libexec, then our own directory */

/* 0 if <path> is a regular file we may execute, else -errno (-EACCES for a directory). */
int mm_sup_bin_usable(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	return access(path, X_OK) == -1 ? -errno : 0;
}

/* The directory of our own executable into <buf>. Returns 0 or -errno. */
static int self_dir(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	char *slash;

	if (n == -1)
		return -errno;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	return 0;
}

/* "<dir>/<rel>", each leading "../" of <rel> taking one component off <dir>, into <buf>. */
static int join(char *buf, size_t size, const char *dir, const char *rel)
{
	char *slash;

	if ((size_t)snprintf(buf, size, "%s", dir) >= size)
		return -ENAMETOOLONG;
	while (!strncmp(rel, "../", 3) && (slash = strrchr(buf, '/')) && slash != buf) {
		*slash = '\0';
		rel += 3;
	}
	if (strlen(buf) + 1 + strlen(rel) >= size)
		return -ENAMETOOLONG;
	strcat(buf, "/");
	strcat(buf, rel);
	return 0;
}

/* The places <name> is looked for, in order, into <tried>. Returns how many, or -errno. */
static int candidates(const char *name, char tried[MAX_TRIED][PATH_MAX])
{
	char dir[PATH_MAX], rel[PATH_MAX];
	int r = self_dir(dir, sizeof(dir));

	if (r < 0)
		return r;
	if ((size_t)snprintf(rel, sizeof(rel), "%s/%s", MM_PKGLIBEXEC_REL, name) >= sizeof(rel))
		return -ENAMETOOLONG;
	/* an absolute libexecdir (configured outside the prefix) is taken as it is */
	r = join(tried[0], PATH_MAX, rel[0] == '/' ? "" : dir, rel[0] == '/' ? rel + 1 : rel);
	if (r == 0)
		r = join(tried[1], PATH_MAX, dir, name);
	return r < 0 ? r : MAX_TRIED;
}

/*
 * Find the helper binary <name> (overridden by $<env>) into <buf>, logging why not: the error
 * names every path tried and what was wrong with it. Returns 0, -ENOENT (nothing usable, or
 * $<env> unusable) or another -errno.
 */
int mm_sup_bin_find(const char *env, const char *name, char *buf, size_t size)
{
	char tried[MAX_TRIED][PATH_MAX], why[MAX_TRIED * (PATH_MAX + 64)] = "";
	const char *val = getenv(env);
	int n, r;

	if (val && *val) {
		r = mm_sup_bin_usable(val);
		if (r < 0)
			mm_log(MM_LOG_ERROR, "cannot execute %s '%s' (from $%s): %s", name, val,
			       env, strerror(-r));
		else if ((size_t)snprintf(buf, size, "%s", val) >= size)
			return mm_log_errno(-ENAMETOOLONG, "$%s", env);
		return r < 0 ? -ENOENT : 0;
	}
	n = candidates(name, tried);
	if (n < 0)
		return mm_log_errno(n, "cannot locate %s", name);
	for (int i = 0; i < n; i++) {
		size_t len = strlen(why);

		r = mm_sup_bin_usable(tried[i]);
		if (r == 0)
			return (size_t)snprintf(buf, size, "%s", tried[i]) >= size ? -ENAMETOOLONG
										   : 0;
		snprintf(why + len, sizeof(why) - len, "%s'%s' (%s)", i ? ", " : "", tried[i],
			 strerror(-r));
	}
	mm_log(MM_LOG_ERROR, "cannot find %s: tried %s; set $%s to its path", name, why, env);
	return -ENOENT;
}

/* The worker binary into <buf> (see mm_sup_bin_find()). */
int mm_sup_worker_path(char *buf, size_t size)
{
	return mm_sup_bin_find("MQTTMUX_WORKER", "mqttmux-worker", buf, size);
}

/* The router binary into <buf> (see mm_sup_bin_find()). */
int mm_sup_router_path(char *buf, size_t size)
{
	return mm_sup_bin_find("MQTTMUX_ROUTER", "mqttmux-router", buf, size);
}

/* Both helper binaries are there and executable; each problem is logged. Returns 0 or -ENOENT. */
int mm_sup_bins_check(void)
{
	char path[PATH_MAX];
	int r = mm_sup_worker_path(path, sizeof(path));
	int r2 = mm_sup_router_path(path, sizeof(path));

	return r < 0 ? r : r2;
}
