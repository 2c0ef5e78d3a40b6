/* SPDX-License-Identifier: MIT */
/*
 * The process_* metrics of every process of the daemon (docs/metrics.md, "Processes"), read
 * from procfs as Prometheus client libraries read their own: /proc/PID/stat for the start
 * time, /proc/PID/statm for memory, the process CPU clock, the size of /proc/PID/fd, and
 * prlimit(RLIMIT_NOFILE). The
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
#include <sys/stat.h>
#include <time.h>
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

/*
 * Open descriptors of <pid>. Linux 6.2 and later give their number as the size of the
 * /proc/PID/fd directory: one stat() instead of listing it, which builds a dentry per
 * descriptor and was most of a 1,000-session scrape (bench/scale). Older kernels say 0 there:
 * list it then.
 */
static uint64_t count_fds(pid_t pid)
{
	char path[64];
	uint64_t n = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (stat(path, &st) == 0 && st.st_size > 0)
		return (uint64_t)st.st_size;
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * What does not change for the life of a process, read once per pid: its start time, its
 * descriptor limit (children inherit ours; nothing in them changes it), and an open
 * /proc/PID/statm that each scrape reads again with pread(). A scrape of 1,000 workers then
 * costs a pread, a CPU clock read and a stat() per worker, not two path walks through /proc
 * (bench/scale: 8.8 us for /proc/PID/stat against 1.0 us for a kept statm).
 */
static int cache_for(struct mm_sup_pcache *pc, pid_t pid)
{
	struct mm_metrics_process p = { 0 };
	struct rlimit rl;
	char path[64];
	int r;

	if (pc->pid == pid)
		return 0;
	mm_sup_pcache_done(pc);
	r = read_stat(pid, &p);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	pc->statm_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pc->statm_fd < 0)
		return -errno;
	pc->pid = pid;
	pc->start_s = p.start_s;
	pc->max_fds = 0;
	if (prlimit(pid, RLIMIT_NOFILE, NULL, &rl) == 0)
		pc->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
	return 0;
}

/* Forget the process of <pc> (closes its statm). Idempotent; a zeroed cache is empty. */
void mm_sup_pcache_done(struct mm_sup_pcache *pc)
{
	if (pc->pid && pc->statm_fd >= 0)
		close(pc->statm_fd);
	*pc = (struct mm_sup_pcache){ 0 };
}

/* CPU seconds from the process CPU clock; memory from the kept statm (sizes in pages). */
static int read_now(struct mm_sup_pcache *pc, struct mm_metrics_process *p)
{
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	struct timespec ts;
	char buf[256];
	clockid_t cid;
	ssize_t n;

	if (clock_getcpuclockid(pc->pid, &cid) != 0 || clock_gettime(cid, &ts) == -1)
		return -ESRCH;
	p->cpu_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	n = pread(pc->statm_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return -EIO;
	p->vsize_bytes = size * (unsigned long long)page;
	p->rss_bytes = resident * (unsigned long long)page;
	return 0;
}

/* One process, through its cache; returns 0 or -errno (gone). */
static int read_proc(struct mm_sup_pcache *pc, pid_t pid, const char *kind, const char *session,
		     struct mm_metrics_process *p)
{
	int r = cache_for(pc, pid);

	*p = (struct mm_metrics_process){ .kind = kind, .session = session, .pid = (unsigned)pid };
	if (r == 0)
		r = read_now(pc, p);
	if (r < 0) {
		mm_sup_pcache_done(pc);
		return r;
	}
	p->start_s = pc->start_s;
	p->max_fds = pc->max_fds;
	p->open_fds = count_fds(pid);
	return 0;
}

/*
 * Fill out[] (at most <cap>) with the supervisor, the router and every session's worker that
 * has a process now. Returns how many. Strings point into <s> (valid until it changes).
 */
size_t mm_sup_procs_fill(struct mm_sup *s, struct mm_metrics_process *out, size_t cap)
{
	static struct mm_sup_pcache self;
	size_t n = 0;

	if (n < cap && read_proc(&self, getpid(), "supervisor", NULL, &out[n]) == 0)
		n++;
	if (n < cap && s->router.pid > 0 &&
	    read_proc(&s->router.pc, s->router.pid, "router", NULL, &out[n]) == 0)
		n++;
	for (size_t i = 0; i < s->n_children && n < cap; i++) {
		struct mm_sup_child *c = &s->children[i];

		if (c->name && c->pid > 0 && !mm_sup_child_member(c) &&
		    read_proc(&c->pc, c->pid, "worker", c->name, &out[n]) == 0)
			n++;
	}
	return n;
}
