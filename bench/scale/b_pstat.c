/* SPDX-License-Identifier: MIT */
/*
 * Per-process figures from /proc: memory (Rss, Pss, Private_Dirty of smaps_rollup, in KiB),
 * CPU time (the process CPU clock, in ns: exact, not the 10 ms ticks of /proc/PID/stat) and
 * wake-ups (voluntary_ctxt_switches of /proc/PID/status: a process that sleeps and is woken
 * counts one each time). Processes are grouped by kind through their comm.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b_scale.h"

static int read_mem(pid_t pid, struct b_sample *s)
{
	char path[64], line[256];
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Rss: %llu", &v) == 1)
			s->rss_kb = v;
		else if (sscanf(line, "Pss: %llu", &v) == 1)
			s->pss_kb = v;
		else if (sscanf(line, "Private_Dirty: %llu", &v) == 1)
			s->dirty_kb = v;
	}
	fclose(f);
	return 0;
}

/* comm, the parent pid and the voluntary context switches. */
static int read_status(pid_t pid, struct b_sample *s, pid_t *ret_ppid)
{
	char path[64], line[256];
	unsigned long long v;
	long ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Name: %15s", s->comm) == 1)
			continue;
		if (sscanf(line, "PPid: %ld", &ppid) == 1)
			continue;
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1)
			s->wakes = v;
	}
	fclose(f);
	if (ret_ppid)
		*ret_ppid = (pid_t)ppid;
	return 0;
}

static int read_cpu(pid_t pid, struct b_sample *s)
{
	struct timespec t;
	clockid_t cid;

	if (clock_getcpuclockid(pid, &cid) != 0 || clock_gettime(cid, &t) == -1)
		return -ESRCH;
	s->cpu_ns = (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
	return 0;
}

/* Sample <pid> now. 0, or -errno (-ENOENT: it is gone). */
int b_sample_read(pid_t pid, struct b_sample *s)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->pid = pid;
	rc = read_status(pid, s, NULL);
	if (!rc)
		rc = read_mem(pid, s);
	if (!rc)
		rc = read_cpu(pid, s);
	return rc;
}

int b_procs_add(struct b_procs *p, pid_t pid)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		struct b_sample *n = reallocarray(p->s, cap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->s = n;
		p->cap = cap;
	}
	if (b_sample_read(pid, &p->s[p->n]) < 0)
		return 0; /* gone meanwhile: not part of the set */
	p->n++;
	return 0;
}

/* Sample <root> and each of its children. 0 or -errno. */
int b_procs_tree(pid_t root, struct b_procs *p)
{
	struct dirent *d;
	DIR *dir;
	int rc;

	rc = b_procs_add(p, root);
	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while (!rc && (d = readdir(dir))) {
		struct b_sample s;
		char *end;
		long pid = strtol(d->d_name, &end, 10);
		pid_t ppid;

		if (*end || pid <= 0 || read_status((pid_t)pid, &s, &ppid) < 0 || ppid != root)
			continue;
		rc = b_procs_add(p, (pid_t)pid);
	}
	closedir(dir);
	return rc;
}

/* Sample again the processes of <before>, in the same order, into <after>. */
int b_procs_refresh(const struct b_procs *before, struct b_procs *after)
{
	after->s = calloc(before->n ? before->n : 1, sizeof(*after->s));
	if (!after->s)
		return -ENOMEM;
	after->cap = after->n = before->n;
	for (size_t i = 0; i < before->n; i++)
		if (b_sample_read(before->s[i].pid, &after->s[i]) < 0)
			after->s[i] = (struct b_sample){ .pid = 0 }; /* gone: counts nothing */
	return 0;
}

static struct b_kind *kind_of(struct b_kind *k, size_t *n, size_t max, const char *comm)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(k[i].comm, comm))
			return &k[i];
	if (*n == max)
		return NULL;
	memset(&k[*n], 0, sizeof(k[*n]));
	snprintf(k[*n].comm, sizeof(k[*n].comm), "%s", comm);
	return &k[(*n)++];
}

/*
 * Group the window from <a> to <b> (same processes, same order; <b> from b_procs_refresh, or
 * <a> itself for memory only) of <secs> seconds by comm into <k>. Returns the number of kinds.
 */
size_t b_procs_kinds(const struct b_procs *a, const struct b_procs *b, double secs,
		     struct b_kind *k, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n && i < b->n; i++) {
		const struct b_sample *x = &a->s[i], *y = &b->s[i];
		struct b_kind *kk;
		double w;

		if (!y->pid || !(kk = kind_of(k, &n, max, x->comm)))
			continue;
		w = secs > 0 ? (double)(y->wakes - x->wakes) / secs : 0;
		kk->n++;
		kk->rss_kb += y->rss_kb;
		kk->pss_kb += y->pss_kb;
		kk->dirty_kb += y->dirty_kb;
		kk->cpu_ns += y->cpu_ns - x->cpu_ns;
		kk->wakes_mean += w;
		if (w > kk->wakes_max)
			kk->wakes_max = w;
	}
	for (size_t i = 0; i < n; i++)
		k[i].wakes_mean /= k[i].n ? k[i].n : 1;
	return n;
}

/* Busy share of all CPUs since the last call, from /proc/stat; first call primes. */
double b_machine_busy(void)
{
	static unsigned long long last_busy, last_total;
	unsigned long long v[8] = { 0 }, busy, total = 0;
	FILE *f = fopen("/proc/stat", "re");
	double pct;

	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			 &v[3], &v[4], &v[5], &v[6], &v[7]) != 8) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	for (int i = 0; i < 8; i++)
		total += v[i];
	busy = total - v[3] - v[4];
	pct = total > last_total ? 100.0 * (double)(busy - last_busy) / (double)(total - last_total)
				 : 0;
	last_busy = busy;
	last_total = total;
	return pct;
}

void b_procs_free(struct b_procs *p)
{
	free(p->s);
	*p = (struct b_procs){ 0 };
}
