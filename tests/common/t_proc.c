/* SPDX-License-Identifier: MIT */
/* /proc readers for tests: children of a daemon, RSS, descriptors (see t_proc.h). */
#include "t_proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ssize_t t_proc_read(int pid, const char *what, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, size - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

pid_t t_proc_ppid(pid_t pid)
{
	char buf[4096], *p;
	int ppid = 0;

	if (t_proc_read(pid, "stat", buf, sizeof(buf)) <= 0)
		return 0;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X' || sscanf(p + 4, "%d", &ppid) != 1)
		return 0;
	return ppid;
}

/* Is the NUL-separated command line <cmd> (<n> bytes) session <session>'s worker, or the
 * router (NULL)? */
static bool cmd_is(const char *cmd, ssize_t n, const char *session)
{
	const char *slash = strrchr(cmd, '/');

	if (!session)
		return n > 0 && !strcmp(slash ? slash + 1 : cmd, "mqttmux-router");
	for (ssize_t i = 0; i + 1 < n; i += (ssize_t)strlen(cmd + i) + 1)
		if (!strcmp(cmd + i, "--session") && i + 10 < n && !strcmp(cmd + i + 10, session))
			return true;
	return false;
}

static bool is_ours(const char *cmd, ssize_t n)
{
	const char *slash = strrchr(cmd, '/');
	const char *base = slash ? slash + 1 : cmd;

	return n > 0 && (!strcmp(base, "mqttmux-router") || !strcmp(base, "mqttmux-worker"));
}

pid_t t_proc_child(pid_t daemon, const char *session)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (d && !found && (e = readdir(d))) {
		char buf[4096];
		int pid = atoi(e->d_name);

		if (pid <= 0 || t_proc_ppid(pid) != daemon)
			continue;
		if (cmd_is(buf, t_proc_read(pid, "cmdline", buf, sizeof(buf)), session))
			found = pid;
	}
	if (d)
		closedir(d);
	return found;
}

long t_proc_status_kb(pid_t pid, const char *key)
{
	char buf[8192], *p;
	size_t n = strlen(key);

	if (t_proc_read(pid, "status", buf, sizeof(buf)) <= 0)
		return -1;
	for (p = buf; (p = strstr(p, key)); p += n)
		if ((p == buf || p[-1] == '\n') && p[n] == ':')
			return strtol(p + n + 1, NULL, 10);
	return -1;
}

int t_proc_nfds(pid_t pid, int *memfds)
{
	char path[64], link[384], target[256];
	struct dirent *e;
	int n = 0, m = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	if (!(d = opendir(path)))
		return -1;
	while ((e = readdir(d))) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		n++;
		snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len > 0 && (target[len] = '\0', !strncmp(target, "/memfd:", 7)))
			m++;
	}
	closedir(d);
	if (memfds)
		*memfds = m;
	return n;
}

int t_proc_nchildren(pid_t parent, bool any_ppid_1)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		char buf[4096];
		int pid = atoi(e->d_name);
		pid_t pp;

		if (pid <= 0 || !(pp = t_proc_ppid(pid)))
			continue;
		if (pp == parent || (any_ppid_1 && pp == 1 &&
				     is_ours(buf, t_proc_read(pid, "cmdline", buf, sizeof(buf)))))
			n++;
	}
	if (d)
		closedir(d);
	return n;
}
