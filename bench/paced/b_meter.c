/* SPDX-License-Identifier: MIT */
/*
 * Per-process counters of bench-paced: CPU time from the process CPU-time clock (exact; a
 * loaded machine does not distort it), context switches from /proc/PID/task/TID/status
 * (voluntary: the process slept and was woken; nonvoluntary: it was preempted), page faults
 * (/proc/PID/stat: a ring's first lap faults its pages in), and syscalls
 * from bench/worker's tracepoint counters when they are attached.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b_paced.h"

/* Add the context switches of one task's status file to <m>. */
static int add_task(const char *path, struct b_meter *m)
{
	char line[256];
	unsigned long long v;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1)
			m->vol += v;
		else if (sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
			m->invol += v;
	}
	fclose(f);
	return 0;
}

static int read_switches(pid_t pid, struct b_meter *m)
{
	char path[300];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%s/status", (long)pid, e->d_name);
		(void)add_task(path, m);
	}
	closedir(d);
	return 0;
}

/* Minor and major page faults of <pid> (/proc/PID/stat fields 10 and 12, all threads). */
static int read_faults(pid_t pid, struct b_meter *m)
{
	unsigned long long minflt, majflt;
	char path[64], buf[1024], *p;
	FILE *f;
	int rc = -EIO;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (!(f = fopen(path, "re")))
		return -errno;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %llu %*u %llu", &minflt, &majflt) == 2) {
		m->faults = minflt + majflt;
		rc = 0;
	}
	fclose(f);
	return rc;
}

/* Sample <pid> now, with its syscall counters <sc> (may be NULL). Returns 0 or -errno. */
int b_meter_read(pid_t pid, const struct b_sysc *sc, struct b_meter *ret)
{
	struct timespec t;
	clockid_t cid;

	memset(ret, 0, sizeof(*ret));
	if (pid <= 0)
		return -ESRCH;
	if (clock_getcpuclockid(pid, &cid) != 0 || clock_gettime(cid, &t) == -1)
		return -ESRCH;
	ret->cpu_ns = (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
	if (sc)
		b_sysc_read(sc, &ret->sc);
	(void)read_faults(pid, ret);
	return read_switches(pid, ret);
}

/* a -= b, counter by counter. */
void b_meter_sub(struct b_meter *a, const struct b_meter *b)
{
	a->cpu_ns -= b->cpu_ns;
	a->vol -= b->vol;
	a->invol -= b->invol;
	a->faults -= b->faults;
	b_sc_sub(&a->sc, &b->sc);
}

/* The 1-minute load average, or -1. */
double b_load1(void)
{
	double v = -1;
	FILE *f = fopen("/proc/loadavg", "re");

	if (f) {
		if (fscanf(f, "%lf", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}
