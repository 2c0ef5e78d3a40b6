/* SPDX-License-Identifier: MIT */
/*
 * The process_* metrics of every process of the daemon (docs/metrics.md, "Processes"), read
 * from procfs as Prometheus client libraries read their own: /proc/PID/stat for CPU time,
 * memory and start time, the entries of /proc/PID/fd, and prlimit(RLIMIT_NOFILE). The
 * children run as the supervisor's user, so it may read all of that. A process that is gone
 * between the child table and the read is left out of that read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sup.h"

/* Boot time (Unix seconds, /proc/stat "btime"), read once. 0 if unknown. */
static double boot_time(void)
{
	static double btime = -1;
	char line[256];
	FILE *f;

	if (btime >= 0)
		return btime;
	btime = 0;
	f = fopen("/proc/stat", "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "btime ", 6))
			btime = strtod(line + 6, NULL);
	if (f)
		fclose(f);
	return btime;
}

/* Fields 14 (utime), 15 (stime), 22 (starttime), 23 (vsize), 24 (rss) of /proc/PID/stat. */
static int read_stat(pid_t pid, struct mm_metrics_process *p)
{
	unsigned long long ut, st, start, vsize, rss;
	char path[64], buf[1024], *q;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* the command name (field 2) may hold anything, spaces and ')' included: skip to the last
	 */
	q = strrchr(buf, ')');
	if (!q || sscanf(q + 2,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
			 "%*d %*d %llu %llu %llu",
			 &ut, &st, &start, &vsize, &rss) != 5)
		return -EIO;
	p->cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	p->start_s = boot_time() + (double)start / (double)sysconf(_SC_CLK_TCK);
	p->vsize_bytes = vsize;
	p->rss_bytes = rss * (unsigned long long)sysconf(_SC_PAGESIZE);
	return 0;
}

static uint64_t count_fds(pid_t pid)
{
	char path[64];
	uint64_t n = 0;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* One process; returns 0 or -errno (gone). */
static int read_proc(pid_t pid, const char *kind, const char *session, struct mm_metrics_process *p)
{
	struct rlimit rl;
	int r;

	*p = (struct mm_metrics_process){ .kind = kind, .session = session, .pid = (unsigned)pid };
	r = read_stat(pid, p);
	if (r < 0)
		return r;
	p->open_fds = count_fds(pid);
	if (prlimit(pid, RLIMIT_NOFILE, NULL, &rl) == 0)
		p->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
	return 0;
}

/*
 * Fill out[] (at most <cap>) with the supervisor, the router and every session's worker that
 * has a process now. Returns how many. Strings point into <s> (valid until it changes).
 */
size_t mm_sup_procs_fill(const struct mm_sup *s, struct mm_metrics_process *out, size_t cap)
{
	size_t n = 0;

	if (n < cap && read_proc(getpid(), "supervisor", NULL, &out[n]) == 0)
		n++;
	if (n < cap && s->router.pid > 0 && read_proc(s->router.pid, "router", NULL, &out[n]) == 0)
		n++;
	for (size_t i = 0; i < s->n_children && n < cap; i++) {
		const struct mm_sup_child *c = &s->children[i];

		if (c->name && c->pid > 0 && read_proc(c->pid, "worker", c->name, &out[n]) == 0)
			n++;
	}
	return n;
}
